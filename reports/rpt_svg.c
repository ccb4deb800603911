/* rpt_svg.c - SVG drawing for report.html. Geometry only; the numbers come from the caller. */
#include "reports/rpt_svg.h"
#include "safetext.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define SVG_OPEN                                                                                   \
	"<svg class=\"chart\" role=\"img\" viewBox=\"0 0 %d %d\" width=\"100%%\" "                 \
	"preserveAspectRatio=\"xMinYMin meet\">"

static void title_desc(rpt_buf *b, const char *title, const char *desc)
{
	rpt_buf_puts(b, "<title>");
	rpt_buf_esc(b, title, (size_t)-1);
	rpt_buf_puts(b, "</title><desc>");
	rpt_buf_esc(b, desc, (size_t)-1);
	rpt_buf_puts(b, "</desc>");
}

void rpt_viridis(double t, char out[8])
{
	static const unsigned char stops[11][3] = {
	    {0x44, 0x01, 0x54}, {0x48, 0x24, 0x75}, {0x41, 0x44, 0x87}, {0x35, 0x5f, 0x8d},
	    {0x2a, 0x78, 0x8e}, {0x21, 0x91, 0x8c}, {0x22, 0xa8, 0x84}, {0x44, 0xbf, 0x70},
	    {0x7a, 0xd1, 0x51}, {0xbd, 0xdf, 0x26}, {0xfd, 0xe7, 0x25}};
	if (isnan(t) || t < 0)
		t = 0;
	if (t > 1)
		t = 1;
	double x = t * 10;
	int i = (int)x;
	if (i >= 10)
		i = 9;
	double f = x - i;
	int c[3];
	for (int k = 0; k < 3; k++)
		c[k] = (int)lround(stops[i][k] + f * (stops[i + 1][k] - stops[i][k]));
	snprintf(out, 8, "#%02x%02x%02x", c[0], c[1], c[2]);
}

void rpt_svg_hist(rpt_buf *b, const char *dataset, const int64_t bins[RPT_HIST_BINS], int64_t n,
                  double threshold, double share_shortcut)
{
	const int W = 760, H = 250, L = 56, R = 16, T = 28, B = 44;
	int64_t max = 1;
	for (int i = 0; i < RPT_HIST_BINS; i++)
		if (bins[i] > max)
			max = bins[i];
	char title[512], desc[512];
	snprintf(title, sizeof title, "Shortcut-score histogram of %s", dataset);
	snprintf(desc, sizeof desc,
	         "%.1f%% of %lld pairs are in category text-shortcut (shortcut score at or above "
	         "the threshold %.2f).",
	         100 * share_shortcut, (long long)n, threshold);
	rpt_buf_printf(b, SVG_OPEN, W, H);
	title_desc(b, title, desc);
	double pw = W - L - R, ph = H - T - B, bw = pw / RPT_HIST_BINS;
	/* y axis: 0, max/2, max */
	for (int k = 0; k <= 2; k++) {
		double v = max * k / 2.0, y = T + ph - ph * k / 2.0;
		rpt_buf_printf(
		    b,
		    "<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>"
		    "<text class=\"tick\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.0f</text>",
		    L, y, W - R, y, L - 6, y + 4, v);
	}
	for (int i = 0; i < RPT_HIST_BINS; i++) {
		double h = ph * (double)bins[i] / (double)max;
		double x = L + i * bw;
		int above = (i + 1) / (double)RPT_HIST_BINS > threshold + 1e-12;
		rpt_buf_printf(
		    b,
		    "<rect class=\"%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\">"
		    "<title>[%.2f, %.2f): %lld pairs</title></rect>",
		    above ? "bar-shortcut" : "bar-context", x + 0.5, T + ph - h, bw - 1, h,
		    i / 50.0, (i + 1) / 50.0, (long long)bins[i]);
	}
	for (int k = 0; k <= 10; k += 2) {
		double x = L + pw * k / 10.0;
		rpt_buf_printf(
		    b,
		    "<line class=\"axis\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>"
		    "<text class=\"tick\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.1f</text>",
		    x, T + (int)ph, x, T + (int)ph + 4, x, T + (int)ph + 16, k / 10.0);
	}
	double tx = L + pw * threshold;
	rpt_buf_printf(
	    b,
	    "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>"
	    "<line class=\"thr\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"><title>threshold "
	    "%.2f</title></line>"
	    "<text class=\"lab\" x=\"%.1f\" y=\"%d\" text-anchor=\"%s\">threshold %.2f: "
	    "%.1f%% text-shortcut</text>",
	    L, T + (int)ph, W - R, T + (int)ph, tx, T - 6, tx, T + (int)ph, threshold,
	    tx + (threshold > 0.6 ? -4 : 4), T - 10, threshold > 0.6 ? "end" : "start", threshold,
	    100 * share_shortcut);
	rpt_buf_printf(
	    b,
	    "<text class=\"lab\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">shortcut score "
	    "(p_text): probability a text-only model prefers the chosen answer</text>"
	    "<text class=\"lab\" transform=\"rotate(-90)\" x=\"%d\" y=\"14\" "
	    "text-anchor=\"middle\">pairs</text></svg>",
	    L + pw / 2, H - 8, -(T + (int)ph / 2));
}

