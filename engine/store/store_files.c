/* store_files.c - the SELECT on source_files behind the reports' input-file tables and the
 * weights' source_file column. Read-only. */
#include "store_files.h"
#include "workspace_sql.h"

#include "store_step.h"

#define FILE_SQL                                                                                   \
	"SELECT f.id, f.dataset_id, d.name, f.path, f.sha256, f.bytes, f.records, f.pairs,"        \
	" f.errors FROM source_files f JOIN datasets d ON d.id = f.dataset_id"
static const char *sql_all = FILE_SQL " ORDER BY d.id, f.id";
static const char *sql_one = FILE_SQL " WHERE f.dataset_id = ?1 ORDER BY f.id";

typedef struct file_cb {
	eng_source_file_cb fn;
	void *ctx;
} file_cb;

static int file_row(sqlite3_stmt *q, void *c)
{
	file_cb *cb = c;
	eng_source_file_row r = {
	    .id = sqlite3_column_int64(q, 0),
	    .dataset_id = sqlite3_column_int64(q, 1),
	    .dataset = eng_stmt_text(q, 2),
	    .path = eng_stmt_text(q, 3),
	    .sha256 = eng_stmt_text(q, 4),
	    .bytes = sqlite3_column_int64(q, 5),
	    .records = sqlite3_column_int64(q, 6),
	    .pairs = sqlite3_column_int64(q, 7),
	    .errors = sqlite3_column_int64(q, 8),
	};
	return cb->fn(cb->ctx, &r);
}

int eng_source_files_each(eng_ws *ws, int64_t dataset_id, eng_source_file_cb cb, void *ctx,
                          eng_err *err)
{
	sqlite3_stmt *q = eng_ws_prepare(ws, dataset_id > 0 ? sql_one : sql_all, err);
	if (q && dataset_id > 0)
		sqlite3_bind_int64(q, 1, dataset_id);
	file_cb c = {cb, ctx};
	return eng_stmt_each(ws, q, file_row, &c, "read source files", err);
}
