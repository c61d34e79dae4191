/* Fused optimizer updates with the gradient activation function (GAF) inside.
 *
 * One kernel launch per step updates every parameter of a net over the flat parameter, gradient and
 * state arenas. The update rules (also in the README, "Optimizers"; lr = eta, weight decay = lambda):
 *   SGD            d = G(g) + lambda*w;  w -= eta * d
 *   SGD-momentum   d = G(g) + lambda*w;  b = first step ? d : mu*b + d;  w -= eta * H(b)
 *   Nesterov       as SGD-momentum, with the direction d + mu*b
 *   Adam           d = G(g) + lambda*w;  m = b1 m + (1-b1) d;  v = b2 v + (1-b2) d^2;
 *                  w -= eta*sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + eps)     (the official GAF code's Adam)
 *   AdamW          w *= 1 - eta*lambda;  d = G(g);  m, v as Adam;
 *                  w -= eta/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)     (torch.optim.AdamW)
 * where the GAF sits either on the raw gradient (G = GAF, H = identity: the official SGD_atan) or on
 * the momentum direction (G = identity, H = GAF: SGD_atanMom, the buffer keeps the pre-GAF value);
 * Adam and AdamW take it on the gradient. GAF(x) = alpha*atan(beta x) | alpha*tanh(beta x) |
 * alpha*sign(x)*log1p(|beta x|). Clipping baselines act on g first: value (clamp to +-c) or global
 * 2-norm (g *= min(1, c / (||g|| + 1e-6))). */
#ifndef GC_OPTIM_H
#define GC_OPTIM_H

#include "gc_tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum gc_opt_kind { GC_OPT_SGD = 0, GC_OPT_SGDM = 1, GC_OPT_NESTEROV = 2, GC_OPT_ADAM = 3, GC_OPT_ADAMW = 4 } gc_opt_kind;
typedef enum gc_gaf_type { GC_GAF_NONE = 0, GC_GAF_ARCTAN = 1, GC_GAF_TANH = 2, GC_GAF_LOG = 3 } gc_gaf_type;
typedef enum gc_gaf_pos { GC_GAF_ON_GRAD = 0, GC_GAF_ON_MOMENTUM = 1 } gc_gaf_pos;
typedef enum gc_clip_kind { GC_CLIP_NONE = 0, GC_CLIP_VALUE = 1, GC_CLIP_NORM = 2 } gc_clip_kind;

typedef struct gc_optim_config {
  gc_opt_kind kind;
  float momentum;     /* mu for SGD-momentum/Nesterov; beta1 for Adam/AdamW */
  float beta2, eps;   /* Adam/AdamW */
  gc_gaf_type gaf;
  float gaf_alpha, gaf_beta;
  gc_gaf_pos gaf_pos; /* SGD family only; Adam/AdamW always on the gradient */
  gc_clip_kind clip;
  float clip_threshold;
  int guard;          /* check every step for NaN/Inf gradients and skip such a step (weights untouched) */
  int stats;          /* per-tensor gradient max |g| and 2-norm every step */
} gc_optim_config;

/* Defaults: SGD-momentum 0.9 (Adam: 0.9, 0.999, 1e-8), no GAF, no clipping, guard on, stats off. */
void gc_optim_config_default(gc_optim_config *c, gc_opt_kind kind);
const char *gc_opt_name(gc_opt_kind k);
const char *gc_gaf_name(gc_gaf_type t);
/* "sgd" "sgdm" "nesterov" "adam" "adamw"; "none" "arctan" "tanh" "log". 0 or GC_ERR_ARG. */
int gc_opt_parse(const char *s, gc_opt_kind *k);
int gc_gaf_parse(const char *s, gc_gaf_type *t);

/* One parameter tensor: `count` elements at element `offset` of the parameter arena (the same offset in
 * the gradient arena), with its weight decay. count may be 0. offset must be a multiple of the
 * optimizer's block: call gc_optim_align on the parameter and gradient arenas before reserving in them,
 * and gc_arena_reserve gives such offsets. */
