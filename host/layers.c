/* Layers on the device (see gc_layers.h for the contract). */
#include "gc_layers.h"

#include "gc_blas.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- argument checks shared by every layer ---- */

static int need(const gc_tensor *t, const char *layer, const char *name) {
  if (!t || !t->arena || !t->arena->buf) GC_FAIL(GC_ERR_ARG, "%s: %s is not a tensor in an allocated arena", layer, name);
  size_t span = gc_tensor_span(t);
  if (t->offset + span > t->arena->capacity)
    GC_FAIL(GC_ERR_ARG, "%s: %s spans [%zu, +%zu) beyond arena '%s' (%zu elements)", layer, name, t->offset, span,
            t->arena->name, t->arena->capacity);
  if (span > UINT_MAX) GC_FAIL(GC_ERR_ARG, "%s: %s has %zu elements (at most %u)", layer, name, span, UINT_MAX);
  return GC_OK;
}

static int need4(const gc_tensor *t, size_t n, size_t c, size_t h, size_t w, const char *layer, const char *name) {
  char s[96];
  int st = need(t, layer, name);
  if (st) return st;
  if (t->ndim != 4 || t->dim[0] != n || t->dim[1] != c || t->dim[2] != h || t->dim[3] != w)
    GC_FAIL(GC_ERR_ARG, "%s: %s is %s, expected %zux%zux%zux%zu", layer, name, gc_shape_str(t, s, sizeof s), n, c, h, w);
  return GC_OK;
}

static int need_n(const gc_tensor *t, size_t n, const char *layer, const char *name) {
  char s[96];
  int st = need(t, layer, name);
  if (st) return st;
  if (gc_tensor_numel(t) != n || !gc_tensor_dense(t))
    GC_FAIL(GC_ERR_ARG, "%s: %s is %s (%zu elements%s), expected %zu dense elements", layer, name,
            gc_shape_str(t, s, sizeof s), gc_tensor_numel(t), gc_tensor_dense(t) ? "" : ", strided", n);
  return GC_OK;
}

#define NS(t) ((cl_uint)gc_tensor_nstride(t))

/* Work-items for a kernel that runs one item per element, or one per row of `row` elements on CPU
 * devices (GC_ROWS, set by the program builder). */
static size_t items(const gc_ctx *ctx, size_t elements, size_t row) {
  return (ctx->dev.type & CL_DEVICE_TYPE_CPU) ? elements / row : elements;
}

/* ---- convolution ---- */

int gc_conv_out(const gc_conv *c, size_t h, size_t w, size_t *ho, size_t *wo) {
  if (c->c_in < 1 || c->c_out < 1 || c->kh < 1 || c->kw < 1 || c->sh < 1 || c->sw < 1 || c->ph < 0 || c->pw < 0 ||
      c->dh < 1 || c->dw < 1)
    GC_FAIL(GC_ERR_ARG, "conv %d->%d kernel %dx%d stride %dx%d pad %dx%d dilation %dx%d: invalid", c->c_in, c->c_out,
            c->kh, c->kw, c->sh, c->sw, c->ph, c->pw, c->dh, c->dw);
  long eh = (long)h + 2L * c->ph - (long)c->dh * (c->kh - 1) - 1;
  long ew = (long)w + 2L * c->pw - (long)c->dw * (c->kw - 1) - 1;
  if (eh < 0 || ew < 0)
    GC_FAIL(GC_ERR_ARG, "conv kernel %dx%d (dilation %d) does not fit a %zux%zu input with padding %d", c->kh, c->kw,
            c->dh, h, w, c->ph);
  *ho = (size_t)(eh / c->sh + 1);
  *wo = (size_t)(ew / c->sw + 1);
  return GC_OK;
}

typedef struct conv_plan {
  size_t ho, wo, P, K;
  size_t chunk; /* images per chunk */
  size_t gi;    /* images per partial of the split weight-gradient reduction */
  size_t G;     /* partials per chunk */
  size_t col, yt, part; /* workspace offsets */
  size_t total;
} conv_plan;


static int conv_plan_make(const gc_ctx *ctx, const gc_conv *c, size_t n, size_t h, size_t w, conv_plan *p) {
  memset(p, 0, sizeof *p);
  int st = gc_conv_out(c, h, w, &p->ho, &p->wo);
  if (st) return st;
  p->P = p->ho * p->wo;
  p->K = (size_t)c->c_in * c->kh * c->kw;
  size_t per_image = (p->K + (size_t)c->c_out) * p->P;
  size_t chunk = ctx->conv_ws_limit / (per_image ? per_image : 1);
  if (chunk < 1) chunk = 1;
  if (chunk > n) chunk = n;
  if (chunk < 1) chunk = 1;
  p->chunk = chunk;
  /* the reduction length of one weight-gradient partial (ctx->conv_wgrad_split): long enough to keep a
   * GEMM busy, short enough that a chunk of a large batch splits into partials run as one batched call */
  size_t split = ctx->conv_wgrad_split ? ctx->conv_wgrad_split : 4096;
  p->gi = (split + p->P - 1) / p->P;
  if (p->gi > chunk) p->gi = chunk;
  p->G = (chunk + p->gi - 1) / p->gi;
  p->col = 0;
  p->yt = chunk * p->K * p->P;
  p->part = p->yt + chunk * (size_t)c->c_out * p->P;
  p->total = p->part + (p->G > 1 ? p->G * (size_t)c->c_out * p->K : 0);
  return GC_OK;
}

