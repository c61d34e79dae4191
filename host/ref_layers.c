/* CPU references of the layers in double precision (see gc_ref.h). Written for clarity, not speed. */
#include "gc_ref.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- convolution: direct loops ---- */

static void conv_out(const gc_conv *c, size_t H, size_t W, size_t *Ho, size_t *Wo) {
  *Ho = (H + 2 * (size_t)c->ph - (size_t)c->dh * (c->kh - 1) - 1) / c->sh + 1;
  *Wo = (W + 2 * (size_t)c->pw - (size_t)c->dw * (c->kw - 1) - 1) / c->sw + 1;
}

void gc_ref_conv_fwd(const gc_conv *c, size_t N, size_t H, size_t W, const double *x, const double *w,
                     const double *b, double *y) {
  size_t Ho, Wo;
  conv_out(c, H, W, &Ho, &Wo);
  size_t Ci = (size_t)c->c_in, Co = (size_t)c->c_out, KH = (size_t)c->kh, KW = (size_t)c->kw;
  size_t G = c->groups > 1 ? (size_t)c->groups : 1, Cg = Ci / G, Og = Co / G; /* input channels per group */
  for (size_t n = 0; n < N; n++)
    for (size_t o = 0; o < Co; o++)
      for (size_t oh = 0; oh < Ho; oh++)
        for (size_t ow = 0; ow < Wo; ow++) {
          double acc = c->bias && b ? b[o] : 0.0;
          for (size_t cg = 0; cg < Cg; cg++)
            for (size_t i = 0; i < KH; i++)
              for (size_t j = 0; j < KW; j++) {
                long ih = (long)(oh * c->sh + i * c->dh) - c->ph, iw = (long)(ow * c->sw + j * c->dw) - c->pw;
                if (ih < 0 || iw < 0 || ih >= (long)H || iw >= (long)W) continue;
                size_t ci = o / Og * Cg + cg;
                acc += x[((n * Ci + ci) * H + (size_t)ih) * W + (size_t)iw] * w[((o * Cg + cg) * KH + i) * KW + j];
              }
          y[((n * Co + o) * Ho + oh) * Wo + ow] = acc;
        }
}

void gc_ref_conv_bwd(const gc_conv *c, size_t N, size_t H, size_t W, const double *x, const double *w,
                     const double *dy, double *dx, double *dw, double *db) {
  size_t Ho, Wo;
  conv_out(c, H, W, &Ho, &Wo);
  size_t Ci = (size_t)c->c_in, Co = (size_t)c->c_out, KH = (size_t)c->kh, KW = (size_t)c->kw;
  size_t G = c->groups > 1 ? (size_t)c->groups : 1, Cg = Ci / G, Og = Co / G;
  if (dx) memset(dx, 0, N * Ci * H * W * sizeof *dx);
  for (size_t n = 0; n < N; n++)
    for (size_t o = 0; o < Co; o++)
      for (size_t oh = 0; oh < Ho; oh++)
        for (size_t ow = 0; ow < Wo; ow++) {
          double g = dy[((n * Co + o) * Ho + oh) * Wo + ow];
          if (db) db[o] += g;
          for (size_t cg = 0; cg < Cg; cg++)
            for (size_t i = 0; i < KH; i++)
              for (size_t j = 0; j < KW; j++) {
                long ih = (long)(oh * c->sh + i * c->dh) - c->ph, iw = (long)(ow * c->sw + j * c->dw) - c->pw;
                if (ih < 0 || iw < 0 || ih >= (long)H || iw >= (long)W) continue;
                size_t ci = o / Og * Cg + cg;
                size_t xi = ((n * Ci + ci) * H + (size_t)ih) * W + (size_t)iw, wi = ((o * Cg + cg) * KH + i) * KW + j;
                dw[wi] += g * x[xi];
                if (dx) dx[xi] += g * w[wi];
              }
        }
}

/* ---- batch norm ---- */

