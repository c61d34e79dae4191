/* safetensors checkpoints: a round trip restores every parameter, buffer and counter bit for bit; files
 * from another network, truncated files and malformed headers (offsets past the end, wrong dtype,
 * wrong shape, not JSON, huge header length) are refused with a clear error. */
#include "gc_checkpoint.h"
#include "gc_test.h"

#include <sys/stat.h>
#include <unistd.h>

static gc_net *make(gc_ctx *ctx, const char *name, uint64_t seed) {
  gc_net_spec s;
  gc_net_spec_init(&s, name, 0);
  s.in_h = s.in_w = 16;
  gc_net *net = NULL;
  CHECK_OK(gc_net_create(ctx, &s, 2, &net));
  if (net) CHECK_OK(gc_net_init(ctx, net, seed));
  return net;
}

static int same_tensor(gc_ctx *ctx, const gc_tensor *a, const gc_tensor *b) {
  size_t n = gc_tensor_numel(a);
  float *x = malloc(n * 4), *y = malloc(n * 4);
  gc_tensor_read(ctx, a, x, n);
  gc_tensor_read(ctx, b, y, n);
  int same = memcmp(x, y, n * 4) == 0;
  free(x);
  free(y);
  return same;
}

static void write_raw(const char *path, const char *hdr, size_t data_bytes) {
  FILE *f = fopen(path, "wb");
  uint64_t n = strlen(hdr);
  unsigned char len[8];
  for (int i = 0; i < 8; i++) len[i] = (unsigned char)(n >> (8 * i));
  fwrite(len, 1, 8, f);
  fwrite(hdr, 1, n, f);
  for (size_t i = 0; i < data_bytes; i++) fputc(0, f);
  fclose(f);
}

