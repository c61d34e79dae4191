/* The OpenCL runtime: device discovery and selection, the context and its queue, kernel programs
 * (built once per device with -D specialisations, kept in an on-disk binary cache), kernel launches. */
#ifndef GC_RUNTIME_H
#define GC_RUNTIME_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>
#include <stddef.h>

#include "gc_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What gafcl knows of one device. */
typedef struct gc_device_info {
  int index;                   /* position in the flat list of all devices */
  int platform_index;          /* "P:D" selector: platform P ... */
  int device_index;            /* ... device D within it */
  cl_platform_id platform_id;
  cl_device_id device_id;
  char platform[128];          /* CL_PLATFORM_NAME */
  char platform_version[128];  /* CL_PLATFORM_VERSION */
  char vendor[128];            /* CL_DEVICE_VENDOR */
  char name[256];              /* CL_DEVICE_NAME */
  char version[128];           /* CL_DEVICE_VERSION */
  char driver[128];            /* CL_DRIVER_VERSION */
  char c_version[128];         /* CL_DEVICE_OPENCL_C_VERSION */
  cl_device_type type;
  cl_uint compute_units;
  cl_ulong global_mem;         /* bytes */
  cl_ulong max_alloc;          /* bytes, CL_DEVICE_MAX_MEM_ALLOC_SIZE */
  cl_ulong local_mem;          /* bytes */
  cl_uint base_addr_align;     /* bytes (CL_DEVICE_MEM_BASE_ADDR_ALIGN is in bits) */
  size_t max_wg;               /* CL_DEVICE_MAX_WORK_GROUP_SIZE */
  int fp16, fp64;              /* cl_khr_fp16 / cl_khr_fp64 (or a double config) */
} gc_device_info;

/* Every device of every platform. *list is malloc'ed (free with free()); *count may be 0 when
 * platforms exist but have no devices. No platform at all: GC_ERR_NO_PLATFORM with a message that
 * says how to install one. */
int gc_devices_list(gc_device_info **list, int *count);

/* Choose a device. `selector` is "P:D" (platform:device), "N" (flat index), or a case-insensitive
 * substring: platform names and versions are searched first ("pocl", "intel", "rusticl", "nvidia" name
 * implementations), then vendor and device names (so "intel" finds Intel's platform before PoCL's device
 * named after an Intel CPU). NULL or "" picks the first GPU, else PoCL's device (the implementation the
 * tests run on), else the first device. The ICD loader lists platforms
 * in no fixed order, so the rule does not rely on it. A selector that matches nothing gives
 * GC_ERR_NO_DEVICE with the available devices listed. */
int gc_device_select(const gc_device_info *list, int count, const char *selector, int *index);

/* "GPU", "CPU", "ACCELERATOR", ... */
const char *gc_device_type_name(cl_device_type t);

typedef struct gc_program_entry gc_program_entry;
typedef struct gc_kernel_entry gc_kernel_entry;

/* Where a program came from, counted per context (tests and `gafcl selfcheck` report them). */
typedef struct gc_cache_stats {
  int built_from_source; /* compiled because no valid cache entry existed */
  int loaded_from_disk;  /* loaded from the on-disk binary cache */
  int rejected;          /* cache entries found invalid (truncated, corrupt, foreign) and rebuilt */
  int written;           /* cache entries written */
  int write_failed;      /* cache entries that could not be written (read-only or full disk) */
} gc_cache_stats;

/* The most local memory a gafcl kernel uses, in floats per work-item (the optimizer's reduction keeps
 * three arrays of GC_WG floats); gc_kernel_get checks every kernel against the device's figures. */
#define GC_LOCAL_FLOATS 3

/* One device in use: its context, an in-order queue with profiling, and built programs. */
typedef struct gc_ctx {
  gc_device_info dev;
  cl_context context;
  cl_command_queue queue;
  size_t wg;                 /* work-group size of gafcl's kernels (GC_WG): the largest power of two <= 256,
                                CL_DEVICE_MAX_WORK_GROUP_SIZE and GAFCL_MAX_WORK_GROUP whose reductions
                                (GC_LOCAL_FLOATS floats per work-item) fit local_mem */
  size_t local_mem;          /* bytes of local memory gafcl's kernels may use: CL_DEVICE_LOCAL_MEM_SIZE,
                                capped by GAFCL_LOCAL_MEM_BYTES */
  size_t mem_align;          /* arena offset alignment, bytes */
  char cache_dir[1024];      /* "" when the disk cache is disabled */
  gc_cache_stats cache;
  gc_program_entry *programs;
  gc_kernel_entry *kernels;
  size_t conv_ws_limit;      /* elements: the im2col workspace bound (GAFCL_CONV_WS_MB, default 64 MiB) */
  size_t max_buffer;         /* bytes: the largest buffer gafcl asks for where it can split (a net's
                                activations): min(CL_DEVICE_MAX_MEM_ALLOC_SIZE, 2 GiB, GAFCL_MAX_BUFFER_MB) */
  size_t conv_wgrad_split;   /* reduction length of one weight-gradient partial (GAFCL_WGRAD_SPLIT, 4096) */
  int timing;                /* set by gc_timing_begin: launches keep their events */
  cl_event t_first, t_last;  /* the opening marker (or first launch) and the last launch since gc_timing_begin */
  int t_marker;              /* t_first is a marker */
  int timing_source;         /* GC_TIMING_*: how gc_timing_end measures, settled on first use */
  double t_wall0;            /* host clock at gc_timing_begin, when timing with it */
  int timing_wall_now;       /* the interval being timed uses the host clock */
  struct gc_ctx_ops *ops;    /* the op families' kernel handles and convolution algorithm choices (internal) */
} gc_ctx;

