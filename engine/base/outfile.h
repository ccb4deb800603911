/* outfile.h - the one writer for every output file (reports, weights, scores, model files,
 * merged workspaces).
 *
 * Each output is written into a temporary file made with mkstemp in the target's own folder
 * (named ENG_OUT_TMP_PREFIX + pid + '-' + the target's name + random letters), flushed, fsynced,
 * and renamed over the target only when the whole set is complete: the outputs of one set are
 * replaced together or not at all (a failure before the renames leaves every previous file as it
 * was). rename replaces a symlink planted at the target, never the file it points to. Temporary
 * files of earlier runs whose process is gone are removed when a new one is made in that folder.
 * A target that exists and is not a regular file or a symlink (a directory, FIFO, device) is
 * refused with ENG_EINPUT naming the path and what it is, as is a missing or non-folder parent. */
#ifndef ENG_OUTFILE_H
#define ENG_OUTFILE_H

#include <stddef.h>
#include <stdio.h>

#include "err.h"

#define ENG_OUT_TMP_PREFIX ".mmaudit-tmp-"

/* The folder for scratch files that are not outputs (a piped stream's copy, samples.csv's
 * sorted runs, score --stdin's workspaces): $TMPDIR when set and not empty, else /tmp. */
const char *eng_tmp_dir(void);
#define ENG_OUT_MAX 8 /* outputs in one set */

typedef struct eng_out_item {
	char *path; /* target */
	char *tmp;  /* temporary file next to it; NULL once renamed or removed */
	FILE *f;    /* open stream while writing; NULL for a reserved (eng_out_reserve) file */
} eng_out_item;

typedef struct eng_outset {
	eng_out_item it[ENG_OUT_MAX];
	int n;
} eng_outset;

/* Checks path can be an output (see above) without creating anything; removes the stale
 * temporary files of its folder. */
int eng_out_check(const char *path, eng_err *err);

/* Adds path to the set and opens its temporary file for writing into *f (owned by the set: do not
 * fclose it). */
int eng_out_open(eng_outset *s, const char *path, FILE **f, eng_err *err);

/* Adds path to the set with an empty temporary file created and closed; *tmp (owned by the set)
 * names it, for a writer that opens files by name (SQLite). */
int eng_out_reserve(eng_outset *s, const char *path, const char **tmp, eng_err *err);

/* Flushes, fsyncs and closes every temporary file, then renames each over its target and fsyncs
 * the folders. On an error nothing is replaced and every temporary file is removed: for a set of
 * two or more, each existing target is first hard-linked under a temporary name, and when a
 * rename fails the targets already replaced get their old files back (or are removed when they
 * did not exist). The set is empty afterwards either way. */
int eng_out_commit(eng_outset *s, eng_err *err);

/* Removes every temporary file of the set; the targets stay as they were. Accepts an empty set. */
void eng_out_abort(eng_outset *s);

/* One output written by fn(f, ctx) through a set of its own. */
int eng_out_write(const char *path, int (*fn)(FILE *f, void *ctx, eng_err *err), void *ctx,
                  eng_err *err);

/* Removes temporary files of dead mmaudit processes from dir (best effort). */
void eng_out_clean_stale(const char *dir);

#endif
