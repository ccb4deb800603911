/* answers.h - answer records of a join input (`mmaudit index --answers FILE|DIR --join KEY,MODEL`).
 *
 * Some judgement sets name their answers instead of carrying them: WildVision-Bench keeps one JSONL
 * file of answers per model ({question_id, model, instruction, output}) and judgements
 * ({question_id, model_a, model_b, score}) apart. The answers are loaded once, keyed by the values
 * of their KEY and MODEL fields (strings or integers), and looked up read-only by the record
 * parser on any thread. An answer's text is its "output" (or "answer", "response", "text",
 * "content") field; its prompt its "instruction" (or "prompt", "question") field. Does not touch
 * the workspace. */
#ifndef ENG_ANSWERS_H
#define ENG_ANSWERS_H

#include <stddef.h>

#include "err.h"
#include "records.h"

/* Loads every answer record of paths[0..n) (JSONL files, or directories: their *.jsonl files in
 * name order). Returns 0 with *out, ENG_EINPUT (unreadable file, a line that is not a JSON object,
 * a record without KEY/MODEL/text, the same (KEY, MODEL) twice with different texts: err names
 * file:line and the fix) or ENG_ENOMEM. */
int eng_answers_load(const char *const *paths, size_t n, const char *key, const char *model,
                     eng_answers **out, eng_err *err);
void eng_answers_free(eng_answers *a);

/* The answer text for (key, model), or NULL; *prompt (may be NULL) gets its prompt or NULL.
 * Strings are owned by a. */
const char *eng_answers_find(const eng_answers *a, const char *key, const char *model,
                             const char **prompt);

/* Records loaded, and the SHA-256 (hex) of the files' contents in load order (idempotence key). */
size_t eng_answers_count(const eng_answers *a);
const char *eng_answers_sha256(const eng_answers *a);

#endif
