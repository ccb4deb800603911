/* test_model.c - Bradley-Terry models: gradients (finite differences against a double-precision
 * reference), GEMM against a naive kernel, known-answer tests on generated data, determinism. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <cmocka.h>

#include "imgfeat.h"
#include "metrics.h"
#include "model.h"
#include "model_internal.h"
#include "pairset.h"
#include "textfeat.h"
#include "trainjobs.h"
#include "textfeat_internal.h"

/* ---- finite-difference gradient checks ------------------------------------------------------- */

/* A small random pairset: n rows of 6 entries in [-1, 1] over text_dim columns, images of
 * img_dim uniform features; a quarter of the pairs have no image. */
static void random_set(eng_pairset *ps, size_t n, uint32_t text_dim, uint32_t img_dim, size_t n_img,
                       uint64_t seed)
{
	eng_err err = {0};
	eng_rng r;
	eng_rng_seed(&r, seed);
	assert_int_equal(eng_pairset_init(ps, text_dim, img_dim, &err), 0);
	for (size_t i = 0; i < n; i++) {
		uint32_t c[6];
		float v[6];
		for (int k = 0; k < 6; k++) {
			c[k] = (uint32_t)eng_rng_below(&r, text_dim);
			v[k] = (float)(2 * eng_rng_uniform(&r) - 1);
		}
		int32_t im = eng_rng_below(&r, 4) == 0 ? -1 : (int32_t)eng_rng_below(&r, n_img);
		assert_int_equal(eng_pairset_add_row(ps, c, v, 6, im, &err), 0);
	}
	float *img = malloc(sizeof(float) * n_img * img_dim);
	assert_non_null(img);
	for (size_t i = 0; i < n_img * img_dim; i++)
		img[i] = (float)(4 * eng_rng_uniform(&r) - 2);
	assert_int_equal(eng_pairset_set_images(ps, img, n_img, &err), 0);
	free(img);
}

/* The objective of model.c written out naively in double precision for parameters p (layout of
 * m->params). wdet: the detached shortcut-aware weights to use (NULL: computed from p, i.e. NOT
 * detached); wout: if non-NULL receives the weights computed at p. */
static const float *ref_row_weight; /* per-row loss weights of the reference (NULL: 1) */

static double ref_objective(const eng_model *m, const double *p, const eng_pairset *ps,
                            const size_t *rows, size_t n, const double *wdet, double *wout)
{
	const double *wt = m->wt ? p + (m->wt - m->params) : NULL;
	const double *w = m->w ? p + (m->w - m->params) : NULL;
	const double *W = m->W ? p + (m->W - m->params) : NULL;
	double obj = 0;
	for (size_t i = 0; i < n; i++) {
		size_t r = rows[i];
		double mt = 0, mm = 0;
		double v[64] = {0};
		assert_true(m->dv <= 64);
		if (w && ps->img_of[r] >= 0) {
			const float *x = ps->img + (size_t)ps->img_of[r] * ps->img_dim;
			for (uint32_t k = 0; k < m->img_dim; k++) {
				double z = ((double)x[k] - m->img_mean[k]) * m->img_istd[k];
				v[k] = fmax(-ENG_MODEL_IMG_CLIP, fmin(ENG_MODEL_IMG_CLIP, z));
			}
			v[m->img_dim] = 1;
		}
		for (eng_pairset_iter it = eng_pairset_row(ps, r); eng_pairset_next(&it);) {
			uint32_t c = it.c;
			double d = it.v;
			if (wt)
				mt += wt[c] * d;
			if (w) {
				mm += w[c] * d;
				const double *Wb = W + (size_t)eng_model_fold(c, m->B) * m->dv;
				for (uint32_t j = 0; j < m->dv; j++)
					mm += d * Wb[j] * v[j];
			}
		}
		double rw = ref_row_weight ? (double)ref_row_weight[r] : 1.0;
		switch (m->o.method) {
		case ENG_METHOD_TEXT:
			obj += rw * eng_bt_loss(mt);
			break;
		case ENG_METHOD_STANDARD:
		case ENG_METHOD_JTT: /* its second pass: a plain MM loss on (JTT) row weights */
			obj += rw * eng_bt_loss(mm);
			break;
		case ENG_METHOD_POE: /* L(m + m_t) with m_t detached (wdet[i] holds m_t), + L_t */
		{
			double mtd = wdet ? wdet[i] : mt;
			if (wout)
				wout[i] = mt;
			obj += rw * (eng_bt_loss(mm + mtd) + eng_bt_loss(mt));
			break;
		}
		case ENG_METHOD_DEBIAS: /* (1 - sigmoid(m_t)) L(m), the weight detached, + L_t */
		{
			double wi = wdet ? wdet[i] : 1.0 / (1.0 + exp(mt));
			if (wout)
				wout[i] = wi;
			obj += rw * (wi * eng_bt_loss(mm) + eng_bt_loss(mt));
			break;
		}
		case ENG_METHOD_COUNT:
			break;
		case ENG_METHOD_SHORTCUT_AWARE: {
			double lt = eng_bt_loss(mt), l = eng_bt_loss(mm);
			double wi = wdet ? wdet[i] : eng_sa_weight(lt, l);
			if (wout)
				wout[i] = wi;
			obj += rw * (wi * l + lt);
			break;
		}
		}
	}
	return obj / (double)n;
}

/* Gradient check tolerance: |analytic - fd| <= FD_REL * |fd| + FD_ABS (analytic in float,
 * fd = central difference with step 1e-3 of the double reference). */
#define FD_REL 1e-2
#define FD_ABS 1e-5

static void gradcheck_w(eng_method method, int weighted)
{
	eng_pairset ps;
	random_set(&ps, 40, 50, 5, 10, 11);
	size_t rows[40];
	float rw[40];
	for (size_t i = 0; i < 40; i++) {
		rows[i] = i;
		rw[i] = (float)((i * 37 % 11) / 5.0); /* 0 .. 2, some rows weight 0 */
	}
	eng_train_opts o;
	eng_train_opts_default(&o);
	o.method = method;
	o.fold_buckets = 7;
	o.row_weight = weighted ? rw : NULL;
	ref_row_weight = o.row_weight;
	eng_model *m = NULL;
	eng_err err = {0};
	assert_int_equal(eng_model_alloc(&ps, rows, 40, &o, &m, &err), 0);
	eng_rng r;
	eng_rng_seed(&r, 5);
	for (size_t k = 0; k < m->n_params; k++)
		m->params[k] = (float)(eng_rng_uniform(&r) - 0.5);
	double *p = malloc(sizeof(double) * m->n_params);
	float *g = malloc(sizeof(float) * m->n_params);
	double wdet[40];
	assert_non_null(p);
	assert_non_null(g);
	for (size_t k = 0; k < m->n_params; k++)
		p[k] = m->params[k];
	double obj;
	assert_int_equal(eng_model_objective(m, &ps, rows, 40, &obj, g, &err), 0);
	double ref = ref_objective(m, p, &ps, rows, 40, NULL, wdet);
	assert_true(fabs(obj - ref) <= 1e-5 * fmax(1, fabs(ref)));
	size_t checked = 0, nonzero = 0, undetached_differs = 0;
	const double h = 1e-3;
	for (size_t k = 0; k < m->n_params; k++) {
		double keep = p[k];
		p[k] = keep + h;
		double fp = ref_objective(m, p, &ps, rows, 40, wdet, NULL);
		double up = ref_objective(m, p, &ps, rows, 40, NULL, NULL);
		p[k] = keep - h;
		double fm = ref_objective(m, p, &ps, rows, 40, wdet, NULL);
		double um = ref_objective(m, p, &ps, rows, 40, NULL, NULL);
		p[k] = keep;
		double fd = (fp - fm) / (2 * h), ufd = (up - um) / (2 * h);
		if (fabs(g[k] - fd) > FD_REL * fabs(fd) + FD_ABS)
			fail_msg("%s: param %zu analytic %.8g fd %.8g", eng_method_name(method), k,
			         (double)g[k], fd);
		checked++;
		nonzero += fabs(fd) > 1e-4;
		undetached_differs += fabs(g[k] - ufd) > FD_REL * fabs(ufd) + FD_ABS;
	}
	assert_int_equal(checked, m->n_params);
	assert_true(nonzero > m->n_params / 4); /* the check is not vacuous */
	if (method == ENG_METHOD_SHORTCUT_AWARE || method == ENG_METHOD_POE ||
	    method == ENG_METHOD_DEBIAS)
		assert_true(undetached_differs > 0); /* the weights really are held constant */
	else
		assert_int_equal(undetached_differs, 0);
	if (method != ENG_METHOD_TEXT) { /* W got a real gradient */
		size_t offW = (size_t)(m->W - m->params), nzW = 0;
		for (size_t k = offW; k < m->n_params; k++)
			nzW += fabsf(g[k]) > 1e-4f;
		assert_true(nzW > (m->n_params - offW) / 2);
	}
	if (weighted) { /* the weights change the objective: not vacuous */
		ref_row_weight = NULL;
		double unw = ref_objective(m, p, &ps, rows, 40, NULL, NULL);
		assert_true(fabs(unw - ref) > 1e-3);
	}
	ref_row_weight = NULL;
	free(p);
	free(g);
	eng_model_free(m);
	eng_pairset_free(&ps);
}

