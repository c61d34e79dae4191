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
#include "../kernels/gafmath.cl"
#undef fabs
#undef fmin
#undef fmax
#undef copysign

float gc_ref_atanf(float x) { return gc_atanf(x); }
float gc_ref_tanhf(float x) { return gc_tanhf(x); }
float gc_ref_log1pf(float x) { return gc_log1pf(x); }
float gc_ref_gaf(int type, float alpha, float beta, float g) { return gc_gaf(type, alpha, beta, g); }
