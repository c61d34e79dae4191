/* Tasks (gc_task.h): the generic wrapper, the metrics' text and JSON, and image classification. */
#include "gc_task.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct gc_task {
  const gc_task_kind *kind;
  gc_net *net;
  void *state;
};

int gc_task_create(gc_ctx *ctx, const gc_task_kind *kind, gc_net *net, gc_task **out) {
  *out = NULL;
  gc_task *t = calloc(1, sizeof *t);
  if (!t) GC_FAIL(GC_ERR_HOST_MEM, "task");
  t->kind = kind;
  t->net = net;
  int st = kind->create(ctx, net, &t->state);
  if (st) {
    free(t);
    return gc_error_prefix(st, "%s task: ", kind->name);
  }
  *out = t;
  return GC_OK;
}

void gc_task_free(gc_task *t) {
  if (!t) return;
  t->kind->destroy(t->state);
  free(t);
}

const gc_task_kind *gc_task_get_kind(const gc_task *t) { return t->kind; }
void *gc_task_state(gc_task *t) { return t->state; }
gc_net *gc_task_net(const gc_task *t) { return t->net; }
int gc_task_set_targets(gc_ctx *ctx, gc_task *t, const float *targets) { return t->kind->set_targets(ctx, t->state, targets); }
int gc_task_loss(gc_ctx *ctx, gc_task *t, int grad, size_t valid, double *loss) {
  return t->kind->loss(ctx, t->state, t->net, grad, valid, loss);
}
int gc_task_nsums(const gc_task *t) { return t->kind->sums_get && t->kind->sums_set ? t->kind->nsums : 0; }
void gc_task_sums_get(gc_task *t, double *out) { t->kind->sums_get(t->state, out); }
void gc_task_sums_set(gc_task *t, const double *in) { t->kind->sums_set(t->state, in); }
void gc_task_reset(gc_task *t) { t->kind->reset(t->state); }
void gc_task_metrics(gc_task *t, int train, gc_metrics *out) { t->kind->metrics(t->state, train, out); }
void gc_task_summary(gc_task *t, char *buf, size_t cap) { t->kind->summary(t->state, buf, cap); }
int gc_task_output(gc_task *t, int i, gc_tensor *view, const char **name) {
  if (i < 0 || i >= t->kind->noutputs) GC_FAIL(GC_ERR_ARG, "%s task: output %d of %d", t->kind->name, i, t->kind->noutputs);
  return t->kind->output(t->state, t->net, i, view, name);
}

const char *gc_metrics_text(const gc_metrics *m, char *buf, size_t cap) {
  size_t len = 0;
  buf[0] = '\0';
  for (int i = 0; i < m->n && len < cap; i++) {
    int w = snprintf(buf + len, cap - len, "%s%s %.*f%s", i ? " " : "", m->def[i].label, m->def[i].digits, m->v[i],
                     m->def[i].percent ? "%" : "");
    if (w < 0) break;
    len += (size_t)w;
  }
  return buf;
}

const char *gc_metrics_json(const gc_metrics *m, const char *prefix, char *buf, size_t cap) {
  size_t len = 0;
  buf[0] = '\0';
  for (int i = 0; i < m->n && len < cap; i++) {
    /* NaN and Inf are not JSON: null (a diverged run's loss) */
    int w = isfinite(m->v[i]) ? snprintf(buf + len, cap - len, ",\"%s_%s\":%.*f", prefix, m->def[i].key, m->def[i].digits + 2, m->v[i])
                              : snprintf(buf + len, cap - len, ",\"%s_%s\":null", prefix, m->def[i].key);
    if (w < 0) break;
    len += (size_t)w;
  }
  return buf;
}

/* ---- image classification ---- */

typedef struct classify {
  gc_arena arena;
  gc_tensor labels, ws; /* (N) class indices as floats; 3N cross-entropy workspace */
  size_t batch, classes;
  /* the pass so far */
  long batches, valid, top1, top5;
  double loss_sum;   /* batch means, summed (training: their mean over the epoch) */
  double loss_wsum;  /* batch means times their valid images (evaluation: the mean over images) */
} classify;

static const gc_metric_def train_defs[] = {{"loss", "loss", 0, 4}, {"acc", "acc", 1, 2}};
static const gc_metric_def eval_defs[] = {{"loss", "loss", 0, 4}, {"top1", "top-1", 1, 2}, {"top5", "top-5", 1, 2}};

