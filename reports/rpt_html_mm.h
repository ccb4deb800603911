/* rpt_html_mm.h - the report.html sections about what the multimodal side can know and what the
 * weights do (issue 12): "Does the MM-RM use the image?" (the counterfactual image test per
 * dataset) and "What the weights do" (before/after per weighting method), plus the markers the
 * other sections use for text-only and not-informative datasets. They show what the score run
 * stored in its metrics JSON (keys: README, "Report files"); they compute nothing but
 * differences and intervals. Every workspace string is escaped. */
#ifndef RPT_HTML_MM_H
#define RPT_HTML_MM_H

#include "reports/rpt_buf.h"
#include "reports/rpt_state.h"

/* What a cell shows instead of an MM figure of a dataset without images. */
#define RPT_NA_NO_IMAGES "n/a: no images"

/* Label and hover text of a figure that depends on an MM-RM that does not use the image. */
#define RPT_NOT_INFORMATIVE "not informative"
#define RPT_NOT_INFORMATIVE_WHY                                                                    \
	"The counterfactual image test found that the MM-RM does not use the image with the "      \
	"built-in colour/texture features, so this figure describes the tool's own text proxy, "   \
	"not the data. Fix: mmaudit embed with your own encoder, then score again."

/* Appends a <dl> of the rpt_defs whose key starts with one of prefixes (a NULL-terminated list);
 * prefixes NULL: every definition not shown by the two sections below. */
void rpt_html_defs(rpt_buf *b, const char *const *prefixes);
extern const char *const rpt_html_defs_image_use[]; /* mm_informative, image_reliance.* ... */
extern const char *const rpt_html_defs_weights[];   /* weights.* */

/* The "not informative" label of a greyed figure (hover text and a footnote mark to #ni-note). */
void rpt_html_ni_label(rpt_buf *b);

/* The SFD section (id sfd): the slope chart only for datasets whose MM-RM uses the image (or was
 * not tested: runs made before issue 12), one sentence for each left out, and the table. */
void rpt_html_sfd(rpt_buf *b, const rpt_state *st);

/* The "Does the MM-RM use the image?" section (id image-use). */
void rpt_html_image_use(rpt_buf *b, const rpt_state *st);

/* The "What the weights do" section (id weights). */
void rpt_html_weights(rpt_buf *b, const rpt_state *st);

#endif
