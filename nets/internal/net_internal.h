/* The inside of a network graph (internal to libgafcl_nets): storages, activations, nodes, the op
 * table, the graph builders the architecture files use, and the architecture table's rows.
 *
 * Adding an op kind: add it to GC_NET_OPS below and define its row (GC_OP_ROW_<name>) in ops.c; a
 * kind without a row does not compile. Adding a network: a builder in a family file (arch_*.c) and a
 * row in archs.c. */
#ifndef GC_NET_INTERNAL_H
#define GC_NET_INTERNAL_H

#include "gc_net.h"

#define GC_NET_MAX_ARENAS 256

/* Every op kind: enum suffix, row macro suffix. */
#define GC_NET_OPS(X)                                                                                    \
  X(CONV, conv)                                                                                          \
  X(BN, bn)                                                                                              \
  X(RELU, relu)                                                                                          \
  X(ADD, add)                                                                                            \
  X(POOL, pool)                                                                                          \
  X(GAP, gap)                                                                                            \
  X(LINEAR, linear)                                                                                      \
  X(SIGMOID, sigmoid)                                                                                    \
  X(CHSCALE, chscale)                                                                                    \
  X(L2NORM, l2norm)                                                                                      \
  X(NHWC, nhwc)

enum {
#define GC_OP_ENUM(E, f) OP_##E,
  GC_NET_OPS(GC_OP_ENUM)
#undef GC_OP_ENUM
      OP_COUNT
};

/* One tensor of the graph's memory (and its gradient), NCHW. */
typedef struct storage {
  size_t dims[4];
  gc_tensor t, g;
} storage;

/* An activation: channels [c0, c0 + dims[1]) of a storage (DenseNet's concatenation buffers hold many). */
typedef struct act {
  int st;
  size_t c0;
  size_t dims[4];
  gc_tensor t, g; /* views into the storage (set at allocation) */
} act;

typedef struct node {
  int op;
  int in, in2, out;    /* activations (in2: the second input of add and channel scale, else -1) */
  int p0, p1;          /* parameters (conv w/b, bn gamma/beta, linear w/b); -1 none */
  int b0;              /* buffers: running mean (b0), running var (b0 + 1) */
  int bn;              /* batch-norm index (num_batches_tracked) */
  gc_conv conv;
  gc_bn bnd;
  gc_pool pool;
  int relu;
  float eps;           /* l2norm */
  size_t save_n[2];
  gc_tensor save[2];   /* bn: mean, invstd; max pool: argmax; l2norm: the norms */
} node;

struct gc_net {
  gc_net_spec spec;
  size_t batch;           /* planned: the most images a pass takes */
  size_t active;          /* gc_net_set_batch's smaller batch, 0: the planned one */
  storage *st;
  act *acts;
  node *nodes;
  gc_param *params;
  gc_buffer *bufs;
  char (*bn_names)[96];
  int64_t *bn_count;
  int nst, nacts, nnodes, nparams, nbufs, nbn;
  int cap_st, cap_acts, cap_nodes, cap_params, cap_bufs, cap_bn;
  int input, output;
  double flops;
  size_t ws_size;
  gc_arena pa, ga, ba;    /* parameters, gradients, buffers */
  gc_arena bb;            /* a snapshot of the buffers (gc_net_buffers_save), allocated on first use */
  int64_t *bn_saved;      /* the batch-norm counters of that snapshot */
  gc_arena aa[GC_NET_MAX_ARENAS], da[GC_NET_MAX_ARENAS]; /* activations, their gradients: split so that no
                          buffer exceeds the context's max_buffer; storage s lives in aa[k] and da[k] */
  int na;
  int split_overflow;     /* more than GC_NET_MAX_ARENAS would be needed: the last one holds the rest */
  gc_tensor ws;
  int allocated;
  unsigned char *written; /* per storage, during backward */
  int err;                /* a planning error was recorded */
  double *prof;           /* per node: forward seconds [2i], backward seconds [2i+1]; NULL: not profiling */
  const gc_ctx *ctx;      /* during planning: workspace sizes depend on the device's settings */
  int is_ssd;             /* a detection net: ssd holds its prior layout */
  int bn_frozen;          /* training passes normalise with the running statistics (gc_net_set_bn_frozen) */
  const gc_bn_sync *bn_sync; /* training statistics over several processes (gc_net_set_bn_sync), NULL: local */
  gc_ssd_layout ssd;
};

/* The CPU reference executor's state (double precision). */
struct gc_net_ref {
  gc_net *net;
  double **sv, **sg;     /* per storage: values, gradients */
  double **pw, **pg;     /* per parameter */
  double **rm, **rv;     /* per batch-norm node: running statistics (read from the device) */
  double **mean, **istd; /* per node: saved statistics */
  long **arg;            /* per node: max-pool argmax */
};

/* ---- the op table (ops.c) ----
 * forward / backward run node n on the device; backward gets whether to add into the gradient of its
 * input (acc) and, for ops whose second input takes a gradient (in2_grad), of that one (acc2).
 * reserve (may be NULL) plans the op's own tensors (batch-norm running statistics) in the net's arenas.
 * ref_init (may be NULL) sets up the op's reference state; ref_forward / ref_backward are the double
 * precision reference on dense copies of the node's input (x), output (y) and their gradients. */
