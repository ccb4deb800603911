/* rpt_html_integrity.c - the Data integrity and Slices sections of report.html, the verdict's
 * next steps and the card group marker. Formatting only: the figures come from rpt_integrity. */
#include "reports/rpt_html_integrity.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "reports/rpt_gate.h"
#include "reports/rpt_html_mm.h"
#include "reports/rpt_integrity.h"
#include "reports/rpt_svg.h"

enum { NEAR_LISTED = 10 };

static void esc(rpt_buf *b, const char *s)
{
	rpt_buf_esc(b, s ? s : "", (size_t)-1);
}

static void count(rpt_buf *b, int64_t n)
{
	char s[32];
	rpt_fmt_count(n, s, sizeof s);
	rpt_buf_puts(b, s);
}

static double share(int64_t k, int64_t n)
{
	return n > 0 ? (double)k / (double)n : NAN;
}

static const char *const defs_integrity[] = {"integrity.", NULL};
static const char *const defs_slices[] = {"slices.", NULL};

size_t rpt_html_integrity_findings(const rpt_state *st)
{
	size_t n = 0;
	for (size_t i = 0; st->integ && i < st->n_ds; i++) {
		const rpt_ds_integrity *x = &st->integ->ds[i];
		const eng_integrity *in = &x->in;
		n += in->errors > 0;
		n += in->dup_groups > 0;
		n += in->conflict_groups > 0;
		n += in->position_n > 0 && in->position_p < 0.05;
		n += in->swap_pairs > 0 && share(in->swap_consistent, in->swap_pairs) < 0.95;
		n += x->images_across > 0;
	}
	return n;
}

/* A rate cell with its bar and interval; "n/a" text when n == 0. */
static void rate_td(rpt_buf *b, double k, int64_t n)
{
	if (n <= 0) {
		rpt_buf_puts(b, "<td class=\"num\"><small>n/a</small></td>");
		return;
	}
	double p = k / (double)n, lo, hi;
	rpt_wilson(p, n, &lo, &hi);
	rpt_buf_printf(b, "<td class=\"num\">%.1f%%", 100 * p);
	rpt_svg_rate(b, p, lo, hi);
	rpt_buf_printf(b, "<br><small>95%% CI %.1f\xe2\x80\x93%.1f</small></td>", 100 * lo,
	               100 * hi);
}

static void errors_list(rpt_buf *b, const eng_integrity *in)
{
	if (!in->n_codes) {
		rpt_buf_puts(b, "none");
		return;
	}
	rpt_buf_puts(b, "<ul class=\"errs\">");
	for (size_t k = 0; k < in->n_codes; k++) {
		const eng_error_code *c = &in->codes[k];
		rpt_buf_puts(b, "<li><code>");
		esc(b, c->code);
		rpt_buf_puts(b, "</code> ");
		count(b, c->n);
		for (int e = 0; e < ENG_INTEGRITY_EXAMPLES && c->example[e]; e++) {
			rpt_buf_puts(b, e ? ", " : " <small>e.g. ");
			esc(b, c->example[e]);
		}
		if (c->example[0])
			rpt_buf_puts(b, "</small>");
		rpt_buf_puts(b, "</li>");
	}
	rpt_buf_puts(b, "</ul>");
}

static void position_td(rpt_buf *b, const eng_integrity *in)
{
	if (!in->position_n) {
		rpt_buf_puts(b, "<td><small>not recorded (judged records keep chosen_position; "
		                "otherwise name the field with --position-field)</small></td>");
		return;
	}
	double p = share(in->position_first, in->position_n), lo, hi;
	rpt_wilson(p, in->position_n, &lo, &hi);
	int bias = in->position_p < 0.05;
	rpt_buf_printf(b, "<td class=\"num\">%s%.1f%%", bias ? "<strong>! bias</strong> " : "",
	               100 * p);
	rpt_svg_rate(b, p, lo, hi);
	rpt_buf_printf(b,
	               "<br><small>95%% CI %.1f\xe2\x80\x93%.1f, p = %.2g vs 50%%, n = ", 100 * lo,
	               100 * hi, in->position_p);
	count(b, in->position_n);
	rpt_buf_puts(b, "</small></td>");
}

