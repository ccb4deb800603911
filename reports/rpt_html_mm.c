/* rpt_html_mm.c - "Does the MM-RM use the image?", the SFD section and "What the weights do" in
 * report.html, from the metrics JSON keys of issue 12 (has_images, mm_informative,
 * image_reliance, weights). Shows stored figures; computes only differences to the unweighted
 * column. Does not decide whether the MM-RM is informative (the engine's counterfactual test
 * does) nor which method auto picks. */
#include "reports/rpt_html_mm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reports/rpt_gate.h"
#include "reports/rpt_svg.h"

#define N_CUES    8 /* cue rows per weights table */
#define N_METHODS 4

static const char *const methods[N_METHODS] = {"none", "debias", "jtt", "sfc"};

static double jnum(const json_t *j)
{
	return json_is_number(j) ? json_number_value(j) : NAN;
}

static void pct(rpt_buf *b, double x)
{
	if (isnan(x))
		rpt_buf_puts(b, "n/a");
	else
		rpt_buf_printf(b, "%.1f%%", 100 * x);
}

static void esc(rpt_buf *b, const char *s)
{
	rpt_buf_esc(b, s ? s : "", (size_t)-1);
}

static const char *const section_prefixes[] = {
    "image_reliance.", "mm_informative", "min_image_gain", "weights.",
    "crossdist.",      "integrity.",     "slices.",        NULL};
const char *const rpt_html_defs_image_use[] = {"mm_informative", "min_image_gain",
                                               "image_reliance.", NULL};
const char *const rpt_html_defs_weights[] = {"weights.", NULL};

static int has_prefix(const char *k, const char *const *prefixes)
{
	for (size_t i = 0; prefixes[i]; i++)
		if (!strncmp(k, prefixes[i], strlen(prefixes[i])))
			return 1;
	return 0;
}

void rpt_html_defs(rpt_buf *b, const char *const *prefixes)
{
	rpt_buf_puts(b, "<dl class=\"defs\">");
	for (size_t i = 0; i < rpt_defs_count; i++) {
		const char *k = rpt_defs[i].key;
		if (prefixes ? !has_prefix(k, prefixes) : has_prefix(k, section_prefixes))
			continue;
		rpt_buf_puts(b, "<dt>");
		esc(b, rpt_defs[i].label);
		rpt_buf_puts(b, "</dt><dd>");
		esc(b, rpt_defs[i].definition);
		rpt_buf_puts(b, "</dd>");
	}
	rpt_buf_puts(b, "</dl>");
}

void rpt_html_ni_label(rpt_buf *b)
{
	rpt_buf_puts(b, "<br><span class=\"nilab\" title=\"" RPT_NOT_INFORMATIVE_WHY
	                "\">" RPT_NOT_INFORMATIVE "<a href=\"#ni-note\">\xe2\x80\xa0</a></span>");
}

static const char *fmt_pct(double x, char *buf, size_t cap)
{
	if (isnan(x))
		snprintf(buf, cap, "n/a");
	else
		snprintf(buf, cap, "%.1f%%", 100 * x);
	return buf;
}

/* ---- SFD ---- */

/* SFD figures are drawn only where the MM-RM uses the image (or where no test was run: older
 * runs); a text-only dataset's would be true by construction. */
static int sfd_drawn(const rpt_dataset *d)
{
	int s = rpt_mm_status(d);
	return s == RPT_MM_INFORMATIVE || s == RPT_MM_UNKNOWN;
}

