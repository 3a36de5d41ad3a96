// The llama2.c forward pass in WGSL, one entry point per step of it. Every dispatch reads its
// offsets from a 256-byte parameter block (dynamic uniform offset), weights from one storage
// buffer, activations from another and the KV cache from a third, so one bind group serves a
// whole decode step. Sizes are those of small llama2.c checkpoints (a reference generator).
//
// Batched prefill: a batch holds several tokens, one row each, at positions pos, pos + 1, ...; a
// row's activations in S start r * l after row 0's (l: the row stride; row 0 is the decode step's),
// its K/V r * kvDim after row 0's. The kernels below take the row from the z of the dispatch (so
// any of them can serve a batch); the *_rows ones at the end are the batch's rmsnorm, attention and
// matmul. Each element is computed by exactly the same arithmetic as with one row, so a batch
// gives the logits and K/V that feeding its tokens one by one gives.

struct Params {
  a: u32, b: u32, c: u32, d: u32,
  e: u32, f: u32, g: u32, h: u32,
  i: u32, j: u32, k: u32, l: u32,
  m: u32, n: u32, o: u32, q: u32, // m: rows in the batch (the *_rows kernels); n, o, q unused
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> W: array<f32>;
@group(0) @binding(2) var<storage, read_write> S: array<f32>;
@group(0) @binding(3) var<storage, read_write> KV: array<f32>;

const WG: u32 = 64u;
var<workgroup> red: array<f32, WG>;

// S[a + r*l + i] = W[b + t*c + i], i < c, t = S[d + r] (the row's token id, an exact f32)
@compute @workgroup_size(WG)
fn embed(@builtin(global_invocation_id) g: vec3<u32>) {
  if (g.x < p.c) {
    let t = u32(S[p.d + g.z]);
    S[p.a + g.z * p.l + g.x] = W[p.b + t * p.c + g.x];
  }
}

fn reduce_sum(lid: u32, v: f32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (lid < s) { red[lid] = red[lid] + red[lid + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

fn reduce_max(lid: u32, v: f32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (lid < s) { red[lid] = max(red[lid], red[lid + s]); }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

// S[c + j] = W[b + j] * (S[a + j] / rms(S[a .. a + d]))  — one workgroup per row
@compute @workgroup_size(WG)
fn rmsnorm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let a = p.a + wid.z * p.l;
  let c = p.c + wid.z * p.l;
  var ss = 0.0;
  for (var j = lid; j < p.d; j = j + WG) { let v = S[a + j]; ss = ss + v * v; }
  ss = reduce_sum(lid, ss);
  let scale = 1.0 / sqrt(ss / f32(p.d) + 1e-5);
  for (var j = lid; j < p.d; j = j + WG) { S[c + j] = W[p.b + j] * (scale * S[a + j]); }
}

// out[i] = sum_j W[b + i*n + j] * S[a + j], i < rows; into S (f == 0) or KV (f == 1) at c.
// A row's output is l further in S, e (= rows = kvDim) further in KV: the next position's K/V.
@compute @workgroup_size(WG)
fn matmul(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = g.y * nwg.x * WG + g.x;
  if (i >= p.e) { return; }
  let src = p.a + g.z * p.l;
  var acc = 0.0;
  let row = p.b + i * p.d;
  for (var j = 0u; j < p.d; j = j + 1u) { acc = acc + W[row + j] * S[src + j]; }
  if (p.f == 0u) { S[p.c + g.z * p.l + i] = acc; } else { KV[p.c + g.z * p.e + i] = acc; }
}

// RoPE on q (S at a, dim d) and k (KV at b, kvDim e); head size f; the (cos, sin) pairs of this
// position are tabulated in W at c (computed on the host: WGSL's sin/cos are not precise enough),
// f of them per position, so row r's are at c + r*f.
@compute @workgroup_size(WG)
fn rope(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = g.x * 2u;
  if (i >= p.d) { return; }
  let j = (i % p.f) / 2u;
  let tab = p.c + g.z * p.f;
  let fcr = W[tab + 2u * j];
  let fci = W[tab + 2u * j + 1u];
  let qa = p.a + g.z * p.l;
  let q0 = S[qa + i];
  let q1 = S[qa + i + 1u];
  S[qa + i] = q0 * fcr - q1 * fci;
  S[qa + i + 1u] = q0 * fci + q1 * fcr;
  if (i < p.e) {
    let kb = p.b + g.z * p.e;
    let k0 = KV[kb + i];
    let k1 = KV[kb + i + 1u];
    KV[kb + i] = k0 * fcr - k1 * fci;
    KV[kb + i + 1u] = k0 * fci + k1 * fcr;
  }
}

// One workgroup per head h and row r: scores over positions 0..c+r of the key cache (layer at b,
// kvDim e, head size f, kv group g; causal: later rows' K/V, written earlier in the same pass, are
// not read), softmax in S at i + h*j, weighted sum of values (layer at k) into S at h.
@compute @workgroup_size(WG)
fn attention(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wid.x;
  let r = wid.z * p.l;
  let n = p.c + wid.z + 1u;
  let q = p.a + r + h * p.f;
  let kvh = (h / p.g) * p.f;
  let att = p.i + r + h * p.j;
  let scale = 1.0 / sqrt(f32(p.f));
  var m = -3.4e38;
  for (var t = lid; t < n; t = t + WG) {
    var s = 0.0;
    for (var x = 0u; x < p.f; x = x + 1u) { s = s + S[q + x] * KV[p.b + t * p.e + kvh + x]; }
    s = s * scale;
    S[att + t] = s;
    m = max(m, s);
  }
  m = reduce_max(lid, m);
  var sum = 0.0;
  for (var t = lid; t < n; t = t + WG) { let e = exp(S[att + t] - m); S[att + t] = e; sum = sum + e; }
  sum = reduce_sum(lid, sum);
  for (var x = lid; x < p.f; x = x + WG) {
    var acc = 0.0;
    for (var t = 0u; t < n; t = t + 1u) { acc = acc + S[att + t] * KV[p.k + t * p.e + kvh + x]; }
    S[p.h + r + h * p.f + x] = acc / sum;
  }
}

// S[a + i] += S[b + i], i < c
@compute @workgroup_size(WG)
fn residual(@builtin(global_invocation_id) g: vec3<u32>) {
  let r = g.z * p.l;
  if (g.x < p.c) { S[p.a + r + g.x] = S[p.a + r + g.x] + S[p.b + r + g.x]; }
}

// S[a + i] = silu(S[a + i]) * S[b + i], i < c
@compute @workgroup_size(WG)
fn swiglu(@builtin(global_invocation_id) g: vec3<u32>) {
  let r = g.z * p.l;
  if (g.x < p.c) {
    let v = S[p.a + r + g.x];
    S[p.a + r + g.x] = v * (1.0 / (1.0 + exp(-v))) * S[p.b + r + g.x];
  }
}

// ---- Prefill batches of m rows (m > 1). rmsnorm and attention run one row (and head) per
// invocation: without barriers, since SwiftShader runs a workgroup with barriers as one coroutine
// per 4 invocations, which cost more than these kernels' arithmetic. They redo the 64-lane
// reductions above serially in the same order, so they give bitwise the same results.

// The tree of reduce_sum over 64 lane partials.
fn tree_sum(v: ptr<function, array<f32, WG>>) -> f32 {
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    for (var i = 0u; i < s; i = i + 1u) { (*v)[i] = (*v)[i] + (*v)[i + s]; }
  }
  return (*v)[0];
}

// rmsnorm of row x (params as rmsnorm's); lane partial j % 64 gets v*v for j = lane, lane + 64, ...
@compute @workgroup_size(WG)
fn rmsnorm_rows(@builtin(global_invocation_id) g: vec3<u32>) {
  if (g.x >= p.m) { return; }
  let a = p.a + g.x * p.l;
  let c = p.c + g.x * p.l;
  var part: array<f32, WG>;
  for (var j = 0u; j < p.d; j = j + 1u) { let v = S[a + j]; part[j % WG] = part[j % WG] + v * v; }
  let ss = tree_sum(&part);
  let scale = 1.0 / sqrt(ss / f32(p.d) + 1e-5);
  for (var j = 0u; j < p.d; j = j + 1u) { S[c + j] = W[p.b + j] * (scale * S[a + j]); }
}

// attention of head x % d, row x / d (d = nHeads; params as attention's)
@compute @workgroup_size(WG)
fn attention_rows(@builtin(global_invocation_id) g: vec3<u32>) {
  if (g.x >= p.d * p.m) { return; }
  let h = g.x % p.d;
  let r = (g.x / p.d) * p.l;
  let n = p.c + g.x / p.d + 1u;
  let q = p.a + r + h * p.f;
  let kvh = (h / p.g) * p.f;
  let att = p.i + r + h * p.j;
  let scale = 1.0 / sqrt(f32(p.f));
  var m = -3.4e38; // max is exact in any order
  for (var t = 0u; t < n; t = t + 1u) {
    var s = 0.0;
    for (var x = 0u; x < p.f; x = x + 1u) { s = s + S[q + x] * KV[p.b + t * p.e + kvh + x]; }
    s = s * scale;
    S[att + t] = s;
    m = max(m, s);
  }
  var part: array<f32, WG>;
  for (var t = 0u; t < n; t = t + 1u) { let e = exp(S[att + t] - m); S[att + t] = e; part[t % WG] = part[t % WG] + e; }
  let sum = tree_sum(&part);
  for (var x = 0u; x < p.f; x = x + 1u) {
    var acc = 0.0;
    for (var t = 0u; t < n; t = t + 1u) { acc = acc + S[att + t] * KV[p.k + t * p.e + kvh + x]; }
    S[p.h + r + h * p.f + x] = acc / sum;
  }
}

// matmul (params as matmul's) for rows 16z..16z+15 at once, reading each weight once for the 16
// (rows past m-1 read row m-1 and are not written). Per row the same sum in the same order as
// matmul's: vec4 components are independent lanes.
@compute @workgroup_size(WG)
fn matmul_rows(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = g.y * nwg.x * WG + g.x;
  if (i >= p.e) { return; }
  var rows: array<vec4<u32>, 4>;
  var src: array<vec4<u32>, 4>;
  for (var k = 0u; k < 4u; k = k + 1u) {
    rows[k] = vec4<u32>(g.z * 16u + k * 4u) + vec4<u32>(0u, 1u, 2u, 3u);
    src[k] = vec4<u32>(p.a) + min(rows[k], vec4<u32>(p.m - 1u)) * p.l;
  }
  let s0 = src[0]; let s1 = src[1]; let s2 = src[2]; let s3 = src[3];
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  let row = p.b + i * p.d;
  for (var j = 0u; j < p.d; j = j + 1u) {
    let w = W[row + j];
    acc0 = acc0 + w * vec4<f32>(S[s0.x + j], S[s0.y + j], S[s0.z + j], S[s0.w + j]);
    acc1 = acc1 + w * vec4<f32>(S[s1.x + j], S[s1.y + j], S[s1.z + j], S[s1.w + j]);
    acc2 = acc2 + w * vec4<f32>(S[s2.x + j], S[s2.y + j], S[s2.z + j], S[s2.w + j]);
    acc3 = acc3 + w * vec4<f32>(S[s3.x + j], S[s3.y + j], S[s3.z + j], S[s3.w + j]);
  }
  let out = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
  for (var k = 0u; k < 16u; k = k + 1u) {
    let r = rows[k / 4u][k % 4u];
    if (r < p.m) {
      let v = out[k / 4u][k % 4u];
      if (p.f == 0u) { S[p.c + r * p.l + i] = v; } else { KV[p.c + r * p.e + i] = v; }
    }
  }
}

// ---- Scoring (logProbs): for row z, S[c + z] = log softmax(S[a + z*l .. + d])[t], the
// log-probability of token t = S[b + z] (an exact f32) under that row's logits; one workgroup per
// row, max then sum of exp reduced as above.
@compute @workgroup_size(WG)
fn log_prob_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let a = p.a + wid.z * p.l;
  let t = u32(S[p.b + wid.z]);
  var m = -3.4e38;
  for (var j = lid; j < p.d; j = j + WG) { m = max(m, S[a + j]); }
  m = reduce_max(lid, m);
  var s = 0.0;
  for (var j = lid; j < p.d; j = j + WG) { s = s + exp(S[a + j] - m); }
  s = reduce_sum(lid, s);
  if (lid == 0u) { S[p.c + wid.z] = S[a + t] - m - log(s); }
}
