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

/* the arguments of a forward and of a backward pass */
static int bn_fwd_check(const gc_bn *bn, const gc_tensor *x, const gc_tensor *y, const gc_tensor *gamma,
                        const gc_tensor *beta, const gc_tensor *run_mean, const gc_tensor *run_var,
                        const gc_tensor *save_mean, const gc_tensor *save_invstd, const char *what) {
  int st = 0;
  GC_TRY(bn_check(bn, x, y, what));
  size_t C = (size_t)bn->c;
  GC_TRY(gc_need_n(gamma, C, what, "gamma"));
  GC_TRY(gc_need_n(beta, C, what, "beta"));
  GC_TRY(gc_need_n(run_mean, C, what, "running_mean"));
  GC_TRY(gc_need_n(run_var, C, what, "running_var"));
  GC_TRY(gc_need_n(save_mean, C, what, "save_mean"));
  GC_TRY(gc_need_n(save_invstd, C, what, "save_invstd"));
cleanup:
  return st;
}

static int bn_bwd_check(const gc_bn *bn, const gc_tensor *x, const gc_tensor *y, const gc_tensor *dy,
                        const gc_tensor *dx, const gc_tensor *gamma, const gc_tensor *dgamma, const gc_tensor *dbeta,
                        const gc_tensor *save_mean, const gc_tensor *save_invstd, const gc_tensor *ws,
                        const char *what) {
  int st = 0;
  GC_TRY(bn_check(bn, x, y, what));
  size_t C = (size_t)bn->c, N = x->dim[0];
  GC_TRY(gc_need4(dy, N, C, x->dim[2], x->dim[3], what, "dy"));
  GC_TRY(gc_need4(dx, N, C, x->dim[2], x->dim[3], what, "dx"));
  GC_TRY(gc_need_n(gamma, C, what, "gamma"));
  GC_TRY(gc_need_n(dgamma, C, what, "dgamma"));
  GC_TRY(gc_need_n(dbeta, C, what, "dbeta"));
  GC_TRY(gc_need_n(save_mean, C, what, "save_mean"));
  GC_TRY(gc_need_n(save_invstd, C, what, "save_invstd"));
  GC_TRY(gc_need(ws, what, "workspace"));
  if (gc_tensor_numel(ws) < 2 * C) GC_FAIL_GOTO(GC_ERR_ARG, "%s: workspace needs %zu elements", what, 2 * C);
cleanup:
  return st;
}

