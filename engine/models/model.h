/* model.h - Bradley-Terry reward models over an eng_pairset, trained with minibatch Adam + L2.
 *
 * P(chosen > rejected) = sigmoid(m), m = r(x, y_c) - r(x, y_r); loss L = -log sigmoid(m).
 * Methods (the shortcut-aware MM-RM of arXiv 2503.03122 and the baselines it is compared with):
 *  - ENG_METHOD_TEXT: text-only proxy r_t; m_t = w_t . d (d = sparse text difference).
 *  - ENG_METHOD_STANDARD: MM-RM; m = w . d + fold(d)^T W v, fold() sums d into B buckets and v is
 *    the pair's standardized image vector (pairs without image: text terms only). Batched GEMMs.
 *    Dense external-embedding text columns (eng_pairset.dense_dim) get one interaction row each.
 *  - ENG_METHOD_SHORTCUT_AWARE: a text branch and an MM branch trained together; per pair
 *    w = eps/2 + L_t / (eps + L_t + L), eps = 1e-7, both losses detached; total loss =
 *    mean(w * L) + mean(L_t). Inference uses the MM branch only.
 * Interaction guard: when training pairs share images (p pairs per distinct image, p > 1), one
 * image in 5 is held out for a validation pass first, and an MM method that does worse there than
 * the text-only proxy (mean loss) gets the L2 of its interaction W raised to l2 * p^2 (details at
 * the top of model.c). Text terms and the shortcut-aware weighting are not changed.
 * Deterministic for a given seed and thread count. */
#ifndef ENG_MODEL_H
#define ENG_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "pairset.h"

typedef enum eng_method {
	ENG_METHOD_TEXT = 0,
	ENG_METHOD_STANDARD = 1,
	ENG_METHOD_SHORTCUT_AWARE = 2,
	/* Debiasing methods (issue 13). Each trains an MM branch (inference: that branch alone)
	 * next to a detached text-only branch, like the shortcut-aware one:
	 *  POE     product of experts with the text proxy (Clark et al. 2019, He et al. 2019): loss
	 *          L(m + m_t) with m_t detached, so the MM branch learns what the text does not;
	 *  DEBIAS  example reweighting against the bias-only text model (Utama et al. 2020):
	 *          per-pair weight 1 - sigmoid(m_t), detached;
	 *  JTT     just train twice (Liu et al. 2021): the text proxy is trained first, its
	 * training errors are upweighted by lambda (default n_right / n_wrong: right and wrong
	 * pairs then weigh the same in total), and the MM-RM is trained again on those weights. */
	ENG_METHOD_POE = 3,
	ENG_METHOD_DEBIAS = 4,
	ENG_METHOD_JTT = 5,
	ENG_METHOD_COUNT = 6,
} eng_method;

#define ENG_METHODS_ALL ((1u << ENG_METHOD_COUNT) - 1)

/* "text", "standard", "shortcut-aware", "poe", "debias", "jtt" */
const char *eng_method_name(eng_method m);
int eng_method_parse(const char *s, eng_method *out); /* 0 ok, ENG_EINPUT unknown */
/* A list "standard,poe" or "all" -> mask of (1u << method); ENG_EINPUT on an unknown name. */
int eng_methods_parse(const char *list, unsigned *mask);

typedef struct eng_train_opts {
	eng_method method;
	int epochs;       /* default 8 */
	int batch;        /* default 256 */
	float lr;         /* Adam step, default 0.05 */
	float l2;         /* L2, default 1e-3 (text columns lazy, W interaction guard: model.c) */
	int fold_buckets; /* B, text buckets for the interaction, default 256 */
	uint64_t seed;
	/* Optional per-pair loss weights indexed by pairset row (NULL: all 1): every method's
	 * per-pair loss is multiplied by its row's weight (the batch objective stays a mean over
	 * the batch, so weights with mean 1 keep the step size). Borrowed: must outlive training;
	 * never used for margins. The shortcut-aware weight is computed from the unweighted
	 * losses. */
	const float *row_weight;
	float jtt_lambda; /* JTT's upweighting of the text proxy's training errors; <= 0: the
	                     default n_right / n_wrong of the training rows */
} eng_train_opts;

/* The epoch schedule callers use when the user gives no epoch count (score, crossdist): a budget
 * of ENG_TRAIN_SAMPLE_BUDGET pair visits, epochs = clamp(ceil(budget / ntrain), 2, 8): 8 epochs up
 * to 20k training pairs, 4 at 40k, 2 from 80k on (large sets converge in fewer passes; held-out
 * accuracy at 100k text pairs is the same with 2, 4 or 8 epochs, and at 40k synth pairs with
 * images 5 epochs are within 0.4 points of 8 for each model, see the README). */
