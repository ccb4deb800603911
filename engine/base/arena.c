/* arena.c - see arena.h. */
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int eng_arena_putn(eng_arena *a, const char *s, size_t n, size_t *off)
{
	if (n > SIZE_MAX - 1 - a->len)
		return -1;
	size_t need = a->len + n + 1;
	if (need > a->cap) {
		size_t nc = a->cap ? a->cap : 1 << 16;
		while (nc < need) {
			if (nc > SIZE_MAX / 2)
				return -1;
			nc *= 2;
		}
		char *p = realloc(a->p, nc);
		if (!p)
			return -1;
		a->p = p;
		a->cap = nc;
	}
	if (n)
		memcpy(a->p + a->len, s, n);
	a->p[a->len + n] = '\0';
	*off = a->len;
	a->len = need;
	return 0;
}

int eng_arena_put(eng_arena *a, const char *s, size_t *off)
{
	return eng_arena_putn(a, s ? s : "", s ? strlen(s) : 0, off);
}

void eng_arena_free(eng_arena *a)
{
	free(a->p);
	a->p = NULL;
	a->len = a->cap = 0;
}
