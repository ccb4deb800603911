/* modelscore.c - text-only records scored in-process with a model file (score --stdin's fast path;
 * modelfile.h). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "modelfile.h"
#include "pool.h"
#include "records.h"
#include "textfeat_internal.h"

/* One JSON string, escaped, to f. */
static void put_json_string(FILE *f, const char *s)
{
	json_t *j = json_string(s ? s : "");
	char *t = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
	fputs(t ? t : "\"\"", f);
	free(t);
	json_decref(j);
}

static void put_scores(FILE *f, const char *id, double pt)
{
	fputs("{\"id\":", f);
	put_json_string(f, id);
	fprintf(f, ",\"p_text\":%.9g,\"p_mm\":null,\"p_sa\":null,\"sfc\":null,\"category\":", pt);
}

int eng_modelfile_score_lines(const eng_modelfile *mf, char *const *lines, const size_t *lens,
                              size_t n, uint64_t base, double confident, FILE *out, eng_err *err)
{
	if (mf->features != ENG_FEATURES_BUILTIN && mf->features != ENG_FEATURES_AUTO)
		return 1; /* external embeddings: only a workspace has them */
	eng_record *rec = calloc(n ? n : 1, sizeof *rec);
	eng_textfeat *tf = NULL;
	eng_pairset ps;
	memset(&ps, 0, sizeof ps);
	size_t *rows = NULL, *pos = NULL, npairs = 0;
	uint64_t *key = NULL;
	float *tmp = NULL, *mg = NULL;
	int rc = 0;
	if (!rec)
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	for (size_t i = 0; i < n && !rc; i++) {
		if ((rc = eng_record_parse(&rec[i], lines[i], lens[i], "stdin", base + i + 1)))
			break;
		if (rec[i].image && rec[i].npairs) {
			rc = 1; /* an image to decode: the workspace path */
			break;
		}
		npairs += rec[i].npairs;
	}
	if (rc)
		goto out;
	if ((rc = eng_textfeat_new(&mf->text, &tf, err)))
		goto out;
	if (eng_textfeat_dim(tf) != mf->text_dim) {
		rc =
		    eng_err_set(err, ENG_EINPUT,
		                "the model has %u text columns, its own options give %u: the model "
		                "file is inconsistent",
		                mf->text_dim, eng_textfeat_dim(tf));
		goto out;
	}
	if ((rc = eng_pairset_init(&ps, mf->text_dim, mf->img_dim ? mf->img_dim : 1, err)))
		goto out;
	key = malloc((npairs ? npairs : 1) * sizeof *key);
	rows = malloc((npairs ? npairs : 1) * sizeof *rows);
	pos = malloc((npairs ? npairs : 1) * sizeof *pos);
	tmp = malloc((npairs ? npairs : 1) * sizeof *tmp);
	mg = malloc((npairs ? npairs : 1) * sizeof *mg);
	if (!key || !rows || !pos || !tmp || !mg) {
		rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
		goto out;
	}
	size_t r = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		const char *p = rec[i].prompt ? rec[i].prompt : "";
		uint64_t pk = eng_fnv1a64(p, strlen(p));
		for (size_t k = 0; k < rec[i].npairs && !rc; k++, r++) {
			const eng_rec_pair *q = &rec[i].pairs[k];
			rc = eng_textfeat_add_pair(tf, &ps, p, q->chosen, q->rejected, -1, err);
			/* the split key exactly as a workspace gives it (dataload.c) */
			key[r] = mf->content_key
			             ? eng_answer_pair_key(q->chosen, q->rejected) ^ eng_mix64(pk)
			             : pk;
		}
	}
	if (rc)
		goto out;
	/* text proxy margins: the pair's own fold's model in the sample, else the mean of K */
	for (int f = 0; f < mf->folds && !rc; f++) {
		size_t m = 0;
		for (size_t j = 0; j < npairs; j++)
			if (eng_modelfile_in_sample(mf, key[j]) &&
			    eng_modelfile_fold(mf, key[j]) == f)
				rows[m] = j, pos[m++] = j;
		rc = eng_model_margins(mf->m[f][ENG_METHOD_TEXT], &ps, rows, m, tmp);
		for (size_t j = 0; !rc && j < m; j++)
			mg[pos[j]] = tmp[j];
	}
	size_t no = 0;
	for (size_t j = 0; j < npairs; j++)
		if (!eng_modelfile_in_sample(mf, key[j]))
			rows[no++] = j;
	if (!rc && no) /* the mean of the K proxies' margins = the mean proxy's margin */
		rc = eng_model_margins(mf->text_mean, &ps, rows, no, tmp);
	for (size_t j = 0; !rc && j < no; j++)
		mg[rows[j]] = tmp[j];
	if (rc) {
		rc = eng_err_set(err, ENG_ENOMEM, "out of memory scoring");
		goto out;
	}
	r = 0;
	for (size_t i = 0; i < n; i++) {
		if (!rec[i].npairs && !rec[i].nerrors)
			continue; /* a blank line is no record */
		int single = rec[i].npairs == 1 && rec[i].nerrors == 0;
		if (!single)
			fprintf(out, "{\"line\":%llu,\"pairs\":[",
			        (unsigned long long)(base + i + 1));
		for (size_t k = 0; k < rec[i].npairs; k++, r++) {
			/* float, as score's metrics hold it; the text-only rule (no MM-RM, no
			 * image) */
			float pt = (float)eng_sigmoid(mg[r]);
			const char *cat = pt >= confident         ? "text-shortcut"
			                  : pt <= 1.0 - confident ? "suspect-label"
			                                          : "ambiguous";
			if (k)
				fputc(',', out);
			put_scores(out, rec[i].pairs[k].id, eng_sigmoid(mg[r]));
			fprintf(out, "\"%s\"", cat);
			if (single)
				fprintf(out, ",\"line\":%llu", (unsigned long long)(base + i + 1));
			fputc('}', out);
		}
		if (!single) {
			fputc(']', out);
			if (rec[i].nerrors) {
				fputs(",\"errors\":[", out);
				for (size_t k = 0; k < rec[i].nerrors; k++) {
					fprintf(out, "%s{\"code\":\"%s\",\"reason\":", k ? "," : "",
					        eng_rec_code_name(rec[i].errors[k].code));
					put_json_string(out, rec[i].errors[k].reason);
					fputc('}', out);
				}
				fputc(']', out);
			}
			fputc('}', out);
		}
		fputc('\n', out);
	}
