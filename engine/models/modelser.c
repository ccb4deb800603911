/* modelser.c - a trained model to and from bytes, for model files (modelfile.h): a fixed
 * little-endian layout, checked on the way in (sizes, method, finite values). Does not read or
 * write files (modelfile.c) nor train (model.c). */
#include "model.h"

#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"

/* ---- serialization (model files, modelfile.h) ------------------------------------------------ */

/* Little-endian fixed layout: u32 method, batch, fold_buckets, text_dim, img_dim, dv, B, B_fold,
 * dense_begin; u64 n_params; f32 params[n_params]; f32 img_mean[img_dim], img_istd[img_dim]. The
 * host is little-endian (checked at build time by the reader's round trip test). */
enum { SER_HEAD = 9 * 4 + 8 };

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int eng_model_serialize(const eng_model *m, uint8_t **out, size_t *len)
{
	size_t nimg = m->img_mean ? 2 * (size_t)m->img_dim : 0;
	size_t n = SER_HEAD + sizeof(float) * (m->n_params + nimg);
	uint8_t *p = malloc(n);
	if (!p)
		return ENG_ENOMEM;
	uint32_t h[9] = {(uint32_t)m->o.method,
	                 (uint32_t)m->o.batch,
	                 (uint32_t)m->o.fold_buckets,
	                 m->text_dim,
	                 m->img_dim,
	                 m->dv,
	                 m->B,
	                 m->B_fold,
	                 m->dense_begin};
	for (int i = 0; i < 9; i++)
		put_u32(p + 4 * i, h[i]);
	put_u32(p + 36, (uint32_t)(m->n_params & 0xFFFFFFFFu));
	put_u32(p + 40, (uint32_t)((uint64_t)m->n_params >> 32));
	memcpy(p + SER_HEAD, m->params, sizeof(float) * m->n_params);
	if (nimg)
		memcpy(p + SER_HEAD + sizeof(float) * m->n_params, m->img_mean,
		       sizeof(float) * nimg);
	*out = p;
	*len = n;
	return 0;
}

int eng_model_deserialize(const uint8_t *p, size_t len, eng_model **out, eng_err *err)
{
	*out = NULL;
	if (len < SER_HEAD)
		return eng_err_set(err, ENG_EINPUT, "model record too short (%zu bytes)", len);
	uint32_t h[9];
	for (int i = 0; i < 9; i++)
		h[i] = get_u32(p + 4 * i);
	uint64_t np = (uint64_t)get_u32(p + 36) | (uint64_t)get_u32(p + 40) << 32;
	eng_train_opts o;
	eng_train_opts_default(&o);
	o.method = (eng_method)h[0];
	o.batch = (int)h[1];
	o.fold_buckets = (int)h[2];
	const uint32_t text_dim = h[3], img_dim = h[4], dv = h[5], B = h[6], B_fold = h[7],
	               dense_begin = h[8];
	int mm = h[0] != ENG_METHOD_TEXT;
	if (h[0] >= ENG_METHOD_COUNT || o.batch < 1 || o.batch > (1 << 20) || text_dim < 1 ||
	    text_dim > (1u << 26) || img_dim > 65536 || dense_begin > text_dim ||
	    (mm && (B_fold != (uint32_t)o.fold_buckets || B_fold < 1 || B_fold > 65536 ||
	            B != B_fold + (text_dim - dense_begin) || dv != img_dim + 1)) ||
	    (!mm && (B || dv || img_dim)))
		return eng_err_set(err, ENG_EINPUT, "model record has an inconsistent shape");
	size_t ntext = mm && eng_method_has_text_branch(o.method) ? 2 : 1;
	uint64_t want = (uint64_t)ntext * text_dim + (uint64_t)B * dv;
	size_t nimg = mm && img_dim ? 2 * (size_t)img_dim : 0;
	if (np != want || len != SER_HEAD + sizeof(float) * ((size_t)np + nimg))
		return eng_err_set(err, ENG_EINPUT,
		                   "model record has %llu parameters or %zu bytes "
		                   "where its shape needs %llu",
		                   (unsigned long long)np, len, (unsigned long long)want);
	eng_model *m = calloc(1, sizeof *m);
	if (!m)
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	m->o = o;
	m->text_dim = text_dim;
	m->img_dim = img_dim;
	m->dv = dv;
	m->B = B;
	m->B_fold = B_fold;
	m->dense_begin = dense_begin;
	m->n_params = (size_t)np;
	m->params = malloc(sizeof(float) * (m->n_params ? m->n_params : 1));
	if (nimg)
		m->img_mean = malloc(sizeof(float) * nimg);
	if (!m->params || (nimg && !m->img_mean)) {
		eng_model_free(m);
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	}
	memcpy(m->params, p + SER_HEAD, sizeof(float) * m->n_params);
	for (size_t k = 0; k < m->n_params; k++)
		if (!isfinite(m->params[k])) {
			eng_model_free(m);
			return eng_err_set(err, ENG_EINPUT, "model record has a non-finite weight");
		}
	float *q = m->params;
	if (eng_method_has_text_branch(o.method)) {
		m->wt = q;
		q += text_dim;
	}
	if (mm) {
		m->w = q;
		q += text_dim;
		m->W = q;
	}
	if (nimg) {
		memcpy(m->img_mean, p + SER_HEAD + sizeof(float) * m->n_params,
		       sizeof(float) * nimg);
		m->img_istd = m->img_mean + img_dim;
	}
	*out = m;
	return 0;
}

eng_method eng_model_method(const eng_model *m)
{
	return m->o.method;
}
