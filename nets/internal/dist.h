/* Data-parallel training over a gc_comm (gc_train.h): the gradient reduction in buckets overlapped with
 * the backward pass, sums of small values, the state broadcast from rank 0 and the state hash. All
 * arithmetic runs on the host in rank order, so the result does not depend on the transport. */
#ifndef GC_DIST_H
#define GC_DIST_H

#include <stdint.h>

#include "gc_train.h"

typedef struct gc_dist gc_dist;

/* bucket_bytes 0: 5 MiB. The parameters go into buckets in the order the backward pass finishes them. */
int gc_dist_create(gc_ctx *ctx, gc_net *net, gc_optim *opt, const gc_comm *comm, size_t bucket_bytes, int overlap,
                   gc_dist **out);
void gc_dist_free(gc_dist *d);
int gc_dist_buckets(const gc_dist *d);
int gc_dist_size(const gc_dist *d);
int gc_dist_rank(const gc_dist *d);

/* The backward pass with every gradient replaced by sum_r w[r] g_r (rank order, in double): each bucket's
 * gradients are copied to host memory as soon as the backward has written them, reduced (an all-to-all
 * of its N chunks, each rank adding up the chunk it owns, an all-gather of the sums) and written back
 * before the optimizer runs. *comm_s: wall time of the reductions (each from the moment its bucket is
 * in host memory to its write-back enqueued); *exposed_s: the part of it after the backward pass had
 * ended (without overlap: all of it). */
int gc_dist_backward(gc_dist *d, const double *w, double *comm_s, double *exposed_s);
/* Every rank's n values added up in rank order, into v on every rank. */
int gc_dist_allsum(gc_dist *d, double *v, int n);
/* Every rank's n bytes to every rank (rank order). */
int gc_dist_allgather(gc_dist *d, const void *in, void *out, size_t n);

/* The state from rank 0 to every rank: the weights, buffers and batch-norm counters, the optimizer's state
 * and step count, and *start (epochs completed). First the ranks compare what they run (the network's
 * parameter names and shapes, the optimizer, `config_hash`): a mismatch is an error naming the ranks. */
int gc_dist_share_state(gc_dist *d, long *start, uint64_t config_hash);
/* Rank 0's buffers (running statistics, counters) to every rank. */
int gc_dist_share_buffers(gc_dist *d);
/* The hash of this rank's state (the weights, buffers, counters, optimizer state and step count), compared
 * across ranks: GC_ERR_NUMERIC naming the ranks that differ from rank 0. *hash: rank 0's. */
int gc_dist_check_same(gc_dist *d, const char *when, uint64_t *hash);

/* FNV-1a, 64 bits */
uint64_t gc_dist_hash_bytes(uint64_t h, const void *p, size_t n);
#define GC_DIST_HASH0 0xcbf29ce484222325ull

#endif
