/* The fused optimizer (see gc_optim.h) and learning-rate schedules. */
#include "gc_optim.h"
#include "gc_gafmath.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* elements per statistics chunk: one work-group each (a multiple of every work-group size) */
#define GC_STATS_CHUNK 16384u

struct gc_optim {
  gc_optim_config cfg;
  gc_arena *params, *grads;
  gc_arena state1, state2; /* momentum / m, v: the parameter arena's layout */
  /* small tables, one buffer each (the kernels take them at offset 0): segment map (ushort pairs in
   * float slots), weight decay per segment, statistics chunk table (uint triples), partials, control */
  gc_arena a_map, a_wd, a_chunks, a_part, a_ctl;
  size_t nseg, nchunks, n;
  unsigned shift;
  long steps;
  char options[160];
  float *host_control;
  cl_kernel k_update, k_stats_partial, k_stats_final; /* built at creation, owned by the program cache */
};

void gc_optim_config_default(gc_optim_config *c, gc_opt_kind kind) {
  memset(c, 0, sizeof *c);
  c->kind = kind;
  c->momentum = 0.9f;
  c->beta2 = 0.999f;
  c->eps = 1e-8f;
  c->gaf_alpha = 0.1f;
  c->gaf_beta = 20.0f;
  c->gaf_pos = GC_GAF_ON_MOMENTUM;
  c->clip_threshold = 0.1f;
  c->guard = 1;
}

const char *gc_opt_name(gc_opt_kind k) {
  static const char *n[] = {"sgd", "sgdm", "nesterov", "adam", "adamw"};
  return (unsigned)k < 5 ? n[k] : "?";
}

const char *gc_gaf_name(gc_gaf_type t) {
  static const char *n[] = {"none", "arctan", "tanh", "log"};
  return (unsigned)t < 4 ? n[t] : "?";
}

int gc_opt_parse(const char *s, gc_opt_kind *k) {
  for (int i = 0; i < 5; i++)
    if (!strcmp(s, gc_opt_name((gc_opt_kind)i))) {
      *k = (gc_opt_kind)i;
      return GC_OK;
    }
  GC_FAIL(GC_ERR_ARG, "optimizer '%s': use sgd, sgdm, nesterov, adam or adamw", s);
}

int gc_gaf_parse(const char *s, gc_gaf_type *t) {
  for (int i = 0; i < 4; i++)
    if (!strcmp(s, gc_gaf_name((gc_gaf_type)i))) {
      *t = (gc_gaf_type)i;
      return GC_OK;
    }
  GC_FAIL(GC_ERR_ARG, "GAF '%s': use none, arctan, tanh or log", s);
}

static int check_config(const gc_optim_config *c) {
  if ((unsigned)c->kind > GC_OPT_ADAMW) GC_FAIL(GC_ERR_ARG, "optimizer kind %d", (int)c->kind);
  if ((unsigned)c->gaf > GC_GAF_LOG) GC_FAIL(GC_ERR_ARG, "GAF type %d", (int)c->gaf);
  if ((unsigned)c->clip > GC_CLIP_NORM) GC_FAIL(GC_ERR_ARG, "clipping kind %d", (int)c->clip);
  if (c->gaf != GC_GAF_NONE && !(c->gaf_alpha > 0.0f && c->gaf_beta > 0.0f && isfinite(c->gaf_alpha) &&
                                 isfinite(c->gaf_beta)))
    GC_FAIL(GC_ERR_ARG, "GAF alpha %g and beta %g must be positive and finite", c->gaf_alpha, c->gaf_beta);
  if (c->clip != GC_CLIP_NONE && !(c->clip_threshold > 0.0f))
    GC_FAIL(GC_ERR_ARG, "clipping threshold %g must be positive", c->clip_threshold);
  if (c->kind >= GC_OPT_SGDM && !(c->momentum >= 0.0f && c->momentum < 1.0f))
    GC_FAIL(GC_ERR_ARG, "momentum/beta1 %g must be in [0, 1)", c->momentum);
  if (c->kind >= GC_OPT_ADAM && !(c->beta2 >= 0.0f && c->beta2 < 1.0f && c->eps > 0.0f))
    GC_FAIL(GC_ERR_ARG, "Adam beta2 %g must be in [0, 1) and eps %g positive", c->beta2, c->eps);
  return GC_OK;
}

