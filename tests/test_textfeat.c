/* test_textfeat.c - pairset CSR rows, FNV-1a feature hashing, tokenizer, style features, names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/pairset.h"
#include "engine/textfeat.h"
#include "engine/textfeat_internal.h"

/* Value of column c in row r of ps, 0 if absent. */
static float row_get(const eng_pairset *ps, size_t r, uint32_t c)
{
	for (size_t k = ps->rowptr[r]; k < ps->rowptr[r + 1]; k++)
		if (ps->col[k] == c)
			return ps->val[k];
	return 0;
}

static void test_textfeat_pairset_rows(void **state)
{
	(void)state;
	eng_pairset ps;
	eng_err err = {0};
	assert_int_equal(eng_pairset_init(&ps, 10, 2, &err), 0);
	uint32_t c[] = {7, 2, 7, 5, 5, 0};
	float v[] = {1.0f, -2.0f, 0.5f, 3.0f, -3.0f, 4.0f};
	assert_int_equal(eng_pairset_add_row(&ps, c, v, 6, 1, &err), 0);
	assert_int_equal(ps.n, 1);
	/* sorted, duplicates summed (7: 1.5), zero sum dropped (5) */
	assert_int_equal(ps.rowptr[1], 3);
	assert_int_equal(ps.col[0], 0);
	assert_int_equal(ps.col[1], 2);
	assert_int_equal(ps.col[2], 7);
	assert_true(ps.val[2] == 1.5f);
	assert_int_equal(ps.img_of[0], 1);
	/* an empty row and many rows: storage grows */
	assert_int_equal(eng_pairset_add_row(&ps, NULL, NULL, 0, -1, &err), 0);
	for (int i = 0; i < 1000; i++) {
		uint32_t cc[3] = {(uint32_t)(i % 10), (uint32_t)((i + 3) % 10), 9};
		float vv[3] = {1, 2, (float)i};
		assert_int_equal(eng_pairset_add_row(&ps, cc, vv, 3, i % 2 ? -1 : 0, &err), 0);
	}
	assert_int_equal(ps.n, 1002);
	assert_true(row_get(&ps, 1000, 9) == 998.0f);  /* cols 8, 1, 9 */
	assert_true(row_get(&ps, 1001, 9) == 1000.0f); /* cols 9, 2, 9: summed */
	assert_true(row_get(&ps, 1, 9) == 0.0f);
	assert_int_equal(ps.rowptr[2] - ps.rowptr[1], 0);
	/* bad input leaves the set unchanged */
	uint32_t bad = 10;
	float one = 1, nan = NAN;
	assert_int_equal(eng_pairset_add_row(&ps, &bad, &one, 1, -1, &err), ENG_EINPUT);
	assert_non_null(strstr(err.msg, "out of range"));
	uint32_t ok = 1;
	assert_int_equal(eng_pairset_add_row(&ps, &ok, &nan, 1, -1, &err), ENG_EINPUT);
	assert_int_equal(ps.n, 1002);
	float img[4] = {1, 2, 3, 4};
	assert_int_equal(eng_pairset_set_images(&ps, img, 2, &err), 0);
	assert_int_equal(ps.n_img, 2);
	assert_true(ps.img[3] == 4.0f);
	eng_pairset_free(&ps);
	eng_pairset_free(&ps); /* zeroed: safe */
	eng_pairset_free(NULL);
	assert_int_equal(eng_pairset_init(&ps, 0, 0, &err), ENG_EINPUT);
}

/* Published FNV-1a 64-bit test vectors (Noll's FNV reference test suite). */
static void test_textfeat_fnv1a_vectors(void **state)
{
	(void)state;
	assert_true(eng_fnv1a64("", 0) == 0xcbf29ce484222325ULL);
	assert_true(eng_fnv1a64("a", 1) == 0xaf63dc4c8601ec8cULL);
	assert_true(eng_fnv1a64("foobar", 6) == 0x85944171f73967e8ULL);
	/* _update continues the same hash */
	assert_true(eng_fnv1a64_update(eng_fnv1a64("foo", 3), "bar", 3) ==
	            eng_fnv1a64("foobar", 6));
}

/* Looks up column c in (col, val, k); returns the value or 0. */
static float find(const uint32_t *col, const float *val, size_t k, uint32_t c)
{
	float s = 0;
	for (size_t i = 0; i < k; i++)
		if (col[i] == c)
			s += val[i];
	return s;
}

