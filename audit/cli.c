/* cli.c - exit codes, error printing, number parsing and the stderr progress display. */
#include "audit/cli.h"

#include "safetext.h"
#include "store_info.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char *aud_command_line = "";

int aud_exit_for(int code)
{
	if (code == 0)
		return AUD_EXIT_OK;
	return code == ENG_EINPUT ? AUD_EXIT_USAGE : AUD_EXIT_SYSTEM;
}

void aud_eputs(const char *s)
{
	char buf[4 * sizeof((eng_err *)0)->msg + 16];
	eng_text_escape(s, (size_t)-1, buf, sizeof buf);
	fputs(buf, stderr);
}

void aud_eprintf(const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	size_t n = strlen(msg);
	int nl = n && msg[n - 1] == '\n';
	if (nl)
		msg[n - 1] = '\0';
	aud_eputs(msg);
	if (nl)
		fputc('\n', stderr);
}

int aud_fail(const char *cmd, const eng_err *err)
{
	fprintf(stderr, "mmaudit %s: ", cmd);
	aud_eputs(err->msg[0] ? err->msg : "failed");
	fputc('\n', stderr);
	return aud_exit_for(err->code ? err->code : ENG_EINTERNAL);
}

int aud_usage_error(const char *cmd, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fprintf(stderr, "mmaudit %s: ", cmd);
	aud_eputs(msg);
	fprintf(stderr, "\nTry 'mmaudit %s --help'.\n", cmd);
	return AUD_EXIT_USAGE;
}

int aud_parse_int(const char *cmd, const char *opt, const char *s, long long lo, long long hi,
                  long long *out)
{
	char *end = NULL;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi) {
		aud_usage_error(cmd, "%s wants a whole number in [%lld, %lld], got '%s'", opt, lo,
		                hi, s);
		return -1;
	}
	*out = v;
	return 0;
}

