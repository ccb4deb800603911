/* dataload.c - workspace pairs -> one eng_pairset + per-row split keys and blind-baseline facts. */
#include "engine/dataload.h"
#include "engine/textfeat_internal.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/imgfeat.h"

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

static int sgn(long long a, long long b)
{
	return a > b ? 1 : a < b ? -1 : 0;
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

json_t *eng_data_features_json(const eng_data *d)
{
	return json_pack("{s:s, s:i, s:i, s:i, s:i, s:s?, s:s?, s:I, s:I}", "mode",
	                 eng_features_name(d->features), "image_builtin_dim",
	                 (int)d->img_builtin_dim, "text_builtin_dim", (int)d->text_builtin_dim,
	                 "image_embedding_dim", (int)d->img_emb_dim, "text_embedding_dim",
	                 (int)d->text_emb_dim, "image_embeddings_sha256",
	                 d->img_emb_sha[0] ? d->img_emb_sha : NULL, "text_embeddings_sha256",
	                 d->text_emb_sha[0] ? d->text_emb_sha : NULL, "images_without_embedding",
	                 (json_int_t)d->n_img_emb_missing, "pairs_without_text_embedding",
	                 (json_int_t)d->n_text_emb_missing);
}

const char *eng_data_column_name(const eng_data *d, uint32_t c, char *buf, size_t cap)
{
	if (c >= d->text_builtin_dim && c - d->text_builtin_dim < d->text_emb_dim) {
		snprintf(buf, cap, "text-embedding[%u]", (unsigned)(c - d->text_builtin_dim));
		return buf;
	}
	return eng_textfeat_name(d->tf, c, buf, cap);
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

int eng_data_load(eng_ws *ws, const int64_t *ids, size_t nds, const eng_textfeat_opts *tfo,
                  eng_features features, const eng_progress *prog, eng_data *d, eng_err *err)
{
	memset(d, 0, sizeof *d);
	eng_textfeat_opts defaults;
	if (!tfo) {
		eng_textfeat_opts_default(&defaults);
		tfo = &defaults;
	}
	imgmap im = {0};
	sqlite3_stmt *sp = NULL, *sn = NULL, *sei = NULL, *set = NULL;
	size_t cap = 0, total = 0, rcap = 0;
	uint8_t *img_lacks = NULL; /* (fcap) image row has no embedding */
	float *ebuf = NULL;        /* (2 * text_emb_dim + img_emb_dim) scratch */
	uint32_t *rcol = NULL;     /* assembled row */
	float *rval = NULL;
	uint32_t edim_img, edim_text;
	int rc = set_info(ws, "image", &edim_img, d->img_emb_sha, err);
	if (!rc)
		rc = set_info(ws, "text", &edim_text, d->text_emb_sha, err);
	if (rc)
		goto fail;
	if (features == ENG_FEATURES_AUTO && !edim_img && !edim_text)
		features = ENG_FEATURES_BUILTIN;
	if (features != ENG_FEATURES_BUILTIN && !edim_img && !edim_text) {
		rc = eng_err_set(err, ENG_EINPUT,
		                 "--features %s: the workspace has no embeddings; load them with "
		                 "`mmaudit embed` or use --features builtin",
		                 eng_features_name(features));
		goto fail;
	}
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
	im.dim = d->img_builtin_dim + d->img_emb_dim;
	if ((rc = eng_textfeat_new(tfo, &d->tf, err)))
		goto fail;
	d->text_builtin_dim = only && edim_text ? 0 : eng_textfeat_dim(d->tf);
	if ((uint64_t)d->text_builtin_dim + d->text_emb_dim > UINT32_MAX / 2) {
		rc = eng_err_set(err, ENG_EINPUT, "too many text columns");
		goto fail;
	}
	if ((rc = eng_pairset_init(&d->ps, d->text_builtin_dim + d->text_emb_dim, im.dim, err)))
		goto fail;
	d->ps.dense_dim = d->text_emb_dim;
	ebuf = malloc(((size_t)2 * d->text_emb_dim + d->img_emb_dim + 1) * sizeof(float) * 2);
	d->nds = nds;
	d->ds_id = calloc(nds ? nds : 1, sizeof *d->ds_id);
	d->ds_name = calloc(nds ? nds : 1, sizeof *d->ds_name);
	d->ds_begin = calloc(nds + 1, sizeof *d->ds_begin);
	if (!ebuf || !d->ds_id || !d->ds_name || !d->ds_begin || imgmap_rehash(&im, err)) {
		rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
		goto fail;
	}
	float *ec = ebuf, *er = ec + d->text_emb_dim, *ei = er + d->text_emb_dim;
	float *uc = ei + d->img_emb_dim + 1, *ur = uc + d->text_emb_dim;
	sn = eng_ws_prepare(
	    ws,
	    "SELECT name, (SELECT count(*) FROM pairs WHERE dataset_id = ?1) FROM datasets "
	    "WHERE id = ?1",
	    err);
	sp = eng_ws_prepare(
	    ws,
	    "SELECT p.id, p.prompt, p.chosen, p.rejected, p.image_id, i.sha256, i.feat, "
	    "i.feat_dim, i.feat_version FROM pairs p LEFT JOIN images i ON i.id = p.image_id "
	    "WHERE p.dataset_id = ?1 ORDER BY p.id",
	    err);
	if (d->img_emb_dim)
		sei = eng_ws_prepare(
		    ws, "SELECT vec FROM embeddings WHERE kind = 'image' AND key = ?1", err);
	if (d->text_emb_dim)
		set = eng_ws_prepare(
		    ws, "SELECT vec FROM embeddings WHERE kind = 'text' AND key = ?1", err);
	if (!sn || !sp || (d->img_emb_dim && !sei) || (d->text_emb_dim && !set)) {
		rc = err ? err->code : ENG_EINTERNAL;
		goto fail;
	}
	uint64_t expect = 0;
	for (size_t k = 0; k < nds; k++) {
		sqlite3_bind_int64(sn, 1, ids[k]);
		if (sqlite3_step(sn) != SQLITE_ROW) {
			rc = eng_err_set(err, ENG_EINPUT, "dataset id %lld not found",
			                 (long long)ids[k]);
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
				const char *sha = (const char *)sqlite3_column_text(sp, 5);
				ikey = hex_key(sha);
				if (2 * (im.rows + 1) > im.cap && (rc = imgmap_rehash(&im, err)))
					goto fail;
				int found;
				int32_t *slot = imgmap_slot(&im, iid, &found);
				if (!found) {
					*slot = -1;
					const void *blob = sqlite3_column_blob(sp, 6);
					int bytes = sqlite3_column_bytes(sp, 6);
					uint32_t bd = d->img_builtin_dim;
					int have_builtin =
					    blob && sqlite3_column_int(sp, 7) == (int)bd &&
					    sqlite3_column_int(sp, 8) == ENG_IMGFEAT_VERSION &&
					    bytes == (int)(bd * sizeof(float));
					if (have_builtin || bd == 0) {
						if (im.rows == im.fcap) {
							size_t nc = im.fcap ? im.fcap * 2 : 256;
							float *nf = realloc(
							    im.feat, nc * im.dim * sizeof(float));
							uint8_t *nl = realloc(img_lacks, nc);
							if (nf)
								im.feat = nf;
							if (nl)
								img_lacks = nl;
							if (!nf || !nl) {
								rc = eng_err_set(err, ENG_ENOMEM,
								                 "out of memory");
								goto fail;
							}
							im.fcap = nc;
						}
						float *row = im.feat + im.rows * im.dim;
						if (bd)
							memcpy(row, blob, (size_t)bytes);
						img_lacks[im.rows] = 0;
						if (d->img_emb_dim) {
							int f =
							    emb_lookup(ws, sei, sha, d->img_emb_dim,
							               row + bd, err);
							if (f < 0) {
								rc = f;
								goto fail;
							}
							img_lacks[im.rows] = !f;
							d->n_img_emb_missing += !f;
						}
						*slot = (int32_t)im.rows++;
					} else {
						d->n_missing_feat++;
					}
				}
				img_row = *slot;
			}
			uint32_t *col = NULL;
			float *val = NULL;
			size_t nent = 0;
			if (d->text_builtin_dim &&
			    (rc = eng_textfeat_pair_row(d->tf, prompt, ch, rj, &col, &val, &nent,
			                                err)))
				goto fail;
			if (d->text_emb_dim) {
				size_t need = nent + d->text_emb_dim;
				if (need > rcap) {
					uint32_t *nc = realloc(rcol, need * sizeof *nc);
					float *nv = nc ? realloc(rval, need * sizeof *nv) : NULL;
					if (nc)
						rcol = nc;
					if (nv)
						rval = nv;
					if (!nc || !nv) {
						rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
						goto fail;
					}
					rcap = need;
				}
				if (nent) {
					memcpy(rcol, col, nent * sizeof *col);
					memcpy(rval, val, nent * sizeof *val);
				}
				char kc[65], kr[65];
				eng_emb_text_key(ch, kc);
				eng_emb_text_key(rj, kr);
				int fc = emb_lookup(ws, set, kc, d->text_emb_dim, ec, err);
				int fr =
				    fc < 0 ? 0 : emb_lookup(ws, set, kr, d->text_emb_dim, er, err);
				if (fc < 0 || fr < 0) {
					rc = fc < 0 ? fc : fr;
					goto fail;
				}
				if (fc && fr) {
					unit(ec, d->text_emb_dim, uc);
					unit(er, d->text_emb_dim, ur);
					for (uint32_t q = 0; q < d->text_emb_dim; q++) {
						rcol[nent] = d->text_builtin_dim + q;
						rval[nent++] = uc[q] - ur[q];
					}
				} else {
					if (!d->n_text_emb_missing++)
						d->first_text_emb_missing =
						    sqlite3_column_int64(sp, 0);
				}
				col = rcol;
				val = rval;
			}
			if ((rc = eng_pairset_add_row(&d->ps, col, val, nent, img_row, err)))
				goto fail;
			d->pair_id[total] = sqlite3_column_int64(sp, 0);
			d->prompt_key[total] = eng_fnv1a64(prompt, strlen(prompt));
			d->img_key[total] = img_row >= 0 ? ikey : 0;
			d->group[total] = img_row >= 0 ? ikey : d->prompt_key[total];
			d->longer[total] = (int8_t)sgn((long long)eng_utf8_chars(ch),
			                               (long long)eng_utf8_chars(rj));
			d->formatted[total] =
			    (int8_t)sgn(eng_format_markers(ch), eng_format_markers(rj));
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
	if (d->img_emb_dim && d->n_img_emb_missing) {
		/* images without a vector get the mean vector of those with one */
		uint32_t bd = d->img_builtin_dim, E = d->img_emb_dim;
		double *mean = calloc(E, sizeof *mean);
		size_t have = 0;
		if (!mean) {
			rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
			goto fail;
		}
		for (size_t r = 0; r < im.rows; r++) {
			if (img_lacks[r])
				continue;
			have++;
			for (uint32_t q = 0; q < E; q++)
				mean[q] += im.feat[r * im.dim + bd + q];
		}
		for (size_t r = 0; r < im.rows; r++)
			if (img_lacks[r])
				for (uint32_t q = 0; q < E; q++)
					im.feat[r * im.dim + bd + q] =
					    have ? (float)(mean[q] / (double)have) : 0.0f;
		free(mean);
	}
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
	free(img_lacks);
	free(ebuf);
	free(rcol);
	free(rval);
	sqlite3_finalize(sp);
	sqlite3_finalize(sn);
	sqlite3_finalize(sei);
	sqlite3_finalize(set);
	return rc;
}
