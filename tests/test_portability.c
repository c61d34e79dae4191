/* Portability of the kernels, on every OpenCL device present (PoCL, Intel's CPU runtime, rusticl, GPUs):
 *  - every kernel file, in every specialisation the library builds, compiles with -cl-std=CL1.2 on each
 *    device, with the CPU row variant (GC_ROWS) and without it;
 *  - every compiled kernel accepts the work-group size gafcl launches it with and fits the local memory
 *    gafcl allows (queried per kernel: CL_KERNEL_WORK_GROUP_SIZE, CL_KERNEL_LOCAL_MEM_SIZE);
 *  - no kernel source uses an OpenCL extension (a pragma, double, half) outside a preprocessor guard that
 *    names it, so devices without the extension (rusticl has neither fp64 nor fp16) take the fallback.
 * The scanner is first shown to find unguarded uses in sources written to have them.
 * `--device P:D` (or GAFCL_DEVICE) limits the run to one device. */
#include "gafcl.h"
#include "gc_ops.h" /* the embedded kernel sources */
#include "gc_test.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* ---- the extension scanner ---- */

/* The source with comments and string literals blanked (newlines kept, so line numbers stay). */
static char *strip(const char *src, size_t n) {
  char *o = malloc(n + 1);
  if (!o) return NULL;
  size_t i = 0;
  while (i < n) {
    if (src[i] == '/' && i + 1 < n && src[i + 1] == '/') {
      while (i < n && src[i] != '\n') o[i++] = ' ';
    } else if (src[i] == '/' && i + 1 < n && src[i + 1] == '*') {
      o[i] = o[i + 1] = ' ';
      i += 2;
      while (i < n && !(src[i] == '*' && i + 1 < n && src[i + 1] == '/')) {
        o[i] = src[i] == '\n' ? '\n' : ' ';
        i++;
      }
      if (i < n) o[i++] = ' ';
      if (i < n) o[i++] = ' ';
    } else if (src[i] == '"') {
      o[i++] = ' ';
      while (i < n && src[i] != '"' && src[i] != '\n') o[i++] = ' ';
      if (i < n && src[i] == '"') o[i++] = ' ';
    } else {
      o[i] = src[i];
      i++;
    }
  }
  o[n] = '\0';
  return o;
}

/* A use of `word` in the line: a whole word, or with `prefix` set a word starting with it
 * (convert_double4_rte). A `half` followed by '*' is a pointer for vload_half/vstore_half: core OpenCL. */
static int uses_word(const char *line, const char *word, int prefix) {
  size_t n = strlen(word);
  for (const char *p = line; (p = strstr(p, word)) != NULL; p += n) {
    int before = p == line || !(isalnum((unsigned char)p[-1]) || p[-1] == '_');
    int after = prefix || !(isalnum((unsigned char)p[n]) || p[n] == '_');
    if (!before || !after) continue;
    if (!prefix && strcmp(word, "half") == 0) {
      const char *q = p + n;
      while (*q == ' ' || *q == '\t') q++;
      if (*q == '*') continue;
    }
    return 1;
  }
  return 0;
}

/* The extension a preprocessor condition tests, in the plain forms only: "ifdef E", "if defined(E)",
 * "if defined E" (then *holds = 1: the first branch has E), "ifndef E", "if !defined(E)" (*holds = 0:
 * the #else branch has it). Anything else (||, &&, comparisons) guards neither branch: "" is stored. */
