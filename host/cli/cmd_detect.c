/* Detection in the program: SSD's recipe for the training commands, gafcl detect (JSON lines of
 * detections for JPEG images), gafcl make-shapes (a generated set in the Pascal VOC layout), and the
 * detection targets of gafcl eval / steps (.npy) and of the benchmarks. */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "gc_checkpoint.h"
#include "gc_detect.h"
#include "gc_npy.h"

int cli_is_detection(const gafcl_cfg *c) {
  if (!strcmp(c->data, "voc")) return 1;
  for (int i = 0; gc_net_arch(i); i++)
    if (!strcmp(gc_net_arch(i)->name, c->net)) return (gc_net_arch(i)->forms & GC_FORM_DETECT) != 0;
  return 0;
}

/* The paper's SSD300 schedule on Pascal VOC (REFERENCE section 2): 120,000 iterations at batch 32,
 * SGD-momentum 0.9, lr 1e-3, weight decay 5e-4, cosine annealed every iteration after a 500-iteration
 * warm-up; 07+12 trainval, 07 test. Every value can be overridden by a flag. */
void cmd_detection_recipe(gafcl_cfg *c) {
  snprintf(c->data, sizeof c->data, "voc");
  int det = 0;
  for (int i = 0; gc_net_arch(i); i++)
    if (!strcmp(gc_net_arch(i)->name, c->net)) det = (gc_net_arch(i)->forms & GC_FORM_DETECT) != 0;
  if (!det) snprintf(c->net, sizeof c->net, "ssd300");
  c->iterations = 120000;
  c->epochs = 1; /* replaced by the iterations */
  c->batch = 32;
  c->lr = 1e-3;
  snprintf(c->optimizer, sizeof c->optimizer, "sgdm");
  c->momentum = 0.9;
  c->weight_decay = 5e-4;
  c->no_wd_bn_bias = 0;
  snprintf(c->schedule, sizeof c->schedule, "cosine");
  c->per_iteration = 1;
  c->warmup_iters = 500;
  snprintf(c->gaf_pos, sizeof c->gaf_pos, "momentum");
}

void cmd_detect_defaults(gafcl_cfg *c) { snprintf(c->net, sizeof c->net, "ssd300"); }

/* ---- gafcl make-shapes ---- */

int cmd_make_shapes(gafcl_cfg *c) {
  if (!c->out[0])
    return cli_fail(gc_error_set(GC_ERR_ARG, __FILE__, __LINE__, "gafcl make-shapes DIR: the folder to write is missing"),
                    "make-shapes");
  printf("writing %ld images of %ldx%ld (rectangles, ellipses, triangles) to %s, seed %llu\n", c->shape_images,
         c->shape_size, c->shape_size, c->out, c->seed);
  fflush(stdout);
  int st = gc_data_make_shapes(c->out, (size_t)c->shape_images, (int)c->shape_size, c->seed);
  if (st) return cli_fail(st, "make-shapes failed");
  printf("done: %s/VOC2007 (ImageSets/Main/trainval.txt and test.txt), classes in %s/labels.txt\n", c->out, c->out);
  return 0;
}

/* ---- targets from .npy: (N, K, 5) = xmin, ymin, xmax, ymax, label (from 0; -1 padding) ---- */

int cli_det_targets_npy(const char *path, size_t n, int classes, float **out) {
  int st = 0;
  gc_npy t;
  memset(&t, 0, sizeof t);
  *out = NULL;
  GC_TRY(gc_npy_read(path, &t));
  if (strcmp(t.descr, "<f4") || t.ndim != 3 || t.shape[2] != 5)
    GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: targets must be float32 (N, K, 5), not %s with %d dimensions", path, t.descr, t.ndim);
  if (t.shape[0] != n) GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: targets for %zu images, the batch has %zu", path, t.shape[0], n);
  if (t.shape[1] > GC_DET_MAX_BOXES)
    GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: %zu boxes per image; at most %d", path, t.shape[1], GC_DET_MAX_BOXES);
  float *d = calloc(n * GC_DET_TARGET_DIM, sizeof *d);
  if (!d) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "targets");
  for (size_t i = 0; i < n; i++) {
    float *o = d + i * GC_DET_TARGET_DIM;
    o[0] = o[1] = 1.0f;
    for (int k = 0; k < GC_DET_MAX_BOXES; k++) o[2 + k * GC_DET_ROW + 4] = -1.0f;
    for (size_t k = 0; k < t.shape[1]; k++) {
      const float *r = (const float *)t.data + (i * t.shape[1] + k) * 5;
      for (int j = 0; j < 5; j++)
        if (!isfinite(r[j])) {
          free(d);
          GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: image %zu, box %zu: value %d is not finite", path, i, k, j);
        }
      if (r[4] == -1.0f) continue;
      if (r[4] != floorf(r[4]) || r[4] < 0 || r[4] > (float)(classes - 2)) {
        free(d);
        GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: image %zu, box %zu: label %g; the net has object classes 0..%d (-1: padding)",
                     path, i, k, r[4], classes - 2);
      }
      float *row = o + 2 + k * GC_DET_ROW;
      memcpy(row, r, 5 * sizeof *row);
      row[5] = 0.0f;
    }
  }
  *out = d;
