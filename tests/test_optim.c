/* The fused optimizer against its CPU reference: every optimizer x GAF type x GAF position (and the
 * clipping baselines) over several steps, the first one included, on segments with different weight
 * decays, an empty segment and sizes that are not multiples of any vector width; weights and state must
 * agree within 2 ulp per element. Also: huge alpha*beta, gradient statistics, the non-finite guard
 * (NaN/Inf injected: step skipped, weights and state bit-for-bit unchanged), schedules, bad input. */
#include "gafcl.h"
#include "gc_test.h"

#include <stdint.h>

#define NSEG 6
static const size_t seg_n[NSEG] = {37, 1, 0, 1000, 4099, 257};
static const float seg_wd[NSEG] = {5e-4f, 0.0f, 5e-4f, 0.0f, 1e-3f, 5e-4f};

typedef struct fixture {
  gc_arena pa, ga;
  gc_tensor p[NSEG], g[NSEG];
  gc_optim_segment segs[NSEG];
  size_t total;
} fixture;

static void fixture_init(gc_ctx *ctx, fixture *f) {
  gc_arena_init(ctx, &f->pa, "parameters");
  gc_arena_init(ctx, &f->ga, "gradients");
  gc_optim_align(ctx, &f->pa);
  gc_optim_align(ctx, &f->ga);
  for (int s = 0; s < NSEG; s++) {
    size_t n = seg_n[s] ? seg_n[s] : 1; /* an empty tensor still gets a place; its segment has count 0 */
    CHECK_OK(gc_arena_reserve(&f->pa, &f->p[s], 1, &n));
    CHECK_OK(gc_arena_reserve(&f->ga, &f->g[s], 1, &n));
    CHECK(f->p[s].offset == f->g[s].offset);
    f->segs[s] = (gc_optim_segment){f->p[s].offset, seg_n[s], seg_wd[s]};
  }
  CHECK_OK(gc_arena_commit(ctx, &f->pa, 0));
  CHECK_OK(gc_arena_commit(ctx, &f->ga, 0));
  f->total = f->pa.capacity;
}

static void upload(gc_ctx *ctx, gc_arena *a, const float *img) {
  gc_tensor w;
  CHECK_OK(gc_arena_view(a, &w));
  CHECK_OK(gc_tensor_write(ctx, &w, img, a->capacity));
}
static void download(gc_ctx *ctx, gc_arena *a, float *img) {
  gc_tensor w;
  CHECK_OK(gc_arena_view(a, &w));
  CHECK_OK(gc_tensor_read(ctx, &w, img, a->capacity));
}

/* gradients spanning 1e-8 .. 10 in magnitude, both signs */
static void make_grads(float *img, const fixture *f, unsigned long long seed) {
  memset(img, 0, f->total * sizeof *img);
  unsigned long long s = seed * 7919 + 3;
  for (int k = 0; k < NSEG; k++)
    for (size_t i = 0; i < seg_n[k]; i++) {
      float u = gc_test_rand(&s), e = gc_test_rand(&s);
      img[f->segs[k].offset + i] = (u < 0 ? -1.0f : 1.0f) * powf(10.0f, -3.5f + 4.5f * e);
    }
}

static long ulp_diff(float a, float b) {
  if (isnan(a) && isnan(b)) return 0;
  int32_t ia, ib;
  memcpy(&ia, &a, 4);
  memcpy(&ib, &b, 4);
  if (ia < 0) ia = INT32_MIN - ia;
  if (ib < 0) ib = INT32_MIN - ib;
  long d = (long)ia - (long)ib;
  return d < 0 ? -d : d;
}

static long worst_ulp;

