/* Device self-check: element-wise kernels and CLBlast GEMM against the CPU reference. */
#ifndef GC_SELFCHECK_H
#define GC_SELFCHECK_H
#include <stdio.h>

#include "gc_blas.h"

#ifdef __cplusplus
extern "C" {
#endif
/* Runs every check; writes one line per passed check to `log` (may be NULL). GC_ERR_NUMERIC names the
 * first mismatch. */
int gc_selfcheck(gc_ctx *ctx, FILE *log);
#ifdef __cplusplus
}
#endif
#endif
