/* pqpage.h - the decoding steps of one Parquet page: codecs, the RLE/bit-packed hybrid (levels,
 * dictionary indices, booleans), DELTA_BINARY_PACKED, and the value encodings (PLAIN,
 * PLAIN_DICTIONARY/RLE_DICTIONARY, RLE booleans, DELTA_BINARY_PACKED, DELTA_LENGTH_BYTE_ARRAY,
 * DELTA_BYTE_ARRAY, BYTE_STREAM_SPLIT).
 *
 * Pure functions over caller-owned buffers: every length is checked against the bytes given, a
 * count is never trusted to size an allocation (the caller sizes outputs from limits it checked),
 * and each failure returns -1 with a static sentence in *why. No file I/O, no schema, no rows
 * (parquet.c). Spec: https://parquet.apache.org/docs/file-format/data-pages/encodings/ */
#ifndef ENG_PQPAGE_H
#define ENG_PQPAGE_H

#include <stddef.h>
#include <stdint.h>

enum { /* physical types */
       ENG_PQ_BOOLEAN = 0,
       ENG_PQ_INT32 = 1,
       ENG_PQ_INT64 = 2,
       ENG_PQ_INT96 = 3,
       ENG_PQ_FLOAT = 4,
       ENG_PQ_DOUBLE = 5,
       ENG_PQ_BYTE_ARRAY = 6,
       ENG_PQ_FIXED = 7,
};

enum { /* encodings */
       ENG_PQ_PLAIN = 0,
       ENG_PQ_PLAIN_DICT = 2,
       ENG_PQ_RLE = 3,
       ENG_PQ_BIT_PACKED = 4,
       ENG_PQ_DELTA_BP = 5,
       ENG_PQ_DELTA_LBA = 6,
       ENG_PQ_DELTA_BA = 7,
       ENG_PQ_RLE_DICT = 8,
       ENG_PQ_BSS = 9,
};

enum { /* codecs */
       ENG_PQ_UNCOMPRESSED = 0,
       ENG_PQ_SNAPPY = 1,
       ENG_PQ_GZIP = 2,
       ENG_PQ_ZSTD = 6,
};

/* One decoded value: bytes (BYTE_ARRAY, FIXED_LEN_BYTE_ARRAY, INT96) point into the page or the
 * dictionary buffer (or the page's own buffer for DELTA_BYTE_ARRAY); numbers in i or d. */
typedef struct eng_pq_value {
	union {
		const uint8_t *p;
		int64_t i;
		double d;
	} u;
	uint32_t n; /* byte length (byte values only) */
} eng_pq_value;

/* "UNCOMPRESSED", "SNAPPY", ... or "codec N" in buf (static or buf). */
const char *eng_pq_codec_name(int codec, char *buf, size_t n);
const char *eng_pq_encoding_name(int enc, char *buf, size_t n);

/* Decompresses src[0..n) into exactly dn bytes of dst. 0, or -1 with *why (corrupt data, a size
 * other than dn, an unsupported codec). */
int eng_pq_decompress(int codec, const uint8_t *src, size_t n, uint8_t *dst, size_t dn,
                      const char **why);

/* Decodes count values of bit width bw (0..32) of the RLE/bit-packed hybrid in p[0..n) into out.
 * 0, or -1 with *why when the runs end before count values or are malformed. */
int eng_pq_rle(const uint8_t *p, size_t n, int bw, uint32_t *out, size_t count, const char **why);

/* Decodes a DELTA_BINARY_PACKED block sequence from p[0..n): at most cap values into out (when
 * out is NULL only counts), *count = the header's value count (must be <= cap), *used = bytes
 * consumed. 0 or -1 with *why. */
int eng_pq_delta(const uint8_t *p, size_t n, int64_t *out, size_t cap, size_t *count, size_t *used,
                 const char **why);

/* Decodes count values of physical type `type` (type_length for FIXED) encoded with `enc` from
 * p[0..n) into out. Dictionary encodings index dict[0..ndict). DELTA_BYTE_ARRAY builds its values
 * in *own (malloc'd here, at most max_own bytes; the caller frees it after the values). 0, -1 with
 * *why (malformed), -2 (unsupported encoding for this type), -3 out of memory. */
int eng_pq_values(int type, int type_length, int enc, const uint8_t *p, size_t n, size_t count,
                  const eng_pq_value *dict, size_t ndict, eng_pq_value *out, uint8_t **own,
                  size_t max_own, const char **why);

#endif
