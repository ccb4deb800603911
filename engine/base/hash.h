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

/* splitmix64 (Steele, Lea, Flood 2014): ENG_GOLDEN_GAMMA is its increment, eng_splitmix64_mix its
 * finalizer, eng_mix64(x) = the finalizer of x + gamma, a well-mixed 64-bit hash of a key. Folds,
 * splits, shards and per-job seeds are derived with it, so they depend only on keys and the seed;
 * the training and synth generators step it as their seeding stream. */
#define ENG_GOLDEN_GAMMA 0x9E3779B97F4A7C15ULL
static inline uint64_t eng_splitmix64_mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static inline uint64_t eng_mix64(uint64_t x)
{
	return eng_splitmix64_mix(x + ENG_GOLDEN_GAMMA);
}

#endif
