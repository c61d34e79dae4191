/* `gafcl bench-conv` and `gafcl tune`.
 *
 * bench-conv: every convolution shape of the networks named, at the batch given, timed pass by
 * pass (forward, data gradient, weight gradient) with each algorithm of the table that runs it and with
 * the algorithm the library chooses, on synthetic tensors. The JSON it writes (--out) is what
 * bench/pytorch_convs.py reads to time PyTorch on the same shapes, and what bench/report puts side by
 * side. Shapes shared by several layers (or networks) are timed once and counted per network, so that
 * the sum over a network's shapes is its convolution time per iteration. */
#include "cli.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

#ifndef GAFCL_GIT_REV
#define GAFCL_GIT_REV "unknown"
#endif

enum { MAXNETS = 16 };

typedef struct shape {
  gc_conv c;
  size_t dims[4]; /* the input: N, C, H, W */
  char first[160]; /* the first layer with this shape ("resnet18 layer1.0.conv1.weight") */
  int count[MAXNETS], dx_count[MAXNETS];
} shape;

static const char *const pass_names[4] = {"", "forward", "dgrad", "wgrad"};

static int same(const shape *s, const gc_conv *c, const size_t d[4]) {
  return !memcmp(&s->c, c, sizeof *c) && !memcmp(s->dims, d, sizeof s->dims);
}

/* The unique convolution shapes of the nets (planned only: nothing allocated). */
static int collect(gc_ctx *ctx, const gafcl_cfg *c, char (*names)[32], int nn, shape **out, int *ns) {
  int st = 0, cap = 0;
  *out = NULL;
  *ns = 0;
  for (int k = 0; k < nn && !st; k++) {
    gc_net_spec s;
    gc_net *net = NULL;
    GC_TRY(gc_net_spec_init(&s, names[k], c->imagenet));
    if (c->size > 0) s.in_h = s.in_w = (int)c->size;
    if (c->classes > 0) s.classes = (int)c->classes;
    GC_TRY(gc_net_plan(ctx, &s, (size_t)c->batch, &net));
    for (int i = 0; i < gc_net_nlayers(net); i++) {
      gc_conv cv;
      size_t d[4];
      int wdx;
      if (!gc_net_layer_conv(net, i, &cv, d, &wdx)) continue;
      int j = 0;
      while (j < *ns && !same(&(*out)[j], &cv, d)) j++;
      if (j == *ns) {
        if (*ns == cap) {
          cap = cap ? 2 * cap : 32;
          shape *t = realloc(*out, (size_t)cap * sizeof *t);
          if (!t) {
            gc_net_free(net);
            GC_FAIL(GC_ERR_HOST_MEM, "convolution shapes");
          }
          *out = t;
        }
        shape *sh = &(*out)[(*ns)++];
        memset(sh, 0, sizeof *sh);
        sh->c = cv;
        memcpy(sh->dims, d, sizeof sh->dims);
        gc_layer_profile lp;
        gc_net_layer_profile(net, i, &lp);
        snprintf(sh->first, sizeof sh->first, "%s %s", names[k], lp.param);
      }
      (*out)[j].count[k]++;
      (*out)[j].dx_count[k] += wdx;
    }
    gc_net_free(net);
  }
cleanup:
  return st;
}

typedef struct bufs {
  gc_arena ar;
  gc_tensor x, w, b, y, dx, dw, db, ws;
} bufs;

static int fill(gc_ctx *ctx, const gc_tensor *t, uint64_t seed) {
  size_t n = gc_tensor_numel(t);
  float *v = malloc(n * sizeof *v);
  if (!v) GC_FAIL(GC_ERR_HOST_MEM, "benchmark tensor of %zu elements", n);
  uint64_t r = seed * 0x9E3779B97F4A7C15ull + 88172645463325252ull;
  for (size_t i = 0; i < n; i++) {
    r ^= r << 13, r ^= r >> 7, r ^= r << 17;
    v[i] = (float)((double)(r >> 11) / 9007199254740992.0 * 2.0 - 1.0);
  }
  int st = gc_tensor_write(ctx, t, v, n);
  free(v);
  return st;
}

