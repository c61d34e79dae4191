/* The gafcl command-line program.
 *
 *   gafcl [--device SEL]            the main job (see README)
 *   gafcl devices                   list OpenCL devices
 *   gafcl selfcheck [--device SEL]  check kernels and GEMM on a device against the CPU reference
 *
 * Exit status: 0 success, 1 a run failed, 2 bad usage or no usable OpenCL device. */
#include "gafcl.h"
#include "gc_net.h"
#include "cli_train.h"
#include "cli_bench.h"

#include <sys/stat.h>
#include <errno.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: gafcl [COMMAND] [OPTIONS]\n"
          "\n"
          "commands:\n"
          "  (none)      the device table and the self-check\n"
          "  devices     list every OpenCL platform and device\n"
          "  selfcheck   check element-wise kernels and CLBlast GEMM against the CPU reference\n"
          "  train       train a network (flags below); prints per-epoch metrics, writes --out DIR/\n"
          "              config.json, metrics.jsonl (per epoch) and steps.jsonl (loss per step)\n"
          "  compare     train the same network twice from the same seed, without and with the GAF\n"
          "              (default arctan 0.1, 20) and print both side by side; without flags: a quick\n"
          "              run on a Fashion-MNIST subset\n"
          "  eval        logits of one batch: --images X.npy (float32 NCHW, normalised) [--labels Y.npy]\n"
          "              --weights W.safetensors --logits OUT.npy [--bn-train] [--classes K]\n"
          "  steps       N training steps on exactly one batch (no shuffling or augmentation), then\n"
          "              --save OUT.safetensors: --images, --labels, --steps N, optimizer/GAF flags\n"
          "  bench       epoch benchmark on synthetic data: --nets a,b (resnet18) --batch N (32)\n"
          "              --iters N (3) --repeats N (3) --epoch-iters N (196) [--size N] [--imagenet]\n"
          "              [--classes N] [--profile N (2): per-layer profiled iterations, 0: none]\n"
          "              [--out results.json]: forward/backward/optimizer times, GAF overhead,\n"
          "              per-layer device time\n"
          "  reproduce   the paper's CIFAR tables: --table 2 (CIFAR-100, SGD-momentum, 7 GAF variants) or\n"
          "              3 (Adam) --net N --data cifar10|cifar100 --data-dir DIR [--seeds N] [train flags]\n"
          "  nets        list the networks: parameters, forward GFLOPs per image, device memory at\n"
          "              --batch N (default 256) for the CIFAR forms and the ImageNet forms\n"
          "\n"
          "options:\n"
          "  --device SEL   device by index (P:D or N) or by a case-insensitive substring of the\n"
          "                 platform, vendor or device name (default: $GAFCL_DEVICE, else the first GPU,\n"
          "                 else the first device)\n"
          "  --batch N      batch size for `gafcl nets` memory figures\n"
          "  -h, --help     this text\n"
          "  --version      print the version\n"
          "\n"
          "train/compare flags (also as keys of a JSON file given with --config FILE):\n"
          "  --net NAME (resnet18)  --imagenet  --data fashion|cifar10|cifar100|folder|npy|synthetic\n"
          "  --data-dir DIR (folder: DIR/train/<class>/*.jpg and DIR/val/...)  --image-size N\n"
          "  --images X.npy --labels Y.npy [--test-images --test-labels] (--data npy)\n"
          "  --subset N  --test-subset N  --epochs N (10)  --batch N (128)  --lr X (0.1)  --seed N (1)\n"
          "  --optimizer sgd|sgdm|nesterov|adam|adamw (sgdm)  --momentum X (0.9)  --weight-decay X (5e-4)\n"
          "  --no-wd-bn-bias  --gaf none|arctan|tanh|log  --gaf-alpha X (0.1)  --gaf-beta X (20)\n"
          "  --gaf-pos momentum|grad  --clip none|value|norm  --clip-threshold X (0.1)\n"
          "  --schedule cosine|constant|step  --per-iteration  --milestones 30,60  --warmup-iters N\n"
          "  --augment 0|1 (crop+flip on CIFAR)  --on-nonfinite skip|stop  --out DIR (checkpoints each\n"
          "  epoch: model.safetensors with PyTorch names, state.safetensors)  --resume DIR  --init FILE\n"
          "  --stop-after N (epochs of this invocation)\n"
          "\n"
          "environment:\n"
          "  GAFCL_DEVICE      device selector, as --device\n"
          "  GAFCL_CACHE_DIR   program binary cache folder (default $XDG_CACHE_HOME/gafcl or\n"
          "                    ~/.cache/gafcl); 'off' disables the cache\n"
          "  GAFCL_KERNEL_DIR  read kernels/*.cl from this folder instead of the embedded copies\n");
}

