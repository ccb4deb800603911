/* rpt_csv.c - streams samples.csv from pair_scores joined with pairs, per dataset, in rank order.
 * Does not compute scores; it prints what the newest score run stored. */
#include "reports/rpt_csv.h"

#include <errno.h>
#include <string.h>

static const char *sql_rows =
    "SELECT p.ext_id, s.p_text, s.p_mm, s.sfc, s.category, length(p.chosen), length(p.rejected)"
    " FROM pair_scores s JOIN pairs p ON p.id = s.pair_id"
    " WHERE s.run_id = ?1 AND p.dataset_id = ?2 ORDER BY s.p_text DESC, p.id";

void rpt_csv_cell(FILE *f, const char *s)
{
	if (!s)
		s = "";
	int defuse = strchr("=+-@\t\r", s[0]) != NULL && s[0] != '\0';
	int quote = strpbrk(s, ",\"\r\n") != NULL;
	if (quote)
		fputc('"', f);
	if (defuse)
		fputc('\'', f);
	for (const char *c = s; *c; c++) {
		if (*c == '"')
			fputc('"', f);
		fputc(*c, f);
	}
	if (quote)
		fputc('"', f);
}

int rpt_csv_write(const rpt_state *st, FILE *f, const eng_progress *prog, int64_t *rows,
                  eng_err *err)
{
	int64_t n = 0, total = 0;
	for (size_t i = 0; i < st->n_ds; i++) {
		double p = rpt_metric(&st->ds[i], "pairs");
		total += p > 0 ? (int64_t)p : 0;
	}
	if (rows)
		*rows = 0;
	sqlite3_stmt *q = eng_ws_prepare(st->ws, sql_rows, err);
	if (!q)
		return err ? err->code : ENG_EINTERNAL;
	fputs("dataset,id,rank,shortcut_score,p_text,p_mm,sfc,category,chosen_chars,rejected_chars"
	      "\r\n",
	      f);
	int rc = 0, s = SQLITE_DONE;
	for (size_t i = 0; i < st->n_ds && !rc; i++) {
		const rpt_dataset *d = &st->ds[i];
		if (!d->run_id)
			continue;
		sqlite3_reset(q);
		sqlite3_bind_int64(q, 1, d->run_id);
		sqlite3_bind_int64(q, 2, d->id);
		int64_t rank = 0;
		while ((s = sqlite3_step(q)) == SQLITE_ROW) {
			double pt = sqlite3_column_double(q, 1);
			rpt_csv_cell(f, d->name);
			fputc(',', f);
			rpt_csv_cell(f, (const char *)sqlite3_column_text(q, 0));
			fprintf(f, ",%lld,%.6f,%.6f,%.6f,%.6f,", (long long)++rank, pt, pt,
			        sqlite3_column_double(q, 2), sqlite3_column_double(q, 3));
			rpt_csv_cell(f, (const char *)sqlite3_column_text(q, 4));
			fprintf(f, ",%lld,%lld\r\n", (long long)sqlite3_column_int64(q, 5),
			        (long long)sqlite3_column_int64(q, 6));
			if ((++n & 0xffff) == 0) {
				eng_progress_tick(prog, "report: samples.csv", (uint64_t)n,
				                  (uint64_t)total);
				if (ferror(f))
					break;
			}
		}
		if (s != SQLITE_DONE && s != SQLITE_ROW)
			rc = eng_ws_fail(st->ws, err, "read pair scores");
		if (ferror(f))
			rc = eng_err_set(err, ENG_EIO, "write samples.csv: %s", strerror(errno));
	}
	sqlite3_finalize(q);
	if (!rc && ferror(f))
		rc = eng_err_set(err, ENG_EIO, "write samples.csv: %s", strerror(errno));
	eng_progress_tick(prog, "report: samples.csv", (uint64_t)n, (uint64_t)n);
	if (rows)
		*rows = n;
	return rc;
}
