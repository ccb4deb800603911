/* rpt_html_xd.c - "Cross-distribution generalization" in report.html: which training method
 * generalizes to the other datasets, from what `mmaudit crossdist` stored (keys: rpt_html_xd.h,
 * README "summary.json"). Does not rank, bootstrap or choose anything itself: the ranking, the
 * intervals, the recommendation and the leave-one-environment-out selection are the engine's;
 * this file lays them out and refuses to word a claim the stored interval does not support. */
#include "reports/rpt_html_xd.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reports/rpt_html_mm.h"
#include "reports/rpt_svg.h"

#define MAX_METHODS 16

/* What each method is, in a few words (the engine's method names). */
static const struct method_info {
	const char *key, *label, *def;
} infos[] = {
    {"text", "text-only proxy",
     "the text-only Bradley-Terry model (prompt and answer text, no image): how far the text "
     "shortcut alone gets; a reference, not a candidate"},
    {"standard", "standard MM-RM",
     "the multimodal reward model trained on the plain preference loss"},
    {"shortcut-aware", "shortcut-aware MM-RM",
     "the paper's method: each pair weighted by the text proxy's share of the loss, "
     "w = eps/2 + L_t / (eps + L_t + L)"},
    {"poe", "product of experts",
     "product of experts with the text-only proxy: trained on the MM margin plus the detached "
     "text margin, scored with the MM branch alone"},
    {"debias", "example reweighting", "examples reweighted by 1 - p_text of a detached text proxy"},
    {"jtt", "just train twice",
     "the text proxy's training errors upweighted, then the MM-RM trained again"},
};

static const struct method_info *info_of(const char *key)
{
	for (size_t i = 0; i < sizeof infos / sizeof infos[0]; i++)
		if (!strcmp(infos[i].key, key))
			return &infos[i];
	return NULL;
}

static double jnum(const json_t *j)
{
	return json_is_number(j) ? json_number_value(j) : NAN;
}

static void esc(rpt_buf *b, const char *s)
{
	rpt_buf_esc(b, s ? s : "", (size_t)-1);
}

static void pct(rpt_buf *b, double x)
{
	if (isnan(x))
		rpt_buf_puts(b, "n/a");
	else
		rpt_buf_printf(b, "%.1f%%", 100 * x);
}

/* ci95 as "95% CI 79.6–81.7" (rates) or "95% CI +7.6 to +9.9" (points); nothing when absent. */
static void ci(rpt_buf *b, const json_t *iv, int points)
{
	double lo = jnum(json_array_get(iv, 0)), hi = jnum(json_array_get(iv, 1));
	if (isnan(lo) || isnan(hi))
		return;
	if (points)
		rpt_buf_printf(b, "<br><small>95%% CI %+.1f to %+.1f</small>", 100 * lo, 100 * hi);
	else
		rpt_buf_printf(b, "<br><small>95%% CI %.1f\xe2\x80\x93%.1f</small>", 100 * lo,
		               100 * hi);
}

/* "poe — product of experts", or the label alone when it holds the name ("standard MM-RM"). */
static void heading(rpt_buf *b, const char *key, const struct method_info *in)
{
	if (!in || strstr(in->label, key)) {
		esc(b, in ? in->label : key);
		return;
	}
	esc(b, key);
	rpt_buf_puts(b, " \xe2\x80\x94 ");
	esc(b, in->label);
}

/* Method name with its label; def adds the definition on a second line. */
static void method_name(rpt_buf *b, const char *key, int def)
{
	const struct method_info *in = info_of(key);
	rpt_buf_puts(b, "<strong>");
	heading(b, key, in);
	rpt_buf_puts(b, "</strong>");
	if (def && in) {
		rpt_buf_puts(b, "<br><small>");
		esc(b, in->def);
		rpt_buf_puts(b, "</small>");
	}
}

typedef struct xd {
	const json_t *cd, *methods;
	size_t d;
	const char **names;
	double *acc;
	int64_t *n;
	const char *keys[MAX_METHODS];
	size_t nk;
} xd;

/* Methods in display order: the ranking (best o.o.d. mean first), then the rest (the text
 * proxy) in the stored order. Runs without a ranking: text, standard, shortcut-aware, others. */
