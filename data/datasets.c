/* Data set readers: idx (Fashion-MNIST, MNIST; gzip'ed or plain), CIFAR binary, synthetic. */
#include "gc_data.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "gc_error.h"
#include "gc_npy.h"
#include "gc_io.h"

void gc_data_free(gc_dataset *d) {
  free(d->images);
  free(d->fimages);
  for (size_t i = 0; d->paths && i < d->n; i++) free(d->paths[i]);
  free(d->paths);
  free(d->labels);
  free(d->targets);
  if (d->det) { /* a detection set: its per-image arrays hold det->nalloc images (d->n may be lower) */
    for (size_t i = 0; d->det->ids && i < d->det->nalloc; i++) free(d->det->ids[i]);
    free(d->det->ids);
    free(d->det->class_names);
    free(d->det->width);
    free(d->det->height);
    free(d->det->box_start);
    free(d->det->boxes);
    free(d->det);
  }
  memset(d, 0, sizeof *d);
}

void gc_data_truncate(gc_dataset *d, size_t n) {
  if (n >= d->n) return;
  for (size_t i = n; d->paths && i < d->n; i++) { /* what gc_data_free will no longer see */
    free(d->paths[i]);
    d->paths[i] = NULL;
  }
  d->n = n;
}

static int file_exists(const char *p) {
  struct stat sb;
  return stat(p, &sb) == 0;
}

/* read exactly n bytes from a gz (or plain) stream */
static int gz_read_all(gzFile f, void *buf, size_t n, const char *path, const char *what) {
  unsigned char *p = buf;
  while (n > 0) {
    unsigned chunk = n > (1u << 30) ? (1u << 30) : (unsigned)n;
    int got = gzread(f, p, chunk);
    if (got < 0) {
      int zerr;
      const char *msg = gzerror(f, &zerr);
      GC_FAIL(GC_ERR_FORMAT, "%s: corrupt compressed data while reading %s (%s)", path, what, msg);
    }
    if (got == 0) GC_FAIL(GC_ERR_FORMAT, "%s: truncated: the file ends inside %s (%zu bytes missing)", path, what, n);
    p += got;
    n -= (size_t)got;
  }
  return GC_OK;
}

static uint32_t be32(const unsigned char *b) {
  return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* an idx file: magic 0x000008 TT NN (unsigned bytes, NN dimensions), then NN big-endian sizes, data */
static int read_idx(const char *path, int want_dims, uint32_t dims[3], unsigned char **data, size_t *count) {
  int st = 0;
  unsigned char *buf = NULL;
  *data = NULL;
  int fd;
  size_t fsize;
  gzFile f = NULL;
  GC_TRY(gc_file_open(path, "idx file", &fd, &fsize));
  f = gzdopen(fd, "rb");
  if (!f) {
    close(fd);
    GC_FAIL(GC_ERR_HOST_MEM, "%s: cannot start reading", path);
  }
  unsigned char hdr[16];
  GC_TRY(gz_read_all(f, hdr, 4, path, "the idx header"));
  if (hdr[0] != 0 || hdr[1] != 0 || hdr[2] != 0x08)
    GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: not an idx file of unsigned bytes (magic %02x%02x%02x%02x)", path, hdr[0], hdr[1],
                 hdr[2], hdr[3]);
  if (hdr[3] != want_dims)
    GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: %d dimensions, expected %d", path, hdr[3], want_dims);
  GC_TRY(gz_read_all(f, hdr + 4, 4 * (size_t)want_dims, path, "the idx sizes"));
  size_t n = 1;
  for (int i = 0; i < want_dims; i++) {
    dims[i] = be32(hdr + 4 + 4 * i);
    if (dims[i] == 0 || dims[i] > (1u << 28)) GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: dimension %d is %u", path, i, dims[i]);
    n *= dims[i];
    if (n > ((size_t)1 << 34)) GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: %zu elements is too many", path, n);
  }
  /* grow the buffer as data arrives, so a header that claims more than the file holds costs no more
   * memory than the file's contents */
  size_t have = 0, cap = 0;
  while (have < n) {
    if (have == cap) {
      cap = cap ? (cap * 2 < n ? cap * 2 : n) : (n < (1u << 20) ? n : (1u << 20));
      unsigned char *g = realloc(buf, cap);
      if (!g) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "%s: %zu bytes", path, cap);
      buf = g;
    }
    size_t want = cap - have;
    GC_TRY(gz_read_all(f, buf + have, want, path, "the data"));
    have += want;
  }
  *data = buf;
  *count = n;
  buf = NULL;
cleanup:
  free(buf);
  if (f) gzclose(f);
  return st;
}

