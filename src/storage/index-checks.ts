// What a consistent stored index is: the checks an import, a rebuild and every commit pass before
// anything is written (manifest fields, centroids and int8 range, list sizes and vectors, unique
// ids, counts that agree with the lists, well-formed chunks). A problem is described in a sentence
// the caller turns into INVALID_FILE (import) or INVALID_INPUT (a write).

import { WeftError } from '../errors.js';
import { BLOCK, decodeRows, deinterleave, isFlat, layoutFor, type Layout } from '../ivf/codec.js';
import { halfValues } from '../ivf/half-text.js';
import { indexLayout } from '../ivf/pq.js';
import { INDEX_STORAGE_TYPES, METRICS, NO_ID, type IndexPq, type IndexStorage, type ListRecord, type Metric } from '../ivf/types.js';
import { MAX_DIM, MAX_NLIST, oversizedRow } from '../ivf/validate.js';
import { MAX_BUCKETS } from '../lexical/postings.js';
import { FORMAT_VERSION, type CentroidData, type CommitChanges, type Manifest, type WholeIndex } from './records.js';

/** The largest vector id: NO_ID marks empty slots and tombstones. */
const MAX_ID = NO_ID - 1;

export const isInt = (v: unknown, min: number, max: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
export const isId = (v: unknown): v is number => isInt(v, 0, MAX_ID);
export const show = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : Array.isArray(v) ? 'an array' : String(v));
export const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function checkIds(ids: readonly unknown[], what: string): void {
  if (!Array.isArray(ids)) throw new WeftError('INVALID_INPUT', `${what} takes an array of ids; got ${show(ids)}.`);
  for (const id of ids) {
    if (!isId(id)) throw new WeftError('INVALID_ID', `${what}: ids are integers in [0, ${MAX_ID}]; got ${show(id)}.`, { details: { id } });
  }
}

/**
 * What is wrong with a manifest's own fields (types, enums, ranges), if anything. The derived
 * fields (checksums, listCounts, centroidsChecksum, generation) are recomputed on write.
 */
export function manifestProblem(m: unknown): string | undefined {
  if (!isRecord(m)) return 'the manifest is not an object.';
  if (typeof m.name !== 'string' || m.name === '') return `the index name must be a non-empty string; got ${show(m.name)}.`;
  if (!isInt(m.formatVersion, 1, FORMAT_VERSION)) return `formatVersion must be an integer in [1, ${FORMAT_VERSION}]; got ${show(m.formatVersion)}.`;
  if (!isInt(m.dim, 1, MAX_DIM)) return `dim must be an integer in [1, ${MAX_DIM}]; got ${show(m.dim)}.`;
  if (!isInt(m.nlist, 1, MAX_NLIST)) return `nlist must be an integer in [1, ${MAX_NLIST}]; got ${show(m.nlist)}.`;
  if (!METRICS.includes(m.metric as Metric)) return `metric must be one of ${METRICS.join(', ')}; got ${show(m.metric)}.`;
  if (!INDEX_STORAGE_TYPES.includes(m.storage as IndexStorage)) return `storage must be one of ${INDEX_STORAGE_TYPES.join(', ')}; got ${show(m.storage)}.`;
  const pqProblem =
    m.storage === 'pq'
      ? pqShapeProblem(m.pq, m.dim)
      : m.pq !== undefined
        ? `pq belongs to storage 'pq' only; this index stores ${show(m.storage)}.`
        : undefined;
  if (pqProblem) return pqProblem;
  if (m.rerank !== undefined && (m.storage !== 'pq' || !isInt(m.rerank, 1, 1024)))
    return m.storage === 'pq'
      ? `rerank must be an integer in [1, 1024]; got ${show(m.rerank)}.`
      : `rerank belongs to storage 'pq' only; this index stores ${show(m.storage)}.`;
  if (typeof m.modelId !== 'string') return `modelId must be a string; got ${show(m.modelId)}.`;
  for (const k of ['count', 'tombstones'] as const) {
    if (!isInt(m[k], 0, Number.MAX_SAFE_INTEGER)) return `${k} must be a non-negative integer; got ${show(m[k])}.`;
  }
  if (!isInt(m.nextId, 0, NO_ID)) return `nextId must be an integer in [0, ${NO_ID}]; got ${show(m.nextId)}.`;
  for (const k of ['createdAt', 'updatedAt'] as const) {
    if (typeof m[k] !== 'number' || !Number.isFinite(m[k])) return `${k} must be a time in milliseconds; got ${show(m[k])}.`;
  }
  return m.lexical === undefined ? undefined : lexicalProblem(m.lexical);
}

