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

#include "pairset.h"
#include "textfeat.h"
#include "textfeat_internal.h"

/* Value of column c in row r of ps, 0 if absent. */
static float row_get(const eng_pairset *ps, size_t r, uint32_t c)
{
	for (eng_pairset_iter it = eng_pairset_row(ps, r); eng_pairset_next(&it);)
		if (it.c == c)
			return it.v;
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

/* ---- eng_pairset_canon_row ------------------------------------------------------------------ */

static void test_textfeat_canon_row(void **state)
{
	(void)state;
	/* unsorted, duplicates (7: 1 + 0.5), a cancelling pair (5: 3 - 3), explicit zeros (3) */
	uint32_t c[] = {7, 2, 7, 5, 5, 0, 3, 3};
	float v[] = {1.0f, -2.0f, 0.5f, 3.0f, -3.0f, 4.0f, 0.0f, 0.0f};
	assert_int_equal(eng_pairset_canon_row(c, v, 8), 3);
	assert_int_equal(c[0], 0);
	assert_true(v[0] == 4.0f);
	assert_int_equal(c[1], 2);
	assert_true(v[1] == -2.0f);
	assert_int_equal(c[2], 7);
	assert_true(v[2] == 1.5f);
	/* already canonical: unchanged, same count */
	uint32_t c2[] = {1, 4, 9, 4000000};
	float v2[] = {0.5f, -1.0f, 2.0f, 1e-30f};
	assert_int_equal(eng_pairset_canon_row(c2, v2, 4), 4);
	assert_int_equal(c2[0], 1);
	assert_int_equal(c2[1], 4);
	assert_int_equal(c2[2], 9);
	assert_int_equal(c2[3], 4000000);
	assert_true(v2[0] == 0.5f && v2[1] == -1.0f && v2[2] == 2.0f && v2[3] == 1e-30f);
	/* sorted but not canonical: a zero in the middle, at the end, a repeated column */
	uint32_t c3[] = {1, 4, 9};
	float v3[] = {0.5f, 0.0f, 2.0f};
	assert_int_equal(eng_pairset_canon_row(c3, v3, 3), 2);
	assert_true(c3[0] == 1 && c3[1] == 9 && v3[0] == 0.5f && v3[1] == 2.0f);
	uint32_t c4[] = {1, 4};
	float v4[] = {1.0f, 0.0f};
	assert_int_equal(eng_pairset_canon_row(c4, v4, 2), 1);
	assert_true(c4[0] == 1 && v4[0] == 1.0f);
	uint32_t c5[] = {2, 2, 3};
	float v5[] = {1.0f, 2.0f, 1.0f};
	assert_int_equal(eng_pairset_canon_row(c5, v5, 3), 2);
	assert_true(c5[0] == 2 && v5[0] == 3.0f && c5[1] == 3 && v5[1] == 1.0f);
	uint32_t c6[] = {2, 2};
	float v6[] = {1.0f, -1.0f};
	assert_int_equal(eng_pairset_canon_row(c6, v6, 2), 0);
	/* k = 0 and k = 1 */
	assert_int_equal(eng_pairset_canon_row(NULL, NULL, 0), 0);
	uint32_t c7 = 5;
	float v7 = 2.0f;
	assert_int_equal(eng_pairset_canon_row(&c7, &v7, 1), 1);
	assert_true(c7 == 5 && v7 == 2.0f);
	v7 = 0.0f;
	assert_int_equal(eng_pairset_canon_row(&c7, &v7, 1), 0);
	v7 = -0.0f;
	assert_int_equal(eng_pairset_canon_row(&c7, &v7, 1), 0);
}

static int cmp_col(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

/* Long rows over a wide column range: the radix paths (scratch on the stack, and allocated for
 * rows over 512 entries, with several 8-bit passes) give the sorted per-column sums. */
static void test_textfeat_canon_row_long(void **state)
{
	(void)state;
	static const size_t ks[] = {49, 300, 512, 513, 2000};
	uint64_t x = 777;
	for (size_t t = 0; t < sizeof ks / sizeof ks[0]; t++) {
		size_t k = ks[t];
		uint32_t *c = malloc(k * sizeof *c), *ref = malloc(k * 2 * sizeof *ref);
		float *v = malloc(k * sizeof *v);
		for (size_t j = 0; j < k; j++) {
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
			/* every 4th entry repeats an earlier column: duplicates to sum */
			c[j] = j % 4 == 3 ? c[j / 2] : (uint32_t)((x >> 33) % (1u << 20));
			v[j] = (float)((int)((x >> 20) % 7) - 3);
			ref[2 * j] = c[j];
			memcpy(&ref[2 * j + 1], &v[j], sizeof v[j]);
		}
		qsort(ref, k, 2 * sizeof *ref, cmp_col); /* (column, value) pairs by column */
		size_t kc = eng_pairset_canon_row(c, v, k), want = 0;
		for (size_t j = 0; j < k;) {
			uint32_t col = ref[2 * j];
			float sum = 0, f;
			for (; j < k && ref[2 * j] == col; j++) {
				memcpy(&f, &ref[2 * j + 1], sizeof f);
				sum += f; /* small integers: exact in any order */
			}
			if (sum == 0)
				continue;
			assert_true(want < kc);
			assert_int_equal(c[want], col);
			assert_true(v[want] == sum);
			want++;
		}
		assert_int_equal(kc, want);
		free(c);
		free(v);
		free(ref);
	}
}

/* Random rows: add_row of a raw row stores exactly what add_row of its canonical form stores,
 * canonical rows are fixed points, and the stored row matches a naive per-column sum. */
static void test_textfeat_canon_row_matches_add_row(void **state)
{
	(void)state;
	enum { DIM = 40, ROWS = 500, MAXK = 30 };
	eng_pairset a, b;
	eng_err err = {0};
	assert_int_equal(eng_pairset_init(&a, DIM, 0, &err), 0);
	assert_int_equal(eng_pairset_init(&b, DIM, 0, &err), 0);
	uint64_t x = 12345;
	size_t dropped_any = 0;
	for (int r = 0; r < ROWS; r++) {
		uint32_t c[MAXK], cc[MAXK];
		float v[MAXK], cv[MAXK];
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		size_t k = (size_t)(x >> 33) % MAXK;
		double ref[DIM] = {0};
		for (size_t j = 0; j < k; j++) {
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
			c[j] = (uint32_t)((x >> 33) % DIM);
			/* small integers: every summation order gives the exact sum */
			v[j] = (float)((int)((x >> 20) % 7) - 3);
			ref[c[j]] += v[j];
		}
		memcpy(cc, c, sizeof c);
		memcpy(cv, v, sizeof v);
		size_t kc = eng_pairset_canon_row(cc, cv, k);
		dropped_any += kc < k;
		/* canonical: strictly increasing, no zeros, equal to the naive sum */
		size_t nz = 0;
		for (int q = 0; q < DIM; q++)
			nz += ref[q] != 0;
		assert_int_equal(kc, nz);
		for (size_t j = 0; j < kc; j++) {
			assert_true(j == 0 || cc[j - 1] < cc[j]);
			assert_true(cv[j] != 0);
			assert_true((double)cv[j] == ref[cc[j]]);
		}
		/* a fixed point */
		uint32_t c2[MAXK];
		float v2[MAXK];
		memcpy(c2, cc, sizeof cc);
		memcpy(v2, cv, sizeof cv);
		assert_int_equal(eng_pairset_canon_row(c2, v2, kc), kc);
		assert_memory_equal(c2, cc, kc * sizeof *cc);
		assert_memory_equal(v2, cv, kc * sizeof *cv);
		assert_int_equal(eng_pairset_add_row(&a, c, v, k, r % 3 - 1, &err), 0);
		assert_int_equal(eng_pairset_add_row(&b, cc, cv, kc, r % 3 - 1, &err), 0);
	}
	assert_true(dropped_any > 0);
	assert_int_equal(a.n, b.n);
	assert_int_equal(a.nnz, b.nnz);
	assert_memory_equal(a.rowptr, b.rowptr, (a.n + 1) * sizeof *a.rowptr);
	assert_memory_equal(a.col, b.col, a.nnz * sizeof *a.col);
	assert_memory_equal(a.val, b.val, a.nnz * sizeof *a.val);
	assert_memory_equal(a.img_of, b.img_of, a.n * sizeof *a.img_of);
	eng_pairset_free(&a);
	eng_pairset_free(&b);
}

/* ---- eng_textfeat_merge_names ---------------------------------------------------------------- */

static eng_textfeat *small_tf(int bits)
{
	eng_textfeat_opts o;
	eng_textfeat_opts_default(&o);
	o.hash_bits = bits;
	o.bigrams = 0;
	eng_textfeat *tf = NULL;
	eng_err err = {0};
	assert_int_equal(eng_textfeat_new(&o, &tf, &err), 0);
	return tf;
}

/* Feeds text as a chosen answer (names are voted for every response text). */
static void feed(eng_textfeat *tf, const char *text)
{
	uint32_t *col;
	float *val;
	size_t k;
	eng_err err = {0};
	assert_int_equal(eng_textfeat_pair_row(tf, NULL, text, "", &col, &val, &k, &err), 0);
}

/* n words other than "alpha" whose bucket is alpha's (hash_bits 4). */
static void colliders(const eng_textfeat *tf, char (*out)[16], int n)
{
	uint32_t ba = bucket(tf, "alpha");
	int found = 0;
	for (int i = 0; i < 100000 && found < n; i++) {
		char w[16];
		snprintf(w, sizeof w, "w%d", i);
		if (bucket(tf, w) == ba)
			strcpy(out[found++], w);
	}
	assert_int_equal(found, n);
}

static void test_textfeat_merge_names_majority(void **state)
{
	(void)state;
	eng_textfeat *a = small_tf(4), *b = small_tf(4);
	uint32_t ba = bucket(a, "alpha");
	char o[2][16];
	colliders(a, o, 2);
	char text[256], buf[64];
	/* A: alpha x3. B: alpha x2 and 3 others, ending on another word: alone B's vote is not
	 * alpha, but alpha holds 5 of the 8 occurrences over both */
	feed(a, "alpha alpha alpha");
	snprintf(text, sizeof text, "alpha %s alpha %s %s %s", o[0], o[1], o[1], o[1]);
	feed(b, text);
	char bname[64];
	snprintf(bname, sizeof bname, "word '%s'", o[1]);
	assert_string_equal(eng_textfeat_name(b, ba, buf, sizeof buf), bname);
	assert_string_equal(eng_textfeat_name(a, ba, buf, sizeof buf), "word 'alpha'");
	eng_textfeat_merge_names(a, b);
	assert_string_equal(eng_textfeat_name(a, ba, buf, sizeof buf), "word 'alpha'");
	uint64_t h = eng_fnv1a64("alpha", 5);
	assert_int_equal(eng_textfeat_sign(a, ba), (h >> 63) ? -1 : 1);
	/* the other direction: B's majority-less vote loses to A's alpha */
	eng_textfeat *a2 = small_tf(4);
	feed(a2, "alpha alpha alpha");
	eng_textfeat_merge_names(b, a2);
	assert_string_equal(eng_textfeat_name(b, ba, buf, sizeof buf), "word 'alpha'");
	/* the majority is B's: A's alpha x1 against B's other word x4 */
	eng_textfeat *a3 = small_tf(4), *b3 = small_tf(4);
	feed(a3, "alpha");
	snprintf(text, sizeof text, "%s %s %s alpha %s", o[0], o[0], o[0], o[0]);
	feed(b3, text);
	eng_textfeat_merge_names(a3, b3);
	snprintf(bname, sizeof bname, "word '%s'", o[0]);
	assert_string_equal(eng_textfeat_name(a3, ba, buf, sizeof buf), bname);
	eng_textfeat_free(a);
	eng_textfeat_free(b);
	eng_textfeat_free(a2);
	eng_textfeat_free(a3);
	eng_textfeat_free(b3);
}

/* Random streams of 4 words sharing one bucket, split at a random point between two featurizers:
 * whenever one word holds more than half of all occurrences, the merged name is that word. */
static void test_textfeat_merge_names_majority_random(void **state)
{
	(void)state;
	char w[4][16];
	eng_textfeat *probe = small_tf(4);
	strcpy(w[0], "alpha");
	colliders(probe, w + 1, 3);
	uint32_t ba = bucket(probe, "alpha");
	eng_textfeat_free(probe);
	uint64_t x = 99;
	int checked = 0;
	for (int trial = 0; trial < 400; trial++) {
		eng_textfeat *a = small_tf(4), *b = small_tf(4);
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		int n = 1 + (int)((x >> 33) % 30), cut = (int)((x >> 45) % (uint64_t)(n + 1));
		int bias = (int)((x >> 20) % 4), cnt[4] = {0};
		char ta[1024] = "", tb[1024] = "";
		for (int i = 0; i < n; i++) {
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
			int r = (int)((x >> 33) % 8);
			int q = r < 4 ? bias : r - 4; /* the biased word often has a majority */
			cnt[q]++;
			char *t = i < cut ? ta : tb;
			strcat(t, w[q]);
			strcat(t, " ");
		}
		feed(a, ta);
		feed(b, tb);
		eng_textfeat_merge_names(a, b);
		for (int q = 0; q < 4; q++) {
			if (2 * cnt[q] > n) {
				char want[64], buf[64];
				snprintf(want, sizeof want, "word '%s'", w[q]);
				assert_string_equal(eng_textfeat_name(a, ba, buf, sizeof buf),
				                    want);
				checked++;
			}
		}
		eng_textfeat_free(a);
		eng_textfeat_free(b);
	}
	assert_true(checked > 100);
}

/* Merging into a featurizer that saw nothing gives the source's names and signs (as if the
 * source's texts had come after nothing), also for a bucket whose vote count ended at zero;
 * merging one that saw nothing changes nothing. */
static void test_textfeat_merge_names_empty(void **state)
{
	(void)state;
	eng_textfeat *src = small_tf(10), *dst = small_tf(10), *none = small_tf(10);
	char buf[64], buf2[64], want[64], text[64];
	feed(src, "The quick brown fox jumps over the lazy dog; the dog sleeps, the fox runs.");
	feed(src, "Certainly! Here is a list:\n- one\n- two\n- three and four");
	/* two words sharing a bucket src has not seen yet */
	static int first[1024];
	memset(first, -1, sizeof first);
	int w0 = -1, w1 = -1;
	uint32_t ba = 0;
	for (int i = 0; i < 100000 && w1 < 0; i++) {
		snprintf(text, sizeof text, "w%d", i);
		uint32_t bk = bucket(src, text);
		if (eng_textfeat_sign(src, bk) != 0)
			continue;
		if (first[bk] < 0) {
			first[bk] = i;
		} else {
			w0 = first[bk];
			w1 = i;
			ba = bk;
		}
	}
	assert_true(w1 >= 0);
	/* that bucket: two words once each, so its vote count ends at 0 but it has a name */
	snprintf(text, sizeof text, "w%d w%d", w0, w1);
	feed(src, text);
	snprintf(want, sizeof want, "word 'w%d'", w0);
	assert_string_equal(eng_textfeat_name(src, ba, buf, sizeof buf), want);
	uint32_t dim = eng_textfeat_dim(src);
	eng_textfeat_merge_names(dst, src);
	for (uint32_t c = 0; c < dim; c++) {
		assert_string_equal(eng_textfeat_name(dst, c, buf, sizeof buf),
		                    eng_textfeat_name(src, c, buf2, sizeof buf2));
		assert_int_equal(eng_textfeat_sign(dst, c), eng_textfeat_sign(src, c));
	}
	/* and dst now votes on exactly as src would */
	feed(src, "fox fox fox dog");
	feed(dst, "fox fox fox dog");
	for (uint32_t c = 0; c < dim; c++)
		assert_string_equal(eng_textfeat_name(dst, c, buf, sizeof buf),
		                    eng_textfeat_name(src, c, buf2, sizeof buf2));
	/* merging a featurizer that saw nothing changes nothing */
	eng_textfeat_merge_names(src, none);
	for (uint32_t c = 0; c < dim; c++) {
		assert_string_equal(eng_textfeat_name(dst, c, buf, sizeof buf),
		                    eng_textfeat_name(src, c, buf2, sizeof buf2));
		assert_int_equal(eng_textfeat_sign(dst, c), eng_textfeat_sign(src, c));
	}
	/* empty into empty: still no names */
	eng_textfeat *e2 = small_tf(10);
	eng_textfeat_merge_names(e2, none);
	snprintf(want, sizeof want, "bucket %u (no n-gram seen)", (unsigned)ba);
	assert_string_equal(eng_textfeat_name(e2, ba, buf, sizeof buf), want);
	assert_int_equal(eng_textfeat_sign(e2, ba), 0);
	eng_textfeat_free(e2);
	eng_textfeat_free(src);
	eng_textfeat_free(dst);
	eng_textfeat_free(none);
}

/* ---- eng_textfeat_namer: exact names ----------------------------------------------------------
 */

static eng_textfeat_namer *namer_of(const eng_textfeat *tf, uint32_t c)
{
	eng_textfeat_namer *nm = NULL;
	eng_err err = {0};
	assert_int_equal(eng_textfeat_namer_new(tf, &c, 1, &nm, &err), 0);
	return nm;
}

static void namer_feed(eng_textfeat_namer *nm, const char *text)
{
	eng_err err = {0};
	assert_int_equal(eng_textfeat_namer_add_pair(nm, NULL, text, "", &err), 0);
}

/* Four words share alpha's bucket (hash_bits 4). Fed one occurrence at a time in the order
 * c c a b a b a d d, a holds 3 of 9 (no majority): the streaming vote ends on d, the exact count
 * names a. Counts are sums: any order, any split into namers merged, gives a. */
static void test_textfeat_namer_exact_beats_vote(void **state)
{
	(void)state;
	eng_textfeat *tf = small_tf(4);
	char w[4][16];
	strcpy(w[0], "alpha");
	colliders(tf, w + 1, 3);
	const char *a = w[0], *b = w[1], *c = w[2], *d = w[3];
	const char *order[9] = {c, c, a, b, a, b, a, d, d};
	uint32_t ba = bucket(tf, "alpha");
	eng_textfeat_namer *nm = namer_of(tf, ba);
	for (int i = 0; i < 9; i++) {
		feed(tf, order[i]);
		namer_feed(nm, order[i]);
	}
	char buf[64], want[64], vote[64];
	snprintf(want, sizeof want, "word '%s'", a);
	snprintf(vote, sizeof vote, "word '%s'", d);
	assert_string_equal(eng_textfeat_name(tf, ba, buf, sizeof buf), vote); /* the old rule */
	uint64_t n = 0;
	int sg = 0;
	assert_string_equal(eng_textfeat_namer_name(nm, ba, buf, sizeof buf, &n, &sg), want);
	assert_int_equal(n, 3);
	uint64_t h = eng_fnv1a64(a, strlen(a));
	assert_int_equal(sg, (h >> 63) ? -1 : 1);
	/* reversed, and split over two namers merged: the same */
	eng_textfeat_namer *r1 = namer_of(tf, ba), *r2 = namer_of(tf, ba);
	for (int i = 8; i >= 0; i--)
		namer_feed(i % 2 ? r1 : r2, order[i]);
	eng_err err = {0};
	assert_int_equal(eng_textfeat_namer_merge(r1, r2, &err), 0);
	assert_string_equal(eng_textfeat_namer_name(r1, ba, buf, sizeof buf, &n, NULL), want);
	assert_int_equal(n, 3);
	/* one text holding all nine occurrences: the same */
	eng_textfeat_namer *one = namer_of(tf, ba);
	char all[128] = "";
	for (int i = 0; i < 9; i++)
		snprintf(all + strlen(all), sizeof all - strlen(all), "%s ", order[i]);
	namer_feed(one, all);
	assert_string_equal(eng_textfeat_namer_name(one, ba, buf, sizeof buf, &n, NULL), want);
	/* a column not asked for, and a bucket nothing fell into */
	uint32_t other = (ba + 1) % 16;
	assert_non_null(
	    strstr(eng_textfeat_namer_name(one, other, buf, sizeof buf, &n, &sg), "not counted"));
	assert_int_equal(sg, 0);
	eng_textfeat_namer *empty = namer_of(tf, ba);
	assert_non_null(
	    strstr(eng_textfeat_namer_name(empty, ba, buf, sizeof buf, &n, &sg), "no n-gram seen"));
	assert_int_equal(n, 0);
	eng_textfeat_namer_free(empty);
	eng_textfeat_namer_free(one);
	eng_textfeat_namer_free(r1);
	eng_textfeat_namer_free(r2);
	eng_textfeat_namer_free(nm);
	eng_textfeat_namer_free(NULL);
	eng_textfeat_free(tf);
}

/* Ties go to the smaller byte string (memcmp), whatever came first. */
static void test_textfeat_namer_ties(void **state)
{
	(void)state;
	eng_textfeat *tf = small_tf(4);
	char w[4][16];
	strcpy(w[0], "alpha");
	colliders(tf, w + 1, 3);
	/* the smallest and largest of the four by memcmp */
	int lo = 0, hi = 0;
	for (int i = 1; i < 4; i++) {
		if (strcmp(w[i], w[lo]) < 0)
			lo = i;
		if (strcmp(w[i], w[hi]) > 0)
			hi = i;
	}
	uint32_t ba = bucket(tf, "alpha");
	char buf[64], want[64];
	for (int first = 0; first < 2; first++) { /* largest first, then smallest first */
		eng_textfeat_namer *nm = namer_of(tf, ba);
		const char *x = first ? w[lo] : w[hi], *y = first ? w[hi] : w[lo];
		namer_feed(nm, x);
		namer_feed(nm, y);
		namer_feed(nm, y);
		namer_feed(nm, x);
		snprintf(want, sizeof want, "word '%s'", w[lo]);
		assert_string_equal(eng_textfeat_namer_name(nm, ba, buf, sizeof buf, NULL, NULL),
		                    want);
		/* one more of the larger one: now it wins */
		namer_feed(nm, w[hi]);
		snprintf(want, sizeof want, "word '%s'", w[hi]);
		assert_string_equal(eng_textfeat_namer_name(nm, ba, buf, sizeof buf, NULL, NULL),
		                    want);
		eng_textfeat_namer_free(nm);
	}
	eng_textfeat_free(tf);
	/* bigrams and crosses, with all 16 buckets asked for: every name hashes to its bucket */
	eng_textfeat_opts o;
	eng_textfeat_opts_default(&o);
	o.hash_bits = 4;
	o.crosses = 1;
	eng_textfeat *t2 = NULL;
	eng_err err = {0};
	assert_int_equal(eng_textfeat_new(&o, &t2, &err), 0);
	uint32_t cols[16];
	for (uint32_t c = 0; c < 16; c++)
		cols[c] = c;
	eng_textfeat_namer *nm = NULL;
	assert_int_equal(eng_textfeat_namer_new(t2, cols, 16, &nm, &err), 0);
	assert_int_equal(eng_textfeat_namer_add_pair(nm, "Why", "Certainly so", "no", &err), 0);
	/* every n-gram counted once (why|certainly, why|so, why|no, certainly, so, no,
	 * "certainly so"); each named bucket's name hashes to it */
	int named = 0;
	for (uint32_t c = 0; c < 16; c++) {
		uint64_t n;
		eng_textfeat_namer_name(nm, c, buf, sizeof buf, &n, NULL);
		if (!n)
			continue;
		named++;
		const char *q = strchr(buf, '\'');
		assert_non_null(q);
		if (strncmp(buf, "cross", 5) == 0) {
			char pr[32], re[32];
			assert_int_equal(
			    sscanf(buf, "cross prompt '%31[^']' x response '%31[^']'", pr, re), 2);
			char joined[64];
			snprintf(joined, sizeof joined, "%s|%s", pr, re);
			assert_int_equal(bucket(t2, joined), c);
		} else {
			char ng[64];
			assert_int_equal(sscanf(q + 1, "%63[^']", ng), 1);
			assert_int_equal(bucket(t2, ng), c);
		}
	}
	assert_true(named >= 4);
	eng_textfeat_namer_free(nm);
	eng_textfeat_free(t2);
}

static void test_textfeat_rows_ignore_names(void **state)
{
	(void)state;
	eng_err err = {0};
	eng_textfeat_opts o;
	eng_textfeat_opts_default(&o);
	o.hash_bits = 10;
	o.crosses = 1;
	eng_textfeat *fresh = NULL, *used = NULL, *other = NULL;
	assert_int_equal(eng_textfeat_new(&o, &fresh, &err), 0);
	assert_int_equal(eng_textfeat_new(&o, &used, &err), 0);
	assert_int_equal(eng_textfeat_new(&o, &other, &err), 0);
	for (int i = 0; i < 200; i++) {
		char t[128];
		snprintf(t, sizeof t, "word%d and word%d, sorry! **bold** %d", i % 37, i % 11, i);
		uint32_t *c;
		float *v;
		size_t k;
		assert_int_equal(eng_textfeat_pair_row(used, "q", t, "no", &c, &v, &k, &err), 0);
		assert_int_equal(eng_textfeat_pair_row(other, t, "x y z", t, &c, &v, &k, &err), 0);
	}
	eng_textfeat_merge_names(used, other);
	const char *pairs[][3] = {
	    {"What is 2+2?", "It is 4. Certainly!", "I think it might be 5, sorry."},
	    {NULL, "- a\n- b\n# head", ""},
	    {"Describe the image", "A red car parked on the street near the word0 sign.",
	     "A blue bus."},
	    {"", "", ""},
	};
	for (size_t p = 0; p < sizeof pairs / sizeof pairs[0]; p++) {
		uint32_t *c1, *c2;
		float *v1, *v2;
		size_t k1, k2;
		assert_int_equal(eng_textfeat_pair_row(fresh, pairs[p][0], pairs[p][1], pairs[p][2],
		                                       &c1, &v1, &k1, &err),
		                 0);
		k1 = eng_pairset_canon_row(c1, v1, k1);
		uint32_t sc[4096];
		float sv[4096];
		assert_true(k1 <= 4096);
		memcpy(sc, c1, k1 * sizeof *c1);
		memcpy(sv, v1, k1 * sizeof *v1);
		assert_int_equal(eng_textfeat_pair_row(used, pairs[p][0], pairs[p][1], pairs[p][2],
		                                       &c2, &v2, &k2, &err),
		                 0);
		k2 = eng_pairset_canon_row(c2, v2, k2);
		assert_int_equal(k1, k2);
		assert_memory_equal(sc, c2, k1 * sizeof *c2);
		assert_memory_equal(sv, v2, k1 * sizeof *v2);
		assert_true(p == 3 || k1 > 0);
	}
	eng_textfeat_free(fresh);
	eng_textfeat_free(used);
	eng_textfeat_free(other);
}

/* The pair row made in column order equals the naive one: phi(chosen) and -phi(rejected) entry
 * by entry, the named differences, through eng_pairset_canon_row (bit for bit), for texts with
 * shared and cancelling n-grams, and several bucket counts (collisions at 2^4). */
static void test_textfeat_pair_row_canonical(void **state)
{
	(void)state;
	static const char *const words[] = {
	    "a",     "b", "the", "red", "Certainly", "sorry", "I", "don't",      "caf\xc3\xa9",
	    "**x**", "-", "1.",  "\n",  "might",     "x",     "?", "http://a.b", "``"};
	enum { NW = sizeof words / sizeof words[0], CAP = 8192 };
	static uint32_t rc[CAP];
	static float rv[CAP];
	eng_err err = {0};
	uint64_t x = 12345;
	int bits[] = {4, 10, 18};
	for (int bi = 0; bi < 3; bi++) {
		eng_textfeat_opts o;
		eng_textfeat_opts_default(&o);
		o.hash_bits = bits[bi];
		o.crosses = bi == 1;
		eng_textfeat *tf = NULL;
		assert_int_equal(eng_textfeat_new(&o, &tf, &err), 0);
		uint32_t nb = 1u << bits[bi];
		for (int it = 0; it < 300; it++) {
			char t[2][512];
			for (int a = 0; a < 2; a++) {
				size_t n = 0;
				t[a][0] = '\0';
				int nw = (int)((x >> 7) % 40);
				for (int w = 0; w < nw; w++) {
					x ^= x << 13, x ^= x >> 7, x ^= x << 17;
					const char *wd = words[x % NW];
					n += (size_t)snprintf(t[a] + n, sizeof t[a] - n, "%s ", wd);
				}
			}
			if (it % 7 == 0) /* the same text both sides: everything cancels */
				memcpy(t[1], t[0], sizeof t[0]);
			/* naive: phi of each answer, the rejected one negated, then canon_row */
			size_t k = 0;
			float named[64] = {0};
			for (int a = 0; a < 2; a++) {
				uint32_t *c;
				float *v;
				size_t m;
				assert_int_equal(
				    eng_textfeat_phi(tf, "the prompt", t[a], &c, &v, &m, &err), 0);
				for (size_t j = 0; j < m; j++) {
					if (c[j] >= nb) {
						named[c[j] - nb] =
						    a ? named[c[j] - nb] - v[j] : v[j];
						continue;
					}
					assert_true(k < CAP);
					rc[k] = c[j];
					rv[k++] = a ? -v[j] : v[j];
				}
			}
			k = eng_pairset_canon_row(rc, rv, k);
			for (int j = 0; j < eng_textfeat_named_count(); j++)
				if (named[j] != 0) {
					rc[k] = nb + (uint32_t)j;
					rv[k++] = named[j];
				}
			uint32_t *c;
			float *v;
			size_t m;
			assert_int_equal(
			    eng_textfeat_pair_row(tf, "the prompt", t[0], t[1], &c, &v, &m, &err),
			    0);
			assert_int_equal(m, k);
			assert_memory_equal(c, rc, k * sizeof *c);
			assert_memory_equal(v, rv, k * sizeof *v);
			assert_int_equal(eng_pairset_canon_row(c, v, m), m);
		}
		eng_textfeat_free(tf);
	}
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
	    cmocka_unit_test(test_textfeat_canon_row),
	    cmocka_unit_test(test_textfeat_canon_row_matches_add_row),
	    cmocka_unit_test(test_textfeat_canon_row_long),
	    cmocka_unit_test(test_textfeat_merge_names_majority),
	    cmocka_unit_test(test_textfeat_merge_names_majority_random),
	    cmocka_unit_test(test_textfeat_merge_names_empty),
	    cmocka_unit_test(test_textfeat_rows_ignore_names),
	    cmocka_unit_test(test_textfeat_namer_exact_beats_vote),
	    cmocka_unit_test(test_textfeat_namer_ties),
	    cmocka_unit_test(test_textfeat_pair_row_canonical),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
