/* The gafcl program: its configuration (one struct for every command), the flag table that parses,
 * validates, documents and saves it (flags.c), and the commands (cmd_*.c; the command table is in
 * main.c). The program uses the libraries only through their public headers. */
#ifndef GAFCL_CLI_H
#define GAFCL_CLI_H

#include <stdio.h>

#include "gafcl.h"
#include "gc_data.h"
#include "gc_train.h"

/* The commands, as bits of a flag's `cmds`. */
enum {
  CMD_MAIN = 1 << 0, /* no command: the device table and the self-check */
  CMD_DEVICES = 1 << 1,
  CMD_SELFCHECK = 1 << 2,
  CMD_NETS = 1 << 3,
  CMD_TRAIN = 1 << 4,
  CMD_COMPARE = 1 << 5,
  CMD_REPRODUCE = 1 << 6,
  CMD_EVAL = 1 << 7,
  CMD_STEPS = 1 << 8,
  CMD_BENCH = 1 << 9,
  CMD_BENCH_CONV = 1 << 10,
  CMD_TUNE = 1 << 11,
  CMD_DETECT = 1 << 12,
  CMD_MAKE_SHAPES = 1 << 13,
  CMD_GAF_SUGGEST = 1 << 14,
  CMD_LANDSCAPE = 1 << 15,
  CMD_GAF_CURVE = 1 << 16,
};
#define CMD_RUNS (CMD_TRAIN | CMD_COMPARE | CMD_REPRODUCE | CMD_GAF_SUGGEST) /* commands that train over a data set */

/* Every setting of every command; the flag table (flags.c) says which command takes which. */
typedef struct gafcl_cfg {
  char device[256];
  char conv_algo[32];
  /* the training runs */
  char net[32];
  int imagenet;
  char data[16];          /* fashion | cifar10 | cifar100 | folder | npy | synthetic | voc */
  char train_sets[256], test_set[256]; /* voc: "2007-trainval,2012-trainval", "2007-test" */
  long iterations;        /* > 0: training iterations (epochs follow from the training set; SSD's recipe) */
  char data_dir[512];
  long image_size;        /* folder: output size (0: 224 with --imagenet, else 32) */
  char images[512], labels[512];           /* .npy: float32 (N, C, H, W) and integer labels (N) */
  char test_images[512], test_labels[512]; /* --data npy: the test set (default: the training set) */
  long subset, test_subset;                /* images used (0: all) */
  long epochs, batch;
  double lr;
  unsigned long long seed;
  char optimizer[16];     /* sgd sgdm nesterov adam adamw */
  double momentum, weight_decay;
  int no_wd_bn_bias;
  char gaf[16];           /* none arctan tanh log */
  double gaf_alpha, gaf_beta;
  char gaf_pos[16];       /* momentum | grad */
  char clip[16];          /* none value norm */
  double clip_threshold;
  char schedule[16];      /* cosine constant step */
  int per_iteration;
  char milestones[160];   /* "30,60" (normalised) */
  long warmup_iters, warmup_epochs;
  long augment;           /* crop + flip for the CIFAR sets */
  char last_batch[8];     /* keep | drop: the last partial training batch */
  char on_nonfinite[8];   /* skip | stop */
  char out[512];          /* train: the run folder; bench: the JSON results file */
  char resume[512];
  char init[512];
  long stop_after;
  /* batch norm in training steps; data-parallel runs (mpirun) */
  char bn_mode[8];        /* batch | frozen */
  double bucket_mb;
  long overlap, comm_timeout;
  int comm_loopback;
  /* reproduce */
  long table, seeds;
  /* eval / steps */
  char weights[512], logits[512], save[512];
  char outputs[512], targets[512];         /* eval: detection outputs' folder; steps: detection targets .npy */
  /* make-shapes */
  long shape_images, shape_size;
  /* gaf-suggest, landscape, gaf-curve */
  long suggest_epochs, points;
  double range;
  long steps, classes;
  int bn_train;
  /* bench */
  char nets[256];
  long size, iters, repeats, epoch_iters, profile;
  /* tune */
  long budget, clblast_budget;
  char tune_stage[16];
  /* selfcheck */
  int verbose;
  /* not a flag: gafcl reproduce's paper value for a run, written into its metrics lines (0: none) */
  double paper_top1;
} gafcl_cfg;

