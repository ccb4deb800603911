/* rpt_buf.h - a growable byte buffer for the HTML writer, with HTML escaping and base64.
 * An allocation failure sets oom and turns later appends into no-ops; check it once at the end. */
#ifndef RPT_BUF_H
#define RPT_BUF_H

#include <stddef.h>

typedef struct rpt_buf {
	char *p;
	size_t len, cap;
	int oom;
} rpt_buf;

void rpt_buf_put(rpt_buf *b, const char *s, size_t n);
void rpt_buf_puts(rpt_buf *b, const char *s);
void rpt_buf_printf(rpt_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends at most n bytes of s (stopping at NUL; n = (size_t)-1: all) HTML-escaped for text and
 * attribute values: & < > " ' become entities; C0 controls other than TAB and LF and invalid UTF-8
 * bytes are dropped.
 */
void rpt_buf_esc(rpt_buf *b, const char *s, size_t n);

/* Appends the standard base64 (RFC 4648, padded) of data. */
void rpt_buf_base64(rpt_buf *b, const unsigned char *data, size_t n);

/* Frees the storage and zeroes b; accepts NULL. */
void rpt_buf_free(rpt_buf *b);

/* Byte length of the first max_cp UTF-8 code points of s[0..n) (whole sequences only). */
size_t rpt_utf8_prefix(const char *s, size_t n, size_t max_cp);

#endif
