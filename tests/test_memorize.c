/* Forward, backward and the fused update together, through the trainer's step: a few hundred
 * SGD-momentum steps on one tiny fixed batch of random images with random labels must drive the
 * training loss of ResNet-18 and DenseNet-CIFAR to near zero (a working net memorises it). Inputs are
 * 16x16 to keep this short on PoCL. Prints the loss curve. */
#include "gc_train.h"
#include "gc_test.h"

static void memorize(gc_ctx *ctx, const char *name, int steps, float lr) {
  gc_net_spec s;
  CHECK_OK(gc_net_spec_init(&s, name, 0));
  s.in_h = s.in_w = 16;
  size_t N = 8;
  gc_net *net = NULL;
  CHECK_OK(gc_net_create(ctx, &s, N, &net));
  if (!net) return;
  CHECK_OK(gc_net_init(ctx, net, 7));
  size_t nx = N * 3 * 16 * 16;
  float *x = malloc(nx * sizeof *x), lab[8];
  unsigned long long seed = 1234;
  for (size_t i = 0; i < nx; i++) x[i] = gc_test_rand(&seed);
  for (size_t i = 0; i < N; i++) lab[i] = (float)((i * 7 + 3) % 10);
  gc_optim_config oc;
  gc_optim_config_default(&oc, GC_OPT_SGDM);
  gc_optim *opt = NULL;
  gc_task *task = NULL;
  gc_trainer *tr = NULL;
  gc_train_config tc;
  memset(&tc, 0, sizeof tc);
  CHECK_OK(gc_net_optim_create(ctx, net, &oc, 0.0f, 1, &opt));
  CHECK_OK(gc_task_create(ctx, &gc_task_classify, net, &task));
  if (opt && task) CHECK_OK(gc_trainer_create(ctx, net, task, opt, &tc, NULL, &tr));
  gc_step_report r = {0};
  double first = 0;
  int taken = 0;
  printf("  %s:", name);
  for (int t = 0; t < steps && tr; t++) {
    CHECK_OK(gc_train_step(tr, t == 0 ? x : NULL, t == 0 ? lab : NULL, lr, &r));
    if (t == 0) first = r.loss;
    CHECK(!r.skipped);
    taken = t + 1;
    if (t % 5 == 0 || t == steps - 1 || r.loss < 1e-3) printf(" %d:%.4f", t, r.loss);
    fflush(stdout);
    if (r.loss < 1e-3) break;
  }
  printf("\n");
  /* after the last step: the loss on the batch with batch statistics */
  double loss = 0;
  gc_metrics m = {0};
  if (task) {
    gc_task_reset(task);
    CHECK_OK(gc_net_forward(ctx, net, 1));
    CHECK_OK(gc_task_loss(ctx, task, 0, N, &loss));
    gc_task_metrics(task, 0, &m);
  }
  printf("  %s: loss %.4f -> %.5f after %d steps, top-1 %.0f%% of %zu\n", name, first, loss, taken, m.v[1], N);
  CHECK(first > 1.5);
  CHECK(loss < 0.05);
  CHECK(m.n == 3 && m.v[1] == 100.0);
  gc_trainer_free(tr);
  gc_task_free(task);
  gc_optim_free(opt);
  gc_net_free(net);
  free(x);
}

int main(void) {
  gc_ctx *ctx = gc_test_open();
  if (!ctx) return 1;
  memorize(ctx, "resnet18", 200, 0.05f);
  memorize(ctx, "densenet_cifar", 200, 0.1f);
  gc_ctx_free(ctx);
  return gc_test_summary("test_memorize");
}
