// The lexical index's postings, in term buckets: every term hashes (FNV-1a of its UTF-8) to one
// of B buckets, and one bucket record holds, for each of its terms, the chunks that contain it
// (ascending ids), the term's frequency in each and each chunk's length in terms. A write reads
// only the buckets its chunks' terms fall in and rewrites them whole; a query reads the buckets
// of its terms. A record is compact binary (LEB128 varints, ids delta-coded) so a bucket of a
// 100k-chunk index is tens of kilobytes; its CRC-32 is kept by the store like every record's.
// Pure functions: what the store reads and writes (src/storage) is built on these.

import type { Analyzer } from './analyzer.js';

/** One term's postings, ascending by chunk id. */
export interface TermPostings {
  ids: Uint32Array;
  /** How often the term occurs in each chunk. */
  tfs: Uint32Array;
  /** Each chunk's length in terms (BM25's document length). */
  lens: Uint32Array;
}

export interface TermBucket {
  bucket: number;
  terms: Map<string, TermPostings>;
  /**
   * Terms read but not decoded (a write that does not touch them): their postings' bytes as
   * stored, written back as they are, so a commit costs the terms it changes, not the bucket.
   */
  raw?: Map<string, { count: number; bytes: Uint8Array }>;
}

/** The default number of buckets of a new index. */
export const DEFAULT_BUCKETS = 1024;
export const MAX_BUCKETS = 65536;

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The bucket `term` is filed under: FNV-1a (32-bit) of its UTF-8, modulo `buckets`. */
export function bucketOf(term: string, buckets: number): number {
  let h = 0x811c9dc5;
  for (const b of utf8.encode(term)) h = Math.imul(h ^ b, 0x01000193);
  return (h >>> 0) % buckets;
}

/** A chunk as the index sees it: its terms and their counts, and its length. */
export interface AnalyzedChunk {
  id: number;
  length: number;
  terms: Map<string, number>;
}

export function analyze(analyzer: Analyzer, id: number, text: string): AnalyzedChunk {
  const terms = new Map<string, number>();
  const all = analyzer.terms(text);
  for (const t of all) terms.set(t, (terms.get(t) ?? 0) + 1);
  return { id, length: all.length, terms };
}

// ---- binary record ---------------------------------------------------------------------------