static void order_methods(xd *x)
{
	const json_t *rk = json_object_get(x->cd, "ranking");
	size_t i;
	const json_t *e;
	x->nk = 0;
	if (json_is_array(rk)) {
		json_array_foreach(rk, i, e)
		{
			const char *m = json_string_value(json_object_get(e, "method"));
			if (m && json_object_get(x->methods, m) && x->nk < MAX_METHODS)
				x->keys[x->nk++] = m;
		}
	} else {
		static const char *first[] = {"text", "standard", "shortcut-aware"};
		for (size_t k = 0; k < 3; k++)
			if (json_object_get(x->methods, first[k]))
				x->keys[x->nk++] = first[k];
	}
	const char *key;
	const json_t *val;
	json_object_foreach((json_t *)x->methods, key, val)
	{
		int seen = 0;
		for (size_t k = 0; k < x->nk; k++)
			seen |= !strcmp(x->keys[k], key);
		if (!seen && x->nk < MAX_METHODS)
			x->keys[x->nk++] = key;
	}
}

/* ---- the recommendation and the held-out selection ---- */

/* Whether the run says a method beats standard and the stored gain interval agrees (lower end
 * above 0): the only case the report words as a win. */
static int rec_beats(const json_t *rec)
{
	const json_t *giv = json_object_get(rec, "ood_gain_ci95");
	double glo = jnum(json_array_get(giv, 0)), gain = jnum(json_object_get(rec, "ood_gain"));
	return json_is_true(json_object_get(rec, "beats_standard")) &&
	       json_is_string(json_object_get(rec, "method")) && !isnan(glo) && glo > 0 &&
	       !isnan(gain);
}

static void recommendation(rpt_buf *b, const xd *x)
{
	const json_t *rec = json_object_get(x->cd, "recommendation");
	const char *m = json_string_value(json_object_get(rec, "method")),
	           *why = json_string_value(json_object_get(rec, "reason"));
	const json_t *giv = json_object_get(rec, "ood_gain_ci95");
	double gain = jnum(json_object_get(rec, "ood_gain")), glo = jnum(json_array_get(giv, 0)),
	       ghi = jnum(json_array_get(giv, 1));
	int beats = rec_beats(rec);
	rpt_buf_printf(b, "<div class=\"xbox%s\"><h3>Which method to train with</h3><p>",
	               beats ? " good" : "");
	if (!rec || !m) {
		rpt_buf_puts(b, "No recommendation stored: the run has no method besides the text "
		                "proxy.</p></div>");
		return;
	}
	if (beats) {
		rpt_buf_puts(b, "\xe2\x9c\x93 <strong>Train with ");
		esc(b, m);
		rpt_buf_puts(b, "</strong>");
		const struct method_info *in = info_of(m);
		if (in) {
			rpt_buf_puts(b, " (");
			esc(b, in->def);
			rpt_buf_puts(b, ")");
		}
		rpt_buf_printf(b,
		               ": it beats standard out of distribution by %.1f points (95%% CI "
		               "%.1f to %.1f).</p>",
		               100 * gain, 100 * glo, 100 * ghi);
	} else if (!json_object_get(x->methods, "standard")) {
		rpt_buf_puts(b, "<strong>No gain over standard can be measured</strong>: the "
		                "standard MM-RM was not run. ");
		esc(b, why);
		rpt_buf_puts(b, ".</p>");
	} else {
		rpt_buf_puts(b, "<strong>No method beats standard</strong> out of distribution: ");
		esc(b, why);
		rpt_buf_puts(b, ". Keep standard training.</p>");
	}
	rpt_buf_puts(b, "</div>");
}

/* Standard's accuracy on environment e when trained elsewhere (mean of column e off the
 * diagonal); NAN when not stored. */
static double standard_held_out(const xd *x, size_t e)
{
	const json_t *mat = json_object_get(json_object_get(x->methods, "standard"), "accuracy");
	double s = 0;
	size_t k = 0;
	for (size_t a = 0; a < x->d; a++) {
		double v = jnum(json_array_get(json_array_get(mat, a), e));
		if (a != e && !isnan(v)) {
			s += v;
			k++;
		}
	}
	return k ? s / (double)k : NAN;
}

