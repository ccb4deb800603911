/* jsonl.h - line reader for JSONL input with 1-based line numbers.
 *
 * Reads bytes through a read callback (a FILE* adapter is provided; a libarchive raw-filter stream
 * for .jsonl.gz can plug in through eng_jsonl_open_fn), strips a UTF-8 BOM at the very start and a
 * trailing CR, skips blank (whitespace-only) lines, and caps the line length: a longer line is
 * reported as ENG_JSONL_TOO_LONG and skipped up to its newline without being held in memory beyond
 * the cap. It does not parse JSON (see records.h).
 *
 * With eng_jsonl_detect_array(), input whose first non-blank byte is '[' is read as ONE JSON array
 * instead (e.g. `[ {...}, {...} ]` pretty-printed over many lines): each element is returned as a
 * "line" (its exact text, newlines included), numbered by the line its first byte is on. The
 * splitter only tracks strings and bracket depth (it does not validate JSON: a malformed element
 * fails later in the record parser); elements are streamed, never the whole array held, and an
 * element longer than max_line is skipped as ENG_JSONL_TOO_LONG. Bytes after the closing ']' are
 * never ignored: another '[' starts another array, anything else is read as JSONL lines from
 * there (a malformed one is then a record error with its line). */
#ifndef ENG_JSONL_H
#define ENG_JSONL_H

#include <stdint.h>
#include <stdio.h>

#include "err.h"

#define ENG_JSONL_DEFAULT_MAX_LINE ((size_t)16 << 20) /* 16 MiB */

/* Reads up to n bytes into buf; returns bytes read, 0 at end of input, -1 on a system error or
 * ENG_JSONL_READ_BAD_DATA when the input itself is bad (corrupt or truncated compressed data, a
 * checksum mismatch: eng_jsonl_next then fails with ENG_EINPUT); either way fills msg, up to 256
 * bytes, with a reason. */
#define ENG_JSONL_READ_BAD_DATA (-2L)
typedef long (*eng_jsonl_read_fn)(void *ctx, void *buf, size_t n, char *msg);

typedef struct eng_jsonl eng_jsonl;

enum {
	ENG_JSONL_EOF = 0,      /* no more lines */
	ENG_JSONL_LINE = 1,     /* line and len hold a line (no newline, no CR, NUL-terminated) */
	ENG_JSONL_TOO_LONG = 2, /* line *lineno exceeded max_line bytes; it was skipped */
};

/* Reader over f (not closed by the reader). max_line 0 = ENG_JSONL_DEFAULT_MAX_LINE.
 * Returns 0 and *out, or ENG_ENOMEM. */
int eng_jsonl_open_file(FILE *f, size_t max_line, eng_jsonl **out, eng_err *err);

/* Reader over a callback; ctx is passed to fn and not owned. */
int eng_jsonl_open_fn(eng_jsonl_read_fn fn, void *ctx, size_t max_line, eng_jsonl **out,
                      eng_err *err);

/* Next non-blank line. Returns ENG_JSONL_LINE / ENG_JSONL_TOO_LONG / ENG_JSONL_EOF, or ENG_EIO
 * when reading failed (err names the line). *line stays valid until the next call and is owned by
 * the reader. *lineno is the 1-based number of the line returned. */
int eng_jsonl_next(eng_jsonl *r, const char **line, size_t *len, uint64_t *lineno, eng_err *err);

/* Enables the JSON-array mode above; call before the first eng_jsonl_next. */
void eng_jsonl_detect_array(eng_jsonl *r);

/* 1 once the input was recognised as a JSON array (after the first eng_jsonl_next), else 0. */
int eng_jsonl_is_array(const eng_jsonl *r);

/* Bytes consumed so far (for progress). */
uint64_t eng_jsonl_offset(const eng_jsonl *r);

void eng_jsonl_close(eng_jsonl *r);

#endif
