/* The trainer (see gc_train.h): the step, epochs, evaluation, runs with checkpoints and resume. */
#include "gc_train.h"

#include "gc_checkpoint.h"
#include "gc_io.h"

#include "dist.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct gc_trainer {
  gc_ctx *ctx;
  gc_net *net;
  gc_task *task;
  gc_optim *opt;
  gc_train_config cfg;
  char *out_dir, *resume_dir, *init_path, *config_json, *run, *data_name, *metrics_extra; /* copies */
  gc_train_callbacks cb;
  long skipped;      /* skipped steps of this trainer (the first one is diagnosed) */
  char net_label[48];
  int restored;      /* gc_train_restore has run */
  int model_lags;    /* the resumed folder's model.safetensors is behind its state (rewritten by the run) */
  long start;        /* epochs completed before this run */
  gc_ckpt_meta *rmeta; /* the resumed state's metadata */
  int nrmeta;
  char *saved_steps, *saved_metrics; /* the resumed epoch's lines (epoch.jsonl) */
  char *lines;       /* the current epoch's steps.jsonl lines */
  size_t nlines, caplines;
  char *js;          /* one steps.jsonl line (its gradient statistics grow with the parameters) */
  size_t capjs;
  gc_dist *dist;     /* a data-parallel run (NULL: one process) */
  double *wts, *pairs; /* per rank: its weight in the gradient average; (images, loss) of the step */
  gc_bn_sync bn_sync;  /* synchronised batch norm over the ranks (sync_bn) */
  char bad_ranks[96];  /* the step's ranks whose loss was NaN/Inf ("" none) */
};

