/* crossdist.c - train on each environment's train split, test on every test split. */
#include "crossdist.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dataload.h"
#include "model_internal.h"
#include "runs.h"
#include "trainjobs.h"

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
	const size_t M = ENG_METHOD_COUNT;
	double t0 = eng_now();
	eng_data d;
	int rc;
	*run_id = 0;
	if ((rc = eng_data_load(ws, ids, nds, &o->text, o->features, prog, &d, err)))
		return rc;
	size_t n = d.ps.n;
	uint8_t *is_test = calloc(n ? n : 1, 1), *excluded = calloc(n ? n : 1, 1);
	size_t *train = malloc((n ? n : 1) * sizeof *train),
	       *test = malloc((n ? n : 1) * sizeof *test);
	size_t *trb = calloc(nds + 1, sizeof *trb), *teb = calloc(nds + 1, sizeof *teb);
	eng_trainjob *jobs = calloc(nds, sizeof *jobs);
	uint8_t *by_pair = calloc(nds, 1);
	float *marg = NULL;
	uint8_t *right = NULL;
	double *acc = NULL, *bacc = NULL, *bs_iid = NULL, *bs_ood = NULL, *bs_sel = NULL;
	int *chosen = NULL;
	keyset ki = {0}, kp = {0}, ka = {0};
	json_t *root = NULL;
	char *opts = NULL, *mj = NULL;
	sqlite3_stmt *sc = NULL;
	if (!is_test || !excluded || !train || !test || !trb || !teb || !jobs || !by_pair ||
	    keyset_init(&ki, n) || keyset_init(&kp, n) || keyset_init(&ka, n)) {
		rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
		goto out;
	}
	/* What leaks between datasets: a shared image (pairs with an image), or a shared answer
	 * pair (text-only pairs: the same two answers, either order). A prompt shared over
	 * different images is not leakage; shared prompts are only counted. */
	for (size_t k = 0; k < nds; k++) {
		for (size_t r = d.ds_begin[k]; r < d.ds_begin[k + 1]; r++) {
			if (d.img_key[r])
				*keyset_slot(&ki, d.img_key[r]) |= 1ULL << k;
			else
				*keyset_slot(&ka, d.answer_key[r]) |= 1ULL << k;
			*keyset_slot(&kp, d.prompt_key[r] | 1) |= 1ULL << k;
		}
	}
	json_t *overlap = json_array();
	for (size_t a = 0; a < nds; a++) {
		for (size_t b = a + 1; b < nds; b++) {
			uint64_t both = (1ULL << a) | (1ULL << b);
			size_t si = 0, sp = 0, sa = 0;
			for (size_t i = 0; i < ki.cap; i++)
				si += ki.key[i] && (ki.mask[i] & both) == both;
			for (size_t i = 0; i < kp.cap; i++)
				sp += kp.key[i] && (kp.mask[i] & both) == both;
			for (size_t i = 0; i < ka.cap; i++)
				sa += ka.key[i] && (ka.mask[i] & both) == both;
			if (si || sp || sa)
				json_array_append_new(
				    overlap,
				    json_pack("{s:s, s:s, s:I, s:I, s:I}", "a", d.ds_name[a], "b",
				              d.ds_name[b], "shared_images", (json_int_t)si,
				              "shared_answer_pairs", (json_int_t)sa,
				              "shared_prompts", (json_int_t)sp));
		}
	}
	/* Splits by group (by pair when a dataset has too few groups); test rows whose image or
	 * (text-only) answer pair also occurs in another dataset are dropped. */
	uint64_t cut = (uint64_t)(o->test_fraction * 18446744073709551615.0);
	size_t ntr = 0, nte = 0, nexcl_img = 0, nexcl_ans = 0;
	for (size_t k = 0; k < nds; k++) {
		trb[k] = ntr;
		teb[k] = nte;
		size_t b0 = d.ds_begin[k], e0 = d.ds_begin[k + 1];
		by_pair[k] =
		    distinct_groups(d.group + b0, e0 - b0, MIN_SPLIT_GROUPS) < MIN_SPLIT_GROUPS;
		size_t excl_here = 0;
		for (size_t r = b0; r < e0; r++) {
			uint64_t g = by_pair[k] ? (uint64_t)d.pair_id[r] * 0x9E3779B97F4A7C15ULL
			                        : d.group[r];
			is_test[r] = eng_mix64(g ^ eng_mix64(o->train.seed ^ 0x5eed)) < cut;
			uint64_t mine = 1ULL << k;
			int sh_img = d.img_key[r] && (*keyset_slot(&ki, d.img_key[r]) & ~mine);
			int sh_ans = !d.img_key[r] && (*keyset_slot(&ka, d.answer_key[r]) & ~mine);
			if (!is_test[r]) {
				train[ntr++] = r;
			} else if (sh_img || sh_ans) {
				excluded[r] = 1, excl_here++;
				nexcl_img += (size_t)sh_img;
				nexcl_ans += (size_t)sh_ans;
			} else {
				test[nte++] = r;
			}
		}
		if (nte == teb[k] && excl_here) {
			rc = eng_err_set(err, ENG_EINPUT,
			                 "dataset '%s': all %zu test pairs share an image or an "
			                 "answer pair with "
			                 "another dataset of this run (overlap would inflate "
			                 "o.o.d. figures); drop "
			                 "the duplicate dataset or deduplicate it",
			                 d.ds_name[k], excl_here);
			json_decref(overlap);
			goto out;
		}
		if (ntr == trb[k] || nte == teb[k]) {
			rc = eng_err_set(
			    err, ENG_EINPUT,
			    "dataset '%s' has an empty %s split (%zu pairs); it needs more "
			    "pairs, or another --test-fraction",
			    d.ds_name[k], ntr == trb[k] ? "train" : "test", e0 - b0);
			json_decref(overlap);
			goto out;
		}
	}
	trb[nds] = ntr;
	teb[nds] = nte;

	json_t *dsn = json_array(), *split = json_array();
	for (size_t k = 0; k < nds; k++) {
		json_array_append_new(dsn, json_string(d.ds_name[k]));
		json_array_append_new(split, json_string(by_pair[k] ? "pair" : "group"));
	}
	json_t *mlist = json_array();
	for (int m = 0; m < (int)M; m++)
		if (mask & (1u << m))
			json_array_append_new(mlist, json_string(eng_method_name((eng_method)m)));
	json_t *eff = json_array(); /* epochs per train split (0 = auto: the schedule) */
	for (size_t k = 0; k < nds; k++)
		json_array_append_new(
		    eff,
		    json_integer(o->train.epochs > 0 ? o->train.epochs
		                                     : eng_train_epochs_auto(trb[k + 1] - trb[k])));
	json_t *oj =
	    json_pack("{s:O, s:O, s:f, s:I, s:s, s:o, s:f, s:f, s:i, s:i, s:i, s:f, s:O}",
	              "datasets", dsn, "methods", mlist, "test_fraction", o->test_fraction, "seed",
	              (json_int_t)o->train.seed, "epochs", o->train.epochs > 0 ? "fixed" : "auto",
	              "epochs_effective", eff, "lr", (double)o->train.lr, "l2", (double)o->train.l2,
	              "hash_bits", o->text.hash_bits, "threads", o->threads, "bootstrap",
	              o->bootstrap, "jtt_lambda", (double)o->train.jtt_lambda, "split_by", split);
	if (oj)
		json_object_set_new(oj, "features", eng_data_features_json(&d));
	opts = json_dumps(oj, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(oj);
	root = json_pack("{s:o, s:o, s:f, s:o, s:o, s:I, s:{s:I, s:I}}", "datasets", dsn,
	                 "split_by", split, "test_fraction", o->test_fraction, "methods",
	                 json_object(), "overlap", overlap, "excluded_test_pairs",
	                 (json_int_t)(nexcl_img + nexcl_ans), "excluded_by_kind", "shared_image",
	                 (json_int_t)nexcl_img, "shared_answer_pair", (json_int_t)nexcl_ans);
	json_decref(mlist);
	if (!opts || !root) {
		rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = eng_run_begin(ws, "crossdist", o->train.seed, opts, o->command, run_id, err)))
		goto out;

	/* Methods: text always (SFD needs the proxy), others if asked. */
	if (nte && nte > SIZE_MAX / (M * nds * sizeof(float))) {
		rc = eng_err_set(err, ENG_ENOMEM, "too many pairs");
		goto out;
	}
	marg = malloc(M * nds * (nte ? nte : 1) * sizeof *marg);
	right = malloc(M * nds * (nte ? nte : 1));
	acc = calloc(M * nds * nds, sizeof *acc);
	bacc = calloc(M * nds * nds, sizeof *bacc);
	chosen = calloc(nds, sizeof *chosen);
	if (!marg || !right || !acc || !bacc || !chosen) {
		rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
		goto out;
	}
	/* One job per train dataset trains its methods on the same minibatches (one seed). */
	for (size_t a = 0; a < nds; a++) {
		eng_trainjob *jb = &jobs[a];
		jb->opts = o->train;
		if (jb->opts.epochs <= 0)
			jb->opts.epochs = eng_train_epochs_auto(trb[a + 1] - trb[a]);
		jb->methods = mask;
		jb->opts.seed = eng_mix64(o->train.seed ^ eng_mix64(a * 7919u));
		jb->train = train + trb[a];
		jb->ntrain = trb[a + 1] - trb[a];
		jb->eval = test;
		jb->neval = nte;
		for (int m = 0; m < (int)M; m++)
			if (mask & (1u << m))
				jb->margins[m] = marg + ((size_t)m * nds + a) * nte;
	}
	if ((rc = eng_trainjobs_run(&d.ps, jobs, nds, o->threads, prog, err)))
		goto out;
	for (size_t k = 0; k < M * nds * nte; k++)
		right[k] = marg[k] > 0;

	if ((rc = eng_ws_begin(ws, err)))
		goto out;
	sc = eng_ws_prepare(
	    ws,
	    "INSERT INTO crossdist_cells(run_id, method, train_ds, test_ds, n, accuracy, "
	    "sfd) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	    err);
	if (!sc) {
		rc = err ? err->code : ENG_EINTERNAL;
		goto rollback;
	}
	json_t *methods = json_object_get(root, "methods");
	for (int m = 0; m < (int)M; m++) {
		if (!(mask & (1u << m)))
			continue;
		json_t *jacc = json_array(), *jsfd = json_array(), *jn = json_array();
		double sfds = 0;
		size_t nsfd = 0;
		for (size_t a = 0; a < nds; a++) {
			const uint8_t *rt = right + ((size_t)ENG_METHOD_TEXT * nds + a) * nte;
			const uint8_t *rm = right + ((size_t)m * nds + a) * nte;
			/* SFD is true by construction (+1) for the text proxy itself, and for an MM
			 * method trained without any image (it is then the text proxy): null */
			int img = 0;
			for (size_t q = trb[a]; q < trb[a + 1] && !img; q++)
				img = d.ps.img_of[train[q]] >= 0;
			int sfd_defined = m != ENG_METHOD_TEXT && img;
			json_t *ra = json_array(), *rs = json_array(), *rn = json_array();
			for (size_t b = 0; b < nds; b++) {
				size_t cnt = teb[b + 1] - teb[b], ok = 0, tr = 0, trr = 0, tw = 0,
				       twr = 0;
				for (size_t q = teb[b]; q < teb[b + 1]; q++) {
					ok += rm[q];
					if (rt[q])
						tr++, trr += rm[q];
					else
						tw++, twr += rm[q];
				}
				double ac = cnt ? (double)ok / (double)cnt : NAN;
				double sf = sfd_defined && tr && tw ? (double)trr / (double)tr -
				                                          (double)twr / (double)tw
				                                    : NAN;
				acc[((size_t)m * nds + a) * nds + b] = ac;
				json_array_append_new(ra, num(ac));
				json_array_append_new(rs, num(sf));
				json_array_append_new(rn, json_integer((json_int_t)cnt));
				if (isfinite(sf))
					sfds += sf, nsfd++;
				sqlite3_bind_int64(sc, 1, *run_id);
				sqlite3_bind_text(sc, 2, eng_method_name((eng_method)m), -1,
				                  SQLITE_STATIC);
				sqlite3_bind_int64(sc, 3, d.ds_id[a]);
				sqlite3_bind_int64(sc, 4, d.ds_id[b]);
				sqlite3_bind_int64(sc, 5, (sqlite3_int64)cnt);
				sqlite3_bind_double(sc, 6, ac);
				if (isfinite(sf))
					sqlite3_bind_double(sc, 7, sf);
				else
					sqlite3_bind_null(sc, 7);
				if (sqlite3_step(sc) != SQLITE_DONE) {
					rc = eng_ws_fail(ws, err, "write crossdist cells");
					json_decref(ra), json_decref(rs), json_decref(rn);
					json_decref(jacc), json_decref(jsfd), json_decref(jn);
					goto rollback;
				}
				sqlite3_reset(sc);
			}
			json_array_append_new(jacc, ra);
			json_array_append_new(jsfd, rs);
			json_array_append_new(jn, rn);
		}
		const double *x = acc + (size_t)m * nds * nds;
		double im = iid_of(x, nds), om = ood_of(x, nds);
		json_object_set_new(methods, eng_method_name((eng_method)m),
		                    json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "accuracy",
		                              jacc, "n", jn, "iid_mean", num(im), "ood_mean",
		                              num(om), "gap", num(im - om), "sfd", jsfd, "sfd_mean",
		                              num(nsfd ? sfds / (double)nsfd : NAN)));
	}
	/* Bootstrap over test pairs (resampled within each test split, the same resample for every
	 * method, so differences between methods are paired): 95% percentile intervals of the
	 * i.i.d. and o.o.d. means, of each method's o.o.d. gain over standard, and of the
	 * leave-one-environment-out selection's figure. The number of resamples shrinks for very
	 * large runs so the bootstrap stays below ~2e8 cell updates. */
	size_t B = o->bootstrap > 0 ? (size_t)o->bootstrap : 0;
	double work = (double)nte * (double)M * (double)nds;
	if (B && work * (double)B > 2e8)
		B = (size_t)fmax(20, 2e8 / work);
	if (B) {
		bs_iid = malloc(B * M * sizeof *bs_iid);
		bs_ood = malloc(B * M * sizeof *bs_ood);
		bs_sel = malloc(B * sizeof *bs_sel);
		if (!bs_iid || !bs_ood || !bs_sel) {
			rc = eng_err_set(err, ENG_ENOMEM, "out of memory (bootstrap)");
			goto rollback;
		}
		size_t *cnt = calloc(M * nds * nds, sizeof *cnt);
		if (!cnt) {
			rc = eng_err_set(err, ENG_ENOMEM, "out of memory (bootstrap)");
			goto rollback;
		}
		eng_rng rng;
		eng_rng_seed(&rng, eng_mix64(o->train.seed ^ 0x424F4F54ULL)); /* BOOT */
		for (size_t t = 0; t < B; t++) {
			memset(cnt, 0, M * nds * nds * sizeof *cnt);
			for (size_t b = 0; b < nds; b++) {
				size_t nb = teb[b + 1] - teb[b];
				for (size_t k = 0; k < nb; k++) {
					size_t q = teb[b] + (size_t)eng_rng_below(&rng, nb);
					for (int m = 0; m < (int)M; m++) {
						if (!(mask & (1u << m)))
							continue;
						for (size_t a = 0; a < nds; a++)
							cnt[((size_t)m * nds + a) * nds + b] +=
							    right[((size_t)m * nds + a) * nte + q];
					}
				}
			}
			for (int m = 0; m < (int)M; m++) {
				if (!(mask & (1u << m)))
					continue;
				for (size_t a = 0; a < nds; a++)
					for (size_t b = 0; b < nds; b++) {
						size_t i = ((size_t)m * nds + a) * nds + b;
						bacc[i] =
						    (double)cnt[i] / (double)(teb[b + 1] - teb[b]);
					}
				bs_iid[(size_t)m * B + t] =
				    iid_of(bacc + (size_t)m * nds * nds, nds);
				bs_ood[(size_t)m * B + t] =
				    ood_of(bacc + (size_t)m * nds * nds, nds);
			}
			bs_sel[t] = loeo_select(bacc, nds, mask, NULL);
		}
		free(cnt);
	}
	double *tmp = B ? malloc(B * sizeof *tmp) : NULL;
	if (B && !tmp) {
		rc = eng_err_set(err, ENG_ENOMEM, "out of memory (bootstrap)");
		goto rollback;
	}
	const int has_std = (mask >> ENG_METHOD_STANDARD) & 1;
	const double std_ood =
	    has_std ? ood_of(acc + (size_t)ENG_METHOD_STANDARD * nds * nds, nds) : NAN;
	int best = -1;
	double best_ood = NAN, best_gain_lo = NAN, best_gain_hi = NAN;
	json_t *ranking = json_array();
	for (int m = 0; m < (int)M; m++) {
		if (!(mask & (1u << m)))
			continue;
		json_t *jm = json_object_get(methods, eng_method_name((eng_method)m));
		double lo = NAN, hi = NAN, glo = NAN, ghi = NAN;
		if (B) {
			memcpy(tmp, bs_iid + (size_t)m * B, B * sizeof *tmp);
			percentile95(tmp, B, &lo, &hi);
			json_object_set_new(jm, "iid_mean_ci95", ci(lo, hi));
			if (nds >= 2) {
				memcpy(tmp, bs_ood + (size_t)m * B, B * sizeof *tmp);
				percentile95(tmp, B, &lo, &hi);
			} else {
				lo = hi = NAN;
			}
			json_object_set_new(jm, "ood_mean_ci95", ci(lo, hi));
			if (has_std && nds >= 2) {
				for (size_t t = 0; t < B; t++)
					tmp[t] = bs_ood[(size_t)m * B + t] -
					         bs_ood[(size_t)ENG_METHOD_STANDARD * B + t];
				percentile95(tmp, B, &glo, &ghi);
			}
		}
		double om = ood_of(acc + (size_t)m * nds * nds, nds);
		json_object_set_new(jm, "ood_vs_standard", num(om - std_ood));
		json_object_set_new(jm, "ood_vs_standard_ci95", ci(glo, ghi));
		if (m != ENG_METHOD_TEXT && nds >= 2) {
			json_array_append_new(ranking,
			                      json_pack("{s:s, s:o, s:o, s:o, s:o}", "method",
			                                eng_method_name((eng_method)m), "ood_mean",
			                                num(om), "ood_mean_ci95", ci(lo, hi),
			                                "ood_vs_standard", num(om - std_ood),
			                                "ood_vs_standard_ci95", ci(glo, ghi)));
			if (best < 0 || om > best_ood)
				best = m, best_ood = om, best_gain_lo = glo, best_gain_hi = ghi;
		}
	}
	/* ranking by o.o.d. mean, best first (stable: method order on ties) */
	size_t nr = json_array_size(ranking);
	for (size_t i = 1; i < nr; i++)
		for (size_t j = i; j > 0; j--) {
			double x = json_real_value(
			           json_object_get(json_array_get(ranking, j - 1), "ood_mean")),
			       y = json_real_value(
			           json_object_get(json_array_get(ranking, j), "ood_mean"));
			if (!(y > x))
				break;
			json_t *t1 = json_incref(json_array_get(ranking, j - 1));
			json_array_set(ranking, j - 1, json_array_get(ranking, j));
			json_array_set_new(ranking, j, t1);
		}
	json_object_set_new(root, "ranking", ranking);
	if (best >= 0) {
		char why[512];
		if (best == ENG_METHOD_STANDARD || !has_std)
			snprintf(
			    why, sizeof why,
			    "%s has the best o.o.d. mean (%.1f%%); no debiasing method beats it",
			    eng_method_name((eng_method)best), 100 * best_ood);
		else if (best_gain_lo > 0)
			snprintf(
			    why, sizeof why,
			    "%s beats standard out of distribution by %.1f points (95%% CI %.1f to "
			    "%.1f): train with it",
			    eng_method_name((eng_method)best), 100 * (best_ood - std_ood),
			    100 * best_gain_lo, 100 * best_gain_hi);
		else
			snprintf(
			    why, sizeof why,
			    "%s has the best o.o.d. mean (%.1f%%), %.1f points above standard, but "
			    "the 95%% interval of the gain (%.1f to %.1f) includes 0: no method "
			    "reliably beats standard here",
			    eng_method_name((eng_method)best), 100 * best_ood,
			    100 * (best_ood - std_ood), 100 * best_gain_lo, 100 * best_gain_hi);
		int beats = best != ENG_METHOD_STANDARD && has_std && best_gain_lo > 0;
		json_t *rec = json_pack(
		    "{s:s, s:b, s:o, s:o, s:s}", "method",
		    eng_method_name((eng_method)(beats || !has_std ? best : ENG_METHOD_STANDARD)),
		    "beats_standard", beats, "ood_gain", num(best_ood - std_ood), "ood_gain_ci95",
		    ci(best_gain_lo, best_gain_hi), "reason", why);
		json_object_set_new(root, "recommendation", rec);
	}
	if (nds >= 3 && nr >= 1) {
		double sel = loeo_select(acc, nds, mask, chosen), lo = NAN, hi = NAN;
		if (B) {
			memcpy(tmp, bs_sel, B * sizeof *tmp);
			percentile95(tmp, B, &lo, &hi);
		}
		json_t *per = json_array();
		for (size_t e = 0; e < nds; e++) {
			const double *x = acc + (size_t)chosen[e] * nds * nds;
			double se = 0;
			for (size_t a = 0; a < nds; a++)
				if (a != e)
					se += x[a * nds + e];
			json_array_append_new(
			    per, json_pack("{s:s, s:s, s:o}", "held_out", d.ds_name[e], "chosen",
			                   eng_method_name((eng_method)chosen[e]), "ood_accuracy",
			                   num(se / (double)(nds - 1))));
		}
		json_object_set_new(
		    root, "selection",
		    json_pack("{s:s, s:o, s:o, s:o, s:o}", "rule",
		              "leave one environment out: for each environment, the method with "
		              "the best o.o.d. mean among the other environments is chosen and "
		              "scored on it (trained elsewhere)",
		              "ood_mean", num(sel), "ood_mean_ci95", ci(lo, hi),
		              "standard_ood_mean", num(std_ood), "per_environment", per));
	}
	json_object_set_new(root, "bootstrap", json_integer((json_int_t)B));
	free(tmp);
	mj = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!mj) {
		rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
		goto rollback;
	}
	if ((rc = eng_run_finish(ws, *run_id, mj, eng_now() - t0, err)) ||
	    (rc = eng_ws_commit(ws, err)))
		goto rollback;
	goto out;
rollback:
	eng_ws_rollback(ws);
out:
	if (rc && *run_id)
		eng_run_fail(ws, *run_id);
	sqlite3_finalize(sc);
	json_decref(root);
	free(opts);
	free(mj);
	free(marg);
	free(right);
	free(acc);
	free(bacc);
	free(bs_iid);
	free(bs_ood);
	free(bs_sel);
	free(chosen);
	keyset_free(&ki);
	keyset_free(&kp);
	keyset_free(&ka);
	free(is_test);
	free(excluded);
	free(by_pair);
	free(train);
	free(test);
	free(trb);
	free(teb);
	free(jobs);
	eng_data_free(&d);
	return rc;
}
