/* gafcl's own GEMMs for CPU devices (kernels/vgemm.cl): register tiles of explicit vectors, one
 * work-item per tile. The tile sizes are build options; each context holds the tiles its kernels are
 * built with: the defaults below, or what `gafcl tune` measured fastest on the device and kept in the
 * program cache folder (keyed by platform, device and driver), which every later context on that device
 * loads. */
#include "gc_blas.h"

#include "gc_io.h"
#include "gc_ops.h"
#include "gc_sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const gc_vgemm_tile default_tiles[2] = {{16, 2, 8, 0, 1}, {16, 0, 4, 4, 1}};

int gc_vgemm_tile_check(int which, const gc_vgemm_tile *t) {
  if (which != GC_VGEMM_NN && which != GC_VGEMM_NT) GC_FAIL(GC_ERR_ARG, "vgemm kernel %d: use GC_VGEMM_NN or GC_VGEMM_NT", which);
  if (t->vw != 4 && t->vw != 8 && t->vw != 16) GC_FAIL(GC_ERR_ARG, "vgemm tile: vector width %d (use 4, 8 or 16)", t->vw);
  if (t->mr < 1 || t->mr > 16) GC_FAIL(GC_ERR_ARG, "vgemm tile: %d rows (1 to 16)", t->mr);
  if (which == GC_VGEMM_NN && (t->nv < 1 || t->nv > 4)) GC_FAIL(GC_ERR_ARG, "vgemm tile: %d vectors per row (1 to 4)", t->nv);
  if (which == GC_VGEMM_NT && (t->nr < 1 || t->nr > 8)) GC_FAIL(GC_ERR_ARG, "vgemm_nt tile: %d columns (1 to 8)", t->nr);
  if (t->lw < 1 || t->lw > 1024 || (t->lw & (t->lw - 1))) GC_FAIL(GC_ERR_ARG, "vgemm tile: work-group %d (a power of 2, at most 1024)", t->lw);
  return GC_OK;
}

/* ---- the tiles on disk ---- */

static void tiles_path(const gc_ctx *ctx, char *path, size_t cap) {
  gc_sha256 h;
  gc_cache_key_begin(&h, ctx, "gafcl vgemm tiles v1");
  gc_cache_key_path(&h, ctx, "tiles", path, cap);
}

/* Read the tuned tiles: 0 when read, -1 when absent, unreadable or invalid (the defaults stay). */
static int tiles_read(const char *path, gc_vgemm_tile t[2]) {
  char buf[512];
  int fd = open(path, O_RDONLY | O_NONBLOCK);
  if (fd < 0) return -1;
  struct stat sb;
  ssize_t got = -1;
  if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size < (off_t)sizeof buf) got = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (got <= 0) return -1;
  buf[got] = '\0';
  gc_vgemm_tile r[2];
  memset(r, 0, sizeof r);
  if (sscanf(buf, "gafcl vgemm tiles 1\nnn %d %d %d %d\nnt %d %d %d %d\n", &r[0].vw, &r[0].nv, &r[0].mr, &r[0].lw, &r[1].vw,
             &r[1].mr, &r[1].nr, &r[1].lw) != 8)
    return -1;
  if (gc_vgemm_tile_check(GC_VGEMM_NN, &r[0]) || gc_vgemm_tile_check(GC_VGEMM_NT, &r[1])) {
    gc_clear_error();
    return -1;
  }
  t[0] = r[0], t[1] = r[1];
  return 0;
}

static gc_vgemm_tile *tiles(gc_ctx *ctx) {
  struct gc_ctx_ops *ops = gc_ctx_ops_get(ctx);
  if (!ops) return NULL;
  if (!ops->vgemm_ready) {
    ops->vgemm[0] = default_tiles[0];
    ops->vgemm[1] = default_tiles[1];
    ops->vgemm_tuned = 0;
    if (ctx->cache_dir[0]) {
      char path[1200];
      tiles_path(ctx, path, sizeof path);
      ops->vgemm_tuned = tiles_read(path, ops->vgemm) == 0;
    }
    ops->vgemm_ready = 1;
  }
  return ops->vgemm;
}

int gc_vgemm_tile_get(gc_ctx *ctx, int which, gc_vgemm_tile *t, int *tuned) {
  gc_vgemm_tile *tl = tiles(ctx);
  if (!tl) GC_FAIL(GC_ERR_HOST_MEM, "vgemm tiles");
  if (which != GC_VGEMM_NN && which != GC_VGEMM_NT) GC_FAIL(GC_ERR_ARG, "vgemm kernel %d", which);
  *t = tl[which];
  if (tuned) *tuned = ctx->ops->vgemm_tuned;
  return GC_OK;
}

int gc_vgemm_tile_set(gc_ctx *ctx, int which, const gc_vgemm_tile *t) {
  int st = gc_vgemm_tile_check(which, t);
  if (st) return st;
  gc_vgemm_tile *tl = tiles(ctx);
  if (!tl) GC_FAIL(GC_ERR_HOST_MEM, "vgemm tiles");
  tl[which] = *t;
  return GC_OK;
}

