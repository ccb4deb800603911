/* neardup.c - perceptual hashes of the stored thumbnails and the near-duplicate image pairs of a
 * workspace (within and across datasets). Reads images and pairs; writes only images.phash and
 * images.mean_rgb (eng_neardup_fill). Knows nothing of reports. */
#include "neardup.h"

#include "imgfeat.h"
#include "workspace_sql.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb_image.h>

enum { SIDE = 32, LOW = 8 };

/* Luminance of rgb (w, h) box-resampled into g (SIDE, SIDE); cells no source pixel falls into
 * (sources narrower than SIDE) take the nearest pixel. Mean colour into *mean. Pixel (x, y) falls
 * into cell (x SIDE / w, y SIDE / h), floored; the cell indices advance with x and y instead of
 * being divided out per pixel. A cell's luminance is that of its integer channel sums (the mean
 * of the pixels' luminances, up to rounding), so a pixel costs three integer additions. */
static void resample(const uint8_t *rgb, int w, int h, double *g, uint32_t *mean)
{
	int xb[SIDE + 1]; /* cell tx holds the columns [xb[tx], xb[tx + 1]) */
	xb[0] = 0;
	for (int tx = 0; tx < SIDE; tx++) {
		int64_t e = ((int64_t)(tx + 1) * w + SIDE - 1) / SIDE;
		xb[tx + 1] = e < w ? (int)e : w;
	}
	uint8_t has[SIDE * SIDE] = {0};
	uint64_t c[3] = {0, 0, 0};
	enum { CHUNK = 512 };
	uint32_t cs[CHUNK * 3]; /* column sums of one band's rows: < 2^32 while a band has < 2^24 */
	for (int ty = 0, y0 = 0; ty < SIDE && y0 < h; ty++) {
		/* the rows y0 .. y1 - 1 fall into band ty */
		int64_t e = ((int64_t)(ty + 1) * h + SIDE - 1) / SIDE;
		int y1 = e < h ? (int)e : h;
		if (y1 <= y0)
			continue;
		uint64_t acc[SIDE][3];
		memset(acc, 0, sizeof acc);
		for (int c0 = 0; c0 < w; c0 += CHUNK) {
			int cw = w - c0 < CHUNK ? w - c0 : CHUNK, nb = cw * 3;
			memset(cs, 0, sizeof(uint32_t) * (size_t)nb);
			for (int y = y0; y < y1; y++) { /* contiguous bytes: vectorized */
				const uint8_t *p = rgb + ((size_t)y * (size_t)w + (size_t)c0) * 3;
				for (int i = 0; i < nb; i++)
					cs[i] += p[i];
			}
			for (int tx = 0; tx < SIDE; tx++) { /* each cell's columns in this chunk */
				int x0 = xb[tx] > c0 ? xb[tx] : c0;
				int x1 = xb[tx + 1] < c0 + cw ? xb[tx + 1] : c0 + cw;
				uint64_t r = 0, gg = 0, bb = 0;
				for (int x = x0 - c0; x < x1 - c0; x++) {
					r += cs[3 * x];
					gg += cs[3 * x + 1];
					bb += cs[3 * x + 2];
				}
				acc[tx][0] += r;
				acc[tx][1] += gg;
				acc[tx][2] += bb;
			}
		}
		for (int tx = 0; tx < SIDE; tx++) {
			if (xb[tx + 1] <= xb[tx])
				continue;
			int i = ty * SIDE + tx;
			double n = (double)(y1 - y0) * (double)(xb[tx + 1] - xb[tx]);
			g[i] = (0.299 * (double)acc[tx][0] + 0.587 * (double)acc[tx][1] +
			        0.114 * (double)acc[tx][2]) /
			       n;
			has[i] = 1;
			for (int k = 0; k < 3; k++)
				c[k] += acc[tx][k];
		}
		y0 = y1;
	}
	for (int i = 0; i < SIDE * SIDE; i++)
		if (!has[i]) { /* no pixel falls into this cell: the nearest one */
			const uint8_t *p = rgb + ((size_t)(i / SIDE * h / SIDE) * (size_t)w +
			                          (size_t)(i % SIDE * w / SIDE)) *
			                             3;
			g[i] = 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
		}
	double np = (double)w * (double)h;
	uint32_t m = 0;
	for (int k = 0; k < 3; k++) {
		long v = lround((double)c[k] / np);
		m = m << 8 | (uint32_t)(v < 0 ? 0 : v > 255 ? 255 : v);
	}
	*mean = m;
}

