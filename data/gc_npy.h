/* NumPy .npy files (format versions 1.0-3.0, C order, little-endian): float32 images, int64/int32/uint8
 * labels, float32 outputs. */
#ifndef GC_NPY_H
#define GC_NPY_H
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gc_npy {
  char descr[8];   /* "<f4", "<i8", "<i4", "|u1" */
  int ndim;
  size_t shape[8];
  size_t count;    /* elements */
  void *data;      /* count elements of descr's type */
} gc_npy;

int gc_npy_read(const char *path, gc_npy *out);
void gc_npy_free(gc_npy *a);
/* Write float32 data of the given shape, atomically (temporary file + rename). */
int gc_npy_write_f32(const char *path, int ndim, const size_t *shape, const float *data);
/* Labels of any supported integer type as float class indices (checked against `classes`). */
int gc_npy_labels(const gc_npy *a, int classes, float *out, const char *path);

#ifdef __cplusplus
}
#endif
#endif
