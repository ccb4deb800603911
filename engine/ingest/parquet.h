/* parquet.h - a read-only Apache Parquet reader that turns rows into JSON records.
 *
 * Reads the footer (Thrift compact FileMetaData), then one row group at a time: every leaf column
 * has a cursor that reads and decodes ONE page at a time (plus its dictionary), so memory is
 * bounded by a page per column and the current row, never by the file or the row group. Supports
 * data pages v1 and v2, the encodings of pqpage.h, codecs UNCOMPRESSED/SNAPPY/GZIP/ZSTD, optional
 * and repeated fields (definition/repetition levels), structs, LIST and MAP groups. A row becomes a
 * jansson object: strings (UTF8/STRING/ENUM/JSON or unannotated valid UTF-8) as strings, numbers,
 * booleans, structs as objects, lists as arrays, null for nulls. Image bytes (the Hugging Face
 * Image struct {bytes, path}, or a bare binary whose bytes sniff as an image) are not put in the
 * JSON: the value is a label string (the struct's path, or "image #k") and the bytes are handed
 * out beside the row as a blob with that label. Every size, offset and count read from the file is
 * checked before use; a malformed file is ENG_EINPUT with a message naming the file, row group,
 * column and page. Not thread-safe; does not touch the workspace (index.c). Spec:
 * https://github.com/apache/parquet-format (parquet.thrift, Encodings.md). */
#ifndef ENG_PARQUET_H
#define ENG_PARQUET_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define ENG_PQ_MAX_FOOTER      ((size_t)64 << 20)  /* footer (FileMetaData) bytes */
#define ENG_PQ_MAX_PAGE        ((size_t)256 << 20) /* one page, compressed or not */
#define ENG_PQ_MAX_PAGE_VALUES ((size_t)1 << 22)   /* values (levels) in one page */
#define ENG_PQ_MAX_ROW_BYTES   ((size_t)512 << 20) /* value bytes of one row */
#define ENG_PQ_MAX_ROW_VALUES  ((size_t)1 << 22)   /* leaf values of one row */
#define ENG_PQ_MAX_COLUMNS     4096
#define ENG_PQ_MAX_DEPTH       16 /* schema nesting */

typedef struct eng_pq eng_pq;

typedef struct eng_pq_blob {
	const char *label; /* the string the row's JSON holds in the image's place */
	const uint8_t *p;  /* the bytes (valid until the next eng_pq_next_row) */
	size_t n;
} eng_pq_blob;

/* 1 when the file at path starts with the Parquet magic "PAR1", else 0. */
int eng_pq_sniff(const char *path);

/* Opens path (label in messages: the path) and checks the footer. Returns 0 and *out, ENG_EINPUT
 * for a file that is not valid Parquet (err says where and what), ENG_EIO, ENG_ENOMEM. */
int eng_pq_open(const char *path, eng_pq **out, eng_err *err);

/* The same over data[0..n) (not copied; must outlive the reader). */
int eng_pq_open_memory(const uint8_t *data, size_t n, const char *label, eng_pq **out,
                       eng_err *err);

void eng_pq_close(eng_pq *pq); /* accepts NULL */

uint64_t eng_pq_num_rows(const eng_pq *pq);
size_t eng_pq_num_groups(const eng_pq *pq);

/* Reads the next row of the file (row groups in order). Returns 1 with *row (a new reference the
 * caller owns), *blobs and *nblobs (owned by the reader, valid until the next call) and, when a
 * value could not be represented (a string with invalid UTF-8 or a NUL byte: set to null in *row),
 * problem[0..256) says which (else problem[0] == 0); 0 after the last row; ENG_EINPUT/ENG_ENOMEM
 * /ENG_EIO with err naming "label: row group G, column 'c', page at byte B: ...". */
int eng_pq_next_row(eng_pq *pq, json_t **row, const eng_pq_blob **blobs, size_t *nblobs,
                    char problem[256], eng_err *err);

/* Where the row last returned is: row group (0-based), row in the group (0-based), row in the
 * file (0-based). */
void eng_pq_where(const eng_pq *pq, size_t *group, uint64_t *row_in_group, uint64_t *row_in_file);

/* Chat-style answers to text, in place: `chosen`/`rejected` (and `prompt`) that are lists of
 * {role, content} messages become the content of their last assistant message (content a string,
 * or a list of parts whose `text` strings are joined); when the row has no prompt/question
 * string, `prompt` is set from the last user message of the prompt list, else of chosen. Other
 * values are left as they are. Returns 0 or ENG_ENOMEM. */
int eng_pq_flatten_messages(json_t *row);

/* The .parquet files directly in folder dir, sorted by name (a folder of shards). Returns 0 with
 * *files (*n malloc'd strings in a malloc'd array, caller frees both), ENG_EINPUT when dir cannot
 * be read or holds none, ENG_ENOMEM. */
int eng_pq_list_dir(const char *dir, char ***files, size_t *n, eng_err *err);

#endif
