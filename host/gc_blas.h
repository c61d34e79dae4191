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
