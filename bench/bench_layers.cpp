// Layer benchmarks: convolution forward (both lowerings, and CLBlast's own convgemm), the weight-gradient
// pass and the full backward pass on the ResNet-18 CIFAR layer shapes, next to the bare CLBlast SGEMM of
// the same M, N, K, all event-timed in one run; batch norm and pooling. GAFCL_BENCH_BATCH sets the batch
// (default 16: a size PoCL runs in reasonable time).
#include "bench_common.h"

#include <clblast_c.h>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

static size_t g_batch = 16;

struct Shape {
  const char *name;
  int cin, cout, k, stride, pad, hw;
};
// ResNet-18 (CIFAR form): every distinct convolution of one iteration
static const Shape kShapes[] = {
    {"conv1_3x3_3-64_32", 3, 64, 3, 1, 1, 32},        {"layer1_3x3_64-64_32", 64, 64, 3, 1, 1, 32},
    {"layer2_3x3s2_64-128_32", 64, 128, 3, 2, 1, 32}, {"layer2_3x3_128-128_16", 128, 128, 3, 1, 1, 16},
    {"layer2_sc1x1s2_64-128_32", 64, 128, 1, 2, 0, 32}, {"layer3_3x3s2_128-256_16", 128, 256, 3, 2, 1, 16},
    {"layer3_3x3_256-256_8", 256, 256, 3, 1, 1, 8},   {"layer4_3x3s2_256-512_8", 256, 512, 3, 2, 1, 8},
    {"layer4_3x3_512-512_4", 512, 512, 3, 1, 1, 4},
};

struct ConvSetup {
  gc_conv c;
  gc_arena ar;
  gc_tensor x, w, y, dy, dx, dw, ws;
  size_t ho = 0, wo = 0;
  bool ok = false;
  explicit ConvSetup(const Shape &s) {
    c = gc_conv{s.cin, s.cout, s.k, s.k, s.stride, s.stride, s.pad, s.pad, 1, 1, 0, 1};
    gc_conv_out(&c, s.hw, s.hw, &ho, &wo);
    gc_arena_init(g_ctx, &ar, "bench");
    size_t n = g_batch, hw = s.hw;
    size_t xd[4] = {n, (size_t)s.cin, hw, hw}, yd[4] = {n, (size_t)s.cout, ho, wo};
    size_t wn = (size_t)s.cout * s.cin * s.k * s.k, wsn = gc_conv_workspace(g_ctx, &c, n, hw, hw);
    ok = gc_arena_reserve(&ar, &x, 4, xd) == 0 && gc_arena_reserve(&ar, &dx, 4, xd) == 0 &&
         gc_arena_reserve(&ar, &y, 4, yd) == 0 && gc_arena_reserve(&ar, &dy, 4, yd) == 0 &&
         gc_arena_reserve(&ar, &w, 1, &wn) == 0 && gc_arena_reserve(&ar, &dw, 1, &wn) == 0 &&
         gc_arena_reserve(&ar, &ws, 1, &wsn) == 0 && gc_arena_commit(g_ctx, &ar, 0) == 0;
    if (ok) ok = gc_fill(g_ctx, &x, 0.5f) == 0 && gc_fill(g_ctx, &w, 0.01f) == 0 && gc_fill(g_ctx, &dy, 0.1f) == 0;
  }
  ~ConvSetup() { gc_arena_release(&ar); }
  double flops() const { return 2.0 * c.c_out * c.c_in * c.kh * c.kw * (double)(g_batch * ho * wo); }
};

