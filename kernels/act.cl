// Activations and small element-wise layers: ReLU, sigmoid, add, channel-wise scale (squeeze-excitation),
// bias rows (linear), column sums, L2Norm (SSD). One work-item per output element unless noted; no
// atomics: every sum runs in a fixed order.
#pragma OPENCL FP_CONTRACT OFF

#ifndef GC_WG
#define GC_WG 64
#endif

// y = max(x, 0); a NaN stays NaN, as in PyTorch.
__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void relu_fwd(__global const float *x, ulong x_off, __global float *y, ulong y_off, uint n) {
  const uint i = get_global_id(0);
  if (i >= n) return;
  const float v = x[x_off + i];
  y[y_off + i] = v < 0.0f ? 0.0f : v;
}

// dx (+)= y > 0 ? dy : 0
__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void relu_bwd(__global const float *y, ulong y_off, __global const float *dy, ulong dy_off, __global float *dx,
              ulong dx_off, uint n, uint accumulate) {
  const uint i = get_global_id(0);
  if (i >= n) return;
  const float v = y[y_off + i] > 0.0f ? dy[dy_off + i] : 0.0f;
  dx[dx_off + i] = accumulate ? dx[dx_off + i] + v : v;
}

// y = 1 / (1 + exp(-x))
__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void sigmoid_fwd(__global const float *x, ulong x_off, __global float *y, ulong y_off, uint n) {
  const uint i = get_global_id(0);
  if (i >= n) return;
  y[y_off + i] = 1.0f / (1.0f + exp(-x[x_off + i]));
}

// dx (+)= dy * y * (1 - y)
__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void sigmoid_bwd(__global const float *y, ulong y_off, __global const float *dy, ulong dy_off, __global float *dx,
                 ulong dx_off, uint n, uint accumulate) {
  const uint i = get_global_id(0);
  if (i >= n) return;
  const float s = y[y_off + i];
  const float v = dy[dy_off + i] * (s * (1.0f - s));
  dx[dx_off + i] = accumulate ? dx[dx_off + i] + v : v;
}

// y = a + b (then max(y, 0) when relu: the residual add + ReLU of a basic block in one pass)
__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void add_fwd(__global const float *a, ulong a_off, __global const float *b, ulong b_off, __global float *y,
             ulong y_off, uint n, uint relu) {
  const uint i = get_global_id(0);
  if (i >= n) return;
  float v = a[a_off + i] + b[b_off + i];
  if (relu && v < 0.0f) v = 0.0f;
  y[y_off + i] = v;
}

// Channel views (DPN's dual path): y = a (+ b when has_b) (then ReLU when relu), each an NCHW view with its
// own image stride (an element (n, k) of an image's m = C*P values lies at off + n*ns + k).
__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void view_add_fwd(__global const float *a, ulong a_off, uint a_ns, __global const float *b, ulong b_off, uint b_ns,
                  uint has_b, __global float *y, ulong y_off, uint y_ns, uint n, uint m, uint relu) {
  const uint i = get_global_id(0);
  if (i >= n * m) return;
  const uint img = i / m, k = i - img * m;
  float v = a[a_off + (ulong)img * a_ns + k];
  if (has_b) v = v + b[b_off + (ulong)img * b_ns + k];
  if (relu && v < 0.0f) v = 0.0f;
  y[y_off + (ulong)img * y_ns + k] = v;
}

// dx (+)= (relu && !(y > 0)) ? 0 : dy on channel views (the gradient of view_add_fwd for either input)
__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void view_add_bwd(__global const float *y, ulong y_off, uint y_ns, __global const float *dy, ulong dy_off, uint dy_ns,
                  __global float *dx, ulong dx_off, uint dx_ns, uint n, uint m, uint relu, uint accumulate) {
  const uint i = get_global_id(0);
  if (i >= n * m) return;
  const uint img = i / m, k = i - img * m;
  const float g = dy[dy_off + (ulong)img * dy_ns + k];
  const float v = (relu && !(y[y_off + (ulong)img * y_ns + k] > 0.0f)) ? 0.0f : g;
  const ulong o = dx_off + (ulong)img * dx_ns + k;
  dx[o] = accumulate ? dx[o] + v : v;
}

// y[n, c, p] = x[n, c, p] * s[n, c]
__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void chscale_fwd(__global const float *x, ulong x_off, __global const float *s, ulong s_off, __global float *y,
                 ulong y_off, uint N, uint C, uint P) {
  const uint i = get_global_id(0);
  if (i >= N * C * P) return;
  y[y_off + i] = x[x_off + i] * s[s_off + i / P];
}

// dx (+)= dy * s[n, c]
__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void chscale_bwd_x(__global const float *dy, ulong dy_off, __global const float *s, ulong s_off, __global float *dx,
                   ulong dx_off, uint N, uint C, uint P, uint accumulate) {
  const uint i = get_global_id(0);
  if (i >= N * C * P) return;
  const float v = dy[dy_off + i] * s[s_off + i / P];
  dx[dx_off + i] = accumulate ? dx[dx_off + i] + v : v;
}

// ds[n, c] (+)= sum_p dy[n, c, p] * x[n, c, p]   (one work-item per (n, c))
__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void chscale_bwd_s(__global const float *dy, ulong dy_off, __global const float *x, ulong x_off, __global float *ds,
                   ulong ds_off, uint NC, uint P, uint accumulate) {
  const uint i = get_global_id(0);
  if (i >= NC) return;
  float acc = 0.0f;
  for (uint p = 0; p < P; p++) acc += dy[dy_off + (ulong)i * P + p] * x[x_off + (ulong)i * P + p];
  ds[ds_off + i] = accumulate ? ds[ds_off + i] + acc : acc;
}

