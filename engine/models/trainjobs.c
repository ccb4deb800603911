/* trainjobs.c - independent model trainings as tasks of the worker pool (pool.h), taken back in
 * job order. */
#include "trainjobs.h"

#include <cblas.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pool.h"

typedef struct jobset {
	const eng_pairset *ps;
	eng_trainjob *jobs; /* (n) */
	eng_err *errs;      /* (n) per-job messages */
} jobset;

/* The standard MM-RM's margins of the eval rows with swapped and with blank images. */
static int counterfactual(const eng_pairset *ps, const eng_model *m, eng_trainjob *jb, eng_err *err)
{
	size_t n = jb->neval;
	int32_t *img = malloc(sizeof(int32_t) * (n ? n : 1));
	if (!img)
		return eng_err_set(err, ENG_ENOMEM, "out of memory (counterfactual image test)");
	for (size_t i = 0; i < n; i++)
		img[i] = jb->swap_img[i] >= 0 ? jb->swap_img[i] : ps->img_of[jb->eval[i]];
	int rc = eng_model_margins_img(m, ps, jb->eval, img, n, jb->margins_swap);
	for (size_t i = 0; !rc && i < n; i++)
		img[i] = ps->img_of[jb->eval[i]] >= 0 ? ENG_MODEL_IMG_MEAN : -1;
	if (!rc)
		rc = eng_model_margins_img(m, ps, jb->eval, img, n, jb->margins_blank);
	free(img);
	if (rc)
		eng_err_set(err, rc, "out of memory (counterfactual image test)");
	return rc;
}

static void run_one(const jobset *p, size_t j)
{
	eng_trainjob *jb = &p->jobs[j];
	eng_model *m[ENG_METHOD_COUNT] = {NULL};
	const size_t *train = jb->train;
	size_t *listed = NULL;
	if (!train) {
		listed = malloc((jb->ntrain ? jb->ntrain : 1) * sizeof *listed);
		if (!listed) {
			jb->rc =
			    eng_err_set(&p->errs[j], ENG_ENOMEM, "out of memory (training rows)");
			return;
		}
		size_t k = 0;
		for (size_t i = 0; i < jb->nsrc; i++)
			if (jb->src_fold[i] != jb->skip_fold && k < jb->ntrain)
				listed[k++] = jb->src[i];
		if (k != jb->ntrain) {
			free(listed);
			jb->rc = eng_err_set(&p->errs[j], ENG_EINTERNAL,
			                     "training job %zu: %zu rows listed, %zu expected", j,
			                     k, jb->ntrain);
			return;
		}
		train = listed;
	}
	if (jb->row_weight2) {
		eng_model *two[2] = {NULL, NULL};
		if (jb->methods != 1u << ENG_METHOD_TEXT || jb->text_weights || jb->keep ||
		    !jb->margins2)
			jb->rc = eng_err_set(&p->errs[j], ENG_EINTERNAL,
			                     "training job %zu: a pair of text proxies with other "
			                     "outputs",
			                     j);
		else
			jb->rc = eng_model_train_text_pair(p->ps, train, jb->ntrain, &jb->opts,
			                                   jb->row_weight2, two, &p->errs[j]);
		free(listed);
		float *out[2] = {jb->margins[ENG_METHOD_TEXT], jb->margins2};
		for (int q = 0; q < 2 && !jb->rc; q++)
			if (out[q] && (jb->rc = eng_model_margins(two[q], p->ps, jb->eval,
			                                          jb->neval, out[q])))
				eng_err_set(&p->errs[j], jb->rc, "out of memory computing margins");
		eng_model_free(two[0]);
		eng_model_free(two[1]);
		return;
	}
	jb->rc =
	    eng_model_train_multi(p->ps, train, jb->ntrain, &jb->opts, jb->methods, m, &p->errs[j]);
	free(listed);
	if (jb->rc)
		return;
	for (int q = 0; q < ENG_METHOD_COUNT && !jb->rc; q++) {
		if (!m[q] || !jb->margins[q])
			continue;
		jb->rc = eng_model_margins(m[q], p->ps, jb->eval, jb->neval, jb->margins[q]);
		if (jb->rc)
			eng_err_set(&p->errs[j], jb->rc, "out of memory computing margins");
	}
	if (!jb->rc && jb->swap_img && m[ENG_METHOD_STANDARD])
		jb->rc = counterfactual(p->ps, m[ENG_METHOD_STANDARD], jb, &p->errs[j]);
	if (!jb->rc && jb->text_weights) {
		if (m[ENG_METHOD_TEXT])
			memcpy(jb->text_weights, eng_model_text_weights(m[ENG_METHOD_TEXT]),
			       sizeof(float) * p->ps->text_dim);
		else
			jb->rc = eng_err_set(&p->errs[j], ENG_EINTERNAL,
			                     "text weights asked of a job without the text model");
	}
	for (int q = 0; q < ENG_METHOD_COUNT; q++) {
		if (jb->keep && !jb->rc)
			jb->keep[q] = m[q];
		else
			eng_model_free(m[q]);
	}
}

