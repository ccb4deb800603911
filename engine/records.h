/* records.h - one JSONL record -> 0..n preference pairs, or reasons why not.
 *
 * Shapes (checked in this order):
 * - multi-completion (VLFeedback style): `prompt`|`question`, optional image field, `completions`
 *   = {response: [...], annotations: [...], model: [...] (optional)}. A completion's score is the
 *   mean of its numeric ratings (each annotation is an object of aspects, each aspect an object
 *   with "Rating" as a number or numeric string, or a bare number). Every two completions with
 *   different scores give one pair, higher = chosen; ties and unrated completions are dropped.
 *   Pair ids are "<id>#<chosen index>><rejected index>".
 * - pairwise: `prompt`|`question`, `image`|`img_path`|`image_path` (optional: text-only is valid),
 *   `chosen`, `rejected`, optional `id` (string or integer).
 * Fields not used are kept as metadata (a compact JSON object string). A record without `id` gets
 * "<file stem>:<line>". Duplicate keys, invalid UTF-8 and \u0000 are rejected (jansson's strict
 * parser, nesting depth limited by jansson). This module does not touch images or the database. */
#ifndef ENG_RECORDS_H
#define ENG_RECORDS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Limits on one multi-completion record (a record over them is rejected as too-many-pairs):
 * completions per record (n completions give up to n(n-1)/2 pairs), and the metadata the pairs
 * would copy in total (each pair carries a copy of the record's extra fields). */
#define ENG_RECORD_MAX_COMPLETIONS 64
#define ENG_RECORD_MAX_META_BYTES  ((size_t)256 << 20)

/* Short machine codes of rejected records/pairs; names via eng_rec_code_name(). */
typedef enum eng_rec_code {
	ENG_REC_BAD_JSON,
	ENG_REC_NOT_OBJECT,
	ENG_REC_MISSING_FIELD,
	ENG_REC_EMPTY_FIELD,
	ENG_REC_IDENTICAL,
	ENG_REC_INVALID_UTF8,
	ENG_REC_BAD_TYPE,
	ENG_REC_DUPLICATE_ID,
	ENG_REC_MISSING_IMAGE,
	ENG_REC_CORRUPT_IMAGE,
	ENG_REC_IMAGE_TOO_LARGE,
	ENG_REC_UNSUPPORTED_IMAGE,
	ENG_REC_LINE_TOO_LONG,
	ENG_REC_UNSAFE_MEMBER,  /* archive member is a link/device or has an absolute/".." name */
	ENG_REC_TOO_MANY_PAIRS, /* a multi-completion record over ENG_RECORD_MAX_COMPLETIONS */
	ENG_REC_NCODES
} eng_rec_code;

/* "bad-json", "missing-field", ... (static storage). */
const char *eng_rec_code_name(eng_rec_code c);

typedef struct eng_rec_error {
	eng_rec_code code;
	char reason[384]; /* one sentence: what is wrong and what to do */
} eng_rec_error;

typedef struct eng_rec_pair {
	char *id;             /* owned */
	const char *chosen;   /* borrowed from the record's JSON tree */
	const char *rejected; /* borrowed */
	char *meta;           /* owned, compact JSON object or NULL */
} eng_rec_pair;

typedef struct eng_record {
	json_t *root;       /* owned parse tree */
	const char *prompt; /* borrowed from root */
	const char *image;  /* borrowed; NULL for a text-only record */
	eng_rec_pair *pairs;
	size_t npairs, cap;
	eng_rec_error *errors; /* record-level (npairs == 0) or per-pair rejections */
	size_t nerrors, ecap;
} eng_record;

/* Parses line[0..len) (line `lineno` of a file whose stem is `stem`) into rec, which must be zeroed
 * or cleared. Returns 0 (inspect rec->npairs and rec->nerrors: both may be non-zero for a
 * multi-completion record) or ENG_ENOMEM. */
int eng_record_parse(eng_record *rec, const char *line, size_t len, const char *stem,
                     uint64_t lineno);

/* Frees what rec owns and zeroes it; accepts NULL. */
void eng_record_clear(eng_record *rec);

/* Adds an error to rec (printf-style reason). Returns 0 or ENG_ENOMEM. */
int eng_record_add_error(eng_record *rec, eng_rec_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
