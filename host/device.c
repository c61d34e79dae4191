/* Device discovery and selection; the context and its queue. */
#include "gc_runtime.h"
#include "gc_ops.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *gc_timing_source_name(const gc_ctx *ctx) {
  switch (ctx->timing_source) {
  case GC_TIMING_EVENTS: return "device events";
  case GC_TIMING_WALL: return "host wall clock (the device's profiling events measure nothing)";
  default: return "not yet measured";
  }
}

const char *gc_device_type_name(cl_device_type t) {
  if (t & CL_DEVICE_TYPE_GPU) return "GPU";
  if (t & CL_DEVICE_TYPE_CPU) return "CPU";
  if (t & CL_DEVICE_TYPE_ACCELERATOR) return "ACCELERATOR";
#ifdef CL_DEVICE_TYPE_CUSTOM
  if (t & CL_DEVICE_TYPE_CUSTOM) return "CUSTOM";
#endif
  return "OTHER";
}

static void trim(char *s) {
  size_t n = strlen(s);
  while (n > 0 && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
  size_t k = 0;
  while (s[k] && isspace((unsigned char)s[k])) k++;
  if (k) memmove(s, s + k, n - k + 1);
}

static int dev_str(cl_device_id d, cl_device_info what, char *out, size_t cap, const char *wname) {
  int st = 0;
  out[0] = '\0';
  GC_CL(clGetDeviceInfo(d, what, cap, out, NULL), "%s", wname);
  out[cap - 1] = '\0';
  trim(out);
cleanup:
  return st;
}

static int has_ext(const char *exts, const char *name) {
  size_t n = strlen(name);
  for (const char *p = exts; (p = strstr(p, name)) != NULL; p += n)
    if ((p == exts || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0')) return 1;
  return 0;
}

static int fill_info(gc_device_info *di, cl_platform_id p, cl_device_id d) {
  int st = 0;
  char *exts = NULL;
  di->platform_id = p;
  di->device_id = d;
  GC_CL(clGetPlatformInfo(p, CL_PLATFORM_NAME, sizeof di->platform, di->platform, NULL), "platform name");
  GC_CL(clGetPlatformInfo(p, CL_PLATFORM_VERSION, sizeof di->platform_version, di->platform_version, NULL),
        "platform version");
  di->platform[sizeof di->platform - 1] = di->platform_version[sizeof di->platform_version - 1] = '\0';
  trim(di->platform);
  trim(di->platform_version);
  GC_TRY(dev_str(d, CL_DEVICE_NAME, di->name, sizeof di->name, "CL_DEVICE_NAME"));
  GC_TRY(dev_str(d, CL_DEVICE_VENDOR, di->vendor, sizeof di->vendor, "CL_DEVICE_VENDOR"));
  GC_TRY(dev_str(d, CL_DEVICE_VERSION, di->version, sizeof di->version, "CL_DEVICE_VERSION"));
  GC_TRY(dev_str(d, CL_DRIVER_VERSION, di->driver, sizeof di->driver, "CL_DRIVER_VERSION"));
  GC_TRY(dev_str(d, CL_DEVICE_OPENCL_C_VERSION, di->c_version, sizeof di->c_version,
                 "CL_DEVICE_OPENCL_C_VERSION"));
  GC_CL(clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof di->type, &di->type, NULL), "CL_DEVICE_TYPE");
  GC_CL(clGetDeviceInfo(d, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof di->compute_units, &di->compute_units, NULL),
        "CL_DEVICE_MAX_COMPUTE_UNITS");
  GC_CL(clGetDeviceInfo(d, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof di->global_mem, &di->global_mem, NULL),
        "CL_DEVICE_GLOBAL_MEM_SIZE");
  GC_CL(clGetDeviceInfo(d, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof di->max_alloc, &di->max_alloc, NULL),
        "CL_DEVICE_MAX_MEM_ALLOC_SIZE");
  GC_CL(clGetDeviceInfo(d, CL_DEVICE_LOCAL_MEM_SIZE, sizeof di->local_mem, &di->local_mem, NULL),
        "CL_DEVICE_LOCAL_MEM_SIZE");
  cl_uint align_bits = 0;
  GC_CL(clGetDeviceInfo(d, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof align_bits, &align_bits, NULL),
        "CL_DEVICE_MEM_BASE_ADDR_ALIGN");
  di->base_addr_align = align_bits / 8;
  GC_CL(clGetDeviceInfo(d, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof di->max_wg, &di->max_wg, NULL),
        "CL_DEVICE_MAX_WORK_GROUP_SIZE");
  size_t ext_len = 0;
  GC_CL(clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, 0, NULL, &ext_len), "CL_DEVICE_EXTENSIONS size");
  exts = calloc(ext_len + 1, 1);
  if (!exts) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "extension string of %zu bytes", ext_len);
  GC_CL(clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, ext_len, exts, NULL), "CL_DEVICE_EXTENSIONS");
  di->fp16 = has_ext(exts, "cl_khr_fp16");
  cl_device_fp_config dcfg = 0;
  /* CL_DEVICE_DOUBLE_FP_CONFIG may be unsupported by 1.1 drivers: fall back on the extension. */
  if (clGetDeviceInfo(d, CL_DEVICE_DOUBLE_FP_CONFIG, sizeof dcfg, &dcfg, NULL) != CL_SUCCESS) dcfg = 0;
  di->fp64 = dcfg != 0 || has_ext(exts, "cl_khr_fp64");