static int bufs_make(gc_ctx *ctx, const shape *s, bufs *b) {
  int st = 0;
  size_t ho, wo;
  GC_TRY(gc_conv_out(&s->c, s->dims[2], s->dims[3], &ho, &wo));
  size_t G = s->c.groups > 1 ? (size_t)s->c.groups : 1; /* grouped: c_in / G inputs per output */
  size_t n = s->dims[0], co = (size_t)s->c.c_out, k = (size_t)s->c.c_in / G * s->c.kh * s->c.kw;
  size_t dy[4] = {n, co, ho, wo}, nw = co * k, nb = co, nws = gc_conv_workspace(ctx, &s->c, n, s->dims[2], s->dims[3]);
  gc_arena_init(ctx, &b->ar, "convolution benchmark");
  GC_TRY(gc_arena_reserve(&b->ar, &b->x, 4, s->dims));
  GC_TRY(gc_arena_reserve(&b->ar, &b->dx, 4, s->dims));
  GC_TRY(gc_arena_reserve(&b->ar, &b->y, 4, dy));
  GC_TRY(gc_arena_reserve(&b->ar, &b->w, 1, &nw));
  GC_TRY(gc_arena_reserve(&b->ar, &b->dw, 1, &nw));
  GC_TRY(gc_arena_reserve(&b->ar, &b->b, 1, &nb));
  GC_TRY(gc_arena_reserve(&b->ar, &b->db, 1, &nb));
  if (nws < 1) nws = 1;
  GC_TRY(gc_arena_reserve(&b->ar, &b->ws, 1, &nws));
  GC_TRY(gc_arena_commit(ctx, &b->ar, 0));
  GC_TRY(fill(ctx, &b->x, 1));
  GC_TRY(fill(ctx, &b->w, 2));
  GC_TRY(fill(ctx, &b->y, 3)); /* the output gradient of the backward passes; the forward overwrites it */
  GC_TRY(fill(ctx, &b->b, 4));
cleanup:
  return st;
}

static int run_pass(gc_ctx *ctx, const shape *s, bufs *b, int pass) {
  const gc_tensor *bias = s->c.bias ? &b->b : NULL, *db = s->c.bias ? &b->db : NULL;
  if (pass == GC_CONV_FORWARD) return gc_conv_forward(ctx, &s->c, &b->x, &b->w, bias, &b->y, &b->ws);
  if (pass == GC_CONV_DGRAD) return gc_conv_backward(ctx, &s->c, &b->x, &b->w, &b->y, &b->dx, 0, NULL, NULL, &b->ws);
  return gc_conv_backward(ctx, &s->c, &b->x, &b->w, &b->y, NULL, 0, &b->dw, db, &b->ws);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* The median of `iters` timed runs after one untimed run (which builds the kernels, and in "measure"
 * mode makes the choice), in milliseconds. */
static int time_pass(gc_ctx *ctx, const shape *s, bufs *b, int pass, int iters, double *ms) {
  int st = 0;
  double *t = malloc((size_t)iters * sizeof *t);
  if (!t) GC_FAIL(GC_ERR_HOST_MEM, "timings");
  GC_TRY(run_pass(ctx, s, b, pass));
  GC_TRY(gc_finish(ctx));
  for (int i = 0; i < iters; i++) {
    gc_timing_begin(ctx);
    GC_TRY(run_pass(ctx, s, b, pass));
    GC_TRY(gc_timing_end(ctx, &t[i]));
  }
  qsort(t, (size_t)iters, sizeof *t, cmp_double);
  *ms = 1e3 * (iters % 2 ? t[iters / 2] : 0.5 * (t[iters / 2 - 1] + t[iters / 2]));
cleanup:
  free(t);
  return st;
}

static double conv_flops(const shape *s) {
  size_t ho = 0, wo = 0;
  if (gc_conv_out(&s->c, s->dims[2], s->dims[3], &ho, &wo)) gc_clear_error();
  double G = s->c.groups > 1 ? (double)s->c.groups : 1.0;
  return 2.0 * (double)s->dims[0] * (double)s->c.c_out * (double)(ho * wo) * ((double)s->c.c_in / G) * s->c.kh * s->c.kw;
}

/* --nets as names */
static int parse_nets(const gafcl_cfg *c, char (*names)[32], int *nn) {
  char list[256];
  *nn = 0;
  snprintf(list, sizeof list, "%s", c->nets);
  for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    if (*nn == MAXNETS) GC_FAIL(GC_ERR_ARG, "--nets: at most %d networks", MAXNETS);
    snprintf(names[(*nn)++], 32, "%s", t);
  }
  return GC_OK;
}

