/* The flag table: one row per flag (name, type, default, range, help, which commands take it, whether
 * it is part of a run's recipe). Parsing, validation, --help, and reading and writing config.json all
 * come from it. A new flag is a field of gafcl_cfg (cli.h) and a row here. */
#include "cli.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- checks that need the libraries ---- */

static int check_net(const gafcl_cfg *c) {
  gc_net_spec s;
  return gc_net_spec_init(&s, c->net, c->imagenet);
}
static int check_nets(const gafcl_cfg *c) {
  char buf[sizeof c->nets];
  snprintf(buf, sizeof buf, "%s", c->nets);
  int any = 0;
  for (char *save = NULL, *n = strtok_r(buf, ",", &save); n; n = strtok_r(NULL, ",", &save)) {
    gc_net_spec s;
    int st = gc_net_spec_init(&s, n, c->imagenet);
    if (st) return st;
    any = 1;
  }
  if (!any) GC_FAIL(GC_ERR_ARG, "--nets '%s': comma-separated network names expected", c->nets);
  return GC_OK;
}
static int check_image_size(const gafcl_cfg *c) {
  if (c->image_size != 0 && c->image_size < 8) GC_FAIL(GC_ERR_ARG, "--image-size %ld: 8 or more (0: the default)", c->image_size);
  return GC_OK;
}
static int check_optimizer(const gafcl_cfg *c) {
  gc_opt_kind k;
  return gc_opt_parse(c->optimizer, &k);
}
static int check_gaf(const gafcl_cfg *c) {
  gc_gaf_type t;
  return gc_gaf_parse(c->gaf, &t);
}
static int check_conv_algo(const gafcl_cfg *c) {
  if (!c->conv_algo[0] || !strcmp(c->conv_algo, "measure") || !strcmp(c->conv_algo, "heuristic")) return GC_OK;
  char list[256] = "measure, heuristic";
  for (int i = 0; i < gc_conv_algo_count(); i++) {
    if (!strcmp(c->conv_algo, gc_conv_algo_name(i))) return GC_OK;
    strncat(list, ", ", sizeof list - strlen(list) - 1);
    strncat(list, gc_conv_algo_name(i), sizeof list - strlen(list) - 1);
  }
  GC_FAIL(GC_ERR_ARG, "--conv-algo '%s': use %s", c->conv_algo, list);
}

/* ---- the table ---- */

#define F(field) offsetof(gafcl_cfg, field), sizeof(((gafcl_cfg *)0)->field)
#define ALL (CMD_MAIN | CMD_DEVICES | CMD_SELFCHECK | CMD_NETS | CMD_RUNS | CMD_EVAL | CMD_STEPS | CMD_BENCH | CMD_BENCH_CONV | CMD_TUNE | CMD_DETECT | CMD_LANDSCAPE)
#define DEV (CMD_RUNS | CMD_EVAL | CMD_STEPS | CMD_BENCH | CMD_BENCH_CONV | CMD_TUNE | CMD_DETECT | CMD_LANDSCAPE) /* commands that run networks or layers */
#define OPT (CMD_RUNS | CMD_STEPS)                       /* commands that build an optimizer */
#define BIG 1e15                                         /* "no upper bound" that still fits every integer type */
#define R FP_RECIPE

