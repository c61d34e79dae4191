/* The gafcl program: the command table, the main function and what every command shares (opening the
 * device, the configuration file, the run folder's logs). The flags are in flags.c, the commands in
 * cmd_*.c. Exit status: 0 success, 1 a run failed, 2 bad usage or no usable OpenCL device. */
#include "cli.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct command {
  const char *name;   /* NULL: no command given */
  unsigned bit;       /* CMD_* */
  const char *summary;
  void (*defaults)(gafcl_cfg *c); /* the command's own defaults over the table's (may be NULL) */
  int (*run)(gafcl_cfg *c);
} command;

static void reproduce_defaults(gafcl_cfg *c) { cmd_reproduce_recipe(c, c->table); }

static const command commands[] = {
    {NULL, CMD_MAIN, "the device table and the self-check", NULL, cmd_main},
    {"devices", CMD_DEVICES, "every OpenCL platform and device", NULL, cmd_devices},
    {"selfcheck", CMD_SELFCHECK, "element-wise kernels and CLBlast GEMM against the CPU reference", NULL, cmd_selfcheck},
    {"nets", CMD_NETS, "the networks: parameters, GFLOPs per image, training memory at --batch", cmd_nets_defaults,
     cmd_nets},
    {"train", CMD_TRAIN, "train a network; per-epoch test accuracy; --out DIR gets config.json, metrics.jsonl, "
                         "steps.jsonl and checkpoints",
     NULL, cmd_train},
    {"compare", CMD_COMPARE, "train twice from the same seed, without and with the GAF, side by side (without "
                             "--epochs: a quick run on a Fashion-MNIST subset)",
     cmd_compare_defaults, cmd_compare},
    {"reproduce", CMD_REPRODUCE, "the paper's tables (--table 1: ImageNet folders; 2 or 3: CIFAR; 4: SSD300 on Pascal VOC), every variant, "
                                 "several seeds",
     reproduce_defaults, cmd_reproduce},
    {"gaf-suggest", CMD_GAF_SUGGEST, "the paper's alpha/beta procedure: train the recipe's first epoch(s) without the GAF, "
                                     "find the largest gradients, propose alpha and beta, write a configuration",
     cmd_gaf_suggest_defaults, cmd_gaf_suggest},
    {"landscape", CMD_LANDSCAPE, "the loss along a filter-normalised random direction around --weights (Fig. 3), as "
                                 "JSON lines",
     NULL, cmd_landscape},
    {"gaf-curve", CMD_GAF_CURVE, "the GAF (or value clipping) of one gradient element as the optimizer computes it, as "
                                 "JSON lines (Fig. 1)",
     NULL, cmd_gaf_curve},
    {"eval", CMD_EVAL, "logits (SSD: loc and conf) of one batch of .npy images with given weights", cmd_batch_defaults,
     cmd_eval},
    {"detect", CMD_DETECT, "SSD detections of JPEG images as JSON lines (image, class, score, box in pixels)",
     cmd_detect_defaults, cmd_detect},
    {"make-shapes", CMD_MAKE_SHAPES, "write a generated detection set (coloured shapes) in the Pascal VOC layout: "
                                     "gafcl make-shapes DIR --images N --seed S",
     NULL, cmd_make_shapes},
    {"steps", CMD_STEPS, "N training steps on exactly one batch, then the weights", cmd_batch_defaults, cmd_steps},
    {"bench", CMD_BENCH, "epoch benchmark on synthetic data: forward/backward/optimizer times, GAF overhead, "
                         "per-layer profile",
     cmd_bench_defaults, cmd_bench},
    {"bench-conv", CMD_BENCH_CONV, "every convolution shape of --nets at --batch: forward, data and weight gradient "
                                   "per algorithm and as chosen (JSON for bench/pytorch_convs.py and bench/report)",
     cmd_bench_conv_defaults, cmd_bench_conv},
    {"tune", CMD_TUNE, "search the register tiles of gafcl's own GEMMs on the convolutions of --nets; kept in the "
                       "cache folder for the device",
     cmd_tune_defaults, cmd_tune},
};
enum { NCOMMANDS = (int)(sizeof commands / sizeof commands[0]) };

