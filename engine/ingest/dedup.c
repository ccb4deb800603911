/* dedup.c - duplicate/conflict groups of a dataset's pairs, by hashing normalised texts. Reads and
 * updates pairs only; knows nothing of files or record shapes. */
#include "dedup.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "pool.h"
#include "sha256.h"
#include "workspace_sql.h"

/* A pair as the grouping sees it: 32 bytes, so 10M pairs take 320 MB (the whole SHA-256s took 80
 * bytes, plus 16 of sort references). The normalised (prompt, image, {answers}) hash keeps its
 * first 128 bits (a chance collision among 10^8 pairs: ~10^-23); the raw-text hash, which only
 * tells exact repeats apart among them, its first 64. */
typedef struct entry {
	uint64_t k0, k1; /* normalised key, big-endian bytes 0-7 and 8-15 */
	uint64_t exact;  /* the same over the raw texts, bytes 0-7 */
	int64_t iddir;   /* pair id << 1 | 1 when chosen sorts before rejected (normalised) */
} entry;

/* Normalised copy of s into *buf (grown as needed): ASCII lower case, whitespace runs -> one
 * space, ends trimmed. NULL when out of memory. A whitespace byte writes a space unless the output
 * is empty or already ends with one, and a trailing space is dropped at the end: the same as
 * writing a run's space only before the next other byte. With SSE2, a block of 16 bytes without
 * \t \n \v \f \r and without a space next to another (or first in the output) is only
 * lower-cased and copied; other blocks take the byte loop. */
static inline size_t put_byte(char *out, size_t o, char c)
{
	if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
		if (o > 0 && out[o - 1] != ' ')
			out[o++] = ' ';
		return o;
	}
	out[o++] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
	return o;
}

static char *normalize(const char *s, char **buf, size_t *cap)
{
	size_t len = strlen(s), n = len + 1, o = 0, i = 0;
	if (n > *cap) {
		char *nb = realloc(*buf, n);
		if (!nb)
			return NULL;
		*buf = nb;
		*cap = n;
	}
	char *out = *buf;
#if defined(__SSE2__)
	const __m128i sp = _mm_set1_epi8(' '), tab = _mm_set1_epi8('\t' - 1),
	              cr = _mm_set1_epi8('\r' + 1), au = _mm_set1_epi8('A' - 1),
	              zu = _mm_set1_epi8('Z' + 1), up = _mm_set1_epi8('a' - 'A');
	for (; i + 16 <= len; i += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(s + i));
		/* bytes 0x09-0x0D (signed compares: bytes >= 0x80 are negative, never in range) */
		__m128i ctl = _mm_and_si128(_mm_cmpgt_epi8(v, tab), _mm_cmplt_epi8(v, cr));
		int msp = _mm_movemask_epi8(_mm_cmpeq_epi8(v, sp));
		int first = o == 0 || out[o - 1] == ' '; /* a space here would not be written */
		if (_mm_movemask_epi8(ctl) || (msp & (msp >> 1)) || ((msp & 1) && first)) {
			for (size_t j = i; j < i + 16; j++)
				o = put_byte(out, o, s[j]);
			continue;
		}
		__m128i isu = _mm_and_si128(_mm_cmpgt_epi8(v, au), _mm_cmplt_epi8(v, zu));
		_mm_storeu_si128((__m128i *)(out + o), _mm_add_epi8(v, _mm_and_si128(isu, up)));
		o += 16;
	}
#endif
	for (; i < len; i++)
		o = put_byte(out, o, s[i]);
	if (o > 0 && out[o - 1] == ' ')
		o--;
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

static uint64_t be64(const uint8_t *h)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | h[i];
	return v;
}

/* groups: by normalised key, then pair id */
static int by_key(const void *a, const void *b)
{
	const entry *x = a, *y = b;
	if (x->k0 != y->k0)
		return x->k0 < y->k0 ? -1 : 1;
	if (x->k1 != y->k1)
		return x->k1 < y->k1 ? -1 : 1;
	return (x->iddir > y->iddir) - (x->iddir < y->iddir);
}

