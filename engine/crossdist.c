/* crossdist.c - train on each environment's train split, test on every test split. */
#include "engine/crossdist.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/dataload.h"
#include "engine/runs.h"
#include "engine/trainjobs.h"

void eng_crossdist_opts_default(eng_crossdist_opts *o)
{
	memset(o, 0, sizeof *o);
	o->test_fraction = 0.2;
	o->methods = 7;
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

int eng_crossdist_run(eng_ws *ws, const int64_t *ids, size_t nds, const eng_crossdist_opts *o,
                      const eng_progress *prog, int64_t *run_id, eng_err *err)
{
	if (nds < 1 || nds > 64)
		return eng_err_set(err, ENG_EINPUT, "crossdist needs 1 to 64 datasets, got %zu",
		                   nds);
	if (!(o->test_fraction > 0 && o->test_fraction < 1))
		return eng_err_set(err, ENG_EINPUT, "--test-fraction must be in (0, 1)");
	if (!(o->methods & 7))
		return eng_err_set(err, ENG_EINPUT, "no method selected");
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
	eng_trainjob *jobs = calloc(3 * nds, sizeof *jobs);
	float *marg = NULL;
	keyset ki = {0}, kp = {0};
	json_t *root = NULL;
	char *opts = NULL, *mj = NULL;
	sqlite3_stmt *sc = NULL;
	if (!is_test || !excluded || !train || !test || !trb || !teb || !jobs ||
	    keyset_init(&ki, n) || keyset_init(&kp, n)) {
		rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
		goto out;
	}
	/* Overlap: which datasets contain each image / prompt. */
	for (size_t k = 0; k < nds; k++) {
		for (size_t r = d.ds_begin[k]; r < d.ds_begin[k + 1]; r++) {
			if (d.img_key[r])
				*keyset_slot(&ki, d.img_key[r]) |= 1ULL << k;
			*keyset_slot(&kp, d.prompt_key[r] | 1) |= 1ULL << k;
		}
	}
	json_t *overlap = json_array();
	for (size_t a = 0; a < nds; a++) {
		for (size_t b = a + 1; b < nds; b++) {
			uint64_t both = (1ULL << a) | (1ULL << b);
			size_t si = 0, sp = 0;
			for (size_t i = 0; i < ki.cap; i++)
				si += ki.key[i] && (ki.mask[i] & both) == both;
			for (size_t i = 0; i < kp.cap; i++)
				sp += kp.key[i] && (kp.mask[i] & both) == both;
			if (si || sp)
				json_array_append_new(overlap,
				                      json_pack("{s:s, s:s, s:I, s:I}", "a",
				                                d.ds_name[a], "b", d.ds_name[b],
				                                "shared_images", (json_int_t)si,
				                                "shared_prompts", (json_int_t)sp));
		}
	}
	/* Splits by group; test rows that share an image or prompt with another dataset are
	 * dropped. */
	uint64_t cut = (uint64_t)(o->test_fraction * 18446744073709551615.0);
	size_t ntr = 0, nte = 0, nexcl = 0;
	for (size_t k = 0; k < nds; k++) {
		trb[k] = ntr;
		teb[k] = nte;
		for (size_t r = d.ds_begin[k]; r < d.ds_begin[k + 1]; r++) {
			is_test[r] =
			    eng_mix64(d.group[r] ^ eng_mix64(o->train.seed ^ 0x5eed)) < cut;
			uint64_t mine = 1ULL << k;
			int shared = (d.img_key[r] && (*keyset_slot(&ki, d.img_key[r]) & ~mine)) ||
			             (*keyset_slot(&kp, d.prompt_key[r] | 1) & ~mine);
			if (!is_test[r])
				train[ntr++] = r;
			else if (shared)
				excluded[r] = 1, nexcl++;
			else
				test[nte++] = r;
		}
		size_t excl_here = 0;
		for (size_t r = d.ds_begin[k]; r < d.ds_begin[k + 1]; r++)
			excl_here += excluded[r];
		if (nte == teb[k] && excl_here) {
			rc = eng_err_set(
			    err, ENG_EINPUT,
			    "dataset '%s': all %zu test pairs share an image or prompt with "
			    "another dataset of this run (overlap would inflate o.o.d. "
			    "figures); drop the duplicate dataset or deduplicate it",
			    d.ds_name[k], excl_here);
			json_decref(overlap);
			goto out;
		}
		if (ntr == trb[k] || nte == teb[k]) {
			rc = eng_err_set(
			    err, ENG_EINPUT,
			    "dataset '%s' has an empty %s split (%zu pairs); it needs more "
			    "distinct images or prompts, or another --test-fraction",
			    d.ds_name[k], ntr == trb[k] ? "train" : "test",
			    d.ds_begin[k + 1] - d.ds_begin[k]);
			json_decref(overlap);
			goto out;
		}
	}
	trb[nds] = ntr;
	teb[nds] = nte;

	json_t *dsn = json_array();
	for (size_t k = 0; k < nds; k++)
		json_array_append_new(dsn, json_string(d.ds_name[k]));
	json_t *mlist = json_array();
	for (int m = 0; m < 3; m++)
		if (o->methods & (1 << m))
			json_array_append_new(mlist, json_string(eng_method_name((eng_method)m)));
	json_t *eff = json_array(); /* epochs per train split (0 = auto: the schedule) */
	for (size_t k = 0; k < nds; k++)
		json_array_append_new(
		    eff,
		    json_integer(o->train.epochs > 0 ? o->train.epochs
		                                     : eng_train_epochs_auto(trb[k + 1] - trb[k])));
	json_t *oj =
	    json_pack("{s:O, s:o, s:f, s:I, s:s, s:o, s:f, s:f, s:i, s:i}", "datasets", dsn,
	              "methods", mlist, "test_fraction", o->test_fraction, "seed",
	              (json_int_t)o->train.seed, "epochs", o->train.epochs > 0 ? "fixed" : "auto",
	              "epochs_effective", eff, "lr", (double)o->train.lr, "l2", (double)o->train.l2,
	              "hash_bits", o->text.hash_bits, "threads", o->threads);
	if (oj)
		json_object_set_new(oj, "features", eng_data_features_json(&d));
	opts = json_dumps(oj, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(oj);
	root = json_pack("{s:o, s:f, s:o, s:o, s:I}", "datasets", dsn, "test_fraction",
	                 o->test_fraction, "methods", json_object(), "overlap", overlap,
	                 "excluded_test_pairs", (json_int_t)nexcl);
	if (!opts || !root) {
		rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = eng_run_begin(ws, "crossdist", o->train.seed, opts, o->command, run_id, err)))
		goto out;

	/* Methods: text always (SFD needs the proxy), others if asked. */
	if (nte && nte > SIZE_MAX / (3 * nds * sizeof(float))) {
		rc = eng_err_set(err, ENG_ENOMEM, "too many pairs");
		goto out;
	}
	marg = malloc(3 * nds * (nte ? nte : 1) * sizeof *marg);
	if (!marg) {
		rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
		goto out;
	}
	/* One job per train dataset trains its methods on the same minibatches (one seed). */
	size_t nj = 0;
	for (size_t a = 0; a < nds; a++) {
		eng_trainjob *jb = &jobs[nj++];
		jb->opts = o->train;
		if (jb->opts.epochs <= 0)
			jb->opts.epochs = eng_train_epochs_auto(trb[a + 1] - trb[a]);
		jb->methods = (unsigned)(o->methods & 7) | (1u << ENG_METHOD_TEXT);
		jb->opts.seed = eng_mix64(o->train.seed ^ eng_mix64(a * 7919u));
		jb->train = train + trb[a];
		jb->ntrain = trb[a + 1] - trb[a];
		jb->eval = test;
		jb->neval = nte;
		for (int m = 0; m < 3; m++)
			if (jb->methods & (1u << m))
				jb->margins[m] = marg + ((size_t)m * nds + a) * nte;
	}
	if ((rc = eng_trainjobs_run(&d.ps, jobs, nj, o->threads, prog, err)))
		goto out;

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
	for (int m = 0; m < 3; m++) {
		if (!(o->methods & (1 << m)))
			continue;
		json_t *acc = json_array(), *sfd = json_array();
		double iid = 0, ood = 0, sfds = 0;
		size_t niid = 0, nood = 0, nsfd = 0;
		for (size_t a = 0; a < nds; a++) {
			const float *mt = marg + ((size_t)ENG_METHOD_TEXT * nds + a) * nte;
			const float *mm = marg + ((size_t)m * nds + a) * nte;
			/* SFD is true by construction (+1) for the text proxy itself, and for an MM
			 * method trained without any image (it is then the text proxy): null */
			int img = 0;
			for (size_t q = trb[a]; q < trb[a + 1] && !img; q++)
				img = d.ps.img_of[train[q]] >= 0;
			int sfd_defined = m != ENG_METHOD_TEXT && img;
			json_t *ra = json_array(), *rs = json_array();
			for (size_t b = 0; b < nds; b++) {
				size_t right = 0, tr = 0, trr = 0, tw = 0, twr = 0,
				       cnt = teb[b + 1] - teb[b];
				for (size_t q = teb[b]; q < teb[b + 1]; q++) {
					int r = mm[q] > 0;
					right += r;
					if (mt[q] > 0)
						tr++, trr += r;
					else
						tw++, twr += r;
				}
				double ac = cnt ? (double)right / cnt : NAN;
				double sf = sfd_defined && tr && tw
				                ? (double)trr / tr - (double)twr / tw
				                : NAN;
				json_array_append_new(ra, num(ac));
				json_array_append_new(rs, num(sf));
				if (a == b)
					iid += ac, niid++;
				else
					ood += ac, nood++;
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
					json_decref(ra), json_decref(rs), json_decref(acc),
					    json_decref(sfd);
					goto rollback;
				}
				sqlite3_reset(sc);
			}
			json_array_append_new(acc, ra);
			json_array_append_new(sfd, rs);
		}
		double im = niid ? iid / niid : NAN, om = nood ? ood / nood : NAN;
		json_object_set_new(methods, eng_method_name((eng_method)m),
		                    json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "accuracy", acc,
		                              "iid_mean", num(im), "ood_mean", num(om), "gap",
		                              num(im - om), "sfd", sfd, "sfd_mean",
		                              num(nsfd ? sfds / nsfd : NAN)));
	}
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
	keyset_free(&ki);
	keyset_free(&kp);
	free(is_test);
	free(excluded);
	free(train);
	free(test);
	free(trb);
	free(teb);
	free(jobs);
	eng_data_free(&d);
	return rc;
}
