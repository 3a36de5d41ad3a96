// How a GPU sub-stage gets its turn: in decode gaps (a gap scheduler's run) or at once. A leaf,
// so that the stages which take turns (retrieval, reranking) need not import each other for it.
// Runners that give turns from the same place — one gap scheduler, whatever the priority; or at
// once — share a lane: only their sub-stages may be batched together (search-batches.ts), since
// a search run at once must never wait for a gap that the answer waiting on it would give.

export type Runner = <T>(work: () => Promise<T>) => Promise<T>;
export const direct: Runner = (work) => work();

const lanes = new WeakMap<Runner, object>();

/** `run`, marked as giving turns in `lane` (e.g. the gap scheduler it queues on). */
export function inLane(lane: object, run: Runner): Runner {
  lanes.set(run, lane);
  return run;
}

/** The lane `run` gives turns in: the one it was marked with, else its own. */
export function laneOf(run: Runner): object {
  return lanes.get(run) ?? run;
}
