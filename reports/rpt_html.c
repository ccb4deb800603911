/* rpt_html.c - lays out report.html from the state, the gate evaluation and a few capped queries
 * (histogram bins, quantiles, top features, example cards). Charts are drawn by rpt_svg.c.
 * Does not compute model metrics; it shows what the score and crossdist runs stored. */
#include "reports/rpt_html.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "mmaudit_config.h"
#include "reports/rpt_buf.h"
#include "reports/rpt_examples.h"
#include "reports/rpt_html_integrity.h"
#include "reports/rpt_html_mm.h"
#include "reports/rpt_html_xd.h"
#include "reports/rpt_svg.h"
#include "store_features.h"
#include "store_files.h"
#include "store_runs.h"
#include "store_scores.h"
#include "safetext.h"

#define N_FEATURES  15
#define SHOWN_CHARS 400
#define SIZE_TOKEN  "@@MMAUDIT_REPORT_BYTES@@"

typedef struct hist {
	int64_t bins[RPT_HIST_BINS], n, above; /* above: p_text >= thr */
	int64_t shortcut;                      /* rows in category text-shortcut */
	double thr, q[3];                      /* p10, p50, p90 */
} hist;

typedef struct feats {
	size_t n;
	char *name[N_FEATURES];
	double w[N_FEATURES], present[N_FEATURES], acc[N_FEATURES];
} feats;

typedef struct page {
	const rpt_state *st;
	const rpt_policy *p;
	const rpt_gate_eval *ev;
	const rpt_html_options *o;
	hist *h;  /* per dataset */
	feats *f; /* per dataset */
	rpt_examples ex[2];
	rpt_examples_seen *seen[2]; /* per dataset, what load_hist saw of each example list */
	rpt_buf cuts;               /* <li> items */
	size_t thumb_cap;
} page;

static const char *css =
    ":root{--mm:#0072B2;--sc:#D55E00;--warn:#E69F00;--ctx:#999;color-scheme:light}"
    "*{box-sizing:border-box}"
    "body{margin:0;font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;"
    "color:#111;background:#fff;font-variant-numeric:tabular-nums}"
    "nav{position:sticky;top:0;z-index:2;background:#f4f4f4;border-bottom:1px solid #ccc;"
    "padding:4px 16px;font-size:13px}nav a{color:#00466e;margin-right:14px;text-decoration:none}"
    "main{max-width:1160px;margin:0 auto;padding:0 16px 40px}"
    "h1{font-size:30px;margin:0 0 6px}h2{font-size:21px;margin:28px 0 8px;border-bottom:2px solid "
    "#ddd;padding-bottom:3px}h3{font-size:16px;margin:16px 0 6px}"
    ".verdict{margin:12px 0 8px;padding:12px 18px;border-left:12px solid var(--ctx);"
    "background:#f6f6f6}.verdict.bad{border-left-color:var(--sc);background:#fdf0e8}"
    ".verdict.mid{border-left-color:var(--warn);background:#fdf6e6}"
    ".verdict.good{border-left-color:var(--mm);background:#eaf3f9}"
    ".sentence{font-size:17px;margin:4px 0 8px;max-width:70em}.kicker{margin:0;color:#444;"
    "font-size:13px}.strip{margin:4px 0 0;font-weight:600}"
    ".badge{display:inline-block;padding:0 6px;border:2px solid var(--ctx);border-radius:3px;"
    "font-weight:700;white-space:nowrap}.badge.fail{border-color:var(--sc);color:#8a3300;"
    "background:#fdeee6}.badge.pass{border-color:var(--mm);color:#00466e;background:#e6f1f8;"
    "border-width:1px}.badge.notrun{border-style:dashed;color:#444}"
    ".badge.warn{border-color:var(--warn);color:#6b4700;background:#fdf6e6}"
    "table{border-collapse:collapse;margin:6px 0 10px;font-size:14px}caption{text-align:left;"
    "font-weight:600;padding:4px 0;caption-side:top}th,td{border-bottom:1px solid #ddd;padding:"
    "4px 8px;text-align:left;vertical-align:top}th[scope=col]{background:#f4f4f4}"
    "td.num,th.num{text-align:right}small{color:#444}"
    ".chart{max-width:760px;display:block;color:#111;margin:6px 0}"
    ".chart text{fill:currentColor}.tick{font-size:11px}.lab{font-size:12px}"
    ".cellv{font-size:12px;font-weight:600}"
    ".grid{stroke:#e4e4e4}.axis{stroke:#333}.chance{stroke:#777;stroke-dasharray:2 3}"
    ".thr{stroke:#111;stroke-width:2;stroke-dasharray:6 4}"
    ".bar-shortcut{fill:var(--sc)}.bar-context{fill:var(--ctx)}.bar-mm{fill:var(--mm)}"
    ".slope{stroke-width:2.5}.s0{stroke:var(--sc);fill:var(--sc)}.s1{stroke:var(--mm);"
    "fill:var(--mm)}.s2{stroke:#555;fill:#555}.s0 text,.s1 text,.s2 text{stroke:none;"
    "fill:#111}.na{fill:#eee;stroke:#999}"
    ".rate{vertical-align:middle;margin-left:4px}.rate .track{fill:#e6e6e6}.rate .fill{"
    "fill:var(--mm)}.rate .ci{stroke:#111;stroke-width:1.5}.rate .half{stroke:#111}"
    ".maps{display:flex;flex-wrap:wrap;gap:12px}.maps figure{margin:0;flex:1 1 340px;"
    "max-width:420px}figure{margin:8px 0}figcaption{font-size:13px;color:#333}"
    ".celln{font-size:10px}.chart text.ink0{fill:#000}.chart text.ink1{fill:#fff}"
    ".rank td.num{white-space:nowrap}.cbar .chart{max-width:380px}"
    ".xrec{display:flex;flex-wrap:wrap;gap:12px;margin:8px 0}"
    ".xbox{flex:1 1 420px;padding:4px 14px 6px;border-left:8px solid var(--ctx);"
    "background:#f6f6f6}.xbox.good{border-left-color:var(--mm);background:#eaf3f9}"
    ".xbox h3{margin:6px 0 4px}.xbox p{margin:4px 0}.xbox table{background:#fff}"
    "tr.rec{background:#eaf3f9}tr.ref td{color:#444}.leak{max-width:70em}"
    "dl.defs{font-size:13px;columns:2 420px}dl.defs dt{font-weight:600;break-after:avoid}"
    "dl.defs dd{margin:0 0 6px 0;break-inside:avoid}"
    ".cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:12px}"
    ".card{border:1px solid #bbb;border-radius:4px;padding:8px 10px;break-inside:avoid}"
    ".card header{display:flex;gap:8px;align-items:baseline;flex-wrap:wrap;font-size:13px}"
    ".card code{user-select:all;background:#f2f2f2;padding:0 4px;word-break:break-all}"
    ".thumb{float:right;margin:0 0 6px 8px;width:160px;max-height:160px;object-fit:contain;"
    "border:1px solid #ccc}.noimg{float:right;margin:0 0 6px 8px;width:160px;height:90px;"
    "border:1px dashed #888;display:flex;align-items:center;justify-content:center;"
    "font-size:12px;color:#444;text-align:center}"
    ".ans{display:grid;grid-template-columns:1fr 1fr;gap:8px;clear:both}"
    ".ans>div{border-top:3px solid var(--ctx);padding-top:2px}.ans .ch{border-top-color:var(--mm)}"
    ".ans .rj{border-top-color:var(--sc)}"
    ".txt{white-space:pre-wrap;overflow-wrap:anywhere;font-size:13px;margin:2px 0}"
    ".prompt{font-size:13px;white-space:pre-wrap;overflow-wrap:anywhere}"
    ".meta td{font-size:13px;overflow-wrap:anywhere}"
    ".ni{color:#555;background:#f0f0f0}.ni .rate .fill{fill:#999}.nilab{color:#555;"
    "font-style:italic;white-space:nowrap}.noimgs{color:#444;font-style:italic}"
    "td.unavail{color:#444;font-style:italic;max-width:16em;background:#f7f7f7}"
    ".wt th[scope=row]{font-weight:normal}.wt td.num{white-space:nowrap}"
    ".km th,.km td{padding:4px 5px}.km{font-size:13px}" RPT_HTML_INTEGRITY_CSS
    "@media print{@page{size:A4;margin:12mm}nav{display:none}body{font-size:11pt}"
    "figure,.card,table,.verdict{break-inside:avoid}*{-webkit-print-color-adjust:exact;"
    "print-color-adjust:exact}.cards{display:block}.card{margin-bottom:8px}"
    "details{display:block}details>*{display:block}}";

