/* integrity.c - ingest errors by code, duplicate / conflict groups and position figures of one
 * dataset, counted from the workspace (pairs, ingest_errors). Does not recompute duplicates (that
 * is dedup.c) and does not write. */
#include "integrity.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dedup.h"
#include "workspace_sql.h"

static const char *sql_codes = "SELECT code, count(*) FROM ingest_errors WHERE dataset_id = ?1"
                               " GROUP BY code ORDER BY count(*) DESC, code";
static const char *sql_examples =
    "SELECT path, line FROM ingest_errors WHERE dataset_id = ?1 AND code = ?2"
    " ORDER BY file_id, line, id LIMIT 2";
static const char *sql_positions =
    "SELECT json_extract(meta, ?2), json_type(meta, ?2) FROM pairs"
    " WHERE dataset_id = ?1 AND meta IS NOT NULL AND json_valid(meta)";
/* The same rows, skipping without a JSON parse those whose meta does not hold ?3 = the key in
 * quotes: meta is written by the indexer (jansson's compact dump, or the line's own bytes for a
 * key written without escapes), where a key of printable ASCII other than '"' and '\\' appears
 * as its plain bytes, so a row without them has no such key */
static const char *sql_positions_pre =
    "SELECT json_extract(meta, ?2), json_type(meta, ?2) FROM pairs"
    " WHERE dataset_id = ?1 AND meta IS NOT NULL AND instr(meta, ?3) AND json_valid(meta)";
static const char *sql_groups =
    "SELECT dup_group, conflict, chosen, CASE WHEN json_valid(meta) THEN json_extract(meta, ?2)"
    " END, CASE WHEN json_valid(meta) THEN json_type(meta, ?2) END FROM pairs"
    " WHERE dataset_id = ?1 AND dup_group IS NOT NULL ORDER BY dup_group, id";
static const char *sql_group =
    "SELECT dup_group, conflict, chosen, CASE WHEN json_valid(meta) THEN json_extract(meta, ?2)"
    " END, CASE WHEN json_valid(meta) THEN json_type(meta, ?2) END FROM pairs"
    " WHERE dataset_id = ?1 AND dup_group = ?3 ORDER BY id";

void eng_integrity_clear(eng_integrity *x)
{
	if (!x)
		return;
	for (size_t i = 0; i < x->n_codes; i++) {
		free(x->codes[i].code);
		for (int k = 0; k < ENG_INTEGRITY_EXAMPLES; k++)
			free(x->codes[i].example[k]);
	}
	free(x->codes);
	memset(x, 0, sizeof *x);
}

int eng_position_of(const char *text, int64_t ival, int is_int)
{
	if (is_int)
		return ival == 1 ? 1 : ival == 2 ? 2 : 0;
	if (!text)
		return 0;
	static const char *const first[] = {"1", "a", "first", "left", "chosen"};
	static const char *const second[] = {"2", "b", "second", "right", "rejected"};
	for (size_t i = 0; i < sizeof first / sizeof first[0]; i++) {
		if (!strcasecmp(text, first[i]))
			return 1;
		if (!strcasecmp(text, second[i]))
			return 2;
	}
	return 0;
}

/* Column i (value) and i + 1 (json_type) of q as a position. */
static int col_position(sqlite3_stmt *q, int i)
{
	const char *type = (const char *)sqlite3_column_text(q, i + 1);
	if (!type)
		return 0;
	if (!strcmp(type, "integer"))
		return eng_position_of(NULL, sqlite3_column_int64(q, i), 1);
	if (!strcmp(type, "text"))
		return eng_position_of((const char *)sqlite3_column_text(q, i), 0, 0);
	return 0;
}

/* log P[X = k] for X ~ Binomial(n, 1/2). */
static double log_pmf_half(int64_t k, int64_t n)
{
	return lgamma((double)n + 1) - lgamma((double)k + 1) - lgamma((double)(n - k) + 1) -
	       (double)n * log(2.0);
}

double eng_binom_p_half(int64_t k, int64_t n)
{
	if (n <= 0 || k < 0 || k > n)
		return 1.0;
	int64_t lo = k < n - k ? k : n - k; /* the nearer tail: P[X <= lo] (symmetric) */
	/* sum the tail from its largest term down, relative to it, so nothing underflows early */
	double top = log_pmf_half(lo, n), s = 0;
	for (int64_t j = lo; j >= 0; j--) {
		double t = exp(log_pmf_half(j, n) - top);
		s += t;
		if (t < 1e-17 * s)
			break;
	}
	double p = 2.0 * exp(top) * s;
	if (2 * lo == n) /* k = n/2: both tails share the middle term */
		p -= exp(top);
	return p > 1.0 ? 1.0 : p;
}