static void guard_of(const char *t, char ext[64], int *holds) {
  ext[0] = '\0';
  *holds = 0;
  int neg = 0;
  if (!strncmp(t, "ifdef", 5)) t += 5;
  else if (!strncmp(t, "ifndef", 6)) t += 6, neg = 1;
  else {
    if (!strncmp(t, "elif", 4)) t += 4;
    else if (!strncmp(t, "if", 2)) t += 2;
    else return;
    while (*t == ' ' || *t == '\t') t++;
    if (*t == '!') t++, neg = 1;
    while (*t == ' ' || *t == '\t') t++;
    if (strncmp(t, "defined", 7) != 0) return;
    t += 7;
  }
  while (*t == ' ' || *t == '\t' || *t == '(') t++;
  size_t k = 0;
  while (k + 1 < 64 && (isalnum((unsigned char)t[k]) || t[k] == '_')) {
    ext[k] = t[k];
    k++;
  }
  ext[k] = '\0';
  const char *rest = t + k;
  while (*rest == ' ' || *rest == '\t' || *rest == ')') rest++;
  if (*rest != '\0') { /* more to the condition than the one test */
    ext[0] = '\0';
    return;
  }
  *holds = !neg;
}

/* Each use of an extension must sit in a preprocessor branch that holds only when the extension's macro
 * is defined. Returns the number of unguarded uses and prints them (file name and line). */
static int scan_extensions(const char *file, const char *src, size_t n, int quiet) {
  static const struct {
    const char *word, *ext;
    int prefix;
  } uses[] = {
      {"double", "cl_khr_fp64", 0},  {"double2", "cl_khr_fp64", 0}, {"double3", "cl_khr_fp64", 0},
      {"double4", "cl_khr_fp64", 0}, {"double8", "cl_khr_fp64", 0}, {"double16", "cl_khr_fp64", 0},
      {"convert_double", "cl_khr_fp64", 1}, {"as_double", "cl_khr_fp64", 1},
      {"half", "cl_khr_fp16", 0},    {"half2", "cl_khr_fp16", 0},   {"half3", "cl_khr_fp16", 0},
      {"half4", "cl_khr_fp16", 0},   {"half8", "cl_khr_fp16", 0},   {"half16", "cl_khr_fp16", 0},
      {"convert_half", "cl_khr_fp16", 1}, {"as_half", "cl_khr_fp16", 1},
  };
  char *s = strip(src, n);
  if (!s) return 1;
  char guards[64][64]; /* per enclosing #if: the extension it tests ("" for none) and whether it holds */
  int holds[64];
  int depth = 0, bad = 0, lineno = 0;
  for (char *line = s; line && *line;) {
    char *next = strchr(line, '\n');
    if (next) *next = '\0';
    lineno++;
    const char *t = line;
    while (*t == ' ' || *t == '\t') t++;
    int scan_uses = 1;
    if (*t == '#') {
      t++;
      while (*t == ' ' || *t == '\t') t++;
      scan_uses = !strncmp(t, "define", 6); /* #define acc_t double is a use */
      if (!strncmp(t, "if", 2)) { /* #if, #ifdef, #ifndef */
        if (depth < 64) guard_of(t, guards[depth], &holds[depth]);
        depth++;
      } else if (!strncmp(t, "elif", 4)) {
        if (depth > 0 && depth <= 64) guard_of(t, guards[depth - 1], &holds[depth - 1]);
      } else if (!strncmp(t, "else", 4)) {
        if (depth > 0 && depth <= 64) holds[depth - 1] = !holds[depth - 1];
      } else if (!strncmp(t, "endif", 5)) {
        if (depth > 0) depth--;
      } else if (!strncmp(t, "pragma", 6) && strstr(t, "OPENCL") && strstr(t, "EXTENSION")) {
        const char *e = strstr(t, "EXTENSION") + 9;
        while (*e == ' ' || *e == '\t') e++;
        char ext[64] = "";
        size_t k = 0;
        while (k + 1 < sizeof ext && (isalnum((unsigned char)e[k]) || e[k] == '_')) {
          ext[k] = e[k];
          k++;
        }
        ext[k] = '\0';
        int ok = 0;
        for (int g = 0; g < depth && g < 64; g++) ok |= holds[g] && !strcmp(guards[g], ext);
        if (!ok) {
          bad++;
          if (!quiet) fprintf(stderr, "  kernels/%s.cl:%d: #pragma OPENCL EXTENSION %s outside #ifdef %s\n", file, lineno, ext, ext);
        }
      }
    }
    if (scan_uses)
      for (size_t u = 0; u < sizeof uses / sizeof *uses; u++)
        if (uses_word(line, uses[u].word, uses[u].prefix)) {
          int ok = 0;
          for (int g = 0; g < depth && g < 64; g++) ok |= holds[g] && !strcmp(guards[g], uses[u].ext);
          if (!ok) {
            bad++;
            if (!quiet)
              fprintf(stderr, "  kernels/%s.cl:%d: '%s' needs %s but is not inside #ifdef %s\n", file, lineno,
                      uses[u].word, uses[u].ext, uses[u].ext);
          }
        }
    line = next ? next + 1 : NULL;
  }
  free(s);
  return bad;
}

