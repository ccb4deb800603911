/* cmd_score_stdin.c - `mmaudit score --model MODEL --stdin`: a filter for Spark RDD.pipe, Ray or
 * GNU parallel. Records (any shape `index` accepts; images by path, relative to --images or the
 * current folder, or as data: URIs) come in on stdin, one JSON line of scores per record goes out
 * on stdout, in input order. Works in batches of BATCH_LINES lines: a batch of text-only records
 * is scored in-process (modelscore.c) on the worker pool, in lanes, while the next batch is read;
 * a batch with an image is indexed into a temporary workspace (so every shape, check and error of
 * `index` applies) and scored with the model, then removed. Memory is bounded by the model plus
 * two batches. */
#include <assert.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/cli.h"
#include "index.h"
#include "modelfile.h"
#include "outfile.h"
#include "pool.h"
#include "score.h"
#include "store_batch.h"

enum { BATCH_LINES = 20000 };

/* Prints the batch's results in line order: a record's pairs (one object, or {"line", "pairs"}
 * for a record that gave several) or its errors. */
static json_t *real_or_null(double v)
{
	return isnan(v) ? json_null() : json_real(v);
}

/* The object of one scored pair: {id, p_text, p_mm, p_sa, sfc, category}. */
static json_t *pair_json(const eng_score_row *r)
{
	json_t *o = json_object();
	json_object_set_new(o, "id", json_string(r->ext_id));
	json_object_set_new(o, "p_text", json_real(r->p_text));
	json_object_set_new(o, "p_mm", real_or_null(r->p_mm));
	json_object_set_new(o, "p_sa", real_or_null(r->p_sa));
	json_object_set_new(o, "sfc", real_or_null(r->sfc));
	json_object_set_new(o, "category", json_string(r->category));
	return o;
}

/* The output object of input line `line` (base + line in the output), NULL for a blank line:
 * the line's pairs and errors are taken off the cursors. */
static json_t *line_json(eng_batch *qp, eng_batch *qe, uint64_t base, uint64_t line)
{
	json_t *pairs = json_array(), *errs = json_array();
	eng_score_row r;
	eng_batch_error e;
	while (eng_batch_pair(qp, &r) && (uint64_t)r.line == line) {
		json_array_append_new(pairs, pair_json(&r));
		eng_batch_next(qp);
	}
	while (eng_batch_error_row(qe, &e) && (uint64_t)e.line == line) {
		json_array_append_new(errs,
		                      json_pack("{s:s, s:s}", "code", e.code, "reason", e.reason));
		eng_batch_next(qe);
	}
	json_t *o = NULL;
	size_t np = json_array_size(pairs), ne = json_array_size(errs);
	if (np == 1 && ne == 0) {
		o = json_incref(json_array_get(pairs, 0));
		json_object_set_new(o, "line", json_integer((json_int_t)(base + line)));
	} else if (np || ne) {
		o = json_pack("{s:I, s:O}", "line", (json_int_t)(base + line), "pairs", pairs);
		if (ne)
			json_object_set(o, "errors", errs);
	}
	json_decref(pairs);
	json_decref(errs);
	return o;
}

/* Prints the batch's results in line order: a record's pairs (one object, or {"line", "pairs"}
 * for a record that gave several) or its errors. */
static int print_batch(eng_ws *ws, int64_t run, uint64_t base, uint64_t nlines, FILE *out,
                       eng_err *err)
{
	eng_batch *qp = NULL, *qe = NULL;
	int rc = eng_batch_pairs_open(ws, run, &qp, err);
	if (!rc)
		rc = eng_batch_errors_open(ws, &qe, err);
	for (uint64_t line = 1; !rc && line <= nlines; line++) {
		json_t *o = line_json(qp, qe, base, line);
		if (!o)
			continue; /* a blank line is no record */
		char *s =
		    json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
		json_decref(o);
		if (!s) {
			rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
			break;
		}
		fputs(s, out);
		fputc('\n', out);
		free(s);
	}
	eng_batch_close(qp);
	eng_batch_close(qe);
	if (rc)
		return rc;
	return ferror(out) ? eng_err_set(err, ENG_EIO, "write stdout: %s", strerror(errno)) : 0;
}

