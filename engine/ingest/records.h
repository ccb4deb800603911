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
 * - judged: `answer_1`/`answer_2` (or answer1/answer2, answer_a/answer_b, response_1/response_2,
 *   response_a/response_b, output_1/output_2) + a verdict field (winner, verdict, preference,
 *   judge_output, label, choice): "Answer1", "model_1", "A", 1, "A>B", ... pick the first answer;
 *   the mirror values the second; "tie", "A=B", "draw" ... are reported as tie-verdict and
 *   "undecided", "unable to decide ...", null or an unknown value as undecided-verdict (skipped).
 *   Takes precedence over chosen/rejected fields in the same record (they would be derived).
 * - hh (HH-RLHF): `chosen` and `rejected` are whole "\n\nHuman: ...\n\nAssistant: ..."
 *   transcripts; the common text before the last "\n\nAssistant:" of each is the prompt, the final
 *   assistant turns are the answers (dialogue-mismatch when the two prefixes differ).
 * - sharegpt: `conversations` (or `messages`) = [{from|role, value|content}, ...] and `chosen` /
 *   `rejected` message objects (or strings); the prompt is the single user turn, or the rendered
 *   transcript ("System: ...\n\nHuman: ...\n\nAssistant: ...") when there are several turns.
 *   Images: `images: [...]` (the first is used) or any pairwise image field.
 * - mapped: pairwise with the fields named by an eng_rec_map (dotted paths such as "a.b"), or
 *   judged when the map names answer_a/answer_b/verdict, a verdict field or a join input; a fixed
 *   prompt, verdict values and answers looked up in another file (answers.h) come with the map.
 * Any shape: a record with a non-null `video`/`videos` field, or whose image reference has a video
 * extension, is rejected as unsupported-image (videos are not audited).
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
	ENG_REC_TIE_VERDICT,       /* judged pair rated a tie: no preference */
	ENG_REC_UNDECIDED_VERDICT, /* judged pair without a usable verdict */
	ENG_REC_DIALOGUE_MISMATCH, /* hh: chosen and rejected dialogues differ before the last turn
	                            */
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

/* Fills e with code and the printf-style reason; returns 1, the "refused" result of the checks
 * that use it (imgsource.c, archive.c, imgdecode.c). */
