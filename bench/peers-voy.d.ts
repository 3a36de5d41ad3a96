// Types for voy-search's wasm-bindgen glue, which bench/peers-systems.ts imports directly (the
// package's entry imports its .wasm as an ES module, which Vite does not do without a plugin).
declare module 'voy-search/voy_search_bg.js' {
  export * from 'voy-search';
  export function __wbg_set_wasm(exports: WebAssembly.Exports): void;
}
