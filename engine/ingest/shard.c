/* shard.c - a record's shard of N by its group key. Contract in shard.h. It does not read images
 * or files: the key is what the record says. */
#include "shard.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

int eng_shard_parse(const char *spec, eng_shard *s, eng_err *err)
{
	const char *slash = spec ? strchr(spec, '/') : NULL;
	char *e1 = NULL, *e2 = NULL;
	if (slash && slash > spec && slash[1] >= '0' && slash[1] <= '9' && spec[0] >= '0' &&
	    spec[0] <= '9') {
		errno = 0;
		unsigned long i = strtoul(spec, &e1, 10), n = strtoul(slash + 1, &e2, 10);
		if (!errno && e1 == slash && *e2 == '\0' && n >= 1 && n <= 65536 && i < n) {
			*s = (eng_shard){(uint32_t)i, (uint32_t)n};
			return 0;
		}
	}
	return eng_err_set(err, ENG_EINPUT,
	                   "--shard '%s': expected I/N with 0 <= I < N <= 65536 (e.g. --shard 0/4 "
	                   "for the first of four shards)",
	                   spec ? spec : "");
}

uint32_t eng_shard_of(const eng_record *rec, uint64_t lineno, uint32_t n)
{
	uint64_t h;
	if (rec && rec->image && rec->image[0]) {
		h = eng_fnv1a64_update(eng_fnv1a64("i", 1), rec->image, strlen(rec->image));
	} else if (rec && rec->prompt && rec->prompt[0]) {
		h = eng_fnv1a64_update(eng_fnv1a64("p", 1), rec->prompt, strlen(rec->prompt));
	} else { /* as decimal text: the same bytes on every machine */
		char t[24];
		int k = snprintf(t, sizeof t, "%llu", (unsigned long long)lineno);
		h = eng_fnv1a64_update(eng_fnv1a64("l", 1), t, (size_t)k);
	}
	return (uint32_t)(eng_mix64(h) % n);
}

int eng_shard_keeps(const eng_shard *s, const eng_record *rec, uint64_t lineno)
{
	return s->n == 0 || eng_shard_of(rec, lineno, s->n) == s->i;
}
