/* score.c - K-fold cross-fitting of the three reward models; per-pair held-out scores, dataset
 * metrics and the proxy's top features, written as one run (score.h says when). The per-dataset
 * work (folds, swaps, conflicts) and the writing of scores live here; the top features are in
 * scorefeat.c, image reliance and the weights in scoreweights.c, score --model in scoremodel.c,
 * restated metrics in scorerestate.c. Definitions: metrics.h. */
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

void eng_score_opts_default(eng_score_opts *o)
{
	memset(o, 0, sizeof *o);
	o->folds = 5;
	o->confident = 0.8;
	o->top_features = 50;
	o->min_image_gain = 0.01;
	eng_train_opts_default(&o->train);
	o->train.epochs = 0; /* auto */
	eng_textfeat_opts_default(&o->text);
}

/* Epochs of dataset k's trainings: the user's count, or the schedule for a fold's training size
 * (all folds and the proxy of a dataset use one count). */
static int ds_epochs(const eng_score_opts *o, const eng_data *d, size_t k)
{
	size_t n = d->ds_begin[k + 1] - d->ds_begin[k];
	return o->train.epochs > 0 ? o->train.epochs
	                           : eng_train_epochs_auto(n - n / (size_t)o->folds);
}

/* 1 when dataset k has fewer distinct split groups (images, or prompts for text-only pairs) than
 * K folds: it is then folded by pair (a single-prompt text-only set, say). */
int eng_score_fold_by_pair(const eng_data *d, size_t k, int K)
{
	uint64_t seen[100];
	int ns = 0;
	for (size_t r = d->ds_begin[k]; r < d->ds_begin[k + 1] && ns < K; r++) {
		int i = 0;
		while (i < ns && seen[i] != d->group[r])
			i++;
		if (i == ns)
			seen[ns++] = d->group[r];
	}
	return ns < K;
}

