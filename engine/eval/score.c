/* score.c - K-fold cross-fitting of the three reward models; per-pair held-out scores, dataset
 * metrics and the proxy's top features, written as one run. Definitions: metrics.h. */
#include "score.h"

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

enum { NMETHODS = 3 };

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
static int fold_by_pair(const eng_data *d, size_t k, int K)
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

static json_t *num_or_null(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

static json_t *metrics_json(const eng_dsmetrics *m, double confident)
{
	json_t *cats = json_object();
	for (int c = 0; c < ENG_CAT_COUNT; c++)
		json_object_set_new(cats, eng_category_name((eng_category)c),
		                    json_integer((json_int_t)m->categories[c]));
	json_t *o = json_object();
	json_object_set_new(o, "pairs", json_integer((json_int_t)m->pairs));
	json_object_set_new(o, "pairs_with_image", json_integer((json_int_t)m->with_image));
	json_object_set_new(o, "pairs_without_image", json_integer((json_int_t)m->without_image));
	json_object_set_new(o, "text_accuracy", num_or_null(m->text_accuracy));
	json_object_set_new(o, "mm_accuracy", num_or_null(m->mm_accuracy));
	json_object_set_new(o, "sa_accuracy", num_or_null(m->sa_accuracy));
	json_object_set_new(o, "shortcut_rate", num_or_null(m->shortcut_rate));
	json_object_set_new(o, "sfd", num_or_null(m->sfd));
	json_object_set_new(o, "mm_acc_text_right", num_or_null(m->mm_acc_text_right));
	json_object_set_new(o, "mm_acc_text_wrong", num_or_null(m->mm_acc_text_wrong));
	json_object_set_new(o, "n_text_right", json_integer((json_int_t)m->n_text_right));
	json_object_set_new(o, "n_text_wrong", json_integer((json_int_t)m->n_text_wrong));
	json_object_set_new(o, "blind",
	                    json_pack("{s:o, s:o, s:o}", "pick_longer", num_or_null(m->pick_longer),
	                              "pick_shorter", num_or_null(m->pick_shorter),
	                              "pick_more_formatted", num_or_null(m->pick_more_formatted)));
	json_object_set_new(o, "chosen_longer_rate", num_or_null(m->chosen_longer_rate));
	json_object_set_new(o, "categories", cats);
	json_object_set_new(
	    o, "thresholds",
	    json_pack("{s:f, s:f}", "shortcut", confident, "wrong", 1.0 - confident));
	return o;
}

static char *options_json(const eng_score_opts *o, const eng_data *d)
{
	size_t nds = d->nds;
	json_t *ds = json_array(), *eff = json_array(), *fb = json_array();
	for (size_t i = 0; i < nds; i++) {
		json_array_append_new(ds, json_string(d->ds_name[i]));
		json_array_append_new(eff, json_integer(ds_epochs(o, d, i)));
		json_array_append_new(fb,
		                      json_string(fold_by_pair(d, i, o->folds) ? "pair" : "group"));
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

/* Per-dataset working state. */
struct dswork;
static json_t *extra_methods_json(const struct dswork *w, const uint8_t *text_right);

typedef struct dswork {
	size_t b, e, n; /* row range and size */
	int *fold;      /* (n) fold of each row */
	size_t *rows;   /* (n) rows grouped by fold: fold f's rows at rows[fb[f]..fb[f+1]) */
	size_t *train;  /* (K, n) training rows per fold, each list length n - fold size */
	size_t *fb;     /* (K + 1) */
	float *margin[NMETHODS];     /* (n) held-out margins, indexed by position in rows[] */
	float *xm[ENG_METHOD_COUNT]; /* (n) likewise for the extra methods asked (poe, ...) */
	float *fold_w;               /* (K, text_dim) text weights of each fold's text-only proxy */
	float *full_w;     /* (text_dim) their mean: the proxy whose top features are reported */
	uint8_t *conflict; /* (n) 1: the pair's label conflicts with a duplicate (dedup.h) */
	int has_img;       /* some pair of the dataset has image features: MM-RMs are trained */
	uint8_t
	    *in_sample; /* (n) by position in rows[], score --model only: 1 = in the model's
	                   training sample (scored by its fold's model), 0 = by the mean of all */
	/* counterfactual image test (has_img), indexed by position in rows[] like margin[] */
	int32_t *swap_img;       /* (n) another image of the same test fold, -1: not tested */
	float *m_swap, *m_blank; /* (n) standard MM-RM margins with that image / a blank one */
} dswork;

static void dswork_free(dswork *w)
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
		                    json_pack("{s:o, s:[o, o], s:o}", "accuracy", num_or_null(acc),
		                              "accuracy_ci95", num_or_null(lo), num_or_null(hi),
		                              "sfd", num_or_null(sfd)));
	}
	return o;
}

