#!/usr/bin/env node
// Draws the peers benchmark as an SVG from its --json output:
//   npm run bench -- peers --json > peers.out && node bench/peers-plot.mjs peers.out docs/peers.svg
// Left: recall@k against one-query latency (p50) over each system's search knob; right: batch
// queries/s and cold open to first answer, one bar per system (log scales: the systems differ by
// orders of magnitude). Systems that failed are listed with their error instead.
import { readFileSync, writeFileSync } from 'node:fs';

const [input, output = 'docs/peers.svg'] = process.argv.slice(2);
if (!input) {
  console.error('usage: node bench/peers-plot.mjs PEERS_JSON_OUTPUT [OUT.svg]');
  process.exit(2);
}
const result = JSON.parse(readFileSync(input, 'utf8').trim().split('\n').pop());

const COLORS = { 'weft-gpu': '#d62728', 'weft-cpu': '#ff7f0e', 'hnswlib-wasm': '#1f77b4', 'voy-search': '#2ca02c', mememo: '#9467bd', orama: '#8c564b' };
const color = (s) => COLORS[s] ?? '#555';
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const ok = result.rows.filter((r) => !r.error);
const failed = result.rows.filter((r) => r.error);

const W = 1100,
  H = 470;
const out = [];
out.push(
  `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
);
out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
out.push(
  `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">Weft and its peers: ${result.n.toLocaleString('en')} × ${result.dim}, k ${result.k}, ${result.queries} queries, one Chromium page${result.device ? ` (WebGPU: ${esc(result.device)}; ${result.cores} cores)` : ''}</text>`,
);

const log10 = Math.log10;
const niceLogTicks = (lo, hi) => {
  const t = [];
  for (let e = Math.floor(log10(lo)); e <= Math.ceil(log10(hi)); e++) t.push(10 ** e);
  return t;
};
const fmt = (v) => (v >= 1000 ? `${v / 1000}k`.replace('.0k', 'k') : v >= 1 ? String(v) : String(v));

// ---- Panel 1: recall vs p50 latency --------------------------------------------------------------
{
  const x0 = 70,
    y0 = 60,
    w = 440,
    h = 300;
  const pts = ok.flatMap((r) => r.sweep ?? []);
  const lats = pts.map((p) => Math.max(p.p50Ms, 0.05));
  const lo = 10 ** Math.floor(log10(Math.min(...lats, 0.1))),
    hi = 10 ** Math.ceil(log10(Math.max(...lats, 1)));
  const rMin = Math.max(0, Math.floor(Math.min(...pts.map((p) => p.recall), 0.9) * 10) / 10);
  // Latencies under the page's timer resolution (0.1 ms without cross-origin isolation) sit at 0.05.
  const X = (v) => x0 + ((log10(v) - log10(lo)) / (log10(hi) - log10(lo))) * w;
  const XD = (v) => X(Math.max(v, 0.05));
  const Y = (r) => y0 + h - ((r - rMin) / (1 - rMin)) * h;
  out.push(`<text x="${x0 + w / 2}" y="${y0 - 12}" text-anchor="middle" font-weight="bold">recall@${result.k} vs one-query latency (p50, log scale)</text>`);
  out.push(`<rect x="${x0}" y="${y0}" width="${w}" height="${h}" fill="none" stroke="#999"/>`);
  for (const t of niceLogTicks(lo, hi)) {
    if (t < lo || t > hi) continue;
    out.push(
      `<line x1="${X(t)}" y1="${y0}" x2="${X(t)}" y2="${y0 + h}" stroke="#eee"/><text x="${X(t)}" y="${y0 + h + 16}" text-anchor="middle">${fmt(t)}</text>`,
    );
  }
  for (let r = rMin; r <= 1.0001; r += (1 - rMin) / 5) {
    out.push(
      `<line x1="${x0}" y1="${Y(r)}" x2="${x0 + w}" y2="${Y(r)}" stroke="#eee"/><text x="${x0 - 6}" y="${Y(r) + 4}" text-anchor="end">${r.toFixed(2)}</text>`,
    );
  }
  out.push(
    `<line x1="${x0}" y1="${Y(0.95)}" x2="${x0 + w}" y2="${Y(0.95)}" stroke="#999" stroke-dasharray="4 3"/><text x="${x0 + w - 4}" y="${Y(0.95) - 4}" text-anchor="end" fill="#777">0.95</text>`,
  );
  out.push(`<text x="${x0 + w / 2}" y="${y0 + h + 34}" text-anchor="middle">ms per query (p50; the page's timer ticks at 0.1 ms)</text>`);
  out.push(`<text transform="translate(${x0 - 44} ${y0 + h / 2}) rotate(-90)" text-anchor="middle">recall@${result.k}</text>`);
  for (const r of ok) {
    const s = r.sweep ?? [];
    if (!s.length) continue;
    out.push(
      `<polyline fill="none" stroke="${color(r.system)}" stroke-width="2" points="${s.map((p) => `${XD(p.p50Ms).toFixed(1)},${Y(p.recall).toFixed(1)}`).join(' ')}"/>`,
    );
    for (const p of s)
      out.push(
        `<circle cx="${XD(p.p50Ms).toFixed(1)}" cy="${Y(p.recall).toFixed(1)}" r="${p.knob === r.knob ? 5 : 3}" fill="${color(r.system)}"><title>${esc(`${r.system} ${r.knobName} ${p.knob}: recall ${p.recall.toFixed(3)}, p50 ${p.p50Ms.toFixed(2)} ms`)}</title></circle>`,
      );
  }
  // Legend under the panel.
  result.rows.forEach((r, i) => {
    const lx = x0 + (i % 3) * 150,
      ly = y0 + h + 56 + Math.floor(i / 3) * 18;
    out.push(
      `<rect x="${lx}" y="${ly - 9}" width="12" height="12" fill="${color(r.system)}"/><text x="${lx + 17}" y="${ly + 1}">${esc(r.system)}${r.error ? ' (failed)' : ''}</text>`,
    );
  });
}

