/* rpt_csv.c - writes samples.csv from the per-pair scores of each dataset's newest score run
 * (engine/store/store_scores.h), per dataset, in rank order. Does not compute scores or run SQL;
 * it prints what the newest score run stored. */
#include "reports/rpt_csv.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "safetext.h"
#include "store_scores.h"

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

static int file_path(fcache *fc, eng_arena *a, int64_t id, const char *path, size_t *off)
{
	for (int i = 0; i < fc->n; i++)
		if (fc->id[i] == id) {
			*off = fc->off[i];
			return 0;
		}
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

void rpt_csv_num6(FILE *f, double x)
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

/* A dataset's rows, collected in one unordered scan to be ranked in memory. */
typedef struct collect {
	crow *r;
	size_t m, cap;
	eng_arena arena;
	fcache fc;
	eng_err *err;
} collect;

static int collect_row(void *ctx, const eng_score_row *row)
{
	collect *c = ctx;
	if (c->m == c->cap) {
		size_t nc = c->cap ? c->cap * 2 : 4096;
		crow *nr = realloc(c->r, nc * sizeof *nr);
		if (!nr)
			return eng_err_set(c->err, ENG_ENOMEM, "out of memory (samples.csv)");
		c->r = nr;
		c->cap = nc;
	}
	crow *x = &c->r[c->m];
	x->id = row->pair_id;
	x->pt = row->p_text;
	x->pm = row->p_mm;
	x->sfc = row->sfc;
	x->lc = row->chosen_chars;
	x->lr = row->rejected_chars;
	x->eff = row->image_effect;
	x->flip = row->swap_flip;
	x->conflict = row->conflict;
	x->line = row->line;
	if (eng_arena_put(&c->arena, row->category, &x->cat) ||
	    eng_arena_put(&c->arena, row->ext_id, &x->ext) ||
	    eng_arena_put(&c->arena, row->dup_group ? row->dup_group : "", &x->group) ||
	    file_path(&c->fc, &c->arena, row->file_id, row->source_path, &x->file))
		return eng_err_set(c->err, ENG_ENOMEM, "out of memory (samples.csv)");
	c->m++;
	return 0;
}

void rpt_csv_origin(FILE *f, const char *dup_group, int conflict, const char *source, int64_t line,
                    const char *eol)
{
	rpt_csv_cell(f, dup_group);
	fprintf(f, ",%d,", conflict);
	rpt_csv_cell(f, source);
	fprintf(f, ",%lld%s", (long long)line, eol);
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
	fputs("dataset,id,rank,shortcut_score,p_text,p_mm,sfc,category,chosen_chars,rejected_chars,"
	      "image_effect,swap_flip,dup_group,conflict,source_file,line\r\n",
	      f);
	collect c = {.err = err};
	int rc = 0;
	for (size_t i = 0; i < st->n_ds && !rc; i++) {
		const rpt_dataset *d = &st->ds[i];
		if (!d->run_id)
			continue;
		c.m = 0;
		c.arena.len = 0;
		c.fc.n = 0;
		if ((rc = eng_scores_each(st->ws, d->run_id, d->id, ENG_SCORES_ANY_ORDER,
		                          collect_row, &c, err)))
			break;
		crow *r = c.r;
		size_t m = c.m;
		const eng_arena arena = c.arena;
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
			rpt_csv_num6(f, x->pm);
			rpt_csv_num6(f, x->sfc);
			fputc(',', f);
			rpt_csv_cell(f, arena.p + x->cat);
			fprintf(f, ",%lld,%lld", (long long)x->lc, (long long)x->lr);
			rpt_csv_num6(f, x->eff);
			if (x->flip >= 0)
				fprintf(f, ",%d,", x->flip);
			else
				fputs(",,", f);
			rpt_csv_origin(f, arena.p + x->group, x->conflict, arena.p + x->file,
			               x->line, "\r\n");
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
	free(c.r);
	eng_arena_free(&c.arena);
	if (!rc && ferror(f))
		rc = eng_err_set(err, ENG_EIO, "write samples.csv: %s", strerror(errno));
	eng_progress_tick(prog, "report: samples.csv", (uint64_t)n, (uint64_t)n);
	if (rows)
		*rows = n;
	return rc;
}
