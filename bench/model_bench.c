/* model_bench.c - throughput of the model core on synthetic data (not a test, not installed).
 *
 * Builds N synthetic pairs (default 100000; answers of 30-90 Zipf-distributed words, ~5% with a
 * planted shortcut word) over M images (default 20000; solid colours + noise through imgfeat),
 * then, like `mmaudit score` with K folds (default 5), trains each method on the other folds and
 * scores the held-out fold. Prints feature-extraction and training throughput, the GFLOP/s of the
 * MM model's two GEMM shapes (timed in isolation, same shapes and call count as one training) next
 * to a large square cblas_sgemm measured in the same run.
 * Usage: bench_model [pairs] [images] [folds] [openblas threads, 0 = OpenBLAS default] [batch]
 *        [epochs] (0 or absent = eng_train_opts_default) */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imgfeat.h"
#include "model.h"
#include "model_internal.h"
#include "pairset.h"
#include "textfeat.h"

void openblas_set_num_threads(int);
int openblas_get_num_threads(void);

static double cpu(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Zipf-ish word index in [0, V): inverse of a 1/(k+10) CDF approximated by exp sampling. */
static int zipf_word(eng_rng *r, int V)
{
	double u = eng_rng_uniform(r);
	int k = (int)(10.0 * (pow(1.0 + V / 10.0, u) - 1.0));
	return k < V ? k : V - 1;
}

static void make_answer(eng_rng *r, char *out, size_t cap, int plant)
{
	int nw = 30 + (int)eng_rng_below(r, 61);
	size_t len = 0;
	for (int i = 0; i < nw && len + 16 < cap; i++)
		len += (size_t)snprintf(out + len, cap - len, "%sw%d", i ? " " : "",
		                        zipf_word(r, 5000));
	if (plant && len + 16 < cap)
		snprintf(out + len, cap - len, " certainly!");
}

static int die(const char *what, const eng_err *err)
{
	fprintf(stderr, "bench_model: %s: %s\n", what, err->msg);
	return 3;
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? (size_t)atol(argv[1]) : 100000;
	size_t n_img = argc > 2 ? (size_t)atol(argv[2]) : 20000;
	int K = argc > 3 ? atoi(argv[3]) : 5;
	if (argc > 4 && atoi(argv[4]) > 0)
		openblas_set_num_threads(atoi(argv[4]));
	if (n < 100 || n_img < 1 || K < 2) {
		fprintf(stderr,
		        "usage: bench_model [pairs>=100] [images>=1] [folds>=2] [threads]\n");
		return 2;
	}
	eng_err err = {0};
	eng_rng r;
	eng_rng_seed(&r, 42);
	printf("bench_model: %zu pairs, %zu images, %d folds, OpenBLAS threads %d\n", n, n_img, K,
	       openblas_get_num_threads());

	/* images */
	int dim = eng_imgfeat_dim();
	float *feat = malloc(sizeof(float) * n_img * (size_t)dim);
	uint8_t px[24 * 24 * 3];
	double t0 = now();
	for (size_t i = 0; i < n_img; i++) {
		uint8_t base[3] = {(uint8_t)eng_rng_below(&r, 256), (uint8_t)eng_rng_below(&r, 256),
		                   (uint8_t)eng_rng_below(&r, 256)};
		for (int k = 0; k < 24 * 24 * 3; k++) {
			int v = base[k % 3] + (int)eng_rng_below(&r, 41) - 20;
			px[k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
		}
		eng_imgfeat_compute(px, 24, 24, feat + i * (size_t)dim);
	}
	double t_img = now() - t0;

	/* text features */
	eng_textfeat *tf = NULL;
	eng_pairset ps;
	if (eng_textfeat_new(NULL, &tf, &err) ||
	    eng_pairset_init(&ps, eng_textfeat_dim(tf), (uint32_t)dim, &err) ||
	    eng_pairset_set_images(&ps, feat, n_img, &err))
		return die("setup", &err);
	char a[2048], b[2048];
	t0 = now();
	for (size_t i = 0; i < n; i++) {
		int plant = eng_rng_below(&r, 20) == 0;
		make_answer(&r, a, sizeof a, plant);
		make_answer(&r, b, sizeof b, 0);
		int32_t im = eng_rng_below(&r, 50) == 0 ? -1 : (int32_t)eng_rng_below(&r, n_img);
		if (eng_textfeat_add_pair(tf, &ps, "describe the image", a, b, im, &err))
			return die("features", &err);
	}
	double t_feat = now() - t0;
	printf("features: images %.0f /s, text pairs %.0f /s (%.1f nnz per pair)\n",
	       (double)n_img / t_img, (double)n / t_feat, (double)ps.nnz / (double)n);

	/* K-fold cross-fitting by image (pair i's fold = image mod K) */
	size_t *tr = malloc(sizeof(size_t) * n), *te = malloc(sizeof(size_t) * n);
	float *mg = malloc(sizeof(float) * n);
	double t_method[3] = {0, 0, 0}, t_train_one[3] = {0, 0, 0}, c_train_one[3] = {0, 0, 0};
	double t_all0 = now(), c_all0 = cpu();
	eng_train_opts o;
	eng_train_opts_default(&o);
	if (argc > 5 && atoi(argv[5]) > 0)
		o.batch = atoi(argv[5]);
	if (argc > 6 && atoi(argv[6]) > 0)
		o.epochs = atoi(argv[6]);
	printf("training: batch %d, epochs %d, lr %g, l2 %g, fold buckets %d\n", o.batch, o.epochs,
	       (double)o.lr, (double)o.l2, o.fold_buckets);
	for (int meth = 0; meth < 3; meth++) {
		double tm0 = now();
		size_t ok = 0, tot = 0;
		for (int f = 0; f < K; f++) {
			size_t ntr = 0, nte = 0;
			for (size_t i = 0; i < n; i++) {
				int32_t im = ps.img_of[i];
				int fi = im >= 0 ? (int)(im % K) : (int)(i % (size_t)K);
				if (fi == f)
					te[nte++] = i;
				else
					tr[ntr++] = i;
			}
			o.method = (eng_method)meth;
			eng_model *m = NULL;
			double tt = now(), ct = cpu();
			if (eng_model_train(&ps, tr, ntr, &o, &m, &err))
				return die("train", &err);
			if (f == 0) {
				t_train_one[meth] = now() - tt;
				c_train_one[meth] = cpu() - ct;
			}
			if (eng_model_margins(m, &ps, te, nte, mg))
				return die("margins", &err);
			for (size_t i = 0; i < nte; i++)
				ok += mg[i] > 0;
			tot += nte;
			eng_model_free(m);
		}
		t_method[meth] = now() - tm0;
		printf("%-15s %d folds in %6.2f s: one training (%zu pairs x %d epochs) %.2f s "
		       "(CPU %.2f s) = %.0f pair-epochs/s; held-out accuracy %.3f\n",
		       eng_method_name((eng_method)meth), K, t_method[meth], n - n / (size_t)K,
		       o.epochs, t_train_one[meth], c_train_one[meth],
		       (double)(n - n / (size_t)K) * o.epochs / t_train_one[meth],
		       (double)ok / (double)tot);
	}
	double t_all = now() - t_all0, c_all = cpu() - c_all0;
	printf("score-like run (features + 3 methods x %d folds): %.1f s (CPU %.1f s training) = "
	       "%.0f pairs/s\n",
	       K, t_all + t_feat, c_all, (double)n / (t_all + t_feat));

	/* GEMMs of one MM training, in isolation: per batch Z = V W^T (bs, B, dv) and
	 * dW = G^T CV (B, dv, bs) */
	int bs = o.batch, B = o.fold_buckets, dv = dim + 1;
	size_t ntr = n - n / (size_t)K,
	       nb = ((ntr + (size_t)bs - 1) / (size_t)bs) * (size_t)o.epochs;
	float *G = calloc((size_t)bs * B, sizeof(float)), *V = calloc((size_t)bs * dv, 4);
	float *W = calloc((size_t)B * dv, 4), *Z = calloc((size_t)bs * B, 4);
	for (size_t i = 0; i < (size_t)bs * B; i++)
		G[i] = (float)eng_rng_uniform(&r);
	for (size_t i = 0; i < (size_t)bs * dv; i++)
		V[i] = (float)eng_rng_uniform(&r);
	for (size_t i = 0; i < (size_t)B * dv; i++)
		W[i] = (float)eng_rng_uniform(&r);
	t0 = now();
	for (size_t k = 0; k < nb; k++) {
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, bs, B, dv, 1.0f, V, dv, W, dv,
		            0.0f, Z, B);
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, B, dv, bs, 1.0f, G, B, V, dv,
		            0.0f, W, dv);
	}
	double t_gemm = now() - t0, fl = 4.0 * bs * B * dv * (double)nb;
	printf("MM GEMMs of one training: %zu x 2 calls (%dx%dx%d), %.3f s = %.1f GFLOP/s "
	       "(%.0f%% of the standard training time)\n",
	       nb, bs, B, dv, t_gemm, fl / t_gemm * 1e-9, 100 * t_gemm / t_train_one[1]);
	int S = 2048;
	float *A = malloc(sizeof(float) * (size_t)S * S),
	      *Bm = malloc(sizeof(float) * (size_t)S * S),
	      *C = malloc(sizeof(float) * (size_t)S * S);
	for (size_t i = 0; i < (size_t)S * S; i++) {
		A[i] = (float)eng_rng_uniform(&r);
		Bm[i] = (float)eng_rng_uniform(&r);
	}
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, S, S, S, 1.0f, A, S, Bm, S, 0.0f, C,
	            S); /* warm-up */
	t0 = now();
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, S, S, S, 1.0f, A, S, Bm, S, 0.0f, C,
	            S);
	double t_sq = now() - t0;
	printf("square sgemm %d^3: %.3f s = %.1f GFLOP/s\n", S, t_sq,
	       2.0 * S * S * (double)S / t_sq * 1e-9);
	free(A);
	free(Bm);
	free(C);
	free(G);
	free(V);
	free(W);
	free(Z);
	free(tr);
	free(te);
	free(mg);
	free(feat);
	eng_pairset_free(&ps);
	eng_textfeat_free(tf);
	return 0;
}
