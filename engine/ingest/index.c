/* index.c - JSONL or Parquet file, or bundle -> pairs/images/ingest_errors rows, one transaction
 * per file: the dataset and source file rows, the idempotence key (content hash + options) and the
 * steps of eng_index_file. Reading the input: idxinput.c; records to rows: idxrecords.c; images:
 * idximages.c; bundles: idxbundle.c; record shapes: records.c; the image store: imgstore.c. */
#include "index_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "answers.h"
#include "dedup.h"
#include "imgfeat.h"
#include "runs.h"
#include "safetext.h"
#include "workspace_sql.h"

void eng_index_stem(const char *path, char *stem, size_t n)
{
	const char *b = strrchr(path, '/');
	b = b ? b + 1 : path;
	eng_text_escape(b, (size_t)-1, stem, n); /* a name is valid printable UTF-8 */
	static const char *const sfx[] = {".gz",  ".bz2",   ".xz",   ".zst",    ".tar",    ".tgz",
	                                  ".zip", ".jsonl", ".json", ".ndjson", ".parquet"};
	for (size_t i = 0; i < sizeof sfx / sizeof sfx[0]; i++) {
		size_t l = strlen(stem), k = strlen(sfx[i]);
		if (l > k && !strcmp(stem + l - k, sfx[i]))
			stem[l - k] = '\0';
	}
}

/* ---- the file transaction ------------------------------------------------------------------ */

/* The idempotence key's second half: every option that changes what a file's records give
 * (which pairs are kept, their texts, ids or images), in a fixed order. Same content + same key =
 * skipped; same content + another key = the file's rows are replaced. malloc'd, or NULL (ENOMEM).
 */
static char *options_key(const eng_index_opts *o, const char *root, int root_given)
{
	char *m = eng_rec_map_format(o->map);
	if (!m)
		return NULL;
	const char *ans = o->map && o->map->answers ? eng_answers_sha256(o->map->answers) : "";
	size_t n = strlen(m) + strlen(ans) + strlen(root) + 400;
	char *k = malloc(n);
	if (k)
		snprintf(
		    k, n,
		    "shape=%s; map=%s; missing-images=%s; duplicate-ids=%s; images=%s; "
		    "max-pixels=%llu; max-line=%llu; answers=%.12s; imgfeat=%d",
		    eng_rec_shape_name(o->shape), *m ? m : "-",
		    o->missing_text_only ? "text-only" : "reject",
		    o->rename_dup_ids ? "rename" : "reject", root_given ? root : "(file's folder)",
		    (unsigned long long)(o->max_pixels ? o->max_pixels
		                                       : ENG_IMAGE_DEFAULT_MAX_PIXELS),
		    (unsigned long long)(o->max_line ? o->max_line : ENG_JSONL_DEFAULT_MAX_LINE),
		    *ans ? ans : "-", ENG_IMGFEAT_VERSION);
	free(m);
	if (k && o->shard.n) /* a shard keeps other records than the whole file */
		snprintf(k + strlen(k), n - strlen(k), "; shard=%u/%u", o->shard.i, o->shard.n);
	return k;
}

/* Same content already in the dataset: skipped when ingested with the same options key, else its
 * source_files row, its pairs, their scores and its errors are deleted here, in the file's
 * transaction, so that it is ingested again with the new options. Deleted explicitly, children
 * first, as ON DELETE CASCADE would: the file's transaction may run without foreign-key
 * enforcement (eng_index_file). */
