/* store_images.c - the SELECT on images behind near_duplicates.csv. Read-only. */
#include "store_images.h"
#include "workspace_sql.h"

#include "store_step.h"

#include <stdlib.h>
#include <string.h>

int eng_image_names(eng_ws *ws, int64_t id, char **sha256, char **source, eng_err *err)
{
	*sha256 = *source = NULL;
	sqlite3_stmt *q =
	    eng_ws_prepare(ws, "SELECT sha256, source FROM images WHERE id = ?1", err);
	if (!q)
		return err ? err->code : ENG_EINTERNAL;
	sqlite3_bind_int64(q, 1, id);
	int rc = 0;
	if (sqlite3_step(q) == SQLITE_ROW) {
		const char *sha = eng_stmt_text(q, 0);
		const char *src = eng_stmt_text(q, 1);
		*sha256 = strdup(sha ? sha : "");
		*source = strdup(src ? src : "");
		if (!*sha256 || !*source) {
			free(*sha256);
			free(*source);
			*sha256 = *source = NULL;
			rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
		}
	} else {
		rc = eng_ws_fail(ws, err, "read images");
	}
	sqlite3_finalize(q);
	return rc;
}
