/* store_slices.c - the GROUP BY queries over pairs.meta (json_extract, json_each) behind the
 * report's metadata slices. Read-only: the users' metadata is never rewritten. */
#include "store_slices.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "store_step.h"
#include "workspace_sql.h"

/* One GROUP BY over the scored pairs of a dataset: per metadata value n, text-right, shortcut and
 * pick-longer successes. */
static const char *sql_slice =
    "SELECT v, count(*), sum(pt > 0.5), sum(cat = ?4), sum(CASE WHEN lc > lr THEN 1.0 WHEN lc ="
    " lr THEN 0.5 ELSE 0.0 END) FROM (SELECT CASE WHEN json_valid(p.meta) THEN"
    " json_extract(p.meta, ?3) END AS v, s.p_text AS pt, s.category AS cat,"
    " coalesce(s.chosen_chars, length(p.chosen)) AS lc,"
    " coalesce(s.rejected_chars, length(p.rejected)) AS lr"
    " FROM pair_scores s JOIN pairs p ON p.id = s.pair_id"
    " WHERE s.run_id = ?1 AND p.dataset_id = ?2) GROUP BY v";

/* The same for every candidate key at once (?4: a JSON array of keys). */
static const char *sql_slice_all =
    "SELECT j.key, j.value, count(*), sum(x.pt > 0.5), sum(x.cat = ?3), sum(CASE WHEN x.lc >"
    " x.lr THEN 1.0 WHEN x.lc = x.lr THEN 0.5 ELSE 0.0 END) FROM (SELECT p.meta AS meta,"
    " s.p_text AS pt, s.category AS cat, coalesce(s.chosen_chars, length(p.chosen)) AS lc,"
    " coalesce(s.rejected_chars, length(p.rejected)) AS lr FROM pair_scores s JOIN pairs p"
    " ON p.id = s.pair_id WHERE s.run_id = ?1 AND p.dataset_id = ?2 AND p.meta IS NOT NULL"
    " AND json_valid(p.meta)) x, json_each(x.meta) j WHERE j.type NOT IN ('object', 'array')"
    " AND j.key IN (SELECT value FROM json_each(?4)) GROUP BY j.key, j.value";

static const char *sql_slice_total =
    "SELECT count(*), sum(s.p_text > 0.5), sum(s.category = ?3), sum(CASE WHEN"
    " coalesce(s.chosen_chars, length(p.chosen)) > coalesce(s.rejected_chars, length(p.rejected))"
    " THEN 1.0 WHEN coalesce(s.chosen_chars, length(p.chosen)) = coalesce(s.rejected_chars,"
    " length(p.rejected)) THEN 0.5 ELSE 0.0 END) FROM pair_scores s JOIN pairs p"
    " ON p.id = s.pair_id WHERE s.run_id = ?1 AND p.dataset_id = ?2";

/* Candidate fields: scalar metadata keys with 2..30 distinct values in a sample of the pairs. Each
 * distinct metadata text of the sample is taken apart once (the keys and their distinct values
 * are the same; on data whose pairs share a few metadata texts it is a few json_each calls). */
static const char *sql_candidates =
    "SELECT j.key FROM (SELECT DISTINCT meta FROM (SELECT meta FROM pairs WHERE dataset_id = ?1"
    " AND meta IS NOT NULL AND json_valid(meta) LIMIT 200000)) p, json_each(p.meta) j"
    " WHERE j.type NOT IN ('object', 'array') GROUP BY j.key"
    " HAVING count(DISTINCT j.value) BETWEEN 2 AND 30 ORDER BY j.key LIMIT 24";

/* A row of a slice statement: key from column kcol, or `key` when kcol < 0; value, n, and the
 * three sums from the columns after it. */
typedef struct slice_cb {
	eng_slice_cb fn;
	void *ctx;
	int kcol;
	const char *key;
} slice_cb;

static int slice_row(sqlite3_stmt *q, void *c)
{
	slice_cb *cb = c;
	int v = cb->kcol + 1;
	eng_slice_row r = {
	    .key = cb->kcol < 0 ? cb->key : eng_stmt_text(q, cb->kcol),
	    .value = eng_stmt_text(q, v),
	    .n = sqlite3_column_int64(q, v + 1),
	    .text_right = sqlite3_column_double(q, v + 2),
	    .shortcut = sqlite3_column_double(q, v + 3),
	    .longer_wins = sqlite3_column_double(q, v + 4),
	};
	return cb->fn(cb->ctx, &r);
}

