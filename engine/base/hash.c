/* hash.c - 64-bit FNV-1a. Definitions in hash.h. */
#include "hash.h"

uint64_t eng_fnv1a64_update(uint64_t h, const void *data, size_t n)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= ENG_FNV64_PRIME;
	}
	return h;
}

uint64_t eng_fnv1a64(const void *data, size_t n)
{
	return eng_fnv1a64_update(ENG_FNV64_OFFSET, data, n);
}

uint64_t eng_fnv1a64_str(const char *s)
{
	uint64_t h = ENG_FNV64_OFFSET;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * ENG_FNV64_PRIME;
	return h;
}
