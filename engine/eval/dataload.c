/* dataload.c - workspace pairs -> one eng_pairset + per-row split keys and blind-baseline facts,
 * loaded in named steps (feature mode, tables, SQL streaming with the image cache, two featurizing
 * lanes, text embeddings, imputation). Column names and the namer: datacols.c. */
#include "dataload.h"
#include "workspace_sql.h"
#include "textfeat_internal.h"

#include <assert.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "imgfeat.h"
#include "pool.h"
#include "safetext.h"

int eng_format_markers(const char *s)
{
	int n = 0, bol = 1;
	for (const char *p = s; *p; p++) {
		if (bol) {
			const char *q = p;
			while (*q == ' ' || *q == '\t')
				q++;
			if ((*q == '-' || *q == '*' || *q == '+') && q[1] == ' ')
				n++;
			else if (*q == '#')
				n++;
			else if (*q >= '0' && *q <= '9') {
				while (*q >= '0' && *q <= '9')
					q++;
				if ((*q == '.' || *q == ')') && q[1] == ' ')
					n++;
			}
		}
		if (p[0] == '*' && p[1] == '*')
			n++, p++;
		else if (p[0] == '`' && p[1] == '`' && p[2] == '`')
			n++, p += 2;
		bol = *p == '\n';
	}
	return n;
}

static uint64_t hex_key(const char *hex)
{
	uint64_t k = 0;
	for (int i = 0; i < 16 && hex && hex[i]; i++) {
		char c = hex[i];
		int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : 0;
		k = k << 4 | (uint64_t)v;
	}
	return k | 1; /* never 0: 0 means "no image" */
}

static int sgn(long long a, long long b)
{
	return a > b ? 1 : a < b ? -1 : 0;
}

void eng_data_drop_pair_keys(eng_data *d)
{
	void **keys[] = {
	    (void **)&d->pair_id,      (void **)&d->group,          (void **)&d->img_key,
	    (void **)&d->prompt_key,   (void **)&d->answer_key,     (void **)&d->longer,
	    (void **)&d->chosen_chars, (void **)&d->rejected_chars, (void **)&d->formatted};
	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
		free(*keys[i]);
		*keys[i] = NULL;
	}
}

void eng_data_free(eng_data *d)
{
	if (!d)
		return;
	eng_pairset_free(&d->ps);
	eng_textfeat_free(d->tf);
	for (size_t i = 0; d->ds_name && i < d->nds; i++)
		free(d->ds_name[i]);
	free(d->ds_name);
	free(d->ds_id);
	free(d->ds_begin);
	eng_data_drop_pair_keys(d);
	memset(d, 0, sizeof *d);
}

/* FNV-1a of s normalised as dedup does (ASCII lower case, whitespace runs -> one space, ends
 * trimmed), without a copy. */
static uint64_t norm_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	int space = 0, any = 0;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
			space = any;
			continue;
		}
		if (space)
			h = (h ^ ' ') * 0x100000001b3ULL;
		space = 0;
		any = 1;
		h = (h ^ (c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c)) * 0x100000001b3ULL;
	}
	return h;
}

uint64_t eng_answer_pair_key(const char *chosen, const char *rejected)
{
	uint64_t a = norm_hash(chosen), b = norm_hash(rejected), lo = a < b ? a : b,
	         hi = a < b ? b : a;
	uint64_t k = eng_mix64(lo ^ eng_mix64(hi));
	return k ? k : 1;
}

static int grow(eng_data *d, size_t need, size_t *cap, int answer_keys, eng_err *err)
{
	if (need <= *cap)
		return 0;
	size_t nc = *cap ? *cap * 2 : 1024;
	while (nc < need)
		nc *= 2;
	if (nc > SIZE_MAX / sizeof(uint64_t))
		return eng_err_set(err, ENG_ENOMEM, "too many pairs");
	void *a = realloc(d->pair_id, nc * sizeof *d->pair_id);
	if (a)
		d->pair_id = a;
	void *b = realloc(d->group, nc * sizeof *d->group);
	if (b)
		d->group = b;
	void *c = realloc(d->img_key, nc * sizeof *d->img_key);
	if (c)
		d->img_key = c;
	void *e = realloc(d->prompt_key, nc * sizeof *d->prompt_key);
	if (e)
		d->prompt_key = e;
	void *f = realloc(d->longer, nc);
	if (f)
		d->longer = f;
	void *g = realloc(d->formatted, nc);
	if (g)
		d->formatted = g;
	void *h = realloc(d->chosen_chars, nc * sizeof *d->chosen_chars);
	if (h)
		d->chosen_chars = h;
	void *i = realloc(d->rejected_chars, nc * sizeof *d->rejected_chars);
	if (i)
		d->rejected_chars = i;
	void *j = NULL; /* answer keys only when asked (eng_data_load_scoring leaves them out) */
	if (answer_keys && (j = realloc(d->answer_key, nc * sizeof *d->answer_key)))
		d->answer_key = j;
	if (!a || !b || !c || !e || !f || !g || !h || !i || (answer_keys && !j))
		return eng_err_set(err, ENG_ENOMEM, "out of memory loading pairs");
	*cap = nc;
	return 0;
}

