/* The paper's procedure and the data of its figures:
 *   gafcl gaf-suggest  section IV-B: train the first epoch(s) of a recipe without the GAF, find the largest
 *                      gradients (they come early), propose alpha (the GAF's bound covers them) and beta
 *                      (alpha * beta > 1), print the evidence and write a configuration a run can use;
 *   gafcl landscape    Fig. 3: the loss along a filter-normalised random direction around given weights;
 *   gafcl gaf-curve    Fig. 1: the GAF (or value clipping) as gafcl's optimizer computes it, element by
 *                      element, for the equivalent loss surfaces bench/figures draws. */
#include "cli.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gc_checkpoint.h"
#include "gc_gafmath.h"
#include "gc_io.h"

static const double PI = 3.14159265358979323846;

/* ---- gafcl gaf-suggest ---- */

void cmd_gaf_suggest_defaults(gafcl_cfg *c) {
  snprintf(c->gaf, sizeof c->gaf, "arctan"); /* the GAF type to propose; the recorded epochs run without */
  snprintf(c->out, sizeof c->out, "gaf-suggest");
}

/* x rounded up to two significant digits (0.0934 -> 0.094) */
static double round_up2(double x) {
  if (!(x > 0) || !isfinite(x)) return x;
  double e = pow(10.0, floor(log10(x)) - 1.0);
  char t[32];
  snprintf(t, sizeof t, "%.2g", ceil(x / e - 1e-9) * e); /* 1.9, not 1.9000000000000001 */
  return strtod(t, NULL);
}

/* The bound of a GAF of type `gaf` for alpha: arctan alpha*pi/2, tanh alpha; log is unbounded, so its
 * alpha is the one whose GAF maps the largest gradient g to itself with alpha*beta = 2 (solved by
 * bisection: alpha*log1p(2 g / alpha) rises from 0 to 2 g as alpha grows). */
static double alpha_for(const char *gaf, double g) {
  if (!strcmp(gaf, "arctan")) return g / (PI / 2.0);
  if (!strcmp(gaf, "tanh")) return g;
  double lo = 0, hi = 1e6 * g;
  for (int i = 0; i < 200; i++) {
    double mid = 0.5 * (lo + hi);
    if (mid * log1p(2.0 * g / mid) < g) lo = mid;
    else hi = mid;
  }
  return hi;
}

static long g_skipped; /* steps of the recording with NaN/Inf gradients (read_grads) */

typedef struct grad_step {
  long step, epoch;
  double max, norm;
  int param; /* index in params.json, -1 unknown */
} grad_step;

/* The recorded steps of DIR/steps.jsonl up to `epochs` (the run "none") and the largest |g| per
 * parameter over them (DIR/params.json names them). */
