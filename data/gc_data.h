/* Data sets and batches: Fashion-MNIST/MNIST (idx, gzip'ed or not), CIFAR-10/100 binary, ImageNet-style
 * JPEG folders, .npy pairs, synthetic data; augmentation (random crop with zero padding, horizontal flip,
 * per-channel normalisation) from a counter-based generator, and a prefetch thread with a bounded queue
 * so the device never waits for batches to be assembled.
 *
 * Every image carries targets of a task-defined kind: target_dim floats (gc_task.h). The readers here
 * give classification targets (the class index, target_dim 1, from `labels`); a set with other targets
 * (boxes, ...) fills `targets` with target_dim floats per image instead. */
#ifndef GC_DATA_H
#define GC_DATA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gc_dataset {
  char name[64];
  size_t n;            /* images */
  int c, h, w;         /* image shape */
  int classes;
  uint8_t *images;     /* n * c * h * w, NCHW */
  float *fimages;      /* or float images, already normalised (.npy sets): used as they are */
  char **paths;        /* or JPEG files, decoded when a batch is assembled (image folders) */
  int decode_train;    /* folders: random-resized crop + flip (else resize and centre crop) */
  uint16_t *labels;    /* n class indices (classification), or NULL when `targets` is set */
  size_t target_dim;   /* floats of targets per image: 1 for labels (0 is read as 1) */
  float *targets;      /* or n * target_dim task-defined floats, copied as they are (no geometric
                          augmentation transforms them: the loader refuses crops and flips then) */
  float mean[3], std[3]; /* normalisation per channel (of values in [0, 1]) */
  struct gc_det_set *det; /* detection sets (gc_data_voc): images decoded and transformed with their boxes */
} gc_dataset;

/* ---- object detection (Pascal VOC layout) ----
 * A detection image's targets (GC_DET_TARGET_DIM floats): the original width and height in pixels, then
 * GC_DET_MAX_BOXES rows of (xmin, ymin, xmax, ymax, label, difficult), coordinates relative to the
 * image in [0, 1] (after augmentation), label the object class from 0 (background excluded, as
 * ssd.pytorch), difficult 0 or 1; unused rows have label -1. */
#include "gc_targets.h" /* GC_DET_MAX_BOXES, GC_DET_ROW, GC_DET_TARGET_DIM, GC_DET_MAX_CLASSES */

typedef struct gc_det_box {
  float x0, y0, x1, y1; /* pixels, 0-based (the VOC XML value - 1, as ssd.pytorch) */
  int label;            /* class index from 0 */
  int difficult;
} gc_det_box;

/* What a detection set keeps per image (d->det, NULL for other sets). */
typedef struct gc_det_set {
  int nclasses;
  char (*class_names)[32];   /* nclasses names */
  char **ids;                /* per image: "VOC2007/000005" (year folder / image id) */
  int *width, *height;       /* per image, from the XML's <size> */
  size_t *box_start;         /* per image: its boxes are boxes[box_start[i] .. box_start[i + 1]) */
  gc_det_box *boxes;
  int size;                  /* images are resized to size x size */
  int train;                 /* 1: SSD's augmentation; 0: resize only */
  int keep_difficult;        /* training: keep "difficult" objects as targets (ssd.pytorch: no) */
  size_t nalloc;             /* images the per-image arrays hold (gc_data_truncate lowers only d->n) */
} gc_det_set;

/* The VOC class list: the 20 Pascal VOC classes, or the lines of ROOT/labels.txt when it exists (one
 * name per line, as gafcl make-shapes writes). */
/* A Pascal VOC set: ROOT/VOC2007/Annotations/<id>.xml, JPEGImages/<id>.jpg, ImageSets/Main/<set>.txt;
 * `sets` is a comma-separated list "2007-trainval,2012-trainval". Every XML is read (expat) and checked
 * when the set is opened; an unreadable or broken file is an error naming it. train: SSD's augmentation
 * (photometric distortion, zoom-out, min-IoU random crop, flip), then resize to size x size and mean
 * subtraction (ssd.pytorch's means 104, 117, 123 in BGR order, on 0..255 values); else resize only and
 * mean subtraction. keep_difficult: difficult objects stay targets of training images (evaluation sets
 * always keep them, flagged); a training image left without objects is skipped (silently). Coordinates
 * are read as numbers (decimals too), truncated to integers as int(float(text)), then 1 subtracted; an
 * image with more than GC_DET_MAX_BOXES objects is an error. */
int gc_data_voc(gc_dataset *d, const char *root, const char *sets, int size, int train, int keep_difficult);
/* Parse one VOC annotation from memory (the XML text); classes as gc_data_voc's list. Fills *w, *h and
 * up to cap boxes; *nboxes = the number in the file. -1 with a message naming `name` on broken input. */
int gc_voc_parse_xml(const char *xml, size_t len, const char *name, char (*classes)[32], int nclasses, int *w, int *h,
                     gc_det_box *boxes, int cap, int *nboxes, char *msg, size_t msgcap);
/* Decode and transform image idx of a detection set: the image (3 x size x size) and its targets
 * (GC_DET_TARGET_DIM floats); the random numbers key the augmentation. -1 with a message. */
int gc_data_voc_image(const gc_dataset *d, size_t idx, uint64_t r1, uint64_t r2, float *out, float *targets, char *msg,
                      size_t cap);