/* Image table: maps images.id -> row of the feature table, loading features on first use. */
typedef struct imgmap {
	int64_t *id; /* open addressing keys (0 = empty) */
	int32_t *row;
	size_t cap;
	float *feat; /* (rows, dim) */
	size_t rows, fcap;
	uint32_t dim;
} imgmap;

static int32_t *imgmap_slot(imgmap *m, int64_t id, int *found)
{
	size_t i = (size_t)((uint64_t)id * 0x9E3779B97F4A7C15ULL) & (m->cap - 1);
	while (m->id[i] && m->id[i] != id)
		i = (i + 1) & (m->cap - 1);
	*found = m->id[i] == id;
	m->id[i] = id;
	return &m->row[i];
}

static int imgmap_rehash(imgmap *m, eng_err *err)
{
	size_t nc = m->cap ? m->cap * 2 : 1024;
	imgmap n = *m;
	n.cap = nc;
	n.id = calloc(nc, sizeof *n.id);
	n.row = calloc(nc, sizeof *n.row);
	if (!n.id || !n.row) {
		free(n.id);
		free(n.row);
		return eng_err_set(err, ENG_ENOMEM, "out of memory (image map)");
	}
	for (size_t i = 0; i < m->cap; i++) {
		if (m->id[i]) {
			int f;
			*imgmap_slot(&n, m->id[i], &f) = m->row[i];
		}
	}
	free(m->id);
	free(m->row);
	*m = n;
	return 0;
}

/* Reads the vector of (kind, key) into out (dim floats). Returns 1 found, 0 absent, <0 error. */
static int emb_lookup(eng_ws *ws, sqlite3_stmt *st, const char *key, uint32_t dim, float *out,
                      eng_err *err)
{
	sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
	int s = sqlite3_step(st), found = 0;
	if (s == SQLITE_ROW && sqlite3_column_bytes(st, 0) == (int)(dim * sizeof(float))) {
		const uint8_t *b = sqlite3_column_blob(st, 0);
		for (uint32_t k = 0; k < dim; k++, b += 4) { /* stored little-endian */
			uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
			             (uint32_t)b[3] << 24;
			memcpy(&out[k], &u, sizeof u);
		}
		found = 1;
	} else if (s != SQLITE_ROW && s != SQLITE_DONE) {
		found = eng_ws_fail(ws, err, "read embeddings");
	}
	sqlite3_reset(st);
	return found;
}

static int set_info(eng_ws *ws, const char *kind, uint32_t *dim, char sha[65], eng_err *err)
{
	*dim = 0;
	sha[0] = '\0';
	sqlite3_stmt *st =
	    eng_ws_prepare(ws, "SELECT dim, sha256 FROM embedding_sets WHERE kind = ?1", err);
	if (!st)
		return err ? err->code : ENG_EINTERNAL;
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	int s = sqlite3_step(st), rc = 0;
	if (s == SQLITE_ROW) {
		*dim = (uint32_t)sqlite3_column_int64(st, 0);
		snprintf(sha, 65, "%s", (const char *)sqlite3_column_text(st, 1));
	} else if (s != SQLITE_DONE) {
		rc = eng_ws_fail(ws, err, "read embedding_sets");
	}
	sqlite3_finalize(st);
	return rc;
}

/* Unit-L2-normalized vector x (dim) into out; zeros stay zeros. */
static void unit(const float *x, uint32_t dim, float *out)
{
	double ss = 0;
	for (uint32_t k = 0; k < dim; k++)
		ss += (double)x[k] * x[k];
	double inv = ss > 0 ? 1.0 / sqrt(ss) : 0;
	for (uint32_t k = 0; k < dim; k++)
		out[k] = (float)(x[k] * inv);
}

/* ---- featurizing lanes ----------------------------------------------------------------------
 * The text of a batch of rows is featurized as a task of an NLANES-thread pool, batch b by lane
 * b mod NLANES (that lane's own eng_textfeat); at most NLANES batches are in the pool at once, so
 * a lane's featurizer runs one batch at a time and takes its batches in order, every row gets the
 * same features whatever the timing, and the lanes' bucket names are merged at the end in a fixed
 * order. Without threads the pool runs the same tasks inline. */
enum { LB_ROWS = 1024, LB_SLOTS = 4, NLANES = 2 };
/* page cache while the pairs are scanned (KiB): interior b-tree pages and the image rows' pages */
enum { LOAD_CACHE_KIB = 4096 };

