/* test_fastjson.c - the fast record parser builds json_loadb's tree (same values, same key order)
 * for every line it accepts, and leaves the others (NULL) to json_loadb. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fastjson.h"

/* The fast tree of line s (length n) equals json_loadb's: same dump with keys in order. */
static void expect_same_n(const char *s, size_t n)
{
	json_error_t je;
	json_t *a = eng_fastjson_load(s, n), *b = json_loadb(s, n, JSON_REJECT_DUPLICATES, &je);
	assert_non_null(a);
	assert_non_null(b);
	assert_true(json_equal(a, b));
	char *da = json_dumps(a, JSON_PRESERVE_ORDER | JSON_COMPACT | JSON_ENCODE_ANY),
	     *db = json_dumps(b, JSON_PRESERVE_ORDER | JSON_COMPACT | JSON_ENCODE_ANY);
	assert_non_null(da);
	assert_string_equal(da, db);
	free(da);
	free(db);
	json_decref(a);
	json_decref(b);
}

static void expect_same(const char *s)
{
	expect_same_n(s, strlen(s));
}

/* Off the fast path: NULL (the caller parses with json_loadb). */
static void expect_fallback_n(const char *s, size_t n)
{
	json_t *a = eng_fastjson_load(s, n);
	assert_null(a);
}

static void expect_fallback(const char *s)
{
	expect_fallback_n(s, strlen(s));
}

static void test_fastjson_same_tree(void **state)
{
	(void)state;
	expect_same("{}");
	expect_same("  {\"a\":\"b\"}  \r\n");
	expect_same(
	    "{\"id\":\"synth-000001\",\"prompt\":\"Which colour?\",\"chosen\":\"**Answer:** "
	    "red\\n\\n- a\",\"rejected\":\"green\",\"env\":\"synth\"}");
	expect_same("{\"z\":1,\"a\":2,\"m\":-3,\"zero\":0,\"neg0\":-0,\"big\":123456789012345678}");
	expect_same("{\"t\":true,\"f\":false,\"n\":null,\"e\":\"\",\"\":\"empty key\"}");
	expect_same("{\"esc\":\"q\\\" b\\\\ s\\/ "
	            "\\b\\f\\n\\r\\t\",\"u\":\"\\u00e9\\u20AC\\ud83d\\ude00\"}");
	expect_same("{\"utf8\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}");
	expect_same("{\"c\":{\"response\":[\"a\",\"b\"],\"annotations\":[[1,2],[],{}],\"x\":{}}}");
	expect_same("{ \"a\" : [ 1 , \"x\" , null ] , \"b\" : { \"c\" : true } }");
}

static void test_fastjson_fallbacks(void **state)
{
	(void)state;
	expect_fallback("");
	expect_fallback("[1, 2]");                      /* not an object: json_loadb's message */
	expect_fallback("{\"a\":1.5}");                 /* reals: jansson's strtod */
	expect_fallback("{\"a\":1e3}");                 /* likewise */
	expect_fallback("{\"a\":1234567890123456789}"); /* 19 digits: jansson checks the range */
	expect_fallback("{\"a\":01}");                  /* leading zero */
	expect_fallback("{\"a\":1,\"a\":2}");           /* duplicate key */
	expect_fallback("{\"a\":{\"b\":1,\"b\":2}}");
	expect_fallback("{\"k\\u0041\":1}"); /* an escaped key */
	expect_fallback("{\"a\":\"\\u0000\"}");
	expect_fallback("{\"a\":\"\\ud800\"}");        /* lone high surrogate */
	expect_fallback("{\"a\":\"\\udc00\"}");        /* lone low surrogate */
	expect_fallback("{\"a\":\"\\ud800\\u0041\"}"); /* bad pair */
	expect_fallback("{\"a\":\"\\x\"}");            /* unknown escape */
	expect_fallback("{\"a\":\"\\u12G4\"}");
	expect_fallback("{\"a\":\"tab\there\"}");        /* raw control character */
	expect_fallback("{\"a\":\"\xc3\"}");             /* truncated UTF-8 */
	expect_fallback("{\"a\":\"\xc0\xaf\"}");         /* overlong */
	expect_fallback("{\"a\":\"\xed\xa0\x80\"}");     /* surrogate in UTF-8 */
	expect_fallback("{\"a\":\"\xf4\x90\x80\x80\"}"); /* past U+10FFFF */
	expect_fallback("{\"a\":1} x");                  /* trailing bytes */
	expect_fallback("{\"a\":1,}");
	expect_fallback("{\"a\":[1,]}");
	expect_fallback("{\"a\" 1}");
	expect_fallback("{\"a\":truex}");
	expect_fallback("{\"a\":nul}");
	expect_fallback("{\"a\":\"unterminated}");
	expect_fallback_n("{\"a\":1}\0", 8); /* a NUL byte after the object */
	expect_fallback_n("{\"a\":\"x\0y\"}", 10);
	/* nesting deeper than ENG_FASTJSON_MAX_DEPTH goes to jansson (which takes up to 2048) */
	char deep[2 * ENG_FASTJSON_MAX_DEPTH + 16];
	size_t n = 0;
	deep[n++] = '{';
	deep[n++] = '"';
	deep[n++] = 'a';
	deep[n++] = '"';
	deep[n++] = ':';
	for (int i = 0; i < ENG_FASTJSON_MAX_DEPTH; i++)
		deep[n++] = '[';
	for (int i = 0; i < ENG_FASTJSON_MAX_DEPTH; i++)
		deep[n++] = ']';
	deep[n++] = '}';
	expect_fallback_n(deep, n);
	/* one level less is on the fast path */
	memmove(deep + 5, deep + 6, n - 6);
	memmove(deep + 5 + ENG_FASTJSON_MAX_DEPTH - 1, deep + 5 + ENG_FASTJSON_MAX_DEPTH,
	        n - 6 - ENG_FASTJSON_MAX_DEPTH);
	expect_same_n(deep, n - 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fastjson_same_tree),
	    cmocka_unit_test(test_fastjson_fallbacks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
