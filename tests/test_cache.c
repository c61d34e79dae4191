/* The on-disk program cache: a second context loads what the first built; truncated, corrupt, foreign
 * and garbage entries are rejected, rebuilt and rewritten; a disabled or unwritable cache still works. */
#include "gafcl.h"
#include "gc_test.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];
/* the entries every context creation writes (the work-group probe, kernels/probe.cl, once per work-group
 * size tried): not counted below */
static char probe_entry[8][512];
static int n_probe;

static int is_probe(const char *name) {
  for (int i = 0; i < n_probe; i++)
    if (strcmp(name, probe_entry[i]) == 0) return 1;
  return 0;
}

/* Build the eltwise program with `opts`, run a fill through it and check the result. */
static gc_cache_stats run_once(const char *opts) {
  gc_cache_stats s;
  memset(&s, 0, sizeof s);
  gc_ctx *ctx = NULL;
  if (gc_ctx_create(&ctx, NULL) != 0) {
    CHECK(!"context");
    return s;
  }
  const gc_cache_stats at_create = ctx->cache; /* the probe's build or load */
  cl_kernel k;
  CHECK_OK(gc_kernel_get(ctx, "eltwise", opts, "eltwise_fill", &k));
  gc_arena a;
  gc_tensor t;
  size_t n = 100;
  gc_arena_init(ctx, &a, "t");
  CHECK_OK(gc_arena_reserve(&a, &t, 1, &n));
  CHECK_OK(gc_arena_commit(ctx, &a, 0));
  float h[100];
  CHECK_OK(gc_launch(ctx, k, "fill", n, 0, 4, (gc_karg[]){GC_KMEM(a.buf), GC_KU64(0), GC_KU32(100), GC_KF32(1.25f)}));
  CHECK_OK(gc_tensor_read(ctx, &t, h, n));
  int ok = 1;
  for (int i = 0; i < 100; i++) ok &= h[i] == 1.25f;
  CHECK(ok);
  gc_arena_release(&a);
  s = ctx->cache;
  s.built_from_source -= at_create.built_from_source;
  s.loaded_from_disk -= at_create.loaded_from_disk;
  s.rejected -= at_create.rejected;
  s.written -= at_create.written;
  s.write_failed -= at_create.write_failed;
  gc_ctx_free(ctx);
  return s;
}

/* The cache entries in dir, sorted by name into out[]. */
static int entries(char out[][512], int cap) {
  DIR *d = opendir(dir);
  int n = 0;
  struct dirent *e;
  while (d && (e = readdir(d)) != NULL && n < cap)
    if (strstr(e->d_name, ".clbin") && !strstr(e->d_name, ".tmp") && !is_probe(e->d_name))
      snprintf(out[n++], 512, "%s/%s", dir, e->d_name);
  if (d) closedir(d);
  return n;
}

static long file_size(const char *p) {
  struct stat sb;
  return stat(p, &sb) == 0 ? (long)sb.st_size : -1;
}

