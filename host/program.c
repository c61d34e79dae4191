/* Kernel programs: sources (embedded, or GAFCL_KERNEL_DIR), builds with -D specialisations once per
 * context, and the on-disk binary cache.
 *
 * Cache entry layout (all integers little-endian):
 *   0  "GAFCLPB\0"      magic
 *   8  u32 version      GC_CACHE_VERSION
 *  12  u32 reserved     0
 *  16  key[32]          SHA-256 of the key material (source, options, platform, device, driver)
 *  48  u64 payload_len
 *  56  sum[32]          SHA-256 of the payload
 *  88  payload          the device binary from CL_PROGRAM_BINARIES
 * The file is named <hex key>.clbin. An entry is used only when every field checks out and the driver
 * accepts the binary; otherwise it is counted as rejected, rebuilt from source and rewritten. Writes go
 * to a temporary file in the same folder, are fsync'ed and renamed over the old entry. */
#include "gc_runtime.h"
#include "gc_ops.h"
#include "gc_sha256.h"
#include "gc_io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define GC_CACHE_VERSION 1u
#define GC_CACHE_HEADER 88u


struct gc_program_entry {
  char *file;
  char *options; /* the user part; the full option string adds the context's defaults */
  cl_program program;
  gc_program_entry *next;
};

struct gc_kernel_entry {
  const gc_program_entry *prog;
  char *name;
  cl_kernel kernel;
  gc_kernel_entry *next;
};

void gc_cache_dir_default(char *out, size_t cap) {
  const char *env = getenv("GAFCL_CACHE_DIR");
  out[0] = '\0';
  if (env) {
    if (*env && strcmp(env, "off") != 0) snprintf(out, cap, "%s", env);
    return;
  }
  const char *xdg = getenv("XDG_CACHE_HOME");
  const char *home = getenv("HOME");
  if (xdg && *xdg)
    snprintf(out, cap, "%s/gafcl", xdg);
  else if (home && *home)
    snprintf(out, cap, "%s/.cache/gafcl", home);
}

static char *xstrdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

