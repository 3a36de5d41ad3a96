#!/usr/bin/env bash
# The GPU runs issues 19 and 24 wait for, on a machine the device tool lends (built by kit.sh,
# carried as .device), in Deno's WebGPU:
#   adapter  the adapter Deno finds (nothing runs unless it is NVIDIA's, outside `small`);
#   pq       issue 24: the 1M x 384 MiniLM-shaped set (bench/anchors, numpy only), IVF-PQ 4-bit
#            with re-ranking against IVF-Flat f16 at nprobe 8/16/32, the scan's tables in workgroup
#            memory and in storage (bench/search-pq.ts);
#   growth   issue 19: an index grown from 10 to 1M x 384 f16 in the file store (bench/growth.ts);
#   rag      issue 24: `bench rag --regime remote` on a 1M-passage index, f16 then pq, published to
#            bench/deno-host.ts at 20 Mbit/s and 40 ms (TTFT and end to end).
# Steps run in the order given (default: growth pq rag), each under a limit of its own and all
# within WEFT_DEVICE_SECONDS (default 570: one call of the tool, timeout_s 600). All three may not
# fit one call at 1M: `run.sh growth pq`, then `run.sh rag` in a second call if the lease allows. Each writes
# STEP.json (its result) under $OUT; run.log holds every step's progress, so a step cut short
# still says how far it got. `small`: the same steps at 20k / 3k / 4k on whatever adapter there is
# (here: SwiftShader), to check the kit before a lent machine's minutes are spent.
#   device run: bash scripts/device/run.sh [steps]        (carry [".device"], timeout_s 600)
#   here:       bash scripts/device/kit.sh && OUT=/tmp/weft-device bash scripts/device/run.sh small
set -uo pipefail
cd "$(dirname "$0")/../.."
kit=$PWD/.device
out=${OUT:-/tmp/weft-device}
scale=full
[ "${1:-}" = small ] && { scale=small; shift; }
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(growth pq rag)
deadline=$((SECONDS + ${WEFT_DEVICE_SECONDS:-570}))
mkdir -p "$out"
say() { echo "[$(date +%T)] $*" | tee -a "$out/run.log"; }
[ -f "$kit/deno.xz" ] || { say "no $kit/deno.xz: run scripts/device/kit.sh first"; exit 2; }

# The Vulkan loader, where the machine has none (the tool's README recipe; not in `small`, which
# must leave the machine it checks on as it was), and NVIDIA's driver files.
if [ "$scale" != small ] && ! ldconfig -p | grep -q 'libvulkan.so.1'; then
  for f in "$kit"/debs/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
nv=/usr/local/nvidia/share
[ -f $nv/vulkan/icd.d/nvidia_icd.json ] && export VK_DRIVER_FILES=$nv/vulkan/icd.d/nvidia_icd.json
[ -f $nv/glvnd/egl_vendor.d/10_nvidia.json ] && export __EGL_VENDOR_LIBRARY_FILENAMES=$nv/glvnd/egl_vendor.d/10_nvidia.json
# `small` here: SwiftShader's Vulkan beside Chromium (else Deno falls back to OpenGL, llvmpipe).
if [ "$scale" = small ] && [ -f /usr/lib/chromium/vk_swiftshader_icd.json ]; then
  export VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json LD_LIBRARY_PATH=/usr/lib/chromium${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi
deno=/tmp/weft-deno
[ -x $deno ] || { xz -dc "$kit/deno.xz" >$deno.part && chmod +x $deno.part && mv $deno.part $deno; }
wasm=$kit/node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.asyncify.wasm
[ -f "$wasm" ] || xz -dc "$kit/ort-wasm.xz" >"$wasm"
export DENO_NO_UPDATE_CHECK=1 NO_COLOR=1 DENO_DIR=/tmp/weft-deno-dir

cat >/tmp/weft-adapter.js <<'JS'
const a = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
console.log(JSON.stringify(a ? { vendor: a.info.vendor, architecture: a.info.architecture, device: a.info.device, description: a.info.description } : null));
JS
adapter=$(timeout 60 $deno run -A --unstable-webgpu /tmp/weft-adapter.js 2>>"$out/run.log")
say "adapter: $adapter"
command -v nvidia-smi >/dev/null && nvidia-smi -L | tee -a "$out/run.log"
if [ "$scale" != small ] && ! grep -qi nvidia <<<"$adapter"; then
  say "Deno's WebGPU found no NVIDIA adapter; stopping before the runs (see run.log)"
  exit 3
fi

# bench NAME LIMIT_S KIND JSON: one benchmark under its limit (cut to the time left), from the kit.
bench() {
  local name=$1 limit=$2 left=$((deadline - SECONDS - 5))
  shift 2
  [ "$left" -lt "$limit" ] && limit=$left
  if [ "$limit" -lt 10 ]; then
    say "$name: skipped, no time left"
    return
  fi
  say "$name: $* (limit ${limit} s)"
  (cd "$kit" && timeout "$limit" $deno run -A --unstable-webgpu --node-modules-dir=manual bench-deno/weft-bench.js "$@") \
    >"$out/$name.json" 2> >(sed -u "s/^/  [$name] /" >>"$out/run.log")
  say "$name: exit $?"
}

if [ "$scale" = small ]; then n=20000 nlist=128 grow=3000 gdim=16 passages=4000
else n=1000000 nlist=2048 grow=1000000 gdim=384 passages=1000000; fi
for step in "${steps[@]}"; do
  case $step in
    pq)
      data=/tmp/weft-minilm-shaped
      if [ ! -f $data/data.fvecs ]; then
        say "the MiniLM-shaped set: $n x 384"
        python3 bench/anchors/ivfpq_faiss.py --assets "$kit/assets" --out $data --n $n --noise 0.035 --shape covariance --write-only 2>&1 | tee -a "$out/run.log"
      fi
      bench pq 220 search "{\"storage\":\"pq\",\"dataUrl\":\"file://$data/data.fvecs\",\"queriesUrl\":\"file://$data/queries.fvecs\",\"dataName\":\"data.fvecs\",\"queriesName\":\"queries.fvecs\",\"dim\":384,\"nlist\":$nlist,\"nprobe\":[8,16,32],\"rerank\":16,\"queries\":100}"
      ;;
    growth) bench growth 220 growth "{\"n\":$grow,\"dim\":$gdim,\"storage\":\"f16\",\"nprobe\":16,\"queries\":100}" ;;
    rag)
      for storage in f16 pq; do
        bench "rag-$storage" 150 rag "{\"regime\":\"remote\",\"storage\":\"$storage\",\"n\":$passages,\"requests\":8,\"maxTokens\":16,\"part\":\"stream\",\"arrivalMs\":200,\"assets\":\"file://$kit/assets\"}"
      done
      ;;
    *) say "unknown step '$step' (pq, growth, rag)" ;;
  esac
done
say done
