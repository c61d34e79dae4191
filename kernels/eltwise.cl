// Element-wise vector kernels: fill, copy, scale, axpy.
// Every buffer argument comes with an element offset, so the kernels work on views into arenas.
// One work-item per element; the host rounds the global size up to a multiple of GC_WG, so every
// kernel guards its index. GC_WG (work-group size) is set by the host with -D.
#pragma OPENCL FP_CONTRACT OFF

#ifndef GC_WG
#define GC_WG 64
#endif

// y[i] = value
__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void eltwise_fill(__global float *y, ulong y_off, uint n, float value) {
  const uint i = get_global_id(0);
  if (i < n) y[y_off + i] = value;
}

// y[i] = x[i]
__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void eltwise_copy(__global const float *x, ulong x_off, __global float *y, ulong y_off, uint n) {
  const uint i = get_global_id(0);
  if (i < n) y[y_off + i] = x[x_off + i];
}

// y[i] = a * y[i]
__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void eltwise_scale(__global float *y, ulong y_off, uint n, float a) {
  const uint i = get_global_id(0);
  if (i < n) y[y_off + i] = a * y[y_off + i];
}

// y[i] = a * x[i] + y[i]   (no fma contraction: the CPU reference rounds the product first)
__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void eltwise_axpy(__global const float *x, ulong x_off, __global float *y, ulong y_off, uint n, float a) {
  const uint i = get_global_id(0);
  if (i < n) {
    const float p = a * x[x_off + i];
    y[y_off + i] = p + y[y_off + i];
  }
}
