// The API reference, docs/api/*.md, generated from the doc comments (`npm run docs`): one page per
// public entry of package.json's "exports" ('.' is src/weft.ts, './NAME' is src/entries/NAME.ts),
// listing every export with its doc comment, its declaration and the file that declares it, plus
// docs/api/README.md, the index. test/project/api-docs.test.ts fails when a public export has no doc
// comment, and when a page here differs from what this script writes.
//
// Why not API Extractor + api-documenter, or TypeDoc: TypeDoc needs the `typescript` package's
// JavaScript API, which TypeScript 7 (the native compiler) no longer has. API Extractor bundles its
// own TypeScript (6.0) and does read the declarations TypeScript 7 emits, but it takes one entry
// point per run and api-documenter names pages by package (five entries of one package would have
// to pose as five packages), it writes one file per member (368 files, 1.5 MB for the root entry
// alone), it needs a declaration build before every run and two devDependencies (51 packages).
// This script reads the sources instead, with @swc/core (already a devDependency: the architecture
// check parses with it): it follows each entry's re-exports (named, renamed and `export *`) to the
// declaring file and takes the `/** … */` comment right before the declaration — what an editor
// shows on hover. It runs in well under a second, so the unit test runs it too.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSync } from '@swc/core';

const defaultRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The public entries: package.json's "exports" (its './package.json' aside), with their source files. */
export function entriesOf(root = defaultRoot) {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  return Object.keys(pkg.exports)
    .filter((key) => key !== './package.json')
    .map((key) => {
      const sub = key.replace(/^\.\/?/, '');
      return {
        entry: sub ? `${pkg.name}/${sub}` : pkg.name,
        file: sub ? `src/entries/${sub}.ts` : 'src/weft.ts',
        page: `${sub || pkg.name}.md`,
      };
    });
}

/** One source file, parsed: its bytes (swc's spans are byte offsets, from 1) and its statements. */
function load(root, file, cache) {
  let mod = cache.get(file);
  if (!mod) {
    const bytes = readFileSync(join(root, file));
    const ast = parseSync(bytes.toString('utf8'), { syntax: 'typescript', tsx: file.endsWith('.tsx'), comments: true });
    const text = (span) => bytes.subarray(span.start - 1, span.end - 1).toString('utf8');
    const first = ast.body[0];
    if (first && !/^\S/.test(text({ start: first.span.start, end: first.span.start + 1 }))) {
      throw new Error(`${file}: swc's spans do not start at 1 in this version; adjust load() in scripts/api-docs.mjs`);
    }
    mod = { file, bytes, ast, text };
    cache.set(file, mod);
  }
  return mod;
}

/** The file an import specifier names, from the file that imports it ('./x.js' is ./x.ts). */
function resolveImport(root, from, specifier) {
  if (!specifier.startsWith('.') || /\?|\.(wgsl|css|json|wasm)$/.test(specifier)) return undefined; // a package's, or an asset
  const base = join(dirname(from), specifier).replace(/\.js$/, '');
  for (const candidate of [`${base}.ts`, `${base}.tsx`, `${base}.d.ts`, join(base, 'index.ts')]) {
    if (existsSync(join(root, candidate))) return candidate;
  }
  throw new Error(`${from}: cannot resolve '${specifier}'`);
}

/** The names a declaration statement declares. */
function namesOf(decl) {
  switch (decl.type) {
    case 'FunctionDeclaration':
    case 'ClassDeclaration':
    case 'TsInterfaceDeclaration':
    case 'TsTypeAliasDeclaration':
    case 'TsEnumDeclaration':
      return [(decl.identifier ?? decl.id).value];
    case 'VariableDeclaration':
      return decl.declarations.flatMap((d) => (d.id.type === 'Identifier' ? [d.id.value] : []));
    default:
      return [];
  }
}

const KIND = {
  FunctionDeclaration: 'function',
  ClassDeclaration: 'class',
  TsInterfaceDeclaration: 'interface',
  TsTypeAliasDeclaration: 'type',
  TsEnumDeclaration: 'enum',
  VariableDeclaration: 'const',
};

/** The `/** … *\/` comment that ends right before byte `start` (whitespace between), cleaned; '' if none. */
function docBefore(mod, start) {
  const before = mod.bytes
    .subarray(0, start - 1)
    .toString('utf8')
    .trimEnd();
  if (!before.endsWith('*/')) return '';
  const open = before.lastIndexOf('/*');
  if (open < 0 || !before.startsWith('/**', open) || before.startsWith('/**/', open)) return '';
  return before
    .slice(open + 3, -2)
    .split('\n')
    .map((line) => line.replace(/^\s*\* ?/, '').trimEnd())
    .join('\n')
    .trim();
}

