/* progress.h - how long engine work reports progress without printing.
 * The engine calls eng_progress_tick(); the CLI decides how (and whether) to show it. */
#ifndef ENG_PROGRESS_H
#define ENG_PROGRESS_H

#include <stdint.h>

typedef void (*eng_progress_fn)(void *ctx, const char *stage, uint64_t done, uint64_t total);

typedef struct eng_progress {
	eng_progress_fn fn; /* NULL: silent */
	void *ctx;
} eng_progress;

/* total 0 = unknown. p may be NULL. */
static inline void eng_progress_tick(const eng_progress *p, const char *stage, uint64_t done,
                                     uint64_t total)
{
	if (p && p->fn)
		p->fn(p->ctx, stage, done, total);
}

#endif
