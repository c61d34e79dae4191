/* Layers on the device: forward and backward for the networks gafcl trains (ResNet, PreAct/SE-ResNet,
 * DenseNet, SSD300). NCHW float32.
 *
 * One contract for every layer:
 *   - a small descriptor (gc_conv, gc_bn, gc_pool, ...) and an output-shape function that validates it;
 *   - forward(x -> y), in training or inference mode where they differ;
 *   - backward(dy -> dx) that ACCUMULATES into parameter gradients (dw += ...) and writes the input
 *     gradient, or adds to it when accumulate_dx is set (a tensor read by two layers);
 *   - an explicit workspace (gc_*_workspace, in elements) passed in by the caller.
 * Activations may be channel views of a wider tensor (gc_tensor_channels): that is how DenseNet layers
 * read from and write into the concatenation buffer without copies. No kernel uses atomics: every
 * reduction runs in a fixed order, so the same inputs on the same device give the same bits. */
#ifndef GC_LAYERS_H
#define GC_LAYERS_H

#include "gc_tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- convolution: im2col + CLBlast GEMM ---- */
typedef struct gc_conv {
  int c_in, c_out;
  int kh, kw;
  int sh, sw; /* stride */
  int ph, pw; /* zero padding */
  int dh, dw; /* dilation (SSD's conv6: 6) */
  int bias;   /* 1: a bias per output channel */
  int groups; /* 0 or 1: every output reads every input channel; G: c_in and c_out split into G groups,
               * output group g reading input group g only (weights c_out x c_in/G x kh x kw) */
} gc_conv;

/* Convolution algorithms are the rows of a table in host/conv.c (im2col_gemm, im2col_batched,
 * pointwise, ...): each says which shapes it supports, the workspace it needs, and runs the forward pass
 * and/or the data gradient and/or the weight gradient. The algorithm for each shape and pass is chosen
 * on first use on a context, the three passes independently, by the mode:
 *   "measure"   (default) time every supporting algorithm on the layer's tensors, keep the fastest, and
 *               remember the choice in the program cache folder (keyed by device, driver and shape) so
 *               that every later run on the device uses it; with no cache folder, the heuristic;
 *   "heuristic" a fixed rule (CPUs: gafcl's own GEMMs, implicit_vgemm, winograd, *_vgemm; other devices: CLBlast's, 1x1 stride-1
 *               pointwise, maps of >= 64 positions im2col_batched, else im2col_gemm; gradients
 *               im2col_gemm; see host/conv.c);
 *   a name      that algorithm where it supports the shape and pass, the heuristic elsewhere.
 * The mode is gc_conv_algo_set's, else the environment variable GAFCL_CONV_ALGO's, else "measure". */
enum { GC_CONV_FORWARD = 1, GC_CONV_DGRAD = 2, GC_CONV_WGRAD = 3 }; /* the passes: y, dx, dw (and db) */
int gc_conv_algo_count(void);
const char *gc_conv_algo_name(int i);        /* NULL past the end */
const char *gc_conv_algo_description(int i);
/* Whether algorithm i runs `pass` (GC_CONV_FORWARD / _DGRAD / _WGRAD) for this descriptor. */
int gc_conv_algo_supports(int i, const gc_conv *c, int pass);
/* Whether this context's device runs algorithm i (the ones on gafcl's own GEMMs are not run on Mesa's
 * llvmpipe, whose loops stop after 65535 iterations; forcing one there gives the heuristic's choice). */
int gc_conv_algo_usable(gc_ctx *ctx, int i);
/* Set the mode ("measure", "heuristic" or an algorithm's name); GC_ERR_ARG names the valid ones.
 * Choices made before are forgotten. */
