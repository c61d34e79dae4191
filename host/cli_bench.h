/* `gafcl bench`: the epoch benchmark (see cli_bench.c). */
#ifndef CLI_BENCH_H
#define CLI_BENCH_H
#include "gafcl.h"

typedef struct bench_cfg {
  char nets[256];    /* comma-separated */
  int imagenet;
  int size;          /* input size (0: the form's default) */
  long batch;
  int iters;         /* iterations per measurement */
  int repeats;       /* alternating repeats */
  long epoch_iters;  /* iterations of an epoch (196: CIFAR at batch 256) */
  char out[512];     /* JSON results file ("" : none) */
  int classes;       /* classifier outputs (0: the form's default, 10 / 1000) */
  int profile;       /* extra per-layer profiled iterations after the measurement (0: none) */
} bench_cfg;

int cli_bench(gc_ctx *ctx, const bench_cfg *c);
#endif
