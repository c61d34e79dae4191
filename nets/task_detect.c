/* The detection task (gc_task.h): SSD's multibox loss and the VOC evaluation on a net with a prior
 * layout. Per batch: each image's ground truth is matched to the priors on the host; the device computes
 * the mining loss of every prior; the host ranks each image's negatives (3 per positive) and the device
 * computes the smooth L1 and cross-entropy terms and the output's gradient; the host sums the per-prior
 * terms in a fixed order. An evaluation also decodes the outputs, runs per-class NMS and keeps every
 * detection and ground-truth box for the average precision at the end of the pass. */
#include "gc_detect.h"
#include "gc_targets.h"
#include "gc_task.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct det_list {
  gc_det_scored *d;
  size_t n, cap;
} det_list;
typedef struct gt_list {
  gc_det_truth *g;
  size_t n, cap;
} gt_list;

typedef struct detect {
  gc_arena arena;
  gc_tensor conf_t, mine, sel, loc_t, per;
  size_t batch, P, C;
  float *priors, *targets;                 /* host: priors; the batch's targets */
  float *h_conf, *h_mine, *h_sel, *h_loc, *h_per, *h_out;
  int *ci;
  unsigned char *selb;
  size_t *order;
  void *mwork, *iwork;
  gc_detection *dets;
  size_t dcap;
  /* the pass so far */
  long batches, valid;
  double loss_sum, ll_sum, lc_sum, loss_w, ll_w, lc_w;
  size_t images;                           /* evaluated images (their index in the pass) */
  det_list *cls_d;                         /* per object class */
  gt_list *cls_g;
  int oom;                                 /* a detection list could not grow: the AP is not computed */
  double *ap07, *ap;
} detect;

static const gc_metric_def train_defs[] = {{"loss", "loss", 0, 4}, {"loc", "loc", 0, 4}, {"conf", "conf", 0, 4}};
static const gc_metric_def eval_defs[] = {{"loss", "loss", 0, 4}, {"loc", "loc", 0, 4}, {"conf", "conf", 0, 4},
                                          {"map", "mAP", 1, 2},   {"map_area", "mAP(area)", 1, 2}};

static void det_destroy(void *state) {
  detect *d = state;
  if (!d) return;
  gc_arena_release(&d->arena);
  free(d->priors), free(d->targets), free(d->h_conf), free(d->h_mine), free(d->h_sel), free(d->h_loc);
  free(d->h_per), free(d->h_out), free(d->ci), free(d->selb), free(d->order), free(d->mwork), free(d->iwork);
  free(d->dets);
  for (size_t c = 0; d->cls_d && c + 1 < d->C; c++) free(d->cls_d[c].d);
  for (size_t c = 0; d->cls_g && c + 1 < d->C; c++) free(d->cls_g[c].g);
  free(d->cls_d), free(d->cls_g), free(d->ap07), free(d->ap);
  free(d);
}