static int gather_doubles(void *user, const double *in, double *out, int n) {
  return gc_dist_allgather(user, in, out, (size_t)n * sizeof *in);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static char *dup_or_null(const char *s, int *bad) {
  if (!s || !*s) return NULL;
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (!d) *bad = 1;
  else memcpy(d, s, n);
  return d;
}

static void say(gc_trainer *tr, gc_log_level level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(gc_trainer *tr, gc_log_level level, const char *fmt, ...) {
  if (!tr->cb.log) return;
  char msg[1400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  tr->cb.log(tr->cb.user, level, msg);
}

/* a JSON string's contents: quotes, backslashes and control characters escaped */
static const char *json_esc(const char *s, char *buf, size_t cap) {
  size_t k = 0;
  for (; s && *s && k + 7 < cap; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      buf[k++] = '\\';
      buf[k++] = (char)c;
    } else if (c < 0x20) {
      k += (size_t)snprintf(buf + k, cap - k, "\\u%04x", c);
    } else {
      buf[k++] = (char)c;
    }
  }
  buf[k] = '\0';
  return buf;
}

int gc_trainer_create(gc_ctx *ctx, gc_net *net, gc_task *task, gc_optim *opt, const gc_train_config *cfg,
                      const gc_train_callbacks *cb, gc_trainer **out) {
  *out = NULL;
  if (gc_task_net(task) != net) GC_FAIL(GC_ERR_ARG, "trainer: the task belongs to another net");
  gc_trainer *tr = calloc(1, sizeof *tr);
  if (!tr) GC_FAIL(GC_ERR_HOST_MEM, "trainer");
  int bad = 0;
  tr->ctx = ctx;
  tr->net = net;
  tr->task = task;
  tr->opt = opt;
  tr->cfg = *cfg;
  if (cb) tr->cb = *cb;
  tr->out_dir = dup_or_null(cfg->out_dir, &bad);
  tr->resume_dir = dup_or_null(cfg->resume_dir, &bad);
  tr->init_path = dup_or_null(cfg->init_path, &bad);
  tr->config_json = dup_or_null(cfg->config_json, &bad);
  tr->run = dup_or_null(cfg->run ? cfg->run : "run", &bad);
  tr->data_name = dup_or_null(cfg->data_name ? cfg->data_name : "", &bad);
  tr->metrics_extra = dup_or_null(cfg->metrics_extra, &bad);
  if (bad) {
    gc_trainer_free(tr);
    GC_FAIL(GC_ERR_HOST_MEM, "trainer");
  }
  if (cfg->comm) { /* one rank too: a loopback transport measures the path's own cost */
    int size = cfg->comm->size;
    if (gc_task_nsums(task) <= 0) {
      gc_trainer_free(tr);
      GC_FAIL(GC_ERR_ARG, "the %s task runs on one process only (its evaluation does not combine across ranks)",
              gc_task_get_kind(task)->name);
    }
    tr->wts = calloc((size_t)size, sizeof *tr->wts);
    tr->pairs = calloc((size_t)size * 2, sizeof *tr->pairs);
    int st = tr->wts && tr->pairs ? gc_dist_create(ctx, net, opt, cfg->comm, cfg->bucket_bytes, !cfg->no_overlap, &tr->dist)
                                  : gc_error_set(GC_ERR_HOST_MEM, __FILE__, __LINE__, "trainer");
    if (st) {
      gc_trainer_free(tr);
      return st;
    }
    if (cfg->sync_bn) {
      tr->bn_sync = (gc_bn_sync){tr->dist, size, gather_doubles, tr->wts};
      gc_net_set_bn_sync(net, &tr->bn_sync);
    }
  }
  tr->cfg.comm = NULL; /* not kept: the dist state holds its copy */
  const gc_net_spec *sp = gc_net_get_spec(net);
  snprintf(tr->net_label, sizeof tr->net_label, "%s%s", sp->name, sp->imagenet ? "_imagenet" : "");
  *out = tr;
  return GC_OK;
}

void gc_trainer_free(gc_trainer *tr) {
  if (!tr) return;
  free(tr->js);
  free(tr->out_dir), free(tr->resume_dir), free(tr->init_path), free(tr->config_json);
  free(tr->run), free(tr->data_name), free(tr->metrics_extra);
  gc_ckpt_meta_free(tr->rmeta, tr->nrmeta);
  free(tr->saved_steps), free(tr->saved_metrics);
  free(tr->lines);
  if (tr->bn_sync.gather) gc_net_set_bn_sync(tr->net, NULL);
  gc_dist_free(tr->dist);
  free(tr->wts), free(tr->pairs);
  free(tr);
}

static const char *run_name(const gc_trainer *tr) { return tr->run ? tr->run : ""; }

/* ---- the step ---- */

int gc_train_step(gc_trainer *tr, const float *images, const float *targets, float lr, gc_step_report *rep) {
  int st = 0;
  gc_ctx *ctx = tr->ctx;
  gc_net *net = tr->net;
  const int timed = tr->cfg.time_phases && !gc_net_profiling(net); /* a profile times layers itself */
  memset(rep, 0, sizeof *rep);
  rep->lr = lr;
  if (images) GC_TRY(gc_tensor_write(ctx, gc_net_input(net), images, gc_tensor_numel(gc_net_input(net))));
  if (targets) GC_TRY(gc_task_set_targets(ctx, tr->task, targets));
  GC_TRY(gc_net_zero_grad(ctx, net));
  GC_TRY(gc_net_buffers_save(ctx, net)); /* a skipped step puts the running statistics back */
  if (timed) gc_timing_begin(ctx);
  st = gc_net_forward(ctx, net, 1);
  if (timed) {
    int t = gc_timing_end(ctx, &rep->forward_s);
    if (!st) st = t;
  }
  if (st) goto cleanup;
  if (tr->cfg.time_phases) gc_timing_begin(ctx);
  st = gc_task_loss(ctx, tr->task, 1, gc_net_active_batch(net), &rep->loss);
  if (tr->cfg.time_phases) {
    int t = gc_timing_end(ctx, &rep->loss_s);
    if (!st) st = t;
  }
  if (st) goto cleanup;
  rep->images = gc_net_active_batch(net);
  if (tr->dist) { /* every rank's images and loss: the weights of the average, the step's loss */
    double mine[2] = {(double)gc_net_active_batch(net), rep->loss}, total = 0, lsum = 0;
    GC_TRY(gc_dist_allgather(tr->dist, mine, tr->pairs, sizeof mine));
    const int size = gc_dist_size(tr->dist);
    for (int r = 0; r < size; r++) total += tr->pairs[2 * r];
    tr->bad_ranks[0] = '\0';
    for (int r = 0; r < size; r++) {
      tr->wts[r] = tr->pairs[2 * r] / total;
      lsum += tr->wts[r] * tr->pairs[2 * r + 1];
      size_t l = strlen(tr->bad_ranks);
      if (!isfinite(tr->pairs[2 * r + 1]) && l + 16 < sizeof tr->bad_ranks)
        snprintf(tr->bad_ranks + l, sizeof tr->bad_ranks - l, "%s%d", l ? ", " : "", r);
    }
    rep->loss = lsum;
    rep->images = (size_t)total;
  }
  if (timed) gc_timing_begin(ctx);
  st = tr->dist ? gc_dist_backward(tr->dist, tr->wts, &rep->comm_s, &rep->comm_exposed_s) : gc_net_backward(ctx, net);
  if (timed) {
    int t = gc_timing_end(ctx, &rep->backward_s);
    if (!st) st = t;
  }
  if (st) goto cleanup;
  gc_optim_report orep;
  gc_timing_begin(ctx);
  st = gc_optim_step(ctx, tr->opt, lr, &orep);
  int t = gc_timing_end(ctx, &rep->optimizer_s);
  if (!st) st = t;
  if (st) goto cleanup;
  rep->grad_max_param = -1;
  if (orep.seg_max) {
    rep->grad_norm = orep.grad_norm;
    rep->grad_max = orep.grad_max;
    rep->seg_max = orep.seg_max;
    rep->seg_bad = orep.seg_bad;
    for (int i = 0; i < gc_net_nparams(net); i++)
      if (rep->grad_max_param < 0 || orep.seg_max[2 * i] > orep.seg_max[2 * rep->grad_max_param])
        rep->grad_max_param = i;
    if (orep.first_bad_segment >= 0) { /* NaN/Inf: no largest gradient; where they begin */
      rep->grad_max = NAN;
      rep->grad_norm = NAN;
      rep->grad_max_param = orep.first_bad_segment;
    }
  }
  if (orep.skipped) {
    rep->skipped = 1;
    tr->skipped++;
    GC_TRY(gc_net_buffers_restore(ctx, net));
    rep->bad_tensor = orep.first_bad_segment >= 0 ? gc_net_param(net, orep.first_bad_segment)->name : "?";
    /* a data-parallel step whose NaN/Inf came in with another rank's gradients: nothing to find here */
    int elsewhere = tr->dist && tr->bad_ranks[0] && isfinite(tr->pairs[2 * gc_dist_rank(tr->dist) + 1]);
    if (tr->skipped == 1 && !elsewhere) { /* where it began: diagnosed once per trainer (it reads everything back) */
      gc_nonfinite_origin o;
      char d[200];
      if (gc_net_find_nonfinite(ctx, net, &o) == GC_OK)
        snprintf(rep->origin, sizeof rep->origin, "; NaN/Inf begin %s", gc_nonfinite_describe(&o, d, sizeof d));
    }
  }
cleanup:
  return st;
}

/* ---- epochs and evaluation ---- */

static int check_source(const gc_trainer *tr, const gc_batch_source *src, const char *what) {
  size_t want = gc_task_get_kind(tr->task)->target_dim;
  if (src->target_dim != want)
    GC_FAIL(GC_ERR_ARG, "%s data: %zu target values per image, the %s task takes %zu", what, src->target_dim,
            gc_task_get_kind(tr->task)->name, want);
  return GC_OK;
}

/* ,"grad_norm":N,"grad_max":M,"grad_max_param":"NAME","grad_max_per_param":[...] (gc_net_param order);
 * a step whose gradients held NaN/Inf: null norm and max, the first parameter holding them, null for each
 * such parameter */
static int grad_json(char *out, size_t cap, const gc_net *net, const gc_step_report *r) {
  char nm[200];
  size_t len = 0;
#define NUM(v) (isfinite(v) ? "%.6g" : "null")
  int n = snprintf(out, cap, ",\"grad_norm\":");
  len += n > 0 ? (size_t)n : 0;
  n = snprintf(out + len, cap - len, NUM(r->grad_norm), r->grad_norm);
  len += n > 0 ? (size_t)n : 0;
  n = snprintf(out + len, cap - len, ",\"grad_max\":");
  len += n > 0 ? (size_t)n : 0;
  n = snprintf(out + len, cap - len, NUM(r->grad_max), r->grad_max);
  len += n > 0 ? (size_t)n : 0;
  n = snprintf(out + len, cap - len, ",\"grad_max_param\":\"%s\",\"grad_max_per_param\":[",
               r->grad_max_param >= 0 ? json_esc(gc_net_param(net, r->grad_max_param)->name, nm, sizeof nm) : "");
  len += n > 0 ? (size_t)n : 0;
  for (int i = 0; i < gc_net_nparams(net) && len + 20 < cap; i++) {
    double v = r->seg_bad && r->seg_bad[i] != 0.0f ? NAN : r->seg_max[2 * i]; /* NaN/Inf in it: null */
    n = snprintf(out + len, cap - len, i ? "," : "");
    len += n > 0 ? (size_t)n : 0;
    n = snprintf(out + len, cap - len, NUM(v), v);
    len += n > 0 ? (size_t)n : 0;
  }
#undef NUM
  if (len + 2 < cap) out[len++] = ']', out[len] = '\0';
  return (int)len;
}

/* a data-parallel pass: every rank's accumulators added up (rank order), so each holds the whole pass's */
static int combine_sums(gc_trainer *tr) {
  if (!tr->dist) return GC_OK;
  double v[32];
  int n = gc_task_nsums(tr->task);
  if (n > 32) GC_FAIL(GC_ERR_ARG, "a task with %d sums (at most 32)", n);
  gc_task_sums_get(tr->task, v);
  int st = gc_dist_allsum(tr->dist, v, n);
  if (!st) gc_task_sums_set(tr->task, v);
  return st;
}

int gc_train_epoch(gc_trainer *tr, gc_batch_source *src, long e, gc_metrics *train, double *train_s,
                   double *optimizer_s) {
  int st = 0;
  const gc_train_config *c = &tr->cfg;
  size_t nb = src->batches, batch = gc_net_batch(tr->net);
  double t0 = now_s(), loss_sum = 0;
  long seen = 0;
  char e1[200], e2[200], e3[400], e4[600], e5[600];
  const int np = gc_net_nparams(tr->net);
  size_t capjs = 2600 + 256 + (size_t)np * 20; /* the fixed fields, the escaped strings, 16 per tensor */
  if (capjs > tr->capjs) {
    char *g = realloc(tr->js, capjs);
    if (!g) GC_FAIL(GC_ERR_HOST_MEM, "a steps.jsonl line of %zu bytes", capjs);
    tr->js = g, tr->capjs = capjs;
  }
  char *js = tr->js;
  *optimizer_s = 0;
  tr->nlines = 0;
  GC_TRY(check_source(tr, src, "training"));
  gc_task_reset(tr->task);
  GC_TRY(src->start_epoch(src->impl, e));
  for (size_t b = 0; b < nb; b++) {
    const float *img, *tgt;
    size_t real;
    int got = src->next(src->impl, &img, &tgt, &real);
    if (got < 0) {
      st = GC_ERR_FORMAT;
      goto cleanup;
    }
    if (got == 0) break;
    float lr = (float)gc_schedule_lr(&c->schedule, e, (long)b, (long)nb);
    gc_step_report rep;
    if (real < batch) {
      /* a last partial batch (a source that keeps it): the step on its images alone, as PyTorch's
       * loaders do; classification only (a detection task's targets are per planned batch) */
      if (gc_task_get_kind(tr->task) != &gc_task_classify)
        GC_FAIL_GOTO(GC_ERR_ARG, "%s: a partial training batch of %zu images (of %zu): the %s task trains on whole "
                     "batches only", run_name(tr), real, batch, gc_task_get_kind(tr->task)->name);
      if (real < 2)
        GC_FAIL_GOTO(GC_ERR_ARG, "%s: a partial training batch of one image: its batch statistics would be "
                     "degenerate (PyTorch refuses them too); choose a batch size that leaves none or two and more",
                     run_name(tr));
      GC_TRY(gc_net_set_batch(tr->net, real));
      st = gc_train_step(tr, img, tgt, lr, &rep);
      int st2 = gc_net_set_batch(tr->net, batch);
      if (st || (st = st2) != 0) goto cleanup;
    } else {
      GC_TRY(gc_train_step(tr, img, tgt, lr, &rep));
    }
    rep.epoch = e + 1;
    rep.batch = (long)b + 1;
    rep.step = (long)((size_t)e * nb + b + 1);
    *optimizer_s += rep.optimizer_s;
    if (rep.skipped) {
      if (c->stop_on_nonfinite)
        GC_FAIL_GOTO(GC_ERR_NUMERIC, "epoch %ld, step %ld (batch %zu): non-finite gradients (first in %s)%s; stopped, "
                     "weights unchanged by that step and the last checkpoint kept", e + 1, rep.step, b + 1,
                     rep.bad_tensor, rep.origin);
      if (tr->dist && tr->bad_ranks[0]) /* one rank's NaN/Inf skips the step on every rank */
        say(tr, GC_LOG_WARNING, "%s epoch %ld, step %ld (batch %zu): non-finite gradients (first in %s; the loss of "
            "rank(s) %s was NaN/Inf)%s: step skipped on every rank", run_name(tr), e + 1, rep.step, b + 1,
            rep.bad_tensor, tr->bad_ranks, rep.origin);
      else
        say(tr, GC_LOG_WARNING, "%s epoch %ld, step %ld (batch %zu): non-finite gradients (first in %s)%s: step skipped",
            run_name(tr), e + 1, rep.step, b + 1, rep.bad_tensor, rep.origin);
    }
    char lossv[40];
    if (isfinite(rep.loss)) snprintf(lossv, sizeof lossv, "%.9g", rep.loss);
    else snprintf(lossv, sizeof lossv, "null"); /* NaN and Inf are not JSON; "skipped" says what happened */
    int len = snprintf(js, capjs,
                       "{\"run\":\"%s\",\"epoch\":%ld,\"step\":%ld,\"loss\":%s,\"lr\":%.9g,\"skipped\":%d,\"net\":\"%s\","
                       "\"data\":\"%s\",\"seed\":%llu,\"device\":\"%s\",\"platform\":\"%s\"",
                       json_esc(tr->run, e1, sizeof e1), e + 1, rep.step, lossv, (double)lr, rep.skipped,
                       json_esc(tr->net_label, e2, sizeof e2), json_esc(tr->data_name, e3, sizeof e3),
                       (unsigned long long)c->seed, json_esc(tr->ctx->dev.name, e4, sizeof e4),
                       json_esc(tr->ctx->dev.platform, e5, sizeof e5));
    if (len > 0 && rep.seg_max && (size_t)len < capjs) /* the gradient statistics: NaN/Inf written as null */
      len += grad_json(js + len, capjs - (size_t)len, tr->net, &rep);
    if (len > 0 && tr->dist && (size_t)len < capjs) /* data parallel: the ranks, the reduction's time */
      len += snprintf(js + len, capjs - (size_t)len, ",\"ranks\":%d,\"images\":%zu,\"comm_s\":%.6f,\"comm_exposed_s\":%.6f",
                      gc_dist_size(tr->dist), rep.images, rep.comm_s, rep.comm_exposed_s);
    if (len > 0 && (size_t)len + 2 < capjs) js[len++] = '}', js[len] = '\0';
    rep.json = js;
    size_t jl = strlen(js);
    if (tr->nlines + jl + 2 > tr->caplines) { /* the epoch's lines, for the checkpoint and the epoch report */
      size_t nc = (tr->caplines + jl + 2) * 2;
      char *g = realloc(tr->lines, nc);
      if (!g) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "the epoch's log lines (%zu bytes)", nc);
      tr->lines = g;
      tr->caplines = nc;
    }
    memcpy(tr->lines + tr->nlines, js, jl);
    tr->nlines += jl;
    tr->lines[tr->nlines++] = '\n';
    tr->lines[tr->nlines] = '\0';
    if (tr->cb.step) tr->cb.step(tr->cb.user, &rep);
    loss_sum += rep.loss;
    seen += (long)rep.images; /* all ranks' */
    if (tr->cb.progress) {
      double el = now_s() - t0;
      gc_train_progress p = {e + 1, c->epochs, b + 1, nb, (double)seen / el, loss_sum / (double)(b + 1),
                             el / (double)(b + 1) * (double)(nb - b - 1)};
      tr->cb.progress(tr->cb.user, &p);
    }
  }
  GC_TRY(combine_sums(tr));
  gc_task_metrics(tr->task, 1, train);
cleanup:
  *train_s = now_s() - t0;
  return st;
}

int gc_train_evaluate(gc_trainer *tr, gc_batch_source *src, gc_metrics *test) {
  int st = 0, got;
  gc_ctx *ctx = tr->ctx;
  gc_net *net = tr->net;
  const float *img, *tgt;
  size_t real;
  GC_TRY(check_source(tr, src, "evaluation"));
  gc_task_reset(tr->task);
  GC_TRY(src->start_epoch(src->impl, 0));
  while ((got = src->next(src->impl, &img, &tgt, &real)) > 0) {
    double loss;
    if (real == 0) continue; /* a data-parallel rank with no image of the last batch */
    GC_TRY(gc_tensor_write(ctx, gc_net_input(net), img, gc_tensor_numel(gc_net_input(net))));
    GC_TRY(gc_task_set_targets(ctx, tr->task, tgt));
    GC_TRY(gc_net_forward(ctx, net, 0));
    GC_TRY(gc_task_loss(ctx, tr->task, 0, real, &loss));
  }
  if (got < 0) st = GC_ERR_FORMAT; /* the source recorded the message */
  else if ((st = combine_sums(tr)) == 0) gc_task_metrics(tr->task, 0, test);
cleanup:
  return st;
}

/* ---- runs: initial weights, resume, epochs, checkpoints ---- */

const char *gc_train_resumed(const gc_trainer *tr, const char *key) {
  if (!strcmp(key, "log_steps")) return tr->saved_steps;
  if (!strcmp(key, "log_metrics")) return tr->saved_metrics;
  for (int i = 0; i < tr->nrmeta; i++)
    if (!strcmp(tr->rmeta[i].key, key)) return tr->rmeta[i].value;
  return NULL;
}

/* out_dir/epoch.jsonl: the last checkpointed epoch's steps lines and its metrics line (the last line),
 * written atomically before the state file */
static int write_epoch_lines(gc_trainer *tr, const char *metrics_line) {
  char path[1100], tmp[1200];
  snprintf(path, sizeof path, "%s/epoch.jsonl", tr->out_dir);
  gc_remove_stale_tmp(path);
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) GC_FAIL(GC_ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
  int bad = gc_write_all(fd, tr->lines ? tr->lines : "", tr->nlines) || gc_write_all(fd, metrics_line, strlen(metrics_line)) ||
            gc_write_all(fd, "\n", 1) || fsync(fd) != 0;
  int e = errno;
  if (close(fd) != 0 && !bad) bad = 1, e = errno;
  if (bad || rename(tmp, path) != 0) {
    if (!bad) e = errno;
    unlink(tmp);
    GC_FAIL(GC_ERR_IO, "writing %s: %s (the previous checkpoint is kept)", path, strerror(e));
  }
  return GC_OK;
}

/* the resumed epoch's lines from resume_dir/epoch.jsonl, when they are that epoch's (a kill between it and
 * the state file leaves the next epoch's there: not ours) */
static int read_epoch_lines(gc_trainer *tr, long epoch) {
  char path[1100];
  unsigned char *text = NULL;
  size_t n = 0;
  snprintf(path, sizeof path, "%s/epoch.jsonl", tr->resume_dir);
  if (access(path, F_OK) != 0) return GC_OK; /* a run of an older version, or nothing checkpointed yet */
  int st = gc_file_read(path, "epoch log", (size_t)256 << 20, &text, &n);
  if (st) return st;
  char *t = (char *)text;
  size_t end = n;
  while (end > 0 && t[end - 1] == '\n') end--;
  size_t m0 = end; /* the metrics line starts after the last newline before `end` */
  while (m0 > 0 && t[m0 - 1] != '\n') m0--;
  t[end] = '\0';
  cJSON *j = cJSON_Parse(t + m0);
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "epoch");
  if (cJSON_IsNumber(e) && e->valuedouble == (double)epoch) {
    tr->saved_metrics = malloc(end - m0 + 2);
    tr->saved_steps = malloc(m0 + 1);
    if (tr->saved_metrics && tr->saved_steps) {
      snprintf(tr->saved_metrics, end - m0 + 2, "%s\n", t + m0);
      memcpy(tr->saved_steps, t, m0);
      tr->saved_steps[m0] = '\0';
    } else {
      st = gc_error_set(GC_ERR_HOST_MEM, __FILE__, __LINE__, "%s", path);
    }
  }
  cJSON_Delete(j);
  free(text);
  return st;
}

