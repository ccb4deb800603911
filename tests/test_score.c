/* test_score.c - how score stores a run's scores. Its write transaction skips the per-row
 * foreign-key look-ups only when nothing was committed to the workspace by another connection
 * since the load began: a plain run leaves every key valid and the checks on; a pair deleted by
 * another connection after the load must never leave scores that refer to it (the run fails on
 * the checked path, or stores nothing for it), and the checks are on again afterwards. The fixture
 * is generated here (one text-only dataset of 600 pairs in a workspace file). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "index.h"
#include "score.h"
#include "workspace.h"
#include "workspace_sql.h"

enum { NPAIRS = 600 };

static char dir[64], dbpath[128];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/mmaudit-score-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	char path[128];
	snprintf(path, sizeof path, "%s/d.jsonl", dir);
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	for (int i = 0; i < NPAIRS; i++) /* chosen answers say "certainly": a text shortcut */
		fprintf(f,
		        "{\"id\":\"p%d\",\"prompt\":\"Question %d?\",\"chosen\":\"%sanswer %d "
		        "w%d\",\"rejected\":\"answer %d w%d\"}\n",
		        i, i % 97, i % 3 ? "certainly " : "", i, i % 50, i + 1, (i * 7) % 50);
	fclose(f);
	snprintf(dbpath, sizeof dbpath, "%s/ws.db", dir);
	eng_ws *ws = NULL;
	eng_err err = {0};
	eng_index_result res;
	int rc = eng_ws_open(dbpath, &ws, &err) ||
	         eng_index_file(ws, "d", path, NULL, &res, &err) || res.pairs != NPAIRS;
	eng_ws_close(ws);
	return rc ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[160];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd);
}

static int64_t one_int(eng_ws *ws, const char *sql)
{
	sqlite3_stmt *st = eng_ws_prepare(ws, sql, NULL);
	assert_non_null(st);
	int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	sqlite3_finalize(st);
	return v;
}

/* rows PRAGMA foreign_key_check reports: every reference to a row that does not exist */
static int64_t dangling(eng_ws *ws)
{
	sqlite3_stmt *st = eng_ws_prepare(ws, "PRAGMA foreign_key_check", NULL);
	assert_non_null(st);
	int64_t n = 0;
	while (sqlite3_step(st) == SQLITE_ROW)
		n++;
	sqlite3_finalize(st);
	return n;
}

static void opts(eng_score_opts *so)
{
	eng_score_opts_default(so);
	so->folds = 3;
	so->text.hash_bits = 12;
	so->threads = 2;
}

static void test_score_run_keeps_keys_and_checks(void **state)
{
	(void)state;
	eng_ws *ws = NULL;
	eng_err err = {0};
	assert_int_equal(eng_ws_open(dbpath, &ws, &err), 0);
	int64_t id = 0, run = 0;
	assert_int_equal(eng_ws_dataset_id(ws, "d", &id, &err), 0);
	eng_score_opts so;
	opts(&so);
	if (eng_score_run(ws, &id, 1, &so, NULL, &run, &err))
		fail_msg("score: %s", err.msg);
	char sql[160];
	snprintf(sql, sizeof sql, "SELECT count(*) FROM pair_scores WHERE run_id = %lld",
	         (long long)run);
	assert_int_equal(one_int(ws, sql), NPAIRS);
	assert_int_equal(dangling(ws), 0);
	assert_int_equal(one_int(ws, "PRAGMA foreign_keys"), 1);
	/* still enforced: a score of a pair that does not exist is refused */
	snprintf(sql, sizeof sql,
	         "INSERT INTO pair_scores(run_id, pair_id, fold, p_text, category) VALUES (%lld, "
	         "999999, 0, 0.5, 'ambiguous')",
	         (long long)run);
	assert_int_not_equal(eng_ws_exec(ws, sql, &err), 0);
	eng_ws_close(ws);
}

/* The progress callback of the load: at its last tick (every row read) another connection
 * deletes one pair and commits, before score takes the write lock. */
typedef struct deleter {
	int done;
	int64_t pair;
} deleter;

static void delete_one(void *ctx, const char *stage, uint64_t done, uint64_t total)
{
	deleter *d = ctx;
	if (d->done || strcmp(stage, "load") || done < total)
		return;
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 10000);
	/* as mmaudit deletes: the scores of earlier runs go with the pair */
	assert_int_equal(sqlite3_exec(db, "PRAGMA foreign_keys=ON", NULL, NULL, NULL), SQLITE_OK);
	char sql[96];
	snprintf(sql, sizeof sql, "DELETE FROM pairs WHERE id = %lld", (long long)d->pair);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_changes(db), 1);
	sqlite3_close(db);
	d->done = 1;
}

static void test_score_commit_by_another_connection_keeps_checks(void **state)
{
	(void)state;
	eng_ws *ws = NULL;
	eng_err err = {0};
	assert_int_equal(eng_ws_open(dbpath, &ws, &err), 0);
	int64_t id = 0, run = 0;
	assert_int_equal(eng_ws_dataset_id(ws, "d", &id, &err), 0);
	deleter d = {0, one_int(ws, "SELECT max(id) FROM pairs")};
	assert_true(d.pair > 0);
	eng_progress prog = {delete_one, &d};
	eng_score_opts so;
	opts(&so);
	int rc = eng_score_run(ws, &id, 1, &so, &prog, &run, &err);
	assert_true(d.done);
	if (rc) /* the checked path refuses the deleted pair's scores */
		assert_non_null(strstr(err.msg, "FOREIGN KEY"));
	assert_int_equal(dangling(ws), 0);
	assert_int_equal(one_int(ws, "PRAGMA foreign_keys"), 1);
	char sql[160];
	snprintf(sql, sizeof sql, "SELECT count(*) FROM pair_scores WHERE pair_id = %lld",
	         (long long)d.pair);
	assert_int_equal(one_int(ws, sql), 0);
	eng_ws_close(ws);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_score_run_keeps_keys_and_checks),
	    cmocka_unit_test(test_score_commit_by_another_connection_keeps_checks),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