static int valid_file_name(const char *file) {
  if (!*file) return 0;
  for (const char *p = file; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
      return 0;
  return 1;
}

int gc_kernel_source(const char *file, const char **src, size_t *len, int *owned) {
  int st = 0;
  FILE *f = NULL;
  char *buf = NULL;
  *src = NULL;
  *len = 0;
  *owned = 0;
  /* "a+b": the sources of kernels/a.cl and kernels/b.cl, concatenated (OpenCL 1.2 programs built from
   * embedded sources have no #include) */
  const char *plus = strchr(file, '+');
  if (plus) {
    char first[64];
    size_t n1 = (size_t)(plus - file);
    if (n1 == 0 || n1 >= sizeof first) GC_FAIL(GC_ERR_ARG, "kernel file list '%s'", file);
    memcpy(first, file, n1);
    first[n1] = '\0';
    const char *s1, *s2;
    size_t l1, l2;
    int o1, o2;
    GC_TRY(gc_kernel_source(first, &s1, &l1, &o1));
    st = gc_kernel_source(plus + 1, &s2, &l2, &o2);
    if (st) {
      if (o1) free((void *)s1);
      return st;
    }
    buf = malloc(l1 + l2 + 2);
    if (buf) {
      memcpy(buf, s1, l1);
      buf[l1] = '\n';
      memcpy(buf + l1 + 1, s2, l2);
      buf[l1 + 1 + l2] = '\0';
    }
    if (o1) free((void *)s1);
    if (o2) free((void *)s2);
    if (!buf) GC_FAIL(GC_ERR_HOST_MEM, "kernel sources %s", file);
    *src = buf;
    *len = l1 + l2 + 1;
    *owned = 1;
    return GC_OK;
  }
  if (!valid_file_name(file)) GC_FAIL(GC_ERR_ARG, "kernel file name '%s' is not a plain name", file);
  const char *dir = getenv("GAFCL_KERNEL_DIR");
  if (dir && *dir) {
    char path[2048];
    unsigned char *text = NULL;
    size_t n = 0;
    snprintf(path, sizeof path, "%s/%s.cl", dir, file);
    GC_TRY(gc_file_read(path, "kernel source (GAFCL_KERNEL_DIR is set)", (size_t)16 << 20, &text, &n));
    *src = (const char *)text;
    *len = n;
    *owned = 1;
    goto cleanup;
  }
  for (size_t i = 0; i < gc_embedded_kernel_count; i++)
    if (strcmp(gc_embedded_kernels[i].name, file) == 0) {
      *src = gc_embedded_kernels[i].source;
      *len = gc_embedded_kernels[i].length;
      return GC_OK;
    }
  GC_FAIL(GC_ERR_ARG, "no kernel file kernels/%s.cl is embedded in this build", file);
cleanup:
  if (f) fclose(f);
  free(buf);
  return st;
}

/* ---- the disk cache ---- */

static void put_u32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put_u64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get_u32(const uint8_t *p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
  return v;
}
static uint64_t get_u64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

static void hash_str(gc_sha256 *s, const char *str, size_t n) {
  gc_sha256_update(s, str, n);
  gc_sha256_update(s, "", 1); /* a separator, so that ("ab","c") and ("a","bc") differ */
}

static void cache_key(const gc_ctx *ctx, const char *file, const char *src, size_t len, const char *opts,
                      uint8_t key[32]) {
  gc_sha256 s;
  gc_sha256_init(&s);
  const char *tag = "gafcl program cache v1";
  hash_str(&s, tag, strlen(tag));
  hash_str(&s, file, strlen(file));
  hash_str(&s, src, len);
  hash_str(&s, opts, strlen(opts));
  const gc_device_info *d = &ctx->dev;
  const char *parts[] = {d->platform, d->platform_version, d->vendor, d->name, d->version, d->driver};
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) hash_str(&s, parts[i], strlen(parts[i]));
  gc_sha256_final(&s, key);
}

void gc_cache_key_begin(gc_sha256 *h, const gc_ctx *ctx, const char *tag) {
  const gc_device_info *d = &ctx->dev;
  const char *parts[] = {tag, d->platform, d->platform_version, d->vendor, d->name, d->version, d->driver};
  gc_sha256_init(h);
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) gc_sha256_update(h, parts[i], strlen(parts[i]) + 1);
}

void gc_cache_key_path(gc_sha256 *h, const gc_ctx *ctx, const char *ext, char *path, size_t cap) {
  uint8_t dig[32];
  char hex[65];
  gc_sha256_final(h, dig);
  gc_sha256_hex(dig, hex);
  snprintf(path, cap, "%s/%s.%s", ctx->cache_dir, hex, ext);
}

int gc_mkdir_p(const char *dir) {
  char tmp[1024];
  snprintf(tmp, sizeof tmp, "%s", dir);
  for (char *p = tmp + 1; *p; p++)
    if (*p == '/') {
      *p = '\0';
      if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
      *p = '/';
    }
  if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
  return 0;
}

static void entry_path(const gc_ctx *ctx, const uint8_t key[32], char *out, size_t cap) {
  char hex[65];
  gc_sha256_hex(key, hex);
  snprintf(out, cap, "%s/%s.clbin", ctx->cache_dir, hex);
}

/* Read and check an entry. Returns a malloc'ed payload, or NULL when there is no usable entry
 * (*present tells whether a file existed, so a bad one can be counted as rejected). */
