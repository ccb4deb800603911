/* idxrecords.c - records to rows: a record's pairs and problems stored in the file's transaction,
 * JSONL lines read and parsed ahead in batches as tasks of the worker pool (stored in file order,
 * so rows are those of a single sequential pass), Parquet rows read as records. Does not open the
 * input (idxinput.c) nor resolve images (idximages.c). */
#include "index_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arena.h"
#include "dedup.h"
#include "pool.h"
#include "workspace_sql.h"

/* Stores one record problem (strict: fails the file instead). */
int eng_idx_record_error(ictx *c, uint64_t line, eng_rec_code code, const char *reason)
{
	eng_index_result *r = c->res;
	char located[600];
	if (c->loc) {
		snprintf(located, sizeof located, "%s: %s", c->loc, reason);
		reason = located;
	}
	if (c->strict)
		return eng_err_set(
		    c->err, ENG_EINPUT,
		    "%s:%llu: [%s] %s (--strict: nothing from this file was ingested)", c->path,
		    (unsigned long long)line, eng_rec_code_name(code), reason);
	sqlite3_stmt *st = c->ins_err;
	sqlite3_bind_int64(st, 1, c->ds_id);
	sqlite3_bind_int64(st, 2, c->file_id);
	sqlite3_bind_text(st, 3, c->path, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)line);
	sqlite3_bind_text(st, 5, eng_rec_code_name(code), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, reason, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return eng_ws_fail(c->ws, c->err, "store ingest error");
	r->errors++;
	r->by_code[code]++;
	if (r->nfirst < ENG_INDEX_FIRST_ERRORS) {
		r->first[r->nfirst].line = line;
		r->first[r->nfirst].code = code;
		snprintf(r->first[r->nfirst].reason, sizeof r->first[0].reason, "%.383s", reason);
		r->nfirst++;
	}
	return 0;
}

static int push_rowid(ictx *c, int64_t id)
{
	if (c->nrow == c->row_cap) {
		size_t nc = c->row_cap ? c->row_cap * 2 : 1024;
		int64_t *nr = realloc(c->rowids, nc * sizeof *nr);
		if (!nr)
			return ENG_ENOMEM;
		c->rowids = nr;
		c->row_cap = nc;
	}
	c->rowids[c->nrow++] = id;
	return 0;
}

/* The image field as stored in pairs.image_ref: data URIs are elided to their header and size. */
static void image_ref_text(const char *ref, char *out, size_t n)
{
	if (strncasecmp(ref, "data:", 5) != 0) {
		snprintf(out, n, "%s", ref);
		return;
	}
	const char *comma = strchr(ref, ',');
	int head = comma ? (int)(comma - ref + 1) : 5;
	if (head > 48)
		head = 48;
	snprintf(out, n, "%.*s...(%zu chars)", head, ref, strlen(ref));
}

/* The stored pair's duplicate key (eng_dedup_keys_add), its image ident as dedup reads it back:
 * the stored image id, else "ref:" and the image reference, else "". */
static void add_key(ictx *c, int64_t rowid, const eng_record *rec, const eng_rec_pair *p,
                    int64_t img, const char *refbuf)
{
	if (!c->keys)
		return;
	char ident[4100];
	if (img)
		snprintf(ident, sizeof ident, "%lld", (long long)img);
	else if (rec->image)
		snprintf(ident, sizeof ident, "ref:%s", refbuf);
	else
		ident[0] = '\0';
	eng_dedup_keys_add(c->keys, rowid, rec->prompt, ident, p->chosen, p->rejected);
}

