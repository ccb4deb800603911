/* scoreweights.c - what score reports about reweighting: the counterfactual image test's JSON
 * (mm_informative), the weighted text-only proxies re-fitted per weighting method, and each
 * dataset's "weights" object with its recommendation. Does not write to the workspace. */
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

/* The re-fits estimate how well a text proxy can predict the weighted data; that estimate needs
 * no more than some ten thousand pairs (its interval at 10,000 pairs is about +-1
 * points), so larger datasets are re-fitted on a deterministic subsample by split group. */
enum { REFIT_MAX_PAIRS = 10000 };

/* auto picks sfc only when the MM-RM uses the image AND the sfc weights, measured, lower the
 * re-fitted text proxy's accuracy by at least this much (2 points): the paper's coefficient is
 * high wherever the MM-RM is more confident than the text proxy, shortcut pairs included, so on
 * data like synth's it is nearly uniform and would hand out weights that do nothing. */
#define AUTO_SFC_MIN_GAIN 0.02

void eng_score_dsextra_free(dsextra *x)
{
	free(x->text_right);
	free(x->refit_mm);
	eng_score_dswork_free(&x->refit_w);
}

static json_t *ci_json(double lo, double hi)
{
	return json_pack("[o, o]", eng_score_num_or_null(lo), eng_score_num_or_null(hi));
}

/* mm_informative, its reason, min_image_gain and image_reliance into the dataset's metrics. */
void eng_score_image_reliance_json(json_t *o, const dswork *w, const dsextra *x, double gain)
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
	json_object_set_new(j, "swap_flip_rate", eng_score_num_or_null(r->swap_flip_rate));
	json_object_set_new(j, "blank_flip_rate", eng_score_num_or_null(r->blank_flip_rate));
	json_object_set_new(j, "mean_image_effect", eng_score_num_or_null(r->mean_image_effect));
	json_object_set_new(j, "mm_accuracy_true", eng_score_num_or_null(r->acc_true));
	json_object_set_new(j, "mm_accuracy_swapped", eng_score_num_or_null(r->acc_swapped));
	json_object_set_new(j, "mm_accuracy_blank", eng_score_num_or_null(r->acc_blank));
	json_object_set_new(j, "swap_accuracy_drop", eng_score_num_or_null(r->drop));
	json_object_set_new(j, "swap_accuracy_drop_ci95", ci_json(r->drop_lo, r->drop_hi));
	json_object_set_new(o, "image_reliance", j);
}

/* Where cue column c stands in row r: 0 absent, 1 present with the chosen answer having less of it
 * (the difference, signed back to the named n-gram for hashed columns, is <= 0), 2 present with
 * the chosen answer having more (> 0). */
static uint8_t cue_state(const eng_data *d, size_t r, uint32_t c, int sign)
{
	for (eng_pairset_iter it = eng_pairset_row(&d->ps, r); eng_pairset_next(&it);)
		if (it.c >= c) /* columns are sorted */
			return it.c > c ? 0 : (double)it.v * sign > 0 ? 2 : 1;
	return 0;
}

/* The cue states of dataset w's rows (n, ncue) row-major, in one pass over the rows for all the
 * cues (the weights of every method are then summed over them); NULL without memory. Each row is
 * walked once for all the cues, taken in column order: a cue's state comes from the first entry
 * whose column is not below the cue's, as in cue_state(). */
static uint8_t *cue_states(const eng_data *d, const dswork *w, const dsextra *x)
{
	size_t n = w->e - w->b, nc = (size_t)x->ncue;
	uint8_t *st = malloc(n && nc ? n * nc : 1);
	int ord[NCUES]; /* cue indices by ascending column */
	for (size_t i = 0; i < nc; i++) {
		size_t j = i;
		for (; j > 0 && x->cue[ord[j - 1]] > x->cue[i]; j--)
			ord[j] = ord[j - 1];
		ord[j] = (int)i;
	}
	for (size_t r = w->b; st && r < w->e; r++) {
		uint8_t *sr = st + (r - w->b) * nc;
		size_t q = 0;
		for (eng_pairset_iter it = eng_pairset_row(&d->ps, r);
		     q < nc && eng_pairset_next(&it);)
			for (; q < nc && x->cue[ord[q]] <= it.c; q++) {
				int i = ord[q];
				sr[i] = it.c > x->cue[i]                    ? 0
				        : (double)it.v * x->cue_sign[i] > 0 ? 2
				                                            : 1;
			}
		for (; q < nc; q++)
			sr[ord[q]] = 0;
	}
	return st;
}

