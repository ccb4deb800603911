/* store_scores.h - iterators over a score run's per-pair held-out scores (pair_scores joined with
 * pairs) for one dataset or all of a run's: the full row for the per-pair files (samples.csv,
 * weights, `mmaudit score --out`), a brief one for histograms.
 *
 * Does not compute or write scores (engine/eval/score.c does) and loads nothing into memory: each
 * row is handed to a callback and forgotten. */
#ifndef ENG_STORE_SCORES_H
#define ENG_STORE_SCORES_H

#include <stdint.h>

#include "err.h"
#include "workspace.h"

/* One scored pair. Strings are borrowed: valid only during the callback. */
typedef struct eng_score_row {
	int64_t pair_id;
	const char *dataset;     /* its dataset's name */
	const char *ext_id;      /* the pair's id from the input file */
	double p_text;           /* sigmoid of the held-out text-only margin (never NULL) */
	double p_mm, p_sa, sfc;  /* NAN when NULL (a text-only dataset) */
	const char *category;    /* eng_category_name() of its category */
	int64_t chosen_chars;    /* code points of the chosen answer */
	int64_t rejected_chars;  /* and of the rejected one */
	double image_effect;     /* |m - m with a swapped image|; NAN when not image-tested */
	int swap_flip;           /* 0/1; -1 when not image-tested */
	const char *dup_group;   /* NULL when the pair has no duplicate */
	int conflict;            /* 0/1: its duplicate group has conflicting labels */
	int64_t file_id, line;   /* where the record was read: source_files.id, 1-based line */
	const char *source_path; /* that file's path as stored (not cleaned); NULL if unknown */
	int fold;                /* the cross-validation fold that held it out */
} eng_score_row;

/* Called once per row; 0 continues, anything else stops the iteration and is returned by it. */
typedef int (*eng_score_cb)(void *ctx, const eng_score_row *row);

/* Row order of eng_scores_each: whatever the fastest scan gives, or ascending (dataset id, pair
 * id), which within one dataset is ascending pair id. */
typedef enum eng_scores_order { ENG_SCORES_ANY_ORDER, ENG_SCORES_BY_PAIR } eng_scores_order;

/* Calls cb for every pair of dataset_id scored in run run_id (dataset_id <= 0: of every dataset
 * of the run), in order. Returns 0, cb's nonzero
 * return (err left to cb), or a negative ENG_E* code with err filled ("read pair scores: ..."). */
int eng_scores_each(eng_ws *ws, int64_t run_id, int64_t dataset_id, eng_scores_order order,
                    eng_score_cb cb, void *ctx, eng_err *err);

/* As eng_scores_each for one dataset (dataset_id > 0) in any order (now ascending pair id),
 * filling only pair_id, p_text and category (the other fields are 0 / NULL): a cheaper scan, the
 * run's scores merged with the dataset's pair ids instead of joined to pairs. */
int eng_scores_each_brief(eng_ws *ws, int64_t run_id, int64_t dataset_id, eng_score_cb cb,
                          void *ctx, eng_err *err);

#endif
