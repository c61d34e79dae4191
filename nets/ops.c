/* The op table: each op kind of a network graph is one row (GC_OP_ROW_<kind>) with its device forward
 * and backward, its reference forward and backward, the tensors it plans for itself and what the
 * non-finite diagnosis checks. gc_net_ops is built from GC_NET_OPS (net_internal.h): a kind without a
 * row does not compile. */
#include "net_internal.h"

#include <stdlib.h>
#include <string.h>

#define T(a) (&net->acts[(a)].t)
#define G(a) (&net->acts[(a)].g)
#define PW(p) (&net->params[(p)].w)
#define PG(p) (&net->params[(p)].g)
#define OPT_PW(p) ((p) >= 0 ? PW(p) : NULL)
#define OPT_PG(p) ((p) >= 0 ? PG(p) : NULL)
#define RN(r, i) (&(r)->net->nodes[(i)])
#define RDIMS(r, a) ((r)->net->acts[(a)].dims)

/* ---- conv ---- */

static int conv_fwd(gc_ctx *ctx, gc_net *net, node *n, int training) {
  (void)training;
  return gc_conv_forward(ctx, &n->conv, T(n->in), PW(n->p0), OPT_PW(n->p1), T(n->out), &net->ws);
}
static int conv_bwd(gc_ctx *ctx, gc_net *net, node *n, int acc, int acc2) {
  (void)acc2;
  return gc_conv_backward(ctx, &n->conv, T(n->in), PW(n->p0), G(n->out), n->in != net->input ? G(n->in) : NULL, acc,
                          PG(n->p0), OPT_PG(n->p1), &net->ws);
}
static void conv_ref_fwd(gc_net_ref *r, int i, int training, const double *x, double *y) {
  (void)training;
  const node *n = RN(r, i);
  const size_t *di = RDIMS(r, n->in);
  gc_ref_conv_fwd(&n->conv, di[0], di[2], di[3], x, r->pw[n->p0], n->p1 >= 0 ? r->pw[n->p1] : NULL, y);
}
static void conv_ref_bwd(gc_net_ref *r, int i, const double *x, const double *y, const double *dy, double *dx) {
  (void)y;
  const node *n = RN(r, i);
  const size_t *di = RDIMS(r, n->in);
  gc_ref_conv_bwd(&n->conv, di[0], di[2], di[3], x, r->pw[n->p0], dy, dx, r->pg[n->p0], n->p1 >= 0 ? r->pg[n->p1] : NULL);
}
#define GC_OP_ROW_conv {"conv", 0, NULL, conv_fwd, conv_bwd, NULL, conv_ref_fwd, conv_ref_bwd}

/* ---- batch norm (+ ReLU) ---- */