static const char *fmt_pct(double x, char *buf, size_t cap)
{
	if (isnan(x))
		snprintf(buf, cap, "n/a");
	else
		snprintf(buf, cap, "%.1f%%", 100 * x);
	return buf;
}

static void count(rpt_buf *b, int64_t n)
{
	char s[32];
	rpt_fmt_count(n, s, sizeof s);
	rpt_buf_puts(b, s);
}

/* ---- data gathering (capped) ---- */

/* Rearranges v[lo..hi] so that v[k] is the value a sort would put there, every value before it
 * <= it and every one after >= it (Hoare's selection, median of three pivots): the quantiles
 * need three order statistics, not the whole sorted array. */
static void select_kth(double *v, size_t lo, size_t hi, size_t k)
{
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		double a = v[lo], b = v[mid], c = v[hi];
		double pivot = a < b ? (b < c ? b : a < c ? c : a) : (a < c ? a : b < c ? c : b);
		size_t i = lo, j = hi;
		for (;;) {
			while (v[i] < pivot)
				i++;
			while (pivot < v[j])
				j--;
			if (i >= j)
				break;
			double t = v[i];
			v[i] = v[j];
			v[j] = t;
			i++;
			j--;
		}
		/* v[lo..j] <= pivot <= v[j+1..hi] */
		if (k <= j)
			hi = j;
		else
			lo = j + 1;
	}
}

typedef struct hist_ctx {
	hist *h;
	double *v; /* (n) the p_text values, sorted after the scan */
	size_t n, cap;
	rpt_examples_seen *seen[2]; /* the example lists' counts and first pairs, same scan */
	int top_n;
	eng_err *err;
} hist_ctx;

static int hist_row(void *ctx, const eng_score_row *row)
{
	hist_ctx *c = ctx;
	hist *h = c->h;
	if (c->n == c->cap) {
		size_t nc = c->cap ? 2 * c->cap : 4096;
		double *nv = realloc(c->v, nc * sizeof *nv);
		if (!nv)
			return eng_err_set(c->err, ENG_ENOMEM, "out of memory (histogram)");
		c->v = nv;
		c->cap = nc;
	}
	double x = row->p_text;
	c->v[c->n++] = x;
	double z = x * RPT_HIST_BINS; /* bin floor(p * bins), clamped */
	int bin = !(z > 0) ? 0 : z >= RPT_HIST_BINS - 1 ? RPT_HIST_BINS - 1 : (int)z;
	h->bins[bin]++;
	h->above += x >= h->thr;
	if (!row->category)
		return 0;
	if (!strcmp(row->category, eng_category_name(ENG_CAT_TEXT_SHORTCUT))) {
		h->shortcut++;
		rpt_examples_see(c->seen[RPT_EX_SHORTCUT], RPT_EX_SHORTCUT, c->top_n, row->pair_id,
		                 x);
	} else if (!strcmp(row->category, eng_category_name(ENG_CAT_NEEDS_IMAGE))) {
		rpt_examples_see(c->seen[RPT_EX_NEEDS_IMAGE], RPT_EX_NEEDS_IMAGE, c->top_n,
		                 row->pair_id, x);
	}
	return 0;
}

/* Histogram (50 bins), share over the threshold and nearest-rank quantiles of p_text, from one
 * unordered scan kept in memory (8 bytes per pair) and three selections; in the same scan, the
 * pairs of the two example lists' categories and their first top_n (seen[2], for
 * rpt_examples_load). */
