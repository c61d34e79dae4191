/* The fused-update math (kernels/gafmath.cl) compiled as C: the CPU reference of the GAF, with the same
 * operations in the same order as on the device. */
#include "gc_gafmath.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

typedef uint32_t uint;

static inline uint gc_as_uint(float f) {
  uint u;
  memcpy(&u, &f, sizeof u);
  return u;
}
static inline float gc_as_float(uint u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

#define GC_MATH_C 1
#define GC_FN static inline
#define GC_AS_UINT(x) gc_as_uint(x)
#define GC_AS_FLOAT(u) gc_as_float(u)
#define fabs fabsf
#define fmin fminf
#define fmax fmaxf
#define copysign copysignf
#define sqrt sqrtf
#include "../kernels/gafmath.cl"
#undef fabs
#undef sqrt
#undef fmin
#undef fmax
#undef copysign

float gc_ref_atanf(float x) { return gc_atanf(x); }
float gc_ref_tanhf(float x) { return gc_tanhf(x); }
float gc_ref_log1pf(float x) { return gc_log1pf(x); }
float gc_ref_gaf(int type, float alpha, float beta, float g) { return gc_gaf(type, alpha, beta, g); }

void gc_ref_update_elem(int opt, int gaf, int pos, int clip, float *w, float *s1, float *s2, float g, float wd,
                        float lr, float mu, float b2, float eps, float alpha, float beta, float clip_thr,
                        float clip_scale, float step, float bc2s, int first) {
  gc_update_elem(opt, gaf, pos, clip, w, s1, s2, g, wd, lr, mu, b2, eps, alpha, beta, clip_thr, clip_scale, step, bc2s,
                 first);
}