static int bn_reserve(gc_net *net, node *n) {
  size_t c = (size_t)n->bnd.c;
  int st = gc_arena_reserve(&net->ba, &net->bufs[n->b0].t, 1, &c);
  return st ? st : gc_arena_reserve(&net->ba, &net->bufs[n->b0 + 1].t, 1, &c);
}
static int bn_fwd(gc_ctx *ctx, gc_net *net, node *n, int training) {
  training = training && !net->bn_frozen; /* frozen: the running statistics, as in evaluation */
  if (training && net->bn_sync) { /* the statistics of the batch all processes share */
    int st = gc_bn_forward_sync(ctx, &n->bnd, T(n->in), T(n->out), PW(n->p0), PW(n->p1), &net->bufs[n->b0].t,
                                &net->bufs[n->b0 + 1].t, &n->save[0], &n->save[1], &net->ws, net->bn_sync);
    if (!st) net->bn_count[n->bn]++;
    return st;
  }
  int st = gc_bn_forward(ctx, &n->bnd, training, T(n->in), T(n->out), PW(n->p0), PW(n->p1), &net->bufs[n->b0].t,
                         &net->bufs[n->b0 + 1].t, &n->save[0], &n->save[1]);
  if (!st && training) net->bn_count[n->bn]++;
  return st;
}
static int bn_bwd(gc_ctx *ctx, gc_net *net, node *n, int acc, int acc2) {
  (void)acc2;
  if (!net->bn_frozen && net->bn_sync)
    return gc_bn_backward_sync(ctx, &n->bnd, T(n->in), T(n->out), G(n->out), G(n->in), acc, PW(n->p0), PG(n->p0),
                               PG(n->p1), &n->save[0], &n->save[1], &net->ws, net->bn_sync);
  return gc_bn_backward(ctx, &n->bnd, !net->bn_frozen, T(n->in), T(n->out), G(n->out), G(n->in), acc, PW(n->p0), PG(n->p0),
                        PG(n->p1), &n->save[0], &n->save[1], &net->ws);
}
static int bn_ref_init(gc_ctx *ctx, gc_net_ref *r, int i) {
  const node *n = RN(r, i);
  r->rm[i] = gc_net_read_d(ctx, &r->net->bufs[n->b0].t);
  r->rv[i] = gc_net_read_d(ctx, &r->net->bufs[n->b0 + 1].t);
  r->mean[i] = calloc((size_t)n->bnd.c, sizeof(double));
  r->istd[i] = calloc((size_t)n->bnd.c, sizeof(double));
  return r->rm[i] && r->rv[i] && r->mean[i] && r->istd[i] ? GC_OK
                                                            : gc_error_set(GC_ERR_HOST_MEM, __FILE__, __LINE__, "reference batch norm");
}
static void bn_ref_fwd(gc_net_ref *r, int i, int training, const double *x, double *y) {
  const node *n = RN(r, i);
  const size_t *di = RDIMS(r, n->in);
  size_t c = (size_t)n->bnd.c;
  /* the running statistics are not written back: every reference forward starts from the device's */
  double *rm = malloc(c * sizeof *rm), *rv = malloc(c * sizeof *rv);
  memcpy(rm, r->rm[i], c * sizeof *rm);
  memcpy(rv, r->rv[i], c * sizeof *rv);
  gc_ref_bn_fwd(&n->bnd, training, di[0], di[2] * di[3], x, r->pw[n->p0], r->pw[n->p1], rm, rv, r->mean[i], r->istd[i], y);
  free(rm), free(rv);
}
static void bn_ref_bwd(gc_net_ref *r, int i, const double *x, const double *y, const double *dy, double *dx) {
  const node *n = RN(r, i);
  const size_t *di = RDIMS(r, n->in);
  gc_ref_bn_bwd(&n->bnd, 1, di[0], di[2] * di[3], x, y, dy, r->pw[n->p0], r->mean[i], r->istd[i], dx, r->pg[n->p0],
                r->pg[n->p1]);
}
#define GC_OP_ROW_bn {"batchnorm", 0, bn_reserve, bn_fwd, bn_bwd, bn_ref_init, bn_ref_fwd, bn_ref_bwd}

/* ---- ReLU ---- */

/* whether an element-wise node works on channel views (strided): then the view kernels run */
static int on_views(const gc_net *net, const node *n) {
  return !gc_tensor_dense(T(n->in)) || !gc_tensor_dense(T(n->out)) || (n->in2 >= 0 && !gc_tensor_dense(T(n->in2)));
}
static int relu_fwd(gc_ctx *ctx, gc_net *net, node *n, int training) {
  (void)training;
  if (on_views(net, n)) return gc_view_add_forward(ctx, T(n->in), NULL, T(n->out), 1);
  return gc_relu_forward(ctx, T(n->in), T(n->out));
}
static int relu_bwd(gc_ctx *ctx, gc_net *net, node *n, int acc, int acc2) {
  (void)acc2;
  if (on_views(net, n)) return gc_view_add_backward(ctx, T(n->out), G(n->out), G(n->in), 1, acc);
  return gc_relu_backward(ctx, T(n->out), G(n->out), G(n->in), acc);
}
static void relu_ref_fwd(gc_net_ref *r, int i, int training, const double *x, double *y) {
  (void)training;
  gc_ref_relu_fwd(gc_net_prod(RDIMS(r, RN(r, i)->out), 4), x, y);
}
static void relu_ref_bwd(gc_net_ref *r, int i, const double *x, const double *y, const double *dy, double *dx) {
  (void)x;
  gc_ref_relu_bwd(gc_net_prod(RDIMS(r, RN(r, i)->out), 4), y, dy, dx);
}
#define GC_OP_ROW_relu {"relu", 0, NULL, relu_fwd, relu_bwd, NULL, relu_ref_fwd, relu_ref_bwd}

/* ---- residual add (+ ReLU): the output gradient goes to both inputs ---- */

