/* textnamer.c - exact names of chosen hashed text columns: a second pass over the answers that
 * tokenizes and hashes them as the featurizer does and counts, for the wanted buckets only, every
 * distinct n-gram; a bucket's name is its most frequent one. Does not featurize (textfeat.c). */
#include "textfeat.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "textfeat_impl_internal.h"
#include "textfeat_internal.h"

/* ---- exact names ------------------------------------------------------------------------------
 * Why a second pass and not exact counts during featurizing: counting every n-gram of every bucket
 * exactly needs memory in the number of distinct n-grams of the data (tens of millions of entries
 * at 1M pairs), and the names are needed only for the <= top_features reported columns per
 * dataset. Counting only the n-grams that hash into those buckets keeps one entry per distinct
 * n-gram there (about distinct n-grams x chosen / 2^bits: a few thousand at 2^18 buckets), and
 * costs one more tokenize + hash pass over the answers, without the per-bucket accumulators,
 * named features and row assembly of the featurizer. */

typedef struct ngram_count {
	uint64_t h;     /* the n-gram's FNV-1a hash (its bucket = h & mask) */
	size_t off;     /* its bytes in strs (full, not cut) */
	uint32_t len;   /* bytes */
	uint64_t count; /* occurrences; 0 = empty table slot */
} ngram_count;

struct eng_textfeat_namer {
	eng_textfeat *tok; /* tokenizer scratch: tf's options, no name slots nor accumulators */
	uint32_t mask;     /* 2^hash_bits - 1 */
	uint8_t *want;     /* (2^hash_bits) 1: the bucket is named */
	ngram_count *tab;  /* open addressing on the high bits of h, (1 << lg) slots */
	int lg;
	size_t used;
	eng_arena strs;
	char *tmp; /* the n-gram being counted, assembled */
	size_t tmp_cap;
};

void eng_textfeat_namer_free(eng_textfeat_namer *nm)
{
	if (!nm)
		return;
	eng_textfeat_free(nm->tok);
	free(nm->want);
	free(nm->tab);
	eng_arena_free(&nm->strs);
	free(nm->tmp);
	free(nm);
}

int eng_textfeat_namer_new(const eng_textfeat *tf, const uint32_t *cols, size_t n,
                           eng_textfeat_namer **out, eng_err *err)
{
	assert(tf && out && (cols || n == 0));
	*out = NULL;
	eng_textfeat_namer *nm = calloc(1, sizeof *nm);
	if (!nm)
		goto oom;
	nm->tok = calloc(1, sizeof *nm->tok);
	nm->want = calloc(tf->nbuckets, 1);
	nm->lg = 10;
	nm->tab = calloc((size_t)1 << nm->lg, sizeof *nm->tab);
	if (!nm->tok || !nm->want || !nm->tab)
		goto oom;
	nm->tok->o = tf->o;
	nm->tok->nbuckets = tf->nbuckets;
	nm->mask = tf->nbuckets - 1;
	for (size_t i = 0; i < n; i++)
		if (cols[i] < tf->nbuckets)
			nm->want[cols[i]] = 1;
	*out = nm;
	return 0;
oom:
	eng_textfeat_namer_free(nm);
	return eng_err_set(err, ENG_ENOMEM, "textfeat: out of memory (namer)");
}

static size_t tab_home(const eng_textfeat_namer *nm, uint64_t h)
{
	/* the low bits of h are the bucket, shared by every entry of a bucket: index by the high
	 * bits of a multiplicative hash */
	return (size_t)((h * 0x9E3779B97F4A7C15ULL) >> (64 - nm->lg));
}

/* The table slot of n-gram (h, s, len): its entry, or the empty slot where it goes. */
static ngram_count *tab_find(eng_textfeat_namer *nm, uint64_t h, const char *s, size_t len)
{
	size_t m = ((size_t)1 << nm->lg) - 1;
	for (size_t i = tab_home(nm, h);; i = (i + 1) & m) {
		ngram_count *e = &nm->tab[i];
		if (!e->count ||
		    (e->h == h && e->len == len && memcmp(nm->strs.p + e->off, s, len) == 0))
			return e;
	}
}

static int tab_grow(eng_textfeat_namer *nm)
{
	size_t old = (size_t)1 << nm->lg;
	ngram_count *ot = nm->tab;
	ngram_count *nt = calloc(old * 2, sizeof *nt);
	if (!nt)
		return -1;
	nm->tab = nt;
	nm->lg++;
	size_t m = old * 2 - 1;
	for (size_t i = 0; i < old; i++) {
		if (!ot[i].count)
			continue;
		size_t j = tab_home(nm, ot[i].h);
		while (nt[j].count)
			j = (j + 1) & m;
		nt[j] = ot[i];
	}
	free(ot);
	return 0;
}

/* Adds k occurrences of the n-gram (h, s, len). 0 or -1 (no memory). */
static int tab_add(eng_textfeat_namer *nm, uint64_t h, const char *s, size_t len, uint64_t k)
{
	if (2 * (nm->used + 1) > ((size_t)1 << nm->lg) && tab_grow(nm))
		return -1;
	ngram_count *e = tab_find(nm, h, s, len);
	if (!e->count) {
		size_t off;
		if (len > UINT32_MAX || eng_arena_putn(&nm->strs, s, len, &off))
			return -1;
		*e = (ngram_count){h, off, (uint32_t)len, 0};
		nm->used++;
	}
	e->count += k;
	return 0;
}

/* Counts one occurrence of the n-gram (a, na) [+ sep + (b, nb)] of hash h, if its bucket is
 * named. */
