/* gafcl reproduce: the recipes of the paper's tables (Liu et al., "Activated Gradients for Deep Neural
 * Networks": Table I on ImageNet-style folders, Tables II and III on CIFAR, Table IV SSD300 on Pascal
 * VOC), every variant with and without the GAF (Table I: and the clipping baselines) over several seeds,
 * with the paper's number beside each result. Where the paper is silent the official code decides (the
 * warm-up epochs, the scheduler); README "Reproducing the paper" lists the choices. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct variant {
  const char *gaf;
  double alpha, beta;
  const char *clip; /* NULL, "value" or "norm" (Table I's baselines, at --clip-threshold) */
} variant;

/* Table I (ImageNet, SGD-momentum, GAF on the momentum; final-epoch top-1): w/o, arctan (0.1, 20),
 * arctan (0.2, 10), value clipping, norm clipping. REFERENCE section 3 holds the GAF rows only. */
static const variant t1v[5] = {{"none", 0, 0, NULL}, {"arctan", 0.1, 20, NULL}, {"arctan", 0.2, 10, NULL},
                               {"none", 0, 0, "value"}, {"none", 0, 0, "norm"}};
static const struct {
  const char *net;
  double acc[3];
} t1[] = {{"resnet18", {69.67, 70.71, 70.41}},    {"resnet34", {73.03, 73.64, 73.49}},
          {"resnet50", {75.22, 75.91, 76.02}},    {"se_resnet18", {70.63, 71.15, 71.54}},
          {"se_resnet34", {72.75, 73.64, 73.74}}, {"se_resnet50", {75.57, 76.32, 76.30}}};

/* Table II (CIFAR-100, SGD-momentum, GAF on the momentum): w/o, tanh, tanh, log, log, arctan, arctan */
static const variant t2v[7] = {{"none", 0, 0, NULL},   {"tanh", 0.1, 20, NULL},   {"tanh", 0.2, 10, NULL},
                               {"log", 0.1, 20, NULL},  {"log", 0.2, 10, NULL},    {"arctan", 0.1, 20, NULL},
                               {"arctan", 0.2, 10, NULL}};
static const struct {
  const char *net;
  double acc[7];
} t2[] = {{"densenet_cifar", {76.22, 76.74, 77.30, 76.90, 76.72, 76.90, 76.91}},
          {"densenet169", {79.99, 80.71, 80.29, 80.70, 80.40, 80.37, 79.77}},
          {"resnet50", {79.54, 80.43, 80.11, 80.58, 80.49, 79.73, 79.90}},
          {"dpn26", {79.05, 79.97, 79.90, 79.63, 79.76, 79.50, 79.26}},
          {"googlenet", {79.78, 80.35, 80.56, 80.18, 80.43, 80.25, 80.26}},
          {"regnetx_200mf", {78.10, 78.52, 78.48, 78.71, 78.53, 78.26, 78.14}}};
/* Table III (Adam, arctan): w/o, (0.1, 20), (0.2, 10); CIFAR-10 then CIFAR-100 */
static const variant t3v[3] = {{"none", 0, 0, NULL}, {"arctan", 0.1, 20, NULL}, {"arctan", 0.2, 10, NULL}};
static const struct {
  const char *net;
  double c10[3], c100[3];
} t3[] = {{"resnet34", {94.14, 94.36, 94.44}, {74.57, 75.07, 75.06}},
          {"preact_resnet34", {93.63, 93.97, 93.96}, {73.48, 73.75, 73.69}},
          {"resnet50", {93.74, 94.41, 94.42}, {75.01, 75.34, 75.69}},
          {"preact_resnet50", {94.06, 94.15, 94.40}, {73.73, 74.82, 74.71}}};

/* Table IV (SSD300, VOC2007 test mAP): w/o, arctan (0.1, 20), arctan (0.2, 10). REFERENCE section 2 keeps
 * only the mAP of each row. */
static const double t4[3] = {77.71, 78.01, 78.21};

