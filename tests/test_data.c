/* Data readers on fixtures the test writes (idx gz and plain, CIFAR-10/100 binary), their errors on bad
 * input (missing, truncated, wrong magic, mismatched counts, bad labels), synthetic data, and the loader:
 * determinism, epochs, padding of the last batch, augmentation. */
#include "gc_data.h"
#include "gc_npy.h"
#include "gafcl.h"
#include "gc_test.h"

#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <jpeglib.h>

static char dir[64];

static void put_be32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16), p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

static void write_idx(const char *name, int gz, int ndim, const uint32_t *dims, const unsigned char *data, size_t n,
                      size_t cut) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  unsigned char hdr[16] = {0, 0, 8, (unsigned char)ndim};
  for (int i = 0; i < ndim; i++) put_be32(hdr + 4 + 4 * i, dims[i]);
  size_t hn = 4 + 4 * (size_t)ndim;
  size_t total = hn + n - cut;
  unsigned char *buf = malloc(hn + n);
  memcpy(buf, hdr, hn);
  memcpy(buf + hn, data, n);
  if (gz) {
    gzFile f = gzopen(path, "wb");
    gzwrite(f, buf, (unsigned)total);
    gzclose(f);
  } else {
    FILE *f = fopen(path, "wb");
    fwrite(buf, 1, total, f);
    fclose(f);
  }
  free(buf);
}

static void test_idx(void) {
  unsigned char img[5 * 28 * 28], lab[5] = {0, 9, 3, 3, 7};
  for (size_t i = 0; i < sizeof img; i++) img[i] = (unsigned char)(i * 7);
  uint32_t di[3] = {5, 28, 28}, dl[1] = {5};
  write_idx("train-images-idx3-ubyte.gz", 1, 3, di, img, sizeof img, 0);
  write_idx("train-labels-idx1-ubyte.gz", 1, 1, dl, lab, 5, 0);
  gc_dataset d;
  CHECK_OK(gc_data_fashion_mnist(&d, dir, 1));
  CHECK(d.n == 5 && d.c == 1 && d.h == 28 && d.w == 28 && d.classes == 10);
  CHECK(d.labels[1] == 9 && d.images[100] == img[100]);
  gc_data_free(&d);
  /* plain (not gzip'ed) files are read the same way */
  char ip[256], lp[256];
  write_idx("plain-images", 0, 3, di, img, sizeof img, 0);
  write_idx("plain-labels", 0, 1, dl, lab, 5, 0);
  snprintf(ip, sizeof ip, "%s/plain-images", dir);
  snprintf(lp, sizeof lp, "%s/plain-labels", dir);
  CHECK_OK(gc_data_idx(&d, ip, lp));
  CHECK(d.n == 5 && d.images[3000] == img[3000]);
  gc_data_free(&d);
  /* truncated data */
  write_idx("trunc-images", 1, 3, di, img, sizeof img, 100);
  snprintf(ip, sizeof ip, "%s/trunc-images", dir);
  CHECK_STATUS(gc_data_idx(&d, ip, lp), GC_ERR_FORMAT);
  CHECK(strstr(gc_last_error(), "truncated") != NULL);
  /* wrong magic (a labels file given as images) */
  CHECK_STATUS(gc_data_idx(&d, lp, lp), GC_ERR_FORMAT);
  /* counts that disagree */
  uint32_t dl4[1] = {4};
  write_idx("four-labels", 1, 1, dl4, lab, 4, 0);
  snprintf(ip, sizeof ip, "%s/plain-images", dir);
  snprintf(lp, sizeof lp, "%s/four-labels", dir);
  CHECK_STATUS(gc_data_idx(&d, ip, lp), GC_ERR_FORMAT);
  CHECK(strstr(gc_last_error(), "5 images but") != NULL);
  /* missing: the message says how to get the data */
  CHECK_STATUS(gc_data_fashion_mnist(&d, "/nonexistent", 0), GC_ERR_IO);
  CHECK(strstr(gc_last_error(), "dataset-fashion-mnist") != NULL);
  /* garbage that is not gzip: read as plain bytes, rejected by the magic */
  snprintf(ip, sizeof ip, "%s/garbage", dir);
  FILE *f = fopen(ip, "wb");
  fputs("this is not an idx file at all", f);
  fclose(f);
  CHECK_STATUS(gc_data_idx(&d, ip, ip), GC_ERR_FORMAT);
}