#define ENG_TRAIN_SAMPLE_BUDGET 160000
int eng_train_epochs_auto(size_t ntrain);

/* Defaults: method text, epochs 8, batch 256, lr 0.05, l2 1e-3, fold_buckets 256, seed 1. */
void eng_train_opts_default(eng_train_opts *o);

typedef struct eng_model eng_model; /* opaque */

/* Trains on rows[0..nrows) of ps. Image standardization statistics come from the training rows'
 * images. Returns 0 and *out, ENG_EINPUT (bad options, no rows, a row or image row out of range),
 * ENG_ENOMEM, or ENG_EINTERNAL (training diverged). Optimizer details: top of model.c.
 * Cost: O(epochs * (nnz + nrows * B * (img_dim + 1))) flops, 2 GEMMs per batch; up to 1.8 times
 * that when the interaction guard runs its validation pass. */
int eng_model_train(const eng_pairset *ps, const size_t *rows, size_t nrows,
                    const eng_train_opts *o, eng_model **out, eng_err *err);
void eng_model_free(eng_model *m);

/* Trains every method whose bit (1u << method) is set in `methods` on the SAME minibatches (one
 * seed, o->method ignored): out[method] receives that model, the others NULL. JTT needs a second
 * pass (its weights come from the text proxy of the first): it is trained after the others, on
 * the same minibatch order. Each model is
 * bit-identical to eng_model_train with o->method set to it (the interaction guard's validation
 * pass always trains the text-only proxy, so its decision per method does not depend on the mask):
 * the methods' parameters are independent, so sharing the pass over the sparse rows changes no
 * arithmetic. Shared work: one pass over the rows and one fold(d) per batch; the shortcut-aware
 * model's text branch (trained on mean L_t alone, the losses' weights being detached) IS the
 * text-only model, so it is trained once; without any image among the training rows the standard
 * MM-RM reduces to the text-only model (v = 0, W stays 0) and reuses it. Returns like
 * eng_model_train (ENG_EINPUT also for an empty mask); on error every out[] is NULL. */
int eng_model_train_multi(const eng_pairset *ps, const size_t *rows, size_t nrows,
                          const eng_train_opts *o, unsigned methods,
                          eng_model *out[ENG_METHOD_COUNT], eng_err *err);

/* Two text-only proxies (o->method ignored) on the SAME minibatches (o->seed), with row weights
 * o->row_weight and row_weight2 (NULL: 1): out[0] and out[1] are bit-identical to eng_model_train
 * of the text-only method with those weights and that seed (they share the passes over the rows,
 * no parameter). Returns like eng_model_train; on error both are NULL. */
int eng_model_train_text_pair(const eng_pairset *ps, const size_t *rows, size_t nrows,
                              const eng_train_opts *o, const float *row_weight2, eng_model *out[2],
                              eng_err *err);

/* Inference margins for rows[0..n): out[i] = r(chosen) - r(rejected) (MM branch for SA). rows must
 * be valid rows of ps and ps must have the training set's text_dim/img_dim (asserted). Processes
 * o.batch rows at a time with the training kernels. Returns 0, or ENG_ENOMEM (scratch buffers). */
int eng_model_margins(const eng_model *m, const eng_pairset *ps, const size_t *rows, size_t n,
                      float *out);

/* Image row for eng_model_margins_img meaning "the training images' mean": the standardized
 * vector v = [0, ..., 0, 1] (a blank image that carries no information beyond "has an image"). */
#define ENG_MODEL_IMG_MEAN (-2)

/* eng_model_margins with the image of rows[i] replaced by img[i]: a row of ps->img, -1 (no image:
 * text terms only) or ENG_MODEL_IMG_MEAN. For counterfactual tests (does the MM-RM use the image?).
 * Text-only models ignore img. */
int eng_model_margins_img(const eng_model *m, const eng_pairset *ps, const size_t *rows,
                          const int32_t *img, size_t n, float *out);

/* Text weights (length text_dim) of the model's text terms: the text-only proxy's weights for
 * ENG_METHOD_TEXT, the MM branch's text terms w for STANDARD and SHORTCUT_AWARE. Owned by the
 * model. A hashed column's effect on the margin is weight * eng_textfeat_sign(column). */
const float *eng_model_text_weights(const eng_model *m);

/* The model's method. */
eng_method eng_model_method(const eng_model *m);

/* A model as bytes (a fixed little-endian layout: shape, then its parameters and image
 * standardization), and back. Deserializing checks every size against the shape it declares and
 * refuses non-finite weights: ENG_EINPUT with a message, ENG_ENOMEM. */
int eng_model_serialize(const eng_model *m, uint8_t **out, size_t *len);
int eng_model_deserialize(const uint8_t *p, size_t len, eng_model **out, eng_err *err);

#endif