static const flag_def flags[] = {
    /* name, type, field, default, lo, hi, lo_open, choices, metavar, commands, properties, check, help */
    {"device", FT_STR, F(device), "", 0, 0, 0, NULL, "SEL", ALL, 0, NULL,
     "device by index (P:D or N) or by a case-insensitive substring of the platform, vendor or device name "
     "(default: $GAFCL_DEVICE, else the first GPU, else the first device); several processes (mpirun): a "
     "comma-separated list, item (local rank mod count) for each, and without one each local rank its own GPU"},
    {"conv-algo", FT_STR, F(conv_algo), "", 0, 0, 0, NULL, "MODE", DEV, 0, check_conv_algo,
     "convolution algorithm: measure (the fastest per shape, remembered in the cache), heuristic, or an "
     "algorithm's name (default: $GAFCL_CONV_ALGO, else measure)"},
    {"net", FT_STR, F(net), "resnet18", 0, 0, 0, NULL, "NAME", CMD_RUNS | CMD_EVAL | CMD_STEPS | CMD_DETECT | CMD_LANDSCAPE, R, check_net,
     "network (gafcl nets lists them)"},
    {"imagenet", FT_BOOL, F(imagenet), "0", 0, 0, 0, NULL, NULL, CMD_RUNS | CMD_EVAL | CMD_STEPS | CMD_BENCH | CMD_BENCH_CONV | CMD_TUNE | CMD_LANDSCAPE, R, NULL,
     "the ImageNet form of the network (7x7/2 stem + max pool)"},
    {"data", FT_CHOICE, F(data), "fashion", 0, 0, 0, "fashion|cifar10|cifar100|folder|npy|synthetic|voc", "SET", CMD_RUNS | CMD_LANDSCAPE, R,
     NULL, "data set (voc: Pascal VOC or a gafcl make-shapes folder in its layout, for the SSD nets)"},
    {"train-sets", FT_STR, F(train_sets), "2007-trainval,2012-trainval", 0, 0, 0, NULL, "Y-SET,...", CMD_RUNS, R, NULL,
     "--data voc: the training image sets (DIR/VOC<Y>/ImageSets/Main/<SET>.txt)"},
    {"test-set", FT_STR, F(test_set), "2007-test", 0, 0, 0, NULL, "Y-SET,...", CMD_RUNS, R, NULL,
     "--data voc: the test image sets"},
    {"iterations", FT_INT, F(iterations), "0", 0, BIG, 0, NULL, "N", CMD_RUNS, R, NULL,
     "train N iterations (rounded up to whole epochs; 0: --epochs decides)"},
    {"data-dir", FT_STR, F(data_dir), "", 0, 0, 0, NULL, "DIR", CMD_RUNS | CMD_DETECT | CMD_LANDSCAPE, R, NULL,
     "the data set's folder (fashion: the Debian package's by default; folder: DIR/train/<class>/*.jpg, DIR/val/...)"},
    {"image-size", FT_INT, F(image_size), "0", 0, 4096, 0, NULL, "N", CMD_RUNS | CMD_LANDSCAPE, R, check_image_size,
     "--data folder: images are cropped and resized to N x N (default 224 with --imagenet, else 32)"},
    {"images", FT_STR, F(images), "", 0, 0, 0, NULL, "X.npy", CMD_RUNS | CMD_EVAL | CMD_STEPS | CMD_DETECT | CMD_LANDSCAPE, R, NULL,
     "float32 images (N, C, H, W), already normalised (--data npy; eval and steps: the batch; detect: a JPEG file "
     "or a folder of them)"},
    {"images", FT_INT, F(shape_images), "1000", 1, 10000000, 0, NULL, "N", CMD_MAKE_SHAPES, 0, NULL, "images to write"},
    {"size", FT_INT, F(shape_size), "128", 32, 4096, 0, NULL, "N", CMD_MAKE_SHAPES, 0, NULL, "image width and height"},
    {"labels", FT_STR, F(labels), "", 0, 0, 0, NULL, "Y.npy", CMD_RUNS | CMD_EVAL | CMD_STEPS | CMD_LANDSCAPE, R, NULL,
     "integer labels (N) of --images"},
    {"test-images", FT_STR, F(test_images), "", 0, 0, 0, NULL, "X.npy", CMD_RUNS, R, NULL,
     "--data npy: the test images (default: the training set)"},
    {"test-labels", FT_STR, F(test_labels), "", 0, 0, 0, NULL, "Y.npy", CMD_RUNS, R, NULL, "--data npy: the test labels"},
    {"subset", FT_INT, F(subset), "0", 0, BIG, 0, NULL, "N", CMD_RUNS | CMD_LANDSCAPE, R, NULL, "train on the first N images (0: all)"},
    {"test-subset", FT_INT, F(test_subset), "0", 0, BIG, 0, NULL, "N", CMD_RUNS, R, NULL,
     "test on the first N images (0: all)"},
    {"epochs", FT_INT, F(epochs), "10", 1, 1000000, 0, NULL, "N", CMD_RUNS, R, NULL, "epochs"},
    {"batch", FT_INT, F(batch), "128", 1, 1 << 24, 0, NULL, "N", CMD_RUNS | CMD_BENCH | CMD_BENCH_CONV | CMD_TUNE | CMD_NETS | CMD_LANDSCAPE, R, NULL,
     "batch size (nets: for the memory figures)"},
    {"lr", FT_DOUBLE, F(lr), "0.1", 0, BIG, 1, NULL, "X", OPT, R, NULL, "learning rate"},
    {"optimizer", FT_STR, F(optimizer), "sgdm", 0, 0, 0, NULL, "NAME", OPT, R, check_optimizer,
     "sgd, sgdm, nesterov, adam or adamw"},
    {"momentum", FT_DOUBLE, F(momentum), "0.9", 0, BIG, 0, NULL, "X", OPT, R, NULL, "momentum (Adam: beta1)"},
    {"weight-decay", FT_DOUBLE, F(weight_decay), "5e-4", 0, BIG, 0, NULL, "X", OPT, R, NULL, "weight decay"},
    {"no-wd-bn-bias", FT_BOOL, F(no_wd_bn_bias), "0", 0, 0, 0, NULL, NULL, OPT, R, NULL,
     "no weight decay on batch-norm parameters and biases"},
    {"gaf", FT_STR, F(gaf), "none", 0, 0, 0, NULL, "TYPE", OPT | CMD_GAF_CURVE, R, check_gaf,
     "gradient activation function: none, arctan, tanh or log"},
    {"gaf-alpha", FT_DOUBLE, F(gaf_alpha), "0.1", 0, BIG, 1, NULL, "X", OPT | CMD_GAF_CURVE, R, NULL, "the GAF's alpha (range)"},
    {"gaf-beta", FT_DOUBLE, F(gaf_beta), "20", 0, BIG, 1, NULL, "X", OPT | CMD_GAF_CURVE, R, NULL, "the GAF's beta (slope near 0)"},
    {"gaf-pos", FT_CHOICE, F(gaf_pos), "momentum", 0, 0, 0, "momentum|grad", "POS", OPT, R, NULL,
     "the GAF on the momentum direction (the paper's SGDM tables) or on the raw gradient"},
    {"clip", FT_CHOICE, F(clip), "none", 0, 0, 0, "none|value|norm", "KIND", OPT | CMD_GAF_CURVE, R, NULL, "gradient clipping baseline"},
    {"clip-threshold", FT_DOUBLE, F(clip_threshold), "0.1", 0, BIG, 0, NULL, "X", OPT | CMD_GAF_CURVE, R, NULL, "clipping threshold"},
    {"schedule", FT_CHOICE, F(schedule), "cosine", 0, 0, 0, "cosine|warmup-cosine|constant|step", "KIND", CMD_RUNS, R, NULL,
     "learning-rate schedule (warmup-cosine: the official ImageNet one, the cosine starting after the warm-up; "
     "cosine: over all epochs, times the warm-up ramp)"},
    {"per-iteration", FT_BOOL, F(per_iteration), "0", 0, 0, 0, NULL, NULL, CMD_RUNS, R, NULL,
     "cosine: anneal every iteration instead of every epoch"},
    {"milestones", FT_LIST, F(milestones), "", 0, 1000000, 0, NULL, "E1,E2", CMD_RUNS, R, NULL,
     "step schedule: epochs at which the learning rate is divided by 10"},
    {"warmup-iters", FT_INT, F(warmup_iters), "0", 0, BIG, 0, NULL, "N", CMD_RUNS, R, NULL,
     "linear learning-rate warm-up over the first N iterations"},
    {"warmup-epochs", FT_INT, F(warmup_epochs), "0", 0, 1000000, 0, NULL, "N", CMD_RUNS, R, NULL,
     "linear learning-rate warm-up over the first N epochs (added to --warmup-iters)"},
    {"last-batch", FT_CHOICE, F(last_batch), "drop", 0, 0, 0, "drop|keep", "WHAT", CMD_RUNS, R, NULL,
     "the last partial training batch of an epoch: dropped, or trained on its images alone (as PyTorch's "
     "loaders without drop_last; classification)"},
    {"augment", FT_INT, F(augment), "1", 0, 1, 0, NULL, "0|1", CMD_RUNS, R, NULL,
     "random crop and flip on the CIFAR sets; SSD's augmentation (photometric, zoom-out, min-IoU crop, flip) on --data voc"},
    {"seed", FT_U64, F(seed), "1", 0, 0, 0, NULL, "N", CMD_RUNS | CMD_EVAL | CMD_STEPS | CMD_MAKE_SHAPES | CMD_LANDSCAPE, R, NULL,
     "seed of the initial weights, the shuffling and the augmentation"},
    {"on-nonfinite", FT_CHOICE, F(on_nonfinite), "skip", 0, 0, 0, "skip|stop", "WHAT", CMD_RUNS, R, NULL,
     "a step with NaN/Inf gradients is skipped, or stops the run"},
    {"init", FT_STR, F(init), "", 0, 0, 0, NULL, "FILE", CMD_RUNS, R, NULL,
     "start from these weights (a model .safetensors)"},
    {"out", FT_STR, F(out), "", 0, 0, 0, NULL, "DIR", CMD_RUNS, 0, NULL,
     "the run's folder: config.json, metrics.jsonl, steps.jsonl, and checkpoints every epoch "
     "(model.safetensors with PyTorch names, state.safetensors; reproduce: a folder per run inside)"},
    {"resume", FT_STR, F(resume), "", 0, 0, 0, NULL, "DIR", CMD_TRAIN | CMD_COMPARE, 0, NULL,
     "continue a run from the last checkpoint in its folder"},
    {"bn-mode", FT_CHOICE, F(bn_mode), "batch", 0, 0, 0, "batch|sync|frozen", "MODE", CMD_RUNS, R, NULL,
     "batch norm in training steps: the batch's statistics (with several processes each its own share's, as "
     "PyTorch's DDP), sync: the whole global batch's (synchronised across the processes; one process: as batch), or "
     "frozen: the running statistics, as in evaluation, left unchanged"},
    {"bucket-mb", FT_DOUBLE, F(bucket_mb), "5", 0, 4096, 1, NULL, "MB", CMD_TRAIN | CMD_COMPARE | CMD_REPRODUCE, 0, NULL,
     "several processes (mpirun): gradients are averaged in buckets of this many MiB, each as soon as the backward "
     "pass has written it"},
    {"overlap", FT_INT, F(overlap), "1", 0, 1, 0, NULL, "0|1", CMD_TRAIN | CMD_COMPARE | CMD_REPRODUCE, 0, NULL,
     "several processes: reduce the gradient buckets while the backward pass runs (0: after it; the same bits)"},
    {"comm-timeout", FT_INT, F(comm_timeout), "600", 1, 86400, 0, NULL, "S", CMD_TRAIN | CMD_COMPARE | CMD_REPRODUCE, 0, NULL,
     "several processes: a collective that has not completed after S seconds ends the run (a rank died or hangs)"},
    {"comm-loopback", FT_BOOL, F(comm_loopback), "0", 0, 0, 0, NULL, NULL, CMD_TRAIN | CMD_COMPARE | CMD_REPRODUCE, 0, NULL,
     "one process: run the data-parallel path against itself (gradients copied to host memory in buckets, summed, "
     "copied back; the same bits): measures its cost on one device"},
    {"stop-after", FT_INT, F(stop_after), "0", 0, 1000000, 0, NULL, "N", CMD_TRAIN | CMD_COMPARE, 0, NULL,
     "end this invocation after N epochs (0: run to the end)"},
    {"table", FT_INT, F(table), "2", 1, 4, 0, NULL, "1|2|3|4", CMD_REPRODUCE, 0, NULL,
     "the paper's table: 1 (ImageNet folders, SGD-momentum, GAF and clipping rows), 2 (CIFAR-100, 7 GAF variants), "
     "3 (Adam) or 4 (SSD300 on Pascal VOC)"},
    {"suggest-epochs", FT_INT, F(suggest_epochs), "1", 1, 1000000, 0, NULL, "N", CMD_GAF_SUGGEST, 0, NULL,
     "epochs of the recipe trained without the GAF to record the gradients"},
    {"points", FT_INT, F(points), "41", 3, 100001, 0, NULL, "N", CMD_LANDSCAPE | CMD_GAF_CURVE, 0, NULL,
     "landscape: step sizes along the direction; gaf-curve: gradient values"},
    {"range", FT_DOUBLE, F(range), "1", 0, BIG, 1, NULL, "X", CMD_LANDSCAPE | CMD_GAF_CURVE, 0, NULL,
     "landscape: step sizes from -X to X (times the filter-normalised direction); gaf-curve: gradients from -X to X"},
    {"out", FT_STR, F(out), "", 0, 0, 0, NULL, "FILE", CMD_LANDSCAPE | CMD_GAF_CURVE, 0, NULL,
     "write the JSON lines there (default: stdout)"},
    {"seeds", FT_INT, F(seeds), "1", 1, 1000, 0, NULL, "N", CMD_REPRODUCE, 0, NULL, "seeds per variant"},
    {"weights", FT_STR, F(weights), "", 0, 0, 0, NULL, "W.safetensors", CMD_EVAL | CMD_STEPS | CMD_DETECT | CMD_LANDSCAPE, 0, NULL,
     "weights with PyTorch names (else initialised from --seed)"},
    {"outputs", FT_STR, F(outputs), "", 0, 0, 0, NULL, "DIR", CMD_EVAL, 0, NULL,
     "detection nets: write loc.npy (N, priors, 4) and conf.npy (N, priors, classes), pre-softmax, into DIR"},
    {"targets", FT_STR, F(targets), "", 0, 0, 0, NULL, "T.npy", CMD_EVAL | CMD_STEPS, 0, NULL,
     "detection nets: float32 (N, K, 5) targets, xmin ymin xmax ymax in [0, 1] and the class from 0 (-1: padding)"},
    {"logits", FT_STR, F(logits), "", 0, 0, 0, NULL, "OUT.npy", CMD_EVAL, 0, NULL, "where the logits go"},
    {"bn-train", FT_BOOL, F(bn_train), "0", 0, 0, 0, NULL, NULL, CMD_EVAL, 0, NULL,
     "batch statistics (train-mode batch norm) instead of the running statistics"},
    {"steps", FT_INT, F(steps), "1", 1, 1000000, 0, NULL, "N", CMD_STEPS, 0, NULL, "training steps on the batch"},
    {"save", FT_STR, F(save), "", 0, 0, 0, NULL, "OUT.safetensors", CMD_STEPS, 0, NULL, "where the weights go"},
    {"classes", FT_INT, F(classes), "0", 0, 1000000, 0, NULL, "N", CMD_EVAL | CMD_STEPS | CMD_BENCH | CMD_BENCH_CONV | CMD_TUNE, 0, NULL,
     "classifier outputs (0: eval and steps 10, bench the form's default)"},
    {"nets", FT_STR, F(nets), "resnet18", 0, 0, 0, NULL, "A,B", CMD_BENCH | CMD_BENCH_CONV | CMD_TUNE, 0, check_nets, "networks to benchmark"},
    {"size", FT_INT, F(size), "0", 0, 4096, 0, NULL, "N", CMD_BENCH | CMD_BENCH_CONV | CMD_TUNE, 0, NULL, "input size (0: the form's default)"},
    {"iters", FT_INT, F(iters), "3", 1, 1000000, 0, NULL, "N", CMD_BENCH | CMD_BENCH_CONV, 0, NULL,
     "iterations per measurement (bench-conv: timed runs per pass and algorithm, the median kept)"},
    {"repeats", FT_INT, F(repeats), "3", 1, 10000, 0, NULL, "N", CMD_BENCH, 0, NULL,
     "alternating baseline / GAF repeats"},
    {"epoch-iters", FT_INT, F(epoch_iters), "196", 1, 100000000, 0, NULL, "N", CMD_BENCH, 0, NULL,
     "iterations of an epoch (196: CIFAR at batch 256)"},
    {"profile", FT_INT, F(profile), "2", 0, 100000, 0, NULL, "N", CMD_BENCH, 0, NULL,
     "iterations with every layer timed on its own (0: none)"},
    {"out", FT_STR, F(out), "", 0, 0, 0, NULL, "FILE", CMD_BENCH | CMD_BENCH_CONV, 0, NULL, "write the results as JSON"},
    {"out", FT_STR, F(out), "", 0, 0, 0, NULL, "FILE", CMD_DETECT, 0, NULL, "write the detections there (default: stdout)"},
    {"out", FT_STR, F(out), "", 0, 0, 0, NULL, "DIR", CMD_MAKE_SHAPES, 0, NULL, "the folder to write (or the first argument)"},
    {"budget", FT_INT, F(budget), "300", 1, 1000000, 0, NULL, "SECONDS", CMD_TUNE, 0, NULL,
     "time for the own GEMMs' tile search (the current tiles are always measured; half for each kernel)"},
    {"clblast-budget", FT_INT, F(clblast_budget), "300", 0, 1000000, 0, NULL, "SECONDS", CMD_TUNE, 0, NULL,
     "time for the search of CLBlast's GEMM parameters (Xgemm, XgemmDirect, the direct/indirect threshold; 0: none)"},
    {"tune-stage", FT_CHOICE, F(tune_stage), "", 0, 0, 0, "|xgemm|direct|threshold", "STAGE", CMD_TUNE, 0, NULL,
     "internal: one stage of the CLBlast search, in the fresh process tune starts for it"},
    {"verbose", FT_BOOL, F(verbose), "0", 0, 0, 0, NULL, NULL, CMD_SELFCHECK | CMD_MAIN, 0, NULL,
     "a line per passed check"},
};