static void damage(const char *path, int how) {
  long size = file_size(path);
  if (how == 0) { /* truncated in the payload */
    CHECK(truncate(path, size / 2) == 0);
  } else if (how == 1) { /* one payload byte flipped */
    FILE *f = fopen(path, "r+b");
    fseek(f, size - 10, SEEK_SET);
    int c = fgetc(f);
    fseek(f, size - 10, SEEK_SET);
    fputc(c ^ 0x40, f);
    fclose(f);
  } else if (how == 2) { /* empty file */
    CHECK(truncate(path, 0) == 0);
  } else if (how == 3) { /* garbage of the right size */
    FILE *f = fopen(path, "wb");
    for (long i = 0; i < size; i++) fputc((int)((i * 7919) & 0xff), f);
    fclose(f);
  } else if (how == 4) { /* header cut short */
    CHECK(truncate(path, 40) == 0);
  }
}

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/gafcl-cache-test-XXXXXX");
  if (!mkdtemp(dir)) return 1;
  setenv("GAFCL_CACHE_DIR", dir, 1);
  { /* a context alone writes the probe's entries (one per work-group size tried), and only those */
    gc_ctx *ctx = NULL;
    CHECK_OK(gc_ctx_create(&ctx, NULL));
    int built = ctx ? ctx->cache.built_from_source : -1;
    CHECK(ctx && built >= 1 && built <= 8 && ctx->cache.written == built);
    gc_ctx_free(ctx);
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL)
      if (strstr(de->d_name, ".clbin") && n_probe < 8) snprintf(probe_entry[n_probe++], 512, "%s", de->d_name);
    if (d) closedir(d);
    CHECK(n_probe == built);
  }

  gc_cache_stats s = run_once(NULL);
  CHECK(s.built_from_source == 1 && s.written == 1 && s.loaded_from_disk == 0 && s.rejected == 0);
  char e[4][512];
  CHECK(entries(e, 4) == 1);
  s = run_once(NULL);
  CHECK(s.loaded_from_disk == 1 && s.built_from_source == 0 && s.written == 0);

  /* other options are another entry */
  s = run_once("-DGC_CACHE_TEST=2");
  CHECK(s.built_from_source == 1 && s.written == 1);
  int n = entries(e, 4);
  CHECK(n == 2);

  /* truncated payload, flipped byte, empty file, garbage, cut header: each is rejected on the next run,
   * rebuilt and rewritten, and the run after that loads from disk again */
  gc_cache_stats a, b;
  for (int how = 0; how < 5; how++) {
    entries(e, 4);
    damage(e[0], how);
    a = run_once(NULL);
    b = run_once("-DGC_CACHE_TEST=2");
    CHECK(a.rejected + b.rejected == 1);
    CHECK(a.built_from_source + b.built_from_source == 1 && a.written + b.written == 1);
    a = run_once(NULL);
    b = run_once("-DGC_CACHE_TEST=2");
    CHECK(a.loaded_from_disk == 1 && b.loaded_from_disk == 1);
  }

  /* a foreign entry: another key's valid file under this key's name */
  n = entries(e, 4);
  CHECK(n == 2);
  {
    FILE *src = fopen(e[1], "rb"), *dst = fopen(e[0], "wb");
    int c;
    while ((c = fgetc(src)) != EOF) fputc(c, dst);
    fclose(src);
    fclose(dst);
  }
  a = run_once(NULL);
  b = run_once("-DGC_CACHE_TEST=2");
  CHECK(a.rejected + b.rejected == 1);
  a = run_once(NULL);
  b = run_once("-DGC_CACHE_TEST=2");
  CHECK(a.loaded_from_disk == 1 && b.loaded_from_disk == 1);

  /* no temporary files are left behind */
  {
    DIR *d = opendir(dir);
    struct dirent *de;
    int tmps = 0;
    while ((de = readdir(d)) != NULL) tmps += strstr(de->d_name, ".tmp") != NULL;
    closedir(d);
    CHECK(tmps == 0);
  }

  /* disabled */
  setenv("GAFCL_CACHE_DIR", "off", 1);
  s = run_once(NULL);
  CHECK(s.built_from_source == 1 && s.written == 0 && s.loaded_from_disk == 0);
  /* unwritable: still works, the failure is counted */
  setenv("GAFCL_CACHE_DIR", "/proc/gafcl-cannot-exist/cache", 1);
  s = run_once(NULL);
  CHECK(s.built_from_source == 1 && s.written == 0 && s.write_failed == 1);

  /* clean up */
  n = entries(e, 4);
  for (int i = 0; i < n; i++) unlink(e[i]);
  for (int i = 0; i < n_probe; i++) {
    char probe_path[1200];
    snprintf(probe_path, sizeof probe_path, "%.63s/%.511s", dir, probe_entry[i]);
    unlink(probe_path);
  }
  rmdir(dir);
  return gc_test_summary("test_cache");
}
