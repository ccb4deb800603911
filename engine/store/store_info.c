/* store_info.c - the reads of store_info.h: dataset counts, ingest errors, conflicting duplicate
 * groups, the integrity check and the dataset ids. Every statement is fixed text; the ones that
 * take a value bind it. It does not interpret what it reads. */
#include "store_info.h"

#include "store_cli_step.h"
#include "workspace_sql.h"

#include <stdlib.h>

static const char *sql_datasets =
    "SELECT d.name,"
    " (SELECT count(*) FROM pairs p WHERE p.dataset_id = d.id),"
    " (SELECT count(DISTINCT image_id) FROM pairs p WHERE p.dataset_id = d.id AND image_id IS NOT "
    "NULL),"
    " (SELECT count(*) FROM pairs p WHERE p.dataset_id = d.id AND image_id IS NULL),"
    " (SELECT count(*) FROM ingest_errors e WHERE e.dataset_id = d.id),"
    " (SELECT count(*) FROM source_files f WHERE f.dataset_id = d.id),"
    /* duplicates and conflicts as flagged by engine/ingest/dedup.h */
    " (SELECT count(*) - count(DISTINCT p.dup_group) FROM pairs p"
    "  WHERE p.dataset_id = d.id AND p.dup_group IS NOT NULL),"
    " (SELECT count(DISTINCT p.dup_group) FROM pairs p"
    "  WHERE p.dataset_id = d.id AND p.conflict = 1)"
    " FROM datasets d ORDER BY d.id";

/* Members of conflicting duplicate groups (engine/ingest/dedup.h), group by group. */
static const char *sql_conflicts =
    "SELECT d.name, p.dup_group, p.ext_id, f.path, p.line,"
    " substr(p.chosen, 1, 60) FROM pairs p JOIN datasets d ON d.id = p.dataset_id"
    " JOIN source_files f ON f.id = p.file_id WHERE p.conflict = 1"
    " ORDER BY p.dataset_id, 2, p.id";

static const char *sql_errors =
    "SELECT d.name, e.path, e.line, e.code, e.reason FROM ingest_errors e"
    " JOIN datasets d ON d.id = e.dataset_id ORDER BY e.dataset_id, e.file_id, e.line, e.id";

typedef struct dataset_cb {
	int (*fn)(void *ctx, const eng_info_dataset *d);
	void *ctx;
} dataset_cb;

static int dataset_row(sqlite3_stmt *st, void *c)
{
	dataset_cb *cb = c;
	eng_info_dataset d = {eng_cli_col_text(st, 0),     sqlite3_column_int64(st, 1),
	                      sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3),
	                      sqlite3_column_int64(st, 4), sqlite3_column_int64(st, 5),
	                      sqlite3_column_int64(st, 6), sqlite3_column_int64(st, 7)};
	return cb->fn(cb->ctx, &d);
}

int eng_info_datasets_each(eng_ws *ws, int (*fn)(void *ctx, const eng_info_dataset *d), void *ctx,
                           eng_err *err)
{
	dataset_cb cb = {fn, ctx};
	return eng_cli_step_each(ws, eng_ws_prepare(ws, sql_datasets, err), dataset_row, &cb,
	                         "list datasets", err);
}

typedef struct error_cb {
	int (*fn)(void *ctx, const eng_info_error *e);
	void *ctx;
} error_cb;

static int error_row(sqlite3_stmt *st, void *c)
{
	error_cb *cb = c;
	eng_info_error e = {eng_cli_col_text(st, 0), eng_cli_col_text(st, 1),
	                    eng_cli_col_text(st, 3), eng_cli_col_text(st, 4),
	                    sqlite3_column_int64(st, 2)};
	return cb->fn(cb->ctx, &e);
}

int eng_info_errors_each(eng_ws *ws, int (*fn)(void *ctx, const eng_info_error *e), void *ctx,
                         eng_err *err)
{
	error_cb cb = {fn, ctx};
	return eng_cli_step_each(ws, eng_ws_prepare(ws, sql_errors, err), error_row, &cb,
	                         "list errors", err);
}

typedef struct conflict_cb {
	int (*fn)(void *ctx, const eng_info_conflict *c);
	void *ctx;
} conflict_cb;

static int conflict_row(sqlite3_stmt *st, void *c)
{
	conflict_cb *cb = c;
	eng_info_conflict r = {eng_cli_col_text(st, 0), eng_cli_col_text(st, 1),
	                       eng_cli_col_text(st, 2), eng_cli_col_text(st, 3),
	                       eng_cli_col_text(st, 5), sqlite3_column_int64(st, 4)};
	return cb->fn(cb->ctx, &r);
}

int eng_info_conflicts_each(eng_ws *ws, int (*fn)(void *ctx, const eng_info_conflict *c), void *ctx,
                            eng_err *err)
{
	conflict_cb cb = {fn, ctx};
	return eng_cli_step_each(ws, eng_ws_prepare(ws, sql_conflicts, err), conflict_row, &cb,
	                         "list conflicts", err);
}

typedef struct check_cb {
	int (*fn)(void *ctx, const char *row);
	void *ctx;
} check_cb;

static int check_row(sqlite3_stmt *st, void *c)
{
	check_cb *cb = c;
	return cb->fn(cb->ctx, eng_cli_col_text(st, 0));
}

int eng_info_check_each(eng_ws *ws, int (*fn)(void *ctx, const char *row), void *ctx, eng_err *err)
{
	check_cb cb = {fn, ctx};
	return eng_cli_step_each(ws, eng_ws_prepare(ws, "PRAGMA integrity_check", err), check_row,
	                         &cb, "integrity check", err);
}

/* The growing id list of eng_info_dataset_ids. */
typedef struct id_list {
	int64_t *v;
	size_t n, cap;
	eng_err *err;
} id_list;

static int id_row(sqlite3_stmt *st, void *c)
{
	id_list *l = c;
	if (l->n == l->cap) {
		size_t nc = l->cap ? 2 * l->cap : 8;
		int64_t *nv = realloc(l->v, nc * sizeof *nv);
		if (!nv)
			return eng_err_set(l->err, ENG_ENOMEM, "out of memory");
		l->v = nv;
		l->cap = nc;
	}
	l->v[l->n++] = sqlite3_column_int64(st, 0);
	return 0;
}

int eng_info_dataset_ids(eng_ws *ws, int64_t **ids, size_t *n, eng_err *err)
{
	id_list l = {NULL, 0, 0, err};
	int rc =
	    eng_cli_step_each(ws, eng_ws_prepare(ws, "SELECT id FROM datasets ORDER BY id", err),
	                      id_row, &l, "list datasets", err);
	if (rc) {
		free(l.v);
		l.v = NULL;
		l.n = 0;
	}
	*ids = l.v;
	*n = l.n;
	return rc;
}
