/* Layers: device forward and backward against the double-precision CPU reference, and the reference's
 * backward against central differences of its forward. Shapes are small, odd and not multiples of the
 * work-group size; batch 1 and 3; every stride/padding/dilation combination the networks use; channel
 * views of wider tensors (DenseNet concatenation); chunked im2col and split weight-gradient reductions.
 * `--small` runs a subset for Oclgrind. Prints the largest relative error per layer. */
#include "layer_util.h"

#include <dirent.h>

static int small;

/* dense[n, c, p] = big[n, c0 + c, p] */
static float *extract(const float *big, size_t N, size_t Cb, size_t c0, size_t C, size_t P) {
  float *d = malloc(N * C * P * sizeof *d);
  for (size_t n = 0; n < N; n++) memcpy(d + n * C * P, big + (n * Cb + c0) * P, C * P * sizeof *d);
  return d;
}

/* ---------------- convolution ---------------- */

typedef struct {
  gc_conv c;
  size_t N, H, W, ny;
  double *x, *w, *b, *r, *y;
} conv_ud;

static double conv_loss(void *u) {
  conv_ud *d = u;
  gc_ref_conv_fwd(&d->c, d->N, d->H, d->W, d->x, d->w, d->b, d->y);
  return dot(d->y, d->r, d->ny);
}

/* strided: x, y, dy, dx are channel views of wider tensors. chunky: tiny workspace bound and split. */
static int supports_any(int k, const gc_conv *c) {
  return gc_conv_algo_supports(k, c, GC_CONV_FORWARD) || gc_conv_algo_supports(k, c, GC_CONV_DGRAD) ||
         gc_conv_algo_supports(k, c, GC_CONV_WGRAD);
}

static void conv_case(gc_ctx *ctx, gc_conv c, size_t N, size_t H, size_t W, const char *algo, int strided, int chunky,
                      int acc_dx, int fd) {
  size_t Ho, Wo;
  CHECK_OK(gc_conv_out(&c, H, W, &Ho, &Wo));
  size_t G = c.groups > 1 ? (size_t)c.groups : 1; /* K: the weights per output channel */
  size_t Ci = (size_t)c.c_in, Co = (size_t)c.c_out, K = Ci / G * c.kh * c.kw, P = H * W, Po = Ho * Wo;
  size_t xe = strided ? 3 : 0, ye = strided ? 2 : 0; /* extra channels around the views */
  unsigned long long seed = (unsigned long long)(c.kh * 131 + c.sh * 17 + c.dh * 7 + Ci * 3 + Co + N + H * 1000);
  float *xb = rand_f(N * (Ci + xe) * P, seed, 1.0f), *w = rand_f(Co * K, seed + 1, 0.5f), *b = rand_f(Co, seed + 2, 0.5f);
  float *dyb = rand_f(N * (Co + ye) * Po, seed + 3, 1.0f), *dxb0 = rand_f(N * (Ci + xe) * P, seed + 4, 1.0f);
  float *dw0 = rand_f(Co * K, seed + 5, 1.0f), *db0 = rand_f(Co, seed + 6, 1.0f);
  float *xf = extract(xb, N, Ci + xe, strided ? 2 : 0, Ci, P), *dyf = extract(dyb, N, Co + ye, strided ? 1 : 0, Co, Po);
  float *dx0 = extract(dxb0, N, Ci + xe, strided ? 2 : 0, Ci, P);

  /* reference */
  conv_ud u = {c, N, H, W, N * Co * Po, to_d(xf, N * Ci * P), to_d(w, Co * K), c.bias ? to_d(b, Co) : NULL,
               to_d(dyf, N * Co * Po), zeros_d(N * Co * Po)};
  gc_ref_conv_fwd(&c, N, H, W, u.x, u.w, u.b, u.y);
  double *yref = to_d(NULL, 0);
  free(yref);
  yref = zeros_d(N * Co * Po);
  memcpy(yref, u.y, N * Co * Po * sizeof *yref);
  double *dx = zeros_d(N * Ci * P), *dw = to_d(dw0, Co * K), *db = to_d(db0, Co);
  gc_ref_conv_bwd(&c, N, H, W, u.x, u.w, u.r, dx, dw, db);
  if (acc_dx)
    for (size_t i = 0; i < N * Ci * P; i++) dx[i] += dx0[i];

  char group[96];
  snprintf(group, sizeof group, "conv %zu->%zu k%dx%d s%d p%d d%d g%zu%s %s", Ci, Co, c.kh, c.kw, c.sh, c.ph, c.dh,
           G, c.bias ? " +b" : "", algo);
  if (fd) {
    /* the reference backward against central differences (gradients without the initial values) */
    double *gx = zeros_d(N * Ci * P), *gw = zeros_d(Co * K), *gb = zeros_d(Co);
    gc_ref_conv_bwd(&c, N, H, W, u.x, u.w, u.r, gx, gw, gb);
    fd_check("conv dx", conv_loss, &u, u.x, N * Ci * P, gx);
    fd_check("conv dw", conv_loss, &u, u.w, Co * K, gw);
    if (c.bias) fd_check("conv db", conv_loss, &u, u.b, Co, gb);
    free(gx);
    free(gw);
    free(gb);
  }

  /* device */
  size_t save_ws = ctx->conv_ws_limit, save_split = ctx->conv_wgrad_split;
  CHECK_OK(gc_conv_algo_set(ctx, algo));
  if (chunky) {
    ctx->conv_ws_limit = (K + Co / G) * Po * 2; /* two images per chunk (of a group) */
    ctx->conv_wgrad_split = Po;             /* one image per partial */
  }
  tset s;
  ts_init(ctx, &s);
  gc_tensor *X = TS4(&s, N, Ci + xe, H, W, xb), *Y = TS4(&s, N, Co + ye, Ho, Wo, NULL);
  gc_tensor *DY = TS4(&s, N, Co + ye, Ho, Wo, dyb), *DX = TS4(&s, N, Ci + xe, H, W, dxb0);
  gc_tensor *Wt = TS1(&s, Co * K, w), *B = TS1(&s, Co, b), *DW = TS1(&s, Co * K, dw0), *DB = TS1(&s, Co, db0);
  size_t wsn = gc_conv_workspace(ctx, &c, N, H, W);
  gc_tensor *WS = TS1(&s, wsn, NULL);
  ts_commit(ctx, &s);
  gc_tensor x = *X, y = *Y, dy = *DY, dxv = *DX;
  if (strided) {
    CHECK_OK(gc_tensor_channels(X, 2, Ci, &x));
    CHECK_OK(gc_tensor_channels(Y, 1, Co, &y));
    CHECK_OK(gc_tensor_channels(DY, 1, Co, &dy));
    CHECK_OK(gc_tensor_channels(DX, 2, Ci, &dxv));
  }
  CHECK_OK(gc_conv_forward(ctx, &c, &x, Wt, c.bias ? B : NULL, &y, WS));
  CHECK_OK(gc_conv_backward(ctx, &c, &x, Wt, &dy, &dxv, acc_dx, DW, c.bias ? DB : NULL, WS));
  /* a forced algorithm runs wherever it supports the shape and pass */
  for (int pass = GC_CONV_FORWARD; pass <= GC_CONV_WGRAD; pass++)
    for (int i = 0; i < gc_conv_algo_count(); i++)
      if (!strcmp(algo, gc_conv_algo_name(i)) && gc_conv_algo_supports(i, &c, pass) && gc_conv_algo_usable(ctx, i))
        CHECK(gc_conv_algo_chosen(ctx, &c, N, H, W, pass) == i);
  float *yd = ts_read(ctx, &y), *dxd = ts_read(ctx, &dxv), *dwd = ts_read(ctx, DW), *dbd = ts_read(ctx, DB);
  double tol = 2e-6 * sqrt((double)K);
  /* Winograd F(2x2, 3x3) rounds differently from the direct sum: each of its 16 products sums over the
   * channels terms of U = G g G^T (entries up to 2.25 max|g|: rows of G sum to at most 1.5 in magnitude)
   * times V = B^T d B (up to 4 max|d|: rows of B^T have two +-1 entries), and an output adds 9 of them
   * with +-1 weights (A^T's rows have three), against 9 taps per channel in the direct sum: the rounding
   * error of its sums is bounded by about 2.25 * 4 = 9 times the direct one's for the same inputs. */
  if (!strcmp(algo, "winograd")) tol *= 9;
  cmp_dr(group, "y", yd, yref, N * Co * Po, tol, 1e-4);
  cmp_dr(group, "dx", dxd, dx, N * Ci * P, tol, 1e-4);
  cmp_dr(group, "dw", dwd, dw, Co * K, 2e-6 * sqrt((double)(N * Po)), 1e-4);
  if (c.bias) cmp_dr(group, "db", dbd, db, Co, 2e-6 * sqrt((double)(N * Po)), 1e-4);
  if (strided) {
    /* the channels around the views are untouched */
    float *ybig = ts_read(ctx, Y);
    int clean = 1;
    for (size_t n = 0; n < N; n++)
      for (size_t p = 0; p < Po; p++) clean &= ybig[(n * (Co + ye) + 0) * Po + p] == 0.0f && ybig[(n * (Co + ye) + Co + 1) * Po + p] == 0.0f;
    CHECK(clean);
    free(ybig);
  }
  ctx->conv_ws_limit = save_ws;
  ctx->conv_wgrad_split = save_split;
  free(yd);
  free(dxd);
  free(dwd);
  free(dbd);
  ts_free(&s);
  free(xb), free(w), free(b), free(dyb), free(dxb0), free(dw0), free(db0), free(xf), free(dyf), free(dx0);
  free(u.x), free(u.w), free(u.b), free(u.r), free(u.y), free(yref), free(dx), free(dw), free(db);
}

