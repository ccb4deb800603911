/* records_internal.h - what records.c (field helpers, the entry points) shares with recshapes.c
 * (shape detection and the per-shape parsers). Not a public interface. */
#ifndef ENG_RECORDS_INTERNAL_H
#define ENG_RECORDS_INTERNAL_H

#include <stddef.h>

#include "records.h"

/* The prompt field's default names: "prompt", "question". */
extern const char *const eng_rec_prompt_keys[];

/* ---- records.c: field helpers ---- */

/* The value of the first key of names present in obj (and which key), or NULL. */
json_t *eng_rec_get_alias(json_t *obj, const char *const *names, const char **which);
/* 1 when s is empty or only spaces, tabs and line breaks. */
int eng_rec_is_blank(const char *s);
/* A required non-empty string field. Returns 1 and *out, 0 after recording an error, <0 ENOMEM. */
int eng_rec_text_field(eng_record *rec, json_t *v, const char *name, const char **out);
/* Object of the record's fields not in used[] (NULL-terminated), new reference; NULL on ENOMEM. */
json_t *eng_rec_leftover(json_t *root, const char *const *used);
/* Value at a dotted path ("a.b.0"), or NULL; its top-level key into out[n]. */
json_t *eng_rec_path_get(json_t *root, const char *path);
void eng_rec_path_top(const char *path, json_t *root, char *out, size_t n);

/* ---- recshapes.c: the shapes ---- */

/* 1 when a and b are equal after trimming surrounding spaces, tabs and line breaks (the
 * identical-answers rule). */
int eng_rec_same_text(const char *a, const char *b);

/* ---- recshapes.c: the shape parsers (each returns 0, or ENG_ENOMEM; problems are record errors)
 * ---- */

/* Adds one pair chosen/rejected with the leftover fields (not in used) plus extra as meta. */
int eng_rec_emit_pair(eng_record *rec, const char *id, const char *chosen, const char *rejected,
                      const char *const *used, json_t *extra);
/* Pairwise and mapped records: chosen and rejected (and --map position) after the prompt. */
int eng_rec_parse_pairwise(eng_record *rec, const char *id, const char **used, size_t nused,
                           const eng_rec_map *map, char (*mtop)[128]);
/* Multi-completion records: every better/worse pair of the rated completions. */
int eng_rec_parse_multi_record(eng_record *rec, const char *id, const char **used, size_t nused);
/* Judged records: two answers (or a join input's) and a verdict. */
int eng_rec_parse_judged(eng_record *rec, const char *id, const char **used, size_t nused,
                         const eng_rec_map *map, char (*mtop)[128]);
/* Anthropic HH: chosen and rejected transcripts sharing a prefix. */
int eng_rec_parse_hh(eng_record *rec, const char *id, const char **used, size_t nused);
/* ShareGPT conversations ending in a chosen and a rejected reply. */
int eng_rec_parse_sharegpt(eng_record *rec, const char *id, const char **used, size_t nused);

#endif
