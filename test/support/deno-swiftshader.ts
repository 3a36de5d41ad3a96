// The environment Deno runs WebGPU in for the e2e tests (the shell's, the benchmarks'): SwiftShader's
// Vulkan driver, with the Vulkan loader beside it in Chromium's folder on the library path. Without
// a loader there Deno's wgpu falls back to OpenGL (llvmpipe), not the driver the ICD names, and a
// local 'pq' index's rag stream spun for minutes there without an answer (Vulkan: 55 s).

const SWIFTSHADER = '/usr/lib/chromium';

/** process.env with Deno pointed at SwiftShader's Vulkan, no colours and no update check. */
export const denoSwiftShaderEnv = {
  ...process.env,
  VK_ICD_FILENAMES: `${SWIFTSHADER}/vk_swiftshader_icd.json`,
  LD_LIBRARY_PATH: [SWIFTSHADER, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':'),
  NO_COLOR: '1',
  DENO_NO_UPDATE_CHECK: '1',
};