static void swap_td(rpt_buf *b, const eng_integrity *in)
{
	if (!in->swap_pairs) {
		rpt_buf_puts(b, "<td><small>no pair judged in both orders</small></td>");
		return;
	}
	double sc = share(in->swap_consistent, in->swap_pairs);
	rpt_buf_printf(b, "<td class=\"num\">%s%.1f%% <small>of ",
	               sc < 0.95 ? "<strong>!</strong> " : "", 100 * sc);
	count(b, in->swap_pairs);
	rpt_buf_puts(b, "</small><br><small>");
	count(b, in->position_conflicts);
	rpt_buf_puts(b, " position conflicts (same slot won both times)</small></td>");
}

static const char *ds_name(const rpt_state *st, int64_t id)
{
	for (size_t i = 0; i < st->n_ds; i++)
		if (st->ds[i].id == id)
			return st->ds[i].name;
	return "?";
}

static size_t img_at(const rpt_integrity *x, int64_t id)
{
	for (size_t i = 0; i < x->n_img; i++)
		if (x->img_id[i] == id)
			return i;
	return x->n_img;
}

static void near_table(rpt_buf *b, const rpt_state *st)
{
	const rpt_integrity *x = st->integ;
	const eng_neardup *nd = &x->nd;
	rpt_buf_printf(b,
	               "<h3>Near-duplicate images</h3><p>Perceptual hash of each image's thumbnail "
	               "(64-bit DCT hash of the luminance): two images are near duplicates when at "
	               "most %d bits differ and their mean colours and colour layouts agree (the "
	               "hash alone matches different pictures of similar structure); an image "
	               "used by two "
	               "datasets counts too. ",
	               nd->max_distance);
	count(b, nd->images);
	rpt_buf_puts(b, " images compared. ");
	if (nd->truncated)
		rpt_buf_puts(b, "<strong>The comparison budget ran out: the list is incomplete."
		                "</strong> ");
	if (!nd->n) {
		rpt_buf_puts(b, "None found.</p>");
		return;
	}
	count(b, (int64_t)nd->n);
	rpt_buf_printf(b, " pairs found; %s listed here, all in near_duplicates.csv.</p>",
	               nd->n > NEAR_LISTED ? "the first 10" : "all");
	rpt_buf_puts(b, "<table><caption>Near-duplicate image pairs</caption><tr><th scope=\"col\">"
	                "dataset</th><th scope=\"col\">image</th><th scope=\"col\">dataset</th>"
	                "<th scope=\"col\">image</th><th scope=\"col\" class=\"num\">bits "
	                "differing</th></tr>");
	for (size_t k = 0; k < nd->n && k < NEAR_LISTED; k++) {
		const eng_neardup_pair *p = &nd->pairs[k];
		size_t ia = img_at(x, p->image_a), ib = img_at(x, p->image_b);
		rpt_buf_puts(b, "<tr><td>");
		esc(b, ds_name(st, p->ds_a));
		rpt_buf_puts(b, "</td><td><small>");
		esc(b, ia < x->n_img ? x->source[ia] : "");
		rpt_buf_puts(b, "</small></td><td>");
		esc(b, ds_name(st, p->ds_b));
		rpt_buf_puts(b, "</td><td><small>");
		esc(b, ib < x->n_img ? x->source[ib] : "");
		rpt_buf_printf(b, "</small></td><td class=\"num\">%d%s</td></tr>", p->distance,
		               p->image_a == p->image_b ? " (same image)" : "");
	}
	rpt_buf_puts(b, "</table>");
}

