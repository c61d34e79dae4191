/* Detection: SSD300's parameter names, shapes and count against ssd.pytorch's state_dict; the 8732 priors;
 * matching and encoding; hard negative mining; the multibox loss reference against central differences
 * and the device's loss and gradient against the reference; ssd_tiny on the device against the graph's
 * double-precision reference (L2Norm, dilation, ceil-mode pooling, the NHWC heads) with central
 * differences through the graph; NMS; and the VOC average precision on hand-computed cases. */
#include "gc_detect.h"
#include "gc_net.h"
#include "gc_targets.h"
#include "gc_task.h"
#include "gc_test.h"

static int name_is(gc_net *net, int i, const char *want) {
  const char *got = i < gc_net_nparams(net) ? gc_net_param(net, i)->name : "(none)";
  if (strcmp(got, want)) fprintf(stderr, "  parameter %d: %s, expected %s\n", i, got, want);
  return !strcmp(got, want);
}

static int dims_are(gc_net *net, const char *name, size_t a, size_t b, size_t c, size_t d) {
  for (int i = 0; i < gc_net_nparams(net); i++) {
    const gc_param *p = gc_net_param(net, i);
    if (strcmp(p->name, name)) continue;
    size_t want[4] = {a, b, c, d};
    for (int k = 0; k < p->ndim; k++)
      if (p->dims[k] != want[k]) {
        fprintf(stderr, "  %s: dimension %d is %zu, expected %zu\n", name, k, p->dims[k], want[k]);
        return 0;
      }
    return 1;
  }
  fprintf(stderr, "  missing %s\n", name);
  return 0;
}

/* ssd.pytorch's state_dict for 21 classes: 71 tensors, 26,285,486 parameters, in this order */
static void test_ssd300_names(gc_ctx *ctx) {
  gc_net_spec s;
  CHECK_OK(gc_net_spec_init(&s, "ssd300", 0));
  CHECK(s.in_h == 300 && s.in_w == 300 && s.classes == 21);
  gc_net *net = NULL;
  CHECK_OK(gc_net_plan(ctx, &s, 1, &net));
  if (!net) return;
  CHECK(gc_net_nparams(net) == 71);
  CHECK(gc_net_param_count(net) == 26285486);
  CHECK(gc_net_param_count(net) == gc_net_arch(gc_net_arch_count() - 2)->params_voc);
  static const int vgg[15] = {0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28, 31, 33};
  int i = 0;
  char name[64];
  for (int k = 0; k < 15; k++)
    for (int wb = 0; wb < 2; wb++) {
      snprintf(name, sizeof name, "vgg.%d.%s", vgg[k], wb ? "bias" : "weight");
      CHECK(name_is(net, i++, name));
    }
  CHECK(name_is(net, i++, "L2Norm.weight"));
  for (int k = 0; k < 8; k++)
    for (int wb = 0; wb < 2; wb++) {
      snprintf(name, sizeof name, "extras.%d.%s", k, wb ? "bias" : "weight");
      CHECK(name_is(net, i++, name));
    }
  for (int h = 0; h < 2; h++)
    for (int k = 0; k < 6; k++)
      for (int wb = 0; wb < 2; wb++) {
        snprintf(name, sizeof name, "%s.%d.%s", h ? "conf" : "loc", k, wb ? "bias" : "weight");
        CHECK(name_is(net, i++, name));
      }
  CHECK(dims_are(net, "vgg.0.weight", 64, 3, 3, 3));
  CHECK(dims_are(net, "vgg.31.weight", 1024, 512, 3, 3));
  CHECK(dims_are(net, "vgg.33.weight", 1024, 1024, 1, 1));
  CHECK(dims_are(net, "L2Norm.weight", 512, 0, 0, 0));
  CHECK(dims_are(net, "extras.1.weight", 512, 256, 3, 3));
  CHECK(dims_are(net, "extras.7.weight", 256, 128, 3, 3));
  CHECK(dims_are(net, "loc.0.weight", 16, 512, 3, 3));
  CHECK(dims_are(net, "loc.1.weight", 24, 1024, 3, 3));
  CHECK(dims_are(net, "conf.0.weight", 84, 512, 3, 3));
  CHECK(dims_are(net, "conf.5.weight", 84, 256, 3, 3));
  const gc_ssd_layout *L = gc_net_ssd(net);
  CHECK(L && L->npriors == 8732 && L->classes == 21);
  /* a class count is a parameter: 81 classes change only the conf heads */
  s.classes = 81;
  gc_net *n81 = NULL;
  CHECK_OK(gc_net_plan(ctx, &s, 1, &n81));
  size_t conf_in[6] = {512, 1024, 512, 256, 256, 256}, boxes[6] = {4, 6, 6, 6, 4, 4}, extra = 0;
  for (int k = 0; k < 6; k++) extra += boxes[k] * 60 * (conf_in[k] * 9 + 1);
  CHECK(n81 && gc_net_param_count(n81) == 26285486 + extra);
  gc_net_free(n81);
  /* the wrong input size is refused */
  s.classes = 21;
  s.in_h = s.in_w = 256;
  CHECK_STATUS(gc_net_plan(ctx, &s, 1, &n81), GC_ERR_ARG);
  CHECK(strstr(gc_last_error(), "300") != NULL);
  gc_net_free(net);
}

