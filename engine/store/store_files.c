/* store_files.c - the SELECT on source_files behind the reports' input-file tables and the
 * weights' source_file column. Read-only. */
#include "store_files.h"
#include "workspace_sql.h"

#define FILE_SQL                                                                                   \
	"SELECT f.id, f.dataset_id, d.name, f.path, f.sha256, f.bytes, f.records, f.pairs,"        \
	" f.errors FROM source_files f JOIN datasets d ON d.id = f.dataset_id"
static const char *sql_all = FILE_SQL " ORDER BY d.id, f.id";
static const char *sql_one = FILE_SQL " WHERE f.dataset_id = ?1 ORDER BY f.id";

int eng_source_files_each(eng_ws *ws, int64_t dataset_id, eng_source_file_cb cb, void *ctx,
                          eng_err *err)
{
	sqlite3_stmt *q = eng_ws_prepare(ws, dataset_id > 0 ? sql_one : sql_all, err);
	if (!q)
		return err ? err->code : ENG_EINTERNAL;
	if (dataset_id > 0)
		sqlite3_bind_int64(q, 1, dataset_id);
	int rc = 0, s;
	while ((s = sqlite3_step(q)) == SQLITE_ROW) {
		eng_source_file_row r = {
		    .id = sqlite3_column_int64(q, 0),
		    .dataset_id = sqlite3_column_int64(q, 1),
		    .dataset = (const char *)sqlite3_column_text(q, 2),
		    .path = (const char *)sqlite3_column_text(q, 3),
		    .sha256 = (const char *)sqlite3_column_text(q, 4),
		    .bytes = sqlite3_column_int64(q, 5),
		    .records = sqlite3_column_int64(q, 6),
		    .pairs = sqlite3_column_int64(q, 7),
		    .errors = sqlite3_column_int64(q, 8),
		};
		if ((rc = cb(ctx, &r)))
			break;
	}
	if (!rc && s != SQLITE_DONE)
		rc = eng_ws_fail(ws, err, "read source files");
	sqlite3_finalize(q);
	return rc;
}
