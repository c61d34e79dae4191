/* Device tensors as views into arenas.
 *
 * An arena is one device buffer holding many tensors of one kind (parameters, gradients, optimizer
 * state, activations/workspace), so that one kernel launch can update every parameter of a net and one
 * transfer can save them all. Tensors are planned first (gc_arena_reserve assigns offsets, aligned to
 * the device's CL_DEVICE_MEM_BASE_ADDR_ALIGN), then the arena is allocated once (gc_arena_commit).
 * A tensor is a view: (arena, element offset, shape); it owns nothing. float32 throughout. */
#ifndef GC_TENSOR_H
#define GC_TENSOR_H

#include "gc_runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GC_MAX_DIMS 4

typedef struct gc_arena {
  char name[32];    /* "parameters", "gradients", ... (for messages) */
  cl_mem buf;       /* NULL until committed */
  size_t align;     /* offset alignment in elements */
  size_t used;      /* elements reserved so far */
  size_t capacity;  /* elements allocated (0 until committed) */
} gc_arena;

typedef struct gc_tensor {
  gc_arena *arena;
  size_t offset;             /* elements from the start of the arena's buffer */
  int ndim;
  size_t dim[GC_MAX_DIMS];   /* NCHW order for activations */
  size_t nstride;            /* elements between consecutive images (dim[0]); 0 = dense. A channel
                                range of a wider NCHW tensor (gc_tensor_channels) has nstride > C*H*W. */
} gc_tensor;

/* Start planning an arena (no device memory yet). */
int gc_arena_init(gc_ctx *ctx, gc_arena *a, const char *name);
/* Reserve a tensor of the given shape at the next aligned offset. Only before commit. */
int gc_arena_reserve(gc_arena *a, gc_tensor *t, int ndim, const size_t *dims);
/* Allocate the device buffer for everything reserved (plus `extra` elements of headroom) and zero it.
 * A size beyond the device's limits gives GC_ERR_DEVICE_MEM naming the size asked and the limit. */
int gc_arena_commit(gc_ctx *ctx, gc_arena *a, size_t extra);
void gc_arena_release(gc_arena *a);
/* Bytes the arena needs (reserved elements, as float32). */
size_t gc_arena_bytes(const gc_arena *a);

/* A 1-D view of a committed arena's whole buffer (one transfer for every tensor in it). */
int gc_arena_view(gc_arena *a, gc_tensor *view);

size_t gc_tensor_numel(const gc_tensor *t);
/* "4x3x32x32" */
const char *gc_shape_str(const gc_tensor *t, char *buf, size_t cap);
/* A view of `count` elements starting `offset` elements into t, as a 1-D tensor. */
int gc_tensor_slice(const gc_tensor *t, size_t offset, size_t count, gc_tensor *view);
/* A view with another shape of the same number of elements. */
int gc_tensor_reshape(const gc_tensor *t, int ndim, const size_t *dims, gc_tensor *view);

/* Elements between images of an NCHW tensor: nstride, or the product of dims 1.. when dense. */
size_t gc_tensor_nstride(const gc_tensor *t);
/* Channels [c0, c0 + count) of a 4-D NCHW tensor, as a view with the parent's image stride: how layers
 * read from and write into a concatenation buffer without copies. */
int gc_tensor_channels(const gc_tensor *t, size_t c0, size_t count, gc_tensor *view);
/* Elements from the tensor's first to one past its last element (numel for dense tensors). */
size_t gc_tensor_span(const gc_tensor *t);
/* 1 when the tensor's elements are contiguous (no image stride gap). */
int gc_tensor_dense(const gc_tensor *t);

/* Blocking host <-> device transfers of the whole tensor; `count` must equal its element count. */
int gc_tensor_write(gc_ctx *ctx, const gc_tensor *t, const float *host, size_t count);
int gc_tensor_read(gc_ctx *ctx, const gc_tensor *t, float *host, size_t count);

/* Non-blocking transfers between elements [offset, offset + count) of a committed arena and host memory,
 * enqueued behind the queue's work and flushed: the host goes on while the device works. host must stay
 * valid (and, for a write, unchanged) until *ev completes; ev may be NULL (then no event is kept). */
int gc_arena_read_async(gc_ctx *ctx, gc_arena *a, size_t offset, size_t count, float *host, cl_event *ev);
int gc_arena_write_async(gc_ctx *ctx, gc_arena *a, size_t offset, size_t count, const float *host, cl_event *ev);
/* Wait until ev has completed (polling with short sleeps: no core kept spinning while kernels run on
 * it), then release it. A failed command gives its status with `what` in the message. */
int gc_event_wait(cl_event ev, const char *what);

#ifdef __cplusplus
}
#endif
#endif
