// IVF scan: one workgroup scores up to SORT_N stored vectors of one probed cluster segment
// against one query and writes its k best (key, id) pairs. Grid: x = tile within the
// segment, y = probe rank within the slice, z = query (offset by queryBase).
// Stored vectors are interleaved in blocks of 32: vec4<u32> unit u of slot s lives at
// ((s / 32) * UNITS + u) * 32 + s % 32, so neighbouring threads read neighbouring words.

override STORAGE: u32 = 0u; // 0 = f32, 1 = f16 (2 per word), 2 = int8 scalar-quantised (4 per word)
override METRIC: u32 = 0u;  // 0 = squared L2, 1 = inner product (cosine runs on normalised data)
override UNITS: u32 = 1u;   // vec4<u32> units per stored vector
const BLOCK: u32 = 32u;

struct Params {
  k: u32,
  queryBase: u32,     // first query of this dispatch (batches beyond 65535 workgroups)
  probeStride: u32,   // probes per query in `probes` (0 = the same list for every query)
  rankBegin: u32,     // first probe rank of this slice
  rankCount: u32,     // probe ranks in this slice
  shard: u32,
  numShards: u32,
  tilesPerSeg: u32,
  queryUnits: u32,    // vec4<f32> per query row
  pad0: u32, pad1: u32, pad2: u32,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> codes: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> slotIds: array<u32>;
@group(0) @binding(3) var<storage, read> segs: array<vec2<u32>>;     // [list * numShards + shard] = (first slot, count)
@group(0) @binding(4) var<storage, read> probes: array<vec2<u32>>;   // (key bits, list id), best first
@group(0) @binding(5) var<storage, read> queries: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> sq: array<vec4<f32>>;       // int8: vmin units then scale units
@group(0) @binding(7) var<storage, read_write> outList: array<vec2<u32>>;

fn acc_metric(acc: f32, q: vec4<f32>, x: vec4<f32>) -> f32 {
  if (METRIC == 0u) { let d = q - x; return acc + dot(d, d); }
  return acc + dot(q, x);
}

fn dequant(code: u32, u: u32) -> vec4<f32> {
  let c = vec4<f32>(vec4<u32>(
    extractBits(code, 0u, 8u), extractBits(code, 8u, 8u), extractBits(code, 16u, 8u), extractBits(code, 24u, 8u)));
  let n = P.queryUnits;
  return sq[u] + c * sq[n + u];
}

fn score(qBase: u32, slot: u32) -> f32 {
  let base = (slot / BLOCK) * UNITS * BLOCK + slot % BLOCK;
  var acc = 0.0;
  for (var u = 0u; u < UNITS; u = u + 1u) {
    let w = codes[base + u * BLOCK];
    if (STORAGE == 0u) {
      acc = acc_metric(acc, queries[qBase + u], bitcast<vec4<f32>>(w));
    } else if (STORAGE == 1u) {
      let q0 = queries[qBase + 2u * u];
      let q1 = queries[qBase + 2u * u + 1u];
      acc = acc_metric(acc, q0, vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y)));
      acc = acc_metric(acc, q1, vec4<f32>(unpack2x16float(w.z), unpack2x16float(w.w)));
    } else {
      let b = 4u * u;
      acc = acc_metric(acc, queries[qBase + b], dequant(w.x, b));
      acc = acc_metric(acc, queries[qBase + b + 1u], dequant(w.y, b + 1u));
      acc = acc_metric(acc, queries[qBase + b + 2u], dequant(w.z, b + 2u));
      acc = acc_metric(acc, queries[qBase + b + 3u], dequant(w.w, b + 3u));
    }
  }
  if (METRIC == 0u) { return acc; }
  return -acc;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let tile = wid.x;
  let rank = wid.y;
  let q = P.queryBase + wid.z;
  let list = probes[q * P.probeStride + P.rankBegin + rank].y;
  let seg = segs[list * P.numShards + P.shard];
  let tileStart = tile * SORT_N;
  if (lid == 0u) {
    wgCount = select(0u, min(SORT_N, seg.y - tileStart), list != NO_ID && seg.y > tileStart);
  }
  let count = workgroupUniformLoad(&wgCount);
  let out = ((wid.z * P.rankCount + rank) * P.numShards + P.shard) * P.tilesPerSeg + tile;
  if (count == 0u) {
    for (var i = lid; i < P.k; i = i + WG) { outList[out * P.k + i] = vec2<u32>(bitcast<u32>(EMPTY_KEY), NO_ID); }
    return;
  }
  let m = max(next_pow2(count), next_pow2(P.k));
  let qBase = q * P.queryUnits;
  for (var i = lid; i < m; i = i + WG) {
    var key = EMPTY_KEY;
    var id = NO_ID;
    if (i < count) {
      let slot = seg.x + tileStart + i;
      key = score(qBase, slot);
      id = slotIds[slot];
    }
    sk[i] = key;
    si[i] = id;
  }
  workgroupBarrier();
  bitonic_sort(lid, m);
  for (var i = lid; i < P.k; i = i + WG) { outList[out * P.k + i] = vec2<u32>(bitcast<u32>(sk[i]), si[i]); }
}