/* Each check in every form of the interaction (model.c: sparse batches over G's nonzero buckets,
 * with the AVX2 or the portable kernels, dense ones by sgemm): the same objective and gradient. */
static void gradcheck_both(eng_method method, int weighted)
{
	for (int form = ENG_MODEL_INTERACTION_SPARSE; form <= ENG_MODEL_INTERACTION_SPARSE_PORTABLE;
	     form++) {
		eng_model_interaction_form = form;
		gradcheck_w(method, weighted);
	}
	eng_model_interaction_form = ENG_MODEL_INTERACTION_AUTO;
}

static void gradcheck(eng_method method)
{
	gradcheck_both(method, 0);
}

/* Per-pair loss weights (eng_train_opts.row_weight): the objective and gradient of every method
 * against the weighted double-precision reference. */
static void test_model_gradient_weighted(void **state)
{
	(void)state;
	for (int m = 0; m < ENG_METHOD_COUNT; m++)
		gradcheck_both((eng_method)m, 1);
}

/* The debiasing methods (product of experts, debias reweighting; JTT's pass is a standard MM
 * loss on row weights, checked by the weighted test): objective and gradient against the double
 * reference, the text branch's part held constant where the method detaches it. */
static void test_model_gradient_debiasing(void **state)
{
	(void)state;
	gradcheck(ENG_METHOD_POE);
	gradcheck(ENG_METHOD_DEBIAS);
	gradcheck(ENG_METHOD_JTT);
}

static void test_model_gradient_text(void **state)
{
	(void)state;
	gradcheck(ENG_METHOD_TEXT);
}

static void test_model_gradient_mm(void **state)
{
	(void)state;
	gradcheck(ENG_METHOD_STANDARD);
}

static void test_model_gradient_shortcut_aware(void **state)
{
	(void)state;
	gradcheck(ENG_METHOD_SHORTCUT_AWARE);
}

static void test_model_losses_stable(void **state)
{
	(void)state;
	assert_float_equal(eng_bt_loss(0), log(2.0), 1e-12);
	assert_float_equal(eng_bt_loss(800), 0, 1e-300);
	assert_float_equal(eng_bt_loss(-800), 800, 1e-9);
	assert_float_equal(eng_bt_loss(3), log1p(exp(-3.0)), 1e-15);
	assert_float_equal(eng_sa_weight(0, 0), 0.5e-7, 1e-12);
	assert_float_equal(eng_sa_weight(1, 3), 0.5e-7 + 1 / (1e-7 + 4), 1e-12);
}

/* ---- GEMM ------------------------------------------------------------------------------------ */

/* C = alpha op(A) op(B) + beta C, row-major, double accumulation. op(A) is (M, K), op(B) (K, N). */
static void naive_sgemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                        const float *B, int ldb, float beta, float *C, int ldc)
{
	for (int i = 0; i < M; i++) {
		for (int j = 0; j < N; j++) {
			double s = 0;
			for (int k = 0; k < K; k++) {
				double a = ta ? A[k * lda + i] : A[i * lda + k];
				double b = tb ? B[j * ldb + k] : B[k * ldb + j];
				s += a * b;
			}
			C[i * ldc + j] = (float)(alpha * s + beta * C[i * ldc + j]);
		}
	}
}

static void test_model_gemm_matches_naive(void **state)
{
	(void)state;
	static const int shapes[][3] = {{37, 29, 13}, {1, 5, 3}, {64, 129, 7}, {3, 1, 200}};
	eng_rng r;
	eng_rng_seed(&r, 3);
	for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
		int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
		/* the two forms model.c uses: (NoTrans, Trans) and (Trans, NoTrans) */
		for (int form = 0; form < 2; form++) {
			int ta = form == 1, tb = form == 0;
			int lda = ta ? M : K, ldb = tb ? K : N;
			float *A = malloc(sizeof(float) * (size_t)M * K);
			float *B = malloc(sizeof(float) * (size_t)K * N);
			float *C1 = malloc(sizeof(float) * (size_t)M * N);
			float *C2 = malloc(sizeof(float) * (size_t)M * N);
			for (int i = 0; i < M * K; i++)
				A[i] = (float)(2 * eng_rng_uniform(&r) - 1);
			for (int i = 0; i < K * N; i++)
				B[i] = (float)(2 * eng_rng_uniform(&r) - 1);
			for (int i = 0; i < M * N; i++)
				C1[i] = C2[i] = (float)(2 * eng_rng_uniform(&r) - 1);
			naive_sgemm(ta, tb, M, N, K, 1.5f, A, lda, B, ldb, 0.5f, C1, N);
			cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
			            tb ? CblasTrans : CblasNoTrans, M, N, K, 1.5f, A, lda, B, ldb,
			            0.5f, C2, N);
			for (int i = 0; i < M * N; i++)
				assert_float_equal(C1[i], C2[i], 1e-5 * (K + 1));
			free(A);
			free(B);
			free(C1);
			free(C2);
		}
	}
}

/* ---- known-answer tests ---------------------------------------------------------------------- */

static const char *pick_filler(eng_rng *r, char *buf, size_t cap, int vocab)
{
	snprintf(buf, cap, "f%d", (int)eng_rng_below(r, (uint64_t)vocab));
	return buf;
}

/* Random answer of nw filler words, with word `marker` inserted at a random place if non-NULL. */
static void answer(eng_rng *r, char *out, size_t cap, int nw, const char *marker)
{
	size_t at = marker ? (size_t)eng_rng_below(r, (uint64_t)nw + 1) : SIZE_MAX, len = 0;
	out[0] = '\0';
	for (int i = 0; i <= nw; i++) {
		char w[16];
		const char *t = NULL;
		if ((size_t)i == at)
			t = marker;
		else if (i < nw)
			t = pick_filler(r, w, sizeof w, 500);
		if (!t)
			continue;
		len += (size_t)snprintf(out + len, cap - len, "%s%s", len ? " " : "", t);
		assert_true(len < cap);
	}
}

static double accuracy(const float *mg, size_t n)
{
	size_t ok = 0;
	for (size_t i = 0; i < n; i++)
		ok += mg[i] > 0;
	return (double)ok / (double)n;
}

/* 8000 training + 2000 held-out pairs: the held-out accuracy has a binomial standard error of
 * ~0.9 points, well inside the 3-point tolerance. */
enum { KA_PAIRS = 10000 };