static int add_fwd(gc_ctx *ctx, gc_net *net, node *n, int training) {
  (void)training;
  if (on_views(net, n)) return gc_view_add_forward(ctx, T(n->in), T(n->in2), T(n->out), n->relu);
  return gc_add_forward(ctx, T(n->in), T(n->in2), T(n->out), n->relu);
}
static int add_bwd(gc_ctx *ctx, gc_net *net, node *n, int acc, int acc2) {
  int st = 0;
  for (int k = 0; k < 2 && !st; k++) {
    int a = k ? n->in2 : n->in, ak = k ? acc2 : acc;
    if (on_views(net, n))
      st = gc_view_add_backward(ctx, T(n->out), G(n->out), G(a), n->relu, ak);
    else if (n->relu)
      st = gc_relu_backward(ctx, T(n->out), G(n->out), G(a), ak);
    else
      st = ak ? gc_axpy(ctx, 1.0f, G(n->out), G(a)) : gc_copy(ctx, G(n->out), G(a));
  }
  return st;
}
static void add_ref_fwd(gc_net_ref *r, int i, int training, const double *x, double *y) {
  (void)training;
  const node *n = RN(r, i);
  size_t nout = gc_net_prod(RDIMS(r, n->out), 4);
  double *b = gc_net_ref_get(r, n->in2, 0);
  for (size_t k = 0; k < nout; k++) y[k] = n->relu && x[k] + b[k] < 0 ? 0.0 : x[k] + b[k];
  free(b);
}
static void add_ref_bwd(gc_net_ref *r, int i, const double *x, const double *y, const double *dy, double *dx) {
  (void)x;
  const node *n = RN(r, i);
  size_t nout = gc_net_prod(RDIMS(r, n->out), 4);
  for (size_t k = 0; k < nout; k++) dx[k] = n->relu && !(y[k] > 0) ? 0.0 : dy[k];
  gc_net_ref_put(r, n->in2, 1, dx, 1);
}
#define GC_OP_ROW_add {"add", 1, NULL, add_fwd, add_bwd, NULL, add_ref_fwd, add_ref_bwd}

/* ---- max / average pooling ---- */

static int pool_fwd(gc_ctx *ctx, gc_net *net, node *n, int training) {
  (void)training;
  return gc_pool_forward(ctx, &n->pool, T(n->in), T(n->out), n->pool.max ? &n->save[0] : NULL);
}
static int pool_bwd(gc_ctx *ctx, gc_net *net, node *n, int acc, int acc2) {
  (void)acc2;
  return gc_pool_backward(ctx, &n->pool, G(n->out), n->pool.max ? &n->save[0] : NULL, G(n->in), acc);
}
static int pool_ref_init(gc_ctx *ctx, gc_net_ref *r, int i) {
  (void)ctx;
  const node *n = RN(r, i);
  if (!n->pool.max) return GC_OK;
  r->arg[i] = calloc(gc_net_prod(RDIMS(r, n->out), 4), sizeof(long));
  return r->arg[i] ? GC_OK : gc_error_set(GC_ERR_HOST_MEM, __FILE__, __LINE__, "reference max pool");
}
static void pool_ref_fwd(gc_net_ref *r, int i, int training, const double *x, double *y) {
  (void)training;
  const node *n = RN(r, i);
  const size_t *di = RDIMS(r, n->in);
  gc_ref_pool_fwd(&n->pool, di[0], di[1], di[2], di[3], x, y, r->arg[i]);
}
static void pool_ref_bwd(gc_net_ref *r, int i, const double *x, const double *y, const double *dy, double *dx) {
  (void)x, (void)y;
  const node *n = RN(r, i);
  const size_t *di = RDIMS(r, n->in);
  gc_ref_pool_bwd(&n->pool, di[0], di[1], di[2], di[3], dy, r->arg[i], dx);
}
#define GC_OP_ROW_pool {"pool", 0, NULL, pool_fwd, pool_bwd, pool_ref_init, pool_ref_fwd, pool_ref_bwd}

/* ---- global average pool ---- */

static int gap_fwd(gc_ctx *ctx, gc_net *net, node *n, int training) {
  (void)training;
  return gc_gap_forward(ctx, T(n->in), T(n->out));
}
static int gap_bwd(gc_ctx *ctx, gc_net *net, node *n, int acc, int acc2) {
  (void)acc2;
  return gc_gap_backward(ctx, G(n->out), G(n->in), acc);
}
static void gap_ref_fwd(gc_net_ref *r, int i, int training, const double *x, double *y) {
  (void)training;
  const size_t *di = RDIMS(r, RN(r, i)->in);
  gc_ref_gap_fwd(di[0], di[1], di[2] * di[3], x, y);
}
static void gap_ref_bwd(gc_net_ref *r, int i, const double *x, const double *y, const double *dy, double *dx) {
  (void)x, (void)y;
  const size_t *di = RDIMS(r, RN(r, i)->in);
  gc_ref_gap_bwd(di[0], di[1], di[2] * di[3], dy, dx);
}
#define GC_OP_ROW_gap {"gap", 0, NULL, gap_fwd, gap_bwd, NULL, gap_ref_fwd, gap_ref_bwd}

