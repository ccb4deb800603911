/* test_pool.c - the worker pool (engine/base/pool.h): results collected in submission order
 * whatever order tasks finish in; no threads (1 asked) runs tasks on the caller, in order, at
 * collect; many tasks through a queue that grows and shifts; failures reported first-in-order
 * after every task ran; parallel-for results bit-identical for any thread count; one background
 * task beside the caller. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pool.h"

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* ---- collect order ---- */

enum { NSLOW = 16 };

typedef struct slow {
	int i;
	atomic_int *finished; /* tasks finished so far */
	int finish_rank;      /* out: how many finished before this one */
} slow;

static int slow_task(void *arg)
{
	slow *s = arg;
	sleep_ms(2 * (NSLOW - s->i)); /* later tasks are quicker */
	s->finish_rank = atomic_fetch_add(s->finished, 1);
	return 100 + s->i;
}

static void test_pool_collect_in_submission_order(void **state)
{
	(void)state;
	eng_pool *p = eng_pool_new(4);
	assert_non_null(p);
	assert_int_equal(eng_pool_threads(p), 4);
	atomic_int finished;
	atomic_init(&finished, 0);
	slow s[NSLOW];
	for (int i = 0; i < NSLOW; i++) {
		s[i] = (slow){i, &finished, -1};
		assert_int_equal(eng_pool_submit(p, slow_task, &s[i]), 0);
	}
	assert_int_equal(eng_pool_pending(p), NSLOW);
	for (int i = 0; i < NSLOW; i++)
		assert_int_equal(eng_pool_collect(p), 100 + i);
	assert_int_equal(eng_pool_pending(p), 0);
	/* the tasks really finished out of order: task 0 (the slowest) was not the first */
	assert_true(s[0].finish_rank > 0);
	eng_pool_free(p);
}

/* ---- no threads: inline, in order, at collect ---- */

typedef struct inl {
	pthread_t caller;
	int log[8], nlog;
	int off_caller; /* tasks that ran on another thread */
} inl;

typedef struct inl_arg {
	inl *c;
	int i;
} inl_arg;

static int inline_task(void *arg)
{
	inl_arg *a = arg;
	if (!pthread_equal(pthread_self(), a->c->caller))
		a->c->off_caller++;
	a->c->log[a->c->nlog++] = a->i;
	return a->i == 3 ? -5 : 0;
}

static void test_pool_inline_with_one_thread(void **state)
{
	(void)state;
	const int asks[3] = {1, 0, -3};
	for (int k = 0; k < 3; k++) {
		eng_pool *p = eng_pool_new(asks[k]);
		assert_non_null(p);
		assert_int_equal(eng_pool_threads(p), 0);
		inl c = {.caller = pthread_self()};
		inl_arg a[8];
		for (int i = 0; i < 8; i++) {
			a[i] = (inl_arg){&c, i};
			assert_int_equal(eng_pool_submit(p, inline_task, &a[i]), 0);
		}
		assert_int_equal(c.nlog, 0); /* nothing runs at submit */
		assert_int_equal(eng_pool_collect(p), 0);
		assert_int_equal(c.nlog, 1); /* one task per collect */
		assert_int_equal(eng_pool_wait(p), -5);
		assert_int_equal(c.nlog, 8);
		assert_int_equal(c.off_caller, 0);
		for (int i = 0; i < 8; i++)
			assert_int_equal(c.log[i], i);
		eng_pool_free(p);
	}
}

/* ---- many tasks ---- */

static int square_task(void *arg)
{
	int64_t *v = arg;
	*v = *v * *v;
	return (int)(*v % 1000003);
}

/* 100000 tasks submitted in waves with collects in between: the queue grows, shifts its
 * uncollected tasks to the front, and every value comes back in order. */