static unsigned char *cache_read(const char *path, const uint8_t key[32], size_t *len, int *present) {
  unsigned char *data = NULL, *payload = NULL;
  *len = 0;
  *present = 0;
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC); /* a named pipe here must not block the run */
  if (fd < 0) return NULL;
  FILE *f = fdopen(fd, "rb");
  if (!f) {
    close(fd);
    return NULL;
  }
  *present = 1;
  struct stat sb;
  if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size < (off_t)GC_CACHE_HEADER ||
      sb.st_size > (off_t)1 << 30)
    goto done;
  size_t size = (size_t)sb.st_size;
  data = malloc(size);
  if (!data || fread(data, 1, size, f) != size) goto done;
  if (memcmp(data, "GAFCLPB", 8) != 0 || get_u32(data + 8) != GC_CACHE_VERSION) goto done;
  if (memcmp(data + 16, key, 32) != 0) goto done; /* foreign: another source, options or device */
  uint64_t plen = get_u64(data + 48);
  if (plen == 0 || plen != size - GC_CACHE_HEADER) goto done; /* truncated or padded */
  uint8_t sum[32];
  gc_sha256 s;
  gc_sha256_init(&s);
  gc_sha256_update(&s, data + GC_CACHE_HEADER, (size_t)plen);
  gc_sha256_final(&s, sum);
  if (memcmp(sum, data + 56, 32) != 0) goto done; /* corrupt */
  payload = malloc((size_t)plen);
  if (!payload) goto done;
  memcpy(payload, data + GC_CACHE_HEADER, (size_t)plen);
  *len = (size_t)plen;
done:
  free(data);
  fclose(f);
  return payload;
}

/* Best effort: a cache that cannot be written costs a rebuild next time, nothing else. */
static int cache_write(const gc_ctx *ctx, const char *path, const uint8_t key[32], const unsigned char *bin,
                       size_t len) {
  if (gc_mkdir_p(ctx->cache_dir) != 0) return -1;
  static unsigned counter;
  char tmp[1200];
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld.%u", path, (long)getpid(), counter++);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return -1;
  uint8_t hdr[GC_CACHE_HEADER];
  memset(hdr, 0, sizeof hdr);
  memcpy(hdr, "GAFCLPB", 8);
  put_u32(hdr + 8, GC_CACHE_VERSION);
  memcpy(hdr + 16, key, 32);
  put_u64(hdr + 48, len);
  gc_sha256 s;
  gc_sha256_init(&s);
  gc_sha256_update(&s, bin, len);
  gc_sha256_final(&s, hdr + 56);
  int bad = gc_write_all(fd, hdr, sizeof hdr) || gc_write_all(fd, bin, len) || fsync(fd) != 0;
  if (close(fd) != 0) bad = 1;
  if (bad || rename(tmp, path) != 0) {
    unlink(tmp);
    return -1;
  }
  return 0;
}

/* ---- builds ---- */

static int build_failed(cl_program prog, const gc_ctx *ctx, const char *file, const char *opts, int err) {
  size_t n = 0;
  char *log = NULL;
  if (clGetProgramBuildInfo(prog, ctx->dev.device_id, CL_PROGRAM_BUILD_LOG, 0, NULL, &n) == CL_SUCCESS &&
      n > 0 && (log = calloc(n + 1, 1)) != NULL)
    clGetProgramBuildInfo(prog, ctx->dev.device_id, CL_PROGRAM_BUILD_LOG, n, log, NULL);
  int st = gc_error_set(GC_ERR_BUILD, __FILE__, __LINE__,
                        "building kernels/%s.cl failed on %s with %s (%d); options: '%s'; build log:\n%s", file,
                        ctx->dev.name, gc_status_name(err), err, opts, log && *log ? log : "(empty)");
  free(log);
  return st;
}

static int program_binary(const gc_ctx *ctx, cl_program prog, unsigned char **bin, size_t *len) {
  int st = 0;
  *bin = NULL;
  *len = 0;
  size_t size = 0;
  GC_CL(clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL), "one device");
  if (size == 0) return GC_OK; /* some drivers keep no binary: nothing to cache */
  unsigned char *b = malloc(size);
  if (!b) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "program binary of %zu bytes", size);
  GC_CL(clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof b, &b, NULL), "%zu bytes", size);
  *bin = b;
  *len = size;
  (void)ctx;
