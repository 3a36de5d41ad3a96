// micromark (under the Markdown reader) decodes character references with
// decode-named-character-reference, whose "browser" build creates a DOM element at load: in the
// engine worker and in Deno there is no `document`, and bundlers pick that build for workers too
// (Vite ignores the package's "worker" condition). Its plain build (a lookup table) works
// everywhere: every Vite build of this project (library, demo, tests, the Deno shell) resolves to
// it, and the library bundles the Markdown stack (a devDependency, not left to the app's bundler)
// so that apps get that build too.
import { resolve } from 'node:path';

/** Vite `resolve.alias` entries for a checkout whose root is `root`. */
export function workerSafeAlias(root) {
  return [{ find: /^decode-named-character-reference$/, replacement: resolve(root, 'node_modules/decode-named-character-reference/index.js') }];
}