static int replace_or_skip(ictx *c, eng_err *err)
{
	sqlite3_stmt *a = eng_ws_prepare(
	    c->ws,
	    "SELECT id, options, pairs FROM source_files WHERE dataset_id = ?1 AND sha256 = ?2",
	    err);
	if (!a)
		return err->code;
	sqlite3_bind_int64(a, 1, c->ds_id);
	sqlite3_bind_text(a, 2, c->sha, -1, SQLITE_STATIC);
	int s = sqlite3_step(a), rc = 0;
	if (s == SQLITE_ROW) {
		const char *was = (const char *)sqlite3_column_text(a, 1);
		if (was && !strcmp(was, c->okey)) {
			c->res->skipped = 1;
		} else {
			eng_index_result *r = c->res;
			r->replaced++;
			r->replaced_pairs += (uint64_t)sqlite3_column_int64(a, 2);
			snprintf(r->replaced_options, sizeof r->replaced_options, "%s",
			         was ? was : "(unknown: ingested by an older mmaudit)");
			int64_t old = sqlite3_column_int64(a, 0);
			sqlite3_finalize(a);
			static const char *const del[] = {
			    "DELETE FROM pair_scores WHERE pair_id IN (SELECT id FROM pairs WHERE "
			    "file_id = ?1)",
			    "DELETE FROM pairs WHERE file_id = ?1",
			    "DELETE FROM ingest_errors WHERE file_id = ?1",
			    "DELETE FROM source_files WHERE id = ?1"};
			s = SQLITE_DONE;
			for (size_t q = 0; q < sizeof del / sizeof *del && s == SQLITE_DONE; q++) {
				if (!(a = eng_ws_prepare(c->ws, del[q], err)))
					return err->code;
				sqlite3_bind_int64(a, 1, old);
				s = sqlite3_step(a) == SQLITE_DONE ? SQLITE_DONE : SQLITE_ERROR;
				if (s == SQLITE_DONE && q + 1 < sizeof del / sizeof *del)
					sqlite3_finalize(a);
			}
		}
	}
	if (s != SQLITE_ROW && s != SQLITE_DONE)
		rc = eng_ws_fail(c->ws, err, "find source file");
	sqlite3_finalize(a);
	return rc;
}

/* Makes stem (n bytes) give ids no other source file of the dataset gives: a stem over 200 bytes
 * is cut to 200 and gets "~" + 8 hex digits of the whole stem's FNV-1a hash; when pairs of the
 * dataset already have ids "<stem>:..." (a file of the same name in another folder, or another
 * member of a bundle), "@" + the first 8 hex digits of this file's content SHA-256 is appended.
 * Same layout and order of files -> same ids. */
int eng_idx_unique_stem(ictx *c, char *stem, size_t n, eng_err *err)
{
	if (strlen(stem) > 200) {
		char tail[16];
		snprintf(tail, sizeof tail, "~%08llx",
		         (unsigned long long)(eng_idx_fnv1a(stem) >> 32));
		stem[200] = '\0';
		strcat(stem, tail);
	}
	sqlite3_stmt *st = eng_ws_prepare(c->ws,
	                                  "SELECT 1 FROM pairs WHERE dataset_id = ?1 AND ext_id >= "
	                                  "?2 || ':' AND ext_id < ?2 || ';'"
	                                  " LIMIT 1",
	                                  err);
	if (!st)
		return err->code;
	sqlite3_bind_int64(st, 1, c->ds_id);
	sqlite3_bind_text(st, 2, stem, -1, SQLITE_STATIC);
	int s = sqlite3_step(st);
	sqlite3_finalize(st);
	if (s == SQLITE_ROW) {
		size_t l = strlen(stem);
		snprintf(stem + l, n - l, "@%.8s", c->sha);
	} else if (s != SQLITE_DONE) {
		return eng_ws_fail(c->ws, err, "check derived ids");
	}
	return 0;
}

