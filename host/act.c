/* Activations and the other small element-wise layers (kernels/act.cl): ReLU, sigmoid, the residual
 * add, the channel-wise scale of squeeze-excitation, linear (CLBlast GEMM + bias kernels), L2Norm and the
 * NCHW -> NHWC rows of SSD's heads. */
#include "gc_layers.h"
#include "gc_ops.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gc_blas.h"

enum { K_RELU_FWD, K_RELU_BWD, K_SIGMOID_FWD, K_SIGMOID_BWD, K_ADD_FWD, K_CHSCALE_FWD, K_CHSCALE_BWD_X, K_CHSCALE_BWD_S, K_BIAS_ROWS, K_COLS_SUM_ACC, K_L2NORM_FWD, K_L2NORM_BWD_X, K_L2NORM_BWD_GAMMA, K_NHWC_FWD, K_NHWC_BWD, K_VIEW_ADD_FWD, K_VIEW_ADD_BWD, K_COUNT };
static const char *const k_names[K_COUNT] = {"relu_fwd", "relu_bwd", "sigmoid_fwd", "sigmoid_bwd", "add_fwd", "chscale_fwd", "chscale_bwd_x", "chscale_bwd_s", "bias_rows", "cols_sum_acc", "l2norm_fwd", "l2norm_bwd_x", "l2norm_bwd_gamma", "nhwc_fwd", "nhwc_bwd", "view_add_fwd", "view_add_bwd"};
static const gc_kfamily fam = {GC_KF_ACT, "act", K_COUNT, k_names};

/* ---- element-wise ---- */

int gc_relu_forward(gc_ctx *ctx, const gc_tensor *x, const gc_tensor *y) {
  int st = 0;
  GC_TRY(gc_need_same_dense(x, y, "relu", "x", "y"));
  GC_TRY(GC_LAUNCH(ctx, &fam, K_RELU_FWD, gc_tensor_numel(x), GC_KT(x), GC_KT(y), GC_KU32(gc_tensor_numel(x))));
cleanup:
  return st;
}

int gc_relu_backward(gc_ctx *ctx, const gc_tensor *y, const gc_tensor *dy, const gc_tensor *dx, int accumulate_dx) {
  int st = 0;
  GC_TRY(gc_need_same_dense(y, dy, "relu backward", "y", "dy"));
  GC_TRY(gc_need_same_dense(y, dx, "relu backward", "y", "dx"));
  size_t n = gc_tensor_numel(y);
  GC_TRY(GC_LAUNCH(ctx, &fam, K_RELU_BWD, n, GC_KT(y), GC_KT(dy), GC_KT(dx), GC_KU32(n), GC_KU32(accumulate_dx ? 1 : 0)));
cleanup:
  return st;
}

int gc_sigmoid_forward(gc_ctx *ctx, const gc_tensor *x, const gc_tensor *y) {
  int st = 0;
  GC_TRY(gc_need_same_dense(x, y, "sigmoid", "x", "y"));
  GC_TRY(GC_LAUNCH(ctx, &fam, K_SIGMOID_FWD, gc_tensor_numel(x), GC_KT(x), GC_KT(y), GC_KU32(gc_tensor_numel(x))));
cleanup:
  return st;
}

int gc_sigmoid_backward(gc_ctx *ctx, const gc_tensor *y, const gc_tensor *dy, const gc_tensor *dx, int accumulate_dx) {
  int st = 0;
  GC_TRY(gc_need_same_dense(y, dy, "sigmoid backward", "y", "dy"));
  GC_TRY(gc_need_same_dense(y, dx, "sigmoid backward", "y", "dx"));
  size_t n = gc_tensor_numel(y);
  GC_TRY(GC_LAUNCH(ctx, &fam, K_SIGMOID_BWD, n, GC_KT(y), GC_KT(dy), GC_KT(dx), GC_KU32(n),
                GC_KU32(accumulate_dx ? 1 : 0)));
cleanup:
  return st;
}

int gc_add_forward(gc_ctx *ctx, const gc_tensor *a, const gc_tensor *b, const gc_tensor *y, int relu) {
  int st = 0;
  GC_TRY(gc_need_same_dense(a, b, "add", "a", "b"));
  GC_TRY(gc_need_same_dense(a, y, "add", "a", "y"));
  size_t n = gc_tensor_numel(a);
  GC_TRY(GC_LAUNCH(ctx, &fam, K_ADD_FWD, n, GC_KT(a), GC_KT(b), GC_KT(y), GC_KU32(n), GC_KU32(relu ? 1 : 0)));
cleanup:
  return st;
}

