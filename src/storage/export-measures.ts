// What exportIndex measures on a 'pq' index before it writes the file, so that a visitor's
// first searches read what they need: the candidates per result to re-rank (pq-calibrate.ts,
// published as manifest.rerank), and for a reader in place its coarse step: the coarse codes with
// the lists a search ranks exactly (coarse-codes.ts, layout 6), or the groups its lists go in with
// the groups a search takes (coarse-groups.ts, layout 5), all measured on queries made from the
// index's own vectors.

import { WeftError } from '../errors.js';
import { exactWidth, measureExactWidth, trainCoarseCodes, type CoarseCodes } from '../ivf/coarse-codes.js';
import { defaultGroupCount, measureGroupProbe, trainGroups, type CoarseGroups } from '../ivf/coarse-groups.js';
import { halfValues } from '../ivf/half-text.js';
import { measureRerank, sampleQueries, type PqIndexParts } from '../ivf/pq-calibrate.js';
import { pqLayout, storedCodebook } from '../ivf/pq.js';
import { kernelMetric, prepareRows } from '../ivf/probe.js';
import type { Manifest, WholeIndex } from './contract.js';

/**
 * The fewest lists for which exportIndex gives a 'pq' index coarse codes by default: below, every
 * centroid is a few tens of kilobytes at most (256 x 384 as f16: 197 KB), read once at open.
 */
const CODED_BY_DEFAULT_FROM = 256;

/** The candidates per result a 'pq' index's searches need, for the settings its readers use by default (k 10, nprobe 8, 99% of them). */
export function measuredRerank(parts: PqIndexParts): number {
  return measureRerank(parts, { k: 10, nprobe: 8, target: 0.99, queries: 128 });
}

/** The number of groups exportIndex makes for its `groups` and `layout` options (0: none; groups are made only when asked for), checked. */
export function groupCountOf(groups: number | undefined, layout: number | undefined, m: Manifest): number {
  if (groups === undefined) return m.storage === 'pq' && layout === 5 ? defaultGroupCount(m.nlist) : 0;
  if (!Number.isInteger(groups) || groups < 0 || groups > m.nlist)
    throw new WeftError(
      'INVALID_OPTION',
      `groups must be a whole number of groups in [0, ${m.nlist}] (the index has ${m.nlist} lists); got ${String(groups)}.`,
    );
  return groups;
}

/** A 'pq' index as pq-calibrate.ts measures it. */
export function pqParts(whole: WholeIndex): PqIndexParts {
  const m = whole.manifest;
  const vectors = new Map(whole.chunks.map((c) => [c.id, c.vector]));
  return {
    metric: kernelMetric(m.metric),
    dim: m.dim,
    nlist: m.nlist,
    centroids: whole.centroids.centroids,
    book: storedCodebook(m.dim, m.pq!, whole.centroids.codebook!),
    layout: pqLayout(m.dim, m.pq!.m, m.pq!.bits),
    lists: whole.lists,
    vectorOf: (id) => halfValues(vectors.get(id), m.dim),
    prepare: (query) => prepareRows(m.metric, query, m.dim),
  };
}

/**
 * `count` groups of the index's lists (coarse-groups.ts), with the groups a search takes
 * measured on queries made from its vectors: for it to keep on average GROUP_TARGET of the
 * neighbours it finds with every centroid, and GROUP_MARGIN more.
 */
export async function measuredGroups(parts: PqIndexParts, count: number): Promise<CoarseGroups> {
  const { centroids, dim, metric } = parts;
  const made = await trainGroups(centroids, dim, metric, count);
  return { ...made, probe: measureGroupProbe(made, parts, sampleRows(parts), GROUP_TARGET, 10, GROUP_MARGIN) };
}

/** Whether exportIndex measures coarse codes for its `groups` and `layout` options: asked for (layout 6 or 7), or by default from CODED_BY_DEFAULT_FROM lists. */
export function codesWanted(groups: number | undefined, layout: number | undefined, m: Manifest): boolean {
  if (m.storage !== 'pq' || groups !== undefined) return false;
  return layout === 6 || layout === 7 || (layout === undefined && m.nlist >= CODED_BY_DEFAULT_FROM);
}

/**
 * Coarse codes of the index's centroids (coarse-codes.ts), with the lists a search ranks exactly
 * measured on queries made from its vectors: for it to keep on average GROUP_TARGET of the
 * neighbours it finds with every centroid.
 */
export async function measuredCoarseCodes(parts: PqIndexParts): Promise<CoarseCodes> {
  const made = await trainCoarseCodes(parts.centroids, parts.dim);
  return { ...made, exact: measureExactWidth(made, parts, sampleRows(parts), GROUP_TARGET, 10) };
}

/**
 * Whether coarse codes pay: a search of nprobe 16 ranks at most half the lists exactly (each a
 * place of its centroid and entries, a little more than the centroid alone; on data without
 * structure the codes rank poorly and a reader would fetch most places anyway).
 */
export function codesPay(codes: CoarseCodes, nlist: number): boolean {
  return exactWidth(codes, nlist, Math.min(nlist, 16), Math.min(nlist, 16)) <= nlist / 2;
}

/** Queries made from the index's vectors (pq-calibrate.ts's sampleQueries), as prepared rows one after another. */
function sampleRows(parts: PqIndexParts): Float32Array {
  const samples = sampleQueries(parts, GROUP_QUERIES);
  const queries = new Float32Array(samples.length * parts.dim);
  samples.forEach((s, i) => queries.set(s.query, i * parts.dim));
  return queries;
}

/** Queries the groups a search takes, and the lists it ranks exactly, are measured on. */
const GROUP_QUERIES = 256;
/** The share of the neighbours a search finds with every centroid that its groups (or the lists it ranks exactly) keep, on average over those queries. */
const GROUP_TARGET = 0.995;
/**
 * Groups taken beyond what those queries need: a visitor's questions lie further from the data
 * than queries made from it (as the re-rank figure is doubled). On the grouped-file tests, held-out
 * queries kept 97.3% of their neighbours where the measure's queries kept 99.5% with one group.
 */
const GROUP_MARGIN = 1;
