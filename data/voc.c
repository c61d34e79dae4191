/* Object detection sets in the Pascal VOC layout: the annotations (expat), the SSD training
 * augmentation of ssd.pytorch (utils/augmentations.py, SSDAugmentation) written afresh in C, and a
 * generator of a small VOC-style set of shapes (gafcl make-shapes).
 *
 * Augmentation (training): photometric distortion (brightness, contrast before or after saturation and
 * hue in HSV, channel swap), zoom-out (Expand: the image placed in a canvas up to 4x its size filled
 * with the mean), SSD's min-IoU random crop, horizontal flip, then a bilinear resize to size x size and
 * mean subtraction on 0..255 values. The canvas of the zoom-out is never materialised: the resize samples
 * the source image through the crop window and the canvas offset, reading the mean outside the image,
 * which gives the same pixels. Differences from ssd.pytorch, on purpose:
 *  - the crop's IoU constraint is the one of Caffe's SSD and torchvision's RandomIoUCrop (at least one
 *    box overlaps the crop with IoU >= the mode's minimum); ssd.pytorch's test never rejects a crop;
 *  - the crop's offset is uniform in [0, width - w] (ssd.pytorch's uniform(width - w) draws from
 *    [1, width - w]);
 *  - the search is bounded: at most 16 choices of the mode of 50 tries each, then the uncropped image;
 *  - boxes that are degenerate after cropping (x1 <= x0 or y1 <= y0) are dropped.
 * Random numbers come from a counter-based generator keyed by (r1, r2): the same pair gives the same
 * image and targets, bit for bit, on any thread. */
#include "gc_data.h"

#include <errno.h>
#include <expat.h>
#include <fcntl.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <jpeglib.h> /* after stdio.h */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gc_error.h"
#include "gc_io.h"
#include "gc_jpeg.h"

#define VOC_XML_MAX ((size_t)4 << 20)   /* bytes of one annotation file */
#define VOC_LIST_MAX ((size_t)64 << 20) /* bytes of an ImageSets file */
#define VOC_MAX_SIDE 100000             /* pixels on a side, as <size> may claim */
#define VOC_PATH 4400

static const char *const voc_classes[20] = {"aeroplane", "bicycle", "bird",  "boat",        "bottle",
                                            "bus",       "car",     "cat",   "chair",       "cow",
                                            "diningtable", "dog",   "horse", "motorbike",   "person",
                                            "pottedplant", "sheep", "sofa",  "train",       "tvmonitor"};

/* ---- small helpers ---- */

