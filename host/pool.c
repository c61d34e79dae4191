/* Max, average and global average pooling (kernels/pool.cl). */
#include "gc_layers.h"
#include "gc_ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { K_MAXPOOL_FWD, K_MAXPOOL_BWD, K_AVGPOOL_FWD, K_AVGPOOL_BWD, K_GAP_FWD, K_GAP_BWD, K_COUNT };
static const char *const k_names[K_COUNT] = {"maxpool_fwd", "maxpool_bwd", "avgpool_fwd", "avgpool_bwd", "gap_fwd", "gap_bwd"};
static const gc_kfamily fam = {GC_KF_POOL, "pool", K_COUNT, k_names};

/* ---- pooling ---- */

int gc_pool_out(const gc_pool *p, size_t h, size_t w, size_t *ho, size_t *wo) {
  if (p->kh < 1 || p->kw < 1 || p->sh < 1 || p->sw < 1 || p->ph < 0 || p->pw < 0 || 2 * p->ph > p->kh ||
      2 * p->pw > p->kw || (!p->max && p->ceil_mode))
    GC_FAIL(GC_ERR_ARG, "%s pool kernel %dx%d stride %dx%d pad %dx%d%s: invalid (padding at most half the kernel; "
            "ceil mode for max pooling only)", p->max ? "max" : "avg", p->kh, p->kw, p->sh, p->sw, p->ph, p->pw,
            p->ceil_mode ? " ceil" : "");
  size_t out[2];
  const size_t in[2] = {h, w};
  const int k[2] = {p->kh, p->kw}, s[2] = {p->sh, p->sw}, pd[2] = {p->ph, p->pw};
  for (int d = 0; d < 2; d++) {
    long span = (long)in[d] + 2L * pd[d] - k[d];
    if (span < 0) GC_FAIL(GC_ERR_ARG, "pool kernel %d larger than the padded input %zu", k[d], in[d]);
    long o = (p->ceil_mode ? (span + s[d] - 1) / s[d] : span / s[d]) + 1;
    /* as PyTorch: the last window must start inside the input or its left padding */
    if (p->ceil_mode && (o - 1) * s[d] >= (long)in[d] + pd[d]) o--;
    out[d] = (size_t)o;
  }
  *ho = out[0];
  *wo = out[1];
  return GC_OK;
}

int gc_pool_forward(gc_ctx *ctx, const gc_pool *p, const gc_tensor *x, const gc_tensor *y, const gc_tensor *arg) {
  int st = 0;
  const char *what = p->max ? "max pool forward" : "avg pool forward";
  size_t ho, wo;
  if (!x || x->ndim != 4) GC_FAIL(GC_ERR_ARG, "%s: x must be NCHW", what);
  size_t N = x->dim[0], C = x->dim[1], H = x->dim[2], W = x->dim[3];
  GC_TRY(gc_pool_out(p, H, W, &ho, &wo));
  GC_TRY(gc_need4(x, N, C, H, W, what, "x"));
  GC_TRY(gc_need4(y, N, C, ho, wo, what, "y"));
  if (p->max) {
    GC_TRY(gc_need_n(arg, N * C * ho * wo, what, "argmax"));
    GC_TRY(GC_LAUNCH(ctx, &fam, K_MAXPOOL_FWD, N * C * ho * wo, GC_KT(x), GC_KU32(GC_NS(x)), GC_KT(y), GC_KU32(GC_NS(y)),
                  GC_KT(arg), GC_KU32(N), GC_KU32(C), GC_KU32(H), GC_KU32(W), GC_KU32(ho), GC_KU32(wo), GC_KU32(p->kh),
                  GC_KU32(p->kw), GC_KU32(p->sh), GC_KU32(p->sw), GC_KU32(p->ph), GC_KU32(p->pw)));
  } else {
    GC_TRY(GC_LAUNCH(ctx, &fam, K_AVGPOOL_FWD, N * C * ho * wo, GC_KT(x), GC_KU32(GC_NS(x)), GC_KT(y), GC_KU32(GC_NS(y)),
                  GC_KU32(N), GC_KU32(C), GC_KU32(H), GC_KU32(W), GC_KU32(ho), GC_KU32(wo), GC_KU32(p->kh),
                  GC_KU32(p->kw), GC_KU32(p->sh), GC_KU32(p->sw), GC_KU32(p->ph), GC_KU32(p->pw)));
  }
cleanup:
  return st;
}