json_t *eng_score_num_or_null(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

json_t *eng_score_metrics_json(const eng_dsmetrics *m, double confident)
{
	json_t *cats = json_object();
	for (int c = 0; c < ENG_CAT_COUNT; c++)
		json_object_set_new(cats, eng_category_name((eng_category)c),
		                    json_integer((json_int_t)m->categories[c]));
	json_t *o = json_object();
	json_object_set_new(o, "pairs", json_integer((json_int_t)m->pairs));
	json_object_set_new(o, "pairs_with_image", json_integer((json_int_t)m->with_image));
	json_object_set_new(o, "pairs_without_image", json_integer((json_int_t)m->without_image));
	json_object_set_new(o, "text_accuracy", eng_score_num_or_null(m->text_accuracy));
	json_object_set_new(o, "mm_accuracy", eng_score_num_or_null(m->mm_accuracy));
	json_object_set_new(o, "sa_accuracy", eng_score_num_or_null(m->sa_accuracy));
	json_object_set_new(o, "shortcut_rate", eng_score_num_or_null(m->shortcut_rate));
	json_object_set_new(o, "sfd", eng_score_num_or_null(m->sfd));
	json_object_set_new(o, "mm_acc_text_right", eng_score_num_or_null(m->mm_acc_text_right));
	json_object_set_new(o, "mm_acc_text_wrong", eng_score_num_or_null(m->mm_acc_text_wrong));
	json_object_set_new(o, "n_text_right", json_integer((json_int_t)m->n_text_right));
	json_object_set_new(o, "n_text_wrong", json_integer((json_int_t)m->n_text_wrong));
	json_object_set_new(o, "blind",
	                    json_pack("{s:o, s:o, s:o}", "pick_longer",
	                              eng_score_num_or_null(m->pick_longer), "pick_shorter",
	                              eng_score_num_or_null(m->pick_shorter), "pick_more_formatted",
	                              eng_score_num_or_null(m->pick_more_formatted)));
	json_object_set_new(o, "chosen_longer_rate", eng_score_num_or_null(m->chosen_longer_rate));
	json_object_set_new(o, "categories", cats);
	json_object_set_new(
	    o, "thresholds",
	    json_pack("{s:f, s:f}", "shortcut", confident, "wrong", 1.0 - confident));
	return o;
}

char *eng_score_options_json(const eng_score_opts *o, const eng_data *d)
{
	size_t nds = d->nds;
	json_t *ds = json_array(), *eff = json_array(), *fb = json_array();
	for (size_t i = 0; i < nds; i++) {
		json_array_append_new(ds, json_string(d->ds_name[i]));
		json_array_append_new(eff, json_integer(ds_epochs(o, d, i)));
		json_array_append_new(
		    fb, json_string(eng_score_fold_by_pair(d, i, o->folds) ? "pair" : "group"));
	}
	json_t *j = json_object();
	json_object_set_new(j, "datasets", ds);
	json_object_set_new(j, "folds", json_integer(o->folds));
	json_object_set_new(j, "confident", json_real(o->confident));
	json_object_set_new(
	    j, "epochs", o->train.epochs > 0 ? json_integer(o->train.epochs) : json_string("auto"));
	json_object_set_new(j, "epochs_effective", eff); /* per dataset */
	json_object_set_new(j, "fold_by", fb);           /* per dataset: group or pair */
	json_object_set_new(j, "top_features_from", json_string("mean of the fold proxies"));
	json_object_set_new(j, "batch", json_integer(o->train.batch));
	json_object_set_new(j, "lr", json_real(o->train.lr));
	json_object_set_new(j, "l2", json_real(o->train.l2));
	json_object_set_new(j, "fold_buckets", json_integer(o->train.fold_buckets));
	json_object_set_new(j, "seed", json_integer((json_int_t)o->train.seed));
	json_object_set_new(j, "hash_bits", json_integer(o->text.hash_bits));
	json_object_set_new(j, "bigrams", json_integer(o->text.bigrams));
	json_object_set_new(j, "crosses", json_integer(o->text.crosses));
	json_object_set_new(j, "threads", json_integer(o->threads));
	json_object_set_new(j, "features", eng_data_features_json(d));
	if (o->model) /* the model's identity: merge refuses shards scored with different ones */
		json_object_set_new(j, "model_sha256", json_string(o->model->sha256));
	char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	return s;
}

void eng_score_dswork_free(dswork *w)
{
	free(w->fold);
	free(w->rows);
	free(w->train);
	free(w->fb);
	for (int m = 0; m < NMETHODS; m++)
		free(w->margin[m]);
	for (int m = 0; m < ENG_METHOD_COUNT; m++)
		free(w->xm[m]);
	free(w->fold_w);
	free(w->full_w);
	free(w->conflict);
	free(w->swap_img);
	free(w->m_swap);
	free(w->m_blank);
	free(w->in_sample);
}

/* Held-out figures of the extra methods trained (score --methods): accuracy with its Wilson
 * interval and SFD, as for the standard MM-RM. NULL when none was asked. text_right is in row
 * order. */
static json_t *extra_methods_json(const dswork *w, const uint8_t *text_right)
{
	json_t *o = NULL;
	for (int m = NMETHODS; m < ENG_METHOD_COUNT; m++) {
		if (!w->xm[m])
			continue;
		size_t ok = 0, tr = 0, trr = 0, tw = 0, twr = 0;
		for (size_t q = 0; q < w->n; q++) {
			int r = eng_sigmoid(w->xm[m][q]) > 0.5;
			ok += (size_t)r;
			if (text_right[w->rows[q] - w->b])
				tr++, trr += (size_t)r;
			else
				tw++, twr += (size_t)r;
		}
		double lo, hi, acc = (double)ok / (double)w->n;
		eng_wilson95((double)ok, (double)w->n, &lo, &hi);
		double sfd = tr && tw ? (double)trr / (double)tr - (double)twr / (double)tw : NAN;
		if (!o)
			o = json_object();
		json_object_set_new(o, eng_method_name((eng_method)m),
		                    json_pack("{s:o, s:[o, o], s:o}", "accuracy",
		                              eng_score_num_or_null(acc), "accuracy_ci95",
		                              eng_score_num_or_null(lo), eng_score_num_or_null(hi),
		                              "sfd", eng_score_num_or_null(sfd)));
	}
	return o;
}

int eng_score_dswork_init(dswork *w, const eng_data *d, size_t k, int K, uint64_t seed, int by_pair,
                          const eng_modelfile *mf, eng_err *err)
{
	memset(w, 0, sizeof *w);
	w->b = d->ds_begin[k];
	w->e = d->ds_begin[k + 1];
	w->n = w->e - w->b;
	size_t n = w->n;
	if (n < (mf ? 1u : 2u))
		return eng_err_set(
		    err, ENG_EINPUT,
		    "dataset '%s' has %zu pair(s); scoring needs at least 2 (index more "
		    "data)",
		    d->ds_name[k], n);
	if ((size_t)K > SIZE_MAX / (n * sizeof(size_t)))
		return eng_err_set(err, ENG_ENOMEM, "dataset too large");
	w->fold = malloc(n * sizeof *w->fold);
	w->rows = malloc(n * sizeof *w->rows);
	w->train = malloc((size_t)K * n * sizeof *w->train);
	w->fb = calloc((size_t)K + 1, sizeof *w->fb);
	w->fold_w = malloc((size_t)K * d->ps.text_dim * sizeof *w->fold_w);
	w->full_w = malloc(d->ps.text_dim * sizeof *w->full_w);
	w->conflict = calloc(n, 1);
	for (int m = 0; m < NMETHODS; m++)
		w->margin[m] = malloc(n * sizeof(float));
	if (!w->fold || !w->rows || !w->train || !w->fb || !w->fold_w || !w->full_w ||
	    !w->conflict || !w->margin[0] || !w->margin[1] || !w->margin[2])
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	size_t *count = w->fb + 1;
	for (size_t i = 0; i < n; i++) {
		uint64_t g = by_pair ? (uint64_t)d->pair_id[w->b + i] * 0x9E3779B97F4A7C15ULL
		                     : d->group[w->b + i];
		if (mf) /* the model's folds: computed from the pair alone, as at training */
			w->fold[i] = eng_modelfile_fold(mf, eng_modelfile_key(mf, d, w->b + i));
		else
			w->fold[i] = (int)(eng_mix64(g ^ eng_mix64(seed)) % (uint64_t)K);
		count[w->fold[i]]++;
	}
	for (int f = 0; f < K; f++) {
		if (count[f] == n && !mf)
			return eng_err_set(
			    err, ENG_EINPUT,
			    "dataset '%s': all %zu pairs share one image or prompt group, "
			    "so nothing can be held out; index more varied data",
			    d->ds_name[k], n);
		w->fb[f + 1] += w->fb[f];
	}
	size_t *pos = calloc((size_t)K, sizeof *pos);
	if (!pos)
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		int f = w->fold[i];
		w->rows[w->fb[f] + pos[f]++] = w->b + i;
	}
	free(pos);
	for (int f = 0; f < K; f++) {
		size_t *t = w->train + (size_t)f * n, j = 0;
		for (size_t i = 0; i < n; i++)
			if (w->fold[i] != f)
				t[j++] = w->b + i;
	}
	for (size_t i = 0; i < n && !w->has_img; i++)
		w->has_img = d->ps.img_of[w->b + i] >= 0;
	return 0;
}

