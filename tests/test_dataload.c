/* test_dataload.c - eng_data_load featurizes rows on two lanes (batches of 1024 rows, batch b on
 * lane b mod 2, names merged at the end): every row must equal what one fresh featurizer gives
 * for the same pair read back from SQLite, per-row facts must match their definitions, and two
 * loads must agree on everything, names included; the load without votes gives the same rows.
 * Fixtures are generated here (two datasets, 3500 text-only pairs: four batches, one of them
 * spanning both datasets). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "dataload.h"
#include "workspace_sql.h"
#include "index.h"
#include "pairset.h"
#include "textfeat.h"
#include "textfeat_internal.h"
#include "workspace.h"
#include "safetext.h"

enum { NA = 2000, NB = 1500 }; /* pairs of datasets a and b */

static char dir[64];

static uint64_t rng(uint64_t *x)
{
	*x = *x * 6364136223846793005ULL + 1442695040888963407ULL;
	return *x >> 33;
}

/* Appends a random answer of n words to f as a JSON string body (markdown, digits, UTF-8). */
static void answer(FILE *f, uint64_t *x, int n, int tag)
{
	static const char *const fixed[] = {"the",         "a",     "certainly", "sorry",   "maybe",
	                                    "image",       "shows", "red",       "car",     "I",
	                                    "caf\xc3\xa9", "don't", "42",        "**bold**"};
	if (rng(x) % 3 == 0)
		fputs("- ", f);
	for (int i = 0; i < n; i++) {
		uint64_t r = rng(x);
		if (r % 4 == 0)
			fprintf(f, "%s", fixed[r / 4 % (sizeof fixed / sizeof fixed[0])]);
		else
			fprintf(f, "w%x",
			        (unsigned)(r / 4 % 6000)); /* many rare words: collisions */
		if (i + 1 < n)
			fputs(r % 11 == 0 ? "\\n- " : r % 13 == 0 ? "\\n1. " : " ", f);
	}
	fprintf(f, " #%d", tag); /* every answer distinct */
}

static void write_dataset(const char *name, int n, uint64_t seed)
{
	char path[128];
	snprintf(path, sizeof path, "%s/%s.jsonl", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	uint64_t x = seed;
	for (int i = 0; i < n; i++) {
		fprintf(f, "{\"id\":\"%s%d\",\"prompt\":\"Question %d about w%x?\",\"chosen\":\"",
		        name, i, i % 700, (unsigned)(rng(&x) % 6000));
		/* chosen answers say "certainly" often, so its bucket has a clear majority name */
		if (i % 2 == 0)
			fputs("certainly ", f);
		answer(f, &x, 3 + (int)(rng(&x) % 25), 2 * i);
		fputs("\",\"rejected\":\"", f);
		answer(f, &x, 3 + (int)(rng(&x) % 25), 2 * i + 1);
		fputs("\"}\n", f);
	}
	fclose(f);
}

static eng_ws *ws;
static int64_t ids[2];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/mmaudit-dataload-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	write_dataset("a", NA, 1);
	write_dataset("b", NB, 2);
	eng_err err = {0};
	if (eng_ws_open(":memory:", &ws, &err))
		return -1;
	const char *names[2] = {"a", "b"};
	for (int k = 0; k < 2; k++) {
		char path[128];
		snprintf(path, sizeof path, "%s/%s.jsonl", dir, names[k]);
		eng_index_result res;
		if (eng_index_file(ws, names[k], path, NULL, &res, &err) || res.errors ||
		    res.pairs != (uint64_t)(k ? NB : NA))
			return -1;
		if (eng_ws_dataset_id(ws, names[k], &ids[k], &err))
			return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	eng_ws_close(ws);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd);
}

static int sgn(long long a, long long b)
{
	return a > b ? 1 : a < b ? -1 : 0;
}