int gc_pool_backward(gc_ctx *ctx, const gc_pool *p, const gc_tensor *dy, const gc_tensor *arg, const gc_tensor *dx,
                     int accumulate_dx) {
  int st = 0;
  const char *what = p->max ? "max pool backward" : "avg pool backward";
  size_t ho, wo;
  if (!dx || dx->ndim != 4) GC_FAIL(GC_ERR_ARG, "%s: dx must be NCHW", what);
  size_t N = dx->dim[0], C = dx->dim[1], H = dx->dim[2], W = dx->dim[3];
  GC_TRY(gc_pool_out(p, H, W, &ho, &wo));
  GC_TRY(gc_need4(dx, N, C, H, W, what, "dx"));
  GC_TRY(gc_need4(dy, N, C, ho, wo, what, "dy"));
  if (p->max) {
    GC_TRY(gc_need_n(arg, N * C * ho * wo, what, "argmax"));
    GC_TRY(GC_LAUNCH(ctx, &fam, K_MAXPOOL_BWD, N * C * H * W, GC_KT(dy), GC_KU32(GC_NS(dy)), GC_KT(arg), GC_KT(dx),
                  GC_KU32(GC_NS(dx)), GC_KU32(accumulate_dx ? 1 : 0), GC_KU32(N), GC_KU32(C), GC_KU32(H), GC_KU32(W),
                  GC_KU32(ho), GC_KU32(wo), GC_KU32(p->kh), GC_KU32(p->kw), GC_KU32(p->sh), GC_KU32(p->sw),
                  GC_KU32(p->ph), GC_KU32(p->pw)));
  } else {
    GC_TRY(GC_LAUNCH(ctx, &fam, K_AVGPOOL_BWD, N * C * H * W, GC_KT(dy), GC_KU32(GC_NS(dy)), GC_KT(dx), GC_KU32(GC_NS(dx)),
                  GC_KU32(accumulate_dx ? 1 : 0), GC_KU32(N), GC_KU32(C), GC_KU32(H), GC_KU32(W), GC_KU32(ho),
                  GC_KU32(wo), GC_KU32(p->kh), GC_KU32(p->kw), GC_KU32(p->sh), GC_KU32(p->sw), GC_KU32(p->ph),
                  GC_KU32(p->pw)));
  }
cleanup:
  return st;
}

int gc_gap_forward(gc_ctx *ctx, const gc_tensor *x, const gc_tensor *y) {
  int st = 0;
  if (!x || x->ndim != 4) GC_FAIL(GC_ERR_ARG, "global avg pool: x must be NCHW");
  size_t N = x->dim[0], C = x->dim[1], P = x->dim[2] * x->dim[3];
  GC_TRY(gc_need4(x, N, C, x->dim[2], x->dim[3], "global avg pool", "x"));
  GC_TRY(gc_need_n(y, N * C, "global avg pool", "y"));
  GC_TRY(GC_LAUNCH(ctx, &fam, K_GAP_FWD, N * C, GC_KT(x), GC_KU32(GC_NS(x)), GC_KT(y), GC_KU32(N), GC_KU32(C), GC_KU32(P)));
cleanup:
  return st;
}

int gc_gap_backward(gc_ctx *ctx, const gc_tensor *dy, const gc_tensor *dx, int accumulate_dx) {
  int st = 0;
  if (!dx || dx->ndim != 4) GC_FAIL(GC_ERR_ARG, "global avg pool backward: dx must be NCHW");
  size_t N = dx->dim[0], C = dx->dim[1], P = dx->dim[2] * dx->dim[3];
  GC_TRY(gc_need4(dx, N, C, dx->dim[2], dx->dim[3], "global avg pool backward", "dx"));
  GC_TRY(gc_need_n(dy, N * C, "global avg pool backward", "dy"));
  GC_TRY(GC_LAUNCH(ctx, &fam, K_GAP_BWD, N * C * P, GC_KT(dy), GC_KT(dx), GC_KU32(GC_NS(dx)), GC_KU32(accumulate_dx ? 1 : 0),
                GC_KU32(N), GC_KU32(C), GC_KU32(P)));
cleanup:
  return st;
}

