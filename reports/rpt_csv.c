/* rpt_csv.c - writes samples.csv from the per-pair scores of each dataset's newest score run
 * (engine/store/store_scores.h), per dataset, in rank order. Does not compute scores or run SQL;
 * it prints what the newest score run stored. */
#include "reports/rpt_csv.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "outfile.h"
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

/* A row's rank key: k orders as p_text descending (the double's bits mapped to an unsigned
 * integer in the reverse of the numeric order, 0 and -0 made one); ties go by pair id. */
typedef struct rkey {
	uint64_t k;
	size_t i; /* the row's index */
} rkey;

static uint64_t desc_key(double x)
{
	uint64_t u;
	if (x == 0)
		x = 0; /* -0 == 0: the same key */
	memcpy(&u, &x, sizeof u);
	u = u >> 63 ? ~u : u | (uint64_t)1 << 63; /* ascending as unsigned */
	return ~u;
}

/* One stable counting pass of a from into b by byte `shift` of k (by_id: of the row's pair id,
 * as unsigned with the sign bit flipped). 0 when every key has the same byte there (nothing
 * moved: a stays as it is). */
static int radix_pass(const rkey *a, rkey *b, size_t m, const crow *r, int by_id, int shift)
{
	size_t cnt[257] = {0};
	for (size_t i = 0; i < m; i++) {
		uint64_t v = by_id ? (uint64_t)r[a[i].i].id ^ (uint64_t)1 << 63 : a[i].k;
		cnt[((v >> shift) & 255) + 1]++;
	}
	for (int d = 0; d < 256; d++)
		if (cnt[d + 1] == m)
			return 0;
	for (int d = 0; d < 256; d++)
		cnt[d + 1] += cnt[d];
	for (size_t i = 0; i < m; i++) {
		uint64_t v = by_id ? (uint64_t)r[a[i].i].id ^ (uint64_t)1 << 63 : a[i].k;
		b[cnt[(v >> shift) & 255]++] = a[i];
	}
	return 1;
}

/* Sorts r[0..m) into rank order (by_rank's): a least-significant-digit radix sort of compact keys
 * (first by pair id unless the rows already come in id order, as a scan by primary key gives
 * them, then by k; bytes all keys share are skipped), then the rows moved once along the
 * permutation's cycles, instead of qsort's indirect sort calling by_rank through a pointer. Falls
 * back to qsort when the keys do not fit in memory. */
