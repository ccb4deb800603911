/* imgstore.c - the per-workspace, content-addressed image store: finds an image by the SHA-256 of
 * its bytes, decodes a new one once, inserts its row, and has its thumbnail and features made on
 * two worker threads (with a read-ahead of encoded images decoded there too), writing every row
 * from the calling thread in the order the records ask. Does not read files, URIs or archives
 * (imgsource.c, archive.c) nor make thumbnails itself (imgthumb.c). */
#include "images_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "imgdecode.h"
#include "imgfeat.h"
#include "sha256.h"
#include "workspace_sql.h"

/* ---- the store ---------------------------------------------------------------------------- */

/* Work for the pool of worker threads. A THUMB job gets pixels decoded by the main thread and makes
 * the thumbnail (JPEG) and features; a FULL job gets encoded bytes read ahead by the main thread
 * (eng_imgstore_prefetch) and checks and decodes them too. Results are written to the database by
 * the main thread only, in the order the records ask for them (SQLite stays single-threaded and the
 * rows are those of a serial run). */
enum { JOB_THUMB, JOB_FULL };
enum { S_FREE, S_QUEUED, S_RUNNING, S_DONE };

typedef struct tjob {
	int kind, state;
	uint64_t seq;        /* submission order: workers take the oldest queued job */
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
	uint64_t max_pixels, decoded, refreshed, seq;
	pthread_t workers[NWORKERS];
	int nstarted, stop;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	tjob jobs[NJ]; /* [0, NT) thumbnail jobs, [NT, NJ) read-ahead jobs */
	pref pre[NP];
};

static void *worker_main(void *arg);

int eng_imgstore_new(eng_ws *ws, uint64_t max_pixels, eng_imgstore **out, eng_err *err)
{
	*out = NULL;
	eng_imgstore *s = calloc(1, sizeof *s);
	if (!s)
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	s->ws = ws;
	s->max_pixels = max_pixels ? max_pixels : ENG_IMAGE_DEFAULT_MAX_PIXELS;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
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
	                                 " feat_version = ?5 WHERE id = ?1",
	                                 err))) {
		eng_imgstore_free(s);
		return err ? err->code : ENG_EINTERNAL;
	}
	for (int i = 0; i < NWORKERS; i++) {
		if (pthread_create(&s->workers[i], NULL, worker_main, s) != 0) {
			eng_imgstore_free(s);
			return eng_err_set(err, ENG_EINTERNAL, "cannot start the image threads");
		}
		s->nstarted++;
	}
	*out = s;
	return 0;
}

void eng_imgstore_free(eng_imgstore *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	for (int i = 0; i < s->nstarted; i++)
		pthread_join(s->workers[i], NULL);
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
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
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
/* Runs job j (on a worker, or on the main thread while it waits for j). */
static void run_job(eng_imgstore *s, tjob *j)
{
	if (j->kind == JOB_FULL) {
		j->rejected =
		    eng_image_decode(j->data, j->n, j->source, s->max_pixels, 0, &j->px, &j->rej);
		if (j->rejected)
			return;
	}
	eng_thumb_make(&j->px, &j->th);
}

/* The oldest queued job, or NULL; called with mu held. */
static tjob *oldest_queued(eng_imgstore *s)
{
	tjob *best = NULL;
	for (int i = 0; i < NJ; i++)
		if (s->jobs[i].state == S_QUEUED && (!best || s->jobs[i].seq < best->seq))
			best = &s->jobs[i];
	return best;
}

static void *worker_main(void *arg)
{
	eng_imgstore *s = arg;
	pthread_mutex_lock(&s->mu);
	for (;;) {
		tjob *j;
		while (!(j = oldest_queued(s)) && !s->stop)
			pthread_cond_wait(&s->cv, &s->mu);
		if (s->stop)
			break;
		j->state = S_RUNNING;
		pthread_mutex_unlock(&s->mu);
		run_job(s, j);
		pthread_mutex_lock(&s->mu);
		j->state = S_DONE;
		pthread_cond_broadcast(&s->cv);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* Waits until j is done, running it here when no worker has taken it yet. */
static void wait_job(eng_imgstore *s, tjob *j)
{
	pthread_mutex_lock(&s->mu);
	while (j->state != S_DONE) {
		if (j->state == S_QUEUED) {
			j->state = S_RUNNING;
			pthread_mutex_unlock(&s->mu);
			run_job(s, j);
			pthread_mutex_lock(&s->mu);
			j->state = S_DONE;
			pthread_cond_broadcast(&s->cv);
		} else {
			pthread_cond_wait(&s->cv, &s->mu);
		}
	}
	pthread_mutex_unlock(&s->mu);
}

static void release(eng_imgstore *s, tjob *j)
{
	pthread_mutex_lock(&s->mu);
	j->state = S_FREE;
	pthread_mutex_unlock(&s->mu);
}

static void submit(eng_imgstore *s, tjob *j)
{
	pthread_mutex_lock(&s->mu);
	j->seq = s->seq++;
	j->state = S_QUEUED;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
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
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : eng_ws_fail(s->ws, err, "store thumbnail");
}

/* Writes back the finished thumbnail jobs: all of them when wait, else those already done. */
static int collect(eng_imgstore *s, int wait, eng_err *err)
{
	for (int i = 0; i < NT; i++) {
		tjob *j = &s->jobs[i];
		pthread_mutex_lock(&s->mu);
		int st = j->state;
		pthread_mutex_unlock(&s->mu);
		if (st == S_FREE || (!wait && st != S_DONE))
			continue;
		wait_job(s, j);
		release(s, j);
		int rc = store_thumb(s, j->id, j, err);
		if (rc)
			return rc;
	}
	return 0;
}

int eng_imgstore_flush(eng_imgstore *s, eng_err *err)
{
	return collect(s, 1, err);
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
	/* hand the pixels to a worker: a free thumbnail slot, writing back what is finished */
	tjob *j = NULL;
	while (!j) {
		if ((rc = collect(s, 0, err))) {
			eng_image_pixels_free(&px);
			return rc;
		}
		pthread_mutex_lock(&s->mu);
		for (int i = 0; i < NT && !j; i++)
			if (s->jobs[i].state == S_FREE)
				j = &s->jobs[i];
		if (!j) {
			int done = 0;
			for (int i = 0; i < NT; i++)
				done |= s->jobs[i].state == S_DONE;
			if (!done)
				pthread_cond_wait(&s->cv, &s->mu);
		}
		pthread_mutex_unlock(&s->mu);
	}
	j->kind = JOB_THUMB;
	j->id = *id;
	j->px = px;
	submit(s, j);
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
	e->job = NT + k;
	submit(s, j);
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
	if (j)
		wait_job(s, j);
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
		release(s, j);
	free(e->source);
	free(e->data);
	memset(e, 0, sizeof *e);
	return rc;
}
