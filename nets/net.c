/* Network graphs: planning and allocation, the graph builders the architecture files use, forward and
 * backward through the op table, initialisation, per-layer profiles and buffer snapshots (see gc_net.h;
 * the op kinds are in ops.c, the networks in archs.c and arch_*.c). */
#include "net_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int reserve_all(gc_ctx *ctx, gc_net *net);

/* ---- planning helpers ---- */

#define GROW(arr, n, cap)                                                                                \
  do {                                                                                                   \
    if ((n) == (cap)) {                                                                                  \
      int nc_ = (cap) ? 2 * (cap) : 64;                                                                  \
      void *p_ = realloc((arr), (size_t)nc_ * sizeof *(arr));                                            \
      if (!p_) {                                                                                         \
        net->err = gc_error_set(GC_ERR_HOST_MEM, __FILE__, __LINE__, "network graph");                   \
        return -1;                                                                                       \
      }                                                                                                  \
      (arr) = p_;                                                                                        \
      (cap) = nc_;                                                                                       \
    }                                                                                                    \
  } while (0)

int gc_net_fail(gc_net *net, int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  net->err = gc_error_setv(status, __FILE__, __LINE__, fmt, ap);
  va_end(ap);
  return -1;
}

size_t gc_net_dim(const gc_net *net, int a, int i) { return net->acts[a].dims[i]; }
#define D(net, a, i) gc_net_dim((net), (a), (i))

int gc_net_storage_new(gc_net *net, size_t n, size_t c, size_t h, size_t w) {
  GROW(net->st, net->nst, net->cap_st);
  storage *s = &net->st[net->nst];
  memset(s, 0, sizeof *s);
  s->dims[0] = n, s->dims[1] = c, s->dims[2] = h, s->dims[3] = w;
  return net->nst++;
}

int gc_net_view(gc_net *net, int st, size_t c0, size_t c) {
  if (st < 0) return -1;
  GROW(net->acts, net->nacts, net->cap_acts);
  act *a = &net->acts[net->nacts];
  memset(a, 0, sizeof *a);
  a->st = st;
  a->c0 = c0;
  memcpy(a->dims, net->st[st].dims, sizeof a->dims);
  a->dims[1] = c;
  return net->nacts++;
}

int gc_net_act_new(gc_net *net, size_t n, size_t c, size_t h, size_t w) {
  return gc_net_view(net, gc_net_storage_new(net, n, c, h, w), 0, c);
}

static int param_new(gc_net *net, const char *prefix, const char *suffix, gc_param_kind kind, int ndim,
                     const size_t *dims, size_t fan_in) {
  GROW(net->params, net->nparams, net->cap_params);
  gc_param *p = &net->params[net->nparams];
  memset(p, 0, sizeof *p);
  snprintf(p->name, sizeof p->name, "%s%s%s", prefix, *prefix ? "." : "", suffix);
  p->kind = kind;
  p->ndim = ndim;
  for (int i = 0; i < ndim; i++) p->dims[i] = dims[i];
  p->fan_in = fan_in;
  p->init = GC_INIT_PYTORCH;
  return net->nparams++;
}

static int buf_new(gc_net *net, const char *prefix, const char *suffix) {
  GROW(net->bufs, net->nbufs, net->cap_bufs);
  gc_buffer *b = &net->bufs[net->nbufs];
  memset(b, 0, sizeof *b);
  snprintf(b->name, sizeof b->name, "%s.%s", prefix, suffix);
  return net->nbufs++;
}

static int node_new(gc_net *net, int op, int in, int out) {
  if (in < 0 || out < 0) return -1;
  GROW(net->nodes, net->nnodes, net->cap_nodes);
  node *n = &net->nodes[net->nnodes];
  memset(n, 0, sizeof *n);
  n->op = op;
  n->in = in;
  n->in2 = -1;
  n->out = out;
  n->p0 = n->p1 = n->b0 = n->bn = -1;
  return net->nnodes++;
}

int gc_net_conv(gc_net *net, const char *name, int in, int cout, int k, int s, int p, int bias, int out) {
  return gc_net_conv_dil(net, name, in, cout, k, s, p, 1, bias, out);
}

int gc_net_conv_dil(gc_net *net, const char *name, int in, int cout, int k, int s, int p, int d, int bias, int out) {
  return gc_net_conv_any(net, name, in, cout, k, s, p, d, 1, bias, out);
}

int gc_net_conv_grouped(gc_net *net, const char *name, int in, int cout, int k, int s, int p, int groups, int bias) {
  return gc_net_conv_any(net, name, in, cout, k, s, p, 1, groups, bias, -1);
}

