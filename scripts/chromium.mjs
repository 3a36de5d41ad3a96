// Where Chromium is and how it is launched for tests and benchmarks: Debian's /usr/bin/chromium
// (or $WEFT_CHROMIUM), WebGPU on SwiftShader so that machines without a GPU run it, and no
// background networking (the CI machine has no network beyond package registries).
export const CHROMIUM_PATH = process.env.WEFT_CHROMIUM ?? '/usr/bin/chromium';

export const CHROMIUM_BASE_ARGS = [
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

export const CHROMIUM_ARGS = [...CHROMIUM_BASE_ARGS, '--use-webgpu-adapter=swiftshader'];

// A browser without WebGPU, for the CPU fallback's tests (the `browser-nogpu` project): no
// --enable-unsafe-webgpu, no SwiftShader adapter, no GPU. navigator.gpu is still there but
// requestAdapter() resolves to null (NO_ADAPTER), as where a browser blocks WebGPU on the machine's
// GPU; test/stored-index/cpu-fallback.nogpu.test.ts checks that first.
export const CHROMIUM_NO_WEBGPU_ARGS = [
  ...CHROMIUM_BASE_ARGS.filter((a) => a !== '--enable-unsafe-webgpu'),
  '--disable-gpu',
  '--disable-features=WebGPU,Vulkan',
];
