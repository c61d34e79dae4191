/* The first vertical slice of device math: element-wise vector kernels and a CLBlast GEMM wrapper that
 * works on tensor views into arenas. */
#ifndef GC_BLAS_H
#define GC_BLAS_H

#include "gc_tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* y = value */
int gc_fill(gc_ctx *ctx, const gc_tensor *y, float value);
/* y = x (same element count) */
int gc_copy(gc_ctx *ctx, const gc_tensor *x, const gc_tensor *y);
/* y = a * y */
int gc_scale(gc_ctx *ctx, const gc_tensor *y, float a);
/* y = a * x + y (same element count) */
int gc_axpy(gc_ctx *ctx, float a, const gc_tensor *x, const gc_tensor *y);

typedef enum gc_layout { GC_ROW_MAJOR = 0, GC_COL_MAJOR = 1 } gc_layout;

/* One matrix operand of a GEMM: elements start `off` elements into tensor `t`, consecutive rows (row
 * major) or columns (column major) are `ld` elements apart, and batch entries `stride` apart. */
typedef struct gc_mat {
  const gc_tensor *t;
  size_t off;
  size_t ld;
  size_t stride;
} gc_mat;

/* C[b] = alpha * op(A[b]) * op(B[b]) + beta * C[b] for b < batch, with op(A) m x k, op(B) k x n and
 * C m x n. batch 1 is one GEMM; batch > 1 is one strided-batched call. m, n, k and batch must be >= 1.
 * Every operand's extent is checked against its tensor before the call. */
typedef struct gc_gemm_args {
  gc_layout layout;
  int trans_a, trans_b;
  size_t m, n, k;
  float alpha, beta;
  gc_mat a, b, c;
  size_t batch;
} gc_gemm_args;

int gc_gemm(gc_ctx *ctx, const gc_gemm_args *g);

/* gafcl's own GEMMs for CPU devices (kernels/vgemm.cl), alpha = 1:
 *   gc_vgemm     C[b] (+)= A[b] * B[b]     A (m x k) element (i, k) at a_off + b*a_bs + i*a_si + k*a_sk (any
 *                                          layout), B (k x n) row-major with rows ldb apart, C (m x n) ldc
 *   gc_vgemm_nt  C[b] (+)= A[b] * B[b]^T   A (m x k) rows a_si apart (a_sk must be 1), B (n x k) rows ldb apart
 * beta 0 overwrites C, 1 adds to it. Offsets are in elements from each tensor's start; extents are checked.
 * B's rows may be picked rather than evenly spaced (implicit convolution): with b_d2, b_d3 > 1, row r =
 * (r1*b_d2 + r2)*b_d3 + r3 starts at r1*ldb + r2*b_s2 + r3*b_s3 (r counts k for gc_vgemm, n for
 * gc_vgemm_nt); b_d2 = b_d3 = 0 (or 1) is a plain matrix. */
typedef struct gc_vgemm_args {
  size_t m, n, k, batch;
  const gc_tensor *a;
  size_t a_off, a_si, a_sk, a_bs;
  const gc_tensor *b;
  size_t b_off, ldb, b_bs;
  const gc_tensor *c;
  size_t c_off, ldc, c_bs;
  int beta;
  size_t b_s2, b_s3, b_d2, b_d3;
} gc_vgemm_args;
int gc_vgemm(gc_ctx *ctx, const gc_vgemm_args *g);
int gc_vgemm_nt(gc_ctx *ctx, const gc_vgemm_args *g);
/* CLBlast's GEMM kernel parameters for this device (CLBlastOverrideParameters, single precision): kernel
 * "Xgemm", "XgemmDirect" or "GemmRoutine" (XGEMM_MIN_INDIRECT_SIZE), params its complete set as
 * "NAME=VALUE ..." (CLBlast refuses a partial one). The override holds for the whole process and the
 * device; CLBlast compiles the kernels anew on their next use. gc_clblast_tuned_save keeps a kernel's set
 * in the cache folder (keyed by platform, device and driver): every later context on the device applies
 * the kept sets before its first GEMM (gc_clblast_tuned_apply; `applied` counts them). */
int gc_clblast_override(gc_ctx *ctx, const char *kernel, const char *params);
int gc_clblast_tuned_save(gc_ctx *ctx, const char *kernel, const char *params, char *path_out, size_t cap);
int gc_clblast_tuned_apply(gc_ctx *ctx, int *applied);

/* The CPU reference (double accumulation); which = GC_VGEMM_NN or GC_VGEMM_NT. */
void gc_ref_vgemm(const gc_vgemm_args *g, int which, const float *a, const float *b, float *c);

/* Their register tiles (build options): vgemm MR rows x NV vectors of VW floats, vgemm_nt MR x NR
 * outputs each a VW-wide partial sum; work-groups of LW work-items. A context starts from the tiles
 * `gafcl tune` kept for its device in the cache folder (tuned = 1), else the defaults (16, 2, 8 / 16,
 * 4, 4, work-groups of 1). gc_vgemm_tile_set changes them for this context (later builds use them);
 * gc_vgemm_tiles_save keeps the current ones for every later context on the device. */
enum { GC_VGEMM_NN = 0, GC_VGEMM_NT = 1 };
typedef struct gc_vgemm_tile {
  int vw, nv, mr, nr, lw;
} gc_vgemm_tile;
int gc_vgemm_tile_check(int which, const gc_vgemm_tile *t);
int gc_vgemm_tile_get(gc_ctx *ctx, int which, gc_vgemm_tile *t, int *tuned);
int gc_vgemm_tile_set(gc_ctx *ctx, int which, const gc_vgemm_tile *t);
int gc_vgemm_tiles_save(gc_ctx *ctx, char *path_out, size_t cap);

/* The same on host arrays, in double precision accumulation: the CPU reference for gc_gemm. `a`, `b`,
 * `c` point at the start of each operand's tensor (the offsets in g apply). */
void gc_ref_gemm(const gc_gemm_args *g, const float *a, const float *b, float *c);

/* CPU references of the element-wise kernels (same rounding: the product is rounded before the add). */
void gc_ref_fill(float *y, size_t n, float value);
void gc_ref_scale(float *y, size_t n, float a);
void gc_ref_axpy(float a, const float *x, float *y, size_t n);

#ifdef __cplusplus
}
#endif
#endif