// y[r, j] = y[r, j] + b[j] for a (R, J) row-major matrix (the linear layer's bias)
__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void bias_rows(__global float *y, ulong y_off, __global const float *b, ulong b_off, uint R, uint J) {
  const uint i = get_global_id(0);
  if (i >= R * J) return;
  y[y_off + i] = y[y_off + i] + b[b_off + i % J];
}

// out[j] += sum_r m[r, j] for a (R, J) row-major matrix, r in order (the linear layer's bias gradient)
__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void cols_sum_acc(__global const float *m, ulong m_off, uint R, uint J, __global float *out, ulong out_off) {
  const uint j = get_global_id(0);
  if (j >= J) return;
  float acc = 0.0f;
  for (uint r = 0; r < R; r++) acc += m[m_off + (ulong)r * J + j];
  out[out_off + j] = out[out_off + j] + acc;
}

// L2Norm (SSD): per position, s = sqrt(sum_c x^2), y_c = gamma_c * x_c / (s + eps); keeps s.
__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void l2norm_fwd(__global const float *x, ulong x_off, __global const float *gamma, ulong g_off, __global float *y,
                ulong y_off, __global float *norm, ulong norm_off, uint N, uint C, uint P, float eps) {
  const uint i = get_global_id(0);
  if (i >= N * P) return;
  const uint p = i % P, n = i / P;
  const ulong base = (ulong)n * C * P + p;
  float ss = 0.0f;
  for (uint c = 0; c < C; c++) {
    const float v = x[x_off + base + (ulong)c * P];
    ss += v * v;
  }
  const float s = sqrt(ss);
  norm[norm_off + i] = s;
  const float d = s + eps;
  for (uint c = 0; c < C; c++) y[y_off + base + (ulong)c * P] = gamma[g_off + c] * x[x_off + base + (ulong)c * P] / d;
}

// dx_j (+)= gamma_j dy_j / d - x_j * (sum_c gamma_c dy_c x_c) / (d^2 s), d = s + eps (one work-item per position)
__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void l2norm_bwd_x(__global const float *x, ulong x_off, __global const float *gamma, ulong g_off,
                  __global const float *norm, ulong norm_off, __global const float *dy, ulong dy_off,
                  __global float *dx, ulong dx_off, uint N, uint C, uint P, float eps, uint accumulate) {
  const uint i = get_global_id(0);
  if (i >= N * P) return;
  const uint p = i % P, n = i / P;
  const ulong base = (ulong)n * C * P + p;
  const float s = norm[norm_off + i], d = s + eps;
  float t = 0.0f;
  for (uint c = 0; c < C; c++)
    t += gamma[g_off + c] * dy[dy_off + base + (ulong)c * P] * x[x_off + base + (ulong)c * P];
  const float k = s > 0.0f ? t / (d * d * s) : 0.0f;
  for (uint c = 0; c < C; c++) {
    const ulong o = base + (ulong)c * P;
    const float v = gamma[g_off + c] * dy[dy_off + o] / d - x[x_off + o] * k;
    dx[dx_off + o] = accumulate ? dx[dx_off + o] + v : v;
  }
}

// dgamma_c += sum over (n, p) of dy_c x_c / d   (one work-group per channel, tree reduction)
__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void l2norm_bwd_gamma(__global const float *x, ulong x_off, __global const float *norm, ulong norm_off,
                      __global const float *dy, ulong dy_off, __global float *dgamma, ulong g_off, uint N, uint C,
                      uint P, float eps) {
  __local float sh[GC_WG];
  const uint c = get_group_id(0), lid = get_local_id(0);
  float acc = 0.0f;
  for (uint i = lid; i < N * P; i += GC_WG) {
    const uint p = i % P, n = i / P;
    const ulong o = (ulong)n * C * P + (ulong)c * P + p;
    acc += dy[dy_off + o] * x[x_off + o] / (norm[norm_off + i] + eps);
  }
  sh[lid] = acc;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (uint s = GC_WG / 2; s > 0; s >>= 1) {
    if (lid < s) sh[lid] += sh[lid + s];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (lid == 0) dgamma[g_off + c] = dgamma[g_off + c] + sh[0];
}

// NCHW -> NHWC into a row of a wider output (SSD's heads: each head's (N, C, H, W) output becomes
// (N, H*W*C) at column y_col of rows of y_stride floats). One work-item per element, in output order.
__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void nhwc_fwd(__global const float *x, ulong x_off, __global float *y, ulong y_off, uint N, uint C, uint P,
              ulong y_stride) {
  const ulong i = get_global_id(0);
  if (i >= (ulong)N * C * P) return;
  const ulong per = (ulong)C * P, n = i / per, r = i % per;
  const uint p = (uint)(r / C), c = (uint)(r % C);
  y[y_off + n * y_stride + r] = x[x_off + n * per + (ulong)c * P + p];
}

// the way back: dx (N, C, H, W) (+)= the NHWC rows of dy
__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void nhwc_bwd(__global const float *dy, ulong dy_off, __global float *dx, ulong dx_off, uint N, uint C, uint P,
              ulong dy_stride, uint accumulate) {
  const ulong i = get_global_id(0);
  if (i >= (ulong)N * C * P) return;
  const ulong per = (ulong)C * P, n = i / per, r = i % per;
  const uint c = (uint)(r / P), p = (uint)(r % P);
  const float v = dy[dy_off + n * dy_stride + (ulong)p * C + c];
  dx[dx_off + i] = accumulate ? dx[dx_off + i] + v : v;
}