typedef struct lbatch {
	size_t n;                /* rows */
	eng_arena text;          /* prompt, chosen, rejected of each row */
	size_t off[3 * LB_ROWS]; /* where each text starts */
	int32_t img_row[LB_ROWS];
	/* featurized: canonical rows (eng_pairset_canon_row) back to back, and the blind facts */
	uint32_t *col;
	float *val;
	size_t ent_cap;
	size_t ebeg[LB_ROWS + 1];
	uint64_t pkey[LB_ROWS], akey[LB_ROWS];
	int8_t longer[LB_ROWS], fmt[LB_ROWS];
	uint32_t cc[LB_ROWS], rc_[LB_ROWS]; /* answers' code points */
	int rc;
	eng_err err;
} lbatch;

typedef struct lanes lanes;
typedef struct lane_task {
	lanes *L;
	int lane;
	lbatch *b;
} lane_task;

struct lanes {
	lbatch *slot;              /* LB_SLOTS batches, a ring */
	eng_textfeat *tf[NLANES];  /* tf[0] borrowed (the eng_data's), the others owned */
	uint32_t text_builtin_dim; /* 0: no textfeat columns */
	int answer_keys;           /* compute each pair's eng_answer_pair_key */
	size_t filled;             /* batches read and handed to lanes_submit */
	size_t queued;             /* batches submitted to the pool (filled ones wait their turn) */
	size_t collected;          /* batches collected from the pool */
	eng_pool *pool;
	lane_task task[LB_SLOTS]; /* the task of slot k % LB_SLOTS */
};

static void featurize(lanes *L, int lane, lbatch *b)
{
	size_t nent = 0;
	b->rc = 0;
	b->ebeg[0] = 0;
	for (size_t i = 0; i < b->n; i++) {
		const char *p = b->text.p + b->off[3 * i], *ch = b->text.p + b->off[3 * i + 1],
		           *rj = b->text.p + b->off[3 * i + 2];
		uint32_t *col = NULL;
		float *val = NULL;
		size_t k = 0;
		if (L->text_builtin_dim) {
			if ((b->rc = eng_textfeat_pair_row(L->tf[lane], p, ch, rj, &col, &val, &k,
			                                   &b->err)))
				return;
			k = eng_pairset_canon_row(col, val, k);
		}
		if (nent + k > b->ent_cap) {
			size_t nc = b->ent_cap ? b->ent_cap * 2 : 1 << 16;
			while (nc < nent + k)
				nc *= 2;
			uint32_t *c2 = realloc(b->col, nc * sizeof *c2);
			if (c2)
				b->col = c2;
			float *v2 = c2 ? realloc(b->val, nc * sizeof *v2) : NULL;
			if (v2)
				b->val = v2;
			if (!c2 || !v2) {
				b->rc =
				    eng_err_set(&b->err, ENG_ENOMEM, "out of memory (features)");
				return;
			}
			b->ent_cap = nc;
		}
		if (k) {
			memcpy(b->col + nent, col, k * sizeof *col);
			memcpy(b->val + nent, val, k * sizeof *val);
		}
		nent += k;
		b->ebeg[i + 1] = nent;
		b->pkey[i] = eng_fnv1a64(p, strlen(p));
		b->akey[i] = L->answer_keys ? eng_answer_pair_key(ch, rj) : 0;
		size_t nc = eng_text_chars(ch, strlen(ch)), nr = eng_text_chars(rj, strlen(rj));
		b->cc[i] = nc > UINT32_MAX ? UINT32_MAX : (uint32_t)nc;
		b->rc_[i] = nr > UINT32_MAX ? UINT32_MAX : (uint32_t)nr;
		b->longer[i] = (int8_t)sgn((long long)nc, (long long)nr);
		b->fmt[i] = (int8_t)sgn(eng_format_markers(ch), eng_format_markers(rj));
	}
}

/* The task of one batch: featurizes it with its lane's featurizer. */
static int lane_main(void *arg)
{
	lane_task *t = arg;
	featurize(t->L, t->lane, t->b);
	return t->b->rc;
}

/* Runs what is still in the pool and stops its threads. */
static void lanes_stop(lanes *L)
{
	eng_pool_free(L->pool);
	L->pool = NULL;
}

/* Allocates the batches and the pool (no threads: the lanes run inline). 0 or -1. */
static int lanes_start(lanes *L)
{
	if (!(L->slot = calloc(LB_SLOTS, sizeof *L->slot)) || !(L->pool = eng_pool_new(NLANES)))
		return -1;
	return 0;
}

/* Submits the filled batches whose turn it is. Determinism: the task of batch k writes only
 * batch k and uses only tf[k % NLANES]; at most NLANES consecutive batches are in the pool, so no
 * two tasks share a featurizer and each featurizer gets its batches in batch order; the caller
 * takes the batches back in order (lanes_wait). 0, or ENG_ENOMEM when the pool cannot queue. */
