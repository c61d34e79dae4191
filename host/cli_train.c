/* The training loop behind `gafcl train` and `gafcl compare`. */
#include "cli_train.h"
#include "gc_checkpoint.h"
#include "gc_npy.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void train_cfg_default(train_cfg *c) {
  memset(c, 0, sizeof *c);
  snprintf(c->net, sizeof c->net, "resnet18");
  snprintf(c->data, sizeof c->data, "fashion");
  c->epochs = 10;
  c->batch = 128;
  c->lr = 0.1;
  snprintf(c->optimizer, sizeof c->optimizer, "sgdm");
  c->momentum = 0.9;
  c->weight_decay = 5e-4;
  snprintf(c->gaf, sizeof c->gaf, "none");
  c->gaf_alpha = 0.1;
  c->gaf_beta = 20;
  snprintf(c->gaf_pos, sizeof c->gaf_pos, "momentum");
  snprintf(c->clip, sizeof c->clip, "none");
  c->clip_threshold = 0.1;
  snprintf(c->schedule, sizeof c->schedule, "cosine");
  c->augment = 1;
  c->seed = 1;
  snprintf(c->on_nonfinite, sizeof c->on_nonfinite, "skip");
}

/* one key = value; the keys are the long flag names without dashes */
static int set_key(train_cfg *c, const char *key, const char *v) {
  char *end = NULL;
#define STR(name, field)                                                                                 \
  if (!strcmp(key, name)) {                                                                              \
    if (strlen(v) >= sizeof c->field) GC_FAIL(GC_ERR_ARG, "--%s: value too long", name);                 \
    snprintf(c->field, sizeof c->field, "%s", v);                                                        \
    return GC_OK;                                                                                        \
  }
#define NUM(name, field, lo)                                                                             \
  if (!strcmp(key, name)) {                                                                              \
    errno = 0;                                                                                           \
    double x_ = strtod(v, &end);                                                                         \
    if (errno || end == v || *end || !(x_ >= (lo)) || !isfinite(x_))                                     \
      GC_FAIL(GC_ERR_ARG, "--%s '%s': a number >= %g expected", name, v, (double)(lo));                  \
    c->field = x_;                                                                                       \
    return GC_OK;                                                                                        \
  }
  STR("net", net) STR("data", data) STR("data-dir", data_dir) STR("optimizer", optimizer) STR("gaf", gaf)
  STR("gaf-pos", gaf_pos) STR("clip", clip) STR("schedule", schedule) STR("out", out) STR("on-nonfinite", on_nonfinite)
  STR("resume", resume) STR("init", init) STR("images", images) STR("labels", labels) STR("weights", weights)
  STR("logits", logits) STR("save", save) STR("test-images", test_images) STR("test-labels", test_labels)
  if (!strcmp(key, "lr")) {
    double x = strtod(v, &end);
    if (end == v || *end || !(x > 0) || !isfinite(x)) GC_FAIL(GC_ERR_ARG, "--lr '%s': a positive number expected", v);
    c->lr = x;
    return GC_OK;
  }
  if (!strcmp(key, "gaf-alpha") || !strcmp(key, "gaf-beta")) {
    double x = strtod(v, &end);
    if (end == v || *end || !(x > 0) || !isfinite(x)) GC_FAIL(GC_ERR_ARG, "--%s '%s': a positive number expected", key, v);
    if (!strcmp(key, "gaf-alpha")) c->gaf_alpha = x; else c->gaf_beta = x;
    return GC_OK;
  }
  NUM("momentum", momentum, 0) NUM("weight-decay", weight_decay, 0) NUM("clip-threshold", clip_threshold, 0)
#undef STR
#undef NUM
  long n;
#define INT(name, field, lo)                                                                             \
  if (!strcmp(key, name)) {                                                                              \
    errno = 0;                                                                                           \
    n = strtol(v, &end, 10);                                                                             \
    if (errno || end == v || *end || n < (lo)) GC_FAIL(GC_ERR_ARG, "--%s '%s': an integer >= %d expected", name, v, (lo)); \
    c->field = n;                                                                                        \
    return GC_OK;                                                                                        \
  }
  INT("epochs", epochs, 1) INT("batch", batch, 1) INT("subset", subset, 0) INT("test-subset", test_subset, 0)
  INT("warmup-iters", warmup_iters, 0) INT("imagenet", imagenet, 0) INT("augment", augment, 0)
  INT("no-wd-bn-bias", no_wd_bn_bias, 0) INT("per-iteration", per_iteration, 0) INT("stop-after", stop_after, 0)
  INT("steps", steps, 1) INT("classes", classes, 1) INT("bn-train", bn_train, 0) INT("image-size", image_size, 8)
#undef INT
  if (!strcmp(key, "seed")) {
    c->seed = strtoull(v, &end, 10);
    if (end == v || *end) GC_FAIL(GC_ERR_ARG, "--seed '%s': an integer expected", v);
    return GC_OK;
  }
  if (!strcmp(key, "milestones")) { /* "30,60,90" */
    c->n_milestones = 0;
    const char *p = v;
    while (*p && c->n_milestones < 8) {
      long m = strtol(p, &end, 10);
      if (end == p || m < 0) GC_FAIL(GC_ERR_ARG, "--milestones '%s': comma-separated epochs expected", v);
      c->milestones[c->n_milestones++] = m;
      p = *end == ',' ? end + 1 : end;
      if (*end && *end != ',') GC_FAIL(GC_ERR_ARG, "--milestones '%s': comma-separated epochs expected", v);
    }
    return GC_OK;
  }
  GC_FAIL(GC_ERR_ARG, "unknown option --%s", key);
}

