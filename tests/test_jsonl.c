/* test_jsonl.c - line numbers, BOM/CRLF, blank lines, the line-length cap, callback streams. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jsonl.h"

static FILE *mem(const char *s, size_t n)
{
	FILE *f = tmpfile();
	assert_non_null(f);
	assert_int_equal(fwrite(s, 1, n, f), n);
	rewind(f);
	return f;
}

static void test_jsonl_lines_bom_crlf_blank(void **state)
{
	(void)state;
	const char in[] = "\xEF\xBB\xBF{\"a\":1}\r\n\n   \r\n{\"b\":2}\n\t\n{\"c\":3}";
	FILE *f = mem(in, sizeof in - 1);
	eng_jsonl *r = NULL;
	eng_err err = {0};
	assert_int_equal(eng_jsonl_open_file(f, 0, &r, &err), 0);
	const char *line;
	size_t len;
	uint64_t no;
	assert_int_equal(eng_jsonl_next(r, &line, &len, &no, &err), ENG_JSONL_LINE);
	assert_string_equal(line, "{\"a\":1}");
	assert_int_equal(len, 7);
	assert_int_equal(no, 1);
	assert_int_equal(eng_jsonl_next(r, &line, &len, &no, &err), ENG_JSONL_LINE);
	assert_string_equal(line, "{\"b\":2}");
	assert_int_equal(no, 4);
	assert_int_equal(eng_jsonl_next(r, &line, &len, &no, &err), ENG_JSONL_LINE);
	assert_string_equal(line, "{\"c\":3}");
	assert_int_equal(no, 6);
	assert_int_equal(eng_jsonl_next(r, &line, &len, &no, &err), ENG_JSONL_EOF);
	assert_int_equal(eng_jsonl_next(r, &line, &len, &no, &err), ENG_JSONL_EOF);
	assert_int_equal(eng_jsonl_offset(r), sizeof in - 1);
	eng_jsonl_close(r);
	eng_jsonl_close(NULL);
	fclose(f);
}

/* A 300 kB line with a 1 kB cap is reported once with its number and skipped; the next line is
 * read normally. */
static void test_jsonl_too_long_line_skipped(void **state)
{
	(void)state;
	size_t big = 300000;
	char *in = malloc(big + 64);
	assert_non_null(in);
	size_t n = 0;
	n += (size_t)sprintf(in + n, "{\"x\":1}\n");
	memset(in + n, 'z', big);
	n += big;
	n += (size_t)sprintf(in + n, "\n{\"y\":2}\n");
	FILE *f = mem(in, n);
	eng_jsonl *r = NULL;
	eng_err err = {0};
	assert_int_equal(eng_jsonl_open_file(f, 1024, &r, &err), 0);
	const char *line;
	size_t len;
	uint64_t no;
	assert_int_equal(eng_jsonl_next(r, &line, &len, &no, &err), ENG_JSONL_LINE);
	assert_int_equal(eng_jsonl_next(r, &line, &len, &no, &err), ENG_JSONL_TOO_LONG);
	assert_int_equal(no, 2);
	assert_int_equal(eng_jsonl_next(r, &line, &len, &no, &err), ENG_JSONL_LINE);
	assert_string_equal(line, "{\"y\":2}");
	assert_int_equal(no, 3);
	assert_int_equal(eng_jsonl_next(r, &line, &len, &no, &err), ENG_JSONL_EOF);
	eng_jsonl_close(r);
	fclose(f);
	free(in);
}

/* A callback stream delivering one byte at a time (as a decompressor might), then failing. */
typedef struct drip {
	const char *s;
	size_t pos, fail_at;
} drip;

static long drip_read(void *ctx, void *buf, size_t n, char *msg)
{
	drip *d = ctx;
	(void)n;
	if (d->pos == d->fail_at) {
		snprintf(msg, 256, "simulated failure");
		return -1;
	}
	if (!d->s[d->pos])
		return 0;
	((char *)buf)[0] = d->s[d->pos++];
	return 1;
}

