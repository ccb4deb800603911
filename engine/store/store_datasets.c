/* store_datasets.c - the SELECTs on datasets (with per-dataset counts) that reports/ need.
 * Read-only. */
#include "store_datasets.h"
#include "workspace_sql.h"

#include <stdlib.h>
#include <string.h>

static const char *sql_datasets =
    "SELECT d.id, d.name,"
    " (SELECT count(*) FROM pairs p WHERE p.dataset_id = d.id),"
    " (SELECT count(*) FROM pairs p WHERE p.dataset_id = d.id AND p.image_id IS NULL),"
    " (SELECT count(*) FROM ingest_errors e WHERE e.dataset_id = d.id)"
    " FROM datasets d ORDER BY d.id";

static const char *sql_name = "SELECT name FROM datasets WHERE id = ?1";

int eng_datasets_each(eng_ws *ws, eng_dataset_cb cb, void *ctx, eng_err *err)
{
	sqlite3_stmt *q = eng_ws_prepare(ws, sql_datasets, err);
	if (!q)
		return err ? err->code : ENG_EINTERNAL;
	int rc = 0, s;
	while ((s = sqlite3_step(q)) == SQLITE_ROW) {
		eng_dataset_row r = {
		    .id = sqlite3_column_int64(q, 0),
		    .name = (const char *)sqlite3_column_text(q, 1),
		    .pairs = sqlite3_column_int64(q, 2),
		    .pairs_without_image = sqlite3_column_int64(q, 3),
		    .errors = sqlite3_column_int64(q, 4),
		};
		if ((rc = cb(ctx, &r)))
			break;
	}
	if (!rc && s != SQLITE_DONE)
		rc = eng_ws_fail(ws, err, "list datasets");
	sqlite3_finalize(q);
	return rc;
}

int eng_dataset_name(eng_ws *ws, int64_t id, char **name, eng_err *err)
{
	*name = NULL;
	sqlite3_stmt *q = eng_ws_prepare(ws, sql_name, err);
	if (!q)
		return err ? err->code : ENG_EINTERNAL;
	sqlite3_bind_int64(q, 1, id);
	int rc = 0, s = sqlite3_step(q);
	if (s == SQLITE_ROW) {
		const char *nm = (const char *)sqlite3_column_text(q, 0);
		if (!(*name = strdup(nm ? nm : "")))
			rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
	} else if (s == SQLITE_DONE) {
		rc = eng_err_set(err, ENG_EINPUT, "no dataset with id %lld", (long long)id);
	} else {
		rc = eng_ws_fail(ws, err, "read dataset name");
	}
	sqlite3_finalize(q);
	return rc;
}
