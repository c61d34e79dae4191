/* SSD (Liu et al., ECCV 2016) on a VGG16 base, in the form and with the state_dict names of the widely used
 * ssd.pytorch implementation: vgg.0 ... vgg.33 (ReLUs and pools keep their indices), L2Norm.weight,
 * extras.0 ... extras.7, loc.0 ... loc.5, conf.0 ... conf.5. The output is one tensor per image: the
 * location rows (priors x 4) then the confidence rows (priors x classes), each head's output in NHWC order
 * as ssd.pytorch's permute + view + cat, so that row p of either block belongs to prior p (gc_detect.h).
 * Initialisation is gafcl's (PyTorch's default for every convolution, L2Norm's scale 20): ssd.pytorch's
 * Xavier start, meant for the new layers on a pretrained base, trained from scratch more slowly in our
 * first runs on the generated shapes (README, Detection).
 *
 * The rows of the architecture table choose a configuration of this file: ssd300 (REFERENCE section 5)
 * and ssd_tiny, the same code with a base of one convolution per stage at 1/4 width, conv6, conv7 and the
 * extras at 1/4 width, a 128 x 128 input and the first two extra stages only (4 sources, 1528 priors), for
 * quick runs and tests on CPUs. */
#include "net_internal.h"

#include <stdio.h>
#include <string.h>

/* the VGG16 base of ssd.pytorch: [64,64,M,128,128,M,256x3,C (ceil-mode pool),512x3 (conv4_3),M,512x3] */
static const int vgg16[] = {64, 64, -1, 128, 128, -1, 256, 256, 256, -2, 512, 512, 512, -1, 512, 512, 512};
/* ssd_tiny's: one convolution per stage at 1/4 width (a plain 15-layer net trained from scratch learns the
 * generated shapes far too slowly for a test) */
static const int vgg_tiny[] = {16, -1, 32, -1, 64, -2, 128, -1, 128};

typedef struct ssd_config {
  const char *name;
  int size;          /* input size */
  const int *base;   /* channels of the base's convolutions; -1 max pool, -2 ceil-mode max pool */
  int nbase;
  int src;           /* the entry of base whose output (after its ReLU) is the first source (conv4_3) */
  int div;           /* channel divisor of conv6, conv7 and the extras */
  int extras;        /* extra stages (pairs of 1x1 + 3x3), 0..4 */
  gc_ssd_layout priors; /* the prior layout; feature maps are checked against the built graph */
} ssd_config;

#define BASE(a) a, (int)(sizeof a / sizeof a[0])
static const ssd_config configs[] = {
    {"ssd300", 300, BASE(vgg16), 12, 1, 4,
     {6, 300, {38, 19, 10, 5, 3, 1}, {8, 16, 32, 64, 100, 300}, {30, 60, 111, 162, 213, 264},
      {60, 111, 162, 213, 264, 315}, {1, 2, 2, 2, 1, 1}, {{2, 0}, {2, 3}, {2, 3}, {2, 3}, {2, 0}, {2, 0}}, 0, 0}},
    /* ssd300's first four sizes scaled by 128/300; steps 128 / feature map */
    {"ssd_tiny", 128, BASE(vgg_tiny), 6, 4, 2,
     {4, 128, {16, 8, 4, 2}, {8, 16, 32, 64}, {12.8f, 25.6f, 47.36f, 69.12f}, {25.6f, 47.36f, 69.12f, 90.88f},
      {1, 2, 2, 2}, {{2, 0}, {2, 3}, {2, 3}, {2, 3}}, 0, 0}},
};

static const ssd_config *ssd_find(int variant) {
  return variant >= 0 && variant < (int)(sizeof configs / sizeof configs[0]) ? &configs[variant] : NULL;
}

/* one conv + ReLU of the vgg list: names vgg.<idx>, the ReLU takes idx + 1 */
static int vgg_conv(gc_net *net, int *idx, int in, int cout, int k, int p, int d) {
  char name[32];
  snprintf(name, sizeof name, "vgg.%d", *idx);
  *idx += 2;
  return gc_net_relu(net, gc_net_conv_dil(net, name, in, cout, k, 1, p, d, 1, -1));
}

