/* shard.h - which of N shards a record belongs to (`index --shard I/N`): N machines index the same
 * big file, each keeping only its records, and `merge` joins their workspaces.
 *
 * A record's shard is a hash of its group key: the image reference as written in the record when
 * it has one (so the pairs of one image stay together), else its prompt when not empty (the pairs
 * of one prompt: the folds' groups), else its line number (a line that did not parse, a record
 * without image or prompt: every bad line is reported by exactly one shard). The key is hashed with
 * 64-bit FNV-1a and mixed with splitmix64, then reduced mod N: the same on every machine,
 * independent of the seed. Two references to the same image by different paths count as different
 * keys. */
#ifndef ENG_SHARD_H
#define ENG_SHARD_H

#include <stdint.h>

#include "err.h"
#include "records.h"

/* Shard i of n (0 <= i < n); n = 0 means "no sharding". */
typedef struct eng_shard {
	uint32_t i, n;
} eng_shard;

/* Parses "I/N" (0 <= I < N <= 65536) into *s. ENG_EINPUT with a message naming the value. */
int eng_shard_parse(const char *spec, eng_shard *s, eng_err *err);

/* The shard (0..n-1) of a parsed record (rec may have errors; rec->prompt and rec->image may be
 * NULL), at 1-based line number lineno; n >= 1. */
uint32_t eng_shard_of(const eng_record *rec, uint64_t lineno, uint32_t n);

/* 1 when s is off (n == 0) or the record is in shard s->i. */
int eng_shard_keeps(const eng_shard *s, const eng_record *rec, uint64_t lineno);

#endif