/* The class names of a detection folder: the lines of ROOT/labels.txt when it exists, else the 20
 * Pascal VOC classes (ROOT NULL: those). */
int gc_data_det_classes(const char *root, char (*names)[32], int cap, int *n);
/* One JPEG file as a detection net's input: decoded, resized to size x size, means subtracted as
 * gc_data_voc's evaluation images; its original width and height. -1 with a message naming the file. */
int gc_data_det_file(const char *path, int size, float *out, int *w, int *h, char *msg, size_t cap);
/* Write a generated detection set in the VOC layout: ROOT/VOC2007/{Annotations,JPEGImages,
 * ImageSets/Main/{trainval,test}.txt} and ROOT/labels.txt (rectangle, ellipse, triangle), n images of
 * size x size, each with 1-3 filled shapes of random colours on a noisy background (sides 20-50% of the
 * image, aspect ratios 1:2 to 2:1, apart from each other), 80% trainval and 20% test, from seed. */
int gc_data_make_shapes(const char *root, size_t n, int size, uint64_t seed);

/* The Fashion-MNIST train or test split from `dir` (default: the Debian package dataset-fashion-mnist,
 * /usr/share/datasets/fashion-mnist). Reads train-images-idx3-ubyte(.gz) etc. */
int gc_data_fashion_mnist(gc_dataset *d, const char *dir, int train);
/* Any idx image/label file pair (gzip'ed or not), e.g. MNIST. */
int gc_data_idx(gc_dataset *d, const char *images_path, const char *labels_path);
/* CIFAR-10 (data_batch_1..5.bin / test_batch.bin) or CIFAR-100 (train.bin / test.bin) from `dir`. */
int gc_data_cifar(gc_dataset *d, const char *dir, int cifar100, int train);
/* A pair of .npy files: float32 images (N, C, H, W), already normalised, and integer labels (N). */
int gc_data_npy(gc_dataset *d, const char *images_path, const char *labels_path);
/* An ImageNet-style folder ROOT/<class>/<image>.jpg (classes in sorted order) producing size x size RGB
 * images: training (train=1) with random-resized crops and flips, else resize + centre crop. */
int gc_data_folder(gc_dataset *d, const char *root, int size, int train);
/* Decode and transform image idx of a folder set into out (3 x size x size); -1 with a message. */
int gc_data_folder_image(const gc_dataset *d, size_t idx, uint64_t r1, uint64_t r2, float *out, char *msg, size_t cap);
/* Deterministic synthetic data: n images of c x h x w, `classes` classes, from a seed. */
int gc_data_synthetic(gc_dataset *d, size_t n, int c, int h, int w, int classes, uint64_t seed);
/* Keep the first n images (n >= the set's size keeps all). */
void gc_data_truncate(gc_dataset *d, size_t n);
void gc_data_free(gc_dataset *d);

/* Batches: an epoch is a permutation of the set (seeded by seed and epoch), cut into batches; the last
 * partial batch is dropped when drop_last, else it is padded by wrapping around (the training loop only
 * counts the real images). Augmentation per image is keyed by (seed, epoch, position), so a run resumed
 * at an epoch boundary sees exactly the batches an uninterrupted one would. */
typedef struct gc_augment {
  int crop_pad;   /* random crop back to h x w after zero-padding by this many pixels (0: off) */
  int flip;       /* random horizontal flip */
  int normalize;  /* (x/255 - mean) / std per channel */
} gc_augment;

typedef struct gc_loader gc_loader;
/* Start a loader producing batches of `batch` images (float NCHW) and their targets (batch * target_dim
 * floats; classification: the class indices) in a background thread, `depth` batches ahead. shuffle=0
 * keeps the set's order (evaluation). */
int gc_loader_create(const gc_dataset *d, size_t batch, int shuffle, const gc_augment *aug, uint64_t seed,
                     int depth, gc_loader **out);
/* A data-parallel run's loader: `gbatch` is the global batch; this process (rank of nranks) gets its share
 * of each global batch of the epoch's order (gc_shard of the batch's real images: the first ranks take one
 * more when it does not divide), padded by wrapping around to gc_shard(gbatch)'s count. Augmentation is
 * keyed by the global position, so any number of processes sees the images a single one would. */
int gc_loader_create_shard(const gc_dataset *d, size_t gbatch, int rank, int nranks, int shuffle,
                           const gc_augment *aug, uint64_t seed, int depth, gc_loader **out);
/* Rank `rank`'s share of n items split over nranks: [*offset, *offset + *count), the first n % nranks
 * ranks one more. */
void gc_shard(size_t n, int rank, int nranks, size_t *offset, size_t *count);
/* Batches per epoch (the last one padded); floats of targets per image. */
size_t gc_loader_batches(const gc_loader *l);
size_t gc_loader_target_dim(const gc_loader *l);
/* Begin epoch e (0-based); call before the epoch's first gc_loader_next. */
int gc_loader_start_epoch(gc_loader *l, long epoch);
/* The next batch of the epoch: pointers valid until the following call; *real = images that are not
 * padding. 0 when the epoch is over; -1 (GC_ERR_FORMAT recorded) when an image could not be decoded. */
int gc_loader_next(gc_loader *l, const float **images, const float **targets, size_t *real);
void gc_loader_free(gc_loader *l);

#ifdef __cplusplus
}
#endif
#endif
