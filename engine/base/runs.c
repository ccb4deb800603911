/* runs.c - recording runs (options, seed, versions, metrics). */
#include "runs.h"

#include <cblas.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "mmaudit_config.h"
#include "workspace_sql.h"

double eng_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void eng_trace(const char *what)
{
	static int on = -1;
	static double t0;
	if (on < 0) {
		const char *e = getenv("MMAUDIT_TRACE");
		on = e && *e && strcmp(e, "0") != 0;
		t0 = eng_now();
	}
	if (on) { /* wall time since the first trace; CPU of the process (user + sys, threads) */
		struct rusage ru;
		getrusage(RUSAGE_SELF, &ru);
		double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
		             1e-6 * (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
		fprintf(stderr, "trace: %7.3f s %7.3f cpu-s  %s\n", eng_now() - t0, cpu, what);
	}
}

char *eng_versions_json(void)
{
	json_t *v = json_pack("{s:s, s:s, s:s, s:s}", "mmaudit", MMAUDIT_VERSION, "sqlite",
	                      sqlite3_libversion(), "openblas", openblas_get_config(), "jansson",
	                      JANSSON_VERSION);
	char *s = v ? json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(v);
	return s;
}

int eng_run_begin(eng_ws *ws, const char *kind, uint64_t seed, const char *options_json,
                  const char *command, int64_t *run_id, eng_err *err)
{
	char *versions = eng_versions_json();
	if (!versions)
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	sqlite3_stmt *st =
	    eng_ws_prepare(ws,
	                   "INSERT INTO runs(kind, seed, options, versions, command) "
	                   "VALUES (?1, ?2, ?3, ?4, ?5)",
	                   err);
	int rc = st ? 0 : (err ? err->code : ENG_EINTERNAL);
	if (st) {
		sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)seed);
		sqlite3_bind_text(st, 3, options_json, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, versions, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, command ? command : "", -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = eng_ws_fail(ws, err, "record run");
		else
			*run_id = sqlite3_last_insert_rowid(eng_ws_db(ws));
	}
	sqlite3_finalize(st);
	free(versions);
	return rc;
}

int eng_run_finish(eng_ws *ws, int64_t run_id, const char *metrics_json, double seconds,
                   eng_err *err)
{
	sqlite3_stmt *st =
	    eng_ws_prepare(ws,
	                   "UPDATE runs SET status = 'done', metrics = ?2, seconds = ?3, "
	                   "finished_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ?1",
	                   err);
	if (!st)
		return err ? err->code : ENG_EINTERNAL;
	sqlite3_bind_int64(st, 1, run_id);
	sqlite3_bind_text(st, 2, metrics_json, -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 3, seconds);
	int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : eng_ws_fail(ws, err, "finish run");
	sqlite3_finalize(st);
	return rc;
}

void eng_run_fail(eng_ws *ws, int64_t run_id)
{
	sqlite3_stmt *st =
	    eng_ws_prepare(ws, "UPDATE runs SET status = 'failed' WHERE id = ?1", NULL);
	if (!st)
		return;
	sqlite3_bind_int64(st, 1, run_id);
	sqlite3_step(st);
	sqlite3_finalize(st);
}