cleanup:
  free(exts);
  return st;
}

int gc_devices_list(gc_device_info **list, int *count) {
  int st = 0;
  cl_platform_id *plats = NULL;
  cl_device_id *devs = NULL;
  gc_device_info *out = NULL;
  int n_out = 0, cap_out = 0;
  *list = NULL;
  *count = 0;

  cl_uint np = 0;
  cl_int err = clGetPlatformIDs(0, NULL, &np);
  if (err == -1001 /* CL_PLATFORM_NOT_FOUND_KHR */ || (err == CL_SUCCESS && np == 0))
    GC_FAIL_GOTO(GC_ERR_NO_PLATFORM,
                 "no OpenCL platform is installed. Install a driver: on Debian/Ubuntu `apt-get install "
                 "pocl-opencl-icd` runs OpenCL on the CPU; GPU vendors ship their own ICD (e.g. NVIDIA's "
                 "libnvidia-opencl, listed in /etc/OpenCL/vendors/)");
  GC_CL_ERR(err, "clGetPlatformIDs", "counting platforms");
  plats = calloc(np, sizeof *plats);
  if (!plats) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "%u platforms", np);
  GC_CL(clGetPlatformIDs(np, plats, NULL), "%u platforms", np);

  for (cl_uint p = 0; p < np; p++) {
    cl_uint nd = 0;
    err = clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd);
    if (err == CL_DEVICE_NOT_FOUND || nd == 0) continue; /* a platform without devices is not an error */
    GC_CL_ERR(err, "clGetDeviceIDs", "platform %u", p);
    free(devs);
    devs = calloc(nd, sizeof *devs);
    if (!devs) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "%u devices", nd);
    GC_CL(clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, nd, devs, NULL), "platform %u, %u devices", p, nd);
    for (cl_uint d = 0; d < nd; d++) {
      if (n_out == cap_out) {
        cap_out = cap_out ? 2 * cap_out : 8;
        gc_device_info *grown = realloc(out, (size_t)cap_out * sizeof *out);
        if (!grown) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "device list of %d", cap_out);
        out = grown;
      }
      gc_device_info *di = &out[n_out];
      memset(di, 0, sizeof *di);
      di->index = n_out;
      di->platform_index = (int)p;
      di->device_index = (int)d;
      GC_TRY(fill_info(di, plats[p], devs[d]));
      n_out++;
    }
  }
  *list = out;
  *count = n_out;
  out = NULL;
cleanup:
  free(out);
  free(devs);
  free(plats);
  return st;
}

static int icontains(const char *hay, const char *needle) {
  size_t n = strlen(needle);
  if (n == 0) return 0;
  for (const char *h = hay; *h; h++) {
    size_t k = 0;
    while (k < n && h[k] && tolower((unsigned char)h[k]) == tolower((unsigned char)needle[k])) k++;
    if (k == n) return 1;
  }
  return 0;
}

/* "P:D" or "N" with nothing else; returns 1 and fills p (-1 for a flat index) and d. */
static int parse_index(const char *s, long *p, long *d) {
  char *end = NULL;
  if (!isdigit((unsigned char)s[0])) return 0;
  long a = strtol(s, &end, 10);
  if (*end == '\0') {
    *p = -1;
    *d = a;
    return 1;
  }
  if (*end != ':' || !isdigit((unsigned char)end[1])) return 0;
  const char *rest = end + 1;
  long b = strtol(rest, &end, 10);
  if (*end != '\0') return 0;
  *p = a;
  *d = b;
  return 1;
}

