/* Convolution (kernels/conv.cl + CLBlast GEMM) as a table of algorithms, and the choice among them.
 *
 * Every algorithm is one row of `algos`: whether it supports a shape, the workspace it needs, and the
 * passes it runs: forward, data gradient (dgrad) and weight gradient (wgrad, with the bias gradient).
 * The algorithm of each (shape, pass) is chosen on first use, the three passes independently:
 *   measure    (default) run every supporting algorithm on the layer's real tensors and keep the
 *              fastest; the choice is remembered in the program cache folder (keyed by platform,
 *              device, driver, shape, workspace settings and the candidates), so later runs on the
 *              same device reuse it and compute the same bits. Without a cache folder, or when the
 *              choice cannot be written, the heuristic below is used instead, so that a run never
 *              depends on a measurement that was not kept.
 *   heuristic  a fixed rule. CPUs (what the measured choices were on 2-core EPYCs, `gafcl bench-conv`):
 *              gafcl's own GEMMs; stride-1 maps of 256 positions or more implicit_vgemm (all passes),
 *              smaller 3x3 stride-1 maps winograd (forward; data gradient from 64 positions), 1x1
 *              stride-1 pointwise_vgemm, the rest im2col_vgemm (per image for large maps' forward). Other devices (CLBlast): 1x1 stride 1 pointwise; maps of 64 positions or more
 *              im2col_batched, else im2col_gemm; gradients im2col_gemm.
 *   NAME       that algorithm wherever it supports the shape and pass, the heuristic elsewhere.
 * The mode comes from gc_conv_algo_set, else the environment variable GAFCL_CONV_ALGO. */
#include "gc_layers.h"

#include "gc_blas.h"
#include "gc_ops.h"
#include "gc_io.h"
#include "gc_sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum {
  K_CONV_IM2COL,
  K_CONV_COL2IM,
  K_CONV_CNHW_TO_NCHW,
  K_CONV_NCHW_TO_CNHW,
  K_CONV_BIAS_ADD,
  K_CONV_SUM_PARTIALS,
  K_ROWS_SUM_ACC,
  K_CONV_PAD_CNHW,
  K_CONV_UNPAD_CNHW,
  K_CONV_WFLIP,
  K_WINO_WTRANS,
  K_WINO_ITRANS,
  K_WINO_OTRANS,
  K_COUNT
};
static const char *const k_names[K_COUNT] = {"conv_im2col",       "conv_col2im",     "conv_cnhw_to_nchw",
                                             "conv_nchw_to_cnhw", "conv_bias_add",   "conv_sum_partials",
                                             "rows_sum_acc",      "conv_pad_cnhw",   "conv_unpad_cnhw",
                                             "conv_wflip",        "wino_wtrans",     "wino_itrans",
                                             "wino_otrans"};
static const gc_kfamily fam = {GC_KF_CONV, "conv", K_COUNT, k_names};

int gc_conv_out(const gc_conv *c, size_t h, size_t w, size_t *ho, size_t *wo) {
  if (c->c_in < 1 || c->c_out < 1 || c->kh < 1 || c->kw < 1 || c->sh < 1 || c->sw < 1 || c->ph < 0 || c->pw < 0 ||
      c->dh < 1 || c->dw < 1)
    GC_FAIL(GC_ERR_ARG, "conv %d->%d kernel %dx%d stride %dx%d pad %dx%d dilation %dx%d: invalid", c->c_in, c->c_out,
            c->kh, c->kw, c->sh, c->sw, c->ph, c->pw, c->dh, c->dw);
  if (c->groups < 0 || (c->groups > 1 && (c->c_in % c->groups || c->c_out % c->groups)))
    GC_FAIL(GC_ERR_ARG, "conv %d->%d in %d groups: the groups must divide both channel counts", c->c_in, c->c_out,
            c->groups);
  long eh = (long)h + 2L * c->ph - (long)c->dh * (c->kh - 1) - 1;
  long ew = (long)w + 2L * c->pw - (long)c->dw * (c->kw - 1) - 1;
  if (eh < 0 || ew < 0)
    GC_FAIL(GC_ERR_ARG, "conv kernel %dx%d (dilation %d) does not fit a %zux%zu input with padding %d", c->kh, c->kw,
            c->dh, h, w, c->ph);
  *ho = (size_t)(eh / c->sh + 1);
  *wo = (size_t)(ew / c->sw + 1);
  return GC_OK;
}

/* How a batch is cut into chunks of images and where the workspace's parts lie (shared by every
 * algorithm, so that the chunking, and with it the GEMM shapes, do not depend on the choice). */
typedef struct conv_plan {
  size_t ho, wo, P, K;
  size_t chunk;         /* images per chunk */
  size_t gi;            /* images per partial of the split weight-gradient reduction */
  size_t G;             /* partials per chunk */
  size_t col, yt, part; /* workspace offsets: im2col (K, chunk*P), transposed y/dy (Co, chunk*P), partials */
  size_t total;
  /* the implicit convolution (stride 1): x padded to Hp x Wp planes (forward, weight gradient), dy padded
   * to Hq x Wq planes (data gradient), each followed by `tail`/`tailq` zeros; the elements it needs */
  size_t Hp, Wp, Hq, Wq, tail, tailq, implicit;
  size_t winograd; /* Winograd F(2x2, 3x3)'s elements (3x3 stride 1 only) */
} conv_plan;

static int conv_plan_make(const gc_ctx *ctx, const gc_conv *c, size_t n, size_t h, size_t w, conv_plan *p) {
  memset(p, 0, sizeof *p);
  int st = gc_conv_out(c, h, w, &p->ho, &p->wo);
  if (st) return st;
  p->P = p->ho * p->wo;
  p->K = (size_t)c->c_in * c->kh * c->kw;
  size_t per_image = (p->K + (size_t)c->c_out) * p->P;
  size_t chunk = ctx->conv_ws_limit / (per_image ? per_image : 1);
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
  /* the implicit convolution's needs for a chunk: forward / weight gradient: padded x, a wide output or
   * padded dy (, partials); data gradient: padded dy, a wide dx, the flipped weights */
  size_t Ci = (size_t)c->c_in, Co = (size_t)c->c_out, taps = (size_t)c->kh * c->kw;
  p->Hp = h + 2 * (size_t)c->ph, p->Wp = w + 2 * (size_t)c->pw;
  p->tail = (size_t)(c->kh - 1) * c->dh * p->Wp + (size_t)(c->kw - 1) * c->dw;
  size_t Lw = chunk * p->Hp * p->Wp, fw = Ci * Lw + p->tail + Co * Lw + (p->G > 1 ? p->G * Co * p->K : 0);
  long qh = (long)c->dh * (c->kh - 1) - c->ph, qw = (long)c->dw * (c->kw - 1) - c->pw;
  size_t dg = 0;
  if (qh >= 0 && qw >= 0) {
    p->Hq = p->ho + 2 * (size_t)qh, p->Wq = p->wo + 2 * (size_t)qw;
    p->tailq = (size_t)(c->kh - 1) * c->dh * p->Wq + (size_t)(c->kw - 1) * c->dw;
    size_t Lq = chunk * p->Hq * p->Wq;
    dg = Co * Lq + p->tailq + Ci * Lq + Ci * Co * taps;
  }
  p->implicit = fw > dg ? fw : dg;
  if (c->kh == 3 && c->kw == 3 && c->dh == 1 && c->dw == 1 && qh >= 0 && qw >= 0) {
    size_t T = chunk * ((p->ho + 1) / 2) * ((p->wo + 1) / 2), Tq = chunk * ((h + 1) / 2) * ((w + 1) / 2);
    size_t wf = Ci * Lw + 16 * Ci * T + 16 * Co * T + 16 * Co * Ci;
    size_t wd = Co * chunk * p->Hq * p->Wq + 16 * Co * Tq + 16 * Ci * Tq + 16 * Ci * Co + Ci * Co * 9;
    p->winograd = wf > wd ? wf : wd;
  }
  return GC_OK;
}

static int is_pointwise(const gc_conv *c) {
  return c->kh == 1 && c->kw == 1 && c->sh == 1 && c->sw == 1 && c->ph == 0 && c->pw == 0;
}

static int im2col(gc_ctx *ctx, const gc_conv *c, const conv_plan *p, const gc_tensor *x, size_t b0, size_t bc,
                  const gc_tensor *ws, size_t col_ks, size_t col_bs) {
  size_t H = x->dim[2], W = x->dim[3];
  return GC_LAUNCH(ctx, &fam, K_CONV_IM2COL, gc_rows_items(ctx, p->K * bc * p->P, p->wo), GC_KMEM(x->arena->buf),
                   GC_KU64(x->offset + b0 * gc_tensor_nstride(x)), GC_KU32(GC_NS(x)), GC_KMEM(ws->arena->buf),
                   GC_KU64(ws->offset + p->col), GC_KU32(col_ks), GC_KU32(col_bs), GC_KU32(bc), GC_KU32(c->c_in),
                   GC_KU32(H), GC_KU32(W), GC_KU32(c->kh), GC_KU32(c->kw), GC_KU32(c->sh), GC_KU32(c->sw),
                   GC_KU32(c->ph), GC_KU32(c->pw), GC_KU32(c->dh), GC_KU32(c->dw), GC_KU32(p->ho), GC_KU32(p->wo));
}

/* ---- the algorithms ---- */

/* The arguments of one call (forward: y; backward: dy, dx, dw, db). */
typedef struct conv_call {
  const gc_conv *c;
  const conv_plan *p;
  const gc_tensor *x, *w, *b, *y, *ws;     /* forward; y is dy in backward */
  const gc_tensor *dx, *dw, *db;           /* backward: dx and/or dw may be NULL */
  int accumulate_dx;
} conv_call;