/** The declaration as the reference shows it: a function's or a class's head, a type's whole text. */
function signatureOf(mod, decl, name) {
  const text = mod.text(decl.span);
  switch (decl.type) {
    case 'FunctionDeclaration':
      return decl.body ? mod.text({ start: decl.span.start, end: decl.body.span.start }).trim() : text.trim();
    case 'ClassDeclaration':
      return classSignature(mod, decl);
    case 'VariableDeclaration': {
      const d = decl.declarations.find((x) => x.id.type === 'Identifier' && x.id.value === name);
      const head = `${decl.declare ? 'declare ' : ''}${decl.kind} ${mod.text(d.id.span)}`;
      const type = d.id.typeAnnotation ? mod.text(d.id.typeAnnotation.span) : '';
      const init = d.init ? mod.text(d.init.span) : '';
      const shown = type ? `${head}${type.startsWith(':') ? '' : ': '}${type}` : head;
      return init && !init.includes('\n') && init.length <= 100 ? `${shown} = ${init}` : init ? `${shown} = …` : shown;
    }
    default:
      return text.trim();
  }
}

/** A class's head and its public members (each with its doc comment), bodies left out. */
function classSignature(mod, decl) {
  const whole = mod.text(decl.span);
  const lines = [`${whole.slice(0, whole.indexOf('{')).trim()} {`];
  for (const member of decl.body) {
    if (member.accessibility === 'private' || member.accessibility === 'protected') continue;
    const key = member.key;
    if (!key || key.type === 'PrivateName' || (key.type === 'Identifier' && key.value.startsWith('_'))) continue;
    const doc = docBefore(mod, member.span.start);
    if (!doc) continue; // undocumented members are the class's own business (Lit's lifecycle, render)
    let head;
    if (member.type === 'ClassMethod' || member.type === 'Constructor') {
      const body = member.function?.body ?? member.body;
      head = body ? mod.text({ start: member.span.start, end: body.span.start }).trim() : mod.text(member.span).trim();
    } else {
      head = mod
        .text(member.span)
        .replace(/\s*=[\s\S]*$/, '')
        .replace(/;$/, '');
    }
    lines.push(`  /** ${doc.replace(/\n/g, ' ')} */`, `  ${head.replace(/^@\w+\([^)]*\)\s*/, '').replace(/\n\s*/g, ' ')};`);
  }
  lines.push('}');
  return lines.join('\n');
}

/**
 * What a module exports: exported name -> where it is declared. Follows `export … from`,
 * `export *` and `export { local }` of imported names to the declaring file.
 */
function exportsOf(root, file, cache, seen = new Set()) {
  const key = `exports:${file}`;
  if (cache.has(key)) return cache.get(key);
  if (seen.has(file)) throw new Error(`an export circle through ${file}`);
  seen.add(file);
  const mod = load(root, file, cache);
  const out = new Map();
  const imports = new Map(); // local name -> { file, name }
  const locals = new Map(); // name -> [statement, declaration]
  for (const stmt of mod.ast.body) {
    if (stmt.type === 'ImportDeclaration') {
      for (const s of stmt.specifiers) {
        if (s.type === 'ImportSpecifier') imports.set(s.local.value, { specifier: stmt.source.value, name: (s.imported ?? s.local).value });
      }
    }
    const decl = stmt.type === 'ExportDeclaration' ? stmt.declaration : stmt;
    for (const name of namesOf(decl)) if (!locals.has(name)) locals.set(name, [stmt, decl]);
  }
  const local = (name) => {
    const found = locals.get(name);
    if (found) {
      const [stmt, decl] = found;
      return { file, name, kind: KIND[decl.type], doc: docBefore(mod, stmt.span.start), signature: signatureOf(mod, decl, name) };
    }
    const imported = imports.get(name);
    const from = imported && resolveImport(root, file, imported.specifier);
    if (from) return lookup(from, imported.name);
    throw new Error(`${file}: exports ${name}, which it neither declares nor imports`);
  };
  const lookup = (from, name) => {
    const found = exportsOf(root, from, cache, new Set(seen)).get(name);
    if (!found) throw new Error(`${file}: ${from} has no export ${name}`);
    return found;
  };
  for (const stmt of mod.ast.body) {
    if (stmt.type === 'ExportDeclaration') {
      for (const name of namesOf(stmt.declaration)) out.set(name, local(name));
    } else if (stmt.type === 'ExportNamedDeclaration') {
      const from = stmt.source ? resolveImport(root, file, stmt.source.value) : undefined;
      if (stmt.source && !from) continue;
      for (const s of stmt.specifiers) {
        if (s.type !== 'ExportSpecifier') continue;
        const orig = s.orig.value;
        out.set((s.exported ?? s.orig).value, from ? lookup(from, orig) : local(orig));
      }
    } else if (stmt.type === 'ExportAllDeclaration') {
      const from = resolveImport(root, file, stmt.source.value);
      if (from) for (const [name, found] of exportsOf(root, from, cache, new Set(seen))) if (name !== 'default' && !out.has(name)) out.set(name, found);
    }
  }
  cache.set(key, out);
  return out;
}

