/* model.c - Bradley-Terry reward models over a pairset: text-only proxy, MM-RM, shortcut-aware
 * MM-RM.
 *
 * Margins (d = sparse text difference of a pair, v = its standardized image vector, see below):
 *   text branch       m_t = wt . d
 *   MM branch         m   = w . d + fold(d)^T W v      fold(d)_b = sum_{c: fold(c) = b} d_c
 * Loss L(m) = -log sigmoid(m) = softplus(-m), computed stably (eng_bt_loss, metrics.h).
 * Objective per batch (mean over the batch) + (l2 / 2) ||theta||^2:
 *   text: mean L(m_t);  standard: mean L(m);
 *   shortcut-aware (Li et al. 2025, as their released code): mean(w_i L(m_i)) + mean(L(m_t,i)),
 *   w_i = eps/2 + L_t,i / (eps + L_t,i + L_i), eps = 1e-7, w_i detached (a constant in the
 * gradient). The model is linear in its parameters, so every method is a convex logistic
 * regression: parameters start at zero and the seed only drives the minibatch order (xoshiro256**,
 * Fisher-Yates).
 *
 * Image vector: v = [clip((x - mean) * istd, +-8), 1] (dv = img_dim + 1) with mean/std over the
 * DISTINCT images of the training rows (istd = 0 for a feature constant there); pairs without an
 * image get v = 0, i.e. only their text terms (the constant 1 lets W act as image-conditional text
 * weights, which pairs without an image do not get).
 *
 * Interaction guard (eng_model_train_multi): with p = training pairs with an image per distinct
 * training image, the interaction can memorize each image's answers through its own B-vector
 * W v, which held-out images do not share (on MLLM-Bench, 281 images for 7,833 pairs, the plain
 * MM-RM was 9 points below the text-only proxy held out). So when p > 1, one training image in 5
 * (own RNG stream, minibatch order unchanged) is held out and the text-only model and each MM
 * method are trained on the rest (same options); an MM method whose mean loss on the held-out
 * images exceeds the text-only model's is trained with the L2 of its W raised from l2 to l2 * p^2
 * (the mean-over-pairs objective counts each image p times, so a plain L2 is p times weaker per
 * image than per pair; the second factor p was chosen on MLLM-Bench, where p alone still left the
 * MM-RM 5 points low). Otherwise, and when p = 1 (one image per pair: the synth environments) or
 * fewer than 4 images fall on either side, the L2 stays l2 and nothing extra is trained. Text
 * terms are untouched, so the shortcut-aware algorithm itself is unchanged. Cost: at most one
 * extra pass on 80% of the rows.
 *
 * Optimizer: Adam (b1 0.9, b2 0.999, eps 1e-8, bias-corrected step size). The 2^bits text weights
 * use LAZY (sparse) Adam: a step updates the moments and the weight only at the text columns that
 * occur in the batch (with their L2 gradient l2 * w_j); untouched coordinates keep weight and
 * moments (like TensorFlow's LazyAdam). So a step costs O(batch nnz) instead of O(2^bits), and
 * rarely seen columns are regularized only when seen. W (B x dv) uses dense Adam + L2 every step.
 * Memory layout for speed: the sparse loops are bound by cache misses on random text columns, so
 * during training column c's {w, g, m, v} (text branch, then MM branch) sit together in one block
 * of records (one cache line per column), with software prefetch and a branch-free touched list;
 * the weights are copied into the model's params block at the end.
 *
 * GEMMs per batch of n rows (OpenBLAS cblas_sgemm, row-major):
 *   G (n, B) = fold(D) dense; V (n, dv); Z (n, B) = V W^T; m_int,i = sum_b G_ib Z_ib
 *   dW (B, dv) = G^T diag(c) V, c_i = d objective / d m_i.
 * Determinism: sparse loops are sequential in row/entry order, so margins are bit-identical for a
 * given seed as long as OpenBLAS runs with the same thread count (OpenBLAS splits sgemm over M/N,
 * never over K, so in practice results also match across thread counts; callers that need a hard
 * guarantee pin it with openblas_set_num_threads). This file never changes the thread count.
 * Thread safety: every sgemm goes through eng_model_sgemm, which serializes the calls when the
 * library is a sequential build (see there). Not here: reading the database, folds and
 * cross-fitting (score.c), metrics; method names, options and the RNG (modelopts.c); model bytes
 * (modelser.c). */
#include "model.h"

#include <assert.h>
#include <cblas.h>
#include <immintrin.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "model_internal.h"

static const double ADAM_B1 = 0.9, ADAM_B2 = 0.999, ADAM_EPS = 1e-8;

/* Interaction guard: one training image in GUARD_VAL_FRAC is held out for validation; at least
 * GUARD_MIN_IMG images on each side. */
enum { GUARD_VAL_FRAC = 5, GUARD_MIN_IMG = 4 };

/* Software prefetch distance (entries) for the random text-column accesses of the sparse loops. */
enum { PF = 8 };
#if defined(__GNUC__)
#define PREFETCH(p) __builtin_prefetch(p)
#else
#define PREFETCH(p) ((void)(p))
#endif

/* ---- small things ---------------------------------------------------------------------------- */

static int mul_ok(size_t a, size_t b, size_t *out)
{
	if (a != 0 && b > SIZE_MAX / a)
		return -1;
	*out = a * b;
	return 0;
}

/* ---- model allocation ------------------------------------------------------------------------ */

void eng_model_free(eng_model *m)
{
	if (!m)
		return;
	free(m->params);
	free(m->img_mean);
	free(m);
}

static int check_opts(const eng_train_opts *o, eng_err *err)
{
	if ((unsigned)o->method >= ENG_METHOD_COUNT)
		return eng_err_set(err, ENG_EINPUT, "train: unknown method %d", (int)o->method);
	if (o->epochs < 1)
		return eng_err_set(err, ENG_EINPUT, "train: epochs must be >= 1 (got %d)",
		                   o->epochs);
	if (o->batch < 1)
		return eng_err_set(err, ENG_EINPUT, "train: batch must be >= 1 (got %d)", o->batch);
	if (!(o->lr > 0) || !isfinite(o->lr))
		return eng_err_set(err, ENG_EINPUT, "train: lr must be a positive number (got %g)",
		                   (double)o->lr);
	if (!(o->l2 >= 0) || !isfinite(o->l2))
		return eng_err_set(err, ENG_EINPUT, "train: l2 must be >= 0 (got %g)",
		                   (double)o->l2);
	if (o->method != ENG_METHOD_TEXT && (o->fold_buckets < 1 || o->fold_buckets > 65536))
		return eng_err_set(err, ENG_EINPUT,
		                   "train: fold_buckets must be in [1, 65536] (got %d)",
		                   o->fold_buckets);
	return 0;
}

int eng_model_alloc(const eng_pairset *ps, const size_t *rows, size_t n, const eng_train_opts *o,
                    eng_model **out, eng_err *err)
{
	assert(ps && out && o);
	*out = NULL;
	int rc = check_opts(o, err);
	if (rc)
		return rc;
	if (n == 0 || !rows)
		return eng_err_set(err, ENG_EINPUT, "train: no training pairs");
	int mm = o->method != ENG_METHOD_TEXT;
	for (size_t i = 0; i < n; i++) {
		if (rows[i] >= ps->n)
			return eng_err_set(err, ENG_EINPUT,
			                   "train: row %zu out of range (%zu pairs)", rows[i],
			                   ps->n);
		int32_t im = ps->img_of[rows[i]];
		if (mm && im >= 0 && (size_t)im >= ps->n_img)
			return eng_err_set(err, ENG_EINPUT,
			                   "train: pair %zu refers to image row %d but the set has "
			                   "%zu images",
			                   rows[i], (int)im, ps->n_img);
	}
	eng_model *m = calloc(1, sizeof *m);
	if (!m)
		return eng_err_set(err, ENG_ENOMEM, "train: out of memory");
	m->o = *o;
	m->text_dim = ps->text_dim;
	m->img_dim = mm ? ps->img_dim : 0;
	m->dv = mm ? ps->img_dim + 1 : 0;
	if (ps->dense_dim > ps->text_dim || (mm && ps->dense_dim > 65536)) {
		eng_model_free(m);
		return eng_err_set(err, ENG_EINPUT, "train: %u dense columns of %u text columns",
		                   (unsigned)ps->dense_dim, (unsigned)ps->text_dim);
	}
	m->B_fold = mm ? (uint32_t)o->fold_buckets : 0;
	m->B = mm ? m->B_fold + ps->dense_dim : 0;
	m->dense_begin = ps->text_dim - ps->dense_dim;
	size_t ntext = mm && eng_method_has_text_branch(o->method) ? 2 : 1, a, b;
	if (mul_ok(ntext, m->text_dim, &a) || mul_ok(m->B, m->dv, &b) || a > SIZE_MAX - b ||
	    mul_ok(a + b, sizeof(float), &(size_t){0})) {
		eng_model_free(m);
		return eng_err_set(err, ENG_ENOMEM, "train: model too large");
	}
	m->n_params = a + b;
	m->params = calloc(m->n_params, sizeof(float));
	if (mm && m->img_dim)
		m->img_mean = calloc(2 * (size_t)m->img_dim, sizeof(float));
	if (!m->params || (mm && m->img_dim && !m->img_mean)) {
		eng_model_free(m);
		return eng_err_set(err, ENG_ENOMEM, "train: out of memory (%zu parameters)", a + b);
	}
	float *p = m->params;
	if (eng_method_has_text_branch(o->method)) {
		m->wt = p;
		p += m->text_dim;
	}
	if (mm) {
		m->w = p;
		p += m->text_dim;
		m->W = p;
	}
	if (mm && m->img_dim) {
		m->img_istd = m->img_mean + m->img_dim;
		/* mean/std over the distinct images of the training rows */
		uint8_t *seen = calloc(ps->n_img ? ps->n_img : 1, 1);
		double *acc = calloc(2 * (size_t)m->img_dim, sizeof(double));
		if (!seen || !acc) {
			free(seen);
			free(acc);
			eng_model_free(m);
			return eng_err_set(err, ENG_ENOMEM, "train: out of memory");
		}
		size_t cnt = 0;
		for (size_t i = 0; i < n; i++) {
			int32_t im = ps->img_of[rows[i]];
			if (im < 0 || seen[im])
				continue;
			seen[im] = 1;
			cnt++;
			const float *x = ps->img + (size_t)im * m->img_dim;
			for (uint32_t k = 0; k < m->img_dim; k++)
				acc[k] += x[k];
		}
		for (uint32_t k = 0; k < m->img_dim && cnt; k++)
			acc[k] /= (double)cnt;
		for (size_t i = 0; i < ps->n_img && cnt; i++) {
			if (!seen[i])
				continue;
			const float *x = ps->img + i * m->img_dim;
			for (uint32_t k = 0; k < m->img_dim; k++) {
				double dlt = x[k] - acc[k];
				acc[m->img_dim + k] += dlt * dlt;
			}
		}
		for (uint32_t k = 0; k < m->img_dim; k++) {
			double sd = cnt ? sqrt(acc[m->img_dim + k] / (double)cnt) : 0;
			m->img_mean[k] = (float)acc[k];
			m->img_istd[k] = sd > 1e-6 ? (float)(1.0 / sd) : 0.0f;
		}
		free(seen);
		free(acc);
	}
	*out = m;
	return 0;
}