static void list_devices_into_error(const gc_device_info *list, int count, int status, const char *fmt,
                                    const char *selector, const char *file, int line) {
  size_t cap = 256 + (size_t)count * 400, len = 0;
  char *buf = malloc(cap);
  if (!buf) {
    gc_error_set(status, file, line, fmt, selector);
    return;
  }
  len += (size_t)snprintf(buf + len, cap - len, "; available devices:");
  for (int i = 0; i < count && len < cap; i++)
    len += (size_t)snprintf(buf + len, cap - len, "\n  %d:%d  %s / %s / %s (%s)", list[i].platform_index,
                            list[i].device_index, list[i].platform, list[i].vendor, list[i].name,
                            gc_device_type_name(list[i].type));
  if (count == 0) snprintf(buf + len, cap - len, " none");
  char head[512];
  snprintf(head, sizeof head, fmt, selector);
  gc_error_set(status, file, line, "%s%s", head, buf);
  free(buf);
}

static int is_pocl(const gc_device_info *d) { return icontains(d->platform_version, "pocl"); }

int gc_device_select(const gc_device_info *list, int count, const char *selector, int *index) {
  *index = -1;
  if (count <= 0) GC_FAIL(GC_ERR_NO_DEVICE, "the OpenCL platforms installed have no devices");
  if (!selector || !*selector) {
    int pick = 0;
    for (int i = count - 1; i >= 0; i--) /* the first PoCL device, else the first device */
      if (is_pocl(&list[i])) pick = i;
    for (int i = count - 1; i >= 0; i--) /* but a GPU before any CPU implementation */
      if (list[i].type & CL_DEVICE_TYPE_GPU) pick = i;
    *index = pick;
    return GC_OK;
  }
  long p, d;
  if (parse_index(selector, &p, &d)) {
    for (int i = 0; i < count; i++)
      if ((p < 0 && list[i].index == d) || (p >= 0 && list[i].platform_index == p && list[i].device_index == d)) {
        *index = i;
        return GC_OK;
      }
    list_devices_into_error(list, count, GC_ERR_NO_DEVICE, "no device has index '%s'", selector, __FILE__,
                            __LINE__);
    return GC_ERR_NO_DEVICE;
  }
  /* implementations first ("pocl" is in PoCL's version string), then vendors and device names */
  for (int i = 0; i < count; i++)
    if (icontains(list[i].platform, selector) || icontains(list[i].platform_version, selector)) {
      *index = i;
      return GC_OK;
    }
  for (int i = 0; i < count; i++)
    if (icontains(list[i].name, selector) || icontains(list[i].vendor, selector)) {
      *index = i;
      return GC_OK;
    }
  list_devices_into_error(list, count, GC_ERR_NO_DEVICE,
                          "no device matches '%s' (a platform, vendor, version or device name substring, or P:D)",
                          selector, __FILE__, __LINE__);
  return GC_ERR_NO_DEVICE;
}

/* A positive integer from the environment, or 0 when unset; an error for anything else. */
static int env_count(const char *name, unsigned long long *value) {
  const char *v = getenv(name);
  *value = 0;
  if (!v || !*v) return GC_OK;
  char *end = NULL;
  errno = 0;
  unsigned long long x = strtoull(v, &end, 10);
  if (!isdigit((unsigned char)v[0]) || *end != '\0' || errno || x < 1)
    GC_FAIL(GC_ERR_ARG, "%s='%s': needs a positive integer", name, v);
  *value = x;
  return GC_OK;
}

void gc_program_cache_release(gc_ctx *ctx); /* program.c */
static void drop_events(gc_ctx *ctx);

