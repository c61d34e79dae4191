// GEMMs written for CPU OpenCL implementations: each work-item computes a register tile of C with
// explicit vector types (float8 / float16), which the CPU compilers turn into AVX / AVX-512 FMAs, and
// loops over the whole reduction itself (no local memory, no barriers). The tile is set at build time:
//   vgemm     C[b] (M x N) (+)= A[b] (M x K) * B[b] (K x N)   A strided (any layout: transposes are free),
//             B's rows contiguous (a plain row-major matrix, or rows picked from a zero-padded input
//             in place: the implicit convolution), C row-major; the tile is MR rows x NV vectors of VW
//             columns. Used for the forward pass (W * col, W * padded x) and the data gradient.
//   vgemm_nt  C[b] (M x N) (+)= A[b] (M x K) * B[b]^T, A (M x K) and B (N x K) both row-major, so both
//             operands are read along the reduction; the tile is MR x NR outputs, each a VW-wide partial
//             sum reduced across lanes at the end in a fixed order. Used for the weight gradient
//             (dyt * col^T, or dy * padded x^T with B's rows picked from the padded input in place).
// Every output is one work-item's sum over k in increasing order (vgemm) or over lanes then chunks in a
// fixed order (vgemm_nt): no atomics, the same bits every run. beta is 0 (overwrite) or 1 (accumulate).
// Work-groups are LW x 1 x 1 work-items (1 on CPUs: a work-item is already a vectorised tile).
#pragma OPENCL FP_CONTRACT OFF

#ifndef VW
#define VW 16
#endif
#ifndef NV
#define NV 2
#endif
#ifndef MR
#define MR 8
#endif
#ifndef NR
#define NR 4
#endif
#ifndef LW
#define LW 1
#endif

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define VT CAT(float, VW)
#define VLOAD CAT(vload, VW)
#define VSTORE CAT(vstore, VW)

// B's rows: row k starts at k1*s1 + k2*s2 + k3*s3 with k = (k1*d2 + k2)*d3 + k3. A plain matrix is d2 = d3 =
// 1 (s1 = ldb); an implicit convolution reads a zero-padded input in place with k = (channel, kernel row,
// kernel column): s1 the channel's plane, s2 a dilated input row, s3 the dilation.
__kernel __attribute__((reqd_work_group_size(LW, 1, 1)))
void vgemm(uint M, uint N, uint K,
           __global const float *A, ulong a_off, uint a_si, uint a_sk, ulong a_bs,
           __global const float *B, ulong b_off, uint s1, uint s2, uint s3, uint d2, uint d3, ulong b_bs,
           __global float *C, ulong c_off, uint ldc, ulong c_bs, uint beta) {
  const uint j0 = get_global_id(0) * (VW * NV), i0 = get_global_id(1) * MR, bi = get_global_id(2);
  if (j0 >= N || i0 >= M) return;
  const ulong ab = a_off + bi * a_bs, bb = b_off + bi * b_bs, cb = c_off + bi * c_bs;
  ulong arow[MR];
#pragma unroll
  for (uint r = 0; r < MR; r++) arow[r] = ab + (ulong)min(i0 + r, M - 1) * a_si; // rows past M: read, not stored
  // The last tile of a row may be partial: its lanes past N read column N-1 (a gather into a private
  // array) and are not stored, so every tile runs the same loop. The fixed-count loops are unrolled: some
  // implementations (Mesa's llvmpipe) stop a loop after 65535 iterations in all, counting every entry.
  const uint full = j0 + VW * NV <= N;
  VT acc[MR][NV];
#pragma unroll
  for (uint r = 0; r < MR; r++)
#pragma unroll
    for (uint v = 0; v < NV; v++) acc[r][v] = (VT)0.0f;
  ulong base = bb; // k1*s1 + k2*s2, then + k3*s3
  uint k2 = 0, k3 = 0;
  for (uint k = 0; k < K; k++) {
    VT bv[NV];
    const ulong brow = base + (ulong)k3 * s3;
    if (full) {
#pragma unroll
      for (uint v = 0; v < NV; v++) bv[v] = VLOAD(0, B + brow + j0 + v * VW);
    } else {
      float t[VW * NV];
#pragma unroll
      for (uint l = 0; l < VW * NV; l++) t[l] = B[brow + min(j0 + l, N - 1)];
#pragma unroll
      for (uint v = 0; v < NV; v++) bv[v] = VLOAD(v, t);
    }
    const ulong ak = (ulong)k * a_sk;
#pragma unroll
    for (uint r = 0; r < MR; r++) {
      const VT a = (VT)A[arow[r] + ak];
#pragma unroll
      for (uint v = 0; v < NV; v++) acc[r][v] = fma(a, bv[v], acc[r][v]);
    }
    if (++k3 == d3) {
      k3 = 0;
      base += s2;
      if (++k2 == d2) {
        k2 = 0;
        base += (ulong)s1 - (ulong)d2 * s2;
      }
    }
  }
#pragma unroll
  for (uint r = 0; r < MR; r++) {
    if (i0 + r >= M) break;
    __global float *c = C + cb + (ulong)(i0 + r) * ldc + j0;
    if (full) {
#pragma unroll
      for (uint v = 0; v < NV; v++) {
        VT o = acc[r][v];
        if (beta) o += VLOAD(v, c);
        VSTORE(o, v, c);
      }
    } else {
      float t[VW * NV];
#pragma unroll
      for (uint v = 0; v < NV; v++) VSTORE(acc[r][v], v, t);
      for (uint l = 0; l < N - j0; l++) c[l] = beta ? c[l] + t[l] : t[l];
    }
  }
}