typedef struct gc_optim_segment {
  size_t offset, count;
  float weight_decay;
} gc_optim_segment;

typedef struct gc_optim gc_optim;

/* Raise an arena's alignment to the optimizer's block (the work-group size, 256 elements at most), so
 * that every tensor reserved in it can be a segment. Call right after gc_arena_init. */
void gc_optim_align(const gc_ctx *ctx, gc_arena *a);

/* Plan the optimizer for a committed parameter arena and a gradient arena of the same layout, and
 * allocate its state (zero). */
int gc_optim_create(gc_ctx *ctx, const gc_optim_config *cfg, gc_arena *params, gc_arena *grads, size_t nseg,
                    const gc_optim_segment *segs, gc_optim **out);
void gc_optim_free(gc_optim *opt);

typedef struct gc_optim_report {
  int skipped;           /* the gradients held NaN or Inf: the step was skipped */
  int first_bad_segment; /* the first segment holding one, or -1 */
  double grad_norm;      /* global 2-norm of the gradients (before clipping) */
  double grad_max;       /* global max |g| */
  const float *seg_sumsq; /* per segment: sum of squares and max |g| (valid until the next step) */
  const float *seg_max;
  const float *seg_bad;   /* per segment: nonzero when its gradient holds NaN or Inf (then its max ignores them) */
} gc_optim_report;

/* One step with learning rate lr. With the guard, stats or norm clipping on, the statistics run first
 * (one extra read of the gradients) and `rep` (may be NULL) receives them; a step with non-finite
 * gradients leaves weights and state untouched and is not counted. */
int gc_optim_step(gc_ctx *ctx, gc_optim *opt, float lr, gc_optim_report *rep);

/* The configuration the optimizer was created with. */
const gc_optim_config *gc_optim_get_config(const gc_optim *opt);
/* Steps taken (Adam's t); state buffers for checkpoints (which: 0 momentum/m, 1 v; NULL if unused). */
long gc_optim_steps(const gc_optim *opt);
void gc_optim_set_steps(gc_optim *opt, long t);
gc_arena *gc_optim_state(gc_optim *opt, int which);

/* The CPU reference of one step over n elements (all in one segment with weight decay wd): the same
 * per-element code as the device kernel. clip_scale: the norm-clipping scale the device would compute
 * (use gc_ref_clip_scale). t: the step number after this step (1 for the first). */
void gc_ref_optim_step(const gc_optim_config *cfg, size_t n, float *w, const float *g, float *s1, float *s2,
                       float wd, float lr, long t, float clip_scale);

/* ---- learning-rate schedules (README, "Schedules") ---- */
/* COSINE: lr = base (1 + cos(pi pos)) / 2 over all epochs, times the warm-up ramp during the warm-up;
 * WARMUP_COSINE (the official ImageNet scheduler): the ramp alone during the warm-up, then the cosine
 * over the remaining epochs (pos 0 at the warm-up's end). */
typedef enum gc_sched_kind { GC_SCHED_CONSTANT = 0, GC_SCHED_STEP = 1, GC_SCHED_COSINE = 2, GC_SCHED_WARMUP_COSINE = 3 } gc_sched_kind;
typedef struct gc_schedule {
  gc_sched_kind kind;
  double base_lr;
  int per_iteration;   /* cosine: anneal per iteration rather than per epoch */
  long epochs;         /* cosine: the annealing length T in epochs */
  long milestones[16]; /* step: epochs at which lr *= gamma */
  int n_milestones;
  double gamma;        /* step: 0.1 */
  long warmup_iters;   /* linear warmup over the first iterations (0: none) */
  double min_lr;       /* cosine floor (0) */
} gc_schedule;
/* lr at iteration `iter` (0-based) of epoch `epoch` (0-based), with iters_per_epoch iterations. */
double gc_schedule_lr(const gc_schedule *s, long epoch, long iter, long iters_per_epoch);

#ifdef __cplusplus
}
#endif
#endif
