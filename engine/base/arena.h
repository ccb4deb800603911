/* arena.h - a growing buffer of NUL-terminated strings addressed by offset.
 *
 * Holds the texts of a batch of rows (index lines, loaded answers, dedup rows, report ids):
 * appending returns the string's offset, which stays valid when the buffer moves as it grows.
 * Emptied for reuse by setting len = 0; freed with eng_arena_free. */
#ifndef ENG_ARENA_H
#define ENG_ARENA_H

#include <stddef.h>

typedef struct eng_arena {
	char *p; /* the bytes; strings at p + offset */
	size_t len, cap;
} eng_arena;

/* Appends n bytes of s and a NUL; *off = where they start. 0, or -1 when out of memory (the arena
 * is then unchanged). */
int eng_arena_putn(eng_arena *a, const char *s, size_t n, size_t *off);

/* Appends the string s (NULL counts as ""). As eng_arena_putn. */
int eng_arena_put(eng_arena *a, const char *s, size_t *off);

/* Frees the bytes and zeroes a; accepts a zeroed arena. */
void eng_arena_free(eng_arena *a);

#endif
