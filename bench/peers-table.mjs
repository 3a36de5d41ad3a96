// The peers benchmark's table, from its JSON result: plain text for the terminal (bench/run.mjs)
// and Markdown for the README (`node bench/peers-table.mjs result.json`).
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

export const PEER_SYSTEMS = ['weft-gpu', 'weft-cpu', 'hnswlib-wasm', 'voy-search', 'mememo', 'orama'];

const fx = (x, d) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(d) : '-');
const mb = (b) => (typeof b === 'number' && Number.isFinite(b) ? (b / 2 ** 20).toFixed(1) : '-');

/** One array of cells per system, the header first. */
export function peerCells(result) {
  const header = [
    'system',
    'build s',
    `recall@${result.k}`,
    'at',
    'p50 ms',
    'p99 ms',
    'batch q/s',
    'JS heap MiB',
    'buffers MiB',
    'WASM MiB',
    'GPU MiB',
    'cold open ms',
  ];
  const rows = result.rows.map((r) => {
    if (r.error) return [r.system, `error: ${r.error}`];
    const at = r.knobName === '-' ? '-' : `${r.knobName} ${r.knob}${r.reached ? '' : ' (best)'}`;
    const m = r.memory ?? {};
    return [
      r.system,
      fx(r.buildMs / 1000, 1),
      fx(r.recall, 3),
      at,
      fx(r.p50Ms, 2),
      fx(r.p99Ms, 2),
      fx(r.batchQps, 0),
      mb(m.jsHeapBytes),
      mb(m.backingBytes),
      m.wasmBytes ? mb(m.wasmBytes) : '-',
      m.gpuBytes ? mb(m.gpuBytes) : '-',
      `${fx(r.coldOpenMs, 0)} (${fx(r.openMs, 0)} + ${fx(r.firstQueryMs, 0)})`,
    ];
  });
  return [header, ...rows];
}

export function formatPeers(result) {
  const cells = peerCells(result);
  const widths = cells[0].map((_, c) => Math.max(...cells.filter((r) => r.length > 1).map((r) => String(r[c] ?? '').length)));
  const line = (r) =>
    r.length === 2 && r[1].startsWith('error: ')
      ? `${r[0].padEnd(widths[0])}  ${r[1]}`
      : r.map((x, c) => (c === 0 ? String(x).padEnd(widths[c]) : String(x).padStart(widths[c]))).join('  ');
  return [
    `Weft and its peers on ${result.device} (${result.cores} cores): ${result.n} x ${result.dim} (${result.data}), ${result.queries} queries, k ${result.k}; Weft nlist ${result.nlist}`,
    'latency: one query at a time at the first knob setting reaching recall 0.95 (else the best); batch: all queries (one call where the system has a batch API)',
    `memory held once built and searched (JS heap, buffers: what dropping the index gives back): ${result.memorySource}; WASM: the module's whole linear memory; GPU: Weft's buffer bytes`,
    'cold open: open from browser storage + first answer, in a fresh iframe with the library already started',
    '',
    ...cells.map(line),
  ].join('\n');
}

export function formatPeersMarkdown(result) {
  const cells = peerCells(result);
  const md = (r) => `| ${r.join(' | ')} |`;
  return [
    md(cells[0]),
    md(cells[0].map(() => '---')),
    ...cells.slice(1).map((r) => md(r.length === 2 ? [r[0], r[1], ...Array(cells[0].length - 2).fill('')] : r)),
  ].join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const text = readFileSync(process.argv[2] ?? 0, 'utf8')
    .trim()
    .split('\n')
    .pop();
  console.log(formatPeersMarkdown(JSON.parse(text)));
}
