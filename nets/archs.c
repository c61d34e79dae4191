/* The architecture table: every network gafcl builds is one row (name, family builder and its
 * parameters, description, forms, published parameter counts). A new network of an existing family is
 * a row; a new family is a builder in a file of its own (arch_<family>.c) and its rows. */
#include "net_internal.h"

#include <string.h>

#define C GC_FORM_CIFAR
#define I GC_FORM_IMAGENET
#define R gc_arch_build_resnet
#define D gc_arch_build_densenet
#define S gc_arch_build_ssd
#define DET GC_FORM_DETECT
enum { BASIC = GC_RESNET_BASIC, BOTTLE = GC_RESNET_BOTTLENECK, PRE = GC_RESNET_PREACT, PREB = GC_RESNET_PREACT_BOTTLENECK };

static const gc_arch archs[] = {
    /* info: name, family, description, forms, published parameters (CIFAR-10, CIFAR-100, ImageNet)
     * then: builder, blocks per stage, width (ResNet) or growth (DenseNet), variant */
    {{"resnet18", "resnet", "ResNet-18, basic blocks [2,2,2,2]", C | I, 11173962, 11220132, 11689512, 0, 0}, R, {2, 2, 2, 2}, 64, BASIC},
    {{"resnet34", "resnet", "ResNet-34, basic blocks [3,4,6,3]", C | I, 21282122, 21328292, 21797672, 0, 0}, R, {3, 4, 6, 3}, 64, BASIC},
    {{"resnet50", "resnet", "ResNet-50, bottleneck blocks [3,4,6,3], stride on the 3x3", C | I, 23520842, 23705252, 25557032, 0, 0},
     R, {3, 4, 6, 3}, 64, BOTTLE},
    {{"preact_resnet18", "resnet", "pre-activation ResNet-18 (shortcut from relu(bn(x)), no final BN)", C, 11171146, 11217316, 0, 0, 0},
     R, {2, 2, 2, 2}, 64, PRE},
    {{"preact_resnet34", "resnet", "pre-activation ResNet-34", C, 21279306, 21325476, 0, 0, 0}, R, {3, 4, 6, 3}, 64, PRE},
    {{"preact_resnet50", "resnet", "pre-activation ResNet-50 (bottleneck)", C, 23509066, 23693476, 0, 0, 0}, R, {3, 4, 6, 3}, 64, PREB},
    /* squeeze-excitation: ImageNet form the official models' (se.fc.0/2 with biases), CIFAR form
     * pytorch-cifar's SENet (pre-activation, fc1/fc2 1x1 convolutions); SENet-34/50 are not published */
    {{"se_resnet18", "resnet", "SE-ResNet-18 (CIFAR: pytorch-cifar's SENet18, pre-activation)", C | I, 11260354, 11306524, 11778592, 0,
      0}, R, {2, 2, 2, 2}, 64, BASIC | GC_RESNET_SE},
    {{"se_resnet34", "resnet", "SE-ResNet-34 (CIFAR: SENet blocks [3,4,6,3])", C | I, 0, 0, 21958868, 0, 0}, R, {3, 4, 6, 3}, 64,
     BASIC | GC_RESNET_SE},
    {{"se_resnet50", "resnet", "SE-ResNet-50 (CIFAR: pre-activation bottlenecks with SE)", C | I, 0, 0, 28088024, 0, 0}, R,
     {3, 4, 6, 3}, 64, BOTTLE | GC_RESNET_SE},
    {{"densenet_cifar", "densenet", "DenseNet-CIFAR, growth 12, blocks [6,12,24,16]", C, 1000618, 1035268, 0, 0, 0}, D, {6, 12, 24, 16},
     12, 0},
    {{"densenet121", "densenet", "DenseNet-121, growth 32, blocks [6,12,24,16]", C, 6956298, 7048548, 0, 0, 0}, D, {6, 12, 24, 16}, 32, 0},
    {{"densenet169", "densenet", "DenseNet-169, growth 32, blocks [6,12,32,32]", C, 12493322, 12643172, 0, 0, 0}, D, {6, 12, 32, 32}, 32,
     0},
    /* Table II's other networks (kuangliu/pytorch-cifar definitions); width: RegNetX's group width */
    {{"googlenet", "googlenet", "GoogLeNet (CIFAR), 3x3 stem 192, nine Inception modules, convolutions with bias", C, 6166250,
      6258500, 0, 0, 0}, gc_arch_build_googlenet, {0}, 0, 0},
    {{"dpn26", "dpn", "DPN-26 (CIFAR), dual-path bottlenecks [2,2,2,2], 3x3 in 32 groups", C, 11574842, 11793812, 0, 0, 0},
     gc_arch_build_dpn, {2, 2, 2, 2}, 0, 0},
    {{"regnetx_200mf", "regnet", "RegNetX-200MF (CIFAR), depths [1,1,4,7], widths 24-368, groups of 8 channels", C, 2321946,
      2355156, 0, 0, 0}, gc_arch_build_regnet, {1, 1, 4, 7}, 8, 0},
    /* not from the paper: a small ResNet for quick runs on CPUs */
    {{"resnet10_w16", "resnet", "one basic block per stage, widths 16-128 (not from the paper: quick CPU runs)", C | I, 0, 0, 0, 0, 0},
     R, {1, 1, 1, 1}, 16, BASIC},
    /* detection (arch_ssd.c): published parameters with 21 classes (ssd.pytorch's state_dict); variant:
     * the configuration of arch_ssd.c */
    {{"ssd300", "ssd", "SSD300 on VGG16 (ssd.pytorch names), 8732 priors", DET, 0, 0, 0, 26285486, 300}, S, {0}, 0, 0},
    {{"ssd_tiny", "ssd", "SSD on a 5-conv VGG of 1/4 width, 128x128, 4 sources, 1528 priors (not from the paper: tests, CPUs)",
      DET, 0, 0, 0, 0, 128}, S, {0}, 0, 1},
};

int gc_net_arch_count(void) { return (int)(sizeof archs / sizeof archs[0]); }

const gc_net_arch_info *gc_net_arch(int i) {
  return i >= 0 && i < gc_net_arch_count() ? &archs[i].info : NULL;
}

const gc_arch *gc_arch_find(const char *name) {
  for (int i = 0; i < gc_net_arch_count(); i++)
    if (!strcmp(archs[i].info.name, name)) return &archs[i];
  return NULL;
}
