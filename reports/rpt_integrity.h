/* rpt_integrity.h - what the report says about the data before the models (issue 15): per dataset
 * the integrity figures (engine/eval/integrity.h), the near-duplicate images of the workspace
 * (engine/ingest/neardup.h), and slices of the scored pairs by a metadata field (given with --by,
 * or the fields proposed because they split the shortcut rate most). Loaded once into the state;
 * the writers (summary.json, report.html, near_duplicates.csv, the verdict's next steps) only read
 * it. Reads the workspace; never writes to it. */
#ifndef RPT_INTEGRITY_H
#define RPT_INTEGRITY_H

#include <jansson.h>
#include <stdio.h>

#include "integrity.h"
#include "neardup.h"
#include "reports/rpt_state.h"

#define RPT_SLICE_MAX_VALUES 30 /* values past the 30 largest are pooled as "other" */
#define RPT_SLICE_MIN_N      30 /* slices this large count for the proposal's spread */
#define RPT_SLICE_PROPOSE    3  /* fields proposed without --by */
#define RPT_SLICE_OTHER      "(other)"
#define RPT_SLICE_MISSING    "(missing)"

typedef struct rpt_integrity_options {
	const char *const *by; /* (n_by) metadata fields to slice by; none: propose */
	size_t n_by;
	const char *position_field; /* NULL: chosen_position (judged records) */
	int near_dup_distance;      /* Hamming bits; < 0: ENG_NEARDUP_DEFAULT_DISTANCE */
} rpt_integrity_options;

typedef struct rpt_slice {
	char *value; /* the metadata value as text, RPT_SLICE_OTHER or RPT_SLICE_MISSING */
	int64_t n;
	double text_right;  /* pairs with p_text > 0.5 */
	double shortcut;    /* pairs in category text-shortcut */
	double longer_wins; /* pick-longer successes (a tie counts 1/2) */
	int64_t values;     /* distinct values pooled into this row (1 unless "other") */
} rpt_slice;

typedef struct rpt_slice_set {
	char *field;
	int proposed; /* 1: chosen by the spread, not given */
	double
	    spread; /* max - min shortcut rate over slices with n >= RPT_SLICE_MIN_N; NAN if < 2 */
	rpt_slice *s; /* (n), by shortcut rate descending, then n, value; "other" last */
	size_t n;
	int64_t distinct; /* distinct values before pooling */
} rpt_slice_set;

typedef struct rpt_ds_integrity {
	eng_integrity in;
	rpt_slice_set *sets;
	size_t n_sets;
	int64_t near_within;   /* near-duplicate image pairs inside this dataset */
	int64_t near_across;   /* image pairs shared with (or near-duplicated in) another dataset */
	int64_t images_across; /* this dataset's images with such a match elsewhere */
} rpt_ds_integrity;

typedef struct rpt_integrity {
	rpt_ds_integrity *ds; /* (n_ds) parallel to rpt_state.ds */
	size_t n_ds;
	const char *position_field; /* as given (borrowed from the options), NULL = default */
	eng_neardup nd;
	int64_t *img_id; /* (n_img) the images named in nd, ascending */
	char **sha;      /* (n_img) their sha256 */
	char **source;   /* (n_img) where each was first read from */
	size_t n_img;
} rpt_integrity;

/* Loads into st->integ (replacing any). Returns 0, ENG_EINPUT (bad option), ENG_ENOMEM or a
 * database error code. */
int rpt_integrity_load(rpt_state *st, const rpt_integrity_options *o, eng_err *err);

/* Frees; accepts NULL. */
void rpt_integrity_free(struct rpt_integrity *x);

/* summary.json's "integrity" object of dataset i (NULL when not loaded) and its "slices" object
 * {field: [...]} (empty object when none). New references. */
json_t *rpt_integrity_json(const rpt_state *st, size_t i);
json_t *rpt_slices_json(const rpt_state *st, size_t i);

/* summary.json's "slices_fields" of dataset i: [{field, proposed, spread, distinct}]. */
json_t *rpt_slices_meta_json(const rpt_state *st, size_t i);

/* near_duplicates.csv: one row per near-duplicate image pair (dataset_a, image_a, source_a,
 * dataset_b, image_b, source_b, distance, scope within|across). *rows may be NULL. */
int rpt_neardup_csv_write(const rpt_state *st, FILE *f, int64_t *rows, eng_err *err);

#endif
