import { expect, test } from 'vitest';
import { createGpuContext } from '../../src/weft.js';
import { DEFAULT_GPU_NEEDS, GPU_NEEDS, gpuAwait } from '../../src/gpu/context.js';

test('scan workgroup size: 32 on a CPU fallback adapter (SwiftShader here), overridable, validated', async () => {
  const auto = await createGpuContext();
  const info = (auto.device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo;
  expect(`${info?.vendor} ${info?.architecture} ${info?.description}`.toLowerCase()).toContain('swiftshader');
  expect(auto.scanWorkgroupSize).toBe(32);
  const forced = await createGpuContext({ device: auto.device, scanWorkgroupSize: 128 });
  expect(forced.scanWorkgroupSize).toBe(128);
  await expect(createGpuContext({ device: auto.device, scanWorkgroupSize: 48 as never })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
  forced.destroy();
  auto.destroy();
});

test('a failed GPU await is GPU_ERROR on a live device, DEVICE_LOST on a lost one, DESTROYED on a destroyed context', async () => {
  const ctx = await createGpuContext();
  const fail = () => Promise.reject(new DOMException('mapping failed', 'OperationError'));
  await expect(gpuAwait(ctx, fail(), 'Reading results back')).rejects.toMatchObject({
    code: 'GPU_ERROR',
    message: expect.stringContaining('Reading results back'),
  });
  await expect(gpuAwait(ctx, Promise.resolve(7), 'x')).resolves.toBe(7);
  const mapped = ctx.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ });
  const pending = gpuAwait(ctx, mapped.mapAsync(GPUMapMode.READ), 'Reading results back');
  ctx.device.destroy();
  await expect(pending).rejects.toMatchObject({ code: 'DEVICE_LOST' });
  // A promise that resolves after the loss still reports it.
  await expect(gpuAwait(ctx, Promise.resolve(), 'x')).rejects.toMatchObject({ code: 'DEVICE_LOST' });
  ctx.destroy();
  const other = await createGpuContext();
  other.destroy();
  await expect(gpuAwait(other, fail(), 'x')).rejects.toMatchObject({ code: 'DESTROYED' });
});

test('one device for every user: the default context has the union of the search, reference-generator and onnxruntime needs; minimums are enforced', async () => {
  const adapter = (await navigator.gpu.requestAdapter())!;
  const ctx = await createGpuContext();
  try {
    for (const need of DEFAULT_GPU_NEEDS) {
      for (const name of need.limits ?? []) expect(ctx.device.limits[name], name).toBe(adapter.limits[name]);
      for (const f of need.features ?? []) expect(ctx.device.features.has(f), f).toBe(adapter.features.has(f));
    }
    // Not vacuous here: SwiftShader offers some of onnxruntime's features, and limits above WebGPU's defaults.
    expect(GPU_NEEDS.onnxruntime.features.some((f) => ctx.device.features.has(f))).toBe(true);
    expect(ctx.device.limits.maxStorageBufferBindingSize).toBeGreaterThan(128 << 20);
  } finally {
    ctx.destroy();
  }
  const tooMuch = { minLimits: { maxComputeWorkgroupStorageSize: adapter.limits.maxComputeWorkgroupStorageSize + 1 } };
  await expect(createGpuContext({ needs: [GPU_NEEDS.search, tooMuch] })).rejects.toMatchObject({
    code: 'DEVICE_LIMIT',
    message: expect.stringContaining('maxComputeWorkgroupStorageSize'),
  });
  // A given device is checked too: one with WebGPU's default limits lacks WebLLM's 10 storage buffers per stage.
  const plain = await adapter.requestDevice();
  try {
    await expect(createGpuContext({ device: plain, needs: [GPU_NEEDS.webllm] })).rejects.toMatchObject({
      code: 'DEVICE_LIMIT',
      message: expect.stringContaining('maxStorageBuffersPerShaderStage'),
    });
    const ok = await createGpuContext({ device: plain });
    ok.destroy();
  } finally {
    plain.destroy();
  }
  const withWebLlm = await createGpuContext({ needs: [...DEFAULT_GPU_NEEDS, GPU_NEEDS.webllm] });
  expect(withWebLlm.device.limits.maxStorageBuffersPerShaderStage).toBeGreaterThanOrEqual(10);
  withWebLlm.destroy();
});