static void test_cifar(void) {
  unsigned char rec[3074];
  char path[256];
  for (int b = 1; b <= 5; b++) {
    snprintf(path, sizeof path, "%s/data_batch_%d.bin", dir, b);
    FILE *f = fopen(path, "wb");
    for (int i = 0; i < 3; i++) {
      rec[0] = (unsigned char)((b + i) % 10);
      memset(rec + 1, b * 10 + i, 3072);
      fwrite(rec, 1, 3073, f);
    }
    fclose(f);
  }
  gc_dataset d;
  CHECK_OK(gc_data_cifar(&d, dir, 0, 1));
  CHECK(d.n == 15 && d.c == 3 && d.classes == 10 && d.labels[4] == 3 && d.images[4 * 3072 + 5] == 21);
  gc_data_free(&d);
  snprintf(path, sizeof path, "%s/test_batch.bin", dir);
  FILE *f = fopen(path, "wb");
  fwrite(rec, 1, 3000, f); /* not a whole record */
  fclose(f);
  CHECK_STATUS(gc_data_cifar(&d, dir, 0, 0), GC_ERR_FORMAT);
  CHECK(strstr(gc_last_error(), "whole number") != NULL);
  snprintf(path, sizeof path, "%s/train.bin", dir);
  f = fopen(path, "wb");
  rec[0] = 3, rec[1] = 250; /* fine label out of range */
  fwrite(rec, 1, 3074, f);
  fclose(f);
  CHECK_STATUS(gc_data_cifar(&d, dir, 1, 1), GC_ERR_FORMAT);
  CHECK_STATUS(gc_data_cifar(&d, "/nonexistent", 1, 1), GC_ERR_IO);
}

