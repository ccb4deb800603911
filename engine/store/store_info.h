/* store_info.h - what the workspace holds, for `mmaudit info`: the ingest errors, the conflicting
 * duplicate groups and SQLite's integrity check (the datasets with their counts are
 * store_datasets.h's). Reads only; it prints nothing and formats
 * nothing (audit/ does).
 *
 * The iterators call fn once per row in the order stated; the strings of a row are owned by the
 * store and valid only during that call (copy what you keep), and are NULL where the database
 * holds NULL. fn returns 0 to go on; any other value stops the iteration, which then returns that
 * value. On a database failure the functions return a negative ENG_E* code with err filled
 * ("what: sqlite message"). */
#ifndef ENG_STORE_INFO_H
#define ENG_STORE_INFO_H

#include <stdint.h>

#include "err.h"
#include "workspace.h"

/* One ingest error: where (file path, 1-based line) and why (code, reason). */
typedef struct eng_info_error {
	const char *dataset, *path, *code, *reason;
	int64_t line;
} eng_info_error;

/* Every ingest error, by dataset, file, line. Error context: "list errors". */
int eng_info_errors_each(eng_ws *ws, int (*fn)(void *ctx, const eng_info_error *e), void *ctx,
                         eng_err *err);

/* One member of a duplicate group whose members carry opposite labels: chosen is the first 60
 * characters of its chosen answer. */
typedef struct eng_info_conflict {
	const char *dataset, *group, *id, *path, *chosen;
	int64_t line;
} eng_info_conflict;

/* Every member of a conflicting group, group by group within each dataset. Error context: "list
 * conflicts". */
int eng_info_conflicts_each(eng_ws *ws, int (*fn)(void *ctx, const eng_info_conflict *c), void *ctx,
                            eng_err *err);

/* Runs PRAGMA integrity_check and calls fn with each row it returns ("ok" when all is well; row
 * may be NULL). Error context: "integrity check". */
int eng_info_check_each(eng_ws *ws, int (*fn)(void *ctx, const char *row), void *ctx, eng_err *err);

#endif
