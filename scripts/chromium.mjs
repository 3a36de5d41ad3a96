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