static int near(double a, double b, double tol) {
  if (fabs(a - b) > tol) fprintf(stderr, "  %.9g vs %.9g\n", a, b);
  return fabs(a - b) <= tol;
}

static void test_priors(gc_ctx *ctx) {
  gc_net_spec s;
  gc_net_spec_init(&s, "ssd300", 0);
  gc_net *net = NULL;
  CHECK_OK(gc_net_plan(ctx, &s, 1, &net));
  if (!net) return;
  const gc_ssd_layout *L = gc_net_ssd(net);
  float *p = malloc(L->npriors * 4 * sizeof *p);
  gc_ssd_priors(L, p);
  /* cell (0, 0) of conv4_3: centre 0.5 / (300 / 8), sizes 0.1, sqrt(0.1 * 0.2), 0.1 * sqrt(2) x 0.1 / sqrt(2) */
  double c0 = 0.5 / 37.5;
  CHECK(near(p[0], c0, 1e-7) && near(p[1], c0, 1e-7) && near(p[2], 0.1, 1e-7) && near(p[3], 0.1, 1e-7));
  CHECK(near(p[6], sqrt(0.02), 1e-7) && near(p[7], sqrt(0.02), 1e-7));
  CHECK(near(p[10], 0.1 * sqrt(2.0), 1e-7) && near(p[11], 0.1 / sqrt(2.0), 1e-7));
  CHECK(near(p[14], 0.1 / sqrt(2.0), 1e-7) && near(p[15], 0.1 * sqrt(2.0), 1e-7));
  /* the second cell of the row moves in x */
  CHECK(near(p[16], 1.5 / 37.5, 1e-7) && near(p[17], c0, 1e-7));
  /* the last prior: the 1x1 map, ratio 2 swapped: (0.88 / sqrt 2, 0.88 * sqrt 2 clamped to 1) */
  const float *q = p + 4 * (L->npriors - 1);
  CHECK(near(q[0], 0.5, 1e-7) && near(q[1], 0.5, 1e-7) && near(q[2], 0.88 / sqrt(2.0), 1e-6) && near(q[3], 1.0, 1e-7));
  /* fc7's first prior starts at index 38*38*4 */
  const float *f = p + 4 * (38 * 38 * 4);
  CHECK(near(f[0], 0.5 / 18.75, 1e-7) && near(f[2], 0.2, 1e-7));
  /* all inside [0, 1] */
  int in = 1;
  for (size_t k = 0; k < L->npriors * 4; k++) in &= p[k] >= 0 && p[k] <= 1;
  CHECK(in);
  free(p);
  gc_net_free(net);
}

