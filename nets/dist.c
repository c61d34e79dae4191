/* Data-parallel training (dist.h): buckets of gradients reduced through host memory while the backward
 * pass runs, in a fixed order. */
#include "dist.h"

#include "net_internal.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct bucket {
  int first, count;   /* d->order[first .. first + count) */
  size_t n, chunk;    /* packed floats; the per-rank chunk, ceil(n / size) */
  int ready_layer;    /* its gradients are all written once the backward has passed this layer */
  float *host;        /* size * chunk floats: the packed gradients, then their reduction */
  cl_event read_ev;   /* the last of its reads (the queue is in order) */
} bucket;

/* where one tensor of the shared state lives */
typedef struct seg {
  gc_arena *arena;
  size_t offset, n;
} seg;

struct gc_dist {
  gc_ctx *ctx;
  gc_net *net;
  gc_optim *opt;
  gc_comm comm;
  int overlap;
  int *order;         /* parameters in the order the backward pass finishes them */
  size_t *packed;     /* per parameter (index as gc_net_param): its offset in its bucket's packed floats */
  bucket *b;
  int nb, next;       /* buckets; the next one whose reads are to be enqueued */
  float *recv, *red;  /* size * max chunk, max chunk */
  seg *segs;          /* parameters, then buffers, then optimizer state */
  int nsegs, nparam_segs, nbuf_segs;
  size_t state_floats, buf_floats;
  const double *w;
  /* when the last bucket's read completed (the backward pass is over), from the runtime's callback */
  atomic_int done_flag;
  double done_at;
  cl_event cb_ev;     /* the last bucket's read, held until its callback has run */
};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

uint64_t gc_dist_hash_bytes(uint64_t h, const void *p, size_t n) {
  const unsigned char *c = p;
  for (size_t i = 0; i < n; i++) h = (h ^ c[i]) * 0x100000001b3ull;
  return h;
}

static size_t numel(const gc_tensor *t) { return gc_tensor_numel(t); }

int gc_dist_buckets(const gc_dist *d) { return d->nb; }
int gc_dist_size(const gc_dist *d) { return d->comm.size; }
int gc_dist_rank(const gc_dist *d) { return d->comm.rank; }

/* the last step's callback has run (or a second has passed): its event can go */
static void release_cb_event(gc_dist *d) {
  if (!d->cb_ev) return;
  for (int k = 0; k < 100000 && !atomic_load(&d->done_flag); k++) {
    struct timespec ts = {0, 10000L};
    nanosleep(&ts, NULL);
  }
  clReleaseEvent(d->cb_ev);
  d->cb_ev = NULL;
}

void gc_dist_free(gc_dist *d) {
  if (!d) return;
  if (d->ctx) gc_finish(d->ctx); /* no transfer may still use the host buffers */
  release_cb_event(d);
  for (int i = 0; i < d->nb; i++) {
    if (d->b[i].read_ev) clReleaseEvent(d->b[i].read_ev);
    free(d->b[i].host);
  }
  free(d->b);
  free(d->order);
  free(d->packed);
  free(d->recv);
  free(d->red);
  free(d->segs);
  free(d);
}

static int add_seg(gc_dist *d, gc_arena *a, size_t offset, size_t n) {
  d->segs[d->nsegs++] = (seg){a, offset, n};
  return GC_OK;
}

