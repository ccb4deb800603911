/* safetext.c - escaping of outside bytes into valid printable UTF-8 (safetext.h). */
#include "safetext.h"

#include <stdio.h>
#include <string.h>

size_t eng_text_seq_len(const unsigned char *p, size_t n)
{
	unsigned c = p[0];
	if (c < 0x80)
		return 1;
	size_t k = c >= 0xC2 && c <= 0xDF   ? 2
	           : c >= 0xE0 && c <= 0xEF ? 3
	           : c >= 0xF0 && c <= 0xF4 ? 4
	                                    : 0;
	if (!k || k > n)
		return 0;
	for (size_t i = 1; i < k; i++)
		if ((p[i] & 0xC0) != 0x80)
			return 0;
	if (c == 0xE0 && p[1] < 0xA0) /* overlong */
		return 0;
	if (c == 0xED && p[1] >= 0xA0) /* surrogates */
		return 0;
	if (c == 0xF0 && p[1] < 0x90) /* overlong */
		return 0;
	if (c == 0xF4 && p[1] >= 0x90) /* past U+10FFFF */
		return 0;
	return k;
}

size_t eng_text_chars(const char *s, size_t n)
{
	size_t cp = 0;
	for (size_t i = 0; i < n; i++)
		cp += ((unsigned char)s[i] & 0xC0) != 0x80;
	return cp;
}

int eng_text_is_bidi(const unsigned char *p, size_t k)
{
	return k == 3 && p[0] == 0xE2 &&
	       ((p[1] == 0x80 && p[2] >= 0xAA && p[2] <= 0xAE) ||
	        (p[1] == 0x81 && p[2] >= 0xA6 && p[2] <= 0xA9));
}

/* The escape of the character at p (k bytes, 0 = one invalid byte) into e, or 0 when it is kept. */
static size_t escape_one(const unsigned char *p, size_t k, char e[16])
{
	if (!k || (k == 1 && ((p[0] < 0x20 && p[0] != '\t') || p[0] == 0x7f)))
		return (size_t)snprintf(e, 16, "\\x%02x", p[0]);
	if (k == 2 && p[0] == 0xC2 && p[1] < 0xA0) /* C1 controls U+0080..U+009F */
		return (size_t)snprintf(e, 16, "\\u%04x", p[1]);
	if (eng_text_is_bidi(p, k)) {
		unsigned cp = ((p[0] & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu);
		return (size_t)snprintf(e, 16, "\\u%04x", cp);
	}
	return 0;
}

size_t eng_text_escape(const char *s, size_t n, char *out, size_t cap)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t need = 0, o = 0, i = 0;
	int full = cap == 0;
	n = strnlen(s, n);
	while (i < n) {
		size_t k = eng_text_seq_len(u + i, n - i);
		char e[16];
		size_t el = escape_one(u + i, k, e);
		const char *src = el ? e : s + i;
		size_t sl = el ? el : k;
		need += sl;
		if (!full && o + sl < cap) {
			memcpy(out + o, src, sl);
			o += sl;
		} else {
			full = 1;
		}
		i += k ? k : 1;
	}
	if (cap)
		out[o] = '\0';
	return need;
}

int eng_text_is_clean(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n = strlen(s), i = 0;
	while (i < n) {
		size_t k = eng_text_seq_len(u + i, n - i);
		char e[16];
		if (!k || escape_one(u + i, k, e))
			return 0;
		i += k;
	}
	return 1;
}