static int bias_add(gc_ctx *ctx, const conv_call *a, size_t b0, size_t bc) {
  size_t Co = (size_t)a->c->c_out;
  return GC_LAUNCH(ctx, &fam, K_CONV_BIAS_ADD, bc * Co * a->p->P, GC_KMEM(a->y->arena->buf),
                   GC_KU64(a->y->offset + b0 * gc_tensor_nstride(a->y)), GC_KU32(GC_NS(a->y)), GC_KT(a->b),
                   GC_KU32(bc), GC_KU32(Co), GC_KU32(a->p->P));
}

/* im2col_gemm forward: im2col of a chunk into one K x (B*P) matrix, ONE GEMM over the chunk
 * (yt (Co, B*P) = W (Co, K) * col), then a transpose to NCHW that also adds the bias. */
static int fwd_im2col_gemm(gc_ctx *ctx, const conv_call *a) {
  int st = 0;
  const conv_plan *p = a->p;
  const gc_tensor *x = a->x, *y = a->y, *ws = a->ws;
  size_t n = x->dim[0], Co = (size_t)a->c->c_out;
  for (size_t b0 = 0; b0 < n; b0 += p->chunk) {
    size_t bc = n - b0 < p->chunk ? n - b0 : p->chunk, L = bc * p->P;
    GC_TRY(im2col(ctx, a->c, p, x, b0, bc, ws, L, p->P));
    gc_gemm_args g = {GC_ROW_MAJOR, 0, 0, Co, L, p->K, 1.0f, 0.0f, {a->w, 0, p->K, 0}, {ws, p->col, L, 0},
                      {ws, p->yt, L, 0}, 1};
    GC_TRY(gc_gemm(ctx, &g));
    const gc_tensor *bias = a->c->bias ? a->b : a->w; /* any valid buffer when there is no bias */
    GC_TRY(GC_LAUNCH(ctx, &fam, K_CONV_CNHW_TO_NCHW, gc_rows_items(ctx, bc * Co * p->P, p->P), GC_KMEM(ws->arena->buf),
                     GC_KU64(ws->offset + p->yt), GC_KMEM(y->arena->buf),
                     GC_KU64(y->offset + b0 * gc_tensor_nstride(y)), GC_KU32(GC_NS(y)), GC_KT(bias),
                     GC_KU32(a->c->bias ? 1 : 0), GC_KU32(bc), GC_KU32(Co), GC_KU32(p->P)));
  }
cleanup:
  return st;
}

/* im2col_batched forward: im2col per image and one strided-batched GEMM call (B GEMMs of Co x P x K)
 * writing NCHW directly. */
static int fwd_im2col_batched(gc_ctx *ctx, const conv_call *a) {
  int st = 0;
  const conv_plan *p = a->p;
  const gc_tensor *x = a->x, *y = a->y, *ws = a->ws;
  size_t n = x->dim[0], Co = (size_t)a->c->c_out;
  for (size_t b0 = 0; b0 < n; b0 += p->chunk) {
    size_t bc = n - b0 < p->chunk ? n - b0 : p->chunk;
    GC_TRY(im2col(ctx, a->c, p, x, b0, bc, ws, p->P, p->K * p->P));
    gc_gemm_args g = {GC_ROW_MAJOR, 0, 0, Co, p->P, p->K, 1.0f, 0.0f, {a->w, 0, p->K, 0}, {ws, p->col, p->P, p->K * p->P},
                      {y, b0 * gc_tensor_nstride(y), p->P, gc_tensor_nstride(y)}, bc};
    GC_TRY(gc_gemm(ctx, &g));
    if (a->c->bias) GC_TRY(bias_add(ctx, a, b0, bc));
  }
cleanup:
  return st;
}

/* pointwise forward (1x1, stride 1, no padding): the same per-image GEMMs reading x itself, no im2col. */
static int fwd_pointwise(gc_ctx *ctx, const conv_call *a) {
  int st = 0;
  const conv_plan *p = a->p;
  const gc_tensor *x = a->x, *y = a->y;
  size_t n = x->dim[0], Co = (size_t)a->c->c_out;
  for (size_t b0 = 0; b0 < n; b0 += p->chunk) {
    size_t bc = n - b0 < p->chunk ? n - b0 : p->chunk;
    gc_gemm_args g = {GC_ROW_MAJOR, 0, 0, Co, p->P, p->K, 1.0f, 0.0f, {a->w, 0, p->K, 0},
                      {x, b0 * gc_tensor_nstride(x), p->P, gc_tensor_nstride(x)},
                      {y, b0 * gc_tensor_nstride(y), p->P, gc_tensor_nstride(y)}, bc};
    GC_TRY(gc_gemm(ctx, &g));
    if (a->c->bias) GC_TRY(bias_add(ctx, a, b0, bc));
  }
cleanup:
  return st;
}

/* The transposed output gradient of a chunk, dyt (Co, B*P) = dy as one matrix (the weight gradient's and
 * im2col_gemm's data gradient's GEMM operand). */
static int dy_transpose(gc_ctx *ctx, const conv_call *a, size_t b0, size_t bc) {
  const gc_tensor *dy = a->y, *ws = a->ws;
  return GC_LAUNCH(ctx, &fam, K_CONV_NCHW_TO_CNHW, gc_rows_items(ctx, bc * (size_t)a->c->c_out * a->p->P, a->p->P),
                   GC_KMEM(dy->arena->buf), GC_KU64(dy->offset + b0 * gc_tensor_nstride(dy)), GC_KU32(GC_NS(dy)),
                   GC_KMEM(ws->arena->buf), GC_KU64(ws->offset + a->p->yt), GC_KU32(bc), GC_KU32((size_t)a->c->c_out),
                   GC_KU32(a->p->P));
}

/* dx (+)= col2im(dcol) of a chunk, dcol in the workspace's col part with element (k, b, p) at
 * b*col_bs + k*col_ks + p. */
static int col2im(gc_ctx *ctx, const conv_call *a, size_t b0, size_t bc, size_t col_ks, size_t col_bs) {
  const gc_conv *c = a->c;
  const conv_plan *p = a->p;
  const gc_tensor *x = a->x, *dx = a->dx, *ws = a->ws;
  return GC_LAUNCH(ctx, &fam, K_CONV_COL2IM, gc_rows_items(ctx, bc * (size_t)c->c_in * x->dim[2] * x->dim[3], x->dim[3]),
                   GC_KMEM(ws->arena->buf), GC_KU64(ws->offset + p->col), GC_KU32(col_ks), GC_KU32(col_bs),
                   GC_KMEM(dx->arena->buf), GC_KU64(dx->offset + b0 * gc_tensor_nstride(dx)), GC_KU32(GC_NS(dx)),
                   GC_KU32(a->accumulate_dx ? 1 : 0), GC_KU32(bc), GC_KU32(c->c_in), GC_KU32(x->dim[2]),
                   GC_KU32(x->dim[3]), GC_KU32(c->kh), GC_KU32(c->kw), GC_KU32(c->sh), GC_KU32(c->sw), GC_KU32(c->ph),
                   GC_KU32(c->pw), GC_KU32(c->dh), GC_KU32(c->dw), GC_KU32(p->ho), GC_KU32(p->wo));
}

/* one weight-gradient GEMM: C (Co, K) (+)= dyt[.., L] * col[.., L]^T over batch partials, on CLBlast or on
 * the own vgemm_nt */
static int wgrad_gemm(gc_ctx *ctx, int own, size_t Co, size_t K, size_t L, size_t batch, const gc_tensor *ws,
                      size_t yt, size_t col, size_t ld, size_t bs, const gc_tensor *c, size_t c_off, size_t c_bs, int beta) {
  if (own) {
    gc_vgemm_args g = {Co, K, L, batch, ws, yt, ld, 1, bs, ws, col, ld, bs, c, c_off, K, c_bs, beta, 0, 0, 0, 0};
    return gc_vgemm_nt(ctx, &g);
  }
  gc_gemm_args g = {GC_ROW_MAJOR, 0, 1, Co, K, L, 1.0f, beta ? 1.0f : 0.0f, {ws, yt, ld, bs}, {ws, col, ld, bs},
                    {c, c_off, K, c_bs}, batch};
  return gc_gemm(ctx, &g);
}

/* The weight gradient through im2col, per chunk: dyt = the chunk's dy as one matrix; db += its row sums;
 * col (K, L) = im2col(x); dw += dyt * col^T with the reduction over L split into partials of gi images
 * summed in a fixed order; the GEMMs on CLBlast (im2col_gemm) or the own vgemm_nt (im2col_vgemm). */