static int bench_conv(gc_ctx *ctx, const gafcl_cfg *c) {
  int st = 0, nn = 0, ns = 0;
  char names[MAXNETS][32];
  shape *sh = NULL;
  cJSON *root = cJSON_CreateObject();
  GC_TRY(parse_nets(c, names, &nn));
  GC_TRY(collect(ctx, c, names, nn, &sh, &ns));
  /* the mode to restore after timing each algorithm: --conv-algo, else the library's default */
  const char *mode = c->conv_algo[0] ? c->conv_algo : "measure";
  cJSON_AddStringToObject(root, "device", ctx->dev.name);
  cJSON_AddStringToObject(root, "platform", ctx->dev.platform);
  cJSON_AddStringToObject(root, "driver", ctx->dev.driver);
  cJSON_AddStringToObject(root, "gafcl_git_revision", GAFCL_GIT_REV);
  cJSON_AddStringToObject(root, "form", c->imagenet ? "imagenet" : "cifar");
  cJSON_AddNumberToObject(root, "batch", (double)c->batch);
  cJSON_AddNumberToObject(root, "iters", (double)c->iters);
  cJSON_AddStringToObject(root, "mode", mode);
  cJSON *jn = cJSON_AddArrayToObject(root, "nets");
  for (int k = 0; k < nn; k++) cJSON_AddItemToArray(jn, cJSON_CreateString(names[k]));
  cJSON *js = cJSON_AddArrayToObject(root, "shapes");
  double total[MAXNETS][4];
  memset(total, 0, sizeof total);
  printf("%d convolution shapes of %s (%s form, batch %ld); median of %ld runs, ms\n", ns, c->nets,
         c->imagenet ? "ImageNet" : "CIFAR", c->batch, c->iters);
  printf("%-7s %-59s %-26s %10s %10s %10s\n", "", "shape (first layer)", "chosen", "forward", "dgrad", "wgrad");
  for (int i = 0; i < ns && !st; i++) {
    shape *s = &sh[i];
    bufs b;
    memset(&b, 0, sizeof b);
    size_t ho = 0, wo = 0;
    GC_TRY(gc_conv_out(&s->c, s->dims[2], s->dims[3], &ho, &wo));
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToArray(js, o);
    cJSON_AddStringToObject(o, "first", s->first);
    const int iv[] = {(int)s->dims[0], s->c.c_in, (int)s->dims[2], (int)s->dims[3], s->c.c_out, s->c.kh, s->c.kw,
                      s->c.sh, s->c.sw, s->c.ph, s->c.pw, s->c.dh, s->c.dw, s->c.bias, (int)ho, (int)wo,
                      s->c.groups > 1 ? s->c.groups : 1};
    const char *ik[] = {"n",  "c_in", "h",  "w",  "c_out", "kh", "kw", "sh", "sw",
                        "ph", "pw",   "dh", "dw", "bias",  "ho", "wo", "groups"};
    for (size_t q = 0; q < sizeof iv / sizeof iv[0]; q++) cJSON_AddNumberToObject(o, ik[q], iv[q]);
    cJSON_AddNumberToObject(o, "flops", conv_flops(s));
    cJSON *jc = cJSON_AddObjectToObject(o, "count"), *jd = cJSON_AddObjectToObject(o, "dgrad_count");
    for (int k = 0; k < nn; k++)
      if (s->count[k]) {
        cJSON_AddNumberToObject(jc, names[k], s->count[k]);
        cJSON_AddNumberToObject(jd, names[k], s->dx_count[k]);
      }
    st = bufs_make(ctx, s, &b);
    cJSON *jp = cJSON_AddObjectToObject(o, "passes");
    double chosen_ms[4] = {0, 0, 0, 0};
    char chosen_name[4][32];
    for (int pass = GC_CONV_FORWARD; pass <= GC_CONV_WGRAD && !st; pass++) {
      cJSON *pp = cJSON_AddObjectToObject(jp, pass_names[pass]), *ja = cJSON_AddObjectToObject(pp, "algorithms");
      for (int a = 0; a < gc_conv_algo_count() && !st; a++) {
        if (!gc_conv_algo_supports(a, &s->c, pass) || !gc_conv_algo_usable(ctx, a)) continue;
        double ms;
        st = gc_conv_algo_set(ctx, gc_conv_algo_name(a));
        if (!st) st = time_pass(ctx, s, &b, pass, (int)c->iters, &ms);
        if (st) {
          gc_error_prefix(st, "%s: ", gc_conv_algo_name(a));
          break;
        }
        cJSON_AddNumberToObject(ja, gc_conv_algo_name(a), ms);
      }
      if (!st) st = gc_conv_algo_set(ctx, mode);
      if (!st) st = time_pass(ctx, s, &b, pass, (int)c->iters, &chosen_ms[pass]);
      if (st) break;
      int ch = gc_conv_algo_chosen(ctx, &s->c, s->dims[0], s->dims[2], s->dims[3], pass);
      snprintf(chosen_name[pass], sizeof chosen_name[pass], "%s", ch >= 0 ? gc_conv_algo_name(ch) : "?");
      cJSON_AddStringToObject(pp, "chosen", chosen_name[pass]);
      cJSON_AddNumberToObject(pp, "ms", chosen_ms[pass]);
      for (int k = 0; k < nn; k++)
        total[k][pass] += chosen_ms[pass] * (pass == GC_CONV_DGRAD ? s->dx_count[k] : s->count[k]);
    }
    gc_arena_release(&b.ar);
    if (st) {
      gc_error_prefix(st, "shape %s: ", s->first);
      break;
    }
    char desc[96], algos[96];
    char gs[16] = "";
    if (s->c.groups > 1) snprintf(gs, sizeof gs, " g%d", s->c.groups);
    snprintf(desc, sizeof desc, "%d->%d %dx%d/%d%s %zux%zu", s->c.c_in, s->c.c_out, s->c.kh, s->c.kw, s->c.sh, gs,
             s->dims[2], s->dims[3]);
    snprintf(algos, sizeof algos, "%.8s/%.8s/%.8s", chosen_name[1], chosen_name[2], chosen_name[3]);
    printf("%3d/%-3d %-22s %-36.36s %-26s %10.3f %10.3f %10.3f\n", i + 1, ns, desc, s->first, algos, chosen_ms[1],
           chosen_ms[2], chosen_ms[3]);
    fflush(stdout);
  }
  if (!st) {
    cJSON *jt = cJSON_AddObjectToObject(root, "totals_ms");
    printf("per iteration (each shape times its layers; dgrad only where the layer needs it):\n");
    for (int k = 0; k < nn; k++) {
      cJSON *t = cJSON_AddObjectToObject(jt, names[k]);
      for (int pass = 1; pass <= 3; pass++) cJSON_AddNumberToObject(t, pass_names[pass], total[k][pass]);
      printf("  %-16s forward %.1f ms, dgrad %.1f ms, wgrad %.1f ms, all %.1f ms\n", names[k], total[k][1], total[k][2],
             total[k][3], total[k][1] + total[k][2] + total[k][3]);
    }
    cJSON_AddStringToObject(root, "timing", gc_timing_source_name(ctx));
  }
  if (!st && c->out[0]) {
    char *text = cJSON_Print(root);
    FILE *f = text ? fopen(c->out, "w") : NULL;
    int bad = !f || fputs(text, f) < 0;
    if (f && fclose(f) != 0) bad = 1;
    free(text);
    if (bad) st = gc_error_set(GC_ERR_IO, __FILE__, __LINE__, "cannot write %s", c->out);
    else printf("results written to %s\n", c->out);
  }
cleanup:
  free(sh);
  cJSON_Delete(root);
  return st;
}