static int lanes_queue(lanes *L)
{
	while (L->queued < L->filled && L->queued - L->collected < NLANES) {
		size_t k = L->queued;
		lane_task *t = &L->task[k % LB_SLOTS];
		*t = (lane_task){L, (int)(k % NLANES), &L->slot[k % LB_SLOTS]};
		if (eng_pool_submit(L->pool, lane_main, t))
			return ENG_ENOMEM;
		L->queued++;
	}
	return 0;
}

/* Hands batch k (filled) to its lane. 0 or ENG_ENOMEM. */
static int lanes_submit(lanes *L, size_t k)
{
	assert(k == L->filled);
	L->filled = k + 1;
	return lanes_queue(L);
}

/* Waits for the oldest batch not yet taken back (b) to be featurized (its outcome in b->rc) and
 * queues the next one. 0 or ENG_ENOMEM. */
static int lanes_wait(lanes *L, lbatch *b)
{
	assert(b == &L->slot[L->collected % LB_SLOTS] && L->collected < L->queued);
	eng_pool_collect(L->pool);
	L->collected++;
	return lanes_queue(L);
}

static void lanes_free(lanes *L)
{
	lanes_stop(L);
	for (size_t i = 0; L->slot && i < LB_SLOTS; i++) {
		eng_arena_free(&L->slot[i].text);
		free(L->slot[i].col);
		free(L->slot[i].val);
	}
	free(L->slot);
	for (int i = 1; i < NLANES; i++)
		eng_textfeat_free(L->tf[i]);
	memset(L, 0, sizeof *L);
}

int eng_data_load(eng_ws *ws, const int64_t *ids, size_t nds, const eng_textfeat_opts *tfo,
                  eng_features features, const eng_progress *prog, eng_data *d, eng_err *err)
{
	return eng_data_load_range(ws, ids, nds, tfo, features, INT64_MIN, INT64_MAX, prog, d, err);
}

/* What eng_data_load_range holds while it loads: the statements, the image table, the lanes and
 * the scratch of the row being assembled. */
typedef struct loader {
	eng_ws *ws;
	eng_data *d;
	eng_err *err;
	const int64_t *ids;
	size_t nds;
	int64_t lo, hi;
	imgmap im;
	lanes L;
	sqlite3_stmt *sp, *sn, *sei, *set;
	size_t cap, total, rcap;
	uint8_t *img_lacks;       /* (fcap) image row has no embedding */
	float *ebuf;              /* (2 * text_emb_dim + img_emb_dim) scratch */
	float *ec, *er, *uc, *ur; /* in ebuf: the answers' text vectors, as read and unit length */
	uint32_t *rcol;           /* assembled row */
	float *rval;
	uint64_t expect; /* pairs of the datasets (progress) */
	size_t k, read;  /* reading: the current dataset, rows read */
	int bound;       /* sp is bound to dataset k */
} loader;

static int load_oom(loader *ld)
{
	return eng_err_set(ld->err, ENG_ENOMEM, "out of memory loading pairs");
}

/* The feature mode: which of the built-in features and the workspace's embeddings make the
 * columns; sets d's dimensions and makes its text featurizer. */
static int choose_features(loader *ld, eng_features features, const eng_textfeat_opts *tfo)
{
	eng_data *d = ld->d;
	eng_err *err = ld->err;
	uint32_t edim_img, edim_text;
	int rc = set_info(ld->ws, "image", &edim_img, d->img_emb_sha, err);
	if (!rc)
		rc = set_info(ld->ws, "text", &edim_text, d->text_emb_sha, err);
	if (rc)
		return rc;
	if (features == ENG_FEATURES_AUTO && !edim_img && !edim_text)
		features = ENG_FEATURES_BUILTIN;
	if (features != ENG_FEATURES_BUILTIN && !edim_img && !edim_text)
		return eng_err_set(err, ENG_EINPUT,
		                   "--features %s: the workspace has no embeddings; load them with "
		                   "`mmaudit embed` or use --features builtin",
		                   eng_features_name(features));
	d->features = features;
	int use = features != ENG_FEATURES_BUILTIN, only = features == ENG_FEATURES_EMBEDDINGS;
	d->img_emb_dim = use ? edim_img : 0;
	/* auto: image vectors replace the pixel statistics, text vectors join the word features */
	int img_only = (only || features == ENG_FEATURES_AUTO) && edim_img;
	d->img_builtin_dim = img_only ? 0 : (uint32_t)eng_imgfeat_dim();
	d->text_emb_dim = use ? edim_text : 0;
	if (!d->img_emb_dim)
		d->img_emb_sha[0] = '\0';
	if (!d->text_emb_dim)
		d->text_emb_sha[0] = '\0';
	ld->im.dim = d->img_builtin_dim + d->img_emb_dim;
	if ((rc = eng_textfeat_new(tfo, &d->tf, err)))
		return rc;
	d->text_builtin_dim = only && edim_text ? 0 : eng_textfeat_dim(d->tf);
	if ((uint64_t)d->text_builtin_dim + d->text_emb_dim > UINT32_MAX / 2)
		return eng_err_set(err, ENG_EINPUT, "too many text columns");
	return 0;
}

