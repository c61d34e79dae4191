/* Files from outside (see gc_io.h). */
#include "gc_io.h"

#include "gc_error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *kind(mode_t m) {
  if (S_ISDIR(m)) return "a directory";
  if (S_ISFIFO(m)) return "a named pipe";
  if (S_ISSOCK(m)) return "a socket";
  if (S_ISCHR(m) || S_ISBLK(m)) return "a device";
  return "not a regular file";
}

int gc_file_open(const char *path, const char *what, int *fd, size_t *size) {
  *fd = -1;
  *size = 0;
  if (!path || !*path) GC_FAIL(GC_ERR_ARG, "%s: no file given", what);
  /* O_NONBLOCK: opening a named pipe must not wait for a writer; it is refused below */
  int f = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (f < 0) GC_FAIL(GC_ERR_IO, "cannot open %s (%s): %s", path, what, strerror(errno));
  struct stat sb;
  if (fstat(f, &sb) != 0) {
    int e = errno;
    close(f);
    GC_FAIL(GC_ERR_IO, "%s %s: %s", what, path, strerror(e));
  }
  if (!S_ISREG(sb.st_mode)) {
    close(f);
    GC_FAIL(GC_ERR_IO, "cannot read %s (%s): %s, not a regular file", path, what, kind(sb.st_mode));
  }
  int fl = fcntl(f, F_GETFL);
  if (fl >= 0) fcntl(f, F_SETFL, fl & ~O_NONBLOCK);
  *fd = f;
  *size = (size_t)sb.st_size;
  return GC_OK;
}

int gc_file_fopen(const char *path, const char *what, FILE **out, size_t *size) {
  int fd;
  *out = NULL;
  int st = gc_file_open(path, what, &fd, size);
  if (st) return st;
  *out = fdopen(fd, "rb");
  if (!*out) {
    int e = errno;
    close(fd);
    GC_FAIL(GC_ERR_IO, "%s %s: %s", what, path, strerror(e));
  }
  return GC_OK;
}

int gc_file_read(const char *path, const char *what, size_t max, unsigned char **data, size_t *size) {
  int fd;
  size_t n;
  *data = NULL;
  *size = 0;
  int st = gc_file_open(path, what, &fd, &n);
  if (st) return st;
  if (n > max) {
    close(fd);
    GC_FAIL(GC_ERR_FORMAT, "%s %s: %zu bytes, more than the %zu such a file can hold", what, path, n, max);
  }
  unsigned char *buf = malloc(n + 1);
  if (!buf) {
    close(fd);
    GC_FAIL(GC_ERR_HOST_MEM, "%s %s: %zu bytes", what, path, n);
  }
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, buf + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
  }
  char extra;
  int more = got == n && read(fd, &extra, 1) > 0;
  close(fd);
  if (got != n || more) {
    free(buf);
    GC_FAIL(GC_ERR_IO, "%s %s: changed size while being read (%zu bytes expected)", what, path, n);
  }
  buf[n] = '\0';
  *data = buf;
  *size = n;
  return GC_OK;
}

int gc_same_file(const char *a, const char *b) {
  struct stat sa, sb;
  if (stat(a, &sa) != 0 || stat(b, &sb) != 0) return !strcmp(a, b);
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

void gc_remove_stale_tmp(const char *path) {
  char dirbuf[1200], basebuf[1200];
  snprintf(dirbuf, sizeof dirbuf, "%s", path);
  snprintf(basebuf, sizeof basebuf, "%s", path);
  const char *dir = dirname(dirbuf), *base = basename(basebuf);
  size_t bl = strlen(base);
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (strncmp(de->d_name, base, bl) || strncmp(de->d_name + bl, ".tmp.", 5)) continue;
    char *end = NULL;
    long pid = strtol(de->d_name + bl + 5, &end, 10);
    if (!end || (*end && *end != '.') || pid <= 0 || pid == (long)getpid()) continue;
    if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* still running (or not ours to judge) */
    char p[2400];
    snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
    unlink(p);
  }
  closedir(d);
}

int gc_write_file_atomic(const char *path, const void *data, size_t n) {
  char tmp[4200];
  if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= sizeof tmp) {
    errno = ENAMETOOLONG;
    return -1;
  }
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return -1;
  int bad = gc_write_all(fd, data, n) || fsync(fd) != 0;
  if (close(fd) != 0) bad = 1;
  if (bad || rename(tmp, path) != 0) {
    int e = errno;
    unlink(tmp);
    errno = e;
    return -1;
  }
  return 0;
}

int gc_write_all(int fd, const void *p, size_t n) {
  const unsigned char *c = p;
  while (n > 0) {
    ssize_t w = write(fd, c, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    c += w;
    n -= (size_t)w;
  }
  return 0;
}