static void test_jsonl_callback_stream_and_read_error(void **state)
{
	(void)state;
	drip d = {"{\"a\":1}\n{\"b\":2}\n", 0, (size_t)-1};
	eng_jsonl *r = NULL;
	eng_err err = {0};
	const char *line;
	size_t len;
	uint64_t no;
	assert_int_equal(eng_jsonl_open_fn(drip_read, &d, 0, &r, &err), 0);
	assert_int_equal(eng_jsonl_next(r, &line, &len, &no, &err), ENG_JSONL_LINE);
	assert_string_equal(line, "{\"a\":1}");
	assert_int_equal(eng_jsonl_next(r, &line, &len, &no, &err), ENG_JSONL_LINE);
	assert_string_equal(line, "{\"b\":2}");
	assert_int_equal(eng_jsonl_next(r, &line, &len, &no, &err), ENG_JSONL_EOF);
	eng_jsonl_close(r);

	drip e = {"{\"a\":1}\n{\"b\":2}\n", 0, 10};
	assert_int_equal(eng_jsonl_open_fn(drip_read, &e, 0, &r, &err), 0);
	assert_int_equal(eng_jsonl_next(r, &line, &len, &no, &err), ENG_JSONL_LINE);
	assert_int_equal(eng_jsonl_next(r, &line, &len, &no, &err), ENG_EIO);
	assert_non_null(strstr(err.msg, "simulated failure"));
	eng_jsonl_close(r);
}

/* A pretty-printed JSON array: one element per record, numbered by the line it starts on; strings
 * with brackets, commas and escaped quotes do not split elements; a too-long element is skipped;
 * bytes after the closing ']' are read as lines (never ignored). */
/* Issue 17: after an array's ']' come another array (elements again), then JSONL lines (each
 * with its own line number), then a record on the ']' line itself; nothing is dropped. */
static void test_jsonl_after_array(void **state)
{
	(void)state;
	const char in[] =
	    "[{\"a\":1},\n{\"a\":2}]\n\n[{\"a\":3}] [{\"a\":4}]\n{\"a\":5}\n{\"a\":6}\n"
	    "[{\"a\":7}]{\"a\":8}\n";
	static const char *const want[] = {"{\"a\":1}",           "{\"a\":2}", "{\"a\":3}",
	                                   "{\"a\":4}",           "{\"a\":5}", "{\"a\":6}",
	                                   "[{\"a\":7}]{\"a\":8}"};
	static const uint64_t lines[] = {1, 2, 4, 4, 5, 6, 7};
	FILE *f = mem(in, sizeof in - 1);
	eng_jsonl *r = NULL;
	eng_err err = {0};
	assert_int_equal(eng_jsonl_open_file(f, 0, &r, &err), 0);
	eng_jsonl_detect_array(r);
	const char *line;
	size_t len;
	uint64_t no;
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		assert_int_equal(eng_jsonl_next(r, &line, &len, &no, &err), ENG_JSONL_LINE);
		assert_string_equal(line, want[i]);
		assert_int_equal(no, lines[i]);
	}
	assert_int_equal(eng_jsonl_next(r, &line, &len, &no, &err), ENG_JSONL_EOF);
	eng_jsonl_close(r);
	fclose(f);
}

/* A reader callback's ENG_JSONL_READ_BAD_DATA (corrupt compressed input) is ENG_EINPUT. */
static long bad_read(void *ctx, void *buf, size_t n, char *msg)
{
	int *calls = ctx;
	if ((*calls)++ == 0) {
		memcpy(buf, "{\"a\":1}\n", n < 8 ? n : 8);
		return 8;
	}
	snprintf(msg, 256, "corrupt gzip data: incorrect data check");
	return ENG_JSONL_READ_BAD_DATA;
}

static void test_jsonl_bad_data_is_input_error(void **state)
{
	(void)state;
	int calls = 0;
	eng_jsonl *r = NULL;
	eng_err err = {0};
	assert_int_equal(eng_jsonl_open_fn(bad_read, &calls, 0, &r, &err), 0);
	const char *line;
	size_t len;
	uint64_t no;
	assert_int_equal(eng_jsonl_next(r, &line, &len, &no, &err), ENG_JSONL_LINE);
	assert_int_equal(eng_jsonl_next(r, &line, &len, &no, &err), ENG_EINPUT);
	assert_non_null(strstr(err.msg, "incorrect data check"));
	eng_jsonl_close(r);
}

