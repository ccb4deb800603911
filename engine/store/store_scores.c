/* store_scores.c - the scans of pair_scores JOIN pairs behind samples.csv, weights, the
 * histograms and `mmaudit score --out`. Read-only; one prepared statement per call (and one for the
 * source files' paths), finalized before returning. */
#include "store_scores.h"
#include "workspace_sql.h"

#include "store_step.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define SCORE_COLUMNS                                                                              \
	"SELECT s.pair_id, p.ext_id, s.p_text, s.p_mm, s.p_sa, s.sfc, s.category,"                 \
	" coalesce(s.chosen_chars, length(p.chosen)), coalesce(s.rejected_chars,"                  \
	" length(p.rejected)), s.image_effect, s.swap_flip, p.dup_group, p.conflict, p.file_id,"   \
	" p.line, d.name, s.fold"

static const char *sql_any =
    SCORE_COLUMNS " FROM pair_scores s JOIN pairs p ON p.id = s.pair_id JOIN datasets d ON d.id ="
                  " p.dataset_id WHERE s.run_id = ?1 AND p.dataset_id = ?2";

/* pair_scores first (CROSS JOIN): its primary key walks pair ids in order, no sort */
static const char *sql_by_pair = SCORE_COLUMNS
    " FROM pair_scores s CROSS JOIN pairs p ON p.id = s.pair_id JOIN datasets d ON d.id ="
    " p.dataset_id WHERE s.run_id = ?1 AND p.dataset_id = ?2 ORDER BY s.pair_id";

/* every dataset of the run (?2 unused) */
static const char *sql_all_any =
    SCORE_COLUMNS " FROM pair_scores s JOIN pairs p ON p.id = s.pair_id JOIN datasets d ON d.id ="
                  " p.dataset_id WHERE s.run_id = ?1";

static const char *sql_all_by_pair =
    SCORE_COLUMNS " FROM pair_scores s JOIN pairs p ON p.id = s.pair_id JOIN datasets d ON d.id ="
                  " p.dataset_id WHERE s.run_id = ?1 ORDER BY p.dataset_id, p.id";

/* The brief scan as a merge of two ascending streams of pair ids instead of a JOIN: the run's
 * scores in primary-key order and the dataset's pair ids from the covering index pairs_dataset;
 * a JOIN looked every scored pair up in that index (three quarters of the scan's time). */
static const char *sql_brief_scores = "SELECT pair_id, p_text, category FROM pair_scores"
                                      " WHERE run_id = ?1 ORDER BY pair_id";
static const char *sql_brief_ids = "SELECT id FROM pairs WHERE dataset_id = ?1 ORDER BY id";

static void read_full(sqlite3_stmt *q, eng_score_row *r)
{
	r->pair_id = sqlite3_column_int64(q, 0);
	r->ext_id = eng_stmt_text(q, 1);
	r->p_text = sqlite3_column_double(q, 2);
	r->p_mm = eng_stmt_real(q, 3);
	r->p_sa = eng_stmt_real(q, 4);
	r->sfc = eng_stmt_real(q, 5);
	r->category = eng_stmt_text(q, 6);
	r->chosen_chars = sqlite3_column_int64(q, 7);
	r->rejected_chars = sqlite3_column_int64(q, 8);
	r->image_effect = eng_stmt_real(q, 9);
	r->swap_flip = sqlite3_column_type(q, 10) == SQLITE_NULL ? -1 : sqlite3_column_int(q, 10);
	r->dup_group = eng_stmt_text(q, 11);
	r->conflict = sqlite3_column_int(q, 12) != 0;
	r->file_id = sqlite3_column_int64(q, 13);
	r->line = sqlite3_column_int64(q, 14);
	r->dataset = eng_stmt_text(q, 15);
	r->fold = sqlite3_column_int(q, 16);
}

/* The source files' paths for one scan, read once when the first row asks (SELECT id, path FROM
 * source_files ORDER BY id) instead of by a correlated subquery on every row; looked up by binary
 * search, the last hit first (rows of a file come together). */
typedef struct paths {
	eng_ws *ws;
	int loaded;
	int64_t *id; /* ascending */
	char **path; /* NULL: a NULL path */
	size_t n, last;
} paths;

static void paths_free(paths *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->path[i]);
	free(p->id);
	free(p->path);
}

/* Reads every source file's id and path. 0 or a negative ENG_E* code. */
static int paths_load(paths *p, eng_err *err)
{
	sqlite3_stmt *q =
	    eng_ws_prepare(p->ws, "SELECT id, path FROM source_files ORDER BY id", err);
	if (!q)
		return err && err->code ? err->code : ENG_EINTERNAL;
	size_t cap = 0;
	int s;
	p->loaded = 1;
	while ((s = sqlite3_step(q)) == SQLITE_ROW) {
		if (p->n == cap) {
			size_t nc = cap ? 2 * cap : 16;
			int64_t *ni = realloc(p->id, nc * sizeof *ni);
			if (ni)
				p->id = ni;
			char **np = ni ? realloc(p->path, nc * sizeof *np) : NULL;
			if (np)
				p->path = np;
			if (!ni || !np) {
				sqlite3_finalize(q);
				return eng_err_set(err, ENG_ENOMEM,
				                   "read pair scores: out of memory");
			}
			cap = nc;
		}
		const char *t = eng_stmt_text(q, 1);
		char *c = t ? strdup(t) : NULL;
		if (t && !c) {
			sqlite3_finalize(q);
			return eng_err_set(err, ENG_ENOMEM, "read pair scores: out of memory");
		}
		p->id[p->n] = sqlite3_column_int64(q, 0);
		p->path[p->n++] = c;
	}
	sqlite3_finalize(q);
	return s == SQLITE_DONE ? 0 : eng_ws_fail(p->ws, err, "read pair scores");
}