/* The pairset, the per-dataset arrays, the image table and the embedding scratch. */
static int alloc_tables(loader *ld)
{
	eng_data *d = ld->d;
	int rc =
	    eng_pairset_init(&d->ps, d->text_builtin_dim + d->text_emb_dim, ld->im.dim, ld->err);
	if (rc)
		return rc;
	d->ps.dense_dim = d->text_emb_dim;
	ld->ebuf = malloc(((size_t)2 * d->text_emb_dim + d->img_emb_dim + 1) * sizeof(float) * 2);
	size_t nds = ld->nds;
	d->nds = nds;
	d->ds_id = calloc(nds ? nds : 1, sizeof *d->ds_id);
	d->ds_name = calloc(nds ? nds : 1, sizeof *d->ds_name);
	d->ds_begin = calloc(nds + 1, sizeof *d->ds_begin);
	if (!ld->ebuf || !d->ds_id || !d->ds_name || !d->ds_begin ||
	    imgmap_rehash(&ld->im, ld->err))
		return eng_err_set(ld->err, ENG_ENOMEM, "out of memory");
	float *ei;
	ld->ec = ld->ebuf;
	ld->er = ld->ec + d->text_emb_dim;
	ei = ld->er + d->text_emb_dim;
	ld->uc = ei + d->img_emb_dim + 1;
	ld->ur = ld->uc + d->text_emb_dim;
	return 0;
}

/* The statements that stream the datasets' pairs (and their embeddings), and the pair count. */
static int prepare_reads(loader *ld)
{
	eng_ws *ws = ld->ws;
	eng_err *err = ld->err;
	eng_data *d = ld->d;
	ld->sn = eng_ws_prepare(
	    ws,
	    "SELECT name, (SELECT count(*) FROM pairs WHERE dataset_id = ?1) FROM datasets "
	    "WHERE id = ?1",
	    err);
	ld->sp = eng_ws_prepare(
	    ws,
	    "SELECT p.id, p.prompt, p.chosen, p.rejected, p.image_id, i.sha256, i.feat, "
	    "i.feat_dim, i.feat_version FROM pairs p LEFT JOIN images i ON i.id = p.image_id "
	    "WHERE p.dataset_id = ?1 AND p.id >= ?2 AND p.id < ?3 ORDER BY p.id",
	    err);
	if (d->img_emb_dim)
		ld->sei = eng_ws_prepare(
		    ws, "SELECT vec FROM embeddings WHERE kind = 'image' AND key = ?1", err);
	if (d->text_emb_dim)
		ld->set = eng_ws_prepare(
		    ws, "SELECT vec FROM embeddings WHERE kind = 'text' AND key = ?1", err);
	if (!ld->sn || !ld->sp || (d->img_emb_dim && !ld->sei) || (d->text_emb_dim && !ld->set))
		return err ? err->code : ENG_EINTERNAL;
	sqlite3_stmt *sn = ld->sn;
	for (size_t k = 0; k < ld->nds; k++) {
		sqlite3_bind_int64(sn, 1, ld->ids[k]);
		if (sqlite3_step(sn) != SQLITE_ROW)
			return eng_err_set(err, ENG_EINPUT, "dataset id %lld not found",
			                   (long long)ld->ids[k]);
		ld->expect += (uint64_t)sqlite3_column_int64(sn, 1);
		sqlite3_reset(sn);
	}
	return 0;
}

/* The image cache: the feature-table row of the current pair's image (sp's columns 4 to 8),
 * loading its features and embedding on first use; -1 when its features are missing. */
