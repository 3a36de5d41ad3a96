// The layer rules of src/ (.dependency-cruiser.cjs): no import circle, type-only imports
// included, and no import pointing up the layer order written there. Run through
// dependency-cruiser's command line on the real tree; a parser that silently read nothing (as its
// default one does with TypeScript 7) fails here too, by the count of modules.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, sep } from 'node:path';
import { describe, expect, test } from 'vitest';

interface Violation {
  from: string;
  to: string;
  rule: { name: string };
  cycle?: { name: string }[];
}

function cruise(): { modules: number; violations: Violation[] } {
  const out = execFileSync(join('node_modules', '.bin', 'depcruise'), ['src', '--config', '.dependency-cruiser.cjs', '--output-type', 'json'], {
    encoding: 'utf8',
    maxBuffer: 64 * 2 ** 20,
  });
  const report = JSON.parse(out) as { summary: { totalCruised: number; violations: Violation[] } };
  return { modules: report.summary.totalCruised, violations: report.summary.violations };
}

const files = (dir: string): string[] =>
  readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : [p];
  });

describe('the architecture of src/', () => {
  test('no import circle and no import up the layer order', () => {
    const { modules, violations } = cruise();
    const sources = files('src').filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'));
    expect(modules).toBeGreaterThanOrEqual(sources.length);
    expect(violations.map((v) => `${v.rule.name}: ${v.from} → ${v.cycle ? v.cycle.map((c) => c.name).join(' → ') : v.to}`)).toEqual([]);
  });

  test('a file of src/ over 400 lines says why in its header', () => {
    const long = files('src')
      .filter((f) => f.endsWith('.ts'))
      .map((f) => ({ f, text: readFileSync(f, 'utf8') }))
      .filter(({ text }) => text.split('\n').length > 400);
    const header = (text: string) =>
      text
        .split('\n')
        .filter((_l, i, all) => all.slice(0, i + 1).every((x) => x.startsWith('//')))
        .join('\n');
    expect(long.filter(({ text }) => !/^\/\/ Over 400 lines: \S/m.test(header(text))).map(({ f }) => f)).toEqual([]);
  });

  // A file's name says what it does, once (issue 21): two files of src/ with one base name, as
  // runtime/citations.ts and chat/citations.ts once were while meaning two different things, read
  // as one subject in imports, stack traces and searches. Two kinds of name are shared on purpose and left out: types.ts, the
  // leaf type module a folder may have (its types and nothing else), and the files of src/entries/,
  // named after the package entry each implements (entries/client.ts is `weft-rag/client`).
  test('no two files of src/ share a base name, but types.ts and the entries', () => {
    const byName = new Map<string, string[]>();
    for (const f of files('src').map((f) => f.split(sep).join('/'))) {
      const name = f.slice(f.lastIndexOf('/') + 1);
      if (name === 'types.ts' || f.startsWith('src/entries/')) continue;
      byName.set(name, [...(byName.get(name) ?? []), f]);
    }
    expect([...byName.values()].filter((paths) => paths.length > 1)).toEqual([]);
  });

  test('every folder of src/ has its place in the layer order', () => {
    const config = readFileSync('.dependency-cruiser.cjs', 'utf8');
    const folders = readdirSync('src').filter((f) => statSync(join('src', f)).isDirectory());
    for (const f of folders) expect(config, `src/${f}/ is in no layer of .dependency-cruiser.cjs`).toContain(`'src/${f}/'`);
  });
}, 120_000);
