// The demo page: generates clustered vectors, builds an IVF index on this device's GPU and
// shows recall@k (against the exact flat GPU search) and timings for a range of nprobe.
import {
  createFlatIndex, createGpuContext, createIvfIndex, gaussianMixture, isWeftError, recallAtK,
  type Metric, type StorageType,
} from '../src/weft.js';

const form = document.querySelector<HTMLFormElement>('#form')!;
const status = document.querySelector<HTMLParagraphElement>('#status')!;
const table = document.querySelector<HTMLTableElement>('#results')!;
const button = document.querySelector<HTMLButtonElement>('#run')!;

function say(text: string, error = false) {
  status.textContent = text;
  status.classList.toggle('error', error);
}

const frame = () => new Promise((r) => requestAnimationFrame(r));

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const r = await fn();
  return [r, performance.now() - t0];
}

async function run() {
  const f = new FormData(form);
  const n = Number(f.get('n')), dim = Number(f.get('dim')), nq = Number(f.get('nq')), k = Number(f.get('k'));
  const metric = f.get('metric') as Metric, storage = f.get('storage') as StorageType;
  const nlist = Math.max(4, 2 ** Math.round(Math.log2(Math.sqrt(n) * 2)));
  const tbody = table.tBodies[0]!;
  tbody.replaceChildren();
  table.hidden = true;

  say('Generating vectors…');
  await frame();
  const all = gaussianMixture(n + nq, dim, { centers: Math.max(8, Math.round(Math.sqrt(n) / 2)), seed: Date.now() & 0xffff });
  const data = all.subarray(0, n * dim), queries = all.slice(n * dim);

  const ctx = await createGpuContext();
  ctx.onError((e) => say(`${e.code}: ${e.message}`, true));
  try {
    say(`Training ${nlist} lists with k-means on the GPU…`);
    const ivf = await createIvfIndex({ gpu: ctx, dim, nlist, metric, storage, niter: 10, maxTrainPointsPerCentroid: 64 });
    const [, trainMs] = await timed(() => ivf.train(data));
    say('Adding vectors…');
    const [, addMs] = await timed(() => ivf.add(data));
    say('Exact flat search for the ground truth…');
    const flat = await createFlatIndex({ gpu: ctx, dim, metric, storage });
    await flat.train(data);
    await flat.add(data);
    await flat.search(queries, { k });
    const [truth, flatMs] = await timed(() => flat.search(queries, { k }));
    flat.destroy();
    table.hidden = false;
    const row = (cells: string[]) => {
      const tr = tbody.insertRow();
      for (const c of cells) tr.insertCell().textContent = c;
    };
    row(['flat', '1.000', flatMs.toFixed(1), (nq / flatMs * 1000).toFixed(0), '1.0x']);
    for (let nprobe = 1; nprobe <= Math.min(nlist, 256); nprobe *= 2) {
      say(`Searching with nprobe = ${nprobe}…`);
      await ivf.search(queries, { k, nprobe });
      const [r, ms] = await timed(() => ivf.search(queries, { k, nprobe }));
      row([String(nprobe), recallAtK(r, truth).toFixed(3), ms.toFixed(1), (nq / ms * 1000).toFixed(0), `${(flatMs / ms).toFixed(1)}x`]);
      await frame();
    }
    ivf.destroy();
    say(`${n.toLocaleString()} × ${dim} ${storage} vectors, ${nlist} lists: trained in ${trainMs.toFixed(0)} ms, added in ${addMs.toFixed(0)} ms. Recall is against the exact GPU flat search.`);
  } finally {
    ctx.destroy();
  }
}

form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  button.disabled = true;
  run().catch((e: unknown) => {
    say(isWeftError(e) ? `${e.code}: ${e.message}` : `Error: ${e instanceof Error ? e.message : String(e)}`, true);
  }).finally(() => { button.disabled = false; });
});