static void test_match(void) {
  /* three priors; a ground truth equal to prior 1 and one overlapping nothing well */
  float pr[12] = {0.25f, 0.25f, 0.2f, 0.2f, 0.5f, 0.5f, 0.4f, 0.4f, 0.8f, 0.8f, 0.2f, 0.2f};
  float rows[3 * GC_DET_ROW] = {0.3f, 0.3f, 0.7f, 0.7f, 2, 0,   /* = prior 1 */
                                0.0f, 0.9f, 0.05f, 0.95f, 0, 0, /* tiny: its best prior is forced */
                                0.1f, 0.1f, 0.2f, 0.2f, -1, 0}; /* padding */
  float lt[12];
  int ct[3];
  float work[16];
  int npos = gc_det_match(pr, 3, rows, 3, GC_DET_ROW, 0.5f, lt, ct, work);
  CHECK(npos == 2);
  CHECK(ct[1] == 3); /* label 2 + 1 */
  CHECK(near(lt[4], 0, 1e-6) && near(lt[5], 0, 1e-6) && near(lt[6], 0, 1e-6) && near(lt[7], 0, 1e-6));
  /* the tiny box overlaps no prior: every IoU is 0, so its "best" is the first prior */
  CHECK(ct[0] == 1 && ct[2] == 0);
  /* encode / decode round trip */
  float box[4] = {0.12f, 0.3f, 0.5f, 0.61f}, code[4], back[4];
  gc_det_encode(box, pr + 8, code);
  gc_det_decode(code, pr + 8, back);
  for (int k = 0; k < 4; k++) CHECK(near(back[k], box[k], 1e-6));
  /* mining: priors 0..5, one positive (index 2): 3 negatives with the largest losses, ties by index */
  float mine[6] = {0.5f, 2.0f, 0.0f, 0.5f, 1.0f, 0.5f};
  int conf[6] = {0, 0, 4, 0, 0, 0};
  unsigned char sel[6];
  size_t order[6];
  gc_det_mine(mine, conf, 6, 3, sel, order);
  CHECK(sel[2] && sel[1] && sel[4] && sel[0] && !sel[3] && !sel[5]);
  /* no positive: nothing chosen */
  int none[6] = {0, 0, 0, 0, 0, 0};
  gc_det_mine(mine, none, 6, 3, sel, order);
  int any = 0;
  for (int k = 0; k < 6; k++) any |= sel[k];
  CHECK(!any);
}

/* the reference loss's gradients against central differences */
static void test_loss_fd(void) {
  const size_t N = 2, P = 40, C = 4;
  double *loc = malloc(N * P * 4 * sizeof *loc), *conf = malloc(N * P * C * sizeof *conf);
  double *dl = malloc(N * P * 4 * sizeof *dl), *dc = malloc(N * P * C * sizeof *dc);
  float *lt = malloc(N * P * 4 * sizeof *lt);
  int *ct = malloc(N * P * sizeof *ct);
  unsigned long long seed = 7;
  for (size_t i = 0; i < N * P * 4; i++) loc[i] = 2 * gc_test_rand(&seed), lt[i] = (float)gc_test_rand(&seed);
  for (size_t i = 0; i < N * P * C; i++) conf[i] = 3 * gc_test_rand(&seed);
  for (size_t i = 0; i < N * P; i++) ct[i] = i % 9 == 0 ? 1 + (int)(i % 3) : 0;
  double l0, c0;
  gc_det_loss_ref(N, P, C, loc, conf, lt, ct, 3, &l0, &c0, dl, dc);
  CHECK(l0 > 0 && c0 > 0);
  int bad = 0, checked = 0;
  const double h = 1e-6;
  for (int part = 0; part < 2; part++) {
    double *v = part ? conf : loc, *g = part ? dc : dl;
    size_t n = part ? N * P * C : N * P * 4;
    for (size_t k = 0; k < n; k += 7) {
      double save = v[k], lp, cp, lm, cm;
      v[k] = save + h;
      gc_det_loss_ref(N, P, C, loc, conf, lt, ct, 3, &lp, &cp, NULL, NULL);
      v[k] = save - h;
      gc_det_loss_ref(N, P, C, loc, conf, lt, ct, 3, &lm, &cm, NULL, NULL);
      v[k] = save;
      double num = (lp + cp - lm - cm) / (2 * h);
      checked++;
      if (fabs(num - g[k]) > 1e-6 + 1e-5 * fabs(num)) {
        if (bad++ < 3) fprintf(stderr, "  fd %s[%zu]: numeric %.9g analytic %.9g\n", part ? "conf" : "loc", k, num, g[k]);
      }
    }
  }
  CHECK(bad == 0);
  printf("  multibox reference: loss_l %.4f loss_c %.4f; %d central differences\n", l0, c0, checked);
  free(loc), free(conf), free(dl), free(dc), free(lt), free(ct);
}

