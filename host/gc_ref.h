/* Plain-C CPU references of the layers, in double precision, on dense NCHW arrays. The tests check the
 * device against them, and check their backward passes against central differences of their forward
 * passes. Semantics follow gc_layers.h (and PyTorch). Backward functions write dx and ADD into
 * parameter gradients. */
#ifndef GC_REF_H
#define GC_REF_H

#include <stddef.h>

#include "gc_layers.h"

#ifdef __cplusplus
extern "C" {
#endif

void gc_ref_conv_fwd(const gc_conv *c, size_t N, size_t H, size_t W, const double *x, const double *w,
                     const double *b, double *y);
void gc_ref_conv_bwd(const gc_conv *c, size_t N, size_t H, size_t W, const double *x, const double *w,
                     const double *dy, double *dx, double *dw, double *db);

/* mean/invstd: (C) outputs; run_mean/run_var updated in training */
void gc_ref_bn_fwd(const gc_bn *bn, int training, size_t N, size_t P, const double *x, const double *gamma,
                   const double *beta, double *run_mean, double *run_var, double *mean, double *invstd, double *y);
void gc_ref_bn_bwd(const gc_bn *bn, int training, size_t N, size_t P, const double *x, const double *y,
                   const double *dy, const double *gamma, const double *mean, const double *invstd, double *dx,
                   double *dgamma, double *dbeta);

void gc_ref_pool_fwd(const gc_pool *p, size_t N, size_t C, size_t H, size_t W, const double *x, double *y, long *arg);
void gc_ref_pool_bwd(const gc_pool *p, size_t N, size_t C, size_t H, size_t W, const double *dy, const long *arg,
                     double *dx);
void gc_ref_gap_fwd(size_t N, size_t C, size_t P, const double *x, double *y);
void gc_ref_gap_bwd(size_t N, size_t C, size_t P, const double *dy, double *dx);

void gc_ref_relu_fwd(size_t n, const double *x, double *y);
void gc_ref_relu_bwd(size_t n, const double *y, const double *dy, double *dx);
void gc_ref_sigmoid_fwd(size_t n, const double *x, double *y);
void gc_ref_sigmoid_bwd(size_t n, const double *y, const double *dy, double *dx);
void gc_ref_chscale_fwd(size_t N, size_t C, size_t P, const double *x, const double *s, double *y);
void gc_ref_chscale_bwd(size_t N, size_t C, size_t P, const double *x, const double *s, const double *dy, double *dx,
                        double *ds);

void gc_ref_linear_fwd(size_t N, size_t IN, size_t OUT, const double *x, const double *w, const double *b, double *y);
void gc_ref_linear_bwd(size_t N, size_t IN, size_t OUT, const double *x, const double *w, const double *dy,
                       double *dx, double *dw, double *db);

/* mean loss over the batch; dz = d(mean loss)/dz (may be NULL); top-1/top-5 counts */
double gc_ref_xent(size_t N, size_t K, const double *z, const int *labels, double *dz, int *top1, int *top5);

/* norm: (N, P) */
void gc_ref_l2norm_fwd(size_t N, size_t C, size_t P, const double *x, const double *gamma, double eps, double *y,
                       double *norm);
void gc_ref_l2norm_bwd(size_t N, size_t C, size_t P, const double *x, const double *gamma, double eps,
                       const double *dy, double *dx, double *dgamma);

#ifdef __cplusplus
}
#endif
#endif
