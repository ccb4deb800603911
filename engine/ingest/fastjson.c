/* fastjson.c - the fast path of a record line's JSON parse (fastjson.h says what it accepts).
 * Grammar: RFC 8259; strings are checked as jansson checks them (RFC 3629 UTF-8: no overlong
 * form, no surrogate, nothing past U+10FFFF; no control character; \uXXXX with surrogate pairs).
 * Does not: parse real numbers (jansson's strtod is the one to trust), keys with escapes, or any
 * line it would have to explain: those go back to the caller as NULL. */
#include "fastjson.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct fj {
	const unsigned char *p, *end;
	char *buf; /* decoded strings with escapes; cap >= the line's length + 1 once allocated */
	size_t cap;
	int depth; /* containers open */
} fj;

static void skip_ws(fj *f)
{
	while (f->p < f->end && (*f->p == ' ' || *f->p == '\t' || *f->p == '\n' || *f->p == '\r'))
		f->p++;
}

/* Length of the UTF-8 sequence at p (p[0] >= 0x80), 0 when it is not valid (RFC 3629). */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
	unsigned c = p[0];
	size_t n;
	uint32_t v;
	if (c < 0xC2)
		return 0;
	else if (c < 0xE0)
		n = 2, v = c & 0x1F;
	else if (c < 0xF0)
		n = 3, v = c & 0x0F;
	else if (c < 0xF5)
		n = 4, v = c & 0x07;
	else
		return 0;
	if ((size_t)(end - p) < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		v = v << 6 | (p[i] & 0x3F);
	}
	if ((n == 3 && v < 0x800) || (n == 4 && v < 0x10000) || v > 0x10FFFF ||
	    (v >= 0xD800 && v <= 0xDFFF))
		return 0;
	return n;
}

/* The 4 hex digits at p as a number, -1 when they are not 4 hex digits. */
static int32_t hex4(const unsigned char *p, const unsigned char *end)
{
	if (end - p < 4)
		return -1;
	int32_t v = 0;
	for (int i = 0; i < 4; i++) {
		unsigned c = p[i];
		int d = c >= '0' && c <= '9'   ? (int)(c - '0')
		        : c >= 'a' && c <= 'f' ? (int)(c - 'a' + 10)
		        : c >= 'A' && c <= 'F' ? (int)(c - 'A' + 10)
		                               : -1;
		if (d < 0)
			return -1;
		v = v << 4 | d;
	}
	return v;
}