/* Every row equals a fresh single featurizer's canonical row for the pair read back by id. */
static void test_dataload_rows_match_single_featurizer(void **state)
{
	(void)state;
	eng_data d;
	eng_err err = {0};
	assert_int_equal(eng_data_load(ws, ids, 2, NULL, ENG_FEATURES_BUILTIN, NULL, &d, &err), 0);
	assert_int_equal(d.ps.n, NA + NB);
	assert_int_equal(d.nds, 2);
	assert_int_equal(d.ds_begin[0], 0);
	assert_int_equal(d.ds_begin[1], NA);
	assert_int_equal(d.ds_begin[2], NA + NB);
	assert_string_equal(d.ds_name[0], "a");
	assert_string_equal(d.ds_name[1], "b");
	assert_true(d.ds_id[0] == ids[0] && d.ds_id[1] == ids[1]);
	eng_textfeat *tf = NULL;
	assert_int_equal(eng_textfeat_new(NULL, &tf, &err), 0);
	assert_int_equal(d.ps.text_dim, eng_textfeat_dim(tf));
	sqlite3_stmt *st = NULL;
	assert_int_equal(
	    sqlite3_prepare_v2(eng_ws_db(ws),
	                       "SELECT prompt, chosen, rejected, dataset_id FROM pairs "
	                       "WHERE id = ?1",
	                       -1, &st, NULL),
	    SQLITE_OK);
	size_t nonempty = 0, longer[3] = {0}, fmt[3] = {0};
	for (size_t r = 0; r < d.ps.n; r++) {
		size_t ds = r < NA ? 0 : 1;
		if (r > 0 && r != NA)
			assert_true(d.pair_id[r] >
			            d.pair_id[r - 1]); /* pair id order per dataset */
		sqlite3_bind_int64(st, 1, d.pair_id[r]);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		const char *p = (const char *)sqlite3_column_text(st, 0);
		const char *c = (const char *)sqlite3_column_text(st, 1);
		const char *j = (const char *)sqlite3_column_text(st, 2);
		assert_true(sqlite3_column_int64(st, 3) == ids[ds]);
		uint32_t *col;
		float *val;
		size_t k;
		assert_int_equal(eng_textfeat_pair_row(tf, p, c, j, &col, &val, &k, &err), 0);
		k = eng_pairset_canon_row(col, val, k);
		assert_int_equal(eng_pairset_row_len(&d.ps, r), k);
		size_t q = 0;
		for (eng_pairset_iter it = eng_pairset_row(&d.ps, r); eng_pairset_next(&it); q++) {
			assert_int_equal(it.c, col[q]);
			assert_memory_equal(&it.v, &val[q], sizeof it.v);
		}
		assert_int_equal(q, k);
		nonempty += k > 0;
		assert_int_equal(d.ps.img_of[r], -1);
		int lg = sgn((long long)eng_text_chars(c, strlen(c)),
		             (long long)eng_text_chars(j, strlen(j)));
		int fm = sgn(eng_format_markers(c), eng_format_markers(j));
		assert_int_equal(d.longer[r], lg);
		assert_int_equal(d.formatted[r], fm);
		longer[lg + 1]++;
		fmt[fm + 1]++;
		assert_true(d.prompt_key[r] == eng_fnv1a64(p, strlen(p)));
		assert_true(d.group[r] == d.prompt_key[r]); /* text-only: grouped by prompt */
		assert_true(d.img_key[r] == 0);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	assert_int_equal(nonempty, NA + NB);
	/* the facts take all their values (the fixture is not degenerate) */
	assert_true(longer[0] > 100 && longer[2] > 100);
	assert_true(fmt[0] > 100 && fmt[2] > 100 && fmt[1] > 10);
	eng_textfeat_free(tf);
	eng_data_free(&d);
}

/* Hashed column c's name ("word 'x'" / "bigram 'x y'") is an n-gram hashing to c. */
static int name_hashes_to(const eng_data *d, uint32_t c, const char *name)
{
	const char *q = strchr(name, '\'');
	const char *e = strrchr(name, '\'');
	if (!q || e <= q || strstr(name, "...'"))
		return 1; /* truncated names cannot be re-hashed */
	uint32_t b;
	int sg;
	eng_textfeat_bucket_of(d->tf, eng_fnv1a64(q + 1, (size_t)(e - q - 1)), &b, &sg);
	return b == c && sg == eng_textfeat_sign(d->tf, c);
}

/* Two loads agree exactly (rows, names, signs); every hashed column with an entry is named after
 * an n-gram of that bucket; the most frequent columns have sensible names. */
static void test_dataload_deterministic_and_named(void **state)
{
	(void)state;
	eng_data d1, d2;
	eng_err err = {0};
	assert_int_equal(eng_data_load(ws, ids, 2, NULL, ENG_FEATURES_BUILTIN, NULL, &d1, &err), 0);
	assert_int_equal(eng_data_load(ws, ids, 2, NULL, ENG_FEATURES_BUILTIN, NULL, &d2, &err), 0);
	assert_int_equal(d1.ps.n, d2.ps.n);
	assert_int_equal(d1.ps.nnz, d2.ps.nnz);
	assert_memory_equal(d1.ps.rowptr, d2.ps.rowptr, (d1.ps.n + 1) * sizeof *d1.ps.rowptr);
	assert_memory_equal(d1.ps.col, d2.ps.col, d1.ps.nnz * sizeof *d1.ps.col);
	assert_memory_equal(d1.ps.val, d2.ps.val, d1.ps.nnz * sizeof *d1.ps.val);
	assert_memory_equal(d1.pair_id, d2.pair_id, d1.ps.n * sizeof *d1.pair_id);
	uint32_t dim = d1.ps.text_dim, nb = dim - (uint32_t)eng_textfeat_named_count();
	uint32_t *count = calloc(dim, sizeof *count);
	assert_non_null(count);
	for (size_t r = 0; r < d1.ps.n; r++)
		for (eng_pairset_iter it = eng_pairset_row(&d1.ps, r); eng_pairset_next(&it);)
			count[it.c]++;
	char n1[128], n2[128];
	size_t used = 0;
	for (uint32_t c = 0; c < dim; c++) {
		eng_data_column_name(&d1, c, n1, sizeof n1);
		assert_string_equal(n1, eng_data_column_name(&d2, c, n2, sizeof n2));
		assert_int_equal(eng_textfeat_sign(d1.tf, c), eng_textfeat_sign(d2.tf, c));
		if (c < nb && count[c]) {
			/* a bucket with an entry had n-grams: it has a name and a sign */
			used++;
			assert_null(strstr(n1, "no n-gram seen"));
			assert_int_not_equal(eng_textfeat_sign(d1.tf, c), 0);
			assert_true(name_hashes_to(&d1, c, n1));
		}
	}
	assert_true(used > 1000);
	/* the top 50 columns by frequency: named, and "certainly" (in half the chosen answers)
	 * names its own bucket */
	for (int t = 0; t < 50; t++) {
		uint32_t best = 0;
		for (uint32_t c = 1; c < dim; c++)
			if (count[c] > count[best])
				best = c;
		assert_true(count[best] > 0);
		eng_data_column_name(&d1, best, n1, sizeof n1);
		assert_null(strstr(n1, "no n-gram seen"));
		assert_null(strstr(n1, "out of range"));
		count[best] = 0;
	}
	uint32_t bc;
	int sc;
	eng_textfeat_bucket_of(d1.tf, eng_fnv1a64("certainly", 9), &bc, &sc);
	assert_string_equal(eng_data_column_name(&d1, bc, n1, sizeof n1), "word 'certainly'");
	free(count);
	eng_data_free(&d1);
	eng_data_free(&d2);
}

/* Datasets in the other order, and one dataset alone: rows follow the requested order and equal
 * the rows of the two-dataset load (features do not depend on the lanes a row went through). */
static void test_dataload_order_and_subsets(void **state)
{
	(void)state;
	eng_data d, rev, one;
	eng_err err = {0};
	int64_t rids[2] = {ids[1], ids[0]};
	assert_int_equal(eng_data_load(ws, ids, 2, NULL, ENG_FEATURES_BUILTIN, NULL, &d, &err), 0);
	assert_int_equal(eng_data_load(ws, rids, 2, NULL, ENG_FEATURES_BUILTIN, NULL, &rev, &err),
	                 0);
	assert_int_equal(
	    eng_data_load(ws, ids + 1, 1, NULL, ENG_FEATURES_BUILTIN, NULL, &one, &err), 0);
	assert_int_equal(rev.ds_begin[1], NB);
	assert_int_equal(one.ps.n, NB);
	for (size_t r = 0; r < d.ps.n; r++) {
		size_t rr = r < NA ? r + NB : r - NA; /* the same pair in rev */
		assert_true(rev.pair_id[rr] == d.pair_id[r]);
		size_t b = d.ps.rowptr[r], k = d.ps.rowptr[r + 1] - b;
		size_t b2 = rev.ps.rowptr[rr];
		assert_int_equal(rev.ps.rowptr[rr + 1] - b2, k);
		assert_memory_equal(d.ps.col + b, rev.ps.col + b2, k * sizeof *d.ps.col);
		assert_memory_equal(d.ps.val + b, rev.ps.val + b2, k * sizeof(float));
		assert_int_equal(rev.longer[rr], d.longer[r]);
		assert_true(rev.prompt_key[rr] == d.prompt_key[r]);
		if (r >= NA) {
			size_t b3 = one.ps.rowptr[r - NA];
			assert_int_equal(one.ps.rowptr[r - NA + 1] - b3, k);
			assert_memory_equal(d.ps.col + b, one.ps.col + b3, k * sizeof *d.ps.col);
			assert_memory_equal(d.ps.val + b, one.ps.val + b3, k * sizeof(float));
		}
	}
	/* an unknown dataset id: ENG_EINPUT, nothing left allocated (ASan) */
	int64_t bad[2] = {ids[0], 999999};
	eng_data x;
	assert_int_equal(eng_data_load(ws, bad, 2, NULL, ENG_FEATURES_BUILTIN, NULL, &x, &err),
	                 ENG_EINPUT);
	assert_non_null(strstr(err.msg, "999999"));
	eng_data_free(&x);
	eng_data_free(&d);
	eng_data_free(&rev);
	eng_data_free(&one);
}

/* ---- exact names ------------------------------------------------------------------------------
 * An independent reference: the tokenizer rule of textfeat.c written out naively, every unigram
 * and bigram occurrence of dataset b's answers collected as a string, sorted, counted; a bucket's
 * name is its most frequent n-gram, ties to the smaller bytes. */

static int ref_word_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c >= 0x80;
}

