/* store_step.c - the shared step loop and column reads of store_step.h. */
#include "store_step.h"
#include "workspace_sql.h"

#include <math.h>

int eng_stmt_each(eng_ws *ws, sqlite3_stmt *st, eng_stmt_row_fn row, void *ctx, const char *what,
                  eng_err *err)
{
	if (!st)
		return err && err->code ? err->code : ENG_EINTERNAL;
	int s, rc = 0;
	while ((s = sqlite3_step(st)) == SQLITE_ROW)
		if ((rc = row(st, ctx)))
			break;
	if (!rc && s != SQLITE_DONE)
		rc = eng_ws_fail(ws, err, what);
	sqlite3_finalize(st);
	return rc;
}

const char *eng_stmt_text(sqlite3_stmt *st, int col)
{
	return (const char *)sqlite3_column_text(st, col);
}

double eng_stmt_real(sqlite3_stmt *st, int col)
{
	return sqlite3_column_type(st, col) == SQLITE_NULL ? NAN : sqlite3_column_double(st, col);
}