/* ---- the in-process path: batches through the pool ------------------------------------------- */

enum { MAXLANES = 8 };

/* The scorers, one per thread that can run a lane at once, lent to the lanes: a lane takes the
 * one on top and gives it back, so a thread mostly finds the scorer (its featurizer's 2 MiB of
 * buckets) it used last still in its cache. Which scorer runs a lane does not change its output
 * (modelfile.h). */
typedef struct scorers {
	pthread_mutex_t mu;
	eng_line_scorer *s[MAXLANES];
	int n;
} scorers;

/* One lane of a batch: a contiguous part of its lines, scored on the pool by a lent scorer into
 * the lane's own output buffer. */
typedef struct lane {
	scorers *pool;
	char *out; /* this lane's output: len bytes of cap */
	size_t len, cap;
	char *const *lines;
	const size_t *lens;
	size_t n;
	uint64_t base;
	int rc;
	eng_err err;
} lane;

/* One batch of BATCH_LINES lines (the last one shorter): the lines back to back in one buffer
 * (each NUL-terminated, its newline cut off), so memory follows the batch, not the longest line
 * each of BATCH_LINES buffers ever held. */
typedef struct batch {
	char **lines; /* (BATCH_LINES) into buf */
	size_t *lens, *offs;
	char *buf;
	size_t cap;
	size_t n;
	uint64_t base;
	int eof; /* the input ended in this batch */
	int nl;  /* lanes submitted (0: none) */
	lane L[MAXLANES];
} batch;

static int lane_main(void *arg)
{
	lane *l = arg;
	scorers *sp = l->pool;
	pthread_mutex_lock(&sp->mu);
	assert(sp->n > 0); /* no more lanes run at once than there are threads, and scorers */
	eng_line_scorer *sc = sp->s[--sp->n];
	pthread_mutex_unlock(&sp->mu);
	l->rc = eng_line_scorer_run(sc, l->lines, l->lens, l->n, l->base, &l->err);
	l->len = 0;
	if (!l->rc)
		eng_line_scorer_swap_output(sc, &l->out, &l->len, &l->cap);
	pthread_mutex_lock(&sp->mu);
	sp->s[sp->n++] = sc;
	pthread_mutex_unlock(&sp->mu);
	return l->rc;
}

static void batch_free(batch *b)
{
	free(b->lines), free(b->lens), free(b->offs), free(b->buf);
	for (int i = 0; i < MAXLANES; i++)
		free(b->L[i].out);
}

/* Reads the next batch from stdin (up to BATCH_LINES lines, the newline cut off) through the
 * line buffer *line (*cap bytes, getline's). 0 or ENG_ENOMEM. */
static int batch_read(batch *b, uint64_t base, char **line, size_t *cap, eng_err *err)
{
	size_t n = 0, used = 0;
	ssize_t len;
	while (n < BATCH_LINES && (len = getline(line, cap, stdin)) >= 0) {
		if (len > 0 && (*line)[len - 1] == '\n')
			len--;
		size_t need = used + (size_t)len + 1;
		if (need > b->cap) {
			size_t nc = b->cap ? b->cap : 1 << 20;
			while (nc < need)
				nc *= 2;
			char *q = realloc(b->buf, nc);
			if (!q)
				return eng_err_set(err, ENG_ENOMEM,
				                   "out of memory (a batch of lines)");
			b->buf = q;
			b->cap = nc;
		}
		memcpy(b->buf + used, *line, (size_t)len);
		b->buf[used + (size_t)len] = '\0';
		b->offs[n] = used;
		b->lens[n++] = (size_t)len;
		used = need;
	}
	for (size_t i = 0; i < n; i++)
		b->lines[i] = b->buf + b->offs[i];
	b->n = n;
	b->base = base;
	b->eof = n < BATCH_LINES;
	b->nl = 0;
	return 0;
}

/* Queues the batch's lanes: lane i scores lines [i * per, (i + 1) * per) with a lent scorer.
 * Determinism: a lane writes only its own output buffer and rc (and the scorer it holds alone),
 * reading only the shared model and its lines; the outputs are written in lane order
 * (batch_write), and a line's output depends on that line alone, whichever scorer made it, so
 * the output is that of one lane whatever the threads. */