static void selection(rpt_buf *b, const xd *x)
{
	const json_t *sel = json_object_get(x->cd, "selection");
	rpt_buf_puts(b, "<div class=\"xbox\"><h3>The choice measured out of distribution</h3>");
	if (!json_is_object(sel)) {
		rpt_buf_printf(b,
		               "<p>Leave-one-environment-out selection needs 3 or more datasets; "
		               "this run has %zu, so the recommendation is chosen and measured on "
		               "the same cells.</p></div>",
		               x->d);
		return;
	}
	double so = jnum(json_object_get(sel, "ood_mean")),
	       st = jnum(json_object_get(sel, "standard_ood_mean"));
	rpt_buf_puts(b, "<p>Chosen on the other environments, measured on the held-out one: "
	                "<strong>");
	pct(b, so);
	rpt_buf_puts(b, "</strong>");
	const json_t *iv = json_object_get(sel, "ood_mean_ci95");
	double lo = jnum(json_array_get(iv, 0)), hi = jnum(json_array_get(iv, 1));
	if (!isnan(lo) && !isnan(hi))
		rpt_buf_printf(b, " (95%% CI %.1f\xe2\x80\x93%.1f)", 100 * lo, 100 * hi);
	rpt_buf_puts(b, " vs standard ");
	pct(b, st);
	if (!isnan(so) && !isnan(st))
		rpt_buf_printf(b, " (%+.1f points)", 100 * (so - st));
	rpt_buf_puts(b, ".</p><table class=\"sel\"><caption>Per held-out environment</caption>"
	                "<thead><tr><th scope=\"col\">Held out</th><th scope=\"col\">Chosen on the "
	                "others</th><th scope=\"col\" class=\"num\">Its accuracy there</th><th "
	                "scope=\"col\" class=\"num\">Standard there</th></tr></thead><tbody>");
	const json_t *per = json_object_get(sel, "per_environment"), *e;
	size_t i;
	json_array_foreach(per, i, e)
	{
		const char *h = json_string_value(json_object_get(e, "held_out")),
		           *c = json_string_value(json_object_get(e, "chosen"));
		size_t at = x->d;
		for (size_t k = 0; h && k < x->d; k++)
			if (!strcmp(x->names[k], h))
				at = k;
		rpt_buf_puts(b, "<tr><th scope=\"row\">");
		esc(b, h);
		rpt_buf_puts(b, "</th><td>");
		esc(b, c);
		rpt_buf_puts(b, "</td><td class=\"num\">");
		pct(b, jnum(json_object_get(e, "ood_accuracy")));
		rpt_buf_puts(b, "</td><td class=\"num\">");
		pct(b, at < x->d ? standard_held_out(x, at) : NAN);
		rpt_buf_puts(b, "</td></tr>");
	}
	rpt_buf_puts(b, "</tbody></table><p><small>Rule: ");
	esc(b, json_string_value(json_object_get(sel, "rule")));
	rpt_buf_puts(b, ". Accuracy there: the chosen method trained on each other environment, "
	                "tested on the held-out one, averaged.</small></p></div>");
}

/* ---- the ranking table ---- */

static void points(rpt_buf *b, double v, const char *fmt)
{
	if (isnan(v))
		rpt_buf_puts(b, "n/a");
	else /* no "-0.0" */
		rpt_buf_printf(b, fmt, fabs(100 * v) < 0.05 ? 0.0 : 100 * v);
}

