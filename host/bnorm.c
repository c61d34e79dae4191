/* Batch normalisation, optionally fused with the following ReLU (kernels/bnorm.cl). */
#include "gc_layers.h"
#include "gc_ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { K_BN_STATS, K_BN_INFER_PARAMS, K_BN_FWD, K_BN_BWD_REDUCE, K_BN_BWD_DX, K_COUNT };
static const char *const k_names[K_COUNT] = {"bn_stats", "bn_infer_params", "bn_fwd", "bn_bwd_reduce", "bn_bwd_dx"};
static const gc_kfamily fam = {GC_KF_BNORM, "bnorm", K_COUNT, k_names};

/* ---- batch norm ---- */

static int bn_check(const gc_bn *bn, const gc_tensor *x, const gc_tensor *y, const char *what) {
  int st = 0;
  if (bn->c < 1 || !(bn->eps > 0.0f)) GC_FAIL(GC_ERR_ARG, "%s: %d channels, eps %g", what, bn->c, bn->eps);
  if (!x || x->ndim != 4) GC_FAIL(GC_ERR_ARG, "%s: x must be NCHW", what);
  GC_TRY(gc_need4(x, x->dim[0], (size_t)bn->c, x->dim[2], x->dim[3], what, "x"));
  GC_TRY(gc_need4(y, x->dim[0], (size_t)bn->c, x->dim[2], x->dim[3], what, "y"));
cleanup:
  return st;
}

int gc_bn_forward(gc_ctx *ctx, const gc_bn *bn, int training, const gc_tensor *x, const gc_tensor *y,
                  const gc_tensor *gamma, const gc_tensor *beta, const gc_tensor *run_mean, const gc_tensor *run_var,
                  const gc_tensor *save_mean, const gc_tensor *save_invstd) {
  int st = 0;
  const char *what = "batch norm forward";
  GC_TRY(bn_check(bn, x, y, what));
  size_t C = (size_t)bn->c, N = x->dim[0], P = x->dim[2] * x->dim[3];
  GC_TRY(gc_need_n(gamma, C, what, "gamma"));
  GC_TRY(gc_need_n(beta, C, what, "beta"));
  GC_TRY(gc_need_n(run_mean, C, what, "running_mean"));
  GC_TRY(gc_need_n(run_var, C, what, "running_var"));
  GC_TRY(gc_need_n(save_mean, C, what, "save_mean"));
  GC_TRY(gc_need_n(save_invstd, C, what, "save_invstd"));
  if (training) {
    if (N * P < 2) GC_FAIL_GOTO(GC_ERR_ARG, "%s: training statistics need more than one value per channel", what);
    GC_TRY(GC_LAUNCH_GROUPS(ctx, &fam, K_BN_STATS, C, GC_KT(x), GC_KU32(GC_NS(x)), GC_KU32(N), GC_KU32(P), GC_KT(save_mean),
                         GC_KT(save_invstd), GC_KT(run_mean), GC_KT(run_var), GC_KF32(bn->momentum), GC_KF32(bn->eps)));
  } else {
    GC_TRY(GC_LAUNCH(ctx, &fam, K_BN_INFER_PARAMS, C, GC_KT(run_mean), GC_KT(run_var), GC_KU32(C), GC_KF32(bn->eps),
                  GC_KT(save_mean), GC_KT(save_invstd)));
  }
  GC_TRY(GC_LAUNCH(ctx, &fam, K_BN_FWD, N * C * P, GC_KT(x), GC_KU32(GC_NS(x)), GC_KT(y), GC_KU32(GC_NS(y)), GC_KT(save_mean),
                GC_KT(save_invstd), GC_KT(gamma), GC_KT(beta), GC_KU32(N), GC_KU32(C), GC_KU32(P),
                GC_KU32(bn->relu ? 1 : 0)));
cleanup:
  return st;
}

int gc_bn_backward(gc_ctx *ctx, const gc_bn *bn, int training, const gc_tensor *x, const gc_tensor *y,
                   const gc_tensor *dy, const gc_tensor *dx, int accumulate_dx, const gc_tensor *gamma,
                   const gc_tensor *dgamma, const gc_tensor *dbeta, const gc_tensor *save_mean,
                   const gc_tensor *save_invstd, const gc_tensor *ws) {
  int st = 0;
  const char *what = "batch norm backward";
  GC_TRY(bn_check(bn, x, y, what));
  size_t C = (size_t)bn->c, N = x->dim[0], P = x->dim[2] * x->dim[3];
  GC_TRY(gc_need4(dy, N, C, x->dim[2], x->dim[3], what, "dy"));
  GC_TRY(gc_need4(dx, N, C, x->dim[2], x->dim[3], what, "dx"));
  GC_TRY(gc_need_n(gamma, C, what, "gamma"));
  GC_TRY(gc_need_n(dgamma, C, what, "dgamma"));
  GC_TRY(gc_need_n(dbeta, C, what, "dbeta"));
  GC_TRY(gc_need_n(save_mean, C, what, "save_mean"));
  GC_TRY(gc_need_n(save_invstd, C, what, "save_invstd"));
  GC_TRY(gc_need(ws, what, "workspace"));
  if (gc_tensor_numel(ws) < 2 * C) GC_FAIL_GOTO(GC_ERR_ARG, "%s: workspace needs %zu elements", what, 2 * C);
  GC_TRY(GC_LAUNCH_GROUPS(ctx, &fam, K_BN_BWD_REDUCE, C, GC_KT(x), GC_KU32(GC_NS(x)), GC_KT(y), GC_KU32(GC_NS(y)), GC_KT(dy),
                       GC_KU32(GC_NS(dy)), GC_KT(save_mean), GC_KT(save_invstd), GC_KU32(N), GC_KU32(C), GC_KU32(P),
                       GC_KU32(bn->relu ? 1 : 0), GC_KT(ws), GC_KT(dgamma), GC_KT(dbeta)));
  GC_TRY(GC_LAUNCH(ctx, &fam, K_BN_BWD_DX, N * C * P, GC_KT(x), GC_KU32(GC_NS(x)), GC_KT(y), GC_KU32(GC_NS(y)), GC_KT(dy),
                GC_KU32(GC_NS(dy)), GC_KT(dx), GC_KU32(GC_NS(dx)), GC_KT(save_mean), GC_KT(save_invstd), GC_KT(gamma),
                GC_KT(ws), GC_KU32(N), GC_KU32(C), GC_KU32(P), GC_KU32(bn->relu ? 1 : 0), GC_KU32(training ? 1 : 0),
                GC_KU32(accumulate_dx ? 1 : 0)));
cleanup:
  return st;
}

