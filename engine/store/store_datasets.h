/* store_datasets.h - reads of the datasets table for reports/ and audit/: every dataset, with or
 * without its counts, and a dataset's name by id.
 *
 * Does not create or rename datasets (the indexer does) and does not clean names: callers escape
 * a name that is not clean printable UTF-8 (engine/base/safetext.h). */
#ifndef ENG_STORE_DATASETS_H
#define ENG_STORE_DATASETS_H

#include <stdint.h>

#include "err.h"
#include "workspace.h"

/* One dataset: its id, name and counts (duplicates and conflicts as flagged by
 * engine/ingest/dedup.h). name is borrowed: valid only during the callback. */
typedef struct eng_dataset_row {
	int64_t id;
	const char *name;
	int64_t pairs;               /* pairs in the workspace */
	int64_t images;              /* distinct images of its pairs */
	int64_t pairs_without_image; /* pairs whose image_id is NULL */
	int64_t errors;              /* ingest_errors rows */
	int64_t files;               /* source files */
	int64_t duplicates;          /* pairs in a duplicate group beyond each group's first */
	int64_t conflicts;           /* duplicate groups with conflicting labels */
} eng_dataset_row;

/* What eng_datasets_each fills: id and name only (the counts are 0; a cheap scan), or all. */
typedef enum eng_datasets_detail { ENG_DATASETS_NAMES, ENG_DATASETS_COUNTS } eng_datasets_detail;

/* Called once per row; 0 continues, anything else stops the iteration and is returned by it. */
typedef int (*eng_dataset_cb)(void *ctx, const eng_dataset_row *row);

/* Calls cb for every dataset in id (creation) order. Returns 0, cb's nonzero return (err left to
 * cb), or a negative ENG_E* code with err filled ("list datasets: ..."). */
int eng_datasets_each(eng_ws *ws, eng_datasets_detail detail, eng_dataset_cb cb, void *ctx,
                      eng_err *err);

/* The name of dataset id: *name malloc'd (the caller frees it). ENG_EINPUT when there is no such
 * dataset; ENG_ENOMEM; a database error code. *name = NULL on any error. */
int eng_dataset_name(eng_ws *ws, int64_t id, char **name, eng_err *err);

#endif