static void compare(const char *what, const float *dev, const float *ref, const fixture *f, const char *cfg) {
  long worst = 0;
  size_t bad = 0;
  for (int k = 0; k < NSEG; k++)
    for (size_t i = 0; i < seg_n[k]; i++) {
      size_t o = f->segs[k].offset + i;
      long d = ulp_diff(dev[o], ref[o]);
      if (d > worst) worst = d;
      if (d > 2) {
        if (bad < 3) fprintf(stderr, "  %s %s seg %d [%zu]: device %.9g reference %.9g\n", cfg, what, k, i, dev[o], ref[o]);
        bad++;
      }
    }
  if (worst > worst_ulp) worst_ulp = worst;
  gc_test_checks++;
  if (bad) {
    gc_test_failures++;
    fprintf(stderr, "FAIL %s %s: %zu elements beyond 2 ulp\n", cfg, what, bad);
  }
}

static void run_config(gc_ctx *ctx, const gc_optim_config *cfg, int steps) {
  fixture f;
  fixture_init(ctx, &f);
  size_t T = f.total;
  float *w = calloc(T, 4), *g = calloc(T, 4), *s1 = calloc(T, 4), *s2 = calloc(T, 4), *dev = calloc(T, 4);
  unsigned long long seed = 17;
  for (int k = 0; k < NSEG; k++)
    for (size_t i = 0; i < seg_n[k]; i++) w[f.segs[k].offset + i] = 0.3f * gc_test_rand(&seed);
  upload(ctx, &f.pa, w);
  gc_optim *o = NULL;
  CHECK_OK(gc_optim_create(ctx, cfg, &f.pa, &f.ga, NSEG, f.segs, &o));
  if (!o) return;
  char name[128];
  snprintf(name, sizeof name, "%s gaf=%s pos=%s clip=%d a=%g b=%g", gc_opt_name(cfg->kind), gc_gaf_name(cfg->gaf),
           cfg->gaf_pos == GC_GAF_ON_GRAD ? "grad" : "mom", (int)cfg->clip, cfg->gaf_alpha, cfg->gaf_beta);
  for (int t = 1; t <= steps; t++) {
    float lr = t == 1 ? 0.1f : 0.1f / (float)t;
    if (cfg->kind >= GC_OPT_ADAM) lr *= 0.01f;
    make_grads(g, &f, (unsigned long long)t);
    upload(ctx, &f.ga, g);
    gc_optim_report rep;
    CHECK_OK(gc_optim_step(ctx, o, lr, &rep));
    CHECK(!rep.skipped && gc_optim_steps(o) == t);
    float scale = 1.0f;
    if (cfg->clip == GC_CLIP_NORM) {
      float ss = (float)(rep.grad_norm * rep.grad_norm);
      scale = fminf(1.0f, cfg->clip_threshold / (sqrtf(ss) + 1e-6f));
    }
    for (int k = 0; k < NSEG; k++) {
      size_t o0 = f.segs[k].offset;
      gc_ref_optim_step(cfg, seg_n[k], w + o0, g + o0, cfg->kind >= GC_OPT_SGDM ? s1 + o0 : NULL,
                        cfg->kind >= GC_OPT_ADAM ? s2 + o0 : NULL, seg_wd[k], lr, t, scale);
    }
    download(ctx, &f.pa, dev);
    compare("weights", dev, w, &f, name);
    if (gc_optim_state(o, 0)) {
      download(ctx, gc_optim_state(o, 0), dev);
      compare("state 1", dev, s1, &f, name);
    }
    if (gc_optim_state(o, 1)) {
      download(ctx, gc_optim_state(o, 1), dev);
      compare("state 2", dev, s2, &f, name);
    }
  }
  gc_optim_free(o);
  gc_arena_release(&f.pa);
  gc_arena_release(&f.ga);
  free(w), free(g), free(s1), free(s2), free(dev);
}

