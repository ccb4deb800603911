/* workspace.c - open/migrate the SQLite workspace; transactions; error mapping.
 * Does not know the meaning of any table beyond datasets(name). */
#include "workspace.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "migrations.h"
#include "outfile.h"
#include "pool.h"
#include "workspace_sql.h"

/* Checkpoints (copying committed WAL pages into the database file, with its fsync) run on a
 * background thread with its own connection, so a large commit returns without waiting for them;
 * SQLite keeps that crash-safe. Workspaces without a file, or when the thread cannot start, keep
 * SQLite's automatic checkpoints on the committing connection.
 * The thread is the pool's one background task (pool.h, eng_bg); it lives as long as the
 * workspace and is woken by every commit, which the pool's tasks-with-results do not model, so
 * the wake-up (want, coalescing the commits made during a checkpoint, and stop) stays here.
 * Checkpoints change no content, so output never depends on their timing. */
typedef struct checkpointer {
	sqlite3 *db;
	eng_bg *bg;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int want, stop;
} checkpointer;

struct eng_ws {
	sqlite3 *db;
	int version;
	int readonly;     /* opened with eng_ws_open_readonly: never writes, creates or migrates */
	checkpointer *ck; /* NULL: automatic checkpoints */
};

static int ck_main(void *arg)
{
	checkpointer *k = arg;
	pthread_mutex_lock(&k->mu);
	for (;;) {
		while (!k->want && !k->stop)
			pthread_cond_wait(&k->cv, &k->mu);
		if (!k->want)
			break; /* stop, nothing left to do */
		k->want = 0;
		pthread_mutex_unlock(&k->mu);
		/* best effort: a failed or partial checkpoint is retried after the next commit and
		 * at close */
		sqlite3_wal_checkpoint_v2(k->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		pthread_mutex_lock(&k->mu);
	}
	pthread_mutex_unlock(&k->mu);
	return 0;
}

static void ck_stop(eng_ws *ws)
{
	checkpointer *k = ws->ck;
	if (!k)
		return;
	pthread_mutex_lock(&k->mu);
	k->stop = 1;
	pthread_cond_signal(&k->cv);
	pthread_mutex_unlock(&k->mu);
	eng_bg_join(k->bg);
	sqlite3_close_v2(k->db);
	pthread_mutex_destroy(&k->mu);
	pthread_cond_destroy(&k->cv);
	free(k);
	ws->ck = NULL;
}

/* Starts the background checkpointer of a file workspace; on any failure leaves ws as it was. */
static void ck_start(eng_ws *ws)
{
	const char *path = sqlite3_db_filename(ws->db, "main");
	checkpointer *k = path && *path ? calloc(1, sizeof *k) : NULL;
	if (!k)
		return;
	/* opened here, then used by the checkpointer's thread alone: NOMUTEX as in open_impl */
	if (sqlite3_open_v2(path, &k->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		sqlite3_close_v2(k->db);
		free(k);
		return;
	}
	sqlite3_busy_timeout(k->db, 10000);
	/* a connection learns the journal mode when it first reads the file */
	if (sqlite3_exec(k->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL) != SQLITE_OK) {
		sqlite3_close_v2(k->db);
		free(k);
		return;
	}
	pthread_mutex_init(&k->mu, NULL);
	pthread_cond_init(&k->cv, NULL);
	if (eng_bg_start(&k->bg, ck_main, k) != 0) {
		sqlite3_close_v2(k->db);
		pthread_mutex_destroy(&k->mu);
		pthread_cond_destroy(&k->cv);
		free(k);
		return;
	}
	ws->ck = k;
	sqlite3_wal_autocheckpoint(ws->db, 0);
}

sqlite3 *eng_ws_db(eng_ws *ws)
{
	return ws->db;
}
int eng_ws_schema_version(eng_ws *ws)
{
	return ws->version;
}

int eng_ws_fail(eng_ws *ws, eng_err *err, const char *what)
{
	int rc = sqlite3_extended_errcode(ws->db) & 0xff;
	int code = ENG_EINTERNAL;
	switch (rc) {
	case SQLITE_FULL:
	case SQLITE_IOERR:
	case SQLITE_READONLY:
	case SQLITE_CANTOPEN:
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
	case SQLITE_PERM:
		code = ENG_EIO;
		break;
	case SQLITE_NOMEM:
		code = ENG_ENOMEM;
		break;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		code = ENG_EINPUT;
		break;
	default:
		break;
	}
	const char *hint = "";
	if (rc == SQLITE_FULL)
		hint = "; the disk holding the workspace is full: free space and re-run (the "
		       "unfinished step was rolled back)";
	else if (rc == SQLITE_IOERR)
		hint = "; check free space, quotas and the disk holding the workspace, then re-run "
		       "(the unfinished step was rolled back)";
	else if (rc == SQLITE_READONLY || rc == SQLITE_PERM || rc == SQLITE_CANTOPEN)
		hint = "; the workspace file or its folder is not writable: fix the permissions or "
		       "use another --db";
	return eng_err_set(err, code, "%s: %s%s", what, sqlite3_errmsg(ws->db), hint);
}

int eng_ws_exec(eng_ws *ws, const char *sql, eng_err *err)
{
	char *msg = NULL;
	if (sqlite3_exec(ws->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		int code = eng_ws_fail(ws, err, "sql");
		sqlite3_free(msg);
		return code;
	}
	return 0;
}

int eng_ws_begin(eng_ws *ws, eng_err *err)
{
	return eng_ws_exec(ws, "BEGIN IMMEDIATE", err);
}

int eng_ws_commit(eng_ws *ws, eng_err *err)
{
	int rc = eng_ws_exec(ws, "COMMIT", err);
	checkpointer *k = ws->ck;
	if (!rc && k) {
		pthread_mutex_lock(&k->mu);
		k->want = 1;
		pthread_cond_signal(&k->cv);
		pthread_mutex_unlock(&k->mu);
	}
	return rc;
}

void eng_ws_rollback(eng_ws *ws)
{
	if (ws && !sqlite3_get_autocommit(ws->db))
		sqlite3_exec(ws->db, "ROLLBACK", NULL, NULL, NULL);
}

int eng_ws_data_version(eng_ws *ws, int64_t *out, eng_err *err)
{
	sqlite3_stmt *st = eng_ws_prepare(ws, "PRAGMA data_version", err);
	if (!st)
		return err ? err->code : ENG_EINTERNAL;
	int rc = sqlite3_step(st) == SQLITE_ROW ? 0 : eng_ws_fail(ws, err, "read data_version");
	if (!rc)
		*out = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc;
}

int eng_ws_begin_unchecked(eng_ws *ws, int64_t since, int *unchecked, eng_err *err)
{
	*unchecked = 0;
	/* PRAGMA foreign_keys is a no-op inside a transaction: only switched off outside one */
	if (!sqlite3_get_autocommit(ws->db))
		return eng_ws_begin(ws, err);
	int rc = eng_ws_exec(ws, "PRAGMA foreign_keys=OFF", err);
	if (!rc)
		rc = eng_ws_begin(ws, err);
	int64_t now = 0;
	if (!rc)
		rc = eng_ws_data_version(ws, &now, err);
	if (!rc && now == since) {
		*unchecked = 1;
		return 0;
	}
	/* another connection committed in between (or a step failed): the checked path */
	eng_ws_rollback(ws);
	eng_ws_checks_on(ws);
	return rc ? rc : eng_ws_begin(ws, err);
}

void eng_ws_checks_on(eng_ws *ws)
{
	if (ws && !ws->readonly && sqlite3_get_autocommit(ws->db))
		sqlite3_exec(ws->db, "PRAGMA foreign_keys=ON", NULL, NULL, NULL);
}

sqlite3_stmt *eng_ws_prepare(eng_ws *ws, const char *sql, eng_err *err)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(ws->db, sql, -1, &st, NULL) != SQLITE_OK) {
		eng_ws_fail(ws, err, "prepare");
		sqlite3_finalize(st);
		return NULL;
	}
	return st;
}

/* eng_ws_exec, retried for up to 10 s while another process holds a lock: SQLite returns
 * SQLITE_BUSY at once, without its busy handler, where waiting could deadlock (switching a new
 * file to WAL while another process creates it), so creation waits here instead. */
static int exec_retry(eng_ws *ws, const char *sql, eng_err *err)
{
	for (int tries = 0;; tries++) {
		int rc = eng_ws_exec(ws, sql, err);
		int busy = rc && ((sqlite3_extended_errcode(ws->db) & 0xff) == SQLITE_BUSY ||
		                  (sqlite3_extended_errcode(ws->db) & 0xff) == SQLITE_LOCKED);
		if (!busy || tries >= 200)
			return rc;
		if (err)
			eng_err_clear(err);
		struct timespec ts = {0, 50 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

static int pragma_int(eng_ws *ws, const char *sql, int *v, eng_err *err)
{
	sqlite3_stmt *st = eng_ws_prepare(ws, sql, err);
	if (!st)
		return err ? err->code : ENG_EINTERNAL;
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		rc = eng_ws_fail(ws, err, "read the workspace header");
		sqlite3_finalize(st);
		return rc;
	}
	*v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return 0;
}

int eng_ws_cache_kib(eng_ws *ws, int kib, int *prev_kib, eng_err *err)
{
	if (prev_kib) {
		int v = 0, page = 0;
		int rc = pragma_int(ws, "PRAGMA cache_size", &v, err);
		if (!rc && v > 0) /* a positive setting counts pages */
			rc = pragma_int(ws, "PRAGMA page_size", &page, err);
		if (rc)
			return rc;
		*prev_kib = v < 0 ? -v : (int)((int64_t)v * page / 1024);
	}
	char sql[48];
	snprintf(sql, sizeof sql, "PRAGMA cache_size=-%d", kib > 0 ? kib : 1);
	int rc = eng_ws_exec(ws, sql, err);
	if (!rc)
		sqlite3_db_release_memory(ws->db);
	return rc;
}

/* A workspace made before application_id marked them: the tables and columns of migration 1
 * that no other program's database has all of. */
static int legacy_workspace(eng_ws *ws)
{
	int n = 0;
	eng_err e = {0};
	if (pragma_int(ws,
	               "SELECT (SELECT count(*) FROM pragma_table_info('pairs') WHERE name IN "
	               "('dataset_id','file_id','ext_id','prompt','chosen','rejected','image_id'))"
	               " + (SELECT count(*) FROM pragma_table_info('source_files') WHERE name IN "
	               "('dataset_id','sha256','images_root')) + (SELECT count(*) FROM "
	               "pragma_table_info('ingest_errors') WHERE name IN ('code','reason'))",
	               &n, &e))
		return 0;
	return n == 12;
}

/* Checks the header of an opened file: ours (application_id), new (no schema at all), or
 * refused. *fresh = 1 when nothing is in it yet. */
static int check_header(eng_ws *ws, int *fresh, int *v, int *marked, eng_err *err)
{
	int app = 0, objects = 0, rc;
	/* one statement, so one read snapshot: read one by one, another process's first migration
	 * could commit between them (an unmarked header with tables: refused as foreign) */
	sqlite3_stmt *st =
	    eng_ws_prepare(ws,
	                   "SELECT (SELECT application_id FROM pragma_application_id),"
	                   " (SELECT user_version FROM pragma_user_version),"
	                   " (SELECT count(*) FROM sqlite_master)",
	                   err);
	if (!st)
		return err ? err->code : ENG_EINTERNAL;
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = eng_ws_fail(ws, err, "read the workspace header");
		sqlite3_finalize(st);
		return rc;
	}
	app = sqlite3_column_int(st, 0);
	*v = sqlite3_column_int(st, 1);
	objects = sqlite3_column_int(st, 2);
	sqlite3_finalize(st);
	*fresh = app == 0 && *v == 0 && objects == 0;
	if (marked)
		*marked = app == ENG_WS_APPLICATION_ID;
	if (app == ENG_WS_APPLICATION_ID || *fresh || (app == 0 && *v > 0 && legacy_workspace(ws)))
		return 0;
	return eng_err_set(err, ENG_EINPUT,
	                   "not an mmaudit workspace (another program's SQLite database: "
	                   "application_id %d, user_version %d); nothing was changed: use "
	                   "another --db",
	                   app, *v);
}

/* Under the write lock (BEGIN IMMEDIATE, waiting up to the busy timeout for another process
 * creating or migrating the same file), reads the header and applies the missing migrations in
 * one transaction. */
static int migrate(eng_ws *ws, eng_err *err)
{
	int v = 0, fresh = 0, marked = 0, rc;
	/* a current workspace needs no lock (a writer elsewhere must not make this open wait) */
	if ((rc = check_header(ws, &fresh, &v, &marked, err)))
		return rc;
	if (marked && v == eng_migrations_count) {
		ws->version = v;
		return 0;
	}
	if ((rc = exec_retry(ws, "BEGIN IMMEDIATE", err)))
		return rc;
	if ((rc = check_header(ws, &fresh, &v, &marked, err)))
		goto fail;
	if (marked && v == eng_migrations_count) { /* nothing to do: write nothing */
		eng_ws_rollback(ws);
		ws->version = v;
		return 0;
	}
	if (v > eng_migrations_count) {
		rc = eng_err_set(err, ENG_EINPUT,
		                 "workspace schema version %d is newer than this mmaudit (%d); "
		                 "use a newer mmaudit or a new --db",
		                 v, eng_migrations_count);
		goto fail;
	}
	for (int i = v; i < eng_migrations_count; i++) {
		const eng_migration *m = &eng_migrations[i];
		if ((rc = eng_ws_exec(ws, m->sql, err))) {
			eng_err_prefix(err, "migration %s: ", m->name);
			goto fail;
		}
	}
	char pragma[96];
	snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d; PRAGMA application_id = %d",
	         eng_migrations_count, ENG_WS_APPLICATION_ID);
	if ((rc = eng_ws_exec(ws, pragma, err)) || (rc = eng_ws_commit(ws, err)))
		goto fail;
	ws->version = eng_migrations_count;
	return 0;
fail:
	eng_ws_rollback(ws);
	return rc;
}

/* Read-only: the header must be ours and the schema current; nothing is written. */
static int check_readonly(eng_ws *ws, eng_err *err)
{
	int v = 0, fresh = 0, rc;
	if ((rc = check_header(ws, &fresh, &v, NULL, err)))
		return rc;
	if (fresh)
		return eng_err_set(err, ENG_EINPUT,
		                   "an empty database, not an mmaudit workspace; run `mmaudit "
		                   "index` first");
	if (v != eng_migrations_count)
		return eng_err_set(err, ENG_EINPUT,
		                   "workspace schema version %d, this mmaudit reads %d; %s", v,
		                   eng_migrations_count,
		                   v > eng_migrations_count
		                       ? "use a newer mmaudit"
		                       : "run a writing command (e.g. `mmaudit score`) once to "
		                         "upgrade it");
	ws->version = v;
	return 0;
}

enum { OPEN_CREATE = 1, OPEN_READONLY = 2 };

/* A path that exists must be a regular file (SQLite would otherwise block on a FIFO or read a
 * device); a missing one is created only with OPEN_CREATE. */
static int check_path(const char *path, int mode, eng_err *err)
{
	struct stat sb;
	if (!strcmp(path, ":memory:") || !*path)
		return 0;
	if (stat(path, &sb) != 0) {
		if (errno == ENOENT && (mode & OPEN_CREATE)) {
			return eng_out_check(path, err); /* its folder exists and is one */
		}
		return eng_err_set(
		    err, errno == ENOENT || errno == ENOTDIR ? ENG_EINPUT : ENG_EIO,
		    "workspace '%s': %s%s", path, strerror(errno),
		    errno == ENOENT ? "; run `mmaudit index --db PATH FILE.jsonl` first" : "");
	}
	if (!S_ISREG(sb.st_mode))
		return eng_err_set(err, ENG_EINPUT, "workspace '%s' is %s, not a workspace file",
		                   path,
		                   S_ISDIR(sb.st_mode)    ? "a directory"
		                   : S_ISFIFO(sb.st_mode) ? "a FIFO"
		                   : S_ISCHR(sb.st_mode)  ? "a character device"
		                   : S_ISBLK(sb.st_mode)  ? "a block device"
		                                          : "not a regular file");
	return 0;
}

static int open_impl(const char *path, int mode, int bg, eng_ws **out, eng_err *err)
{
	/* SQLite's memory statistics take one process-wide mutex per allocation, which serializes
	 * connections working on different threads; nothing here reads them. Only possible before
	 * the library initializes, so later calls fail harmlessly. */
	static int configured;
	if (!configured) {
		configured = 1;
		sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	}
	*out = NULL;
	int rc = check_path(path, mode, err);
	if (rc)
		return rc;
	eng_ws *ws = calloc(1, sizeof *ws);
	if (!ws)
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	ws->readonly = !!(mode & OPEN_READONLY);
	/* read-only commands: a read-write handle (never SQLITE_OPEN_CREATE) with query_only set,
	 * so that closing last folds the WAL in and removes it as any reader would (a read-only
	 * handle would leave -wal and -shm behind); SQLite itself opens a write-protected file
	 * read-only */
	/* NOMUTEX: a connection is used by one thread at a time (the workers of the pools compute,
	 * the thread that owns the handle reads and writes; a background writer gets its own
	 * handle, eng_ws_reopen), so SQLite's per-connection mutex, taken on every column read and
	 * bind, is left out: it was 2.5% of an audit's CPU */
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
	            (mode & OPEN_CREATE ? SQLITE_OPEN_CREATE : 0);
	if (sqlite3_open_v2(path, &ws->db, flags, NULL) != SQLITE_OK) {
		rc = ws->db ? eng_ws_fail(ws, err, "open")
		            : eng_err_set(err, ENG_ENOMEM, "open: out of memory");
		eng_err_prefix(err, "workspace '%s': ", path);
		eng_ws_close(ws);
		return rc;
	}
	sqlite3_extended_result_codes(ws->db, 1);
	sqlite3_busy_timeout(ws->db, 10000);
	/* WAL lets `info` read while `index` writes; NORMAL sync is durable across process kills.
	 * 16 KiB pages (new workspaces only; an existing file keeps its size): answers span fewer
	 * overflow pages and a commit makes a quarter of the write calls. The header is checked
	 * before anything is written: another program's database is left as it was. */
	if (ws->readonly) {
		rc = eng_ws_exec(ws, "PRAGMA query_only=ON; PRAGMA temp_store=MEMORY;", err);
		if (!rc)
			rc = check_readonly(ws, err);
	} else {
		int v = 0, fresh = 0;
		rc = check_header(ws, &fresh, &v, NULL, err);
		if (!rc)
			rc = exec_retry(ws,
			                "PRAGMA page_size=16384; PRAGMA journal_mode=WAL;"
			                " PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
			                " PRAGMA temp_store=MEMORY; PRAGMA cache_size=-65536;",
			                err);
		if (!rc)
			rc = migrate(ws, err);
	}
	if (rc) {
		if (rc == ENG_EINPUT && err && strstr(err->msg, "not a database")) {
			eng_err_prefix(err, "workspace '%s': not an mmaudit workspace (", path);
			strncat(err->msg, "); use another --db",
			        sizeof err->msg - strlen(err->msg) - 1);
		} else {
			eng_err_prefix(err, "workspace '%s': ", path);
		}
		eng_ws_close(ws);
		return rc;
	}
	if (bg && !ws->readonly)
		ck_start(ws);
	*out = ws;
	return 0;
}

int eng_ws_open(const char *path, eng_ws **out, eng_err *err)
{
	return open_impl(path, OPEN_CREATE, 1, out, err);
}

int eng_ws_open_readonly(const char *path, eng_ws **out, eng_err *err)
{
	return open_impl(path, OPEN_READONLY, 0, out, err);
}

int eng_ws_is_readonly(const eng_ws *ws)
{
	return ws->readonly;
}

int eng_ws_reopen(eng_ws *ws, eng_ws **out, eng_err *err)
{
	const char *path = sqlite3_db_filename(ws->db, "main");
	*out = NULL;
	if (!path || !*path)
		return eng_err_set(err, ENG_EINPUT, "the workspace has no file to reopen");
	return open_impl(path, ws->readonly ? OPEN_READONLY : 0, 0, out, err);
}

int eng_ws_open_existing(const char *path, eng_ws **out, eng_err *err)
{
	return open_impl(path, 0, 1, out, err);
}

void eng_ws_close(eng_ws *ws)
{
	if (!ws)
		return;
	ck_stop(ws);
	sqlite3_close_v2(ws->db);
	free(ws);
}

int eng_ws_dataset_id(eng_ws *ws, const char *name, int64_t *id, eng_err *err)
{
	sqlite3_stmt *st = eng_ws_prepare(ws, "SELECT id FROM datasets WHERE name = ?1", err);
	if (!st)
		return err ? err->code : ENG_EINTERNAL;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
		return 0;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return eng_ws_fail(ws, err, "find dataset");
	return eng_err_set(
	    err, ENG_EINPUT,
	    "no dataset named '%s' in the workspace; `mmaudit info --db PATH` lists them", name);
}