/* Exit status for a failed library call: no platform/device is a setup problem (2). */
static int fail(int st, const char *what) {
  fprintf(stderr, "gafcl: %s: %s\n", what, gc_last_error());
  return (st == GC_ERR_NO_PLATFORM || st == GC_ERR_NO_DEVICE || st == GC_ERR_ARG) ? 2 : 1;
}

static void fmt_mem(cl_ulong bytes, char *out, size_t cap) {
  double g = (double)bytes / (1024.0 * 1024.0 * 1024.0);
  if (g >= 1.0)
    snprintf(out, cap, "%.1f GiB", g);
  else
    snprintf(out, cap, "%.0f MiB", (double)bytes / (1024.0 * 1024.0));
}

static int cmd_devices(const char *selector) {
  gc_device_info *list = NULL;
  int count = 0, def = -1;
  int st = gc_devices_list(&list, &count);
  if (st) return fail(st, "cannot list devices");
  if (!selector) selector = getenv("GAFCL_DEVICE");
  st = gc_device_select(list, count, selector, &def);
  if (st) {
    free(list);
    return fail(st, "device selection");
  }
  printf("  %-5s %-28s %-40s %-5s %4s %10s %-13s %-4s %-4s\n", "index", "platform", "device", "type", "CUs",
         "global mem", "OpenCL C", "fp16", "fp64");
  for (int i = 0; i < count; i++) {
    const gc_device_info *d = &list[i];
    char idx[16], mem[32];
    snprintf(idx, sizeof idx, "%d:%d", d->platform_index, d->device_index);
    fmt_mem(d->global_mem, mem, sizeof mem);
    const char *cver = strncmp(d->c_version, "OpenCL C ", 9) == 0 ? d->c_version + 9 : d->c_version;
    printf("%c %-5s %-28.28s %-40.40s %-5s %4u %10s %-13.13s %-4s %-4s\n", i == def ? '*' : ' ', idx, d->platform,
           d->name, gc_device_type_name(d->type), d->compute_units, mem, cver, d->fp16 ? "yes" : "no",
           d->fp64 ? "yes" : "no");
  }
  printf("(* = the device gafcl uses with the current --device / GAFCL_DEVICE)\n");
  free(list);
  return 0;
}

static int cmd_selfcheck(const char *selector, int verbose) {
  gc_ctx *ctx = NULL;
  double t0 = now_s();
  int st = gc_ctx_create(&ctx, selector);
  if (st) return fail(st, "cannot open the device");
  printf("device: %s (%s), driver %s\n", ctx->dev.name, ctx->dev.platform, ctx->dev.driver);
  printf("program cache: %s\n", ctx->cache_dir[0] ? ctx->cache_dir : "off");
  st = gc_selfcheck(ctx, verbose ? stdout : NULL);
  double t1 = now_s();
  if (st) {
    int rc = fail(st, "self-check failed");
    gc_ctx_free(ctx);
    return rc;
  }
  printf("self-check passed in %.2f s (programs: %d built from source, %d loaded from the cache, %d cache entries "
         "rejected, %d written%s)\n",
         t1 - t0, ctx->cache.built_from_source, ctx->cache.loaded_from_disk, ctx->cache.rejected, ctx->cache.written,
         ctx->cache.write_failed ? ", some could not be written" : "");
  gc_ctx_free(ctx);
  return 0;
}

static int open_out(const train_cfg *c, const char *name, FILE **f) {
  const char *mode = c->resume[0] && strstr(name, ".jsonl") ? "a" : "w"; /* a resumed run appends */
  *f = NULL;
  if (!c->out[0]) return 0;
  if (mkdir(c->out, 0755) != 0 && errno != EEXIST) {
    fprintf(stderr, "gafcl: cannot create %s: %s\n", c->out, strerror(errno));
    return 1;
  }
  char path[1100];
  snprintf(path, sizeof path, "%s/%s", c->out, name);
  *f = fopen(path, mode);
  if (!*f) {
    fprintf(stderr, "gafcl: cannot write %s: %s\n", path, strerror(errno));
    return 1;
  }
  return 0;
}

