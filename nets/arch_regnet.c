/* RegNetX in the CIFAR form of kuangliu/pytorch-cifar (RegNetX-200MF of the paper's Table II): a 3x3
 * stem of 64 channels + bn + relu, four stages of X blocks, global average pool, `linear`. An X block:
 * conv1 1x1 to w_b = w_out * bottleneck ratio (1 here) -> bn1 relu -> conv2 3x3 in w_b / group_width
 * groups (the stride) -> bn2 relu -> conv3 1x1 -> bn3, plus the shortcut (1x1 conv + bn when the stride or
 * the width changes), then relu. RegNetX-200MF: depths (1, 1, 4, 7), widths (24, 56, 152, 368), strides
 * (1, 1, 2, 2), group width 8, no squeeze-excitation. */
#include "net_internal.h"

#include <stdio.h>

static int block(gc_net *net, const char *pre, int x, int w_out, int stride, int group_width) {
  if (x < 0) return -1;
  char a[96];
  int w_in = (int)gc_net_dim(net, x, 1), w_b = w_out;
#define NM(buf, s) (snprintf((buf), sizeof(buf), "%s.%s", pre, (s)), (buf))
  int o = gc_net_conv(net, NM(a, "conv1"), x, w_b, 1, 1, 0, 0, -1);
  o = gc_net_bn(net, NM(a, "bn1"), o, 1, -1);
  if (w_b % group_width) return gc_net_fail(net, GC_ERR_ARG, "%s: width %d is not a multiple of the group width %d", pre, w_b, group_width);
  o = gc_net_conv_grouped(net, NM(a, "conv2"), o, w_b, 3, stride, 1, w_b / group_width, 0);
  o = gc_net_bn(net, NM(a, "bn2"), o, 1, -1);
  o = gc_net_conv(net, NM(a, "conv3"), o, w_out, 1, 1, 0, 0, -1);
  o = gc_net_bn(net, NM(a, "bn3"), o, 0, -1);
  int s = x;
  if (stride != 1 || w_in != w_out) {
    s = gc_net_conv(net, NM(a, "shortcut.0"), x, w_out, 1, stride, 0, 0, -1);
    s = gc_net_bn(net, NM(a, "shortcut.1"), s, 0, -1);
  }
#undef NM
  return gc_net_add(net, o, s, 1);
}

int gc_arch_build_regnet(gc_net *net, const gc_arch *a) {
  static const int widths[4] = {24, 56, 152, 368}, strides[4] = {1, 1, 2, 2};
  int o = gc_net_conv(net, "conv1", net->input, 64, 3, 1, 1, 0, -1);
  o = gc_net_bn(net, "bn1", o, 1, -1);
  for (int l = 0; l < 4; l++)
    for (int i = 0; i < a->blocks[l]; i++) {
      char pre[32];
      snprintf(pre, sizeof pre, "layer%d.%d", l + 1, i);
      o = block(net, pre, o, widths[l], i == 0 ? strides[l] : 1, a->width);
    }
  o = gc_net_gap(net, o);
  return gc_net_linear(net, "linear", o, net->spec.classes, 1);
}