int eng_slices_each(eng_ws *ws, int64_t run_id, int64_t dataset_id, const char *field,
                    eng_slice_cb cb, void *ctx, eng_err *err)
{
	char path[256];
	if (strchr(field, '"') || strlen(field) > 200)
		return eng_err_set(err, ENG_EINPUT,
		                   "metadata field '%s': without '\"', at most 200 bytes", field);
	snprintf(path, sizeof path, "$.\"%s\"", field);
	sqlite3_stmt *q = eng_ws_prepare(ws, sql_slice, err);
	if (q) {
		sqlite3_bind_int64(q, 1, run_id);
		sqlite3_bind_int64(q, 2, dataset_id);
		sqlite3_bind_text(q, 3, path, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(q, 4, eng_category_name(ENG_CAT_TEXT_SHORTCUT), -1,
		                  SQLITE_STATIC);
	}
	slice_cb c = {cb, ctx, -1, field};
	return eng_stmt_each(ws, q, slice_row, &c, "read slices", err);
}

int eng_slices_each_key(eng_ws *ws, int64_t run_id, int64_t dataset_id, const char *const *keys,
                        size_t n_keys, eng_slice_cb cb, void *ctx, eng_err *err)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n_keys; i++) /* a key jansson refuses (not UTF-8) is left out */
		json_array_append_new(a, json_string(keys[i]));
	char *list = a ? json_dumps(a, JSON_COMPACT) : NULL;
	json_decref(a);
	if (!list)
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	sqlite3_stmt *q = eng_ws_prepare(ws, sql_slice_all, err);
	if (q) {
		sqlite3_bind_int64(q, 1, run_id);
		sqlite3_bind_int64(q, 2, dataset_id);
		sqlite3_bind_text(q, 3, eng_category_name(ENG_CAT_TEXT_SHORTCUT), -1,
		                  SQLITE_STATIC);
		sqlite3_bind_text(q, 4, list, -1, SQLITE_STATIC);
	}
	slice_cb c = {cb, ctx, 0, NULL};
	int rc = eng_stmt_each(ws, q, slice_row, &c, "read slices", err); /* finalizes q */
	free(list);
	return rc;
}

int eng_slices_total(eng_ws *ws, int64_t run_id, int64_t dataset_id, eng_slice_row *out,
                     eng_err *err)
{
	memset(out, 0, sizeof *out);
	sqlite3_stmt *q = eng_ws_prepare(ws, sql_slice_total, err);
	if (!q)
		return err ? err->code : ENG_EINTERNAL;
	sqlite3_bind_int64(q, 1, run_id);
	sqlite3_bind_int64(q, 2, dataset_id);
	sqlite3_bind_text(q, 3, eng_category_name(ENG_CAT_TEXT_SHORTCUT), -1, SQLITE_STATIC);
	int rc = 0;
	if (sqlite3_step(q) == SQLITE_ROW) {
		out->n = sqlite3_column_int64(q, 0);
		out->text_right = sqlite3_column_double(q, 1);
		out->shortcut = sqlite3_column_double(q, 2);
		out->longer_wins = sqlite3_column_double(q, 3);
	} else {
		rc = eng_ws_fail(ws, err, "count scored pairs");
	}
	sqlite3_finalize(q);
	return rc;
}

typedef struct field_cb {
	int (*fn)(void *ctx, const char *key);
	void *ctx;
} field_cb;

static int field_row(sqlite3_stmt *q, void *c)
{
	field_cb *cb = c;
	return cb->fn(cb->ctx, eng_stmt_text(q, 0));
}

int eng_slice_fields_each(eng_ws *ws, int64_t dataset_id, int (*cb)(void *ctx, const char *key),
                          void *ctx, eng_err *err)
{
	sqlite3_stmt *q = eng_ws_prepare(ws, sql_candidates, err);
	if (q)
		sqlite3_bind_int64(q, 1, dataset_id);
	field_cb c = {cb, ctx};
	return eng_stmt_each(ws, q, field_row, &c, "read metadata fields", err);
}