/* The counterfactual image test's swaps (has_img): within each test fold, the distinct images of
 * the fold's pairs are put in a seeded random cycle and every pair is re-scored with the next
 * image of the cycle, a deterministic derangement: no pair keeps its image and every image of the
 * fold is used as often as it had pairs. A fold with fewer than 2 distinct images is not tested
 * (swap_img -1). */
int eng_score_make_swaps(dswork *w, const eng_data *d, int K, uint64_t seed, eng_err *err)
{
	size_t n = w->n;
	w->swap_img = malloc(n * sizeof *w->swap_img);
	w->m_swap = malloc(n * sizeof(float));
	w->m_blank = malloc(n * sizeof(float));
	int32_t *uniq = malloc(n * sizeof *uniq), *next = NULL;
	uint8_t *seen = calloc(d->ps.n_img ? d->ps.n_img : 1, 1);
	if (d->ps.n_img)
		next = malloc(d->ps.n_img * sizeof *next);
	if (!w->swap_img || !w->m_swap || !w->m_blank || !uniq || !seen || (d->ps.n_img && !next)) {
		free(uniq), free(seen), free(next);
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	}
	for (int f = 0; f < K; f++) {
		size_t nu = 0;
		for (size_t q = w->fb[f]; q < w->fb[f + 1]; q++) {
			int32_t im = d->ps.img_of[w->rows[q]];
			if (im >= 0 && !seen[im]) {
				seen[im] = 1;
				uniq[nu++] = im;
			}
		}
		eng_rng rng;
		eng_rng_seed(&rng,
		             eng_mix64(seed ^ 0x494D4753574150ULL ^ (uint64_t)f)); /* IMGSWAP */
		for (size_t i = nu; i > 1; i--) { /* Fisher-Yates */
			size_t j = (size_t)eng_rng_below(&rng, i);
			int32_t t = uniq[i - 1];
			uniq[i - 1] = uniq[j];
			uniq[j] = t;
		}
		for (size_t i = 0; i < nu; i++) {
			next[uniq[i]] = uniq[(i + 1) % nu];
			seen[uniq[i]] = 0;
		}
		for (size_t q = w->fb[f]; q < w->fb[f + 1]; q++) {
			int32_t im = d->ps.img_of[w->rows[q]];
			w->swap_img[q] = im >= 0 && nu >= 2 ? next[im] : -1;
		}
	}
	free(uniq), free(seen), free(next);
	return 0;
}

/* Flags rows whose pair has a conflicting duplicate (ENG_DEDUP_CONFLICT_SQL). Rows of a dataset are
 * in pair id order, so each id is found by binary search. */
int eng_score_load_conflicts(eng_ws *ws, const eng_data *d, size_t k, dswork *w, eng_err *err)
{
	sqlite3_stmt *st = eng_ws_prepare(ws, ENG_DEDUP_CONFLICT_SQL, err);
	if (!st)
		return err ? err->code : ENG_EINTERNAL;
	sqlite3_bind_int64(st, 1, d->ds_id[k]);
	int s;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		size_t lo = w->b, hi = w->e;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (d->pair_id[mid] < id)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < w->e && d->pair_id[lo] == id)
			w->conflict[lo - w->b] = 1;
	}
	sqlite3_finalize(st);
	return s == SQLITE_DONE ? 0 : eng_ws_fail(ws, err, "read label conflicts");
}

/* The category of row i of dataset work x from its held-out probabilities (float, as the metrics
 * hold them). A pair whose label conflicts with a duplicate's is suspect whatever the models say.
 */
