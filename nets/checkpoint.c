/* safetensors checkpoints (see gc_checkpoint.h). */
#include "gc_checkpoint.h"
#include "gc_io.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

typedef struct entry {
  const char *name;
  const char *dtype; /* "F32" or "I64" */
  int ndim;
  size_t dims[4];
  size_t bytes;
  void *data; /* host copy */
} entry;

/* Remove PATH.tmp.PID files left by processes that no longer run (a run killed while writing). */
/* GAFCL_TEST_CKPT_DELAY_MS: a pause after the data is written and before it is made durable and
 * renamed, so that tests can kill a run in the middle of writing a checkpoint. */
static void test_delay(void) {
  const char *v = getenv("GAFCL_TEST_CKPT_DELAY_MS");
  long ms = v ? strtol(v, NULL, 10) : 0;
  if (ms > 0) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
  }
}

/* header JSON + data, to path atomically */
static int write_safetensors(const char *path, entry *e, int n, cJSON *meta) {
  int st = 0, fd = -1;
  char *hdr = NULL, tmp[1200] = "";
  cJSON *root = cJSON_CreateObject();
  if (!root) GC_FAIL(GC_ERR_HOST_MEM, "checkpoint header");
  if (meta) cJSON_AddItemToObject(root, "__metadata__", meta);
  size_t off = 0;
  for (int i = 0; i < n; i++) {
    cJSON *t = cJSON_CreateObject(), *shape = cJSON_CreateArray(), *offs = cJSON_CreateArray();
    cJSON_AddStringToObject(t, "dtype", e[i].dtype);
    for (int d = 0; d < e[i].ndim; d++) cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)e[i].dims[d]));
    cJSON_AddItemToObject(t, "shape", shape);
    cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
    cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(off + e[i].bytes)));
    cJSON_AddItemToObject(t, "data_offsets", offs);
    cJSON_AddItemToObject(root, e[i].name, t);
    off += e[i].bytes;
  }
  hdr = cJSON_PrintUnformatted(root);
  cJSON_Delete(root);
  if (!hdr) GC_FAIL(GC_ERR_HOST_MEM, "checkpoint header");
  size_t hl = strlen(hdr), padded = (hl + 7) / 8 * 8; /* pad with spaces to keep the data 8-byte aligned */
  unsigned char len8[8];
  for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)padded >> (8 * i));
  gc_remove_stale_tmp(path);
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
  fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) GC_FAIL_GOTO(GC_ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
  int bad = gc_write_all(fd, len8, 8) || gc_write_all(fd, hdr, hl);
  for (size_t k = hl; !bad && k < padded; k++) bad = gc_write_all(fd, " ", 1);
  for (int i = 0; !bad && i < n; i++) bad = gc_write_all(fd, e[i].data, e[i].bytes);
  if (bad) GC_FAIL_GOTO(GC_ERR_IO, "writing %s: %s (the previous checkpoint is kept)", tmp, strerror(errno));
  test_delay();
  if (fsync(fd) != 0) GC_FAIL_GOTO(GC_ERR_IO, "fsync %s: %s (the previous checkpoint is kept)", tmp, strerror(errno));
  if (close(fd) != 0) {
    fd = -1;
    GC_FAIL_GOTO(GC_ERR_IO, "closing %s: %s (the previous checkpoint is kept)", tmp, strerror(errno));
  }
  fd = -1;
  if (rename(tmp, path) != 0) GC_FAIL_GOTO(GC_ERR_IO, "renaming %s to %s: %s", tmp, path, strerror(errno));
  tmp[0] = '\0';
  /* make the rename itself durable */
  char dirbuf[1200];
  snprintf(dirbuf, sizeof dirbuf, "%s", path);
  int dfd = open(dirname(dirbuf), O_RDONLY);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
cleanup:
  if (fd >= 0) close(fd);
  if (tmp[0]) unlink(tmp);
  free(hdr);
  return st;
}

