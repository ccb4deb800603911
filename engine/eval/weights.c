/* weights.c - per-pair weights against the text shortcut and their effect (weights.h). */
#include "weights.h"

#include <math.h>
#include <string.h>

#include "err.h"

static const char *const names[] = {"none", "debias", "jtt", "sfc", "?", "auto"};

const char *eng_wmethod_name(eng_wmethod m)
{
	return (unsigned)m <= ENG_WM_AUTO ? names[m] : "?";
}

int eng_wmethod_parse(const char *s, eng_wmethod *out)
{
	for (int m = 0; s && m <= ENG_WM_AUTO; m++) {
		if (m != ENG_WM_COUNT && strcmp(s, names[m]) == 0) {
			*out = (eng_wmethod)m;
			return 0;
		}
	}
	return ENG_EINPUT;
}

double eng_jtt_lambda(size_t n_right, size_t n_wrong)
{
	return n_wrong ? (double)n_right / (double)n_wrong : NAN;
}

double eng_weight_raw(eng_wmethod m, double p_text, double sfc, double jtt_lambda)
{
	switch (m) {
	case ENG_WM_DEBIAS:
		return 1.0 - p_text;
	case ENG_WM_JTT:
		return p_text > 0.5 ? 1.0 : jtt_lambda;
	case ENG_WM_SFC:
		return sfc;
	default:
		return 1.0;
	}
}

double eng_weights_normalize(float *w, size_t n)
{
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += w[i];
	if (!(s > 0))
		return 1.0;
	double k = (double)n / s;
	for (size_t i = 0; i < n; i++)
		w[i] = (float)(w[i] * k);
	return k;
}

void eng_wstats_compute(size_t n, const float *w, const int8_t *longer, const int8_t *formatted,
                        const uint8_t *is_shortcut, eng_wstats *out)
{
	double sw = 0, sw2 = 0, pl = 0, pf = 0, cl = 0, ss = 0, so = 0;
	size_t ns = 0;
	for (size_t i = 0; i < n; i++) {
		double x = w[i];
		sw += x;
		sw2 += x * x;
		pl += x * (longer[i] > 0 ? 1.0 : longer[i] == 0 ? 0.5 : 0.0);
		pf += x * (formatted[i] > 0 ? 1.0 : formatted[i] == 0 ? 0.5 : 0.0);
		cl += x * (longer[i] > 0);
		if (is_shortcut[i]) {
			ns++;
			ss += x;
		} else {
			so += x;
		}
	}
	out->pick_longer = sw > 0 ? pl / sw : NAN;
	out->pick_more_formatted = sw > 0 ? pf / sw : NAN;
	out->chosen_longer_rate = sw > 0 ? cl / sw : NAN;
	out->ess = sw2 > 0 ? sw * sw / sw2 : 0;
	out->ess_share = n ? out->ess / (double)n : NAN;
	out->mean_w_shortcut = ns ? ss / (double)ns : NAN;
	out->mean_w_other = n > ns ? so / (double)(n - ns) : NAN;
}

double eng_weighted_share(size_t n, const float *w, const uint8_t *right)
{
	double sw = 0, sr = 0;
	for (size_t i = 0; i < n; i++) {
		sw += w[i];
		sr += right[i] ? w[i] : 0;
	}
	return sw > 0 ? sr / sw : NAN;
}