void gc_ref_bn_fwd(const gc_bn *bn, int training, size_t N, size_t P, const double *x, const double *gamma,
                   const double *beta, double *run_mean, double *run_var, double *mean, double *invstd, double *y) {
  size_t C = (size_t)bn->c, M = N * P;
  for (size_t c = 0; c < C; c++) {
    if (training) {
      double s = 0, v = 0;
      for (size_t n = 0; n < N; n++)
        for (size_t p = 0; p < P; p++) s += x[(n * C + c) * P + p];
      double mu = s / (double)M;
      for (size_t n = 0; n < N; n++)
        for (size_t p = 0; p < P; p++) {
          double d = x[(n * C + c) * P + p] - mu;
          v += d * d;
        }
      mean[c] = mu;
      invstd[c] = 1.0 / sqrt(v / (double)M + (double)bn->eps);
      run_mean[c] = (1.0 - bn->momentum) * run_mean[c] + bn->momentum * mu;
      run_var[c] = (1.0 - bn->momentum) * run_var[c] + bn->momentum * (M > 1 ? v / (double)(M - 1) : v);
    } else {
      mean[c] = run_mean[c];
      invstd[c] = 1.0 / sqrt(run_var[c] + (double)bn->eps);
    }
    for (size_t n = 0; n < N; n++)
      for (size_t p = 0; p < P; p++) {
        size_t i = (n * C + c) * P + p;
        double v = gamma[c] * (x[i] - mean[c]) * invstd[c] + beta[c];
        y[i] = bn->relu && v < 0 ? 0.0 : v;
      }
  }
}

void gc_ref_bn_bwd(const gc_bn *bn, int training, size_t N, size_t P, const double *x, const double *y,
                   const double *dy, const double *gamma, const double *mean, const double *invstd, double *dx,
                   double *dgamma, double *dbeta) {
  size_t C = (size_t)bn->c;
  double M = (double)(N * P);
  for (size_t c = 0; c < C; c++) {
    double s0 = 0, s1 = 0;
    for (size_t n = 0; n < N; n++)
      for (size_t p = 0; p < P; p++) {
        size_t i = (n * C + c) * P + p;
        double g = bn->relu && !(y[i] > 0) ? 0.0 : dy[i];
        s0 += g;
        s1 += g * (x[i] - mean[c]) * invstd[c];
      }
    dgamma[c] += s1;
    dbeta[c] += s0;
    for (size_t n = 0; n < N; n++)
      for (size_t p = 0; p < P; p++) {
        size_t i = (n * C + c) * P + p;
        double g = bn->relu && !(y[i] > 0) ? 0.0 : dy[i];
        double xh = (x[i] - mean[c]) * invstd[c];
        dx[i] = training ? gamma[c] * invstd[c] * (g - s0 / M - xh * s1 / M) : gamma[c] * invstd[c] * g;
      }
  }
}

/* ---- pooling ---- */

static void pool_out(const gc_pool *p, size_t H, size_t W, size_t *Ho, size_t *Wo) {
  gc_pool_out(p, H, W, Ho, Wo);
}

void gc_ref_pool_fwd(const gc_pool *p, size_t N, size_t C, size_t H, size_t W, const double *x, double *y, long *arg) {
  size_t Ho, Wo;
  pool_out(p, H, W, &Ho, &Wo);
  for (size_t nc = 0; nc < N * C; nc++)
    for (size_t oh = 0; oh < Ho; oh++)
      for (size_t ow = 0; ow < Wo; ow++) {
        double best = -INFINITY, acc = 0;
        long bi = -1;
        for (long i = 0; i < p->kh; i++)
          for (long j = 0; j < p->kw; j++) {
            long h = (long)oh * p->sh - p->ph + i, w = (long)ow * p->sw - p->pw + j;
            if (h < 0 || w < 0 || h >= (long)H || w >= (long)W) continue;
            double v = x[nc * H * W + (size_t)h * W + (size_t)w];
            acc += v;
            if (bi < 0 || v > best || isnan(v)) {
              best = v;
              bi = h * (long)W + w;
            }
          }
        size_t o = nc * Ho * Wo + oh * Wo + ow;
        y[o] = p->max ? best : acc / (double)(p->kh * p->kw);
        if (p->max && arg) arg[o] = bi;
      }
}