/* the NCHW views of one shape (N, C, H, W) that view_add_* take: each may be a channel view */
static int need_views(const gc_tensor *ref, const gc_tensor *t, const char *what, const char *name) {
  if (!ref || ref->ndim != 4) GC_FAIL(GC_ERR_ARG, "%s: needs NCHW tensors", what);
  return gc_need4(t, ref->dim[0], ref->dim[1], ref->dim[2], ref->dim[3], what, name);
}

int gc_view_add_forward(gc_ctx *ctx, const gc_tensor *a, const gc_tensor *b, const gc_tensor *y, int relu) {
  int st = 0;
  GC_TRY(need_views(a, a, "view add", "a"));
  if (b) GC_TRY(need_views(a, b, "view add", "b"));
  GC_TRY(need_views(a, y, "view add", "y"));
  size_t n = a->dim[0], m = a->dim[1] * a->dim[2] * a->dim[3];
  if (n * m > UINT_MAX) GC_FAIL(GC_ERR_ARG, "view add: %zu elements (at most %u)", n * m, UINT_MAX);
  const gc_tensor *bb = b ? b : a;
  GC_TRY(GC_LAUNCH(ctx, &fam, K_VIEW_ADD_FWD, n * m, GC_KT(a), GC_KU32(GC_NS(a)), GC_KT(bb), GC_KU32(GC_NS(bb)),
                   GC_KU32(b ? 1 : 0), GC_KT(y), GC_KU32(GC_NS(y)), GC_KU32(n), GC_KU32(m), GC_KU32(relu ? 1 : 0)));
cleanup:
  return st;
}

int gc_view_add_backward(gc_ctx *ctx, const gc_tensor *y, const gc_tensor *dy, const gc_tensor *dx, int relu,
                         int accumulate_dx) {
  int st = 0;
  GC_TRY(need_views(y, y, "view add backward", "y"));
  GC_TRY(need_views(y, dy, "view add backward", "dy"));
  GC_TRY(need_views(y, dx, "view add backward", "dx"));
  size_t n = y->dim[0], m = y->dim[1] * y->dim[2] * y->dim[3];
  if (n * m > UINT_MAX) GC_FAIL(GC_ERR_ARG, "view add backward: %zu elements (at most %u)", n * m, UINT_MAX);
  GC_TRY(GC_LAUNCH(ctx, &fam, K_VIEW_ADD_BWD, n * m, GC_KT(y), GC_KU32(GC_NS(y)), GC_KT(dy), GC_KU32(GC_NS(dy)),
                   GC_KT(dx), GC_KU32(GC_NS(dx)), GC_KU32(n), GC_KU32(m), GC_KU32(relu ? 1 : 0),
                   GC_KU32(accumulate_dx ? 1 : 0)));
cleanup:
  return st;
}

int gc_chscale_forward(gc_ctx *ctx, const gc_tensor *x, const gc_tensor *s, const gc_tensor *y) {
  int st = 0;
  if (!x || x->ndim != 4) GC_FAIL(GC_ERR_ARG, "channel scale: x must be NCHW");
  size_t N = x->dim[0], C = x->dim[1], P = x->dim[2] * x->dim[3];
  GC_TRY(gc_need_same_dense(x, y, "channel scale", "x", "y"));
  GC_TRY(gc_need_n(s, N * C, "channel scale", "s"));
  GC_TRY(GC_LAUNCH(ctx, &fam, K_CHSCALE_FWD, N * C * P, GC_KT(x), GC_KT(s), GC_KT(y), GC_KU32(N), GC_KU32(C), GC_KU32(P)));
cleanup:
  return st;
}

int gc_chscale_backward(gc_ctx *ctx, const gc_tensor *x, const gc_tensor *s, const gc_tensor *dy, const gc_tensor *dx,
                        int accumulate_dx, const gc_tensor *ds, int accumulate_ds) {
  int st = 0;
  if (!x || x->ndim != 4) GC_FAIL(GC_ERR_ARG, "channel scale backward: x must be NCHW");
  size_t N = x->dim[0], C = x->dim[1], P = x->dim[2] * x->dim[3];
  GC_TRY(gc_need_same_dense(x, dy, "channel scale backward", "x", "dy"));
  GC_TRY(gc_need_same_dense(x, dx, "channel scale backward", "x", "dx"));
  GC_TRY(gc_need_n(s, N * C, "channel scale backward", "s"));
  GC_TRY(gc_need_n(ds, N * C, "channel scale backward", "ds"));
  GC_TRY(GC_LAUNCH(ctx, &fam, K_CHSCALE_BWD_X, N * C * P, GC_KT(dy), GC_KT(s), GC_KT(dx), GC_KU32(N), GC_KU32(C),
                GC_KU32(P), GC_KU32(accumulate_dx ? 1 : 0)));
  GC_TRY(GC_LAUNCH(ctx, &fam, K_CHSCALE_BWD_S, N * C, GC_KT(dy), GC_KT(x), GC_KT(ds), GC_KU32(N * C), GC_KU32(P),
                GC_KU32(accumulate_ds ? 1 : 0)));
cleanup:
  return st;
}

