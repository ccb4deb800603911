/* runs.h - the runs table: every score/crossdist run is recorded with its seed, options, versions
 * and command line when it starts, and its metrics when it finishes, so it can be reproduced.
 * A run that never finishes stays 'running' and is ignored by readers (they use 'done' runs). */
#ifndef ENG_RUNS_H
#define ENG_RUNS_H

#include <stdint.h>

#include "err.h"
#include "workspace.h"

/* The kinds of run (runs.kind): engine/eval writes them, the store's readers look for them. */
#define ENG_RUN_SCORE     "score"
#define ENG_RUN_CROSSDIST "crossdist"

/* Inserts a 'running' run of kind (ENG_RUN_SCORE, ENG_RUN_CROSSDIST) (own transaction).
 * options_json must be a JSON object text. */
int eng_run_begin(eng_ws *ws, const char *kind, uint64_t seed, const char *options_json,
                  const char *command, int64_t *run_id, eng_err *err);

/* Marks the run done with its metrics JSON and duration. Call inside the caller's transaction that
 * also wrote the run's results, so results and 'done' land together. */
int eng_run_finish(eng_ws *ws, int64_t run_id, const char *metrics_json, double seconds,
                   eng_err *err);

/* Marks the run failed (best effort, own statement). */
void eng_run_fail(eng_ws *ws, int64_t run_id);

/* {"mmaudit": ..., "sqlite": ..., "openblas": ..., "jansson": ...} as a malloc'd string. */
char *eng_versions_json(void);

/* Monotonic seconds, for durations. */
double eng_now(void);

/* With MMAUDIT_TRACE=1 in the environment, prints "trace: <seconds since the first mark> <what>"
 * on stderr: where a run spends its time, for profiling. Silent otherwise. */
void eng_trace(const char *what);

#endif