int gc_vgemm_tiles_save(gc_ctx *ctx, char *path_out, size_t cap) {
  gc_vgemm_tile *t = tiles(ctx);
  if (!t) GC_FAIL(GC_ERR_HOST_MEM, "vgemm tiles");
  if (!ctx->cache_dir[0]) GC_FAIL(GC_ERR_IO, "no cache folder (GAFCL_CACHE_DIR is off): the tiles cannot be kept");
  if (gc_mkdir_p(ctx->cache_dir) != 0) GC_FAIL(GC_ERR_IO, "cannot create the cache folder %s: %s", ctx->cache_dir, strerror(errno));
  char path[1200], text[256];
  tiles_path(ctx, path, sizeof path);
  int len = snprintf(text, sizeof text, "gafcl vgemm tiles 1\nnn %d %d %d %d\nnt %d %d %d %d\n", t[0].vw, t[0].nv, t[0].mr,
                     t[0].lw, t[1].vw, t[1].mr, t[1].nr, t[1].lw);
  if (gc_write_file_atomic(path, text, (size_t)len) != 0) GC_FAIL(GC_ERR_IO, "cannot write %s: %s", path, strerror(errno));
  ctx->ops->vgemm_tuned = 1;
  if (path_out) snprintf(path_out, cap, "%s", path);
  return GC_OK;
}

/* ---- the GEMMs ---- */

static int check_span(const gc_tensor *t, size_t last, const char *what, char which) {
  if (!t) GC_FAIL(GC_ERR_ARG, "%s: operand %c missing", what, which);
  int st = gc_need(t, what, which == 'A' ? "A" : which == 'B' ? "B" : "C");
  if (st) return st;
  size_t n = gc_tensor_span(t);
  if (last >= n) GC_FAIL(GC_ERR_ARG, "%s: operand %c reaches element %zu of a tensor of %zu", what, which, last, n);
  return GC_OK;
}

static int fits_u32(size_t v) { return v <= 0xFFFFFFFFu; }

/* Where row r of B starts (see gc_vgemm_args). */
static size_t row_start(const gc_vgemm_args *g, size_t r) {
  size_t d2 = g->b_d2 ? g->b_d2 : 1, d3 = g->b_d3 ? g->b_d3 : 1;
  if (d2 == 1 && d3 == 1) return r * g->ldb;
  return r / (d2 * d3) * g->ldb + (r / d3) % d2 * g->b_s2 + r % d3 * g->b_s3;
}