int gc_ctx_create(gc_ctx **out, const char *selector) {
  int st = 0;
  gc_device_info *list = NULL;
  int count = 0, idx = -1;
  gc_ctx *ctx = NULL;
  *out = NULL;
  if (!selector) selector = getenv("GAFCL_DEVICE");
  GC_TRY(gc_devices_list(&list, &count));
  GC_TRY(gc_device_select(list, count, selector, &idx));
  ctx = calloc(1, sizeof *ctx);
  if (!ctx) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "context");
  ctx->dev = list[idx];
  cl_int err = 0;
  cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)ctx->dev.platform_id, 0};
  ctx->context = clCreateContext(props, 1, &ctx->dev.device_id, NULL, NULL, &err);
  GC_CL_ERR(err, "clCreateContext", "device %s", ctx->dev.name);
  ctx->queue = clCreateCommandQueue(ctx->context, ctx->dev.device_id, CL_QUEUE_PROFILING_ENABLE, &err);
  GC_CL_ERR(err, "clCreateCommandQueue", "device %s, profiling on", ctx->dev.name);
  /* Work-group size and local memory are queried, never assumed. Reductions need a power of two: the
   * largest one <= 256, the device's maximum (and GAFCL_MAX_WORK_GROUP) whose local arrays fit the device's
   * local memory (and GAFCL_LOCAL_MEM_BYTES). The OpenCL minimum (1 work-item, 1 KiB in the embedded
   * profile) must work, and is tested. */
  unsigned long long wg_cap = 0, lm_cap = 0;
  GC_TRY(env_count("GAFCL_MAX_WORK_GROUP", &wg_cap));
  GC_TRY(env_count("GAFCL_LOCAL_MEM_BYTES", &lm_cap));
  ctx->local_mem = (size_t)ctx->dev.local_mem;
  if (lm_cap && lm_cap < ctx->local_mem) ctx->local_mem = (size_t)lm_cap;
  size_t max_wg = ctx->dev.max_wg, item_sizes[3] = {0, 0, 0};
  /* a 1-D work-group is also bounded by the first work-item dimension */
  if (clGetDeviceInfo(ctx->dev.device_id, CL_DEVICE_MAX_WORK_ITEM_SIZES, sizeof item_sizes, item_sizes, NULL) ==
          CL_SUCCESS && item_sizes[0] > 0 && item_sizes[0] < max_wg)
    max_wg = item_sizes[0];
  if (wg_cap && wg_cap < max_wg) max_wg = (size_t)wg_cap;
  if (max_wg < 1 || ctx->local_mem < GC_LOCAL_FLOATS * sizeof(float))
    GC_FAIL_GOTO(GC_ERR_NO_DEVICE, "%s: work-groups of %zu and %zu bytes of local memory are too small for gafcl's "
                 "reductions (%zu bytes per work-item)", ctx->dev.name, max_wg, ctx->local_mem,
                 (size_t)GC_LOCAL_FLOATS * sizeof(float));
  ctx->wg = 1;
  while (ctx->wg * 2 <= 256 && ctx->wg * 2 <= max_wg && ctx->wg * 2 * GC_LOCAL_FLOATS * sizeof(float) <= ctx->local_mem)
    ctx->wg *= 2;
  ctx->mem_align = ctx->dev.base_addr_align < 16 ? 16 : ctx->dev.base_addr_align;
  gc_cache_dir_default(ctx->cache_dir, sizeof ctx->cache_dir);
  ctx->conv_ws_limit = (size_t)64 << 20 >> 2;
  ctx->conv_wgrad_split = 4096;
  const char *split = getenv("GAFCL_WGRAD_SPLIT");
  if (split && *split) ctx->conv_wgrad_split = (size_t)strtoul(split, NULL, 10);
  const char *ws_mb = getenv("GAFCL_CONV_WS_MB");
  if (ws_mb && *ws_mb) {
    char *end = NULL;
    long v = strtol(ws_mb, &end, 10);
    if (*end != '\0' || v < 1) GC_FAIL_GOTO(GC_ERR_ARG, "GAFCL_CONV_WS_MB='%s': needs a positive number of MiB", ws_mb);
    ctx->conv_ws_limit = (size_t)v << 20 >> 2;
  }
  /* NVIDIA's driver (580) fails on a single 8.9 GB buffer that it reports as allocatable (4.5 GB works):
   * activations are split into buffers of at most 2 GiB */
  ctx->max_buffer = (size_t)2 << 30;
  if ((cl_ulong)ctx->max_buffer > ctx->dev.max_alloc) ctx->max_buffer = (size_t)ctx->dev.max_alloc;
  const char *mb = getenv("GAFCL_MAX_BUFFER_MB");
  if (mb && *mb) {
    char *end = NULL;
    long v = strtol(mb, &end, 10);
    if (*end != '\0' || v < 1) GC_FAIL_GOTO(GC_ERR_ARG, "GAFCL_MAX_BUFFER_MB='%s': needs a positive number of MiB", mb);
    if ((size_t)v << 20 < ctx->max_buffer) ctx->max_buffer = (size_t)v << 20;
  }
  GC_TRY(gc_wg_probe(ctx)); /* with the cache folder known: the probe's binary is kept like every program */
  *out = ctx;
  ctx = NULL;
