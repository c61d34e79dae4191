/* The trainer: one training step, an epoch, an evaluation, and whole runs with checkpoints and exact
 * resume, for a net, a task and an optimizer. It reports through callbacks (messages, progress, one
 * record per step and per epoch with their JSON lines) and prints nothing.
 *
 * A step is: targets and input to the device, zero the gradients, snapshot the buffers (batch-norm
 * running statistics), forward, the task's loss and output gradient, backward, the fused optimizer
 * update with its non-finite guard; a step whose gradients hold NaN/Inf leaves weights, optimizer state
 * and buffers as they were and says where NaN/Inf began (the first time). */
#ifndef GC_TRAIN_H
#define GC_TRAIN_H

#include <stdint.h>

#include "gc_task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where batches come from (the data library's loader, an array in memory, ...). `next` gives a batch
 * of gc_net_batch images (float NCHW) and their targets (target_dim floats each): 1, or 0 at the end of
 * the epoch, or < 0 on an error it has recorded; `real` is the number of images that are not padding. */
typedef struct gc_batch_source {
  void *impl;
  size_t batches;    /* batches per epoch (training: the full ones) */
  size_t target_dim; /* floats of targets per image: must be the task's */
  int (*start_epoch)(void *impl, long epoch);
  int (*next)(void *impl, const float **images, const float **targets, size_t *real);
} gc_batch_source;

/* The processes of a data-parallel run, as the trainer sees them: collectives over bytes that a program
 * implements on its transport (the gafcl program: MPI). Every rank calls them in the same order; each
 * returns 0 or a status with the message recorded (gc_error_set: a failure, a time-out). The trainer
 * does the arithmetic itself, in a fixed order, so a run's bits depend on N and the seed only.
 *   allgather: every rank's n bytes `in`, in rank order, into out (size * n bytes);
 *   bcast:     root's n bytes of buf to every rank;
 *   alltoall:  block j (n bytes) of in to rank j; block i of out comes from rank i. */
typedef struct gc_comm {
  void *impl;
  int rank, size;
  int (*allgather)(void *impl, const void *in, void *out, size_t n);
  int (*bcast)(void *impl, void *buf, size_t n, int root);
  int (*alltoall)(void *impl, const void *in, void *out, size_t n);
} gc_comm;

typedef enum gc_log_level { GC_LOG_INFO = 0, GC_LOG_WARNING = 1 } gc_log_level;

typedef struct gc_step_report {
  long epoch;             /* 1-based; 0 for a step outside an epoch */
  long step;              /* steps of the run so far, this one included */
  long batch;             /* within the epoch, 1-based */
  double loss;            /* the task's loss of the batch */
  float lr;
  int skipped;            /* non-finite gradients: the step changed nothing */
  const char *bad_tensor; /* skipped: the first parameter whose gradient held NaN/Inf */
  char origin[256];       /* skipped, the trainer's first time: where NaN/Inf began ("" otherwise) */
  double forward_s, loss_s, backward_s, optimizer_s; /* device time; forward and backward with time_phases */
  size_t images;          /* the step's images over all ranks (one process: the batch's real ones) */
  /* data-parallel runs: wall time of the gradient reduction (for each bucket from its copy in host memory
   * to its write-back enqueued: the collectives and the sums) and the part of it after the backward pass
   * had ended (not hidden behind it) */
  double comm_s, comm_exposed_s;
  /* the gradients of the step, before clipping and the GAF (the optimizer's guard pass computes them;
   * 0 and NULL when it did not run): global 2-norm, largest |g|, the parameter holding it, and per
   * parameter i (gc_net_param order) its largest |g| at seg_max[2 i] (the optimizer's per-segment pairs;
   * valid until the next step) */
  double grad_norm, grad_max;
  int grad_max_param;     /* -1: none */
  const float *seg_max;
  const float *seg_bad;   /* per parameter: nonzero when its gradient held NaN/Inf (grad_max is then NaN) */
  const char *json;       /* within an epoch: the steps.jsonl line (no newline) */
} gc_step_report;

typedef struct gc_epoch_report {
  long epoch, epochs;        /* 1-based */
  gc_metrics train, test;
  double train_s;            /* wall time of the training steps */
  double optimizer_s;        /* device time of the optimizer steps */
  double eval_s;             /* wall time of the evaluation */
  double lr;                 /* at the epoch's first step */
  long skipped_steps;        /* so far in this call */
  const char *text;          /* "train loss 1.2100 acc 56.35% | test loss ... | 40.0 s (optimizer 0.313 s)" */
  const char *json;          /* the metrics.jsonl line (no newline) */
  const char *steps_json;    /* the epoch's steps.jsonl lines, each ending with a newline */
} gc_epoch_report;

typedef struct gc_train_progress {
  long epoch, epochs;        /* 1-based */
  size_t batch, batches;     /* done in this epoch, of */
  double images_per_s, loss, eta_s;
} gc_train_progress;

/* The epoch callback of a run comes after the epoch's checkpoint is durable (with out_dir), so that what
 * it writes never describes a state that a kill could lose. The epoch's lines are kept durable in
 * out_dir/epoch.jsonl before the checkpoint, for a resumed run to restore them if a kill came between
 * the checkpoint and the caller's log (gc_train_resumed: "log_steps", "log_metrics"). */