int gc_net_conv_any(gc_net *net, const char *name, int in, int cout, int k, int s, int p, int d, int groups, int bias,
                    int out) {
  if (in < 0) return -1;
  gc_conv c = {(int)D(net, in, 1), cout, k, k, s, s, p, p, d, d, bias, groups};
  size_t ho, wo;
  if (gc_conv_out(&c, D(net, in, 2), D(net, in, 3), &ho, &wo)) {
    net->err = GC_ERR_ARG;
    gc_error_prefix(GC_ERR_ARG, "%s: ", name);
    return -1;
  }
  if (out < 0) out = gc_net_act_new(net, D(net, in, 0), (size_t)cout, ho, wo);
  int nid = node_new(net, OP_CONV, in, out);
  if (nid < 0) return -1;
  node *n = &net->nodes[nid];
  n->conv = c;
  size_t cin_g = (size_t)c.c_in / (size_t)(groups > 1 ? groups : 1); /* input channels per group */
  size_t wd[4] = {(size_t)cout, cin_g, (size_t)k, (size_t)k}, fan = cin_g * k * k;
  n->p0 = param_new(net, name, "weight", GC_P_CONV_W, 4, wd, fan);
  if (bias) n->p1 = param_new(net, name, "bias", GC_P_CONV_B, 1, wd, fan);
  size_t ws = gc_conv_workspace(net->ctx, &c, D(net, in, 0), D(net, in, 2), D(net, in, 3));
  if (ws > net->ws_size) net->ws_size = ws;
  net->flops += 2.0 * (double)cout * (double)fan * (double)(ho * wo);
  return out;
}

int gc_net_bn(gc_net *net, const char *name, int in, int relu, int out) {
  if (in < 0) return -1;
  if (out < 0) out = gc_net_act_new(net, D(net, in, 0), D(net, in, 1), D(net, in, 2), D(net, in, 3));
  int nid = node_new(net, OP_BN, in, out);
  if (nid < 0) return -1;
  node *n = &net->nodes[nid];
  size_t c = D(net, in, 1);
  n->bnd = (gc_bn){(int)c, 1e-5f, 0.1f, relu};
  n->p0 = param_new(net, name, "weight", GC_P_BN_W, 1, &c, c);
  n->p1 = param_new(net, name, "bias", GC_P_BN_B, 1, &c, c);
  n->b0 = buf_new(net, name, "running_mean");
  buf_new(net, name, "running_var");
  GROW(net->bn_names, net->nbn, net->cap_bn);
  snprintf(net->bn_names[net->nbn], sizeof net->bn_names[0], "%s", name);
  n->bn = net->nbn++;
  n->save_n[0] = n->save_n[1] = c;
  if (2 * c > net->ws_size) net->ws_size = 2 * c;
  return out;
}

/* an element-wise op: out has the shape of `in` (a new activation, or the given one: a channel view) */
static int simple_into(gc_net *net, int op, int in, int in2, int relu, int out) {
  if (in < 0 || (gc_net_ops[op].in2_grad && in2 < 0)) return -1; /* a two-input op needs both */
  if (op == OP_ADD)
    for (int i = 0; i < 4; i++)
      if (D(net, in2, i) != D(net, in, i))
        return gc_net_fail(net, GC_ERR_ARG, "%s of activations of different shapes", gc_net_ops[op].name);
  if (out < 0) out = gc_net_act_new(net, D(net, in, 0), D(net, in, 1), D(net, in, 2), D(net, in, 3));
  else
    for (int i = 0; i < 4; i++)
      if (D(net, out, i) != D(net, in, i))
        return gc_net_fail(net, GC_ERR_ARG, "%s into an activation of another shape", gc_net_ops[op].name);
  int nid = node_new(net, op, in, out);
  if (nid < 0) return -1;
  net->nodes[nid].in2 = in2;
  net->nodes[nid].relu = relu;
  return out;
}
static int simple(gc_net *net, int op, int in, int in2, int relu) { return simple_into(net, op, in, in2, relu, -1); }
int gc_net_relu(gc_net *net, int in) { return simple(net, OP_RELU, in, -1, 0); }
int gc_net_relu_into(gc_net *net, int in, int out) { return simple_into(net, OP_RELU, in, -1, 0, out); }
int gc_net_add_into(gc_net *net, int a, int b, int relu, int out) { return simple_into(net, OP_ADD, a, b, relu, out); }
void gc_net_init_kaiming_out(gc_net *net) {
  for (int i = 0; i < net->nparams; i++)
    if (net->params[i].kind == GC_P_CONV_W) net->params[i].init = GC_INIT_KAIMING_OUT;
}

int gc_net_channels(gc_net *net, int a, size_t c0, size_t c) {
  if (a < 0) return -1;
  if (c0 > D(net, a, 1) || c == 0 || c > D(net, a, 1) - c0)
    return gc_net_fail(net, GC_ERR_ARG, "channels [%zu, +%zu) of an activation of %zu", c0, c, D(net, a, 1));
  return gc_net_view(net, net->acts[a].st, net->acts[a].c0 + c0, c);
}
int gc_net_sigmoid(gc_net *net, int in) { return simple(net, OP_SIGMOID, in, -1, 0); }
int gc_net_add(gc_net *net, int a, int b, int relu) { return simple(net, OP_ADD, a, b, relu); }
int gc_net_chscale(gc_net *net, int x, int s) { return simple(net, OP_CHSCALE, x, s, 0); }

static int pool_any(gc_net *net, int in, int max, int k, int s, int p, int ceil_mode, int out);
int gc_net_pool(gc_net *net, int in, int max, int k, int s, int p, int out) { return pool_any(net, in, max, k, s, p, 0, out); }
int gc_net_pool_ceil(gc_net *net, int in, int k, int s, int p) { return pool_any(net, in, 1, k, s, p, 1, -1); }