static int load_codes(eng_ws *ws, int64_t ds, eng_integrity *out, eng_err *err)
{
	sqlite3_stmt *q = eng_ws_prepare(ws, sql_codes, err), *ex = NULL;
	int rc = 0, s;
	if (!q || !(ex = eng_ws_prepare(ws, sql_examples, err))) {
		rc = err ? err->code : ENG_EINTERNAL;
		goto out;
	}
	sqlite3_bind_int64(q, 1, ds);
	while ((s = sqlite3_step(q)) == SQLITE_ROW) {
		eng_error_code *nc = realloc(out->codes, (out->n_codes + 1) * sizeof *nc);
		if (!nc) {
			rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
			goto out;
		}
		out->codes = nc;
		eng_error_code *c = &out->codes[out->n_codes];
		memset(c, 0, sizeof *c);
		const char *code = (const char *)sqlite3_column_text(q, 0);
		c->code = strdup(code ? code : "");
		c->n = sqlite3_column_int64(q, 1);
		out->n_codes++;
		out->errors += c->n;
		if (!c->code) {
			rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
			goto out;
		}
		sqlite3_reset(ex);
		sqlite3_bind_int64(ex, 1, ds);
		sqlite3_bind_text(ex, 2, c->code, -1, SQLITE_STATIC);
		for (int k = 0; k < ENG_INTEGRITY_EXAMPLES && sqlite3_step(ex) == SQLITE_ROW; k++) {
			const char *path = (const char *)sqlite3_column_text(ex, 0);
			size_t len = strlen(path ? path : "") + 24;
			if (!(c->example[k] = malloc(len))) {
				rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
				goto out;
			}
			snprintf(c->example[k], len, "%s:%lld", path ? path : "",
			         (long long)sqlite3_column_int64(ex, 1));
		}
	}
	if (s != SQLITE_DONE)
		rc = eng_ws_fail(ws, err, "read ingest errors");
out:
	sqlite3_finalize(q);
	sqlite3_finalize(ex);
	return rc;
}

static int count_positions(eng_ws *ws, int64_t ds, const char *path, const char *field,
                           eng_integrity *out, eng_err *err)
{
	int plain = 1; /* written as its bytes in meta (sql_positions_pre) */
	for (const char *c = field; *c && plain; c++)
		plain = *c >= 0x20 && *c <= 0x7e && *c != '"' && *c != '\\';
	char needle[160];
	snprintf(needle, sizeof needle, "\"%s\"", field);
	sqlite3_stmt *q = eng_ws_prepare(ws, plain ? sql_positions_pre : sql_positions, err);
	if (!q)
		return err ? err->code : ENG_EINTERNAL;
	sqlite3_bind_int64(q, 1, ds);
	sqlite3_bind_text(q, 2, path, -1, SQLITE_STATIC);
	if (plain)
		sqlite3_bind_text(q, 3, needle, -1, SQLITE_STATIC);
	int s;
	while ((s = sqlite3_step(q)) == SQLITE_ROW) {
		int pos = col_position(q, 0);
		out->position_n += pos != 0;
		out->position_first += pos == 1;
	}
	sqlite3_finalize(q);
	return s == SQLITE_DONE ? 0 : eng_ws_fail(ws, err, "read answer positions");
}

/* One duplicate group's members, as the group loop sees them. */
typedef struct member {
	int same; /* prefers the same answer as the group's first member */
	int pos;  /* chosen position, 0 unknown */
} member;

/* Folds one finished group into out. */
static void fold_group(const member *m, size_t n, int conflict, eng_integrity *out)
{
	if (n < 2)
		return;
	out->dup_groups++;
	out->dup_pairs += (int64_t)n - 1;
	out->dup_members += (int64_t)n;
	if (conflict) {
		out->conflict_groups++;
		out->conflict_pairs += (int64_t)n;
	}
	/* shown first: the first member's chosen answer (0) or the other one (1) */
	int seen_first[2] = {0, 0}, prefer[2] = {0, 0}, slot[3] = {0, 0, 0};
	for (size_t i = 0; i < n; i++) {
		if (!m[i].pos)
			continue;
		int chosen = m[i].same ? 0 : 1;
		int first = m[i].pos == 1 ? chosen : 1 - chosen;
		seen_first[first] = 1;
		prefer[chosen] = 1;
		slot[m[i].pos] = 1;
	}
	if (!(seen_first[0] && seen_first[1]))
		return;
	out->swap_pairs++;
	out->swap_consistent += !(prefer[0] && prefer[1]);
	out->position_conflicts += !(slot[1] && slot[2]);
}