int gc_conv_algo_set(gc_ctx *ctx, const char *mode);
/* The algorithm chosen on this context for a shape (a batch of n images of h x w) and pass, -1 if none yet. */
int gc_conv_algo_chosen(gc_ctx *ctx, const gc_conv *c, size_t n, size_t h, size_t w, int pass);
/* How the choices of this context were made so far. */
typedef struct gc_conv_stats {
  int measured;  /* measured here and remembered in the cache */
  int loaded;    /* read from the cache */
  int forced;    /* the algorithm the mode names */
  int heuristic; /* by the heuristic (mode, a single candidate, no cache, or a choice that could not be kept) */
} gc_conv_stats;
int gc_conv_algo_stats(gc_ctx *ctx, gc_conv_stats *out);

int gc_conv_out(const gc_conv *c, size_t h, size_t w, size_t *ho, size_t *wo);
/* Workspace elements for a batch of n images of h x w, enough for every algorithm that supports the
 * shape (the im2col buffer is bounded by working in chunks of images: ctx->conv_ws_limit elements at
 * most, but always at least one image). */
size_t gc_conv_workspace(const gc_ctx *ctx, const gc_conv *c, size_t n, size_t h, size_t w);
/* x (N, c_in, H, W), w (c_out, c_in/groups, kh, kw), b (c_out) or NULL, y (N, c_out, Ho, Wo). A grouped
 * convolution runs group by group on channel views, each group an ungrouped convolution with its own
 * algorithm choice (every algorithm supports it). */
int gc_conv_forward(gc_ctx *ctx, const gc_conv *c, const gc_tensor *x, const gc_tensor *w, const gc_tensor *b,
                    const gc_tensor *y, const gc_tensor *ws);
/* dw += dL/dw, db += dL/db (db may be NULL when there is no bias), dx (+)= dL/dx. dx may be NULL (the
 * network input needs no gradient) and dw may be NULL (the data gradient alone), not both. */
int gc_conv_backward(gc_ctx *ctx, const gc_conv *c, const gc_tensor *x, const gc_tensor *w, const gc_tensor *dy,
                     const gc_tensor *dx, int accumulate_dx, const gc_tensor *dw, const gc_tensor *db,
                     const gc_tensor *ws);

/* ---- batch normalisation (2-D), optionally fused with the ReLU that follows it ---- */
typedef struct gc_bn {
  int c;
  float eps;      /* 1e-5 */
  float momentum; /* 0.1: running = (1 - momentum) * running + momentum * batch (unbiased variance) */
  int relu;       /* 1: y = max(bn(x), 0) */
} gc_bn;
/* Training: batch statistics, saved (save_mean, save_invstd: (c)) for backward, running statistics
 * updated. Inference: the running statistics. */
int gc_bn_forward(gc_ctx *ctx, const gc_bn *bn, int training, const gc_tensor *x, const gc_tensor *y,
                  const gc_tensor *gamma, const gc_tensor *beta, const gc_tensor *run_mean, const gc_tensor *run_var,
                  const gc_tensor *save_mean, const gc_tensor *save_invstd);
/* Workspace: 2*c elements. `training` must match the forward call. */
int gc_bn_backward(gc_ctx *ctx, const gc_bn *bn, int training, const gc_tensor *x, const gc_tensor *y,
                   const gc_tensor *dy, const gc_tensor *dx, int accumulate_dx, const gc_tensor *gamma,
                   const gc_tensor *dgamma, const gc_tensor *dbeta, const gc_tensor *save_mean,
                   const gc_tensor *save_invstd, const gc_tensor *ws);

/* Synchronised batch norm: the batch statistics of a batch split over several processes (each holds its
 * share in x). `gather` gives every rank's n doubles, in rank order, to every rank (out: ranks * n); the
 * statistics are combined in rank order in double (Chan's pairwise formula), so every rank normalises with
 * the same bits. Backward: `weights` (per rank, summing to 1: its images over all) weigh each rank's
 * per-channel sums, as the gradient average weighs its gradients. Each call waits for the device (the
 * sums go through host memory). */
