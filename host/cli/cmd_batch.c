/* gafcl eval and gafcl steps: one batch from .npy files, for exact comparisons with PyTorch. eval writes
 * the task's output of the batch (the logits; an SSD's loc and conf); steps runs N training steps of the
 * trainer on exactly that batch (labels, or an SSD's box targets) and saves the weights with the running
 * statistics. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gc_checkpoint.h"
#include "gc_npy.h"

void cmd_batch_defaults(gafcl_cfg *c) { snprintf(c->gaf, sizeof c->gaf, "none"); }

typedef struct batch {
  gc_npy x, y;
  gc_net *net;
  gc_task *task;
  float *labels;
} batch;

static void batch_free(batch *b) {
  gc_task_free(b->task);
  gc_net_free(b->net);
  gc_npy_free(&b->x);
  gc_npy_free(&b->y);
  free(b->labels);
}

/* the net for the batch's shape, its weights (--weights, else from --seed), the batch and its labels */
static int batch_open(gc_ctx *ctx, const gafcl_cfg *c, batch *b) {
  int st = 0;
  memset(b, 0, sizeof *b);
  if (!c->images[0]) GC_FAIL(GC_ERR_ARG, "--images FILE.npy (float32 N x C x H x W) is required");
  GC_TRY(gc_npy_read(c->images, &b->x));
  if (strcmp(b->x.descr, "<f4") || b->x.ndim != 4)
    GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: images must be float32 (N, C, H, W), not %s with %d dimensions", c->images,
                 b->x.descr, b->x.ndim);
  for (int i = 0; i < 4; i++)
    if (b->x.shape[i] == 0 || b->x.shape[i] > 65536)
      GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: shape (%zu, %zu, %zu, %zu): every dimension must be between 1 and 65536", c->images,
                   b->x.shape[0], b->x.shape[1], b->x.shape[2], b->x.shape[3]);
  gc_net_spec s;
  GC_TRY(gc_net_spec_init(&s, c->net, c->imagenet));
  s.in_ch = (int)b->x.shape[1];
  s.in_h = (int)b->x.shape[2];
  s.in_w = (int)b->x.shape[3];
  const int det = gc_task_for(&s) == &gc_task_detect;
  if (c->classes > 0) s.classes = (int)c->classes;
  else if (!det) s.classes = 10;
  GC_TRY(gc_net_create(ctx, &s, b->x.shape[0], &b->net));
  if (c->weights[0])
    GC_TRY(gc_ckpt_load_model(ctx, b->net, c->weights, 1, NULL));
  else
    GC_TRY(gc_net_init(ctx, b->net, c->seed));
  GC_TRY(gc_task_create(ctx, gc_task_for(&s), b->net, &b->task));
  GC_TRY(gc_tensor_write(ctx, gc_net_input(b->net), b->x.data, b->x.count));
  if (det && c->labels[0]) GC_FAIL_GOTO(GC_ERR_ARG, "--net %s is a detection network: its targets are --targets T.npy "
                                        "(N, K, 5), not --labels", c->net);
  if (!det && c->targets[0]) GC_FAIL_GOTO(GC_ERR_ARG, "--targets is for detection networks; %s takes --labels", c->net);
  if (!det && c->outputs[0]) GC_FAIL_GOTO(GC_ERR_ARG, "--outputs is for detection networks; %s writes --logits", c->net);
  if (det && c->targets[0]) {
    GC_TRY(cli_det_targets_npy(c->targets, b->x.shape[0], s.classes, &b->labels));
    GC_TRY(gc_task_set_targets(ctx, b->task, b->labels));
  }
  if (!det && c->labels[0]) {
    GC_TRY(gc_npy_read(c->labels, &b->y));
    if (b->y.count != b->x.shape[0])
      GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: %zu labels for %zu images", c->labels, b->y.count, b->x.shape[0]);
    b->labels = malloc(b->y.count * sizeof *b->labels);
    if (!b->labels) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "labels");
    GC_TRY(gc_npy_labels(&b->y, s.classes, b->labels, c->labels));
    GC_TRY(gc_task_set_targets(ctx, b->task, b->labels));
  }
cleanup:
  return st;
}

