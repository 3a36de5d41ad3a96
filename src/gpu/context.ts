// Owns (or borrows) a GPUDevice: requests the limits and features of everything that will share
// it (vector search, the reference generator, onnxruntime-web), routes device loss and uncaptured
// errors to typed WeftErrors, counts the bytes of every buffer it creates so that tests can catch
// leaks, and caches compute pipelines by what changes their code (compiled when first used, or
// ahead of use in the GPU process: pipelineAsync). The `gpu` option objects take,
// and how it becomes the context they run on, are option.ts.
// Over 400 lines: the context's interface, one doc comment per member, and its one closure
// (buffers, budget, pipelines and errors share its state); device requests are the rest.

import { WeftError } from '../errors.js';
import { createGpuBudget, type Elastic, type GpuHold, type GpuMemoryReport } from './budget.js';

/** The device limits a user of a shared device may need above WebGPU's defaults. */
export type GpuLimitName =
  | 'maxStorageBufferBindingSize'
  | 'maxBufferSize'
  | 'maxComputeWorkgroupStorageSize'
  | 'maxComputeInvocationsPerWorkgroup'
  | 'maxComputeWorkgroupSizeX'
  | 'maxComputeWorkgroupSizeY'
  | 'maxComputeWorkgroupSizeZ'
  | 'maxComputeWorkgroupsPerDimension'
  | 'maxStorageBuffersPerShaderStage'
  | 'maxBindGroups';

/** What one user of a device asks of it. A device is requested with the union of its users' needs. */
export interface GpuNeeds {
  /** Limits raised to the adapter's own maximum (WebGPU's defaults are far below real adapters'). */
  readonly limits?: readonly GpuLimitName[];
  /** Features enabled where the adapter has them; the user runs without them (more slowly). */
  readonly features?: readonly string[];
  /** The smallest values the user runs with: an adapter or a given device below one is refused (DEVICE_LIMIT). */
  readonly minLimits?: Readonly<Partial<Record<GpuLimitName, number>>>;
}

const SEARCH_LIMITS: readonly GpuLimitName[] = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
];

/**
 * The needs of each part that can run on a Weft device. `onnxruntime` is what onnxruntime-web
 * 1.30's WebGPU execution provider requests when it creates a device itself (its
 * GetRequiredLimits/GetAvailableRequiredFeatures; on SwiftShader it asked for timestamp-query,
 * subgroups, subgroup-size-control and these ten limits at the adapter's maximum); given a device
 * instead, it uses whichever of these features the device has. `webllm` mirrors WebLLM 0.2.86's
 * own request (tvmjs detectGPUDevice: shader-f16 and subgroups where available, at least 32 KiB of
 * workgroup memory and 10 storage buffers per stage); WebLLM does not take a device from the app
 * today, so it is listed for apps that hand one to its runtime themselves.
 */
export const GPU_NEEDS = {
  search: { limits: SEARCH_LIMITS },
  reference: { limits: ['maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupsPerDimension'] },
  onnxruntime: {
    limits: [
      'maxBindGroups',
      'maxStorageBuffersPerShaderStage',
      'maxStorageBufferBindingSize',
      'maxBufferSize',
      'maxComputeWorkgroupStorageSize',
      'maxComputeInvocationsPerWorkgroup',
      'maxComputeWorkgroupSizeX',
      'maxComputeWorkgroupSizeY',
      'maxComputeWorkgroupSizeZ',
      'maxComputeWorkgroupsPerDimension',
    ],
    features: ['shader-f16', 'subgroups', 'subgroup-size-control', 'timestamp-query', 'chromium-experimental-subgroup-matrix'],
  },
  webllm: {
    limits: [
      'maxBufferSize',
      'maxStorageBufferBindingSize',
      'maxComputeWorkgroupStorageSize',
      'maxStorageBuffersPerShaderStage',
      'maxComputeInvocationsPerWorkgroup',
    ],
    features: ['shader-f16', 'subgroups'],
    minLimits: { maxComputeWorkgroupStorageSize: 32 << 10, maxStorageBuffersPerShaderStage: 10 },
  },
} as const satisfies Record<string, GpuNeeds>;

