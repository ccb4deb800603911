/* store_batch.c - the reads of store_batch.h: the cursors over a batch workspace's scored pairs
 * and ingest errors. Values are bound, never formatted into
 * the SQL. */
#include "store_batch.h"

#include "store_step.h"
#include "workspace_sql.h"

#include <stdlib.h>

struct eng_batch {
	sqlite3_stmt *st;
	int pairs; /* 1: a pairs cursor, 0: an errors cursor */
	int row;   /* 1 while st stands on a row */
};

static int batch_open(eng_ws *ws, const char *sql, int64_t run_id, int pairs, eng_batch **out,
                      eng_err *err)
{
	*out = NULL;
	eng_batch *b = calloc(1, sizeof *b);
	if (!b)
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	if (!(b->st = eng_ws_prepare(ws, sql, err))) {
		free(b);
		return err ? err->code : ENG_EINTERNAL;
	}
	if (pairs)
		sqlite3_bind_int64(b->st, 1, run_id);
	b->pairs = pairs;
	b->row = sqlite3_step(b->st) == SQLITE_ROW;
	*out = b;
	return 0;
}

int eng_batch_pairs_open(eng_ws *ws, int64_t run_id, eng_batch **out, eng_err *err)
{
	return batch_open(ws,
	                  "SELECT p.line, p.ext_id, s.p_text, s.p_mm, s.p_sa, s.sfc, s.category "
	                  "FROM pairs p JOIN pair_scores s ON s.pair_id = p.id AND s.run_id = ?1 "
	                  "ORDER BY p.line, p.id",
	                  run_id, 1, out, err);
}

int eng_batch_errors_open(eng_ws *ws, eng_batch **out, eng_err *err)
{
	return batch_open(ws, "SELECT line, code, reason FROM ingest_errors ORDER BY line, id", 0,
	                  0, out, err);
}

int eng_batch_pair(const eng_batch *b, eng_score_row *row)
{
	if (!b || !b->row || !b->pairs)
		return 0;
	sqlite3_stmt *st = b->st;
	*row = (eng_score_row){.line = sqlite3_column_int64(st, 0),
	                       .ext_id = eng_stmt_text(st, 1),
	                       .p_text = eng_stmt_real(st, 2),
	                       .p_mm = eng_stmt_real(st, 3),
	                       .p_sa = eng_stmt_real(st, 4),
	                       .sfc = eng_stmt_real(st, 5),
	                       .category = eng_stmt_text(st, 6)};
	return 1;
}

int eng_batch_error_row(const eng_batch *b, eng_batch_error *row)
{
	if (!b || !b->row || b->pairs)
		return 0;
	*row = (eng_batch_error){sqlite3_column_int64(b->st, 0), eng_stmt_text(b->st, 1),
	                         eng_stmt_text(b->st, 2)};
	return 1;
}

void eng_batch_next(eng_batch *b)
{
	if (b && b->row) /* never past the end: a finished statement would start again */
		b->row = sqlite3_step(b->st) == SQLITE_ROW;
}

void eng_batch_close(eng_batch *b)
{
	if (!b)
		return;
	sqlite3_finalize(b->st);
	free(b);
}