static int read_tensor_f32(gc_ctx *ctx, const gc_tensor *t, entry *e, const char *name) {
  size_t n = gc_tensor_numel(t);
  e->name = name;
  e->dtype = "F32";
  e->ndim = t->ndim;
  for (int d = 0; d < t->ndim; d++) e->dims[d] = t->dim[d];
  e->bytes = n * 4;
  e->data = malloc(e->bytes ? e->bytes : 1);
  if (!e->data) GC_FAIL(GC_ERR_HOST_MEM, "checkpoint tensor %s", name);
  return gc_tensor_read(ctx, t, e->data, n); /* float32 on little-endian hosts, as safetensors stores it */
}

static void free_entries(entry *e, int n, char **names, int nn) {
  for (int i = 0; i < n; i++) free(e[i].data);
  for (int i = 0; i < nn; i++) free(names[i]);
  free(e);
  free(names);
}

/* The model's tensors (PyTorch state_dict names: parameters, buffers, num_batches_tracked) appended to
 * e[*k]; counter names go to names[*nn]. */
static int model_entries(gc_ctx *ctx, gc_net *net, entry *e, int *k, char **names, int *nn) {
  int st = 0, np = gc_net_nparams(net), nb = gc_net_nbuffers(net), nbn = gc_net_nbn(net);
  /* state_dict order: per module, parameters then buffers; the buffers and counters follow their
   * batch norm's parameters (name order within the file does not matter to safetensors) */
  for (int i = 0; i < np; i++) GC_TRY(read_tensor_f32(ctx, &gc_net_param(net, i)->w, &e[(*k)++], gc_net_param(net, i)->name));
  for (int i = 0; i < nb; i++) GC_TRY(read_tensor_f32(ctx, &gc_net_buffer(net, i)->t, &e[(*k)++], gc_net_buffer(net, i)->name));
  for (int i = 0; i < nbn; i++) {
    size_t len = strlen(gc_net_bn_name(net, i)) + 32;
    names[*nn] = malloc(len);
    if (!names[*nn]) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "names");
    snprintf(names[*nn], len, "%s.num_batches_tracked", gc_net_bn_name(net, i));
    int64_t *v = malloc(8);
    if (!v) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "counter");
    *v = gc_net_bn_batches(net, i);
    e[*k] = (entry){names[(*nn)++], "I64", 0, {0}, 8, v};
    (*k)++;
  }
cleanup:
  return st;
}

static int model_count(const gc_net *net) { return gc_net_nparams(net) + gc_net_nbuffers(net) + gc_net_nbn(net); }

int gc_ckpt_save_model(gc_ctx *ctx, gc_net *net, long epoch, const char *path) {
  int st = 0, total = model_count(net), k = 0, nn = 0;
  entry *e = calloc((size_t)total, sizeof *e);
  char **names = calloc((size_t)gc_net_nbn(net) + 1, sizeof *names);
  if (!e || !names) {
    free(e);
    free(names);
    GC_FAIL(GC_ERR_HOST_MEM, "checkpoint of %d tensors", total);
  }
  GC_TRY(model_entries(ctx, net, e, &k, names, &nn));
  cJSON *meta = cJSON_CreateObject();
  cJSON_AddStringToObject(meta, "format", "pt");
  cJSON_AddStringToObject(meta, "gafcl_net", gc_net_spec_name(net));
  if (epoch >= 0) {
    char num[32];
    snprintf(num, sizeof num, "%ld", epoch);
    cJSON_AddStringToObject(meta, "epoch", num);
  }
  GC_TRY(write_safetensors(path, e, k, meta));
cleanup:
  free_entries(e, k, names, nn);
  return st;
}

/* ---- reading ---- */

/* a count from the metadata: decimal digits only, at most `max` */
static int meta_long(const char *s, long max, long *out) {
  if (!*s || strlen(s) > 18) return 0;
  long v = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9') return 0;
    v = v * 10 + (*p - '0');
  }
  if (v > max) return 0;
  *out = v;
  return 1;
}

typedef struct stfile {
  unsigned char *buf;
  size_t size;
  size_t data_off;
  cJSON *hdr;
} stfile;

static void st_close(stfile *f) {
  free(f->buf);
  cJSON_Delete(f->hdr);
  memset(f, 0, sizeof *f);
}