/* a random ground truth of 1-3 boxes per image */
static void random_targets(float *t, size_t N, int classes, unsigned long long *seed) {
  for (size_t n = 0; n < N; n++) {
    float *o = t + n * GC_DET_TARGET_DIM;
    memset(o, 0, GC_DET_TARGET_DIM * sizeof *o);
    o[0] = 128, o[1] = 128;
    for (int k = 0; k < GC_DET_MAX_BOXES; k++) o[2 + k * GC_DET_ROW + 4] = -1;
    int nb = 1 + (int)((gc_test_rand(seed) + 1) * 1.5);
    for (int k = 0; k < nb; k++) {
      float *r = o + 2 + k * GC_DET_ROW;
      double w = 0.15 + 0.25 * (gc_test_rand(seed) + 1), hh = 0.15 + 0.25 * (gc_test_rand(seed) + 1);
      double x = (1 - w) * (gc_test_rand(seed) + 1) / 2, y = (1 - hh) * (gc_test_rand(seed) + 1) / 2;
      r[0] = (float)x, r[1] = (float)y, r[2] = (float)(x + w), r[3] = (float)(y + hh);
      r[4] = (float)(k % (classes - 1));
    }
  }
}

/* ssd_tiny on the device: the graph against its reference (forward, parameter gradients), the task's
 * loss and output gradient against the reference loss, and central differences through the graph */