/* ---- the flag table (flags.c) ---- */
typedef enum flag_type { FT_STR, FT_CHOICE, FT_INT, FT_U64, FT_DOUBLE, FT_BOOL, FT_LIST } flag_type;
enum { FP_RECIPE = 1 }; /* part of a run's recipe: kept with its checkpoints */
typedef struct flag_def {
  const char *name;    /* --name, and the key in config.json */
  flag_type type;
  size_t off, size;    /* the field of gafcl_cfg */
  const char *def;     /* the default, as text */
  double lo, hi;       /* numbers: the range (lo excluded when lo_open) */
  int lo_open;
  const char *choices; /* FT_CHOICE: "a|b|c" */
  const char *metavar;
  unsigned cmds;       /* CMD_* bits of the commands that take it */
  unsigned props;      /* FP_* */
  int (*check)(const gafcl_cfg *c); /* validation that needs the libraries (names of nets, ...) */
  const char *help;
} flag_def;
int cli_flag_count(void);
const flag_def *cli_flag(int i);

/* The table's defaults for a command. */
void cli_cfg_defaults(gafcl_cfg *c, unsigned cmd);
/* --config FILE (a JSON object of the same keys; read first) and `--flag value`, `--flag=value`,
 * `--bool-flag`; GC_ERR_ARG / GC_ERR_FORMAT with the reason. argv[0] is the first flag. */
int cli_cfg_parse(gafcl_cfg *c, unsigned cmd, int argc, char **argv);
/* A JSON object of flags (the contents of a --config file) into c. */
int cli_cfg_load_json(gafcl_cfg *c, unsigned cmd, const char *text, const char *what);
/* The checks that need the libraries (network, optimizer, GAF and convolution algorithm names). */
int cli_cfg_validate(const gafcl_cfg *c, unsigned cmd);
/* Every flag of the command as a JSON object (recipe_only: only the run's recipe); caller frees. */
char *cli_cfg_json(const gafcl_cfg *c, unsigned cmd, int recipe_only);
/* The flags of a command with their defaults as set in c. */
void cli_cfg_help(FILE *f, const gafcl_cfg *c, unsigned cmd);

/* ---- shared by the commands (main.c) ---- */
/* Print the failure and give the exit status: 2 for setup and usage problems, else 1. */
int cli_fail(int st, const char *what);
/* Open the device of --device (else GAFCL_DEVICE, else the default rule) with --conv-algo applied. */
int cli_open(const gafcl_cfg *c, gc_ctx **ctx);
/* The start of every training command: print the configuration, hold the run folder (--out), open the
 * device and name it. 0, or the exit status after printing why. */
int cli_start_run(const gafcl_cfg *c, unsigned cmd, const char *what, gc_ctx **ctx);
/* The optimizer configuration the flags describe. */
int cli_optim_config(const gafcl_cfg *c, gc_optim_config *oc);

/* ---- data-parallel runs (mpi.c): one process per device, started by mpirun ---- */
/* Join the run's processes when started by mpirun (MPI_Init); 0 when alone. Ranks other than 0 print
 * only their errors (prefixed "rank R"). A status != 0 with a message recorded when MPI cannot start. */
int cli_mpi_init(int *argc, char ***argv, int *size);
/* The run's collectives with --comm-timeout applied (NULL when alone). */
const gc_comm *cli_comm(const gafcl_cfg *c);
int cli_rank(void);
int cli_ranks(void);
int cli_local_rank(void);
/* "rank 1: " on ranks other than 0 of a run of several ("" otherwise) */
const char *cli_rank_prefix(void);
/* The end of the process: MPI_Finalize after success; after a failure MPI_Abort, which ends every rank
 * (none is left waiting in a collective). Returns rc. */
int cli_mpi_end(int rc);
/* --device for this rank: item (local rank mod count) of a comma-separated list; with no --device and
 * several processes on a machine with GPUs, the local rank's GPU. Empty: the default rule. */
