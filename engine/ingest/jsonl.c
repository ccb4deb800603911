/* jsonl.c - buffered line splitting with a length cap. Knows nothing of JSON. */
#include "jsonl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum { CHUNK = 1 << 16 };

struct eng_jsonl {
	eng_jsonl_read_fn fn;
	void *ctx;
	size_t max_line;
	char in[CHUNK]; /* raw input buffer */
	size_t in_pos, in_len;
	int eof, started;
	char *line; /* current line, grown up to max_line + 1 */
	size_t cap;
	uint64_t lineno, offset;
	int detect, decided, array, closed; /* JSON-array mode (see jsonl.h) */
	uint64_t cur_line;                  /* array mode: line of the next byte */
};

static long file_read(void *ctx, void *buf, size_t n, char *msg)
{
	FILE *f = ctx;
	size_t got = fread(buf, 1, n, f);
	if (got == 0 && ferror(f)) {
		snprintf(msg, 256, "%s", strerror(errno ? errno : EIO));
		return -1;
	}
	return (long)got;
}

int eng_jsonl_open_fn(eng_jsonl_read_fn fn, void *ctx, size_t max_line, eng_jsonl **out,
                      eng_err *err)
{
	*out = NULL;
	eng_jsonl *r = calloc(1, sizeof *r);
	if (!r)
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	r->fn = fn;
	r->ctx = ctx;
	r->max_line = max_line ? max_line : ENG_JSONL_DEFAULT_MAX_LINE;
	*out = r;
	return 0;
}

int eng_jsonl_open_file(FILE *f, size_t max_line, eng_jsonl **out, eng_err *err)
{
	return eng_jsonl_open_fn(file_read, f, max_line, out, err);
}

void eng_jsonl_close(eng_jsonl *r)
{
	if (!r)
		return;
	free(r->line);
	free(r);
}

void eng_jsonl_detect_array(eng_jsonl *r)
{
	r->detect = 1;
}

int eng_jsonl_is_array(const eng_jsonl *r)
{
	return r->array;
}

uint64_t eng_jsonl_offset(const eng_jsonl *r)
{
	return r->offset;
}

/* Refills r->in; returns 1 when bytes are available, 0 at EOF, ENG_EIO on error. */
static int fill(eng_jsonl *r, eng_err *err)
{
	if (r->in_pos < r->in_len)
		return 1;
	if (r->eof)
		return 0;
	char msg[256] = "";
	long n = r->fn(r->ctx, r->in, sizeof r->in, msg);
	if (n == ENG_JSONL_READ_BAD_DATA) {
		unsigned long long at = r->array ? r->cur_line : r->lineno;
		return eng_err_set(err, ENG_EINPUT, "%s (%s%llu; nothing of this file was kept)",
		                   msg, at ? "decompressed up to line " : "before line ",
		                   at ? at : 1);
	}
	if (n < 0)
		return eng_err_set(err, ENG_EIO, "read error after line %llu: %s",
		                   (unsigned long long)r->lineno, msg);
	r->in_pos = 0;
	r->in_len = (size_t)n;
	if (n == 0) {
		r->eof = 1;
		return 0;
	}
	if (!r->started) {
		r->started = 1;
		if (r->in_len >= 3 && !memcmp(r->in, "\xEF\xBB\xBF", 3))
			r->in_pos = 3, r->offset += 3;
	}
	return 1;
}

/* Appends n bytes to the current line (len so far *len); returns ENG_ENOMEM on failure. */
static int append(eng_jsonl *r, size_t *len, const char *p, size_t n, eng_err *err)
{
	if (*len + n + 1 > r->cap) {
		size_t want = r->cap ? r->cap : 4096;
		while (want < *len + n + 1)
			want *= 2;
		if (want > r->max_line + 1)
			want = r->max_line + 1;
		char *nl = realloc(r->line, want);
		if (!nl)
			return eng_err_set(err, ENG_ENOMEM, "out of memory reading line %llu",
			                   (unsigned long long)r->lineno);
		r->line = nl;
		r->cap = want;
	}
	memcpy(r->line + *len, p, n);
	*len += n;
	return 0;
}

static int blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return 0;
	return 1;
}

/* Stores byte c at line[*n] unless past the cap (then sets *too_long). */
static int put_byte(eng_jsonl *r, size_t *n, char c, int *too_long, eng_err *err)
{
	if (*too_long)
		return 0;
	if (*n >= r->max_line) {
		*too_long = 1;
		return 0;
	}
	return append(r, n, &c, 1, err);
}

/* After an array's closing ']': skips blanks; at the end of input returns 0; at another '['
 * reopens array mode (1); at anything else switches to line mode from there (2), so every
 * byte after the array is read as records (or reported as malformed ones with their line). */
static int after_array(eng_jsonl *r, eng_err *err)
{
	for (;;) {
		int rc = fill(r, err);
		if (rc <= 0)
			return rc;
		char c = r->in[r->in_pos];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			r->in_pos++;
			r->offset++;
			r->cur_line += c == '\n';
			continue;
		}
		if (c == '[') {
			r->in_pos++;
			r->offset++;
			r->closed = 0;
			return 1;
		}
		r->array = 0;
		r->lineno = r->cur_line - 1; /* line mode counts from the line this byte is on */
		return 2;
	}
}

