/* Data-parallel runs of the gafcl program: MPI as the trainer's transport (gc_comm), one process per
 * device. The trainer does the arithmetic in a fixed order; this file only moves bytes, with a time-out on
 * every collective so that a rank that died or hangs ends the run instead of leaving the others waiting. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef GAFCL_MPI
#include <mpi.h>
#endif

static int g_rank = 0, g_size = 1, g_local = 0, g_on = 0;
static char g_prefix[32] = "";

/* --comm-loopback: one process running the data-parallel path against itself (a size-1 transport) */
static int lb_gather(void *impl, const void *in, void *out, size_t n) {
  (void)impl;
  memmove(out, in, n);
  return GC_OK;
}
static int lb_bcast(void *impl, void *buf, size_t n, int root) {
  (void)impl, (void)buf, (void)n, (void)root;
  return GC_OK;
}
static const gc_comm loopback = {NULL, 0, 1, lb_gather, lb_bcast, lb_gather};

int cli_rank(void) { return g_rank; }
int cli_ranks(void) { return g_size; }
int cli_local_rank(void) { return g_local; }
const char *cli_rank_prefix(void) { return g_prefix; }

/* the size the launcher announces (Open MPI, MPICH/Hydra, PMIx), 0 if none */
static long launcher_size(void) {
  const char *v[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"};
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    const char *s = getenv(v[i]);
    if (s && *s) return strtol(s, NULL, 10);
  }
  return getenv("PMIX_RANK") ? 2 : 0; /* PMIx without a size: let MPI say */
}

#ifdef GAFCL_MPI

typedef struct mpi_comm {
  gc_comm c;
  double timeout_s;
} mpi_comm;
static mpi_comm g_comm;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int mpi_failed(int rc, const char *what) {
  char msg[MPI_MAX_ERROR_STRING] = "";
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  return gc_error_set(GC_ERR_COMM, __FILE__, __LINE__, "%s failed: %s", what, msg);
}

/* wait for a started collective, polling (the device keeps running meanwhile) up to the time-out */
static int finish(MPI_Request *rq, const char *what, size_t n) {
  const double t0 = now_s(), limit = g_comm.timeout_s;
  for (long polls = 0;; polls++) {
    int done = 0;
    int rc = MPI_Test(rq, &done, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) return mpi_failed(rc, what);
    if (done) return GC_OK;
    double el = now_s() - t0;
    if (el > limit)
      return gc_error_set(GC_ERR_COMM, __FILE__, __LINE__,
                          "%s of %zu bytes has not completed after %.0f s: another rank died or hangs (--comm-timeout); "
                          "ending the run (the last checkpoint is kept)",
                          what, n, el);
    if (polls > 200) { /* a long wait (the others still computing, a slow start): sleep between polls */
      struct timespec ts = {0, polls > 20000 ? 2000000L : 50000L};
      nanosleep(&ts, NULL);
    }
  }
}

/* MPI counts are ints: a transfer of more than INT_MAX bytes goes as larger elements */
static int as_count(size_t n, MPI_Datatype *type, int *count, MPI_Datatype *owned) {
  *owned = MPI_DATATYPE_NULL;
  if (n <= (size_t)0x7fffffff) {
    *type = MPI_BYTE;
    *count = (int)n;
    return GC_OK;
  }
  if (n % 4096 != 0 || n / 4096 > (size_t)0x7fffffff)
    return gc_error_set(GC_ERR_ARG, __FILE__, __LINE__, "a collective of %zu bytes (more than 2 GiB must be a whole "
                        "number of 4 KiB blocks)", n);
  MPI_Type_contiguous(4096, MPI_BYTE, owned);
  MPI_Type_commit(owned);
  *type = *owned;
  *count = (int)(n / 4096);
  return GC_OK;
}

/* start one non-blocking collective and wait for it under the time-out */
enum { C_ALLGATHER, C_BCAST, C_ALLTOALL };
static int collective(int kind, const void *in, void *out, size_t n, int root) {
  static const char *const names[] = {"an all-gather", "a broadcast", "an all-to-all"};
  MPI_Datatype t = MPI_BYTE, own = MPI_DATATYPE_NULL;
  int cnt = 0, st = as_count(n, &t, &cnt, &own);
  if (st) return st;
  MPI_Request rq;
  int rc = kind == C_ALLGATHER ? MPI_Iallgather(in, cnt, t, out, cnt, t, MPI_COMM_WORLD, &rq)
           : kind == C_BCAST   ? MPI_Ibcast(out, cnt, t, root, MPI_COMM_WORLD, &rq)
                               : MPI_Ialltoall(in, cnt, t, out, cnt, t, MPI_COMM_WORLD, &rq);
  st = rc != MPI_SUCCESS ? mpi_failed(rc, names[kind]) : finish(&rq, names[kind], n);
  if (own != MPI_DATATYPE_NULL) MPI_Type_free(&own);
  return st;
}
static int c_allgather(void *impl, const void *in, void *out, size_t n) {
  (void)impl;
  return collective(C_ALLGATHER, in, out, n, 0);
}
static int c_bcast(void *impl, void *buf, size_t n, int root) {
  (void)impl;
  return collective(C_BCAST, NULL, buf, n, root);
}
static int c_alltoall(void *impl, const void *in, void *out, size_t n) {
  (void)impl;
  return collective(C_ALLTOALL, in, out, n, 0);
}

