/* rpt_buf.c - growable buffer, HTML escaping, base64, UTF-8 prefix arithmetic. */
#include "reports/rpt_buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safetext.h"

static int grow(rpt_buf *b, size_t extra)
{
	if (b->oom)
		return -1;
	if (b->len + extra + 1 <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + extra + 1) {
		if (cap > SIZE_MAX / 2) {
			b->oom = 1;
			return -1;
		}
		cap *= 2;
	}
	char *p = realloc(b->p, cap);
	if (!p) {
		b->oom = 1;
		return -1;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

void rpt_buf_put(rpt_buf *b, const char *s, size_t n)
{
	if (grow(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void rpt_buf_puts(rpt_buf *b, const char *s)
{
	rpt_buf_put(b, s, strlen(s));
}

void rpt_buf_printf(rpt_buf *b, const char *fmt, ...)
{
	char small[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof small) {
		rpt_buf_put(b, small, (size_t)n);
		return;
	}
	if (grow(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

static const char *const bidi80[5] = {"[U+202A]", "[U+202B]", "[U+202C]", "[U+202D]", "[U+202E]"};
static const char *const bidi81[4] = {"[U+2066]", "[U+2067]", "[U+2068]", "[U+2069]"};

void rpt_buf_esc(rpt_buf *b, const char *s, size_t n)
{
	if (!s)
		return;
	n = strnlen(s, n); /* never past the terminator */
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, run = 0; /* bytes [i - run, i) are pending verbatim */
	while (i < n) {
		unsigned c = u[i];
		const char *ent = c == '&'    ? "&amp;"
		                  : c == '<'  ? "&lt;"
		                  : c == '>'  ? "&gt;"
		                  : c == '"'  ? "&quot;"
		                  : c == '\'' ? "&#39;"
		                              : NULL;
		size_t k = ent ? 1 : eng_text_seq_len(u + i, n - i);
		/* a bidi embedding/override/isolate could reorder the report around it: shown as
		 * its code point instead (engine/base/safetext.h) */
		if (!ent && eng_text_is_bidi(u + i, k))
			ent = u[i + 1] == 0x80 ? bidi80[u[i + 2] - 0xAA] : bidi81[u[i + 2] - 0xA6];
		int drop = !ent && (!k || (c < 0x20 && c != '\t' && c != '\n') || c == 0x7f);
		if (ent || drop) {
			rpt_buf_put(b, s + i - run, run);
			run = 0;
			if (ent)
				rpt_buf_puts(b, ent);
			i += k ? k : 1;
			continue;
		}
		i += k;
		run += k;
	}
	rpt_buf_put(b, s + n - run, run);
}

void rpt_buf_base64(rpt_buf *b, const unsigned char *d, size_t n)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	if (grow(b, (n + 2) / 3 * 4))
		return;
	char *o = b->p + b->len;
	size_t i = 0;
	for (; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8 | d[i + 2];
		*o++ = tab[v >> 18];
		*o++ = tab[(v >> 12) & 63];
		*o++ = tab[(v >> 6) & 63];
		*o++ = tab[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0);
		*o++ = tab[v >> 18];
		*o++ = tab[(v >> 12) & 63];
		*o++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	b->len = (size_t)(o - b->p);
	b->p[b->len] = '\0';
}

void rpt_buf_free(rpt_buf *b)
{
	if (!b)
		return;
	free(b->p);
	memset(b, 0, sizeof *b);
}

size_t rpt_utf8_prefix(const char *s, size_t n, size_t max_cp)
{
	size_t i = 0, cp = 0;
	while (i < n && cp < max_cp) {
		size_t k = eng_text_seq_len((const unsigned char *)s + i, n - i);
		if (!k) {
			if (n - i < 4 && ((unsigned char)s[i] & 0xc0) == 0xc0)
				break; /* a sequence cut by the byte cap */
			k = 1;
		}
		i += k;
		cp++;
	}
	return i;
}