// The sum of a vector's lanes, pairwise in a fixed order (through a private array: plain element
// accesses, which every compiler and Oclgrind's value tracking handle alike).
inline float lanes_sum(VT v) {
  float l[VW];
  VSTORE(v, 0, l);
  for (uint w = VW / 2; w > 0; w /= 2)
    for (uint i = 0; i < w; i++) l[i] += l[i + w];
  return l[0];
}

// B's rows as in vgemm (row n at n1*s1 + n2*s2 + n3*s3, n = (n1*d2 + n2)*d3 + n3); each row is read along
// the reduction.
__kernel __attribute__((reqd_work_group_size(LW, 1, 1)))
void vgemm_nt(uint M, uint N, uint K,
              __global const float *A, ulong a_off, uint lda, ulong a_bs,
              __global const float *B, ulong b_off, uint s1, uint s2, uint s3, uint d2, uint d3, ulong b_bs,
              __global float *C, ulong c_off, uint ldc, ulong c_bs, uint beta) {
  const uint j0 = get_global_id(0) * NR, i0 = get_global_id(1) * MR, bi = get_global_id(2);
  if (j0 >= N || i0 >= M) return;
  const ulong ab = a_off + bi * a_bs, bb = b_off + bi * b_bs, cb = c_off + bi * c_bs;
  ulong arow[MR], brow[NR];
#pragma unroll
  for (uint r = 0; r < MR; r++) arow[r] = ab + (ulong)min(i0 + r, M - 1) * lda;
#pragma unroll
  for (uint s = 0; s < NR; s++) {
    const uint n = min(j0 + s, N - 1), n3 = n % d3, n2 = (n / d3) % d2, n1 = n / (d3 * d2);
    brow[s] = bb + (ulong)n1 * s1 + (ulong)n2 * s2 + (ulong)n3 * s3;
  }
  VT acc[MR][NR];
#pragma unroll
  for (uint r = 0; r < MR; r++)
#pragma unroll
    for (uint s = 0; s < NR; s++) acc[r][s] = (VT)0.0f;
  const uint Kv = K / VW * VW;
  for (uint k = 0; k < Kv; k += VW) {
    VT bv[NR];
#pragma unroll
    for (uint s = 0; s < NR; s++) bv[s] = VLOAD(0, B + brow[s] + k);
#pragma unroll
    for (uint r = 0; r < MR; r++) {
      const VT a = VLOAD(0, A + arow[r] + k);
#pragma unroll
      for (uint s = 0; s < NR; s++) acc[r][s] = fma(a, bv[s], acc[r][s]);
    }
  }
  for (uint r = 0; r < MR; r++) {
    if (i0 + r >= M) break;
    for (uint s = 0; s < NR; s++) {
      if (j0 + s >= N) break;
      float t = lanes_sum(acc[r][s]);
      for (uint k = Kv; k < K; k++) t = fma(A[arow[r] + k], B[brow[s] + k], t);
      const ulong o = cb + (ulong)(i0 + r) * ldc + j0 + s;
      C[o] = beta ? C[o] + t : t;
    }
  }
}
