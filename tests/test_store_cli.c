/* test_store_cli.c - the store's reads as audit/ uses them (store_datasets, store_info, store_runs,
 * store_features, store_scores over a whole run, store_batch) on a :memory: workspace: row order,
 * NULL scores as NaN, the batch cursors, empty results. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store_batch.h"
#include "store_datasets.h"
#include "store_features.h"
#include "store_info.h"
#include "store_runs.h"
#include "store_scores.h"

/* Two datasets: a (two pairs, one conflicting duplicate group, one ingest error) and b (one
 * text-only pair); run 1 scored all three and finished with metrics. */
static const char *fixture =
    "INSERT INTO datasets(id, name) VALUES (1, 'a'), (2, 'b');"
    "INSERT INTO source_files(id, dataset_id, path, sha256, bytes) VALUES"
    " (1, 1, 'a.jsonl', 'x', 1), (2, 2, 'b.jsonl', 'y', 1);"
    "INSERT INTO pairs(id, dataset_id, file_id, line, ext_id, prompt, chosen, rejected, dup_group,"
    " conflict) VALUES (1, 1, 1, 2, 'p2', 'q', 'yes', 'no', 'g', 1),"
    " (2, 1, 1, 1, 'p1', 'q', 'no', 'yes', 'g', 1), (3, 2, 2, 1, 'b1', 'q', 'c', 'r', NULL, 0);"
    "INSERT INTO ingest_errors(dataset_id, file_id, path, line, code, reason) VALUES"
    " (1, 1, 'a.jsonl', 3, 'bad-json', 'fix it');"
    "INSERT INTO runs(id, kind, status, seed, options, versions, metrics) VALUES"
    " (1, 'score', 'done', 1, '{}', '{}', '{\"m\": 1}');"
    "INSERT INTO run_datasets(run_id, dataset_id, metrics) VALUES (1, 2, '{\"pairs\": 1}'),"
    " (1, 1, '{\"pairs\": 2}');"
    "INSERT INTO top_features(run_id, dataset_id, rank, feature, weight, present, acc_present)"
    " VALUES (1, 1, 2, 'w2', -0.5, NULL, 0.25), (1, 1, 1, 'w1', 1.5, 0.5, NULL);"
    "INSERT INTO pair_scores(run_id, pair_id, fold, p_text, p_mm, p_sa, sfc, category) VALUES"
    " (1, 1, 0, 0.9, 0.8, 0.7, 0.1, 'text-shortcut'), (1, 2, 1, 0.2, 0.6, 0.5, 0.4,"
    " 'needs-image'), (1, 3, 2, 0.6, NULL, NULL, NULL, 'ambiguous');";

static int setup(void **state)
{
	eng_ws *ws = NULL;
	eng_err err = {0};
	if (eng_ws_open(":memory:", &ws, &err) || eng_ws_exec(ws, fixture, &err)) {
		fprintf(stderr, "fixture: %s\n", err.msg);
		eng_ws_close(ws);
		return -1;
	}
	*state = ws;
	return 0;
}

static int teardown(void **state)
{
	eng_ws_close(*state);
	return 0;
}

static int count_dataset(void *ctx, const eng_dataset_row *d)
{
	int *n = ctx;
	assert_int_equal(d->id, *n + 1);
	if ((*n)++ == 0) {
		assert_string_equal(d->name, "a");
		assert_int_equal(d->pairs, 2);
		assert_int_equal(d->images, 0);
		assert_int_equal(d->pairs_without_image, 2);
		assert_int_equal(d->errors, 1);
		assert_int_equal(d->files, 1);
		assert_int_equal(d->duplicates, 1);
		assert_int_equal(d->conflicts, 1);
	} else {
		assert_string_equal(d->name, "b");
		assert_int_equal(d->duplicates, 0);
	}
	return 0;
}

/* ENG_DATASETS_NAMES: ids and names in id order, the counts left 0. */
static int name_only(void *ctx, const eng_dataset_row *d)
{
	int64_t *ids = ctx;
	assert_int_equal(d->pairs, 0);
	assert_int_equal(d->errors, 0);
	assert_int_equal(d->files, 0);
	ids[ids[0]++ + 1] = d->id;
	return 0;
}

static void test_store_cli_info_datasets(void **state)
{
	eng_err err = {0};
	int n = 0;
	assert_int_equal(eng_datasets_each(*state, ENG_DATASETS_COUNTS, count_dataset, &n, &err),
	                 0);
	assert_int_equal(n, 2);
	int64_t ids[3] = {0};
	assert_int_equal(eng_datasets_each(*state, ENG_DATASETS_NAMES, name_only, ids, &err), 0);
	assert_int_equal(ids[0], 2);
	assert_int_equal(ids[1], 1);
	assert_int_equal(ids[2], 2);
}

