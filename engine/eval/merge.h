/* merge.h - merges shard workspaces scored with one model file into one workspace.
 *
 * Each shard (a workspace indexed from a shard of the data and scored with `score --model`) brings
 * its datasets (joined by name), source files, images (by content hash), pairs, ingest errors and
 * the pair scores of its newest score run. Shards scored with different models (by the model
 * file's SHA-256 recorded in the run) are refused, as is a pair present twice. The merged pair
 * scores form one new score run whose dataset metrics are restated from them
 * (eng_score_restate): the figures a one-machine `score --model` of all the data gives (no
 * re-fits, no cue shares; the top features are the model's, with the first shard's presence).
 * OUT is replaced whole or not at all: the merge writes a temporary workspace next to it (a copy
 * of OUT when it exists) and renames it over OUT at the end, so a kill -9 leaves OUT as it was.
 * No other process may use OUT meanwhile. */
#ifndef ENG_MERGE_H
#define ENG_MERGE_H

#include <stddef.h>

#include "err.h"
#include "progress.h"
#include "workspace.h"

int eng_merge(const char *out, const char *const *paths, size_t n, const char *command,
              const eng_progress *prog, size_t *pairs_out, eng_err *err);

#endif