cleanup:
  gc_npy_free(&t);
  return st;
}

/* synthetic targets for the benchmarks: 1-3 boxes per image from a fixed generator */
void cli_det_synthetic_targets(float *t, size_t n, int classes) {
  uint64_t r = 0x243f6a8885a308d3ull;
#define NEXT() (r ^= r << 13, r ^= r >> 7, r ^= r << 17, (double)(r >> 11) / 9007199254740992.0)
  for (size_t i = 0; i < n; i++) {
    float *o = t + i * GC_DET_TARGET_DIM;
    memset(o, 0, GC_DET_TARGET_DIM * sizeof *o);
    o[0] = o[1] = 300.0f;
    for (int k = 0; k < GC_DET_MAX_BOXES; k++) o[2 + k * GC_DET_ROW + 4] = -1.0f;
    int nb = 1 + (int)(NEXT() * 3);
    for (int k = 0; k < nb; k++) {
      float *row = o + 2 + k * GC_DET_ROW;
      double w = 0.1 + 0.5 * NEXT(), h = 0.1 + 0.5 * NEXT(), x = NEXT() * (1 - w), y = NEXT() * (1 - h);
      row[0] = (float)x, row[1] = (float)y, row[2] = (float)(x + w), row[3] = (float)(y + h);
      row[4] = (float)((int)(NEXT() * (classes - 1)));
    }
  }
#undef NEXT
}

/* ---- gafcl detect ---- */

static int is_jpeg(const char *n) {
  const char *dot = strrchr(n, '.');
  return dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"));
}
static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* the JPEG files of a file or a folder, sorted */
static int list_images(const char *p, char ***out, size_t *n) {
  struct stat sb;
  *out = NULL, *n = 0;
  if (stat(p, &sb) != 0) GC_FAIL(GC_ERR_IO, "--images %s: %s", p, strerror(errno));
  if (S_ISREG(sb.st_mode)) {
    *out = malloc(sizeof **out);
    if (!*out || !((*out)[0] = strdup(p))) GC_FAIL(GC_ERR_HOST_MEM, "image list");
    *n = 1;
    return GC_OK;
  }
  if (!S_ISDIR(sb.st_mode)) GC_FAIL(GC_ERR_ARG, "--images %s: neither a file nor a folder", p);
  DIR *d = opendir(p);
  if (!d) GC_FAIL(GC_ERR_IO, "--images %s: %s", p, strerror(errno));
  size_t cap = 0;
  struct dirent *e;
  int st = 0;
  while ((e = readdir(d)) != NULL) {
    if (!is_jpeg(e->d_name)) continue;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", p, e->d_name);
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) continue;
    if (*n == cap) {
      cap = cap ? 2 * cap : 64;
      char **q = realloc(*out, cap * sizeof *q);
      if (!q) {
        st = gc_error_set(GC_ERR_HOST_MEM, __FILE__, __LINE__, "image list");
        break;
      }
      *out = q;
    }
    if (!((*out)[*n] = strdup(path))) {
      st = gc_error_set(GC_ERR_HOST_MEM, __FILE__, __LINE__, "image list");
      break;
    }
    (*n)++;
  }
  closedir(d);
  if (!st && *n == 0) st = gc_error_set(GC_ERR_ARG, __FILE__, __LINE__, "--images %s: no .jpg/.jpeg files", p);
  if (!st) qsort(*out, *n, sizeof **out, by_name);
  return st;
}

static void json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
    else if (ch < 0x20) fprintf(f, "\\u%04x", ch);
    else fputc(ch, f);
  }
  fputc('"', f);
}

