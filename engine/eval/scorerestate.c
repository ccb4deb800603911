/* scorerestate.c - a dataset's metrics restated from its stored pair_scores under another
 * confidence threshold (merge of scored shards). Does not train or rescore. */
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
#include "workspace_sql.h"

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
		o = eng_score_metrics_json(&m, confident);
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
			eng_score_image_reliance_json(o, &w, &x, min_gain);
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
			json_object_set_new(o, "weights",
			                    eng_score_weights_json(NULL, &w, &x, none));
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
