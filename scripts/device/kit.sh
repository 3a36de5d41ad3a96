#!/usr/bin/env bash
# Builds .device/ (ignored by git): everything the GPU runs of issues 19 and 24 need on a lent
# machine, which has an NVIDIA GPU but no network, no Node, no Chromium and perhaps no Vulkan
# loader. Deno's WebGPU (wgpu on Vulkan) runs the benchmarks there, as bench/deno.ts says:
#   - deno.xz: the deno devDependency's binary (95 MB; xz brings it to ~31 MB, under the 64 MiB a
#     call may carry);
#   - bench-deno/: `npm run build:bench-deno`'s bundle, with package.json and the few npm modules
#     it imports (onnxruntime-web as its WebGPU entry only: these runs load no ONNX model);
#   - debs/: the Vulkan and GL loaders from Debian (the device tool's README recipe);
#   - assets/: the 778 real MiniLM vectors the 1M x 384 set is drawn from (bench/anchors), and what
#     `bench rag` reads (the MiniLM tokenizer, stories260K, Cranfield), from ../shared/assets;
#   - ort-wasm.xz: onnxruntime-web's WebAssembly for its WebGPU entry (rag's test embedder runs on it).
# Then, with the device tool: run `bash scripts/device/run.sh` with carry [".device"]. To check the
# kit here first, on Deno's CPU adapter: `bash scripts/device/run.sh small`.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
kit=.device
rm -rf "$kit"
mkdir -p "$kit/debs" "$kit/assets/sap-fiori-minilm-vectors" "$kit/node_modules"
npm run build:bench-deno -- --logLevel error
cp -r dist/bench-deno "$kit/bench-deno"
echo '{ "type": "module", "private": true }' >"$kit/package.json"
for m in idb @huggingface/tokenizers @orama/stemmers; do
  mkdir -p "$kit/node_modules/$m"
  cp -r "node_modules/$m/." "$kit/node_modules/$m"
done
mkdir -p "$kit/node_modules/onnxruntime-web/dist"
cp node_modules/onnxruntime-web/package.json "$kit/node_modules/onnxruntime-web/"
cp node_modules/onnxruntime-web/dist/ort.webgpu.bundle.min.mjs node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.asyncify.mjs "$kit/node_modules/onnxruntime-web/dist/"
cp ../shared/assets/sap-fiori-minilm-vectors/embeddings.bin "$kit/assets/sap-fiori-minilm-vectors/"
cp -r ../shared/assets/minilm-tokenizer ../shared/assets/lm-stories260K ../shared/assets/cranfield "$kit/assets/"
xz -T0 -6 -c node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.asyncify.wasm >"$kit/ort-wasm.xz"
xz -T0 -6 -c node_modules/deno/deno >"$kit/deno.xz"
lists=$(mktemp -d)
mkdir -p "$lists/partial"
apt=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 "-oDir::State::Lists=$lists")
apt-get "${apt[@]}" update >/dev/null
(cd "$kit/debs" && apt-get "${apt[@]}" download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 2>/dev/null)
rm -rf "$lists"
du -sh "$kit"
