// pdfjs-dist ships no types for its worker module; pdf.ts imports it only for its side effect
// (it sets globalThis.pdfjsWorker, which makes pdfjs run its worker code in the importing thread).
declare module 'pdfjs-dist/build/pdf.worker.mjs' {
  export const WorkerMessageHandler: unknown;
}