static int wgrad_im2col(gc_ctx *ctx, const conv_call *a, int own) {
  int st = 0;
  const gc_conv *c = a->c;
  const conv_plan *p = a->p;
  const gc_tensor *x = a->x, *dw = a->dw, *db = a->db, *ws = a->ws;
  size_t n = x->dim[0], Co = (size_t)c->c_out, CK = Co * p->K;
  for (size_t b0 = 0; b0 < n; b0 += p->chunk) {
    size_t bc = n - b0 < p->chunk ? n - b0 : p->chunk, L = bc * p->P;
    GC_TRY(dy_transpose(ctx, a, b0, bc));
    if (c->bias && db)
      GC_TRY(GC_LAUNCH_GROUPS(ctx, &fam, K_ROWS_SUM_ACC, Co, GC_KMEM(ws->arena->buf), GC_KU64(ws->offset + p->yt),
                              GC_KU32(L), GC_KU32(L), GC_KT(db)));
    GC_TRY(im2col(ctx, c, p, x, b0, bc, ws, L, p->P));
    size_t Lg = p->gi * p->P, nf = bc / p->gi, rem = bc % p->gi, G = nf + (rem ? 1 : 0);
    if (G == 1) {
      GC_TRY(wgrad_gemm(ctx, own, Co, p->K, L, 1, ws, p->yt, p->col, L, 0, dw, 0, 0, 1));
    } else {
      if (nf > 0) GC_TRY(wgrad_gemm(ctx, own, Co, p->K, Lg, nf, ws, p->yt, p->col, L, Lg, ws, p->part, CK, 0));
      if (rem)
        GC_TRY(wgrad_gemm(ctx, own, Co, p->K, rem * p->P, 1, ws, p->yt + nf * Lg, p->col + nf * Lg, L, 0, ws,
                          p->part + nf * CK, 0, 0));
      GC_TRY(GC_LAUNCH(ctx, &fam, K_CONV_SUM_PARTIALS, CK, GC_KMEM(ws->arena->buf), GC_KU64(ws->offset + p->part),
                       GC_KU32(G), GC_KU32(CK), GC_KT(dw)));
    }
  }
cleanup:
  return st;
}
static int wgrad_im2col_gemm(gc_ctx *ctx, const conv_call *a) { return wgrad_im2col(ctx, a, 0); }

/* The data gradient through col2im, per chunk: dcol (K, L) = W^T * dyt, then col2im (a gather, no
 * atomics). */
static int dgrad_im2col_gemm(gc_ctx *ctx, const conv_call *a) {
  int st = 0;
  const conv_plan *p = a->p;
  const gc_tensor *ws = a->ws;
  size_t n = a->x->dim[0], Co = (size_t)a->c->c_out;
  for (size_t b0 = 0; b0 < n; b0 += p->chunk) {
    size_t bc = n - b0 < p->chunk ? n - b0 : p->chunk, L = bc * p->P;
    GC_TRY(dy_transpose(ctx, a, b0, bc));
    gc_gemm_args g = {GC_ROW_MAJOR, 1, 0, p->K, L, Co, 1.0f, 0.0f, {a->w, 0, p->K, 0}, {ws, p->yt, L, 0},
                      {ws, p->col, L, 0}, 1};
    GC_TRY(gc_gemm(ctx, &g));
    GC_TRY(col2im(ctx, a, b0, bc, L, p->P));
  }
cleanup:
  return st;
}

/* pointwise data gradient (1x1 stride 1): dx_b (+)= W^T * dy_b per image straight into dx (GEMM beta =
 * accumulate), no col buffer and no col2im. */
static int dgrad_pointwise(gc_ctx *ctx, const conv_call *a) {
  int st = 0;
  const conv_plan *p = a->p;
  const gc_tensor *dy = a->y, *dx = a->dx;
  size_t n = a->x->dim[0], Co = (size_t)a->c->c_out;
  for (size_t b0 = 0; b0 < n; b0 += p->chunk) {
    size_t bc = n - b0 < p->chunk ? n - b0 : p->chunk;
    gc_gemm_args g = {GC_ROW_MAJOR, 1, 0, p->K, p->P, Co, 1.0f, a->accumulate_dx ? 1.0f : 0.0f, {a->w, 0, p->K, 0},
                      {dy, b0 * gc_tensor_nstride(dy), p->P, gc_tensor_nstride(dy)},
                      {dx, b0 * gc_tensor_nstride(dx), p->P, gc_tensor_nstride(dx)}, bc};
    GC_TRY(gc_gemm(ctx, &g));
  }
cleanup:
  return st;
}

/* ---- the same lowerings on gafcl's own GEMMs (kernels/vgemm.cl: vector register tiles for CPUs) ---- */

/* im2col_vgemm forward: im2col of a chunk into one K x L matrix, yt (Co, L) = W * col, transpose to NCHW
 * with the bias. */
static int fwd_im2col_vgemm(gc_ctx *ctx, const conv_call *a) {
  int st = 0;
  const conv_plan *p = a->p;
  const gc_tensor *x = a->x, *y = a->y, *ws = a->ws;
  size_t n = x->dim[0], Co = (size_t)a->c->c_out;
  for (size_t b0 = 0; b0 < n; b0 += p->chunk) {
    size_t bc = n - b0 < p->chunk ? n - b0 : p->chunk, L = bc * p->P;
    GC_TRY(im2col(ctx, a->c, p, x, b0, bc, ws, L, p->P));
    gc_vgemm_args g = {Co, L, p->K, 1, a->w, 0, p->K, 1, 0, ws, p->col, L, 0, ws, p->yt, L, 0, 0, 0, 0, 0, 0};
    GC_TRY(gc_vgemm(ctx, &g));
    const gc_tensor *bias = a->c->bias ? a->b : a->w;
    GC_TRY(GC_LAUNCH(ctx, &fam, K_CONV_CNHW_TO_NCHW, gc_rows_items(ctx, bc * Co * p->P, p->P), GC_KMEM(ws->arena->buf),
                     GC_KU64(ws->offset + p->yt), GC_KMEM(y->arena->buf),
                     GC_KU64(y->offset + b0 * gc_tensor_nstride(y)), GC_KU32(GC_NS(y)), GC_KT(bias),
                     GC_KU32(a->c->bias ? 1 : 0), GC_KU32(bc), GC_KU32(Co), GC_KU32(p->P)));
  }
cleanup:
  return st;
}

/* im2col_vgemm_batched forward: im2col per image, y_b = W * col_b straight into NCHW (one launch over
 * the chunk's images), then the bias. pointwise_vgemm: the same on x itself (1x1 stride 1). */
static int fwd_vgemm_per_image(gc_ctx *ctx, const conv_call *a, int direct) {
  int st = 0;
  const conv_plan *p = a->p;
  const gc_tensor *x = a->x, *y = a->y, *ws = a->ws;
  size_t n = x->dim[0], Co = (size_t)a->c->c_out;
  for (size_t b0 = 0; b0 < n; b0 += p->chunk) {
    size_t bc = n - b0 < p->chunk ? n - b0 : p->chunk;
    gc_vgemm_args g = {Co, p->P, p->K, bc, a->w, 0, p->K, 1, 0, ws, p->col, p->P, p->K * p->P,
                       y, b0 * gc_tensor_nstride(y), p->P, gc_tensor_nstride(y), 0, 0, 0, 0, 0};
    if (direct) {
      g.b = x, g.b_off = b0 * gc_tensor_nstride(x), g.b_bs = gc_tensor_nstride(x);
    } else {
      GC_TRY(im2col(ctx, a->c, p, x, b0, bc, ws, p->P, p->K * p->P));
    }
    GC_TRY(gc_vgemm(ctx, &g));
    if (a->c->bias) GC_TRY(bias_add(ctx, a, b0, bc));
  }
cleanup:
  return st;
}
static int fwd_im2col_vgemm_batched(gc_ctx *ctx, const conv_call *a) { return fwd_vgemm_per_image(ctx, a, 0); }
static int fwd_pointwise_vgemm(gc_ctx *ctx, const conv_call *a) { return fwd_vgemm_per_image(ctx, a, 1); }

/* im2col_vgemm data gradient: dcol_b (K, P) = W^T * dy_b per image, read from dy in place (no
 * transpose), then col2im; pointwise_vgemm: dx_b (+)= W^T * dy_b straight into dx. */
static int dgrad_vgemm_per_image(gc_ctx *ctx, const conv_call *a, int direct) {
  int st = 0;
  const conv_plan *p = a->p;
  const gc_tensor *dy = a->y, *dx = a->dx, *ws = a->ws;
  size_t n = a->x->dim[0], Co = (size_t)a->c->c_out;
  for (size_t b0 = 0; b0 < n; b0 += p->chunk) {
    size_t bc = n - b0 < p->chunk ? n - b0 : p->chunk;
    gc_vgemm_args g = {p->K, p->P, Co, bc, a->w, 0, 1, p->K, 0, dy, b0 * gc_tensor_nstride(dy), p->P,
                       gc_tensor_nstride(dy), ws, p->col, p->P, p->K * p->P, 0, 0, 0, 0, 0};
    if (direct) {
      g.c = dx, g.c_off = b0 * gc_tensor_nstride(dx), g.c_bs = gc_tensor_nstride(dx), g.beta = a->accumulate_dx;
      GC_TRY(gc_vgemm(ctx, &g));
    } else {
      GC_TRY(gc_vgemm(ctx, &g));
      GC_TRY(col2im(ctx, a, b0, bc, p->P, p->K * p->P));
    }
  }
cleanup:
  return st;
}
static int dgrad_im2col_vgemm_batched(gc_ctx *ctx, const conv_call *a) { return dgrad_vgemm_per_image(ctx, a, 0); }

/* im2col_vgemm data gradient: dyt (Co, L) = the chunk's dy as one matrix, dcol (K, L) = W^T * dyt in one
 * GEMM (wide rows also for small maps), then col2im. */
static int dgrad_im2col_vgemm(gc_ctx *ctx, const conv_call *a) {
  int st = 0;
  const conv_plan *p = a->p;
  const gc_tensor *ws = a->ws;
  size_t n = a->x->dim[0], Co = (size_t)a->c->c_out;
  for (size_t b0 = 0; b0 < n; b0 += p->chunk) {
    size_t bc = n - b0 < p->chunk ? n - b0 : p->chunk, L = bc * p->P;
    GC_TRY(dy_transpose(ctx, a, b0, bc));
    gc_vgemm_args g = {p->K, L, Co, 1, a->w, 0, 1, p->K, 0, ws, p->yt, L, 0, ws, p->col, L, 0, 0, 0, 0, 0, 0};
    GC_TRY(gc_vgemm(ctx, &g));
    GC_TRY(col2im(ctx, a, b0, bc, L, p->P));
  }
cleanup:
  return st;
}
static int dgrad_pointwise_vgemm(gc_ctx *ctx, const conv_call *a) { return dgrad_vgemm_per_image(ctx, a, 1); }