const float *eng_model_text_weights(const eng_model *m)
{
	return m->w ? m->w : m->wt;
}

/* ---- one batch ------------------------------------------------------------------------------- */

/* Up to two MM heads (standard, shortcut-aware) share one pass over a batch: same rows, same
 * fold(d) G and image vectors V, so several methods train on identical minibatches at the cost of
 * one sparse pass (eng_model_train_multi). */
enum { MAXH = 4 };

/* How a head's loss is formed (see the top of this file and model.h). */
enum { HEAD_PLAIN, HEAD_SA, HEAD_POE, HEAD_DEBIAS };
static int head_kind(eng_method m)
{
	return m == ENG_METHOD_SHORTCUT_AWARE ? HEAD_SA
	       : m == ENG_METHOD_POE          ? HEAD_POE
	       : m == ENG_METHOD_DEBIAS       ? HEAD_DEBIAS
	                                      : HEAD_PLAIN;
}

typedef struct scratch {
	size_t cap;            /* rows per batch */
	float *G, *V, *CV;     /* (cap, B), (cap, dv), (cap, dv); one block with Z, c, ct */
	float *Z[MAXH];        /* (cap, B) per head */
	float *c[MAXH], *ct;   /* (cap) d objective / d m per head, / d m_t (text branch) */
	double *mm[MAXH], *mt; /* (cap) margins; one block */
	uint32_t *nzb;         /* (cap, B) each row's nonzero buckets of G, in bucket order */
	uint32_t *nzn;         /* (cap) how many */
	int sparse;            /* this batch's interaction runs on nzb (batch_nonzeros) */
	uint32_t *touched; /* (text_dim + 1) distinct text columns of the batch, first-seen order */
	uint8_t *mark;     /* (text_dim) 1 while a column is in touched */
	size_t ntouched;
} scratch;

static void scratch_free(scratch *s)
{
	free(s->G);
	free(s->mt);
	free(s->nzb);
	free(s->nzn);
	free(s->touched);
	free(s->mark);
	memset(s, 0, sizeof *s);
}

/* Scratch for batches of up to cap rows of models with B buckets and dv image columns. */
static int scratch_alloc(scratch *s, uint32_t B, uint32_t dv, uint32_t text_dim, size_t cap,
                         int grads, eng_err *err)
{
	memset(s, 0, sizeof *s);
	s->cap = cap;
	size_t per, tot, b;
	/* per row: G (B) + Z (MAXH * B) + V, CV (2 dv) + c (MAXH) + ct floats */
	per = (1 + MAXH) * (size_t)B + 2 * (size_t)dv + MAXH + 1;
	if (mul_ok(per, cap, &tot) || mul_ok(tot, sizeof(float), &b) ||
	    mul_ok(cap, (MAXH + 1) * sizeof(double), &(size_t){0}))
		return eng_err_set(err, ENG_ENOMEM, "train: batch too large");
	s->G = malloc(b ? b : 1);
	s->mt = malloc(cap * (MAXH + 1) * sizeof(double));
	s->nzb = malloc(cap * (size_t)B * sizeof(uint32_t) + 1); /* cap B < cap per: fits */
	s->nzn = malloc(cap * sizeof(uint32_t) + 1);
	if (grads) {
		s->touched =
		    malloc(sizeof(uint32_t) * ((size_t)text_dim + 1)); /* +1: branch-free */
		s->mark = calloc(text_dim, 1);
	}
	if (!s->G || !s->mt || !s->nzb || !s->nzn || (grads && (!s->touched || !s->mark))) {
		scratch_free(s);
		return eng_err_set(err, ENG_ENOMEM, "train: out of memory (batch of %zu)", cap);
	}
	float *p = s->G + cap * B;
	for (int h = 0; h < MAXH; h++, p += cap * B)
		s->Z[h] = p;
	s->V = p;
	p += cap * dv;
	s->CV = p;
	p += cap * dv;
	for (int h = 0; h < MAXH; h++, p += cap)
		s->c[h] = p;
	s->ct = p;
	for (int h = 0; h < MAXH; h++)
		s->mm[h] = s->mt + (size_t)(h + 1) * cap;
	return 0;
}

/* Where batch() finds the weights and puts their gradients. Column c's text-branch weight is
 * wt[c * stride] and its gradient gt[c * stride]; likewise w[h] / gw[h] for MM head h. Inference
 * and the objective use a model's params block (stride 1); training uses per-column records (see
 * train_multi). gt, gw, gW NULL for a forward pass. */
typedef struct tview {
	size_t stride;
	const float *wt; /* text branch m_t = wt . d (text and shortcut-aware), NULL when absent */
	float *gt;
	int nh; /* MM heads */
	const float *w[MAXH];
	float *gw[MAXH];
	const float *W[MAXH]; /* (B, dv) interaction */
	float *gW[MAXH];      /* (B, dv), OVERWRITTEN by batch() */
	int kind[MAXH];       /* HEAD_*: how head h's loss is formed (all but PLAIN need wt) */
	const eng_model *geo; /* B, dv, img_dim and image standardization (any MM model) */
	const float *roww;    /* (ps->n) per-row loss weights, indexed by pairset row; NULL = 1 */
	const float *wt2;     /* a second text-only model on the same batches (its own row
	                         weights roww2), or NULL: train_pass with roww2 */
	float *gt2;
	const float *roww2;
	const int32_t *img; /* (batch) image row per batch position instead of ps->img_of:
	                       >= 0 a row of ps->img, -1 none, ENG_MODEL_IMG_MEAN the training
	                       mean (v = [0, 1]); NULL = ps->img_of */
} tview;

/* The image row batch() uses for batch position i, row r. */
static inline int32_t img_row(const eng_pairset *ps, const tview *tv, size_t i, size_t r)
{
	return tv->img ? tv->img[i] : ps->img_of[r];
}

/* Rows of a minibatch are random rows of the pairset, so the hardware cannot guess where the next
 * one's entries are: row rows[i + PFR]'s offsets and row rows[i + PFR / 2]'s entries (its
 * offsets fetched PFR / 2 rows earlier) are prefetched while row rows[i] is read. */
enum { PFR = 4 };

/* The column to prefetch PF entries ahead: the high bits of the current one (an escape between
 * makes it a wrong guess, never an address outside the weights). */
static inline size_t pf_col(size_t hi, uint16_t lo, uint32_t tdim)
{
	size_t c = hi | lo;
	return c < tdim ? c : 0;
}

/* Entry k (value v) of the pairset in a hot loop: an escape sets *hi to its high bits (pairset.h)
 * and gives 0; a real entry gives 1 and its column in *c. */
