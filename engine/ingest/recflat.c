/* recflat.c - eng_record_parse_flat: the common record (one flat JSON object of the pairwise shape:
 * a prompt, chosen, rejected, an optional id, other fields with string, number, true, false or
 * null values) parsed without building a jansson tree, for scorers that need the pair's texts and
 * id only.
 *
 * The rule that keeps it exact: it accepts a line only when it is sure that eng_record_parse would
 * give the same single pair and no error, and says "not mine" (1) for everything else, which the
 * caller then hands to eng_record_parse (so every error and every other shape is that parser's,
 * word for word). Sure means: the line is JSON as jansson's strict parser reads it (whitespace ' ',
 * '\t', '\n', '\r'; strict UTF-8, no overlong forms, no surrogates, nothing past U+10FFFF; no raw
 * control bytes in strings; escapes \" \\ \/ \b \f \n \r \t \uXXXX with surrogate pairs, never
 * \u0000; numbers by the JSON grammar, integers of at most 18 digits, reals that strtod reads
 * without range error; no duplicate key; nothing after the object), no key is escaped or nested,
 * no key names another shape (completions, conversations, messages, the judged answer fields),
 * a video, or an image that is not null or "", the prompt ("prompt", else "question"), chosen and
 * rejected are non-blank strings that are not the same text, and the id is absent, null, a
 * non-blank string or an integer other than -0. Anything else, including what jansson would
 * accept but this scanner does not know (a 19-digit integer, "-0", a nested object), is 1.
 *
 * eng_record_parse_flat leaves the pair's metadata out (the fields not used are checked, not
 * copied: meta is NULL); eng_record_parse_flat_meta (for the indexer) also writes it, as the full
 * parser's json_dumps(JSON_COMPACT) of the unused fields would: in their order, each key and value
 * as its bytes in the line, which is exact only for what jansson dumps as it reads it (a string
 * without escapes, an integer of the grammar above, true, false, null), so a line with an unused
 * real or escaped string is 1 there. Deliberately not here: other shapes, field maps.
 * tests/test_records.c compares both with eng_record_parse. */
#include "records_internal.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

enum { MAX_KEYS = 32 };
enum { V_STR, V_INT, V_REAL, V_TRUE, V_FALSE, V_NULL };

/* The raw bytes of a string between its quotes; esc: it holds a backslash. */
typedef struct span {
	const char *p;
	size_t n;
	int esc;
} span;

typedef struct kv {
	span k;
	int type; /* V_* */
	span v;   /* a string's raw bytes, a number's text */
} kv;

static size_t skip_ws(const char *s, size_t i, size_t n)
{
	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
		i++;
	return i;
}