/** What is wrong with a manifest's lexical part, if anything (its checksums are recomputed on write). */
export function lexicalProblem(l: unknown): string | undefined {
  if (!isRecord(l)) return 'lexical must be an object.';
  if (typeof l.language !== 'string' || !/^[a-z][a-z-]{1,31}$/.test(l.language))
    return `lexical.language must be a lowercase language name; got ${show(l.language)}.`;
  if (!isInt(l.buckets, 1, MAX_BUCKETS)) return `lexical.buckets must be an integer in [1, ${MAX_BUCKETS}]; got ${show(l.buckets)}.`;
  for (const k of ['chunks', 'tokens'] as const) {
    if (!isInt(l[k], 0, Number.MAX_SAFE_INTEGER)) return `lexical.${k} must be a non-negative integer; got ${show(l[k])}.`;
  }
  if (!Array.isArray(l.checksums) || l.checksums.length !== l.buckets || !l.checksums.every((c) => isInt(c, 0, 0xffffffff))) {
    return `lexical.checksums must hold one CRC-32 per bucket (${show(l.buckets)}).`;
  }
  return undefined;
}

/** What is wrong with a 'pq' manifest's `pq` (m dividing dim, bits 4 or 8), if anything. */
function pqShapeProblem(pq: unknown, dim: number): string | undefined {
  if (!isRecord(pq)) return `storage 'pq' needs pq: { m, bits }; got ${show(pq)}.`;
  if (pq.bits !== 4 && pq.bits !== 8) return `pq.bits must be 4 or 8; got ${show(pq.bits)}.`;
  if (!isInt(pq.m, 1, dim) || dim % pq.m !== 0) return `pq.m must divide the dimension ${dim}; got ${show(pq.m)}.`;
  return undefined;
}

/** The shape of an index's quantisers: its dimension, storage type and, for 'pq', its codes. */
export interface QuantizerShape {
  dim: number;
  storage: IndexStorage;
  pq?: IndexPq | undefined;
}

export function centroidProblem(c: CentroidData | undefined, shape: QuantizerShape, nlist: number): string | undefined {
  const { dim, storage } = shape;
  const want = nlist * dim;
  if (!(c?.centroids instanceof Float32Array) || c.centroids.length !== want) {
    return `the centroids must be nlist x dim = ${want} floats; got ${c?.centroids instanceof Float32Array ? c.centroids.length : show(c?.centroids)}.`;
  }
  if (!c.centroids.every(Number.isFinite)) return 'the centroids hold a non-finite value.';
  // Finite but too long: every distance to it would overflow f32 (see MAX_SQUARED_NORM).
  const long = oversizedRow(c.centroids, dim);
  if (long) return `the centroids: ${long}.`;
  if (storage !== 'pq' && c.codebook !== undefined) return `a codebook belongs to pq storage only; this index stores ${storage}.`;
  if (storage !== 'int8' && (c.vmin !== undefined || c.scale !== undefined)) return `vmin and scale belong to int8 storage only; this index stores ${storage}.`;
  if (storage === 'pq') {
    const want = 2 ** shape.pq!.bits * dim;
    if (!(c.codebook instanceof Float32Array) || c.codebook.length !== want) {
      return `pq storage needs a codebook of m x 2^bits x dim/m = ${want} floats; got ${c.codebook instanceof Float32Array ? c.codebook.length : show(c.codebook)}.`;
    }
    return c.codebook.every(Number.isFinite) ? undefined : 'the codebook holds a non-finite value.';
  }
  if (storage !== 'int8') return undefined;
  const { dimPad } = layoutFor(dim, storage);
  for (const [key, v] of [
    ['vmin', c.vmin],
    ['scale', c.scale],
  ] as const) {
    if (!(v instanceof Float32Array) || v.length !== dimPad) {
      return `int8 storage needs ${key}: ${dimPad} floats (the quantizer range, padded to dimPad); got ${v instanceof Float32Array ? v.length : show(v)}.`;
    }
    if (!v.every(Number.isFinite)) return `${key} holds a non-finite value.`;
    if (v.subarray(dim).some((x) => x !== 0)) return `${key} must be zero past dimension ${dim} (the padding).`;
  }
  if (c.scale!.some((x) => x < 0)) return 'scale must not be negative.';
  return undefined;
}

