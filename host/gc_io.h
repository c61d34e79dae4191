/* Files: every outside file gafcl reads is opened through these, so that it is opened once, checked to be
 * a regular file (a directory, named pipe, socket or device is refused with the reason and never blocks),
 * and read with bounds derived from its size; and the write helper of the atomic writers. */
#ifndef GC_IO_H
#define GC_IO_H
#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif
/* Open `path` for reading; *fd and *size (bytes) on success. GC_ERR_IO names the path, `what` it is
 * ("weights", "--images") and why: missing, a directory, a named pipe, a device, ... */
int gc_file_open(const char *path, const char *what, int *fd, size_t *size);
/* The same as a stdio stream (for readers that stream a file: CIFAR records, JPEG). */
int gc_file_fopen(const char *path, const char *what, FILE **f, size_t *size);
/* The whole file, of at most `max` bytes (GC_ERR_FORMAT above), into a malloc'ed buffer with a NUL
 * after the last byte; a file that changes size while being read is an error. */
int gc_file_read(const char *path, const char *what, size_t max, unsigned char **data, size_t *size);
/* Remove PATH.tmp.PID* files that processes which have died left behind (an atomic writer's temporary
 * files: a kill between create and rename). */
void gc_remove_stale_tmp(const char *path);
/* Whether two paths name the same file or folder (the same device and inode; the same text when
 * either does not exist). */
int gc_same_file(const char *a, const char *b);
/* write(2) all n bytes, retrying on EINTR and short writes; 0 or -1 (errno set) */
int gc_write_all(int fd, const void *p, size_t n);
/* Write a whole file atomically: PATH.tmp.PID written, fsync'ed, then renamed over PATH (a reader sees
 * the old file or the new one, never a part). 0, or -1 with errno (the temporary file removed). */
int gc_write_file_atomic(const char *path, const void *data, size_t n);
#ifdef __cplusplus
}
#endif
#endif
