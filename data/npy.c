/* .npy reader and writer. */
#include "gc_npy.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gc_error.h"

void gc_npy_free(gc_npy *a) {
  free(a->data);
  memset(a, 0, sizeof *a);
}

static size_t esize(const char *d) {
  if (!strcmp(d, "<f4") || !strcmp(d, "<i4")) return 4;
  if (!strcmp(d, "<i8")) return 8;
  if (!strcmp(d, "|u1")) return 1;
  return 0;
}

int gc_npy_read(const char *path, gc_npy *a) {
  int st = 0;
  char *hdr = NULL;
  memset(a, 0, sizeof *a);
  FILE *f = fopen(path, "rb");
  if (!f) GC_FAIL(GC_ERR_IO, "cannot open %s: %s", path, strerror(errno));
  unsigned char pre[12];
  if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0)
    GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: not a .npy file (no \\x93NUMPY magic)", path);
  size_t hl;
  if (pre[6] == 1) {
    hl = pre[8] | (size_t)pre[9] << 8;
  } else if (pre[6] == 2 || pre[6] == 3) {
    if (fread(pre + 10, 1, 2, f) != 2) GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: truncated header", path);
    hl = pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
  } else {
    GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: .npy format version %d.%d is not supported", path, pre[6], pre[7]);
  }
  if (hl == 0 || hl > (1u << 20)) GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: header of %zu bytes", path, hl);
  hdr = malloc(hl + 1);
  if (!hdr) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "npy header");
  if (fread(hdr, 1, hl, f) != hl) GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: truncated header", path);
  hdr[hl] = '\0';
  const char *d = strstr(hdr, "'descr'"), *fo = strstr(hdr, "'fortran_order'"), *sh = strstr(hdr, "'shape'");
  if (!d || !fo || !sh) GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: header lacks descr, fortran_order or shape: %s", path, hdr);
  d = strchr(d + 7, '\'');
  if (!d || sscanf(d + 1, "%7[^']", a->descr) != 1) GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: bad descr in %s", path, hdr);
  if (!esize(a->descr))
    GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: dtype '%s' is not supported (float32 '<f4'; labels '<i8', '<i4', '|u1')", path,
                 a->descr);
  if (strstr(fo, "True") && (!strstr(fo, "False") || strstr(fo, "True") < strstr(fo, "False")))
    GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: Fortran-ordered arrays are not supported (use np.ascontiguousarray)", path);
  const char *p = strchr(sh, '(');
  if (!p) GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: bad shape in %s", path, hdr);
  p++;
  a->count = 1;
  while (*p && *p != ')') {
    while (*p == ' ' || *p == ',') p++;
    if (*p == ')') break;
    char *end;
    unsigned long long v = strtoull(p, &end, 10);
    if (end == p || a->ndim >= 8) GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: bad shape in %s", path, hdr);
    a->shape[a->ndim++] = (size_t)v;
    if (v > 0 && a->count > ((size_t)1 << 40) / v) GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: shape too large", path);
    a->count *= (size_t)v;
    p = end;
  }
  size_t bytes = a->count * esize(a->descr);
  long here = ftell(f);
  if (here < 0 || fseek(f, 0, SEEK_END) != 0) GC_FAIL_GOTO(GC_ERR_IO, "%s: cannot seek", path);
  long end = ftell(f);
  if (end < here || (size_t)(end - here) < bytes || fseek(f, here, SEEK_SET) != 0)
    GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: truncated: %zu bytes of data expected for shape and dtype %s, the file has %ld",
                 path, bytes, a->descr, end > here ? end - here : 0L);
  a->data = malloc(bytes ? bytes : 1);
  if (!a->data) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "%s: %zu bytes", path, bytes);
  if (fread(a->data, 1, bytes, f) != bytes)
    GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: truncated: %zu bytes of data expected for shape and dtype %s", path, bytes, a->descr);
cleanup:
  free(hdr);
  fclose(f);
  if (st) gc_npy_free(a);
  return st;
}

int gc_npy_labels(const gc_npy *a, int classes, float *out, const char *path) {
  for (size_t i = 0; i < a->count; i++) {
    long long v;
    if (!strcmp(a->descr, "<i8"))
      v = ((const int64_t *)a->data)[i];
    else if (!strcmp(a->descr, "<i4"))
      v = ((const int32_t *)a->data)[i];
    else if (!strcmp(a->descr, "|u1"))
      v = ((const uint8_t *)a->data)[i];
    else
      GC_FAIL(GC_ERR_FORMAT, "%s: labels must be integers, not %s", path, a->descr);
    if (v < 0 || v >= classes) GC_FAIL(GC_ERR_FORMAT, "%s: label %lld of sample %zu is not in [0, %d)", path, v, i, classes);
    out[i] = (float)v;
  }
  return GC_OK;
}

int gc_npy_write_f32(const char *path, int ndim, const size_t *shape, const float *data) {
  char dict[256], shp[160] = "";
  size_t n = 1;
  for (int i = 0; i < ndim; i++) {
    char one[32];
    snprintf(one, sizeof one, "%zu%s", shape[i], ndim == 1 ? "," : i + 1 < ndim ? ", " : "");
    strncat(shp, one, sizeof shp - strlen(shp) - 1);
    n *= shape[i];
  }
  int len = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", shp);
  size_t total = 10 + (size_t)len + 1, pad = (64 - total % 64) % 64;
  size_t hl = (size_t)len + pad + 1;
  char tmp[1200];
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
  FILE *f = fopen(tmp, "wb");
  if (!f) GC_FAIL(GC_ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
  unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)hl, (unsigned char)(hl >> 8)};
  int bad = fwrite(pre, 1, 10, f) != 10 || fwrite(dict, 1, (size_t)len, f) != (size_t)len;
  for (size_t i = 0; !bad && i < pad; i++) bad = fputc(' ', f) == EOF;
  bad = bad || fputc('\n', f) == EOF || fwrite(data, sizeof(float), n, f) != n;
  if (fclose(f) != 0) bad = 1;
  if (bad || rename(tmp, path) != 0) {
    unlink(tmp);
    GC_FAIL(GC_ERR_IO, "writing %s: %s", path, strerror(errno));
  }
  return GC_OK;
}