void gc_ref_pool_bwd(const gc_pool *p, size_t N, size_t C, size_t H, size_t W, const double *dy, const long *arg,
                     double *dx) {
  size_t Ho, Wo;
  pool_out(p, H, W, &Ho, &Wo);
  memset(dx, 0, N * C * H * W * sizeof *dx);
  for (size_t nc = 0; nc < N * C; nc++)
    for (size_t oh = 0; oh < Ho; oh++)
      for (size_t ow = 0; ow < Wo; ow++) {
        size_t o = nc * Ho * Wo + oh * Wo + ow;
        if (p->max) {
          if (arg[o] >= 0) dx[nc * H * W + (size_t)arg[o]] += dy[o];
          continue;
        }
        for (long i = 0; i < p->kh; i++)
          for (long j = 0; j < p->kw; j++) {
            long h = (long)oh * p->sh - p->ph + i, w = (long)ow * p->sw - p->pw + j;
            if (h < 0 || w < 0 || h >= (long)H || w >= (long)W) continue;
            dx[nc * H * W + (size_t)h * W + (size_t)w] += dy[o] / (double)(p->kh * p->kw);
          }
      }
}

void gc_ref_gap_fwd(size_t N, size_t C, size_t P, const double *x, double *y) {
  for (size_t i = 0; i < N * C; i++) {
    double s = 0;
    for (size_t p = 0; p < P; p++) s += x[i * P + p];
    y[i] = s / (double)P;
  }
}

void gc_ref_gap_bwd(size_t N, size_t C, size_t P, const double *dy, double *dx) {
  for (size_t i = 0; i < N * C; i++)
    for (size_t p = 0; p < P; p++) dx[i * P + p] = dy[i] / (double)P;
}

/* ---- element-wise ---- */

void gc_ref_relu_fwd(size_t n, const double *x, double *y) {
  for (size_t i = 0; i < n; i++) y[i] = x[i] < 0 ? 0.0 : x[i];
}
void gc_ref_relu_bwd(size_t n, const double *y, const double *dy, double *dx) {
  for (size_t i = 0; i < n; i++) dx[i] = y[i] > 0 ? dy[i] : 0.0;
}
void gc_ref_sigmoid_fwd(size_t n, const double *x, double *y) {
  for (size_t i = 0; i < n; i++) y[i] = 1.0 / (1.0 + exp(-x[i]));
}
void gc_ref_sigmoid_bwd(size_t n, const double *y, const double *dy, double *dx) {
  for (size_t i = 0; i < n; i++) dx[i] = dy[i] * y[i] * (1.0 - y[i]);
}
void gc_ref_chscale_fwd(size_t N, size_t C, size_t P, const double *x, const double *s, double *y) {
  for (size_t i = 0; i < N * C * P; i++) y[i] = x[i] * s[i / P];
}
void gc_ref_chscale_bwd(size_t N, size_t C, size_t P, const double *x, const double *s, const double *dy, double *dx,
                        double *ds) {
  for (size_t i = 0; i < N * C; i++) {
    double acc = 0;
    for (size_t p = 0; p < P; p++) {
      dx[i * P + p] = dy[i * P + p] * s[i];
      acc += dy[i * P + p] * x[i * P + p];
    }
    ds[i] = acc;
  }
}

/* ---- linear ---- */