int eng_rec_reject(eng_rec_error *e, eng_rec_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

typedef struct eng_rec_pair {
	char *id;             /* owned */
	const char *chosen;   /* borrowed from the record's JSON tree */
	const char *rejected; /* borrowed */
	char *meta;           /* owned, compact JSON object or NULL */
} eng_rec_pair;

/* Record shapes; ENG_SHAPE_AUTO decides per record (see eng_record_detect). */
typedef enum eng_rec_shape {
	ENG_SHAPE_AUTO,
	ENG_SHAPE_PAIRWISE,
	ENG_SHAPE_MULTI,
	ENG_SHAPE_HH,
	ENG_SHAPE_SHAREGPT,
	ENG_SHAPE_JUDGED,
	ENG_SHAPE_MAPPED,
	ENG_SHAPE_NSHAPES
} eng_rec_shape;

/* "auto", "pairwise", "multi", "hh", "sharegpt", "judged", "mapped" (static storage). */
const char *eng_rec_shape_name(eng_rec_shape s);

/* Shape from its name (as above; "multi-completion" accepted too). Returns 0 or -1 if unknown. */
int eng_rec_shape_parse(const char *name, eng_rec_shape *out);

/* The shape of one parsed record object (never AUTO): multi when `completions` is present,
 * sharegpt for `conversations`/`messages` arrays, judged for an answer pair + verdict field, hh for
 * chosen/rejected transcripts with "\n\nAssistant:" and no prompt field, pairwise otherwise. */
eng_rec_shape eng_record_detect(json_t *obj);

/* Answer records looked up by (key, model) for judgement records that name their answers instead
 * of carrying them (the WildVision layout); see engine/ingest/answers.h. */
typedef struct eng_answers eng_answers;

/* One --verdict-map entry: a verdict value (compared after trimming, ASCII case folded) and the
 * side it means: 1 (answer_a), 2 (answer_b), 0 (tie), -1 (undecided). */
typedef struct eng_rec_verdict {
	char *value;
	int side;
} eng_rec_verdict;

/* Field paths of a mapped shape; NULL members fall back to the default names. A path is a key or
 * dotted keys ("meta.question"); a numeric segment indexes an array ("images.0").
 * Roles: chosen, rejected, prompt, image, id (pairwise); answer_a, answer_b, verdict (judged:
 * when any of them is given the record is judged, with the default names for the others);
 * position (the chosen answer's display position, 1/2 or a/b, kept as chosen_position); images
 * (a list of images, the first is used). Beside the roles: prompt_text (the prompt of records
 * without one), verdict_field (per-metric judgements: the member of the verdict object, or the
 * top-level field, named F or ending in "/F"), vmap (verdict values, checked before the built-in
 * ones), and the join: answers (not owned) with join_key/join_model ("question_id", "model"): a
 * judged record without answer texts takes answer_a from the answer record whose join_key equals
 * its join_key and whose join_model equals its "<join_model>_a" (model_a), answer_b likewise. */
typedef struct eng_rec_map {
	char *chosen, *rejected, *prompt, *image, *id;
	char *answer_a, *answer_b, *verdict, *position, *images;
	char *prompt_text, *verdict_field;
	eng_rec_verdict *vmap;
	size_t nvmap;
	const eng_answers *answers;
	char *join_key, *join_model;
} eng_rec_map;

/* Parses "ROLE=FIELD,..." (roles above, any subset, any order) into map (strings owned by map;
 * map zeroed first). Returns 0, ENG_EINPUT with msg (n bytes) naming the bad part, or ENG_ENOMEM.
 */
int eng_rec_map_parse(const char *spec, eng_rec_map *map, char *msg, size_t n);

/* Adds verdict values "VALUE=SIDE,..." (SIDE: a, b, 1, 2, tie, undecided; VALUE may not hold ','
 * or '=' here, use a file for those) or, when spec starts with '@', the lines "VALUE=SIDE" of that
 * file (the last '=' splits; blank lines and lines starting with '#' skipped). Returns 0,
 * ENG_EINPUT with msg, or ENG_ENOMEM. */
int eng_rec_map_add_verdicts(eng_rec_map *map, const char *spec, char *msg, size_t n);

/* Sets map->prompt_text / verdict_field / join (copies). "KEY,MODEL" for the join. 0, ENG_EINPUT
 * with msg, or ENG_ENOMEM. */
int eng_rec_map_set_text(eng_rec_map *map, const char *prompt_text, const char *verdict_field,
                         const char *join, char *msg, size_t n);

/* 1 when map says something (any role, text, verdict or join). */
int eng_rec_map_used(const eng_rec_map *map);

/* Canonical text of map (roles in a fixed order, verdicts sorted) for the idempotence key of a
 * source file; "" for NULL. Returns a malloc'd string or NULL when out of memory. */
char *eng_rec_map_format(const eng_rec_map *map);
void eng_rec_map_clear(eng_rec_map *map);

typedef struct eng_rec_opts {
	eng_rec_shape shape;    /* AUTO: detect per record */
	const eng_rec_map *map; /* used by ENG_SHAPE_MAPPED (NULL = pairwise names) */
} eng_rec_opts;

typedef struct eng_record {
	json_t *root;        /* owned parse tree */
	eng_rec_shape shape; /* the shape used (set once the line parsed as an object) */
	char *prompt_buf;    /* owned text the prompt points to when it was built (hh, sharegpt) */
	const char *prompt;  /* borrowed from root or prompt_buf */
	const char *image;   /* borrowed; NULL for a text-only record */
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

/* eng_record_parse with a shape and field map; opts NULL = auto. With a fixed shape, a record of
 * another shape is reported (missing-field ...) rather than re-detected. */
int eng_record_parse_ex(eng_record *rec, const char *line, size_t len, const char *stem,
                        uint64_t lineno, const eng_rec_opts *opts);

/* A fast path of eng_record_parse (recflat.c) for a scorer: the common flat pairwise record,
 * parsed without a JSON tree. Returns 0 with rec (zeroed or cleared before) holding exactly the
 * one pair eng_record_parse would give (prompt, id, chosen, rejected, no image, no error), except
 * that the pair's meta is NULL and rec->root is NULL; 1 when the line is anything else (rec left
 * as it was: give the line to eng_record_parse, whose result and errors stand); ENG_ENOMEM. */
int eng_record_parse_flat(eng_record *rec, const char *line, size_t len, const char *stem,
                          uint64_t lineno);
/* eng_record_parse_flat for the indexer: the same records, and the pair's meta exactly as
 * eng_record_parse writes it (the unused fields, compact JSON; NULL when there are none); also 1
 * for a line with an unused real or escaped string (their dumped form may differ from their bytes:
 * eng_record_parse takes those). rec->root stays NULL. */
int eng_record_parse_flat_meta(eng_record *rec, const char *line, size_t len, const char *stem,
                               uint64_t lineno);

/* eng_record_parse_ex of a record already parsed: rec->root is an object the caller has set (rec
 * owns it from then on; e.g. a Parquet row). Returns 0 or ENG_ENOMEM, as eng_record_parse_ex. */
int eng_record_from_json(eng_record *rec, const char *stem, uint64_t lineno,
                         const eng_rec_opts *opts);

/* Frees what rec owns and zeroes it; accepts NULL. */
void eng_record_clear(eng_record *rec);

/* Adds an error to rec (printf-style reason). Returns 0 or ENG_ENOMEM. */
int eng_record_add_error(eng_record *rec, eng_rec_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
