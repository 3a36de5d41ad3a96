// What exportIndex measures on a 'pq' index before it writes the file, so that a visitor's
// first searches read what they need: the candidates per result to re-rank (pq-calibrate.ts,
// published as manifest.rerank), and the groups its lists go in with the groups a search takes
// (coarse-groups.ts, layout 5), both measured on queries made from the index's own vectors.

import { WeftError } from '../errors.js';
import { defaultGroupCount, groupCount, groupsFor, measureGroupProbe, trainGroups, type CoarseGroups } from '../ivf/coarse-groups.js';
import { halfValues } from '../ivf/half-text.js';
import { measureRerank, sampleQueries, type PqIndexParts } from '../ivf/pq-calibrate.js';
import { pqLayout, storedCodebook } from '../ivf/pq.js';
import { kernelMetric, prepareRows } from '../ivf/probe.js';
import type { Manifest, WholeIndex } from './contract.js';

/** The fewest lists for which exportIndex groups a 'pq' index's lists by default. */
const GROUPED_FROM = 256;

/** The candidates per result a 'pq' index's searches need, for the settings its readers use by default (k 10, nprobe 8, 99% of them). */
export function measuredRerank(parts: PqIndexParts): number {
  return measureRerank(parts, { k: 10, nprobe: 8, target: 0.99, queries: 128 });
}

/** The number of groups exportIndex makes for its `groups` and `layout` options (0: none), checked. */
export function groupCountOf(groups: number | undefined, layout: number | undefined, m: Manifest): number {
  if (groups === undefined) {
    if (m.storage !== 'pq' || (layout !== undefined && layout !== 5)) return 0;
    return layout === 5 || m.nlist >= GROUPED_FROM ? defaultGroupCount(m.nlist) : 0;
  }
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
  const samples = sampleQueries(parts, GROUP_QUERIES);
  const queries = new Float32Array(samples.length * dim);
  samples.forEach((s, i) => queries.set(s.query, i * dim));
  return { ...made, probe: measureGroupProbe(made, parts, queries, GROUP_TARGET, 10, GROUP_MARGIN) };
}

/**
 * Whether grouping pays: the groups a search of nprobe 16 takes are at most half of them (on
 * data without structure, points spread evenly, a query's nearest lists lie in most groups, and
 * reading the groups would cost as much as reading every centroid).
 */
export function groupsPay(groups: CoarseGroups, nlist: number, dim: number): boolean {
  const count = groupCount(groups, dim);
  return groupsFor(groups, Math.min(nlist, 16), count) <= count / 2;
}

/** Queries the groups a search takes are measured on. */
const GROUP_QUERIES = 256;
/** The share of the neighbours a search finds with every centroid that its groups keep, on average over those queries. */
const GROUP_TARGET = 0.995;
/**
 * Groups taken beyond what those queries need: a visitor's questions lie further from the data
 * than queries made from it (as the re-rank figure is doubled). On the grouped-file tests, held-out
 * queries kept 97.3% of their neighbours where the measure's queries kept 99.5% with one group.
 */
const GROUP_MARGIN = 1;
