/* crossdist.c - train on each environment's train split, test on every test split, in named steps:
 * leakage between datasets, the split, training (eng_trainjobs_run), the cells, the bootstrap, the
 * ranking, the recommendation and the leave-one-environment-out selection. Does not load or
 * featurize pairs (dataload.c) nor train models itself (trainjobs.c). */
#include "crossdist.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dataload.h"
#include "model_internal.h"
#include "runs.h"
#include "trainjobs.h"
#include "workspace_sql.h"

void eng_crossdist_opts_default(eng_crossdist_opts *o)
{
	memset(o, 0, sizeof *o);
	o->test_fraction = 0.2;
	o->methods =
	    (1 << ENG_METHOD_TEXT) | (1 << ENG_METHOD_STANDARD) | (1 << ENG_METHOD_SHORTCUT_AWARE);
	o->bootstrap = 200;
	eng_train_opts_default(&o->train);
	o->train.epochs = 0; /* auto */
	eng_textfeat_opts_default(&o->text);
}

/* key -> bit mask of datasets containing it (open addressing; key 0 unused). */
typedef struct keyset {
	uint64_t *key, *mask;
	size_t cap;
} keyset;

static int keyset_init(keyset *s, size_t n)
{
	s->cap = 1024;
	while (s->cap < 2 * n + 2)
		s->cap *= 2;
	s->key = calloc(s->cap, sizeof *s->key);
	s->mask = calloc(s->cap, sizeof *s->mask);
	return s->key && s->mask ? 0 : -1;
}

static uint64_t *keyset_slot(const keyset *s, uint64_t k)
{
	size_t i = (size_t)eng_mix64(k) & (s->cap - 1);
	while (s->key[i] && s->key[i] != k)
		i = (i + 1) & (s->cap - 1);
	s->key[i] = k;
	return &s->mask[i];
}

static void keyset_free(keyset *s)
{
	free(s->key);
	free(s->mask);
}