static size_t dtype_size(const char *d) {
  static const struct {
    const char *name;
    size_t size;
  } t[] = {{"F64", 8}, {"F32", 4},  {"F16", 2},     {"BF16", 2},    {"F8_E4M3", 1}, {"F8_E5M2", 1}, {"C64", 8},
           {"I64", 8}, {"I32", 4},  {"I16", 2},     {"I8", 1},      {"U64", 8},     {"U32", 4},     {"U16", 2},
           {"U8", 1},  {"BOOL", 1}};
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    if (!strcmp(d, t[i].name)) return t[i].size;
  return 0;
}

typedef struct span {
  double b, e;
  const char *name;
} span;

/* by where the data begins, then ends: an empty tensor [x, x) comes before one that begins at x */
static int by_begin(const void *x, const void *y) {
  const span *a = x, *b = y;
  if (a->b != b->b) return a->b < b->b ? -1 : 1;
  return a->e < b->e ? -1 : a->e > b->e ? 1 : 0;
}

static int by_name(const void *x, const void *y) { return strcmp(*(const char *const *)x, *(const char *const *)y); }

/* Every entry of the header: a unique name, a known dtype, a shape of non-negative integers, and
 * data_offsets that match the shape; together the tensors tile the data area exactly (no gap, no
 * overlap, nothing after the last). The metadata, if any, maps names to strings. */
static int st_validate(const stfile *f, const char *path) {
  int st = 0, n = 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, f->hdr) n++;
  span *sp = calloc((size_t)(n ? n : 1), sizeof *sp);
  const char **names = NULL;
  if (!sp) GC_FAIL(GC_ERR_HOST_MEM, "%s: %d header entries", path, n);
  int k = 0;
  const double data_size = (double)(f->size - f->data_off);
  names = calloc((size_t)(n ? n : 1), sizeof *names);
  if (!names) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "%s: %d header entries", path, n);
  int nn = 0;
  cJSON_ArrayForEach(it, f->hdr) {
    if (!it->string) GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: a header entry without a name", path);
    names[nn++] = it->string;
  }
  qsort(names, (size_t)nn, sizeof *names, by_name); /* duplicates side by side: n log n for any header */
  for (int i = 1; i < nn; i++)
    if (!strcmp(names[i - 1], names[i])) GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: '%s' appears twice in the header", path, names[i]);
  cJSON_ArrayForEach(it, f->hdr) {
    if (!strcmp(it->string, "__metadata__")) {
      if (!cJSON_IsObject(it)) GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: __metadata__ is not an object", path);
      const cJSON *m;
      cJSON_ArrayForEach(m, it) if (!cJSON_IsString(m))
          GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: metadata '%s' is not a string", path, m->string ? m->string : "?");
      continue;
    }
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(it, "dtype"), *sh = cJSON_GetObjectItemCaseSensitive(it, "shape"),
                *of = cJSON_GetObjectItemCaseSensitive(it, "data_offsets");
    size_t esz = cJSON_IsString(dt) ? dtype_size(dt->valuestring) : 0;
    if (!cJSON_IsObject(it) || !esz || !cJSON_IsArray(sh) || !cJSON_IsArray(of) || cJSON_GetArraySize(of) != 2)
      GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: '%s' is not a tensor entry (dtype, shape, data_offsets)", path, it->string);
    double count = 1;
    const cJSON *d;
    cJSON_ArrayForEach(d, sh) {
      if (!cJSON_IsNumber(d) || d->valuedouble < 0 || d->valuedouble != floor(d->valuedouble) || d->valuedouble > 9e15)
        GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: '%s' has a shape that is not a list of non-negative integers", path, it->string);
      count *= d->valuedouble;
    }
    const cJSON *ob = cJSON_GetArrayItem(of, 0), *oe = cJSON_GetArrayItem(of, 1);
    double b = cJSON_IsNumber(ob) ? ob->valuedouble : -1, e = cJSON_IsNumber(oe) ? oe->valuedouble : -1;
    /* compare as doubles before any conversion: a huge offset must not be cast to size_t */
    if (!(b >= 0 && e >= b && e <= data_size) || b != floor(b) || e != floor(e) || e - b != count * (double)esz)
      GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: '%s' data_offsets [%.0f, %.0f) do not match its shape (%.0f bytes) or lie beyond "
                   "the %.0f-byte data area", path, it->string, b, e, count * (double)esz, data_size);
    sp[k++] = (span){b, e, it->string};
  }
  qsort(sp, (size_t)k, sizeof *sp, by_begin);
  double at = 0;
  for (int i = 0; i < k; i++) {
    if (sp[i].b != at)
      GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: '%s' begins at byte %.0f of the data, where %s", path, sp[i].name, sp[i].b,
                   sp[i].b < at ? "the tensor before it has not ended (they overlap)" : "a gap would be left");
    at = sp[i].e;
  }
  if (at != data_size)
    GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: the tensors end at byte %.0f of a %.0f-byte data area (bytes nothing describes)",
                 path, at, data_size);