static void sfd_row(rpt_buf *b, const rpt_dataset *d)
{
	double r = rpt_metric(d, "mm_acc_text_right"), w = rpt_metric(d, "mm_acc_text_wrong");
	double a = rpt_metric(d, "n_text_right"), c = rpt_metric(d, "n_text_wrong");
	int64_t nr = isnan(a) ? 0 : (int64_t)a, nw = isnan(c) ? 0 : (int64_t)c;
	int s = rpt_mm_status(d), ni = s == RPT_MM_NOT_INFORMATIVE;
	char s1[32], s2[32];
	rpt_buf_puts(b, "<tr><th scope=\"row\">");
	rpt_buf_esc(b, d->name, (size_t)-1);
	rpt_buf_puts(b, "</th>");
	if (s == RPT_MM_NO_IMAGES) {
		rpt_buf_puts(b, "<td class=\"num noimgs\" colspan=\"3\">" RPT_NA_NO_IMAGES
		                "</td></tr>");
		return;
	}
	const char *cls = ni ? "num ni" : "num";
	rpt_buf_printf(b, "<td class=\"%s\">%s (%lld)</td><td class=\"%s\">%s (%lld)</td>", cls,
	               fmt_pct(r, s1, sizeof s1), (long long)nr, cls, fmt_pct(w, s2, sizeof s2),
	               (long long)nw);
	rpt_buf_printf(b, "<td class=\"%s\">", cls);
	if (isnan(r) || isnan(w))
		rpt_buf_puts(b, "n/a");
	else
		rpt_buf_printf(b, "%+.1f pts", 100 * (r - w));
	if (ni)
		rpt_html_ni_label(b);
	rpt_buf_puts(b, "</td></tr>");
}

void rpt_html_sfd(rpt_buf *b, const rpt_state *st)
{
	size_t n = 0, shown = 0;
	const char **names = calloc(st->n_ds + 1, sizeof *names);
	double *r = calloc(st->n_ds + 1, sizeof *r), *w = calloc(st->n_ds + 1, sizeof *w);
	int64_t *nr = calloc(st->n_ds + 1, sizeof *nr), *nw = calloc(st->n_ds + 1, sizeof *nw);
	rpt_buf_puts(b, "<section id=\"sfd\"><h2>SFD: where the text shortcut fails</h2><p>MM-RM "
	                "accuracy on pairs where the text-only proxy is right (left) and wrong "
	                "(right). A steep drop means the multimodal model leans on the text "
	                "shortcut. Drawn only where the MM-RM uses the image.</p>");
	if (!names || !r || !w || !nr || !nw) {
		b->oom = 1;
		goto out;
	}
	for (size_t i = 0; i < st->n_ds; i++) {
		const rpt_dataset *d = &st->ds[i];
		if (!d->run_id)
			continue;
		shown++;
		if (!sfd_drawn(d))
			continue;
		names[n] = d->name;
		r[n] = rpt_metric(d, "mm_acc_text_right");
		w[n] = rpt_metric(d, "mm_acc_text_wrong");
		double a = rpt_metric(d, "n_text_right"), c = rpt_metric(d, "n_text_wrong");
		nr[n] = isnan(a) ? 0 : (int64_t)a;
		nw[n] = isnan(c) ? 0 : (int64_t)c;
		n++;
	}
	if (n) {
		rpt_buf_puts(b, "<figure>");
		rpt_svg_slope(b, n, names, r, w, nr, nw);
		rpt_buf_puts(b, "</figure>");
	}
	/* One sentence per dataset left out of the chart: why, and what to do. */
	if (n < shown) {
		rpt_buf_puts(b, "<ul>");
		for (size_t i = 0; i < st->n_ds; i++) {
			const rpt_dataset *d = &st->ds[i];
			if (!d->run_id || sfd_drawn(d))
				continue;
			rpt_buf_puts(b, "<li><strong>");
			rpt_buf_esc(b, d->name, (size_t)-1);
			if (rpt_mm_status(d) == RPT_MM_NO_IMAGES)
				rpt_buf_puts(b,
				             "</strong>: not drawn, " RPT_NA_NO_IMAGES ": no MM-RM "
				             "is trained without images, and an SFD there would be "
				             "true by construction.</li>");
			else
				rpt_buf_puts(
				    b, "</strong>: not drawn, " RPT_NOT_INFORMATIVE ": the "
				       "MM-RM does not use the image with the built-in "
				       "colour/texture features, so its SFD describes the "
				       "tool's own text proxy. Bring your encoder's embeddings "
				       "(<code>mmaudit embed</code>) and score again.</li>");
		}
		rpt_buf_puts(b, "</ul>");
	}
	rpt_buf_puts(b,
	             "<table><caption>SFD per dataset</caption><thead><tr><th scope="
	             "\"col\">Dataset</th><th scope=\"col\" class=\"num\">MM-RM acc. where text "
	             "right (n)</th><th scope=\"col\" class=\"num\">where text wrong (n)</th><th "
	             "scope=\"col\" class=\"num\">SFD</th></tr></thead><tbody>");
	for (size_t i = 0; i < st->n_ds; i++)
		if (st->ds[i].run_id)
			sfd_row(b, &st->ds[i]);
	rpt_buf_puts(b, "</tbody></table>");
out:
	rpt_buf_puts(b, "</section>\n");
	free(names);
	free(r);
	free(w);
	free(nr);
	free(nw);
}

