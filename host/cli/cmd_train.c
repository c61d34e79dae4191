/* gafcl train and gafcl compare, and the training run every training command shares: the data sets and
 * loaders of the flags, the net, the task, the optimizer and the trainer, whose reports go to the
 * terminal and to the run folder's JSON lines. */
#include "cli.h"
#include "gc_io.h"

#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/file.h>
#include <cjson/cJSON.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* the input size of a detection net (its configuration's) */
static int det_size(const gafcl_cfg *c) {
  for (int i = 0; gc_net_arch(i); i++)
    if (!strcmp(gc_net_arch(i)->name, c->net)) return gc_net_arch(i)->det_size;
  return 0;
}

int cli_load_data(const gafcl_cfg *c, int train, gc_dataset *d) {
  const char *dir = c->data_dir[0] ? c->data_dir : NULL;
  if (!strcmp(c->data, "voc")) {
    if (!dir) GC_FAIL(GC_ERR_ARG, "--data voc needs --data-dir ROOT (ROOT/VOC2007/Annotations, JPEGImages, ImageSets/Main; "
                      "gafcl make-shapes ROOT writes one)");
    if (det_size(c) <= 0) GC_FAIL(GC_ERR_ARG, "--data voc trains detection networks (ssd300, ssd_tiny), not %s", c->net);
    /* a training set stays one (difficult objects dropped, images without objects skipped) with or
     * without SSD's augmentation */
    int st = gc_data_voc(d, dir, train ? c->train_sets : c->test_set, det_size(c), train, 0);
    if (!st && train && !c->augment) d->det->train = 0;
    return st;
  }
  if (det_size(c) > 0) GC_FAIL(GC_ERR_ARG, "--net %s is a detection network: it trains on --data voc", c->net);
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

/* the data library's loader as the trainer's batch source */
static int loader_start(void *impl, long epoch) { return gc_loader_start_epoch(impl, epoch); }
static int loader_next(void *impl, const float **x, const float **t, size_t *real) { return gc_loader_next(impl, x, t, real); }

/* ---- the trainer's reports: the terminal and the run folder ---- */

typedef struct reporter {
  const char *tag;
  cli_logs *logs;
  run_outcome *out;
} reporter;

static void on_log(void *u, gc_log_level level, const char *msg) {
  (void)u;
  if (level == GC_LOG_WARNING) {
    fprintf(stderr, "\n%s\n", msg);
  } else {
    printf("%s\n", msg);
    fflush(stdout);
  }
}

static void on_progress(void *u, const gc_train_progress *p) {
  reporter *r = u;
  if (!isatty(2)) return;
  int w = 24, fill = p->batches ? (int)((double)p->batch / (double)p->batches * w) : w;
  char bar[32];
  for (int i = 0; i < w; i++) bar[i] = i < fill ? '#' : '.';
  bar[w] = '\0';
  fprintf(stderr, "\r%s epoch %ld/%ld [%s] %zu/%zu  %.0f img/s  loss %.4f  ETA %d:%02d   ", r->tag, p->epoch, p->epochs,
          bar, p->batch, p->batches, p->images_per_s, p->loss, (int)(p->eta_s / 60), (int)fmod(p->eta_s, 60.0));
  fflush(stderr);
}

/* append text to a log and make it durable */
static int log_append(FILE *f, const char *text) {
  if (!f || !*text) return 0;
  if (fputs(text, f) < 0 || fflush(f) != 0 || fsync(fileno(f)) != 0) return -1;
  return 0;
}

/* the epoch's lines reach the run folder after its checkpoint is durable (the trainer calls this then);
 * a log that cannot be written ends the run */
static int on_epoch(void *u, const gc_epoch_report *e) {
  reporter *r = u;
  if (isatty(2)) fprintf(stderr, "\r%*s\r", 110, "");
  printf("%s epoch %ld/%ld: %s\n", r->tag, e->epoch, e->epochs, e->text);
  fflush(stdout);
  const char *delay = getenv("GAFCL_TEST_LOG_DELAY_MS"); /* testing aid: a pause between checkpoint and logs */
  if (delay && atoi(delay) > 0) {
    struct timespec ts = {atoi(delay) / 1000, (long)(atoi(delay) % 1000) * 1000000L};
    nanosleep(&ts, NULL);
  }
  if (r->out->nepochs < (int)(sizeof r->out->epoch_s / sizeof r->out->epoch_s[0])) r->out->epoch_s[r->out->nepochs] = e->train_s;
  r->out->nepochs++;
  if (r->logs && r->logs->steps) {
    size_t n = strlen(e->json) + 2;
    char *m = malloc(n);
    if (!m) GC_FAIL(GC_ERR_HOST_MEM, "a metrics line");
    snprintf(m, n, "%s\n", e->json);
    int bad = log_append(r->logs->steps, e->steps_json) != 0 || log_append(r->logs->metrics, m) != 0;
    int err = errno;
    free(m);
    if (bad)
      GC_FAIL(GC_ERR_IO, "%s: the logs of epoch %ld could not be written: %s (its checkpoint is kept; a resume writes "
              "them)", r->logs->cfg->out, e->epoch, strerror(err));
  }
  return GC_OK;
}

/* ---- the run folder: owned by one process, written only after the inputs are validated ---- */

static int lock_fd = -1; /* held until the process ends */

int cli_lock_folder(const char *dir) {
  if (lock_fd >= 0) return GC_OK;
  if (mkdir(dir, 0755) != 0 && errno != EEXIST) GC_FAIL(GC_ERR_IO, "cannot create the run folder %s: %s", dir, strerror(errno));
  struct stat sb;
  if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) GC_FAIL(GC_ERR_IO, "--out %s: not a folder", dir);
  char path[1100];
  snprintf(path, sizeof path, "%s/.lock", dir);
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
  if (fd < 0) GC_FAIL(GC_ERR_IO, "cannot create %s: %s", path, strerror(errno));
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    close(fd);
    GC_FAIL(GC_ERR_IO, "%s: not a regular file", path);
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char pid[32] = "";
    ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
    pid[n > 0 ? n : 0] = '\0';
    pid[strcspn(pid, "\n")] = '\0';
    close(fd);
    GC_FAIL(GC_ERR_IO, "the run folder %s is in use by another gafcl run (process %s); wait for it to end or choose "
            "another --out", dir, pid[0] ? pid : "?");
  }
  char pid[32];
  int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
  if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
    /* the process number is only for the message of a second run */
  }
  lock_fd = fd;
  return GC_OK;
}