cleanup:
  gc_ctx_free(ctx);
  free(list);
  return st;
}

void gc_ctx_free(gc_ctx *ctx) {
  if (!ctx) return;
  if (ctx->queue) clFinish(ctx->queue);
  drop_events(ctx);
  if (ctx->ops) {
    gc_kfamily_release(ctx);
    gc_conv_state_free(ctx->ops->conv);
    free(ctx->ops);
  }
  gc_program_cache_release(ctx);
  if (ctx->queue) clReleaseCommandQueue(ctx->queue);
  if (ctx->context) clReleaseContext(ctx->context);
  free(ctx);
}

int gc_finish(gc_ctx *ctx) {
  int st = 0;
  GC_CL(clFinish(ctx->queue), "device %s", ctx->dev.name);
cleanup:
  return st;
}

int gc_launch(gc_ctx *ctx, cl_kernel k, const char *what, size_t items, size_t groups, int nargs,
              const gc_karg *args) {
  int st = 0;
  for (int i = 0; i < nargs; i++)
    GC_CL(clSetKernelArg(k, (cl_uint)i, args[i].size, args[i].ptr), "%s argument %d (%zu bytes)", what, i,
          args[i].size);
  size_t local = ctx->wg, global = items ? (items + local - 1) / local * local : groups * local;
  if (global == 0) return GC_OK;
  cl_event ev = NULL;
  GC_CL(clEnqueueNDRangeKernel(ctx->queue, k, 1, NULL, &global, &local, 0, NULL, gc_event_slot(ctx, &ev)),
        "%s over %zu %s (global %zu, local %zu)", what, items ? items : groups, items ? "items" : "work-groups",
        global, local);
  gc_track_event(ctx, ev);
cleanup:
  return st;
}

int gc_launch_nd(gc_ctx *ctx, cl_kernel k, const char *what, int dims, const size_t *global, const size_t *local,
                 int nargs, const gc_karg *args) {
  int st = 0;
  for (int i = 0; i < nargs; i++)
    GC_CL(clSetKernelArg(k, (cl_uint)i, args[i].size, args[i].ptr), "%s argument %d (%zu bytes)", what, i,
          args[i].size);
  for (int d = 0; d < dims; d++)
    if (global[d] == 0) return GC_OK;
  cl_event ev = NULL;
  GC_CL(clEnqueueNDRangeKernel(ctx->queue, k, (cl_uint)dims, NULL, global, local, 0, NULL, gc_event_slot(ctx, &ev)),
        "%s over %zu x %zu x %zu (local %zu)", what, global[0], dims > 1 ? global[1] : 1, dims > 2 ? global[2] : 1,
        local ? local[0] : 0);
  gc_track_event(ctx, ev);
cleanup:
  return st;
}

struct gc_ctx_ops *gc_ctx_ops_get(gc_ctx *ctx) {
  if (!ctx->ops) ctx->ops = calloc(1, sizeof *ctx->ops);
  return ctx->ops;
}

cl_event *gc_event_slot(gc_ctx *ctx, cl_event *slot) {
  *slot = NULL;
  return ctx->timing ? slot : NULL;
}

static void drop_events(gc_ctx *ctx) {
  if (ctx->t_first) clReleaseEvent(ctx->t_first);
  if (ctx->t_last && ctx->t_last != ctx->t_first) clReleaseEvent(ctx->t_last);
  ctx->t_first = ctx->t_last = NULL;
}

void gc_track_event(gc_ctx *ctx, cl_event ev) {
  if (!ev) return;
  if (!ctx->timing) {
    clReleaseEvent(ev);
    return;
  }
  if (!ctx->t_first) {
    ctx->t_first = ctx->t_last = ev;
    return;
  }
  if (ctx->t_last != ctx->t_first) clReleaseEvent(ctx->t_last);
  ctx->t_last = ev;
}

static double host_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Whether the device's profiling events measure anything: a 16 MiB fill must not take less than a
 * thousandth of the host's wall time for it (rusticl 22.3 hands back the stamps 0, 1, 2, 3). */
