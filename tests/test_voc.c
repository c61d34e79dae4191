/* Pascal VOC detection sets: the annotation parser on good and broken XML, a generated set of shapes
 * (gc_data_make_shapes) opened as training and test sets, the SSD augmentation (deterministic, boxes
 * in [0, 1]), evaluation targets equal to the annotations, and files that are not what they claim to be
 * (named pipes, truncated JPEGs, missing lists). No device needed. */
#include "gc_data.h"
#include "gafcl.h"
#include "gc_test.h"

#include <sys/stat.h>
#include <unistd.h>

static char dir[64];
static char classes[3][32] = {"rectangle", "ellipse", "triangle"};

static void put(const char *path, const char *text, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) {
    fprintf(stderr, "cannot write %s\n", path);
    exit(1);
  }
  fwrite(text, 1, n, f);
  fclose(f);
}

static void put_text(const char *path, const char *text) { put(path, text, strlen(text)); }

/* the whole file, NUL-terminated */
static char *slurp(const char *path, size_t *n) {
  *n = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc((size_t)len + 1);
  *n = fread(b, 1, (size_t)len, f);
  b[*n] = '\0';
  fclose(f);
  return b;
}

static int parse(const char *xml, int *w, int *h, gc_det_box *b, int cap, int *nb, char *msg, size_t mcap) {
  return gc_voc_parse_xml(xml, strlen(xml), "t/ann.xml", classes, 3, w, h, b, cap, nb, msg, mcap);
}

static const char good[] =
    "<?xml version=\"1.0\"?>\n"
    "<annotation>\n"
    "  <folder>VOC2007</folder><filename>x.jpg</filename>\n"
    "  <size><width>200</width><height> 100 </height><depth>3</depth></size>\n"
    "  <object>\n"
    "    <name>Ellipse</name><pose>Left</pose><truncated>1</truncated><difficult>1</difficult>\n"
    "    <bndbox><xmin>10</xmin><ymin>20</ymin><xmax>273.5</xmax><ymax>4&#56;</ymax></bndbox>\n"
    "    <part><name>head</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2</xmax><ymax>2</ymax></bndbox></part>\n"
    "    <actions><jumping>0</jumping></actions><point><x>3</x><y>4</y></point>\n"
    "  </object>\n"
    "  <object><name>triangle</name>\n"
    "    <bndbox><xmin>1</xmin><ymin>1.9</ymin><xmax>200</xmax><ymax>101</ymax></bndbox></object>\n"
    "</annotation>\n";

