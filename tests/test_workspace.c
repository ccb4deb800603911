/* test_workspace.c - workspace open/migrate/version behaviour. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "migrations.h"
#include "workspace_sql.h"
#include "workspace.h"

static void test_workspace_migrates_memory(void **state)
{
	(void)state;
	eng_ws *ws = NULL;
	eng_err err = {0};
	assert_int_equal(eng_ws_open(":memory:", &ws, &err), 0);
	assert_int_equal(eng_ws_schema_version(ws), eng_migrations_count);
	assert_int_equal(eng_ws_exec(ws, "INSERT INTO datasets(name) VALUES ('a')", &err), 0);
	int64_t id = 0;
	assert_int_equal(eng_ws_dataset_id(ws, "a", &id, &err), 0);
	assert_true(id > 0);
	assert_int_equal(eng_ws_dataset_id(ws, "b", &id, &err), ENG_EINPUT);
	assert_non_null(strstr(err.msg, "no dataset named 'b'"));
	eng_ws_close(ws);
	eng_ws_close(NULL);
}

static void test_workspace_refuses_newer_schema(void **state)
{
	(void)state;
	char path[] = "/tmp/mmaudit-ws-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	eng_ws *ws = NULL;
	eng_err err = {0};
	assert_int_equal(eng_ws_open(path, &ws, &err), 0);
	assert_int_equal(eng_ws_exec(ws, "PRAGMA user_version = 999", &err), 0);
	eng_ws_close(ws);
	assert_int_equal(eng_ws_open(path, &ws, &err), ENG_EINPUT);
	assert_null(ws);
	assert_non_null(strstr(err.msg, "newer"));
	unlink(path);
}

static void test_workspace_open_existing_missing(void **state)
{
	(void)state;
	eng_ws *ws = NULL;
	eng_err err = {0};
	assert_int_equal(eng_ws_open_existing("/nonexistent/dir/x.db", &ws, &err), ENG_EINPUT);
	assert_non_null(strstr(err.msg, "/nonexistent/dir/x.db"));
}

static void test_workspace_not_a_database(void **state)
{
	(void)state;
	char path[] = "/tmp/mmaudit-ws-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	char junk[4096];
	memset(junk, 'x', sizeof junk);
	assert_int_equal(write(fd, junk, sizeof junk), (ssize_t)sizeof junk);
	close(fd);
	eng_ws *ws = NULL;
	eng_err err = {0};
	int rc = eng_ws_open(path, &ws, &err);
	assert_true(rc < 0);
	assert_null(ws);
	assert_non_null(strstr(err.msg, path));
	unlink(path);
}

static long long file_size(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
}

static long long count_rows(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	long long n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* Inserts n rows of 200 random bytes into t in one transaction. */
static void big_commit(eng_ws *ws, int n)
{
	eng_err err = {0};
	char sql[160];
	assert_int_equal(eng_ws_begin(ws, &err), 0);
	snprintf(sql, sizeof sql,
	         "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < %d) "
	         "INSERT INTO t(x) SELECT randomblob(200) FROM s",
	         n);
	assert_int_equal(eng_ws_exec(ws, sql, &err), 0);
	assert_int_equal(eng_ws_commit(ws, &err), 0);
}

/* A large commit is checkpointed into the database file by the background connection while the
 * workspace stays open (the committing connection never checkpoints); after close the WAL is gone
 * or empty and a plain read-only connection finds every row in the main file. */