static void test_model_known_answer_text_marker(void **state)
{
	(void)state;
	const double P = 0.8;
	eng_err err = {0};
	eng_textfeat *tf = NULL;
	assert_int_equal(eng_textfeat_new(NULL, &tf, &err), 0);
	eng_pairset ps;
	assert_int_equal(eng_pairset_init(&ps, eng_textfeat_dim(tf), 0, &err), 0);
	eng_rng r;
	eng_rng_seed(&r, 2024);
	const size_t n = KA_PAIRS, ntr = n * 4 / 5;
	size_t test_marker_chosen = 0;
	for (size_t i = 0; i < n; i++) {
		char c[512], j[512];
		int on_chosen = eng_rng_uniform(&r) < P;
		answer(&r, c, sizeof c, 15 + (int)eng_rng_below(&r, 11),
		       on_chosen ? "splendid" : NULL);
		answer(&r, j, sizeof j, 15 + (int)eng_rng_below(&r, 11),
		       on_chosen ? NULL : "splendid");
		assert_int_equal(eng_textfeat_add_pair(tf, &ps, "say something", c, j, -1, &err),
		                 0);
		if (i >= ntr)
			test_marker_chosen += (size_t)on_chosen;
	}
	size_t *rows = malloc(sizeof(size_t) * n);
	float *mg = malloc(sizeof(float) * n);
	for (size_t i = 0; i < n; i++)
		rows[i] = i;
	eng_train_opts o;
	eng_train_opts_default(&o);
	eng_model *m = NULL;
	assert_int_equal(eng_model_train(&ps, rows, ntr, &o, &m, &err), 0);
	assert_int_equal(eng_model_margins(m, &ps, rows + ntr, n - ntr, mg), 0);
	double acc = accuracy(mg, n - ntr), emp = (double)test_marker_chosen / (double)(n - ntr);
	double ll = 0;
	for (size_t i = 0; i < n - ntr; i++)
		ll += eng_bt_loss(mg[i]);
	/* calibration: held-out log loss near the Bayes loss of a P/(1-P) coin */
	double bayes = -(P * log(P) + (1 - P) * log(1 - P));
	ll /= (double)(n - ntr);
	print_message("# marker: held-out log loss %.4f (Bayes %.4f)\n", ll, bayes);
	assert_true(ll <= bayes + 0.03);
	print_message("# marker P=%.2f: held-out text accuracy %.4f (marker on chosen in %.4f)\n",
	              P, acc, emp);
	assert_true(fabs(acc - P) <= 0.03);
	/* the marker's bucket is the strongest text feature, named after the marker */
	const float *w = eng_model_text_weights(m);
	uint32_t best = 0;
	for (uint32_t c = 1; c < ps.text_dim; c++)
		if (fabsf(w[c]) > fabsf(w[best]))
			best = c;
	uint32_t mb;
	int ms;
	eng_textfeat_bucket_of(tf, eng_fnv1a64("splendid", 8), &mb, &ms);
	assert_int_equal(best, mb);
	char buf[128];
	assert_string_equal(eng_textfeat_name(tf, best, buf, sizeof buf), "word 'splendid'");
	assert_true(w[best] * (float)eng_textfeat_sign(tf, best) > 0); /* it favours "chosen" */
	eng_model_free(m);
	free(rows);
	free(mg);
	eng_pairset_free(&ps);
	eng_textfeat_free(tf);
}

static const struct {
	const char *name;
	uint8_t rgb[3];
} colours[] = {
    {"red", {230, 20, 20}},     {"green", {20, 200, 40}}, {"blue", {30, 30, 220}},
    {"yellow", {240, 230, 30}}, {"cyan", {30, 220, 230}}, {"magenta", {220, 30, 210}},
};
enum { NCOL = sizeof colours / sizeof colours[0] };

/* Colour pairs: the answer naming the image's colour is chosen, another colour rejected, plus 3
 * random filler words on each side. Images 0..n_img*4/5 are the training images. Returns the
 * number of training rows; rows[] lists training rows first, then test rows. */