static inline int entry_col(const uint16_t *colv, float v, size_t k, size_t *hi, uint32_t *c)
{
	if (eng_pairset_is_esc(v)) {
		*hi = (size_t)colv[k] << 16;
		return 0;
	}
	*c = (uint32_t)(*hi | colv[k]);
	return 1;
}
static inline void prefetch_row(const eng_pairset *ps, const size_t *rows, size_t n, size_t i)
{
	if (i + PFR < n)
		PREFETCH(&ps->rowptr[rows[i + PFR]]);
	if (i + PFR / 2 < n) {
		size_t r = rows[i + PFR / 2], a = ps->rowptr[r], e = ps->rowptr[r + 1];
		for (size_t k = a; k < e; k += 16) { /* 16 values, 32 columns: a 64-byte line */
			if (((k - a) & 16) == 0)
				PREFETCH(&ps->col[k]);
			PREFETCH(&ps->val[k]);
		}
		if (e > a) {
			PREFETCH(&ps->col[e - 1]);
			PREFETCH(&ps->val[e - 1]);
		}
	}
}

/* The margins of the batch's rows (s->mt: text branch, s->mm[h]: each MM head's text terms) and
 * the rows of G (n, B) = fold(D) and V (n, dv) for the interaction. Returns 1 when some row has an
 * image. */
static int batch_forward(const eng_pairset *ps, const size_t *rows, size_t n, scratch *s,
                         const tview *tv)
{
	const eng_model *g = tv->geo;
	const uint32_t B = g ? g->B : 0, dv = g ? g->dv : 0, idim = g ? g->img_dim : 0;
	const size_t S = tv->stride;
	const int nh = tv->nh;
	const float *restrict wt = tv->wt, *restrict w0 = nh > 0 ? tv->w[0] : NULL,
	                      *restrict w1 = nh > 1 ? tv->w[1] : NULL,
	                      *restrict w2 = nh > 2 ? tv->w[2] : NULL,
	                      *restrict w3 = nh > 3 ? tv->w[3] : NULL;
	const float *pf = wt ? wt : w0; /* prefetch target: the column's record */
	const size_t *restrict rowptr = ps->rowptr;
	const uint16_t *restrict colv = ps->col;
	const float *restrict valv = ps->val;
	const uint32_t tdim = ps->text_dim;
	double *restrict mt = s->mt, *restrict m0 = s->mm[0], *restrict m1 = s->mm[1],
	                 *restrict m2 = s->mm[2], *restrict m3 = s->mm[3];
	int any_img = 0;
	for (size_t i = 0; i < n; i++) {
		size_t r = rows[i], a = rowptr[r], e = rowptr[r + 1];
		double st = 0, s0 = 0, s1 = 0, s2 = 0, s3 = 0;
		prefetch_row(ps, rows, n, i);
		if (nh) {
			/* G's and V's rows only matter with an image (V's row, so Z's and CV's, is
			 * 0 without); rows without one are zeroed below if the batch has any image
			 */
			float *restrict gi = s->G + i * B; /* row i of G (n, B) */
			int32_t im = img_row(ps, tv, i, r);
			if (im >= 0 || im == ENG_MODEL_IMG_MEAN) {
				memset(gi, 0, sizeof(float) * B);
				for (eng_pairset_iter it = eng_pairset_row(ps, r);
				     eng_pairset_next(&it);)
					gi[eng_model_bucket(g, it.c)] += it.v;
			}
			for (size_t k = a, hi = 0; k < e; k++) {
				float v = valv[k];
				uint32_t c;
				if (!entry_col(colv, v, k, &hi, &c))
					continue;
				if (k + PF < e)
					PREFETCH(&pf[pf_col(hi, colv[k + PF], tdim) * S]);
				s0 += (double)w0[c * S] * v;
				if (w1)
					s1 += (double)w1[c * S] * v;
				if (w2)
					s2 += (double)w2[c * S] * v;
				if (w3)
					s3 += (double)w3[c * S] * v;
				if (wt)
					st += (double)wt[c * S] * v;
			}
			float *restrict vi = s->V + i * dv; /* row i of V (n, dv) */
			if (im == ENG_MODEL_IMG_MEAN) {     /* standardized training mean */
				memset(vi, 0, sizeof(float) * idim);
				vi[idim] = 1.0f;
				any_img = 1;
			} else if (im >= 0) {
				const float *x = ps->img + (size_t)im * idim;
				for (uint32_t k = 0; k < idim; k++) {
					float z = (x[k] - g->img_mean[k]) * g->img_istd[k];
					vi[k] = z > ENG_MODEL_IMG_CLIP    ? ENG_MODEL_IMG_CLIP
					        : z < -ENG_MODEL_IMG_CLIP ? -ENG_MODEL_IMG_CLIP
					                                  : z;
				}
				vi[idim] = 1.0f;
				any_img = 1;
			}
		} else {
			for (size_t k = a, hi = 0; k < e; k++) {
				float v = valv[k];
				uint32_t c;
				if (!entry_col(colv, v, k, &hi, &c))
					continue;
				if (k + PF < e)
					PREFETCH(&wt[pf_col(hi, colv[k + PF], tdim) * S]);
				st += (double)wt[c * S] * v;
			}
		}
		mt[i] = st;
		m0[i] = s0;
		m1[i] = s1;
		m2[i] = s2;
		m3[i] = s3;
	}
	for (size_t i = 0; nh && any_img && i < n; i++) {
		int32_t im = img_row(ps, tv, i, rows[i]);
		if (im < 0 && im != ENG_MODEL_IMG_MEAN) {
			memset(s->G + i * B, 0, sizeof(float) * B);
			memset(s->V + i * dv, 0, sizeof(float) * dv);
		}
	}
	return any_img;
}

/* The interaction's sparse form pays when G (n, B) has at most one nonzero in
 * ENG_MODEL_SPARSE_FRACTION of its cells: fold(d) of a short answer pair touches few of the B
 * buckets (synth's pairs: ~10%), a long one nearly all (MLLM-Bench's), and a dense product costs
 * B dv per row where the sparse one costs dv per nonzero bucket, at a lower rate than sgemm's. */
#define ENG_MODEL_SPARSE_FRACTION 4
int eng_model_interaction_form = ENG_MODEL_INTERACTION_AUTO;

/* Lists each row's nonzero buckets of G into s->nzb / s->nzn and sets s->sparse when the batch's
 * interaction should run on them. */
static void batch_nonzeros(size_t n, scratch *s, uint32_t B)
{
	size_t tot = 0;
	for (size_t i = 0; i < n; i++) {
		const float *gi = s->G + i * B;
		uint32_t *nz = s->nzb + i * B, k = 0;
		for (uint32_t b = 0; b < B; b++) {
			nz[k] = b;
			k += gi[b] != 0.0f;
		}
		s->nzn[i] = k;
		tot += k;
	}
	s->sparse = eng_model_interaction_form == ENG_MODEL_INTERACTION_SPARSE ||
	            eng_model_interaction_form == ENG_MODEL_INTERACTION_SPARSE_PORTABLE ||
	            (eng_model_interaction_form == ENG_MODEL_INTERACTION_AUTO &&
	             tot * ENG_MODEL_SPARSE_FRACTION <= n * (size_t)B);
}

/* The sparse interaction's two kernels, over row i's nonzero buckets nz[0..nn) of G row gi and its
 * image vector vi (dv floats): the margin term sum_q gi[b_q] (W_b_q . vi), and the gradient
 * gW_b_q += (gi[b_q] c) vi. Written for AVX2 + FMA (four 8-float accumulators: a dot product of
 * dv = 124 is otherwise bound by one register's add latency), with a portable version for other
 * CPUs; one of them is chosen per process, so results are reproducible on one machine (as sgemm's,
 * whose kernel OpenBLAS also picks by CPU). */
__attribute__((target("avx2,fma"))) static double sp_margin_avx2(const float *gi,
                                                                 const uint32_t *nz, uint32_t nn,
                                                                 const float *W, const float *vi,
                                                                 uint32_t dv)
{
	double acc = 0;
	for (uint32_t q = 0; q < nn; q++) {
		const float *w = W + (size_t)nz[q] * dv;
		__m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
		uint32_t k = 0;
		for (; k + 32 <= dv; k += 32) {
			a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + k), _mm256_loadu_ps(vi + k), a0);
			a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + k + 8),
			                     _mm256_loadu_ps(vi + k + 8), a1);
			a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + k + 16),
			                     _mm256_loadu_ps(vi + k + 16), a2);
			a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + k + 24),
			                     _mm256_loadu_ps(vi + k + 24), a3);
		}
		for (; k + 8 <= dv; k += 8)
			a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + k), _mm256_loadu_ps(vi + k), a0);
		__m256 t8 = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
		__m128 t4 = _mm_add_ps(_mm256_castps256_ps128(t8), _mm256_extractf128_ps(t8, 1));
		t4 = _mm_add_ps(t4, _mm_movehl_ps(t4, t4));
		t4 = _mm_add_ss(t4, _mm_shuffle_ps(t4, t4, 1));
		float z = _mm_cvtss_f32(t4);
		for (; k < dv; k++)
			z += w[k] * vi[k];
		acc += (double)gi[nz[q]] * z;
	}
	return acc;
}

