// The benchmark view: clustered random vectors, an IVF index trained with k-means on this
// device's GPU, and for a range of nprobe its recall@k (against the exact flat GPU search) and
// queries per second — plotted as recall against queries/s, and tabled. Long steps report
// progress and can be cancelled: k-means reports each iteration and stops between them, adds and
// the ground-truth search go in batches (cancel between them).
import { createFlatIndex, createGpuContext, createIvfIndex, gaussianMixture, isWeftError, recallAtK, type Metric, type StorageType } from '../src/weft.js';

interface Point {
  nprobe: number | 'flat';
  recall: number;
  qps: number;
}

const SVG = 'http://www.w3.org/2000/svg';
const frame = () => new Promise((r) => requestAnimationFrame(r));

class Cancelled extends Error {}

export function setupBenchmark(): void {
  const form = document.querySelector<HTMLFormElement>('#bench-form')!;
  const status = document.querySelector<HTMLParagraphElement>('#bench-status')!;
  const table = document.querySelector<HTMLTableElement>('#bench-table')!;
  const run = document.querySelector<HTMLButtonElement>('#bench-run')!;
  const cancel = document.querySelector<HTMLButtonElement>('#bench-cancel')!;
  const bar = document.querySelector<HTMLDivElement>('#bench-bar')!;
  const progress = document.querySelector<HTMLProgressElement>('#bench-progress')!;
  const stepText = document.querySelector<HTMLSpanElement>('#bench-step')!;
  const plot = document.querySelector<SVGSVGElement>('#bench-plot')!;
  let ctl: AbortController | undefined;

  const say = (text: string, error = false) => {
    status.textContent = text;
    status.classList.toggle('error', error);
  };
  const show = (text: string, done?: number, total?: number) => {
    bar.hidden = false;
    stepText.textContent = text;
    if (done === undefined || total === undefined) progress.removeAttribute('value');
    else {
      progress.max = total;
      progress.value = done;
    }
  };
  const check = () => {
    if (ctl?.signal.aborted) throw new Cancelled();
  };
  drawPlot(plot, []);

  async function bench() {
    const f = new FormData(form);
    const n = Number(f.get('n')),
      dim = Number(f.get('dim')),
      nq = Number(f.get('nq')),
      k = Number(f.get('k'));
    const metric = f.get('metric') as Metric,
      storage = f.get('storage') as StorageType;
    const nlist = Math.max(4, 2 ** Math.round(Math.log2(Math.sqrt(n) * 2)));
    const tbody = table.tBodies[0]!;
    tbody.replaceChildren();
    table.hidden = true;
    const points: Point[] = [];
    drawPlot(plot, points);

    show('Generating vectors…');
    await frame();
    const all = gaussianMixture(n + nq, dim, { centers: Math.max(8, Math.round(Math.sqrt(n) / 2)), seed: Date.now() & 0xffff });
    const data = all.subarray(0, n * dim),
      queries = all.slice(n * dim);
    check();

    const ctx = await createGpuContext();
    ctx.onError((e) => say(`${e.code}: ${e.message}`, true));
    try {
      show(`Training ${nlist} lists with k-means on the GPU…`);
      const ivf = await createIvfIndex({ gpu: ctx, dim, nlist, metric, storage, niter: 10, maxTrainPointsPerCentroid: 64 });
      try {
        const t0 = performance.now();
        await ivf
          .train(data, {
            ...(ctl ? { signal: ctl.signal } : {}),
            onProgress: (p) => show(`Training ${nlist} lists with k-means on the GPU… iteration ${p.done} / ${p.total}`, p.done, p.total),
          })
          .catch((e: unknown) => {
            if (isWeftError(e, 'ABORTED')) throw new Cancelled();
            throw e;
          });
        const trainMs = performance.now() - t0;
        check();
        const batch = 4096;
        const a0 = performance.now();
        for (let i = 0; i < n; i += batch) {
          show(`Adding vectors to the lists… ${i.toLocaleString()} / ${n.toLocaleString()}`, i, n);
          await ivf.add(data.subarray(i * dim, Math.min(n, i + batch) * dim));
          check();
        }
        const addMs = performance.now() - a0;
        show('Exact flat search for the ground truth…');
        const flat = await createFlatIndex({ gpu: ctx, dim, metric, storage });
        let truth: Awaited<ReturnType<typeof flat.search>> | undefined;
        let flatMs = 0;
        try {
          await flat.train(data);
          await flat.add(data);
          check();
          await flat.search(queries, { k });
          const f0 = performance.now();
          truth = await flat.search(queries, { k });
          flatMs = performance.now() - f0;
        } finally {
          flat.destroy();
        }
        table.hidden = false;
        const row = (cells: string[]) => {
          const tr = tbody.insertRow();
          for (const c of cells) tr.insertCell().textContent = c;
        };
        row(['flat', '1.000', flatMs.toFixed(1), ((nq / flatMs) * 1000).toFixed(0), '1.0x']);
        points.push({ nprobe: 'flat', recall: 1, qps: (nq / flatMs) * 1000 });
        const probes: number[] = [];
        for (let p = 1; p <= Math.min(nlist, 256); p *= 2) probes.push(p);
        for (const [i, nprobe] of probes.entries()) {
          check();
          show(`Searching with nprobe = ${nprobe}…`, i, probes.length);
          await ivf.search(queries, { k, nprobe });
          const s0 = performance.now();
          const r = await ivf.search(queries, { k, nprobe });
          const ms = performance.now() - s0;
          const recall = recallAtK(r, truth);
          row([String(nprobe), recall.toFixed(3), ms.toFixed(1), ((nq / ms) * 1000).toFixed(0), `${(flatMs / ms).toFixed(1)}x`]);
          points.push({ nprobe, recall, qps: (nq / ms) * 1000 });
          drawPlot(plot, points);
          await frame();
        }
        say(
          `${n.toLocaleString()} × ${dim} ${storage} vectors, ${nlist} lists: trained in ${trainMs.toFixed(0)} ms, added in ${addMs.toFixed(0)} ms. Recall is against the exact GPU flat search.`,
        );
      } finally {
        ivf.destroy();
      }
    } finally {
      ctx.destroy();
    }
  }

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    run.disabled = true;
    cancel.disabled = false;
    ctl = new AbortController();
    say('Running…');
    bench()
      .catch((e: unknown) => {
        if (e instanceof Cancelled) say('Cancelled.');
        else say(isWeftError(e) ? `${e.code}: ${e.message}` : `Error: ${e instanceof Error ? e.message : String(e)}`, true);
      })
      .finally(() => {
        run.disabled = false;
        cancel.disabled = true;
        bar.hidden = true;
        ctl = undefined;
      });
  });
  cancel.addEventListener('click', () => {
    ctl?.abort();
    stepText.textContent = 'Cancelling…';
  });
}