int gc_train_restore(gc_trainer *tr, long *start) {
  int st = 0;
  gc_ctx *ctx = tr->ctx;
  gc_net *net = tr->net;
  char path[1100];
  if (tr->restored) {
    *start = tr->start;
    return GC_OK;
  }
  *start = 0;
  if (tr->init_path) {
    GC_TRY(gc_ckpt_load_model(ctx, net, tr->init_path, 0, NULL));
    say(tr, GC_LOG_INFO, "%s: initial weights from %s", run_name(tr), tr->init_path);
  }
  if (tr->resume_dir) {
    long me = -1;
    int has_model = 0;
    snprintf(path, sizeof path, "%s/state.safetensors", tr->resume_dir);
    GC_TRY(gc_ckpt_load_state(ctx, net, tr->opt, path, start, &tr->rmeta, &tr->nrmeta, &has_model));
    if (*start > tr->cfg.epochs)
      GC_FAIL_GOTO(GC_ERR_ARG, "%s: the run has completed %ld epochs, more than the %ld asked for", tr->resume_dir,
                   *start, tr->cfg.epochs);
    snprintf(path, sizeof path, "%s/model.safetensors", tr->resume_dir);
    if (!has_model) { /* a state file of an older version: the weights come from model.safetensors */
      GC_TRY(gc_ckpt_load_model(ctx, net, path, 1, &me));
      if (me != *start)
        GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: model.safetensors is from epoch %ld but state.safetensors from epoch %ld",
                     tr->resume_dir, me, *start);
    } else if (tr->out_dir && gc_same_file(tr->out_dir, tr->resume_dir)) {
      /* killed between the two writes: the exported model lags the state by an epoch; the run brings it
       * level (not here: a caller may still refuse the resume, and then nothing may change) */
      tr->model_lags = gc_ckpt_inspect(path, NULL) != 0 || gc_ckpt_epoch(path, &me) != 0 || me != *start;
    }
    GC_TRY(read_epoch_lines(tr, *start));
    gc_clear_error();
    say(tr, GC_LOG_INFO, "%s: resuming %s after epoch %ld (step %ld)", run_name(tr), tr->resume_dir, *start,
        gc_optim_steps(tr->opt));
  }
  if (tr->dist) { /* rank 0's state (what it initialised, loaded or resumed) on every rank */
    uint64_t h = gc_dist_hash_bytes(GC_DIST_HASH0, tr->config_json ? tr->config_json : "", tr->config_json ? strlen(tr->config_json) : 0);
    GC_TRY(gc_dist_share_state(tr->dist, start, h));
  }
  tr->restored = 1;
  tr->start = *start;
