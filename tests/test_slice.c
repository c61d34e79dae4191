/* The first vertical slice on the device: element-wise kernels and the CLBlast GEMM wrapper against
 * the plain-C reference, on awkward sizes (1x1x1, 17x33x65, sizes that are not multiples of 16 or of
 * the work-group size), at odd offsets into arenas, in both layouts with every transpose, batched.
 * `--small` keeps to tiny sizes (the Oclgrind run). */
#include "gafcl.h"
#include "gc_test.h"

static int small;

/* Write several tensors of one arena with a single whole-arena transfer. Oclgrind 21.10 tracks the
 * initialised state of a buffer wrongly after a host write at a non-zero offset (it re-creates the
 * shadow of the whole buffer from the write's size), so the tests under Oclgrind upload whole arenas. */
static void upload(gc_ctx *ctx, gc_arena *ar, int count, const gc_tensor *const *ts, const float *const *hs) {
  gc_tensor whole;
  CHECK_OK(gc_arena_view(ar, &whole));
  float *img = calloc(ar->capacity, sizeof *img);
  for (int i = 0; i < count; i++) memcpy(img + ts[i]->offset, hs[i], gc_tensor_numel(ts[i]) * sizeof *img);
  CHECK_OK(gc_tensor_write(ctx, &whole, img, ar->capacity));
  free(img);
}

static void test_eltwise(gc_ctx *ctx) {
  static const size_t sizes[] = {1, 2, 3, 17, 63, 64, 65, 255, 256, 257, 1000, 4099, 65537};
  static const size_t offs[] = {0, 1, 3, 7};
  for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
    size_t n = sizes[si];
    if (small && n > 300) continue;
    for (size_t oi = 0; oi < sizeof offs / sizeof *offs; oi++) {
      size_t off = offs[oi], total = n + off + 5;
      gc_arena ar;
      gc_tensor bx, by, x, y;
      gc_arena_init(ctx, &ar, "test");
      CHECK_OK(gc_arena_reserve(&ar, &bx, 1, &total));
      CHECK_OK(gc_arena_reserve(&ar, &by, 1, &total));
      CHECK_OK(gc_arena_commit(ctx, &ar, 0));
      CHECK(bx.offset % ar.align == 0 && by.offset % ar.align == 0);
      CHECK_OK(gc_tensor_slice(&bx, off, n, &x));
      CHECK_OK(gc_tensor_slice(&by, off + 1, n, &y)); /* x and y at different alignments */
      float *hx = malloc(total * 4), *hy = malloc(total * 4), *rx = malloc(total * 4), *ry = malloc(total * 4);
      unsigned long long seed = 77 + n * 3 + off;
      for (size_t i = 0; i < total; i++) {
        hx[i] = gc_test_rand(&seed);
        hy[i] = gc_test_rand(&seed);
      }
      upload(ctx, &ar, 2, (const gc_tensor *[]){&bx, &by}, (const float *[]){hx, hy});
      memcpy(rx, hx, total * 4);
      memcpy(ry, hy, total * 4);
      /* y = 0.5*x + y; x = -3 x; y := x; x := 2.5 (fill) -- each checked through the whole buffer, so a
       * write outside the view shows up as a mismatch in its guard elements */
      CHECK_OK(gc_axpy(ctx, 0.5f, &x, &y));
      gc_ref_axpy(0.5f, rx + off, ry + off + 1, n);
      CHECK_OK(gc_scale(ctx, &x, -3.0f));
      gc_ref_scale(rx + off, n, -3.0f);
      float *got = malloc(total * 4);
      CHECK_OK(gc_tensor_read(ctx, &by, got, total));
      char what[64];
      snprintf(what, sizeof what, "axpy n=%zu off=%zu", n, off);
      gc_test_close(got, ry, total, 0, 0, what);
      CHECK_OK(gc_copy(ctx, &x, &y));
      memcpy(ry + off + 1, rx + off, n * 4);
      CHECK_OK(gc_fill(ctx, &x, 2.5f));
      gc_ref_fill(rx + off, n, 2.5f);
      CHECK_OK(gc_tensor_read(ctx, &by, got, total));
      snprintf(what, sizeof what, "scale+copy n=%zu off=%zu", n, off);
      gc_test_close(got, ry, total, 0, 0, what);
      CHECK_OK(gc_tensor_read(ctx, &bx, got, total));
      snprintf(what, sizeof what, "fill n=%zu off=%zu", n, off);
      gc_test_close(got, rx, total, 0, 0, what);
      free(hx);
      free(hy);
      free(rx);
      free(ry);
      free(got);
      gc_arena_release(&ar);
    }
  }
}