static int wgrad_im2col_vgemm(gc_ctx *ctx, const conv_call *a) { return wgrad_im2col(ctx, a, 1); }

/* ---- the implicit convolution on gafcl's own GEMMs (stride 1): no im2col buffer ----
 *
 * The input is copied once into zero-padded planes, channel-major over the chunk (C, B, Hp, Wp); then the
 * output at wide position q = b*Hp*Wp + oh*Wp + ow needs, for kernel tap (c, i, j), the padded input at
 * c*B*Hp*Wp + i*dh*Wp + j*dw + q: every tap's row of the GEMM's B operand is the padded input itself at
 * an offset, read in place (vgemm's picked rows). The GEMM computes the wide grid (Hp x Wp per image, the
 * rows and columns past the output wasted), and a last pass copies its top-left Ho x Wo into NCHW. The
 * data gradient is the same convolution of dy padded by dilation*(kernel-1) - padding with the weights
 * transposed and flipped; the weight gradient is dy (wide, zeros outside the output) times the padded
 * input's tap rows, read along the reduction (vgemm_nt's picked rows). */

static int pad_cnhw(gc_ctx *ctx, const gc_tensor *src, size_t b0, size_t bc, size_t C, size_t Hs, size_t Ws,
                    const gc_tensor *ws, size_t off, size_t Hd, size_t Wd, size_t pt, size_t pl, size_t tail) {
  size_t rows = C * bc * Hd;
  size_t items = (ctx->dev.type & CL_DEVICE_TYPE_CPU) ? rows + (tail + Wd - 1) / Wd : rows * Wd + tail;
  return GC_LAUNCH(ctx, &fam, K_CONV_PAD_CNHW, items, GC_KMEM(src->arena->buf),
                   GC_KU64(src->offset + b0 * gc_tensor_nstride(src)), GC_KU32(GC_NS(src)), GC_KMEM(ws->arena->buf),
                   GC_KU64(ws->offset + off), GC_KU32(bc), GC_KU32(C), GC_KU32(Hs), GC_KU32(Ws), GC_KU32(Hd),
                   GC_KU32(Wd), GC_KU32(pt), GC_KU32(pl), GC_KU32(tail));
}

static int unpad_cnhw(gc_ctx *ctx, const gc_tensor *ws, size_t off, size_t Hd, size_t Wd, const gc_tensor *dst,
                      size_t b0, size_t bc, size_t C, size_t H, size_t W, int accumulate, const gc_tensor *bias) {
  const gc_tensor *bt = bias ? bias : dst; /* any valid buffer when there is none */
  return GC_LAUNCH(ctx, &fam, K_CONV_UNPAD_CNHW, gc_rows_items(ctx, bc * C * H * W, W), GC_KMEM(ws->arena->buf),
                   GC_KU64(ws->offset + off), GC_KU32(Hd), GC_KU32(Wd), GC_KMEM(dst->arena->buf),
                   GC_KU64(dst->offset + b0 * gc_tensor_nstride(dst)), GC_KU32(GC_NS(dst)), GC_KU32(accumulate ? 1 : 0),
                   GC_KT(bt), GC_KU32(bias ? 1 : 0), GC_KU32(bc), GC_KU32(C), GC_KU32(H), GC_KU32(W));
}

static int fwd_implicit(gc_ctx *ctx, const conv_call *a) {
  int st = 0;
  const gc_conv *c = a->c;
  const conv_plan *p = a->p;
  const gc_tensor *x = a->x, *ws = a->ws;
  size_t n = x->dim[0], Ci = (size_t)c->c_in, Co = (size_t)c->c_out;
  for (size_t b0 = 0; b0 < n; b0 += p->chunk) {
    size_t bc = n - b0 < p->chunk ? n - b0 : p->chunk, Lw = bc * p->Hp * p->Wp, yw = Ci * Lw + p->tail;
    GC_TRY(pad_cnhw(ctx, x, b0, bc, Ci, x->dim[2], x->dim[3], ws, 0, p->Hp, p->Wp, (size_t)c->ph, (size_t)c->pw, p->tail));
    gc_vgemm_args g = {Co, Lw, p->K, 1, a->w, 0, p->K, 1, 0, ws, 0, Lw, 0, ws, yw, Lw, 0, 0,
                       (size_t)c->dh * p->Wp, (size_t)c->dw, (size_t)c->kh, (size_t)c->kw};
    GC_TRY(gc_vgemm(ctx, &g));
    GC_TRY(unpad_cnhw(ctx, ws, yw, p->Hp, p->Wp, a->y, b0, bc, Co, p->ho, p->wo, 0, c->bias ? a->b : NULL));
  }
cleanup:
  return st;
}

static int dgrad_implicit(gc_ctx *ctx, const conv_call *a) {
  int st = 0;
  const gc_conv *c = a->c;
  const conv_plan *p = a->p;
  const gc_tensor *x = a->x, *dy = a->y, *ws = a->ws;
  size_t n = x->dim[0], Ci = (size_t)c->c_in, Co = (size_t)c->c_out, taps = (size_t)c->kh * c->kw;
  size_t qh = (size_t)c->dh * (c->kh - 1) - (size_t)c->ph, qw = (size_t)c->dw * (c->kw - 1) - (size_t)c->pw;
  /* the flipped weights at a place that does not depend on the chunk (they are made once) */
  const size_t wf = (Co + Ci) * p->chunk * p->Hq * p->Wq + p->tailq;
  for (size_t b0 = 0; b0 < n; b0 += p->chunk) {
    size_t bc = n - b0 < p->chunk ? n - b0 : p->chunk, Lq = bc * p->Hq * p->Wq, xw = Co * Lq + p->tailq;
    if (b0 == 0)
      GC_TRY(GC_LAUNCH(ctx, &fam, K_CONV_WFLIP, Co * Ci * taps, GC_KT(a->w), GC_KMEM(ws->arena->buf),
                       GC_KU64(ws->offset + wf), GC_KU32(Co), GC_KU32(Ci), GC_KU32(c->kh), GC_KU32(c->kw)));
    GC_TRY(pad_cnhw(ctx, dy, b0, bc, Co, p->ho, p->wo, ws, 0, p->Hq, p->Wq, qh, qw, p->tailq));
    gc_vgemm_args g = {Ci, Lq, Co * taps, 1, ws, wf, Co * taps, 1, 0, ws, 0, Lq, 0, ws, xw, Lq, 0, 0,
                       (size_t)c->dh * p->Wq, (size_t)c->dw, (size_t)c->kh, (size_t)c->kw};
    GC_TRY(gc_vgemm(ctx, &g));
    GC_TRY(unpad_cnhw(ctx, ws, xw, p->Hq, p->Wq, a->dx, b0, bc, Ci, x->dim[2], x->dim[3], a->accumulate_dx, NULL));
  }
cleanup:
  return st;
}

static int wgrad_implicit(gc_ctx *ctx, const conv_call *a) {
  int st = 0;
  const gc_conv *c = a->c;
  const conv_plan *p = a->p;
  const gc_tensor *x = a->x, *dy = a->y, *dw = a->dw, *db = a->db, *ws = a->ws;
  size_t n = x->dim[0], Ci = (size_t)c->c_in, Co = (size_t)c->c_out, CK = Co * p->K, plane = p->Hp * p->Wp;
  for (size_t b0 = 0; b0 < n; b0 += p->chunk) {
    size_t bc = n - b0 < p->chunk ? n - b0 : p->chunk, Lw = bc * plane, dyw = Ci * Lw + p->tail, part = dyw + Co * Lw;
    GC_TRY(pad_cnhw(ctx, x, b0, bc, Ci, x->dim[2], x->dim[3], ws, 0, p->Hp, p->Wp, (size_t)c->ph, (size_t)c->pw, p->tail));
    GC_TRY(pad_cnhw(ctx, dy, b0, bc, Co, p->ho, p->wo, ws, dyw, p->Hp, p->Wp, 0, 0, 0));
    if (c->bias && db)
      GC_TRY(GC_LAUNCH_GROUPS(ctx, &fam, K_ROWS_SUM_ACC, Co, GC_KMEM(ws->arena->buf), GC_KU64(ws->offset + dyw),
                              GC_KU32(Lw), GC_KU32(Lw), GC_KT(db)));
    size_t Lg = p->gi * plane, nf = bc / p->gi, rem = bc % p->gi, G = nf + (rem ? 1 : 0);
    const size_t s2 = (size_t)c->dh * p->Wp, s3 = (size_t)c->dw, d2 = (size_t)c->kh, d3 = (size_t)c->kw;
    if (G == 1) {
      gc_vgemm_args g = {Co, p->K, Lw, 1, ws, dyw, Lw, 1, 0, ws, 0, Lw, 0, dw, 0, p->K, 0, 1, s2, s3, d2, d3};
      GC_TRY(gc_vgemm_nt(ctx, &g));
    } else {
      if (nf > 0) {
        gc_vgemm_args g = {Co, p->K, Lg, nf, ws, dyw, Lw, 1, Lg, ws, 0, Lw, Lg, ws, part, p->K, CK, 0, s2, s3, d2, d3};
        GC_TRY(gc_vgemm_nt(ctx, &g));
      }
      if (rem) {
        gc_vgemm_args g = {Co, p->K, rem * plane, 1, ws, dyw + nf * Lg, Lw, 1, 0, ws, nf * Lg, Lw, 0,
                           ws, part + nf * CK, p->K, 0, 0, s2, s3, d2, d3};
        GC_TRY(gc_vgemm_nt(ctx, &g));
      }
      GC_TRY(GC_LAUNCH(ctx, &fam, K_CONV_SUM_PARTIALS, CK, GC_KMEM(ws->arena->buf), GC_KU64(ws->offset + part),
                       GC_KU32(G), GC_KU32(CK), GC_KT(dw)));
    }
  }
cleanup:
  return st;
}

