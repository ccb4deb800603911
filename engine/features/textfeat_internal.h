/* textfeat_internal.h - internals of textfeat.c exposed for tests and benchmarks only. */
#ifndef ENG_TEXTFEAT_INTERNAL_H
#define ENG_TEXTFEAT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "hash.h"
#include "textfeat.h"

/* bucket = h mod 2^hash_bits, sign = bit 63 clear ? +1 : -1. */
void eng_textfeat_bucket_of(const eng_textfeat *tf, uint64_t h, uint32_t *bucket, int *sign);

/* phi(prompt, text) of one answer (hashed part unit-norm, then named features), unsorted; *col and
 * *val point into tf's scratch (valid until the next call on tf). Records names like add_pair. */
int eng_textfeat_phi(eng_textfeat *tf, const char *prompt, const char *text, uint32_t **col,
                     float **val, size_t *k, eng_err *err);

/* on = 0: tf votes no provisional bucket names from then on (the features are the same; names and
 * signs are then those of the texts seen before). For a scorer, which never names a bucket: the
 * vote is a tenth of the featurizing time, and the name slots (2^bits x 32 bytes) are never
 * touched. */
void eng_textfeat_set_votes(eng_textfeat *tf, int on);

#endif
