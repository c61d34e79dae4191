// Fast float32 atan, tanh and log1p for the fused optimizer updates, and the GAF itself.
//
// Only + - * /, fmin/fmax/fabs/copysign, selects and bit casts: no math built-in calls, which PoCL runs
// as scalar calls (a built-in atan made a fused update ~50x slower there); these vectorise. The same
// text is compiled as C by host/gafmath.c (the CPU reference), so device and reference compute the
// same operations in the same order. Accuracy against double-precision libm, measured by
// tests/test_gafmath.c over a dense sweep and the edge cases (+-0, denormals, huge, +-inf, NaN):
// see the README (the bound the tests enforce is 4 ulp).
//
// When compiled as C the includer defines GC_MATH_C and the helpers below map to C.
#ifndef GC_MATH_C
#pragma OPENCL FP_CONTRACT OFF
#define GC_FN static inline
#define GC_AS_UINT(x) as_uint(x)
#define GC_AS_FLOAT(u) as_float(u)
#endif

// atan: the SLEEF u35 form. s = min(a,1)/max(a,1) maps |x| > 1 to 1/|x|; atan(1/a) = pi/2 - atan(a).
GC_FN float gc_atanf(float x) {
  const float a = fabs(x);
  const float s = fmin(a, 1.0f) / fmax(a, 1.0f);
  const float t = s * s;
  float u = 0.00282363896258175373077393f;
  u = u * t + -0.0159569028764963150024414f;
  u = u * t + 0.0425049886107444763183594f;
  u = u * t + -0.0748900920152664184570312f;
  u = u * t + 0.106347933411598205566406f;
  u = u * t + -0.142027363181114196777344f;
  u = u * t + 0.199926957488059997558594f;
  u = u * t + -0.333331018686294555664062f;
  float r = s + s * (t * u);
  r = a > 1.0f ? 1.570796326794896557998982f - r : r;
  r = copysign(r, x);
  return a != a ? x : r; // NaN in, NaN out (fmin/fmax would drop it)
}

// tanh via expm1 (SLEEF u35 form): d = expm1(2|x|), tanh|x| = d / (2 + d); 1 beyond 8.664339742.
GC_FN float gc_tanhf(float x) {
  const float a = fabs(x);
  const float y = 2.0f * fmin(a, 9.0f);
  // q = round(y / ln 2) without a rint call: adding 1.5*2^23 rounds to an integer (y <= 18)
  const float q = (y * 1.442695040888963407359924681f + 12582912.0f) - 12582912.0f;
  const float s = (y - q * 0.693145751953125f) - q * 1.428606765330187045e-06f;
  float u = 1.98527617612853646e-4f;
  u = u * s + 1.39304355252534151e-3f;
  u = u * s + 8.33336077630519867e-3f;
  u = u * s + 4.16664853692054749e-2f;
  u = u * s + 0.166666671633720398f;
  u = u * s + 0.5f;
  u = (s * s) * u + s; // expm1(s)
  const int qi = (int)q;
  const float p2 = GC_AS_FLOAT((uint)(qi + 127) << 23); // 2^q, q in [0, 26]
  const float d = qi == 0 ? u : (u + 1.0f) * p2 - 1.0f;
  float r = d / (2.0f + d);
  r = a > 8.664339742f ? 1.0f : r;
  r = copysign(r, x);
  return a != a ? x : r;
}