static void test_conv(gc_ctx *ctx) {
  /* kernel, stride, pad, dilation as the networks use them */
  static const int shapes[][5] = {
      {3, 1, 1, 1, 0}, /* ResNet/DenseNet 3x3 */
      {3, 2, 1, 1, 0}, /* downsampling 3x3, SSD extras */
      {1, 1, 0, 1, 0}, /* bottleneck, DenseNet, shortcut, conv7 */
      {1, 2, 0, 1, 0}, /* downsampling shortcut */
      {7, 2, 3, 1, 0}, /* ImageNet stem */
      {3, 1, 6, 6, 1}, /* SSD conv6 (dilation 6), with bias */
      {3, 1, 0, 1, 1}, /* SSD extras, padding 0, with bias */
      {3, 1, 1, 1, 1}, /* VGG / SSD heads, with bias */
  };
  for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
    gc_conv c = {3, 5, shapes[i][0], shapes[i][0], shapes[i][1], shapes[i][1], shapes[i][2], shapes[i][2],
                 shapes[i][3], shapes[i][3], shapes[i][4], 1};
    size_t H = shapes[i][0] == 7 ? 11 : 9, W = shapes[i][0] == 7 ? 10 : 7;
    if (shapes[i][3] == 6) H = W = 13;
    if (small && i > 3) break;
    conv_case(ctx, c, 1, H, W, "heuristic", 0, 0, 0, !small);
    if (small) continue;
    /* every algorithm that runs this shape: plain, accumulating dx, views with chunks of 2 images and
     * one image per weight-gradient partial */
    for (int k = 0; k < gc_conv_algo_count(); k++) {
      if (!supports_any(k, &c)) continue;
      conv_case(ctx, c, 3, H, W, gc_conv_algo_name(k), 0, 0, 0, 0);
      conv_case(ctx, c, 3, H, W, gc_conv_algo_name(k), 0, 0, 1, 0);
      conv_case(ctx, c, 5, H, W, gc_conv_algo_name(k), 1, 1, 1, 0);
      conv_case(ctx, c, 5, H, W, gc_conv_algo_name(k), 1, 1, 0, 0);
    }
  }
  if (!small) {
    /* bottleneck shapes: wide 1x1 convolutions (channel counts well above the work-group size), each
     * algorithm that runs them */
    static const gc_conv wide[] = {{64, 256, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1},  {256, 64, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1},
                                   {64, 64, 3, 3, 2, 2, 1, 1, 1, 1, 0, 1},   {256, 128, 1, 1, 2, 2, 0, 0, 1, 1, 0, 1},
                                   {512, 2048, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1}, {2048, 512, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1}};
    for (size_t i = 0; i < sizeof wide / sizeof *wide; i++) {
      size_t hw = wide[i].c_in >= 512 ? 4 : 8;
      for (int k = 0; k < gc_conv_algo_count(); k++)
        if (supports_any(k, &wide[i]))
          conv_case(ctx, wide[i], 2, hw, hw, gc_conv_algo_name(k), 0, 0, (int)(i & 1), 0);
    }
  }
  /* grouped convolutions (DPN's 32 groups, RegNetX's groups of 8 channels, depthwise), strided and with
   * a bias: every algorithm, views, chunks, accumulating dx, and central differences through the
   * reference */
  static const gc_conv grouped[] = {{4, 6, 3, 3, 1, 1, 1, 1, 1, 1, 0, 2},
                                    {6, 6, 3, 3, 2, 2, 1, 1, 1, 1, 1, 3},
                                    {4, 4, 3, 3, 1, 1, 1, 1, 1, 1, 0, 4},
                                    {8, 4, 1, 1, 1, 1, 0, 0, 1, 1, 1, 2}};
  for (size_t i = 0; i < sizeof grouped / sizeof *grouped; i++) {
    conv_case(ctx, grouped[i], 2, 6, 5, "heuristic", 1, 0, 1, 1);
    if (small) continue;
    for (int k = 0; k < gc_conv_algo_count(); k++)
      if (supports_any(k, &grouped[i])) {
        conv_case(ctx, grouped[i], 3, 6, 5, gc_conv_algo_name(k), 0, 0, 0, 0);
        conv_case(ctx, grouped[i], 5, 6, 5, gc_conv_algo_name(k), 1, 1, 1, 0);
      }
  }
  if (small) {
    /* every conv kernel at least once: views, chunks, split partials, bias in every forward path */
    conv_case(ctx, (gc_conv){2, 3, 3, 3, 1, 1, 1, 1, 1, 1, 0, 1}, 3, 5, 4, "im2col_gemm", 1, 1, 1, 0);
    conv_case(ctx, (gc_conv){2, 3, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1}, 3, 5, 4, "im2col_batched", 1, 1, 0, 0);
    conv_case(ctx, (gc_conv){2, 3, 3, 3, 1, 1, 2, 2, 2, 2, 1, 1}, 3, 5, 5, "im2col_gemm", 0, 0, 0, 0);
    conv_case(ctx, (gc_conv){2, 3, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1}, 3, 5, 4, "pointwise", 1, 1, 1, 0);
  }
  /* errors: a workspace too small, a wrong weight shape */
  tset s;
  ts_init(ctx, &s);
  gc_conv c = {2, 3, 3, 3, 1, 1, 1, 1, 1, 1, 0, 1};
  gc_tensor *X = TS4(&s, 1, 2, 5, 5, NULL), *Y = TS4(&s, 1, 3, 5, 5, NULL), *Wt = TS1(&s, 54, NULL), *Wbad = TS1(&s, 53, NULL);
  gc_tensor *WS = TS1(&s, 10, NULL);
  ts_commit(ctx, &s);
  CHECK_STATUS(gc_conv_forward(ctx, &c, X, Wt, NULL, Y, WS), GC_ERR_ARG);
  CHECK(strstr(gc_last_error(), "workspace has 10 elements, needs") != NULL);
  CHECK_STATUS(gc_conv_forward(ctx, &c, X, Wbad, NULL, Y, WS), GC_ERR_ARG);
  {
    size_t ho, wo;
    gc_conv bad = {4, 6, 3, 3, 1, 1, 1, 1, 1, 1, 0, 4}; /* 4 groups do not divide 6 outputs */
    CHECK_STATUS(gc_conv_out(&bad, 5, 5, &ho, &wo), GC_ERR_ARG);
    CHECK(strstr(gc_last_error(), "groups must divide") != NULL);
    CHECK(gc_conv_workspace(ctx, &bad, 1, 5, 5) == 0);
    gc_conv g3 = {2, 3, 3, 3, 1, 1, 1, 1, 1, 1, 0, 1}; /* groups 1 = ungrouped: 54 weights */
    CHECK_OK(gc_conv_out(&g3, 5, 5, &ho, &wo));
  }
  gc_conv bad = c;
  bad.kh = 9;
  size_t ho, wo;
  CHECK_STATUS(gc_conv_out(&bad, 5, 5, &ho, &wo), GC_ERR_ARG);
  ts_free(&s);
}

