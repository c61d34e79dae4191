/* A quick end-to-end check of a device: element-wise kernels and CLBlast GEMM against the CPU
 * reference on awkward sizes. `gafcl selfcheck` and the main job run it. */
#include "gc_selfcheck.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A small deterministic generator (xorshift) for test data: values in [-1, 1). */
static float next_val(unsigned long long *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return (float)((double)(*s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static int compare(const float *got, const float *want, size_t n, double atol, double rtol, const char *what) {
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)got[i] - (double)want[i]);
    if (!(d <= atol + rtol * fabs((double)want[i])))
      GC_FAIL(GC_ERR_NUMERIC, "%s: element %zu is %.9g, reference %.9g (|diff| %.3g > %.3g)", what, i, got[i],
              want[i], d, atol + rtol * fabs((double)want[i]));
  }
  return GC_OK;
}

static int check_gemm(gc_ctx *ctx, gc_layout lay, int ta, int tb, size_t m, size_t n, size_t k, size_t batch,
                      FILE *log) {
  int st = 0;
  gc_arena ar;
  gc_tensor A, B, C;
  float *ha = NULL, *hb = NULL, *hc = NULL, *ref = NULL;
  gc_arena_init(ctx, &ar, "selfcheck");
  /* ld one larger than needed and a 3-element offset, so offsets and strides are exercised */
  size_t ar_ = (lay == GC_ROW_MAJOR) == !ta ? k : m, br_ = (lay == GC_ROW_MAJOR) == !tb ? n : k;
  size_t lda = ar_ + 1, ldb = br_ + 1, ldc = (lay == GC_ROW_MAJOR ? n : m) + 1;
  size_t alines = (lay == GC_ROW_MAJOR) == !ta ? m : k, blines = (lay == GC_ROW_MAJOR) == !tb ? k : n;
  size_t clines = lay == GC_ROW_MAJOR ? m : n;
  size_t sa = alines * lda, sb = blines * ldb, sc = clines * ldc;
  size_t na = 3 + sa * batch, nb = 3 + sb * batch, nc = 3 + sc * batch;
  GC_TRY(gc_arena_reserve(&ar, &A, 1, &na));
  GC_TRY(gc_arena_reserve(&ar, &B, 1, &nb));
  GC_TRY(gc_arena_reserve(&ar, &C, 1, &nc));
  GC_TRY(gc_arena_commit(ctx, &ar, 0));
  ha = malloc(na * sizeof *ha);
  hb = malloc(nb * sizeof *hb);
  hc = malloc(nc * sizeof *hc);
  ref = malloc(nc * sizeof *ref);
  if (!ha || !hb || !hc || !ref) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "selfcheck buffers");
  unsigned long long seed = 0x9e3779b97f4a7c15ull ^ (m * 131 + n * 17 + k);
  for (size_t i = 0; i < na; i++) ha[i] = next_val(&seed);
  for (size_t i = 0; i < nb; i++) hb[i] = next_val(&seed);
  for (size_t i = 0; i < nc; i++) hc[i] = ref[i] = next_val(&seed);
  GC_TRY(gc_tensor_write(ctx, &A, ha, na));
  GC_TRY(gc_tensor_write(ctx, &B, hb, nb));
  GC_TRY(gc_tensor_write(ctx, &C, hc, nc));
  gc_gemm_args g = {lay, ta, tb, m, n, k, 0.75f, 0.5f, {&A, 3, lda, sa}, {&B, 3, ldb, sb}, {&C, 3, ldc, sc}, batch};
  GC_TRY(gc_gemm(ctx, &g));
  GC_TRY(gc_tensor_read(ctx, &C, hc, nc));
  gc_ref_gemm(&g, ha, hb, ref);
  char what[160];
  snprintf(what, sizeof what, "gemm %s%s%s m=%zu n=%zu k=%zu batch=%zu", lay == GC_ROW_MAJOR ? "row" : "col",
           ta ? " A^T" : "", tb ? " B^T" : "", m, n, k, batch);
  /* fp32 GEMM vs a double reference: error grows like sqrt(k) * eps * |a||b| */
  GC_TRY(compare(hc, ref, nc, 1e-5 * sqrt((double)k) + 1e-6, 1e-4, what));
  if (log) fprintf(log, "  ok  %s\n", what);
cleanup:
  gc_arena_release(&ar);
  free(ha);
  free(hb);
  free(hc);
  free(ref);
  return st;
}

static int check_eltwise(gc_ctx *ctx, size_t n, FILE *log) {
  int st = 0;
  gc_arena ar;
  gc_tensor x, y;
  float *hx = NULL, *hy = NULL, *ref = NULL;
  gc_arena_init(ctx, &ar, "selfcheck");
  GC_TRY(gc_arena_reserve(&ar, &x, 1, &n));
  GC_TRY(gc_arena_reserve(&ar, &y, 1, &n));
  GC_TRY(gc_arena_commit(ctx, &ar, 0));
  hx = malloc(n * sizeof *hx);
  hy = malloc(n * sizeof *hy);
  ref = malloc(n * sizeof *ref);
  if (!hx || !hy || !ref) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "selfcheck buffers of %zu", n);
  unsigned long long seed = 12345 + n;
  for (size_t i = 0; i < n; i++) hx[i] = next_val(&seed);
  GC_TRY(gc_tensor_write(ctx, &x, hx, n));
  GC_TRY(gc_fill(ctx, &y, 0.25f));
  GC_TRY(gc_axpy(ctx, -1.5f, &x, &y));
  GC_TRY(gc_scale(ctx, &y, 3.0f));
  GC_TRY(gc_copy(ctx, &y, &x));
  GC_TRY(gc_tensor_read(ctx, &x, hy, n));
  gc_ref_fill(ref, n, 0.25f);
  gc_ref_axpy(-1.5f, hx, ref, n);
  gc_ref_scale(ref, n, 3.0f);
  char what[64];
  snprintf(what, sizeof what, "fill/axpy/scale/copy n=%zu", n);
  GC_TRY(compare(hy, ref, n, 0.0, 0.0, what)); /* same operations, same rounding: bit-exact */
  if (log) fprintf(log, "  ok  %s\n", what);
cleanup:
  gc_arena_release(&ar);
  free(hx);
  free(hy);
  free(ref);
  return st;
}

int gc_selfcheck(gc_ctx *ctx, FILE *log) {
  int st = 0;
  static const size_t sizes[] = {1, 17, 257, 4099};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) GC_TRY(check_eltwise(ctx, sizes[i], log));
  static const size_t shapes[][3] = {{1, 1, 1}, {17, 33, 65}, {64, 1, 100}, {5, 70, 3}};
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
    for (int lay = 0; lay < 2; lay++)
      for (int t = 0; t < 4; t++)
        GC_TRY(check_gemm(ctx, (gc_layout)lay, t & 1, t >> 1, shapes[s][0], shapes[s][1], shapes[s][2], 1, log));
  GC_TRY(check_gemm(ctx, GC_ROW_MAJOR, 0, 1, 9, 13, 21, 3, log));
  GC_TRY(check_gemm(ctx, GC_COL_MAJOR, 1, 0, 9, 13, 21, 3, log));
  GC_TRY(gc_finish(ctx));
cleanup:
  return st;
}
