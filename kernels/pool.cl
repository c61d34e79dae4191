// Pooling: max (with ceil mode), average, global average. NCHW, images x_ns / y_ns elements apart.
// Backward passes are gathers (one work-item per input element), so no atomics and a fixed order.
#pragma OPENCL FP_CONTRACT OFF

#ifndef GC_WG
#define GC_WG 64
#endif

// y = max over the window (positions outside the input are skipped); arg = (float)(h*W + w) of the
// first maximum in row-major window order, kept for the backward pass.
__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void maxpool_fwd(__global const float *x, ulong x_off, uint x_ns, __global float *y, ulong y_off, uint y_ns,
                 __global float *arg, ulong arg_off, uint N, uint C, uint H, uint W, uint Ho, uint Wo, uint KH,
                 uint KW, uint SH, uint SW, uint PH, uint PW) {
  const uint gid = get_global_id(0);
  if (gid >= N * C * Ho * Wo) return;
  const uint ow = gid % Wo, oh = (gid / Wo) % Ho, c = (gid / (Wo * Ho)) % C, n = gid / (Wo * Ho * C);
  const int h0 = (int)(oh * SH) - (int)PH, w0 = (int)(ow * SW) - (int)PW;
  float best = -INFINITY;
  int best_i = -1;
  const ulong base = x_off + (ulong)n * x_ns + (ulong)c * H * W;
  for (uint i = 0; i < KH; i++) {
    const int h = h0 + (int)i;
    if (h < 0 || h >= (int)H) continue;
    for (uint j = 0; j < KW; j++) {
      const int w = w0 + (int)j;
      if (w < 0 || w >= (int)W) continue;
      const float v = x[base + (uint)h * W + (uint)w];
      if (best_i < 0 || v > best || isnan(v)) { // as PyTorch: a NaN in the window propagates
        best = v;
        best_i = h * (int)W + w;
      }
    }
  }
  const ulong o = (ulong)n * C * Ho * Wo + (ulong)c * Ho * Wo + oh * Wo + ow;
  y[y_off + (ulong)n * y_ns + (ulong)c * Ho * Wo + oh * Wo + ow] = best;
  arg[arg_off + o] = (float)best_i; /* exact: H*W < 2^24 */
}

// dx[h, w] (+)= sum of dy over the windows whose recorded maximum is (h, w).
__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void maxpool_bwd(__global const float *dy, ulong dy_off, uint dy_ns, __global const float *arg, ulong arg_off,
                 __global float *dx, ulong dx_off, uint dx_ns, uint accumulate, uint N, uint C, uint H, uint W,
                 uint Ho, uint Wo, uint KH, uint KW, uint SH, uint SW, uint PH, uint PW) {
  const uint gid = get_global_id(0);
  if (gid >= N * C * H * W) return;
  const uint w = gid % W, h = (gid / W) % H, c = (gid / (W * H)) % C, n = gid / (W * H * C);
  const int me = (int)(h * W + w);
  // windows oh with oh*SH - PH <= h <= oh*SH - PH + KH - 1
  const int hp = (int)(h + PH), wp = (int)(w + PW);
  const int oh_lo = hp - (int)KH + 1 <= 0 ? 0 : (hp - (int)KH + (int)SH) / (int)SH;
  const int oh_hi = min(hp / (int)SH, (int)Ho - 1);
  const int ow_lo = wp - (int)KW + 1 <= 0 ? 0 : (wp - (int)KW + (int)SW) / (int)SW;
  const int ow_hi = min(wp / (int)SW, (int)Wo - 1);
  float acc = 0.0f;
  const ulong ab = arg_off + (ulong)n * C * Ho * Wo + (ulong)c * Ho * Wo;
  const ulong db = dy_off + (ulong)n * dy_ns + (ulong)c * Ho * Wo;
  for (int oh = oh_lo; oh <= oh_hi; oh++)
    for (int ow = ow_lo; ow <= ow_hi; ow++)
      if ((int)arg[ab + (uint)oh * Wo + (uint)ow] == me) acc += dy[db + (uint)oh * Wo + (uint)ow];
  const ulong o = dx_off + (ulong)n * dx_ns + (ulong)c * H * W + h * W + w;
  dx[o] = accumulate ? dx[o] + acc : acc;
}