/** Recall (y, 0..1) against queries per second (x, log scale), one point per nprobe and the flat baseline. */
function drawPlot(svg: SVGSVGElement, points: readonly Point[]): void {
  const W = 560,
    H = 340,
    L = 52,
    R = 16,
    T = 16,
    B = 44;
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.replaceChildren();
  const el = <K extends keyof SVGElementTagNameMap>(name: K, attrs: Record<string, string | number>): SVGElementTagNameMap[K] => {
    const e = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    svg.append(e);
    return e;
  };
  const qps = points.map((p) => p.qps);
  const lo = Math.log10(Math.max(1, (qps.length ? Math.min(...qps) : 100) / 1.6)),
    hi = Math.log10((qps.length ? Math.max(...qps) : 10_000) * 1.6);
  const x = (q: number) => L + ((Math.log10(q) - lo) / (hi - lo)) * (W - L - R);
  const y = (r: number) => T + (1 - r) * (H - T - B);
  for (let r = 0; r <= 1.0001; r += 0.2) {
    el('line', { x1: L, x2: W - R, y1: y(r), y2: y(r), class: 'grid' });
    el('text', { x: L - 6, y: y(r) + 4, 'text-anchor': 'end' }).textContent = r.toFixed(1);
  }
  for (let d = Math.ceil(lo); d <= hi; d++) {
    el('line', { x1: x(10 ** d), x2: x(10 ** d), y1: T, y2: H - B, class: 'grid' });
    el('text', { x: x(10 ** d), y: H - B + 16, 'text-anchor': 'middle' }).textContent = d >= 3 ? `${10 ** (d - 3)}k` : String(10 ** d);
  }
  el('text', { x: (L + W - R) / 2, y: H - 6, 'text-anchor': 'middle' }).textContent = 'queries / second (log scale) →';
  el('text', { x: 14, y: (T + H - B) / 2, transform: `rotate(-90 14 ${(T + H - B) / 2})`, 'text-anchor': 'middle' }).textContent = 'recall@k ↑';
  if (points.length === 0) {
    el('text', { x: (L + W) / 2, y: H / 2, 'text-anchor': 'middle' }).textContent = 'Run the benchmark: each nprobe becomes a point here.';
    return;
  }
  const ivf = points.filter((p) => p.nprobe !== 'flat');
  if (ivf.length > 1) el('polyline', { class: 'curve', points: ivf.map((p) => `${x(p.qps)},${y(p.recall)}`).join(' ') });
  // Labels where they do not overlap one already placed (every point keeps its tooltip).
  const placed: { x: number; y: number; w: number }[] = [];
  const free = (bx: number, by: number, w: number) =>
    bx >= L && bx + w <= W - R && by >= T + 6 && by <= H - B && placed.every((b) => bx + w < b.x || b.x + b.w < bx || Math.abs(by - b.y) > 12);
  for (const p of points) {
    const c = el('circle', {
      cx: x(p.qps),
      cy: y(p.recall),
      r: 5,
      class: `point${p.nprobe === 'flat' ? ' flat' : ''}`,
      'data-nprobe': p.nprobe,
      'data-recall': p.recall,
      'data-qps': p.qps,
    });
    c.append(
      Object.assign(document.createElementNS(SVG, 'title'), {
        textContent: `${p.nprobe === 'flat' ? 'exact flat search' : `nprobe ${p.nprobe}`}: recall ${p.recall.toFixed(3)}, ${p.qps.toFixed(0)} queries/s`,
      }),
    );
    const text = p.nprobe === 'flat' ? 'exact search' : `nprobe ${p.nprobe}`;
    const w = text.length * 6;
    const cx = x(p.qps),
      cy = y(p.recall);
    const spot = [
      [cx + 7, cy - 7],
      [cx + 7, cy + 15],
      [cx - 7 - w, cy - 7],
      [cx - 7 - w, cy + 15],
      [cx - w / 2, cy + 22],
    ].find(([bx, by]) => free(bx!, by!, w));
    if (!spot) continue;
    placed.push({ x: spot[0]!, y: spot[1]!, w });
    el('text', { x: spot[0]!, y: spot[1]!, class: 'label' }).textContent = text;
  }
}