/* ---------------- batch norm ---------------- */

typedef struct {
  gc_bn bn;
  int training;
  size_t N, P;
  double *x, *g, *b, *rm, *rv, *r, *y, *mean, *invstd;
} bn_ud;

static double bn_loss(void *u) {
  bn_ud *d = u;
  size_t C = (size_t)d->bn.c;
  double rm[64], rv[64];
  memcpy(rm, d->rm, C * sizeof *rm);
  memcpy(rv, d->rv, C * sizeof *rv);
  gc_ref_bn_fwd(&d->bn, d->training, d->N, d->P, d->x, d->g, d->b, rm, rv, d->mean, d->invstd, d->y);
  return dot(d->y, d->r, d->N * C * d->P);
}

static void bn_case(gc_ctx *ctx, size_t N, size_t C, size_t H, size_t W, int relu, int training, int strided, int fd) {
  gc_bn bn = {(int)C, 1e-5f, 0.1f, relu};
  size_t P = H * W, Cb = C + (strided ? 2 : 0), c0 = strided ? 1 : 0, n = N * C * P;
  unsigned long long seed = N * 7 + C * 11 + P + (unsigned)relu * 5 + (unsigned)training;
  float *xb = rand_f(N * Cb * P, seed, 2.0f), *g = rand_f(C, seed + 1, 1.0f), *b = rand_f(C, seed + 2, 0.5f);
  float *rm = rand_f(C, seed + 3, 0.2f), *rv = rand_f(C, seed + 4, 0.3f), *dyb = rand_f(N * Cb * P, seed + 5, 1.0f);
  for (size_t c = 0; c < C; c++) rv[c] = 1.0f + rv[c]; /* a valid variance */
  float *dg0 = rand_f(C, seed + 6, 1.0f), *dbt0 = rand_f(C, seed + 7, 1.0f);
  float *xf = extract(xb, N, Cb, c0, C, P), *dyf = extract(dyb, N, Cb, c0, C, P);
  /* shift the mean per channel so normalisation has something to do */
  bn_ud u = {bn, training, N, P, to_d(xf, n), to_d(g, C), to_d(b, C), to_d(rm, C), to_d(rv, C), to_d(dyf, n),
             zeros_d(n), zeros_d(C), zeros_d(C)};
  double *rm2 = to_d(rm, C), *rv2 = to_d(rv, C), *y = zeros_d(n), *dx = zeros_d(n);
  double *dg = to_d(dg0, C), *dbt = to_d(dbt0, C);
  gc_ref_bn_fwd(&bn, training, N, P, u.x, u.g, u.b, rm2, rv2, u.mean, u.invstd, y);
  gc_ref_bn_bwd(&bn, training, N, P, u.x, y, u.r, u.g, u.mean, u.invstd, dx, dg, dbt);
  char group[64];
  snprintf(group, sizeof group, "batchnorm%s %s%s", relu ? "+relu" : "", training ? "train" : "eval",
           P == 1 && N < 3 ? " (2 values per channel)" : "");
  if (fd) {
    double *gx = zeros_d(n), *gg = zeros_d(C), *gb = zeros_d(C);
    gc_ref_bn_bwd(&bn, training, N, P, u.x, y, u.r, u.g, u.mean, u.invstd, gx, gg, gb);
    fd_check("bn dx", bn_loss, &u, u.x, n, gx);
    fd_check("bn dgamma", bn_loss, &u, u.g, C, gg);
    fd_check("bn dbeta", bn_loss, &u, u.b, C, gb);
    free(gx), free(gg), free(gb);
  }
  tset s;
  ts_init(ctx, &s);
  gc_tensor *X = TS4(&s, N, Cb, H, W, xb), *Y = TS4(&s, N, Cb, H, W, NULL), *DY = TS4(&s, N, Cb, H, W, dyb);
  gc_tensor *DX = TS4(&s, N, Cb, H, W, NULL), *G = TS1(&s, C, g), *B = TS1(&s, C, b), *RM = TS1(&s, C, rm);
  gc_tensor *RV = TS1(&s, C, rv), *SM = TS1(&s, C, NULL), *SI = TS1(&s, C, NULL), *DG = TS1(&s, C, dg0);
  gc_tensor *DB = TS1(&s, C, dbt0), *WS = TS1(&s, 2 * C, NULL);
  ts_commit(ctx, &s);
  gc_tensor x = *X, yv = *Y, dy = *DY, dxv = *DX;
  if (strided) {
    CHECK_OK(gc_tensor_channels(X, c0, C, &x));
    CHECK_OK(gc_tensor_channels(Y, c0, C, &yv));
    CHECK_OK(gc_tensor_channels(DY, c0, C, &dy));
    CHECK_OK(gc_tensor_channels(DX, c0, C, &dxv));
  }
  CHECK_OK(gc_bn_forward(ctx, &bn, training, &x, &yv, G, B, RM, RV, SM, SI));
  CHECK_OK(gc_bn_backward(ctx, &bn, training, &x, &yv, &dy, &dxv, 0, G, DG, DB, SM, SI, WS));
  float *yd = ts_read(ctx, &yv), *dxd = ts_read(ctx, &dxv), *dgd = ts_read(ctx, DG), *dbd = ts_read(ctx, DB);
  float *rmd = ts_read(ctx, RM), *rvd = ts_read(ctx, RV);
  cmp_dr(group, "y", yd, y, n, 1e-5, 1e-4);
  cmp_dr(group, "dx", dxd, dx, n, 1e-5, 2e-4);
  cmp_dr(group, "dgamma", dgd, dg, C, 1e-5, 1e-4);
  cmp_dr(group, "dbeta", dbd, dbt, C, 1e-5, 1e-4);
  cmp_dr(group, "running_mean", rmd, rm2, C, 1e-6, 1e-5);
  cmp_dr(group, "running_var", rvd, rv2, C, 1e-6, 1e-5);
  free(yd), free(dxd), free(dgd), free(dbd), free(rmd), free(rvd);
  ts_free(&s);
  free(xb), free(g), free(b), free(rm), free(rv), free(dyb), free(dg0), free(dbt0), free(xf), free(dyf);
  free(u.x), free(u.g), free(u.b), free(u.rm), free(u.rv), free(u.r), free(u.y), free(u.mean), free(u.invstd);
  free(rm2), free(rv2), free(y), free(dx), free(dg), free(dbt);
}

