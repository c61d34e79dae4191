/* The CLBlast GEMM wrapper on tensor views, and its CPU reference. */
#include "gc_blas.h"
#include "gc_ops.h"

#include <clblast_c.h>
#include <limits.h>
#include <stdio.h>

/* ---- GEMM ---- */

/* Rows and columns of an operand as stored (before op()). */
static void stored_dims(const gc_gemm_args *g, char which, size_t *rows, size_t *cols) {
  size_t r = 0, c = 0;
  if (which == 'a') {
    r = g->trans_a ? g->k : g->m;
    c = g->trans_a ? g->m : g->k;
  } else if (which == 'b') {
    r = g->trans_b ? g->n : g->k;
    c = g->trans_b ? g->k : g->n;
  } else {
    r = g->m;
    c = g->n;
  }
  *rows = r;
  *cols = c;
}

/* Elements an operand spans from its first element, or 0 when ld is too small. */
static size_t operand_extent(const gc_gemm_args *g, char which, const gc_mat *x, size_t *min_ld) {
  size_t rows, cols;
  stored_dims(g, which, &rows, &cols);
  size_t lines = g->layout == GC_ROW_MAJOR ? rows : cols; /* lines of ld elements */
  size_t len = g->layout == GC_ROW_MAJOR ? cols : rows;   /* used elements per line */
  *min_ld = len;
  if (x->ld < len) return 0;
  return (lines - 1) * x->ld + len + (g->batch - 1) * x->stride;
}

static int check_operand(const gc_gemm_args *g, char which, const gc_mat *x) {
  char s[96];
  size_t min_ld;
  if (!x->t || !x->t->arena || !x->t->arena->buf)
    GC_FAIL(GC_ERR_ARG, "gemm: operand %c is not in an allocated arena", which);
  size_t ext = operand_extent(g, which, x, &min_ld);
  if (ext == 0)
    GC_FAIL(GC_ERR_ARG, "gemm m=%zu n=%zu k=%zu: ld of %c is %zu, needs >= %zu", g->m, g->n, g->k, which, x->ld,
            min_ld);
  size_t n = gc_tensor_span(x->t);
  if (x->off > n || ext > n - x->off)
    GC_FAIL(GC_ERR_ARG,
            "gemm m=%zu n=%zu k=%zu batch=%zu: operand %c spans %zu elements from offset %zu, but its tensor %s "
            "has %zu",
            g->m, g->n, g->k, g->batch, which, ext, x->off, gc_shape_str(x->t, s, sizeof s), n);
  return GC_OK;
}

int gc_gemm(gc_ctx *ctx, const gc_gemm_args *g) {
  int st = 0;
  gc_clblast_prepare(ctx); /* the parameters `gafcl tune` kept, before the first GEMM */
  if (g->m == 0 || g->n == 0 || g->k == 0 || g->batch == 0)
    GC_FAIL(GC_ERR_ARG, "gemm m=%zu n=%zu k=%zu batch=%zu: every size must be >= 1", g->m, g->n, g->k, g->batch);
  GC_TRY(check_operand(g, 'a', &g->a));
  GC_TRY(check_operand(g, 'b', &g->b));
  GC_TRY(check_operand(g, 'c', &g->c));
  if (g->batch > 1) {
    /* batch entries of C must not overlap, or the batched call would race with itself */
    gc_gemm_args one = *g;
    one.batch = 1;
    size_t min_ld, c_ext = operand_extent(&one, 'c', &g->c, &min_ld);
    if (g->c.stride < c_ext)
      GC_FAIL(GC_ERR_ARG, "gemm batch=%zu: stride of C is %zu, less than one C's extent %zu (entries overlap)",
              g->batch, g->c.stride, c_ext);
  }
  CLBlastLayout lay = g->layout == GC_ROW_MAJOR ? CLBlastLayoutRowMajor : CLBlastLayoutColMajor;
  CLBlastTranspose ta = g->trans_a ? CLBlastTransposeYes : CLBlastTransposeNo;
  CLBlastTranspose tb = g->trans_b ? CLBlastTransposeYes : CLBlastTransposeNo;
  cl_event ev = NULL;
  size_t ao = g->a.t->offset + g->a.off, bo = g->b.t->offset + g->b.off, co = g->c.t->offset + g->c.off;
  if (g->batch == 1) {
    GC_CL(CLBlastSgemm(lay, ta, tb, g->m, g->n, g->k, g->alpha, g->a.t->arena->buf, ao, g->a.ld,
                       g->b.t->arena->buf, bo, g->b.ld, g->beta, g->c.t->arena->buf, co, g->c.ld, &ctx->queue,
                       gc_event_slot(ctx, &ev)),
          "sgemm %s m=%zu n=%zu k=%zu transA=%d transB=%d lda=%zu ldb=%zu ldc=%zu",
          g->layout == GC_ROW_MAJOR ? "row-major" : "col-major", g->m, g->n, g->k, g->trans_a, g->trans_b, g->a.ld,
          g->b.ld, g->c.ld);
  } else {
    GC_CL(CLBlastSgemmStridedBatched(lay, ta, tb, g->m, g->n, g->k, g->alpha, g->a.t->arena->buf, ao, g->a.ld,
                                     g->a.stride, g->b.t->arena->buf, bo, g->b.ld, g->b.stride, g->beta,
                                     g->c.t->arena->buf, co, g->c.ld, g->c.stride, g->batch, &ctx->queue,
                                     gc_event_slot(ctx, &ev)),
          "sgemm strided-batched x%zu %s m=%zu n=%zu k=%zu transA=%d transB=%d lda=%zu ldb=%zu ldc=%zu", g->batch,
          g->layout == GC_ROW_MAJOR ? "row-major" : "col-major", g->m, g->n, g->k, g->trans_a, g->trans_b, g->a.ld,
          g->b.ld, g->c.ld);
  }
  gc_track_event(ctx, ev);
cleanup:
  return st;
}

/* Element (i, j) of a stored matrix in the given layout. */
static size_t at(gc_layout lay, size_t ld, size_t i, size_t j) {
  return lay == GC_ROW_MAJOR ? i * ld + j : j * ld + i;
}

void gc_ref_gemm(const gc_gemm_args *g, const float *a, const float *b, float *c) {
  for (size_t bt = 0; bt < g->batch; bt++) {
    const float *A = a + g->a.off + bt * g->a.stride;
    const float *B = b + g->b.off + bt * g->b.stride;
    float *C = c + g->c.off + bt * g->c.stride;
    for (size_t i = 0; i < g->m; i++)
      for (size_t j = 0; j < g->n; j++) {
        double acc = 0.0;
        for (size_t p = 0; p < g->k; p++) {
          float av = g->trans_a ? A[at(g->layout, g->a.ld, p, i)] : A[at(g->layout, g->a.ld, i, p)];
          float bv = g->trans_b ? B[at(g->layout, g->b.ld, j, p)] : B[at(g->layout, g->b.ld, p, j)];
          acc += (double)av * (double)bv;
        }
        float *cv = &C[at(g->layout, g->c.ld, i, j)];
        /* beta == 0 ignores C's old contents (NaN included), as BLAS does */
        double old = g->beta == 0.0f ? 0.0 : (double)g->beta * (double)*cv;
        *cv = (float)((double)g->alpha * acc + old);
      }
  }
}
