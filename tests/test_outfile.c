/* test_outfile.c - the one output writer (engine/base/outfile.h) and the text escaper
 * (engine/base/safetext.h): sets replaced together or not at all, symlinks replaced and never
 * followed, temporary files of dead processes removed, wrong-kind targets refused; escaping of
 * invalid UTF-8, controls and bidi controls, idempotent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "outfile.h"
#include "outfile_internal.h"
#include "safetext.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/mmaudit-out-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void put(const char *name, const char *text)
{
	char p[256];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static char *get(const char *name)
{
	static char buf[256];
	char p[256];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	FILE *f = fopen(p, "r");
	if (!f)
		return NULL;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static int temps(void) /* temporary files left in dir */
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	while ((e = readdir(d)))
		n += !strncmp(e->d_name, ENG_OUT_TMP_PREFIX, strlen(ENG_OUT_TMP_PREFIX));
	closedir(d);
	return n;
}

static void path(char *out, const char *name)
{
	snprintf(out, 256, "%s/%s", dir, name);
}

/* Two outputs committed together; a symlink at one is replaced, its target untouched. */
static void test_outfile_set_and_symlink(void **state)
{
	(void)state;
	char a[256], b[256], v[256];
	path(a, "a.txt");
	path(b, "b.txt");
	path(v, "victim");
	put("victim", "keep");
	assert_int_equal(symlink(v, b), 0);
	eng_outset s = {0};
	eng_err err = {0};
	FILE *fa, *fb;
	assert_int_equal(eng_out_open(&s, a, &fa, &err), 0);
	assert_int_equal(eng_out_open(&s, b, &fb, &err), 0);
	fputs("A", fa);
	fputs("B", fb);
	assert_null(get("a.txt")); /* nothing renamed before the commit */
	assert_int_equal(temps(), 2);
	assert_int_equal(eng_out_commit(&s, &err), 0);
	assert_string_equal(get("a.txt"), "A");
	assert_string_equal(get("b.txt"), "B");
	assert_string_equal(get("victim"), "keep");
	struct stat sb;
	assert_int_equal(lstat(b, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	assert_int_equal(temps(), 0);
	assert_int_equal(s.n, 0);
}

/* Abort, and a set whose second target is a directory: nothing is replaced, no temp left. */
static void test_outfile_all_or_nothing(void **state)
{
	(void)state;
	char a[256], d[256];
	path(a, "a.txt");
	path(d, "sub");
	put("a.txt", "old");
	assert_int_equal(mkdir(d, 0755), 0);
	eng_outset s = {0};
	eng_err err = {0};
	FILE *f;
	assert_int_equal(eng_out_open(&s, a, &f, &err), 0);
	fputs("new", f);
	assert_int_equal(eng_out_open(&s, d, &f, &err), ENG_EINPUT);
	assert_non_null(strstr(err.msg, "is a directory"));
	eng_out_abort(&s);
	assert_string_equal(get("a.txt"), "old");
	assert_int_equal(temps(), 0);
	char missing[256];
	path(missing, "nofolder/x.csv");
	assert_int_equal(eng_out_check(missing, &err), ENG_EINPUT);
	assert_non_null(strstr(err.msg, "nofolder"));
	assert_int_equal(eng_out_check("/dev/null", &err), ENG_EINPUT);
	assert_non_null(strstr(err.msg, "character device"));
}

static int write_hello(FILE *f, void *ctx, eng_err *err)
{
	(void)ctx;
	(void)err;
	return fputs("hello", f) < 0 ? ENG_EIO : 0;
}

/* Temporary files of a dead process are removed; a live process's are kept. */
static void test_outfile_stale_temps(void **state)
{
	(void)state;
	char dead[64], live[64], t[256];
	snprintf(dead, sizeof dead, "%s999999999-x.txt.AAAAAA", ENG_OUT_TMP_PREFIX);
	snprintf(live, sizeof live, "%s%ld-x.txt.BBBBBB", ENG_OUT_TMP_PREFIX, (long)getppid());
	put(dead, "stale");
	put(live, "busy");
	path(t, "x.txt");
	eng_err err = {0};
	assert_int_equal(eng_out_write(t, write_hello, NULL, &err), 0);
	assert_string_equal(get("x.txt"), "hello");
	assert_null(get(dead));
	assert_non_null(get(live));
}

static void test_safetext_escape(void **state)
{
	(void)state;
	char out[128];
	static const struct {
		const char *in, *want;
	} cases[] = {
	    {"plain name", "plain name"},
	    {"caf\xe9", "caf\\xe9"},         /* Latin-1 */
	    {"red\x1b[31m", "red\\x1b[31m"}, /* ESC */
	    {"a\nb\tc", "a\\x0ab\tc"},       /* newline escaped, tab kept */
	    {"x\xc2\x9by", "x\\u009by"},     /* C1 CSI */
	    {"ab\xe2\x80\xae"
	     "cd",
	     "ab\\u202ecd"},                                          /* RLO */
	    {"\xe2\x81\xa6iso", "\\u2066iso"},                        /* LRI */
	    {"caf\xc3\xa9 \xe4\xb8\xad", "caf\xc3\xa9 \xe4\xb8\xad"}, /* valid UTF-8 kept */
	    {"\xed\xa0\x80", "\\xed\\xa0\\x80"},                      /* a surrogate */
	    {"\x7f", "\\x7f"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t need = eng_text_escape(cases[i].in, (size_t)-1, out, sizeof out);
		assert_string_equal(out, cases[i].want);
		assert_int_equal(need, strlen(cases[i].want));
		assert_true(eng_text_is_clean(out));
		assert_int_equal(eng_text_is_clean(cases[i].in),
		                 !strcmp(cases[i].in, cases[i].want));
		char twice[128];
		eng_text_escape(out, (size_t)-1, twice, sizeof twice);
		assert_string_equal(twice, out); /* idempotent */
	}
	/* cut at a character boundary, never inside an escape */
	char small[6];
	assert_int_equal(eng_text_escape("ab\x1b"
	                                 "cd",
	                                 (size_t)-1, small, sizeof small),
	                 8);
	assert_string_equal(small, "ab");
}

static int renames_left; /* the rename that fails: after this many succeed */
static int failing_rename(const char *from, const char *to)
{
	if (renames_left-- == 0) {
		errno = EIO;
		return -1;
	}
	return rename(from, to);
}

/* A rename that fails in the middle of a set: the outputs already replaced get their old files
 * back (a file, a symlink) or go away (none before), whichever rename fails; no temp is left. */
static void test_outfile_rename_fails_midway(void **state)
{
	(void)state;
	for (int fail_at = 1; fail_at <= 3; fail_at++) {
		char a[256], b[256], c[256], v[256];
		path(a, "a.txt");
		path(b, "b.txt");
		path(c, "c.txt");
		path(v, "victim");
		unlink(a), unlink(b), unlink(c), unlink(v);
		put("a.txt", "oldA");
		put("victim", "keep");
		assert_int_equal(symlink(v, c), 0);
		eng_outset s = {0};
		eng_err err = {0};
		FILE *f[3];
		assert_int_equal(eng_out_open(&s, a, &f[0], &err), 0);
		assert_int_equal(eng_out_open(&s, b, &f[1], &err), 0);
		assert_int_equal(eng_out_open(&s, c, &f[2], &err), 0);
		for (int i = 0; i < 3; i++)
			fputs("new", f[i]);
		renames_left = fail_at;
		eng_out_rename_hook = failing_rename;
		int rc = eng_out_commit(&s, &err);
		eng_out_rename_hook = rename;
		if (fail_at == 3) { /* every rename succeeded */
			assert_int_equal(rc, 0);
			assert_string_equal(get("a.txt"), "new");
			assert_string_equal(get("c.txt"), "new");
		} else {
			assert_int_equal(rc, ENG_EIO);
			assert_non_null(strstr(err.msg, "rename"));
			assert_string_equal(get("a.txt"), "oldA");
			assert_null(get("b.txt"));
			struct stat sb;
			assert_int_equal(lstat(c, &sb), 0);
			assert_true(S_ISLNK(sb.st_mode)); /* the symlink itself is back */
		}
		assert_string_equal(get("victim"), "keep");
		assert_int_equal(temps(), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_outfile_set_and_symlink, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_outfile_all_or_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_outfile_stale_temps, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_outfile_rename_fails_midway, setup, teardown),
	    cmocka_unit_test(test_safetext_escape),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
