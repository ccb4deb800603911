/* rpt_weights.c - weights.csv / weights.jsonl from the newest score run of each dataset. */
#include "reports/rpt_weights.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "safetext.h"
#include "reports/rpt_csv.h"

/* The newest finished score run of dataset ds and the dataset's name. */
static int latest_run(eng_ws *ws, int64_t ds, int64_t *run, char **name, eng_err *err)
{
	sqlite3_stmt *st = eng_ws_prepare(
	    ws,
	    "SELECT r.id, (SELECT name FROM datasets WHERE id = ?1) FROM runs r JOIN run_datasets"
	    " rd ON rd.run_id = r.id WHERE r.kind = 'score' AND r.status = 'done' AND"
	    " rd.dataset_id = ?1 ORDER BY r.id DESC LIMIT 1",
	    err);
	if (!st)
		return err->code;
	sqlite3_bind_int64(st, 1, ds);
	int rc = 0;
	if (sqlite3_step(st) == SQLITE_ROW) {
		*run = sqlite3_column_int64(st, 0);
		const char *nm = (const char *)sqlite3_column_text(st, 1);
		if (!(*name = strdup(nm ? nm : "")))
			rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
	} else {
		rc = eng_err_set(
		    err, ENG_EINPUT,
		    "dataset id %lld has no finished score run; run `mmaudit score` first",
		    (long long)ds);
	}
	sqlite3_finalize(st);
	return rc;
}

/* auto: the method score chose for the dataset in run `run` (its metrics' weights.auto and
 * weights.auto_reason); runs made before score chose one get sfc, as weights were then. */
static int resolve_auto(eng_ws *ws, int64_t run, int64_t ds, rpt_weights_choice *c, eng_err *err)
{
	sqlite3_stmt *st =
	    eng_ws_prepare(ws,
	                   "SELECT json_extract(metrics, '$.weights.auto'),"
	                   " json_extract(metrics, '$.weights.auto_reason') FROM run_datasets"
	                   " WHERE run_id = ?1 AND dataset_id = ?2",
	                   err);
	if (!st)
		return err->code;
	sqlite3_bind_int64(st, 1, run);
	sqlite3_bind_int64(st, 2, ds);
	c->used = ENG_WM_SFC;
	snprintf(c->reason, sizeof c->reason,
	         "the score run predates the weighting methods: sfc, as weights were then");
	if (sqlite3_step(st) == SQLITE_ROW) {
		const char *m = (const char *)sqlite3_column_text(st, 0),
		           *why = (const char *)sqlite3_column_text(st, 1);
		eng_wmethod x;
		if (m && !eng_wmethod_parse(m, &x) && x != ENG_WM_AUTO) {
			c->used = x;
			snprintf(c->reason, sizeof c->reason, "%s", why ? why : "");
		}
	}
	sqlite3_finalize(st);
	return 0;
}

typedef struct wrow {
	double sfc, pt, pm, w;  /* sfc, pm NAN when NULL; w the raw weight */
	size_t ext, cat, group; /* offsets into the string arena (group "" when none) */
	int64_t file_id, line;  /* pairs.file_id, pairs.line */
	int conflict;           /* pairs.conflict */
} wrow;

/* The paths of a dataset's source files, by id (a dataset has few files). */
typedef struct files {
	int64_t *id;
	size_t *off; /* into the arena */
	size_t n;
} files;

static int load_files(eng_ws *ws, int64_t ds, eng_arena *a, files *fl, eng_err *err)
{
	fl->n = 0;
	sqlite3_stmt *q =
	    eng_ws_prepare(ws, "SELECT id, path FROM source_files WHERE dataset_id = ?1", err);
	if (!q)
		return err ? err->code : ENG_EINTERNAL;
	sqlite3_bind_int64(q, 1, ds);
	int rc = 0, s;
	while ((s = sqlite3_step(q)) == SQLITE_ROW) {
		int64_t *ni = realloc(fl->id, (fl->n + 1) * sizeof *ni);
		if (ni)
			fl->id = ni;
		size_t *no = ni ? realloc(fl->off, (fl->n + 1) * sizeof *no) : NULL;
		if (no)
			fl->off = no;
		const char *path = (const char *)sqlite3_column_text(q, 1);
		char clean[4096]; /* valid printable UTF-8 (engine/base/safetext.h) */
		if (path && !eng_text_is_clean(path)) {
			eng_text_escape(path, (size_t)-1, clean, sizeof clean);
			path = clean;
		}
		if (!ni || !no || eng_arena_put(a, path ? path : "", &fl->off[fl->n])) {
			rc = eng_err_set(err, ENG_ENOMEM, "out of memory (weights)");
			break;
		}
		fl->id[fl->n++] = sqlite3_column_int64(q, 0);
	}
	if (!rc && s != SQLITE_DONE)
		rc = eng_ws_fail(ws, err, "read source files");
	sqlite3_finalize(q);
	return rc;
}

