/* imgstore.c - the per-workspace, content-addressed image store: finds an image by the SHA-256 of
 * its bytes, decodes a new one once, inserts its row, and has its thumbnail and features made as
 * tasks of a two-thread worker pool (with a read-ahead of encoded images decoded there too),
 * writing every row from the calling thread in the order the records ask. Does not read files, URIs
 * or archives (imgsource.c, archive.c) nor make thumbnails itself (imgthumb.c). */
#include "images_internal.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "imgdecode.h"
#include "imgfeat.h"
#include "pool.h"
#include "sha256.h"
#include "workspace_sql.h"

/* ---- the store ---------------------------------------------------------------------------- */

/* Tasks for the worker pool (pool.h). A THUMB job gets pixels decoded by the main thread and makes
 * the thumbnail (JPEG) and features; a FULL job gets encoded bytes read ahead by the main thread
 * (eng_imgstore_prefetch) and checks and decodes them too. The main thread collects the jobs in
 * submission order, writing each THUMB job's thumbnail as it comes back and keeping a FULL job's
 * result until eng_imgstore_put_source asks for it; rows are written by the main thread only, in
 * the order the records ask for them (SQLite stays single-threaded and the rows are those of a
 * serial run). */
enum { JOB_THUMB, JOB_FULL };
enum { S_FREE, S_QUEUED, S_DONE }; /* queued: in the pool; done: collected */

typedef struct tjob {
	int kind, state;
	eng_imgstore *s;
	int64_t id;          /* THUMB: its images row */
	eng_image_pixels px; /* decoded pixels, owned until made into a thumbnail */
	const uint8_t *data; /* FULL: the encoded bytes (owned by its prefetch entry) */
	size_t n;
	const char *source;
	int rejected; /* FULL: 1 when refused (rej), ENG_ENOMEM when out of memory */
	eng_rec_error rej;
	eng_thumb th; /* THUMB and FULL: the thumbnail and features made */
} tjob;

/* NT thumbnail jobs (bounds memory to NT decoded images) and NP read-ahead images in flight */
enum { NT = 4, NP = 8, NJ = NT + NP, NWORKERS = 2 };

typedef struct pref {
	char *source; /* NULL: a free entry */
	uint8_t *data;
	size_t n;
	char hex[ENG_SHA256_HEX_LEN];
	int job; /* its FULL job, or -1 (already stored or in flight under another source) */
} pref;

struct eng_imgstore {
	eng_ws *ws;
	sqlite3_stmt *find, *insert, *finish;
	uint64_t max_pixels, decoded, refreshed;
	eng_pool *pool;
	int fifo[NJ];        /* the jobs in the pool, oldest first: a ring */
	size_t fhead, ftail; /* fifo[fhead % NJ .. ftail % NJ) */
	tjob jobs[NJ];       /* [0, NT) thumbnail jobs, [NT, NJ) read-ahead jobs */
	pref pre[NP];
};

