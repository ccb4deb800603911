/* index_internal.h - the indexer's per-file state and the steps its files share: index.c (the file
 * transaction), idxinput.c (hashing, compressed input, streams), idxrecords.c (records to rows, the
 * JSONL reader threads, Parquet rows), idximages.c (image references, the archive pass) and
 * idxbundle.c (bundles). Every step reports through c->err and returns 0 or a negative code unless
 * it says otherwise. Not a public interface. */
#ifndef ENG_INDEX_INTERNAL_H
#define ENG_INDEX_INTERNAL_H

#include <stdint.h>
#include <stdio.h>

#include <archive.h>

#include "index.h"
#include "workspace_sql.h"
#include "images.h"
#include "jsonl.h"
#include "parquet.h"

/* ---- a small string -> image result map, so a path used by many records is read once ---- */
typedef struct cache_ent {
	char *key;
	int64_t id;        /* image id when ok */
	eng_rec_error rej; /* rejection when !ok */
	int ok;
} cache_ent;

typedef struct refcache {
	cache_ent *slots;
	size_t cap, n;
} refcache;

static inline uint64_t eng_idx_fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

/* ---- per-file state ------------------------------------------------------------------------ */

/* A record whose image is an archive member, resolved after all records are read. */
typedef struct pending {
	char *name; /* normalised member name */
	char *alt;  /* bundle: the reference as written, tried when name is not a member */
	int64_t file_id;
	const char *path; /* source label for errors (owned by the ictx or the caller) */
	uint64_t line;
	size_t first, n; /* its pair rowids: rowids[first .. first + n) */
	int done;
} pending;

typedef struct ictx {
	eng_ws *ws;
	sqlite3 *db;
	const char *path, *root;
	const char
	    *src; /* the file read: path, or the private copy of a stream (eng_idx_read_stream) */
	int root_is_archive, strict, missing_text_only, rename_dup_ids, images_outside;
	size_t max_line; /* 0 = ENG_JSONL_DEFAULT_MAX_LINE */
	eng_shard shard; /* the records kept (opts.shard) */
	eng_rec_opts ropts;
	const char *dataset;
	const eng_progress *prog;
	const char *sha;  /* content hash of the source being read (file or bundle member) */
	const char *mdir; /* bundle: folder of the member being read ("" at the top), else NULL */
	char **members;   /* bundle: every regular member name (sorted after the scan) */
	size_t nmembers, members_cap;
	struct {
		int64_t id;
		uint64_t records;
	} files[64];      /* bundle: record members (id 0: ingested before) */
	char *labels[64]; /* bundle: "BUNDLE:member" of each */
	size_t nfiles;
	int64_t ds_id, file_id;
	const char *loc;          /* Parquet: "row group G, row R" of the row being stored */
	const eng_pq_blob *blobs; /* Parquet: the row's embedded images, by label */
	size_t nblobs;
	const char *okey; /* options that change what is kept (options_key) */
	sqlite3_stmt *ins_pair, *ins_err, *set_img, *del_pair;
	eng_imgstore *imgs;
	eng_index_result *res;
	eng_err *err;
	refcache cache;
	pending *pend;
	size_t npend, pend_cap;
	int64_t *rowids;
	size_t nrow, row_cap;
	struct eng_dedup_keys *keys; /* the file's pairs' duplicate keys, made as they are stored
	                                (NULL: none; dedup then reads every pair back) */
} ictx;

/* ---- index.c: the file transaction ---- */

/* The dataset row of dataset (made when new) and, unless the same content was ingested with the
 * same options (c->res->skipped), a new source_files row (c->file_id). */
int eng_idx_lookup_or_create(ictx *c, const char *dataset, uint64_t bytes, eng_err *err);
/* Makes stem (n bytes) give ids no other source file of the dataset gives. */
int eng_idx_unique_stem(ictx *c, char *stem, size_t n, eng_err *err);
/* Stores the record, pair and error counts of source file row file_id. */
int eng_idx_finish_file(ictx *c, int64_t file_id, uint64_t records, eng_err *err);

/* ---- idxinput.c: the bytes read ---- */

typedef struct gz_in gz_in;
/* SHA-256 (hex) and size of the file at path. */
int eng_idx_hash_file(const char *path, uint64_t *bytes, char hex[65], eng_err *err);
/* Opens src (the file read for input path) as a line stream: plain, .gz, or another compression;
 * the caller closes *r, fcloses *fp, eng_idx_gz_free(*gzp), archive_read_free(*ap). */
int eng_idx_open_input(const char *path, const char *src, FILE **fp, struct archive **ap,
                       gz_in **gzp, eng_jsonl **r, size_t max_line, eng_err *err);
void eng_idx_gz_free(gz_in *g);
/* A pipe or FIFO copied to a private temporary file *spool (the caller unlinks and frees it);
 * *spool NULL for a regular file. */
int eng_idx_read_stream(const char *path, int bundle, char **spool, eng_err *err);

/* ---- idxrecords.c: records to rows ---- */

/* Stores one record problem (strict: fails the file instead). */
int eng_idx_record_error(ictx *c, uint64_t line, eng_rec_code code, const char *reason);
/* Reads and stores the JSONL records of r (a reader thread parses ahead). */
int eng_idx_read_records(ictx *c, eng_jsonl *r, const char *stem, uint64_t total,
                         const eng_progress *prog);
/* Reads and stores the rows of the Parquet file c->src as records. */
int eng_idx_read_parquet(ictx *c, const char *stem, const eng_progress *prog);

/* ---- idximages.c: image references ---- */

void eng_idx_cache_free(refcache *c);
/* Resolves ref now: 0 with *id, 1 rejected (rej), 2 deferred to the archive pass, <0 failure. */
int eng_idx_resolve_now(ictx *c, const char *ref, uint64_t line, int64_t *id, eng_rec_error *rej);
/* Reads the image file ref names ahead of its record, to decode on a worker meanwhile. */
int eng_idx_read_ahead(ictx *c, const char *ref);
/* Defers ref (an archive member) for the pairs rowids[first .. first + n). 0 or ENG_ENOMEM. */
int eng_idx_add_pending(ictx *c, const char *ref, uint64_t line, size_t first, size_t n);
/* Reads the deferred members from the archive c->root and links or rejects their pairs. */
int eng_idx_archive_pass(ictx *c, const eng_progress *prog);

/* ---- idxbundle.c ---- */

/* Ingests every record member of the bundle c->path, then its images. */
int eng_idx_bundle(ictx *c);

#endif
