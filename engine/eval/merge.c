/* merge.c - merges shard workspaces scored with one model into one workspace (merge.h). */
#include "merge.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dedup.h"
#include "outfile.h"
#include "runs.h"
#include "score.h"
#include "workspace_sql.h"

/* The newest done score run of the attached shard "s" and the model it was scored with. */
static int shard_run(eng_ws *ws, const char *path, int64_t *run, char *sha, size_t cap,
                     double *confident, double *gain, eng_err *err)
{
	sqlite3_stmt *q = eng_ws_prepare(
	    ws,
	    "SELECT id, json_extract(options, '$.model_sha256'), json_extract(options,"
	    " '$.confident') FROM s.runs WHERE kind = '" ENG_RUN_SCORE "' AND status = 'done'"
	    " ORDER BY id DESC LIMIT 1",
	    err);
	if (!q)
		return err ? err->code : ENG_EINTERNAL;
	int rc = 0;
	if (sqlite3_step(q) != SQLITE_ROW) {
		rc = eng_err_set(err, ENG_EINPUT,
		                 "shard '%s' has no finished score run; score it first with "
		                 "`mmaudit score --model MODEL --db %s`",
		                 path, path);
	} else if (sqlite3_column_type(q, 1) == SQLITE_NULL) {
		rc = eng_err_set(err, ENG_EINPUT,
		                 "shard '%s' was not scored with a model file: only shards scored "
		                 "with the same `mmaudit score --model MODEL` can be merged",
		                 path);
	} else {
		*run = sqlite3_column_int64(q, 0);
		snprintf(sha, cap, "%s", (const char *)sqlite3_column_text(q, 1));
		*confident =
		    sqlite3_column_type(q, 2) == SQLITE_NULL ? 0.8 : sqlite3_column_double(q, 2);
		*gain = 0.01;
	}
	sqlite3_finalize(q);
	return rc;
}

/* Runs one statement with the given int64 bindings (?1.. in order). */
static int exec_bind(eng_ws *ws, const char *sql, const int64_t *v, int nv, eng_err *err)
{
	sqlite3_stmt *q = eng_ws_prepare(ws, sql, err);
	if (!q)
		return err ? err->code : ENG_EINTERNAL;
	for (int i = 0; i < nv; i++)
		sqlite3_bind_int64(q, i + 1, v[i]);
	int s = sqlite3_step(q);
	sqlite3_finalize(q);
	return s == SQLITE_DONE || s == SQLITE_ROW ? 0 : eng_ws_fail(ws, err, "merge");
}

/* SQLite cannot ATTACH inside a transaction, so each shard is copied in a transaction of its own
 * into a temporary workspace that replaces OUT only when every shard is in (see merge.h). */
