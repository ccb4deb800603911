/* store_batch.h - the pairs and ingest errors of a one-dataset batch workspace by input line, for
 * `mmaudit score --stdin`. Reads only; no formatting. The scores of a whole run, by dataset, are
 * store_scores.h's.
 *
 * Scores the database holds as NULL (p_mm, sfc and p_sa of a text-only dataset) come as NaN;
 * strings are owned by the store and valid until the cursor moves. */
#ifndef ENG_STORE_BATCH_H
#define ENG_STORE_BATCH_H

#include <stdint.h>

#include "err.h"
#include "store_scores.h"
#include "workspace.h"

/* A cursor over a batch workspace's rows by input line: eng_batch_pairs_open gives the pairs
 * run run_id scored, by line then pair id (filling line, ext_id, p_text, p_mm,
 * p_sa, sfc and category; the rest 0 / NULL); eng_batch_errors_open the
 * ingest errors, by line. Both return 0 and *out, or a negative code with err filled ("prepare:
 * ...") and *out NULL. */
typedef struct eng_batch eng_batch;
int eng_batch_pairs_open(eng_ws *ws, int64_t run_id, eng_batch **out, eng_err *err);
int eng_batch_errors_open(eng_ws *ws, eng_batch **out, eng_err *err);

/* One ingest error of a batch. */
typedef struct eng_batch_error {
	int64_t line;
	const char *code, *reason;
} eng_batch_error;

/* The cursor's current row (a pairs cursor fills a score, an errors cursor an error): 1 while it
 * has one, 0 at its end (a failed step ends it too) or for the other kind of cursor. The strings
 * stay valid until eng_batch_next, which moves to the next row. All accept NULL (no row). */
int eng_batch_pair(const eng_batch *b, eng_score_row *row);
int eng_batch_error_row(const eng_batch *b, eng_batch_error *row);
void eng_batch_next(eng_batch *b);

/* Frees the cursor; accepts NULL. */
void eng_batch_close(eng_batch *b);

#endif