/* Create a context on the device chosen by `selector` (see gc_device_select); NULL selector means
 * the GAFCL_DEVICE environment variable, else the default rule. */
int gc_ctx_create(gc_ctx **ctx, const char *selector);
void gc_ctx_free(gc_ctx *ctx);
int gc_finish(gc_ctx *ctx);

/* The on-disk program cache directory: GAFCL_CACHE_DIR if set ("off" or "" disables the cache),
 * else $XDG_CACHE_HOME/gafcl, else $HOME/.cache/gafcl. Writes "" when disabled. */
void gc_cache_dir_default(char *out, size_t cap);

/* Get a kernel from the program built from kernels/<file>.cl with extra build options `options`
 * (may be NULL). Programs and kernels are built once per context and cached; the binary goes to the
 * disk cache. A failed build records the kernel file, the options and the full build log. */
int gc_kernel_get(gc_ctx *ctx, const char *file, const char *options, const char *name, cl_kernel *kernel);

/* The source of kernels/<file>.cl: from GAFCL_KERNEL_DIR when that is set, else the embedded copy.
 * *owned is set when the caller must free(*src). */
int gc_kernel_source(const char *file, const char **src, size_t *len, int *owned);

/* Device time of a sequence of launches, from OpenCL profiling events: gc_timing_begin (enqueues a
 * marker), enqueue any library operations, then gc_timing_end waits for them and gives the time from the
 * marker's completion to the end of the last launch, in seconds (0 when nothing was launched).
 * The first gc_timing_begin checks that the device's events measure time (a 16 MiB fill timed by both
 * clocks); where they do not (rusticl 22.3 stamps every command 0, 1, 2, 3), the interval is the host's
 * wall clock from a drained queue to the end of the last launch, and ctx->timing_source says so. */
enum { GC_TIMING_UNKNOWN = 0, GC_TIMING_EVENTS = 1, GC_TIMING_WALL = 2 };
/* "device events", "host wall clock (...)" or "not yet measured", for reports. */
const char *gc_timing_source_name(const gc_ctx *ctx);
void gc_timing_begin(gc_ctx *ctx);
int gc_timing_end(gc_ctx *ctx, double *seconds);
/* Library operations hand every event they create here (takes ownership; NULL ignored). */
void gc_track_event(gc_ctx *ctx, cl_event ev);
/* The event pointer to pass to an enqueue call: NULL unless timing is on. */
cl_event *gc_event_slot(gc_ctx *ctx, cl_event *slot);

/* One kernel argument: its size and a pointer to its value (NULL with a size: local memory). */
typedef struct gc_karg {
  size_t size;
  const void *ptr;
} gc_karg;
#define GC_KMEM(buf) ((gc_karg){sizeof(cl_mem), &(buf)})
#define GC_KU32(v) ((gc_karg){sizeof(cl_uint), &(cl_uint){(cl_uint)(v)}})
#define GC_KU64(v) ((gc_karg){sizeof(cl_ulong), &(cl_ulong){(cl_ulong)(v)}})
#define GC_KF32(v) ((gc_karg){sizeof(cl_float), &(cl_float){(cl_float)(v)}})
/* A tensor as the (buffer, element offset) pair every kernel takes. */
#define GC_KT(t) GC_KMEM((t)->arena->buf), GC_KU64((t)->offset)

/* The one way to launch a kernel: set its arguments from `args` (nargs of them) and run it over `items`
 * work-items (rounded up to the context's work-group size), or, when items is 0, over `groups` whole
 * work-groups (reductions). `what` names the kernel in error messages. */
int gc_launch(gc_ctx *ctx, cl_kernel k, const char *what, size_t items, size_t groups, int nargs,
              const gc_karg *args);
/* The same over a `dims`-dimensional range with the given local size (NULL: the implementation's). */
int gc_launch_nd(gc_ctx *ctx, cl_kernel k, const char *what, int dims, const size_t *global, const size_t *local,
                 int nargs, const gc_karg *args);
#define GC_NARGS(...) ((int)(sizeof((gc_karg[]){__VA_ARGS__}) / sizeof(gc_karg)))

#ifdef __cplusplus
}
#endif
#endif
