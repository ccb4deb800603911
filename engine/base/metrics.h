/* metrics.h - per-pair categories and dataset metrics from held-out probabilities.
 *
 * Definitions (fractions in [0, 1]; "right" means the model gives the chosen answer p > 0.5):
 *   text_accuracy  = share of pairs where the text-only proxy is right (held out)
 *   mm_accuracy    = share where the standard MM-RM is right; sa_accuracy likewise (shortcut-aware)
 *   shortcut_rate  = share of pairs in category text-shortcut
 *   sfd            = mm accuracy on pairs where the text proxy is right
 *                    - mm accuracy on pairs where it is wrong (NaN when either side is empty)
 *   pick_longer    = accuracy of "the longer answer (in characters) is chosen", ties count 1/2
 *   pick_shorter   = 1 - pick_longer; pick_more_formatted likewise with formatting markers
 * Categories, with c = the confidence threshold (default 0.8):
 *   suspect-label  p_text <= 1 - c and p_mm <= 1 - c   (both confidently prefer the rejected
 * answer) text-shortcut  p_text >= c                         (text alone confidently right)
 *   needs-image    p_text < 0.5 and p_mm > 0.5         (text wrong, multimodal right)
 *   ambiguous      otherwise
 * Pure functions; no I/O. */
#ifndef ENG_METRICS_H
#define ENG_METRICS_H

#include <stddef.h>
#include <math.h>
#include <stdint.h>

typedef enum eng_category {
	ENG_CAT_TEXT_SHORTCUT = 0,
	ENG_CAT_NEEDS_IMAGE = 1,
	ENG_CAT_SUSPECT_LABEL = 2,
	ENG_CAT_AMBIGUOUS = 3,
	ENG_CAT_COUNT = 4,
} eng_category;

const char *eng_category_name(eng_category c);
eng_category eng_category_of(double p_text, double p_mm, double confident);

/* The Bradley-Terry loss of a margin m = r(chosen) - r(rejected) and what is built on it; the one
 * definition every model, metric and weight uses (inline: the training loop calls them per pair).
 * eng_bt_loss(m)  = -log sigmoid(m) = log(1 + exp(-m)), stable for both signs;
 * eng_bt_dloss(m) = dL/dm = -sigmoid(-m), stable for both signs;
 * eng_sigmoid(m)  = 1 / (1 + exp(-m)), stable for both signs. */
static inline double eng_bt_loss(double m)
{
	return m > 0 ? log1p(exp(-m)) : -m + log1p(exp(m));
}

static inline double eng_bt_dloss(double m)
{
	if (m >= 0) {
		double e = exp(-m);
		return -e / (1 + e);
	}
	return -1 / (1 + exp(m));
}

static inline double eng_sigmoid(double m)
{
	if (m >= 0)
		return 1.0 / (1.0 + exp(-m));
	double e = exp(m);
	return e / (1.0 + e);
}

/* The paper's shortcut-aware weight (arXiv 2503.03122, eq. 5) from the two detached losses:
 * w = eps/2 + L_t / (eps + L_t + L), eps = ENG_SA_EPS; in (0, 1). High = the text-only model fails
 * where the multimodal one does not. */
#define ENG_SA_EPS 1e-7
static inline double eng_sa_weight(double loss_text, double loss_mm)
{
	return ENG_SA_EPS / 2 + loss_text / (ENG_SA_EPS + loss_text + loss_mm);
}

/* Shortcut-failure coefficient at held-out margins: eng_sa_weight of the two models' losses. */
static inline double eng_sfc(double margin_text, double margin_mm)
{
	return eng_sa_weight(eng_bt_loss(margin_text), eng_bt_loss(margin_mm));
}

/* Wilson score interval at 95% for k successes of n (n may be an effective sample size): the one
 * definition reports and metrics use. No data, no interval: *lo = *hi = NAN when n <= 0 (or p is
 * NAN). _p takes the observed share p = k / n. */
void eng_wilson95(double k, double n, double *lo, double *hi);
void eng_wilson95_p(double p, double n, double *lo, double *hi);

typedef struct eng_dsmetrics {
	size_t pairs, with_image, without_image;
	double text_accuracy, mm_accuracy, sa_accuracy, shortcut_rate;
	double sfd, mm_acc_text_right, mm_acc_text_wrong; /* NaN when undefined */
	size_t n_text_right, n_text_wrong;
	double pick_longer, pick_shorter, pick_more_formatted, chosen_longer_rate;
	size_t categories[ENG_CAT_COUNT];
} eng_dsmetrics;

/* Accumulates over n pairs. p_* are (n) held-out probabilities, cat (n) categories,
 * longer/formatted (n) in {-1,0,1}, has_image (n) 0/1 (may be NULL = all 0). */
void eng_metrics_compute(size_t n, const float *p_text, const float *p_mm, const float *p_sa,
                         const uint8_t *cat, const int8_t *longer, const int8_t *formatted,
                         const uint8_t *has_image, eng_dsmetrics *out);

/* Counterfactual image test (does the MM-RM use the image?) over the pairs with mask[i] set:
 * m (true image), ms (another pair's image of the same test fold), mb (the training images' mean)
 * are held-out MM-RM margins; "right" = sigmoid(margin) > 0.5 as everywhere.
 *   swap_flip_rate     share whose preference flips with the swapped image; blank_flip_rate
 * likewise mean_image_effect  mean |m - ms| acc_true/swapped/blank  MM-RM accuracy with each image
 *   drop = acc_true - acc_swapped, with a paired 95% interval [drop_lo, drop_hi] (the same pairs
 *   both ways: Agresti-Min adjusted Wald for a difference of paired proportions, 0.5 added to each
 *   discordant count). NAN figures when n = 0. */
typedef struct eng_imgrel {
	size_t n;
	double swap_flip_rate, blank_flip_rate, mean_image_effect;
	double acc_true, acc_swapped, acc_blank, drop, drop_lo, drop_hi;
} eng_imgrel;
void eng_imgrel_compute(size_t n, const float *m, const float *ms, const float *mb,
                        const uint8_t *mask, eng_imgrel *out);
/* The same from per-pair flags (right with the true / a swapped / a blank image, 0/1) and
 * |m - ms| (what pair_scores stores): eng_imgrel_compute derives these and calls it. */
void eng_imgrel_from_flags(size_t n, const uint8_t *right, const uint8_t *right_swap,
                           const uint8_t *right_blank, const double *effect, const uint8_t *mask,
                           eng_imgrel *out);

/* SFD of predictions `right` (n, 0/1) split by text-proxy correctness `text_right` (n, 0/1). */
double eng_sfd(size_t n, const uint8_t *right, const uint8_t *text_right, double *acc_tr,
               double *acc_tw, size_t *n_tr, size_t *n_tw);

#endif