/* The folder's config.json and logs, at the first run that gets past its validation. A run resumed in
 * its own folder appends; any other run (a resume into another folder included) starts them afresh. */
static int logs_begin(cli_logs *L) {
  if (L->begun || !L->cfg->out[0]) return GC_OK;
  char path[1100], tmp[1200];
  char *js = cli_cfg_json(L->cfg, L->cmd, 0);
  if (!js) GC_FAIL(GC_ERR_HOST_MEM, "configuration");
  snprintf(path, sizeof path, "%s/config.json", L->cfg->out);
  gc_remove_stale_tmp(path);
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
  FILE *f = fopen(tmp, "w");
  int bad = !f || fprintf(f, "%s\n", js) < 0 || fflush(f) != 0 || fsync(fileno(f)) != 0;
  if (f && fclose(f) != 0) bad = 1;
  free(js);
  if (bad || rename(tmp, path) != 0) {
    int e = errno;
    unlink(tmp);
    GC_FAIL(GC_ERR_IO, "cannot write %s: %s", path, strerror(e));
  }
  const char *mode = L->cfg->resume[0] && gc_same_file(L->cfg->resume, L->cfg->out) ? "a+" : "w+";
  snprintf(path, sizeof path, "%s/metrics.jsonl", L->cfg->out);
  L->metrics = fopen(path, mode);
  if (!L->metrics) GC_FAIL(GC_ERR_IO, "cannot write %s: %s", path, strerror(errno));
  snprintf(path, sizeof path, "%s/steps.jsonl", L->cfg->out);
  L->steps = fopen(path, mode);
  if (!L->steps) GC_FAIL(GC_ERR_IO, "cannot write %s: %s", path, strerror(errno));
  L->begun = 1;
  return GC_OK;
}

/* DIR/params.json (the run's folder: compare and reproduce have one per run inside theirs): the network's
 * parameters in order, [{"name": ..., "shape": [...]}, ...], the order of steps.jsonl's grad_max_per_param */
static int write_params_json(const char *dir, const gc_net *net) {
  if (!dir[0]) return GC_OK;
  cJSON *a = cJSON_CreateArray();
  for (int i = 0; a && i < gc_net_nparams(net); i++) {
    const gc_param *p = gc_net_param(net, i);
    /* each object built whole before the array takes it (then the array owns it) */
    cJSON *o = cJSON_CreateObject(), *sh = cJSON_CreateIntArray((const int[4]){(int)p->dims[0], (int)p->dims[1],
                                                                              (int)p->dims[2], (int)p->dims[3]},
                                                                p->ndim);
    int named = o && sh && cJSON_AddStringToObject(o, "name", p->name) != NULL;
    if (!named || !cJSON_AddItemToObject(o, "shape", sh)) { /* sh not attached: both go */
      cJSON_Delete(o);
      cJSON_Delete(sh);
      cJSON_Delete(a);
      a = NULL;
      break;
    }
    if (!cJSON_AddItemToArray(a, o)) { /* o owns sh */
      cJSON_Delete(o);
      cJSON_Delete(a);
      a = NULL;
      break;
    }
  }
  char *js = a ? cJSON_PrintUnformatted(a) : NULL;
  cJSON_Delete(a);
  if (!js) GC_FAIL(GC_ERR_HOST_MEM, "params.json");
  char path[1100];
  snprintf(path, sizeof path, "%s/params.json", dir);
  size_t n = strlen(js);
  js[n] = '\n'; /* over the terminator: written with its length */
  int rc = gc_write_file_atomic(path, js, n + 1), e = errno;
  cJSON_free(js);
  if (rc) GC_FAIL(GC_ERR_IO, "cannot write %s: %s", path, strerror(e));
  return GC_OK;
}