static int use_control(const gc_optim *o) { return o->cfg.guard || o->cfg.stats || o->cfg.clip == GC_CLIP_NORM; }

int gc_optim_create(gc_ctx *ctx, const gc_optim_config *cfg, gc_arena *params, gc_arena *grads, size_t nseg,
                    const gc_optim_segment *segs, gc_optim **out) {
  int st = 0;
  gc_optim *o = NULL;
  unsigned short *map = NULL;
  float *wd = NULL;
  cl_uint *chunks = NULL;
  *out = NULL;
  GC_TRY(check_config(cfg));
  if (!params->buf || !grads->buf) GC_FAIL_GOTO(GC_ERR_ARG, "optimizer: the parameter and gradient arenas must be allocated");
  if (params->capacity % ctx->wg != 0 || params->align % ctx->wg != 0)
    GC_FAIL_GOTO(GC_ERR_ARG, "optimizer: the parameter arena '%s' must be aligned with gc_optim_align before "
                 "tensors are reserved in it", params->name);
  if (grads->capacity < params->capacity)
    GC_FAIL_GOTO(GC_ERR_ARG, "optimizer: gradient arena (%zu elements) smaller than the parameters (%zu)", grads->capacity,
                 params->capacity);
  if (nseg >= 0xffff) GC_FAIL_GOTO(GC_ERR_ARG, "optimizer: %zu segments (at most 65534)", nseg);
  if (params->capacity > 0xffffffffu)
    GC_FAIL_GOTO(GC_ERR_ARG, "optimizer: %zu parameters (at most 2^32 - 1)", params->capacity);
  o = calloc(1, sizeof *o);
  if (!o) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "optimizer");
  o->cfg = *cfg;
  o->params = params;
  o->grads = grads;
  o->nseg = nseg;
  o->n = params->capacity; /* whole work-groups; the tail past the last tensor is zero padding */
  /* one segment per work-group of the update kernel (see kernels/optim.cl) */
  size_t blk = ctx->wg;
  while ((1u << o->shift) < blk) o->shift++;
  size_t nblocks = (o->n + blk - 1) / blk;
  map = malloc((nblocks ? nblocks : 1) * sizeof *map);
  wd = malloc((nseg + 1) * sizeof *wd);
  if (!map || !wd) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "segment map of %zu blocks", nblocks);
  const unsigned short gap = (unsigned short)nseg; /* the extra segment of the gaps: weight decay 0 */
  wd[nseg] = 0.0f;
  for (size_t b = 0; b < nblocks; b++) map[b] = gap;
  size_t nchunks = 0;
  for (size_t s = 0; s < nseg; s++) {
    const gc_optim_segment *g = &segs[s];
    if (g->offset % blk != 0)
      GC_FAIL_GOTO(GC_ERR_ARG, "optimizer: segment %zu starts at element %zu, not a multiple of %zu (reserve "
                   "parameters in an arena aligned with gc_optim_align)", s, g->offset, blk);
    if (g->offset + g->count > o->n)
      GC_FAIL_GOTO(GC_ERR_ARG, "optimizer: segment %zu [%zu, +%zu) lies beyond the %zu parameters", s, g->offset,
                   g->count, o->n);
    if (!isfinite(g->weight_decay) || g->weight_decay < 0.0f)
      GC_FAIL_GOTO(GC_ERR_ARG, "optimizer: segment %zu weight decay %g", s, g->weight_decay);
    for (size_t b = g->offset / blk; g->count && b <= (g->offset + g->count - 1) / blk; b++) {
      if (map[b] != gap) GC_FAIL_GOTO(GC_ERR_ARG, "optimizer: segments %u and %zu overlap", map[b], s);
      map[b] = (unsigned short)s;
    }
    wd[s] = g->weight_decay;
    nchunks += (g->count + GC_STATS_CHUNK - 1) / GC_STATS_CHUNK;
  }
  o->nchunks = nchunks;
  chunks = malloc((nchunks ? nchunks : 1) * 3 * sizeof *chunks);
  if (!chunks) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "chunk table of %zu", nchunks);
  size_t c = 0;
  for (size_t s = 0; s < nseg; s++)
    for (size_t k = 0; k < segs[s].count; k += GC_STATS_CHUNK, c++) {
      size_t cnt = segs[s].count - k < GC_STATS_CHUNK ? segs[s].count - k : GC_STATS_CHUNK;
      chunks[3 * c] = (cl_uint)(segs[s].offset + k);
      chunks[3 * c + 1] = (cl_uint)((cnt + ctx->wg - 1) / ctx->wg); /* rows of wg elements (zero padded) */
      chunks[3 * c + 2] = (cl_uint)s;
    }

  /* state arenas mirror the parameter arena's layout */
  int nstate = cfg->kind >= GC_OPT_ADAM ? 2 : cfg->kind >= GC_OPT_SGDM ? 1 : 0;
  gc_arena_init(ctx, &o->state1, cfg->kind >= GC_OPT_ADAM ? "adam m" : "momentum");
  gc_arena_init(ctx, &o->state2, "adam v");
  o->state1.used = nstate >= 1 ? o->n : 0;
  o->state2.used = nstate >= 2 ? o->n : 0;
  GC_TRY(gc_arena_commit(ctx, &o->state1, 0));
  GC_TRY(gc_arena_commit(ctx, &o->state2, 0));

  size_t map_elems = (nblocks + 1) / 2, ctl = 8 + 3 * nseg; /* totals, per-segment pairs, per-segment scratch */
  gc_arena *tabs[5] = {&o->a_map, &o->a_wd, &o->a_chunks, &o->a_part, &o->a_ctl};
  const char *names[5] = {"optimizer segment map", "optimizer weight decays", "optimizer chunks",
                          "optimizer partials", "optimizer control"};
  size_t sizes[5] = {map_elems, nseg + 1, 3 * nchunks, 3 * nchunks, ctl};
  for (int i = 0; i < 5; i++) {
    gc_tensor t;
    gc_arena_init(ctx, tabs[i], names[i]);
    GC_TRY(gc_arena_reserve(tabs[i], &t, 1, &(size_t){sizes[i] ? sizes[i] : 1}));
    GC_TRY(gc_arena_commit(ctx, tabs[i], 0));
  }
  if (nblocks)
    GC_CL(clEnqueueWriteBuffer(ctx->queue, o->a_map.buf, CL_TRUE, 0, nblocks * sizeof *map, map, 0, NULL, NULL),
          "segment map of %zu blocks", nblocks);
  GC_CL(clEnqueueWriteBuffer(ctx->queue, o->a_wd.buf, CL_TRUE, 0, (nseg + 1) * sizeof *wd, wd, 0, NULL, NULL),
        "%zu weight decays", nseg + 1);
  if (nchunks)
    GC_CL(clEnqueueWriteBuffer(ctx->queue, o->a_chunks.buf, CL_TRUE, 0, 3 * nchunks * sizeof *chunks, chunks, 0, NULL,
                               NULL),
          "chunk table of %zu", nchunks);
  o->host_control = calloc(ctl, sizeof(float));
  if (!o->host_control) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "control block");

  /* the program's specialisation; correctly rounded / and sqrt where the device offers them, so the
   * device computes exactly what the CPU reference does */
  cl_device_fp_config fp = 0;
  clGetDeviceInfo(ctx->dev.device_id, CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, NULL);
  snprintf(o->options, sizeof o->options, "-DGC_OPT=%d -DGC_GAF=%d -DGC_GAF_POS=%d -DGC_CLIP=%d%s", (int)cfg->kind,
           (int)cfg->gaf, cfg->kind >= GC_OPT_ADAM ? 0 : (int)cfg->gaf_pos, (int)cfg->clip,
           (fp & CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT) ? " -cl-fp32-correctly-rounded-divide-sqrt" : "");
  /* built now, not mid-run */
  GC_TRY(gc_kernel_get(ctx, "gafmath+optim", o->options, "optim_update", &o->k_update));
  GC_TRY(gc_kernel_get(ctx, "gafmath+optim", o->options, "optim_stats_partial", &o->k_stats_partial));
  GC_TRY(gc_kernel_get(ctx, "gafmath+optim", o->options, "optim_stats_final", &o->k_stats_final));
  *out = o;
  o = NULL;