static int timing_check(gc_ctx *ctx) { /* GC_TIMING_*; UNKNOWN when the check itself could not run */
  cl_int err = 0;
  size_t bytes = (size_t)16 << 20;
  if ((cl_ulong)bytes > ctx->dev.max_alloc) bytes = (size_t)ctx->dev.max_alloc / 2;
  cl_mem b = clCreateBuffer(ctx->context, CL_MEM_READ_WRITE, bytes, NULL, &err);
  if (err != CL_SUCCESS) return GC_TIMING_UNKNOWN;
  float zero = 0.0f;
  cl_event ev = NULL;
  int result = GC_TIMING_UNKNOWN;
  for (int round = 0; round < 2; round++) { /* the second fill counts: first-touch costs are paid */
    if (ev) clReleaseEvent(ev);
    ev = NULL;
    result = GC_TIMING_UNKNOWN;
    if (clFinish(ctx->queue) != CL_SUCCESS) break;
    double w0 = host_now();
    if (clEnqueueFillBuffer(ctx->queue, b, &zero, sizeof zero, 0, bytes & ~(size_t)3, 0, NULL, &ev) != CL_SUCCESS ||
        clWaitForEvents(1, &ev) != CL_SUCCESS)
      break;
    double wall = host_now() - w0;
    cl_ulong t0 = 0, t1 = 0;
    if (clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_START, sizeof t0, &t0, NULL) != CL_SUCCESS ||
        clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, sizeof t1, &t1, NULL) != CL_SUCCESS)
      break;
    result = t1 > t0 && (double)(t1 - t0) * 1e-9 >= wall * 1e-3 ? GC_TIMING_EVENTS : GC_TIMING_WALL;
  }
  if (ev) clReleaseEvent(ev);
  clReleaseMemObject(b);
  return result;
}

void gc_timing_begin(gc_ctx *ctx) {
  drop_events(ctx);
  if (ctx->timing_source == GC_TIMING_UNKNOWN) ctx->timing_source = timing_check(ctx);
  /* the queue drained, then the host's clock; also while the check could not run (it is tried again) */
  if (ctx->timing_source != GC_TIMING_EVENTS) {
    ctx->timing_wall_now = 1;
    clFinish(ctx->queue);
    ctx->t_wall0 = host_now();
    return;
  }
  ctx->timing_wall_now = 0;
  ctx->timing = 1;
  /* A marker opens the interval: a library call may run several kernels but hand back only the last
   * one's event (CLBlast does), so the interval runs from the marker's completion to the last event's end. */
  cl_event m = NULL;
  if (clEnqueueMarkerWithWaitList(ctx->queue, 0, NULL, &m) == CL_SUCCESS) {
    ctx->t_first = ctx->t_last = m;
    ctx->t_marker = 1;
  } else {
    ctx->t_marker = 0;
  }
}

int gc_timing_end(gc_ctx *ctx, double *seconds) {
  int st = 0;
  *seconds = 0.0;
  ctx->timing = 0;
  if (ctx->timing_wall_now) {
    ctx->timing_wall_now = 0;
    GC_CL(clFinish(ctx->queue), "timed launches on %s", ctx->dev.name);
    *seconds = host_now() - ctx->t_wall0;
    return GC_OK;
  }
  if (!ctx->t_first) return GC_OK;
  cl_ulong t0 = 0, t1 = 0;
  /* the queue drained rather than the event waited for: the same point on an in-order queue, and Intel's
   * CPU runtime waits for an event by spinning on one of the cores its kernels run on */
  GC_CL(clFinish(ctx->queue), "timed launches on %s", ctx->dev.name);
  GC_CL(clWaitForEvents(1, &ctx->t_last), "timed launches on %s", ctx->dev.name);
  if (ctx->t_first == ctx->t_last && ctx->t_marker) goto cleanup; /* nothing was launched */
  GC_CL(clGetEventProfilingInfo(ctx->t_first, ctx->t_marker ? CL_PROFILING_COMMAND_END : CL_PROFILING_COMMAND_START,
                                sizeof t0, &t0, NULL),
        "first event");
  GC_CL(clGetEventProfilingInfo(ctx->t_last, CL_PROFILING_COMMAND_END, sizeof t1, &t1, NULL), "last event");
  *seconds = t1 > t0 ? (double)(t1 - t0) * 1e-9 : 0.0;
cleanup:
  drop_events(ctx);
  return st;
}