int gc_dist_create(gc_ctx *ctx, gc_net *net, gc_optim *opt, const gc_comm *comm, size_t bucket_bytes, int overlap,
                   gc_dist **out) {
  int st = 0;
  *out = NULL;
  if (!comm || comm->size < 1 || comm->rank < 0 || comm->rank >= comm->size || !comm->allgather || !comm->bcast ||
      !comm->alltoall)
    GC_FAIL(GC_ERR_ARG, "data-parallel training: an incomplete set of collectives (rank %d of %d)", comm ? comm->rank : -1,
            comm ? comm->size : 0);
  gc_dist *d = calloc(1, sizeof *d);
  if (!d) GC_FAIL(GC_ERR_HOST_MEM, "data-parallel state");
  d->ctx = ctx;
  d->net = net;
  d->opt = opt;
  d->comm = *comm;
  d->overlap = overlap;
  const int np = net->nparams, size = comm->size;
  if (bucket_bytes == 0) bucket_bytes = (size_t)5 << 20;
  d->order = malloc((size_t)(np ? np : 1) * sizeof *d->order);
  d->packed = malloc((size_t)(np ? np : 1) * sizeof *d->packed);
  d->b = calloc((size_t)(np ? np : 1), sizeof *d->b);
  int *owner = malloc((size_t)(np ? np : 1) * sizeof *owner);
  d->segs = calloc((size_t)(3 * np + net->nbufs + 1), sizeof *d->segs);
  if (!d->order || !d->packed || !d->b || !owner || !d->segs) {
    free(owner);
    GC_FAIL_GOTO(GC_ERR_HOST_MEM, "data-parallel buckets");
  }
  /* the backward pass finishes a parameter with its layer: later layers first, and within a layer the
   * parameter created last first (stable: the order is the same on every rank) */
  for (int i = 0; i < np; i++) {
    owner[i] = gc_net_param_layer(net, i);
    if (owner[i] < 0) owner[i] = 0; /* not written by any layer: ready at the end */
    d->order[i] = i;
  }
  for (int i = 1; i < np; i++) { /* insertion sort: by owner descending, then index descending */
    int v = d->order[i], j = i - 1;
    while (j >= 0 && (owner[d->order[j]] < owner[v] || (owner[d->order[j]] == owner[v] && d->order[j] < v))) {
      d->order[j + 1] = d->order[j];
      j--;
    }
    d->order[j + 1] = v;
  }
  size_t maxchunk = 1;
  for (int i = 0; i < np;) {
    bucket *b = &d->b[d->nb++];
    b->first = i;
    b->n = 0;
    do {
      int p = d->order[i];
      d->packed[p] = b->n;
      b->n += numel(&net->params[p].g);
      b->ready_layer = owner[p];
      i++;
    } while (i < np && (b->n + numel(&net->params[d->order[i]].g)) * sizeof(float) <= bucket_bytes);
    b->count = i - b->first;
    b->chunk = (b->n + (size_t)size - 1) / (size_t)size;
    if (b->chunk > maxchunk) maxchunk = b->chunk;
    b->host = calloc(b->chunk * (size_t)size, sizeof(float)); /* the padding stays zero */
    if (!b->host) {
      free(owner);
      GC_FAIL_GOTO(GC_ERR_HOST_MEM, "a gradient bucket of %zu floats", b->n);
    }
  }
  free(owner);
  d->recv = malloc(maxchunk * (size_t)size * sizeof(float));
  d->red = malloc(maxchunk * sizeof(float));
  if (!d->recv || !d->red) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "reduction buffers of %zu floats", maxchunk * (size_t)size);
  /* the state every rank must hold alike: weights, buffers, the optimizer's state (the parameter layout) */
  for (int i = 0; i < np; i++) add_seg(d, &net->pa, net->params[i].w.offset, numel(&net->params[i].w));
  d->nparam_segs = d->nsegs;
  for (int i = 0; i < net->nbufs; i++) add_seg(d, net->bufs[i].t.arena, net->bufs[i].t.offset, numel(&net->bufs[i].t));
  d->nbuf_segs = d->nsegs - d->nparam_segs;
  for (int k = 0; k < 2; k++) {
    gc_arena *a = gc_optim_state(opt, k);
    if (a)
      for (int i = 0; i < np; i++) add_seg(d, a, net->params[i].w.offset, numel(&net->params[i].w));
  }
  for (int i = 0; i < d->nsegs; i++) d->state_floats += d->segs[i].n;
  for (int i = d->nparam_segs; i < d->nparam_segs + d->nbuf_segs; i++) d->buf_floats += d->segs[i].n;
  *out = d;
  return GC_OK;
cleanup:
  gc_dist_free(d);
  return st;
}

/* ---- the gradient reduction ---- */

static void CL_CALLBACK on_read_done(cl_event ev, cl_int status, void *user) {
  (void)ev;
  (void)status;
  gc_dist *d = user;
  d->done_at = now_s();
  atomic_store(&d->done_flag, 1);
}

