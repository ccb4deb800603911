/* hash.h - 64-bit FNV-1a (Fowler, Noll, Vo), the one non-cryptographic hash of the engine: text
 * feature buckets, prompt keys, hash-table slots. Stable across runs and machines. For content
 * identity (files, images, answers) use sha256.h instead. */
#ifndef ENG_HASH_H
#define ENG_HASH_H

#include <stddef.h>
#include <stdint.h>

#define ENG_FNV64_OFFSET 0xcbf29ce484222325ULL
#define ENG_FNV64_PRIME  0x100000001b3ULL

/* FNV-1a of n bytes; _update continues from hash h (start from ENG_FNV64_OFFSET). */
uint64_t eng_fnv1a64(const void *data, size_t n);
uint64_t eng_fnv1a64_update(uint64_t h, const void *data, size_t n);

/* FNV-1a of a NUL-terminated string (its bytes without the NUL). */
uint64_t eng_fnv1a64_str(const char *s);

#endif