void cmd_bench_conv_defaults(gafcl_cfg *c) {
  c->batch = 16;
  c->iters = 5;
}

int cmd_bench_conv(gafcl_cfg *c) {
  gc_ctx *ctx = NULL;
  int st = cli_open(c, &ctx);
  if (st) return cli_fail(st, "cannot open the device");
  printf("device: %s (%s, driver %s)\n", ctx->dev.name, ctx->dev.platform, ctx->dev.driver);
  st = bench_conv(ctx, c);
  int rc = st ? cli_fail(st, "bench-conv failed") : 0;
  gc_ctx_free(ctx);
  return rc;
}

static double cli_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- gafcl tune: the register tiles of gafcl's own GEMMs, searched on the networks' convolutions ---- */

/* The vgemm-based passes of every shape with the current tiles: one untimed run (builds the tile's
 * kernels), then the median of 3. which = GC_VGEMM_NN: forward and data gradient; GC_VGEMM_NT: weight
 * gradient. per_shape (may be NULL) gets each shape's time. */
static const char *const own_algos[] = {"im2col_vgemm", "im2col_vgemm_batched", "pointwise_vgemm", "implicit_vgemm",
                                        "winograd", NULL};
static const char *const clblast_algos[] = {"im2col_gemm", "im2col_batched", "pointwise", NULL};

/* The passes (bit pass) of every shape with the best of `algos`, weighted by the layers that run them. */
static int eval_algos(gc_ctx *ctx, shape *sh, int ns, bufs *b, const char *const *algos, unsigned passes, double *total,
                      double *per_shape) {
  int st = 0;
  *total = 0;
  for (int i = 0; i < ns; i++) {
    double t = 0;
    for (int pass = GC_CONV_FORWARD; pass <= GC_CONV_WGRAD; pass++) {
      if (!(passes & (1u << pass))) continue;
      double best = 0;
      for (size_t a = 0; algos[a]; a++) {
        int id = -1;
        for (int q = 0; q < gc_conv_algo_count(); q++)
          if (!strcmp(gc_conv_algo_name(q), algos[a])) id = q;
        if (id < 0 || !gc_conv_algo_supports(id, &sh[i].c, pass) || !gc_conv_algo_usable(ctx, id)) continue;
        double ms = 0;
        GC_TRY(gc_conv_algo_set(ctx, algos[a]));
        GC_TRY(time_pass(ctx, &sh[i], &b[i], pass, 3, &ms));
        if (best == 0 || ms < best) best = ms;
      }
      int n = 0;
      for (int k = 0; k < MAXNETS; k++) n += pass == GC_CONV_DGRAD ? sh[i].dx_count[k] : sh[i].count[k];
      t += best * n;
    }
    if (per_shape) per_shape[i] = t;
    *total += t;
  }
cleanup:
  return st;
}