static int conflict_line(void *ctx, const eng_info_conflict *c)
{
	int64_t *lines = ctx;
	assert_string_equal(c->group, "g");
	lines[lines[0]++ + 1] = c->line;
	return 0;
}

static int stop_at_first(void *ctx, const eng_info_error *e)
{
	(void)ctx;
	assert_string_equal(e->code, "bad-json");
	assert_int_equal(e->line, 3);
	return 7;
}

static void test_store_cli_info_conflicts_errors(void **state)
{
	eng_err err = {0};
	int64_t lines[3] = {0};
	assert_int_equal(eng_info_conflicts_each(*state, conflict_line, lines, &err), 0);
	assert_int_equal(lines[0], 2);
	assert_int_equal(lines[1], 2); /* by pair id within the group */
	assert_int_equal(lines[2], 1);
	/* a callback's non-zero return stops the walk and is returned */
	assert_int_equal(eng_info_errors_each(*state, stop_at_first, NULL, &err), 7);
}

static int first_feature(void *ctx, const eng_feature_row *f)
{
	eng_feature_row *out = ctx;
	if (!out->feature) {
		*out = *f;
		out->feature = "seen";
		assert_string_equal(f->feature, "w1");
	}
	return 0;
}

static int dataset_order(void *ctx, const eng_run_dataset *d)
{
	int64_t *prev = ctx;
	assert_true(d->dataset_id > *prev);
	*prev = d->dataset_id;
	return 0;
}

static void test_store_cli_runs(void **state)
{
	eng_err err = {0};
	char *m = NULL;
	assert_int_equal(eng_run_metrics(*state, 1, &m, &err), 0);
	assert_string_equal(m, "{\"m\": 1}");
	free(m);
	assert_int_equal(eng_run_metrics(*state, 99, &m, &err), 0);
	assert_null(m);
	int64_t prev = 0;
	assert_int_equal(eng_run_datasets_each(*state, 1, 0, dataset_order, &prev, &err), 0);
	assert_int_equal(prev, 2);
	eng_feature_row f = {0};
	assert_int_equal(eng_features_each(*state, 1, 1, -1, first_feature, &f, &err), 0);
	assert_int_equal(f.rank, 1);
	assert_true(isnan(f.acc_present));
	assert_true(f.present == 0.5);
}

static int score_row(void *ctx, const eng_score_row *s)
{
	int *n = ctx;
	static const char *ids[] = {"p2", "p1", "b1"}; /* by dataset, then pair id */
	assert_string_equal(s->ext_id, ids[*n]);
	assert_int_equal(s->pair_id, *n + 1);
	assert_int_equal(s->fold, *n);
	if (*n == 2) {
		assert_string_equal(s->dataset, "b");
		assert_true(isnan(s->p_mm) && isnan(s->p_sa) && isnan(s->sfc));
	}
	(*n)++;
	return 0;
}

static void test_store_cli_scores_whole_run(void **state)
{
	eng_err err = {0};
	int n = 0;
	/* dataset_id 0: every dataset of the run */
	assert_int_equal(eng_scores_each(*state, 1, 0, ENG_SCORES_BY_PAIR, score_row, &n, &err), 0);
	assert_int_equal(n, 3);
	n = 0;
	assert_int_equal(eng_scores_each(*state, 2, 0, ENG_SCORES_BY_PAIR, score_row, &n, &err), 0);
	assert_int_equal(n, 0);
}

static void test_store_cli_batch_cursors(void **state)
{
	eng_err err = {0};
	eng_batch *qp = NULL, *qe = NULL;
	assert_int_equal(eng_batch_pairs_open(*state, 1, &qp, &err), 0);
	assert_int_equal(eng_batch_errors_open(*state, &qe, &err), 0);
	eng_score_row r;
	eng_batch_error e;
	int64_t want[] = {1, 1, 2}; /* by line, then pair id: p1 (line 1), b1 (line 1), p2 */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(eng_batch_pair(qp, &r), 1);
		assert_int_equal(r.line, want[i]);
		eng_batch_next(qp);
	}
	assert_int_equal(eng_batch_pair(qp, &r), 0);
	eng_batch_next(qp); /* past the end: stays there */
	assert_int_equal(eng_batch_pair(qp, &r), 0);
	assert_int_equal(eng_batch_error_row(qp, &e), 0); /* not an errors cursor */
	assert_int_equal(eng_batch_error_row(qe, &e), 1);
	assert_string_equal(e.reason, "fix it");
	eng_batch_close(qp);
	eng_batch_close(qe);
	eng_batch_close(NULL);
	assert_int_equal(eng_batch_pair(NULL, &r), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_store_cli_info_datasets, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_store_cli_info_conflicts_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_store_cli_runs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_store_cli_scores_whole_run, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_store_cli_batch_cursors, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