cleanup:
  free(map);
  free(wd);
  free(chunks);
  gc_optim_free(o);
  return st;
}

void gc_optim_free(gc_optim *o) {
  if (!o) return;
  gc_arena_release(&o->state1);
  gc_arena_release(&o->state2);
  gc_arena_release(&o->a_map);
  gc_arena_release(&o->a_wd);
  gc_arena_release(&o->a_chunks);
  gc_arena_release(&o->a_part);
  gc_arena_release(&o->a_ctl);
  free(o->host_control);
  free(o);
}

long gc_optim_steps(const gc_optim *o) { return o->steps; }
const gc_optim_config *gc_optim_get_config(const gc_optim *o) { return &o->cfg; }

void gc_optim_align(const gc_ctx *ctx, gc_arena *a) {
  if (a->align < ctx->wg) a->align = ctx->wg;
}
void gc_optim_set_steps(gc_optim *o, long t) { o->steps = t; }

gc_arena *gc_optim_state(gc_optim *o, int which) {
  if (which == 0 && o->state1.used) return &o->state1;
  if (which == 1 && o->state2.used) return &o->state2;
  return NULL;
}

/* step sizes for step t (1-based), computed in double and rounded once */
static void adam_steps(const gc_optim_config *c, float lr, long t, float *step, float *bc2s) {
  double bc1 = 1.0 - pow((double)c->momentum, (double)t), bc2 = 1.0 - pow((double)c->beta2, (double)t);
  if (c->kind == GC_OPT_ADAM) {
    *step = (float)((double)lr * sqrt(bc2) / bc1);
    *bc2s = 1.0f;
  } else {
    *step = (float)((double)lr / bc1);
    *bc2s = (float)sqrt(bc2);
  }
}