void gc_ref_linear_fwd(size_t N, size_t IN, size_t OUT, const double *x, const double *w, const double *b, double *y) {
  for (size_t n = 0; n < N; n++)
    for (size_t o = 0; o < OUT; o++) {
      double acc = b ? b[o] : 0.0;
      for (size_t i = 0; i < IN; i++) acc += x[n * IN + i] * w[o * IN + i];
      y[n * OUT + o] = acc;
    }
}

void gc_ref_linear_bwd(size_t N, size_t IN, size_t OUT, const double *x, const double *w, const double *dy,
                       double *dx, double *dw, double *db) {
  for (size_t n = 0; n < N; n++)
    for (size_t i = 0; i < IN; i++) {
      double acc = 0;
      for (size_t o = 0; o < OUT; o++) acc += dy[n * OUT + o] * w[o * IN + i];
      if (dx) dx[n * IN + i] = acc;
    }
  for (size_t o = 0; o < OUT; o++) {
    for (size_t i = 0; i < IN; i++) {
      double acc = 0;
      for (size_t n = 0; n < N; n++) acc += dy[n * OUT + o] * x[n * IN + i];
      dw[o * IN + i] += acc;
    }
    if (db)
      for (size_t n = 0; n < N; n++) db[o] += dy[n * OUT + o];
  }
}

/* ---- softmax cross-entropy ---- */

double gc_ref_xent(size_t N, size_t K, const double *z, const int *labels, double *dz, int *top1, int *top5) {
  double loss = 0;
  int t1 = 0, t5 = 0;
  for (size_t n = 0; n < N; n++) {
    const double *r = z + n * K;
    double m = r[0], s = 0;
    for (size_t k = 1; k < K; k++) m = r[k] > m ? r[k] : m;
    for (size_t k = 0; k < K; k++) s += exp(r[k] - m);
    int l = labels[n];
    loss += -(r[l] - m - log(s));
    size_t rank = 0;
    for (size_t k = 0; k < K; k++) rank += r[k] > r[l] || (r[k] == r[l] && (int)k < l) || isnan(r[k]) || isnan(r[l]);
    if (isnan(r[l])) rank = K + 5;
    t1 += rank < 1;
    t5 += rank < 5;
    if (dz)
      for (size_t k = 0; k < K; k++) dz[n * K + k] = (exp(r[k] - m) / s - ((int)k == l ? 1.0 : 0.0)) / (double)N;
  }
  if (top1) *top1 = t1;
  if (top5) *top5 = t5;
  return loss / (double)N;
}

/* ---- L2Norm ---- */

void gc_ref_l2norm_fwd(size_t N, size_t C, size_t P, const double *x, const double *gamma, double eps, double *y,
                       double *norm) {
  for (size_t n = 0; n < N; n++)
    for (size_t p = 0; p < P; p++) {
      double ss = 0;
      for (size_t c = 0; c < C; c++) ss += x[(n * C + c) * P + p] * x[(n * C + c) * P + p];
      double s = sqrt(ss);
      if (norm) norm[n * P + p] = s;
      for (size_t c = 0; c < C; c++) y[(n * C + c) * P + p] = gamma[c] * x[(n * C + c) * P + p] / (s + eps);
    }
}

void gc_ref_l2norm_bwd(size_t N, size_t C, size_t P, const double *x, const double *gamma, double eps,
                       const double *dy, double *dx, double *dgamma) {
  for (size_t n = 0; n < N; n++)
    for (size_t p = 0; p < P; p++) {
      double ss = 0, t = 0;
      for (size_t c = 0; c < C; c++) {
        size_t i = (n * C + c) * P + p;
        ss += x[i] * x[i];
        t += gamma[c] * dy[i] * x[i];
      }
      double s = sqrt(ss), d = s + eps, k = s > 0 ? t / (d * d * s) : 0.0;
      for (size_t c = 0; c < C; c++) {
        size_t i = (n * C + c) * P + p;
        dx[i] = gamma[c] * dy[i] / d - x[i] * k;
        dgamma[c] += dy[i] * x[i] / d;
      }
    }
}