static int pool_any(gc_net *net, int in, int max, int k, int s, int p, int ceil_mode, int out) {
  if (in < 0) return -1;
  gc_pool pl = {max, k, k, s, s, p, p, ceil_mode};
  size_t ho, wo;
  if (gc_pool_out(&pl, D(net, in, 2), D(net, in, 3), &ho, &wo)) {
    net->err = GC_ERR_ARG;
    return -1;
  }
  if (out < 0) out = gc_net_act_new(net, D(net, in, 0), D(net, in, 1), ho, wo);
  int nid = node_new(net, OP_POOL, in, out);
  if (nid < 0) return -1;
  net->nodes[nid].pool = pl;
  if (max) net->nodes[nid].save_n[0] = D(net, in, 0) * D(net, in, 1) * ho * wo;
  return out;
}

int gc_net_l2norm(gc_net *net, const char *name, int in, float gamma0, float eps) {
  if (in < 0) return -1;
  int out = gc_net_act_new(net, D(net, in, 0), D(net, in, 1), D(net, in, 2), D(net, in, 3));
  int nid = node_new(net, OP_L2NORM, in, out);
  if (nid < 0) return -1;
  node *n = &net->nodes[nid];
  size_t c = D(net, in, 1);
  n->p0 = param_new(net, name, "weight", GC_P_SCALE, 1, &c, c);
  if (n->p0 < 0) return -1;
  net->params[n->p0].init = GC_INIT_CONST;
  net->params[n->p0].init_value = gamma0;
  n->eps = eps;
  n->save_n[0] = D(net, in, 0) * D(net, in, 2) * D(net, in, 3);
  return out;
}

int gc_net_nhwc(gc_net *net, int in, int out) {
  if (in < 0 || out < 0) return -1;
  if (D(net, out, 0) != D(net, in, 0) ||
      D(net, out, 1) * D(net, out, 2) * D(net, out, 3) != D(net, in, 1) * D(net, in, 2) * D(net, in, 3))
    return gc_net_fail(net, GC_ERR_ARG, "nhwc: the output view does not hold the input's %zu values per image",
                       D(net, in, 1) * D(net, in, 2) * D(net, in, 3));
  return node_new(net, OP_NHWC, in, out) < 0 ? -1 : out;
}

int gc_net_gap(gc_net *net, int in) {
  if (in < 0) return -1;
  int out = gc_net_act_new(net, D(net, in, 0), D(net, in, 1), 1, 1);
  return node_new(net, OP_GAP, in, out) < 0 ? -1 : out;
}

int gc_net_linear(gc_net *net, const char *name, int in, int outf, int bias) {
  if (in < 0) return -1;
  size_t inf = D(net, in, 1) * D(net, in, 2) * D(net, in, 3);
  int out = gc_net_act_new(net, D(net, in, 0), (size_t)outf, 1, 1);
  int nid = node_new(net, OP_LINEAR, in, out);
  if (nid < 0) return -1;
  size_t wd[2] = {(size_t)outf, inf};
  net->nodes[nid].p0 = param_new(net, name, "weight", GC_P_LIN_W, 2, wd, inf);
  if (bias) net->nodes[nid].p1 = param_new(net, name, "bias", GC_P_LIN_B, 1, wd, inf);
  net->flops += 2.0 * (double)outf * (double)inf;
  return out;
}

/* ---- planning ---- */

int gc_net_spec_init(gc_net_spec *s, const char *name, int imagenet) {
  memset(s, 0, sizeof *s);
  const gc_arch *a = gc_arch_find(name);
  if (!a) {
    char list[512] = "";
    for (int i = 0; gc_net_arch(i); i++) {
      strncat(list, " ", sizeof list - strlen(list) - 1);
      strncat(list, gc_net_arch(i)->name, sizeof list - strlen(list) - 1);
    }
    GC_FAIL(GC_ERR_ARG, "unknown network '%s'; known:%s", name, list);
  }
  if (a->info.forms & GC_FORM_DETECT) {
    if (imagenet) GC_FAIL(GC_ERR_ARG, "network '%s' is a detection network: it has no ImageNet form", name);
    snprintf(s->name, sizeof s->name, "%s", name);
    s->in_ch = 3;
    s->in_h = s->in_w = a->info.det_size;
    s->classes = 21;
    return GC_OK;
  }
  if (imagenet && !(a->info.forms & GC_FORM_IMAGENET))
    GC_FAIL(GC_ERR_ARG, "network '%s' has no ImageNet form in gafcl (ResNet and SE-ResNet have)", name);
  if (!imagenet && !(a->info.forms & GC_FORM_CIFAR))
    GC_FAIL(GC_ERR_ARG, "network '%s' has only an ImageNet form (--imagenet)", name);
  snprintf(s->name, sizeof s->name, "%s", name);
  s->imagenet = imagenet;
  s->in_ch = 3;
  s->in_h = s->in_w = imagenet ? 224 : 32;
  s->classes = imagenet ? 1000 : 10;
  return GC_OK;
}