/* Inserts the pairs of one parsed record. */
static int ingest_record(ictx *c, eng_record *rec, uint64_t line)
{
	int rc;
	for (size_t i = 0; i < rec->nerrors; i++)
		if ((rc =
		         eng_idx_record_error(c, line, rec->errors[i].code, rec->errors[i].reason)))
			return rc;
	if (!rec->npairs)
		return 0;
	int64_t img = 0;
	int deferred = 0;
	char refbuf[4096];
	if (rec->image) {
		eng_rec_error rej;
		rc = eng_idx_resolve_now(c, rec->image, line, &img, &rej);
		if (rc < 0)
			return rc;
		if (rc == 1 && rej.code == ENG_REC_MISSING_IMAGE && c->missing_text_only) {
			c->res->images_missing_kept += rec->npairs; /* kept as text-only pairs */
			img = 0;
			rc = 0;
		}
		if (rc == 1)
			return eng_idx_record_error(c, line, rej.code, rej.reason);
		deferred = rc == 2;
		image_ref_text(rec->image, refbuf, sizeof refbuf);
	}
	size_t first = c->nrow, kept = 0;
	sqlite3_stmt *st = c->ins_pair;
	for (size_t i = 0; i < rec->npairs; i++) {
		const eng_rec_pair *p = &rec->pairs[i];
		sqlite3_bind_int64(st, 1, c->ds_id);
		sqlite3_bind_int64(st, 2, c->file_id);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)line);
		sqlite3_bind_text(st, 4, p->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, rec->prompt, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 6, p->chosen, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 7, p->rejected, -1, SQLITE_STATIC);
		if (img)
			sqlite3_bind_int64(st, 8, img);
		else
			sqlite3_bind_null(st, 8);
		if (rec->image)
			sqlite3_bind_text(st, 9, refbuf, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(st, 9);
		if (p->meta)
			sqlite3_bind_text(st, 10, p->meta, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(st, 10);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		char alt[600];
		if (rc != SQLITE_DONE && c->rename_dup_ids &&
		    sqlite3_extended_errcode(c->db) == SQLITE_CONSTRAINT_UNIQUE) {
			/* the id names the question, not the pair: keep the pair as <id>@L<line> */
			snprintf(alt, sizeof alt, "%.500s@L%llu", p->id, (unsigned long long)line);
			sqlite3_bind_text(st, 4, alt, -1, SQLITE_STATIC);
			rc = sqlite3_step(st);
			sqlite3_reset(st);
			if (rc == SQLITE_DONE)
				c->res->ids_renamed++;
		}
		if (rc == SQLITE_DONE) {
			c->res->pairs++;
			kept++;
			int64_t rowid = sqlite3_last_insert_rowid(c->db);
			if (deferred && push_rowid(c, rowid))
				return eng_err_set(c->err, ENG_ENOMEM, "out of memory");
			if (deferred) /* its image, so its duplicate key, is known later */
				eng_dedup_keys_invalidate(c->keys);
			else
				add_key(c, rowid, rec, p, img, refbuf);
			continue;
		}
		if (sqlite3_extended_errcode(c->db) != SQLITE_CONSTRAINT_UNIQUE)
			return eng_ws_fail(c->ws, c->err, "store pair");
		char why[384];
		snprintf(why, sizeof why,
		         "id \"%.200s\" is already used by an earlier record of this dataset; give "
		         "each record a unique id, or keep it as ID@L<line> with --duplicate-ids "
		         "rename",
		         p->id);
		if ((rc = eng_idx_record_error(c, line, ENG_REC_DUPLICATE_ID, why)))
			return rc;
	}
	if (deferred && kept && eng_idx_add_pending(c, rec->image, line, first, kept))
		return eng_err_set(c->err, ENG_ENOMEM, "out of memory");
	return 0;
}

typedef struct qline {
	eng_record rec;
	uint64_t no;
	size_t off, len;        /* the line's bytes in its batch's buffer */
	int too_long, oom;      /* oom: parsing ran out of memory */
	eng_rec_shape shape_in; /* the shape option it was parsed with */
} qline;

enum { QLINES = 256, NBATCH = 4, QCHUNK = 16 }; /* lines per batch, batches, lines per task */

/* Stores the lines read ahead, in order. (The lines are freed when their batch is reused.) */
static int drain(ictx *c, qline *q, size_t nq)
{
	int rc = 0;
	for (size_t i = 0; i < nq; i++) {
		if (!rc && !eng_shard_keeps(&c->shard, q[i].too_long ? NULL : &q[i].rec, q[i].no)) {
			c->res->other_shard++; /* another shard's record (index --shard) */
			continue;
		}
		if (!rc && q[i].too_long) {
			char why[160];
			snprintf(
			    why, sizeof why,
			    "the line is longer than the %zu-byte line limit; split the record, "
			    "inline smaller data or raise --max-line",
			    c->max_line ? c->max_line : ENG_JSONL_DEFAULT_MAX_LINE);
			rc = eng_idx_record_error(c, q[i].no, ENG_REC_LINE_TOO_LONG, why);
		} else if (!rc) {
			rc = ingest_record(c, &q[i].rec, q[i].no);
		}
	}
	return rc;
}

/* Lines are read into batches and parsed (JSON, record shape) as tasks of a two-thread worker
 * pool while the calling thread stores the batch before: while batch k is stored, the chunks of
 * batch k + 1 are parsed and batch k + 2 is read (one read in the pool at a time, so the lines are
 * read in file order). The calling thread stores the batches in file order.
 *
 * The shape option is sequential state (the file's first non-pairwise/multi record fixes the shape
 * of all later records), and it changes at most once (from auto). A line is parsed with the state
 * known when its chunk was submitted; the storing thread replays the state in file order and parses
 * a line again when its guess was wrong, so every record is what a single sequential pass would
 * give. */
