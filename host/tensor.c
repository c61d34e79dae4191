/* Arenas and tensor views. */
#include "gc_tensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

int gc_arena_init(gc_ctx *ctx, gc_arena *a, const char *name) {
  memset(a, 0, sizeof *a);
  snprintf(a->name, sizeof a->name, "%s", name);
  a->align = ctx->mem_align / sizeof(float);
  if (a->align == 0) a->align = 1;
  return GC_OK;
}

size_t gc_arena_bytes(const gc_arena *a) { return a->used * sizeof(float); }

int gc_arena_reserve(gc_arena *a, gc_tensor *t, int ndim, const size_t *dims) {
  memset(t, 0, sizeof *t);
  if (a->buf) GC_FAIL(GC_ERR_ARG, "arena '%s' is already allocated; reserve every tensor before commit", a->name);
  if (ndim < 1 || ndim > GC_MAX_DIMS) GC_FAIL(GC_ERR_ARG, "tensor rank %d (1..%d)", ndim, GC_MAX_DIMS);
  size_t n = 1;
  for (int i = 0; i < ndim; i++) {
    if (dims[i] != 0 && n > SIZE_MAX / 4 / dims[i])
      GC_FAIL(GC_ERR_ARG, "tensor of rank %d in arena '%s' overflows size_t", ndim, a->name);
    n *= dims[i];
    t->dim[i] = dims[i];
  }
  size_t off = (a->used + a->align - 1) / a->align * a->align;
  if (off > SIZE_MAX / 4 - n) GC_FAIL(GC_ERR_ARG, "arena '%s' overflows size_t", a->name);
  t->arena = a;
  t->offset = off;
  t->ndim = ndim;
  a->used = off + n;
  return GC_OK;
}

static double mib(double bytes) { return bytes / (1024.0 * 1024.0); }

int gc_arena_commit(gc_ctx *ctx, gc_arena *a, size_t extra) {
  int st = 0;
  if (a->buf) GC_FAIL(GC_ERR_ARG, "arena '%s' is already allocated", a->name);
  size_t n = a->used + extra;
  if (n == 0) n = 1; /* OpenCL has no empty buffers; an empty arena still gets a valid handle */
  n = (n + a->align - 1) / a->align * a->align; /* whole alignment blocks: kernels may run to the end */
  size_t bytes = n * sizeof(float);
  if ((cl_ulong)bytes > ctx->dev.max_alloc || (cl_ulong)bytes > ctx->dev.global_mem)
    GC_FAIL(GC_ERR_DEVICE_MEM,
            "arena '%s' needs %zu bytes (%.1f MiB) but %s allows at most %llu bytes (%.1f MiB) in one "
            "buffer and has %llu bytes (%.1f MiB) of global memory",
            a->name, bytes, mib((double)bytes), ctx->dev.name, (unsigned long long)ctx->dev.max_alloc,
            mib((double)ctx->dev.max_alloc), (unsigned long long)ctx->dev.global_mem,
            mib((double)ctx->dev.global_mem));
  cl_int err = 0;
  a->buf = clCreateBuffer(ctx->context, CL_MEM_READ_WRITE, bytes, NULL, &err);
  if (err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_RESOURCES || err == CL_OUT_OF_HOST_MEMORY ||
      err == CL_INVALID_BUFFER_SIZE)
    GC_FAIL_GOTO(GC_ERR_DEVICE_MEM, "clCreateBuffer for arena '%s' of %zu bytes (%.1f MiB) failed with %s; %s "
                 "has %.1f MiB of global memory, %.1f MiB per buffer",
                 a->name, bytes, mib((double)bytes), gc_status_name(err), ctx->dev.name,
                 mib((double)ctx->dev.global_mem), mib((double)ctx->dev.max_alloc));
  GC_CL_ERR(err, "clCreateBuffer", "arena '%s', %zu bytes", a->name, bytes);
  /* Zeroing touches every page: drivers that allocate lazily report a shortage here, not mid-run, and
   * the contents start deterministic. */
  const float zero = 0.0f;
  if (strstr(ctx->dev.platform, "Oclgrind")) {
    /* Oclgrind 21.10 loses track of which bytes are initialised after clEnqueueFillBuffer (and after
     * host writes at an offset): zero the whole buffer with one host write there, so that its
     * uninitialised-read checks stay exact. (Oclgrind runs use small arenas.) */
    void *zeros = calloc(1, bytes);
    if (!zeros) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "zeroing arena '%s' of %zu bytes", a->name, bytes);
    err = clEnqueueWriteBuffer(ctx->queue, a->buf, CL_TRUE, 0, bytes, zeros, 0, NULL, NULL);
    free(zeros);
  } else {
    /* in pieces of at most 1 GiB: NVIDIA's driver (580) fails a single fill of 8.9 GB with
     * CL_INVALID_COMMAND_QUEUE */
    const size_t piece = (size_t)1 << 30;
    for (size_t off = 0; off < bytes && err == CL_SUCCESS; off += piece)
      err = clEnqueueFillBuffer(ctx->queue, a->buf, &zero, sizeof zero, off, bytes - off < piece ? bytes - off : piece, 0,
                                NULL, NULL);
  }
  if (err == CL_SUCCESS) err = clFinish(ctx->queue);
  if (err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_RESOURCES)
    GC_FAIL_GOTO(GC_ERR_DEVICE_MEM, "arena '%s' of %zu bytes (%.1f MiB) could not be backed by %s (%s); "
                 "global memory %.1f MiB",
                 a->name, bytes, mib((double)bytes), ctx->dev.name, gc_status_name(err),
                 mib((double)ctx->dev.global_mem));
  GC_CL_ERR(err, "clEnqueueFillBuffer", "arena '%s', %zu bytes", a->name, bytes);
  a->capacity = n;
