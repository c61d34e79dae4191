// The fused optimizer: ONE launch updates every parameter of a net over the flat parameter, gradient
// and state arenas, with the GAF inside (gc_update_elem in gafmath.cl, which this program is built
// with). Specialised with -D: GC_OPT, GC_GAF, GC_GAF_POS, GC_CLIP (numbers as in gc_update_elem).
//
// Parameters come in segments (one per parameter tensor) with their own weight decay. Segments start
// at multiples of the work-group size, and segmap holds the segment of each work-group's elements
// (gaps between tensors: the extra last segment): one load that is the same for the whole work-group, so compilers
// that vectorise across work-items (PoCL) keep it out of the vector loop; a per-element lookup there
// cost 4x the whole update.
//
// Gradient statistics and the non-finite guard run before the update (optim_stats_partial, then
// optim_stats_final) and leave a small control block on the device:
//   control[0] global sum of squares, [1] global max |g|, [2] 1 if any gradient is NaN or Inf,
//   [3] norm-clipping scale, [4] first segment with a non-finite gradient (-1 if none),
//   [8 + 2s] segment s's sum of squares, [9 + 2s] its max |g|.
// With the guard on, the update reads control[2] and leaves every weight and state untouched when it is set.
#ifndef GC_OPT
#define GC_OPT 1
#endif
#ifndef GC_GAF
#define GC_GAF 0
#endif
#ifndef GC_GAF_POS
#define GC_GAF_POS 0
#endif
#ifndef GC_CLIP
#define GC_CLIP 0
#endif

__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void optim_update(__global float *restrict w, ulong w_off, __global const float *restrict g, ulong g_off,
                  __global float *restrict s1, ulong s1_off, __global float *restrict s2, ulong s2_off,
                  __global const ushort *restrict segmap, uint shift, __global const float *restrict seg_wd,
                  __global const float *restrict control, uint use_control, uint n, float lr,
                  float mu, float b2, float eps, float alpha, float beta, float clip_thr, float step, float bc2s,
                  uint first) {
  const uint i = get_global_id(0); // n is a whole number of work-groups: no bounds check
  // No early returns or conditional loads below: a branch the compiler cannot prove uniform stops PoCL from
  // vectorising the kernel. Gaps between tensors map to an extra segment with weight decay 0 (their
  // zero padding stays zero), and a skipped step writes the old values back.
  const uint seg = segmap[get_group_id(0)];
  const float c2 = control[2], c3 = control[3]; // loaded unconditionally: a conditional load defeats vectorising
  const float ctl_bad = use_control ? c2 : 0.0f;
  const float clip_scale = use_control ? c3 : 1.0f;
  const float w0 = w[w_off + i];
  float wv = w0, m0 = 0.0f, v0 = 0.0f;
  if (GC_OPT >= 1) m0 = s1[s1_off + i];
  if (GC_OPT >= 3) v0 = s2[s2_off + i];
  float m = m0, v = v0;
  gc_update_elem(GC_OPT, GC_GAF, GC_GAF_POS, GC_CLIP, &wv, &m, &v, g[g_off + i], seg_wd[seg], lr, mu, b2, eps, alpha,
                 beta, clip_thr, clip_scale, step, bc2s, (int)first);
  const int skip = ctl_bad != 0.0f; // non-finite gradients somewhere: the step leaves everything as it was
  w[w_off + i] = skip ? w0 : wv;
  if (GC_OPT >= 1) s1[s1_off + i] = skip ? m0 : m;
  if (GC_OPT >= 3) s2[s2_off + i] = skip ? v0 : v;
}

