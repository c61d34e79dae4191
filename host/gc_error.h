/* Status codes and error messages.
 *
 * Every library function returns an int status: 0 (GC_OK) on success, an OpenCL or CLBlast error code
 * passed through unchanged, or one of gafcl's own codes below (all <= -3000, clear of OpenCL's and
 * CLBlast's ranges). On failure the function records a message (the failing call, the error's name,
 * file:line and the shapes involved) that gc_last_error() returns on the same thread. Library code
 * never exits; the caller decides what to do. */
#ifndef GC_ERROR_H
#define GC_ERROR_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
  GC_OK = 0,
  GC_ERR_ARG = -3001,         /* invalid argument: shape, size, selector, option */
  GC_ERR_NO_PLATFORM = -3002, /* no OpenCL platform installed */
  GC_ERR_NO_DEVICE = -3003,   /* no device, or the selector matched none */
  GC_ERR_IO = -3004,          /* a file could not be read or written */
  GC_ERR_DEVICE_MEM = -3005,  /* a request exceeds the device's memory */
  GC_ERR_HOST_MEM = -3006,    /* malloc failed */
  GC_ERR_BUILD = -3007,       /* a kernel program failed to build (the message holds the log) */
  GC_ERR_FORMAT = -3008,      /* malformed input data */
  GC_ERR_NUMERIC = -3009,     /* a check of numeric results failed */
  GC_ERR_COMM = -3010,        /* a collective across processes failed or timed out (MPI runs) */
};

/* The symbolic name of a status code: "CL_OUT_OF_RESOURCES", "CLBlastInvalidLeadDimA", "GC_ERR_ARG". */
const char *gc_status_name(int status);

/* The message recorded by the last failing call on this thread ("" if none). */
const char *gc_last_error(void);
void gc_clear_error(void);

/* Record a message and return `status`. Used through the macros below. */
int gc_error_set(int status, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int gc_error_setv(int status, const char *file, int line, const char *fmt, va_list ap);
/* For a failed OpenCL/CLBlast call: "<call> failed: <NAME> (<code>) at file:line [<context>]". */
int gc_error_call(int status, const char *file, int line, const char *call, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Add text in front of the recorded message ("while building conv1: " ...). Returns `status`. */
int gc_error_prefix(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Set the error and return from the current function. */
#define GC_FAIL(status, ...) return gc_error_set((status), __FILE__, __LINE__, __VA_ARGS__)
/* Set the error, store it in `st` and jump to `cleanup`. */
#define GC_FAIL_GOTO(status, ...)                                                                        \
  do {                                                                                                   \
    st = gc_error_set((status), __FILE__, __LINE__, __VA_ARGS__);                                        \
    goto cleanup;                                                                                        \
  } while (0)
/* Check an OpenCL/CLBlast call returning a status; on failure record it (with a printf-style context
 * describing the shapes involved), store it in `st` and jump to `cleanup`. */
#define GC_CL(expr, ...)                                                                                 \
  do {                                                                                                   \
    int gc_e_ = (int)(expr);                                                                             \
    if (gc_e_ != 0) {                                                                                    \
      st = gc_error_call(gc_e_, __FILE__, __LINE__, #expr, __VA_ARGS__);                                 \
      goto cleanup;                                                                                      \
    }                                                                                                    \
  } while (0)
/* Same for calls that report through an errcode_ret argument: check `err` after `call` ran. */
#define GC_CL_ERR(err, call_name, ...)                                                                   \
  do {                                                                                                   \
    if ((err) != 0) {                                                                                    \
      st = gc_error_call((err), __FILE__, __LINE__, call_name, __VA_ARGS__);                             \
      goto cleanup;                                                                                      \
    }                                                                                                    \
  } while (0)
/* Propagate a failed gafcl call (its message is already recorded). */
#define GC_TRY(expr)                                                                                     \
  do {                                                                                                   \
    st = (expr);                                                                                         \
    if (st != 0) goto cleanup;                                                                           \
  } while (0)

#ifdef __cplusplus
}
#endif
#endif