__attribute__((target("avx2,fma"))) static void sp_grad_avx2(const float *gi, const uint32_t *nz,
                                                             uint32_t nn, float c, float *gW,
                                                             const float *vi, uint32_t dv)
{
	for (uint32_t q = 0; q < nn; q++) {
		float a = gi[nz[q]] * c, *gb = gW + (size_t)nz[q] * dv;
		__m256 av = _mm256_set1_ps(a);
		uint32_t k = 0;
		for (; k + 8 <= dv; k += 8)
			_mm256_storeu_ps(gb + k, _mm256_fmadd_ps(av, _mm256_loadu_ps(vi + k),
			                                         _mm256_loadu_ps(gb + k)));
		for (; k < dv; k++)
			gb[k] += a * vi[k];
	}
}

static double sp_margin_c(const float *gi, const uint32_t *nz, uint32_t nn, const float *W,
                          const float *vi, uint32_t dv)
{
	double acc = 0;
	for (uint32_t q = 0; q < nn; q++) {
		const float *w = W + (size_t)nz[q] * dv;
		float p[8] = {0, 0, 0, 0, 0, 0, 0, 0}, z = 0;
		uint32_t k = 0;
		for (; k + 8 <= dv; k += 8)
			for (int j = 0; j < 8; j++)
				p[j] += w[k + j] * vi[k + j];
		for (; k < dv; k++)
			z += w[k] * vi[k];
		z += ((p[0] + p[4]) + (p[1] + p[5])) + ((p[2] + p[6]) + (p[3] + p[7]));
		acc += (double)gi[nz[q]] * z;
	}
	return acc;
}

static void sp_grad_c(const float *gi, const uint32_t *nz, uint32_t nn, float c, float *gW,
                      const float *vi, uint32_t dv)
{
	for (uint32_t q = 0; q < nn; q++) {
		float a = gi[nz[q]] * c, *restrict gb = gW + (size_t)nz[q] * dv;
		for (uint32_t k = 0; k < dv; k++)
			gb[k] += a * vi[k];
	}
}

/* 1 when this CPU runs the AVX2 + FMA kernels. */
static int sp_avx2(void)
{
	static int have = -1; /* a benign race: every thread computes the same value */
	if (have < 0)
		have = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
	return have && eng_model_interaction_form != ENG_MODEL_INTERACTION_SPARSE_PORTABLE;
}

/* Row-major C = A op(B) (alpha 1, beta 0) through cblas_sgemm. Debian's sequential OpenBLAS
 * (libopenblas0-serial, which the run path loads first: meson.build) is built without
 * USE_LOCKING, so two threads inside it at once share its work buffers: concurrent calls from
 * the training jobs gave timing-dependent, wrong products (42 of 400 concurrent 256x64x300 calls
 * differed from the same call made alone). When the library reports itself sequential, the calls
 * are therefore made one at a time; the threaded builds lock themselves. */
static pthread_mutex_t sgemm_mu = PTHREAD_MUTEX_INITIALIZER;

void eng_model_sgemm(enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, int m, int n, int k,
                     const float *a, int lda, const float *b, int ldb, float *c, int ldc)
{
	int lock = openblas_get_parallel() == 0;
	if (lock)
		pthread_mutex_lock(&sgemm_mu);
	cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
	if (lock)
		pthread_mutex_unlock(&sgemm_mu);
}

/* Adds the interaction fold(d)^T W_h v to each MM head's margins (when any_img): one GEMM, or
 * over the nonzero buckets of a sparse batch (the same sums in another order). */
static void batch_interaction(size_t n, scratch *s, const tview *tv, int any_img)
{
	const eng_model *g = tv->geo;
	const uint32_t B = g ? g->B : 0, dv = g ? g->dv : 0;
	const int nh = tv->nh;
	if (nh && any_img)
		batch_nonzeros(n, s, B);
	for (int h = 0; h < nh && any_img && s->sparse; h++) {
		const float *W = tv->W[h];
		double *mh = s->mm[h];
		int avx = sp_avx2();
		for (size_t i = 0; i < n; i++) {
			const float *gi = s->G + i * B, *vi = s->V + i * dv;
			const uint32_t *nz = s->nzb + i * B;
			mh[i] += avx ? sp_margin_avx2(gi, nz, s->nzn[i], W, vi, dv)
			             : sp_margin_c(gi, nz, s->nzn[i], W, vi, dv);
		}
	}
	for (int h = 0; h < nh && any_img && !s->sparse; h++) {
		/* Z (n, B) = V (n, dv) * W^T; W is (B, dv) row-major.
		 * cblas: RowMajor, NoTrans, Trans, M = n, N = B, K = dv, lda = dv, ldb = dv, ldc =
		 * B */
		eng_model_sgemm(CblasNoTrans, CblasTrans, (int)n, (int)B, (int)dv, s->V, (int)dv,
		                tv->W[h], (int)dv, s->Z[h], (int)B);
		double *mh = s->mm[h];
		for (size_t i = 0; i < n; i++) {
			const float *gi = s->G + i * B, *zi = s->Z[h] + i * B;
			double acc = 0;
			for (uint32_t b = 0; b < B; b++)
				acc += (double)gi[b] * zi[b];
			mh[i] += acc;
		}
	}
}

/* Each branch's objective (obj[0] text, obj[1 + h] head h: means over the batch, row weights
 * applied) and d objective / d margin of each row (s->ct, s->c[h]). */
static void batch_losses(const size_t *rows, size_t n, scratch *s, const tview *tv,
                         double obj[1 + MAXH])
{
	const int nh = tv->nh;
	const float *restrict wt = tv->wt;
	double *restrict mt = s->mt;
	double inv = 1.0 / (double)n;
	for (int q = 0; q <= MAXH; q++)
		obj[q] = 0;
	for (size_t i = 0; i < n; i++) {
		double lt = 0, rw = tv->roww ? (double)tv->roww[rows[i]] : 1.0, ri = rw * inv;
		if (wt) {
			lt = eng_bt_loss(mt[i]);
			obj[0] += rw * lt;
			s->ct[i] = (float)(eng_bt_dloss(mt[i]) * ri);
		}
		for (int h = 0; h < nh; h++) {
			double mi = s->mm[h][i], l, wi;
			switch (tv->kind[h]) {
			case HEAD_SA: /* detached; from the unweighted losses */
				l = eng_bt_loss(mi);
				wi = eng_sa_weight(lt, l);
				obj[1 + h] += rw * wi * l;
				s->c[h][i] = (float)(wi * eng_bt_dloss(mi) * ri);
				break;
			case HEAD_POE: /* the product with the detached text expert */
				l = eng_bt_loss(mi + mt[i]);
				obj[1 + h] += rw * l;
				s->c[h][i] = (float)(eng_bt_dloss(mi + mt[i]) * ri);
				break;
			case HEAD_DEBIAS: /* 1 - p_bias, detached */
				wi = 1.0 - eng_sigmoid(mt[i]);
				l = eng_bt_loss(mi);
				obj[1 + h] += rw * wi * l;
				s->c[h][i] = (float)(wi * eng_bt_dloss(mi) * ri);
				break;
			default:
				l = eng_bt_loss(mi);
				obj[1 + h] += rw * l;
				s->c[h][i] = (float)(eng_bt_dloss(mi) * ri);
			}
		}
	}
	for (int q = 0; q <= MAXH; q++)
		obj[q] *= inv;
}

/* Accumulates the sparse gradients of the text weights (tv->gt, tv->gw[h]) and the list of touched
 * columns. Returns 0 when no text gradient is asked (then no dense one either). */
static int batch_sparse_grads(const eng_pairset *ps, const size_t *rows, size_t n, scratch *s,
                              const tview *tv)
{
	const size_t S = tv->stride;
	const int nh = tv->nh;
	const size_t *restrict rowptr = ps->rowptr;
	const uint16_t *restrict colv = ps->col;
	const float *restrict valv = ps->val;
	const uint32_t tdim = ps->text_dim;
	float *restrict gt = tv->gt, *restrict g0 = nh > 0 ? tv->gw[0] : NULL,
	                *restrict g1 = nh > 1 ? tv->gw[1] : NULL,
	                *restrict g2 = nh > 2 ? tv->gw[2] : NULL,
	                *restrict g3 = nh > 3 ? tv->gw[3] : NULL;
	if (!gt && !g0 && !g1)
		return 0; /* no sparse gradient asked: nor a dense one */
	float *pg = gt ? gt : g0 ? g0 : g1;
	uint8_t *restrict mark = s->mark;
	uint32_t *restrict touched = s->touched;
	size_t nt = s->ntouched;
	if (gt && !g0 && !g1 && !g2 && !g3) { /* the text branch alone (nh == 0): the same
		                               * updates, fewer live pointers in the loop */
		for (size_t i = 0; i < n; i++) {
			size_t r = rows[i], a = rowptr[r], e = rowptr[r + 1];
			const float cti = s->ct[i];
			for (size_t k = a, hi = 0; k < e; k++) {
				float v = valv[k];
				uint32_t c;
				if (!entry_col(colv, v, k, &hi, &c))
					continue;
				if (k + PF < e)
					PREFETCH(&gt[pf_col(hi, colv[k + PF], tdim) * S]);
				touched[nt] = c;
				nt += (size_t)(mark[c] ^ 1);
				mark[c] = 1;
				gt[c * S] += cti * v;
			}
		}
		s->ntouched = nt;
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		size_t r = rows[i], a = rowptr[r], e = rowptr[r + 1];
		float cti = gt ? s->ct[i] : 0, c0 = g0 ? s->c[0][i] : 0, c1 = g1 ? s->c[1][i] : 0,
		      c2 = g2 ? s->c[2][i] : 0, c3 = g3 ? s->c[3][i] : 0;
		for (size_t k = a, hi = 0; k < e; k++) {
			float v = valv[k];
			uint32_t c;
			if (!entry_col(colv, v, k, &hi, &c))
				continue;
			if (k + PF < e)
				PREFETCH(&pg[pf_col(hi, colv[k + PF], tdim) * S]);
			touched[nt] = c; /* branch-free: kept only if c is new */
			nt += (size_t)(mark[c] ^ 1);
			mark[c] = 1;
			if (gt)
				gt[c * S] += cti * v;
			if (g0)
				g0[c * S] += c0 * v;
			if (g1)
				g1[c * S] += c1 * v;
			if (g2)
				g2[c * S] += c2 * v;
			if (g3)
				g3[c * S] += c3 * v;
		}
	}
	s->ntouched = nt;
	return 1;
}

