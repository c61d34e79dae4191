/* The runtime without the GEMM: SHA-256, status names and messages, device selection rules, arenas
 * (planning, alignment, limits), kernel sources and build failures. */
#include "gafcl.h"
#include "gc_sha256.h"
#include "gc_test.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void test_sha256(void) {
  static const struct {
    const char *in, *hex;
  } v[] = {
      {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
      {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
      {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
  };
  for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
    gc_sha256 s;
    uint8_t d[32];
    char hex[65];
    gc_sha256_init(&s);
    gc_sha256_update(&s, v[i].in, strlen(v[i].in));
    gc_sha256_final(&s, d);
    gc_sha256_hex(d, hex);
    CHECK(strcmp(hex, v[i].hex) == 0);
  }
  /* a million 'a' fed in uneven pieces crosses every block boundary case */
  gc_sha256 s;
  uint8_t d[32];
  char hex[65], buf[997];
  memset(buf, 'a', sizeof buf);
  gc_sha256_init(&s);
  size_t left = 1000000;
  while (left) {
    size_t n = left < sizeof buf ? left : sizeof buf;
    gc_sha256_update(&s, buf, n);
    left -= n;
  }
  gc_sha256_final(&s, d);
  gc_sha256_hex(d, hex);
  CHECK(strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0);
}

static int fail_with_cl(void) {
  int st = 0;
  GC_CL(-5, "conv m=%d n=%d", 64, 576);
cleanup:
  return st;
}

static void test_errors(void) {
  CHECK(strcmp(gc_status_name(-5), "CL_OUT_OF_RESOURCES") == 0);
  CHECK(strcmp(gc_status_name(-4), "CL_MEM_OBJECT_ALLOCATION_FAILURE") == 0);
  CHECK(strcmp(gc_status_name(-1016), "CLBlastInvalidLeadDimA") == 0);
  CHECK(strcmp(gc_status_name(GC_ERR_DEVICE_MEM), "GC_ERR_DEVICE_MEM") == 0);
  CHECK(strcmp(gc_status_name(12345), "UNKNOWN_STATUS") == 0);
  CHECK(fail_with_cl() == -5);
  const char *m = gc_last_error();
  CHECK(strstr(m, "-5 failed: CL_OUT_OF_RESOURCES (-5)") != NULL || strstr(m, "CL_OUT_OF_RESOURCES (-5)") != NULL);
  CHECK(strstr(m, "conv m=64 n=576") != NULL);
  CHECK(strstr(m, "tests/test_runtime.c:") != NULL);
  gc_error_prefix(-5, "layer conv1: ");
  CHECK(strncmp(gc_last_error(), "layer conv1: ", 13) == 0);
  gc_clear_error();
  CHECK(gc_last_error()[0] == '\0');
}

static void test_select(void) {
  gc_device_info l[3];
  memset(l, 0, sizeof l);
  for (int i = 0; i < 3; i++) l[i].index = i;
  strcpy(l[0].platform, "Portable Computing Language");
  strcpy(l[0].name, "pthread-haswell");
  strcpy(l[0].vendor, "GenuineIntel");
  l[0].type = CL_DEVICE_TYPE_CPU;
  strcpy(l[1].platform, "NVIDIA CUDA");
  strcpy(l[1].name, "NVIDIA H200");
  strcpy(l[1].vendor, "NVIDIA Corporation");
  l[1].type = CL_DEVICE_TYPE_GPU;
  l[1].platform_index = 1;
  strcpy(l[2].platform, "NVIDIA CUDA");
  strcpy(l[2].name, "NVIDIA H100");
  strcpy(l[2].vendor, "NVIDIA Corporation");
  l[2].type = CL_DEVICE_TYPE_GPU;
  l[2].platform_index = 1;
  l[2].device_index = 1;
  int idx = -1;
  CHECK_OK(gc_device_select(l, 3, NULL, &idx));
  CHECK(idx == 1); /* first GPU */
  CHECK_OK(gc_device_select(l, 1, "", &idx));
  CHECK(idx == 0); /* no GPU: first device */
  CHECK_OK(gc_device_select(l, 3, "1:1", &idx));
  CHECK(idx == 2);
  CHECK_OK(gc_device_select(l, 3, "0", &idx));
  CHECK(idx == 0);
  CHECK_OK(gc_device_select(l, 3, "h100", &idx));
  CHECK(idx == 2);
  CHECK_OK(gc_device_select(l, 3, "nvidia", &idx));
  CHECK(idx == 1);
  CHECK_OK(gc_device_select(l, 3, "portable", &idx));
  CHECK(idx == 0);
  CHECK_OK(gc_device_select(l, 3, "genuineintel", &idx));
  CHECK(idx == 0);
  CHECK_STATUS(gc_device_select(l, 3, "nosuch", &idx), GC_ERR_NO_DEVICE);
  CHECK(strstr(gc_last_error(), "no device matches 'nosuch'") != NULL);
  CHECK(strstr(gc_last_error(), "1:1  NVIDIA CUDA / NVIDIA Corporation / NVIDIA H100 (GPU)") != NULL);
  CHECK_STATUS(gc_device_select(l, 3, "2:0", &idx), GC_ERR_NO_DEVICE);
  CHECK_STATUS(gc_device_select(l, 3, "7", &idx), GC_ERR_NO_DEVICE);
  CHECK_STATUS(gc_device_select(l, 0, NULL, &idx), GC_ERR_NO_DEVICE);

  /* three CPU implementations on an Intel CPU, in every order the ICD loader may list them: without a
   * selector PoCL is chosen; the short names pick implementations (platform names and versions first, so
   * "intel" is Intel's platform, not PoCL's device named after the Intel CPU) */
  static const char *plat[3] = {"Portable Computing Language", "Intel(R) OpenCL", "rusticl"};
  static const char *ver[3] = {"OpenCL 3.0 PoCL 3.1+debian", "OpenCL 3.0 LINUX", "OpenCL 3.0"};
  static const char *dev[3] = {"pthread-skylake-avx512-Intel(R) Xeon(R) Gold", "Intel(R) Xeon(R) Gold",
                               "llvmpipe (LLVM 15.0.6, 256 bits)"};
  static const char *vend[3] = {"GenuineIntel", "Intel(R) Corporation", "Mesa"};
  static const int orders[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
  for (int o = 0; o < 6; o++) {
    gc_device_info c[4];
    memset(c, 0, sizeof c);
    for (int i = 0; i < 3; i++) {
      int k = orders[o][i];
      c[i].index = c[i].platform_index = i;
      strcpy(c[i].platform, plat[k]);
      strcpy(c[i].platform_version, ver[k]);
      strcpy(c[i].name, dev[k]);
      strcpy(c[i].vendor, vend[k]);
      c[i].type = CL_DEVICE_TYPE_CPU;
    }
    const char *names[3] = {"pocl", "intel", "rusticl"};
    for (int k = 0; k < 3; k++) {
      CHECK_OK(gc_device_select(c, 3, names[k], &idx));
      CHECK(idx >= 0 && strcmp(c[idx].platform, plat[k]) == 0);
    }
    CHECK_OK(gc_device_select(c, 3, NULL, &idx));
    CHECK(idx >= 0 && strcmp(c[idx].platform, plat[0]) == 0);
    /* a GPU, wherever it is listed, comes before every CPU implementation */
    c[3] = l[1];
    c[3].index = 3;
    CHECK_OK(gc_device_select(c, 4, NULL, &idx));
    CHECK(idx == 3);
    CHECK_OK(gc_device_select(c, 4, "xeon", &idx)); /* a device name still selects */
    CHECK(idx >= 0 && c[idx].type == CL_DEVICE_TYPE_CPU && strstr(c[idx].name, "Xeon") != NULL);
  }
  /* without PoCL and without a GPU: the first device */
  gc_device_info two[2];
  memset(two, 0, sizeof two);
  strcpy(two[0].platform, "rusticl");
  strcpy(two[1].platform, "Intel(R) OpenCL");
  two[1].index = 1;
  CHECK_OK(gc_device_select(two, 2, NULL, &idx));
  CHECK(idx == 0);
}

static void test_arenas(gc_ctx *ctx) {
  gc_arena a;
  gc_tensor t1, t2, t3, v;
  gc_arena_init(ctx, &a, "parameters");
  CHECK(a.align * sizeof(float) == ctx->mem_align);
  CHECK(ctx->mem_align >= ctx->dev.base_addr_align);
  size_t d1[] = {3}, d2[] = {2, 3, 5, 7}, d3[] = {1};
  CHECK_OK(gc_arena_reserve(&a, &t1, 1, d1));
  CHECK_OK(gc_arena_reserve(&a, &t2, 4, d2));
  CHECK_OK(gc_arena_reserve(&a, &t3, 1, d3));
  CHECK(t1.offset == 0);
  CHECK(t2.offset % a.align == 0 && t2.offset >= 3);
  CHECK(t3.offset % a.align == 0 && t3.offset >= t2.offset + 210);
  CHECK(gc_tensor_numel(&t2) == 210);
  char s[64];
  CHECK(strcmp(gc_shape_str(&t2, s, sizeof s), "2x3x5x7") == 0);
  size_t bad_rank[5] = {1, 1, 1, 1, 1};
  CHECK_STATUS(gc_arena_reserve(&a, &v, 5, bad_rank), GC_ERR_ARG);
  CHECK_OK(gc_arena_commit(ctx, &a, 0));
  CHECK_STATUS(gc_arena_reserve(&a, &v, 1, d1), GC_ERR_ARG); /* no reserving after commit */
  /* the arena starts zeroed; a write/read round trip through a reshaped view */
  float h[210], back[210];
  CHECK_OK(gc_tensor_read(ctx, &t2, back, 210));
  int zero = 1;
  for (int i = 0; i < 210; i++) zero &= back[i] == 0.0f;
  CHECK(zero);
  for (int i = 0; i < 210; i++) h[i] = (float)i * 0.5f;
  size_t flat[] = {210};
  CHECK_OK(gc_tensor_reshape(&t2, 1, flat, &v));
  CHECK_OK(gc_tensor_write(ctx, &v, h, 210));
  CHECK_OK(gc_tensor_read(ctx, &t2, back, 210));
  CHECK(memcmp(h, back, sizeof h) == 0);
  size_t wrong[] = {211};
  CHECK_STATUS(gc_tensor_reshape(&t2, 1, wrong, &v), GC_ERR_ARG);
  CHECK_STATUS(gc_tensor_read(ctx, &t2, back, 209), GC_ERR_ARG);
  CHECK(strstr(gc_last_error(), "2x3x5x7") != NULL);
  gc_arena_release(&a);

  /* more than the device has: caught before any allocation, with the size asked and the limit */
  gc_arena big;
  gc_tensor bt;
  gc_arena_init(ctx, &big, "activations");
  size_t huge[] = {(size_t)(ctx->dev.global_mem / 4 + 1024)};
  CHECK_OK(gc_arena_reserve(&big, &bt, 1, huge));
  CHECK_STATUS(gc_arena_commit(ctx, &big, 0), GC_ERR_DEVICE_MEM);
  char want[64];
  snprintf(want, sizeof want, "needs %zu bytes", huge[0] * 4);
  CHECK(strstr(gc_last_error(), want) != NULL);
  CHECK(strstr(gc_last_error(), "global memory") != NULL);
  CHECK(big.buf == NULL);
  gc_arena_release(&big);
}

static double wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Timed launches give real time on every device: not less than a thousandth of the host's wall time for
 * the same work, not more than the wall time (rusticl's profiling events measure nothing; gafcl then
 * times with the host's clock and says so). */
static void test_timing(gc_ctx *ctx) {
  gc_arena a;
  gc_tensor t;
  size_t n = (size_t)32 << 20 >> 2; /* 32 MiB */
  gc_arena_init(ctx, &a, "timing");
  CHECK_OK(gc_arena_reserve(&a, &t, 1, &n));
  CHECK_OK(gc_arena_commit(ctx, &a, 0));
  CHECK(ctx->timing_source == GC_TIMING_UNKNOWN);
  for (int round = 0; round < 3; round++) {
    CHECK_OK(gc_finish(ctx));
    double w0 = wall_now(), s = -1.0;
    gc_timing_begin(ctx);
    for (int k = 0; k < 4; k++) CHECK_OK(gc_fill(ctx, &t, (float)k));
    CHECK_OK(gc_timing_end(ctx, &s));
    double wall = wall_now() - w0;
    if (round == 0) continue; /* first touch */
    CHECK(s > 0.0 && s >= wall * 1e-3 && s <= wall * 1.05 + 1e-4);
    if (!(s > 0.0 && s >= wall * 1e-3 && s <= wall * 1.05 + 1e-4))
      fprintf(stderr, "  timed %.6f s, host wall %.6f s (%s)\n", s, wall, gc_timing_source_name(ctx));
  }
  CHECK(ctx->timing_source == GC_TIMING_EVENTS || ctx->timing_source == GC_TIMING_WALL);
  printf("timing: %s\n", gc_timing_source_name(ctx));
  gc_arena_release(&a);
}

static void test_sources(gc_ctx *ctx) {
  const char *src;
  size_t len;
  int owned;
  CHECK_OK(gc_kernel_source("eltwise", &src, &len, &owned));
  CHECK(!owned && len > 100 && strstr(src, "eltwise_axpy") != NULL && strlen(src) == len);
  CHECK_STATUS(gc_kernel_source("nosuch", &src, &len, &owned), GC_ERR_ARG);
  CHECK_STATUS(gc_kernel_source("../etc/passwd", &src, &len, &owned), GC_ERR_ARG);

  /* A broken kernel from GAFCL_KERNEL_DIR: the error names the file, the options and the log. */
  char dir[] = "/tmp/gafcl-kdir-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char path[128];
  snprintf(path, sizeof path, "%s/eltwise.cl", dir);
  FILE *f = fopen(path, "w");
  fputs("__kernel void eltwise_fill(__global float *y) { y[0] = undefined_symbol_xyz; }\n", f);
  fclose(f);
  setenv("GAFCL_KERNEL_DIR", dir, 1);
  cl_kernel k;
  CHECK_STATUS(gc_kernel_get(ctx, "eltwise", "-DGC_BROKEN_TEST=1", "eltwise_fill", &k), GC_ERR_BUILD);
  const char *m = gc_last_error();
  CHECK(strstr(m, "kernels/eltwise.cl") != NULL);
  CHECK(strstr(m, "-DGC_BROKEN_TEST=1") != NULL);
  CHECK(strstr(m, "undefined_symbol_xyz") != NULL); /* the compiler's log */
  /* a missing file in GAFCL_KERNEL_DIR */
  CHECK_STATUS(gc_kernel_get(ctx, "pool", NULL, "x", &k), GC_ERR_IO);
  unsetenv("GAFCL_KERNEL_DIR");
  unlink(path);
  rmdir(dir);
  /* a kernel name that does not exist in a good program */
  CHECK_STATUS(gc_kernel_get(ctx, "eltwise", NULL, "no_such_kernel", &k), CL_INVALID_KERNEL_NAME);
  CHECK(strstr(gc_last_error(), "CL_INVALID_KERNEL_NAME") != NULL);
  /* programs and kernels are built once per context */
  cl_kernel k1, k2;
  CHECK_OK(gc_kernel_get(ctx, "eltwise", NULL, "eltwise_copy", &k1));
  int built = ctx->cache.built_from_source + ctx->cache.loaded_from_disk;
  CHECK_OK(gc_kernel_get(ctx, "eltwise", NULL, "eltwise_copy", &k2));
  CHECK(k1 == k2 && built == ctx->cache.built_from_source + ctx->cache.loaded_from_disk);
}

/* The work-group size and local memory are the device's (queried), lowered by the environment; the
 * smallest values OpenCL allows (work-groups of 1, 1 KiB of local memory) still give a context. */
static void test_limits(void) {
  const char *sel = getenv("GAFCL_DEVICE");
  gc_ctx *c = NULL;
  CHECK_OK(gc_ctx_create(&c, sel));
  if (!c) return;
  size_t wg = c->wg;
  CHECK(wg >= 1 && wg <= 256 && (wg & (wg - 1)) == 0 && wg <= c->dev.max_wg);
  CHECK(c->local_mem == (size_t)c->dev.local_mem);
  CHECK(wg * GC_LOCAL_FLOATS * sizeof(float) <= c->local_mem);
  gc_ctx_free(c);
  static const struct {
    const char *var, *value;
    int status;
    size_t wg_max, local_mem;
  } cases[] = {
      {"GAFCL_MAX_WORK_GROUP", "1", 0, 1, 0},      {"GAFCL_MAX_WORK_GROUP", "3", 0, 2, 0},
      {"GAFCL_LOCAL_MEM_BYTES", "1024", 0, 64, 1024}, {"GAFCL_LOCAL_MEM_BYTES", "64", 0, 4, 64},
      {"GAFCL_MAX_WORK_GROUP", "0", GC_ERR_ARG, 0, 0}, {"GAFCL_MAX_WORK_GROUP", "-4", GC_ERR_ARG, 0, 0},
      {"GAFCL_MAX_WORK_GROUP", "8x", GC_ERR_ARG, 0, 0}, {"GAFCL_LOCAL_MEM_BYTES", "99999999999999999999999", GC_ERR_ARG, 0, 0},
      {"GAFCL_LOCAL_MEM_BYTES", "8", GC_ERR_NO_DEVICE, 0, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    setenv(cases[i].var, cases[i].value, 1);
    c = NULL;
    int st = gc_ctx_create(&c, sel);
    CHECK(st == cases[i].status);
    if (st != cases[i].status) fprintf(stderr, "  %s=%s: %s\n", cases[i].var, cases[i].value, gc_last_error());
    if (!st && c) {
      CHECK(c->wg <= cases[i].wg_max && c->wg >= 1);
      if (cases[i].local_mem) CHECK(c->local_mem == cases[i].local_mem);
    } else {
      CHECK(c == NULL);
      CHECK(strstr(gc_last_error(), cases[i].status == GC_ERR_ARG ? cases[i].var : "too small") != NULL);
    }
    gc_ctx_free(c);
    unsetenv(cases[i].var);
  }
}

int main(void) {
  setenv("GAFCL_CACHE_DIR", "off", 1);
  test_sha256();
  test_errors();
  test_select();
  test_limits();
  gc_ctx *ctx = gc_test_open();
  if (!ctx) return 1;
  CHECK(ctx->cache_dir[0] == '\0');
  test_arenas(ctx);
  test_timing(ctx);
  test_sources(ctx);
  gc_ctx_free(ctx);
  return gc_test_summary("test_runtime");
}
