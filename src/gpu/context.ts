// Owns (or borrows) a GPUDevice: requests the adapter's real limits, routes device loss and
// uncaptured errors to typed WeftErrors, counts the bytes of every buffer it creates so that
// tests can catch leaks, and caches compute pipelines by what changes their code.

import { WeftError } from '../errors.js';

export interface GpuContextOptions {
  /** Use this device instead of creating one. It is not destroyed by `destroy()`. */
  device?: GPUDevice;
  powerPreference?: GPUPowerPreference;
  /**
   * Upper bound on the bytes of one storage buffer (shard). Defaults to the device's
   * `maxStorageBufferBindingSize` (and `maxBufferSize`); set lower to force sharding.
   */
  maxShardBytes?: number;
  /**
   * Threads per workgroup of the list-scan kernel (32, 64 or 128). Default 128 on GPUs (more
   * bytes in flight per workgroup: on an H100 a one-query scan ran at 1.54 TB/s with 128,
   * 0.97 with 64, 0.53 with 32) and 32 on CPU fallback adapters such as SwiftShader, where
   * every workgroup barrier costs in proportion to the workgroup size (2-4x faster there).
   */
  scanWorkgroupSize?: 32 | 64 | 128;
}

export interface GpuContext {
  readonly device: GPUDevice;
  readonly limits: GPUSupportedLimits;
  /** Bytes of one storage-buffer shard: min(maxStorageBufferBindingSize, maxBufferSize, option). */
  readonly maxShardBytes: number;
  /** Threads per workgroup of the list-scan kernel. */
  readonly scanWorkgroupSize: number;
  /** Bytes currently held by buffers created through this context. */
  readonly liveBytes: number;
  readonly ownsDevice: boolean;
  /** Set once the device is lost; every later GPU call throws it. */
  readonly lostError: WeftError | undefined;
  createBuffer(desc: GPUBufferDescriptor): GPUBuffer;
  destroyBuffer(buffer: GPUBuffer | undefined): void;
  pipeline(key: string, build: () => GPUComputePipeline): GPUComputePipeline;
  /** Subscribe to device loss and uncaptured GPU errors; returns the unsubscribe function. */
  onError(listener: (error: WeftError) => void): () => void;
  /** Throws if the device was lost or the context destroyed. */
  check(): void;
  destroy(): void;
}

/**
 * What every GPU object takes as its `gpu` option: a GPUDevice to wrap, a GpuContext to share,
 * or nothing to create (and own) a device.
 */
export type GpuSource = GPUDevice | GpuContext | undefined;

/** The option every factory of a GPU object accepts. */
export interface GpuOption {
  /** The device or context to run on. Default: a device of its own, destroyed with the object. */
  gpu?: GPUDevice | GpuContext;
}

/**
 * The context an object runs on, and whether the object owns it (destroys it when it is
 * destroyed): a wrapped GPUDevice or a created device are owned; a shared context is not.
 */
export async function contextFrom(gpu: GpuSource): Promise<{ ctx: GpuContext; owns: boolean }> {
  if (!gpu) return { ctx: await createGpuContext(), owns: true };
  if ('createBuffer' in gpu && 'queue' in gpu) return { ctx: await createGpuContext({ device: gpu }), owns: true };
  return { ctx: gpu, owns: false };
}

/**
 * How long a failed GPU await waits for `device.lost` to settle before calling the failure a
 * plain GPU error: a destroyed device rejects pending mapAsync calls before its lost promise
 * resolves.
 */
const LOSS_GRACE_MS = 500;

/**
 * What a rejected GPU promise (mapAsync, onSubmittedWorkDone) becomes: the context's
 * DEVICE_LOST when the device was lost, DESTROYED when the context was destroyed, GPU_ERROR
 * otherwise. WeftErrors pass through.
 */
export async function gpuFailure(ctx: GpuContext, error: unknown, what: string): Promise<WeftError> {
  if (error instanceof WeftError) return error;
  if (!ctx.lostError) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    // The context's own handler on device.lost was registered first, so it has run when this resumes.
    await Promise.race([ctx.device.lost, new Promise((r) => { timer = setTimeout(r, LOSS_GRACE_MS); })]);
    clearTimeout(timer);
  }
  try {
    ctx.check();
  } catch (e) {
    return e as WeftError;
  }
  return new WeftError('GPU_ERROR', `${what} failed on the GPU: ${(error as Error)?.message ?? String(error)}. Retry; if it keeps failing, create a new GPU context.`, { cause: error });
}

/** Awaits a GPU promise; its failure becomes a WeftError (see gpuFailure), and so does a loss it resolved through. */
export async function gpuAwait<T>(ctx: GpuContext, promise: Promise<T>, what: string): Promise<T> {
  let value: T;
  try {
    value = await promise;
  } catch (e) {
    throw await gpuFailure(ctx, e, what);
  }
  ctx.check();
  return value;
}

