/* `gafcl bench`: per-iteration and per-epoch training time of networks on synthetic data, without and
 * with each GAF, split into forward, backward and optimizer (device time from OpenCL events), with the
 * GAF overhead and its spread over repeats. Baseline and GAF runs alternate (base, arctan, base, tanh,
 * base, log, ...) so that drift on a busy machine cancels in the paired differences. */
#include "cli.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


#ifndef GAFCL_GIT_REV
#define GAFCL_GIT_REV "unknown"
#endif

typedef struct phase_times {
  double fwd, bwd, opt, iter; /* seconds per iteration */
} phase_times;

/* iterations of the trainer's step on the batch already on the device, timed by phase */
static int run_iters(gc_trainer *tr, int iters, phase_times *t) {
  int st = 0;
  memset(t, 0, sizeof *t);
  for (int i = 0; i < iters; i++) {
    gc_step_report r;
    GC_TRY(gc_train_step(tr, NULL, NULL, 1e-3f, &r));
    double a = r.forward_s + r.loss_s, b = r.backward_s, c = r.optimizer_s;
    t->fwd += a / iters;
    t->bwd += b / iters;
    t->opt += c / iters;
    t->iter += (a + b + c) / iters;
  }
cleanup:
  return st;
}

/* Per-layer profile: `iters` iterations with every layer timed on its own (gc_net_profile), the loss and the
 * optimizer step of the baseline and of each GAF timed as wholes. Adds "profile" to jn and prints the time
 * split by operation and by stage. Layers wait for their own events here, so these iterations are slower
 * than the measured ones and only their shares are meaningful. */
static int profile_net(gc_ctx *ctx, gc_net *net, gc_trainer *const *tr, gc_optim *const *opt, int iters, cJSON *jn) {
  int st = 0;
  double loss_s = 0, opt_s[4] = {0, 0, 0, 0};
  GC_TRY(gc_net_profile(net, 1));
  for (int i = 0; i < iters; i++) {
    /* a baseline step with every layer timed, then the GAF variants' updates of the same gradients */
    gc_step_report r;
    GC_TRY(gc_train_step(tr[0], NULL, NULL, 1e-3f, &r));
    loss_s += r.loss_s / iters;
    opt_s[0] += r.optimizer_s / iters;
    for (int v = 1; v < 4; v++) {
      double a = 0;
      gc_timing_begin(ctx);
      GC_TRY(gc_optim_step(ctx, opt[v], 1e-3f, NULL));
      GC_TRY(gc_timing_end(ctx, &a));
      opt_s[v] += a / iters;
    }
  }
  cJSON *jp = cJSON_AddObjectToObject(jn, "profile");
  cJSON_AddNumberToObject(jp, "iterations", iters);
  cJSON_AddNumberToObject(jp, "loss_ms", loss_s * 1e3);
  cJSON *jo = cJSON_AddObjectToObject(jp, "optimizer_ms");
  const char *vn[4] = {"none", "arctan", "tanh", "log"};
  for (int v = 0; v < 4; v++) cJSON_AddNumberToObject(jo, vn[v], opt_s[v] * 1e3);
  cJSON *jl = cJSON_AddArrayToObject(jp, "layers");
  /* sums by operation and by stage for the printed summary */
  enum { MAXK = 64 };
  char keys[2][MAXK][32];
  double kf[2][MAXK], kb[2][MAXK];
  int nk[2] = {0, 0};
  double total = loss_s + opt_s[0];
  for (int i = 0; i < gc_net_nlayers(net); i++) {
    gc_layer_profile lp;
    gc_net_layer_profile(net, i, &lp);
    double f = lp.forward_s / iters, b = lp.backward_s / iters;
    total += f + b;
    cJSON *l = cJSON_CreateObject();
    cJSON_AddStringToObject(l, "op", lp.op);
    cJSON_AddStringToObject(l, "group", lp.group);
    cJSON_AddStringToObject(l, "param", lp.param);
    cJSON_AddNumberToObject(l, "forward_ms", f * 1e3);
    cJSON_AddNumberToObject(l, "backward_ms", b * 1e3);
    cJSON_AddItemToArray(jl, l);
    for (int t = 0; t < 2; t++) {
      const char *key = t ? lp.group : lp.op;
      int k = 0;
      while (k < nk[t] && strcmp(keys[t][k], key)) k++;
      if (k == nk[t]) {
        if (k == MAXK) continue;
        snprintf(keys[t][k], 32, "%s", key);
        kf[t][k] = kb[t][k] = 0;
        nk[t]++;
      }
      kf[t][k] += f;
      kb[t][k] += b;
    }
  }
  printf("  per-layer profile (%d iteration(s), each layer timed alone; shares of %.2f ms):\n", iters, total * 1e3);
  for (int t = 0; t < 2; t++) {
    printf("    %-10s", t ? "stage" : "operation");
    for (int k = 0; k < nk[t]; k++) printf(" %s %.1f%%", keys[t][k], 100.0 * (kf[t][k] + kb[t][k]) / total);
    printf("\n");
  }
  printf("    loss %.1f%%, optimizer %.1f%% (GAF arctan/tanh/log: %+.3f/%+.3f/%+.3f ms)\n", 100.0 * loss_s / total,
         100.0 * opt_s[0] / total, (opt_s[1] - opt_s[0]) * 1e3, (opt_s[2] - opt_s[0]) * 1e3, (opt_s[3] - opt_s[0]) * 1e3);
cleanup:
  gc_net_profile(net, 0);
  return st;
}