static void test_loader(void) {
  gc_dataset d;
  CHECK_OK(gc_data_synthetic(&d, 50, 3, 8, 8, 5, 11));
  gc_augment aug = {2, 1, 1};
  gc_loader *a = NULL, *b = NULL;
  CHECK_OK(gc_loader_create(&d, 16, 1, &aug, 7, 2, &a));
  CHECK_OK(gc_loader_create(&d, 16, 1, &aug, 7, 3, &b));
  CHECK(gc_loader_batches(a) == 4);
  size_t per = 3 * 8 * 8;
  float *first = malloc(16 * per * sizeof(float));
  for (long e = 0; e < 2; e++) {
    CHECK_OK(gc_loader_start_epoch(a, e));
    CHECK_OK(gc_loader_start_epoch(b, e));
    const float *ia, *la, *ib, *lb;
    size_t ra, rb, total = 0, nb = 0;
    while (gc_loader_next(a, &ia, &la, &ra)) {
      CHECK(gc_loader_next(b, &ib, &lb, &rb) == 1);
      CHECK(ra == rb && memcmp(ia, ib, 16 * per * sizeof(float)) == 0 && memcmp(la, lb, 16 * sizeof(float)) == 0);
      if (nb == 0 && e == 0) memcpy(first, ia, 16 * per * sizeof(float));
      if (nb == 0 && e == 1) CHECK(memcmp(first, ia, 16 * per * sizeof(float)) != 0); /* a new permutation */
      total += ra;
      nb++;
    }
    CHECK(nb == 4 && total == 50); /* the last batch has 2 real images and 14 of padding */
  }
  /* restarting an epoch gives the same batches (what a resumed run relies on) */
  CHECK_OK(gc_loader_start_epoch(a, 0));
  const float *ia, *la;
  size_t ra;
  CHECK(gc_loader_next(a, &ia, &la, &ra) == 1);
  CHECK(memcmp(first, ia, 16 * per * sizeof(float)) == 0);
  gc_loader_free(a);
  gc_loader_free(b);
  /* without shuffling or augmentation: the set's order, normalised */
  gc_augment none = {0, 0, 1};
  CHECK_OK(gc_loader_create(&d, 50, 0, &none, 1, 2, &a));
  CHECK_OK(gc_loader_start_epoch(a, 0));
  CHECK(gc_loader_next(a, &ia, &la, &ra) == 1);
  CHECK(ra == 50 && la[7] == (float)d.labels[7]);
  CHECK(fabsf(ia[per * 7 + 5] - (d.images[per * 7 + 5] / 255.0f - 0.5f) / 0.25f) < 1e-6f);
  CHECK(gc_loader_next(a, &ia, &la, &ra) == 0);
  gc_loader_free(a);
  /* task-defined targets: target_dim floats per image, carried with the image through the shuffle */
  const size_t td = 5;
  d.targets = malloc(d.n * td * sizeof(float));
  d.target_dim = td;
  for (size_t i = 0; i < d.n * td; i++) d.targets[i] = (float)i;
  CHECK_OK(gc_loader_create(&d, 16, 1, &none, 3, 2, &a));
  CHECK(gc_loader_target_dim(a) == td);
  CHECK_OK(gc_loader_start_epoch(a, 1));
  int carried = 1;
  while (gc_loader_next(a, &ia, &la, &ra) == 1)
    for (size_t k = 0; k < 16; k++) {
      /* the image's first pixel identifies it (synthetic images differ); its targets must be its own */
      size_t idx = (size_t)la[k * td] / td;
      carried &= la[k * td] == (float)(idx * td) && la[k * td + td - 1] == (float)(idx * td + td - 1);
      carried &= fabsf(ia[k * per] - (d.images[idx * per] / 255.0f - 0.5f) / 0.25f) < 1e-6f;
    }
  CHECK(carried);
  gc_loader_free(a);
  /* crops and flips would move what the targets describe (boxes): refused for such sets */
  a = NULL;
  CHECK_STATUS(gc_loader_create(&d, 16, 1, &aug, 3, 2, &a), GC_ERR_ARG);
  CHECK(strstr(gc_last_error(), "would not transform") != NULL && a == NULL);
  gc_data_free(&d);
  free(first);
  CHECK_STATUS(gc_data_synthetic(&d, 0, 3, 8, 8, 5, 1), GC_ERR_ARG);
}

static void write_jpeg(const char *path, int w, int h, int shade) {
  FILE *f = fopen(path, "wb");
  struct jpeg_compress_struct ci;
  struct jpeg_error_mgr em;
  ci.err = jpeg_std_error(&em);
  jpeg_create_compress(&ci);
  jpeg_stdio_dest(&ci, f);
  ci.image_width = (JDIMENSION)w;
  ci.image_height = (JDIMENSION)h;
  ci.input_components = 3;
  ci.in_color_space = JCS_RGB;
  jpeg_set_defaults(&ci);
  jpeg_start_compress(&ci, TRUE);
  unsigned char *row = malloc((size_t)w * 3);
  while (ci.next_scanline < ci.image_height) {
    for (int x = 0; x < w; x++) row[3 * x] = (unsigned char)shade, row[3 * x + 1] = (unsigned char)(x * 4), row[3 * x + 2] = 90;
    JSAMPROW r = row;
    jpeg_write_scanlines(&ci, &r, 1);
  }
  jpeg_finish_compress(&ci);
  jpeg_destroy_compress(&ci);
  free(row);
  fclose(f);
}