export async function createGpuContext(options: GpuContextOptions = {}): Promise<GpuContext> {
  if (options.device) return wrapDevice(options.device, false, options);
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) {
    throw new WeftError('WEBGPU_UNAVAILABLE',
      'WebGPU is not available in this environment. Use a browser with WebGPU enabled (Chrome/Edge 113+, a secure https or localhost page) or pass a GPUDevice.');
  }
  const adapter = await gpu.requestAdapter(options.powerPreference ? { powerPreference: options.powerPreference } : {});
  if (!adapter) {
    throw new WeftError('NO_ADAPTER',
      'No WebGPU adapter was found. Update the GPU driver or enable WebGPU in the browser settings (chrome://gpu tells why it is disabled).');
  }
  // The default device limits are far below what real adapters offer (128 MiB bindings):
  // ask for the adapter's own limits for everything vector search is bounded by.
  const wanted = [
    'maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize',
    'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupsPerDimension',
    'maxStorageBuffersPerShaderStage',
  ] as const;
  const requiredLimits: Record<string, number> = {};
  for (const name of wanted) requiredLimits[name] = adapter.limits[name];
  const device = await adapter.requestDevice({ requiredLimits, label: 'weft.device' });
  return wrapDevice(device, true, options);
}

/** SwiftShader, llvmpipe, lavapipe, WARP: software adapters that run shaders on the CPU. */
function isCpuAdapter(info: GPUAdapterInfo | undefined): boolean {
  if (!info) return false;
  if ((info as GPUAdapterInfo & { isFallbackAdapter?: boolean }).isFallbackAdapter) return true;
  return /swiftshader|llvmpipe|lavapipe|softpipe|warp|microsoft basic render/i.test(`${info.vendor} ${info.architecture} ${info.device} ${info.description}`);
}

function wrapDevice(device: GPUDevice, ownsDevice: boolean, options: GpuContextOptions): GpuContext {
  const limits = device.limits;
  let maxShardBytes = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
  if (options.maxShardBytes !== undefined) {
    if (!(options.maxShardBytes > 0)) throw new WeftError('INVALID_OPTION', 'maxShardBytes must be a positive number of bytes.');
    maxShardBytes = Math.min(maxShardBytes, Math.floor(options.maxShardBytes));
  }
  maxShardBytes -= maxShardBytes % 256;
  const info = (device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo;
  let scanWorkgroupSize = isCpuAdapter(info) ? 32 : 128;
  if (options.scanWorkgroupSize !== undefined) {
    if (![32, 64, 128].includes(options.scanWorkgroupSize)) throw new WeftError('INVALID_OPTION', 'scanWorkgroupSize must be 32, 64 or 128.');
    scanWorkgroupSize = options.scanWorkgroupSize;
  }
  scanWorkgroupSize = Math.min(scanWorkgroupSize, limits.maxComputeInvocationsPerWorkgroup);

  const listeners = new Set<(e: WeftError) => void>();
  const sizes = new Map<GPUBuffer, number>();
  const pipelines = new Map<string, GPUComputePipeline>();
  let liveBytes = 0;
  let lostError: WeftError | undefined;
  let destroyed = false;

  const emit = (e: WeftError) => { for (const l of listeners) l(e); };
  void device.lost.then((info) => {
    if (destroyed && info.reason === 'destroyed') return;
    lostError = new WeftError('DEVICE_LOST',
      `The GPU device was lost (${info.reason}: ${info.message}). Create a new index on a new device; data kept in IndexedDB is safe.`,
      { details: { reason: info.reason } });
    emit(lostError);
  });
  const onUncaptured = (ev: GPUUncapturedErrorEvent) => {
    emit(new WeftError('GPU_ERROR', `Uncaptured WebGPU error: ${ev.error.message}`, { cause: ev.error }));
  };
  device.addEventListener('uncapturederror', onUncaptured);

  const ctx: GpuContext = {
    device, limits, maxShardBytes, ownsDevice, scanWorkgroupSize,
    get liveBytes() { return liveBytes; },
    get lostError() { return lostError; },
    createBuffer(desc) {
      ctx.check();
      const buffer = device.createBuffer(desc);
      sizes.set(buffer, desc.size);
      liveBytes += desc.size;
      return buffer;
    },
    destroyBuffer(buffer) {
      if (!buffer) return;
      const size = sizes.get(buffer);
      if (size === undefined) return;
      sizes.delete(buffer);
      liveBytes -= size;
      buffer.destroy();
    },
    pipeline(key, build) {
      let p = pipelines.get(key);
      if (!p) { p = build(); pipelines.set(key, p); }
      return p;
    },
    onError(listener) { listeners.add(listener); return () => listeners.delete(listener); },
    check() {
      if (lostError) throw lostError;
      if (destroyed) throw new WeftError('DESTROYED', 'This GPU context was destroyed; create a new one.');
    },
    destroy() {
      if (destroyed) return;
      destroyed = true;
      for (const b of sizes.keys()) b.destroy();
      sizes.clear();
      liveBytes = 0;
      pipelines.clear();
      device.removeEventListener('uncapturederror', onUncaptured);
      listeners.clear();
      if (ownsDevice) device.destroy();
    },
  };
  return ctx;
}