/* The dense gradient dW_h of each head that has one (zero when no row has an image). */
static void batch_interaction_grads(size_t n, scratch *s, const tview *tv, int any_img)
{
	const eng_model *g = tv->geo;
	const uint32_t B = g ? g->B : 0, dv = g ? g->dv : 0;
	const int nh = tv->nh;
	for (int h = 0; h < nh; h++) {
		float *gW = tv->gW[h];
		if (!gW)
			continue;
		if (!any_img || s->sparse) {
			memset(gW, 0, sizeof(float) * B * dv);
			if (!any_img)
				continue;
			int avx = sp_avx2();
			for (size_t i = 0; i < n; i++) { /* gW_b += (G_ib c_i) v_i, nonzero b */
				const float *gi = s->G + i * B, *vi = s->V + i * dv;
				const uint32_t *nz = s->nzb + i * B;
				if (avx)
					sp_grad_avx2(gi, nz, s->nzn[i], s->c[h][i], gW, vi, dv);
				else
					sp_grad_c(gi, nz, s->nzn[i], s->c[h][i], gW, vi, dv);
			}
			continue;
		}
		for (size_t i = 0; i < n; i++) { /* CV (n, dv) = diag(c_h) V */
			const float *vi = s->V + i * dv;
			float *cvi = s->CV + i * dv, ci = s->c[h][i];
			for (uint32_t k = 0; k < dv; k++)
				cvi[k] = vi[k] * ci;
		}
		/* dW (B, dv) = G^T (B, n) * CV (n, dv); G is (n, B) row-major.
		 * cblas: RowMajor, Trans, NoTrans, M = B, N = dv, K = n, lda = B, ldb = dv, ldc =
		 * dv */
		eng_model_sgemm(CblasTrans, CblasNoTrans, (int)B, (int)dv, (int)n, s->G, (int)B,
		                s->CV, (int)dv, gW, (int)dv);
	}
}

/* batch() for the text branch alone with its gradient (nh == 0, tv->gt set; the text-only proxy
 * and its weighted re-fits): the forward pass, the loss and the backward pass of each row in one
 * visit of its entries, while they and their columns' records ({w, g, ...}: one cache line) are
 * still in L1. The same operations in the same order as the three separate steps (the weights do
 * not change within a batch; a row's gradient needs only its own margin), so the same bits. The
 * loss is summed only when obj is non-NULL (training reads no objective). */
static void batch_text(const eng_pairset *ps, const size_t *rows, size_t n, scratch *s,
                       const tview *tv, double obj[1 + MAXH])
{
	const size_t S = tv->stride;
	const size_t *restrict rowptr = ps->rowptr;
	const uint16_t *restrict colv = ps->col;
	const float *restrict valv = ps->val;
	const uint32_t tdim = ps->text_dim;
	const float *restrict wt = tv->wt;
	float *restrict gt = tv->gt;
	uint8_t *restrict mark = s->mark;
	uint32_t *restrict touched = s->touched;
	size_t nt = s->ntouched;
	double inv = 1.0 / (double)n, o0 = 0;
	for (size_t i = 0; i < n; i++) {
		size_t r = rows[i], a = rowptr[r], e = rowptr[r + 1];
		double st = 0;
		prefetch_row(ps, rows, n, i);
		for (size_t k = a, hi = 0; k < e; k++) {
			float v = valv[k];
			uint32_t c;
			if (!entry_col(colv, v, k, &hi, &c))
				continue;
			if (k + PF < e)
				PREFETCH(&wt[pf_col(hi, colv[k + PF], tdim) * S]);
			st += (double)wt[c * S] * v;
		}
		s->mt[i] = st;
		double rw = tv->roww ? (double)tv->roww[r] : 1.0, ri = rw * inv;
		if (obj)
			o0 += rw * eng_bt_loss(st);
		const float cti = (float)(eng_bt_dloss(st) * ri);
		s->ct[i] = cti;
		for (size_t k = a, hi = 0; k < e; k++) {
			float v = valv[k];
			uint32_t c;
			if (!entry_col(colv, v, k, &hi, &c))
				continue;
			touched[nt] = c;
			nt += (size_t)(mark[c] ^ 1);
			mark[c] = 1;
			gt[c * S] += cti * v;
		}
	}
	s->ntouched = nt;
	if (obj) {
		for (int q = 0; q <= MAXH; q++)
			obj[q] = 0;
		obj[0] = o0 * inv;
	}
}

/* batch_text for two text-only models at once (tv->wt, tv->wt2, each with its own row weights):
 * one visit of the entries serves both, and their two margin sums, independent, overlap. Each
 * model's operations are batch_text's, in its order, so each gets the bits it would alone. */
static void batch_text2(const eng_pairset *ps, const size_t *rows, size_t n, scratch *s,
                        const tview *tv)
{
	const size_t S = tv->stride;
	const size_t *restrict rowptr = ps->rowptr;
	const uint16_t *restrict colv = ps->col;
	const float *restrict valv = ps->val;
	const uint32_t tdim = ps->text_dim;
	const float *restrict wt = tv->wt, *restrict wu = tv->wt2;
	float *restrict gt = tv->gt, *restrict gu = tv->gt2;
	uint8_t *restrict mark = s->mark;
	uint32_t *restrict touched = s->touched;
	size_t nt = s->ntouched;
	double inv = 1.0 / (double)n;
	for (size_t i = 0; i < n; i++) {
		size_t r = rows[i], a = rowptr[r], e = rowptr[r + 1];
		double st = 0, su = 0;
		prefetch_row(ps, rows, n, i);
		for (size_t k = a, hi = 0; k < e; k++) {
			float v = valv[k];
			uint32_t c;
			if (!entry_col(colv, v, k, &hi, &c))
				continue;
			if (k + PF < e)
				PREFETCH(&wt[pf_col(hi, colv[k + PF], tdim) * S]);
			st += (double)wt[c * S] * v;
			su += (double)wu[c * S] * v;
		}
		double rw = tv->roww ? (double)tv->roww[r] : 1.0, ri = rw * inv;
		double ru = tv->roww2 ? (double)tv->roww2[r] : 1.0, rv = ru * inv;
		const float cti = (float)(eng_bt_dloss(st) * ri),
		            cui = (float)(eng_bt_dloss(su) * rv);
		for (size_t k = a, hi = 0; k < e; k++) {
			float v = valv[k];
			uint32_t c;
			if (!entry_col(colv, v, k, &hi, &c))
				continue;
			touched[nt] = c;
			nt += (size_t)(mark[c] ^ 1);
			mark[c] = 1;
			gt[c * S] += cti * v;
			gu[c * S] += cui * v;
		}
	}
	s->ntouched = nt;
}

/* Forward (margins into s->mm[h] / s->mt) and, when gradients are set, backward of
 * rows[0..n), n <= s->cap. Text gradients are ACCUMULATED (+=) at the batch's columns, which are
 * appended to s->touched; W gradients are OVERWRITTEN. Objectives (means over the batch, no L2):
 * obj[0] = mean L_t (text branch), obj[1 + h] = head h's term: standard mean L, shortcut-aware
 * mean(w_i L_i) (its total adds obj[0]); obj NULL when no caller reads them. In five steps: the
 * sparse forward pass, the interaction, the losses, the sparse backward pass, the interaction's
 * gradient (the text branch alone: batch_text). */
static void batch(const eng_pairset *ps, const size_t *rows, size_t n, scratch *s, const tview *tv,
                  double obj[1 + MAXH])
{
	if (tv->nh == 0 && tv->wt && tv->gt) {
		if (tv->wt2)
			batch_text2(ps, rows, n, s, tv); /* training only: no objective */
		else
			batch_text(ps, rows, n, s, tv, obj);
		return;
	}
	double unused[1 + MAXH];
	if (!obj)
		obj = unused;
	int any_img = batch_forward(ps, rows, n, s, tv);
	batch_interaction(n, s, tv, any_img);
	batch_losses(rows, n, s, tv, obj);
	if (batch_sparse_grads(ps, rows, n, s, tv))
		batch_interaction_grads(n, s, tv, any_img);
}

