/* Small file helpers shared by the program cache and the checkpoint writer. */
#ifndef GC_IO_H
#define GC_IO_H
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif
/* write(2) all n bytes, retrying on EINTR and short writes; 0 or -1 (errno set) */
int gc_write_all(int fd, const void *p, size_t n);
#ifdef __cplusplus
}
#endif
#endif