int gc_arch_build_ssd(gc_net *net, const gc_arch *a) {
  const ssd_config *cf = ssd_find(a->variant);
  if (!cf) return gc_net_fail(net, GC_ERR_ARG, "ssd: no configuration %d", a->variant);
  const gc_net_spec *s = &net->spec;
  if (s->in_h != s->in_w || s->in_h != cf->size)
    return gc_net_fail(net, GC_ERR_ARG, "%s takes %dx%d images (its priors are laid out for that size), not %dx%d",
                       cf->name, cf->size, cf->size, s->in_h, s->in_w);
  if (s->classes < 2) return gc_net_fail(net, GC_ERR_ARG, "%s: %d classes; detection needs the background and one more",
                                         cf->name, s->classes);
  const int dv = cf->div;
  /* the base (names vgg.<index> of ssd.pytorch's list, ReLUs and pools counted), pool5, conv6, conv7 */
  int x = net->input, idx = 0, conv4_3 = -1;
  for (int i = 0; i < cf->nbase; i++) {
    if (cf->base[i] < 0) {
      x = cf->base[i] == -2 ? gc_net_pool_ceil(net, x, 2, 2, 0) : gc_net_pool(net, x, 1, 2, 2, 0, -1);
      idx++;
      continue;
    }
    x = vgg_conv(net, &idx, x, cf->base[i], 3, 1, 1);
    if (i == cf->src) conv4_3 = x; /* ssd300: after vgg.21 and its ReLU vgg.22 */
  }
  x = gc_net_pool(net, x, 1, 3, 1, 1, -1); /* pool5: vgg.30 */
  idx++;
  x = vgg_conv(net, &idx, x, 1024 / dv, 3, 6, 6); /* conv6: vgg.31, dilation 6 */
  int fc7 = vgg_conv(net, &idx, x, 1024 / dv, 1, 0, 1); /* conv7: vgg.33 */
  /* L2Norm after the base, so that its parameter follows vgg.* as in the state_dict */
  int src[8], ns = 0;
  src[ns++] = gc_net_l2norm(net, "L2Norm", conv4_3, 20.0f, 1e-10f);
  src[ns++] = fc7;
  /* extras: (1x1 256, 3x3 s2 512), (1x1 128, 3x3 s2 256), (1x1 128, 3x3 256), (1x1 128, 3x3 256) */
  static const int ex[4][4] = {{256, 512, 2, 1}, {128, 256, 2, 1}, {128, 256, 1, 0}, {128, 256, 1, 0}};
  x = fc7;
  for (int e = 0; e < cf->extras; e++) {
    char n1[32], n2[32];
    snprintf(n1, sizeof n1, "extras.%d", 2 * e);
    snprintf(n2, sizeof n2, "extras.%d", 2 * e + 1);
    x = gc_net_relu(net, gc_net_conv(net, n1, x, ex[e][0] / dv, 1, 1, 0, 1, -1));
    x = gc_net_relu(net, gc_net_conv(net, n2, x, ex[e][1] / dv, 3, ex[e][2], ex[e][3], 1, -1));
    src[ns++] = x;
  }
  if (net->err) return -1;
  const gc_ssd_layout *L = &cf->priors;
  if (ns != L->nsources) return gc_net_fail(net, GC_ERR_ARG, "%s: %d sources, the layout has %d", cf->name, ns, L->nsources);
  size_t npri = 0;
  for (int k = 0; k < ns; k++) {
    if ((int)gc_net_dim(net, src[k], 2) != L->fmap[k] || (int)gc_net_dim(net, src[k], 3) != L->fmap[k])
      return gc_net_fail(net, GC_ERR_ARG, "%s: source %d is %zux%zu, the prior layout says %dx%d", cf->name, k,
                         gc_net_dim(net, src[k], 2), gc_net_dim(net, src[k], 3), L->fmap[k], L->fmap[k]);
    npri += (size_t)L->fmap[k] * L->fmap[k] * (size_t)(2 + 2 * L->nar[k]);
  }
  const size_t C = (size_t)s->classes, N = net->batch;
  int out = gc_net_storage_new(net, N, npri * (4 + C), 1, 1);
  /* heads: every loc conv, then every conf conv (state_dict order) */
  for (int part = 0; part < 2; part++) {
    size_t off = part ? npri * 4 : 0, per = part ? C : 4;
    for (int k = 0; k < ns; k++) {
      char name[32];
      int boxes = 2 + 2 * L->nar[k];
      snprintf(name, sizeof name, "%s.%d", part ? "conf" : "loc", k);
      int h = gc_net_conv(net, name, src[k], boxes * (int)per, 3, 1, 1, 1, -1);
      size_t cnt = (size_t)L->fmap[k] * L->fmap[k] * (size_t)boxes * per;
      if (gc_net_nhwc(net, h, gc_net_view(net, out, off, cnt)) < 0) return -1;
      off += cnt;
    }
  }
  net->ssd = *L;
  net->ssd.npriors = npri;
  net->ssd.classes = s->classes;
  net->is_ssd = 1;
  return gc_net_view(net, out, 0, npri * (4 + C));
}
