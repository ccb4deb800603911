/* store_cli_runs.h - what a finished run recorded, for the commands that print it (score,
 * crossdist): the run's metrics JSON, its per-dataset metrics and its top text features. Reads
 * only; it neither parses the JSON nor prints (audit/ does). A run is named by its id, as
 * eng_score_run / eng_crossdist_run return it; the newest run of a kind is not looked up here.
 *
 * The iterators call fn once per row in the order stated; the strings of a row are owned by the
 * store and valid only during that call, NULL where the database holds NULL. fn returns 0 to go
 * on; any other value stops the iteration, which then returns that value. On a database failure
 * they return a negative ENG_E* code with err filled ("what: sqlite message"). */
#ifndef ENG_STORE_CLI_RUNS_H
#define ENG_STORE_CLI_RUNS_H

#include <stdint.h>

#include "err.h"
#include "workspace.h"

/* The metrics JSON text of run run_id, malloc'd into *metrics (caller frees); *metrics is NULL
 * when there is no such run or it recorded none (a run not finished), which is not an error.
 * Returns 0, ENG_ENOMEM or a database failure ("read run metrics"). */
int eng_cli_run_metrics(eng_ws *ws, int64_t run_id, char **metrics, eng_err *err);

/* One dataset of a run: its name, id and the metrics JSON text the run stored for it. */
typedef struct eng_cli_run_dataset {
	const char *name, *metrics;
	int64_t dataset_id;
} eng_cli_run_dataset;

/* The datasets of run run_id in dataset id order. Error context: "read run datasets". */
int eng_cli_run_datasets_each(eng_ws *ws, int64_t run_id,
                              int (*fn)(void *ctx, const eng_cli_run_dataset *d), void *ctx,
                              eng_err *err);

/* One top feature of a run's text-only proxy on a dataset: rank (1 = strongest), feature text,
 * weight, present (share of pairs where the feature differs between the answers) and acc_present
 * (the proxy's accuracy on those pairs); NaN where the run stored none. */
typedef struct eng_cli_top_feature {
	int64_t rank;
	const char *feature;
	double weight, present, acc_present;
} eng_cli_top_feature;

/* The top features of run run_id on dataset dataset_id by rank. Error context: "read top
 * features". */
int eng_cli_top_features_each(eng_ws *ws, int64_t run_id, int64_t dataset_id,
                              int (*fn)(void *ctx, const eng_cli_top_feature *f), void *ctx,
                              eng_err *err);

#endif