/* ---- Does the MM-RM use the image? ---- */

static void reliance_row(rpt_buf *b, const rpt_dataset *d, const json_t *ir)
{
	int st = rpt_mm_status(d);
	const json_t *ci = json_object_get(ir, "swap_accuracy_drop_ci95");
	double lo = jnum(json_array_get(ci, 0)), hi = jnum(json_array_get(ci, 1));
	double n = jnum(json_object_get(ir, "n")),
	       drop = jnum(json_object_get(ir, "swap_accuracy_drop"));
	rpt_buf_puts(b, "<tr><th scope=\"row\">");
	esc(b, d->name);
	rpt_buf_puts(b, "</th><td class=\"num\">");
	if (isnan(n))
		rpt_buf_puts(b, "n/a");
	else {
		char s[32];
		rpt_fmt_count((int64_t)n, s, sizeof s);
		rpt_buf_puts(b, s);
	}
	static const char *const rates[] = {"swap_flip_rate", "blank_flip_rate", "mm_accuracy_true",
	                                    "mm_accuracy_swapped", "mm_accuracy_blank"};
	for (size_t k = 0; k < sizeof rates / sizeof rates[0]; k++) {
		rpt_buf_puts(b, "</td><td class=\"num\">");
		pct(b, jnum(json_object_get(ir, rates[k])));
	}
	double eff = jnum(json_object_get(ir, "mean_image_effect"));
	if (isnan(eff))
		rpt_buf_puts(b, "</td><td class=\"num\">n/a");
	else
		rpt_buf_printf(b, "</td><td class=\"num\">%.3f", eff);
	rpt_buf_puts(b, "</td><td class=\"num\">");
	if (isnan(drop))
		rpt_buf_puts(b, "n/a");
	else
		rpt_buf_printf(b, "%+.1f pts", 100 * drop);
	if (!isnan(lo) && !isnan(hi))
		rpt_buf_printf(b, "<br><small>95%% CI %+.1f to %+.1f</small>", 100 * lo, 100 * hi);
	rpt_buf_printf(b, "</td><td>%s</td></tr>",
	               st == RPT_MM_INFORMATIVE ? "\xe2\x9c\x93 uses the image"
	               : st == RPT_MM_NOT_INFORMATIVE
	                   ? "\xe2\x9c\x97 does not use the image: <strong>not informative</strong>"
	                   : "\xe2\x80\x93 no verdict recorded");
}

