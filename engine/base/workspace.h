/* workspace.h - the audit workspace: one SQLite file, WAL mode, schema migrated on open.
 *
 * The workspace is the hub every stage reads from and writes to. This module opens it, applies the
 * embedded migrations (schema version in PRAGMA user_version) and offers transaction helpers. It
 * knows nothing of records, models or reports. Its SQL side (the connection, prepared statements)
 * is in workspace_sql.h, for the engine's own modules only.
 *
 * Threads: a handle (and every statement prepared on it) is used by one thread at a time; its
 * connection is opened without SQLite's per-connection mutex (SQLITE_OPEN_NOMUTEX). A reader on
 * another thread takes its own handle (eng_ws_reopen). */
#ifndef ENG_WORKSPACE_H
#define ENG_WORKSPACE_H

#include <stdint.h>

#include "err.h"

typedef struct eng_ws eng_ws;

/* Opens (creating if needed) the workspace at path; ":memory:" works for tests. Migrates the schema
 * to the newest version. A database from a newer mmaudit (user_version too high) is refused with
 * ENG_EINPUT. Returns 0 and *out, or a negative code with *out = NULL. */
int eng_ws_open(const char *path, eng_ws **out, eng_err *err);

/* PRAGMA application_id of every workspace ("mmau"). An existing database without it is refused
 * with ENG_EINPUT ("not an mmaudit workspace") and left untouched, except an empty one and a
 * workspace of an mmaudit from before the mark (recognised by its tables), which is marked on its
 * next read-write open. An existing path that is not a regular file is refused with ENG_EINPUT. */
#define ENG_WS_APPLICATION_ID 0x6d6d6175

/* Opens an existing workspace read-write (migrating it): fails with ENG_EINPUT when path does not
 * exist. */
int eng_ws_open_existing(const char *path, eng_ws **out, eng_err *err);

/* Opens an existing workspace read-only (info, report, gate): never creates, migrates or writes
 * it; a workspace of an older schema is refused with ENG_EINPUT saying how to upgrade it. */
int eng_ws_open_readonly(const char *path, eng_ws **out, eng_err *err);

/* 1 when ws was opened with eng_ws_open_readonly. */
int eng_ws_is_readonly(const eng_ws *ws);

/* A second connection to ws's file, for a reader on another thread (WAL lets it read while ws
 * writes). ENG_EINPUT when ws has no file (":memory:"): callers then stay on one connection. */
int eng_ws_reopen(eng_ws *ws, eng_ws **out, eng_err *err);

/* Closes; accepts NULL. */
void eng_ws_close(eng_ws *ws);

/* Schema version after open. */
int eng_ws_schema_version(eng_ws *ws);

/* Runs sql (no parameters, possibly several statements). On failure fills err with the sqlite
 * message. */
int eng_ws_exec(eng_ws *ws, const char *sql, eng_err *err);

/* Sets the connection's page cache limit to kib KiB (PRAGMA cache_size = -kib) and frees the
 * cached pages beyond it; *prev_kib (when not NULL) receives the limit it replaced, in KiB. A scan
 * that reads each page once needs little cache, and a process that goes on to train gets the
 * memory back. Returns 0 or the sqlite error (err filled). */
int eng_ws_cache_kib(eng_ws *ws, int kib, int *prev_kib, eng_err *err);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. rollback never fails loudly. */
int eng_ws_begin(eng_ws *ws, eng_err *err);
int eng_ws_commit(eng_ws *ws, eng_err *err);
void eng_ws_rollback(eng_ws *ws);

/* BEGIN IMMEDIATE without foreign-key enforcement when nothing has been committed to the workspace
 * by any other connection since *since (a PRAGMA data_version value this connection read earlier,
 * eng_ws_data_version): then the caller, holding the write lock from here to its commit, knows
 * that the rows it read since then still exist, and the per-row look-ups of the keys it inserts
 * that refer to them are redundant. Otherwise (or when ws is in a transaction already) the
 * transaction begins with the checks on. *unchecked says which; after the COMMIT or ROLLBACK the
 * caller calls eng_ws_checks_on. Nothing that needs ON DELETE CASCADE may run in an unchecked
 * transaction. */
int eng_ws_data_version(eng_ws *ws, int64_t *out, eng_err *err);
int eng_ws_begin_unchecked(eng_ws *ws, int64_t since, int *unchecked, eng_err *err);
void eng_ws_checks_on(eng_ws *ws);

/* Maps the connection's last error to an eng code (SQLITE_FULL/IOERR/READONLY -> ENG_EIO ...) and
 * fills err with "what: sqlite message". Returns the code. */
int eng_ws_fail(eng_ws *ws, eng_err *err, const char *what);

/* Looks up a dataset id by name; returns 0 and *id, ENG_EINPUT when absent (message lists names).
 */
int eng_ws_dataset_id(eng_ws *ws, const char *name, int64_t *id, eng_err *err);

#endif