static int merge_into(eng_ws *ws, const char *const *paths, size_t n, const char *command,
                      const eng_progress *prog, int64_t *run_id, size_t *pairs_out, eng_err *err)
{
	*run_id = 0;
	char sha0[80] = "", sha[80];
	int rc = 0, attached = 0, began = 0;
	double confident = 0.8, gain = 0.01;
	json_t *from = json_array();
	int64_t merged = 0;
	if ((rc = eng_ws_exec(ws,
	                      "CREATE TEMP TABLE IF NOT EXISTS mmap(old INTEGER PRIMARY KEY,"
	                      " new INTEGER); CREATE TEMP TABLE IF NOT EXISTS fmap(old INTEGER"
	                      " PRIMARY KEY, new INTEGER); CREATE TEMP TABLE IF NOT EXISTS"
	                      " dmap(old INTEGER PRIMARY KEY, new INTEGER);",
	                      err)))
		goto out;
	for (size_t i = 0; i < n; i++) {
		sqlite3_stmt *a = eng_ws_prepare(ws, "ATTACH DATABASE ?1 AS s", err);
		if (!a) {
			rc = err ? err->code : ENG_EINTERNAL;
			goto out;
		}
		char uri[4200];
		snprintf(uri, sizeof uri, "file:%s?mode=ro", paths[i]);
		sqlite3_bind_text(a, 1, uri, -1, SQLITE_TRANSIENT);
		int s = sqlite3_step(a);
		sqlite3_finalize(a);
		if (s != SQLITE_DONE) {
			rc = eng_err_set(err, ENG_EINPUT, "open shard '%s': %s", paths[i],
			                 sqlite3_errmsg(eng_ws_db(ws)));
			goto out;
		}
		attached = 1;
		if ((rc = eng_ws_begin(ws, err)))
			goto out;
		began = 1;
		int64_t run = 0;
		if ((rc = shard_run(ws, paths[i], &run, sha, sizeof sha, &confident, &gain, err)))
			goto out;
		if (!sha0[0]) {
			snprintf(sha0, sizeof sha0, "%s", sha);
		} else if (strcmp(sha0, sha)) {
			rc = eng_err_set(
			    err, ENG_EINPUT,
			    "shard '%s' was scored with model %.16s..., the others with "
			    "%.16s...: score every shard with the same model file",
			    paths[i], sha, sha0);
			goto out;
		}
		if (!merged) {
			char opts[256];
			snprintf(opts, sizeof opts, "{\"merged\":true,\"model_sha256\":\"%s\"}",
			         sha0);
			if ((rc = eng_run_begin(ws, ENG_RUN_SCORE, 0, opts, command, run_id, err)))
				goto out;
			merged = *run_id;
		}
		json_array_append_new(from, json_string(paths[i]));
		int64_t r1[1] = {run}, r2[2] = {merged, run};
		if ((rc = eng_ws_exec(ws, "DELETE FROM mmap; DELETE FROM fmap; DELETE FROM dmap;",
		                      err)) ||
		    (rc = eng_ws_exec(ws,
		                      "INSERT OR IGNORE INTO main.datasets(name) SELECT name FROM"
		                      " s.datasets; INSERT INTO dmap SELECT sd.id, md.id FROM"
		                      " s.datasets sd JOIN main.datasets md ON md.name = sd.name;"
		                      " INSERT OR IGNORE INTO main.images(sha256, width, height,"
		                      " format, bytes, source, thumb, feat, feat_dim, feat_version)"
		                      " SELECT sha256, width, height, format, bytes, source, thumb,"
		                      " feat, feat_dim, feat_version FROM s.images;",
		                      err)) ||
		    (rc = eng_ws_exec(
		         ws,
		         /* a file indexed in shards (index --shard I/N) arrives once per shard:
		          * its counts are the sum of the shards' */
		         "UPDATE main.source_files AS g SET records = g.records + f.records,"
		         " pairs = g.pairs + f.pairs, errors = g.errors + f.errors FROM"
		         " s.source_files f JOIN dmap dm ON dm.old = f.dataset_id WHERE"
		         " g.dataset_id = dm.new AND g.sha256 = f.sha256;"
		         " INSERT INTO main.source_files(dataset_id, path, sha256, bytes,"
		         " records, pairs, errors, images_root) SELECT dm.new, f.path,"
		         " f.sha256, f.bytes, f.records, f.pairs, f.errors, f.images_root"
		         " FROM s.source_files f JOIN dmap dm ON dm.old = f.dataset_id"
		         " WHERE NOT EXISTS (SELECT 1 FROM main.source_files g WHERE"
		         " g.dataset_id = dm.new AND g.sha256 = f.sha256);"
		         " INSERT INTO fmap SELECT f.id, g.id FROM s.source_files f JOIN"
		         " dmap dm ON dm.old = f.dataset_id JOIN main.source_files g ON"
		         " g.dataset_id = dm.new AND g.sha256 = f.sha256;",
		         err)))
			goto out;
		/* pairs: a pair already in the merged workspace (same dataset and id: a shard given
		 * twice, or overlapping shards) is an error, not silently doubled */
		sqlite3_stmt *dup = eng_ws_prepare(
		    ws,
		    "SELECT p.ext_id FROM s.pairs p JOIN dmap dm ON dm.old = p.dataset_id JOIN"
		    " main.pairs q ON q.dataset_id = dm.new AND q.ext_id = p.ext_id LIMIT 1",
		    err);
		if (!dup) {
			rc = err ? err->code : ENG_EINTERNAL;
			goto out;
		}
		if (sqlite3_step(dup) == SQLITE_ROW)
			rc = eng_err_set(
			    err, ENG_EINPUT,
			    "shard '%s' repeats pair '%s' already merged (the same shard "
			    "twice, or shards that overlap)",
			    paths[i], (const char *)sqlite3_column_text(dup, 0));
		sqlite3_finalize(dup);
		if (rc)
			goto out;
		if ((rc = exec_bind(
		         ws,
		         "INSERT INTO main.pairs(dataset_id, file_id, line, ext_id, prompt,"
		         " chosen, rejected, image_id, image_ref, meta) SELECT dm.new,"
		         " fm.new, p.line, p.ext_id, p.prompt, p.chosen, p.rejected, mi.id,"
		         " p.image_ref, p.meta FROM s.pairs p JOIN dmap dm ON dm.old ="
		         " p.dataset_id JOIN fmap fm ON fm.old = p.file_id LEFT JOIN"
		         " s.images si ON si.id = p.image_id LEFT JOIN main.images mi ON"
		         " mi.sha256 = si.sha256 ORDER BY p.id",
		         NULL, 0, err)) ||
		    (rc = eng_ws_exec(
		         ws,
		         "INSERT INTO mmap SELECT p.id, q.id FROM s.pairs p JOIN dmap dm"
		         " ON dm.old = p.dataset_id JOIN main.pairs q ON q.dataset_id ="
		         " dm.new AND q.ext_id = p.ext_id;"
		         " INSERT INTO main.ingest_errors(dataset_id, file_id, path, line,"
		         " code, reason) SELECT dm.new, fm.new, e.path, e.line, e.code,"
		         " e.reason FROM s.ingest_errors e JOIN dmap dm ON dm.old ="
		         " e.dataset_id JOIN fmap fm ON fm.old = e.file_id;",
		         err)) ||
		    (rc = exec_bind(
		         ws,
		         "INSERT INTO main.pair_scores(run_id, pair_id, fold, p_text, p_mm,"
		         " p_sa, sfc, category, chosen_chars, rejected_chars, image_effect,"
		         " swap_flip, blank_flip) SELECT ?1, mm.new, s2.fold, s2.p_text,"
		         " s2.p_mm, s2.p_sa, s2.sfc, s2.category, s2.chosen_chars,"
		         " s2.rejected_chars, s2.image_effect, s2.swap_flip, s2.blank_flip"
		         " FROM s.pair_scores s2 JOIN mmap mm ON mm.old = s2.pair_id WHERE"
		         " s2.run_id = ?2",
		         r2, 2, err)) ||
		    (rc = exec_bind(
		         ws,
		         "INSERT OR IGNORE INTO main.run_datasets(run_id, dataset_id,"
		         " metrics) SELECT ?2, dm.new, NULL FROM s.run_datasets rd JOIN dmap"
		         " dm ON dm.old = rd.dataset_id WHERE rd.run_id = ?1",
		         (int64_t[2]){run, merged}, 2, err)) ||
		    /* the top features of the model (the same fold proxies in every shard);
		     * presence shares are those of the first shard that has the dataset */
		    (rc = exec_bind(
		         ws,
		         "INSERT OR IGNORE INTO main.top_features(run_id, dataset_id, rank,"
		         " feature, weight, present, acc_present) SELECT ?2, dm.new, t.rank,"
		         " t.feature, t.weight, t.present, t.acc_present FROM"
		         " s.top_features t JOIN dmap dm ON dm.old = t.dataset_id WHERE"
		         " t.run_id = ?1",
		         (int64_t[2]){run, merged}, 2, err)))
			goto out;
		(void)r1;
		if ((rc = eng_ws_commit(ws, err)))
			goto out;
		began = 0;
		if ((rc = eng_ws_exec(ws, "DETACH DATABASE s", err)))
			goto out;
		attached = 0;
		eng_progress_tick(prog, "merge: shards", (uint64_t)i + 1, (uint64_t)n);
	}
	if ((rc = eng_ws_begin(ws, err)))
		goto out;
	began = 1;
	/* duplicates and label conflicts across the shards: each shard saw only its own pairs (the
	 * columns were not copied), so they are recomputed on the merged datasets */
	sqlite3_stmt *dd = eng_ws_prepare(ws, "SELECT id FROM datasets ORDER BY id", err);
	if (!dd) {
		rc = err ? err->code : ENG_EINTERNAL;
		goto out;
	}
	while (!rc && sqlite3_step(dd) == SQLITE_ROW) {
		eng_dedup_result dr;
		rc = eng_dedup_dataset(ws, sqlite3_column_int64(dd, 0), &dr, err);
	}
	sqlite3_finalize(dd);
	if (rc)
		goto out;
	/* the dataset metrics, restated from the merged scores */
	sqlite3_stmt *dq = eng_ws_prepare(
	    ws, "SELECT dataset_id FROM run_datasets WHERE run_id = ?1 ORDER BY dataset_id", err);
	sqlite3_stmt *up =
	    eng_ws_prepare(ws,
	                   "UPDATE run_datasets SET metrics = ?3 WHERE run_id = ?1 AND "
	                   "dataset_id = ?2",
	                   err);
	if (!dq || !up) {
		sqlite3_finalize(dq);
		sqlite3_finalize(up);
		rc = err ? err->code : ENG_EINTERNAL;
		goto out;
	}
	sqlite3_bind_int64(dq, 1, merged);
	json_t *all = json_object();
	while (!rc && sqlite3_step(dq) == SQLITE_ROW) {
		int64_t ds = sqlite3_column_int64(dq, 0);
		char *mj = NULL;
		if ((rc = eng_score_restate(ws, merged, ds, confident, gain, &mj, err)))
			break;
		sqlite3_reset(up);
		sqlite3_bind_int64(up, 1, merged);
		sqlite3_bind_int64(up, 2, ds);
		sqlite3_bind_text(up, 3, mj, -1, free);
		if (sqlite3_step(up) != SQLITE_DONE)
			rc = eng_ws_fail(ws, err, "write merged metrics");
	}
	sqlite3_finalize(dq);
	sqlite3_finalize(up);
	if (!rc) {
		sqlite3_stmt *c =
		    eng_ws_prepare(ws, "SELECT count(*) FROM pair_scores WHERE run_id = ?1", err);
		if (c) {
			sqlite3_bind_int64(c, 1, merged);
			if (sqlite3_step(c) == SQLITE_ROW && pairs_out)
				*pairs_out = (size_t)sqlite3_column_int64(c, 0);
			sqlite3_finalize(c);
		}
		json_t *mo =
		    json_pack("{s:b, s:s, s:O}", "merged", 1, "model_sha256", sha0, "shards", from);
		char *ms = json_dumps(mo, JSON_COMPACT);
		json_decref(mo);
		int64_t v[1] = {merged};
		(void)v;
		sqlite3_stmt *o2 =
		    eng_ws_prepare(ws, "UPDATE runs SET options = ?2 WHERE id = ?1", err);
		if (o2 && ms) {
			sqlite3_bind_int64(o2, 1, merged);
			sqlite3_bind_text(o2, 2, ms, -1, SQLITE_TRANSIENT);
			if (sqlite3_step(o2) != SQLITE_DONE)
				rc = eng_ws_fail(ws, err, "write merged run");
		}
		sqlite3_finalize(o2);
		free(ms);
		if (!rc && (rc = eng_run_finish(ws, merged, "{}", 0, err)) == 0)
			rc = eng_ws_commit(ws, err);
	}
	json_decref(all);
out:
	if (rc && began)
		eng_ws_rollback(ws);
	if (attached)
		eng_ws_exec(ws, "DETACH DATABASE s", NULL);
	json_decref(from);
	return rc;
}