static int det_create(gc_ctx *ctx, gc_net *net, void **state) {
  int st = 0;
  const gc_ssd_layout *L = gc_net_ssd(net);
  if (!L) GC_FAIL(GC_ERR_ARG, "network %s has no prior boxes: detection needs an SSD (ssd300, ssd_tiny)", gc_net_spec_name(net));
  if (L->classes > GC_DET_MAX_CLASSES + 1)
    GC_FAIL(GC_ERR_ARG, "%d classes: detection takes at most %d object classes", L->classes - 1, GC_DET_MAX_CLASSES);
  detect *d = calloc(1, sizeof *d);
  if (!d) GC_FAIL(GC_ERR_HOST_MEM, "detection task");
  const size_t N = gc_net_batch(net), P = L->npriors, C = (size_t)L->classes;
  d->batch = N, d->P = P, d->C = C;
  d->dcap = (size_t)200 * (C - 1);
  d->priors = malloc(P * 4 * sizeof(float));
  d->targets = calloc(N * GC_DET_TARGET_DIM, sizeof(float));
  d->h_conf = malloc(N * P * sizeof(float));
  d->h_mine = malloc(N * P * sizeof(float));
  d->h_sel = malloc(N * P * sizeof(float));
  d->h_loc = malloc(N * P * 4 * sizeof(float));
  d->h_per = malloc(N * P * 2 * sizeof(float));
  d->h_out = malloc(N * P * (4 + C) * sizeof(float));
  d->ci = malloc(N * P * sizeof(int));
  d->selb = malloc(P);
  d->order = malloc(P * sizeof(size_t));
  d->mwork = malloc(gc_det_match_work(P));
  d->iwork = malloc(gc_det_infer_work(P, C));
  d->dets = malloc(d->dcap * sizeof *d->dets);
  d->cls_d = calloc(C - 1, sizeof *d->cls_d);
  d->cls_g = calloc(C - 1, sizeof *d->cls_g);
  d->ap07 = malloc((C - 1) * sizeof(double));
  d->ap = malloc((C - 1) * sizeof(double));
  if (!d->priors || !d->targets || !d->h_conf || !d->h_mine || !d->h_sel || !d->h_loc || !d->h_per || !d->h_out ||
      !d->ci || !d->selb || !d->order || !d->mwork || !d->iwork || !d->dets || !d->cls_d || !d->cls_g || !d->ap07 || !d->ap) {
    det_destroy(d);
    GC_FAIL(GC_ERR_HOST_MEM, "detection task: host buffers for %zu images of %zu priors", N, P);
  }
  for (size_t c = 0; c + 1 < C; c++) d->ap07[c] = d->ap[c] = -1.0;
  gc_ssd_priors(L, d->priors);
  size_t np = N * P, np2 = 2 * np, np4 = 4 * np;
  gc_arena_init(ctx, &d->arena, "detection targets");
  GC_TRY(gc_arena_reserve(&d->arena, &d->conf_t, 1, &np));
  GC_TRY(gc_arena_reserve(&d->arena, &d->mine, 1, &np));
  GC_TRY(gc_arena_reserve(&d->arena, &d->sel, 1, &np));
  GC_TRY(gc_arena_reserve(&d->arena, &d->loc_t, 1, &np4));
  GC_TRY(gc_arena_reserve(&d->arena, &d->per, 1, &np2));
  GC_TRY(gc_arena_commit(ctx, &d->arena, 0));
  *state = d;
  return GC_OK;
cleanup:
  det_destroy(d);
  return st;
}

static int det_set_targets(gc_ctx *ctx, void *state, const float *targets) {
  (void)ctx;
  detect *d = state;
  memcpy(d->targets, targets, d->batch * GC_DET_TARGET_DIM * sizeof(float));
  return GC_OK;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return 0;
  size_t nc = *cap ? *cap : 256;
  while (nc < need) nc *= 2;
  void *q = realloc(*p, nc * elem);
  if (!q) return -1;
  *p = q;
  *cap = nc;
  return 0;
}

/* the batch's detections and ground truth into the per-class lists (boxes in pixels) */
static int det_collect(detect *d, size_t valid) {
  const size_t P = d->P, C = d->C, row = P * (4 + C);
  for (size_t n = 0; n < valid; n++, d->images++) {
    const float *t = d->targets + n * GC_DET_TARGET_DIM, W = t[0], H = t[1];
    for (int g = 0; g < GC_DET_MAX_BOXES; g++) {
      const float *r = t + 2 + g * GC_DET_ROW;
      if (r[4] < 0 || r[4] >= (float)(C - 1)) continue;
      gt_list *l = &d->cls_g[(int)r[4]];
      if (grow((void **)&l->g, &l->cap, l->n + 1, sizeof *l->g)) return -1;
      gc_det_truth *o = &l->g[l->n++];
      o->image = d->images;
      o->box[0] = r[0] * W, o->box[1] = r[1] * H, o->box[2] = r[2] * W, o->box[3] = r[3] * H;
      o->difficult = r[5] > 0.5f;
    }
    const float *out = d->h_out + n * row;
    size_t nd = gc_det_infer(out, out + 4 * P, d->priors, P, C, 0.01f, 200, 0.45f, d->dets, d->dcap, d->iwork);
    if (nd > d->dcap) nd = d->dcap; /* cannot happen: at most 200 per class */
    for (size_t k = 0; k < nd; k++) {
      det_list *l = &d->cls_d[d->dets[k].cls];
      if (grow((void **)&l->d, &l->cap, l->n + 1, sizeof *l->d)) return -1;
      gc_det_scored *o = &l->d[l->n++];
      o->image = d->images;
      o->score = d->dets[k].score;
      const float *b = d->dets[k].box;
      o->box[0] = b[0] * W, o->box[1] = b[1] * H, o->box[2] = b[2] * W, o->box[3] = b[3] * H;
    }
  }
  return 0;
}