static void test_parse(void) {
  gc_det_box b[4];
  int w, h, nb;
  char msg[512];
  /* 273.5 would be outside the 200 wide image: use a wider one for this check */
  char xml[2048];
  snprintf(xml, sizeof xml, "%s", good);
  char *p = strstr(xml, "<width>200");
  memcpy(p, "<width>300", 10);
  CHECK(parse(xml, &w, &h, b, 4, &nb, msg, sizeof msg) == 0);
  if (msg[0]) fprintf(stderr, "  %s\n", msg);
  CHECK(w == 300 && h == 100 && nb == 2);
  CHECK(b[0].label == 1 && b[0].difficult == 1 && b[0].x0 == 9 && b[0].y0 == 19 && b[0].x1 == 272 && b[0].y1 == 47);
  CHECK(b[1].label == 2 && b[1].difficult == 0 && b[1].x0 == 0 && b[1].y0 == 0 && b[1].x1 == 199 && b[1].y1 == 100);
  /* more objects than room: the count is the file's */
  CHECK(parse(xml, &w, &h, b, 1, &nb, msg, sizeof msg) == 0 && nb == 2 && b[0].label == 1);

  /* broken input: -1, the message names the file (and the line where known) */
  struct {
    const char *from, *to, *expect;
  } bad[] = {
      {"</annotation>", "</annotatio>", "t/ann.xml:13: malformed XML"},
      {"<name>triangle", "<name>unicorn", "unknown class 'unicorn'"},
      {"<ymax>101</ymax>", "", "without <ymax>"},
      {"<width>300", "<width>-30", "<width> '-30'"},
      {"<height> 100 ", "<height> 0   ", "<height> '0'"},
      {"<xmin>10</xmin>", "<xmin>1e1</xmin>", "<xmin> '1e1': not a number"},
      {"<xmin>10</xmin>", "<xmin>10px</xmin>", "not a number"},
      {"<xmin>10</xmin>", "<xmin>300</xmin>", "xmax < xmin"},
      {"<xmax>200</xmax>", "<xmax>302</xmax>", "outside the image"},
      {"<name>triangle</name>", "<nome>triangle</nome>", "without <name>"},
      {"<difficult>1</difficult>", "<difficult>2</difficult>", "0 or 1"},
      {"<size>", "<sise>", "no <size>"},
      {"<annotation>", "<annotation><size><width>1</width><height>1</height></size>", "a second <size>"},
      {"<?xml version=\"1.0\"?>", "<!DOCTYPE a [<!ENTITY x \"y\">]>", "DOCTYPE"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char x[2048], *q = strstr(xml, bad[i].from);
    if (!q) {
      fprintf(stderr, "  case %zu: '%s' not found\n", i, bad[i].from);
      CHECK(0);
      continue;
    }
    size_t pre = (size_t)(q - xml);
    snprintf(x, sizeof x, "%.*s%s%s", (int)pre, xml, bad[i].to, q + strlen(bad[i].from));
    if (!strcmp(bad[i].from, "<size>")) { /* and the closing tag */
      char *c = strstr(x, "</size>");
      memcpy(c, "</sise>", 7);
    }
    msg[0] = '\0';
    int r = parse(x, &w, &h, b, 4, &nb, msg, sizeof msg);
    int ok = r == -1 && strstr(msg, "t/ann.xml") && strstr(msg, bad[i].expect);
    if (!ok) fprintf(stderr, "  case %zu (%s): r=%d msg '%s'\n", i, bad[i].expect, r, msg);
    CHECK(ok);
  }
  CHECK(gc_voc_parse_xml("", 0, "empty.xml", classes, 3, &w, &h, b, 4, &nb, msg, sizeof msg) == -1 &&
        strstr(msg, "empty.xml:") != NULL);
  CHECK(parse("<other/>", &w, &h, b, 4, &nb, msg, sizeof msg) == -1 && strstr(msg, "not <annotation>") != NULL);
}

static int boxes_ok(const float *t, int nclass, int *nboxes) {
  int ok = 1, n = 0, ended = 0;
  for (int i = 0; i < GC_DET_MAX_BOXES; i++) {
    const float *r = t + 2 + i * GC_DET_ROW;
    if (r[4] < 0) {
      ended = 1;
      ok &= r[0] == 0 && r[1] == 0 && r[2] == 0 && r[3] == 0 && r[4] == -1;
      continue;
    }
    n++;
    ok &= !ended && r[4] < nclass && r[0] >= 0 && r[1] >= 0 && r[2] <= 1 && r[3] <= 1 && r[0] < r[2] && r[1] < r[3];
  }
  *nboxes = n;
  return ok;
}

static void test_set(void) {
  char root[256], p[512];
  snprintf(root, sizeof root, "%s/shapes", dir);
  CHECK_OK(gc_data_make_shapes(root, 20, 64, 7));
  gc_dataset tr, te;
  CHECK_OK(gc_data_voc(&tr, root, "2007-trainval", 48, 1, 0));
  CHECK_OK(gc_data_voc(&te, root, " 2007-test ", 48, 0, 0));
  CHECK(tr.n + te.n == 20 && tr.n == 16 && tr.classes == 3 && te.classes == 3);
  CHECK(tr.c == 3 && tr.h == 48 && tr.w == 48 && tr.target_dim == GC_DET_TARGET_DIM && !tr.labels && !tr.targets);
  CHECK(tr.det && !strcmp(tr.det->class_names[2], "triangle") && !strcmp(te.det->ids[0], "VOC2007/000005"));
  CHECK(te.det->width[0] == 64 && te.det->height[0] == 64);
  /* the generator is deterministic */
  char root2[256];
  snprintf(root2, sizeof root2, "%s/shapes2/deeper", dir);
  CHECK_OK(gc_data_make_shapes(root2, 3, 64, 7));
  const char *files[] = {"VOC2007/Annotations/000002.xml", "VOC2007/JPEGImages/000003.jpg"};
  for (int i = 0; i < 2; i++) {
    size_t n1 = 0, n2 = 0;
    snprintf(p, sizeof p, "%s/%s", root, files[i]);
    char *a = slurp(p, &n1);
    snprintf(p, sizeof p, "%s/%s", root2, files[i]);
    char *b = slurp(p, &n2);
    CHECK(a && b && n1 == n2 && !memcmp(a, b, n1));
    free(a), free(b);
  }

  const size_t isz = 3 * 48 * 48 * sizeof(float);
  float *o1 = malloc(isz), *o2 = malloc(isz), *o3 = malloc(isz);
  float t1[GC_DET_TARGET_DIM], t2[GC_DET_TARGET_DIM];
  char msg[512];
  /* training: the same keys give the same bits; boxes stay valid through expand, crop and flip */
  int bad = 0, differ = 0, total = 0;
  for (size_t i = 0; i < tr.n; i++)
    for (uint64_t k = 0; k < 6; k++) {
      int n;
      if (gc_data_voc_image(&tr, i, k * 977 + i, k, o1, t1, msg, sizeof msg) != 0) {
        fprintf(stderr, "  %s\n", msg);
        bad++;
        continue;
      }
      if (k == 0) { /* again, and keep it to compare the other keys' with */
        CHECK(gc_data_voc_image(&tr, i, k * 977 + i, k, o2, t2, msg, sizeof msg) == 0);
        CHECK(!memcmp(o1, o2, isz) && !memcmp(t1, t2, sizeof t1));
      } else {
        differ += memcmp(o1, o2, isz) != 0;
      }
      if (k == 1) { /* a later call with the same keys, after other images: the same bits */
        CHECK(gc_data_voc_image(&tr, i, k * 977 + i, k, o3, t2, msg, sizeof msg) == 0);
        CHECK(!memcmp(o1, o3, isz) && !memcmp(t1, t2, sizeof t1));
      }
      if (!boxes_ok(t1, 3, &n)) {
        bad++;
        fprintf(stderr, "  image %zu key %d: bad targets (%g %g %g %g %g)\n", i, (int)k, t1[2], t1[3], t1[4], t1[5], t1[6]);
      }
      total += n;
      CHECK(t1[0] == 64 && t1[1] == 64);
    }
  CHECK(bad == 0 && total > 0 && differ == (int)tr.n * 5);
  /* evaluation: resize only; the targets are the annotation's boxes over the image size */
  for (size_t i = 0; i < te.n; i++) {
    CHECK(gc_data_voc_image(&te, i, 1, 2, o1, t1, msg, sizeof msg) == 0);
    CHECK(gc_data_voc_image(&te, i, 99, 98, o2, t2, msg, sizeof msg) == 0);
    CHECK(!memcmp(o1, o2, isz) && !memcmp(t1, t2, sizeof t1));
    snprintf(p, sizeof p, "%s/VOC2007/Annotations/%s.xml", root, te.det->ids[i] + 8);
    size_t n;
    char *x = slurp(p, &n);
    gc_det_box b[GC_DET_MAX_BOXES];
    int w, h, nb, ok = x != NULL;
    ok = ok && gc_voc_parse_xml(x, n, p, classes, 3, &w, &h, b, GC_DET_MAX_BOXES, &nb, msg, sizeof msg) == 0;
    free(x);
    for (int j = 0; ok && j < GC_DET_MAX_BOXES; j++) {
      const float *r = t1 + 2 + j * GC_DET_ROW;
      if (j < nb)
        ok = r[0] == b[j].x0 / 64 && r[1] == b[j].y0 / 64 && r[2] == b[j].x1 / 64 && r[3] == b[j].y1 / 64 &&
             r[4] == (float)b[j].label && r[5] == 0;
      else
        ok = r[4] == -1;
    }
    CHECK(ok && nb >= 1);
    float lo = 1e9f, hi = -1e9f;
    for (int j = 0; j < 3 * 48 * 48; j++) lo = fminf(lo, o1[j]), hi = fmaxf(hi, o1[j]);
    CHECK(lo >= -123.5f && hi <= 151.5f && hi - lo > 50);
  }
  /* truncation keeps the first images; free still releases everything */
  gc_data_truncate(&tr, 3);
  CHECK(tr.n == 3);
  gc_data_free(&tr);
  CHECK(tr.det == NULL && tr.n == 0);

  /* a truncated JPEG: decoding fails naming it */
  snprintf(p, sizeof p, "%s", te.paths[1]);
  size_t n;
  char *jpg = slurp(p, &n);
  put(p, jpg, n / 2);
  free(jpg);
  msg[0] = '\0';
  CHECK(gc_data_voc_image(&te, 1, 1, 2, o1, t1, msg, sizeof msg) == -1 && strstr(msg, p) != NULL);
  /* a named pipe in place of the JPEG after the set was opened: refused, not waited on */
  unlink(p);
  CHECK(mkfifo(p, 0600) == 0);
  CHECK(gc_data_voc_image(&te, 1, 1, 2, o1, t1, msg, sizeof msg) == -1 && strstr(msg, "named pipe") != NULL);
  /* opening the set now refuses the pipe, naming it */
  gc_dataset x;
  CHECK_STATUS(gc_data_voc(&x, root, "2007-test", 48, 0, 0), GC_ERR_IO);
  CHECK(strstr(gc_last_error(), p) != NULL && strstr(gc_last_error(), "named pipe") != NULL);
  unlink(p);
  /* a named pipe as an annotation */
  snprintf(p, sizeof p, "%s/VOC2007/Annotations/000010.xml", root);
  unlink(p);
  CHECK(mkfifo(p, 0600) == 0);
  CHECK_STATUS(gc_data_voc(&x, root, "2007-test", 48, 0, 0), GC_ERR_IO);
  CHECK(strstr(gc_last_error(), "000010.xml") != NULL && strstr(gc_last_error(), "named pipe") != NULL);
  unlink(p);
  /* an image whose size is not the annotation's */
  snprintf(p, sizeof p, "%s/VOC2007/Annotations/%s.xml", root, te.det->ids[0] + 8);
  char *ann = slurp(p, &n), *wp = strstr(ann, "<width>64");
  memcpy(wp, "<width>65", 9);
  put(p, ann, n);
  free(ann);
  gc_data_free(&te);
  snprintf(p, sizeof p, "%s/VOC2007/ImageSets/Main/one.txt", root);
  put_text(p, "\n000005\n\n");
  CHECK_OK(gc_data_voc(&te, root, "2007-one", 48, 0, 0));
  CHECK(te.n == 1 && gc_data_voc_image(&te, 0, 1, 2, o1, t1, msg, sizeof msg) == -1 && strstr(msg, "000005.jpg: 64x64") &&
        strstr(msg, "Annotations/000005.xml gives 65x64"));
  gc_data_free(&te);
  /* a missing list, a bad id, a bad set name, an unknown class, duplicate class names */
  CHECK_STATUS(gc_data_voc(&x, root, "2007-trainval,2007-nosuch", 48, 1, 0), GC_ERR_IO);
  CHECK(strstr(gc_last_error(), "ImageSets/Main/nosuch.txt") != NULL);
  put_text(p, "000001\n../etc/passwd\n");
  CHECK_STATUS(gc_data_voc(&x, root, "2007-one", 48, 0, 0), GC_ERR_FORMAT);
  CHECK(strstr(gc_last_error(), "one.txt:2:") != NULL);
  CHECK_STATUS(gc_data_voc(&x, root, "2007", 48, 0, 0), GC_ERR_ARG);
  snprintf(p, sizeof p, "%s/labels.txt", root);
  put_text(p, "rectangle\nellipse\n");
  CHECK_STATUS(gc_data_voc(&x, root, "2007-trainval", 48, 1, 0), GC_ERR_FORMAT);
  CHECK(strstr(gc_last_error(), "Annotations/0000") != NULL && strstr(gc_last_error(), "unknown class 'triangle'"));
  put_text(p, "rectangle\n  ellipse \nrectangle\n");
  CHECK_STATUS(gc_data_voc(&x, root, "2007-trainval", 48, 1, 0), GC_ERR_FORMAT);
  CHECK(strstr(gc_last_error(), "labels.txt:3: class 'rectangle' listed twice") != NULL);
  /* no labels.txt: the 20 VOC classes, none of them a shape */
  unlink(p);
  CHECK_STATUS(gc_data_voc(&x, root, "2007-trainval", 48, 1, 0), GC_ERR_FORMAT);
  CHECK(strstr(gc_last_error(), "the 20 classes: aeroplane bicycle") != NULL);
  free(o1), free(o2), free(o3);
}

/* difficult objects: dropped from training images unless kept; images left empty are skipped */
static void test_difficult(void) {
  char root[256], p[512];
  snprintf(root, sizeof root, "%s/diff", dir);
  CHECK_OK(gc_data_make_shapes(root, 2, 32, 3));
  snprintf(p, sizeof p, "%s/VOC2007/Annotations/000001.xml", root);
  put_text(p, "<annotation><size><width>32</width><height>32</height></size>"
              "<object><name>ellipse</name><difficult>1</difficult>"
              "<bndbox><xmin>2</xmin><ymin>3</ymin><xmax>20</xmax><ymax>30</ymax></bndbox></object></annotation>");
  snprintf(p, sizeof p, "%s/VOC2007/ImageSets/Main/both.txt", root);
  put_text(p, "000001\n000002\n");
  gc_dataset d;
  CHECK_OK(gc_data_voc(&d, root, "2007-both", 32, 1, 0));
  CHECK(d.n == 1 && !strcmp(d.det->ids[0], "VOC2007/000002"));
  gc_data_free(&d);
  CHECK_OK(gc_data_voc(&d, root, "2007-both", 32, 1, 1));
  CHECK(d.n == 2);
  gc_data_free(&d);
  CHECK_OK(gc_data_voc(&d, root, "2007-both", 32, 0, 0));
  float out[3 * 32 * 32], t[GC_DET_TARGET_DIM];
  char msg[256];
  CHECK(d.n == 2 && gc_data_voc_image(&d, 0, 0, 0, out, t, msg, sizeof msg) == 0);
  CHECK(t[2] == 1.0f / 32 && t[3] == 2.0f / 32 && t[4] == 19.0f / 32 && t[5] == 29.0f / 32 && t[6] == 1 && t[7] == 1 && t[8 + 4] == -1);
  gc_data_free(&d);
}

int main(void) {
  alarm(120); /* a read that blocks (a named pipe) fails the test instead of hanging it */
  snprintf(dir, sizeof dir, "/tmp/gafcl-voc-XXXXXX");
  if (!mkdtemp(dir)) return 1;
  test_parse();
  test_set();
  test_difficult();
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  return gc_test_summary("test_voc");
}