void rpt_svg_slope(rpt_buf *b, size_t n, const char *const *names, const double *right,
                   const double *wrong, const int64_t *n_right, const int64_t *n_wrong)
{
	const int W = 760, T = 30, B = 40, ph = 220, H = T + ph + B, x0 = 230, x1 = 530;
	rpt_buf_printf(b, SVG_OPEN, W, H);
	double worst = NAN;
	const char *wn = "";
	for (size_t i = 0; i < n; i++)
		if (!isnan(right[i]) && !isnan(wrong[i]) &&
		    (isnan(worst) || right[i] - wrong[i] > worst)) {
			worst = right[i] - wrong[i];
			wn = names[i];
		}
	char desc[512];
	if (isnan(worst))
		snprintf(desc, sizeof desc, "SFD is undefined for every dataset.");
	else
		snprintf(
		    desc, sizeof desc,
		    "Largest drop: %s, %.1f points lower MM-RM accuracy where the text shortcut "
		    "fails.",
		    wn, 100 * worst);
	title_desc(b, "MM-RM accuracy where the text proxy is right vs wrong", desc);
	for (int k = 0; k <= 4; k++) {
		double y = T + ph - ph * k / 4.0;
		rpt_buf_printf(
		    b,
		    "<line class=\"%s\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>"
		    "<text class=\"tick\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%d%%</text>",
		    k == 2 ? "chance" : "grid", x0 - 70, y, x1 + 70, y, x0 - 76, y + 4, k * 25);
	}
	rpt_buf_printf(
	    b,
	    "<text class=\"lab\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">text proxy right"
	    "</text><text class=\"lab\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">text proxy "
	    "wrong</text><text class=\"tick\" x=\"%d\" y=\"%.1f\">chance 50%%</text>",
	    x0, H - 12, x1, H - 12, x1 + 72, T + ph / 2.0 + 4);
	for (size_t i = 0; i < n; i++) {
		if (isnan(right[i]) || isnan(wrong[i]))
			continue;
		double ya = T + ph * (1 - right[i]), yb = T + ph * (1 - wrong[i]);
		int cls = (int)(i % 3);
		rpt_buf_printf(b, "<g class=\"s%d\"><title>", cls);
		rpt_buf_esc(b, names[i], (size_t)-1);
		rpt_buf_printf(
		    b,
		    ": %.1f%% (n=%lld) where text is right, %.1f%% (n=%lld) where wrong; "
		    "SFD %+.1f points</title>"
		    "<line class=\"slope\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>"
		    "<circle cx=\"%d\" cy=\"%.1f\" r=\"4\"/><circle cx=\"%d\" cy=\"%.1f\" "
		    "r=\"4\"/>",
		    100 * right[i], (long long)n_right[i], 100 * wrong[i], (long long)n_wrong[i],
		    100 * (right[i] - wrong[i]), x0, ya, x1, yb, x0, ya, x1, yb);
		rpt_buf_printf(b, "<text class=\"tick\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">",
		               x0 - 8, ya + 4);
		rpt_buf_esc(b, names[i], (size_t)-1);
		rpt_buf_printf(
		    b,
		    " %.1f%% n=%lld</text><text class=\"tick\" x=\"%d\" y=\"%.1f\">%.1f%% "
		    "n=%lld, drop %.1f pts</text></g>",
		    100 * right[i], (long long)n_right[i], x1 + 8, yb + 4, 100 * wrong[i],
		    (long long)n_wrong[i], 100 * (right[i] - wrong[i]));
	}
	rpt_buf_puts(b, "</svg>");
}