int gc_bn_forward(gc_ctx *ctx, const gc_bn *bn, int training, const gc_tensor *x, const gc_tensor *y,
                  const gc_tensor *gamma, const gc_tensor *beta, const gc_tensor *run_mean, const gc_tensor *run_var,
                  const gc_tensor *save_mean, const gc_tensor *save_invstd) {
  int st = 0;
  const char *what = "batch norm forward";
  GC_TRY(bn_fwd_check(bn, x, y, gamma, beta, run_mean, run_var, save_mean, save_invstd, what));
  size_t C = (size_t)bn->c, N = x->dim[0], P = x->dim[2] * x->dim[3];
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
  GC_TRY(bn_bwd_check(bn, x, y, dy, dx, gamma, dgamma, dbeta, save_mean, save_invstd, ws, what));
  size_t C = (size_t)bn->c, N = x->dim[0], P = x->dim[2] * x->dim[3];
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


/* ---- synchronised across processes ---- */

static int sync_buffers(size_t n, int ranks, double **in, double **out, float **f) {
  *in = malloc(n * sizeof **in);
  *out = malloc(n * (size_t)ranks * sizeof **out);
  *f = malloc(n * sizeof **f);
  if (*in && *out && *f) return GC_OK;
  free(*in), free(*out), free(*f);
  *in = *out = NULL;
  *f = NULL;
  GC_FAIL(GC_ERR_HOST_MEM, "synchronised batch norm (%zu values)", n);
}

int gc_bn_forward_sync(gc_ctx *ctx, const gc_bn *bn, const gc_tensor *x, const gc_tensor *y, const gc_tensor *gamma,
                       const gc_tensor *beta, const gc_tensor *run_mean, const gc_tensor *run_var,
                       const gc_tensor *save_mean, const gc_tensor *save_invstd, const gc_tensor *ws,
                       const gc_bn_sync *sync) {
  int st = 0;
  const char *what = "synchronised batch norm forward";
  double *in = NULL, *all = NULL;
  float *f = NULL, *f2 = NULL;
  gc_tensor d0, d1;
  if (!sync || sync->ranks < 1 || !sync->gather) GC_FAIL_GOTO(GC_ERR_ARG, "%s: no processes to synchronise with", what);
  GC_TRY(bn_fwd_check(bn, x, y, gamma, beta, run_mean, run_var, save_mean, save_invstd, what));
  size_t C = (size_t)bn->c, N = x->dim[0], P = x->dim[2] * x->dim[3];
  GC_TRY(gc_need(ws, what, "workspace"));
  if (gc_tensor_numel(ws) < 2 * C) GC_FAIL_GOTO(GC_ERR_ARG, "%s: workspace needs %zu elements", what, 2 * C);
  /* this rank's mean and variance (momentum 0 on scratch running statistics: the real ones are updated
   * with the combined statistics below) */
  GC_TRY(gc_tensor_slice(ws, 0, C, &d0));
  GC_TRY(gc_tensor_slice(ws, C, C, &d1));
  GC_TRY(GC_LAUNCH_GROUPS(ctx, &fam, K_BN_STATS, C, GC_KT(x), GC_KU32(GC_NS(x)), GC_KU32(N), GC_KU32(P), GC_KT(save_mean),
                       GC_KT(save_invstd), GC_KT(&d0), GC_KT(&d1), GC_KF32(0.0f), GC_KF32(bn->eps)));
  const size_t n = 1 + 2 * C;
  GC_TRY(sync_buffers(n, sync->ranks, &in, &all, &f));
  f2 = malloc(C * sizeof *f2);
  if (!f2) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "%s", what);
  in[0] = (double)(N * P);
  GC_TRY(gc_tensor_read(ctx, save_mean, f, C));
  for (size_t c = 0; c < C; c++) in[1 + c] = f[c];
  GC_TRY(gc_tensor_read(ctx, save_invstd, f, C));
  for (size_t c = 0; c < C; c++) { /* M2 = n * var, var = 1 / invstd^2 - eps */
    double is = f[c], var = 1.0 / (is * is) - (double)bn->eps;
    in[1 + C + c] = in[0] * (var > 0 ? var : 0.0);
  }
  GC_TRY(sync->gather(sync->user, in, all, (int)n));
  GC_TRY(gc_tensor_read(ctx, run_mean, f, C));
  GC_TRY(gc_tensor_read(ctx, run_var, f2, C));
  float *mean = malloc(2 * C * sizeof *mean);
  if (!mean) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "%s", what);
  float *invstd = mean + C;
  for (size_t c = 0; c < C; c++) {
    double cnt = 0, mu = 0, m2 = 0;
    for (int r = 0; r < sync->ranks; r++) { /* Chan et al.: pairwise, in rank order */
      const double *g = all + (size_t)r * n;
      double nr = g[0], d = g[1 + c] - mu, tot = cnt + nr;
      if (nr <= 0) continue;
      mu += d * nr / tot;
      m2 += g[1 + C + c] + d * d * cnt * nr / tot;
      cnt = tot;
    }
    float var = (float)(m2 / cnt), unbiased = cnt > 1 ? (float)(m2 / (cnt - 1)) : var, muf = (float)mu;
    mean[c] = muf;
    invstd[c] = 1.0f / sqrtf(var + bn->eps);
    f[c] = (1.0f - bn->momentum) * f[c] + bn->momentum * muf; /* as bn_stats updates them */
    f2[c] = (1.0f - bn->momentum) * f2[c] + bn->momentum * unbiased;
  }
  st = gc_tensor_write(ctx, save_mean, mean, C);
  if (!st) st = gc_tensor_write(ctx, save_invstd, invstd, C);
  if (!st) st = gc_tensor_write(ctx, run_mean, f, C);
  if (!st) st = gc_tensor_write(ctx, run_var, f2, C);
  free(mean);
  if (st) goto cleanup;
  GC_TRY(GC_LAUNCH(ctx, &fam, K_BN_FWD, N * C * P, GC_KT(x), GC_KU32(GC_NS(x)), GC_KT(y), GC_KU32(GC_NS(y)), GC_KT(save_mean),
                GC_KT(save_invstd), GC_KT(gamma), GC_KT(beta), GC_KU32(N), GC_KU32(C), GC_KU32(P),
                GC_KU32(bn->relu ? 1 : 0)));
