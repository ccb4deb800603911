/* rpt_json.h - summary.json: every per-dataset figure, the crossdist matrices, the top text
 * features, the gate results, the runs behind them and the definition of every figure.
 *
 * Stable keys (issue 5): version, datasets[{name, pairs, pairs_without_image, errors,
 * text_accuracy, mm_accuracy, shortcut_rate, sfd, blind{pick_longer, pick_shorter}}],
 * crossdist{datasets, methods{m: {accuracy, iid_mean, ood_mean, gap, sfd_mean}}} (absent when no
 * crossdist run; the stored run is copied whole, plus "run": issue 13 adds methods.*{n, sfd,
 * iid_mean_ci95, ood_mean_ci95, ood_vs_standard, ood_vs_standard_ci95}, ranking, recommendation,
 * selection, overlap, excluded_test_pairs, excluded_by_kind, split_by, bootstrap), top_features[{
 * feature, weight}]. Extra keys are added, never renamed.
 * Unknown numbers are null. Output is deterministic for a given workspace and policy. */
#ifndef RPT_JSON_H
#define RPT_JSON_H

#include <jansson.h>
#include <stdio.h>

#include "reports/rpt_gate.h"
#include "reports/rpt_state.h"

/* Builds the summary object; *out owned by the caller (json_decref). */
int rpt_json_build(const rpt_state *st, const rpt_policy *p, const rpt_gate_eval *ev, json_t **out,
                   eng_err *err);

/* Builds and writes it to f (2-space indent, trailing newline). */
int rpt_json_write(const rpt_state *st, const rpt_policy *p, const rpt_gate_eval *ev, FILE *f,
                   eng_err *err);

#endif