static int det_loss(gc_ctx *ctx, void *state, gc_net *net, int grad, size_t valid, double *loss) {
  int st = 0;
  detect *d = state;
  const size_t N = d->batch, P = d->P, C = d->C;
  if (valid > N) valid = N;
  /* matching on the host (padding images: no targets, nothing selected) */
  long npos = 0;
  for (size_t n = 0; n < N; n++) {
    float *lt = d->h_loc + n * P * 4;
    int *ct = d->ci + n * P;
    if (n < valid) {
      npos += gc_det_match(d->priors, P, d->targets + n * GC_DET_TARGET_DIM + 2, GC_DET_MAX_BOXES, GC_DET_ROW, 0.5f, lt,
                           ct, d->mwork);
    } else {
      memset(lt, 0, P * 4 * sizeof *lt);
      for (size_t p = 0; p < P; p++) ct[p] = 0;
    }
  }
  for (size_t q = 0; q < N * P; q++) d->h_conf[q] = (float)d->ci[q];
  const gc_tensor *out = gc_net_output(net);
  GC_TRY(gc_tensor_write(ctx, &d->conf_t, d->h_conf, N * P));
  GC_TRY(gc_mbox_mine(ctx, out, P, C, &d->conf_t, &d->mine));
  GC_TRY(gc_tensor_read(ctx, &d->mine, d->h_mine, N * P));
  for (size_t n = 0; n < N; n++) {
    float *s = d->h_sel + n * P;
    if (n >= valid) {
      for (size_t p = 0; p < P; p++) s[p] = -1.0f;
      continue;
    }
    gc_det_mine(d->h_mine + n * P, d->ci + n * P, P, 3, d->selb, d->order);
    for (size_t p = 0; p < P; p++) s[p] = d->selb[p] ? (float)d->ci[n * P + p] : -1.0f;
  }
  GC_TRY(gc_tensor_write(ctx, &d->sel, d->h_sel, N * P));
  GC_TRY(gc_tensor_write(ctx, &d->loc_t, d->h_loc, N * P * 4));
  const double inv = 1.0 / (double)(npos > 0 ? npos : 1);
  GC_TRY(gc_mbox_loss(ctx, out, P, C, &d->sel, &d->loc_t, (float)inv, grad ? gc_net_doutput(net) : NULL, &d->per));
  GC_TRY(gc_tensor_read(ctx, &d->per, d->h_per, N * P * 2));
  double ll = 0, lc = 0;
  for (size_t q = 0; q < N * P; q++) ll += d->h_per[2 * q], lc += d->h_per[2 * q + 1];
  ll *= inv, lc *= inv;
  if (!grad) {
    GC_TRY(gc_tensor_read(ctx, out, d->h_out, N * P * (4 + C)));
    if (!d->oom && det_collect(d, valid)) d->oom = 1;
  }
  d->batches++;
  d->valid += (long)valid;
  d->loss_sum += ll + lc, d->ll_sum += ll, d->lc_sum += lc;
  d->loss_w += (ll + lc) * (double)valid, d->ll_w += ll * (double)valid, d->lc_w += lc * (double)valid;
  *loss = ll + lc;
cleanup:
  return st;
}

static void det_reset(void *state) {
  detect *d = state;
  d->batches = d->valid = 0;
  d->loss_sum = d->ll_sum = d->lc_sum = d->loss_w = d->ll_w = d->lc_w = 0.0;
  d->images = 0;
  d->oom = 0;
  for (size_t c = 0; c + 1 < d->C; c++) d->cls_d[c].n = d->cls_g[c].n = 0, d->ap07[c] = d->ap[c] = -1.0;
}