typedef struct ref_list {
	char **s;
	size_t n, cap;
} ref_list;

static void ref_push(ref_list *l, const char *a, size_t na, const char *b, size_t nb)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 1024;
		l->s = realloc(l->s, l->cap * sizeof *l->s);
		assert_non_null(l->s);
	}
	char *x = malloc(na + nb + 2);
	assert_non_null(x);
	memcpy(x, a, na);
	x[na] = '\0';
	if (b) {
		x[na] = ' ';
		memcpy(x + na + 1, b, nb);
		x[na + 1 + nb] = '\0';
	}
	l->s[l->n++] = x;
}

static void ref_text(ref_list *l, const char *text)
{
	size_t n = strlen(text), nt = 0;
	char *low = malloc(n + 1);
	size_t *off = malloc((n + 1) * sizeof *off), *len = malloc((n + 1) * sizeof *len);
	assert_true(low && off && len);
	for (size_t i = 0; i <= n; i++)
		low[i] = (char)(text[i] >= 'A' && text[i] <= 'Z' ? text[i] + 32 : text[i]);
	for (size_t i = 0; i < n;) {
		if (!ref_word_byte((unsigned char)low[i])) {
			i++;
			continue;
		}
		size_t s0 = i;
		while (i < n && (ref_word_byte((unsigned char)low[i]) ||
		                 (low[i] == '\'' && ref_word_byte((unsigned char)low[i + 1]))))
			i++;
		off[nt] = s0;
		len[nt++] = i - s0;
	}
	for (size_t t = 0; t < nt; t++) {
		ref_push(l, low + off[t], len[t], NULL, 0);
		if (t + 1 < nt)
			ref_push(l, low + off[t], len[t], low + off[t + 1], len[t + 1]);
	}
	free(low);
	free(off);
	free(len);
}