typedef struct parser parser;

typedef struct qbatch {
	parser *p;
	qline q[QLINES];
	size_t n;            /* lines read */
	eng_rec_shape shape; /* the shape its chunks are parsed with */
	eng_arena buf;       /* the lines' bytes */
	uint64_t offset;     /* reader offset after the batch (progress) */
	int rc, eof; /* rc: the failure that ended reading after these lines (err says it) */
	eng_err err;
} qbatch;

struct parser {
	ictx *c;
	eng_jsonl *r;
	const char *stem;
	eng_rec_opts ropts; /* .map for every parse; .shape: the batch's */
	uint64_t records;   /* lines read */
	qbatch *b;          /* NBATCH slots, a ring */
	eng_pool *pool;
};

static void parse_line(parser *p, qline *ql, const char *bytes, eng_rec_shape shape)
{
	eng_rec_opts o = p->ropts;
	o.shape = shape;
	ql->shape_in = shape;
	/* the common flat pairwise record without a JSON tree (recflat.c: the same record, meta
	 * included, or 1 and the full parser takes the line) */
	int rc = 1;
	if (shape == ENG_SHAPE_AUTO && (!o.map || !eng_rec_map_used(o.map)))
		rc =
		    eng_record_parse_flat_meta(&ql->rec, bytes + ql->off, ql->len, p->stem, ql->no);
	if (rc == 1)
		rc = eng_record_parse_ex(&ql->rec, bytes + ql->off, ql->len, p->stem, ql->no, &o);
	ql->oom = rc != 0;
	if (ql->oom)
		eng_record_clear(&ql->rec);
}

/* Reads the next batch of lines into b (bytes copied, nothing parsed). */
static void read_batch(parser *p, qbatch *b)
{
	const char *line;
	size_t len;
	uint64_t no = 0;
	for (size_t i = 0; i < b->n; i++) /* the records of its previous use, stored by now */
		eng_record_clear(&b->q[i].rec);
	b->n = 0;
	b->buf.len = 0;
	b->rc = b->eof = 0;
	while (b->n < QLINES) {
		int rc = eng_jsonl_next(p->r, &line, &len, &no, &b->err);
		if (rc == ENG_JSONL_EOF) {
			b->eof = 1;
			break;
		}
		if (rc < 0) {
			eng_err_prefix(&b->err, "%s: ", p->c->path);
			b->rc = rc;
			break;
		}
		p->records++;
		qline *ql = &b->q[b->n];
		memset(&ql->rec, 0, sizeof ql->rec);
		ql->no = no;
		ql->oom = 0;
		ql->too_long = rc == ENG_JSONL_TOO_LONG;
		ql->len = ql->too_long ? 0 : len;
		if (eng_arena_putn(&b->buf, line, ql->len, &ql->off)) {
			b->rc = eng_err_set(&b->err, ENG_ENOMEM, "out of memory at %s:%llu",
			                    p->c->path, (unsigned long long)no);
			break;
		}
		b->n++;
	}
	b->offset = eng_jsonl_offset(p->r);
}

/* The task that reads batch b (its previous lines are stored by then). */
static int read_task(void *arg)
{
	qbatch *b = arg;
	read_batch(b->p, b);
	return 0;
}

/* The task that parses lines [from, to) of batch b with b->shape. */
static int parse_task(void *arg, size_t from, size_t to)
{
	qbatch *b = arg;
	for (size_t k = from; k < to; k++)
		if (!b->q[k].too_long)
			parse_line(b->p, &b->q[k], b->buf.p, b->shape);
	return 0;
}

/* Determinism: a read task writes only its batch and the reader (p->r, p->records), and only one
 * is in the pool at a time, submitted in file order after the one before was collected; a parse
 * task writes only its own lines' records and reads its batch's bytes and shape, which no task
 * writes while it runs. The caller collects the tasks in submission order and stores the batches
 * in file order, replaying the shape. So the records are those of a sequential pass. */

/* Queues the parse tasks of batch b (read and collected), parsed with shape; returns how many. */
static size_t submit_parse(parser *p, qbatch *b, eng_rec_shape shape, int *rc)
{
	size_t n = 0;
	b->shape = shape;
	for (size_t i = 0; i < b->n && !*rc; i += QCHUNK, n++)
		if (eng_pool_submit_range(p->pool, parse_task, b, i,
		                          i + QCHUNK < b->n ? i + QCHUNK : b->n))
			*rc = eng_err_set(p->c->err, ENG_ENOMEM, "out of memory");
	return *rc ? n - 1 : n;
}