/* The params-block view of one model (stride 1); g (parameter layout) receives gradients if
 * non-NULL. */
static tview params_view(const eng_model *m, float *g)
{
	tview tv = {.stride = 1, .wt = m->wt, .roww = m->o.row_weight};
	if (m->w) {
		tv.nh = 1;
		tv.w[0] = m->w;
		tv.W[0] = m->W;
		tv.kind[0] = head_kind(m->o.method);
		tv.geo = m;
	}
	if (g) {
		tv.gt = m->wt ? g : NULL;
		if (m->w) {
			tv.gw[0] = g + (m->wt ? m->text_dim : 0);
			tv.gW[0] = g + (m->W - m->params);
		}
	}
	return tv;
}

/* ---- training -------------------------------------------------------------------------------- */

/* One Adam step of parameter *p with gradient gr; alpha is the bias-corrected step size and eh
 * the matching epsilon (eps * sqrt(1 - b2^t)). */
static inline void adam(float *p, float gr, float *mo, float *ve, float alpha, float eh)
{
	float mm = (float)ADAM_B1 * *mo + (float)(1 - ADAM_B1) * gr;
	float vv = (float)ADAM_B2 * *ve + (float)(1 - ADAM_B2) * gr * gr;
	*mo = mm;
	*ve = vv;
	*p -= alpha * mm / (sqrtf(vv) + eh);
}

/* One training pass of the methods in `methods` (see eng_model_train_multi); the L2 of method q's
 * interaction W is o->l2 * w_l2_mult[q]. */
/* The Adam step after batch t (1-based): lazy on the text columns the batch touched (their
 * records {w, g, m, v} in rec, S floats per column, nbr branches; gradients and marks cleared),
 * dense on each head's W when the training rows have images. */
static void adam_step(scratch *s, float *rec, size_t S, size_t nbr, eng_model *const *head_m,
                      int nh, int rows_img, const tview *tv, size_t nW,
                      const double w_l2_mult[ENG_METHOD_COUNT], const eng_train_opts *o, uint64_t t)
{
	const float l2 = o->l2;
	double bc1 = 1 - pow(ADAM_B1, (double)t), bc2 = 1 - pow(ADAM_B2, (double)t);
	float alpha = (float)(o->lr * sqrt(bc2) / bc1);
	float eh = (float)(ADAM_EPS * sqrt(bc2));
	for (size_t q = 0; q < s->ntouched; q++) { /* lazy Adam on text columns */
		uint32_t c = s->touched[q];
		float *r = rec + (size_t)c * S;
		if (q + PF < s->ntouched)
			PREFETCH(rec + (size_t)s->touched[q + PF] * S);
		for (size_t br = 0; br < nbr; br++, r += 4) { /* r: {w, g, m, v} */
			adam(&r[0], r[1] + l2 * r[0], &r[2], &r[3], alpha, eh);
			r[1] = 0;
		}
		s->mark[c] = 0;
	}
	for (int h = 0; h < nh && rows_img; h++) { /* dense Adam on W */
		float *W = head_m[h]->W, *gW = tv->gW[h], *mW = gW + nW, *vW = gW + 2 * nW;
		const float l2W = (float)(l2 * w_l2_mult[head_m[h]->o.method]);
		for (size_t k = 0; k < nW; k++)
			adam(&W[k], gW[k] + l2W * W[k], &mW[k], &vW[k], alpha, eh);
	}
}

/* Copies the trained text weights from the per-column records back into the models' params: the
 * text branch into every model with one (and the standard model when it aliases the text
 * branch), each head's into its model. */
static void weights_back(const float *rec, size_t S, uint32_t text_dim, int text_branch,
                         int std_alias, eng_model *const *md, eng_model *mst,
                         eng_model *const *head_m, int nh)
{
	for (uint32_t c = 0; c < text_dim; c++) {
		const float *r = rec + (size_t)c * S;
		if (text_branch) {
			for (int q = 0; q < ENG_METHOD_COUNT; q++)
				if (md[q] && md[q]->wt)
					md[q]->wt[c] = r[0];
			if (std_alias)
				mst->w[c] = r[0];
			r += 4;
		}
		for (int h = 0; h < nh; h++, r += 4)
			head_m[h]->w[c] = r[0];
	}
}

/* ENG_EINTERNAL when a trained model has a non-finite weight (it diverged), else 0. */
static int check_finite(eng_model *const *md, eng_err *err)
{
	int rc = 0;
	for (int q = 0; q < ENG_METHOD_COUNT && !rc; q++) {
		for (size_t k = 0; md[q] && k < md[q]->n_params; k++) {
			if (!isfinite(md[q]->params[k])) {
				rc = eng_err_set(
				    err, ENG_EINTERNAL,
				    "train: %s model diverged (non-finite weight); try a "
				    "smaller learning rate",
				    eng_method_name((eng_method)q));
				break;
			}
		}
	}
	return rc;
}

/* The training state of train_pass and eng_model_train_text_pair: the per-column records (S
 * floats a column, zeroed, 64-byte aligned) and the minibatch order (a copy of rows). 0, or
 * ENG_ENOMEM with both NULL. */
static int train_records(uint32_t text_dim, size_t S, const size_t *rows, size_t nrows, float **rec,
                         size_t **order, eng_err *err)
{
	size_t recb;
	*rec = NULL;
	*order = NULL;
	if (mul_ok((size_t)text_dim, S * sizeof(float), &recb) || recb > SIZE_MAX - 64)
		return eng_err_set(err, ENG_ENOMEM, "train: model too large");
	*rec = aligned_alloc(64, (recb + 63) / 64 * 64);
	*order = malloc(sizeof(size_t) * (nrows ? nrows : 1));
	if (!*rec || !*order) {
		free(*rec);
		free(*order);
		*rec = NULL;
		*order = NULL;
		return eng_err_set(err, ENG_ENOMEM, "train: out of memory (%u text columns)",
		                   text_dim);
	}
	memset(*rec, 0, recb);
	memcpy(*order, rows, sizeof(size_t) * nrows);
	return 0;
}

/* o->epochs passes over order[0..nrows) in minibatches of bs rows, the order shuffled before
 * each pass (Fisher-Yates on o->seed's stream), an Adam step after each batch (adam_step, with
 * its arguments). */
static void train_epochs(const eng_pairset *ps, size_t *order, size_t nrows, size_t bs, scratch *s,
                         const tview *tv, float *rec, size_t S, size_t nbr,
                         eng_model *const *head_m, int nh, int rows_img, size_t nW,
                         const double w_l2_mult[ENG_METHOD_COUNT], const eng_train_opts *o)
{
	eng_rng rng;
	eng_rng_seed(&rng, o->seed);
	uint64_t t = 0;
	for (int ep = 0; ep < o->epochs; ep++) {
		for (size_t i = nrows; i > 1; i--) { /* Fisher-Yates */
			size_t j = (size_t)eng_rng_below(&rng, i);
			size_t tmp = order[i - 1];
			order[i - 1] = order[j];
			order[j] = tmp;
		}
		for (size_t b0 = 0; b0 < nrows; b0 += bs) {
			size_t n = nrows - b0 < bs ? nrows - b0 : bs;
			s->ntouched = 0;
			batch(ps, order + b0, n, s, tv, NULL);
			t++;
			adam_step(s, rec, S, nbr, head_m, nh, rows_img, tv, nW, w_l2_mult, o, t);
		}
	}
}