int gc_net_plan(gc_ctx *ctx, const gc_net_spec *spec, size_t batch, gc_net **out) {
  int st = 0;
  *out = NULL;
  gc_net_spec chk;
  if ((st = gc_net_spec_init(&chk, spec->name, spec->imagenet)) != 0) return st;
  if (batch < 1 || spec->in_ch < 1 || spec->in_h < 1 || spec->in_w < 1 || spec->classes < 1)
    GC_FAIL(GC_ERR_ARG, "network %s: batch %zu, input %dx%dx%d, %d classes", spec->name, batch, spec->in_ch,
            spec->in_h, spec->in_w, spec->classes);
  gc_net *net = calloc(1, sizeof *net);
  if (!net) GC_FAIL(GC_ERR_HOST_MEM, "network");
  net->spec = *spec;
  net->batch = batch;
  net->ctx = ctx;
  net->input = gc_net_act_new(net, batch, (size_t)spec->in_ch, (size_t)spec->in_h, (size_t)spec->in_w);
  const gc_arch *a = gc_arch_find(spec->name);
  gc_clear_error();
  net->output = net->input < 0 ? -1 : a->build(net, a);
  if (net->output < 0 || net->err) {
    st = net->err ? net->err : GC_ERR_ARG;
    if (!gc_last_error()[0]) gc_error_set(st, __FILE__, __LINE__, "network %s: could not be built", spec->name);
    gc_error_prefix(st, "network %s (input %dx%dx%d): ", spec->name, spec->in_ch, spec->in_h, spec->in_w);
    gc_net_free(net);
    return st;
  }
  net->ctx = NULL;
  st = reserve_all(ctx, net);
  if (st) {
    gc_net_free(net);
    return st;
  }
  *out = net;
  return GC_OK;
}

/* ---- allocation ---- */

void gc_net_free(gc_net *net) {
  if (!net) return;
  free(net->prof);
  gc_arena_release(&net->pa);
  gc_arena_release(&net->ga);
  gc_arena_release(&net->ba);
  gc_arena_release(&net->bb);
  free(net->bn_saved);
  for (int k = 0; k < net->na; k++) {
    gc_arena_release(&net->aa[k]);
    gc_arena_release(&net->da[k]);
  }
  free(net->st);
  free(net->acts);
  free(net->nodes);
  free(net->params);
  free(net->bufs);
  free(net->bn_names);
  free(net->bn_count);
  free(net->written);
  free(net);
}

size_t gc_net_prod(const size_t *d, int n) {
  size_t p = 1;
  for (int i = 0; i < n; i++) p *= d[i];
  return p;
}

/* reserve everything in the four arenas (a planned net: sizes; an allocated one: the same offsets) */
static int reserve_all(gc_ctx *ctx, gc_net *net) {
  int st = 0;
  gc_arena_init(ctx, &net->pa, "parameters");
  gc_arena_init(ctx, &net->ga, "gradients");
  gc_optim_align(ctx, &net->pa);
  gc_optim_align(ctx, &net->ga);
  gc_arena_init(ctx, &net->ba, "buffers");
  for (int k = 0; k < net->na; k++) {
    gc_arena_release(&net->aa[k]);
    gc_arena_release(&net->da[k]);
  }
  net->na = 1;
  net->split_overflow = 0;
  gc_arena_init(ctx, &net->aa[0], "activations");
  gc_arena_init(ctx, &net->da[0], "activation gradients");
  for (int i = 0; i < net->nparams; i++) {
    gc_param *p = &net->params[i];
    GC_TRY(gc_arena_reserve(&net->pa, &p->w, p->ndim, p->dims));
    GC_TRY(gc_arena_reserve(&net->ga, &p->g, p->ndim, p->dims));
  }
  for (int i = 0; i < net->nnodes; i++) {
    node *n = &net->nodes[i];
    if (gc_net_ops[n->op].reserve) GC_TRY(gc_net_ops[n->op].reserve(net, n));
    for (int k = 0; k < 2; k++)
      if (n->save_n[k]) GC_TRY(gc_arena_reserve(&net->aa[0], &n->save[k], 1, &n->save_n[k]));
  }
  size_t ws = net->ws_size ? net->ws_size : 1;
  GC_TRY(gc_arena_reserve(&net->aa[0], &net->ws, 1, &ws));
  /* storages in order, a new pair of arenas when the next one would take the current past max_buffer
   * (the alignment padding is under one storage's worth: counted as 64 KiB) */
  size_t cap = ctx->max_buffer ? ctx->max_buffer : SIZE_MAX;
  for (int i = 0; i < net->nst; i++) {
    size_t bytes = gc_net_prod(net->st[i].dims, 4) * sizeof(float) + 65536;
    int k = net->na - 1;
    if (net->aa[k].used > 0 && gc_arena_bytes(&net->aa[k]) + bytes > cap) {
      if (net->na == GC_NET_MAX_ARENAS) { /* more goes into the last one; gc_net_alloc reports it */
        net->split_overflow = 1;
        goto reserve;
      }
      k = net->na++;
      char nm[48];
      snprintf(nm, sizeof nm, "activations %d", k + 1);
      gc_arena_init(ctx, &net->aa[k], nm);
      snprintf(nm, sizeof nm, "activation gradients %d", k + 1);
      gc_arena_init(ctx, &net->da[k], nm);
    }
  reserve:
    GC_TRY(gc_arena_reserve(&net->aa[k], &net->st[i].t, 4, net->st[i].dims));
    GC_TRY(gc_arena_reserve(&net->da[k], &net->st[i].g, 4, net->st[i].dims));
  }
cleanup:
  return st;
}