static int enqueue_reads(gc_dist *d, bucket *b) {
  int st = 0;
  const gc_net *net = d->net;
  for (int k = 0; k < b->count; k++) {
    const gc_param *p = &net->params[d->order[b->first + k]];
    int last = k == b->count - 1;
    GC_TRY(gc_arena_read_async(d->ctx, &d->net->ga, p->g.offset, numel(&p->g), b->host + d->packed[d->order[b->first + k]],
                               last ? &b->read_ev : NULL));
  }
  if (b == &d->b[d->nb - 1] && b->read_ev) { /* the last one: the end of the backward pass */
    release_cb_event(d);
    atomic_store(&d->done_flag, 0);
    GC_CL(clRetainEvent(b->read_ev), "the end of the backward pass");
    d->cb_ev = b->read_ev;
    GC_CL(clSetEventCallback(b->read_ev, CL_COMPLETE, on_read_done, d), "the end of the backward pass");
  }
cleanup:
  return st;
}

static int after_layer(void *user, int layer) {
  gc_dist *d = user;
  int st = 0;
  while (d->next < d->nb && layer <= d->b[d->next].ready_layer) GC_TRY(enqueue_reads(d, &d->b[d->next++]));
cleanup:
  return st;
}

static int reduce_bucket(gc_dist *d, bucket *b) {
  int st = 0;
  const int size = d->comm.size;
  const size_t c = b->chunk;
  GC_TRY(d->comm.alltoall(d->comm.impl, b->host, d->recv, c * sizeof(float)));
  for (size_t j = 0; j < c; j++) { /* rank order, in double: the same bits on every rank and every run */
    double acc = 0.0;
    for (int r = 0; r < size; r++) acc += d->w[r] * (double)d->recv[(size_t)r * c + j];
    d->red[j] = (float)acc;
  }
  GC_TRY(d->comm.allgather(d->comm.impl, d->red, b->host, c * sizeof(float)));
  const gc_net *net = d->net;
  for (int k = 0; k < b->count; k++) { /* back to the gradients, behind everything queued (in order) */
    const gc_param *p = &net->params[d->order[b->first + k]];
    GC_TRY(gc_arena_write_async(d->ctx, &d->net->ga, p->g.offset, numel(&p->g), b->host + d->packed[d->order[b->first + k]],
                                NULL));
  }
cleanup:
  return st;
}

int gc_dist_backward(gc_dist *d, const double *w, double *comm_s, double *exposed_s) {
  int st = 0;
  d->w = w;
  d->next = 0;
  *comm_s = *exposed_s = 0;
  /* without overlap every read waits for the whole pass */
  GC_TRY(gc_net_backward_hooked(d->ctx, d->net, d->overlap ? after_layer : NULL, d));
  if (!d->overlap) { /* the whole pass first; then the ranks meet, so the timing below is the reduction's */
    GC_TRY(gc_finish(d->ctx));
    unsigned char one = 1;
    GC_TRY(d->comm.allgather(d->comm.impl, &one, d->recv, 1));
  }
  while (d->next < d->nb) GC_TRY(enqueue_reads(d, &d->b[d->next++])); /* layers that own no parameters last */
  /* each bucket's reduction from the moment its copy is in host memory: [ts, te]; the backward pass ends
   * when the last copy completes (the runtime's callback) */
  double comm = 0, *ts = calloc((size_t)d->nb * 2, sizeof *ts);
  if (!ts) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "reduction timings");
  for (int i = 0; i < d->nb && !st; i++) {
    bucket *b = &d->b[i];
    cl_event ev = b->read_ev;
    b->read_ev = NULL;
    st = gc_event_wait(ev, "a gradient bucket's copy to host memory");
    ts[2 * i] = now_s();
    if (!st) st = reduce_bucket(d, b);
    ts[2 * i + 1] = now_s();
    comm += ts[2 * i + 1] - ts[2 * i];
  }
  if (!st) {
    *comm_s = comm;
    double end = 0;
    if (d->overlap && d->nb > 0) {
      for (int k = 0; k < 10000 && !atomic_load(&d->done_flag); k++) { /* the callback runs at completion */
        struct timespec tw = {0, 10000L};
        nanosleep(&tw, NULL);
      }
      end = atomic_load(&d->done_flag) ? d->done_at : ts[2 * (d->nb - 1)];
    }
    for (int i = 0; i < d->nb; i++) { /* the parts after the backward pass ended (all, without overlap) */
      double from = ts[2 * i] > end ? ts[2 * i] : end;
      if (ts[2 * i + 1] > from) *exposed_s += ts[2 * i + 1] - from;
    }
  }
  free(ts);