/** What a context's device is created for by default: everything the engine worker runs on it besides WebLLM. */
export const DEFAULT_GPU_NEEDS: readonly GpuNeeds[] = [GPU_NEEDS.search, GPU_NEEDS.reference, GPU_NEEDS.onnxruntime];

/**
 * Options of createGpuContext: a device to wrap, or what the device to create must serve (needs, power
 * preference, shard size, scan workgroup size).
 */
export interface GpuContextOptions {
  /** Use this device instead of creating one. It is not destroyed by `destroy()`. */
  device?: GPUDevice;
  powerPreference?: GPUPowerPreference;
  /**
   * What the device must serve: the union of these needs is requested from the adapter (a given
   * `device` is checked against their `minLimits`). Default DEFAULT_GPU_NEEDS (search, the
   * reference generator, onnxruntime-web), so one device serves the whole engine worker; add
   * GPU_NEEDS.webllm, or needs of your own, for other users of the device.
   */
  needs?: readonly GpuNeeds[];
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
  /**
   * Whether the scan of 4-bit PQ codes reads each query's table from workgroup memory, where it
   * fits (FAISS's fast-scan idea; default true). false reads it from a storage buffer: the same
   * results, bit for bit; the switch is there to measure which is faster on a device.
   */
  pqTablesInWorkgroup?: boolean;
  /** GPU memory the context's buffers may hold, bytes (default: no budget, only accounting; see gpu/budget.ts). */
  budgetBytes?: number;
}

/**
 * A WebGPU device shared by Weft's GPU objects (indexes, stored indexes, the reference generator, the
 * embedder): its limits, the buffers created through it, device loss (`onError`) and `destroy()`.
 */
export interface GpuContext {
  readonly device: GPUDevice;
  readonly limits: GPUSupportedLimits;
  /** Bytes of one storage-buffer shard: min(maxStorageBufferBindingSize, maxBufferSize, option). */
  readonly maxShardBytes: number;
  /** Threads per workgroup of the list-scan kernel. */
  readonly scanWorkgroupSize: number;
  /** Whether the scan of 4-bit PQ codes reads each query's table from workgroup memory where it fits (GpuContextOptions). */
  readonly pqTablesInWorkgroup: boolean;
  /** Bytes currently held by buffers created through this context. */
  readonly liveBytes: number;
  readonly ownsDevice: boolean;
  /** Set once the device is lost; every later GPU call throws it. */
  readonly lostError: WeftError | undefined;
  /** DEVICE_LIMIT if `bytes` more for `what` would pass the memory budget: a load asks before it allocates. */
  reserve(bytes: number, what: string): void;
  /** Claims `bytes` for the buffers labelled `label` that will grow into them (0 gives it back): DEVICE_LIMIT if that would pass the budget. One claim per label. */
  claim(label: string, bytes: number, what: string): void;
  /**
   * Holds `bytes` for buffers labelled `label` (several holds of a label add up); with `elastic`, a
   * cache that gives memory back when a load needs it and takes it again when it is free.
   */
  hold(label: string, bytes: number, what: string, elastic?: Elastic): GpuHold;
  /** The memory budget, what is used and by whom (the generator, the list cache, …). */
  memory(): GpuMemoryReport;
  /** Sets the memory budget in bytes (Infinity: none). */
  setBudget(bytes: number): void;
  /** A buffer, charged to the memory budget (never refused by it: loads reserve before they allocate). */
  createBuffer(desc: GPUBufferDescriptor): GPUBuffer;
  destroyBuffer(buffer: GPUBuffer | undefined): void;
  /**
   * The pipeline cached under `key`, made by `build` the first time. A compile pipelineAsync
   * started and that has not finished cannot be waited for here: `build` makes a second copy, so
   * callers that warmed a pipeline up wait for its compile (or compute elsewhere) before asking.
   */
  pipeline(key: string, build: () => GPUComputePipeline): GPUComputePipeline;
  /**
   * The pipeline under `key`, compiled in the GPU process while the caller goes on
   * (createComputePipelineAsync in `build`): cached once it resolves, so a later pipeline(key)
   * takes it. A pipeline already cached resolves at once; one already compiling shares that compile.
   */
  pipelineAsync(key: string, build: () => Promise<GPUComputePipeline>): Promise<GPUComputePipeline>;
  /** Whether the pipeline under `key` is cached (pipeline(), or a pipelineAsync compile that finished). */
  hasPipeline(key: string): boolean;
  /** Subscribe to device loss and uncaptured GPU errors; returns the unsubscribe function. */
  onError(listener: (error: WeftError) => void): () => void;
  /** Throws if the device was lost or the context destroyed. */
  check(): void;
  destroy(): void;
}

