/* metrics.c - categories, SFD, Wilson intervals, blind baselines. Definitions in metrics.h. */
#include "metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *eng_category_name(eng_category c)
{
	static const char *names[] = {"text-shortcut", "needs-image", "suspect-label", "ambiguous"};
	return (unsigned)c < ENG_CAT_COUNT ? names[c] : "?";
}

eng_category eng_category_of(double p_text, double p_mm, double confident)
{
	if (p_text <= 1.0 - confident && p_mm <= 1.0 - confident)
		return ENG_CAT_SUSPECT_LABEL;
	if (p_text >= confident)
		return ENG_CAT_TEXT_SHORTCUT;
	if (p_text < 0.5 && p_mm > 0.5)
		return ENG_CAT_NEEDS_IMAGE;
	return ENG_CAT_AMBIGUOUS;
}

void eng_wilson95_p(double p, double n, double *lo, double *hi)
{
	if (!(n > 0) || isnan(p)) {
		*lo = *hi = NAN;
		return;
	}
	/* Wilson (1927): (p + z^2/2n +- z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n), z = 1.96. */
	const double z = 1.959963984540054, z2 = z * z;
	double c = (p + z2 / (2 * n)) / (1 + z2 / n);
	double h = z * sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n);
	*lo = c - h < 0 ? 0 : c - h;
	*hi = c + h > 1 ? 1 : c + h;
}

void eng_wilson95(double k, double n, double *lo, double *hi)
{
	eng_wilson95_p(n > 0 ? k / n : NAN, n, lo, hi);
}

double eng_sfd(size_t n, const uint8_t *right, const uint8_t *text_right, double *acc_tr,
               double *acc_tw, size_t *n_tr, size_t *n_tw)
{
	size_t a = 0, na = 0, b = 0, nb = 0;
	for (size_t i = 0; i < n; i++) {
		if (text_right[i]) {
			na++;
			a += right[i] != 0;
		} else {
			nb++;
			b += right[i] != 0;
		}
	}
	double x = na ? (double)a / na : NAN, y = nb ? (double)b / nb : NAN;
	if (acc_tr)
		*acc_tr = x;
	if (acc_tw)
		*acc_tw = y;
	if (n_tr)
		*n_tr = na;
	if (n_tw)
		*n_tw = nb;
	return (na && nb) ? x - y : NAN;
}

void eng_metrics_compute(size_t n, const float *p_text, const float *p_mm, const float *p_sa,
                         const uint8_t *cat, const int8_t *longer, const int8_t *formatted,
                         const uint8_t *has_image, eng_dsmetrics *out)
{
	memset(out, 0, sizeof *out);
	out->pairs = n;
	double t = 0, m = 0, s = 0, pl = 0, pf = 0, cl = 0;
	size_t a = 0, na = 0, b = 0, nb = 0;
	for (size_t i = 0; i < n; i++) {
		int tr = p_text[i] > 0.5f, mr = p_mm[i] > 0.5f;
		t += tr;
		m += mr;
		s += p_sa[i] > 0.5f;
		if (tr) {
			na++;
			a += mr;
		} else {
			nb++;
			b += mr;
		}
		pl += longer[i] > 0 ? 1.0 : longer[i] == 0 ? 0.5 : 0.0;
		cl += longer[i] > 0;
		pf += formatted[i] > 0 ? 1.0 : formatted[i] == 0 ? 0.5 : 0.0;
		if (cat[i] < ENG_CAT_COUNT)
			out->categories[cat[i]]++;
		if (has_image && has_image[i])
			out->with_image++;
	}
	out->without_image = n - out->with_image;
	double dn = n ? (double)n : NAN;
	out->text_accuracy = t / dn;
	out->mm_accuracy = m / dn;
	out->sa_accuracy = s / dn;
	out->shortcut_rate = out->categories[ENG_CAT_TEXT_SHORTCUT] / dn;
	out->n_text_right = na;
	out->n_text_wrong = nb;
	out->mm_acc_text_right = na ? (double)a / na : NAN;
	out->mm_acc_text_wrong = nb ? (double)b / nb : NAN;
	out->sfd = (na && nb) ? out->mm_acc_text_right - out->mm_acc_text_wrong : NAN;
	out->pick_longer = pl / dn;
	out->pick_shorter = n ? 1.0 - pl / dn : NAN;
	out->pick_more_formatted = pf / dn;
	out->chosen_longer_rate = cl / dn;
}

void eng_imgrel_compute(size_t n, const float *m, const float *ms, const float *mb,
                        const uint8_t *mask, eng_imgrel *out)
{
	uint8_t *f = malloc(n ? 3 * n : 1);
	double *e = malloc((n ? n : 1) * sizeof *e);
	if (!f || !e) { /* tiny; on failure the figures are unknown */
		free(f);
		free(e);
		memset(out, 0, sizeof *out);
		out->swap_flip_rate = out->blank_flip_rate = out->mean_image_effect = NAN;
		out->acc_true = out->acc_swapped = out->acc_blank = NAN;
		out->drop = out->drop_lo = out->drop_hi = NAN;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		f[i] = eng_sigmoid(m[i]) > 0.5;
		f[n + i] = eng_sigmoid(ms[i]) > 0.5;
		f[2 * n + i] = eng_sigmoid(mb[i]) > 0.5;
		e[i] = fabs((double)m[i] - (double)ms[i]);
	}
	eng_imgrel_from_flags(n, f, f + n, f + 2 * n, e, mask, out);
	free(f);
	free(e);
}

void eng_imgrel_from_flags(size_t n, const uint8_t *right, const uint8_t *right_swap,
                           const uint8_t *right_blank, const double *effect, const uint8_t *mask,
                           eng_imgrel *out)
{
	size_t k = 0, fs = 0, fb = 0, rt = 0, rs = 0, rb = 0, b = 0, c = 0;
	double eff = 0;
	for (size_t i = 0; i < n; i++) {
		if (!mask[i])
			continue;
		int t = right[i] != 0, s = right_swap[i] != 0, z = right_blank[i] != 0;
		k++;
		fs += t != s;
		fb += t != z;
		rt += t;
		rs += s;
		rb += z;
		b += t && !s;
		c += !t && s;
		eff += effect[i];
	}
	memset(out, 0, sizeof *out);
	out->n = k;
	double dk = k ? (double)k : NAN;
	out->swap_flip_rate = (double)fs / dk;
	out->blank_flip_rate = (double)fb / dk;
	out->mean_image_effect = eff / dk;
	out->acc_true = (double)rt / dk;
	out->acc_swapped = (double)rs / dk;
	out->acc_blank = (double)rb / dk;
	out->drop = out->acc_true - out->acc_swapped;
	if (!k) {
		out->drop_lo = out->drop_hi = NAN;
		return;
	}
	/* Agresti & Min (2005): add 0.5 to each discordant cell (n + 2 in all) */
	const double z = 1.959963984540054;
	double bb = (double)b + 0.5, cc = (double)c + 0.5, nn = (double)k + 2;
	double dd = (bb - cc) / nn, se = sqrt((bb + cc) - (bb - cc) * (bb - cc) / nn) / nn;
	out->drop_lo = dd - z * se < -1 ? -1 : dd - z * se;
	out->drop_hi = dd + z * se > 1 ? 1 : dd + z * se;
}
