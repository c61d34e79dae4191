/* CLBlast's GEMM kernel parameters per device: overrides (CLBlastOverrideParameters) that `gafcl tune`
 * found faster than CLBlast's own database on the device at hand, kept in the program cache folder
 * (keyed by platform, device and driver) and applied to the process before a context's first GEMM.
 *
 * The file holds one line per CLBlast kernel ("Xgemm", "XgemmDirect", "GemmRoutine"), each the kernel's
 * complete parameter set as NAME=VALUE pairs (CLBlast refuses a partial one). A line CLBlast refuses, an
 * unreadable or foreign file is ignored: CLBlast's own parameters stay. */
#include "gc_blas.h"

#include "gc_io.h"
#include "gc_ops.h"
#include "gc_sha256.h"

#include <clblast_c.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { MAXP = 24 };

static void params_path(const gc_ctx *ctx, char *path, size_t cap) {
  gc_sha256 h;
  gc_cache_key_begin(&h, ctx, "gafcl clblast parameters v1");
  gc_cache_key_path(&h, ctx, "clblast", path, cap);
}

static int valid_kernel(const char *k) {
  return !strcmp(k, "Xgemm") || !strcmp(k, "XgemmDirect") || !strcmp(k, "GemmRoutine");
}

int gc_clblast_override(gc_ctx *ctx, const char *kernel, const char *params) {
  if (!valid_kernel(kernel)) GC_FAIL(GC_ERR_ARG, "CLBlast kernel '%s': use Xgemm, XgemmDirect or GemmRoutine", kernel);
  char names[MAXP][32];
  const char *np[MAXP];
  size_t values[MAXP];
  size_t n = 0;
  for (const char *s = params; *s;) {
    while (*s == ' ') s++;
    if (!*s) break;
    size_t len = strcspn(s, "=");
    if (n == MAXP || len == 0 || len >= sizeof names[0] || s[len] != '=')
      GC_FAIL(GC_ERR_ARG, "CLBlast %s parameters '%s': NAME=VALUE pairs expected", kernel, params);
    memcpy(names[n], s, len);
    names[n][len] = '\0';
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s + len + 1, &end, 10);
    if (end == s + len + 1 || errno || (*end && *end != ' ') || v > 1u << 30)
      GC_FAIL(GC_ERR_ARG, "CLBlast %s parameter %s: a whole number up to 2^30 expected", kernel, names[n]);
    values[n] = (size_t)v;
    np[n] = names[n];
    n++;
    s = end;
  }
  if (n == 0) GC_FAIL(GC_ERR_ARG, "CLBlast %s: no parameters", kernel);
  CLBlastStatusCode cs = CLBlastOverrideParameters(ctx->dev.device_id, kernel, CLBlastPrecisionSingle, n, np, values);
  if (cs != CLBlastSuccess)
    GC_FAIL(GC_ERR_ARG, "CLBlast refuses %s parameters '%s' on %s (status %d)", kernel, params, ctx->dev.name, (int)cs);
  return GC_OK;
}

/* The file's text (NUL-terminated) or -1 when absent, not a regular file or too large. */
static int read_file(const char *path, char *buf, size_t cap) {
  int fd = open(path, O_RDONLY | O_NONBLOCK);
  if (fd < 0) return -1;
  struct stat sb;
  ssize_t got = -1;
  if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size < (off_t)cap) got = read(fd, buf, cap - 1);
  close(fd);
  if (got < 0) return -1;
  buf[got] = '\0';
  return 0;
}

int gc_clblast_tuned_apply(gc_ctx *ctx, int *applied) {
  *applied = 0;
  if (!ctx->cache_dir[0]) return GC_OK;
  char path[1200], text[4096];
  params_path(ctx, path, sizeof path);
  if (read_file(path, text, sizeof text) != 0) return GC_OK;
  if (strncmp(text, "gafcl clblast parameters 1\n", 27) != 0) return GC_OK; /* foreign: CLBlast's own stay */
  for (char *save = NULL, *line = strtok_r(text + 27, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    char kernel[32];
    size_t k = strcspn(line, " ");
    if (k == 0 || k >= sizeof kernel) continue;
    memcpy(kernel, line, k);
    kernel[k] = '\0';
    if (gc_clblast_override(ctx, kernel, line + k) == GC_OK) (*applied)++;
    else gc_clear_error(); /* a line this CLBlast refuses: its own parameters for that kernel */
  }
  return GC_OK;
}

const char *gc_clblast_prepare(gc_ctx *ctx) {
  struct gc_ctx_ops *ops = gc_ctx_ops_get(ctx);
  if (!ops) return "";
  if (!ops->clblast_ready) {
    ops->clblast_ready = 1;
    ops->clblast_sig[0] = '\0';
    int n = 0;
    char path[1200], text[4096];
    if (ctx->cache_dir[0]) {
      params_path(ctx, path, sizeof path);
      if (read_file(path, text, sizeof text) == 0 && gc_clblast_tuned_apply(ctx, &n) == GC_OK && n > 0) {
        gc_sha256 h;
        uint8_t dig[32];
        gc_sha256_init(&h);
        gc_sha256_update(&h, text, strlen(text));
        gc_sha256_final(&h, dig);
        gc_sha256_hex(dig, ops->clblast_sig);
      }
    }
    ops->clblast_tuned = n;
  }
  return ops->clblast_sig;
}

int gc_clblast_tuned_save(gc_ctx *ctx, const char *kernel, const char *params, char *path_out, size_t cap) {
  if (!valid_kernel(kernel)) GC_FAIL(GC_ERR_ARG, "CLBlast kernel '%s'", kernel);
  if (!ctx->cache_dir[0]) GC_FAIL(GC_ERR_IO, "no cache folder (GAFCL_CACHE_DIR is off): the parameters cannot be kept");
  if (gc_mkdir_p(ctx->cache_dir) != 0) GC_FAIL(GC_ERR_IO, "cannot create the cache folder %s: %s", ctx->cache_dir, strerror(errno));
  char path[1200], old[4096], out[4096];
  params_path(ctx, path, sizeof path);
  int len = snprintf(out, sizeof out, "gafcl clblast parameters 1\n");
  /* the other kernels' lines of the existing file are kept */
  if (read_file(path, old, sizeof old) == 0 && !strncmp(old, "gafcl clblast parameters 1\n", 27))
    for (char *save = NULL, *line = strtok_r(old + 27, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
      size_t k = strcspn(line, " ");
      if (k == strlen(kernel) && !strncmp(line, kernel, k)) continue;
      if (len > 0 && (size_t)len < sizeof out) len += snprintf(out + len, sizeof out - (size_t)len, "%s\n", line);
    }
  if (len > 0 && (size_t)len < sizeof out) len += snprintf(out + len, sizeof out - (size_t)len, "%s %s\n", kernel, params);
  if (len <= 0 || (size_t)len >= sizeof out) GC_FAIL(GC_ERR_ARG, "CLBlast parameters too long");
  if (gc_write_file_atomic(path, out, (size_t)len) != 0) GC_FAIL(GC_ERR_IO, "cannot write %s: %s", path, strerror(errno));
  if (path_out) snprintf(path_out, cap, "%s", path);
  return GC_OK;
}
