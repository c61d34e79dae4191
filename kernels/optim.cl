// The fused optimizer: ONE launch updates every parameter of a net over the flat parameter, gradient
// and state arenas, with the GAF inside (gc_update_elem in gafmath.cl, which this program is built
// with). Specialised with -D: GC_OPT, GC_GAF, GC_GAF_POS, GC_CLIP (numbers as in gc_update_elem).
//
// Parameters come in segments (one per parameter tensor) with their own weight decay. segmap holds a
// segment index per block of 2^shift elements (0xffff: a gap between tensors), so the kernel finds its
// settings with one small load and no search.
//
// Gradient statistics and the non-finite guard run before the update (optim_stats_partial, then
// optim_stats_final) and leave a small control block on the device:
//   control[0] global sum of squares, [1] global max |g|, [2] 1 if any gradient is NaN or Inf,
//   [3] norm-clipping scale, [4] first segment with a non-finite gradient (-1 if none),
//   [8 + 2s] segment s's sum of squares, [9 + 2s] its max |g|.
// With the guard on, the update reads control[2] and leaves every weight untouched when it is set.
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
void optim_update(__global float *w, ulong w_off, __global const float *g, ulong g_off, __global float *s1,
                  ulong s1_off, __global float *s2, ulong s2_off, __global const ushort *segmap, uint shift,
                  __global const float *seg_wd, __global const float *control, uint use_control, uint n, float lr,
                  float mu, float b2, float eps, float alpha, float beta, float clip_thr, float step, float bc2s,
                  uint first) {
  const uint i = get_global_id(0);
  if (i >= n) return;
  const uint seg = segmap[i >> shift];
  if (seg == 0xffffu) return;
  float clip_scale = 1.0f;
  if (use_control) {
    if (control[2] != 0.0f) return; // non-finite gradients somewhere: skip the whole step
    clip_scale = control[3];
  }
  float wv = w[w_off + i], m = 0.0f, v = 0.0f;
  if (GC_OPT >= 1) m = s1[s1_off + i];
  if (GC_OPT >= 3) v = s2[s2_off + i];
  gc_update_elem(GC_OPT, GC_GAF, GC_GAF_POS, GC_CLIP, &wv, &m, &v, g[g_off + i], seg_wd[seg], lr, mu, b2, eps, alpha,
                 beta, clip_thr, clip_scale, step, bc2s, (int)first);
  w[w_off + i] = wv;
  if (GC_OPT >= 1) s1[s1_off + i] = m;
  if (GC_OPT >= 3) s2[s2_off + i] = v;
}

// One work-group per chunk (start, count, segment) of the gradients: the chunk's sum of squares, max |g|
// and whether it holds a NaN or Inf (g - g is 0 only for finite g), as part[3 * chunk ...].
__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void optim_stats_partial(__global const float *g, ulong g_off, __global const uint *chunks,
                         __global float *part) {
  __local float ss[GC_WG];
  __local float mx[GC_WG];
  __local float bad[GC_WG];
  const uint c = get_group_id(0), lid = get_local_id(0);
  const uint start = chunks[3 * c], count = chunks[3 * c + 1];
  float a = 0.0f, m = 0.0f, nf = 0.0f;
  for (uint k = lid; k < count; k += GC_WG) {
    const float v = g[g_off + start + k];
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

// Combine the partials in chunk order (one work-item: a few thousand values), per segment and in total;
// the norm-clipping scale min(1, max_norm / (norm + 1e-6)) as torch.nn.utils.clip_grad_norm_.
__kernel void optim_stats_final(__global const float *part, __global const uint *chunks, uint nchunks, uint nseg,
                                __global float *control, float max_norm) {
  if (get_global_id(0) != 0) return;
  for (uint s = 0; s < nseg; s++) {
    control[8 + 2 * s] = 0.0f;
    control[9 + 2 * s] = 0.0f;
  }
  float bad = 0.0f, first_bad = -1.0f;
  for (uint c = 0; c < nchunks; c++) {
    const uint s = chunks[3 * c + 2];
    control[8 + 2 * s] += part[3 * c];
    control[9 + 2 * s] = fmax(control[9 + 2 * s], part[3 * c + 1]);
    if (part[3 * c + 2] != 0.0f && bad == 0.0f) first_bad = (float)s;
    bad = fmax(bad, part[3 * c + 2]);
  }
  float total = 0.0f, gmax = 0.0f;
  for (uint s = 0; s < nseg; s++) {
    total += control[8 + 2 * s];
    gmax = fmax(gmax, control[9 + 2 * s]);
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