static int run(gc_ctx *ctx, const gc_vgemm_args *g, int which) {
  int st = 0;
  const char *what = which == GC_VGEMM_NN ? "vgemm" : "vgemm_nt";
  if (g->m < 1 || g->n < 1 || g->k < 1 || g->batch < 1)
    GC_FAIL(GC_ERR_ARG, "%s m=%zu n=%zu k=%zu batch=%zu: every size must be at least 1", what, g->m, g->n, g->k, g->batch);
  if (!fits_u32(g->m) || !fits_u32(g->n) || !fits_u32(g->k) || !fits_u32(g->a_si) || !fits_u32(g->a_sk) ||
      !fits_u32(g->ldb) || !fits_u32(g->ldc) || g->batch > 65535)
    GC_FAIL(GC_ERR_ARG, "%s m=%zu n=%zu k=%zu batch=%zu: a size or stride beyond the kernel's range", what, g->m, g->n,
            g->k, g->batch);
  if (which == GC_VGEMM_NT && g->a_sk != 1) GC_FAIL(GC_ERR_ARG, "vgemm_nt: A must be row-major (a_sk 1)");
  const size_t d2 = g->b_d2 ? g->b_d2 : 1, d3 = g->b_d3 ? g->b_d3 : 1, rows = which == GC_VGEMM_NN ? g->k : g->n;
  const int picked = d2 > 1 || d3 > 1;
  if (!fits_u32(d2) || !fits_u32(d3) || !fits_u32(g->b_s2) || !fits_u32(g->b_s3))
    GC_FAIL(GC_ERR_ARG, "%s: B's row layout beyond the kernel's range", what);
  /* the last element B's rows reach: the largest row start (strides are not negative, so it is one of the
   * last row, the last row before the last row's r2 block, or the last row before its r1 block) plus a row */
  size_t last_row = row_start(g, rows - 1), r2 = (rows - 1) / d3 % d2, r1 = (rows - 1) / (d2 * d3);
  if (r2 > 0 && row_start(g, (r1 * d2 + r2) * d3 - 1) > last_row) last_row = row_start(g, (r1 * d2 + r2) * d3 - 1);
  if (r1 > 0 && row_start(g, r1 * d2 * d3 - 1) > last_row) last_row = row_start(g, r1 * d2 * d3 - 1);
  if (g->ldc < g->n || (!picked && g->ldb < (which == GC_VGEMM_NN ? g->n : g->k)))
    GC_FAIL(GC_ERR_ARG, "%s m=%zu n=%zu k=%zu: ldb %zu or ldc %zu too small", what, g->m, g->n, g->k, g->ldb, g->ldc);
  if (g->batch > 1 && g->c_bs < (g->m - 1) * g->ldc + g->n)
    GC_FAIL(GC_ERR_ARG, "%s batch=%zu: the outputs overlap (c_bs %zu)", what, g->batch, g->c_bs);
  size_t b1 = g->batch - 1;
  GC_TRY(check_span(g->a, g->a_off + b1 * g->a_bs + (g->m - 1) * g->a_si + (g->k - 1) * g->a_sk, what, 'A'));
  GC_TRY(check_span(g->b, g->b_off + b1 * g->b_bs + last_row + (which == GC_VGEMM_NN ? g->n : g->k) - 1, what, 'B'));
  GC_TRY(check_span(g->c, g->c_off + b1 * g->c_bs + (g->m - 1) * g->ldc + g->n - 1, what, 'C'));
  gc_vgemm_tile *tl = tiles(ctx);
  if (!tl) GC_FAIL(GC_ERR_HOST_MEM, "vgemm tiles");
  const gc_vgemm_tile t = tl[which];
  char opts[128];
  snprintf(opts, sizeof opts, "-DVW=%d -DNV=%d -DMR=%d -DNR=%d -DLW=%d", t.vw, which == GC_VGEMM_NN ? t.nv : 1, t.mr,
           which == GC_VGEMM_NT ? t.nr : 1, t.lw);
  cl_kernel k = NULL;
  GC_TRY(gc_kernel_get_lw(ctx, "vgemm", opts, what, (size_t)t.lw, &k));
  size_t cols = which == GC_VGEMM_NN ? (size_t)t.vw * t.nv : (size_t)t.nr;
  size_t lw = (size_t)t.lw, g0 = (g->n + cols - 1) / cols;
  size_t global[3] = {(g0 + lw - 1) / lw * lw, (g->m + (size_t)t.mr - 1) / (size_t)t.mr, g->batch}, local[3] = {lw, 1, 1};
  /* the scalar arguments live here until the launch (a compound literal inside an if would not) */
  const cl_uint u[12] = {(cl_uint)g->m,  (cl_uint)g->n,    (cl_uint)g->k,    (cl_uint)g->a_si,
                         (cl_uint)g->a_sk, (cl_uint)g->ldb, (cl_uint)g->ldc, (cl_uint)(g->beta ? 1 : 0),
                         (cl_uint)(picked ? g->b_s2 : 0), (cl_uint)(picked ? g->b_s3 : 0), (cl_uint)d2, (cl_uint)d3};
  const cl_ulong o[6] = {g->a->offset + g->a_off, g->a_bs, g->b->offset + g->b_off, g->b_bs, g->c->offset + g->c_off,
                         g->c_bs};
  gc_karg args[22];
  int na = 0;
#define U32(i) ((gc_karg){sizeof(cl_uint), &u[i]})
#define U64(i) ((gc_karg){sizeof(cl_ulong), &o[i]})
  args[na++] = U32(0), args[na++] = U32(1), args[na++] = U32(2);
  args[na++] = GC_KMEM(g->a->arena->buf), args[na++] = U64(0), args[na++] = U32(3);
  if (which == GC_VGEMM_NN) args[na++] = U32(4);
  args[na++] = U64(1);
  args[na++] = GC_KMEM(g->b->arena->buf), args[na++] = U64(2), args[na++] = U32(5), args[na++] = U32(8);
  args[na++] = U32(9), args[na++] = U32(10), args[na++] = U32(11), args[na++] = U64(3);
  args[na++] = GC_KMEM(g->c->arena->buf), args[na++] = U64(4), args[na++] = U32(6), args[na++] = U64(5);
  args[na++] = U32(7);
#undef U32
#undef U64
  GC_TRY(gc_launch_nd(ctx, k, what, 3, global, local, na, args));
cleanup:
  return st;
}

int gc_vgemm(gc_ctx *ctx, const gc_vgemm_args *g) { return run(ctx, g, GC_VGEMM_NN); }
int gc_vgemm_nt(gc_ctx *ctx, const gc_vgemm_args *g) { return run(ctx, g, GC_VGEMM_NT); }

void gc_ref_vgemm(const gc_vgemm_args *g, int which, const float *a, const float *b, float *c) {
  for (size_t bi = 0; bi < g->batch; bi++)
    for (size_t i = 0; i < g->m; i++)
      for (size_t j = 0; j < g->n; j++) {
        double s = 0;
        for (size_t k = 0; k < g->k; k++) {
          double av = a[g->a_off + bi * g->a_bs + i * g->a_si + k * g->a_sk];
          double bv = which == GC_VGEMM_NN ? b[g->b_off + bi * g->b_bs + row_start(g, k) + j]
                                           : b[g->b_off + bi * g->b_bs + row_start(g, j) + k];
          s += av * bv;
        }
        float *o = &c[g->c_off + bi * g->c_bs + i * g->ldc + j];
        *o = (float)(g->beta ? *o + s : s);
      }
}