/* Task j of the pool: trains job j (to is j + 1). */
static int train_task(void *arg, size_t j, size_t to)
{
	(void)to;
	const jobset *p = arg;
	run_one(p, j);
	return p->jobs[j].rc;
}

void eng_blas_single_thread(void)
{
	openblas_set_num_threads(1);
}

int eng_trainjobs_run(const eng_pairset *ps, eng_trainjob *jobs, size_t n, int threads,
                      const eng_progress *prog, eng_err *err)
{
	return eng_trainjobs_run_hooked(ps, jobs, n, threads, NULL, prog, err);
}

int eng_trainjobs_run_hooked(const eng_pairset *ps, eng_trainjob *jobs, size_t n, int threads,
                             const eng_trainjobs_hook *hook, const eng_progress *prog, eng_err *err)
{
	if (threads <= 0) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);
		threads = c < 1 ? 1 : c > 8 ? 8 : (int)c;
	}
	if ((size_t)threads > n)
		threads = n ? (int)n : 1;
	jobset p = {.ps = ps, .jobs = jobs};
	p.errs = calloc(n ? n : 1, sizeof *p.errs);
	eng_pool *pool = p.errs ? eng_pool_new(threads) : NULL;
	if (!pool) {
		free(p.errs);
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	}
	/* one BLAS thread per job, also with one worker: results never depend on the thread count
	 * (a multi-threaded sgemm may sum in another order) */
	int blas_threads = openblas_get_num_threads();
	openblas_set_num_threads(1);
	/* Determinism: job j writes only jobs[j]'s outputs and errs[j], reads the shared pairset,
	 * and has its own seed; this thread takes the jobs back in job order, reporting progress
	 * and handing each to the hook while the later ones still train. */
	size_t queued = 0;
	while (queued < n && !eng_pool_submit_range(pool, train_task, &p, queued, queued + 1))
		queued++;
	int hook_rc = 0;
	eng_err hook_err = {0};
	eng_progress_tick(prog, "train", 0, n);
	for (size_t j = 0; j < queued; j++) {
		eng_pool_collect(pool); /* job j's outcome is in jobs[j].rc */
		eng_progress_tick(prog, "train", j + 1, n);
		if (hook && !hook_rc && !jobs[j].rc)
			hook_rc = hook->fn(hook->ctx, j, &hook_err);
	}
	eng_pool_free(pool);
	openblas_set_num_threads(blas_threads);
	int rc = 0;
	if (queued < n)
		rc = eng_err_set(err, ENG_ENOMEM, "out of memory (queue the training jobs)");
	for (size_t j = 0; j < queued && !rc; j++) {
		if (jobs[j].rc) {
			rc = jobs[j].rc;
			if (err)
				*err = p.errs[j];
		}
	}
	if (!rc && hook_rc) {
		rc = hook_rc;
		if (err)
			*err = hook_err;
	}
	free(p.errs);
	return rc;
}