void rpt_html_integrity(rpt_buf *b, const rpt_state *st)
{
	rpt_buf_puts(b, "<section id=\"integrity\"><h2>Data integrity</h2>");
	if (!st->integ) {
		rpt_buf_puts(b, "<p>Not computed.</p></section>\n");
		return;
	}
	rpt_buf_puts(
	    b, "<p>What the data says before any model: records rejected at ingest, pairs that "
	       "repeat, pairs whose duplicates carry the opposite label (a finding about the "
	       "labels, not about the model), whether the answer shown first wins more often than "
	       "chance, and images shared between datasets. Every pair of a conflicting group is "
	       "scored <em>suspect-label</em> whatever the models say; duplicates stay in every "
	       "figure (samples.csv has <code>dup_group</code> and <code>conflict</code> to drop "
	       "them).</p>");
	rpt_buf_puts(b, "<table class=\"km\"><caption>Per dataset (counts over the pairs kept at "
	                "ingest)</caption><tr><th scope=\"col\">dataset</th><th scope=\"col\" "
	                "class=\"num\">pairs</th><th scope=\"col\">ingest errors</th><th "
	                "scope=\"col\" class=\"num\">duplicates</th><th scope=\"col\" "
	                "class=\"num\">conflicting labels</th><th scope=\"col\">answer shown first "
	                "wins</th><th scope=\"col\">swap consistency</th><th scope=\"col\" "
	                "class=\"num\">near-duplicate images</th></tr>");
	for (size_t i = 0; i < st->n_ds; i++) {
		const rpt_ds_integrity *x = &st->integ->ds[i];
		const eng_integrity *in = &x->in;
		rpt_buf_puts(b, "<tr><th scope=\"row\">");
		esc(b, st->ds[i].name);
		rpt_buf_puts(b, "</th><td class=\"num\">");
		count(b, in->pairs);
		rpt_buf_puts(b, "</td><td>");
		if (in->errors) {
			count(b, in->errors);
			rpt_buf_puts(b, in->errors == 1 ? " record" : " records");
		}
		errors_list(b, in);
		rpt_buf_puts(b, "</td><td class=\"num\">");
		count(b, in->dup_pairs);
		rpt_buf_puts(b, " <small>repeats in ");
		count(b, in->dup_groups);
		rpt_buf_puts(b, " groups</small></td><td class=\"num\">");
		if (in->conflict_groups)
			rpt_buf_puts(b, "<strong>\xe2\x9c\x97</strong> ");
		count(b, in->conflict_pairs);
		rpt_buf_printf(b, " pairs <small>(%.1f%%) in ",
		               in->pairs ? 100.0 * share(in->conflict_pairs, in->pairs) : 0.0);
		count(b, in->conflict_groups);
		rpt_buf_puts(b, " groups</small></td>");
		position_td(b, in);
		swap_td(b, in);
		rpt_buf_puts(b, "<td class=\"num\">");
		count(b, x->near_within);
		rpt_buf_puts(b, " <small>pairs within</small><br>");
		count(b, x->images_across);
		rpt_buf_puts(b, " <small>images shared across</small></td></tr>");
	}
	rpt_buf_puts(b, "</table>");
	near_table(b, st);
	rpt_html_defs(b, defs_integrity);
	rpt_buf_puts(b, "</section>\n");
}