static void test_jsonl_json_array_elements(void **state)
{
	(void)state;
	const char in[] =
	    "\xEF\xBB\xBF\n[\n  {\n    \"a\": \"x], {y\\\"}\",\n    \"b\": [1, 2]\n  },\n"
	    "  {\"c\": 3},\n\n  7,\n  {\"long\": \"0123456789012345678901234567890123456789"
	    "0123456789\"},\n  {\"d\": {\"e\": []}}\n]\ntrailing";
	FILE *f = mem(in, sizeof in - 1);
	eng_jsonl *r = NULL;
	eng_err err = {0};
	assert_int_equal(eng_jsonl_open_file(f, 56, &r, &err), 0);
	eng_jsonl_detect_array(r);
	const char *line;
	size_t len;
	uint64_t no;
	assert_int_equal(eng_jsonl_next(r, &line, &len, &no, &err), ENG_JSONL_LINE);
	assert_int_equal(eng_jsonl_is_array(r), 1);
	assert_string_equal(line, "{\n    \"a\": \"x], {y\\\"}\",\n    \"b\": [1, 2]\n  }");
	assert_int_equal(no, 3);
	assert_int_equal(eng_jsonl_next(r, &line, &len, &no, &err), ENG_JSONL_LINE);
	assert_string_equal(line, "{\"c\": 3}");
	assert_int_equal(no, 7);
	assert_int_equal(eng_jsonl_next(r, &line, &len, &no, &err), ENG_JSONL_LINE);
	assert_string_equal(line, "7");
	assert_int_equal(no, 9);
	assert_int_equal(eng_jsonl_next(r, &line, &len, &no, &err), ENG_JSONL_TOO_LONG);
	assert_int_equal(no, 10);
	assert_int_equal(eng_jsonl_next(r, &line, &len, &no, &err), ENG_JSONL_LINE);
	assert_string_equal(line, "{\"d\": {\"e\": []}}");
	assert_int_equal(no, 11);
	assert_int_equal(eng_jsonl_next(r, &line, &len, &no, &err), ENG_JSONL_LINE);
	assert_string_equal(line, "trailing"); /* after the ']': a line (a record error later) */
	assert_int_equal(no, 13);
	assert_int_equal(eng_jsonl_next(r, &line, &len, &no, &err), ENG_JSONL_EOF);
	assert_int_equal(eng_jsonl_next(r, &line, &len, &no, &err), ENG_JSONL_EOF);
	eng_jsonl_close(r);
	fclose(f);

	/* without detection, or when the input does not start with '[', lines stay lines */
	const char jl[] = "{\"a\":1}\n[1]\n";
	f = mem(jl, sizeof jl - 1);
	assert_int_equal(eng_jsonl_open_file(f, 0, &r, &err), 0);
	eng_jsonl_detect_array(r);
	assert_int_equal(eng_jsonl_next(r, &line, &len, &no, &err), ENG_JSONL_LINE);
	assert_int_equal(eng_jsonl_is_array(r), 0);
	assert_int_equal(eng_jsonl_next(r, &line, &len, &no, &err), ENG_JSONL_LINE);
	assert_string_equal(line, "[1]");
	assert_int_equal(no, 2);
	eng_jsonl_close(r);
	fclose(f);

	/* an empty array has no elements */
	f = mem(" [ ] ", 5);
	assert_int_equal(eng_jsonl_open_file(f, 0, &r, &err), 0);
	eng_jsonl_detect_array(r);
	assert_int_equal(eng_jsonl_next(r, &line, &len, &no, &err), ENG_JSONL_EOF);
	eng_jsonl_close(r);
	fclose(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_jsonl_lines_bom_crlf_blank),
	    cmocka_unit_test(test_jsonl_json_array_elements),
	    cmocka_unit_test(test_jsonl_after_array),
	    cmocka_unit_test(test_jsonl_bad_data_is_input_error),
	    cmocka_unit_test(test_jsonl_too_long_line_skipped),
	    cmocka_unit_test(test_jsonl_callback_stream_and_read_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
