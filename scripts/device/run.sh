#!/usr/bin/env bash
# The GPU runs issues 19 and 24 wait for, on a machine the device tool lends (built by kit.sh,
# carried as .device). One call, within the tool's 10 minutes a command:
#   1. the adapter Deno's WebGPU finds (stops here unless it is a real GPU, outside `small`);
#   2. issue 24: the 1M x 384 MiniLM-shaped set (bench/anchors, numpy only), IVF-PQ 4-bit with
#      re-ranking against IVF-Flat f16 at nprobe 8/16/32, the scan's tables in workgroup memory and
#      in storage (bench/search-pq.ts);
#   3. issue 19: an index grown from 10 to 1M x 384 f16 in the file store (bench/growth.ts).
# Each step has a time limit of its own and writes NAME.json (the result) and NAME.log (its progress)
# under $OUT, so a step cut short still leaves what it did. `small`: the same steps at 20k / 3k on
# whatever adapter there is (a check of the kit before a lent machine's minutes are spent).
#   device run: bash scripts/device/run.sh            (carry [".device"], timeout_s 600)
#   here:       bash scripts/device/kit.sh && OUT=/tmp/weft-device bash scripts/device/run.sh small
set -uo pipefail
cd "$(dirname "$0")/../.."
kit=$PWD/.device
out=${OUT:-/tmp/weft-device}
scale=${1:-full}
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
deno=/tmp/weft-deno
[ -x $deno ] || { xz -dc "$kit/deno.xz" >$deno.part && chmod +x $deno.part && mv $deno.part $deno; }
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

# bench NAME LIMIT_S KIND JSON: one benchmark under its time limit, from the kit (its node_modules).
bench() {
  local name=$1 limit=$2
  shift 2
  say "$name: $* (limit ${limit} s)"
  (cd "$kit" && timeout "$limit" $deno run -A --unstable-webgpu --node-modules-dir=manual bench-deno/weft-bench.js "$@") \
    >"$out/$name.json" 2>"$out/$name.log"
  say "$name: exit $? ($(tail -c 300 "$out/$name.log" | tail -1))"
}

if [ "$scale" = small ]; then n=20000 nlist=128 grow=3000 gdim=16 pqlimit=300 growlimit=300
else n=1000000 nlist=2048 grow=1000000 gdim=384 pqlimit=240 growlimit=240; fi
data=/tmp/weft-minilm-shaped
say "the MiniLM-shaped set: $n x 384"
python3 bench/anchors/ivfpq_faiss.py --assets "$kit/assets" --out $data --n $n --noise 0.035 --shape covariance --write-only \
  2>&1 | tee -a "$out/run.log"
bench pq $pqlimit search "{\"storage\":\"pq\",\"dataUrl\":\"file://$data/data.fvecs\",\"queriesUrl\":\"file://$data/queries.fvecs\",\"dataName\":\"data.fvecs\",\"queriesName\":\"queries.fvecs\",\"dim\":384,\"nlist\":$nlist,\"nprobe\":[8,16,32],\"rerank\":16,\"queries\":100}"
bench growth $growlimit growth "{\"n\":$grow,\"dim\":$gdim,\"storage\":\"f16\",\"nprobe\":16,\"queries\":100}"
say done
