/* pool.h - the one worker pool: tasks run on a few threads, their results are collected in the
 * order they were submitted; and one background task beside the caller (start + join).
 *
 * The determinism rule every caller relies on (write it where you submit):
 *   a task writes only its own output slot (its own struct, or its own [from, to) range of a
 *   caller's array) and reads only what no task writes while tasks run; the caller combines the
 *   slots in submission order (eng_pool_collect, eng_pool_wait, eng_pool_for). Then the output does
 *   not depend on the number of threads nor on which thread ran what, when.
 * A task that needs a shared resource (a file, a connection, a progress callback) either leaves it
 * to the caller, who uses it between collects, or brings its own lock and its own argument why the
 * order of its uses does not matter.
 *
 * Deliberately not here: cancelling a task (a task can check a flag the caller sets), priorities,
 * tasks that submit tasks, and long-lived producer/consumer queues between threads (a parser
 * feeding a consumer, a thread woken by every commit): those are not tasks with results.
 *
 * Thread use: the functions on a pool (submit, collect, wait, for, free) are called by one thread
 * at a time, the pool's owner; tasks never call the pool that runs them. */
#ifndef ENG_POOL_H
#define ENG_POOL_H

#include <stddef.h>

#define ENG_POOL_MAX_THREADS 64

typedef struct eng_pool eng_pool;

/* A task: returns 0 or a failure code of the caller's choosing (an ENG_E* code, -1 ...). */
typedef int (*eng_task_fn)(void *arg);
/* A task over the rows [from, to) of the caller's data. */
typedef int (*eng_range_fn)(void *arg, size_t from, size_t to);

/* A pool of `threads` worker threads (at most ENG_POOL_MAX_THREADS). With threads <= 1, or when no
 * thread can start, the pool has no threads and runs every task on the caller, inside
 * eng_pool_collect/eng_pool_wait, in submission order: every caller works single-threaded without
 * a second code path. When only some threads start, the pool runs with those. NULL only when out
 * of memory. Freed with eng_pool_free. */
eng_pool *eng_pool_new(int threads);

/* The worker threads running (0: tasks run on the caller). */
int eng_pool_threads(const eng_pool *p);

/* Queues fn(arg). 0, or ENG_ENOMEM when the queue cannot grow (fn was not queued). arg must stay
 * valid until the task is collected. */
int eng_pool_submit(eng_pool *p, eng_task_fn fn, void *arg);

/* Queues fn(arg, from, to); as eng_pool_submit. */
int eng_pool_submit_range(eng_pool *p, eng_range_fn fn, void *arg, size_t from, size_t to);

/* Tasks submitted and not yet collected. */
size_t eng_pool_pending(const eng_pool *p);

/* Waits for the oldest task not yet collected (running it on the caller when the pool has no
 * threads) and returns its value. There must be one (eng_pool_pending > 0). */
int eng_pool_collect(eng_pool *p);

/* Collects every pending task; returns the first nonzero value in submission order, else 0. Every
 * task has run when it returns, also those after a failure. */
int eng_pool_wait(eng_pool *p);

/* Parallel for: fn(arg, from, to) over [0, n) in chunks of `chunk` rows (the last one shorter), the
 * chunks fixed by n and chunk alone, never by the thread count. Needs no pending task before.
 * Returns once every chunk has run: 0, the first nonzero value in chunk order, or ENG_ENOMEM when
 * the chunks cannot be queued (then none ran). n == 0 runs nothing. */
int eng_pool_for(eng_pool *p, size_t n, size_t chunk, eng_range_fn fn, void *arg);

/* Runs the tasks still pending (their values are dropped), stops the threads and frees the pool.
 * Accepts NULL. */
void eng_pool_free(eng_pool *p);

/* One task on a thread of its own beside the caller, which goes on with other work. */
typedef struct eng_bg eng_bg;

/* Starts fn(arg) on its own thread: 0 and *out is the handle for eng_bg_join. ENG_ENOMEM when no
 * memory or no thread: nothing ran, *out is NULL, and the caller does the work itself (so it keeps
 * working single-threaded). */
int eng_bg_start(eng_bg **out, eng_task_fn fn, void *arg);

/* Waits for the task, frees the handle and returns the task's value. NULL: returns 0. */
int eng_bg_join(eng_bg *bg);

#endif