size_t gc_conv_workspace(const gc_ctx *ctx, const gc_conv *c, size_t n, size_t h, size_t w) {
  conv_plan p;
  if (conv_plan_make(ctx, c, n, h, w, &p)) return 0;
  return p.total;
}

static int is_pointwise(const gc_conv *c) {
  return c->kh == 1 && c->kw == 1 && c->sh == 1 && c->sw == 1 && c->ph == 0 && c->pw == 0;
}

static int conv_check(gc_ctx *ctx, const gc_conv *c, const gc_tensor *x, const gc_tensor *w, const gc_tensor *b,
                      const gc_tensor *y_or_dy, const gc_tensor *ws, conv_plan *p, const char *what) {
  int st = 0;
  if (!x || x->ndim != 4) GC_FAIL(GC_ERR_ARG, "%s: x must be a 4-D NCHW tensor", what);
  size_t n = x->dim[0], h = x->dim[2], wd = x->dim[3];
  GC_TRY(conv_plan_make(ctx, c, n, h, wd, p));
  GC_TRY(need4(x, n, (size_t)c->c_in, h, wd, what, "x"));
  GC_TRY(need_n(w, (size_t)c->c_out * p->K, what, "w"));
  if (c->bias && b) GC_TRY(need_n(b, (size_t)c->c_out, what, "bias"));
  GC_TRY(need4(y_or_dy, n, (size_t)c->c_out, p->ho, p->wo, what, "y/dy"));
  GC_TRY(need(ws, what, "workspace"));
  if (gc_tensor_numel(ws) < p->total)
    GC_FAIL(GC_ERR_ARG, "%s: workspace has %zu elements, needs %zu (gc_conv_workspace)", what, gc_tensor_numel(ws),
            p->total);
cleanup:
  return st;
}

static int im2col(gc_ctx *ctx, const gc_conv *c, const conv_plan *p, const gc_tensor *x, size_t b0, size_t bc,
                  const gc_tensor *ws, size_t col_ks, size_t col_bs) {
  size_t H = x->dim[2], W = x->dim[3];
  return GC_RUN(ctx, "conv", "conv_im2col", items(ctx, p->K * bc * p->P, p->wo), GC_KMEM(x->arena->buf),
                GC_KU64(x->offset + b0 * gc_tensor_nstride(x)), GC_KU32(NS(x)), GC_KMEM(ws->arena->buf),
                GC_KU64(ws->offset + p->col), GC_KU32(col_ks), GC_KU32(col_bs), GC_KU32(bc), GC_KU32(c->c_in),
                GC_KU32(H), GC_KU32(W), GC_KU32(c->kh), GC_KU32(c->kw), GC_KU32(c->sh), GC_KU32(c->sw), GC_KU32(c->ph),
                GC_KU32(c->pw), GC_KU32(c->dh), GC_KU32(c->dw), GC_KU32(p->ho), GC_KU32(p->wo));
}

