/* store_info.c - the reads of store_info.h: ingest errors, conflicting duplicate groups and
 * the integrity check. Every statement is fixed text; the ones that
 * take a value bind it. It does not interpret what it reads. */
#include "store_info.h"

#include "store_step.h"
#include "workspace_sql.h"

/* Members of conflicting duplicate groups (engine/ingest/dedup.h), group by group. */
static const char *sql_conflicts =
    "SELECT d.name, p.dup_group, p.ext_id, f.path, p.line,"
    " substr(p.chosen, 1, 60) FROM pairs p JOIN datasets d ON d.id = p.dataset_id"
    " JOIN source_files f ON f.id = p.file_id WHERE p.conflict = 1"
    " ORDER BY p.dataset_id, 2, p.id";

static const char *sql_errors =
    "SELECT d.name, e.path, e.line, e.code, e.reason FROM ingest_errors e"
    " JOIN datasets d ON d.id = e.dataset_id ORDER BY e.dataset_id, e.file_id, e.line, e.id";

typedef struct error_cb {
	int (*fn)(void *ctx, const eng_info_error *e);
	void *ctx;
} error_cb;

static int error_row(sqlite3_stmt *st, void *c)
{
	error_cb *cb = c;
	eng_info_error e = {eng_stmt_text(st, 0), eng_stmt_text(st, 1), eng_stmt_text(st, 3),
	                    eng_stmt_text(st, 4), sqlite3_column_int64(st, 2)};
	return cb->fn(cb->ctx, &e);
}

int eng_info_errors_each(eng_ws *ws, int (*fn)(void *ctx, const eng_info_error *e), void *ctx,
                         eng_err *err)
{
	error_cb cb = {fn, ctx};
	return eng_stmt_each(ws, eng_ws_prepare(ws, sql_errors, err), error_row, &cb, "list errors",
	                     err);
}

typedef struct conflict_cb {
	int (*fn)(void *ctx, const eng_info_conflict *c);
	void *ctx;
} conflict_cb;

static int conflict_row(sqlite3_stmt *st, void *c)
{
	conflict_cb *cb = c;
	eng_info_conflict r = {eng_stmt_text(st, 0), eng_stmt_text(st, 1),
	                       eng_stmt_text(st, 2), eng_stmt_text(st, 3),
	                       eng_stmt_text(st, 5), sqlite3_column_int64(st, 4)};
	return cb->fn(cb->ctx, &r);
}

int eng_info_conflicts_each(eng_ws *ws, int (*fn)(void *ctx, const eng_info_conflict *c), void *ctx,
                            eng_err *err)
{
	conflict_cb cb = {fn, ctx};
	return eng_stmt_each(ws, eng_ws_prepare(ws, sql_conflicts, err), conflict_row, &cb,
	                     "list conflicts", err);
}

typedef struct check_cb {
	int (*fn)(void *ctx, const char *row);
	void *ctx;
} check_cb;

static int check_row(sqlite3_stmt *st, void *c)
{
	check_cb *cb = c;
	return cb->fn(cb->ctx, eng_stmt_text(st, 0));
}

int eng_info_check_each(eng_ws *ws, int (*fn)(void *ctx, const char *row), void *ctx, eng_err *err)
{
	check_cb cb = {fn, ctx};
	return eng_stmt_each(ws, eng_ws_prepare(ws, "PRAGMA integrity_check", err), check_row, &cb,
	                     "integrity check", err);
}
