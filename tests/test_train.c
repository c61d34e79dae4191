/* The trainer, called directly (not through the program): on synthetic data the loss falls; every step
 * and epoch is reported with a valid JSON line; a run stopped after one epoch and resumed from its
 * checkpoints ends with the same bits (model and state files, per-step losses) as an uninterrupted run;
 * a diverging run stops (or skips) with the step and the tensor named; the warm-up builds everything
 * without touching the caller's nets; a caller's own transport of one process (the data-parallel path against
 * itself: buckets, host copies, reduction) leaves the bits of the plain run, whatever the bucket size and
 * overlap. */
#include "gc_train.h"
#include "gc_test.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <sys/stat.h>

/* batches from arrays in memory, in order (training: the full batches only) */
typedef struct mem_source {
  const float *x, *t;
  size_t n, batch, per, pos, padded;
  float *bx, *bt;
} mem_source;

static int mem_start(void *impl, long epoch) {
  (void)epoch;
  ((mem_source *)impl)->pos = 0;
  return GC_OK;
}

static int mem_next(void *impl, const float **x, const float **t, size_t *real) {
  mem_source *m = impl;
  if (m->pos >= m->n) return 0;
  for (size_t k = 0; k < m->batch; k++) { /* a partial last batch is padded by wrapping around */
    size_t i = (m->pos + k) % m->n;
    memcpy(m->bx + k * m->per, m->x + i * m->per, m->per * sizeof *m->bx);
    m->bt[k] = m->t[i];
  }
  *real = m->n - m->pos < m->batch ? m->n - m->pos : m->batch;
  m->pos += m->batch;
  *x = m->bx;
  *t = m->bt;
  return 1;
}

static gc_batch_source mem_src(mem_source *m, const float *x, const float *t, size_t n, size_t batch, size_t per,
                               int train) {
  memset(m, 0, sizeof *m);
  m->x = x, m->t = t, m->n = n, m->batch = batch, m->per = per;
  m->bx = malloc(batch * per * sizeof *m->bx);
  m->bt = malloc(batch * sizeof *m->bt);
  gc_batch_source s = {m, train ? n / batch : (n + batch - 1) / batch, 1, mem_start, mem_next};
  return s;
}

/* what the callbacks saw */
typedef struct seen {
  int steps, epochs, bad_json, warnings;
  double first_loss, last_loss;
  double epoch_loss[8];
  double step_loss[256];
  char last_warning[512];
} seen;

static int valid_json(const char *line, const char *must) {
  cJSON *j = cJSON_Parse(line);
  int ok = j && cJSON_IsObject(j) && cJSON_GetObjectItem(j, must) != NULL;
  cJSON_Delete(j);
  return ok;
}

static void on_step(void *u, const gc_step_report *r) {
  seen *s = u;
  if (!r->json || !valid_json(r->json, "loss")) s->bad_json++;
  if (s->steps < 256) s->step_loss[s->steps] = r->loss;
  s->steps++;
}

static int on_epoch(void *u, const gc_epoch_report *r) {
  seen *s = u;
  if (!r->json || !valid_json(r->json, "test_top1") || !strstr(r->text, "| test loss ")) s->bad_json++;
  if (s->epochs < 8) s->epoch_loss[s->epochs] = r->train.v[0];
  s->epochs++;
  return 0;
}

static void on_log(void *u, gc_log_level level, const char *msg) {
  seen *s = u;
  if (level == GC_LOG_WARNING) {
    s->warnings++;
    snprintf(s->last_warning, sizeof s->last_warning, "%s", msg);
  }
}

enum { N = 48, B = 8, C = 3, HW = 12, CLASSES = 4 };

static float *g_x, *g_t;

/* the transport of the next run (NULL: none) and its buckets */
static const gc_comm *g_comm;
static size_t g_bucket_bytes;
static int g_no_overlap;

/* a transport of one process, as a caller writes one: every collective copies its input */
static int self_copy(void *impl, const void *in, void *out, size_t n) {
  (*(int *)impl)++;
  if (out != in) memmove(out, in, n);
  return GC_OK;
}
static int self_bcast(void *impl, void *buf, size_t n, int root) {
  (void)buf, (void)n;
  (*(int *)impl)++;
  return root == 0 ? GC_OK : GC_ERR_ARG;
}