static int load_hist(const rpt_state *st, const rpt_dataset *d, int top_n, hist *h,
                     rpt_examples_seen *seen[2], eng_err *err)
{
	memset(h, 0, sizeof *h);
	json_t *th = json_object_get(d->metrics, "thresholds");
	json_t *sc = json_object_get(th, "shortcut");
	h->thr = json_is_number(sc) ? json_number_value(sc) : 0.8;
	h->q[0] = h->q[1] = h->q[2] = NAN;
	memset(seen[0], 0, sizeof *seen[0]);
	memset(seen[1], 0, sizeof *seen[1]);
	hist_ctx c = {.h = h, .seen = {seen[0], seen[1]}, .top_n = top_n, .err = err};
	int rc = eng_scores_each_brief(st->ws, d->run_id, d->id, hist_row, &c, err);
	seen[0]->valid = seen[1]->valid = !rc;
	size_t n = c.n;
	double *v = c.v;
	h->n = (int64_t)n;
	if (!rc && n) {
		static const double qs[3] = {0.1, 0.5, 0.9};
		size_t from = 0; /* ascending ranks: each selection leaves v[0..w] <= v[w] */
		for (int k = 0; k < 3; k++) {
			int64_t w = (int64_t)ceil(qs[k] * (double)n) - 1;
			size_t at = (size_t)(w < 0 ? 0 : w);
			select_kth(v, from, n - 1, at);
			h->q[k] = v[at];
			from = at;
		}
	}
	free(v);
	return rc;
}

typedef struct feat_ctx {
	feats *f;
	eng_err *err;
} feat_ctx;

static int feat_row(void *ctx, const eng_feature_row *row)
{
	feats *f = ((feat_ctx *)ctx)->f;
	if (f->n >= N_FEATURES)
		return 0;
	if (!(f->name[f->n] = strdup(row->feature ? row->feature : "")))
		return eng_err_set(((feat_ctx *)ctx)->err, ENG_ENOMEM, "out of memory");
	f->w[f->n] = row->weight;
	f->present[f->n] = row->present;
	f->acc[f->n] = row->acc_present;
	f->n++;
	return 0;
}

static int load_feats(const rpt_state *st, const rpt_dataset *d, feats *f, eng_err *err)
{
	memset(f, 0, sizeof *f);
	return eng_features_each(st->ws, d->run_id, d->id, N_FEATURES, feat_row,
	                         &(feat_ctx){f, err}, err);
}

/* ---- sections ---- */

static void head(page *pg, rpt_buf *b, const rpt_verdict *v)
{
	const rpt_state *st = pg->st;
	rpt_buf_puts(b,
	             "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	             "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	             "img-src data:; style-src 'unsafe-inline'\">"
	             "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
	             "<title>mmaudit - ");
	size_t shown = 0;
	for (size_t i = 0; i < st->n_ds; i++) {
		if (!st->ds[i].run_id)
			continue;
		if (shown == 3) {
			rpt_buf_printf(b, " +%lld", (long long)(st->n_scored - 3));
			break;
		}
		if (shown++)
			rpt_buf_puts(b, ", ");
		rpt_buf_esc(b, st->ds[i].name, (size_t)-1);
	}
	rpt_buf_printf(b, " - %s</title><style>%s</style></head><body>\n",
	               !strcmp(v->gate, "NO RULES") ? "NO RULES" : v->gate, css);
}

static void nav(page *pg, rpt_buf *b)
{
	const rpt_gate_eval *ev = pg->ev;
	rpt_buf_puts(b, "<nav aria-label=\"sections\"><a href=\"#verdict\">Verdict</a>");
	if (ev->n)
		rpt_buf_printf(b, "<a href=\"#gates\">Gates (%zu fail, %zu warn)</a>",
		               ev->count[RPT_FAIL], ev->count[RPT_WARN]);
	else
		rpt_buf_puts(b, "<a href=\"#gates\">Gates (none)</a>");
	rpt_buf_printf(b, "<a href=\"#integrity\">Data integrity (%zu findings)</a>",
	               rpt_html_integrity_findings(pg->st));
	rpt_buf_printf(
	    b,
	    "<a href=\"#metrics\">Key metrics (%lld)</a><a href=\"#histogram\">Histogram</a>"
	    "<a href=\"#image-use\">Image use</a><a href=\"#sfd\">SFD</a><a "
	    "href=\"#crossdist\">Cross-distribution%s</a><a href=\"#features\">What the "
	    "shortcut is</a><a href=\"#slices\">Slices</a><a href=\"#weights\">What the weights "
	    "do</a><a "
	    "href=\"#examples\">Examples "
	    "(%zu)</a><a href=\"#metadata\">Run metadata</a></nav>\n<main>\n",
	    (long long)pg->st->n_scored, pg->st->crossdist ? "" : " (not run)",
	    pg->ex[0].n + pg->ex[1].n);
}

static const char *status_class(int s)
{
	return s == RPT_FAIL ? "fail" : s == RPT_WARN ? "warn" : s == RPT_PASS ? "pass" : "notrun";
}
static const char *status_icon(int s)
{
	return s == RPT_FAIL   ? "\xe2\x9c\x97"
	       : s == RPT_WARN ? "!"
	       : s == RPT_PASS ? "\xe2\x9c\x93"
	                       : "\xe2\x80\x93";
}

static void verdict(page *pg, rpt_buf *b, const rpt_verdict *v)
{
	const rpt_gate_eval *ev = pg->ev;
	const char *cls = !strcmp(v->gate, "FAIL") || !strcmp(v->risk, "HIGH") ? "bad"
	                  : !strcmp(v->risk, "LOW") && strcmp(v->gate, "WARN") ? "good"
	                                                                       : "mid";
	rpt_buf_printf(b,
	               "<section id=\"verdict\" class=\"verdict %s\"><p class=\"kicker\">mmaudit "
	               "%s shortcut audit</p><h1>%s SHORTCUT RISK: %s",
	               cls, MMAUDIT_VERSION, v->icon, v->risk);
	if (strcmp(v->gate, "NO RULES"))
		rpt_buf_printf(b, " \xc2\xb7 GATE %s", v->gate);
	rpt_buf_puts(b, "</h1><p class=\"sentence\">");
	rpt_buf_esc(b, v->sentence, (size_t)-1);
	rpt_buf_puts(b, "</p><p class=\"strip\">");
	if (ev->n)
		for (int s = 0; s < RPT_STATUS_N; s++)
			rpt_buf_printf(b, "%s<span class=\"badge %s\">%s %zu %s</span>",
			               s ? " \xc2\xb7 " : "", status_class(s), status_icon(s),
			               ev->count[s], rpt_status_names[s]);
	else
		rpt_buf_puts(b,
		             "No gate rules were given: the gate evaluated nothing (pass "
		             "--max-shortcut-rate, --max-text-accuracy, --max-sfd, --max-ood-gap "
		             "or --policy FILE).");
	rpt_buf_puts(b, "</p>");
	rpt_html_next_steps(b, pg->st);
	rpt_buf_puts(b,
	             "<p class=\"kicker\">Shortcut risk is HIGH when the held-out text-only "
	             "accuracy of any dataset is at least 70%, MEDIUM from 60%, LOW below (50% = "
	             "chance).</p></section>\n");
}