/* ---- linear ---- */

static int linear_fwd(gc_ctx *ctx, gc_net *net, node *n, int training) {
  (void)training;
  return gc_linear_forward(ctx, T(n->in), PW(n->p0), OPT_PW(n->p1), T(n->out));
}
static int linear_bwd(gc_ctx *ctx, gc_net *net, node *n, int acc, int acc2) {
  (void)acc2;
  return gc_linear_backward(ctx, T(n->in), PW(n->p0), G(n->out), G(n->in), acc, PG(n->p0), OPT_PG(n->p1));
}
static void linear_ref_fwd(gc_net_ref *r, int i, int training, const double *x, double *y) {
  (void)training;
  const node *n = RN(r, i);
  const size_t *di = RDIMS(r, n->in), *dout = RDIMS(r, n->out);
  gc_ref_linear_fwd(di[0], di[1] * di[2] * di[3], dout[1], x, r->pw[n->p0], n->p1 >= 0 ? r->pw[n->p1] : NULL, y);
}
static void linear_ref_bwd(gc_net_ref *r, int i, const double *x, const double *y, const double *dy, double *dx) {
  (void)y;
  const node *n = RN(r, i);
  const size_t *di = RDIMS(r, n->in), *dout = RDIMS(r, n->out);
  gc_ref_linear_bwd(di[0], di[1] * di[2] * di[3], dout[1], x, r->pw[n->p0], dy, dx, r->pg[n->p0],
                    n->p1 >= 0 ? r->pg[n->p1] : NULL);
}
#define GC_OP_ROW_linear {"linear", 0, NULL, linear_fwd, linear_bwd, NULL, linear_ref_fwd, linear_ref_bwd}

/* ---- sigmoid ---- */

static int sigmoid_fwd(gc_ctx *ctx, gc_net *net, node *n, int training) {
  (void)training;
  return gc_sigmoid_forward(ctx, T(n->in), T(n->out));
}
static int sigmoid_bwd(gc_ctx *ctx, gc_net *net, node *n, int acc, int acc2) {
  (void)acc2;
  return gc_sigmoid_backward(ctx, T(n->out), G(n->out), G(n->in), acc);
}
static void sigmoid_ref_fwd(gc_net_ref *r, int i, int training, const double *x, double *y) {
  (void)training;
  gc_ref_sigmoid_fwd(gc_net_prod(RDIMS(r, RN(r, i)->out), 4), x, y);
}
static void sigmoid_ref_bwd(gc_net_ref *r, int i, const double *x, const double *y, const double *dy, double *dx) {
  (void)x;
  gc_ref_sigmoid_bwd(gc_net_prod(RDIMS(r, RN(r, i)->out), 4), y, dy, dx);
}
#define GC_OP_ROW_sigmoid {"sigmoid", 0, NULL, sigmoid_fwd, sigmoid_bwd, NULL, sigmoid_ref_fwd, sigmoid_ref_bwd}

/* ---- channel-wise scale (squeeze-excitation): y = x * s, s (N, C) ---- */

static int chscale_fwd(gc_ctx *ctx, gc_net *net, node *n, int training) {
  (void)training;
  return gc_chscale_forward(ctx, T(n->in), T(n->in2), T(n->out));
}
static int chscale_bwd(gc_ctx *ctx, gc_net *net, node *n, int acc, int acc2) {
  return gc_chscale_backward(ctx, T(n->in), T(n->in2), G(n->out), G(n->in), acc, G(n->in2), acc2);
}
static void chscale_ref_fwd(gc_net_ref *r, int i, int training, const double *x, double *y) {
  (void)training;
  const node *n = RN(r, i);
  const size_t *di = RDIMS(r, n->in);
  double *s = gc_net_ref_get(r, n->in2, 0);
  gc_ref_chscale_fwd(di[0], di[1], di[2] * di[3], x, s, y);
  free(s);
}
static void chscale_ref_bwd(gc_net_ref *r, int i, const double *x, const double *y, const double *dy, double *dx) {
  (void)y;
  const node *n = RN(r, i);
  const size_t *di = RDIMS(r, n->in);
  double *s = gc_net_ref_get(r, n->in2, 0), *ds = calloc(di[0] * di[1], sizeof *ds);
  gc_ref_chscale_bwd(di[0], di[1], di[2] * di[3], x, s, dy, dx, ds);
  gc_net_ref_put(r, n->in2, 1, ds, 1);
  free(s), free(ds);
}
#define GC_OP_ROW_chscale {"scale", 1, NULL, chscale_fwd, chscale_bwd, NULL, chscale_ref_fwd, chscale_ref_bwd}

