/* scorefeat.c - the text features that drive the proxy (the mean of the fold proxies' weights):
 * eligible by how often they differ between chosen and rejected, ranked by weight, hashed ones
 * named exactly (eng_data_namer). Does not train or write anything. */
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
json_t *eng_score_top_features_counts(eng_ws *ws, const eng_data *d, size_t k, const float *full_w,
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
void eng_score_count_presence(const eng_data *d, size_t b, size_t e, const uint8_t *text_right,
                              uint32_t *present, uint32_t *right)
{
	for (size_t r = b; r < e; r++) {
		for (eng_pairset_iter it = eng_pairset_row(&d->ps, r); eng_pairset_next(&it);) {
			present[it.c]++;
			right[it.c] += text_right[r - b];
		}
	}
}

json_t *eng_score_top_features(eng_ws *ws, const eng_data *d, size_t k, const dswork *w,
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
	eng_score_count_presence(d, w->b, w->e, text_right, present, right);
	json_t *arr = eng_score_top_features_counts(ws, d, k, w->full_w, w->n, present, right, top,
	                                            ncap, cols, signs, names, nout, err);
	free(present);
	free(right);
	return arr;
}