typedef struct gc_train_callbacks {
  void *user;
  void (*log)(void *user, gc_log_level level, const char *msg);
  void (*progress)(void *user, const gc_train_progress *p);
  void (*step)(void *user, const gc_step_report *r);
  /* 0 goes on; anything else ends the run with that status (the callback records the message) */
  int (*epoch)(void *user, const gc_epoch_report *r);
} gc_train_callbacks;

typedef struct gc_train_config {
  long epochs;
  gc_schedule schedule;
  int stop_on_nonfinite;     /* a step with non-finite gradients ends the run (else it is skipped) */
  long stop_after;           /* epochs of this call (0: to the end) */
  const char *out_dir;       /* checkpoints every epoch: state.safetensors, then model.safetensors (NULL: none) */
  const char *resume_dir;    /* continue after the last epoch checkpointed there */
  const char *init_path;     /* start from these weights (a model .safetensors) */
  const char *config_json;   /* kept in the state file with the checkpoint */
  const char *run;           /* the run's name in messages and JSON lines */
  const char *data_name;     /* in the JSON lines */
  uint64_t seed;             /* in the JSON lines */
  const char *metrics_extra; /* more members of each metrics line, e.g. "\"paper_top1\":76.22" (NULL: none) */
  int time_phases;           /* time forward and backward of every step (a wait after each) */
  /* Data parallel (NULL: one process; a comm of size 1 runs the same path against itself). Each rank trains on its share of every global batch
   * (its net is planned for that share); the gradients are averaged, weighted by the ranks' images, in
   * buckets of bucket_bytes (0: 5 MiB) that are reduced through host memory while the backward pass
   * still runs (no_overlap: after it), so every rank applies the same update. Rank 0 alone reads
   * init_path and resume_dir and writes out_dir (give the others NULL); the state is broadcast from it,
   * the running statistics before each evaluation (each rank's own during training, as PyTorch's DDP),
   * and a hash of the state is compared across ranks after every epoch and at the end. */
  const gc_comm *comm;
  size_t bucket_bytes;
  int no_overlap;
  int sync_bn;               /* batch norm with the statistics of the global batch (gc_net_set_bn_sync) */
} gc_train_config;

typedef struct gc_train_result {
  long first_epoch;          /* epochs completed before this call (resume) */
  long epochs_run;           /* in this call */
  gc_metrics final_test;     /* after the last epoch */
  double best;               /* the best value of the primary test metric over this call's epochs (-1: none) */
  double epoch_s, optimizer_s; /* means per epoch of this call */
  double images_per_s;
  long skipped_steps;
} gc_train_result;

typedef struct gc_trainer gc_trainer;

/* The trainer borrows net, task and optimizer (they outlive it); the strings of cfg are copied. */
int gc_trainer_create(gc_ctx *ctx, gc_net *net, gc_task *task, gc_optim *opt, const gc_train_config *cfg,
                      const gc_train_callbacks *cb, gc_trainer **out);
void gc_trainer_free(gc_trainer *tr);

/* One step with learning rate lr. images and targets may be NULL: what is on the device is used. */
int gc_train_step(gc_trainer *tr, const float *images, const float *targets, float lr, gc_step_report *rep);
/* One training epoch (0-based `epoch`) over src's batches with the schedule's learning rates; steps and
 * progress go to the callbacks. Fills the training metrics and times. */
int gc_train_epoch(gc_trainer *tr, gc_batch_source *src, long epoch, gc_metrics *train, double *train_s,
                   double *optimizer_s);
/* The net in inference mode over every batch of src (padding excluded); the task's evaluation metrics. */
int gc_train_evaluate(gc_trainer *tr, gc_batch_source *src, gc_metrics *test);
/* Initial weights (init_path) and the resume (resume_dir), as configured; *start = epochs completed.
 * The state must be of this net and must not have completed more epochs than cfg.epochs. Done once:
 * gc_train_run calls it if the caller has not (a caller validates a run this way before touching its
 * folder). */
int gc_train_restore(gc_trainer *tr, long *start);
/* A metadata string of the state the run resumed from ("config", ...), or the lines of its last epoch
 * ("log_steps", "log_metrics"), NULL if none. */
const char *gc_train_resumed(const gc_trainer *tr, const char *key);
/* A whole run: initial weights or resume as configured, then epochs (training, evaluation, a checkpoint,
 * an epoch report), until cfg.epochs or cfg.stop_after. No checkpoint is written while a weight or buffer
 * is non-finite. */
int gc_train_run(gc_trainer *tr, gc_batch_source *train, gc_batch_source *test, gc_train_result *res);

/* Build and run once everything a training of this net needs (every kernel program, CLBlast's GEMM
 * kernels, the convolution choices) for each optimizer configuration, on a scratch copy that is then
 * freed: a run timed afterwards measures training only. */
int gc_train_warmup(gc_ctx *ctx, const gc_net_spec *spec, size_t batch, const gc_task_kind *task,
                    const gc_optim_config *cfgs, int ncfgs);

#ifdef __cplusplus
}
#endif
#endif
