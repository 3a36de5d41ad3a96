import { expect, test } from 'vitest';
import { createGpuContext } from '../../src/weft.js';
import { gpuAwait } from '../../src/gpu/context.js';

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
  await expect(gpuAwait(ctx, fail(), 'Reading results back')).rejects.toMatchObject({ code: 'GPU_ERROR', message: expect.stringContaining('Reading results back') });
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