static void test_pool_many_tasks(void **state)
{
	(void)state;
	enum { N = 100000 };
	int64_t *v = malloc(N * sizeof *v);
	assert_non_null(v);
	for (int threads = 1; threads <= 3; threads += 2) {
		eng_pool *p = eng_pool_new(threads);
		assert_non_null(p);
		size_t sub = 0, got = 0;
		while (got < N) {
			for (size_t k = 0; k < 1000 && sub < N; k++, sub++) {
				v[sub] = (int64_t)sub;
				assert_int_equal(eng_pool_submit(p, square_task, &v[sub]), 0);
			}
			size_t want = sub < N ? 700 : N - got;
			for (size_t k = 0; k < want; k++, got++) {
				int64_t sq = (int64_t)got * (int64_t)got;
				assert_int_equal(eng_pool_collect(p), (int)(sq % 1000003));
				assert_true(v[got] == sq);
			}
			assert_int_equal(eng_pool_pending(p), sub - got);
		}
		eng_pool_free(p);
	}
	free(v);
}

/* ---- a task that fails ---- */

typedef struct failing {
	atomic_int ran;
} failing;

typedef struct fail_arg {
	failing *f;
	int i;
} fail_arg;

static int fail_task(void *arg)
{
	fail_arg *a = arg;
	if (a->i == 5)
		sleep_ms(20); /* the first failure finishes after the second */
	atomic_fetch_add(&a->f->ran, 1);
	return a->i == 5 ? -7 : a->i == 12 ? -2 : 0;
}

static int fail_range(void *arg, size_t from, size_t to)
{
	atomic_int *rows = arg;
	atomic_fetch_add(rows, (int)(to - from));
	return from >= 50 ? -(int)(from / 10) : 0;
}

static void test_pool_task_failure(void **state)
{
	(void)state;
	for (int threads = 1; threads <= 3; threads++) {
		eng_pool *p = eng_pool_new(threads);
		assert_non_null(p);
		failing f;
		atomic_init(&f.ran, 0);
		fail_arg a[20];
		for (int i = 0; i < 20; i++) {
			a[i] = (fail_arg){&f, i};
			assert_int_equal(eng_pool_submit(p, fail_task, &a[i]), 0);
		}
		assert_int_equal(eng_pool_wait(p), -7);    /* the first in submission order */
		assert_int_equal(atomic_load(&f.ran), 20); /* every task ran, also after it */
		assert_int_equal(eng_pool_pending(p), 0);
		/* the pool is still usable after a failure */
		atomic_int rows;
		atomic_init(&rows, 0);
		assert_int_equal(eng_pool_for(p, 95, 10, fail_range, &rows), -5);
		assert_int_equal(atomic_load(&rows), 95);
		eng_pool_free(p);
	}
}

/* ---- results independent of the thread count ---- */

enum { FN = 10007, FCHUNK = 64 };

typedef struct fsum {
	const float *x;              /* (FN) */
	float part[FN / FCHUNK + 1]; /* out: one float sum per chunk */
	atomic_int *seen;            /* (FN) how often each row was visited */
} fsum;

static int fsum_range(void *arg, size_t from, size_t to)
{
	fsum *s = arg;
	float acc = 0; /* float sums depend on their order: a wrong split or order shows */
	for (size_t i = from; i < to; i++) {
		acc += s->x[i] * s->x[i];
		atomic_fetch_add(&s->seen[i], 1);
	}
	s->part[from / FCHUNK] = acc;
	return 0;
}

static float fsum_run(eng_pool *p, const float *x, atomic_int *seen)
{
	fsum s = {.x = x, .seen = seen};
	for (size_t i = 0; i < FN; i++)
		atomic_init(&seen[i], 0);
	assert_int_equal(eng_pool_for(p, FN, FCHUNK, fsum_range, &s), 0);
	for (size_t i = 0; i < FN; i++)
		assert_int_equal(atomic_load(&seen[i]), 1);
	float total = 0;
	for (size_t c = 0; c < FN / FCHUNK + 1; c++) /* combined in chunk order */
		total += s.part[c];
	return total;
}