void gc_net_memory(const gc_net *net, size_t bytes[4]) {
  bytes[0] = gc_arena_bytes(&net->pa);
  bytes[1] = gc_arena_bytes(&net->ga);
  bytes[2] = gc_arena_bytes(&net->ba);
  bytes[3] = 0;
  for (int k = 0; k < net->na; k++) bytes[3] += gc_arena_bytes(&net->aa[k]) + gc_arena_bytes(&net->da[k]);
}

int gc_net_alloc(gc_ctx *ctx, gc_net *net) {
  int st = 0;
  if (net->allocated) return GC_OK;
  size_t need = 0, b[4];
  gc_net_memory(net, b);
  need = b[0] + b[1] + b[2] + b[3];
  if ((cl_ulong)need > ctx->dev.global_mem)
    GC_FAIL(GC_ERR_DEVICE_MEM,
            "network %s at batch %zu needs %.1f MiB of device memory (parameters %.1f, gradients %.1f, buffers %.1f, "
            "activations and workspace %.1f MiB) but %s has %.1f MiB; use a smaller batch",
            net->spec.name, net->batch, need / 1048576.0, b[0] / 1048576.0, b[1] / 1048576.0, b[2] / 1048576.0,
            b[3] / 1048576.0, ctx->dev.name, ctx->dev.global_mem / 1048576.0);
  if (net->split_overflow)
    GC_FAIL(GC_ERR_DEVICE_MEM, "network %s at batch %zu: activations of %.1f MiB need more than %d buffers of %.0f MiB; "
            "use a smaller batch", net->spec.name, net->batch, b[3] / 1048576.0, GC_NET_MAX_ARENAS,
            ctx->max_buffer / 1048576.0);
  GC_TRY(gc_arena_commit(ctx, &net->pa, 0));
  GC_TRY(gc_arena_commit(ctx, &net->ga, 0));
  GC_TRY(gc_arena_commit(ctx, &net->ba, 0));
  for (int k = 0; k < net->na; k++) {
    GC_TRY(gc_arena_commit(ctx, &net->aa[k], 0));
    GC_TRY(gc_arena_commit(ctx, &net->da[k], 0));
  }
  for (int i = 0; i < net->nacts; i++) {
    act *a = &net->acts[i];
    storage *s = &net->st[a->st];
    if (a->c0 == 0 && a->dims[1] == s->dims[1]) {
      a->t = s->t;
      a->g = s->g;
    } else {
      GC_TRY(gc_tensor_channels(&s->t, a->c0, a->dims[1], &a->t));
      GC_TRY(gc_tensor_channels(&s->g, a->c0, a->dims[1], &a->g));
    }
  }
  net->bn_count = calloc((size_t)(net->nbn ? net->nbn : 1), sizeof *net->bn_count);
  net->written = calloc((size_t)(net->nst ? net->nst : 1), 1);
  if (!net->bn_count || !net->written) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "network tables");
  net->allocated = 1;
cleanup:
  return st;
}

int gc_net_create(gc_ctx *ctx, const gc_net_spec *spec, size_t batch, gc_net **out) {
  gc_net *net = NULL;
  int st = gc_net_plan(ctx, spec, batch, &net);
  if (st) return st;
  st = gc_net_alloc(ctx, net);
  if (st) {
    gc_net_free(net);
    return st;
  }
  *out = net;
  return GC_OK;
}

/* ---- accessors ---- */

size_t gc_net_param_count(const gc_net *net) {
  size_t n = 0;
  for (int i = 0; i < net->nparams; i++) n += gc_net_prod(net->params[i].dims, net->params[i].ndim);
  return n;
}
double gc_net_flops_per_image(const gc_net *net) { return net->flops; }
int gc_net_nparams(const gc_net *net) { return net->nparams; }
const gc_param *gc_net_param(const gc_net *net, int i) { return &net->params[i]; }
int gc_net_nbuffers(const gc_net *net) { return net->nbufs; }
const gc_buffer *gc_net_buffer(const gc_net *net, int i) { return &net->bufs[i]; }
int gc_net_nbn(const gc_net *net) { return net->nbn; }
const char *gc_net_bn_name(const gc_net *net, int i) { return net->bn_names[i]; }
int64_t gc_net_bn_batches(const gc_net *net, int i) { return net->bn_count ? net->bn_count[i] : 0; }
void gc_net_set_bn_batches(gc_net *net, int i, int64_t v) {
  if (net->bn_count) net->bn_count[i] = v;
}
gc_arena *gc_net_params(gc_net *net) { return &net->pa; }
gc_arena *gc_net_grads(gc_net *net) { return &net->ga; }
const gc_tensor *gc_net_input(const gc_net *net) { return &net->acts[net->input].t; }
const gc_tensor *gc_net_output(const gc_net *net) { return &net->acts[net->output].t; }
const gc_tensor *gc_net_doutput(const gc_net *net) { return &net->acts[net->output].g; }
size_t gc_net_batch(const gc_net *net) { return net->batch; }
size_t gc_net_active_batch(const gc_net *net) { return net->active ? net->active : net->batch; }

