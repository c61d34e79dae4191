// Shared by the benchmark programs: the device context, event timing of library calls (manual time:
// one untimed run first so program builds and CLBlast's kernel compilation never fall in a timed
// region), and the JSON context (device, driver, git revision).
#pragma once
#include <benchmark/benchmark.h>

#include <cstdio>

extern "C" {
#include "gafcl.h"
}

#ifndef GAFCL_GIT_REV
#define GAFCL_GIT_REV "unknown"
#endif

inline gc_ctx *g_ctx = nullptr;

template <class F> void timed(benchmark::State &state, F op) {
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

// Open the device (GAFCL_DEVICE selects it) and record it in the JSON context; 0 on success.
inline int bench_open(const char *prog) {
  if (gc_ctx_create(&g_ctx, nullptr) != 0) {
    std::fprintf(stderr, "%s: %s\n", prog, gc_last_error());
    return 2;
  }
  benchmark::AddCustomContext("gafcl_device", g_ctx->dev.name);
  benchmark::AddCustomContext("gafcl_platform", g_ctx->dev.platform);
  benchmark::AddCustomContext("gafcl_driver", g_ctx->dev.driver);
  benchmark::AddCustomContext("gafcl_git_revision", GAFCL_GIT_REV);
  { /* settle how launches are timed (device events, or the host clock where the events measure nothing) */
    double s = 0.0;
    gc_timing_begin(g_ctx);
    gc_timing_end(g_ctx, &s);
    benchmark::AddCustomContext("gafcl_timing", gc_timing_source_name(g_ctx));
  }
  return 0;
}
