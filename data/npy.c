/* .npy reader and writer. */
#include "gc_npy.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gc_error.h"
#include "gc_io.h"

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

/* The header is a Python literal: {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } padded
 * with spaces and ended by a newline. It is parsed as exactly that: the three keys, each once, quoted
 * strings, True/False, a tuple of non-negative integers (a 1-tuple needs its comma). */
typedef struct lit {
  const char *p, *end;
} lit;

static void ws(lit *l) {
  while (l->p < l->end && (*l->p == ' ' || *l->p == '\t')) l->p++;
}
static int eat(lit *l, char c) {
  ws(l);
  if (l->p < l->end && *l->p == c) {
    l->p++;
    return 1;
  }
  return 0;
}
static int str(lit *l, char *out, size_t cap) {
  ws(l);
  if (l->p >= l->end || (*l->p != '\'' && *l->p != '"')) return 0;
  char q = *l->p++;
  size_t n = 0;
  while (l->p < l->end && *l->p != q) {
    if (*l->p == '\\' || (unsigned char)*l->p < 0x20 || n + 1 >= cap) return 0;
    out[n++] = *l->p++;
  }
  if (l->p >= l->end) return 0;
  l->p++;
  out[n] = '\0';
  return 1;
}

static int parse_header(const char *h, size_t len, gc_npy *a, int *fortran) {
  lit l = {h, h + len};
  int seen[3] = {0, 0, 0};
  if (!eat(&l, '{')) return 0;
  for (;;) {
    char key[32];
    if (eat(&l, '}')) break;
    if (!str(&l, key, sizeof key) || !eat(&l, ':')) return 0;
    if (!strcmp(key, "descr") && !seen[0]) {
      if (!str(&l, a->descr, sizeof a->descr)) return 0;
      seen[0] = 1;
    } else if (!strcmp(key, "fortran_order") && !seen[1]) {
      ws(&l);
      if (l.end - l.p >= 4 && !strncmp(l.p, "True", 4)) *fortran = 1, l.p += 4;
      else if (l.end - l.p >= 5 && !strncmp(l.p, "False", 5)) *fortran = 0, l.p += 5;
      else return 0;
      seen[1] = 1;
    } else if (!strcmp(key, "shape") && !seen[2]) {
      if (!eat(&l, '(')) return 0;
      int commas = 0;
      while (!eat(&l, ')')) {
        ws(&l);
        if (l.p >= l.end || *l.p < '0' || *l.p > '9' || a->ndim >= 8) return 0;
        unsigned long long v = 0;
        while (l.p < l.end && *l.p >= '0' && *l.p <= '9') {
          if (v > (1ull << 40)) return 0; /* far beyond any file: refused before it can overflow */
          v = v * 10 + (unsigned long long)(*l.p++ - '0');
        }
        a->shape[a->ndim++] = (size_t)v;
        if (eat(&l, ',')) commas++;
        else if (!eat(&l, ')')) return 0;
        else break;
      }
      if (a->ndim == 1 && commas == 0) return 0; /* (5) is an integer, not a tuple */
      seen[2] = 1;
    } else {
      return 0; /* an unknown or repeated key */
    }
    if (!eat(&l, ',')) {
      if (!eat(&l, '}')) return 0;
      break;
    }
  }
  ws(&l);
  if (l.p != l.end) return 0; /* only padding after the dictionary */
  return seen[0] && seen[1] && seen[2];
}

int gc_npy_read(const char *path, gc_npy *a) {
  int st = 0;
  unsigned char *buf = NULL;
  size_t size = 0;
  memset(a, 0, sizeof *a);
  GC_TRY(gc_file_read(path, ".npy file", (size_t)1 << 40, &buf, &size));
  if (size < 10 || memcmp(buf, "\x93NUMPY", 6) != 0)
    GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: not a .npy file (no \\x93NUMPY magic)", path);
  size_t hl, start;
  if (buf[6] == 1) {
    hl = buf[8] | (size_t)buf[9] << 8;
    start = 10;
  } else if (buf[6] == 2 || buf[6] == 3) {
    if (size < 12) GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: truncated header", path);
    hl = buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
    start = 12;
  } else {
    GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: .npy format version %d.%d is not supported", path, buf[6], buf[7]);
  }
  if (hl == 0 || hl > (1u << 20) || hl > size - start)
    GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: a header of %zu bytes in a file of %zu", path, hl, size);
  const char *h = (const char *)buf + start;
  if (h[hl - 1] != '\n' || memchr(h, '\0', hl))
    GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: the header does not end with a newline", path);
  int fortran = 0;
  if (!parse_header(h, hl - 1, a, &fortran))
    GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: the header is not a .npy dictionary of descr, fortran_order and shape: %.*s", path,
                 (int)(hl - 1 > 200 ? 200 : hl - 1), h);
  if (!esize(a->descr))
    GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: dtype '%s' is not supported (float32 '<f4'; labels '<i8', '<i4', '|u1')", path,
                 a->descr);
  if (fortran) GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: Fortran-ordered arrays are not supported (use np.ascontiguousarray)", path);
  a->count = 1;
  for (int i = 0; i < a->ndim; i++) {
    size_t v = a->shape[i];
    if (v > 0 && a->count > ((size_t)1 << 40) / v) GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: shape too large", path);
    a->count *= v;
  }
  size_t bytes = a->count * esize(a->descr), have = size - start - hl;
  if (have != bytes)
    GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: %zu bytes of data for shape and dtype %s need %zu (%s)", path, have, a->descr,
                 bytes, have < bytes ? "truncated" : "extra bytes after the data");
  memmove(buf, buf + start + hl, bytes); /* the data in the file's buffer: no second copy */
  a->data = buf;
  buf = NULL;
cleanup:
  free(buf);
  if (st) gc_npy_free(a);
  return st;
}

int gc_npy_labels(const gc_npy *a, int classes, float *out, const char *path) {
  if (a->ndim != 1 && !(a->ndim == 2 && a->shape[1] == 1))
    GC_FAIL(GC_ERR_FORMAT, "%s: labels must be one integer per image, shape (N,) or (N, 1), not %d dimensions", path,
            a->ndim);
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