typedef struct gc_op_row {
  const char *name; /* conv batchnorm relu add pool gap linear sigmoid scale */
  int in2_grad;     /* the second input takes a gradient too (diagnosis and backward) */
  int (*reserve)(gc_net *net, node *n);
  int (*forward)(gc_ctx *ctx, gc_net *net, node *n, int training);
  int (*backward)(gc_ctx *ctx, gc_net *net, node *n, int acc, int acc2);
  int (*ref_init)(gc_ctx *ctx, gc_net_ref *r, int i);
  void (*ref_forward)(gc_net_ref *r, int i, int training, const double *x, double *y);
  void (*ref_backward)(gc_net_ref *r, int i, const double *x, const double *y, const double *dy, double *dx);
} gc_op_row;
extern const gc_op_row gc_net_ops[OP_COUNT];

/* The group of a node for profiles and messages (net.c). */
void gc_net_node_group(const gc_net *net, int i, char group[32]);
/* Dense double copies of an activation (a channel range of its storage), and the way back (net_ref.c). */
double *gc_net_ref_get(gc_net_ref *r, int a, int grad);
void gc_net_ref_put(gc_net_ref *r, int a, int grad, const double *d, int add);
/* A device tensor as doubles (net_ref.c). */
double *gc_net_read_d(gc_ctx *ctx, const gc_tensor *t);

size_t gc_net_prod(const size_t *d, int n);

/* ---- graph building (net.c), for the architecture files ----
 * Each returns the new activation (or node) index, or -1 after recording an error in net->err; a -1
 * input makes them return -1, so a builder can chain calls and check once at the end. */
size_t gc_net_dim(const gc_net *net, int a, int i); /* dimension i of activation a */
int gc_net_storage_new(gc_net *net, size_t n, size_t c, size_t h, size_t w);
int gc_net_view(gc_net *net, int storage, size_t c0, size_t c);
int gc_net_act_new(gc_net *net, size_t n, size_t c, size_t h, size_t w);
/* out = -1 makes a new activation; else the layer writes into the given one (a channel view) */
int gc_net_conv(gc_net *net, const char *name, int in, int cout, int k, int s, int p, int bias, int out);
/* ... with dilation d (SSD's conv6) */
int gc_net_conv_dil(gc_net *net, const char *name, int in, int cout, int k, int s, int p, int d, int bias, int out);
/* ... in `groups` groups (DPN, RegNetX: weights cout x cin/groups x k x k) */
int gc_net_conv_grouped(gc_net *net, const char *name, int in, int cout, int k, int s, int p, int groups, int bias);
int gc_net_conv_any(gc_net *net, const char *name, int in, int cout, int k, int s, int p, int d, int groups, int bias,
                    int out);
int gc_net_bn(gc_net *net, const char *name, int in, int relu, int out);
int gc_net_relu(gc_net *net, int in);
int gc_net_sigmoid(gc_net *net, int in);
int gc_net_add(gc_net *net, int a, int b, int relu);
/* ... writing into a given activation of the same shape (a channel view: DPN's dual path) */
int gc_net_relu_into(gc_net *net, int in, int out);
int gc_net_add_into(gc_net *net, int a, int b, int relu, int out);
/* every convolution weight built so far: Kaiming-normal, fan-out (gc_net_init) */
void gc_net_init_kaiming_out(gc_net *net);
/* channels [c0, c0 + c) of activation a, as an activation (a view of the same storage) */
int gc_net_channels(gc_net *net, int a, size_t c0, size_t c);
int gc_net_chscale(gc_net *net, int x, int s);
int gc_net_pool(gc_net *net, int in, int max, int k, int s, int p, int out);
/* ... max pooling with ceil_mode (SSD's pool3) */
int gc_net_pool_ceil(gc_net *net, int in, int k, int s, int p);
/* L2Norm over channels with a learned scale per channel (parameter "<name>.weight", initialised to
 * gamma0) */
int gc_net_l2norm(gc_net *net, const char *name, int in, float gamma0, float eps);
/* Activation `in` (N, C, H, W) as NHWC rows into `out` (a view of N x C*H*W values, e.g. a channel range
 * of the output storage) */
int gc_net_nhwc(gc_net *net, int in, int out);

int gc_net_gap(gc_net *net, int in);
int gc_net_linear(gc_net *net, const char *name, int in, int outf, int bias);
/* Record a planning error (the message) and return -1. */
int gc_net_fail(gc_net *net, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- the architecture table (archs.c) ---- */
typedef struct gc_arch {
  gc_net_arch_info info;
  /* Build the graph from net->input (the spec, batch and input are set) and return the output
   * activation (N, classes), or -1. */
  int (*build)(gc_net *net, const struct gc_arch *a);
  /* family parameters: blocks per stage (or dense layers per block), width or growth, variant flags */
  int blocks[4];
  int width;
  int variant;
} gc_arch;
const gc_arch *gc_arch_find(const char *name);

/* The family builders (arch_resnet.c, arch_densenet.c, arch_ssd.c, arch_googlenet.c, arch_dpn.c, arch_regnet.c). */
enum { GC_RESNET_BASIC, GC_RESNET_BOTTLENECK, GC_RESNET_PREACT, GC_RESNET_PREACT_BOTTLENECK };
#define GC_RESNET_SE 0x10 /* variant flag: squeeze-excitation in every block */
int gc_arch_build_resnet(gc_net *net, const gc_arch *a);
int gc_arch_build_densenet(gc_net *net, const gc_arch *a);
int gc_arch_build_ssd(gc_net *net, const gc_arch *a);
int gc_arch_build_googlenet(gc_net *net, const gc_arch *a);
int gc_arch_build_dpn(gc_net *net, const gc_arch *a);
int gc_arch_build_regnet(gc_net *net, const gc_arch *a);

#endif