/* One GEMM case with operands at offsets into one arena, ld larger than needed, batch entries with a gap. */
static void gemm_case(gc_ctx *ctx, gc_layout lay, int ta, int tb, size_t m, size_t n, size_t k, size_t batch,
                      float alpha, float beta, int nan_in_c) {
  size_t arows = ta ? k : m, acols = ta ? m : k, brows = tb ? n : k, bcols = tb ? k : n;
  size_t lda = (lay == GC_ROW_MAJOR ? acols : arows) + 2;
  size_t ldb = (lay == GC_ROW_MAJOR ? bcols : brows) + 1;
  size_t ldc = (lay == GC_ROW_MAJOR ? n : m) + 3;
  size_t sa = (lay == GC_ROW_MAJOR ? arows : acols) * lda + 5;
  size_t sb = (lay == GC_ROW_MAJOR ? brows : bcols) * ldb + 1;
  size_t sc = (lay == GC_ROW_MAJOR ? m : n) * ldc + 2;
  size_t na = 7 + sa * batch, nb = 1 + sb * batch, nc = 11 + sc * batch;
  gc_arena ar;
  gc_tensor A, B, C;
  gc_arena_init(ctx, &ar, "gemm-test");
  CHECK_OK(gc_arena_reserve(&ar, &A, 1, &na));
  CHECK_OK(gc_arena_reserve(&ar, &B, 1, &nb));
  CHECK_OK(gc_arena_reserve(&ar, &C, 1, &nc));
  CHECK_OK(gc_arena_commit(ctx, &ar, 0));
  float *ha = malloc(na * 4), *hb = malloc(nb * 4), *hc = malloc(nc * 4), *ref = malloc(nc * 4);
  unsigned long long seed = 1 + m * 1000003 + n * 1009 + k + batch;
  for (size_t i = 0; i < na; i++) ha[i] = gc_test_rand(&seed);
  for (size_t i = 0; i < nb; i++) hb[i] = gc_test_rand(&seed);
  for (size_t i = 0; i < nc; i++) hc[i] = ref[i] = nan_in_c ? NAN : gc_test_rand(&seed);
  upload(ctx, &ar, 3, (const gc_tensor *[]){&A, &B, &C}, (const float *[]){ha, hb, hc});
  gc_gemm_args g = {lay, ta, tb, m, n, k, alpha, beta, {&A, 7, lda, sa}, {&B, 1, ldb, sb}, {&C, 11, ldc, sc}, batch};
  CHECK_OK(gc_gemm(ctx, &g));
  CHECK_OK(gc_tensor_read(ctx, &C, hc, nc));
  gc_ref_gemm(&g, ha, hb, ref);
  char what[128];
  snprintf(what, sizeof what, "gemm %s ta=%d tb=%d m=%zu n=%zu k=%zu batch=%zu beta=%g%s",
           lay == GC_ROW_MAJOR ? "row" : "col", ta, tb, m, n, k, batch, beta, nan_in_c ? " NaN-C" : "");
  gc_test_close(hc, ref, nc, 2e-6 * sqrt((double)k) + 1e-6, 1e-5, what);
  free(ha);
  free(hb);
  free(hc);
  free(ref);
  gc_arena_release(&ar);
}

