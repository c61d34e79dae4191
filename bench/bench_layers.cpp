// Layer benchmarks: convolution forward (both lowerings, and CLBlast's own convgemm), the weight-gradient
// pass and the full backward pass on the ResNet-18 CIFAR layer shapes, next to the bare CLBlast SGEMM of
// the same M, N, K, all event-timed in one run. GAFCL_BENCH_BATCH sets the batch (default 16: a size
// PoCL runs in reasonable time).
//
//   gafcl_bench_layers [--benchmark_filter=...] [--benchmark_format=json]
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
    c = gc_conv{s.cin, s.cout, s.k, s.k, s.stride, s.stride, s.pad, s.pad, 1, 1, 0};
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

static void BM_conv_fwd(benchmark::State &state, Shape s, int algo) {
  ConvSetup cs(s);
  if (!cs.ok) return state.SkipWithError(gc_last_error());
  int save = g_ctx->conv_fwd_algo;
  g_ctx->conv_fwd_algo = algo;
  timed(state, [&] { return gc_conv_forward(g_ctx, &cs.c, &cs.x, &cs.w, nullptr, &cs.y, &cs.ws); });
  g_ctx->conv_fwd_algo = save;
  rate(state, cs.flops());
}

// The weight-gradient pass alone (dx not wanted): layout change of dy, im2col, split GEMM, partial sums.
static void BM_conv_wgrad(benchmark::State &state, Shape s) {
  ConvSetup cs(s);
  if (!cs.ok) return state.SkipWithError(gc_last_error());
  timed(state, [&] { return gc_conv_backward(g_ctx, &cs.c, &cs.x, &cs.w, &cs.dy, nullptr, 0, &cs.dw, nullptr, &cs.ws); });
  rate(state, cs.flops());
}

// The whole backward pass: weight gradient and data gradient (GEMM + col2im).
static void BM_conv_bwd(benchmark::State &state, Shape s) {
  ConvSetup cs(s);
  if (!cs.ok) return state.SkipWithError(gc_last_error());
  timed(state, [&] { return gc_conv_backward(g_ctx, &cs.c, &cs.x, &cs.w, &cs.dy, &cs.dx, 0, &cs.dw, nullptr, &cs.ws); });
  rate(state, 2.0 * cs.flops());
}

// The bare SGEMM of the forward pass's shape: (Co x K) * (K x B*P), buffers already in place.
static void BM_gemm_bare(benchmark::State &state, Shape s) {
  ConvSetup cs(s);
  if (!cs.ok) return state.SkipWithError(gc_last_error());
  size_t K = (size_t)s.cin * s.k * s.k, L = g_batch * cs.ho * cs.wo;
  gc_gemm_args g = {GC_ROW_MAJOR, 0, 0, (size_t)s.cout, L, K, 1.0f, 0.0f, {&cs.w, 0, K, 0}, {&cs.ws, 0, L, 0},
                    {&cs.ws, K * L, L, 0}, 1};
  timed(state, [&] { return gc_gemm(g_ctx, &g); });
  rate(state, cs.flops());
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

int main(int argc, char **argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  if (const char *b = std::getenv("GAFCL_BENCH_BATCH")) g_batch = std::strtoul(b, nullptr, 10);
  if (g_batch < 1) g_batch = 1;
  if (int rc = bench_open(argv[0])) return rc;
  for (const Shape &s : kShapes) {
    std::string n = s.name;
    benchmark::RegisterBenchmark(("gemm_bare/" + n).c_str(), BM_gemm_bare, s)->UseManualTime()->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("conv_fwd_gemm/" + n).c_str(), BM_conv_fwd, s, (int)GC_CONV_FWD_GEMM)
        ->UseManualTime()->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("conv_fwd_batched/" + n).c_str(), BM_conv_fwd, s, (int)GC_CONV_FWD_BATCHED)
        ->UseManualTime()->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("conv_fwd_clblast/" + n).c_str(), BM_conv_fwd_clblast, s)
        ->UseManualTime()->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("conv_wgrad/" + n).c_str(), BM_conv_wgrad, s)->UseManualTime()->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("conv_bwd/" + n).c_str(), BM_conv_bwd, s)->UseManualTime()->Unit(benchmark::kMillisecond);
  }
  benchmark::AddCustomContext("gafcl_batch", std::to_string(g_batch));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  gc_ctx_free(g_ctx);
  return 0;
}
