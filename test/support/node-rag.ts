// A RAG runtime that runs under Node (the unit project): a file store in a temporary directory,
// the index on the CPU backend, and the stand-in models of stand-ins.ts.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRag } from '../../src/runtime/rag.js';
import type { RagOptions } from '../../src/runtime/types.js';
import type { LocalRag } from '../../src/runtime/rag-api.js';
import { openFileStore } from '../../src/storage/file-store.js';
import { nodeFileSystem } from '../../src/storage/fs-node.js';
import type { WeftStore } from '../../src/storage/contract.js';
import { hashEmbedder, standInGenerator } from './stand-ins.js';

export { documents, echoGenerator, hashEmbedder, standInGenerator } from './stand-ins.js';

/** Temporary directories for file stores, removed by `cleanup` (call it in afterEach). */
export function nodeStores() {
  const dirs: string[] = [];
  return {
    async dir(): Promise<string> {
      const d = await mkdtemp(join(tmpdir(), 'weft-rag-'));
      dirs.push(d);
      return d;
    },
    open: (dir: string): Promise<WeftStore> => openFileStore({ dir, fs: nodeFileSystem() }),
    async cleanup() {
      for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
    },
  };
}

/** A runtime on `store` (CPU index, hashing embedder, stand-in generator). */
export function nodeRag(store: WeftStore, options: Partial<RagOptions> = {}): Promise<LocalRag> {
  return createRag({ store, indexName: 'notes', embedder: hashEmbedder(), generator: standInGenerator(), gpu: 'cpu', ...options });
}
