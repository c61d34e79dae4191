// Kernel benchmarks: CLBlast GEMM and the element-wise kernels, timed with OpenCL profiling events
// (manual time), with GFLOP/s and GB/s counters and the device, driver and git revision in the JSON
// context. Programs are built in setup, never inside a timed region.
//
//   gafcl_bench [--benchmark_filter=...] [--benchmark_format=json]   (GAFCL_DEVICE selects the device)
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

extern "C" {
#include "gafcl.h"
}

#ifndef GAFCL_GIT_REV
#define GAFCL_GIT_REV "unknown"
#endif

static gc_ctx *g_ctx;

struct Buffers {
  gc_arena arena;
  std::vector<gc_tensor> t;
  Buffers(const std::vector<size_t> &sizes) {
    gc_arena_init(g_ctx, &arena, "bench");
    t.resize(sizes.size());
    for (size_t i = 0; i < sizes.size(); i++) gc_arena_reserve(&arena, &t[i], 1, &sizes[i]);
    ok = gc_arena_commit(g_ctx, &arena, 0) == 0;
  }
  ~Buffers() { gc_arena_release(&arena); }
  bool ok = false;
};

// Run `op` once untimed (builds, warm-up), then time each iteration with events.
template <class F> static void timed(benchmark::State &state, F op) {
  if (op() != 0) {
    state.SkipWithError(gc_last_error());
    return;
  }
  gc_finish(g_ctx);
  for (auto _ : state) {
    gc_timing_begin(g_ctx);
    int st = op();
    double s = 0;
    if (st != 0 || gc_timing_end(g_ctx, &s) != 0) {
      state.SkipWithError(gc_last_error());
      return;
    }
    state.SetIterationTime(s);
  }
}

static void BM_sgemm(benchmark::State &state) {
  size_t m = state.range(0), n = state.range(1), k = state.range(2);
  Buffers b({m * k, k * n, m * n});
  if (!b.ok) {
    state.SkipWithError(gc_last_error());
    return;
  }
  gc_gemm_args g = {GC_ROW_MAJOR, 0, 0, m, n, k, 1.0f, 0.0f, {&b.t[0], 0, k, 0}, {&b.t[1], 0, n, 0},
                    {&b.t[2], 0, n, 0}, 1};
  timed(state, [&] { return gc_gemm(g_ctx, &g); });
  double flops = 2.0 * m * n * k;
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_sgemm)->Args({256, 256, 256})->Args({512, 512, 512})->Args({1024, 1024, 1024})
    // ResNet-18 CIFAR conv shapes lowered to GEMM for one 32x32 image: (Cout, H*W, Cin*9)
    ->Args({64, 1024, 576})->Args({128, 256, 1152})->Args({256, 64, 2304})->Args({512, 16, 4608})
    ->UseManualTime()->Unit(benchmark::kMicrosecond);

static void BM_copy(benchmark::State &state) {
  size_t n = state.range(0);
  Buffers b({n, n});
  if (!b.ok) {
    state.SkipWithError(gc_last_error());
    return;
  }
  timed(state, [&] { return gc_copy(g_ctx, &b.t[0], &b.t[1]); });
  state.counters["GB/s"] = benchmark::Counter(8.0 * n * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_copy)->Arg(1 << 20)->Arg(1 << 24)->UseManualTime()->Unit(benchmark::kMicrosecond);

static void BM_axpy(benchmark::State &state) {
  size_t n = state.range(0);
  Buffers b({n, n});
  if (!b.ok) {
    state.SkipWithError(gc_last_error());
    return;
  }
  timed(state, [&] { return gc_axpy(g_ctx, 0.5f, &b.t[0], &b.t[1]); });
  state.counters["GB/s"] = benchmark::Counter(12.0 * n * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_axpy)->Arg(1 << 20)->Arg(1 << 24)->UseManualTime()->Unit(benchmark::kMicrosecond);

int main(int argc, char **argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  if (gc_ctx_create(&g_ctx, nullptr) != 0) {
    std::fprintf(stderr, "gafcl_bench: %s\n", gc_last_error());
    return 2;
  }
  benchmark::AddCustomContext("gafcl_device", g_ctx->dev.name);
  benchmark::AddCustomContext("gafcl_platform", g_ctx->dev.platform);
  benchmark::AddCustomContext("gafcl_driver", g_ctx->dev.driver);
  benchmark::AddCustomContext("gafcl_git_revision", GAFCL_GIT_REV);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  gc_ctx_free(g_ctx);
  return 0;
}
