/* The program's flag table: for every command, every flag set to a value other than its default
 * survives config.json (written, read back, compared field by field) and the command line (--flag value
 * and --flag=value); values of the wrong JSON type, out of range, unknown keys, trailing data, huge
 * integers and seeds above 2^53 are handled as they should be; --help lists every flag. */
#include "cli.h"
#include "gc_test.h"

#include <math.h>
#include <stdint.h>
#include <unistd.h>

static const unsigned commands[] = {CMD_MAIN,      CMD_DEVICES, CMD_SELFCHECK, CMD_NETS,       CMD_TRAIN,
                                    CMD_COMPARE,   CMD_REPRODUCE, CMD_EVAL,    CMD_STEPS,      CMD_BENCH,
                                    CMD_BENCH_CONV, CMD_TUNE,   CMD_DETECT,    CMD_MAKE_SHAPES, CMD_GAF_SUGGEST,
                                    CMD_LANDSCAPE, CMD_GAF_CURVE};

static void *fld(gafcl_cfg *c, const flag_def *f) { return (char *)c + f->off; }

/* a valid value other than the default, as text */
static void other_value(const flag_def *f, int i, char *v, size_t cap) {
  switch (f->type) {
  case FT_STR:
    if (!strcmp(f->name, "net")) snprintf(v, cap, "resnet50");
    else if (!strcmp(f->name, "nets")) snprintf(v, cap, "resnet50,resnet18");
    else if (!strcmp(f->name, "optimizer")) snprintf(v, cap, "adamw");
    else if (!strcmp(f->name, "gaf")) snprintf(v, cap, "log");
    else if (!strcmp(f->name, "conv-algo")) snprintf(v, cap, "%s", gc_conv_algo_name(gc_conv_algo_count() - 1));
    else snprintf(v, cap, "value of %s \"quoted\" \\ %d", f->name, i);
    break;
  case FT_CHOICE: {
    const char *last = strrchr(f->choices, '|') + 1;
    if (!strcmp(last, f->def)) snprintf(v, cap, "%.*s", (int)strcspn(f->choices, "|"), f->choices);
    else snprintf(v, cap, "%s", last);
    break;
  }
  case FT_INT: {
    long long x = f->hi < 1e6 ? (long long)f->hi : (long long)f->lo + 7 + i;
    if (x == atoll(f->def)) x = (long long)f->lo;
    snprintf(v, cap, "%lld", x);
    break;
  }
  case FT_U64: snprintf(v, cap, "18446744073709551557"); break; /* above 2^53: kept as a string in JSON */
  case FT_DOUBLE: snprintf(v, cap, "%.17g", 0.1234567890123456789 * (i + 1)); break;
  case FT_BOOL: snprintf(v, cap, "%s", strcmp(f->def, "0") ? "0" : "1"); break;
  case FT_LIST: snprintf(v, cap, "3,7,11"); break;
  }
}

static int same_field(gafcl_cfg *a, gafcl_cfg *b, const flag_def *f) {
  switch (f->type) {
  case FT_STR:
  case FT_CHOICE:
  case FT_LIST: return !strcmp(fld(a, f), fld(b, f));
  case FT_INT: return *(long *)fld(a, f) == *(long *)fld(b, f);
  case FT_U64: return *(unsigned long long *)fld(a, f) == *(unsigned long long *)fld(b, f);
  case FT_DOUBLE: return memcmp(fld(a, f), fld(b, f), sizeof(double)) == 0; /* bit for bit */
  case FT_BOOL: return *(int *)fld(a, f) == *(int *)fld(b, f);
  }
  return 0;
}

