/* Status names and the per-thread error message. */
#include "gc_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The message buffer grows as needed: a failed kernel build records the whole build log. */
static _Thread_local char *g_msg;
static _Thread_local size_t g_cap;

const char *gc_last_error(void) { return g_msg ? g_msg : ""; }

void gc_clear_error(void) {
  if (g_msg) g_msg[0] = '\0';
}

static void store(const char *text) {
  size_t n = strlen(text) + 1;
  if (n > g_cap) {
    char *p = realloc(g_msg, n);
    if (!p) return; /* keep the old message rather than lose both */
    g_msg = p;
    g_cap = n;
  }
  memcpy(g_msg, text, n);
}

static char *vformat(const char *fmt, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (n < 0) n = 0;
  char *s = malloc((size_t)n + 1);
  if (!s) return NULL;
  vsnprintf(s, (size_t)n + 1, fmt, ap);
  return s;
}

static const char *basename_of(const char *path) {
  const char *s = strrchr(path, '/');
  if (!s) return path;
  /* keep one directory level: "host/gc_tensor.c" */
  const char *p = s;
  while (p > path && p[-1] != '/') p--;
  return p > path ? p : path;
}

int gc_error_setv(int status, const char *file, int line, const char *fmt, va_list ap) {
  char *body = vformat(fmt, ap);
  char *full = NULL;
  const char *where = basename_of(file);
  int n = snprintf(NULL, 0, "%s (%s at %s:%d)", body ? body : "?", gc_status_name(status), where, line);
  full = malloc((size_t)n + 1);
  if (full) {
    snprintf(full, (size_t)n + 1, "%s (%s at %s:%d)", body ? body : "?", gc_status_name(status), where, line);
    store(full);
  } else {
    store("out of host memory while recording an error");
  }
  free(full);
  free(body);
  return status;
}

int gc_error_set(int status, const char *file, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  gc_error_setv(status, file, line, fmt, ap);
  va_end(ap);
  return status;
}

int gc_error_call(int status, const char *file, int line, const char *call, const char *fmt, ...) {
  /* `call` may be a whole stringised expression: keep the function name only. */
  char name[96];
  size_t k = 0;
  while (call[k] && call[k] != '(' && k + 1 < sizeof name) {
    name[k] = call[k];
    k++;
  }
  name[k] = '\0';
  va_list ap;
  va_start(ap, fmt);
  char *ctx = vformat(fmt, ap);
  va_end(ap);
  gc_error_set(status, file, line, "%s failed: %s (%d) [%s]", name, gc_status_name(status), status,
               ctx ? ctx : "");
  free(ctx);
  return status;
}

int gc_error_prefix(int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *pre = vformat(fmt, ap);
  va_end(ap);
  if (!pre) return status;
  const char *old = gc_last_error();
  size_t n = strlen(pre) + strlen(old) + 1;
  char *s = malloc(n);
  if (s) {
    snprintf(s, n, "%s%s", pre, old);
    store(s);
    free(s);
  }
  free(pre);
  return status;
}

