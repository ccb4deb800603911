/* dedup.c - duplicate/conflict groups of a dataset's pairs, by hashing normalised texts. Reads and
 * updates pairs only; knows nothing of files or record shapes. */
#include "dedup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "pool.h"
#include "sha256.h"
#include "workspace_sql.h"

typedef struct entry {
	int64_t id;
	uint8_t key[ENG_SHA256_LEN];   /* normalised (prompt, image, {answers}) */
	uint8_t exact[ENG_SHA256_LEN]; /* the same over the raw texts */
	int dir;                       /* 1 when chosen sorts before rejected (normalised) */
} entry;

/* Normalised copy of s into *buf (grown as needed): ASCII lower case, whitespace runs -> one
 * space, ends trimmed. NULL when out of memory. */
static char *normalize(const char *s, char **buf, size_t *cap)
{
	size_t n = strlen(s) + 1, o = 0;
	if (n > *cap) {
		char *nb = realloc(*buf, n);
		if (!nb)
			return NULL;
		*buf = nb;
		*cap = n;
	}
	char *out = *buf;
	int space = 0;
	for (; *s; s++) {
		char c = *s;
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
			space = o > 0;
			continue;
		}
		if (space)
			out[o++] = ' ';
		space = 0;
		out[o++] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
	}
	out[o] = '\0';
	return out;
}

char *eng_dedup_normalize(const char *s, char **buf, size_t *cap)
{
	return normalize(s, buf, cap);
}

/* Hash of prompt, image and the two answers in sorted order; *dir = chosen sorts first. */
static void key_of(const char *p, const char *img, const char *c, const char *r, uint8_t *key,
                   int *dir)
{
	eng_sha256_ctx s;
	int d = strcmp(c, r) < 0;
	const char *parts[4] = {p, img, d ? c : r, d ? r : c};
	eng_sha256_init(&s);
	for (int i = 0; i < 4; i++)
		eng_sha256_update(&s, parts[i], strlen(parts[i]) + 1); /* the NUL separates */
	eng_sha256_final(&s, key);
	if (dir)
		*dir = d;
}

/* Sorting moves 16-byte references (the first 8 hash bytes, big-endian, and the entry), not the
 * 80-byte entries; equal prefixes fall back to the whole hash. */
typedef struct sref {
	uint64_t pre;
	const entry *e;
} sref;

static uint64_t prefix(const uint8_t *h)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | h[i];
	return v;
}

static int by_key(const void *a, const void *b)
{
	const sref *x = a, *y = b;
	if (x->pre != y->pre)
		return x->pre < y->pre ? -1 : 1;
	int d = memcmp(x->e->key, y->e->key, ENG_SHA256_LEN);
	return d ? d : (x->e->id > y->e->id) - (x->e->id < y->e->id);
}

static int by_exact(const void *a, const void *b)
{
	const sref *x = a, *y = b;
	if (x->pre != y->pre)
		return x->pre < y->pre ? -1 : 1;
	return memcmp(x->e->exact, y->e->exact, ENG_SHA256_LEN);
}

/* A batch of rows' texts (prompt, chosen, rejected, image ident), hashed on two threads. */
enum { HB_ROWS = 2048 };
typedef struct hbatch {
	size_t n;
	eng_arena text;
	size_t off[4 * HB_ROWS];
} hbatch;

typedef struct hjob {
	const hbatch *b;
	entry *e; /* (b->n) out: a task fills only the keys of its own rows [from, to) */
} hjob;

/* Hashes rows [from, to) of the batch into e[from, to). 0, or -1 when out of memory. */
static int hash_rows(void *arg, size_t from, size_t to)
{
	const hjob *j = arg;
	char *nb[3] = {NULL, NULL, NULL}; /* normalised prompt, chosen, rejected (reused) */
	size_t ncap[3] = {0, 0, 0};
	int rc = 0;
	for (size_t r = from; r < to; r++) {
		const char *t[4];
		for (int i = 0; i < 4; i++)
			t[i] = j->b->text.p + j->b->off[4 * r + (size_t)i];
		char *np = normalize(t[0], &nb[0], &ncap[0]);
		char *nc = normalize(t[1], &nb[1], &ncap[1]);
		char *nr = normalize(t[2], &nb[2], &ncap[2]);
		if (!np || !nc || !nr) {
			rc = -1;
			break;
		}
		key_of(np, t[3], nc, nr, j->e[r].key, &j->e[r].dir);
		key_of(t[0], t[3], t[1], t[2], j->e[r].exact, NULL);
	}
	for (int i = 0; i < 3; i++)
		free(nb[i]);
	return rc;
}

/* Fills the keys of e[0..b->n) from the batch, in two halves on the pool (one chunk below 64
 * rows). Determinism: each row's keys depend on that row's texts alone and each half writes
 * only its own rows, so the keys do not depend on the split or the threads. -1 when out of
 * memory. */
static int hash_batch(eng_pool *pool, const hbatch *b, entry *e)
{
	hjob j = {b, e};
	size_t chunk = b->n >= 64 ? b->n - b->n / 2 : b->n;
	return b->n && eng_pool_for(pool, b->n, chunk, hash_rows, &j) ? -1 : 0;
}

