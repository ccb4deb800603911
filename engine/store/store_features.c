/* store_features.c - the SELECT on top_features behind summary.json and report.html. Read-only. */
#include "store_features.h"
#include "workspace_sql.h"

#include <math.h>

static const char *sql_features =
    "SELECT rank, feature, weight, present, acc_present FROM top_features WHERE run_id = ?1"
    " AND dataset_id = ?2 ORDER BY rank LIMIT ?3";

int eng_features_each(eng_ws *ws, int64_t run_id, int64_t dataset_id, int limit, eng_feature_cb cb,
                      void *ctx, eng_err *err)
{
	sqlite3_stmt *q = eng_ws_prepare(ws, sql_features, err);
	if (!q)
		return err ? err->code : ENG_EINTERNAL;
	sqlite3_bind_int64(q, 1, run_id);
	sqlite3_bind_int64(q, 2, dataset_id);
	sqlite3_bind_int(q, 3, limit < 0 ? -1 : limit);
	int rc = 0, s;
	while ((s = sqlite3_step(q)) == SQLITE_ROW) {
		eng_feature_row r = {
		    .rank = sqlite3_column_int64(q, 0),
		    .feature = (const char *)sqlite3_column_text(q, 1),
		    .weight = sqlite3_column_double(q, 2),
		    .present = sqlite3_column_type(q, 3) == SQLITE_NULL
		                   ? NAN
		                   : sqlite3_column_double(q, 3),
		    .acc_present = sqlite3_column_type(q, 4) == SQLITE_NULL
		                       ? NAN
		                       : sqlite3_column_double(q, 4),
		};
		if ((rc = cb(ctx, &r)))
			break;
	}
	if (!rc && s != SQLITE_DONE)
		rc = eng_ws_fail(ws, err, "read top features");
	sqlite3_finalize(q);
	return rc;
}
