/* workspace_sql.h - the SQL side of the workspace, for the engine's own modules (store/, ingest/,
 * eval/ ...) and their tests. reports/ and audit/ never include it: they reach the workspace
 * through the typed functions of engine/store/, so no SQL and no sqlite3 type leaves the engine. */
#ifndef ENG_WORKSPACE_SQL_H
#define ENG_WORKSPACE_SQL_H

#include <sqlite3.h>

#include "workspace.h"

/* The underlying connection, owned by ws. */
sqlite3 *eng_ws_db(eng_ws *ws);

/* Prepares sql; on failure fills err ("prepare: <sqlite message>") and returns NULL. */
sqlite3_stmt *eng_ws_prepare(eng_ws *ws, const char *sql, eng_err *err);

#endif
