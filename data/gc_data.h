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
} gc_dataset;

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
