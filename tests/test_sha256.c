/* test_sha256.c - SHA-256 known answers (FIPS 180-4 examples) and streaming == one-shot. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sha256.h"

static void check(const char *msg, size_t n, const char *want)
{
	char hex[ENG_SHA256_HEX_LEN];
	eng_sha256_hex_of(msg, n, hex);
	assert_string_equal(hex, want);
}

static void test_sha256_known_answers(void **state)
{
	(void)state;
	check("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	check("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	check(two, strlen(two), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	const char *four =
	    "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmno"
	    "pqklmnopqrlmnopqrsmnopqrstnopqrstu";
	check(four, strlen(four),
	      "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

static void test_sha256_million_a_streamed(void **state)
{
	(void)state;
	char chunk[1000];
	memset(chunk, 'a', sizeof chunk);
	eng_sha256_ctx s;
	eng_sha256_init(&s);
	for (int i = 0; i < 1000; i++)
		eng_sha256_update(&s, chunk, sizeof chunk);
	uint8_t dg[ENG_SHA256_LEN];
	char hex[ENG_SHA256_HEX_LEN];
	eng_sha256_final(&s, dg);
	eng_sha256_hex(dg, hex);
	assert_string_equal(hex,
	                    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* Every split point and boundary length (55, 56, 63, 64, 65 ...) agrees with the one-shot hash. */
static void test_sha256_streaming_matches_oneshot(void **state)
{
	(void)state;
	uint8_t buf[200];
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (uint8_t)(i * 131 + 7);
	for (size_t n = 0; n <= sizeof buf; n++) {
		uint8_t one[ENG_SHA256_LEN];
		eng_sha256(buf, n, one);
		for (size_t cut = 0; cut <= n; cut += 7) {
			eng_sha256_ctx s;
			uint8_t two[ENG_SHA256_LEN];
			eng_sha256_init(&s);
			eng_sha256_update(&s, buf, cut);
			eng_sha256_update(&s, NULL, 0);
			eng_sha256_update(&s, buf + cut, n - cut);
			eng_sha256_final(&s, two);
			assert_memory_equal(one, two, ENG_SHA256_LEN);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sha256_known_answers),
	    cmocka_unit_test(test_sha256_million_a_streamed),
	    cmocka_unit_test(test_sha256_streaming_matches_oneshot),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