cleanup:
  free(sp);
  free(names);
  return st;
}

static int st_open(const char *path, stfile *f) {
  int st = 0;
  memset(f, 0, sizeof *f);
  GC_TRY(gc_file_read(path, "safetensors file", (size_t)1 << 40, &f->buf, &f->size));
  if (f->size < 8) GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: too short for a safetensors file", path);
  uint64_t hl = 0;
  for (int i = 0; i < 8; i++) hl |= (uint64_t)f->buf[i] << (8 * i);
  if (hl == 0 || hl > f->size - 8 || hl > (100u << 20))
    GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: header length %llu does not fit the %zu-byte file", path, (unsigned long long)hl,
                 f->size);
  char *js = malloc(hl + 1);
  if (!js) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "header of %llu bytes", (unsigned long long)hl);
  memcpy(js, f->buf + 8, hl);
  js[hl] = '\0';
  const char *end = NULL;
  f->hdr = cJSON_ParseWithOpts(js, &end, 0);
  /* after the JSON object only the spaces that pad the header */
  int tail = 0;
  for (const char *p = end ? end : js; f->hdr && p < js + hl; p++) tail |= *p != ' ';
  free(js);
  if (!f->hdr || !cJSON_IsObject(f->hdr)) GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: the header is not a JSON object", path);
  if (tail) GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: bytes after the header's JSON object", path);
  f->data_off = 8 + hl;
  GC_TRY(st_validate(f, path));
cleanup:
  if (st) st_close(f);
  return st;
}

/* find `name`, check dtype and shape, return a pointer to its bytes */
static int st_get(const stfile *f, const char *path, const char *name, const char *dtype, int ndim, const size_t *dims,
                  const void **data) {
  cJSON *t = cJSON_GetObjectItemCaseSensitive(f->hdr, name);
  if (!t) GC_FAIL(GC_ERR_FORMAT, "%s: no tensor '%s'", path, name);
  cJSON *dt = cJSON_GetObjectItemCaseSensitive(t, "dtype"), *sh = cJSON_GetObjectItemCaseSensitive(t, "shape"),
        *of = cJSON_GetObjectItemCaseSensitive(t, "data_offsets");
  if (!cJSON_IsString(dt) || strcmp(dt->valuestring, dtype))
    GC_FAIL(GC_ERR_FORMAT, "%s: '%s' has dtype %s, expected %s", path, name, cJSON_IsString(dt) ? dt->valuestring : "?",
            dtype);
  if (!cJSON_IsArray(sh) || cJSON_GetArraySize(sh) != ndim)
    GC_FAIL(GC_ERR_FORMAT, "%s: '%s' has %d dimensions, expected %d", path, name, cJSON_IsArray(sh) ? cJSON_GetArraySize(sh) : -1,
            ndim);
  size_t n = 1;
  for (int d = 0; d < ndim; d++) {
    cJSON *x = cJSON_GetArrayItem(sh, d);
    if (!cJSON_IsNumber(x) || x->valuedouble != (double)dims[d])
      GC_FAIL(GC_ERR_FORMAT, "%s: '%s' dimension %d is %g, expected %zu", path, name, d,
              cJSON_IsNumber(x) ? x->valuedouble : -1.0, dims[d]);
    n *= dims[d];
  }
  size_t esz = !strcmp(dtype, "I64") ? 8 : 4;
  if (!cJSON_IsArray(of) || cJSON_GetArraySize(of) != 2) GC_FAIL(GC_ERR_FORMAT, "%s: '%s' has no data_offsets", path, name);
  cJSON *ob = cJSON_GetArrayItem(of, 0), *oe = cJSON_GetArrayItem(of, 1);
  double b = cJSON_IsNumber(ob) ? ob->valuedouble : -1, e = cJSON_IsNumber(oe) ? oe->valuedouble : -1;
  /* compare as doubles before any conversion: a huge offset must not be cast to size_t */
  if (!(b >= 0 && e >= b && e <= (double)(f->size - f->data_off)) || e - b != (double)n * (double)esz)
    GC_FAIL(GC_ERR_FORMAT, "%s: '%s' data_offsets [%.0f, %.0f) do not match its shape or lie beyond the file", path,
            name, b, e);
  *data = f->buf + f->data_off + (size_t)b;
  return GC_OK;
}

