/* Helpers for the layer tests: a set of device tensors uploaded in one transfer, float/double
 * conversion, device-vs-reference comparison that records the largest relative error, and central
 * differences on the double-precision CPU reference. */
#ifndef LAYER_UTIL_H
#define LAYER_UTIL_H
#include "gafcl.h"
#include "gc_test.h"

#define TS_MAX 48
typedef struct tset {
  gc_arena ar;
  int n;
  gc_tensor t[TS_MAX];
  float *h[TS_MAX];
} tset;

static void ts_init(gc_ctx *ctx, tset *s) {
  memset(s, 0, sizeof *s);
  gc_arena_init(ctx, &s->ar, "layer-test");
}

/* Reserve a tensor with initial contents (copied) or zeros. */
static gc_tensor *ts_add(tset *s, int ndim, const size_t *dims, const float *init) {
  if (s->n >= TS_MAX) abort();
  gc_tensor *t = &s->t[s->n];
  CHECK_OK(gc_arena_reserve(&s->ar, t, ndim, dims));
  size_t n = gc_tensor_numel(t);
  s->h[s->n] = calloc(n ? n : 1, sizeof(float));
  if (init) memcpy(s->h[s->n], init, n * sizeof(float));
  s->n++;
  return t;
}
#define TS4(s, a, b, c, d, init) ts_add((s), 4, (size_t[]){(a), (b), (c), (d)}, (init))
#define TS1(s, a, init) ts_add((s), 1, (size_t[]){(a)}, (init))
#define TS2(s, a, b, init) ts_add((s), 2, (size_t[]){(a), (b)}, (init))

/* Upload every tensor's host contents with one whole-arena write (Oclgrind 21.10 mis-tracks the
 * initialised state after writes at an offset, so tests never write part of a buffer). */
static void ts_upload(gc_ctx *ctx, tset *s) {
  float *img = calloc(s->ar.capacity, sizeof *img);
  for (int i = 0; i < s->n; i++) memcpy(img + s->t[i].offset, s->h[i], gc_tensor_numel(&s->t[i]) * sizeof *img);
  gc_tensor whole;
  CHECK_OK(gc_arena_view(&s->ar, &whole));
  CHECK_OK(gc_tensor_write(ctx, &whole, img, s->ar.capacity));
  free(img);
}

static void ts_commit(gc_ctx *ctx, tset *s) {
  CHECK_OK(gc_arena_commit(ctx, &s->ar, 0));
  ts_upload(ctx, s);
}

static void ts_free(tset *s) {
  for (int i = 0; i < s->n; i++) free(s->h[i]);
  gc_arena_release(&s->ar);
}

/* Read a (possibly strided) NCHW view into a dense host array. */
static float *ts_read(gc_ctx *ctx, const gc_tensor *t) {
  size_t n = gc_tensor_numel(t);
  float *out = malloc(n * sizeof *out);
  if (gc_tensor_dense(t)) {
    gc_tensor d = *t;
    d.nstride = 0;
    CHECK_OK(gc_tensor_read(ctx, &d, out, n));
  } else {
    size_t inner = n / t->dim[0];
    for (size_t b = 0; b < t->dim[0]; b++) {
      gc_tensor one = *t;
      one.offset = t->offset + b * t->nstride;
      one.nstride = 0;
      one.ndim = 1;
      one.dim[0] = inner;
      CHECK_OK(gc_tensor_read(ctx, &one, out + b * inner, inner));
    }
  }
  return out;
}

static float *rand_f(size_t n, unsigned long long seed, float scale) {
  float *v = malloc((n ? n : 1) * sizeof *v);
  unsigned long long s = seed * 2654435761ull + 1;
  for (size_t i = 0; i < n; i++) v[i] = scale * gc_test_rand(&s);
  return v;
}

static double *to_d(const float *f, size_t n) {
  double *d = malloc((n ? n : 1) * sizeof *d);
  for (size_t i = 0; i < n; i++) d[i] = f[i];
  return d;
}

static double *zeros_d(size_t n) { return calloc(n ? n : 1, sizeof(double)); }

/* Largest relative error seen per check name (for the summary). */
static struct {
  char name[64];
  double worst;
} g_err[256];
static int g_nerr;

static void note_err(const char *name, double rel) {
  int i;
  for (i = 0; i < g_nerr; i++)
    if (!strcmp(g_err[i].name, name)) break;
  if (i == g_nerr && g_nerr < 256) {
    snprintf(g_err[g_nerr].name, sizeof g_err[0].name, "%s", name);
    g_err[g_nerr++].worst = 0;
  }
  if (i < 256 && rel > g_err[i].worst) g_err[i].worst = rel;
}

/* Device (float) vs reference (double): |d - r| <= atol + rtol*|r| element-wise; records the largest
 * |d - r| / max(|r|, scale) where scale is the largest |r| / 1000 (a relative error that ignores
 * elements far below the tensor's magnitude). */
static int cmp_dr(const char *group, const char *what, const float *d, const double *r, size_t n, double atol,
                  double rtol) {
  size_t bad = 0;
  double big = 0, worst = 0;
  for (size_t i = 0; i < n; i++) big = fabs(r[i]) > big ? fabs(r[i]) : big;
  for (size_t i = 0; i < n; i++) {
    double diff = fabs((double)d[i] - r[i]);
    double den = fabs(r[i]) > big * 1e-3 ? fabs(r[i]) : big * 1e-3;
    if (den > 0 && diff / den > worst) worst = diff / den;
    if (!(diff <= atol + rtol * fabs(r[i]))) {
      if (bad < 4) fprintf(stderr, "  %s %s[%zu]: device %.9g reference %.9g\n", group, what, i, d[i], r[i]);
      bad++;
    }
  }
  note_err(group, worst);
  gc_test_checks++;
  if (bad) {
    gc_test_failures++;
    fprintf(stderr, "FAIL %s %s: %zu of %zu elements off (atol %g rtol %g)\n", group, what, bad, n, atol, rtol);
  }
  return bad == 0;
}

/* Central differences of loss() with respect to p[0..n) against the analytic gradient g: every element
 * when n <= 48, else 48 spread over the array. */
typedef double (*loss_fn)(void *ud);
static int fd_check(const char *what, loss_fn loss, void *ud, double *p, size_t n, const double *g) {
  size_t step = n <= 48 ? 1 : n / 48, bad = 0;
  double worst = 0;
  for (size_t i = 0; i < n; i += step) {
    double save = p[i], h = 1e-6 * (fabs(save) > 1 ? fabs(save) : 1.0);
    p[i] = save + h;
    double lp = loss(ud);
    p[i] = save - h;
    double lm = loss(ud);
    p[i] = save;
    double num = (lp - lm) / (2 * h);
    double diff = fabs(num - g[i]);
    if (diff / (1e-3 + fabs(num)) > worst) worst = diff / (1e-3 + fabs(num));
    if (!(diff <= 1e-6 + 1e-5 * fabs(num))) {
      if (bad < 4) fprintf(stderr, "  fd %s[%zu]: numeric %.12g analytic %.12g\n", what, i, num, g[i]);
      bad++;
    }
  }
  gc_test_checks++;
  if (bad) {
    gc_test_failures++;
    fprintf(stderr, "FAIL finite differences %s: %zu elements off\n", what, bad);
  }
  return bad == 0;
}

static double dot(const double *a, const double *b, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}
#endif
