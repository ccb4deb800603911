/* idxrecords.c - records to rows: a record's pairs and problems stored in the file's transaction,
 * JSONL lines read by a reader thread and parsed ahead in batches (stored in file order, so rows
 * are those of a single sequential pass), Parquet rows read as records. Does not open the input
 * (idxinput.c) nor resolve images (idximages.c). */
#include "index_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arena.h"
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
			if (deferred && push_rowid(c, sqlite3_last_insert_rowid(c->db)))
				return eng_err_set(c->err, ENG_ENOMEM, "out of memory");
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

enum { QLINES = 256, NBATCH = 4, QCHUNK = 16 }; /* lines per batch, batches, lines per claim */

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

/* Lines are read by a reader thread into batches and parsed (JSON, record shape) by whichever
 * thread is free: the reader between reads, the storing thread while its next batch is not
 * ready. The storing thread stores the batches in file order.
 *
 * The shape option is sequential state (the file's first non-pairwise/multi record fixes the shape
 * of all later records), and it changes at most once (from auto). A line is parsed with the state
 * known when it was claimed; the storing thread replays the state in file order and parses a line
 * again when its guess was wrong, so every record is what a single sequential pass would give. */
typedef struct qbatch {
	qline q[QLINES];
	size_t n;        /* lines read */
	size_t claimed;  /* lines [0, claimed) taken by a parser */
	size_t parsed;   /* lines parsed */
	eng_arena buf;   /* the lines' bytes */
	uint64_t offset; /* reader offset after the batch (progress) */
	int rc, eof;     /* rc: the failure that ended reading after these lines (err says it) */
	eng_err err;
} qbatch;

typedef struct parser {
	ictx *c;
	eng_jsonl *r;
	const char *stem;
	eng_rec_opts ropts;  /* .map for every parse; .shape: see spec */
	eng_rec_shape spec;  /* the shape option as last known, for new parses */
	uint64_t records;    /* lines read */
	qbatch *b;           /* NBATCH slots, a ring */
	size_t made, used;   /* batches read / stored */
	int stop, done_read; /* stop: the storing thread gave up; done_read: no more lines */
	pthread_mutex_t mu;
	pthread_cond_t cv;
} parser;

static void parse_line(parser *p, qline *ql, const char *bytes, eng_rec_shape shape)
{
	eng_rec_opts o = p->ropts;
	o.shape = shape;
	ql->shape_in = shape;
	ql->oom = eng_record_parse_ex(&ql->rec, bytes + ql->off, ql->len, p->stem, ql->no, &o) != 0;
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
	b->n = b->claimed = b->parsed = 0;
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

/* Claims and parses one chunk of batch b; called and returns with p->mu held. 0 when b had no
 * unclaimed line. */
static int parse_chunk(parser *p, qbatch *b)
{
	if (b->claimed >= b->n)
		return 0;
	size_t i = b->claimed, e = i + QCHUNK < b->n ? i + QCHUNK : b->n;
	b->claimed = e;
	eng_rec_shape shape = p->spec;
	pthread_mutex_unlock(&p->mu);
	for (size_t k = i; k < e; k++)
		if (!b->q[k].too_long)
			parse_line(p, &b->q[k], b->buf.p, shape);
	pthread_mutex_lock(&p->mu);
	b->parsed += e - i;
	pthread_cond_broadcast(&p->cv);
	return 1;
}

static void *parser_main(void *arg)
{
	parser *p = arg;
	pthread_mutex_lock(&p->mu);
	while (!p->stop) {
		if (!p->done_read && p->made - p->used < NBATCH) { /* read ahead first */
			qbatch *b = &p->b[p->made % NBATCH];
			pthread_mutex_unlock(&p->mu);
			read_batch(p, b);
			pthread_mutex_lock(&p->mu);
			p->done_read = b->eof || b->rc;
			p->made++;
			pthread_cond_broadcast(&p->cv);
			continue;
		}
		int worked = 0; /* then parse, oldest batch first */
		for (size_t k = p->used; k < p->made && !worked; k++)
			worked = parse_chunk(p, &p->b[k % NBATCH]);
		if (worked)
			continue;
		if (p->done_read)
			break;
		pthread_cond_wait(&p->cv, &p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
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
		if (!ql->oom && rec->root && json_is_object(rec->root) && *cur == ENG_SHAPE_AUTO) {
			if (*file_shape == ENG_SHAPE_AUTO)
				*file_shape = rec->shape;
			if (rec->shape != ENG_SHAPE_PAIRWISE && rec->shape != ENG_SHAPE_MULTI) {
				*cur = rec->shape;
				pthread_mutex_lock(&p->mu);
				p->spec = *cur;
				pthread_mutex_unlock(&p->mu);
			}
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

/* Reads records: see parser above (one thread does everything when the reader cannot start). */
int eng_idx_read_records(ictx *c, eng_jsonl *r, const char *stem, uint64_t total,
                         const eng_progress *prog)
{
	parser p = {.c = c, .r = r, .stem = stem, .ropts = c->ropts, .spec = c->ropts.shape};
	eng_rec_shape cur = c->ropts.shape, file_shape = c->res->shape;
	p.b = calloc(NBATCH, sizeof *p.b);
	if (!p.b)
		return eng_err_set(c->err, ENG_ENOMEM, "out of memory");
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.cv, NULL);
	pthread_t th;
	int threaded = pthread_create(&th, NULL, parser_main, &p) == 0;
	int rc = 0;
	for (;;) {
		qbatch *b = &p.b[p.used % NBATCH];
		pthread_mutex_lock(&p.mu);
		if (!threaded) {
			pthread_mutex_unlock(&p.mu);
			read_batch(&p, b);
			pthread_mutex_lock(&p.mu);
			p.made++;
		}
		while (p.made == p.used)
			pthread_cond_wait(&p.cv, &p.mu);
		while (parse_chunk(&p, b)) /* help with the batch needed next */
			;
		while (b->parsed < b->n)
			pthread_cond_wait(&p.cv, &p.mu);
		pthread_mutex_unlock(&p.mu);
		eng_progress_tick(prog, "index", b->offset, total);
		rc = store_batch(&p, b, &cur, &file_shape);
		int end = b->eof || b->rc;
		if (!rc && b->rc) {
			rc = b->rc;
			if (c->err)
				*c->err = b->err;
		}
		pthread_mutex_lock(&p.mu);
		p.used++;
		if (rc)
			p.stop = 1;
		pthread_cond_broadcast(&p.cv);
		pthread_mutex_unlock(&p.mu);
		if (rc || end)
			break;
	}
	if (threaded) {
		pthread_mutex_lock(&p.mu);
		p.stop = 1;
		pthread_cond_broadcast(&p.cv);
		pthread_mutex_unlock(&p.mu);
		pthread_join(th, NULL);
	}
	for (size_t k = 0; k < NBATCH; k++) {
		for (size_t i = 0; i < p.b[k].n; i++)
			eng_record_clear(&p.b[k].q[i].rec);
		eng_arena_free(&p.b[k].buf);
	}
	c->res->records += p.records;
	c->res->shape = file_shape;
	c->ropts.shape = cur;
	pthread_mutex_destroy(&p.mu);
	pthread_cond_destroy(&p.cv);
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