/* the model's tensors from an open file into the net */
static int load_model_from(gc_ctx *ctx, gc_net *net, const stfile *f, const char *path) {
  int st = 0, np = gc_net_nparams(net), nb = gc_net_nbuffers(net), nbn = gc_net_nbn(net);
  for (int i = 0; i < np && !st; i++) {
    const gc_param *p = gc_net_param(net, i);
    const void *d = NULL;
    st = st_get(f, path, p->name, "F32", p->ndim, p->dims, &d);
    if (!st) st = gc_tensor_write(ctx, &p->w, d, gc_tensor_numel(&p->w));
  }
  for (int i = 0; i < nb && !st; i++) {
    const gc_buffer *b = gc_net_buffer(net, i);
    const void *d = NULL;
    st = st_get(f, path, b->name, "F32", 1, b->t.dim, &d);
    if (!st) st = gc_tensor_write(ctx, &b->t, d, gc_tensor_numel(&b->t));
  }
  for (int i = 0; i < nbn && !st; i++) {
    char name[128];
    snprintf(name, sizeof name, "%s.num_batches_tracked", gc_net_bn_name(net, i));
    const void *d = NULL;
    st = st_get(f, path, name, "I64", 0, NULL, &d);
    if (!st) {
      int64_t v;
      memcpy(&v, d, 8);
      gc_net_set_bn_batches(net, i, v);
    }
  }
  return st;
}

int gc_ckpt_load_model(gc_ctx *ctx, gc_net *net, const char *path, int strict, long *epoch) {
  stfile f;
  int st = st_open(path, &f);
  if (st) return st;
  if (epoch) {
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(f.hdr, "__metadata__");
    cJSON *ep = meta ? cJSON_GetObjectItemCaseSensitive(meta, "epoch") : NULL;
    *epoch = cJSON_IsString(ep) ? strtol(ep->valuestring, NULL, 10) : -1;
  }
  st = load_model_from(ctx, net, &f, path);
  if (!st && strict) {
    int count = 0, expected = model_count(net);
    cJSON *it;
    cJSON_ArrayForEach(it, f.hdr) count += strcmp(it->string, "__metadata__") != 0;
    if (count != expected)
      st = gc_error_set(GC_ERR_FORMAT, __FILE__, __LINE__, "%s: %d tensors, the network %s has %d", path, count,
                        gc_net_spec_name(net), expected);
  }
  st_close(&f);
  return st;
}

static const char *state_prefix(int which, gc_optim *opt) {
  gc_arena *a = gc_optim_state(opt, which);
  if (!a) return NULL;
  return which == 0 ? (gc_optim_state(opt, 1) ? "adam_m." : "momentum.") : "adam_v.";
}

void gc_ckpt_meta_free(gc_ckpt_meta *m, int n) {
  for (int i = 0; m && i < n; i++) free(m[i].key), free(m[i].value);
  free(m);
}

