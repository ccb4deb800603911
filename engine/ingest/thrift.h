/* thrift.h - a reader for the Thrift compact protocol, as Parquet footers and page headers use it.
 *
 * Reads from a bounded byte range; never allocates. Every read checks the bounds: a varint that
 * runs past the end or is longer than 10 bytes, a length past the end, or nesting deeper than
 * ENG_TC_MAX_DEPTH sets r->bad (and r->why) and returns zeros from then on, so a caller checks
 * r->bad once after decoding a struct. Does not know Parquet's structs (parquet.c does). Spec:
 * https://github.com/apache/thrift/blob/master/doc/specs/thrift-compact-protocol.md */
#ifndef ENG_THRIFT_H
#define ENG_THRIFT_H

#include <stddef.h>
#include <stdint.h>

#define ENG_TC_MAX_DEPTH 32

enum { /* compact protocol type nibbles */
       ENG_TC_STOP = 0,
       ENG_TC_TRUE = 1,
       ENG_TC_FALSE = 2,
       ENG_TC_BYTE = 3,
       ENG_TC_I16 = 4,
       ENG_TC_I32 = 5,
       ENG_TC_I64 = 6,
       ENG_TC_DOUBLE = 7,
       ENG_TC_BINARY = 8,
       ENG_TC_LIST = 9,
       ENG_TC_SET = 10,
       ENG_TC_MAP = 11,
       ENG_TC_STRUCT = 12,
};

typedef struct eng_tc {
	const uint8_t *p, *end, *start;
	int bad;         /* set on the first malformed read */
	const char *why; /* static text saying what was malformed */
	int depth;       /* struct nesting while skipping */
} eng_tc;

void eng_tc_init(eng_tc *r, const uint8_t *p, size_t n);

/* Next field header of the current struct: returns its type (ENG_TC_STOP at the end) and *id
 * (*last carries the previous field id between calls; start it at 0). */
int eng_tc_field(eng_tc *r, int16_t *last, int16_t *id);

int64_t eng_tc_i64(eng_tc *r); /* zigzag varint (i16, i32, i64) */
int32_t eng_tc_i32(eng_tc *r); /* zigzag varint that must fit 32 bits */
/* Binary/string: *n bytes at the returned pointer (inside the range), or NULL when bad. */
const uint8_t *eng_tc_binary(eng_tc *r, size_t *n);
/* List/set header: element type and count (checked against the bytes left: every element, a
 * boolean too, takes at least one byte). */
int eng_tc_list(eng_tc *r, uint32_t *count);
/* Skips one value of type t (structs, lists and maps recursively, depth-limited). */
void eng_tc_skip(eng_tc *r, int t);
/* Value of a boolean field from its type nibble. */
static inline int eng_tc_bool(int t)
{
	return t == ENG_TC_TRUE;
}

#endif