static const char *file_of(const files *fl, const eng_arena *a, int64_t id)
{
	for (size_t i = 0; i < fl->n; i++)
		if (fl->id[i] == id)
			return a->p + fl->off[i];
	return "";
}

/* ",x" with six decimals, or "," for NAN (NULL in the workspace: a text-only dataset). */
static void cell6(FILE *f, double x)
{
	fputc(',', f);
	if (!isnan(x))
		rpt_csv_fixed6(f, x);
}

static json_t *num_or_null(double x)
{
	return isnan(x) ? json_null() : json_real(x);
}

int rpt_weights_write(eng_ws *ws, const int64_t *ids, size_t n, eng_wmethod method,
                      rpt_weights_format fmt, rpt_weights_norm norm, FILE *f, int64_t *rows,
                      rpt_weights_choice *choice, eng_err *err)
{
	int64_t count = 0;
	int rc = 0;
	/* pair_scores first (CROSS JOIN): its primary key walks pair ids in order, no sort */
	sqlite3_stmt *st = eng_ws_prepare(
	    ws,
	    "SELECT p.ext_id, s.sfc, s.p_text, s.p_mm, s.category, p.dup_group, p.conflict,"
	    " p.file_id, p.line FROM pair_scores s CROSS JOIN"
	    " pairs p ON p.id = s.pair_id WHERE s.run_id = ?1 AND p.dataset_id = ?2"
	    " ORDER BY s.pair_id",
	    err);
	if (!st)
		return err->code;
	if (fmt == RPT_WEIGHTS_CSV)
		fputs("dataset,id,weight,sfc,p_text,p_mm,category,method,dup_group,conflict,"
		      "source_file,line\n",
		      f);
	wrow *r = NULL;
	eng_arena arena = {0};
	files fl = {0};
	char *ds = NULL;
	size_t cap = 0;
	for (size_t k = 0; k < n && !rc; k++) {
		int64_t run = 0;
		free(ds);
		ds = NULL;
		if ((rc = latest_run(ws, ids[k], &run, &ds, err)))
			break;
		rpt_weights_choice ch = {.used = method};
		snprintf(ch.dataset, sizeof ch.dataset, "%s", ds);
		if (method == ENG_WM_AUTO && (rc = resolve_auto(ws, run, ids[k], &ch, err)))
			break;
		else if (method != ENG_WM_AUTO)
			snprintf(ch.reason, sizeof ch.reason, "--method %s",
			         eng_wmethod_name(method));
		if (choice)
			choice[k] = ch;
		/* one scan into memory: the normaliser (mean or max) is known before printing */
		sqlite3_bind_int64(st, 1, run);
		sqlite3_bind_int64(st, 2, ids[k]);
		size_t m = 0;
		arena.len = 0;
		if ((rc = load_files(ws, ids[k], &arena, &fl, err)))
			break;
		double sum = 0, max = 0;
		size_t n_right = 0, n_sfc_null = 0;
		int s;
		while ((s = sqlite3_step(st)) == SQLITE_ROW) {
			if (m == cap) {
				size_t nc = cap ? cap * 2 : 4096;
				wrow *nr = realloc(r, nc * sizeof *nr);
				if (!nr) {
					rc =
					    eng_err_set(err, ENG_ENOMEM, "out of memory (weights)");
					break;
				}
				r = nr;
				cap = nc;
			}
			wrow *x = &r[m];
			int null_mm = sqlite3_column_type(st, 1) == SQLITE_NULL;
			x->sfc = null_mm ? NAN : sqlite3_column_double(st, 1);
			x->pt = sqlite3_column_double(st, 2);
			x->pm = sqlite3_column_type(st, 3) == SQLITE_NULL
			            ? NAN
			            : sqlite3_column_double(st, 3);
			n_right += x->pt > 0.5;
			n_sfc_null += null_mm;
			x->conflict = sqlite3_column_int(st, 6) != 0;
			x->file_id = sqlite3_column_int64(st, 7);
			x->line = sqlite3_column_int64(st, 8);
			if (eng_arena_put(&arena, (const char *)sqlite3_column_text(st, 0),
			                  &x->ext) ||
			    eng_arena_put(&arena, (const char *)sqlite3_column_text(st, 4),
			                  &x->cat) ||
			    eng_arena_put(&arena, (const char *)sqlite3_column_text(st, 5),
			                  &x->group)) {
				rc = eng_err_set(err, ENG_ENOMEM, "out of memory (weights)");
				break;
			}
			m++;
		}
		if (!rc && s != SQLITE_DONE)
			rc = eng_ws_fail(ws, err, "read scores");
		sqlite3_reset(st);
		if (rc)
			break;
		if (ch.used == ENG_WM_SFC && n_sfc_null) {
			rc = eng_err_set(
			    err, ENG_EINPUT,
			    "dataset '%s' is text-only: sfc weights need a multimodal RM; "
			    "use --method debias (or auto)",
			    ds);
			break;
		}
		double lambda = eng_jtt_lambda(n_right, m - n_right);
		if (ch.used == ENG_WM_JTT && (n_right == 0 || n_right == m)) {
			rc = eng_err_set(
			    err, ENG_EINPUT,
			    "dataset '%s': the text-only proxy is %s on every pair, so jtt "
			    "has nothing to upweight; use --method debias",
			    ds, n_right ? "right" : "wrong");
			break;
		}
		for (size_t i = 0; i < m; i++) { /* raw weights, in place of nothing: keep sfc */
			double w = eng_weight_raw(ch.used, r[i].pt, r[i].sfc, lambda);
			r[i].w = w;
			sum += w;
			max = i == 0 || w > max ? w : max;
		}
		double mean = m ? sum / (double)m : 0;
		double div = norm == RPT_NORM_MEAN ? mean : norm == RPT_NORM_MAX ? max : 1.0;
		if (!(div > 0))
			div = 1.0;
		for (size_t i = 0; i < m && !rc; i++) {
			const wrow *x = &r[i];
			const char *id = arena.p + x->ext, *cat = arena.p + x->cat;
			double w = x->w / div;
			const char *mname = eng_wmethod_name(ch.used);
			const char *grp = arena.p + x->group,
			           *src = file_of(&fl, &arena, x->file_id);
			if (fmt == RPT_WEIGHTS_CSV) {
				rpt_csv_cell(f, ds);
				fputc(',', f);
				rpt_csv_cell(f, id);
				cell6(f, w);
				cell6(f, x->sfc);
				cell6(f, x->pt);
				cell6(f, x->pm);
				fprintf(f, ",%s,%s,", cat, mname);
				rpt_csv_cell(f, grp);
				fprintf(f, ",%d,", x->conflict);
				rpt_csv_cell(f, src);
				fprintf(f, ",%lld\n", (long long)x->line);
			} else {
				json_t *o = json_pack(
				    "{s:s, s:s, s:f, s:o, s:f, s:o, s:s, s:s, s:o, s:b, s:s, s:I}",
				    "dataset", ds, "id", id, "weight", w, "sfc",
				    num_or_null(x->sfc), "p_text", x->pt, "p_mm",
				    num_or_null(x->pm), "category", cat, "method", mname,
				    "dup_group", *grp ? json_string(grp) : json_null(), "conflict",
				    x->conflict, "source_file", src, "line", (json_int_t)x->line);
				char *line = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER |
				                                   JSON_REAL_PRECISION(6))
				               : NULL;
				json_decref(o);
				if (!line) {
					rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
					break;
				}
				fputs(line, f);
				fputc('\n', f);
				free(line);
			}
			count++;
		}
	}
	sqlite3_finalize(st);
	free(r);
	free(fl.id);
	free(fl.off);
	eng_arena_free(&arena);
	free(ds);
	if (rows)
		*rows = count;
	return rc;
}