/* cos(pi (2x + 1) u / (2 SIDE)), the DCT-II basis, computed once. */
static double dct_cos[LOW][SIDE];
static pthread_once_t dct_once = PTHREAD_ONCE_INIT;
static void dct_init(void)
{
	for (int u = 0; u < LOW; u++)
		for (int x = 0; x < SIDE; x++)
			dct_cos[u][x] = cos(M_PI * (2 * x + 1) * u / (2.0 * SIDE));
}

static int by_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

void eng_phash_rgb(const uint8_t *rgb, int w, int h, uint64_t *hash, uint32_t *mean_rgb)
{
	double g[SIDE * SIDE];
	resample(rgb, w, h, g, mean_rgb);
	double mu = 0, var = 0;
	for (int i = 0; i < SIDE * SIDE; i++)
		mu += g[i];
	mu /= SIDE * SIDE;
	for (int i = 0; i < SIDE * SIDE; i++)
		var += (g[i] - mu) * (g[i] - mu);
	*hash = 0;
	if (sqrt(var / (SIDE * SIDE)) < 2.0) /* no structure: colour alone decides */
		return;
	/* DCT-II, lowest LOW x LOW coefficients: C[u][v] = sum_y sum_x g[y][x] cos[u][y] cos[v][x]
	 */
	double row[LOW][SIDE], coef[LOW * LOW], sorted[LOW * LOW - 1];
	pthread_once(&dct_once, dct_init);
	const double(*cs)[SIDE] = dct_cos;
	for (int y = 0; y < SIDE; y++) { /* row[v][y] = sum_x g[y][x] cos[v][x], x ascending */
		double acc[LOW] = {0};
		for (int x = 0; x < SIDE; x++)
			for (int v = 0; v < LOW; v++) /* eight independent sums: vectorized */
				acc[v] += g[y * SIDE + x] * cs[v][x];
		for (int v = 0; v < LOW; v++)
			row[v][y] = acc[v];
	}
	for (int u = 0; u < LOW; u++)
		for (int v = 0; v < LOW; v++) {
			double s = 0;
			for (int y = 0; y < SIDE; y++)
				s += row[v][y] * cs[u][y];
			coef[u * LOW + v] = s;
		}
	memcpy(sorted, coef + 1, sizeof sorted);
	qsort(sorted, LOW * LOW - 1, sizeof sorted[0], by_double);
	double median = sorted[(LOW * LOW - 1) / 2];
	for (int i = 1; i < LOW * LOW; i++)
		if (coef[i] > median)
			*hash |= (uint64_t)1 << i;
}

int eng_phash_encoded(const uint8_t *data, size_t n, uint64_t *hash, uint32_t *mean_rgb)
{
	if (!data || n == 0 || n > (size_t)1 << 30)
		return -1;
	int w, h, comp;
	uint8_t *rgb = stbi_load_from_memory(data, (int)n, &w, &h, &comp, 3);
	if (!rgb)
		return -1;
	int ok = w > 0 && h > 0 && (int64_t)w * h <= 4096 * 4096;
	if (ok)
		eng_phash_rgb(rgb, w, h, hash, mean_rgb);
	stbi_image_free(rgb);
	return ok ? 0 : -1;
}

int eng_phash_distance(uint64_t a, uint64_t b)
{
	return __builtin_popcountll(a ^ b);
}

