/* Element-wise vector operations on tensor views (kernels/eltwise.cl): fill, copy, scale, axpy, and
 * their CPU references. */
#include "gc_blas.h"
#include "gc_ops.h"

#include <limits.h>
#include <stdio.h>

enum { K_FILL, K_COPY, K_SCALE, K_AXPY, K_COUNT };
static const char *const k_names[K_COUNT] = {"eltwise_fill", "eltwise_copy", "eltwise_scale", "eltwise_axpy"};
static const gc_kfamily fam = {GC_KF_ELTWISE, "eltwise", K_COUNT, k_names};

static int check_vec(const gc_tensor *t, const char *op, const char *name) {
  if (!t || !t->arena || !t->arena->buf) GC_FAIL(GC_ERR_ARG, "%s: tensor %s is not in an allocated arena", op, name);
  size_t n = gc_tensor_numel(t);
  if (n > UINT_MAX) GC_FAIL(GC_ERR_ARG, "%s: %s has %zu elements (at most %u per launch)", op, name, n, UINT_MAX);
  if (t->offset + n > t->arena->capacity)
    GC_FAIL(GC_ERR_ARG, "%s: %s [%zu, +%zu) lies beyond arena '%s' (%zu elements)", op, name, t->offset, n,
            t->arena->name, t->arena->capacity);
  return GC_OK;
}

static int check_same(const gc_tensor *x, const gc_tensor *y, const char *op) {
  char sx[96], sy[96];
  if (gc_tensor_numel(x) != gc_tensor_numel(y))
    GC_FAIL(GC_ERR_ARG, "%s: x %s (%zu elements) and y %s (%zu elements) differ in size", op,
            gc_shape_str(x, sx, sizeof sx), gc_tensor_numel(x), gc_shape_str(y, sy, sizeof sy), gc_tensor_numel(y));
  return GC_OK;
}

int gc_fill(gc_ctx *ctx, const gc_tensor *y, float value) {
  int st = check_vec(y, "fill", "y");
  if (st) return st;
  size_t n = gc_tensor_numel(y);
  return GC_LAUNCH(ctx, &fam, K_FILL, n, GC_KT(y), GC_KU32(n), GC_KF32(value));
}

int gc_copy(gc_ctx *ctx, const gc_tensor *x, const gc_tensor *y) {
  int st = 0;
  GC_TRY(check_vec(x, "copy", "x"));
  GC_TRY(check_vec(y, "copy", "y"));
  GC_TRY(check_same(x, y, "copy"));
  size_t n = gc_tensor_numel(y);
  GC_TRY(GC_LAUNCH(ctx, &fam, K_COPY, n, GC_KT(x), GC_KT(y), GC_KU32(n)));
cleanup:
  return st;
}

int gc_scale(gc_ctx *ctx, const gc_tensor *y, float a) {
  int st = check_vec(y, "scale", "y");
  if (st) return st;
  size_t n = gc_tensor_numel(y);
  return GC_LAUNCH(ctx, &fam, K_SCALE, n, GC_KT(y), GC_KU32(n), GC_KF32(a));
}

int gc_axpy(gc_ctx *ctx, float a, const gc_tensor *x, const gc_tensor *y) {
  int st = 0;
  GC_TRY(check_vec(x, "axpy", "x"));
  GC_TRY(check_vec(y, "axpy", "y"));
  GC_TRY(check_same(x, y, "axpy"));
  size_t n = gc_tensor_numel(y);
  GC_TRY(GC_LAUNCH(ctx, &fam, K_AXPY, n, GC_KT(x), GC_KT(y), GC_KU32(n), GC_KF32(a)));
cleanup:
  return st;
}

void gc_ref_fill(float *y, size_t n, float value) {
  for (size_t i = 0; i < n; i++) y[i] = value;
}
void gc_ref_scale(float *y, size_t n, float a) {
  for (size_t i = 0; i < n; i++) y[i] = a * y[i];
}
void gc_ref_axpy(float a, const float *x, float *y, size_t n) {
  for (size_t i = 0; i < n; i++) {
    float p = a * x[i];
    y[i] = p + y[i];
  }
}