int cli_flag_count(void) { return (int)(sizeof flags / sizeof flags[0]); }
const flag_def *cli_flag(int i) { return i >= 0 && i < cli_flag_count() ? &flags[i] : NULL; }

static const flag_def *find(const char *name, unsigned cmd) {
  for (int i = 0; i < cli_flag_count(); i++)
    if ((flags[i].cmds & cmd) && !strcmp(flags[i].name, name)) return &flags[i];
  return NULL;
}

/* ---- setting one value from text: the one place a value is parsed and range-checked ---- */

static void *field(gafcl_cfg *c, const flag_def *f) { return (char *)c + f->off; }
static const void *cfield(const gafcl_cfg *c, const flag_def *f) { return (const char *)c + f->off; }

static int set_text(gafcl_cfg *c, const flag_def *f, const char *v, int check_range) {
  char *end = NULL;
  void *p = field(c, f);
  switch (f->type) {
  case FT_STR:
    if (strlen(v) >= f->size) GC_FAIL(GC_ERR_ARG, "--%s: value too long (%zu characters, at most %zu)", f->name, strlen(v), f->size - 1);
    snprintf(p, f->size, "%s", v);
    return GC_OK;
  case FT_CHOICE: {
    size_t n = strlen(v);
    for (const char *s = f->choices; *s;) {
      size_t k = strcspn(s, "|");
      if (k == n && !strncmp(s, v, n)) {
        snprintf(p, f->size, "%s", v);
        return GC_OK;
      }
      s += k + (s[k] == '|');
    }
    char list[256] = "";
    int total = 1;
    for (const char *s = f->choices; *s; s++) total += *s == '|';
    int i = 0;
    for (const char *s = f->choices; *s; i++) { /* "a, b or c" */
      size_t k = strcspn(s, "|");
      size_t len = strlen(list);
      snprintf(list + len, sizeof list - len, "%s%.*s", i == 0 ? "" : i == total - 1 ? " or " : ", ", (int)k, s);
      s += k + (s[k] == '|');
    }
    GC_FAIL(GC_ERR_ARG, "--%s '%s': %s", f->name, v, list);
  }
  case FT_INT: {
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno == ERANGE || end == v || *end) GC_FAIL(GC_ERR_ARG, "--%s '%s': an integer expected", f->name, v);
    if (check_range && x < (long long)f->lo) GC_FAIL(GC_ERR_ARG, "--%s '%s': an integer >= %.0f expected", f->name, v, f->lo);
    if (check_range && (double)x > f->hi) GC_FAIL(GC_ERR_ARG, "--%s '%s': an integer <= %.0f expected", f->name, v, f->hi);
    *(long *)p = (long)x;
    return GC_OK;
  }
  case FT_U64: {
    errno = 0;
    while (*v == ' ') v++;
    unsigned long long x = strtoull(v, &end, 10);
    if (*v == '-' || *v == '+' || errno == ERANGE || end == v || *end)
      GC_FAIL(GC_ERR_ARG, "--%s '%s': an integer in [0, 18446744073709551615] expected", f->name, v);
    *(unsigned long long *)p = x;
    return GC_OK;
  }
  case FT_DOUBLE: {
    errno = 0;
    double x = strtod(v, &end);
    if (end == v || *end || !isfinite(x) || (f->lo_open && check_range && !(x > f->lo)))
      GC_FAIL(GC_ERR_ARG, "--%s '%s': a %s number expected", f->name, v, f->lo_open && f->lo == 0 ? "positive" : "finite");
    if (check_range && (x < f->lo || x > f->hi))
      GC_FAIL(GC_ERR_ARG, "--%s '%s': a number in [%g, %g] expected", f->name, v, f->lo, f->hi);
    /* every such setting reaches the device as a float: an underflow or overflow there is not the value asked for */
    if ((errno == ERANGE && fabs(x) < 1.0) || (x != 0 && ((float)x == 0.0f || isinf((float)x))))
      GC_FAIL(GC_ERR_ARG, "--%s '%s': outside the range of a float", f->name, v);
    *(double *)p = x;
    return GC_OK;
  }
  case FT_BOOL:
    if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes")) *(int *)p = 1;
    else if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no")) *(int *)p = 0;
    else GC_FAIL(GC_ERR_ARG, "--%s '%s': 1 or 0 (true or false) expected", f->name, v);
    return GC_OK;
  case FT_LIST: { /* comma-separated integers, kept normalised */
    char out[160] = "";
    size_t len = 0;
    int n = 0;
    const char *s = v;
    while (*s) {
      errno = 0;
      long long x = strtoll(s, &end, 10);
      if (errno || end == s || x < (long long)f->lo || (double)x > f->hi || (*end && *end != ','))
        GC_FAIL(GC_ERR_ARG, "--%s '%s': comma-separated integers in [%.0f, %.0f] expected", f->name, v, f->lo, f->hi);
      if (++n > 16) GC_FAIL(GC_ERR_ARG, "--%s '%s': at most 16 values", f->name, v);
      len += (size_t)snprintf(out + len, sizeof out - len, "%s%lld", n > 1 ? "," : "", x);
      s = *end ? end + 1 : end;
      if (*end && !*s) GC_FAIL(GC_ERR_ARG, "--%s '%s': a value is missing after the last comma", f->name, v);
    }
    if (len >= f->size) GC_FAIL(GC_ERR_ARG, "--%s: value too long", f->name);
    snprintf(p, f->size, "%s", out);
    return GC_OK;
  }
  }
  GC_FAIL(GC_ERR_ARG, "--%s: unknown type", f->name);
}

