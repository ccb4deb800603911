/* store_cli_scores.c - the reads of store_cli_scores.h: a run's per-pair scores and the cursors
 * over a batch workspace's scored pairs and ingest errors. Values are bound, never formatted into
 * the SQL. */
#include "store_cli_scores.h"

#include "store_cli_step.h"
#include "workspace_sql.h"

#include <stdlib.h>

typedef struct score_cb {
	int (*fn)(void *ctx, const eng_cli_score *s);
	void *ctx;
} score_cb;

static int score_row(sqlite3_stmt *st, void *c)
{
	score_cb *cb = c;
	eng_cli_score r = {.dataset = eng_cli_col_text(st, 0),
	                   .id = eng_cli_col_text(st, 1),
	                   .category = eng_cli_col_text(st, 5),
	                   .p_text = eng_cli_col_real(st, 2),
	                   .p_mm = eng_cli_col_real(st, 3),
	                   .sfc = eng_cli_col_real(st, 4),
	                   .p_sa = eng_cli_col_real(st, 6),
	                   .fold = sqlite3_column_int(st, 7)};
	return cb->fn(cb->ctx, &r);
}

int eng_cli_scores_each(eng_ws *ws, int64_t run_id, int (*fn)(void *ctx, const eng_cli_score *s),
                        void *ctx, eng_err *err)
{
	sqlite3_stmt *st =
	    eng_ws_prepare(ws,
	                   "SELECT d.name, p.ext_id, s.p_text, s.p_mm, s.sfc, s.category, "
	                   "s.p_sa, s.fold FROM pair_scores s JOIN pairs p ON p.id = "
	                   "s.pair_id JOIN datasets d ON d.id = p.dataset_id WHERE s.run_id "
	                   "= ?1 ORDER BY p.dataset_id, p.id",
	                   err);
	if (st)
		sqlite3_bind_int64(st, 1, run_id);
	score_cb cb = {fn, ctx};
	return eng_cli_step_each(ws, st, score_row, &cb, "read scores", err);
}

struct eng_cli_batch {
	sqlite3_stmt *st;
	int pairs; /* 1: a pairs cursor, 0: an errors cursor */
	int row;   /* 1 while st stands on a row */
};

static int batch_open(eng_ws *ws, const char *sql, int64_t run_id, int pairs, eng_cli_batch **out,
                      eng_err *err)
{
	*out = NULL;
	eng_cli_batch *b = calloc(1, sizeof *b);
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

int eng_cli_batch_pairs_open(eng_ws *ws, int64_t run_id, eng_cli_batch **out, eng_err *err)
{
	return batch_open(ws,
	                  "SELECT p.line, p.ext_id, s.p_text, s.p_mm, s.p_sa, s.sfc, s.category "
	                  "FROM pairs p JOIN pair_scores s ON s.pair_id = p.id AND s.run_id = ?1 "
	                  "ORDER BY p.line, p.id",
	                  run_id, 1, out, err);
}

int eng_cli_batch_errors_open(eng_ws *ws, eng_cli_batch **out, eng_err *err)
{
	return batch_open(ws, "SELECT line, code, reason FROM ingest_errors ORDER BY line, id", 0,
	                  0, out, err);
}

int eng_cli_batch_pair(const eng_cli_batch *b, eng_cli_score *row)
{
	if (!b || !b->row || !b->pairs)
		return 0;
	sqlite3_stmt *st = b->st;
	*row = (eng_cli_score){.line = sqlite3_column_int64(st, 0),
	                       .id = eng_cli_col_text(st, 1),
	                       .p_text = eng_cli_col_real(st, 2),
	                       .p_mm = eng_cli_col_real(st, 3),
	                       .p_sa = eng_cli_col_real(st, 4),
	                       .sfc = eng_cli_col_real(st, 5),
	                       .category = eng_cli_col_text(st, 6)};
	return 1;
}

int eng_cli_batch_error_row(const eng_cli_batch *b, eng_cli_batch_error *row)
{
	if (!b || !b->row || b->pairs)
		return 0;
	*row = (eng_cli_batch_error){sqlite3_column_int64(b->st, 0), eng_cli_col_text(b->st, 1),
	                             eng_cli_col_text(b->st, 2)};
	return 1;
}

void eng_cli_batch_next(eng_cli_batch *b)
{
	if (b && b->row) /* never past the end: a finished statement would start again */
		b->row = sqlite3_step(b->st) == SQLITE_ROW;
}

void eng_cli_batch_close(eng_cli_batch *b)
{
	if (!b)
		return;
	sqlite3_finalize(b->st);
	free(b);
}