static int read_grads(const char *dir, long epochs, grad_step **out, long *n, char ***names, double **pmax, int *np) {
  int st = 0;
  char path[1100];
  char *text = NULL, *line = NULL;
  size_t cap = 0;
  FILE *f = NULL;
  cJSON *pj = NULL;
  *out = NULL, *n = 0, *names = NULL, *pmax = NULL, *np = 0;
  snprintf(path, sizeof path, "%s/params.json", dir);
  size_t len = 0;
  GC_TRY(gc_file_read(path, "the run's parameter list", 64u << 20, (unsigned char **)&text, &len));
  pj = cJSON_ParseWithLength(text, len);
  if (!cJSON_IsArray(pj)) GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: not a JSON array of parameters", path);
  *np = cJSON_GetArraySize(pj);
  *names = calloc((size_t)(*np ? *np : 1), sizeof **names);
  *pmax = calloc((size_t)(*np ? *np : 1), sizeof **pmax);
  if (!*names || !*pmax) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "parameter names");
  for (int i = 0; i < *np; i++) {
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(pj, i), "name");
    (*names)[i] = strdup(cJSON_IsString(nm) ? nm->valuestring : "?");
    if (!(*names)[i]) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "parameter names");
  }
  snprintf(path, sizeof path, "%s/steps.jsonl", dir);
  f = fopen(path, "r");
  if (!f) GC_FAIL_GOTO(GC_ERR_IO, "cannot read %s: %s", path, strerror(errno));
  long capn = 0;
  ssize_t got;
  while ((got = getline(&line, &cap, f)) > 0) {
    cJSON *o = cJSON_ParseWithLength(line, (size_t)got);
    const cJSON *ep = cJSON_GetObjectItemCaseSensitive(o, "epoch"), *mx = cJSON_GetObjectItemCaseSensitive(o, "grad_max");
    const cJSON *run = cJSON_GetObjectItemCaseSensitive(o, "run"), *sk = cJSON_GetObjectItemCaseSensitive(o, "skipped");
    if (cJSON_IsNumber(ep) && ep->valuedouble <= (double)epochs && cJSON_IsNumber(sk) && sk->valuedouble != 0 &&
        cJSON_IsString(run) && !strcmp(run->valuestring, "none"))
      g_skipped++;
    if (!o || !cJSON_IsNumber(ep) || ep->valuedouble > (double)epochs || !cJSON_IsNumber(mx) ||
        !cJSON_IsString(run) || strcmp(run->valuestring, "none")) {
      cJSON_Delete(o); /* a skipped step (null statistics) or another run's line */
      continue;
    }
    if (*n == capn) {
      capn = capn ? 2 * capn : 1024;
      grad_step *g = realloc(*out, (size_t)capn * sizeof *g);
      if (!g) {
        cJSON_Delete(o);
        GC_FAIL_GOTO(GC_ERR_HOST_MEM, "gradient statistics of %ld steps", capn);
      }
      *out = g;
    }
    grad_step *s = &(*out)[(*n)++];
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(o, "step"), *nr = cJSON_GetObjectItemCaseSensitive(o, "grad_norm");
    const cJSON *wh = cJSON_GetObjectItemCaseSensitive(o, "grad_max_param");
    const cJSON *per = cJSON_GetObjectItemCaseSensitive(o, "grad_max_per_param");
    s->step = cJSON_IsNumber(sp) ? (long)sp->valuedouble : *n;
    s->epoch = (long)ep->valuedouble;
    s->max = mx->valuedouble;
    s->norm = cJSON_IsNumber(nr) ? nr->valuedouble : NAN;
    s->param = -1;
    for (int i = 0; cJSON_IsString(wh) && i < *np; i++)
      if (!strcmp((*names)[i], wh->valuestring)) s->param = i;
    for (int i = 0; cJSON_IsArray(per) && i < *np && i < cJSON_GetArraySize(per); i++) {
      const cJSON *v = cJSON_GetArrayItem(per, i);
      if (cJSON_IsNumber(v) && v->valuedouble > (*pmax)[i]) (*pmax)[i] = v->valuedouble;
    }
    cJSON_Delete(o);
  }
  if (*n == 0 && g_skipped == 0)
    GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: no step with gradient statistics in the first %ld epoch(s)", path, epochs);
cleanup:
  if (f) fclose(f);
  free(line);
  free(text);
  cJSON_Delete(pj);
  return st;
}