void cli_cfg_defaults(gafcl_cfg *c, unsigned cmd) {
  memset(c, 0, sizeof *c);
  for (int i = 0; i < cli_flag_count(); i++)
    if (flags[i].cmds & cmd) set_text(c, &flags[i], flags[i].def, 0);
}

/* ---- config.json ---- */

static int json_value_text(const flag_def *f, const cJSON *it, char *val, size_t cap, const char *what) {
  const char *key = f->name;
  switch (f->type) {
  case FT_STR:
  case FT_CHOICE:
    if (!cJSON_IsString(it)) GC_FAIL(GC_ERR_FORMAT, "%s: \"%s\" must be a string", what, key);
    if (strlen(it->valuestring) >= cap) GC_FAIL(GC_ERR_FORMAT, "%s: \"%s\" is too long", what, key);
    snprintf(val, cap, "%s", it->valuestring);
    return GC_OK;
  case FT_INT:
    if (!cJSON_IsNumber(it) || it->valuedouble != floor(it->valuedouble) || fabs(it->valuedouble) > 9.0e15)
      GC_FAIL(GC_ERR_FORMAT, "%s: \"%s\" must be an integer", what, key);
    snprintf(val, cap, "%.0f", it->valuedouble);
    return GC_OK;
  case FT_U64: /* a number while exact in a double, else a string of digits */
    if (cJSON_IsString(it)) {
      snprintf(val, cap, "%s", it->valuestring);
      return GC_OK;
    }
    if (!cJSON_IsNumber(it) || it->valuedouble != floor(it->valuedouble) || it->valuedouble < 0 ||
        it->valuedouble > 9007199254740992.0)
      GC_FAIL(GC_ERR_FORMAT, "%s: \"%s\" must be a non-negative integer (as a string above 2^53)", what, key);
    snprintf(val, cap, "%.0f", it->valuedouble);
    return GC_OK;
  case FT_DOUBLE:
    if (!cJSON_IsNumber(it)) GC_FAIL(GC_ERR_FORMAT, "%s: \"%s\" must be a number", what, key);
    snprintf(val, cap, "%.17g", it->valuedouble);
    return GC_OK;
  case FT_BOOL:
    if (cJSON_IsBool(it)) snprintf(val, cap, "%d", cJSON_IsTrue(it) ? 1 : 0);
    else if (cJSON_IsNumber(it) && (it->valuedouble == 0 || it->valuedouble == 1)) snprintf(val, cap, "%.0f", it->valuedouble);
    else GC_FAIL(GC_ERR_FORMAT, "%s: \"%s\" must be true or false", what, key);
    return GC_OK;
  case FT_LIST:
    if (cJSON_IsString(it)) {
      snprintf(val, cap, "%s", it->valuestring);
      return GC_OK;
    }
    if (!cJSON_IsArray(it)) GC_FAIL(GC_ERR_FORMAT, "%s: \"%s\" must be an array of integers", what, key);
    val[0] = '\0';
    const cJSON *m;
    cJSON_ArrayForEach(m, it) {
      if (!cJSON_IsNumber(m) || m->valuedouble != floor(m->valuedouble) || fabs(m->valuedouble) > 9.0e15)
        GC_FAIL(GC_ERR_FORMAT, "%s: \"%s\" must be an array of integers", what, key);
      size_t len = strlen(val);
      if (len + 24 >= cap) GC_FAIL(GC_ERR_FORMAT, "%s: \"%s\" has too many values", what, key);
      snprintf(val + len, cap - len, "%s%.0f", len ? "," : "", m->valuedouble);
    }
    return GC_OK;
  }
  GC_FAIL(GC_ERR_FORMAT, "%s: \"%s\": unknown type", what, key);
}

