// The rules every storage backend's reads follow, in one place: which list numbers a read may ask
// for, and when a list or the centroids read back are damaged (their CRC-32 against the record's
// own and the manifest's). The storage core (for IndexedDB and files) and the remote store call
// these, so their checks and messages cannot drift apart; each names where the index lives and
// what repairs it (rebuild or re-import a local index, publish a remote one again).

import { WeftError } from '../errors.js';
import type { ListRecord } from '../ivf/types.js';
import type { RecordReader } from './backend.js';
import type { CentroidData, Manifest, TermBucket } from './contract.js';
import { isInt, show } from './index-checks.js';
import { checkBuckets, checkedBucket } from './lexical-records.js';
import { centroidChecksum, listChecksum } from './records.js';

/** Where an index lives and what repairs it, for the messages: `index 'docs'` / `the index at https://…`. */
export interface ReadPlace {
  name: string;
  /** How the messages name the index. */
  where: string;
  /** What repairs a damaged record. */
  repair: string;
  /** Added to the errors' details (e.g. the URL). */
  details?: Record<string, unknown>;
}

/** Where a local index lives: by name, repaired by a rebuild or a re-import. */
export const localIndex = (name: string): ReadPlace => ({ name, where: `index '${name}'`, repair: 'Rebuild or re-import the index to repair it.' });

/** readLists' argument: an array of list numbers of this index (INVALID_INPUT naming the first that is not). */
export function checkListNumbers(place: ReadPlace, nlist: number, lists: unknown): asserts lists is readonly number[] {
  if (!Array.isArray(lists)) throw new WeftError('INVALID_INPUT', `readLists takes an array of list numbers; got ${show(lists)}.`);
  const wrong = lists.find((l) => !isInt(l, 0, nlist - 1));
  if (wrong !== undefined) {
    throw new WeftError('INVALID_INPUT', `Index '${place.name}' has lists 0..${nlist - 1}; got ${show(wrong)}.`, {
      details: { name: place.name, list: wrong },
    });
  }
}

/**
 * List `l` as read, if it is whole: present, the list asked for, its ids as many as its count, its
 * CRC-32 equal to the record's own (where the backend keeps one) and to the manifest's, and its
 * count the manifest's. CORRUPT_RECORD naming the list otherwise (the other lists are unaffected).
 */
export function checkedList(place: ReadPlace, m: Manifest, l: number, rec: ListRecord | undefined, recordChecksum?: number): ListRecord {
  const sum = rec ? listChecksum(rec) : undefined;
  const whole =
    rec !== undefined &&
    rec.list === l &&
    rec.ids.length === rec.count &&
    rec.count === m.listCounts[l] &&
    sum === m.checksums[l] &&
    (recordChecksum === undefined || sum === recordChecksum);
  if (!whole) {
    throw new WeftError(
      'CORRUPT_RECORD',
      `List ${l} of ${place.where} is ${rec ? 'damaged (it fails its checksum against the manifest)' : 'missing or unreadable'}. The other lists are unaffected. ${place.repair}`,
      { details: { ...place.details, name: place.name, list: l } },
    );
  }
  return rec;
}

/** The centroids as read, if whole: present and their CRC-32 equal to the record's own and the manifest's (CORRUPT_RECORD otherwise). */
export function checkedCentroids(place: ReadPlace, m: Manifest, data: CentroidData | undefined, recordChecksum?: number): CentroidData {
  const sum = data ? centroidChecksum(data) : undefined;
  if (!data || sum !== m.centroidsChecksum || (recordChecksum !== undefined && sum !== recordChecksum)) {
    throw new WeftError(
      'CORRUPT_RECORD',
      `The centroids of ${place.where} are ${data ? 'damaged (they fail their checksum)' : 'missing or unreadable'}. ${place.repair}`,
      {
        details: { ...place.details, name: place.name, record: 'centroids' },
      },
    );
  }
  return data;
}

// ---- a local backend's reads, checked (the storage core's) ---------------------------------------

/** The centroids of a local index, read through a backend and checked. */
export async function checkedCentroidsFrom(r: RecordReader, name: string, m: Manifest): Promise<CentroidData> {
  const kept = await r.centroids();
  return checkedCentroids(localIndex(name), m, kept?.value, kept?.checksum);
}

/** Lists of a local index, read through a backend and checked (INVALID_INPUT for list numbers it does not have). */
export async function checkedListsFrom(r: RecordReader, name: string, m: Manifest, lists: readonly number[]): Promise<ListRecord[]> {
  checkListNumbers(localIndex(name), m.nlist, lists);
  const kept = await r.lists(lists);
  return kept.map((k, i) => checkedList(localIndex(name), m, lists[i]!, k?.value, k?.checksum));
}

/** Term buckets of a local index, read through a backend and checked; `only` and `keepRaw` as checkedBucket's. */
export async function checkedBucketsFrom(
  r: RecordReader,
  name: string,
  m: Manifest,
  buckets: readonly number[],
  only?: ReadonlySet<string>,
  keepRaw = false,
): Promise<TermBucket[]> {
  checkBuckets(name, m, buckets);
  const kept = await r.buckets(buckets);
  return kept.map((k, i) => checkedBucket(name, m, buckets[i]!, k?.value, k?.checksum, only, keepRaw));
}