/* ---- heat map ---- */

#define LABEL_CW  5.8 /* px per character of an 11 px tick label (system-ui average) */
#define LABEL_LH  13  /* px per label line */
#define MAX_LINES 64

/* Splits s into lines of at most w code points, breaking after '-', '_', '.', '/', ':' or a space
 * in the second half of a line when there is one, else inside the word. Nothing is dropped: the
 * lines put together are s. Returns the number of lines (at most MAX_LINES; the last one then
 * holds the rest); off[k], len[k] are byte offsets and lengths. */
static size_t wrap(const char *s, size_t w, size_t off[MAX_LINES], size_t len[MAX_LINES])
{
	size_t n = strlen(s), at = 0, k = 0;
	if (w < 4)
		w = 4;
	while (k < MAX_LINES) {
		size_t rest = n - at, take = rpt_utf8_prefix(s + at, rest, w);
		if (!take || take >= rest || k == MAX_LINES - 1) {
			off[k] = at;
			len[k++] = rest;
			break;
		}
		for (size_t i = take; i > 1; i--) /* after the last separator that fits */
			if (strchr("-_./: ", s[at + i - 1])) {
				take = i;
				break;
			}
		off[k] = at;
		len[k++] = take;
		at += take;
	}
	return k;
}

static size_t longest_line(const char *s, size_t w)
{
	size_t off[MAX_LINES], len[MAX_LINES], m = 0, k = wrap(s, w, off, len);
	for (size_t i = 0; i < k; i++) {
		size_t c = eng_text_chars(s + off[i], len[i]);
		if (c > m)
			m = c;
	}
	return m;
}

/* <text> of name wrapped to w code points, one <tspan> per line from baseline y0 down (anchor
 * middle or end), the whole name also in its <title>. */
static void label(rpt_buf *b, const char *name, size_t w, int x, double y0, const char *anchor)
{
	size_t off[MAX_LINES], len[MAX_LINES], k = wrap(name, w, off, len);
	rpt_buf_printf(b, "<text class=\"tick\" text-anchor=\"%s\"><title>", anchor);
	rpt_buf_esc(b, name, (size_t)-1);
	rpt_buf_puts(b, "</title>");
	for (size_t i = 0; i < k; i++) {
		rpt_buf_printf(b, "<tspan x=\"%d\" y=\"%.1f\">", x, y0 + (double)i * LABEL_LH);
		rpt_buf_esc(b, name + off[i], len[i]);
		rpt_buf_puts(b, "</tspan>");
	}
	rpt_buf_puts(b, "</text>");
}

static size_t lines_of(const char *s, size_t w)
{
	size_t off[MAX_LINES], len[MAX_LINES];
	return wrap(s, w, off, len);
}

