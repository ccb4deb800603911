/* rpt_html.h - report.html: one self-contained page (inline CSS and SVG, a CSP that forbids any
 * load or script, no JavaScript), laid out as the best data-quality reports are: verdict, gates,
 * key metrics with definitions and 95% intervals, shortcut-score histograms, SFD slope chart,
 * cross-distribution heat maps, top text features, example cards with inlined thumbnails, run
 * metadata. Every string from the workspace is escaped.
 *
 * Size: only capped aggregates grow with the data. The page is built in memory; when it is over
 * the budget the writer re-renders with fewer cards, then without thumbnails, and logs each cut
 * in the metadata. Output bytes depend only on the workspace and the options (no clock). */
#ifndef RPT_HTML_H
#define RPT_HTML_H

#include <stddef.h>
#include <stdio.h>

#include "reports/rpt_gate.h"
#include "reports/rpt_state.h"

typedef struct rpt_html_options {
	int top_n;        /* cards per list, 1..100 */
	size_t budget;    /* bytes; 0 = 4.5 MB */
	size_t thumb_cap; /* largest thumbnail inlined, bytes; 0 = 20 KB */
} rpt_html_options;

/* Writes the page to f; *bytes (may be NULL) = its size. */
int rpt_html_write(const rpt_state *st, const rpt_policy *p, const rpt_gate_eval *ev,
                   const rpt_html_options *o, FILE *f, size_t *bytes, eng_err *err);

#endif