static int load_config(train_cfg *c, const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) GC_FAIL(GC_ERR_IO, "--config %s: %s", path, strerror(errno));
  char *buf = NULL;
  size_t len = 0, cap = 0;
  int ch;
  while ((ch = fgetc(f)) != EOF) {
    if (len + 2 > cap) {
      cap = cap ? 2 * cap : 4096;
      if (cap > (1u << 20)) {
        fclose(f);
        free(buf);
        GC_FAIL(GC_ERR_FORMAT, "--config %s: larger than 1 MiB", path);
      }
      char *nb = realloc(buf, cap);
      if (!nb) {
        fclose(f);
        free(buf);
        GC_FAIL(GC_ERR_HOST_MEM, "config");
      }
      buf = nb;
    }
    buf[len++] = (char)ch;
  }
  fclose(f);
  if (!buf) GC_FAIL(GC_ERR_FORMAT, "--config %s: empty", path);
  buf[len] = '\0';
  cJSON *root = cJSON_Parse(buf);
  free(buf);
  if (!root || !cJSON_IsObject(root)) {
    cJSON_Delete(root);
    GC_FAIL(GC_ERR_FORMAT, "--config %s: not a JSON object", path);
  }
  int st = 0;
  cJSON *it;
  cJSON_ArrayForEach(it, root) {
    char val[600];
    if (cJSON_IsString(it))
      snprintf(val, sizeof val, "%s", it->valuestring);
    else if (cJSON_IsNumber(it))
      snprintf(val, sizeof val, "%.17g", it->valuedouble);
    else if (cJSON_IsBool(it))
      snprintf(val, sizeof val, "%d", cJSON_IsTrue(it) ? 1 : 0);
    else if (cJSON_IsArray(it) && !strcmp(it->string, "milestones")) {
      val[0] = '\0';
      cJSON *m;
      cJSON_ArrayForEach(m, it) {
        char one[32];
        snprintf(one, sizeof one, "%s%d", val[0] ? "," : "", m->valueint);
        strncat(val, one, sizeof val - strlen(val) - 1);
      }
    } else {
      st = gc_error_set(GC_ERR_FORMAT, __FILE__, __LINE__, "--config %s: key '%s' has an unsupported type", path,
                        it->string ? it->string : "?");
      break;
    }
    if ((st = set_key(c, it->string, val)) != 0) {
      gc_error_prefix(st, "--config %s: ", path);
      break;
    }
  }
  cJSON_Delete(root);
  return st;
}

