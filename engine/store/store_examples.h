/* store_examples.h - the example pairs of a category for the report's cards: the best-ranked
 * member of each duplicate group (coalesce(dup_group, pair id)), ranked by p_text, with the
 * pair's texts (their first 4096 code points), scores and image thumbnail; and the category's
 * pair counts.
 *
 * Does not cut texts to a byte cap, merge datasets or look at duplicate groups beyond ranking:
 * reports/rpt_examples.c does that. */
#ifndef ENG_STORE_EXAMPLES_H
#define ENG_STORE_EXAMPLES_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "metrics.h"
#include "workspace.h"

/* One example pair. Pointers are borrowed: valid only during the callback. */
typedef struct eng_example_row {
	int64_t pair_id;
	const char *ext_id;
	const char *text[3]; /* prompt, chosen, rejected: at most their first 4096 code points */
	size_t text_len[3];  /* bytes of text[k] (0 when NULL) */
	int64_t chars[3];    /* their full lengths in code points */
	double p_text, p_mm, p_sa, sfc; /* 0 when NULL */
	int has_image;
	const unsigned char *thumb; /* images.thumb; NULL when absent */
	size_t thumb_len;
	const char *sha256;    /* of the image, NULL without one */
	const char *dup_group; /* NULL when the pair has no duplicate */
} eng_example_row;

/* Called once per row; 0 continues, anything else stops the iteration and is returned by it. */
typedef int (*eng_example_cb)(void *ctx, const eng_example_row *row);

/* Calls cb for at most limit pairs of dataset_id scored in run run_id in category cat, one per
 * duplicate group, by p_text descending (descending != 0) or ascending, ties by pair id.
 * Returns 0, cb's nonzero return (err left to cb), or a negative ENG_E* code with err filled. */
int eng_examples_each(eng_ws *ws, int64_t run_id, int64_t dataset_id, eng_category cat,
                      int descending, int limit, eng_example_cb cb, void *ctx, eng_err *err);

/* *total = pairs of dataset_id in category cat in run run_id, *distinct = of those, distinct
 * duplicate groups (a pair without one counts as its own). Returns 0 or a negative ENG_E* code
 * with err filled ("count examples: ..."). */
int eng_examples_count(eng_ws *ws, int64_t run_id, int64_t dataset_id, eng_category cat,
                       int64_t *total, int64_t *distinct, eng_err *err);

/* 1 when some pair of dataset_id has a duplicate group, 0 when none (then eng_examples_each
 * ranks every pair of the category and *distinct == *total), or a negative ENG_E* code with err
 * filled. */
int eng_examples_grouped(eng_ws *ws, int64_t dataset_id, eng_err *err);

/* Calls cb once with the row eng_examples_each gives for pair_id scored in run run_id (nothing
 * when it is not scored there): for a caller that ranked the category itself. Returns as
 * eng_examples_each. */
int eng_example_get(eng_ws *ws, int64_t run_id, int64_t pair_id, eng_example_cb cb, void *ctx,
                    eng_err *err);

#endif
