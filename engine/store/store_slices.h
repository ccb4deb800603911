/* store_slices.h - the scored pairs of a dataset grouped by a metadata value (the user's own
 * metadata JSON, pairs.meta): per value the pair count, text-proxy right answers, text-shortcut
 * pairs and pick-longer successes (the longer answer in code points wins; a tie counts 1/2); the
 * same for several keys in one scan; the totals; and the candidate keys worth slicing by.
 *
 * Does not pool, sort or judge slices (reports/rpt_integrity.c does) and never rewrites metadata.
 */
#ifndef ENG_STORE_SLICES_H
#define ENG_STORE_SLICES_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "workspace.h"

/* One slice. Strings are borrowed: valid only during the callback. */
typedef struct eng_slice_row {
	const char *key;    /* the metadata field */
	const char *value;  /* its value as text; NULL: absent (or a JSON null, see below) */
	int64_t n;          /* scored pairs */
	double text_right;  /* of those, p_text > 0.5 */
	double shortcut;    /* in category text-shortcut */
	double longer_wins; /* pick-longer successes */
} eng_slice_row;

/* Called once per row; 0 continues, anything else stops the iteration and is returned by it. */
typedef int (*eng_slice_cb)(void *ctx, const eng_slice_row *row);

/* Calls cb for each value of metadata field `field` (a top-level key, without '"') over the pairs
 * of dataset_id scored in run run_id, in no particular order; pairs without the field or with
 * unreadable metadata form the row with value NULL. Returns 0, cb's nonzero return (err left to
 * cb), or a negative ENG_E* code with err filled ("read slices: ..."). */
int eng_slices_each(eng_ws *ws, int64_t run_id, int64_t dataset_id, const char *field,
                    eng_slice_cb cb, void *ctx, eng_err *err);

/* Calls cb for each (key, scalar value) of the keys keys[0..n_keys) in one scan, as
 * eng_slices_each but without the rows of pairs lacking the key (eng_slices_total gives what they
 * add up to); a JSON null value comes as value NULL. */
int eng_slices_each_key(eng_ws *ws, int64_t run_id, int64_t dataset_id, const char *const *keys,
                        size_t n_keys, eng_slice_cb cb, void *ctx, eng_err *err);

/* The figures of all pairs of dataset_id scored in run run_id, into *out (key, value NULL).
 * Returns 0 or a negative ENG_E* code with err filled ("count scored pairs: ..."). */
int eng_slices_total(eng_ws *ws, int64_t run_id, int64_t dataset_id, eng_slice_row *out,
                     eng_err *err);

/* Calls cb with (ctx, key) for at most 24 candidate keys, by key: scalar metadata keys with 2 to
 * 30 distinct values in (a sample of 200000 of) the pairs of dataset_id. key may be NULL. Returns
 * 0, cb's nonzero return, or a negative ENG_E* code ("read metadata fields: ..."). */
int eng_slice_fields_each(eng_ws *ws, int64_t dataset_id, int (*cb)(void *ctx, const char *key),
                          void *ctx, eng_err *err);

#endif