static void test_tiny(gc_ctx *ctx) {
  gc_net_spec s;
  CHECK_OK(gc_net_spec_init(&s, "ssd_tiny", 0));
  s.classes = 4;
  const size_t N = 2;
  gc_net *net = NULL;
  CHECK_OK(gc_net_create(ctx, &s, N, &net));
  if (!net) return;
  CHECK_OK(gc_net_init(ctx, net, 3));
  const gc_ssd_layout *L = gc_net_ssd(net);
  CHECK(L && L->npriors == 1528);
  const size_t P = L->npriors, C = 4, row = P * (4 + C), nx = N * 3 * 128 * 128, no = N * row;
  float *xf = malloc(nx * sizeof *xf), *t = malloc(N * GC_DET_TARGET_DIM * sizeof *t);
  double *x = malloc(nx * sizeof *x), *oref = malloc(no * sizeof *oref), *dref = malloc(no * sizeof *dref);
  float *o = malloc(no * sizeof *o), *dout = malloc(no * sizeof *dout);
  unsigned long long seed = 11;
  for (size_t i = 0; i < nx; i++) x[i] = xf[i] = 50.0f * (float)gc_test_rand(&seed); /* mean-subtracted pixels */
  random_targets(t, N, (int)C, &seed);
  CHECK_OK(gc_tensor_write(ctx, gc_net_input(net), xf, nx));
  gc_task *task = NULL;
  CHECK_OK(gc_task_create(ctx, &gc_task_detect, net, &task));
  if (!task) return;
  CHECK_OK(gc_task_set_targets(ctx, task, t));
  gc_net_ref *r = NULL;
  CHECK_OK(gc_net_ref_create(ctx, net, &r));
  CHECK_OK(gc_net_zero_grad(ctx, net));
  CHECK_OK(gc_net_forward(ctx, net, 1));
  double loss = 0;
  CHECK_OK(gc_task_loss(ctx, task, 1, N, &loss));
  CHECK_OK(gc_net_backward(ctx, net));
  CHECK_OK(gc_tensor_read(ctx, gc_net_output(net), o, no));
  CHECK_OK(gc_tensor_read(ctx, gc_net_doutput(net), dout, no));
  gc_net_ref_forward(r, x, 1, oref);
  double big = 0, worst = 0;
  for (size_t i = 0; i < no; i++) big = fmax(big, fabs(oref[i]));
  for (size_t i = 0; i < no; i++) worst = fmax(worst, fabs(o[i] - oref[i]) / big);
  CHECK(worst < 1e-3);
  /* the loss on the device's output against the reference loss, with the same matching */
  float *priors = malloc(P * 4 * sizeof *priors), *lt = malloc(N * P * 4 * sizeof *lt);
  int *ct = malloc(N * P * sizeof *ct);
  void *work = malloc(gc_det_match_work(P));
  gc_ssd_priors(L, priors);
  for (size_t n = 0; n < N; n++)
    gc_det_match(priors, P, t + n * GC_DET_TARGET_DIM + 2, GC_DET_MAX_BOXES, GC_DET_ROW, 0.5f, lt + n * P * 4, ct + n * P, work);
  double *lo = malloc(N * P * 4 * sizeof *lo), *co = malloc(N * P * C * sizeof *co);
  double *dlo = malloc(N * P * 4 * sizeof *dlo), *dco = malloc(N * P * C * sizeof *dco);
  for (size_t n = 0; n < N; n++) {
    for (size_t k = 0; k < P * 4; k++) lo[n * P * 4 + k] = o[n * row + k];
    for (size_t k = 0; k < P * C; k++) co[n * P * C + k] = o[n * row + P * 4 + k];
  }
  double ll, lc;
  gc_det_loss_ref(N, P, C, lo, co, lt, ct, 3, &ll, &lc, dlo, dco);
  CHECK(near(loss, ll + lc, 1e-4 * fabs(ll + lc)));
  double gerr = 0, gbig = 0;
  for (size_t n = 0; n < N; n++) {
    for (size_t k = 0; k < P * 4; k++) gerr = fmax(gerr, fabs(dout[n * row + k] - dlo[n * P * 4 + k])), gbig = fmax(gbig, fabs(dlo[n * P * 4 + k]));
    for (size_t k = 0; k < P * C; k++)
      gerr = fmax(gerr, fabs(dout[n * row + P * 4 + k] - dco[n * P * C + k])), gbig = fmax(gbig, fabs(dco[n * P * C + k]));
  }
  CHECK(gbig > 0 && gerr <= 1e-4 * gbig);
  printf("  ssd_tiny: output rel. err %.2e; loss %.6f (reference %.6f); output gradient err %.2e of %.2e\n", worst, loss,
         ll + lc, gerr, gbig);
  /* parameter gradients from the device's output gradient */
  for (size_t i = 0; i < no; i++) dref[i] = dout[i];
  gc_net_ref_backward(r, dref, NULL);
  /* per tensor ||device - reference|| / ||reference||: float and double can take a ReLU decision on a value
   * within rounding of zero differently (measured: one such flip moves vgg.0.weight's gradient by 1% with
   * most convolution algorithms, not with Winograd's rounding); the flip's effect shrinks away from the
   * input, so at most the first few tensors may exceed 1e-3, none 2e-2 */
  double gworst = 0;
  int nloose = 0;
  const char *gname = "";
  for (int i = 0; i < gc_net_nparams(net); i++) {
    const gc_param *p = gc_net_param(net, i);
    size_t n = gc_tensor_numel(&p->g);
    float *gd = malloc(n * sizeof *gd);
    CHECK_OK(gc_tensor_read(ctx, &p->g, gd, n));
    const double *gr = gc_net_ref_pgrad(r, i);
    double en = 0, rn = 0;
    for (size_t k = 0; k < n; k++) en += (gd[k] - gr[k]) * (gd[k] - gr[k]), rn += gr[k] * gr[k];
    double l2 = rn > 0 ? sqrt(en / rn) : sqrt(en);
    if (l2 > gworst) gworst = l2, gname = p->name;
    if (l2 > 1e-3) fprintf(stderr, "  %s: gradient rel. l2 error %.3g\n", p->name, l2), nloose++;
    free(gd);
  }
  CHECK(gworst < 2e-2 && nloose <= 3);
  printf("  ssd_tiny: parameter gradients rel. l2 error %.2e (worst: %s)\n", gworst, gname);
  /* central differences of sum(w * output) through the reference graph, a few elements per tensor */
  double *w = malloc(no * sizeof *w), *ob = malloc(no * sizeof *ob);
  for (size_t i = 0; i < no; i++) w[i] = gc_test_rand(&seed);
  gc_net_ref_forward(r, x, 1, ob);
  gc_net_ref_backward(r, w, NULL);
  int bad = 0, checked = 0;
  for (int i = 0; i < gc_net_nparams(net); i += 3) {
    const gc_param *p = gc_net_param(net, i);
    size_t n = gc_tensor_numel(&p->g);
    double *pw = gc_net_ref_param(r, i), *pg = gc_net_ref_pgrad(r, i);
    double *ga = malloc(n * sizeof *ga);
    memcpy(ga, pg, n * sizeof *ga);
    for (size_t k = 0; k < n; k += n / 2 + 1) {
      double save = pw[k], h = 1e-6, sp = 0, sm = 0;
      pw[k] = save + h;
      gc_net_ref_forward(r, x, 1, ob);
      for (size_t j = 0; j < no; j++) sp += w[j] * ob[j];
      pw[k] = save - h;
      gc_net_ref_forward(r, x, 1, ob);
      for (size_t j = 0; j < no; j++) sm += w[j] * ob[j];
      pw[k] = save;
      double num = (sp - sm) / (2 * h);
      checked++;
      if (!(fabs(num - ga[k]) <= 1e-4 + 1e-4 * fabs(num))) {
        if (bad++ < 3) fprintf(stderr, "  fd %s[%zu]: numeric %.10g analytic %.10g\n", p->name, k, num, ga[k]);
      }
    }
    free(ga);
  }
  CHECK(bad == 0);
  printf("  ssd_tiny: central differences through the graph: %d parameter elements\n", checked);
  free(w), free(ob), free(priors), free(lt), free(ct), free(work), free(lo), free(co), free(dlo), free(dco);
  gc_net_ref_free(r);
  gc_task_free(task);
  gc_net_free(net);
  free(xf), free(t), free(x), free(oref), free(dref), free(o), free(dout);
}