static int tune_eval(gc_ctx *ctx, shape *sh, int ns, bufs *b, int which, double *total, double *per_shape) {
  unsigned passes = which == GC_VGEMM_NT ? 1u << GC_CONV_WGRAD : (1u << GC_CONV_FORWARD) | (1u << GC_CONV_DGRAD);
  return eval_algos(ctx, sh, ns, b, own_algos, passes, total, per_shape);
}

/* What both tuners measure: the nets' shapes with tensors of their own, and per-shape times before and
 * after. */
typedef struct tune_set {
  shape *sh;
  int ns;
  bufs *b;
  double *before, *after;
} tune_set;

static void tune_set_free(tune_set *t) {
  for (int i = 0; t->b && i < t->ns; i++) gc_arena_release(&t->b[i].ar);
  free(t->b);
  free(t->before);
  free(t->after);
  free(t->sh);
  memset(t, 0, sizeof *t);
}

static int tune_set_make(gc_ctx *ctx, const gafcl_cfg *c, tune_set *t) {
  int st = 0, nn = 0;
  char names[MAXNETS][32];
  memset(t, 0, sizeof *t);
  GC_TRY(parse_nets(c, names, &nn));
  GC_TRY(collect(ctx, c, names, nn, &t->sh, &t->ns));
  t->b = calloc((size_t)t->ns, sizeof *t->b);
  t->before = calloc((size_t)t->ns, sizeof *t->before);
  t->after = calloc((size_t)t->ns, sizeof *t->after);
  if (!t->b || !t->before || !t->after) GC_FAIL(GC_ERR_HOST_MEM, "tuning buffers");
  for (int i = 0; i < t->ns; i++) GC_TRY(bufs_make(ctx, &t->sh[i], &t->b[i]));
cleanup:
  if (st) tune_set_free(t);
  return st;
}

