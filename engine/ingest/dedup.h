/* dedup.h - duplicate and conflicting preference pairs within a dataset.
 *
 * Two pairs of one dataset are duplicates when they have the same prompt, the same image (stored
 * image id; for a pair without a stored image, its image reference; none for text-only pairs) and
 * the same two answers, in either order. Texts are compared after normalisation (ASCII case folded,
 * runs of whitespace collapsed to one space, ends trimmed), so "near" duplicates that differ only
 * in case or spacing count too; `exact` counts the copies that are byte-identical. A group of
 * duplicates whose members prefer different answers (A>B in one record, B>A in another) is a
 * label conflict.
 *
 * Results are stored in columns of pairs (schemas/0005_integrity.sql), recomputed for the whole
 * dataset on each call; the user's metadata JSON (pairs.meta) is never touched, so a record's own
 * "dup_group" or "conflict" field stays as written:
 *   pairs.dup_group = '<16 hex digits>'  on every member of a group of two or more duplicates;
 *   pairs.conflict = 1                   on every member of a conflicting group.
 * Conflicting pairs (for the scorer's suspect-label category) are therefore:
 *   SELECT id FROM pairs WHERE dataset_id = ?1 AND conflict = 1
 * and, as conflict = 1 is only ever set together with a dup_group, the same rows come from the
 * partial index pairs_dup_group with dup_group IS NOT NULL added (ENG_DEDUP_CONFLICT_SQL: a look-up
 * of the grouped pairs instead of one of every pair of the dataset). Does not print. */
#ifndef ENG_DEDUP_H
#define ENG_DEDUP_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "workspace.h"

#define ENG_DEDUP_CONFLICT_SQL                                                                     \
	"SELECT id FROM pairs WHERE dataset_id = ?1 AND dup_group IS NOT NULL AND conflict = 1"

typedef struct eng_dedup_result {
	uint64_t pairs;      /* pairs of the dataset */
	uint64_t groups;     /* groups of two or more duplicates */
	uint64_t duplicates; /* pairs that repeat an earlier pair (sum over groups of size - 1) */
	uint64_t exact;      /* of those, byte-identical repeats (same texts before normalising) */
	uint64_t conflicts;  /* groups whose members disagree on the preferred answer */
	uint64_t conflict_pairs; /* pairs in conflicting groups (pairs.conflict = 1) */
} eng_dedup_result;

/* Recomputes the duplicate groups and conflict flags of dataset_id (columns above) inside the
 * caller's transaction, if any. Returns 0 (res filled), ENG_ENOMEM or a database error code. */
int eng_dedup_dataset(eng_ws *ws, int64_t dataset_id, eng_dedup_result *res, eng_err *err);

/* Keys of pairs made while they are stored (texts at hand), so that eng_dedup_dataset_keys need
 * not read them back. add: the pair's id, prompt, image ident (its stored image id as text; else
 * "ref:" and its image reference; else ""), chosen and rejected answers. A pair whose ident can
 * still change (its image resolved later) makes the set unusable: invalidate. Out of memory
 * makes it unusable too (the pairs are then read back). */
typedef struct eng_dedup_keys eng_dedup_keys;
eng_dedup_keys *eng_dedup_keys_new(void); /* NULL when out of memory */
void eng_dedup_keys_add(eng_dedup_keys *k, int64_t pair_id, const char *prompt, const char *image,
                        const char *chosen, const char *rejected);
void eng_dedup_keys_invalidate(eng_dedup_keys *k);
void eng_dedup_keys_free(eng_dedup_keys *k);

/* eng_dedup_dataset with the keys of the dataset's newest pairs made beforehand (NULL or unusable:
 * every pair is read). They are used when the dataset's pairs from their lowest id on are exactly
 * as many as the keys (new rows get higher ids than every earlier row); the earlier pairs are
 * read, their entries put after the keys' in the keys' own array (taken: the set is then empty
 * and unusable), so the keys cost no second copy. The same groups and flags as
 * eng_dedup_dataset. */
int eng_dedup_dataset_keys(eng_ws *ws, int64_t dataset_id, eng_dedup_keys *keys,
                           eng_dedup_result *res, eng_err *err);

/* The normalised form of s duplicates are compared by (ASCII case folded, whitespace runs -> one
 * space, ends trimmed), written into *buf (caller-owned, grown with realloc as needed; start with
 * NULL and 0, free when done). Returns *buf, or NULL when out of memory. */
char *eng_dedup_normalize(const char *s, char **buf, size_t *cap);

#endif