static void usage(FILE *f) {
  fprintf(f, "usage: gafcl [COMMAND] [FLAGS]     (gafcl COMMAND --help: the command's flags)\n\ncommands:\n");
  for (int i = 0; i < NCOMMANDS; i++) fprintf(f, "  %-10s  %s\n", commands[i].name ? commands[i].name : "(none)", commands[i].summary);
  fprintf(f, "\nflags without a command:\n");
  gafcl_cfg c;
  cli_cfg_defaults(&c, CMD_MAIN);
  cli_cfg_help(f, &c, CMD_MAIN);
  fprintf(f, "  %-28s %s\n  %-28s %s\n", "-h, --help", "this text", "--version", "print the version");
  fprintf(f,
          "\nTraining flags can also come from a JSON file: --config FILE (the keys are the flag names;\n"
          "flags on the command line override it). A run's --out DIR/config.json is such a file.\n"
          "\nenvironment:\n"
          "  GAFCL_DEVICE      device selector, as --device\n"
          "  GAFCL_CONV_ALGO   convolution algorithm mode, as --conv-algo\n"
          "  GAFCL_CACHE_DIR   program binary cache folder (default $XDG_CACHE_HOME/gafcl or\n"
          "                    ~/.cache/gafcl); 'off' disables the cache\n"
          "  GAFCL_KERNEL_DIR  read kernels/*.cl from this folder instead of the embedded copies\n");
}

static void command_usage(FILE *f, const command *cm, const gafcl_cfg *c) {
  fprintf(f, "usage: gafcl %s [FLAGS]\n%s\n\nflags:\n", cm->name, cm->summary);
  cli_cfg_help(f, c, cm->bit);
  if (cm->bit & (CMD_RUNS | CMD_EVAL | CMD_STEPS))
    fprintf(f, "  %-28s %s\n", "--config FILE", "flags from a JSON object (a run's config.json); the command line wins");
}

int cli_fail(int st, const char *what) {
  fprintf(stderr, "gafcl: %s%s: %s\n", cli_rank_prefix(), what, gc_last_error());
  return (st == GC_ERR_NO_PLATFORM || st == GC_ERR_NO_DEVICE || st == GC_ERR_ARG) ? 2 : 1;
}

int cli_open(const gafcl_cfg *c, gc_ctx **ctx) {
  char sel[sizeof c->device];
  cli_rank_device(c->device, sel, sizeof sel); /* several processes: this rank's device */
  int st = gc_ctx_create(ctx, sel[0] ? sel : NULL);
  if (st) return st;
  if (c->conv_algo[0] && (st = gc_conv_algo_set(*ctx, c->conv_algo)) != 0) {
    gc_ctx_free(*ctx);
    *ctx = NULL;
  }
  return st;
}

int cli_start_run(const gafcl_cfg *c, unsigned cmd, const char *what, gc_ctx **ctx) {
  char *js = cli_cfg_json(c, cmd, 0);
  printf("configuration:\n%s\n", js ? js : "(out of memory)");
  free(js);
  *ctx = NULL;
  int st = c->out[0] && cli_rank() == 0 ? cli_lock_folder(c->out) : GC_OK; /* rank 0 writes the folder */
  if (st) return cli_fail(st, what);
  if ((st = cli_open(c, ctx)) != 0) return cli_fail(st, "cannot open the device");
  printf("device: %s (%s)\n", (*ctx)->dev.name, (*ctx)->dev.platform);
  if (cli_ranks() > 1 && cli_rank() != 0) { /* the other ranks' devices (their standard output is silent) */
    fprintf(stderr, "gafcl: %sdevice %s (%s)\n", cli_rank_prefix(), (*ctx)->dev.name, (*ctx)->dev.platform);
  }
  return 0;
}

int cli_optim_config(const gafcl_cfg *c, gc_optim_config *oc) {
  gc_opt_kind kind;
  gc_gaf_type gaf;
  int st = gc_opt_parse(c->optimizer, &kind);
  if (!st) st = gc_gaf_parse(c->gaf, &gaf);
  if (st) return st;
  gc_optim_config_default(oc, kind);
  oc->momentum = (float)c->momentum;
  oc->gaf = gaf;
  oc->gaf_alpha = (float)c->gaf_alpha;
  oc->gaf_beta = (float)c->gaf_beta;
  oc->gaf_pos = strcmp(c->gaf_pos, "grad") ? GC_GAF_ON_MOMENTUM : GC_GAF_ON_GRAD;
  oc->clip = !strcmp(c->clip, "value") ? GC_CLIP_VALUE : !strcmp(c->clip, "norm") ? GC_CLIP_NORM : GC_CLIP_NONE;
  oc->clip_threshold = (float)c->clip_threshold;
  return GC_OK;
}

