/* weights.h - per-pair training weights that counter the text shortcut, and what they do to the
 * data they weight. Pure functions; no I/O.
 *
 * Methods (raw weight of one pair; every method's weights are then scaled to mean 1 per dataset):
 *   none    1
 *   debias  1 - p_text: example reweighting against a bias-only model (Utama et al. 2020), the
 *           bias model being the held-out text-only proxy (p_text = the probability it gives the
 *           chosen answer): pairs the text alone gets right count less, pairs it gets wrong more
 *   jtt     lambda for the text proxy's held-out errors (p_text <= 0.5), 1 otherwise, lambda =
 *           n_right / n_wrong (Liu et al. 2021's "just train twice" upweighting): after it, right
 *           and wrong pairs weigh the same in total
 *   sfc     the paper's shortcut-failure coefficient L_t / (L_t + L) at held-out margins (Li et al.
 *           2025); only as informative as the MM-RM it comes from (needs images)
 *   auto    sfc when the MM-RM uses the image (counterfactual image test), else debias */
#ifndef ENG_WEIGHTS_H
#define ENG_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

typedef enum eng_wmethod {
	ENG_WM_NONE = 0,
	ENG_WM_DEBIAS = 1,
	ENG_WM_JTT = 2,
	ENG_WM_SFC = 3,
	ENG_WM_COUNT = 4,
	ENG_WM_AUTO = 5,
} eng_wmethod;

const char *eng_wmethod_name(eng_wmethod m); /* "none", "debias", "jtt", "sfc", "auto" */
/* Parses a name (auto included); 0 ok, ENG_EINPUT unknown. */
int eng_wmethod_parse(const char *s, eng_wmethod *out);

/* JTT's upweighting factor n_right / n_wrong; NAN when n_wrong is 0 (nothing to upweight). */
double eng_jtt_lambda(size_t n_right, size_t n_wrong);

/* Raw weight of one pair (see the top of this file); sfc may be NAN unless m is ENG_WM_SFC. */
double eng_weight_raw(eng_wmethod m, double p_text, double sfc, double jtt_lambda);

/* Scales w[0..n) to mean 1 in place (all zero: left as is). Returns the scale applied. */
double eng_weights_normalize(float *w, size_t n);

/* What weights w (n, mean 1) do to the data: weighted blind baselines and balance. */
typedef struct eng_wstats {
	double pick_longer;         /* weighted accuracy of "the longer answer wins", ties 1/2 */
	double pick_more_formatted; /* likewise with formatting markers */
	double chosen_longer_rate;  /* weighted share of pairs whose chosen answer is longer */
	double ess, ess_share;      /* Kish: (sum w)^2 / sum w^2, and it over n */
	double mean_w_shortcut;     /* mean weight of text-shortcut pairs (NAN: none) */
	double mean_w_other;        /* of the other pairs (NAN: none) */
} eng_wstats;

/* longer/formatted (n) in {-1, 0, 1}; is_shortcut (n) 0/1. */
void eng_wstats_compute(size_t n, const float *w, const int8_t *longer, const int8_t *formatted,
                        const uint8_t *is_shortcut, eng_wstats *out);

/* Weighted share sum(w [right]) / sum(w) of right (n, 0/1); NAN when sum w is 0. */
double eng_weighted_share(size_t n, const float *w, const uint8_t *right);

#endif
