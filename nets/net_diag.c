/* Where NaN or Inf values are: in the weights and buffers (before a checkpoint is written) and, after a
 * skipped step, where they began (see gc_net.h). Reads tensors back: for diagnosis only. */
#include "net_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Whether the values (or gradients) of activation a hold a NaN or Inf, from a read-back of its storage. */
static int act_nonfinite(gc_ctx *ctx, gc_net *net, int a, int grad, int *bad) {
  const act *ac = &net->acts[a];
  const storage *s = &net->st[ac->st];
  size_t n = gc_net_prod(s->dims, 4), hw = s->dims[2] * s->dims[3], img = s->dims[1] * hw;
  float *h = malloc(n * sizeof *h);
  *bad = 0;
  if (!h) return gc_error_set(GC_ERR_HOST_MEM, __FILE__, __LINE__, "reading an activation of %zu values", n);
  int st = gc_tensor_read(ctx, grad ? &s->g : &s->t, h, n);
  for (size_t i = 0; !st && i < s->dims[0] && !*bad; i++)
    for (size_t k = i * img + ac->c0 * hw, e = k + ac->dims[1] * hw; k < e; k++)
      if (!isfinite(h[k])) {
        *bad = 1;
        break;
      }
  free(h);
  return st;
}

static int tensor_nonfinite(gc_ctx *ctx, const gc_tensor *t, int *bad) {
  size_t n = gc_tensor_numel(t);
  float *h = malloc((n ? n : 1) * sizeof *h);
  *bad = 0;
  if (!h) return gc_error_set(GC_ERR_HOST_MEM, __FILE__, __LINE__, "reading a tensor of %zu values", n);
  int st = gc_tensor_read(ctx, t, h, n);
  for (size_t k = 0; !st && k < n; k++)
    if (!isfinite(h[k])) {
      *bad = 1;
      break;
    }
  free(h);
  return st;
}

static void origin_layer(const gc_net *net, int i, gc_nonfinite_origin *o) {
  gc_layer_profile lp;
  gc_net_layer_profile(net, i, &lp);
  o->layer = i;
  o->op = lp.op;
  snprintf(o->param, sizeof o->param, "%s", lp.param);
  snprintf(o->group, sizeof o->group, "%s", lp.group);
}

int gc_net_nonfinite_state(gc_ctx *ctx, gc_net *net, const char **name) {
  int st = 0, bad = 0;
  *name = NULL;
  for (int i = 0; i < net->nparams && !*name; i++) {
    GC_TRY(tensor_nonfinite(ctx, &net->params[i].w, &bad));
    if (bad) *name = net->params[i].name;
  }
  for (int i = 0; i < net->nbufs && !*name; i++) {
    GC_TRY(tensor_nonfinite(ctx, &net->bufs[i].t, &bad));
    if (bad) *name = net->bufs[i].name;
  }
cleanup:
  return st;
}

int gc_net_find_nonfinite(gc_ctx *ctx, gc_net *net, gc_nonfinite_origin *o) {
  int st = 0, bad = 0;
  memset(o, 0, sizeof *o);
  o->layer = -1;
  GC_TRY(act_nonfinite(ctx, net, net->input, 0, &bad));
  if (bad) {
    o->where = GC_NONFINITE_INPUT;
    return GC_OK;
  }
  for (int i = 0; i < net->nparams; i++) {
    GC_TRY(tensor_nonfinite(ctx, &net->params[i].w, &bad));
    if (bad) {
      o->where = GC_NONFINITE_WEIGHTS;
      snprintf(o->param, sizeof o->param, "%s", net->params[i].name);
      return GC_OK;
    }
  }
  for (int i = 0; i < net->nnodes; i++) {
    GC_TRY(act_nonfinite(ctx, net, net->nodes[i].out, 0, &bad));
    if (bad) {
      o->where = GC_NONFINITE_FORWARD;
      origin_layer(net, i, o);
      return GC_OK;
    }
  }
  GC_TRY(act_nonfinite(ctx, net, net->output, 1, &bad));
  if (bad) {
    o->where = GC_NONFINITE_LOSS;
    return GC_OK;
  }
  for (int i = net->nnodes - 1; i >= 0; i--) {
    const node *n = &net->nodes[i];
    for (int k = 0; k < 2 && !bad; k++) {
      int a = k ? n->in2 : n->in;
      if (a < 0 || a == net->input || (k && !gc_net_ops[n->op].in2_grad)) continue;
      GC_TRY(act_nonfinite(ctx, net, a, 1, &bad));
    }
    for (int p = 0; p < 2 && !bad; p++) {
      int pi = p ? n->p1 : n->p0;
      if (pi >= 0) GC_TRY(tensor_nonfinite(ctx, &net->params[pi].g, &bad));
    }
    if (bad) {
      o->where = GC_NONFINITE_BACKWARD;
      origin_layer(net, i, o);
      return GC_OK;
    }
  }
cleanup:
  return st;
}

const char *gc_nonfinite_describe(const gc_nonfinite_origin *o, char *buf, size_t cap) {
  switch (o->where) {
  case GC_NONFINITE_INPUT: snprintf(buf, cap, "in the input batch"); break;
  case GC_NONFINITE_WEIGHTS: snprintf(buf, cap, "in the weights before the step (%s)", o->param); break;
  case GC_NONFINITE_FORWARD:
  case GC_NONFINITE_BACKWARD:
    snprintf(buf, cap, "in the %s of layer %d (%s%s%s, %s)", o->where == GC_NONFINITE_FORWARD ? "forward output" : "backward pass",
             o->layer, o->op, *o->param ? " " : "", o->param, o->group);
    break;
  case GC_NONFINITE_LOSS: snprintf(buf, cap, "in the loss gradient (logits finite)"); break;
  default: snprintf(buf, cap, "nowhere in the activations, weights or gradients any more"); break;
  }
  return buf;
}

