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

/* Grows the per-pair arrays every dataset has to nc rows. 0 or -1 (the old arrays stay). */
static int grow_text(size_t nc, float **pt, uint8_t **cat, uint8_t **hasimg, int8_t **lg,
                     int8_t **fm)
{
	float *a = realloc(*pt, nc * sizeof *a);
	if (a)
		*pt = a;
	uint8_t *u1 = realloc(*cat, nc);
	if (u1)
		*cat = u1;
	uint8_t *u2 = realloc(*hasimg, nc);
	if (u2)
		*hasimg = u2;
	int8_t *i1 = realloc(*lg, nc);
	if (i1)
		*lg = i1;
	int8_t *i2 = realloc(*fm, nc);
	if (i2)
		*fm = i2;
	return a && u1 && u2 && i1 && i2 ? 0 : -1;
}

/* Grows the MM arrays to nc rows (from had rows: 0 when they are made now, and then the n rows
 * read so far are filled as pairs without MM scores: p_mm = p_sa = p_text, no sfc, not
 * image-tested). 0 or -1. */
static int grow_mm(size_t nc, size_t had, size_t n, const float *pt, float **pm, float **ps_,
                   double **sfc, double **eff, uint8_t **fl, uint8_t **mask)
{
	float *b = realloc(*pm, nc * sizeof *b);
	if (b)
		*pm = b;
	float *c = realloc(*ps_, nc * sizeof *c);
	if (c)
		*ps_ = c;
	double *d1 = realloc(*sfc, nc * sizeof *d1);
	if (d1)
		*sfc = d1;
	double *d2 = realloc(*eff, nc * sizeof *d2);
	if (d2)
		*eff = d2;
	uint8_t *u3 = realloc(*fl, 3 * nc);
	if (u3)
		*fl = u3;
	uint8_t *u4 = realloc(*mask, nc);
	if (u4)
		*mask = u4;
	if (!b || !c || !d1 || !d2 || !u3 || !u4)
		return -1;
	for (size_t i = had ? n : 0; i < n; i++) {
		(*pm)[i] = (*ps_)[i] = pt[i];
		(*sfc)[i] = NAN;
		(*eff)[i] = 0;
		(*mask)[i] = 0;
		uint8_t right = pt[i] > 0.5f;
		(*fl)[3 * i] = (*fl)[3 * i + 1] = (*fl)[3 * i + 2] = right;
	}
	return 0;
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
	/* pt, cat, hasimg, lg, fm for every dataset; the MM columns (pm, ps_, sfc, eff, fl, mask)
	 * only once a pair with MM scores appears (earlier rows filled as text-only ones): a
	 * text-only dataset of 10M pairs needs 80 MB here instead of 360 */
	float *pt = NULL, *pm = NULL, *ps_ = NULL;
	double *sfc = NULL, *eff = NULL;
	uint8_t *cat = NULL, *hasimg = NULL, *fl = NULL, *mask = NULL;
	int8_t *lg = NULL, *fm = NULL;
	int rc = 0, s, any_mm = 0;
	while ((s = sqlite3_step(q)) == SQLITE_ROW) {
		int has_mm = sqlite3_column_type(q, 1) != SQLITE_NULL;
		if (n == cap || (has_mm && !any_mm)) {
			size_t nc = n == cap ? (cap ? 2 * cap : 4096) : cap;
			if (grow_text(nc, &pt, &cat, &hasimg, &lg, &fm) ||
			    ((any_mm || has_mm) && grow_mm(nc, any_mm ? cap : 0, n, pt, &pm, &ps_,
			                                   &sfc, &eff, &fl, &mask))) {
				rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
				break;
			}
			cap = nc;
		}
		any_mm |= has_mm;
		pt[n] = (float)sqlite3_column_double(q, 0);
		const char *cn = (const char *)sqlite3_column_text(q, 4);
		cat[n] = ENG_CAT_AMBIGUOUS;
		for (int k = 0; cn && k < ENG_CAT_COUNT; k++)
			if (!strcmp(cn, eng_category_name((eng_category)k)))
				cat[n] = (uint8_t)k;
		lg[n] = sgn3(sqlite3_column_int64(q, 5), sqlite3_column_int64(q, 6));
		if (any_mm) {
			pm[n] = has_mm ? (float)sqlite3_column_double(q, 1) : pt[n];
			ps_[n] = has_mm ? (float)sqlite3_column_double(q, 2) : pt[n];
			sfc[n] = has_mm ? sqlite3_column_double(q, 3) : NAN;
			mask[n] = sqlite3_column_type(q, 8) != SQLITE_NULL;
			eff[n] = mask[n] ? sqlite3_column_double(q, 7) : 0;
			int right = pm[n] > 0.5f;
			fl[3 * n] = (uint8_t)right;
			fl[3 * n + 1] = (uint8_t)(right ^ (mask[n] && sqlite3_column_int(q, 8)));
			fl[3 * n + 2] = (uint8_t)(right ^ (mask[n] && sqlite3_column_int(q, 9)));
		}
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
		/* a text-only dataset: the MM arguments are the text figures (then nulled below) */
		eng_metrics_compute(n, pt, any_mm ? pm : pt, any_mm ? ps_ : pt, cat, lg, fm, hasimg,
		                    &m);
		if (!any_mm)
			m.mm_accuracy = m.sa_accuracy = m.sfd = m.mm_acc_text_right =
			    m.mm_acc_text_wrong = NAN;
		o = eng_score_metrics_json(&m, confident);
		json_object_set_new(o, "has_images", json_boolean(any_mm));
		dswork w = {.n = n, .has_img = any_mm};
		dsextra x = {.text_acc = m.text_accuracy};
		if (any_mm)
			r = malloc(n), rs = malloc(n), rb = malloc(n);
		sc = malloc(n);
		wt = malloc(n * sizeof *wt);
		if ((any_mm && (!r || !rs || !rb)) || !sc || !wt) {
			rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
		} else {
			for (size_t i = 0; i < n; i++) {
				if (any_mm)
					r[i] = fl[3 * i], rs[i] = fl[3 * i + 1],
					rb[i] = fl[3 * i + 2];
				sc[i] = cat[i] == ENG_CAT_TEXT_SHORTCUT;
			}
			if (any_mm)
				eng_imgrel_from_flags(n, r, rs, rb, eff, mask, &x.rel);
			x.informative = any_mm && x.rel.n > 0 && x.rel.drop_lo > min_gain;
			eng_score_image_reliance_json(o, &w, &x, min_gain);
			x.lambda = eng_jtt_lambda(m.n_text_right, m.n_text_wrong);
			for (int wm = 0; wm < ENG_WM_COUNT; wm++) {
				for (size_t i = 0; i < n; i++)
					wt[i] =
					    (float)eng_weight_raw((eng_wmethod)wm, pt[i],
					                          any_mm ? sfc[i] : NAN, x.lambda);
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
