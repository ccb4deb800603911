/* store_info.c - the reads of store_info.h: dataset counts, ingest errors, conflicting duplicate
 * groups, the integrity check and the dataset ids. Every statement is fixed text; the ones that
 * take a value bind it. It does not interpret what it reads. */
#include "store_info.h"

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

static const char *text(sqlite3_stmt *st, int col)
{
	return (const char *)sqlite3_column_text(st, col);
}

/* Steps st to its end, calling row(st, ...) per row; finalizes st. Returns 0, fn's stop value or
 * the failure's code (err filled with what). */
typedef void (*any_fn)(void); /* the caller's fn, cast back to its type by row */
typedef int (*row_fn)(sqlite3_stmt *st, any_fn fn, void *ctx);
static int each_row(eng_ws *ws, sqlite3_stmt *st, row_fn row, any_fn fn, void *ctx,
                    const char *what, eng_err *err)
{
	int s, rc = 0;
	while ((s = sqlite3_step(st)) == SQLITE_ROW)
		if ((rc = row(st, fn, ctx)))
			break;
	if (!rc && s != SQLITE_DONE)
		rc = eng_ws_fail(ws, err, what);
	sqlite3_finalize(st);
	return rc;
}

static int dataset_row(sqlite3_stmt *st, any_fn fn, void *ctx)
{
	eng_info_dataset d = {text(st, 0),
	                      sqlite3_column_int64(st, 1),
	                      sqlite3_column_int64(st, 2),
	                      sqlite3_column_int64(st, 3),
	                      sqlite3_column_int64(st, 4),
	                      sqlite3_column_int64(st, 5),
	                      sqlite3_column_int64(st, 6),
	                      sqlite3_column_int64(st, 7)};
	return ((int (*)(void *, const eng_info_dataset *))fn)(ctx, &d);
}

int eng_info_datasets_each(eng_ws *ws, int (*fn)(void *ctx, const eng_info_dataset *d), void *ctx,
                           eng_err *err)
{
	sqlite3_stmt *st = eng_ws_prepare(ws, sql_datasets, err);
	if (!st)
		return err ? err->code : ENG_EINTERNAL;
	return each_row(ws, st, dataset_row, (any_fn)fn, ctx, "list datasets", err);
}

static int error_row(sqlite3_stmt *st, any_fn fn, void *ctx)
{
	eng_info_error e = {text(st, 0), text(st, 1), text(st, 3), text(st, 4),
	                    sqlite3_column_int64(st, 2)};
	return ((int (*)(void *, const eng_info_error *))fn)(ctx, &e);
}

int eng_info_errors_each(eng_ws *ws, int (*fn)(void *ctx, const eng_info_error *e), void *ctx,
                         eng_err *err)
{
	sqlite3_stmt *st = eng_ws_prepare(ws, sql_errors, err);
	if (!st)
		return err ? err->code : ENG_EINTERNAL;
	return each_row(ws, st, error_row, (any_fn)fn, ctx, "list errors", err);
}

static int conflict_row(sqlite3_stmt *st, any_fn fn, void *ctx)
{
	eng_info_conflict c = {text(st, 0), text(st, 1), text(st, 2),
	                       text(st, 3), text(st, 5), sqlite3_column_int64(st, 4)};
	return ((int (*)(void *, const eng_info_conflict *))fn)(ctx, &c);
}

int eng_info_conflicts_each(eng_ws *ws, int (*fn)(void *ctx, const eng_info_conflict *c), void *ctx,
                            eng_err *err)
{
	sqlite3_stmt *st = eng_ws_prepare(ws, sql_conflicts, err);
	if (!st)
		return err ? err->code : ENG_EINTERNAL;
	return each_row(ws, st, conflict_row, (any_fn)fn, ctx, "list conflicts", err);
}

static int check_row(sqlite3_stmt *st, any_fn fn, void *ctx)
{
	return ((int (*)(void *, const char *))fn)(ctx, text(st, 0));
}

int eng_info_check_each(eng_ws *ws, int (*fn)(void *ctx, const char *row), void *ctx, eng_err *err)
{
	sqlite3_stmt *st = eng_ws_prepare(ws, "PRAGMA integrity_check", err);
	if (!st)
		return err ? err->code : ENG_EINTERNAL;
	return each_row(ws, st, check_row, (any_fn)fn, ctx, "integrity check", err);
}

int eng_info_dataset_ids(eng_ws *ws, int64_t **ids, size_t *n, eng_err *err)
{
	*ids = NULL;
	*n = 0;
	sqlite3_stmt *st = eng_ws_prepare(ws, "SELECT id FROM datasets ORDER BY id", err);
	if (!st)
		return err ? err->code : ENG_EINTERNAL;
	size_t cap = 0;
	int64_t *v = NULL;
	int s, rc = 0;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			size_t nc = cap ? 2 * cap : 8;
			int64_t *nv = realloc(v, nc * sizeof *nv);
			if (!nv) {
				rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
				break;
			}
			v = nv;
			cap = nc;
		}
		v[(*n)++] = sqlite3_column_int64(st, 0);
	}
	if (!rc && s != SQLITE_DONE)
		rc = eng_ws_fail(ws, err, "list datasets");
	sqlite3_finalize(st);
	if (rc) {
		free(v);
		*n = 0;
		return rc;
	}
	*ids = v;
	return 0;
}
