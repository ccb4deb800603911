/* modelscore.c - text-only records scored in-process with a model file (score --stdin's fast path;
 * modelfile.h): parse, featurize, the text proxies' margins, one JSON line per record. A scorer
 * keeps its buffers from batch to batch; running scorers on threads is the caller's business
 * (each line's output depends on that line alone). Reads no file, writes no workspace. */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "modelfile.h"
#include "records.h"
#include "textfeat_internal.h"

/* ---- output text ---------------------------------------------------------------------------- */

/* The scorer's output: a growable byte buffer; a failed growth sets oom and drops the rest. */
typedef struct obuf {
	char *p;
	size_t len, cap;
	int oom;
} obuf;

static int ob_reserve(obuf *b, size_t n)
{
	if (b->oom)
		return -1;
	if (n <= b->cap - b->len)
		return 0;
	size_t nc = b->cap ? b->cap : 4096;
	while (nc - b->len < n) {
		if (nc > SIZE_MAX / 2) {
			b->oom = 1;
			return -1;
		}
		nc *= 2;
	}
	char *q = realloc(b->p, nc);
	if (!q) {
		b->oom = 1;
		return -1;
	}
	b->p = q;
	b->cap = nc;
	return 0;
}

static void ob_put(obuf *b, const char *s, size_t n)
{
	if (n && !ob_reserve(b, n)) {
		memcpy(b->p + b->len, s, n);
		b->len += n;
	}
}

static void ob_puts(obuf *b, const char *s)
{
	ob_put(b, s, strlen(s));
}

static void ob_printf(obuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ob_printf(obuf *b, const char *fmt, ...)
{
	if (ob_reserve(b, 64))
		return;
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (k < 0)
		return;
	if ((size_t)k >= b->cap - b->len) { /* longer than the room: again, with room for it */
		if (ob_reserve(b, (size_t)k + 1))
			return;
		va_start(ap, fmt);
		vsnprintf(b->p + b->len, (size_t)k + 1, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)k;
}

/* A line number in decimal (as %llu). */
static void ob_u64(obuf *b, uint64_t v)
{
	char t[24];
	size_t i = sizeof t;
	do
		t[--i] = (char)('0' + v % 10);
	while (v /= 10);
	ob_put(b, t + i, sizeof t - i);
}

/* One JSON string, as jansson's json_dumps writes it ("" for a string that is not UTF-8, such as
 * a reason cut inside a character). */
static void put_json_string(obuf *b, const char *s)
{
	s = s ? s : "";
	size_t n = 0;
	for (; s[n]; n++) { /* the common case: printable ASCII, copied as it is */
		unsigned char c = (unsigned char)s[n];
		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
			break;
	}
	if (!s[n]) {
		ob_put(b, "\"", 1);
		ob_put(b, s, n);
		ob_put(b, "\"", 1);
		return;
	}
	json_t *j = json_string(s);
	char *t = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
	ob_puts(b, t ? t : "\"\"");
	free(t);
	json_decref(j);
}

static void put_scores(obuf *b, const char *id, double pt)
{
	ob_puts(b, "{\"id\":");
	put_json_string(b, id);
	ob_printf(b, ",\"p_text\":%.9g", pt);
	ob_puts(b, ",\"p_mm\":null,\"p_sa\":null,\"sfc\":null,\"category\":");
}

/* ---- the scorer ------------------------------------------------------------------------------ */

struct eng_line_scorer {
	const eng_modelfile *mf;
	double confident;
	eng_textfeat *tf; /* votes no names */
	eng_pairset ps;
	eng_record *rec; /* (rec_cap), zeroed between runs */
	size_t rec_cap;
	uint64_t *key; /* (pair_cap) each: split keys, rows, positions, margins */
	size_t *rows, *pos;
	float *tmp, *mg;
	size_t pair_cap;
	obuf out;
};

void eng_line_scorer_free(eng_line_scorer *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->rec_cap; i++)
		eng_record_clear(&s->rec[i]);
	free(s->rec);
	eng_textfeat_free(s->tf);
	eng_pairset_free(&s->ps);
	free(s->key), free(s->rows), free(s->pos), free(s->tmp), free(s->mg);
	free(s->out.p);
	free(s);
}

int eng_line_scorer_new(const eng_modelfile *mf, double confident, eng_line_scorer **out,
                        eng_err *err)
{
	*out = NULL;
	eng_line_scorer *s = calloc(1, sizeof *s);
	if (!s)
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	s->mf = mf;
	s->confident = confident;
	*out = s;
	return 0;
}

/* Room for n records and, once they are parsed, npairs pairs. 0 or -1. */
static int grow_records(eng_line_scorer *s, size_t n)
{
	if (n <= s->rec_cap)
		return 0;
	eng_record *r = realloc(s->rec, n * sizeof *r);
	if (!r)
		return -1;
	memset(r + s->rec_cap, 0, (n - s->rec_cap) * sizeof *r);
	s->rec = r;
	s->rec_cap = n;
	return 0;
}

static int grow_pairs(eng_line_scorer *s, size_t n)
{
	if (n <= s->pair_cap)
		return 0;
	void *a = realloc(s->key, n * sizeof *s->key);
	if (a)
		s->key = a;
	void *b = a ? realloc(s->rows, n * sizeof *s->rows) : NULL;
	if (b)
		s->rows = b;
	void *c = b ? realloc(s->pos, n * sizeof *s->pos) : NULL;
	if (c)
		s->pos = c;
	void *d = c ? realloc(s->tmp, n * sizeof *s->tmp) : NULL;
	if (d)
		s->tmp = d;
	void *e = d ? realloc(s->mg, n * sizeof *s->mg) : NULL;
	if (e)
		s->mg = e;
	if (!e)
		return -1;
	s->pair_cap = n;
	return 0;
}

/* Parses the records; 1 when one has an image (the workspace path), 0, or ENG_ENOMEM. */
static int parse_lines(eng_line_scorer *s, char *const *lines, const size_t *lens, size_t n,
                       uint64_t base, size_t *npairs)
{
	*npairs = 0;
	for (size_t i = 0; i < n; i++) {
		/* the flat fast path, else (1) the full parser with its every shape and error */
		int rc =
		    eng_record_parse_flat(&s->rec[i], lines[i], lens[i], "stdin", base + i + 1);
		if (rc == 1)
			rc = eng_record_parse(&s->rec[i], lines[i], lens[i], "stdin", base + i + 1);
		if (rc)
			return rc;
		if (s->rec[i].image && s->rec[i].npairs)
			return 1; /* an image to decode: the workspace path */
		*npairs += s->rec[i].npairs;
	}
	return 0;
}

/* Featurizes the records' pairs into s->ps and their split keys. */
static int featurize(eng_line_scorer *s, size_t n, eng_err *err)
{
	const eng_modelfile *mf = s->mf;
	size_t r = 0;
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		const eng_record *rec = &s->rec[i];
		const char *p = rec->prompt ? rec->prompt : "";
		uint64_t pk = eng_fnv1a64(p, strlen(p));
		for (size_t k = 0; k < rec->npairs && !rc; k++, r++) {
			const eng_rec_pair *q = &rec->pairs[k];
			rc = eng_textfeat_add_pair(s->tf, &s->ps, p, q->chosen, q->rejected, -1,
			                           err);
			/* the split key exactly as a workspace gives it (dataload.c) */
			s->key[r] = mf->content_key ? eng_answer_pair_key(q->chosen, q->rejected) ^
			                                  eng_mix64(pk)
			                            : pk;
		}
	}
	return rc;
}