static void mean_sd(const double *v, int n, double *m, double *sd) {
  double s = 0, q = 0;
  for (int i = 0; i < n; i++) s += v[i];
  *m = s / n;
  for (int i = 0; i < n; i++) q += (v[i] - *m) * (v[i] - *m);
  *sd = n > 1 ? sqrt(q / (n - 1)) : 0.0;
}

static int bench(gc_ctx *ctx, const gafcl_cfg *c) {
  int st = 0;
  cJSON *root = cJSON_CreateObject(), *jnets = cJSON_AddArrayToObject(root, "nets");
  cJSON_AddStringToObject(root, "device", ctx->dev.name);
  cJSON_AddStringToObject(root, "platform", ctx->dev.platform);
  cJSON_AddStringToObject(root, "driver", ctx->dev.driver);
  cJSON_AddStringToObject(root, "gafcl_git_revision", GAFCL_GIT_REV);
  cJSON_AddNumberToObject(root, "batch", (double)c->batch);
  cJSON_AddNumberToObject(root, "iters_per_measurement", c->iters);
  cJSON_AddNumberToObject(root, "repeats", c->repeats);
  cJSON_AddNumberToObject(root, "epoch_iterations", (double)c->epoch_iters);
  char names[512];
  snprintf(names, sizeof names, "%s", c->nets);
  const gc_gaf_type gafs[3] = {GC_GAF_ARCTAN, GC_GAF_TANH, GC_GAF_LOG};
  printf("%-16s %-7s %10s %10s %10s %10s %12s %9s %18s\n", "network", "GAF", "fwd ms", "bwd ms", "optim ms",
         "iter ms", "epoch s", "img/s", "GAF overhead");
  for (char *save = NULL, *name = strtok_r(names, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
    gc_net *net = NULL;
    gc_optim *opt[4] = {NULL, NULL, NULL, NULL};
    float *x = NULL, *lab = NULL;
    gc_net_spec s;
    if ((st = gc_net_spec_init(&s, name, c->imagenet)) != 0) break;
    if (c->size > 0) s.in_h = s.in_w = (int)c->size;
    if (c->classes > 0) s.classes = (int)c->classes;
    st = gc_net_create(ctx, &s, (size_t)c->batch, &net);
    if (!st) st = gc_net_init(ctx, net, 1);
    size_t nx = (size_t)c->batch * 3 * (size_t)s.in_h * s.in_w;
    const gc_task_kind *kind = gc_task_for(&s);
    x = malloc(nx * sizeof *x);
    lab = malloc((size_t)c->batch * kind->target_dim * sizeof *lab);
    if (!st && (!x || !lab)) st = gc_error_set(GC_ERR_HOST_MEM, __FILE__, __LINE__, "bench buffers");
    if (!st) {
      uint64_t r = 88172645463325252ull;
      for (size_t i = 0; i < nx; i++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        x[i] = (float)((double)(r >> 11) / 9007199254740992.0 * 2.0 - 1.0);
      }
      if (kind == &gc_task_detect)
        cli_det_synthetic_targets(lab, (size_t)c->batch, s.classes);
      else
        for (long i = 0; i < c->batch; i++) lab[i] = (float)(i % s.classes);
      st = gc_tensor_write(ctx, gc_net_input(net), x, nx);
    }
    gc_task *task = NULL;
    gc_trainer *tr[4] = {NULL, NULL, NULL, NULL};
    gc_train_config tc;
    memset(&tc, 0, sizeof tc);
    tc.time_phases = 1;
    if (!st) st = gc_task_create(ctx, kind, net, &task);
    if (!st) st = gc_task_set_targets(ctx, task, lab);
    for (int v = 0; v < 4 && !st; v++) {
      gc_optim_config oc;
      gc_optim_config_default(&oc, GC_OPT_SGDM);
      oc.gaf = v ? gafs[v - 1] : GC_GAF_NONE;
      st = gc_net_optim_create(ctx, net, &oc, 5e-4f, 0, &opt[v]);
      if (!st) st = gc_trainer_create(ctx, net, task, opt[v], &tc, NULL, &tr[v]);
    }
    /* warm-up: every program built, caches warm: one whole step, then each GAF variant's update of the
     * same gradients (its own optimizer program; the rest of a step is the baseline's) */
    phase_times w;
    if (!st) st = run_iters(tr[0], 1, &w);
    for (int v = 1; v < 4 && !st; v++) {
      gc_optim_report orep;
      st = gc_optim_step(ctx, opt[v], 1e-3f, &orep);
    }
    int R = (int)c->repeats;
    phase_times *base = calloc((size_t)(3 * R), sizeof *base), *with = calloc((size_t)(3 * R), sizeof *with);
    if (!st && (!base || !with)) st = gc_error_set(GC_ERR_HOST_MEM, __FILE__, __LINE__, "bench results");
    for (int rep = 0; rep < R && !st; rep++)
      for (int g = 0; g < 3 && !st; g++) {
        st = run_iters(tr[0], (int)c->iters, &base[3 * rep + g]);
        if (!st) st = run_iters(tr[g + 1], (int)c->iters, &with[3 * rep + g]);
      }
    if (!st) {
      cJSON *jn = cJSON_CreateObject();
      cJSON_AddStringToObject(jn, "net", name);
      cJSON_AddNumberToObject(jn, "parameters", (double)gc_net_param_count(net));
      cJSON_AddNumberToObject(jn, "input_size", s.in_h);
      cJSON_AddNumberToObject(jn, "classes", s.classes);
      cJSON *jv = cJSON_AddArrayToObject(jn, "variants");
      double *tmp = malloc((size_t)R * 3 * sizeof *tmp);
      /* the baseline over all its runs */
      for (int g = -1; g < 3 && tmp; g++) {
        const char *gname = g < 0 ? "none" : gc_gaf_name(gafs[g]);
        double f, b, o, it, sd, ov = 0, ovsd = 0, optov = 0;
        int n = g < 0 ? 3 * R : R;
        phase_times *src = g < 0 ? base : with;
#define STAT(field, out)                                                                                 \
  do {                                                                                                   \
    for (int k = 0; k < n; k++) tmp[k] = src[g < 0 ? k : 3 * k + g].field;                               \
    mean_sd(tmp, n, &out, &sd);                                                                          \
  } while (0)
        STAT(fwd, f);
        STAT(bwd, b);
        STAT(opt, o);
        STAT(iter, it);
        double itsd = sd;
        if (g >= 0) { /* paired with the baseline run just before it */
          for (int k = 0; k < R; k++) tmp[k] = 100.0 * (with[3 * k + g].iter - base[3 * k + g].iter) / base[3 * k + g].iter;
          mean_sd(tmp, R, &ov, &ovsd);
          for (int k = 0; k < R; k++) tmp[k] = 100.0 * (with[3 * k + g].opt - base[3 * k + g].opt) / base[3 * k + g].iter;
          double osd;
          mean_sd(tmp, R, &optov, &osd);
        }
#undef STAT
        double epoch = it * (double)c->epoch_iters, ips = (double)c->batch / it;
        char ovs[48] = "";
        if (g >= 0) snprintf(ovs, sizeof ovs, "%+.2f%% +-%.2f", ov, ovsd);
        printf("%-16s %-7s %10.3f %10.3f %10.3f %10.3f %12.2f %9.1f %18s\n", name, gname, f * 1e3, b * 1e3, o * 1e3,
               it * 1e3, epoch, ips, ovs);
        cJSON *o1 = cJSON_CreateObject();
        cJSON_AddStringToObject(o1, "gaf", gname);
        cJSON_AddNumberToObject(o1, "forward_ms", f * 1e3);
        cJSON_AddNumberToObject(o1, "backward_ms", b * 1e3);
        cJSON_AddNumberToObject(o1, "optimizer_ms", o * 1e3);
        cJSON_AddNumberToObject(o1, "iteration_ms", it * 1e3);
        cJSON_AddNumberToObject(o1, "iteration_ms_sd", itsd * 1e3);
        cJSON_AddNumberToObject(o1, "epoch_s", epoch);
        cJSON_AddNumberToObject(o1, "images_per_s", ips);
        if (g >= 0) {
          cJSON_AddNumberToObject(o1, "overhead_pct", ov);
          cJSON_AddNumberToObject(o1, "overhead_pct_sd", ovsd);
          cJSON_AddNumberToObject(o1, "optimizer_overhead_pct_of_iteration", optov);
        }
        cJSON_AddItemToArray(jv, o1);
      }
      free(tmp);
      cJSON_AddItemToArray(jnets, jn);
      if (c->profile > 0) st = profile_net(ctx, net, tr, opt, (int)c->profile, jn);
    }
    free(base);
    free(with);
    for (int v = 0; v < 4; v++) gc_trainer_free(tr[v]), gc_optim_free(opt[v]);
    gc_task_free(task);
    gc_net_free(net);
    free(x);
    free(lab);
    if (st) gc_error_prefix(st, "bench %s: ", name);
  }
  cJSON_AddStringToObject(root, "timing", gc_timing_source_name(ctx));
  if (!st && c->out[0]) {
    char *js = cJSON_Print(root);
    FILE *f = js ? fopen(c->out, "w") : NULL;
    int bad = !f || fputs(js, f) < 0;
    if (f && fclose(f) != 0) bad = 1;
    if (bad)
      st = gc_error_set(GC_ERR_IO, __FILE__, __LINE__, "cannot write %s", c->out);
    else
      printf("results written to %s\n", c->out);
    free(js);
  }
  printf("(overhead: iteration time with the GAF vs the baseline run just before it, mean +- sd over %ld repeats; "
         "epoch = %ld iterations; times: %s)\n", c->repeats, c->epoch_iters, gc_timing_source_name(ctx));
  cJSON_Delete(root);
  return st;
}

void cmd_bench_defaults(gafcl_cfg *c) { c->batch = 32; }

int cmd_bench(gafcl_cfg *c) {
  gc_ctx *ctx = NULL;
  int st = cli_open(c, &ctx);
  if (st) return cli_fail(st, "cannot open the device");
  printf("device: %s (%s, driver %s); batch %ld, %ld iterations x %ld alternating repeats\n", ctx->dev.name,
         ctx->dev.platform, ctx->dev.driver, c->batch, c->iters, c->repeats);
  st = bench(ctx, c);
  int rc = st ? cli_fail(st, "bench failed") : 0;
  gc_ctx_free(ctx);
  return rc;
}