int gc_optim_step(gc_ctx *ctx, gc_optim *o, float lr, gc_optim_report *rep) {
  int st = 0;
  const gc_optim_config *c = &o->cfg;
  if (rep) {
    memset(rep, 0, sizeof *rep);
    rep->first_bad_segment = -1;
  }
  if (!isfinite(lr) || lr < 0.0f) GC_FAIL(GC_ERR_ARG, "optimizer step: learning rate %g", lr);
  if (o->n == 0) return GC_OK;
  int ctl = use_control(o);
  if (ctl) {
    if (o->nchunks)
      GC_TRY(gc_launch(ctx, o->k_stats_partial, "optim_stats_partial", 0, o->nchunks, 4,
                       (gc_karg[]){GC_KMEM(o->grads->buf), GC_KU64(0), GC_KMEM(o->a_chunks.buf), GC_KMEM(o->a_part.buf)}));
    float max_norm = c->clip == GC_CLIP_NORM ? c->clip_threshold : 1.0f;
    GC_TRY(gc_launch(ctx, o->k_stats_final, "optim_stats_final", 0, 1, 6,
                     (gc_karg[]){GC_KMEM(o->a_part.buf), GC_KMEM(o->a_chunks.buf), GC_KU32(o->nchunks),
                                 GC_KU32(o->nseg), GC_KMEM(o->a_ctl.buf), GC_KF32(max_norm)}));
  }
  long t = o->steps + 1;
  float step = 0.0f, bc2s = 1.0f;
  if (c->kind >= GC_OPT_ADAM) adam_steps(c, lr, t, &step, &bc2s);
  cl_mem s1 = o->state1.buf, s2 = o->state2.buf;
  const gc_karg args[] = {GC_KMEM(o->params->buf), GC_KU64(0), GC_KMEM(o->grads->buf), GC_KU64(0), GC_KMEM(s1),
                          GC_KU64(0), GC_KMEM(s2), GC_KU64(0), GC_KMEM(o->a_map.buf), GC_KU32(o->shift),
                          GC_KMEM(o->a_wd.buf), GC_KMEM(o->a_ctl.buf), GC_KU32(ctl ? 1u : 0u), GC_KU32(o->n), GC_KF32(lr),
                          GC_KF32(c->momentum), GC_KF32(c->beta2), GC_KF32(c->eps), GC_KF32(c->gaf_alpha),
                          GC_KF32(c->gaf_beta), GC_KF32(c->clip_threshold), GC_KF32(step), GC_KF32(bc2s),
                          GC_KU32(o->steps == 0 ? 1u : 0u)};
  GC_TRY(gc_launch(ctx, o->k_update, "optim_update", o->n, 0, (int)(sizeof args / sizeof *args), args));
  int skipped = 0;
  if (ctl) {
    size_t ncl = 8 + 3 * o->nseg; /* the totals, the per-segment pairs, the per-segment NaN/Inf flags */
    GC_CL(clFinish(ctx->queue), "the optimizer step"); /* drained first: see gc_tensor_read */
    GC_CL(clEnqueueReadBuffer(ctx->queue, o->a_ctl.buf, CL_TRUE, 0, ncl * sizeof(float), o->host_control, 0, NULL, NULL),
          "optimizer control block of %zu", ncl);
    skipped = c->guard && o->host_control[2] != 0.0f;
    if (rep) {
      rep->skipped = skipped;
      rep->first_bad_segment = o->host_control[2] != 0.0f ? (int)o->host_control[4] : -1;
      rep->grad_norm = sqrt((double)o->host_control[0]);
      rep->grad_max = o->host_control[1];
      rep->seg_sumsq = o->host_control + 8;
      rep->seg_max = o->host_control + 9;
      rep->seg_bad = o->host_control + 8 + 2 * o->nseg;
    }
  }
  if (!skipped) o->steps = t;
cleanup:
  return st;
}

