/* store_files.h - the input files recorded at ingest (source_files), with their dataset's name.
 *
 * Does not clean paths for display: callers escape a path that is not clean printable UTF-8
 * (engine/base/safetext.h). Does not read the files themselves. */
#ifndef ENG_STORE_FILES_H
#define ENG_STORE_FILES_H

#include <stdint.h>

#include "err.h"
#include "workspace.h"

/* One input file. Strings are borrowed: valid only during the callback. */
typedef struct eng_source_file_row {
	int64_t id, dataset_id;
	const char *dataset; /* the dataset's name */
	const char *path, *sha256;
	int64_t bytes, records, pairs, errors; /* records read, pairs kept, records rejected */
} eng_source_file_row;

/* Called once per row; 0 continues, anything else stops the iteration and is returned by it. */
typedef int (*eng_source_file_cb)(void *ctx, const eng_source_file_row *row);

/* Calls cb for every input file of dataset_id (dataset_id <= 0: of every dataset), by dataset id
 * then file id. Returns 0, cb's nonzero return (err left to cb), or a negative ENG_E* code with
 * err filled ("read source files: ..."). */
int eng_source_files_each(eng_ws *ws, int64_t dataset_id, eng_source_file_cb cb, void *ctx,
                          eng_err *err);

#endif
