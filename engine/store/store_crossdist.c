/* store_crossdist.c - the SELECT on crossdist_cells behind the gate's o.o.d. rule. Read-only. */
#include "store_crossdist.h"
#include "workspace_sql.h"

static const char *sql_cells = "SELECT test_ds, n, accuracy FROM crossdist_cells WHERE run_id = ?1"
                               " AND method = ?2 AND train_ds = ?3 ORDER BY test_ds";

int eng_xd_cells_each(eng_ws *ws, int64_t run_id, const char *method, int64_t train_ds,
                      eng_xd_cell_cb cb, void *ctx, eng_err *err)
{
	sqlite3_stmt *q = eng_ws_prepare(ws, sql_cells, err);
	if (!q)
		return err ? err->code : ENG_EINTERNAL;
	sqlite3_bind_int64(q, 1, run_id);
	sqlite3_bind_text(q, 2, method, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 3, train_ds);
	int rc = 0, s;
	while ((s = sqlite3_step(q)) == SQLITE_ROW) {
		eng_xd_cell_row r = {
		    .train_ds = train_ds,
		    .test_ds = sqlite3_column_int64(q, 0),
		    .n = sqlite3_column_int64(q, 1),
		    .accuracy = sqlite3_column_double(q, 2),
		};
		if ((rc = cb(ctx, &r)))
			break;
	}
	if (!rc && s != SQLITE_DONE)
		rc = eng_ws_fail(ws, err, "read crossdist cells");
	sqlite3_finalize(q);
	return rc;
}