typedef struct gc_bn_sync {
  void *user;
  int ranks;
  int (*gather)(void *user, const double *in, double *out, int n);
  const double *weights;
} gc_bn_sync;
/* Training statistics only (the forward with inference statistics needs no sync); ws: 2*c elements. */
int gc_bn_forward_sync(gc_ctx *ctx, const gc_bn *bn, const gc_tensor *x, const gc_tensor *y, const gc_tensor *gamma,
                       const gc_tensor *beta, const gc_tensor *run_mean, const gc_tensor *run_var,
                       const gc_tensor *save_mean, const gc_tensor *save_invstd, const gc_tensor *ws,
                       const gc_bn_sync *sync);
int gc_bn_backward_sync(gc_ctx *ctx, const gc_bn *bn, const gc_tensor *x, const gc_tensor *y, const gc_tensor *dy,
                        const gc_tensor *dx, int accumulate_dx, const gc_tensor *gamma, const gc_tensor *dgamma,
                        const gc_tensor *dbeta, const gc_tensor *save_mean, const gc_tensor *save_invstd,
                        const gc_tensor *ws, const gc_bn_sync *sync);

/* ---- pooling ---- */
typedef struct gc_pool {
  int max;        /* 1: max pooling; 0: average (padding counted, as PyTorch's default) */
  int kh, kw, sh, sw, ph, pw;
  int ceil_mode;  /* max pooling only (SSD's pool3) */
} gc_pool;
int gc_pool_out(const gc_pool *p, size_t h, size_t w, size_t *ho, size_t *wo);
/* arg: (N, C, Ho, Wo), the position of each window's maximum (max pooling; NULL for average). */
int gc_pool_forward(gc_ctx *ctx, const gc_pool *p, const gc_tensor *x, const gc_tensor *y, const gc_tensor *arg);
int gc_pool_backward(gc_ctx *ctx, const gc_pool *p, const gc_tensor *dy, const gc_tensor *arg, const gc_tensor *dx,
                     int accumulate_dx);
/* Global average pool: x (N, C, H, W) -> y (N, C). */
int gc_gap_forward(gc_ctx *ctx, const gc_tensor *x, const gc_tensor *y);
int gc_gap_backward(gc_ctx *ctx, const gc_tensor *dy, const gc_tensor *dx, int accumulate_dx);

/* ---- element-wise (dense tensors of equal size) ---- */
int gc_relu_forward(gc_ctx *ctx, const gc_tensor *x, const gc_tensor *y);
int gc_relu_backward(gc_ctx *ctx, const gc_tensor *y, const gc_tensor *dy, const gc_tensor *dx, int accumulate_dx);
int gc_sigmoid_forward(gc_ctx *ctx, const gc_tensor *x, const gc_tensor *y);
int gc_sigmoid_backward(gc_ctx *ctx, const gc_tensor *y, const gc_tensor *dy, const gc_tensor *dx, int accumulate_dx);
/* y = a + b, then ReLU when relu (the residual add). Its backward is dy to both inputs (gc_copy/gc_axpy). */
int gc_add_forward(gc_ctx *ctx, const gc_tensor *a, const gc_tensor *b, const gc_tensor *y, int relu);
/* The same on NCHW channel views of one shape, each with its own image stride (DPN's dual path):
 * y = a (+ b when b is not NULL) (then ReLU); backward: dx (+)= relu && !(y > 0) ? 0 : dy, for either
 * input. */
int gc_view_add_forward(gc_ctx *ctx, const gc_tensor *a, const gc_tensor *b, const gc_tensor *y, int relu);
int gc_view_add_backward(gc_ctx *ctx, const gc_tensor *y, const gc_tensor *dy, const gc_tensor *dx, int relu,
                         int accumulate_dx);
/* Channel-wise scale (squeeze-excitation): y (N, C, H, W) = x * s (N, C). */
int gc_chscale_forward(gc_ctx *ctx, const gc_tensor *x, const gc_tensor *s, const gc_tensor *y);
int gc_chscale_backward(gc_ctx *ctx, const gc_tensor *x, const gc_tensor *s, const gc_tensor *dy, const gc_tensor *dx,
                        int accumulate_dx, const gc_tensor *ds, int accumulate_ds);