static size_t colour_set(eng_pairset *ps, eng_textfeat *tf, size_t n, size_t n_img, size_t *rows)
{
	eng_err err = {0};
	eng_rng r;
	eng_rng_seed(&r, 77);
	int dim = eng_imgfeat_dim();
	assert_int_equal(eng_pairset_init(ps, eng_textfeat_dim(tf), (uint32_t)dim, &err), 0);
	float *feat = malloc(sizeof(float) * n_img * (size_t)dim);
	int *col_of = malloc(sizeof(int) * n_img);
	uint8_t px[16 * 16 * 3];
	for (size_t i = 0; i < n_img; i++) {
		int c = (int)eng_rng_below(&r, NCOL);
		col_of[i] = c;
		for (int k = 0; k < 16 * 16 * 3; k++) {
			int v = colours[c].rgb[k % 3] + (int)eng_rng_below(&r, 61) - 30;
			px[k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
		}
		eng_imgfeat_compute(px, 16, 16, feat + i * (size_t)dim);
	}
	assert_int_equal(eng_pairset_set_images(ps, feat, n_img, &err), 0);
	size_t ntr = 0, nte = 0, img_tr = n_img * 4 / 5;
	for (size_t i = 0; i < n; i++) {
		size_t im = (size_t)eng_rng_below(&r, n_img);
		int c = col_of[im];
		int o = (c + 1 + (int)eng_rng_below(&r, NCOL - 1)) % NCOL;
		char a[128], b[128], w1[16], w2[16], w3[16];
		snprintf(a, sizeof a, "the image is %s %s %s %s", colours[c].name,
		         pick_filler(&r, w1, sizeof w1, 200), pick_filler(&r, w2, sizeof w2, 200),
		         pick_filler(&r, w3, sizeof w3, 200));
		snprintf(b, sizeof b, "the image is %s %s %s %s", colours[o].name,
		         pick_filler(&r, w1, sizeof w1, 200), pick_filler(&r, w2, sizeof w2, 200),
		         pick_filler(&r, w3, sizeof w3, 200));
		assert_int_equal(eng_textfeat_add_pair(tf, ps, "what colour is the image?", a, b,
		                                       (int32_t)im, &err),
		                 0);
		if (im < img_tr)
			rows[ntr++] = i;
		else
			rows[n - 1 - nte++] = i;
	}
	free(feat);
	free(col_of);
	return ntr;
}

static void test_model_known_answer_image_decides(void **state)
{
	(void)state;
	eng_err err = {0};
	eng_textfeat *tf = NULL;
	assert_int_equal(eng_textfeat_new(NULL, &tf, &err), 0);
	eng_pairset ps;
	const size_t n = KA_PAIRS;
	size_t *rows = malloc(sizeof(size_t) * n);
	float *mg = malloc(sizeof(float) * n);
	size_t ntr = colour_set(&ps, tf, n, n / 5, rows);
	assert_true(ntr > n / 2 && ntr < n);
	double acc[3];
	for (int meth = 0; meth < 3; meth++) {
		eng_train_opts o;
		eng_train_opts_default(&o);
		o.method = (eng_method)meth;
		eng_model *m = NULL;
		assert_int_equal(eng_model_train(&ps, rows, ntr, &o, &m, &err), 0);
		assert_int_equal(eng_model_margins(m, &ps, rows + ntr, n - ntr, mg), 0);
		acc[meth] = accuracy(mg, n - ntr);
		print_message("# image decides: held-out %s accuracy %.4f\n",
		              eng_method_name((eng_method)meth), acc[meth]);
		eng_model_free(m);
	}
	assert_true(acc[ENG_METHOD_TEXT] >= 0.45 && acc[ENG_METHOD_TEXT] <= 0.55);
	assert_true(acc[ENG_METHOD_STANDARD] >= 0.95);
	assert_true(acc[ENG_METHOD_SHORTCUT_AWARE] >= 0.90);
	free(rows);
	free(mg);
	eng_pairset_free(&ps);
	eng_textfeat_free(tf);
}

/* The counterfactual margins (eng_model_margins_img) of an MM-RM trained where the image decides:
 * with each row's own image they equal eng_model_margins bit for bit; with another image of a
 * different colour the held-out accuracy falls to chance or below; ENG_MODEL_IMG_MEAN equals
 * scoring with an image whose features are the training mean (an extra image row appended here);
 * a text-only model ignores the images. */
static void test_model_margins_img(void **state)
{
	(void)state;
	eng_err err = {0};
	eng_textfeat *tf = NULL;
	assert_int_equal(eng_textfeat_new(NULL, &tf, &err), 0);
	eng_pairset ps;
	const size_t n = 4000;
	size_t *rows = malloc(sizeof(size_t) * n);
	size_t ntr = colour_set(&ps, tf, n, n / 5, rows);
	size_t nte = n - ntr;
	const size_t *te = rows + ntr;
	float *m0 = malloc(sizeof(float) * nte), *m1 = malloc(sizeof(float) * nte),
	      *m2 = malloc(sizeof(float) * nte), *m3 = malloc(sizeof(float) * nte);
	int32_t *img = malloc(sizeof(int32_t) * nte);
	eng_train_opts o;
	eng_train_opts_default(&o);
	o.method = ENG_METHOD_STANDARD;
	eng_model *m = NULL;
	assert_int_equal(eng_model_train(&ps, rows, ntr, &o, &m, &err), 0);
	assert_int_equal(eng_model_margins(m, &ps, te, nte, m0), 0);
	for (size_t i = 0; i < nte; i++)
		img[i] = ps.img_of[te[i]];
	assert_int_equal(eng_model_margins_img(m, &ps, te, img, nte, m1), 0);
	assert_memory_equal(m0, m1, sizeof(float) * nte);
	double acc = accuracy(m0, nte);
	/* swap: the image of the test pair i + 1 (another random colour) */
	for (size_t i = 0; i < nte; i++)
		img[i] = ps.img_of[te[(i + 1) % nte]];
	assert_int_equal(eng_model_margins_img(m, &ps, te, img, nte, m1), 0);
	double acc_swap = accuracy(m1, nte);
	print_message("# margins_img: held-out accuracy %.4f, with swapped images %.4f\n", acc,
	              acc_swap);
	assert_true(acc >= 0.95);
	assert_true(acc_swap <= 0.6);
	/* blank = an image whose raw features are the training mean */
	float *feat = malloc(sizeof(float) * (ps.n_img + 1) * ps.img_dim);
	memcpy(feat, ps.img, sizeof(float) * ps.n_img * ps.img_dim);
	memcpy(feat + ps.n_img * ps.img_dim, m->img_mean, sizeof(float) * ps.img_dim);
	size_t nimg = ps.n_img;
	assert_int_equal(eng_pairset_set_images(&ps, feat, nimg + 1, &err), 0);
	for (size_t i = 0; i < nte; i++)
		img[i] = ENG_MODEL_IMG_MEAN;
	assert_int_equal(eng_model_margins_img(m, &ps, te, img, nte, m2), 0);
	for (size_t i = 0; i < nte; i++)
		img[i] = (int32_t)nimg;
	assert_int_equal(eng_model_margins_img(m, &ps, te, img, nte, m3), 0);
	for (size_t i = 0; i < nte; i++)
		assert_true(fabsf(m2[i] - m3[i]) <= 1e-4f * (1 + fabsf(m3[i])));
	/* -1: text terms only, differs from the blank image (W's constant column) */
	for (size_t i = 0; i < nte; i++)
		img[i] = -1;
	assert_int_equal(eng_model_margins_img(m, &ps, te, img, nte, m3), 0);
	size_t differ = 0;
	for (size_t i = 0; i < nte; i++)
		differ += fabsf(m2[i] - m3[i]) > 1e-4f;
	assert_true(differ > nte / 2);
	eng_model_free(m);
	/* a text-only model: the images play no part */
	o.method = ENG_METHOD_TEXT;
	assert_int_equal(eng_model_train(&ps, rows, ntr, &o, &m, &err), 0);
	assert_int_equal(eng_model_margins(m, &ps, te, nte, m0), 0);
	for (size_t i = 0; i < nte; i++)
		img[i] = ps.img_of[te[(i + 7) % nte]];
	assert_int_equal(eng_model_margins_img(m, &ps, te, img, nte, m1), 0);
	assert_memory_equal(m0, m1, sizeof(float) * nte);
	eng_model_free(m);
	free(feat), free(img), free(m0), free(m1), free(m2), free(m3), free(rows);
	eng_pairset_free(&ps);
	eng_textfeat_free(tf);
}

/* A planted cue that the image overrules: the chosen answer names the image's colour, and in
 * training pairs the word "splendid" sits in the chosen answer with P = 0.9 (else in the rejected
 * one); in test pairs (other images) it always sits in the rejected one. Each debiasing method's
 * text reliance (its MM branch's weight on the marker, signed toward "chosen") is below the
 * standard MM-RM's, and it does at least as well on the cue-conflicting test pairs. */
static void test_model_known_answer_debiasing(void **state)
{
	(void)state;
	eng_err err = {0};
	eng_textfeat *tf = NULL;
	assert_int_equal(eng_textfeat_new(NULL, &tf, &err), 0);
	eng_pairset ps;
	const size_t n = 6000, n_img = 1200, img_tr = n_img * 4 / 5;
	eng_rng r;
	eng_rng_seed(&r, 91);
	int dim = eng_imgfeat_dim();
	assert_int_equal(eng_pairset_init(&ps, eng_textfeat_dim(tf), (uint32_t)dim, &err), 0);
	float *feat = malloc(sizeof(float) * n_img * (size_t)dim);
	int *col_of = malloc(sizeof(int) * n_img);
	uint8_t px[16 * 16 * 3];
	for (size_t i = 0; i < n_img; i++) {
		int c = (int)eng_rng_below(&r, NCOL);
		col_of[i] = c;
		for (int k = 0; k < 16 * 16 * 3; k++) {
			int v = colours[c].rgb[k % 3] + (int)eng_rng_below(&r, 61) - 30;
			px[k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
		}
		eng_imgfeat_compute(px, 16, 16, feat + i * (size_t)dim);
	}
	assert_int_equal(eng_pairset_set_images(&ps, feat, n_img, &err), 0);
	size_t *rows = malloc(sizeof(size_t) * n), ntr = 0, nte = 0;
	for (size_t i = 0; i < n; i++) {
		size_t im = (size_t)eng_rng_below(&r, n_img);
		int c = col_of[im], o = (c + 1 + (int)eng_rng_below(&r, NCOL - 1)) % NCOL;
		int train = im < img_tr, on_chosen = train && eng_rng_uniform(&r) < 0.9;
		char a[160], b[160], w1[16], w2[16];
		snprintf(a, sizeof a, "the image is %s %s %s%s", colours[c].name,
		         pick_filler(&r, w1, sizeof w1, 200), pick_filler(&r, w2, sizeof w2, 200),
		         on_chosen ? " splendid" : "");
		snprintf(b, sizeof b, "the image is %s %s %s%s", colours[o].name,
		         pick_filler(&r, w1, sizeof w1, 200), pick_filler(&r, w2, sizeof w2, 200),
		         on_chosen ? "" : " splendid");
		assert_int_equal(eng_textfeat_add_pair(tf, &ps, "what colour is the image?", a, b,
		                                       (int32_t)im, &err),
		                 0);
		if (train)
			rows[ntr++] = i;
		else
			rows[n - 1 - nte++] = i;
	}
	uint32_t mb;
	int ms;
	eng_textfeat_bucket_of(tf, eng_fnv1a64("splendid", 8), &mb, &ms);
	eng_train_opts o;
	eng_train_opts_default(&o);
	o.epochs = 6;
	eng_model *all[ENG_METHOD_COUNT];
	assert_int_equal(eng_model_train_multi(&ps, rows, ntr, &o, ENG_METHODS_ALL, all, &err), 0);
	float *mg = malloc(sizeof(float) * nte);
	double rel[ENG_METHOD_COUNT], acc[ENG_METHOD_COUNT];
	for (int q = 0; q < ENG_METHOD_COUNT; q++) {
		rel[q] = (double)eng_model_text_weights(all[q])[mb] * ms;
		assert_int_equal(eng_model_margins(all[q], &ps, rows + ntr, nte, mg), 0);
		acc[q] = accuracy(mg, nte);
		print_message(
		    "# planted cue: %-14s marker weight %+.3f, accuracy on cue-conflicting "
		    "pairs %.4f\n",
		    eng_method_name((eng_method)q), rel[q], acc[q]);
	}
	assert_true(rel[ENG_METHOD_STANDARD] > 0.3); /* standard learned the cue */
	assert_true(acc[ENG_METHOD_TEXT] < 0.2);     /* the cue misleads a text-only model */
	for (int q = ENG_METHOD_POE; q <= ENG_METHOD_JTT; q++) {
		assert_true(rel[q] < 0.85 * rel[ENG_METHOD_STANDARD]);
		assert_true(acc[q] >= acc[ENG_METHOD_STANDARD] - 0.005);
	}
	for (int q = 0; q < ENG_METHOD_COUNT; q++)
		eng_model_free(all[q]);
	free(mg), free(rows), free(feat), free(col_of);
	eng_pairset_free(&ps);
	eng_textfeat_free(tf);
}

/* Few images, many pairs per image, the image carrying no signal: a text marker on the chosen side
 * with P = 0.8. Without the interaction guard W memorizes each training image's answers (its 20%
 * of marker-against pairs) and the MM-RM falls below the text-only proxy on held-out images; with
 * it the MM methods stay within 2 points of the proxy. */
static void test_model_interaction_guard_few_images(void **state)
{
	(void)state;
	enum { NI = 60, NP = 3000 };
	eng_err err = {0};
	eng_textfeat *tf = NULL;
	assert_int_equal(eng_textfeat_new(NULL, &tf, &err), 0);
	eng_pairset ps;
	int dim = eng_imgfeat_dim();
	assert_int_equal(eng_pairset_init(&ps, eng_textfeat_dim(tf), (uint32_t)dim, &err), 0);
	eng_rng r;
	eng_rng_seed(&r, 99);
	float *feat = malloc(sizeof(float) * NI * (size_t)dim);
	uint8_t px[16 * 16 * 3];
	for (size_t i = 0; i < NI; i++) {
		for (int k = 0; k < 16 * 16 * 3; k++)
			px[k] = (uint8_t)eng_rng_below(&r, 256);
		eng_imgfeat_compute(px, 16, 16, feat + i * (size_t)dim);
	}
	assert_int_equal(eng_pairset_set_images(&ps, feat, NI, &err), 0);
	free(feat);
	size_t *rows = malloc(sizeof(size_t) * NP);
	float *mg = malloc(sizeof(float) * NP);
	size_t ntr = 0, nte = 0;
	for (size_t i = 0; i < NP; i++) {
		char c[512], j[512];
		size_t im = (size_t)eng_rng_below(&r, NI);
		int on_chosen = eng_rng_uniform(&r) < 0.8;
		answer(&r, c, sizeof c, 15 + (int)eng_rng_below(&r, 11),
		       on_chosen ? "splendid" : NULL);
		answer(&r, j, sizeof j, 15 + (int)eng_rng_below(&r, 11),
		       on_chosen ? NULL : "splendid");
		assert_int_equal(
		    eng_textfeat_add_pair(tf, &ps, "describe", c, j, (int32_t)im, &err), 0);
		if (im < NI * 4 / 5)
			rows[ntr++] = i;
		else
			rows[NP - 1 - nte++] = i;
	}
	eng_train_opts o;
	eng_train_opts_default(&o);
	eng_model *m[ENG_METHOD_COUNT];
	assert_int_equal(eng_model_train_multi(&ps, rows, ntr, &o, 7u, m, &err), 0);
	double acc[3];
	for (int q = 0; q < 3; q++) {
		assert_int_equal(eng_model_margins(m[q], &ps, rows + ntr, NP - ntr, mg), 0);
		acc[q] = accuracy(mg, NP - ntr);
		print_message("# few images: held-out %s accuracy %.4f\n",
		              eng_method_name((eng_method)q), acc[q]);
		eng_model_free(m[q]);
	}
	assert_true(acc[ENG_METHOD_TEXT] >= 0.75);
	assert_true(acc[ENG_METHOD_STANDARD] >= acc[ENG_METHOD_TEXT] - 0.02);
	assert_true(acc[ENG_METHOD_SHORTCUT_AWARE] >= acc[ENG_METHOD_TEXT] - 0.02);
	free(rows);
	free(mg);
	eng_pairset_free(&ps);
	eng_textfeat_free(tf);
}

static void test_model_deterministic(void **state)
{
	(void)state;
	eng_err err = {0};
	eng_textfeat *tf = NULL;
	assert_int_equal(eng_textfeat_new(NULL, &tf, &err), 0);
	eng_pairset ps;
	const size_t n = 3000;
	size_t *rows = malloc(sizeof(size_t) * n);
	float *a = malloc(sizeof(float) * n), *b = malloc(sizeof(float) * n);
	size_t ntr = colour_set(&ps, tf, n, 300, rows);
	for (int meth = 0; meth < 3; meth++) {
		eng_train_opts o;
		eng_train_opts_default(&o);
		o.method = (eng_method)meth;
		o.seed = 7;
		o.epochs = 2; /* enough batches to mix the order; keeps the ASan build fast */
		eng_model *m1 = NULL, *m2 = NULL, *m3 = NULL;
		assert_int_equal(eng_model_train(&ps, rows, ntr, &o, &m1, &err), 0);
		assert_int_equal(eng_model_train(&ps, rows, ntr, &o, &m2, &err), 0);
		o.seed = 8;
		assert_int_equal(eng_model_train(&ps, rows, ntr, &o, &m3, &err), 0);
		assert_int_equal(eng_model_margins(m1, &ps, rows, n, a), 0);
		assert_int_equal(eng_model_margins(m2, &ps, rows, n, b), 0);
		assert_memory_equal(a, b, sizeof(float) * n);
		assert_int_equal(eng_model_margins(m3, &ps, rows, n, b), 0);
		assert_memory_not_equal(a, b, sizeof(float) * n);
		eng_model_free(m1);
		eng_model_free(m2);
		eng_model_free(m3);
	}
	free(rows);
	free(a);
	free(b);
	eng_pairset_free(&ps);
	eng_textfeat_free(tf);
}

/* Training methods together (one pass, shared text branch; JTT's second pass after it) gives
 * exactly the models of separate trainings with the same seed; on rows without images the standard
 * MM-RM equals the text-only model. */
static void test_model_multi_matches_separate(void **state)
{
	(void)state;
	eng_err err = {0};
	eng_textfeat *tf = NULL;
	assert_int_equal(eng_textfeat_new(NULL, &tf, &err), 0);
	eng_pairset ps;
	const size_t n = 3000;
	size_t *rows = malloc(sizeof(size_t) * n);
	float *a = malloc(sizeof(float) * n), *b = malloc(sizeof(float) * n);
	size_t ntr = colour_set(&ps, tf, n, 300, rows);
	eng_train_opts o;
	eng_train_opts_default(&o);
	o.seed = 5;
	o.epochs = 2;
	/* every mask of the first three methods, then the debiasing methods in several company */
	static const unsigned masks[] = {1,
	                                 2,
	                                 3,
	                                 4,
	                                 5,
	                                 6,
	                                 7,
	                                 ENG_METHODS_ALL,
	                                 1u << ENG_METHOD_POE,
	                                 (1u << ENG_METHOD_DEBIAS) | 1u,
	                                 1u << ENG_METHOD_JTT,
	                                 (1u << ENG_METHOD_JTT) | (1u << ENG_METHOD_POE) | 4u};
	for (size_t k = 0; k < sizeof masks / sizeof masks[0]; k++) {
		unsigned mask = masks[k];
		eng_model *all[ENG_METHOD_COUNT];
		assert_int_equal(eng_model_train_multi(&ps, rows, ntr, &o, mask, all, &err), 0);
		for (int q = 0; q < ENG_METHOD_COUNT; q++) {
			if (!(mask & (1u << q))) {
				assert_null(all[q]);
				continue;
			}
			eng_train_opts oq = o;
			oq.method = (eng_method)q;
			eng_model *m = NULL;
			assert_int_equal(eng_model_train(&ps, rows, ntr, &oq, &m, &err), 0);
			assert_int_equal(eng_model_margins(m, &ps, rows, n, a), 0);
			assert_int_equal(eng_model_margins(all[q], &ps, rows, n, b), 0);
			assert_memory_equal(a, b, sizeof(float) * n);
			eng_model_free(m);
			eng_model_free(all[q]);
		}
	}
	/* text-only rows: standard (alone, i.e. really trained) == text-only, bit for bit */
	for (size_t i = 0; i < n; i++)
		ps.img_of[i] = -1;
	eng_model *all[ENG_METHOD_COUNT];
	assert_int_equal(eng_model_train_multi(&ps, rows, ntr, &o, 7, all, &err), 0);
	o.method = ENG_METHOD_STANDARD;
	eng_model *m = NULL;
	assert_int_equal(eng_model_train(&ps, rows, ntr, &o, &m, &err), 0);
	assert_int_equal(eng_model_margins(m, &ps, rows, n, a), 0);
	assert_int_equal(eng_model_margins(all[ENG_METHOD_TEXT], &ps, rows, n, b), 0);
	assert_memory_equal(a, b, sizeof(float) * n);
	assert_int_equal(eng_model_margins(all[ENG_METHOD_STANDARD], &ps, rows, n, b), 0);
	assert_memory_equal(a, b, sizeof(float) * n);
	eng_model_free(m);
	for (int q = 0; q < 3; q++)
		eng_model_free(all[q]);
	assert_int_equal(eng_model_train_multi(&ps, rows, ntr, &o, 0, all, &err), ENG_EINPUT);
	for (int q = 0; q < 3; q++)
		assert_null(all[q]);
	free(rows);
	free(a);
	free(b);
	eng_pairset_free(&ps);
	eng_textfeat_free(tf);
}

/* Two text-only proxies with different row weights trained on the same minibatches (one pass)
 * are each bit-identical to its own training with that seed; also with no weights on one side. */
static void test_model_text_pair_matches_separate(void **state)
{
	(void)state;
	eng_err err = {0};
	eng_textfeat *tf = NULL;
	assert_int_equal(eng_textfeat_new(NULL, &tf, &err), 0);
	eng_pairset ps;
	const size_t n = 3000;
	size_t *rows = malloc(sizeof(size_t) * n);
	float *a = malloc(sizeof(float) * n), *b = malloc(sizeof(float) * n);
	float *w1 = malloc(sizeof(float) * n), *w2 = malloc(sizeof(float) * n);
	size_t ntr = colour_set(&ps, tf, n, 300, rows);
	eng_rng r;
	eng_rng_seed(&r, 11);
	for (size_t i = 0; i < n; i++) {
		w1[i] = (float)(0.1 + 2 * eng_rng_uniform(&r));
		w2[i] = eng_rng_below(&r, 3) ? 0.5f : 3.0f;
	}
	eng_train_opts o;
	eng_train_opts_default(&o);
	o.method = ENG_METHOD_TEXT;
	o.seed = 9;
	o.epochs = 3;
	const float *pairs[3][2] = {{w1, w2}, {NULL, w2}, {w1, NULL}};
	for (int k = 0; k < 3; k++) {
		eng_model *two[2];
		eng_train_opts op = o;
		op.row_weight = pairs[k][0];
		assert_int_equal(
		    eng_model_train_text_pair(&ps, rows, ntr, &op, pairs[k][1], two, &err), 0);
		for (int q = 0; q < 2; q++) {
			eng_train_opts oq = o;
			oq.row_weight = pairs[k][q];
			eng_model *m = NULL;
			assert_int_equal(eng_model_train(&ps, rows, ntr, &oq, &m, &err), 0);
			assert_int_equal(eng_model_margins(m, &ps, rows, n, a), 0);
			assert_int_equal(eng_model_margins(two[q], &ps, rows, n, b), 0);
			assert_memory_equal(a, b, sizeof(float) * n);
			assert_memory_equal(eng_model_text_weights(m),
			                    eng_model_text_weights(two[q]),
			                    sizeof(float) * ps.text_dim);
			eng_model_free(m);
			eng_model_free(two[q]);
		}
	}
	/* the two models differ where their weights do */
	eng_model *two[2];
	o.row_weight = w1;
	assert_int_equal(eng_model_train_text_pair(&ps, rows, ntr, &o, w2, two, &err), 0);
	assert_int_equal(eng_model_margins(two[0], &ps, rows, n, a), 0);
	assert_int_equal(eng_model_margins(two[1], &ps, rows, n, b), 0);
	assert_memory_not_equal(a, b, sizeof(float) * n);
	eng_model_free(two[0]);
	eng_model_free(two[1]);
	free(rows);
	free(a);
	free(b);
	free(w1);
	free(w2);
	eng_pairset_free(&ps);
	eng_textfeat_free(tf);
}

typedef struct hook_log {
	int calls[8];
	int fail_at; /* job index whose hook fails, -1 none */
} hook_log;

static int count_hook(void *ctx, size_t job, eng_err *err)
{
	hook_log *h = ctx;
	h->calls[job]++;
	if ((int)job == h->fail_at)
		return eng_err_set(err, ENG_EIO, "hook failed on job %zu", job);
	return 0;
}

/* The trainjobs hook sees every successful job exactly once (1 or 2 threads), the margins do not
 * depend on the hook or the thread count, and a hook failure is the run's error. */
static void test_model_trainjobs_hook(void **state)
{
	(void)state;
	eng_err err = {0};
	eng_textfeat *tf = NULL;
	assert_int_equal(eng_textfeat_new(NULL, &tf, &err), 0);
	eng_pairset ps;
	const size_t n = 2000;
	size_t *rows = malloc(sizeof(size_t) * n);
	colour_set(&ps, tf, n, 200, rows);
	enum { J = 5 };
	float *out[2][J][3];
	size_t per = n / J;
	int *fold = malloc(sizeof(int) * n); /* 0: the first per rows, 1: the last per, else 2 */
	assert_non_null(fold);
	for (size_t i = 0; i < n; i++)
		fold[i] = i < per ? 0 : i >= n - per ? 1 : 2;
	for (int run = 0; run < 4; run++) {
		eng_trainjob jobs[J];
		memset(jobs, 0, sizeof jobs);
		for (int j = 0; j < J; j++) {
			eng_train_opts_default(&jobs[j].opts);
			jobs[j].opts.epochs = 1;
			jobs[j].opts.seed = 11 + (uint64_t)j;
			jobs[j].methods = 7;
			jobs[j].train = rows + (j == 0 ? per : 0); /* any training rows will do */
			jobs[j].ntrain = n - per;
			if (run == 2) { /* the same rows, listed by the job (src, src_fold) */
				jobs[j].train = NULL;
				jobs[j].src = rows;
				jobs[j].src_fold = fold;
				jobs[j].nsrc = n;
				jobs[j].skip_fold = j == 0 ? 0 : 1;
			}
			jobs[j].eval = rows + (size_t)j * per;
			jobs[j].neval = per;
			for (int q = 0; q < 3; q++) {
				float *m = calloc(per, sizeof(float));
				jobs[j].margins[q] = m;
				if (run < 2)
					out[run][j][q] = m;
			}
		}
		hook_log h = {.fail_at = run == 3 ? 2 : -1};
		eng_trainjobs_hook hook = {count_hook, &h};
		int threads = run == 0 ? 1 : 2;
		int rc = eng_trainjobs_run_hooked(&ps, jobs, J, threads, run == 2 ? NULL : &hook,
		                                  NULL, &err);
		if (run == 3) {
			assert_int_equal(rc, ENG_EIO);
			assert_non_null(strstr(err.msg, "hook failed on job 2"));
		} else {
			assert_int_equal(rc, 0);
		}
		for (int j = 0; j < J; j++) {
			assert_int_equal(jobs[j].rc, 0);
			/* without a hook nothing counts; with one, each job once (a failed hook
			 * stops the later calls but every job still trains) */
			if (run == 2)
				assert_int_equal(h.calls[j], 0);
			else if (run < 2)
				assert_int_equal(h.calls[j], 1);
			else
				assert_true(h.calls[j] <= 1);
			for (int q = 0; q < 3; q++) {
				if (run >= 1)
					assert_memory_equal(jobs[j].margins[q], out[0][j][q],
					                    sizeof(float) * per);
				if (run >= 2)
					free(jobs[j].margins[q]);
			}
		}
		assert_int_equal(h.calls[2], run == 2 ? 0 : 1);
	}
	for (int r = 0; r < 2; r++)
		for (int j = 0; j < J; j++)
			for (int q = 0; q < 3; q++)
				free(out[r][j][q]);
	free(fold);
	free(rows);
	eng_pairset_free(&ps);
	eng_textfeat_free(tf);
}

/* eng_model_sgemm called from two threads at once gives the products it gives called alone.
 * Debian's sequential OpenBLAS (the one the binaries load) is not safe for concurrent calls: two
 * threads can take the same work buffer, and before eng_model_sgemm serialized them the MM-RM's
 * training jobs got wrong, timing-dependent products (one MLLM-Bench audit in three wrote other
 * scores). Unserialized, this test failed in 6 of 6 runs (8 rounds of 1,500 overlapping calls a
 * thread; a bare test had 130-500 of 3,000 products wrong in 5 runs of 6). */
enum { SG_M = 256, SG_N = 64, SG_K = 300, SG_CALLS = 1500, SG_ROUNDS = 8 };
typedef struct sg_job {
	const float *a, *b, *ref;
	float *c; /* the thread's product (no cmocka assertion runs off the test's thread) */
	int wrong;
} sg_job;

static void *sg_thread(void *arg)
{
	sg_job *j = arg;
	for (int i = 0; i < SG_CALLS; i++) {
		eng_model_sgemm(CblasNoTrans, CblasTrans, SG_M, SG_N, SG_K, j->a, SG_K, j->b, SG_K,
		                j->c, SG_N);
		if (memcmp(j->c, j->ref, sizeof(float) * SG_M * SG_N))
			j->wrong++;
	}
	return NULL;
}

static void test_model_sgemm_concurrent(void **state)
{
	(void)state;
	eng_rng r;
	eng_rng_seed(&r, 5);
	float *a[2], *b[2], *ref[2], *c[2];
	for (int t = 0; t < 2; t++) {
		a[t] = malloc(sizeof(float) * SG_M * SG_K);
		b[t] = malloc(sizeof(float) * SG_N * SG_K);
		ref[t] = malloc(sizeof(float) * SG_M * SG_N);
		c[t] = malloc(sizeof(float) * SG_M * SG_N);
		assert_true(a[t] && b[t] && ref[t] && c[t]);
		for (int i = 0; i < SG_M * SG_K; i++)
			a[t][i] = (float)eng_rng_below(&r, 1000) / 1000.0f - 0.5f;
		for (int i = 0; i < SG_N * SG_K; i++)
			b[t][i] = (float)eng_rng_below(&r, 1000) / 1000.0f - 0.5f;
		eng_model_sgemm(CblasNoTrans, CblasTrans, SG_M, SG_N, SG_K, a[t], SG_K, b[t], SG_K,
		                ref[t], SG_N);
	}
	int wrong = 0;
	for (int round = 0; round < SG_ROUNDS; round++) {
		sg_job jobs[2] = {{a[0], b[0], ref[0], c[0], 0}, {a[1], b[1], ref[1], c[1], 0}};
		pthread_t th[2];
		for (int t = 0; t < 2; t++)
			assert_int_equal(pthread_create(&th[t], NULL, sg_thread, &jobs[t]), 0);
		for (int t = 0; t < 2; t++)
			pthread_join(th[t], NULL);
		wrong += jobs[0].wrong + jobs[1].wrong;
	}
	assert_int_equal(wrong, 0);
	for (int t = 0; t < 2; t++) {
		free(a[t]);
		free(b[t]);
		free(ref[t]);
		free(c[t]);
	}
}

/* Columns past 2^16 (the pairset keeps each column's low 16 bits and an escape entry where the
 * high bits change, pairset.h): margins and gradients of the text-only and the standard MM-RM on
 * rows spanning six 2^16-column segments (boundaries 65535 | 65536, skipped segments, rows that
 * start past the first segment, empty rows) equal a double computation from the rows' plain
 * columns, kept by the test, in every interaction form. */
enum { WIDE_ROWS = 48, WIDE_K = 14 };
static void test_model_wide_columns(void **state)
{
	(void)state;
	const uint32_t dim = 5u * 65536u + 3u, idim = 3;
	static const uint32_t edge[] = {0,      1,      65535,  65536,  65537,
	                                131071, 131072, 196608, 327680, 327682};
	uint32_t col[WIDE_ROWS][WIDE_K];
	float val[WIDE_ROWS][WIDE_K];
	size_t k[WIDE_ROWS], rows[WIDE_ROWS];
	eng_err err = {0};
	eng_rng r;
	eng_rng_seed(&r, 29);
	eng_pairset ps;
	assert_int_equal(eng_pairset_init(&ps, dim, idim, &err), 0);
	size_t escapes = 0;
	for (size_t i = 0; i < WIDE_ROWS; i++) {
		rows[i] = i;
		k[i] = i % 7 == 3 ? 0 : 1 + (size_t)eng_rng_below(&r, WIDE_K);
		/* distinct sorted columns: edges and random ones; row 5 only past 2^17 */
		uint32_t lo = i == 5 ? 131072 : 0;
		size_t n = 0;
		while (n < k[i]) {
			uint32_t c = eng_rng_below(&r, 3) == 0
			                 ? edge[eng_rng_below(&r, sizeof edge / sizeof *edge)]
			                 : lo + (uint32_t)eng_rng_below(&r, dim - lo);
			if (c < lo)
				continue;
			size_t j = 0;
			while (j < n && col[i][j] < c)
				j++;
			if (j < n && col[i][j] == c)
				continue;
			memmove(&col[i][j + 1], &col[i][j], (n - j) * sizeof col[i][0]);
			col[i][j] = c;
			n++;
		}
		for (size_t j = 0; j < k[i]; j++) {
			val[i][j] = (float)(2 * eng_rng_uniform(&r) - 1);
			if (val[i][j] == 0)
				val[i][j] = 0.5f;
			escapes += (col[i][j] >> 16) != (j ? col[i][j - 1] >> 16 : 0);
		}
		int32_t im = i % 4 == 0 ? -1 : (int32_t)(i % 6);
		assert_int_equal(eng_pairset_add_row(&ps, col[i], val[i], k[i], im, &err), 0);
	}
	size_t total = 0;
	for (size_t i = 0; i < WIDE_ROWS; i++)
		total += k[i];
	assert_int_equal(ps.nnz, total + escapes); /* 6 bytes an entry, one escape a change */
	assert_true(escapes > WIDE_ROWS);
	for (size_t i = 0; i < WIDE_ROWS; i++) { /* the rows read back as given */
		size_t j = 0;
		for (eng_pairset_iter it = eng_pairset_row(&ps, i); eng_pairset_next(&it); j++) {
			assert_true(j < k[i]);
			assert_int_equal(it.c, col[i][j]);
			assert_true(it.v == val[i][j]);
		}
		assert_int_equal(j, k[i]);
		assert_int_equal(eng_pairset_row_len(&ps, i), k[i]);
	}
	float img[6 * 3];
	for (size_t q = 0; q < sizeof img / sizeof *img; q++)
		img[q] = (float)(4 * eng_rng_uniform(&r) - 2);
	assert_int_equal(eng_pairset_set_images(&ps, img, 6, &err), 0);
	for (int form = ENG_MODEL_INTERACTION_SPARSE; form <= ENG_MODEL_INTERACTION_SPARSE_PORTABLE;
	     form++) {
		eng_model_interaction_form = form;
		for (int meth = ENG_METHOD_TEXT; meth <= ENG_METHOD_STANDARD; meth++) {
			eng_train_opts o;
			eng_train_opts_default(&o);
			o.method = (eng_method)meth;
			o.fold_buckets = 5;
			eng_model *m = NULL;
			assert_int_equal(eng_model_alloc(&ps, rows, WIDE_ROWS, &o, &m, &err), 0);
			for (size_t q = 0; q < m->n_params; q++)
				m->params[q] = (float)(eng_rng_uniform(&r) - 0.5);
			const float *tw = meth == ENG_METHOD_TEXT ? m->wt : m->w;
			float mg[WIDE_ROWS], *g = calloc(m->n_params, sizeof *g);
			double *gref = calloc(m->n_params, sizeof *gref), obj = 0, oref = 0;
			assert_non_null(g);
			assert_non_null(gref);
			assert_int_equal(eng_model_margins(m, &ps, rows, WIDE_ROWS, mg), 0);
			assert_int_equal(
			    eng_model_objective(m, &ps, rows, WIDE_ROWS, &obj, g, &err), 0);
			for (size_t i = 0; i < WIDE_ROWS; i++) {
				double v[4] = {0}, zb[8] = {0}, fold[8] = {0}, mref = 0;
				int32_t im = ps.img_of[i];
				if (meth == ENG_METHOD_STANDARD && im >= 0) {
					for (uint32_t q = 0; q < idim; q++) {
						double z = ((double)img[(size_t)im * idim + q] -
						            m->img_mean[q]) *
						           m->img_istd[q];
						v[q] = fmax(-ENG_MODEL_IMG_CLIP,
						            fmin(ENG_MODEL_IMG_CLIP, z));
					}
					v[idim] = 1;
				}
				for (uint32_t b = 0; b < m->B && meth == ENG_METHOD_STANDARD; b++)
					for (uint32_t q = 0; q < m->dv; q++)
						zb[b] += (double)m->W[(size_t)b * m->dv + q] * v[q];
				for (size_t j = 0; j < k[i]; j++) {
					uint32_t b = meth == ENG_METHOD_STANDARD
					                 ? eng_model_bucket(m, col[i][j])
					                 : 0;
					mref +=
					    (double)tw[col[i][j]] * val[i][j] + zb[b] * val[i][j];
					fold[b] += val[i][j];
				}
				assert_true(fabs(mg[i] - mref) <= 1e-5 * fmax(1, fabs(mref)));
				/* L = log(1 + e^-m); dL/dm = -1 / (1 + e^m), objective = mean */
				oref += log1p(exp(-mref)) / WIDE_ROWS;
				double c = -1 / (1 + exp(mref)) / WIDE_ROWS;
				for (size_t j = 0; j < k[i]; j++)
					gref[(size_t)(tw - m->params) + col[i][j]] += c * val[i][j];
				for (uint32_t b = 0; b < m->B && meth == ENG_METHOD_STANDARD; b++)
					for (uint32_t q = 0; q < m->dv; q++)
						gref[(size_t)(m->W - m->params) +
						     (size_t)b * m->dv + q] += c * fold[b] * v[q];
			}
			assert_true(fabs(obj - oref) <= 1e-5 * fmax(1, fabs(oref)));
			size_t nz = 0;
			for (size_t q = 0; q < m->n_params; q++) {
				if (fabs(g[q] - gref[q]) > 1e-5 + 1e-4 * fabs(gref[q]))
					fail_msg("%s form %d: param %zu got %.8g want %.8g",
					         eng_method_name(o.method), form, q, (double)g[q],
					         gref[q]);
				nz += gref[q] != 0;
			}
			assert_true(nz > total / 2); /* not vacuous */
			free(g);
			free(gref);
			eng_model_free(m);
		}
	}
	eng_model_interaction_form = ENG_MODEL_INTERACTION_AUTO;
	eng_pairset_free(&ps);
}

static void test_model_rejects_bad_input(void **state)
{
	(void)state;
	eng_pairset ps;
	random_set(&ps, 10, 20, 3, 4, 1);
	size_t rows[2] = {0, 1};
	eng_train_opts o;
	eng_train_opts_default(&o);
	eng_model *m = NULL;
	eng_err err = {0};
	o.epochs = 0;
	assert_int_equal(eng_model_train(&ps, rows, 2, &o, &m, &err), ENG_EINPUT);
	assert_non_null(strstr(err.msg, "epochs"));
	eng_train_opts_default(&o);
	o.lr = NAN;
	assert_int_equal(eng_model_train(&ps, rows, 2, &o, &m, &err), ENG_EINPUT);
	eng_train_opts_default(&o);
	assert_int_equal(eng_model_train(&ps, rows, 0, &o, &m, &err), ENG_EINPUT);
	rows[1] = 10;
	assert_int_equal(eng_model_train(&ps, rows, 2, &o, &m, &err), ENG_EINPUT);
	assert_non_null(strstr(err.msg, "out of range"));
	rows[1] = 1;
	ps.n_img = 0; /* image rows now dangle */
	o.method = ENG_METHOD_STANDARD;
	size_t i = 0;
	while (ps.img_of[i] < 0)
		i++;
	assert_int_equal(eng_model_train(&ps, &i, 1, &o, &m, &err), ENG_EINPUT);
	assert_non_null(strstr(err.msg, "image"));
	assert_null(m);
	eng_method meth;
	assert_int_equal(eng_method_parse("shortcut-aware", &meth), 0);
	assert_int_equal(meth, ENG_METHOD_SHORTCUT_AWARE);
	assert_int_equal(eng_method_parse("bogus", &meth), ENG_EINPUT);
	assert_string_equal(eng_method_name(ENG_METHOD_STANDARD), "standard");
	eng_model_free(NULL);
	eng_pairset_free(&ps);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_model_losses_stable),
	    cmocka_unit_test(test_model_gradient_text),
	    cmocka_unit_test(test_model_gradient_mm),
	    cmocka_unit_test(test_model_gradient_shortcut_aware),
	    cmocka_unit_test(test_model_gradient_weighted),
	    cmocka_unit_test(test_model_gradient_debiasing),
	    cmocka_unit_test(test_model_known_answer_debiasing),
	    cmocka_unit_test(test_model_margins_img),
	    cmocka_unit_test(test_model_gemm_matches_naive),
	    cmocka_unit_test(test_model_known_answer_text_marker),
	    cmocka_unit_test(test_model_known_answer_image_decides),
	    cmocka_unit_test(test_model_interaction_guard_few_images),
	    cmocka_unit_test(test_model_deterministic),
	    cmocka_unit_test(test_model_multi_matches_separate),
	    cmocka_unit_test(test_model_text_pair_matches_separate),
	    cmocka_unit_test(test_model_rejects_bad_input),
	    cmocka_unit_test(test_model_wide_columns),
	    cmocka_unit_test(test_model_trainjobs_hook),
	    cmocka_unit_test(test_model_sgemm_concurrent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
