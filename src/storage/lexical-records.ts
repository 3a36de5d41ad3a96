// What every store backend does the same way with the lexical index's term buckets: check a
// bucket record it read (CRC-32 against the record and the manifest, then its structure), work out
// how a commit changes the postings (from the chunks the commit puts and deletes, so the postings
// change in the same transaction as the chunks and can never disagree with them), and build all
// postings for a whole-index write (import, rebuild, migration). The backends only move bytes.

import { WeftError } from '../errors.js';
import { loadAnalyzer, type Analyzer } from '../lexical/analyzer.js';
import { buildBuckets, decodeBucket, encodeBucket, planPostings, type TermBucket } from '../lexical/postings.js';
import { emptyBucketChecksums } from './manifest-builders.js';
import { bucketChecksum, emptyBucketChecksum, type ChunkRecord, type LexicalManifest, type Manifest } from './records.js';

export type { TermBucket };

/** A bucket record ready to store: its bytes and their checksum. */
export interface EncodedBucket {
  bucket: number;
  bytes: Uint8Array;
  checksum: number;
}

export function encoded(b: TermBucket): EncodedBucket {
  const bytes = encodeBucket(b);
  return { bucket: b.bucket, bytes, checksum: bucketChecksum(b.bucket, bytes) };
}

/** The lexical part of a manifest read from a store (format 3 on, so present). */
export function lexicalOf(m: Manifest): LexicalManifest {
  if (!m.lexical)
    throw new WeftError('CORRUPT_RECORD', `Index '${m.name}' has no lexical index in its manifest. Re-import or rebuild it.`, {
      details: { name: m.name, record: 'manifest' },
    });
  return m.lexical;
}

export function corruptBucket(name: string, bucket: number): WeftError {
  return new WeftError(
    'CORRUPT_RECORD',
    `Term bucket ${bucket} of index '${name}' fails its checksum: the record is damaged, so keyword search on the terms it holds cannot be trusted. Rebuild or re-import the index to repair it; vector search is unaffected.`,
    { details: { name, bucket } },
  );
}

/**
 * A bucket record as read: `bytes` undefined when none is stored (an empty bucket). Checked
 * against its own checksum and the manifest's; CORRUPT_RECORD naming the bucket otherwise.
 */
export function checkedBucket(
  name: string,
  m: Manifest,
  bucket: number,
  bytes: Uint8Array | undefined,
  stored: number | undefined,
  only?: ReadonlySet<string>,
  keepRaw = false,
): TermBucket {
  const lex = lexicalOf(m);
  if (!bytes) {
    if (lex.checksums[bucket] !== emptyBucketChecksum(bucket)) throw corruptBucket(name, bucket);
    return { bucket, terms: new Map() };
  }
  const sum = bucketChecksum(bucket, bytes);
  if (sum !== stored || sum !== lex.checksums[bucket]) throw corruptBucket(name, bucket);
  try {
    return decodeBucket(bucket, bytes, only, keepRaw);
  } catch {
    throw corruptBucket(name, bucket);
  }
}

export function checkBuckets(name: string, m: Manifest, buckets: readonly number[]): void {
  const lex = lexicalOf(m);
  if (!Array.isArray(buckets)) throw new WeftError('INVALID_INPUT', 'readTermBuckets takes an array of bucket numbers.');
  const wrong = buckets.find((b) => typeof b !== 'number' || !Number.isInteger(b) || b < 0 || b >= lex.buckets);
  if (wrong !== undefined)
    throw new WeftError('INVALID_INPUT', `Index '${name}' has term buckets 0..${lex.buckets - 1}; got ${String(wrong)}.`, { details: { name, bucket: wrong } });
}

/** The analyzer of an index's language. */
export function analyzerOf(m: Manifest): Promise<Analyzer> {
  return loadAnalyzer(lexicalOf(m).language);
}

/** What one commit's chunk changes do to the postings. */
export interface PostingChange {
  /** The buckets to read (through `read`) before `apply`. */
  buckets: number[];
  /** The terms to decode in them (the others can stay bytes: see TermBucket.raw); undefined: all. */
  terms: ReadonlySet<string> | undefined;
  /** The changed bucket records and the new lexical manifest. */
  apply(read: readonly TermBucket[]): { records: EncodedBucket[]; lexical: LexicalManifest };
}

/**
 * The postings change of a commit: `removed` are the stored chunks it deletes or overwrites
 * (checked), `damaged` the ids among them whose record fails its checksum (their terms are
 * unknown, so they are taken out of every bucket), `added` the chunks it puts.
 */
export function postingChange(
  analyzer: Analyzer,
  lex: LexicalManifest,
  removed: readonly ChunkRecord[],
  damaged: readonly number[],
  added: readonly ChunkRecord[],
): PostingChange {
  if (analyzer.language !== lex.language) throw new Error(`analyzer ${analyzer.language} for an index in ${lex.language}`);
  const plan = planPostings(analyzer, lex.buckets, removed, added, damaged);
  return {
    buckets: plan.buckets,
    terms: plan.terms,
    apply(read) {
      const next: LexicalManifest = { ...lex, checksums: lex.checksums.slice() };
      const records: EncodedBucket[] = [];
      const byNumber = new Map(read.map((b) => [b.bucket, b]));
      for (const b of plan.buckets) {
        const r = plan.apply(byNumber.get(b) ?? { bucket: b, terms: new Map() });
        next.chunks += r.chunkDelta;
        next.tokens += r.tokenDelta;
        const e = encoded(r.bucket);
        next.checksums[b] = e.checksum;
        records.push(e);
      }
      if (plan.buckets.length === 0) {
        const r = plan.apply({ bucket: 0, terms: new Map() });
        next.chunks += r.chunkDelta;
        next.tokens += r.tokenDelta;
      }
      return { records, lexical: next };
    },
  };
}

/** All postings of an index holding `chunks` (import, rebuild, migration): the non-empty bucket records and the lexical manifest. */
export function wholePostingsWith(analyzer: Analyzer, chunks: readonly ChunkRecord[], buckets: number): { records: EncodedBucket[]; lexical: LexicalManifest } {
  const built = buildBuckets(analyzer, buckets, chunks);
  const checksums = emptyBucketChecksums(buckets);
  const records = built.buckets.map(encoded);
  for (const r of records) checksums[r.bucket] = r.checksum;
  return { records, lexical: { language: analyzer.language, buckets, chunks: built.chunks, tokens: built.tokens, checksums } };
}