/* stride 1, and a data-gradient padding dilation*(kernel-1) - padding that is not negative */
static int implicit_shape(const gc_conv *c) {
  return c && c->sh == 1 && c->sw == 1 && c->ph <= c->dh * (c->kh - 1) && c->pw <= c->dw * (c->kw - 1);
}
static size_t ws_implicit(const conv_plan *p) { return p->implicit; }

/* ---- Winograd F(2x2, 3x3) on the own GEMMs (3x3, stride 1, dilation 1) ----
 * The input is zero-padded as for the implicit convolution; the 4x4 patches of the 2x2 output tiles are
 * transformed (V = B^T d B), the filters too (U = G g G^T), 16 GEMMs M[e] = U[e] V[e] (one batched call)
 * sum over input channels with 2.25x fewer multiplications than the direct convolution, and the tiles are
 * transformed back (A^T M A) into NCHW. The data gradient is the same on dy padded by 2 - padding with
 * the weights transposed and flipped. Its rounding differs from the direct sum's by the transforms'
 * (tests/test_layers.c states the tolerance). */
typedef struct wino_io {
  const gc_tensor *src;     /* NCHW input of the chunk's images */
  size_t cin, hs, ws, pt, pl, hp, wp;
  const gc_tensor *w;       /* filters (cout, cin, 3, 3) at w_off */
  size_t w_off, cout;
  const gc_tensor *dst;     /* NCHW output, h x w */
  size_t h, w_;
  int accumulate;
  const gc_tensor *bias;
} wino_io;

static int wino_chunk(gc_ctx *ctx, const wino_io *io, size_t b0, size_t bc, size_t chunk, const gc_tensor *ws,
                      int make_u) {
  int st = 0;
  size_t TH = (io->h + 1) / 2, TW = (io->w_ + 1) / 2, T = bc * TH * TW, Tmax = chunk * TH * TW;
  size_t xp = 0, v = xp + io->cin * chunk * io->hp * io->wp, m = v + 16 * io->cin * Tmax, u = m + 16 * io->cout * Tmax;
  if (make_u)
    GC_TRY(GC_LAUNCH(ctx, &fam, K_WINO_WTRANS, io->cout * io->cin, GC_KMEM(io->w->arena->buf),
                     GC_KU64(io->w->offset + io->w_off), GC_KMEM(ws->arena->buf), GC_KU64(ws->offset + u),
                     GC_KU32(io->cout), GC_KU32(io->cin)));
  GC_TRY(pad_cnhw(ctx, io->src, b0, bc, io->cin, io->hs, io->ws, ws, xp, io->hp, io->wp, io->pt, io->pl, 0));
  GC_TRY(GC_LAUNCH(ctx, &fam, K_WINO_ITRANS, io->cin * T, GC_KMEM(ws->arena->buf), GC_KU64(ws->offset + xp),
                   GC_KU32(bc), GC_KU32(io->cin), GC_KU32(io->hp), GC_KU32(io->wp), GC_KU32(TH), GC_KU32(TW),
                   GC_KMEM(ws->arena->buf), GC_KU64(ws->offset + v)));
  gc_vgemm_args g = {io->cout, T, io->cin, 16, ws, u, io->cin, 1, io->cout * io->cin, ws, v, T, io->cin * T,
                     ws, m, T, io->cout * T, 0, 0, 0, 0, 0};
  GC_TRY(gc_vgemm(ctx, &g));
  const gc_tensor *bt = io->bias ? io->bias : io->dst;
  GC_TRY(GC_LAUNCH(ctx, &fam, K_WINO_OTRANS, io->cout * T, GC_KMEM(ws->arena->buf), GC_KU64(ws->offset + m), GC_KU32(bc),
                   GC_KU32(io->cout), GC_KU32(TH), GC_KU32(TW), GC_KMEM(io->dst->arena->buf),
                   GC_KU64(io->dst->offset + b0 * gc_tensor_nstride(io->dst)), GC_KU32(GC_NS(io->dst)), GC_KU32(io->h),
                   GC_KU32(io->w_), GC_KU32(io->accumulate ? 1 : 0), GC_KT(bt), GC_KU32(io->bias ? 1 : 0)));
cleanup:
  return st;
}

/* where wino_chunk's filters end: the data gradient keeps its flipped weights past them */
static size_t wino_end(const wino_io *io, size_t chunk) {
  size_t Tmax = chunk * ((io->h + 1) / 2) * ((io->w_ + 1) / 2);
  return io->cin * chunk * io->hp * io->wp + 16 * io->cin * Tmax + 16 * io->cout * Tmax + 16 * io->cout * io->cin;
}

static int fwd_winograd(gc_ctx *ctx, const conv_call *a) {
  int st = 0;
  const gc_conv *c = a->c;
  const conv_plan *p = a->p;
  wino_io io = {a->x, (size_t)c->c_in, a->x->dim[2], a->x->dim[3], (size_t)c->ph, (size_t)c->pw, p->Hp, p->Wp,
                a->w, 0, (size_t)c->c_out, a->y, p->ho, p->wo, 0, c->bias ? a->b : NULL};
  size_t n = a->x->dim[0];
  for (size_t b0 = 0; b0 < n; b0 += p->chunk)
    GC_TRY(wino_chunk(ctx, &io, b0, n - b0 < p->chunk ? n - b0 : p->chunk, p->chunk, a->ws, b0 == 0));
cleanup:
  return st;
}

static int dgrad_winograd(gc_ctx *ctx, const conv_call *a) {
  int st = 0;
  const gc_conv *c = a->c;
  const conv_plan *p = a->p;
  size_t Ci = (size_t)c->c_in, Co = (size_t)c->c_out;
  wino_io io = {a->y, Co, p->ho, p->wo, 2 - (size_t)c->ph, 2 - (size_t)c->pw, p->Hq, p->Wq, a->ws, 0, Ci, a->dx,
                a->x->dim[2], a->x->dim[3], a->accumulate_dx, NULL};
  io.w_off = wino_end(&io, p->chunk);
  GC_TRY(GC_LAUNCH(ctx, &fam, K_CONV_WFLIP, Co * Ci * 9, GC_KT(a->w), GC_KMEM(a->ws->arena->buf),
                   GC_KU64(a->ws->offset + io.w_off), GC_KU32(Co), GC_KU32(Ci), GC_KU32(3), GC_KU32(3)));
  size_t n = a->x->dim[0];
  for (size_t b0 = 0; b0 < n; b0 += p->chunk)
    GC_TRY(wino_chunk(ctx, &io, b0, n - b0 < p->chunk ? n - b0 : p->chunk, p->chunk, a->ws, b0 == 0));
cleanup:
  return st;
}

static int winograd_shape(const gc_conv *c) {
  return c && c->kh == 3 && c->kw == 3 && c->sh == 1 && c->sw == 1 && c->dh == 1 && c->dw == 1 && c->ph <= 2 &&
         c->pw <= 2;
}
static size_t ws_winograd(const conv_plan *p) { return p->winograd; }

static int any_shape(const gc_conv *c) { return c != NULL; }

static size_t ws_full(const conv_plan *p) { return p->total; }
static size_t ws_col(const conv_plan *p) { return p->yt; }

typedef struct conv_algo {
  const char *name;
  const char *description;
  int (*supports)(const gc_conv *c);
  size_t (*workspace)(const conv_plan *p); /* elements */
  int (*forward)(gc_ctx *ctx, const conv_call *a); /* NULL: not a forward algorithm */
  int (*dgrad)(gc_ctx *ctx, const conv_call *a);   /* data gradient: dx (+)= ...; NULL: none */
  int (*wgrad)(gc_ctx *ctx, const conv_call *a);   /* weight (and bias) gradient: dw += ..., db += ...; NULL: none */
  int own;                                          /* runs on gafcl's own GEMMs (kernels/vgemm.cl) */
} conv_algo;

static const conv_algo algos[] = {
    {"im2col_gemm", "im2col of a chunk of images, one GEMM over the chunk, transpose to NCHW; data gradient: GEMM "
                    "+ col2im; weight gradient: split-reduction GEMMs summed in a fixed order",
     any_shape, ws_full, fwd_im2col_gemm, dgrad_im2col_gemm, wgrad_im2col_gemm, 0},
    {"im2col_batched", "im2col per image, one strided-batched GEMM call writing NCHW (forward only)", any_shape,
     ws_col, fwd_im2col_batched, NULL, NULL, 0},
    {"pointwise", "1x1 stride-1 convolutions: GEMMs on x itself, no im2col; data gradient by per-image GEMMs "
                  "straight into dx",
     is_pointwise, ws_full, fwd_pointwise, dgrad_pointwise, NULL, 0},
    {"im2col_vgemm", "im2col_gemm on gafcl's own vector-tile GEMMs (CPUs): one GEMM over the chunk; data gradient "
                     "likewise + col2im; weight gradient by vgemm_nt in fixed-order partials",
     any_shape, ws_full, fwd_im2col_vgemm, dgrad_im2col_vgemm, wgrad_im2col_vgemm, 1},
    {"im2col_vgemm_batched", "im2col per image and gafcl's own GEMM writing NCHW; data gradient per image from dy in "
                             "place (no transpose) + col2im",
     any_shape, ws_col, fwd_im2col_vgemm_batched, dgrad_im2col_vgemm_batched, NULL, 1},
    {"pointwise_vgemm", "1x1 stride-1 convolutions on gafcl's own GEMM: x and dy read in place, dx written in place",
     is_pointwise, ws_col, fwd_pointwise_vgemm, dgrad_pointwise_vgemm, NULL, 1},
    {"implicit_vgemm", "stride-1 convolutions without im2col: the input zero-padded once, gafcl's own GEMMs reading "
                       "each kernel tap's rows from it in place; data gradient on padded dy with flipped weights; "
                       "weight gradient in fixed-order partials",
     implicit_shape, ws_implicit, fwd_implicit, dgrad_implicit, wgrad_implicit, 1},
    {"winograd", "Winograd F(2x2, 3x3) for 3x3 stride-1 convolutions: padded input, 16 transformed GEMMs on "
                 "gafcl's own GEMM (2.25x fewer multiplications); data gradient likewise on padded dy",
     winograd_shape, ws_winograd, fwd_winograd, dgrad_winograd, NULL, 1},
};
enum { NALGO = (int)(sizeof algos / sizeof algos[0]) };

