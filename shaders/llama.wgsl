// The llama2.c forward pass in WGSL, one entry point per step of it. Every dispatch reads its
// offsets from a 256-byte parameter block (dynamic uniform offset), weights from one storage
// buffer, activations from another and the KV cache from a third, so one bind group serves a
// whole decode step. Sizes are those of small llama2.c checkpoints (a reference generator).

struct Params {
  a: u32, b: u32, c: u32, d: u32,
  e: u32, f: u32, g: u32, h: u32,
  i: u32, j: u32, k: u32, l: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> W: array<f32>;
@group(0) @binding(2) var<storage, read_write> S: array<f32>;
@group(0) @binding(3) var<storage, read_write> KV: array<f32>;

const WG: u32 = 64u;
var<workgroup> red: array<f32, WG>;

// S[a + i] = W[b + i], i < c  (token embedding row)
@compute @workgroup_size(WG)
fn embed(@builtin(global_invocation_id) g: vec3<u32>) {
  if (g.x < p.c) { S[p.a + g.x] = W[p.b + g.x]; }
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

// S[c + j] = W[b + j] * (S[a + j] / rms(S[a .. a + d]))  — one workgroup
@compute @workgroup_size(WG)
fn rmsnorm(@builtin(local_invocation_index) lid: u32) {
  var ss = 0.0;
  for (var j = lid; j < p.d; j = j + WG) { let v = S[p.a + j]; ss = ss + v * v; }
  ss = reduce_sum(lid, ss);
  let scale = 1.0 / sqrt(ss / f32(p.d) + 1e-5);
  for (var j = lid; j < p.d; j = j + WG) { S[p.c + j] = W[p.b + j] * (scale * S[p.a + j]); }
}

// out[i] = sum_j W[b + i*n + j] * S[a + j], i < rows; into S (f == 0) or KV (f == 1) at c
@compute @workgroup_size(WG)
fn matmul(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = g.y * nwg.x * WG + g.x;
  if (i >= p.e) { return; }
  var acc = 0.0;
  let row = p.b + i * p.d;
  for (var j = 0u; j < p.d; j = j + 1u) { acc = acc + W[row + j] * S[p.a + j]; }
  if (p.f == 0u) { S[p.c + i] = acc; } else { KV[p.c + i] = acc; }
}

// RoPE on q (S at a, dim d) and k (KV at b, kvDim e); head size f; the (cos, sin) pairs of this
// position are tabulated in W at c (computed on the host: WGSL's sin/cos are not precise enough).
@compute @workgroup_size(WG)
fn rope(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = g.x * 2u;
  if (i >= p.d) { return; }
  let j = (i % p.f) / 2u;
  let fcr = W[p.c + 2u * j];
  let fci = W[p.c + 2u * j + 1u];
  let q0 = S[p.a + i];
  let q1 = S[p.a + i + 1u];
  S[p.a + i] = q0 * fcr - q1 * fci;
  S[p.a + i + 1u] = q0 * fci + q1 * fcr;
  if (i < p.e) {
    let k0 = KV[p.b + i];
    let k1 = KV[p.b + i + 1u];
    KV[p.b + i] = k0 * fcr - k1 * fci;
    KV[p.b + i + 1u] = k0 * fci + k1 * fcr;
  }
}

// One workgroup per head h: scores over positions 0..c of the key cache (layer at b, kvDim e,
// head size f, kv group g), softmax in S at i + h*j, weighted sum of values (layer at k) into S at h.
@compute @workgroup_size(WG)
fn attention(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wid.x;
  let n = p.c + 1u;
  let q = p.a + h * p.f;
  let kvh = (h / p.g) * p.f;
  let att = p.i + h * p.j;
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
    S[p.h + h * p.f + x] = acc / sum;
  }
}

// S[a + i] += S[b + i], i < c
@compute @workgroup_size(WG)
fn residual(@builtin(global_invocation_id) g: vec3<u32>) {
  if (g.x < p.c) { S[p.a + g.x] = S[p.a + g.x] + S[p.b + g.x]; }
}

// S[a + i] = silu(S[a + i]) * S[b + i], i < c
@compute @workgroup_size(WG)
fn swiglu(@builtin(global_invocation_id) g: vec3<u32>) {
  if (g.x < p.c) {
    let v = S[p.a + g.x];
    S[p.a + g.x] = v * (1.0 / (1.0 + exp(-v))) * S[p.b + g.x];
  }
}