/** The first stored vector of `r` with non-zero padding, a non-finite value or a norm f32 distances cannot hold, described. */
function vectorProblem(r: ListRecord, layout: Layout, c: CentroidData): string | undefined {
  if (r.count === 0) return undefined;
  const rows = deinterleave(r.codes, r.count, layout.units);
  if (layout.storage === 'pq') {
    // Word 0 of a PQ vector is its scan term (pq.ts): the codes are any bytes, the term a float.
    const terms = new Float32Array(rows.buffer);
    for (let slot = 0; slot < r.count; slot++) if (!Number.isFinite(terms[slot * layout.words]!)) return `vector ${slot} has a non-finite PQ term.`;
    return undefined;
  }
  if (!isFlat(layout)) return undefined;
  // Padding dimensions are zero so that they score zero (in L2 as well).
  const perWord = layout.dimPad / layout.words;
  const bits = 32 / perWord;
  const mask = bits === 32 ? 0xffffffff : (1 << bits) - 1;
  for (let slot = 0; slot < r.count; slot++) {
    for (let j = layout.dim; j < layout.dimPad; j++) {
      const word = rows[slot * layout.words + Math.floor(j / perWord)]!;
      if (((word >>> ((j % perWord) * bits)) & mask) !== 0) return `vector ${slot} has non-zero padding at dimension ${j} (of ${layout.dimPad}).`;
    }
  }
  const values = decodeRows(rows, layout, c.vmin && c.scale ? { vmin: c.vmin, scale: c.scale } : undefined);
  const bad = values.findIndex((x) => !Number.isFinite(x));
  if (bad >= 0) return `vector ${Math.floor(bad / layout.dim)} has a non-finite value at dimension ${bad % layout.dim}.`;
  const long = oversizedRow(values, layout.dim);
  return long ? `vectors: ${long}.` : undefined;
}

const CHUNK_FIELDS = new Set(['id', 'list', 'docId', 'text', 'metadata', 'vector']);

/**
 * What is wrong with the fields of chunk record `i`, if anything. `vectorDim`: a 'pq' index's
 * dimension (every chunk carries its vector as f16 text); undefined: chunks carry none.
 */
export function chunkProblem(ch: unknown, i: number, nlist: number, vectorDim?: number): string | undefined {
  if (!isRecord(ch)) return `chunk record ${i} is not an object.`;
  if (!isId(ch.id)) return `chunk record ${i} has id ${show(ch.id)}; ids are integers in [0, ${MAX_ID}].`;
  const what = `chunk ${ch.id}`;
  if (!isInt(ch.list, 0, nlist - 1)) return `${what}: list must be an integer in [0, ${nlist - 1}]; got ${show(ch.list)}.`;
  if (typeof ch.docId !== 'string') return `${what}: docId must be a string; got ${show(ch.docId)}.`;
  if (typeof ch.text !== 'string') return `${what}: text must be a string; got ${show(ch.text)}.`;
  if (ch.metadata !== undefined && !isRecord(ch.metadata)) return `${what}: metadata must be an object (or absent); got ${show(ch.metadata)}.`;
  if (vectorDim === undefined) return ch.vector === undefined ? undefined : `${what}: only a pq index's chunks carry a vector.`;
  const v = halfValues(ch.vector, vectorDim);
  if (!v) return `${what}: a pq index's chunk carries its vector as ${vectorDim} f16 values in base64; got ${show(ch.vector)}.`;
  return v.every(Number.isFinite) ? undefined : `${what}: its vector holds a non-finite value.`;
}

/** The dimension of the vectors a chunk of this index carries (pq storage), else undefined. */
export const chunkVectorDim = (m: QuantizerShape): number | undefined => (m.storage === 'pq' ? m.dim : undefined);

/**
 * What is inconsistent in a whole index, if anything: its manifest fields; centroids nlist x dim
 * and finite within MAX_SQUARED_NORM (int8: vmin and scale of dimPad each); every list 0..nlist-1
 * in order with ids.length = count and the codes its whole blocks take, vectors finite (norms
 * within MAX_SQUARED_NORM) with zero padding; ids
 * unique (NO_ID, a tombstone, may repeat); count, tombstones and nextId agreeing with the lists;
 * chunks well formed, unique, each a live id of the list it names.
 */
