/* JPEG decoding shared by the data readers (internal: not installed). */
#ifndef GC_JPEG_H
#define GC_JPEG_H
#include <stddef.h>
#include <stdint.h>

/* Decode the JPEG file `path` to RGB: *rgb (malloc'ed, w * h * 3 bytes, rows top to bottom), *w, *h.
 * The file must be a regular file (a named pipe or device is refused without blocking); libjpeg's
 * warnings (a truncated file) are errors; more than 16384 pixels on a side or 64 megapixels is refused.
 * 0, or -1 with a message naming the file in msg (nothing is allocated then). */
int gc_jpeg_decode(const char *path, uint8_t **rgb, int *w, int *h, char *msg, size_t cap);

#endif
