/* store_cli_scores.h - the per-pair scores of a score run, for the commands that write them out:
 * every pair of a run with its dataset (score --out), and the pairs and ingest errors of a
 * one-dataset batch workspace by input line (score --stdin). Reads only; no formatting.
 *
 * Scores the database holds as NULL (p_mm, sfc and p_sa of a text-only dataset) come as NaN;
 * strings are owned by the store and valid until the next row; fold is 0 where none is stored. */
#ifndef ENG_STORE_CLI_SCORES_H
#define ENG_STORE_CLI_SCORES_H

#include <stdint.h>

#include "err.h"
#include "workspace.h"

/* One scored pair. */
typedef struct eng_cli_score {
	const char *dataset, *id, *category; /* dataset name, the pair's id in its file */
	int64_t line;                        /* the pair's line in its source file */
	double p_text, p_mm, p_sa, sfc;      /* held-out probabilities and sfc; NaN = NULL */
	int fold;
} eng_cli_score;

/* Calls fn for every pair run run_id scored, by dataset then pair id (line is 0 here). fn returns
 * 0 to go on, another value stops the iteration and is returned. A database failure returns its
 * code with err filled ("read scores"). */
int eng_cli_scores_each(eng_ws *ws, int64_t run_id, int (*fn)(void *ctx, const eng_cli_score *s),
                        void *ctx, eng_err *err);

/* A cursor over a batch workspace's rows by input line: eng_cli_batch_pairs_open gives the pairs
 * run run_id scored, by line then pair id (dataset and fold unset); eng_cli_batch_errors_open the
 * ingest errors, by line. Both return 0 and *out, or a negative code with err filled ("prepare:
 * ...") and *out NULL. */
typedef struct eng_cli_batch eng_cli_batch;
int eng_cli_batch_pairs_open(eng_ws *ws, int64_t run_id, eng_cli_batch **out, eng_err *err);
int eng_cli_batch_errors_open(eng_ws *ws, eng_cli_batch **out, eng_err *err);

/* One ingest error of a batch. */
typedef struct eng_cli_batch_error {
	int64_t line;
	const char *code, *reason;
} eng_cli_batch_error;

/* The cursor's current row (a pairs cursor fills a score, an errors cursor an error): 1 while it
 * has one, 0 at its end (a failed step ends it too) or for the other kind of cursor. The strings
 * stay valid until eng_cli_batch_next, which moves to the next row. All accept NULL (no row). */
int eng_cli_batch_pair(const eng_cli_batch *b, eng_cli_score *row);
int eng_cli_batch_error_row(const eng_cli_batch *b, eng_cli_batch_error *row);
void eng_cli_batch_next(eng_cli_batch *b);

/* Frees the cursor; accepts NULL. */
void eng_cli_batch_close(eng_cli_batch *b);

#endif