int gc_conv_algo_count(void) { return NALGO; }
const char *gc_conv_algo_name(int i) { return i >= 0 && i < NALGO ? algos[i].name : NULL; }
const char *gc_conv_algo_description(int i) { return i >= 0 && i < NALGO ? algos[i].description : NULL; }

/* The number of groups of c (1 when ungrouped) and the ungrouped convolution of one group. */
static int conv_groups(const gc_conv *c, gc_conv *sub) {
  *sub = *c;
  int g = c->groups > 1 ? c->groups : 1;
  sub->c_in = c->c_in / g, sub->c_out = c->c_out / g, sub->groups = 0;
  return g;
}

int gc_conv_algo_supports(int i, const gc_conv *c, int pass) {
  gc_conv sub;
  if (c && conv_groups(c, &sub) > 1) return gc_conv_algo_supports(i, &sub, pass);
  if (i < 0 || i >= NALGO || !c || !algos[i].supports(c)) return 0;
  return pass == GC_CONV_FORWARD ? algos[i].forward != NULL
         : pass == GC_CONV_DGRAD ? algos[i].dgrad != NULL
         : pass == GC_CONV_WGRAD ? algos[i].wgrad != NULL
                                 : 0;
}

size_t gc_conv_workspace(const gc_ctx *ctx, const gc_conv *c, size_t n, size_t h, size_t w) {
  conv_plan p;
  gc_conv sub;
  if (conv_groups(c, &sub) > 1) {
    size_t ho, wo;
    return gc_conv_out(c, h, w, &ho, &wo) ? 0 : gc_conv_workspace(ctx, &sub, n, h, w);
  }
  if (conv_plan_make(ctx, c, n, h, w, &p)) return 0;
  size_t most = 0;
  for (int i = 0; i < NALGO; i++)
    if (algos[i].supports(c) && algos[i].workspace(&p) > most) most = algos[i].workspace(&p);
  return most;
}

/* Whether the device runs gafcl's own GEMMs correctly. Mesa's llvmpipe (rusticl's CPU driver, 22.3)
 * stops a loop after 65535 iterations counted over all its entries in a work-item, so the own GEMMs'
 * inner loops end early on long reductions (tests/test_layers.c found it: wrong results from K = 4608 on);
 * there the CLBlast-based algorithms run. */
static int own_gemms_run(const gc_ctx *ctx) {
  return !(strstr(ctx->dev.platform, "rusticl") && strstr(ctx->dev.name, "llvmpipe"));
}

int gc_conv_algo_usable(gc_ctx *ctx, int i) {
  if (i < 0 || i >= NALGO) return 0;
  return algos[i].own ? own_gemms_run(ctx) : 1;
}

static int heuristic(const gc_ctx *ctx, const gc_conv *c, const conv_plan *p, int pass) {
  if ((ctx->dev.type & CL_DEVICE_TYPE_CPU) && own_gemms_run(ctx)) { /* the own GEMMs (measured, 2-core EPYC) */
    const int big = p->P >= 256, imp = implicit_shape(c), win = winograd_shape(c);
    if (pass == GC_CONV_WGRAD) return imp && big ? 6 : 3;           /* implicit_vgemm : im2col_vgemm */
    if (is_pointwise(c)) return 5;                                  /* pointwise_vgemm */
    if (imp && big) return 6;                                       /* implicit_vgemm */
    if (win && (pass == GC_CONV_FORWARD || p->P >= 64)) return 7;   /* winograd */
    return pass == GC_CONV_FORWARD && big ? 4 : 3;                  /* im2col_vgemm_batched : im2col_vgemm */
  }
  if (pass != GC_CONV_FORWARD) return 0;                  /* im2col_gemm */
  if (is_pointwise(c)) return 2;                          /* pointwise */
  return p->P >= 64 ? 1 : 0;                              /* im2col_batched : im2col_gemm */
}

/* ---- the choice per shape ---- */

enum { MODE_MEASURE = -2, MODE_HEURISTIC = -1 };

typedef struct conv_key {
  int pass;
  int db;     /* weight gradient: the bias gradient is wanted too */
  int c_in, c_out, kh, kw, sh, sw, ph, pw, dh, dw, bias;
  size_t n, h, w, ws_limit, split;
} conv_key;

typedef struct conv_choice {
  conv_key key;
  int algo;
} conv_choice;

struct gc_conv_state {
  int mode;          /* MODE_* or a forced algorithm */
  int mode_set;      /* set through gc_conv_algo_set or read from the environment */
  conv_choice *list;
  size_t n, cap;
  gc_conv_stats stats;
};

void gc_conv_state_free(gc_conv_state *s) {
  if (!s) return;
  free(s->list);
  free(s);
}

static int parse_mode(const char *m, int *mode) {
  if (!strcmp(m, "measure")) {
    *mode = MODE_MEASURE;
    return GC_OK;
  }
  if (!strcmp(m, "heuristic")) {
    *mode = MODE_HEURISTIC;
    return GC_OK;
  }
  for (int i = 0; i < NALGO; i++)
    if (!strcmp(m, algos[i].name)) {
      *mode = i;
      return GC_OK;
    }
  char list[256] = "measure, heuristic";
  for (int i = 0; i < NALGO; i++) {
    strncat(list, ", ", sizeof list - strlen(list) - 1);
    strncat(list, algos[i].name, sizeof list - strlen(list) - 1);
  }
  GC_FAIL(GC_ERR_ARG, "convolution algorithm '%s': use %s", m, list);
}

static int conv_state(gc_ctx *ctx, gc_conv_state **out) {
  struct gc_ctx_ops *ops = gc_ctx_ops_get(ctx);
  if (!ops) GC_FAIL(GC_ERR_HOST_MEM, "convolution state");
  if (!ops->conv) {
    ops->conv = calloc(1, sizeof *ops->conv);
    if (!ops->conv) GC_FAIL(GC_ERR_HOST_MEM, "convolution state");
    ops->conv->mode = MODE_MEASURE;
  }
  gc_conv_state *s = ops->conv;
  if (!s->mode_set) {
    const char *env = getenv("GAFCL_CONV_ALGO");
    if (env && *env) {
      int st = parse_mode(env, &s->mode);
      if (st) return gc_error_prefix(st, "GAFCL_CONV_ALGO: ");
    }
    s->mode_set = 1;
  }
  *out = s;
  return GC_OK;
}

int gc_conv_algo_set(gc_ctx *ctx, const char *mode) {
  gc_conv_state *s;
  int m, st = parse_mode(mode, &m);
  if (st) return st;
  struct gc_ctx_ops *ops = gc_ctx_ops_get(ctx);
  if (!ops) GC_FAIL(GC_ERR_HOST_MEM, "convolution state");
  if (!ops->conv) {
    ops->conv = calloc(1, sizeof *ops->conv);
    if (!ops->conv) GC_FAIL(GC_ERR_HOST_MEM, "convolution state");
  }
  s = ops->conv;
  s->mode = m;
  s->mode_set = 1;
  s->n = 0; /* choices made under another mode are forgotten */
  return GC_OK;
}

int gc_conv_algo_stats(gc_ctx *ctx, gc_conv_stats *out) {
  gc_conv_state *s = NULL;
  memset(out, 0, sizeof *out);
  int st = conv_state(ctx, &s);
  if (st) return st;
  *out = s->stats;
  return GC_OK;
}

static void make_key(const gc_ctx *ctx, const gc_conv *c, size_t n, size_t h, size_t w, int pass, int db,
                     conv_key *k) {
  memset(k, 0, sizeof *k); /* compared with memcmp: padding zeroed */
  k->db = pass == GC_CONV_WGRAD && db;
  k->pass = pass, k->c_in = c->c_in, k->c_out = c->c_out, k->kh = c->kh, k->kw = c->kw, k->sh = c->sh, k->sw = c->sw;
  k->ph = c->ph, k->pw = c->pw, k->dh = c->dh, k->dw = c->dw, k->bias = c->bias;
  k->n = n, k->h = h, k->w = w, k->ws_limit = ctx->conv_ws_limit, k->split = ctx->conv_wgrad_split;
}

static int lookup(const gc_conv_state *s, const conv_key *k, int any_grads) {
  for (size_t i = 0; i < s->n; i++) {
    conv_key e = s->list[i].key;
    if (any_grads) e.db = 0;
    if (!memcmp(&e, k, sizeof e)) return s->list[i].algo;
  }
  return -1;
}