/* one run of `epochs` (stop_after, resume, out as given); returns the status of gc_train_run */
static int run(gc_ctx *ctx, long epochs, long stop_after, const char *out, const char *resume, double lr,
               int stop_on_nonfinite, seen *s, gc_train_result *res) {
  gc_net_spec sp;
  gc_net *net = NULL;
  gc_task *task = NULL;
  gc_optim *opt = NULL;
  gc_trainer *tr = NULL;
  mem_source ms, mt;
  int st;
  CHECK_OK(gc_net_spec_init(&sp, "resnet10_w16", 0));
  sp.in_h = sp.in_w = HW;
  sp.classes = CLASSES;
  if ((st = gc_net_create(ctx, &sp, B, &net)) != 0) return st;
  CHECK_OK(gc_net_init(ctx, net, 5));
  gc_optim_config oc;
  gc_optim_config_default(&oc, GC_OPT_SGDM);
  oc.gaf = GC_GAF_ARCTAN;
  CHECK_OK(gc_net_optim_create(ctx, net, &oc, 5e-4f, 0, &opt));
  CHECK_OK(gc_task_create(ctx, &gc_task_classify, net, &task));
  gc_train_config tc;
  memset(&tc, 0, sizeof tc);
  tc.epochs = epochs;
  tc.schedule = (gc_schedule){GC_SCHED_COSINE, lr, 0, epochs, {0}, 0, 0.1, 0, 0.0};
  tc.stop_on_nonfinite = stop_on_nonfinite;
  tc.stop_after = stop_after;
  tc.out_dir = out;
  tc.resume_dir = resume;
  tc.config_json = "{\"test\":1}";
  tc.run = "test \"run\""; /* quotes must be escaped in the JSON lines */
  tc.data_name = "memory";
  tc.seed = 5;
  tc.comm = g_comm;
  tc.bucket_bytes = g_bucket_bytes;
  tc.no_overlap = g_no_overlap;
  gc_train_callbacks cb = {s, on_log, NULL, on_step, on_epoch};
  CHECK_OK(gc_trainer_create(ctx, net, task, opt, &tc, &cb, &tr));
  gc_batch_source tr_src = mem_src(&ms, g_x, g_t, N, B, C * HW * HW, 1);
  gc_batch_source te_src = mem_src(&mt, g_x, g_t, N - 3, B, C * HW * HW, 0); /* a padded last batch */
  st = tr ? gc_train_run(tr, &tr_src, &te_src, res) : GC_ERR_ARG;
  gc_trainer_free(tr);
  gc_task_free(task);
  gc_optim_free(opt);
  gc_net_free(net);
  free(ms.bx), free(ms.bt), free(mt.bx), free(mt.bt);
  return st;
}

static int same_file(const char *a, const char *b) {
  FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
  int same = fa && fb;
  while (same) {
    int ca = fgetc(fa), cb = fgetc(fb);
    if (ca != cb) same = 0;
    if (ca == EOF || cb == EOF) break;
  }
  if (fa) fclose(fa);
  if (fb) fclose(fb);
  return same;
}

/* two run folders hold the same model and state files */
static int same_outputs(const char *a, const char *b) {
  char p1[700], p2[700];
  int same = 1;
  for (int k = 0; k < 2 && same; k++) {
    const char *f = k ? "state.safetensors" : "model.safetensors";
    snprintf(p1, sizeof p1, "%s/%s", a, f);
    snprintf(p2, sizeof p2, "%s/%s", b, f);
    same = same_file(p1, p2);
  }
  return same;
}

