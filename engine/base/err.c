/* err.c - filling eng_err records. Never prints. */
#include "err.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int eng_err_set(eng_err *e, int code, const char *fmt, ...)
{
	if (e) {
		va_list ap;
		va_start(ap, fmt);
		e->code = code;
		vsnprintf(e->msg, sizeof e->msg, fmt, ap);
		va_end(ap);
	}
	return code;
}

void eng_err_prefix(eng_err *e, const char *fmt, ...)
{
	if (!e)
		return;
	char head[512], old[sizeof e->msg];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(head, sizeof head, fmt, ap);
	va_end(ap);
	memcpy(old, e->msg, sizeof old);
	size_t h = strlen(head), o = strnlen(old, sizeof old - 1);
	if (h > sizeof e->msg - 1)
		h = sizeof e->msg - 1;
	if (o > sizeof e->msg - 1 - h)
		o = sizeof e->msg - 1 - h;
	memcpy(e->msg, head, h);
	memcpy(e->msg + h, old, o);
	e->msg[h + o] = '\0';
}

void eng_err_clear(eng_err *e)
{
	if (e) {
		e->code = 0;
		e->msg[0] = '\0';
	}
}

const char *eng_err_file_kind(mode_t m)
{
	return S_ISDIR(m)    ? "a directory"
	       : S_ISFIFO(m) ? "a FIFO"
	       : S_ISCHR(m)  ? "a character device"
	       : S_ISBLK(m)  ? "a block device"
	       : S_ISSOCK(m) ? "a socket"
	                     : "not a regular file";
}