int cmd_gaf_suggest(gafcl_cfg *c) {
  if (!strcmp(c->gaf, "none")) {
    fprintf(stderr, "gafcl gaf-suggest: --gaf names the type to propose: arctan, tanh or log\n");
    return 2;
  }
  if (!c->out[0]) {
    fprintf(stderr, "gafcl gaf-suggest: --out DIR is needed (the recording's run folder)\n");
    return 2;
  }
  if (c->iterations > 0) {
    fprintf(stderr, "gafcl gaf-suggest: give the recipe's length as --epochs (--iterations counts steps; "
                    "--suggest-epochs counts epochs of the recipe)\n");
    return 2;
  }
  if (c->suggest_epochs > c->epochs) {
    fprintf(stderr, "gafcl gaf-suggest: --suggest-epochs %ld is more than the recipe's --epochs %ld\n", c->suggest_epochs,
            c->epochs);
    return 2;
  }
  gc_ctx *ctx;
  int st = cli_start_run(c, CMD_GAF_SUGGEST, "gaf-suggest", &ctx);
  if (st) return st;
  /* the recipe's first epochs, without the GAF and without clipping (the same schedule as the full run) */
  /* an earlier suggestion in the folder would not match the new recording: gone before it starts */
  char path[1100];
  const char *outs[2] = {"gaf-suggest.json", "gaf-config.json"};
  for (int i = 0; i < 2; i++) {
    snprintf(path, sizeof path, "%s/%s", c->out, outs[i]);
    if (unlink(path) != 0 && errno != ENOENT) {
      fprintf(stderr, "gafcl gaf-suggest: cannot remove the earlier %s: %s\n", path, strerror(errno));
      gc_ctx_free(ctx);
      return 1;
    }
  }
  gafcl_cfg run = *c;
  snprintf(run.gaf, sizeof run.gaf, "none");
  snprintf(run.clip, sizeof run.clip, "none");
  run.stop_after = c->suggest_epochs;
  cli_logs logs = {&run, CMD_TRAIN, 0, NULL, NULL};
  run_outcome r;
  printf("recording the gradients of the first %ld epoch(s) of %ld without the GAF into %s\n", c->suggest_epochs,
         c->epochs, c->out);
  st = cli_run_training(ctx, &run, "none", &logs, NULL, 0, &r);
  cli_logs_close(&logs);
  gc_ctx_free(ctx);
  int diverged = st == GC_ERR_NUMERIC;
  if (diverged) {
    /* a recipe that diverges without the GAF: its recorded steps are the evidence the GAF is for */
    fprintf(stderr, "gafcl gaf-suggest: the recording run stopped: %s\n(the steps recorded before it are analysed)\n",
            gc_last_error());
    gc_clear_error();
  } else if (st) {
    return cli_fail(st, "gaf-suggest: the recording run failed");
  }

  grad_step *gs = NULL;
  char **names = NULL;
  double *pmax = NULL;
  long n = 0;
  int np = 0;
  char *cfgjs = NULL, *outjs = NULL;
  cJSON *doc = NULL, *cfg = NULL;
  g_skipped = 0;
  st = read_grads(c->out, c->suggest_epochs, &gs, &n, &names, &pmax, &np);
  if (st) goto done;
  if (n == 0) { /* every recorded step went to NaN/Inf: no finite gradient to show */
    printf("\nevery recorded step (%ld) had NaN/Inf gradients: the recording diverged from its first step;\n"
           "proposed: the paper's first pair\n  --gaf %s --gaf-alpha 0.1 --gaf-beta 20\n", g_skipped, c->gaf);
    gafcl_cfg full = *c;
    full.gaf_alpha = 0.1, full.gaf_beta = 20;
    full.out[0] = '\0';
    cfgjs = cli_cfg_json(&full, CMD_TRAIN, 1);
    char p2[1100];
    snprintf(p2, sizeof p2, "%s/gaf-config.json", c->out);
    if (!cfgjs) st = gc_error_set(GC_ERR_HOST_MEM, __FILE__, __LINE__, "the configuration");
    else if (gc_write_file_atomic(p2, cfgjs, strlen(cfgjs)) != 0)
      st = gc_error_set(GC_ERR_IO, __FILE__, __LINE__, "cannot write %s: %s", p2, strerror(errno));
    else printf("\nwritten: %s (train with: gafcl train --config %s)\n", p2, p2);
    goto done;
  }
  /* the largest gradient and where; when in the recorded steps it came */
  long at = 0;
  for (long i = 1; i < n; i++)
    if (gs[i].max > gs[at].max) at = i;
  const double G = gs[at].max;
  long early = n / 10 > 0 ? n / 10 : 1;
  double max_early = 0, max_late = 0;
  for (long i = 0; i < n; i++) {
    if (i < early) max_early = fmax(max_early, gs[i].max);
    if (i >= n / 2) max_late = fmax(max_late, gs[i].max);
  }
  if (!(G > 0) || !isfinite(G)) {
    st = gc_error_set(GC_ERR_NUMERIC, __FILE__, __LINE__, "the largest recorded gradient is %g: nothing to bound", G);
    goto done;
  }
  double alpha = round_up2(alpha_for(c->gaf, G));
  double beta = round_up2(2.0 / alpha);
  diverged = diverged || g_skipped > 0;
  double bound = !strcmp(c->gaf, "arctan") ? alpha * PI / 2.0 : !strcmp(c->gaf, "tanh") ? alpha : NAN;

  printf("\ngradients of %ld steps (epochs 1-%ld), before any clipping or GAF:\n", n, c->suggest_epochs);
  printf("  largest |g| %.6g at step %ld (epoch %ld), in %s\n", G, gs[at].step, gs[at].epoch,
         gs[at].param >= 0 ? names[gs[at].param] : "?");
  printf("  largest |g| in the first %ld steps %.6g, in the second half %.6g%s\n", early, max_early, max_late,
         max_early >= max_late ? " (the largest come early, as the paper observes)" : "");
  if (g_skipped) printf("  %ld step(s) had NaN/Inf gradients (skipped; not in these figures)\n", g_skipped);
  printf("  the parameters with the largest |g|:\n");
  int *ord = malloc((size_t)(np ? np : 1) * sizeof *ord);
  if (!ord) {
    st = gc_error_set(GC_ERR_HOST_MEM, __FILE__, __LINE__, "ordering");
    goto done;
  }
  for (int i = 0; i < np; i++) ord[i] = i;
  for (int i = 0; i < np && i < 5; i++) /* the five largest, by selection */
    for (int j = i + 1; j < np; j++)
      if (pmax[ord[j]] > pmax[ord[i]]) {
        int t = ord[i];
        ord[i] = ord[j], ord[j] = t;
      }
  for (int i = 0; i < np && i < 5; i++) printf("    %-40s %.6g\n", names[ord[i]], pmax[ord[i]]);
  if (diverged) {
    /* the gradients of a run going to NaN/Inf bound nothing useful: the paper's first pair instead */
    alpha = 0.1, beta = 20.0;
    bound = !strcmp(c->gaf, "arctan") ? alpha * PI / 2.0 : !strcmp(c->gaf, "tanh") ? alpha : NAN;
    printf("\nthe recording diverged (NaN/Inf gradients): its largest gradients are no guide to alpha;\n"
           "proposed: the paper's first pair, which bounds every update by lr x %.4g%s\n", isfinite(bound) ? bound : alpha,
           isfinite(bound) ? "" : " x log1p(beta |g|)");
  } else {
    printf("\nproposed (section IV-B: alpha bounds the largest gradient, alpha * beta > 1):\n");
  }
  if (diverged)
    printf("  --gaf %s --gaf-alpha %g --gaf-beta %g   (slope at 0 alpha*beta = %.3g)\n", c->gaf, alpha, beta, alpha * beta);
  else if (isfinite(bound))
    printf("  --gaf %s --gaf-alpha %g --gaf-beta %g   (bound %.4g >= %.4g, slope at 0 alpha*beta = %.3g)\n", c->gaf, alpha,
           beta, bound, G, alpha * beta);
  else
    printf("  --gaf %s --gaf-alpha %g --gaf-beta %g   (log maps %.4g to %.4g, slope at 0 alpha*beta = %.3g)\n", c->gaf,
           alpha, beta, G, alpha * log1p(beta * G), alpha * beta);
  printf("  else the paper's pairs: (0.1, 20) and (0.2, 10)\n");

  /* the configuration of the full run (the recipe with the proposed GAF) and the evidence */
  gafcl_cfg full = *c;
  snprintf(full.gaf, sizeof full.gaf, "%s", c->gaf);
  full.gaf_alpha = alpha, full.gaf_beta = beta;
  full.out[0] = '\0';
  cfgjs = cli_cfg_json(&full, CMD_TRAIN, 1);
  cfg = cfgjs ? cJSON_Parse(cfgjs) : NULL;
  doc = cJSON_CreateObject();
  cJSON *ev = cJSON_CreateObject(), *top = cJSON_CreateArray(), *alt = cJSON_CreateArray();
  if (!cfg || !doc || !ev || !top || !alt) {
    cJSON_Delete(ev), cJSON_Delete(top), cJSON_Delete(alt);
    st = gc_error_set(GC_ERR_HOST_MEM, __FILE__, __LINE__, "the suggestion");
    free(ord);
    goto done;
  }
  cJSON_AddStringToObject(doc, "gaf", c->gaf);
  cJSON_AddNumberToObject(doc, "gaf_alpha", alpha);
  cJSON_AddNumberToObject(doc, "gaf_beta", beta);
  cJSON_AddItemToObject(doc, "evidence", ev);
  cJSON_AddNumberToObject(ev, "steps", (double)n);
  cJSON_AddNumberToObject(ev, "epochs", (double)c->suggest_epochs);
  cJSON_AddNumberToObject(ev, "grad_max", G);
  cJSON_AddNumberToObject(ev, "grad_max_step", (double)gs[at].step);
  cJSON_AddStringToObject(ev, "grad_max_param", gs[at].param >= 0 ? names[gs[at].param] : "?");
  cJSON_AddNumberToObject(ev, "grad_max_first_tenth", max_early);
  cJSON_AddNumberToObject(ev, "grad_max_second_half", max_late);
  cJSON_AddNumberToObject(ev, "nonfinite_steps", (double)g_skipped);
  cJSON_AddBoolToObject(ev, "diverged", diverged);
  cJSON_AddItemToObject(ev, "largest_params", top);
  for (int i = 0; i < np && i < 5; i++) {
    cJSON *o = cJSON_CreateObject();
    if (!o) break;
    cJSON_AddStringToObject(o, "name", names[ord[i]]);
    cJSON_AddNumberToObject(o, "grad_max", pmax[ord[i]]);
    cJSON_AddItemToArray(top, o);
  }
  free(ord);
  cJSON_AddItemToObject(doc, "alternatives", alt);
  cJSON_AddItemToArray(alt, cJSON_CreateString("(0.1, 20)"));
  cJSON_AddItemToArray(alt, cJSON_CreateString("(0.2, 10)"));
  cJSON_AddItemToObject(doc, "config", cfg);
  cfg = NULL;
  outjs = cJSON_Print(doc);
  if (!outjs) {
    st = gc_error_set(GC_ERR_HOST_MEM, __FILE__, __LINE__, "the suggestion");
    goto done;
  }
  snprintf(path, sizeof path, "%s/gaf-suggest.json", c->out);
  if (gc_write_file_atomic(path, outjs, strlen(outjs)) != 0) {
    st = gc_error_set(GC_ERR_IO, __FILE__, __LINE__, "cannot write %s: %s", path, strerror(errno));
    goto done;
  }
  snprintf(path, sizeof path, "%s/gaf-config.json", c->out);
  if (gc_write_file_atomic(path, cfgjs, strlen(cfgjs)) != 0) {
    st = gc_error_set(GC_ERR_IO, __FILE__, __LINE__, "cannot write %s: %s", path, strerror(errno));
    goto done;
  }
  printf("\nwritten: %s/gaf-suggest.json (the evidence) and %s (train with: gafcl train --config %s)\n", c->out, path, path);
done:
  for (int i = 0; names && i < np; i++) free(names[i]);
  free(names);
  free(pmax);
  free(gs);
  free(cfgjs);
  if (outjs) cJSON_free(outjs);
  cJSON_Delete(cfg);
  cJSON_Delete(doc);
  return st ? cli_fail(st, "gaf-suggest") : 0;
}