/* 1 when white text contrasts more with fill than black (WCAG 2 relative luminance), else 0. */
static int light_ink(const char fill[8])
{
	unsigned rgb[3] = {0, 0, 0};
	if (sscanf(fill, "#%02x%02x%02x", &rgb[0], &rgb[1], &rgb[2]) != 3)
		return 0;
	double lum = 0;
	static const double wt[3] = {0.2126, 0.7152, 0.0722};
	for (int k = 0; k < 3; k++) {
		double c = rgb[k] / 255.0;
		lum += wt[k] * (c <= 0.04045 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4));
	}
	return 1.05 / (lum + 0.05) > (lum + 0.05) / 0.05;
}

/* "n=1,039" (or "n=12k" in a narrow cell). */
static void cell_n(int64_t n, int wide, char *out, size_t cap)
{
	if (n >= 10000 && !wide) {
		snprintf(out, cap, "n=%lldk", (long long)((n + 500) / 1000));
		return;
	}
	char digits[24];
	int len = snprintf(digits, sizeof digits, "%lld", (long long)n), o = 2;
	if (cap < 32)
		return;
	out[0] = 'n';
	out[1] = '=';
	for (int i = 0; i < len; i++) {
		if (i && (len - i) % 3 == 0)
			out[o++] = ',';
		out[o++] = digits[i];
	}
	out[o] = 0;
}