void rpt_html_image_use(rpt_buf *b, const rpt_state *st)
{
	rpt_buf_puts(b, "<section id=\"image-use\"><h2>Does the MM-RM use the image?</h2><p>The "
	                "counterfactual image test scores every held-out pair again with another "
	                "pair's image (same test fold) and with a blank image. If the MM-RM's "
	                "preferences and accuracy do not move, it does not use the image, and SFD, "
	                "needs-image and the shortcut-aware figures are not findings about the "
	                "data.</p>");
	size_t rows = 0;
	for (size_t i = 0; i < st->n_ds; i++) {
		const rpt_dataset *d = &st->ds[i];
		const json_t *ir = rpt_metric_json(d, "image_reliance");
		if (!d->run_id || !rpt_has_images(d) || !json_is_object(ir))
			continue;
		if (!rows++)
			rpt_buf_puts(
			    b,
			    "<table><caption>Counterfactual image test per dataset (MM-RM "
			    "held-out margins re-scored)</caption><thead><tr><th scope=\"col\">"
			    "Dataset</th><th scope=\"col\" class=\"num\">n</th><th scope=\"col\" "
			    "class=\"num\">Swap flip rate</th><th scope=\"col\" class=\"num\">"
			    "Blank flip rate</th><th scope=\"col\" class=\"num\">Acc. true "
			    "image</th><th scope=\"col\" class=\"num\">Acc. swapped</th><th "
			    "scope=\"col\" class=\"num\">Acc. blank</th><th scope=\"col\" "
			    "class=\"num\">Mean image effect</th><th scope=\"col\" class=\"num\">"
			    "Accuracy drop (true - swapped)</th><th scope=\"col\">Verdict</th>"
			    "</tr></thead><tbody>");
		reliance_row(b, d, ir);
	}
	if (rows)
		rpt_buf_puts(b, "</tbody></table>");
	rpt_buf_puts(b, "<ul>");
	for (size_t i = 0; i < st->n_ds; i++) {
		const rpt_dataset *d = &st->ds[i];
		if (!d->run_id)
			continue;
		int s = rpt_mm_status(d);
		const char *why = json_string_value(rpt_metric_json(d, "mm_informative_reason"));
		double gain = rpt_metric(d, "min_image_gain");
		rpt_buf_puts(b, "<li><strong>");
		esc(b, d->name);
		rpt_buf_puts(b, "</strong>: ");
		if (s == RPT_MM_NO_IMAGES)
			rpt_buf_puts(b,
			             "no images, so no MM-RM was trained and there is nothing to "
			             "test (" RPT_NA_NO_IMAGES ").");
		else if (s == RPT_MM_UNKNOWN && !why)
			rpt_buf_puts(b,
			             "not tested: the score run predates the counterfactual image "
			             "test; its MM figures are shown as before. Score again to "
			             "test.");
		else {
			if (s == RPT_MM_INFORMATIVE)
				rpt_buf_puts(b, "uses the image: ");
			else if (s == RPT_MM_NOT_INFORMATIVE)
				rpt_buf_puts(b, "<strong>" RPT_NOT_INFORMATIVE "</strong>: ");
			esc(b, why);
			if (why && *why && why[strlen(why) - 1] != '.')
				rpt_buf_puts(b, ".");
			if (!isnan(gain) && (!why || !strstr(why, "min-image-gain")))
				rpt_buf_printf(
				    b, " <small>(threshold --min-image-gain %.3g)</small>", gain);
			if (s == RPT_MM_NOT_INFORMATIVE)
				rpt_buf_puts(
				    b, " Fix: compute image and answer embeddings with the "
				       "encoder you train with (<code>mmaudit embed</code>) and "
				       "score again.");
		}
		rpt_buf_puts(b, "</li>");
	}
	rpt_buf_puts(b, "</ul><h3>Definitions</h3>");
	rpt_html_defs(b, rpt_html_defs_image_use);
	rpt_buf_puts(b, "</section>\n");
}

/* ---- What the weights do ---- */

typedef struct wcol {
	const char *name;
	const json_t *m; /* weights.<name> */
	int available, informative, is_auto;
} wcol;

/* Columns: none, then the method auto picked, then the others in the fixed order. */
static size_t weight_columns(const json_t *w, wcol cols[N_METHODS])
{
	const char *aut = json_string_value(json_object_get(w, "auto"));
	const char *order[N_METHODS];
	size_t n = 0;
	order[n++] = "none";
	if (aut && strcmp(aut, "none"))
		for (size_t k = 1; k < N_METHODS; k++)
			if (!strcmp(aut, methods[k]))
				order[n++] = methods[k];
	for (size_t k = 1; k < N_METHODS; k++)
		if (!aut || strcmp(aut, methods[k]))
			order[n++] = methods[k];
	size_t c = 0;
	for (size_t k = 0; k < n; k++) {
		const json_t *m = json_object_get(w, order[k]);
		if (!json_is_object(m))
			continue;
		const json_t *inf = json_object_get(m, "informative");
		cols[c].name = order[k];
		cols[c].m = m;
		cols[c].available = json_is_true(json_object_get(m, "available"));
		cols[c].informative = !json_is_false(inf);
		cols[c].is_auto = aut && !strcmp(aut, order[k]);
		c++;
	}
	return c;
}