/* ---- JSON-lines output: stdout or --out FILE ---- */

/* A regular file (or a new one) is written as FILE.tmp.PID and renamed over FILE once complete, so a kill
 * leaves the old file (and the next run removes the stale temporary); anything else (a FIFO, a device, a
 * symbolic link: what it names) is written in place. */
typedef struct out_file {
  FILE *f;
  const char *path; /* "stdout" for stdout */
  char tmp[1100];   /* "" when written in place */
} out_file;

static int out_open(out_file *o, const char *path) {
  memset(o, 0, sizeof *o);
  o->path = path[0] ? path : "stdout";
  if (!path[0]) {
    o->f = stdout;
    return GC_OK;
  }
  struct stat sb;
  if (lstat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
    if (S_ISDIR(sb.st_mode)) GC_FAIL(GC_ERR_ARG, "--out %s is a folder", path);
    if (!(o->f = fopen(path, "w"))) GC_FAIL(GC_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    return GC_OK;
  }
  gc_remove_stale_tmp(path);
  snprintf(o->tmp, sizeof o->tmp, "%s.tmp.%ld", path, (long)getpid());
  if (!(o->f = fopen(o->tmp, "w"))) {
    int e = errno;
    o->tmp[0] = '\0';
    GC_FAIL(GC_ERR_IO, "cannot write %s: %s", path, strerror(e));
  }
  return GC_OK;
}

/* Finish the output (ok: everything was written; else drop the temporary file). */
static int out_close(out_file *o, int ok) {
  if (!o->f) return GC_OK;
  int bad = fflush(o->f) != 0 || ferror(o->f), e = errno;
  if (o->f == stdout) {
    o->f = NULL;
    if (ok && bad) GC_FAIL(GC_ERR_IO, "cannot write to stdout: %s", strerror(e));
    return GC_OK;
  }
  if (!bad && ok && o->tmp[0] && fsync(fileno(o->f)) != 0) bad = 1, e = errno;
  if (fclose(o->f) != 0 && !bad) bad = 1, e = errno;
  o->f = NULL;
  if (o->tmp[0]) {
    if (ok && !bad && rename(o->tmp, o->path) != 0) bad = 1, e = errno;
    if (!ok || bad) unlink(o->tmp);
    o->tmp[0] = '\0';
  }
  if (ok && bad) GC_FAIL(GC_ERR_IO, "cannot write %s: %s", o->path, strerror(e));
  return GC_OK;
}

/* ---- gafcl gaf-curve ---- */

int cmd_gaf_curve(gafcl_cfg *c) {
  gc_gaf_type t;
  if (gc_gaf_parse(c->gaf, &t) != GC_OK) return cli_fail(GC_ERR_ARG, "gaf-curve");
  int value_clip = !strcmp(c->clip, "value");
  if (!strcmp(c->clip, "norm")) {
    fprintf(stderr, "gafcl gaf-curve: norm clipping is not element-wise (it scales the whole gradient by "
                    "min(1, threshold / ||g||)); --clip value or a --gaf\n");
    return 2;
  }
  if (value_clip && t != GC_GAF_NONE) {
    fprintf(stderr, "gafcl gaf-curve: --clip value draws the clamp alone; leave --gaf none (the optimizer clips "
                    "before the GAF, gaf-curve shows one function at a time)\n");
    return 2;
  }
  out_file o;
  int st = out_open(&o, c->out);
  if (st) return cli_fail(st, "gaf-curve");
  /* what the optimizer applies to one gradient element: gafmath.cl's GAF (compiled as C), or the clamp */
  for (long i = 0; i < c->points; i++) {
    double g = c->range * (double)(2 * i - (c->points - 1)) / (double)(c->points - 1);
    float v = value_clip ? fmaxf(-(float)c->clip_threshold, fminf((float)c->clip_threshold, (float)g))
                         : gc_ref_gaf((int)t, (float)c->gaf_alpha, (float)c->gaf_beta, (float)g);
    if (fprintf(o.f, "{\"kind\":\"%s\",\"alpha\":%.9g,\"beta\":%.9g,\"threshold\":%.9g,\"g\":%.9g,\"value\":%.9g}\n",
                value_clip ? "value-clip" : c->gaf, value_clip ? 0.0 : c->gaf_alpha, value_clip ? 0.0 : c->gaf_beta,
                value_clip ? c->clip_threshold : 0.0, (double)(float)g, (double)v) < 0)
      break; /* out_close reports the error */
  }
  st = out_close(&o, 1);
  return st ? cli_fail(st, "gaf-curve") : 0;
}

/* ---- gafcl landscape ---- */

/* splitmix64: the direction's stream, seeded by --seed */
static uint64_t mix(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
static double gauss(uint64_t *s) {
  double u1 = ((double)(mix(s) >> 11) + 0.5) / 9007199254740992.0, u2 = (double)(mix(s) >> 11) / 9007199254740992.0;
  return sqrt(-2.0 * log(u1)) * cos(2.0 * PI * u2);
}

/* loss and metrics of the whole (sub)set in inference mode */
static int evaluate(gc_ctx *ctx, gc_net *net, gc_task *task, gc_loader *l, gc_metrics *m) {
  int st = 0, got;
  const float *img, *tgt;
  size_t real;
  gc_task_reset(task);
  GC_TRY(gc_loader_start_epoch(l, 0));
  while ((got = gc_loader_next(l, &img, &tgt, &real)) > 0) {
    double loss;
    GC_TRY(gc_tensor_write(ctx, gc_net_input(net), img, gc_tensor_numel(gc_net_input(net))));
    GC_TRY(gc_task_set_targets(ctx, task, tgt));
    GC_TRY(gc_net_forward(ctx, net, 0));
    GC_TRY(gc_task_loss(ctx, task, 0, real, &loss));
  }
  if (got < 0) st = GC_ERR_FORMAT;
  else gc_task_metrics(task, 0, m);
cleanup:
  return st;
}

int cmd_landscape(gafcl_cfg *c) {
  if (!c->weights[0]) {
    fprintf(stderr, "gafcl landscape: --weights W.safetensors is needed (a run's model.safetensors)\n");
    return 2;
  }
  gc_ctx *ctx = NULL;
  int st = cli_open(c, &ctx);
  if (st) return cli_fail(st, "cannot open the device");
  gc_dataset d = {0};
  gc_net *net = NULL;
  gc_task *task = NULL;
  gc_loader *l = NULL;
  float **w0 = NULL, **dir = NULL, *buf = NULL;
  out_file out = {0};
  int np = 0;
  GC_TRY(cli_load_data(c, 1, &d));
  if (c->subset > 0) gc_data_truncate(&d, (size_t)c->subset);
  gc_net_spec spec;
  GC_TRY(gc_net_spec_init(&spec, c->net, c->imagenet));
  spec.in_ch = d.c, spec.in_h = d.h, spec.in_w = d.w;
  spec.classes = d.det ? d.classes + 1 : d.classes;
  size_t batch = (size_t)c->batch < d.n ? (size_t)c->batch : d.n;
  GC_TRY(gc_net_create(ctx, &spec, batch, &net));
  GC_TRY(gc_net_init(ctx, net, c->seed));
  GC_TRY(gc_ckpt_load_model(ctx, net, c->weights, 1, NULL));
  GC_TRY(gc_task_create(ctx, gc_task_for(&spec), net, &task));
  gc_augment none = {0, 0, 1};
  GC_TRY(gc_loader_create(&d, batch, 0, &none, c->seed, 4, &l));
  /* the direction: Gaussian, then per filter (each output channel's weights of a convolution or a linear
   * layer) scaled to the norm of that filter's weights; zero for 1-D parameters (biases, batch norm), as
   * in Li et al.'s filter normalisation with its biases and batch norm left out */
  np = gc_net_nparams(net);
  w0 = calloc((size_t)np, sizeof *w0);
  dir = calloc((size_t)np, sizeof *dir);
  if (!w0 || !dir) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "the direction");
  uint64_t rs = c->seed * 0x9e3779b97f4a7c15ull + 0x6c616e64ull;
  size_t most = 0;
  for (int i = 0; i < np; i++) {
    const gc_param *p = gc_net_param(net, i);
    size_t n = gc_tensor_numel(&p->w), rows = p->ndim >= 2 ? p->dims[0] : 0, per = rows ? n / rows : 0;
    most = n > most ? n : most;
    w0[i] = malloc(n * sizeof(float));
    dir[i] = calloc(n, sizeof(float));
    if (!w0[i] || !dir[i]) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "the direction of %s", p->name);
    GC_TRY(gc_tensor_read(ctx, &p->w, w0[i], n));
    for (size_t r = 0; r < rows; r++) {
      double dn = 0, wn = 0;
      float *dr = dir[i] + r * per;
      const float *wr = w0[i] + r * per;
      for (size_t k = 0; k < per; k++) {
        dr[k] = (float)gauss(&rs);
        dn += (double)dr[k] * dr[k];
        wn += (double)wr[k] * wr[k];
      }
      double s = dn > 0 ? sqrt(wn) / sqrt(dn) : 0.0;
      for (size_t k = 0; k < per; k++) dr[k] = (float)(dr[k] * s);
    }
  }
  buf = malloc((most ? most : 1) * sizeof *buf);
  if (!buf) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "weights");
  GC_TRY(out_open(&out, c->out));
  fprintf(stderr, "landscape of %s around %s: %zu images, %ld points in [-%g, %g], direction seed %llu\n", c->net,
          c->weights, d.n, c->points, c->range, c->range, (unsigned long long)c->seed);
  for (long k = 0; k < c->points; k++) {
    double a = c->range * (double)(2 * k - (c->points - 1)) / (double)(c->points - 1);
    for (int i = 0; i < np; i++) {
      const gc_param *p = gc_net_param(net, i);
      size_t n = gc_tensor_numel(&p->w);
      for (size_t e = 0; e < n; e++) buf[e] = (float)((double)w0[i][e] + a * (double)dir[i][e]);
      GC_TRY(gc_tensor_write(ctx, &p->w, buf, n));
    }
    gc_metrics m;
    GC_TRY(evaluate(ctx, net, task, l, &m));
    cJSON *o = cJSON_CreateObject();
    if (!o) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "a result line");
    cJSON_AddStringToObject(o, "net", c->net);
    cJSON_AddStringToObject(o, "weights", c->weights);
    cJSON_AddNumberToObject(o, "seed", (double)c->seed);
    cJSON_AddNumberToObject(o, "images", (double)d.n);
    cJSON_AddNumberToObject(o, "alpha", a);
    for (int i = 0; i < m.n; i++) /* NaN and Inf (a diverged point) are written as null */
      if (isfinite(m.v[i])) cJSON_AddNumberToObject(o, m.def[i].key, m.v[i]);
      else cJSON_AddNullToObject(o, m.def[i].key);
    char *line = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!line) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "a result line");
    int bad = fprintf(out.f, "%s\n", line) < 0 || fflush(out.f) != 0;
    cJSON_free(line);
    if (bad) GC_FAIL_GOTO(GC_ERR_IO, "cannot write %s: %s", out.path, strerror(errno));
    fprintf(stderr, "  %ld/%ld alpha %+.3f: loss %.5f\n", k + 1, c->points, a, m.v[0]);
  }
  GC_TRY(out_close(&out, 1));
cleanup:
  out_close(&out, 0); /* after a failure: the temporary file goes, an earlier result stays */
  for (int i = 0; w0 && i < np; i++) free(w0[i]);
  for (int i = 0; dir && i < np; i++) free(dir[i]);
  free(w0), free(dir), free(buf);
  gc_loader_free(l);
  gc_task_free(task);
  gc_net_free(net);
  gc_data_free(&d);
  gc_ctx_free(ctx);
  return st ? cli_fail(st, "landscape") : 0;
}
