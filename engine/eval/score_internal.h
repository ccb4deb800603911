/* score_internal.h - what the files of the score run share: score.c (the cross-fitting run, the
 * per-dataset work, writing the scores), scorefeat.c (the proxy's top features), scoreweights.c
 * (image reliance, the weighting methods and their re-fit), scoremodel.c (score --model, a chunk
 * at a time) and scorerestate.c (metrics restated from stored scores). Each function is
 * documented at its definition. Not a public interface. */
#ifndef ENG_SCORE_INTERNAL_H
#define ENG_SCORE_INTERNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "dataload.h"
#include "workspace_sql.h"
#include "metrics.h"
#include "modelfile.h"
#include "score.h"
#include "weights.h"

enum { NMETHODS = 3 };

typedef struct dswork {
	size_t b, e, n; /* row range and size */
	int *fold;      /* (n) fold of each row */
	size_t *rows;   /* (n) rows grouped by fold: fold f's rows at rows[fb[f]..fb[f+1]) */
	size_t *train;  /* (K, n) training rows per fold, each list length n - fold size */
	size_t *fb;     /* (K + 1) */
	float *margin[NMETHODS];     /* (n) held-out margins, indexed by position in rows[] */
	float *xm[ENG_METHOD_COUNT]; /* (n) likewise for the extra methods asked (poe, ...) */
	float *fold_w;               /* (K, text_dim) text weights of each fold's text-only proxy */
	float *full_w;     /* (text_dim) their mean: the proxy whose top features are reported */
	uint8_t *conflict; /* (n) 1: the pair's label conflicts with a duplicate (dedup.h) */
	int has_img;       /* some pair of the dataset has image features: MM-RMs are trained */
	uint8_t
	    *in_sample; /* (n) by position in rows[], score --model only: 1 = in the model's
	                   training sample (scored by its fold's model), 0 = by the mean of all */
	/* counterfactual image test (has_img), indexed by position in rows[] like margin[] */
	int32_t *swap_img;       /* (n) another image of the same test fold, -1: not tested */
	float *m_swap, *m_blank; /* (n) standard MM-RM margins with that image / a blank one */
} dswork;

/* Writes the pair_scores rows of each fold as soon as its training job is done (trainjobs hook:
 * a worker without a job left writes them while the last folds still train). */
typedef struct fold_writer {
	eng_ws *ws;
	sqlite3_stmt *sp;
	int64_t run_id;
	const eng_data *d;
	const dswork *w;
	int K;
	double confident;
} fold_writer;

/* Per-dataset results of the counterfactual image test and of the weighting methods. */
enum { NCUES = 5 };
typedef struct dsextra {
	eng_imgrel rel;  /* counterfactual image test (has_img) */
	int informative; /* the MM-RM uses the image: rel.drop_lo > min_image_gain */
	double text_acc, lambda;
	int avail[ENG_WM_COUNT];
	eng_wstats st[ENG_WM_COUNT];
	double refit[ENG_WM_COUNT], refit_lo[ENG_WM_COUNT], refit_hi[ENG_WM_COUNT];
	uint8_t *text_right; /* (n) row order: held-out proxy right */
	int ncue;
	uint32_t cue[NCUES]; /* text columns of the top cues: the first top features */
	int cue_sign[NCUES]; /* +1/-1: the named n-gram's sign in its hashed column */
	char cue_name[NCUES][256];
	double cue_present[NCUES];
	dswork refit_w;  /* the re-fit's folds; margin[wm - 1] = re-fit margins of method wm */
	float *refit_mm; /* (n) by re-fit position: MM-RM trained on the sfc-weighted data */
	size_t refit_ntrain[100]; /* per fold: training rows of the re-fit (its subsample) */
	size_t refit_pairs;       /* pairs the re-fit cross-fits: all, or REFIT_MAX_PAIRS' worth */
	double refit_mm_acc, refit_mm_lo, refit_mm_hi; /* its plain held-out accuracy */
} dsextra;

/* ---- score.c: cross-fitting ---- */

int eng_score_fold_by_pair(const eng_data *d, size_t k, int K);
json_t *eng_score_num_or_null(double v);
json_t *eng_score_metrics_json(const eng_dsmetrics *m, double confident);
char *eng_score_options_json(const eng_score_opts *o, const eng_data *d);
void eng_score_dswork_free(dswork *w);
int eng_score_dswork_init(dswork *w, const eng_data *d, size_t k, int K, uint64_t seed, int by_pair,
                          const eng_modelfile *mf, eng_err *err);
int eng_score_make_swaps(dswork *w, const eng_data *d, int K, uint64_t seed, eng_err *err);
int eng_score_load_conflicts(eng_ws *ws, const eng_data *d, size_t k, dswork *w, eng_err *err);
int eng_score_write_fold(void *ctx, size_t job, eng_err *err);

/* ---- scorefeat.c: the proxy's top features ---- */

json_t *eng_score_top_features_counts(eng_ws *ws, const eng_data *d, size_t k, const float *full_w,
                                      size_t n, const uint32_t *present, const uint32_t *right,
                                      int top, int ncap, uint32_t *cols, int *signs,
                                      char (*names)[256], int *nout, eng_err *err);
void eng_score_count_presence(const eng_data *d, size_t b, size_t e, const uint8_t *text_right,
                              uint32_t *present, uint32_t *right);
json_t *eng_score_top_features(eng_ws *ws, const eng_data *d, size_t k, const dswork *w,
                               const uint8_t *text_right, int top, int ncap, uint32_t *cols,
                               int *signs, char (*names)[256], int *nout, eng_err *err);

/* ---- scoreweights.c: image reliance, weights and their re-fit ---- */

void eng_score_dsextra_free(dsextra *x);
void eng_score_image_reliance_json(json_t *o, const dswork *w, const dsextra *x, double gain);
int eng_score_refit_weighted(const eng_data *d, dswork *w, dsextra *x, size_t nds, int K,
                             const eng_score_opts *o, float *const wrow[ENG_WM_COUNT],
                             const eng_progress *prog, eng_err *err);
json_t *eng_score_weights_json(const eng_data *d, const dswork *w, const dsextra *x,
                               float *const wrow[ENG_WM_COUNT]);

/* ---- scoremodel.c: score --model ---- */

int eng_score_model_margins(const eng_modelfile *mf, const eng_data *d, dswork *w, eng_err *err);
int eng_score_model_chunked(eng_ws *ws, const int64_t *ids, size_t nds, const eng_score_opts *o,
                            const eng_progress *prog, int64_t *run_id, eng_err *err);

#endif
