/* scoremodel.c - score --model: margins from a saved model's fold models instead of training, and
 * the run a chunk of pairs at a time so memory is bounded by the model plus one chunk. Does not
 * train (score.c) or define the metrics (metrics.h). */
#include "score_internal.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dataload.h"
#include "dedup.h"
#include "metrics.h"
#include "runs.h"
#include "model_internal.h"
#include "modelfile.h"
#include "trainjobs.h"
#include "weights.h"
#include "workspace_sql.h"

/* score --model: the margins of dataset work w from the model's fold models. A pair in the
 * model's training sample gets the model of its own fold (trained without it: held out, as in
 * cross-fitting); any other pair the mean margin of the K fold models (none saw it). Likewise the
 * counterfactual margins of the standard MM-RM, and the fold proxies' text weights (top
 * features). A dataset with images scored by a model trained without any is scored text-only. */
int eng_score_model_margins(const eng_modelfile *mf, const eng_data *d, dswork *w, eng_err *err)
{
	const int K = mf->folds;
	const size_t n = w->n;
	const int mm = w->has_img && (mf->methods & (1u << ENG_METHOD_STANDARD)) &&
	               (mf->methods & (1u << ENG_METHOD_SHORTCUT_AWARE));
	if (!mm)
		w->has_img = 0;
	w->in_sample = malloc(n ? n : 1);
	size_t *rows = malloc((n ? n : 1) * sizeof *rows), *pos = malloc((n ? n : 1) * sizeof *pos);
	float *tmp = malloc((n ? n : 1) * sizeof *tmp);
	double *acc = malloc((n ? n : 1) * sizeof *acc);
	int32_t *img = malloc((n ? n : 1) * sizeof *img);
	int rc = 0;
	if (!w->in_sample || !rows || !pos || !tmp || !acc || !img) {
		rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t q = 0; q < n; q++)
		w->in_sample[q] =
		    (uint8_t)eng_modelfile_in_sample(mf, eng_modelfile_key(mf, d, w->rows[q]));
	/* kind: 0..2 the methods' margins, 3 swapped image, 4 blank image (standard MM-RM) */
	for (int kind = 0; kind < 5 && !rc; kind++) {
		int q = kind < 3 ? kind : ENG_METHOD_STANDARD;
		if (kind > 0 && !mm)
			break;
		float *dst = kind < 3 ? w->margin[kind] : kind == 3 ? w->m_swap : w->m_blank;
		size_t no = 0;
		/* in-sample pairs: their own fold's model */
		for (int f = 0; f < K && !rc; f++) {
			size_t ni = 0;
			for (size_t p = w->fb[f]; p < w->fb[f + 1]; p++)
				if (w->in_sample[p]) {
					rows[ni] = w->rows[p];
					if (kind >= 3)
						img[ni] = kind == 3 && w->swap_img[p] >= 0
						              ? w->swap_img[p]
						          : kind == 3 ? d->ps.img_of[w->rows[p]]
						          : d->ps.img_of[w->rows[p]] >= 0
						              ? ENG_MODEL_IMG_MEAN
						              : -1;
					pos[ni++] = p;
				}
			rc = kind < 3
			         ? eng_model_margins(mf->m[f][q], &d->ps, rows, ni, tmp)
			         : eng_model_margins_img(mf->m[f][q], &d->ps, rows, img, ni, tmp);
			for (size_t i = 0; !rc && i < ni; i++)
				dst[pos[i]] = tmp[i];
		}
		/* the others: the mean of the K fold models */
		for (size_t p = 0; p < n; p++)
			if (!w->in_sample[p]) {
				rows[no] = w->rows[p];
				if (kind >= 3)
					img[no] = kind == 3 && w->swap_img[p] >= 0 ? w->swap_img[p]
					          : kind == 3 ? d->ps.img_of[w->rows[p]]
					          : d->ps.img_of[w->rows[p]] >= 0
					              ? ENG_MODEL_IMG_MEAN
					              : -1;
				pos[no++] = p;
			}
		for (size_t i = 0; i < no; i++)
			acc[i] = 0;
		if (kind == 0 && no) { /* the mean proxy: the mean of the K margins at one's cost */
			rc = eng_model_margins(mf->text_mean, &d->ps, rows, no, tmp);
			for (size_t i = 0; !rc && i < no; i++)
				dst[pos[i]] = tmp[i];
			continue;
		}
		for (int f = 0; f < K && !rc && no; f++) {
			rc = kind < 3
			         ? eng_model_margins(mf->m[f][q], &d->ps, rows, no, tmp)
			         : eng_model_margins_img(mf->m[f][q], &d->ps, rows, img, no, tmp);
			for (size_t i = 0; !rc && i < no; i++)
				acc[i] += tmp[i];
		}
		for (size_t i = 0; !rc && i < no; i++)
			dst[pos[i]] = (float)(acc[i] / K);
	}
	if (rc && rc != ENG_EINPUT)
		rc = eng_err_set(err, rc, "out of memory scoring with the model");
	for (int f = 0; !rc && f < K; f++)
		memcpy(w->fold_w + (size_t)f * d->ps.text_dim,
		       eng_model_text_weights(mf->m[f][ENG_METHOD_TEXT]),
		       sizeof(float) * d->ps.text_dim);
out:
	free(rows), free(pos), free(tmp), free(acc), free(img);
	return rc;
}