static void test_textfeat_hashing_stable(void **state)
{
	(void)state;
	eng_err err = {0};
	eng_textfeat *a = NULL, *b = NULL;
	assert_int_equal(eng_textfeat_new(NULL, &a, &err), 0);
	assert_int_equal(eng_textfeat_new(NULL, &b, &err), 0);
	assert_int_equal(eng_textfeat_dim(a), (1u << 18) + (uint32_t)eng_textfeat_named_count());
	/* bucket = fnv mod 2^18, sign = bit 63 */
	uint64_t h = eng_fnv1a64("certainly", 9);
	uint32_t bk;
	int sg;
	eng_textfeat_bucket_of(a, h, &bk, &sg);
	assert_int_equal(bk, (uint32_t)(h & ((1u << 18) - 1)));
	assert_int_equal(sg, (h >> 63) ? -1 : 1);
	/* "Certainly CERTAINLY" = two occurrences of "certainly" + bigram "certainly certainly":
	 * values log1p(2) and log1p(1), unit norm, signed by the hash */
	uint32_t *col;
	float *val;
	size_t k;
	assert_int_equal(eng_textfeat_phi(a, NULL, "Certainly CERTAINLY", &col, &val, &k, &err), 0);
	double l2 = log1p(2.0), l1 = log1p(1.0), nrm = sqrt(l2 * l2 + l1 * l1);
	assert_float_equal(find(col, val, k, bk), sg * l2 / nrm, 1e-6);
	uint64_t hb = eng_fnv1a64("certainly certainly", 19);
	uint32_t bb;
	int sb;
	eng_textfeat_bucket_of(a, hb, &bb, &sb);
	assert_float_equal(find(col, val, k, bb), sb * l1 / nrm, 1e-6);
	/* the same text gives the same row in another instance */
	float va[64];
	uint32_t ca[64];
	size_t ka = k;
	assert_true(k <= 64);
	memcpy(ca, col, k * sizeof *ca);
	memcpy(va, val, k * sizeof *va);
	assert_int_equal(eng_textfeat_phi(b, NULL, "Certainly CERTAINLY", &col, &val, &k, &err), 0);
	assert_int_equal(k, ka);
	assert_memory_equal(ca, col, k * sizeof *ca);
	assert_memory_equal(va, val, k * sizeof *va);
	eng_textfeat_free(a);
	eng_textfeat_free(b);
	eng_textfeat_free(NULL);
	eng_textfeat_opts o;
	eng_textfeat_opts_default(&o);
	o.hash_bits = 40;
	assert_int_equal(eng_textfeat_new(&o, &a, &err), ENG_EINPUT);
	assert_null(a);
}

static uint32_t bucket(const eng_textfeat *tf, const char *s)
{
	uint32_t b;
	int sg;
	eng_textfeat_bucket_of(tf, eng_fnv1a64(s, strlen(s)), &b, &sg);
	return b;
}

static void test_textfeat_tokenizer(void **state)
{
	(void)state;
	eng_err err = {0};
	eng_textfeat *tf = NULL;
	assert_int_equal(eng_textfeat_new(NULL, &tf, &err), 0);
	uint32_t *col;
	float *val;
	size_t k;
	/* tokens: "don't", "stop", "café" (UTF-8 bytes kept whole, ASCII lower-cased);
	 * bigrams "don't stop", "stop café": 5 hashed entries of 1/sqrt(5) each */
	assert_int_equal(
	    eng_textfeat_phi(tf, NULL, "Don't STOP,\tcaf\xc3\xa9!", &col, &val, &k, &err), 0);
	const char *grams[] = {"don't", "stop", "caf\xc3\xa9", "don't stop", "stop caf\xc3\xa9"};
	for (int i = 0; i < 5; i++)
		assert_float_equal(fabsf(find(col, val, k, bucket(tf, grams[i]))), 1 / sqrt(5.0),
		                   1e-6);
	size_t hashed = 0;
	for (size_t i = 0; i < k; i++)
		hashed += col[i] < (1u << 18);
	assert_int_equal(hashed, 5);
	char buf[128];
	assert_string_equal(eng_textfeat_name(tf, bucket(tf, "caf\xc3\xa9"), buf, sizeof buf),
	                    "word 'caf\xc3\xa9'");
	/* an apostrophe at a word edge separates */
	assert_int_equal(eng_textfeat_phi(tf, NULL, "'quoted'", &col, &val, &k, &err), 0);
	assert_float_equal(fabsf(find(col, val, k, bucket(tf, "quoted"))), 1.0, 1e-6);
	/* empty answer: no hashed entries */
	assert_int_equal(eng_textfeat_phi(tf, NULL, "", &col, &val, &k, &err), 0);
	assert_int_equal(k, 0);
	eng_textfeat_free(tf);
}

