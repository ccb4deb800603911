/* textfeat_impl_internal.h - the featurizer's state (struct eng_textfeat) and the tokenizer
 * helpers, shared by textfeat.c (featurizing, provisional bucket names) and textnamer.c (exact
 * names by a second counting pass). Only the features layer's own files include it; tests and
 * other layers use textfeat.h and textfeat_internal.h. */
#ifndef ENG_TEXTFEAT_IMPL_INTERNAL_H
#define ENG_TEXTFEAT_IMPL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "textfeat.h"

enum { SLOT_STR = 24 };
enum { KIND_NONE = 0, KIND_WORD = 1, KIND_BIGRAM = 2, KIND_CROSS = 3 };
enum { CROSS_PROMPT_MAX = 16, CROSS_RESP_MAX = 64 };

typedef struct slot {
	char s[SLOT_STR]; /* n-gram bytes (not NUL-terminated) */
	uint8_t len;      /* bytes used in s */
	uint8_t kind;     /* KIND_* */
	int8_t sign;      /* the n-gram's hash sign */
	uint8_t trunc;    /* 1: the n-gram was longer than SLOT_STR */
	int32_t votes;    /* Boyer-Moore counter */
} slot;

typedef enum named_id {
	N_LEN_CHARS,
	N_WORDS,
	N_LINES,
	N_WORD_LEN,
	N_BULLETS,
	N_NUMBERED,
	N_HEADERS,
	N_BOLD,
	N_DIGITS,
	N_UPPER,
	N_QUESTION,
	N_EXCLAIM,
	N_HEDGES,
	N_APOLOGY,
	N_REFUSAL,
	N_FIRST_PERSON,
	N_CONFIDENT,
	N_URLS,
	N_CODE,
	NNAMED
} named_id;

struct eng_textfeat {
	eng_textfeat_opts o;
	uint32_t nbuckets; /* 2^hash_bits */
	slot *slots;       /* (nbuckets) */
	int novote;        /* 1: no provisional names are voted (eng_textfeat_set_votes) */
	/* scratch, reused across calls */
	/* (nbuckets, 2): per bucket the signed count of the current response, then the pair row's
	 * staged value (eng_textfeat_pair_row), side by side (one cache line for both); zero
	 * between calls */
	float *acc;
	uint32_t *touched; /* buckets with acc != 0 in the current response */
	size_t ntouched, touched_cap;
	char *low; /* lower-cased copy of the current text */
	size_t low_cap;
	size_t *tok_off, *tok_len; /* tokens of the current text */
	size_t ntok, tok_cap;
	uint64_t *th; /* (ntok, 2) hashes of the current text's unigrams and bigrams */
	size_t th_cap;
	size_t ptok[CROSS_PROMPT_MAX * 2]; /* distinct prompt tokens (off, len) into plow */
	size_t nptok;
	char *plow; /* lower-cased prompt */
	size_t plow_cap;
	uint32_t *ecol; /* entries of the pair row being built */
	float *eval;
	size_t nent, ent_cap;
	/* the pair row's hashed part, made in column order (eng_textfeat_pair_row): per bucket the
	 * chosen value, then plus the rejected one (in acc); bit b of used0 says bucket b holds
	 * one, bit w of used1 that word w of used0 is not zero. Zero between calls; made on first
	 * use. */
	uint64_t *used0; /* (nbuckets / 64, at least 1) */
	uint64_t *used1; /* (used0 words / 64, at least 1) */
};

/* Grows *p (elements of sz bytes, capacity *cap) to hold need elements. 0 ok, -1 no memory. */
int eng_textfeat_grow(void **p, size_t sz, size_t *cap, size_t need);
/* Lower-cases text into *low (grown) and splits it into tokens (tf->tok_off/tok_len). 0 or -1. */
int eng_textfeat_tokenize(eng_textfeat *tf, const char *text, size_t n, char **low,
                          size_t *low_cap);
/* Distinct prompt tokens (first CROSS_PROMPT_MAX) for crosses. 0 or -1. */
int eng_textfeat_prompt_tokens(eng_textfeat *tf, const char *prompt);
/* Formats an n-gram of kind (KIND_*) as a column name: s (len bytes, already cut), "..." after it
 * when trunc. */
void eng_textfeat_format_ngram(int kind, const char *s, int len, int trunc, uint32_t c, char *buf,
                               size_t cap);

#endif
