/* The ResNet family: ResNet (basic and bottleneck blocks), pre-activation ResNet and squeeze-excitation
 * ResNet, in the CIFAR form of kuangliu/pytorch-cifar (3x3 stem, no max pool, `shortcut`, `linear`) and
 * the ImageNet form of torchvision (7x7/2 stem + 3x3/2 max pool, `downsample`, `fc`, Kaiming-normal
 * fan-out convolutions). SE-ResNets: ImageNet form as the paper's official models (SE with nn.Linear
 * layers with biases in every block before the residual add); CIFAR form as pytorch-cifar's SENet
 * (pre-activation blocks with 1x1-convolution SE layers `fc1`/`fc2`, a conv-bn-relu stem). The networks are
 * rows of archs.c: blocks per stage, width, block kind and squeeze-excitation. */
#include "net_internal.h"

#include <stdio.h>


/* squeeze-excitation on x (N, C, H, W): global average pool -> C/16 -> relu -> C -> sigmoid -> scale,
 * both projections with a bias. ImageNet form (the official SE-ResNets): nn.Linear layers `se.fc.0` and
 * `se.fc.2`; CIFAR form (pytorch-cifar's SENet): 1x1 convolutions `fc1` and `fc2`. */
static int se(gc_net *net, const char *prefix, int x, int imagenet) {
  char nm[96];
  int c = (int)gc_net_dim(net, x, 1), r = c / 16 > 0 ? c / 16 : 1;
  int z = gc_net_gap(net, x);
  snprintf(nm, sizeof nm, imagenet ? "%s.se.fc.0" : "%s.fc1", prefix);
  z = imagenet ? gc_net_linear(net, nm, z, r, 1) : gc_net_conv(net, nm, z, r, 1, 1, 0, 1, -1);
  z = gc_net_relu(net, z);
  snprintf(nm, sizeof nm, imagenet ? "%s.se.fc.2" : "%s.fc2", prefix);
  z = imagenet ? gc_net_linear(net, nm, z, c, 1) : gc_net_conv(net, nm, z, c, 1, 1, 0, 1, -1);
  z = gc_net_sigmoid(net, z);
  return gc_net_chscale(net, x, z);
}