/* A cue's chosen-side share in method m; NAN when the method does not list it. */
static double cue_share(const json_t *m, const char *feature, double *present)
{
	const json_t *cues = json_object_get(m, "cues");
	for (size_t i = 0; i < json_array_size(cues); i++) {
		const json_t *c = json_array_get(cues, i);
		const char *f = json_string_value(json_object_get(c, "feature"));
		if (f && !strcmp(f, feature)) {
			if (present)
				*present = jnum(json_object_get(c, "present_share"));
			return jnum(json_object_get(c, "chosen_share"));
		}
	}
	return NAN;
}

enum { ROW_PCT, ROW_REFIT, ROW_ESS, ROW_WEIGHT };

/* One cell of column c: the value, and for the weighted columns its change from none. */
static void weight_cell(rpt_buf *b, const wcol *c, int kind, double v, double base,
                        const json_t *ci)
{
	rpt_buf_printf(b, "<td class=\"num%s\">", c->informative ? "" : " ni");
	if (kind == ROW_WEIGHT) {
		if (isnan(v))
			rpt_buf_puts(b, "n/a");
		else
			rpt_buf_printf(b, "%.3f", v);
	} else if (kind == ROW_ESS) {
		double share = jnum(json_object_get(c->m, "ess_share"));
		if (isnan(v))
			rpt_buf_puts(b, "n/a");
		else {
			char s[32];
			rpt_fmt_count((int64_t)llround(v), s, sizeof s);
			rpt_buf_puts(b, s);
		}
		if (!isnan(share))
			rpt_buf_printf(b, "<br><small>%.1f%% of n</small>", 100 * share);
	} else {
		pct(b, v);
		if (strcmp(c->name, "none") && !isnan(v) && !isnan(base))
			rpt_buf_printf(b, " <small>(%+.1f)</small>", 100 * (v - base));
		double lo = jnum(json_array_get(ci, 0)), hi = jnum(json_array_get(ci, 1));
		if (kind == ROW_REFIT && !isnan(lo) && !isnan(hi))
			rpt_buf_printf(b, "<br><small>95%% CI %.1f\xe2\x80\x93%.1f</small>",
			               100 * lo, 100 * hi);
	}
	rpt_buf_puts(b, "</td>");
}

/* One table row: label, then a cell per available column (unavailable ones are one rowspan cell
 * written on the first row). */
static void weight_row(rpt_buf *b, const wcol *cols, size_t nc, size_t n_rows, int first,
                       const char *label_html, int kind, const char *key, const char *cue)
{
	rpt_buf_printf(b, "<tr><th scope=\"row\">%s</th>", label_html);
	double base = NAN;
	for (size_t k = 0; k < nc; k++) {
		const wcol *c = &cols[k];
		if (!c->available) {
			if (first) {
				rpt_buf_printf(
				    b,
				    "<td class=\"unavail\" rowspan=\"%zu\">unavailable: ", n_rows);
				esc(b, json_string_value(json_object_get(c->m, "reason")));
				rpt_buf_puts(b, "</td>");
			}
			continue;
		}
		double v = cue ? cue_share(c->m, cue, NULL) : jnum(json_object_get(c->m, key));
		if (!strcmp(c->name, "none"))
			base = v;
		char cik[64];
		snprintf(cik, sizeof cik, "%s_ci95", key ? key : "");
		weight_cell(b, c, kind, v, base, key ? json_object_get(c->m, cik) : NULL);
	}
	rpt_buf_puts(b, "</tr>");
}

