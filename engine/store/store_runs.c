/* store_runs.c - the SELECTs on runs and run_datasets that reports/ and audit/ need: newest done
 * run, a run's metadata, the stored metrics text of the run and of its datasets. Read-only; runs
 * are written by engine/base/runs.c. */
#include "store_runs.h"
#include "workspace_sql.h"

#include "store_step.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *sql_latest_ds =
    "SELECT r.id FROM runs r JOIN run_datasets rd ON rd.run_id = r.id WHERE r.kind = ?1 AND"
    " r.status = 'done' AND rd.dataset_id = ?2 ORDER BY r.id DESC LIMIT 1";

static const char *sql_latest_any =
    "SELECT id FROM runs WHERE kind = ?1 AND status = 'done' ORDER BY id DESC LIMIT 1";

static const char *sql_run = "SELECT id, kind, seed, options, versions, command, started_at,"
                             " finished_at, seconds FROM runs WHERE id = ?1";

static const char *sql_run_metrics = "SELECT metrics FROM runs WHERE id = ?1";

static const char *sql_run_datasets =
    "SELECT d.id, d.name, rd.metrics FROM run_datasets rd JOIN datasets d ON d.id = rd.dataset_id"
    " WHERE rd.run_id = ?1 AND (?2 <= 0 OR rd.dataset_id = ?2) ORDER BY d.id";

static const char *sql_auto = "SELECT json_extract(metrics, '$.weights.auto'),"
                              " json_extract(metrics, '$.weights.auto_reason') FROM run_datasets"
                              " WHERE run_id = ?1 AND dataset_id = ?2";

/* A malloc'd copy of text column i, NULL for NULL; *oom set when the copy fails. */
static char *dup_col(sqlite3_stmt *q, int i, int *oom)
{
	const char *s = eng_stmt_text(q, i);
	char *c = s ? strdup(s) : NULL;
	if (s && !c)
		*oom = 1;
	return c;
}

int eng_run_latest(eng_ws *ws, const char *kind, int64_t dataset_id, int64_t *run_id, eng_err *err)
{
	*run_id = 0;
	sqlite3_stmt *q = eng_ws_prepare(ws, dataset_id > 0 ? sql_latest_ds : sql_latest_any, err);
	if (!q)
		return err ? err->code : ENG_EINTERNAL;
	sqlite3_bind_text(q, 1, kind, -1, SQLITE_STATIC);
	if (dataset_id > 0)
		sqlite3_bind_int64(q, 2, dataset_id);
	int rc = 0, s = sqlite3_step(q);
	if (s == SQLITE_ROW)
		*run_id = sqlite3_column_int64(q, 0);
	else if (s != SQLITE_DONE)
		rc = eng_ws_fail(ws, err, "read runs");
	sqlite3_finalize(q);
	return rc;
}

void eng_run_info_clear(eng_run_info *r)
{
	if (!r)
		return;
	free(r->kind);
	free(r->options);
	free(r->versions);
	free(r->command);
	free(r->started_at);
	free(r->finished_at);
	memset(r, 0, sizeof *r);
}

int eng_run_get(eng_ws *ws, int64_t run_id, eng_run_info *out, eng_err *err)
{
	memset(out, 0, sizeof *out);
	sqlite3_stmt *q = eng_ws_prepare(ws, sql_run, err);
	if (!q)
		return err ? err->code : ENG_EINTERNAL;
	sqlite3_bind_int64(q, 1, run_id);
	if (sqlite3_step(q) != SQLITE_ROW) {
		int rc = eng_ws_fail(ws, err, "read run");
		sqlite3_finalize(q);
		return rc;
	}
	int oom = 0;
	out->id = sqlite3_column_int64(q, 0);
	out->kind = dup_col(q, 1, &oom);
	out->seed = sqlite3_column_int64(q, 2);
	out->options = dup_col(q, 3, &oom);
	out->versions = dup_col(q, 4, &oom);
	out->command = dup_col(q, 5, &oom);
	out->started_at = dup_col(q, 6, &oom);
	out->finished_at = dup_col(q, 7, &oom);
	out->seconds = sqlite3_column_type(q, 8) == SQLITE_NULL ? NAN : sqlite3_column_double(q, 8);
	sqlite3_finalize(q);
	if (oom) {
		eng_run_info_clear(out);
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	}
	return 0;
}

int eng_run_metrics(eng_ws *ws, int64_t run_id, char **json, eng_err *err)
{
	*json = NULL;
	sqlite3_stmt *q = eng_ws_prepare(ws, sql_run_metrics, err);
	if (!q)
		return err ? err->code : ENG_EINTERNAL;
	sqlite3_bind_int64(q, 1, run_id);
	int rc = 0, oom = 0, s = sqlite3_step(q);
	if (s == SQLITE_ROW)
		*json = dup_col(q, 0, &oom);
	else if (s != SQLITE_DONE)
		rc = eng_ws_fail(ws, err, "read run metrics");
	sqlite3_finalize(q);
	if (oom)
		rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
	return rc;
}

typedef struct run_dataset_cb {
	eng_run_dataset_cb fn;
	void *ctx;
} run_dataset_cb;

static int run_dataset_row(sqlite3_stmt *q, void *c)
{
	run_dataset_cb *cb = c;
	eng_run_dataset d = {sqlite3_column_int64(q, 0), eng_stmt_text(q, 1), eng_stmt_text(q, 2)};
	return cb->fn(cb->ctx, &d);
}

int eng_run_datasets_each(eng_ws *ws, int64_t run_id, int64_t dataset_id, eng_run_dataset_cb cb,
                          void *ctx, eng_err *err)
{
	sqlite3_stmt *q = eng_ws_prepare(ws, sql_run_datasets, err);
	if (q) {
		sqlite3_bind_int64(q, 1, run_id);
		sqlite3_bind_int64(q, 2, dataset_id);
	}
	run_dataset_cb c = {cb, ctx};
	return eng_stmt_each(ws, q, run_dataset_row, &c, "read run datasets", err);
}

int eng_run_weights_auto(eng_ws *ws, int64_t run_id, int64_t dataset_id, char **method,
                         char **reason, eng_err *err)
{
	*method = *reason = NULL;
	sqlite3_stmt *q = eng_ws_prepare(ws, sql_auto, err);
	if (!q)
		return err ? err->code : ENG_EINTERNAL;
	sqlite3_bind_int64(q, 1, run_id);
	sqlite3_bind_int64(q, 2, dataset_id);
	int oom = 0;
	if (sqlite3_step(q) == SQLITE_ROW) { /* anything else: no choice was stored */
		*method = dup_col(q, 0, &oom);
		*reason = dup_col(q, 1, &oom);
	}
	sqlite3_finalize(q);
	if (oom) {
		free(*method);
		free(*reason);
		*method = *reason = NULL;
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	}
	return 0;
}