static void gates(page *pg, rpt_buf *b)
{
	const rpt_gate_eval *ev = pg->ev;
	rpt_buf_puts(b, "<section id=\"gates\"><h2>Gates</h2>");
	if (!ev->n) {
		rpt_buf_puts(b,
		             "<p>No gate rules were given, so nothing was checked. Rules: "
		             "<code>--max-shortcut-rate</code>, <code>--max-text-accuracy</code>, "
		             "<code>--max-sfd</code>, <code>--max-ood-gap</code> or a policy file "
		             "(README, \"Gate policy file\").</p></section>\n");
		return;
	}
	rpt_buf_puts(
	    b, "<table><caption>Each rule as a sentence, failures first. Each rule is a maximum "
	       "judged on the figure's 95% interval: FAIL when it lies wholly above the threshold, "
	       "PASS when wholly at or below it, WARN when it straddles it (WARN and NOT RUN fail "
	       "only with --strict); margin = threshold - observed</caption><thead><tr><th "
	       "scope=\"col\">"
	       "Status</th><th scope=\"col\">Rule</th><th scope=\"col\" class=\"num\">Observed "
	       "(n)</th><th scope=\"col\" class=\"num\">Threshold</th><th scope=\"col\" "
	       "class=\"num\">Margin</th></tr></thead><tbody>");
	for (size_t i = 0; i < ev->n; i++) {
		const rpt_gate_result *r = &ev->r[i];
		rpt_buf_printf(b, "<tr><td><span class=\"badge %s\">%s %s</span></td><td>",
		               status_class(r->status), status_icon(r->status),
		               rpt_status_names[r->status]);
		rpt_buf_esc(b, r->sentence, (size_t)-1);
		if (r->status == RPT_NOT_RUN) {
			rpt_buf_puts(b, "<br><small>");
			rpt_buf_esc(b, r->reason, (size_t)-1);
			rpt_buf_printf(
			    b,
			    "</small></td><td class=\"num\">\xe2\x80\x93</td><td "
			    "class=\"num\">%.4g</td><td class=\"num\">\xe2\x80\x93</td></tr>",
			    r->threshold);
			continue;
		}
		rpt_buf_printf(b, "</td><td class=\"num\">%.4f (n=", r->observed);
		count(b, r->n);
		rpt_buf_puts(b, ")");
		if (!isnan(r->lo) && !isnan(r->hi))
			rpt_buf_printf(b, "<br><small>95%% CI %.3f\xe2\x80\x93%.3f</small>", r->lo,
			               r->hi);
		rpt_buf_printf(b,
		               "</td><td class=\"num\">%.4g</td><td class=\"num\">%+.4f</td></tr>",
		               r->threshold, r->margin);
	}
	rpt_buf_puts(b, "</tbody></table></section>\n");
}

static void na_cell(rpt_buf *b)
{
	rpt_buf_puts(b, "<td class=\"num noimgs\">" RPT_NA_NO_IMAGES "</td>");
}

/* A rate with its Wilson interval; greyed with the label when ni (the MM-RM is not informative). */
static void rate_cell_ni(rpt_buf *b, double p, int64_t n, int ni)
{
	char s[32];
	double lo, hi;
	rpt_wilson(p, n, &lo, &hi);
	rpt_buf_printf(b, "<td class=\"num%s\"%s>%s", ni ? " ni" : "",
	               ni ? " title=\"" RPT_NOT_INFORMATIVE_WHY "\"" : "", fmt_pct(p, s, sizeof s));
	rpt_svg_rate(b, p, lo, hi);
	if (!isnan(lo))
		rpt_buf_printf(b, "<br><small>95%% CI %.1f\xe2\x80\x93%.1f</small>", 100 * lo,
		               100 * hi);
	if (ni)
		rpt_html_ni_label(b);
	rpt_buf_puts(b, "</td>");
}

static void rate_cell(rpt_buf *b, double p, int64_t n)
{
	rate_cell_ni(b, p, n, 0);
}

/* Share of scored pairs in category needs-image; NAN when not recorded. */
static double needs_image_share(const rpt_dataset *d)
{
	char key[64];
	snprintf(key, sizeof key, "categories.%s", eng_category_name(ENG_CAT_NEEDS_IMAGE));
	double k = rpt_metric(d, key), n = rpt_metric(d, "pairs");
	return n > 0 && !isnan(k) ? k / n : NAN;
}