/* *out: the path of source file id (NULL when there is none). 0 or a negative ENG_E* code. */
static int paths_get(paths *p, int64_t id, const char **out, eng_err *err)
{
	int rc;
	if (!p->loaded && (rc = paths_load(p, err)))
		return rc;
	*out = NULL;
	if (p->last < p->n && p->id[p->last] == id) {
		*out = p->path[p->last];
		return 0;
	}
	size_t lo = 0, hi = p->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (p->id[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < p->n && p->id[lo] == id) {
		p->last = lo;
		*out = p->path[lo];
	}
	return 0;
}

static void read_brief(sqlite3_stmt *q, eng_score_row *r)
{
	r->pair_id = sqlite3_column_int64(q, 0);
	r->p_text = sqlite3_column_double(q, 1);
	r->category = eng_stmt_text(q, 2);
}

typedef struct scan_cb {
	void (*read)(sqlite3_stmt *, eng_score_row *);
	eng_score_cb fn;
	void *ctx;
	paths *paths; /* the full rows' source_path; NULL for the brief ones */
	eng_err *err;
} scan_cb;

static int scan_row(sqlite3_stmt *q, void *c)
{
	scan_cb *cb = c;
	eng_score_row r = {0};
	cb->read(q, &r);
	int rc;
	if (cb->paths && (rc = paths_get(cb->paths, r.file_id, &r.source_path, cb->err)))
		return rc;
	return cb->fn(cb->ctx, &r);
}

static int scan(eng_ws *ws, const char *sql, void (*read)(sqlite3_stmt *, eng_score_row *),
                int64_t run_id, int64_t dataset_id, eng_score_cb cb, void *ctx, eng_err *err)
{
	sqlite3_stmt *q = eng_ws_prepare(ws, sql, err);
	if (q) {
		sqlite3_bind_int64(q, 1, run_id);
		if (dataset_id > 0)
			sqlite3_bind_int64(q, 2, dataset_id);
	}
	paths ps = {.ws = ws};
	scan_cb c = {read, cb, ctx, read == read_full ? &ps : NULL, err};
	int rc = eng_stmt_each(ws, q, scan_row, &c, "read pair scores", err);
	paths_free(&ps);
	return rc;
}

int eng_scores_each(eng_ws *ws, int64_t run_id, int64_t dataset_id, eng_scores_order order,
                    eng_score_cb cb, void *ctx, eng_err *err)
{
	int by_pair = order == ENG_SCORES_BY_PAIR;
	const char *sql = dataset_id > 0 ? (by_pair ? sql_by_pair : sql_any)
	                                 : (by_pair ? sql_all_by_pair : sql_all_any);
	return scan(ws, sql, read_full, run_id, dataset_id, cb, ctx, err);
}

int eng_scores_each_brief(eng_ws *ws, int64_t run_id, int64_t dataset_id, eng_score_cb cb,
                          void *ctx, eng_err *err)
{
	sqlite3_stmt *q = eng_ws_prepare(ws, sql_brief_scores, err), *ids = NULL;
	if (!q || !(ids = eng_ws_prepare(ws, sql_brief_ids, err))) {
		sqlite3_finalize(q);
		return err && err->code ? err->code : ENG_EINTERNAL;
	}
	sqlite3_bind_int64(q, 1, run_id);
	if (dataset_id > 0) /* otherwise NULL: no pair */
		sqlite3_bind_int64(ids, 1, dataset_id);
	int rc = 0, si = sqlite3_step(ids), sq = SQLITE_ROW;
	int64_t id = si == SQLITE_ROW ? sqlite3_column_int64(ids, 0) : 0;
	/* both ascending: each score row is kept when its pair id is the dataset's next one */
	while (!rc && si == SQLITE_ROW && (sq = sqlite3_step(q)) == SQLITE_ROW) {
		int64_t pid = sqlite3_column_int64(q, 0);
		while (si == SQLITE_ROW && id < pid)
			if ((si = sqlite3_step(ids)) == SQLITE_ROW)
				id = sqlite3_column_int64(ids, 0);
		if (si == SQLITE_ROW && id == pid) {
			eng_score_row r = {0};
			read_brief(q, &r);
			rc = cb(ctx, &r);
		}
	}
	if (!rc &&
	    ((si != SQLITE_ROW && si != SQLITE_DONE) || (sq != SQLITE_ROW && sq != SQLITE_DONE)))
		rc = eng_ws_fail(ws, err, "read pair scores");
	sqlite3_finalize(q);
	sqlite3_finalize(ids);
	return rc;
}