int eng_neardup_fill(eng_ws *ws, int64_t *filled, eng_err *err)
{
	if (filled)
		*filled = 0;
	sqlite3_stmt *sel = eng_ws_prepare(
	    ws, "SELECT id, thumb FROM images WHERE phash IS NULL AND thumb IS NOT NULL", err);
	sqlite3_stmt *upd = NULL;
	int rc = 0, s;
	if (!sel || !(upd = eng_ws_prepare(ws,
	                                   "UPDATE images SET phash = ?2, mean_rgb = ?3"
	                                   " WHERE id = ?1",
	                                   err))) {
		rc = err ? err->code : ENG_EINTERNAL;
		goto out;
	}
	if ((rc = eng_ws_begin(ws, err)))
		goto out;
	while ((s = sqlite3_step(sel)) == SQLITE_ROW) {
		uint64_t hsh;
		uint32_t rgb;
		if (eng_phash_encoded(sqlite3_column_blob(sel, 1),
		                      (size_t)sqlite3_column_bytes(sel, 1), &hsh, &rgb))
			continue;
		sqlite3_bind_int64(upd, 1, sqlite3_column_int64(sel, 0));
		sqlite3_bind_int64(upd, 2, (int64_t)hsh);
		sqlite3_bind_int64(upd, 3, rgb);
		int u = sqlite3_step(upd);
		sqlite3_reset(upd);
		if (u != SQLITE_DONE) {
			rc = eng_ws_fail(ws, err, "store image hashes");
			break;
		}
		if (filled)
			(*filled)++;
	}
	if (!rc && s != SQLITE_DONE)
		rc = eng_ws_fail(ws, err, "read thumbnails");
	if (rc)
		eng_ws_rollback(ws);
	else
		rc = eng_ws_commit(ws, err);
out:
	sqlite3_finalize(sel);
	sqlite3_finalize(upd);
	return rc;
}

/* An image as the search sees it. */
typedef struct img {
	int64_t id;
	uint64_t hash;
	uint32_t rgb;
	size_t ds_off, ds_n; /* its datasets in the ds array */
} img;

typedef struct finder {
	img *im;
	size_t n;
	int64_t *ds; /* datasets per image, concatenated */
	size_t n_ds;
	eng_neardup *out;
	size_t cap;
	sqlite3_stmt *feat; /* the built-in feature vector of an image (NULL: hash only) */
} finder;

/* The second test of a candidate pair: the colour layout grids of their built-in features (4x4
 * cells x mean RGB of a small thumbnail, imgfeat.h) lie within ENG_NEARDUP_GRID_TOL (Euclidean).
 * A re-encoded, noisy or resized copy stays within ~0.01 while different pictures of similar
 * structure, which the luminance hash lets through (synth's scenes: 2-8 bits apart), lie 0.15
 * or more apart. The grid only: the gradient histograms move with re-encoding noise (0.5 for
 * +-4 of noise). Images without cached features are judged by the hash alone. */
#define ENG_NEARDUP_GRID_TOL 0.05
static int feat_close(finder *f, int64_t a, int64_t b)
{
	if (!f->feat)
		return 1;
	float *v[2] = {NULL, NULL};
	int n[2] = {0, 0};
	int64_t id[2] = {a, b};
	for (int k = 0; k < 2; k++) {
		sqlite3_reset(f->feat);
		sqlite3_bind_int64(f->feat, 1, id[k]);
		if (sqlite3_step(f->feat) == SQLITE_ROW &&
		    sqlite3_column_type(f->feat, 0) == SQLITE_BLOB) {
			int bytes = sqlite3_column_bytes(f->feat, 0);
			v[k] = malloc(bytes > 0 ? (size_t)bytes : 1);
			if (v[k] && bytes > 0)
				memcpy(v[k], sqlite3_column_blob(f->feat, 0), (size_t)bytes);
			n[k] = bytes / (int)sizeof(float);
		}
	}
	sqlite3_reset(f->feat);
	int close = 1;
	int ng = eng_imgfeat_grid_dim();
	if (v[0] && v[1] && n[0] == n[1] && n[0] >= ng) {
		double g2 = 0;
		for (int i = 0; i < ng; i++)
			g2 += ((double)v[0][i] - v[1][i]) * ((double)v[0][i] - v[1][i]);
		close = g2 <= ENG_NEARDUP_GRID_TOL * ENG_NEARDUP_GRID_TOL;
	}
	free(v[0]);
	free(v[1]);
	return close;
}