int main(void) {
  gc_ctx *ctx = gc_test_open();
  if (!ctx) return 1;
  char dir[] = "/tmp/gafcl-ckpt-XXXXXX", path[128], bad[128];
  if (!mkdtemp(dir)) return 1;
  snprintf(path, sizeof path, "%s/m.safetensors", dir);
  snprintf(bad, sizeof bad, "%s/bad.safetensors", dir);
  gc_net *a = make(ctx, "resnet10_w16", 1), *b = make(ctx, "resnet10_w16", 2);
  /* make the running statistics and counters non-trivial */
  CHECK_OK(gc_net_forward(ctx, a, 1));
  CHECK_OK(gc_ckpt_save_model(ctx, a, 7, path));
  long ep = 0;
  CHECK_OK(gc_ckpt_load_model(ctx, b, path, 1, &ep));
  CHECK(ep == 7);
  int same = 1;
  for (int i = 0; i < gc_net_nparams(a); i++) same &= same_tensor(ctx, &gc_net_param(a, i)->w, &gc_net_param(b, i)->w);
  for (int i = 0; i < gc_net_nbuffers(a); i++) same &= same_tensor(ctx, &gc_net_buffer(a, i)->t, &gc_net_buffer(b, i)->t);
  for (int i = 0; i < gc_net_nbn(a); i++) same &= gc_net_bn_batches(a, i) == 1 && gc_net_bn_batches(b, i) == 1;
  CHECK(same);
  /* another network's checkpoint */
  gc_net *c = make(ctx, "resnet18", 1);
  CHECK_STATUS(gc_ckpt_load_model(ctx, c, path, 1, NULL), GC_ERR_FORMAT);
  CHECK(strstr(gc_last_error(), "'conv1.weight' dimension 0 is 16, expected 64") != NULL);
  /* truncated */
  FILE *f = fopen(path, "rb"), *g = fopen(bad, "wb");
  for (int i = 0; i < 5000; i++) fputc(fgetc(f), g);
  fclose(f);
  fclose(g);
  CHECK_STATUS(gc_ckpt_load_model(ctx, b, bad, 1, NULL), GC_ERR_FORMAT);
  /* malformed headers */
  write_raw(bad, "not json", 0);
  CHECK_STATUS(gc_ckpt_load_model(ctx, b, bad, 1, NULL), GC_ERR_FORMAT);
  write_raw(bad, "{\"conv1.weight\":{\"dtype\":\"F32\",\"shape\":[16,3,3,3],\"data_offsets\":[0,999999999]}}", 16);
  CHECK_STATUS(gc_ckpt_load_model(ctx, b, bad, 1, NULL), GC_ERR_FORMAT);
  CHECK(strstr(gc_last_error(), "lie beyond the") != NULL);
  write_raw(bad, "{\"conv1.weight\":{\"dtype\":\"F16\",\"shape\":[16,3,3,3],\"data_offsets\":[0,864]}}", 864);
  CHECK_STATUS(gc_ckpt_load_model(ctx, b, bad, 1, NULL), GC_ERR_FORMAT);
  CHECK(strstr(gc_last_error(), "dtype F16, expected F32") != NULL);
  write_raw(bad, "{\"conv1.weight\":{\"dtype\":\"F32\",\"shape\":[1000000,1000000],\"data_offsets\":[0,1728]}}", 1728);
  CHECK_STATUS(gc_ckpt_load_model(ctx, b, bad, 1, NULL), GC_ERR_FORMAT);
  f = fopen(bad, "wb");
  fwrite("\xff\xff\xff\xff\xff\xff\xff\x7f{}", 1, 10, f); /* a header length far past the end */
  fclose(f);
  CHECK_STATUS(gc_ckpt_load_model(ctx, b, bad, 1, NULL), GC_ERR_FORMAT);
  CHECK_STATUS(gc_ckpt_load_model(ctx, b, "/nonexistent/m.safetensors", 1, NULL), GC_ERR_IO);
  /* headers whose tensors do not tile the data area exactly, or that say more than they should */
  static const struct {
    const char *hdr;
    size_t data;
    const char *msg;
  } tiles[] = {
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
       12, "they overlap"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}",
       20, "a gap would be left"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 12, "bytes nothing describes"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
       16, "'a' appears twice"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}xyz", 8, "bytes after the header's JSON"},
      {"{\"a\":{\"dtype\":\"Q7\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "is not a tensor entry"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", 8, "not a list of non-negative integers"},
      {"{\"__metadata__\":{\"epoch\":3},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "is not a string"},
      /* valid: empty tensors at the offset the next one begins at, in either order; F8 and F16 */
      {"{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
       "\"c\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[8,10]},\"d\":{\"dtype\":\"F16\",\"shape\":[0,3],\"data_offsets\":[10,10]},"
       "\"__metadata__\":{}}", 10, NULL},
  };
  for (size_t i = 0; i < sizeof tiles / sizeof *tiles; i++) {
    write_raw(bad, tiles[i].hdr, tiles[i].data);
    int st = gc_ckpt_inspect(bad, NULL);
    if (!tiles[i].msg) {
      if (st) fprintf(stderr, "  %s: '%s'\n", tiles[i].hdr, gc_last_error());
      CHECK(st == GC_OK);
      continue;
    }
    if (st != GC_ERR_FORMAT || !strstr(gc_last_error(), tiles[i].msg)) fprintf(stderr, "  %s: '%s'\n", tiles[i].hdr, gc_last_error());
    CHECK(st == GC_ERR_FORMAT && strstr(gc_last_error(), tiles[i].msg));
  }
  /* a named pipe as a weights file: refused at once */
  char fifo[160];
  snprintf(fifo, sizeof fifo, "%s/pipe.safetensors", dir);
  CHECK(mkfifo(fifo, 0600) == 0);
  CHECK_STATUS(gc_ckpt_load_model(ctx, b, fifo, 1, NULL), GC_ERR_IO);
  CHECK(strstr(gc_last_error(), "a named pipe, not a regular file") != NULL);
  unlink(fifo);
  /* a failed write leaves the previous file intact */
  CHECK_STATUS(gc_ckpt_save_model(ctx, a, 8, "/nonexistent-dir/m.safetensors"), GC_ERR_IO);
  gc_net_free(a);
  gc_net_free(b);
  gc_net_free(c);
  unlink(path);
  unlink(bad);
  rmdir(dir);
  gc_ctx_free(ctx);
  return gc_test_summary("test_checkpoint");
}