int train_cfg_parse(train_cfg *c, int argc, char **argv) {
  for (int i = 0; i < argc; i++)
    if (!strcmp(argv[i], "--config")) {
      if (i + 1 >= argc) GC_FAIL(GC_ERR_ARG, "--config needs a file");
      int st = load_config(c, argv[i + 1]);
      if (st) return st;
    }
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--config")) {
      i++;
      continue;
    }
    if (strncmp(a, "--", 2) != 0) GC_FAIL(GC_ERR_ARG, "unexpected argument '%s'", a);
    const char *eq = strchr(a, '=');
    char key[64];
    const char *val;
    if (eq) {
      snprintf(key, sizeof key, "%.*s", (int)(eq - a - 2), a + 2);
      val = eq + 1;
    } else {
      snprintf(key, sizeof key, "%s", a + 2);
      if (!strcmp(key, "imagenet") || !strcmp(key, "no-wd-bn-bias") || !strcmp(key, "per-iteration") ||
          !strcmp(key, "bn-train")) {
        val = "1";
      } else {
        if (i + 1 >= argc) GC_FAIL(GC_ERR_ARG, "--%s needs a value", key);
        val = argv[++i];
      }
    }
    int st = set_key(c, key, val);
    if (st) return st;
  }
  /* validate the names now, not mid-run */
  gc_opt_kind k;
  gc_gaf_type g;
  gc_net_spec s;
  int st;
  if ((st = gc_opt_parse(c->optimizer, &k)) != 0) return st;
  if ((st = gc_gaf_parse(c->gaf, &g)) != 0) return st;
  if ((st = gc_net_spec_init(&s, c->net, c->imagenet)) != 0) return st;
  if (strcmp(c->gaf_pos, "momentum") && strcmp(c->gaf_pos, "grad"))
    GC_FAIL(GC_ERR_ARG, "--gaf-pos '%s': momentum or grad", c->gaf_pos);
  if (strcmp(c->clip, "none") && strcmp(c->clip, "value") && strcmp(c->clip, "norm"))
    GC_FAIL(GC_ERR_ARG, "--clip '%s': none, value or norm", c->clip);
  if (strcmp(c->schedule, "cosine") && strcmp(c->schedule, "constant") && strcmp(c->schedule, "step"))
    GC_FAIL(GC_ERR_ARG, "--schedule '%s': cosine, constant or step", c->schedule);
  if (strcmp(c->data, "fashion") && strcmp(c->data, "cifar10") && strcmp(c->data, "cifar100") &&
      strcmp(c->data, "synthetic") && strcmp(c->data, "npy") && strcmp(c->data, "folder"))
    GC_FAIL(GC_ERR_ARG, "--data '%s': fashion, cifar10, cifar100, folder, npy or synthetic", c->data);
  if (strcmp(c->on_nonfinite, "skip") && strcmp(c->on_nonfinite, "stop"))
    GC_FAIL(GC_ERR_ARG, "--on-nonfinite '%s': skip or stop", c->on_nonfinite);
  return GC_OK;
}

char *train_cfg_json(const train_cfg *c) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "net", c->net);
  cJSON_AddNumberToObject(o, "imagenet", c->imagenet);
  cJSON_AddStringToObject(o, "data", c->data);
  cJSON_AddStringToObject(o, "data-dir", c->data_dir);
  cJSON_AddNumberToObject(o, "subset", (double)c->subset);
  cJSON_AddNumberToObject(o, "test-subset", (double)c->test_subset);
  cJSON_AddNumberToObject(o, "epochs", c->epochs);
  cJSON_AddNumberToObject(o, "batch", (double)c->batch);
  cJSON_AddNumberToObject(o, "lr", c->lr);
  cJSON_AddStringToObject(o, "optimizer", c->optimizer);
  cJSON_AddNumberToObject(o, "momentum", c->momentum);
  cJSON_AddNumberToObject(o, "weight-decay", c->weight_decay);
  cJSON_AddNumberToObject(o, "no-wd-bn-bias", c->no_wd_bn_bias);
  cJSON_AddStringToObject(o, "gaf", c->gaf);
  cJSON_AddNumberToObject(o, "gaf-alpha", c->gaf_alpha);
  cJSON_AddNumberToObject(o, "gaf-beta", c->gaf_beta);
  cJSON_AddStringToObject(o, "gaf-pos", c->gaf_pos);
  cJSON_AddStringToObject(o, "clip", c->clip);
  cJSON_AddNumberToObject(o, "clip-threshold", c->clip_threshold);
  cJSON_AddStringToObject(o, "schedule", c->schedule);
  cJSON_AddNumberToObject(o, "per-iteration", c->per_iteration);
  cJSON_AddNumberToObject(o, "warmup-iters", (double)c->warmup_iters);
  cJSON *m = cJSON_AddArrayToObject(o, "milestones");
  for (int i = 0; i < c->n_milestones; i++) cJSON_AddItemToArray(m, cJSON_CreateNumber((double)c->milestones[i]));
  cJSON_AddNumberToObject(o, "augment", c->augment);
  cJSON_AddNumberToObject(o, "seed", (double)c->seed);
  cJSON_AddStringToObject(o, "on-nonfinite", c->on_nonfinite);
  char *s = cJSON_Print(o);
  cJSON_Delete(o);
  return s;
}