int gc_net_set_batch(gc_net *net, size_t n) {
  if (!net->allocated) GC_FAIL(GC_ERR_ARG, "network %s: only an allocated net's batch can be set", net->spec.name);
  if (n < 1 || n > net->batch)
    GC_FAIL(GC_ERR_ARG, "network %s: a batch of %zu images (planned for 1 to %zu)", net->spec.name, n, net->batch);
  /* every activation and its gradient is a tensor (or channel view) of its storage with the batch as its
   * first dimension: the layers read the batch from there */
  for (int i = 0; i < net->nst; i++) net->st[i].t.dim[0] = net->st[i].g.dim[0] = net->st[i].dims[0] = n;
  for (int i = 0; i < net->nacts; i++) net->acts[i].t.dim[0] = net->acts[i].g.dim[0] = net->acts[i].dims[0] = n;
  net->active = n == net->batch ? 0 : n;
  return GC_OK;
}
const char *gc_net_spec_name(const gc_net *net) { return net->spec.name; }
const gc_net_spec *gc_net_get_spec(const gc_net *net) { return &net->spec; }
const gc_ssd_layout *gc_net_ssd(const gc_net *net) { return net->is_ssd ? &net->ssd : NULL; }

void gc_net_segments(const gc_net *net, float wd, int no_wd_bn_bias, gc_optim_segment *segs) {
  for (int i = 0; i < net->nparams; i++) {
    const gc_param *p = &net->params[i];
    int exempt = p->kind == GC_P_BN_W || p->kind == GC_P_BN_B || p->kind == GC_P_CONV_B || p->kind == GC_P_LIN_B;
    segs[i] = (gc_optim_segment){p->w.offset, gc_net_prod(p->dims, p->ndim), no_wd_bn_bias && exempt ? 0.0f : wd};
  }
}

int gc_net_optim_create(gc_ctx *ctx, gc_net *net, const gc_optim_config *cfg, float wd, int no_wd_bn_bias,
                        gc_optim **out) {
  *out = NULL;
  gc_optim_segment *segs = malloc((size_t)(net->nparams ? net->nparams : 1) * sizeof *segs);
  if (!segs) GC_FAIL(GC_ERR_HOST_MEM, "optimizer segments");
  gc_net_segments(net, wd, no_wd_bn_bias, segs);
  int st = gc_optim_create(ctx, cfg, &net->pa, &net->ga, (size_t)net->nparams, segs, out);
  free(segs);
  return st;
}

/* ---- initialisation: Philox4x32-10 ---- */

static void philox(uint32_t ctr[4], const uint32_t key_in[2], uint32_t out[4]) {
  uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3], k0 = key_in[0], k1 = key_in[1];
  for (int r = 0; r < 10; r++) {
    uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
    uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n1 = (uint32_t)p1, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1,
             n3 = (uint32_t)p0;
    c0 = n0, c1 = n1, c2 = n2, c3 = n3;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

int gc_net_init(gc_ctx *ctx, gc_net *net, uint64_t seed) {
  int st = 0;
  float *h = NULL;
  size_t cap = 0;
  const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
  for (int i = 0; i < net->nparams; i++) {
    gc_param *p = &net->params[i];
    size_t n = gc_net_prod(p->dims, p->ndim);
    if (n > cap) {
      free(h);
      h = malloc(n * sizeof *h);
      cap = n;
      if (!h) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "initialising %s", p->name);
    }
    if (p->init == GC_INIT_CONST) {
      for (size_t k = 0; k < n; k++) h[k] = p->init_value;
    } else if (p->init == GC_INIT_KAIMING_OUT) {
      /* N(0, 2 / fan_out): Box-Muller on pairs of uniforms from the same counter-based stream */
      double sd = sqrt(2.0 / (double)(p->dims[0] * (p->ndim == 4 ? p->dims[2] * p->dims[3] : 1)));
      for (size_t k = 0; k < n; k += 4) {
        uint32_t ctr[4] = {(uint32_t)k, (uint32_t)((uint64_t)k >> 32), (uint32_t)i, 0x6b61696du}, r[4];
        philox(ctr, key, r);
        for (int j = 0; j < 4; j += 2) {
          double u1 = ((double)(r[j] >> 8) + 0.5) / 16777216.0, u2 = ((double)(r[j + 1] >> 8) + 0.5) / 16777216.0;
          double rad = sqrt(-2.0 * log(u1)), th = 6.283185307179586 * u2;
          if (k + (size_t)j < n) h[k + (size_t)j] = (float)(sd * rad * cos(th));
          if (k + (size_t)j + 1 < n) h[k + (size_t)j + 1] = (float)(sd * rad * sin(th));
        }
      }
    } else if (p->kind == GC_P_BN_W || p->kind == GC_P_BN_B) {
      for (size_t k = 0; k < n; k++) h[k] = p->kind == GC_P_BN_W ? 1.0f : 0.0f;
    } else {
      double bound = 1.0 / sqrt((double)p->fan_in);
      for (size_t k = 0; k < n; k += 4) {
        uint32_t ctr[4] = {(uint32_t)k, (uint32_t)((uint64_t)k >> 32), (uint32_t)i, 0x67616663u}, r[4];
        philox(ctr, key, r);
        for (int j = 0; j < 4 && k + (size_t)j < n; j++) {
          double u = ((double)(r[j] >> 8) + 0.5) / 16777216.0; /* (0, 1) from 24 bits */
          h[k + (size_t)j] = (float)((2.0 * u - 1.0) * bound);
        }
      }
    }
    GC_TRY(gc_tensor_write(ctx, &p->w, h, n));
  }
  for (int i = 0; i < net->nbufs; i++) {
    size_t n = gc_tensor_numel(&net->bufs[i].t);
    if (n > cap) {
      free(h);
      h = malloc(n * sizeof *h);
      cap = n;
      if (!h) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "initialising buffers");
    }
    int var = strstr(net->bufs[i].name, "running_var") != NULL;
    for (size_t k = 0; k < n; k++) h[k] = var ? 1.0f : 0.0f;
    GC_TRY(gc_tensor_write(ctx, &net->bufs[i].t, h, n));
  }
  for (int i = 0; i < net->nbn; i++) net->bn_count[i] = 0;