static int batch_submit(batch *b, eng_pool *pool, scorers *sp, int lanes, eng_err *err)
{
	int nl = lanes;
	if ((size_t)nl > b->n / 256 + 1)
		nl = (int)(b->n / 256 + 1); /* small batches: one lane */
	size_t per = (b->n + (size_t)nl - 1) / (size_t)nl;
	for (int i = 0; i < nl; i++) {
		size_t s = (size_t)i * per, e = s + per > b->n ? b->n : s + per;
		lane *l = &b->L[i];
		l->lines = b->lines + s;
		l->lens = b->lens + s;
		l->n = e > s ? e - s : 0;
		l->base = b->base + s;
		l->rc = 0;
		l->pool = sp;
		if (eng_pool_submit(pool, lane_main, l))
			return eng_err_set(err, ENG_ENOMEM, "out of memory");
		b->nl = i + 1;
	}
	return 0;
}

/* Collects the batch's lanes: 0 when the batch is scored (its text in the lanes' scorers), 1 when
 * it goes through a workspace (a record has an image), or the first lane's error. */
static int batch_collect(batch *b, eng_pool *pool, eng_err *err)
{
	for (int i = 0; i < b->nl; i++)
		eng_pool_collect(pool); /* each lane's outcome is in L[i].rc */
	for (int i = 0; i < b->nl; i++) /* 1 (an image: the workspace path) wins over 0 */
		if (b->L[i].rc) {
			if (b->L[i].rc != 1 && err)
				*err = b->L[i].err;
			return b->L[i].rc;
		}
	return 0;
}

static int batch_write(const batch *b, FILE *out, eng_err *err)
{
	for (int i = 0; i < b->nl; i++) {
		size_t len = b->L[i].len;
		if (len && fwrite(b->L[i].out, 1, len, out) != len)
			return eng_err_set(err, ENG_EIO, "write the scores");
	}
	return 0;
}

/* ---- the workspace path ---------------------------------------------------------------------- */

typedef struct wspath {
	char dir[4096], jpath[4200], wpath[4200];
	const char *images;
	eng_score_opts so;
} wspath;

/* The batch indexed into a temporary workspace (every check of `index`, images too), scored with
 * the model and printed; the workspace is removed. */
static int batch_workspace(const batch *b, const wspath *w, eng_err *err)
{
	FILE *f = fopen(w->jpath, "w");
	if (!f)
		return eng_err_set(err, ENG_EIO, "write '%s': %s", w->jpath, strerror(errno));
	for (uint64_t i = 0; i < b->n; i++) {
		fwrite(b->lines[i], 1, b->lens[i], f);
		fputc('\n', f);
	}
	if (fclose(f) != 0)
		return eng_err_set(err, ENG_EIO, "write '%s': %s", w->jpath, strerror(errno));
	eng_ws *ws = NULL;
	eng_index_opts io = {.images = w->images};
	eng_index_result res;
	int64_t ds = 0, run = 0;
	int rc;
	char side[4300];
	if (!(rc = eng_ws_open(w->wpath, &ws, err)) &&
	    !(rc = eng_index_file(ws, "stdin", w->jpath, &io, &res, err)) &&
	    !(rc = eng_ws_dataset_id(ws, "stdin", &ds, err))) {
		if (res.pairs) /* a batch of nothing but errors is printed as such */
			rc = eng_score_run(ws, &ds, 1, &w->so, NULL, &run, err);
		if (!rc)
			rc = print_batch(ws, run, b->base, b->n, stdout, err);
	}
	eng_ws_close(ws);
	unlink(w->wpath);
	snprintf(side, sizeof side, "%s-wal", w->wpath);
	unlink(side);
	snprintf(side, sizeof side, "%s-shm", w->wpath);
	unlink(side);
	return rc;
}

/* A temporary folder in eng_tmp_dir() (or /tmp when that path is too long) for the workspace
 * path. */