static int train_pass(const eng_pairset *ps, const size_t *rows, size_t nrows,
                      const eng_train_opts *o, unsigned methods,
                      const double w_l2_mult[ENG_METHOD_COUNT], eng_model *out[ENG_METHOD_COUNT],
                      eng_err *err)
{
	assert(ps && o && out);
	for (int q = 0; q < ENG_METHOD_COUNT; q++)
		out[q] = NULL;
	if (methods == 0 || methods > ENG_METHODS_ALL)
		return eng_err_set(err, ENG_EINPUT, "train: no method selected (mask %u)", methods);
	eng_model *md[ENG_METHOD_COUNT] = {NULL};
	int rc = 0;
	for (int q = 0; q < ENG_METHOD_COUNT && !rc; q++) {
		if (!(methods & (1u << q)))
			continue;
		eng_train_opts oq = *o;
		oq.method = (eng_method)q;
		rc = eng_model_alloc(ps, rows, nrows, &oq, &md[q], err);
	}
	if (rc) {
		for (int q = 0; q < ENG_METHOD_COUNT; q++)
			eng_model_free(md[q]);
		return rc;
	}
	eng_model *mst = md[ENG_METHOD_STANDARD];
	int text_branch = 0;
	for (int q = 0; q < ENG_METHOD_COUNT; q++)
		text_branch |= md[q] && eng_method_has_text_branch((eng_method)q);
	/* Without any image among the training rows the standard MM-RM is the text-only model: v =
	 * 0 for every row, so W's gradient is 0 and W stays 0, and w follows exactly the text
	 * branch's updates (same batches, same loss). It then reuses the text branch bit for bit.
	 */
	int rows_img = 0; /* some training row has an image */
	for (size_t i = 0; i < nrows && !rows_img; i++)
		rows_img = ps->img_of[rows[i]] >= 0;
	int std_alias = mst && text_branch && !rows_img;
	/* Without images W's gradient is 0 at every step, so W and its Adam moments stay exactly 0:
	 * the dense Adam pass over W is skipped (rows_img == 0). */
	/* the heads: every MM method (JTT trains alone in its own pass, as a plain head) */
	eng_model *head_m[MAXH + 1];
	int nh = 0;
	for (int q = ENG_METHOD_STANDARD; q < ENG_METHOD_COUNT; q++)
		if (md[q] && !(q == ENG_METHOD_STANDARD && std_alias))
			head_m[nh++] = md[q];
	if (nh > MAXH) {
		for (int q = 0; q < ENG_METHOD_COUNT; q++)
			eng_model_free(md[q]);
		return eng_err_set(err, ENG_EINPUT, "train: at most %d MM methods in one pass",
		                   MAXH);
	}
	const size_t nbr = (size_t)text_branch + (size_t)nh;
	/* Per-column records {w, g, m, v} per branch (text branch first, then the heads), so a
	 * column's weights, gradients and Adam moments share a cache line: the sparse loops are
	 * bound by cache misses on random columns. Three branches are padded to 64 bytes. */
	const size_t S = nbr == 3 ? 16 : 4 * nbr;
	const eng_model *geo = nh ? head_m[0] : NULL;
	const uint32_t text_dim = ps->text_dim, B = geo ? geo->B : 0, dv = geo ? geo->dv : 0;
	const size_t nW = (size_t)B * dv;
	size_t bs = (size_t)o->batch < nrows ? (size_t)o->batch : nrows;
	scratch s;
	float *rec = NULL, *wstate = NULL;
	size_t *order = NULL;
	rc = scratch_alloc(&s, B, dv, text_dim, bs, 1, err);
	if (rc || (rc = train_records(text_dim, S, rows, nrows, &rec, &order, err)))
		goto done;
	if (nW && !(wstate = calloc(nW * (size_t)nh, 3 * sizeof(float)))) {
		rc = eng_err_set(err, ENG_ENOMEM, "train: out of memory (%u text columns)",
		                 text_dim);
		goto done;
	}
	tview tv = {.stride = S, .nh = nh, .geo = geo, .roww = o->row_weight};
	float *rb = rec;
	if (text_branch) {
		tv.wt = rb;
		tv.gt = rb + 1;
		rb += 4;
	}
	for (int h = 0; h < nh; h++, rb += 4) {
		tv.w[h] = rb;
		tv.gw[h] = rb + 1;
		tv.W[h] = head_m[h]->W;
		tv.gW[h] = wstate + (size_t)h * 3 * nW;
		tv.kind[h] = head_kind(head_m[h]->o.method);
	}
	train_epochs(ps, order, nrows, bs, &s, &tv, rec, S, nbr, head_m, nh, rows_img, nW,
	             w_l2_mult, o);
	weights_back(rec, S, text_dim, text_branch, std_alias, md, mst, head_m, nh);
	rc = check_finite(md, err);
done:
	scratch_free(&s);
	free(rec);
	free(wstate);
	free(order);
	for (int q = 0; q < ENG_METHOD_COUNT; q++) {
		if (rc)
			eng_model_free(md[q]);
		else
			out[q] = md[q];
	}
	return rc;
}

int eng_model_train_text_pair(const eng_pairset *ps, const size_t *rows, size_t nrows,
                              const eng_train_opts *o, const float *row_weight2, eng_model *out[2],
                              eng_err *err)
{
	assert(ps && o && out);
	out[0] = out[1] = NULL;
	eng_model *md[2] = {NULL, NULL};
	eng_train_opts oq = *o;
	oq.method = ENG_METHOD_TEXT;
	int rc = eng_model_alloc(ps, rows, nrows, &oq, &md[0], err);
	oq.row_weight = row_weight2;
	if (!rc)
		rc = eng_model_alloc(ps, rows, nrows, &oq, &md[1], err);
	/* the loop of train_pass with two text branches: records {w, g, m, v} of model 0 then of
	 * model 1 per column (32 bytes, half a cache line), the minibatches of o->seed */
	const size_t S = 8;
	const uint32_t text_dim = ps->text_dim;
	size_t bs = (size_t)o->batch < nrows ? (size_t)o->batch : nrows;
	scratch s;
	memset(&s, 0, sizeof s);
	float *rec = NULL;
	size_t *order = NULL;
	if (!rc)
		rc = scratch_alloc(&s, 0, 0, text_dim, bs, 1, err);
	if (!rc)
		rc = train_records(text_dim, S, rows, nrows, &rec, &order, err);
	if (!rc) {
		tview tv = {.stride = S,
		            .wt = rec,
		            .gt = rec + 1,
		            .wt2 = rec + 4,
		            .gt2 = rec + 5,
		            .roww = o->row_weight,
		            .roww2 = row_weight2};
		const double one[ENG_METHOD_COUNT] = {1, 1, 1, 1, 1, 1};
		train_epochs(ps, order, nrows, bs, &s, &tv, rec, S, 2, NULL, 0, 0, 0, one, o);
		eng_model *chk[ENG_METHOD_COUNT] = {NULL}; /* check_finite, one model at a time */
		for (int q = 0; q < 2 && !rc; q++) {
			for (uint32_t c = 0; c < text_dim; c++)
				md[q]->wt[c] = rec[(size_t)c * S + 4 * (size_t)q];
			chk[ENG_METHOD_TEXT] = md[q];
			rc = check_finite(chk, err);
		}
	}
	scratch_free(&s);
	free(rec);
	free(order);
	for (int q = 0; q < 2; q++) {
		if (rc)
			eng_model_free(md[q]);
		else
			out[q] = md[q];
	}
	return rc;
}

/* Mean BT loss of model m's margins (MM branch for SA) on rows[0..n). */
static int mean_loss(const eng_model *m, const eng_pairset *ps, const size_t *rows, size_t n,
                     float *mg, double *out)
{
	int rc = eng_model_margins(m, ps, rows, n, mg);
	double acc = 0;
	for (size_t i = 0; !rc && i < n; i++)
		acc += eng_bt_loss(mg[i]);
	*out = n ? acc / (double)n : 0;
	return rc;
}

/* The interaction guard (top of this file): fills w_l2_mult[q] for the MM methods in `methods`
 * (JTT, trained in a pass of its own, takes the standard MM-RM's decision: the same loss on the
 * same rows, only reweighted). Returns 0, ENG_ENOMEM, or a training error of the inner pass. */
static int interaction_guard(const eng_pairset *ps, const size_t *rows, size_t nrows,
                             const eng_train_opts *o, unsigned methods,
                             double w_l2_mult[ENG_METHOD_COUNT], eng_err *err)
{
	unsigned mm = methods & ENG_METHODS_ALL & ~(1u << ENG_METHOD_TEXT);
	if (mm & (1u << ENG_METHOD_JTT))
		mm = (mm & ~(1u << ENG_METHOD_JTT)) | (1u << ENG_METHOD_STANDARD);
	if (!mm || ps->n_img == 0)
		return 0;
	/* 0: image not in the training rows, 1: inner-training image, 2: validation image */
	uint8_t *side = calloc(ps->n_img, 1);
	size_t *split = malloc(sizeof(size_t) * (nrows ? nrows : 1));
	float *mg = malloc(sizeof(float) * (nrows ? nrows : 1));
	eng_model *tmp[ENG_METHOD_COUNT] = {NULL};
	int rc = 0;
	if (!side || !split || !mg) {
		rc = eng_err_set(err, ENG_ENOMEM, "train: out of memory");
		goto done;
	}
	eng_rng rng;
	eng_rng_seed(&rng, o->seed ^ 0x6D6D7167756172ULL); /* own stream: minibatches unchanged */
	size_t n_with = 0, n_img = 0, n_val_img = 0;
	for (size_t i = 0; i < nrows; i++) {
		int32_t im = ps->img_of[rows[i]];
		if (im < 0)
			continue;
		n_with++;
		if (side[im])
			continue;
		n_img++;
		side[im] = eng_rng_below(&rng, GUARD_VAL_FRAC) == 0 ? 2 : 1;
		n_val_img += side[im] == 2;
	}
	const double p = n_img ? (double)n_with / (double)n_img : 0;
	if (p <= 1.0 || n_val_img < GUARD_MIN_IMG || n_img - n_val_img < GUARD_MIN_IMG)
		goto done; /* one pair per image: nothing to memorize per image; or few images */
	size_t ni = 0, nv = 0; /* inner rows at the front, validation rows at the back */
	for (size_t i = 0; i < nrows; i++) {
		int32_t im = ps->img_of[rows[i]];
		if (im >= 0 && side[im] == 2)
			split[nrows - 1 - nv++] = rows[i];
		else
			split[ni++] = rows[i];
	}
	const double one[ENG_METHOD_COUNT] = {1, 1, 1, 1, 1, 1};
	rc = train_pass(ps, split, ni, o, mm | (1u << ENG_METHOD_TEXT), one, tmp, err);
	double lt = 0;
	if (!rc)
		rc = mean_loss(tmp[ENG_METHOD_TEXT], ps, split + ni, nv, mg, &lt);
	for (int q = ENG_METHOD_STANDARD; q < ENG_METHOD_COUNT && !rc; q++) {
		double lq = 0;
		if (!(mm & (1u << q)))
			continue;
		rc = mean_loss(tmp[q], ps, split + ni, nv, mg, &lq);
		if (!rc && lq > lt)
			w_l2_mult[q] = p * p;
	}
	if (methods & (1u << ENG_METHOD_JTT))
		w_l2_mult[ENG_METHOD_JTT] = w_l2_mult[ENG_METHOD_STANDARD];
	if (rc == ENG_ENOMEM && err)
		eng_err_set(err, ENG_ENOMEM, "train: out of memory (interaction guard)");
done:
	for (int q = 0; q < ENG_METHOD_COUNT; q++)
		eng_model_free(tmp[q]);
	free(side);
	free(split);
	free(mg);
	return rc;
}

