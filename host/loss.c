/* Softmax cross-entropy with top-1/top-5 counts, and the device half of SSD's multibox loss
 * (kernels/loss.cl). */
#include "gc_layers.h"
#include "gc_ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { K_SOFTMAX_XENT, K_MBOX_MINE, K_MBOX_LOSS, K_COUNT };
static const char *const k_names[K_COUNT] = {"softmax_xent", "mbox_mine", "mbox_loss"};
static const gc_kfamily fam = {GC_KF_LOSS, "loss", K_COUNT, k_names};

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
  GC_TRY(gc_need_n(logits, N * K, "cross-entropy", "logits"));
  GC_TRY(gc_need_n(labels, N, "cross-entropy", "labels"));
  if (dlogits) GC_TRY(gc_need_n(dlogits, N * K, "cross-entropy", "dlogits"));
  GC_TRY(gc_need(ws, "cross-entropy", "workspace"));
  if (gc_tensor_numel(ws) < 3 * N) GC_FAIL_GOTO(GC_ERR_ARG, "cross-entropy: workspace needs %zu elements", 3 * N);
  if (valid < 1 || valid > N) GC_FAIL_GOTO(GC_ERR_ARG, "cross-entropy: %zu valid samples of %zu", valid, N);
  const gc_tensor *dz = dlogits ? dlogits : logits;
  GC_TRY(GC_LAUNCH(ctx, &fam, K_SOFTMAX_XENT, N, GC_KT(logits), GC_KT(labels), GC_KT(dz), GC_KT(ws), GC_KU32(N),
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


/* ---- SSD's multibox loss ---- */

static int mbox_check(const gc_tensor *out, size_t P, size_t C, const char *what) {
  if (!out || out->ndim != 4) GC_FAIL(GC_ERR_ARG, "%s: the output must be (N, P*(4+C), 1, 1)", what);
  int st = gc_need(out, what, "output");
  if (st) return st;
  if (out->dim[1] * out->dim[2] * out->dim[3] != P * (4 + C))
    GC_FAIL(GC_ERR_ARG, "%s: the output holds %zu values per image, %zu priors x (4 + %zu) expected", what,
            out->dim[1] * out->dim[2] * out->dim[3], P, C);
  return GC_OK;
}

int gc_mbox_mine(gc_ctx *ctx, const gc_tensor *out, size_t P, size_t C, const gc_tensor *conf_t, const gc_tensor *mine) {
  int st = 0;
  GC_TRY(mbox_check(out, P, C, "multibox mining"));
  size_t N = out->dim[0];
  GC_TRY(gc_need_n(conf_t, N * P, "multibox mining", "conf_t"));
  GC_TRY(gc_need_n(mine, N * P, "multibox mining", "mine"));
  GC_TRY(GC_LAUNCH(ctx, &fam, K_MBOX_MINE, N * P, GC_KT(out), GC_KU64(gc_tensor_nstride(out)), GC_KT(conf_t), GC_KT(mine),
                   GC_KU32(N), GC_KU32(P), GC_KU32(C)));
cleanup:
  return st;
}

int gc_mbox_loss(gc_ctx *ctx, const gc_tensor *out, size_t P, size_t C, const gc_tensor *sel, const gc_tensor *loc_t,
                 float inv, const gc_tensor *dout, const gc_tensor *per) {
  int st = 0;
  GC_TRY(mbox_check(out, P, C, "multibox loss"));
  size_t N = out->dim[0];
  GC_TRY(gc_need_n(sel, N * P, "multibox loss", "sel"));
  GC_TRY(gc_need_n(loc_t, N * P * 4, "multibox loss", "loc_t"));
  GC_TRY(gc_need_n(per, N * P * 2, "multibox loss", "per"));
  if (dout) {
    GC_TRY(mbox_check(dout, P, C, "multibox loss"));
    if (gc_tensor_nstride(dout) != gc_tensor_nstride(out)) GC_FAIL_GOTO(GC_ERR_ARG, "multibox loss: output and gradient strides differ");
  }
  const gc_tensor *d = dout ? dout : out; /* not written without grad */
  GC_TRY(GC_LAUNCH(ctx, &fam, K_MBOX_LOSS, N * P, GC_KT(out), GC_KU64(gc_tensor_nstride(out)), GC_KT(sel), GC_KT(loc_t),
                   GC_KMEM(d->arena->buf), GC_KU64(dout ? dout->offset : 0), GC_KT(per), GC_KU32(N), GC_KU32(P),
                   GC_KU32(C), GC_KF32(inv), GC_KU32(dout ? 1 : 0)));
cleanup:
  return st;
}
