/* store_crossdist.c - the SELECT on crossdist_cells behind the gate's o.o.d. rule. Read-only. */
#include "store_crossdist.h"
#include "workspace_sql.h"

#include "store_step.h"

static const char *sql_cells = "SELECT test_ds, n, accuracy FROM crossdist_cells WHERE run_id = ?1"
                               " AND method = ?2 AND train_ds = ?3 ORDER BY test_ds";

typedef struct cell_cb {
	eng_xd_cell_cb fn;
	void *ctx;
	int64_t train_ds;
} cell_cb;

static int cell_row(sqlite3_stmt *q, void *c)
{
	cell_cb *cb = c;
	eng_xd_cell_row r = {
	    .train_ds = cb->train_ds,
	    .test_ds = sqlite3_column_int64(q, 0),
	    .n = sqlite3_column_int64(q, 1),
	    .accuracy = sqlite3_column_double(q, 2),
	};
	return cb->fn(cb->ctx, &r);
}

int eng_xd_cells_each(eng_ws *ws, int64_t run_id, const char *method, int64_t train_ds,
                      eng_xd_cell_cb cb, void *ctx, eng_err *err)
{
	sqlite3_stmt *q = eng_ws_prepare(ws, sql_cells, err);
	if (q) {
		sqlite3_bind_int64(q, 1, run_id);
		sqlite3_bind_text(q, 2, method, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 3, train_ds);
	}
	cell_cb c = {cb, ctx, train_ds};
	return eng_stmt_each(ws, q, cell_row, &c, "read crossdist cells", err);
}