static int run_main(int argc, char **argv);

int main(int argc, char **argv) {
  int size = 1;
  if (cli_mpi_init(&argc, &argv, &size) != 0) return cli_fail(GC_ERR_COMM, "cannot join the other processes");
  return cli_mpi_end(run_main(argc, argv));
}

static int run_main(int argc, char **argv) {
  /* a file-size limit (ulimit -f) must give a write error that keeps the previous checkpoint and names
   * the cause, not kill the run */
  signal(SIGXFSZ, SIG_IGN);
  /* Mesa's rusticl lists no device unless told which drivers to enable; its CPU driver (llvmpipe) is one
   * of the three CPU implementations gafcl is tested on, so the program enables it unless the user chose
   * (RUSTICL_ENABLE=radeonsi,llvmpipe for an AMD GPU and the CPU, for example). PoCL stays the default. */
  if (!getenv("RUSTICL_ENABLE")) setenv("RUSTICL_ENABLE", "llvmpipe", 0);
  /* the command: the first argument that is not a flag or a flag's value (gafcl --device 1 nets works) */
  const command *cm = &commands[0];
  int first = 1, at = 0;
  for (int i = 1; i < argc && !at; i++) {
    if (!strcmp(argv[i], "--device") || !strcmp(argv[i], "--config")) i++;
    else if (argv[i][0] != '-') at = i;
  }
  if (at) {
    cm = NULL;
    for (int i = 1; i < NCOMMANDS; i++)
      if (!strcmp(argv[at], commands[i].name)) cm = &commands[i];
    if (!cm) {
      fprintf(stderr, "gafcl: unknown command '%s'\n", argv[at]);
      usage(stderr);
      return 2;
    }
    for (int i = at; i > 1; i--) argv[i] = argv[i - 1]; /* the flags before it go after it */
    argv[1] = (char *)cm->name;
    first = 2;
  }
  gafcl_cfg c;
  cli_cfg_defaults(&c, cm->bit);
  if (cm->defaults) cm->defaults(&c);
  for (int i = first; i < argc; i++) {
    if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      if (cm->name) command_usage(stdout, cm, &c);
      else usage(stdout);
      return 0;
    }
    if (!cm->name && !strcmp(argv[i], "--version")) {
      printf("gafcl %s\n", GAFCL_VERSION_STRING);
      return 0;
    }
  }
  if (cm->bit == CMD_MAKE_SHAPES && first < argc && argv[first][0] != '-') { /* gafcl make-shapes DIR */
    if (strlen(argv[first]) >= sizeof c.out) {
      fprintf(stderr, "gafcl make-shapes: the folder name is too long\n");
      return 2;
    }
    snprintf(c.out, sizeof c.out, "%s", argv[first]);
    first++;
  }
  int st = cli_cfg_parse(&c, cm->bit, argc - first, argv + first);
  if (!st && cm->bit == CMD_REPRODUCE) {
    /* the recipe depends on --table: apply it under the flags given */
    long table = c.table;
    cli_cfg_defaults(&c, cm->bit);
    cmd_reproduce_recipe(&c, table);
    st = cli_cfg_parse(&c, cm->bit, argc - first, argv + first);
  } else if (!st && (cm->bit & (CMD_TRAIN | CMD_COMPARE)) && cli_is_detection(&c)) {
    /* detection: SSD's recipe under the flags given */
    cli_cfg_defaults(&c, cm->bit);
    if (cm->defaults) cm->defaults(&c);
    cmd_detection_recipe(&c);
    st = cli_cfg_parse(&c, cm->bit, argc - first, argv + first);
  }
  if (!st) st = cli_cfg_validate(&c, cm->bit);
  if (!st && cli_ranks() > 1 && !(cm->bit & (CMD_TRAIN | CMD_COMPARE | CMD_REPRODUCE)))
    st = gc_error_set(GC_ERR_ARG, __FILE__, __LINE__, "%s runs on one process; of the commands only train, compare "
                      "and reproduce run on several (mpirun)", cm->name ? cm->name : "gafcl without a command");
  if (st) {
    int rc = cli_fail(st, cm->name ? cm->name : "gafcl");
    if (st == GC_ERR_ARG && !cm->name) usage(stderr);
    return rc;
  }
  return cm->run(&c);
}
