/* integrity.h - a dataset's data-integrity figures, read from the workspace: ingest errors by code
 * (with examples), duplicate and conflicting-label groups (as engine/ingest/dedup.h flagged them),
 * and position bias and swap consistency where the records say which answer was shown first.
 *
 * Position: a pair's "chosen position" is 1 when its chosen answer was shown first and 2 when it
 * was shown second. Judged records (answer_1/answer_2 + verdict) keep it in their metadata as
 * `chosen_position` (engine/ingest/recshapes.c); for other shapes the caller names a metadata field
 * whose value says it: 1 / "1" / "a" / "first" / "left" / "chosen" (case-insensitive) = shown
 * first; 2 / "2" / "b" / "second" / "right" / "rejected" = shown second; anything else = unknown.
 *
 * Swap pairs: duplicate groups (the same prompt, image and two answers) judged in both answer
 * orders (two members with a known position showed different answers first). A swap pair is
 * consistent when every member with a known position prefers the same answer; it is a position
 * conflict when every one of them preferred the same slot (first or second) instead, i.e. the
 * verdict followed the order, not the answers. Reads only; does not print. */
#ifndef ENG_INTEGRITY_H
#define ENG_INTEGRITY_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "workspace.h"

#define ENG_INTEGRITY_EXAMPLES 2 /* example file:line per error code */

typedef struct eng_error_code {
	char *code;                            /* owned */
	int64_t n;                             /* ingest errors with this code */
	char *example[ENG_INTEGRITY_EXAMPLES]; /* owned "path:line", NULL when fewer */
} eng_error_code;

typedef struct eng_integrity {
	int64_t pairs;
	int64_t errors;        /* ingest errors of the dataset */
	eng_error_code *codes; /* (n_codes), most frequent first, then by code */
	size_t n_codes;
	int64_t dup_groups;      /* groups of two or more duplicate pairs */
	int64_t dup_pairs;       /* pairs repeating an earlier pair: sum of (size - 1) */
	int64_t dup_members;     /* pairs in duplicate groups: sum of size */
	int64_t conflict_groups; /* duplicate groups whose members prefer different answers */
	int64_t conflict_pairs;  /* pairs in those groups */
	/* position (all 0 when no pair has a known position) */
	int64_t position_n;         /* pairs with a known chosen position */
	int64_t position_first;     /* of those, chosen answer shown first */
	double position_p;          /* two-sided exact binomial p-value of position_first vs 0.5 */
	int64_t swap_pairs;         /* duplicate groups judged in both answer orders */
	int64_t swap_consistent;    /* of those, the same answer preferred every time */
	int64_t position_conflicts; /* of those, the same slot preferred every time */
	char position_field[128];   /* the metadata field read ("" when none was given/found) */
} eng_integrity;

/* Fills *out for dataset_id. position_field names the metadata field that holds the chosen
 * position (NULL or "" = `chosen_position`, as judged records keep it). Returns 0, ENG_ENOMEM or
 * a database error code; *out is cleared first and must be released with eng_integrity_clear. */
int eng_integrity_dataset(eng_ws *ws, int64_t dataset_id, const char *position_field,
                          eng_integrity *out, eng_err *err);

/* One duplicate group of the dataset (pairs.dup_group = group): its size, whether its members
 * disagree on the preferred answer, and whether it was judged in both answer orders. */
typedef struct eng_integrity_group {
	int64_t n;
	int conflict;
	int both_orders;
} eng_integrity_group;
int eng_integrity_group_of(eng_ws *ws, int64_t dataset_id, const char *group,
                           const char *position_field, eng_integrity_group *g, eng_err *err);

/* Frees what *x owns; accepts NULL and a cleared struct. */
void eng_integrity_clear(eng_integrity *x);

/* The chosen position a metadata value stands for (rules above): 1, 2, or 0 when unknown.
 * text may be NULL (then ival is used, as an integer JSON value). */
int eng_position_of(const char *text, int64_t ival, int is_int);

/* Two-sided exact binomial test of k successes in n trials against p = 0.5: the probability of an
 * outcome at least as far from n/2 as k, 2 * min(P[X <= k], P[X >= k]) capped at 1. 1 when n = 0.
 */
double eng_binom_p_half(int64_t k, int64_t n);

#endif