void rpt_svg_heat(rpt_buf *b, const char *method, size_t d, const char *const *names,
                  const double *acc, const int64_t *n)
{
	const int cell = d <= 4 ? 72 : d <= 8 ? 52 : 40;
	/* column labels wrap to the cell width; row labels to as few lines as fit in a cell */
	size_t col_w = (size_t)((cell - 6) / LABEL_CW), row_lines = (size_t)(cell / LABEL_LH),
	       row_w = 16, col_lines = 1, row_max = 1;
	for (size_t i = 0; i < d; i++)
		while (lines_of(names[i], row_w) > row_lines)
			row_w++;
	for (size_t i = 0; i < d; i++) {
		size_t k = lines_of(names[i], col_w), m = longest_line(names[i], row_w);
		if (k > col_lines)
			col_lines = k;
		if (m > row_max)
			row_max = m;
	}
	const int L = 22 + (int)(row_max * LABEL_CW) + 8, T = 22 + (int)col_lines * LABEL_LH + 4;
	int W = L + (int)d * cell + 10, H = T + (int)d * cell + 10;
	/* never drawn above 1.25x: a 2 x 2 map is not blown up to the column width */
	rpt_buf_printf(b,
	               "<svg class=\"chart\" role=\"img\" viewBox=\"0 0 %d %d\" width=\"100%%\" "
	               "style=\"max-width:%dpx\" preserveAspectRatio=\"xMinYMin meet\">",
	               W, H, W * 5 / 4);
	double iid = 0, ood = 0;
	int ni = 0, no = 0;
	for (size_t i = 0; i < d; i++)
		for (size_t j = 0; j < d; j++) {
			double a = acc[i * d + j];
			if (isnan(a))
				continue;
			if (i == j) {
				iid += a;
				ni++;
			} else {
				ood += a;
				no++;
			}
		}
	char title[256], desc[256];
	snprintf(title, sizeof title, "Cross-distribution accuracy, %s", method);
	if (ni && no)
		snprintf(desc, sizeof desc,
		         "%s: i.i.d. mean %.1f%%, o.o.d. mean %.1f%%, gap %.1f points.", method,
		         100 * iid / ni, 100 * ood / no, 100 * (iid / ni - ood / no));
	else
		snprintf(desc, sizeof desc, "%s: only the diagonal is available.", method);
	title_desc(b, title, desc);
	rpt_buf_printf(b,
	               "<text class=\"lab\" x=\"%d\" y=\"13\" text-anchor=\"middle\">tested on"
	               "</text>",
	               L + (int)d * cell / 2);
	for (size_t j = 0; j < d; j++) /* bottom line's baseline 8 px above the grid */
		label(b, names[j], col_w, L + (int)j * cell + cell / 2,
		      T - 8 - (double)(lines_of(names[j], col_w) - 1) * LABEL_LH, "middle");
	for (size_t i = 0; i < d; i++) {
		label(b, names[i], row_w, L - 6,
		      T + (int)i * cell + cell / 2.0 + 4 -
		          (double)(lines_of(names[i], row_w) - 1) * LABEL_LH / 2,
		      "end");
		for (size_t j = 0; j < d; j++) {
			double a = acc[i * d + j];
			int64_t nc = n ? n[i * d + j] : -1;
			char col[8], ns[32] = "";
			rpt_viridis((a - 0.5) / 0.5, col);
			if (nc >= 0)
				cell_n(nc, cell >= 72, ns, sizeof ns);
			int x = L + (int)j * cell, y = T + (int)i * cell;
			rpt_buf_printf(b, "<g><title>trained on ");
			rpt_buf_esc(b, names[i], (size_t)-1);
			rpt_buf_puts(b, ", tested on ");
			rpt_buf_esc(b, names[j], (size_t)-1);
			if (isnan(a)) {
				rpt_buf_printf(b,
				               ": not measured</title><rect x=\"%d\" y=\"%d\" "
				               "width=\"%d\" height=\"%d\" class=\"na\"/>"
				               "<text class=\"tick\" x=\"%d\" y=\"%d\" "
				               "text-anchor=\"middle\">n/a</text></g>",
				               x, y, cell, cell, x + cell / 2, y + cell / 2 + 4);
				continue;
			}
			int ink = light_ink(col); /* class ink1: white text, ink0: black */
			rpt_buf_printf(b, ": %.1f%%", 100 * a);
			if (nc >= 0)
				rpt_buf_printf(b, " of %lld test pairs", (long long)nc);
			rpt_buf_printf(
			    b,
			    "%s</title><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
			    "fill=\"%s\"/>",
			    i == j ? " (i.i.d.)" : "", x, y, cell, cell, col);
			if (i == j)
				rpt_buf_printf(
				    b,
				    "<rect x=\"%.1f\" y=\"%.1f\" width=\"%d\" height=\"%d\" "
				    "fill=\"none\" stroke=\"%s\" stroke-width=\"2\"/>",
				    x + 2.5, y + 2.5, cell - 5, cell - 5, ink ? "#fff" : "#000");
			rpt_buf_printf(b,
			               "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" "
			               "class=\"cellv ink%d\">%.1f</text>",
			               x + cell / 2, y + cell / 2 + (ns[0] ? -1 : 4), ink, 100 * a);
			if (ns[0])
				rpt_buf_printf(b,
				               "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" "
				               "class=\"celln ink%d\">%s</text>",
				               x + cell / 2, y + cell / 2 + 13, ink, ns);
			rpt_buf_puts(b, "</g>");
		}
	}
	rpt_buf_printf(b,
	               "<text class=\"lab\" transform=\"rotate(-90)\" x=\"%d\" y=\"13\" "
	               "text-anchor=\"middle\">trained on</text></svg>",
	               -(T + (int)d * cell / 2));
}

void rpt_svg_colorbar(rpt_buf *b)
{
	rpt_buf_printf(b, SVG_OPEN, 360, 44);
	title_desc(b, "Colour scale of the heat maps",
	           "Viridis from 50% (chance, dark purple) to 100% (yellow); shared by every map.");
	for (int i = 0; i < 50; i++) {
		char col[8];
		rpt_viridis(i / 49.0, col);
		rpt_buf_printf(b, "<rect x=\"%d\" y=\"4\" width=\"6\" height=\"14\" fill=\"%s\"/>",
		               20 + i * 6, col);
	}
	for (int k = 0; k <= 5; k++)
		rpt_buf_printf(
		    b, "<text class=\"tick\" x=\"%d\" y=\"34\" text-anchor=\"middle\">%d%%</text>",
		    20 + k * 60, 50 + k * 10);
	rpt_buf_puts(b, "</svg>");
}