static void round_trip(unsigned cmd) {
  gafcl_cfg set, back, def, line, line_eq;
  cli_cfg_defaults(&set, cmd);
  cli_cfg_defaults(&def, cmd);
  char *argv[256], *argv_eq[128], vals[128][700], eqs[128][800];
  int argc = 0, argc_eq = 0, nrows = 0;
  for (int i = 0; i < cli_flag_count(); i++) {
    const flag_def *f = cli_flag(i);
    if (!(f->cmds & cmd)) continue;
    nrows++;
    other_value(f, i, vals[argc_eq], sizeof vals[0]);
    char opt[80];
    snprintf(opt, sizeof opt, "--%s", f->name);
    if (f->type == FT_BOOL) { /* a bool flag takes no separate value: --flag or --flag=0 */
      snprintf(opt, sizeof opt, "--%s=%s", f->name, vals[argc_eq]);
      argv[argc++] = strdup(opt);
    } else {
      argv[argc++] = strdup(opt);
      argv[argc++] = vals[argc_eq];
    }
    snprintf(eqs[argc_eq], sizeof eqs[0], "--%s=%s", f->name, vals[argc_eq]);
    argv_eq[argc_eq] = eqs[argc_eq];
    argc_eq++;
  }
  CHECK_OK(cli_cfg_parse(&set, cmd, argc, argv));
  cli_cfg_defaults(&line_eq, cmd);
  CHECK_OK(cli_cfg_parse(&line_eq, cmd, argc_eq, argv_eq));
  /* config.json: written, read back into a fresh configuration */
  char *js = cli_cfg_json(&set, cmd, 0);
  CHECK(js != NULL);
  cli_cfg_defaults(&back, cmd);
  CHECK_OK(cli_cfg_load_json(&back, cmd, js, "round trip"));
  /* and once more through a file given with --config */
  char path[] = "/tmp/gafcl-flags-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  if (fd >= 0) {
    CHECK(write(fd, js, strlen(js)) == (ssize_t)strlen(js));
    close(fd);
  }
  char *cargv[2] = {"--config", path};
  cli_cfg_defaults(&line, cmd);
  CHECK_OK(cli_cfg_parse(&line, cmd, 2, cargv));
  unlink(path);
  int differ = 0;
  for (int i = 0; i < cli_flag_count(); i++) {
    const flag_def *f = cli_flag(i);
    if (!(f->cmds & cmd)) continue;
    int ok = same_field(&set, &back, f) && same_field(&set, &line, f) && same_field(&set, &line_eq, f);
    if (!ok) fprintf(stderr, "  command %#x: --%s does not survive config.json or the command line\n", cmd, f->name);
    CHECK(ok);
    /* and every value set differs from the default, so the comparison means something */
    if (same_field(&set, &def, f)) fprintf(stderr, "  command %#x: --%s: the test value is the default\n", cmd, f->name);
    CHECK(!same_field(&set, &def, f));
    differ += !same_field(&set, &def, f);
  }
  CHECK(differ == nrows);
  /* --help lists every flag of the command */
  char *buf = NULL;
  size_t blen = 0;
  FILE *mf = open_memstream(&buf, &blen);
  cli_cfg_help(mf, &def, cmd);
  fclose(mf);
  for (int i = 0; i < cli_flag_count(); i++) {
    const flag_def *f = cli_flag(i);
    if (!(f->cmds & cmd)) continue;
    char opt[80];
    snprintf(opt, sizeof opt, "--%s", f->name);
    CHECK(strstr(buf, opt) != NULL);
  }
  free(buf);
  free(js);
  for (int i = 0; i < argc; i++)
    if (!strncmp(argv[i], "--", 2)) free(argv[i]);
}

static void bad(unsigned cmd, const char *json, int status, const char *msg) {
  gafcl_cfg c;
  cli_cfg_defaults(&c, cmd);
  int st = cli_cfg_load_json(&c, cmd, json, "t");
  if (st != status || !strstr(gc_last_error(), msg))
    fprintf(stderr, "  %s: got %s '%s', expected '%s'\n", json, gc_status_name(st), gc_last_error(), msg);
  CHECK(st == status && strstr(gc_last_error(), msg));
}

static void bad_arg(unsigned cmd, const char *flag, const char *value, const char *msg) {
  gafcl_cfg c;
  cli_cfg_defaults(&c, cmd);
  char *argv[2] = {(char *)flag, (char *)value};
  int st = cli_cfg_parse(&c, cmd, value ? 2 : 1, argv);
  if (!st) st = cli_cfg_validate(&c, cmd);
  if (st == GC_OK || !strstr(gc_last_error(), msg))
    fprintf(stderr, "  %s %s: got '%s', expected '%s'\n", flag, value ? value : "", gc_last_error(), msg);
  CHECK(st != GC_OK && strstr(gc_last_error(), msg));
}