/* ---- score --model, a chunk at a time ----------------------------------------------------------
 */

/* Pairs per chunk: memory is bounded by the model plus one chunk's features, whatever the shard
 * size (a chunk of 100k text pairs is ~50 MB). */
enum { MODEL_CHUNK_PAIRS = 100000 };

static int chunk_bounds(eng_ws *ws, int64_t ds, int64_t **lo, size_t *nchunks, eng_err *err)
{
	*lo = NULL;
	*nchunks = 0;
	sqlite3_stmt *q =
	    eng_ws_prepare(ws, "SELECT id FROM pairs WHERE dataset_id = ?1 ORDER BY id", err);
	if (!q)
		return err ? err->code : ENG_EINTERNAL;
	sqlite3_bind_int64(q, 1, ds);
	size_t cap = 0, i = 0;
	int s, rc = 0;
	while ((s = sqlite3_step(q)) == SQLITE_ROW) {
		if (i++ % MODEL_CHUNK_PAIRS)
			continue;
		if (*nchunks == cap) {
			cap = cap ? 2 * cap : 16;
			int64_t *nl = realloc(*lo, cap * sizeof *nl);
			if (!nl) {
				rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
				break;
			}
			*lo = nl;
		}
		(*lo)[(*nchunks)++] = sqlite3_column_int64(q, 0);
	}
	if (!rc && s != SQLITE_DONE)
		rc = eng_ws_fail(ws, err, "read pair ids");
	sqlite3_finalize(q);
	return rc;
}

/* One score --model run: the model, the run's statements, and the presence counts of the dataset
 * being scored. */
typedef struct chunkrun {
	eng_ws *ws;
	const eng_score_opts *o;
	const eng_modelfile *mf;
	const int64_t *ids;
	int64_t *run_id;
	eng_err *err;
	int K, began;
	sqlite3_stmt *sp;
	char *opts;
	uint32_t *present, *right; /* (text_dim) presence counts over the dataset's chunks */
	uint8_t *tr;               /* (chunk rows) the text proxy right */
	json_t *all;               /* metrics of every dataset, by name */
} chunkrun;

/* The run, with the first chunk's feature detail, and its transaction and statement. */
static int begin_run(chunkrun *x, const eng_data *d)
{
	eng_ws *ws = x->ws;
	const eng_score_opts *o = x->o;
	eng_err *err = x->err;
	int rc;
	x->opts = eng_score_options_json(o, d);
	if (!x->opts)
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	if ((rc = eng_run_begin(ws, ENG_RUN_SCORE, o->train.seed, x->opts, o->command, x->run_id,
	                        err)) ||
	    (rc = eng_ws_begin(ws, err)))
		return rc;
	x->began = 1;
	x->sp = eng_ws_prepare(ws,
	                       "INSERT INTO pair_scores(run_id, pair_id, "
	                       "fold, p_text, p_mm, p_sa,"
	                       " sfc, category, chosen_chars, rejected_chars, "
	                       "image_effect, swap_flip,"
	                       " blank_flip) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
	                       "?7, ?8, ?9, ?10, ?11,"
	                       " ?12, ?13)",
	                       err);
	if (!x->sp)
		return err ? err->code : ENG_EINTERNAL;
	return 0;
}