cleanup:
  return st;
}

static int checkpoint(gc_trainer *tr, long epochs_done, const char *metrics_line) {
  int st = 0;
  char path[1100];
  /* never overwrite the last good checkpoint with NaN/Inf: finite gradients can still drive the
   * activations, and with them the running statistics, past the float range */
  const char *badt = NULL;
  GC_TRY(gc_net_nonfinite_state(tr->ctx, tr->net, &badt));
  if (badt)
    GC_FAIL_GOTO(GC_ERR_NUMERIC, "after epoch %ld: %s holds NaN/Inf (the run diverged: lower the learning rate or use "
                 "the GAF); checkpoint not written, the last one kept", epochs_done, badt);
  /* the state (everything a resume needs) first, then the model export */
  snprintf(path, sizeof path, "%s/state.safetensors", tr->out_dir);
  GC_TRY(write_epoch_lines(tr, metrics_line));
  GC_TRY(gc_ckpt_save_state(tr->ctx, tr->net, tr->opt, epochs_done, tr->config_json ? tr->config_json : "{}", path));
  snprintf(path, sizeof path, "%s/model.safetensors", tr->out_dir);
  GC_TRY(gc_ckpt_save_model(tr->ctx, tr->net, epochs_done, path));
cleanup:
  return st;
}