static int block(gc_net *net, const char *pre, int x, int kind, int planes, int stride, int use_se, int imagenet) {
  const char *sc_name = imagenet ? "downsample" : "shortcut";
  char a[96], b[96];
  int exp = (kind == GC_RESNET_BOTTLENECK || kind == GC_RESNET_PREACT_BOTTLENECK) ? 4 : 1;
  int cin = (int)gc_net_dim(net, x, 1), cout = planes * exp;
  int need_sc = stride != 1 || cin != cout;
#define NM(buf, s) (snprintf((buf), sizeof(buf), "%s.%s", pre, (s)), (buf))
  if (kind == GC_RESNET_BASIC || kind == GC_RESNET_BOTTLENECK) {
    int o;
    if (kind == GC_RESNET_BASIC) {
      o = gc_net_conv(net, NM(a, "conv1"), x, planes, 3, stride, 1, 0, -1);
      o = gc_net_bn(net, NM(a, "bn1"), o, 1, -1);
      o = gc_net_conv(net, NM(a, "conv2"), o, planes, 3, 1, 1, 0, -1);
      o = gc_net_bn(net, NM(a, "bn2"), o, 0, -1);
    } else {
      o = gc_net_conv(net, NM(a, "conv1"), x, planes, 1, 1, 0, 0, -1);
      o = gc_net_bn(net, NM(a, "bn1"), o, 1, -1);
      o = gc_net_conv(net, NM(a, "conv2"), o, planes, 3, stride, 1, 0, -1);
      o = gc_net_bn(net, NM(a, "bn2"), o, 1, -1);
      o = gc_net_conv(net, NM(a, "conv3"), o, cout, 1, 1, 0, 0, -1);
      o = gc_net_bn(net, NM(a, "bn3"), o, 0, -1);
    }
    if (use_se) o = se(net, pre, o, imagenet);
    int s = x;
    if (need_sc) {
      snprintf(b, sizeof b, "%s.%s.0", pre, sc_name);
      s = gc_net_conv(net, b, x, cout, 1, stride, 0, 0, -1);
      snprintf(b, sizeof b, "%s.%s.1", pre, sc_name);
      s = gc_net_bn(net, b, s, 0, -1);
    }
    return gc_net_add(net, o, s, 1);
  }
  /* pre-activation: out = relu(bn1(x)); shortcut = conv(out) or x; ...; out + shortcut (no ReLU). The
   * shortcut is built after the main path, so that the parameters come in PyTorch's order */
  int o = gc_net_bn(net, NM(a, "bn1"), x, 1, -1), pa = o;
  if (kind == GC_RESNET_PREACT) {
    o = gc_net_conv(net, NM(a, "conv1"), o, planes, 3, stride, 1, 0, -1);
    o = gc_net_bn(net, NM(a, "bn2"), o, 1, -1);
    o = gc_net_conv(net, NM(a, "conv2"), o, planes, 3, 1, 1, 0, -1);
  } else {
    o = gc_net_conv(net, NM(a, "conv1"), o, planes, 1, 1, 0, 0, -1);
    o = gc_net_bn(net, NM(a, "bn2"), o, 1, -1);
    o = gc_net_conv(net, NM(a, "conv2"), o, planes, 3, stride, 1, 0, -1);
    o = gc_net_bn(net, NM(a, "bn3"), o, 1, -1);
    o = gc_net_conv(net, NM(a, "conv3"), o, cout, 1, 1, 0, 0, -1);
  }
  int s = x;
  if (need_sc) {
    snprintf(b, sizeof b, "%s.%s.0", pre, sc_name);
    s = gc_net_conv(net, b, pa, cout, 1, stride, 0, 0, -1);
  }
  if (use_se) o = se(net, pre, o, imagenet);
  return gc_net_add(net, o, s, 0);
#undef NM
}

int gc_arch_build_resnet(gc_net *net, const gc_arch *a) {
  const gc_net_spec *sp = &net->spec;
  int kind = a->variant & 0xf, use_se = (a->variant & GC_RESNET_SE) != 0, width = a->width;
  /* the CIFAR SE-ResNets are pytorch-cifar's SENet: pre-activation blocks after a conv-bn-relu stem */
  if (use_se && !sp->imagenet) kind = kind == GC_RESNET_BASIC ? GC_RESNET_PREACT : kind == GC_RESNET_BOTTLENECK ? GC_RESNET_PREACT_BOTTLENECK : kind;
  int preact = kind == GC_RESNET_PREACT || kind == GC_RESNET_PREACT_BOTTLENECK;
  int x = net->input, o;
  if (sp->imagenet) {
    o = gc_net_conv(net, "conv1", x, width, 7, 2, 3, 0, -1);
    o = gc_net_bn(net, "bn1", o, 1, -1);
    o = gc_net_pool(net, o, 1, 3, 2, 1, -1);
  } else {
    o = gc_net_conv(net, "conv1", x, width, 3, 1, 1, 0, -1);
    if (!preact || use_se) o = gc_net_bn(net, "bn1", o, 1, -1);
  }
  const int planes[4] = {width, 2 * width, 4 * width, 8 * width};
  for (int l = 0; l < 4; l++)
    for (int b = 0; b < a->blocks[l]; b++) {
      char pre[32];
      snprintf(pre, sizeof pre, "layer%d.%d", l + 1, b);
      o = block(net, pre, o, kind, planes[l], b == 0 && l > 0 ? 2 : 1, use_se, sp->imagenet);
    }
  o = gc_net_gap(net, o);
  o = gc_net_linear(net, sp->imagenet ? "fc" : "linear", o, sp->classes, 1);
  /* the ImageNet form initialises its convolutions as torchvision's and the official models do:
   * Kaiming-normal, fan-out, ReLU gain (batch norm 1 and 0, the linear layers PyTorch's default) */
  if (sp->imagenet) gc_net_init_kaiming_out(net);
  return o;
}