/* the optimizer the configuration asks for, one segment per parameter tensor */
static int make_optimizer(gc_ctx *ctx, const train_cfg *c, gc_net *net, gc_optim_segment **segs, gc_optim **opt) {
  gc_optim_config oc;
  gc_opt_kind kind;
  gc_gaf_type gaf;
  int st = gc_opt_parse(c->optimizer, &kind);
  if (!st) st = gc_gaf_parse(c->gaf, &gaf);
  if (st) return st;
  gc_optim_config_default(&oc, kind);
  oc.momentum = (float)c->momentum;
  oc.gaf = gaf;
  oc.gaf_alpha = (float)c->gaf_alpha;
  oc.gaf_beta = (float)c->gaf_beta;
  oc.gaf_pos = strcmp(c->gaf_pos, "grad") ? GC_GAF_ON_MOMENTUM : GC_GAF_ON_GRAD;
  oc.clip = !strcmp(c->clip, "value") ? GC_CLIP_VALUE : !strcmp(c->clip, "norm") ? GC_CLIP_NORM : GC_CLIP_NONE;
  oc.clip_threshold = (float)c->clip_threshold;
  int np = gc_net_nparams(net);
  *segs = malloc((size_t)np * sizeof **segs);
  if (!*segs) GC_FAIL(GC_ERR_HOST_MEM, "optimizer segments");
  gc_net_segments(net, (float)c->weight_decay, c->no_wd_bn_bias, *segs);
  return gc_optim_create(ctx, &oc, gc_net_params(net), gc_net_grads(net), (size_t)np, *segs, opt);
}

static int load_data(const train_cfg *c, int train, gc_dataset *d) {
  const char *dir = c->data_dir[0] ? c->data_dir : NULL;
  if (!strcmp(c->data, "fashion")) return gc_data_fashion_mnist(d, dir, train);
  if (!strcmp(c->data, "folder")) {
    char p[1100];
    if (!dir) GC_FAIL(GC_ERR_ARG, "--data folder needs --data-dir ROOT (ROOT/train/<class>/*.jpg, ROOT/val/...)");
    snprintf(p, sizeof p, "%s/%s", dir, train ? "train" : "val");
    return gc_data_folder(d, p, c->image_size > 0 ? (int)c->image_size : (c->imagenet ? 224 : 32), train);
  }
  if (!strcmp(c->data, "npy")) {
    if (!c->images[0] || !c->labels[0]) GC_FAIL(GC_ERR_ARG, "--data npy needs --images X.npy and --labels Y.npy");
    if (!train && c->test_images[0]) {
      if (!c->test_labels[0]) GC_FAIL(GC_ERR_ARG, "--test-images needs --test-labels");
      return gc_data_npy(d, c->test_images, c->test_labels);
    }
    return gc_data_npy(d, c->images, c->labels);
  }
  if (!strcmp(c->data, "synthetic"))
    return gc_data_synthetic(d, train ? 2048 : 512, 3, 32, 32, 10, train ? c->seed : c->seed + 1);
  if (!dir) GC_FAIL(GC_ERR_ARG, "--data %s needs --data-dir (the folder of the binary version)", c->data);
  return gc_data_cifar(d, dir, !strcmp(c->data, "cifar100"), train);
}

static void progress(const char *tag, int epoch, int epochs, size_t b, size_t nb, double ips, double loss, double eta) {
  if (!isatty(2)) return;
  int w = 24, fill = nb ? (int)((double)b / (double)nb * w) : w;
  char bar[32];
  for (int i = 0; i < w; i++) bar[i] = i < fill ? '#' : '.';
  bar[w] = '\0';
  fprintf(stderr, "\r%s epoch %d/%d [%s] %zu/%zu  %.0f img/s  loss %.4f  ETA %d:%02d   ", tag, epoch + 1, epochs, bar,
          b, nb, ips, loss, (int)(eta / 60), (int)fmod(eta, 60.0));
  fflush(stderr);
}