int eng_imgstore_new(eng_ws *ws, uint64_t max_pixels, eng_imgstore **out, eng_err *err)
{
	*out = NULL;
	eng_imgstore *s = calloc(1, sizeof *s);
	if (!s)
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	s->ws = ws;
	s->max_pixels = max_pixels ? max_pixels : ENG_IMAGE_DEFAULT_MAX_PIXELS;
	for (int i = 0; i < NJ; i++)
		s->jobs[i].s = s;
	for (int i = 0; i < NJ; i++)
		if (!(s->jobs[i].th.feat = malloc((size_t)eng_imgfeat_dim() * sizeof(float)))) {
			eng_imgstore_free(s);
			return eng_err_set(err, ENG_ENOMEM, "out of memory");
		}
	if (!(s->find = eng_ws_prepare(ws, "SELECT id, feat_version FROM images WHERE sha256 = ?1",
	                               err)) ||
	    !(s->insert =
	          eng_ws_prepare(ws,
	                         "INSERT INTO images(sha256, width, height, format, bytes, source,"
	                         " feat_version) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	                         err)) ||
	    !(s->finish = eng_ws_prepare(ws,
	                                 "UPDATE images SET thumb = ?2, feat = ?3, feat_dim = ?4,"
	                                 " feat_version = ?5, phash = ?6, mean_rgb = ?7"
	                                 " WHERE id = ?1",
	                                 err))) {
		eng_imgstore_free(s);
		return err ? err->code : ENG_EINTERNAL;
	}
	/* no threads: the pool runs the jobs here as they are collected */
	if (!(s->pool = eng_pool_new(NWORKERS))) {
		eng_imgstore_free(s);
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	}
	*out = s;
	return 0;
}

void eng_imgstore_free(eng_imgstore *s)
{
	if (!s)
		return;
	eng_pool_free(s->pool); /* runs the jobs still queued: they use the buffers freed below */
	for (int i = 0; i < NJ; i++) {
		eng_image_pixels_free(&s->jobs[i].px);
		free(s->jobs[i].th.jpg);
		free(s->jobs[i].th.feat);
	}
	for (int i = 0; i < NP; i++) {
		free(s->pre[i].source);
		free(s->pre[i].data);
	}
	sqlite3_finalize(s->find);
	sqlite3_finalize(s->insert);
	sqlite3_finalize(s->finish);
	free(s);
}

uint64_t eng_imgstore_decoded(const eng_imgstore *s)
{
	return s->decoded;
}

uint64_t eng_imgstore_refreshed(const eng_imgstore *s)
{
	return s->refreshed;
}
/* The task of job j (on a worker, or on the main thread when the pool has no threads). It writes
 * only j (its pixels, thumbnail, features and rejection) and reads its bytes and s->max_pixels,
 * which no task writes. */
static int run_job(void *arg)
{
	tjob *j = arg;
	if (j->kind == JOB_FULL) {
		j->rejected = eng_image_decode(j->data, j->n, j->source, j->s->max_pixels, 0,
		                               &j->px, &j->rej);
		if (j->rejected)
			return 0;
	}
	eng_thumb_make(&j->px, &j->th);
	return 0;
}

/* Queues j. Determinism: each job writes only its own slot (run_job) and the main thread takes
 * the jobs back in submission order (collect_one), writing every row itself; the rows do not
 * depend on the threads nor on their timing. 0 or a negative code. */
static int submit(eng_imgstore *s, tjob *j, eng_err *err)
{
	assert(s->ftail - s->fhead < NJ);
	if (eng_pool_submit(s->pool, run_job, j))
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	j->state = S_QUEUED;
	s->fifo[s->ftail++ % NJ] = (int)(j - s->jobs);
	return 0;
}

static int store_thumb(eng_imgstore *s, int64_t id, tjob *j, eng_err *err);

/* Takes back the oldest job in the pool: a THUMB job's thumbnail is written and its slot freed,
 * a FULL job is kept (done) for eng_imgstore_put_source. 0 or a negative code. */
static int collect_one(eng_imgstore *s, eng_err *err)
{
	assert(s->fhead < s->ftail);
	tjob *j = &s->jobs[s->fifo[s->fhead++ % NJ]];
	eng_pool_collect(s->pool);
	j->state = S_DONE;
	if (j->kind != JOB_THUMB)
		return 0;
	j->state = S_FREE;
	return store_thumb(s, j->id, j, err);
}

/* Collects until j is done. 0 or a negative code. */
static int wait_job(eng_imgstore *s, tjob *j, eng_err *err)
{
	int rc = 0;
	while (!rc && j->state == S_QUEUED)
		rc = collect_one(s, err);
	return rc;
}

static void release(tjob *j)
{
	j->state = S_FREE;
}

/* Writes j's thumbnail and features to images row id. */
static int store_thumb(eng_imgstore *s, int64_t id, tjob *j, eng_err *err)
{
	if (j->th.oom)
		return eng_err_set(err, ENG_ENOMEM, "out of memory making a thumbnail");
	sqlite3_stmt *st = s->finish;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_blob(st, 2, j->th.jpg, (int)j->th.jpg_n, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, j->th.feat, eng_imgfeat_dim() * (int)sizeof(float), SQLITE_STATIC);
	sqlite3_bind_int(st, 4, eng_imgfeat_dim());
	sqlite3_bind_int(st, 5, ENG_IMGFEAT_VERSION);
	sqlite3_bind_int64(st, 6, (int64_t)j->th.phash);
	sqlite3_bind_int64(st, 7, j->th.mean_rgb);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : eng_ws_fail(s->ws, err, "store thumbnail");
}

int eng_imgstore_flush(eng_imgstore *s, eng_err *err)
{
	int rc = 0;
	for (int i = 0; i < NT && !rc; i++)
		rc = wait_job(s, &s->jobs[i], err);
	return rc;
}

/* Inserts the images row of a new image; 0 with *id or a negative code. */
static int insert_row(eng_imgstore *s, const char *hex, int w, int h, const char *fmt, size_t n,
                      const char *source, int64_t *id, eng_err *err)
{
	sqlite3_stmt *st = s->insert;
	sqlite3_bind_text(st, 1, hex, 64, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, w);
	sqlite3_bind_int(st, 3, h);
	sqlite3_bind_text(st, 4, fmt, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)n);
	sqlite3_bind_text(st, 6, source, -1, SQLITE_STATIC);
	/* the features follow in the same transaction (eng_imgstore_flush before the commit): a
	 * twin under another name meanwhile must not count as stale */
	sqlite3_bind_int(st, 7, ENG_IMGFEAT_VERSION);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return eng_ws_fail(s->ws, err, "store image");
	*id = sqlite3_last_insert_rowid(eng_ws_db(s->ws));
	return 0;
}

/* 1 with *id when an image hashed hex is stored with features of this version, 3 when stored
 * with features of another version (or none: made before ENG_IMGFEAT_VERSION; they are
 * recomputed from these bytes), 0 when not stored, or a negative code. */
static int find_hex(eng_imgstore *s, const char *hex, int64_t *id, eng_err *err)
{
	sqlite3_reset(s->find);
	sqlite3_bind_text(s->find, 1, hex, 64, SQLITE_STATIC);
	int rc = sqlite3_step(s->find);
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(s->find, 0);
		if (sqlite3_column_int(s->find, 1) != ENG_IMGFEAT_VERSION) {
			sqlite3_reset(s->find);
			return 3;
		}
	}
	sqlite3_reset(s->find);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : eng_ws_fail(s->ws, err, "find image");
}

