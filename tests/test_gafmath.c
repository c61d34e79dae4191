/* The fast atan, tanh and log1p of kernels/gafmath.cl against double-precision libm: a dense sweep of
 * float inputs and the edge cases (+-0, denormals, +-huge, +-inf, NaN), on the CPU reference (the same
 * source compiled as C) and on the device, which must agree with the reference bit for bit.
 * Error bound enforced: 4 ulp (OpenCL's full profile allows atan/tanh 5 ulp, log1p 2 ulp). */
#include "gafcl.h"
#include "gc_test.h"

#include <float.h>
#include <stdint.h>

static double ulp_of(double r) {
  double a = fabs(r);
  if (a < FLT_MIN) return ldexp(1.0, -149);
  int e;
  frexp(a, &e); /* a = m * 2^e, m in [0.5, 1) */
  return ldexp(1.0, e - 24);
}

static float as_f(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}
static uint32_t as_u(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}

typedef float (*f32fn)(float);
typedef double (*f64fn)(double);

/* The inputs: every 2^11-th float bit pattern of both signs (about 4 million values across every
 * exponent), plus edge cases. `which` limits log1p to its domain (x >= -1). */
static size_t make_inputs(float **out, int which, int small) {
  size_t cap = 4300000, n = 0;
  float *x = malloc(cap * sizeof *x);
  uint32_t step = small ? (1u << 20) : (1u << 11);
  for (uint64_t u = 0; u < 0x7f800000u; u += step) {
    x[n++] = as_f((uint32_t)u);
    float neg = -as_f((uint32_t)u);
    if (which != 3 || neg >= -1.0f) x[n++] = neg;
  }
  const float edge[] = {0.0f, -0.0f, 1e-45f, -1e-45f, 1e-40f, -1e-40f, FLT_MIN, -FLT_MIN, 5.96e-8f, 1e-7f, 0.5f,
                        1.0f, -0.5f, 0.41421f, -0.29289f, 0.9999999f, 1.0000001f, 8.6643f, 8.6644f, 9.0f, 17.0f,
                        1e10f, -1e10f, FLT_MAX, -FLT_MAX, INFINITY, -INFINITY, NAN, -1.0f, -0.9999999f};
  for (size_t i = 0; i < sizeof edge / sizeof *edge; i++)
    if (which != 3 || !(edge[i] < -1.0f)) x[n++] = edge[i];
  *out = x;
  return n;
}

/* max ulp error of f against F over x; checks NaN/inf/sign behaviour exactly */
static double sweep(const char *name, f32fn f, f64fn F, const float *x, size_t n, const float *dev) {
  double worst = 0;
  float worst_x = 0;
  size_t special_bad = 0, dev_bad = 0;
  for (size_t i = 0; i < n; i++) {
    float got = f(x[i]);
    double ref = F((double)x[i]);
    if (dev && as_u(dev[i]) != as_u(got) && !(isnan(dev[i]) && isnan(got))) {
      if (dev_bad < 3) fprintf(stderr, "  %s(%a): device %a, reference %a\n", name, x[i], dev[i], got);
      dev_bad++;
    }
    if (isnan(ref) || isinf(ref) || ref == 0.0) {
      int ok = isnan(ref) ? isnan(got) : (got == (float)ref && !!signbit(got) == !!signbit(ref));
      if (!ok) {
        if (special_bad < 3) fprintf(stderr, "  %s(%a) = %a, expected %a\n", name, x[i], got, ref);
        special_bad++;
      }
      continue;
    }
    double e = fabs((double)got - ref) / ulp_of(ref);
    if (e > worst) {
      worst = e;
      worst_x = x[i];
    }
  }
  gc_test_checks += 3;
  if (special_bad) gc_test_failures++, fprintf(stderr, "FAIL %s: %zu special values wrong\n", name, special_bad);
  if (dev_bad) gc_test_failures++, fprintf(stderr, "FAIL %s: %zu device results differ from the reference\n", name, dev_bad);
  if (worst > 4.0) gc_test_failures++, fprintf(stderr, "FAIL %s: %.2f ulp at %a (bound 4)\n", name, worst, worst_x);
  printf("  %-6s %zu inputs: max error %.2f ulp (at %a)%s\n", name, n, worst, worst_x,
         dev ? ", device identical" : "");
  return worst;
}