/* Text proxy margins of the npairs pairs into s->mg: the pair's own fold's model in the sample,
 * else the mean of K. 0 or ENG_ENOMEM. */
static int margins(eng_line_scorer *s, size_t npairs, eng_err *err)
{
	const eng_modelfile *mf = s->mf;
	int rc = 0;
	for (int f = 0; f < mf->folds && !rc; f++) {
		size_t m = 0;
		for (size_t j = 0; j < npairs; j++)
			if (eng_modelfile_in_sample(mf, s->key[j]) &&
			    eng_modelfile_fold(mf, s->key[j]) == f)
				s->rows[m] = j, s->pos[m++] = j;
		rc = eng_model_margins(mf->m[f][ENG_METHOD_TEXT], &s->ps, s->rows, m, s->tmp);
		for (size_t j = 0; !rc && j < m; j++)
			s->mg[s->pos[j]] = s->tmp[j];
	}
	size_t no = 0;
	for (size_t j = 0; j < npairs; j++)
		if (!eng_modelfile_in_sample(mf, s->key[j]))
			s->rows[no++] = j;
	if (!rc && no) /* the mean of the K proxies' margins = the mean proxy's margin */
		rc = eng_model_margins(mf->text_mean, &s->ps, s->rows, no, s->tmp);
	for (size_t j = 0; !rc && j < no; j++)
		s->mg[s->rows[j]] = s->tmp[j];
	return rc ? eng_err_set(err, ENG_ENOMEM, "out of memory scoring") : 0;
}