static void test_all_configs(gc_ctx *ctx) {
  for (int kind = 0; kind <= GC_OPT_ADAMW; kind++)
    for (int gaf = 0; gaf <= GC_GAF_LOG; gaf++)
      for (int pos = 0; pos < (kind >= GC_OPT_ADAM ? 1 : 2); pos++) {
        if (gaf == 0 && pos == 1) continue;
        gc_optim_config c;
        gc_optim_config_default(&c, (gc_opt_kind)kind);
        c.gaf = (gc_gaf_type)gaf;
        c.gaf_pos = (gc_gaf_pos)pos;
        c.gaf_alpha = gaf == 2 ? 0.2f : 0.1f;
        c.gaf_beta = gaf == 2 ? 10.0f : 20.0f;
        run_config(ctx, &c, 3);
      }
  gc_optim_config c;
  gc_optim_config_default(&c, GC_OPT_SGDM);
  c.clip = GC_CLIP_VALUE;
  run_config(ctx, &c, 3);
  c.clip = GC_CLIP_NORM;
  c.clip_threshold = 0.5f;
  run_config(ctx, &c, 3);
  c.clip = GC_CLIP_NORM;
  c.clip_threshold = 1e6f; /* no clipping in effect: scale 1 */
  c.gaf = GC_GAF_ARCTAN;
  run_config(ctx, &c, 2);
  /* huge alpha*beta: the GAF saturates (beta*g overflows to inf for the large gradients) */
  gc_optim_config_default(&c, GC_OPT_SGDM);
  c.gaf = GC_GAF_ARCTAN;
  c.gaf_alpha = 1.0f;
  c.gaf_beta = 1e38f;
  run_config(ctx, &c, 2);
  c.gaf = GC_GAF_TANH;
  run_config(ctx, &c, 2);
  c.gaf = GC_GAF_LOG;
  c.gaf_pos = GC_GAF_ON_GRAD;
  run_config(ctx, &c, 2);
  /* guard and stats off: no statistics pass at all */
  gc_optim_config_default(&c, GC_OPT_NESTEROV);
  c.guard = 0;
  c.gaf = GC_GAF_TANH;
  run_config(ctx, &c, 2);
}