cleanup:
  free(h);
  return st;
}

/* ---- per-layer profile ---- */

int gc_net_profile(gc_net *net, int on) {
  free(net->prof);
  net->prof = NULL;
  if (!on) return GC_OK;
  net->prof = calloc((size_t)(2 * (net->nnodes ? net->nnodes : 1)), sizeof *net->prof);
  return net->prof ? GC_OK : gc_error_set(GC_ERR_HOST_MEM, __FILE__, __LINE__, "layer profile of %d layers", net->nnodes);
}

int gc_net_profiling(const gc_net *net) { return net->prof != NULL; }
int gc_net_nlayers(const gc_net *net) { return net->nnodes; }

/* The group of a parameter name: its first component when that is a stage (layer1, dense2, trans3), "fc"
 * for the classifier, else 0 (stem or head, by position). */
static int param_group(const gc_param *p, char out[32]) {
  if (p->kind == GC_P_LIN_W || p->kind == GC_P_LIN_B) {
    snprintf(out, 32, "fc");
    return 1;
  }
  size_t k = strcspn(p->name, ".");
  /* SSD: the base, L2Norm, the extra layers and the two kinds of heads (ssd.pytorch's module names) */
  const char *parts[] = {"vgg", "L2Norm", "extras", "loc", "conf"};
  for (int j = 0; j < 5; j++)
    if (k == strlen(parts[j]) && !strncmp(p->name, parts[j], k)) {
      snprintf(out, 32, "%s", parts[j]);
      return 1;
    }
  const char *stages[] = {"layer", "dense", "trans"};
  for (int j = 0; j < 3; j++) {
    size_t l = strlen(stages[j]);
    if (k > l && k < 32 && !strncmp(p->name, stages[j], l) && p->name[l] >= '0' && p->name[l] <= '9') {
      memcpy(out, p->name, k);
      out[k] = 0;
      return 1;
    }
  }
  return 0;
}

void gc_net_node_group(const gc_net *net, int i, char group[32]) {
  /* the group: the node's own parameter's, else the nearest earlier node's with one */
  snprintf(group, 32, "stem");
  for (int j = i; j >= 0; j--) {
    const node *m = &net->nodes[j];
    if (m->p0 < 0) continue;
    if (!param_group(&net->params[m->p0], group)) snprintf(group, 32, "stem");
    break;
  }
  if (!strcmp(group, "stem")) { /* parameterless or unnamed stage: stem before the first stage, head after */
    for (int j = 0; j < i; j++) {
      char g[32];
      if (net->nodes[j].p0 >= 0 && param_group(&net->params[net->nodes[j].p0], g)) {
        snprintf(group, 32, "head");
        break;
      }
    }
  }
}

void gc_net_layer_profile(const gc_net *net, int i, gc_layer_profile *lp) {
  memset(lp, 0, sizeof *lp);
  const node *n = &net->nodes[i];
  lp->op = gc_net_ops[n->op].name;
  snprintf(lp->param, sizeof lp->param, "%s", n->p0 >= 0 ? net->params[n->p0].name : "");
  gc_net_node_group(net, i, lp->group);
  if (net->prof) {
    lp->forward_s = net->prof[2 * i];
    lp->backward_s = net->prof[2 * i + 1];
  }
}

int gc_net_layer_conv(const gc_net *net, int i, gc_conv *c, size_t in_dims[4], int *wants_dx) {
  if (i < 0 || i >= net->nnodes || strcmp(gc_net_ops[net->nodes[i].op].name, "conv") != 0) return 0;
  const node *n = &net->nodes[i];
  *c = n->conv;
  memcpy(in_dims, net->acts[n->in].dims, 4 * sizeof in_dims[0]);
  *wants_dx = n->in != net->input;
  return 1;
}

/* ---- buffer snapshots and finiteness of the model ---- */

