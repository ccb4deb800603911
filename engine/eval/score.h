/* score.h - cross-fitted held-out scores for every pair of one or more datasets.
 *
 * Per dataset: pairs are split into K folds by group (the image's content hash, or the prompt's
 * hash for text-only pairs), so no image is on both sides. For each fold, the text-only proxy, the
 * standard MM-RM and the shortcut-aware MM-RM are trained on the other folds and score the fold.
 * Each pair gets p_text, p_mm, p_sa = sigmoid(held-out margin), sfc and a category (metrics.h). The
 * text features that drive a proxy trained on the whole dataset are kept for the report. The run
 * row is inserted first, as 'running', in its own transaction (runs.h); then one transaction is
 * opened before training, each fold's pair_scores rows are written into it as soon as that fold is
 * trained (from the training threads, one at a time; with a model file, chunk by chunk), and
 * run_datasets, top_features and the run's 'done' mark follow at the end, when it commits. An
 * interrupted score therefore leaves no scores, only its run row: marked 'failed' when the error
 * was seen, still 'running' when the process was killed; readers use 'done' runs only. */
#ifndef ENG_SCORE_H
#define ENG_SCORE_H

#include <stddef.h>
#include <stdint.h>

#include "embeddings.h"
#include "err.h"
#include "model.h"
#include "progress.h"
#include "textfeat.h"
#include "workspace.h"

typedef struct eng_score_opts {
	int folds;        /* K >= 2, default 5 */
	double confident; /* category threshold c in (0.5, 1), default 0.8 */
	int threads;      /* training workers; <= 0 = online CPUs */
	int top_features; /* how many proxy features to keep, default 50 */
	unsigned
	    extra_methods;     /* (1u << eng_method) of poe, debias, jtt to train too (datasets with
	                          images): metrics "methods".<name> {accuracy, accuracy_ci95, sfd} */
	double min_image_gain; /* mm_informative when the counterfactual image test's accuracy
	                          drop interval lies wholly above this, default 0.01 */
	eng_train_opts train;  /* epochs (0 = auto: eng_train_epochs_auto of a fold's training size,
	                          the default), lr, l2, batch, seed (method is set per model) */
	eng_textfeat_opts text;
	eng_features features; /* builtin / embeddings / both; default auto (embeddings.h) */
	const char *command;   /* recorded with the run */
	/* Optional: called with a sentence for the user (a dataset folded by pair because it has
	 * fewer distinct images/prompts than folds). NULL = silent. */
	void (*note)(void *ctx, const char *msg);
	void *note_ctx;
	/* score --model: score with these exported fold models instead of cross-fitting (folds,
	 * seed, text options, features and thresholds then come from the model). Borrowed. */
	const struct eng_modelfile *model;
} eng_score_opts;

void eng_score_opts_default(eng_score_opts *o);

/* Scores datasets ids[0..nds) (each cross-fitted on its own). Returns 0 and the new run id. */
int eng_score_run(eng_ws *ws, const int64_t *ids, size_t nds, const eng_score_opts *o,
                  const eng_progress *prog, int64_t *run_id, eng_err *err);

/* The dataset metrics of `score` (with --model: no re-fits, no cues) restated from what run
 * run_id stored for dataset_id (pair_scores, and the pairs' answers for the formatting cue): what
 * `merge` writes for merged shards, so a merged workspace reports what a one-machine run with the
 * same model gives. *metrics_out: the JSON text (caller frees). */
int eng_score_restate(eng_ws *ws, int64_t run_id, int64_t dataset_id, double confident,
                      double min_gain, char **metrics_out, eng_err *err);

#endif