/**
 * How long a failed GPU await waits for `device.lost` to settle before calling the failure a
 * plain GPU error: a destroyed device rejects pending mapAsync calls before its lost promise
 * resolves, and on a loaded machine (SwiftShader sharing two cores with a test run) that took
 * over 500 ms, so a lost device was once reported as GPU_ERROR. A loss ends the wait as soon as
 * it settles; only a failure on a live device (rare: a misused buffer) waits it out.
 */
const LOSS_GRACE_MS = 3000;

/**
 * What a rejected GPU promise (mapAsync, onSubmittedWorkDone) becomes: the context's
 * DEVICE_LOST when the device was lost, DESTROYED when the context was destroyed, GPU_ERROR
 * otherwise. WeftErrors pass through.
 */
async function gpuFailure(ctx: GpuContext, error: unknown, what: string): Promise<WeftError> {
  if (error instanceof WeftError) return error;
  if (!ctx.lostError) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    // The context's own handler on device.lost was registered first, so it has run when this resumes.
    await Promise.race([
      ctx.device.lost,
      new Promise((r) => {
        timer = setTimeout(r, LOSS_GRACE_MS);
      }),
    ]);
    clearTimeout(timer);
  }
  try {
    ctx.check();
  } catch (e) {
    return e as WeftError;
  }
  return new WeftError(
    'GPU_ERROR',
    `${what} failed on the GPU: ${(error as Error)?.message ?? String(error)}. Retry; if it keeps failing, create a new GPU context.`,
    { cause: error },
  );
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

/** Refuses limits below what the needs require (DEVICE_LIMIT, naming each). */
function checkMinLimits(limits: GPUSupportedLimits, needs: readonly GpuNeeds[], what: string): void {
  const short: string[] = [];
  for (const need of needs) {
    for (const [name, min] of Object.entries(need.minLimits ?? {}) as [GpuLimitName, number][]) {
      if (limits[name] < min) short.push(`${name} ${limits[name]} < ${min}`);
    }
  }
  if (short.length > 0) {
    throw new WeftError(
      'DEVICE_LIMIT',
      `${what} is below what its users need (${short.join(', ')}). Use a GPU (or browser) with higher limits, or leave out the user that needs them.`,
      { details: { short } },
    );
  }
}

/** The device descriptor for the union of the needs on this adapter: every limit at the adapter's maximum, every feature it has. */
function deviceRequest(adapter: GPUAdapter, needs: readonly GpuNeeds[]): GPUDeviceDescriptor {
  const requiredLimits: Record<string, number> = {};
  const requiredFeatures = new Set<string>();
  for (const need of needs) {
    for (const name of need.limits ?? []) requiredLimits[name] = adapter.limits[name];
    for (const f of need.features ?? []) if (adapter.features.has(f)) requiredFeatures.add(f);
  }
  return { requiredLimits, requiredFeatures: [...requiredFeatures] as GPUFeatureName[], label: 'weft.device' };
}

/**
 * Creates a GpuContext: wraps the given device, or requests an adapter and a device with the limits
 * its `needs` ask for. Rejects with WEBGPU_UNAVAILABLE or NO_ADAPTER where there is none.
 */