class Writer {
  bytes = new Uint8Array(256);
  at = 0;
  private room(n: number) {
    if (this.at + n <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(this.bytes.length * 2, this.at + n));
    grown.set(this.bytes.subarray(0, this.at));
    this.bytes = grown;
  }
  varint(v: number) {
    this.room(5);
    while (v >= 0x80) {
      this.bytes[this.at++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.bytes[this.at++] = v;
  }
  raw(b: Uint8Array) {
    this.room(b.length);
    this.bytes.set(b, this.at);
    this.at += b.length;
  }
  done() {
    return this.bytes.slice(0, this.at);
  }
}

/** Thrown by decodeBucket for bytes that are not a bucket record (the store reports CORRUPT_RECORD). */
export class MalformedBucket extends Error {}

/**
 * A bucket's record: varint term count, then per term (ascending) its UTF-8 length and bytes, its
 * posting count, the byte length of its postings (so a reader skips the terms it does not want),
 * and (id delta, tf, length) per posting.
 */
export function encodeBucket(b: TermBucket): Uint8Array {
  const w = new Writer();
  const terms = [...new Set([...b.terms.keys(), ...(b.raw?.keys() ?? [])])].sort();
  w.varint(terms.length);
  for (const t of terms) {
    const tb = utf8.encode(t);
    w.varint(tb.length);
    w.raw(tb);
    const p = b.terms.get(t);
    if (!p) {
      const r = b.raw!.get(t)!;
      w.varint(r.count);
      w.varint(r.bytes.length);
      w.raw(r.bytes);
      continue;
    }
    w.varint(p.ids.length);
    const pw = new Writer();
    let prev = 0;
    for (let i = 0; i < p.ids.length; i++) {
      pw.varint(p.ids[i]! - prev);
      prev = p.ids[i]!;
      pw.varint(p.tfs[i]!);
      pw.varint(p.lens[i]!);
    }
    const postings = pw.done();
    w.varint(postings.length);
    w.raw(postings);
  }
  return w.done();
}

/**
 * A bucket from its record; with `only`, just those terms' postings are decoded, the others
 * skipped, or with `keepRaw` kept as bytes (for a write that rewrites the bucket).
 */
export function decodeBucket(bucket: number, bytes: Uint8Array, only?: ReadonlySet<string>, keepRaw = false): TermBucket {
  let at = 0;
  const varint = () => {
    let v = 0,
      shift = 0;
    for (;;) {
      if (at >= bytes.length || shift > 28) throw new MalformedBucket('truncated');
      const b = bytes[at++]!;
      v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return v;
      shift += 7;
    }
  };
  const terms = new Map<string, TermPostings>();
  const raw = new Map<string, { count: number; bytes: Uint8Array }>();
  const n = varint();
  for (let i = 0; i < n; i++) {
    const len = varint();
    if (at + len > bytes.length) throw new MalformedBucket('term runs past the end');
    let term: string;
    try {
      term = fromUtf8.decode(bytes.subarray(at, at + len));
    } catch {
      throw new MalformedBucket('term is not UTF-8');
    }
    at += len;
    const count = varint();
    const size = varint();
    if (count > size || at + size > bytes.length) throw new MalformedBucket('postings run past the end');
    const end = at + size;
    if (only && !only.has(term)) {
      if (keepRaw) raw.set(term, { count, bytes: bytes.slice(at, end) });
      at = end;
      continue;
    }
    const p: TermPostings = { ids: new Uint32Array(count), tfs: new Uint32Array(count), lens: new Uint32Array(count) };
    let id = 0;
    for (let j = 0; j < count; j++) {
      id += varint();
      p.ids[j] = id;
      p.tfs[j] = varint();
      p.lens[j] = varint();
    }
    if (at !== end) throw new MalformedBucket('postings of the wrong length');
    terms.set(term, p);
  }
  if (at !== bytes.length) throw new MalformedBucket('trailing bytes');
  return raw.size > 0 ? { bucket, terms, raw } : { bucket, terms };
}

// ---- changes ---------------------------------------------------------------------------------

/** What a write does to the postings of one bucket. */
interface BucketDelta {
  remove: Set<number>;
  /** Chunk ids removed from every term of the bucket (damaged chunks whose terms are unknown). */
  purge: boolean;
  add: Map<string, { id: number; tf: number; len: number }[]>;
}

export interface PostingPlan {
  /** The buckets to read, change and write back. */
  buckets: number[];
  /**
   * The terms whose postings `apply` needs decoded (the others may be read as raw bytes);
   * undefined when every term of the buckets must be (a purge).
   */
  terms: ReadonlySet<string> | undefined;
  /** Applies the plan to a bucket as read (absent: empty); the new record and the totals' change. */
  apply(b: TermBucket): { bucket: TermBucket; chunkDelta: number; tokenDelta: number };
}

/**
 * The postings change of a write that removes `removed` (chunks as stored, their texts known),
 * removes `purged` (ids whose stored text cannot be trusted: taken out of every bucket) and adds
 * `added`. The totals' change (chunks with at least one term, their terms) is counted per bucket
 * so that a purged chunk is counted once, in the bucket where its first term lives.
 */
export function planPostings(
  analyzer: Analyzer,
  buckets: number,
  removed: readonly { id: number; text: string }[],
  added: readonly { id: number; text: string }[],
  purged: readonly number[] = [],
): PostingPlan {
  const deltas = new Map<number, BucketDelta>();
  const touched = new Set<string>();
  const at = (b: number) => deltas.get(b) ?? deltas.set(b, { remove: new Set(), purge: false, add: new Map() }).get(b)!;
  for (const c of removed) {
    for (const t of analyze(analyzer, c.id, c.text).terms.keys()) {
      at(bucketOf(t, buckets)).remove.add(c.id);
      touched.add(t);
    }
  }
  const purgeSet = new Set(purged);
  if (purgeSet.size > 0)
    for (let b = 0; b < buckets; b++) {
      const d = at(b);
      d.purge = true;
      for (const id of purgeSet) d.remove.add(id);
    }
  let addChunks = 0,
    addTokens = 0;
  for (const c of added) {
    const a = analyze(analyzer, c.id, c.text);
    if (a.length > 0) {
      addChunks++;
      addTokens += a.length;
    }
    for (const [t, tf] of a.terms) {
      touched.add(t);
      const d = at(bucketOf(t, buckets));
      (d.add.get(t) ?? d.add.set(t, []).get(t)!).push({ id: c.id, tf, len: a.length });
    }
  }
  // Removed chunks' totals come from their postings (exact even for a purged chunk), counted once.
  const counted = new Set<number>();
  let addedCounted = false;
  return {
    buckets: [...deltas.keys()].sort((a, b) => a - b),
    terms: purgeSet.size > 0 ? undefined : touched,
    apply(bucket) {
      const d = deltas.get(bucket.bucket);
      let chunkDelta = 0,
        tokenDelta = 0;
      if (!addedCounted) {
        addedCounted = true;
        chunkDelta += addChunks;
        tokenDelta += addTokens;
      }
      if (!d) return { bucket, chunkDelta, tokenDelta };
      const terms = new Map(bucket.terms);
      if (d.remove.size > 0) {
        for (const [t, p] of bucket.terms) {
          let keep = 0;
          for (let i = 0; i < p.ids.length; i++) {
            const id = p.ids[i]!;
            if (!d.remove.has(id)) {
              keep++;
              continue;
            }
            if (!counted.has(id)) {
              counted.add(id);
              chunkDelta--;
              tokenDelta -= p.lens[i]!;
            }
          }
          if (keep === p.ids.length) continue;
          if (keep === 0) {
            terms.delete(t);
            continue;
          }
          const q: TermPostings = { ids: new Uint32Array(keep), tfs: new Uint32Array(keep), lens: new Uint32Array(keep) };
          for (let i = 0, j = 0; i < p.ids.length; i++) {
            if (d.remove.has(p.ids[i]!)) continue;
            q.ids[j] = p.ids[i]!;
            q.tfs[j] = p.tfs[i]!;
            q.lens[j] = p.lens[i]!;
            j++;
          }
          terms.set(t, q);
        }
      }
      for (const [t, list] of d.add) terms.set(t, merge(terms.get(t), list));
      // Terms this write does not touch were left as bytes (bucket.raw): they go back as they are.
      return { bucket: { bucket: bucket.bucket, terms, ...(bucket.raw ? { raw: bucket.raw } : {}) }, chunkDelta, tokenDelta };
    },
  };
}

/** `old` with `list`'s postings added (a chunk id already there takes the new entry). */
function merge(old: TermPostings | undefined, list: { id: number; tf: number; len: number }[]): TermPostings {
  const fresh = [...list].sort((a, b) => a.id - b.id);
  const n0 = old?.ids.length ?? 0;
  const out: TermPostings = { ids: new Uint32Array(n0 + fresh.length), tfs: new Uint32Array(n0 + fresh.length), lens: new Uint32Array(n0 + fresh.length) };
  let i = 0,
    j = 0,
    k = 0;
  while (i < n0 || j < fresh.length) {
    const a = i < n0 ? old!.ids[i]! : Infinity;
    const f = fresh[j];
    if (f !== undefined && f.id <= a) {
      out.ids[k] = f.id;
      out.tfs[k] = f.tf;
      out.lens[k] = f.len;
      k++;
      j++;
      if (f.id === a) i++; // replaced
    } else {
      out.ids[k] = a;
      out.tfs[k] = old!.tfs[i]!;
      out.lens[k] = old!.lens[i]!;
      k++;
      i++;
    }
  }
  return k === out.ids.length ? out : { ids: out.ids.slice(0, k), tfs: out.tfs.slice(0, k), lens: out.lens.slice(0, k) };
}

/** The non-empty buckets of an index holding `chunks` (an import, a migration), and its totals. */
export function buildBuckets(
  analyzer: Analyzer,
  buckets: number,
  chunks: readonly { id: number; text: string }[],
): { buckets: TermBucket[]; chunks: number; tokens: number } {
  const plan = planPostings(
    analyzer,
    buckets,
    [],
    [...chunks].sort((a, b) => a.id - b.id),
  );
  let n = 0,
    tokens = 0;
  const out: TermBucket[] = [];
  for (const b of plan.buckets) {
    const r = plan.apply({ bucket: b, terms: new Map() });
    n += r.chunkDelta;
    tokens += r.tokenDelta;
    out.push(r.bucket);
  }
  if (plan.buckets.length === 0) {
    const r = plan.apply({ bucket: 0, terms: new Map() });
    n += r.chunkDelta;
    tokens += r.tokenDelta;
  }
  return { buckets: out, chunks: n, tokens };
}