/* DIR/metrics.jsonl (per epoch) and DIR/steps.jsonl (per step); both NULL without --out */
static int open_logs(const train_cfg *c, FILE **m, FILE **s) {
  *s = NULL;
  if (open_out(c, "metrics.jsonl", m)) return 1;
  if (open_out(c, "steps.jsonl", s)) {
    if (*m) fclose(*m);
    *m = NULL;
    return 1;
  }
  return 0;
}

static void close_logs(FILE *m, FILE *s) {
  if (m) fclose(m);
  if (s) fclose(s);
}

static int save_config(const train_cfg *c) {
  char *js = train_cfg_json(c);
  printf("configuration:\n%s\n", js);
  FILE *f;
  int rc = open_out(c, "config.json", &f);
  if (f) {
    fprintf(f, "%s\n", js);
    if (fclose(f) != 0) rc = 1;
  }
  free(js);
  return rc;
}

/* gafcl train: one run */
static int cmd_train(const char *selector, int argc, char **argv) {
  train_cfg c;
  train_cfg_default(&c);
  int st = train_cfg_parse(&c, argc, argv);
  if (st) return fail(st, "train");
  if (save_config(&c)) return 1;
  gc_ctx *ctx = NULL;
  if ((st = gc_ctx_create(&ctx, selector)) != 0) return fail(st, "cannot open the device");
  printf("device: %s (%s)\n", ctx->dev.name, ctx->dev.platform);
  FILE *m = NULL, *sl = NULL;
  if (open_logs(&c, &m, &sl)) {
    gc_ctx_free(ctx);
    return 1;
  }
  train_result r;
  st = train_run(ctx, &c, c.gaf, m, sl, &r);
  close_logs(m, sl);
  gc_ctx_free(ctx);
  if (st) return fail(st, "training failed");
  printf("best test top-1 %.2f%%, final %.2f%% (top-5 %.2f%%); %.1f s per epoch, optimizer %.3f s per epoch; "
         "%.0f images/s\n",
         r.best_top1, r.final_top1, r.final_top5, r.epoch_s, r.optim_s, r.images_per_s);
  return 0;
}

