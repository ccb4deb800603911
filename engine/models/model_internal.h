/* model_internal.h - internals of the models layer (model.c, modelopts.c, modelser.c) shared
 * between its files and exposed for tests and benchmarks (not for audit/).
 *
 * Parameter layout (one block, n_params floats; eng_model_objective's gradient uses the same
 * layout; training keeps the text columns' weight, gradient and Adam moments in one block of
 * per-column records and copies the weights back at the end, see model.c):
 *   [ wt (text_dim) ]  text branch: ENG_METHOD_TEXT and ENG_METHOD_SHORTCUT_AWARE
 *   [ w  (text_dim) ]  MM branch text terms: ENG_METHOD_STANDARD and ENG_METHOD_SHORTCUT_AWARE
 *   [ W  (B, dv)    ]  MM interaction, row-major; dv = img_dim + 1 (standardized image + 1);
 *                      B = fold_buckets + ps->dense_dim (rows of the dense embedding columns last)
 * Absent parts have NULL views. */
#ifndef ENG_MODEL_INTERNAL_H
#define ENG_MODEL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <cblas.h>

#include "model.h"

struct eng_model {
	eng_train_opts o;
	uint32_t text_dim, img_dim, dv, B; /* B = fold_buckets + dense columns */
	uint32_t B_fold, dense_begin;      /* shared buckets; first dense text column */
	size_t n_params;
	float *params;              /* (n_params) one block */
	float *wt, *w, *W;          /* views into params, NULL when the method has no such part */
	float *img_mean, *img_istd; /* (img_dim) each, one block: v = clip((x - mean) * istd) */
};

/* MM fold of text column c into [0, B): a multiplicative hash of c (Fibonacci hashing), so
 * neighbouring hashed buckets and the named columns spread evenly. */
static inline uint32_t eng_model_fold(uint32_t c, uint32_t B)
{
	return (uint32_t)(((uint64_t)(uint32_t)(c * 0x9E3779B1u) * B) >> 32);
}

/* Interaction row of text column c: its fold bucket, or for a dense (external embedding) column
 * c >= dense_begin its own row B_fold + (c - dense_begin). */
static inline uint32_t eng_model_bucket(const struct eng_model *m, uint32_t c)
{
	return c >= m->dense_begin ? m->B_fold + (c - m->dense_begin)
	                           : eng_model_fold(c, m->B_fold);
}

/* |standardized image feature| is clipped to this. */
#define ENG_MODEL_IMG_CLIP 8.0f

/* Allocates a model with zero parameters and the image standardization statistics of the
 * training rows (rows[0..n)); validates like eng_model_train. */
int eng_model_alloc(const eng_pairset *ps, const size_t *rows, size_t n, const eng_train_opts *o,
                    eng_model **out, eng_err *err);

/* The training objective of rows[0..n) as ONE batch at the current parameters, without the L2
 * term: text: mean L_t; standard: mean L; shortcut-aware: mean(w_i L_i) + mean(L_t,i) with w_i
 * detached. Writes it to *obj and, if grad != NULL, its gradient (n_params floats, dense, w_i held
 * constant) to grad. Uses the same kernels as training. Returns 0 or ENG_ENOMEM. */
int eng_model_objective(const eng_model *m, const eng_pairset *ps, const size_t *rows, size_t n,
                        double *obj, float *grad, eng_err *err);

/* The text-branch margin w_t . d (SA and text) of rows; for tests of the SA text branch. */
int eng_model_text_margins(const eng_model *m, const eng_pairset *ps, const size_t *rows, size_t n,
                           float *out);

/* How batch() forms the interaction and its gradient: ENG_MODEL_INTERACTION_AUTO (by the batch's
 * density of G, model.c), _SPARSE or _DENSE always, _SPARSE_PORTABLE sparse without the AVX2
 * kernels. For tests, which check every form; set it before any training starts, never while one
 * runs. */
enum {
	ENG_MODEL_INTERACTION_AUTO,
	ENG_MODEL_INTERACTION_SPARSE,
	ENG_MODEL_INTERACTION_DENSE,
	ENG_MODEL_INTERACTION_SPARSE_PORTABLE
};
extern int eng_model_interaction_form;

/* Row-major C (m, n) = op(A) op(B) with cblas_sgemm (alpha 1, beta 0), safe to call from several
 * threads at once whatever OpenBLAS build is loaded (model.c says why). */
void eng_model_sgemm(enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, int m, int n, int k,
                     const float *a, int lda, const float *b, int ldb, float *c, int ldc);

/* 1 for the methods with a text branch trained next to the MM branch (detached), and with an MM
 * branch: text, shortcut-aware, poe, debias (modelopts.c). */
int eng_method_has_text_branch(eng_method m);

/* xoshiro256** seeded by splitmix64 (seed -> state): the only randomness in training. */
typedef struct eng_rng {
	uint64_t s[4];
} eng_rng;
void eng_rng_seed(eng_rng *r, uint64_t seed);
uint64_t eng_rng_next(eng_rng *r);
uint64_t eng_rng_below(eng_rng *r, uint64_t n); /* uniform in [0, n), n >= 1, unbiased */
double eng_rng_uniform(eng_rng *r);             /* [0, 1) with 53 random bits */

#endif
