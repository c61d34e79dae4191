/* The DenseNet family (kuangliu/pytorch-cifar): DenseNet-CIFAR (growth 12) and DenseNet-121/169 (growth
 * 32). Bottleneck layers BN-ReLU-1x1(4k)-BN-ReLU-3x3(k), transitions BN-ReLU-1x1(x0.5)-avgpool2, a final
 * BN-ReLU-avgpool-linear. The networks are rows of archs.c: layers per dense block and growth. */
#include "net_internal.h"

#include <math.h>
#include <stdio.h>

/* DenseNet (kuangliu): dense layers write their growth channels in front of their input inside one
 * concatenation buffer per block, so the block is [out_L, ..., out_1, x] with no copies. */
int gc_arch_build_densenet(gc_net *net, const gc_arch *a) {
  const int growth = a->width, *nblocks = a->blocks;
  const gc_net_spec *sp = &net->spec;
  size_t N = net->batch, H = (size_t)sp->in_h, W = (size_t)sp->in_w;
  int planes = 2 * growth, x = -1;
  for (int b = 0; b < 4; b++) {
    int total = planes + nblocks[b] * growth;
    int st = gc_net_storage_new(net, N, (size_t)total, H, W);
    int xin = gc_net_view(net, st, (size_t)(total - planes), (size_t)planes);
    if (b == 0) {
      gc_net_conv(net, "conv1", net->input, planes, 3, 1, 1, 0, xin);
    } else {
      /* the previous transition's average pool writes straight into this block's tail */
      char nm[32];
      snprintf(nm, sizeof nm, "trans%d", b);
      char bn[48], cv[48];
      snprintf(bn, sizeof bn, "%s.bn", nm);
      snprintf(cv, sizeof cv, "%s.conv", nm);
      int t = gc_net_bn(net, bn, x, 1, -1);
      t = gc_net_conv(net, cv, t, planes, 1, 1, 0, 0, -1);
      gc_net_pool(net, t, 0, 2, 2, 0, xin);
    }
    int cur = planes;
    for (int i = 0; i < nblocks[b]; i++) {
      char pre[48], nm[64];
      snprintf(pre, sizeof pre, "dense%d.%d", b + 1, i);
      int in = gc_net_view(net, st, (size_t)(total - cur), (size_t)cur);
      int outv = gc_net_view(net, st, (size_t)(total - cur - growth), (size_t)growth);
      snprintf(nm, sizeof nm, "%s.bn1", pre);
      int o = gc_net_bn(net, nm, in, 1, -1);
      snprintf(nm, sizeof nm, "%s.conv1", pre);
      o = gc_net_conv(net, nm, o, 4 * growth, 1, 1, 0, 0, -1);
      snprintf(nm, sizeof nm, "%s.bn2", pre);
      o = gc_net_bn(net, nm, o, 1, -1);
      snprintf(nm, sizeof nm, "%s.conv2", pre);
      gc_net_conv(net, nm, o, growth, 3, 1, 1, 0, outv);
      cur += growth;
    }
    x = gc_net_view(net, st, 0, (size_t)total);
    if (b < 3) {
      planes = (int)floor(total * 0.5);
      H /= 2;
      W /= 2;
      if (H < 1 || W < 1) {
        return gc_net_fail(net, GC_ERR_ARG, "densenet: input %dx%d too small for three transitions", sp->in_h,
                           sp->in_w);
      }
    }
  }
  int o = gc_net_bn(net, "bn", x, 1, -1);
  o = gc_net_gap(net, o);
  return gc_net_linear(net, "linear", o, sp->classes, 1);
}

