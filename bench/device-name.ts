// How the benchmarks name the GPU they ran on in their results: the adapter's vendor,
// architecture and description where the runtime says them (Chromium and Deno both fill
// GPUDevice.adapterInfo), so results from a laptop, SwiftShader and a lent H100 tell themselves apart.

/** The adapter's vendor, architecture and description, joined; 'unknown' where none is given. */
export function deviceName(device: GPUDevice): string {
  const info = (device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo;
  return adapterInfoName(info);
}

/** The same from an adapter's info (a page that has an adapter and no device yet). */
export function adapterInfoName(info: GPUAdapterInfo | undefined): string {
  return info ? [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') || 'unknown' : 'unknown';
}