static double paper(int table, const char *net, const char *data, int v) {
  (void)data;
  if (table == 1) {
    for (size_t i = 0; i < sizeof t1 / sizeof *t1; i++)
      if (!strcmp(t1[i].net, net) && v < 3) return t1[i].acc[v];
    return NAN;
  }
  if (table == 4) return !strcmp(net, "ssd300") && !strcmp(data, "voc") ? t4[v] : NAN;
  if (table == 2 && !strcmp(data, "cifar100"))
    for (size_t i = 0; i < sizeof t2 / sizeof *t2; i++)
      if (!strcmp(t2[i].net, net)) return t2[i].acc[v];
  if (table == 3)
    for (size_t i = 0; i < sizeof t3 / sizeof *t3; i++)
      if (!strcmp(t3[i].net, net)) {
        if (!strcmp(data, "cifar10")) return t3[i].c10[v];
        if (!strcmp(data, "cifar100")) return t3[i].c100[v];
      }
  return NAN;
}

/* The CIFAR recipe of the paper's code: SGD-momentum, lr 0.1 (Table II); Adam, lr 1e-3 (Table III);
 * batch 256, weight decay 5e-4, cosine over 200 epochs. */
void cmd_reproduce_recipe(gafcl_cfg *c, long table) {
  if (table == 4) {
    cmd_detection_recipe(c);
    snprintf(c->net, sizeof c->net, "ssd300");
    return;
  }
  if (table == 1) {
    /* the paper's text (batch 64, lr 0.1; the official scripts scale both on 8 GPUs) and the official
     * code: 5 warm-up epochs, then the cosine over the remaining 145; no weight decay on batch-norm
     * parameters and biases; random-resized crop 224 + flip, validation resize 256 + centre crop 224 */
    snprintf(c->data, sizeof c->data, "folder");
    snprintf(c->net, sizeof c->net, "resnet18");
    c->imagenet = 1;
    c->epochs = 150;
    c->batch = 64;
    c->lr = 0.1;
    snprintf(c->optimizer, sizeof c->optimizer, "sgdm");
    c->momentum = 0.9;
    c->weight_decay = 4e-5;
    c->no_wd_bn_bias = 1;
    snprintf(c->schedule, sizeof c->schedule, "warmup-cosine");
    c->warmup_epochs = 5;
    snprintf(c->gaf_pos, sizeof c->gaf_pos, "momentum");
    return;
  }
  c->warmup_epochs = 1; /* the official CIFAR scripts' default (--warm 1) */
  snprintf(c->last_batch, sizeof c->last_batch, "keep"); /* their loaders keep it: 196 steps at batch 256 */
  snprintf(c->data, sizeof c->data, "%s", table == 2 ? "cifar100" : "cifar10");
  snprintf(c->net, sizeof c->net, "%s", table == 2 ? "densenet_cifar" : "resnet34");
  c->epochs = 200;
  c->batch = 256;
  c->lr = table == 2 ? 0.1 : 1e-3;
  snprintf(c->optimizer, sizeof c->optimizer, "%s", table == 2 ? "sgdm" : "adam");
  c->weight_decay = 5e-4;
  snprintf(c->gaf_pos, sizeof c->gaf_pos, "%s", table == 2 ? "momentum" : "grad");
}

/* "arctan(0.1,20)", "none", "value clip 0.1" */
static void variant_name(const variant *v, double threshold, char *out, size_t cap) {
  if (v->clip) snprintf(out, cap, "%s clip %g", v->clip, threshold);
  else if (v->alpha > 0) snprintf(out, cap, "%s(%g,%g)", v->gaf, v->alpha, v->beta);
  else snprintf(out, cap, "%s", v->gaf);
}

