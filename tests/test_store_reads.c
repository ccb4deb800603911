/* test_store_reads.c - the store's reads for reports/ (engine/store): newest done run, run
 * metadata and metrics text, per-pair score rows (order, NULLs, the stop return), example cards
 * (one per duplicate group), input files, crossdist cells and metadata slices, on a fixture
 * inserted into a ":memory:" workspace. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "workspace.h"
#include "store_crossdist.h"
#include "store_datasets.h"
#include "store_examples.h"
#include "store_features.h"
#include "store_files.h"
#include "store_images.h"
#include "store_runs.h"
#include "store_scores.h"
#include "store_slices.h"

static void exec_ok(eng_ws *ws, const char *sql)
{
	eng_err err = {0};
	if (eng_ws_exec(ws, sql, &err))
		fail_msg("%s: %s", sql, err.msg);
}

/* Two datasets; dataset 1 has pairs 3, 1, 2 (inserted in that order; 1 and 2 one duplicate
 * group), dataset 2 pair 4. Run 1: score, done, both datasets; run 2: score, running (ignored);
 * run 3: crossdist, done. */
static eng_ws *fixture(void)
{
	eng_ws *ws = NULL;
	eng_err err = {0};
	assert_int_equal(eng_ws_open(":memory:", &ws, &err), 0);
	exec_ok(ws, "INSERT INTO datasets(id, name) VALUES (1, 'a'), (2, 'b');"
	            "INSERT INTO source_files(id, dataset_id, path, sha256, bytes, records, pairs,"
	            " errors) VALUES (1, 1, 'a.jsonl', 'aa', 10, 3, 3, 0),"
	            " (2, 2, 'b.jsonl', 'bb', 20, 1, 1, 1);"
	            "INSERT INTO ingest_errors(dataset_id, file_id, path, line, code, reason)"
	            " VALUES (2, 2, 'b.jsonl', 2, 'bad-json', 'x');"
	            "INSERT INTO images(id, sha256, width, height, format, bytes, source, thumb)"
	            " VALUES (7, 'cafe', 1, 1, 'png', 3, 'img/7.png', x'010203');"
	            "INSERT INTO pairs(id, dataset_id, file_id, line, ext_id, prompt, chosen,"
	            " rejected, image_id, meta, dup_group) VALUES"
	            " (3, 1, 1, 3, 'p3', 'q', 'chosen \xc3\xa9', 'r', NULL, '{\"lang\": \"en\"}',"
	            " NULL),"
	            " (1, 1, 1, 1, 'p1', 'q', 'c', 'r', 7, '{\"lang\": \"de\"}', 'g1'),"
	            " (2, 1, 1, 2, 'p2', 'q', 'c', 'r', 7, 'not json', 'g1'),"
	            " (4, 2, 2, 1, 'p4', 'q', 'c', 'r', NULL, NULL, NULL);"
	            "INSERT INTO runs(id, kind, status, seed, options, versions, command,"
	            " finished_at, seconds, metrics) VALUES"
	            " (1, 'score', 'done', 5, '{}', '{}', 'mmaudit score', 'T', 1.5, NULL),"
	            " (2, 'score', 'running', 6, '{}', '{}', NULL, NULL, NULL, NULL),"
	            " (3, 'crossdist', 'done', 7, '{}', '{}', NULL, NULL, NULL, '{\"gap\": 1}');"
	            "INSERT INTO run_datasets(run_id, dataset_id, metrics) VALUES"
	            " (1, 1, '{\"weights\": {\"auto\": \"debias\", \"auto_reason\": \"why\"}}'),"
	            " (1, 2, 'not json'), (2, 1, NULL);"
	            "INSERT INTO pair_scores(run_id, pair_id, fold, p_text, p_mm, p_sa, sfc,"
	            " category, chosen_chars, rejected_chars, image_effect, swap_flip) VALUES"
	            " (1, 3, 0, 0.9, NULL, NULL, NULL, 'text-shortcut', NULL, NULL, NULL, NULL),"
	            " (1, 1, 0, 0.95, 0.6, 0.7, 0.1, 'text-shortcut', 5, 1, 0.25, 1),"
	            " (1, 2, 1, 0.85, 0.6, 0.7, 0.2, 'text-shortcut', 5, 1, 0.5, 0),"
	            " (1, 4, 0, 0.2, 0.9, 0.9, 0.8, 'needs-image', 1, 1, NULL, NULL),"
	            " (2, 1, 0, 0.1, 0.1, 0.1, 0.1, 'ambiguous', 1, 1, NULL, NULL);"
	            "INSERT INTO top_features(run_id, dataset_id, rank, feature, weight, present,"
	            " acc_present) VALUES (1, 1, 2, 'len', 0.5, NULL, 0.75),"
	            " (1, 1, 1, 'list', -0.25, 0.5, NULL);"
	            "INSERT INTO crossdist_cells(run_id, method, train_ds, test_ds, n, accuracy)"
	            " VALUES (3, 'standard', 1, 2, 10, 0.5), (3, 'standard', 1, 1, 20, 0.75),"
	            " (3, 'text', 1, 1, 20, 0.6);");
	return ws;
}

