/* datacols.c - the columns of loaded data (eng_data): their names (the text featurizer's, or
 * "text-embedding[i]"), exact names of hashed text columns by recounting a dataset's answers on two
 * threads, and the feature mode as JSON for the run record. Does not load pairs (dataload.c). */
#include "dataload.h"
#include "workspace_sql.h"
#include "textfeat_internal.h"

#include <assert.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "arena.h"
#include "pool.h"

json_t *eng_data_features_json(const eng_data *d)
{
	return json_pack("{s:s, s:i, s:i, s:i, s:i, s:s?, s:s?, s:I, s:I}", "mode",
	                 eng_features_name(d->features), "image_builtin_dim",
	                 (int)d->img_builtin_dim, "text_builtin_dim", (int)d->text_builtin_dim,
	                 "image_embedding_dim", (int)d->img_emb_dim, "text_embedding_dim",
	                 (int)d->text_emb_dim, "image_embeddings_sha256",
	                 d->img_emb_sha[0] ? d->img_emb_sha : NULL, "text_embeddings_sha256",
	                 d->text_emb_sha[0] ? d->text_emb_sha : NULL, "images_without_embedding",
	                 (json_int_t)d->n_img_emb_missing, "pairs_without_text_embedding",
	                 (json_int_t)d->n_text_emb_missing);
}

const char *eng_data_column_name(const eng_data *d, uint32_t c, char *buf, size_t cap)
{
	if (c >= d->text_builtin_dim && c - d->text_builtin_dim < d->text_emb_dim) {
		snprintf(buf, cap, "text-embedding[%u]", (unsigned)(c - d->text_builtin_dim));
		return buf;
	}
	return eng_textfeat_name(d->tf, c, buf, cap);
}

int eng_data_column_hashed(const eng_data *d, uint32_t c)
{
	return d->text_builtin_dim &&
	       (uint64_t)c + (uint64_t)eng_textfeat_named_count() < (uint64_t)d->text_builtin_dim;
}

/* The namer's pass: rows are read in batches of NM_ROWS; the two halves of each batch are counted
 * as two tasks of a two-thread pool, each into its own namer, and the two are summed at the end
 * (exact counts: the split changes nothing). */
enum { NM_ROWS = 4096 };

typedef struct nm_half {
	eng_textfeat_namer *nm;
	const eng_arena *text;
	const size_t *off; /* (3 * rows) prompt, chosen, rejected of each row; SIZE_MAX = NULL */
	size_t b, e;       /* rows [b, e) of the batch */
	int rc;
	eng_err err;
} nm_half;

static int nm_count(void *arg)
{
	nm_half *h = arg;
	for (size_t i = h->b; i < h->e && !h->rc; i++) {
		const char *t[3];
		for (int f = 0; f < 3; f++)
			t[f] = h->off[3 * i + (size_t)f] == SIZE_MAX
			           ? NULL
			           : h->text->p + h->off[3 * i + (size_t)f];
		h->rc = eng_textfeat_namer_add_pair(h->nm, t[0], t[1], t[2], &h->err);
	}
	return h->rc;
}

int eng_data_namer(eng_ws *ws, const eng_data *d, size_t k, const uint32_t *cols, size_t n,
                   eng_textfeat_namer **out, eng_err *err)
{
	assert(k < d->nds);
	*out = NULL;
	eng_textfeat_namer *nm[2] = {NULL, NULL};
	eng_arena text = {0};
	size_t *off = malloc(3 * NM_ROWS * sizeof *off);
	eng_pool *pool = eng_pool_new(2);
	sqlite3_stmt *st = NULL;
	int rc = 0;
	if (!off || !pool) {
		rc = eng_err_set(err, ENG_ENOMEM, "out of memory (names)");
		goto out;
	}
	if ((rc = eng_textfeat_namer_new(d->tf, cols, n, &nm[0], err)) ||
	    (rc = eng_textfeat_namer_new(d->tf, cols, n, &nm[1], err)))
		goto out;
	/* the rows eng_data_load read for dataset k (order does not matter: counts are sums) */
	st = eng_ws_prepare(ws, "SELECT prompt, chosen, rejected FROM pairs WHERE dataset_id = ?1",
	                    err);
	if (!st) {
		rc = err ? err->code : ENG_EINTERNAL;
		goto out;
	}
	sqlite3_bind_int64(st, 1, d->ds_id[k]);
	int crosses = eng_textfeat_opts_of(d->tf).crosses, s = SQLITE_ROW;
	while (!rc && s == SQLITE_ROW) {
		size_t rows = 0;
		text.len = 0;
		while (rows < NM_ROWS && (s = sqlite3_step(st)) == SQLITE_ROW) {
			for (int f = 0; f < 3; f++) {
				const char *t = f == 0 && !crosses
				                    ? NULL
				                    : (const char *)sqlite3_column_text(st, f);
				size_t *o = &off[3 * rows + (size_t)f];
				if (!t)
					*o = SIZE_MAX;
				else if (eng_arena_put(&text, t, o)) {
					rc = eng_err_set(err, ENG_ENOMEM, "out of memory (names)");
					goto out;
				}
			}
			rows++;
		}
		if (s != SQLITE_ROW && s != SQLITE_DONE) {
			rc = eng_ws_fail(ws, err, "read answers for names");
			goto out;
		}
		nm_half h[2] = {{nm[1], &text, off, 0, rows / 2, 0, {0}},
		                {nm[0], &text, off, rows / 2, rows, 0, {0}}};
		/* Determinism: task i writes only h[i] and its namer and reads the batch, which no
		 * task writes; the namers are summed in a fixed order below. A short batch, or a
		 * half that cannot be queued, is counted here. */
		int queued = 0;
		for (int i = 0; i < 2; i++)
			if (rows >= 64 && !eng_pool_submit(pool, nm_count, &h[i]))
				queued++;
			else
				nm_count(&h[i]);
		if (queued)
			eng_pool_wait(pool); /* each half's outcome is in h[i].rc */
		for (int i = 0; i < 2 && !rc; i++)
			if ((rc = h[i].rc) && err)
				*err = h[i].err;
	}
	if (!rc)
		rc = eng_textfeat_namer_merge(nm[0], nm[1], err);
	if (!rc) {
		*out = nm[0];
		nm[0] = NULL;
	}
out:
	eng_pool_free(pool);
	sqlite3_finalize(st);
	eng_textfeat_namer_free(nm[0]);
	eng_textfeat_namer_free(nm[1]);
	eng_arena_free(&text);
	free(off);
	return rc;
}