static void metrics(page *pg, rpt_buf *b)
{
	const rpt_state *st = pg->st;
	int any_ni = 0;
	rpt_buf_puts(
	    b,
	    "<section id=\"metrics\"><h2>Key metrics</h2><table class=\"km\"><caption>Per dataset, "
	    "newest score run; rates with their 95% Wilson interval (bar tick = 50%, "
	    "chance)</caption><thead><tr><th scope=\"col\">Dataset</th><th scope=\"col\" "
	    "class=\"num\">Scored pairs</th><th scope=\"col\" class=\"num\">Text-only acc."
	    "</th><th scope=\"col\" class=\"num\">MM-RM acc.</th><th scope=\"col\" "
	    "class=\"num\">Shortcut-aware acc.</th><th scope=\"col\" class=\"num\">Shortcut "
	    "rate</th><th scope=\"col\" class=\"num\">Needs-image share</th><th scope="
	    "\"col\" class=\"num\">SFD</th><th scope=\"col\" class=\"num\">"
	    "Pick longer</th><th scope=\"col\" class=\"num\">Pick shorter</th><th scope="
	    "\"col\" class=\"num\">No image / errors</th></tr></thead><tbody>");
	for (size_t i = 0; i < st->n_ds; i++) {
		const rpt_dataset *d = &st->ds[i];
		rpt_buf_puts(b, "<tr><th scope=\"row\">");
		rpt_buf_esc(b, d->name, (size_t)-1);
		if (!d->run_id) {
			rpt_buf_puts(
			    b,
			    "</th><td colspan=\"10\">not scored yet (run mmaudit score)</td></tr>");
			continue;
		}
		double np = rpt_metric(d, "pairs");
		int64_t n = isnan(np) ? 0 : (int64_t)np;
		rpt_buf_printf(b, "<br><small>score run %lld</small></th><td class=\"num\">",
		               (long long)d->run_id);
		count(b, n);
		rpt_buf_puts(b, "</td>");
		int mm = rpt_mm_status(d), ni = mm == RPT_MM_NOT_INFORMATIVE;
		any_ni |= ni;
		rate_cell(b, rpt_metric(d, "text_accuracy"), n);
		if (mm == RPT_MM_NO_IMAGES)
			na_cell(b), na_cell(b);
		else {
			rate_cell(b, rpt_metric(d, "mm_accuracy"), n);
			rate_cell_ni(b, rpt_metric(d, "sa_accuracy"), n, ni);
		}
		rate_cell(b, rpt_metric(d, "shortcut_rate"), n);
		if (mm == RPT_MM_NO_IMAGES)
			na_cell(b);
		else
			rate_cell_ni(b, needs_image_share(d), n, ni);
		double sfd = rpt_metric(d, "sfd"), r = rpt_metric(d, "mm_acc_text_right"),
		       w = rpt_metric(d, "mm_acc_text_wrong");
		double nr = rpt_metric(d, "n_text_right"), nw = rpt_metric(d, "n_text_wrong");
		char s1[32], s2[32];
		if (mm == RPT_MM_NO_IMAGES)
			na_cell(b);
		else {
			rpt_buf_printf(b, "<td class=\"num%s\"%s>", ni ? " ni" : "",
			               ni ? " title=\"" RPT_NOT_INFORMATIVE_WHY "\"" : "");
			if (isnan(sfd))
				rpt_buf_puts(b, "n/a<br><small>one side empty</small>");
			else {
				rpt_buf_printf(b, "%+.1f pts<br><small>%s (n=", 100 * sfd,
				               fmt_pct(r, s1, sizeof s1));
				count(b, isnan(nr) ? 0 : (int64_t)nr);
				rpt_buf_printf(b,
				               ") \xe2\x86\x92 %s (n=", fmt_pct(w, s2, sizeof s2));
				count(b, isnan(nw) ? 0 : (int64_t)nw);
				rpt_buf_puts(b, ")</small>");
			}
			if (ni)
				rpt_html_ni_label(b);
			rpt_buf_puts(b, "</td>");
		}
		rate_cell(b, rpt_metric(d, "blind.pick_longer"), n);
		rate_cell(b, rpt_metric(d, "blind.pick_shorter"), n);
		rpt_buf_puts(b, "<td class=\"num\">");
		count(b, d->pairs_without_image);
		rpt_buf_puts(b, " / ");
		count(b, d->errors);
		rpt_buf_puts(b, "</td></tr>");
	}
	rpt_buf_puts(b, "</tbody></table>");
	if (any_ni)
		rpt_buf_puts(b, "<p id=\"ni-note\"><small>\xe2\x80\xa0 " RPT_NOT_INFORMATIVE
		                ": " RPT_NOT_INFORMATIVE_WHY
		                " See <a href=\"#image-use\">Does the MM-RM use "
		                "the image?</a></small></p>");
	rpt_buf_puts(b, "<h3>Definitions</h3>");
	rpt_html_defs(b, NULL);
	rpt_buf_puts(b, "</section>\n");
}

static void histograms(page *pg, rpt_buf *b)
{
	const rpt_state *st = pg->st;
	rpt_buf_puts(b,
	             "<section id=\"histogram\"><h2>Shortcut-score histogram</h2><p>How many "
	             "pairs a text-only model can already rank without the image. Bars at or above "
	             "the dashed threshold are orange. Per-pair scores are in samples.csv.</p>");
	for (size_t i = 0; i < st->n_ds; i++) {
		const rpt_dataset *d = &st->ds[i];
		const hist *h = &pg->h[i];
		if (!d->run_id)
			continue;
		/* One number with the metrics table: the share of pairs in category text-shortcut.
		 */
		double share = h->n ? (double)h->shortcut / (double)h->n : NAN;
		double table = rpt_metric(d, "shortcut_rate");
		rpt_buf_puts(b, "<figure><h3>");
		rpt_buf_esc(b, d->name, (size_t)-1);
		rpt_buf_puts(b, "</h3>");
		rpt_svg_hist(b, d->name, h->bins, h->n, h->thr, isnan(share) ? 0 : share);
		rpt_buf_printf(
		    b,
		    "<figcaption>n = %lld pairs; p10 %.3f \xc2\xb7 p50 %.3f \xc2\xb7 p90 "
		    "%.3f; %.1f%% of the pairs are in category text-shortcut (shortcut "
		    "score at or above the threshold %.2f)",
		    (long long)h->n, h->q[0], h->q[1], h->q[2], 100 * share, h->thr);
		if (!isnan(table) && !isnan(share) && fabs(table - share) >= 0.0005)
			rpt_buf_printf(b,
			               ". The metrics table's shortcut rate is %.1f%%: the score "
			               "run's stored metrics differ from its stored per-pair "
			               "categories (score again to make them agree)",
			               100 * table);
		else
			rpt_buf_puts(b, ", the shortcut rate of the metrics table");
		if (h->above != h->shortcut)
			rpt_buf_printf(
			    b,
			    ". %lld pair(s) score at or above the threshold without being "
			    "text-shortcut (conflicting labels are suspect-label): %.1f%% "
			    "of the bars lie at or above it",
			    (long long)(h->above - h->shortcut),
			    h->n ? 100.0 * (double)h->above / (double)h->n : 0.0);
		rpt_buf_puts(b, ".</figcaption>");
		rpt_buf_puts(b,
		             "<details><summary>Bin counts</summary><table><caption>Pairs per "
		             "bin</caption><thead><tr><th scope=\"col\">Bin</th><th scope=\"col\" "
		             "class=\"num\">Pairs</th></tr></thead><tbody>");
		for (int k = 0; k < RPT_HIST_BINS; k++)
			rpt_buf_printf(b,
			               "<tr><td>[%.2f, %.2f)</td><td class=\"num\">%lld</td></tr>",
			               k / 50.0, (k + 1) / 50.0, (long long)h->bins[k]);
		rpt_buf_puts(b, "</tbody></table></details></figure>");
	}
	rpt_buf_puts(b, "</section>\n");
}