int eng_idx_lookup_or_create(ictx *c, const char *dataset, uint64_t bytes, eng_err *err)
{
	sqlite3_stmt *a = NULL, *b = NULL;
	int rc = ENG_EINTERNAL;
	if (!(a = eng_ws_prepare(c->ws, "INSERT OR IGNORE INTO datasets(name) VALUES (?1)", err)) ||
	    !(b = eng_ws_prepare(c->ws, "SELECT id FROM datasets WHERE name = ?1", err))) {
		rc = err->code;
		goto out;
	}
	sqlite3_bind_text(a, 1, dataset, -1, SQLITE_STATIC);
	sqlite3_bind_text(b, 1, dataset, -1, SQLITE_STATIC);
	if (sqlite3_step(a) != SQLITE_DONE || sqlite3_step(b) != SQLITE_ROW) {
		rc = eng_ws_fail(c->ws, err, "create dataset");
		goto out;
	}
	c->ds_id = sqlite3_column_int64(b, 0);
	sqlite3_finalize(a);
	sqlite3_finalize(b);
	a = b = NULL;
	if ((rc = replace_or_skip(c, err)) || c->res->skipped)
		goto out;
	if (!(a = eng_ws_prepare(
	          c->ws,
	          "INSERT INTO source_files(dataset_id, path, sha256, bytes, images_root, options)"
	          " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	          err))) {
		rc = err->code;
		goto out;
	}
	sqlite3_bind_int64(a, 1, c->ds_id);
	sqlite3_bind_text(a, 2, c->path, -1, SQLITE_STATIC);
	sqlite3_bind_text(a, 3, c->sha, -1, SQLITE_STATIC);
	sqlite3_bind_int64(a, 4, (sqlite3_int64)bytes);
	sqlite3_bind_text(a, 5, c->root, -1, SQLITE_STATIC);
	sqlite3_bind_text(a, 6, c->okey, -1, SQLITE_STATIC);
	if (sqlite3_step(a) != SQLITE_DONE) {
		rc = eng_ws_fail(c->ws, err, "store source file");
		goto out;
	}
	c->file_id = sqlite3_last_insert_rowid(c->db);
	rc = 0;
out:
	sqlite3_finalize(a);
	sqlite3_finalize(b);
	return rc;
}

/* Stores the record count of file row file_id and its pair/error counts (by query, so that the
 * archive pass's rejections are included). */
int eng_idx_finish_file(ictx *c, int64_t file_id, uint64_t records, eng_err *err)
{
	sqlite3_stmt *st = eng_ws_prepare(
	    c->ws,
	    "UPDATE source_files SET records = ?2, pairs = (SELECT count(*) FROM pairs WHERE"
	    " file_id = ?1), errors = (SELECT count(*) FROM ingest_errors WHERE file_id = ?1)"
	    " WHERE id = ?1",
	    err);
	if (!st)
		return err->code;
	sqlite3_bind_int64(st, 1, file_id);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)records);
	int rc =
	    sqlite3_step(st) == SQLITE_DONE ? 0 : eng_ws_fail(c->ws, err, "update source file");
	sqlite3_finalize(st);
	return rc;
}

/* Copies a pipe or FIFO at path to *spool (eng_idx_read_stream) and sniffs Parquet (*parquet); a
 * ".parquet" name without the magic is ENG_EINPUT (*spool removed and NULL then). */
static int open_source(const char *path, int bundle, char **spool, int *parquet, eng_err *err)
{
	int rc = eng_idx_read_stream(path, bundle, spool, err);
	if (rc)
		return rc;
	const char *src = *spool ? *spool : path;
	*parquet = !bundle && eng_pq_sniff(src);
	size_t plen = strlen(path);
	if (!bundle && !*parquet && plen > 8 && !strcasecmp(path + plen - 8, ".parquet")) {
		if (*spool)
			unlink(*spool);
		free(*spool);
		*spool = NULL;
		return eng_err_set(
		    err, ENG_EINPUT,
		    "%s: not a Parquet file (no PAR1 magic at the start); the file is "
		    "corrupt or not Parquet",
		    path);
	}
	return 0;
}

/* Sets c->root, what relative image references resolve against: --images (a folder, or an
 * archive checked now), the bundle itself, or the input's folder (*dir, malloc'd; "." for a
 * stream). */
static int images_root(ictx *c, const eng_index_opts *opts, int bundle, int spooled, char **dir,
                       eng_err *err)
{
	const char *path = c->path;
	if (opts->images) {
		struct stat sb;
		if (stat(opts->images, &sb) != 0)
			return eng_err_set(err, ENG_EINPUT, "--images '%s': %s", opts->images,
			                   strerror(errno));
		if (!S_ISDIR(sb.st_mode) && !S_ISREG(sb.st_mode)) /* a FIFO would block */
			return eng_err_set(err, ENG_EINPUT,
			                   "--images '%s' is %s, not a folder or an archive file",
			                   opts->images, eng_err_file_kind(sb.st_mode));
		c->root = opts->images;
		c->root_is_archive = !S_ISDIR(sb.st_mode);
		if (c->root_is_archive)
			return eng_archive_check(opts->images, err);
	} else if (bundle) {
		c->root = path; /* images next to the records, in the same archive */
		c->root_is_archive = 1;
	} else {
		/* a stream's images are relative to the current folder, not /dev's */
		const char *slash = spooled ? NULL : strrchr(path, '/');
		if (!(*dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path))
		                   : strdup(".")))
			return eng_err_set(err, ENG_ENOMEM, "out of memory");
		c->root = *dir;
	}
	return 0;
}

