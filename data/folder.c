/* ImageNet-style folders: ROOT/<class>/<image>.jpg, classes in sorted order (as torchvision's
 * ImageFolder). Images are decoded with libjpeg(-turbo) by the loader's thread when a batch is
 * assembled, so a set larger than memory can be used. Training: random-resized crop (area 10-100%,
 * aspect 0.8-1.25) + flip; evaluation: resize the short side to size*8/7 (256 for 224), centre crop. */
#include "gc_data.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <jpeglib.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "gc_error.h"
#include "gc_io.h"
#include "gc_jpeg.h"

static int cmpstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int is_jpeg_name(const char *n) {
  const char *dot = strrchr(n, '.');
  return dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"));
}

/* sorted names of the entries of `dir` that are directories (want_dirs) or JPEG files */
static int list_dir(const char *dir, int want_dirs, char ***out, size_t *n) {
  *out = NULL;
  *n = 0;
  DIR *d = opendir(dir);
  if (!d) GC_FAIL(GC_ERR_IO, "cannot open folder %s: %s", dir, strerror(errno));
  size_t cap = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    char p[4400]; /* a folder of up to 4095 bytes and a 255-byte name */
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    struct stat sb;
    if (stat(p, &sb) != 0) continue;
    if (!want_dirs && is_jpeg_name(e->d_name) && !S_ISREG(sb.st_mode)) { /* it would block or never decode */
      for (size_t i = 0; i < *n; i++) free((*out)[i]);
      free(*out);
      *out = NULL;
      *n = 0;
      closedir(d);
      GC_FAIL(GC_ERR_IO, "%s: %s, not a regular file", p, S_ISFIFO(sb.st_mode) ? "a named pipe" : S_ISDIR(sb.st_mode) ? "a directory" : "a special file");
    }
    if (want_dirs ? !S_ISDIR(sb.st_mode) : !(S_ISREG(sb.st_mode) && is_jpeg_name(e->d_name))) continue;
    if (*n == cap) {
      cap = cap ? 2 * cap : 64;
      char **g = realloc(*out, cap * sizeof *g);
      if (!g) break;
      *out = g;
    }
    (*out)[(*n)++] = strdup(e->d_name);
  }
  closedir(d);
  if (*n) qsort(*out, *n, sizeof **out, cmpstr);
  return GC_OK;
}

/* A validation folder ROOT/../val must have the class folders of ROOT/../train, by name: labels are
 * positions in the sorted list, so another name in the same place would silently mean another class. */
static int same_classes_as_train(const char *root, char **classes, size_t nc) {
  int st = 0;
  char tr[4096];
  const char *slash = strrchr(root, '/');
  if (!slash) return GC_OK;
  snprintf(tr, sizeof tr, "%.*s/train", (int)(slash - root), root);
  struct stat sb;
  if (stat(tr, &sb) != 0 || !S_ISDIR(sb.st_mode) || !strcmp(tr, root)) return GC_OK;
  char **tc = NULL;
  size_t nt = 0;
  GC_TRY(list_dir(tr, 1, &tc, &nt));
  for (size_t i = 0; i < nc || i < nt; i++)
    if (i >= nc || i >= nt || strcmp(classes[i], tc[i])) {
      GC_FAIL_GOTO(GC_ERR_FORMAT, "image folders %s and %s: the class folders differ (class %zu is '%s' in one, '%s' in "
                   "the other); labels follow the sorted class names, so both need the same ones", tr, root, i,
                   i < nt ? tc[i] : "(none)", i < nc ? classes[i] : "(none)");
    }
cleanup:
  for (size_t i = 0; i < nt; i++) free(tc[i]);
  free(tc);
  return st;
}