out:
	for (size_t i = 0; i < n; i++)
		eng_record_clear(&rec[i]);
	free(rec);
	eng_textfeat_free(tf);
	eng_pairset_free(&ps);
	free(key), free(rows), free(pos), free(tmp), free(mg);
	return rc;
}

/* ---- lanes on the pool ----------------------------------------------------------------------- */

typedef struct lane {
	const eng_modelfile *mf;
	char *const *lines;
	const size_t *lens;
	size_t n;
	uint64_t base;
	double confident;
	char *buf; /* out: this lane's scores, in its lines' order */
	size_t len;
	int rc;
	eng_err err;
} lane;

static int lane_main(void *arg)
{
	lane *l = arg;
	FILE *f = open_memstream(&l->buf, &l->len);
	if (!f) {
		l->rc = eng_err_set(&l->err, ENG_ENOMEM, "out of memory");
		return l->rc;
	}
	l->rc = eng_modelfile_score_lines(l->mf, l->lines, l->lens, l->n, l->base, l->confident, f,
	                                  &l->err);
	if (fclose(f) != 0 && !l->rc)
		l->rc = eng_err_set(&l->err, ENG_ENOMEM, "out of memory");
	return l->rc;
}

int eng_modelfile_score_lines_mt(const eng_modelfile *mf, char *const *lines, const size_t *lens,
                                 size_t n, uint64_t base, double confident, int threads, FILE *out,
                                 eng_err *err)
{
	enum { MAXL = 8 };
	int nl = threads < 1 ? 1 : threads > MAXL ? MAXL : threads;
	if ((size_t)nl > n / 256 + 1)
		nl = (int)(n / 256 + 1); /* small batches: one lane */
	lane L[MAXL];
	size_t per = (n + (size_t)nl - 1) / (size_t)nl;
	eng_pool *pool = eng_pool_new(nl);
	if (!pool)
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	/* Determinism: lane i scores lines [i * per, (i + 1) * per) into its own buffer, reading
	 * only the shared model and lines; the buffers are written out in lane order below, so the
	 * output is that of a single lane, whatever the threads. */
	int rc = 0;
	for (int i = 0; i < nl; i++) {
		size_t b = (size_t)i * per, e = b + per > n ? n : b + per;
		L[i] = (lane){mf, lines + b, lens + b, e > b ? e - b : 0, base + b, confident, NULL,
		              0,  0,         {0}};
		if (!rc && eng_pool_submit(pool, lane_main, &L[i]))
			rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
	}
	eng_pool_wait(pool); /* each lane's outcome is in L[i].rc */
	eng_pool_free(pool);
	for (int i = 0; i < nl && !rc; i++) /* 1 (an image: the workspace path) wins over 0 */
		if (L[i].rc) {
			rc = L[i].rc;
			if (rc != 1 && err)
				*err = L[i].err;
		}
	for (int i = 0; i < nl && !rc; i++)
		if (L[i].len && fwrite(L[i].buf, 1, L[i].len, out) != L[i].len)
			rc = eng_err_set(err, ENG_EIO, "write the scores");
	for (int i = 0; i < nl; i++)
		free(L[i].buf);
	return rc;
}
