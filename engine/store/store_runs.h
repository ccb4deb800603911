/* store_runs.h - reads of the runs table for reports/ and audit/: the newest finished run of a
 * kind, a run's metadata, the metrics JSON text it stored for the run as a whole, and its datasets
 * with the metrics JSON text it stored for each.
 *
 * Does not write runs (engine/base/runs.h records them) and does not interpret the metrics beyond
 * the one choice a reader needs without parsing them (eng_run_weights_auto). Reports parse the
 * JSON text themselves. */
#ifndef ENG_STORE_RUNS_H
#define ENG_STORE_RUNS_H

#include <stdint.h>

#include "err.h"
#include "runs.h" /* ENG_RUN_SCORE, ENG_RUN_CROSSDIST */
#include "workspace.h"

/* A run's metadata as recorded by eng_run_begin / eng_run_finish. */
typedef struct eng_run_info {
	int64_t id;
	char *kind, *options, *versions, *command, *started_at,
	    *finished_at; /* owned; NULL = NULL */
	int64_t seed;
	double seconds; /* NAN when unknown */
} eng_run_info;

/* The newest 'done' run of kind (ENG_RUN_SCORE, ENG_RUN_CROSSDIST): *run_id = its id, 0 when there
 * is none. With dataset_id > 0 only runs that contain that dataset (run_datasets) count; with
 * dataset_id <= 0 every run of the kind does. Returns 0, or a negative ENG_E* code with err
 * filled ("read runs: <sqlite message>") and *run_id = 0. */
int eng_run_latest(eng_ws *ws, const char *kind, int64_t dataset_id, int64_t *run_id, eng_err *err);

/* Reads run run_id into *out (zeroed first; strings malloc'd, owned by the caller, freed with
 * eng_run_info_clear). A run that does not exist or cannot be read is an error ("read run: ...").
 * Returns 0 or a negative ENG_E* code (then *out holds nothing to free). */
int eng_run_get(eng_ws *ws, int64_t run_id, eng_run_info *out, eng_err *err);

/* Frees the strings of r and zeroes it; accepts NULL and a zeroed struct. */
void eng_run_info_clear(eng_run_info *r);

/* The metrics JSON text of run run_id (runs.metrics): *json malloc'd (the caller frees it), NULL
 * when the run has none or does not exist. Returns 0 or a negative ENG_E* code (*json = NULL). */
int eng_run_metrics(eng_ws *ws, int64_t run_id, char **json, eng_err *err);

/* One dataset of a run: its id, its name and the metrics JSON text the run stored for it
 * (run_datasets.metrics). Strings are borrowed: valid only during the callback; NULL = NULL. */
typedef struct eng_run_dataset {
	int64_t dataset_id;
	const char *name, *metrics;
} eng_run_dataset;

/* Called once per row; 0 continues, anything else stops the iteration and is returned by it. */
typedef int (*eng_run_dataset_cb)(void *ctx, const eng_run_dataset *d);

/* Calls cb for the datasets of run run_id in dataset id order: every one with dataset_id <= 0,
 * only dataset_id otherwise (no call when the run does not hold it). Returns 0, cb's nonzero
 * return (err left to cb), or a negative ENG_E* code with err filled ("read run datasets: ..."). */
int eng_run_datasets_each(eng_ws *ws, int64_t run_id, int64_t dataset_id, eng_run_dataset_cb cb,
                          void *ctx, eng_err *err);

/* The weighting method score chose for dataset_id in run run_id and why (the metrics' weights.auto
 * and weights.auto_reason): *method and *reason malloc'd (the caller frees them), each NULL when
 * absent, and both NULL when the metrics cannot be read (a run from before the choice, metrics
 * that are not JSON). Returns 0, or a negative ENG_E* code when the statement cannot be prepared
 * or memory runs out (both NULL). */
int eng_run_weights_auto(eng_ws *ws, int64_t run_id, int64_t dataset_id, char **method,
                         char **reason, eng_err *err);

#endif