static int by_exact(const void *a, const void *b)
{
	const entry *x = a, *y = b;
	return (x->exact > y->exact) - (x->exact < y->exact);
}

/* In-place introsort of e[0..n) by cmp: glibc's qsort merge-sorts through a copy of the array
 * (another 32 bytes per pair: 320 MB at 10M pairs). Quicksort with a median of three, the
 * smaller side first, heapsort past 2 log2(n) levels, insertion sort below 16 rows. */
static void swap_e(entry *a, entry *b)
{
	entry t = *a;
	*a = *b;
	*b = t;
}

static void sift(entry *e, size_t i, size_t n, int (*cmp)(const void *, const void *))
{
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= n)
			return;
		if (c + 1 < n && cmp(&e[c], &e[c + 1]) < 0)
			c++;
		if (cmp(&e[i], &e[c]) >= 0)
			return;
		swap_e(&e[i], &e[c]);
		i = c;
	}
}

static void sort_entries(entry *e, size_t n, int (*cmp)(const void *, const void *), int depth)
{
	while (n > 16) {
		if (depth-- <= 0) { /* heapsort */
			for (size_t i = n / 2; i-- > 0;)
				sift(e, i, n, cmp);
			for (size_t k = n - 1; k > 0; k--) {
				swap_e(&e[0], &e[k]);
				sift(e, 0, k, cmp);
			}
			return;
		}
		size_t m = n / 2;
		if (cmp(&e[m], &e[0]) < 0)
			swap_e(&e[m], &e[0]);
		if (cmp(&e[n - 1], &e[m]) < 0) {
			swap_e(&e[n - 1], &e[m]);
			if (cmp(&e[m], &e[0]) < 0)
				swap_e(&e[m], &e[0]);
		}
		entry pv = e[m];
		size_t i = 0, j = n - 1;
		for (;;) { /* Hoare partition around pv */
			while (cmp(&e[i], &pv) < 0)
				i++;
			while (cmp(&pv, &e[j]) < 0)
				j--;
			if (i >= j)
				break;
			swap_e(&e[i++], &e[j--]);
		}
		size_t left = j + 1; /* e[0..left) <= pv <= e[left..n) */
		if (left < n - left) {
			sort_entries(e, left, cmp, depth);
			e += left;
			n -= left;
		} else {
			sort_entries(e + left, n - left, cmp, depth);
			n = left;
		}
	}
	for (size_t i = 1; i < n; i++)
		for (size_t k = i; k > 0 && cmp(&e[k], &e[k - 1]) < 0; k--)
			swap_e(&e[k], &e[k - 1]);
}

static int depth_for(size_t n)
{
	int d = 0;
	while (n > 1) {
		n >>= 1;
		d += 2;
	}
	return d;
}