int train_run(gc_ctx *ctx, const train_cfg *c, const char *tag, FILE *metrics, FILE *steps, train_result *res) {
  int st = 0;
  gc_dataset tr = {0}, te = {0};
  gc_net *net = NULL;
  gc_optim *opt = NULL;
  gc_loader *ltr = NULL, *lte = NULL;
  gc_optim_segment *segs = NULL;
  memset(res, 0, sizeof *res);
  GC_TRY(load_data(c, 1, &tr));
  GC_TRY(load_data(c, 0, &te));
  if (c->subset > 0) gc_data_truncate(&tr, (size_t)c->subset);
  if (c->test_subset > 0) gc_data_truncate(&te, (size_t)c->test_subset);
  if ((size_t)c->batch > tr.n)
    GC_FAIL_GOTO(GC_ERR_ARG, "--batch %ld is larger than the %zu training images", c->batch, tr.n);
  gc_net_spec spec;
  GC_TRY(gc_net_spec_init(&spec, c->net, c->imagenet));
  spec.in_ch = tr.c;
  spec.in_h = tr.h;
  spec.in_w = tr.w;
  spec.classes = tr.classes;
  GC_TRY(gc_net_create(ctx, &spec, (size_t)c->batch, &net));
  GC_TRY(gc_net_init(ctx, net, c->seed));
  GC_TRY(make_optimizer(ctx, c, net, &segs, &opt));
  long start = 0;
  char path[1100], tmp[1100];
  if (c->init[0]) {
    GC_TRY(gc_ckpt_load_model(ctx, net, c->init, 0, NULL));
    printf("%s: initial weights from %s\n", tag, c->init);
  }
  if (c->resume[0]) {
    long me = -1;
    int has_model = 0;
    snprintf(path, sizeof path, "%s/state.safetensors", c->resume);
    GC_TRY(gc_ckpt_load_state(ctx, net, opt, path, &start, NULL, &has_model));
    snprintf(path, sizeof path, "%s/model.safetensors", c->resume);
    if (!has_model) { /* a state file of an older version: the weights come from model.safetensors */
      GC_TRY(gc_ckpt_load_model(ctx, net, path, 1, &me));
      if (me != start)
        GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: model.safetensors is from epoch %ld but state.safetensors from epoch %ld",
                     c->resume, me, start);
    } else if (c->out[0] && !strcmp(c->out, c->resume)) {
      /* killed between the two writes: the exported model lags the state by an epoch; bring it level */
      if (gc_ckpt_inspect(path, NULL) != 0 || gc_ckpt_epoch(path, &me) != 0 || me != start) {
        GC_TRY(gc_ckpt_save_model(ctx, net, start, path));
        printf("%s: %s rewritten from state.safetensors (epoch %ld)\n", tag, path, start);
      }
    }
    printf("%s: resuming %s after epoch %ld (step %ld)\n", tag, c->resume, start, gc_optim_steps(opt));
  }
  int cifar = !strncmp(c->data, "cifar", 5);
  gc_augment aug_tr = {cifar && c->augment ? 4 : 0, cifar && c->augment, 1}, aug_te = {0, 0, 1};
  GC_TRY(gc_loader_create(&tr, (size_t)c->batch, 1, &aug_tr, c->seed, 4, &ltr));
  GC_TRY(gc_loader_create(&te, (size_t)c->batch, 0, &aug_te, c->seed, 4, &lte));
  gc_schedule sch = {GC_SCHED_COSINE, c->lr, c->per_iteration, c->epochs, {0}, 0, 0.1, c->warmup_iters, 0.0};
  if (!strcmp(c->schedule, "constant")) sch.kind = GC_SCHED_CONSTANT;
  if (!strcmp(c->schedule, "step")) {
    sch.kind = GC_SCHED_STEP;
    sch.n_milestones = c->n_milestones;
    for (int i = 0; i < c->n_milestones; i++) sch.milestones[i] = c->milestones[i];
  }
  /* training drops the last partial batch (batch statistics of a padded batch would differ) */
  size_t nb = tr.n / (size_t)c->batch;
  size_t per = (size_t)tr.c * tr.h * tr.w;
  double t_all = now_s(), imgs = 0, sum_epoch = 0, sum_opt = 0;
  res->best_top1 = -1;
  int ran = 0;
  for (int e = (int)start; e < c->epochs; e++) {
    if (c->stop_after > 0 && ran >= c->stop_after) {
      printf("%s: stopping after %d epoch(s) as asked; resume with --resume %s\n", tag, ran, c->out);
      break;
    }
    ran++;
    double t0 = now_s(), opt_s = 0, loss_sum = 0;
    long correct = 0, seen = 0;
    GC_TRY(gc_loader_start_epoch(ltr, e));
    const float *img, *lab;
    size_t real;
    for (size_t b = 0; b < nb; b++) {
      int got = gc_loader_next(ltr, &img, &lab, &real);
      if (got < 0) {
        st = GC_ERR_FORMAT;
        goto cleanup;
      }
      if (got == 0) break;
      GC_TRY(gc_tensor_write(ctx, gc_net_input(net), img, (size_t)c->batch * per));
      GC_TRY(gc_tensor_write(ctx, gc_net_labels(net), lab, (size_t)c->batch));
      GC_TRY(gc_net_zero_grad(ctx, net));
      GC_TRY(gc_net_buffers_save(ctx, net)); /* a skipped step puts the running statistics back */
      GC_TRY(gc_net_forward(ctx, net, 1));
      gc_xent_result xr;
      GC_TRY(gc_net_loss(ctx, net, 1, &xr));
      GC_TRY(gc_net_backward(ctx, net));
      float lr = (float)gc_schedule_lr(&sch, e, (long)b, (long)nb);
      gc_optim_report rep;
      gc_timing_begin(ctx);
      GC_TRY(gc_optim_step(ctx, opt, lr, &rep));
      double os = 0;
      GC_TRY(gc_timing_end(ctx, &os));
      opt_s += os;
      const long gstep = (long)((size_t)e * nb + b + 1);
      if (rep.skipped) {
        res->skipped_steps++;
        GC_TRY(gc_net_buffers_restore(ctx, net));
        const char *bad = rep.first_bad_segment >= 0 ? gc_net_param(net, rep.first_bad_segment)->name : "?";
        char origin[256] = "";
        if (res->skipped_steps == 1) { /* where it began: diagnosed once per run (it reads everything back) */
          gc_nonfinite_origin o;
          char d[200];
          if (gc_net_find_nonfinite(ctx, net, &o) == GC_OK)
            snprintf(origin, sizeof origin, "; NaN/Inf begin %s", gc_nonfinite_describe(&o, d, sizeof d));
        }
        if (!strcmp(c->on_nonfinite, "stop"))
          GC_FAIL_GOTO(GC_ERR_NUMERIC, "epoch %d, step %ld (batch %zu): non-finite gradients (first in %s)%s; stopped, "
                       "weights unchanged by that step and the last checkpoint kept", e + 1, gstep, b + 1, bad, origin);
        fprintf(stderr, "\n%s epoch %d, step %ld (batch %zu): non-finite gradients (first in %s)%s: step skipped\n", tag,
                e + 1, gstep, b + 1, bad, origin);
      }
      if (steps) {
        fprintf(steps,
                "{\"run\":\"%s\",\"epoch\":%d,\"step\":%ld,\"loss\":%.9g,\"lr\":%.9g,\"skipped\":%d,\"net\":\"%s%s\","
                "\"data\":\"%s\",\"seed\":%llu,\"device\":\"%s\"}\n",
                tag, e + 1, gstep, xr.loss, (double)lr, rep.skipped, c->net,
                c->imagenet ? "_imagenet" : "", c->data, c->seed, ctx->dev.name);
      }
      loss_sum += xr.loss;
      correct += xr.top1;
      seen += c->batch;
      imgs += (double)c->batch;
      double el = now_s() - t0;
      progress(tag, e, c->epochs, b + 1, nb, (double)seen / el, loss_sum / (double)(b + 1),
               el / (double)(b + 1) * (double)(nb - b - 1));
    }
    double train_s = now_s() - t0;
    /* evaluation on the test set (running statistics) */
    GC_TRY(gc_loader_start_epoch(lte, 0));
    double tl = 0;
    long t1 = 0, t5 = 0, tn = 0;
    int got;
    while ((got = gc_loader_next(lte, &img, &lab, &real)) > 0) {
      GC_TRY(gc_tensor_write(ctx, gc_net_input(net), img, (size_t)c->batch * per));
      GC_TRY(gc_tensor_write(ctx, gc_net_labels(net), lab, (size_t)c->batch));
      GC_TRY(gc_net_forward(ctx, net, 0));
      gc_xent_result xr;
      GC_TRY(gc_net_loss_valid(ctx, net, 0, real, &xr));
      tl += xr.loss * (double)real;
      t1 += xr.top1;
      t5 += xr.top5;
      tn += (long)real;
    }
    if (got < 0) {
      st = GC_ERR_FORMAT;
      goto cleanup;
    }
    double epoch_s = now_s() - t0;
    double top1 = 100.0 * (double)t1 / (double)tn, top5 = 100.0 * (double)t5 / (double)tn;
    if (top1 > res->best_top1) res->best_top1 = top1;
    res->final_top1 = top1;
    res->final_top5 = top5;
    res->final_loss = tl / (double)tn;
    sum_epoch += train_s;
    sum_opt += opt_s;
    if (isatty(2)) fprintf(stderr, "\r%*s\r", 110, "");
    printf("%s epoch %d/%d: train loss %.4f acc %.2f%% | test loss %.4f top-1 %.2f%% top-5 %.2f%% | %.1f s "
           "(optimizer %.3f s)\n",
           tag, e + 1, c->epochs, loss_sum / (double)nb, 100.0 * (double)correct / (double)seen, res->final_loss, top1,
           top5, train_s, opt_s);
    fflush(stdout);
    if (metrics) {
      fprintf(metrics,
              "{\"run\":\"%s\",\"epoch\":%d,\"train_loss\":%.6f,\"train_acc\":%.4f,\"test_loss\":%.6f,\"test_top1\":%.4f,"
              "\"test_top5\":%.4f,\"epoch_time_s\":%.4f,\"optimizer_time_s\":%.6f,\"eval_time_s\":%.4f,\"lr\":%.6g,"
              "\"skipped_steps\":%ld,\"net\":\"%s%s\",\"data\":\"%s\",\"gaf\":\"%s\",\"seed\":%llu,\"device\":\"%s\"",
              tag, e + 1, loss_sum / (double)nb, 100.0 * (double)correct / (double)seen, res->final_loss, top1, top5,
              train_s, opt_s, epoch_s - train_s, gc_schedule_lr(&sch, e, 0, (long)nb), res->skipped_steps, c->net,
              c->imagenet ? "_imagenet" : "", c->data, c->gaf, c->seed, ctx->dev.name);
      if (c->paper_top1 > 0) fprintf(metrics, ",\"paper_top1\":%.2f", c->paper_top1);
      fprintf(metrics, "}\n");
      fflush(metrics);
    }
    if (steps) fflush(steps);
    if (c->out[0]) {
      /* never overwrite the last good checkpoint with NaN/Inf: finite gradients can still drive the
       * activations, and with them the running statistics, past the float range */
      const char *badt = NULL;
      GC_TRY(gc_net_nonfinite_state(ctx, net, &badt));
      if (badt)
        GC_FAIL_GOTO(GC_ERR_NUMERIC, "after epoch %d: %s holds NaN/Inf (the run diverged: lower the learning rate or "
                     "use the GAF); checkpoint not written, the last one kept", e + 1, badt);
    }
    if (c->out[0]) { /* the state (everything a resume needs) first, then the model export */
      char *cfg = train_cfg_json(c);
      snprintf(path, sizeof path, "%s/state.safetensors", c->out);
      st = gc_ckpt_save_state(ctx, net, opt, e + 1, cfg, path);
      free(cfg);
      if (st) goto cleanup;
      snprintf(path, sizeof path, "%s/model.safetensors", c->out);
      GC_TRY(gc_ckpt_save_model(ctx, net, e + 1, path));
    }
  }
  (void)tmp;
  int done = ran > 0 ? ran : 1;
  res->epoch_s = sum_epoch / done;
  res->optim_s = sum_opt / done;
  res->images_per_s = imgs / (now_s() - t_all);
