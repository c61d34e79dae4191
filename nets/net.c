/* Network graphs: builders, planning and allocation, forward/backward, initialisation, and the CPU
 * reference executor (see gc_net.h). */
#include "gc_net.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GC_NET_MAX_ARENAS 256

enum { OP_CONV, OP_BN, OP_RELU, OP_ADD, OP_POOL, OP_GAP, OP_LINEAR, OP_SIGMOID, OP_CHSCALE };

typedef struct storage {
  size_t dims[4];
  gc_tensor t, g;
} storage;

typedef struct act {
  int st;
  size_t c0;
  size_t dims[4];
  gc_tensor t, g; /* views into the storage (set at allocation) */
} act;

typedef struct node {
  int op;
  int in, in2, out;    /* activations */
  int p0, p1;          /* parameters (conv w/b, bn gamma/beta, linear w/b); -1 none */
  int b0;              /* buffers: running mean (b0), running var (b0 + 1) */
  int bn;              /* batch-norm index (num_batches_tracked) */
  gc_conv conv;
  gc_bn bnd;
  gc_pool pool;
  int relu;
  size_t save_n[2];
  gc_tensor save[2];   /* bn: mean, invstd; max pool: argmax */
} node;

struct gc_net {
  gc_net_spec spec;
  size_t batch;
  storage *st;
  act *acts;
  node *nodes;
  gc_param *params;
  gc_buffer *bufs;
  char (*bn_names)[96];
  int64_t *bn_count;
  int nst, nacts, nnodes, nparams, nbufs, nbn;
  int cap_st, cap_acts, cap_nodes, cap_params, cap_bufs, cap_bn;
  int input, logits;
  double flops;
  size_t ws_size;
  gc_arena pa, ga, ba;    /* parameters, gradients, buffers */
  gc_arena bb;            /* a snapshot of the buffers (gc_net_buffers_save), allocated on first use */
  int64_t *bn_saved;      /* the batch-norm counters of that snapshot */
  gc_arena aa[GC_NET_MAX_ARENAS], da[GC_NET_MAX_ARENAS]; /* activations, their gradients: split so that no
                          buffer exceeds the context's max_buffer; storage s lives in aa[k] and da[k] */
  int na;
  int split_overflow;     /* more than GC_NET_MAX_ARENAS would be needed: the last one holds the rest */
  gc_tensor ws, labels, xent_ws;
  int allocated;
  unsigned char *written; /* per storage, during backward */
  int err;                /* a planning error was recorded */
  double *prof;           /* per node: forward seconds [2i], backward seconds [2i+1]; NULL: not profiling */
  const gc_ctx *ctx;      /* during planning: workspace sizes depend on the device's settings */
};

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

static int st_new(gc_net *net, size_t n, size_t c, size_t h, size_t w) {
  GROW(net->st, net->nst, net->cap_st);
  storage *s = &net->st[net->nst];
  memset(s, 0, sizeof *s);
  s->dims[0] = n, s->dims[1] = c, s->dims[2] = h, s->dims[3] = w;
  return net->nst++;
}