static void test_bn(gc_ctx *ctx) {
  bn_case(ctx, 1, 3, 5, 3, 0, 1, 0, 1);
  bn_case(ctx, 3, 5, 7, 7, 1, 1, 0, !small);
  bn_case(ctx, 3, 5, 7, 7, 1, 0, 0, !small);
  if (small) return;
  bn_case(ctx, 2, 6, 4, 5, 0, 0, 1, 0);
  bn_case(ctx, 4, 7, 9, 11, 1, 1, 1, 0);
  bn_case(ctx, 2, 3, 1, 1, 0, 1, 0, 1); /* 1x1 maps (after global pooling) */
}

/* ---------------- pooling ---------------- */

typedef struct {
  gc_pool p;
  size_t N, C, H, W, ny;
  double *x, *r, *y;
  long *arg;
} pool_ud;

static double pool_loss(void *u) {
  pool_ud *d = u;
  gc_ref_pool_fwd(&d->p, d->N, d->C, d->H, d->W, d->x, d->y, d->arg);
  return dot(d->y, d->r, d->ny);
}

static void pool_case(gc_ctx *ctx, gc_pool p, size_t N, size_t C, size_t H, size_t W, int strided, int fd) {
  size_t Ho, Wo;
  CHECK_OK(gc_pool_out(&p, H, W, &Ho, &Wo));
  size_t n = N * C * H * W, no = N * C * Ho * Wo, Cb = C + (strided ? 3 : 0), c0 = strided ? 2 : 0;
  float *xb = rand_f(N * Cb * H * W, H * 31 + (size_t)p.kh + (size_t)p.max, 1.0f), *dyb = rand_f(N * Cb * Ho * Wo, 77, 1.0f);
  float *xf = extract(xb, N, Cb, c0, C, H * W), *dyf = extract(dyb, N, Cb, c0, C, Ho * Wo);
  pool_ud u = {p, N, C, H, W, no, to_d(xf, n), to_d(dyf, no), zeros_d(no), calloc(no, sizeof(long))};
  pool_loss(&u);
  double *y = zeros_d(no), *dx = zeros_d(n);
  memcpy(y, u.y, no * sizeof *y);
  gc_ref_pool_bwd(&p, N, C, H, W, u.r, u.arg, dx);
  char group[64];
  snprintf(group, sizeof group, "%spool k%d s%d p%d%s", p.max ? "max" : "avg", p.kh, p.sh, p.ph, p.ceil_mode ? " ceil" : "");
  if (fd) fd_check(group, pool_loss, &u, u.x, n, dx);
  tset s;
  ts_init(ctx, &s);
  gc_tensor *X = TS4(&s, N, Cb, H, W, xb), *Y = TS4(&s, N, Cb, Ho, Wo, NULL), *DY = TS4(&s, N, Cb, Ho, Wo, dyb);
  gc_tensor *DX = TS4(&s, N, Cb, H, W, NULL), *A = TS1(&s, no, NULL);
  ts_commit(ctx, &s);
  gc_tensor x = *X, yv = *Y, dy = *DY, dxv = *DX;
  if (strided) {
    CHECK_OK(gc_tensor_channels(X, c0, C, &x));
    CHECK_OK(gc_tensor_channels(Y, c0, C, &yv));
    CHECK_OK(gc_tensor_channels(DY, c0, C, &dy));
    CHECK_OK(gc_tensor_channels(DX, c0, C, &dxv));
  }
  CHECK_OK(gc_pool_forward(ctx, &p, &x, &yv, p.max ? A : NULL));
  CHECK_OK(gc_pool_backward(ctx, &p, &dy, p.max ? A : NULL, &dxv, 0));
  float *yd = ts_read(ctx, &yv), *dxd = ts_read(ctx, &dxv);
  cmp_dr(group, "y", yd, y, no, 1e-6, 1e-5);
  cmp_dr(group, "dx", dxd, dx, n, 1e-6, 1e-5);
  free(yd), free(dxd);
  ts_free(&s);
  free(xb), free(dyb), free(xf), free(dyf), free(u.x), free(u.r), free(u.y), free(u.arg), free(y), free(dx);
}

static void test_pool(gc_ctx *ctx) {
  pool_case(ctx, (gc_pool){1, 3, 3, 2, 2, 1, 1, 0}, 2, 3, 9, 8, 0, 1);  /* ImageNet stem max pool */
  pool_case(ctx, (gc_pool){0, 2, 2, 2, 2, 0, 0, 0}, 1, 3, 7, 6, 0, 1);  /* DenseNet transition */
  if (small) return;
  pool_case(ctx, (gc_pool){1, 2, 2, 2, 2, 0, 0, 0}, 3, 2, 8, 8, 1, 1);  /* VGG */
  pool_case(ctx, (gc_pool){1, 2, 2, 2, 2, 0, 0, 1}, 2, 3, 75, 75, 0, 0); /* SSD pool3: 75 -> 38 with ceil */
  pool_case(ctx, (gc_pool){1, 2, 2, 2, 2, 0, 0, 1}, 1, 2, 7, 5, 0, 1);  /* ceil on odd sizes */
  pool_case(ctx, (gc_pool){1, 3, 3, 1, 1, 1, 1, 0}, 2, 3, 5, 5, 1, 1);  /* SSD pool5 */
  pool_case(ctx, (gc_pool){0, 4, 4, 4, 4, 0, 0, 0}, 3, 5, 4, 4, 0, 1);  /* ResNet CIFAR final avg_pool2d(4) */
  pool_case(ctx, (gc_pool){0, 3, 3, 2, 2, 1, 1, 0}, 2, 2, 7, 7, 1, 1);  /* padded average */
  size_t ho, wo;
  CHECK_OK(gc_pool_out(&(gc_pool){1, 2, 2, 2, 2, 0, 0, 1}, 75, 75, &ho, &wo));
  CHECK(ho == 38 && wo == 38);
  CHECK_STATUS(gc_pool_out(&(gc_pool){0, 2, 2, 2, 2, 0, 0, 1}, 8, 8, &ho, &wo), GC_ERR_ARG);
  CHECK_STATUS(gc_pool_out(&(gc_pool){1, 3, 3, 2, 2, 2, 2, 0}, 8, 8, &ho, &wo), GC_ERR_ARG);
}

