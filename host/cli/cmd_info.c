/* The commands that look at the machine: the device table, the self-check, the network table. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void fmt_mem(cl_ulong bytes, char *out, size_t cap) {
  double g = (double)bytes / (1024.0 * 1024.0 * 1024.0);
  if (g >= 1.0)
    snprintf(out, cap, "%.1f GiB", g);
  else
    snprintf(out, cap, "%.0f MiB", (double)bytes / (1024.0 * 1024.0));
}

int cmd_devices(gafcl_cfg *c) {
  const char *selector = c->device[0] ? c->device : NULL;
  gc_device_info *list = NULL;
  int count = 0, def = -1;
  int st = gc_devices_list(&list, &count);
  if (st) return cli_fail(st, "cannot list devices");
  if (!selector) selector = getenv("GAFCL_DEVICE");
  st = gc_device_select(list, count, selector, &def);
  if (st) {
    free(list);
    return cli_fail(st, "device selection");
  }
  /* the short name that selects each device, where one does: implementations by name */
  static const char *short_names[] = {"pocl", "intel", "rusticl", "nvidia", "amd", "clover", "oclgrind", "apple", "arm"};
  printf("  %-5s %-8s %-28s %-36s %-5s %4s %10s %-13s %-4s %-4s\n", "index", "name", "platform", "device", "type",
         "CUs", "global mem", "OpenCL C", "fp16", "fp64");
  for (int i = 0; i < count; i++) {
    const gc_device_info *d = &list[i];
    char idx[16], mem[32];
    const char *name = "-";
    for (size_t k = 0; k < sizeof short_names / sizeof *short_names && name[0] == '-'; k++) {
      int at = -1;
      if (gc_device_select(list, count, short_names[k], &at) == 0 && at == i) name = short_names[k];
    }
    snprintf(idx, sizeof idx, "%d:%d", d->platform_index, d->device_index);
    fmt_mem(d->global_mem, mem, sizeof mem);
    const char *cver = strncmp(d->c_version, "OpenCL C ", 9) == 0 ? d->c_version + 9 : d->c_version;
    printf("%c %-5s %-8s %-28.28s %-36.36s %-5s %4u %10s %-13.13s %-4s %-4s\n", i == def ? '*' : ' ', idx, name,
           d->platform, d->name, gc_device_type_name(d->type), d->compute_units, mem, cver, d->fp16 ? "yes" : "no",
           d->fp64 ? "yes" : "no");
  }
  printf("(* = the device gafcl uses with the current --device / GAFCL_DEVICE; --device takes the name, the index "
         "or any part of the platform or device name)\n");
  free(list);
  return 0;
}

int cmd_selfcheck(gafcl_cfg *c) {
  gc_ctx *ctx = NULL;
  double t0 = now_s();
  int st = cli_open(c, &ctx);
  if (st) return cli_fail(st, "cannot open the device");
  printf("device: %s (%s), driver %s\n", ctx->dev.name, ctx->dev.platform, ctx->dev.driver);
  printf("program cache: %s\n", ctx->cache_dir[0] ? ctx->cache_dir : "off");
  st = gc_selfcheck(ctx, c->verbose ? stdout : NULL);
  double t1 = now_s();
  if (st) {
    int rc = cli_fail(st, "self-check failed");
    gc_ctx_free(ctx);
    return rc;
  }
  printf("self-check passed in %.2f s (programs: %d built from source, %d loaded from the cache, %d cache entries "
         "rejected, %d written%s)\n",
         t1 - t0, ctx->cache.built_from_source, ctx->cache.loaded_from_disk, ctx->cache.rejected, ctx->cache.written,
         ctx->cache.write_failed ? ", some could not be written" : "");
  gc_ctx_free(ctx);
  return 0;
}

int cmd_main(gafcl_cfg *c) {
  int rc = cmd_devices(c);
  if (rc) return rc;
  printf("\n");
  return cmd_selfcheck(c);
}

void cmd_nets_defaults(gafcl_cfg *c) { c->batch = 256; }

int cmd_nets(gafcl_cfg *c) {
  long batch = c->batch;
  gc_ctx *ctx = NULL;
  int st = cli_open(c, &ctx);
  if (st) return cli_fail(st, "cannot open the device");
  printf("%-16s %-8s %9s %12s %12s %10s  %s\n", "network", "form", "input", "params(10)", "(100/1000)",
         "GFLOP/img", "device memory for training at batch");
  static const int forms[3] = {GC_FORM_CIFAR, GC_FORM_IMAGENET, GC_FORM_DETECT};
  static const char *const form_names[3] = {"cifar", "imagenet", "voc"};
  for (int form = 0; form < 3; form++)
    for (int i = 0; gc_net_arch(i); i++) {
      const gc_net_arch_info *a = gc_net_arch(i);
      gc_net_spec s;
      if (!(a->forms & forms[form]) || gc_net_spec_init(&s, a->name, form == 1) != 0) continue;
      gc_net *net = NULL;
      size_t p100 = 0;
      if (!form) {
        gc_net_spec s100 = s;
        s100.classes = 100;
        if (gc_net_plan(ctx, &s100, 1, &net) == 0) p100 = gc_net_param_count(net);
        gc_net_free(net);
        net = NULL;
      }
      if ((st = gc_net_plan(ctx, &s, (size_t)batch, &net)) != 0) {
        gc_ctx_free(ctx);
        return cli_fail(st, "planning a network");
      }
      size_t b[4];
      gc_net_memory(net, b);
      double mib = (double)(b[0] + b[1] + b[2] + b[3]) / 1048576.0;
      char in[32], p10s[24], p100s[24];
      snprintf(in, sizeof in, "%dx%dx%d", s.in_ch, s.in_h, s.in_w);
      snprintf(p10s, sizeof p10s, "%zu", gc_net_param_count(net));
      snprintf(p100s, sizeof p100s, "%zu", p100);
      printf("%-16s %-8s %9s %12s %12s %10.3f  %8.0f MiB at %ld (activations %.0f MiB)\n", a->name,
             form_names[form], in, form ? "-" : p10s, form ? p10s : p100s,
             gc_net_flops_per_image(net) * 1e-9, mib, batch, (double)b[3] / 1048576.0);
      gc_net_free(net);
    }
  printf("\n");
  for (int i = 0; gc_net_arch(i); i++) printf("%-16s %s\n", gc_net_arch(i)->name, gc_net_arch(i)->description);
  printf("(params: CIFAR forms with 10 and 100 classes; ImageNet forms with 1000; detection (voc) with 21: Pascal\n"
         " VOC's 20 classes and the background. Memory: parameters, gradients,\n"
         " batch-norm buffers, every activation and its gradient, and the shared workspace; optimizer state adds\n"
         " one or two copies of the parameters.)\n");
  gc_ctx_free(ctx);
  return 0;
}