int gc_conv_forward(gc_ctx *ctx, const gc_conv *c, const gc_tensor *x, const gc_tensor *w, const gc_tensor *b,
                    const gc_tensor *y, const gc_tensor *ws) {
  int st = 0;
  conv_plan p;
  GC_TRY(conv_check(ctx, c, x, w, b, y, ws, &p, "conv forward"));
  if (c->bias && !b) GC_FAIL(GC_ERR_ARG, "conv forward: the layer has a bias but none was given");
  size_t n = x->dim[0], Co = (size_t)c->c_out;
  for (size_t b0 = 0; b0 < n; b0 += p.chunk) {
    size_t bc = n - b0 < p.chunk ? n - b0 : p.chunk;
    int batched = ctx->conv_fwd_algo == GC_CONV_FWD_BATCHED || (ctx->conv_fwd_algo == GC_CONV_FWD_AUTO && p.P >= 64);
    if (batched || is_pointwise(c)) {
      /* y_b = W * col_b for each image; a 1x1 stride-1 convolution reads x itself (no im2col) */
      gc_mat B;
      if (is_pointwise(c)) {
        B = (gc_mat){x, b0 * gc_tensor_nstride(x), p.P, gc_tensor_nstride(x)};
      } else {
        GC_TRY(im2col(ctx, c, &p, x, b0, bc, ws, p.P, p.K * p.P));
        B = (gc_mat){ws, p.col, p.P, p.K * p.P};
      }
      gc_gemm_args g = {GC_ROW_MAJOR, 0, 0, Co, p.P, p.K, 1.0f, 0.0f, {w, 0, p.K, 0}, B,
                        {y, b0 * gc_tensor_nstride(y), p.P, gc_tensor_nstride(y)}, bc};
      GC_TRY(gc_gemm(ctx, &g));
      if (c->bias)
        GC_TRY(GC_RUN(ctx, "conv", "conv_bias_add", bc * Co * p.P, GC_KMEM(y->arena->buf),
                      GC_KU64(y->offset + b0 * gc_tensor_nstride(y)), GC_KU32(NS(y)), GC_KT(b), GC_KU32(bc),
                      GC_KU32(Co), GC_KU32(p.P)));
    } else {
      /* one GEMM over the chunk: yt (Co, bc*P) = W (Co, K) * col (K, bc*P), then NCHW (+ bias) */
      size_t L = bc * p.P;
      GC_TRY(im2col(ctx, c, &p, x, b0, bc, ws, L, p.P));
      gc_gemm_args g = {GC_ROW_MAJOR, 0, 0, Co, L, p.K, 1.0f, 0.0f, {w, 0, p.K, 0}, {ws, p.col, L, 0},
                        {ws, p.yt, L, 0}, 1};
      GC_TRY(gc_gemm(ctx, &g));
      const gc_tensor *bias = c->bias ? b : w; /* any valid buffer when there is no bias */
      GC_TRY(GC_RUN(ctx, "conv", "conv_cnhw_to_nchw", items(ctx, bc * Co * p.P, p.P), GC_KMEM(ws->arena->buf),
                    GC_KU64(ws->offset + p.yt), GC_KMEM(y->arena->buf), GC_KU64(y->offset + b0 * gc_tensor_nstride(y)),
                    GC_KU32(NS(y)), GC_KT(bias), GC_KU32(c->bias ? 1 : 0), GC_KU32(bc), GC_KU32(Co), GC_KU32(p.P)));
    }
  }
cleanup:
  if (st) gc_error_prefix(st, "conv %d->%d %dx%d/%d: ", c->c_in, c->c_out, c->kh, c->kw, c->sh);
  return st;
}