/* ---------------- the rest ---------------- */

typedef struct {
  int kind; /* 0 gap, 1 relu, 2 sigmoid, 3 chscale, 4 linear, 5 l2norm, 6 xent */
  size_t N, C, P, K;
  double *x, *s, *w, *b, *r, *y;
  int *labels;
} misc_ud;

static double misc_loss(void *u) {
  misc_ud *d = u;
  size_t n = d->N * d->C * d->P;
  switch (d->kind) {
  case 0:
    gc_ref_gap_fwd(d->N, d->C, d->P, d->x, d->y);
    return dot(d->y, d->r, d->N * d->C);
  case 1:
    gc_ref_relu_fwd(n, d->x, d->y);
    return dot(d->y, d->r, n);
  case 2:
    gc_ref_sigmoid_fwd(n, d->x, d->y);
    return dot(d->y, d->r, n);
  case 3:
    gc_ref_chscale_fwd(d->N, d->C, d->P, d->x, d->s, d->y);
    return dot(d->y, d->r, n);
  case 4:
    gc_ref_linear_fwd(d->N, d->C, d->K, d->x, d->w, d->b, d->y);
    return dot(d->y, d->r, d->N * d->K);
  case 5:
    gc_ref_l2norm_fwd(d->N, d->C, d->P, d->x, d->s, 1e-10, d->y, NULL);
    return dot(d->y, d->r, n);
  default:
    return gc_ref_xent(d->N, d->K, d->x, d->labels, NULL, NULL, NULL);
  }
}

static void test_elementwise(gc_ctx *ctx) {
  size_t N = 3, C = 5, H = 3, W = 5, P = H * W, n = N * C * P;
  float *x = rand_f(n, 901, 2.0f), *dy = rand_f(n, 902, 1.0f), *sc = rand_f(N * C, 903, 1.0f), *x2 = rand_f(n, 904, 1.0f);
  float *dy2 = rand_f(N * C, 905, 1.0f), *dx0 = rand_f(n, 906, 1.0f);
  tset s;
  ts_init(ctx, &s);
  gc_tensor *X = TS4(&s, N, C, H, W, x), *X2 = TS4(&s, N, C, H, W, x2), *DY = TS4(&s, N, C, H, W, dy);
  gc_tensor *Y = TS4(&s, N, C, H, W, NULL), *DX = TS4(&s, N, C, H, W, dx0), *S = TS2(&s, N, C, sc);
  gc_tensor *G = TS2(&s, N, C, NULL), *DG = TS2(&s, N, C, dy2), *DS = TS2(&s, N, C, NULL);
  ts_commit(ctx, &s);
  double *xd = to_d(x, n), *r = to_d(dy, n), *yr = zeros_d(n), *dxr = zeros_d(n), *sd = to_d(sc, N * C);
  misc_ud u = {0, N, C, P, 0, xd, sd, NULL, NULL, r, yr, NULL};

  /* ReLU (accumulating backward) */
  CHECK_OK(gc_relu_forward(ctx, X, Y));
  CHECK_OK(gc_relu_backward(ctx, Y, DY, DX, 1));
  gc_ref_relu_fwd(n, xd, yr);
  gc_ref_relu_bwd(n, yr, r, dxr);
  for (size_t i = 0; i < n; i++) dxr[i] += dx0[i];
  float *yd = ts_read(ctx, Y), *dxd = ts_read(ctx, DX);
  cmp_dr("relu", "y", yd, yr, n, 0, 0);
  cmp_dr("relu", "dx", dxd, dxr, n, 1e-7, 1e-6);
  u.kind = 1;
  gc_ref_relu_bwd(n, yr, r, dxr);
  fd_check("relu", misc_loss, &u, xd, n, dxr);
  free(yd), free(dxd);

  /* sigmoid */
  CHECK_OK(gc_sigmoid_forward(ctx, X, Y));
  CHECK_OK(gc_sigmoid_backward(ctx, Y, DY, DX, 0));
  gc_ref_sigmoid_fwd(n, xd, yr);
  gc_ref_sigmoid_bwd(n, yr, r, dxr);
  yd = ts_read(ctx, Y), dxd = ts_read(ctx, DX);
  cmp_dr("sigmoid", "y", yd, yr, n, 1e-6, 1e-5);
  cmp_dr("sigmoid", "dx", dxd, dxr, n, 1e-6, 1e-5);
  u.kind = 2;
  fd_check("sigmoid", misc_loss, &u, xd, n, dxr);
  free(yd), free(dxd);

  /* add (+ReLU) */
  CHECK_OK(gc_add_forward(ctx, X, X2, Y, 1));
  yd = ts_read(ctx, Y);
  for (size_t i = 0; i < n; i++) {
    double v = (double)(float)(x[i] + x2[i]);
    yr[i] = v < 0 ? 0 : v;
  }
  cmp_dr("add+relu", "y", yd, yr, n, 0, 0);
  free(yd);

  /* channel scale (squeeze-excitation) */
  CHECK_OK(gc_chscale_forward(ctx, X, S, Y));
  CHECK_OK(gc_chscale_backward(ctx, X, S, DY, DX, 0, DS, 0));
  double *dsr = zeros_d(N * C);
  gc_ref_chscale_fwd(N, C, P, xd, sd, yr);
  gc_ref_chscale_bwd(N, C, P, xd, sd, r, dxr, dsr);
  yd = ts_read(ctx, Y), dxd = ts_read(ctx, DX);
  float *dsd = ts_read(ctx, DS);
  cmp_dr("chscale", "y", yd, yr, n, 1e-6, 1e-5);
  cmp_dr("chscale", "dx", dxd, dxr, n, 1e-6, 1e-5);
  cmp_dr("chscale", "ds", dsd, dsr, N * C, 1e-5, 1e-5);
  u.kind = 3;
  fd_check("chscale dx", misc_loss, &u, xd, n, dxr);
  fd_check("chscale ds", misc_loss, &u, sd, N * C, dsr);
  free(yd), free(dxd), free(dsd);

  /* global average pool */
  CHECK_OK(gc_gap_forward(ctx, X, G));
  CHECK_OK(gc_gap_backward(ctx, DG, DX, 0));
  double *gr = zeros_d(N * C), *dgr = to_d(dy2, N * C);
  gc_ref_gap_fwd(N, C, P, xd, gr);
  gc_ref_gap_bwd(N, C, P, dgr, dxr);
  float *gd = ts_read(ctx, G);
  dxd = ts_read(ctx, DX);
  cmp_dr("global avgpool", "y", gd, gr, N * C, 1e-6, 1e-5);
  cmp_dr("global avgpool", "dx", dxd, dxr, n, 1e-7, 1e-6);
  u.kind = 0;
  u.r = dgr;
  u.y = gr;
  fd_check("global avgpool", misc_loss, &u, xd, n, dxr);
  free(gd), free(dxd), free(dsr), free(gr), free(dgr);
  ts_free(&s);
  free(x), free(dy), free(sc), free(x2), free(dy2), free(dx0), free(xd), free(r), free(yr), free(dxr), free(sd);
}

