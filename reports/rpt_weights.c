/* rpt_weights.c - weights.csv / weights.jsonl from the newest score run of each dataset. */
#include "reports/rpt_weights.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "safetext.h"
#include "store_datasets.h"
#include "store_files.h"
#include "store_runs.h"
#include "store_scores.h"
#include "reports/rpt_csv.h"

/* The newest finished score run of dataset ds and the dataset's name. */
static int latest_run(eng_ws *ws, int64_t ds, int64_t *run, char **name, eng_err *err)
{
	int rc = eng_run_latest(ws, ENG_RUN_SCORE, ds, run, err);
	if (!rc && !*run)
		rc = eng_err_set(
		    err, ENG_EINPUT,
		    "dataset id %lld has no finished score run; run `mmaudit score` first",
		    (long long)ds);
	if (!rc)
		rc = eng_dataset_name(ws, ds, name, err);
	return rc;
}

/* auto: the method score chose for the dataset in run `run` (its metrics' weights.auto and
 * weights.auto_reason); runs made before score chose one get sfc, as weights were then. */
static int resolve_auto(eng_ws *ws, int64_t run, int64_t ds, rpt_weights_choice *c, eng_err *err)
{
	char *m = NULL, *why = NULL;
	int rc = eng_run_weights_auto(ws, run, ds, &m, &why, err);
	if (rc)
		return rc;
	c->used = ENG_WM_SFC;
	snprintf(c->reason, sizeof c->reason,
	         "the score run predates the weighting methods: sfc, as weights were then");
	eng_wmethod x;
	if (m && !eng_wmethod_parse(m, &x) && x != ENG_WM_AUTO) {
		c->used = x;
		snprintf(c->reason, sizeof c->reason, "%s", why ? why : "");
	}
	free(m);
	free(why);
	return 0;
}

typedef struct wrow {
	int64_t pair_id;
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

typedef struct files_ctx {
	eng_arena *a;
	files *fl;
	eng_err *err;
} files_ctx;

static int add_file(void *ctx, const eng_source_file_row *row)
{
	files_ctx *c = ctx;
	files *fl = c->fl;
	int64_t *ni = realloc(fl->id, (fl->n + 1) * sizeof *ni);
	if (ni)
		fl->id = ni;
	size_t *no = ni ? realloc(fl->off, (fl->n + 1) * sizeof *no) : NULL;
	if (no)
		fl->off = no;
	const char *path = row->path;
	char clean[4096]; /* valid printable UTF-8 (engine/base/safetext.h) */
	if (path && !eng_text_is_clean(path)) {
		eng_text_escape(path, (size_t)-1, clean, sizeof clean);
		path = clean;
	}
	if (!ni || !no || eng_arena_put(c->a, path ? path : "", &fl->off[fl->n]))
		return eng_err_set(c->err, ENG_ENOMEM, "out of memory (weights)");
	fl->id[fl->n++] = row->id;
	return 0;
}

static int load_files(eng_ws *ws, int64_t ds, eng_arena *a, files *fl, eng_err *err)
{
	fl->n = 0;
	return eng_source_files_each(ws, ds, add_file, &(files_ctx){a, fl, err}, err);
}

static const char *file_of(const files *fl, const eng_arena *a, int64_t id)
{
	for (size_t i = 0; i < fl->n; i++)
		if (fl->id[i] == id)
			return a->p + fl->off[i];
	return "";
}

static json_t *num_or_null(double x)
{
	return isnan(x) ? json_null() : json_real(x);
}

/* A dataset's rows in pair id order, collected before printing: the normaliser (mean or max) is
 * known only after the scan. */
typedef struct collect {
	wrow *r;
	size_t m, cap;
	size_t n_right, n_sfc_null;
	eng_arena *arena;
	eng_err *err;
	int unsorted; /* a row came after one with a higher pair id */
	int bad;      /* (collected for later, rpt_weights_rows) out of memory: not used */
} collect;

static int collect_row(void *ctx, const eng_score_row *row)
{
	collect *c = ctx;
	if (c->bad)
		return 0;
	if (c->m == c->cap) {
		size_t nc = c->cap ? c->cap * 2 : 4096;
		wrow *nr = realloc(c->r, nc * sizeof *nr);
		if (!nr)
			return eng_err_set(c->err, ENG_ENOMEM, "out of memory (weights)");
		c->r = nr;
		c->cap = nc;
	}
	wrow *x = &c->r[c->m];
	x->pair_id = row->pair_id;
	c->unsorted |= c->m && row->pair_id <= c->r[c->m - 1].pair_id;
	x->sfc = row->sfc;
	x->pt = row->p_text;
	x->pm = row->p_mm;
	c->n_right += x->pt > 0.5;
	c->n_sfc_null += isnan(row->sfc);
	x->conflict = row->conflict;
	x->file_id = row->file_id;
	x->line = row->line;
	if (eng_arena_put(c->arena, row->ext_id, &x->ext) ||
	    eng_arena_put(c->arena, row->category, &x->cat) ||
	    eng_arena_put(c->arena, row->dup_group, &x->group))
		return eng_err_set(c->err, ENG_ENOMEM, "out of memory (weights)");
	c->m++;
	return 0;
}

/* ---- rows collected by another scan -------------------------------------------------------- */

typedef struct pre_ds {
	int64_t ds, run;
	collect c;
	eng_arena arena;
	eng_err err;
} pre_ds;

struct rpt_weights_rows {
	pre_ds *d;
	size_t n;
	int oom;
};

rpt_weights_rows *rpt_weights_rows_new(void)
{
	return calloc(1, sizeof(rpt_weights_rows));
}

void rpt_weights_rows_free(rpt_weights_rows *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->n; i++) {
		free(w->d[i].c.r);
		eng_arena_free(&w->d[i].arena);
	}
	free(w->d);
	free(w);
}