static int is_space(int c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int lower(int c) { return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c; }

/* ASCII case-insensitive equality (not locale-dependent) */
static int same_name(const char *a, const char *b) {
  for (; *a && *b; a++, b++)
    if (lower((unsigned char)*a) != lower((unsigned char)*b)) return 0;
  return *a == *b;
}

/* trim ASCII white space in place; returns the start */
static char *trim(char *s) {
  while (is_space((unsigned char)*s)) s++;
  size_t n = strlen(s);
  while (n > 0 && is_space((unsigned char)s[n - 1])) s[--n] = '\0';
  return s;
}

/* a decimal number: [+-]digits[.digits] or [+-].digits, white space around; no exponent, inf, nan, hex */
static int parse_num(const char *s, double *out) {
  while (is_space((unsigned char)*s)) s++;
  int neg = 0;
  if (*s == '+' || *s == '-') neg = *s++ == '-';
  double v = 0;
  int digits = 0;
  while (is_digit((unsigned char)*s)) v = v * 10 + (*s++ - '0'), digits++;
  if (*s == '.') {
    s++;
    double scale = 0.1;
    while (is_digit((unsigned char)*s)) v += (*s++ - '0') * scale, scale *= 0.1, digits++;
  }
  while (is_space((unsigned char)*s)) s++;
  if (!digits || *s) return -1;
  *out = neg ? -v : v;
  return 0;
}

/* counter-based random numbers: draw k of key is a hash of (key, k) */
typedef struct rng {
  uint64_t key, ctr;
} rng;

static uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
static rng rng_make(uint64_t a, uint64_t b) {
  rng g = {mix64(a + 0x9e3779b97f4a7c15ull) ^ mix64(b * 0xd6e8feb86659fd93ull + 0x632be59bd9b4e019ull), 0};
  return g;
}
static uint64_t rng_next(rng *g) { return mix64(g->key + (++g->ctr) * 0x9e3779b97f4a7c15ull); }
static double rng_u01(rng *g) { return (double)(rng_next(g) >> 11) * (1.0 / 9007199254740992.0); }
static double rng_uniform(rng *g, double a, double b) { return a + (b - a) * rng_u01(g); }
static int rng_bit(rng *g) { return (int)(rng_next(g) >> 63); }
static int rng_int(rng *g, int n) { return (int)(rng_u01(g) * n); } /* [0, n) */

/* ---- the annotation parser ---- */

enum { K_OTHER, K_ANNOT, K_SIZE, K_WIDTH, K_HEIGHT, K_OBJECT, K_NAME, K_DIFFICULT, K_BNDBOX, K_XMIN, K_YMIN, K_XMAX, K_YMAX };
#define VOC_DEPTH 16  /* kinds kept for this many levels (the ones that matter are 4 deep) */
#define VOC_TEXT 256  /* bytes of an element's text */

typedef struct vobj {
  unsigned long line;
  int label, difficult;
  int has_name, has_difficult, has_bndbox, has[4];
  double v[4]; /* xmin, ymin, xmax, ymax as written */
} vobj;

typedef struct vparse {
  XML_Parser p;
  const char *name;
  char (*classes)[32];
  int nclasses;
  int depth;
  unsigned char kind[VOC_DEPTH];
  char text[VOC_TEXT];
  size_t tlen;
  int toolong;
  int w, h, has_w, has_h, has_size;
  vobj cur;
  vobj *objs;
  size_t nobj, cap;
  int failed;
  char *msg;
  size_t msgcap;
} vparse;

static void vfail(vparse *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void vfail(vparse *v, const char *fmt, ...) {
  if (v->failed) return;
  v->failed = 1;
  char m[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(m, sizeof m, fmt, ap);
  va_end(ap);
  if (v->msgcap) snprintf(v->msg, v->msgcap, "%s:%lu: %s", v->name, (unsigned long)XML_GetCurrentLineNumber(v->p), m);
  XML_StopParser(v->p, XML_FALSE);
}

static int top_kind(const vparse *v) { return v->depth > 0 && v->depth <= VOC_DEPTH ? v->kind[v->depth - 1] : K_OTHER; }
static int is_leaf(int k) { return k == K_WIDTH || k == K_HEIGHT || k == K_NAME || k == K_DIFFICULT || (k >= K_XMIN && k <= K_YMAX); }
static const char *const coord_names[4] = {"xmin", "ymin", "xmax", "ymax"};

static void XMLCALL on_start(void *ud, const XML_Char *el, const XML_Char **attr) {
  vparse *v = ud;
  (void)attr;
  if (v->failed) return;
  int parent = v->depth == 0 ? -1 : top_kind(v), k = K_OTHER;
  if (parent == -1) {
    if (strcmp(el, "annotation")) {
      vfail(v, "the root element is <%.64s>, not <annotation>", el);
      return;
    }
    k = K_ANNOT;
  } else if (parent == K_ANNOT) {
    k = !strcmp(el, "size") ? K_SIZE : !strcmp(el, "object") ? K_OBJECT : K_OTHER;
  } else if (parent == K_SIZE) {
    k = !strcmp(el, "width") ? K_WIDTH : !strcmp(el, "height") ? K_HEIGHT : K_OTHER;
  } else if (parent == K_OBJECT) {
    k = !strcmp(el, "name") ? K_NAME : !strcmp(el, "difficult") ? K_DIFFICULT : !strcmp(el, "bndbox") ? K_BNDBOX : K_OTHER;
  } else if (parent == K_BNDBOX) {
    for (int i = 0; i < 4; i++)
      if (!strcmp(el, coord_names[i])) k = K_XMIN + i;
  }
  int dup = 0;
  switch (k) {
  case K_SIZE: dup = v->has_size, v->has_size = 1; break;
  case K_WIDTH: dup = v->has_w; break;
  case K_HEIGHT: dup = v->has_h; break;
  case K_OBJECT:
    memset(&v->cur, 0, sizeof v->cur);
    v->cur.line = (unsigned long)XML_GetCurrentLineNumber(v->p);
    break;
  case K_NAME: dup = v->cur.has_name; break;
  case K_DIFFICULT: dup = v->cur.has_difficult; break;
  case K_BNDBOX: dup = v->cur.has_bndbox, v->cur.has_bndbox = 1; break;
  case K_XMIN: case K_YMIN: case K_XMAX: case K_YMAX: dup = v->cur.has[k - K_XMIN]; break;
  default: break;
  }
  if (dup) {
    vfail(v, "a second <%s> in its <%s>", el, k == K_SIZE ? "annotation" : k == K_WIDTH || k == K_HEIGHT ? "size" : k >= K_XMIN ? "bndbox" : "object");
    return;
  }
  if (is_leaf(k)) v->tlen = 0, v->toolong = 0, v->text[0] = '\0';
  if (v->depth < VOC_DEPTH) v->kind[v->depth] = (unsigned char)k;
  v->depth++;
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len) {
  vparse *v = ud;
  if (v->failed || !is_leaf(top_kind(v)) || len <= 0) return;
  if (v->tlen + (size_t)len >= VOC_TEXT) {
    v->toolong = 1;
    return;
  }
  memcpy(v->text + v->tlen, s, (size_t)len);
  v->tlen += (size_t)len;
  v->text[v->tlen] = '\0';
}

static void XMLCALL on_end(void *ud, const XML_Char *el) {
  vparse *v = ud;
  if (v->failed) return;
  int k = top_kind(v);
  v->depth--;
  if (is_leaf(k) && v->toolong) {
    vfail(v, "<%s>: more than %d bytes of text", el, VOC_TEXT - 1);
    return;
  }
  char *t = is_leaf(k) ? trim(v->text) : NULL;
  double x;
  switch (k) {
  case K_WIDTH:
  case K_HEIGHT:
    if (parse_num(t, &x) || x != floor(x) || x <= 0 || x > VOC_MAX_SIDE) {
      vfail(v, "<%s> '%.40s': a whole number of pixels from 1 to %d expected", el, t, VOC_MAX_SIDE);
      return;
    }
    if (k == K_WIDTH) v->w = (int)x, v->has_w = 1;
    else v->h = (int)x, v->has_h = 1;
    break;
  case K_SIZE:
    if (!v->has_w || !v->has_h) vfail(v, "<size> without <%s>", v->has_w ? "height" : "width");
    break;
  case K_NAME: {
    int found = -1;
    for (int c = 0; c < v->nclasses && found < 0; c++)
      if (same_name(t, v->classes[c])) found = c;
    if (found < 0) {
      char list[256];
      size_t o = 0;
      list[0] = '\0';
      for (int c = 0; c < v->nclasses && o < sizeof list; c++) {
        int r = snprintf(list + o, sizeof list - o, "%s%s", c ? " " : "", v->classes[c]);
        if (r < 0) break;
        o += (size_t)r;
      }
      if (o >= sizeof list) memcpy(list + sizeof list - 4, "...", 4);
      vfail(v, "unknown class '%.64s' (the %d classes: %s)", t, v->nclasses, list);
      return;
    }
    v->cur.label = found, v->cur.has_name = 1;
    break;
  }
  case K_DIFFICULT:
    if (parse_num(t, &x) || (x != 0 && x != 1)) {
      vfail(v, "<difficult> '%.40s': 0 or 1 expected", t);
      return;
    }
    v->cur.difficult = (int)x, v->cur.has_difficult = 1;
    break;
  case K_XMIN: case K_YMIN: case K_XMAX: case K_YMAX:
    if (parse_num(t, &x) || fabs(x) > 1e9) {
      vfail(v, "<%s> '%.40s': not a number", el, t);
      return;
    }
    v->cur.v[k - K_XMIN] = x, v->cur.has[k - K_XMIN] = 1;
    break;
  case K_BNDBOX:
    for (int i = 0; i < 4; i++)
      if (!v->cur.has[i]) {
        vfail(v, "<bndbox> without <%s>", coord_names[i]);
        return;
      }
    break;
  case K_OBJECT:
    if (!v->cur.has_name || !v->cur.has_bndbox) {
      vfail(v, "<object> (from line %lu) without <%s>", v->cur.line, v->cur.has_name ? "bndbox" : "name");
      return;
    }
    if (v->nobj == v->cap) {
      size_t cap = v->cap ? 2 * v->cap : 16;
      vobj *o = realloc(v->objs, cap * sizeof *o);
      if (!o) {
        vfail(v, "out of memory for %zu objects", cap);
        return;
      }
      v->objs = o, v->cap = cap;
    }
    v->objs[v->nobj++] = v->cur;
    break;
  default: break;
  }
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid, int has_internal) {
  (void)name, (void)sysid, (void)pubid, (void)has_internal;
  vfail(ud, "a DOCTYPE declaration (not allowed in an annotation)");
}

int gc_voc_parse_xml(const char *xml, size_t len, const char *name, char (*classes)[32], int nclasses, int *w, int *h,
                     gc_det_box *boxes, int cap, int *nboxes, char *msg, size_t msgcap) {
  *w = *h = 0;
  *nboxes = 0;
  if (msgcap) msg[0] = '\0';
  if (!name) name = "annotation";
  vparse v;
  memset(&v, 0, sizeof v);
  v.name = name, v.classes = classes, v.nclasses = nclasses, v.msg = msg, v.msgcap = msgcap;
  v.p = XML_ParserCreate(NULL);
  if (!v.p) {
    if (msgcap) snprintf(msg, msgcap, "%s: out of memory for the XML parser", name);
    return -1;
  }
  XML_SetUserData(v.p, &v);
  XML_SetElementHandler(v.p, on_start, on_end);
  XML_SetCharacterDataHandler(v.p, on_text);
  XML_SetStartDoctypeDeclHandler(v.p, on_doctype);
  size_t off = 0;
  int ok = 1;
  do { /* in pieces that fit XML_Parse's int length */
    size_t chunk = len - off > ((size_t)1 << 24) ? ((size_t)1 << 24) : len - off;
    if (XML_Parse(v.p, xml + off, (int)chunk, off + chunk == len) != XML_STATUS_OK) ok = 0;
    off += chunk;
  } while (ok && off < len);
  if (!ok && !v.failed) {
    v.failed = 1;
    if (msgcap)
      snprintf(msg, msgcap, "%s:%lu: malformed XML: %s", name, (unsigned long)XML_GetCurrentLineNumber(v.p),
               XML_ErrorString(XML_GetErrorCode(v.p)));
  }
  XML_ParserFree(v.p);
  if (!v.failed && !v.has_size) {
    v.failed = 1;
    if (msgcap) snprintf(msg, msgcap, "%s: no <size> with <width> and <height>", name);
  }
  for (size_t i = 0; !v.failed && i < v.nobj; i++) {
    const vobj *o = &v.objs[i];
    const char *bad = o->v[2] < o->v[0] ? "xmax < xmin" : o->v[3] < o->v[1] ? "ymax < ymin" : NULL;
    /* as int(float(text)) - 1: 0-based pixels; one pixel outside the image is tolerated */
    double b[4];
    for (int c = 0; c < 4; c++) b[c] = trunc(o->v[c]) - 1;
    if (!bad && (b[0] < -1 || b[1] < -1 || b[2] > v.w || b[3] > v.h)) bad = "outside the image";
    if (bad) {
      v.failed = 1;
      if (msgcap)
        snprintf(msg, msgcap, "%s:%lu: object %zu (%s): box (%g, %g, %g, %g) of the %dx%d image: %s", name, o->line,
                 i + 1, classes[o->label], o->v[0], o->v[1], o->v[2], o->v[3], v.w, v.h, bad);
      break;
    }
    if ((int)i < cap) {
      gc_det_box *q = &boxes[i];
      q->x0 = (float)b[0], q->y0 = (float)b[1], q->x1 = (float)b[2], q->y1 = (float)b[3];
      q->label = o->label;
      q->difficult = o->difficult;
    }
  }
  free(v.objs);
  if (v.failed) return -1;
  *w = v.w, *h = v.h;
  *nboxes = v.nobj > INT_MAX ? INT_MAX : (int)v.nobj;
  return 0;
}

/* ---- opening a set ---- */

/* ROOT/labels.txt or the 20 VOC classes */
static int read_classes(const char *root, gc_det_set *det) {
  char path[VOC_PATH];
  if (snprintf(path, sizeof path, "%s/labels.txt", root) >= (int)sizeof path) GC_FAIL(GC_ERR_ARG, "VOC root %s: too long", root);
  det->class_names = calloc(GC_DET_MAX_CLASSES, sizeof *det->class_names);
  if (!det->class_names) GC_FAIL(GC_ERR_HOST_MEM, "class names");
  struct stat sb;
  if (stat(path, &sb) != 0 && errno == ENOENT) {
    for (int c = 0; c < 20; c++) snprintf(det->class_names[c], 32, "%s", voc_classes[c]);
    det->nclasses = 20;
    return GC_OK;
  }
  unsigned char *buf;
  size_t len;
  int st = gc_file_read(path, "class list", (size_t)1 << 20, &buf, &len);
  if (st) return st;
  char *s = (char *)buf;
  size_t line = 0;
  while (s && *s) {
    line++;
    char *nl = strchr(s, '\n');
    if (nl) *nl = '\0';
    char *name = trim(s);
    s = nl ? nl + 1 : NULL;
    if (!*name) continue;
    if (strlen(name) >= 32) GC_FAIL_GOTO(GC_ERR_FORMAT, "%s:%zu: class name '%.40s...' longer than 31 bytes", path, line, name);
    if (det->nclasses == GC_DET_MAX_CLASSES)
      GC_FAIL_GOTO(GC_ERR_FORMAT, "%s:%zu: more than %d classes", path, line, GC_DET_MAX_CLASSES);
    for (int c = 0; c < det->nclasses; c++)
      if (same_name(det->class_names[c], name)) GC_FAIL_GOTO(GC_ERR_FORMAT, "%s:%zu: class '%s' listed twice", path, line, name);
    snprintf(det->class_names[det->nclasses++], 32, "%s", name);
  }
  if (det->nclasses == 0) GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: no class names", path);
cleanup:
  free(buf);
  return st;
}

static int id_ok(const char *id) {
  size_t n = strlen(id);
  if (n == 0 || n > 200 || id[0] == '.') return 0;
  for (const char *p = id; *p; p++)
    if (!(is_digit((unsigned char)*p) || (lower((unsigned char)*p) >= 'a' && lower((unsigned char)*p) <= 'z') || *p == '_' ||
          *p == '-' || *p == '.'))
      return 0;
  return 1;
}

/* grow the per-image arrays to hold at least n + 1 images */
static int grow(gc_dataset *d, size_t *cap) {
  gc_det_set *det = d->det;
  if (d->n + 1 < *cap) return GC_OK;
  size_t nc = *cap ? 2 * *cap : 256;
  char **p = realloc(d->paths, nc * sizeof *p);
  if (p) d->paths = p;
  char **ids = realloc(det->ids, nc * sizeof *ids);
  if (ids) det->ids = ids;
  int *w = realloc(det->width, nc * sizeof *w);
  if (w) det->width = w;
  int *h = realloc(det->height, nc * sizeof *h);
  if (h) det->height = h;
  size_t *bs = realloc(det->box_start, nc * sizeof *bs);
  if (bs) det->box_start = bs;
  if (!p || !ids || !w || !h || !bs) GC_FAIL(GC_ERR_HOST_MEM, "VOC: lists of %zu images", nc);
  *cap = nc;
  return GC_OK;
}

int gc_data_voc(gc_dataset *d, const char *root, const char *sets, int size, int train, int keep_difficult) {
  int st = 0;
  unsigned char *list = NULL, *xml = NULL;
  char *setcopy = NULL;
  size_t cap = 0, boxcap = 0;
  memset(d, 0, sizeof *d);
  if (!root || !*root || !sets || !*sets) GC_FAIL(GC_ERR_ARG, "VOC: no root folder or no sets given");
  if (size < 8 || size > 4096) GC_FAIL(GC_ERR_ARG, "VOC %s: output size %d (8 to 4096)", root, size);
  gc_det_set *det = calloc(1, sizeof *det);
  if (!det) GC_FAIL(GC_ERR_HOST_MEM, "VOC set");
  d->det = det;
  det->size = size, det->train = train ? 1 : 0, det->keep_difficult = keep_difficult ? 1 : 0;
  GC_TRY(read_classes(root, det));
  GC_TRY(grow(d, &cap));
  det->box_start[0] = 0;
  setcopy = strdup(sets);
  if (!setcopy) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "VOC sets");
  gc_det_box found[GC_DET_MAX_BOXES];
  char *save = NULL;
  for (char *tok = strtok_r(setcopy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    char *set = trim(tok), *dash = strchr(set, '-');
    if (!dash || dash == set || !dash[1] || !id_ok(dash + 1) || strchr(dash + 1, '/'))
      GC_FAIL_GOTO(GC_ERR_ARG, "VOC set '%s': YEAR-SET expected, as 2007-trainval", set);
    *dash = '\0';
    const char *year = set, *name = dash + 1;
    if (!id_ok(year)) GC_FAIL_GOTO(GC_ERR_ARG, "VOC set '%s-%s': YEAR-SET expected, as 2007-trainval", year, name);
    char lpath[VOC_PATH];
    if (snprintf(lpath, sizeof lpath, "%s/VOC%s/ImageSets/Main/%s.txt", root, year, name) >= (int)sizeof lpath)
      GC_FAIL_GOTO(GC_ERR_ARG, "VOC root %s: too long", root);
    size_t llen;
    GC_TRY(gc_file_read(lpath, "VOC image list", VOC_LIST_MAX, &list, &llen));
    char *s = (char *)list;
    size_t line = 0;
    while (s && *s) {
      line++;
      char *nl = strchr(s, '\n');
      if (nl) *nl = '\0';
      char *id = trim(s);
      s = nl ? nl + 1 : NULL;
      if (!*id) continue;
      if (!id_ok(id)) GC_FAIL_GOTO(GC_ERR_FORMAT, "%s:%zu: '%.60s' is not an image id", lpath, line, id);
      char xpath[VOC_PATH], jpath[VOC_PATH];
      if (snprintf(xpath, sizeof xpath, "%s/VOC%s/Annotations/%s.xml", root, year, id) >= (int)sizeof xpath ||
          snprintf(jpath, sizeof jpath, "%s/VOC%s/JPEGImages/%s.jpg", root, year, id) >= (int)sizeof jpath)
        GC_FAIL_GOTO(GC_ERR_ARG, "VOC root %s: too long", root);
      size_t xlen;
      if ((st = gc_file_read(xpath, "annotation", VOC_XML_MAX, &xml, &xlen)) != 0) {
        gc_error_prefix(st, "%s:%zu: ", lpath, line);
        goto cleanup;
      }
      int w, h, nb;
      char msg[600];
      if (gc_voc_parse_xml((const char *)xml, xlen, xpath, det->class_names, det->nclasses, &w, &h, found,
                           GC_DET_MAX_BOXES, &nb, msg, sizeof msg) != 0)
        GC_FAIL_GOTO(GC_ERR_FORMAT, "%s", msg);
      free(xml);
      xml = NULL;
      if (nb > GC_DET_MAX_BOXES)
        GC_FAIL_GOTO(GC_ERR_FORMAT, "%s: %d objects, more than the %d of a detection image (GC_DET_MAX_BOXES)", xpath, nb,
                     GC_DET_MAX_BOXES);
      struct stat sb;
      if (stat(jpath, &sb) != 0)
        GC_FAIL_GOTO(GC_ERR_IO, "%s:%zu: image %s: %s", lpath, line, jpath, strerror(errno));
      if (!S_ISREG(sb.st_mode))
        GC_FAIL_GOTO(GC_ERR_IO, "%s:%zu: image %s: %s, not a regular file", lpath, line, jpath,
                     S_ISFIFO(sb.st_mode) ? "a named pipe" : S_ISDIR(sb.st_mode) ? "a directory" : "a special file");
      int keep = 0;
      for (int b = 0; b < nb; b++)
        if (!train || keep_difficult || !found[b].difficult) found[keep++] = found[b];
      if (train && keep == 0) continue; /* nothing to learn from (ssd.pytorch would keep it) */
      GC_TRY(grow(d, &cap));
      size_t start = det->box_start[d->n];
      if (start + (size_t)keep > boxcap) {
        size_t nc = boxcap ? 2 * boxcap : 1024;
        while (nc < start + (size_t)keep) nc *= 2;
        gc_det_box *nbx = realloc(det->boxes, nc * sizeof *nbx);
        if (!nbx) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "VOC: %zu boxes", nc);
        det->boxes = nbx, boxcap = nc;
      }
      char *p = strdup(jpath);
      size_t idlen = strlen(year) + strlen(id) + 5;
      char *ids = malloc(idlen);
      if (!p || !ids) {
        free(p);
        free(ids);
        GC_FAIL_GOTO(GC_ERR_HOST_MEM, "VOC: file names");
      }
      snprintf(ids, idlen, "VOC%s/%s", year, id);
      memcpy(det->boxes + start, found, (size_t)keep * sizeof *found);
      d->paths[d->n] = p;
      det->ids[d->n] = ids;
      det->width[d->n] = w;
      det->height[d->n] = h;
      det->box_start[d->n + 1] = start + (size_t)keep;
      d->n++;
      det->nalloc = d->n;
    }
    free(list);
    list = NULL;
  }
  if (d->n == 0)
    GC_FAIL_GOTO(GC_ERR_FORMAT, "VOC %s sets %s: no images%s", root, sets, train ? " with objects to train on" : "");
  d->c = 3;
  d->h = d->w = size;
  d->classes = det->nclasses;
  d->target_dim = GC_DET_TARGET_DIM;
  /* what gc_data_voc_image does, as (x/255 - mean) / std: x - 123, x - 117, x - 104 (RGB) */
  static const float m[3] = {123.0f / 255, 117.0f / 255, 104.0f / 255};
  for (int c = 0; c < 3; c++) d->mean[c] = m[c], d->std[c] = 1.0f / 255;
  snprintf(d->name, sizeof d->name, "voc-%s", sets);
cleanup:
  free(list);
  free(xml);
  free(setcopy);
  if (st) gc_data_free(d);
  return st;
}

/* ---- one image ---- */

/* cv2's float BGR<->HSV (H in degrees, S in [0, 1], V as the values), on an RGB pixel */
static void rgb_to_hsv(float *p) {
  float r = p[0], g = p[1], b = p[2];
  float v = fmaxf(r, fmaxf(g, b)), mn = fminf(r, fminf(g, b)), diff = v - mn;
  float s = diff / (fabsf(v) + FLT_EPSILON), h;
  float k = 60.0f / (diff + FLT_EPSILON);
  if (v == r) h = (g - b) * k;
  else if (v == g) h = (b - r) * k + 120.0f;
  else h = (r - g) * k + 240.0f;
  if (h < 0) h += 360.0f;
  p[0] = h, p[1] = s, p[2] = v;
}

static void hsv_to_rgb(float *p) {
  float h = p[0], s = p[1], v = p[2];
  if (s == 0) {
    p[0] = p[1] = p[2] = v;
    return;
  }
  static const int sector_data[6][3] = {{1, 3, 0}, {1, 0, 2}, {3, 0, 1}, {0, 2, 1}, {0, 1, 3}, {2, 1, 0}}; /* b, g, r */
  h = fmodf(h / 60.0f, 6.0f);
  if (h < 0) h += 6.0f;
  int sector = (int)floorf(h);
  h -= (float)sector;
  if (sector < 0 || sector >= 6) sector = 0, h = 0;
  float tab[4] = {v, v * (1.0f - s), v * (1.0f - s * h), v * (1.0f - s * (1.0f - h))};
  p[2] = tab[sector_data[sector][0]];
  p[1] = tab[sector_data[sector][1]];
  p[0] = tab[sector_data[sector][2]];
}

/* ssd.pytorch's PhotometricDistort on float RGB pixels (no clamping, as there) */
static void photometric(float *im, size_t npix, rng *g) {
  size_t n = npix * 3;
  if (rng_bit(g)) { /* brightness */
    float delta = (float)rng_uniform(g, -32, 32);
    for (size_t i = 0; i < n; i++) im[i] += delta;
  }
  int contrast_first = rng_bit(g);
  float alpha = 1;
  int contrast = rng_bit(g);
  if (contrast) alpha = (float)rng_uniform(g, 0.5, 1.5);
  if (contrast && contrast_first)
    for (size_t i = 0; i < n; i++) im[i] *= alpha;
  float sat = 1, hue = 0;
  if (rng_bit(g)) sat = (float)rng_uniform(g, 0.5, 1.5);
  if (rng_bit(g)) hue = (float)rng_uniform(g, -18, 18);
  for (size_t i = 0; i < npix; i++) {
    float *p = im + 3 * i;
    rgb_to_hsv(p);
    p[1] *= sat;
    p[0] += hue;
    if (p[0] > 360.0f) p[0] -= 360.0f;
    if (p[0] < 0.0f) p[0] += 360.0f;
    hsv_to_rgb(p);
  }
  if (contrast && !contrast_first)
    for (size_t i = 0; i < n; i++) im[i] *= alpha;
  if (rng_bit(g)) { /* RandomLightingNoise: a channel permutation */
    static const int perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    const int *q = perms[rng_int(g, 6)];
    for (size_t i = 0; i < npix; i++) {
      float *p = im + 3 * i, t[3] = {p[0], p[1], p[2]};
      p[0] = t[q[0]], p[1] = t[q[1]], p[2] = t[q[2]];
    }
  }
}

typedef struct dbox {
  double x0, y0, x1, y1;
  int label, difficult;
} dbox;

static double iou(const dbox *b, double l, double t, double r, double bo) {
  double iw = fmin(b->x1, r) - fmax(b->x0, l), ih = fmin(b->y1, bo) - fmax(b->y0, t);
  if (iw < 0) iw = 0;
  if (ih < 0) ih = 0;
  double inter = iw * ih, ua = (b->x1 - b->x0) * (b->y1 - b->y0) + (r - l) * (bo - t) - inter;
  return ua > 0 ? inter / ua : 0;
}

/* SSD's RandomSampleCrop on a W x H image: the window (rl, rt, rr, rb) and the boxes in it; 0 when the
 * image stays whole */
static int sample_crop(rng *g, int W, int H, dbox *bx, int *nb, int win[4]) {
  static const double min_iou[6] = {0, 0.1, 0.3, 0.7, 0.9, -1}; /* mode 0: no crop; 5: no constraint */
  if (*nb == 0) return 0;
  for (int round = 0; round < 16; round++) {
    int mode = rng_int(g, 6);
    if (mode == 0) return 0;
    for (int t = 0; t < 50; t++) {
      double w = rng_uniform(g, 0.3 * W, W), h = rng_uniform(g, 0.3 * H, H);
      if (h / w < 0.5 || h / w > 2) continue;
      double l = rng_uniform(g, 0, W - w), tp = rng_uniform(g, 0, H - h);
      int rl = (int)l, rt = (int)tp, rr = (int)(l + w), rb = (int)(tp + h);
      if (rr - rl < 1 || rb - rt < 1) continue;
      if (min_iou[mode] > 0) {
        double best = 0;
        for (int i = 0; i < *nb; i++) best = fmax(best, iou(&bx[i], rl, rt, rr, rb));
        if (best < min_iou[mode]) continue;
      }
      int any = 0;
      for (int i = 0; i < *nb && !any; i++) {
        double cx = (bx[i].x0 + bx[i].x1) / 2, cy = (bx[i].y0 + bx[i].y1) / 2;
        any = rl < cx && rt < cy && rr > cx && rb > cy;
      }
      if (!any) continue;
      int k = 0;
      for (int i = 0; i < *nb; i++) {
        double cx = (bx[i].x0 + bx[i].x1) / 2, cy = (bx[i].y0 + bx[i].y1) / 2;
        if (!(rl < cx && rt < cy && rr > cx && rb > cy)) continue;
        dbox b = bx[i];
        b.x0 = fmax(b.x0, rl) - rl, b.y0 = fmax(b.y0, rt) - rt;
        b.x1 = fmin(b.x1, rr) - rl, b.y1 = fmin(b.y1, rb) - rt;
        bx[k++] = b;
      }
      *nb = k;
      win[0] = rl, win[1] = rt, win[2] = rr, win[3] = rb;
      return 1;
    }
  }
  return 0;
}

/* output taps of a bilinear resize (cv2's INTER_LINEAR: half-pixel centres, clamped at the edges) from n
 * window pixels to S; each tap as a source index (-1: outside the image, the fill) */
static void taps(int S, int n, int mirror, int win0, int off, int src_n, int *i0, int *i1, float *a) {
  for (int x = 0; x < S; x++) {
    float f = ((float)x + 0.5f) * (float)n / (float)S - 0.5f;
    if (f < 0) f = 0;
    if (f > (float)(n - 1)) f = (float)(n - 1);
    int c0 = (int)f, c1 = c0 + 1 < n ? c0 + 1 : c0;
    a[x] = f - (float)c0;
    int m0 = mirror ? n - 1 - c0 : c0, m1 = mirror ? n - 1 - c1 : c1;
    int s0 = m0 + win0 - off, s1 = m1 + win0 - off; /* window -> canvas -> source */
    i0[x] = s0 >= 0 && s0 < src_n ? s0 : -1;
    i1[x] = s1 >= 0 && s1 < src_n ? s1 : -1;
  }
}

/* the window win of the canvas (the image at left, top; the mean elsewhere), flipped or not, resized to
 * S x S (bilinear) with the means subtracted, into out (3 x S x S); tp: 4S ints, ta: 2S floats */
static void resample(const float *im, int w, int h, int S, int mirror, const int win[4], int left, int top, int *tp,
                     float *ta, float *out) {
  const int W = win[2] - win[0], H = win[3] - win[1];
  static const float mean[3] = {123.0f, 117.0f, 104.0f}; /* R, G, B (ssd.pytorch: 104, 117, 123 BGR) */
  int *cx0 = tp, *cx1 = tp + S, *ry0 = tp + 2 * S, *ry1 = tp + 3 * S;
  float *ax = ta, *ay = ta + S;
  taps(S, W, mirror, win[0], left, w, cx0, cx1, ax);
  taps(S, H, 0, win[1], top, h, ry0, ry1, ay);
  for (int c = 0; c < 3; c++)
    for (int y = 0; y < S; y++) {
      const float *row0 = ry0[y] >= 0 ? im + (size_t)ry0[y] * w * 3 : NULL;
      const float *row1 = ry1[y] >= 0 ? im + (size_t)ry1[y] * w * 3 : NULL;
      float fy = ay[y], fill = mean[c];
      float *o = out + ((size_t)c * S + y) * S;
      for (int x = 0; x < S; x++) {
        int a0 = cx0[x], a1 = cx1[x];
        float v00 = row0 && a0 >= 0 ? row0[(size_t)a0 * 3 + c] : fill, v01 = row0 && a1 >= 0 ? row0[(size_t)a1 * 3 + c] : fill;
        float v10 = row1 && a0 >= 0 ? row1[(size_t)a0 * 3 + c] : fill, v11 = row1 && a1 >= 0 ? row1[(size_t)a1 * 3 + c] : fill;
        float fx = ax[x];
        float v = (v00 * (1 - fx) + v01 * fx) * (1 - fy) + (v10 * (1 - fx) + v11 * fx) * fy;
        o[x] = v - mean[c];
      }
    }
}

int gc_data_det_file(const char *path, int size, float *out, int *w, int *h, char *msg, size_t cap) {
  uint8_t *rgb = NULL;
  if (size < 1 || size > 4096) {
    if (cap) snprintf(msg, cap, "%s: input size %d", path, size);
    return -1;
  }
  if (gc_jpeg_decode(path, &rgb, w, h, msg, cap) != 0) return -1;
  size_t npix = (size_t)*w * *h;
  float *im = malloc(npix * 3 * sizeof *im);
  int *tp = malloc((size_t)size * 4 * sizeof *tp);
  float *ta = malloc((size_t)size * 2 * sizeof *ta);
  if (!im || !tp || !ta) {
    if (cap) snprintf(msg, cap, "%s: out of memory for %dx%d pixels", path, *w, *h);
    free(rgb), free(im), free(tp), free(ta);
    return -1;
  }
  for (size_t i = 0; i < npix * 3; i++) im[i] = rgb[i];
  free(rgb);
  int win[4] = {0, 0, *w, *h};
  resample(im, *w, *h, size, 0, win, 0, 0, tp, ta, out);
  free(im), free(tp), free(ta);
  return 0;
}

int gc_data_det_classes(const char *root, char (*names)[32], int cap, int *n) {
  gc_det_set det;
  memset(&det, 0, sizeof det);
  *n = 0;
  int st = 0;
  if (!root) {
    for (int c = 0; c < 20 && c < cap; c++) snprintf(names[c], 32, "%s", voc_classes[c]);
    *n = cap < 20 ? cap : 20;
    return GC_OK;
  }
  if ((st = read_classes(root, &det)) == 0) {
    *n = det.nclasses < cap ? det.nclasses : cap;
    memcpy(names, det.class_names, (size_t)*n * sizeof *names);
  }
  free(det.class_names);
  return st;
}

int gc_data_voc_image(const gc_dataset *d, size_t idx, uint64_t r1, uint64_t r2, float *out, float *targets, char *msg,
                      size_t cap) {
  const gc_det_set *det = d->det;
  if (!det || idx >= d->n || !d->paths) {
    if (cap) snprintf(msg, cap, "image %zu of %s: not a detection set of that many images", idx, d->name);
    return -1;
  }
  uint8_t *rgb = NULL;
  int w, h, S = det->size;
  if (gc_jpeg_decode(d->paths[idx], &rgb, &w, &h, msg, cap) != 0) return -1;
  if (w != det->width[idx] || h != det->height[idx]) {
    char xpath[VOC_PATH];
    const char *p = d->paths[idx], *j = strstr(p, "/JPEGImages/");
    const char *dot = j ? strrchr(j, '.') : NULL;
    if (j && dot && dot > j + 12) {
      snprintf(xpath, sizeof xpath, "%.*s/Annotations/%.*s.xml", (int)(j - p), p, (int)(dot - j - 12), j + 12);
    } else {
      snprintf(xpath, sizeof xpath, "the annotation of %s", det->ids[idx]);
    }
    if (cap) snprintf(msg, cap, "%s: %dx%d pixels, but %s gives %dx%d", p, w, h, xpath, det->width[idx], det->height[idx]);
    free(rgb);
    return -1;
  }
  size_t npix = (size_t)w * h;
  float *im = malloc(npix * 3 * sizeof *im);
  int *tp = malloc((size_t)S * 4 * sizeof *tp);
  float *ta = malloc((size_t)S * 2 * sizeof *ta);
  if (!im || !tp || !ta) {
    if (cap) snprintf(msg, cap, "%s: out of memory for %dx%d pixels", d->paths[idx], w, h);
    free(rgb), free(im), free(tp), free(ta);
    return -1;
  }
  for (size_t i = 0; i < npix * 3; i++) im[i] = rgb[i]; /* ConvertFromInts */
  free(rgb);
  dbox bx[GC_DET_MAX_BOXES];
  int nb = 0;
  for (size_t b = det->box_start[idx]; b < det->box_start[idx + 1] && nb < GC_DET_MAX_BOXES; b++, nb++) {
    const gc_det_box *q = &det->boxes[b];
    bx[nb] = (dbox){q->x0, q->y0, q->x1, q->y1, q->label, q->difficult};
  }
  /* the geometry: a canvas (cw x ch, the image at left, top), a window in it, a flip */
  int cw = w, ch = h, left = 0, top = 0, win[4] = {0, 0, w, h}, mirror = 0;
  if (det->train) {
    rng g = rng_make(r1, r2);
    photometric(im, npix, &g);
    if (rng_bit(&g)) { /* Expand */
      double ratio = rng_uniform(&g, 1, 4);
      double l = rng_uniform(&g, 0, w * ratio - w), t = rng_uniform(&g, 0, h * ratio - h);
      cw = (int)(w * ratio), ch = (int)(h * ratio), left = (int)l, top = (int)t;
      for (int i = 0; i < nb; i++) bx[i].x0 += left, bx[i].x1 += left, bx[i].y0 += top, bx[i].y1 += top;
    }
    win[2] = cw, win[3] = ch;
    sample_crop(&g, cw, ch, bx, &nb, win);
    mirror = rng_bit(&g);
  }
  int W = win[2] - win[0], H = win[3] - win[1];
  for (int i = 0; i < nb; i++) {
    if (mirror) {
      double x0 = bx[i].x0;
      bx[i].x0 = W - bx[i].x1, bx[i].x1 = W - x0;
    }
    bx[i].x0 = fmin(fmax(bx[i].x0 / W, 0), 1), bx[i].x1 = fmin(fmax(bx[i].x1 / W, 0), 1);
    bx[i].y0 = fmin(fmax(bx[i].y0 / H, 0), 1), bx[i].y1 = fmin(fmax(bx[i].y1 / H, 0), 1);
  }
  int k = 0;
  for (int i = 0; i < nb; i++)
    if (!det->train || (bx[i].x1 > bx[i].x0 && bx[i].y1 > bx[i].y0)) bx[k++] = bx[i];
  nb = k;
  /* resize the window to S x S, the mean outside the image, and subtract the mean */
  resample(im, w, h, S, mirror, win, left, top, tp, ta, out);
  free(im), free(tp), free(ta);
  memset(targets, 0, GC_DET_TARGET_DIM * sizeof *targets);
  targets[0] = (float)w, targets[1] = (float)h;
  for (int i = 0; i < GC_DET_MAX_BOXES; i++) {
    float *r = targets + 2 + (size_t)i * GC_DET_ROW;
    if (i < nb) {
      r[0] = (float)bx[i].x0, r[1] = (float)bx[i].y0, r[2] = (float)bx[i].x1, r[3] = (float)bx[i].y1;
      r[4] = (float)bx[i].label, r[5] = (float)bx[i].difficult;
    } else {
      r[4] = -1;
    }
  }
  return 0;
}

/* ---- a generated set of shapes ---- */

/* one directory level; an existing directory is fine */
static int make_dir(const char *p) {
  if (mkdir(p, 0777) == 0) return GC_OK;
  int e = errno;
  struct stat sb;
  if (e == EEXIST && stat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) return GC_OK;
  GC_FAIL(GC_ERR_IO, "cannot create folder %s: %s", p, e == EEXIST ? "exists and is not a folder" : strerror(e));
}

/* write to PATH.tmp, then rename over PATH (no fsync: a generated set is easily made again) */
static int write_file(const char *path, const void *data, size_t n) {
  char tmp[VOC_PATH + 8];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) GC_FAIL(GC_ERR_IO, "cannot write %s: %s", path, strerror(errno));
  int bad = gc_write_all(fd, data, n) != 0;
  int e = errno;
  if (close(fd) != 0 && !bad) bad = 1, e = errno;
  if (!bad && rename(tmp, path) != 0) bad = 1, e = errno;
  if (bad) {
    unlink(tmp);
    GC_FAIL(GC_ERR_IO, "cannot write %s: %s", path, strerror(e));
  }
  return GC_OK;
}

struct enc_err {
  struct jpeg_error_mgr pub;
  jmp_buf jb;
  char msg[JMSG_LENGTH_MAX];
  unsigned char *buf; /* the memory destination's (malloc'ed by libjpeg) */
  unsigned long len;
};

static void enc_on_error(j_common_ptr ci) {
  struct enc_err *e = (struct enc_err *)ci->err;
  (*ci->err->format_message)(ci, e->msg);
  longjmp(e->jb, 1);
}

/* RGB (w x h) to a JPEG of quality 95, written to path */
static int write_jpeg(const char *path, const uint8_t *rgb, int w, int h) {
  struct jpeg_compress_struct ci;
  struct enc_err em;
  em.msg[0] = '\0';
  em.buf = NULL;
  em.len = 0;
  ci.err = jpeg_std_error(&em.pub);
  em.pub.error_exit = enc_on_error;
  if (setjmp(em.jb)) {
    jpeg_destroy_compress(&ci);
    free(em.buf);
    GC_FAIL(GC_ERR_IO, "cannot encode %s: %s", path, em.msg);
  }
  jpeg_create_compress(&ci);
  jpeg_mem_dest(&ci, &em.buf, &em.len);
  ci.image_width = (JDIMENSION)w;
  ci.image_height = (JDIMENSION)h;
  ci.input_components = 3;
  ci.in_color_space = JCS_RGB;
  jpeg_set_defaults(&ci);
  jpeg_set_quality(&ci, 95, TRUE);
  jpeg_start_compress(&ci, TRUE);
  while (ci.next_scanline < ci.image_height) {
    JSAMPROW row = (JSAMPROW)(rgb + (size_t)ci.next_scanline * w * 3);
    jpeg_write_scanlines(&ci, &row, 1);
  }
  jpeg_finish_compress(&ci);
  jpeg_destroy_compress(&ci);
  int st = write_file(path, em.buf, em.len);
  free(em.buf);
  return st;
}

/* a growable text buffer */
typedef struct tbuf {
  char *s;
  size_t n, cap;
  int oom;
} tbuf;

static void tprintf(tbuf *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tprintf(tbuf *t, const char *fmt, ...) {
  if (t->oom) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int r = vsnprintf(t->s ? t->s + t->n : NULL, t->s ? t->cap - t->n : 0, fmt, ap);
    va_end(ap);
    if (r < 0) {
      t->oom = 1;
      return;
    }
    if (t->s && t->n + (size_t)r < t->cap) {
      t->n += (size_t)r;
      return;
    }
    size_t nc = t->cap ? 2 * t->cap : 4096;
    while (nc < t->n + (size_t)r + 1) nc *= 2;
    char *s = realloc(t->s, nc);
    if (!s) {
      t->oom = 1;
      return;
    }
    t->s = s, t->cap = nc;
  }
}

/* rasterise shape `cls` (0 rectangle, 1 ellipse, 2 triangle) in the box at (x0, y0) of bw x bh into mask;
 * the pixel count and the exact extent of the pixels set */
static size_t raster(int S, int cls, int x0, int y0, int bw, int bh, uint8_t *mask, int ext[4]) {
  size_t count = 0;
  ext[0] = ext[1] = S, ext[2] = ext[3] = -1;
  memset(mask, 0, (size_t)S * S);
  double cx = x0 + bw / 2.0, cy = y0 + bh / 2.0, rx = bw / 2.0, ry = bh / 2.0;
  for (int y = y0; y < y0 + bh; y++)
    for (int x = x0; x < x0 + bw; x++) {
      double px = x + 0.5, py = y + 0.5;
      int in = 1;
      if (cls == 1) {
        double u = (px - cx) / rx, v = (py - cy) / ry;
        in = u * u + v * v <= 1.0;
      } else if (cls == 2) { /* apex at the top centre, base along the bottom */
        double f = (py - y0) / bh; /* 0 at the apex, 1 at the base */
        in = fabs(px - cx) <= f * rx;
      }
      if (!in) continue;
      mask[(size_t)y * S + x] = 1;
      count++;
      if (x < ext[0]) ext[0] = x;
      if (y < ext[1]) ext[1] = y;
      if (x > ext[2]) ext[2] = x;
      if (y > ext[3]) ext[3] = y;
    }
  return count;
}

int gc_data_make_shapes(const char *root, size_t n, int size, uint64_t seed) {
  static const char *const names[3] = {"rectangle", "ellipse", "triangle"};
  int st = 0, S = size;
  uint8_t *rgb = NULL, *mask = NULL;
  signed char *owner = NULL;
  tbuf xml = {0}, trainval = {0}, test = {0};
  if (!root || !*root) GC_FAIL(GC_ERR_ARG, "make-shapes: no folder given");
  if (n == 0 || n > 10000000 || size < 32 || size > 4096)
    GC_FAIL(GC_ERR_ARG, "make-shapes %s: %zu images of %dx%d (1 to 10000000 images, 32 to 4096 pixels)", root, n, size, size);
  if (strlen(root) > VOC_PATH - 100) GC_FAIL(GC_ERR_ARG, "make-shapes: folder name %s too long", root);
  char p[VOC_PATH];
  /* the root and the folders above it, then the VOC folders */
  snprintf(p, sizeof p, "%s", root);
  for (char *s = p + 1; *s; s++)
    if (*s == '/') {
      *s = '\0';
      GC_TRY(make_dir(p));
      *s = '/';
    }
  static const char *const sub[] = {"", "/VOC2007", "/VOC2007/Annotations", "/VOC2007/JPEGImages", "/VOC2007/ImageSets",
                                    "/VOC2007/ImageSets/Main"};
  for (size_t i = 0; i < sizeof sub / sizeof *sub; i++) {
    snprintf(p, sizeof p, "%s%s", root, sub[i]);
    GC_TRY(make_dir(p));
  }
  rgb = malloc((size_t)S * S * 3), mask = malloc((size_t)S * S), owner = malloc((size_t)S * S);
  if (!rgb || !mask || !owner) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "make-shapes: %dx%d images", S, S);
  snprintf(p, sizeof p, "%s/labels.txt", root);
  GC_TRY(write_file(p, "rectangle\nellipse\ntriangle\n", 27));
  for (size_t i = 0; i < n; i++) {
    rng g = rng_make(seed, i);
    int grey = 96 + rng_int(&g, 65);
    for (size_t k = 0; k < (size_t)S * S * 3; k++) rgb[k] = (uint8_t)(grey + rng_int(&g, 17) - 8);
    memset(owner, -1, (size_t)S * S);
    int want = 1 + rng_int(&g, 3), nshapes = 0, cls[4], ext[4][4];
    size_t total[4], visible[4];
    for (int s = 0; s < want; s++) {
      int placed = 0;
      for (int tries = 0; tries < 30 && !placed; tries++) {
        int c = rng_int(&g, 3);
        /* sides 20-50% of the image, aspect ratio 1:2 to 2:1 (the priors' range) */
        double side = rng_uniform(&g, 0.2, 0.5), ratio = exp(rng_uniform(&g, -log(2.0), log(2.0)));
        int bw = (int)lround(fmin(side * sqrt(ratio), 0.6) * S), bh = (int)lround(fmin(side / sqrt(ratio), 0.6) * S);
        int x0 = rng_int(&g, S - bw + 1), y0 = rng_int(&g, S - bh + 1);
        int e[4];
        size_t cnt = raster(S, c, x0, y0, bw, bh, mask, e);
        if (cnt < 4 || e[2] <= e[0] || e[3] <= e[1]) continue;
        int apart = 1; /* no shape touches another's box (2 pixels apart) */
        for (int j = 0; j < nshapes; j++)
          if (e[0] <= ext[j][2] + 2 && ext[j][0] <= e[2] + 2 && e[1] <= ext[j][3] + 2 && ext[j][1] <= e[3] + 2) apart = 0;
        if (!apart) continue;
        size_t lost[4] = {0, 0, 0, 0};
        for (size_t q = 0; q < (size_t)S * S; q++)
          if (mask[q] && owner[q] >= 0) lost[(int)owner[q]]++;
        int ok = 1;
        for (int j = 0; j < nshapes; j++) /* every earlier shape keeps at least half of its pixels */
          if (2 * (visible[j] - lost[j]) < total[j]) ok = 0;
        if (!ok) continue;
        /* a saturated colour: hue at random, full saturation, value 0.75 to 1 */
        double hue = rng_uniform(&g, 0, 6), val = rng_uniform(&g, 0.75, 1) * 255;
        int sec = (int)hue;
        double f = hue - sec, col[3];
        double up = val * f, down = val * (1 - f);
        switch (sec % 6) {
        case 0: col[0] = val, col[1] = up, col[2] = 0; break;
        case 1: col[0] = down, col[1] = val, col[2] = 0; break;
        case 2: col[0] = 0, col[1] = val, col[2] = up; break;
        case 3: col[0] = 0, col[1] = down, col[2] = val; break;
        case 4: col[0] = up, col[1] = 0, col[2] = val; break;
        default: col[0] = val, col[1] = 0, col[2] = down; break;
        }
        for (int j = 0; j < nshapes; j++) visible[j] -= lost[j];
        for (size_t q = 0; q < (size_t)S * S; q++)
          if (mask[q]) {
            owner[q] = (signed char)nshapes;
            for (int ch = 0; ch < 3; ch++) rgb[q * 3 + ch] = (uint8_t)lround(col[ch]);
          }
        cls[nshapes] = c;
        memcpy(ext[nshapes], e, sizeof e);
        total[nshapes] = visible[nshapes] = cnt;
        nshapes++;
        placed = 1;
      }
      if (!placed) break;
    }
    char id[32];
    snprintf(id, sizeof id, "%06zu", i + 1);
    snprintf(p, sizeof p, "%s/VOC2007/JPEGImages/%s.jpg", root, id);
    GC_TRY(write_jpeg(p, rgb, S, S));
    xml.n = 0;
    tprintf(&xml, "<annotation>\n\t<folder>VOC2007</folder>\n\t<filename>%s.jpg</filename>\n\t<source>\n"
                  "\t\t<database>gafcl make-shapes</database>\n\t</source>\n\t<size>\n\t\t<width>%d</width>\n"
                  "\t\t<height>%d</height>\n\t\t<depth>3</depth>\n\t</size>\n\t<segmented>0</segmented>\n", id, S, S);
    for (int j = 0; j < nshapes; j++)
      tprintf(&xml, "\t<object>\n\t\t<name>%s</name>\n\t\t<pose>Unspecified</pose>\n\t\t<truncated>0</truncated>\n"
                    "\t\t<difficult>0</difficult>\n\t\t<bndbox>\n\t\t\t<xmin>%d</xmin>\n\t\t\t<ymin>%d</ymin>\n"
                    "\t\t\t<xmax>%d</xmax>\n\t\t\t<ymax>%d</ymax>\n\t\t</bndbox>\n\t</object>\n",
              names[cls[j]], ext[j][0] + 1, ext[j][1] + 1, ext[j][2] + 1, ext[j][3] + 1);
    tprintf(&xml, "</annotation>\n");
    tprintf(i % 5 == 4 ? &test : &trainval, "%s\n", id);
    if (xml.oom || trainval.oom || test.oom) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "make-shapes: text");
    snprintf(p, sizeof p, "%s/VOC2007/Annotations/%s.xml", root, id);
    GC_TRY(write_file(p, xml.s, xml.n));
  }
  /* the lists last: a set cut short by an error is not listed */
  snprintf(p, sizeof p, "%s/VOC2007/ImageSets/Main/trainval.txt", root);
  GC_TRY(write_file(p, trainval.s ? trainval.s : "", trainval.n));
  snprintf(p, sizeof p, "%s/VOC2007/ImageSets/Main/test.txt", root);
  GC_TRY(write_file(p, test.s ? test.s : "", test.n));
cleanup:
  free(rgb), free(mask), free(owner);
  free(xml.s), free(trainval.s), free(test.s);
  return st;
}
