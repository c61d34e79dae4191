// Kernel benchmarks: CLBlast GEMM and the element-wise kernels, timed with OpenCL profiling events
// (manual time), with GFLOP/s and GB/s counters and the device, driver and git revision in the JSON
// context. Programs are built in setup, never inside a timed region.
//
//   gafcl_bench [--benchmark_filter=...] [--benchmark_format=json]   (GAFCL_DEVICE selects the device)
#include "bench_common.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>


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