static int act_view(gc_net *net, int st, size_t c0, size_t c) {
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

static int act_new(gc_net *net, size_t n, size_t c, size_t h, size_t w) {
  return act_view(net, st_new(net, n, c, h, w), 0, c);
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

static size_t D(const gc_net *net, int a, int i) { return net->acts[a].dims[i]; }

/* conv: out = -1 makes a new activation; else the output goes into the given (view) activation */
static int L_conv(gc_net *net, const char *name, int in, int cout, int k, int s, int p, int bias, int out) {
  if (in < 0) return -1;
  gc_conv c = {(int)D(net, in, 1), cout, k, k, s, s, p, p, 1, 1, bias};
  size_t ho, wo;
  if (gc_conv_out(&c, D(net, in, 2), D(net, in, 3), &ho, &wo)) {
    net->err = GC_ERR_ARG;
    gc_error_prefix(GC_ERR_ARG, "%s: ", name);
    return -1;
  }
  if (out < 0) out = act_new(net, D(net, in, 0), (size_t)cout, ho, wo);
  int nid = node_new(net, OP_CONV, in, out);
  if (nid < 0) return -1;
  node *n = &net->nodes[nid];
  n->conv = c;
  size_t wd[4] = {(size_t)cout, (size_t)c.c_in, (size_t)k, (size_t)k}, fan = (size_t)c.c_in * k * k;
  n->p0 = param_new(net, name, "weight", GC_P_CONV_W, 4, wd, fan);
  if (bias) n->p1 = param_new(net, name, "bias", GC_P_CONV_B, 1, wd, fan);
  size_t ws = gc_conv_workspace(net->ctx, &c, D(net, in, 0), D(net, in, 2), D(net, in, 3));
  if (ws > net->ws_size) net->ws_size = ws;
  net->flops += 2.0 * (double)cout * (double)fan * (double)(ho * wo);
  return out;
}

static int L_bn(gc_net *net, const char *name, int in, int relu, int out) {
  if (in < 0) return -1;
  if (out < 0) out = act_new(net, D(net, in, 0), D(net, in, 1), D(net, in, 2), D(net, in, 3));
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

static int L_simple(gc_net *net, int op, int in, int in2, int relu) {
  if (in < 0 || (op == OP_ADD && in2 < 0) || (op == OP_CHSCALE && in2 < 0)) return -1;
  int out = act_new(net, D(net, in, 0), D(net, in, 1), D(net, in, 2), D(net, in, 3));
  int nid = node_new(net, op, in, out);
  if (nid < 0) return -1;
  net->nodes[nid].in2 = in2;
  net->nodes[nid].relu = relu;
  return out;
}

static int L_pool(gc_net *net, int in, int max, int k, int s, int p, int out) {
  if (in < 0) return -1;
  gc_pool pl = {max, k, k, s, s, p, p, 0};
  size_t ho, wo;
  if (gc_pool_out(&pl, D(net, in, 2), D(net, in, 3), &ho, &wo)) {
    net->err = GC_ERR_ARG;
    return -1;
  }
  if (out < 0) out = act_new(net, D(net, in, 0), D(net, in, 1), ho, wo);
  int nid = node_new(net, OP_POOL, in, out);
  if (nid < 0) return -1;
  net->nodes[nid].pool = pl;
  if (max) net->nodes[nid].save_n[0] = D(net, in, 0) * D(net, in, 1) * ho * wo;
  return out;
}

static int L_gap(gc_net *net, int in) {
  if (in < 0) return -1;
  int out = act_new(net, D(net, in, 0), D(net, in, 1), 1, 1);
  return node_new(net, OP_GAP, in, out) < 0 ? -1 : out;
}

static int L_linear(gc_net *net, const char *name, int in, int outf, int bias) {
  if (in < 0) return -1;
  size_t inf = D(net, in, 1) * D(net, in, 2) * D(net, in, 3);
  int out = act_new(net, D(net, in, 0), (size_t)outf, 1, 1);
  int nid = node_new(net, OP_LINEAR, in, out);
  if (nid < 0) return -1;
  size_t wd[2] = {(size_t)outf, inf};
  net->nodes[nid].p0 = param_new(net, name, "weight", GC_P_LIN_W, 2, wd, inf);
  if (bias) net->nodes[nid].p1 = param_new(net, name, "bias", GC_P_LIN_B, 1, wd, inf);
  net->flops += 2.0 * (double)outf * (double)inf;
  return out;
}

/* ---- the architectures ---- */

typedef enum { B_BASIC, B_BOTTLENECK, B_PREACT, B_PREACT_BOTTLENECK } block_kind;

/* squeeze-excitation on x (N, C, H, W): gap -> fc C/16 -> relu -> fc C -> sigmoid -> scale */
static int se(gc_net *net, const char *prefix, int x) {
  char nm[96];
  int c = (int)D(net, x, 1);
  int z = L_gap(net, x);
  snprintf(nm, sizeof nm, "%s.se.fc.0", prefix);
  z = L_linear(net, nm, z, c / 16 > 0 ? c / 16 : 1, 0);
  z = L_simple(net, OP_RELU, z, -1, 0);
  snprintf(nm, sizeof nm, "%s.se.fc.2", prefix);
  z = L_linear(net, nm, z, c, 0);
  z = L_simple(net, OP_SIGMOID, z, -1, 0);
  return L_simple(net, OP_CHSCALE, x, z, 0);
}

static int block(gc_net *net, const char *pre, int x, block_kind kind, int planes, int stride, int use_se,
                 const char *sc_name) {
  char a[96], b[96];
  int exp = (kind == B_BOTTLENECK || kind == B_PREACT_BOTTLENECK) ? 4 : 1;
  int cin = (int)D(net, x, 1), cout = planes * exp;
  int need_sc = stride != 1 || cin != cout;
#define NM(buf, s) (snprintf((buf), sizeof(buf), "%s.%s", pre, (s)), (buf))
  if (kind == B_BASIC || kind == B_BOTTLENECK) {
    int o;
    if (kind == B_BASIC) {
      o = L_conv(net, NM(a, "conv1"), x, planes, 3, stride, 1, 0, -1);
      o = L_bn(net, NM(a, "bn1"), o, 1, -1);
      o = L_conv(net, NM(a, "conv2"), o, planes, 3, 1, 1, 0, -1);
      o = L_bn(net, NM(a, "bn2"), o, 0, -1);
    } else {
      o = L_conv(net, NM(a, "conv1"), x, planes, 1, 1, 0, 0, -1);
      o = L_bn(net, NM(a, "bn1"), o, 1, -1);
      o = L_conv(net, NM(a, "conv2"), o, planes, 3, stride, 1, 0, -1);
      o = L_bn(net, NM(a, "bn2"), o, 1, -1);
      o = L_conv(net, NM(a, "conv3"), o, cout, 1, 1, 0, 0, -1);
      o = L_bn(net, NM(a, "bn3"), o, 0, -1);
    }
    if (use_se) o = se(net, pre, o);
    int s = x;
    if (need_sc) {
      snprintf(b, sizeof b, "%s.%s.0", pre, sc_name);
      s = L_conv(net, b, x, cout, 1, stride, 0, 0, -1);
      snprintf(b, sizeof b, "%s.%s.1", pre, sc_name);
      s = L_bn(net, b, s, 0, -1);
    }
    return L_simple(net, OP_ADD, o, s, 1);
  }
  /* pre-activation: out = relu(bn1(x)); shortcut = conv(out) or x; ...; out + shortcut (no ReLU) */
  int o = L_bn(net, NM(a, "bn1"), x, 1, -1);
  int s = x;
  if (need_sc) {
    snprintf(b, sizeof b, "%s.%s.0", pre, sc_name);
    s = L_conv(net, b, o, cout, 1, stride, 0, 0, -1);
  }
  if (kind == B_PREACT) {
    o = L_conv(net, NM(a, "conv1"), o, planes, 3, stride, 1, 0, -1);
    o = L_bn(net, NM(a, "bn2"), o, 1, -1);
    o = L_conv(net, NM(a, "conv2"), o, planes, 3, 1, 1, 0, -1);
  } else {
    o = L_conv(net, NM(a, "conv1"), o, planes, 1, 1, 0, 0, -1);
    o = L_bn(net, NM(a, "bn2"), o, 1, -1);
    o = L_conv(net, NM(a, "conv2"), o, planes, 3, stride, 1, 0, -1);
    o = L_bn(net, NM(a, "bn3"), o, 1, -1);
    o = L_conv(net, NM(a, "conv3"), o, cout, 1, 1, 0, 0, -1);
  }
  if (use_se) o = se(net, pre, o);
  return L_simple(net, OP_ADD, o, s, 0);
#undef NM
}

static int build_resnet(gc_net *net, block_kind kind, const int *nblocks, int use_se, int width) {
  const gc_net_spec *sp = &net->spec;
  int preact = kind == B_PREACT || kind == B_PREACT_BOTTLENECK;
  int x = net->input, o;
  if (sp->imagenet) {
    o = L_conv(net, "conv1", x, width, 7, 2, 3, 0, -1);
    o = L_bn(net, "bn1", o, 1, -1);
    o = L_pool(net, o, 1, 3, 2, 1, -1);
  } else {
    o = L_conv(net, "conv1", x, width, 3, 1, 1, 0, -1);
    if (!preact) o = L_bn(net, "bn1", o, 1, -1);
  }
  const int planes[4] = {width, 2 * width, 4 * width, 8 * width};
  for (int l = 0; l < 4; l++)
    for (int b = 0; b < nblocks[l]; b++) {
      char pre[32];
      snprintf(pre, sizeof pre, "layer%d.%d", l + 1, b);
      o = block(net, pre, o, kind, planes[l], b == 0 && l > 0 ? 2 : 1, use_se, sp->imagenet ? "downsample" : "shortcut");
    }
  o = L_gap(net, o);
  return L_linear(net, sp->imagenet ? "fc" : "linear", o, sp->classes, 1);
}

/* DenseNet (kuangliu): dense layers write their growth channels in front of their input inside one
 * concatenation buffer per block, so the block is [out_L, ..., out_1, x] with no copies. */
static int build_densenet(gc_net *net, int growth, const int *nblocks) {
  const gc_net_spec *sp = &net->spec;
  size_t N = net->batch, H = (size_t)sp->in_h, W = (size_t)sp->in_w;
  int planes = 2 * growth, x = -1;
  for (int b = 0; b < 4; b++) {
    int total = planes + nblocks[b] * growth;
    int st = st_new(net, N, (size_t)total, H, W);
    int xin = act_view(net, st, (size_t)(total - planes), (size_t)planes);
    if (b == 0) {
      L_conv(net, "conv1", net->input, planes, 3, 1, 1, 0, xin);
    } else {
      /* the previous transition's average pool writes straight into this block's tail */
      char nm[32];
      snprintf(nm, sizeof nm, "trans%d", b);
      char bn[48], cv[48];
      snprintf(bn, sizeof bn, "%s.bn", nm);
      snprintf(cv, sizeof cv, "%s.conv", nm);
      int t = L_bn(net, bn, x, 1, -1);
      t = L_conv(net, cv, t, planes, 1, 1, 0, 0, -1);
      L_pool(net, t, 0, 2, 2, 0, xin);
    }
    int cur = planes;
    for (int i = 0; i < nblocks[b]; i++) {
      char pre[48], nm[64];
      snprintf(pre, sizeof pre, "dense%d.%d", b + 1, i);
      int in = act_view(net, st, (size_t)(total - cur), (size_t)cur);
      int outv = act_view(net, st, (size_t)(total - cur - growth), (size_t)growth);
      snprintf(nm, sizeof nm, "%s.bn1", pre);
      int o = L_bn(net, nm, in, 1, -1);
      snprintf(nm, sizeof nm, "%s.conv1", pre);
      o = L_conv(net, nm, o, 4 * growth, 1, 1, 0, 0, -1);
      snprintf(nm, sizeof nm, "%s.bn2", pre);
      o = L_bn(net, nm, o, 1, -1);
      snprintf(nm, sizeof nm, "%s.conv2", pre);
      L_conv(net, nm, o, growth, 3, 1, 1, 0, outv);
      cur += growth;
    }
    x = act_view(net, st, 0, (size_t)total);
    if (b < 3) {
      planes = (int)floor(total * 0.5);
      H /= 2;
      W /= 2;
      if (H < 1 || W < 1) {
        net->err = gc_error_set(GC_ERR_ARG, __FILE__, __LINE__, "densenet: input %dx%d too small for three transitions",
                                sp->in_h, sp->in_w);
        return -1;
      }
    }
  }
  int o = L_bn(net, "bn", x, 1, -1);
  o = L_gap(net, o);
  return L_linear(net, "linear", o, sp->classes, 1);
}

static const char *const k_names[] = {"resnet18",        "resnet34",        "resnet50",    "preact_resnet18",
                                      "preact_resnet34", "preact_resnet50", "se_resnet18", "se_resnet34",
                                      "se_resnet50",     "densenet_cifar",  "densenet121", "densenet169",
                                      "resnet10_w16",    NULL};

const char *const *gc_net_names(void) { return k_names; }

int gc_net_spec_init(gc_net_spec *s, const char *name, int imagenet) {
  memset(s, 0, sizeof *s);
  int known = 0;
  for (int i = 0; k_names[i]; i++) known |= !strcmp(name, k_names[i]);
  if (!known) {
    char list[512] = "";
    for (int i = 0; k_names[i]; i++) {
      strncat(list, " ", sizeof list - strlen(list) - 1);
      strncat(list, k_names[i], sizeof list - strlen(list) - 1);
    }
    GC_FAIL(GC_ERR_ARG, "unknown network '%s'; known:%s", name, list);
  }
  if (imagenet && (strncmp(name, "densenet", 8) == 0 || strncmp(name, "preact", 6) == 0))
    GC_FAIL(GC_ERR_ARG, "network '%s' has no ImageNet form in gafcl (ResNet and SE-ResNet have)", name);
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
  net->input = act_new(net, batch, (size_t)spec->in_ch, (size_t)spec->in_h, (size_t)spec->in_w);
  const char *n = spec->name;
  static const int r10[4] = {1, 1, 1, 1}, r18[4] = {2, 2, 2, 2}, r34[4] = {3, 4, 6, 3};
  int se_ = strncmp(n, "se_", 3) == 0, pre = strncmp(n, "preact_", 7) == 0;
  const char *base = se_ ? n + 3 : pre ? n + 7 : n;
  if (!strcmp(base, "resnet18"))
    net->logits = build_resnet(net, pre ? B_PREACT : B_BASIC, r18, se_, 64);
  else if (!strcmp(base, "resnet34"))
    net->logits = build_resnet(net, pre ? B_PREACT : B_BASIC, r34, se_, 64);
  else if (!strcmp(base, "resnet50"))
    net->logits = build_resnet(net, pre ? B_PREACT_BOTTLENECK : B_BOTTLENECK, r34, se_, 64);
  else if (!strcmp(base, "resnet10_w16")) /* not from the paper: a small ResNet for quick runs on CPUs */
    net->logits = build_resnet(net, B_BASIC, r10, 0, 16);
  else if (!strcmp(n, "densenet_cifar"))
    net->logits = build_densenet(net, 12, (const int[]){6, 12, 24, 16});
  else if (!strcmp(n, "densenet121"))
    net->logits = build_densenet(net, 32, (const int[]){6, 12, 24, 16});
  else
    net->logits = build_densenet(net, 32, (const int[]){6, 12, 32, 32});
  if (net->logits < 0 || net->err) {
    st = net->err ? net->err : GC_ERR_ARG;
    if (!gc_last_error()[0]) gc_error_set(st, __FILE__, __LINE__, "network %s: could not be built", n);
    gc_error_prefix(st, "network %s (input %dx%dx%d): ", n, spec->in_ch, spec->in_h, spec->in_w);
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

static size_t prod(const size_t *d, int n) {
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
    if (n->op == OP_BN) {
      size_t c = (size_t)n->bnd.c;
      GC_TRY(gc_arena_reserve(&net->ba, &net->bufs[n->b0].t, 1, &c));
      GC_TRY(gc_arena_reserve(&net->ba, &net->bufs[n->b0 + 1].t, 1, &c));
    }
    for (int k = 0; k < 2; k++)
      if (n->save_n[k]) GC_TRY(gc_arena_reserve(&net->aa[0], &n->save[k], 1, &n->save_n[k]));
  }
  size_t ws = net->ws_size ? net->ws_size : 1, nb = net->batch, nx = 3 * net->batch;
  GC_TRY(gc_arena_reserve(&net->aa[0], &net->ws, 1, &ws));
  GC_TRY(gc_arena_reserve(&net->aa[0], &net->labels, 1, &nb));
  GC_TRY(gc_arena_reserve(&net->aa[0], &net->xent_ws, 1, &nx));
  /* storages in order, a new pair of arenas when the next one would take the current past max_buffer
   * (the alignment padding is under one storage's worth: counted as 64 KiB) */
  size_t cap = ctx->max_buffer ? ctx->max_buffer : SIZE_MAX;
  for (int i = 0; i < net->nst; i++) {
    size_t bytes = prod(net->st[i].dims, 4) * sizeof(float) + 65536;
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
  for (int i = 0; i < net->nparams; i++) n += prod(net->params[i].dims, net->params[i].ndim);
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
const gc_tensor *gc_net_labels(const gc_net *net) { return &net->labels; }
const gc_tensor *gc_net_logits(const gc_net *net) { return &net->acts[net->logits].t; }
const gc_tensor *gc_net_dlogits(const gc_net *net) { return &net->acts[net->logits].g; }
size_t gc_net_batch(const gc_net *net) { return net->batch; }
const char *gc_net_spec_name(const gc_net *net) { return net->spec.name; }

void gc_net_segments(const gc_net *net, float wd, int no_wd_bn_bias, gc_optim_segment *segs) {
  for (int i = 0; i < net->nparams; i++) {
    const gc_param *p = &net->params[i];
    int exempt = p->kind == GC_P_BN_W || p->kind == GC_P_BN_B || p->kind == GC_P_CONV_B || p->kind == GC_P_LIN_B;
    segs[i] = (gc_optim_segment){p->w.offset, prod(p->dims, p->ndim), no_wd_bn_bias && exempt ? 0.0f : wd};
  }
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
    size_t n = prod(p->dims, p->ndim);
    if (n > cap) {
      free(h);
      h = malloc(n * sizeof *h);
      cap = n;
      if (!h) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "initialising %s", p->name);
    }
    if (p->kind == GC_P_BN_W || p->kind == GC_P_BN_B) {
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

/* ---- forward / backward ---- */

#define T(a) (&net->acts[(a)].t)
#define G(a) (&net->acts[(a)].g)
#define PW(p) (&net->params[(p)].w)
#define PG(p) (&net->params[(p)].g)

/* ---- per-layer profile ---- */

static int prof_add(gc_ctx *ctx, double *acc) {
  double s = 0;
  int st = gc_timing_end(ctx, &s);
  *acc += s;
  return st;
}

int gc_net_profile(gc_net *net, int on) {
  free(net->prof);
  net->prof = NULL;
  if (!on) return GC_OK;
  net->prof = calloc((size_t)(2 * (net->nnodes ? net->nnodes : 1)), sizeof *net->prof);
  return net->prof ? GC_OK : gc_error_set(GC_ERR_HOST_MEM, __FILE__, __LINE__, "layer profile of %d layers", net->nnodes);
}

int gc_net_nlayers(const gc_net *net) { return net->nnodes; }

static const char *const op_names[] = {"conv", "batchnorm", "relu", "add", "pool", "gap", "linear", "sigmoid", "scale"};

/* The group of a parameter name: its first component when that is a stage (layer1, dense2, trans3), "fc"
 * for the classifier, else 0 (stem or head, by position). */
static int param_group(const gc_param *p, char out[32]) {
  if (p->kind == GC_P_LIN_W || p->kind == GC_P_LIN_B) {
    snprintf(out, 32, "fc");
    return 1;
  }
  size_t k = strcspn(p->name, ".");
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

void gc_net_layer_profile(const gc_net *net, int i, gc_layer_profile *lp) {
  memset(lp, 0, sizeof *lp);
  const node *n = &net->nodes[i];
  lp->op = op_names[n->op];
  snprintf(lp->param, sizeof lp->param, "%s", n->p0 >= 0 ? net->params[n->p0].name : "");
  /* the group: the node's own parameter's, else the nearest earlier node's with one */
  snprintf(lp->group, sizeof lp->group, "stem");
  for (int j = i; j >= 0; j--) {
    const node *m = &net->nodes[j];
    if (m->p0 < 0) continue;
    if (!param_group(&net->params[m->p0], lp->group)) snprintf(lp->group, sizeof lp->group, "stem");
    break;
  }
  if (!strcmp(lp->group, "stem")) { /* parameterless or unnamed stage: stem before the first stage, head after */
    for (int j = 0; j < i; j++) {
      char g[32];
      if (net->nodes[j].p0 >= 0 && param_group(&net->params[net->nodes[j].p0], g)) {
        snprintf(lp->group, sizeof lp->group, "head");
        break;
      }
    }
  }
  if (net->prof) {
    lp->forward_s = net->prof[2 * i];
    lp->backward_s = net->prof[2 * i + 1];
  }
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

/* ---- where non-finite values begin (diagnosis after a skipped step) ---- */

/* Whether the values (or gradients) of activation a hold a NaN or Inf, from a read-back of its storage. */
static int act_nonfinite(gc_ctx *ctx, gc_net *net, int a, int grad, int *bad) {
  const act *ac = &net->acts[a];
  const storage *s = &net->st[ac->st];
  size_t n = prod(s->dims, 4), hw = s->dims[2] * s->dims[3], img = s->dims[1] * hw;
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
  GC_TRY(act_nonfinite(ctx, net, net->logits, 1, &bad));
  if (bad) {
    o->where = GC_NONFINITE_LOSS;
    return GC_OK;
  }
  for (int i = net->nnodes - 1; i >= 0; i--) {
    const node *n = &net->nodes[i];
    for (int k = 0; k < 2 && !bad; k++) {
      int a = k ? n->in2 : n->in;
      if (a < 0 || a == net->input || (k && n->op != OP_ADD && n->op != OP_CHSCALE)) continue;
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

int gc_net_forward(gc_ctx *ctx, gc_net *net, int training) {
  int st = 0;
  for (int i = 0; i < net->nnodes; i++) {
    node *n = &net->nodes[i];
    if (net->prof) gc_timing_begin(ctx);
    switch (n->op) {
    case OP_CONV:
      st = gc_conv_forward(ctx, &n->conv, T(n->in), PW(n->p0), n->p1 >= 0 ? PW(n->p1) : NULL, T(n->out), &net->ws);
      break;
    case OP_BN:
      st = gc_bn_forward(ctx, &n->bnd, training, T(n->in), T(n->out), PW(n->p0), PW(n->p1), &net->bufs[n->b0].t,
                         &net->bufs[n->b0 + 1].t, &n->save[0], &n->save[1]);
      if (!st && training) net->bn_count[n->bn]++;
      break;
    case OP_RELU:
      st = gc_relu_forward(ctx, T(n->in), T(n->out));
      break;
    case OP_ADD:
      st = gc_add_forward(ctx, T(n->in), T(n->in2), T(n->out), n->relu);
      break;
    case OP_POOL:
      st = gc_pool_forward(ctx, &n->pool, T(n->in), T(n->out), n->pool.max ? &n->save[0] : NULL);
      break;
    case OP_GAP:
      st = gc_gap_forward(ctx, T(n->in), T(n->out));
      break;
    case OP_LINEAR:
      st = gc_linear_forward(ctx, T(n->in), PW(n->p0), n->p1 >= 0 ? PW(n->p1) : NULL, T(n->out));
      break;
    case OP_SIGMOID:
      st = gc_sigmoid_forward(ctx, T(n->in), T(n->out));
      break;
    case OP_CHSCALE:
      st = gc_chscale_forward(ctx, T(n->in), T(n->in2), T(n->out));
      break;
    }
    if (net->prof) { /* close the interval also after a failure, so later launches are not kept timed */
      int pst = prof_add(ctx, &net->prof[2 * i]);
      if (!st) st = pst;
    }
    if (st) {
      const char *pname = n->p0 >= 0 ? net->params[n->p0].name : "";
      return gc_error_prefix(st, "%s forward, layer %d%s%s: ", net->spec.name, i, *pname ? " " : "", pname);
    }
  }
  return GC_OK;
}

int gc_net_loss(gc_ctx *ctx, gc_net *net, int grad, gc_xent_result *res) {
  return gc_net_loss_valid(ctx, net, grad, net->batch, res);
}

int gc_net_loss_valid(gc_ctx *ctx, gc_net *net, int grad, size_t valid, gc_xent_result *res) {
  gc_tensor lg = *T(net->logits), dl = *G(net->logits);
  size_t d2[2] = {net->batch, (size_t)net->spec.classes};
  int st = gc_tensor_reshape(&lg, 2, d2, &lg);
  if (!st) st = gc_tensor_reshape(&dl, 2, d2, &dl);
  if (!st) st = gc_xent_valid(ctx, &lg, &net->labels, grad ? &dl : NULL, &net->xent_ws, valid, res);
  return st;
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

int gc_net_backward(gc_ctx *ctx, gc_net *net) {
  int st = 0;
  memset(net->written, 0, (size_t)net->nst);
  net->written[net->acts[net->logits].st] = 1;
  for (int i = net->nnodes - 1; i >= 0; i--) {
    node *n = &net->nodes[i];
    int acc = 0, acc2 = 0, need_dx = n->in != net->input;
    if (net->prof) gc_timing_begin(ctx);
    if (need_dx && (st = grad_target(ctx, net, n->in, &acc)) != 0) break;
    switch (n->op) {
    case OP_CONV:
      st = gc_conv_backward(ctx, &n->conv, T(n->in), PW(n->p0), G(n->out), need_dx ? G(n->in) : NULL, acc, PG(n->p0),
                            n->p1 >= 0 ? PG(n->p1) : NULL, &net->ws);
      break;
    case OP_BN:
      st = gc_bn_backward(ctx, &n->bnd, 1, T(n->in), T(n->out), G(n->out), G(n->in), acc, PW(n->p0), PG(n->p0),
                          PG(n->p1), &n->save[0], &n->save[1], &net->ws);
      break;
    case OP_RELU:
      st = gc_relu_backward(ctx, T(n->out), G(n->out), G(n->in), acc);
      break;
    case OP_ADD:
      for (int k = 0; k < 2 && !st; k++) {
        int a = k ? n->in2 : n->in, ak = acc;
        if (k && (st = grad_target(ctx, net, a, &ak)) != 0) break;
        if (n->relu)
          st = gc_relu_backward(ctx, T(n->out), G(n->out), G(a), ak);
        else
          st = ak ? gc_axpy(ctx, 1.0f, G(n->out), G(a)) : gc_copy(ctx, G(n->out), G(a));
      }
      break;
    case OP_POOL:
      st = gc_pool_backward(ctx, &n->pool, G(n->out), n->pool.max ? &n->save[0] : NULL, G(n->in), acc);
      break;
    case OP_GAP:
      st = gc_gap_backward(ctx, G(n->out), G(n->in), acc);
      break;
    case OP_LINEAR:
      st = gc_linear_backward(ctx, T(n->in), PW(n->p0), G(n->out), G(n->in), acc, PG(n->p0),
                              n->p1 >= 0 ? PG(n->p1) : NULL);
      break;
    case OP_SIGMOID:
      st = gc_sigmoid_backward(ctx, T(n->out), G(n->out), G(n->in), acc);
      break;
    case OP_CHSCALE:
      if ((st = grad_target(ctx, net, n->in2, &acc2)) != 0) break;
      st = gc_chscale_backward(ctx, T(n->in), T(n->in2), G(n->out), G(n->in), acc, G(n->in2), acc2);
      break;
    }
    if (net->prof) {
      int pst = prof_add(ctx, &net->prof[2 * i + 1]);
      if (!st) st = pst;
    }
    if (st) {
      const char *pname = n->p0 >= 0 ? net->params[n->p0].name : "";
      return gc_error_prefix(st, "%s backward, layer %d%s%s: ", net->spec.name, i, *pname ? " " : "", pname);
    }
  }
  return st;
}

int gc_net_zero_grad(gc_ctx *ctx, gc_net *net) {
  gc_tensor g;
  int st = gc_arena_view(&net->ga, &g);
  return st ? st : gc_fill(ctx, &g, 0.0f);
}

/* ---- the CPU reference executor (double precision) ---- */

struct gc_net_ref {
  gc_net *net;
  double **sv, **sg;     /* per storage: values, gradients */
  double **pw, **pg;     /* per parameter */
  double **rm, **rv;     /* per batch-norm node: running statistics (read from the device) */
  double **mean, **istd; /* per node: saved statistics */
  long **arg;            /* per node: max-pool argmax */
};

static size_t st_numel(const gc_net *net, int s) { return prod(net->st[s].dims, 4); }

/* a dense copy of activation a (a channel range of its storage) */
static double *ref_get(gc_net_ref *r, int a, int grad) {
  const act *ac = &r->net->acts[a];
  const storage *s = &r->net->st[ac->st];
  size_t N = ac->dims[0], C = ac->dims[1], P = ac->dims[2] * ac->dims[3], Cs = s->dims[1];
  double *d = malloc(N * C * P * sizeof *d), *src = grad ? r->sg[ac->st] : r->sv[ac->st];
  for (size_t n = 0; n < N; n++) memcpy(d + n * C * P, src + (n * Cs + ac->c0) * P, C * P * sizeof *d);
  return d;
}

static void ref_put(gc_net_ref *r, int a, int grad, const double *d, int add) {
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

static double *read_d(gc_ctx *ctx, const gc_tensor *t) {
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
    r->pw[i] = read_d(ctx, &net->params[i].w);
    r->pg[i] = calloc(prod(net->params[i].dims, net->params[i].ndim), sizeof(double));
  }
  for (int i = 0; i < net->nnodes; i++) {
    node *n = &net->nodes[i];
    if (n->op == OP_BN) {
      r->rm[i] = read_d(ctx, &net->bufs[n->b0].t);
      r->rv[i] = read_d(ctx, &net->bufs[n->b0 + 1].t);
      r->mean[i] = calloc((size_t)n->bnd.c, sizeof(double));
      r->istd[i] = calloc((size_t)n->bnd.c, sizeof(double));
    }
    if (n->op == OP_POOL && n->pool.max) r->arg[i] = calloc(prod(net->acts[n->out].dims, 4), sizeof(long));
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

void gc_net_ref_forward(gc_net_ref *r, const double *x, int training, double *logits) {
  gc_net *net = r->net;
  ref_put(r, net->input, 0, x, 0);
  for (int i = 0; i < net->nnodes; i++) {
    node *n = &net->nodes[i];
    const size_t *di = net->acts[n->in].dims, *dout = net->acts[n->out].dims;
    size_t N = di[0], C = di[1], P = di[2] * di[3], nout = prod(dout, 4);
    double *xin = ref_get(r, n->in, 0), *y = calloc(nout, sizeof *y);
    switch (n->op) {
    case OP_CONV:
      gc_ref_conv_fwd(&n->conv, N, di[2], di[3], xin, r->pw[n->p0], n->p1 >= 0 ? r->pw[n->p1] : NULL, y);
      break;
    case OP_BN: {
      size_t c = (size_t)n->bnd.c;
      double *rm = malloc(c * sizeof *rm), *rv = malloc(c * sizeof *rv);
      memcpy(rm, r->rm[i], c * sizeof *rm);
      memcpy(rv, r->rv[i], c * sizeof *rv);
      gc_ref_bn_fwd(&n->bnd, training, N, P, xin, r->pw[n->p0], r->pw[n->p1], rm, rv, r->mean[i], r->istd[i], y);
      free(rm), free(rv);
      break;
    }
    case OP_RELU:
      gc_ref_relu_fwd(nout, xin, y);
      break;
    case OP_ADD: {
      double *b = ref_get(r, n->in2, 0);
      for (size_t k = 0; k < nout; k++) y[k] = n->relu && xin[k] + b[k] < 0 ? 0.0 : xin[k] + b[k];
      free(b);
      break;
    }
    case OP_POOL:
      gc_ref_pool_fwd(&n->pool, N, C, di[2], di[3], xin, y, r->arg[i]);
      break;
    case OP_GAP:
      gc_ref_gap_fwd(N, C, P, xin, y);
      break;
    case OP_LINEAR:
      gc_ref_linear_fwd(N, C * P, dout[1], xin, r->pw[n->p0], n->p1 >= 0 ? r->pw[n->p1] : NULL, y);
      break;
    case OP_SIGMOID:
      gc_ref_sigmoid_fwd(nout, xin, y);
      break;
    case OP_CHSCALE: {
      double *s = ref_get(r, n->in2, 0);
      gc_ref_chscale_fwd(N, C, P, xin, s, y);
      free(s);
      break;
    }
    }
    ref_put(r, n->out, 0, y, 0);
    free(xin), free(y);
  }
  double *l = ref_get(r, net->logits, 0);
  memcpy(logits, l, net->batch * (size_t)net->spec.classes * sizeof *l);
  free(l);
}

void gc_net_ref_backward(gc_net_ref *r, const double *dlogits, double *dx) {
  gc_net *net = r->net;
  for (int s = 0; s < net->nst; s++) memset(r->sg[s], 0, st_numel(net, s) * sizeof(double));
  for (int i = 0; i < net->nparams; i++) memset(r->pg[i], 0, prod(net->params[i].dims, net->params[i].ndim) * sizeof(double));
  ref_put(r, net->logits, 1, dlogits, 0);
  for (int i = net->nnodes - 1; i >= 0; i--) {
    node *n = &net->nodes[i];
    const size_t *di = net->acts[n->in].dims, *dout = net->acts[n->out].dims;
    size_t N = di[0], C = di[1], P = di[2] * di[3], nin = prod(di, 4), nout = prod(dout, 4);
    double *xin = ref_get(r, n->in, 0), *y = ref_get(r, n->out, 0), *dy = ref_get(r, n->out, 1);
    double *g = calloc(nin, sizeof *g);
    switch (n->op) {
    case OP_CONV:
      gc_ref_conv_bwd(&n->conv, N, di[2], di[3], xin, r->pw[n->p0], dy, g, r->pg[n->p0], n->p1 >= 0 ? r->pg[n->p1] : NULL);
      break;
    case OP_BN:
      gc_ref_bn_bwd(&n->bnd, 1, N, P, xin, y, dy, r->pw[n->p0], r->mean[i], r->istd[i], g, r->pg[n->p0], r->pg[n->p1]);
      break;
    case OP_RELU:
      gc_ref_relu_bwd(nout, y, dy, g);
      break;
    case OP_ADD:
      for (size_t k = 0; k < nout; k++) g[k] = n->relu && !(y[k] > 0) ? 0.0 : dy[k];
      ref_put(r, n->in2, 1, g, 1);
      break;
    case OP_POOL:
      gc_ref_pool_bwd(&n->pool, N, C, di[2], di[3], dy, r->arg[i], g);
      break;
    case OP_GAP:
      gc_ref_gap_bwd(N, C, P, dy, g);
      break;
    case OP_LINEAR:
      gc_ref_linear_bwd(N, C * P, dout[1], xin, r->pw[n->p0], dy, g, r->pg[n->p0], n->p1 >= 0 ? r->pg[n->p1] : NULL);
      break;
    case OP_SIGMOID:
      gc_ref_sigmoid_bwd(nout, y, dy, g);
      break;
    case OP_CHSCALE: {
      double *s = ref_get(r, n->in2, 0), *ds = calloc(N * C, sizeof *ds);
      gc_ref_chscale_bwd(N, C, P, xin, s, dy, g, ds);
      ref_put(r, n->in2, 1, ds, 1);
      free(s), free(ds);
      break;
    }
    }
    ref_put(r, n->in, 1, g, 1);
    free(xin), free(y), free(dy), free(g);
  }
  double *d = ref_get(r, net->input, 1);
  if (dx) memcpy(dx, d, prod(net->acts[net->input].dims, 4) * sizeof *d);
  free(d);
}
