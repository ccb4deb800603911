/* dataload.c - workspace pairs -> one eng_pairset + per-row split keys and blind-baseline facts. */
#include "engine/dataload.h"

#include <stdlib.h>
#include <string.h>

#include "engine/imgfeat.h"

uint64_t eng_hash64(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

size_t eng_utf8_chars(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

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

static int sgn(long long a, long long b) { return a > b ? 1 : a < b ? -1 : 0; }

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
	free(d->pair_id);
	free(d->group);
	free(d->img_key);
	free(d->prompt_key);
	free(d->longer);
	free(d->formatted);
	memset(d, 0, sizeof *d);
}

static int grow(eng_data *d, size_t need, size_t *cap, eng_err *err)
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
	if (!a || !b || !c || !e || !f || !g)
		return eng_err_set(err, ENG_ENOMEM, "out of memory loading pairs");
	*cap = nc;
	return 0;
}

/* Image table: maps images.id -> row of the feature table, loading features on first use. */
typedef struct imgmap {
	int64_t *id;   /* open addressing keys (0 = empty) */
	int32_t *row;
	size_t cap;
	float *feat;   /* (rows, dim) */
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

int eng_data_load(eng_ws *ws, const int64_t *ids, size_t nds, const eng_textfeat_opts *tfo,
		  const eng_progress *prog, eng_data *d, eng_err *err)
{
	memset(d, 0, sizeof *d);
	eng_textfeat_opts defaults;
	if (!tfo) {
		eng_textfeat_opts_default(&defaults);
		tfo = &defaults;
	}
	imgmap im = {0};
	im.dim = (uint32_t)eng_imgfeat_dim();
	sqlite3_stmt *sp = NULL, *sn = NULL;
	size_t cap = 0, total = 0;
	int rc = eng_textfeat_new(tfo, &d->tf, err);
	if (rc)
		goto fail;
	if ((rc = eng_pairset_init(&d->ps, eng_textfeat_dim(d->tf), im.dim, err)))
		goto fail;
	d->nds = nds;
	d->ds_id = calloc(nds ? nds : 1, sizeof *d->ds_id);
	d->ds_name = calloc(nds ? nds : 1, sizeof *d->ds_name);
	d->ds_begin = calloc(nds + 1, sizeof *d->ds_begin);
	if (!d->ds_id || !d->ds_name || !d->ds_begin || imgmap_rehash(&im, err)) {
		rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
		goto fail;
	}
	sn = eng_ws_prepare(ws,
			    "SELECT name, (SELECT count(*) FROM pairs WHERE dataset_id = ?1) FROM datasets "
			    "WHERE id = ?1",
			    err);
	sp = eng_ws_prepare(ws,
			    "SELECT p.id, p.prompt, p.chosen, p.rejected, p.image_id, i.sha256, i.feat, "
			    "i.feat_dim, i.feat_version FROM pairs p LEFT JOIN images i ON i.id = p.image_id "
			    "WHERE p.dataset_id = ?1 ORDER BY p.id",
			    err);
	if (!sn || !sp) {
		rc = err ? err->code : ENG_EINTERNAL;
		goto fail;
	}
	uint64_t expect = 0;
	for (size_t k = 0; k < nds; k++) {
		sqlite3_bind_int64(sn, 1, ids[k]);
		if (sqlite3_step(sn) != SQLITE_ROW) {
			rc = eng_err_set(err, ENG_EINPUT, "dataset id %lld not found", (long long)ids[k]);
			goto fail;
		}
		expect += (uint64_t)sqlite3_column_int64(sn, 1);
		sqlite3_reset(sn);
	}
	for (size_t k = 0; k < nds; k++) {
		d->ds_id[k] = ids[k];
		d->ds_begin[k] = total;
		sqlite3_bind_int64(sn, 1, ids[k]);
		if (sqlite3_step(sn) != SQLITE_ROW) {
			rc = eng_ws_fail(ws, err, "read dataset");
			goto fail;
		}
		d->ds_name[k] = strdup((const char *)sqlite3_column_text(sn, 0));
		sqlite3_reset(sn);
		if (!d->ds_name[k]) {
			rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
			goto fail;
		}
		sqlite3_bind_int64(sp, 1, ids[k]);
		int s;
		while ((s = sqlite3_step(sp)) == SQLITE_ROW) {
			if ((rc = grow(d, total + 1, &cap, err)))
				goto fail;
			const char *prompt = (const char *)sqlite3_column_text(sp, 1);
			const char *ch = (const char *)sqlite3_column_text(sp, 2);
			const char *rj = (const char *)sqlite3_column_text(sp, 3);
			int32_t img_row = -1;
			uint64_t ikey = 0;
			if (sqlite3_column_type(sp, 4) != SQLITE_NULL) {
				int64_t iid = sqlite3_column_int64(sp, 4);
				ikey = hex_key((const char *)sqlite3_column_text(sp, 5));
				if (2 * (im.rows + 1) > im.cap && (rc = imgmap_rehash(&im, err)))
					goto fail;
				int found;
				int32_t *slot = imgmap_slot(&im, iid, &found);
				if (!found) {
					*slot = -1;
					const void *blob = sqlite3_column_blob(sp, 6);
					int bytes = sqlite3_column_bytes(sp, 6);
					if (blob && sqlite3_column_int(sp, 7) == (int)im.dim &&
					    sqlite3_column_int(sp, 8) == ENG_IMGFEAT_VERSION &&
					    bytes == (int)(im.dim * sizeof(float))) {
						if (im.rows == im.fcap) {
							size_t nc = im.fcap ? im.fcap * 2 : 256;
							float *nf = realloc(im.feat, nc * im.dim * sizeof(float));
							if (!nf) {
								rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
								goto fail;
							}
							im.feat = nf;
							im.fcap = nc;
						}
						memcpy(im.feat + im.rows * im.dim, blob, (size_t)bytes);
						*slot = (int32_t)im.rows++;
					} else {
						d->n_missing_feat++;
					}
				}
				img_row = *slot;
			}
			if ((rc = eng_textfeat_add_pair(d->tf, &d->ps, prompt, ch, rj, img_row, err)))
				goto fail;
			d->pair_id[total] = sqlite3_column_int64(sp, 0);
			d->prompt_key[total] = eng_hash64(prompt, strlen(prompt));
			d->img_key[total] = img_row >= 0 ? ikey : 0;
			d->group[total] = img_row >= 0 ? ikey : d->prompt_key[total];
			d->longer[total] = (int8_t)sgn((long long)eng_utf8_chars(ch), (long long)eng_utf8_chars(rj));
			d->formatted[total] = (int8_t)sgn(eng_format_markers(ch), eng_format_markers(rj));
			total++;
			if ((total & 4095) == 0)
				eng_progress_tick(prog, "load", total, expect);
		}
		if (s != SQLITE_DONE) {
			rc = eng_ws_fail(ws, err, "read pairs");
			goto fail;
		}
		sqlite3_reset(sp);
	}
	d->ds_begin[nds] = total;
	eng_progress_tick(prog, "load", total, expect);
	if ((rc = eng_pairset_set_images(&d->ps, im.feat, im.rows, err)))
		goto fail;
	rc = 0;
	goto out;
fail:
	eng_data_free(d);
out:
	free(im.id);
	free(im.row);
	free(im.feat);
	sqlite3_finalize(sp);
	sqlite3_finalize(sn);
	return rc;
}
