// Shared by every top-k kernel (prepended to scan.wgsl and merge.wgsl): a workgroup-memory
// candidate list and a bitonic sort on (key, id). Keys are "smaller is better"; ties break on
// the id, so any grouping of the same candidates yields the same top-k (sliced == one-shot).

override WG: u32 = 256u;      // threads per workgroup
override SORT_N: u32 = 1024u; // candidates held per workgroup (power of two)

const NO_ID: u32 = 0xffffffffu;
// Empty slots sort last. (An infinite literal is not allowed in WGSL constant expressions.)
const EMPTY_KEY: f32 = 0x1.fffffep+127f;

var<workgroup> sk: array<f32, SORT_N>;
var<workgroup> si: array<u32, SORT_N>;
var<workgroup> wgCount: u32;

fn before(ka: f32, ia: u32, kb: f32, ib: u32) -> bool {
  return ka < kb || (ka == kb && ia < ib);
}

// Sorts sk/si[0, m) ascending. m is a power of two and workgroup-uniform.
fn bitonic_sort(lid: u32, m: u32) {
  for (var size = 2u; size <= m; size = size << 1u) {
    for (var stride = size >> 1u; stride > 0u; stride = stride >> 1u) {
      for (var t = lid; t < (m >> 1u); t = t + WG) {
        let i = (t / stride) * 2u * stride + (t % stride);
        let j = i + stride;
        let ki = sk[i]; let kj = sk[j]; let ii = si[i]; let ij = si[j];
        let swap = select(before(ki, ii, kj, ij), before(kj, ij, ki, ii), (i & size) == 0u);
        if (swap) { sk[i] = kj; sk[j] = ki; si[i] = ij; si[j] = ii; }
      }
      workgroupBarrier();
    }
  }
}

fn next_pow2(x: u32) -> u32 {
  if (x <= 1u) { return 1u; }
  return 1u << (32u - countLeadingZeros(x - 1u));
}