int eng_jsonl_next(eng_jsonl *r, const char **line, size_t *len, uint64_t *lineno, eng_err *err);

/* Next element of a JSON array (array mode). */
static int next_element(eng_jsonl *r, const char **line, size_t *len, uint64_t *lineno,
                        eng_err *err)
{
	size_t n = 0;
	int started = 0, depth = 0, in_str = 0, esc = 0, too_long = 0, rc;
	uint64_t start = 0;
	if (r->closed) {
		if ((rc = after_array(r, err)) <= 0)
			return rc;
		if (rc == 2)
			return eng_jsonl_next(r, line, len, lineno, err);
	}
	for (;;) {
		if ((rc = fill(r, err)) < 0)
			return rc;
		if (rc == 0)
			break; /* end of input: an unclosed element is returned as it is */
		char c = r->in[r->in_pos++];
		r->offset++;
		uint64_t here = r->cur_line;
		if (c == '\n')
			r->cur_line++;
		if (!started) {
			if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ',')
				continue;
			if (c == '[' && !r->lineno) {
				r->lineno = 1; /* the array's own '[' */
				continue;
			}
			if (c == ']') {
				r->closed = 1;
				if ((rc = after_array(r, err)) <= 0)
					return rc;
				if (rc == 2)
					return eng_jsonl_next(r, line, len, lineno, err);
				continue;
			}
			started = 1;
			start = here;
		}
		if (in_str) {
			if (esc)
				esc = 0;
			else if (c == '\\')
				esc = 1;
			else if (c == '"')
				in_str = 0;
		} else if (c == '"') {
			in_str = 1;
		} else if (c == '{' || c == '[') {
			depth++;
		} else if (c == '}' || c == ']') {
			if (depth == 0) { /* the array's ']' right after a scalar element */
				r->closed = 1;
				break;
			}
			depth--;
		} else if (c == ',' && depth == 0) {
			break;
		}
		if ((rc = put_byte(r, &n, c, &too_long, err)) < 0)
			return rc;
		if (depth == 0 && !in_str && (c == '}' || c == ']'))
			break;
	}
	if (!started)
		return ENG_JSONL_EOF;
	*lineno = start;
	if (too_long)
		return ENG_JSONL_TOO_LONG;
	while (n && (r->line[n - 1] == ' ' || r->line[n - 1] == '\t' || r->line[n - 1] == '\r' ||
	             r->line[n - 1] == '\n'))
		n--;
	if ((rc = append(r, &n, "", 0, err)) < 0)
		return rc;
	r->line[n] = '\0';
	*line = r->line;
	*len = n;
	return ENG_JSONL_LINE;
}

/* Array mode when the first non-blank byte is '[' (only the first buffer is looked at). */
static int decide(eng_jsonl *r, eng_err *err)
{
	r->decided = 1;
	int rc = fill(r, err);
	if (rc <= 0)
		return rc;
	for (size_t i = r->in_pos; i < r->in_len; i++) {
		char c = r->in[i];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		if (c == '[') {
			r->array = 1;
			r->cur_line = 1;
		}
		break;
	}
	return 0;
}

int eng_jsonl_next(eng_jsonl *r, const char **line, size_t *len, uint64_t *lineno, eng_err *err)
{
	int rc;
	if (r->detect && !r->decided && (rc = decide(r, err)) < 0)
		return rc;
	if (r->array)
		return next_element(r, line, len, lineno, err);
	for (;;) {
		/* fast path: the whole line is in the input buffer; return it in place */
		char *start = r->in + r->in_pos;
		char *nl =
		    r->in_pos < r->in_len ? memchr(start, '\n', r->in_len - r->in_pos) : NULL;
		if (nl && (size_t)(nl - start) <= r->max_line) {
			size_t take = (size_t)(nl - start);
			r->in_pos += take + 1;
			r->offset += take + 1;
			r->lineno++;
			if (take && start[take - 1] == '\r')
				take--;
			if (blank(start, take))
				continue;
			start[take] = '\0';
			*line = start;
			*len = take;
			*lineno = r->lineno;
			return ENG_JSONL_LINE;
		}
		size_t n = 0;
		int too_long = 0, rc, any = 0;
		r->lineno++;
		for (;;) {
			if ((rc = fill(r, err)) < 0)
				return rc;
			if (rc == 0)
				break;
			any = 1;
			char *start = r->in + r->in_pos;
			size_t avail = r->in_len - r->in_pos;
			char *nl = memchr(start, '\n', avail);
			size_t take = nl ? (size_t)(nl - start) : avail;
			r->in_pos += take + (nl ? 1 : 0);
			r->offset += take + (nl ? 1 : 0);
			if (!too_long) {
				if (n + take > r->max_line) {
					too_long =
					    1; /* keep scanning to the newline, storing nothing */
				} else if ((rc = append(r, &n, start, take, err)) < 0) {
					return rc;
				}
			}
			if (nl)
				break;
		}
		if (!any) {
			r->lineno--;
			return ENG_JSONL_EOF;
		}
		*lineno = r->lineno;
		if (too_long)
			return ENG_JSONL_TOO_LONG;
		if (n && r->line[n - 1] == '\r')
			n--;
		if (blank(r->line, n))
			continue;
		r->line[n] = '\0';
		*line = r->line;
		*len = n;
		return ENG_JSONL_LINE;
	}
}