void cli_logs_close(cli_logs *L) {
  if (L->metrics) fclose(L->metrics);
  if (L->steps) fclose(L->steps);
  L->metrics = L->steps = NULL;
}

/* A resumed run's log. Runs write one after another, each its lines as one block: what a kill leaves
 * unfinished is the end of the last block written, and a last line cut short. When this run's block
 * ends the log, it is cut from this run's first line of an epoch the checkpoint does not vouch for
 * (after the checkpoint's epoch; with that epoch's lines at hand in epoch.jsonl, that epoch too: a kill
 * may have cut it between two writes), and the checkpoint's epoch is written back from epoch.jsonl; a
 * torn last line goes in any case. When other runs' lines follow this run's block, the block was
 * finished and stays as it is. The log then holds what an uninterrupted run's holds. A log that fits
 * neither (this run's lines of later epochs followed by other lines) is left as it is and the resume is
 * refused. */
static int log_repair(FILE *f, const char *name, const char *tag, long start, const char *saved) {
  if (!f) return GC_OK;
  if (fflush(f) != 0 || fseek(f, 0, SEEK_END) != 0) GC_FAIL(GC_ERR_IO, "%s: %s", name, strerror(errno));
  long size = ftell(f);
  if (size < 0 || fseek(f, 0, SEEK_SET) != 0) GC_FAIL(GC_ERR_IO, "%s: %s", name, strerror(errno));
  char *text = malloc((size_t)size + 1);
  if (!text) GC_FAIL(GC_ERR_HOST_MEM, "%s: %ld bytes", name, size);
  size_t got = fread(text, 1, (size_t)size, f);
  text[got] = '\0';
  const long from = saved ? start : start + 1; /* this run's lines of epochs >= from are redone */
  long cut = -1, torn = -1, later_mine = -1; /* offsets: first line to redo, a torn last line, a line after the epoch */
  int others_after = 0, st = 0;
  for (size_t at = 0; at < got;) {
    char *nl = memchr(text + at, '\n', got - at);
    if (!nl) {
      torn = (long)at;
      break;
    }
    size_t len = (size_t)(nl - (text + at));
    cJSON *j = cJSON_ParseWithLength(text + at, len);
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "run"), *e = cJSON_GetObjectItemCaseSensitive(j, "epoch");
    int mine = cJSON_IsString(r) && !strcmp(r->valuestring, tag) && cJSON_IsNumber(e);
    if (mine) {
      if (others_after) {
        st = gc_error_set(GC_ERR_FORMAT, __FILE__, __LINE__, "%s: byte %zu: this run's lines are not one block; the log "
                          "is left as it is", name, at);
      } else {
        if (e->valuedouble >= (double)from && cut < 0) cut = (long)at;
        if (e->valuedouble > (double)start && later_mine < 0) later_mine = (long)at;
      }
    } else if (cut >= 0 || later_mine >= 0) {
      others_after = 1; /* another run's line after this run's lines of the epochs in question */
    }
    cJSON_Delete(j);
    if (st) break;
    at += len + 1;
  }
  free(text);
  if (st) return st;
  if (others_after) { /* this run's block was finished before other runs wrote */
    if (later_mine >= 0)
      GC_FAIL(GC_ERR_FORMAT, "%s: byte %ld: this run logged epochs after its checkpoint's (%ld), and other runs wrote "
              "after them; the log is left as it is", name, later_mine, start);
    cut = torn; /* only a torn last line (of whichever run wrote last) */
    saved = NULL;
  } else if (cut < 0) {
    cut = torn;
  }
  if (cut >= 0 && (fflush(f) != 0 || ftruncate(fileno(f), cut) != 0 || fsync(fileno(f)) != 0))
    GC_FAIL(GC_ERR_IO, "%s: cannot cut the log back to the checkpoint: %s", name, strerror(errno));
  if (fseek(f, 0, SEEK_END) != 0) GC_FAIL(GC_ERR_IO, "%s: %s", name, strerror(errno));
  if (saved && log_append(f, saved) != 0)
    GC_FAIL(GC_ERR_IO, "%s: cannot write the checkpoint's epoch back: %s", name, strerror(errno));
  return GC_OK;
}

