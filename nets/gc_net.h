/* Networks as graphs of layers over flat arenas: ResNet-18/34/50, PreAct-ResNet-18/34/50,
 * SE-ResNet-18/34/50, DenseNet-CIFAR/121/169 (CIFAR forms of the official code, kuangliu/pytorch-cifar
 * names) and the ImageNet forms of ResNet and SE-ResNet (torchvision names), listed in one architecture
 * table (nets/archs.c). Parameter names, shapes and order are PyTorch's state_dict, so weights move
 * between gafcl and PyTorch. The graph knows nothing of a task: it maps an input batch to one output
 * tensor (N, classes) and back; the loss on that output is the task's (gc_task.h).
 *
 * A net owns five arenas: parameters and gradients (the same layout, aligned for the fused optimizer:
 * one segment per tensor), buffers (batch-norm running statistics), activations (every activation, the
 * saved statistics, and one workspace shared by all layers) and the activations' gradients. */
#ifndef GC_NET_H
#define GC_NET_H

#include <stdint.h>

#include "gafcl.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gc_net_spec {
  char name[32];   /* a name of the architecture table (gc_net_arch) */
  int imagenet;    /* the ImageNet form (7x7/2 stem + max pool, torchvision names): ResNet and SE-ResNet */
  int in_ch, in_h, in_w;
  int classes;
} gc_net_spec;

/* The architecture table: one row per network. */
enum { GC_FORM_CIFAR = 1, GC_FORM_IMAGENET = 2, GC_FORM_DETECT = 4 /* SSD: its own input size, 21 classes */ };
typedef struct gc_net_arch_info {
  const char *name;        /* "resnet18" */
  const char *family;      /* "resnet", "densenet" */
  const char *description;
  int forms;               /* GC_FORM_CIFAR | GC_FORM_IMAGENET */
  /* published parameter counts (the official definitions'; 0 where there is none): CIFAR form with
   * 10 and 100 classes, ImageNet form with 1000. test_nets checks every row against them. */
  size_t params_cifar10, params_cifar100, params_imagenet;
  size_t params_voc;       /* detection nets: with 21 classes (20 + background) */
  int det_size;            /* detection nets: the input size */
} gc_net_arch_info;
int gc_net_arch_count(void);
const gc_net_arch_info *gc_net_arch(int i); /* NULL past the end */

/* An SSD's prior boxes as laid out by its configuration (ssd.pytorch's PriorBox): per source k, a
 * fmap[k] x fmap[k] grid; per cell the boxes s, sqrt(s * s'), then for each aspect ratio r (s*sqrt(r),
 * s/sqrt(r)) and the swap; s = min_size / image_size, s' = max_size / image_size; centres
 * (j + 0.5) * step / image_size. gc_detect.h computes them. */
#define GC_SSD_MAX_SOURCES 8
typedef struct gc_ssd_layout {
  int nsources, image_size;
  int fmap[GC_SSD_MAX_SOURCES];
  float step[GC_SSD_MAX_SOURCES], min_size[GC_SSD_MAX_SOURCES], max_size[GC_SSD_MAX_SOURCES];
  int nar[GC_SSD_MAX_SOURCES];
  float ar[GC_SSD_MAX_SOURCES][2];
  size_t npriors;
  int classes;             /* with the background (class 0) */
} gc_ssd_layout;

/* Fill a spec with the form's defaults (CIFAR: 3x32x32, 10 classes; ImageNet: 3x224x224, 1000 classes;
 * detection nets: their input size and 21 classes, Pascal VOC's 20 and the background).
 * GC_ERR_ARG for an unknown name (the message lists the known ones) or a form the network lacks. */
int gc_net_spec_init(gc_net_spec *s, const char *name, int imagenet);

typedef enum gc_param_kind { GC_P_CONV_W, GC_P_CONV_B, GC_P_BN_W, GC_P_BN_B, GC_P_LIN_W, GC_P_LIN_B, GC_P_SCALE } gc_param_kind;
/* How gc_net_init sets a parameter: PyTorch's default for its kind, the constant init_value (L2Norm's
 * scale, 20), or Kaiming-normal with fan-out and ReLU gain, N(0, 2 / fan_out) with fan_out = out channels x
 * kernel taps (the ImageNet form's convolutions, as torchvision's). */
typedef enum gc_param_init { GC_INIT_PYTORCH, GC_INIT_CONST, GC_INIT_KAIMING_OUT } gc_param_init;

typedef struct gc_param {
  char name[96];     /* PyTorch state_dict name: "layer1.0.conv1.weight" */
  gc_param_kind kind;
  int ndim;
  size_t dims[4];
  size_t fan_in;
  gc_param_init init;
  float init_value;  /* GC_INIT_CONST */
  gc_tensor w, g;    /* in the parameter and gradient arenas */
} gc_param;

