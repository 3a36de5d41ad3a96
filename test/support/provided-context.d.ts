// What the Vitest config hands the tests through `provide` (vite.config.ts, browserProject's
// `test.provide`), typed for `inject(...)` in every test file. The one declaration of these keys:
// test files export nothing (Biome's noExportsInTest), so none of them augments 'vitest' itself.
// The root tsconfig includes test/, which brings this file into every test's program.

declare module 'vitest' {
  export interface ProvidedContext {
    /** ../shared/assets (third-party models, tokenizers, corpora) as a `/@fs/…` path the page can fetch. */
    sharedAssets: string;
  }
}

// A module (not a script), so the block above augments 'vitest' rather than replacing it.
export {};