static void test_guard_and_stats(gc_ctx *ctx) {
  fixture f;
  fixture_init(ctx, &f);
  size_t T = f.total;
  float *w = calloc(T, 4), *g = calloc(T, 4), *before = calloc(T, 4), *after = calloc(T, 4), *sb = calloc(T, 4), *sa = calloc(T, 4);
  unsigned long long seed = 5;
  for (size_t i = 0; i < T; i++) w[i] = 0.1f * gc_test_rand(&seed);
  upload(ctx, &f.pa, w);
  gc_optim_config c;
  gc_optim_config_default(&c, GC_OPT_ADAM);
  c.gaf = GC_GAF_ARCTAN;
  c.stats = 1;
  gc_optim *o = NULL;
  CHECK_OK(gc_optim_create(ctx, &c, &f.pa, &f.ga, NSEG, f.segs, &o));
  make_grads(g, &f, 1);
  upload(ctx, &f.ga, g);
  gc_optim_report rep;
  CHECK_OK(gc_optim_step(ctx, o, 1e-3f, &rep));
  CHECK(!rep.skipped && rep.first_bad_segment == -1);
  /* statistics against a double-precision sum */
  double total = 0, gmax = 0;
  for (int k = 0; k < NSEG; k++) {
    double ss = 0, mx = 0;
    for (size_t i = 0; i < seg_n[k]; i++) {
      double v = g[f.segs[k].offset + i];
      ss += v * v;
      mx = fabs(v) > mx ? fabs(v) : mx;
    }
    total += ss;
    gmax = mx > gmax ? mx : gmax;
    CHECK(fabs(rep.seg_sumsq[2 * k] - ss) <= 1e-5 * ss + 1e-30);
    CHECK(rep.seg_max[2 * k] == (float)mx);
  }
  CHECK(fabs(rep.grad_norm - sqrt(total)) <= 1e-5 * sqrt(total));
  CHECK(rep.grad_max == gmax);

  /* NaN in one element of segment 3, then +Inf in segment 5: skipped, nothing changes */
  for (int trial = 0; trial < 2; trial++) {
    download(ctx, &f.pa, before);
    download(ctx, gc_optim_state(o, 0), sb);
    make_grads(g, &f, 2);
    int seg = trial == 0 ? 3 : 5;
    g[f.segs[seg].offset + (trial == 0 ? 999 : 0)] = trial == 0 ? NAN : INFINITY;
    upload(ctx, &f.ga, g);
    CHECK_OK(gc_optim_step(ctx, o, 1e-3f, &rep));
    CHECK(rep.skipped == 1 && rep.first_bad_segment == seg);
    CHECK(gc_optim_steps(o) == 1);
    download(ctx, &f.pa, after);
    download(ctx, gc_optim_state(o, 0), sa);
    CHECK(memcmp(before, after, T * 4) == 0);
    CHECK(memcmp(sb, sa, T * 4) == 0);
  }
  /* a clean step goes on as step 2 */
  make_grads(g, &f, 3);
  upload(ctx, &f.ga, g);
  CHECK_OK(gc_optim_step(ctx, o, 1e-3f, &rep));
  CHECK(!rep.skipped && gc_optim_steps(o) == 2);
  gc_optim_free(o);

  /* bad configurations and segments */
  gc_optim_config bad = c;
  bad.gaf_alpha = -1.0f;
  CHECK_STATUS(gc_optim_create(ctx, &bad, &f.pa, &f.ga, NSEG, f.segs, &o), GC_ERR_ARG);
  if (ctx->wg > 1) { /* segments start at multiples of the work-group size (with work-groups of 1, anywhere) */
    gc_optim_segment seg2[2] = {{0, 40, 0.0f}, {f.segs[3].offset + ctx->wg / 2, 3, 0.0f}};
    CHECK_STATUS(gc_optim_create(ctx, &c, &f.pa, &f.ga, 2, seg2, &o), GC_ERR_ARG); /* unaligned */
  }
  gc_optim_segment seg3[2] = {{f.segs[3].offset, 1000, 0.0f}, {f.segs[3].offset, 10, 0.0f}};
  CHECK_STATUS(gc_optim_create(ctx, &c, &f.pa, &f.ga, 2, seg3, &o), GC_ERR_ARG); /* overlapping */
  CHECK(strstr(gc_last_error(), "overlap") != NULL);
  gc_optim_config ok;
  gc_optim_config_default(&ok, GC_OPT_SGD);
  CHECK_OK(gc_optim_create(ctx, &ok, &f.pa, &f.ga, NSEG, f.segs, &o));
  CHECK_STATUS(gc_optim_step(ctx, o, NAN, NULL), GC_ERR_ARG);
  gc_optim_free(o);
  gc_opt_kind k;
  gc_gaf_type gt;
  CHECK_OK(gc_opt_parse("adamw", &k));
  CHECK(k == GC_OPT_ADAMW);
  CHECK_STATUS(gc_opt_parse("rmsprop", &k), GC_ERR_ARG);
  CHECK_OK(gc_gaf_parse("log", &gt));
  CHECK(gt == GC_GAF_LOG);
  gc_arena_release(&f.pa);
  gc_arena_release(&f.ga);
  free(w), free(g), free(before), free(after), free(sb), free(sa);
}

