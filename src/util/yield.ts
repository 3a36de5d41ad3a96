// Giving the event loop a turn inside a long job. A loop whose awaits all resolve at once (an
// embedder that computes synchronously, a parser, CPU k-means) runs in microtasks only, so the
// messages queued meanwhile — in the engine worker, the page's abort of this very job — wait until
// it ends: the ingest that went on for 11 minutes after Cancel. Awaiting this between batches lets
// them in, so a signal aborted by a message is seen by the next check.

/** Resolves on a later task (a MessageChannel message: not clamped like nested setTimeouts); `signal` then checked by the caller. */
export function yieldToEvents(): Promise<void> {
  if (typeof MessageChannel === 'undefined') return new Promise((resolve) => setTimeout(resolve, 0));
  return new Promise((resolve) => {
    const { port1, port2 } = new MessageChannel();
    port1.onmessage = () => {
      port1.close();
      resolve();
    };
    port2.postMessage(undefined);
  });
}