/* --resume with another recipe: the keys that may change; any other difference is refused */
static const char *const may_change[] = {"epochs", "iterations", "data-dir", "images", "labels", "test-images",
                                         "test-labels", "init", "on-nonfinite", NULL};

static int check_resume(const char *dir, const char *saved, const char *now) {
  if (!saved) return GC_OK; /* a state file of an older version keeps no recipe */
  cJSON *a = cJSON_Parse(saved), *b = cJSON_Parse(now);
  int st = 0;
  if (!cJSON_IsObject(a) || !cJSON_IsObject(b)) {
    st = gc_error_set(GC_ERR_FORMAT, __FILE__, __LINE__, "%s/state.safetensors: the saved configuration is not JSON", dir);
    goto done;
  }
  char diff[2048] = "";
  const cJSON *it;
  cJSON_ArrayForEach(it, a) {
    int free_key = 0;
    for (int k = 0; may_change[k]; k++) free_key |= !strcmp(it->string, may_change[k]);
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(b, it->string);
    if (free_key || !n || cJSON_Compare(it, n, 1)) continue;
    char *va = cJSON_PrintUnformatted(it), *vb = cJSON_PrintUnformatted(n);
    size_t len = strlen(diff);
    snprintf(diff + len, sizeof diff - len, "%s%s %s (now %s)", len ? ", " : "", it->string, va ? va : "?", vb ? vb : "?");
    free(va), free(vb);
  }
  if (diff[0])
    st = gc_error_set(GC_ERR_ARG, __FILE__, __LINE__, "--resume %s: the run was started with %s; only epochs, iterations, "
                      "data-dir, images, labels, test-images, test-labels, init, on-nonfinite, stop-after and the output "
                      "options may change on a resume", dir, diff);
done:
  cJSON_Delete(a);
  cJSON_Delete(b);
  return st;
}

/* the train and test sets against each other, before anything is built */
static int check_sets(const gafcl_cfg *c, const gc_dataset *tr, const gc_dataset *te) {
  if (tr->c != te->c || tr->h != te->h || tr->w != te->w)
    GC_FAIL(GC_ERR_FORMAT, "--data %s: the test images are %dx%dx%d but the training images %dx%dx%d", c->data, te->c,
            te->h, te->w, tr->c, tr->h, tr->w);
  if (te->labels) {
    int most = 0;
    for (size_t i = 0; i < te->n; i++) most = te->labels[i] > most ? te->labels[i] : most;
    if (most >= tr->classes)
      GC_FAIL(GC_ERR_FORMAT, "--data %s: the test set has label %d but the training set (and so the network) has %d "
              "classes", c->data, most, tr->classes);
  }
  return GC_OK;
}

static int schedule_of(const gafcl_cfg *c, long iters_per_epoch, gc_schedule *s) {
  memset(s, 0, sizeof *s);
  s->kind = !strcmp(c->schedule, "constant")        ? GC_SCHED_CONSTANT
            : !strcmp(c->schedule, "step")          ? GC_SCHED_STEP
            : !strcmp(c->schedule, "warmup-cosine") ? GC_SCHED_WARMUP_COSINE
                                                    : GC_SCHED_COSINE;
  s->base_lr = c->lr;
  s->per_iteration = c->per_iteration;
  s->epochs = c->epochs;
  s->gamma = 0.1;
  if (c->warmup_epochs > 0 && iters_per_epoch > 0 && c->warmup_epochs > (LONG_MAX - c->warmup_iters) / iters_per_epoch)
    GC_FAIL(GC_ERR_ARG, "--warmup-epochs %ld: too many iterations", c->warmup_epochs);
  s->warmup_iters = c->warmup_iters + c->warmup_epochs * iters_per_epoch;
  if (s->kind == GC_SCHED_STEP)
    for (const char *p = c->milestones; *p && s->n_milestones < 16;) {
      char *end;
      s->milestones[s->n_milestones++] = strtol(p, &end, 10);
      p = *end ? end + 1 : end;
    }
  return GC_OK;
}