static void test_linear(gc_ctx *ctx) {
  size_t N = 3, IN = 17, OUT = 10;
  float *x = rand_f(N * IN, 1001, 1.0f), *w = rand_f(OUT * IN, 1002, 0.5f), *b = rand_f(OUT, 1003, 0.5f);
  float *dy = rand_f(N * OUT, 1004, 1.0f), *dw0 = rand_f(OUT * IN, 1005, 1.0f), *db0 = rand_f(OUT, 1006, 1.0f);
  tset s;
  ts_init(ctx, &s);
  /* x as (N, C, H, W) flattened by the layer: 17 = 17x1x1 */
  gc_tensor *X = TS4(&s, N, IN, 1, 1, x), *Wt = TS2(&s, OUT, IN, w), *B = TS1(&s, OUT, b), *Y = TS2(&s, N, OUT, NULL);
  gc_tensor *DY = TS2(&s, N, OUT, dy), *DX = TS4(&s, N, IN, 1, 1, NULL), *DW = TS2(&s, OUT, IN, dw0), *DB = TS1(&s, OUT, db0);
  ts_commit(ctx, &s);
  CHECK_OK(gc_linear_forward(ctx, X, Wt, B, Y));
  CHECK_OK(gc_linear_backward(ctx, X, Wt, DY, DX, 0, DW, DB));
  double *xd = to_d(x, N * IN), *wd = to_d(w, OUT * IN), *bd = to_d(b, OUT), *r = to_d(dy, N * OUT);
  double *yr = zeros_d(N * OUT), *dxr = zeros_d(N * IN), *dwr = to_d(dw0, OUT * IN), *dbr = to_d(db0, OUT);
  gc_ref_linear_fwd(N, IN, OUT, xd, wd, bd, yr);
  gc_ref_linear_bwd(N, IN, OUT, xd, wd, r, dxr, dwr, dbr);
  float *yd = ts_read(ctx, Y), *dxd = ts_read(ctx, DX), *dwd = ts_read(ctx, DW), *dbd = ts_read(ctx, DB);
  cmp_dr("linear", "y", yd, yr, N * OUT, 1e-5, 1e-4);
  cmp_dr("linear", "dx", dxd, dxr, N * IN, 1e-5, 1e-4);
  cmp_dr("linear", "dw", dwd, dwr, OUT * IN, 1e-5, 1e-4);
  cmp_dr("linear", "db", dbd, dbr, OUT, 1e-5, 1e-4);
  misc_ud u = {4, N, IN, 1, OUT, xd, NULL, wd, bd, r, yr, NULL};
  double *gx = zeros_d(N * IN), *gw = zeros_d(OUT * IN), *gb = zeros_d(OUT);
  gc_ref_linear_bwd(N, IN, OUT, xd, wd, r, gx, gw, gb);
  fd_check("linear dx", misc_loss, &u, xd, N * IN, gx);
  fd_check("linear dw", misc_loss, &u, wd, OUT * IN, gw);
  fd_check("linear db", misc_loss, &u, bd, OUT, gb);
  free(gx), free(gw), free(gb), free(yd), free(dxd), free(dwd), free(dbd);
  ts_free(&s);
  free(x), free(w), free(b), free(dy), free(dw0), free(db0), free(xd), free(wd), free(bd), free(r), free(yr), free(dxr);
  free(dwr), free(dbr);
}

static void xent_case(gc_ctx *ctx, size_t N, size_t K) {
  float *z = rand_f(N * K, 1100 + K, 3.0f);
  float *lab = malloc(N * sizeof *lab);
  int *labi = malloc(N * sizeof *labi);
  for (size_t i = 0; i < N; i++) labi[i] = (int)((i * 7 + 3) % K), lab[i] = (float)labi[i];
  z[0] = z[1]; /* a tie */
  tset s;
  ts_init(ctx, &s);
  gc_tensor *Z = TS2(&s, N, K, z), *L = TS1(&s, N, lab), *DZ = TS2(&s, N, K, NULL), *WS = TS1(&s, 3 * N, NULL);
  ts_commit(ctx, &s);
  gc_xent_result res;
  CHECK_OK(gc_xent(ctx, Z, L, DZ, WS, &res));
  double *zd = to_d(z, N * K), *dzr = zeros_d(N * K);
  int t1, t5;
  double loss = gc_ref_xent(N, K, zd, labi, dzr, &t1, &t5);
  char group[32];
  snprintf(group, sizeof group, "softmax xent K=%zu", K);
  float lossf = (float)res.loss;
  cmp_dr(group, "loss", &lossf, &loss, 1, 1e-6, 1e-5);
  CHECK(res.top1 == t1 && res.top5 == t5);
  float *dzd = ts_read(ctx, DZ);
  cmp_dr(group, "dlogits", dzd, dzr, N * K, 1e-7, 1e-5);
  misc_ud u = {6, N, 0, 0, K, zd, NULL, NULL, NULL, NULL, NULL, labi};
  fd_check(group, misc_loss, &u, zd, N * K, dzr);
  /* a label out of range is an error naming the sample */
  s.h[1][2] = (float)K; /* the labels tensor is the second one in the set */
  ts_upload(ctx, &s);
  CHECK_STATUS(gc_xent(ctx, Z, L, DZ, WS, &res), GC_ERR_ARG);
  CHECK(strstr(gc_last_error(), "sample 2") != NULL);
  /* NaN logits (a diverged net) score no hits: sample 0 NaN everywhere, sample 1 NaN in one other class */
  s.h[1][2] = lab[2];
  for (size_t k = 0; k < K; k++) s.h[0][k] = NAN;
  s.h[0][K + (size_t)(labi[1] == 0 ? 1 : 0)] = NAN;
  ts_upload(ctx, &s);
  gc_xent_result rn;
  CHECK_OK(gc_xent(ctx, Z, L, DZ, WS, &rn));
  for (size_t k = 0; k < 2 * K; k++) zd[k] = s.h[0][k];
  int n1, n5;
  gc_ref_xent(N, K, zd, labi, dzr, &n1, &n5);
  CHECK(rn.top1 == n1 && rn.top5 == n5);
  {
    /* top-1: neither NaN sample is a hit; top-5: the all-NaN sample is not, the other may be */
    int f1 = 0, f5 = 0;
    double *zf = to_d(s.h[0] + 2 * K, (N - 2) * K), *dzf = zeros_d((N - 2) * K);
    gc_ref_xent(N - 2, K, zf, labi + 2, dzf, &f1, &f5);
    CHECK(rn.top1 == f1 && (rn.top5 == f5 || rn.top5 == f5 + 1));
    free(zf), free(dzf);
  }
  free(dzd);
  ts_free(&s);
  free(z), free(lab), free(labi), free(zd), free(dzr);
}