/* Column of the named feature whose name contains what. */
static uint32_t named_col(const eng_textfeat *tf, const char *what)
{
	char buf[256];
	for (int j = 0; j < eng_textfeat_named_count(); j++) {
		uint32_t c = (1u << 18) + (uint32_t)j;
		if (strstr(eng_textfeat_name(tf, c, buf, sizeof buf), what))
			return c;
	}
	fail_msg("no named feature '%s'", what);
	return 0;
}

static void test_textfeat_style_features(void **state)
{
	(void)state;
	eng_err err = {0};
	eng_textfeat *tf = NULL;
	assert_int_equal(eng_textfeat_new(NULL, &tf, &err), 0);
	eng_pairset ps;
	assert_int_equal(eng_pairset_init(&ps, eng_textfeat_dim(tf), 0, &err), 0);
	const char *chosen = "# Plan\n- first step\n- second step\n1. **bold** see https://x.org\n"
	                     "Sorry, I might be wrong? Maybe! `code`";
	const char *rejected = "Certainly the answer is 42";
	assert_int_equal(eng_textfeat_add_pair(tf, &ps, "prompt", chosen, rejected, -1, &err), 0);
	/* d = phi(chosen) - phi(rejected) on named columns */
	assert_float_equal(row_get(&ps, 0, named_col(tf, "bullet-list")), 2.0 / 5.0, 1e-6);
	assert_float_equal(row_get(&ps, 0, named_col(tf, "numbered-list")), 1.0 / 5.0, 1e-6);
	assert_float_equal(row_get(&ps, 0, named_col(tf, "headers")), 1.0 / 5.0, 1e-6);
	assert_float_equal(row_get(&ps, 0, named_col(tf, "question")), log1p(1.0) / 3, 1e-6);
	assert_float_equal(row_get(&ps, 0, named_col(tf, "exclamation")), log1p(1.0) / 3, 1e-6);
	assert_float_equal(row_get(&ps, 0, named_col(tf, "hedges")), log1p(2.0) / 3, 1e-6);
	assert_float_equal(row_get(&ps, 0, named_col(tf, "apologies")), log1p(1.0) / 3, 1e-6);
	assert_float_equal(row_get(&ps, 0, named_col(tf, "URLs")), log1p(1.0) / 3, 1e-6);
	assert_float_equal(row_get(&ps, 0, named_col(tf, "bold")), log1p(2.0) / 3, 1e-6);
	/* `code` is two backtick runs */
	assert_float_equal(row_get(&ps, 0, named_col(tf, "code")), log1p(2.0) / 3, 1e-6);
	assert_float_equal(row_get(&ps, 0, named_col(tf, "confident")), -log1p(1.0) / 3, 1e-6);
	assert_float_equal(row_get(&ps, 0, named_col(tf, "first person")), log1p(1.0) / 3, 1e-6);
	assert_float_equal(row_get(&ps, 0, named_col(tf, "length (log chars)")),
	                   (log1p((double)strlen(chosen)) - log1p((double)strlen(rejected))) / 8,
	                   1e-6);
	/* every named value of one answer lies in [0, 1]: comparable with the unit-norm hashes */
	uint32_t *col;
	float *val;
	size_t k;
	char big[4096];
	memset(big, '!', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	assert_int_equal(eng_textfeat_phi(tf, NULL, big, &col, &val, &k, &err), 0);
	for (size_t i = 0; i < k; i++)
		assert_true(val[i] >= -1.0f && val[i] <= 1.0f);
	/* "as an AI" counts as an apology */
	assert_int_equal(eng_textfeat_add_pair(tf, &ps, NULL, "As an AI, no", "no", -1, &err), 0);
	assert_float_equal(row_get(&ps, 1, named_col(tf, "apologies")), log1p(1.0) / 3, 1e-6);
	/* a pairset of another width is refused */
	eng_pairset other;
	assert_int_equal(eng_pairset_init(&other, 5, 0, &err), 0);
	assert_int_equal(eng_textfeat_add_pair(tf, &other, "p", "a", "b", -1, &err), ENG_EINPUT);
	eng_pairset_free(&other);
	eng_pairset_free(&ps);
	eng_textfeat_free(tf);
}

static void test_textfeat_names(void **state)
{
	(void)state;
	eng_err err = {0};
	eng_textfeat_opts o;
	eng_textfeat_opts_default(&o);
	o.crosses = 1;
	eng_textfeat *tf = NULL;
	assert_int_equal(eng_textfeat_new(&o, &tf, &err), 0);
	eng_pairset ps;
	assert_int_equal(eng_pairset_init(&ps, eng_textfeat_dim(tf), 0, &err), 0);
	assert_int_equal(
	    eng_textfeat_add_pair(tf, &ps, "Why?", "Certainly, I think so.", "No idea", -1, &err),
	    0);
	char buf[128];
	assert_string_equal(eng_textfeat_name(tf, bucket(tf, "certainly"), buf, sizeof buf),
	                    "word 'certainly'");
	assert_string_equal(eng_textfeat_name(tf, bucket(tf, "i think"), buf, sizeof buf),
	                    "bigram 'i think'");
	assert_string_equal(eng_textfeat_name(tf, bucket(tf, "why|idea"), buf, sizeof buf),
	                    "cross prompt 'why' x response 'idea'");
	assert_string_equal(eng_textfeat_name(tf, 1u << 18, buf, sizeof buf),
	                    "named: length (log chars)");
	uint64_t h = eng_fnv1a64("certainly", 9);
	assert_int_equal(eng_textfeat_sign(tf, bucket(tf, "certainly")), (h >> 63) ? -1 : 1);
	assert_int_equal(eng_textfeat_sign(tf, 1u << 18), 1);
	/* the d row carries the cross with the rejected side's sign */
	int sc = (eng_fnv1a64("why|idea", 8) >> 63) ? -1 : 1;
	assert_true(row_get(&ps, 0, bucket(tf, "why|idea")) * (float)sc < 0);
	/* long n-grams are truncated on a UTF-8 boundary and marked */
	assert_int_equal(eng_textfeat_add_pair(tf, &ps, NULL,
	                                       "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	                                       "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	                                       "\xc3\xa9x",
	                                       "", -1, &err),
	                 0);
	const char *lw = "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	                 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9x";
	assert_string_equal(eng_textfeat_name(tf, bucket(tf, lw), buf, sizeof buf),
	                    "word '\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	                    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9...'");
	eng_pairset_free(&ps);
	eng_textfeat_free(tf);
}

/* With 16 buckets words collide; a bucket is named by its majority n-gram. */
static void test_textfeat_names_majority(void **state)
{
	(void)state;
	eng_err err = {0};
	eng_textfeat_opts o;
	eng_textfeat_opts_default(&o);
	o.hash_bits = 4;
	o.bigrams = 0;
	eng_textfeat *tf = NULL;
	assert_int_equal(eng_textfeat_new(&o, &tf, &err), 0);
	/* find two other words in the bucket of "alpha" */
	uint32_t ba = bucket(tf, "alpha");
	char other[2][16];
	int found = 0;
	for (int i = 0; i < 10000 && found < 2; i++) {
		char w[16];
		snprintf(w, sizeof w, "w%d", i);
		if (bucket(tf, w) == ba)
			strcpy(other[found++], w);
	}
	assert_int_equal(found, 2);
	uint32_t *col;
	float *val;
	size_t k;
	char text[128];
	/* alpha is 4 of the 7 occurrences (> half): the majority vote names the bucket after it */
	snprintf(text, sizeof text, "%s alpha alpha %s alpha %s alpha", other[0], other[1],
	         other[1]);
	assert_int_equal(eng_textfeat_phi(tf, NULL, text, &col, &val, &k, &err), 0);
	char buf[64];
	assert_string_equal(eng_textfeat_name(tf, ba, buf, sizeof buf), "word 'alpha'");
	eng_textfeat_free(tf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_textfeat_pairset_rows),
	    cmocka_unit_test(test_textfeat_fnv1a_vectors),
	    cmocka_unit_test(test_textfeat_hashing_stable),
	    cmocka_unit_test(test_textfeat_tokenizer),
	    cmocka_unit_test(test_textfeat_style_features),
	    cmocka_unit_test(test_textfeat_names),
	    cmocka_unit_test(test_textfeat_names_majority),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
