/* rpt_html_xd.h - the report.html cross-distribution section (id crossdist), from the newest
 * crossdist run's metrics JSON (st->crossdist). Runs with the issue-13 keys (ranking,
 * recommendation, selection, n, intervals, leakage by kind) get the methods ranked by o.o.d. mean,
 * the recommendation as one sentence, the leave-one-environment-out figure beside it, the leakage
 * line and one heat map per method with n in each cell; older runs render as before (a map per
 * method and the summary table). Shows stored figures; computes nothing but differences and the
 * standard MM-RM's held-out column means beside the selection. Every workspace string is
 * escaped. */
#ifndef RPT_HTML_XD_H
#define RPT_HTML_XD_H

#include "reports/rpt_buf.h"
#include "reports/rpt_state.h"

/* Appends the whole <section id="crossdist">; a "Not run" paragraph when st->crossdist is NULL or
 * has no datasets. */
void rpt_html_crossdist(rpt_buf *b, const rpt_state *st);

#endif
