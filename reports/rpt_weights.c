/* rpt_weights.c - weights.csv / weights.jsonl from the newest score run of each dataset. */
#include "reports/rpt_weights.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "engine/arena.h"
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

typedef struct wrow {
	double sfc, pt, pm;
	size_t ext, cat; /* offsets into the string arena */
} wrow;

int rpt_weights_write(eng_ws *ws, const int64_t *ids, size_t n, rpt_weights_format fmt,
                      rpt_weights_norm norm, FILE *f, int64_t *rows, eng_err *err)
{
	int64_t count = 0;
	int rc = 0;
	/* pair_scores first (CROSS JOIN): its primary key walks pair ids in order, no sort */
	sqlite3_stmt *st = eng_ws_prepare(
	    ws,
	    "SELECT p.ext_id, s.sfc, s.p_text, s.p_mm, s.category FROM pair_scores s CROSS JOIN"
	    " pairs p ON p.id = s.pair_id WHERE s.run_id = ?1 AND p.dataset_id = ?2"
	    " ORDER BY s.pair_id",
	    err);
	if (!st)
		return err->code;
	if (fmt == RPT_WEIGHTS_CSV)
		fputs("dataset,id,weight,sfc,p_text,p_mm,category\n", f);
	wrow *r = NULL;
	eng_arena arena = {0};
	char *ds = NULL;
	size_t cap = 0;
	for (size_t k = 0; k < n && !rc; k++) {
		int64_t run = 0;
		free(ds);
		ds = NULL;
		if ((rc = latest_run(ws, ids[k], &run, &ds, err)))
			break;
		/* one scan into memory: the normaliser (mean or max) is known before printing */
		sqlite3_bind_int64(st, 1, run);
		sqlite3_bind_int64(st, 2, ids[k]);
		size_t m = 0;
		arena.len = 0;
		double sum = 0, max = 0;
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
			x->sfc = sqlite3_column_double(st, 1);
			x->pt = sqlite3_column_double(st, 2);
			x->pm = sqlite3_column_double(st, 3);
			if (eng_arena_put(&arena, (const char *)sqlite3_column_text(st, 0),
			                  &x->ext) ||
			    eng_arena_put(&arena, (const char *)sqlite3_column_text(st, 4),
			                  &x->cat)) {
				rc = eng_err_set(err, ENG_ENOMEM, "out of memory (weights)");
				break;
			}
			sum += x->sfc;
			max = m == 0 || x->sfc > max ? x->sfc : max;
			m++;
		}
		if (!rc && s != SQLITE_DONE)
			rc = eng_ws_fail(ws, err, "read scores");
		sqlite3_reset(st);
		if (rc)
			break;
		double mean = m ? sum / (double)m : 0;
		double div = norm == RPT_NORM_MEAN ? mean : norm == RPT_NORM_MAX ? max : 1.0;
		if (!(div > 0))
			div = 1.0;
		for (size_t i = 0; i < m && !rc; i++) {
			const wrow *x = &r[i];
			const char *id = arena.p + x->ext, *cat = arena.p + x->cat;
			double w = x->sfc / div;
			if (fmt == RPT_WEIGHTS_CSV) {
				rpt_csv_cell(f, ds);
				fputc(',', f);
				rpt_csv_cell(f, id);
				fputc(',', f);
				rpt_csv_fixed6(f, w);
				fputc(',', f);
				rpt_csv_fixed6(f, x->sfc);
				fputc(',', f);
				rpt_csv_fixed6(f, x->pt);
				fputc(',', f);
				rpt_csv_fixed6(f, x->pm);
				fprintf(f, ",%s\n", cat);
			} else {
				json_t *o =
				    json_pack("{s:s, s:s, s:f, s:f, s:f, s:f, s:s}", "dataset", ds,
				              "id", id, "weight", w, "sfc", x->sfc, "p_text", x->pt,
				              "p_mm", x->pm, "category", cat);
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
	eng_arena_free(&arena);
	free(ds);
	if (rows)
		*rows = count;
	return rc;
}