static void test_store_reads_run_latest(void **state)
{
	(void)state;
	eng_ws *ws = fixture();
	eng_err err = {0};
	int64_t id = -1;
	assert_int_equal(eng_run_latest(ws, ENG_RUN_SCORE, 1, &id, &err), 0);
	assert_int_equal(id, 1); /* run 2 is newer but not done */
	assert_int_equal(eng_run_latest(ws, "score", 99, &id, &err), 0);
	assert_int_equal(id, 0);
	assert_int_equal(eng_run_latest(ws, "crossdist", 0, &id, &err), 0);
	assert_int_equal(id, 3);
	assert_int_equal(eng_run_latest(ws, "crossdist", 1, &id, &err), 0);
	assert_int_equal(id, 0); /* no run_datasets row */
	eng_ws_close(ws);
}

/* Keeps a copy of the one dataset's metrics text; a second call is a bug of the filter. */
static int keep_metrics(void *ctx, const eng_run_dataset *d)
{
	char **j = ctx;
	assert_null(*j);
	*j = strdup(d->metrics ? d->metrics : "(null)");
	return 0;
}

static void test_store_reads_run_info_and_metrics(void **state)
{
	(void)state;
	eng_ws *ws = fixture();
	eng_err err = {0};
	eng_run_info r;
	assert_int_equal(eng_run_get(ws, 1, &r, &err), 0);
	assert_int_equal(r.id, 1);
	assert_int_equal(r.seed, 5);
	assert_string_equal(r.kind, "score");
	assert_string_equal(r.command, "mmaudit score");
	assert_string_equal(r.finished_at, "T");
	assert_true(r.seconds == 1.5);
	eng_run_info_clear(&r);
	assert_int_equal(eng_run_get(ws, 2, &r, &err), 0);
	assert_null(r.command);
	assert_true(isnan(r.seconds));
	eng_run_info_clear(&r);
	eng_run_info_clear(NULL);
	assert_true(eng_run_get(ws, 99, &r, &err) < 0);

	char *j = NULL;
	assert_int_equal(eng_run_metrics(ws, 3, &j, &err), 0);
	assert_string_equal(j, "{\"gap\": 1}");
	free(j);
	assert_int_equal(eng_run_metrics(ws, 1, &j, &err), 0);
	assert_null(j);
	assert_int_equal(eng_run_datasets_each(ws, 1, 2, keep_metrics, &j, &err), 0);
	assert_string_equal(j, "not json");
	free(j);
	j = NULL;
	assert_int_equal(eng_run_datasets_each(ws, 1, 99, keep_metrics, &j, &err), 0);
	assert_null(j); /* the run does not hold dataset 99: no call */

	char *m = NULL, *why = NULL;
	assert_int_equal(eng_run_weights_auto(ws, 1, 1, &m, &why, &err), 0);
	assert_string_equal(m, "debias");
	assert_string_equal(why, "why");
	free(m);
	free(why);
	/* metrics that are not JSON: no choice, no error */
	assert_int_equal(eng_run_weights_auto(ws, 1, 2, &m, &why, &err), 0);
	assert_null(m);
	assert_null(why);
	eng_ws_close(ws);
}

typedef struct rows {
	int n, stop_at;
	eng_score_row r[8];
	char ext[8][8], path[8][16];
} rows;

static int keep_row(void *ctx, const eng_score_row *row)
{
	rows *x = ctx;
	if (x->n == x->stop_at)
		return 42;
	x->r[x->n] = *row;
	snprintf(x->ext[x->n], sizeof x->ext[0], "%s", row->ext_id ? row->ext_id : "");
	snprintf(x->path[x->n], sizeof x->path[0], "%s", row->source_path ? row->source_path : "");
	x->n++;
	return 0;
}

