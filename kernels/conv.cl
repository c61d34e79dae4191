// Convolution lowered to GEMM: im2col / col2im and the layout changes around the GEMMs.
//
// Shapes (NCHW): x (B, C, H, W) with images `x_ns` elements apart (a channel range of a wider tensor,
// e.g. a DenseNet concatenation buffer, has x_ns > C*H*W); y (B, Co, Ho, Wo).
// K = C*KH*KW rows of the column matrix; L = B*Ho*Wo its columns in the "big" layout.
// col element (k, b, p) lives at col_off + b*col_bs + k*col_ks + p, so one kernel serves both layouts:
//   big (one GEMM over the chunk):   col_ks = L,        col_bs = Ho*Wo   -> a K x L matrix
//   per image (strided batched):     col_ks = Ho*Wo,    col_bs = K*Ho*Wo -> B matrices of K x Ho*Wo
// Every kernel is one work-item per output element with a bounds guard; no atomics, so every sum is
// in a fixed order and results are deterministic.
#pragma OPENCL FP_CONTRACT OFF

#ifndef GC_WG
#define GC_WG 64
#endif


// col[k, b, p] = x[b, c, oh*SH - PH + i*DH, ow*SW - PW + j*DW] or 0 outside the image.
// GC_ROWS (set for CPU devices): one work-item per output row, looping over ow, so the integer divisions
// that decode the index are paid once per row (CPUs have no vector integer divide). Otherwise one
// work-item per element, consecutive work-items writing consecutive columns (coalesced on GPUs).
__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void conv_im2col(__global const float *x, ulong x_off, uint x_ns,
                 __global float *col, ulong col_off, uint col_ks, uint col_bs,
                 uint B, uint C, uint H, uint W, uint KH, uint KW, uint SH, uint SW, uint PH, uint PW,
                 uint DH, uint DW, uint Ho, uint Wo) {
  const uint gid = get_global_id(0);
  const uint P = Ho * Wo, K = C * KH * KW;
#ifdef GC_ROWS
  if (gid >= K * B * Ho) return;
  const uint oh = gid % Ho;
  const uint b = (gid / Ho) % B;
  const uint k = gid / (Ho * B);
  const uint ow0 = 0, ow1 = Wo;
#else
  if (gid >= K * B * P) return;
  // gid enumerates (k, b, p) with p fastest: consecutive work-items write consecutive columns
  const uint p = gid % P;
  const uint b = (gid / P) % B;
  const uint k = gid / (P * B);
  const uint oh = p / Wo, ow0 = p % Wo, ow1 = ow0 + 1;
#endif
  const uint j = k % KW, i = (k / KW) % KH, c = k / (KW * KH);
  const int ih = (int)(oh * SH + i * DH) - (int)PH;
  const int hok = ih >= 0 && ih < (int)H;
  const ulong xrow = x_off + (ulong)b * x_ns + ((ulong)c * H + (hok ? (uint)ih : 0u)) * W;
  const ulong crow = col_off + (ulong)b * col_bs + (ulong)k * col_ks + oh * Wo;
  for (uint ow = ow0; ow < ow1; ow++) {
    const int iw = (int)(ow * SW + j * DW) - (int)PW;
    col[crow + ow] = (hok && iw >= 0 && iw < (int)W) ? x[xrow + (uint)iw] : 0.0f;
  }
}