static int ref_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Exact names do not depend on the load (datasets in either order: other batches, other lanes,
 * other vote names), match the naive reference for every bucket, and differ from the streaming
 * vote's where no n-gram holds a majority (hash_bits 10: many n-grams per bucket). */
static void test_dataload_exact_names_any_order(void **state)
{
	(void)state;
	eng_textfeat_opts o;
	eng_textfeat_opts_default(&o);
	o.hash_bits = 10;
	eng_data d, rev, one;
	eng_err err = {0};
	int64_t rids[2] = {ids[1], ids[0]};
	assert_int_equal(eng_data_load(ws, ids, 2, &o, ENG_FEATURES_BUILTIN, NULL, &d, &err), 0);
	assert_int_equal(eng_data_load(ws, ids + 1, 1, &o, ENG_FEATURES_BUILTIN, NULL, &one, &err),
	                 0);
	assert_int_equal(eng_data_load(ws, rids, 2, &o, ENG_FEATURES_BUILTIN, NULL, &rev, &err), 0);
	enum { NBK = 1024 };
	uint32_t cols[NBK + 1];
	for (uint32_t c = 0; c <= NBK; c++)
		cols[c] = c; /* every bucket, and the first named column (ignored) */
	assert_true(eng_data_column_hashed(&d, NBK - 1));
	assert_false(eng_data_column_hashed(&d, NBK));
	eng_textfeat_namer *n1 = NULL, *n2 = NULL;
	assert_int_equal(eng_data_namer(ws, &d, 1, cols, NBK + 1, &n1, &err), 0);
	assert_int_equal(eng_data_namer(ws, &rev, 0, cols, NBK + 1, &n2, &err), 0);
	/* the reference over dataset b */
	ref_list l = {0};
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(eng_ws_db(ws),
	                                    "SELECT chosen, rejected FROM pairs WHERE dataset_id "
	                                    "= ?1",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	sqlite3_bind_int64(st, 1, ids[1]);
	size_t rows = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		ref_text(&l, (const char *)sqlite3_column_text(st, 0));
		ref_text(&l, (const char *)sqlite3_column_text(st, 1));
		rows++;
	}
	sqlite3_finalize(st);
	assert_int_equal(rows, NB);
	qsort(l.s, l.n, sizeof *l.s, ref_cmp);
	const char *best[NBK] = {0};
	size_t best_n[NBK] = {0};
	for (size_t i = 0; i < l.n;) {
		size_t j = i;
		while (j < l.n && strcmp(l.s[j], l.s[i]) == 0)
			j++;
		uint32_t b = (uint32_t)(eng_fnv1a64(l.s[i], strlen(l.s[i])) & (NBK - 1));
		/* sorted: the first of equal counts is the smaller string */
		if (j - i > best_n[b]) {
			best_n[b] = j - i;
			best[b] = l.s[i];
		}
		i = j;
	}
	char a1[128], a2[128], want[128], vote[128];
	int differ = 0, named = 0;
	for (uint32_t c = 0; c < NBK; c++) {
		uint64_t k1, k2;
		eng_textfeat_namer_name(n1, c, a1, sizeof a1, &k1, NULL);
		eng_textfeat_namer_name(n2, c, a2, sizeof a2, &k2, NULL);
		assert_string_equal(a1, a2);
		assert_int_equal(k1, k2);
		assert_int_equal(k1, best_n[c]);
		if (!best[c])
			continue;
		named++;
		snprintf(want, sizeof want, "%s '%.24s%s'",
		         strchr(best[c], ' ') ? "bigram" : "word", best[c],
		         strlen(best[c]) > 24 ? "..." : "");
		if (strlen(best[c]) <= 24) /* (cut names: the UTF-8 boundary rule, see textfeat) */
			assert_string_equal(a1, want);
		eng_data_column_name(&one, c, vote, sizeof vote); /* voted over b alone */
		differ += strcmp(vote, a1) != 0;
	}
	assert_int_equal(named, NBK);
	assert_true(differ > 10); /* the streaming vote names many buckets otherwise */
	for (size_t i = 0; i < l.n; i++)
		free(l.s[i]);
	free(l.s);
	eng_textfeat_namer_free(n1);
	eng_textfeat_namer_free(n2);
	eng_data_free(&d);
	eng_data_free(&rev);
	eng_data_free(&one);
}