static int image_row(loader *ld, int32_t *img_row, uint64_t *ikey)
{
	eng_data *d = ld->d;
	imgmap *im = &ld->im;
	sqlite3_stmt *sp = ld->sp;
	int rc;
	int64_t iid = sqlite3_column_int64(sp, 4);
	const char *sha = (const char *)sqlite3_column_text(sp, 5);
	*ikey = hex_key(sha);
	if (2 * (im->rows + 1) > im->cap && (rc = imgmap_rehash(im, ld->err)))
		return rc;
	int found;
	int32_t *slot = imgmap_slot(im, iid, &found);
	if (!found) {
		*slot = -1;
		const void *blob = sqlite3_column_blob(sp, 6);
		int bytes = sqlite3_column_bytes(sp, 6);
		uint32_t bd = d->img_builtin_dim;
		int have_builtin = blob && sqlite3_column_int(sp, 7) == (int)bd &&
		                   sqlite3_column_int(sp, 8) == ENG_IMGFEAT_VERSION &&
		                   bytes == (int)(bd * sizeof(float));
		if (have_builtin || bd == 0) {
			if (im->rows == im->fcap) {
				size_t nc = im->fcap ? im->fcap * 2 : 256;
				float *nf = realloc(im->feat, nc * im->dim * sizeof(float));
				uint8_t *nl = realloc(ld->img_lacks, nc);
				if (nf)
					im->feat = nf;
				if (nl)
					ld->img_lacks = nl;
				if (!nf || !nl)
					return load_oom(ld);
				im->fcap = nc;
			}
			float *row = im->feat + im->rows * im->dim;
			if (bd)
				memcpy(row, blob, (size_t)bytes);
			ld->img_lacks[im->rows] = 0;
			if (d->img_emb_dim) {
				int f = emb_lookup(ld->ws, ld->sei, sha, d->img_emb_dim, row + bd,
				                   ld->err);
				if (f < 0)
					return f;
				ld->img_lacks[im->rows] = !f;
				d->n_img_emb_missing += !f;
			}
			*slot = (int32_t)im->rows++;
		} else {
			d->n_missing_feat++;
		}
	}
	*img_row = *slot;
	return 0;
}

/* SQL streaming: reads the next rows (at most LB_ROWS; the datasets one after another) into
 * batch bt for the lanes, and their ids and image keys into d. bt->n 0: no rows left. */
static int read_rows(loader *ld, lbatch *bt)
{
	eng_data *d = ld->d;
	eng_err *err = ld->err;
	sqlite3_stmt *sn = ld->sn, *sp = ld->sp;
	int rc;
	bt->n = 0;
	bt->text.len = 0;
	while (bt->n < LB_ROWS && ld->k < ld->nds) {
		size_t k = ld->k;
		if (!ld->bound) {
			d->ds_id[k] = ld->ids[k];
			d->ds_begin[k] = ld->read;
			sqlite3_bind_int64(sn, 1, ld->ids[k]);
			if (sqlite3_step(sn) != SQLITE_ROW)
				return eng_ws_fail(ld->ws, err, "read dataset");
			d->ds_name[k] = strdup((const char *)sqlite3_column_text(sn, 0));
			sqlite3_reset(sn);
			if (!d->ds_name[k])
				return load_oom(ld);
			sqlite3_bind_int64(sp, 1, ld->ids[k]);
			sqlite3_bind_int64(sp, 2, ld->lo);
			sqlite3_bind_int64(sp, 3, ld->hi);
			ld->bound = 1;
		}
		int st = sqlite3_step(sp);
		if (st == SQLITE_DONE) {
			sqlite3_reset(sp);
			ld->bound = 0;
			ld->k++;
			continue;
		}
		if (st != SQLITE_ROW)
			return eng_ws_fail(ld->ws, err, "read pairs");
		if ((rc = grow(d, ld->read + 1, &ld->cap, ld->L.answer_keys, err)))
			return rc;
		size_t i = bt->n;
		for (int f = 0; f < 3; f++) {
			const char *t = (const char *)sqlite3_column_text(sp, 1 + f);
			if (eng_arena_put(&bt->text, t, &bt->off[3 * i + (size_t)f]))
				return load_oom(ld);
		}
		int32_t img_row = -1;
		uint64_t ikey = 0;
		if (sqlite3_column_type(sp, 4) != SQLITE_NULL &&
		    (rc = image_row(ld, &img_row, &ikey)))
			return rc;
		bt->img_row[i] = img_row;
		d->pair_id[ld->read] = sqlite3_column_int64(sp, 0);
		d->img_key[ld->read] = img_row >= 0 ? ikey : 0;
		bt->n++;
		ld->read++;
	}
	return 0;
}

/* Embeddings: row i of bt (nent entries at *col, *val) with the difference of its answers' unit
 * text vectors appended as dense columns; *col, *val then point at the assembled row. A pair
 * whose answers lack a vector keeps its row as is and is counted. */