/* Stores the lines of one parsed batch in order, replaying the shape state (parsing a line again
 * whose guess was wrong). Image files are read ahead in runs (decoding on the image workers while
 * the records before them are stored): as many records as the image store has prefetch room for,
 * then those records are stored. */
static int store_batch(parser *p, qbatch *b, eng_rec_shape *cur, eng_rec_shape *file_shape)
{
	ictx *c = p->c;
	for (size_t i = 0; i < b->n; i++) {
		qline *ql = &b->q[i];
		if (ql->too_long)
			continue;
		if (ql->shape_in != *cur) {
			eng_record_clear(&ql->rec);
			parse_line(p, ql, b->buf.p, *cur);
		}
		const eng_record *rec = &ql->rec;
		/* The file's first record decides its shape, except that pairwise and
		 * multi-completion records may be mixed in one file (each is detected on its own).
		 */
		/* a record read without a tree (eng_record_parse_flat_meta) is a pairwise object */
		int object = rec->root ? json_is_object(rec->root) : rec->npairs > 0;
		if (!ql->oom && object && *cur == ENG_SHAPE_AUTO) {
			if (*file_shape == ENG_SHAPE_AUTO)
				*file_shape = rec->shape;
			if (rec->shape != ENG_SHAPE_PAIRWISE && rec->shape != ENG_SHAPE_MULTI)
				*cur = rec->shape;
		}
	}
	int rc = 0;
	size_t i = 0;
	while (i < b->n) {
		size_t j = i;
		while (j < b->n && (j == i || eng_imgstore_prefetch_room(c->imgs))) {
			const qline *ql = &b->q[j++];
			if (ql->oom) {
				j--;
				break;
			}
			if (!ql->too_long && ql->rec.npairs && ql->rec.image &&
			    eng_shard_keeps(&c->shard, &ql->rec, ql->no) &&
			    (rc = eng_idx_read_ahead(c, ql->rec.image)))
				break;
		}
		/* the lines before a failure are stored first: their own errors come first */
		int r2 = drain(c, b->q + i, j - i);
		i = j;
		rc = r2 ? r2 : rc;
		if (!rc && i < b->n && b->q[i].oom)
			rc = eng_err_set(c->err, ENG_ENOMEM, "out of memory at %s:%llu", c->path,
			                 (unsigned long long)b->q[i].no);
		if (rc)
			break;
	}
	return rc;
}

/* Collects the read task of batch b and queues its parse tasks and the read of the batch after
 * it (when b did not end the input); *parsing is set to the parse tasks queued. */
static int next_batch(parser *p, size_t k, eng_rec_shape shape, size_t *parsing, int *reading)
{
	qbatch *b = &p->b[k % NBATCH];
	int rc = 0;
	eng_pool_collect(p->pool); /* the read of batch k */
	*parsing = submit_parse(p, b, shape, &rc);
	*reading = !rc && !b->eof && !b->rc;
	if (*reading && eng_pool_submit(p->pool, read_task, &p->b[(k + 1) % NBATCH])) {
		*reading = 0;
		rc = eng_err_set(p->c->err, ENG_ENOMEM, "out of memory");
	}
	return rc;
}