/* Bytes of the valid UTF-8 sequence starting at u[i] (u[i] >= 0x80), 0 when it is not one. */
static size_t utf8_seq(const unsigned char *u, size_t i, size_t n)
{
	unsigned c = u[i], cp, min;
	size_t k;
	if (c >= 0xC2 && c <= 0xDF)
		k = 2, cp = c & 0x1F, min = 0x80;
	else if (c >= 0xE0 && c <= 0xEF)
		k = 3, cp = c & 0x0F, min = 0x800;
	else if (c >= 0xF0 && c <= 0xF4)
		k = 4, cp = c & 0x07, min = 0x10000;
	else
		return 0;
	if (n - i < k)
		return 0;
	for (size_t j = 1; j < k; j++) {
		if ((u[i + j] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (u[i + j] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return k;
}

static long hex4_at(const char *s, size_t i, size_t n)
{
	if (i > n || n - i < 4)
		return -1;
	long v = 0;
	for (size_t j = 0; j < 4; j++) {
		char c = s[i + j];
		int d = c >= '0' && c <= '9'   ? c - '0'
		        : c >= 'a' && c <= 'f' ? c - 'a' + 10
		        : c >= 'A' && c <= 'F' ? c - 'A' + 10
		                               : -1;
		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	return v;
}

static long hex4(const span *sp, size_t i)
{
	return hex4_at(sp->p, i, sp->n);
}

/* Bytes of the escape at s[i] (a backslash) as jansson takes it, 0 when jansson refuses it (or
 * this does not know it): \u0000, a lone or unpaired surrogate, a bad hex digit, another letter. */
static size_t escape_len(const char *s, size_t i, size_t n)
{
	if (n - i < 2)
		return 0;
	switch (s[i + 1]) {
	case '"':
	case '\\':
	case '/':
	case 'b':
	case 'f':
	case 'n':
	case 'r':
	case 't':
		return 2;
	case 'u': {
		long cp = hex4_at(s, i + 2, n);
		if (cp <= 0 || (cp >= 0xDC00 && cp <= 0xDFFF))
			return 0;
		if (cp < 0xD800 || cp > 0xDBFF)
			return 6;
		if (n - i < 12 || s[i + 6] != '\\' || s[i + 7] != 'u')
			return 0;
		long lo = hex4_at(s, i + 8, n);
		return lo >= 0xDC00 && lo <= 0xDFFF ? 12 : 0;
	}
	default:
		return 0;
	}
}

/* The string whose opening quote is s[i - 1]: its span, *next after the closing quote. 0, or 1
 * (not valid here: control byte, bad UTF-8, an escape jansson refuses, no closing quote). Every
 * string is checked so, used or not: jansson refuses the whole line for any of them. */
static int scan_string(const char *s, size_t i, size_t n, span *sp, size_t *next)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t st = i;
	int esc = 0;
	while (i < n) {
		unsigned c = u[i];
		if (c == '"') {
			*sp = (span){s + st, i - st, esc};
			*next = i + 1;
			return 0;
		}
		if (c == '\\') {
			size_t k = escape_len(s, i, n);
			if (!k)
				return 1;
			esc = 1;
			i += k;
		} else if (c < 0x20) {
			return 1;
		} else if (c < 0x80) {
			i++;
		} else {
			size_t k = utf8_seq(u, i, n);
			if (!k)
				return 1;
			i += k;
		}
	}
	return 1;
}

/* The string's text into dst (room for sp->n + 1 bytes: unescaping never lengthens it),
 * NUL-terminated. Its length, or -1 for an escape jansson refuses (or this does not know). */
static long decode(const span *sp, char *dst)
{
	if (!sp->esc) {
		memcpy(dst, sp->p, sp->n);
		dst[sp->n] = '\0';
		return (long)sp->n;
	}
	size_t o = 0;
	for (size_t i = 0; i < sp->n;) {
		char c = sp->p[i];
		if (c != '\\') {
			dst[o++] = c;
			i++;
			continue;
		}
		char e = sp->p[i + 1]; /* scan_string: a backslash is never last */
		i += 2;
		switch (e) {
		case '"':
		case '\\':
		case '/':
			dst[o++] = e;
			break;
		case 'b':
			dst[o++] = '\b';
			break;
		case 'f':
			dst[o++] = '\f';
			break;
		case 'n':
			dst[o++] = '\n';
			break;
		case 'r':
			dst[o++] = '\r';
			break;
		case 't':
			dst[o++] = '\t';
			break;
		case 'u': {
			long cp = hex4(sp, i);
			if (cp < 0)
				return -1;
			i += 4;
			if (cp >= 0xD800 && cp <= 0xDBFF) {
				if (sp->n - i < 6 || sp->p[i] != '\\' || sp->p[i + 1] != 'u')
					return -1;
				long lo = hex4(sp, i + 2);
				if (lo < 0xDC00 || lo > 0xDFFF)
					return -1;
				i += 6;
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
			} else if ((cp >= 0xDC00 && cp <= 0xDFFF) || cp == 0) {
				return -1;
			}
			if (cp < 0x80) {
				dst[o++] = (char)cp;
			} else if (cp < 0x800) {
				dst[o++] = (char)(0xC0 | (cp >> 6));
				dst[o++] = (char)(0x80 | (cp & 0x3F));
			} else if (cp < 0x10000) {
				dst[o++] = (char)(0xE0 | (cp >> 12));
				dst[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
				dst[o++] = (char)(0x80 | (cp & 0x3F));
			} else {
				dst[o++] = (char)(0xF0 | (cp >> 18));
				dst[o++] = (char)(0x80 | ((cp >> 12) & 0x3F));
				dst[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
				dst[o++] = (char)(0x80 | (cp & 0x3F));
			}
			break;
		}
		default:
			return -1;
		}
	}
	dst[o] = '\0';
	return (long)o;
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* A number by the JSON grammar at s[i]: *next after it, *type V_INT or V_REAL. 1 when this does
 * not take it: bad grammar, an integer over 18 digits or -0, a real strtod reads with a range
 * error. */
static int scan_number(const char *s, size_t i, size_t n, size_t *next, int *type)
{
	size_t st = i;
	int real = 0;
	if (s[i] == '-')
		i++;
	if (i >= n)
		return 1;
	if (s[i] == '0')
		i++;
	else if (s[i] >= '1' && s[i] <= '9')
		while (i < n && is_digit(s[i]))
			i++;
	else
		return 1;
	if (i < n && s[i] == '.') {
		i++;
		if (i >= n || !is_digit(s[i]))
			return 1;
		while (i < n && is_digit(s[i]))
			i++;
		real = 1;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= n || !is_digit(s[i]))
			return 1;
		while (i < n && is_digit(s[i]))
			i++;
		real = 1;
	}
	size_t len = i - st;
	if (!real) {
		if (len - (s[st] == '-') > 18 || (len == 2 && s[st] == '-'))
			return 1; /* may not fit jansson's integer; -0 prints as 0 */
	} else {
		char buf[64], *end;
		if (len >= sizeof buf)
			return 1;
		memcpy(buf, s + st, len);
		buf[len] = '\0';
		errno = 0;
		double v = strtod(buf, &end);
		if (errno || end != buf + len || !isfinite(v))
			return 1;
	}
	*next = i;
	*type = real ? V_REAL : V_INT;
	return 0;
}

/* The line as one flat object into kv[0..*nkv). 0, or 1 when it is not one (see the top). */
static int scan_object(const char *s, size_t n, kv *kvs, size_t *nkv)
{
	size_t i = skip_ws(s, 0, n), k = 0;
	if (i >= n || s[i] != '{')
		return 1;
	i = skip_ws(s, i + 1, n);
	for (;;) {
		if (i >= n || s[i] != '"' || k == MAX_KEYS)
			return 1; /* also {} (no pair in it) */
		kv *e = &kvs[k];
		if (scan_string(s, i + 1, n, &e->k, &i) || e->k.esc)
			return 1;
		for (size_t j = 0; j < k; j++)
			if (kvs[j].k.n == e->k.n && !memcmp(kvs[j].k.p, e->k.p, e->k.n))
				return 1; /* a duplicate key: jansson's error */
		i = skip_ws(s, i, n);
		if (i >= n || s[i] != ':')
			return 1;
		i = skip_ws(s, i + 1, n);
		if (i >= n)
			return 1;
		char c = s[i];
		if (c == '"') {
			e->type = V_STR;
			if (scan_string(s, i + 1, n, &e->v, &i))
				return 1;
		} else if (c == '-' || is_digit(c)) {
			size_t st = i;
			if (scan_number(s, i, n, &i, &e->type))
				return 1;
			e->v = (span){s + st, i - st, 0};
		} else {
			static const char *const lit[3] = {"true", "false", "null"};
			int t = c == 't' ? 0 : c == 'f' ? 1 : c == 'n' ? 2 : -1;
			size_t ln = t < 0 ? 0 : strlen(lit[t]);
			if (t < 0 || n - i < ln || memcmp(s + i, lit[t], ln))
				return 1;
			e->type = t == 0 ? V_TRUE : t == 1 ? V_FALSE : V_NULL;
			i += ln;
		}
		k++;
		i = skip_ws(s, i, n);
		if (i < n && s[i] == ',') {
			i = skip_ws(s, i + 1, n);
			continue;
		}
		if (i >= n || s[i] != '}')
			return 1; /* also a number or literal run into other bytes ("truex") */
		break;
	}
	if (skip_ws(s, i + 1, n) != n)
		return 1;
	*nkv = k;
	return 0;
}

static const kv *find(const kv *kvs, size_t n, const char *key)
{
	size_t len = strlen(key);
	for (size_t i = 0; i < n; i++)
		if (kvs[i].k.n == len && !memcmp(kvs[i].k.p, key, len))
			return &kvs[i];
	return NULL;
}

/* Fields that make the record another shape, a video or (unless null or "") an image. */
static int other_shape(const kv *kvs, size_t n)
{
	static const char *const other[] = {
	    "completions", "conversations", "messages",     "video",        "videos",
	    "answer_1",    "answer_2",      "answer1",      "answer2",      "answer_a",
	    "answer_b",    "response_1",    "response_2",   "response_a",   "response_b",
	    "output_1",    "output_2",      "completion_1", "completion_2", NULL};
	static const char *const image[] = {"image", "img_path", "image_path", "images", NULL};
	for (const char *const *o = other; *o; o++)
		if (find(kvs, n, *o))
			return 1;
	for (const char *const *o = image; *o; o++) {
		const kv *e = find(kvs, n, *o);
		if (e && e->type != V_NULL &&
		    !(e->type == V_STR && e->v.n == 0 && strcmp(*o, "images") != 0))
			return 1;
	}
	return 0;
}

/* 1 when e is one of list[0..n) */
static int in_list(const kv *const *list, int n, const kv *e)
{
	for (int j = 0; j < n; j++)
		if (list[j] == e)
			return 1;
	return 0;
}

/* The pair's metadata as eng_rec_emit_pair makes it (json_dumps(JSON_COMPACT) of the fields the
 * pairwise shape does not use, in the line's order) into *meta (malloc'd; NULL when there is
 * none). 0, 1 when a field's dumped form may differ from its bytes (a real, an escaped string),
 * ENG_ENOMEM. */
static int flat_meta(const kv *kvs, size_t nkv, const kv *pv, char **meta)
{
	static const char *const image[] = {"image", "img_path", "image_path", NULL};
	const kv *iv = NULL; /* the image field the record's image is read from (locate_fields) */
	for (const char *const *o = image; *o && !iv; o++)
		iv = find(kvs, nkv, *o);
	const kv *skip[5] = {pv, iv, find(kvs, nkv, "id"), find(kvs, nkv, "chosen"),
	                     find(kvs, nkv, "rejected")};
	size_t need = 3, used = 0;
	for (size_t i = 0; i < nkv; i++) {
		const kv *e = &kvs[i];
		if (in_list(skip, 5, e))
			continue;
		if (e->type == V_REAL || (e->type == V_STR && e->v.esc))
			return 1;
		need += e->k.n + (e->type == V_STR || e->type == V_INT ? e->v.n : 5) + 6;
		used++;
	}
	*meta = NULL;
	if (!used)
		return 0;
	char *m = malloc(need), *o = m;
	if (!m)
		return ENG_ENOMEM;
	*o++ = '{';
	for (size_t i = 0, n = 0; i < nkv; i++) {
		const kv *e = &kvs[i];
		if (in_list(skip, 5, e))
			continue;
		static const char *const lit[3] = {"true", "false", "null"};
		if (n++)
			*o++ = ',';
		*o++ = '"';
		memcpy(o, e->k.p, e->k.n);
		o += e->k.n;
		*o++ = '"';
		*o++ = ':';
		if (e->type == V_STR)
			*o++ = '"';
		if (e->type == V_STR || e->type == V_INT) {
			memcpy(o, e->v.p, e->v.n);
			o += e->v.n;
		} else {
			const char *l = lit[e->type == V_TRUE ? 0 : e->type == V_FALSE ? 1 : 2];
			memcpy(o, l, strlen(l));
			o += strlen(l);
		}
		if (e->type == V_STR)
			*o++ = '"';
	}
	*o++ = '}';
	*o = '\0';
	*meta = m;
	return 0;
}

/* Both entry points: with want_meta, the pair's metadata too (flat_meta). */
static int parse_flat(eng_record *rec, const char *line, size_t len, const char *stem,
                      uint64_t lineno, int want_meta)
{
	kv kvs[MAX_KEYS];
	size_t nkv;
	if (scan_object(line, len, kvs, &nkv) || other_shape(kvs, nkv))
		return 1;
	const kv *pv = find(kvs, nkv, "prompt");
	if (!pv)
		pv = find(kvs, nkv, "question");
	const kv *cv = find(kvs, nkv, "chosen"), *rv = find(kvs, nkv, "rejected");
	const kv *idv = find(kvs, nkv, "id");
	if (!pv || !cv || !rv || pv->type != V_STR || cv->type != V_STR || rv->type != V_STR ||
	    (idv && idv->type != V_STR && idv->type != V_INT && idv->type != V_NULL))
		return 1;
	char *meta = NULL;
	if (want_meta) {
		int mrc = flat_meta(kvs, nkv, pv, &meta);
		if (mrc)
			return mrc;
	}
	size_t idn = idv && idv->type != V_NULL ? idv->v.n + 1 : 320;
	char *buf = malloc(pv->v.n + cv->v.n + rv->v.n + 3);
	char *id = malloc(idn);
	eng_rec_pair *pair = malloc(sizeof *pair);
	if (!buf || !id || !pair) {
		free(buf), free(id), free(pair), free(meta);
		return ENG_ENOMEM;
	}
	char *p = buf, *c = p + pv->v.n + 1, *r = c + cv->v.n + 1;
	int ok = decode(&pv->v, p) >= 0 && decode(&cv->v, c) >= 0 && decode(&rv->v, r) >= 0 &&
	         !eng_rec_is_blank(p) && !eng_rec_is_blank(c) && !eng_rec_is_blank(r) &&
	         !eng_rec_same_text(c, r);
	if (ok && (!idv || idv->type == V_NULL)) {
		snprintf(id, idn, "%.280s:%llu", stem ? stem : "line", (unsigned long long)lineno);
	} else if (ok && idv->type == V_INT) {
		memcpy(id, idv->v.p, idv->v.n); /* the grammar's digits are jansson's %lld */
		id[idv->v.n] = '\0';
	} else if (ok) {
		ok = decode(&idv->v, id) >= 0 && !eng_rec_is_blank(id);
	}
	if (!ok) {
		free(buf), free(id), free(pair), free(meta);
		return 1;
	}
	*pair = (eng_rec_pair){id, c, r, meta};
	rec->root = NULL;
	rec->shape = ENG_SHAPE_PAIRWISE;
	rec->prompt_buf = buf;
	rec->prompt = p;
	rec->image = NULL;
	rec->pairs = pair;
	rec->npairs = rec->cap = 1;
	return 0;
}

int eng_record_parse_flat(eng_record *rec, const char *line, size_t len, const char *stem,
                          uint64_t lineno)
{
	return parse_flat(rec, line, len, stem, lineno, 0);
}

int eng_record_parse_flat_meta(eng_record *rec, const char *line, size_t len, const char *stem,
                               uint64_t lineno)
{
	return parse_flat(rec, line, len, stem, lineno, 1);
}