int gc_conv_backward(gc_ctx *ctx, const gc_conv *c, const gc_tensor *x, const gc_tensor *w, const gc_tensor *dy,
                     const gc_tensor *dx, int accumulate_dx, const gc_tensor *dw, const gc_tensor *db,
                     const gc_tensor *ws) {
  int st = 0;
  conv_plan p;
  GC_TRY(conv_check(ctx, c, x, w, db, dy, ws, &p, "conv backward"));
  GC_TRY(need_n(dw, (size_t)c->c_out * p.K, "conv backward", "dw"));
  if (dx) GC_TRY(need4(dx, x->dim[0], (size_t)c->c_in, x->dim[2], x->dim[3], "conv backward", "dx"));
  size_t n = x->dim[0], Co = (size_t)c->c_out, CK = Co * p.K;
  for (size_t b0 = 0; b0 < n; b0 += p.chunk) {
    size_t bc = n - b0 < p.chunk ? n - b0 : p.chunk, L = bc * p.P;
    /* dyt (Co, L): the chunk's output gradient as one matrix */
    GC_TRY(GC_RUN(ctx, "conv", "conv_nchw_to_cnhw", items(ctx, bc * Co * p.P, p.P), GC_KMEM(dy->arena->buf),
                  GC_KU64(dy->offset + b0 * gc_tensor_nstride(dy)), GC_KU32(NS(dy)), GC_KMEM(ws->arena->buf),
                  GC_KU64(ws->offset + p.yt), GC_KU32(bc), GC_KU32(Co), GC_KU32(p.P)));
    if (c->bias && db)
      GC_TRY(GC_RUN_GROUPS(ctx, "conv", "rows_sum_acc", Co, GC_KMEM(ws->arena->buf), GC_KU64(ws->offset + p.yt),
                           GC_KU32(L), GC_KU32(L), GC_KT(db)));
    /* col (K, L) */
    GC_TRY(im2col(ctx, c, &p, x, b0, bc, ws, L, p.P));
    /* dw += dyt * col^T, the reduction over L split into partials of gi images, summed in a fixed order */
    size_t Lg = p.gi * p.P, nf = bc / p.gi, rem = bc % p.gi, G = nf + (rem ? 1 : 0);
    if (G == 1) {
      gc_gemm_args g = {GC_ROW_MAJOR, 0, 1, Co, p.K, L, 1.0f, 1.0f, {ws, p.yt, L, 0}, {ws, p.col, L, 0},
                        {dw, 0, p.K, 0}, 1};
      GC_TRY(gc_gemm(ctx, &g));
    } else {
      if (nf > 0) {
        gc_gemm_args g = {GC_ROW_MAJOR, 0, 1, Co, p.K, Lg, 1.0f, 0.0f, {ws, p.yt, L, Lg}, {ws, p.col, L, Lg},
                          {ws, p.part, p.K, CK}, nf};
        GC_TRY(gc_gemm(ctx, &g));
      }
      if (rem) {
        gc_gemm_args g = {GC_ROW_MAJOR, 0, 1, Co, p.K, rem * p.P, 1.0f, 0.0f, {ws, p.yt + nf * Lg, L, 0},
                          {ws, p.col + nf * Lg, L, 0}, {ws, p.part + nf * CK, p.K, 0}, 1};
        GC_TRY(gc_gemm(ctx, &g));
      }
      GC_TRY(GC_RUN(ctx, "conv", "conv_sum_partials", CK, GC_KMEM(ws->arena->buf), GC_KU64(ws->offset + p.part),
                    GC_KU32(G), GC_KU32(CK), GC_KT(dw)));
    }
    if (dx) {
      /* dcol (K, L) = W^T * dyt, into the col buffer (no longer needed), then col2im */
      gc_gemm_args g = {GC_ROW_MAJOR, 1, 0, p.K, L, Co, 1.0f, 0.0f, {w, 0, p.K, 0}, {ws, p.yt, L, 0},
                        {ws, p.col, L, 0}, 1};
      GC_TRY(gc_gemm(ctx, &g));
      GC_TRY(GC_RUN(ctx, "conv", "conv_col2im", items(ctx, bc * (size_t)c->c_in * x->dim[2] * x->dim[3], x->dim[3]),
                    GC_KMEM(ws->arena->buf),
                    GC_KU64(ws->offset + p.col), GC_KU32(L), GC_KU32(p.P), GC_KMEM(dx->arena->buf),
                    GC_KU64(dx->offset + b0 * gc_tensor_nstride(dx)), GC_KU32(NS(dx)), GC_KU32(accumulate_dx ? 1 : 0),
                    GC_KU32(bc), GC_KU32(c->c_in), GC_KU32(x->dim[2]), GC_KU32(x->dim[3]), GC_KU32(c->kh),
                    GC_KU32(c->kw), GC_KU32(c->sh), GC_KU32(c->sw), GC_KU32(c->ph), GC_KU32(c->pw), GC_KU32(c->dh),
                    GC_KU32(c->dw), GC_KU32(p.ho), GC_KU32(p.wo)));
    }
  }
cleanup:
  if (st) gc_error_prefix(st, "conv %d->%d %dx%d/%d backward: ", c->c_in, c->c_out, c->kh, c->kw, c->sh);
  return st;
}

/* ---- batch norm ---- */