/* The sentence under a dataset's table: which method lowers the re-fit text accuracy wholly
 * below the unweighted one, or that none does. */
static void weights_verdict(rpt_buf *b, const wcol *cols, size_t nc)
{
	double base = NAN;
	const wcol *best = NULL;
	double best_v = NAN;
	for (size_t k = 0; k < nc; k++)
		if (!strcmp(cols[k].name, "none") && cols[k].available)
			base = jnum(json_object_get(cols[k].m, "refit_text_accuracy"));
	for (size_t k = 0; k < nc; k++) {
		const wcol *c = &cols[k];
		if (!c->available || !c->informative || !strcmp(c->name, "none"))
			continue;
		double v = jnum(json_object_get(c->m, "refit_text_accuracy"));
		double hi =
		    jnum(json_array_get(json_object_get(c->m, "refit_text_accuracy_ci95"), 1));
		if (!isnan(base) && !isnan(hi) && hi < base && (isnan(best_v) || v < best_v)) {
			best = c;
			best_v = v;
		}
	}
	if (isnan(base))
		return;
	if (!best) {
		rpt_buf_printf(b,
		               "<p><strong>No method helps here</strong>: none brings the re-fit "
		               "text-only accuracy wholly below the unweighted %.1f%% (its 95%% "
		               "interval). The weights do not remove this dataset's text shortcut; "
		               "length-balance or relabel the pairs instead.</p>",
		               100 * base);
		return;
	}
	double share = jnum(json_object_get(best->m, "ess_share"));
	rpt_buf_printf(b,
	               "<p>Lowest re-fit text-only accuracy: <strong>%s</strong>, %.1f%% against "
	               "%.1f%% unweighted (its 95%% interval lies wholly below)",
	               best->name, 100 * best_v, 100 * base);
	if (!isnan(share))
		rpt_buf_printf(b, ", keeping an effective sample of %.1f%% of the pairs",
		               100 * share);
	rpt_buf_puts(b, ".</p>");
}