static void ranking(rpt_buf *b, const xd *x)
{
	const json_t *rec = json_object_get(x->cd, "recommendation");
	const char *rm = json_string_value(json_object_get(rec, "method"));
	int beats = rec_beats(rec);
	if (!beats) /* the row marked is the one kept: standard */
		rm = "standard";
	rpt_buf_puts(b, "<table class=\"rank\"><caption>Methods ranked by o.o.d. mean (best first; "
	                "the text-only proxy is a reference, not ranked)</caption><thead><tr><th "
	                "scope=\"col\" class=\"num\">Rank</th><th scope=\"col\">Method</th><th "
	                "scope=\"col\" class=\"num\">o.o.d. mean</th><th scope=\"col\" "
	                "class=\"num\">o.o.d. gain over standard</th><th scope=\"col\" "
	                "class=\"num\">i.i.d. mean</th><th scope=\"col\" class=\"num\">Gap</th><th "
	                "scope=\"col\" class=\"num\">Mean SFD</th></tr></thead><tbody>");
	size_t rank = 0;
	for (size_t k = 0; k < x->nk; k++) {
		const char *m = x->keys[k];
		const json_t *mj = json_object_get(x->methods, m);
		int text = !strcmp(m, "text"), std = !strcmp(m, "standard");
		int is_rec = rm && !strcmp(rm, m);
		if (!text)
			rank++;
		if (text)
			rpt_buf_puts(b,
			             "<tr class=\"ref\"><td class=\"num\">\xe2\x80\x94</td><td>");
		else
			rpt_buf_printf(b, "<tr%s><td class=\"num\">%zu</td><td>",
			               is_rec ? " class=\"rec\"" : "", rank);
		method_name(b, m, 1);
		if (is_rec)
			rpt_buf_printf(b, "<br><span class=\"badge %s\">%s</span>",
			               beats ? "pass" : "notrun",
			               beats ? "\xe2\x9c\x93 recommended"
			                     : "\xe2\x80\x93 kept: none beats it");
		rpt_buf_puts(b, "</td><td class=\"num\"><strong>");
		pct(b, jnum(json_object_get(mj, "ood_mean")));
		rpt_buf_puts(b, "</strong>");
		ci(b, json_object_get(mj, "ood_mean_ci95"), 0);
		rpt_buf_puts(b, "</td><td class=\"num\">");
		if (std)
			rpt_buf_puts(b, "0 (reference)");
		else {
			points(b, jnum(json_object_get(mj, "ood_vs_standard")), "%+.1f pts");
			ci(b, json_object_get(mj, "ood_vs_standard_ci95"), 1);
		}
		rpt_buf_puts(b, "</td><td class=\"num\">");
		pct(b, jnum(json_object_get(mj, "iid_mean")));
		ci(b, json_object_get(mj, "iid_mean_ci95"), 0);
		rpt_buf_puts(b, "</td><td class=\"num\">");
		points(b, jnum(json_object_get(mj, "gap")), "%.1f pts");
		rpt_buf_puts(b, "</td><td class=\"num\">");
		double sfd = jnum(json_object_get(mj, "sfd_mean"));
		if (isnan(sfd) && text)
			rpt_buf_puts(b, "n/a<br><small>true by construction</small>");
		else
			points(b, sfd, "%+.1f pts");
		rpt_buf_puts(b, "</td></tr>");
	}
	rpt_buf_puts(b, "</tbody></table>");
}

/* The table of runs made before issue 13 (no ranking): as it was. */
static void legacy_table(rpt_buf *b, const xd *x)
{
	rpt_buf_puts(b,
	             "<table><caption>Summary per method</caption><thead><tr><th scope="
	             "\"col\">Method</th><th scope=\"col\" class=\"num\">i.i.d. mean</th><th scope="
	             "\"col\" class=\"num\">o.o.d. mean</th><th scope=\"col\" class=\"num\">Gap"
	             "</th><th scope=\"col\" class=\"num\">Mean SFD</th></tr></thead><tbody>");
	for (size_t k = 0; k < x->nk; k++) {
		const json_t *mj = json_object_get(x->methods, x->keys[k]);
		const struct method_info *in = info_of(x->keys[k]);
		rpt_buf_puts(b, "<tr><th scope=\"row\">");
		esc(b, in ? in->label : x->keys[k]);
		rpt_buf_puts(b, "</th><td class=\"num\">");
		pct(b, jnum(json_object_get(mj, "iid_mean")));
		rpt_buf_puts(b, "</td><td class=\"num\">");
		pct(b, jnum(json_object_get(mj, "ood_mean")));
		rpt_buf_puts(b, "</td><td class=\"num\">");
		points(b, jnum(json_object_get(mj, "gap")), "%.1f pts");
		rpt_buf_puts(b, "</td><td class=\"num\">");
		points(b, jnum(json_object_get(mj, "sfd_mean")), "%+.1f pts");
		rpt_buf_puts(b, "</td></tr>");
	}
	rpt_buf_puts(b, "</tbody></table>");
}