export function wholeIndexProblem(whole: WholeIndex): string | undefined {
  if (!isRecord(whole)) return 'there is no index (an object with manifest, centroids, lists and chunks).';
  const problem = manifestProblem(whole.manifest);
  if (problem) return problem;
  const { dim, nlist, storage, count, tombstones, nextId } = whole.manifest;
  const centroids = centroidProblem(whole.centroids, whole.manifest, nlist);
  if (centroids) return centroids;
  const layout = indexLayout(whole.manifest);
  if (!Array.isArray(whole.lists)) return 'the lists are not an array.';
  const listOf = new Map<number, number>();
  let live = 0,
    dead = 0,
    maxId = -1;
  for (let l = 0; l < nlist; l++) {
    const r = whole.lists[l];
    if (!isRecord(r) || r.list !== l) return `list ${l} is missing (the lists must be 0..${nlist - 1}, in order).`;
    if (!(r.ids instanceof Uint32Array) || !(r.codes instanceof Uint32Array)) return `list ${l} must hold its ids and codes as Uint32Arrays.`;
    if (r.ids.length !== r.count) return `list ${l} has ${r.ids.length} ids for a count of ${show(r.count)}.`;
    const words = Math.ceil(r.count / BLOCK) * BLOCK * layout.words;
    if (r.codes.length !== words) {
      return `the codes of list ${l} are ${r.codes.length} words; ${r.count} ${storage} vectors of dimension ${dim} take ${words} (whole blocks of ${BLOCK} vectors of ${layout.words} words).`;
    }
    for (const id of r.ids) {
      if (id === NO_ID) {
        dead++;
        continue;
      }
      const seen = listOf.get(id);
      if (seen !== undefined) return `id ${id} appears more than once (in list ${seen} and list ${l}).`;
      listOf.set(id, l);
      live++;
      if (id > maxId) maxId = id;
    }
    const vector = vectorProblem(r, layout, whole.centroids);
    if (vector) return `list ${l}: ${vector}`;
  }
  if (whole.lists.length !== nlist) return `there are ${whole.lists.length} lists for nlist ${nlist}.`;
  if (count !== live) return `count is ${count}, but the lists hold ${live} live ids.`;
  if (tombstones !== dead) return `tombstones is ${tombstones}, but the lists hold ${dead} deleted slots.`;
  if (nextId <= maxId) return `nextId is ${nextId}, not above the largest id ${maxId} (new vectors would reuse ids).`;
  if (!Array.isArray(whole.chunks)) return 'the chunks are not a list (an array) of records.';
  const chunkIds = new Set<number>();
  for (const [i, ch] of whole.chunks.entries()) {
    const p = chunkProblem(ch, i, nlist, chunkVectorDim(whole.manifest));
    if (p) return p;
    const extra = Object.keys(ch).find((k) => !CHUNK_FIELDS.has(k));
    if (extra !== undefined) return `chunk ${ch.id} has an unknown field '${extra}' (chunks hold id, list, docId, text, metadata and, in a pq index, vector).`;
    const at = listOf.get(ch.id);
    if (at !== ch.list)
      return `chunk ${ch.id} names list ${ch.list}, but ${at === undefined ? 'no list holds it as a live id' : `it is a live id of list ${at}`}.`;
    if (chunkIds.has(ch.id)) return `chunk ${ch.id} appears more than once.`;
    chunkIds.add(ch.id);
  }
  return undefined;
}

/** The nlist an index has after `changes` (a commit with new centroids may add lists). */
export function committedNlist(m: Manifest, changes: CommitChanges): number {
  const c = changes.centroids?.centroids;
  return c === undefined ? m.nlist : c instanceof Float32Array ? c.length / m.dim : NaN;
}

/** Whether two int8 ranges (or their absence) are the same. */
export function sameRange(a: Float32Array | undefined, b: Float32Array | undefined): boolean {
  return a === undefined || b === undefined ? a === b : a.length === b.length && a.every((x, i) => Object.is(x, b[i]));
}

export function checkCommit(name: string, m: Manifest, changes: CommitChanges): void {
  const bad = (message: string) => new WeftError('INVALID_INPUT', `Commit to index '${name}': ${message} Nothing was written.`, { details: { name } });
  const nlist = committedNlist(m, changes);
  if (changes.centroids !== undefined) {
    if (!isInt(nlist, m.nlist, MAX_NLIST))
      throw bad(
        `new centroids must be nlist' x dim (${m.dim}) floats with nlist' in [${m.nlist}, ${MAX_NLIST}]; got ${show(changes.centroids?.centroids?.length)} floats.`,
      );
    const p = centroidProblem(changes.centroids, m, nlist);
    if (p) throw bad(p);
  }
  for (const mv of changes.moveChunks ?? []) {
    if (!isRecord(mv) || !isId(mv.id) || !isInt(mv.list, 0, nlist - 1))
      throw bad(`a moved chunk needs an id and a list in [0, ${nlist - 1}]; got ${show(mv)}.`);
  }
  for (const r of changes.lists ?? []) {
    if (!isInt(r.list, 0, nlist - 1)) throw bad(`list ${show(r.list)} is not in [0, ${nlist - 1}].`);
    if (!(r.ids instanceof Uint32Array) || !(r.codes instanceof Uint32Array) || r.ids.length !== r.count) {
      throw bad(`list ${r.list} must hold count (${show(r.count)}) ids and its codes as Uint32Arrays.`);
    }
  }
  for (const [i, c] of (changes.putChunks ?? []).entries()) {
    const p = chunkProblem(c, i, nlist, chunkVectorDim(m));
    if (p) throw bad(p);
  }
  for (const [k, v] of Object.entries({ countDelta: changes.countDelta, tombstoneDelta: changes.tombstoneDelta })) {
    if (v !== undefined && !Number.isSafeInteger(v)) throw bad(`${k} must be an integer; got ${show(v)}.`);
  }
  if (changes.nextId !== undefined && !isInt(changes.nextId, 0, NO_ID)) throw bad(`nextId must be an integer in [0, ${NO_ID}]; got ${show(changes.nextId)}.`);
}