// dx[b, c, h, w] (+)= sum over kernel taps (i, j) whose window covers (h, w) of dcol[k, b, p].
// A gather (one work-item per input element, or per input row with GC_ROWS), so no two work-items
// write the same element.
__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void conv_col2im(__global const float *col, ulong col_off, uint col_ks, uint col_bs,
                 __global float *dx, ulong dx_off, uint dx_ns, uint accumulate,
                 uint B, uint C, uint H, uint W, uint KH, uint KW, uint SH, uint SW, uint PH, uint PW,
                 uint DH, uint DW, uint Ho, uint Wo) {
  const uint gid = get_global_id(0);
#ifdef GC_ROWS
  if (gid >= B * C * H) return;
  const uint h = gid % H, c = (gid / H) % C, b = gid / (H * C);
  const uint w0 = 0, w1 = W;
#else
  if (gid >= B * C * H * W) return;
  const uint w0 = gid % W, w1 = w0 + 1, h = (gid / W) % H, c = (gid / (W * H)) % C, b = gid / (W * H * C);
#endif
  const ulong cbase = col_off + (ulong)b * col_bs;
  const ulong o = dx_off + (ulong)b * dx_ns + ((ulong)c * H + h) * W;
  // without dilation only the taps i = (h + PH) mod SH, + SH, ... can reach an output row (and likewise for
  // columns): those are visited in the same increasing order as the general loop, so the sum is the same
  const uint istep = DH == 1 ? SH : 1, i0 = DH == 1 ? (h + PH) % SH : 0;
  for (uint w = w0; w < w1; w++) {
    float acc = 0.0f;
    const uint jstep = DW == 1 ? SW : 1, j0 = DW == 1 ? (w + PW) % SW : 0;
    for (uint i = i0; i < KH; i += istep) {
      const int th = (int)(h + PH) - (int)(i * DH);
      if (th < 0 || th % (int)SH != 0) continue;
      const uint oh = (uint)th / SH;
      if (oh >= Ho) continue;
      for (uint j = j0; j < KW; j += jstep) {
        const int tw = (int)(w + PW) - (int)(j * DW);
        if (tw < 0 || tw % (int)SW != 0) continue;
        const uint ow = (uint)tw / SW;
        if (ow >= Wo) continue;
        const uint k = (c * KH + i) * KW + j;
        acc += col[cbase + (ulong)k * col_ks + oh * Wo + ow];
      }
    }
    dx[o + w] = accumulate ? dx[o + w] + acc : acc;
  }
}

// y[b, co, p] = yt[co, b*P + p] (+ bias[co]): from the GEMM's (Co, B*P) result to NCHW.
__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void conv_cnhw_to_nchw(__global const float *yt, ulong yt_off,
                       __global float *y, ulong y_off, uint y_ns,
                       __global const float *bias, ulong bias_off, uint has_bias,
                       uint B, uint Co, uint P) {
  const uint gid = get_global_id(0);
#ifdef GC_ROWS
  if (gid >= B * Co) return;
  const uint co = gid % Co, b = gid / Co, p0 = 0, p1 = P;
#else
  if (gid >= B * Co * P) return;
  const uint p0 = gid % P, p1 = p0 + 1, co = (gid / P) % Co, b = gid / (P * Co);
#endif
  const float bv = has_bias ? bias[bias_off + co] : 0.0f;
  const ulong src = yt_off + ((ulong)co * B + b) * P, dst = y_off + (ulong)b * y_ns + (ulong)co * P;
  for (uint p = p0; p < p1; p++) y[dst + p] = has_bias ? yt[src + p] + bv : yt[src + p];
}

// yt[co, b*P + p] = y[b, co, p]: NCHW to the (Co, B*P) matrix the weight-gradient GEMM reads.
__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void conv_nchw_to_cnhw(__global const float *y, ulong y_off, uint y_ns,
                       __global float *yt, ulong yt_off, uint B, uint Co, uint P) {
  const uint gid = get_global_id(0);
#ifdef GC_ROWS
  if (gid >= B * Co) return;
  const uint b = gid % B, co = gid / B, p0 = 0, p1 = P;
#else
  if (gid >= B * Co * P) return;
  const uint p0 = gid % P, p1 = p0 + 1, b = (gid / P) % B, co = gid / (P * B);
#endif
  const ulong src = y_off + (ulong)b * y_ns + (ulong)co * P, dst = yt_off + ((ulong)co * B + b) * P;
  for (uint p = p0; p < p1; p++) yt[dst + p] = y[src + p];
}