static int tune(gc_ctx *ctx, const gafcl_cfg *c) {
  int st = 0;
  tune_set ts;
  memset(&ts, 0, sizeof ts);
  int usable = 0;
  for (int q = 0; q < gc_conv_algo_count(); q++) usable += gc_conv_algo_usable(ctx, q) && strstr(gc_conv_algo_name(q), "vgemm");
  if (!usable) {
    printf("gafcl's own GEMMs do not run on %s (%s): nothing to tune\n", ctx->dev.name, ctx->dev.platform);
    return GC_OK;
  }
  GC_TRY(tune_set_make(ctx, c, &ts));
  shape *sh = ts.sh;
  const int ns = ts.ns;
  bufs *b = ts.b;
  double *before = ts.before, *after = ts.after;
  /* the candidates: vector widths 8 and 16, register tiles that fit 32 vector registers, work-groups of 1
   * on CPUs (a work-item is a whole vectorised tile) and of 1 or 64 elsewhere */
  gc_vgemm_tile cand[2][64];
  int nc[2] = {0, 0};
  const int cpu = (ctx->dev.type & CL_DEVICE_TYPE_CPU) != 0;
  for (int which = 0; which < 2; which++) {
    gc_vgemm_tile cur;
    GC_TRY(gc_vgemm_tile_get(ctx, which, &cur, NULL));
    cand[which][nc[which]++] = cur; /* the current tiles first: the baseline */
    for (int lw = 1; lw <= (cpu ? 1 : 64); lw *= 64)
      for (int vw = 16; vw >= 8; vw /= 2)
        for (int mr = 2; mr <= 16; mr += 2)
          for (int x = 1; x <= (which == GC_VGEMM_NN ? 3 : 6); x++) {
            gc_vgemm_tile t = {vw, which == GC_VGEMM_NN ? x : 0, mr, which == GC_VGEMM_NT ? x : 0, lw};
            int regs = which == GC_VGEMM_NN ? mr * x * vw / 16 + x * vw / 16 : mr * x * vw / 16 + (mr + x) * vw / 16;
            if (regs > 30 || (which == GC_VGEMM_NT && (mr > 8 || mr * x < 4)) || (which == GC_VGEMM_NN && mr * x * vw < 64))
              continue;
            if (!memcmp(&t, &cur, sizeof t) || nc[which] == 64) continue;
            cand[which][nc[which]++] = t;
          }
  }
  double t0 = cli_now(), budget = (double)c->budget;
  printf("%d convolution shapes of %s (%s form, batch %ld); %d + %d tiles to try within %.0f s\n", ns, c->nets,
         c->imagenet ? "ImageNet" : "CIFAR", c->batch, nc[0], nc[1], budget);
  for (int which = 0; which < 2 && !st; which++) {
    const char *kn = which == GC_VGEMM_NN ? "vgemm (forward, data gradient)" : "vgemm_nt (weight gradient)";
    double best_ms = 0, base_ms = 0;
    int best = 0;
    for (int k = 0; k < nc[which]; k++) {
      /* half the budget for each kernel, the baseline always measured */
      if (k > 0 && cli_now() - t0 > budget * (which + 1) / 2) {
        printf("  %s: budget spent after %d of %d tiles\n", kn, k, nc[which]);
        break;
      }
      const gc_vgemm_tile *t = &cand[which][k];
      GC_TRY(gc_vgemm_tile_set(ctx, which, t));
      double ms;
      st = tune_eval(ctx, sh, ns, b, which, &ms, k == 0 ? before : NULL);
      if (st && k > 0) { /* a tile the device cannot build or run: skipped, named */
        printf("  [%2d/%d] %s tile %dx%dx%dx%d lw %d: fails (%s)\n", k + 1, nc[which], kn, t->vw, t->nv, t->mr, t->nr,
               t->lw, gc_last_error());
        gc_clear_error();
        st = 0;
        continue;
      }
      if (st) break;
      if (k == 0) base_ms = ms;
      if (k == 0 || ms < best_ms) best_ms = ms, best = k;
      printf("  [%2d/%d] %s vw %2d nv %d mr %2d nr %d lw %2d: %9.2f ms per iteration (best %.2f, %+.1f%% vs current) "
             "%.0f s\n", k + 1, nc[which], kn, t->vw, t->nv, t->mr, t->nr, t->lw, ms, best_ms,
             100.0 * (ms - base_ms) / base_ms, cli_now() - t0);
      fflush(stdout);
    }
    if (st) break;
    GC_TRY(gc_vgemm_tile_set(ctx, which, &cand[which][best]));
    if (best != 0) { /* the winner again, shape by shape, for the report */
      double ms;
      GC_TRY(tune_eval(ctx, sh, ns, b, which, &ms, after));
    } else {
      memcpy(after, before, (size_t)ns * sizeof *after);
    }
    printf("%s: vw %d nv %d mr %d nr %d lw %d, %.2f -> %.2f ms per iteration (%.2fx); per shape:\n", kn,
           cand[which][best].vw, cand[which][best].nv, cand[which][best].mr, cand[which][best].nr, cand[which][best].lw,
           base_ms, best_ms, best_ms > 0 ? base_ms / best_ms : 0);
    for (int i = 0; i < ns; i++)
      if (before[i] > 0)
        printf("    %-22.22s %-36.36s %9.3f -> %9.3f ms (%.2fx)\n", "", sh[i].first, before[i], after[i],
               after[i] > 0 ? before[i] / after[i] : 0);
  }
  if (!st) {
    char path[1200];
    GC_TRY(gc_vgemm_tiles_save(ctx, path, sizeof path));
    printf("tiles kept in %s: every later run on this device (%s, driver %s) uses them\n", path, ctx->dev.name,
           ctx->dev.driver);
  }
cleanup:
  tune_set_free(&ts);
  return st;
}

/* ---- CLBlast's parameters: one stage per fresh process ----
 * CLBlast keeps an override for the rest of the process and cannot give its own parameters back, so each
 * stage runs in a process of its own (`gafcl tune --tune-stage S`), which starts from CLBlast's database
 * plus what earlier stages kept, measures that first (the baseline), tries candidates within its budget
 * and keeps a winner only when it is faster. Stages: xgemm (the indirect kernel, every GEMM routed to it),
 * direct (XgemmDirect, every GEMM routed to it), threshold (XGEMM_MIN_INDIRECT_SIZE, with the kernels
 * kept). The objective is the CLBlast-based convolution algorithms' passes over the networks' shapes. */

static uint64_t rng_next(uint64_t *r) {
  *r ^= *r << 13, *r ^= *r >> 7, *r ^= *r << 17;
  return *r;
}
static int pick(uint64_t *r, const int *v, int n) { return v[rng_next(r) % (uint64_t)n]; }

/* A random Xgemm (GEMMK 0) or XgemmDirect parameter set that satisfies CLBlast's constraints and the
 * device's work-group and local-memory limits; 0 when the draw does not. */