static int add_text_embedding(loader *ld, const lbatch *bt, size_t i, const uint32_t **col,
                              const float **val, size_t *nentp)
{
	eng_data *d = ld->d;
	size_t nent = *nentp;
	size_t need = nent + d->text_emb_dim;
	if (need > ld->rcap) {
		uint32_t *nc = realloc(ld->rcol, need * sizeof *nc);
		float *nv = nc ? realloc(ld->rval, need * sizeof *nv) : NULL;
		if (nc)
			ld->rcol = nc;
		if (nv)
			ld->rval = nv;
		if (!nc || !nv)
			return load_oom(ld);
		ld->rcap = need;
	}
	uint32_t *rcol = ld->rcol;
	float *rval = ld->rval;
	if (nent) {
		memcpy(rcol, *col, nent * sizeof **col);
		memcpy(rval, *val, nent * sizeof **val);
	}
	char kc[65], kr[65];
	eng_emb_text_key(bt->text.p + bt->off[3 * i + 1], kc);
	eng_emb_text_key(bt->text.p + bt->off[3 * i + 2], kr);
	int fc = emb_lookup(ld->ws, ld->set, kc, d->text_emb_dim, ld->ec, ld->err);
	int fr = fc < 0 ? 0 : emb_lookup(ld->ws, ld->set, kr, d->text_emb_dim, ld->er, ld->err);
	if (fc < 0 || fr < 0)
		return fc < 0 ? fc : fr;
	if (fc && fr) {
		unit(ld->ec, d->text_emb_dim, ld->uc);
		unit(ld->er, d->text_emb_dim, ld->ur);
		for (uint32_t q = 0; q < d->text_emb_dim; q++) {
			rcol[nent] = d->text_builtin_dim + q;
			rval[nent++] = ld->uc[q] - ld->ur[q];
		}
	} else if (!d->n_text_emb_missing++) {
		d->first_text_emb_missing = d->pair_id[ld->total];
	}
	*col = rcol;
	*val = rval;
	*nentp = nent;
	return 0;
}

/* Appends the rows of the featurized batch bt to the pairset and their blind-baseline facts to d,
 * in order. */
static int append_rows(loader *ld, const lbatch *bt)
{
	eng_data *d = ld->d;
	int rc;
	for (size_t i = 0; i < bt->n; i++, ld->total++) {
		size_t total = ld->total;
		const uint32_t *col = bt->col + bt->ebeg[i];
		const float *val = bt->val + bt->ebeg[i];
		size_t nent = bt->ebeg[i + 1] - bt->ebeg[i];
		if (d->text_emb_dim && (rc = add_text_embedding(ld, bt, i, &col, &val, &nent)))
			return rc;
		if ((rc = eng_pairset_add_row(&d->ps, col, val, nent, bt->img_row[i], ld->err)))
			return rc;
		d->prompt_key[total] = bt->pkey[i];
		if (d->answer_key)
			d->answer_key[total] = bt->akey[i];
		d->group[total] = bt->img_row[i] >= 0 ? d->img_key[total] : bt->pkey[i];
		d->longer[total] = bt->longer[i];
		d->chosen_chars[total] = bt->cc[i];
		d->rejected_chars[total] = bt->rc_[i];
		d->formatted[total] = bt->fmt[i];
	}
	return 0;
}

/* Imputation: images without a vector get the mean vector of those with one. */
static int impute_image_embeddings(loader *ld)
{
	eng_data *d = ld->d;
	imgmap *im = &ld->im;
	uint32_t bd = d->img_builtin_dim, E = d->img_emb_dim;
	double *mean = calloc(E, sizeof *mean);
	size_t have = 0;
	if (!mean)
		return eng_err_set(ld->err, ENG_ENOMEM, "out of memory");
	for (size_t r = 0; r < im->rows; r++) {
		if (ld->img_lacks[r])
			continue;
		have++;
		for (uint32_t q = 0; q < E; q++)
			mean[q] += im->feat[r * im->dim + bd + q];
	}
	for (size_t r = 0; r < im->rows; r++)
		if (ld->img_lacks[r])
			for (uint32_t q = 0; q < E; q++)
				im->feat[r * im->dim + bd + q] =
				    have ? (float)(mean[q] / (double)have) : 0.0f;
	free(mean);
	return 0;
}

static void loader_free(loader *ld)
{
	lanes_free(&ld->L);
	free(ld->im.id);
	free(ld->im.row);
	free(ld->im.feat);
	free(ld->img_lacks);
	free(ld->ebuf);
	free(ld->rcol);
	free(ld->rval);
	sqlite3_finalize(ld->sp);
	sqlite3_finalize(ld->sn);
	sqlite3_finalize(ld->sei);
	sqlite3_finalize(ld->set);
}

/* What load_range computes besides the rows: the provisional bucket names (eng_data_load_unvoted
 * leaves them out) and each pair's answer key (eng_data_load_scoring). */
enum { LOAD_VOTES = 1, LOAD_ANSWER_KEYS = 2 };

