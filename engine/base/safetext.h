/* safetext.h - bytes in, valid printable UTF-8 out: for names and messages made from file names
 * and other outside bytes (dataset names, stderr, the report's text).
 *
 * A byte that is not part of a valid UTF-8 sequence, a C0 control other than tab, DEL and a C1
 * control (U+0080..U+009F) are written as the four characters \xNN; a bidi embedding, override or
 * isolate control (U+202A..U+202E, U+2066..U+2069), which could reorder the text around it on a
 * terminal or in a browser, as \uNNNN. Everything else is copied. A clean string is its own
 * escape, so escaping twice changes nothing. */
#ifndef ENG_SAFETEXT_H
#define ENG_SAFETEXT_H

#include <stddef.h>

/* Length of the valid UTF-8 sequence at p[0..n) (1..4), 0 when invalid. */
size_t eng_text_seq_len(const unsigned char *p, size_t n);

/* Characters in s[0..n): the bytes that are not UTF-8 continuation bytes (10xxxxxx), so invalid
 * bytes count one each. The one UTF-8 count of answers' lengths and the report's texts. */
size_t eng_text_chars(const char *s, size_t n);

/* 1 when the valid sequence of k bytes at p is a bidi control (see above). */
int eng_text_is_bidi(const unsigned char *p, size_t k);

/* Writes the escape of s[0..n) (stopping at NUL) to out (cap bytes, always NUL-terminated; cut
 * at a character boundary). Returns the length the full escape needs. */
size_t eng_text_escape(const char *s, size_t n, char *out, size_t cap);

/* 1 when s needs no escaping. */
int eng_text_is_clean(const char *s);

#endif
