// The `gpu` option, in its two shapes, and how an object turns it into the context it runs on.
// GpuOption is what every object that runs only on WebGPU takes (vector indexes, the reference
// generator, the rerankers, the onnxruntime-web models), GpuOrCpuOption what every object that can
// also compute on the CPU takes (stored indexes, the RAG runtime, a first ingest's new index). An
// options type whose `gpu` says something of its own extends its shape and declares the field
// again with its own doc comment, typed GpuDeviceOrContext or GpuOrCpu: the values stay the same
// everywhere. contextFrom and backendFrom say which context an object runs on and whether it owns it.

import { WeftError } from '../errors.js';
import { createGpuContext, type GpuContext } from './context.js';

/** A GPU given to an object: a GPUDevice to wrap (in a context of the object's own) or a GpuContext to share. */
export type GpuDeviceOrContext = GPUDevice | GpuContext;

/**
 * What every GPU object takes as its `gpu` option: a GPUDevice to wrap, a GpuContext to share,
 * or nothing to create (and own) a device.
 */
export type GpuSource = GpuDeviceOrContext | undefined;

/** The option every factory of a GPU-only object accepts. */
export interface GpuOption {
  /** The device or context to run on. Default: a device of its own, destroyed with the object. */
  gpu?: GpuDeviceOrContext;
}

/** Where a stored index computes: WebGPU, or the CPU fallback (src/ivf/cpu-*.ts) where WebGPU is missing. */
export type Backend = 'gpu' | 'cpu';

/** A GPU given to an object that also runs without WebGPU, or `'cpu'` to compute on the CPU. */
export type GpuOrCpu = GpuDeviceOrContext | 'cpu';

/**
 * The option of objects that also run without WebGPU (stored indexes, the RAG runtime): a device
 * or context as for GpuOption, `'cpu'` to compute on the CPU, or nothing to create a device,
 * falling back to the CPU where the browser has no WebGPU or no adapter.
 */
export interface GpuOrCpuOption {
  /** The device or context to run on, or `'cpu'`. Default: a device of its own, destroyed with the object, or the CPU where there is none. */
  gpu?: GpuOrCpu;
}

/**
 * The context an object that can also run on the CPU uses: as contextFrom, except that `'cpu'`,
 * and nothing given where the environment has no WebGPU (WEBGPU_UNAVAILABLE) or no adapter
 * (NO_ADAPTER), give no context (`ctx` undefined: compute on the CPU). Other failures throw.
 */
export async function backendFrom(gpu: GpuOrCpu | undefined): Promise<{ ctx: GpuContext | undefined; owns: boolean }> {
  if (gpu === 'cpu') return { ctx: undefined, owns: false };
  if (gpu) return contextFrom(gpu);
  try {
    return await contextFrom(undefined);
  } catch (e) {
    if (e instanceof WeftError && (e.code === 'WEBGPU_UNAVAILABLE' || e.code === 'NO_ADAPTER')) return { ctx: undefined, owns: false };
    throw e;
  }
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