static void test_pool_results_independent_of_thread_count(void **state)
{
	(void)state;
	float *x = malloc(FN * sizeof *x);
	atomic_int *seen = malloc(FN * sizeof *seen);
	assert_non_null(x);
	assert_non_null(seen);
	uint32_t r = 12345;
	for (size_t i = 0; i < FN; i++) {
		r = r * 1664525u + 1013904223u;
		x[i] = (float)(r >> 8) / (float)(1u << 20) - 8.0f;
	}
	/* the naive reference: the same chunks, one after the other */
	float want = 0;
	for (size_t c = 0; c * FCHUNK < FN; c++) {
		float acc = 0;
		for (size_t i = c * FCHUNK; i < FN && i < (c + 1) * FCHUNK; i++)
			acc += x[i] * x[i];
		want += acc;
	}
	const int threads[5] = {1, 2, 3, 8, ENG_POOL_MAX_THREADS + 10};
	for (int k = 0; k < 5; k++) {
		eng_pool *p = eng_pool_new(threads[k]);
		assert_non_null(p);
		assert_true(eng_pool_threads(p) <= ENG_POOL_MAX_THREADS);
		for (int rep = 0; rep < 3; rep++) {
			float got = fsum_run(p, x, seen);
			assert_memory_equal(&got, &want, sizeof got);
		}
		assert_int_equal(eng_pool_for(p, 0, FCHUNK, fsum_range, NULL), 0); /* n = 0 */
		eng_pool_free(p);
	}
	free(seen);
	free(x);
}

/* ---- freeing ---- */

static int count_task(void *arg)
{
	atomic_fetch_add((atomic_int *)arg, 1);
	return 0;
}

static void test_pool_free_runs_pending_and_accepts_null(void **state)
{
	(void)state;
	eng_pool_free(NULL);
	for (int threads = 1; threads <= 2; threads++) {
		atomic_int n;
		atomic_init(&n, 0);
		eng_pool *p = eng_pool_new(threads);
		assert_non_null(p);
		for (int i = 0; i < 50; i++)
			assert_int_equal(eng_pool_submit(p, count_task, &n), 0);
		eng_pool_free(p);
		assert_int_equal(atomic_load(&n), 50);
	}
}

/* ---- one background task ---- */

typedef struct bgctx {
	pthread_t caller;
	atomic_int go;
	int off_caller;
} bgctx;

/* Waits (up to 10 s) for the caller to set go: only a task that runs beside the caller sees it. */
static int bg_task(void *arg)
{
	bgctx *b = arg;
	b->off_caller = !pthread_equal(pthread_self(), b->caller);
	for (int i = 0; i < 10000 && !atomic_load(&b->go); i++)
		sleep_ms(1);
	return atomic_load(&b->go) ? 42 : -1;
}

static void test_pool_bg_start_join(void **state)
{
	(void)state;
	bgctx b = {.caller = pthread_self()};
	atomic_init(&b.go, 0);
	eng_bg *bg = NULL;
	assert_int_equal(eng_bg_start(&bg, bg_task, &b), 0);
	assert_non_null(bg);
	sleep_ms(5);
	atomic_store(&b.go, 1);
	assert_int_equal(eng_bg_join(bg), 42);
	assert_int_equal(b.off_caller, 1);
	assert_int_equal(eng_bg_join(NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pool_collect_in_submission_order),
	    cmocka_unit_test(test_pool_inline_with_one_thread),
	    cmocka_unit_test(test_pool_many_tasks),
	    cmocka_unit_test(test_pool_task_failure),
	    cmocka_unit_test(test_pool_results_independent_of_thread_count),
	    cmocka_unit_test(test_pool_free_runs_pending_and_accepts_null),
	    cmocka_unit_test(test_pool_bg_start_join),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