static void test_folder(void) {
  char root[256], p[512];
  snprintf(root, sizeof root, "%s/imgs", dir);
  mkdir(root, 0755);
  const char *cls[2] = {"cat", "ant"}; /* sorted: ant = 0, cat = 1 */
  for (int c = 0; c < 2; c++) {
    snprintf(p, sizeof p, "%s/%s", root, cls[c]);
    mkdir(p, 0755);
    for (int i = 0; i < 3; i++) {
      snprintf(p, sizeof p, "%s/%s/%d.jpg", root, cls[c], i);
      write_jpeg(p, 40 + 10 * i, 30 + 7 * i, c ? 250 : 10);
    }
  }
  snprintf(p, sizeof p, "%s/cat/readme.txt", root); /* not an image: ignored */
  FILE *f = fopen(p, "w");
  fputs("x", f);
  fclose(f);
  gc_dataset d;
  CHECK_OK(gc_data_folder(&d, root, 16, 1));
  CHECK(d.n == 6 && d.classes == 2 && d.c == 3 && d.h == 16 && d.labels[0] == 0 && d.labels[5] == 1);
  gc_loader *l = NULL;
  CHECK_OK(gc_loader_create(&d, 6, 0, NULL, 3, 2, &l));
  CHECK_OK(gc_loader_start_epoch(l, 0));
  const float *im, *lb;
  size_t real;
  CHECK(gc_loader_next(l, &im, &lb, &real) == 1 && real == 6);
  /* the red channel tells the class apart: ant (written second, label 0) bright, cat (label 1) dark */
  float r0 = im[0 * 768 + 8 * 16 + 8], r5 = im[5 * 768 + 8 * 16 + 8];
  if (!(r0 > 1.0f && r5 < 0.0f)) fprintf(stderr, "  red channel: ant %g, cat %g\n", r0, r5);
  CHECK(r0 > 1.0f && r5 < 0.0f && lb[5] == 1.0f);
  gc_loader_free(l);
  gc_data_free(&d);
  /* evaluation transform: resize and centre crop */
  CHECK_OK(gc_data_folder(&d, root, 16, 0));
  float out[3 * 16 * 16];
  char msg[256];
  CHECK(gc_data_folder_image(&d, 3, 1, 2, out, msg, sizeof msg) == 0);
  /* a broken JPEG is reported with its name */
  snprintf(p, sizeof p, "%s/ant/0.jpg", root);
  f = fopen(p, "wb");
  fputs("\xff\xd8 broken", f);
  fclose(f);
  CHECK(gc_data_folder_image(&d, 0, 1, 2, out, msg, sizeof msg) != 0 && strstr(msg, "ant/0.jpg") != NULL);
  CHECK_OK(gc_loader_create(&d, 6, 0, NULL, 3, 2, &l));
  CHECK_OK(gc_loader_start_epoch(l, 0));
  CHECK(gc_loader_next(l, &im, &lb, &real) == -1);
  CHECK(strstr(gc_last_error(), "not a readable JPEG") != NULL);
  gc_loader_free(l);
  gc_data_free(&d);
  CHECK_STATUS(gc_data_folder(&d, "/nonexistent", 16, 1), GC_ERR_IO);
  snprintf(p, sizeof p, "%s/ant", root);
  CHECK_STATUS(gc_data_folder(&d, p, 16, 1), GC_ERR_FORMAT); /* no class folders */
  /* a JPEG whose header claims 20000 x 20000 pixels: refused with the size, not decoded */
  snprintf(p, sizeof p, "%s/ant/0.jpg", root);
  write_jpeg(p, 16, 16, 100);
  f = fopen(p, "r+b");
  unsigned char buf[2048];
  size_t n = fread(buf, 1, sizeof buf, f);
  for (size_t i = 0; i + 8 < n; i++)
    if (buf[i] == 0xFF && buf[i + 1] == 0xC0) { /* SOF0: length, precision, height, width */
      buf[i + 5] = 0x4E, buf[i + 6] = 0x20, buf[i + 7] = 0x4E, buf[i + 8] = 0x20;
      break;
    }
  fseek(f, 0, SEEK_SET);
  fwrite(buf, 1, n, f);
  fclose(f);
  CHECK_OK(gc_data_folder(&d, root, 16, 0));
  CHECK(gc_data_folder_image(&d, 0, 1, 2, out, msg, sizeof msg) != 0);
  if (!strstr(msg, "20000x20000 pixels")) fprintf(stderr, "  oversized JPEG: %s\n", msg);
  CHECK(strstr(msg, "20000x20000 pixels") != NULL);
  gc_data_free(&d);
  /* a named pipe with an image's name in a class folder: refused when the folder is read */
  snprintf(p, sizeof p, "%s/ant/pipe.jpg", root);
  CHECK(mkfifo(p, 0600) == 0);
  CHECK_STATUS(gc_data_folder(&d, root, 16, 1), GC_ERR_IO);
  CHECK(strstr(gc_last_error(), "pipe.jpg: a named pipe") != NULL);
  unlink(p);
  /* ROOT/val must have ROOT/train's class folders by name (labels are positions in the sorted list), and
   * a class folder without images is refused (as torchvision's ImageFolder) */
  char split[400];
  const char *tree[3][2] = {{"train", "ant"}, {"train", "bee"}, {"val", "ant"}};
  for (int i = 0; i < 3; i++) {
    snprintf(split, sizeof split, "%.300s/iv/%s/%s", dir, tree[i][0], tree[i][1]);
    snprintf(p, sizeof p, "%s/iv", dir), mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/iv/%s", dir, tree[i][0]), mkdir(p, 0755);
    mkdir(split, 0755);
    snprintf(p, sizeof p, "%s/0.jpg", split);
    write_jpeg(p, 20, 20, 50);
  }
  snprintf(p, sizeof p, "%s/iv/val/bzz", dir);
  mkdir(p, 0755);
  snprintf(p, sizeof p, "%s/iv/val/bzz/0.jpg", dir);
  write_jpeg(p, 20, 20, 60);
  snprintf(p, sizeof p, "%s/iv/val", dir);
  CHECK_STATUS(gc_data_folder(&d, p, 16, 0), GC_ERR_FORMAT);
  CHECK(strstr(gc_last_error(), "'bee'") != NULL && strstr(gc_last_error(), "'bzz'") != NULL);
  snprintf(p, sizeof p, "%s/iv/val/bzz", dir);
  char p2[512];
  snprintf(p2, sizeof p2, "%s/iv/val/bee", dir);
  CHECK(rename(p, p2) == 0);
  snprintf(p, sizeof p, "%s/iv/val", dir);
  CHECK_OK(gc_data_folder(&d, p, 16, 0));
  gc_data_free(&d);
  snprintf(p, sizeof p, "%s/iv/train/cow", dir); /* an empty class */
  mkdir(p, 0755);
  snprintf(p, sizeof p, "%s/iv/train", dir);
  CHECK_STATUS(gc_data_folder(&d, p, 16, 1), GC_ERR_FORMAT);
  CHECK(strstr(gc_last_error(), "'cow' holds no") != NULL);
}

