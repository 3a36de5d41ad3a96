// IVF scan: one workgroup scores up to `tileSize` stored vectors of one probed list segment
// against one query and writes its k best (key, id) pairs. Grid: x = tile within the segment,
// y = probe rank within the slice, z = query.
//
// Selection is a threshold filter in workgroup memory: slots [0, k) hold the best k so far
// (sorted), and each chunk of WG vectors appends only the candidates that beat the current
// k-th best to the slots after them. When the next chunk might not fit, the slots are sorted
// (bitonic) and the threshold tightens, so after the first few chunks almost nothing is
// appended and the kernel streams vectors with two barriers per chunk.
//
// Stored vectors are interleaved in blocks of 32: vec4<u32> unit u of slot s lives at
// ((s / 32) * UNITS + u) * 32 + s % 32, so neighbouring threads read neighbouring words.
//
// PQ (STORAGE = 3, src/ivf/pq.ts): a vector is word 0, its term (f32 bits), then its PQ_M codes
// packed from the low bits up; the `sq` binding holds each query's table (PQ_M x 2^PQ_BITS
// floats), and the key adds the coarse distance the probe carries (its key): l2 coarse + term -
// 2 * sum, ip coarse - sum (the coarse key of ip is -<q, c>). With PQ_LUT = 1 (4-bit codes whose
// table fits beside the candidates, scan.ts's pqTableFloats) the workgroup first copies its
// query's table (PQ_M x 16 floats) into workgroup memory, and every lookup reads it there:
// FAISS's fast-scan keeps its tables in registers or shared memory for the same reason, the
// lookups are random reads of a small table that every thread of the workgroup shares. The sums,
// in the same order, are bit for bit the same as with the table in storage.
//
// A filtered scan (FILTERED = 1) keeps only the vectors whose id is set in `allow`, a bitmap of
// one bit per vector id (ids past its end are not allowed); the others are neither scored nor
// read. An unfiltered scan (FILTERED = 0) compiles the test away: it binds a dummy there.

override STORAGE: u32 = 0u; // 0 = f32, 1 = f16 (2 per word), 2 = int8 scalar-quantised (4 per word), 3 = PQ
override PQ_M: u32 = 1u;    // PQ: sub-quantisers (codes per vector)
override PQ_BITS: u32 = 8u; // PQ: bits per code (8: 4 codes per word, 4: 8 per word)
override METRIC: u32 = 0u;  // 0 = squared L2, 1 = inner product (cosine runs on normalised data)
override UNITS: u32 = 1u;   // vec4<u32> units per stored vector
override FILTERED: u32 = 0u; // 1: only ids set in `allow` are candidates
override PQ_LUT: u32 = 0u;  // PQ: 1 = lookups read the query's table from workgroup memory (`lut`)
override LUT_N: u32 = 1u;   // PQ_LUT: the table's floats (PQ_M << PQ_BITS)
const BLOCK: u32 = 32u;

