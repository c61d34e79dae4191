/* The argument checks every layer runs before it launches anything (gc_ops.h). */
#include "gc_ops.h"

#include <limits.h>
#include <stdio.h>

int gc_need(const gc_tensor *t, const char *layer, const char *name) {
  if (!t || !t->arena || !t->arena->buf) GC_FAIL(GC_ERR_ARG, "%s: %s is not a tensor in an allocated arena", layer, name);
  size_t span = gc_tensor_span(t);
  if (t->offset + span > t->arena->capacity)
    GC_FAIL(GC_ERR_ARG, "%s: %s spans [%zu, +%zu) beyond arena '%s' (%zu elements)", layer, name, t->offset, span,
            t->arena->name, t->arena->capacity);
  if (span > UINT_MAX) GC_FAIL(GC_ERR_ARG, "%s: %s has %zu elements (at most %u)", layer, name, span, UINT_MAX);
  return GC_OK;
}

int gc_need4(const gc_tensor *t, size_t n, size_t c, size_t h, size_t w, const char *layer, const char *name) {
  char s[96];
  int st = gc_need(t, layer, name);
  if (st) return st;
  if (t->ndim != 4 || t->dim[0] != n || t->dim[1] != c || t->dim[2] != h || t->dim[3] != w)
    GC_FAIL(GC_ERR_ARG, "%s: %s is %s, expected %zux%zux%zux%zu", layer, name, gc_shape_str(t, s, sizeof s), n, c, h, w);
  return GC_OK;
}

int gc_need_n(const gc_tensor *t, size_t n, const char *layer, const char *name) {
  char s[96];
  int st = gc_need(t, layer, name);
  if (st) return st;
  if (gc_tensor_numel(t) != n || !gc_tensor_dense(t))
    GC_FAIL(GC_ERR_ARG, "%s: %s is %s (%zu elements%s), expected %zu dense elements", layer, name,
            gc_shape_str(t, s, sizeof s), gc_tensor_numel(t), gc_tensor_dense(t) ? "" : ", strided", n);
  return GC_OK;
}

int gc_need_same_dense(const gc_tensor *a, const gc_tensor *b, const char *what, const char *na, const char *nb) {
  int st = gc_need(a, what, na);
  if (!st) st = gc_need_n(b, gc_tensor_numel(a), what, nb);
  if (!st && !gc_tensor_dense(a)) GC_FAIL(GC_ERR_ARG, "%s: %s must be dense", what, na);
  return st;
}

