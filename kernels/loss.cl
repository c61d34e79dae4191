// Softmax cross-entropy over K classes, one work-item per sample.
// logits (N, K) row-major; labels as exact floats. For each sample: stats[3n] = -log softmax(label),
// stats[3n+1] = 1 if the label ranks first (top-1), stats[3n+2] = 1 if it ranks in the first five;
// dlogits = scale * (softmax - onehot), with scale = 1/valid for the mean over the batch's first `valid`
// samples (the rest are padding: zero statistics and gradients).
// A label outside [0, K) gives NaN statistics, which the host reports.
#pragma OPENCL FP_CONTRACT OFF

#ifndef GC_WG
#define GC_WG 64
#endif

__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void softmax_xent(__global const float *z, ulong z_off, __global const float *labels, ulong l_off,
                  __global float *dz, ulong dz_off, __global float *stats, ulong s_off, uint N, uint K, float scale,
                  uint want_grad, uint valid) {
  const uint n = get_global_id(0);
  if (n >= N) return;
  if (n >= valid) { // padding of a last partial batch: no loss, no gradient
    stats[s_off + 3 * n] = 0.0f;
    stats[s_off + 3 * n + 1] = 0.0f;
    stats[s_off + 3 * n + 2] = 0.0f;
    if (want_grad)
      for (uint k = 0; k < K; k++) dz[dz_off + (ulong)n * K + k] = 0.0f;
    return;
  }
  const ulong row = z_off + (ulong)n * K;
  const float lf = labels[l_off + n];
  const int label = (int)lf;
  if (!(lf >= 0.0f) || label >= (int)K || (float)label != lf) {
    stats[s_off + 3 * n] = NAN;
    stats[s_off + 3 * n + 1] = NAN;
    stats[s_off + 3 * n + 2] = NAN;
    return;
  }
  float m = z[row];
  for (uint k = 1; k < K; k++) m = fmax(m, z[row + k]);
  float s = 0.0f;
  for (uint k = 0; k < K; k++) s += exp(z[row + k] - m);
  const float zl = z[row + label];
  // rank of the label: classes scoring higher, and equal-scoring classes with a lower index; a NaN score
  // (the label's or another's) counts as ranking above the label, so a diverged net scores no hits
  uint rank = 0;
  for (uint k = 0; k < K; k++) {
    const float v = z[row + k];
    rank += (v > zl || (v == zl && (int)k < label) || isnan(v) || isnan(zl)) ? 1 : 0;
  }
  if (isnan(zl)) rank = K + 5; // the label's own score is NaN: no hit even among fewer than 5 classes
  stats[s_off + 3 * n] = -(zl - m - log(s));
  stats[s_off + 3 * n + 1] = rank < 1 ? 1.0f : 0.0f;
  stats[s_off + 3 * n + 2] = rank < 5 ? 1.0f : 0.0f;
  if (want_grad) {
    const ulong drow = dz_off + (ulong)n * K;
    for (uint k = 0; k < K; k++) {
      const float p = exp(z[row + k] - m) / s;
      dz[drow + k] = scale * (p - ((int)k == label ? 1.0f : 0.0f));
    }
  }
}