int eng_dedup_dataset(eng_ws *ws, int64_t dataset_id, eng_dedup_result *res, eng_err *err)
{
	memset(res, 0, sizeof *res);
	sqlite3_stmt *sel = NULL, *clr = NULL, *upd = NULL;
	entry *e = NULL;
	sref *r = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	eng_pool *pool = eng_pool_new(2); /* the batches' hashing */
	if (!pool) {
		rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
		goto out;
	}
	if (!(sel = eng_ws_prepare(
	          ws,
	          "SELECT id, prompt, chosen, rejected, coalesce(CAST(image_id AS TEXT),"
	          " 'ref:' || image_ref, '') FROM pairs WHERE dataset_id = ?1",
	          err)) ||
	    !(clr = eng_ws_prepare(ws,
	                           "UPDATE pairs SET dup_group = NULL, conflict = 0"
	                           " WHERE dataset_id = ?1 AND (dup_group IS NOT NULL OR conflict)",
	                           err)) ||
	    !(upd = eng_ws_prepare(
	          ws, "UPDATE pairs SET dup_group = ?2, conflict = ?3 WHERE id = ?1", err))) {
		rc = err->code;
		goto out;
	}
	sqlite3_bind_int64(sel, 1, dataset_id);
	int s = SQLITE_DONE;
	/* rows are read in batches; each batch is hashed on the pool's two threads (halves) */
	hbatch hb = {0};
	while (!rc) {
		hb.n = 0;
		hb.text.len = 0;
		while (hb.n < HB_ROWS && (s = sqlite3_step(sel)) == SQLITE_ROW) {
			if (n + hb.n == cap) {
				size_t nc = cap ? cap * 2 : 1024;
				entry *ne = realloc(e, nc * sizeof *ne);
				if (!ne) {
					rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
					break;
				}
				e = ne;
				cap = nc;
			}
			e[n + hb.n].id = sqlite3_column_int64(sel, 0);
			for (int i = 0; i < 4 && !rc; i++)
				if (eng_arena_put(&hb.text,
				                  (const char *)sqlite3_column_text(sel, i + 1),
				                  &hb.off[4 * hb.n + (size_t)i]))
					rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
			hb.n++;
		}
		if (rc || hb.n == 0)
			break;
		if (hash_batch(pool, &hb, e + n))
			rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
		n += hb.n;
		if (hb.n < HB_ROWS)
			break;
	}
	eng_arena_free(&hb.text);
	if (rc)
		goto out;
	if (s != SQLITE_DONE) {
		rc = eng_ws_fail(ws, err, "read pairs for duplicates");
		goto out;
	}
	res->pairs = n;
	sqlite3_bind_int64(clr, 1, dataset_id);
	if (sqlite3_step(clr) != SQLITE_DONE) {
		rc = eng_ws_fail(ws, err, "clear duplicate flags");
		goto out;
	}
	if (!(r = malloc((n ? n : 1) * sizeof *r))) {
		rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
		goto out;
	}
	/* exact repeats: sorted by the raw-text hash */
	for (size_t i = 0; i < n; i++)
		r[i] = (sref){prefix(e[i].exact), &e[i]};
	qsort(r, n, sizeof *r, by_exact);
	for (size_t i = 1; i < n; i++)
		res->exact += !memcmp(r[i].e->exact, r[i - 1].e->exact, ENG_SHA256_LEN);
	/* groups: sorted by the normalised hash, then pair id */
	for (size_t i = 0; i < n; i++)
		r[i] = (sref){prefix(e[i].key), &e[i]};
	qsort(r, n, sizeof *r, by_key);
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		int dirs = 1 << r[i].e->dir;
		while (j < n && !memcmp(r[j].e->key, r[i].e->key, ENG_SHA256_LEN))
			dirs |= 1 << r[j++].e->dir;
		if (j - i > 1) {
			int conflict = dirs == 3;
			char group[17];
			for (int k = 0; k < 8; k++)
				snprintf(group + 2 * k, 3, "%02x", r[i].e->key[k]);
			res->groups++;
			res->duplicates += j - i - 1;
			if (conflict) {
				res->conflicts++;
				res->conflict_pairs += j - i;
			}
			for (size_t k = i; k < j; k++) {
				sqlite3_bind_int64(upd, 1, r[k].e->id);
				sqlite3_bind_text(upd, 2, group, 16, SQLITE_TRANSIENT);
				sqlite3_bind_int(upd, 3, conflict);
				int u = sqlite3_step(upd);
				sqlite3_reset(upd);
				if (u != SQLITE_DONE) {
					rc = eng_ws_fail(ws, err, "flag duplicates");
					goto out;
				}
			}
		}
		i = j;
	}
out:
	sqlite3_finalize(sel);
	sqlite3_finalize(clr);
	sqlite3_finalize(upd);
	free(e);
	free(r);
	eng_pool_free(pool);
	return rc;
}
