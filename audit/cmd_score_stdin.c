/* cmd_score_stdin.c - `mmaudit score --model MODEL --stdin`: a filter for Spark RDD.pipe, Ray or
 * GNU parallel. Records (any shape `index` accepts; images by path, relative to --images or the
 * current folder, or as data: URIs) come in on stdin, one JSON line of scores per record goes out
 * on stdout, in input order. Works in batches: each batch is indexed into a temporary workspace
 * (so every shape, check and error of `index` applies) and scored with the model, then removed;
 * memory is bounded by the model plus one batch. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/cli.h"
#include "index.h"
#include "modelfile.h"
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

int aud_score_stdin(const eng_modelfile *mf, const char *images, int threads, eng_err *err)
{
	if (threads <= 0) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);
		threads = c < 1 ? 1 : c > 8 ? 8 : (int)c;
	}
	char dir[] = "/tmp/mmaudit-stdin-XXXXXX";
	const char *tmpd = getenv("TMPDIR");
	char dbuf[4096];
	if (tmpd && *tmpd &&
	    snprintf(dbuf, sizeof dbuf, "%s/mmaudit-stdin-XXXXXX", tmpd) < (int)sizeof dbuf) {
		if (!mkdtemp(dbuf))
			return eng_err_set(err, ENG_EIO, "make a temporary folder in %s: %s", tmpd,
			                   strerror(errno));
	} else if (!mkdtemp(dir)) {
		return eng_err_set(err, ENG_EIO, "make a temporary folder in /tmp: %s",
		                   strerror(errno));
	} else {
		snprintf(dbuf, sizeof dbuf, "%s", dir);
	}
	char cwd[4096], jpath[4200], wpath[4200], side[4300];
	if (!images && getcwd(cwd, sizeof cwd))
		images = cwd;
	snprintf(jpath, sizeof jpath, "%s/stdin.jsonl", dbuf);
	snprintf(wpath, sizeof wpath, "%s/batch.db", dbuf);
	char **lines = calloc(BATCH_LINES, sizeof *lines);
	size_t *lens = calloc(BATCH_LINES, sizeof *lens), *caps = calloc(BATCH_LINES, sizeof *caps);
	uint64_t base = 0;
	int rc = 0, eof = 0;
	double confident = 0.8;
	json_t *cj = json_object_get(mf->config, "confident");
	if (json_is_number(cj))
		confident = json_number_value(cj);
	if (!lines || !lens || !caps)
		rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
	eng_score_opts so;
	eng_score_opts_default(&so);
	so.model = mf;
	so.threads = 0;
	while (!rc && !eof) {
		uint64_t n = 0;
		ssize_t len;
		while (n < BATCH_LINES && (len = getline(&lines[n], &caps[n], stdin)) >= 0) {
			if (len > 0 && lines[n][len - 1] == '\n')
				lines[n][--len] = '\0';
			lens[n++] = (size_t)len;
		}
		if (n < BATCH_LINES)
			eof = 1;
		if (n == 0)
			break;
		/* text-only records: scored in-process; a batch with an image goes through a
		 * workspace, where every check of `index` applies to the images too */
		int fast = eng_modelfile_score_lines_mt(mf, lines, lens, n, base, confident,
		                                        threads, stdout, err);
		if (fast == 0) {
			base += n;
			continue;
		}
		if (fast != 1) {
			rc = fast;
			break;
		}
		FILE *f = fopen(jpath, "w");
		if (!f) {
			rc = eng_err_set(err, ENG_EIO, "write '%s': %s", jpath, strerror(errno));
			break;
		}
		for (uint64_t i = 0; i < n; i++) {
			fwrite(lines[i], 1, lens[i], f);
			fputc('\n', f);
		}
		if (fclose(f) != 0) {
			rc = eng_err_set(err, ENG_EIO, "write '%s': %s", jpath, strerror(errno));
			break;
		}
		eng_ws *ws = NULL;
		eng_index_opts io = {.images = images};
		eng_index_result res;
		int64_t ds = 0, run = 0;
		if (!(rc = eng_ws_open(wpath, &ws, err)) &&
		    !(rc = eng_index_file(ws, "stdin", jpath, &io, &res, err)) &&
		    !(rc = eng_ws_dataset_id(ws, "stdin", &ds, err))) {
			if (res.pairs) /* a batch of nothing but errors is printed as such */
				rc = eng_score_run(ws, &ds, 1, &so, NULL, &run, err);
			if (!rc)
				rc = print_batch(ws, run, base, n, stdout, err);
		}
		eng_ws_close(ws);
		unlink(wpath);
		snprintf(side, sizeof side, "%s-wal", wpath);
		unlink(side);
		snprintf(side, sizeof side, "%s-shm", wpath);
		unlink(side);
		base += n;
	}
	fflush(stdout);
	for (size_t i = 0; lines && i < BATCH_LINES; i++)
		free(lines[i]);
	free(lines), free(lens), free(caps);
	unlink(jpath);
	rmdir(dbuf);
	return rc;
}
