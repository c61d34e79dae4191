/* SHA-256 (FIPS 180-4), used to key and check the on-disk program cache. */
#ifndef GC_SHA256_H
#define GC_SHA256_H
#include <stddef.h>
#include <stdint.h>

typedef struct gc_sha256 {
  uint32_t h[8];
  uint64_t total; /* bytes hashed so far */
  uint8_t buf[64];
  size_t fill;
} gc_sha256;

void gc_sha256_init(gc_sha256 *s);
void gc_sha256_update(gc_sha256 *s, const void *data, size_t n);
void gc_sha256_final(gc_sha256 *s, uint8_t out[32]);
void gc_sha256_hex(const uint8_t digest[32], char out[65]);
#endif