static eng_category row_category(const dswork *x, size_t i, float pt, float pm, double confident)
{
	if (x->conflict[i])
		return ENG_CAT_SUSPECT_LABEL;
	if (!x->has_img) /* text-only dataset: the text-only proxy is the only model */
		return pt >= confident         ? ENG_CAT_TEXT_SHORTCUT
		       : pt <= 1.0 - confident ? ENG_CAT_SUSPECT_LABEL
		                               : ENG_CAT_AMBIGUOUS;
	return eng_category_of(pt, pm, confident);
}

int eng_score_write_fold(void *ctx, size_t job, eng_err *err)
{
	const fold_writer *fw = ctx;
	const dswork *x = &fw->w[job / (size_t)fw->K];
	int f = (int)(job % (size_t)fw->K);
	sqlite3_stmt *sp = fw->sp;
	for (size_t q = x->fb[f]; q < x->fb[f + 1]; q++) {
		size_t row = x->rows[q];
		float mt = x->margin[0][q];
		sqlite3_bind_int64(sp, 1, fw->run_id);
		sqlite3_bind_int64(sp, 2, fw->d->pair_id[row]);
		sqlite3_bind_int(sp, 3, f);
		sqlite3_bind_double(sp, 4, eng_sigmoid(mt));
		float pm = NAN;
		if (x->has_img) {
			float mm = x->margin[1][q], ms = x->margin[2][q];
			pm = (float)eng_sigmoid(mm);
			sqlite3_bind_double(sp, 5, eng_sigmoid(mm));
			sqlite3_bind_double(sp, 6, eng_sigmoid(ms));
			sqlite3_bind_double(sp, 7, eng_sfc(mt, mm));
		} else {
			for (int c = 5; c <= 7; c++)
				sqlite3_bind_null(sp, c);
		}
		sqlite3_bind_text(sp, 8,
		                  eng_category_name(row_category(
		                      x, row - x->b, (float)eng_sigmoid(mt), pm, fw->confident)),
		                  -1, SQLITE_STATIC);
		sqlite3_bind_int64(sp, 9, fw->d->chosen_chars[row]);
		sqlite3_bind_int64(sp, 10, fw->d->rejected_chars[row]);
		if (x->has_img && x->swap_img[q] >= 0) {
			float mm = x->margin[1][q], mw = x->m_swap[q];
			sqlite3_bind_double(sp, 11, fabs((double)mm - (double)mw));
			sqlite3_bind_int(sp, 12,
			                 (eng_sigmoid(mm) > 0.5) != (eng_sigmoid(mw) > 0.5));
			sqlite3_bind_int(
			    sp, 13, (eng_sigmoid(mm) > 0.5) != (eng_sigmoid(x->m_blank[q]) > 0.5));
		} else {
			sqlite3_bind_null(sp, 11);
			sqlite3_bind_null(sp, 12);
			sqlite3_bind_null(sp, 13);
		}
		int st = sqlite3_step(sp);
		sqlite3_reset(sp);
		if (st != SQLITE_DONE)
			return eng_ws_fail(fw->ws, err, "write pair scores");
	}
	return 0;
}