int gc_ckpt_save_state(gc_ctx *ctx, gc_net *net, gc_optim *opt, long epoch, const char *config_json, const char *path) {
  int st = 0, np = gc_net_nparams(net), k = 0, nn = 0;
  entry *e = calloc((size_t)(2 * np + model_count(net) + 1), sizeof *e);
  char **names = calloc((size_t)(2 * np + gc_net_nbn(net) + 1), sizeof *names);
  if (!e || !names) {
    free(e);
    free(names);
    GC_FAIL(GC_ERR_HOST_MEM, "state checkpoint");
  }
  /* the whole model too: this one file, written atomically, is all a resumed run needs */
  GC_TRY(model_entries(ctx, net, e, &k, names, &nn));
  for (int which = 0; which < 2; which++) {
    const char *pre = state_prefix(which, opt);
    if (!pre) continue;
    gc_arena *a = gc_optim_state(opt, which);
    for (int i = 0; i < np; i++) {
      const gc_param *p = gc_net_param(net, i);
      gc_tensor t = p->w;
      t.arena = a; /* the state arenas mirror the parameter arena's layout */
      size_t len = strlen(pre) + strlen(p->name) + 1;
      names[nn] = malloc(len);
      if (!names[nn]) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "names");
      snprintf(names[nn], len, "%s%s", pre, p->name);
      GC_TRY(read_tensor_f32(ctx, &t, &e[k++], names[nn++]));
    }
  }
  cJSON *meta = cJSON_CreateObject();
  char num[32];
  snprintf(num, sizeof num, "%ld", gc_optim_steps(opt));
  cJSON_AddStringToObject(meta, "steps", num);
  snprintf(num, sizeof num, "%ld", epoch);
  cJSON_AddStringToObject(meta, "epoch", num);
  cJSON_AddStringToObject(meta, "config", config_json ? config_json : "");
  cJSON_AddStringToObject(meta, "gafcl_net", gc_net_spec_name(net));
  cJSON_AddStringToObject(meta, "has_model", "1");
  GC_TRY(write_safetensors(path, e, k, meta));
cleanup:
  free_entries(e, k, names, nn);
  return st;
}

int gc_ckpt_load_state(gc_ctx *ctx, gc_net *net, gc_optim *opt, const char *path, long *epoch, gc_ckpt_meta **out_meta,
                       int *nmeta, int *has_model) {
  stfile f;
  if (out_meta) *out_meta = NULL;
  if (nmeta) *nmeta = 0;
  int st = st_open(path, &f);
  if (st) return st;
  cJSON *meta = cJSON_GetObjectItemCaseSensitive(f.hdr, "__metadata__");
  cJSON *steps = meta ? cJSON_GetObjectItemCaseSensitive(meta, "steps") : NULL;
  cJSON *ep = meta ? cJSON_GetObjectItemCaseSensitive(meta, "epoch") : NULL;
  cJSON *cfg = meta ? cJSON_GetObjectItemCaseSensitive(meta, "config") : NULL;
  long nsteps = -1, nepoch = -1;
  if (!cJSON_IsString(steps) || !cJSON_IsString(ep) || !meta_long(steps->valuestring, 1L << 50, &nsteps) ||
      !meta_long(ep->valuestring, 1000000, &nepoch)) {
    st_close(&f);
    GC_FAIL(GC_ERR_FORMAT, "%s: not a gafcl state checkpoint (metadata steps/epoch missing or not counts)", path);
  }
  cJSON *net_name = cJSON_GetObjectItemCaseSensitive(meta, "gafcl_net");
  if (cJSON_IsString(net_name) && strcmp(net_name->valuestring, gc_net_spec_name(net))) {
    st = gc_error_set(GC_ERR_ARG, __FILE__, __LINE__, "%s: this run was a %s, not a %s", path, net_name->valuestring,
                      gc_net_spec_name(net));
    st_close(&f);
    return st;
  }
  int np = gc_net_nparams(net);
  for (int which = 0; which < 2 && !st; which++) {
    const char *pre = state_prefix(which, opt);
    if (!pre) continue;
    gc_arena *a = gc_optim_state(opt, which);
    for (int i = 0; i < np && !st; i++) {
      const gc_param *p = gc_net_param(net, i);
      char name[160];
      snprintf(name, sizeof name, "%s%s", pre, p->name);
      const void *d = NULL;
      st = st_get(&f, path, name, "F32", p->ndim, p->dims, &d);
      gc_tensor t = p->w;
      t.arena = a;
      if (!st) st = gc_tensor_write(ctx, &t, d, gc_tensor_numel(&t));
    }
  }
  cJSON *hm = meta ? cJSON_GetObjectItemCaseSensitive(meta, "has_model") : NULL;
  if (has_model) *has_model = cJSON_IsString(hm) && !strcmp(hm->valuestring, "1");
  if (!st && has_model && *has_model) st = load_model_from(ctx, net, &f, path);
  if (!st) {
    gc_optim_set_steps(opt, nsteps);
    *epoch = nepoch;
    (void)cfg;
    if (out_meta && meta) { /* every metadata string, copied (validated as strings when the file was opened) */
      int n = cJSON_GetArraySize(meta), k = 0;
      gc_ckpt_meta *m = calloc((size_t)(n ? n : 1), sizeof *m);
      const cJSON *it;
      if (!m) st = gc_error_set(GC_ERR_HOST_MEM, __FILE__, __LINE__, "%s: metadata", path);
      cJSON_ArrayForEach(it, meta) {
        if (st) break;
        m[k].key = strdup(it->string);
        m[k].value = strdup(it->valuestring);
        if (!m[k++].key || !m[k - 1].value) st = gc_error_set(GC_ERR_HOST_MEM, __FILE__, __LINE__, "%s: metadata", path);
      }
      if (st) gc_ckpt_meta_free(m, k);
      else *out_meta = m, *nmeta = k;
    }
  }
  st_close(&f);
  return st;
}