cleanup:
  if (st && a->buf) {
    clReleaseMemObject(a->buf);
    a->buf = NULL;
  }
  return st;
}

void gc_arena_release(gc_arena *a) {
  if (a->buf) clReleaseMemObject(a->buf);
  a->buf = NULL;
  a->capacity = 0;
  a->used = 0;
}

int gc_arena_view(gc_arena *a, gc_tensor *view) {
  memset(view, 0, sizeof *view);
  if (!a->buf) GC_FAIL(GC_ERR_ARG, "arena '%s' is not allocated", a->name);
  view->arena = a;
  view->ndim = 1;
  view->dim[0] = a->capacity;
  return GC_OK;
}

size_t gc_tensor_numel(const gc_tensor *t) {
  if (t->ndim == 0) return 0;
  size_t n = 1;
  for (int i = 0; i < t->ndim; i++) n *= t->dim[i];
  return n;
}

const char *gc_shape_str(const gc_tensor *t, char *buf, size_t cap) {
  size_t len = 0;
  buf[0] = '\0';
  for (int i = 0; i < t->ndim && len < cap; i++)
    len += (size_t)snprintf(buf + len, cap - len, i ? "x%zu" : "%zu", t->dim[i]);
  return buf;
}

size_t gc_tensor_nstride(const gc_tensor *t) {
  if (t->nstride) return t->nstride;
  size_t n = 1;
  for (int i = 1; i < t->ndim; i++) n *= t->dim[i];
  return n;
}

size_t gc_tensor_span(const gc_tensor *t) {
  size_t n = gc_tensor_numel(t);
  if (n == 0 || gc_tensor_dense(t)) return n;
  return (t->dim[0] - 1) * t->nstride + n / t->dim[0];
}

int gc_tensor_dense(const gc_tensor *t) {
  size_t inner = 1;
  for (int i = 1; i < t->ndim; i++) inner *= t->dim[i];
  return t->nstride == 0 || t->nstride == inner || t->dim[0] <= 1;
}

int gc_tensor_channels(const gc_tensor *t, size_t c0, size_t count, gc_tensor *view) {
  char s[96];
  if (t->ndim != 4) GC_FAIL(GC_ERR_ARG, "channel view of %s: needs an NCHW tensor", gc_shape_str(t, s, sizeof s));
  if (c0 > t->dim[1] || count > t->dim[1] - c0 || count == 0)
    GC_FAIL(GC_ERR_ARG, "channels [%zu, +%zu) of %s", c0, count, gc_shape_str(t, s, sizeof s));
  gc_tensor v = *t;
  v.nstride = gc_tensor_nstride(t);
  v.offset = t->offset + c0 * t->dim[2] * t->dim[3];
  v.dim[1] = count;
  *view = v;
  return GC_OK;
}

int gc_tensor_slice(const gc_tensor *t, size_t offset, size_t count, gc_tensor *view) {
  size_t n = gc_tensor_numel(t);
  if (!gc_tensor_dense(t)) GC_FAIL(GC_ERR_ARG, "slice of a strided channel view");
  if (offset > n || count > n - offset)
    GC_FAIL(GC_ERR_ARG, "slice [%zu, +%zu) of a tensor of %zu elements", offset, count, n);
  memset(view, 0, sizeof *view);
  view->arena = t->arena;
  view->offset = t->offset + offset;
  view->ndim = 1;
  view->dim[0] = count;
  return GC_OK;
}

int gc_tensor_reshape(const gc_tensor *t, int ndim, const size_t *dims, gc_tensor *view) {
  if (ndim < 1 || ndim > GC_MAX_DIMS) GC_FAIL(GC_ERR_ARG, "rank %d (1..%d)", ndim, GC_MAX_DIMS);
  size_t n = 1;
  for (int i = 0; i < ndim; i++) n *= dims[i];
  char s[96];
  if (n != gc_tensor_numel(t))
    GC_FAIL(GC_ERR_ARG, "reshape of %s (%zu elements) to %zu elements", gc_shape_str(t, s, sizeof s),
            gc_tensor_numel(t), n);
  if (!gc_tensor_dense(t)) GC_FAIL(GC_ERR_ARG, "reshape of a strided channel view %s", gc_shape_str(t, s, sizeof s));
  gc_tensor v = *t;
  v.ndim = ndim;
  v.nstride = 0;
  for (int i = 0; i < GC_MAX_DIMS; i++) v.dim[i] = i < ndim ? dims[i] : 0;
  *view = v;
  return GC_OK;
}

