/* Two training steps of a tiny network on synthetic data, through an installed gafcl: the smallest
 * program that uses the library from outside its tree (tests/install_check.sh builds it with CMake's
 * find_package and with pkg-config). Prints the two losses; exits 1 on any failure. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gafcl.h"
#include "gc_data.h"
#include "gc_train.h"

static int failed(int st, const char *what) {
  fprintf(stderr, "example: %s: %s (%s)\n", what, gc_last_error(), gc_status_name(st));
  return 1;
}

int main(void) {
  gc_ctx *ctx = NULL;
  gc_dataset d;
  gc_net_spec spec;
  gc_net *net = NULL;
  gc_task *task = NULL;
  gc_optim *opt = NULL;
  gc_trainer *tr = NULL;
  gc_loader *loader = NULL;
  int st, rc = 1;
  memset(&d, 0, sizeof d);
  if ((st = gc_ctx_create(&ctx, NULL)) != 0) return failed(st, "device");
  if ((st = gc_data_synthetic(&d, 16, 3, 16, 16, 4, 7)) != 0) { failed(st, "data"); goto done; }
  if ((st = gc_net_spec_init(&spec, "resnet10_w16", 0)) != 0) { failed(st, "spec"); goto done; }
  spec.in_h = spec.in_w = 16;
  spec.classes = 4;
  if ((st = gc_net_create(ctx, &spec, 8, &net)) || (st = gc_net_init(ctx, net, 1))) { failed(st, "net"); goto done; }
  if ((st = gc_task_create(ctx, &gc_task_classify, net, &task))) { failed(st, "task"); goto done; }
  gc_optim_config oc;
  gc_optim_config_default(&oc, GC_OPT_SGDM);
  oc.gaf = GC_GAF_ARCTAN;
  gc_train_config tc;
  memset(&tc, 0, sizeof tc);
  if ((st = gc_net_optim_create(ctx, net, &oc, 5e-4f, 0, &opt)) || (st = gc_trainer_create(ctx, net, task, opt, &tc, NULL, &tr))) {
    failed(st, "trainer");
    goto done;
  }
  gc_augment aug = {0, 0, 1};
  if ((st = gc_loader_create(&d, 8, 1, &aug, 7, 2, &loader)) || (st = gc_loader_start_epoch(loader, 0))) {
    failed(st, "loader");
    goto done;
  }
  for (int step = 0; step < 2; step++) {
    const float *x, *t;
    size_t real;
    if (gc_loader_next(loader, &x, &t, &real) != 1) { failed(GC_ERR_FORMAT, "batch"); goto done; }
    gc_step_report r;
    if ((st = gc_train_step(tr, x, t, 0.05f, &r)) != 0) { failed(st, "step"); goto done; }
    printf("step %d: loss %.6f%s\n", step + 1, r.loss, r.skipped ? " (skipped)" : "");
    if (!isfinite(r.loss) || r.skipped) goto done;
  }
  printf("gafcl %s on %s: two training steps of %s\n", GAFCL_VERSION_STRING, ctx->dev.name, spec.name);
  rc = 0;
done:
  gc_loader_free(loader);
  gc_trainer_free(tr);
  gc_optim_free(opt);
  gc_task_free(task);
  gc_net_free(net);
  gc_data_free(&d);
  gc_ctx_free(ctx);
  return rc;
}
