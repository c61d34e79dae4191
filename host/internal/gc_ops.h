/* What the op families of libgafcl share (internal: not installed).
 *
 * Kernel handles: every host file that launches kernels of kernels/<file>.cl declares its kernels once,
 * as a family (the file and the kernel names, in the order of an enum of its own). The first launch on
 * a context builds the program and creates every kernel of the family; later launches index the
 * context's table directly, so no kernel is looked up by name on a launch.
 *
 * Arguments: every launch goes through gc_launch with an array of gc_karg (gc_runtime.h): the one way
 * kernel arguments are set in the library.
 *
 * Tensor checks: the argument checks every layer runs before a launch. */
#ifndef GC_OPS_H
#define GC_OPS_H

#include "gc_blas.h"
#include "gc_tensor.h"

/* The families, one per kernels/<file>.cl with a host file next to it. The optimizer keeps its own
 * handles (its programs are specialised per configuration). */
enum { GC_KF_ACT, GC_KF_BNORM, GC_KF_CONV, GC_KF_ELTWISE, GC_KF_LOSS, GC_KF_POOL, GC_KF_COUNT };

typedef struct gc_kfamily {
  int slot;                  /* GC_KF_* */
  const char *file;          /* "conv" for kernels/conv.cl */
  int count;
  const char *const *names;  /* count kernel names, indexed by the family's own enum */
} gc_kfamily;

/* The kernel `id` of a family on this context (built on first use). */
int gc_kfamily_kernel(gc_ctx *ctx, const gc_kfamily *f, int id, cl_kernel *k);
/* The kernels/ sources embedded at build time (kernels/embed.cmake writes the table). */
typedef struct gc_embedded_kernel {
  const char *name;
  const char *source;
  size_t length;
} gc_embedded_kernel;
extern const gc_embedded_kernel gc_embedded_kernels[];
extern const size_t gc_embedded_kernel_count;

/* Settle ctx->wg on what the device accepts: build kernels/probe.cl (a reduction with gafcl's local
 * arrays) and halve ctx->wg until the compiled kernel takes it and fits ctx->local_mem (gc_ctx_create). */
int gc_wg_probe(gc_ctx *ctx);
/* Release every family's kernels (gc_ctx_free). */
void gc_kfamily_release(gc_ctx *ctx);

/* gc_kernel_get for a kernel launched in work-groups of `lw` (its own reqd_work_group_size), checked
 * against that instead of the context's work-group size. */
int gc_kernel_get_lw(gc_ctx *ctx, const char *file, const char *options, const char *name, size_t lw, cl_kernel *kernel);
/* Launch kernel `id` of family f: arguments set from args, over `items` work-items, or, when items is
 * 0, over `groups` whole work-groups. */
int gc_kfamily_run(gc_ctx *ctx, const gc_kfamily *f, int id, size_t items, size_t groups, int nargs,
                   const gc_karg *args);
#define GC_LAUNCH(ctx, fam, id, items, ...)                                                              \
  gc_kfamily_run((ctx), (fam), (id), (items), 0, GC_NARGS(__VA_ARGS__), (gc_karg[]){__VA_ARGS__})
#define GC_LAUNCH_GROUPS(ctx, fam, id, groups, ...)                                                      \
  gc_kfamily_run((ctx), (fam), (id), 0, (groups), GC_NARGS(__VA_ARGS__), (gc_karg[]){__VA_ARGS__})

/* ---- argument checks shared by every layer ---- */

/* t is a tensor in an allocated arena whose span lies inside it, of at most UINT_MAX elements. */
int gc_need(const gc_tensor *t, const char *layer, const char *name);
/* ... and an NCHW tensor of exactly n x c x h x w (a channel view is fine). */
int gc_need4(const gc_tensor *t, size_t n, size_t c, size_t h, size_t w, const char *layer, const char *name);
/* ... and a dense tensor of exactly n elements. */
int gc_need_n(const gc_tensor *t, size_t n, const char *layer, const char *name);
/* a is dense and b is dense with as many elements. */
int gc_need_same_dense(const gc_tensor *a, const gc_tensor *b, const char *what, const char *na, const char *nb);

/* The image stride of an NCHW tensor as a kernel argument. */
#define GC_NS(t) ((cl_uint)gc_tensor_nstride(t))

/* Work-items for a kernel that runs one item per element, or one per row of `row` elements on CPU
 * devices (GC_ROWS, set by the program builder). */
static inline size_t gc_rows_items(const gc_ctx *ctx, size_t elements, size_t row) {
  return (ctx->dev.type & CL_DEVICE_TYPE_CPU) ? elements / row : elements;
}

/* Start a cache key: `tag` (what the entry is, with its format version) and the platform, device and
 * driver that measured it (program.c). gc_cache_key_path finishes it as CACHE_DIR/HEX.EXT. */
struct gc_sha256;
void gc_cache_key_begin(struct gc_sha256 *h, const gc_ctx *ctx, const char *tag);
void gc_cache_key_path(struct gc_sha256 *h, const gc_ctx *ctx, const char *ext, char *path, size_t cap);
/* mkdir -p; 0 or -1 with errno (program.c) */
int gc_mkdir_p(const char *dir);

/* Per-context state of the op families (kernel tables, convolution algorithm choices), hung off
 * gc_ctx.ops; created on first use, freed by gc_ctx_free. */
typedef struct gc_conv_state gc_conv_state;
struct gc_ctx_ops {
  cl_kernel *kernels[GC_KF_COUNT];
  gc_conv_state *conv;
  int vgemm_ready, vgemm_tuned; /* vgemm tiles: settled (defaults or the cache's), read from the cache */
  struct gc_vgemm_tile vgemm[2];
  int clblast_ready, clblast_tuned; /* CLBlast overrides from the cache applied (how many kernels) */
  char clblast_sig[65];             /* SHA-256 of the applied file, "" when none */
};
/* Apply the CLBlast parameters `gafcl tune` kept for this device, once per context (before its first
 * GEMM and its first convolution choice); the signature of what was applied ("" for CLBlast's own). */
const char *gc_clblast_prepare(gc_ctx *ctx);
/* The context's op state, created on first use (NULL only when out of memory). */
struct gc_ctx_ops *gc_ctx_ops_get(gc_ctx *ctx);
void gc_conv_state_free(gc_conv_state *s);

#endif
