// How a GPU sub-stage gets its turn: in decode gaps (a gap scheduler's run) or at once. A leaf,
// so that the stages which take turns (retrieval, reranking) need not import each other for it.

export type Runner = <T>(work: () => Promise<T>) => Promise<T>;
export const direct: Runner = (work) => work();