int cli_mpi_init(int *argc, char ***argv, int *size) {
  *size = 1;
  if (launcher_size() < 2) return GC_OK; /* alone: no MPI at all */
  int provided = 0;
  int rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
  if (rc != MPI_SUCCESS) return gc_error_set(GC_ERR_COMM, __FILE__, __LINE__, "MPI_Init_thread failed (%d)", rc);
  g_on = 1;
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN); /* errors come back as statuses, with messages */
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  MPI_Comm local;
  if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_rank, MPI_INFO_NULL, &local) == MPI_SUCCESS) {
    MPI_Comm_rank(local, &g_local);
    MPI_Comm_free(&local);
  }
  *size = g_size;
  if (g_size > 1) {
    snprintf(g_prefix, sizeof g_prefix, "rank %d: ", g_rank);
    if (g_rank != 0 && !freopen("/dev/null", "w", stdout)) /* metrics and progress come from rank 0 */
      fprintf(stderr, "gafcl: %scannot silence the standard output\n", g_prefix);
  }
  return GC_OK;
}

const gc_comm *cli_comm(const gafcl_cfg *c) {
  if (g_size < 2 && c->comm_loopback) return &loopback;
  if (!g_on || g_size < 2) return NULL;
  g_comm.c = (gc_comm){&g_comm, g_rank, g_size, c_allgather, c_bcast, c_alltoall};
  g_comm.timeout_s = c->comm_timeout > 0 ? (double)c->comm_timeout : 600.0;
  return &g_comm.c;
}

int cli_mpi_end(int rc) {
  if (!g_on) return rc;
  fflush(stdout);
  fflush(stderr);
  if (rc != 0) MPI_Abort(MPI_COMM_WORLD, rc); /* every rank ends: none waits in a collective */
  MPI_Finalize();
  return rc;
}

#else /* built without MPI */

int cli_mpi_init(int *argc, char ***argv, int *size) {
  (void)argc, (void)argv;
  *size = 1;
  long n = launcher_size();
  if (n >= 2)
    return gc_error_set(GC_ERR_ARG, __FILE__, __LINE__, "started as one of %ld processes (mpirun), but this gafcl was "
                        "built without MPI (Debian: libopenmpi-dev; then rebuild)", n);
  return GC_OK;
}
const gc_comm *cli_comm(const gafcl_cfg *c) { return c->comm_loopback ? &loopback : NULL; }
int cli_mpi_end(int rc) { return rc; }

#endif

void cli_rank_device(const char *devices, char *out, size_t cap) {
  out[0] = '\0';
  if (devices && strchr(devices, ',')) { /* a list: the local rank's item */
    int n = 1;
    for (const char *p = devices; *p; p++) n += *p == ',';
    int want = g_local % n, k = 0;
    const char *p = devices;
    while (k < want) k += *p++ == ',';
    size_t len = strcspn(p, ",");
    snprintf(out, cap, "%.*s", (int)(len < cap ? len : cap - 1), p);
    return;
  }
  if (devices && *devices) {
    snprintf(out, cap, "%s", devices);
    return;
  }
  if (g_size < 2 || getenv("GAFCL_DEVICE")) return; /* the default rule */
  gc_device_info *list = NULL;
  int count = 0, gpus = 0;
  if (gc_devices_list(&list, &count) != 0) {
    gc_clear_error();
    return;
  }
  for (int i = 0; i < count; i++) gpus += list[i].type & CL_DEVICE_TYPE_GPU ? 1 : 0;
  if (gpus > 0) { /* one GPU per local rank (shared round-robin when there are fewer) */
    int want = g_local % gpus, k = 0;
    for (int i = 0; i < count; i++)
      if (list[i].type & CL_DEVICE_TYPE_GPU) {
        if (k == want) snprintf(out, cap, "%d", i);
        k++;
      }
  }
  free(list);
}