/* eng_imgstore_put once data's hash is known: decodes here, makes the thumbnail on a worker. */
static int put_hashed(eng_imgstore *s, const uint8_t *data, size_t n, const char *hex,
                      const char *source, int64_t *id, int *is_new, eng_rec_error *rerr,
                      eng_err *err)
{
	int rc;
	eng_image_pixels px;
	*is_new = 0;
	int found = find_hex(s, hex, id, err);
	if (found < 0 || found == 1)
		return found < 0 ? found : 0;
	if ((rc = eng_image_decode(data, n, source, s->max_pixels, 0, &px, rerr)))
		return rc < 0 ? eng_err_set(err, rc, "out of memory decoding '%s'", source) : 1;
	s->decoded++;
	if (found == 3) {
		s->refreshed++; /* stored with stale features: recomputed into the same row */
	} else if ((rc = insert_row(s, hex, px.width, px.height, px.format, n, source, id, err))) {
		eng_image_pixels_free(&px);
		return rc;
	}
	/* hand the pixels to the pool: a free thumbnail slot, taking back the oldest jobs (and
	 * writing their thumbnails) until one is */
	tjob *j = NULL;
	while (!j) {
		for (int i = 0; i < NT && !j; i++)
			if (s->jobs[i].state == S_FREE)
				j = &s->jobs[i];
		if (!j && (rc = collect_one(s, err))) {
			eng_image_pixels_free(&px);
			return rc;
		}
	}
	j->kind = JOB_THUMB;
	j->id = *id;
	j->px = px;
	if ((rc = submit(s, j, err))) {
		j->px = (eng_image_pixels){0};
		eng_image_pixels_free(&px);
		return rc;
	}
	*is_new = found != 3;
	return 0;
}