static void test_nms(void) {
  /* two priors at the same place: identical decoded boxes; one elsewhere */
  float pr[12] = {0.3f, 0.3f, 0.2f, 0.2f, 0.3f, 0.3f, 0.2f, 0.2f, 0.7f, 0.7f, 0.2f, 0.2f};
  float loc[12] = {0};
  /* 3 classes (background + 2); prior 0 and 1 say class 1, prior 1 less sure; prior 2 says class 2 */
  float conf[9] = {0, 5, 0, 0, 4, 0, 0, 0, 6};
  size_t work[128]; /* aligned for the indices at its start */
  gc_detection d[16];
  CHECK(gc_det_infer_work(3, 3) <= sizeof work);
  size_t n = gc_det_infer(loc, conf, pr, 3, 3, 0.01f, 200, 0.45f, d, 16, work);
  /* class 1: prior 0 kept, prior 1 suppressed (IoU 1); prior 2's class-1 score is tiny but above 0.01?
   * softmax(0,0,6) gives 0.0025 for class 1: under the threshold */
  CHECK(n == 3);
  CHECK(d[0].cls == 0 && near(d[0].score, exp(5.0) / (2 + exp(5.0)), 1e-6) && near(d[0].box[0], 0.2, 1e-6));
  /* the remaining detections: prior 1's class-2 score (1/(2+e^4) = 0.0177 > 0.01) and prior 2's */
  int c2 = 0;
  for (size_t k = 0; k < n; k++) c2 += d[k].cls == 1;
  CHECK(c2 == 2);
  /* top_k 1 keeps one per class */
  CHECK(gc_det_infer(loc, conf, pr, 3, 3, 0.01f, 1, 0.45f, d, 16, work) == 2);
}