/* ---- leakage ---- */

static int64_t jint(const json_t *j)
{
	return json_is_integer(j)  ? (int64_t)json_integer_value(j)
	       : json_is_number(j) ? (int64_t)json_number_value(j)
	                           : -1;
}

static void leakage(rpt_buf *b, const xd *x)
{
	const json_t *kind = json_object_get(x->cd, "excluded_by_kind"),
	             *ov = json_object_get(x->cd, "overlap"), *e;
	int64_t img = jint(json_object_get(kind, "shared_image")),
	        ans = jint(json_object_get(kind, "shared_answer_pair")),
	        tot = jint(json_object_get(x->cd, "excluded_test_pairs")), prompts = 0;
	size_t i;
	json_array_foreach(ov, i, e)
	{
		int64_t p = jint(json_object_get(e, "shared_prompts"));
		if (p > 0)
			prompts += p;
	}
	rpt_buf_puts(b, "<p class=\"leak\"><strong>Leakage:</strong> ");
	if (img < 0 && ans < 0)
		rpt_buf_puts(b, "exclusions by kind were not recorded by this run. ");
	else if (img + ans == 0)
		rpt_buf_puts(b, "no test pair shares an image or an answer pair with another "
		                "dataset; none excluded. ");
	else
		rpt_buf_printf(
		    b,
		    "%lld test pairs excluded from the test splits: %lld sharing an image "
		    "with another dataset, %lld sharing an answer pair (text-only pairs). ",
		    (long long)(tot >= 0 ? tot : img + ans), (long long)(img > 0 ? img : 0),
		    (long long)(ans > 0 ? ans : 0));
	rpt_buf_printf(b,
	               "Prompts shared across datasets: %lld, counted only (a generic prompt over "
	               "different images is not leakage).",
	               (long long)prompts);
	const json_t *sb = json_object_get(x->cd, "split_by");
	int any = 0;
	for (size_t k = 0; k < x->d && k < json_array_size(sb); k++) {
		const char *s = json_string_value(json_array_get(sb, k));
		if (!s || strcmp(s, "pair"))
			continue;
		rpt_buf_puts(b, any ? ", "
		                    : " Split by pair (too few images/prompts to split by "
		                      "group): ");
		rpt_buf_puts(b, "<strong>");
		esc(b, x->names[k]);
		rpt_buf_puts(b, "</strong>");
		any = 1;
	}
	rpt_buf_puts(b, any ? ".</p>" : "</p>");
	if (!json_array_size(ov))
		return;
	rpt_buf_puts(b, "<details><summary>Overlap per pair of datasets</summary><table><thead><tr>"
	                "<th scope=\"col\">Dataset</th><th scope=\"col\">Dataset</th><th "
	                "scope=\"col\" class=\"num\">Shared images</th><th scope=\"col\" "
	                "class=\"num\">Shared answer pairs</th><th scope=\"col\" class=\"num\">"
	                "Shared prompts</th></tr></thead><tbody>");
	json_array_foreach(ov, i, e)
	{
		rpt_buf_puts(b, "<tr><td>");
		esc(b, json_string_value(json_object_get(e, "a")));
		rpt_buf_puts(b, "</td><td>");
		esc(b, json_string_value(json_object_get(e, "b")));
		static const char *cols[] = {"shared_images", "shared_answer_pairs",
		                             "shared_prompts"};
		for (size_t c = 0; c < 3; c++) {
			int64_t v = jint(json_object_get(e, cols[c]));
			if (v < 0)
				rpt_buf_puts(b, "</td><td class=\"num\">n/a");
			else
				rpt_buf_printf(b, "</td><td class=\"num\">%lld", (long long)v);
		}
		rpt_buf_puts(b, "</td></tr>");
	}
	rpt_buf_puts(b, "</tbody></table></details>");
}

/* ---- the heat maps ---- */

