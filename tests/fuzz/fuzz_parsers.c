/* libFuzzer targets for every parser of outside input. Built with clang when GAFCL_FUZZ=ON, one binary
 * per target (GC_FUZZ_TARGET selects it): idx, cifar, npy, safetensors, config, jpeg, voc_xml. Each writes the
 * input to a temporary file and runs the parser on it (voc_xml parses it from memory); any crash, sanitizer
 * report or leak is a finding.
 *   scripts/fuzz.sh [seconds]   builds and runs them all from the seed corpora in tests/fuzz/corpus */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gc_data.h"
#include "gc_npy.h"
#include "gc_checkpoint.h"
#include "cli.h"

static char dir[64];

__attribute__((unused)) /* voc_xml parses from memory */
static const char *put(const char *name, const uint8_t *data, size_t size) {
  static char path[128];
  if (!dir[0]) {
    snprintf(dir, sizeof dir, "/tmp/gafcl-fuzz-XXXXXX");
    if (!mkdtemp(dir)) abort();
  }
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f) abort();
  if (size) fwrite(data, 1, size, f);
  fclose(f);
  return path;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
#if GC_FUZZ_TARGET == 1 /* idx (gzip'ed or plain): the same bytes as images and as labels */
  char p[128];
  snprintf(p, sizeof p, "%s", put("x-idx", data, size));
  gc_dataset d;
  if (gc_data_idx(&d, p, p) == 0) gc_data_free(&d);
#elif GC_FUZZ_TARGET == 2 /* CIFAR binary, both versions */
  put("test_batch.bin", data, size);
  put("test.bin", data, size);
  gc_dataset d;
  if (gc_data_cifar(&d, dir, 0, 0) == 0) gc_data_free(&d);
  if (gc_data_cifar(&d, dir, 1, 0) == 0) gc_data_free(&d);
#elif GC_FUZZ_TARGET == 3 /* .npy */
  gc_npy a;
  if (gc_npy_read(put("x.npy", data, size), &a) == 0) {
    float *lab = malloc((a.count ? a.count : 1) * sizeof *lab);
    if (strcmp(a.descr, "<f4")) gc_npy_labels(&a, 1000, lab, "x.npy");
    free(lab);
    gc_npy_free(&a);
  }
#elif GC_FUZZ_TARGET == 4 /* safetensors */
  int n;
  gc_ckpt_inspect(put("x.safetensors", data, size), &n);
#elif GC_FUZZ_TARGET == 5 /* the JSON configuration of gafcl train */
  gafcl_cfg c;
  cli_cfg_defaults(&c, CMD_TRAIN);
  char p[128];
  snprintf(p, sizeof p, "%s", put("config.json", data, size));
  char *argv[] = {"--config", p};
  if (cli_cfg_parse(&c, CMD_TRAIN, 2, argv) == 0) cli_cfg_validate(&c, CMD_TRAIN);
#elif GC_FUZZ_TARGET == 6 /* a JPEG file of an image folder */
  char *paths[1] = {(char *)put("x.jpg", data, size)};
  uint16_t label = 0;
  gc_dataset d;
  memset(&d, 0, sizeof d);
  d.n = 1, d.c = 3, d.h = d.w = 16, d.classes = 2, d.paths = paths, d.labels = &label, d.decode_train = size & 1;
  for (int c = 0; c < 3; c++) d.mean[c] = 0.5f, d.std[c] = 0.25f;
  float out[3 * 16 * 16];
  char msg[256];
  gc_data_folder_image(&d, 0, size, size * 31, out, msg, sizeof msg);
#elif GC_FUZZ_TARGET == 7 /* a Pascal VOC annotation (XML, expat); what it accepts must be consistent */
  static char classes[20][32] = {"aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
                                 "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
                                 "train", "tvmonitor"};
  gc_det_box boxes[4];
  int w, h, nb;
  char msg[256];
  if (gc_voc_parse_xml((const char *)data, size, "x.xml", classes, 20, &w, &h, boxes, 4, &nb, msg, sizeof msg) == 0) {
    if (w < 1 || h < 1 || w > 100000 || h > 100000 || nb < 0) abort();
    for (int i = 0; i < nb && i < 4; i++) {
      const gc_det_box *b = &boxes[i];
      if (!(b->x0 <= b->x1 && b->y0 <= b->y1 && b->x0 >= -1 && b->y0 >= -1 && b->x1 <= w && b->y1 <= h) ||
          b->label < 0 || b->label >= 20 || (b->difficult != 0 && b->difficult != 1))
        abort();
    }
  } else if (!strstr(msg, "x.xml")) {
    abort(); /* every error names the file */
  }
#endif
  return 0;
}
