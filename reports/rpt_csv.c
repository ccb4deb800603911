/* rpt_csv.c - streams samples.csv from pair_scores joined with pairs, per dataset, in rank order.
 * Does not compute scores; it prints what the newest score run stored. */
#include "reports/rpt_csv.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "safetext.h"

static const char *sql_rows =
    "SELECT s.pair_id, s.p_text, s.p_mm, s.sfc, s.category, p.ext_id,"
    " coalesce(s.chosen_chars, length(p.chosen)), coalesce(s.rejected_chars, length(p.rejected)),"
    " s.image_effect, s.swap_flip, p.dup_group, p.conflict, p.file_id, p.line,"
    " (SELECT path FROM source_files f WHERE f.id = p.file_id)"
    " FROM pair_scores s JOIN pairs p ON p.id = s.pair_id"
    " WHERE s.run_id = ?1 AND p.dataset_id = ?2";

typedef struct crow {
	double pt, pm, sfc, eff; /* NAN: NULL (text-only dataset; pair not image-tested) */
	int64_t id, lc, lr;
	int flip;                     /* -1: not tested */
	int conflict;                 /* pairs.conflict */
	int64_t line;                 /* pairs.line */
	size_t ext, cat, group, file; /* offsets into the string arena ("" when no dup group) */
} crow;

/* The arena offset of a source file's path, stored once per file (a dataset has few files). */
typedef struct fcache {
	int64_t id[64];
	size_t off[64];
	int n;
} fcache;

static int file_path(fcache *fc, eng_arena *a, sqlite3_stmt *q, size_t *off)
{
	int64_t id = sqlite3_column_int64(q, 12);
	for (int i = 0; i < fc->n; i++)
		if (fc->id[i] == id) {
			*off = fc->off[i];
			return 0;
		}
	const char *path = (const char *)sqlite3_column_text(q, 14);
	char clean[4096]; /* a path's bytes as valid printable UTF-8 (engine/base/safetext.h) */
	if (path && !eng_text_is_clean(path)) {
		eng_text_escape(path, (size_t)-1, clean, sizeof clean);
		path = clean;
	}
	if (eng_arena_put(a, path ? path : "", off))
		return -1;
	if (fc->n < 64) {
		fc->id[fc->n] = id;
		fc->off[fc->n++] = *off;
	}
	return 0;
}

/* rank order: p_text descending, then pair id */
static int by_rank(const void *a, const void *b)
{
	const crow *x = a, *y = b;
	if (x->pt != y->pt)
		return x->pt < y->pt ? 1 : -1;
	return (x->id > y->id) - (x->id < y->id);
}

void rpt_csv_fixed6(FILE *f, double x)
{
	double a = fabs(x), z = a * 1e6, fl = floor(z), fr = z - fl;
	/* z carries a relative error below 2^-52; away from .5 the rounding is the exact one */
	if (!isfinite(x) || a >= 1e9 || fabs(fr - 0.5) < 1e-5) {
		fprintf(f, "%.6f", x);
		return;
	}
	uint64_t r = (uint64_t)fl + (fr > 0.5);
	char buf[32], *e = buf + sizeof buf, *p = e;
	for (int i = 0; i < 6; i++, r /= 10)
		*--p = (char)('0' + r % 10);
	*--p = '.';
	do {
		*--p = (char)('0' + r % 10);
		r /= 10;
	} while (r);
	if (signbit(x))
		*--p = '-';
	fwrite(p, 1, (size_t)(e - p), f);
}

/* A column that may be NULL: NAN for NULL. */
static double col_or_nan(sqlite3_stmt *q, int i)
{
	return sqlite3_column_type(q, i) == SQLITE_NULL ? NAN : sqlite3_column_double(q, i);
}

/* ",x" with six decimals, or "," alone for NAN (an empty cell: no figure). */
static void cell6(FILE *f, double x)
{
	fputc(',', f);
	if (!isnan(x))
		rpt_csv_fixed6(f, x);
}

/* 1 when a spreadsheet could read s as a formula: its first character after any leading
 * whitespace (spaces, tabs, newlines) is = + - @ | or a fullwidth ＝ ＋ － ＠ (which some
 * spreadsheets fold to ASCII), or it starts with a tab or CR at all. */
static int formula_like(const char *s)
{
	if (s[0] == '\t' || s[0] == '\r')
		return 1;
	s += strspn(s, " \t\r\n");
	if (*s && strchr("=+-@|", *s))
		return 1;
	const unsigned char *u = (const unsigned char *)s;
	return u[0] == 0xEF &&
	       ((u[1] == 0xBC && (u[2] == 0x9D || u[2] == 0x8B || u[2] == 0x8D || u[2] == 0xA0)));
}