// y[b, co, p] += bias[co] (the per-image GEMM path)
__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void conv_bias_add(__global float *y, ulong y_off, uint y_ns, __global const float *bias, ulong bias_off,
                   uint B, uint Co, uint P) {
  const uint gid = get_global_id(0);
  if (gid >= B * Co * P) return;
  const uint p = gid % P, co = (gid / P) % Co, b = gid / (P * Co);
  const ulong o = y_off + (ulong)b * y_ns + (ulong)co * P + p;
  y[o] = y[o] + bias[bias_off + co];
}

// dw[i] += sum_{g < G} part[g*n + i], in order g = 0, 1, ...: the fixed-order sum of the split
// weight-gradient reduction.
__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void conv_sum_partials(__global const float *part, ulong part_off, uint G, uint n,
                       __global float *dw, ulong dw_off) {
  const uint i = get_global_id(0);
  if (i >= n) return;
  float acc = 0.0f;
  for (uint g = 0; g < G; g++) acc += part[part_off + (ulong)g * n + i];
  dw[dw_off + i] = dw[dw_off + i] + acc;
}

// db[r] += sum_{l < L} m[r*ld + l]: one work-group per row, a tree reduction in local memory (fixed
// order for a given GC_WG). Used for bias gradients.
__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void rows_sum_acc(__global const float *m, ulong m_off, uint ld, uint L, __global float *out, ulong out_off) {
  __local float sh[GC_WG];
  const uint r = get_group_id(0), lid = get_local_id(0);
  float acc = 0.0f;
  for (uint l = lid; l < L; l += GC_WG) acc += m[m_off + (ulong)r * ld + l];
  sh[lid] = acc;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (uint s = GC_WG / 2; s > 0; s >>= 1) {
    if (lid < s) sh[lid] += sh[lid + s];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (lid == 0) out[out_off + r] = out[out_off + r] + sh[0];
}

// ---- the implicit convolution's layouts (stride 1): inputs zero-padded in place of im2col ----
//
// dst (C, B, Hd, Wd) = src (B, C, Hs, Ws) placed at row pt, column pl of each Hd x Wd plane, zeros around
// it, then `tail` zeros: channel-major over the chunk's images, so that a convolution's input rows for one
// kernel tap lie at one offset from the output positions across the whole chunk (the GEMM reads them in
// place). With GC_ROWS one work-item per destination row, else per element.
__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void conv_pad_cnhw(__global const float *src, ulong src_off, uint src_ns,
                   __global float *dst, ulong dst_off, uint B, uint C, uint Hs, uint Ws, uint Hd, uint Wd,
                   uint pt, uint pl, uint tail) {
  const uint gid = get_global_id(0);
  const uint rows = C * B * Hd;
#ifdef GC_ROWS
  if (gid >= rows + (tail + Wd - 1) / Wd) return;
  const uint r = gid, w0 = 0, w1 = Wd;
#else
  if (gid >= rows * Wd + tail) return;
  const uint r = gid / Wd, w0 = gid % Wd, w1 = w0 + 1;
#endif
  const ulong o = dst_off + (ulong)r * Wd;
  if (r >= rows) { // the zeros after the last plane
    const ulong end = dst_off + (ulong)rows * Wd + tail;
    for (uint w = w0; w < w1 && o + w < end; w++) dst[o + w] = 0.0f;
    return;
  }
  const uint hd = r % Hd, b = (r / Hd) % B, c = r / (Hd * B);
  const int hs = (int)hd - (int)pt;
  const int hok = hs >= 0 && hs < (int)Hs;
  const ulong srow = src_off + (ulong)b * src_ns + ((ulong)c * Hs + (hok ? (uint)hs : 0u)) * Ws;
  for (uint w = w0; w < w1; w++) {
    const int ws = (int)w - (int)pl;
    dst[o + w] = (hok && ws >= 0 && ws < (int)Ws) ? src[srow + (uint)ws] : 0.0f;
  }
}

// dst (B, C, H, W) (+)= src (C, B, Hd, Wd)'s top-left H x W of each plane (+ bias[c]): the implicit
// convolution's output back to NCHW.
__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void conv_unpad_cnhw(__global const float *src, ulong src_off, uint Hd, uint Wd,
                     __global float *dst, ulong dst_off, uint dst_ns, uint accumulate,
                     __global const float *bias, ulong bias_off, uint has_bias, uint B, uint C, uint H, uint W) {
  const uint gid = get_global_id(0);
#ifdef GC_ROWS
  if (gid >= B * C * H) return;
  const uint h = gid % H, c = (gid / H) % C, b = gid / (H * C), w0 = 0, w1 = W;
#else
  if (gid >= B * C * H * W) return;
  const uint w0 = gid % W, w1 = w0 + 1, h = (gid / W) % H, c = (gid / (W * H)) % C, b = gid / (W * H * C);
#endif
  const float bv = has_bias ? bias[bias_off + c] : 0.0f;
  const ulong s = src_off + (((ulong)c * B + b) * Hd + h) * Wd, d = dst_off + (ulong)b * dst_ns + ((ulong)c * H + h) * W;
  for (uint w = w0; w < w1; w++) {
    float v = src[s + w];
    if (has_bias) v += bv;
    dst[d + w] = accumulate ? dst[d + w] + v : v;
  }
}

// wf[c, co, i, j] = w[co, c, KH-1-i, KW-1-j]: the data gradient's weights (transposed, flipped).
__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void conv_wflip(__global const float *w, ulong w_off, __global float *wf, ulong wf_off, uint Co, uint C, uint KH,
                uint KW) {
  const uint gid = get_global_id(0);
  if (gid >= Co * C * KH * KW) return;
  const uint j = gid % KW, i = (gid / KW) % KH, co = (gid / (KW * KH)) % Co, c = gid / (KW * KH * Co);
  wf[wf_off + gid] = w[w_off + (((ulong)co * C + c) * KH + (KH - 1 - i)) * KW + (KW - 1 - j)];
}

// ---- Winograd F(2x2, 3x3) (3x3, stride 1, dilation 1), on the implicit convolution's padded planes ----
// Each 2x2 output tile comes from a 4x4 input patch d: the 16 products of U = G g G^T (per filter) and
// V = B^T d B (per patch) are summed over input channels by 16 GEMMs (M = U V), and the tile is
// A^T M A. B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
// A^T = [1 1 1 0; 0 1 -1 -1]. Tiles t = (b*TH + ty)*TW + tx over the chunk.

// u[e, co, c] = (G g G^T)[e] for g = w[co, c] (3x3), e = 4*row + column.
__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void wino_wtrans(__global const float *w, ulong w_off, __global float *u, ulong u_off, uint Co, uint C) {
  const uint gid = get_global_id(0);
  if (gid >= Co * C) return;
  const uint c = gid % C, co = gid / C;
  float g[9], t[12];
  for (uint i = 0; i < 9; i++) g[i] = w[w_off + (ulong)gid * 9 + i];
  for (uint j = 0; j < 3; j++) { // t = G g (4 x 3)
    t[0 * 3 + j] = g[0 * 3 + j];
    t[1 * 3 + j] = 0.5f * ((g[0 * 3 + j] + g[1 * 3 + j]) + g[2 * 3 + j]);
    t[2 * 3 + j] = 0.5f * ((g[0 * 3 + j] - g[1 * 3 + j]) + g[2 * 3 + j]);
    t[3 * 3 + j] = g[2 * 3 + j];
  }
  const ulong plane = (ulong)Co * C, o = u_off + (ulong)co * C + c;
  for (uint i = 0; i < 4; i++) { // u = t G^T (4 x 4)
    u[o + (4 * i + 0) * plane] = t[i * 3 + 0];
    u[o + (4 * i + 1) * plane] = 0.5f * ((t[i * 3 + 0] + t[i * 3 + 1]) + t[i * 3 + 2]);
    u[o + (4 * i + 2) * plane] = 0.5f * ((t[i * 3 + 0] - t[i * 3 + 1]) + t[i * 3 + 2]);
    u[o + (4 * i + 3) * plane] = t[i * 3 + 2];
  }
}

// v[e, c, t] = (B^T d B)[e] for the 4x4 patch d of tile t in channel c of the padded planes
// xp (C, B, Hp, Wp) (zeros past the planes' edges).
__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void wino_itrans(__global const float *xp, ulong xp_off, uint B, uint C, uint Hp, uint Wp, uint TH, uint TW,
                 __global float *v, ulong v_off) {
  const uint gid = get_global_id(0);
  const uint T = B * TH * TW;
  if (gid >= C * T) return;
  const uint t = gid % T, c = gid / T;
  const uint tx = t % TW, ty = (t / TW) % TH, b = t / (TW * TH);
  const ulong base = xp_off + ((ulong)c * B + b) * Hp * Wp;
  float d[16], s[16];
  for (uint r = 0; r < 4; r++)
    for (uint q = 0; q < 4; q++) {
      const uint h = 2 * ty + r, w = 2 * tx + q;
      d[4 * r + q] = (h < Hp && w < Wp) ? xp[base + (ulong)h * Wp + w] : 0.0f;
    }
  for (uint q = 0; q < 4; q++) { // s = B^T d
    s[0 + q] = d[0 + q] - d[8 + q];
    s[4 + q] = d[4 + q] + d[8 + q];
    s[8 + q] = d[8 + q] - d[4 + q];
    s[12 + q] = d[4 + q] - d[12 + q];
  }
  const ulong plane = (ulong)C * T, o = v_off + (ulong)c * T + t;
  for (uint r = 0; r < 4; r++) { // v = s B
    v[o + (4 * r + 0) * plane] = s[4 * r + 0] - s[4 * r + 2];
    v[o + (4 * r + 1) * plane] = s[4 * r + 1] + s[4 * r + 2];
    v[o + (4 * r + 2) * plane] = s[4 * r + 2] - s[4 * r + 1];
    v[o + (4 * r + 3) * plane] = s[4 * r + 1] - s[4 * r + 3];
  }
}

// y[b, co, 2ty + r, 2tx + q] (+)= (A^T m A)[r, q] (+ bias) for m[e] = mm[e, co, t], inside H x W.
__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void wino_otrans(__global const float *mm, ulong mm_off, uint B, uint Co, uint TH, uint TW,
                 __global float *y, ulong y_off, uint y_ns, uint H, uint W, uint accumulate,
                 __global const float *bias, ulong bias_off, uint has_bias) {
  const uint gid = get_global_id(0);
  const uint T = B * TH * TW;
  if (gid >= Co * T) return;
  const uint t = gid % T, co = gid / T;
  const uint tx = t % TW, ty = (t / TW) % TH, b = t / (TW * TH);
  const ulong plane = (ulong)Co * T, i0 = mm_off + (ulong)co * T + t;
  float m[16], s[8];
  for (uint e = 0; e < 16; e++) m[e] = mm[i0 + e * plane];
  for (uint q = 0; q < 4; q++) { // s = A^T m (2 x 4)
    s[q] = (m[q] + m[4 + q]) + m[8 + q];
    s[4 + q] = (m[4 + q] - m[8 + q]) - m[12 + q];
  }
  const float bv = has_bias ? bias[bias_off + co] : 0.0f;
  for (uint r = 0; r < 2; r++) {
    const uint h = 2 * ty + r;
    if (h >= H) break;
    const float o2[2] = {(s[4 * r + 0] + s[4 * r + 1]) + s[4 * r + 2], (s[4 * r + 1] - s[4 * r + 2]) - s[4 * r + 3]};
    for (uint q = 0; q < 2; q++) {
      const uint w = 2 * tx + q;
      if (w >= W) break;
      const ulong o = y_off + (ulong)b * y_ns + ((ulong)co * H + h) * W + w;
      float val = o2[q];
      if (has_bias) val += bv;
      y[o] = accumulate ? y[o] + val : val;
    }
  }
}