/* ---- L2Norm (SSD's conv4_3): y = gamma * x / (||x|| over channels + eps) ---- */

static int l2norm_fwd(gc_ctx *ctx, gc_net *net, node *n, int training) {
  (void)training;
  return gc_l2norm_forward(ctx, T(n->in), PW(n->p0), n->eps, T(n->out), &n->save[0]);
}
static int l2norm_bwd(gc_ctx *ctx, gc_net *net, node *n, int acc, int acc2) {
  (void)acc2;
  return gc_l2norm_backward(ctx, T(n->in), PW(n->p0), n->eps, &n->save[0], G(n->out), G(n->in), acc, PG(n->p0));
}
static void l2norm_ref_fwd(gc_net_ref *r, int i, int training, const double *x, double *y) {
  (void)training;
  const node *n = RN(r, i);
  const size_t *di = RDIMS(r, n->in);
  double *norm = malloc(di[0] * di[2] * di[3] * sizeof *norm);
  if (norm) gc_ref_l2norm_fwd(di[0], di[1], di[2] * di[3], x, r->pw[n->p0], n->eps, y, norm);
  free(norm);
}
static void l2norm_ref_bwd(gc_net_ref *r, int i, const double *x, const double *y, const double *dy, double *dx) {
  (void)y;
  const node *n = RN(r, i);
  const size_t *di = RDIMS(r, n->in);
  gc_ref_l2norm_bwd(di[0], di[1], di[2] * di[3], x, r->pw[n->p0], n->eps, dy, dx, r->pg[n->p0]);
}
#define GC_OP_ROW_l2norm {"l2norm", 0, NULL, l2norm_fwd, l2norm_bwd, NULL, l2norm_ref_fwd, l2norm_ref_bwd}

/* ---- NCHW -> NHWC rows (SSD's heads into the output) ---- */

static int nhwc_fwd(gc_ctx *ctx, gc_net *net, node *n, int training) {
  (void)training;
  return gc_nhwc_forward(ctx, T(n->in), T(n->out));
}
static int nhwc_bwd(gc_ctx *ctx, gc_net *net, node *n, int acc, int acc2) {
  (void)acc2;
  return gc_nhwc_backward(ctx, G(n->out), G(n->in), acc);
}
static void nhwc_ref_fwd(gc_net_ref *r, int i, int training, const double *x, double *y) {
  (void)training;
  const size_t *di = RDIMS(r, RN(r, i)->in);
  size_t C = di[1], P = di[2] * di[3];
  for (size_t n = 0; n < di[0]; n++)
    for (size_t c = 0; c < C; c++)
      for (size_t p = 0; p < P; p++) y[(n * P + p) * C + c] = x[(n * C + c) * P + p];
}
static void nhwc_ref_bwd(gc_net_ref *r, int i, const double *x, const double *y, const double *dy, double *dx) {
  (void)x, (void)y;
  const size_t *di = RDIMS(r, RN(r, i)->in);
  size_t C = di[1], P = di[2] * di[3];
  for (size_t n = 0; n < di[0]; n++)
    for (size_t c = 0; c < C; c++)
      for (size_t p = 0; p < P; p++) dx[(n * C + c) * P + p] = dy[(n * P + p) * C + c];
}
#define GC_OP_ROW_nhwc {"nhwc", 0, NULL, nhwc_fwd, nhwc_bwd, NULL, nhwc_ref_fwd, nhwc_ref_bwd}

/* ---- the table ---- */

const gc_op_row gc_net_ops[OP_COUNT] = {
#define GC_OP_TABLE_ROW(E, f) [OP_##E] = GC_OP_ROW_##f,
    GC_NET_OPS(GC_OP_TABLE_ROW)
#undef GC_OP_TABLE_ROW
};