typedef struct gc_buffer {
  char name[96];     /* "bn1.running_mean", "bn1.running_var" */
  gc_tensor t;
} gc_buffer;

typedef struct gc_net gc_net;

/* Plan the graph for a batch size (nothing allocated): parameter count, FLOPs, memory. */
int gc_net_plan(gc_ctx *ctx, const gc_net_spec *spec, size_t batch, gc_net **out);
/* Allocate the arenas of a planned net (gc_net_plan + gc_net_alloc = gc_net_create). A net too large
 * for the device fails here, before any training, with the size needed and the size available. */
int gc_net_alloc(gc_ctx *ctx, gc_net *net);
int gc_net_create(gc_ctx *ctx, const gc_net_spec *spec, size_t batch, gc_net **out);
void gc_net_free(gc_net *net);

size_t gc_net_param_count(const gc_net *net);
double gc_net_flops_per_image(const gc_net *net); /* forward multiply-adds x 2 */
/* Device bytes: parameters, gradients, buffers, activations with their gradients and the workspace. */
void gc_net_memory(const gc_net *net, size_t bytes[4]);

int gc_net_nparams(const gc_net *net);
const gc_param *gc_net_param(const gc_net *net, int i);
int gc_net_nbuffers(const gc_net *net);
const gc_buffer *gc_net_buffer(const gc_net *net, int i);
/* batch-norm num_batches_tracked (one counter per batch-norm layer, as PyTorch) */
int gc_net_nbn(const gc_net *net);
const char *gc_net_bn_name(const gc_net *net, int i); /* "layer1.0.bn1" */
int64_t gc_net_bn_batches(const gc_net *net, int i);
void gc_net_set_bn_batches(gc_net *net, int i, int64_t v);

/* The arenas (for the optimizer, checkpoints). */
gc_arena *gc_net_params(gc_net *net);
gc_arena *gc_net_grads(gc_net *net);
/* Optimizer segments, one per parameter tensor; weight decay wd, or 0 on batch-norm parameters and
 * biases when no_wd_bn_bias. `segs` must hold gc_net_nparams entries. */
void gc_net_segments(const gc_net *net, float wd, int no_wd_bn_bias, gc_optim_segment *segs);

/* Input (N, C, H, W), output (N, classes, 1, 1) and the output's gradient, which a task's loss writes
 * before gc_net_backward. */
const gc_tensor *gc_net_input(const gc_net *net);
const gc_tensor *gc_net_output(const gc_net *net);
const gc_tensor *gc_net_doutput(const gc_net *net);
size_t gc_net_batch(const gc_net *net);
/* Run the following passes on the first n images only (1 <= n <= the planned batch; the planned batch
 * again to go back): batch statistics over n images, as a net planned for n would compute them (a last
 * partial batch). The input, the output and every activation then have n images. */
int gc_net_set_batch(gc_net *net, size_t n);
size_t gc_net_active_batch(const gc_net *net);
const char *gc_net_spec_name(const gc_net *net);
const gc_net_spec *gc_net_get_spec(const gc_net *net);
/* A detection net's prior layout (its output: npriors x 4 location values, then npriors x classes
 * confidences per image); NULL for a classification net. */
const gc_ssd_layout *gc_net_ssd(const gc_net *net);

/* PyTorch's default initialisation from a counter-based generator (Philox4x32-10) keyed by seed,
 * parameter index and element index: the same seed gives the same weights on every device.
 * conv/linear weights U(-1/sqrt(fan_in), +) (kaiming-uniform, a = sqrt(5)), biases the same bound,
 * batch-norm weight 1, bias 0, running mean 0, variance 1; ImageNet-form ResNets' convolution weights
 * Kaiming-normal with fan-out (GC_INIT_KAIMING_OUT). */
int gc_net_init(gc_ctx *ctx, gc_net *net, uint64_t seed);

/* Forward from the input to the output (training: batch statistics, running statistics updated). */
int gc_net_forward(gc_ctx *ctx, gc_net *net, int training);
/* Backward from the output's gradient: parameter gradients are ADDED to (zero them with gc_net_zero_grad). */
int gc_net_backward(gc_ctx *ctx, gc_net *net);
/* gc_net_backward calling hook(user, i) after the backward of layer i has been enqueued (layers go in
 * reverse order; the device may still be running them). A nonzero return ends the pass with it. */
int gc_net_backward_hooked(gc_ctx *ctx, gc_net *net, int (*hook)(void *user, int layer), void *user);
/* The layer whose backward writes parameter i's gradient. */
int gc_net_param_layer(const gc_net *net, int i);
/* Batch norm in training passes: 0 (the default) normalises with the batch's statistics and updates the
 * running ones; 1 (frozen) normalises with the running statistics, as in evaluation, and changes neither
 * them nor the counters (the backward pass then treats mean and variance as constants). */
