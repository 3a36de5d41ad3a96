// The fusion methods `bench quality` compares on the same two rankings of a hybrid search: the
// runtime's own (src/runtime/fusion.ts: its default adaptive weights, reciprocal rank fusion, the
// weighted form at several weights), each applied to the vector and keyword rankings exactly as
// the runtime applies it (with the index's passage count). A method returns the documents of the
// fused passages, best first (a document once per passage; the caller keeps each document's
// first place).

import { fuse, type FusionOptions } from '../src/runtime/fusion.js';

/** One side's ranking of passages: ids best first, that side's scores (higher is better), their documents. */
export interface SideRanking {
  ids: number[];
  scores: number[];
  docs: number[];
}

export type FusionMethod = (vector: SideRanking, lexical: SideRanking, passages: number) => number[];

/** The runtime's fuse() with `options`, over the whole depth of both sides. */
export function runtimeFusion(options?: FusionOptions): FusionMethod {
  return (vector, lexical, passages) => {
    const docOf = new Map<number, number>();
    for (const s of [vector, lexical]) s.ids.forEach((id, i) => docOf.set(id, s.docs[i]!));
    const fused = fuse({ ...vector, better: 'higher' }, { ...lexical, better: 'higher' }, vector.ids.length + lexical.ids.length, options, passages);
    return fused.map((f) => docOf.get(f.id)!);
  };
}

/** The methods compared, by name; `default` is the runtime's default fusion. */
export const FUSION_METHODS: Record<string, FusionMethod> = {
  default: runtimeFusion(),
  adaptive: runtimeFusion({ method: 'adaptive' }),
  'rrf k=60': runtimeFusion({ method: 'rrf' }),
  'weighted 0.5/0.5': runtimeFusion({ method: 'weighted' }),
  'weighted 0.2 vector': runtimeFusion({ method: 'weighted', weights: { vector: 0.2, lexical: 0.8 } }),
  'weighted 0.3 vector': runtimeFusion({ method: 'weighted', weights: { vector: 0.3, lexical: 0.7 } }),
};