const char *gc_status_name(int status) {
  switch (status) {
#define N(code, name)                                                                                    \
  case code:                                                                                             \
    return name
    N(0, "CL_SUCCESS");
    N(-1, "CL_DEVICE_NOT_FOUND");
    N(-2, "CL_DEVICE_NOT_AVAILABLE");
    N(-3, "CL_COMPILER_NOT_AVAILABLE");
    N(-4, "CL_MEM_OBJECT_ALLOCATION_FAILURE");
    N(-5, "CL_OUT_OF_RESOURCES");
    N(-6, "CL_OUT_OF_HOST_MEMORY");
    N(-7, "CL_PROFILING_INFO_NOT_AVAILABLE");
    N(-8, "CL_MEM_COPY_OVERLAP");
    N(-9, "CL_IMAGE_FORMAT_MISMATCH");
    N(-10, "CL_IMAGE_FORMAT_NOT_SUPPORTED");
    N(-11, "CL_BUILD_PROGRAM_FAILURE");
    N(-12, "CL_MAP_FAILURE");
    N(-13, "CL_MISALIGNED_SUB_BUFFER_OFFSET");
    N(-14, "CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST");
    N(-15, "CL_COMPILE_PROGRAM_FAILURE");
    N(-16, "CL_LINKER_NOT_AVAILABLE");
    N(-17, "CL_LINK_PROGRAM_FAILURE");
    N(-18, "CL_DEVICE_PARTITION_FAILED");
    N(-19, "CL_KERNEL_ARG_INFO_NOT_AVAILABLE");
    N(-30, "CL_INVALID_VALUE");
    N(-31, "CL_INVALID_DEVICE_TYPE");
    N(-32, "CL_INVALID_PLATFORM");
    N(-33, "CL_INVALID_DEVICE");
    N(-34, "CL_INVALID_CONTEXT");
    N(-35, "CL_INVALID_QUEUE_PROPERTIES");
    N(-36, "CL_INVALID_COMMAND_QUEUE");
    N(-37, "CL_INVALID_HOST_PTR");
    N(-38, "CL_INVALID_MEM_OBJECT");
    N(-39, "CL_INVALID_IMAGE_FORMAT_DESCRIPTOR");
    N(-40, "CL_INVALID_IMAGE_SIZE");
    N(-41, "CL_INVALID_SAMPLER");
    N(-42, "CL_INVALID_BINARY");
    N(-43, "CL_INVALID_BUILD_OPTIONS");
    N(-44, "CL_INVALID_PROGRAM");
    N(-45, "CL_INVALID_PROGRAM_EXECUTABLE");
    N(-46, "CL_INVALID_KERNEL_NAME");
    N(-47, "CL_INVALID_KERNEL_DEFINITION");
    N(-48, "CL_INVALID_KERNEL");
    N(-49, "CL_INVALID_ARG_INDEX");
    N(-50, "CL_INVALID_ARG_VALUE");
    N(-51, "CL_INVALID_ARG_SIZE");
    N(-52, "CL_INVALID_KERNEL_ARGS");
    N(-53, "CL_INVALID_WORK_DIMENSION");
    N(-54, "CL_INVALID_WORK_GROUP_SIZE");
    N(-55, "CL_INVALID_WORK_ITEM_SIZE");
    N(-56, "CL_INVALID_GLOBAL_OFFSET");
    N(-57, "CL_INVALID_EVENT_WAIT_LIST");
    N(-58, "CL_INVALID_EVENT");
    N(-59, "CL_INVALID_OPERATION");
    N(-60, "CL_INVALID_GL_OBJECT");
    N(-61, "CL_INVALID_BUFFER_SIZE");
    N(-62, "CL_INVALID_MIP_LEVEL");
    N(-63, "CL_INVALID_GLOBAL_WORK_SIZE");
    N(-64, "CL_INVALID_PROPERTY");
    N(-65, "CL_INVALID_IMAGE_DESCRIPTOR");
    N(-66, "CL_INVALID_COMPILER_OPTIONS");
    N(-67, "CL_INVALID_LINKER_OPTIONS");
    N(-68, "CL_INVALID_DEVICE_PARTITION_COUNT");
    N(-1001, "CL_PLATFORM_NOT_FOUND_KHR");
    /* CLBlast's own codes */
    N(-1024, "CLBlastNotImplemented");
    N(-1022, "CLBlastInvalidMatrixA");
    N(-1021, "CLBlastInvalidMatrixB");
    N(-1020, "CLBlastInvalidMatrixC");
    N(-1019, "CLBlastInvalidVectorX");
    N(-1018, "CLBlastInvalidVectorY");
    N(-1017, "CLBlastInvalidDimension");
    N(-1016, "CLBlastInvalidLeadDimA");
    N(-1015, "CLBlastInvalidLeadDimB");
    N(-1014, "CLBlastInvalidLeadDimC");
    N(-1013, "CLBlastInvalidIncrementX");
    N(-1012, "CLBlastInvalidIncrementY");
    N(-1011, "CLBlastInsufficientMemoryA");
    N(-1010, "CLBlastInsufficientMemoryB");
    N(-1009, "CLBlastInsufficientMemoryC");
    N(-1008, "CLBlastInsufficientMemoryX");
    N(-1007, "CLBlastInsufficientMemoryY");
    N(-2050, "CLBlastInsufficientMemoryTemp");
    N(-2049, "CLBlastInvalidBatchCount");
    N(-2048, "CLBlastInvalidOverrideKernel");
    N(-2047, "CLBlastMissingOverrideParameter");
    N(-2046, "CLBlastInvalidLocalMemUsage");
    N(-2045, "CLBlastNoHalfPrecision");
    N(-2044, "CLBlastNoDoublePrecision");
    N(-2043, "CLBlastInvalidVectorScalar");
    N(-2042, "CLBlastInsufficientMemoryScalar");
    N(-2041, "CLBlastDatabaseError");
    N(-2040, "CLBlastUnknownError");
    N(-2039, "CLBlastUnexpectedError");
    /* gafcl's own */
    N(GC_ERR_ARG, "GC_ERR_ARG");
    N(GC_ERR_NO_PLATFORM, "GC_ERR_NO_PLATFORM");
    N(GC_ERR_NO_DEVICE, "GC_ERR_NO_DEVICE");
    N(GC_ERR_IO, "GC_ERR_IO");
    N(GC_ERR_DEVICE_MEM, "GC_ERR_DEVICE_MEM");
    N(GC_ERR_HOST_MEM, "GC_ERR_HOST_MEM");
    N(GC_ERR_BUILD, "GC_ERR_BUILD");
    N(GC_ERR_FORMAT, "GC_ERR_FORMAT");
    N(GC_ERR_NUMERIC, "GC_ERR_NUMERIC");
    N(GC_ERR_COMM, "GC_ERR_COMM");
#undef N
  default:
    return "UNKNOWN_STATUS";
  }
}