int cmd_detect(gafcl_cfg *c) {
  int st = 0;
  gc_ctx *ctx = NULL;
  gc_net *net = NULL;
  char **files = NULL, (*names)[32] = NULL;
  size_t nfiles = 0;
  float *x = NULL, *out = NULL, *priors = NULL;
  void *work = NULL;
  gc_detection *dets = NULL;
  int *wh = NULL;
  FILE *f = stdout;
  if (!c->weights[0] || !c->images[0])
    return cli_fail(gc_error_set(GC_ERR_ARG, __FILE__, __LINE__, "gafcl detect needs --weights W.safetensors and "
                                 "--images FILE|DIR"), "detect");
  names = calloc(GC_DET_MAX_CLASSES, sizeof *names);
  int ncls = 0;
  if (!names) return cli_fail(gc_error_set(GC_ERR_HOST_MEM, __FILE__, __LINE__, "class names"), "detect");
  if ((st = gc_data_det_classes(c->data_dir[0] ? c->data_dir : NULL, names, GC_DET_MAX_CLASSES, &ncls)) != 0) goto cleanup;
  GC_TRY(list_images(c->images, &files, &nfiles));
  if ((st = cli_open(c, &ctx)) != 0) goto cleanup;
  gc_net_spec s;
  GC_TRY(gc_net_spec_init(&s, c->net, 0));
  s.classes = ncls + 1;
  size_t B = nfiles < 8 ? nfiles : 8;
  GC_TRY(gc_net_create(ctx, &s, B, &net));
  if ((st = gc_ckpt_load_model(ctx, net, c->weights, 1, NULL)) != 0) {
    gc_error_prefix(st, "--net %s with %d object classes (%s): ", c->net, ncls,
                    c->data_dir[0] ? "the data folder's labels.txt" : "Pascal VOC's; --data-dir DIR takes DIR/labels.txt");
    goto cleanup;
  }
  const gc_ssd_layout *L = gc_net_ssd(net);
  if (!L) GC_FAIL_GOTO(GC_ERR_ARG, "--net %s is not a detection network", c->net);
  const size_t P = L->npriors, C = (size_t)L->classes, per = (size_t)3 * s.in_h * s.in_w, row = P * (4 + C);
  x = calloc(B * per, sizeof *x);
  out = malloc(B * row * sizeof *out);
  priors = malloc(P * 4 * sizeof *priors);
  work = malloc(gc_det_infer_work(P, C));
  dets = malloc((size_t)200 * (C - 1) * sizeof *dets);
  wh = malloc(2 * B * sizeof *wh);
  if (!x || !out || !priors || !work || !dets || !wh) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "detection buffers");
  gc_ssd_priors(L, priors);
  if (c->out[0] && !(f = fopen(c->out, "w"))) GC_FAIL_GOTO(GC_ERR_IO, "cannot write %s: %s", c->out, strerror(errno));
  size_t total = 0;
  for (size_t b0 = 0; b0 < nfiles; b0 += B) {
    size_t nb = nfiles - b0 < B ? nfiles - b0 : B;
    for (size_t i = 0; i < nb; i++) {
      char msg[600];
      if (gc_data_det_file(files[b0 + i], s.in_h, x + i * per, &wh[2 * i], &wh[2 * i + 1], msg, sizeof msg) != 0)
        GC_FAIL_GOTO(GC_ERR_FORMAT, "%s", msg);
    }
    GC_TRY(gc_tensor_write(ctx, gc_net_input(net), x, B * per));
    GC_TRY(gc_net_forward(ctx, net, 0));
    GC_TRY(gc_tensor_read(ctx, gc_net_output(net), out, B * row));
    for (size_t i = 0; i < nb; i++) {
      const float *o = out + i * row;
      size_t nd = gc_det_infer(o, o + 4 * P, priors, P, C, 0.01f, 200, 0.45f, dets, (size_t)200 * (C - 1), work);
      const char *base = strrchr(files[b0 + i], '/');
      base = base ? base + 1 : files[b0 + i];
      char id[256];
      snprintf(id, sizeof id, "%s", base);
      char *dot = strrchr(id, '.');
      if (dot) *dot = '\0';
      const double W = wh[2 * i], H = wh[2 * i + 1];
      for (size_t k = 0; k < nd; k++) {
        fprintf(f, "{\"image\":");
        json_str(f, id);
        fprintf(f, ",\"class\":");
        json_str(f, dets[k].cls < ncls ? names[dets[k].cls] : "?");
        fprintf(f, ",\"class_id\":%d,\"score\":%.6f,\"box\":[%.2f,%.2f,%.2f,%.2f]}\n", dets[k].cls, dets[k].score,
                dets[k].box[0] * W, dets[k].box[1] * H, dets[k].box[2] * W, dets[k].box[3] * H);
      }
      total += nd;
    }
    if (f != stdout) {
      fprintf(stderr, "\r%zu/%zu images", b0 + nb, nfiles);
      fflush(stderr);
    }
  }
  if (fflush(f) != 0) GC_FAIL_GOTO(GC_ERR_IO, "writing %s: %s", c->out[0] ? c->out : "stdout", strerror(errno));
  if (f != stdout) fprintf(stderr, "\n%zu detections of %zu images written to %s\n", total, nfiles, c->out);
cleanup:
  if (f && f != stdout && fclose(f) != 0 && !st)
    st = gc_error_set(GC_ERR_IO, __FILE__, __LINE__, "writing %s: %s", c->out, strerror(errno));
  for (size_t i = 0; i < nfiles; i++) free(files[i]);
  free(files), free(names), free(x), free(out), free(priors), free(work), free(dets), free(wh);
  gc_net_free(net);
  gc_ctx_free(ctx);
  return st ? cli_fail(st, "detect failed") : 0;
}