static int same_key(const entry *x, const entry *y)
{
	return x->k0 == y->k0 && x->k1 == y->k1;
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

/* The keys of one pair (t: prompt, chosen, rejected, image ident) into *e, whose iddir holds id * 2
 * (the direction bit is added); nb / ncap: the three normalised texts' buffers (reused). 0, or
 * -1 when out of memory. */
static int key_row(const char *const t[4], entry *e, char *nb[3], size_t ncap[3])
{
	char *np = normalize(t[0], &nb[0], &ncap[0]);
	char *nc = normalize(t[1], &nb[1], &ncap[1]);
	char *nr = normalize(t[2], &nb[2], &ncap[2]);
	if (!np || !nc || !nr)
		return -1;
	uint8_t key[ENG_SHA256_LEN], exact[ENG_SHA256_LEN];
	int dir;
	key_of(np, t[3], nc, nr, key, &dir);
	key_of(t[0], t[3], t[1], t[2], exact, NULL);
	e->k0 = be64(key);
	e->k1 = be64(key + 8);
	e->exact = be64(exact);
	e->iddir |= dir;
	return 0;
}

/* Hashes rows [from, to) of the batch into e[from, to). 0, or -1 when out of memory. */
static int hash_rows(void *arg, size_t from, size_t to)
{
	const hjob *j = arg;
	char *nb[3] = {NULL, NULL, NULL}; /* normalised prompt, chosen, rejected (reused) */
	size_t ncap[3] = {0, 0, 0};
	int rc = 0;
	for (size_t r = from; r < to && !rc; r++) {
		const char *t[4];
		for (int i = 0; i < 4; i++)
			t[i] = j->b->text.p + j->b->off[4 * r + (size_t)i];
		rc = key_row(t, &j->e[r], nb, ncap);
	}
	for (int i = 0; i < 3; i++)
		free(nb[i]);
	return rc;
}

/* ---- keys made while the pairs are stored ------------------------------------------------- */

struct eng_dedup_keys {
	entry *e;
	size_t n, cap;
	int64_t min_id; /* the lowest pair id added */
	int ok;         /* 0: unusable (a pair whose key may change, out of memory) */
	char *nb[3];
	size_t ncap[3];
};

eng_dedup_keys *eng_dedup_keys_new(void)
{
	eng_dedup_keys *k = calloc(1, sizeof *k);
	if (k)
		k->ok = 1;
	return k;
}

void eng_dedup_keys_free(eng_dedup_keys *k)
{
	if (!k)
		return;
	for (int i = 0; i < 3; i++)
		free(k->nb[i]);
	free(k->e);
	free(k);
}

void eng_dedup_keys_invalidate(eng_dedup_keys *k)
{
	if (k)
		k->ok = 0;
}

void eng_dedup_keys_add(eng_dedup_keys *k, int64_t pair_id, const char *prompt, const char *image,
                        const char *chosen, const char *rejected)
{
	if (!k || !k->ok)
		return;
	if (k->n == k->cap) {
		size_t nc = k->cap ? k->cap * 2 : 4096;
		entry *ne = realloc(k->e, nc * sizeof *ne);
		if (!ne) {
			k->ok = 0; /* the dataset's pairs are read back instead */
			return;
		}
		k->e = ne;
		k->cap = nc;
	}
	const char *t[4] = {prompt, chosen, rejected, image}; /* as key_row reads them */
	entry *e = &k->e[k->n];
	e->iddir = pair_id * 2;
	if (key_row(t, e, k->nb, k->ncap)) {
		k->ok = 0;
		return;
	}
	if (k->n == 0 || pair_id < k->min_id)
		k->min_id = pair_id;
	k->n++;
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
	return eng_dedup_dataset_keys(ws, dataset_id, NULL, res, err);
}

int eng_dedup_dataset_keys(eng_ws *ws, int64_t dataset_id, eng_dedup_keys *keys,
                           eng_dedup_result *res, eng_err *err)
{
	memset(res, 0, sizeof *res);
	sqlite3_stmt *cnt = NULL, *sel = NULL, *clr = NULL, *upd = NULL;
	entry *e = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	eng_pool *pool = eng_pool_new(2); /* the batches' hashing */
	if (!pool) {
		rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
		goto out;
	}
	if (!(cnt = eng_ws_prepare(
	          ws, "SELECT count(*) FROM pairs WHERE dataset_id = ?1 AND id < ?2", err)) ||
	    !(sel = eng_ws_prepare(
	          ws,
	          "SELECT id, prompt, chosen, rejected, coalesce(CAST(image_id AS TEXT),"
	          " 'ref:' || image_ref, '') FROM pairs WHERE dataset_id = ?1 AND id < ?2",
	          err)) ||
	    /* conflict is only ever set together with a dup_group (below, and by merge), so the
	     * flagged rows are the ones the partial index pairs_dup_group holds: no scan of the
	     * dataset's pairs */
	    !(clr = eng_ws_prepare(ws,
	                           "UPDATE pairs SET dup_group = NULL, conflict = 0"
	                           " WHERE dataset_id = ?1 AND dup_group IS NOT NULL",
	                           err)) ||
	    !(upd = eng_ws_prepare(
	          ws, "UPDATE pairs SET dup_group = ?2, conflict = ?3 WHERE id = ?1", err))) {
		rc = err->code;
		goto out;
	}
	/* the entries are allocated once at the count (growing by doubling would hold up to twice
	 * the memory at its peak) */
	sqlite3_bind_int64(cnt, 1, dataset_id);
	sqlite3_bind_int64(cnt, 2, INT64_MAX);
	if (sqlite3_step(cnt) != SQLITE_ROW) {
		rc = eng_ws_fail(ws, err, "count pairs for duplicates");
		goto out;
	}
	size_t total_pairs = (size_t)sqlite3_column_int64(cnt, 0);
	/* keys made as the pairs were stored (eng_dedup_keys_add) stand for the pairs from their
	 * lowest id on when those are exactly the pairs of the dataset from there (new rows get
	 * higher ids than every row before them): only the earlier pairs are read back */
	int64_t below = INT64_MAX;
	if (keys && keys->ok && keys->n) {
		int64_t total = (int64_t)total_pairs;
		sqlite3_reset(cnt);
		sqlite3_bind_int64(cnt, 2, keys->min_id);
		if (sqlite3_step(cnt) != SQLITE_ROW) {
			rc = eng_ws_fail(ws, err, "count pairs for duplicates");
			goto out;
		}
		if (sqlite3_column_int64(cnt, 0) + (int64_t)keys->n == total)
			below = keys->min_id;
	}
	cap = total_pairs + HB_ROWS;
	if (below != INT64_MAX) { /* the keys' entries come first, in their own array (taken) */
		entry *ke = realloc(keys->e, cap * sizeof *ke);
		if (!ke) {
			rc = eng_err_set(err, ENG_ENOMEM, "out of memory (%zu pairs)", total_pairs);
			goto out;
		}
		e = ke;
		n = keys->n;
		keys->e = NULL;
		keys->n = keys->cap = 0;
		keys->ok = 0;
	} else if (!(e = malloc(cap * sizeof *e))) {
		rc = eng_err_set(err, ENG_ENOMEM, "out of memory (%zu pairs)", total_pairs);
		goto out;
	}
	sqlite3_bind_int64(sel, 1, dataset_id);
	sqlite3_bind_int64(sel, 2, below);
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
			e[n + hb.n].iddir = sqlite3_column_int64(sel, 0) * 2; /* dir: hash_rows */
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
	/* exact repeats: sorted by the raw-text hash */
	sort_entries(e, n, by_exact, depth_for(n));
	for (size_t i = 1; i < n; i++)
		res->exact += e[i].exact == e[i - 1].exact;
	/* groups: sorted by the normalised hash, then pair id */
	sort_entries(e, n, by_key, depth_for(n));
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		int dirs = 1 << (e[i].iddir & 1);
		while (j < n && same_key(&e[j], &e[i]))
			dirs |= 1 << (e[j++].iddir & 1);
		if (j - i > 1) {
			int conflict = dirs == 3;
			char group[17];
			snprintf(group, sizeof group, "%016llx", (unsigned long long)e[i].k0);
			res->groups++;
			res->duplicates += j - i - 1;
			if (conflict) {
				res->conflicts++;
				res->conflict_pairs += j - i;
			}
			for (size_t k = i; k < j; k++) {
				sqlite3_bind_int64(upd, 1, e[k].iddir >> 1);
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
	sqlite3_finalize(cnt);
	sqlite3_finalize(sel);
	sqlite3_finalize(clr);
	sqlite3_finalize(upd);
	free(e);
	eng_pool_free(pool);
	return rc;
}