int cli_cfg_load_json(gafcl_cfg *c, unsigned cmd, const char *text, const char *what) {
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithOpts(text, &end, 1);
  if (!root || !cJSON_IsObject(root)) {
    cJSON_Delete(root);
    GC_FAIL(GC_ERR_FORMAT, "%s: not a JSON object (or trailing data after it)", what);
  }
  int st = 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, root) {
    const flag_def *f = it->string ? find(it->string, cmd) : NULL;
    if (!f && it->string && find(it->string, ~0u)) continue; /* another command's flag (a run's config.json
                                                                 given to eval or steps): not this one's */
    if (!f) {
      st = gc_error_set(GC_ERR_ARG, __FILE__, __LINE__, "%s: unknown option --%s", what, it->string ? it->string : "?");
      break;
    }
    char val[600];
    if ((st = json_value_text(f, it, val, sizeof val, what)) != 0) break;
    if ((st = set_text(c, f, val, 1)) != 0) {
      gc_error_prefix(st, "%s: ", what);
      break;
    }
  }
  cJSON_Delete(root);
  return st;
}

/* a --config file: a regular file of at most 1 MiB (a FIFO or a device would block or never end) */
static int load_file(gafcl_cfg *c, unsigned cmd, const char *path) {
  char what[600];
  snprintf(what, sizeof what, "--config %s", path);
  int fd = open(path, O_RDONLY | O_NONBLOCK);
  if (fd < 0) GC_FAIL(GC_ERR_IO, "%s: %s", what, strerror(errno));
  struct stat sb;
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    close(fd);
    GC_FAIL(GC_ERR_IO, "%s: not a regular file", what);
  }
  if (sb.st_size > (1 << 20)) {
    close(fd);
    GC_FAIL(GC_ERR_FORMAT, "%s: larger than 1 MiB", what);
  }
  char *buf = malloc((size_t)sb.st_size + 1);
  if (!buf) {
    close(fd);
    GC_FAIL(GC_ERR_HOST_MEM, "%s", what);
  }
  size_t got = 0;
  while (got < (size_t)sb.st_size) {
    ssize_t r = read(fd, buf + got, (size_t)sb.st_size - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
  }
  close(fd);
  buf[got] = '\0';
  int st = got == 0 ? gc_error_set(GC_ERR_FORMAT, __FILE__, __LINE__, "%s: empty", what)
           : strlen(buf) != got ? gc_error_set(GC_ERR_FORMAT, __FILE__, __LINE__, "%s: holds a NUL byte", what)
                                : cli_cfg_load_json(c, cmd, buf, what);
  free(buf);
  return st;
}