static int push(finder *f, int64_t ia, int64_t ib, int64_t da, int64_t db, int dist)
{
	if (f->out->n == f->cap) {
		size_t nc = f->cap ? 2 * f->cap : 64;
		eng_neardup_pair *np = realloc(f->out->pairs, nc * sizeof *np);
		if (!np)
			return -1;
		f->out->pairs = np;
		f->cap = nc;
	}
	if (da > db) { /* across: the smaller dataset id first, with its image */
		int64_t t = da;
		da = db;
		db = t;
		t = ia;
		ia = ib;
		ib = t;
	}
	f->out->pairs[f->out->n++] = (eng_neardup_pair){ia, ib, da, db, dist};
	return 0;
}

/* Every dataset combination of two near-duplicate images a != b. */
static int emit(finder *f, const img *a, const img *b, int dist)
{
	for (size_t i = 0; i < a->ds_n; i++)
		for (size_t j = 0; j < b->ds_n; j++)
			if (push(f, a->id, b->id, f->ds[a->ds_off + i], f->ds[b->ds_off + j], dist))
				return -1;
	return 0;
}

static int rgb_close(uint32_t a, uint32_t b)
{
	for (int k = 0; k < 24; k += 8) {
		int d = (int)((a >> k) & 255) - (int)((b >> k) & 255);
		if (d > ENG_NEARDUP_RGB_TOL || d < -ENG_NEARDUP_RGB_TOL)
			return 0;
	}
	return 1;
}

typedef struct bkey {
	uint64_t v;
	size_t i;
} bkey;

static int by_bkey(const void *a, const void *b)
{
	const bkey *x = a, *y = b;
	if (x->v != y->v)
		return x->v < y->v ? -1 : 1;
	return (x->i > y->i) - (x->i < y->i);
}

static uint64_t block_of(uint64_t h, int b, int nb)
{
	int lo = b * 64 / nb, hi = (b + 1) * 64 / nb;
	uint64_t mask = hi - lo == 64 ? ~(uint64_t)0 : (((uint64_t)1 << (hi - lo)) - 1);
	return h >> lo & mask;
}

static int by_pair(const void *a, const void *b)
{
	const eng_neardup_pair *x = a, *y = b;
	int64_t k[4][2] = {{x->ds_a, y->ds_a},
	                   {x->ds_b, y->ds_b},
	                   {x->image_a, y->image_a},
	                   {x->image_b, y->image_b}};
	for (int i = 0; i < 4; i++)
		if (k[i][0] != k[i][1])
			return k[i][0] < k[i][1] ? -1 : 1;
	return 0;
}

/* Multi-index search: pairs agreeing on block b and on no earlier block are compared there. */
static int search(finder *f, int d, eng_err *err)
{
	int nb = d + 1;
	bkey *k = malloc((f->n ? f->n : 1) * sizeof *k);
	if (!k)
		return eng_err_set(err, ENG_ENOMEM, "out of memory (near-duplicate images)");
	uint64_t budget = 200000000u;
	for (int b = 0; b < nb && !f->out->truncated; b++) {
		for (size_t i = 0; i < f->n; i++)
			k[i] = (bkey){block_of(f->im[i].hash, b, nb), i};
		qsort(k, f->n, sizeof *k, by_bkey);
		for (size_t s = 0; s < f->n && !f->out->truncated;) {
			size_t e = s + 1;
			while (e < f->n && k[e].v == k[s].v)
				e++;
			for (size_t x = s; x < e && !f->out->truncated; x++)
				for (size_t y = x + 1; y < e; y++) {
					if (!budget--) {
						f->out->truncated = 1;
						break;
					}
					const img *a = &f->im[k[x].i], *c = &f->im[k[y].i];
					int earlier = 0;
					for (int p = 0; p < b && !earlier; p++)
						earlier = block_of(a->hash, p, nb) ==
						          block_of(c->hash, p, nb);
					int dist = eng_phash_distance(a->hash, c->hash);
					if (earlier || dist > d || !rgb_close(a->rgb, c->rgb) ||
					    !feat_close(f, a->id, c->id))
						continue;
					if (emit(f, a->id < c->id ? a : c, a->id < c->id ? c : a,
					         dist)) {
						free(k);
						return eng_err_set(err, ENG_ENOMEM,
						                   "out of memory");
					}
				}
			s = e;
		}
	}
	free(k);
	return 0;
}