int gc_data_idx(gc_dataset *d, const char *images_path, const char *labels_path) {
  int st = 0;
  unsigned char *img = NULL, *lab = NULL;
  uint32_t di[3], dl[3];
  size_t ni, nl;
  memset(d, 0, sizeof *d);
  GC_TRY(read_idx(images_path, 3, di, &img, &ni));
  GC_TRY(read_idx(labels_path, 1, dl, &lab, &nl));
  if (dl[0] != di[0])
    GC_FAIL_GOTO(GC_ERR_FORMAT, "%s holds %u images but %s %u labels", images_path, di[0], labels_path, dl[0]);
  d->n = di[0];
  d->c = 1;
  d->h = (int)di[1];
  d->w = (int)di[2];
  d->labels = malloc(d->n * sizeof *d->labels);
  if (!d->labels) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "%zu labels", d->n);
  int maxl = 0;
  for (size_t i = 0; i < d->n; i++) {
    d->labels[i] = lab[i];
    maxl = lab[i] > maxl ? lab[i] : maxl;
  }
  d->classes = maxl + 1 < 10 ? 10 : maxl + 1;
  d->images = img;
  img = NULL;
  d->mean[0] = 0.5f;
  d->std[0] = 0.25f;
  snprintf(d->name, sizeof d->name, "idx");
cleanup:
  free(img);
  free(lab);
  if (st) gc_data_free(d);
  return st;
}

int gc_data_fashion_mnist(gc_dataset *d, const char *dir, int train) {
  char ip[1024], lp[1024];
  if (!dir || !*dir) dir = "/usr/share/datasets/fashion-mnist";
  const char *pre = train ? "train" : "t10k";
  snprintf(ip, sizeof ip, "%s/%s-images-idx3-ubyte.gz", dir, pre);
  snprintf(lp, sizeof lp, "%s/%s-labels-idx1-ubyte.gz", dir, pre);
  if (!file_exists(ip)) snprintf(ip, sizeof ip, "%s/%s-images-idx3-ubyte", dir, pre);
  if (!file_exists(lp)) snprintf(lp, sizeof lp, "%s/%s-labels-idx1-ubyte", dir, pre);
  if (!file_exists(ip) || !file_exists(lp))
    GC_FAIL(GC_ERR_IO, "Fashion-MNIST not found in %s (%s-images-idx3-ubyte[.gz] and %s-labels-idx1-ubyte[.gz]); "
            "on Debian: apt-get install dataset-fashion-mnist", dir, pre, pre);
  int st = gc_data_idx(d, ip, lp);
  if (st) return st;
  if (d->h != 28 || d->w != 28 || d->classes != 10) {
    gc_data_free(d);
    GC_FAIL(GC_ERR_FORMAT, "%s: Fashion-MNIST images are 28x28 with 10 classes", dir);
  }
  snprintf(d->name, sizeof d->name, "fashion-mnist-%s", train ? "train" : "test");
  d->mean[0] = 0.2860f; /* of the training images */
  d->std[0] = 0.3530f;
  return GC_OK;
}

int gc_data_cifar(gc_dataset *d, const char *dir, int cifar100, int train) {
  int st = 0;
  FILE *f = NULL, *fs[5] = {NULL, NULL, NULL, NULL, NULL};
  memset(d, 0, sizeof *d);
  const size_t rec = (cifar100 ? 2 : 1) + 3072;
  char files[5][1024];
  int nf = 0;
  if (cifar100) {
    snprintf(files[nf++], sizeof files[0], "%s/%s", dir, train ? "train.bin" : "test.bin");
  } else if (train) {
    for (int i = 1; i <= 5; i++) snprintf(files[nf++], sizeof files[0], "%s/data_batch_%d.bin", dir, i);
  } else {
    snprintf(files[nf++], sizeof files[0], "%s/test_batch.bin", dir);
  }
  size_t total = 0, sizes[5];
  for (int i = 0; i < nf && !st; i++) {
    size_t bytes;
    char what[64];
    snprintf(what, sizeof what, "CIFAR-%d file", cifar100 ? 100 : 10);
    if ((st = gc_file_fopen(files[i], what, &fs[i], &bytes)) != 0) {
      gc_error_prefix(st, "(the binary version: %s) ", cifar100 ? "train.bin, test.bin" : "data_batch_1..5.bin, test_batch.bin");
      break;
    }
    if (bytes == 0 || bytes % rec != 0)
      st = gc_error_set(GC_ERR_FORMAT, __FILE__, __LINE__, "%s: %zu bytes is not a whole number of %zu-byte CIFAR-%d records",
                        files[i], bytes, rec, cifar100 ? 100 : 10);
    sizes[i] = bytes / rec;
    total += sizes[i];
  }
  if (st) goto cleanup;
  d->n = total;
  d->c = 3;
  d->h = d->w = 32;
  d->classes = cifar100 ? 100 : 10;
  d->images = malloc(total * 3072);
  d->labels = malloc(total * sizeof *d->labels);
  unsigned char *r = malloc(rec);
  if (!d->images || !d->labels || !r) {
    free(r);
    GC_FAIL_GOTO(GC_ERR_HOST_MEM, "CIFAR: %zu images", total);
  }
  size_t k = 0;
  for (int i = 0; i < nf; i++) {
    f = fs[i];
    fs[i] = NULL;
    for (size_t j = 0; j < sizes[i]; j++, k++) {
      if (fread(r, 1, rec, f) != rec) {
        free(r);
        GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: short read at record %zu", files[i], j);
      }
      int label = cifar100 ? r[1] : r[0];
      if (label >= d->classes) {
        free(r);
        GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: record %zu has label %d (CIFAR-%d has %d classes)", files[i], j, label,
                     d->classes, d->classes);
      }
      d->labels[k] = (uint16_t)label;
      memcpy(d->images + k * 3072, r + (cifar100 ? 2 : 1), 3072);
    }
    fclose(f);
    f = NULL;
  }
  free(r);
  static const float m10[3] = {0.4914f, 0.4822f, 0.4465f}, s10[3] = {0.2023f, 0.1994f, 0.2010f};
  static const float m100[3] = {0.5071f, 0.4867f, 0.4408f}, s100[3] = {0.2675f, 0.2565f, 0.2761f};
  memcpy(d->mean, cifar100 ? m100 : m10, sizeof d->mean);
  memcpy(d->std, cifar100 ? s100 : s10, sizeof d->std);
  snprintf(d->name, sizeof d->name, "cifar%d-%s", cifar100 ? 100 : 10, train ? "train" : "test");