cleanup:
  if (st) free(b);
  return st;
}

static int build_program(gc_ctx *ctx, const char *file, const char *user_opts, cl_program *out) {
  int st = 0;
  const char *src = NULL;
  size_t len = 0;
  int owned = 0;
  cl_program prog = NULL;
  unsigned char *bin = NULL;
  size_t bin_len = 0;
  char opts[2048];
  *out = NULL;
  /* GAFCL_BUILD_OPTIONS adds options to every build (e.g. -cl-opt-disable for Oclgrind runs); they are part
   * of the cache key like every other option */
  const char *extra = getenv("GAFCL_BUILD_OPTIONS");
  /* GC_ROWS: kernels that decode an index with integer divisions work a row per work-item on CPUs */
  snprintf(opts, sizeof opts, "-cl-std=CL1.2 -DGC_WG=%zu%s%s%s%s%s", ctx->wg,
           (ctx->dev.type & CL_DEVICE_TYPE_CPU) ? " -DGC_ROWS=1" : "", user_opts && *user_opts ? " " : "",
           user_opts ? user_opts : "", extra && *extra ? " " : "", extra ? extra : "");
  GC_TRY(gc_kernel_source(file, &src, &len, &owned));

  uint8_t key[32] = {0};
  char path[1200] = "";
  cl_int err = 0;
  if (ctx->cache_dir[0]) {
    cache_key(ctx, file, src, len, opts, key);
    entry_path(ctx, key, path, sizeof path);
    int present = 0;
    bin = cache_read(path, key, &bin_len, &present);
    if (bin) {
      const unsigned char *b = bin;
      cl_int bin_status = 0;
      prog = clCreateProgramWithBinary(ctx->context, 1, &ctx->dev.device_id, &bin_len, &b, &bin_status, &err);
      if (err == CL_SUCCESS && bin_status == CL_SUCCESS &&
          clBuildProgram(prog, 1, &ctx->dev.device_id, opts, NULL, NULL) == CL_SUCCESS) {
        ctx->cache.loaded_from_disk++;
        *out = prog;
        prog = NULL;
        goto cleanup;
      }
      if (prog) clReleaseProgram(prog);
      prog = NULL;
    }
    if (present) ctx->cache.rejected++;
    free(bin);
    bin = NULL;
  }

  prog = clCreateProgramWithSource(ctx->context, 1, &src, &len, &err);
  GC_CL_ERR(err, "clCreateProgramWithSource", "kernels/%s.cl, %zu bytes", file, len);
  err = clBuildProgram(prog, 1, &ctx->dev.device_id, opts, NULL, NULL);
  if (err != CL_SUCCESS) {
    st = build_failed(prog, ctx, file, opts, err);
    goto cleanup;
  }
  ctx->cache.built_from_source++;
  if (ctx->cache_dir[0]) {
    GC_TRY(program_binary(ctx, prog, &bin, &bin_len));
    if (bin && cache_write(ctx, path, key, bin, bin_len) == 0)
      ctx->cache.written++;
    else if (bin)
      ctx->cache.write_failed++;
  }
  *out = prog;
  prog = NULL;
cleanup:
  if (prog) clReleaseProgram(prog);
  free(bin);
  if (owned) free((void *)src);
  return st;
}

