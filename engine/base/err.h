/* err.h - the error record every fallible engine/report function fills.
 *
 * Fallible functions return 0 on success or a negative ENG_E* code and, when the caller passes a
 * non-NULL eng_err, write a one-line message with context (path, line, sqlite3_errmsg copied at
 * once). Only audit/ turns codes into exit statuses and prints. */
#ifndef ENG_ERR_H
#define ENG_ERR_H

#include <stdarg.h>
#include <sys/types.h>

enum {
	ENG_OK = 0,
	ENG_EINPUT = -1,    /* bad input or usage: the user can fix it (exit 2) */
	ENG_EIO = -2,       /* system error: I/O, disk full, read-only (exit 3) */
	ENG_ENOMEM = -3,    /* out of memory (exit 3) */
	ENG_EINTERNAL = -4, /* a bug or an unexpected library failure (exit 3) */
};

typedef struct eng_err {
	int code;
	char msg[1024];
} eng_err;

/* Sets e (may be NULL) to code and the printf-style message; returns code. */
int eng_err_set(eng_err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prefixes the existing message with the printf-style context ("open 'x': " + msg). */
void eng_err_prefix(eng_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void eng_err_clear(eng_err *e);

/* What a path that is not a regular file is, for a message: "a directory", "a FIFO", ... */
const char *eng_err_file_kind(mode_t m);

#endif