static void test_schedules(void) {
  gc_schedule s = {GC_SCHED_COSINE, 0.1, 0, 200, {0}, 0, 0.1, 0, 0.0};
  /* the CIFAR recipe: lr = 0.1 * (1 + cos(pi * e / 200)) / 2 per epoch */
  CHECK(fabs(gc_schedule_lr(&s, 0, 5, 196) - 0.1) < 1e-15);
  CHECK(fabs(gc_schedule_lr(&s, 100, 0, 196) - 0.05) < 1e-12);
  CHECK(fabs(gc_schedule_lr(&s, 50, 100, 196) - 0.1 * (1 + cos(3.14159265358979323846 * 50 / 200)) / 2) < 1e-12);
  s.per_iteration = 1;
  CHECK(fabs(gc_schedule_lr(&s, 50, 98, 196) - 0.1 * (1 + cos(3.14159265358979323846 * (50 * 196 + 98) / (200.0 * 196))) / 2) < 1e-12);
  s.warmup_iters = 196; /* one epoch of linear warmup per iteration */
  CHECK(fabs(gc_schedule_lr(&s, 0, 0, 196) - 0.1 / 196) < 1e-9);
  CHECK(fabs(gc_schedule_lr(&s, 0, 97, 196) - 0.1 * (1 + cos(3.14159265358979323846 * 97 / (200.0 * 196))) / 2 * 98 / 196) < 1e-12);
  gc_schedule st = {GC_SCHED_STEP, 0.1, 0, 0, {30, 60, 90}, 3, 0.1, 0, 0.0};
  CHECK(fabs(gc_schedule_lr(&st, 29, 0, 10) - 0.1) < 1e-15);
  CHECK(fabs(gc_schedule_lr(&st, 30, 0, 10) - 0.01) < 1e-15);
  CHECK(fabs(gc_schedule_lr(&st, 95, 0, 10) - 0.0001) < 1e-15);
  gc_schedule c = {GC_SCHED_CONSTANT, 0.05, 0, 0, {0}, 0, 0, 0, 0};
  CHECK(gc_schedule_lr(&c, 7, 3, 10) == 0.05);
  /* the official ImageNet scheduler: 5 warm-up epochs (the ramp alone), then the cosine over the other
   * 145, at the full rate when the warm-up ends */
  const double PI = 3.14159265358979323846;
  gc_schedule w = {GC_SCHED_WARMUP_COSINE, 0.1, 0, 150, {0}, 0, 0.1, 5 * 100, 0.0};
  CHECK(fabs(gc_schedule_lr(&w, 0, 0, 100) - 0.1 / 500) < 1e-15);
  CHECK(fabs(gc_schedule_lr(&w, 2, 49, 100) - 0.1 * 250 / 500) < 1e-15);
  CHECK(fabs(gc_schedule_lr(&w, 4, 99, 100) - 0.1) < 1e-15);
  CHECK(fabs(gc_schedule_lr(&w, 5, 0, 100) - 0.1) < 1e-15);
  CHECK(fabs(gc_schedule_lr(&w, 5 + 145 / 2, 50, 100) - 0.1 * (1 + cos(PI * 72 / 145)) / 2) < 1e-12);
  CHECK(fabs(gc_schedule_lr(&w, 149, 99, 100) - 0.1 * (1 + cos(PI * 144 / 145)) / 2) < 1e-12);
  w.per_iteration = 1;
  CHECK(fabs(gc_schedule_lr(&w, 5, 0, 100) - 0.1) < 1e-15);
  CHECK(fabs(gc_schedule_lr(&w, 80, 0, 100) - 0.1 * (1 + cos(PI * 7500 / 14500)) / 2) < 1e-12);
  /* the plain cosine multiplies the ramp into the cosine over all epochs instead */
  gc_schedule m = w;
  m.kind = GC_SCHED_COSINE;
  CHECK(gc_schedule_lr(&m, 4, 99, 100) < gc_schedule_lr(&w, 4, 99, 100));
  w.warmup_iters = 0; /* no warm-up: the cosine over all epochs */
  CHECK(fabs(gc_schedule_lr(&w, 75, 0, 100) - 0.05) < 1e-12);
}

int main(int argc, char **argv) {
  int small = argc > 1 && !strcmp(argv[1], "--small");
  gc_ctx *ctx = gc_test_open();
  if (!ctx) return 1;
  if (small) {
    gc_optim_config c;
    gc_optim_config_default(&c, GC_OPT_SGDM);
    c.gaf = GC_GAF_ARCTAN;
    run_config(ctx, &c, 2);
    c.gaf = GC_GAF_LOG;
    c.clip = GC_CLIP_NORM;
    run_config(ctx, &c, 2);
    gc_optim_config_default(&c, GC_OPT_ADAM);
    c.gaf = GC_GAF_TANH;
    c.clip = GC_CLIP_VALUE;
    run_config(ctx, &c, 2);
  } else {
    test_all_configs(ctx);
    test_schedules();
  }
  test_guard_and_stats(ctx);
  printf("largest difference device vs reference: %ld ulp\n", worst_ulp);
  gc_ctx_free(ctx);
  return gc_test_summary("test_optim");
}