// ---- Panels 2 and 3: horizontal log bars ---------------------------------------------------------
function bars(x0, title, unit, value, better) {
  const y0 = 60,
    w = 230,
    rowH = 300 / Math.max(1, result.rows.length);
  const vals = ok.map(value).filter((v) => v > 0);
  const lo = 10 ** Math.floor(log10(Math.min(...vals))),
    hi = 10 ** Math.ceil(log10(Math.max(...vals)));
  const L = (v) => ((log10(v) - log10(lo)) / (log10(hi) - log10(lo))) * w;
  out.push(`<text x="${x0 + w / 2}" y="${y0 - 12}" text-anchor="middle" font-weight="bold">${esc(title)}</text>`);
  for (const t of niceLogTicks(lo, hi))
    out.push(
      `<line x1="${x0 + L(t)}" y1="${y0}" x2="${x0 + L(t)}" y2="${y0 + 300}" stroke="#eee"/><text x="${x0 + L(t)}" y="${y0 + 316}" text-anchor="middle">${fmt(t)}</text>`,
    );
  out.push(`<text x="${x0 + w / 2}" y="${y0 + 334}" text-anchor="middle">${esc(unit)} (log scale; ${better} is better)</text>`);
  result.rows.forEach((r, i) => {
    const y = y0 + i * rowH + rowH * 0.3,
      bh = rowH * 0.55;
    out.push(`<text x="${x0 + 2}" y="${y - 3}" font-size="10" fill="#555">${esc(r.system)}</text>`);
    const v = r.error ? undefined : value(r);
    if (v === undefined || !(v > 0)) {
      out.push(`<text x="${x0 + 4}" y="${y + bh / 2 + 4}" fill="#999">${r.error ? 'failed' : 'n/a'}</text>`);
      return;
    }
    out.push(`<rect x="${x0}" y="${y}" width="${Math.max(1, L(v)).toFixed(1)}" height="${bh}" fill="${color(r.system)}"/>`);
    out.push(`<text x="${x0 + Math.max(1, L(v)) + 4}" y="${y + bh / 2 + 4}">${v >= 100 ? Math.round(v).toLocaleString('en') : v.toFixed(1)}</text>`);
  });
  out.push(`<line x1="${x0}" y1="${y0}" x2="${x0}" y2="${y0 + 300}" stroke="#999"/>`);
}
bars(590, 'batch queries/s', 'queries/s', (r) => r.batchQps, 'more');
bars(850, 'cold open to first answer', 'ms', (r) => r.coldOpenMs, 'less');

out.push(
  `<text x="${W / 2}" y="${H - 10}" text-anchor="middle" fill="#555" font-size="11">${esc(`${failed.length ? `failed: ${failed.map((r) => `${r.system} (${r.error})`).join('; ')}. ` : ''}Big dots: the setting reported in the table (first reaching recall 0.95).`)}</text>`,
);
out.push('</svg>');
writeFileSync(output, `${out.join('\n')}\n`);
console.log(`wrote ${output}`);