int gc_ckpt_epoch(const char *path, long *epoch) {
  stfile f;
  *epoch = -1;
  int st = st_open(path, &f);
  if (st) return st;
  cJSON *meta = cJSON_GetObjectItemCaseSensitive(f.hdr, "__metadata__");
  cJSON *ep = meta ? cJSON_GetObjectItemCaseSensitive(meta, "epoch") : NULL;
  if (cJSON_IsString(ep)) *epoch = strtol(ep->valuestring, NULL, 10);
  st_close(&f);
  return GC_OK;
}

int gc_ckpt_inspect(const char *path, int *ntensors) {
  stfile f;
  int st = st_open(path, &f);
  if (st) return st;
  int n = 0;
  cJSON *it;
  cJSON_ArrayForEach(it, f.hdr) {
    if (!strcmp(it->string, "__metadata__")) continue;
    cJSON *dt = cJSON_GetObjectItemCaseSensitive(it, "dtype"), *sh = cJSON_GetObjectItemCaseSensitive(it, "shape");
    if (!cJSON_IsString(dt) || !cJSON_IsArray(sh) || cJSON_GetArraySize(sh) > 8) {
      st = gc_error_set(GC_ERR_FORMAT, __FILE__, __LINE__, "%s: tensor '%s' lacks a dtype or a shape", path, it->string);
      break;
    }
    size_t dims[8];
    int nd = cJSON_GetArraySize(sh);
    for (int d = 0; d < nd; d++) {
      cJSON *x = cJSON_GetArrayItem(sh, d);
      double v = cJSON_IsNumber(x) ? x->valuedouble : -1;
      if (!(v >= 0 && v < 1e12)) {
        st = gc_error_set(GC_ERR_FORMAT, __FILE__, __LINE__, "%s: tensor '%s' has a bad shape", path, it->string);
        break;
      }
      dims[d] = (size_t)v;
    }
    if (st) break;
    if (strcmp(dt->valuestring, "F32") && strcmp(dt->valuestring, "I64")) {
      n++; /* other dtypes are legal safetensors, only not loadable into a gafcl net */
      continue;
    }
    const void *data;
    if ((st = st_get(&f, path, it->string, dt->valuestring, nd, dims, &data)) != 0) break;
    n++;
  }
  if (ntensors) *ntensors = n;
  st_close(&f);
  return st;
}