cleanup:
  free(in), free(all), free(f), free(f2);
  return st;
}

int gc_bn_backward_sync(gc_ctx *ctx, const gc_bn *bn, const gc_tensor *x, const gc_tensor *y, const gc_tensor *dy,
                        const gc_tensor *dx, int accumulate_dx, const gc_tensor *gamma, const gc_tensor *dgamma,
                        const gc_tensor *dbeta, const gc_tensor *save_mean, const gc_tensor *save_invstd,
                        const gc_tensor *ws, const gc_bn_sync *sync) {
  int st = 0;
  const char *what = "synchronised batch norm backward";
  double *in = NULL, *all = NULL;
  float *f = NULL;
  gc_tensor sums;
  if (!sync || sync->ranks < 1 || !sync->gather || !sync->weights)
    GC_FAIL_GOTO(GC_ERR_ARG, "%s: no processes or weights to synchronise with", what);
  GC_TRY(bn_bwd_check(bn, x, y, dy, dx, gamma, dgamma, dbeta, save_mean, save_invstd, ws, what));
  size_t C = (size_t)bn->c, N = x->dim[0], P = x->dim[2] * x->dim[3];
  GC_TRY(GC_LAUNCH_GROUPS(ctx, &fam, K_BN_BWD_REDUCE, C, GC_KT(x), GC_KU32(GC_NS(x)), GC_KT(y), GC_KU32(GC_NS(y)), GC_KT(dy),
                       GC_KU32(GC_NS(dy)), GC_KT(save_mean), GC_KT(save_invstd), GC_KU32(N), GC_KU32(C), GC_KU32(P),
                       GC_KU32(bn->relu ? 1 : 0), GC_KT(ws), GC_KT(dgamma), GC_KT(dbeta)));
  /* the kernel divides the sums by this rank's count: sum_q w_q S_q is the whole batch's mean times it
   * (each rank's dy is its own loss mean's; w_q = its images over all) */
  const size_t n = 2 * C;
  GC_TRY(sync_buffers(n, sync->ranks, &in, &all, &f));
  GC_TRY(gc_tensor_slice(ws, 0, n, &sums));
  GC_TRY(gc_tensor_read(ctx, &sums, f, n));
  for (size_t i = 0; i < n; i++) in[i] = f[i];
  GC_TRY(sync->gather(sync->user, in, all, (int)n));
  for (size_t i = 0; i < n; i++) {
    double acc = 0;
    for (int r = 0; r < sync->ranks; r++) acc += sync->weights[r] * all[(size_t)r * n + i];
    f[i] = (float)acc;
  }
  GC_TRY(gc_tensor_write(ctx, &sums, f, n));
  GC_TRY(GC_LAUNCH(ctx, &fam, K_BN_BWD_DX, N * C * P, GC_KT(x), GC_KU32(GC_NS(x)), GC_KT(y), GC_KU32(GC_NS(y)), GC_KT(dy),
                GC_KU32(GC_NS(dy)), GC_KT(dx), GC_KU32(GC_NS(dx)), GC_KT(save_mean), GC_KT(save_invstd), GC_KT(gamma),
                GC_KT(ws), GC_KU32(N), GC_KU32(C), GC_KU32(P), GC_KU32(bn->relu ? 1 : 0), GC_KU32(1),
                GC_KU32(accumulate_dx ? 1 : 0)));
cleanup:
  free(in), free(all), free(f);
  return st;
}