static void test_workspace_background_checkpoint(void **state)
{
	(void)state;
	char dirp[] = "/tmp/mmaudit-ws-XXXXXX";
	assert_non_null(mkdtemp(dirp));
	char path[64], wal[80];
	snprintf(path, sizeof path, "%s/w.db", dirp);
	snprintf(wal, sizeof wal, "%s-wal", path);
	eng_ws *ws = NULL;
	eng_err err = {0};
	assert_int_equal(eng_ws_open(path, &ws, &err), 0);
	assert_int_equal(eng_ws_exec(ws, "CREATE TABLE t(x BLOB)", &err), 0);
	long long before = file_size(path);
	big_commit(ws, 20000); /* ~4.5 MB */
	assert_true(file_size(wal) > 4000000);
	/* the checkpoint lands in the main file without another call on ws (up to 20 s) */
	long long sz = 0;
	for (int i = 0; i < 200 && (sz = file_size(path)) < before + 4000000; i++)
		nanosleep(&(struct timespec){0, 100000000}, NULL);
	assert_true(sz >= before + 4000000);
	/* more commits, then close */
	big_commit(ws, 5000);
	big_commit(ws, 5000);
	eng_ws_close(ws);
	long long w = file_size(wal);
	assert_true(w <= 0); /* absent (-1) or empty */
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(count_rows(db, "SELECT count(*) FROM t"), 30000);
	assert_int_equal(count_rows(db, "SELECT count(*) FROM t WHERE length(x) = 200"), 30000);
	assert_int_equal(count_rows(db, "PRAGMA user_version"), eng_migrations_count);
	sqlite3_close(db);
	/* eng_ws_open_existing checkpoints the same way */
	assert_int_equal(eng_ws_open_existing(path, &ws, &err), 0);
	big_commit(ws, 1000);
	eng_ws_close(ws);
	assert_true(file_size(wal) <= 0);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(count_rows(db, "SELECT count(*) FROM t"), 31000);
	sqlite3_close(db);
	char cmd[96];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dirp);
	assert_int_equal(system(cmd), 0);
}

/* eng_ws_reopen: ENG_EINPUT without a file; otherwise a second connection that sees committed
 * rows (not uncommitted ones), whose own commits the first sees, and that outlives the first. */
static void test_workspace_reopen(void **state)
{
	(void)state;
	eng_ws *mem = NULL, *r = NULL;
	eng_err err = {0};
	assert_int_equal(eng_ws_open(":memory:", &mem, &err), 0);
	r = (eng_ws *)mem; /* must be reset */
	assert_int_equal(eng_ws_reopen(mem, &r, &err), ENG_EINPUT);
	assert_null(r);
	assert_non_null(strstr(err.msg, "no file"));
	eng_ws_close(mem);

	char dirp[] = "/tmp/mmaudit-ws-XXXXXX";
	assert_non_null(mkdtemp(dirp));
	char path[64], wal[80];
	snprintf(path, sizeof path, "%s/w.db", dirp);
	snprintf(wal, sizeof wal, "%s-wal", path);
	eng_ws *ws = NULL;
	assert_int_equal(eng_ws_open(path, &ws, &err), 0);
	assert_int_equal(eng_ws_exec(ws, "CREATE TABLE t(x BLOB)", &err), 0);
	big_commit(ws, 3000);
	assert_int_equal(eng_ws_reopen(ws, &r, &err), 0);
	assert_non_null(r);
	assert_int_equal(eng_ws_schema_version(r), eng_migrations_count);
	assert_int_equal(count_rows(eng_ws_db(r), "SELECT count(*) FROM t"), 3000);
	/* uncommitted rows are invisible to the other connection, committed ones visible */
	assert_int_equal(eng_ws_begin(ws, &err), 0);
	assert_int_equal(eng_ws_exec(ws, "INSERT INTO t(x) VALUES (x'01')", &err), 0);
	assert_int_equal(count_rows(eng_ws_db(r), "SELECT count(*) FROM t"), 3000);
	assert_int_equal(eng_ws_commit(ws, &err), 0);
	assert_int_equal(count_rows(eng_ws_db(r), "SELECT count(*) FROM t"), 3001);
	/* the reopened connection writes too, and the first sees it */
	assert_int_equal(eng_ws_exec(r, "INSERT INTO t(x) VALUES (x'02')", &err), 0);
	assert_int_equal(count_rows(eng_ws_db(ws), "SELECT count(*) FROM t"), 3002);
	/* a reopen of a reopen works; the first closed, the others keep working */
	eng_ws *r2 = NULL;
	assert_int_equal(eng_ws_reopen(r, &r2, &err), 0);
	eng_ws_close(ws);
	big_commit(r, 1000);
	assert_int_equal(count_rows(eng_ws_db(r2), "SELECT count(*) FROM t"), 4002);
	eng_ws_close(r2);
	eng_ws_close(r);
	assert_true(file_size(wal) <= 0);
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(count_rows(db, "SELECT count(*) FROM t"), 4002);
	sqlite3_close(db);
	char cmd[96];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dirp);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_workspace_migrates_memory),
	    cmocka_unit_test(test_workspace_refuses_newer_schema),
	    cmocka_unit_test(test_workspace_open_existing_missing),
	    cmocka_unit_test(test_workspace_not_a_database),
	    cmocka_unit_test(test_workspace_background_checkpoint),
	    cmocka_unit_test(test_workspace_reopen),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