/* Scores the pairs [lo, hi) of dataset k with the model and writes their pair_scores; counts
 * presence for the top features (*n_ds pairs so far). The chunk's data replaces *keep (the last
 * one stays for the feature names). */
static int score_chunk(chunkrun *x, size_t k, int64_t lo, int64_t hi, const eng_progress *prog,
                       eng_data *keep, size_t *n_ds)
{
	eng_ws *ws = x->ws;
	const eng_score_opts *o = x->o;
	const eng_modelfile *mf = x->mf;
	eng_err *err = x->err;
	const int K = x->K;
	eng_data d;
	int rc;
	if ((rc = eng_data_load_range(ws, &x->ids[k], 1, &o->text, o->features, lo, hi, prog, &d,
	                              err)))
		return rc;
	if ((rc = eng_modelfile_check_data(mf, &d, err)) ||
	    (!*x->run_id && (rc = begin_run(x, &d)))) {
		eng_data_free(&d);
		return rc;
	}
	uint32_t D = d.ps.text_dim;
	if (!x->present && (!(x->present = calloc(D, sizeof *x->present)) ||
	                    !(x->right = calloc(D, sizeof *x->right)))) {
		rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
		eng_data_free(&d);
		return rc;
	}
	dswork w;
	if (!(rc = eng_score_dswork_init(&w, &d, 0, K, o->train.seed, 0, mf, err)) &&
	    !(rc = eng_score_load_conflicts(ws, &d, 0, &w, err)) &&
	    !(w.has_img && (rc = eng_score_make_swaps(&w, &d, K, o->train.seed, err))) &&
	    !(rc = eng_score_model_margins(mf, &d, &w, err))) {
		fold_writer fw = {ws, x->sp, *x->run_id, &d, &w, K, o->confident};
		for (int f = 0; f < K && !rc; f++)
			rc = eng_score_write_fold(&fw, (size_t)f, err);
		free(x->tr);
		x->tr = malloc(w.n ? w.n : 1);
		if (!x->tr && !rc)
			rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
		for (size_t q = 0; !rc && q < w.n; q++)
			x->tr[w.rows[q] - w.b] = (float)eng_sigmoid(w.margin[0][q]) > 0.5f;
		if (!rc)
			eng_score_count_presence(&d, w.b, w.e, x->tr, x->present, x->right);
		*n_ds += w.n;
	}
	eng_score_dswork_free(&w);
	eng_data_free(keep);
	*keep = d; /* the last chunk stays for the feature names */
	return rc;
}

/* Dataset k's metrics, restated from what was just stored (as merge does), and its top features,
 * written to run_datasets and top_features and kept in x->all. */
