// Merge pass: each workgroup takes `group` consecutive sorted lists of k candidates of one
// query (optionally preceded by that query's carried top-k from earlier slices) and writes
// their k best. Repeated passes reduce a query's lists to one. Grid: x = group, y = query.

struct Params {
  k: u32,
  lists: u32,       // input lists per query, not counting the carry
  group: u32,       // lists merged per workgroup (carry included)
  hasCarry: u32,
  groups: u32,      // output lists per query
  pad2: u32,
  pad0: u32, pad1: u32,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> inList: array<vec2<u32>>;
@group(0) @binding(2) var<storage, read> carry: array<vec2<u32>>;
@group(0) @binding(3) var<storage, read_write> outList: array<vec2<u32>>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let g = wid.x;
  let q = wid.y;
  let total = P.lists + P.hasCarry;
  let first = g * P.group;
  let n = min(P.group, total - first) * P.k;
  let m = next_pow2(n);
  for (var i = lid; i < m; i = i + WG) {
    var c = vec2<u32>(bitcast<u32>(EMPTY_KEY), NO_ID);
    if (i < n) {
      let j = first + i / P.k;
      let r = i % P.k;
      if (P.hasCarry == 1u && j == 0u) {
        c = carry[q * P.k + r];
      } else {
        c = inList[(q * P.lists + j - P.hasCarry) * P.k + r];
      }
    }
    sk[i] = bitcast<f32>(c.x);
    si[i] = c.y;
  }
  workgroupBarrier();
  bitonic_sort(lid, m);
  for (var i = lid; i < P.k; i = i + WG) {
    outList[(q * P.groups + g) * P.k + i] = vec2<u32>(bitcast<u32>(sk[i]), si[i]);
  }
}