cleanup:
  gc_loader_free(ltr);
  gc_loader_free(lte);
  gc_optim_free(opt);
  gc_net_free(net);
  free(segs);
  gc_data_free(&tr);
  gc_data_free(&te);
  return st;
}

/* ---- one batch from .npy files: gafcl eval and gafcl steps ---- */

static int batch_net(gc_ctx *ctx, const train_cfg *c, gc_npy *x, gc_npy *y, gc_net **net, float **labels) {
  int st = 0;
  *net = NULL;
  *labels = NULL;
  if (!c->images[0]) GC_FAIL(GC_ERR_ARG, "--images FILE.npy (float32 N x C x H x W) is required");
  GC_TRY(gc_npy_read(c->images, x));
  if (strcmp(x->descr, "<f4") || x->ndim != 4)
    GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: images must be float32 (N, C, H, W), not %s with %d dimensions", c->images,
                 x->descr, x->ndim);
  gc_net_spec s;
  GC_TRY(gc_net_spec_init(&s, c->net, c->imagenet));
  s.in_ch = (int)x->shape[1];
  s.in_h = (int)x->shape[2];
  s.in_w = (int)x->shape[3];
  s.classes = c->classes > 0 ? (int)c->classes : 10;
  GC_TRY(gc_net_create(ctx, &s, x->shape[0], net));
  if (c->weights[0])
    GC_TRY(gc_ckpt_load_model(ctx, *net, c->weights, 1, NULL));
  else
    GC_TRY(gc_net_init(ctx, *net, c->seed));
  GC_TRY(gc_tensor_write(ctx, gc_net_input(*net), x->data, x->count));
  if (c->labels[0]) {
    GC_TRY(gc_npy_read(c->labels, y));
    if (y->count != x->shape[0])
      GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: %zu labels for %zu images", c->labels, y->count, x->shape[0]);
    *labels = malloc(y->count * sizeof **labels);
    if (!*labels) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "labels");
    GC_TRY(gc_npy_labels(y, s.classes, *labels, c->labels));
    GC_TRY(gc_tensor_write(ctx, gc_net_labels(*net), *labels, y->count));
  }