/* The image store and the statements that write the file's rows. */
static int open_writers(ictx *c, uint64_t max_pixels, eng_err *err)
{
	int rc = eng_imgstore_new(c->ws, max_pixels, &c->imgs, err);
	if (rc)
		return rc;
	if (!(c->ins_pair = eng_ws_prepare(
	          c->ws,
	          "INSERT INTO pairs(dataset_id, file_id, line, ext_id, prompt, chosen, rejected,"
	          " image_id, image_ref, meta) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
	          err)) ||
	    !(c->ins_err =
	          eng_ws_prepare(c->ws,
	                         "INSERT INTO ingest_errors(dataset_id, file_id, path, line,"
	                         " code, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	                         err)) ||
	    !(c->set_img =
	          eng_ws_prepare(c->ws, "UPDATE pairs SET image_id = ?2 WHERE id = ?1", err)) ||
	    !(c->del_pair = eng_ws_prepare(c->ws, "DELETE FROM pairs WHERE id = ?1", err)))
		return err->code;
	return 0;
}

static void close_writers(ictx *c)
{
	sqlite3_finalize(c->ins_pair);
	sqlite3_finalize(c->ins_err);
	sqlite3_finalize(c->set_img);
	sqlite3_finalize(c->del_pair);
	eng_imgstore_free(c->imgs);
}

/* Stores the records (JSONL through reader, or Parquet) and then their archived images; or, for
 * a bundle, every record member and their images. */
static int store_contents(ictx *c, int bundle, int parquet, eng_jsonl *reader, char *stem, size_t n,
                          uint64_t total, const eng_progress *prog, eng_err *err)
{
	int rc;
	if (bundle)
		return eng_idx_bundle(c);
	eng_trace("index: records");
	if ((rc = eng_idx_unique_stem(c, stem, n, err)) ||
	    (rc = parquet ? eng_idx_read_parquet(c, stem, prog)
	                  : eng_idx_read_records(c, reader, stem, total, prog)))
		return rc;
	eng_trace("index: images");
	if ((rc = eng_idx_archive_pass(c, prog)) || (rc = eng_imgstore_flush(c->imgs, err)))
		return rc;
	return eng_idx_finish_file(c, c->file_id, c->res->records - c->res->other_shard, err);
}

/* Recomputes the dataset's duplicates and conflicts, then commits the file's transaction. */
static int dedup_and_commit(ictx *c, uint64_t total, const eng_progress *prog, eng_err *err)
{
	eng_dedup_result dd;
	eng_trace("index: dedup");
	int rc = eng_dedup_dataset_keys(c->ws, c->ds_id, c->keys, &dd, err);
	if (rc)
		return rc;
	c->res->duplicates = dd.duplicates;
	c->res->conflicts = dd.conflicts;
	eng_progress_tick(prog, "index", total, total);
	eng_trace("index: commit");
	rc = eng_ws_commit(c->ws, err);
	eng_trace("index: done");
	return rc;
}

/* Frees what the records and images of the file left on c. */
static void release_state(ictx *c)
{
	eng_idx_cache_free(&c->cache);
	for (size_t i = 0; i < c->npend; i++) {
		free(c->pend[i].name);
		free(c->pend[i].alt);
	}
	for (size_t i = 0; i < c->nmembers; i++)
		free(c->members[i]);
	free(c->members);
	for (size_t i = 0; i < c->nfiles; i++)
		free(c->labels[i]);
	free(c->pend);
	free(c->rowids);
	eng_dedup_keys_free(c->keys);
}

int eng_index_file(eng_ws *ws, const char *dataset, const char *path, const eng_index_opts *opts,
                   eng_index_result *res, eng_err *err)
{
	static const eng_index_opts defaults = {0};
	if (!opts)
		opts = &defaults;
	if (!eng_text_is_clean(dataset))
		return eng_err_set(err, ENG_EINPUT,
		                   "dataset name is not valid printable UTF-8; escape it first "
		                   "(eng_text_escape)");
	memset(res, 0, sizeof *res);
	res->shape = opts->map && opts->shape == ENG_SHAPE_AUTO ? ENG_SHAPE_MAPPED : opts->shape;
	ictx c = {
	    .ws = ws,
	    .db = eng_ws_db(ws),
	    .path = path,
	    .strict = opts->strict,
	    .max_line = opts->max_line,
	    .shard = opts->shard,
	    .missing_text_only = opts->missing_text_only,
	    .rename_dup_ids = opts->rename_dup_ids,
	    .images_outside = opts->images_outside,
	    .ropts = {opts->map && opts->shape == ENG_SHAPE_AUTO ? ENG_SHAPE_MAPPED : opts->shape,
	              opts->map},
	    .res = res,
	    .dataset = dataset,
	    .prog = &opts->progress,
	    .sha = res->sha256,
	    .err = err};
	int bundle = eng_index_is_bundle(path), parquet = 0;
	char *spool = NULL;
	int rc = open_source(path, bundle, &spool, &parquet, err);
	if (rc)
		return rc;
	c.src = spool ? spool : path;
	/* the pairs' duplicate keys, made as they are stored (NULL: dedup reads the pairs back);
	 * freed by release_state on every path from here */
	c.keys = eng_dedup_keys_new();
	FILE *fp = NULL;
	struct archive *ap = NULL;
	gz_in *gz = NULL;
	eng_jsonl *reader = NULL;
	char *dir = NULL;
	int began = 0, unchecked = 0;
	uint64_t bytes = 0;
	char stem[1024], *okey = NULL;
	eng_index_stem(path, stem, sizeof stem);

	if ((rc = eng_idx_hash_file(c.src, &bytes, res->sha256, err))) {
		if (spool)
			eng_err_prefix(err, "%s: ", path);
		goto out;
	}
	if ((rc = images_root(&c, opts, bundle, spool != NULL, &dir, err)))
		goto out;
	if (!(okey = options_key(opts, c.root, opts->images != NULL))) {
		rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
		goto out;
	}
	c.okey = okey;
	if (!bundle && !parquet &&
	    (rc = eng_idx_open_input(path, c.src, &fp, &ap, &gz, &reader, opts->max_line, err)))
		goto out;
	/* Every row the file's transaction inserts refers to rows it inserts or looks up itself
	 * while holding the write lock (the dataset, the source file, the images), so the per-row
	 * foreign-key look-ups (a sixth of the cost of storing a pair) are left out; what it
	 * deletes it deletes with its children (replace_or_skip, del_pair: pairs of this file,
	 * unscored). */
	int64_t dv = 0;
	if ((rc = eng_ws_data_version(ws, &dv, err)) ||
	    (rc = eng_ws_begin_unchecked(ws, dv, &unchecked, err)))
		goto out;
	began = 1;
	if (!bundle && ((rc = eng_idx_lookup_or_create(&c, dataset, bytes, err)) || res->skipped))
		goto out;
	if ((rc = open_writers(&c, opts->max_pixels, err)))
		goto out;
	uint64_t total = ap || gz || bundle ? 0 : bytes;
	eng_progress_tick(&opts->progress, "index", 0, total);
	if ((rc = store_contents(&c, bundle, parquet, reader, stem, sizeof stem, total,
	                         &opts->progress, err)) ||
	    res->skipped)
		goto out;
	rc = dedup_and_commit(&c, total, &opts->progress, err);
out:
	close_writers(&c);
	if (began && (rc || res->skipped))
		eng_ws_rollback(ws);
	if (unchecked)
		eng_ws_checks_on(ws);
	eng_jsonl_close(reader);
	if (fp)
		fclose(fp);
	eng_idx_gz_free(gz);
	archive_read_free(ap);
	if (spool)
		unlink(spool);
	free(spool);
	release_state(&c);
	free(dir);
	free(okey);
	return rc;
}