static int cls_create(gc_ctx *ctx, gc_net *net, void **state) {
  int st = 0;
  classify *c = calloc(1, sizeof *c);
  if (!c) GC_FAIL(GC_ERR_HOST_MEM, "classification task");
  const gc_tensor *o = gc_net_output(net);
  c->batch = gc_net_batch(net);
  c->classes = gc_tensor_numel(o) / c->batch;
  size_t n3 = 3 * c->batch;
  gc_arena_init(ctx, &c->arena, "targets");
  GC_TRY(gc_arena_reserve(&c->arena, &c->labels, 1, &c->batch));
  GC_TRY(gc_arena_reserve(&c->arena, &c->ws, 1, &n3));
  GC_TRY(gc_arena_commit(ctx, &c->arena, 0));
  *state = c;
  return GC_OK;
cleanup:
  gc_arena_release(&c->arena);
  free(c);
  return st;
}

static void cls_destroy(void *state) {
  classify *c = state;
  if (!c) return;
  gc_arena_release(&c->arena);
  free(c);
}

static int cls_set_targets(gc_ctx *ctx, void *state, const float *targets) {
  classify *c = state;
  return gc_tensor_write(ctx, &c->labels, targets, c->batch);
}

static int cls_loss(gc_ctx *ctx, void *state, gc_net *net, int grad, size_t valid, double *loss) {
  classify *c = state;
  gc_tensor lg = *gc_net_output(net), dl = *gc_net_doutput(net), lab;
  size_t n = gc_net_active_batch(net); /* a last partial batch: its first n images */
  size_t d2[2] = {n, c->classes};
  gc_xent_result r;
  int st = gc_tensor_reshape(&lg, 2, d2, &lg);
  if (!st) st = gc_tensor_reshape(&dl, 2, d2, &dl);
  if (!st) st = gc_tensor_slice(&c->labels, 0, n, &lab);
  if (!st) st = gc_xent_valid(ctx, &lg, &lab, grad ? &dl : NULL, &c->ws, valid, &r);
  if (st) return st;
  c->batches++;
  c->valid += (long)valid;
  c->top1 += r.top1;
  c->top5 += r.top5;
  c->loss_sum += r.loss;
  c->loss_wsum += r.loss * (double)valid;
  *loss = r.loss;
  return GC_OK;
}

static void cls_reset(void *state) {
  classify *c = state;
  c->batches = c->valid = c->top1 = c->top5 = 0;
  c->loss_sum = c->loss_wsum = 0.0;
}

static void cls_metrics(void *state, int train, gc_metrics *m) {
  classify *c = state;
  double n = c->valid > 0 ? (double)c->valid : 1.0;
  memset(m, 0, sizeof *m);
  if (train) {
    m->n = 2;
    m->def = train_defs;
    m->v[0] = c->batches > 0 ? c->loss_sum / (double)c->batches : 0.0;
    m->v[1] = 100.0 * (double)c->top1 / n;
    m->primary = 1;
  } else {
    m->n = 3;
    m->def = eval_defs;
    m->v[0] = c->loss_wsum / n;
    m->v[1] = 100.0 * (double)c->top1 / n;
    m->v[2] = 100.0 * (double)c->top5 / n;
    m->primary = 1;
  }
}

static void cls_summary(void *state, char *buf, size_t cap) {
  classify *c = state;
  snprintf(buf, cap, "loss %.6f, top-1 %ld/%ld, top-5 %ld/%ld", c->valid ? c->loss_wsum / (double)c->valid : 0.0,
           c->top1, c->valid, c->top5, c->valid);
}

static int cls_output(void *state, gc_net *net, int i, gc_tensor *view, const char **name) {
  classify *c = state;
  (void)i;
  size_t d2[2] = {gc_net_active_batch(net), c->classes};
  *name = "logits";
  return gc_tensor_reshape(gc_net_output(net), 2, d2, view);
}

/* the accumulators as sums, for combining the passes of several processes */
static void cls_sums_get(void *state, double *out) {
  const classify *c = state;
  out[0] = (double)c->batches, out[1] = (double)c->valid, out[2] = (double)c->top1, out[3] = (double)c->top5;
  out[4] = c->loss_sum, out[5] = c->loss_wsum;
}
static void cls_sums_set(void *state, const double *in) {
  classify *c = state;
  c->batches = (long)in[0], c->valid = (long)in[1], c->top1 = (long)in[2], c->top5 = (long)in[3];
  c->loss_sum = in[4], c->loss_wsum = in[5];
}

const gc_task_kind gc_task_classify = {"classification", 1,         cls_create,  cls_destroy, cls_set_targets,
                                       cls_loss,         cls_reset, cls_metrics, cls_summary, 1, cls_output, NULL,
                                       6,                cls_sums_get, cls_sums_set};