int cli_run_training(gc_ctx *ctx, const gafcl_cfg *c, const char *tag, cli_logs *logs, const gc_optim_config *warm,
                     int nwarm, run_outcome *out) {
  int st = 0;
  gc_dataset tr = {0}, te = {0};
  gc_net *net = NULL;
  gc_task *task = NULL;
  gc_optim *opt = NULL;
  gc_trainer *trainer = NULL;
  gc_loader *ltr = NULL, *lte = NULL;
  char *recipe = NULL;
  memset(out, 0, sizeof *out);
  GC_TRY(cli_load_data(c, 1, &tr));
  GC_TRY(cli_load_data(c, 0, &te));
  if (c->subset > 0) gc_data_truncate(&tr, (size_t)c->subset);
  if (c->test_subset > 0) gc_data_truncate(&te, (size_t)c->test_subset);
  if ((size_t)c->batch > tr.n)
    GC_FAIL_GOTO(GC_ERR_ARG, "--batch %ld is larger than the %zu training images", c->batch, tr.n);
  GC_TRY(check_sets(c, &tr, &te));
  if (tr.classes != te.classes)
    GC_FAIL_GOTO(GC_ERR_FORMAT, "--data %s: the training set has %d classes, the test set %d", c->data, tr.classes, te.classes);
  gc_net_spec spec;
  GC_TRY(gc_net_spec_init(&spec, c->net, c->imagenet));
  spec.in_ch = tr.c;
  spec.in_h = tr.h;
  spec.in_w = tr.w;
  spec.classes = tr.det ? tr.classes + 1 : tr.classes; /* detection: the background too */
  const gc_task_kind *kind = gc_task_for(&spec);
  gafcl_cfg cc = *c; /* --iterations: whole epochs of this training set */
  /* the last partial training batch: dropped (the default), or kept and trained on its images alone
   * (the trainer runs the net on a smaller batch: batch statistics over those images only) */
  int keep_last = !strcmp(c->last_batch, "keep") && tr.n % (size_t)c->batch != 0;
  /* several processes (mpirun): --batch is the global batch; each rank trains on its share of every batch
   * (gc_shard: when it does not divide, the first ranks take one image more and the gradients are
   * weighted by the images) with a net planned for that share */
  const gc_comm *comm = cli_comm(c);
  const int rank = cli_rank(), ranks = comm ? comm->size : 1;
  size_t off, lbatch = (size_t)c->batch;
  if (ranks > 1) {
    if ((size_t)c->batch < (size_t)ranks)
      GC_FAIL_GOTO(GC_ERR_ARG, "--batch %ld is the global batch: with %d processes it must be at least %d (one image "
                   "each)", c->batch, ranks, ranks);
    gc_shard((size_t)c->batch, rank, ranks, &off, &lbatch);
    size_t last = tr.n % (size_t)c->batch;
    if (keep_last && last / (size_t)ranks < 2)
      GC_FAIL_GOTO(GC_ERR_ARG, "--last-batch keep: the last batch of %zu images split over %d processes leaves %zu "
                   "image(s) to some, whose batch statistics would be degenerate; choose another --batch or --last-batch "
                   "drop", last, ranks, last / (size_t)ranks);
  }
  if (c->iterations > 0) {
    long nb = (long)(tr.n / (size_t)c->batch) + keep_last;
    cc.epochs = (c->iterations + nb - 1) / nb;
    if (cc.epochs > 1000000)
      GC_FAIL_GOTO(GC_ERR_ARG, "--iterations %ld: %ld epochs of %ld batches; at most 1000000 epochs", c->iterations,
                   cc.epochs, nb);
    c = &cc;
  }
  if (nwarm > 0) GC_TRY(gc_train_warmup(ctx, &spec, lbatch, kind, warm, nwarm));
  GC_TRY(gc_net_create(ctx, &spec, lbatch, &net));
  gc_net_set_bn_frozen(net, !strcmp(c->bn_mode, "frozen"));
  GC_TRY(gc_net_init(ctx, net, c->seed));
  GC_TRY(gc_task_create(ctx, kind, net, &task));
  gc_optim_config oc;
  GC_TRY(cli_optim_config(c, &oc));
  GC_TRY(gc_net_optim_create(ctx, net, &oc, (float)c->weight_decay, c->no_wd_bn_bias, &opt));
  int cifar = !strncmp(c->data, "cifar", 5);
  gc_augment aug_tr = {cifar && c->augment ? 4 : 0, cifar && c->augment, 1}, aug_te = {0, 0, 1};
  GC_TRY(gc_loader_create_shard(&tr, (size_t)c->batch, rank, ranks, 1, &aug_tr, c->seed, 4, &ltr));
  GC_TRY(gc_loader_create_shard(&te, (size_t)c->batch, rank, ranks, 0, &aug_te, c->seed, 4, &lte));
  if (keep_last && tr.det)
    GC_FAIL_GOTO(GC_ERR_ARG, "--last-batch keep: detection trains on whole batches only (--last-batch drop)");
  if (keep_last && tr.n % (size_t)c->batch == 1)
    GC_FAIL_GOTO(GC_ERR_ARG, "--last-batch keep: %zu training images leave a last batch of one image, whose batch "
                 "statistics are degenerate; choose another --batch or --last-batch drop", tr.n);
  gc_batch_source src_tr = {ltr, tr.n / (size_t)c->batch + (keep_last ? 1 : 0), gc_loader_target_dim(ltr), loader_start,
                            loader_next};
  gc_batch_source src_te = {lte, gc_loader_batches(lte), gc_loader_target_dim(lte), loader_start, loader_next};
  recipe = cli_cfg_json(c, CMD_TRAIN, 1);
  if (!recipe) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "configuration");
  char extra[64] = "";
  if (c->paper_top1 > 0) snprintf(extra, sizeof extra, "\"paper_%s\":%.2f", tr.det ? "map" : "top1", c->paper_top1);
  gc_train_config tc;
  memset(&tc, 0, sizeof tc);
  tc.epochs = c->epochs;
  GC_TRY(schedule_of(c, (long)src_tr.batches, &tc.schedule));
  if (rank == 0 && tc.schedule.warmup_iters > 0 && src_tr.batches > 0 &&
      tc.schedule.warmup_iters >= (long)src_tr.batches * c->epochs) /* allowed, but rarely meant */
    fprintf(stderr, "gafcl: warning: the warm-up (%ld iterations) is as long as the whole run (%ld epochs of %zu): the "
            "learning rate never reaches --lr %g\n", tc.schedule.warmup_iters, c->epochs, src_tr.batches, c->lr);
  tc.stop_on_nonfinite = !strcmp(c->on_nonfinite, "stop");
  tc.stop_after = c->stop_after;
  tc.out_dir = rank == 0 ? c->out : NULL; /* rank 0 reads and writes files; the others get its state */
  tc.resume_dir = rank == 0 ? c->resume : NULL;
  tc.init_path = rank == 0 ? c->init : NULL;
  tc.comm = comm;
  tc.bucket_bytes = (size_t)(c->bucket_mb * 1048576.0);
  if (tc.bucket_bytes == 0) tc.bucket_bytes = 1; /* the smallest: a bucket per parameter (0 would be the default) */
  tc.no_overlap = !c->overlap;
  tc.sync_bn = !strcmp(c->bn_mode, "sync");
  tc.config_json = recipe;
  tc.run = tag;
  tc.data_name = c->data;
  tc.seed = c->seed;
  tc.metrics_extra = extra[0] ? extra : NULL;
  reporter rep = {tag, logs, out};
  gc_train_callbacks cb = {&rep, on_log, on_progress, NULL, on_epoch};
  if (rank != 0) memset(&cb, 0, sizeof cb); /* metrics and progress come from rank 0 */
  if (rank != 0) logs = NULL;
  GC_TRY(gc_trainer_create(ctx, net, task, opt, &tc, &cb, &trainer));
  /* everything is validated before the run folder is touched: the data, the network, the checkpoint to
   * resume and its recipe */
  long start = 0;
  GC_TRY(gc_train_restore(trainer, &start));
  if (c->resume[0] && rank == 0) GC_TRY(check_resume(c->resume, gc_train_resumed(trainer, "config"), recipe));
  if (logs) {
    GC_TRY(logs_begin(logs));
    /* a resumed command's logs: this run's unfinished tail goes (also for a run of it that starts afresh,
     * killed before its first checkpoint: start 0) */
    if (logs->cfg->resume[0] && gc_same_file(logs->cfg->resume, logs->cfg->out)) {
      char name[1100];
      snprintf(name, sizeof name, "%s/steps.jsonl", logs->cfg->out);
      GC_TRY(log_repair(logs->steps, name, tag, start, gc_train_resumed(trainer, "log_steps")));
      snprintf(name, sizeof name, "%s/metrics.jsonl", logs->cfg->out);
      GC_TRY(log_repair(logs->metrics, name, tag, start, gc_train_resumed(trainer, "log_metrics")));
    }
  }
  /* the run's checkpoint folder (compare and reproduce: one inside the command's) */
  if (rank == 0 && c->out[0] && mkdir(c->out, 0755) != 0 && errno != EEXIST)
    GC_FAIL_GOTO(GC_ERR_IO, "cannot create %s: %s", c->out, strerror(errno));
  if (rank == 0) GC_TRY(write_params_json(c->out, net)); /* the order of steps.jsonl's grad_max_per_param */
  st = gc_train_run(trainer, &src_tr, &src_te, &out->res);
  out->final_test = out->res.final_test;
  const double *a07, *aa;
  int ncls;
  if (!st && tr.det && gc_task_detect_ap(task, &a07, &aa, &ncls) == 0 && ncls <= GC_DET_MAX_CLASSES) {
    out->nclasses = ncls;
    for (int k = 0; k < ncls; k++) {
      out->ap07[k] = a07[k] < 0 ? -1.0 : 100.0 * a07[k];
      out->ap[k] = aa[k] < 0 ? -1.0 : 100.0 * aa[k];
      snprintf(out->class_names[k], sizeof out->class_names[k], "%s", k < tr.det->nclasses ? tr.det->class_names[k] : "?");
    }
  }
