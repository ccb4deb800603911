/* trainjobs.h - runs independent (method, train rows, eval rows) trainings on the worker pool.
 *
 * Each job trains one or more methods together on its training rows (one pass over the data, see
 * eng_model_train_multi) and writes each one's inference margins for its eval rows.
 * Jobs share the read-only pairset. Results do not depend on scheduling: each job has its own seed
 * and output buffer. OpenBLAS is pinned to one thread per job while jobs run, so results do not
 * depend on the number of threads either. */
#ifndef ENG_TRAINJOBS_H
#define ENG_TRAINJOBS_H

#include <stddef.h>

#include "err.h"
#include "model.h"
#include "pairset.h"
#include "progress.h"

typedef struct eng_trainjob {
	eng_train_opts opts; /* epochs, seed ... (opts.method is ignored: see methods) */
	unsigned methods;    /* bit (1u << m): train method m; all on the same minibatches
	                        (eng_model_train_multi) */
	const size_t *train; /* (ntrain) rows of the pairset */
	size_t ntrain;
	/* Or, with train NULL: the training rows are src[i] for i ascending where src_fold[i] !=
	 * skip_fold (nsrc entries; ntrain must be their count), listed by the worker when the job
	 * starts and freed when it ends. K cross-fitting jobs then hold one row list each while
	 * they run, instead of K lists for the whole run (8 bytes a row each). */
	const size_t *src;
	const int *src_fold;
	size_t nsrc;
	int skip_fold;
	const size_t *eval; /* (neval) rows to score */
	size_t neval;
	float *margins[ENG_METHOD_COUNT]; /* (neval) out per trained method: margins of eval rows,
	                                     caller-owned */
	float *text_weights; /* optional (text_dim) out: copy of the text-only model's weights
	                        (methods must include ENG_METHOD_TEXT) */
	/* Optional counterfactual image test of the standard MM-RM (methods must include
	 * ENG_METHOD_STANDARD): swap_img (neval) gives, per eval row, another image row to score it
	 * with (-1: none, the row is skipped: its outputs are copies of the true margin). Out
	 * (neval each): margins_swap with that image, margins_blank with the training images' mean
	 * (ENG_MODEL_IMG_MEAN) for rows that have an image (a copy of the true margin for rows
	 * without). Both NULL unless swap_img is set. */
	const int32_t *swap_img;
	float *margins_swap, *margins_blank;
	/* Optional, with methods = the text-only proxy alone: a second text-only proxy trained on
	 * the same minibatches with these row weights (opts.row_weight: the first's), in one pass
	 * (eng_model_train_text_pair); margins2 (neval) receives its margins of the eval rows. Not
	 * with text_weights nor keep. */
	const float *row_weight2;
	float *margins2;
	eng_model **keep; /* optional (ENG_METHOD_COUNT) out: the trained models, kept for the
	                     caller (who frees them) instead of freed after their margins */
	int rc;           /* out: 0 or the training's error code */
} eng_trainjob;

/* Pins OpenBLAS to one thread for the whole process. mmaudit runs its own threads (training jobs,
 * featurizer lanes, parsers); OpenBLAS's pool would only compete with them, and its idle threads
 * spin for a while after every wake-up. Call once at start-up. */
void eng_blas_single_thread(void);

/* Runs jobs[0..n) on `threads` workers (<= 0: the number of online CPUs, at most 8). Returns 0 when
 * every job succeeded, else the first failing job's code with its message in err. */
int eng_trainjobs_run(const eng_pairset *ps, eng_trainjob *jobs, size_t n, int threads,
                      const eng_progress *prog, eng_err *err);

/* Called once per successful job, after it finished, with its index: the results of finished jobs
 * are handed over while the later ones still train. Calls come from the thread that called the
 * run, in job order (never two at once). Returns 0 or an ENG_E* code with its message in err; the
 * first failure is returned by the run and stops the later calls (every job still trains). */
typedef struct eng_trainjobs_hook {
	int (*fn)(void *ctx, size_t job, eng_err *err);
	void *ctx;
} eng_trainjobs_hook;

/* eng_trainjobs_run with a hook (NULL: none). */
int eng_trainjobs_run_hooked(const eng_pairset *ps, eng_trainjob *jobs, size_t n, int threads,
                             const eng_trainjobs_hook *hook, const eng_progress *prog,
                             eng_err *err);

#endif