static void crossdist(page *pg, rpt_buf *b)
{
	rpt_html_crossdist(b, pg->st);
}

static void features(page *pg, rpt_buf *b)
{
	const rpt_state *st = pg->st;
	rpt_buf_printf(b,
	               "<section id=\"features\"><h2>What the shortcut is</h2><p>The %d text "
	               "features with the largest weights in the text-only proxy (weights on the "
	               "chosen-minus-rejected difference; &gt; 0 pushes toward the chosen "
	               "answer).</p>",
	               N_FEATURES);
	for (size_t i = 0; i < st->n_ds; i++) {
		const rpt_dataset *d = &st->ds[i];
		const feats *f = &pg->f[i];
		if (!d->run_id)
			continue;
		rpt_buf_puts(b, "<h3>");
		rpt_buf_esc(b, d->name, (size_t)-1);
		rpt_buf_puts(b, "</h3>");
		if (!f->n) {
			rpt_buf_puts(b, "<p>No features recorded by the score run.</p>");
			continue;
		}
		rpt_buf_puts(b, "<figure>");
		rpt_svg_diverging(b, d->name, f->n, (const char *const *)f->name, f->w);
		rpt_buf_puts(b, "</figure><table><caption>Top features of ");
		rpt_buf_esc(b, d->name, (size_t)-1);
		rpt_buf_puts(
		    b, "</caption><thead><tr><th scope=\"col\">Feature</th><th scope=\"col\" "
		       "class=\"num\">Weight</th><th scope=\"col\" class=\"num\">Share of "
		       "pairs where present</th><th scope=\"col\" class=\"num\">Proxy accuracy "
		       "when present</th></tr></thead><tbody>");
		for (size_t k = 0; k < f->n; k++) {
			char s1[32], s2[32];
			rpt_buf_puts(b, "<tr><td><code>");
			rpt_buf_esc(b, f->name[k], (size_t)-1);
			rpt_buf_printf(
			    b,
			    "</code></td><td class=\"num\">%+.4g</td><td class=\"num\">%s"
			    "</td><td class=\"num\">%s</td></tr>",
			    f->w[k], fmt_pct(f->present[k], s1, sizeof s1),
			    fmt_pct(f->acc[k], s2, sizeof s2));
		}
		rpt_buf_puts(b, "</tbody></table>");
	}
	rpt_buf_puts(b, "</section>\n");
}

/* A text block: the first SHOWN_CHARS code points, the rest (already capped at 4 KB) in
 * <details>, and a note when the workspace holds more. */
static void text_block(rpt_buf *b, const char *cls, const char *s, int64_t chars)
{
	size_t n = strlen(s), head = rpt_utf8_prefix(s, n, SHOWN_CHARS);
	rpt_buf_printf(b, "<div class=\"%s\">", cls);
	rpt_buf_esc(b, s, head);
	if (head < n) {
		size_t rest = eng_text_chars(s + head, n - head);
		rpt_buf_printf(b, "<details><summary>%zu more characters</summary>", rest);
		rpt_buf_esc(b, s + head, n - head);
		rpt_buf_puts(b, "</details>");
	}
	int64_t loaded = (int64_t)eng_text_chars(s, n);
	if (chars > loaded)
		rpt_buf_printf(b,
		               "<small> [%lld more characters not shown: 4 KB cap; the full text "
		               "is in the workspace]</small>",
		               (long long)(chars - loaded));
	rpt_buf_puts(b, "</div>");
}

static void card(page *pg, rpt_buf *b, const rpt_card *c, int thumbs, size_t *omitted)
{
	rpt_buf_printf(b, "<article class=\"card\" id=\"pair-%lld\"><header><strong>",
	               (long long)c->pair_id);
	rpt_buf_esc(b, c->dataset, (size_t)-1);
	rpt_buf_puts(b, "</strong> id <code>");
	rpt_buf_esc(b, c->ext_id, (size_t)-1);
	rpt_buf_printf(b, "</code><small>pair %lld</small>", (long long)c->pair_id);
	rpt_html_card_group(b, c);
	rpt_buf_puts(b, "</header>");
	const char *mime = NULL;
	if (c->thumb && c->thumb_len > 3 && c->thumb[0] == 0xff && c->thumb[1] == 0xd8)
		mime = "image/jpeg";
	else if (c->thumb && c->thumb_len > 8 && !memcmp(c->thumb, "\x89PNG", 4))
		mime = "image/png";
	if (!c->has_image)
		rpt_buf_puts(b, "<div class=\"noimg\">no image in this pair</div>");
	else if (!mime)
		rpt_buf_puts(
		    b, "<div class=\"noimg\">image unavailable<br>(no thumbnail stored)</div>");
	else if (!thumbs || c->thumb_len > pg->thumb_cap) {
		if (thumbs)
			(*omitted)++;
		rpt_buf_printf(b,
		               "<div class=\"noimg\">image unavailable<br>(thumbnail omitted: "
		               "%zu KB, size cap)</div>",
		               (c->thumb_len + 1023) / 1024);
	} else {
		rpt_buf_puts(b, "<img class=\"thumb\" alt=\"thumbnail of image ");
		rpt_buf_esc(b, c->sha256 ? c->sha256 : "", 16);
		rpt_buf_printf(b, "\" src=\"data:%s;base64,", mime);
		rpt_buf_base64(b, c->thumb, c->thumb_len);
		rpt_buf_puts(b, "\">");
	}
	int mm = rpt_mm_status(rpt_state_dataset(pg->st, c->dataset));
	if (mm == RPT_MM_NO_IMAGES)
		rpt_buf_printf(b,
		               "<p><small>shortcut score p_text %.3f \xc2\xb7 p_mm, p_sa, "
		               "sfc: " RPT_NA_NO_IMAGES "</small></p><strong>Prompt</strong>",
		               c->p_text);
	else
		rpt_buf_printf(b,
		               "<p><small>shortcut score p_text %.3f \xc2\xb7 <span%s>p_mm %.3f "
		               "\xc2\xb7 p_sa %.3f \xc2\xb7 sfc %.3f%s</span></small></p><strong>"
		               "Prompt</strong>",
		               c->p_text, mm == RPT_MM_NOT_INFORMATIVE ? " class=\"ni\"" : "",
		               c->p_mm, c->p_sa, c->sfc,
		               mm == RPT_MM_NOT_INFORMATIVE ? " (" RPT_NOT_INFORMATIVE
		                                              ": this dataset's MM-RM does not use "
		                                              "the image)"
		                                            : "");
	text_block(b, "prompt", c->text[0], c->chars[0]);
	rpt_buf_printf(b,
	               "<div class=\"ans\"><div class=\"ch\"><strong>\xe2\x9c\x93 CHOSEN</strong> "
	               "<small>%lld chars</small>",
	               (long long)c->chars[1]);
	text_block(b, "txt", c->text[1], c->chars[1]);
	rpt_buf_printf(b,
	               "</div><div class=\"rj\"><strong>\xe2\x9c\x97 REJECTED</strong> "
	               "<small>%lld chars</small>",
	               (long long)c->chars[2]);
	text_block(b, "txt", c->text[2], c->chars[2]);
	rpt_buf_puts(b, "</div></div></article>");
}