int gc_conv_algo_chosen(gc_ctx *ctx, const gc_conv *c, size_t n, size_t h, size_t w, int pass) {
  gc_conv_state *s = ctx->ops ? ctx->ops->conv : NULL;
  gc_conv sub;
  if (c && conv_groups(c, &sub) > 1) return gc_conv_algo_chosen(ctx, &sub, n, h, w, pass);
  if (!s) return -1;
  conv_key k;
  make_key(ctx, c, n, h, w, pass, 0, &k);
  return lookup(s, &k, 1);
}

static const char *pass_name(int pass) {
  return pass == GC_CONV_FORWARD ? "forward" : pass == GC_CONV_DGRAD ? "dgrad" : "wgrad";
}

static void key_text(const conv_key *k, char *out, size_t cap) {
  snprintf(out, cap,
           "%s n=%zu c_in=%d h=%zu w=%zu c_out=%d kernel=%dx%d stride=%dx%d pad=%dx%d dilation=%dx%d bias=%d "
           "workspace=%zu split=%zu%s%s",
           pass_name(k->pass), k->n, k->c_in, k->h, k->w, k->c_out, k->kh, k->kw,
           k->sh, k->sw, k->ph, k->pw, k->dh, k->dw, k->bias, k->ws_limit, k->split,
           k->pass == GC_CONV_WGRAD ? (k->db ? " db=1" : " db=0") : "", "");
}

/* The cache entry's path for a key and its candidates (their names are part of the key: a new
 * algorithm makes old choices stale). */
static void entry_path(const gc_ctx *ctx, const conv_key *k, const int *cand, int nc, char *path, size_t cap) {
  char text[512];
  gc_sha256 h;
  gc_cache_key_begin(&h, ctx, "gafcl convolution choice v1");
  /* CLBlast's parameters and the own GEMMs' tiles: tuning either makes the choices measured before stale */
  const char *sig = gc_clblast_prepare((gc_ctx *)ctx);
  gc_sha256_update(&h, sig, strlen(sig) + 1);
  gc_vgemm_tile t[2];
  if (gc_vgemm_tile_get((gc_ctx *)ctx, GC_VGEMM_NN, &t[0], NULL) == GC_OK &&
      gc_vgemm_tile_get((gc_ctx *)ctx, GC_VGEMM_NT, &t[1], NULL) == GC_OK) {
    char tiles[96];
    snprintf(tiles, sizeof tiles, "tiles %d %d %d %d / %d %d %d %d", t[0].vw, t[0].nv, t[0].mr, t[0].lw, t[1].vw, t[1].mr,
             t[1].nr, t[1].lw);
    gc_sha256_update(&h, tiles, strlen(tiles) + 1);
  } else {
    gc_clear_error();
  }
  key_text(k, text, sizeof text);
  gc_sha256_update(&h, text, strlen(text) + 1);
  for (int i = 0; i < nc; i++) gc_sha256_update(&h, algos[cand[i]].name, strlen(algos[cand[i]].name) + 1);
  gc_cache_key_path(&h, ctx, "conv", path, cap);
}

/* The algorithm an entry names, if it is one of the candidates; -1 when absent, unreadable or foreign. */
static int entry_read(const char *path, const char *keytext, const int *cand, int nc) {
  char buf[2048];
  int fd = open(path, O_RDONLY | O_NONBLOCK);
  if (fd < 0) return -1;
  struct stat sb;
  ssize_t got = -1;
  if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size < (off_t)sizeof buf) got = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (got <= 0) return -1;
  buf[got] = '\0';
  char want[600];
  snprintf(want, sizeof want, "gafcl convolution choice 1\nshape %s\nalgorithm ", keytext);
  if (strncmp(buf, want, strlen(want)) != 0) return -1;
  const char *name = buf + strlen(want);
  size_t len = strcspn(name, "\n");
  for (int i = 0; i < nc; i++)
    if (strlen(algos[cand[i]].name) == len && !strncmp(name, algos[cand[i]].name, len)) return cand[i];
  return -1;
}

/* Keep a measured choice and return the one the cache holds afterwards (-1: none could be kept). The
 * entry is linked into place (link(2) never replaces), so the first process to measure a shape decides
 * for every process, also one that measured at the same time: it reads the winner's entry back. An
 * unreadable or foreign entry is moved aside under a name of its own first (rename(2) of one file
 * succeeds for one process only), then the link is tried again: the replacement is first-wins too. */
static int entry_keep(const gc_ctx *ctx, const char *path, const char *text, const char *keytext, const int *cand,
                      int nc) {
  if (gc_mkdir_p(ctx->cache_dir) != 0) return -1;
  char tmp[1300], aside[1300];
  static unsigned counter;
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld.%u", path, (long)getpid(), counter++);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return -1;
  int bad = gc_write_all(fd, text, strlen(text)) || fsync(fd) != 0;
  if (close(fd) != 0) bad = 1;
  int got = -1;
  for (int attempt = 0; !bad && attempt < 2 && got < 0; attempt++) {
    if (link(tmp, path) != 0 && errno != EEXIST) break;
    got = entry_read(path, keytext, cand, nc); /* ours, or the one that was there first */
    if (got < 0 && attempt == 0) {           /* a bad entry: out of the way, then once more */
      snprintf(aside, sizeof aside, "%s.bad.%ld.%u", path, (long)getpid(), counter++);
      if (rename(path, aside) == 0) {
        struct stat sb;
        if (lstat(aside, &sb) == 0 && S_ISDIR(sb.st_mode)) rmdir(aside);
        else unlink(aside);
      }
    }
  }
  unlink(tmp);
  return got;
}

static double wall_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int run_algo(gc_ctx *ctx, int i, int pass, const conv_call *a) {
  return pass == GC_CONV_FORWARD ? algos[i].forward(ctx, a)
         : pass == GC_CONV_DGRAD ? algos[i].dgrad(ctx, a)
                                 : algos[i].wgrad(ctx, a);
}

/* Time each candidate: one untimed run (builds CLBlast's kernels for the shape), then the best of two
 * timed runs, each from an idle queue to the end of its work. Backward candidates write into scratch
 * gradients so that the layer's own accumulate only once. */
static int measure(gc_ctx *ctx, const conv_call *a, int pass, const int *cand, int nc, double *ms, int *best) {
  int st = 0;
  gc_arena scratch;
  gc_tensor sdx, sdw, sdb;
  conv_call b = *a;
  gc_arena_init(ctx, &scratch, "convolution measurement");
  if (pass != GC_CONV_FORWARD) {
    if (a->dx) {
      size_t d[4] = {a->dx->dim[0], a->dx->dim[1], a->dx->dim[2], a->dx->dim[3]};
      GC_TRY(gc_arena_reserve(&scratch, &sdx, 4, d));
      b.dx = &sdx;
      b.accumulate_dx = 0;
    }
    if (a->dw) {
      size_t nw = gc_tensor_numel(a->dw);
      GC_TRY(gc_arena_reserve(&scratch, &sdw, 1, &nw));
      b.dw = &sdw;
    }
    if (a->db) {
      size_t nb = gc_tensor_numel(a->db);
      GC_TRY(gc_arena_reserve(&scratch, &sdb, 1, &nb));
      b.db = &sdb;
    }
    GC_TRY(gc_arena_commit(ctx, &scratch, 0));
  }
  *best = -1;
  for (int j = 0; j < nc; j++) {
    ms[j] = 1e300;
    for (int r = 0; r < 3; r++) {
      GC_TRY(gc_finish(ctx));
      double t0 = wall_s();
      if (run_algo(ctx, cand[j], pass, &b) != GC_OK || gc_finish(ctx) != GC_OK) { /* not a candidate here */
        ms[j] = 1e300;
        break;
      }
      double t = (wall_s() - t0) * 1e3;
      if (r > 0 && t < ms[j]) ms[j] = t;
    }
    if (ms[j] < 1e300 && (*best < 0 || ms[j] < ms[*best])) *best = j;
  }
cleanup:
  gc_arena_release(&scratch);
  return st;
}

/* The algorithm for this call's shape and pass: remembered, read from the cache, measured, forced or
 * by the heuristic (see the top of this file). */
static int choose(gc_ctx *ctx, const conv_call *a, int pass, int *algo) {
  int st = 0;
  gc_conv_state *s = NULL;
  GC_TRY(conv_state(ctx, &s));
  const gc_conv *c = a->c;
  const int want_db = pass == GC_CONV_WGRAD && a->db != NULL;
  conv_key key;
  make_key(ctx, c, a->x->dim[0], a->x->dim[2], a->x->dim[3], pass, want_db, &key);
  int known = lookup(s, &key, 0);
  if (known >= 0) {
    *algo = known;
    return GC_OK;
  }
  int cand[NALGO], nc = 0;
  for (int i = 0; i < NALGO; i++)
    if (gc_conv_algo_supports(i, c, pass) && gc_conv_algo_usable(ctx, i)) cand[nc++] = i;
  int pick = heuristic(ctx, c, a->p, pass);
  if (s->mode >= 0 && gc_conv_algo_supports(s->mode, c, pass) && gc_conv_algo_usable(ctx, s->mode)) {
    pick = s->mode;
    s->stats.forced++;
  } else if (s->mode == MODE_MEASURE && nc > 1 && ctx->cache_dir[0]) {
    char path[1200], keytext[512];
    key_text(&key, keytext, sizeof keytext);
    entry_path(ctx, &key, cand, nc, path, sizeof path);
    int got = entry_read(path, keytext, cand, nc);
    if (got >= 0) {
      pick = got;
      s->stats.loaded++;
    } else {
      double ms[NALGO];
      int best;
      if (measure(ctx, a, pass, cand, nc, ms, &best) != GC_OK || best < 0) {
        /* scratch memory the device cannot give, or candidates that fail: no choice is measured, so
         * none is kept; the heuristic decides (its algorithm is the one that must work) */
        gc_clear_error();
        s->stats.heuristic++;
        goto decided;
      }
      char text[1400];
      int len = snprintf(text, sizeof text, "gafcl convolution choice 1\nshape %s\nalgorithm %s\nmilliseconds", keytext,
                         algos[cand[best]].name);
      for (int j = 0; j < nc && len > 0 && (size_t)len < sizeof text; j++)
        len += snprintf(text + len, sizeof text - (size_t)len, " %s=%.4f", algos[cand[j]].name, ms[j]);
      if (len > 0 && (size_t)len < sizeof text - 1) strcat(text, "\n");
      /* the entry on disk decides, also when another process wrote it first; if none can be kept, the
       * heuristic does (a measurement that was not kept must not decide a run's bits) */
      got = entry_keep(ctx, path, text, keytext, cand, nc);
      if (got >= 0) {
        pick = got;
        s->stats.measured++;
      } else {
        s->stats.heuristic++;
      }
    }
  } else {
    s->stats.heuristic++;
  }
decided:
  if (s->n == s->cap) {
    size_t nc2 = s->cap ? 2 * s->cap : 32;
    conv_choice *l = realloc(s->list, nc2 * sizeof *l);
    if (!l) GC_FAIL(GC_ERR_HOST_MEM, "convolution choices");
    s->list = l;
    s->cap = nc2;
  }
  conv_choice *e = &s->list[s->n++];
  e->key = key;
  e->algo = pick;
  *algo = pick;
cleanup:
  return st;
}

