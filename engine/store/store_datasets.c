/* store_datasets.c - the SELECTs on datasets (with per-dataset counts) that reports/ and audit/
 * need.
 * Read-only. */
#include "store_datasets.h"
#include "workspace_sql.h"

#include "store_step.h"

#include <stdlib.h>
#include <string.h>

static const char *sql_names = "SELECT id, name FROM datasets ORDER BY id";

static const char *sql_counts =
    "SELECT d.id, d.name,"
    " (SELECT count(*) FROM pairs p WHERE p.dataset_id = d.id),"
    /* the distinct images and the pairs with one (pairs_without_image is the rest), from one
     * grouped scan of the pairs with an image by the index pairs_image (none for a text-only
     * workspace), instead of two look-ups of image_id in every pair of every dataset */
    " coalesce(im.images, 0), coalesce(im.with_image, 0),"
    " (SELECT count(*) FROM ingest_errors e WHERE e.dataset_id = d.id),"
    " (SELECT count(*) FROM source_files f WHERE f.dataset_id = d.id),"
    /* duplicates and conflicts as flagged by engine/ingest/dedup.h */
    " (SELECT count(*) - count(DISTINCT p.dup_group) FROM pairs p"
    "  WHERE p.dataset_id = d.id AND p.dup_group IS NOT NULL),"
    /* dup_group IS NOT NULL: the same count (count(DISTINCT) skips NULL), from the partial
     * index pairs_dup_group instead of a look-up of every pair */
    " (SELECT count(DISTINCT p.dup_group) FROM pairs p"
    "  WHERE p.dataset_id = d.id AND p.dup_group IS NOT NULL AND p.conflict = 1)"
    " FROM datasets d LEFT JOIN (SELECT dataset_id AS ds, count(DISTINCT image_id) AS images,"
    " count(*) AS with_image FROM pairs INDEXED BY pairs_image WHERE image_id IS NOT NULL"
    " GROUP BY dataset_id) im ON im.ds = d.id ORDER BY d.id";

static const char *sql_name = "SELECT name FROM datasets WHERE id = ?1";

typedef struct dataset_cb {
	eng_dataset_cb fn;
	void *ctx;
	int counts; /* 1: the statement has the count columns */
} dataset_cb;

static int dataset_row(sqlite3_stmt *q, void *c)
{
	dataset_cb *cb = c;
	eng_dataset_row r = {.id = sqlite3_column_int64(q, 0), .name = eng_stmt_text(q, 1)};
	if (cb->counts) {
		r.pairs = sqlite3_column_int64(q, 2);
		r.images = sqlite3_column_int64(q, 3);
		r.pairs_without_image = r.pairs - sqlite3_column_int64(q, 4);
		r.errors = sqlite3_column_int64(q, 5);
		r.files = sqlite3_column_int64(q, 6);
		r.duplicates = sqlite3_column_int64(q, 7);
		r.conflicts = sqlite3_column_int64(q, 8);
	}
	return cb->fn(cb->ctx, &r);
}

int eng_datasets_each(eng_ws *ws, eng_datasets_detail detail, eng_dataset_cb cb, void *ctx,
                      eng_err *err)
{
	int counts = detail == ENG_DATASETS_COUNTS;
	dataset_cb c = {cb, ctx, counts};
	return eng_stmt_each(ws, eng_ws_prepare(ws, counts ? sql_counts : sql_names, err),
	                     dataset_row, &c, "list datasets", err);
}

int eng_dataset_name(eng_ws *ws, int64_t id, char **name, eng_err *err)
{
	*name = NULL;
	sqlite3_stmt *q = eng_ws_prepare(ws, sql_name, err);
	if (!q)
		return err ? err->code : ENG_EINTERNAL;
	sqlite3_bind_int64(q, 1, id);
	int rc = 0, s = sqlite3_step(q);
	if (s == SQLITE_ROW) {
		const char *nm = eng_stmt_text(q, 0);
		if (!(*name = strdup(nm ? nm : "")))
			rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
	} else if (s == SQLITE_DONE) {
		rc = eng_err_set(err, ENG_EINPUT, "no dataset with id %lld", (long long)id);
	} else {
		rc = eng_ws_fail(ws, err, "read dataset name");
	}
	sqlite3_finalize(q);
	return rc;
}