void rpt_svg_diverging(rpt_buf *b, const char *dataset, size_t n, const char *const *features,
                       const double *weights)
{
	const int W = 760, row = 20, T = 26, mid = 460, half = 260;
	int H = T + (int)n * row + 30;
	double max = 1e-12;
	for (size_t i = 0; i < n; i++)
		if (fabs(weights[i]) > max)
			max = fabs(weights[i]);
	char title[512], desc[512];
	snprintf(title, sizeof title, "Top text features of the proxy on %s", dataset);
	if (n)
		snprintf(desc, sizeof desc, "Strongest feature: %s (weight %+.3g, %s).",
		         features[0], weights[0],
		         weights[0] > 0 ? "toward chosen" : "toward rejected");
	else
		snprintf(desc, sizeof desc, "No features recorded.");
	rpt_buf_printf(b, SVG_OPEN, W, H);
	title_desc(b, title, desc);
	rpt_buf_printf(
	    b,
	    "<text class=\"lab\" x=\"%d\" y=\"14\" text-anchor=\"end\">\xe2\x86\x90 toward "
	    "rejected</text><text class=\"lab\" x=\"%d\" y=\"14\">toward chosen \xe2\x86\x92"
	    "</text>",
	    mid - 6, mid + 6);
	for (size_t i = 0; i < n; i++) {
		double w = weights[i], len = half * 0.95 * fabs(w) / max;
		int y = T + (int)i * row;
		double x = w >= 0 ? mid : mid - len;
		rpt_buf_printf(b, "<g><title>");
		rpt_buf_esc(b, features[i], (size_t)-1);
		rpt_buf_printf(
		    b,
		    ": weight %+.4g</title><rect class=\"%s\" x=\"%.1f\" y=\"%d\" "
		    "width=\"%.1f\" height=\"%d\"/><text class=\"tick\" x=\"%d\" y=\"%d\" "
		    "text-anchor=\"end\">",
		    w, w >= 0 ? "bar-shortcut" : "bar-mm", x, y + 2, len, row - 5,
		    mid - half - 8 > 190 ? 190 : mid - half - 8, y + 14);
		rpt_buf_esc(b, features[i], rpt_utf8_prefix(features[i], strlen(features[i]), 28));
		rpt_buf_printf(b,
		               "</text><text class=\"tick\" x=\"%.1f\" y=\"%d\" text-anchor=\"%s\">"
		               "%+.3g</text></g>",
		               w >= 0 ? x + len + 4 : x - 4, y + 14, w >= 0 ? "start" : "end", w);
	}
	rpt_buf_printf(b, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/></svg>",
	               mid, T - 4, mid, T + (int)n * row);
}

void rpt_svg_rate(rpt_buf *b, double p, double lo, double hi)
{
	if (isnan(p))
		return;
	const int W = 100;
	rpt_buf_printf(b,
	               "<svg class=\"rate\" viewBox=\"0 0 %d 12\" width=\"%d\" height=\"12\" "
	               "aria-hidden=\"true\"><rect class=\"track\" x=\"0\" y=\"3\" width=\"%d\" "
	               "height=\"6\"/><rect class=\"fill\" x=\"0\" y=\"3\" width=\"%.1f\" "
	               "height=\"6\"/>",
	               W, W, W, W * p);
	if (!isnan(lo))
		rpt_buf_printf(b, "<line class=\"ci\" x1=\"%.1f\" y1=\"6\" x2=\"%.1f\" y2=\"6\"/>",
		               W * lo, W * hi);
	rpt_buf_printf(b, "<line class=\"half\" x1=\"%d\" y1=\"0\" x2=\"%d\" y2=\"12\"/></svg>",
	               W / 2, W / 2);
}
