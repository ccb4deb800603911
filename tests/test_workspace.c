/* test_workspace.c - workspace open/migrate/version behaviour. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/migrations.h"
#include "engine/workspace.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_workspace_migrates_memory),
	    cmocka_unit_test(test_workspace_refuses_newer_schema),
	    cmocka_unit_test(test_workspace_open_existing_missing),
	    cmocka_unit_test(test_workspace_not_a_database),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