static int count_ngram(eng_textfeat_namer *nm, uint64_t h, const char *a, size_t na, char sep,
                       const char *b, size_t nb)
{
	if (!nm->want[h & nm->mask])
		return 0;
	size_t len = na + (b ? 1 + nb : 0);
	void *p = nm->tmp;
	if (eng_textfeat_grow(&p, 1, &nm->tmp_cap, len + 1))
		return -1;
	nm->tmp = p;
	memcpy(nm->tmp, a, na);
	if (b) {
		nm->tmp[na] = sep;
		memcpy(nm->tmp + na + 1, b, nb);
	}
	return tab_add(nm, h, nm->tmp, len, 1);
}

/* The n-grams of the tokens in nm->tok, as hash_tokens() hashes them. */
static int count_tokens(eng_textfeat_namer *nm)
{
	eng_textfeat *t = nm->tok;
	const char *l = t->low;
	for (size_t i = 0; i < t->ntok; i++) {
		const char *w = l + t->tok_off[i];
		size_t nw = t->tok_len[i];
		uint64_t h = eng_fnv1a64(w, nw);
		if (count_ngram(nm, h, w, nw, 0, NULL, 0))
			return -1;
		if (t->o.bigrams && i + 1 < t->ntok) {
			const char *w2 = l + t->tok_off[i + 1];
			size_t n2 = t->tok_len[i + 1];
			uint64_t h2 = eng_fnv1a64_update(h, " ", 1);
			h2 = eng_fnv1a64_update(h2, w2, n2);
			if (count_ngram(nm, h2, w, nw, ' ', w2, n2))
				return -1;
		}
		if (t->o.crosses && i < CROSS_RESP_MAX) {
			for (size_t p = 0; p < t->nptok; p++) {
				const char *pw = t->plow + t->ptok[2 * p];
				size_t pn = t->ptok[2 * p + 1];
				uint64_t hc = eng_fnv1a64(pw, pn);
				hc = eng_fnv1a64_update(hc, "|", 1);
				hc = eng_fnv1a64_update(hc, w, nw);
				if (count_ngram(nm, hc, pw, pn, '|', w, nw))
					return -1;
			}
		}
	}
	return 0;
}

int eng_textfeat_namer_add_pair(eng_textfeat_namer *nm, const char *prompt, const char *chosen,
                                const char *rejected, eng_err *err)
{
	assert(nm);
	eng_textfeat *t = nm->tok;
	if (eng_textfeat_prompt_tokens(t, prompt))
		goto oom;
	const char *ans[2] = {chosen ? chosen : "", rejected ? rejected : ""};
	for (int a = 0; a < 2; a++)
		if (eng_textfeat_tokenize(t, ans[a], strlen(ans[a]), &t->low, &t->low_cap) ||
		    count_tokens(nm))
			goto oom;
	return 0;
oom:
	return eng_err_set(err, ENG_ENOMEM, "textfeat: out of memory (namer)");
}

int eng_textfeat_namer_merge(eng_textfeat_namer *dst, const eng_textfeat_namer *src, eng_err *err)
{
	assert(dst && src && dst->mask == src->mask);
	for (size_t i = 0; i < ((size_t)1 << src->lg); i++) {
		const ngram_count *e = &src->tab[i];
		if (e->count && tab_add(dst, e->h, src->strs.p + e->off, e->len, e->count))
			return eng_err_set(err, ENG_ENOMEM, "textfeat: out of memory (namer)");
	}
	return 0;
}

/* 1 when a ranks before b as a bucket's name: more occurrences, then the smaller bytes. */
static int name_before(const eng_textfeat_namer *nm, const ngram_count *a, const ngram_count *b)
{
	if (a->count != b->count)
		return a->count > b->count;
	size_t m = a->len < b->len ? a->len : b->len;
	int c = memcmp(nm->strs.p + a->off, nm->strs.p + b->off, m);
	return c != 0 ? c < 0 : a->len < b->len;
}

const char *eng_textfeat_namer_name(const eng_textfeat_namer *nm, uint32_t c, char *buf, size_t cap,
                                    uint64_t *count, int *sign)
{
	assert(nm && buf && cap > 0);
	if (count)
		*count = 0;
	if (sign)
		*sign = 0;
	if (c > nm->mask || !nm->want[c]) {
		snprintf(buf, cap, "bucket %u (not counted)", (unsigned)c);
		return buf;
	}
	const ngram_count *best = NULL;
	for (size_t i = 0; i < ((size_t)1 << nm->lg); i++) {
		const ngram_count *e = &nm->tab[i];
		if (e->count && (e->h & nm->mask) == c && (!best || name_before(nm, e, best)))
			best = e;
	}
	if (!best) {
		eng_textfeat_format_ngram(KIND_NONE, "", 0, 0, c, buf, cap);
		return buf;
	}
	const char *s = nm->strs.p + best->off;
	/* kind from the bytes: tokens hold no ' ' and no '|' */
	int kind = memchr(s, '|', best->len)   ? KIND_CROSS
	           : memchr(s, ' ', best->len) ? KIND_BIGRAM
	                                       : KIND_WORD;
	size_t len = best->len;
	if (len > SLOT_STR) { /* cut as the vote slots are: on a UTF-8 boundary */
		len = SLOT_STR;
		while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
			len--;
	}
	eng_textfeat_format_ngram(kind, s, (int)len, len < best->len, c, buf, cap);
	if (count)
		*count = best->count;
	if (sign)
		*sign = (best->h >> 63) ? -1 : 1;
	return buf;
}