static gc_det_scored D(size_t img, float s, float x0, float y0, float x1, float y1) {
  gc_det_scored d = {img, s, {x0, y0, x1, y1}};
  return d;
}

static void test_ap(void) {
  /* image 0: two objects; detections TP (0.9), FP (0.8), TP (0.7):
   * recall .5 .5 1, precision 1 .5 2/3. 11-point: 6 x 1 + 5 x 2/3 = 28/3 over 11; area: .5 x 1 + .5 x 2/3 */
  gc_det_truth gt[2] = {{0, {10, 10, 49, 49}, 0}, {0, {100, 100, 139, 139}, 0}};
  gc_det_scored d[3] = {D(0, 0.9f, 10, 10, 49, 49), D(0, 0.8f, 200, 200, 239, 239), D(0, 0.7f, 101, 101, 139, 139)};
  CHECK(near(gc_voc_ap(d, 3, gt, 2, 1), (28.0 / 3.0) / 11.0, 1e-9));
  CHECK(near(gc_voc_ap(d, 3, gt, 2, 0), 0.5 + 0.5 * 2.0 / 3.0, 1e-9));
  /* the order in the array does not matter, the scores do */
  gc_det_scored e[3] = {d[2], d[0], d[1]};
  CHECK(near(gc_voc_ap(e, 3, gt, 2, 0), 0.5 + 0.5 * 2.0 / 3.0, 1e-9));
  /* a duplicate of a found object is a false positive; a difficult object is neither */
  gc_det_truth g2[2] = {{0, {10, 10, 49, 49}, 0}, {1, {0, 0, 29, 29}, 1}};
  gc_det_scored f[3] = {D(0, 0.9f, 10, 10, 49, 49), D(1, 0.85f, 0, 0, 29, 29), D(0, 0.8f, 11, 11, 49, 49)};
  /* ranked: TP (rec 1, prec 1), ignored, FP (rec 1, prec .5): both rules give 1 */
  CHECK(near(gc_voc_ap(f, 3, g2, 2, 1), 1.0, 1e-9));
  CHECK(near(gc_voc_ap(f, 3, g2, 2, 0), 1.0, 1e-9));
  /* a miss ranked first: precision 0, then .5 at recall 1 */
  f[2] = D(0, 0.95f, 200, 200, 239, 239);
  CHECK(near(gc_voc_ap(f, 3, g2, 2, 0), 0.5, 1e-9));
  CHECK(near(gc_voc_ap(f, 3, g2, 2, 1), 0.5, 1e-9));
  /* IoU at the devkit's +1 pixel: 10..49 vs 30..69 is 20x40 / (2 x 1600 - 800) = 1/3: a miss */
  gc_det_scored m[1] = {D(0, 0.9f, 30, 10, 69, 49)};
  CHECK(near(gc_voc_ap(m, 1, gt, 2, 0), 0.0, 1e-12));
  /* no detections: AP 0; only difficult ground truth: undefined (-1) */
  CHECK(near(gc_voc_ap(NULL, 0, gt, 2, 1), 0.0, 1e-12));
  CHECK(gc_voc_ap(d, 3, g2 + 1, 1, 1) == -1.0);
}

int main(void) {
  gc_ctx *ctx = gc_test_open();
  if (!ctx) return 1;
  test_ssd300_names(ctx);
  test_priors(ctx);
  test_match();
  test_loss_fd();
  test_nms();
  test_ap();
  test_tiny(ctx);
  gc_ctx_free(ctx);
  return gc_test_summary("test_detect");
}
