// k-means assignment (also used to route added vectors to their IVF list): one thread per
// point finds its nearest centroid. Centroids are staged through workgroup memory in tiles
// of TILE_C so each is read from global memory once per workgroup. Ties go to the lower index.

override WG: u32 = 64u;
override METRIC: u32 = 0u;   // 0 = squared L2 (nearest), 1 = inner product (largest)
override DIM4: u32 = 1u;     // vec4<f32> per row
override TILE_C: u32 = 16u;  // centroids per workgroup-memory tile

struct Params { n: u32, nlist: u32, pad0: u32, pad1: u32 }

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> points: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> centroids: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> labels: array<u32>;

var<workgroup> tileC: array<vec4<f32>, TILE_C * DIM4>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let p = (wid.y * nwg.x + wid.x) * WG + lid;
  let live = p < P.n;
  let pBase = min(p, P.n - 1u) * DIM4;
  var best = 0u;
  var bestKey = 0.0;
  for (var c0 = 0u; c0 < P.nlist; c0 = c0 + TILE_C) {
    let tc = min(TILE_C, P.nlist - c0);
    workgroupBarrier();
    for (var i = lid; i < tc * DIM4; i = i + WG) { tileC[i] = centroids[c0 * DIM4 + i]; }
    workgroupBarrier();
    for (var c = 0u; c < tc; c = c + 1u) {
      var acc = 0.0;
      for (var u = 0u; u < DIM4; u = u + 1u) {
        let x = points[pBase + u];
        let y = tileC[c * DIM4 + u];
        if (METRIC == 0u) { let d = x - y; acc = acc + dot(d, d); } else { acc = acc + dot(x, y); }
      }
      let key = select(-acc, acc, METRIC == 0u);
      if ((c0 == 0u && c == 0u) || key < bestKey) { bestKey = key; best = c0 + c; }
    }
  }
  if (live) { labels[p] = best; }
}