/* Folds the dataset's duplicate groups (all, or only `only`) into out. */
static int count_groups(eng_ws *ws, int64_t ds, const char *path, const char *only,
                        eng_integrity *out, eng_err *err)
{
	sqlite3_stmt *q = eng_ws_prepare(ws, only ? sql_group : sql_groups, err);
	if (!q)
		return err ? err->code : ENG_EINTERNAL;
	sqlite3_bind_int64(q, 1, ds);
	sqlite3_bind_text(q, 2, path, -1, SQLITE_STATIC);
	if (only)
		sqlite3_bind_text(q, 3, only, -1, SQLITE_STATIC);
	char group[64] = "", *first = NULL, *buf = NULL;
	size_t fcap = 0, bcap = 0, n = 0, cap = 0;
	member *m = NULL;
	int conflict = 0, rc = 0, s;
	while ((s = sqlite3_step(q)) == SQLITE_ROW) {
		const char *g = (const char *)sqlite3_column_text(q, 0);
		const char *chosen = (const char *)sqlite3_column_text(q, 2);
		if (!g || !chosen)
			continue;
		if (strncmp(g, group, sizeof group - 1)) {
			fold_group(m, n, conflict, out);
			snprintf(group, sizeof group, "%s", g);
			n = 0;
			conflict = 0;
		}
		if (n == cap) {
			size_t nc = cap ? 2 * cap : 8;
			member *nm = realloc(m, nc * sizeof *nm);
			if (!nm) {
				rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
				goto out;
			}
			m = nm;
			cap = nc;
		}
		conflict |= sqlite3_column_int(q, 1) != 0;
		if (n == 0 ? !eng_dedup_normalize(chosen, &first, &fcap)
		           : !eng_dedup_normalize(chosen, &buf, &bcap)) {
			rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
			goto out;
		}
		m[n].same = n == 0 || !strcmp(first, buf);
		m[n].pos = col_position(q, 3);
		n++;
	}
	fold_group(m, n, conflict, out);
	if (s != SQLITE_DONE)
		rc = eng_ws_fail(ws, err, "read duplicate groups");
out:
	sqlite3_finalize(q);
	free(m);
	free(first);
	free(buf);
	return rc;
}

/* The JSON path of the position field into path (cap >= 136). */
static int position_path(const char *position_field, char *path, size_t cap, const char **field,
                         eng_err *err)
{
	*field = position_field && *position_field ? position_field : "chosen_position";
	if (strchr(*field, '"') || strlen(*field) > 127)
		return eng_err_set(err, ENG_EINPUT,
		                   "--position-field '%s': a metadata field name without '\"', at "
		                   "most 127 bytes",
		                   *field);
	snprintf(path, cap, "$.\"%s\"", *field);
	return 0;
}

int eng_integrity_group_of(eng_ws *ws, int64_t dataset_id, const char *group,
                           const char *position_field, eng_integrity_group *g, eng_err *err)
{
	memset(g, 0, sizeof *g);
	char path[160];
	const char *field;
	eng_integrity x = {0};
	int rc = position_path(position_field, path, sizeof path, &field, err);
	if (!rc)
		rc = count_groups(ws, dataset_id, path, group, &x, err);
	if (rc)
		return rc;
	g->n = x.dup_members ? x.dup_members : 1;
	g->conflict = x.conflict_groups > 0;
	g->both_orders = x.swap_pairs > 0;
	return 0;
}

int eng_integrity_dataset(eng_ws *ws, int64_t dataset_id, const char *position_field,
                          eng_integrity *out, eng_err *err)
{
	memset(out, 0, sizeof *out);
	char path[160];
	const char *field;
	int rc0 = position_path(position_field, path, sizeof path, &field, err);
	if (rc0)
		return rc0;
	sqlite3_stmt *q =
	    eng_ws_prepare(ws, "SELECT count(*) FROM pairs WHERE dataset_id = ?1", err);
	if (!q)
		return err ? err->code : ENG_EINTERNAL;
	sqlite3_bind_int64(q, 1, dataset_id);
	int rc = sqlite3_step(q) == SQLITE_ROW ? 0 : eng_ws_fail(ws, err, "count pairs");
	out->pairs = rc ? 0 : sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	if (rc || (rc = load_codes(ws, dataset_id, out, err)) ||
	    (rc = count_positions(ws, dataset_id, path, field, out, err)) ||
	    (rc = count_groups(ws, dataset_id, path, NULL, out, err))) {
		eng_integrity_clear(out);
		return rc;
	}
	if (out->position_n)
		snprintf(out->position_field, sizeof out->position_field, "%s", field);
	out->position_p = eng_binom_p_half(out->position_first, out->position_n);
	return 0;
}