/* Table I: final-epoch top-1 and top-5 (as the paper reports), mean and standard deviation over seeds */
static void print_table1(const gafcl_cfg *base, const double *fin, const double *fin5, int nv, int seeds) {
  printf("\nTable I (ImageNet-style folders, SGD-momentum, GAF on the momentum), %s on %s, %ld epochs, %d seed(s), "
         "final-epoch accuracy as the paper reports:\n", base->net, base->data, base->epochs, seeds);
  printf("%-18s %16s %16s %10s\n", "variant", "final top-1 %", "final top-5 %", "paper %");
  for (int v = 0; v < nv; v++) {
    double m1 = 0, m5 = 0, q = 0;
    for (int s = 0; s < seeds; s++) m1 += fin[v * seeds + s] / seeds, m5 += fin5[v * seeds + s] / seeds;
    for (int s = 0; s < seeds; s++) q += (fin[v * seeds + s] - m1) * (fin[v * seeds + s] - m1);
    double sd = seeds > 1 ? sqrt(q / (seeds - 1)) : 0.0, p = paper(1, base->net, base->data, v);
    char name[48], ps[16];
    variant_name(&t1v[v], base->clip_threshold, name, sizeof name);
    snprintf(ps, sizeof ps, isnan(p) ? "-" : "%.2f", p);
    printf("%-18s %10.2f +-%4.2f %16.2f %10s\n", name, m1, sd, m5, ps);
  }
  printf("(paper: Liu et al., Table I, top-1 after 150 epochs on ImageNet; '-' where the reference has no value. "
         "Clipping at --clip-threshold: 0.1 as the paper's text, 0.157 = alpha*pi/2 as the official code.)\n");
}