cleanup:
  gc_trainer_free(trainer);
  gc_loader_free(ltr);
  gc_loader_free(lte);
  gc_optim_free(opt);
  gc_task_free(task);
  gc_net_free(net);
  gc_data_free(&tr);
  gc_data_free(&te);
  free(recipe);
  return st;
}

/* "top-5 99.40%": the test metrics but the loss and the primary one */
static void others_text(const gc_metrics *m, char *buf, size_t cap) {
  size_t len = 0;
  buf[0] = '\0';
  for (int i = 0; i < m->n; i++) {
    if (i == m->primary || !strcmp(m->def[i].key, "loss")) continue;
    len += (size_t)snprintf(buf + len, cap > len ? cap - len : 0, "%s%s %.*f%s", len ? ", " : "", m->def[i].label,
                            m->def[i].digits, m->v[i], m->def[i].percent ? "%" : "");
  }
}

int cmd_train(gafcl_cfg *c) {
  gc_ctx *ctx;
  int st = cli_start_run(c, CMD_TRAIN, "train", &ctx);
  if (st) return st;
  cli_logs logs = {c, CMD_TRAIN, 0, NULL, NULL};
  run_outcome r;
  st = cli_run_training(ctx, c, c->gaf, &logs, NULL, 0, &r);
  cli_logs_close(&logs);
  gc_ctx_free(ctx);
  if (st) return cli_fail(st, "training failed");
  if (r.res.epochs_run == 0) return 0; /* a finished run resumed: nothing was trained, nothing to summarise */
  const gc_metrics *t = &r.final_test;
  if (t->n > 0 && t->primary >= 0) {
    char more[200];
    others_text(t, more, sizeof more);
    printf("best test %s %.2f%s, final %.2f%s (%s); ", t->def[t->primary].label, r.res.best,
           t->def[t->primary].percent ? "%" : "", t->v[t->primary], t->def[t->primary].percent ? "%" : "", more);
  }
  printf("%.1f s per epoch, optimizer %.3f s per epoch; %.*f images/s\n", r.res.epoch_s, r.res.optimizer_s,
         r.res.images_per_s < 10 ? 2 : 0, r.res.images_per_s); /* slow nets on CPUs: not "0 images/s" */
  return 0;
}