static void test_scanner(void) {
  /* sources written to have (or not have) unguarded uses, and how many the scanner must find */
  static const struct {
    const char *name;
    int unguarded;
    const char *src;
  } cases[] = {
      {"unguarded", 2, "#pragma OPENCL EXTENSION cl_khr_fp64 : enable\n__kernel void k(__global double *x) { x[0] = 1.0; }\n"},
      {"half*", 0, /* core OpenCL: half storage */
       "__kernel void k(__global half *x, __global float *y) { y[0] = vload_half(0, x); }\n"},
      {"half", 1, "__kernel void k(__global float *y) { half h = 1.0h; y[0] = convert_float(h); }\n"},
      {"define", 2, "#define acc_t double\n#define WIDE(x) convert_double4_rte(x)\n"},
      {"compound", 2,
       "#if defined(cl_khr_fp64) && !defined(NO_FP64)\ntypedef float a_t;\n#else\ntypedef double a_t;\n#endif\n"
       "#if defined(cl_khr_fp64) || defined(X)\ntypedef double b_t;\n#endif\n"},
      {"wrong", 1, "#ifdef cl_khr_fp16\n#pragma OPENCL EXTENSION cl_khr_fp64 : enable\n#endif\n"},
      {"guarded", 0,
       "#if defined(cl_khr_fp64)\n#pragma OPENCL EXTENSION cl_khr_fp64 : enable\ntypedef double acc_t;\n#else\n"
       "typedef float acc_t; // no double here\n#endif\n"
       "/* a double in a comment */ __kernel void k(__global float *x) { acc_t a = x[0]; x[0] = a; }\n"},
      {"after", 1, "#ifdef cl_khr_fp64\n#endif\n__kernel void k(__global double *x) { }\n"},
      {"else", 1, "#ifdef cl_khr_fp64\ntypedef float acc_t;\n#else\ntypedef double acc_t;\n#endif\n"},
      {"ifndef", 1,
       "#ifndef cl_khr_fp16\ntypedef float h_t;\n#else\ntypedef half h_t;\n#endif\n"
       "#if !defined(cl_khr_fp16)\ntypedef half h2_t;\n#endif\n"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    int found = scan_extensions(cases[i].name, cases[i].src, strlen(cases[i].src), 1);
    CHECK(found == cases[i].unguarded);
    if (found != cases[i].unguarded) fprintf(stderr, "  case '%s': %d unguarded uses found\n", cases[i].name, found);
  }
  for (size_t i = 0; i < gc_embedded_kernel_count; i++) {
    int bad = scan_extensions(gc_embedded_kernels[i].name, gc_embedded_kernels[i].source,
                              gc_embedded_kernels[i].length, 0);
    CHECK(bad == 0);
  }
}

/* ---- building every program on every device ---- */

static const gc_embedded_kernel *find_source(const char *name) {
  for (size_t i = 0; i < gc_embedded_kernel_count; i++)
    if (strcmp(gc_embedded_kernels[i].name, name) == 0) return &gc_embedded_kernels[i];
  return NULL;
}

typedef struct {
  int programs, kernels;
  size_t min_kernel_wg, max_local;
} build_stats;

static void build_one(gc_ctx *ctx, const char *what, const char *src, size_t len, const char *extra, size_t launch_wg,
                      build_stats *bs) {
  char opts[512];
  snprintf(opts, sizeof opts, "-cl-std=CL1.2 -DGC_WG=%zu %s", ctx->wg, extra);
  cl_int err = 0;
  cl_program prog = clCreateProgramWithSource(ctx->context, 1, &src, &len, &err);
  CHECK(err == CL_SUCCESS);
  if (err != CL_SUCCESS) return;
  err = clBuildProgram(prog, 1, &ctx->dev.device_id, opts, NULL, NULL);
  if (err != CL_SUCCESS) {
    size_t loglen = 0;
    clGetProgramBuildInfo(prog, ctx->dev.device_id, CL_PROGRAM_BUILD_LOG, 0, NULL, &loglen);
    char *log = calloc(loglen + 1, 1);
    if (log) clGetProgramBuildInfo(prog, ctx->dev.device_id, CL_PROGRAM_BUILD_LOG, loglen, log, NULL);
    fprintf(stderr, "FAIL %s with '%s' on %s / %s: %s\n%s\n", what, opts, ctx->dev.platform, ctx->dev.name,
            gc_status_name(err), log ? log : "");
    free(log);
    gc_test_failures++;
    clReleaseProgram(prog);
    return;
  }
  bs->programs++;
  cl_uint nk = 0;
  CHECK(clCreateKernelsInProgram(prog, 0, NULL, &nk) == CL_SUCCESS); /* gafmath.cl alone has none */
  cl_kernel *ks = calloc(nk ? nk : 1, sizeof *ks);
  int made = ks && (nk == 0 || clCreateKernelsInProgram(prog, nk, ks, NULL) == CL_SUCCESS);
  CHECK(made);
  if (made) {
    for (cl_uint k = 0; k < nk; k++) {
      size_t kwg = 0;
      cl_ulong lm = 0;
      char name[128] = "";
      CHECK(clGetKernelInfo(ks[k], CL_KERNEL_FUNCTION_NAME, sizeof name - 1, name, NULL) == CL_SUCCESS);
      CHECK(clGetKernelWorkGroupInfo(ks[k], ctx->dev.device_id, CL_KERNEL_WORK_GROUP_SIZE, sizeof kwg, &kwg, NULL) ==
            CL_SUCCESS);
      CHECK(clGetKernelWorkGroupInfo(ks[k], ctx->dev.device_id, CL_KERNEL_LOCAL_MEM_SIZE, sizeof lm, &lm, NULL) ==
            CL_SUCCESS);
      gc_test_checks++;
      if (kwg < launch_wg || lm > ctx->local_mem) {
        gc_test_failures++;
        fprintf(stderr, "FAIL %s kernel %s on %s: work-groups up to %zu (launched with %zu), %llu bytes of local "
                "memory (allowed %zu)\n", what, name, ctx->dev.name, kwg, launch_wg, (unsigned long long)lm, ctx->local_mem);
      }
      if (!bs->kernels || kwg < bs->min_kernel_wg) bs->min_kernel_wg = kwg;
      if ((size_t)lm > bs->max_local) bs->max_local = (size_t)lm;
      bs->kernels++;
      clReleaseKernel(ks[k]);
    }
  }
  free(ks);
  clReleaseProgram(prog);
}

static void build_all(gc_ctx *ctx) {
  build_stats bs = {0, 0, 0, 0};
  const gc_embedded_kernel *gm = find_source("gafmath");
  CHECK(gm != NULL);
  for (size_t i = 0; i < gc_embedded_kernel_count; i++) {
    const gc_embedded_kernel *e = &gc_embedded_kernels[i];
    if (strcmp(e->name, "optim") == 0) continue; /* built with gafmath below */
    if (strcmp(e->name, "vgemm") == 0) {           /* tiles are build options, work-groups their own */
      static const char *const tiles[] = {"-DVW=16 -DNV=2 -DMR=8 -DNR=4 -DLW=1", "-DVW=4 -DNV=3 -DMR=3 -DNR=3 -DLW=2",
                                          "-DVW=8 -DNV=4 -DMR=16 -DNR=8 -DLW=8"};
      for (int t = 0; t < 3; t++) build_one(ctx, e->name, e->source, e->length, tiles[t], (size_t)(t ? 2 * t * t : 1), &bs);
      continue;
    }
    for (int rows = 0; rows < 2; rows++)
      build_one(ctx, e->name, e->source, e->length, rows ? "-DGC_ROWS=1" : "", ctx->wg, &bs);
  }
  /* the optimizer program as the library builds it: gafmath + optim, every optimizer, GAF and clipping
   * mode, GAF on the gradient and on the momentum direction */
  const gc_embedded_kernel *op = find_source("optim");
  CHECK(op != NULL);
  if (!gm || !op) return;
  size_t len = gm->length + 1 + op->length;
  char *src = malloc(len + 1);
  if (!src) return;
  memcpy(src, gm->source, gm->length);
  src[gm->length] = '\n';
  memcpy(src + gm->length + 1, op->source, op->length);
  src[len] = '\0';
  /* and with -cl-fp32-correctly-rounded-divide-sqrt where the device offers it, as the library builds it */
  cl_device_fp_config fp = 0;
  clGetDeviceInfo(ctx->dev.device_id, CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, NULL);
  const char *cr = (fp & CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT) ? " -cl-fp32-correctly-rounded-divide-sqrt" : "";
  for (int opt = 0; opt <= (int)GC_OPT_ADAMW; opt++)
    for (int gaf = 0; gaf <= (int)GC_GAF_LOG; gaf++)
      for (int pos = 0; pos < 2; pos++)
        for (int clip = 0; clip <= (int)GC_CLIP_NORM; clip++) {
          if (pos && opt >= (int)GC_OPT_ADAM) continue; /* as the library: Adam's programs have position 0 */
          char extra[128], what[64];
          snprintf(extra, sizeof extra, "-DGC_OPT=%d -DGC_GAF=%d -DGC_GAF_POS=%d -DGC_CLIP=%d%s", opt, gaf, pos, clip,
                   cr);
          snprintf(what, sizeof what, "gafmath+optim (%d %d %d %d)", opt, gaf, pos, clip);
          build_one(ctx, what, src, len, extra, ctx->wg, &bs);
        }
  free(src);
  printf("%-28s %-34s %3d programs, %4d kernels built with -cl-std=CL1.2; work-group %zu (every kernel takes >= %zu), "
         "local memory <= %zu of %zu bytes\n", ctx->dev.platform, ctx->dev.name, bs.programs, bs.kernels, ctx->wg,
         bs.min_kernel_wg, bs.max_local, ctx->local_mem);
}

int main(int argc, char **argv) {
  const char *only = getenv("GAFCL_DEVICE");
  for (int i = 1; i + 1 < argc; i++)
    if (strcmp(argv[i], "--device") == 0) only = argv[i + 1];
  test_scanner();
  gc_device_info *list = NULL;
  int count = 0;
  CHECK_OK(gc_devices_list(&list, &count));
  int chosen = -1;
  if (only && *only) {
    CHECK_OK(gc_device_select(list, count, only, &chosen));
    if (chosen < 0) count = 0; /* no such device: nothing else is tested in its place */
  }
  for (int i = 0; i < count; i++) {
    if (chosen >= 0 && i != chosen) continue;
    char sel[32];
    snprintf(sel, sizeof sel, "%d:%d", list[i].platform_index, list[i].device_index);
    gc_ctx *ctx = NULL;
    CHECK_OK(gc_ctx_create(&ctx, sel));
    if (!ctx) continue;
    build_all(ctx);
    gc_ctx_free(ctx);
  }
  free(list);
  printf("test_portability: %d checks, %d failed\n", gc_test_checks, gc_test_failures);
  return gc_test_failures ? 1 : 0;
}