/* One JSON line per record of lines [0, n) into s->out. */
static void print_records(eng_line_scorer *s, size_t n, uint64_t base)
{
	obuf *out = &s->out;
	size_t r = 0;
	for (size_t i = 0; i < n; i++) {
		const eng_record *rec = &s->rec[i];
		if (!rec->npairs && !rec->nerrors)
			continue; /* a blank line is no record */
		int single = rec->npairs == 1 && rec->nerrors == 0;
		if (!single)
			ob_printf(out, "{\"line\":%llu,\"pairs\":[",
			          (unsigned long long)(base + i + 1));
		for (size_t k = 0; k < rec->npairs; k++, r++) {
			/* float, as score's metrics hold it; the text-only rule (no MM-RM, no
			 * image) */
			float pt = (float)eng_sigmoid(s->mg[r]);
			const char *cat = pt >= s->confident         ? "text-shortcut"
			                  : pt <= 1.0 - s->confident ? "suspect-label"
			                                             : "ambiguous";
			if (k)
				ob_put(out, ",", 1);
			put_scores(out, rec->pairs[k].id, eng_sigmoid(s->mg[r]));
			ob_put(out, "\"", 1);
			ob_puts(out, cat);
			ob_put(out, "\"", 1);
			if (single) {
				ob_puts(out, ",\"line\":");
				ob_u64(out, base + i + 1);
			}
			ob_put(out, "}", 1);
		}
		if (!single) {
			ob_put(out, "]", 1);
			if (rec->nerrors) {
				ob_puts(out, ",\"errors\":[");
				for (size_t k = 0; k < rec->nerrors; k++) {
					ob_printf(out,
					          "%s{\"code\":\"%s\",\"reason\":", k ? "," : "",
					          eng_rec_code_name(rec->errors[k].code));
					put_json_string(out, rec->errors[k].reason);
					ob_put(out, "}", 1);
				}
				ob_put(out, "]", 1);
			}
			ob_put(out, "}", 1);
		}
		ob_put(out, "\n", 1);
	}
}

int eng_line_scorer_run(eng_line_scorer *s, char *const *lines, const size_t *lens, size_t n,
                        uint64_t base, eng_err *err)
{
	const eng_modelfile *mf = s->mf;
	s->out.len = 0;
	s->out.oom = 0;
	if (mf->features != ENG_FEATURES_BUILTIN && mf->features != ENG_FEATURES_AUTO)
		return 1; /* external embeddings: only a workspace has them */
	if (grow_records(s, n))
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	size_t npairs = 0;
	int rc = parse_lines(s, lines, lens, n, base, &npairs);
	if (rc)
		goto out;
	if (!s->tf) { /* made on the first run, where a one-off scorer made it */
		if ((rc = eng_textfeat_new(&mf->text, &s->tf, err)))
			goto out;
		eng_textfeat_set_votes(s->tf, 0);
	}
	if (eng_textfeat_dim(s->tf) != mf->text_dim) {
		rc =
		    eng_err_set(err, ENG_EINPUT,
		                "the model has %u text columns, its own options give %u: the model "
		                "file is inconsistent",
		                mf->text_dim, eng_textfeat_dim(s->tf));
		goto out;
	}
	if (!s->ps.rowptr)
		rc = eng_pairset_init(&s->ps, mf->text_dim, mf->img_dim ? mf->img_dim : 1, err);
	else
		eng_pairset_reset(&s->ps);
	if (rc)
		goto out;
	if (grow_pairs(s, npairs ? npairs : 1)) {
		rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = featurize(s, n, err)) || (rc = margins(s, npairs, err)))
		goto out;
	print_records(s, n, base);
	if (s->out.oom)
		rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
out:
	for (size_t i = 0; i < n; i++)
		eng_record_clear(&s->rec[i]);
	return rc;
}

const char *eng_line_scorer_output(const eng_line_scorer *s, size_t *len)
{
	*len = s->out.len;
	return s->out.p;
}

void eng_line_scorer_swap_output(eng_line_scorer *s, char **buf, size_t *len, size_t *cap)
{
	char *p = s->out.p;
	size_t n = s->out.len, c = s->out.cap;
	s->out = (obuf){*buf, 0, *buf ? *cap : 0, 0};
	*buf = p;
	*len = n;
	*cap = c;
}

int eng_modelfile_score_lines(const eng_modelfile *mf, char *const *lines, const size_t *lens,
                              size_t n, uint64_t base, double confident, FILE *out, eng_err *err)
{
	eng_line_scorer *s = NULL;
	int rc = eng_line_scorer_new(mf, confident, &s, err);
	if (!rc)
		rc = eng_line_scorer_run(s, lines, lens, n, base, err);
	size_t len = 0;
	const char *t = rc ? NULL : eng_line_scorer_output(s, &len);
	if (len && fwrite(t, 1, len, out) != len)
		rc = eng_err_set(err, ENG_EIO, "write the scores");
	eng_line_scorer_free(s);
	return rc;
}