int cmd_eval(gafcl_cfg *c) {
  int st = 0;
  gc_ctx *ctx = NULL;
  batch b;
  float *out = NULL;
  memset(&b, 0, sizeof b);
  if (!c->logits[0] && !c->outputs[0])
    return cli_fail(gc_error_set(GC_ERR_ARG, __FILE__, __LINE__, "--logits OUT.npy (an SSD: --outputs DIR) is required"), "eval");
  if ((st = cli_open(c, &ctx)) != 0) return cli_fail(st, "cannot open the device");
  GC_TRY(batch_open(ctx, c, &b));
  GC_TRY(gc_net_forward(ctx, b.net, c->bn_train));
  const gc_ssd_layout *L = gc_net_ssd(b.net);
  if (L) {
    if (!c->outputs[0]) GC_FAIL_GOTO(GC_ERR_ARG, "--net %s is a detection network: --outputs DIR gets loc.npy and conf.npy", c->net);
    const size_t N = gc_net_batch(b.net), P = L->npriors, C = (size_t)L->classes, row = P * (4 + C);
    out = malloc(N * row * sizeof *out);
    float *part = malloc(N * P * C * sizeof *part);
    if (!out || !part) {
      free(part);
      GC_FAIL_GOTO(GC_ERR_HOST_MEM, "outputs");
    }
    st = gc_tensor_read(ctx, gc_net_output(b.net), out, N * row);
    if (!st && mkdir(c->outputs, 0755) != 0 && errno != EEXIST)
      st = gc_error_set(GC_ERR_IO, __FILE__, __LINE__, "cannot create %s: %s", c->outputs, strerror(errno));
    for (int k = 0; k < 2 && !st; k++) { /* loc (N, P, 4), conf (N, P, C) */
      size_t w = k ? C : 4, off = k ? 4 * P : 0, dims[3] = {N, P, w};
      for (size_t n = 0; n < N; n++) memcpy(part + n * P * w, out + n * row + off, P * w * sizeof *part);
      char path[1100];
      snprintf(path, sizeof path, "%s/%s.npy", c->outputs, k ? "conf" : "loc");
      st = gc_npy_write_f32(path, 3, dims, part);
    }
    free(part);
    if (st) goto cleanup;
    printf("loc (%zu x %zu x 4) and conf (%zu x %zu x %zu), pre-softmax, %s batch norm, written to %s\n", N, P, N, P, C,
           c->bn_train ? "train-mode" : "eval-mode", c->outputs);
    if (b.labels) {
      double loss;
      char sum[200];
      gc_task_reset(b.task);
      GC_TRY(gc_task_loss(ctx, b.task, 0, N, &loss));
      gc_task_summary(b.task, sum, sizeof sum);
      printf("%s\n", sum);
    }
    goto cleanup;
  }
  if (!c->logits[0]) GC_FAIL_GOTO(GC_ERR_ARG, "--logits OUT.npy is required for %s", c->net);
  gc_tensor o;
  const char *name;
  GC_TRY(gc_task_output(b.task, 0, &o, &name));
  size_t n = gc_tensor_numel(&o);
  out = malloc(n * sizeof *out);
  if (!out) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "%s", name);
  GC_TRY(gc_tensor_read(ctx, &o, out, n));
  GC_TRY(gc_npy_write_f32(c->logits, o.ndim, o.dim, out));
  printf("%s (%zu x %zu, %s batch norm) written to %s\n", name, o.dim[0], o.dim[1], c->bn_train ? "train-mode" : "eval-mode",
         c->logits);
  if (b.labels) {
    double loss;
    char sum[200];
    gc_task_reset(b.task);
    GC_TRY(gc_task_loss(ctx, b.task, 0, gc_net_batch(b.net), &loss));
    gc_task_summary(b.task, sum, sizeof sum);
    printf("%s\n", sum);
  }
cleanup:
  batch_free(&b);
  free(out);
  gc_ctx_free(ctx);
  return st ? cli_fail(st, "eval failed") : 0;
}

int cmd_steps(gafcl_cfg *c) {
  int st = 0;
  gc_ctx *ctx = NULL;
  gc_optim *opt = NULL;
  gc_trainer *tr = NULL;
  batch b;
  memset(&b, 0, sizeof b);
  if ((!c->labels[0] && !c->targets[0]) || !c->save[0])
    return cli_fail(gc_error_set(GC_ERR_ARG, __FILE__, __LINE__, "gafcl steps needs --labels FILE.npy (an SSD: --targets "
                                 "T.npy), --steps N and --save OUT.safetensors"), "steps");
  if ((st = cli_open(c, &ctx)) != 0) return cli_fail(st, "cannot open the device");
  GC_TRY(batch_open(ctx, c, &b));
  gc_optim_config oc;
  GC_TRY(cli_optim_config(c, &oc));
  GC_TRY(gc_net_optim_create(ctx, b.net, &oc, (float)c->weight_decay, c->no_wd_bn_bias, &opt));
  gc_train_config tc;
  memset(&tc, 0, sizeof tc);
  GC_TRY(gc_trainer_create(ctx, b.net, b.task, opt, &tc, NULL, &tr));
  for (long t = 0; t < c->steps; t++) {
    gc_step_report r;
    gc_task_reset(b.task);
    GC_TRY(gc_train_step(tr, NULL, NULL, (float)c->lr, &r)); /* the batch is on the device already */
    if (gc_net_ssd(b.net)) { /* the localisation and confidence parts */
      char sum[200];
      gc_task_summary(b.task, sum, sizeof sum);
      printf("step %ld: %s%s\n", t + 1, sum, r.skipped ? " (non-finite gradients: skipped)" : "");
    } else {
      printf("step %ld: loss %.6f%s\n", t + 1, r.loss, r.skipped ? " (non-finite gradients: skipped)" : "");
    }
  }
  GC_TRY(gc_ckpt_save_model(ctx, b.net, -1, c->save));
  printf("weights after %ld steps written to %s\n", c->steps, c->save);
cleanup:
  gc_trainer_free(tr);
  gc_optim_free(opt);
  batch_free(&b);
  gc_ctx_free(ctx);
  return st ? cli_fail(st, "steps failed") : 0;
}