static int make_tmpdir(char *dbuf, size_t n, eng_err *err)
{
	const char *tmpd = eng_tmp_dir();
	if (snprintf(dbuf, n, "%s/mmaudit-stdin-XXXXXX", tmpd) >= (int)n) {
		tmpd = "/tmp";
		snprintf(dbuf, n, "/tmp/mmaudit-stdin-XXXXXX");
	}
	if (!mkdtemp(dbuf))
		return eng_err_set(err, ENG_EIO, "make a temporary folder in %s: %s", tmpd,
		                   strerror(errno));
	return 0;
}

/* Pipeline: while the pool scores batch k, the caller reads batch k + 1 and queues it, then
 * collects batch k and writes it (or sends it through a workspace), in input order. */
int aud_score_stdin(const eng_modelfile *mf, const char *images, int threads, eng_err *err)
{
	if (threads <= 0) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);
		threads = c < 1 ? 1 : c > 8 ? 8 : (int)c;
	}
	int lanes = threads < 1 ? 1 : threads > MAXLANES ? MAXLANES : threads;
	wspath w;
	memset(&w, 0, sizeof w);
	int rc = make_tmpdir(w.dir, sizeof w.dir, err);
	if (rc)
		return rc;
	char cwd[4096];
	if (!images && getcwd(cwd, sizeof cwd))
		images = cwd;
	w.images = images;
	snprintf(w.jpath, sizeof w.jpath, "%s/stdin.jsonl", w.dir);
	snprintf(w.wpath, sizeof w.wpath, "%s/batch.db", w.dir);
	double confident = 0.8;
	json_t *cj = json_object_get(mf->config, "confident");
	if (json_is_number(cj))
		confident = json_number_value(cj);
	eng_score_opts_default(&w.so);
	w.so.model = mf;
	w.so.threads = 0;

	batch B[2];
	memset(B, 0, sizeof B);
	scorers sp = {.n = 0};
	pthread_mutex_init(&sp.mu, NULL);
	eng_pool *pool = eng_pool_new(lanes);
	if (!pool)
		rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
	/* a pool of T threads runs at most T lanes at once (none: one at a time, on the caller) */
	for (int i = 0; i < lanes && !rc; i++)
		if (!(rc = eng_line_scorer_new(mf, confident, &sp.s[i], err)))
			sp.n++;
	for (int k = 0; k < 2 && !rc; k++) {
		B[k].lines = calloc(BATCH_LINES, sizeof *B[k].lines);
		B[k].lens = calloc(BATCH_LINES, sizeof *B[k].lens);
		B[k].offs = calloc(BATCH_LINES, sizeof *B[k].offs);
		if (!B[k].lines || !B[k].lens || !B[k].offs)
			rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
	}
	uint64_t base = 0;
	batch *cur = &B[0], *next = &B[1];
	char *line = NULL; /* getline's buffer */
	size_t line_cap = 0;
	if (!rc)
		rc = batch_read(cur, base, &line, &line_cap, err);
	if (!rc) {
		base += cur->n;
		if (cur->n)
			rc = batch_submit(cur, pool, &sp, lanes, err);
	}
	while (!rc && cur->n) {
		next->n = 0;
		next->nl = 0;
		if (!cur->eof && !(rc = batch_read(next, base, &line, &line_cap, err))) {
			base += next->n;
			if (next->n)
				rc = batch_submit(next, pool, &sp, lanes, err);
		}
		if (rc)
			break;
		int fast = batch_collect(cur, pool, err);
		if (fast == 0)
			rc = batch_write(cur, stdout, err);
		else if (fast == 1)
			rc = batch_workspace(cur, &w, err);
		else
			rc = fast;
		batch *t = cur;
		cur = next;
		next = t;
	}
	eng_pool_free(pool); /* runs what is still queued after an error */
	free(line);
	fflush(stdout);
	for (int k = 0; k < 2; k++)
		batch_free(&B[k]);
	for (int i = 0; i < sp.n; i++)
		eng_line_scorer_free(sp.s[i]);
	pthread_mutex_destroy(&sp.mu);
	unlink(w.jpath);
	rmdir(w.dir);
	return rc;
}
