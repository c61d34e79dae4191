// The work-group probe, built when a context is created: a reduction with the work-group size (GC_WG)
// and the local memory (GC_LOCAL_FLOATS = 3 arrays of GC_WG floats, as the optimizer's statistics) of
// gafcl's kernels. The device's answers for this compiled kernel (CL_KERNEL_WORK_GROUP_SIZE,
// CL_KERNEL_LOCAL_MEM_SIZE) decide GC_WG: the host halves it until the device accepts it. Never launched.
#pragma OPENCL FP_CONTRACT OFF

#ifndef GC_WG
#define GC_WG 64
#endif

__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void probe_reduce(__global float *x, uint n) {
  __local float a[GC_WG];
  __local float b[GC_WG];
  __local float c[GC_WG];
  const uint l = get_local_id(0), i = get_global_id(0);
  const float v = i < n ? x[i] : 0.0f;
  a[l] = v;
  b[l] = v * v;
  c[l] = fabs(v);
  barrier(CLK_LOCAL_MEM_FENCE);
  for (uint s = GC_WG / 2; s > 0; s >>= 1) {
    if (l < s) {
      a[l] += a[l + s];
      b[l] += b[l + s];
      c[l] = fmax(c[l], c[l + s]);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (l == 0) x[get_group_id(0)] = a[0] + b[0] + c[0];
}
