import { expect, test } from 'vitest';
import { createGpuContext } from '../../src/weft.js';

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