void gc_ref_optim_step(const gc_optim_config *c, size_t n, float *w, const float *g, float *s1, float *s2, float wd,
                       float lr, long t, float clip_scale) {
  float step = 0.0f, bc2s = 1.0f;
  if (c->kind >= GC_OPT_ADAM) adam_steps(c, lr, t, &step, &bc2s);
  int pos = c->kind >= GC_OPT_ADAM ? 0 : (int)c->gaf_pos;
  for (size_t i = 0; i < n; i++) {
    float m = s1 ? s1[i] : 0.0f, v = s2 ? s2[i] : 0.0f;
    gc_ref_update_elem((int)c->kind, (int)c->gaf, pos, (int)c->clip, &w[i], &m, &v, g[i], wd, lr, c->momentum, c->beta2,
                   c->eps, c->gaf_alpha, c->gaf_beta, c->clip_threshold, clip_scale, step, bc2s, t == 1);
    if (s1) s1[i] = m;
    if (s2) s2[i] = v;
  }
}

double gc_schedule_lr(const gc_schedule *s, long epoch, long iter, long ipe) {
  double lr = s->base_lr;
  if (ipe < 1) ipe = 1;
  long it = epoch * ipe + iter;
  if (s->kind == GC_SCHED_STEP) {
    for (int i = 0; i < s->n_milestones; i++)
      if (epoch >= s->milestones[i]) lr *= s->gamma;
  } else if (s->kind == GC_SCHED_COSINE && s->epochs > 0) {
    double pos = s->per_iteration ? (double)it / (double)(s->epochs * ipe) : (double)epoch / (double)s->epochs;
    if (pos > 1.0) pos = 1.0;
    lr = s->min_lr + (s->base_lr - s->min_lr) * (1.0 + cos(3.14159265358979323846 * pos)) / 2.0;
  } else if (s->kind == GC_SCHED_WARMUP_COSINE && s->epochs > 0) {
    /* the cosine starts where the warm-up ends: per iteration from iteration W, per epoch from the first
     * epoch after it (W rounded up to whole epochs) */
    long w = s->warmup_iters > 0 ? s->warmup_iters : 0, we = (w + ipe - 1) / ipe;
    if (it < w) return s->base_lr * (double)(it + 1) / (double)w;
    double pos = s->per_iteration ? (double)(it - w) / (double)(s->epochs * ipe - w > 0 ? s->epochs * ipe - w : 1)
                                  : (double)(epoch - we) / (double)(s->epochs - we > 0 ? s->epochs - we : 1);
    if (pos < 0.0) pos = 0.0;
    if (pos > 1.0) pos = 1.0;
    return s->min_lr + (s->base_lr - s->min_lr) * (1.0 + cos(3.14159265358979323846 * pos)) / 2.0;
  }
  if (s->warmup_iters > 0 && it < s->warmup_iters) lr *= (double)(it + 1) / (double)s->warmup_iters;
  return lr;
}
