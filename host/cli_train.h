/* `gafcl train` and `gafcl compare`: the training loop over a data set, per-epoch evaluation, metrics. */
#ifndef CLI_TRAIN_H
#define CLI_TRAIN_H
#include <stdio.h>

#include "gc_data.h"
#include "gc_net.h"

typedef struct train_cfg {
  char net[32];
  int imagenet;
  char data[16];        /* fashion | cifar10 | cifar100 | folder | npy | synthetic */
  long image_size;      /* folder: output size (default 224 with --imagenet, else 32) */
  char data_dir[512];
  long subset;          /* training images used (0: all) */
  long test_subset;     /* test images used (0: all) */
  int epochs;
  long batch;
  double lr;
  char optimizer[16];   /* sgd sgdm nesterov adam adamw */
  double momentum, weight_decay;
  int no_wd_bn_bias;
  char gaf[16];         /* none arctan tanh log */
  double gaf_alpha, gaf_beta;
  char gaf_pos[16];     /* momentum | grad */
  char clip[16];        /* none value norm */
  double clip_threshold;
  char schedule[16];    /* cosine constant step */
  int per_iteration;
  long warmup_iters;
  long milestones[8];
  int n_milestones;
  int augment;          /* crop + flip for the CIFAR sets */
  unsigned long long seed;
  char out[512];        /* folder for config.json and metrics.jsonl ("" : none) */
  char on_nonfinite[8]; /* skip | stop */
  char resume[512];     /* a previous run's --out folder: continue from its last checkpoint */
  char init[512];       /* start from these weights (a model .safetensors) */
  int stop_after;       /* stop after this many epochs of this invocation (0: run to the end) */
  /* gafcl eval / gafcl steps (exact comparisons with PyTorch on one batch) */
  char images[512];     /* .npy float32 (N, C, H, W), already normalised (also --data npy's training set) */
  char test_images[512], test_labels[512]; /* --data npy: the test set (default: the training set) */
  char labels[512];     /* .npy int64/int32/uint8 (N) */
  char weights[512];    /* .safetensors with PyTorch names (else: initialised from --seed) */
  char logits[512];     /* eval: output .npy (N, classes) */
  char save[512];       /* steps: output .safetensors */
  long steps;
  long classes;
  int bn_train;         /* eval: batch statistics (train-mode batch norm) instead of running statistics */
  double paper_top1;    /* gafcl reproduce: the paper's accuracy for this run, written to the metrics (0: none) */
} train_cfg;

/* gafcl reproduce: a paper table's variants (table 2 or 3) over `seeds` seeds with `base`'s recipe. */
int cli_reproduce(gc_ctx *ctx, train_cfg *base, int table, int seeds, FILE *metrics, FILE *steps);

/* gafcl eval: logits of one batch; gafcl steps: N training steps on exactly one batch. */
int cli_eval(gc_ctx *ctx, const train_cfg *c);
int cli_steps(gc_ctx *ctx, const train_cfg *c);

typedef struct train_result {
  double best_top1, final_top1, final_top5, final_loss; /* test accuracy in %, loss */
  double epoch_s, optim_s;                               /* mean per epoch: wall time, optimizer device time */
  double images_per_s;
  long skipped_steps;
} train_result;

void train_cfg_default(train_cfg *c);
/* Parse `--key value` flags (and --config FILE, a JSON object of the same keys) into c; GC_ERR_ARG with a
 * message on a bad flag or value. argv[0] is the first flag. */
int train_cfg_parse(train_cfg *c, int argc, char **argv);
/* The configuration as JSON (caller frees). */
char *train_cfg_json(const train_cfg *c);
/* Train, evaluating every epoch; JSON lines per epoch go to `metrics` (may be NULL); progress on stderr
 * when it is a terminal. `tag` prefixes the progress line. */
/* metrics: one JSON line per epoch; steps: one per training step (loss, lr); either may be NULL. */
int train_run(gc_ctx *ctx, const train_cfg *c, const char *tag, FILE *metrics, FILE *steps, train_result *res);
#endif
