/* store_cli_runs.c - the reads of store_cli_runs.h: a run's metrics, its datasets' metrics and its
 * top features. Values are bound, never formatted into the SQL. */
#include "store_cli_runs.h"

#include "store_cli_step.h"
#include "workspace_sql.h"

#include <stdlib.h>
#include <string.h>

int eng_cli_run_metrics(eng_ws *ws, int64_t run_id, char **metrics, eng_err *err)
{
	*metrics = NULL;
	sqlite3_stmt *st = eng_ws_prepare(ws, "SELECT metrics FROM runs WHERE id = ?1", err);
	if (!st)
		return err ? err->code : ENG_EINTERNAL;
	sqlite3_bind_int64(st, 1, run_id);
	int s = sqlite3_step(st), rc = 0;
	if (s == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(st, 0);
		if (t && !(*metrics = strdup(t)))
			rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
	} else if (s != SQLITE_DONE) {
		rc = eng_ws_fail(ws, err, "read run metrics");
	}
	sqlite3_finalize(st);
	return rc;
}

typedef struct dataset_cb {
	int (*fn)(void *ctx, const eng_cli_run_dataset *d);
	void *ctx;
} dataset_cb;

static int dataset_row(sqlite3_stmt *st, void *c)
{
	dataset_cb *cb = c;
	eng_cli_run_dataset d = {eng_cli_col_text(st, 0), eng_cli_col_text(st, 1),
	                         sqlite3_column_int64(st, 2)};
	return cb->fn(cb->ctx, &d);
}

int eng_cli_run_datasets_each(eng_ws *ws, int64_t run_id,
                              int (*fn)(void *ctx, const eng_cli_run_dataset *d), void *ctx,
                              eng_err *err)
{
	sqlite3_stmt *st =
	    eng_ws_prepare(ws,
	                   "SELECT d.name, rd.metrics, d.id FROM run_datasets rd JOIN datasets d "
	                   "ON d.id = rd.dataset_id WHERE rd.run_id = ?1 ORDER BY d.id",
	                   err);
	if (st)
		sqlite3_bind_int64(st, 1, run_id);
	dataset_cb cb = {fn, ctx};
	return eng_cli_step_each(ws, st, dataset_row, &cb, "read run datasets", err);
}

typedef struct feature_cb {
	int (*fn)(void *ctx, const eng_cli_top_feature *f);
	void *ctx;
} feature_cb;

static int feature_row(sqlite3_stmt *st, void *c)
{
	feature_cb *cb = c;
	eng_cli_top_feature f = {sqlite3_column_int64(st, 0), eng_cli_col_text(st, 1),
	                         sqlite3_column_double(st, 2), eng_cli_col_real(st, 3),
	                         eng_cli_col_real(st, 4)};
	return cb->fn(cb->ctx, &f);
}

int eng_cli_top_features_each(eng_ws *ws, int64_t run_id, int64_t dataset_id,
                              int (*fn)(void *ctx, const eng_cli_top_feature *f), void *ctx,
                              eng_err *err)
{
	sqlite3_stmt *st = eng_ws_prepare(ws,
	                                  "SELECT rank, feature, weight, present, acc_present FROM "
	                                  "top_features WHERE run_id = ?1 AND dataset_id = ?2 "
	                                  "ORDER BY rank",
	                                  err);
	if (st) {
		sqlite3_bind_int64(st, 1, run_id);
		sqlite3_bind_int64(st, 2, dataset_id);
	}
	feature_cb cb = {fn, ctx};
	return eng_cli_step_each(ws, st, feature_row, &cb, "read top features", err);
}