static void rate(benchmark::State &state, double flops) {
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// The forward pass with one algorithm of the table (host/conv.c).
static void BM_conv_fwd(benchmark::State &state, Shape s, int algo) {
  ConvSetup cs(s);
  if (!cs.ok) return state.SkipWithError(gc_last_error());
  if (gc_conv_algo_set(g_ctx, gc_conv_algo_name(algo)) != 0) return state.SkipWithError(gc_last_error());
  timed(state, [&] { return gc_conv_forward(g_ctx, &cs.c, &cs.x, &cs.w, nullptr, &cs.y, &cs.ws); });
  rate(state, cs.flops());
}

// The weight-gradient pass alone (dx not wanted): layout change of dy, im2col, split GEMM, partial sums.
static void BM_conv_wgrad(benchmark::State &state, Shape s, int algo) {
  ConvSetup cs(s);
  if (!cs.ok) return state.SkipWithError(gc_last_error());
  if (gc_conv_algo_set(g_ctx, gc_conv_algo_name(algo)) != 0) return state.SkipWithError(gc_last_error());
  timed(state, [&] { return gc_conv_backward(g_ctx, &cs.c, &cs.x, &cs.w, &cs.dy, nullptr, 0, &cs.dw, nullptr, &cs.ws); });
  rate(state, cs.flops());
}

// The data-gradient pass alone (dw not wanted).
static void BM_conv_dgrad(benchmark::State &state, Shape s, int algo) {
  ConvSetup cs(s);
  if (!cs.ok) return state.SkipWithError(gc_last_error());
  if (gc_conv_algo_set(g_ctx, gc_conv_algo_name(algo)) != 0) return state.SkipWithError(gc_last_error());
  timed(state, [&] { return gc_conv_backward(g_ctx, &cs.c, &cs.x, &cs.w, &cs.dy, &cs.dx, 0, nullptr, nullptr, &cs.ws); });
  rate(state, cs.flops());
}

// The bare SGEMM of the forward pass's shape: (Co x K) * (K x B*P), in buffers of its own.
static void BM_gemm_bare(benchmark::State &state, Shape s) {
  ConvSetup cs(s);
  if (!cs.ok) return state.SkipWithError(gc_last_error());
  size_t K = (size_t)s.cin * s.k * s.k, L = g_batch * cs.ho * cs.wo, bn = K * L, cn = (size_t)s.cout * L;
  gc_arena ar;
  gc_tensor b, c;
  gc_arena_init(g_ctx, &ar, "gemm operands");
  if (gc_arena_reserve(&ar, &b, 1, &bn) || gc_arena_reserve(&ar, &c, 1, &cn) || gc_arena_commit(g_ctx, &ar, 0) ||
      gc_fill(g_ctx, &b, 0.25f)) {
    gc_arena_release(&ar);
    return state.SkipWithError(gc_last_error());
  }
  gc_gemm_args g = {GC_ROW_MAJOR, 0, 0, (size_t)s.cout, L, K, 1.0f, 0.0f, {&cs.w, 0, K, 0}, {&b, 0, L, 0},
                    {&c, 0, L, 0}, 1};
  timed(state, [&] { return gc_gemm(g_ctx, &g); });
  rate(state, cs.flops());
  gc_arena_release(&ar);
}

// CLBlast's convgemm (its own fused im2col + GEMM), forward only, for comparison.
static void BM_conv_fwd_clblast(benchmark::State &state, Shape s) {
  ConvSetup cs(s);
  if (!cs.ok) return state.SkipWithError(gc_last_error());
  timed(state, [&] {
    cl_event ev = nullptr;
    CLBlastStatusCode r = CLBlastSconvgemm(CLBlastKernelModeCrossCorrelation, s.cin, s.hw, s.hw, s.k, s.k, s.pad, s.pad,
                                           s.stride, s.stride, 1, 1, s.cout, g_batch, cs.x.arena->buf, cs.x.offset,
                                           cs.w.arena->buf, cs.w.offset, cs.y.arena->buf, cs.y.offset, &g_ctx->queue,
                                           gc_event_slot(g_ctx, &ev));
    gc_track_event(g_ctx, ev);
    if (r != CLBlastSuccess) return gc_error_set((int)r, __FILE__, __LINE__, "CLBlastSconvgemm: %s", gc_status_name((int)r));
    return 0;
  });
  rate(state, cs.flops());
}

// Batch norm (+ReLU) and pooling on activation shapes of ResNet-18/50: memory-bound, so GB/s counts the
// bytes each pass must move at least (forward: x read, y written; backward: x, y, dy read, dx written).
struct MapShape {
  const char *name;
  int c, hw;
};
static const MapShape kMaps[] = {{"64x32x32", 64, 32}, {"256x8x8", 256, 8}, {"64x112x112", 64, 112}};

struct MapSetup {
  gc_arena ar;
  gc_tensor x, y, dy, dx, gamma, beta, rm, rv, sm, si, dg, db, ws, arg;
  size_t n = 0;
  bool ok = false;
  MapSetup(const MapShape &s, size_t ho, size_t wo) {
    gc_arena_init(g_ctx, &ar, "bench");
    size_t xd[4] = {g_batch, (size_t)s.c, (size_t)s.hw, (size_t)s.hw}, yd[4] = {g_batch, (size_t)s.c, ho, wo};
    size_t c = (size_t)s.c, c2 = 2 * c;
    n = g_batch * c * s.hw * s.hw;
    ok = gc_arena_reserve(&ar, &x, 4, xd) == 0 && gc_arena_reserve(&ar, &dx, 4, xd) == 0 &&
         gc_arena_reserve(&ar, &y, 4, yd) == 0 && gc_arena_reserve(&ar, &dy, 4, yd) == 0 &&
         gc_arena_reserve(&ar, &arg, 4, yd) == 0 && gc_arena_reserve(&ar, &gamma, 1, &c) == 0 &&
         gc_arena_reserve(&ar, &beta, 1, &c) == 0 && gc_arena_reserve(&ar, &rm, 1, &c) == 0 &&
         gc_arena_reserve(&ar, &rv, 1, &c) == 0 && gc_arena_reserve(&ar, &sm, 1, &c) == 0 &&
         gc_arena_reserve(&ar, &si, 1, &c) == 0 && gc_arena_reserve(&ar, &dg, 1, &c) == 0 &&
         gc_arena_reserve(&ar, &db, 1, &c) == 0 && gc_arena_reserve(&ar, &ws, 1, &c2) == 0 &&
         gc_arena_commit(g_ctx, &ar, 0) == 0;
    if (ok) ok = gc_fill(g_ctx, &x, 0.5f) == 0 && gc_fill(g_ctx, &gamma, 1.0f) == 0 && gc_fill(g_ctx, &beta, 0.0f) == 0 &&
                 gc_fill(g_ctx, &rv, 1.0f) == 0 && gc_fill(g_ctx, &rm, 0.0f) == 0 && gc_fill(g_ctx, &dy, 0.1f) == 0;
  }
  ~MapSetup() { gc_arena_release(&ar); }
};

static void bytes(benchmark::State &state, double b) {
  state.counters["GB/s"] = benchmark::Counter(b * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

static void BM_bn(benchmark::State &state, MapShape s, bool backward) {
  MapSetup m(s, s.hw, s.hw);
  if (!m.ok) return state.SkipWithError(gc_last_error());
  gc_bn bn = {s.c, 1e-5f, 0.1f, 1};
  auto fwd = [&] { return gc_bn_forward(g_ctx, &bn, 1, &m.x, &m.y, &m.gamma, &m.beta, &m.rm, &m.rv, &m.sm, &m.si); };
  if (!backward) {
    timed(state, fwd);
    return bytes(state, 8.0 * (double)m.n);
  }
  if (fwd() != 0) return state.SkipWithError(gc_last_error());
  timed(state, [&] {
    return gc_bn_backward(g_ctx, &bn, 1, &m.x, &m.y, &m.dy, &m.dx, 0, &m.gamma, &m.dg, &m.db, &m.sm, &m.si, &m.ws);
  });
  bytes(state, 16.0 * (double)m.n);
}

static void BM_pool(benchmark::State &state, MapShape s, bool max, bool backward) {
  gc_pool p = {max ? 1 : 0, 3, 3, 2, 2, 1, 1, 0};
  size_t ho = 0, wo = 0;
  gc_pool_out(&p, s.hw, s.hw, &ho, &wo);
  MapSetup m(s, ho, wo);
  if (!m.ok) return state.SkipWithError(gc_last_error());
  const gc_tensor *arg = max ? &m.arg : nullptr;
  double out = (double)m.n / ((double)s.hw * s.hw) * (double)(ho * wo);
  if (!backward) {
    timed(state, [&] { return gc_pool_forward(g_ctx, &p, &m.x, &m.y, arg); });
    return bytes(state, 4.0 * ((double)m.n + out * (max ? 2 : 1)));
  }
  if (gc_pool_forward(g_ctx, &p, &m.x, &m.y, arg) != 0) return state.SkipWithError(gc_last_error());
  timed(state, [&] { return gc_pool_backward(g_ctx, &p, &m.dy, arg, &m.dx, 0); });
  bytes(state, 4.0 * ((double)m.n + out * (max ? 2 : 1)));
}

void register_layers() {
  if (const char *b = std::getenv("GAFCL_BENCH_BATCH")) g_batch = std::strtoul(b, nullptr, 10);
  if (g_batch < 1) g_batch = 1;
  for (const Shape &s : kShapes) {
    std::string n = s.name;
    benchmark::RegisterBenchmark(("gemm_bare/" + n).c_str(), BM_gemm_bare, s)->UseManualTime()->Unit(benchmark::kMillisecond);
    // every algorithm of the table that runs the shape: conv_fwd_<algorithm>, conv_dgrad_<algorithm>, conv_wgrad_<algorithm>
    gc_conv c = {s.cin, s.cout, s.k, s.k, s.stride, s.stride, s.pad, s.pad, 1, 1, 0, 1};
    for (int a = 0; a < gc_conv_algo_count(); a++) {
      std::string an = gc_conv_algo_name(a);
      if (gc_conv_algo_supports(a, &c, GC_CONV_FORWARD))
        benchmark::RegisterBenchmark(("conv_fwd_" + an + "/" + n).c_str(), BM_conv_fwd, s, a)
            ->UseManualTime()->Unit(benchmark::kMillisecond);
      if (gc_conv_algo_supports(a, &c, GC_CONV_WGRAD))
        benchmark::RegisterBenchmark(("conv_wgrad_" + an + "/" + n).c_str(), BM_conv_wgrad, s, a)
            ->UseManualTime()->Unit(benchmark::kMillisecond);
      if (gc_conv_algo_supports(a, &c, GC_CONV_DGRAD))
        benchmark::RegisterBenchmark(("conv_dgrad_" + an + "/" + n).c_str(), BM_conv_dgrad, s, a)
            ->UseManualTime()->Unit(benchmark::kMillisecond);
    }
    benchmark::RegisterBenchmark(("conv_fwd_clblast/" + n).c_str(), BM_conv_fwd_clblast, s)
        ->UseManualTime()->Unit(benchmark::kMillisecond);
  }
  for (const MapShape &s : kMaps) {
    std::string n = s.name;
    for (int b = 0; b < 2; b++) {
      const char *dir = b ? "bwd" : "fwd";
      benchmark::RegisterBenchmark(("bn_relu_" + std::string(dir) + "/" + n).c_str(), BM_bn, s, b == 1)
          ->UseManualTime()->Unit(benchmark::kMillisecond);
      benchmark::RegisterBenchmark(("maxpool3x3s2_" + std::string(dir) + "/" + n).c_str(), BM_pool, s, true, b == 1)
          ->UseManualTime()->Unit(benchmark::kMillisecond);
      benchmark::RegisterBenchmark(("avgpool3x3s2_" + std::string(dir) + "/" + n).c_str(), BM_pool, s, false, b == 1)
          ->UseManualTime()->Unit(benchmark::kMillisecond);
    }
  }
  benchmark::AddCustomContext("gafcl_batch", std::to_string(g_batch));
}