struct Params {
  k: u32,
  queryBase: u32,     // unused (0): queries beyond one dispatch go to separate sessions
  probeStride: u32,   // probes per query in `probes` (0 = the same list for every query)
  rankBegin: u32,     // first probe rank of this slice
  rankCount: u32,     // probe ranks in this slice
  shard: u32,
  numShards: u32,
  tilesPerSeg: u32,
  queryUnits: u32,    // vec4<f32> per query row
  tileSize: u32,      // vectors per workgroup (a multiple of WG)
  segStride: u32,     // entries per list in `segs` (shards planned; numShards of them exist so far)
  pad1: u32,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> codes: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> slotIds: array<u32>;
@group(0) @binding(3) var<storage, read> segs: array<vec2<u32>>;     // [list * segStride + shard] = (first slot, count)
@group(0) @binding(4) var<storage, read> probes: array<vec2<u32>>;   // (key bits, list id), best first
@group(0) @binding(5) var<storage, read> queries: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> sq: array<vec4<f32>>;       // int8: vmin units then scale units
@group(0) @binding(7) var<storage, read_write> outList: array<vec2<u32>>;
@group(0) @binding(8) var<storage, read> allow: array<u32>;         // FILTERED: bit (id % 32) of word id / 32

var<workgroup> candCount: atomic<u32>;
var<workgroup> thrKey: f32;
var<workgroup> thrId: u32;
var<workgroup> lut: array<f32, LUT_N>;

fn allowed(id: u32) -> bool {
  let w = id >> 5u;
  return w < arrayLength(&allow) && (allow[w] & (1u << (id & 31u))) != 0u;
}

fn acc_metric(acc: f32, q: vec4<f32>, x: vec4<f32>) -> f32 {
  if (METRIC == 0u) { let d = q - x; return acc + dot(d, d); }
  return acc + dot(q, x);
}

fn dequant(code: u32, u: u32) -> vec4<f32> {
  let c = vec4<f32>(vec4<u32>(
    extractBits(code, 0u, 8u), extractBits(code, 8u, 8u), extractBits(code, 16u, 8u), extractBits(code, 24u, 8u)));
  return sq[u] + c * sq[P.queryUnits + u];
}

fn table(i: u32) -> f32 {
  return sq[i >> 2u][i & 3u];
}

// Entry i of query q's table (its first entry at tBase): in workgroup memory with PQ_LUT.
fn lookup(tBase: u32, i: u32) -> f32 {
  if (PQ_LUT == 1u) { return lut[i]; }
  return table(tBase + i);
}

// The PQ key of the vector in `slot` for query q (its table at tBase), `coarse` the probe's key.
fn pq_score(q: u32, slot: u32, coarse: f32) -> f32 {
  let base = (slot / BLOCK) * UNITS * BLOCK + slot % BLOCK;
  let ksub = 1u << PQ_BITS;
  let perWord = 32u / PQ_BITS;
  let tBase = q * PQ_M * ksub;
  var term = 0.0;
  var sum = 0.0;
  for (var u = 0u; u < UNITS; u = u + 1u) {
    let w = codes[base + u * BLOCK];
    for (var c = 0u; c < 4u; c = c + 1u) {
      let wi = u * 4u + c;
      if (wi == 0u) { term = bitcast<f32>(w[c]); continue; }
      let first = (wi - 1u) * perWord;
      for (var t = 0u; t < perWord; t = t + 1u) {
        let j = first + t;
        if (j < PQ_M) { sum = sum + lookup(tBase, j * ksub + extractBits(w[c], t * PQ_BITS, PQ_BITS)); }
      }
    }
  }
  if (METRIC == 0u) { return coarse + term - 2.0 * sum; }
  return coarse - sum;
}

fn score(qBase: u32, slot: u32) -> f32 {
  let base = (slot / BLOCK) * UNITS * BLOCK + slot % BLOCK;
  var acc = 0.0;
  for (var u = 0u; u < UNITS; u = u + 1u) {
    let w = codes[base + u * BLOCK];
    if (STORAGE == 0u) {
      acc = acc_metric(acc, queries[qBase + u], bitcast<vec4<f32>>(w));
    } else if (STORAGE == 1u) {
      acc = acc_metric(acc, queries[qBase + 2u * u], vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y)));
      acc = acc_metric(acc, queries[qBase + 2u * u + 1u], vec4<f32>(unpack2x16float(w.z), unpack2x16float(w.w)));
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

// Sorts the best-so-far and the n appended candidates together; the first k are the new best.
fn flush(lid: u32, k: u32, n: u32) {
  let m = next_pow2(k + n);
  for (var i = k + n + lid; i < m; i = i + WG) { sk[i] = EMPTY_KEY; si[i] = NO_ID; }
  workgroupBarrier();
  bitonic_sort(lid, m);
  if (lid == 0u) {
    atomicStore(&candCount, 0u);
    thrKey = sk[k - 1u];
    thrId = si[k - 1u];
  }
  workgroupBarrier();
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let tile = wid.x;
  let rank = wid.y;
  let q = wid.z;
  let k = P.k;
  let probe = probes[q * P.probeStride + P.rankBegin + rank];
  let list = probe.y;
  let coarse = bitcast<f32>(probe.x);
  let seg = segs[list * P.segStride + P.shard];
  let tileStart = tile * P.tileSize;
  if (lid == 0u) {
    wgCount = select(0u, min(P.tileSize, seg.y - tileStart), list != NO_ID && seg.y > tileStart);
  }
  let count = workgroupUniformLoad(&wgCount);
  let out = ((q * P.rankCount + rank) * P.numShards + P.shard) * P.tilesPerSeg + tile;
  if (count == 0u) {
    for (var i = lid; i < k; i = i + WG) { outList[out * k + i] = vec2<u32>(bitcast<u32>(EMPTY_KEY), NO_ID); }
    return;
  }
  for (var i = lid; i < k; i = i + WG) { sk[i] = EMPTY_KEY; si[i] = NO_ID; }
  if (STORAGE == 3u && PQ_LUT == 1u) {
    let tBase = q * LUT_N;
    for (var i = lid; i < LUT_N; i = i + WG) { lut[i] = table(tBase + i); }
  }
  if (lid == 0u) {
    atomicStore(&candCount, 0u);
    thrKey = EMPTY_KEY;
    thrId = NO_ID;
  }
  workgroupBarrier();
  let qBase = q * P.queryUnits;
  let room = SORT_N - k;
  for (var chunk = 0u; chunk < count; chunk = chunk + WG) {
    let i = chunk + lid;
    if (i < count) {
      let slot = seg.x + tileStart + i;
      let id = slotIds[slot];
      // A deleted vector keeps its slot with id NO_ID (a tombstone) until the list is compacted.
      var key = EMPTY_KEY;
      var keep = id != NO_ID;
      if (FILTERED == 0u) {
        if (STORAGE == 3u) { key = select(EMPTY_KEY, pq_score(q, slot, coarse), keep); }
        else { key = select(EMPTY_KEY, score(qBase, slot), keep); }
      } else {
        keep = keep && allowed(id);
        if (keep) {
          if (STORAGE == 3u) { key = pq_score(q, slot, coarse); } else { key = score(qBase, slot); }
        }
      }
      if (keep && before(key, id, thrKey, thrId)) {
        let at = atomicAdd(&candCount, 1u);
        sk[k + at] = key;
        si[k + at] = id;
      }
    }
    workgroupBarrier();
    if (lid == 0u) { wgCount = atomicLoad(&candCount); }
    let n = workgroupUniformLoad(&wgCount);
    if (n > 0u && (n + WG > room || chunk + WG >= count)) { flush(lid, k, n); }
  }
  for (var i = lid; i < k; i = i + WG) { outList[out * k + i] = vec2<u32>(bitcast<u32>(sk[i]), si[i]); }
}