cleanup:
  for (int i = 0; i < d->nb; i++)
    if (d->b[i].read_ev) {
      gc_finish(d->ctx);
      clReleaseEvent(d->b[i].read_ev);
      d->b[i].read_ev = NULL;
    }
  return st;
}

/* ---- small collectives ---- */

int gc_dist_allgather(gc_dist *d, const void *in, void *out, size_t n) { return d->comm.allgather(d->comm.impl, in, out, n); }

int gc_dist_allsum(gc_dist *d, double *v, int n) {
  if (n <= 0) return GC_OK;
  double *all = malloc((size_t)n * (size_t)d->comm.size * sizeof *all);
  if (!all) GC_FAIL(GC_ERR_HOST_MEM, "a sum across ranks");
  int st = d->comm.allgather(d->comm.impl, v, all, (size_t)n * sizeof *v);
  if (!st)
    for (int i = 0; i < n; i++) {
      double s = 0;
      for (int r = 0; r < d->comm.size; r++) s += all[(size_t)r * (size_t)n + (size_t)i];
      v[i] = s;
    }
  free(all);
  return st;
}

/* ---- the shared state ---- */

/* segments [from, to) to host memory (packed, in order), or back from it (write) */
static int move_segs(gc_dist *d, int from, int to, float *host, int write) {
  int st = 0;
  for (int i = from; i < to; i++) {
    gc_tensor t = {d->segs[i].arena, d->segs[i].offset, 1, {d->segs[i].n}, 0};
    GC_TRY(write ? gc_tensor_write(d->ctx, &t, host, d->segs[i].n) : gc_tensor_read(d->ctx, &t, host, d->segs[i].n));
    host += d->segs[i].n;
  }
cleanup:
  return st;
}

/* what a rank runs, to compare before the state goes across */
typedef struct header {
  int64_t nparams, nbufs, nbn, floats, start, steps;
  uint64_t signature, config;
} header;

static uint64_t signature(const gc_dist *d) {
  const gc_net *net = d->net;
  uint64_t h = GC_DIST_HASH0;
  for (int i = 0; i < net->nparams; i++) {
    const gc_param *p = &net->params[i];
    h = gc_dist_hash_bytes(h, p->name, strlen(p->name) + 1);
    uint64_t dims[5] = {(uint64_t)p->ndim, p->dims[0], p->dims[1], p->dims[2], p->dims[3]};
    h = gc_dist_hash_bytes(h, dims, sizeof dims);
  }
  for (int i = 0; i < net->nbufs; i++) h = gc_dist_hash_bytes(h, net->bufs[i].name, strlen(net->bufs[i].name) + 1);
  const gc_optim_config *oc = gc_optim_get_config(d->opt);
  int kind = (int)oc->kind;
  return gc_dist_hash_bytes(h, &kind, sizeof kind);
}