static void det_metrics(void *state, int train, gc_metrics *m) {
  detect *d = state;
  memset(m, 0, sizeof *m);
  if (train) {
    double b = d->batches > 0 ? (double)d->batches : 1.0;
    m->n = 3;
    m->def = train_defs;
    m->v[0] = d->loss_sum / b, m->v[1] = d->ll_sum / b, m->v[2] = d->lc_sum / b;
    m->primary = -1;
    return;
  }
  double n = d->valid > 0 ? (double)d->valid : 1.0;
  m->n = 5;
  m->def = eval_defs;
  m->v[0] = d->loss_w / n, m->v[1] = d->ll_w / n, m->v[2] = d->lc_w / n;
  double s07 = 0, s = 0;
  int k = 0;
  for (size_t c = 0; c + 1 < d->C; c++) {
    if (d->oom) break;
    d->ap07[c] = gc_voc_ap(d->cls_d[c].d, d->cls_d[c].n, d->cls_g[c].g, d->cls_g[c].n, 1);
    d->ap[c] = gc_voc_ap(d->cls_d[c].d, d->cls_d[c].n, d->cls_g[c].g, d->cls_g[c].n, 0);
    if (d->ap07[c] < 0) continue; /* no ground truth of the class in the set */
    s07 += d->ap07[c], s += d->ap[c], k++;
  }
  /* NaN when nothing could be measured (no ground truth, or out of memory): printed, written as null */
  m->v[3] = k && !d->oom ? 100.0 * s07 / k : NAN;
  m->v[4] = k && !d->oom ? 100.0 * s / k : NAN;
  m->primary = 3;
}

static void det_detail(void *state, char *buf, size_t cap) {
  detect *d = state;
  size_t len = 0;
  buf[0] = '\0';
  for (int r = 0; r < 2; r++) {
    const double *a = r ? d->ap : d->ap07;
    len += (size_t)snprintf(buf + len, cap > len ? cap - len : 0, ",\"test_ap%s\":[", r ? "_area" : "07");
    for (size_t c = 0; c + 1 < d->C && len < cap; c++) {
      if (a[c] < 0)
        len += (size_t)snprintf(buf + len, cap - len, "%snull", c ? "," : "");
      else
        len += (size_t)snprintf(buf + len, cap - len, "%s%.4f", c ? "," : "", 100.0 * a[c]);
    }
    len += (size_t)snprintf(buf + len, cap > len ? cap - len : 0, "]");
  }
  if (len >= cap && cap > 0) buf[0] = '\0'; /* never a cut line */
}

static void det_summary(void *state, char *buf, size_t cap) {
  detect *d = state;
  double n = d->valid > 0 ? (double)d->valid : 1.0;
  snprintf(buf, cap, "loss %.6f, loc %.6f, conf %.6f", d->loss_w / n, d->ll_w / n, d->lc_w / n);
}

static int det_output(void *state, gc_net *net, int i, gc_tensor *view, const char **name) {
  detect *d = state;
  (void)i;
  size_t d2[2] = {d->batch, d->P * (4 + d->C)};
  *name = "ssd (per image: priors x 4 location values, then priors x classes confidences)";
  return gc_tensor_reshape(gc_net_output(net), 2, d2, view);
}

const gc_task_kind gc_task_detect = {"detection", GC_DET_TARGET_DIM, det_create, det_destroy, det_set_targets,
                                     det_loss,    det_reset,         det_metrics, det_summary, 1,
                                     det_output,  det_detail, 0, NULL, NULL};

const gc_task_kind *gc_task_for(const gc_net_spec *spec) {
  for (int i = 0; gc_net_arch(i); i++)
    if (!strcmp(gc_net_arch(i)->name, spec->name)) return gc_net_arch(i)->forms & GC_FORM_DETECT ? &gc_task_detect : &gc_task_classify;
  return &gc_task_classify;
}

int gc_task_detect_ap(gc_task *t, const double **ap07, const double **ap, int *nclasses) {
  if (gc_task_get_kind(t) != &gc_task_detect) return -1;
  detect *d = gc_task_state(t);
  *ap07 = d->ap07, *ap = d->ap;
  *nclasses = (int)d->C - 1;
  return 0;
}