static void sort_rows(crow *r, size_t m)
{
	rkey *a = m > 1 ? malloc(m * sizeof *a) : NULL, *b = a ? malloc(m * sizeof *b) : NULL;
	if (!b) {
		free(a);
		if (m > 1)
			qsort(r, m, sizeof *r, by_rank);
		return;
	}
	int id_order = 1;
	for (size_t i = 0; i < m; i++) {
		a[i] = (rkey){desc_key(r[i].pt), i};
		id_order &= i == 0 || r[i - 1].id < r[i].id;
	}
	for (int by_id = !id_order; by_id >= 0; by_id--)
		for (int shift = 0; shift < 64; shift += 8)
			if (radix_pass(a, b, m, r, by_id, shift)) {
				rkey *t = a;
				a = b;
				b = t;
			}
	/* a[k].i: the row that belongs at k; each cycle moved through one spare row */
	for (size_t s = 0; s < m; s++) {
		if (a[s].i == s)
			continue;
		crow spare = r[s];
		size_t j = s;
		for (;;) {
			size_t from = a[j].i;
			a[j].i = j;
			if (from == s) {
				r[j] = spare;
				break;
			}
			r[j] = r[from];
			j = from;
		}
	}
	free(a);
	free(b);
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

void rpt_csv_int(FILE *f, long long v)
{
	char buf[24], *e = buf + sizeof buf, *p = e;
	/* the magnitude as unsigned: -LLONG_MIN does not fit a long long */
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
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

/* A sorted run of a dataset's rows in a temporary file: records of {double p_text, int64 pair id,
 * uint32 prefix bytes, uint32 bytes} then the row's CSV bytes without its rank (the prefix is
 * "dataset,id", the rest starts with the shortcut score). */
typedef struct run {
	FILE *f;
	double pt; /* the head record (when live) */
	int64_t id;
	uint32_t plen, len;
	char *buf;
	size_t cap;
	int live;
} run;

/* A dataset's rows, collected in one unordered scan to be ranked in memory; past chunk_rows rows
 * each chunk is sorted into a run (a temporary file) and the runs are merged, so memory stays
 * bounded by one chunk whatever the dataset's size (10M pairs: 1.4 GB in memory before). */
typedef struct collect {
	crow *r;
	size_t m, cap;
	eng_arena arena;
	fcache fc;
	eng_err *err;
	const char *ds; /* the dataset's name */
	int64_t ds_id, run_id;
	int (*tee)(void *, int64_t, int64_t, const eng_score_row *); /* rpt_state.score_tee */
	void *tee_ctx;
	run *runs;
	size_t n_runs;
	char *row; /* one row's bytes (spill_chunk), row_cap of them, written through mem */
	size_t row_cap;
	FILE *mem;
} collect;

size_t rpt_csv_chunk_rows = (size_t)1 << 19;

static int spill_chunk(collect *c);

static int collect_row(void *ctx, const eng_score_row *row)
{
	collect *c = ctx;
	int trc;
	if (c->tee && (trc = c->tee(c->tee_ctx, c->ds_id, c->run_id, row)))
		return trc;
	if (c->m == rpt_csv_chunk_rows) {
		int rc = spill_chunk(c);
		if (rc)
			return rc;
	}
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
	fputc(',', f);
	rpt_csv_int(f, conflict);
	fputc(',', f);
	rpt_csv_cell(f, source);
	fputc(',', f);
	rpt_csv_int(f, (long long)line);
	fputs(eol, f);
}

/* A row's cells before its rank: dataset,id */
static void row_prefix(FILE *f, const char *ds, const crow *x, const eng_arena *a)
{
	rpt_csv_cell(f, ds);
	fputc(',', f);
	rpt_csv_cell(f, a->p + x->ext);
}

/* A row's cells after its rank, from shortcut_score to the line end. */
static void row_rest(FILE *f, const crow *x, const eng_arena *a)
{
	rpt_csv_fixed6(f, x->pt);
	fputc(',', f);
	rpt_csv_fixed6(f, x->pt);
	rpt_csv_num6(f, x->pm);
	rpt_csv_num6(f, x->sfc);
	fputc(',', f);
	rpt_csv_cell(f, a->p + x->cat);
	fputc(',', f);
	rpt_csv_int(f, (long long)x->lc);
	fputc(',', f);
	rpt_csv_int(f, (long long)x->lr);
	rpt_csv_num6(f, x->eff);
	if (x->flip >= 0) {
		fputc(',', f);
		rpt_csv_int(f, x->flip);
		fputc(',', f);
	} else
		fputs(",,", f);
	rpt_csv_origin(f, a->p + x->group, x->conflict, a->p + x->file, x->line, "\r\n");
}

/* A new temporary file for a run, already unlinked (in eng_tmp_dir(), or /tmp when that path
 * is too long). NULL on failure. */
static FILE *run_file(void)
{
	char path[4096];
	if (snprintf(path, sizeof path, "%s/mmaudit-samples-XXXXXX", eng_tmp_dir()) >=
	    (int)sizeof path)
		snprintf(path, sizeof path, "/tmp/mmaudit-samples-XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0)
		return NULL;
	unlink(path);
	FILE *f = fdopen(fd, "w+b");
	if (!f)
		close(fd);
	return f;
}

/* Row x's bytes (prefix, then the rest) into c->row through the stream c->mem (opened on it
 * here when needed); *plen, *len their sizes. 0 or -1 (out of memory). */
static int row_bytes(collect *c, const crow *x, uint32_t *plen, uint32_t *len)
{
	for (;;) {
		if (!c->mem) {
			if (!c->row) {
				c->row_cap = c->row_cap ? c->row_cap * 2 : (size_t)1 << 16;
				if (c->row_cap > (size_t)1 << 30 || !(c->row = malloc(c->row_cap)))
					return -1;
			}
			if (!(c->mem = fmemopen(c->row, c->row_cap, "w")))
				return -1;
			setvbuf(c->mem, NULL, _IONBF, 0);
		}
		rewind(c->mem);
		row_prefix(c->mem, c->ds, x, &c->arena);
		long p = ftell(c->mem);
		row_rest(c->mem, x, &c->arena);
		long n = ftell(c->mem);
		if (!ferror(c->mem) && n >= 0 && (size_t)n < c->row_cap - 1) {
			*plen = (uint32_t)p;
			*len = (uint32_t)n;
			return 0;
		}
		fclose(c->mem); /* did not fit: twice the room */
		c->mem = NULL;
		free(c->row);
		c->row = NULL;
	}
}

/* Sorts the collected rows and writes them as a new run; the collection starts again. */
static int spill_chunk(collect *c)
{
	run *nr = realloc(c->runs, (c->n_runs + 1) * sizeof *nr);
	if (!nr)
		return eng_err_set(c->err, ENG_ENOMEM, "out of memory (samples.csv)");
	c->runs = nr;
	run *r = &c->runs[c->n_runs];
	memset(r, 0, sizeof *r);
	if (!(r->f = run_file()))
		return eng_err_set(
		    c->err, ENG_EIO,
		    "samples.csv: cannot make a temporary file in %s (%s); set TMPDIR to "
		    "a folder with room",
		    eng_tmp_dir(), strerror(errno));
	c->n_runs++;
	sort_rows(c->r, c->m);
	for (size_t k = 0; k < c->m; k++) {
		uint32_t hl[2];
		if (row_bytes(c, &c->r[k], &hl[0], &hl[1]))
			return eng_err_set(c->err, ENG_ENOMEM, "out of memory (samples.csv)");
		if (fwrite(&c->r[k].pt, sizeof(double), 1, r->f) != 1 ||
		    fwrite(&c->r[k].id, sizeof(int64_t), 1, r->f) != 1 ||
		    fwrite(hl, sizeof hl, 1, r->f) != 1 || fwrite(c->row, 1, hl[1], r->f) != hl[1])
			return eng_err_set(
			    c->err, ENG_EIO,
			    "samples.csv: writing a temporary file: %s; set TMPDIR to a "
			    "folder with room",
			    strerror(errno));
	}
	c->m = 0;
	c->arena.len = 0;
	c->fc.n = 0;
	return 0;
}

/* Reads run r's next record into its head; r->live = 0 at its end. 0 or an error code. */
static int run_next(run *r, eng_err *err)
{
	uint32_t hl[2];
	if (fread(&r->pt, sizeof(double), 1, r->f) != 1) {
		r->live = 0;
		return ferror(r->f) ? eng_err_set(err, ENG_EIO,
		                                  "samples.csv: reading a temporary "
		                                  "file: %s",
		                                  strerror(errno))
		                    : 0;
	}
	if (fread(&r->id, sizeof(int64_t), 1, r->f) != 1 || fread(hl, sizeof hl, 1, r->f) != 1)
		return eng_err_set(err, ENG_EIO, "samples.csv: a temporary file is cut short");
	if (hl[1] > r->cap) {
		char *nb = realloc(r->buf, hl[1]);
		if (!nb)
			return eng_err_set(err, ENG_ENOMEM, "out of memory (samples.csv)");
		r->buf = nb;
		r->cap = hl[1];
	}
	if (fread(r->buf, 1, hl[1], r->f) != hl[1])
		return eng_err_set(err, ENG_EIO, "samples.csv: a temporary file is cut short");
	r->plen = hl[0];
	r->len = hl[1];
	r->live = 1;
	return 0;
}

/* Merges the runs into f in rank order (ranks from 1), *n counting the rows written overall. */
static int merge_runs(collect *c, FILE *f, const eng_progress *prog, int64_t *n, int64_t total,
                      eng_err *err)
{
	int rc = 0;
	for (size_t i = 0; i < c->n_runs && !rc; i++) {
		rewind(c->runs[i].f);
		rc = run_next(&c->runs[i], err);
	}
	for (size_t k = 1; !rc; k++) {
		run *best = NULL;
		for (size_t i = 0; i < c->n_runs; i++) { /* a few dozen runs: a linear pick */
			run *r = &c->runs[i];
			if (r->live &&
			    (!best || r->pt > best->pt || (r->pt == best->pt && r->id < best->id)))
				best = r;
		}
		if (!best)
			break;
		fwrite(best->buf, 1, best->plen, f);
		fputc(',', f);
		rpt_csv_int(f, (long long)k);
		fputc(',', f);
		fwrite(best->buf + best->plen, 1, best->len - best->plen, f);
		if ((++*n & 0xffff) == 0) {
			eng_progress_tick(prog, "report: samples.csv", (uint64_t)*n,
			                  (uint64_t)total);
			if (ferror(f))
				break;
		}
		rc = run_next(best, err);
	}
	return rc;
}

static void runs_free(collect *c)
{
	for (size_t i = 0; i < c->n_runs; i++) {
		fclose(c->runs[i].f);
		free(c->runs[i].buf);
	}
	free(c->runs);
	c->runs = NULL;
	c->n_runs = 0;
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
	/* f is this thread's alone; held once here, each of the row's many small writes below
	 * finds the lock already taken by its owner instead of taking it again (no atomic) */
	flockfile(f);
	fputs("dataset,id,rank,shortcut_score,p_text,p_mm,sfc,category,chosen_chars,rejected_chars,"
	      "image_effect,swap_flip,dup_group,conflict,source_file,line\r\n",
	      f);
	collect c = {.err = err, .tee = st->score_tee, .tee_ctx = st->score_tee_ctx};
	int rc = 0;
	for (size_t i = 0; i < st->n_ds && !rc; i++) {
		const rpt_dataset *d = &st->ds[i];
		if (!d->run_id)
			continue;
		c.m = 0;
		c.arena.len = 0;
		c.fc.n = 0;
		c.ds = d->name;
		c.ds_id = d->id;
		c.run_id = d->run_id;
		if ((rc = eng_scores_each(st->ws, d->run_id, d->id, ENG_SCORES_ANY_ORDER,
		                          collect_row, &c, err)))
			break;
		if (c.n_runs) { /* larger than one chunk: the last one too, then merge */
			if ((rc = spill_chunk(&c)) ||
			    (rc = merge_runs(&c, f, prog, &n, total, err)))
				break;
			runs_free(&c);
			if (ferror(f))
				rc = eng_err_set(err, ENG_EIO, "write samples.csv: %s",
				                 strerror(errno));
			continue;
		}
		crow *r = c.r;
		size_t m = c.m;
		const eng_arena arena = c.arena;
		sort_rows(r, m);
		for (size_t k = 0; k < m; k++) {
			const crow *x = &r[k];
			row_prefix(f, d->name, x, &arena);
			fputc(',', f);
			rpt_csv_int(f, (long long)(k + 1));
			fputc(',', f);
			row_rest(f, x, &arena);
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
	runs_free(&c);
	if (c.mem)
		fclose(c.mem);
	free(c.r);
	free(c.row);
	eng_arena_free(&c.arena);
	if (!rc && ferror(f))
		rc = eng_err_set(err, ENG_EIO, "write samples.csv: %s", strerror(errno));
	funlockfile(f);
	eng_progress_tick(prog, "report: samples.csv", (uint64_t)n, (uint64_t)n);
	if (rows)
		*rows = n;
	return rc;
}
