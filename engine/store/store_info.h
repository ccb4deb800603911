/* store_info.h - what the workspace holds, for `mmaudit info` and the dataset lists of the
 * commands: the datasets with their counts, the ingest errors, the conflicting duplicate groups,
 * SQLite's integrity check and the ids of every dataset. Reads only; it prints nothing and formats
 * nothing (audit/ does).
 *
 * The iterators call fn once per row in the order stated; the strings of a row are owned by the
 * store and valid only during that call (copy what you keep), and are NULL where the database
 * holds NULL. fn returns 0 to go on; any other value stops the iteration, which then returns that
 * value. On a database failure the functions return a negative ENG_E* code with err filled
 * ("what: sqlite message"). */
#ifndef ENG_STORE_INFO_H
#define ENG_STORE_INFO_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "workspace.h"

/* One dataset and its counts (duplicates and conflicts as flagged by engine/ingest/dedup.h). */
typedef struct eng_info_dataset {
	const char *name;
	int64_t pairs;         /* pairs of the dataset */
	int64_t images;        /* distinct images of its pairs */
	int64_t without_image; /* pairs with no image */
	int64_t errors;        /* ingest errors */
	int64_t files;         /* source files */
	int64_t duplicates;    /* pairs in a duplicate group beyond each group's first */
	int64_t conflicts;     /* duplicate groups with conflicting labels */
} eng_info_dataset;

/* Every dataset in creation (id) order. Error context: "list datasets". */
int eng_info_datasets_each(eng_ws *ws, int (*fn)(void *ctx, const eng_info_dataset *d), void *ctx,
                           eng_err *err);

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

/* The ids of every dataset in creation order, malloc'd into *ids (caller frees; NULL when there
 * are none), their count in *n. ENG_ENOMEM ("out of memory") or a database failure ("list
 * datasets"); *ids is NULL and *n 0 then. */
int eng_info_dataset_ids(eng_ws *ws, int64_t **ids, size_t *n, eng_err *err);

#endif