// One work-group per chunk (start, rows, segment) of the gradients: rows*GC_WG elements from start (a
// segment's last chunk is rounded up to whole rows: the padding after a tensor is zero). The chunk's
// sum of squares, max |g| and whether it holds a NaN or Inf (g - g is 0 only for finite g) go to
// part[3 * chunk ...]. Every work-item runs the same number of iterations, so the loop vectorises.
__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void optim_stats_partial(__global const float *restrict g, ulong g_off, __global const uint *restrict chunks,
                         __global float *restrict part) {
  __local float ss[GC_WG];
  __local float mx[GC_WG];
  __local float bad[GC_WG];
  const uint c = get_group_id(0), lid = get_local_id(0);
  const uint start = chunks[3 * c], rows = chunks[3 * c + 1];
  float a = 0.0f, m = 0.0f, nf = 0.0f;
  for (uint r = 0; r < rows; r++) {
    const float v = g[g_off + start + r * GC_WG + lid];
    const int finite = (v - v) == 0.0f;
    nf = finite ? nf : 1.0f;
    const float f = finite ? v : 0.0f;
    a += f * f;
    m = fmax(m, fabs(f));
  }
  ss[lid] = a;
  mx[lid] = m;
  bad[lid] = nf;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (uint s = GC_WG / 2; s > 0; s >>= 1) {
    if (lid < s) {
      ss[lid] += ss[lid + s];
      mx[lid] = fmax(mx[lid], mx[lid + s]);
      bad[lid] = fmax(bad[lid], bad[lid + s]);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (lid == 0) {
    part[3 * c] = ss[0];
    part[3 * c + 1] = mx[0];
    part[3 * c + 2] = bad[0];
  }
}

// Combine the partials, one work-group: work-item l takes segments l, l + GC_WG, ... and adds up that
// segment's chunks in chunk order (the chunk table is in segment order, so a segment's chunks are
// contiguous: its first is found by binary search); then work-item 0 adds the segments in order. The
// sums are those of a serial loop over the chunks, bit for bit. The norm-clipping scale is
// min(1, max_norm / (norm + 1e-6)) as torch.nn.utils.clip_grad_norm_.
__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void optim_stats_final(__global const float *part, __global const uint *chunks, uint nchunks, uint nseg,
                       __global float *control, float max_norm) {
  const uint lid = get_local_id(0);
  for (uint s = lid; s < nseg; s += GC_WG) {
    uint lo = 0, hi = nchunks; // first chunk of segment >= s
    while (lo < hi) {
      const uint mid = (lo + hi) / 2;
      if (chunks[3 * mid + 2] < s) lo = mid + 1; else hi = mid;
    }
    float ss = 0.0f, mx = 0.0f, bad = 0.0f;
    for (uint c = lo; c < nchunks && chunks[3 * c + 2] == s; c++) {
      ss += part[3 * c];
      mx = fmax(mx, part[3 * c + 1]);
      bad = fmax(bad, part[3 * c + 2]);
    }
    control[8 + 2 * s] = ss;
    control[9 + 2 * s] = mx;
    control[8 + 2 * nseg + s] = bad; // scratch after the per-segment pairs
  }
  barrier(CLK_GLOBAL_MEM_FENCE);
  if (lid != 0) return;
  float total = 0.0f, gmax = 0.0f, bad = 0.0f, first_bad = -1.0f;
  for (uint s = 0; s < nseg; s++) {
    total += control[8 + 2 * s];
    gmax = fmax(gmax, control[9 + 2 * s]);
    const float b = control[8 + 2 * nseg + s];
    if (b != 0.0f && bad == 0.0f) first_bad = (float)s;
    bad = fmax(bad, b);
  }
  control[0] = total;
  control[1] = gmax;
  control[2] = bad;
  control[3] = fmin(1.0f, max_norm / (sqrt(total) + 1e-6f));
  control[4] = first_bad;
}

// The GAF math on its own, for the accuracy tests: y[i] = f(x[i]) with f = 1 atan, 2 tanh, 3 log1p.
__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void gafmath_eval(__global const float *x, ulong x_off, __global float *y, ulong y_off, uint n, uint which) {
  const uint i = get_global_id(0);
  if (i >= n) return;
  const float v = x[x_off + i];
  y[y_off + i] = which == 1 ? gc_atanf(v) : which == 2 ? gc_tanhf(v) : gc_log1pf(v);
}
