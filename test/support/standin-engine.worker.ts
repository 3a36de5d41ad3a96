// A test-only engine worker for test/generate/webllm-worker.browser.test.ts: the real engine host (serveEngine), with
// the stand-in MLCEngine (test/support/webllm-stand-in.ts) as its WebLLM engine factory, so that
// createRagInWorker({ generator: { webllm: … } }) runs the whole WebLLM adapter in a worker.
//
// Two things only tests need:
// - stories260K is packaged as a chat model: once the stand-in has loaded it, its cached
//   mlc-chat-config.json (which the adapter reads, as it reads a real model's) gets a role
//   template (CHAT_TEMPLATE), so prompts carry "USER:"/"ASSISTANT:" headers and a refresh that
//   opened a new turn would show. The engine's forward path does not read the template.
// - The stand-in's probes (the MLCEngine calls it received, forwards in flight, KV length) are
//   served over a MessagePort the page sends as `{ weftStandInProbes: port }` (see StandInProbes).
import * as Comlink from 'comlink';
import { serveEngine } from '../../src/transport/engine-host.js';
import { createStandInMLCEngine, webllmModelUrl, type StandInEngine } from './webllm-stand-in.js';

/** A role-based conversation template (vicuna-like), in MLC's conv_template form. */
export const CHAT_TEMPLATE = {
  name: 'stand-in-chat',
  system_template: '{system_message}',
  system_message: '',
  system_prefix_token_ids: [1],
  add_role_after_system_message: true,
  roles: { user: 'USER', assistant: 'ASSISTANT' },
  role_templates: { user: '{user_message}', assistant: '{assistant_message}', tool: '{tool_message}' },
  seps: ['\n'],
  role_content_sep: ': ',
  role_empty_sep: ':',
  stop_str: [],
  stop_token_ids: [2],
};

let engine: StandInEngine | undefined;
let engines = 0;

serveEngine(self, {
  webllmEngineFactory: async (modelId, config, chatOptions) => {
    const e = await createStandInMLCEngine(modelId, config, chatOptions);
    const record = config.appConfig?.model_list.find((r) => r.model_id === modelId);
    if (record) {
      const url = new URL('mlc-chat-config.json', webllmModelUrl(record.model)).href;
      const cache = await caches.open('webllm/config');
      const file = (await (await cache.match(url))!.json()) as object;
      await cache.put(url, new Response(JSON.stringify({ ...file, conv_template: CHAT_TEMPLATE }), { headers: { 'content-type': 'application/json' } }));
    }
    engine = e;
    engines++;
    return e;
  },
});

export type StandInCall = StandInEngine['probes']['calls'][number];

/** What the test can read of the stand-in engine the worker's adapter drives. */
const probes = {
  /** Engines the factory has created so far. */
  engines: () => engines,
  /** The calls the current engine received, from index `from` on. */
  calls: (from = 0): StandInCall[] => engine?.probes.calls.slice(from) ?? [],
  state: () => ({
    calls: engine?.probes.calls.length ?? 0,
    inFlight: engine?.probes.inFlight ?? 0,
    generating: engine?.probes.generating ?? false,
    kvLength: engine?.kvLength ?? 0,
  }),
};
export type StandInProbes = typeof probes;

self.addEventListener('message', (ev: MessageEvent<{ weftStandInProbes?: unknown } | null>) => {
  const port = ev.data?.weftStandInProbes;
  if (port instanceof MessagePort) Comlink.expose(probes, port);
});
