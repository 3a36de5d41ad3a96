// k-means update: one workgroup per centroid sums the members of one chunk of points
// (listed by a counting sort of the labels) dimension by dimension, in a fixed order, and adds
// that to the running sums, so training is deterministic. The host divides by the counts.

override WG: u32 = 64u;

struct Params { dimPad: u32, nlist: u32, first: u32, pad0: u32 }

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> points: array<f32>;     // this chunk, dimPad per row
@group(0) @binding(2) var<storage, read> members: array<u32>;    // chunk-local rows grouped by centroid
@group(0) @binding(3) var<storage, read> offsets: array<u32>;    // nlist + 1 prefix sums into members
@group(0) @binding(4) var<storage, read_write> sums: array<f32>; // nlist x dimPad

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let c = wid.y * nwg.x + wid.x;
  if (c >= P.nlist) { return; }
  let begin = offsets[c];
  let end = offsets[c + 1u];
  for (var d = lid; d < P.dimPad; d = d + WG) {
    var sum = 0.0;
    for (var j = begin; j < end; j = j + 1u) { sum = sum + points[members[j] * P.dimPad + d]; }
    let idx = c * P.dimPad + d;
    if (P.first == 1u) { sums[idx] = sum; } else { sums[idx] = sums[idx] + sum; }
  }
}