static int dataset_results(chunkrun *x, size_t k, const eng_data *keep, size_t n_ds)
{
	eng_ws *ws = x->ws;
	const eng_score_opts *o = x->o;
	const eng_modelfile *mf = x->mf;
	eng_err *err = x->err;
	sqlite3_stmt *sd = NULL, *sf = NULL;
	char *mj = NULL;
	json_t *feats = NULL;
	int rc =
	    eng_score_restate(ws, *x->run_id, x->ids[k], o->confident, o->min_image_gain, &mj, err);
	if (!rc) {
		uint32_t cols[NCUES];
		int signs[NCUES], ncue = 0;
		char names[NCUES][256];
		feats = eng_score_top_features_counts(
		    ws, keep, 0, eng_model_text_weights(mf->text_mean), n_ds, x->present, x->right,
		    o->top_features, NCUES, cols, signs, names, &ncue, err);
		if (!feats)
			rc = err ? err->code : ENG_ENOMEM;
	}
	if (!rc) {
		sd = eng_ws_prepare(ws,
		                    "INSERT INTO run_datasets(run_id, dataset_id, metrics) "
		                    "VALUES (?1, ?2, ?3)",
		                    err);
		sf = eng_ws_prepare(ws,
		                    "INSERT INTO top_features(run_id, dataset_id, rank, feature,"
		                    " weight, present, acc_present) VALUES (?1, ?2, ?3, ?4, ?5,"
		                    " ?6, ?7)",
		                    err);
		if (!sd || !sf) {
			rc = err ? err->code : ENG_EINTERNAL;
		} else {
			sqlite3_bind_int64(sd, 1, *x->run_id);
			sqlite3_bind_int64(sd, 2, x->ids[k]);
			sqlite3_bind_text(sd, 3, mj, -1, SQLITE_STATIC);
			if (sqlite3_step(sd) != SQLITE_DONE)
				rc = eng_ws_fail(ws, err, "write dataset metrics");
			size_t i;
			json_t *f;
			json_array_foreach(feats, i, f)
			{
				if (rc)
					break;
				sqlite3_reset(sf);
				sqlite3_bind_int64(sf, 1, *x->run_id);
				sqlite3_bind_int64(sf, 2, x->ids[k]);
				sqlite3_bind_int(sf, 3, (int)i + 1);
				sqlite3_bind_text(sf, 4, json_string_value(json_array_get(f, 0)),
				                  -1, SQLITE_STATIC);
				sqlite3_bind_double(sf, 5, json_real_value(json_array_get(f, 1)));
				sqlite3_bind_double(sf, 6, json_real_value(json_array_get(f, 2)));
				sqlite3_bind_double(sf, 7, json_real_value(json_array_get(f, 3)));
				if (sqlite3_step(sf) != SQLITE_DONE)
					rc = eng_ws_fail(ws, err, "write top features");
			}
		}
		json_t *mjo = mj ? json_loads(mj, 0, NULL) : NULL;
		if (mjo)
			json_object_set_new(x->all, keep->ds_name[0], mjo);
		sqlite3_finalize(sd);
		sqlite3_finalize(sf);
	}
	free(mj);
	json_decref(feats);
	return rc;
}

int eng_score_model_chunked(eng_ws *ws, const int64_t *ids, size_t nds, const eng_score_opts *o,
                            const eng_progress *prog, int64_t *run_id, eng_err *err)
{
	const eng_modelfile *mf = o->model;
	double t0 = eng_now();
	chunkrun x = {.ws = ws,
	              .o = o,
	              .mf = mf,
	              .ids = ids,
	              .run_id = run_id,
	              .err = err,
	              .K = mf->folds,
	              .all = json_object()};
	int rc = 0;
	int64_t *lo = NULL;
	*run_id = 0;
	for (size_t k = 0; k < nds && !rc; k++) {
		size_t nch = 0;
		free(lo);
		if ((rc = chunk_bounds(ws, ids[k], &lo, &nch, err)))
			break;
		if (nch == 0) {
			rc = eng_err_set(err, ENG_EINPUT, "dataset id %lld has no pairs to score",
			                 (long long)ids[k]);
			break;
		}
		size_t n_ds = 0;
		eng_data keep;
		memset(&keep, 0, sizeof keep);
		for (size_t c = 0; c < nch && !rc; c++)
			rc = score_chunk(&x, k, lo[c], c + 1 < nch ? lo[c + 1] : INT64_MAX,
			                 c == 0 ? prog : NULL, &keep, &n_ds);
		if (!rc)
			rc = dataset_results(&x, k, &keep, n_ds);
		eng_data_free(&keep);
		if (x.present) {
			memset(x.present, 0, sizeof *x.present * mf->text_dim);
			memset(x.right, 0, sizeof *x.right * mf->text_dim);
		}
	}
	char *ma = rc ? NULL : json_dumps(x.all, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!rc && !ma)
		rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
	if (!rc && (rc = eng_run_finish(ws, *run_id, ma, eng_now() - t0, err)) == 0)
		rc = eng_ws_commit(ws, err);
	free(ma);
	sqlite3_finalize(x.sp);
	if (rc && x.began)
		eng_ws_rollback(ws);
	if (rc && *run_id)
		eng_run_fail(ws, *run_id);
	json_decref(x.all);
	free(x.opts), free(lo), free(x.present), free(x.right), free(x.tr);
	return rc;
}