int gc_net_buffers_save(gc_ctx *ctx, gc_net *net) {
  int st = 0;
  gc_tensor src, dst;
  if (!net->nbufs) return GC_OK;
  if (!net->bb.buf) {
    size_t n = net->ba.used ? net->ba.used : 1;
    gc_tensor t;
    gc_arena_init(ctx, &net->bb, "buffer snapshot");
    GC_TRY(gc_arena_reserve(&net->bb, &t, 1, &n));
    GC_TRY(gc_arena_commit(ctx, &net->bb, 0));
    net->bn_saved = calloc((size_t)(net->nbn ? net->nbn : 1), sizeof *net->bn_saved);
    if (!net->bn_saved) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "batch-norm counters");
  }
  GC_TRY(gc_arena_view(&net->ba, &src));
  GC_TRY(gc_arena_view(&net->bb, &dst));
  dst.dim[0] = src.dim[0] = net->ba.used;
  GC_TRY(gc_copy(ctx, &src, &dst));
  memcpy(net->bn_saved, net->bn_count, (size_t)net->nbn * sizeof *net->bn_saved);
cleanup:
  return st;
}

int gc_net_buffers_restore(gc_ctx *ctx, gc_net *net) {
  int st = 0;
  gc_tensor src, dst;
  if (!net->nbufs) return GC_OK;
  if (!net->bb.buf) GC_FAIL(GC_ERR_ARG, "gc_net_buffers_restore without a snapshot");
  GC_TRY(gc_arena_view(&net->bb, &src));
  GC_TRY(gc_arena_view(&net->ba, &dst));
  dst.dim[0] = src.dim[0] = net->ba.used;
  GC_TRY(gc_copy(ctx, &src, &dst));
  memcpy(net->bn_count, net->bn_saved, (size_t)net->nbn * sizeof *net->bn_saved);
cleanup:
  return st;
}

/* ---- forward / backward through the op table ---- */

static int prof_add(gc_ctx *ctx, double *acc) {
  double s = 0;
  int st = gc_timing_end(ctx, &s);
  *acc += s;
  return st;
}

static int layer_failed(gc_net *net, int i, int st, const char *pass) {
  const node *n = &net->nodes[i];
  const char *pname = n->p0 >= 0 ? net->params[n->p0].name : "";
  return gc_error_prefix(st, "%s %s, layer %d%s%s: ", net->spec.name, pass, i, *pname ? " " : "", pname);
}

int gc_net_forward(gc_ctx *ctx, gc_net *net, int training) {
  for (int i = 0; i < net->nnodes; i++) {
    node *n = &net->nodes[i];
    if (net->prof) gc_timing_begin(ctx);
    int st = gc_net_ops[n->op].forward(ctx, net, n, training);
    if (net->prof) { /* close the interval also after a failure, so later launches are not kept timed */
      int pst = prof_add(ctx, &net->prof[2 * i]);
      if (!st) st = pst;
    }
    if (st) return layer_failed(net, i, st, "forward");
  }
  return GC_OK;
}

/* The gradient of activation a is about to be written: returns whether to add to it. The first writer
 * of a storage overwrites; a partial first writer (a channel view) zeroes the storage first. */
static int grad_target(gc_ctx *ctx, gc_net *net, int a, int *acc) {
  int s = net->acts[a].st;
  if (net->written[s]) {
    *acc = 1;
    return GC_OK;
  }
  net->written[s] = 1;
  const act *ac = &net->acts[a];
  if (ac->c0 == 0 && ac->dims[1] == net->st[s].dims[1]) {
    *acc = 0;
    return GC_OK;
  }
  *acc = 1;
  return gc_fill(ctx, &net->st[s].g, 0.0f);
}

int gc_net_backward(gc_ctx *ctx, gc_net *net) { return gc_net_backward_hooked(ctx, net, NULL, NULL); }

int gc_net_param_layer(const gc_net *net, int i) {
  for (int k = 0; k < net->nnodes; k++)
    if (net->nodes[k].p0 == i || net->nodes[k].p1 == i) return k;
  return -1;
}

void gc_net_set_bn_frozen(gc_net *net, int frozen) { net->bn_frozen = frozen != 0; }
int gc_net_bn_frozen(const gc_net *net) { return net->bn_frozen; }
void gc_net_set_bn_sync(gc_net *net, const gc_bn_sync *sync) { net->bn_sync = sync; }

int gc_net_backward_hooked(gc_ctx *ctx, gc_net *net, int (*hook)(void *user, int layer), void *user) {
  memset(net->written, 0, (size_t)net->nst);
  net->written[net->acts[net->output].st] = 1;
  for (int i = net->nnodes - 1; i >= 0; i--) {
    node *n = &net->nodes[i];
    const gc_op_row *row = &gc_net_ops[n->op];
    int acc = 0, acc2 = 0, st = 0;
    if (net->prof) gc_timing_begin(ctx);
    if (n->in != net->input) st = grad_target(ctx, net, n->in, &acc);
    if (!st && row->in2_grad) st = grad_target(ctx, net, n->in2, &acc2);
    if (!st) st = row->backward(ctx, net, n, acc, acc2);
    if (net->prof) {
      int pst = prof_add(ctx, &net->prof[2 * i + 1]);
      if (!st) st = pst;
    }
    if (st) return layer_failed(net, i, st, "backward");
    if (hook && (st = hook(user, i)) != 0) return st;
  }
  return GC_OK;
}

int gc_net_zero_grad(gc_ctx *ctx, gc_net *net) {
  gc_tensor g;
  int st = gc_arena_view(&net->ga, &g);
  return st ? st : gc_fill(ctx, &g, 0.0f);
}