/* int64 labels as numpy writes them */
static void write_labels_npy(const char *path, const long long *v, size_t n) {
  char dict[128];
  int len = snprintf(dict, sizeof dict, "{'descr': '<i8', 'fortran_order': False, 'shape': (%zu,), }", n);
  size_t pad = (64 - (10 + (size_t)len + 1) % 64) % 64, hl = (size_t)len + pad + 1;
  FILE *f = fopen(path, "wb");
  unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)hl, (unsigned char)(hl >> 8)};
  fwrite(pre, 1, 10, f);
  fwrite(dict, 1, (size_t)len, f);
  for (size_t i = 0; i < pad; i++) fputc(' ', f);
  fputc('\n', f);
  fwrite(v, 8, n, f);
  fclose(f);
}

static void test_npy(void) {
  char p[256], q[256];
  snprintf(p, sizeof p, "%s/x.npy", dir);
  float x[2 * 3 * 4 * 5];
  for (int i = 0; i < 120; i++) x[i] = (float)i * 0.5f - 3.0f;
  CHECK_OK(gc_npy_write_f32(p, 4, (size_t[]){2, 3, 4, 5}, x));
  gc_npy a;
  CHECK_OK(gc_npy_read(p, &a));
  CHECK(!strcmp(a.descr, "<f4") && a.ndim == 4 && a.shape[3] == 5 && a.count == 120);
  CHECK(memcmp(a.data, x, sizeof x) == 0);
  gc_npy_free(&a);
  snprintf(q, sizeof q, "%s/y.npy", dir);
  long long y[3] = {0, 9, 4};
  write_labels_npy(q, y, 3);
  CHECK_OK(gc_npy_read(q, &a));
  float lab[3];
  CHECK_OK(gc_npy_labels(&a, 10, lab, q));
  CHECK(lab[1] == 9.0f);
  CHECK_STATUS(gc_npy_labels(&a, 5, lab, q), GC_ERR_FORMAT); /* 9 is not a class of 5 */
  gc_npy_free(&a);
  /* truncated data, bad magic, unsupported dtype */
  CHECK(truncate(p, 200) == 0);
  CHECK_STATUS(gc_npy_read(p, &a), GC_ERR_FORMAT);
  CHECK(strstr(gc_last_error(), "truncated") != NULL);
  FILE *f = fopen(p, "wb");
  fputs("PK\003\004 not npy", f);
  fclose(f);
  CHECK_STATUS(gc_npy_read(p, &a), GC_ERR_FORMAT);
  CHECK_STATUS(gc_npy_read("/nonexistent.npy", &a), GC_ERR_IO);
  /* headers that are not the Python literal numpy writes; extra data; labels of another rank */
  static const struct {
    const char *dict;
    size_t data;
    const char *msg;
  } bad[] = {
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 24, NULL},           /* valid */
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}", 24, NULL},             /* valid, no comma */
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", 24, NULL},             /* valid 1-tuple */
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (6), }", 24, "not a .npy dictionary"}, /* (6) is an int */
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'shape': (6,), }", 24, "not a .npy dictionary"},
      {"{'descr': '<f4', 'fortran_order': Nope, 'shape': (2, 3), }", 24, "not a .npy dictionary"},
      {"{'descr': '<f4', 'shape': (2, 3), }", 24, "not a .npy dictionary"},                /* a key missing */
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }", 24, "not a .npy dictionary"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } junk", 24, "not a .npy dictionary"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'extra': 1, }", 24, "not a .npy dictionary"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 28, "extra bytes after the data"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", 24, "not a .npy dictionary"},
      {"{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 24, "Fortran-ordered"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    size_t len = strlen(bad[i].dict), pad = (64 - (10 + len + 1) % 64) % 64, hl = len + pad + 1;
    f = fopen(p, "wb");
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)hl, (unsigned char)(hl >> 8)};
    fwrite(pre, 1, 10, f);
    fwrite(bad[i].dict, 1, len, f);
    for (size_t k = 0; k < pad; k++) fputc(' ', f);
    fputc('\n', f);
    for (size_t k = 0; k < bad[i].data; k++) fputc(0, f);
    fclose(f);
    int st = gc_npy_read(p, &a);
    if (bad[i].msg) {
      if (st != GC_ERR_FORMAT || !strstr(gc_last_error(), bad[i].msg))
        fprintf(stderr, "  %s: got '%s'\n", bad[i].dict, gc_last_error());
      CHECK(st == GC_ERR_FORMAT && strstr(gc_last_error(), bad[i].msg));
    } else {
      CHECK(st == GC_OK && a.count == 6);
      gc_npy_free(&a);
    }
  }
  /* labels of rank 2 are refused naming the file */
  long long y2[4] = {0, 1, 2, 3};
  write_labels_npy(q, y2, 4);
  CHECK_OK(gc_npy_read(q, &a));
  a.ndim = 2, a.shape[0] = 2, a.shape[1] = 2;
  CHECK_STATUS(gc_npy_labels(&a, 10, lab, q), GC_ERR_FORMAT);
  CHECK(strstr(gc_last_error(), "shape (N,) or (N, 1)") != NULL);
  a.shape[0] = 4, a.shape[1] = 1; /* (N, 1), as many scripts save them */
  float lab4[4];
  CHECK_OK(gc_npy_labels(&a, 10, lab4, q));
  CHECK(lab4[3] == 3.0f);
  gc_npy_free(&a);
  /* a named pipe or a directory given as a file: refused at once, never waited on */
  char fifo[300];
  snprintf(fifo, sizeof fifo, "%s/pipe.npy", dir);
  CHECK(mkfifo(fifo, 0600) == 0);
  CHECK_STATUS(gc_npy_read(fifo, &a), GC_ERR_IO);
  CHECK(strstr(gc_last_error(), "a named pipe, not a regular file") != NULL);
  CHECK_STATUS(gc_npy_read(dir, &a), GC_ERR_IO);
  CHECK(strstr(gc_last_error(), "a directory") != NULL);
  gc_dataset d;
  CHECK_STATUS(gc_data_npy(&d, fifo, q), GC_ERR_IO);
  /* images with a zero dimension: refused naming the file and the shape */
  CHECK_OK(gc_npy_write_f32(p, 4, (size_t[]){2, 0, 4, 5}, x));
  CHECK_STATUS(gc_data_npy(&d, p, q), GC_ERR_FORMAT);
  CHECK(strstr(gc_last_error(), "x.npy: shape (2, 0, 4, 5)") != NULL);
  unlink(fifo);
}