int rpt_weights_rows_add(void *ctx, int64_t dataset_id, int64_t run_id, const eng_score_row *row)
{
	rpt_weights_rows *w = ctx;
	if (w->oom)
		return 0;
	pre_ds *p = w->n ? &w->d[w->n - 1] : NULL;
	if (!p || p->ds != dataset_id || p->run != run_id) {
		pre_ds *nd = realloc(w->d, (w->n + 1) * sizeof *nd);
		if (!nd) {
			w->oom = 1; /* the writer scans for itself */
			return 0;
		}
		w->d = nd;
		p = &w->d[w->n++];
		memset(p, 0, sizeof *p);
		p->ds = dataset_id;
		p->run = run_id;
	}
	p->c.arena = &p->arena; /* (w->d may have moved) */
	p->c.err = &p->err;
	if (collect_row(&p->c, row))
		p->c.bad = 1;
	return 0;
}

static int by_pair_id(const void *a, const void *b)
{
	const wrow *x = a, *y = b;
	return (x->pair_id > y->pair_id) - (x->pair_id < y->pair_id);
}

/* The rows collected for dataset ds's run `run`, in pair id order (*arena: their strings), or
 * NULL when there are none usable. */
static pre_ds *pre_rows(rpt_weights_rows *w, int64_t ds, int64_t run)
{
	if (!w || w->oom)
		return NULL;
	for (size_t i = 0; i < w->n; i++) {
		pre_ds *p = &w->d[i];
		if (p->ds != ds || p->run != run)
			continue;
		for (size_t j = i + 1; j < w->n; j++)
			if (w->d[j].ds == ds) /* the dataset's rows came in two runs of rows */
				return NULL;
		if (p->c.bad)
			return NULL;
		if (p->c.unsorted)
			qsort(p->c.r, p->c.m, sizeof *p->c.r, by_pair_id);
		return p;
	}
	return NULL;
}

int rpt_weights_write(eng_ws *ws, const int64_t *ids, size_t n, eng_wmethod method,
                      rpt_weights_format fmt, rpt_weights_norm norm, FILE *f, int64_t *rows,
                      rpt_weights_choice *choice, rpt_weights_rows *pre, eng_err *err)
{
	int64_t count = 0;
	int rc = 0;
	flockfile(f); /* held across the rows' small writes, as in rpt_csv_write */
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
		arena.len = 0;
		if ((rc = load_files(ws, ids[k], &arena, &fl, err)))
			break;
		pre_ds *pd = pre_rows(pre, ids[k], run);
		collect c = {.r = r, .cap = cap, .arena = &arena, .err = err};
		if (!pd)
			rc = eng_scores_each(ws, run, ids[k], ENG_SCORES_BY_PAIR, collect_row, &c,
			                     err);
		r = c.r;
		cap = c.cap;
		if (rc)
			break;
		/* the rows and their strings: this scan's, or those collected for it */
		const collect *cs = pd ? &pd->c : &c;
		const eng_arena *ra = pd ? &pd->arena : &arena;
		wrow *rr = pd ? pd->c.r : r;
		size_t m = cs->m, n_right = cs->n_right, n_sfc_null = cs->n_sfc_null;
		double sum = 0, max = 0;
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
			double w = eng_weight_raw(ch.used, rr[i].pt, rr[i].sfc, lambda);
			rr[i].w = w;
			sum += w;
			max = i == 0 || w > max ? w : max;
		}
		double mean = m ? sum / (double)m : 0;
		double div = norm == RPT_NORM_MEAN ? mean : norm == RPT_NORM_MAX ? max : 1.0;
		if (!(div > 0))
			div = 1.0;
		for (size_t i = 0; i < m && !rc; i++) {
			const wrow *x = &rr[i];
			const char *id = ra->p + x->ext, *cat = ra->p + x->cat;
			double w = x->w / div;
			const char *mname = eng_wmethod_name(ch.used);
			const char *grp = ra->p + x->group, *src = file_of(&fl, &arena, x->file_id);
			if (fmt == RPT_WEIGHTS_CSV) {
				rpt_csv_cell(f, ds);
				fputc(',', f);
				rpt_csv_cell(f, id);
				rpt_csv_num6(f, w);
				rpt_csv_num6(f, x->sfc);
				rpt_csv_num6(f, x->pt);
				rpt_csv_num6(f, x->pm);
				fputc(',', f);
				fputs(cat, f);
				fputc(',', f);
				fputs(mname, f);
				fputc(',', f);
				rpt_csv_origin(f, grp, x->conflict, src, x->line, "\n");
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
	free(r);
	free(fl.id);
	free(fl.off);
	eng_arena_free(&arena);
	free(ds);
	funlockfile(f);
	if (rows)
		*rows = count;
	return rc;
}
