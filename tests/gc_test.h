/* A minimal test harness: CHECK macros that count failures and print where, array comparison with
 * |a - r| <= atol + rtol*|r| that prints the first mismatches with their indices. */
#ifndef GC_TEST_H
#define GC_TEST_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int gc_test_failures;
static int gc_test_checks;

#define CHECK(cond)                                                                                      \
  do {                                                                                                   \
    gc_test_checks++;                                                                                    \
    if (!(cond)) {                                                                                       \
      gc_test_failures++;                                                                                \
      fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                                    \
    }                                                                                                    \
  } while (0)

/* A library call that must succeed; prints the recorded error when not. */
#define CHECK_OK(expr)                                                                                   \
  do {                                                                                                   \
    gc_test_checks++;                                                                                    \
    int st_ = (expr);                                                                                    \
    if (st_ != 0) {                                                                                      \
      gc_test_failures++;                                                                                \
      fprintf(stderr, "FAIL %s:%d: %s returned %s: %s\n", __FILE__, __LINE__, #expr, gc_status_name(st_),    \
              gc_last_error());                                                                          \
    }                                                                                                    \
  } while (0)

/* A library call that must fail with `code`. */
#define CHECK_STATUS(expr, code)                                                                         \
  do {                                                                                                   \
    gc_test_checks++;                                                                                    \
    int st_ = (expr);                                                                                    \
    if (st_ != (code)) {                                                                                 \
      gc_test_failures++;                                                                                \
      fprintf(stderr, "FAIL %s:%d: %s returned %s, expected %s (%s)\n", __FILE__, __LINE__, #expr,          \
              gc_status_name(st_), gc_status_name(code), gc_last_error());                               \
    }                                                                                                    \
  } while (0)

static inline int gc_test_close(const float *got, const float *want, size_t n, double atol, double rtol,
                                const char *what) {
  size_t bad = 0;
  double worst = 0.0;
  for (size_t i = 0; i < n; i++) {
    double r = want[i], a = got[i];
    double d = fabs(a - r);
    int ok = (isnan(r) && isnan(a)) || (isinf(r) && a == r) || d <= atol + rtol * fabs(r);
    if (!ok) {
      if (bad < 5) fprintf(stderr, "  %s[%zu] = %.9g, reference %.9g (|diff| %.3g)\n", what, i, a, r, d);
      bad++;
    }
    if (fabs(r) > 0 && d / fabs(r) > worst && !isnan(d)) worst = d / fabs(r);
  }
  gc_test_checks++;
  if (bad) {
    gc_test_failures++;
    fprintf(stderr, "FAIL %s: %zu of %zu elements outside atol %.3g rtol %.3g\n", what, bad, n, atol, rtol);
  }
  return bad == 0;
}

static inline int gc_test_summary(const char *name) {
  printf("%s: %d checks, %d failed\n", name, gc_test_checks, gc_test_failures);
  return gc_test_failures ? 1 : 0;
}

#ifdef GAFCL_H
/* The test device (GAFCL_DEVICE or the default rule), announced on stdout; NULL with the reason on stderr. */
static inline gc_ctx *gc_test_open(void) {
  gc_ctx *ctx = NULL;
  if (gc_ctx_create(&ctx, NULL) != 0) {
    fprintf(stderr, "no device: %s\n", gc_last_error());
    return NULL;
  }
  printf("device: %s\n", ctx->dev.name);
  return ctx;
}
#endif

/* Deterministic test data in [-1, 1). */
static inline float gc_test_rand(unsigned long long *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return (float)((double)(*s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}
#endif
