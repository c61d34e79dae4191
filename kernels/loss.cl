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

// ---- SSD's multibox loss (host/loss.c: gc_mbox_*) ----
// The net's output per image n (rows of `stride` floats from `off`): P x 4 location values, then P x C
// confidences. One work-item per prior.

// logsumexp of a prior's confidences
static float mbox_lse(__global const float *z, uint C) {
  float m = z[0];
  for (uint c = 1; c < C; c++) m = fmax(m, z[c]);
  float s = 0.0f;
  for (uint c = 0; c < C; c++) s += exp(z[c] - m);
  return m + log(s);
}

// the mining loss: logsumexp - background score for negatives (conf_t == 0), 0 for positives
__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void mbox_mine(__global const float *out, ulong off, ulong stride, __global const float *conf_t, ulong t_off,
               __global float *mine, ulong m_off, uint N, uint P, uint C) {
  const uint q = get_global_id(0);
  if (q >= N * P) return;
  const uint n = q / P, p = q % P;
  __global const float *z = out + off + (ulong)n * stride + (ulong)P * 4 + (ulong)p * C;
  mine[m_off + q] = conf_t[t_off + q] > 0.0f ? 0.0f : mbox_lse(z, C) - z[0];
}

// per prior: smooth L1 of a positive's location (sel > 0) and the cross-entropy of a selected prior
// (sel >= 0: its class; -1: not selected), into per[2q], per[2q + 1]; with grad, their gradients (times
// inv = 1 / positives) into dout (every value written)
__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void mbox_loss(__global const float *out, ulong off, ulong stride, __global const float *sel, ulong s_off,
               __global const float *loc_t, ulong lt_off, __global float *dout, ulong d_off, __global float *per,
               ulong per_off, uint N, uint P, uint C, float inv, uint want_grad) {
  const uint q = get_global_id(0);
  if (q >= N * P) return;
  const uint n = q / P, p = q % P;
  const ulong lo = (ulong)n * stride + (ulong)p * 4, co = (ulong)n * stride + (ulong)P * 4 + (ulong)p * C;
  const float s = sel[s_off + q];
  float ll = 0.0f;
  for (uint k = 0; k < 4; k++) {
    float g = 0.0f;
    if (s > 0.0f) {
      const float d = out[off + lo + k] - loc_t[lt_off + (ulong)q * 4 + k], a = fabs(d);
      ll += a < 1.0f ? 0.5f * d * d : a - 0.5f;
      g = (a < 1.0f ? d : (d > 0.0f ? 1.0f : -1.0f)) * inv;
    }
    if (want_grad) dout[d_off + lo + k] = g;
  }
  float lc = 0.0f;
  __global const float *z = out + off + co;
  if (s >= 0.0f) {
    const uint t = (uint)s;
    const float lse = mbox_lse(z, C);
    lc = lse - z[t];
    if (want_grad)
      for (uint c = 0; c < C; c++) dout[d_off + co + c] = (exp(z[c] - lse) - (c == t ? 1.0f : 0.0f)) * inv;
  } else if (want_grad) {
    for (uint c = 0; c < C; c++) dout[d_off + co + c] = 0.0f;
  }
  per[per_off + 2 * (ulong)q] = ll;
  per[per_off + 2 * (ulong)q + 1] = lc;
}
