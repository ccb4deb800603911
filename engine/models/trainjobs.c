/* trainjobs.c - a tiny pthread pool over independent model trainings. */
#include "trainjobs.h"

#include <cblas.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct pool {
	const eng_pairset *ps;
	eng_trainjob *jobs;
	size_t n, next, done;
	pthread_mutex_t mu;
	const eng_trainjobs_hook *hook; /* NULL: none */
	uint8_t *state;                 /* (n) 1: trained ok, waiting for the hook; 2: taken */
	pthread_mutex_t hook_mu;        /* serializes hook calls */
	int hook_rc;
	eng_err hook_err;
	eng_err *errs; /* (n) per-job messages */
	const eng_progress *prog;
	int report; /* progress is reported by worker 0's thread only (callbacks are not
	               thread-safe) */
} pool;

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

static void run_one(pool *p, size_t j)
{
	eng_trainjob *jb = &p->jobs[j];
	eng_model *m[ENG_METHOD_COUNT] = {NULL};
	jb->rc = eng_model_train_multi(p->ps, jb->train, jb->ntrain, &jb->opts, jb->methods, m,
	                               &p->errs[j]);
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

/* Marks job j finished (its result ready for the hook when it succeeded). */
static void finish(pool *p, size_t j)
{
	pthread_mutex_lock(&p->mu);
	p->done++;
	if (p->hook && !p->jobs[j].rc)
		p->state[j] = 1;
	pthread_mutex_unlock(&p->mu);
}

/* Hands every finished, not yet taken job to the hook. */
static void drain_hook(pool *p)
{
	if (!p->hook)
		return;
	for (;;) {
		size_t j = p->n;
		pthread_mutex_lock(&p->mu);
		for (size_t k = 0; k < p->n && j == p->n; k++)
			if (p->state[k] == 1)
				j = k;
		if (j < p->n)
			p->state[j] = 2;
		pthread_mutex_unlock(&p->mu);
		if (j == p->n)
			return;
		pthread_mutex_lock(&p->hook_mu);
		if (!p->hook_rc)
			p->hook_rc = p->hook->fn(p->hook->ctx, j, &p->hook_err);
		pthread_mutex_unlock(&p->hook_mu);
	}
}

static void *worker(void *arg)
{
	pool *p = arg;
	for (;;) {
		pthread_mutex_lock(&p->mu);
		size_t j = p->next < p->n ? p->next++ : p->n;
		pthread_mutex_unlock(&p->mu);
		if (j >= p->n)
			break;
		run_one(p, j);
		finish(p, j);
	}
	drain_hook(p); /* no job left: hand over what is finished while the others train */
	return NULL;
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
	pool p = {.ps = ps, .jobs = jobs, .n = n, .prog = prog, .hook = hook};
	p.errs = calloc(n ? n : 1, sizeof *p.errs);
	p.state = calloc(n ? n : 1, 1);
	if (!p.errs || !p.state) {
		free(p.errs);
		free(p.state);
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	}
	pthread_mutex_init(&p.mu, NULL);
	pthread_mutex_init(&p.hook_mu, NULL);
	/* one BLAS thread per job, also with one worker: results never depend on the thread count
	 * (a multi-threaded sgemm may sum in another order) */
	int blas_threads = openblas_get_num_threads();
	openblas_set_num_threads(1);
	pthread_t *tid = calloc((size_t)threads, sizeof *tid);
	int started = 0;
	for (int t = 1; tid && t < threads; t++) {
		if (pthread_create(&tid[t], NULL, worker, &p) == 0)
			started++;
		else
			break;
	}
	/* The calling thread works too and reports progress between its jobs. */
	for (;;) {
		pthread_mutex_lock(&p.mu);
		size_t j = p.next < p.n ? p.next++ : p.n;
		size_t done = p.done;
		pthread_mutex_unlock(&p.mu);
		eng_progress_tick(prog, "train", done, n);
		if (j >= p.n)
			break;
		run_one(&p, j);
		finish(&p, j);
	}
	drain_hook(&p);
	for (int t = 1; t <= started; t++)
		pthread_join(tid[t], NULL);
	drain_hook(&p); /* jobs the workers finished after this thread's drain */
	eng_progress_tick(prog, "train", n, n);
	free(tid);
	openblas_set_num_threads(blas_threads);
	pthread_mutex_destroy(&p.mu);
	pthread_mutex_destroy(&p.hook_mu);
	int rc = 0;
	for (size_t j = 0; j < n; j++) {
		if (jobs[j].rc) {
			rc = jobs[j].rc;
			if (err)
				*err = p.errs[j];
			break;
		}
	}
	if (!rc && p.hook_rc) {
		rc = p.hook_rc;
		if (err)
			*err = p.hook_err;
	}
	free(p.errs);
	free(p.state);
	return rc;
}
