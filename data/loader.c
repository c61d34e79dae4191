/* Batches with augmentation, assembled by a background thread into a bounded ring of slots. */
#include "gc_data.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gc_error.h"

typedef struct slot {
  float *images, *targets;
  size_t real;
  long batch; /* index within the epoch, -1 when empty */
} slot;

struct gc_loader {
  const gc_dataset *d;
  size_t batch, nbatches;
  size_t gbatch;      /* the global batch of a data-parallel run (== batch for one process) */
  int rank, nranks;   /* this process's share of every global batch */
  int shuffle;
  gc_augment aug;
  size_t tdim;        /* target floats per image */
  uint64_t seed;
  int depth;
  slot *slots;
  size_t *perm;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  long epoch;         /* the epoch being produced; -1 none */
  long produced;      /* batches of this epoch handed to slots */
  long consumed;      /* batches of this epoch taken by the consumer */
  int held;           /* the consumer holds slot (consumed - 1) % depth */
  int quit;
  int generation;     /* bumps on every start_epoch: a producer mid-batch drops stale work */
  char bad[512];      /* the first image that could not be decoded */
};

static uint64_t mix(uint64_t a, uint64_t b, uint64_t c) {
  uint64_t z = a * 0x9e3779b97f4a7c15ull ^ (b + 0x632be59bd9b4e019ull) * 0xbf58476d1ce4e5b9ull ^
               (c + 0x85ebca6b27d4eb4full) * 0x94d049bb133111ebull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static void make_perm(gc_loader *l, long epoch) {
  size_t n = l->d->n;
  for (size_t i = 0; i < n; i++) l->perm[i] = i;
  if (!l->shuffle) return;
  for (size_t i = n - 1; i > 0; i--) {
    size_t j = (size_t)(mix(l->seed, (uint64_t)epoch, i) % (i + 1));
    size_t t = l->perm[i];
    l->perm[i] = l->perm[j];
    l->perm[j] = t;
  }
}

static void targets_of(const gc_loader *l, size_t idx, float *t) {
  const gc_dataset *d = l->d;
  if (d->targets)
    memcpy(t, d->targets + idx * l->tdim, l->tdim * sizeof *t);
  else
    t[0] = (float)d->labels[idx];
}

/* image `pos` of the epoch (wrapping around for padding) into out (c*h*w floats), its targets into t */
static void assemble(gc_loader *l, long epoch, size_t pos, float *out, float *t) {
  const gc_dataset *d = l->d;
  size_t idx = l->perm[pos % d->n];
  int C = d->c, H = d->h, W = d->w;
  const uint8_t *src = d->images ? d->images + idx * (size_t)C * H * W : NULL;
  const float *fsrc = d->fimages ? d->fimages + idx * (size_t)C * H * W : NULL;
  uint64_t r = mix(l->seed ^ 0x5eed, (uint64_t)epoch, pos);
  if (d->det) { /* detection: the image and its boxes transformed together */
    char msg[512];
    if (gc_data_voc_image(d, idx, r, mix(r, 17, 23), out, t, msg, sizeof msg) != 0) {
      for (size_t k = 0; k < (size_t)C * H * W; k++) out[k] = 0.0f;
      for (size_t k = 0; k < l->tdim; k++) t[k] = k >= 2 && (k - 2) % GC_DET_ROW == 4 ? -1.0f : 0.0f;
      pthread_mutex_lock(&l->mu);
      if (!l->bad[0]) snprintf(l->bad, sizeof l->bad, "%s", msg);
      pthread_mutex_unlock(&l->mu);
    }
    return;
  }
  if (d->paths) {
    char msg[512];
    targets_of(l, idx, t);
    if (gc_data_folder_image(d, idx, r, mix(r, 17, 23), out, msg, sizeof msg) != 0) {
      /* a broken file: remembered (the consumer reports it) and replaced by zeros */
      for (size_t k = 0; k < (size_t)C * H * W; k++) out[k] = 0.0f;
      pthread_mutex_lock(&l->mu);
      if (!l->bad[0]) snprintf(l->bad, sizeof l->bad, "%s", msg);
      pthread_mutex_unlock(&l->mu);
    }
    return;
  }
  int dy = 0, dx = 0, flip = 0;
  if (l->aug.crop_pad > 0) {
    int span = 2 * l->aug.crop_pad + 1;
    dy = (int)(r % (uint64_t)span) - l->aug.crop_pad;
    dx = (int)((r >> 16) % (uint64_t)span) - l->aug.crop_pad;
  }
  if (l->aug.flip) flip = (int)((r >> 40) & 1);
  for (int c = 0; c < C; c++) {
    float m = l->aug.normalize && src ? d->mean[c] : 0.0f, s = l->aug.normalize && src ? d->std[c] : 1.0f;
    for (int y = 0; y < H; y++)
      for (int x = 0; x < W; x++) {
        int sy = y + dy, sx0 = flip ? W - 1 - x : x, sx = sx0 + dx;
        float v = 0.0f; /* zero padding in pixel space, as torchvision's RandomCrop(padding=p) */
        if (sy >= 0 && sy < H && sx >= 0 && sx < W) {
          size_t o = ((size_t)c * H + (size_t)sy) * W + (size_t)sx;
          v = src ? src[o] / 255.0f : fsrc[o];
        } else if (fsrc) {
          v = m; /* normalised data: pad with 0 after normalisation */
        }
        out[((size_t)c * H + (size_t)y) * W + (size_t)x] = fsrc ? v : (v - m) / s;
      }
  }
  targets_of(l, idx, t);
}

static void *producer(void *arg) {
  gc_loader *l = arg;
  size_t per = (size_t)l->d->c * l->d->h * l->d->w;
  pthread_mutex_lock(&l->mu);
  for (;;) {
    while (!l->quit && (l->epoch < 0 || l->produced >= (long)l->nbatches ||
                        l->produced - l->consumed >= l->depth - 1))
      pthread_cond_wait(&l->cv, &l->mu);
    if (l->quit) break;
    long b = l->produced, epoch = l->epoch;
    int gen = l->generation;
    slot *s = &l->slots[b % l->depth];
    pthread_mutex_unlock(&l->mu);
    size_t real = 0, first = (size_t)b * l->gbatch, T = l->d->n - first;
    if (T > l->gbatch) T = l->gbatch; /* the global batch's real images */
    size_t off, cnt;
    gc_shard(T, l->rank, l->nranks, &off, &cnt);
    for (size_t k = 0; k < l->batch; k++) {
      /* this rank's images of the global batch, then padding (not counted real; positions past the set wrap
       * around) */
      size_t pos = first + off + k;
      if (k < cnt) real++;
      assemble(l, epoch, pos, s->images + k * per, s->targets + k * l->tdim);
    }
    pthread_mutex_lock(&l->mu);
    if (gen != l->generation) continue; /* the epoch was restarted meanwhile */
    s->real = real;
    s->batch = b;
    l->produced++;
    pthread_cond_broadcast(&l->cv);
  }
  pthread_mutex_unlock(&l->mu);
  return NULL;
}

void gc_shard(size_t n, int rank, int nranks, size_t *offset, size_t *count) {
  size_t r = (size_t)rank, q = n / (size_t)nranks, m = n % (size_t)nranks;
  *offset = r * q + (r < m ? r : m);
  *count = q + (r < m ? 1 : 0);
}

int gc_loader_create(const gc_dataset *d, size_t batch, int shuffle, const gc_augment *aug, uint64_t seed,
                     int depth, gc_loader **out) {
  return gc_loader_create_shard(d, batch, 0, 1, shuffle, aug, seed, depth, out);
}

int gc_loader_create_shard(const gc_dataset *d, size_t gbatch, int rank, int nranks, int shuffle,
                           const gc_augment *aug, uint64_t seed, int depth, gc_loader **out) {
  *out = NULL;
  if (nranks < 1 || rank < 0 || rank >= nranks) GC_FAIL(GC_ERR_ARG, "loader: rank %d of %d", rank, nranks);
  if (d->n == 0 || gbatch < (size_t)nranks)
    GC_FAIL(GC_ERR_ARG, "loader: %zu images, a global batch of %zu for %d processes (at least one image each)", d->n,
            gbatch, nranks);
  size_t off, batch;
  gc_shard(gbatch, rank, nranks, &off, &batch);
  if (!d->targets && !d->labels && !d->det) GC_FAIL(GC_ERR_ARG, "loader: %s has neither labels nor targets", d->name);
  if (d->targets && (d->paths || (aug && (aug->crop_pad > 0 || aug->flip))))
    GC_FAIL(GC_ERR_ARG, "loader: %s: crops and flips would not transform its task's targets", d->name);
  gc_loader *l = calloc(1, sizeof *l);
  if (!l) GC_FAIL(GC_ERR_HOST_MEM, "loader");
  l->d = d;
  l->batch = batch;
  l->gbatch = gbatch;
  l->rank = rank;
  l->nranks = nranks;
  l->nbatches = (d->n + gbatch - 1) / gbatch;
  l->shuffle = shuffle;
  if (aug) l->aug = *aug;
  l->tdim = d->det ? GC_DET_TARGET_DIM : d->targets ? (d->target_dim ? d->target_dim : 1) : 1;
  l->seed = seed;
  l->depth = depth < 2 ? 2 : depth + 1; /* one slot is held by the consumer */
  l->epoch = -1;
  l->slots = calloc((size_t)l->depth, sizeof *l->slots);
  l->perm = malloc(d->n * sizeof *l->perm);
  size_t per = (size_t)d->c * d->h * d->w;
  int ok = l->slots && l->perm;
  for (int i = 0; ok && i < l->depth; i++) {
    l->slots[i].images = malloc(batch * per * sizeof(float));
    l->slots[i].targets = malloc(batch * l->tdim * sizeof(float));
    ok = l->slots[i].images && l->slots[i].targets;
  }
  if (!ok) {
    gc_loader_free(l);
    GC_FAIL(GC_ERR_HOST_MEM, "loader buffers for %d batches of %zu", l->depth, batch);
  }
  pthread_mutex_init(&l->mu, NULL);
  pthread_cond_init(&l->cv, NULL);
  if (pthread_create(&l->thread, NULL, producer, l) != 0) {
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    l->thread = 0;
    gc_loader_free(l);
    GC_FAIL(GC_ERR_HOST_MEM, "cannot start the prefetch thread");
  }
  *out = l;
  return GC_OK;
}

size_t gc_loader_batches(const gc_loader *l) { return l->nbatches; }
size_t gc_loader_target_dim(const gc_loader *l) { return l->tdim; }

int gc_loader_start_epoch(gc_loader *l, long epoch) {
  pthread_mutex_lock(&l->mu);
  l->generation++;
  l->epoch = -1;
  pthread_mutex_unlock(&l->mu);
  make_perm(l, epoch); /* the producer does not touch perm while epoch < 0 */
  pthread_mutex_lock(&l->mu);
  l->epoch = epoch;
  l->produced = l->consumed = 0;
  l->held = 0;
  pthread_cond_broadcast(&l->cv);
  pthread_mutex_unlock(&l->mu);
  return GC_OK;
}

int gc_loader_next(gc_loader *l, const float **images, const float **targets, size_t *real) {
  pthread_mutex_lock(&l->mu);
  if (l->epoch < 0 || l->consumed >= (long)l->nbatches) {
    pthread_mutex_unlock(&l->mu);
    return 0;
  }
  while (l->produced <= l->consumed) pthread_cond_wait(&l->cv, &l->mu);
  if (l->bad[0]) {
    gc_error_set(GC_ERR_FORMAT, __FILE__, __LINE__, "%s", l->bad);
    l->bad[0] = '\0';
    pthread_mutex_unlock(&l->mu);
    return -1;
  }
  slot *s = &l->slots[l->consumed % l->depth];
  l->consumed++;
  pthread_cond_broadcast(&l->cv); /* the previous slot is free again */
  pthread_mutex_unlock(&l->mu);
  *images = s->images;
  *targets = s->targets;
  *real = s->real;
  return 1;
}

void gc_loader_free(gc_loader *l) {
  if (!l) return;
  if (l->thread) {
    pthread_mutex_lock(&l->mu);
    l->quit = 1;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
  }
  for (int i = 0; l->slots && i < l->depth; i++) {
    free(l->slots[i].images);
    free(l->slots[i].targets);
  }
  free(l->slots);
  free(l->perm);
  free(l);
}