int eng_merge(const char *out, const char *const *paths, size_t n, const char *command,
              const eng_progress *prog, size_t *pairs_out, eng_err *err)
{
	if (n == 0)
		return eng_err_set(err, ENG_EINPUT, "merge needs at least one shard workspace");
	size_t len = strlen(out);
	char *side = malloc(len + 40);
	if (!side)
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	/* a unique empty file next to OUT (engine/base/outfile.h); SQLite then writes it */
	eng_outset outs = {0};
	const char *tmp = NULL;
	int rc = eng_out_reserve(&outs, out, &tmp, err);
	if (rc) {
		free(side);
		return rc;
	}
	eng_ws *ws = NULL;
	struct stat st;
	if (stat(out, &st) == 0) { /* an existing OUT is carried over, then merged into */
		eng_ws *old = NULL;
		if (!(rc = eng_ws_open_existing(out, &old, err))) {
			sqlite3_stmt *v = eng_ws_prepare(old, "VACUUM INTO ?1", err);
			if (!v) {
				rc = err ? err->code : ENG_EINTERNAL;
			} else {
				sqlite3_bind_text(v, 1, tmp, -1, SQLITE_TRANSIENT);
				if (sqlite3_step(v) != SQLITE_DONE)
					rc = eng_ws_fail(old, err, "copy the existing workspace");
				sqlite3_finalize(v);
			}
		}
		eng_ws_close(old);
	}
	int64_t run_id = 0;
	if (!rc)
		rc = eng_ws_open(tmp, &ws, err);
	if (!rc)
		rc = merge_into(ws, paths, n, command, prog, &run_id, pairs_out, err);
	eng_ws_close(ws); /* folds the WAL in: tmp is one file */
	if (!rc) {
		/* a stale WAL of an earlier OUT must not be replayed onto the new file */
		snprintf(side, len + 40, "%s-wal", out);
		unlink(side);
		snprintf(side, len + 40, "%s-shm", out);
		unlink(side);
		rc = eng_out_commit(&outs, err);
	} else {
		eng_out_abort(&outs); /* with its -wal and -shm */
	}
	free(side);
	return rc;
}