static int write_results(eng_ws *ws, int64_t run_id, const eng_data *d, const char *metrics_all,
                         double seconds, json_t **dsm, json_t **feats, eng_err *err)
{
	sqlite3_stmt *sd = NULL, *sf = NULL;
	int rc = 0;
	sd = eng_ws_prepare(
	    ws, "INSERT INTO run_datasets(run_id, dataset_id, metrics) VALUES (?1, ?2, ?3)", err);
	sf = eng_ws_prepare(
	    ws,
	    "INSERT INTO top_features(run_id, dataset_id, rank, feature, weight, present, "
	    "acc_present) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	    err);
	if (!sd || !sf) {
		rc = err ? err->code : ENG_EINTERNAL;
		goto out;
	}
	for (size_t k = 0; k < d->nds; k++) {
		char *mj = json_dumps(dsm[k], JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (!mj) {
			rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
			goto out;
		}
		sqlite3_bind_int64(sd, 1, run_id);
		sqlite3_bind_int64(sd, 2, d->ds_id[k]);
		sqlite3_bind_text(sd, 3, mj, -1, free);
		if (sqlite3_step(sd) != SQLITE_DONE) {
			rc = eng_ws_fail(ws, err, "write dataset metrics");
			goto out;
		}
		sqlite3_reset(sd);
		size_t i;
		json_t *f;
		json_array_foreach(feats[k], i, f)
		{
			sqlite3_bind_int64(sf, 1, run_id);
			sqlite3_bind_int64(sf, 2, d->ds_id[k]);
			sqlite3_bind_int(sf, 3, (int)i + 1);
			sqlite3_bind_text(sf, 4, json_string_value(json_array_get(f, 0)), -1,
			                  SQLITE_STATIC);
			sqlite3_bind_double(sf, 5, json_real_value(json_array_get(f, 1)));
			sqlite3_bind_double(sf, 6, json_real_value(json_array_get(f, 2)));
			json_t *acc = json_array_get(f, 3);
			if (json_is_real(acc))
				sqlite3_bind_double(sf, 7, json_real_value(acc));
			else
				sqlite3_bind_null(sf, 7);
			if (sqlite3_step(sf) != SQLITE_DONE) {
				rc = eng_ws_fail(ws, err, "write top features");
				goto out;
			}
			sqlite3_reset(sf);
		}
	}
	if ((rc = eng_run_finish(ws, run_id, metrics_all, seconds, err)))
		goto out;
	eng_trace("score: commit");
	rc = eng_ws_commit(ws, err);
	eng_trace("score: done");
out:
	sqlite3_finalize(sd);
	sqlite3_finalize(sf);
	return rc;
}

/* score --model: the model decides folds, features, seed and thresholds (into *mo). */
static const eng_score_opts *model_options(const eng_score_opts *o, eng_score_opts *mo)
{
	const eng_modelfile *mf = o->model;
	if (!mf)
		return o;
	*mo = *o;
	mo->folds = mf->folds;
	mo->text = mf->text;
	mo->features = mf->features;
	mo->train.seed = mf->seed;
	mo->extra_methods = 0;
	json_t *c = json_object_get(mf->config, "confident"),
	       *g = json_object_get(mf->config, "min_image_gain");
	if (json_is_number(c))
		mo->confident = json_number_value(c);
	if (json_is_number(g))
		mo->min_image_gain = json_number_value(g);
	return mo;
}

/* One eng_score_run: the data, the per-dataset work and results, and the scratch of the dataset
 * whose metrics are being computed. */
typedef struct scorerun {
	eng_ws *ws;
	const eng_score_opts *o;
	const eng_modelfile *mf;
	eng_err *err;
	size_t nds;
	int K;
	eng_data d;
	dswork *w;          /* (nds) */
	eng_trainjob *jobs; /* (nds * K) one per fold */
	size_t njobs;
	json_t **dsm, **feats; /* (nds) metrics and top features of each dataset */
	char *opts, *metrics_all;
	sqlite3_stmt *sp;
	int began;
	int64_t data_version;       /* the workspace's, read before the load */
	int unchecked;              /* the write transaction runs without foreign-key look-ups */
	uint8_t *cat, *tr, *hasimg; /* (n) of the dataset at hand, row order */
	float *pt, *pm, *ps_;
	float *wrow[ENG_WM_COUNT]; /* (total rows) each weighting method's weights */
	dsextra *wx;               /* (nds) */
} scorerun;

/* Tells o->note about datasets folded by pair (fewer distinct groups than folds). */
static void note_folded(const scorerun *sr)
{
	const eng_score_opts *o = sr->o;
	const eng_data *d = &sr->d;
	int K = sr->K;
	for (size_t k = 0; k < sr->nds && o->note && !sr->mf; k++) {
		if (eng_score_fold_by_pair(d, k, K)) {
			char msg[512];
			snprintf(
			    msg, sizeof msg,
			    "dataset '%s': fewer distinct images/prompts than %d folds, so its "
			    "pairs are folded by pair (recorded in the run as fold_by: pair); a "
			    "prompt shared by every pair cannot be held out",
			    d->ds_name[k], K);
			o->note(o->note_ctx, msg);
		}
	}
}

/* Dataset k's work (folds, conflicts, swaps) and its K training jobs from jobs[*j] on (*j
 * advances); with a model file its margins instead. */
static int plan_dataset(scorerun *sr, size_t k, size_t *j)
{
	eng_ws *ws = sr->ws;
	const eng_score_opts *o = sr->o;
	const eng_modelfile *mf = sr->mf;
	eng_err *err = sr->err;
	const eng_data *d = &sr->d;
	dswork *w = sr->w;
	int K = sr->K, rc;
	if ((rc = eng_score_dswork_init(&w[k], d, k, K, o->train.seed,
	                                eng_score_fold_by_pair(d, k, K), o->model, err)) ||
	    (rc = eng_score_load_conflicts(ws, d, k, &w[k], err)) ||
	    (w[k].has_img && (rc = eng_score_make_swaps(&w[k], d, K, o->train.seed, err))))
		return rc;
	if (mf) { /* scored by the model's folds, nothing trained here */
		if ((rc = eng_score_model_margins(mf, d, &w[k], err)))
			return rc;
		return 0;
	}
	for (int f = 0; f < K; f++) {
		eng_trainjob *jb = &sr->jobs[(*j)++];
		jb->opts = o->train;
		jb->opts.epochs = ds_epochs(o, d, k);
		/* a text-only dataset trains no MM-RM: there is no image to learn from */
		jb->methods = w[k].has_img ? (1u << NMETHODS) - 1 : 1u << ENG_METHOD_TEXT;
		for (int m = NMETHODS; m < ENG_METHOD_COUNT && w[k].has_img; m++) {
			if (!(o->extra_methods & (1u << m)))
				continue;
			if (!w[k].xm[m] && !(w[k].xm[m] = malloc(w[k].n * sizeof(float)))) {
				rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
				return rc;
			}
			jb->methods |= 1u << m;
			jb->margins[m] = w[k].xm[m] + w[k].fb[f];
		}
		jb->opts.seed =
		    eng_mix64(o->train.seed ^ eng_mix64(k * 1000003u + (size_t)f * 101u));
		jb->train = w[k].train + (size_t)f * w[k].n;
		jb->ntrain = w[k].n - (w[k].fb[f + 1] - w[k].fb[f]);
		jb->eval = w[k].rows + w[k].fb[f];
		jb->neval = w[k].fb[f + 1] - w[k].fb[f];
		for (int m = 0; m < NMETHODS; m++)
			jb->margins[m] = w[k].margin[m] + w[k].fb[f];
		jb->text_weights = w[k].fold_w + (size_t)f * d->ps.text_dim;
		if (w[k].has_img) {
			jb->swap_img = w[k].swap_img + w[k].fb[f];
			jb->margins_swap = w[k].m_swap + w[k].fb[f];
			jb->margins_blank = w[k].m_blank + w[k].fb[f];
		}
	}
	return 0;
}

/* Trains the folds (or, with a model file, takes its margins) and writes each fold's pair_scores
 * as soon as it is trained, in the transaction that later marks the run done. */
static int train_and_write(scorerun *sr, int64_t run_id, const eng_progress *prog)
{
	eng_ws *ws = sr->ws;
	eng_err *err = sr->err;
	int rc;
	eng_trace("score: train");
	/* the scores of each fold are stored as soon as it is trained, in the transaction that
	 * later marks the run done. Every row it writes refers to this run and to pairs and
	 * datasets the load read: when nobody else has committed since the load began, they exist
	 * and stay so while this transaction holds the write lock, so their foreign keys are not
	 * looked up again row by row (a third of the cost of storing the scores) */
	if ((rc = eng_ws_begin_unchecked(ws, sr->data_version, &sr->unchecked, err)))
		return rc;
	sr->began = 1;
	if (!(sr->sp = eng_ws_prepare(
	          ws,
	          "INSERT INTO pair_scores(run_id, pair_id, fold, p_text, p_mm, p_sa,"
	          " sfc, category, chosen_chars, rejected_chars, image_effect, swap_flip,"
	          " blank_flip) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
	          err)))
		return err ? err->code : ENG_EINTERNAL;
	fold_writer fw = {ws, sr->sp, run_id, &sr->d, sr->w, sr->K, sr->o->confident};
	eng_trainjobs_hook hook = {eng_score_write_fold, &fw};
	if (sr->mf) {
		for (size_t jj = 0; jj < sr->njobs && !rc; jj++)
			rc = eng_score_write_fold(&fw, jj, err);
	} else {
		rc = eng_trainjobs_run_hooked(&sr->d.ps, sr->jobs, sr->njobs, sr->o->threads, &hook,
		                              prog, err);
	}
	return rc;
}

/* Dataset k's metrics (dsm[k]), image reliance, weights of every method and top features, from
 * its held-out margins. */
static int dataset_metrics(scorerun *sr, size_t k)
{
	eng_ws *ws = sr->ws;
	const eng_score_opts *o = sr->o;
	eng_err *err = sr->err;
	eng_data *d = &sr->d;
	dswork *w = sr->w;
	dsextra *wx = sr->wx;
	json_t **dsm = sr->dsm, **feats = sr->feats;
	float **wrow = sr->wrow;
	int rc;
	size_t n = w[k].n;
	free(sr->cat), free(sr->tr), free(sr->hasimg), free(sr->pt), free(sr->pm), free(sr->ps_);
	sr->cat = malloc(n), sr->tr = malloc(n), sr->hasimg = malloc(n);
	sr->pt = malloc(n * sizeof *sr->pt), sr->pm = malloc(n * sizeof *sr->pm),
	sr->ps_ = malloc(n * sizeof *sr->ps_);
	int8_t *lg = malloc(n), *fm = malloc(n);
	uint8_t *mask = malloc(n);
	if (!sr->cat || !sr->tr || !sr->hasimg || !sr->pt || !sr->pm || !sr->ps_ || !lg || !fm ||
	    !mask) {
		free(lg), free(fm), free(mask);
		rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
		return rc;
	}
	/* Metrics arrays in row order (row - b), from margins stored in fold order. A
	 * text-only dataset has no MM margins: its MM figures are null (pm, ps_ get the
	 * text figure only to keep the shared computation defined). */
	for (size_t q = 0; q < n; q++) {
		size_t i = w[k].rows[q] - w[k].b;
		sr->pt[i] = (float)eng_sigmoid(w[k].margin[0][q]);
		sr->pm[i] = w[k].has_img ? (float)eng_sigmoid(w[k].margin[1][q]) : sr->pt[i];
		sr->ps_[i] = w[k].has_img ? (float)eng_sigmoid(w[k].margin[2][q]) : sr->pt[i];
		mask[q] = w[k].has_img && w[k].swap_img[q] >= 0;
	}
	for (size_t i = 0; i < n; i++) {
		size_t r = w[k].b + i;
		sr->cat[i] = (uint8_t)row_category(&w[k], i, sr->pt[i], sr->pm[i], o->confident);
		sr->tr[i] = sr->pt[i] > 0.5f;
		sr->hasimg[i] = d->ps.img_of[r] >= 0 || d->img_key[r] != 0;
		lg[i] = d->longer[r];
		fm[i] = d->formatted[r];
	}
	eng_dsmetrics m;
	eng_metrics_compute(n, sr->pt, sr->pm, sr->ps_, sr->cat, lg, fm, sr->hasimg, &m);
	if (!w[k].has_img)
		m.mm_accuracy = m.sa_accuracy = m.sfd = m.mm_acc_text_right = m.mm_acc_text_wrong =
		    NAN;
	dsm[k] = eng_score_metrics_json(&m, o->confident);
	json_object_set_new(dsm[k], "has_images", json_boolean(w[k].has_img));
	json_t *xmj = extra_methods_json(&w[k], sr->tr);
	if (xmj)
		json_object_set_new(dsm[k], "methods", xmj);
	if (w[k].has_img)
		eng_imgrel_compute(n, w[k].margin[1], w[k].m_swap, w[k].m_blank, mask, &wx[k].rel);
	wx[k].informative =
	    w[k].has_img && wx[k].rel.n > 0 && wx[k].rel.drop_lo > o->min_image_gain;
	eng_score_image_reliance_json(dsm[k], &w[k], &wx[k], o->min_image_gain);
	free(mask);
	/* weights of every method, scaled to mean 1 over the dataset */
	wx[k].text_acc = m.text_accuracy;
	wx[k].lambda = eng_jtt_lambda(m.n_text_right, m.n_text_wrong);
	for (int wm = 0; wm < ENG_WM_COUNT; wm++) {
		float *x = wrow[wm] + w[k].b;
		for (size_t q = 0; q < n; q++) {
			size_t i = w[k].rows[q] - w[k].b;
			double sfc =
			    w[k].has_img ? eng_sfc(w[k].margin[0][q], w[k].margin[1][q]) : NAN;
			x[i] = (float)eng_weight_raw((eng_wmethod)wm, sr->pt[i], sfc, wx[k].lambda);
		}
		eng_weights_normalize(x, n);
		uint8_t *sc = (uint8_t *)lg; /* reuse: is_shortcut per row */
		for (size_t i = 0; i < n; i++)
			sc[i] = sr->cat[i] == ENG_CAT_TEXT_SHORTCUT;
		int8_t *lg2 = d->longer + w[k].b, *fm2 = d->formatted + w[k].b;
		eng_wstats_compute(n, x, lg2, fm2, sc, &wx[k].st[wm]);
	}
	wx[k].avail[ENG_WM_NONE] = wx[k].avail[ENG_WM_DEBIAS] = 1;
	wx[k].avail[ENG_WM_JTT] = m.n_text_wrong > 0 && m.n_text_right > 0;
	wx[k].avail[ENG_WM_SFC] = w[k].has_img;
	free(lg), free(fm);
	if (!(feats[k] =
	          eng_score_top_features(ws, d, k, &w[k], sr->tr, o->top_features, NCUES, wx[k].cue,
	                                 wx[k].cue_sign, wx[k].cue_name, &wx[k].ncue, err))) {
		rc = err ? err->code : ENG_ENOMEM;
		return rc;
	}
	for (int i = 0; i < wx[k].ncue; i++)
		wx[k].cue_present[i] =
		    json_real_value(json_array_get(json_array_get(feats[k], (size_t)i), 2));
	wx[k].text_right = sr->tr; /* kept for the weighted cue shares */
	sr->tr = NULL;
	return 0;
}

/* The re-fit of the weighted proxies, the "weights" of every dataset, and the run's results with
 * its 'done' mark, committed. */
static int finish_run(scorerun *sr, int64_t run_id, double t0, const eng_progress *prog)
{
	eng_ws *ws = sr->ws;
	eng_err *err = sr->err;
	eng_data *d = &sr->d;
	int rc;
	/* The re-fit: for each weighting method, a text-only proxy cross-fitted again on the
	 * weighted data (new folds, new seeds), scored with the weights. If the weights remove the
	 * shortcut, this proxy cannot predict the chosen answer. */
	eng_trace("score: re-fit");
	if ((rc = eng_score_refit_weighted(d, sr->w, sr->wx, sr->nds, sr->K, sr->o, sr->wrow, prog,
	                                   err)))
		return rc;
	json_t *all = json_object();
	for (size_t k = 0; k < sr->nds; k++) {
		json_object_set_new(sr->dsm[k], "weights",
		                    eng_score_weights_json(d, &sr->w[k], &sr->wx[k], sr->wrow));
		json_object_set_new(all, d->ds_name[k], json_incref(sr->dsm[k]));
	}
	eng_trace("score: write");
	sr->metrics_all = json_dumps(all, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(all);
	return write_results(ws, run_id, d, sr->metrics_all ? sr->metrics_all : "{}",
	                     eng_now() - t0, sr->dsm, sr->feats, err);
}

static void scorerun_free(scorerun *sr)
{
	size_t nds = sr->nds;
	for (size_t k = 0; sr->w && k < nds; k++)
		eng_score_dswork_free(&sr->w[k]);
	for (size_t k = 0; sr->wx && k < nds; k++)
		eng_score_dsextra_free(&sr->wx[k]);
	free(sr->wx);
	for (int m = 0; m < ENG_WM_COUNT; m++)
		free(sr->wrow[m]);
	for (size_t k = 0; sr->dsm && k < nds; k++)
		json_decref(sr->dsm[k]);
	for (size_t k = 0; sr->feats && k < nds; k++)
		json_decref(sr->feats[k]);
	free(sr->dsm);
	free(sr->feats);
	free(sr->w);
	free(sr->jobs);
	free(sr->opts);
	free(sr->metrics_all);
	free(sr->cat), free(sr->tr), free(sr->hasimg), free(sr->pt), free(sr->pm), free(sr->ps_);
	eng_data_free(&sr->d);
}

int eng_score_run(eng_ws *ws, const int64_t *ids, size_t nds, const eng_score_opts *o,
                  const eng_progress *prog, int64_t *run_id, eng_err *err)
{
	eng_score_opts mo;
	const eng_modelfile *mf = o->model;
	o = model_options(o, &mo);
	if (o->folds < 2 || o->folds > 100)
		return eng_err_set(err, ENG_EINPUT, "--folds must be in [2, 100], got %d",
		                   o->folds);
	if (!(o->confident > 0.5 && o->confident < 1))
		return eng_err_set(err, ENG_EINPUT, "the confidence threshold must be in (0.5, 1)");
	if (nds == 0)
		return eng_err_set(err, ENG_EINPUT,
		                   "the workspace has no datasets; run `mmaudit index` first");
	if (mf) /* a chunk at a time: memory bounded by the model plus one chunk */
		return eng_score_model_chunked(ws, ids, nds, o, prog, run_id, err);
	double t0 = eng_now();
	scorerun sr = {.ws = ws, .o = o, .mf = mf, .err = err, .nds = nds, .K = o->folds};
	int K = sr.K, rc;
	*run_id = 0;
	eng_trace("score: load");
	if ((rc = eng_ws_data_version(ws, &sr.data_version, err)))
		return rc;
	if ((rc = eng_data_load_scoring(ws, ids, nds, &o->text, o->features, prog, &sr.d, err)))
		return rc;
	if (mf && (rc = eng_modelfile_check_data(mf, &sr.d, err))) {
		eng_data_free(&sr.d);
		return rc;
	}
	note_folded(&sr);
	sr.opts = eng_score_options_json(o, &sr.d);
	if (!sr.opts) {
		rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc =
	         eng_run_begin(ws, ENG_RUN_SCORE, o->train.seed, sr.opts, o->command, run_id, err)))
		goto out;
	sr.w = calloc(nds, sizeof *sr.w);
	/* Per fold ONE job trains the three methods on the same minibatches (one seed per fold):
	 * the models are what three separate trainings with that seed would give, at the cost of
	 * one pass over the data (eng_model_train_multi). The text features reported are those of
	 * the mean of the K fold proxies (each trained on (K-1)/K of the data), not of one more
	 * training on all pairs. */
	sr.njobs = nds * (size_t)K;
	sr.jobs = calloc(sr.njobs, sizeof *sr.jobs);
	sr.dsm = calloc(nds, sizeof *sr.dsm);
	sr.feats = calloc(nds, sizeof *sr.feats);
	if (!sr.w || !sr.jobs || !sr.dsm || !sr.feats) {
		rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
		goto out;
	}
	size_t j = 0;
	for (size_t k = 0; k < nds; k++)
		if ((rc = plan_dataset(&sr, k, &j)))
			goto out;
	if ((rc = train_and_write(&sr, *run_id, prog)))
		goto out;

	eng_trace("score: metrics");
	const uint32_t D = sr.d.ps.text_dim;
	for (size_t k = 0; k < nds; k++) { /* the reported proxy: mean of the fold proxies */
		for (uint32_t c = 0; c < D; c++) {
			double sum = 0;
			for (int f = 0; f < K; f++)
				sum += sr.w[k].fold_w[(size_t)f * D + c];
			sr.w[k].full_w[c] = (float)(sum / K);
		}
	}
	for (int m = 0; m < ENG_WM_COUNT; m++) {
		if (!(sr.wrow[m] = malloc((sr.d.ps.n ? sr.d.ps.n : 1) * sizeof(float)))) {
			rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
			goto out;
		}
	}
	if (!(sr.wx = calloc(nds, sizeof *sr.wx))) {
		rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t k = 0; k < nds; k++)
		if ((rc = dataset_metrics(&sr, k)))
			goto out;
	rc = finish_run(&sr, *run_id, t0, prog);
out:
	sqlite3_finalize(sr.sp);
	if (rc && sr.began)
		eng_ws_rollback(ws);
	if (sr.unchecked)
		eng_ws_checks_on(ws);
	if (rc && *run_id)
		eng_run_fail(ws, *run_id);
	scorerun_free(&sr);
	return rc;
}