/* Reads records: see parser above (the pool runs its tasks on this thread when it has none). */
int eng_idx_read_records(ictx *c, eng_jsonl *r, const char *stem, uint64_t total,
                         const eng_progress *prog)
{
	parser p = {.c = c, .r = r, .stem = stem, .ropts = c->ropts};
	eng_rec_shape cur = c->ropts.shape, file_shape = c->res->shape;
	p.b = calloc(NBATCH, sizeof *p.b);
	p.pool = p.b ? eng_pool_new(2) : NULL;
	if (!p.pool) {
		free(p.b);
		return eng_err_set(c->err, ENG_ENOMEM, "out of memory");
	}
	for (size_t k = 0; k < NBATCH; k++)
		p.b[k].p = &p;
	size_t parsing = 0;
	int reading = 0, rc = eng_pool_submit(p.pool, read_task, &p.b[0]);
	if (rc)
		rc = eng_err_set(c->err, ENG_ENOMEM, "out of memory");
	else
		rc = next_batch(&p, 0, cur, &parsing, &reading);
	/* batch `used` is read and its `parsing` parse tasks are queued, then the read of the next
	 * one when `reading`; the batches [used, used + 3) are in use, NBATCH = 4 */
	for (size_t used = 0; !rc; used++) {
		qbatch *b = &p.b[used % NBATCH];
		for (; parsing; parsing--)
			eng_pool_collect(p.pool);
		if (reading && (rc = next_batch(&p, used + 1, cur, &parsing, &reading)))
			break;
		eng_progress_tick(prog, "index", b->offset, total);
		rc = store_batch(&p, b, &cur, &file_shape);
		int end = b->eof || b->rc;
		if (!rc && b->rc) {
			rc = b->rc;
			if (c->err)
				*c->err = b->err;
		}
		if (end)
			break;
	}
	eng_pool_free(p.pool); /* after a failure: runs the tasks still queued */
	for (size_t k = 0; k < NBATCH; k++) {
		for (size_t i = 0; i < p.b[k].n; i++)
			eng_record_clear(&p.b[k].q[i].rec);
		eng_arena_free(&p.b[k].buf);
	}
	c->res->records += p.records;
	c->res->shape = file_shape;
	c->ropts.shape = cur;
	free(p.b);
	return rc;
}

/* ---- Parquet input: each row is a record (engine/ingest/parquet.h)
 * -------------------------------- */

/* v with thousands separators ("1,204"). */
static void thousands(uint64_t v, char *out, size_t n)
{
	char d[32];
	int len = snprintf(d, sizeof d, "%llu", (unsigned long long)v), o = 0;
	for (int i = 0; i < len && (size_t)o + 2 < n; i++) {
		if (i && (len - i) % 3 == 0)
			out[o++] = ',';
		out[o++] = d[i];
	}
	out[o] = '\0';
}

/* Reads the rows of the Parquet file c->path one at a time (row groups in order) and stores them
 * like JSONL records: the same shapes, map, checks and errors; a pair's line is its 1-based row
 * in the file and every error reason starts with "row group G, row R" (both 0-based). */
int eng_idx_read_parquet(ictx *c, const char *stem, const eng_progress *prog)
{
	eng_pq *pq = NULL;
	int rc = eng_pq_open(c->src, &pq, c->err);
	if (rc)
		return rc;
	eng_rec_shape cur = c->ropts.shape, file_shape = c->res->shape;
	char problem[256], loc[96], num[32];
	uint64_t total = eng_pq_num_rows(pq);
	for (;;) {
		json_t *row = NULL;
		const eng_pq_blob *blobs;
		size_t nb, g;
		uint64_t rg, rf;
		if ((rc = eng_pq_next_row(pq, &row, &blobs, &nb, problem, c->err)) <= 0)
			break;
		eng_pq_where(pq, &g, &rg, &rf);
		thousands(rg, num, sizeof num);
		snprintf(loc, sizeof loc, "row group %zu, row %s", g, num);
		uint64_t line = rf + 1;
		c->res->records++;
		eng_record rec;
		memset(&rec, 0, sizeof rec);
		rec.root = row;
		eng_rec_opts o = c->ropts;
		o.shape = cur;
		if (eng_pq_flatten_messages(row) || eng_record_from_json(&rec, stem, line, &o)) {
			eng_record_clear(&rec);
			rc = eng_err_set(c->err, ENG_ENOMEM, "out of memory at %s: %s", c->path,
			                 loc);
			break;
		}
		if (cur == ENG_SHAPE_AUTO) { /* as store_batch: the first record fixes the shape */
			if (file_shape == ENG_SHAPE_AUTO)
				file_shape = rec.shape;
			if (rec.shape != ENG_SHAPE_PAIRWISE && rec.shape != ENG_SHAPE_MULTI)
				cur = rec.shape;
		}
		c->loc = loc;
		c->blobs = blobs;
		c->nblobs = nb;
		if (!eng_shard_keeps(&c->shard, &rec, line)) /* another shard's row */
			c->res->other_shard++, rc = 0;
		else
			rc = problem[0]
			         ? eng_idx_record_error(c, line, ENG_REC_INVALID_UTF8, problem)
			         : ingest_record(c, &rec, line);
		c->loc = NULL;
		c->blobs = NULL;
		c->nblobs = 0;
		eng_record_clear(&rec);
		if (rc)
			break;
		if (!(rf & 1023))
			eng_progress_tick(prog, "index", rf, total);
	}
	c->res->shape = file_shape;
	c->ropts.shape = cur;
	eng_pq_close(pq);
	return rc < 0 ? rc : 0;
}