static void examples(page *pg, rpt_buf *b, size_t n_cards, int thumbs, size_t *omitted)
{
	static const char *title[2] = {"Most text-solvable", "Need the image"};
	static const char *rule[2] = {"category text-shortcut, highest shortcut score first",
	                              "category needs-image (text-only wrong, MM-RM right), lowest "
	                              "shortcut score first"};
	rpt_buf_puts(b, "<section id=\"examples\"><h2>Examples</h2>");
	for (int l = 0; l < 2; l++) {
		const rpt_examples *ex = &pg->ex[l];
		size_t n = ex->n < n_cards ? ex->n : n_cards;
		rpt_buf_printf(b, "<h3>%s</h3><p>Top %zu of ", title[l], n);
		count(b, ex->distinct);
		rpt_buf_puts(b, " distinct pairs (");
		count(b, ex->total);
		rpt_buf_printf(b,
		               " pairs; a duplicate group is one card, its best-ranked member) by "
		               "%s, across scored datasets; ties by pair id. Every pair is in "
		               "samples.csv.</p><div class=\"cards\">",
		               rule[l]);
		for (size_t i = 0; i < n; i++)
			card(pg, b, &ex->cards[i], thumbs, omitted);
		rpt_buf_puts(b, "</div>");
	}
	rpt_buf_puts(b, "</section>\n");
}

static void kv(rpt_buf *b, const char *k, const char *v)
{
	rpt_buf_puts(b, "<tr><th scope=\"row\">");
	rpt_buf_esc(b, k, (size_t)-1);
	rpt_buf_puts(b, "</th><td>");
	rpt_buf_esc(b, v ? v : "\xe2\x80\x93", (size_t)-1);
	rpt_buf_puts(b, "</td></tr>");
}

static int input_row(void *ctx, const eng_source_file_row *r)
{
	rpt_buf *b = ctx;
	rpt_buf_puts(b, "<tr><td>");
	rpt_buf_esc(b, r->dataset, (size_t)-1);
	rpt_buf_puts(b, "</td><td>");
	rpt_buf_esc(b, r->path, (size_t)-1);
	rpt_buf_puts(b, "</td><td><code>");
	rpt_buf_esc(b, r->sha256, (size_t)-1);
	rpt_buf_printf(b,
	               "</code></td><td class=\"num\">%lld</td><td class=\"num\">%lld</td>"
	               "<td class=\"num\">%lld</td><td class=\"num\">%lld</td></tr>",
	               (long long)r->bytes, (long long)r->records, (long long)r->pairs,
	               (long long)r->errors);
	return 0;
}

static int metadata(page *pg, rpt_buf *b, const rpt_buf *cuts, eng_err *err)
{
	const rpt_state *st = pg->st;
	rpt_buf_printf(b, "<section id=\"metadata\"><h2>Run metadata</h2><table class=\"meta\">"
	                  "<caption>Report</caption><tbody>");
	kv(b, "mmaudit version", MMAUDIT_VERSION);
	char s[64];
	snprintf(s, sizeof s, "%d per list (requested)", pg->o->top_n);
	kv(b, "examples", s);
	rpt_buf_puts(b, "</tbody></table>");
	for (size_t i = 0; i < st->n_runs; i++) {
		const rpt_run *r = &st->runs[i];
		rpt_buf_printf(b, "<table class=\"meta\"><caption>%s run %lld</caption><tbody>",
		               r->kind && !strcmp(r->kind, ENG_RUN_CROSSDIST) ? ENG_RUN_CROSSDIST
		                                                              : ENG_RUN_SCORE,
		               (long long)r->id);
		snprintf(s, sizeof s, "%lld", (long long)r->seed);
		kv(b, "seed", s);
		kv(b, "command", r->command);
		kv(b, "versions", r->versions);
		kv(b, "options", r->options);
		kv(b, "started", r->started_at);
		kv(b, "finished", r->finished_at);
		if (isnan(r->seconds))
			kv(b, "duration", NULL);
		else {
			snprintf(s, sizeof s, "%.1f s", r->seconds);
			kv(b, "duration", s);
		}
		rpt_buf_puts(b, "</tbody></table>");
	}
	rpt_buf_puts(b,
	             "<table class=\"meta\"><caption>Input files</caption><thead><tr><th scope="
	             "\"col\">Dataset</th><th scope=\"col\">Path</th><th scope=\"col\">SHA-256</th>"
	             "<th scope=\"col\" class=\"num\">Bytes</th><th scope=\"col\" class=\"num\">"
	             "Records</th><th scope=\"col\" class=\"num\">Pairs</th><th scope=\"col\" "
	             "class=\"num\">Errors</th></tr></thead><tbody>");
	int rc = eng_source_files_each(st->ws, 0, input_row, b, err);
	rpt_buf_puts(b, "</tbody></table><h3>Size cuts applied by the writer</h3><ul>");
	if (cuts->len)
		rpt_buf_put(b, cuts->p, cuts->len);
	else
		rpt_buf_puts(b, "<li>none: every section is complete at its fixed caps (50 bins, "
		                "15 features, 400 characters shown and 4 KB per text).</li>");
	rpt_buf_puts(b, "</ul><p>This report: <span>" SIZE_TOKEN "</span> bytes.</p></section>\n"
	                "</main></body></html>\n");
	return rc;
}

