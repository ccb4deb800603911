/* rpt_svg.h - the report's charts as plain inline SVG: viewBox, width 100%, rounded coordinates,
 * a <title> on every mark, role="img" with <title> and a <desc> stating the takeaway. Text uses
 * currentColor. Callers escape nothing: every string argument is escaped here. No layout of the
 * page around the charts. */
#ifndef RPT_SVG_H
#define RPT_SVG_H

#include <stddef.h>
#include <stdint.h>

#include "reports/rpt_buf.h"

#define RPT_HIST_BINS 50

/* Histogram of shortcut scores: 50 fixed bins on [0,1], y from 0, the threshold as a labelled
 * dashed line with share_shortcut, the share of pairs in category text-shortcut (the metrics'
 * shortcut rate; conflicting labels above the threshold are suspect-label, not counted). */
void rpt_svg_hist(rpt_buf *b, const char *dataset, const int64_t bins[RPT_HIST_BINS], int64_t n,
                  double threshold, double share_shortcut);

/* Slope chart: per dataset MM accuracy where the text proxy is right (left) and wrong (right). */
void rpt_svg_slope(rpt_buf *b, size_t n, const char *const *names, const double *right,
                   const double *wrong, const int64_t *n_right, const int64_t *n_wrong);

/* Heat map of acc (d x d row-major, NAN = missing): rows trained on, columns tested on; viridis on
 * [0.5, 1]; in every cell the value and, when n (d x d row-major test pairs per cell) is not
 * NULL and the cell's count is >= 0, "n=..."; the text black or white, whichever contrasts more
 * with the cell's colour; the diagonal outlined. Dataset names are shown whole, wrapped over
 * lines (columns to the cell width), and whole in each label's and cell's <title>. */
void rpt_svg_heat(rpt_buf *b, const char *method, size_t d, const char *const *names,
                  const double *acc, const int64_t *n);

/* The shared colour bar for the heat maps. */
void rpt_svg_colorbar(rpt_buf *b);

/* Diverging horizontal bars of feature weights (> 0 toward the chosen answer). */
void rpt_svg_diverging(rpt_buf *b, const char *dataset, size_t n, const char *const *features,
                       const double *weights);

/* A small inline bar of a rate on [0,1] with its interval and a tick at 0.5. */
void rpt_svg_rate(rpt_buf *b, double p, double lo, double hi);

/* Viridis colour for t in [0,1] as "#rrggbb" (out has room for 8 bytes). */
void rpt_viridis(double t, char out[8]);

#endif