/* fixtures for the command-line tests: x.npy (float32 4x3x16x16) and y.npy (int64 4) in `out` */
static int write_fixtures(const char *out) {
  mkdir(out, 0755);
  float x[4 * 3 * 16 * 16];
  unsigned long long s = 5;
  for (size_t i = 0; i < sizeof x / sizeof *x; i++) x[i] = gc_test_rand(&s);
  char p[512];
  snprintf(p, sizeof p, "%s/x.npy", out);
  if (gc_npy_write_f32(p, 4, (size_t[]){4, 3, 16, 16}, x)) return 1;
  long long y[4] = {1, 7, 3, 3};
  snprintf(p, sizeof p, "%s/y.npy", out);
  write_labels_npy(p, y, 4);
  /* an image folder: out/imgs/{train,val}/{a,b}/<n>.jpg */
  const char *split[2] = {"train", "val"}, *cls[2] = {"a", "b"};
  snprintf(p, sizeof p, "%s/imgs", out);
  mkdir(p, 0755);
  for (int sp = 0; sp < 2; sp++) {
    snprintf(p, sizeof p, "%s/imgs/%s", out, split[sp]);
    mkdir(p, 0755);
    for (int c = 0; c < 2; c++) {
      snprintf(p, sizeof p, "%s/imgs/%s/%s", out, split[sp], cls[c]);
      mkdir(p, 0755);
      for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/imgs/%s/%s/%d.jpg", out, split[sp], cls[c], i);
        write_jpeg(p, 24 + 3 * i, 20 + 2 * i, c ? 230 : 20);
      }
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 2 && !strcmp(argv[1], "--fixtures")) return write_fixtures(argv[2]);
  snprintf(dir, sizeof dir, "/tmp/gafcl-data-XXXXXX");
  if (!mkdtemp(dir)) return 1;
  test_idx();
  test_cifar();
  test_loader();
  test_npy();
  test_folder();
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  return gc_test_summary("test_data");
}
