/* rpt_weights.h - per-pair training weights for a team's own reward-model trainer.
 *
 * The weight of a pair is its held-out shortcut-failure coefficient from the newest finished score
 * run of its dataset: sfc = eps/2 + L_t / (eps + L_t + L) (metrics.h), the paper's per-sample
 * weight. Pairs the text-only proxy already gets right get small weights; pairs where the text
 * shortcut fails get large ones. Normalisation: none (raw sfc in (0,1)), mean (divided by the
 * dataset's mean so weights average 1: the default, keeps the loss scale), max (divided by the
 * dataset's max). Keyed by the pair's id from the input file. */
#ifndef RPT_WEIGHTS_H
#define RPT_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "engine/err.h"
#include "engine/workspace.h"

typedef enum rpt_weights_norm { RPT_NORM_NONE, RPT_NORM_MEAN, RPT_NORM_MAX } rpt_weights_norm;
typedef enum rpt_weights_format { RPT_WEIGHTS_CSV, RPT_WEIGHTS_JSONL } rpt_weights_format;

/* Writes weights of datasets ids[0..n) to f. *rows (may be NULL) = pairs written. ENG_EINPUT when a
 * dataset has no finished score run ("run mmaudit score first"). */
int rpt_weights_write(eng_ws *ws, const int64_t *ids, size_t n, rpt_weights_format fmt,
                      rpt_weights_norm norm, FILE *f, int64_t *rows, eng_err *err);

#endif