int eng_imgstore_put(eng_imgstore *s, const uint8_t *data, size_t n, const char *source,
                     int64_t *id, int *is_new, eng_rec_error *rerr, eng_err *err)
{
	char hex[ENG_SHA256_HEX_LEN];
	eng_sha256_hex_of(data, n, hex);
	return put_hashed(s, data, n, hex, source, id, is_new, rerr, err);
}

/* ---- read-ahead ---- */

static pref *pref_find(eng_imgstore *s, const char *source)
{
	for (int i = 0; i < NP; i++)
		if (s->pre[i].source && !strcmp(s->pre[i].source, source))
			return &s->pre[i];
	return NULL;
}

int eng_imgstore_prefetch_room(const eng_imgstore *s)
{
	for (int i = 0; i < NP; i++)
		if (!s->pre[i].source)
			return 1;
	return 0;
}

int eng_imgstore_prefetched(eng_imgstore *s, const char *source)
{
	return pref_find(s, source) != NULL;
}

int eng_imgstore_prefetch(eng_imgstore *s, const char *source, uint8_t *data, size_t n,
                          eng_err *err)
{
	pref *e = NULL;
	for (int i = 0; i < NP && !e; i++)
		if (!s->pre[i].source)
			e = &s->pre[i];
	if (!e || pref_find(s, source)) {
		free(data);
		return 0;
	}
	if (!(e->source = strdup(source))) {
		free(data);
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	}
	e->data = data;
	e->n = n;
	e->job = -1;
	eng_sha256_hex_of(data, n, e->hex);
	int64_t id;
	int rc = find_hex(s, e->hex, &id, err);
	if (rc < 0 || rc == 1)
		return rc < 0 ? rc : 0; /* stored already: nothing to decode */
	for (int i = 0; i < NP; i++)
		if (&s->pre[i] != e && s->pre[i].source && s->pre[i].job >= 0 &&
		    !strcmp(s->pre[i].hex, e->hex))
			return 0; /* the same bytes are being decoded for another source */
	int k = (int)(e - s->pre);
	tjob *j = &s->jobs[NT + k];
	j->kind = JOB_FULL;
	j->data = e->data;
	j->n = n;
	j->source = e->source;
	j->rejected = 0;
	if ((rc = submit(s, j, err)))
		return rc; /* e stays, without a job: decoded when it is stored */
	e->job = NT + k;
	return 0;
}

int eng_imgstore_put_source(eng_imgstore *s, const char *source, int64_t *id, int *is_new,
                            eng_rec_error *rerr, eng_err *err)
{
	pref *e = pref_find(s, source);
	if (!e)
		return 2;
	int rc = 0;
	*is_new = 0;
	tjob *j = e->job >= 0 ? &s->jobs[e->job] : NULL;
	if (j && (rc = wait_job(s, j, err)))
		return rc; /* e stays until eng_imgstore_free */
	int found = find_hex(s, e->hex, id, err);
	if (found < 0) {
		rc = found;
	} else if (found == 1) {
		rc = 0;
	} else if (!j) { /* its twin under another source was refused: check it under this name */
		rc = put_hashed(s, e->data, e->n, e->hex, source, id, is_new, rerr, err);
	} else if (j->rejected < 0) {
		rc = eng_err_set(err, j->rejected, "out of memory decoding '%s'", source);
	} else if (j->rejected) {
		*rerr = j->rej;
		rc = 1;
	} else {
		s->decoded++;
		if (found == 3) /* stored with stale features: recomputed into the same row */
			s->refreshed++;
		else
			rc = insert_row(s, e->hex, j->px.width, j->px.height, j->px.format, e->n,
			                source, id, err);
		if (!rc)
			rc = store_thumb(s, *id, j, err);
		*is_new = rc == 0 && found != 3;
	}
	if (j)
		release(j);
	free(e->source);
	free(e->data);
	memset(e, 0, sizeof *e);
	return rc;
}
