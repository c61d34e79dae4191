/* GoogLeNet in the CIFAR form of kuangliu/pytorch-cifar (Table II of the paper): a 3x3 stem of 192
 * channels, nine Inception modules (a3 b3, max pool, a4 .. e4, max pool, a5 b5), global average pool and
 * `linear`. Every convolution has a bias and is followed by batch norm + ReLU; an Inception module is four
 * branches written into channel ranges of one output (no concatenation copy):
 *   b1: 1x1;  b2: 1x1 -> 3x3;  b3: 1x1 -> 3x3 -> 3x3;  b4: 3x3/1 max pool -> 1x1.
 * State-dict names as PyTorch's nn.Sequential indices: a3.b2.0 (conv), a3.b2.1 (bn), a3.b2.3, a3.b2.4, ...
 * The official model ends in AvgPool2d(8), which is the global average on 32x32 inputs; gafcl pools
 * globally so that other input sizes work too. */
#include "net_internal.h"

#include <stdio.h>

/* conv (with bias) + batch norm + ReLU as Sequential entries `i` and `i + 1` of `seq`; the result is
 * written into `out` when given */
static int cbr(gc_net *net, const char *seq, int i, int x, int cout, int k, int out) {
  char c[96], b[96];
  snprintf(c, sizeof c, "%s.%d", seq, i);
  snprintf(b, sizeof b, "%s.%d", seq, i + 1);
  x = gc_net_conv(net, c, x, cout, k, 1, k / 2, 1, -1);
  return gc_net_bn(net, b, x, 1, out);
}

/* one Inception module: n1, (n3r, n3), (n5r, n5), pool planes */
static int inception(gc_net *net, const char *name, int x, const int cfg[6]) {
  if (x < 0) return -1;
  const int n1 = cfg[0], n3r = cfg[1], n3 = cfg[2], n5r = cfg[3], n5 = cfg[4], np = cfg[5];
  int st = gc_net_storage_new(net, gc_net_dim(net, x, 0), (size_t)(n1 + n3 + n5 + np), gc_net_dim(net, x, 2),
                              gc_net_dim(net, x, 3));
  int o1 = gc_net_view(net, st, 0, (size_t)n1), o2 = gc_net_view(net, st, (size_t)n1, (size_t)n3);
  int o3 = gc_net_view(net, st, (size_t)(n1 + n3), (size_t)n5), o4 = gc_net_view(net, st, (size_t)(n1 + n3 + n5), (size_t)np);
  char s[64];
  snprintf(s, sizeof s, "%s.b1", name);
  if (cbr(net, s, 0, x, n1, 1, o1) < 0) return -1;
  snprintf(s, sizeof s, "%s.b2", name);
  if (cbr(net, s, 3, cbr(net, s, 0, x, n3r, 1, -1), n3, 3, o2) < 0) return -1;
  snprintf(s, sizeof s, "%s.b3", name);
  if (cbr(net, s, 6, cbr(net, s, 3, cbr(net, s, 0, x, n5r, 1, -1), n5, 3, -1), n5, 3, o3) < 0) return -1;
  snprintf(s, sizeof s, "%s.b4", name);
  if (cbr(net, s, 1, gc_net_pool(net, x, 1, 3, 1, 1, -1), np, 1, o4) < 0) return -1;
  return gc_net_view(net, st, 0, (size_t)(n1 + n3 + n5 + np));
}

int gc_arch_build_googlenet(gc_net *net, const gc_arch *a) {
  (void)a;
  static const struct {
    const char *name;
    int cfg[6];
    int pool_after;
  } mods[] = {
      {"a3", {64, 96, 128, 16, 32, 32}, 0},      {"b3", {128, 128, 192, 32, 96, 64}, 1},
      {"a4", {192, 96, 208, 16, 48, 64}, 0},     {"b4", {160, 112, 224, 24, 64, 64}, 0},
      {"c4", {128, 128, 256, 24, 64, 64}, 0},    {"d4", {112, 144, 288, 32, 64, 64}, 0},
      {"e4", {256, 160, 320, 32, 128, 128}, 1},  {"a5", {256, 160, 320, 32, 128, 128}, 0},
      {"b5", {384, 192, 384, 48, 128, 128}, 0},
  };
  int o = cbr(net, "pre_layers", 0, net->input, 192, 3, -1);
  for (size_t i = 0; i < sizeof mods / sizeof mods[0]; i++) {
    o = inception(net, mods[i].name, o, mods[i].cfg);
    if (mods[i].pool_after) o = gc_net_pool(net, o, 1, 3, 2, 1, -1);
  }
  o = gc_net_gap(net, o);
  return gc_net_linear(net, "linear", o, net->spec.classes, 1);
}