/* ---- gafcl compare ---- */

void cmd_compare_defaults(gafcl_cfg *c) {
  /* sized to finish in a few minutes on a 2-core CPU (PoCL) unless --epochs is given */
  snprintf(c->net, sizeof c->net, "resnet10_w16");
  snprintf(c->gaf, sizeof c->gaf, "arctan");
  c->epochs = 0; /* none chosen: the quick default */
}

/* mean wall time of epochs [from, n) of a run (from: 1 when there are two or more: see cmd_compare) */
static double mean_epoch(const run_outcome *r, int from) {
  int n = r->nepochs < 64 ? r->nepochs : 64;
  double s = 0;
  for (int i = from; i < n; i++) s += r->epoch_s[i];
  return n > from ? s / (n - from) : 0.0;
}

int cmd_compare(gafcl_cfg *c) {
  int quick = 0;
  if (c->epochs == 0) {
    quick = 1;
    c->epochs = 3;
    c->batch = 64;
    if (c->subset == 0) c->subset = 2000;
    if (c->test_subset == 0) c->test_subset = 1000;
  }
  if (!strcmp(c->gaf, "none")) snprintf(c->gaf, sizeof c->gaf, "arctan");
  gc_ctx *ctx;
  int st = cli_start_run(c, CMD_COMPARE, "compare", &ctx);
  if (st) return st;
  if (quick)
    printf("quick comparison: %s on the first %ld %s training images (test: first %ld), %ld epochs; pass --epochs, "
           "--subset 0 and --net for a full run\n",
           c->net, c->subset, c->data, c->test_subset, c->epochs);
  gafcl_cfg top = *c; /* the folder's: config.json holds the command's flags as given */
  cli_logs logs = {&top, CMD_COMPARE, 0, NULL, NULL};
  gafcl_cfg base = *c;
  snprintf(base.gaf, sizeof base.gaf, "none");
  /* each run keeps its checkpoints in a folder of its own (and resumes from it); the logs are shared */
  if (c->out[0] || c->resume[0]) {
    const char *sub[2] = {"baseline", "gaf"};
    gafcl_cfg *run[2] = {&base, c};
    for (int k = 0; k < 2 && !st; k++) {
      char o[sizeof c->out + 16], r[sizeof c->resume + 16];
      snprintf(o, sizeof o, "%s/%s", c->out, sub[k]);
      snprintf(r, sizeof r, "%s/%s", c->resume, sub[k]);
      if ((c->out[0] && strlen(o) >= sizeof c->out) || (c->resume[0] && strlen(r) >= sizeof c->resume))
        st = gc_error_set(GC_ERR_ARG, __FILE__, __LINE__, "--out / --resume: the folder name is too long");
      if (c->out[0]) snprintf(run[k]->out, sizeof run[k]->out, "%s", o);
      if (c->resume[0]) {
        /* a run the kill came before its first checkpoint starts afresh */
        char sp[sizeof r + 32];
        snprintf(sp, sizeof sp, "%s/state.safetensors", r);
        struct stat sb;
        if (cli_rank() != 0) /* only rank 0 reads the folder */
          run[k]->resume[0] = '\0';
        else if (stat(c->resume, &sb) != 0 || !S_ISDIR(sb.st_mode))
          st = gc_error_set(GC_ERR_IO, __FILE__, __LINE__, "--resume %s: not a folder", c->resume);
        else if (stat(sp, &sb) == 0)
          snprintf(run[k]->resume, sizeof run[k]->resume, "%s", r);
        else
          run[k]->resume[0] = '\0';
      }
    }
    if (st) {
      gc_ctx_free(ctx);
      return cli_fail(st, "compare");
    }
  }
  gc_optim_config warm[2];
  run_outcome r0, r1;
  memset(&r0, 0, sizeof r0);
  memset(&r1, 0, sizeof r1);
  char tag[64];
  snprintf(tag, sizeof tag, "%s(%g,%g)", c->gaf, c->gaf_alpha, c->gaf_beta);
  /* every kernel, GEMM and convolution choice both runs need is built before either is timed */
  st = cli_optim_config(&base, &warm[0]);
  if (!st) st = cli_optim_config(c, &warm[1]);
  if (!st) {
    printf("warming up: building every kernel both runs use (not timed)\n");
    fflush(stdout);
    st = cli_run_training(ctx, &base, "baseline", &logs, warm, 2, &r0);
  }
  if (!st) st = cli_run_training(ctx, c, tag, &logs, NULL, 0, &r1);
  cli_logs_close(&logs);
  if (st) {
    int rc = cli_fail(st, "training failed");
    gc_ctx_free(ctx);
    return rc;
  }
  if (r0.nepochs == 0 || r1.nepochs == 0) { /* resumed runs that had finished: nothing measured */
    gc_ctx_free(ctx);
    return 0;
  }
  /* the epochs that measure the same work: all of them after the warm-up, but the first epoch of each run
   * is left out when there are more (it still pays for first touches of memory and the loader's start) */
  int from = r0.nepochs > 1 && r1.nepochs > 1 ? 1 : 0, upto = r0.nepochs < r1.nepochs ? r0.nepochs : r1.nepochs;
  char which[48];
  if (upto - from > 1)
    snprintf(which, sizeof which, "epochs %d-%d", from + 1, upto);
  else
    snprintf(which, sizeof which, "epoch %d", from + 1);
  double e0 = mean_epoch(&r0, from), e1 = mean_epoch(&r1, from);
  printf("\n%-28s %12s %14s\n", "", "without GAF", tag);
  const gc_metrics *t0 = &r0.final_test, *t1 = &r1.final_test;
  if (t0->n && t1->n && t0->primary >= 0) {
    char best[40];
    snprintf(best, sizeof best, "best test %s", t0->def[t0->primary].label);
    printf("%-28s %11.2f%s %13.2f%s\n", best, r0.res.best, t0->def[t0->primary].percent ? "%" : " ", r1.res.best,
           t0->def[t0->primary].percent ? "%" : " ");
    for (int i = 0; i < t0->n; i++) {
      if (!strcmp(t0->def[i].key, "loss")) continue;
      char label[40];
      snprintf(label, sizeof label, "final test %s", t0->def[i].label);
      printf("%-28s %11.2f%s %13.2f%s\n", label, t0->v[i], t0->def[i].percent ? "%" : " ", t1->v[i],
             t1->def[i].percent ? "%" : " ");
    }
  }
  char label[80];
  snprintf(label, sizeof label, "time per epoch (%s)", which);
  printf("%-28s %11.2fs %13.2fs\n", label, e0, e1);
  printf("%-28s %11.4fs %13.4fs\n", "optimizer per epoch", r0.res.optimizer_s, r1.res.optimizer_s);
  snprintf(label, sizeof label, "GAF overhead (%s)", which);
  printf("%-28s %12s %+13.2f%%\n", label, "", e0 > 0 ? 100.0 * (e1 - e0) / e0 : 0.0);
  printf("%-28s %12s %+13.2f%%\n", "GAF cost / epoch time", "",
         e0 > 0 ? 100.0 * (r1.res.optimizer_s - r0.res.optimizer_s) / e0 : 0.0);
  printf("(%s, %s optimizer, lr %g, batch %ld, seed %llu, on %s. Epoch times are those of %s of each run, after a "
         "warm-up that built every kernel both runs use; on a busy machine their difference is mostly noise, the "
         "optimizer line is device time.)\n",
         c->net, c->optimizer, c->lr, c->batch, c->seed, ctx->dev.name, which);
  gc_ctx_free(ctx);
  return 0;
}
