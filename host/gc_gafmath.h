/* CPU reference of the GAF math in kernels/gafmath.cl (same source, compiled as C). */
#ifndef GC_GAFMATH_H
#define GC_GAFMATH_H
#ifdef __cplusplus
extern "C" {
#endif
float gc_ref_atanf(float x);
float gc_ref_tanhf(float x);
float gc_ref_log1pf(float x);
/* type: 0 none (identity), 1 arctan, 2 tanh, 3 log */
float gc_ref_gaf(int type, float alpha, float beta, float g);
#ifdef __cplusplus
}
#endif
#endif