/* gafcl compare: the same net from the same seed, without and with the GAF */
static int cmd_compare(const char *selector, int argc, char **argv) {
  train_cfg c;
  train_cfg_default(&c);
  /* defaults sized to finish in a few minutes on a 2-core CPU (PoCL); flags override them */
  snprintf(c.net, sizeof c.net, "resnet10_w16");
  c.subset = 0;
  c.epochs = 0;
  snprintf(c.gaf, sizeof c.gaf, "arctan");
  int st = train_cfg_parse(&c, argc, argv);
  if (st) return fail(st, "compare");
  int quick = 0;
  if (c.epochs == 0) { /* nothing chosen: the quick default */
    quick = 1;
    c.epochs = 3;
    c.batch = 64;
    if (c.subset == 0) c.subset = 2000;
    if (c.test_subset == 0) c.test_subset = 1000;
  }
  if (!strcmp(c.gaf, "none")) snprintf(c.gaf, sizeof c.gaf, "arctan");
  if (save_config(&c)) return 1;
  gc_ctx *ctx = NULL;
  if ((st = gc_ctx_create(&ctx, selector)) != 0) return fail(st, "cannot open the device");
  printf("device: %s (%s)\n", ctx->dev.name, ctx->dev.platform);
  if (quick)
    printf("quick comparison: %s on the first %ld %s training images (test: first %ld), %d epochs; pass --epochs, "
           "--subset 0 and --net for a full run\n",
           c.net, c.subset, c.data, c.test_subset, c.epochs);
  FILE *m = NULL, *sl = NULL;
  if (open_logs(&c, &m, &sl)) {
    gc_ctx_free(ctx);
    return 1;
  }
  train_cfg base = c;
  snprintf(base.gaf, sizeof base.gaf, "none");
  train_result r0, r1;
  char tag[64];
  st = train_run(ctx, &base, "baseline", m, sl, &r0);
  if (!st) {
    snprintf(tag, sizeof tag, "%s(%g,%g)", c.gaf, c.gaf_alpha, c.gaf_beta);
    st = train_run(ctx, &c, tag, m, sl, &r1);
  }
  close_logs(m, sl);
  if (st) {
    int rc = fail(st, "training failed");
    gc_ctx_free(ctx);
    return rc;
  }
  printf("\n%-22s %12s %12s\n", "", "without GAF", tag);
  printf("%-22s %11.2f%% %11.2f%%\n", "best test top-1", r0.best_top1, r1.best_top1);
  printf("%-22s %11.2f%% %11.2f%%\n", "final test top-1", r0.final_top1, r1.final_top1);
  printf("%-22s %11.2f%% %11.2f%%\n", "final test top-5", r0.final_top5, r1.final_top5);
  printf("%-22s %11.2fs %11.2fs\n", "time per epoch", r0.epoch_s, r1.epoch_s);
  printf("%-22s %11.4fs %11.4fs\n", "optimizer per epoch", r0.optim_s, r1.optim_s);
  printf("%-22s %12s %+11.2f%%\n", "GAF overhead (epoch)", "", 100.0 * (r1.epoch_s - r0.epoch_s) / r0.epoch_s);
  printf("%-22s %12s %+11.2f%%\n", "GAF cost / epoch time", "", 100.0 * (r1.optim_s - r0.optim_s) / r0.epoch_s);
  printf("(%s, %s optimizer, lr %g, batch %ld, seed %llu, on %s. Epoch-time differences on a busy machine are noise; "
         "the optimizer line is device time.)\n",
         c.net, c.optimizer, c.lr, c.batch, c.seed, ctx->dev.name);
  gc_ctx_free(ctx);
  return 0;
}

/* gafcl reproduce: the recipe of a paper table, then any flags on top */
static int cmd_reproduce(const char *selector, int argc, char **argv) {
  int table = 2, seeds = 1;
  char **rest = calloc((size_t)argc + 1, sizeof *rest);
  int n = 0;
  for (int i = 0; i < argc; i++) {
    if ((!strcmp(argv[i], "--table") || !strcmp(argv[i], "--seeds")) && i + 1 < argc) {
      char *end = NULL;
      long v = strtol(argv[i + 1], &end, 10);
      if (*end || v < 1) {
        fprintf(stderr, "gafcl: reproduce: %s '%s': a positive integer\n", argv[i], argv[i + 1]);
        free(rest);
        return 2;
      }
      if (!strcmp(argv[i], "--table")) table = (int)v;
      else seeds = (int)v;
      i++;
    } else {
      rest[n++] = argv[i];
    }
  }
  train_cfg c;
  train_cfg_default(&c);
  /* REFERENCE §2: CIFAR SGD-momentum recipe (Table II); Adam with lr 1e-3 (Table III) */
  snprintf(c.data, sizeof c.data, "%s", table == 2 ? "cifar100" : "cifar10");
  snprintf(c.net, sizeof c.net, "%s", table == 2 ? "densenet_cifar" : "resnet34");
  c.epochs = 200;
  c.batch = 256;
  c.lr = table == 2 ? 0.1 : 1e-3;
  snprintf(c.optimizer, sizeof c.optimizer, "%s", table == 2 ? "sgdm" : "adam");
  c.weight_decay = 5e-4;
  snprintf(c.gaf_pos, sizeof c.gaf_pos, "%s", table == 2 ? "momentum" : "grad");
  int st = train_cfg_parse(&c, n, rest);
  free(rest);
  if (st) return fail(st, "reproduce");
  if (save_config(&c)) return 1;
  gc_ctx *ctx = NULL;
  if ((st = gc_ctx_create(&ctx, selector)) != 0) return fail(st, "cannot open the device");
  FILE *m = NULL, *sl = NULL;
  if (open_logs(&c, &m, &sl)) {
    gc_ctx_free(ctx);
    return 1;
  }
  st = cli_reproduce(ctx, &c, table, seeds, m, sl);
  close_logs(m, sl);
  int rc = st ? fail(st, "reproduce failed") : 0;
  gc_ctx_free(ctx);
  return rc;
}