static int draw_params(const gc_ctx *ctx, int direct, uint64_t *r, char *out, size_t cap) {
  static const int t16[] = {16, 32, 64}, d8[] = {8, 16, 32}, v4[] = {1, 2, 4}, v8[] = {1, 2, 4, 8}, b01[] = {0, 1};
  size_t lm = ctx->dev.local_mem ? (size_t)ctx->dev.local_mem : 32768, wgmax = ctx->dev.max_wg;
  if (!direct) {
    int mwg = pick(r, t16, 3), nwg = pick(r, t16, 3), kwg = pick(r, (const int[]){16, 32}, 2), mdimc = pick(r, d8, 3),
        ndimc = pick(r, d8, 3), vwm = pick(r, v4, 3), vwn = pick(r, v4, 3), sa = pick(r, b01, 2), sb = pick(r, b01, 2);
    int mdima = mdimc, ndimb = ndimc, kwi = 2;
    if (mwg % (mdimc * vwm) || nwg % (ndimc * vwn) || mwg % (mdima * vwm) || nwg % (ndimb * vwn)) return 0;
    if (kwg % ((mdimc * ndimc) / mdima) || kwg % ((mdimc * ndimc) / ndimb) || kwg % kwi) return 0;
    if ((size_t)(mdimc * ndimc) > wgmax || (size_t)(sa * kwg * mwg + sb * kwg * nwg) * 4 > lm) return 0;
    snprintf(out, cap,
             "GEMMK=0 KREG=1 KWG=%d KWI=%d MDIMA=%d MDIMC=%d MWG=%d NDIMB=%d NDIMC=%d NWG=%d SA=%d SB=%d STRM=0 STRN=0 "
             "VWM=%d VWN=%d",
             kwg, kwi, mdima, mdimc, mwg, ndimb, ndimc, nwg, sa, sb, vwm, vwn);
    return 1;
  }
  int wgd = pick(r, d8, 3), mdimcd = pick(r, d8, 3), ndimcd = pick(r, d8, 3), vwmd = pick(r, v8, 4), vwnd = pick(r, v8, 4);
  int mdimad = mdimcd, ndimbd = ndimcd, kwid = 2;
  if (wgd % (mdimcd * vwmd) || wgd % (ndimcd * vwnd) || wgd % (mdimad * vwmd) || wgd % (ndimbd * vwnd)) return 0;
  if (wgd % ((mdimcd * ndimcd) / mdimad) || wgd % ((mdimcd * ndimcd) / ndimbd) || wgd % kwid) return 0;
  if ((size_t)(mdimcd * ndimcd) > wgmax || (size_t)(2 * wgd * (wgd + 1)) * 4 > lm) return 0;
  snprintf(out, cap, "KWID=%d MDIMAD=%d MDIMCD=%d NDIMBD=%d NDIMCD=%d PADA=1 PADB=1 VWMD=%d VWND=%d WGD=%d", kwid, mdimad,
           mdimcd, ndimbd, ndimcd, vwmd, vwnd, wgd);
  return 1;
}

static int clblast_stage(gc_ctx *ctx, const gafcl_cfg *c) {
  int st = 0;
  tune_set ts;
  const char *stage = c->tune_stage;
  const int direct = !strcmp(stage, "direct"), threshold = !strcmp(stage, "threshold");
  const char *kernel = threshold ? "GemmRoutine" : direct ? "XgemmDirect" : "Xgemm";
  GC_TRY(tune_set_make(ctx, c, &ts));
  shape *sh = ts.sh;
  const int ns = ts.ns;
  bufs *b = ts.b;
  double *before = ts.before, *after = ts.after;
  { /* the kept parameters applied before anything is routed (a context applies them at its first GEMM) */
    int applied = 0;
    GC_TRY(gc_clblast_tuned_apply(ctx, &applied));
  }
  /* every GEMM through the kernel being tuned */
  if (!threshold) GC_TRY(gc_clblast_override(ctx, "GemmRoutine", direct ? "XGEMM_MIN_INDIRECT_SIZE=1048576" : "XGEMM_MIN_INDIRECT_SIZE=1"));
  const unsigned passes = (1u << GC_CONV_FORWARD) | (1u << GC_CONV_DGRAD) | (1u << GC_CONV_WGRAD);
  double base = 0, best = 0;
  GC_TRY(eval_algos(ctx, sh, ns, b, clblast_algos, passes, &base, before));
  const double t0 = cli_now(); /* the budget is the candidates' */
  memcpy(after, before, (size_t)ns * sizeof *after);
  best = base;
  char best_p[400] = "", p[400];
  printf("  CLBlast %s: %s's own parameters%s: %.2f ms per iteration\n", kernel, "CLBlast",
         threshold ? " (and what earlier stages kept)" : "", base);
  fflush(stdout);
  uint64_t r = 0x2545F4914F6CDD1Dull;
  static const int sizes[] = {1, 64, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 1048576};
  int tried = 0;
  for (int k = 0; cli_now() - t0 < (double)c->budget; k++) {
    if (threshold) {
      if (k >= (int)(sizeof sizes / sizeof sizes[0])) break;
      snprintf(p, sizeof p, "XGEMM_MIN_INDIRECT_SIZE=%d", sizes[k]);
    } else {
      if (k > 4000) break;
      if (!draw_params(ctx, direct, &r, p, sizeof p)) continue;
    }
    tried++;
    double ms = 0;
    st = gc_clblast_override(ctx, kernel, p);
    if (!st) st = eval_algos(ctx, sh, ns, b, clblast_algos, passes, &ms, NULL);
    if (st) { /* a set this device cannot build or run: named, skipped */
      printf("  [%3d] %s %s: fails (%s)\n", tried, kernel, p, gc_last_error());
      gc_clear_error();
      st = 0;
      continue;
    }
    if (ms < best) best = ms, snprintf(best_p, sizeof best_p, "%s", p);
    printf("  [%3d] %s %s: %.2f ms (best %.2f, %+.1f%% vs CLBlast's) %.0f s\n", tried, kernel, p, ms, best,
           100.0 * (best - base) / base, cli_now() - t0);
    fflush(stdout);
  }
  if (best_p[0] && best < 0.99 * base) {
    char path[1200];
    GC_TRY(gc_clblast_override(ctx, kernel, best_p));
    GC_TRY(eval_algos(ctx, sh, ns, b, clblast_algos, passes, &best, after));
    GC_TRY(gc_clblast_tuned_save(ctx, kernel, best_p, path, sizeof path));
    printf("CLBlast %s: %s, %.2f -> %.2f ms per iteration (%.2fx) after %d candidates; kept in %s; per shape:\n", kernel,
           best_p, base, best, base / best, tried, path);
  } else {
    printf("CLBlast %s: its own parameters stay (%d candidates tried, none 1%% faster than %.2f ms)\n", kernel, tried, base);
  }
  for (int i = 0; i < ns && best_p[0] && best < 0.99 * base; i++)
    printf("    %-36.36s %9.3f -> %9.3f ms (%.2fx)\n", sh[i].first, before[i], after[i], after[i] > 0 ? before[i] / after[i] : 0);
cleanup:
  tune_set_free(&ts);
  return st;
}