int gc_data_folder(gc_dataset *d, const char *root, int size, int train) {
  int st = 0;
  char **classes = NULL, **files = NULL;
  size_t nc = 0, nf = 0, cap = 0;
  memset(d, 0, sizeof *d);
  if (size < 8) GC_FAIL(GC_ERR_ARG, "image folder %s: output size %d", root, size);
  GC_TRY(list_dir(root, 1, &classes, &nc));
  if (nc < 2) GC_FAIL_GOTO(GC_ERR_FORMAT, "image folder %s: %zu class folders (at least 2 expected: ROOT/<class>/*.jpg)", root, nc);
  if (nc > 65535) GC_FAIL_GOTO(GC_ERR_FORMAT, "image folder %s: %zu classes", root, nc);
  if (!train) GC_TRY(same_classes_as_train(root, classes, nc));
  for (size_t c = 0; c < nc; c++) {
    char cdir[4096];
    snprintf(cdir, sizeof cdir, "%s/%s", root, classes[c]);
    GC_TRY(list_dir(cdir, 0, &files, &nf));
    if (nf == 0) /* as torchvision's ImageFolder: a class without images is an error, not a silent label */
      GC_FAIL_GOTO(GC_ERR_FORMAT, "image folder %s: class folder '%s' holds no .jpg/.jpeg files", root, classes[c]);
    for (size_t i = 0; i < nf; i++) {
      if (d->n == cap) {
        cap = cap ? 2 * cap : 1024;
        char **p = realloc(d->paths, cap * sizeof *p);
        uint16_t *l = realloc(d->labels, cap * sizeof *l);
        if (p) d->paths = p;
        if (l) d->labels = l;
        if (!p || !l) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "file list of %zu", cap);
      }
      size_t len = strlen(cdir) + strlen(files[i]) + 2;
      d->paths[d->n] = malloc(len);
      if (!d->paths[d->n]) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "file names");
      snprintf(d->paths[d->n], len, "%s/%s", cdir, files[i]);
      d->labels[d->n++] = (uint16_t)c;
    }
    for (size_t i = 0; i < nf; i++) free(files[i]);
    free(files);
    files = NULL;
    nf = 0;
  }
  if (d->n == 0) GC_FAIL_GOTO(GC_ERR_FORMAT, "image folder %s: no .jpg/.jpeg files in its class folders", root);
  d->c = 3;
  d->h = d->w = size;
  d->classes = (int)nc;
  d->decode_train = train;
  static const float m[3] = {0.485f, 0.456f, 0.406f}, s[3] = {0.229f, 0.224f, 0.225f}; /* ImageNet */
  memcpy(d->mean, m, sizeof m);
  memcpy(d->std, s, sizeof s);
  snprintf(d->name, sizeof d->name, "folder-%s", train ? "train" : "val");
cleanup:
  for (size_t i = 0; i < nc; i++) free(classes[i]);
  free(classes);
  for (size_t i = 0; i < nf; i++) free(files[i]);
  free(files);
  if (st) gc_data_free(d);
  return st;
}

struct err_mgr {
  struct jpeg_error_mgr pub;
  jmp_buf jb;
  char msg[JMSG_LENGTH_MAX];
};

static void on_error(j_common_ptr ci) {
  struct err_mgr *e = (struct err_mgr *)ci->err;
  (*ci->err->format_message)(ci, e->msg);
  longjmp(e->jb, 1);
}

/* libjpeg's warnings (a truncated file is decoded as grey) are errors here; trace messages are dropped */
static void on_message(j_common_ptr ci, int level) {
  if (level < 0) on_error(ci);
}

/* decode to RGB (w, h, 3 bytes per pixel); NULL with msg on failure */
static unsigned char *decode(const char *path, int *w, int *h, char *msg, size_t cap) {
  FILE *f = NULL;
  size_t fsize;
  if (gc_file_fopen(path, "image", &f, &fsize) != 0) {
    snprintf(msg, cap, "%s", gc_last_error());
    return NULL;
  }
  struct jpeg_decompress_struct ci;
  struct err_mgr em;
  unsigned char *volatile img = NULL;
  em.msg[0] = '\0';
  ci.err = jpeg_std_error(&em.pub);
  em.pub.error_exit = on_error;
  em.pub.emit_message = on_message;
  if (setjmp(em.jb)) {
    snprintf(msg, cap, "%s: not a readable JPEG (%s)", path, em.msg);
    jpeg_destroy_decompress(&ci);
    fclose(f);
    free(img);
    return NULL;
  }
  jpeg_create_decompress(&ci);
  jpeg_stdio_src(&ci, f);
  jpeg_read_header(&ci, TRUE);
  ci.out_color_space = JCS_RGB;
  jpeg_start_decompress(&ci);
  if (ci.output_width == 0 || ci.output_height == 0 || ci.output_width > 16384 || ci.output_height > 16384 ||
      (size_t)ci.output_width * ci.output_height > ((size_t)64 << 20)) {
    snprintf(em.msg, sizeof em.msg, "%ux%u pixels: more than 16384 on a side or 64 megapixels", ci.output_width,
             ci.output_height);
    longjmp(em.jb, 1);
  }
  img = malloc((size_t)ci.output_width * ci.output_height * 3);
  if (!img) {
    snprintf(em.msg, sizeof em.msg, "out of memory for %ux%u pixels", ci.output_width, ci.output_height);
    longjmp(em.jb, 1);
  }
  while (ci.output_scanline < ci.output_height) {
    JSAMPROW row = img + (size_t)ci.output_scanline * ci.output_width * 3;
    jpeg_read_scanlines(&ci, &row, 1);
  }
  *w = (int)ci.output_width;
  *h = (int)ci.output_height;
  jpeg_finish_decompress(&ci);
  jpeg_destroy_decompress(&ci);
  fclose(f);
  return img;
}

