/* crossdist.h - cross-distribution evaluation: each dataset is an environment, split train/test by
 * image (prompt when there is none). Every method is trained on every dataset's train split and
 * tested on every test split: an accuracy matrix per method (rows = trained on, columns = tested
 * on), the i.i.d. mean (diagonal), o.o.d. mean (off-diagonal), their gap, and SFD per cell (MM
 * accuracy where the text proxy trained on the same split is right minus where it is wrong).
 * What leaks is excluded from the test splits (it would inflate o.o.d. figures): a pair whose
 * image also occurs in another of the datasets, or a text-only pair whose answer pair (either
 * order, normalised) does; a prompt shared over different images is not leakage, only counted.
 * A dataset with fewer than 10 distinct groups is split by pair. Per method: i.i.d./o.o.d. means
 * with bootstrap 95% intervals (over test pairs), its o.o.d. gain over standard (paired), a
 * ranking by o.o.d. mean, a recommendation, and (3+ datasets) the leave-one-environment-out
 * selection's figure. Stored as one run. */
#ifndef ENG_CROSSDIST_H
#define ENG_CROSSDIST_H

#include <stddef.h>
#include <stdint.h>

#include "embeddings.h"
#include "err.h"
#include "model.h"
#include "progress.h"
#include "textfeat.h"
#include "workspace.h"

typedef struct eng_crossdist_opts {
	double test_fraction; /* share of groups held out per dataset, default 0.2 */
	int methods;          /* bit mask of (1 << eng_method); default text, standard,
	                         shortcut-aware (ENG_METHODS_ALL: every method) */
	int bootstrap;        /* resamples for the 95% intervals, default 200 (0: none) */
	int threads;
	eng_train_opts train; /* epochs 0 = auto per train split (eng_train_epochs_auto), default */
	eng_textfeat_opts text;
	eng_features features; /* builtin / embeddings / both; default auto (embeddings.h) */
	const char *command;
} eng_crossdist_opts;

void eng_crossdist_opts_default(eng_crossdist_opts *o);

/* Runs the evaluation over datasets ids[0..nds) (1 <= nds <= 64). Returns 0 and the run id; the
 * run's metrics JSON has the shape printed by `mmaudit crossdist --json`. */
int eng_crossdist_run(eng_ws *ws, const int64_t *ids, size_t nds, const eng_crossdist_opts *o,
                      const eng_progress *prog, int64_t *run_id, eng_err *err);

#endif