int gc_dist_share_state(gc_dist *d, long *start, uint64_t config_hash) {
  int st = 0;
  const int size = d->comm.size, rank = d->comm.rank;
  gc_net *net = d->net;
  float *host = NULL;
  header me = {net->nparams, net->nbufs, net->nbn, (int64_t)d->state_floats, *start, gc_optim_steps(d->opt),
               signature(d), config_hash};
  header *all = calloc((size_t)size, sizeof *all);
  if (!all) GC_FAIL(GC_ERR_HOST_MEM, "the ranks' headers");
  GC_TRY(d->comm.allgather(d->comm.impl, &me, all, sizeof me));
  char differ[400] = "";
  size_t len = 0;
  for (int r = 1; r < size; r++)
    if (all[r].signature != all[0].signature || all[r].floats != all[0].floats || all[r].config != all[0].config)
      len += (size_t)snprintf(differ + len, len < sizeof differ ? sizeof differ - len : 0, "%s%d%s", len ? ", " : "", r,
                              all[r].config != all[0].config ? " (its settings)" : " (its network or optimizer)");
  if (len)
    GC_FAIL_GOTO(GC_ERR_ARG, "the ranks do not run the same training: rank(s) %s differ from rank 0 (every rank needs "
                 "the same flags but --device)", differ);
  host = malloc((d->state_floats ? d->state_floats : 1) * sizeof *host);
  int64_t *counts = calloc((size_t)(net->nbn + 1), sizeof *counts);
  if (!host || !counts) {
    free(counts);
    GC_FAIL_GOTO(GC_ERR_HOST_MEM, "the state to share (%zu floats)", d->state_floats);
  }
  if (rank == 0) {
    st = move_segs(d, 0, d->nsegs, host, 0);
    for (int i = 0; i < net->nbn; i++) counts[i] = net->bn_count[i];
  }
  if (!st) st = d->comm.bcast(d->comm.impl, host, d->state_floats * sizeof *host, 0);
  if (!st) st = d->comm.bcast(d->comm.impl, counts, (size_t)(net->nbn + 1) * sizeof *counts, 0);
  if (!st && rank != 0) {
    st = move_segs(d, 0, d->nsegs, host, 1);
    for (int i = 0; i < net->nbn; i++) net->bn_count[i] = counts[i];
    gc_optim_set_steps(d->opt, (long)all[0].steps);
    *start = (long)all[0].start;
  }
  free(counts);
cleanup:
  free(host);
  free(all);
  return st;
}

int gc_dist_share_buffers(gc_dist *d) {
  int st = 0;
  gc_net *net = d->net;
  float *host = malloc((d->buf_floats ? d->buf_floats : 1) * sizeof *host);
  int64_t *counts = calloc((size_t)(net->nbn + 1), sizeof *counts);
  if (!host || !counts) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "the buffers to share");
  int b0 = d->nparam_segs, b1 = d->nparam_segs + d->nbuf_segs;
  if (d->comm.rank == 0) {
    GC_TRY(move_segs(d, b0, b1, host, 0));
    for (int i = 0; i < net->nbn; i++) counts[i] = net->bn_count[i];
  }
  GC_TRY(d->comm.bcast(d->comm.impl, host, d->buf_floats * sizeof *host, 0));
  GC_TRY(d->comm.bcast(d->comm.impl, counts, (size_t)(net->nbn + 1) * sizeof *counts, 0));
  if (d->comm.rank != 0) {
    GC_TRY(move_segs(d, b0, b1, host, 1));
    for (int i = 0; i < net->nbn; i++) net->bn_count[i] = counts[i];
  }
cleanup:
  free(host);
  free(counts);
  return st;
}

int gc_dist_check_same(gc_dist *d, const char *when, uint64_t *hash) {
  int st = 0;
  gc_net *net = d->net;
  const int size = d->comm.size;
  uint64_t *all = calloc((size_t)size, sizeof *all);
  float *host = malloc((d->state_floats ? d->state_floats : 1) * sizeof *host);
  if (!all || !host) GC_FAIL_GOTO(GC_ERR_HOST_MEM, "the state hash");
  GC_TRY(move_segs(d, 0, d->nsegs, host, 0));
  uint64_t h = gc_dist_hash_bytes(GC_DIST_HASH0, host, d->state_floats * sizeof *host);
  h = gc_dist_hash_bytes(h, net->bn_count, (size_t)net->nbn * sizeof *net->bn_count);
  long steps = gc_optim_steps(d->opt);
  h = gc_dist_hash_bytes(h, &steps, sizeof steps);
  GC_TRY(d->comm.allgather(d->comm.impl, &h, all, sizeof h));
  *hash = all[0];
  char differ[300] = "";
  size_t len = 0;
  for (int r = 1; r < size; r++)
    if (all[r] != all[0])
      len += (size_t)snprintf(differ + len, len < sizeof differ ? sizeof differ - len : 0, "%s%d (%016llx)", len ? ", " : "",
                              r, (unsigned long long)all[r]);
  if (len)
    GC_FAIL_GOTO(GC_ERR_NUMERIC, "%s: the ranks' weights differ: rank(s) %s against rank 0's %016llx (a device that "
                 "computes differently or a corrupted transfer); stopped, nothing written", when, differ,
                 (unsigned long long)all[0]);
cleanup:
  free(all);
  free(host);
  return st;
}