int cmd_reproduce(gafcl_cfg *base) {
  const int table = (int)base->table, seeds = (int)base->seeds;
  const variant *vs = table == 1 ? t1v : table == 2 ? t2v : t3v; /* Table IV has Table III's variants */
  int nv = table == 1 ? 5 : table == 2 ? 7 : 3;
  run_outcome *det = table == 4 ? calloc((size_t)nv, sizeof *det) : NULL; /* the per-class AP of seed 1 */
  gc_ctx *ctx;
  int st = cli_start_run(base, CMD_REPRODUCE, "reproduce", &ctx);
  if (st) return st;
  cli_logs logs = {base, CMD_REPRODUCE, 0, NULL, NULL};
  double *best = calloc((size_t)(nv * seeds), sizeof *best), *fin = calloc((size_t)(nv * seeds), sizeof *fin);
  double *fin5 = calloc((size_t)(nv * seeds), sizeof *fin5);
  if (!best || !fin || !fin5) st = gc_error_set(GC_ERR_HOST_MEM, __FILE__, __LINE__, "results");
  for (int s = 0; s < seeds && !st; s++)
    for (int v = 0; v < nv && !st; v++) {
      gafcl_cfg c = *base;
      c.seed = base->seed + (unsigned long long)s;
      snprintf(c.gaf, sizeof c.gaf, "%s", vs[v].gaf);
      if (vs[v].alpha > 0) c.gaf_alpha = vs[v].alpha, c.gaf_beta = vs[v].beta;
      if (table == 1) /* Table I's rows set the clipping; the other tables keep --clip as given */
        snprintf(c.clip, sizeof c.clip, "%s", vs[v].clip ? vs[v].clip : "none");
      double pv = paper(table, base->net, base->data, v);
      c.paper_top1 = isnan(pv) ? 0.0 : pv;
      char tag[64], vname[48];
      variant_name(&vs[v], c.clip_threshold, vname, sizeof vname);
      snprintf(tag, sizeof tag, "%s seed %llu", vname, c.seed);
      /* each run checkpoints into a folder of its own inside --out */
      if (base->out[0]) {
        int n = vs[v].clip ? snprintf(c.out, sizeof c.out, "%s/clip-%s-%g-seed%llu", base->out, vs[v].clip, c.clip_threshold, c.seed)
                           : snprintf(c.out, sizeof c.out, "%s/%s-%g-%g-seed%llu", base->out, vs[v].gaf, vs[v].alpha,
                                      vs[v].beta, c.seed);
        if (n < 0 || (size_t)n >= sizeof c.out) {
          st = gc_error_set(GC_ERR_ARG, __FILE__, __LINE__, "--out %s: the name of a run's folder is too long", base->out);
          break;
        }
      }
      run_outcome r;
      st = cli_run_training(ctx, &c, tag, &logs, NULL, 0, &r);
      best[v * seeds + s] = r.res.best;
      fin[v * seeds + s] = r.final_test.n > 1 ? r.final_test.v[r.final_test.primary] : 0.0;
      fin5[v * seeds + s] = r.final_test.n > 2 ? r.final_test.v[2] : 0.0; /* classification: loss, top-1, top-5 */
      if (det && s == 0) det[v] = r;
    }
  cli_logs_close(&logs);
  if (!st && table == 1) print_table1(base, fin, fin5, nv, seeds);
  if (!st && table != 1) {
    const char *metric = table == 4 ? "mAP" : "top-1";
    printf("\nTable %s, %s on %s, %s, %ld %s, %d seed(s) (best test %s over evaluations, as the paper reports):\n",
           table == 2 ? "II (SGD-momentum, GAF on the momentum)" : table == 3 ? "III (Adam, GAF on the gradient)"
                                                                            : "IV (SSD300 on Pascal VOC, VOC2007 11-point mAP)",
           base->net, base->data, base->optimizer, table == 4 && base->iterations ? base->iterations : base->epochs,
           table == 4 && base->iterations ? "iterations" : "epochs", seeds, metric);
    char h1[32], h2[32];
    snprintf(h1, sizeof h1, "best %s %%", metric);
    snprintf(h2, sizeof h2, "final %s %%", metric);
    printf("%-18s %16s %16s %10s\n", "GAF", h1, h2, "paper %");
    for (int v = 0; v < nv; v++) {
      double mb = 0, q = 0, mf = 0;
      for (int s = 0; s < seeds; s++) mb += best[v * seeds + s] / seeds, mf += fin[v * seeds + s] / seeds;
      for (int s = 0; s < seeds; s++) q += (best[v * seeds + s] - mb) * (best[v * seeds + s] - mb);
      double sd = seeds > 1 ? sqrt(q / (seeds - 1)) : 0.0, p = paper(table, base->net, base->data, v);
      char name[48], ps[16];
      variant_name(&vs[v], base->clip_threshold, name, sizeof name);
      snprintf(ps, sizeof ps, isnan(p) ? "-" : "%.2f", p);
      printf("%-18s %10.2f +-%4.2f %16.2f %10s\n", name, mb, sd, mf, ps);
    }
    if (table == 4 && det && det[0].nclasses > 0) {
      /* per class, seed 1: VOC2007 11-point AP of each variant */
      printf("\nper-class AP %% (VOC2007 11-point, seed %llu; the paper's Table IV per-class values are not in the "
             "reference, only its mAP above):\n%-14s", base->seed, "class");
      for (int v = 0; v < nv; v++) {
        char name[32];
        snprintf(name, sizeof name, vs[v].alpha > 0 ? "%s(%g,%g)" : "%s", vs[v].gaf, vs[v].alpha, vs[v].beta);
        printf(" %16s", name);
      }
      printf("\n");
      for (int k = 0; k < det[0].nclasses; k++) {
        printf("%-14s", det[0].class_names[k]);
        for (int v = 0; v < nv; v++)
          if (det[v].nclasses > k && det[v].ap07[k] >= 0) printf(" %16.2f", det[v].ap07[k]);
          else printf(" %16s", "-");
        printf("\n");
      }
    }
    printf(table == 4 ? "(paper: Liu et al., Table IV; SSD300 trained from scratch, 120k iterations.)\n"
                      : "(paper: Liu et al., Tables II/III; '-' where the paper has no such row. The paper trains 200 "
                        "epochs.)\n");
  }
  free(best);
  free(fin);
  free(fin5);
  free(det);
  int rc = st ? cli_fail(st, "reproduce failed") : 0;
  gc_ctx_free(ctx);
  return rc;
}
