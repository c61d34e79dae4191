// Fused optimizer benchmarks: one update of every parameter of a ResNet-18- or ResNet-50-sized net
// (11.2M / 23.7M parameters in 62 / 161 tensors), plain SGD-momentum vs the GAF-fused variants and Adam,
// next to a device copy of the same size, event-timed. GB/s counts the bytes each update must move
// (SGDM: w, g, b read and w, b written = 20 bytes per parameter; Adam 28; copy 8).
//
#include "bench_common.h"

#include <cstdio>
#include <string>
#include <vector>


struct Net {
  gc_arena params, grads;
  std::vector<gc_tensor> t;
  std::vector<gc_optim_segment> segs;
  bool ok = false;
  Net(size_t total, int tensors) {
    gc_arena_init(g_ctx, &params, "parameters");
    gc_arena_init(g_ctx, &grads, "gradients");
    gc_optim_align(g_ctx, &params);
    gc_optim_align(g_ctx, &grads);
    // tensor sizes vary like a CNN's (a few large conv weights, many small BN vectors)
    std::vector<size_t> sizes(tensors);
    double wsum = 0;
    for (int i = 0; i < tensors; i++) wsum += (i % 3 == 0) ? 1.0 + i : 0.0;
    size_t used = 0;
    for (int i = 0; i < tensors; i++) {
      sizes[i] = (i % 3 == 0) ? (size_t)((double)total * 0.999 * (1.0 + i) / wsum) : 64 + 32 * (i % 17);
      used += sizes[i];
    }
    sizes[0] += total > used ? total - used : 0;
    t.resize(tensors);
    for (int i = 0; i < tensors; i++) {
      gc_tensor g;
      if (gc_arena_reserve(&params, &t[i], 1, &sizes[i]) || gc_arena_reserve(&grads, &g, 1, &sizes[i])) return;
      segs.push_back({t[i].offset, sizes[i], (i % 3 == 0) ? 5e-4f : 0.0f});
    }
    ok = gc_arena_commit(g_ctx, &params, 0) == 0 && gc_arena_commit(g_ctx, &grads, 0) == 0;
    if (ok) {
      gc_tensor gw, pw;
      ok = gc_arena_view(&grads, &gw) == 0 && gc_fill(g_ctx, &gw, 1e-3f) == 0 && gc_arena_view(&params, &pw) == 0 &&
           gc_fill(g_ctx, &pw, 0.01f) == 0;
    }
  }
  ~Net() {
    gc_arena_release(&params);
    gc_arena_release(&grads);
  }
  size_t count() const {
    size_t n = 0;
    for (auto &s : segs) n += s.count;
    return n;
  }
};

static void BM_update(benchmark::State &state, size_t total, int tensors, gc_opt_kind kind, gc_gaf_type gaf, int guard) {
  Net net(total, tensors);
  if (!net.ok) return state.SkipWithError(gc_last_error());
  gc_optim_config c;
  gc_optim_config_default(&c, kind);
  c.gaf = gaf;
  c.guard = guard;
  gc_optim *o = nullptr;
  if (gc_optim_create(g_ctx, &c, &net.params, &net.grads, net.segs.size(), net.segs.data(), &o) != 0)
    return state.SkipWithError(gc_last_error());
  float lr = kind >= GC_OPT_ADAM ? 1e-3f : 0.1f;
  timed(state, [&] { return gc_optim_step(g_ctx, o, lr, nullptr); });
  double bytes = (kind >= GC_OPT_ADAM ? 28.0 : kind >= GC_OPT_SGDM ? 20.0 : 12.0) * (double)net.count();
  state.counters["GB/s"] = benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["params"] = (double)net.count();
  gc_optim_free(o);
}

static void BM_copy(benchmark::State &state, size_t total) {
  gc_arena a;
  gc_tensor x, y;
  gc_arena_init(g_ctx, &a, "copy");
  if (gc_arena_reserve(&a, &x, 1, &total) || gc_arena_reserve(&a, &y, 1, &total) || gc_arena_commit(g_ctx, &a, 0))
    return state.SkipWithError(gc_last_error());
  timed(state, [&] { return gc_copy(g_ctx, &x, &y); });
  state.counters["GB/s"] = benchmark::Counter(8.0 * (double)total * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  gc_arena_release(&a);
}

void register_optim() {
  struct {
    const char *name;
    size_t total;
    int tensors;
  } nets[] = {{"resnet18_11.2M", 11173962, 62}, {"resnet50_23.7M", 23705252, 161}};
  struct {
    const char *name;
    gc_opt_kind kind;
    gc_gaf_type gaf;
    int guard;
  } cases[] = {{"sgdm", GC_OPT_SGDM, GC_GAF_NONE, 0},          {"sgdm_arctan", GC_OPT_SGDM, GC_GAF_ARCTAN, 0},
               {"sgdm_tanh", GC_OPT_SGDM, GC_GAF_TANH, 0},     {"sgdm_log", GC_OPT_SGDM, GC_GAF_LOG, 0},
               {"adam_arctan", GC_OPT_ADAM, GC_GAF_ARCTAN, 0}, {"sgdm_arctan_guard", GC_OPT_SGDM, GC_GAF_ARCTAN, 1}};
  for (auto &n : nets) {
    benchmark::RegisterBenchmark((std::string("copy/") + n.name).c_str(), BM_copy, n.total)
        ->UseManualTime()->Unit(benchmark::kMillisecond);
    for (auto &c : cases)
      benchmark::RegisterBenchmark((std::string("update_") + c.name + "/" + n.name).c_str(), BM_update, n.total,
                                   n.tensors, c.kind, c.gaf, c.guard)
          ->UseManualTime()->Unit(benchmark::kMillisecond);
  }
}
