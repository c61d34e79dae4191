/* `gafcl reproduce`: the recipes of the paper's CIFAR tables, with and without the GAF, over several
 * seeds, with the paper's number beside each result (../shared REFERENCE §2-3, written into the table
 * below). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_train.h"

typedef struct variant {
  const char *gaf;
  double alpha, beta;
} variant;

/* Table II (CIFAR-100, SGD-momentum, GAF on the momentum): w/o, tanh, tanh, log, log, arctan, arctan */
static const variant t2v[7] = {{"none", 0, 0},    {"tanh", 0.1, 20},   {"tanh", 0.2, 10}, {"log", 0.1, 20},
                               {"log", 0.2, 10},  {"arctan", 0.1, 20}, {"arctan", 0.2, 10}};
static const struct {
  const char *net;
  double acc[7];
} t2[] = {{"densenet_cifar", {76.22, 76.74, 77.30, 76.90, 76.72, 76.90, 76.91}},
          {"densenet169", {79.99, 80.71, 80.29, 80.70, 80.40, 80.37, 79.77}},
          {"resnet50", {79.54, 80.43, 80.11, 80.58, 80.49, 79.73, 79.90}}};
/* Table III (Adam, arctan): w/o, (0.1, 20), (0.2, 10); CIFAR-10 then CIFAR-100 */
static const variant t3v[3] = {{"none", 0, 0}, {"arctan", 0.1, 20}, {"arctan", 0.2, 10}};
static const struct {
  const char *net;
  double c10[3], c100[3];
} t3[] = {{"resnet34", {94.14, 94.36, 94.44}, {74.57, 75.07, 75.06}},
          {"preact_resnet34", {93.63, 93.97, 93.96}, {73.48, 73.75, 73.69}},
          {"resnet50", {93.74, 94.41, 94.42}, {75.01, 75.34, 75.69}},
          {"preact_resnet50", {94.06, 94.15, 94.40}, {73.73, 74.82, 74.71}}};

static double paper(int table, const char *net, const char *data, int v) {
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

int cli_reproduce(gc_ctx *ctx, train_cfg *base, int table, int seeds, FILE *metrics, FILE *steps) {
  if (table != 2 && table != 3) GC_FAIL(GC_ERR_ARG, "--table %d: 2 (CIFAR-100, SGD-momentum) or 3 (Adam)", table);
  if (seeds < 1) GC_FAIL(GC_ERR_ARG, "--seeds %d", seeds);
  const variant *vs = table == 2 ? t2v : t3v;
  int nv = table == 2 ? 7 : 3;
  /* the recipe (REFERENCE §2): flags given explicitly still win, see cmd_reproduce */
  double *best = calloc((size_t)(nv * seeds), sizeof *best), *fin = calloc((size_t)(nv * seeds), sizeof *fin);
  if (!best || !fin) {
    free(best);
    free(fin);
    GC_FAIL(GC_ERR_HOST_MEM, "results");
  }
  int st = 0;
  for (int s = 0; s < seeds && !st; s++)
    for (int v = 0; v < nv && !st; v++) {
      train_cfg c = *base;
      c.seed = base->seed + (unsigned long long)s;
      snprintf(c.gaf, sizeof c.gaf, "%s", vs[v].gaf);
      if (vs[v].alpha > 0) c.gaf_alpha = vs[v].alpha, c.gaf_beta = vs[v].beta;
      double pv = paper(table, base->net, base->data, v);
      c.paper_top1 = isnan(pv) ? 0.0 : pv;
      char tag[64];
      snprintf(tag, sizeof tag, "%s(%g,%g) seed %llu", vs[v].gaf, vs[v].alpha, vs[v].beta, c.seed);
      if (!strcmp(vs[v].gaf, "none")) snprintf(tag, sizeof tag, "none seed %llu", c.seed);
      train_result r;
      st = train_run(ctx, &c, tag, metrics, steps, &r);
      best[v * seeds + s] = r.best_top1;
      fin[v * seeds + s] = r.final_top1;
    }
  if (!st) {
    printf("\nTable %s, %s on %s, %d epochs, %d seed(s) (best test top-1 over epochs, as the paper reports):\n",
           table == 2 ? "II (SGD-momentum, GAF on the momentum)" : "III (Adam, GAF on the gradient)", base->net,
           base->data, base->epochs, seeds);
    printf("%-18s %16s %16s %10s\n", "GAF", "best top-1 %", "final top-1 %", "paper %");
    for (int v = 0; v < nv; v++) {
      double m = 0, q = 0, mf = 0;
      for (int s = 0; s < seeds; s++) m += best[v * seeds + s] / seeds, mf += fin[v * seeds + s] / seeds;
      for (int s = 0; s < seeds; s++) q += (best[v * seeds + s] - m) * (best[v * seeds + s] - m);
      double sd = seeds > 1 ? sqrt(q / (seeds - 1)) : 0.0, p = paper(table, base->net, base->data, v);
      char name[32], ps[16];
      snprintf(name, sizeof name, vs[v].alpha > 0 ? "%s(%g,%g)" : "%s", vs[v].gaf, vs[v].alpha, vs[v].beta);
      snprintf(ps, sizeof ps, isnan(p) ? "-" : "%.2f", p);
      printf("%-18s %10.2f +-%4.2f %16.2f %10s\n", name, m, sd, mf, ps);
    }
    printf("(paper: Liu et al., Tables II/III; '-' where the paper has no such row. The paper trains 200 epochs.)\n");
  }
  free(best);
  free(fin);
  return st;
}
