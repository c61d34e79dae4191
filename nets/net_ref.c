/* The CPU reference executor: the same graph in double precision, node by node through the op table's
 * reference rows (see gc_net.h). Used by the tests. */
#include "net_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the CPU reference executor (double precision) ---- */

static size_t st_numel(const gc_net *net, int s) { return gc_net_prod(net->st[s].dims, 4); }

/* a dense copy of activation a (a channel range of its storage) */
double *gc_net_ref_get(gc_net_ref *r, int a, int grad) {
  const act *ac = &r->net->acts[a];
  const storage *s = &r->net->st[ac->st];
  size_t N = ac->dims[0], C = ac->dims[1], P = ac->dims[2] * ac->dims[3], Cs = s->dims[1];
  double *d = malloc(N * C * P * sizeof *d), *src = grad ? r->sg[ac->st] : r->sv[ac->st];
  for (size_t n = 0; n < N; n++) memcpy(d + n * C * P, src + (n * Cs + ac->c0) * P, C * P * sizeof *d);
  return d;
}

void gc_net_ref_put(gc_net_ref *r, int a, int grad, const double *d, int add) {
  const act *ac = &r->net->acts[a];
  const storage *s = &r->net->st[ac->st];
  size_t N = ac->dims[0], C = ac->dims[1], P = ac->dims[2] * ac->dims[3], Cs = s->dims[1];
  double *dst = grad ? r->sg[ac->st] : r->sv[ac->st];
  for (size_t n = 0; n < N; n++)
    for (size_t i = 0; i < C * P; i++) {
      double *o = dst + (n * Cs + ac->c0) * P + i;
      *o = add ? *o + d[n * C * P + i] : d[n * C * P + i];
    }
}

double *gc_net_read_d(gc_ctx *ctx, const gc_tensor *t) {
  size_t n = gc_tensor_numel(t);
  float *f = malloc(n * sizeof *f);
  double *d = malloc(n * sizeof *d);
  if (gc_tensor_read(ctx, t, f, n) != 0)
    memset(f, 0, n * sizeof *f);
  for (size_t i = 0; i < n; i++) d[i] = f[i];
  free(f);
  return d;
}

int gc_net_ref_create(gc_ctx *ctx, gc_net *net, gc_net_ref **out) {
  gc_net_ref *r = calloc(1, sizeof *r);
  if (!r) GC_FAIL(GC_ERR_HOST_MEM, "reference executor");
  r->net = net;
  r->sv = calloc((size_t)net->nst, sizeof *r->sv);
  r->sg = calloc((size_t)net->nst, sizeof *r->sg);
  r->pw = calloc((size_t)net->nparams, sizeof *r->pw);
  r->pg = calloc((size_t)net->nparams, sizeof *r->pg);
  r->rm = calloc((size_t)net->nnodes, sizeof *r->rm);
  r->rv = calloc((size_t)net->nnodes, sizeof *r->rv);
  r->mean = calloc((size_t)net->nnodes, sizeof *r->mean);
  r->istd = calloc((size_t)net->nnodes, sizeof *r->istd);
  r->arg = calloc((size_t)net->nnodes, sizeof *r->arg);
  for (int s = 0; s < net->nst; s++) {
    r->sv[s] = calloc(st_numel(net, s), sizeof(double));
    r->sg[s] = calloc(st_numel(net, s), sizeof(double));
  }
  for (int i = 0; i < net->nparams; i++) {
    r->pw[i] = gc_net_read_d(ctx, &net->params[i].w);
    r->pg[i] = calloc(gc_net_prod(net->params[i].dims, net->params[i].ndim), sizeof(double));
  }
  for (int i = 0; i < net->nnodes; i++)
    if (gc_net_ops[net->nodes[i].op].ref_init) {
      int st = gc_net_ops[net->nodes[i].op].ref_init(ctx, r, i);
      if (st) {
        gc_net_ref_free(r);
        return st;
      }
    }
  *out = r;
  return GC_OK;
}

void gc_net_ref_free(gc_net_ref *r) {
  if (!r) return;
  gc_net *net = r->net;
  for (int s = 0; s < net->nst; s++) free(r->sv[s]), free(r->sg[s]);
  for (int i = 0; i < net->nparams; i++) free(r->pw[i]), free(r->pg[i]);
  for (int i = 0; i < net->nnodes; i++) free(r->rm[i]), free(r->rv[i]), free(r->mean[i]), free(r->istd[i]), free(r->arg[i]);
  free(r->sv), free(r->sg), free(r->pw), free(r->pg), free(r->rm), free(r->rv), free(r->mean), free(r->istd), free(r->arg);
  free(r);
}

double *gc_net_ref_param(gc_net_ref *r, int i) { return r->pw[i]; }
double *gc_net_ref_pgrad(gc_net_ref *r, int i) { return r->pg[i]; }

void gc_net_ref_forward(gc_net_ref *r, const double *x, int training, double *out) {
  gc_net *net = r->net;
  gc_net_ref_put(r, net->input, 0, x, 0);
  for (int i = 0; i < net->nnodes; i++) {
    node *n = &net->nodes[i];
    double *xin = gc_net_ref_get(r, n->in, 0), *y = calloc(gc_net_prod(net->acts[n->out].dims, 4), sizeof *y);
    gc_net_ops[n->op].ref_forward(r, i, training, xin, y);
    gc_net_ref_put(r, n->out, 0, y, 0);
    free(xin), free(y);
  }
  double *l = gc_net_ref_get(r, net->output, 0);
  memcpy(out, l, gc_net_prod(net->acts[net->output].dims, 4) * sizeof *l);
  free(l);
}

void gc_net_ref_backward(gc_net_ref *r, const double *dout, double *dx) {
  gc_net *net = r->net;
  for (int s = 0; s < net->nst; s++) memset(r->sg[s], 0, st_numel(net, s) * sizeof(double));
  for (int i = 0; i < net->nparams; i++) memset(r->pg[i], 0, gc_net_prod(net->params[i].dims, net->params[i].ndim) * sizeof(double));
  gc_net_ref_put(r, net->output, 1, dout, 0);
  for (int i = net->nnodes - 1; i >= 0; i--) {
    node *n = &net->nodes[i];
    double *xin = gc_net_ref_get(r, n->in, 0), *y = gc_net_ref_get(r, n->out, 0), *dy = gc_net_ref_get(r, n->out, 1);
    double *g = calloc(gc_net_prod(net->acts[n->in].dims, 4), sizeof *g);
    gc_net_ops[n->op].ref_backward(r, i, xin, y, dy, g);
    gc_net_ref_put(r, n->in, 1, g, 1);
    free(xin), free(y), free(dy), free(g);
  }
  double *d = gc_net_ref_get(r, net->input, 1);
  if (dx) memcpy(dx, d, gc_net_prod(net->acts[net->input].dims, 4) * sizeof *d);
  free(d);
}