static json_t *num(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

/* A dataset with fewer distinct groups (images, or prompts for text-only pairs) than this is split
 * by pair instead: a handful of generic prompts cannot make a held-out split. */
enum { MIN_SPLIT_GROUPS = 10 };

static size_t distinct_groups(const uint64_t *g, size_t n, size_t stop)
{
	keyset s;
	if (keyset_init(&s, n))
		return stop; /* out of memory: keep the group split */
	size_t c = 0;
	for (size_t i = 0; i < n && c < stop; i++) {
		uint64_t *m = keyset_slot(&s, g[i] | 1);
		c += *m == 0;
		*m = 1;
	}
	keyset_free(&s);
	return c;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The 2.5% and 97.5% percentiles of v[0..n) (sorted in place); NAN when n = 0. */
static void percentile95(double *v, size_t n, double *lo, double *hi)
{
	if (!n) {
		*lo = *hi = NAN;
		return;
	}
	qsort(v, n, sizeof *v, cmp_double);
	size_t a = (size_t)floor(0.025 * (double)(n - 1)),
	       b = (size_t)ceil(0.975 * (double)(n - 1));
	*lo = v[a];
	*hi = v[b];
}

static json_t *ci(double lo, double hi)
{
	return json_pack("[o, o]", num(lo), num(hi));
}

/* Figures of one accuracy tensor acc[m][a][b] (methods x train x test). */
static double iid_of(const double *acc, size_t nds)
{
	double s = 0;
	for (size_t a = 0; a < nds; a++)
		s += acc[a * nds + a];
	return s / (double)nds;
}

static double ood_of(const double *acc, size_t nds)
{
	if (nds < 2)
		return NAN;
	double s = 0;
	for (size_t a = 0; a < nds; a++)
		for (size_t b = 0; b < nds; b++)
			if (a != b)
				s += acc[a * nds + b];
	return s / (double)(nds * (nds - 1));
}

/* Leave-one-environment-out selection over the MM methods in mask: for each environment e, the
 * method with the best o.o.d. mean over the cells that involve neither e (train a != e, test
 * b != e, a != b) is chosen, and scored on e as the mean of its cells trained elsewhere and tested
 * on e. Returns the mean over e (NAN with fewer than 3 environments); chosen[e] gets the method. */
static double loeo_select(const double *acc, size_t nds, unsigned mask, int *chosen)
{
	if (nds < 3)
		return NAN;
	double tot = 0;
	for (size_t e = 0; e < nds; e++) {
		int best = -1;
		double bv = -1;
		for (int m = ENG_METHOD_STANDARD; m < ENG_METHOD_COUNT; m++) {
			if (!(mask & (1u << m)))
				continue;
			const double *x = acc + (size_t)m * nds * nds;
			double sm = 0;
			size_t c = 0;
			for (size_t a = 0; a < nds; a++)
				for (size_t b = 0; b < nds; b++)
					if (a != b && a != e && b != e)
						sm += x[a * nds + b], c++;
			double v = c ? sm / (double)c : NAN;
			if (best < 0 || v > bv)
				best = m, bv = v;
		}
		if (chosen)
			chosen[e] = best;
		const double *x = acc + (size_t)best * nds * nds;
		double se = 0;
		for (size_t a = 0; a < nds; a++)
			if (a != e)
				se += x[a * nds + e];
		tot += se / (double)(nds - 1);
	}
	return tot / (double)nds;
}

/* One crossdist run's state: the data, the split, the margins and accuracies, the bootstrap
 * draws and the metrics JSON being built. */
typedef struct cdrun {
	eng_ws *ws;
	const eng_crossdist_opts *o;
	eng_err *err;
	size_t nds, n;
	unsigned mask; /* methods: text always (SFD needs the proxy), others if asked */
	eng_data d;
	uint8_t *is_test, *excluded, *by_pair;
	size_t *train, *test; /* row indexes of the train and test splits, dataset after dataset */
	size_t *trb, *teb;    /* (nds + 1) where each dataset's train / test rows begin */
	size_t ntr, nte, nexcl_img, nexcl_ans;
	eng_trainjob *jobs;
	float *marg;        /* (M, nds, nte) margins: method m trained on a, test row q */
	uint8_t *right;     /* (M, nds, nte) margin > 0 */
	double *acc, *bacc; /* (M, nds, nds) accuracy: method, train, test; bacc one resample's */
	double *bs_iid, *bs_ood, *bs_sel; /* (M, B), (M, B), (B) bootstrap draws */
	size_t B;
	int *chosen; /* (nds) the leave-one-environment-out choice */
	keyset ki, kp, ka;
	json_t *root;
	char *opts, *mj;
	sqlite3_stmt *sc;
	int64_t run_id;
} cdrun;

enum { M = ENG_METHOD_COUNT };

/* What leaks between datasets: a shared image (pairs with an image), or a shared answer pair
 * (text-only pairs: the same two answers, either order). A prompt shared over different images
 * is not leakage; shared prompts are only counted. Returns the "overlap" array. */
static json_t *count_overlap(cdrun *x)
{
	const eng_data *d = &x->d;
	size_t nds = x->nds;
	for (size_t k = 0; k < nds; k++) {
		for (size_t r = d->ds_begin[k]; r < d->ds_begin[k + 1]; r++) {
			if (d->img_key[r])
				*keyset_slot(&x->ki, d->img_key[r]) |= 1ULL << k;
			else
				*keyset_slot(&x->ka, d->answer_key[r]) |= 1ULL << k;
			*keyset_slot(&x->kp, d->prompt_key[r] | 1) |= 1ULL << k;
		}
	}
	json_t *overlap = json_array();
	for (size_t a = 0; a < nds; a++) {
		for (size_t b = a + 1; b < nds; b++) {
			uint64_t both = (1ULL << a) | (1ULL << b);
			size_t si = 0, sp = 0, sa = 0;
			for (size_t i = 0; i < x->ki.cap; i++)
				si += x->ki.key[i] && (x->ki.mask[i] & both) == both;
			for (size_t i = 0; i < x->kp.cap; i++)
				sp += x->kp.key[i] && (x->kp.mask[i] & both) == both;
			for (size_t i = 0; i < x->ka.cap; i++)
				sa += x->ka.key[i] && (x->ka.mask[i] & both) == both;
			if (si || sp || sa)
				json_array_append_new(
				    overlap,
				    json_pack("{s:s, s:s, s:I, s:I, s:I}", "a", d->ds_name[a], "b",
				              d->ds_name[b], "shared_images", (json_int_t)si,
				              "shared_answer_pairs", (json_int_t)sa,
				              "shared_prompts", (json_int_t)sp));
		}
	}
	return overlap;
}

/* Splits by group (by pair when a dataset has too few groups); test rows whose image or
 * (text-only) answer pair also occurs in another dataset are dropped. */
static int split_rows(cdrun *x)
{
	const eng_data *d = &x->d;
	const eng_crossdist_opts *o = x->o;
	size_t nds = x->nds;
	uint64_t cut = (uint64_t)(o->test_fraction * 18446744073709551615.0);
	size_t ntr = 0, nte = 0;
	for (size_t k = 0; k < nds; k++) {
		x->trb[k] = ntr;
		x->teb[k] = nte;
		size_t b0 = d->ds_begin[k], e0 = d->ds_begin[k + 1];
		x->by_pair[k] =
		    distinct_groups(d->group + b0, e0 - b0, MIN_SPLIT_GROUPS) < MIN_SPLIT_GROUPS;
		size_t excl_here = 0;
		for (size_t r = b0; r < e0; r++) {
			uint64_t g = x->by_pair[k] ? (uint64_t)d->pair_id[r] * 0x9E3779B97F4A7C15ULL
			                           : d->group[r];
			x->is_test[r] = eng_mix64(g ^ eng_mix64(o->train.seed ^ 0x5eed)) < cut;
			uint64_t mine = 1ULL << k;
			int sh_img = d->img_key[r] && (*keyset_slot(&x->ki, d->img_key[r]) & ~mine);
			int sh_ans =
			    !d->img_key[r] && (*keyset_slot(&x->ka, d->answer_key[r]) & ~mine);
			if (!x->is_test[r]) {
				x->train[ntr++] = r;
			} else if (sh_img || sh_ans) {
				x->excluded[r] = 1, excl_here++;
				x->nexcl_img += (size_t)sh_img;
				x->nexcl_ans += (size_t)sh_ans;
			} else {
				x->test[nte++] = r;
			}
		}
		if (nte == x->teb[k] && excl_here)
			return eng_err_set(x->err, ENG_EINPUT,
			                   "dataset '%s': all %zu test pairs share an image or an "
			                   "answer pair with "
			                   "another dataset of this run (overlap would inflate "
			                   "o.o.d. figures); drop "
			                   "the duplicate dataset or deduplicate it",
			                   d->ds_name[k], excl_here);
		if (ntr == x->trb[k] || nte == x->teb[k])
			return eng_err_set(
			    x->err, ENG_EINPUT,
			    "dataset '%s' has an empty %s split (%zu pairs); it needs more "
			    "pairs, or another --test-fraction",
			    d->ds_name[k], ntr == x->trb[k] ? "train" : "test", e0 - b0);
	}
	x->trb[nds] = x->ntr = ntr;
	x->teb[nds] = x->nte = nte;
	return 0;
}

/* The run's options JSON (x->opts) and the metrics skeleton (x->root, which takes overlap). */
static int describe_run(cdrun *x, json_t *overlap)
{
	const eng_crossdist_opts *o = x->o;
	size_t nds = x->nds;
	json_t *dsn = json_array(), *split = json_array();
	for (size_t k = 0; k < nds; k++) {
		json_array_append_new(dsn, json_string(x->d.ds_name[k]));
		json_array_append_new(split, json_string(x->by_pair[k] ? "pair" : "group"));
	}
	json_t *mlist = json_array();
	for (int m = 0; m < (int)M; m++)
		if (x->mask & (1u << m))
			json_array_append_new(mlist, json_string(eng_method_name((eng_method)m)));
	json_t *eff = json_array(); /* epochs per train split (0 = auto: the schedule) */
	for (size_t k = 0; k < nds; k++)
		json_array_append_new(
		    eff, json_integer(o->train.epochs > 0
		                          ? o->train.epochs
		                          : eng_train_epochs_auto(x->trb[k + 1] - x->trb[k])));
	json_t *oj =
	    json_pack("{s:O, s:O, s:f, s:I, s:s, s:o, s:f, s:f, s:i, s:i, s:i, s:f, s:O}",
	              "datasets", dsn, "methods", mlist, "test_fraction", o->test_fraction, "seed",
	              (json_int_t)o->train.seed, "epochs", o->train.epochs > 0 ? "fixed" : "auto",
	              "epochs_effective", eff, "lr", (double)o->train.lr, "l2", (double)o->train.l2,
	              "hash_bits", o->text.hash_bits, "threads", o->threads, "bootstrap",
	              o->bootstrap, "jtt_lambda", (double)o->train.jtt_lambda, "split_by", split);
	if (oj)
		json_object_set_new(oj, "features", eng_data_features_json(&x->d));
	x->opts = json_dumps(oj, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(oj);
	x->root =
	    json_pack("{s:o, s:o, s:f, s:o, s:o, s:I, s:{s:I, s:I}}", "datasets", dsn, "split_by",
	              split, "test_fraction", o->test_fraction, "methods", json_object(), "overlap",
	              overlap, "excluded_test_pairs", (json_int_t)(x->nexcl_img + x->nexcl_ans),
	              "excluded_by_kind", "shared_image", (json_int_t)x->nexcl_img,
	              "shared_answer_pair", (json_int_t)x->nexcl_ans);
	json_decref(mlist);
	if (!x->opts || !x->root)
		return eng_err_set(x->err, ENG_ENOMEM, "out of memory");
	return 0;
}

/* Trains every method on every train split (one job per train dataset, its methods on the same
 * minibatches and seed) and keeps their margins on every test row. */
static int train_all(cdrun *x, const eng_progress *prog)
{
	const eng_crossdist_opts *o = x->o;
	size_t nds = x->nds, nte = x->nte;
	if (nte && nte > SIZE_MAX / (M * nds * sizeof(float)))
		return eng_err_set(x->err, ENG_ENOMEM, "too many pairs");
	x->marg = malloc(M * nds * (nte ? nte : 1) * sizeof *x->marg);
	x->right = malloc(M * nds * (nte ? nte : 1));
	x->acc = calloc(M * nds * nds, sizeof *x->acc);
	x->bacc = calloc(M * nds * nds, sizeof *x->bacc);
	x->chosen = calloc(nds, sizeof *x->chosen);
	if (!x->marg || !x->right || !x->acc || !x->bacc || !x->chosen)
		return eng_err_set(x->err, ENG_ENOMEM, "out of memory");
	for (size_t a = 0; a < nds; a++) {
		eng_trainjob *jb = &x->jobs[a];
		jb->opts = o->train;
		if (jb->opts.epochs <= 0)
			jb->opts.epochs = eng_train_epochs_auto(x->trb[a + 1] - x->trb[a]);
		jb->methods = x->mask;
		jb->opts.seed = eng_mix64(o->train.seed ^ eng_mix64(a * 7919u));
		jb->train = x->train + x->trb[a];
		jb->ntrain = x->trb[a + 1] - x->trb[a];
		jb->eval = x->test;
		jb->neval = nte;
		for (int m = 0; m < (int)M; m++)
			if (x->mask & (1u << m))
				jb->margins[m] = x->marg + ((size_t)m * nds + a) * nte;
	}
	int rc = eng_trainjobs_run(&x->d.ps, x->jobs, nds, o->threads, prog, x->err);
	if (rc)
		return rc;
	for (size_t k = 0; k < M * nds * nte; k++)
		x->right[k] = x->marg[k] > 0;
	return 0;
}

/* The cells of method m: accuracy and SFD per (train, test) pair, written to crossdist_cells and
 * x->acc, and the method's entry in the metrics. */
static int method_cells(cdrun *x, int m, json_t *methods)
{
	const eng_data *d = &x->d;
	size_t nds = x->nds, nte = x->nte;
	const size_t *trb = x->trb, *teb = x->teb;
	sqlite3_stmt *sc = x->sc;
	json_t *jacc = json_array(), *jsfd = json_array(), *jn = json_array();
	double sfds = 0;
	size_t nsfd = 0;
	for (size_t a = 0; a < nds; a++) {
		const uint8_t *rt = x->right + ((size_t)ENG_METHOD_TEXT * nds + a) * nte;
		const uint8_t *rm = x->right + ((size_t)m * nds + a) * nte;
		/* SFD is true by construction (+1) for the text proxy itself, and for an MM
		 * method trained without any image (it is then the text proxy): null */
		int img = 0;
		for (size_t q = trb[a]; q < trb[a + 1] && !img; q++)
			img = d->ps.img_of[x->train[q]] >= 0;
		int sfd_defined = m != ENG_METHOD_TEXT && img;
		json_t *ra = json_array(), *rs = json_array(), *rn = json_array();
		for (size_t b = 0; b < nds; b++) {
			size_t cnt = teb[b + 1] - teb[b], ok = 0, tr = 0, trr = 0, tw = 0, twr = 0;
			for (size_t q = teb[b]; q < teb[b + 1]; q++) {
				ok += rm[q];
				if (rt[q])
					tr++, trr += rm[q];
				else
					tw++, twr += rm[q];
			}
			double ac = cnt ? (double)ok / (double)cnt : NAN;
			double sf = sfd_defined && tr && tw
			                ? (double)trr / (double)tr - (double)twr / (double)tw
			                : NAN;
			x->acc[((size_t)m * nds + a) * nds + b] = ac;
			json_array_append_new(ra, num(ac));
			json_array_append_new(rs, num(sf));
			json_array_append_new(rn, json_integer((json_int_t)cnt));
			if (isfinite(sf))
				sfds += sf, nsfd++;
			sqlite3_bind_int64(sc, 1, x->run_id);
			sqlite3_bind_text(sc, 2, eng_method_name((eng_method)m), -1, SQLITE_STATIC);
			sqlite3_bind_int64(sc, 3, d->ds_id[a]);
			sqlite3_bind_int64(sc, 4, d->ds_id[b]);
			sqlite3_bind_int64(sc, 5, (sqlite3_int64)cnt);
			sqlite3_bind_double(sc, 6, ac);
			if (isfinite(sf))
				sqlite3_bind_double(sc, 7, sf);
			else
				sqlite3_bind_null(sc, 7);
			if (sqlite3_step(sc) != SQLITE_DONE) {
				int rc = eng_ws_fail(x->ws, x->err, "write crossdist cells");
				json_decref(ra), json_decref(rs), json_decref(rn);
				json_decref(jacc), json_decref(jsfd), json_decref(jn);
				return rc;
			}
			sqlite3_reset(sc);
		}
		json_array_append_new(jacc, ra);
		json_array_append_new(jsfd, rs);
		json_array_append_new(jn, rn);
	}
	const double *acc = x->acc + (size_t)m * nds * nds;
	double im = iid_of(acc, nds), om = ood_of(acc, nds);
	json_object_set_new(methods, eng_method_name((eng_method)m),
	                    json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "accuracy", jacc, "n",
	                              jn, "iid_mean", num(im), "ood_mean", num(om), "gap",
	                              num(im - om), "sfd", jsfd, "sfd_mean",
	                              num(nsfd ? sfds / (double)nsfd : NAN)));
	return 0;
}

/* Bootstrap over test pairs (resampled within each test split, the same resample for every
 * method, so differences between methods are paired): the i.i.d. and o.o.d. means of each
 * resample per method and the leave-one-environment-out selection's figure. The number of
 * resamples (x->B) shrinks for very large runs so the bootstrap stays below ~2e8 cell updates. */
static int bootstrap(cdrun *x)
{
	size_t nds = x->nds, nte = x->nte;
	const size_t *teb = x->teb;
	size_t B = x->o->bootstrap > 0 ? (size_t)x->o->bootstrap : 0;
	double work = (double)nte * (double)M * (double)nds;
	if (B && work * (double)B > 2e8)
		B = (size_t)fmax(20, 2e8 / work);
	x->B = B;
	if (!B)
		return 0;
	x->bs_iid = malloc(B * M * sizeof *x->bs_iid);
	x->bs_ood = malloc(B * M * sizeof *x->bs_ood);
	x->bs_sel = malloc(B * sizeof *x->bs_sel);
	if (!x->bs_iid || !x->bs_ood || !x->bs_sel)
		return eng_err_set(x->err, ENG_ENOMEM, "out of memory (bootstrap)");
	size_t *cnt = calloc(M * nds * nds, sizeof *cnt);
	if (!cnt)
		return eng_err_set(x->err, ENG_ENOMEM, "out of memory (bootstrap)");
	eng_rng rng;
	eng_rng_seed(&rng, eng_mix64(x->o->train.seed ^ 0x424F4F54ULL)); /* BOOT */
	for (size_t t = 0; t < B; t++) {
		memset(cnt, 0, M * nds * nds * sizeof *cnt);
		for (size_t b = 0; b < nds; b++) {
			size_t nb = teb[b + 1] - teb[b];
			for (size_t k = 0; k < nb; k++) {
				size_t q = teb[b] + (size_t)eng_rng_below(&rng, nb);
				for (int m = 0; m < (int)M; m++) {
					if (!(x->mask & (1u << m)))
						continue;
					for (size_t a = 0; a < nds; a++)
						cnt[((size_t)m * nds + a) * nds + b] +=
						    x->right[((size_t)m * nds + a) * nte + q];
				}
			}
		}
		for (int m = 0; m < (int)M; m++) {
			if (!(x->mask & (1u << m)))
				continue;
			for (size_t a = 0; a < nds; a++)
				for (size_t b = 0; b < nds; b++) {
					size_t i = ((size_t)m * nds + a) * nds + b;
					x->bacc[i] = (double)cnt[i] / (double)(teb[b + 1] - teb[b]);
				}
			x->bs_iid[(size_t)m * B + t] = iid_of(x->bacc + (size_t)m * nds * nds, nds);
			x->bs_ood[(size_t)m * B + t] = ood_of(x->bacc + (size_t)m * nds * nds, nds);
		}
		x->bs_sel[t] = loeo_select(x->bacc, nds, x->mask, NULL);
	}
	free(cnt);
	return 0;
}

/* The best MM method by o.o.d. mean, for the recommendation. */
typedef struct best_method {
	int m; /* -1: none (fewer than 2 datasets) */
	double ood, gain_lo, gain_hi;
} best_method;

/* Each method's 95% intervals and o.o.d. gain over standard, and the ranking of the MM methods
 * by o.o.d. mean (best first; stable: method order on ties); returns the ranking's size. tmp is
 * B doubles of scratch. */
static size_t rank_methods(cdrun *x, json_t *methods, double std_ood, double *tmp, best_method *bm)
{
	size_t nds = x->nds, B = x->B;
	const int has_std = (x->mask >> ENG_METHOD_STANDARD) & 1;
	bm->m = -1;
	bm->ood = bm->gain_lo = bm->gain_hi = NAN;
	json_t *ranking = json_array();
	for (int m = 0; m < (int)M; m++) {
		if (!(x->mask & (1u << m)))
			continue;
		json_t *jm = json_object_get(methods, eng_method_name((eng_method)m));
		double lo = NAN, hi = NAN, glo = NAN, ghi = NAN;
		if (B) {
			memcpy(tmp, x->bs_iid + (size_t)m * B, B * sizeof *tmp);
			percentile95(tmp, B, &lo, &hi);
			json_object_set_new(jm, "iid_mean_ci95", ci(lo, hi));
			if (nds >= 2) {
				memcpy(tmp, x->bs_ood + (size_t)m * B, B * sizeof *tmp);
				percentile95(tmp, B, &lo, &hi);
			} else {
				lo = hi = NAN;
			}
			json_object_set_new(jm, "ood_mean_ci95", ci(lo, hi));
			if (has_std && nds >= 2) {
				for (size_t t = 0; t < B; t++)
					tmp[t] = x->bs_ood[(size_t)m * B + t] -
					         x->bs_ood[(size_t)ENG_METHOD_STANDARD * B + t];
				percentile95(tmp, B, &glo, &ghi);
			}
		}
		double om = ood_of(x->acc + (size_t)m * nds * nds, nds);
		json_object_set_new(jm, "ood_vs_standard", num(om - std_ood));
		json_object_set_new(jm, "ood_vs_standard_ci95", ci(glo, ghi));
		if (m != ENG_METHOD_TEXT && nds >= 2) {
			json_array_append_new(ranking,
			                      json_pack("{s:s, s:o, s:o, s:o, s:o}", "method",
			                                eng_method_name((eng_method)m), "ood_mean",
			                                num(om), "ood_mean_ci95", ci(lo, hi),
			                                "ood_vs_standard", num(om - std_ood),
			                                "ood_vs_standard_ci95", ci(glo, ghi)));
			if (bm->m < 0 || om > bm->ood)
				bm->m = m, bm->ood = om, bm->gain_lo = glo, bm->gain_hi = ghi;
		}
	}
	size_t nr = json_array_size(ranking);
	for (size_t i = 1; i < nr; i++)
		for (size_t j = i; j > 0; j--) {
			double a = json_real_value(
			           json_object_get(json_array_get(ranking, j - 1), "ood_mean")),
			       b = json_real_value(
			           json_object_get(json_array_get(ranking, j), "ood_mean"));
			if (!(b > a))
				break;
			json_t *t1 = json_incref(json_array_get(ranking, j - 1));
			json_array_set(ranking, j - 1, json_array_get(ranking, j));
			json_array_set_new(ranking, j, t1);
		}
	json_object_set_new(x->root, "ranking", ranking);
	return nr;
}

/* The recommendation: the best method, and whether it reliably beats standard. */
static void recommend(cdrun *x, const best_method *bm, double std_ood)
{
	const int has_std = (x->mask >> ENG_METHOD_STANDARD) & 1;
	int best = bm->m;
	double best_ood = bm->ood, best_gain_lo = bm->gain_lo, best_gain_hi = bm->gain_hi;
	char why[512];
	if (best == ENG_METHOD_STANDARD || !has_std)
		snprintf(why, sizeof why,
		         "%s has the best o.o.d. mean (%.1f%%); no debiasing method beats it",
		         eng_method_name((eng_method)best), 100 * best_ood);
	else if (best_gain_lo > 0)
		snprintf(why, sizeof why,
		         "%s beats standard out of distribution by %.1f points (95%% CI %.1f to "
		         "%.1f): train with it",
		         eng_method_name((eng_method)best), 100 * (best_ood - std_ood),
		         100 * best_gain_lo, 100 * best_gain_hi);
	else
		snprintf(why, sizeof why,
		         "%s has the best o.o.d. mean (%.1f%%), %.1f points above standard, but "
		         "the 95%% interval of the gain (%.1f to %.1f) includes 0: no method "
		         "reliably beats standard here",
		         eng_method_name((eng_method)best), 100 * best_ood,
		         100 * (best_ood - std_ood), 100 * best_gain_lo, 100 * best_gain_hi);
	int beats = best != ENG_METHOD_STANDARD && has_std && best_gain_lo > 0;
	json_t *rec =
	    json_pack("{s:s, s:b, s:o, s:o, s:s}", "method",
	              eng_method_name((eng_method)(beats || !has_std ? best : ENG_METHOD_STANDARD)),
	              "beats_standard", beats, "ood_gain", num(best_ood - std_ood), "ood_gain_ci95",
	              ci(best_gain_lo, best_gain_hi), "reason", why);
	json_object_set_new(x->root, "recommendation", rec);
}

/* The leave-one-environment-out selection (3+ datasets): its o.o.d. figure with its interval and
 * the method chosen for each held-out environment. */
static void loeo_selection(cdrun *x, double std_ood, double *tmp)
{
	size_t nds = x->nds, B = x->B;
	double sel = loeo_select(x->acc, nds, x->mask, x->chosen), lo = NAN, hi = NAN;
	if (B) {
		memcpy(tmp, x->bs_sel, B * sizeof *tmp);
		percentile95(tmp, B, &lo, &hi);
	}
	json_t *per = json_array();
	for (size_t e = 0; e < nds; e++) {
		const double *acc = x->acc + (size_t)x->chosen[e] * nds * nds;
		double se = 0;
		for (size_t a = 0; a < nds; a++)
			if (a != e)
				se += acc[a * nds + e];
		json_array_append_new(per,
		                      json_pack("{s:s, s:s, s:o}", "held_out", x->d.ds_name[e],
		                                "chosen", eng_method_name((eng_method)x->chosen[e]),
		                                "ood_accuracy", num(se / (double)(nds - 1))));
	}
	json_object_set_new(
	    x->root, "selection",
	    json_pack("{s:s, s:o, s:o, s:o, s:o}", "rule",
	              "leave one environment out: for each environment, the method with "
	              "the best o.o.d. mean among the other environments is chosen and "
	              "scored on it (trained elsewhere)",
	              "ood_mean", num(sel), "ood_mean_ci95", ci(lo, hi), "standard_ood_mean",
	              num(std_ood), "per_environment", per));
}

/* In the run's transaction: the cells of every method, the bootstrap, the ranking, the
 * recommendation and the selection, then the run's metrics. Does not commit. */
static int evaluate(cdrun *x)
{
	int rc;
	size_t nds = x->nds;
	x->sc = eng_ws_prepare(
	    x->ws,
	    "INSERT INTO crossdist_cells(run_id, method, train_ds, test_ds, n, accuracy, "
	    "sfd) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	    x->err);
	if (!x->sc)
		return x->err ? x->err->code : ENG_EINTERNAL;
	json_t *methods = json_object_get(x->root, "methods");
	for (int m = 0; m < (int)M; m++)
		if ((x->mask & (1u << m)) && (rc = method_cells(x, m, methods)))
			return rc;
	if ((rc = bootstrap(x)))
		return rc;
	size_t B = x->B;
	double *tmp = B ? malloc(B * sizeof *tmp) : NULL;
	if (B && !tmp)
		return eng_err_set(x->err, ENG_ENOMEM, "out of memory (bootstrap)");
	const int has_std = (x->mask >> ENG_METHOD_STANDARD) & 1;
	const double std_ood =
	    has_std ? ood_of(x->acc + (size_t)ENG_METHOD_STANDARD * nds * nds, nds) : NAN;
	best_method bm;
	size_t nr = rank_methods(x, methods, std_ood, tmp, &bm);
	if (bm.m >= 0)
		recommend(x, &bm, std_ood);
	if (nds >= 3 && nr >= 1)
		loeo_selection(x, std_ood, tmp);
	json_object_set_new(x->root, "bootstrap", json_integer((json_int_t)B));
	free(tmp);
	x->mj = json_dumps(x->root, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!x->mj)
		return eng_err_set(x->err, ENG_ENOMEM, "out of memory");
	return 0;
}

static void cdrun_free(cdrun *x)
{
	sqlite3_finalize(x->sc);
	json_decref(x->root);
	free(x->opts);
	free(x->mj);
	free(x->marg);
	free(x->right);
	free(x->acc);
	free(x->bacc);
	free(x->bs_iid);
	free(x->bs_ood);
	free(x->bs_sel);
	free(x->chosen);
	keyset_free(&x->ki);
	keyset_free(&x->kp);
	keyset_free(&x->ka);
	free(x->is_test);
	free(x->excluded);
	free(x->by_pair);
	free(x->train);
	free(x->test);
	free(x->trb);
	free(x->teb);
	free(x->jobs);
	eng_data_free(&x->d);
}

int eng_crossdist_run(eng_ws *ws, const int64_t *ids, size_t nds, const eng_crossdist_opts *o,
                      const eng_progress *prog, int64_t *run_id, eng_err *err)
{
	if (nds < 1 || nds > 64)
		return eng_err_set(err, ENG_EINPUT, "crossdist needs 1 to 64 datasets, got %zu",
		                   nds);
	if (!(o->test_fraction > 0 && o->test_fraction < 1))
		return eng_err_set(err, ENG_EINPUT, "--test-fraction must be in (0, 1)");
	const unsigned mask = ((unsigned)o->methods & ENG_METHODS_ALL) | (1u << ENG_METHOD_TEXT);
	if (!((unsigned)o->methods & ENG_METHODS_ALL))
		return eng_err_set(err, ENG_EINPUT, "no method selected");
	double t0 = eng_now();
	cdrun x = {.ws = ws, .o = o, .err = err, .nds = nds, .mask = mask};
	int rc;
	*run_id = 0;
	if ((rc = eng_data_load_unvoted(ws, ids, nds, &o->text, o->features, prog, &x.d, err)))
		return rc;
	size_t n = x.n = x.d.ps.n;
	x.is_test = calloc(n ? n : 1, 1);
	x.excluded = calloc(n ? n : 1, 1);
	x.train = malloc((n ? n : 1) * sizeof *x.train);
	x.test = malloc((n ? n : 1) * sizeof *x.test);
	x.trb = calloc(nds + 1, sizeof *x.trb);
	x.teb = calloc(nds + 1, sizeof *x.teb);
	x.jobs = calloc(nds, sizeof *x.jobs);
	x.by_pair = calloc(nds, 1);
	if (!x.is_test || !x.excluded || !x.train || !x.test || !x.trb || !x.teb || !x.jobs ||
	    !x.by_pair || keyset_init(&x.ki, n) || keyset_init(&x.kp, n) || keyset_init(&x.ka, n)) {
		rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
		goto out;
	}
	json_t *overlap = count_overlap(&x);
	if ((rc = split_rows(&x))) {
		json_decref(overlap);
		goto out;
	}
	if ((rc = describe_run(&x, overlap)) ||
	    (rc = eng_run_begin(ws, ENG_RUN_CROSSDIST, o->train.seed, x.opts, o->command, run_id,
	                        err)))
		goto out;
	x.run_id = *run_id;
	if ((rc = train_all(&x, prog)) || (rc = eng_ws_begin(ws, err)))
		goto out;
	if ((rc = evaluate(&x)) || (rc = eng_run_finish(ws, *run_id, x.mj, eng_now() - t0, err)) ||
	    (rc = eng_ws_commit(ws, err)))
		eng_ws_rollback(ws);
out:
	if (rc && *run_id)
		eng_run_fail(ws, *run_id);
	cdrun_free(&x);
	return rc;
}
