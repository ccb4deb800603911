/* store_features.c - the SELECT on top_features behind summary.json, report.html and
 * `mmaudit score`'s report. Read-only. */
#include "store_features.h"
#include "workspace_sql.h"

#include "store_step.h"

static const char *sql_features =
    "SELECT rank, feature, weight, present, acc_present FROM top_features WHERE run_id = ?1"
    " AND dataset_id = ?2 ORDER BY rank LIMIT ?3";

typedef struct feature_cb {
	eng_feature_cb fn;
	void *ctx;
} feature_cb;

static int feature_row(sqlite3_stmt *q, void *c)
{
	feature_cb *cb = c;
	eng_feature_row r = {
	    .rank = sqlite3_column_int64(q, 0),
	    .feature = eng_stmt_text(q, 1),
	    .weight = sqlite3_column_double(q, 2),
	    .present = eng_stmt_real(q, 3),
	    .acc_present = eng_stmt_real(q, 4),
	};
	return cb->fn(cb->ctx, &r);
}

int eng_features_each(eng_ws *ws, int64_t run_id, int64_t dataset_id, int limit, eng_feature_cb cb,
                      void *ctx, eng_err *err)
{
	sqlite3_stmt *q = eng_ws_prepare(ws, sql_features, err);
	if (q) {
		sqlite3_bind_int64(q, 1, run_id);
		sqlite3_bind_int64(q, 2, dataset_id);
		sqlite3_bind_int(q, 3, limit < 0 ? -1 : limit);
	}
	feature_cb c = {cb, ctx};
	return eng_stmt_each(ws, q, feature_row, &c, "read top features", err);
}