static int dswork_init(dswork *w, const eng_data *d, size_t k, int K, uint64_t seed, int by_pair,
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
static int make_swaps(dswork *w, const eng_data *d, int K, uint64_t seed, eng_err *err)
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
static int load_conflicts(eng_ws *ws, const eng_data *d, size_t k, dswork *w, eng_err *err)
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

/* Writes the pair_scores rows of each fold as soon as its training job is done (trainjobs hook:
 * a worker without a job left writes them while the last folds still train). */
typedef struct fold_writer {
	eng_ws *ws;
	sqlite3_stmt *sp;
	int64_t run_id;
	const eng_data *d;
	const dswork *w;
	int K;
	double confident;
} fold_writer;

static int write_fold(void *ctx, size_t job, eng_err *err)
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

/* Top text features of the proxy (the mean of the K fold proxies' weights), as entries (name,
 * weight, present share, held-out acc present), or NULL with err set.
 * Presence first: a column is eligible only when the pair's difference vector has it (the
 * feature differs between chosen and rejected) in at least max(1% of the dataset's pairs, 20)
 * pairs (ENG_TOP_MIN_SHARE, ENG_TOP_MIN_PAIRS), so a weight learned from a handful of pairs is
 * never shown as "what the shortcut is". Among eligible columns the top |weight| are kept; the
 * hashed ones are then named exactly over the dataset's answers (eng_data_namer). */
enum { ENG_TOP_MIN_PAIRS = 20, ENG_TOP_MIN_PERCENT = 1 };
/* Selection and naming of the top features from presence counts over a dataset of n pairs:
 * present[c] rows whose difference has column c, right[c] of those the proxy got right. */
static json_t *top_features_counts(eng_ws *ws, const eng_data *d, size_t k, const float *full_w,
                                   size_t n, const uint32_t *present, const uint32_t *right,
                                   int top, int ncap, uint32_t *cols, int *signs,
                                   char (*names)[256], int *nout, eng_err *err)
{
	*nout = 0;
	uint32_t D = d->ps.text_dim;
	json_t *arr = json_array();
	eng_textfeat_namer *nm = NULL;
	if (!arr) {
		eng_err_set(err, ENG_ENOMEM, "out of memory");
		return NULL;
	}
	if (top <= 0)
		return arr;
	uint32_t *best = calloc((size_t)top, sizeof *best);
	if (!best) {
		json_decref(arr);
		eng_err_set(err, ENG_ENOMEM, "out of memory");
		return NULL;
	}
	int nb = 0;
	for (uint32_t c = 0; c < D; c++) {
		float a = fabsf(full_w[c]);
		if (a <= 0 || present[c] < ENG_TOP_MIN_PAIRS ||
		    (uint64_t)present[c] * 100 < (uint64_t)n * ENG_TOP_MIN_PERCENT)
			continue;
		if (nb == top && a <= fabsf(full_w[best[nb - 1]]))
			continue;
		int i = nb < top ? nb++ : top - 1;
		while (i > 0 && fabsf(full_w[best[i - 1]]) < a) {
			best[i] = best[i - 1];
			i--;
		}
		best[i] = c;
	}
	eng_trace("score: names");
	if (eng_data_namer(ws, d, k, best, (size_t)nb, &nm, err)) {
		json_decref(arr);
		free(best);
		return NULL;
	}
	char name[256];
	for (int i = 0; i < nb; i++) {
		uint32_t c = best[i];
		double share = (double)present[c] / (double)n;
		/* weight * hash sign = the named n-gram's own effect (> 0 favours the chosen
		 * answer) */
		int sign = 1;
		if (eng_data_column_hashed(d, c))
			eng_textfeat_namer_name(nm, c, name, sizeof name, NULL, &sign);
		else
			eng_data_column_name(d, c, name, sizeof name);
		json_array_append_new(arr, json_pack("[s, f, f, o]", name,
		                                     (double)full_w[c] * (sign ? sign : 1), share,
		                                     json_real((double)right[c] / present[c])));
		if (i < ncap) { /* the first ncap: the cues whose balance the weights report */
			cols[i] = c;
			signs[i] = sign ? sign : 1;
			snprintf(names[i], sizeof names[i], "%s", name);
			*nout = i + 1;
		}
	}
	eng_textfeat_namer_free(nm);
	free(best);
	return arr;
}

/* Counts presence over presence[D] += the columns of rows [b, e) of d; right[c] likewise for the
 * rows with text_right (indexed by row - b) set. */
static void count_presence(const eng_data *d, size_t b, size_t e, const uint8_t *text_right,
                           uint32_t *present, uint32_t *right)
{
	for (size_t r = b; r < e; r++) {
		for (size_t q = d->ps.rowptr[r]; q < d->ps.rowptr[r + 1]; q++) {
			present[d->ps.col[q]]++;
			right[d->ps.col[q]] += text_right[r - b];
		}
	}
}

static json_t *top_features(eng_ws *ws, const eng_data *d, size_t k, const dswork *w,
                            const uint8_t *text_right, int top, int ncap, uint32_t *cols,
                            int *signs, char (*names)[256], int *nout, eng_err *err)
{
	*nout = 0;
	uint32_t D = d->ps.text_dim;
	uint32_t *present = calloc(D, sizeof *present), *right = calloc(D, sizeof *right);
	if (!present || !right) {
		free(present);
		free(right);
		eng_err_set(err, ENG_ENOMEM, "out of memory");
		return NULL;
	}
	count_presence(d, w->b, w->e, text_right, present, right);
	json_t *arr = top_features_counts(ws, d, k, w->full_w, w->n, present, right, top, ncap,
	                                  cols, signs, names, nout, err);
	free(present);
	free(right);
	return arr;
}

/* The re-fits estimate how well a text proxy can predict the weighted data; that estimate needs
 * no more than some ten thousand pairs (its interval at 10,000 pairs is about +-1
 * points), so larger datasets are re-fitted on a deterministic subsample by split group. */
enum { REFIT_MAX_PAIRS = 10000 };

/* auto picks sfc only when the MM-RM uses the image AND the sfc weights, measured, lower the
 * re-fitted text proxy's accuracy by at least this much (2 points): the paper's coefficient is
 * high wherever the MM-RM is more confident than the text proxy, shortcut pairs included, so on
 * data like synth's it is nearly uniform and would hand out weights that do nothing. */
#define AUTO_SFC_MIN_GAIN 0.02

/* Per-dataset results of the counterfactual image test and of the weighting methods. */
enum { NCUES = 5 };
typedef struct dsextra {
	eng_imgrel rel;  /* counterfactual image test (has_img) */
	int informative; /* the MM-RM uses the image: rel.drop_lo > min_image_gain */
	double text_acc, lambda;
	int avail[ENG_WM_COUNT];
	eng_wstats st[ENG_WM_COUNT];
	double refit[ENG_WM_COUNT], refit_lo[ENG_WM_COUNT], refit_hi[ENG_WM_COUNT];
	uint8_t *text_right; /* (n) row order: held-out proxy right */
	int ncue;
	uint32_t cue[NCUES]; /* text columns of the top cues: the first top features */
	int cue_sign[NCUES]; /* +1/-1: the named n-gram's sign in its hashed column */
	char cue_name[NCUES][256];
	double cue_present[NCUES];
	dswork refit_w;  /* the re-fit's folds; margin[wm - 1] = re-fit margins of method wm */
	float *refit_mm; /* (n) by re-fit position: MM-RM trained on the sfc-weighted data */
	size_t refit_ntrain[100]; /* per fold: training rows of the re-fit (its subsample) */
	size_t refit_pairs;       /* pairs the re-fit cross-fits: all, or REFIT_MAX_PAIRS' worth */
	double refit_mm_acc, refit_mm_lo, refit_mm_hi; /* its plain held-out accuracy */
} dsextra;

static void dsextra_free(dsextra *x)
{
	free(x->text_right);
	free(x->refit_mm);
	dswork_free(&x->refit_w);
}

static json_t *ci_json(double lo, double hi)
{
	return json_pack("[o, o]", num_or_null(lo), num_or_null(hi));
}

/* mm_informative, its reason, min_image_gain and image_reliance into the dataset's metrics. */
static void image_reliance_json(json_t *o, const dswork *w, const dsextra *x, double gain)
{
	json_object_set_new(o, "min_image_gain", json_real(gain));
	if (!w->has_img) {
		json_object_set_new(o, "mm_informative", json_null());
		json_object_set_new(
		    o, "mm_informative_reason",
		    json_string("no images: the dataset is text-only, no multimodal "
		                "RM is trained"));
		json_object_set_new(o, "image_reliance", json_null());
		return;
	}
	const eng_imgrel *r = &x->rel;
	char why[512];
	if (r->n == 0)
		snprintf(why, sizeof why,
		         "no pair could be re-scored with another image (every test fold has fewer "
		         "than 2 distinct images), so nothing shows that the MM-RM uses the image");
	else if (x->informative)
		snprintf(why, sizeof why,
		         "swapping in another pair's image lowers the MM-RM's held-out accuracy by "
		         "%.1f points (95%% CI %.1f to %.1f, n=%zu), wholly above --min-image-gain "
		         "%.3g: the MM-RM uses the image",
		         100 * r->drop, 100 * r->drop_lo, 100 * r->drop_hi, r->n, gain);
	else if (r->drop_hi < 0)
		snprintf(
		    why, sizeof why,
		    "the MM-RM is MORE accurate with another pair's image than with the pair's "
		    "own (held-out accuracy %.1f points lower with the true images, 95%% CI %.1f "
		    "to %.1f, n=%zu): what it learned from these image features does not carry "
		    "to new images, so it does not use the image to get preferences right "
		    "(use `mmaudit embed` with your own encoder)",
		    -100 * r->drop, -100 * r->drop_hi, -100 * r->drop_lo, r->n);
	else
		snprintf(
		    why, sizeof why,
		    "swapping in another pair's image changes the MM-RM's held-out accuracy by "
		    "%.1f points (95%% CI %.1f to %.1f, n=%zu), not wholly above "
		    "--min-image-gain %.3g: the MM-RM does not use the image beyond the text "
		    "with these image features (use `mmaudit embed` with your own encoder)",
		    100 * r->drop, 100 * r->drop_lo, 100 * r->drop_hi, r->n, gain);
	json_object_set_new(o, "mm_informative", json_boolean(x->informative));
	json_object_set_new(o, "mm_informative_reason", json_string(why));
	json_t *j = json_object();
	json_object_set_new(j, "n", json_integer((json_int_t)r->n));
	json_object_set_new(j, "swap_flip_rate", num_or_null(r->swap_flip_rate));
	json_object_set_new(j, "blank_flip_rate", num_or_null(r->blank_flip_rate));
	json_object_set_new(j, "mean_image_effect", num_or_null(r->mean_image_effect));
	json_object_set_new(j, "mm_accuracy_true", num_or_null(r->acc_true));
	json_object_set_new(j, "mm_accuracy_swapped", num_or_null(r->acc_swapped));
	json_object_set_new(j, "mm_accuracy_blank", num_or_null(r->acc_blank));
	json_object_set_new(j, "swap_accuracy_drop", num_or_null(r->drop));
	json_object_set_new(j, "swap_accuracy_drop_ci95", ci_json(r->drop_lo, r->drop_hi));
	json_object_set_new(o, "image_reliance", j);
}

/* Weighted share of the pairs where cue column c is present whose chosen answer has more of it
 * (the difference, signed back to the named n-gram for hashed columns, is > 0). */
static double cue_chosen_share(const eng_data *d, const dswork *w, uint32_t c, int sign,
                               const float *wt)
{
	double sw = 0, sc = 0;
	for (size_t r = w->b; r < w->e; r++) {
		for (size_t q = d->ps.rowptr[r]; q < d->ps.rowptr[r + 1]; q++) {
			if (d->ps.col[q] != c)
				continue;
			double v = (double)d->ps.val[q] * sign;
			sw += wt[r];
			sc += v > 0 ? wt[r] : 0;
			break;
		}
	}
	return sw > 0 ? sc / sw : NAN;
}

/* Cross-fits a weighted text-only proxy per (dataset, available method other than none) on new
 * folds and fills x->refit* with its weighted held-out accuracy and a Wilson interval at n = the
 * effective sample size. */
static int refit_weighted(const eng_data *d, dswork *w, dsextra *x, size_t nds, int K,
                          const eng_score_opts *o, float *const wrow[ENG_WM_COUNT],
                          const eng_progress *prog, eng_err *err)
{
	size_t njobs = 0, j = 0;
	uint64_t seed2 = eng_mix64(o->train.seed ^ 0x52454649544E4557ULL); /* REFITNEW */
	for (size_t k = 0; k < nds; k++) {
		x[k].refit_mm_acc = x[k].refit_mm_lo = x[k].refit_mm_hi = NAN;
		x[k].refit[ENG_WM_NONE] = x[k].text_acc;
		eng_wilson95(x[k].text_acc * (double)w[k].n, (double)w[k].n,
		             &x[k].refit_lo[ENG_WM_NONE], &x[k].refit_hi[ENG_WM_NONE]);
		if (o->model) { /* a fixed model trains nothing: the re-fits are not measured */
			for (int wm = ENG_WM_DEBIAS; wm < ENG_WM_COUNT; wm++)
				x[k].refit[wm] = x[k].refit_lo[wm] = x[k].refit_hi[wm] = NAN;
			continue;
		}
		int rc =
		    dswork_init(&x[k].refit_w, d, k, K, seed2, fold_by_pair(d, k, K), NULL, err);
		if (rc)
			return rc;
		dswork *rw = &x[k].refit_w;
		x[k].refit_pairs = rw->n;
		for (int f = 0; f < K; f++)
			x[k].refit_ntrain[f] = rw->n - (rw->fb[f + 1] - rw->fb[f]);
		if (rw->n > REFIT_MAX_PAIRS) { /* the subsample, compacted in place */
			uint64_t cut = (uint64_t)((double)REFIT_MAX_PAIRS / (double)rw->n *
			                          18446744073709551615.0),
			         s3 = eng_mix64(seed2 ^ 0x5355425341ULL); /* SUBSA */
			size_t nfb[101], nq = 0;
			for (int f = 0; f < K; f++) {
				nfb[f] = nq;
				for (size_t q = rw->fb[f]; q < rw->fb[f + 1]; q++)
					if (eng_mix64(d->group[rw->rows[q]] ^ s3) < cut)
						rw->rows[nq++] = rw->rows[q];
				size_t *t = rw->train + (size_t)f * rw->n, jj = 0;
				for (size_t i = 0; i < x[k].refit_ntrain[f]; i++)
					if (eng_mix64(d->group[t[i]] ^ s3) < cut)
						t[jj++] = t[i];
				x[k].refit_ntrain[f] = jj;
			}
			nfb[K] = nq;
			memcpy(rw->fb, nfb, sizeof(size_t) * ((size_t)K + 1));
			x[k].refit_pairs = nq;
		}
		if (x[k].avail[ENG_WM_SFC] &&
		    !(x[k].refit_mm = malloc(x[k].refit_w.n * sizeof(float))))
			return eng_err_set(err, ENG_ENOMEM, "out of memory");
		for (int wm = ENG_WM_DEBIAS; wm < ENG_WM_COUNT; wm++)
			njobs += x[k].avail[wm] ? (size_t)K : 0;
		x[k].refit[ENG_WM_NONE] = x[k].text_acc;
		eng_wilson95(x[k].text_acc * (double)w[k].n, (double)w[k].n,
		             &x[k].refit_lo[ENG_WM_NONE], &x[k].refit_hi[ENG_WM_NONE]);
	}
	if (!njobs)
		return 0;
	eng_trainjob *jobs = calloc(njobs, sizeof *jobs);
	if (!jobs)
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	for (size_t k = 0; k < nds; k++) {
		dswork *rw = &x[k].refit_w;
		for (int wm = ENG_WM_DEBIAS; wm < ENG_WM_COUNT; wm++) {
			if (!x[k].avail[wm])
				continue;
			for (int f = 0; f < K; f++) {
				eng_trainjob *jb = &jobs[j++];
				jb->opts = o->train;
				jb->opts.epochs = o->train.epochs > 0
				                      ? o->train.epochs
				                      : eng_train_epochs_auto(x[k].refit_ntrain[f]);
				jb->opts.row_weight = wrow[wm];
				jb->opts.seed =
				    eng_mix64(seed2 ^ eng_mix64(k * 1000003u + (size_t)f * 101u +
				                                (size_t)wm * 7u));
				jb->methods = 1u << ENG_METHOD_TEXT;
				if (wm == ENG_WM_SFC) { /* the paper's claim: the MM-RM keeps up */
					jb->methods |= 1u << ENG_METHOD_STANDARD;
					jb->margins[ENG_METHOD_STANDARD] =
					    x[k].refit_mm + rw->fb[f];
				}
				jb->train = rw->train + (size_t)f * rw->n;
				jb->ntrain = x[k].refit_ntrain[f];
				jb->eval = rw->rows + rw->fb[f];
				jb->neval = rw->fb[f + 1] - rw->fb[f];
				jb->margins[ENG_METHOD_TEXT] = rw->margin[wm - 1] + rw->fb[f];
			}
		}
	}
	int rc = eng_trainjobs_run(&d->ps, jobs, njobs, o->threads, prog, err);
	free(jobs);
	if (rc)
		return rc;
	for (size_t k = 0; k < nds; k++) {
		const dswork *rw = &x[k].refit_w;
		for (int wm = ENG_WM_DEBIAS; wm < ENG_WM_COUNT; wm++) {
			if (!x[k].avail[wm])
				continue;
			double sw = 0, sr = 0, sw2 = 0;
			for (size_t q = 0; q < rw->fb[K]; q++) {
				double wt = wrow[wm][rw->rows[q]];
				sw += wt;
				sw2 += wt * wt;
				sr += eng_sigmoid(rw->margin[wm - 1][q]) > 0.5 ? wt : 0;
			}
			/* the interval at the effective size of the pairs the re-fit scored */
			double acc = sw > 0 ? sr / sw : NAN, ess = sw2 > 0 ? sw * sw / sw2 : 0;
			x[k].refit[wm] = acc;
			eng_wilson95(acc * ess, ess, &x[k].refit_lo[wm], &x[k].refit_hi[wm]);
		}
		if (x[k].refit_mm) {
			size_t right = 0, nq = rw->fb[K];
			for (size_t q = 0; q < nq; q++)
				right += eng_sigmoid(x[k].refit_mm[q]) > 0.5;
			x[k].refit_mm_acc = nq ? (double)right / (double)nq : NAN;
			eng_wilson95((double)right, (double)nq, &x[k].refit_mm_lo,
			             &x[k].refit_mm_hi);
		}
	}
	return 0;
}

/* The dataset's "weights" object (see ../notes: summary.json weights.<method>). */
static json_t *weights_json(const eng_data *d, const dswork *w, const dsextra *x,
                            float *const wrow[ENG_WM_COUNT])
{
	json_t *o = json_object();
	eng_wmethod au = ENG_WM_DEBIAS;
	char why[768], deb[160];
	const double sfc_gain = x->text_acc - x->refit[ENG_WM_SFC];
	snprintf(deb, sizeof deb,
	         "debias (1 - p_text) brings the re-fitted text proxy from %.1f%% to %.1f%%",
	         100 * x->text_acc, 100 * x->refit[ENG_WM_DEBIAS]);
	char deb_over[96] = "";
	if (!isnan(x->refit[ENG_WM_DEBIAS]))
		snprintf(deb_over, sizeof deb_over,
		         " (debias would put the re-fitted proxy at %.1f%%)",
		         100 * x->refit[ENG_WM_DEBIAS]);
	if (isnan(x->refit[ENG_WM_DEBIAS]) && x->refit_lo[ENG_WM_NONE] > 0.5) {
		/* score --model: nothing is re-fitted, so no method's effect is measured here */
		snprintf(
		    why, sizeof why,
		    "scored with a fixed model (--model): nothing is re-fitted, so the weights' "
		    "effect on a re-fitted text proxy is not measured here; debias (1 - p_text) "
		    "counters the text-only proxy directly (the text proxy gets %.1f%%)",
		    100 * x->text_acc);
	} else if (!(x->refit_lo[ENG_WM_NONE] > 0.5)) {
		/* no shortcut to counter: reweighting would only trade sample size for noise (and
		 * debias over-corrects: its re-fit falls below chance) */
		au = ENG_WM_NONE;
		snprintf(
		    why, sizeof why,
		    "no text shortcut to counter: the held-out text-only proxy gets %.1f%% (95%% "
		    "CI %.1f to %.1f), not above chance, so every pair keeps weight 1%s",
		    100 * x->text_acc, 100 * x->refit_lo[ENG_WM_NONE],
		    100 * x->refit_hi[ENG_WM_NONE], deb_over);
	} else if (!w->has_img)
		snprintf(
		    why, sizeof why,
		    "text-only dataset: no MM-RM, so the paper's sfc weights are not defined; %s",
		    deb);
	else if (!x->informative)
		snprintf(
		    why, sizeof why,
		    "the MM-RM does not use the image with these image features (counterfactual "
		    "image test), so sfc would only echo the text proxy; %s",
		    deb);
	else if (!(sfc_gain >= AUTO_SFC_MIN_GAIN))
		snprintf(
		    why, sizeof why,
		    "the MM-RM uses the image, but the sfc weights do not counter the shortcut "
		    "as per-pair weights: a text proxy re-fitted on sfc-weighted data still gets "
		    "%.1f%% (%.1f%% unweighted; sfc's effective sample share %.2f), less than "
		    "%.0f points lower; %s",
		    100 * x->refit[ENG_WM_SFC], 100 * x->text_acc, x->st[ENG_WM_SFC].ess_share,
		    100 * AUTO_SFC_MIN_GAIN, deb);
	else {
		au = ENG_WM_SFC;
		snprintf(why, sizeof why,
		         "the MM-RM uses the image (counterfactual image test) and the paper's sfc "
		         "weights lower the re-fitted text proxy from %.1f%% to %.1f%%",
		         100 * x->text_acc, 100 * x->refit[ENG_WM_SFC]);
	}
	json_object_set_new(o, "auto", json_string(eng_wmethod_name(au)));
	json_object_set_new(o, "refit_pairs", json_integer((json_int_t)x->refit_pairs));
	json_object_set_new(o, "auto_reason", json_string(why));
	for (int wm = 0; wm < ENG_WM_COUNT; wm++) {
		json_t *m = json_object();
		json_object_set_new(m, "available", json_boolean(x->avail[wm]));
		if (!x->avail[wm]) {
			json_object_set_new(
			    m, "reason",
			    json_string(wm == ENG_WM_SFC ? "no images: sfc needs a multimodal RM"
			                                 : "the text-only proxy makes no held-out "
			                                   "error (or no right call): nothing to "
			                                   "upweight"));
			json_object_set_new(o, eng_wmethod_name((eng_wmethod)wm), m);
			continue;
		}
		const eng_wstats *st = &x->st[wm];
		json_object_set_new(m, "informative",
		                    json_boolean(wm != ENG_WM_SFC || x->informative));
		json_object_set_new(m, "pick_longer", num_or_null(st->pick_longer));
		json_object_set_new(m, "pick_more_formatted", num_or_null(st->pick_more_formatted));
		json_object_set_new(m, "chosen_longer_rate", num_or_null(st->chosen_longer_rate));
		json_object_set_new(m, "refit_text_accuracy", num_or_null(x->refit[wm]));
		json_object_set_new(m, "refit_text_accuracy_ci95",
		                    ci_json(x->refit_lo[wm], x->refit_hi[wm]));
		if (wm == ENG_WM_SFC) {
			json_object_set_new(m, "refit_mm_accuracy", num_or_null(x->refit_mm_acc));
			json_object_set_new(m, "refit_mm_accuracy_ci95",
			                    ci_json(x->refit_mm_lo, x->refit_mm_hi));
		}
		json_object_set_new(m, "ess", num_or_null(st->ess));
		json_object_set_new(m, "ess_share", num_or_null(st->ess_share));
		json_object_set_new(m, "mean_weight_text_shortcut",
		                    num_or_null(st->mean_w_shortcut));
		json_object_set_new(m, "mean_weight_other", num_or_null(st->mean_w_other));
		json_t *cues = json_array();
		for (int i = 0; i < x->ncue; i++)
			json_array_append_new(
			    cues,
			    json_pack("{s:s, s:o, s:o}", "feature", x->cue_name[i], "present_share",
			              num_or_null(x->cue_present[i]), "chosen_share",
			              num_or_null(cue_chosen_share(d, w, x->cue[i], x->cue_sign[i],
			                                           wrow[wm]))));
		json_object_set_new(m, "cues", cues);
		json_object_set_new(o, eng_wmethod_name((eng_wmethod)wm), m);
	}
	return o;
}

/* score --model: the margins of dataset work w from the model's fold models. A pair in the
 * model's training sample gets the model of its own fold (trained without it: held out, as in
 * cross-fitting); any other pair the mean margin of the K fold models (none saw it). Likewise the
 * counterfactual margins of the standard MM-RM, and the fold proxies' text weights (top
 * features). A dataset with images scored by a model trained without any is scored text-only. */
static int model_margins(const eng_modelfile *mf, const eng_data *d, dswork *w, eng_err *err)
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

static int score_model_chunked(eng_ws *ws, const int64_t *ids, size_t nds, const eng_score_opts *o,
                               const eng_progress *prog, int64_t *run_id, eng_err *err);

int eng_score_run(eng_ws *ws, const int64_t *ids, size_t nds, const eng_score_opts *o,
                  const eng_progress *prog, int64_t *run_id, eng_err *err)
{
	eng_score_opts mo;
	const eng_modelfile *mf = o->model;
	if (mf) { /* score --model: the model decides folds, features, seed and thresholds */
		mo = *o;
		mo.folds = mf->folds;
		mo.text = mf->text;
		mo.features = mf->features;
		mo.train.seed = mf->seed;
		mo.extra_methods = 0;
		json_t *c = json_object_get(mf->config, "confident"),
		       *g = json_object_get(mf->config, "min_image_gain");
		if (json_is_number(c))
			mo.confident = json_number_value(c);
		if (json_is_number(g))
			mo.min_image_gain = json_number_value(g);
		o = &mo;
	}
	if (o->folds < 2 || o->folds > 100)
		return eng_err_set(err, ENG_EINPUT, "--folds must be in [2, 100], got %d",
		                   o->folds);
	if (!(o->confident > 0.5 && o->confident < 1))
		return eng_err_set(err, ENG_EINPUT, "the confidence threshold must be in (0.5, 1)");
	if (nds == 0)
		return eng_err_set(err, ENG_EINPUT,
		                   "the workspace has no datasets; run `mmaudit index` first");
	if (mf) /* a chunk at a time: memory bounded by the model plus one chunk */
		return score_model_chunked(ws, ids, nds, o, prog, run_id, err);
	double t0 = eng_now();
	eng_data d;
	dswork *w = NULL;
	eng_trainjob *jobs = NULL;
	json_t **dsm = NULL, **feats = NULL;
	char *opts = NULL, *metrics_all = NULL;
	int K = o->folds, rc, began = 0;
	sqlite3_stmt *sp = NULL;
	uint8_t *cat = NULL, *tr = NULL, *hasimg = NULL;
	float *pt = NULL, *pm = NULL, *ps_ = NULL;
	float *wrow[ENG_WM_COUNT] = {NULL};
	dsextra *wx = NULL;
	*run_id = 0;
	eng_trace("score: load");
	if ((rc = eng_data_load(ws, ids, nds, &o->text, o->features, prog, &d, err)))
		return rc;
	if (mf && (rc = eng_modelfile_check_data(mf, &d, err))) {
		eng_data_free(&d);
		return rc;
	}
	for (size_t k = 0; k < nds && o->note && !mf; k++) {
		if (fold_by_pair(&d, k, K)) {
			char msg[512];
			snprintf(
			    msg, sizeof msg,
			    "dataset '%s': fewer distinct images/prompts than %d folds, so its "
			    "pairs are folded by pair (recorded in the run as fold_by: pair); a "
			    "prompt shared by every pair cannot be held out",
			    d.ds_name[k], K);
			o->note(o->note_ctx, msg);
		}
	}
	opts = options_json(o, &d);
	if (!opts) {
		rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = eng_run_begin(ws, "score", o->train.seed, opts, o->command, run_id, err)))
		goto out;
	w = calloc(nds, sizeof *w);
	/* Per fold ONE job trains the three methods on the same minibatches (one seed per fold):
	 * the models are what three separate trainings with that seed would give, at the cost of
	 * one pass over the data (eng_model_train_multi). The text features reported are those of
	 * the mean of the K fold proxies (each trained on (K-1)/K of the data), not of one more
	 * training on all pairs. */
	size_t njobs = nds * (size_t)K;
	jobs = calloc(njobs, sizeof *jobs);
	dsm = calloc(nds, sizeof *dsm);
	feats = calloc(nds, sizeof *feats);
	if (!w || !jobs || !dsm || !feats) {
		rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
		goto out;
	}
	size_t j = 0;
	for (size_t k = 0; k < nds; k++) {
		if ((rc = dswork_init(&w[k], &d, k, K, o->train.seed, fold_by_pair(&d, k, K),
		                      o->model, err)) ||
		    (rc = load_conflicts(ws, &d, k, &w[k], err)) ||
		    (w[k].has_img && (rc = make_swaps(&w[k], &d, K, o->train.seed, err))))
			goto out;
		if (mf) { /* scored by the model's folds, nothing trained here */
			if ((rc = model_margins(mf, &d, &w[k], err)))
				goto out;
			continue;
		}
		for (int f = 0; f < K; f++) {
			eng_trainjob *jb = &jobs[j++];
			jb->opts = o->train;
			jb->opts.epochs = ds_epochs(o, &d, k);
			/* a text-only dataset trains no MM-RM: there is no image to learn from */
			jb->methods = w[k].has_img ? (1u << NMETHODS) - 1 : 1u << ENG_METHOD_TEXT;
			for (int m = NMETHODS; m < ENG_METHOD_COUNT && w[k].has_img; m++) {
				if (!(o->extra_methods & (1u << m)))
					continue;
				if (!w[k].xm[m] && !(w[k].xm[m] = malloc(w[k].n * sizeof(float)))) {
					rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
					goto out;
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
			jb->text_weights = w[k].fold_w + (size_t)f * d.ps.text_dim;
			if (w[k].has_img) {
				jb->swap_img = w[k].swap_img + w[k].fb[f];
				jb->margins_swap = w[k].m_swap + w[k].fb[f];
				jb->margins_blank = w[k].m_blank + w[k].fb[f];
			}
		}
	}
	eng_trace("score: train");
	/* the scores of each fold are stored as soon as it is trained, in the transaction that
	 * later marks the run done */
	if ((rc = eng_ws_begin(ws, err)))
		goto out;
	began = 1;
	if (!(sp = eng_ws_prepare(
	          ws,
	          "INSERT INTO pair_scores(run_id, pair_id, fold, p_text, p_mm, p_sa,"
	          " sfc, category, chosen_chars, rejected_chars, image_effect, swap_flip,"
	          " blank_flip) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
	          err))) {
		rc = err ? err->code : ENG_EINTERNAL;
		goto out;
	}
	fold_writer fw = {ws, sp, *run_id, &d, w, K, o->confident};
	eng_trainjobs_hook hook = {write_fold, &fw};
	if (mf) {
		for (size_t jj = 0; jj < njobs && !rc; jj++)
			rc = write_fold(&fw, jj, err);
	} else {
		rc = eng_trainjobs_run_hooked(&d.ps, jobs, njobs, o->threads, &hook, prog, err);
	}
	if (rc)
		goto out;

	eng_trace("score: metrics");
	for (size_t k = 0; k < nds; k++) { /* the reported proxy: mean of the fold proxies */
		for (uint32_t c = 0; c < d.ps.text_dim; c++) {
			double sum = 0;
			for (int f = 0; f < K; f++)
				sum += w[k].fold_w[(size_t)f * d.ps.text_dim + c];
			w[k].full_w[c] = (float)(sum / K);
		}
	}
	for (int m = 0; m < ENG_WM_COUNT; m++) {
		if (!(wrow[m] = malloc((d.ps.n ? d.ps.n : 1) * sizeof(float)))) {
			rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
			goto out;
		}
	}
	if (!(wx = calloc(nds, sizeof *wx))) {
		rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t k = 0; k < nds; k++) {
		size_t n = w[k].n;
		free(cat), free(tr), free(hasimg), free(pt), free(pm), free(ps_);
		cat = malloc(n), tr = malloc(n), hasimg = malloc(n);
		pt = malloc(n * sizeof *pt), pm = malloc(n * sizeof *pm),
		ps_ = malloc(n * sizeof *ps_);
		int8_t *lg = malloc(n), *fm = malloc(n);
		uint8_t *mask = malloc(n);
		if (!cat || !tr || !hasimg || !pt || !pm || !ps_ || !lg || !fm || !mask) {
			free(lg), free(fm), free(mask);
			rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
			goto out;
		}
		/* Metrics arrays in row order (row - b), from margins stored in fold order. A
		 * text-only dataset has no MM margins: its MM figures are null (pm, ps_ get the
		 * text figure only to keep the shared computation defined). */
		for (size_t q = 0; q < n; q++) {
			size_t i = w[k].rows[q] - w[k].b;
			pt[i] = (float)eng_sigmoid(w[k].margin[0][q]);
			pm[i] = w[k].has_img ? (float)eng_sigmoid(w[k].margin[1][q]) : pt[i];
			ps_[i] = w[k].has_img ? (float)eng_sigmoid(w[k].margin[2][q]) : pt[i];
			mask[q] = w[k].has_img && w[k].swap_img[q] >= 0;
		}
		for (size_t i = 0; i < n; i++) {
			size_t r = w[k].b + i;
			cat[i] = (uint8_t)row_category(&w[k], i, pt[i], pm[i], o->confident);
			tr[i] = pt[i] > 0.5f;
			hasimg[i] = d.ps.img_of[r] >= 0 || d.img_key[r] != 0;
			lg[i] = d.longer[r];
			fm[i] = d.formatted[r];
		}
		eng_dsmetrics m;
		eng_metrics_compute(n, pt, pm, ps_, cat, lg, fm, hasimg, &m);
		if (!w[k].has_img)
			m.mm_accuracy = m.sa_accuracy = m.sfd = m.mm_acc_text_right =
			    m.mm_acc_text_wrong = NAN;
		dsm[k] = metrics_json(&m, o->confident);
		json_object_set_new(dsm[k], "has_images", json_boolean(w[k].has_img));
		json_t *xmj = extra_methods_json(&w[k], tr);
		if (xmj)
			json_object_set_new(dsm[k], "methods", xmj);
		if (w[k].has_img)
			eng_imgrel_compute(n, w[k].margin[1], w[k].m_swap, w[k].m_blank, mask,
			                   &wx[k].rel);
		wx[k].informative =
		    w[k].has_img && wx[k].rel.n > 0 && wx[k].rel.drop_lo > o->min_image_gain;
		image_reliance_json(dsm[k], &w[k], &wx[k], o->min_image_gain);
		free(mask);
		/* weights of every method, scaled to mean 1 over the dataset */
		wx[k].text_acc = m.text_accuracy;
		wx[k].lambda = eng_jtt_lambda(m.n_text_right, m.n_text_wrong);
		for (int wm = 0; wm < ENG_WM_COUNT; wm++) {
			float *x = wrow[wm] + w[k].b;
			for (size_t q = 0; q < n; q++) {
				size_t i = w[k].rows[q] - w[k].b;
				double sfc = w[k].has_img
				                 ? eng_sfc(w[k].margin[0][q], w[k].margin[1][q])
				                 : NAN;
				x[i] = (float)eng_weight_raw((eng_wmethod)wm, pt[i], sfc,
				                             wx[k].lambda);
			}
			eng_weights_normalize(x, n);
			uint8_t *sc = (uint8_t *)lg; /* reuse: is_shortcut per row */
			for (size_t i = 0; i < n; i++)
				sc[i] = cat[i] == ENG_CAT_TEXT_SHORTCUT;
			int8_t *lg2 = d.longer + w[k].b, *fm2 = d.formatted + w[k].b;
			eng_wstats_compute(n, x, lg2, fm2, sc, &wx[k].st[wm]);
		}
		wx[k].avail[ENG_WM_NONE] = wx[k].avail[ENG_WM_DEBIAS] = 1;
		wx[k].avail[ENG_WM_JTT] = m.n_text_wrong > 0 && m.n_text_right > 0;
		wx[k].avail[ENG_WM_SFC] = w[k].has_img;
		free(lg), free(fm);
		if (!(feats[k] =
		          top_features(ws, &d, k, &w[k], tr, o->top_features, NCUES, wx[k].cue,
		                       wx[k].cue_sign, wx[k].cue_name, &wx[k].ncue, err))) {
			rc = err ? err->code : ENG_ENOMEM;
			goto out;
		}
		for (int i = 0; i < wx[k].ncue; i++)
			wx[k].cue_present[i] =
			    json_real_value(json_array_get(json_array_get(feats[k], (size_t)i), 2));
		wx[k].text_right = tr; /* kept for the weighted cue shares */
		tr = NULL;
	}
	/* The re-fit: for each weighting method, a text-only proxy cross-fitted again on the
	 * weighted data (new folds, new seeds), scored with the weights. If the weights remove the
	 * shortcut, this proxy cannot predict the chosen answer. */
	eng_trace("score: re-fit");
	if ((rc = refit_weighted(&d, w, wx, nds, K, o, wrow, prog, err)))
		goto out;
	json_t *all = json_object();
	for (size_t k = 0; k < nds; k++) {
		json_object_set_new(dsm[k], "weights", weights_json(&d, &w[k], &wx[k], wrow));
		json_object_set_new(all, d.ds_name[k], json_incref(dsm[k]));
	}
	eng_trace("score: write");
	metrics_all = json_dumps(all, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(all);
	rc = write_results(ws, *run_id, &d, metrics_all ? metrics_all : "{}", eng_now() - t0, dsm,
	                   feats, err);
out:
	sqlite3_finalize(sp);
	if (rc && began)
		eng_ws_rollback(ws);
	if (rc && *run_id)
		eng_run_fail(ws, *run_id);
	for (size_t k = 0; w && k < nds; k++)
		dswork_free(&w[k]);
	for (size_t k = 0; wx && k < nds; k++)
		dsextra_free(&wx[k]);
	free(wx);
	for (int m = 0; m < ENG_WM_COUNT; m++)
		free(wrow[m]);
	for (size_t k = 0; dsm && k < nds; k++)
		json_decref(dsm[k]);
	for (size_t k = 0; feats && k < nds; k++)
		json_decref(feats[k]);
	free(dsm);
	free(feats);
	free(w);
	free(jobs);
	free(opts);
	free(metrics_all);
	free(cat), free(tr), free(hasimg), free(pt), free(pm), free(ps_);
	eng_data_free(&d);
	return rc;
}

/* ---- metrics restated from stored scores (merge) ----------------------------------------------
 */

static int8_t sgn3(long long a, long long b)
{
	return (int8_t)((a > b) - (a < b));
}

int eng_score_restate(eng_ws *ws, int64_t run_id, int64_t dataset_id, double confident,
                      double min_gain, char **metrics_out, eng_err *err)
{
	*metrics_out = NULL;
	sqlite3_stmt *q = eng_ws_prepare(
	    ws,
	    "SELECT s.p_text, s.p_mm, s.p_sa, s.sfc, s.category, s.chosen_chars, s.rejected_chars,"
	    " s.image_effect, s.swap_flip, s.blank_flip, p.image_id IS NOT NULL, p.chosen,"
	    " p.rejected FROM pair_scores s CROSS JOIN pairs p ON p.id = s.pair_id"
	    " WHERE s.run_id = ?1 AND p.dataset_id = ?2 ORDER BY s.pair_id",
	    err);
	if (!q)
		return err ? err->code : ENG_EINTERNAL;
	sqlite3_bind_int64(q, 1, run_id);
	sqlite3_bind_int64(q, 2, dataset_id);
	size_t n = 0, cap = 0;
	float *pt = NULL, *pm = NULL, *ps_ = NULL;
	double *sfc = NULL, *eff = NULL;
	uint8_t *cat = NULL, *hasimg = NULL, *fl = NULL, *mask = NULL;
	int8_t *lg = NULL, *fm = NULL;
	int rc = 0, s, any_mm = 0;
	while ((s = sqlite3_step(q)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? 2 * cap : 4096;
			float *a = realloc(pt, cap * sizeof *a), *b = realloc(pm, cap * sizeof *b),
			      *c = realloc(ps_, cap * sizeof *c);
			pt = a ? a : pt, pm = b ? b : pm, ps_ = c ? c : ps_;
			double *d1 = realloc(sfc, cap * sizeof *d1),
			       *d2 = realloc(eff, cap * sizeof *d2);
			sfc = d1 ? d1 : sfc, eff = d2 ? d2 : eff;
			uint8_t *u1 = realloc(cat, cap), *u2 = realloc(hasimg, cap),
			        *u3 = realloc(fl, 3 * cap), *u4 = realloc(mask, cap);
			cat = u1 ? u1 : cat, hasimg = u2 ? u2 : hasimg, fl = u3 ? u3 : fl;
			mask = u4 ? u4 : mask;
			int8_t *i1 = realloc(lg, cap), *i2 = realloc(fm, cap);
			lg = i1 ? i1 : lg, fm = i2 ? i2 : fm;
			if (!a || !b || !c || !d1 || !d2 || !u1 || !u2 || !u3 || !u4 || !i1 ||
			    !i2) {
				rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
				break;
			}
		}
		pt[n] = (float)sqlite3_column_double(q, 0);
		int has_mm = sqlite3_column_type(q, 1) != SQLITE_NULL;
		any_mm |= has_mm;
		pm[n] = has_mm ? (float)sqlite3_column_double(q, 1) : pt[n];
		ps_[n] = has_mm ? (float)sqlite3_column_double(q, 2) : pt[n];
		sfc[n] = has_mm ? sqlite3_column_double(q, 3) : NAN;
		const char *cn = (const char *)sqlite3_column_text(q, 4);
		cat[n] = ENG_CAT_AMBIGUOUS;
		for (int k = 0; cn && k < ENG_CAT_COUNT; k++)
			if (!strcmp(cn, eng_category_name((eng_category)k)))
				cat[n] = (uint8_t)k;
		lg[n] = sgn3(sqlite3_column_int64(q, 5), sqlite3_column_int64(q, 6));
		mask[n] = sqlite3_column_type(q, 8) != SQLITE_NULL;
		eff[n] = mask[n] ? sqlite3_column_double(q, 7) : 0;
		int right = pm[n] > 0.5f;
		fl[3 * n] = (uint8_t)right;
		fl[3 * n + 1] = (uint8_t)(right ^ (mask[n] && sqlite3_column_int(q, 8)));
		fl[3 * n + 2] = (uint8_t)(right ^ (mask[n] && sqlite3_column_int(q, 9)));
		hasimg[n] = (uint8_t)sqlite3_column_int(q, 10);
		const char *ch = (const char *)sqlite3_column_text(q, 11),
		           *rj = (const char *)sqlite3_column_text(q, 12);
		fm[n] = sgn3(eng_format_markers(ch ? ch : ""), eng_format_markers(rj ? rj : ""));
		n++;
	}
	if (!rc && s != SQLITE_DONE)
		rc = eng_ws_fail(ws, err, "read stored scores");
	sqlite3_finalize(q);
	json_t *o = NULL;
	float *wt = NULL;
	uint8_t *r = NULL, *rs = NULL, *rb = NULL, *sc = NULL;
	if (!rc && n == 0)
		rc =
		    eng_err_set(err, ENG_EINPUT, "dataset id %lld has no stored scores in run %lld",
		                (long long)dataset_id, (long long)run_id);
	if (!rc) {
		eng_dsmetrics m;
		eng_metrics_compute(n, pt, pm, ps_, cat, lg, fm, hasimg, &m);
		if (!any_mm)
			m.mm_accuracy = m.sa_accuracy = m.sfd = m.mm_acc_text_right =
			    m.mm_acc_text_wrong = NAN;
		o = metrics_json(&m, confident);
		json_object_set_new(o, "has_images", json_boolean(any_mm));
		dswork w = {.n = n, .has_img = any_mm};
		dsextra x = {.text_acc = m.text_accuracy};
		r = malloc(n), rs = malloc(n), rb = malloc(n), sc = malloc(n);
		wt = malloc(n * sizeof *wt);
		if (!r || !rs || !rb || !sc || !wt) {
			rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
		} else {
			for (size_t i = 0; i < n; i++) {
				r[i] = fl[3 * i], rs[i] = fl[3 * i + 1], rb[i] = fl[3 * i + 2];
				sc[i] = cat[i] == ENG_CAT_TEXT_SHORTCUT;
			}
			if (any_mm)
				eng_imgrel_from_flags(n, r, rs, rb, eff, mask, &x.rel);
			x.informative = any_mm && x.rel.n > 0 && x.rel.drop_lo > min_gain;
			image_reliance_json(o, &w, &x, min_gain);
			x.lambda = eng_jtt_lambda(m.n_text_right, m.n_text_wrong);
			for (int wm = 0; wm < ENG_WM_COUNT; wm++) {
				for (size_t i = 0; i < n; i++)
					wt[i] = (float)eng_weight_raw((eng_wmethod)wm, pt[i],
					                              sfc[i], x.lambda);
				eng_weights_normalize(wt, n);
				eng_wstats_compute(n, wt, lg, fm, sc, &x.st[wm]);
				x.refit[wm] = x.refit_lo[wm] = x.refit_hi[wm] = NAN;
			}
			x.avail[ENG_WM_NONE] = x.avail[ENG_WM_DEBIAS] = 1;
			x.avail[ENG_WM_JTT] = m.n_text_wrong > 0 && m.n_text_right > 0;
			x.avail[ENG_WM_SFC] = any_mm;
			x.refit[ENG_WM_NONE] = m.text_accuracy;
			eng_wilson95(m.text_accuracy * (double)n, (double)n,
			             &x.refit_lo[ENG_WM_NONE], &x.refit_hi[ENG_WM_NONE]);
			x.refit_mm_acc = x.refit_mm_lo = x.refit_mm_hi = NAN;
			float *none[ENG_WM_COUNT] = {NULL};
			json_object_set_new(o, "weights", weights_json(NULL, &w, &x, none));
		}
	}
	if (!rc) {
		*metrics_out = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (!*metrics_out)
			rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
	}
	json_decref(o);
	free(pt), free(pm), free(ps_), free(sfc), free(eff), free(cat), free(hasimg), free(fl);
	free(mask), free(lg), free(fm), free(wt), free(r), free(rs), free(rb), free(sc);
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

static int score_model_chunked(eng_ws *ws, const int64_t *ids, size_t nds, const eng_score_opts *o,
                               const eng_progress *prog, int64_t *run_id, eng_err *err)
{
	const eng_modelfile *mf = o->model;
	const int K = mf->folds;
	double t0 = eng_now();
	int rc = 0, began = 0;
	sqlite3_stmt *sp = NULL, *sd = NULL, *sf = NULL;
	char *opts = NULL;
	int64_t *lo = NULL;
	uint32_t *present = NULL, *right = NULL;
	uint8_t *tr = NULL;
	json_t *all = json_object();
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
		for (size_t c = 0; c < nch && !rc; c++) {
			eng_data d;
			int64_t hi = c + 1 < nch ? lo[c + 1] : INT64_MAX;
			if ((rc = eng_data_load_range(ws, &ids[k], 1, &o->text, o->features, lo[c],
			                              hi, c == 0 ? prog : NULL, &d, err)))
				break;
			if ((rc = eng_modelfile_check_data(mf, &d, err))) {
				eng_data_free(&d);
				break;
			}
			if (!*run_id) { /* the run, with the first chunk's feature detail */
				opts = options_json(o, &d);
				if (!opts) {
					rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
					eng_data_free(&d);
					break;
				}
				if ((rc = eng_run_begin(ws, "score", o->train.seed, opts,
				                        o->command, run_id, err)) ||
				    (rc = eng_ws_begin(ws, err))) {
					eng_data_free(&d);
					break;
				}
				began = 1;
				sp = eng_ws_prepare(ws,
				                    "INSERT INTO pair_scores(run_id, pair_id, "
				                    "fold, p_text, p_mm, p_sa,"
				                    " sfc, category, chosen_chars, rejected_chars, "
				                    "image_effect, swap_flip,"
				                    " blank_flip) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
				                    "?7, ?8, ?9, ?10, ?11,"
				                    " ?12, ?13)",
				                    err);
				if (!sp) {
					rc = err ? err->code : ENG_EINTERNAL;
					eng_data_free(&d);
					break;
				}
			}
			uint32_t D = d.ps.text_dim;
			if (!present && (!(present = calloc(D, sizeof *present)) ||
			                 !(right = calloc(D, sizeof *right)))) {
				rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
				eng_data_free(&d);
				break;
			}
			dswork w;
			if (!(rc = dswork_init(&w, &d, 0, K, o->train.seed, 0, mf, err)) &&
			    !(rc = load_conflicts(ws, &d, 0, &w, err)) &&
			    !(w.has_img && (rc = make_swaps(&w, &d, K, o->train.seed, err))) &&
			    !(rc = model_margins(mf, &d, &w, err))) {
				fold_writer fw = {ws, sp, *run_id, &d, &w, K, o->confident};
				for (int f = 0; f < K && !rc; f++)
					rc = write_fold(&fw, (size_t)f, err);
				free(tr);
				tr = malloc(w.n ? w.n : 1);
				if (!tr && !rc)
					rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
				for (size_t q = 0; !rc && q < w.n; q++)
					tr[w.rows[q] - w.b] =
					    (float)eng_sigmoid(w.margin[0][q]) > 0.5f;
				if (!rc)
					count_presence(&d, w.b, w.e, tr, present, right);
				n_ds += w.n;
			}
			dswork_free(&w);
			eng_data_free(&keep);
			keep = d; /* the last chunk stays for the feature names */
		}
		/* the dataset's metrics, restated from what was just stored (as merge does) */
		char *mj = NULL;
		json_t *feats = NULL;
		if (!rc)
			rc = eng_score_restate(ws, *run_id, ids[k], o->confident, o->min_image_gain,
			                       &mj, err);
		if (!rc) {
			uint32_t cols[NCUES];
			int signs[NCUES], ncue = 0;
			char names[NCUES][256];
			feats = top_features_counts(
			    ws, &keep, 0, eng_model_text_weights(mf->text_mean), n_ds, present,
			    right, o->top_features, NCUES, cols, signs, names, &ncue, err);
			if (!feats)
				rc = err ? err->code : ENG_ENOMEM;
		}
		if (!rc) {
			sd = eng_ws_prepare(ws,
			                    "INSERT INTO run_datasets(run_id, dataset_id, metrics) "
			                    "VALUES (?1, ?2, ?3)",
			                    err);
			sf = eng_ws_prepare(
			    ws,
			    "INSERT INTO top_features(run_id, dataset_id, rank, feature,"
			    " weight, present, acc_present) VALUES (?1, ?2, ?3, ?4, ?5,"
			    " ?6, ?7)",
			    err);
			if (!sd || !sf) {
				rc = err ? err->code : ENG_EINTERNAL;
			} else {
				sqlite3_bind_int64(sd, 1, *run_id);
				sqlite3_bind_int64(sd, 2, ids[k]);
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
					sqlite3_bind_int64(sf, 1, *run_id);
					sqlite3_bind_int64(sf, 2, ids[k]);
					sqlite3_bind_int(sf, 3, (int)i + 1);
					sqlite3_bind_text(sf, 4,
					                  json_string_value(json_array_get(f, 0)),
					                  -1, SQLITE_STATIC);
					sqlite3_bind_double(sf, 5,
					                    json_real_value(json_array_get(f, 1)));
					sqlite3_bind_double(sf, 6,
					                    json_real_value(json_array_get(f, 2)));
					sqlite3_bind_double(sf, 7,
					                    json_real_value(json_array_get(f, 3)));
					if (sqlite3_step(sf) != SQLITE_DONE)
						rc = eng_ws_fail(ws, err, "write top features");
				}
			}
			json_t *mjo = mj ? json_loads(mj, 0, NULL) : NULL;
			if (mjo)
				json_object_set_new(all, keep.ds_name[0], mjo);
			sqlite3_finalize(sd);
			sqlite3_finalize(sf);
			sd = sf = NULL;
		}
		free(mj);
		json_decref(feats);
		eng_data_free(&keep);
		if (present) {
			memset(present, 0, sizeof *present * mf->text_dim);
			memset(right, 0, sizeof *right * mf->text_dim);
		}
	}
	char *ma = rc ? NULL : json_dumps(all, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!rc && !ma)
		rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
	if (!rc && (rc = eng_run_finish(ws, *run_id, ma, eng_now() - t0, err)) == 0)
		rc = eng_ws_commit(ws, err);
	free(ma);
	sqlite3_finalize(sp);
	if (rc && began)
		eng_ws_rollback(ws);
	if (rc && *run_id)
		eng_run_fail(ws, *run_id);
	json_decref(all);
	free(opts), free(lo), free(present), free(right), free(tr);
	return rc;
}