static void test_gemm(gc_ctx *ctx) {
  static const size_t shapes[][3] = {{1, 1, 1}, {17, 33, 65}, {65, 17, 33}, {16, 16, 16}, {3, 257, 2}, {100, 3, 250}};
  for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
    if (small && s > 1) break;
    for (int lay = 0; lay < 2; lay++)
      for (int t = 0; t < 4; t++)
        gemm_case(ctx, (gc_layout)lay, t & 1, t >> 1, shapes[s][0], shapes[s][1], shapes[s][2], 1, 1.0f, 0.0f, 0);
  }
  /* alpha/beta, accumulation (beta = 1, as the weight-gradient pass uses) */
  gemm_case(ctx, GC_ROW_MAJOR, 0, 0, 17, 33, 65, 1, -0.5f, 1.0f, 0);
  gemm_case(ctx, GC_COL_MAJOR, 1, 1, 17, 33, 65, 1, 2.0f, 0.25f, 0);
  /* strided batched */
  gemm_case(ctx, GC_ROW_MAJOR, 0, 1, 9, 13, 21, 3, 1.0f, 0.0f, 0);
  gemm_case(ctx, GC_COL_MAJOR, 1, 0, 17, 5, 33, small ? 2 : 5, 0.5f, 1.0f, 0);
  if (!small) gemm_case(ctx, GC_ROW_MAJOR, 1, 1, 1, 1, 1, 7, 1.0f, 0.5f, 0);
  /* beta = 0: C is written, never read (NaN or garbage in C must not leak through) */
  gemm_case(ctx, GC_ROW_MAJOR, 0, 0, 17, 33, 65, 1, 1.0f, 0.0f, 1);
  gemm_case(ctx, GC_COL_MAJOR, 0, 1, 5, 7, 3, 2, 1.0f, 0.0f, 1);
}

static void test_gemm_errors(gc_ctx *ctx) {
  gc_arena ar;
  gc_tensor A, B, C;
  size_t n = 64;
  gc_arena_init(ctx, &ar, "gemm-errors");
  CHECK_OK(gc_arena_reserve(&ar, &A, 1, &n));
  CHECK_OK(gc_arena_reserve(&ar, &B, 1, &n));
  CHECK_OK(gc_arena_reserve(&ar, &C, 1, &n));
  CHECK_OK(gc_arena_commit(ctx, &ar, 0));
  gc_gemm_args g = {GC_ROW_MAJOR, 0, 0, 8, 8, 8, 1, 0, {&A, 0, 8, 0}, {&B, 0, 8, 0}, {&C, 0, 8, 0}, 1};
  CHECK_OK(gc_gemm(ctx, &g));
  gc_gemm_args bad = g;
  bad.a.ld = 7; /* row-major A is 8x8: ld must be >= 8 */
  CHECK_STATUS(gc_gemm(ctx, &bad), GC_ERR_ARG);
  CHECK(strstr(gc_last_error(), "ld of a is 7, needs >= 8") != NULL);
  bad = g;
  bad.b.off = 1; /* 64 elements from offset 1 run past the tensor */
  CHECK_STATUS(gc_gemm(ctx, &bad), GC_ERR_ARG);
  CHECK(strstr(gc_last_error(), "operand b spans 64 elements from offset 1") != NULL);
  bad = g;
  bad.k = 0;
  CHECK_STATUS(gc_gemm(ctx, &bad), GC_ERR_ARG);
  bad = g;
  bad.m = bad.n = bad.k = 2;
  bad.batch = 4;
  bad.a.stride = bad.b.stride = 4;
  bad.c.stride = 3; /* overlapping outputs */
  CHECK_STATUS(gc_gemm(ctx, &bad), GC_ERR_ARG);
  CHECK(strstr(gc_last_error(), "overlap") != NULL);
  gc_tensor big;
  CHECK_STATUS(gc_tensor_slice(&A, 60, 5, &big), GC_ERR_ARG);
  CHECK_STATUS(gc_tensor_write(ctx, &A, NULL, 63), GC_ERR_ARG);
  gc_arena_release(&ar);
}

/* gafcl's own GEMMs (kernels/vgemm.cl) in one tile configuration, against the double reference: operands at
 * offsets with padded leading dimensions and batch gaps, A also transposed (through its strides), C holding
 * NaN when beta = 0 (never read) and values when beta = 1; twice, for the same bits. */
