// Batch normalisation over (N, H, W) per channel, with an optional fused ReLU.
// x (N, C, P=H*W) with images x_ns elements apart (x may be a channel range of a concatenation buffer).
// Per-channel statistics are reduced by one work-group per channel in a fixed order (deterministic for a
// given GC_WG, which must be a power of two). Mean first, then the mean of squared deviations (two
// passes: no catastrophic cancellation).
#pragma OPENCL FP_CONTRACT OFF

#ifndef GC_WG
#define GC_WG 64
#endif

// Training statistics: mean[c], invstd[c] = 1/sqrt(var_biased + eps), and the running statistics
// (PyTorch: running = (1 - momentum)*running + momentum*batch, with the unbiased variance).
__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void bn_stats(__global const float *x, ulong x_off, uint x_ns, uint N, uint P,
              __global float *mean, ulong mean_off, __global float *invstd, ulong invstd_off,
              __global float *run_mean, ulong rm_off, __global float *run_var, ulong rv_off, float momentum,
              float eps) {
  __local float sh[GC_WG];
  const uint c = get_group_id(0), lid = get_local_id(0);
  const uint M = N * P;
  float acc = 0.0f;
  for (uint i = lid; i < M; i += GC_WG) acc += x[x_off + (ulong)(i / P) * x_ns + (ulong)c * P + i % P];
  sh[lid] = acc;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (uint s = GC_WG / 2; s > 0; s >>= 1) {
    if (lid < s) sh[lid] += sh[lid + s];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  const float mu = sh[0] / (float)M;
  barrier(CLK_LOCAL_MEM_FENCE);
  acc = 0.0f;
  for (uint i = lid; i < M; i += GC_WG) {
    const float d = x[x_off + (ulong)(i / P) * x_ns + (ulong)c * P + i % P] - mu;
    acc += d * d;
  }
  sh[lid] = acc;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (uint s = GC_WG / 2; s > 0; s >>= 1) {
    if (lid < s) sh[lid] += sh[lid + s];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (lid == 0) {
    const float var = sh[0] / (float)M;
    mean[mean_off + c] = mu;
    invstd[invstd_off + c] = 1.0f / sqrt(var + eps);
    const float unbiased = M > 1 ? sh[0] / (float)(M - 1) : var;
    run_mean[rm_off + c] = (1.0f - momentum) * run_mean[rm_off + c] + momentum * mu;
    run_var[rv_off + c] = (1.0f - momentum) * run_var[rv_off + c] + momentum * unbiased;
  }
}

// Inference: the normalisation uses the running statistics.
__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void bn_infer_params(__global const float *run_mean, ulong rm_off, __global const float *run_var, ulong rv_off,
                     uint C, float eps, __global float *mean, ulong mean_off, __global float *invstd,
                     ulong invstd_off) {
  const uint c = get_global_id(0);
  if (c >= C) return;
  mean[mean_off + c] = run_mean[rm_off + c];
  invstd[invstd_off + c] = 1.0f / sqrt(run_var[rv_off + c] + eps);
}

// y = gamma * (x - mean) * invstd + beta, then max(y, 0) when relu.
__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void bn_fwd(__global const float *x, ulong x_off, uint x_ns, __global float *y, ulong y_off, uint y_ns,
            __global const float *mean, ulong mean_off, __global const float *invstd, ulong invstd_off,
            __global const float *gamma, ulong g_off, __global const float *beta, ulong b_off, uint N, uint C, uint P,
            uint relu) {
  const uint gid = get_global_id(0);
  if (gid >= N * C * P) return;
  const uint p = gid % P, c = (gid / P) % C, n = gid / (P * C);
  const float xh = (x[x_off + (ulong)n * x_ns + (ulong)c * P + p] - mean[mean_off + c]) * invstd[invstd_off + c];
  float v = gamma[g_off + c] * xh + beta[b_off + c];
  if (relu && v < 0.0f) v = 0.0f; /* NaN stays NaN, as in PyTorch */
  y[y_off + (ulong)n * y_ns + (ulong)c * P + p] = v;
}

// Per channel: sums[c] = sum dyr, sums[C + c] = sum dyr * xhat, with dyr = dy masked by y > 0 when relu;
// dgamma[c] += sums[C + c], dbeta[c] += sums[c].
__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void bn_bwd_reduce(__global const float *x, ulong x_off, uint x_ns, __global const float *y, ulong y_off, uint y_ns,
                   __global const float *dy, ulong dy_off, uint dy_ns,
                   __global const float *mean, ulong mean_off, __global const float *invstd, ulong invstd_off,
                   uint N, uint C, uint P, uint relu, __global float *sums, ulong sums_off, __global float *dgamma,
                   ulong dg_off, __global float *dbeta, ulong db_off) {
  __local float sh0[GC_WG];
  __local float sh1[GC_WG];
  const uint c = get_group_id(0), lid = get_local_id(0);
  const uint M = N * P;
  const float mu = mean[mean_off + c], is = invstd[invstd_off + c];
  float a0 = 0.0f, a1 = 0.0f;
  for (uint i = lid; i < M; i += GC_WG) {
    const uint n = i / P, p = i % P;
    float g = dy[dy_off + (ulong)n * dy_ns + (ulong)c * P + p];
    if (relu && !(y[y_off + (ulong)n * y_ns + (ulong)c * P + p] > 0.0f)) g = 0.0f;
    const float xh = (x[x_off + (ulong)n * x_ns + (ulong)c * P + p] - mu) * is;
    a0 += g;
    a1 += g * xh;
  }
  sh0[lid] = a0;
  sh1[lid] = a1;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (uint s = GC_WG / 2; s > 0; s >>= 1) {
    if (lid < s) {
      sh0[lid] += sh0[lid + s];
      sh1[lid] += sh1[lid + s];
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (lid == 0) {
    sums[sums_off + c] = sh0[0];
    sums[sums_off + C + c] = sh1[0];
    dgamma[dg_off + c] = dgamma[dg_off + c] + sh1[0];
    dbeta[db_off + c] = dbeta[db_off + c] + sh0[0];
  }
}

// dx (+)= gamma * invstd * (dyr - sum_dy/M - xhat * sum_dyxhat/M)   (training)
// dx (+)= gamma * invstd * dyr                                    (inference statistics)
__kernel __attribute__((reqd_work_group_size(GC_WG, 1, 1)))
void bn_bwd_dx(__global const float *x, ulong x_off, uint x_ns, __global const float *y, ulong y_off, uint y_ns,
               __global const float *dy, ulong dy_off, uint dy_ns, __global float *dx, ulong dx_off, uint dx_ns,
               __global const float *mean, ulong mean_off, __global const float *invstd, ulong invstd_off,
               __global const float *gamma, ulong g_off, __global const float *sums, ulong sums_off,
               uint N, uint C, uint P, uint relu, uint training, uint accumulate) {
  const uint gid = get_global_id(0);
  if (gid >= N * C * P) return;
  const uint p = gid % P, c = (gid / P) % C, n = gid / (P * C);
  float g = dy[dy_off + (ulong)n * dy_ns + (ulong)c * P + p];
  if (relu && !(y[y_off + (ulong)n * y_ns + (ulong)c * P + p] > 0.0f)) g = 0.0f;
  const float is = invstd[invstd_off + c];
  float v;
  if (training) {
    const float M = (float)(N * P);
    const float xh = (x[x_off + (ulong)n * x_ns + (ulong)c * P + p] - mean[mean_off + c]) * is;
    v = gamma[g_off + c] * is * (g - sums[sums_off + c] / M - xh * (sums[sums_off + C + c] / M));
  } else {
    v = gamma[g_off + c] * is * g;
  }
  const ulong o = dx_off + (ulong)n * dx_ns + (ulong)c * P + p;
  dx[o] = accumulate ? dx[o] + v : v;
}