int cli_cfg_parse(gafcl_cfg *c, unsigned cmd, int argc, char **argv) {
  for (int i = 0; i < argc; i++)
    if (!strcmp(argv[i], "--config") || !strncmp(argv[i], "--config=", 9)) {
      const char *p = argv[i][8] == '=' ? argv[i] + 9 : i + 1 < argc ? argv[i + 1] : NULL;
      if (!p) GC_FAIL(GC_ERR_ARG, "--config needs a file");
      int st = load_file(c, cmd, p);
      if (st) return st;
    }
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--config")) {
      i++;
      continue;
    }
    if (!strncmp(a, "--config=", 9)) continue;
    char key[64];
    const char *val = NULL;
    if (!strcmp(a, "-v")) {
      snprintf(key, sizeof key, "verbose");
      val = "1";
    } else if (strncmp(a, "--", 2) != 0) {
      GC_FAIL(GC_ERR_ARG, "unexpected argument '%s'", a);
    } else {
      const char *eq = strchr(a, '=');
      size_t klen = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
      if (klen >= sizeof key) GC_FAIL(GC_ERR_ARG, "unknown option %.80s", a);
      memcpy(key, a + 2, klen);
      key[klen] = '\0';
      if (eq) val = eq + 1;
    }
    const flag_def *f = find(key, cmd);
    if (!f) GC_FAIL(GC_ERR_ARG, "unknown option --%s", key);
    if (!val) {
      if (f->type == FT_BOOL) {
        val = "1";
      } else {
        if (i + 1 >= argc) GC_FAIL(GC_ERR_ARG, "--%s needs a value", key);
        val = argv[++i];
      }
    }
    int st = set_text(c, f, val, 1);
    if (st) return st;
  }
  return GC_OK;
}