static void vgemm_case(gc_ctx *ctx, int which, int ta, size_t m, size_t n, size_t k, size_t batch, int beta, int pick) {
  size_t a_si = ta ? 1 : k + 2, a_sk = ta ? m + 3 : 1, sa = ta ? k * a_sk + 1 : m * a_si + 5;
  if (which == GC_VGEMM_NT) a_si = k + 2, a_sk = 1, sa = m * a_si + 5;
  size_t rows = which == GC_VGEMM_NN ? k : n, rowlen = which == GC_VGEMM_NN ? n : k;
  size_t ldb = rowlen + 1, sb = rows * ldb + 3;
  /* picked rows (the implicit convolution's layout): row r = (r1*3 + r2)*2 + r3 starts at
   * r1*ldb + r2*7 + r3, rows overlapping as a padded input's do */
  size_t s2 = 7, s3 = 1, d2 = 3, d3 = 2;
  if (pick) {
    ldb = 5 * rowlen + 9, sb = 0;
    for (size_t r = 0; r < rows; r++) {
      size_t e = r / (d2 * d3) * ldb + (r / d3) % d2 * s2 + r % d3 * s3 + rowlen + 3;
      if (e > sb) sb = e;
    }
  }
  size_t ldc = n + 3, sc = m * ldc + 2;
  size_t na = 7 + sa * batch, nb = 1 + sb * batch, nc = 11 + sc * batch;
  gc_arena ar;
  gc_tensor A, B, C;
  gc_arena_init(ctx, &ar, "vgemm-test");
  CHECK_OK(gc_arena_reserve(&ar, &A, 1, &na));
  CHECK_OK(gc_arena_reserve(&ar, &B, 1, &nb));
  CHECK_OK(gc_arena_reserve(&ar, &C, 1, &nc));
  CHECK_OK(gc_arena_commit(ctx, &ar, 0));
  float *ha = malloc(na * 4), *hb = malloc(nb * 4), *hc = malloc(nc * 4), *ref = malloc(nc * 4), *again = malloc(nc * 4);
  unsigned long long seed = 7 + m * 1000003 + n * 1009 + k + batch;
  for (size_t i = 0; i < na; i++) ha[i] = gc_test_rand(&seed);
  for (size_t i = 0; i < nb; i++) hb[i] = gc_test_rand(&seed);
  for (size_t i = 0; i < nc; i++) hc[i] = ref[i] = beta ? gc_test_rand(&seed) : NAN;
  /* elements outside every C matrix stay as they were: the reference leaves them alone too */
  upload(ctx, &ar, 3, (const gc_tensor *[]){&A, &B, &C}, (const float *[]){ha, hb, hc});
  gc_vgemm_args g = {m, n, k, batch, &A, 7, a_si, a_sk, sa, &B, 1, ldb, sb, &C, 11, ldc, sc, beta, 0, 0, 0, 0};
  if (pick) g.b_s2 = s2, g.b_s3 = s3, g.b_d2 = d2, g.b_d3 = d3;
  CHECK_OK(which == GC_VGEMM_NN ? gc_vgemm(ctx, &g) : gc_vgemm_nt(ctx, &g));
  CHECK_OK(gc_tensor_read(ctx, &C, hc, nc));
  gc_ref_vgemm(&g, which, ha, hb, ref);
  char what[160];
  gc_vgemm_tile t;
  CHECK_OK(gc_vgemm_tile_get(ctx, which, &t, NULL));
  snprintf(what, sizeof what, "%s tile %d/%d/%d/%d/%d ta=%d m=%zu n=%zu k=%zu batch=%zu beta=%d pick=%d",
           which == GC_VGEMM_NN ? "vgemm" : "vgemm_nt", t.vw, t.nv, t.mr, t.nr, t.lw, ta, m, n, k, batch, beta, pick);
  for (size_t i = 0; i < nc; i++) /* untouched NaNs compare equal to the reference's */
    if (isnan(ref[i]) && isnan(hc[i])) ref[i] = hc[i] = 0;
  gc_test_close(hc, ref, nc, 2e-6 * sqrt((double)k) + 1e-6, 1e-5, what);
  if (!beta) { /* the same inputs again: the same bits */
    CHECK_OK(which == GC_VGEMM_NN ? gc_vgemm(ctx, &g) : gc_vgemm_nt(ctx, &g));
    CHECK_OK(gc_tensor_read(ctx, &C, again, nc));
    for (size_t i = 0; i < nc; i++)
      if (isnan(again[i])) again[i] = 0;
    CHECK(memcmp(again, hc, nc * 4) == 0);
  }
  free(ha), free(hb), free(hc), free(ref), free(again);
  gc_arena_release(&ar);
}