void gc_net_set_bn_frozen(gc_net *net, int frozen);
/* Batch norm in training passes with the statistics of a batch split over several processes (borrowed:
 * it must outlive the net's passes; NULL: each its own). Frozen batch norm takes precedence. */
void gc_net_set_bn_sync(gc_net *net, const gc_bn_sync *sync);
int gc_net_bn_frozen(const gc_net *net);
int gc_net_zero_grad(gc_ctx *ctx, gc_net *net);

/* Per-layer device time. gc_net_profile(net, 1) starts (and zeroes) a profile: from then on every layer of
 * gc_net_forward and gc_net_backward is timed on its own from OpenCL events and its seconds are added up,
 * until gc_net_profile(net, 0). Each layer then waits for its own work, so a profiled iteration is slower
 * than a plain one and must not be timed as a whole; do not nest it inside gc_timing_begin/end. */
typedef struct gc_layer_profile {
  const char *op;   /* conv batchnorm relu add pool gap linear sigmoid scale l2norm nhwc */
  char group[32];   /* stem, layer1..layer4 / dense1.. / trans1.., head (after the last stage), fc;
                       SSD: vgg, L2Norm, extras, loc, conf */
  char param[96];   /* the layer's first parameter ("layer1.0.conv1.weight"), "" for parameterless layers */
  double forward_s, backward_s;
} gc_layer_profile;
int gc_net_profile(gc_net *net, int on);
int gc_net_profiling(const gc_net *net);
int gc_net_nlayers(const gc_net *net);
void gc_net_layer_profile(const gc_net *net, int i, gc_layer_profile *lp);

/* Whether layer i is a convolution; if so its descriptor, its input's dimensions (N, C, H, W) and whether
 * the backward pass computes its input gradient (not for the network's input). Planned nets too. */
int gc_net_layer_conv(const gc_net *net, int i, gc_conv *c, size_t in_dims[4], int *wants_dx);

/* A snapshot of the buffers (batch-norm running statistics and counters), taken before a training step
 * and put back when the step is skipped: a skipped step leaves no trace in the model. */
int gc_net_buffers_save(gc_ctx *ctx, gc_net *net);
int gc_net_buffers_restore(gc_ctx *ctx, gc_net *net);
/* The first weight or buffer tensor holding a NaN or Inf (*name = NULL: none). Reads them back. */
int gc_net_nonfinite_state(gc_ctx *ctx, gc_net *net, const char **name);

/* Where NaN or Inf values begin, after a step whose gradients were non-finite (the activations and
 * gradients of that step are still on the device): the input batch, the weights, the first layer in
 * forward order whose output holds one, the loss gradient (the output's gradient), or the first layer
 * in backward order whose input gradient or parameter gradient holds one. Reads everything back: for
 * diagnosis only. */
enum { GC_NONFINITE_NONE, GC_NONFINITE_INPUT, GC_NONFINITE_WEIGHTS, GC_NONFINITE_FORWARD, GC_NONFINITE_LOSS,
       GC_NONFINITE_BACKWARD };
typedef struct gc_nonfinite_origin {
  int where;        /* GC_NONFINITE_* */
  int layer;        /* forward/backward: the layer's index, else -1 */
  const char *op;   /* its operation */
  char param[96];   /* its first parameter, or the non-finite weight tensor */
  char group[32];   /* its stage */
} gc_nonfinite_origin;
int gc_net_find_nonfinite(gc_ctx *ctx, gc_net *net, gc_nonfinite_origin *o);
/* "in the forward output of layer 12 (conv layer2.0.conv1.weight, layer2)" */
const char *gc_nonfinite_describe(const gc_nonfinite_origin *o, char *buf, size_t cap);

/* The CPU reference of the same graph in double precision (tests): forward on `x` (N*C*H*W) to the
 * output (N*classes); backward from its gradient, giving parameter gradients (one array per parameter)
 * and dx.
 * Parameters and running statistics are read from the device. `training` as gc_net_forward (running
 * statistics are not written back). */
typedef struct gc_net_ref gc_net_ref;
int gc_net_ref_create(gc_ctx *ctx, gc_net *net, gc_net_ref **out);
void gc_net_ref_free(gc_net_ref *r);
double *gc_net_ref_param(gc_net_ref *r, int i);     /* the reference's copy of parameter i (writable) */
double *gc_net_ref_pgrad(gc_net_ref *r, int i);     /* its gradient after gc_net_ref_backward */
void gc_net_ref_forward(gc_net_ref *r, const double *x, int training, double *out);
void gc_net_ref_backward(gc_net_ref *r, const double *dout, double *dx);

/* The optimizer for a net's parameters: one segment per parameter tensor with weight decay wd (0 on
 * batch-norm parameters and biases when no_wd_bn_bias). */
int gc_net_optim_create(gc_ctx *ctx, gc_net *net, const gc_optim_config *cfg, float wd, int no_wd_bn_bias,
                        gc_optim **out);

#ifdef __cplusplus
}
#endif
#endif