static void test_l2norm(gc_ctx *ctx) {
  size_t N = 2, C = 7, H = 3, W = 3, P = H * W, n = N * C * P;
  float *x = rand_f(n, 1201, 1.0f), *g = rand_f(C, 1202, 1.0f), *dy = rand_f(n, 1203, 1.0f), *dg0 = rand_f(C, 1204, 1.0f);
  for (size_t c = 0; c < C; c++) g[c] += 20.0f; /* SSD initialises gamma to 20 */
  for (size_t c = 0; c < C; c++) x[c * P + 4] = 0.0f; /* one all-zero position: norm 0 */
  tset s;
  ts_init(ctx, &s);
  gc_tensor *X = TS4(&s, N, C, H, W, x), *G = TS1(&s, C, g), *Y = TS4(&s, N, C, H, W, NULL), *NR = TS1(&s, N * P, NULL);
  gc_tensor *DY = TS4(&s, N, C, H, W, dy), *DX = TS4(&s, N, C, H, W, NULL), *DG = TS1(&s, C, dg0);
  ts_commit(ctx, &s);
  CHECK_OK(gc_l2norm_forward(ctx, X, G, 1e-10f, Y, NR));
  CHECK_OK(gc_l2norm_backward(ctx, X, G, 1e-10f, NR, DY, DX, 0, DG));
  double *xd = to_d(x, n), *gd = to_d(g, C), *r = to_d(dy, n), *yr = zeros_d(n), *dxr = zeros_d(n), *dgr = to_d(dg0, C);
  gc_ref_l2norm_fwd(N, C, P, xd, gd, 1e-10, yr, NULL);
  gc_ref_l2norm_bwd(N, C, P, xd, gd, 1e-10, r, dxr, dgr);
  float *yd = ts_read(ctx, Y), *dxd = ts_read(ctx, DX), *dgd = ts_read(ctx, DG);
  cmp_dr("l2norm", "y", yd, yr, n, 1e-5, 1e-4);
  cmp_dr("l2norm", "dx", dxd, dxr, n, 1e-4, 1e-4);
  cmp_dr("l2norm", "dgamma", dgd, dgr, C, 1e-5, 1e-4);
  /* central differences away from the zero position */
  for (size_t c = 0; c < C; c++) xd[c * P + 4] = 0.3;
  misc_ud u = {5, N, C, P, 0, xd, gd, NULL, NULL, r, yr, NULL};
  double *gx = zeros_d(n), *gg = zeros_d(C);
  gc_ref_l2norm_bwd(N, C, P, xd, gd, 1e-10, r, gx, gg);
  fd_check("l2norm dx", misc_loss, &u, xd, n, gx);
  fd_check("l2norm dgamma", misc_loss, &u, gd, C, gg);
  free(gx), free(gg), free(yd), free(dxd), free(dgd);
  ts_free(&s);
  free(x), free(g), free(dy), free(dg0), free(xd), free(gd), free(r), free(yr), free(dxr), free(dgr);
}

/* The measured choice: made once per shape and pass, kept in the cache folder, reused by a second
 * context; a corrupt entry is measured again and replaced; without a cache folder, the heuristic. */
static int count_entries(const char *dir) {
  int n = 0;
  DIR *d = opendir(dir);
  if (!d) return 0;
  for (struct dirent *e; (e = readdir(d)) != NULL;) {
    size_t l = strlen(e->d_name);
    n += l > 5 && !strcmp(e->d_name + l - 5, ".conv");
  }
  closedir(d);
  return n;
}

static void conv_pointwise_pass(gc_ctx *ctx, const gc_conv *c, size_t N, size_t HW) {
  tset s;
  ts_init(ctx, &s);
  size_t Ci = (size_t)c->c_in, Co = (size_t)c->c_out;
  float *x = rand_f(N * Ci * HW * HW, 11, 1.0f), *w = rand_f(Co * Ci, 12, 0.5f), *dy = rand_f(N * Co * HW * HW, 13, 1.0f);
  gc_tensor *X = TS4(&s, N, Ci, HW, HW, x), *Y = TS4(&s, N, Co, HW, HW, NULL), *DY = TS4(&s, N, Co, HW, HW, dy);
  gc_tensor *DX = TS4(&s, N, Ci, HW, HW, NULL), *Wt = TS1(&s, Co * Ci, w), *DW = TS1(&s, Co * Ci, NULL);
  gc_tensor *WS = TS1(&s, gc_conv_workspace(ctx, c, N, HW, HW), NULL);
  ts_commit(ctx, &s);
  CHECK_OK(gc_conv_forward(ctx, c, X, Wt, NULL, Y, WS));
  CHECK_OK(gc_conv_backward(ctx, c, X, Wt, DY, DX, 0, DW, NULL, WS));
  /* the gradient was accumulated once, whatever the measurement ran: dw = dy * x^T from zero */
  float *dwd = ts_read(ctx, DW);
  double *xd = to_d(x, N * Ci * HW * HW), *wd = to_d(w, Co * Ci), *dyd = to_d(dy, N * Co * HW * HW);
  double *gx = zeros_d(N * Ci * HW * HW), *gw = zeros_d(Co * Ci);
  gc_ref_conv_bwd(c, N, HW, HW, xd, wd, dyd, gx, gw, NULL);
  cmp_dr("conv measured", "dw", dwd, gw, Co * Ci, 1e-5, 1e-4);
  free(dwd), free(xd), free(wd), free(dyd), free(gx), free(gw), free(x), free(w), free(dy);
  ts_free(&s);
}