static int bn_check(const gc_bn *bn, const gc_tensor *x, const gc_tensor *y, const char *what) {
  int st = 0;
  if (bn->c < 1 || !(bn->eps > 0.0f)) GC_FAIL(GC_ERR_ARG, "%s: %d channels, eps %g", what, bn->c, bn->eps);
  if (!x || x->ndim != 4) GC_FAIL(GC_ERR_ARG, "%s: x must be NCHW", what);
  GC_TRY(need4(x, x->dim[0], (size_t)bn->c, x->dim[2], x->dim[3], what, "x"));
  GC_TRY(need4(y, x->dim[0], (size_t)bn->c, x->dim[2], x->dim[3], what, "y"));
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
  GC_TRY(need_n(gamma, C, what, "gamma"));
  GC_TRY(need_n(beta, C, what, "beta"));
  GC_TRY(need_n(run_mean, C, what, "running_mean"));
  GC_TRY(need_n(run_var, C, what, "running_var"));
  GC_TRY(need_n(save_mean, C, what, "save_mean"));
  GC_TRY(need_n(save_invstd, C, what, "save_invstd"));
  if (training) {
    if (N * P < 2) GC_FAIL_GOTO(GC_ERR_ARG, "%s: training statistics need more than one value per channel", what);
    GC_TRY(GC_RUN_GROUPS(ctx, "bnorm", "bn_stats", C, GC_KT(x), GC_KU32(NS(x)), GC_KU32(N), GC_KU32(P), GC_KT(save_mean),
                         GC_KT(save_invstd), GC_KT(run_mean), GC_KT(run_var), GC_KF32(bn->momentum), GC_KF32(bn->eps)));
  } else {
    GC_TRY(GC_RUN(ctx, "bnorm", "bn_infer_params", C, GC_KT(run_mean), GC_KT(run_var), GC_KU32(C), GC_KF32(bn->eps),
                  GC_KT(save_mean), GC_KT(save_invstd)));
  }
  GC_TRY(GC_RUN(ctx, "bnorm", "bn_fwd", N * C * P, GC_KT(x), GC_KU32(NS(x)), GC_KT(y), GC_KU32(NS(y)), GC_KT(save_mean),
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
  GC_TRY(need4(dy, N, C, x->dim[2], x->dim[3], what, "dy"));
  GC_TRY(need4(dx, N, C, x->dim[2], x->dim[3], what, "dx"));
  GC_TRY(need_n(gamma, C, what, "gamma"));
  GC_TRY(need_n(dgamma, C, what, "dgamma"));
  GC_TRY(need_n(dbeta, C, what, "dbeta"));
  GC_TRY(need_n(save_mean, C, what, "save_mean"));
  GC_TRY(need_n(save_invstd, C, what, "save_invstd"));
  GC_TRY(need(ws, what, "workspace"));
  if (gc_tensor_numel(ws) < 2 * C) GC_FAIL_GOTO(GC_ERR_ARG, "%s: workspace needs %zu elements", what, 2 * C);
  GC_TRY(GC_RUN_GROUPS(ctx, "bnorm", "bn_bwd_reduce", C, GC_KT(x), GC_KU32(NS(x)), GC_KT(y), GC_KU32(NS(y)), GC_KT(dy),
                       GC_KU32(NS(dy)), GC_KT(save_mean), GC_KT(save_invstd), GC_KU32(N), GC_KU32(C), GC_KU32(P),
                       GC_KU32(bn->relu ? 1 : 0), GC_KT(ws), GC_KT(dgamma), GC_KT(dbeta)));
  GC_TRY(GC_RUN(ctx, "bnorm", "bn_bwd_dx", N * C * P, GC_KT(x), GC_KU32(NS(x)), GC_KT(y), GC_KU32(NS(y)), GC_KT(dy),
                GC_KU32(NS(dy)), GC_KT(dx), GC_KU32(NS(dx)), GC_KT(save_mean), GC_KT(save_invstd), GC_KT(gamma),
                GC_KT(ws), GC_KU32(N), GC_KU32(C), GC_KU32(P), GC_KU32(bn->relu ? 1 : 0), GC_KU32(training ? 1 : 0),
                GC_KU32(accumulate_dx ? 1 : 0)));
cleanup:
  return st;
}

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
  GC_TRY(need4(x, N, C, H, W, what, "x"));
  GC_TRY(need4(y, N, C, ho, wo, what, "y"));
  if (p->max) {
    GC_TRY(need_n(arg, N * C * ho * wo, what, "argmax"));
    GC_TRY(GC_RUN(ctx, "pool", "maxpool_fwd", N * C * ho * wo, GC_KT(x), GC_KU32(NS(x)), GC_KT(y), GC_KU32(NS(y)),
                  GC_KT(arg), GC_KU32(N), GC_KU32(C), GC_KU32(H), GC_KU32(W), GC_KU32(ho), GC_KU32(wo), GC_KU32(p->kh),
                  GC_KU32(p->kw), GC_KU32(p->sh), GC_KU32(p->sw), GC_KU32(p->ph), GC_KU32(p->pw)));
  } else {
    GC_TRY(GC_RUN(ctx, "pool", "avgpool_fwd", N * C * ho * wo, GC_KT(x), GC_KU32(NS(x)), GC_KT(y), GC_KU32(NS(y)),
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
  GC_TRY(need4(dx, N, C, H, W, what, "dx"));
  GC_TRY(need4(dy, N, C, ho, wo, what, "dy"));
  if (p->max) {
    GC_TRY(need_n(arg, N * C * ho * wo, what, "argmax"));
    GC_TRY(GC_RUN(ctx, "pool", "maxpool_bwd", N * C * H * W, GC_KT(dy), GC_KU32(NS(dy)), GC_KT(arg), GC_KT(dx),
                  GC_KU32(NS(dx)), GC_KU32(accumulate_dx ? 1 : 0), GC_KU32(N), GC_KU32(C), GC_KU32(H), GC_KU32(W),
                  GC_KU32(ho), GC_KU32(wo), GC_KU32(p->kh), GC_KU32(p->kw), GC_KU32(p->sh), GC_KU32(p->sw),
                  GC_KU32(p->ph), GC_KU32(p->pw)));
  } else {
    GC_TRY(GC_RUN(ctx, "pool", "avgpool_bwd", N * C * H * W, GC_KT(dy), GC_KU32(NS(dy)), GC_KT(dx), GC_KU32(NS(dx)),
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
  GC_TRY(need4(x, N, C, x->dim[2], x->dim[3], "global avg pool", "x"));
  GC_TRY(need_n(y, N * C, "global avg pool", "y"));
  GC_TRY(GC_RUN(ctx, "pool", "gap_fwd", N * C, GC_KT(x), GC_KU32(NS(x)), GC_KT(y), GC_KU32(N), GC_KU32(C), GC_KU32(P)));
cleanup:
  return st;
}

int gc_gap_backward(gc_ctx *ctx, const gc_tensor *dy, const gc_tensor *dx, int accumulate_dx) {
  int st = 0;
  if (!dx || dx->ndim != 4) GC_FAIL(GC_ERR_ARG, "global avg pool backward: dx must be NCHW");
  size_t N = dx->dim[0], C = dx->dim[1], P = dx->dim[2] * dx->dim[3];
  GC_TRY(need4(dx, N, C, dx->dim[2], dx->dim[3], "global avg pool backward", "dx"));
  GC_TRY(need_n(dy, N * C, "global avg pool backward", "dy"));
  GC_TRY(GC_RUN(ctx, "pool", "gap_bwd", N * C * P, GC_KT(dy), GC_KT(dx), GC_KU32(NS(dx)), GC_KU32(accumulate_dx ? 1 : 0),
                GC_KU32(N), GC_KU32(C), GC_KU32(P)));
cleanup:
  return st;
}

/* ---- element-wise ---- */

static int same_dense(const gc_tensor *a, const gc_tensor *b, const char *what, const char *na, const char *nb) {
  int st = need(a, what, na);
  if (!st) st = need_n(b, gc_tensor_numel(a), what, nb);
  if (!st && !gc_tensor_dense(a)) GC_FAIL(GC_ERR_ARG, "%s: %s must be dense", what, na);
  return st;
}

int gc_relu_forward(gc_ctx *ctx, const gc_tensor *x, const gc_tensor *y) {
  int st = 0;
  GC_TRY(same_dense(x, y, "relu", "x", "y"));
  GC_TRY(GC_RUN(ctx, "act", "relu_fwd", gc_tensor_numel(x), GC_KT(x), GC_KT(y), GC_KU32(gc_tensor_numel(x))));
cleanup:
  return st;
}

int gc_relu_backward(gc_ctx *ctx, const gc_tensor *y, const gc_tensor *dy, const gc_tensor *dx, int accumulate_dx) {
  int st = 0;
  GC_TRY(same_dense(y, dy, "relu backward", "y", "dy"));
  GC_TRY(same_dense(y, dx, "relu backward", "y", "dx"));
  size_t n = gc_tensor_numel(y);
  GC_TRY(GC_RUN(ctx, "act", "relu_bwd", n, GC_KT(y), GC_KT(dy), GC_KT(dx), GC_KU32(n), GC_KU32(accumulate_dx ? 1 : 0)));
cleanup:
  return st;
}

int gc_sigmoid_forward(gc_ctx *ctx, const gc_tensor *x, const gc_tensor *y) {
  int st = 0;
  GC_TRY(same_dense(x, y, "sigmoid", "x", "y"));
  GC_TRY(GC_RUN(ctx, "act", "sigmoid_fwd", gc_tensor_numel(x), GC_KT(x), GC_KT(y), GC_KU32(gc_tensor_numel(x))));
cleanup:
  return st;
}

int gc_sigmoid_backward(gc_ctx *ctx, const gc_tensor *y, const gc_tensor *dy, const gc_tensor *dx, int accumulate_dx) {
  int st = 0;
  GC_TRY(same_dense(y, dy, "sigmoid backward", "y", "dy"));
  GC_TRY(same_dense(y, dx, "sigmoid backward", "y", "dx"));
  size_t n = gc_tensor_numel(y);
  GC_TRY(GC_RUN(ctx, "act", "sigmoid_bwd", n, GC_KT(y), GC_KT(dy), GC_KT(dx), GC_KU32(n),
                GC_KU32(accumulate_dx ? 1 : 0)));
cleanup:
  return st;
}

int gc_add_forward(gc_ctx *ctx, const gc_tensor *a, const gc_tensor *b, const gc_tensor *y, int relu) {
  int st = 0;
  GC_TRY(same_dense(a, b, "add", "a", "b"));
  GC_TRY(same_dense(a, y, "add", "a", "y"));
  size_t n = gc_tensor_numel(a);
  GC_TRY(GC_RUN(ctx, "act", "add_fwd", n, GC_KT(a), GC_KT(b), GC_KT(y), GC_KU32(n), GC_KU32(relu ? 1 : 0)));
cleanup:
  return st;
}

int gc_chscale_forward(gc_ctx *ctx, const gc_tensor *x, const gc_tensor *s, const gc_tensor *y) {
  int st = 0;
  if (!x || x->ndim != 4) GC_FAIL(GC_ERR_ARG, "channel scale: x must be NCHW");
  size_t N = x->dim[0], C = x->dim[1], P = x->dim[2] * x->dim[3];
  GC_TRY(same_dense(x, y, "channel scale", "x", "y"));
  GC_TRY(need_n(s, N * C, "channel scale", "s"));
  GC_TRY(GC_RUN(ctx, "act", "chscale_fwd", N * C * P, GC_KT(x), GC_KT(s), GC_KT(y), GC_KU32(N), GC_KU32(C), GC_KU32(P)));
cleanup:
  return st;
}

int gc_chscale_backward(gc_ctx *ctx, const gc_tensor *x, const gc_tensor *s, const gc_tensor *dy, const gc_tensor *dx,
                        int accumulate_dx, const gc_tensor *ds, int accumulate_ds) {
  int st = 0;
  if (!x || x->ndim != 4) GC_FAIL(GC_ERR_ARG, "channel scale backward: x must be NCHW");
  size_t N = x->dim[0], C = x->dim[1], P = x->dim[2] * x->dim[3];
  GC_TRY(same_dense(x, dy, "channel scale backward", "x", "dy"));
  GC_TRY(same_dense(x, dx, "channel scale backward", "x", "dx"));
  GC_TRY(need_n(s, N * C, "channel scale backward", "s"));
  GC_TRY(need_n(ds, N * C, "channel scale backward", "ds"));
  GC_TRY(GC_RUN(ctx, "act", "chscale_bwd_x", N * C * P, GC_KT(dy), GC_KT(s), GC_KT(dx), GC_KU32(N), GC_KU32(C),
                GC_KU32(P), GC_KU32(accumulate_dx ? 1 : 0)));
  GC_TRY(GC_RUN(ctx, "act", "chscale_bwd_s", N * C, GC_KT(dy), GC_KT(x), GC_KT(ds), GC_KU32(N * C), GC_KU32(P),
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
  GC_TRY(need_n(x, N * IN, "linear", "x"));
  GC_TRY(need_n(y, N * OUT, "linear", "y"));
  gc_gemm_args g = {GC_ROW_MAJOR, 0, 1, N, OUT, IN, 1.0f, 0.0f, {x, 0, IN, 0}, {w, 0, IN, 0}, {y, 0, OUT, 0}, 1};
  GC_TRY(gc_gemm(ctx, &g));
  if (b) {
    GC_TRY(need_n(b, OUT, "linear", "bias"));
    GC_TRY(GC_RUN(ctx, "act", "bias_rows", N * OUT, GC_KT(y), GC_KT(b), GC_KU32(N), GC_KU32(OUT)));
  }
cleanup:
  return st;
}

int gc_linear_backward(gc_ctx *ctx, const gc_tensor *x, const gc_tensor *w, const gc_tensor *dy, const gc_tensor *dx,
                       int accumulate_dx, const gc_tensor *dw, const gc_tensor *db) {
  int st = 0;
  size_t N = 0, IN = 0, OUT = 0;
  GC_TRY(linear_dims(x, w, &N, &IN, &OUT));
  GC_TRY(need_n(dy, N * OUT, "linear backward", "dy"));
  GC_TRY(need_n(dw, OUT * IN, "linear backward", "dw"));
  if (dx) {
    GC_TRY(need_n(dx, N * IN, "linear backward", "dx"));
    gc_gemm_args g = {GC_ROW_MAJOR, 0, 0, N, IN, OUT, 1.0f, accumulate_dx ? 1.0f : 0.0f, {dy, 0, OUT, 0},
                      {w, 0, IN, 0}, {dx, 0, IN, 0}, 1};
    GC_TRY(gc_gemm(ctx, &g));
  }
  gc_gemm_args gw = {GC_ROW_MAJOR, 1, 0, OUT, IN, N, 1.0f, 1.0f, {dy, 0, OUT, 0}, {x, 0, IN, 0}, {dw, 0, IN, 0}, 1};
  GC_TRY(gc_gemm(ctx, &gw));
  if (db) {
    GC_TRY(need_n(db, OUT, "linear backward", "db"));
    GC_TRY(GC_RUN(ctx, "act", "cols_sum_acc", OUT, GC_KT(dy), GC_KU32(N), GC_KU32(OUT), GC_KT(db)));
  }
cleanup:
  return st;
}

/* ---- softmax cross-entropy ---- */

int gc_xent(gc_ctx *ctx, const gc_tensor *logits, const gc_tensor *labels, const gc_tensor *dlogits,
            const gc_tensor *ws, gc_xent_result *out) {
  return gc_xent_valid(ctx, logits, labels, dlogits, ws, logits && logits->ndim == 2 ? logits->dim[0] : 0, out);
}

int gc_xent_valid(gc_ctx *ctx, const gc_tensor *logits, const gc_tensor *labels, const gc_tensor *dlogits,
                  const gc_tensor *ws, size_t valid, gc_xent_result *out) {
  int st = 0;
  float *stats = NULL;
  memset(out, 0, sizeof *out);
  if (!logits || logits->ndim != 2) GC_FAIL(GC_ERR_ARG, "cross-entropy: logits must be (N, K)");
  size_t N = logits->dim[0], K = logits->dim[1];
  GC_TRY(need_n(logits, N * K, "cross-entropy", "logits"));
  GC_TRY(need_n(labels, N, "cross-entropy", "labels"));
  if (dlogits) GC_TRY(need_n(dlogits, N * K, "cross-entropy", "dlogits"));
  GC_TRY(need(ws, "cross-entropy", "workspace"));
  if (gc_tensor_numel(ws) < 3 * N) GC_FAIL_GOTO(GC_ERR_ARG, "cross-entropy: workspace needs %zu elements", 3 * N);
  if (valid < 1 || valid > N) GC_FAIL_GOTO(GC_ERR_ARG, "cross-entropy: %zu valid samples of %zu", valid, N);
  const gc_tensor *dz = dlogits ? dlogits : logits;
  GC_TRY(GC_RUN(ctx, "loss", "softmax_xent", N, GC_KT(logits), GC_KT(labels), GC_KT(dz), GC_KT(ws), GC_KU32(N),
                GC_KU32(K), GC_KF32(1.0f / (float)valid), GC_KU32(dlogits ? 1 : 0), GC_KU32(valid)));
  stats = malloc(3 * N * sizeof *stats);
  if (!stats) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "cross-entropy statistics for %zu samples", N);
  gc_tensor sv;
  GC_TRY(gc_tensor_slice(ws, 0, 3 * N, &sv));
  GC_TRY(gc_tensor_read(ctx, &sv, stats, 3 * N));
  double sum = 0.0;
  for (size_t i = 0; i < valid; i++) {
    if (isnan(stats[3 * i + 1]))
      GC_FAIL_GOTO(GC_ERR_ARG, "cross-entropy: the label of sample %zu is not a class index in [0, %zu)", i, K);
    sum += stats[3 * i];
    out->top1 += stats[3 * i + 1] > 0.5f;
    out->top5 += stats[3 * i + 2] > 0.5f;
  }
  out->loss = sum / (double)valid;
cleanup:
  free(stats);
  return st;
}

/* ---- L2Norm ---- */

int gc_l2norm_forward(gc_ctx *ctx, const gc_tensor *x, const gc_tensor *gamma, float eps, const gc_tensor *y,
                      const gc_tensor *norm) {
  int st = 0;
  if (!x || x->ndim != 4) GC_FAIL(GC_ERR_ARG, "l2norm: x must be NCHW");
  size_t N = x->dim[0], C = x->dim[1], P = x->dim[2] * x->dim[3];
  GC_TRY(same_dense(x, y, "l2norm", "x", "y"));
  GC_TRY(need_n(gamma, C, "l2norm", "gamma"));
  GC_TRY(need_n(norm, N * P, "l2norm", "norm"));
  GC_TRY(GC_RUN(ctx, "act", "l2norm_fwd", N * P, GC_KT(x), GC_KT(gamma), GC_KT(y), GC_KT(norm), GC_KU32(N), GC_KU32(C),
                GC_KU32(P), GC_KF32(eps)));
cleanup:
  return st;
}

int gc_l2norm_backward(gc_ctx *ctx, const gc_tensor *x, const gc_tensor *gamma, float eps, const gc_tensor *norm,
                       const gc_tensor *dy, const gc_tensor *dx, int accumulate_dx, const gc_tensor *dgamma) {
  int st = 0;
  if (!x || x->ndim != 4) GC_FAIL(GC_ERR_ARG, "l2norm backward: x must be NCHW");
  size_t N = x->dim[0], C = x->dim[1], P = x->dim[2] * x->dim[3];
  GC_TRY(same_dense(x, dy, "l2norm backward", "x", "dy"));
  GC_TRY(same_dense(x, dx, "l2norm backward", "x", "dx"));
  GC_TRY(need_n(gamma, C, "l2norm backward", "gamma"));
  GC_TRY(need_n(dgamma, C, "l2norm backward", "dgamma"));
  GC_TRY(need_n(norm, N * P, "l2norm backward", "norm"));
  GC_TRY(GC_RUN(ctx, "act", "l2norm_bwd_x", N * P, GC_KT(x), GC_KT(gamma), GC_KT(norm), GC_KT(dy), GC_KT(dx), GC_KU32(N),
                GC_KU32(C), GC_KU32(P), GC_KF32(eps), GC_KU32(accumulate_dx ? 1 : 0)));
  GC_TRY(GC_RUN_GROUPS(ctx, "act", "l2norm_bwd_gamma", C, GC_KT(x), GC_KT(norm), GC_KT(dy), GC_KT(dgamma), GC_KU32(N),
                       GC_KU32(C), GC_KU32(P), GC_KF32(eps)));
cleanup:
  return st;
}
