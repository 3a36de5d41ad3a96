// Rag (createRag, main thread) and RagClient (createRagInWorker) are one interface: the same
// methods taking the same options, so code written against Rag runs on either. Checked by the
// type checker (npm run typecheck): a difference in any method's signature fails to compile.
import { expectTypeOf, test } from 'vitest';
import type { RagClient } from '../../src/transport/client.js';
import type { createRag } from '../../src/runtime/rag.js';
import type { LocalRag, Rag } from '../../src/runtime/rag-api.js';

type Methods<T> = Omit<T, 'index' | 'engine'>;

test('the main-thread runtime and the worker client have the same methods with the same signatures', () => {
  expectTypeOf<Awaited<ReturnType<typeof createRag>>>().toEqualTypeOf<LocalRag>();
  expectTypeOf<Methods<LocalRag>>().toEqualTypeOf<Rag>();
  expectTypeOf<Methods<RagClient>>().toEqualTypeOf<Rag>();
  for (const method of ['ingest', 'search', 'generate', 'profile', 'info', 'close'] as const) {
    expectTypeOf<LocalRag[typeof method]>().toEqualTypeOf<RagClient[typeof method]>();
  }
  expectTypeOf<LocalRag['chat']>().toEqualTypeOf<RagClient['chat']>();
  // Every long call takes a signal.
  expectTypeOf<Parameters<Rag['ingest']>[1]>().toMatchTypeOf<{ signal?: AbortSignal } | undefined>();
  expectTypeOf<Parameters<Rag['search']>[1]>().toMatchTypeOf<{ signal?: AbortSignal } | undefined>();
  expectTypeOf<Parameters<Rag['generate']>[1]>().toMatchTypeOf<{ signal?: AbortSignal } | undefined>();
  expectTypeOf<Parameters<Rag['profile']>[0]>().toMatchTypeOf<{ signal?: AbortSignal } | undefined>();
});
