// Tasks one after the other, a failed task not stopping the next: the runtime's ingest/search
// queue, the embedder's calls into onnxruntime, the WebLLM adapter's engine calls.

export interface SerialQueue {
  /** Runs `task` after every task queued before it has settled. */
  run<T>(task: () => Promise<T>): Promise<T>;
  /** Settles when every task queued so far has settled (never rejects). */
  settled(): Promise<unknown>;
}

export function createSerialQueue(): SerialQueue {
  let tail: Promise<unknown> = Promise.resolve();
  return {
    run(task) {
      const r = tail.then(task);
      tail = r.catch(() => undefined);
      return r;
    },
    settled: () => tail,
  };
}