void cli_rank_device(const char *devices, char *out, size_t cap);

/* ---- training runs (cmd_train.c) ---- */
/* The run folder (--out) of a command: config.json and the logs, written once the first run's inputs
 * are validated, and held (a lock file) by one process at a time. */
typedef struct cli_logs {
  const gafcl_cfg *cfg; /* the command's configuration: its --out, --resume and what config.json holds */
  unsigned cmd;
  int begun;
  FILE *metrics, *steps;
} cli_logs;
/* Create the folder if needed and hold its lock until the process ends; a second process is refused
 * with the first one's process number. */
int cli_lock_folder(const char *dir);
void cli_logs_close(cli_logs *logs);
typedef struct run_outcome {
  gc_train_result res;
  gc_metrics final_test;
  double epoch_s[64];    /* wall time of each training epoch of this call (the first 64) */
  int nepochs;
  /* detection: the last evaluation's AP per class (VOC2007 11-point and area rule, percent; -1: no
   * ground truth), and the class names */
  int nclasses;
  double ap07[GC_DET_MAX_CLASSES], ap[GC_DET_MAX_CLASSES];
  char class_names[GC_DET_MAX_CLASSES][32];
} run_outcome;
/* One training run of the configuration: data, net, task, optimizer, trainer, all validated (with the
 * resumed state and its recipe) before the folder's config.json and logs are written; lines to the logs
 * (may be NULL). warm (may be NULL) lists optimizer configurations to warm up on a scratch net first. */
int cli_run_training(gc_ctx *ctx, const gafcl_cfg *c, const char *tag, cli_logs *logs, const gc_optim_config *warm,
                     int nwarm, run_outcome *out);

/* ---- the commands ---- */
int cmd_devices(gafcl_cfg *c);
int cmd_selfcheck(gafcl_cfg *c);
int cmd_main(gafcl_cfg *c);
int cmd_nets(gafcl_cfg *c);
int cmd_train(gafcl_cfg *c);
int cmd_compare(gafcl_cfg *c);
void cmd_compare_defaults(gafcl_cfg *c);
int cmd_reproduce(gafcl_cfg *c);
int cmd_eval(gafcl_cfg *c);
int cmd_steps(gafcl_cfg *c);
void cmd_batch_defaults(gafcl_cfg *c);
int cmd_bench(gafcl_cfg *c);
void cmd_bench_defaults(gafcl_cfg *c);
int cmd_bench_conv(gafcl_cfg *c);
void cmd_bench_conv_defaults(gafcl_cfg *c);
int cmd_tune(gafcl_cfg *c);
void cmd_tune_defaults(gafcl_cfg *c);
void cmd_nets_defaults(gafcl_cfg *c);
/* gafcl reproduce: the paper's value of a run (NaN: none), and its recipe for a table */
void cmd_reproduce_recipe(gafcl_cfg *c, long table);
/* SSD's recipe (the paper's Pascal VOC schedule): applied under the flags given when --data voc or a
 * detection net is asked for */
void cmd_detection_recipe(gafcl_cfg *c);
int cli_is_detection(const gafcl_cfg *c);
int cmd_detect(gafcl_cfg *c);
void cmd_detect_defaults(gafcl_cfg *c);
int cmd_make_shapes(gafcl_cfg *c);
/* cmd_paper.c: the paper's procedure and figures */
void cmd_gaf_suggest_defaults(gafcl_cfg *c);
int cmd_gaf_suggest(gafcl_cfg *c);
int cmd_landscape(gafcl_cfg *c);
int cmd_gaf_curve(gafcl_cfg *c);
/* the training or test set of the flags (cmd_train.c) */
int cli_load_data(const gafcl_cfg *c, int train, gc_dataset *d);
/* detection targets (gc_targets.h) of n images from a float32 (N, K, 5) .npy; caller frees */
int cli_det_targets_npy(const char *path, size_t n, int classes, float **out);
/* n images' synthetic detection targets (benchmarks) */
void cli_det_synthetic_targets(float *t, size_t n, int classes);

#endif