/* eng_data_load_range with the LOAD_* parts in what (dataload.h). */
static int load_range(eng_ws *ws, const int64_t *ids, size_t nds, const eng_textfeat_opts *tfo,
                      eng_features features, int64_t lo, int64_t hi, unsigned what,
                      const eng_progress *prog, eng_data *d, eng_err *err)
{
	const int votes = !!(what & LOAD_VOTES);
	memset(d, 0, sizeof *d);
	eng_textfeat_opts defaults;
	if (!tfo) {
		eng_textfeat_opts_default(&defaults);
		tfo = &defaults;
	}
	loader ld = {.ws = ws, .d = d, .err = err, .ids = ids, .nds = nds, .lo = lo, .hi = hi};
	ld.L.answer_keys = !!(what & LOAD_ANSWER_KEYS);
	int rc, cache_kib = 0;
	/* the scan reads each page about once: a small page cache while it runs, and the pages it
	 * held are freed for the training that follows (the usual limit is restored at the end) */
	if ((rc = eng_ws_cache_kib(ws, LOAD_CACHE_KIB, &cache_kib, err)))
		return rc;
	if ((rc = choose_features(&ld, features, tfo)) || (rc = alloc_tables(&ld)) ||
	    (rc = prepare_reads(&ld)))
		goto fail;
	/* Rows are read here in batches; the two lanes featurize them (lane = batch number mod 2,
	 * each with its own featurizer and in batch order, so the outcome does not depend on
	 * timing); rows are appended to the pairset in order as their batch comes back. */
	lanes *L = &ld.L;
	if (d->text_builtin_dim && (rc = eng_textfeat_new(tfo, &L->tf[1], err)))
		goto fail;
	L->tf[0] = d->tf;
	for (int i = 0; i < NLANES; i++)
		if (L->tf[i])
			eng_textfeat_set_votes(L->tf[i], votes);
	L->text_builtin_dim = d->text_builtin_dim;
	if (lanes_start(L)) {
		rc = load_oom(&ld);
		goto fail;
	}
	size_t filled = 0, appended = 0;
	int reading = 1;
	while (reading || appended < filled) {
		if (reading && filled - appended < LB_SLOTS) {
			lbatch *bt = &L->slot[filled % LB_SLOTS];
			if ((rc = read_rows(&ld, bt)))
				goto fail;
			if (bt->n == 0) {
				reading = 0;
				continue;
			}
			if (lanes_submit(L, filled++)) {
				rc = load_oom(&ld);
				goto fail;
			}
			continue;
		}
		/* append the oldest batch once featurized */
		lbatch *bt = &L->slot[appended % LB_SLOTS];
		if (lanes_wait(L, bt)) {
			rc = load_oom(&ld);
			goto fail;
		}
		if (bt->rc) {
			rc = bt->rc;
			if (err)
				*err = bt->err;
			goto fail;
		}
		if ((rc = append_rows(&ld, bt)))
			goto fail;
		appended++;
		eng_progress_tick(prog, "load", ld.total, ld.expect);
	}
	lanes_stop(L);
	if (L->tf[1] && votes)
		eng_textfeat_merge_names(d->tf, L->tf[1]);
	d->ds_begin[nds] = ld.total;
	eng_progress_tick(prog, "load", ld.total, ld.expect);
	if (d->img_emb_dim && d->n_img_emb_missing && (rc = impute_image_embeddings(&ld)))
		goto fail;
	if ((rc = eng_pairset_set_images(&d->ps, ld.im.feat, ld.im.rows, err)))
		goto fail;
	rc = 0;
	goto out;
fail:
	lanes_free(&ld.L);
	eng_data_free(d);
out:
	loader_free(&ld);
	if (cache_kib > 0 && cache_kib != LOAD_CACHE_KIB) {
		eng_err e2;
		int rc2 = eng_ws_cache_kib(ws, cache_kib, NULL, rc ? &e2 : err);
		if (!rc && rc2) {
			eng_data_free(d);
			rc = rc2;
		}
	}
	return rc;
}

int eng_data_load_range(eng_ws *ws, const int64_t *ids, size_t nds, const eng_textfeat_opts *tfo,
                        eng_features features, int64_t lo, int64_t hi, const eng_progress *prog,
                        eng_data *d, eng_err *err)
{
	return load_range(ws, ids, nds, tfo, features, lo, hi, LOAD_VOTES | LOAD_ANSWER_KEYS, prog,
	                  d, err);
}

int eng_data_load_unvoted(eng_ws *ws, const int64_t *ids, size_t nds, const eng_textfeat_opts *tfo,
                          eng_features features, const eng_progress *prog, eng_data *d,
                          eng_err *err)
{
	return load_range(ws, ids, nds, tfo, features, INT64_MIN, INT64_MAX, LOAD_ANSWER_KEYS, prog,
	                  d, err);
}

int eng_data_load_scoring(eng_ws *ws, const int64_t *ids, size_t nds, const eng_textfeat_opts *tfo,
                          eng_features features, const eng_progress *prog, eng_data *d,
                          eng_err *err)
{
	return load_range(ws, ids, nds, tfo, features, INT64_MIN, INT64_MAX, 0, prog, d, err);
}
