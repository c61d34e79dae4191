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
/* one parameter's update, as the fused kernel does it (kernels/gafmath.cl, gc_update_elem) */
void gc_ref_update_elem(int opt, int gaf, int pos, int clip, float *w, float *s1, float *s2, float g, float wd,
                        float lr, float mu, float b2, float eps, float alpha, float beta, float clip_thr,
                        float clip_scale, float step, float bc2s, int first);
#ifdef __cplusplus
}
#endif
#endif