/* ---- linear ---- */

static int linear_dims(const gc_tensor *x, const gc_tensor *w, size_t *n, size_t *in, size_t *out) {
  char s1[96], s2[96];
  if (!x || !w || x->ndim < 2 || w->ndim != 2)
    GC_FAIL(GC_ERR_ARG, "linear: x must be (N, in...) and w (out, in)");
  *n = x->dim[0];
  *in = gc_tensor_numel(x) / (*n ? *n : 1);
  *out = w->dim[0];
  if (w->dim[1] != *in)
    GC_FAIL(GC_ERR_ARG, "linear: x %s has %zu features, w %s expects %zu", gc_shape_str(x, s1, sizeof s1), *in,
            gc_shape_str(w, s2, sizeof s2), w->dim[1]);
  return GC_OK;
}

int gc_linear_forward(gc_ctx *ctx, const gc_tensor *x, const gc_tensor *w, const gc_tensor *b, const gc_tensor *y) {
  int st = 0;
  size_t N = 0, IN = 0, OUT = 0;
  GC_TRY(linear_dims(x, w, &N, &IN, &OUT));
  GC_TRY(gc_need_n(x, N * IN, "linear", "x"));
  GC_TRY(gc_need_n(y, N * OUT, "linear", "y"));
  gc_gemm_args g = {GC_ROW_MAJOR, 0, 1, N, OUT, IN, 1.0f, 0.0f, {x, 0, IN, 0}, {w, 0, IN, 0}, {y, 0, OUT, 0}, 1};
  GC_TRY(gc_gemm(ctx, &g));
  if (b) {
    GC_TRY(gc_need_n(b, OUT, "linear", "bias"));
    GC_TRY(GC_LAUNCH(ctx, &fam, K_BIAS_ROWS, N * OUT, GC_KT(y), GC_KT(b), GC_KU32(N), GC_KU32(OUT)));
  }
cleanup:
  return st;
}

int gc_linear_backward(gc_ctx *ctx, const gc_tensor *x, const gc_tensor *w, const gc_tensor *dy, const gc_tensor *dx,
                       int accumulate_dx, const gc_tensor *dw, const gc_tensor *db) {
  int st = 0;
  size_t N = 0, IN = 0, OUT = 0;
  GC_TRY(linear_dims(x, w, &N, &IN, &OUT));
  GC_TRY(gc_need_n(dy, N * OUT, "linear backward", "dy"));
  GC_TRY(gc_need_n(dw, OUT * IN, "linear backward", "dw"));
  if (dx) {
    GC_TRY(gc_need_n(dx, N * IN, "linear backward", "dx"));
    gc_gemm_args g = {GC_ROW_MAJOR, 0, 0, N, IN, OUT, 1.0f, accumulate_dx ? 1.0f : 0.0f, {dy, 0, OUT, 0},
                      {w, 0, IN, 0}, {dx, 0, IN, 0}, 1};
    GC_TRY(gc_gemm(ctx, &g));
  }
  gc_gemm_args gw = {GC_ROW_MAJOR, 1, 0, OUT, IN, N, 1.0f, 1.0f, {dy, 0, OUT, 0}, {x, 0, IN, 0}, {dw, 0, IN, 0}, 1};
  GC_TRY(gc_gemm(ctx, &gw));
  if (db) {
    GC_TRY(gc_need_n(db, OUT, "linear backward", "db"));
    GC_TRY(GC_LAUNCH(ctx, &fam, K_COLS_SUM_ACC, OUT, GC_KT(dy), GC_KU32(N), GC_KU32(OUT), GC_KT(db)));
  }
cleanup:
  return st;
}

/* ---- L2Norm ---- */