int aud_parse_double(const char *cmd, const char *opt, const char *s, double lo, double hi,
                     double *out)
{
	char *end = NULL;
	errno = 0;
	double v = strtod(s, &end);
	int decimal = s[strspn(s, "0123456789.eE+-")] == '\0'; /* no hex, inf or nan */
	if (!decimal || errno || end == s || *end || !isfinite(v) || v < lo || v > hi) {
		aud_usage_error(cmd, "%s wants a number in [%g, %g], got '%s'", opt, lo, hi, s);
		return -1;
	}
	*out = v;
	return 0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void progress_cb(void *ctx, const char *stage, uint64_t done, uint64_t total)
{
	aud_progress *ap = ctx;
	if (ap->quiet)
		return;
	double t = now_s();
	int same = strncmp(ap->stage, stage, sizeof ap->stage - 1) == 0;
	int final = total && done >= total;
	double every = ap->tty ? 0.1 : 5.0;
	if (same && !final && t - ap->last < every)
		return;
	if (!same && ap->tty && ap->stage[0])
		fputc('\n', stderr);
	snprintf(ap->stage, sizeof ap->stage, "%s", stage);
	ap->last = t;
	if (ap->tty) {
		if (total) {
			int w = 30, f = (int)(w * (double)done / (double)total);
			fprintf(stderr, "\r%-18s [", stage);
			for (int i = 0; i < w; i++)
				fputc(i < f ? '#' : '.', stderr);
			fprintf(stderr, "] %llu/%llu %5.1fs", (unsigned long long)done,
			        (unsigned long long)total, t - ap->start);
		} else {
			fprintf(stderr, "\r%-18s %llu %5.1fs", stage, (unsigned long long)done,
			        t - ap->start);
		}
	} else if (total) {
		fprintf(stderr, "%s: %llu/%llu (%.0f%%) %.1fs\n", stage, (unsigned long long)done,
		        (unsigned long long)total, 100.0 * (double)done / (double)total,
		        t - ap->start);
	} else {
		fprintf(stderr, "%s: %llu %.1fs\n", stage, (unsigned long long)done, t - ap->start);
	}
	fflush(stderr);
}

void aud_progress_init(aud_progress *ap, int quiet)
{
	memset(ap, 0, sizeof *ap);
	ap->quiet = quiet;
	ap->tty = isatty(2);
	ap->start = now_s();
	ap->last = -1e9;
}

eng_progress aud_progress_hook(aud_progress *ap)
{
	eng_progress p = {progress_cb, ap};
	return p;
}

void aud_progress_done(aud_progress *ap)
{
	if (!ap->quiet && ap->tty && ap->stage[0])
		fputc('\n', stderr);
	ap->stage[0] = '\0';
}

int aud_list_append(char **list, const char *item)
{
	size_t a = *list ? strlen(*list) : 0, b = strlen(item);
	char *s = realloc(*list, a + b + 2);
	if (!s)
		return -1;
	if (a)
		s[a++] = '\n'; /* one --dataset per line: a name may hold commas */
	memcpy(s + a, item, b + 1);
	*list = s;
	return 0;
}

static int push_id(int64_t **v, size_t *n, size_t *cap, int64_t id)
{
	if (*n == *cap) {
		int64_t *nv = realloc(*v, 2 * *cap * sizeof **v);
		if (!nv)
			return -1;
		*v = nv;
		*cap *= 2;
	}
	(*v)[(*n)++] = id;
	return 0;
}

int aud_dataset_ids(eng_ws *ws, const char *spec, int64_t **ids, size_t *n, eng_err *err)
{
	*ids = NULL;
	*n = 0;
	if (!spec || !*spec) {
		int rc = eng_info_dataset_ids(ws, ids, n, err);
		if (!rc && !*n)
			rc =
			    eng_err_set(err, ENG_EINPUT,
			                "the workspace has no datasets; run `mmaudit index` first");
		return rc;
	}
	size_t cap = 8;
	int64_t *v = malloc(cap * sizeof *v);
	if (!v)
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	char *copy = strdup(spec), *save = NULL;
	if (!copy) {
		free(v);
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	}
	/* each --dataset value: a dataset's exact name (commas and all), else a comma-separated
	 * list in which "\," is a comma of a name */
	for (char *item = strtok_r(copy, "\n", &save); item; item = strtok_r(NULL, "\n", &save)) {
		int64_t id;
		int exact = eng_ws_dataset_id(ws, item, &id, NULL) == 0;
		for (char *p = item; !exact;) {
			char *tok = p, *o = p;
			for (; *p && *p != ','; p++) {
				if (*p == '\\' && p[1] == ',')
					p++;
				*o++ = *p;
			}
			int last = !*p;
			*o = '\0';
			p += !last;
			if (!*tok && last)
				break;
			int rc = eng_ws_dataset_id(ws, tok, &id, err);
			if (rc) {
				const char *orig = spec + (item - copy);
				eng_err_prefix(
				    err,
				    "--dataset '%.*s' (a list; write \\, for a comma of a "
				    "name): ",
				    (int)strcspn(orig, "\n"), orig);
				free(copy);
				free(v);
				return rc;
			}
			int dup = 0;
			for (size_t i = 0; i < *n; i++)
				dup |= v[i] == id;
			if (!dup && push_id(&v, n, &cap, id)) {
				free(copy);
				free(v);
				return eng_err_set(err, ENG_ENOMEM, "out of memory");
			}
			if (last)
				break;
		}
		if (!exact)
			continue;
		int dup = 0;
		for (size_t i = 0; i < *n; i++)
			dup |= v[i] == id;
		if (!dup && push_id(&v, n, &cap, id)) {
			free(copy);
			free(v);
			return eng_err_set(err, ENG_ENOMEM, "out of memory");
		}
	}
	free(copy);
	if (!*n) {
		free(v);
		return eng_err_set(err, ENG_EINPUT, "no dataset named in '%s'", spec);
	}
	*ids = v;
	return 0;
}

int aud_open_datasets(const char *db, const char *spec, eng_ws **ws, int64_t **ids, size_t *n,
                      eng_err *err)
{
	*ids = NULL;
	*n = 0;
	int e = eng_ws_open_existing(db, ws, err);
	if (!e && (e = aud_dataset_ids(*ws, spec, ids, n, err))) {
		eng_ws_close(*ws);
		*ws = NULL;
	}
	return e;
}
