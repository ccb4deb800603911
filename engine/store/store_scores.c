/* store_scores.c - the scans of pair_scores JOIN pairs behind samples.csv, weights and the
 * histograms. Read-only; one prepared statement per call, finalized before returning. */
#include "store_scores.h"
#include "workspace_sql.h"

#include <math.h>
#include <stddef.h>

#define SCORE_COLUMNS                                                                              \
	"SELECT s.pair_id, p.ext_id, s.p_text, s.p_mm, s.p_sa, s.sfc, s.category,"                 \
	" coalesce(s.chosen_chars, length(p.chosen)), coalesce(s.rejected_chars,"                  \
	" length(p.rejected)), s.image_effect, s.swap_flip, p.dup_group, p.conflict, p.file_id,"   \
	" p.line, (SELECT path FROM source_files f WHERE f.id = p.file_id)"

static const char *sql_any =
    SCORE_COLUMNS " FROM pair_scores s JOIN pairs p ON p.id = s.pair_id WHERE s.run_id = ?1 AND"
                  " p.dataset_id = ?2";

/* pair_scores first (CROSS JOIN): its primary key walks pair ids in order, no sort */
static const char *sql_by_pair = SCORE_COLUMNS
    " FROM pair_scores s CROSS JOIN pairs p ON p.id = s.pair_id WHERE s.run_id = ?1 AND"
    " p.dataset_id = ?2 ORDER BY s.pair_id";

static const char *sql_brief = "SELECT s.pair_id, s.p_text, s.category FROM pair_scores s JOIN"
                               " pairs p ON p.id = s.pair_id WHERE s.run_id = ?1 AND"
                               " p.dataset_id = ?2";

/* A REAL column that may be NULL: NAN for NULL. */
static double real_or_nan(sqlite3_stmt *q, int i)
{
	return sqlite3_column_type(q, i) == SQLITE_NULL ? NAN : sqlite3_column_double(q, i);
}

static void read_full(sqlite3_stmt *q, eng_score_row *r)
{
	r->pair_id = sqlite3_column_int64(q, 0);
	r->ext_id = (const char *)sqlite3_column_text(q, 1);
	r->p_text = sqlite3_column_double(q, 2);
	r->p_mm = real_or_nan(q, 3);
	r->p_sa = real_or_nan(q, 4);
	r->sfc = real_or_nan(q, 5);
	r->category = (const char *)sqlite3_column_text(q, 6);
	r->chosen_chars = sqlite3_column_int64(q, 7);
	r->rejected_chars = sqlite3_column_int64(q, 8);
	r->image_effect = real_or_nan(q, 9);
	r->swap_flip = sqlite3_column_type(q, 10) == SQLITE_NULL ? -1 : sqlite3_column_int(q, 10);
	r->dup_group = (const char *)sqlite3_column_text(q, 11);
	r->conflict = sqlite3_column_int(q, 12) != 0;
	r->file_id = sqlite3_column_int64(q, 13);
	r->line = sqlite3_column_int64(q, 14);
	r->source_path = (const char *)sqlite3_column_text(q, 15);
}

static void read_brief(sqlite3_stmt *q, eng_score_row *r)
{
	r->pair_id = sqlite3_column_int64(q, 0);
	r->p_text = sqlite3_column_double(q, 1);
	r->category = (const char *)sqlite3_column_text(q, 2);
}

static int scan(eng_ws *ws, const char *sql, void (*read)(sqlite3_stmt *, eng_score_row *),
                int64_t run_id, int64_t dataset_id, eng_score_cb cb, void *ctx, eng_err *err)
{
	sqlite3_stmt *q = eng_ws_prepare(ws, sql, err);
	if (!q)
		return err ? err->code : ENG_EINTERNAL;
	sqlite3_bind_int64(q, 1, run_id);
	sqlite3_bind_int64(q, 2, dataset_id);
	int rc = 0, s;
	while ((s = sqlite3_step(q)) == SQLITE_ROW) {
		eng_score_row r = {0};
		read(q, &r);
		if ((rc = cb(ctx, &r)))
			break;
	}
	if (!rc && s != SQLITE_DONE)
		rc = eng_ws_fail(ws, err, "read pair scores");
	sqlite3_finalize(q);
	return rc;
}

int eng_scores_each(eng_ws *ws, int64_t run_id, int64_t dataset_id, eng_scores_order order,
                    eng_score_cb cb, void *ctx, eng_err *err)
{
	return scan(ws, order == ENG_SCORES_BY_PAIR ? sql_by_pair : sql_any, read_full, run_id,
	            dataset_id, cb, ctx, err);
}

int eng_scores_each_brief(eng_ws *ws, int64_t run_id, int64_t dataset_id, eng_score_cb cb,
                          void *ctx, eng_err *err)
{
	return scan(ws, sql_brief, read_brief, run_id, dataset_id, cb, ctx, err);
}