cleanup:
  return st;
}

int cli_eval(gc_ctx *ctx, const train_cfg *c) {
  int st = 0;
  gc_npy x = {0}, y = {0};
  gc_net *net = NULL;
  float *lab = NULL, *lg = NULL;
  if (!c->logits[0]) GC_FAIL(GC_ERR_ARG, "--logits OUT.npy is required");
  GC_TRY(batch_net(ctx, c, &x, &y, &net, &lab));
  GC_TRY(gc_net_forward(ctx, net, c->bn_train));
  size_t n = gc_net_batch(net), k = gc_tensor_numel(gc_net_logits(net)) / n;
  lg = malloc(n * k * sizeof *lg);
  if (!lg) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "logits");
  GC_TRY(gc_tensor_read(ctx, gc_net_logits(net), lg, n * k));
  GC_TRY(gc_npy_write_f32(c->logits, 2, (size_t[]){n, k}, lg));
  printf("logits (%zu x %zu, %s batch norm) written to %s\n", n, k, c->bn_train ? "train-mode" : "eval-mode", c->logits);
  if (lab) {
    gc_xent_result r;
    GC_TRY(gc_net_loss(ctx, net, 0, &r));
    printf("loss %.6f, top-1 %d/%zu, top-5 %d/%zu\n", r.loss, r.top1, n, r.top5, n);
  }