static void test_store_reads_scores_order_and_nulls(void **state)
{
	(void)state;
	eng_ws *ws = fixture();
	eng_err err = {0};
	rows x = {.stop_at = -1};
	assert_int_equal(eng_scores_each(ws, 1, 1, ENG_SCORES_BY_PAIR, keep_row, &x, &err), 0);
	assert_int_equal(x.n, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(x.r[i].pair_id, i + 1);
	const eng_score_row *p3 = &x.r[2], *p1 = &x.r[0];
	assert_string_equal(x.ext[2], "p3");
	assert_string_equal(x.path[2], "a.jsonl");
	assert_true(p3->p_text == 0.9);
	assert_true(isnan(p3->p_mm) && isnan(p3->p_sa) && isnan(p3->sfc));
	assert_true(isnan(p3->image_effect));
	assert_int_equal(p3->swap_flip, -1);
	assert_int_equal(p3->chosen_chars, 8); /* NULL: length of the text, in code points */
	assert_int_equal(p3->line, 3);
	assert_true(p1->image_effect == 0.25);
	assert_int_equal(p1->swap_flip, 1);
	assert_int_equal(p1->chosen_chars, 5);

	/* any order: the same rows */
	rows y = {.stop_at = -1};
	assert_int_equal(eng_scores_each(ws, 1, 1, ENG_SCORES_ANY_ORDER, keep_row, &y, &err), 0);
	assert_int_equal(y.n, 3);

	/* a callback's nonzero return stops the scan and is returned */
	rows z = {.stop_at = 1};
	assert_int_equal(eng_scores_each(ws, 1, 1, ENG_SCORES_BY_PAIR, keep_row, &z, &err), 42);
	assert_int_equal(z.n, 1);

	rows b = {.stop_at = -1};
	assert_int_equal(eng_scores_each_brief(ws, 1, 2, keep_row, &b, &err), 0);
	assert_int_equal(b.n, 1);
	assert_int_equal(b.r[0].pair_id, 4);
	assert_true(b.r[0].p_text == 0.2);
	eng_ws_close(ws);
}

typedef struct cards {
	int n;
	int64_t id[4];
	size_t thumb_len[4];
	int has_image[4];
} cards;

static int keep_card(void *ctx, const eng_example_row *r)
{
	cards *c = ctx;
	if (c->n < 4) {
		c->id[c->n] = r->pair_id;
		c->thumb_len[c->n] = r->thumb_len;
		c->has_image[c->n] = r->has_image;
	}
	c->n++;
	return 0;
}

static void test_store_reads_examples_one_per_group(void **state)
{
	(void)state;
	eng_ws *ws = fixture();
	eng_err err = {0};
	cards c = {0};
	assert_int_equal(
	    eng_examples_each(ws, 1, 1, ENG_CAT_TEXT_SHORTCUT, 1, 10, keep_card, &c, &err), 0);
	assert_int_equal(c.n, 2); /* pairs 1 and 2 are one group: its best member, 1, stands */
	assert_int_equal(c.id[0], 1);
	assert_int_equal(c.thumb_len[0], 3);
	assert_int_equal(c.id[1], 3);
	assert_int_equal(c.has_image[1], 0);
	cards asc = {0};
	assert_int_equal(
	    eng_examples_each(ws, 1, 1, ENG_CAT_TEXT_SHORTCUT, 0, 1, keep_card, &asc, &err), 0);
	assert_int_equal(asc.n, 1); /* limit */
	assert_int_equal(asc.id[0], 2);
	int64_t total, distinct;
	assert_int_equal(
	    eng_examples_count(ws, 1, 1, ENG_CAT_TEXT_SHORTCUT, &total, &distinct, &err), 0);
	assert_int_equal(total, 3);
	assert_int_equal(distinct, 2);
	/* dataset 1 has a duplicate group, dataset 2 none */
	assert_int_equal(eng_examples_grouped(ws, 1, &err), 1);
	assert_int_equal(eng_examples_grouped(ws, 2, &err), 0);
	/* one pair's card: the row eng_examples_each gives; nothing for a pair not in the run */
	cards one = {0};
	assert_int_equal(eng_example_get(ws, 1, 1, keep_card, &one, &err), 0);
	assert_int_equal(one.n, 1);
	assert_int_equal(one.id[0], c.id[0]);
	assert_int_equal(one.thumb_len[0], c.thumb_len[0]);
	assert_int_equal(one.has_image[0], c.has_image[0]);
	cards none = {0};
	assert_int_equal(eng_example_get(ws, 2, 3, keep_card, &none, &err), 0);
	assert_int_equal(none.n, 0);
	eng_ws_close(ws);
}

static int count_ds(void *ctx, const eng_dataset_row *r)
{
	int64_t *sum = ctx;
	sum[0]++;
	sum[1] += r->pairs;
	sum[2] += r->pairs_without_image;
	sum[3] += r->errors;
	return 0;
}

static int count_files(void *ctx, const eng_source_file_row *r)
{
	int64_t *sum = ctx;
	sum[0]++;
	sum[1] = sum[1] * 10 + r->id;
	return 0;
}

static int keep_feature(void *ctx, const eng_feature_row *r)
{
	eng_feature_row *f = ctx;
	f[r->rank - 1] = *r;
	f[r->rank - 1].feature = NULL; /* borrowed: not kept */
	return 0;
}

static int sum_cells(void *ctx, const eng_xd_cell_row *r)
{
	double *s = ctx;
	s[0] += (double)r->n;
	s[1] = s[1] * 10 + (double)r->test_ds;
	return 0;
}

static void test_store_reads_datasets_files_features_cells(void **state)
{
	(void)state;
	eng_ws *ws = fixture();
	eng_err err = {0};
	int64_t ds[4] = {0};
	assert_int_equal(eng_datasets_each(ws, ENG_DATASETS_COUNTS, count_ds, ds, &err), 0);
	assert_int_equal(ds[0], 2);
	assert_int_equal(ds[1], 4);
	assert_int_equal(ds[2], 2);
	assert_int_equal(ds[3], 1);
	char *name = NULL;
	assert_int_equal(eng_dataset_name(ws, 2, &name, &err), 0);
	assert_string_equal(name, "b");
	free(name);
	assert_int_equal(eng_dataset_name(ws, 9, &name, &err), ENG_EINPUT);
	assert_null(name);

	int64_t f[2] = {0};
	assert_int_equal(eng_source_files_each(ws, 0, count_files, f, &err), 0);
	assert_int_equal(f[0], 2);
	assert_int_equal(f[1], 12);
	int64_t g[2] = {0};
	assert_int_equal(eng_source_files_each(ws, 2, count_files, g, &err), 0);
	assert_int_equal(g[0], 1);
	assert_int_equal(g[1], 2);

	eng_feature_row fr[2];
	memset(fr, 0, sizeof fr);
	assert_int_equal(eng_features_each(ws, 1, 1, -1, keep_feature, fr, &err), 0);
	assert_true(fr[0].weight == -0.25 && fr[0].present == 0.5 && isnan(fr[0].acc_present));
	assert_true(fr[1].weight == 0.5 && isnan(fr[1].present) && fr[1].acc_present == 0.75);

	double cells[2] = {0};
	assert_int_equal(eng_xd_cells_each(ws, 3, "standard", 1, sum_cells, cells, &err), 0);
	assert_true(cells[0] == 30);
	assert_true(cells[1] == 12); /* by test dataset */

	char *sha = NULL, *src = NULL;
	assert_int_equal(eng_image_names(ws, 7, &sha, &src, &err), 0);
	assert_string_equal(sha, "cafe");
	assert_string_equal(src, "img/7.png");
	free(sha);
	free(src);
	assert_true(eng_image_names(ws, 8, &sha, &src, &err) < 0);
	assert_null(sha);
	eng_ws_close(ws);
}

typedef struct slices {
	int n;
	char value[4][16];
	int64_t cnt[4];
	double shortcut[4];
} slices;

static int keep_slice(void *ctx, const eng_slice_row *r)
{
	slices *s = ctx;
	if (s->n < 4) {
		snprintf(s->value[s->n], sizeof s->value[0], "%s", r->value ? r->value : "(none)");
		s->cnt[s->n] = r->n;
		s->shortcut[s->n] = r->shortcut;
	}
	s->n++;
	return 0;
}

static int keep_key(void *ctx, const char *key)
{
	(*(int *)ctx)++;
	assert_string_equal(key, "lang");
	return 0;
}

static void test_store_reads_slices(void **state)
{
	(void)state;
	eng_ws *ws = fixture();
	eng_err err = {0};
	slices s = {0};
	assert_int_equal(eng_slices_each(ws, 1, 1, "lang", keep_slice, &s, &err), 0);
	assert_int_equal(s.n, 3); /* NULL (pair 2: metadata not JSON), de, en */
	int64_t n = 0;
	for (int i = 0; i < 3; i++)
		n += s.cnt[i];
	assert_int_equal(n, 3);
	assert_int_equal(eng_slices_each(ws, 1, 1, "a\"b", keep_slice, &s, &err), ENG_EINPUT);

	const char *keys[] = {"lang"};
	slices k = {0};
	assert_int_equal(eng_slices_each_key(ws, 1, 1, keys, 1, keep_slice, &k, &err), 0);
	assert_int_equal(k.n, 2); /* de, en: no row for the pair without the key */
	eng_slice_row all;
	assert_int_equal(eng_slices_total(ws, 1, 1, &all, &err), 0);
	assert_int_equal(all.n, 3);
	assert_true(all.shortcut == 3 && all.text_right == 3);

	int nk = 0;
	assert_int_equal(eng_slice_fields_each(ws, 1, keep_key, &nk, &err), 0);
	assert_int_equal(nk, 1); /* lang: 2 distinct values */
	eng_ws_close(ws);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_store_reads_run_latest),
	    cmocka_unit_test(test_store_reads_run_info_and_metrics),
	    cmocka_unit_test(test_store_reads_scores_order_and_nulls),
	    cmocka_unit_test(test_store_reads_examples_one_per_group),
	    cmocka_unit_test(test_store_reads_datasets_files_features_cells),
	    cmocka_unit_test(test_store_reads_slices),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