// log1p (musl's log1pf, with the branches turned into selects). Exact for |x| < 2^-24; -inf at -1,
// NaN below -1 and for NaN; +inf at +inf.
GC_FN float gc_log1pf(float x) {
  const float ln2_hi = 6.9313812256e-01f, ln2_lo = 9.0580006145e-06f;
  const float Lg1 = 0.66666662693f, Lg2 = 0.40000972152f, Lg3 = 0.28498786688f, Lg4 = 0.24279078841f;
  const uint ix = GC_AS_UINT(x);
  // 1 + x in [sqrt(2)/2, sqrt(2)): no reduction (k = 0); otherwise reduce 1 + x = 2^k * (1 + f)
  const int near1 = (ix < 0x3ed413d0u) || (ix >= 0x80000000u && ix <= 0xbe95f619u);
  const float u1 = 1.0f + x;
  uint iu = GC_AS_UINT(u1) + (0x3f800000u - 0x3f3504f3u);
  const int kr = (int)(iu >> 23) - 0x7f;
  float c = kr >= 2 ? 1.0f - (u1 - x) : x - (u1 - 1.0f); // the rounding error of 1 + x
  c = kr < 25 ? c / u1 : 0.0f;
  iu = (iu & 0x007fffffu) + 0x3f3504f3u;
  const float fr = GC_AS_FLOAT(iu) - 1.0f;
  const float f = near1 ? x : fr;
  const float cc = near1 ? 0.0f : c;
  const float dk = near1 ? 0.0f : (float)kr;
  const float s = f / (2.0f + f);
  const float z = s * s;
  const float w = z * z;
  const float t1 = w * (Lg2 + w * Lg4);
  const float t2 = z * (Lg1 + w * Lg3);
  const float R = t2 + t1;
  const float hfsq = 0.5f * f * f;
  float r = s * (hfsq + R) + (dk * ln2_lo + cc) - hfsq + f + dk * ln2_hi;
  r = fabs(x) < 5.9604644775390625e-8f ? x : r; // |x| < 2^-24 (also keeps -0 and denormals exact)
  r = x == -1.0f ? -INFINITY : r;
  r = x < -1.0f ? NAN : r;
  r = x == INFINITY ? x : r;
  return x != x ? x : r;
}

// The gradient activation functions (gafcl's GC_GAF_* numbering): 1 arctan, 2 tanh, 3 log; 0 identity.
// log: alpha * sign(g) * log1p(|beta g|), with log1p (the official code's log(1 + x) is 0 below 2^-24).
GC_FN float gc_gaf(int type, float alpha, float beta, float g) {
  const float z = beta * g;
  if (type == 1) return alpha * gc_atanf(z);
  if (type == 2) return alpha * gc_tanhf(z);
  if (type == 3) return alpha * copysign(gc_log1pf(fabs(z)), z);
  return g;
}

// One parameter's update: the optimizer rules of gafcl (docs: README, "Optimizers"), shared by the
// fused kernel (kernels/optim.cl, where opt/gaf/pos/clip are compile-time constants) and the CPU
// reference. w, s1 (momentum buffer or Adam's m), s2 (Adam's v) are read and written in place.
//   opt: 0 SGD, 1 SGD-momentum, 2 Nesterov, 3 Adam (the official GAF code's form), 4 AdamW
//   gaf: 0 none, 1 arctan, 2 tanh, 3 log; pos: 0 on the raw gradient, 1 on the momentum direction
//   clip: 0 none, 1 value (clamp to +-clip_thr), 2 norm (multiply by clip_scale)
//   step: Adam lr*sqrt(1-b2^t)/(1-b1^t); AdamW lr/(1-b1^t). bc2s: AdamW sqrt(1-b2^t).
GC_FN void gc_update_elem(int opt, int gaf, int pos, int clip, float *w, float *s1, float *s2, float g, float wd,
                          float lr, float mu, float b2, float eps, float alpha, float beta, float clip_thr,
                          float clip_scale, float step, float bc2s, int first) {
  if (clip == 1) g = fmin(fmax(g, -clip_thr), clip_thr);
  if (clip == 2) g = g * clip_scale;
  const float wv = *w;
  if (opt <= 2) {
    float d = pos == 0 ? gc_gaf(gaf, alpha, beta, g) : g;
    d = d + wd * wv;
    float upd = d;
    if (opt >= 1) {
      const float b = first ? d : mu * *s1 + d;
      *s1 = b;
      upd = opt == 2 ? d + mu * b : b;
    }
    if (pos == 1) upd = gc_gaf(gaf, alpha, beta, upd);
    *w = wv - lr * upd;
  } else if (opt == 3) {
    const float d = gc_gaf(gaf, alpha, beta, g) + wd * wv; // coupled L2 after the GAF
    const float m = mu * *s1 + (1.0f - mu) * d;
    const float v = b2 * *s2 + (1.0f - b2) * (d * d);
    *s1 = m;
    *s2 = v;
    *w = wv - step * (m / (sqrt(v) + eps)); // eps on the uncorrected sqrt(v), as the official code
  } else {
    const float wdec = wv * (1.0f - lr * wd); // decoupled weight decay (torch.optim.AdamW)
    const float d = gc_gaf(gaf, alpha, beta, g);
    const float m = mu * *s1 + (1.0f - mu) * d;
    const float v = b2 * *s2 + (1.0f - b2) * (d * d);
    *s1 = m;
    *s2 = v;
    *w = wdec - step * (m / (sqrt(v) / bc2s + eps));
  }
}