/* Loads the hashed images used by some pair (hashing the missing ones) and their datasets. */
static int load(eng_ws *ws, finder *f, eng_err *err)
{
	sqlite3_stmt *q = eng_ws_prepare(
	    ws,
	    "SELECT i.id, i.phash, i.mean_rgb, CASE WHEN i.phash IS NULL THEN i.thumb END,"
	    " u.dataset_id FROM images i JOIN (SELECT DISTINCT image_id, dataset_id FROM pairs"
	    " WHERE image_id IS NOT NULL) u ON u.image_id = i.id ORDER BY i.id, u.dataset_id",
	    err);
	if (!q)
		return err ? err->code : ENG_EINTERNAL;
	size_t icap = 0, dcap = 0;
	int rc = 0, s, skip = 0;
	int64_t last = -1;
	while ((s = sqlite3_step(q)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(q, 0);
		if (id != last) {
			last = id;
			uint64_t h;
			uint32_t rgb;
			if (sqlite3_column_type(q, 1) != SQLITE_NULL) {
				h = (uint64_t)sqlite3_column_int64(q, 1);
				rgb = (uint32_t)sqlite3_column_int64(q, 2);
				skip = 0;
			} else {
				skip = eng_phash_encoded(sqlite3_column_blob(q, 3),
				                         (size_t)sqlite3_column_bytes(q, 3), &h,
				                         &rgb) != 0;
			}
			if (skip)
				continue;
			if (f->n == icap) {
				icap = icap ? 2 * icap : 256;
				img *ni = realloc(f->im, icap * sizeof *ni);
				if (!ni) {
					rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
					break;
				}
				f->im = ni;
			}
			f->im[f->n++] = (img){id, h, rgb, f->n_ds, 0};
		} else if (skip) {
			continue;
		}
		if (f->n_ds == dcap) {
			dcap = dcap ? 2 * dcap : 256;
			int64_t *nd = realloc(f->ds, dcap * sizeof *nd);
			if (!nd) {
				rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
				break;
			}
			f->ds = nd;
		}
		f->ds[f->n_ds++] = sqlite3_column_int64(q, 4);
		f->im[f->n - 1].ds_n++;
	}
	if (!rc && s != SQLITE_DONE)
		rc = eng_ws_fail(ws, err, "read image hashes");
	sqlite3_finalize(q);
	return rc;
}

int eng_neardup_find(eng_ws *ws, int max_distance, eng_neardup *out, eng_err *err)
{
	memset(out, 0, sizeof *out);
	if (max_distance < 0 || max_distance > ENG_NEARDUP_MAX_DISTANCE)
		return eng_err_set(err, ENG_EINPUT,
		                   "near-duplicate distance %d: use 0..%d bits of 64", max_distance,
		                   ENG_NEARDUP_MAX_DISTANCE);
	out->max_distance = max_distance;
	finder f = {.out = out};
	f.feat = eng_ws_prepare(ws, "SELECT feat FROM images WHERE id = ?1 AND feat_dim > 0", NULL);
	int rc = load(ws, &f, err);
	out->images = (int64_t)f.n;
	/* the same image used by two datasets */
	for (size_t i = 0; i < f.n && !rc; i++)
		for (size_t a = 0; a < f.im[i].ds_n && !rc; a++)
			for (size_t b = a + 1; b < f.im[i].ds_n && !rc; b++)
				if (push(&f, f.im[i].id, f.im[i].id, f.ds[f.im[i].ds_off + a],
				         f.ds[f.im[i].ds_off + b], 0))
					rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
	if (!rc)
		rc = search(&f, max_distance, err);
	free(f.im);
	free(f.ds);
	sqlite3_finalize(f.feat);
	if (rc) {
		eng_neardup_clear(out);
		return rc;
	}
	if (out->n) /* qsort wants a valid pointer even for no elements */
		qsort(out->pairs, out->n, sizeof *out->pairs, by_pair);
	return 0;
}

void eng_neardup_clear(eng_neardup *x)
{
	if (!x)
		return;
	free(x->pairs);
	x->pairs = NULL;
	x->n = 0;
}
