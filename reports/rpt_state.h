/* rpt_state.h - what the report writers and the gate read from the workspace, loaded once.
 *
 * For each dataset: its counts (pairs, pairs without an image, ingest errors) and the metrics of
 * the newest done score run that contains it; the newest done crossdist run; the runs involved (for
 * metadata). Per-pair rows are NOT loaded here: the CSV and HTML writers stream them from the
 * store (engine/store). This module only reads, through the store; it never writes to the
 * workspace and runs no SQL itself. */
#ifndef RPT_STATE_H
#define RPT_STATE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "store_scores.h"
#include "workspace.h"

typedef struct rpt_dataset {
	int64_t id;
	char *name;
	int64_t pairs;               /* pairs in the workspace */
	int64_t pairs_without_image; /* pairs whose image_id is NULL */
	int64_t errors;              /* ingest_errors rows */
	int64_t run_id;              /* newest done score run containing it; 0 = never scored */
	json_t *metrics; /* run_datasets.metrics of that run (owned); NULL when unscored */
} rpt_dataset;

typedef struct rpt_run {
	int64_t id;
	char *kind, *options, *versions, *command, *started_at, *finished_at; /* may be NULL */
	int64_t seed;
	double seconds; /* NAN when unknown */
} rpt_run;

typedef struct rpt_state {
	eng_ws *ws; /* borrowed */
	rpt_dataset *ds;
	size_t n_ds;
	rpt_run *runs; /* the score runs referenced by ds[], then the crossdist run; by id */
	size_t n_runs;
	int64_t crossdist_run;       /* 0 = none */
	json_t *crossdist;           /* its metrics JSON (owned), NULL when none */
	int64_t n_scored;            /* datasets with a score run */
	struct rpt_integrity *integ; /* owned; NULL until rpt_integrity_load (rpt_integrity.h) */
	/* rpt_options.score_tee, for rpt_csv_write (NULL: none) */
	int (*score_tee)(void *ctx, int64_t dataset_id, int64_t run_id, const eng_score_row *row);
	void *score_tee_ctx;
} rpt_state;

/* Loads the state from ws (borrowed; must outlive the state). Returns 0 and *out, or a negative
 * ENG_E* code with *out = NULL. A workspace without any score run loads fine (n_scored = 0). */
int rpt_state_load(eng_ws *ws, rpt_state **out, eng_err *err);

/* Frees; accepts NULL. */
void rpt_state_free(rpt_state *st);

/* A number from a dataset's metrics (dotted path one level deep allowed: "blind.pick_longer");
 * NAN when the dataset is unscored or the key is absent, null or not a number. */
double rpt_metric(const rpt_dataset *d, const char *key);

/* The metrics' JSON value at key (one dotted level allowed, as rpt_metric); NULL when the dataset
 * is unscored or the key is absent. Borrowed from d. */
const json_t *rpt_metric_json(const rpt_dataset *d, const char *key);

/* Whether the dataset has images (issue 12 "has_images"). Runs made before it carry no flag: then
 * pairs_with_image > 0 decides, and when that is absent too the dataset counts as having images. */
int rpt_has_images(const rpt_dataset *d);

/* The counterfactual image test's verdict: RPT_MM_INFORMATIVE (the MM-RM uses the image),
 * RPT_MM_NOT_INFORMATIVE (it does not: SFD, needs-image and the shortcut-aware figures describe
 * the tool), RPT_MM_NO_IMAGES (text-only dataset) or RPT_MM_UNKNOWN (a run made before the test:
 * figures are shown as before). */
enum { RPT_MM_UNKNOWN, RPT_MM_INFORMATIVE, RPT_MM_NOT_INFORMATIVE, RPT_MM_NO_IMAGES };
int rpt_mm_status(const rpt_dataset *d);

/* Looks a run up by id; NULL when absent. */
const rpt_run *rpt_state_run(const rpt_state *st, int64_t id);

/* Looks a dataset up by name; NULL when absent. */
const rpt_dataset *rpt_state_dataset(const rpt_state *st, const char *name);

/* eng_wilson95_p (metrics.h) with the share p of n pairs: lo = hi = NAN when n == 0. */
void rpt_wilson(double p, int64_t n, double *lo, double *hi);

/* Figure definitions shared by summary.json, report.html and the README. */
typedef struct rpt_def {
	const char *key, *label, *definition;
} rpt_def;
extern const rpt_def rpt_defs[];
extern const size_t rpt_defs_count;

#endif