static void test_conv_choice(void) {
  char dir[] = "/tmp/gafcl-conv-choice-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  const gc_conv c = {6, 5, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1}; /* pointwise: several candidates in each pass */
  gc_conv_stats st;
  int fwd = -1, dgr = -1, wgr = -1, multi = 0; /* multi: passes with more than one candidate (measured) */
  for (int round = 0; round < 3; round++) {
    gc_ctx *ctx = gc_test_open();
    if (!ctx) return;
    snprintf(ctx->cache_dir, sizeof ctx->cache_dir, "%s", dir);
    if (round == 0) /* the candidates this device runs */
      for (int pass = GC_CONV_FORWARD; pass <= GC_CONV_WGRAD; pass++) {
        int n = 0;
        for (int k = 0; k < gc_conv_algo_count(); k++) n += gc_conv_algo_supports(k, &c, pass) && gc_conv_algo_usable(ctx, k);
        CHECK(n >= 1);
        multi += n > 1;
      }
    CHECK(multi >= 1);
    CHECK_OK(gc_conv_algo_set(ctx, "measure"));
    conv_pointwise_pass(ctx, &c, 3, 6);
    CHECK_OK(gc_conv_algo_stats(ctx, &st));
    int f = gc_conv_algo_chosen(ctx, &c, 3, 6, 6, GC_CONV_FORWARD), d = gc_conv_algo_chosen(ctx, &c, 3, 6, 6, GC_CONV_DGRAD),
        w = gc_conv_algo_chosen(ctx, &c, 3, 6, 6, GC_CONV_WGRAD);
    CHECK(gc_conv_algo_supports(f, &c, GC_CONV_FORWARD) && gc_conv_algo_supports(d, &c, GC_CONV_DGRAD) &&
          gc_conv_algo_supports(w, &c, GC_CONV_WGRAD));
    CHECK(count_entries(dir) == multi);
    if (round == 0) { /* measured and kept */
      CHECK(st.measured == multi && st.loaded == 0);
      fwd = f, dgr = d, wgr = w;
    } else if (round == 1) { /* a new context reads the same choices */
      CHECK(st.measured == 0 && st.loaded == multi);
      CHECK(f == fwd && d == dgr && w == wgr);
      /* corrupt every entry: the next context measures again and replaces them */
      DIR *d = opendir(dir);
      for (struct dirent *e; d && (e = readdir(d)) != NULL;)
        if (strstr(e->d_name, ".conv")) {
          char p[2048];
          snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
          FILE *fp = fopen(p, "w");
          if (fp) fputs("gafcl convolution choice 1\nshape garbage\n", fp), fclose(fp);
        }
      if (d) closedir(d);
    } else {
      CHECK(st.measured == multi && st.loaded == 0);
    }
    gc_ctx_free(ctx);
  }
  /* no cache folder: nothing measured (a choice that cannot be kept would make runs differ) */
  gc_ctx *ctx = gc_test_open();
  if (!ctx) return;
  ctx->cache_dir[0] = '\0';
  CHECK_OK(gc_conv_algo_set(ctx, "measure"));
  conv_pointwise_pass(ctx, &c, 3, 6);
  CHECK_OK(gc_conv_algo_stats(ctx, &st));
  CHECK(st.measured == 0 && st.loaded == 0 && st.heuristic == 3);
  /* a bad mode names the valid ones */
  CHECK_STATUS(gc_conv_algo_set(ctx, "fft"), GC_ERR_ARG);
  CHECK(strstr(gc_last_error(), "measure, heuristic, im2col_gemm") != NULL);
  gc_ctx_free(ctx);
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  CHECK(system(cmd) == 0);
}

/* The add and ReLU of DPN's dual path on channel views (each with its own image stride): y = relu(a + b)
 * and relu(a) against the same float arithmetic on the host, bit for bit, the channels around the output
 * view untouched; the backward dx (+)= y > 0 ? dy : 0 likewise (ReLU's gradient, whose finite-difference
 * test is test_elementwise's); a view of another shape refused. */
static void test_view_add(gc_ctx *ctx) {
  const size_t N = 3, H = 5, W = 4, P = H * W, C = 3;
  tset s;
  ts_init(ctx, &s);
  float *a = rand_f(N * 5 * P, 71, 1.0f), *b = rand_f(N * 4 * P, 72, 1.0f), *dy = rand_f(N * 6 * P, 73, 1.0f);
  float *dx0 = rand_f(N * 5 * P, 74, 1.0f);
  gc_tensor *A = TS4(&s, N, 5, H, W, a), *B = TS4(&s, N, 4, H, W, b), *Y = TS4(&s, N, 6, H, W, NULL);
  gc_tensor *DY = TS4(&s, N, 6, H, W, dy), *DX = TS4(&s, N, 5, H, W, dx0), *Bad = TS4(&s, N, 3, H, 3, NULL);
  ts_commit(ctx, &s);
  gc_tensor av, bv, yv, dyv, dxv;
  CHECK_OK(gc_tensor_channels(A, 1, C, &av));  /* a's channels 1..3 */
  CHECK_OK(gc_tensor_channels(B, 0, C, &bv));  /* b's channels 0..2 */
  CHECK_OK(gc_tensor_channels(Y, 2, C, &yv));  /* into y's channels 2..4 */
  CHECK_OK(gc_tensor_channels(DY, 2, C, &dyv));
  CHECK_OK(gc_tensor_channels(DX, 1, C, &dxv));
  for (int pass = 0; pass < 2; pass++) { /* relu(a + b), then relu(a) alone */
    CHECK_OK(gc_view_add_forward(ctx, &av, pass ? NULL : &bv, &yv, 1));
    CHECK_OK(gc_view_add_backward(ctx, &yv, &dyv, &dxv, 1, pass)); /* the second pass accumulates */
    float *y = ts_read(ctx, Y), *dx = ts_read(ctx, DX);
    int ok = 1;
    for (size_t n = 0; n < N; n++)
      for (size_t c = 0; c < 6; c++)
        for (size_t p = 0; p < P; p++) {
          float got = y[(n * 6 + c) * P + p], want = 0.0f;
          if (c >= 2 && c < 2 + C) {
            float v = a[(n * 5 + c - 1) * P + p] + (pass ? 0.0f : b[(n * 4 + c - 2) * P + p]);
            want = v < 0.0f ? 0.0f : v;
            float g = want > 0.0f ? dy[(n * 6 + c) * P + p] : 0.0f;
            size_t xi = (n * 5 + c - 1) * P + p;
            dx0[xi] = pass ? dx0[xi] + g : g; /* the host's dx, as the device should have it */
          }
          ok &= got == want;
        }
    for (size_t i = 0; i < N * 5 * P; i++) ok &= dx[i] == dx0[i];
    if (!ok) fprintf(stderr, "  view add (pass %d): device and host differ\n", pass);
    CHECK(ok);
    free(y), free(dx);
  }
  CHECK_STATUS(gc_view_add_forward(ctx, &av, Bad, &yv, 1), GC_ERR_ARG);
  CHECK_STATUS(gc_view_add_backward(ctx, &yv, Bad, &dxv, 1, 0), GC_ERR_ARG);
  ts_free(&s);
  free(a), free(b), free(dy), free(dx0);
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--small")) small = 1;
  gc_ctx *ctx = gc_test_open();
  if (!ctx) return 1;
  test_conv(ctx);
  if (!small) test_conv_choice();
  test_bn(ctx);
  test_pool(ctx);
  test_elementwise(ctx);
  test_view_add(ctx);
  test_linear(ctx);
  xent_case(ctx, 5, 10);
  if (!small) {
    xent_case(ctx, 3, 3); /* fewer than 5 classes: every label is top-5 */
    xent_case(ctx, 67, 100);
  }
  test_l2norm(ctx);
  printf("largest relative error, device vs double reference:\n");
  for (int i = 0; i < g_nerr; i++) printf("  %-44s %.3g\n", g_err[i].name, g_err[i].worst);
  gc_ctx_free(ctx);
  return gc_test_summary("test_layers");
}