/* ---- linear: y (N, out) = x (N, in) * w^T + b, w (out, in) as PyTorch ---- */
int gc_linear_forward(gc_ctx *ctx, const gc_tensor *x, const gc_tensor *w, const gc_tensor *b, const gc_tensor *y);
int gc_linear_backward(gc_ctx *ctx, const gc_tensor *x, const gc_tensor *w, const gc_tensor *dy, const gc_tensor *dx,
                       int accumulate_dx, const gc_tensor *dw, const gc_tensor *db);

/* ---- softmax cross-entropy, mean over the batch ---- */
typedef struct gc_xent_result {
  double loss;  /* mean over the batch */
  int top1, top5; /* correct counts */
} gc_xent_result;
/* logits (N, K); labels (N) as exact float class indices; dlogits (N, K) = d(mean loss)/dlogits, or NULL
 * for evaluation; ws: 3*N elements. A label outside [0, K) is GC_ERR_ARG naming the sample. */
int gc_xent(gc_ctx *ctx, const gc_tensor *logits, const gc_tensor *labels, const gc_tensor *dlogits,
            const gc_tensor *ws, gc_xent_result *out);
/* The same over the first `valid` samples only (a padded last batch): mean and counts over them, zero
 * gradient for the rest. */
int gc_xent_valid(gc_ctx *ctx, const gc_tensor *logits, const gc_tensor *labels, const gc_tensor *dlogits,
                  const gc_tensor *ws, size_t valid, gc_xent_result *out);

/* ---- SSD's multibox loss, device half (the matching, the mining's ranking and the sums are the
 * caller's: nets/gc_detect.h, the detection task). out: the net's output (N, P*(4+C), 1, 1), per image
 * P x 4 location values then P x C confidences. ---- */
/* mine (N*P) = logsumexp - background score for priors with conf_t (N*P) == 0, else 0 */
int gc_mbox_mine(gc_ctx *ctx, const gc_tensor *out, size_t P, size_t C, const gc_tensor *conf_t, const gc_tensor *mine);
/* per (N*P*2): smooth L1 of the priors with sel > 0 (positives: their class), cross-entropy of those with
 * sel >= 0 (positives and chosen negatives, class 0); dout (may be NULL): the gradients times inv, every
 * value written */
int gc_mbox_loss(gc_ctx *ctx, const gc_tensor *out, size_t P, size_t C, const gc_tensor *sel, const gc_tensor *loc_t,
                 float inv, const gc_tensor *dout, const gc_tensor *per);

/* ---- L2Norm (SSD): y = gamma_c * x / (||x over channels|| + eps) per position; norm (N, H*W) is kept ---- */
int gc_l2norm_forward(gc_ctx *ctx, const gc_tensor *x, const gc_tensor *gamma, float eps, const gc_tensor *y,
                      const gc_tensor *norm);
int gc_l2norm_backward(gc_ctx *ctx, const gc_tensor *x, const gc_tensor *gamma, float eps, const gc_tensor *norm,
                       const gc_tensor *dy, const gc_tensor *dx, int accumulate_dx, const gc_tensor *dgamma);
/* ---- NCHW -> NHWC rows (SSD's heads): x (N, C, H, W) dense, y (N, C*H*W as any 4-D shape) possibly a
 * channel view of a wider tensor (its image stride is kept): y[n][(h*W + w)*C + c] = x[n][c][h][w] ---- */
int gc_nhwc_forward(gc_ctx *ctx, const gc_tensor *x, const gc_tensor *y);
int gc_nhwc_backward(gc_ctx *ctx, const gc_tensor *dy, const gc_tensor *dx, int accumulate_dx);

#ifdef __cplusplus
}
#endif
#endif