static void maps(rpt_buf *b, xd *x, int ranked)
{
	rpt_buf_puts(b, "<div class=\"maps\">");
	size_t rank = 0;
	for (size_t k = 0; k < x->nk; k++) {
		const char *m = x->keys[k];
		const json_t *mj = json_object_get(x->methods, m),
		             *mat = json_object_get(mj, "accuracy"), *nm = json_object_get(mj, "n");
		const struct method_info *in = info_of(m);
		int have_n = json_is_array(nm);
		for (size_t i = 0; i < x->d; i++)
			for (size_t j = 0; j < x->d; j++) {
				x->acc[i * x->d + j] =
				    jnum(json_array_get(json_array_get(mat, i), j));
				x->n[i * x->d + j] = jint(json_array_get(json_array_get(nm, i), j));
			}
		rpt_buf_puts(b, "<figure><h3>");
		if (ranked && strcmp(m, "text"))
			rpt_buf_printf(b, "#%zu ", ++rank);
		if (ranked)
			heading(b, m, in);
		else /* runs before issue 13: the label, as before */
			esc(b, in ? in->label : m);
		rpt_buf_puts(b, "</h3>");
		rpt_svg_heat(b, in ? in->label : m, x->d, x->names, x->acc, have_n ? x->n : NULL);
		if (in && ranked) {
			rpt_buf_puts(b, "<figcaption>");
			esc(b, in->def);
			rpt_buf_puts(b, ". i.i.d. ");
			pct(b, jnum(json_object_get(mj, "iid_mean")));
			rpt_buf_puts(b, ", o.o.d. ");
			pct(b, jnum(json_object_get(mj, "ood_mean")));
			rpt_buf_puts(b, ".</figcaption>");
		}
		rpt_buf_puts(b, "</figure>");
	}
	rpt_buf_puts(b, "</div>");
}

static const char *const defs_crossdist[] = {"crossdist.", NULL};

void rpt_html_crossdist(rpt_buf *b, const rpt_state *st)
{
	xd x = {.cd = st->crossdist};
	rpt_buf_puts(b, "<section id=\"crossdist\"><h2>Cross-distribution generalization</h2>");
	const json_t *dsn = json_object_get(x.cd, "datasets");
	x.methods = json_object_get(x.cd, "methods");
	x.d = json_array_size(dsn);
	if (!x.cd || !x.d || !json_is_object(x.methods)) {
		rpt_buf_puts(
		    b, "<p>Not run: <code>mmaudit crossdist</code> needs two or more datasets "
		       "in the workspace.</p></section>\n");
		return;
	}
	x.names = calloc(x.d, sizeof *x.names);
	x.acc = calloc(x.d * x.d, sizeof *x.acc);
	x.n = calloc(x.d * x.d, sizeof *x.n);
	if (!x.names || !x.acc || !x.n) {
		b->oom = 1;
		goto out;
	}
	for (size_t i = 0; i < x.d; i++) {
		const char *s = json_string_value(json_array_get(dsn, i));
		x.names[i] = s ? s : "?";
	}
	order_methods(&x);
	int ranked = json_is_array(json_object_get(x.cd, "ranking"));
	int64_t boot = jint(json_object_get(x.cd, "bootstrap"));
	rpt_buf_printf(b,
	               "<p>Each dataset is one environment, split train/test by image (crossdist "
	               "run %lld). Rows: trained on; columns: tested on; the diagonal (outlined) "
	               "is i.i.d. Values are accuracy in %%, colour on a fixed 50\xe2\x80\x93"
	               "100%% scale shared by every map.",
	               (long long)st->crossdist_run);
	if (ranked && boot > 0)
		rpt_buf_printf(b,
		               " Intervals: 95%% percentile bootstrap over test pairs (%lld "
		               "resamples; the gain over standard paired on the same resamples).",
		               (long long)boot);
	rpt_buf_puts(b, "</p>");
	if (ranked) {
		rpt_buf_puts(b, "<div class=\"xrec\">");
		recommendation(b, &x);
		selection(b, &x);
		rpt_buf_puts(b, "</div>");
		ranking(b, &x);
		leakage(b, &x);
	}
	rpt_buf_puts(b, "<div class=\"cbar\">");
	rpt_svg_colorbar(b);
	rpt_buf_puts(b, "</div>");
	maps(b, &x, ranked);
	if (!ranked)
		legacy_table(b, &x);
	rpt_html_defs(b, defs_crossdist);
out:
	rpt_buf_puts(b, "</section>\n");
	free(x.names);
	free(x.acc);
	free(x.n);
}