static void weights_table(rpt_buf *b, const rpt_dataset *d, const json_t *w)
{
	wcol cols[N_METHODS];
	size_t nc = weight_columns(w, cols);
	const char *aut = json_string_value(json_object_get(w, "auto"));
	const char *why = json_string_value(json_object_get(w, "auto_reason"));
	rpt_buf_puts(b, "<p><code>auto</code> picked <strong>");
	esc(b, aut ? aut : "(not recorded)");
	rpt_buf_puts(b, "</strong>");
	if (why) {
		rpt_buf_puts(b, ": ");
		esc(b, why);
	}
	rpt_buf_puts(b, "</p>");
	if (!nc) {
		rpt_buf_puts(b, "<p>No method was evaluated.</p>");
		return;
	}
	/* Cue rows: the features the unweighted column lists (else the first available one). */
	const json_t *cue_src = NULL;
	for (size_t k = 0; k < nc && !cue_src; k++)
		if (cols[k].available && json_array_size(json_object_get(cols[k].m, "cues")))
			cue_src = json_object_get(cols[k].m, "cues");
	size_t n_cues = json_array_size(cue_src) < N_CUES ? json_array_size(cue_src) : N_CUES;
	size_t n_rows = 7 + n_cues;
	rpt_buf_puts(b,
	             "<table class=\"wt\"><caption>Before (none) and after each weighting method, "
	             "weighted over the pairs of ");
	esc(b, d->name);
	rpt_buf_puts(b, "; (+x) = change from none in points</caption><thead><tr><th scope=\"col\">"
	                "Measure</th>");
	int any_ni = 0;
	for (size_t k = 0; k < nc; k++) {
		rpt_buf_printf(b, "<th scope=\"col\" class=\"num\">%s", cols[k].name);
		if (!strcmp(cols[k].name, "none"))
			rpt_buf_puts(b, "<br><small>before</small>");
		if (cols[k].is_auto)
			rpt_buf_puts(b, "<br><small>picked by auto</small>");
		if (cols[k].available && !cols[k].informative) {
			rpt_buf_puts(b,
			             "<br><small class=\"nilab\" title=\"" RPT_NOT_INFORMATIVE_WHY
			             "\">" RPT_NOT_INFORMATIVE "\xe2\x80\xa0</small>");
			any_ni = 1;
		}
		rpt_buf_puts(b, "</th>");
	}
	rpt_buf_puts(b, "</tr></thead><tbody>");
	weight_row(b, cols, nc, n_rows, 1, "weighted pick-longer", ROW_PCT, "pick_longer", NULL);
	weight_row(b, cols, nc, n_rows, 0, "weighted pick-more-formatted", ROW_PCT,
	           "pick_more_formatted", NULL);
	weight_row(b, cols, nc, n_rows, 0, "weighted chosen-longer rate", ROW_PCT,
	           "chosen_longer_rate", NULL);
	for (size_t i = 0; i < n_cues; i++) {
		const char *f =
		    json_string_value(json_object_get(json_array_get(cue_src, i), "feature"));
		double present = jnum(json_object_get(json_array_get(cue_src, i), "present_share"));
		rpt_buf lab = {0};
		rpt_buf_puts(&lab, "chosen-side share of cue <code>");
		esc(&lab, f);
		rpt_buf_puts(&lab, "</code>");
		if (!isnan(present))
			rpt_buf_printf(&lab, " <small>(present in %.1f%%)</small>", 100 * present);
		weight_row(b, cols, nc, n_rows, 0, lab.oom ? "cue" : lab.p, ROW_PCT, NULL,
		           f ? f : "");
		if (lab.oom)
			b->oom = 1;
		rpt_buf_free(&lab);
	}
	weight_row(b, cols, nc, n_rows, 0, "re-fit text-only accuracy", ROW_REFIT,
	           "refit_text_accuracy", NULL);
	weight_row(b, cols, nc, n_rows, 0, "effective sample size (ess)", ROW_ESS, "ess", NULL);
	weight_row(b, cols, nc, n_rows, 0, "mean weight, text-shortcut pairs", ROW_WEIGHT,
	           "mean_weight_text_shortcut", NULL);
	weight_row(b, cols, nc, n_rows, 0, "mean weight, other pairs", ROW_WEIGHT,
	           "mean_weight_other", NULL);
	rpt_buf_puts(b, "</tbody></table>");
	if (any_ni)
		rpt_buf_puts(b,
		             "<p><small>\xe2\x80\xa0 not informative: the sfc weights come from an "
		             "MM-RM that does not use the image here, so they describe the tool's "
		             "own text proxy, not the data (fix: <code>mmaudit embed</code> with "
		             "your own encoder).</small></p>");
	weights_verdict(b, cols, nc);
}

void rpt_html_weights(rpt_buf *b, const rpt_state *st)
{
	rpt_buf_puts(b, "<section id=\"weights\"><h2>What the weights do</h2><p>Each weighting "
	                "method (<code>mmaudit weights --method</code>) judged on the data it "
	                "weights: the blind baselines and the top cues should move toward 50%, the "
	                "re-fit text-only proxy should lose its accuracy, and the effective sample "
	                "size says how much data is left.</p>");
	for (size_t i = 0; i < st->n_ds; i++) {
		const rpt_dataset *d = &st->ds[i];
		if (!d->run_id)
			continue;
		rpt_buf_puts(b, "<h3>");
		esc(b, d->name);
		rpt_buf_puts(b, "</h3>");
		const json_t *w = rpt_metric_json(d, "weights");
		if (!json_is_object(w)) {
			rpt_buf_puts(b, "<p>Not evaluated: the score run predates the weights "
			                "evaluation. Score again to see it.</p>");
			continue;
		}
		weights_table(b, d, w);
	}
	rpt_buf_puts(b, "<h3>Definitions</h3>");
	rpt_html_defs(b, rpt_html_defs_weights);
	rpt_buf_puts(b, "</section>\n");
}