int main(void) {
  for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) round_trip(commands[i]);
  /* every row is taken by some command, and no two rows of one command share a name */
  for (int i = 0; i < cli_flag_count(); i++) {
    CHECK(cli_flag(i)->cmds != 0 && cli_flag(i)->help && cli_flag(i)->help[0]);
    for (int j = i + 1; j < cli_flag_count(); j++)
      CHECK(strcmp(cli_flag(i)->name, cli_flag(j)->name) || !(cli_flag(i)->cmds & cli_flag(j)->cmds));
  }
  /* JSON of the wrong type, out of range, unknown, trailing data */
  bad(CMD_TRAIN, "{\"epochs\": true}", GC_ERR_FORMAT, "\"epochs\" must be an integer");
  bad(CMD_TRAIN, "{\"epochs\": 2.5}", GC_ERR_FORMAT, "\"epochs\" must be an integer");
  bad(CMD_TRAIN, "{\"epochs\": 4294967297}", GC_ERR_ARG, "--epochs '4294967297': an integer <= 1000000");
  bad(CMD_TRAIN, "{\"lr\": \"0.1\"}", GC_ERR_FORMAT, "\"lr\" must be a number");
  bad(CMD_TRAIN, "{\"net\": 18}", GC_ERR_FORMAT, "\"net\" must be a string");
  bad(CMD_TRAIN, "{\"imagenet\": 2}", GC_ERR_FORMAT, "\"imagenet\" must be true or false");
  bad(CMD_TRAIN, "{\"bogus\": 1}", GC_ERR_ARG, "unknown option --bogus");
  bad(CMD_TRAIN, "{\"epochs\": 3} {}", GC_ERR_FORMAT, "not a JSON object");
  bad(CMD_TRAIN, "[1, 2]", GC_ERR_FORMAT, "not a JSON object");
  bad(CMD_TRAIN, "{\"milestones\": [1, \"x\"]}", GC_ERR_FORMAT, "\"milestones\" must be an array of integers");
  bad(CMD_TRAIN, "{\"seed\": -1}", GC_ERR_FORMAT, "\"seed\" must be a non-negative integer");
  bad(CMD_TRAIN, "{\"data\": \"mnist\"}", GC_ERR_ARG, "--data 'mnist': fashion, cifar10, cifar100, folder, npy, synthetic or voc");
  bad(CMD_BENCH, "{\"iterz\": 3}", GC_ERR_ARG, "unknown option --iterz");
  /* a run's config.json given to eval: the training-only keys are not eval's, and are passed over */
  {
    gafcl_cfg tr, ev;
    cli_cfg_defaults(&tr, CMD_TRAIN);
    snprintf(tr.net, sizeof tr.net, "resnet34");
    char *js = cli_cfg_json(&tr, CMD_TRAIN, 0);
    cli_cfg_defaults(&ev, CMD_EVAL);
    CHECK_OK(cli_cfg_load_json(&ev, CMD_EVAL, js, "train config"));
    CHECK(!strcmp(ev.net, "resnet34"));
    free(js);
  }
  /* the command line: the messages a user sees */
  bad_arg(CMD_TRAIN, "--epochs", "0", "--epochs '0': an integer >= 1");
  bad_arg(CMD_TRAIN, "--epochs", "2147483648", "--epochs '2147483648': an integer <= 1000000");
  bad_arg(CMD_TRAIN, "--epochs", "99999999999999999999999", "--epochs '99999999999999999999999': an integer expected");
  bad_arg(CMD_TRAIN, "--seed", "-1", "--seed '-1': an integer in [0, 18446744073709551615]");
  bad_arg(CMD_TRAIN, "--seed", "18446744073709551616", "--seed '18446744073709551616'");
  bad_arg(CMD_TRAIN, "--lr", "fast", "--lr 'fast': a positive number");
  bad_arg(CMD_TRAIN, "--lr", "0", "--lr '0': a positive number");
  bad_arg(CMD_TRAIN, "--lr", "1e-60", "--lr '1e-60': outside the range of a float");
  bad_arg(CMD_TRAIN, "--lr", "nan", "--lr 'nan': a positive number");
  bad_arg(CMD_TRAIN, "--weight-decay", "1e-400", "outside the range of a float");
  bad_arg(CMD_TRAIN, "--momentum", "-0.5", "--momentum '-0.5': a number in [0, ");
  bad_arg(CMD_TRAIN, "--milestones", "30,,60", "--milestones '30,,60'");
  bad_arg(CMD_TRAIN, "--milestones", "30,", "a value is missing after the last comma");
  bad_arg(CMD_TRAIN, "--net", "vgg16", "unknown network 'vgg16'");
  bad_arg(CMD_TRAIN, "--optimizer", "rmsprop", "optimizer 'rmsprop': use sgd, sgdm, nesterov, adam or adamw");
  bad_arg(CMD_TRAIN, "--gaf", "sigmoid", "GAF 'sigmoid': use none, arctan, tanh or log");
  bad_arg(CMD_TRAIN, "--conv-algo", "fft", "--conv-algo 'fft': use measure, heuristic, im2col_gemm");
  bad_arg(CMD_TRAIN, "--imagenet", "1", "unexpected argument '1'"); /* a bool flag takes no separate value */
  bad_arg(CMD_TRAIN, "--epochs", NULL, "--epochs needs a value");
  bad_arg(CMD_TRAIN, "--table", "2", "unknown option --table");
  bad_arg(CMD_BENCH, "--nets", "resnet18,vgg", "unknown network 'vgg'");
  bad_arg(CMD_BENCH, "--nets", ",", "comma-separated network names");
  bad_arg(CMD_TRAIN, "--config", "/nonexistent/run.json", "--config /nonexistent/run.json: No such file");
  bad_arg(CMD_TRAIN, "--config", "/dev/null", "not a regular file");
  /* the recipe (kept in checkpoints) leaves out where a run is written and how it was invoked */
  gafcl_cfg c;
  cli_cfg_defaults(&c, CMD_TRAIN);
  char *r = cli_cfg_json(&c, CMD_TRAIN, 1);
  CHECK(r && strstr(r, "\"gaf-alpha\"") && strstr(r, "\"init\"") && strstr(r, "\"image-size\"") && !strstr(r, "\"out\"") &&
        !strstr(r, "\"resume\"") && !strstr(r, "\"stop-after\"") && !strstr(r, "\"device\""));
  free(r);
  return gc_test_summary("test_flags");
}
