// Small helpers every kernel runner shares: labelled buffers made from typed arrays, explicit
// bind-group layouts, pipelines cached by shader name + override constants (compiled on first
// use, or ahead of it: compileKernel), and readback.

import { gpuAwait, type GpuContext } from './context.js';

export type BindingKind = 'uniform' | 'read' | 'rw';

const modules = new WeakMap<GPUDevice, Map<string, GPUShaderModule>>();
const layouts = new WeakMap<GPUDevice, Map<string, GPUBindGroupLayout>>();

function shaderModule(ctx: GpuContext, name: string, code: string): GPUShaderModule {
  let m = modules.get(ctx.device);
  if (!m) {
    m = new Map();
    modules.set(ctx.device, m);
  }
  let mod = m.get(name);
  if (!mod) {
    mod = ctx.device.createShaderModule({ label: `weft.${name}`, code });
    m.set(name, mod);
  }
  return mod;
}

export function bindGroupLayout(ctx: GpuContext, name: string, kinds: readonly BindingKind[]): GPUBindGroupLayout {
  let m = layouts.get(ctx.device);
  if (!m) {
    m = new Map();
    layouts.set(ctx.device, m);
  }
  let l = m.get(name);
  if (!l) {
    l = ctx.device.createBindGroupLayout({
      label: `weft.${name}.layout`,
      entries: kinds.map((kind, binding) => ({
        binding,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: kind === 'uniform' ? 'uniform' : kind === 'read' ? 'read-only-storage' : 'storage' },
      })),
    });
    m.set(name, l);
  }
  return l;
}

export interface Kernel {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
}

/** The cache key of a kernel: the shader's name and its override constants. */
function kernelKey(name: string, constants: Record<string, number>): string {
  return `${name}|${Object.entries(constants)
    .map(([k, v]) => `${k}=${v}`)
    .join(',')}`;
}

/** What creates the pipeline of `code` specialised by `constants`, sync or async. */
function pipelineDescriptor(ctx: GpuContext, name: string, code: string, layout: GPUBindGroupLayout, key: string, constants: Record<string, number>) {
  return {
    label: `weft.${key}`,
    layout: ctx.device.createPipelineLayout({ label: `weft.${name}.pipelineLayout`, bindGroupLayouts: [layout] }),
    compute: { module: shaderModule(ctx, name, code), entryPoint: 'main', constants },
  };
}

/** A compute pipeline for `code`, specialised by `constants` (override values), cached per context. */
export function kernel(ctx: GpuContext, name: string, code: string, kinds: readonly BindingKind[], constants: Record<string, number>): Kernel {
  const layout = bindGroupLayout(ctx, name, kinds);
  const key = kernelKey(name, constants);
  const pipeline = ctx.pipeline(key, () => ctx.device.createComputePipeline(pipelineDescriptor(ctx, name, code, layout, key, constants)));
  return { pipeline, layout };
}

/**
 * Starts compiling the pipeline kernel() would make for the same arguments, in the GPU process
 * (createComputePipelineAsync): the first submission that uses it then does not wait for the
 * compile. Resolves once it is cached (kernel() takes it from then on).
 */
export async function compileKernel(
  ctx: GpuContext,
  name: string,
  code: string,
  kinds: readonly BindingKind[],
  constants: Record<string, number>,
): Promise<void> {
  const layout = bindGroupLayout(ctx, name, kinds);
  const key = kernelKey(name, constants);
  await ctx.pipelineAsync(key, () => ctx.device.createComputePipelineAsync(pipelineDescriptor(ctx, name, code, layout, key, constants)));
}

/** Whether kernel() would find its pipeline for these arguments compiled already (no compile on first use). */
export function kernelCompiled(ctx: GpuContext, name: string, constants: Record<string, number>): boolean {
  return ctx.hasPipeline(kernelKey(name, constants));
}

export function bindGroup(ctx: GpuContext, k: Kernel, label: string, buffers: readonly GPUBuffer[]): GPUBindGroup {
  return ctx.device.createBindGroup({
    label,
    layout: k.layout,
    entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
  });
}

/**
 * A storage buffer holding `data` (size rounded up to 16 bytes). Written with
 * queue.writeBuffer, not mappedAtCreation: some implementations back a mapped range with
 * uncached memory, which made a 512 MB upload take 24 s instead of well under one.
 */
export function bufferFrom(ctx: GpuContext, label: string, data: ArrayBufferView, usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC): GPUBuffer {
  const size = Math.max(16, Math.ceil(data.byteLength / 16) * 16);
  const buffer = ctx.createBuffer({ label, size, usage: usage | GPUBufferUsage.COPY_DST });
  const whole = data.byteLength - (data.byteLength % 4);
  if (whole > 0) ctx.device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, whole);
  if (whole < data.byteLength) {
    const tail = new Uint8Array(4);
    tail.set(new Uint8Array(data.buffer, data.byteOffset + whole, data.byteLength - whole));
    ctx.device.queue.writeBuffer(buffer, whole, tail);
  }
  return buffer;
}

/** A uniform buffer of u32 values. */
export function uniformU32(ctx: GpuContext, label: string, values: readonly number[]): GPUBuffer {
  const data = new Uint32Array(Math.max(4, Math.ceil(values.length / 4) * 4));
  data.set(values);
  return bufferFrom(ctx, label, data, GPUBufferUsage.UNIFORM);
}

export function storageBuffer(ctx: GpuContext, label: string, bytes: number): GPUBuffer {
  return ctx.createBuffer({
    label,
    size: Math.max(16, Math.ceil(bytes / 16) * 16),
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
  });
}

/** Copies `bytes` of `src` back to the CPU. */
export async function readBack(ctx: GpuContext, src: GPUBuffer, bytes: number, encoder?: GPUCommandEncoder, srcOffset = 0): Promise<ArrayBuffer> {
  const size = Math.max(16, Math.ceil(bytes / 16) * 16);
  const staging = ctx.createBuffer({ label: 'weft.readback', size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  try {
    const enc = encoder ?? ctx.device.createCommandEncoder({ label: 'weft.readback' });
    enc.copyBufferToBuffer(src, srcOffset, staging, 0, Math.min(size, src.size - srcOffset));
    ctx.device.queue.submit([enc.finish()]);
    await gpuAwait(ctx, staging.mapAsync(GPUMapMode.READ), 'Reading results back');
    return staging.getMappedRange(0, size).slice(0, bytes);
  } finally {
    ctx.destroyBuffer(staging);
  }
}

/** Splits a 1-D workgroup count over x and y so neither exceeds the per-dimension limit. */
export function grid2d(ctx: GpuContext, groups: number): [number, number] {
  const max = ctx.limits.maxComputeWorkgroupsPerDimension;
  const x = Math.min(groups, max);
  return [Math.max(1, x), Math.max(1, Math.ceil(groups / Math.max(1, x)))];
}
