/* parquet_internal.h - the reader's handle and schema, shared by parquet.c (footer, schema) and
 * pqrows.c (column cursors, row assembly). Not a public interface. */
#ifndef ENG_PARQUET_INTERNAL_H
#define ENG_PARQUET_INTERNAL_H

#include "parquet.h"
#include "pqpage.h"

enum { REQUIRED = 0, OPTIONAL = 1, REPEATED = 2 };
enum { CONV_UTF8 = 0, CONV_MAP = 1, CONV_MAP_KV = 2, CONV_LIST = 3, CONV_ENUM = 4, CONV_JSON = 19 };
enum { PAGE_DATA = 0, PAGE_INDEX = 1, PAGE_DICT = 2, PAGE_DATA_V2 = 3 };

typedef struct pq_node {
	char *name;
	int type; /* physical type, -1 for a group */
	int tlen, rep, conv, is_string, is_list, is_map, is_image;
	int nchild;
	int *child;                 /* node indices */
	int16_t def, repl;          /* max definition / repetition level at this node */
	int leaf, leaf_lo, leaf_hi; /* leaf index (primitives); leaves [lo, hi) below */
} pq_node;

typedef struct pq_chunk {
	int codec, type;
	int64_t num_values, start, size; /* bytes [start, start + size) */
} pq_chunk;

typedef struct pq_group {
	int64_t rows;
	pq_chunk *cols; /* nleaves */
} pq_group;

/* One leaf entry of the current row: levels and the value (bytes copied to the row buffer). */
typedef struct pq_ent {
	uint16_t def, rep;
	uint32_t n;
	union {
		int64_t i;
		double d;
		size_t off;
	} u;
} pq_ent;

typedef struct pq_col {
	const pq_node *node;
	pq_chunk ch;
	int64_t pos, end; /* next page header */
	int page;         /* pages read */
	int64_t page_at;  /* where the current page's header starts */
	uint8_t *raw, *buf, *dict_buf, *own, *hdr;
	size_t raw_cap, buf_cap, hdr_cap;
	eng_pq_value *dict, *vals;
	size_t ndict, vals_cap;
	uint32_t *defs, *reps;
	size_t lev_cap;
	size_t nent, ient, ival, nvals;
	pq_ent *row; /* this row's entries */
	size_t nrow, row_cap;
} pq_col;

struct eng_pq {
	char *label;
	int fd;
	const uint8_t *mem;
	int64_t size;
	uint8_t *footer;
	pq_node *nodes;
	size_t nnodes, nleaves;
	int *leaves; /* leaf index -> node */
	pq_group *groups;
	size_t ngroups;
	uint64_t nrows;
	/* reading */
	size_t g; /* current group (ngroups when not started) */
	int started;
	int64_t r;         /* row in group last returned */
	uint64_t file_row; /* rows returned before the current one */
	pq_col *cols;
	uint8_t *rowbuf;
	size_t rowlen, rowcap;
	size_t *lo, *hi; /* per leaf slice of the row being assembled */
	eng_pq_blob *blobs;
	size_t nblobs, blobcap;
	char **labels;
	size_t nlabels, labelcap;
	char *problem;
	eng_err *err;
};

/* Reads n bytes at off (bounds-checked against the file size). 0 or a negative code. */
int eng_pq_read_at(eng_pq *pq, int64_t off, void *buf, size_t n, eng_err *err);

/* Grows *p to at least n elements of size sz (overflow-checked). 0 or -1. */
int eng_pq_grow(void **p, size_t *cap, size_t n, size_t sz);

/* Frees a column cursor's buffers and zeroes it. */
void eng_pq_col_free(pq_col *c);

#endif
