/* pool.c - the worker pool of pool.h: a queue of task slots in submission order, workers that take
 * the oldest task not yet started, and a caller that collects the oldest task not yet collected.
 * Knows nothing of what tasks do; never prints. */
#include "pool.h"

#include <assert.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

typedef struct slot {
	eng_task_fn fn; /* one of fn and rfn */
	eng_range_fn rfn;
	void *arg;
	size_t from, to;
	int rc;
	int done;
} slot;

/* Tasks are numbered in submission order: [head, next) have started (some are done),
 * [next, tail) wait for a worker; those below head are collected. Task t lives in
 * q[t - base]; the numbers never change, so a worker keeps its task's number while the queue
 * moves (grown or shifted to q[0], always under mu). */
struct eng_pool {
	pthread_mutex_t mu;
	pthread_cond_t work; /* a task was queued, or stop */
	pthread_cond_t done; /* a task finished */
	slot *q;
	size_t cap;
	size_t base, head, next, tail;
	int stop;
	int nth; /* worker threads running */
	pthread_t th[ENG_POOL_MAX_THREADS];
};

static int run_slot(const slot *s)
{
	return s->fn ? s->fn(s->arg) : s->rfn(s->arg, s->from, s->to);
}

static void *worker(void *arg)
{
	eng_pool *p = arg;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (p->next == p->tail && !p->stop)
			pthread_cond_wait(&p->work, &p->mu);
		if (p->next == p->tail)
			break; /* stop, and nothing left to start */
		size_t t = p->next++;
		slot s = p->q[t - p->base];
		pthread_mutex_unlock(&p->mu);
		int rc = run_slot(&s);
		pthread_mutex_lock(&p->mu);
		p->q[t - p->base].rc = rc;
		p->q[t - p->base].done = 1;
		pthread_cond_broadcast(&p->done);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

eng_pool *eng_pool_new(int threads)
{
	eng_pool *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->done, NULL);
	if (threads > ENG_POOL_MAX_THREADS)
		threads = ENG_POOL_MAX_THREADS;
	for (int i = 0; threads > 1 && i < threads; i++) {
		if (pthread_create(&p->th[i], NULL, worker, p) != 0)
			break; /* fewer threads is fine; none: tasks run on the caller */
		p->nth++;
	}
	return p;
}

int eng_pool_threads(const eng_pool *p)
{
	return p->nth;
}

/* Room for `more` new slots at q[tail - base ...]: moves the uncollected slots to q[0] or grows
 * the queue. 0, or -1 when out of memory (nothing changed). Called with mu held. */
static int reserve(eng_pool *p, size_t more)
{
	size_t used = p->tail - p->base;
	if (more <= p->cap - used)
		return 0;
	size_t live = p->tail - p->head;
	if (more <= p->cap - live) {
		memmove(p->q, p->q + (p->head - p->base), live * sizeof *p->q);
		p->base = p->head;
		return 0;
	}
	if (more > SIZE_MAX / sizeof *p->q / 2 - live)
		return -1;
	size_t cap = p->cap ? p->cap : 16;
	while (cap < live + more)
		cap *= 2;
	slot *q = malloc(cap * sizeof *q);
	if (!q)
		return -1;
	if (live)
		memcpy(q, p->q + (p->head - p->base), live * sizeof *q);
	free(p->q);
	p->q = q;
	p->cap = cap;
	p->base = p->head;
	return 0;
}

/* Appends a slot (room reserved) and wakes a worker. Called with mu held. */
static void push(eng_pool *p, slot s)
{
	p->q[p->tail - p->base] = s;
	p->tail++;
	pthread_cond_signal(&p->work);
}

int eng_pool_submit(eng_pool *p, eng_task_fn fn, void *arg)
{
	assert(p && fn);
	pthread_mutex_lock(&p->mu);
	int rc = reserve(p, 1);
	if (!rc)
		push(p, (slot){.fn = fn, .arg = arg});
	pthread_mutex_unlock(&p->mu);
	return rc ? ENG_ENOMEM : 0;
}

int eng_pool_submit_range(eng_pool *p, eng_range_fn fn, void *arg, size_t from, size_t to)
{
	assert(p && fn);
	pthread_mutex_lock(&p->mu);
	int rc = reserve(p, 1);
	if (!rc)
		push(p, (slot){.rfn = fn, .arg = arg, .from = from, .to = to});
	pthread_mutex_unlock(&p->mu);
	return rc ? ENG_ENOMEM : 0;
}

size_t eng_pool_pending(const eng_pool *p)
{
	return p->tail - p->head; /* head and tail change only on the owner's thread */
}

int eng_pool_collect(eng_pool *p)
{
	assert(p && p->head < p->tail);
	pthread_mutex_lock(&p->mu);
	size_t t = p->head;
	if (!p->nth) { /* no threads: the caller runs the task, in order */
		slot s = p->q[t - p->base];
		p->next++;
		pthread_mutex_unlock(&p->mu);
		int rc = run_slot(&s);
		pthread_mutex_lock(&p->mu);
		p->q[t - p->base].rc = rc;
		p->q[t - p->base].done = 1;
	}
	while (!p->q[t - p->base].done)
		pthread_cond_wait(&p->done, &p->mu);
	int rc = p->q[t - p->base].rc;
	p->head++;
	pthread_mutex_unlock(&p->mu);
	return rc;
}

int eng_pool_wait(eng_pool *p)
{
	int first = 0;
	while (eng_pool_pending(p)) {
		int rc = eng_pool_collect(p);
		if (rc && !first)
			first = rc;
	}
	return first;
}

int eng_pool_for(eng_pool *p, size_t n, size_t chunk, eng_range_fn fn, void *arg)
{
	assert(p && fn && chunk > 0 && !eng_pool_pending(p));
	size_t nch = n / chunk + (n % chunk != 0);
	pthread_mutex_lock(&p->mu);
	int rc = reserve(p, nch);
	for (size_t c = 0; !rc && c < nch; c++) {
		size_t from = c * chunk, to = n - from > chunk ? from + chunk : n;
		push(p, (slot){.rfn = fn, .arg = arg, .from = from, .to = to});
	}
	pthread_mutex_unlock(&p->mu);
	return rc ? ENG_ENOMEM : eng_pool_wait(p);
}

void eng_pool_free(eng_pool *p)
{
	if (!p)
		return;
	eng_pool_wait(p);
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->nth; i++)
		pthread_join(p->th[i], NULL);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->done);
	free(p->q);
	free(p);
}

/* ---- one background task ------------------------------------------------------------------- */

struct eng_bg {
	pthread_t th;
	eng_task_fn fn;
	void *arg;
	int rc;
};

static void *bg_main(void *arg)
{
	eng_bg *b = arg;
	b->rc = b->fn(b->arg);
	return NULL;
}

int eng_bg_start(eng_bg **out, eng_task_fn fn, void *arg)
{
	assert(out && fn);
	eng_bg *b = malloc(sizeof *b);
	*out = NULL;
	if (!b)
		return ENG_ENOMEM;
	b->fn = fn;
	b->arg = arg;
	b->rc = 0;
	if (pthread_create(&b->th, NULL, bg_main, b) != 0) {
		free(b);
		return ENG_ENOMEM;
	}
	*out = b;
	return 0;
}

int eng_bg_join(eng_bg *bg)
{
	if (!bg)
		return 0;
	pthread_join(bg->th, NULL);
	int rc = bg->rc;
	free(bg);
	return rc;
}