/** The header comment of a file: its leading `//` lines, as one paragraph. */
function headerOf(root, file) {
  const lines = [];
  for (const line of readFileSync(join(root, file), 'utf8').split('\n')) {
    if (!line.startsWith('//')) break;
    lines.push(line.replace(/^\/\/ ?/, ''));
  }
  return lines.join('\n');
}

/** Every public entry with its exports, in the entry's order: name, kind, declaring file, doc comment, declaration. */
export function extractApi(root = defaultRoot) {
  const cache = new Map();
  return entriesOf(root).map((e) => ({
    ...e,
    header: headerOf(root, e.file),
    exports: [...exportsOf(root, e.file, cache)].map(([name, found]) => ({ ...found, declaredName: found.name, name })),
  }));
}

/** Prose from a comment, safe in Markdown: a `<` outside code spans is text, not an HTML tag. */
const prose = (text) =>
  text
    .split(/(`[^`\n]*`)/)
    .map((part, i) => (i % 2 ? part : part.replace(/</g, '&lt;')))
    .join('');

/** The pages: docs/api/README.md and one per entry, as path (from the root) -> Markdown. */
export function renderApi(api) {
  const pages = new Map();
  const note = '<!-- Generated by scripts/api-docs.mjs (`npm run docs`) from the doc comments in src/. Do not edit. -->';
  const index = [
    note,
    '',
    '# API reference',
    '',
    "One page per entry point of the package (package.json's `exports`), listing every export with its doc",
    'comment and its declaration, generated from the sources by `npm run docs`. The guides are one level up:',
    '[the library](../library.md), [the RAG runtime](../rag.md), [`<weft-chat>`](../weft-chat.md).',
    '',
    '| entry | source | exports |',
    '| --- | --- | --- |',
    ...api.map((e) => `| [\`${e.entry}\`](${e.page}) | [${e.file}](../../${e.file}) | ${e.exports.length} |`),
  ];
  pages.set('docs/api/README.md', `${index.join('\n')}\n`);
  for (const e of api) {
    const kinds = ['function', 'class', 'const', 'interface', 'type', 'enum'];
    const lines = [note, '', `# \`${e.entry}\``, '', `Source: [${e.file}](../../${e.file}). [All entries](README.md).`, ''];
    if (e.header)
      lines.push(
        prose(e.header)
          .replace(/\n(?!\n)/g, ' ')
          .replace(/ {2,}/g, ' '),
        '',
      );
    for (const kind of kinds) {
      const of = e.exports.filter((x) => x.kind === kind);
      if (of.length) lines.push(`- ${kind === 'class' ? 'classes' : `${kind}s`}: ${of.map((x) => `[\`${x.name}\`](#${x.name.toLowerCase()})`).join(', ')}`);
    }
    lines.push('');
    for (const x of e.exports) {
      lines.push(`## ${x.name}`, '');
      const declared = x.name === x.declaredName ? '' : ` as \`${x.declaredName}\``;
      lines.push(`${x.kind}${declared}, declared in [${x.file}](../../${x.file})`, '');
      if (x.doc) lines.push(prose(x.doc), '');
      lines.push('```ts', x.signature, '```', '');
    }
    pages.set(`docs/api/${e.page}`, `${lines.join('\n').trimEnd()}\n`);
  }
  return pages;
}

/** The exports with no doc comment, as 'entry: name (file)'. */
export function undocumented(api) {
  return api.flatMap((e) => e.exports.filter((x) => !x.doc).map((x) => `${e.entry}: ${x.name} (${x.file})`));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const api = extractApi();
  const pages = renderApi(api);
  const dir = join(defaultRoot, 'docs/api');
  if (existsSync(dir)) for (const f of readdirSync(dir)) if (f.endsWith('.md')) rmSync(join(dir, f));
  mkdirSync(dir, { recursive: true });
  for (const [path, text] of pages) writeFileSync(join(defaultRoot, path), text);
  const missing = undocumented(api);
  console.log(`${relative(process.cwd(), dir) || '.'}: ${pages.size} pages, ${api.reduce((n, e) => n + e.exports.length, 0)} exports`);
  if (missing.length) {
    console.error(`${missing.length} public exports have no doc comment:\n  ${missing.join('\n  ')}`);
    process.exitCode = 1;
  }
}