/* Weighted share of the pairs where cue i is present whose chosen answer has more of it, from the
 * cue states st (cue_states; NULL: each row is looked at again). */
static double cue_chosen_share(const eng_data *d, const dswork *w, const dsextra *x, int i,
                               const uint8_t *st, const float *wt)
{
	double sw = 0, sc = 0;
	for (size_t r = w->b; r < w->e; r++) {
		uint8_t s = st ? st[(r - w->b) * (size_t)x->ncue + (size_t)i]
		               : cue_state(d, r, x->cue[i], x->cue_sign[i]);
		if (!s)
			continue;
		sw += wt[r];
		sc += s == 2 ? wt[r] : 0;
	}
	return sw > 0 ? sc / sw : NAN;
}

/* The JTT re-fit of a fold trains with the debiasing one, on its minibatches (its seed), in one
 * pass: both are text-only proxies on the same rows, only their row weights differ. */
static int refit_paired(const dsextra *x, int wm)
{
	return wm == ENG_WM_JTT && x->avail[ENG_WM_JTT] && x->avail[ENG_WM_DEBIAS];
}

/* Cross-fits a weighted text-only proxy per (dataset, available method other than none) on new
 * folds and fills x->refit* with its weighted held-out accuracy and a Wilson interval at n = the
 * effective sample size. */
int eng_score_refit_weighted(const eng_data *d, dswork *w, dsextra *x, size_t nds, int K,
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
		int rc = eng_score_dswork_init(&x[k].refit_w, d, k, K, seed2,
		                               eng_score_fold_by_pair(d, k, K), NULL, err);
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
			njobs += x[k].avail[wm] && !refit_paired(&x[k], wm) ? (size_t)K : 0;
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
			if (!x[k].avail[wm] || refit_paired(&x[k], wm))
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
				if (wm == ENG_WM_DEBIAS && refit_paired(&x[k], ENG_WM_JTT)) {
					jb->row_weight2 = wrow[ENG_WM_JTT];
					jb->margins2 = rw->margin[ENG_WM_JTT - 1] + rw->fb[f];
				}
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
json_t *eng_score_weights_json(const eng_data *d, const dswork *w, const dsextra *x,
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
	uint8_t *cst = d && x->ncue ? cue_states(d, w, x) : NULL;
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
		json_object_set_new(m, "pick_longer", eng_score_num_or_null(st->pick_longer));
		json_object_set_new(m, "pick_more_formatted",
		                    eng_score_num_or_null(st->pick_more_formatted));
		json_object_set_new(m, "chosen_longer_rate",
		                    eng_score_num_or_null(st->chosen_longer_rate));
		json_object_set_new(m, "refit_text_accuracy", eng_score_num_or_null(x->refit[wm]));
		json_object_set_new(m, "refit_text_accuracy_ci95",
		                    ci_json(x->refit_lo[wm], x->refit_hi[wm]));
		if (wm == ENG_WM_SFC) {
			json_object_set_new(m, "refit_mm_accuracy",
			                    eng_score_num_or_null(x->refit_mm_acc));
			json_object_set_new(m, "refit_mm_accuracy_ci95",
			                    ci_json(x->refit_mm_lo, x->refit_mm_hi));
		}
		json_object_set_new(m, "ess", eng_score_num_or_null(st->ess));
		json_object_set_new(m, "ess_share", eng_score_num_or_null(st->ess_share));
		json_object_set_new(m, "mean_weight_text_shortcut",
		                    eng_score_num_or_null(st->mean_w_shortcut));
		json_object_set_new(m, "mean_weight_other",
		                    eng_score_num_or_null(st->mean_w_other));
		json_t *cues = json_array();
		for (int i = 0; i < x->ncue; i++)
			json_array_append_new(
			    cues,
			    json_pack("{s:s, s:o, s:o}", "feature", x->cue_name[i], "present_share",
			              eng_score_num_or_null(x->cue_present[i]), "chosen_share",
			              eng_score_num_or_null(
			                  cue_chosen_share(d, w, x, i, cst, wrow[wm]))));
		json_object_set_new(m, "cues", cues);
		json_object_set_new(o, eng_wmethod_name((eng_wmethod)wm), m);
	}
	free(cst);
	return o;
}
