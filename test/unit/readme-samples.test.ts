// README.md's TypeScript samples are files: each ```ts block follows a marker
// `<!-- sample: docs/samples/NAME.ts -->` and must equal that file, which `npm run typecheck`
// type-checks (docs/samples/tsconfig.json) against the package's entry points. A block edited in
// README alone, a sample file edited alone, a new ```ts block without its file, or a sample file
// that README no longer shows fails here.
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fromMarkdown } from 'mdast-util-from-markdown';
import { gfmFromMarkdown } from 'mdast-util-gfm';
import { gfm } from 'micromark-extension-gfm';
import { describe, expect, test } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const samplesDir = resolve(root, 'docs/samples');
const MARKER = /^<!--\s*sample:\s*(docs\/samples\/[\w.-]+\.ts)\s*-->$/;

interface Node {
  type: string;
  lang?: string | null;
  value?: string;
  children?: Node[];
  position?: { start: { line: number } };
}

/** Every ```ts block of README.md with the marker right before it (undefined where there is none). */
function readmeSamples(): { line: number; file: string | undefined; code: string }[] {
  const tree = fromMarkdown(readFileSync(resolve(root, 'README.md'), 'utf8'), { extensions: [gfm()], mdastExtensions: [gfmFromMarkdown()] }) as Node;
  const found: { line: number; file: string | undefined; code: string }[] = [];
  const walk = (node: Node) => {
    node.children?.forEach((child, i) => {
      if (child.type === 'code' && (child.lang === 'ts' || child.lang === 'typescript' || child.lang === 'tsx')) {
        const before = node.children![i - 1];
        const marker = before?.type === 'html' ? MARKER.exec(before.value!.trim()) : null;
        found.push({ line: child.position!.start.line, file: marker?.[1], code: child.value! });
      }
      walk(child);
    });
  };
  walk(tree);
  return found;
}

const samples = readmeSamples();
const sampleFiles = readdirSync(samplesDir)
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
  .map((f) => `docs/samples/${f}`)
  .sort();

describe('README samples', () => {
  test('README has TypeScript samples, and docs/samples has their files', () => {
    expect(samples.length).toBeGreaterThan(10);
    expect(sampleFiles.length).toBeGreaterThan(10);
  });

  test('every ```ts block in README.md names its sample file', () => {
    expect(
      samples.filter((s) => !s.file).map((s) => `README.md:${s.line}`),
      'precede each ```ts block with <!-- sample: docs/samples/NAME.ts --> and put its code in that file',
    ).toEqual([]);
  });

  test.each(samples.filter((s) => s.file))('README.md:$line shows $file exactly', ({ file, code }) => {
    expect(sampleFiles, `${file} does not exist`).toContain(file);
    expect(code).toBe(readFileSync(resolve(root, file!), 'utf8').replace(/\n$/, ''));
  });

  test('every sample file is shown once in README.md', () => {
    const shown = samples
      .map((s) => s.file)
      .filter((f) => f !== undefined)
      .sort();
    expect(shown).toEqual(sampleFiles);
  });

  test('npm run typecheck type-checks the samples', () => {
    const pkg = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.typecheck).toContain('tsc -p docs/samples/tsconfig.json');
  });
});
