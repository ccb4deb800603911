/* test_shard.c - `index --shard I/N`: the spec parser and a record's shard by its group key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "records.h"
#include "shard.h"

static void parse_line(eng_record *rec, const char *line, uint64_t lineno)
{
	memset(rec, 0, sizeof *rec);
	assert_int_equal(eng_record_parse(rec, line, strlen(line), "t", lineno), 0);
}

static void test_shard_parse(void **state)
{
	(void)state;
	eng_shard s;
	eng_err err = {0};
	assert_int_equal(eng_shard_parse("0/4", &s, &err), 0);
	assert_true(s.i == 0 && s.n == 4);
	assert_int_equal(eng_shard_parse("3/4", &s, &err), 0);
	assert_true(s.i == 3 && s.n == 4);
	assert_int_equal(eng_shard_parse("0/1", &s, &err), 0);
	const char *bad[] = {"4/4",  "1/0", "-1/4", "1",       "/4", "1/",
	                     "1/4x", "a/b", "1 /4", "0/65537", "",   "99999999999999999999/3"};
	for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
		assert_int_equal(eng_shard_parse(bad[k], &s, &err), ENG_EINPUT);
		assert_non_null(strstr(err.msg, "--shard"));
	}
}

/* Values computed independently (Python: FNV-1a 64 of the tagged key, splitmix64 finalizer of key
 * + golden gamma, mod N), so a shard is the same on every machine and in every version. */
static void test_shard_known_answers(void **state)
{
	(void)state;
	eng_record r;
	parse_line(
	    &r, "{\"prompt\":\"What colour is the star?\",\"chosen\":\"a\",\"rejected\":\"b\"}", 5);
	assert_int_equal(eng_shard_of(&r, 5, 7), 4);
	assert_int_equal(eng_shard_of(&r, 99, 1000), 24); /* the line does not matter */
	eng_record_clear(&r);
	parse_line(
	    &r,
	    "{\"prompt\":\"x\",\"image\":\"images/cat.png\",\"chosen\":\"a\",\"rejected\":\"b\"}",
	    1);
	assert_int_equal(eng_shard_of(&r, 1, 7), 4);
	assert_int_equal(eng_shard_of(&r, 1, 1000), 798);
	eng_record_clear(&r);
	parse_line(&r, "not json", 17);
	assert_int_equal(eng_shard_of(&r, 17, 7), 2);
	assert_int_equal(eng_shard_of(&r, 17, 1000), 545);
	eng_record_clear(&r);
}

/* Every record is in exactly one of N shards; the pairs of one image (whatever their prompts) and
 * of one prompt stay together; distinct prompts spread evenly. */
static void test_shard_partition(void **state)
{
	(void)state;
	enum { N = 4, R = 8000 };
	size_t count[N] = {0};
	char line[256];
	for (int k = 0; k < R; k++) {
		eng_record r;
		snprintf(line, sizeof line,
		         "{\"prompt\":\"question %d\",\"chosen\":\"yes\",\"rejected\":\"no\"}", k);
		parse_line(&r, line, (uint64_t)k + 1);
		int in = 0;
		for (uint32_t i = 0; i < N; i++) {
			eng_shard s = {i, N};
			in += eng_shard_keeps(&s, &r, (uint64_t)k + 1);
		}
		assert_int_equal(in, 1);
		count[eng_shard_of(&r, (uint64_t)k + 1, N)]++;
		eng_record_clear(&r);
	}
	for (int i = 0; i < N; i++) /* binomial sd ~ 39: within 5 sd of R/N */
		assert_true(count[i] > R / N - 200 && count[i] < R / N + 200);

	eng_record a, b;
	parse_line(
	    &a, "{\"prompt\":\"p1\",\"image\":\"img/7.png\",\"chosen\":\"a\",\"rejected\":\"b\"}",
	    1);
	parse_line(
	    &b, "{\"prompt\":\"p2\",\"image\":\"img/7.png\",\"chosen\":\"c\",\"rejected\":\"d\"}",
	    900);
	for (uint32_t n = 2; n < 50; n++)
		assert_int_equal(eng_shard_of(&a, 1, n), eng_shard_of(&b, 900, n));
	eng_record_clear(&a);
	eng_record_clear(&b);
	eng_shard off = {0, 0};
	parse_line(&a, "{\"prompt\":\"p1\",\"chosen\":\"a\",\"rejected\":\"b\"}", 1);
	assert_int_equal(eng_shard_keeps(&off, &a, 1), 1);
	eng_record_clear(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_shard_parse),
	    cmocka_unit_test(test_shard_known_answers),
	    cmocka_unit_test(test_shard_partition),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
