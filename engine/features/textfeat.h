/* textfeat.h - text features of an answer: signed feature hashing + named style features.
 *
 * phi(prompt, response) = [ hashed response word unigrams and bigrams (signed, 2^bits buckets),
 *                           optional prompt x response word crosses (same buckets),
 *                           named style features (length, lines, list/markdown markers, digits,
 *                           hedges, apologies, ...) ].
 * The hash is a fixed 64-bit FNV-1a of the lower-cased token (stable across runs and machines).
 * Every hashed bucket can be named back so a report can say "the word 'certainly'" instead of
 * "bucket 48121": eng_textfeat_namer counts the n-grams of the reported buckets exactly (the name
 * is the most frequent one; ties: the smaller bytes); a streaming vote gives every bucket a cheap
 * provisional name (eng_textfeat_name).
 * Tokenizer, value scaling and naming rules are documented at the top of textfeat.c. */
#ifndef ENG_TEXTFEAT_H
#define ENG_TEXTFEAT_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "pairset.h"

typedef struct eng_textfeat_opts {
	int hash_bits; /* 2^hash_bits hashed buckets; default 18 */
	int bigrams;   /* 1: word bigrams too (default 1) */
	int crosses;   /* 1: prompt x response word crosses (default 0) */
} eng_textfeat_opts;

void eng_textfeat_opts_default(eng_textfeat_opts *o);

typedef struct eng_textfeat eng_textfeat; /* opaque: options + bucket vocabulary */

/* o NULL = defaults. Returns 0, ENG_EINPUT (hash_bits outside [4, 26]) or ENG_ENOMEM. */
int eng_textfeat_new(const eng_textfeat_opts *o, eng_textfeat **out, eng_err *err);
void eng_textfeat_free(eng_textfeat *tf);

/* Columns of a feature vector: 2^hash_bits + eng_textfeat_named_count(). Named features come last.
 */
uint32_t eng_textfeat_dim(const eng_textfeat *tf);
/* The options tf was made with. */
eng_textfeat_opts eng_textfeat_opts_of(const eng_textfeat *tf);
int eng_textfeat_named_count(void);

/* Appends the pair (prompt, chosen, rejected) to ps as d = phi(chosen) - phi(rejected), with image
 * row img_row (-1 none). Records n-gram strings for naming buckets. Not thread-safe per tf.
 * prompt may be NULL (only used for crosses); NULL answers count as empty. Returns 0, ENG_EINPUT
 * (ps->text_dim != eng_textfeat_dim(tf)) or ENG_ENOMEM. */
int eng_textfeat_add_pair(eng_textfeat *tf, eng_pairset *ps, const char *prompt, const char *chosen,
                          const char *rejected, int32_t img_row, eng_err *err);

/* The same difference row d as eng_textfeat_add_pair, returned instead of appended: *col, *val
 * (k entries, columns < eng_textfeat_dim) point into tf's scratch, valid until the next call on
 * tf. The entries are already in the form eng_pairset_canon_row gives (sorted by column, a column
 * in both answers summed chosen + rejected, zeros dropped), so canon_row only checks them. Returns
 * 0 or ENG_ENOMEM. */
int eng_textfeat_pair_row(eng_textfeat *tf, const char *prompt, const char *chosen,
                          const char *rejected, uint32_t **col, float **val, size_t *k,
                          eng_err *err);

/* Folds the bucket names src voted into dst (same options), as if src's texts had come after
 * dst's: per bucket, the two majority-vote candidates are combined the way Boyer-Moore combines
 * two halves (the same n-gram adds its votes; otherwise the larger count wins, less the smaller),
 * so an n-gram holding more than half of the bucket's occurrences over both still names it. Lets
 * several featurizers work on parts of the data and agree on names. */
void eng_textfeat_merge_names(eng_textfeat *dst, const eng_textfeat *src);
/* The hash sign (+1/-1) of the n-gram that names hashed column c (so weight * sign is that
 * n-gram's effect), +1 for a named column, 0 for a bucket no n-gram was seen in or c out of range.
 */
int eng_textfeat_sign(const eng_textfeat *tf, uint32_t c);

/* Readable name of column c, written into buf: "word 'sorry'", "bigram 'as an'", "named: length
 * (log chars)". Returns buf. A hashed column's name here is the streaming vote's (cheap, kept for
 * every bucket, but order-dependent when no n-gram holds a majority); names that are reported
 * come from an eng_textfeat_namer. */
const char *eng_textfeat_name(const eng_textfeat *tf, uint32_t c, char *buf, size_t cap);

/* ---- exact bucket names ----------------------------------------------------------------------
 * A namer counts, exactly, every occurrence of every n-gram that hashes into a chosen set of
 * buckets, over the texts it is given (the same tokens and n-grams as eng_textfeat_pair_row: both
 * answers' words and bigrams, and the prompt x response crosses when tf has them). A bucket's
 * name is its n-gram with the most occurrences; ties go to the smaller byte string (memcmp order,
 * a proper prefix first). Counts are sums, so the names do not depend on the order of the texts,
 * on how they were split between namers (eng_textfeat_namer_merge) or on threads. Memory: one
 * entry per distinct n-gram falling into a chosen bucket (about distinct n-grams x chosen /
 * 2^hash_bits), never one per bucket or per occurrence. */
typedef struct eng_textfeat_namer eng_textfeat_namer;

/* A namer for the hashed columns cols[0..n) of tf's layout (columns >= 2^hash_bits are ignored;
 * duplicates are fine). Copies what it needs from tf, which may be freed afterwards. Returns 0 or
 * ENG_ENOMEM. */
int eng_textfeat_namer_new(const eng_textfeat *tf, const uint32_t *cols, size_t n,
                           eng_textfeat_namer **out, eng_err *err);
void eng_textfeat_namer_free(eng_textfeat_namer *nm); /* accepts NULL */

/* Counts the n-grams of one pair's answers (prompt used only for crosses; NULL texts count as
 * empty). Returns 0 or ENG_ENOMEM. */
int eng_textfeat_namer_add_pair(eng_textfeat_namer *nm, const char *prompt, const char *chosen,
                                const char *rejected, eng_err *err);

/* Adds src's counts to dst (made for the same options and columns). Returns 0 or ENG_ENOMEM. */
int eng_textfeat_namer_merge(eng_textfeat_namer *dst, const eng_textfeat_namer *src, eng_err *err);

/* Name of hashed column c by the rule above, formatted as eng_textfeat_name does (n-grams cut to
 * 24 bytes at a UTF-8 boundary, then "..."); "bucket N (no n-gram seen)" when nothing was counted
 * in it, "bucket N (not counted)" when c was not asked for. *count (may be NULL) = occurrences of
 * the name, *sign (may be NULL) = its hash sign (+1/-1; 0 when there is no name). Returns buf. */
const char *eng_textfeat_namer_name(const eng_textfeat_namer *nm, uint32_t c, char *buf, size_t cap,
                                    uint64_t *count, int *sign);

#endif
