/* Forward, backward and the fused update together: a few hundred SGD-momentum steps on one tiny fixed
 * batch of random images with random labels must drive the training loss of ResNet-18 and
 * DenseNet-CIFAR to near zero (a working net memorises it). Inputs are 16x16 to keep this short on
 * PoCL. Prints the loss curve. */
#include "gc_net.h"
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
  CHECK_OK(gc_tensor_write(ctx, gc_net_input(net), x, nx));
  CHECK_OK(gc_tensor_write(ctx, gc_net_labels(net), lab, N));
  gc_optim_config oc;
  gc_optim_config_default(&oc, GC_OPT_SGDM);
  int np = gc_net_nparams(net);
  gc_optim_segment *segs = malloc((size_t)np * sizeof *segs);
  gc_net_segments(net, 0.0f, 1, segs);
  gc_optim *opt = NULL;
  CHECK_OK(gc_optim_create(ctx, &oc, gc_net_params(net), gc_net_grads(net), (size_t)np, segs, &opt));
  gc_xent_result r = {0}, first = {0};
  int taken = 0;
  printf("  %s:", name);
  for (int t = 0; t < steps && opt; t++) {
    CHECK_OK(gc_net_zero_grad(ctx, net));
    CHECK_OK(gc_net_forward(ctx, net, 1));
    CHECK_OK(gc_net_loss(ctx, net, 1, &r));
    if (t == 0) first = r;
    CHECK_OK(gc_net_backward(ctx, net));
    gc_optim_report rep;
    CHECK_OK(gc_optim_step(ctx, opt, lr, &rep));
    CHECK(!rep.skipped);
    taken = t + 1;
    if (t % 5 == 0 || t == steps - 1 || r.loss < 1e-3) printf(" %d:%.4f", t, r.loss);
    fflush(stdout);
    if (r.loss < 1e-3) break;
  }
  printf("\n");
  /* after the last step: the loss on the batch with batch statistics */
  CHECK_OK(gc_net_forward(ctx, net, 1));
  CHECK_OK(gc_net_loss(ctx, net, 0, &r));
  printf("  %s: loss %.4f -> %.5f after %d steps, %d of %zu correct\n", name, first.loss, r.loss, taken, r.top1, N);
  CHECK(first.loss > 1.5);
  CHECK(r.loss < 0.05);
  CHECK(r.top1 == (int)N);
  gc_optim_free(opt);
  gc_net_free(net);
  free(segs);
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