int cli_cfg_validate(const gafcl_cfg *c, unsigned cmd) {
  for (int i = 0; i < cli_flag_count(); i++)
    if ((flags[i].cmds & cmd) && flags[i].check) {
      int st = flags[i].check(c);
      if (st) return st;
    }
  return GC_OK;
}

char *cli_cfg_json(const gafcl_cfg *c, unsigned cmd, int recipe_only) {
  cJSON *o = cJSON_CreateObject();
  if (!o) return NULL;
  for (int i = 0; i < cli_flag_count(); i++) {
    const flag_def *f = &flags[i];
    if (!(f->cmds & cmd) || (recipe_only && !(f->props & FP_RECIPE))) continue;
    const void *p = cfield(c, f);
    switch (f->type) {
    case FT_STR:
    case FT_CHOICE: cJSON_AddStringToObject(o, f->name, (const char *)p); break;
    case FT_INT: cJSON_AddNumberToObject(o, f->name, (double)*(const long *)p); break;
    case FT_U64: {
      unsigned long long v = *(const unsigned long long *)p;
      if (v <= 9007199254740992ull) {
        cJSON_AddNumberToObject(o, f->name, (double)v);
      } else {
        char s[24];
        snprintf(s, sizeof s, "%llu", v);
        cJSON_AddStringToObject(o, f->name, s);
      }
      break;
    }
    case FT_DOUBLE: { /* the shortest text that reads back as the same double (cJSON's own is only close) */
      double v = *(const double *)p;
      char t[40];
      for (int prec = 15; prec <= 17; prec++) {
        snprintf(t, sizeof t, "%.*g", prec, v);
        if (strtod(t, NULL) == v) break;
      }
      cJSON_AddRawToObject(o, f->name, t);
      break;
    }
    case FT_BOOL: cJSON_AddBoolToObject(o, f->name, *(const int *)p != 0); break;
    case FT_LIST: {
      cJSON *a = cJSON_AddArrayToObject(o, f->name);
      for (const char *s = p; *s;) {
        char *end;
        cJSON_AddItemToArray(a, cJSON_CreateNumber((double)strtoll(s, &end, 10)));
        s = *end ? end + 1 : end;
      }
      break;
    }
    }
  }
  char *s = cJSON_Print(o);
  cJSON_Delete(o);
  return s;
}

