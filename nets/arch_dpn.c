/* Dual Path Networks in the CIFAR form of kuangliu/pytorch-cifar (DPN-26 of the paper's Table II).
 * A block: conv1 1x1 -> bn1 relu -> conv2 3x3 in 32 groups (the stride) -> bn2 relu -> conv3 1x1 to
 * d + dense_depth channels -> bn3; the shortcut (first block of a stage: 1x1 conv + bn to d + dense_depth,
 * else the block's input) x; then relu(cat[x[:d] + out[:d], x[d:], out[d:]]): a residual path of d
 * channels and a densely growing path. The three parts are written into channel ranges of one output
 * (view add and view ReLU: no copies). Stem 3x3 conv 64 + bn + relu, four stages, global average pool,
 * `linear`. */
#include "net_internal.h"

#include <stdio.h>

static int block(gc_net *net, const char *pre, int x, int in_planes, int d, int dense, int stride, int first) {
  if (x < 0) return -1;
  char a[96], b[96];
#define NM(buf, s) (snprintf((buf), sizeof(buf), "%s.%s", pre, (s)), (buf))
  int o = gc_net_conv(net, NM(a, "conv1"), x, in_planes, 1, 1, 0, 0, -1);
  o = gc_net_bn(net, NM(a, "bn1"), o, 1, -1);
  o = gc_net_conv_grouped(net, NM(a, "conv2"), o, in_planes, 3, stride, 1, 32, 0);
  o = gc_net_bn(net, NM(a, "bn2"), o, 1, -1);
  o = gc_net_conv(net, NM(a, "conv3"), o, d + dense, 1, 1, 0, 0, -1);
  o = gc_net_bn(net, NM(a, "bn3"), o, 0, -1);
  int s = x;
  if (first) {
    snprintf(b, sizeof b, "%s.shortcut.0", pre);
    s = gc_net_conv(net, b, x, d + dense, 1, stride, 0, 0, -1);
    snprintf(b, sizeof b, "%s.shortcut.1", pre);
    s = gc_net_bn(net, b, s, 0, -1);
  }
#undef NM
  if (o < 0 || s < 0) return -1;
  size_t cs = gc_net_dim(net, s, 1), cout = cs + (size_t)dense;
  int st = gc_net_storage_new(net, gc_net_dim(net, o, 0), cout, gc_net_dim(net, o, 2), gc_net_dim(net, o, 3));
  int r = gc_net_add_into(net, gc_net_channels(net, s, 0, (size_t)d), gc_net_channels(net, o, 0, (size_t)d), 1,
                          gc_net_view(net, st, 0, (size_t)d));
  if (r < 0) return -1;
  if (cs > (size_t)d && gc_net_relu_into(net, gc_net_channels(net, s, (size_t)d, cs - (size_t)d),
                                         gc_net_view(net, st, (size_t)d, cs - (size_t)d)) < 0)
    return -1;
  if (gc_net_relu_into(net, gc_net_channels(net, o, (size_t)d, (size_t)dense), gc_net_view(net, st, cs, (size_t)dense)) < 0)
    return -1;
  return gc_net_view(net, st, 0, cout);
}

int gc_arch_build_dpn(gc_net *net, const gc_arch *a) {
  /* DPN-26: in_planes (96, 192, 384, 768), out_planes (256, 512, 1024, 2048), dense depth (16, 32, 24, 128);
   * blocks per stage from the row */
  static const int in_planes[4] = {96, 192, 384, 768}, out_planes[4] = {256, 512, 1024, 2048}, dense[4] = {16, 32, 24, 128};
  int o = gc_net_conv(net, "conv1", net->input, 64, 3, 1, 1, 0, -1);
  o = gc_net_bn(net, "bn1", o, 1, -1);
  for (int l = 0; l < 4; l++)
    for (int i = 0; i < a->blocks[l]; i++) {
      char pre[32];
      snprintf(pre, sizeof pre, "layer%d.%d", l + 1, i);
      o = block(net, pre, o, in_planes[l], out_planes[l], dense[l], i == 0 && l > 0 ? 2 : 1, i == 0);
    }
  o = gc_net_gap(net, o);
  return gc_net_linear(net, "linear", o, net->spec.classes, 1);
}