/* gafcl eval / gafcl steps */
static int cmd_batch(const char *selector, int argc, char **argv, int eval) {
  train_cfg c;
  train_cfg_default(&c);
  snprintf(c.gaf, sizeof c.gaf, "none");
  int st = train_cfg_parse(&c, argc, argv);
  if (st) return fail(st, eval ? "eval" : "steps");
  gc_ctx *ctx = NULL;
  if ((st = gc_ctx_create(&ctx, selector)) != 0) return fail(st, "cannot open the device");
  st = eval ? cli_eval(ctx, &c) : cli_steps(ctx, &c);
  int rc = st ? fail(st, eval ? "eval failed" : "steps failed") : 0;
  gc_ctx_free(ctx);
  return rc;
}

static int cmd_bench(const char *selector, int argc, char **argv) {
  bench_cfg c = {"resnet18", 0, 0, 32, 3, 3, 196, "", 0, 2};
  for (int i = 0; i < argc; i++) {
    const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    char *end = NULL;
    long n = v ? strtol(v, &end, 10) : 0;
    int num_ok = v && end && *end == '\0' && n >= 1;
    if (!strcmp(k, "--imagenet")) {
      c.imagenet = 1;
      continue;
    }
    if (!v) {
      fprintf(stderr, "gafcl: bench: %s needs a value\n", k);
      return 2;
    }
    i++;
    if (!strcmp(k, "--nets"))
      snprintf(c.nets, sizeof c.nets, "%s", v);
    else if (!strcmp(k, "--out"))
      snprintf(c.out, sizeof c.out, "%s", v);
    else if (num_ok && !strcmp(k, "--batch"))
      c.batch = n;
    else if (num_ok && !strcmp(k, "--iters"))
      c.iters = (int)n;
    else if (num_ok && !strcmp(k, "--repeats"))
      c.repeats = (int)n;
    else if (num_ok && !strcmp(k, "--epoch-iters"))
      c.epoch_iters = n;
    else if (num_ok && !strcmp(k, "--size"))
      c.size = (int)n;
    else if (num_ok && !strcmp(k, "--classes"))
      c.classes = (int)n;
    else if (v && end && *end == '\0' && n >= 0 && !strcmp(k, "--profile"))
      c.profile = (int)n;
    else {
      fprintf(stderr, "gafcl: bench: bad option %s %s\n", k, v);
      return 2;
    }
  }
  gc_ctx *ctx = NULL;
  int st = gc_ctx_create(&ctx, selector);
  if (st) return fail(st, "cannot open the device");
  printf("device: %s (%s, driver %s); batch %ld, %d iterations x %d alternating repeats\n", ctx->dev.name,
         ctx->dev.platform, ctx->dev.driver, c.batch, c.iters, c.repeats);
  st = cli_bench(ctx, &c);
  int rc = st ? fail(st, "bench failed") : 0;
  gc_ctx_free(ctx);
  return rc;
}

static int cmd_nets(const char *selector, long batch) {
  gc_ctx *ctx = NULL;
  int st = gc_ctx_create(&ctx, selector);
  if (st) return fail(st, "cannot open the device");
  printf("%-16s %-8s %9s %12s %12s %10s  %s\n", "network", "form", "input", "params(10)", "(100/1000)",
         "GFLOP/img", "device memory for training at batch");
  const char *const *names = gc_net_names();
  for (int form = 0; form < 2; form++)
    for (int i = 0; names[i]; i++) {
      gc_net_spec s;
      if (gc_net_spec_init(&s, names[i], form) != 0) continue; /* no ImageNet form */
      gc_net *net = NULL;
      size_t p100 = 0;
      if (!form) {
        gc_net_spec s100 = s;
        s100.classes = 100;
        if (gc_net_plan(ctx, &s100, 1, &net) == 0) p100 = gc_net_param_count(net);
        gc_net_free(net);
        net = NULL;
      }
      if ((st = gc_net_plan(ctx, &s, (size_t)batch, &net)) != 0) {
        gc_ctx_free(ctx);
        return fail(st, "planning a network");
      }
      size_t b[4];
      gc_net_memory(net, b);
      double mib = (double)(b[0] + b[1] + b[2] + b[3]) / 1048576.0;
      char in[32], p10s[24], p100s[24];
      snprintf(in, sizeof in, "%dx%dx%d", s.in_ch, s.in_h, s.in_w);
      snprintf(p10s, sizeof p10s, "%zu", gc_net_param_count(net));
      snprintf(p100s, sizeof p100s, "%zu", p100);
      printf("%-16s %-8s %9s %12s %12s %10.3f  %8.0f MiB at %ld (activations %.0f MiB)\n", names[i],
             form ? "imagenet" : "cifar", in, form ? "-" : p10s, form ? p10s : p100s,
             gc_net_flops_per_image(net) * 1e-9, mib, batch, (double)b[3] / 1048576.0);
      gc_net_free(net);
    }
  printf("(params: CIFAR forms with 10 and 100 classes; ImageNet forms with 1000. Memory: parameters, gradients,\n"
         " batch-norm buffers, every activation and its gradient, and the shared workspace; optimizer state adds\n"
         " one or two copies of the parameters.)\n");
  gc_ctx_free(ctx);
  return 0;
}

