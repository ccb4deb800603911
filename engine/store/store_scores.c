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

static const char *sql_brief = "SELECT s.pair_id, s.p_text, s.category FROM pair_scores s JOIN"
                               " pairs p ON p.id = s.pair_id WHERE s.run_id = ?1 AND"
                               " p.dataset_id = ?2";

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

/* The source files' paths by id for one scan, each read once (SELECT path FROM source_files)
 * instead of by a correlated subquery on every row: an open-addressing table of the ids seen,
 * grown at half full, and the last hit (rows of a file come together). */
typedef struct paths {
	eng_ws *ws;
	sqlite3_stmt *q; /* prepared on the first look-up */
	int64_t *id;
	char **path; /* NULL: no such file (the subquery's NULL) */
	unsigned char *used;
	size_t cap, n; /* cap: 0 or a power of two */
	int64_t last_id;
	const char *last;
	int have_last;
} paths;

static void paths_free(paths *p)
{
	for (size_t i = 0; i < p->cap; i++)
		if (p->used[i])
			free(p->path[i]);
	free(p->id);
	free(p->path);
	free(p->used);
	sqlite3_finalize(p->q);
}

static size_t paths_slot(const paths *p, int64_t id)
{
	size_t i = (size_t)(((uint64_t)id * 0x9E3779B97F4A7C15ULL) >> 32) & (p->cap - 1);
	while (p->used[i] && p->id[i] != id)
		i = (i + 1) & (p->cap - 1);
	return i;
}

static int paths_grow(paths *p, eng_err *err)
{
	paths o = *p;
	size_t nc = o.cap ? 2 * o.cap : 16;
	p->id = malloc(nc * sizeof *p->id);
	p->path = malloc(nc * sizeof *p->path);
	p->used = calloc(nc, 1);
	if (!p->id || !p->path || !p->used) {
		free(p->id), free(p->path), free(p->used);
		p->id = o.id, p->path = o.path, p->used = o.used;
		return eng_err_set(err, ENG_ENOMEM, "read pair scores: out of memory");
	}
	p->cap = nc;
	for (size_t i = 0; i < o.cap; i++) {
		if (!o.used[i])
			continue;
		size_t j = paths_slot(p, o.id[i]);
		p->used[j] = 1;
		p->id[j] = o.id[i];
		p->path[j] = o.path[i];
	}
	free(o.id), free(o.path), free(o.used);
	return 0;
}

/* *out: the path of source file id (NULL when there is none). 0 or a negative ENG_E* code. */
static int paths_get(paths *p, int64_t id, const char **out, eng_err *err)
{
	if (p->have_last && p->last_id == id) {
		*out = p->last;
		return 0;
	}
	int rc;
	if (2 * (p->n + 1) > p->cap && (rc = paths_grow(p, err)))
		return rc;
	size_t i = paths_slot(p, id);
	if (!p->used[i]) {
		if (!p->q && !(p->q = eng_ws_prepare(
		                   p->ws, "SELECT path FROM source_files WHERE id = ?1", err)))
			return err && err->code ? err->code : ENG_EINTERNAL;
		sqlite3_bind_int64(p->q, 1, id);
		int s = sqlite3_step(p->q);
		const char *t = s == SQLITE_ROW ? eng_stmt_text(p->q, 0) : NULL;
		char *c = t ? strdup(t) : NULL;
		sqlite3_reset(p->q);
		if (s != SQLITE_ROW && s != SQLITE_DONE)
			return eng_ws_fail(p->ws, err, "read pair scores");
		if (t && !c)
			return eng_err_set(err, ENG_ENOMEM, "read pair scores: out of memory");
		p->used[i] = 1;
		p->id[i] = id;
		p->path[i] = c;
		p->n++;
	}
	p->last_id = id;
	p->last = p->path[i];
	p->have_last = 1;
	*out = p->last;
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
	return scan(ws, sql_brief, read_brief, run_id, dataset_id, cb, ctx, err);
}
