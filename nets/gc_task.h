/* Tasks: what is specific to a kind of problem, kept apart from the net and the trainer.
 *
 * A task says what one image's targets are (target_dim floats, filled by the data loader), computes the
 * loss on the net's output and writes the output's gradient, accumulates its metrics over a pass (an
 * epoch's training steps or an evaluation) and describes what it computed. Image classification
 * (gc_task_classify: one class index per image, mean softmax cross-entropy, top-1/top-5) is one task; a
 * detection task (boxes per image, a multi-part loss, mAP) is another kind next to it. */
#ifndef GC_TASK_H
#define GC_TASK_H

#include "gc_net.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One metric of a pass: its JSON key ("top1": written as train_top1 / test_top1), its printed label
 * ("top-1"), whether it is a percentage, and the decimals it is printed with (JSON gets two more). */
typedef struct gc_metric_def {
  const char *key;
  const char *label;
  int percent;
  int digits;
} gc_metric_def;

#define GC_MAX_METRICS 8
typedef struct gc_metrics {
  int n;
  const gc_metric_def *def; /* n definitions */
  double v[GC_MAX_METRICS];
  int primary;              /* the one "best" refers to (classification: top-1), -1 for none */
} gc_metrics;

/* "loss 1.2100 acc 56.35%" */
const char *gc_metrics_text(const gc_metrics *m, char *buf, size_t cap);
/* ,"<prefix>_<key>":<value>... (each with a leading comma), for JSON lines */
const char *gc_metrics_json(const gc_metrics *m, const char *prefix, char *buf, size_t cap);

typedef struct gc_task gc_task;

/* A kind of task. Implementations keep their device tensors and accumulators in `state`. */
typedef struct gc_task_kind {
  const char *name;
  size_t target_dim; /* floats per image */
  int (*create)(gc_ctx *ctx, gc_net *net, void **state);
  void (*destroy)(void *state);
  /* the batch's targets (batch * target_dim floats) to the device */
  int (*set_targets)(gc_ctx *ctx, void *state, const float *targets);
  /* the loss of the batch's first `valid` images on the net's output (the rest is padding); with grad,
   * the output's gradient for gc_net_backward. Adds the batch to the pass's accumulators. */
  int (*loss)(gc_ctx *ctx, void *state, gc_net *net, int grad, size_t valid, double *loss);
  void (*reset)(void *state);
  /* the metrics accumulated since reset: a training pass's (train) or an evaluation's */
  void (*metrics)(void *state, int train, gc_metrics *out);
  /* the accumulated batches in the task's own words ("loss 0.123456, top-1 4/4, top-5 4/4") */
  void (*summary)(void *state, char *buf, size_t cap);
  /* the net's outputs as the task names them ("logits" (N, classes)) */
  int noutputs;
  int (*output)(void *state, gc_net *net, int i, gc_tensor *view, const char **name);
  /* more members of an evaluation's metrics line (each with a leading comma: per-class AP), or NULL */
  void (*detail_json)(void *state, char *buf, size_t cap);
  /* the pass's accumulators as nsums numbers that add up across processes (data-parallel runs: each
   * evaluates its share, the sums are added in rank order and set back before gc_task_metrics); 0/NULL
   * for a task whose accumulators do not combine that way (its runs stay on one process) */
  int nsums;
  void (*sums_get)(void *state, double *out);
  void (*sums_set)(void *state, const double *in);
} gc_task_kind;

/* Image classification: the target is the class index (as a float); mean softmax cross-entropy;
 * training metrics loss and acc (top-1 of the training batches), evaluation metrics loss, top1, top5. */
extern const gc_task_kind gc_task_classify;

/* Object detection with SSD (gc_detect.h) on a net with a prior layout (gc_net_ssd): targets as
 * gc_targets.h; the multibox loss (matching and the ranking of hard negatives on the host, the rest on
 * the device); training metrics loss, loc, conf; evaluation metrics loss, loc, conf, map (VOC2007
 * 11-point, percent), map_area (area rule), with the per-class AP in the metrics line. Detections of an
 * evaluation: score > 0.01, top 200 per class, NMS IoU 0.45. */
extern const gc_task_kind gc_task_detect;
/* The classification or detection task, as the net is. */
const gc_task_kind *gc_task_for(const gc_net_spec *spec);
/* The evaluation's per-class AP after gc_task_metrics (detection; NULL otherwise): ap07 and ap (area
 * rule) of `classes - 1` object classes, -1 for a class without ground truth. */
int gc_task_detect_ap(gc_task *t, const double **ap07, const double **ap, int *nclasses);

/* A task bound to a net (its batch and output shape). */
int gc_task_create(gc_ctx *ctx, const gc_task_kind *kind, gc_net *net, gc_task **out);
void gc_task_free(gc_task *t);
const gc_task_kind *gc_task_get_kind(const gc_task *t);
void *gc_task_state(gc_task *t); /* the kind's own state */
gc_net *gc_task_net(const gc_task *t);
int gc_task_set_targets(gc_ctx *ctx, gc_task *t, const float *targets);
int gc_task_loss(gc_ctx *ctx, gc_task *t, int grad, size_t valid, double *loss);
void gc_task_reset(gc_task *t);
/* The kind's accumulators as sums (nsums numbers; 0 when it has none: see gc_task_kind) */
int gc_task_nsums(const gc_task *t);
void gc_task_sums_get(gc_task *t, double *out);
void gc_task_sums_set(gc_task *t, const double *in);
void gc_task_metrics(gc_task *t, int train, gc_metrics *out);
void gc_task_summary(gc_task *t, char *buf, size_t cap);
int gc_task_output(gc_task *t, int i, gc_tensor *view, const char **name);

#ifdef __cplusplus
}
#endif
#endif