int gc_l2norm_forward(gc_ctx *ctx, const gc_tensor *x, const gc_tensor *gamma, float eps, const gc_tensor *y,
                      const gc_tensor *norm) {
  int st = 0;
  if (!x || x->ndim != 4) GC_FAIL(GC_ERR_ARG, "l2norm: x must be NCHW");
  size_t N = x->dim[0], C = x->dim[1], P = x->dim[2] * x->dim[3];
  GC_TRY(gc_need_same_dense(x, y, "l2norm", "x", "y"));
  GC_TRY(gc_need_n(gamma, C, "l2norm", "gamma"));
  GC_TRY(gc_need_n(norm, N * P, "l2norm", "norm"));
  GC_TRY(GC_LAUNCH(ctx, &fam, K_L2NORM_FWD, N * P, GC_KT(x), GC_KT(gamma), GC_KT(y), GC_KT(norm), GC_KU32(N), GC_KU32(C),
                GC_KU32(P), GC_KF32(eps)));
cleanup:
  return st;
}

int gc_l2norm_backward(gc_ctx *ctx, const gc_tensor *x, const gc_tensor *gamma, float eps, const gc_tensor *norm,
                       const gc_tensor *dy, const gc_tensor *dx, int accumulate_dx, const gc_tensor *dgamma) {
  int st = 0;
  if (!x || x->ndim != 4) GC_FAIL(GC_ERR_ARG, "l2norm backward: x must be NCHW");
  size_t N = x->dim[0], C = x->dim[1], P = x->dim[2] * x->dim[3];
  GC_TRY(gc_need_same_dense(x, dy, "l2norm backward", "x", "dy"));
  GC_TRY(gc_need_same_dense(x, dx, "l2norm backward", "x", "dx"));
  GC_TRY(gc_need_n(gamma, C, "l2norm backward", "gamma"));
  GC_TRY(gc_need_n(dgamma, C, "l2norm backward", "dgamma"));
  GC_TRY(gc_need_n(norm, N * P, "l2norm backward", "norm"));
  GC_TRY(GC_LAUNCH(ctx, &fam, K_L2NORM_BWD_X, N * P, GC_KT(x), GC_KT(gamma), GC_KT(norm), GC_KT(dy), GC_KT(dx), GC_KU32(N),
                GC_KU32(C), GC_KU32(P), GC_KF32(eps), GC_KU32(accumulate_dx ? 1 : 0)));
  GC_TRY(GC_LAUNCH_GROUPS(ctx, &fam, K_L2NORM_BWD_GAMMA, C, GC_KT(x), GC_KT(norm), GC_KT(dy), GC_KT(dgamma), GC_KU32(N),
                       GC_KU32(C), GC_KU32(P), GC_KF32(eps)));
cleanup:
  return st;
}

/* ---- NCHW -> NHWC rows (SSD's heads) ---- */

static int nhwc_check(const gc_tensor *x, const gc_tensor *y, const char *what) {
  if (!x || x->ndim != 4 || !y || y->ndim != 4) GC_FAIL(GC_ERR_ARG, "%s: x and y must be 4-D", what);
  int st = gc_need(x, what, "x");
  if (!st) st = gc_need(y, what, "y");
  if (st) return st;
  if (!gc_tensor_dense(x)) GC_FAIL(GC_ERR_ARG, "%s: x must be dense", what);
  size_t per = x->dim[1] * x->dim[2] * x->dim[3];
  if (y->dim[0] != x->dim[0] || y->dim[1] * y->dim[2] * y->dim[3] != per)
    GC_FAIL(GC_ERR_ARG, "%s: y holds %zu x %zu values per image, x %zu x %zu", what, y->dim[0],
            y->dim[1] * y->dim[2] * y->dim[3], x->dim[0], per);
  return GC_OK;
}

int gc_nhwc_forward(gc_ctx *ctx, const gc_tensor *x, const gc_tensor *y) {
  int st = 0;
  GC_TRY(nhwc_check(x, y, "nhwc"));
  size_t N = x->dim[0], C = x->dim[1], P = x->dim[2] * x->dim[3];
  GC_TRY(GC_LAUNCH(ctx, &fam, K_NHWC_FWD, N * C * P, GC_KT(x), GC_KT(y), GC_KU32(N), GC_KU32(C), GC_KU32(P),
                   GC_KU64(gc_tensor_nstride(y))));
cleanup:
  return st;
}

int gc_nhwc_backward(gc_ctx *ctx, const gc_tensor *dy, const gc_tensor *dx, int accumulate_dx) {
  int st = 0;
  GC_TRY(nhwc_check(dx, dy, "nhwc backward"));
  size_t N = dx->dim[0], C = dx->dim[1], P = dx->dim[2] * dx->dim[3];
  GC_TRY(GC_LAUNCH(ctx, &fam, K_NHWC_BWD, N * C * P, GC_KT(dy), GC_KT(dx), GC_KU32(N), GC_KU32(C), GC_KU32(P),
                   GC_KU64(gc_tensor_nstride(dy)), GC_KU32(accumulate_dx ? 1 : 0)));
cleanup:
  return st;
}
