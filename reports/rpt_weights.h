/* rpt_weights.h - per-pair training weights for a team's own reward-model trainer.
 *
 * The weight of a pair comes from the held-out scores of the newest finished score run of its
 * dataset, by method (engine/eval/weights.h): none, debias (1 - p_text), jtt (the text proxy's
 * held-out errors upweighted by n_right / n_wrong), sfc (the paper's L_t / (L_t + L)), or auto: the
 * method that score chose for the dataset (its metrics' weights.auto: sfc when the MM-RM uses the
 * image, debias otherwise). What each method does to the data is measured by score
 * (weights.<method> in the dataset's metrics). Normalisation: none (raw), mean (divided by the
 * dataset's mean so weights average 1: the default, keeps the loss scale), max (divided by the
 * dataset's max). Keyed by the pair's id from the input file. */
#ifndef RPT_WEIGHTS_H
#define RPT_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"
#include "store_scores.h"
#include "weights.h"
#include "workspace.h"

typedef enum rpt_weights_norm { RPT_NORM_NONE, RPT_NORM_MEAN, RPT_NORM_MAX } rpt_weights_norm;
typedef enum rpt_weights_format { RPT_WEIGHTS_CSV, RPT_WEIGHTS_JSONL } rpt_weights_format;

/* The method used for one dataset and why (auto's choice, from the score run). */
typedef struct rpt_weights_choice {
	char dataset[256];
	eng_wmethod used;
	char reason[512];
} rpt_weights_choice;

/* A dataset's score rows collected by another scan of them (rpt_weights_rows_add as
 * rpt_options.score_tee: samples.csv's), so that rpt_weights_write need not scan them again. A
 * dataset whose rows are missing, incomplete (out of memory) or of another run than the newest
 * is scanned as usual. */
typedef struct rpt_weights_rows rpt_weights_rows;
rpt_weights_rows *rpt_weights_rows_new(void); /* NULL when out of memory */
int rpt_weights_rows_add(void *ctx, int64_t dataset_id, int64_t run_id,
                         const eng_score_row *row); /* always 0 */
void rpt_weights_rows_free(rpt_weights_rows *w);

/* Writes weights of datasets ids[0..n) by method to f. *rows (may be NULL) = pairs written;
 * choice (n, may be NULL) receives each dataset's method and why; pre (may be NULL): rows
 * collected beforehand (above). ENG_EINPUT when a dataset has no finished score run ("run
 * mmaudit score first"), or the method cannot weigh it (sfc on a text-only dataset, jtt when the
 * text proxy makes no held-out error), naming the option to use. */
int rpt_weights_write(eng_ws *ws, const int64_t *ids, size_t n, eng_wmethod method,
                      rpt_weights_format fmt, rpt_weights_norm norm, FILE *f, int64_t *rows,
                      rpt_weights_choice *choice, rpt_weights_rows *pre, eng_err *err);

#endif