static void slice_table(rpt_buf *b, const rpt_dataset *d, const rpt_slice_set *s)
{
	rpt_buf_puts(b, "<table class=\"km\"><caption>");
	esc(b, d->name);
	rpt_buf_puts(b, " by <code>");
	esc(b, s->field);
	rpt_buf_puts(b, "</code>");
	if (s->proposed)
		rpt_buf_printf(b, " (proposed: splits the shortcut rate by %.1f points)",
		               100 * s->spread);
	else if (!isnan(s->spread))
		rpt_buf_printf(b, " (spread %.1f points between slices of 30+ pairs)",
		               100 * s->spread);
	rpt_buf_puts(b, "; ");
	count(b, s->distinct);
	rpt_buf_puts(b, " values, highest shortcut rate first</caption><tr><th scope=\"col\">"
	                "value</th><th scope=\"col\" class=\"num\">pairs</th><th scope=\"col\">"
	                "shortcut rate</th><th scope=\"col\">text-only accuracy</th><th "
	                "scope=\"col\">pick-longer</th></tr>");
	for (size_t j = 0; j < s->n; j++) {
		const rpt_slice *x = &s->s[j];
		rpt_buf_puts(b, "<tr><th scope=\"row\">");
		esc(b, x->value);
		if (x->values > 1)
			rpt_buf_printf(b, " <small>(%lld values)</small>", (long long)x->values);
		rpt_buf_puts(b, "</th><td class=\"num\">");
		count(b, x->n);
		if (x->n < RPT_SLICE_MIN_N)
			rpt_buf_puts(b, "<br><small>small</small>");
		rpt_buf_puts(b, "</td>");
		rate_td(b, x->shortcut, x->n);
		rate_td(b, x->text_right, x->n);
		rate_td(b, x->longer_wins, x->n);
		rpt_buf_puts(b, "</tr>");
	}
	rpt_buf_puts(b, "</table>");
}

void rpt_html_slices(rpt_buf *b, const rpt_state *st)
{
	rpt_buf_puts(b, "<section id=\"slices\"><h2>Slices: where the shortcut lives</h2>");
	size_t shown = 0, given = 0;
	for (size_t i = 0; st->integ && i < st->n_ds; i++)
		for (size_t k = 0; k < st->integ->ds[i].n_sets; k++)
			given += !st->integ->ds[i].sets[k].proposed;
	rpt_buf_printf(b,
	               "<p>Each dataset broken down by a metadata field: per value the share of "
	               "pairs in text-shortcut, the text-only accuracy and the pick-longer "
	               "baseline, each with its 95%% interval (bars: tick at 50%%). %s Values past "
	               "the %d largest are pooled as %s. The full breakdown is in summary.json "
	               "(slices).</p>",
	               given ? "Fields as given with --by."
	                     : "No --by was given: these are the metadata fields with 2 to 30 "
	                       "values whose slices (30+ pairs) differ most in shortcut rate.",
	               RPT_SLICE_MAX_VALUES, RPT_SLICE_OTHER);
	for (size_t i = 0; st->integ && i < st->n_ds; i++)
		for (size_t k = 0; k < st->integ->ds[i].n_sets; k++, shown++)
			slice_table(b, &st->ds[i], &st->integ->ds[i].sets[k]);
	if (!shown)
		rpt_buf_puts(b, "<p>No metadata field splits the shortcut rate (none has 2 to 30 "
		                "values with two slices of 30+ pairs); name one with --by "
		                "FIELD.</p>");
	rpt_html_defs(b, defs_slices);
	rpt_buf_puts(b, "</section>\n");
}

void rpt_html_next_steps(rpt_buf *b, const rpt_state *st)
{
	rpt_next_steps ns;
	rpt_next_steps_make(st, &ns);
	if (!ns.n)
		return;
	rpt_buf_puts(b, "<div class=\"next\"><strong>Next steps</strong><ol>");
	for (size_t i = 0; i < ns.n; i++) {
		rpt_buf_puts(b, "<li>");
		esc(b, ns.text[i]);
		rpt_buf_puts(b, "</li>");
	}
	rpt_buf_puts(b, "</ol></div>");
}

void rpt_html_card_group(rpt_buf *b, const rpt_card *c)
{
	if (c->group_n < 2)
		return;
	rpt_buf_printf(b, "<span class=\"grp%s\">x%lld", c->conflict ? " conflict" : "",
	               (long long)c->group_n);
	if (c->conflict)
		rpt_buf_puts(b, ", \xe2\x9c\x97 conflicting labels");
	else if (c->both_orders)
		rpt_buf_puts(b, ", both answer orders");
	else
		rpt_buf_puts(b, ", duplicates");
	rpt_buf_puts(b, "</span>");
}