/* The load without votes (score, crossdist, train) gives the voted load's rows, keys and facts
 * bit for bit and the same exact names; only the provisional names are absent. */
static void test_dataload_unvoted_same_rows(void **state)
{
	(void)state;
	eng_data v, u;
	eng_err err = {0};
	assert_int_equal(eng_data_load(ws, ids, 2, NULL, ENG_FEATURES_BUILTIN, NULL, &v, &err), 0);
	assert_int_equal(
	    eng_data_load_unvoted(ws, ids, 2, NULL, ENG_FEATURES_BUILTIN, NULL, &u, &err), 0);
	size_t n = v.ps.n;
	assert_int_equal(u.ps.n, n);
	assert_int_equal(u.ps.nnz, v.ps.nnz);
	assert_int_equal(u.ps.text_dim, v.ps.text_dim);
	assert_memory_equal(u.ps.rowptr, v.ps.rowptr, (n + 1) * sizeof *v.ps.rowptr);
	assert_memory_equal(u.ps.col, v.ps.col, v.ps.nnz * sizeof *v.ps.col);
	assert_memory_equal(u.ps.val, v.ps.val, v.ps.nnz * sizeof *v.ps.val);
	assert_memory_equal(u.ps.img_of, v.ps.img_of, n * sizeof *v.ps.img_of);
	assert_memory_equal(u.pair_id, v.pair_id, n * sizeof *v.pair_id);
	assert_memory_equal(u.group, v.group, n * sizeof *v.group);
	assert_memory_equal(u.prompt_key, v.prompt_key, n * sizeof *v.prompt_key);
	assert_memory_equal(u.answer_key, v.answer_key, n * sizeof *v.answer_key);
	assert_memory_equal(u.longer, v.longer, n);
	assert_memory_equal(u.formatted, v.formatted, n);
	assert_memory_equal(u.chosen_chars, v.chosen_chars, n * sizeof *v.chosen_chars);
	assert_memory_equal(u.rejected_chars, v.rejected_chars, n * sizeof *v.rejected_chars);
	assert_memory_equal(u.ds_begin, v.ds_begin, 3 * sizeof *v.ds_begin);
	/* exact names agree; the provisional ones are absent without votes */
	enum { NC = 64 };
	uint32_t cols[NC];
	size_t nnz_a = 0, q = 0, got = 0; /* columns of dataset a's rows, evenly spaced */
	for (size_t r = 0; r < v.ds_begin[1]; r++)
		nnz_a += eng_pairset_row_len(&v.ps, r);
	for (size_t r = 0; r < v.ds_begin[1] && got < NC; r++)
		for (eng_pairset_iter it = eng_pairset_row(&v.ps, r);
		     got < NC && eng_pairset_next(&it); q++)
			if (q == got * (nnz_a / NC))
				cols[got++] = it.c;
	assert_int_equal(got, NC);
	eng_textfeat_namer *nv = NULL, *nu = NULL;
	assert_int_equal(eng_data_namer(ws, &v, 0, cols, NC, &nv, &err), 0);
	assert_int_equal(eng_data_namer(ws, &u, 0, cols, NC, &nu, &err), 0);
	char a[128], b[128];
	size_t hashed = 0;
	for (uint32_t i = 0; i < NC; i++) {
		if (!eng_data_column_hashed(&v, cols[i]))
			continue;
		hashed++;
		uint64_t kv, ku;
		eng_textfeat_namer_name(nv, cols[i], a, sizeof a, &kv, NULL);
		eng_textfeat_namer_name(nu, cols[i], b, sizeof b, &ku, NULL);
		assert_string_equal(a, b);
		assert_true(kv == ku && kv > 0);
		assert_non_null(
		    strstr(eng_data_column_name(&u, cols[i], b, sizeof b), "no n-gram"));
		assert_null(strstr(eng_data_column_name(&v, cols[i], a, sizeof a), "no n-gram"));
	}
	assert_true(hashed > NC / 2);
	eng_textfeat_namer_free(nv);
	eng_textfeat_namer_free(nu);
	eng_data_free(&v);
	eng_data_free(&u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dataload_rows_match_single_featurizer),
	    cmocka_unit_test(test_dataload_deterministic_and_named),
	    cmocka_unit_test(test_dataload_order_and_subsets),
	    cmocka_unit_test(test_dataload_exact_names_any_order),
	    cmocka_unit_test(test_dataload_unvoted_same_rows),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