static void test_vgemm(gc_ctx *ctx) {
  /* tiles: the defaults, then odd ones (narrow vectors, rows and columns that leave remainders, groups
   * of 2); shapes with edges in every dimension */
  static const gc_vgemm_tile nn[] = {{16, 2, 8, 0, 1}, {4, 3, 3, 0, 2}, {8, 1, 1, 0, 1}};
  static const gc_vgemm_tile nt[] = {{16, 0, 4, 4, 1}, {4, 0, 3, 3, 2}, {8, 0, 1, 1, 1}};
  static const size_t shapes[][3] = {{1, 1, 1}, {17, 33, 65}, {65, 17, 33}, {3, 257, 2}, {100, 3, 250}, {8, 32, 16}};
  for (size_t t = 0; t < 3; t++) {
    if (small && t > 1) break;
    CHECK_OK(gc_vgemm_tile_set(ctx, GC_VGEMM_NN, &nn[t]));
    CHECK_OK(gc_vgemm_tile_set(ctx, GC_VGEMM_NT, &nt[t]));
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
      if (small && s > 2) break;
      for (int pick = 0; pick < 2; pick++) {
        vgemm_case(ctx, GC_VGEMM_NN, 0, shapes[s][0], shapes[s][1], shapes[s][2], 1, 0, pick);
        vgemm_case(ctx, GC_VGEMM_NN, 1, shapes[s][0], shapes[s][1], shapes[s][2], 1, 0, pick);
        vgemm_case(ctx, GC_VGEMM_NT, 0, shapes[s][0], shapes[s][1], shapes[s][2], 1, 0, pick);
      }
    }
    vgemm_case(ctx, GC_VGEMM_NN, 1, 9, 37, 21, 3, 1, 0);
    vgemm_case(ctx, GC_VGEMM_NT, 0, 9, 13, 37, 3, 1, 1);
    vgemm_case(ctx, GC_VGEMM_NN, 0, 5, 40, 7, 2, 0, 1);
  }
  CHECK_OK(gc_vgemm_tile_set(ctx, GC_VGEMM_NN, &nn[0]));
  CHECK_OK(gc_vgemm_tile_set(ctx, GC_VGEMM_NT, &nt[0]));
  /* refused: bad tiles, sizes, overlapping outputs, operands past their tensors */
  gc_vgemm_tile bad = nn[0];
  bad.vw = 5;
  CHECK_STATUS(gc_vgemm_tile_set(ctx, GC_VGEMM_NN, &bad), GC_ERR_ARG);
  bad = nn[0], bad.lw = 3;
  CHECK_STATUS(gc_vgemm_tile_set(ctx, GC_VGEMM_NN, &bad), GC_ERR_ARG);
  bad = nt[0], bad.nr = 0;
  CHECK_STATUS(gc_vgemm_tile_set(ctx, GC_VGEMM_NT, &bad), GC_ERR_ARG);
  gc_arena ar;
  gc_tensor A;
  size_t n = 64;
  gc_arena_init(ctx, &ar, "vgemm-errors");
  CHECK_OK(gc_arena_reserve(&ar, &A, 1, &n));
  CHECK_OK(gc_arena_commit(ctx, &ar, 0));
  gc_vgemm_args g = {8, 8, 8, 1, &A, 0, 8, 1, 0, &A, 0, 8, 0, &A, 0, 8, 0, 0, 0, 0, 0, 0};
  gc_vgemm_args e = g;
  e.b_off = 1;
  CHECK_STATUS(gc_vgemm(ctx, &e), GC_ERR_ARG);
  CHECK(strstr(gc_last_error(), "operand B reaches element 64") != NULL);
  e = g, e.k = 0;
  CHECK_STATUS(gc_vgemm_nt(ctx, &e), GC_ERR_ARG);
  e = g, e.m = e.n = e.k = 2, e.batch = 4, e.a_bs = e.b_bs = 4, e.ldb = e.ldc = 2, e.a_si = 2, e.c_bs = 3;
  CHECK_STATUS(gc_vgemm(ctx, &e), GC_ERR_ARG);
  CHECK(strstr(gc_last_error(), "overlap") != NULL);
  e = g, e.a_sk = 2;
  CHECK_STATUS(gc_vgemm_nt(ctx, &e), GC_ERR_ARG);
  gc_arena_release(&ar);
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--small")) small = 1;
  gc_ctx *ctx = gc_test_open();
  if (!ctx) return 1;
  test_eltwise(ctx);
  test_gemm(ctx);
  test_gemm_errors(ctx);
  test_vgemm(ctx);
  gc_ctx_free(ctx);
  return gc_test_summary("test_slice");
}