export async function createGpuContext(options: GpuContextOptions = {}): Promise<GpuContext> {
  const needs = options.needs ?? DEFAULT_GPU_NEEDS;
  if (options.device) {
    checkMinLimits(options.device.limits, needs, 'The given GPUDevice');
    return wrapDevice(options.device, false, options);
  }
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) {
    throw new WeftError(
      'WEBGPU_UNAVAILABLE',
      'WebGPU is not available in this environment. Use a browser with WebGPU enabled (Chrome/Edge 113+, a secure https or localhost page) or pass a GPUDevice.',
    );
  }
  const adapter = await gpu.requestAdapter(options.powerPreference ? { powerPreference: options.powerPreference } : {});
  if (!adapter) {
    throw new WeftError(
      'NO_ADAPTER',
      'No WebGPU adapter was found. Update the GPU driver or enable WebGPU in the browser settings (chrome://gpu tells why it is disabled).',
    );
  }
  checkMinLimits(adapter.limits, needs, 'This GPU adapter');
  const device = await adapter.requestDevice(deviceRequest(adapter, needs));
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
  const sizes = new Map<GPUBuffer, { size: number; label: string | undefined }>();
  const budget = createGpuBudget(options.budgetBytes);
  const pipelines = new Map<string, GPUComputePipeline>();
  const compiling = new Map<string, Promise<GPUComputePipeline>>();
  let liveBytes = 0;
  let lostError: WeftError | undefined;
  let destroyed = false;

  const emit = (e: WeftError) => {
    for (const l of listeners) l(e);
  };
  void device.lost.then((info) => {
    if (destroyed && info.reason === 'destroyed') return;
    lostError = new WeftError(
      'DEVICE_LOST',
      `The GPU device was lost (${info.reason}: ${info.message}). Create a new index on a new device; data kept in IndexedDB is safe.`,
      { details: { reason: info.reason } },
    );
    emit(lostError);
  });
  const onUncaptured = (ev: GPUUncapturedErrorEvent) => {
    emit(new WeftError('GPU_ERROR', `Uncaptured WebGPU error: ${ev.error.message}`, { cause: ev.error }));
  };
  device.addEventListener('uncapturederror', onUncaptured);

  const ctx: GpuContext = {
    device,
    limits,
    maxShardBytes,
    ownsDevice,
    scanWorkgroupSize,
    pqTablesInWorkgroup: options.pqTablesInWorkgroup ?? true,
    get liveBytes() {
      return liveBytes;
    },
    get lostError() {
      return lostError;
    },
    reserve: (bytes, what) => budget.reserve(bytes, what),
    hold: (label, bytes, what, elastic) => budget.hold(label, bytes, what, elastic),
    claim: (label, bytes, what) => budget.claim(label, bytes, what),
    memory: () => budget.report(),
    setBudget: (bytes) => budget.set(bytes),
    createBuffer(desc) {
      ctx.check();
      const buffer = device.createBuffer(desc);
      sizes.set(buffer, { size: desc.size, label: desc.label });
      budget.add(desc.label, desc.size);
      liveBytes += desc.size;
      return buffer;
    },
    destroyBuffer(buffer) {
      if (!buffer) return;
      const held = sizes.get(buffer);
      if (held === undefined) return;
      sizes.delete(buffer);
      budget.remove(held.label, held.size);
      liveBytes -= held.size;
      buffer.destroy();
    },
    pipeline(key, build) {
      let p = pipelines.get(key);
      if (!p) {
        p = build();
        pipelines.set(key, p);
      }
      return p;
    },
    pipelineAsync(key, build) {
      const cached = pipelines.get(key);
      if (cached) return Promise.resolve(cached);
      let p = compiling.get(key);
      if (!p) {
        ctx.check();
        p = build().then(
          (compiled) => {
            compiling.delete(key);
            ctx.check();
            // A pipeline() call meanwhile made its own copy: the one cached first stays.
            const kept = pipelines.get(key) ?? compiled;
            pipelines.set(key, kept);
            return kept;
          },
          (e: unknown) => {
            compiling.delete(key);
            throw e;
          },
        );
        compiling.set(key, p);
      }
      return p;
    },
    hasPipeline: (key) => pipelines.has(key),
    onError(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    check() {
      if (lostError) throw lostError;
      if (destroyed) throw new WeftError('DESTROYED', 'This GPU context was destroyed; create a new one.');
    },
    destroy() {
      if (destroyed) return;
      destroyed = true;
      for (const [b, held] of sizes) {
        b.destroy();
        budget.remove(held.label, held.size);
      }
      sizes.clear();
      liveBytes = 0;
      pipelines.clear();
      compiling.clear();
      device.removeEventListener('uncapturederror', onUncaptured);
      listeners.clear();
      budget.dispose();
      if (ownsDevice) device.destroy();
    },
  };
  return ctx;
}