cleanup:
  gc_net_free(net);
  gc_npy_free(&x);
  gc_npy_free(&y);
  free(lab);
  free(lg);
  return st;
}

int cli_steps(gc_ctx *ctx, const train_cfg *c) {
  int st = 0;
  gc_npy x = {0}, y = {0};
  gc_net *net = NULL;
  gc_optim *opt = NULL;
  gc_optim_segment *segs = NULL;
  float *lab = NULL;
  if (!c->labels[0] || !c->save[0] || c->steps < 1)
    GC_FAIL(GC_ERR_ARG, "gafcl steps needs --labels FILE.npy, --steps N and --save OUT.safetensors");
  GC_TRY(batch_net(ctx, c, &x, &y, &net, &lab));
  GC_TRY(make_optimizer(ctx, c, net, &segs, &opt));
  for (long t = 0; t < c->steps; t++) {
    GC_TRY(gc_net_zero_grad(ctx, net));
    GC_TRY(gc_net_forward(ctx, net, 1));
    gc_xent_result r;
    GC_TRY(gc_net_loss(ctx, net, 1, &r));
    GC_TRY(gc_net_backward(ctx, net));
    gc_optim_report rep;
    GC_TRY(gc_optim_step(ctx, opt, (float)c->lr, &rep));
    printf("step %ld: loss %.6f%s\n", t + 1, r.loss, rep.skipped ? " (non-finite gradients: skipped)" : "");
  }
  GC_TRY(gc_ckpt_save_model(ctx, net, -1, c->save));
  printf("weights after %ld steps written to %s\n", c->steps, c->save);
cleanup:
  gc_optim_free(opt);
  gc_net_free(net);
  gc_npy_free(&x);
  gc_npy_free(&y);
  free(lab);
  free(segs);
  return st;
}