int gc_wg_probe(gc_ctx *ctx) {
  int st = 0;
  cl_program prog = NULL;
  cl_kernel k = NULL;
  for (;;) {
    /* some compilers refuse a work-group size or the local arrays at build time instead of answering
     * with a smaller size: a smaller one is tried, and the error kept only when a work-group of 1 fails */
    st = build_program(ctx, "probe", "", &prog);
    if (st && ctx->wg > 1 && st != GC_ERR_ARG && st != GC_ERR_IO && st != GC_ERR_HOST_MEM) {
      ctx->wg /= 2;
      st = 0;
      continue;
    }
    if (st) goto cleanup;
    cl_int err = 0;
    k = clCreateKernel(prog, "probe_reduce", &err);
    GC_CL_ERR(err, "clCreateKernel", "the work-group probe (kernels/probe.cl) on %s", ctx->dev.name);
    size_t kwg = 0;
    cl_ulong klm = 0;
    GC_CL(clGetKernelWorkGroupInfo(k, ctx->dev.device_id, CL_KERNEL_WORK_GROUP_SIZE, sizeof kwg, &kwg, NULL),
          "CL_KERNEL_WORK_GROUP_SIZE of the probe");
    GC_CL(clGetKernelWorkGroupInfo(k, ctx->dev.device_id, CL_KERNEL_LOCAL_MEM_SIZE, sizeof klm, &klm, NULL),
          "CL_KERNEL_LOCAL_MEM_SIZE of the probe");
    clReleaseKernel(k);
    clReleaseProgram(prog);
    k = NULL;
    prog = NULL;
    if (kwg >= ctx->wg && klm <= ctx->local_mem) break;
    if (ctx->wg == 1)
      GC_FAIL_GOTO(GC_ERR_NO_DEVICE, "%s accepts no work-group size for gafcl's reductions (with a work-group "
                   "of 1 the compiled probe takes work-groups of %zu and needs %llu bytes of local memory, %zu are "
                   "allowed)", ctx->dev.name, kwg, (unsigned long long)klm, ctx->local_mem);
    ctx->wg /= 2;
  }
cleanup:
  if (k) clReleaseKernel(k);
  if (prog) clReleaseProgram(prog);
  return st;
}

int gc_kernel_get(gc_ctx *ctx, const char *file, const char *options, const char *name, cl_kernel *kernel) {
  return gc_kernel_get_lw(ctx, file, options, name, ctx->wg, kernel);
}

int gc_kernel_get_lw(gc_ctx *ctx, const char *file, const char *options, const char *name, size_t lw, cl_kernel *kernel) {
  int st = 0;
  gc_program_entry *pe = NULL;
  gc_kernel_entry *ke = NULL;
  const char *o = options ? options : "";
  *kernel = NULL;
  for (gc_program_entry *p = ctx->programs; p; p = p->next)
    if (strcmp(p->file, file) == 0 && strcmp(p->options, o) == 0) {
      pe = p;
      break;
    }
  if (!pe) {
    cl_program prog = NULL;
    GC_TRY(build_program(ctx, file, o, &prog));
    pe = calloc(1, sizeof *pe);
    if (!pe || !(pe->file = xstrdup(file)) || !(pe->options = xstrdup(o))) {
      clReleaseProgram(prog);
      if (pe) {
        free(pe->file);
        free(pe);
      }
      GC_FAIL(GC_ERR_HOST_MEM, "program table entry");
    }
    pe->program = prog;
    pe->next = ctx->programs;
    ctx->programs = pe;
  }
  for (gc_kernel_entry *k = ctx->kernels; k; k = k->next)
    if (k->prog == pe && strcmp(k->name, name) == 0) {
      *kernel = k->kernel;
      return GC_OK;
    }
  cl_int err = 0;
  cl_kernel kk = clCreateKernel(pe->program, name, &err);
  GC_CL_ERR(err, "clCreateKernel", "kernel %s in kernels/%s.cl, options '%s'", name, file, o);
  /* what the compiled kernel can run with, queried: a kernel that cannot take the work-group size it was
   * built for, or needs more local memory than the context allows, is refused here by name rather than
   * failing at its first launch */
  size_t kwg = 0;
  cl_ulong klm = 0;
  err = clGetKernelWorkGroupInfo(kk, ctx->dev.device_id, CL_KERNEL_WORK_GROUP_SIZE, sizeof kwg, &kwg, NULL);
  if (err == CL_SUCCESS)
    err = clGetKernelWorkGroupInfo(kk, ctx->dev.device_id, CL_KERNEL_LOCAL_MEM_SIZE, sizeof klm, &klm, NULL);
  if (err != CL_SUCCESS) {
    clReleaseKernel(kk);
    GC_CL_ERR(err, "clGetKernelWorkGroupInfo", "kernel %s in kernels/%s.cl", name, file);
  }
  if (kwg < lw || klm > ctx->local_mem) {
    clReleaseKernel(kk);
    GC_FAIL(GC_ERR_BUILD,
            "kernel %s in kernels/%s.cl on %s runs work-groups of at most %zu and uses %llu bytes of local memory; "
            "gafcl launches it with %zu and allows %zu (GAFCL_MAX_WORK_GROUP / GAFCL_LOCAL_MEM_BYTES lower both)",
            name, file, ctx->dev.name, kwg, (unsigned long long)klm, lw, ctx->local_mem);
  }
  ke = calloc(1, sizeof *ke);
  if (!ke || !(ke->name = xstrdup(name))) {
    clReleaseKernel(kk);
    free(ke);
    GC_FAIL(GC_ERR_HOST_MEM, "kernel table entry");
  }
  ke->prog = pe;
  ke->kernel = kk;
  ke->next = ctx->kernels;
  ctx->kernels = ke;
  *kernel = kk;
cleanup:
  return st;
}