/* Code point v (valid, not a surrogate) as UTF-8 at o; returns its length. */
static size_t utf8_put(char *o, int32_t v)
{
	if (v < 0x80) {
		o[0] = (char)v;
		return 1;
	}
	if (v < 0x800) {
		o[0] = (char)(0xC0 | (v >> 6));
		o[1] = (char)(0x80 | (v & 0x3F));
		return 2;
	}
	if (v < 0x10000) {
		o[0] = (char)(0xE0 | (v >> 12));
		o[1] = (char)(0x80 | ((v >> 6) & 0x3F));
		o[2] = (char)(0x80 | (v & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | (v >> 18));
	o[1] = (char)(0x80 | ((v >> 12) & 0x3F));
	o[2] = (char)(0x80 | ((v >> 6) & 0x3F));
	o[3] = (char)(0x80 | (v & 0x3F));
	return 4;
}

/* Decodes the rest of a string whose escape-free start is [st, p) and p is at a backslash into
 * f->buf (a decoded string is never longer than its source). 0 with *s, *n, else -1. */
static int str_escaped(fj *f, const unsigned char *st, const unsigned char *p, const char **s,
                       size_t *n)
{
	const unsigned char *end = f->end;
	size_t need = (size_t)(end - st) + 1, o = (size_t)(p - st);
	if (f->cap < need) {
		char *b = realloc(f->buf, need);
		if (!b)
			return -1;
		f->buf = b;
		f->cap = need;
	}
	char *buf = f->buf;
	memcpy(buf, st, o);
	while (p < end) {
		unsigned c = *p;
		if (c == '"') {
			*s = buf;
			*n = o;
			f->p = p + 1;
			return 0;
		}
		if (c < 0x20)
			return -1;
		if (c >= 0x80) {
			size_t k = utf8_len(p, end);
			if (!k)
				return -1;
			memcpy(buf + o, p, k);
			o += k, p += k;
			continue;
		}
		if (c != '\\') {
			buf[o++] = (char)c, p++;
			continue;
		}
		if (end - p < 2)
			return -1;
		c = p[1];
		p += 2;
		switch (c) {
		case '"':
		case '\\':
		case '/':
			buf[o++] = (char)c;
			break;
		case 'b':
			buf[o++] = '\b';
			break;
		case 'f':
			buf[o++] = '\f';
			break;
		case 'n':
			buf[o++] = '\n';
			break;
		case 'r':
			buf[o++] = '\r';
			break;
		case 't':
			buf[o++] = '\t';
			break;
		case 'u': {
			int32_t v = hex4(p, end);
			if (v < 0)
				return -1;
			p += 4;
			if (v >= 0xD800 && v <= 0xDBFF) { /* a surrogate pair */
				if (end - p < 6 || p[0] != '\\' || p[1] != 'u')
					return -1;
				int32_t v2 = hex4(p + 2, end);
				if (v2 < 0xDC00 || v2 > 0xDFFF)
					return -1;
				p += 6;
				v = ((v - 0xD800) << 10) + (v2 - 0xDC00) + 0x10000;
			} else if ((v >= 0xDC00 && v <= 0xDFFF) || v == 0) {
				return -1; /* a lone low surrogate; \u0000 */
			}
			o += utf8_put(buf + o, v);
			break;
		}
		default:
			return -1;
		}
	}
	return -1;
}

/* The string after the opening quote at f->p: *s, *n its bytes (into the line when it has no
 * escape, else into f->buf; escapes refused when no_escape). 0, or -1 off the fast path. */
static int str(fj *f, const char **s, size_t *n, int no_escape)
{
	const unsigned char *p = f->p, *st = p, *end = f->end;
	while (p < end) {
		unsigned c = *p;
		if (c == '"') {
			*s = (const char *)st;
			*n = (size_t)(p - st);
			f->p = p + 1;
			return 0;
		}
		if (c == '\\')
			return no_escape ? -1 : str_escaped(f, st, p, s, n);
		if (c < 0x20)
			return -1;
		if (c < 0x80) {
			p++;
		} else {
			size_t k = utf8_len(p, end);
			if (!k)
				return -1;
			p += k;
		}
	}
	return -1;
}

/* An integer of at most 18 digits (so no overflow: jansson's strtoll would take it alike). */
static json_t *integer(fj *f)
{
	const unsigned char *p = f->p, *end = f->end;
	int neg = p < end && *p == '-';
	p += neg;
	const unsigned char *d0 = p;
	if (p >= end || *p < '0' || *p > '9')
		return NULL;
	if (*p == '0') {
		p++;
		if (p < end && *p >= '0' && *p <= '9')
			return NULL; /* a leading zero: invalid */
	} else {
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p - d0 > 18 || (p < end && (*p == '.' || *p == 'e' || *p == 'E')))
		return NULL;
	long long v = 0;
	for (const unsigned char *q = d0; q < p; q++)
		v = v * 10 + (*q - '0');
	f->p = p;
	return json_integer(neg ? -v : v);
}

static json_t *value(fj *f);

static json_t *object(fj *f)
{
	if (++f->depth > ENG_FASTJSON_MAX_DEPTH)
		return NULL;
	f->p++; /* { */
	json_t *o = json_object();
	if (!o)
		return NULL;
	skip_ws(f);
	if (f->p < f->end && *f->p == '}') {
		f->p++;
		f->depth--;
		return o;
	}
	for (;;) {
		skip_ws(f);
		if (f->p >= f->end || *f->p != '"')
			goto fail;
		f->p++;
		const char *k;
		size_t kn;
		/* a key with an escape would sit in f->buf, which the value may reuse */
		if (str(f, &k, &kn, 1) || json_object_getn(o, k, kn))
			goto fail; /* not plain, or a duplicate (json_loadb names it) */
		skip_ws(f);
		if (f->p >= f->end || *f->p != ':')
			goto fail;
		f->p++;
		json_t *v = value(f);
		if (!v || json_object_setn_new_nocheck(o, k, kn, v)) /* takes v even on failure */
			goto fail;
		skip_ws(f);
		if (f->p < f->end && *f->p == ',') {
			f->p++;
			continue;
		}
		if (f->p < f->end && *f->p == '}') {
			f->p++;
			break;
		}
		goto fail;
	}
	f->depth--;
	return o;
fail:
	json_decref(o);
	return NULL;
}

static json_t *array(fj *f)
{
	if (++f->depth > ENG_FASTJSON_MAX_DEPTH)
		return NULL;
	f->p++; /* [ */
	json_t *a = json_array();
	if (!a)
		return NULL;
	skip_ws(f);
	if (f->p < f->end && *f->p == ']') {
		f->p++;
		f->depth--;
		return a;
	}
	for (;;) {
		json_t *v = value(f);
		if (!v || json_array_append_new(a, v)) /* takes v even on failure */
			goto fail;
		skip_ws(f);
		if (f->p < f->end && *f->p == ',') {
			f->p++;
			continue;
		}
		if (f->p < f->end && *f->p == ']') {
			f->p++;
			break;
		}
		goto fail;
	}
	f->depth--;
	return a;
fail:
	json_decref(a);
	return NULL;
}

/* A literal word (true, false, null) of n bytes at f->p, not followed by another letter. */
static int word(fj *f, const char *w, size_t n)
{
	if ((size_t)(f->end - f->p) < n || memcmp(f->p, w, n))
		return 0;
	const unsigned char *q = f->p + n;
	if (q < f->end && ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z')))
		return 0;
	f->p = q;
	return 1;
}

static json_t *value(fj *f)
{
	skip_ws(f);
	if (f->p >= f->end)
		return NULL;
	switch (*f->p) {
	case '{':
		return object(f);
	case '[':
		return array(f);
	case '"': {
		const char *s;
		size_t n;
		f->p++;
		return str(f, &s, &n, 0) ? NULL : json_stringn_nocheck(s, n);
	}
	case 't':
		return word(f, "true", 4) ? json_true() : NULL;
	case 'f':
		return word(f, "false", 5) ? json_false() : NULL;
	case 'n':
		return word(f, "null", 4) ? json_null() : NULL;
	default:
		return integer(f);
	}
}

json_t *eng_fastjson_load(const char *s, size_t len)
{
	fj f = {.p = (const unsigned char *)s, .end = (const unsigned char *)s + len};
	skip_ws(&f);
	json_t *root = NULL;
	if (f.p < f.end && *f.p == '{')
		root = object(&f);
	if (root) {
		skip_ws(&f);
		if (f.p != f.end) { /* trailing bytes: json_loadb says "end of file expected" */
			json_decref(root);
			root = NULL;
		}
	}
	free(f.buf);
	return root;
}