static int render(page *pg, size_t n_cards, int thumbs, const rpt_buf *cuts, rpt_buf *b,
                  size_t *omitted, eng_err *err)
{
	rpt_verdict v;
	rpt_verdict_make(pg->st, pg->ev, rpt_policy_count(pg->p), &v);
	*omitted = 0;
	head(pg, b, &v);
	nav(pg, b);
	verdict(pg, b, &v);
	gates(pg, b);
	rpt_html_integrity(b, pg->st);
	metrics(pg, b);
	histograms(pg, b);
	rpt_html_image_use(b, pg->st);
	rpt_html_sfd(b, pg->st);
	crossdist(pg, b);
	features(pg, b);
	rpt_html_slices(b, pg->st);
	rpt_html_weights(b, pg->st);
	examples(pg, b, n_cards, thumbs, omitted);
	int rc = metadata(pg, b, cuts, err);
	if (!rc && b->oom)
		rc = eng_err_set(err, ENG_ENOMEM, "out of memory building report.html");
	return rc;
}

int rpt_html_write(const rpt_state *st, const rpt_policy *p, const rpt_gate_eval *ev,
                   const rpt_html_options *o, FILE *f, size_t *bytes, eng_err *err)
{
	page pg = {.st = st, .p = p, .ev = ev, .o = o};
	pg.thumb_cap = o->thumb_cap ? o->thumb_cap : 20 * 1024;
	size_t budget = o->budget ? o->budget : 4500 * 1024;
	int top_n = o->top_n < 1 ? 1 : o->top_n > 100 ? 100 : o->top_n;
	rpt_buf b = {0}, cuts = {0};
	int rc = 0;
	pg.h = calloc(st->n_ds + 1, sizeof *pg.h);
	pg.f = calloc(st->n_ds + 1, sizeof *pg.f);
	pg.seen[0] = calloc(st->n_ds + 1, sizeof *pg.seen[0]);
	pg.seen[1] = calloc(st->n_ds + 1, sizeof *pg.seen[1]);
	if (!pg.h || !pg.f || !pg.seen[0] || !pg.seen[1]) {
		rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < st->n_ds && !rc; i++)
		if (st->ds[i].run_id &&
		    !(rc =
		          load_hist(st, &st->ds[i], top_n, &pg.h[i],
		                    (rpt_examples_seen *[2]){&pg.seen[0][i], &pg.seen[1][i]}, err)))
			rc = load_feats(st, &st->ds[i], &pg.f[i], err);
	for (int l = 0; l < 2 && !rc; l++)
		rc = rpt_examples_load(st, l, top_n, pg.seen[l], &pg.ex[l], err);
	if (rc)
		goto out;
	size_t n_cards = (size_t)top_n, omitted = 0;
	int thumbs = 1;
	for (;;) {
		b.len = 0;
		if ((rc = render(&pg, n_cards, thumbs, &cuts, &b, &omitted, err)))
			goto out;
		if (b.len <= budget)
			break;
		if (n_cards > 5) {
			size_t next = n_cards / 2;
			rpt_buf_printf(&cuts,
			               "<li>examples per list cut from %zu to %zu: the page was "
			               "%zu bytes, over the %zu-byte budget.</li>",
			               n_cards, next, b.len, budget);
			n_cards = next;
		} else if (thumbs) {
			rpt_buf_printf(&cuts,
			               "<li>thumbnails dropped: the page was %zu bytes, over "
			               "the %zu-byte budget.</li>",
			               b.len, budget);
			thumbs = 0;
		} else {
			rpt_buf_printf(&cuts,
			               "<li>still %zu bytes after every cut; written as is."
			               "</li>",
			               b.len);
			b.len = 0;
			if ((rc = render(&pg, n_cards, thumbs, &cuts, &b, &omitted, err)))
				goto out;
			break;
		}
	}
	if (omitted) {
		/* Per-thumbnail caps do not depend on the budget: log them and render once more. */
		rpt_buf_printf(&cuts,
		               "<li>%zu thumbnail(s) over the %zu-byte cap replaced by a "
		               "placeholder.</li>",
		               omitted, pg.thumb_cap);
		b.len = 0;
		if ((rc = render(&pg, n_cards, thumbs, &cuts, &b, &omitted, err)))
			goto out;
	}
	/* Fill in the page's own size: the token and the number have the same width. */
	char *tok = NULL, *at = b.p;
	while ((at = strstr(at, SIZE_TOKEN)))
		tok = at++;
	if (tok) {
		char num[sizeof SIZE_TOKEN];
		snprintf(num, sizeof num, "%*zu", (int)(sizeof SIZE_TOKEN - 1), b.len);
		memcpy(tok, num, sizeof SIZE_TOKEN - 1);
	}
	if (fwrite(b.p, 1, b.len, f) != b.len || ferror(f))
		rc = eng_err_set(err, ENG_EIO, "write report.html: %s", strerror(errno));
	if (bytes)
		*bytes = b.len;
out:
	for (size_t i = 0; pg.f && i < st->n_ds; i++)
		for (size_t k = 0; k < pg.f[i].n; k++)
			free(pg.f[i].name[k]);
	free(pg.h);
	free(pg.f);
	free(pg.seen[0]);
	free(pg.seen[1]);
	rpt_examples_clear(&pg.ex[0]);
	rpt_examples_clear(&pg.ex[1]);
	rpt_buf_free(&b);
	rpt_buf_free(&cuts);
	return rc;
}