/* Run one CLBlast stage in a fresh process of this program (see above); 0 when it succeeded. */
static int spawn_stage(const gafcl_cfg *c, const char *stage, long budget) {
  char batch[32], bud[32], size[32], classes[32];
  snprintf(batch, sizeof batch, "%ld", c->batch);
  snprintf(bud, sizeof bud, "%ld", budget > 0 ? budget : 1);
  snprintf(size, sizeof size, "%ld", c->size);
  snprintf(classes, sizeof classes, "%ld", c->classes);
  char *argv[24];
  int a = 0;
  argv[a++] = (char *)"gafcl";
  argv[a++] = (char *)"tune";
  argv[a++] = (char *)"--tune-stage", argv[a++] = (char *)stage;
  argv[a++] = (char *)"--nets", argv[a++] = (char *)c->nets;
  argv[a++] = (char *)"--batch", argv[a++] = batch;
  argv[a++] = (char *)"--budget", argv[a++] = bud;
  argv[a++] = (char *)"--size", argv[a++] = size;
  argv[a++] = (char *)"--classes", argv[a++] = classes;
  if (c->imagenet) argv[a++] = (char *)"--imagenet";
  if (c->device[0]) argv[a++] = (char *)"--device", argv[a++] = (char *)c->device;
  argv[a] = NULL;
  fflush(stdout);
  pid_t pid;
  if (posix_spawn(&pid, "/proc/self/exe", NULL, NULL, argv, environ) != 0) return -1;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return -1;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

void cmd_tune_defaults(gafcl_cfg *c) { c->batch = 16; }

int cmd_tune(gafcl_cfg *c) {
  gc_ctx *ctx = NULL;
  int st = cli_open(c, &ctx);
  if (st) return cli_fail(st, "cannot open the device");
  if (c->tune_stage[0]) { /* one CLBlast stage, in a process of its own */
    st = clblast_stage(ctx, c);
    gc_ctx_free(ctx);
    return st ? cli_fail(st, "tune stage failed") : 0;
  }
  printf("device: %s (%s, driver %s)\n", ctx->dev.name, ctx->dev.platform, ctx->dev.driver);
  printf("== gafcl's own GEMMs (register tiles), %ld s\n", c->budget);
  st = tune(ctx, c);
  gc_ctx_free(ctx);
  if (st) return cli_fail(st, "tune failed");
  if (c->clblast_budget > 0) {
    static const char *const stages[] = {"xgemm", "direct", "threshold"};
    static const int share[] = {45, 35, 20};
    printf("== CLBlast's GEMM parameters, %ld s (each stage in a fresh process)\n", c->clblast_budget);
    for (int i = 0; i < 3; i++) {
      printf("-- stage %s\n", stages[i]);
      if (spawn_stage(c, stages[i], c->clblast_budget * share[i] / 100) != 0) {
        fprintf(stderr, "gafcl: tune: the CLBlast stage %s failed (above)\n", stages[i]);
        return 1;
      }
    }
  }
  return 0;
}
