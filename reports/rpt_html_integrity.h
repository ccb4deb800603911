/* rpt_html_integrity.h - the report.html parts of issue 15: the "Data integrity" section (ingest
 * errors by code with examples, duplicates, conflicting labels, position bias and swap
 * consistency, near-duplicate images), the "Slices" section (shortcut rate, text-only accuracy
 * and pick-longer per metadata value, with bars and 95% intervals), the verdict's next steps, and
 * the marker of an example card that stands for a duplicate group. They show what
 * reports/rpt_integrity.h loaded; every workspace string is escaped. */
#ifndef RPT_HTML_INTEGRITY_H
#define RPT_HTML_INTEGRITY_H

#include <stddef.h>

#include "reports/rpt_buf.h"
#include "reports/rpt_examples.h"
#include "reports/rpt_state.h"

/* The styles of these parts, spliced into the page's one <style>. */
#define RPT_HTML_INTEGRITY_CSS                                                                     \
	".next{margin:6px 0 0;font-size:14px}.next ol{margin:2px 0 0;padding-left:22px}"           \
	"ul.errs{margin:0;padding-left:16px}.grp{font-weight:600;border:1px solid #888;"           \
	"border-radius:3px;padding:0 4px}.grp.conflict{border-color:var(--sc);color:#8a3300}"

/* Findings the integrity section reports (for the nav): datasets x {ingest errors, duplicate
 * groups, conflicting groups, position bias (p < 0.05), swap consistency < 95%, images shared
 * across datasets}. */
size_t rpt_html_integrity_findings(const rpt_state *st);

/* The section (id integrity). Writes a placeholder sentence when st->integ is NULL. */
void rpt_html_integrity(rpt_buf *b, const rpt_state *st);

/* The section (id slices). */
void rpt_html_slices(rpt_buf *b, const rpt_state *st);

/* The <ol> of next steps inside the verdict (nothing when there are none). */
void rpt_html_next_steps(rpt_buf *b, const rpt_state *st);

/* A card's group marker ("x2, both answer orders", "conflicting labels"); nothing alone. */
void rpt_html_card_group(rpt_buf *b, const rpt_card *c);

#endif
