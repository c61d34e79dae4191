// gafcl_bench: every kernel benchmark in one program (Google Benchmark, OpenCL event time as manual time):
// GEMM, device copy and axpy (bench_kernels.cpp, registered statically by BENCHMARK()); convolution forward/backward, batch norm and pooling
// (bench_layers.cpp); the fused optimizer updates with and without each GAF (bench_optim.cpp).
//
//   GAFCL_DEVICE=... gafcl_bench [--benchmark_filter=REGEX] [--benchmark_format=json] [--benchmark_out=FILE]
//
// The JSON context holds the device, platform, driver, git revision and batch.
#include "bench_common.h"

void register_layers();
void register_optim();

int main(int argc, char **argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  if (int rc = bench_open(argv[0])) return rc;
  register_layers();
  register_optim();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  gc_ctx_free(g_ctx);
  return 0;
}