cleanup:
  if (f) fclose(f);
  for (int i = 0; i < 5; i++)
    if (fs[i]) fclose(fs[i]);
  if (st) gc_data_free(d);
  return st;
}

static uint64_t splitmix(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

int gc_data_synthetic(gc_dataset *d, size_t n, int c, int h, int w, int classes, uint64_t seed) {
  memset(d, 0, sizeof *d);
  if (n == 0 || c < 1 || c > 3 || h < 1 || w < 1 || classes < 2 || classes > 65535)
    GC_FAIL(GC_ERR_ARG, "synthetic data: %zu images of %dx%dx%d, %d classes", n, c, h, w, classes);
  size_t per = (size_t)c * h * w;
  d->images = malloc(n * per);
  d->labels = malloc(n * sizeof *d->labels);
  if (!d->images || !d->labels) {
    gc_data_free(d);
    GC_FAIL(GC_ERR_HOST_MEM, "synthetic data of %zu images", n);
  }
  uint64_t s = seed;
  for (size_t i = 0; i < n; i++) {
    int label = (int)(splitmix(&s) % (uint64_t)classes);
    d->labels[i] = (uint16_t)label;
    /* a class-dependent pattern plus noise, so that the data can be learnt */
    for (size_t k = 0; k < per; k++) {
      int base = (int)((k * 37 + (size_t)label * 53) % 200);
      d->images[i * per + k] = (uint8_t)(base + (int)(splitmix(&s) % 56));
    }
  }
  d->n = n;
  d->c = c;
  d->h = h;
  d->w = w;
  d->classes = classes;
  for (int i = 0; i < 3; i++) d->mean[i] = 0.5f, d->std[i] = 0.25f;
  snprintf(d->name, sizeof d->name, "synthetic");
  return GC_OK;
}

int gc_data_npy(gc_dataset *d, const char *images_path, const char *labels_path) {
  int st = 0;
  gc_npy x = {0}, y = {0};
  memset(d, 0, sizeof *d);
  GC_TRY(gc_npy_read(images_path, &x));
  if (strcmp(x.descr, "<f4") || x.ndim != 4)
    GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: images must be float32 (N, C, H, W), not %s with %d dimensions", images_path,
                 x.descr, x.ndim);
  for (int i = 0; i < 4; i++)
    if (x.shape[i] == 0 || x.shape[i] > (i == 0 ? ((size_t)1 << 31) : 65536))
      GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: shape (%zu, %zu, %zu, %zu): every dimension must be between 1 and %s", images_path,
                   x.shape[0], x.shape[1], x.shape[2], x.shape[3], i == 0 ? "2^31 images" : "65536");
  GC_TRY(gc_npy_read(labels_path, &y));
  if (y.count != x.shape[0])
    GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: %zu labels for %zu images in %s", labels_path, y.count, x.shape[0], images_path);
  d->labels = malloc(y.count * sizeof *d->labels);
  float *lab = malloc(y.count * sizeof *lab);
  if (!d->labels || !lab) {
    free(lab);
    GC_FAIL_GOTO(GC_ERR_HOST_MEM, "labels");
  }
  st = gc_npy_labels(&y, 65535, lab, labels_path);
  int maxl = 0;
  for (size_t i = 0; !st && i < y.count; i++) {
    d->labels[i] = (uint16_t)lab[i];
    maxl = d->labels[i] > maxl ? d->labels[i] : maxl;
  }
  free(lab);
  if (st) goto cleanup;
  d->n = x.shape[0];
  d->c = (int)x.shape[1];
  d->h = (int)x.shape[2];
  d->w = (int)x.shape[3];
  d->classes = maxl + 1 < 2 ? 2 : maxl + 1;
  d->fimages = x.data;
  x.data = NULL;
  for (int i = 0; i < 3; i++) d->mean[i] = 0.0f, d->std[i] = 1.0f;
  snprintf(d->name, sizeof d->name, "npy");
cleanup:
  gc_npy_free(&x);
  gc_npy_free(&y);
  if (st) gc_data_free(d);
  return st;
}