/* JTT's second pass: the text proxy `text` (trained on rows) gives each training row right or
 * wrong; wrong rows weigh lambda (o->jtt_lambda, or n_right / n_wrong), right ones 1 (times any
 * caller weight), and the MM-RM is trained on those weights. */
static int train_jtt(const eng_pairset *ps, const size_t *rows, size_t nrows,
                     const eng_train_opts *o, const eng_model *text,
                     const double w_l2_mult[ENG_METHOD_COUNT], eng_model **out, eng_err *err)
{
	*out = NULL;
	float *mg = malloc(sizeof(float) * (nrows ? nrows : 1));
	float *jw = calloc(ps->n ? ps->n : 1, sizeof(float));
	if (!mg || !jw) {
		free(mg);
		free(jw);
		return eng_err_set(err, ENG_ENOMEM, "train: out of memory (jtt)");
	}
	int rc = eng_model_margins(text, ps, rows, nrows, mg);
	size_t wrong = 0;
	for (size_t i = 0; !rc && i < nrows; i++)
		wrong += !(mg[i] > 0);
	double lambda = o->jtt_lambda > 0 ? (double)o->jtt_lambda
	                : wrong           ? (double)(nrows - wrong) / (double)wrong
	                                  : 1.0;
	for (size_t i = 0; !rc && i < nrows; i++) {
		double base = o->row_weight ? (double)o->row_weight[rows[i]] : 1.0;
		jw[rows[i]] = (float)(base * (mg[i] > 0 ? 1.0 : lambda));
	}
	if (rc) {
		rc = eng_err_set(err, ENG_ENOMEM, "train: out of memory (jtt)");
	} else {
		eng_train_opts oj = *o;
		oj.row_weight = jw;
		eng_model *tmp[ENG_METHOD_COUNT];
		rc = train_pass(ps, rows, nrows, &oj, 1u << ENG_METHOD_JTT, w_l2_mult, tmp, err);
		if (!rc) {
			*out = tmp[ENG_METHOD_JTT];
			(*out)->o.row_weight = o->row_weight; /* jw dies here */
		}
	}
	free(mg);
	free(jw);
	return rc;
}

int eng_model_train_multi(const eng_pairset *ps, const size_t *rows, size_t nrows,
                          const eng_train_opts *o, unsigned methods,
                          eng_model *out[ENG_METHOD_COUNT], eng_err *err)
{
	assert(ps && o && out);
	for (int q = 0; q < ENG_METHOD_COUNT; q++)
		out[q] = NULL;
	if (methods == 0 || methods > ENG_METHODS_ALL)
		return eng_err_set(err, ENG_EINPUT, "train: no method selected (mask %u)", methods);
	double mult[ENG_METHOD_COUNT] = {1, 1, 1, 1, 1, 1};
	int valid = 1, rc = 0;
	for (size_t i = 0; i < nrows && valid; i++) /* validated again by eng_model_alloc */
		valid = rows[i] < ps->n &&
		        (ps->img_of[rows[i]] < 0 || (size_t)ps->img_of[rows[i]] < ps->n_img);
	if (valid && (rc = interaction_guard(ps, rows, nrows, o, methods, mult, err)))
		return rc;
	const unsigned jtt = methods & (1u << ENG_METHOD_JTT);
	unsigned first = methods & ~jtt;
	if (jtt) /* JTT needs the text proxy of the first pass */
		first |= 1u << ENG_METHOD_TEXT;
	if ((rc = train_pass(ps, rows, nrows, o, first, mult, out, err)))
		return rc;
	if (jtt) {
		rc = train_jtt(ps, rows, nrows, o, out[ENG_METHOD_TEXT], mult, &out[ENG_METHOD_JTT],
		               err);
		if (!(methods & (1u << ENG_METHOD_TEXT))) {
			eng_model_free(out[ENG_METHOD_TEXT]);
			out[ENG_METHOD_TEXT] = NULL;
		}
		if (rc) {
			for (int q = 0; q < ENG_METHOD_COUNT; q++) {
				eng_model_free(out[q]);
				out[q] = NULL;
			}
		}
	}
	return rc;
}

int eng_model_train(const eng_pairset *ps, const size_t *rows, size_t nrows,
                    const eng_train_opts *o, eng_model **out, eng_err *err)
{
	assert(out && o);
	*out = NULL;
	int rc = check_opts(o, err);
	if (rc)
		return rc;
	eng_model *all[ENG_METHOD_COUNT];
	rc = eng_model_train_multi(ps, rows, nrows, o, 1u << o->method, all, err);
	if (!rc)
		*out = all[o->method];
	return rc;
}

/* ---- inference ------------------------------------------------------------------------------- */

static int margins(const eng_model *m, const eng_pairset *ps, const size_t *rows,
                   const int32_t *img, size_t n, float *out, int text_branch, eng_err *err)
{
	if (n == 0)
		return 0;
	assert(ps->text_dim == m->text_dim);
	for (size_t i = 0; i < n; i++) {
		assert(rows[i] < ps->n);
		assert(!m->w || ps->img_of[rows[i]] < 0 || (size_t)ps->img_of[rows[i]] < ps->n_img);
		assert(!m->w || !img || img[i] < 0 || (size_t)img[i] < ps->n_img);
		assert(!m->w || ps->img_dim == m->img_dim);
		assert(ps->text_dim - ps->dense_dim == m->dense_begin);
	}
	size_t bs = (size_t)m->o.batch < n ? (size_t)m->o.batch : n;
	scratch s;
	int rc = scratch_alloc(&s, m->B, m->dv, m->text_dim, bs, 0, err);
	if (rc)
		return rc;
	double obj[1 + MAXH];
	tview tv = params_view(m, NULL);
	tv.roww = NULL; /* the training weights play no part in a margin */
	for (size_t b0 = 0; b0 < n; b0 += bs) {
		size_t k = n - b0 < bs ? n - b0 : bs;
		tv.img = img ? img + b0 : NULL;
		batch(ps, rows + b0, k, &s, &tv, obj);
		const double *src = text_branch ? s.mt : s.mm[0];
		for (size_t i = 0; i < k; i++)
			out[b0 + i] = (float)src[i];
	}
	scratch_free(&s);
	return 0;
}

int eng_model_margins(const eng_model *m, const eng_pairset *ps, const size_t *rows, size_t n,
                      float *out)
{
	assert(m && ps && (n == 0 || (rows && out)));
	return margins(m, ps, rows, NULL, n, out, m->w == NULL, NULL);
}

int eng_model_margins_img(const eng_model *m, const eng_pairset *ps, const size_t *rows,
                          const int32_t *img, size_t n, float *out)
{
	assert(m && ps && (n == 0 || (rows && img && out)));
	return margins(m, ps, rows, m->w ? img : NULL, n, out, m->w == NULL, NULL);
}

int eng_model_text_margins(const eng_model *m, const eng_pairset *ps, const size_t *rows, size_t n,
                           float *out)
{
	if (!m->wt)
		return ENG_EINPUT;
	return margins(m, ps, rows, NULL, n, out, 1, NULL);
}

int eng_model_objective(const eng_model *m, const eng_pairset *ps, const size_t *rows, size_t n,
                        double *obj, float *grad, eng_err *err)
{
	assert(m && ps && rows && n > 0 && obj);
	scratch s;
	int rc = scratch_alloc(&s, m->B, m->dv, m->text_dim, n, grad != NULL, err);
	if (rc)
		return rc;
	if (grad)
		memset(grad, 0, sizeof(float) * m->n_params);
	tview tv = params_view(m, grad);
	double o3[1 + MAXH];
	batch(ps, rows, n, &s, &tv, o3);
	/* methods with a detached text branch also train it: their objective adds mean L_t */
	*obj = m->o.method == ENG_METHOD_TEXT ? o3[0] : m->wt ? o3[1] + o3[0] : o3[1];
	scratch_free(&s);
	return 0;
}