int gc_train_run(gc_trainer *tr, gc_batch_source *train, gc_batch_source *test, gc_train_result *res) {
  int st = 0;
  const gc_train_config *c = &tr->cfg;
  long start = 0, ran = 0;
  double sum_train = 0, sum_opt = 0, imgs = 0;
  char js[7200], text[600], a[600], b[600], det[3000], e1[200], e2[200], e3[400], e4[600], e5[600];
  memset(res, 0, sizeof *res);
  res->best = -1;
  GC_TRY(gc_train_restore(tr, &start));
  if (tr->model_lags) {
    char path[1100];
    snprintf(path, sizeof path, "%s/model.safetensors", tr->out_dir);
    GC_TRY(gc_ckpt_save_model(tr->ctx, tr->net, start, path));
    say(tr, GC_LOG_INFO, "%s: %s rewritten from state.safetensors (epoch %ld)", run_name(tr), path, start);
    tr->model_lags = 0;
  }
  if (start >= c->epochs && c->epochs > 0)
    say(tr, GC_LOG_INFO, "%s: the run has completed its %ld epochs; nothing to train", run_name(tr), c->epochs);
  res->first_epoch = start;
  double t_all = now_s();
  size_t nb = train->batches;
  for (long e = start; e < c->epochs; e++) {
    if (c->stop_after > 0 && ran >= c->stop_after) {
      say(tr, GC_LOG_INFO, "%s: stopping after %ld epoch(s) as asked; the run resumes from %s", run_name(tr), ran,
          tr->out_dir ? tr->out_dir : "(no checkpoint folder)");
      break;
    }
    ran++;
    long skipped0 = tr->skipped;
    gc_epoch_report er;
    memset(&er, 0, sizeof er);
    GC_TRY(gc_train_epoch(tr, train, e, &er.train, &er.train_s, &er.optimizer_s));
    res->skipped_steps += tr->skipped - skipped0;
    imgs += (double)(nb * gc_net_batch(tr->net));
    double t1 = now_s();
    if (tr->dist) GC_TRY(gc_dist_share_buffers(tr->dist)); /* rank 0's running statistics, as DDP's */
    GC_TRY(gc_train_evaluate(tr, test, &er.test));
    er.eval_s = now_s() - t1;
    if (tr->dist) {
      char when[64];
      uint64_t h;
      snprintf(when, sizeof when, "after epoch %ld", e + 1);
      GC_TRY(gc_dist_check_same(tr->dist, when, &h));
    }
    er.epoch = e + 1;
    er.epochs = c->epochs;
    er.lr = gc_schedule_lr(&c->schedule, e, 0, (long)nb);
    er.skipped_steps = res->skipped_steps;
    if (er.test.primary >= 0 && er.test.v[er.test.primary] > res->best) res->best = er.test.v[er.test.primary];
    res->final_test = er.test;
    sum_train += er.train_s;
    sum_opt += er.optimizer_s;
    snprintf(text, sizeof text, "train %s | test %s | %.1f s (optimizer %.3f s)", gc_metrics_text(&er.train, a, sizeof a),
             gc_metrics_text(&er.test, b, sizeof b), er.train_s, er.optimizer_s);
    er.text = text;
    int len = snprintf(js, sizeof js, "{\"run\":\"%s\",\"epoch\":%ld", json_esc(tr->run, e1, sizeof e1), e + 1);
    len += snprintf(js + len, sizeof js - (size_t)len, "%s%s", gc_metrics_json(&er.train, "train", a, sizeof a),
                    gc_metrics_json(&er.test, "test", b, sizeof b));
    const gc_task_kind *tk = gc_task_get_kind(tr->task);
    det[0] = '\0';
    if (tk->detail_json) tk->detail_json(gc_task_state(tr->task), det, sizeof det);
    len += snprintf(js + len, sizeof js - (size_t)len, "%s", det);
    snprintf(js + len, sizeof js - (size_t)len,
             ",\"epoch_time_s\":%.4f,\"optimizer_time_s\":%.6f,\"eval_time_s\":%.4f,\"lr\":%.6g,\"skipped_steps\":%ld,"
             "\"net\":\"%s\",\"data\":\"%s\",\"gaf\":\"%s\",\"seed\":%llu,\"device\":\"%s\",\"platform\":\"%s\"%s%s}",
             er.train_s, er.optimizer_s, er.eval_s, er.lr, er.skipped_steps, json_esc(tr->net_label, e2, sizeof e2),
             json_esc(tr->data_name, e3, sizeof e3), gc_gaf_name(gc_optim_get_config(tr->opt)->gaf),
             (unsigned long long)c->seed, json_esc(tr->ctx->dev.name, e4, sizeof e4),
             json_esc(tr->ctx->dev.platform, e5, sizeof e5), tr->metrics_extra ? "," : "",
             tr->metrics_extra ? tr->metrics_extra : "");
    er.json = js;
    er.steps_json = tr->lines ? tr->lines : "";
    if (tr->out_dir && (st = checkpoint(tr, e + 1, js)) != 0) { /* durable before anything reports the epoch */
      if (st == GC_ERR_NUMERIC && tr->cb.epoch) {
        /* the run diverged and ends here: its last epoch is reported (a resume from the last good
         * checkpoint cuts these lines) */
        char *msg = strdup(gc_last_error());
        if (tr->cb.epoch(tr->cb.user, &er) != 0 && msg) gc_error_prefix(st, "%s; and then: ", msg); /* both told */
        free(msg);
      } else {
        say(tr, GC_LOG_INFO, "%s epoch %ld/%ld: %s (not checkpointed)", run_name(tr), e + 1, c->epochs, text);
      }
      goto cleanup;
    }
    if (tr->cb.epoch && (st = tr->cb.epoch(tr->cb.user, &er)) != 0) goto cleanup;
  }
  res->epochs_run = ran;
  if (tr->dist) {
    uint64_t h;
    GC_TRY(gc_dist_check_same(tr->dist, "at the end of the run", &h));
    if (gc_dist_size(tr->dist) > 1)
      say(tr, GC_LOG_INFO, "%s: the weights agree on all %d ranks (state hash %016llx)", run_name(tr),
          gc_dist_size(tr->dist), (unsigned long long)h);
  }
  long done = ran > 0 ? ran : 1;
  res->epoch_s = sum_train / (double)done;
  res->optimizer_s = sum_opt / (double)done;
  res->images_per_s = imgs / (now_s() - t_all);
cleanup:
  res->epochs_run = ran;
  return st;
}

