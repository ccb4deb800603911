/* store_step.h - the step loop and NULL-aware column reads that every read of engine/store shares.
 * Internal to engine/store: nothing above the store includes it. It knows no table. */
#ifndef ENG_STORE_STEP_H
#define ENG_STORE_STEP_H

#include "err.h"
#include "workspace.h"
#include "workspace_sql.h"

/* Turns the current row of st into the caller's struct and hands it on: 0 to go on, another
 * value to stop. */
typedef int (*eng_stmt_row_fn)(sqlite3_stmt *st, void *ctx);

/* Steps st to its end, calling row(st, ctx) on each row, and finalizes it. st may be NULL (its
 * eng_ws_prepare failed and filled err): returns err's code then. Returns 0, row's first non-zero
 * value, or on a failed step eng_ws_fail(ws, err, what). */
int eng_stmt_each(eng_ws *ws, sqlite3_stmt *st, eng_stmt_row_fn row, void *ctx, const char *what,
                  eng_err *err);

/* Column col of the current row: text (NULL for NULL), a real (NaN for NULL). */
const char *eng_stmt_text(sqlite3_stmt *st, int col);
double eng_stmt_real(sqlite3_stmt *st, int col);

#endif