void gc_program_cache_release(gc_ctx *ctx) {
  for (gc_kernel_entry *k = ctx->kernels, *n; k; k = n) {
    n = k->next;
    clReleaseKernel(k->kernel);
    free(k->name);
    free(k);
  }
  ctx->kernels = NULL;
  for (gc_program_entry *p = ctx->programs, *n; p; p = n) {
    n = p->next;
    clReleaseProgram(p->program);
    free(p->file);
    free(p->options);
    free(p);
  }
  ctx->programs = NULL;
}

/* ---- kernel families: handles created once per context ---- */

int gc_kfamily_kernel(gc_ctx *ctx, const gc_kfamily *f, int id, cl_kernel *k) {
  int st = 0;
  struct gc_ctx_ops *ops = gc_ctx_ops_get(ctx);
  if (!ops) GC_FAIL(GC_ERR_HOST_MEM, "kernel tables");
  if (id < 0 || id >= f->count) GC_FAIL(GC_ERR_ARG, "kernel %d of kernels/%s.cl (it has %d)", id, f->file, f->count);
  cl_kernel *tab = ops->kernels[f->slot];
  if (!tab) {
    tab = calloc((size_t)f->count, sizeof *tab);
    if (!tab) GC_FAIL(GC_ERR_HOST_MEM, "kernel table of kernels/%s.cl", f->file);
    for (int i = 0; i < f->count && !st; i++) {
      st = gc_kernel_get(ctx, f->file, NULL, f->names[i], &tab[i]);
    }
    if (st) {
      free(tab); /* the handles themselves belong to the program cache */
      return st;
    }
    ops->kernels[f->slot] = tab;
  }
  *k = tab[id];
  return GC_OK;
}

void gc_kfamily_release(gc_ctx *ctx) {
  for (int i = 0; i < GC_KF_COUNT; i++) {
    free(ctx->ops->kernels[i]);
    ctx->ops->kernels[i] = NULL;
  }
}

int gc_kfamily_run(gc_ctx *ctx, const gc_kfamily *f, int id, size_t items, size_t groups, int nargs,
                   const gc_karg *args) {
  cl_kernel k = NULL;
  int st = gc_kfamily_kernel(ctx, f, id, &k);
  return st ? st : gc_launch(ctx, k, f->names[id], items, groups, nargs, args);
}