void cli_cfg_help(FILE *out, const gafcl_cfg *c, unsigned cmd) {
  for (int i = 0; i < cli_flag_count(); i++) {
    const flag_def *f = &flags[i];
    if (!(f->cmds & cmd)) continue;
    char head[96], def[200] = "";
    if (f->type == FT_BOOL)
      snprintf(head, sizeof head, "--%s", f->name);
    else
      snprintf(head, sizeof head, "--%s %s", f->name, f->type == FT_CHOICE ? f->choices : f->metavar);
    const void *p = cfield(c, f);
    switch (f->type) {
    case FT_STR:
    case FT_CHOICE:
    case FT_LIST:
      if (*(const char *)p) snprintf(def, sizeof def, " (%s)", (const char *)p);
      break;
    case FT_INT: snprintf(def, sizeof def, " (%ld)", *(const long *)p); break;
    case FT_U64: snprintf(def, sizeof def, " (%llu)", *(const unsigned long long *)p); break;
    case FT_DOUBLE: snprintf(def, sizeof def, " (%g)", *(const double *)p); break;
    case FT_BOOL: break;
    }
    /* the text wrapped at 100 columns, continued under itself */
    char text[700];
    snprintf(text, sizeof text, "%s%s", f->help, def);
    fprintf(out, "  %-28s", head);
    if (strlen(head) > 28) fprintf(out, "\n%30s", "");
    int col = 30;
    for (char *save = NULL, *w = strtok_r(text, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
      int len = (int)strlen(w);
      if (col + 1 + len > 100 && col > 30) {
        fprintf(out, "\n%30s", "");
        col = 30;
      }
      fprintf(out, " %s", w);
      col += 1 + len;
    }
    fprintf(out, "\n");
  }
}
