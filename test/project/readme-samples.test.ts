// The docs' TypeScript samples are files: each ```ts block of README.md and of the pages in docs/
// (docs/*.md) follows a marker `<!-- sample: docs/samples/NAME.ts -->` and must equal that file,
// which `npm run typecheck` type-checks (docs/samples/tsconfig.json) against the package's entry
// points. A block edited in a page alone, a sample file edited alone, a new ```ts block without its
// file, or a sample file that no page shows fails here. So does a relative link in README.md or
// any page under docs/ (docs/api/ included) to a file that does not exist, or to a heading that its
// Markdown target does not have.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
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
  url?: string;
  depth?: number;
  children?: Node[];
  position?: { start: { line: number } };
}

const trees = new Map<string, Node>();
const parse = (file: string): Node => {
  let tree = trees.get(file);
  if (!tree) {
    tree = fromMarkdown(readFileSync(resolve(root, file), 'utf8'), { extensions: [gfm()], mdastExtensions: [gfmFromMarkdown()] }) as Node;
    trees.set(file, tree);
  }
  return tree;
};

const walk = (node: Node, visit: (node: Node, parent: Node, i: number) => void): void =>
  node.children?.forEach((child, i) => {
    visit(child, node, i);
    walk(child, visit);
  });

const markdownUnder = (dir: string): string[] =>
  readdirSync(resolve(root, dir)).flatMap((f) => {
    const path = `${dir}/${f}`;
    if (statSync(resolve(root, path)).isDirectory()) return f === 'samples' ? [] : markdownUnder(path);
    return f.endsWith('.md') ? [path] : [];
  });

/** The pages whose ```ts blocks are samples: README.md and docs/*.md (not the generated docs/api/). */
const pages = ['README.md', ...markdownUnder('docs').filter((f) => !f.slice('docs/'.length).includes('/'))];
/** The pages whose links must resolve: all of the above and docs/api/. */
const linked = ['README.md', ...markdownUnder('docs')];

/** Every ```ts block of a page with the marker right before it (undefined where there is none). */
function samplesOf(page: string): { at: string; file: string | undefined; code: string }[] {
  const found: { at: string; file: string | undefined; code: string }[] = [];
  walk(parse(page), (child, parent, i) => {
    if (child.type === 'code' && (child.lang === 'ts' || child.lang === 'typescript' || child.lang === 'tsx')) {
      const before = parent.children![i - 1];
      const marker = before?.type === 'html' ? MARKER.exec(before.value!.trim()) : null;
      found.push({ at: `${page}:${child.position!.start.line}`, file: marker?.[1], code: child.value! });
    }
  });
  return found;
}

const samples = pages.flatMap(samplesOf);
const sampleFiles = readdirSync(samplesDir)
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
  .map((f) => `docs/samples/${f}`)
  .sort();

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchorsOf(page: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  const text = (node: Node): string => (node.value ?? '') + (node.children ?? []).map(text).join('');
  walk(parse(page), (node) => {
    if (node.type !== 'heading') return;
    const slug = text(node)
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    anchors.add(n === 0 ? slug : `${slug}-${n}`);
  });
  return anchors;
}

/** Every relative link (and image) of a page: where it points and the anchor, if any. */
function linksOf(page: string): { at: string; target: string; anchor: string | undefined }[] {
  const links: { at: string; target: string; anchor: string | undefined }[] = [];
  walk(parse(page), (node) => {
    if ((node.type !== 'link' && node.type !== 'image') || !node.url || /^[a-z][a-z0-9+.-]*:/i.test(node.url)) return;
    const [path, anchor] = node.url.split('#', 2) as [string, string | undefined];
    const target = path === '' ? page : relative(root, resolve(root, dirname(page), decodeURIComponent(path)));
    links.push({ at: `${page}:${node.position!.start.line} (${node.url})`, target, anchor });
  });
  return links;
}

describe('the docs’ samples', () => {
  test('the pages have TypeScript samples, and docs/samples has their files', () => {
    expect(pages).toContain('README.md');
    expect(pages.length).toBeGreaterThan(5);
    expect(samples.length).toBeGreaterThan(10);
    expect(sampleFiles.length).toBeGreaterThan(10);
  });

  test('every ```ts block in README.md and docs/*.md names its sample file', () => {
    expect(
      samples.filter((s) => !s.file).map((s) => s.at),
      'precede each ```ts block with <!-- sample: docs/samples/NAME.ts --> and put its code in that file',
    ).toEqual([]);
  });

  test.each(samples.filter((s) => s.file))('$at shows $file exactly', ({ file, code }) => {
    expect(sampleFiles, `${file} does not exist`).toContain(file);
    expect(code).toBe(readFileSync(resolve(root, file!), 'utf8').replace(/\n$/, ''));
  });

  test('every sample file is shown by some page', () => {
    const shown = new Set(samples.map((s) => s.file));
    expect(sampleFiles.filter((f) => !shown.has(f))).toEqual([]);
  });

  test('npm run typecheck type-checks the samples', () => {
    const pkg = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.typecheck).toContain('tsc -p docs/samples/tsconfig.json');
  });
});

describe('the docs’ links', () => {
  test('every relative link in README.md and docs/ names a file that exists, and a heading its page has', () => {
    const anchors = new Map<string, Set<string>>();
    const broken = linked.flatMap(linksOf).filter(({ target, anchor }) => {
      if (!existsSync(resolve(root, target))) return true;
      if (anchor === undefined || !target.endsWith('.md')) return false;
      if (!anchors.has(target)) anchors.set(target, anchorsOf(target));
      return !anchors.get(target)!.has(anchor);
    });
    expect(broken.map((l) => l.at)).toEqual([]);
  }, 60_000); // the API reference's pages are large: seconds to parse on a busy machine

  test('the README stays short: under 15 KB', () => {
    expect(readFileSync(resolve(root, 'README.md')).length).toBeLessThan(15 * 1024);
  });
});
