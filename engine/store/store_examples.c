/* store_examples.c - the capped, group-deduplicated SELECT behind the report's example cards and
 * the category counts beside it. Read-only. */
#include "store_examples.h"
#include "workspace_sql.h"

#include "store_step.h"

/* One card per duplicate group (engine/ingest/dedup.h): the group's best-ranked member of the
 * category (?4) stands for it, so "top N" (?3) are N distinct pairs. */
#define CARD_SQL(DIR)                                                                              \
	"WITH r AS (SELECT s.pair_id AS id, s.p_text AS pt, row_number() OVER (PARTITION BY"       \
	" coalesce(p.dup_group, p.id) ORDER BY s.p_text " DIR ", p.id) AS rn FROM pair_scores s"   \
	" JOIN pairs p ON p.id = s.pair_id WHERE s.run_id = ?1 AND p.dataset_id = ?2 AND"          \
	" s.category = ?4)"                                                                        \
	" SELECT p.id, p.ext_id, substr(p.prompt, 1, 4096), length(p.prompt),"                     \
	" substr(p.chosen, 1, 4096), length(p.chosen), substr(p.rejected, 1, 4096),"               \
	" length(p.rejected), s.p_text, s.p_mm, s.p_sa, s.sfc, p.image_id, i.thumb, i.sha256,"     \
	" p.dup_group FROM r JOIN pair_scores s ON s.run_id = ?1 AND s.pair_id = r.id"             \
	" JOIN pairs p ON p.id = r.id LEFT JOIN images i ON i.id = p.image_id WHERE r.rn = 1"      \
	" ORDER BY r.pt " DIR ", p.id LIMIT ?3"
static const char *sql_desc = CARD_SQL("DESC");
static const char *sql_asc = CARD_SQL("ASC");

/* The same cards when the dataset has no duplicate group: every pair is its own group, so each is
 * its group's best (rn = 1) and the window's sort of every pair of the category is left out; the
 * rows and their order are those of CARD_SQL. */
#define CARD_SQL_NOGROUP(DIR)                                                                      \
	"SELECT p.id, p.ext_id, substr(p.prompt, 1, 4096), length(p.prompt),"                      \
	" substr(p.chosen, 1, 4096), length(p.chosen), substr(p.rejected, 1, 4096),"               \
	" length(p.rejected), s.p_text, s.p_mm, s.p_sa, s.sfc, p.image_id, i.thumb, i.sha256,"     \
	" p.dup_group FROM pair_scores s JOIN pairs p ON p.id = s.pair_id LEFT JOIN images i ON"   \
	" i.id = p.image_id WHERE s.run_id = ?1 AND p.dataset_id = ?2 AND s.category = ?4"         \
	" ORDER BY s.p_text " DIR ", p.id LIMIT ?3"
static const char *sql_desc_nogroup = CARD_SQL_NOGROUP("DESC");
static const char *sql_asc_nogroup = CARD_SQL_NOGROUP("ASC");

/* One pair's card row, the columns of CARD_SQL_NOGROUP. */
static const char *sql_one =
    "SELECT p.id, p.ext_id, substr(p.prompt, 1, 4096), length(p.prompt),"
    " substr(p.chosen, 1, 4096), length(p.chosen), substr(p.rejected, 1, 4096),"
    " length(p.rejected), s.p_text, s.p_mm, s.p_sa, s.sfc, p.image_id, i.thumb, i.sha256,"
    " p.dup_group FROM pair_scores s JOIN pairs p ON p.id = s.pair_id LEFT JOIN images i ON"
    " i.id = p.image_id WHERE s.run_id = ?1 AND s.pair_id = ?2";

static const char *sql_count =
    "SELECT count(*), count(DISTINCT coalesce(p.dup_group, p.id)) FROM pair_scores s"
    " JOIN pairs p ON p.id = s.pair_id WHERE s.run_id = ?1 AND p.dataset_id = ?2"
    " AND s.category = ?3";

/* Without a duplicate group the distinct count is the count. */
static const char *sql_count_nogroup =
    "SELECT count(*), count(*) FROM pair_scores s JOIN pairs p ON p.id = s.pair_id"
    " WHERE s.run_id = ?1 AND p.dataset_id = ?2 AND s.category = ?3";

/* 1 when some pair of the dataset has a duplicate group (the partial index pairs_dup_group), 0
 * when none, -1 on a read error (err set). */
