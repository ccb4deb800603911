/* rpt_weights.c - weights.csv / weights.jsonl from the newest score run of each dataset. */
#include "reports/rpt_weights.h"

#include <jansson.h>
#include <stdlib.h>

#include "reports/rpt_csv.h"

static int latest_run(eng_ws *ws, int64_t ds, int64_t *run, double *mean, double *max, eng_err *err)
{
	sqlite3_stmt *st = eng_ws_prepare(
	    ws,
	    "SELECT r.id, (SELECT avg(s.sfc) FROM pair_scores s JOIN pairs p ON p.id = s.pair_id "
	    "WHERE s.run_id = r.id AND p.dataset_id = ?1), (SELECT max(s.sfc) FROM pair_scores s "
	    "JOIN pairs p ON p.id = s.pair_id WHERE s.run_id = r.id AND p.dataset_id = ?1), "
	    "(SELECT name FROM datasets WHERE id = ?1) FROM runs r JOIN run_datasets rd ON "
	    "rd.run_id = r.id WHERE r.kind = 'score' AND r.status = 'done' AND rd.dataset_id = ?1 "
	    "ORDER BY r.id DESC LIMIT 1",
	    err);
	if (!st)
		return err->code;
	sqlite3_bind_int64(st, 1, ds);
	int rc = 0;
	if (sqlite3_step(st) == SQLITE_ROW) {
		*run = sqlite3_column_int64(st, 0);
		*mean = sqlite3_column_double(st, 1);
		*max = sqlite3_column_double(st, 2);
	} else {
		rc = eng_err_set(
		    err, ENG_EINPUT,
		    "dataset id %lld has no finished score run; run `mmaudit score` first",
		    (long long)ds);
	}
	sqlite3_finalize(st);
	return rc;
}

int rpt_weights_write(eng_ws *ws, const int64_t *ids, size_t n, rpt_weights_format fmt,
                      rpt_weights_norm norm, FILE *f, int64_t *rows, eng_err *err)
{
	int64_t count = 0;
	int rc = 0;
	sqlite3_stmt *st = eng_ws_prepare(
	    ws,
	    "SELECT d.name, p.ext_id, s.sfc, s.p_text, s.p_mm, s.category FROM pair_scores s "
	    "JOIN pairs p ON p.id = s.pair_id JOIN datasets d ON d.id = p.dataset_id "
	    "WHERE s.run_id = ?1 AND p.dataset_id = ?2 ORDER BY p.id",
	    err);
	if (!st)
		return err->code;
	if (fmt == RPT_WEIGHTS_CSV)
		fputs("dataset,id,weight,sfc,p_text,p_mm,category\n", f);
	for (size_t k = 0; k < n && !rc; k++) {
		int64_t run = 0;
		double mean = 0, max = 0;
		if ((rc = latest_run(ws, ids[k], &run, &mean, &max, err)))
			break;
		double div = norm == RPT_NORM_MEAN ? mean : norm == RPT_NORM_MAX ? max : 1.0;
		if (!(div > 0))
			div = 1.0;
		sqlite3_bind_int64(st, 1, run);
		sqlite3_bind_int64(st, 2, ids[k]);
		int s;
		while ((s = sqlite3_step(st)) == SQLITE_ROW) {
			const char *ds = (const char *)sqlite3_column_text(st, 0);
			const char *id = (const char *)sqlite3_column_text(st, 1);
			double sfc = sqlite3_column_double(st, 2), w = sfc / div;
			const char *cat = (const char *)sqlite3_column_text(st, 5);
			if (fmt == RPT_WEIGHTS_CSV) {
				rpt_csv_cell(f, ds);
				fputc(',', f);
				rpt_csv_cell(f, id);
				fprintf(f, ",%.6g,%.6g,%.6f,%.6f,%s\n", w, sfc,
				        sqlite3_column_double(st, 3), sqlite3_column_double(st, 4),
				        cat);
			} else {
				json_t *o = json_pack(
				    "{s:s, s:s, s:f, s:f, s:f, s:f, s:s}", "dataset", ds, "id", id,
				    "weight", w, "sfc", sfc, "p_text", sqlite3_column_double(st, 3),
				    "p_mm", sqlite3_column_double(st, 4), "category", cat);
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
		if (!rc && s != SQLITE_DONE)
			rc = eng_ws_fail(ws, err, "read scores");
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	if (rows)
		*rows = count;
	return rc;
}
