/* libgafcl: everything a program needs, in one include. */
#ifndef GAFCL_H
#define GAFCL_H
#include "gc_error.h"
#include "gc_runtime.h"
#include "gc_tensor.h"
#include "gc_blas.h"
#include "gc_selfcheck.h"
#include "gc_layers.h"
#include "gc_ref.h"
#include "gc_optim.h"
#include "gc_gafmath.h"
#include "gc_io.h"

#define GAFCL_VERSION_STRING "0.1.0"
#endif