int gc_jpeg_decode(const char *path, uint8_t **rgb, int *w, int *h, char *msg, size_t cap) {
  *rgb = decode(path, w, h, msg, cap);
  return *rgb ? 0 : -1;
}

/* bilinear sample of channel c at (x, y) in source pixels */
static float sample(const unsigned char *img, int w, int h, int c, float x, float y) {
  if (x < 0) x = 0;
  if (y < 0) y = 0;
  if (x > w - 1) x = (float)(w - 1);
  if (y > h - 1) y = (float)(h - 1);
  int x0 = (int)x, y0 = (int)y, x1 = x0 + 1 < w ? x0 + 1 : x0, y1 = y0 + 1 < h ? y0 + 1 : y0;
  float fx = x - (float)x0, fy = y - (float)y0;
  float a = img[((size_t)y0 * w + x0) * 3 + c], b = img[((size_t)y0 * w + x1) * 3 + c];
  float cc = img[((size_t)y1 * w + x0) * 3 + c], d = img[((size_t)y1 * w + x1) * 3 + c];
  return (a * (1 - fx) + b * fx) * (1 - fy) + (cc * (1 - fx) + d * fx) * fy;
}

int gc_data_folder_image(const gc_dataset *d, size_t idx, uint64_t r1, uint64_t r2, float *out, char *msg, size_t cap) {
  int w, h, S = d->w;
  uint8_t *img;
  if (gc_jpeg_decode(d->paths[idx], &img, &w, &h, msg, cap) != 0) return -1;
  float x0, y0, cw, ch;
  int flip = 0;
  if (d->decode_train) {
    /* random-resized crop: area in [0.1, 1] of the image, aspect in [0.8, 1.25] (log-uniform); ten tries
     * then the whole image, as torchvision */
    double area = (double)w * h;
    cw = (float)w, ch = (float)h, x0 = 0, y0 = 0;
    for (int t = 0; t < 10; t++) {
      uint64_t z = r1 * 0x9e3779b97f4a7c15ull + (uint64_t)t * 0xbf58476d1ce4e5b9ull;
      z ^= z >> 29;
      double u1 = (double)(z & 0xffffff) / 16777216.0, u2 = (double)((z >> 24) & 0xffffff) / 16777216.0;
      double u3 = (double)((z >> 48) & 0xffff) / 65536.0, u4 = (double)((r2 >> (t * 3)) & 0xffff) / 65536.0;
      double target = area * (0.1 + 0.9 * u1), ar = exp(log(0.8) + (log(1.25) - log(0.8)) * u2);
      double tw = sqrt(target * ar), th = sqrt(target / ar);
      if (tw <= w && th <= h) {
        cw = (float)tw, ch = (float)th;
        x0 = (float)((w - tw) * u3), y0 = (float)((h - th) * u4);
        break;
      }
    }
    flip = (int)(r2 >> 63);
  } else {
    /* resize the short side to S*8/7, centre crop S */
    float scale = (float)(S * 8.0 / 7.0) / (float)(w < h ? w : h);
    cw = ch = (float)S / scale;
    x0 = ((float)w - cw) / 2, y0 = ((float)h - ch) / 2;
  }
  for (int c = 0; c < 3; c++)
    for (int y = 0; y < S; y++)
      for (int x = 0; x < S; x++) {
        float sx = x0 + ((float)(flip ? S - 1 - x : x) + 0.5f) * cw / (float)S - 0.5f;
        float sy = y0 + ((float)y + 0.5f) * ch / (float)S - 0.5f;
        float v = sample(img, w, h, c, sx, sy) / 255.0f;
        out[((size_t)c * S + y) * S + x] = (v - d->mean[c]) / d->std[c];
      }
  free(img);
  return 0;
}