/* ---- warm-up ---- */

int gc_train_warmup(gc_ctx *ctx, const gc_net_spec *spec, size_t batch, const gc_task_kind *kind,
                    const gc_optim_config *cfgs, int ncfgs) {
  int st = 0;
  gc_net *net = NULL;
  gc_task *task = NULL;
  gc_optim *opt = NULL;
  gc_trainer *tr = NULL;
  float *x = NULL, *t = NULL;
  GC_TRY(gc_net_create(ctx, spec, batch, &net));
  GC_TRY(gc_net_init(ctx, net, 1));
  GC_TRY(gc_task_create(ctx, kind, net, &task));
  size_t nx = gc_tensor_numel(gc_net_input(net)), nt = batch * kind->target_dim;
  x = calloc(nx ? nx : 1, sizeof *x);
  t = calloc(nt ? nt : 1, sizeof *t);
  if (!x || !t) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "warm-up batch");
  for (size_t i = 0; i < nx; i++) x[i] = (float)((double)(i % 97) / 97.0 - 0.5);
  for (int k = 0; k < ncfgs; k++) {
    gc_train_config tc;
    memset(&tc, 0, sizeof tc);
    GC_TRY(gc_net_optim_create(ctx, net, &cfgs[k], 0.0f, 0, &opt));
    GC_TRY(gc_trainer_create(ctx, net, task, opt, &tc, NULL, &tr));
    gc_step_report rep;
    GC_TRY(gc_train_step(tr, x, t, 0.0f, &rep));
    if (k == 0) { /* the evaluation's forward pass and loss */
      double loss;
      GC_TRY(gc_net_forward(ctx, net, 0));
      GC_TRY(gc_task_loss(ctx, task, 0, batch, &loss));
    }
    gc_trainer_free(tr);
    tr = NULL;
    gc_optim_free(opt);
    opt = NULL;
  }
  GC_TRY(gc_finish(ctx));
cleanup:
  gc_trainer_free(tr);
  gc_optim_free(opt);
  gc_task_free(task);
  gc_net_free(net);
  free(x);
  free(t);
  if (st) gc_error_prefix(st, "warm-up: ");
  return st;
}