int main(int argc, char **argv) {
  /* a file-size limit (ulimit -f) must give a write error that keeps the previous checkpoint and names
   * the cause, not kill the run */
  signal(SIGXFSZ, SIG_IGN);
  const char *cmd = NULL, *selector = NULL;
  long batch = 256;
  if (argc > 1 && (!strcmp(argv[1], "train") || !strcmp(argv[1], "compare") || !strcmp(argv[1], "eval") ||
                   !strcmp(argv[1], "steps") || !strcmp(argv[1], "bench") || !strcmp(argv[1], "reproduce"))) {
    /* everything after the command is the run's configuration, but --device */
    char **rest = calloc((size_t)argc, sizeof *rest);
    int n = 0;
    for (int i = 2; i < argc; i++) {
      if (!strcmp(argv[i], "--device") && i + 1 < argc)
        selector = argv[++i];
      else if (!strncmp(argv[i], "--device=", 9))
        selector = argv[i] + 9;
      else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
        usage(stdout);
        free(rest);
        return 0;
      } else
        rest[n++] = argv[i];
    }
    int rc = !strcmp(argv[1], "train")     ? cmd_train(selector, n, rest)
             : !strcmp(argv[1], "bench")   ? cmd_bench(selector, n, rest)
             : !strcmp(argv[1], "reproduce") ? cmd_reproduce(selector, n, rest)
             : !strcmp(argv[1], "compare") ? cmd_compare(selector, n, rest)
                                           : cmd_batch(selector, n, rest, !strcmp(argv[1], "eval"));
    free(rest);
    return rc;
  }
  int verbose = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(a, "--version")) {
      printf("gafcl %s\n", GAFCL_VERSION_STRING);
      return 0;
    } else if (!strcmp(a, "--device")) {
      if (i + 1 >= argc) {
        fprintf(stderr, "gafcl: --device needs a value\n");
        return 2;
      }
      selector = argv[++i];
    } else if (!strncmp(a, "--device=", 9)) {
      selector = a + 9;
    } else if (!strcmp(a, "--batch")) {
      char *end = NULL;
      if (i + 1 >= argc || (batch = strtol(argv[++i], &end, 10)) < 1 || *end) {
        fprintf(stderr, "gafcl: --batch needs a positive integer\n");
        return 2;
      }
    } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
      verbose = 1;
    } else if (a[0] == '-') {
      fprintf(stderr, "gafcl: unknown option '%s'\n", a);
      usage(stderr);
      return 2;
    } else if (!cmd) {
      cmd = a;
    } else {
      fprintf(stderr, "gafcl: unexpected argument '%s'\n", a);
      return 2;
    }
  }
  if (!cmd) {
    int rc = cmd_devices(selector);
    if (rc) return rc;
    printf("\n");
    return cmd_selfcheck(selector, verbose);
  }
  if (!strcmp(cmd, "devices")) return cmd_devices(selector);
  if (!strcmp(cmd, "selfcheck")) return cmd_selfcheck(selector, verbose);
  if (!strcmp(cmd, "nets")) return cmd_nets(selector, batch);
  fprintf(stderr, "gafcl: unknown command '%s'\n", cmd);
  usage(stderr);
  return 2;
}