static float *run_device(gc_ctx *ctx, const float *x, size_t n, int which) {
  gc_arena a;
  gc_tensor tx, ty;
  gc_arena_init(ctx, &a, "gafmath");
  CHECK_OK(gc_arena_reserve(&a, &tx, 1, &n));
  CHECK_OK(gc_arena_reserve(&a, &ty, 1, &n));
  CHECK_OK(gc_arena_commit(ctx, &a, 0));
  float *img = calloc(a.capacity, sizeof *img), *y = malloc(n * sizeof *y);
  memcpy(img + tx.offset, x, n * sizeof *x);
  gc_tensor whole;
  CHECK_OK(gc_arena_view(&a, &whole));
  CHECK_OK(gc_tensor_write(ctx, &whole, img, a.capacity));
  cl_device_fp_config fp = 0;
  clGetDeviceInfo(ctx->dev.device_id, CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, NULL);
  const char *opts = (fp & CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT) ? "-cl-fp32-correctly-rounded-divide-sqrt" : NULL;
  cl_kernel k;
  CHECK_OK(gc_kernel_get(ctx, "gafmath+optim", opts, "gafmath_eval", &k));
  CHECK_OK(gc_launch(ctx, k, "gafmath_eval", n, 0, 6,
                     (gc_karg[]){GC_KT(&tx), GC_KT(&ty), GC_KU32(n), GC_KU32(which)}));
  CHECK_OK(gc_tensor_read(ctx, &ty, y, n));
  free(img);
  gc_arena_release(&a);
  return y;
}

int main(int argc, char **argv) {
  int small = argc > 1 && !strcmp(argv[1], "--small");
  gc_ctx *ctx = gc_test_open();
  if (!ctx) return 1;
  const char *names[] = {"", "atan", "tanh", "log1p"};
  f32fn fs[] = {NULL, gc_ref_atanf, gc_ref_tanhf, gc_ref_log1pf};
  f64fn Fs[] = {NULL, atan, tanh, log1p};
  for (int which = 1; which <= 3; which++) {
    float *x;
    size_t n = make_inputs(&x, which, small);
    float *dev = run_device(ctx, x, n, which);
    sweep(names[which], fs[which], Fs[which], x, n, dev);
    free(dev);
    free(x);
  }
  /* the GAF itself: odd, monotonic, bounded, slope alpha*beta at 0, log keeps tiny gradients */
  CHECK(gc_ref_gaf(1, 0.1f, 20.0f, -0.3f) == -gc_ref_gaf(1, 0.1f, 20.0f, 0.3f));
  CHECK(gc_ref_gaf(1, 0.1f, 20.0f, 1e30f) <= 0.1f * 1.5707964f);
  CHECK(gc_ref_gaf(2, 0.1f, 20.0f, 1e30f) == 0.1f);
  CHECK(gc_ref_gaf(3, 0.1f, 20.0f, 1e-9f) > 0.0f); /* log(1 + x) would give 0 here */
  CHECK(fabs(gc_ref_gaf(3, 0.1f, 20.0f, 1e-9f) - 2e-9) < 1e-15);
  float prev = -INFINITY;
  int mono = 1;
  for (float g = -5.0f; g <= 5.0f; g += 0.001f) {
    float v = gc_ref_gaf(1, 0.2f, 10.0f, g);
    mono &= v >= prev;
    prev = v;
  }
  CHECK(mono);
  gc_ctx_free(ctx);
  return gc_test_summary("test_gafmath");
}