static int has_groups(eng_ws *ws, int64_t dataset_id, eng_err *err)
{
	sqlite3_stmt *q = eng_ws_prepare(
	    ws,
	    "SELECT EXISTS (SELECT 1 FROM pairs WHERE dataset_id = ?1 AND dup_group IS NOT NULL)",
	    err);
	if (!q)
		return -1;
	sqlite3_bind_int64(q, 1, dataset_id);
	int r = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int(q, 0) != 0 : -1;
	if (r < 0)
		eng_ws_fail(ws, err, "read duplicate groups");
	sqlite3_finalize(q);
	return r;
}

typedef struct example_cb {
	eng_example_cb fn;
	void *ctx;
} example_cb;

static int example_row(sqlite3_stmt *q, void *c)
{
	example_cb *cb = c;
	eng_example_row r = {0};
	r.pair_id = sqlite3_column_int64(q, 0);
	r.ext_id = eng_stmt_text(q, 1);
	for (int k = 0; k < 3; k++) {
		r.text[k] = eng_stmt_text(q, 2 + 2 * k);
		r.text_len[k] = r.text[k] ? (size_t)sqlite3_column_bytes(q, 2 + 2 * k) : 0;
		r.chars[k] = sqlite3_column_int64(q, 3 + 2 * k);
	}
	r.p_text = sqlite3_column_double(q, 8);
	r.p_mm = sqlite3_column_double(q, 9);
	r.p_sa = sqlite3_column_double(q, 10);
	r.sfc = sqlite3_column_double(q, 11);
	r.has_image = sqlite3_column_type(q, 12) != SQLITE_NULL;
	int tl = sqlite3_column_bytes(q, 13);
	r.thumb = sqlite3_column_blob(q, 13);
	r.thumb_len = r.thumb && tl > 0 ? (size_t)tl : 0;
	r.sha256 = eng_stmt_text(q, 14);
	r.dup_group = eng_stmt_text(q, 15);
	return cb->fn(cb->ctx, &r);
}

int eng_examples_each(eng_ws *ws, int64_t run_id, int64_t dataset_id, eng_category cat,
                      int descending, int limit, eng_example_cb cb, void *ctx, eng_err *err)
{
	int g = has_groups(ws, dataset_id, err);
	if (g < 0)
		return err ? err->code : ENG_EINTERNAL;
	sqlite3_stmt *q = eng_ws_prepare(ws,
	                                 g ? (descending ? sql_desc : sql_asc)
	                                   : (descending ? sql_desc_nogroup : sql_asc_nogroup),
	                                 err);
	if (q) {
		sqlite3_bind_int64(q, 1, run_id);
		sqlite3_bind_int64(q, 2, dataset_id);
		sqlite3_bind_int(q, 3, limit);
		sqlite3_bind_text(q, 4, eng_category_name(cat), -1, SQLITE_STATIC);
	}
	example_cb c = {cb, ctx};
	return eng_stmt_each(ws, q, example_row, &c, "read examples", err);
}

int eng_examples_count(eng_ws *ws, int64_t run_id, int64_t dataset_id, eng_category cat,
                       int64_t *total, int64_t *distinct, eng_err *err)
{
	*total = *distinct = 0;
	int g = has_groups(ws, dataset_id, err);
	if (g < 0)
		return err ? err->code : ENG_EINTERNAL;
	sqlite3_stmt *q = eng_ws_prepare(ws, g ? sql_count : sql_count_nogroup, err);
	if (!q)
		return err ? err->code : ENG_EINTERNAL;
	sqlite3_bind_int64(q, 1, run_id);
	sqlite3_bind_int64(q, 2, dataset_id);
	sqlite3_bind_text(q, 3, eng_category_name(cat), -1, SQLITE_STATIC);
	int rc = 0;
	if (sqlite3_step(q) == SQLITE_ROW) {
		*total = sqlite3_column_int64(q, 0);
		*distinct = sqlite3_column_int64(q, 1);
	} else {
		rc = eng_ws_fail(ws, err, "count examples");
	}
	sqlite3_finalize(q);
	return rc;
}

int eng_examples_grouped(eng_ws *ws, int64_t dataset_id, eng_err *err)
{
	int g = has_groups(ws, dataset_id, err);
	return g < 0 ? (err && err->code ? err->code : ENG_EINTERNAL) : g;
}

int eng_example_get(eng_ws *ws, int64_t run_id, int64_t pair_id, eng_example_cb cb, void *ctx,
                    eng_err *err)
{
	sqlite3_stmt *q = eng_ws_prepare(ws, sql_one, err);
	if (q) {
		sqlite3_bind_int64(q, 1, run_id);
		sqlite3_bind_int64(q, 2, pair_id);
	}
	example_cb c = {cb, ctx};
	return eng_stmt_each(ws, q, example_row, &c, "read examples", err);
}