static int check_transfer(const gc_tensor *t, size_t count, const char *what) {
  char s[96];
  if (!gc_tensor_dense(t)) GC_FAIL(GC_ERR_ARG, "%s of a strided channel view %s", what, gc_shape_str(t, s, sizeof s));
  if (!t->arena || !t->arena->buf) GC_FAIL(GC_ERR_ARG, "%s of a tensor whose arena is not allocated", what);
  if (count != gc_tensor_numel(t))
    GC_FAIL(GC_ERR_ARG, "%s of %zu elements into a tensor of shape %s (%zu elements)", what, count,
            gc_shape_str(t, s, sizeof s), gc_tensor_numel(t));
  if (t->offset + count > t->arena->capacity)
    GC_FAIL(GC_ERR_ARG, "%s at offset %zu +%zu beyond arena '%s' (%zu elements)", what, t->offset, count,
            t->arena->name, t->arena->capacity);
  return GC_OK;
}

int gc_tensor_write(gc_ctx *ctx, const gc_tensor *t, const float *host, size_t count) {
  int st = check_transfer(t, count, "write");
  if (st || count == 0) return st;
  GC_CL(clFinish(ctx->queue), "the work before a write to arena '%s'", t->arena->name); /* see gc_tensor_read */
  GC_CL(clEnqueueWriteBuffer(ctx->queue, t->arena->buf, CL_TRUE, t->offset * sizeof(float), count * sizeof(float),
                             host, 0, NULL, NULL),
        "arena '%s', offset %zu, %zu elements", t->arena->name, t->offset, count);
cleanup:
  return st;
}

int gc_tensor_read(gc_ctx *ctx, const gc_tensor *t, float *host, size_t count) {
  int st = check_transfer(t, count, "read");
  if (st || count == 0) return st;
  /* the queue drained first: a blocking transfer behind running kernels makes Intel's CPU runtime spin on
   * one of the cores those kernels run on (measured: a ResNet-18 step 1.6x slower), clFinish sleeps */
  GC_CL(clFinish(ctx->queue), "the work before a read from arena '%s'", t->arena->name);
  GC_CL(clEnqueueReadBuffer(ctx->queue, t->arena->buf, CL_TRUE, t->offset * sizeof(float), count * sizeof(float),
                            host, 0, NULL, NULL),
        "arena '%s', offset %zu, %zu elements", t->arena->name, t->offset, count);
cleanup:
  return st;
}

static int check_range(const gc_arena *a, size_t offset, size_t count, const char *what) {
  if (!a || !a->buf) GC_FAIL(GC_ERR_ARG, "%s of an arena that is not allocated", what);
  if (offset > a->capacity || count > a->capacity - offset)
    GC_FAIL(GC_ERR_ARG, "%s at offset %zu +%zu beyond arena '%s' (%zu elements)", what, offset, count, a->name,
            a->capacity);
  return GC_OK;
}

int gc_arena_read_async(gc_ctx *ctx, gc_arena *a, size_t offset, size_t count, float *host, cl_event *ev) {
  int st = check_range(a, offset, count, "asynchronous read");
  if (ev) *ev = NULL;
  if (st) return st;
  if (count == 0) return GC_OK; /* no event: nothing to wait for */
  GC_CL(clEnqueueReadBuffer(ctx->queue, a->buf, CL_FALSE, offset * sizeof(float), count * sizeof(float), host, 0, NULL,
                            ev),
        "arena '%s', offset %zu, %zu elements", a->name, offset, count);
  GC_CL(clFlush(ctx->queue), "after a read from arena '%s'", a->name);
cleanup:
  return st;
}

int gc_arena_write_async(gc_ctx *ctx, gc_arena *a, size_t offset, size_t count, const float *host, cl_event *ev) {
  int st = check_range(a, offset, count, "asynchronous write");
  if (ev) *ev = NULL;
  if (st) return st;
  if (count == 0) return GC_OK;
  GC_CL(clEnqueueWriteBuffer(ctx->queue, a->buf, CL_FALSE, offset * sizeof(float), count * sizeof(float), host, 0,
                             NULL, ev),
        "arena '%s', offset %zu, %zu elements", a->name, offset, count);
  GC_CL(clFlush(ctx->queue), "after a write to arena '%s'", a->name);
cleanup:
  return st;
}

int gc_event_wait(cl_event ev, const char *what) {
  int st = 0;
  if (!ev) return GC_OK;
  for (long polls = 0;; polls++) {
    cl_int status = 0;
    GC_CL(clGetEventInfo(ev, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status, &status, NULL), "%s", what);
    if (status < 0) GC_CL(status, "%s", what);
    if (status == CL_COMPLETE) break;
    /* 20 us at first, then 200 us: short enough for the transfers of a step, no spinning core */
    struct timespec ts = {0, polls < 50 ? 20000L : 200000L};
    nanosleep(&ts, NULL);
  }
cleanup:
  clReleaseEvent(ev);
  return st;
}
