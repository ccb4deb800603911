/* store_features.h - a score run's top text-proxy features per dataset (top_features), by rank.
 *
 * Does not choose or name the features (engine/eval/score.c does). */
#ifndef ENG_STORE_FEATURES_H
#define ENG_STORE_FEATURES_H

#include <stdint.h>

#include "err.h"
#include "workspace.h"

/* One feature. feature is borrowed: valid only during the callback. */
typedef struct eng_feature_row {
	int64_t rank;
	const char *feature; /* NULL only in a damaged workspace */
	double weight;       /* 0 when NULL */
	double present;      /* share of pairs where it differs; NAN when NULL */
	double acc_present;  /* held-out text accuracy there; NAN when NULL */
} eng_feature_row;

/* Called once per row; 0 continues, anything else stops the iteration and is returned by it. */
typedef int (*eng_feature_cb)(void *ctx, const eng_feature_row *row);

/* Calls cb for the first limit features (limit < 0: all) of dataset_id in run run_id by rank.
 * Returns 0, cb's nonzero return (err left to cb), or a negative ENG_E* code with err filled
 * ("read top features: ..."). */
int eng_features_each(eng_ws *ws, int64_t run_id, int64_t dataset_id, int limit, eng_feature_cb cb,
                      void *ctx, eng_err *err);

#endif