// Average over the window, padding counted (PyTorch's count_include_pad=True): divide by KH*KW.
__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void avgpool_fwd(__global const float *x, ulong x_off, uint x_ns, __global float *y, ulong y_off, uint y_ns,
                 uint N, uint C, uint H, uint W, uint Ho, uint Wo, uint KH, uint KW, uint SH, uint SW, uint PH, uint PW) {
  const uint gid = get_global_id(0);
  if (gid >= N * C * Ho * Wo) return;
  const uint ow = gid % Wo, oh = (gid / Wo) % Ho, c = (gid / (Wo * Ho)) % C, n = gid / (Wo * Ho * C);
  const int h0 = (int)(oh * SH) - (int)PH, w0 = (int)(ow * SW) - (int)PW;
  const ulong base = x_off + (ulong)n * x_ns + (ulong)c * H * W;
  float acc = 0.0f;
  for (uint i = 0; i < KH; i++) {
    const int h = h0 + (int)i;
    if (h < 0 || h >= (int)H) continue;
    for (uint j = 0; j < KW; j++) {
      const int w = w0 + (int)j;
      if (w >= 0 && w < (int)W) acc += x[base + (uint)h * W + (uint)w];
    }
  }
  y[y_off + (ulong)n * y_ns + (ulong)c * Ho * Wo + oh * Wo + ow] = acc / (float)(KH * KW);
}

__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void avgpool_bwd(__global const float *dy, ulong dy_off, uint dy_ns, __global float *dx, ulong dx_off, uint dx_ns,
                 uint accumulate, uint N, uint C, uint H, uint W, uint Ho, uint Wo, uint KH, uint KW, uint SH, uint SW,
                 uint PH, uint PW) {
  const uint gid = get_global_id(0);
  if (gid >= N * C * H * W) return;
  const uint w = gid % W, h = (gid / W) % H, c = (gid / (W * H)) % C, n = gid / (W * H * C);
  const int hp = (int)(h + PH), wp = (int)(w + PW);
  const int oh_lo = hp - (int)KH + 1 <= 0 ? 0 : (hp - (int)KH + (int)SH) / (int)SH;
  const int oh_hi = min(hp / (int)SH, (int)Ho - 1);
  const int ow_lo = wp - (int)KW + 1 <= 0 ? 0 : (wp - (int)KW + (int)SW) / (int)SW;
  const int ow_hi = min(wp / (int)SW, (int)Wo - 1);
  const ulong db = dy_off + (ulong)n * dy_ns + (ulong)c * Ho * Wo;
  float acc = 0.0f;
  for (int oh = oh_lo; oh <= oh_hi; oh++)
    for (int ow = ow_lo; ow <= ow_hi; ow++) acc += dy[db + (uint)oh * Wo + (uint)ow];
  acc = acc / (float)(KH * KW);
  const ulong o = dx_off + (ulong)n * dx_ns + (ulong)c * H * W + h * W + w;
  dx[o] = accumulate ? dx[o] + acc : acc;
}

// y[n, c] = mean over the P = H*W positions of x[n, c, :]. y is dense (N, C).
__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void gap_fwd(__global const float *x, ulong x_off, uint x_ns, __global float *y, ulong y_off, uint N, uint C, uint P) {
  const uint gid = get_global_id(0);
  if (gid >= N * C) return;
  const uint c = gid % C, n = gid / C;
  const ulong base = x_off + (ulong)n * x_ns + (ulong)c * P;
  float acc = 0.0f;
  for (uint p = 0; p < P; p++) acc += x[base + p];
  y[y_off + gid] = acc / (float)P;
}

__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void gap_bwd(__global const float *dy, ulong dy_off, __global float *dx, ulong dx_off, uint dx_ns, uint accumulate,
             uint N, uint C, uint P) {
  const uint gid = get_global_id(0);
  if (gid >= N * C * P) return;
  const uint p = gid % P, c = (gid / P) % C, n = gid / (P * C);
  const float v = dy[dy_off + (ulong)n * C + c] / (float)P;
  const ulong o = dx_off + (ulong)n * dx_ns + (ulong)c * P + p;
  dx[o] = accumulate ? dx[o] + v : v;
}