/* ---- the layer ---- */

/* A grouped convolution, group by group: channel views of x, y (dy), dx and the group's rows of w (dw)
 * and b (db), each an ungrouped convolution. */
static int conv_grouped(gc_ctx *ctx, const gc_conv *c, const gc_tensor *x, const gc_tensor *w, const gc_tensor *b,
                        const gc_tensor *y, const gc_tensor *dx, int accumulate_dx, const gc_tensor *dw,
                        const gc_tensor *db, const gc_tensor *ws, int backward) {
  int st = 0;
  gc_conv sub;
  int G = conv_groups(c, &sub);
  const char *what = backward ? "conv backward" : "conv forward";
  if (!x || x->ndim != 4) GC_FAIL(GC_ERR_ARG, "%s: x must be a 4-D NCHW tensor", what);
  size_t n = x->dim[0], h = x->dim[2], wd = x->dim[3], ho, wo;
  GC_TRY(gc_conv_out(c, h, wd, &ho, &wo));
  size_t wk = (size_t)sub.c_out * sub.c_in * c->kh * c->kw; /* one group's weights */
  GC_TRY(gc_need4(x, n, (size_t)c->c_in, h, wd, what, "x"));
  GC_TRY(gc_need_n(w, (size_t)G * wk, what, "w"));
  GC_TRY(gc_need4(y, n, (size_t)c->c_out, ho, wo, what, "y/dy"));
  if (c->bias && b) GC_TRY(gc_need_n(b, (size_t)c->c_out, what, "bias"));
  if (c->bias && db) GC_TRY(gc_need_n(db, (size_t)c->c_out, what, "db"));
  if (backward && !dx && !dw) GC_FAIL(GC_ERR_ARG, "conv backward: neither dx nor dw given");
  if (dw) GC_TRY(gc_need_n(dw, (size_t)G * wk, what, "dw"));
  if (dx) GC_TRY(gc_need4(dx, n, (size_t)c->c_in, h, wd, what, "dx"));
  if (!backward && c->bias && !b) GC_FAIL(GC_ERR_ARG, "conv forward: the layer has a bias but none was given");
  for (int g = 0; g < G; g++) {
    size_t ci = (size_t)g * sub.c_in, co = (size_t)g * sub.c_out;
    gc_tensor xg, yg, wg, bg, dxg, dwg, dbg;
    GC_TRY(gc_tensor_channels(x, ci, (size_t)sub.c_in, &xg));
    GC_TRY(gc_tensor_channels(y, co, (size_t)sub.c_out, &yg));
    GC_TRY(gc_tensor_slice(w, (size_t)g * wk, wk, &wg));
    if (c->bias && b) GC_TRY(gc_tensor_slice(b, co, (size_t)sub.c_out, &bg));
    if (!backward) {
      GC_TRY(gc_conv_forward(ctx, &sub, &xg, &wg, c->bias ? &bg : NULL, &yg, ws));
      continue;
    }
    if (dx) GC_TRY(gc_tensor_channels(dx, ci, (size_t)sub.c_in, &dxg));
    if (dw) GC_TRY(gc_tensor_slice(dw, (size_t)g * wk, wk, &dwg));
    if (dw && c->bias && db) GC_TRY(gc_tensor_slice(db, co, (size_t)sub.c_out, &dbg));
    GC_TRY(gc_conv_backward(ctx, &sub, &xg, &wg, &yg, dx ? &dxg : NULL, accumulate_dx, dw ? &dwg : NULL,
                            dw && c->bias && db ? &dbg : NULL, ws));
  }
cleanup:
  if (st) gc_error_prefix(st, "conv %d->%d in %d groups: ", c->c_in, c->c_out, G);
  return st;
}

static int conv_check(gc_ctx *ctx, const gc_conv *c, const gc_tensor *x, const gc_tensor *w, const gc_tensor *b,
                      const gc_tensor *y_or_dy, const gc_tensor *ws, conv_plan *p, const char *what) {
  int st = 0;
  if (!x || x->ndim != 4) GC_FAIL(GC_ERR_ARG, "%s: x must be a 4-D NCHW tensor", what);
  size_t n = x->dim[0], h = x->dim[2], wd = x->dim[3];
  GC_TRY(conv_plan_make(ctx, c, n, h, wd, p));
  GC_TRY(gc_need4(x, n, (size_t)c->c_in, h, wd, what, "x"));
  GC_TRY(gc_need_n(w, (size_t)c->c_out * p->K, what, "w"));
  if (c->bias && b) GC_TRY(gc_need_n(b, (size_t)c->c_out, what, "bias"));
  GC_TRY(gc_need4(y_or_dy, n, (size_t)c->c_out, p->ho, p->wo, what, "y/dy"));
  GC_TRY(gc_need(ws, what, "workspace"));
  size_t need = gc_conv_workspace(ctx, c, n, h, wd);
  if (gc_tensor_numel(ws) < need)
    GC_FAIL(GC_ERR_ARG, "%s: workspace has %zu elements, needs %zu (gc_conv_workspace)", what, gc_tensor_numel(ws), need);
cleanup:
  return st;
}

int gc_conv_forward(gc_ctx *ctx, const gc_conv *c, const gc_tensor *x, const gc_tensor *w, const gc_tensor *b,
                    const gc_tensor *y, const gc_tensor *ws) {
  int st = 0, algo = -1;
  conv_plan p;
  if (c && c->groups > 1) return conv_grouped(ctx, c, x, w, b, y, NULL, 0, NULL, NULL, ws, 0);
  GC_TRY(conv_check(ctx, c, x, w, b, y, ws, &p, "conv forward"));
  if (c->bias && !b) GC_FAIL(GC_ERR_ARG, "conv forward: the layer has a bias but none was given");
  conv_call a = {c, &p, x, w, b, y, ws, NULL, NULL, NULL, 0};
  GC_TRY(choose(ctx, &a, GC_CONV_FORWARD, &algo));
  GC_TRY(algos[algo].forward(ctx, &a));
cleanup:
  if (st)
    gc_error_prefix(st, "conv %d->%d %dx%d/%d%s%s: ", c->c_in, c->c_out, c->kh, c->kw, c->sh, algo >= 0 ? " " : "",
                    algo >= 0 ? algos[algo].name : "");
  return st;
}

int gc_conv_backward(gc_ctx *ctx, const gc_conv *c, const gc_tensor *x, const gc_tensor *w, const gc_tensor *dy,
                     const gc_tensor *dx, int accumulate_dx, const gc_tensor *dw, const gc_tensor *db,
                     const gc_tensor *ws) {
  int st = 0, algo = -1, pass = GC_CONV_WGRAD;
  conv_plan p;
  if (c && c->groups > 1) return conv_grouped(ctx, c, x, w, NULL, dy, dx, accumulate_dx, dw, db, ws, 1);
  GC_TRY(conv_check(ctx, c, x, w, db, dy, ws, &p, "conv backward"));
  if (!dx && !dw) GC_FAIL(GC_ERR_ARG, "conv backward: neither dx nor dw given");
  if (dw) GC_TRY(gc_need_n(dw, (size_t)c->c_out * p.K, "conv backward", "dw"));
  if (dx) GC_TRY(gc_need4(dx, x->dim[0], (size_t)c->c_in, x->dim[2], x->dim[3], "conv backward", "dx"));
  if (dw) {
    conv_call a = {c, &p, x, w, NULL, dy, ws, NULL, dw, c->bias ? db : NULL, 0};
    GC_TRY(choose(ctx, &a, GC_CONV_WGRAD, &algo));
    GC_TRY(algos[algo].wgrad(ctx, &a));
  }
  if (dx) {
    pass = GC_CONV_DGRAD;
    algo = -1;
    conv_call a = {c, &p, x, w, NULL, dy, ws, dx, NULL, NULL, accumulate_dx};
    GC_TRY(choose(ctx, &a, GC_CONV_DGRAD, &algo));
    GC_TRY(algos[algo].dgrad(ctx, &a));
  }
cleanup:
  if (st)
    gc_error_prefix(st, "conv %d->%d %dx%d/%d %s%s%s: ", c->c_in, c->c_out, c->kh, c->kw, c->sh, pass_name(pass),
                    algo >= 0 ? " " : "", algo >= 0 ? algos[algo].name : "");
  return st;
}