void rpt_csv_cell(FILE *f, const char *s)
{
	if (!s)
		s = "";
	/* fast path: nothing to quote, and a first byte no formula can start with */
	if (!strchr("=+-@|\t\r\n \xEF", s[0]) && !strpbrk(s, ",\"\r\n")) {
		fputs(s, f);
		return;
	}
	int defuse = s[0] != '\0' && formula_like(s);
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
	fputs("dataset,id,rank,shortcut_score,p_text,p_mm,sfc,category,chosen_chars,rejected_chars,"
	      "image_effect,swap_flip,dup_group,conflict,source_file,line\r\n",
	      f);
	crow *r = NULL;
	eng_arena arena = {0};
	size_t cap = 0;
	int rc = 0, s = SQLITE_DONE;
	for (size_t i = 0; i < st->n_ds && !rc; i++) {
		const rpt_dataset *d = &st->ds[i];
		if (!d->run_id)
			continue;
		sqlite3_reset(q);
		sqlite3_bind_int64(q, 1, d->run_id);
		sqlite3_bind_int64(q, 2, d->id);
		size_t m = 0;
		arena.len = 0;
		fcache fc = {.n = 0};
		while ((s = sqlite3_step(q)) == SQLITE_ROW) {
			if (m == cap) {
				size_t nc = cap ? cap * 2 : 4096;
				crow *nr = realloc(r, nc * sizeof *nr);
				if (!nr) {
					rc = eng_err_set(err, ENG_ENOMEM,
					                 "out of memory (samples.csv)");
					break;
				}
				r = nr;
				cap = nc;
			}
			crow *x = &r[m];
			x->id = sqlite3_column_int64(q, 0);
			x->pt = sqlite3_column_double(q, 1);
			x->pm = col_or_nan(q, 2);
			x->sfc = col_or_nan(q, 3);
			x->lc = sqlite3_column_int64(q, 6);
			x->lr = sqlite3_column_int64(q, 7);
			x->eff = col_or_nan(q, 8);
			x->flip = sqlite3_column_type(q, 9) == SQLITE_NULL
			              ? -1
			              : sqlite3_column_int(q, 9);
			const char *grp = (const char *)sqlite3_column_text(q, 10);
			x->conflict = sqlite3_column_int(q, 11) != 0;
			x->line = sqlite3_column_int64(q, 13);
			if (eng_arena_put(&arena, (const char *)sqlite3_column_text(q, 4),
			                  &x->cat) ||
			    eng_arena_put(&arena, (const char *)sqlite3_column_text(q, 5),
			                  &x->ext) ||
			    eng_arena_put(&arena, grp ? grp : "", &x->group) ||
			    file_path(&fc, &arena, q, &x->file)) {
				rc = eng_err_set(err, ENG_ENOMEM, "out of memory (samples.csv)");
				break;
			}
			m++;
		}
		if (!rc && s != SQLITE_DONE)
			rc = eng_ws_fail(st->ws, err, "read pair scores");
		if (rc)
			break;
		qsort(r, m, sizeof *r, by_rank);
		for (size_t k = 0; k < m; k++) {
			const crow *x = &r[k];
			rpt_csv_cell(f, d->name);
			fputc(',', f);
			rpt_csv_cell(f, arena.p + x->ext);
			fprintf(f, ",%zu,", k + 1);
			rpt_csv_fixed6(f, x->pt);
			fputc(',', f);
			rpt_csv_fixed6(f, x->pt);
			cell6(f, x->pm);
			cell6(f, x->sfc);
			fputc(',', f);
			rpt_csv_cell(f, arena.p + x->cat);
			fprintf(f, ",%lld,%lld", (long long)x->lc, (long long)x->lr);
			cell6(f, x->eff);
			if (x->flip >= 0)
				fprintf(f, ",%d,", x->flip);
			else
				fputs(",,", f);
			rpt_csv_cell(f, arena.p + x->group);
			fprintf(f, ",%d,", x->conflict);
			rpt_csv_cell(f, arena.p + x->file);
			fprintf(f, ",%lld\r\n", (long long)x->line);
			if ((++n & 0xffff) == 0) {
				eng_progress_tick(prog, "report: samples.csv", (uint64_t)n,
				                  (uint64_t)total);
				if (ferror(f))
					break;
			}
		}
		if (ferror(f))
			rc = eng_err_set(err, ENG_EIO, "write samples.csv: %s", strerror(errno));
	}
	sqlite3_finalize(q);
	free(r);
	eng_arena_free(&arena);
	if (!rc && ferror(f))
		rc = eng_err_set(err, ENG_EIO, "write samples.csv: %s", strerror(errno));
	eng_progress_tick(prog, "report: samples.csv", (uint64_t)n, (uint64_t)n);
	if (rows)
		*rows = n;
	return rc;
}
