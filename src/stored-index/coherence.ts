// Cross-tab coherence of an open stored index: before each operation, adopt what other tabs
// committed since this tab's snapshot. A commit that only changed lists drops the cached copies
// of those lists; new centroids (a split, a rebuild, a replacing import, possibly with another
// nlist) are brought in, and a new int8 range empties the cache, so this tab never searches with,
// or adds vectors by, a quantiser the stored lists no longer follow.
// The lexical index needs nothing here: an open index caches no term buckets; each keyword search
// reads its buckets together with the manifest they were committed with (one store read), so
// another tab's commit is seen whole or not at all.

import { WeftError } from '../errors.js';
import type { ListCache } from './cache/list-cache.js';
import type { Manifest } from '../storage/contract.js';
import { sameRange } from '../storage/index-checks.js';
import { readQuantizers, uploadTrained, type IndexEnv, type IndexSnapshot } from './snapshot.js';

export interface CoherenceEnv extends IndexEnv {
  cache: Pick<ListCache, 'invalidate' | 'clear'>;
}

/**
 * The snapshot to use now. `retrained`: the centroids changed (the caller releases the old
 * snapshot's trained state and resets what depended on it, e.g. access statistics).
 */
export async function adoptCommits(env: CoherenceEnv, snap: IndexSnapshot): Promise<{ snapshot: IndexSnapshot; retrained: boolean }> {
  const { store, name } = env;
  let m = await store.manifest(name);
  if (m.generation === snap.manifest.generation) return { snapshot: snap, retrained: false };
  checkSameShape(env, snap.manifest, m);
  if (m.centroidsChecksum === snap.trained.checksum) {
    const changed = m.checksums.flatMap((c, l) => (c !== snap.manifest.checksums[l] ? [l] : []));
    env.cache.invalidate(changed);
    return { snapshot: { manifest: m, trained: snap.trained }, retrained: false };
  }
  // New centroids: read them with the manifest they belong to (again if another commit lands in between).
  let read = await readQuantizers(store, name, m);
  for (let now = await store.manifest(name); now.generation !== m.generation; now = await store.manifest(name)) {
    checkSameShape(env, snap.manifest, now);
    m = now;
    read = await readQuantizers(store, name, m);
  }
  const { data } = read;
  const trained = uploadTrained(env.ctx, `weft.${name}`, data, m.centroidsChecksum, env.layout, env.pq, read.host);
  const q = snap.trained.quantizer;
  if (sameRange(data.vmin, q?.vmin) && sameRange(data.scale, q?.scale)) {
    // A split (or a rebuild of float lists): the cached copies of lists whose records did not
    // change are still the stored ones, so only the changed and the new lists are dropped.
    env.cache.invalidate(m.checksums.flatMap((c, l) => (c !== snap.manifest.checksums[l] ? [l] : [])));
    return { snapshot: { manifest: m, trained }, retrained: m.nlist === snap.manifest.nlist };
  }
  env.cache.clear();
  return { snapshot: { manifest: m, trained }, retrained: true };
}

function checkSameShape(env: CoherenceEnv, was: Manifest, now: Manifest) {
  // nlist may change: a split adds lists, a rebuild or an import may train another number.
  if (now.dim !== was.dim || now.metric !== was.metric || now.storage !== was.storage) {
    throw new WeftError(
      'CONFLICT',
      `Index '${env.name}' was replaced by another tab with one of another shape (dim ${now.dim}, ${now.metric}, ${now.storage}). Close and open it again.`,
      { details: { name: env.name } },
    );
  }
}