int main(void) {
  gc_ctx *ctx = gc_test_open();
  if (!ctx) return 1;
  /* a learnable set: the class is the sign pattern of two image regions */
  g_x = malloc((size_t)N * C * HW * HW * sizeof *g_x);
  g_t = malloc(N * sizeof *g_t);
  unsigned long long seed = 77;
  for (size_t i = 0; i < N; i++) {
    int cls = (int)(i % CLASSES);
    for (size_t k = 0; k < (size_t)C * HW * HW; k++) {
      float v = 0.3f * gc_test_rand(&seed);
      if (k < (size_t)HW * HW / 2) v += cls & 1 ? 1.0f : -1.0f;
      else if (k < (size_t)HW * HW) v += cls & 2 ? 1.0f : -1.0f;
      g_x[i * C * HW * HW + k] = v;
    }
    g_t[i] = (float)cls;
  }
  char dir[] = "/tmp/gafcl-train-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char a[600], b[600], p1[700];
  snprintf(a, sizeof a, "%s/straight", dir);
  snprintf(b, sizeof b, "%s/resumed", dir);
  mkdir(a, 0755);
  mkdir(b, 0755);

  /* 1. the loss falls; every step and epoch reported with valid JSON */
  seen s1 = {0};
  gc_train_result r1;
  CHECK_OK(run(ctx, 3, 0, a, NULL, 0.05, 0, &s1, &r1));
  CHECK(s1.epochs == 3 && s1.steps == 3 * (N / B) && s1.bad_json == 0);
  CHECK(s1.epoch_loss[2] < 0.7 * s1.epoch_loss[0]);
  CHECK(r1.epochs_run == 3 && r1.first_epoch == 0 && r1.best >= 0 && r1.final_test.n == 3);
  printf("  training loss per epoch %.4f %.4f %.4f; test top-1 %.1f%%\n", s1.epoch_loss[0], s1.epoch_loss[1],
         s1.epoch_loss[2], r1.final_test.v[1]);

  /* 2. stopped after one epoch, resumed: the same bits as the uninterrupted run */
  seen s2 = {0}, s3 = {0};
  gc_train_result r2, r3;
  CHECK_OK(run(ctx, 3, 1, b, NULL, 0.05, 0, &s2, &r2));
  CHECK(r2.epochs_run == 1 && s2.epochs == 1);
  CHECK_OK(run(ctx, 3, 0, b, b, 0.05, 0, &s3, &r3));
  CHECK(r3.first_epoch == 1 && r3.epochs_run == 2 && s3.epochs == 2);
  CHECK(same_outputs(a, b));
  int same_losses = s2.steps + s3.steps == s1.steps;
  for (int i = 0; same_losses && i < s1.steps; i++)
    same_losses = s1.step_loss[i] == (i < s2.steps ? s2.step_loss[i] : s3.step_loss[i - s2.steps]);
  CHECK(same_losses);

  /* 3. diverging: stop names the step and the tensor; skip goes on and counts */
  seen s4 = {0}, s5 = {0};
  gc_train_result r4, r5;
  CHECK_STATUS(run(ctx, 1, 0, NULL, NULL, 1e30, 1, &s4, &r4), GC_ERR_NUMERIC);
  CHECK(strstr(gc_last_error(), "epoch 1, step ") && strstr(gc_last_error(), "non-finite gradients (first in "));
  CHECK_OK(run(ctx, 2, 0, NULL, NULL, 1e30, 0, &s5, &r5));
  CHECK(r5.skipped_steps > 0 && s5.warnings > 0 && strstr(s5.last_warning, "step skipped"));

  /* 4. a resume from a folder without checkpoints fails with the reason */
  seen s6 = {0};
  gc_train_result r6;
  snprintf(p1, sizeof p1, "%s/none", dir);
  CHECK(run(ctx, 2, 0, NULL, p1, 0.05, 0, &s6, &r6) != GC_OK && strstr(gc_last_error(), "none/state.safetensors"));

  /* 5. a source whose targets do not fit the task is refused before any step */
  {
    gc_net_spec sp;
    gc_net *net = NULL;
    gc_task *task = NULL;
    gc_optim *opt = NULL;
    gc_trainer *tr = NULL;
    mem_source ms;
    CHECK_OK(gc_net_spec_init(&sp, "resnet10_w16", 0));
    sp.in_h = sp.in_w = HW;
    sp.classes = CLASSES;
    CHECK_OK(gc_net_create(ctx, &sp, B, &net));
    gc_optim_config oc;
    gc_optim_config_default(&oc, GC_OPT_SGD);
    gc_train_config tc;
    memset(&tc, 0, sizeof tc);
    tc.epochs = 1;
    if (net) {
      CHECK_OK(gc_net_optim_create(ctx, net, &oc, 0.0f, 0, &opt));
      CHECK_OK(gc_task_create(ctx, &gc_task_classify, net, &task));
      CHECK_OK(gc_trainer_create(ctx, net, task, opt, &tc, NULL, &tr));
    }
    gc_batch_source src = mem_src(&ms, g_x, g_t, N, B, C * HW * HW, 1);
    src.target_dim = 5;
    gc_metrics m;
    double ts, os;
    if (tr) CHECK_STATUS(gc_train_epoch(tr, &src, 0, &m, &ts, &os), GC_ERR_ARG);
    CHECK(strstr(gc_last_error(), "5 target values per image, the classification task takes 1") != NULL);
    gc_trainer_free(tr), gc_task_free(task), gc_optim_free(opt), gc_net_free(net);
    free(ms.bx), free(ms.bt);
  }

  /* 6. the warm-up builds and frees a scratch net for each optimizer */
  gc_net_spec sp;
  CHECK_OK(gc_net_spec_init(&sp, "resnet10_w16", 0));
  sp.in_h = sp.in_w = HW;
  gc_optim_config oc[2];
  gc_optim_config_default(&oc[0], GC_OPT_SGDM);
  gc_optim_config_default(&oc[1], GC_OPT_ADAM);
  oc[1].gaf = GC_GAF_TANH;
  CHECK_OK(gc_train_warmup(ctx, &sp, B, &gc_task_classify, oc, 2));

  /* 7. a caller's transport of one process: the reduction path, the bits of run 1 (model and state) */
  for (int v = 0; v < 2; v++) {
    int calls = 0;
    gc_comm self = {&calls, 0, 1, self_copy, self_bcast, self_copy};
    g_comm = &self;
    g_bucket_bytes = v ? 1 : 0; /* a bucket per parameter, or the default 5 MiB */
    g_no_overlap = v;
    seen s7 = {0};
    gc_train_result r7;
    snprintf(b, sizeof b, "%s/self%d", dir, v);
    mkdir(b, 0755);
    CHECK_OK(run(ctx, 3, 0, b, NULL, 0.05, 0, &s7, &r7));
    g_comm = NULL;
    CHECK(calls > 3 * (N / B)); /* at least one reduction per step */
    CHECK(same_outputs(a, b));
    int same = s7.steps == s1.steps;
    for (int i = 0; same && i < s1.steps; i++) same = s7.step_loss[i] == s1.step_loss[i];
    CHECK(same);
    printf("  own transport of one process (%s buckets, overlap %s): %d collective calls, the bits of the plain run\n",
           v ? "per-parameter" : "5 MiB", v ? "off" : "on", calls);
  }

  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  CHECK(system(cmd) == 0);
  free(g_x), free(g_t);
  gc_ctx_free(ctx);
  return gc_test_summary("test_train");
}
