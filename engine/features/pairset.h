/* pairset.h - the in-memory training matrix of a set of preference pairs.
 *
 * Each pair is reduced to the DIFFERENCE of its answers' text features, d = phi(chosen) -
 * phi(rejected), stored sparse (CSR), plus the index of its image's feature row (or -1). Reward
 * models here are linear in phi (plus text x image interactions), so the Bradley-Terry margin
 * r(x, y_c) - r(x, y_r) depends on the pair only through d and the image vector.
 * Built from strings by textfeat.h; owned by the caller; freed with eng_pairset_free.
 *
 * Entries. A row's columns are sorted. Each is stored as its low 16 bits (col) beside its value
 * (val); an escape entry, whose val is the NaN eng_pairset_esc_value() (no real entry holds one:
 * add_row refuses non-finite values), carries in col the high 16 bits of the columns after it in
 * its row (0 before the first escape). Escapes are written only where the high bits change (a row
 * of 2^18 buckets + named features has at most 4), so an entry takes 6 bytes instead of 8: at 62
 * entries a pair, 1M training pairs need 100 MB less. Read a row in order with eng_pairset_iter;
 * nnz and rowptr count escapes too. */
#ifndef ENG_PAIRSET_H
#define ENG_PAIRSET_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "err.h"

typedef struct eng_pairset {
	size_t n;           /* pairs */
	size_t row_cap;     /* allocated capacity of rowptr (pairs) and img_of */
	uint32_t text_dim;  /* columns of d: hashed n-gram buckets + named style features */
	uint32_t dense_dim; /* the LAST dense_dim text columns are external embedding columns: the
	                     * MM-RM gives each its own interaction row instead of folding it into
	                     * the B shared buckets (model.h); 0 after init */
	size_t *rowptr;     /* (n + 1) CSR row pointers into col/val */
	uint16_t *col;   /* (nnz) low 16 bits of each stored entry's column (escape: high bits) */
	float *val;      /* (nnz) value of each stored entry (escape: eng_pairset_esc_value()) */
	size_t nnz, cap; /* stored entries, escapes included; allocated capacity of col/val */
	int32_t *img_of; /* (n) row of the pair's image in img, or -1 for a text-only pair */
	float *img;      /* (n_img, img_dim) row-major image features (raw; models standardize) */
	size_t n_img;
	uint32_t img_dim;
} eng_pairset;

#define ENG_PAIRSET_ESC_BITS 0x7fc0e5c0u /* a quiet NaN */

static inline float eng_pairset_esc_value(void)
{
	uint32_t u = ENG_PAIRSET_ESC_BITS;
	float v;
	memcpy(&v, &u, sizeof v);
	return v;
}

/* 1 when stored value v marks an escape entry (a bit comparison: safe under -ffast-math). */
static inline int eng_pairset_is_esc(float v)
{
	uint32_t u;
	memcpy(&u, &v, sizeof u);
	return u == ENG_PAIRSET_ESC_BITS;
}

/* Reads row r's entries in column order, escapes skipped:
 *   for (eng_pairset_iter it = eng_pairset_row(ps, r); eng_pairset_next(&it);) use(it.c, it.v);
 */
typedef struct eng_pairset_iter {
	const uint16_t *col;
	const float *val;
	size_t k, end;
	uint32_t hi; /* high bits of the columns from here on, shifted into place */
	uint32_t c;  /* after eng_pairset_next returned 1: the entry's column and value */
	float v;
} eng_pairset_iter;

static inline eng_pairset_iter eng_pairset_row(const eng_pairset *ps, size_t r)
{
	eng_pairset_iter it = {ps->col, ps->val, ps->rowptr[r], ps->rowptr[r + 1], 0, 0, 0};
	return it;
}

static inline int eng_pairset_next(eng_pairset_iter *it)
{
	while (it->k < it->end) {
		size_t k = it->k++;
		float v = it->val[k];
		if (eng_pairset_is_esc(v)) {
			it->hi = (uint32_t)it->col[k] << 16;
			continue;
		}
		it->c = it->hi | it->col[k];
		it->v = v;
		return 1;
	}
	return 0;
}

/* Row r's entries, escapes not counted. */
size_t eng_pairset_row_len(const eng_pairset *ps, size_t r);

/* Initializes *ps as an empty set (rows are appended with eng_pairset_add_row; storage grows
 * geometrically). text_dim >= 1. Returns 0, ENG_EINPUT (text_dim 0) or ENG_ENOMEM; on error *ps is
 * left zeroed (eng_pairset_free is still safe). */
int eng_pairset_init(eng_pairset *ps, uint32_t text_dim, uint32_t img_dim, eng_err *err);
/* Puts one row's entries in the form eng_pairset_add_row stores them (sorted by column, duplicate
 * columns summed, zeros dropped), in place; returns the new count. add_row takes such a row
 * without sorting it again, so callers on other threads can do this part of the work. */
size_t eng_pairset_canon_row(uint32_t *col, float *val, size_t k);
/* Appends one pair: its sparse difference (entries need not be sorted; zero entries dropped;
 * duplicate columns summed; col[j] < text_dim else ENG_EINPUT; non-finite values ENG_EINPUT) and
 * its image row (-1 for none; img_row < n_img is checked by eng_model_train, so images may be set
 * later). Returns 0, ENG_EINPUT or ENG_ENOMEM (the set is unchanged on error). */
int eng_pairset_add_row(eng_pairset *ps, const uint32_t *col, const float *val, size_t k,
                        int32_t img_row, eng_err *err);
/* Copies n_img x img_dim floats as the image table (replacing any previous one). Returns 0,
 * ENG_EINPUT (img NULL with n_img > 0, or img_dim 0) or ENG_ENOMEM. */
int eng_pairset_set_images(eng_pairset *ps, const float *img, size_t n_img, eng_err *err);
/* Drops every row and the image table, keeping the storage for the next rows (a scorer that
 * fills a set batch after batch). */
void eng_pairset_reset(eng_pairset *ps);
void eng_pairset_free(eng_pairset *ps); /* frees members; accepts a zeroed or NULL set */

#endif
