/* textfeat.c - answer text -> sparse feature vector phi, and pairs -> d = phi(chosen) -
 * phi(rejected).
 *
 * Tokens: maximal runs of word bytes, ASCII lower-cased. Word bytes are ASCII letters and digits,
 * every byte >= 0x80 (so UTF-8 sequences stay whole and are never split or case-folded), and an
 * ASCII apostrophe between two word bytes ("don't"). Everything else separates tokens.
 *
 * Hashed part: every occurrence of a word unigram ("w"), word bigram ("w1 w2", one space) and,
 * optionally, prompt x response cross ("p|r") is hashed with 64-bit FNV-1a of those bytes;
 * bucket = h mod 2^bits, sign = +1 if bit 63 of h is clear else -1. Per response, s_b = signed
 * count in bucket b, value_b = sign(s_b) * log1p(|s_b|), and the hashed part is scaled to unit L2
 * norm (so answer length does not inflate the hashed part; length has its own named features).
 *
 * Named part: NNAMED style features, each scaled into roughly [0, 1] per response (log counts
 * divided by a fixed constant and clipped, shares of lines/chars), i.e. the same order as the
 * largest entries of the unit-norm hashed part. Columns: [0, 2^bits) hashed, then the named ones.
 *
 * Bucket names: one 32-byte slot per bucket holds the Boyer-Moore majority-vote n-gram of the
 * occurrences seen (the exact most frequent one whenever it has more than half the bucket's
 * occurrences), truncated to 24 bytes at a UTF-8 boundary. Memory: 2^bits * 32 bytes. That vote
 * is a cheap provisional name for every bucket and depends on the order of the texts when no
 * n-gram holds a majority, so names that are reported come from eng_textfeat_namer instead: an
 * exact count of the n-grams of a few chosen buckets, in a second pass (textnamer.c).
 * Does not read files or databases, and does not do char n-grams. */
#include "textfeat.h"

#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "textfeat_impl_internal.h"
#include "textfeat_internal.h"

/* The byte loops of the tokenizer and the named features, compiled twice on x86-64 with GCC:
 * for AVX2 and for the baseline, the loader picking one by CPU (an ifunc). They count and
 * lower-case bytes, so both give the same results; AVX2 doubles the width of the vectorized
 * loops (about 4% of a text audit's featurizing and naming). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define BYTE_LOOPS __attribute__((target_clones("avx2", "default")))
#else
#define BYTE_LOOPS
#endif

static const char *const named_names[NNAMED] = {
    [N_LEN_CHARS] = "length (log chars)",
    [N_WORDS] = "words (log count)",
    [N_LINES] = "non-empty lines (log count)",
    [N_WORD_LEN] = "mean word length",
    [N_BULLETS] = "bullet-list lines (share)",
    [N_NUMBERED] = "numbered-list lines (share)",
    [N_HEADERS] = "markdown headers (share of lines)",
    [N_BOLD] = "markdown bold/emphasis (log count)",
    [N_DIGITS] = "digits (share of chars)",
    [N_UPPER] = "upper-case letters (share)",
    [N_QUESTION] = "question marks (log count)",
    [N_EXCLAIM] = "exclamation marks (log count)",
    [N_HEDGES] = "hedges: might/perhaps/possibly... (log count)",
    [N_APOLOGY] = "apologies: sorry/apologize/as an AI... (log count)",
    [N_REFUSAL] = "refusals: cannot/unable/can't... (log count)",
    [N_FIRST_PERSON] = "first person: I/me/my/we... (log count)",
    [N_CONFIDENT] = "confident words: certainly/definitely... (log count)",
    [N_URLS] = "URLs (log count)",
    [N_CODE] = "code markers: backticks (log count)",
};

void eng_textfeat_bucket_of(const eng_textfeat *tf, uint64_t h, uint32_t *bucket, int *sign)
{
	*bucket = (uint32_t)(h & (tf->nbuckets - 1));
	*sign = (h >> 63) ? -1 : 1;
}

/* log1p(k) for the small counts most buckets hold (the same doubles log1p returns) */
enum { LOG1P_TABLE = 64 };
static double log1p_table[LOG1P_TABLE + 1];
static pthread_once_t log1p_once = PTHREAD_ONCE_INIT;
static void wordlists_init(void);
static void log1p_init(void) /* once per process: both lookup tables */
{
	for (int k = 0; k <= LOG1P_TABLE; k++)
		log1p_table[k] = log1p((double)k);
	wordlists_init();
}

static inline double log1p_count(float s)
{
	double a = fabs((double)s);
	return a <= LOG1P_TABLE && a == (double)(int)a ? log1p_table[(int)a] : log1p(a);
}

/* ---- options, lifetime ----------------------------------------------------------------------- */

void eng_textfeat_opts_default(eng_textfeat_opts *o)
{
	o->hash_bits = 18;
	o->bigrams = 1;
	o->crosses = 0;
}

eng_textfeat_opts eng_textfeat_opts_of(const eng_textfeat *tf)
{
	return tf->o;
}

int eng_textfeat_named_count(void)
{
	return NNAMED;
}

uint32_t eng_textfeat_dim(const eng_textfeat *tf)
{
	return tf->nbuckets + NNAMED;
}

int eng_textfeat_new(const eng_textfeat_opts *o, eng_textfeat **out, eng_err *err)
{
	assert(out);
	*out = NULL;
	eng_textfeat_opts d;
	if (!o) {
		eng_textfeat_opts_default(&d);
		o = &d;
	}
	if (o->hash_bits < 4 || o->hash_bits > 26)
		return eng_err_set(err, ENG_EINPUT, "textfeat: hash_bits %d out of range [4, 26]",
		                   o->hash_bits);
	pthread_once(&log1p_once, log1p_init);
	eng_textfeat *tf = calloc(1, sizeof *tf);
	if (!tf)
		return eng_err_set(err, ENG_ENOMEM, "textfeat: out of memory");
	tf->o = *o;
	tf->nbuckets = (uint32_t)1 << o->hash_bits;
	tf->slots = calloc(tf->nbuckets, sizeof *tf->slots);
	tf->acc = calloc((size_t)tf->nbuckets * 2, sizeof *tf->acc);
	if (!tf->slots || !tf->acc) {
		eng_textfeat_free(tf);
		return eng_err_set(err, ENG_ENOMEM, "textfeat: out of memory (2^%d buckets)",
		                   o->hash_bits);
	}
	*out = tf;
	return 0;
}

void eng_textfeat_set_votes(eng_textfeat *tf, int on)
{
	tf->novote = !on;
}

void eng_textfeat_free(eng_textfeat *tf)
{
	if (!tf)
		return;
	free(tf->slots);
	free(tf->acc);
	free(tf->touched);
	free(tf->low);
	free(tf->tok_off);
	free(tf->tok_len);
	free(tf->plow);
	free(tf->ecol);
	free(tf->eval);
	free(tf->used0);
	free(tf->used1);
	free(tf->th);
	free(tf);
}

/* Grows *p (elements of sz bytes, capacity *cap) to hold need elements. 0 ok, -1 no memory. */
int eng_textfeat_grow(void **p, size_t sz, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	size_t nc = *cap ? *cap : 64;
	while (nc < need) {
		if (nc > SIZE_MAX / 2 / sz)
			return -1;
		nc *= 2;
	}
	void *q = realloc(*p, nc * sz);
	if (!q)
		return -1;
	*p = q;
	*cap = nc;
	return 0;
}

/* ---- tokenizer ------------------------------------------------------------------------------- */

/* Word bytes (see the top): ASCII letters and digits, every byte >= 0x80. */
static const uint8_t word_byte[256] = {
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,          ['7'] = 1,
    ['8'] = 1, ['9'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1,          ['F'] = 1,
    ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1,          ['N'] = 1,
    ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,          ['V'] = 1,
    ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1,          ['d'] = 1,
    ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1,          ['l'] = 1,
    ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1,          ['t'] = 1,
    ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1, [0x80 ... 0xFF] = 1};

static int is_word_byte(unsigned char c)
{
	return word_byte[c];
}

/* Lower-cases text into *low (grown) and splits it into tokens (tf->tok_off/tok_len). */
BYTE_LOOPS int eng_textfeat_tokenize(eng_textfeat *tf, const char *text, size_t n, char **low,
                                     size_t *low_cap)
{
	void *p = *low;
	if (n == SIZE_MAX || eng_textfeat_grow(&p, 1, low_cap, n + 1))
		return -1;
	*low = p;
	char *l = *low;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)text[i];
		l[i] = (char)((c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c);
	}
	l[n] = '\0';
	tf->ntok = 0;
	/* room for every token up front: at most one per two bytes (a word byte, a separator) */
	size_t most = n / 2 + 1;
	if (most > tf->tok_cap) {
		size_t c1 = tf->tok_cap, c2 = tf->tok_cap;
		void *a = tf->tok_off, *b = tf->tok_len;
		if (eng_textfeat_grow(&a, sizeof(size_t), &c1, most))
			return -1;
		tf->tok_off = a;
		if (eng_textfeat_grow(&b, sizeof(size_t), &c2, most))
			return -1;
		tf->tok_len = b;
		tf->tok_cap = c1 < c2 ? c1 : c2;
	}
	size_t i = 0;
	while (i < n) {
		if (!is_word_byte((unsigned char)l[i])) {
			i++;
			continue;
		}
		size_t s = i;
		while (i < n &&
		       (is_word_byte((unsigned char)l[i]) ||
		        (l[i] == '\'' && i + 1 < n && is_word_byte((unsigned char)l[i + 1]))))
			i++;
		assert(tf->ntok < tf->tok_cap);
		tf->tok_off[tf->ntok] = s;
		tf->tok_len[tf->ntok] = i - s;
		tf->ntok++;
	}
	return 0;
}

/* ---- hashed features ------------------------------------------------------------------------- */

/* Majority vote of the n-gram v = (a, na) [+ sep + (b, nb)] into the bucket's name slot: its
 * first SLOT_STR bytes at most, cut on a UTF-8 boundary. v is compared and copied in place
 * (never assembled), as this runs for every word and bigram. */
static void vote(eng_textfeat *tf, uint32_t bucket, int sign, int kind, const char *a, size_t na,
                 char sep, const char *b, size_t nb)
{
	size_t full = na + (b ? 1 + nb : 0), len = full;
	if (full > SLOT_STR) {
		len = SLOT_STR;
		for (;;) { /* back off continuation bytes: v[len] must start a character */
			unsigned char ch = (unsigned char)(len < na    ? a[len]
			                                   : len == na ? sep
			                                               : b[len - na - 1]);
			if (len == 0 || (ch & 0xC0) != 0x80)
				break;
			len--;
		}
	}
	int trunc = full > len;
	size_t ma = len < na ? len : na; /* bytes of v from a; then sep and bytes from b */
	slot *s = &tf->slots[bucket];
	if (s->votes > 0 && s->kind == kind && s->len == len && s->trunc == trunc &&
	    memcmp(s->s, a, ma) == 0 &&
	    (len <= na || (s->s[na] == sep && memcmp(s->s + na + 1, b, len - na - 1) == 0))) {
		if (s->votes < INT32_MAX)
			s->votes++;
	} else if (s->votes > 0) {
		s->votes--;
	} else {
		memcpy(s->s, a, ma);
		if (len > na) {
			s->s[na] = sep;
			memcpy(s->s + na + 1, b, len - na - 1);
		}
		s->len = (uint8_t)len;
		s->kind = (uint8_t)kind;
		s->sign = (int8_t)sign;
		s->trunc = (uint8_t)trunc;
		s->votes = 1;
	}
}

static int acc_add(eng_textfeat *tf, uint64_t h)
{
	uint32_t b;
	int sg;
	eng_textfeat_bucket_of(tf, h, &b, &sg);
	if (tf->acc[2 * (size_t)b] == 0) {
		void *p = tf->touched;
		if (eng_textfeat_grow(&p, sizeof(uint32_t), &tf->touched_cap, tf->ntouched + 1))
			return -1;
		tf->touched = p;
		tf->touched[tf->ntouched++] = b;
	}
	tf->acc[2 * (size_t)b] += (float)sg;
	/* a bucket whose signed count returns to 0 stays in touched; emit() skips it */
	return 0;
}

/* FNV-1a, as hash.h's, inlined in the per-token loop below. */
static inline uint64_t fnv_update(uint64_t h, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= ENG_FNV64_PRIME;
	}
	return h;
}

/* Hashes the tokens of the current response into tf->acc; votes names. The unigram and bigram
 * hashes are computed first, their buckets prefetched, then added in the order of the tokens (the
 * order the buckets are touched in is that of one pass: the norm sums them in it). */
static int hash_tokens(eng_textfeat *tf)
{
	const char *l = tf->low;
	const int bi = tf->o.bigrams;
	void *hp = tf->th;
	if (tf->ntok > SIZE_MAX / 4 ||
	    eng_textfeat_grow(&hp, sizeof(uint64_t), &tf->th_cap, 2 * tf->ntok + 1))
		return -1;
	tf->th = hp;
	uint64_t *th = tf->th; /* (ntok, 2): unigram, bigram hash of token t */
	for (size_t t = 0; t < tf->ntok; t++) {
		uint64_t h = fnv_update(ENG_FNV64_OFFSET, l + tf->tok_off[t], tf->tok_len[t]);
		th[2 * t] = h;
		__builtin_prefetch(&tf->acc[2 * (size_t)(h & (tf->nbuckets - 1))], 1);
		if (bi && t + 1 < tf->ntok) {
			uint64_t h2 = fnv_update(h, " ", 1);
			h2 = fnv_update(h2, l + tf->tok_off[t + 1], tf->tok_len[t + 1]);
			th[2 * t + 1] = h2;
			__builtin_prefetch(&tf->acc[2 * (size_t)(h2 & (tf->nbuckets - 1))], 1);
		}
	}
	for (size_t t = 0; t < tf->ntok; t++) {
		const char *w = l + tf->tok_off[t];
		size_t nw = tf->tok_len[t];
		uint64_t h = th[2 * t];
		if (acc_add(tf, h))
			return -1;
		uint32_t b;
		int sg;
		eng_textfeat_bucket_of(tf, h, &b, &sg);
		if (!tf->novote)
			vote(tf, b, sg, KIND_WORD, w, nw, 0, NULL, 0);
		if (bi && t + 1 < tf->ntok) {
			const char *w2 = l + tf->tok_off[t + 1];
			size_t n2 = tf->tok_len[t + 1];
			uint64_t h2 = th[2 * t + 1];
			if (acc_add(tf, h2))
				return -1;
			eng_textfeat_bucket_of(tf, h2, &b, &sg);
			if (!tf->novote)
				vote(tf, b, sg, KIND_BIGRAM, w, nw, ' ', w2, n2);
		}
		if (tf->o.crosses && t < CROSS_RESP_MAX) {
			for (size_t p = 0; p < tf->nptok; p++) {
				const char *pw = tf->plow + tf->ptok[2 * p];
				size_t pn = tf->ptok[2 * p + 1];
				uint64_t hc = eng_fnv1a64(pw, pn);
				hc = eng_fnv1a64_update(hc, "|", 1);
				hc = eng_fnv1a64_update(hc, w, nw);
				if (acc_add(tf, hc))
					return -1;
				eng_textfeat_bucket_of(tf, hc, &b, &sg);
				if (!tf->novote)
					vote(tf, b, sg, KIND_CROSS, pw, pn, '|', w, nw);
			}
		}
	}
	return 0;
}

static int push_entry(eng_textfeat *tf, uint32_t c, float v)
{
	if (tf->nent == tf->ent_cap) {
		size_t c1 = tf->ent_cap, c2 = tf->ent_cap;
		void *a = tf->ecol, *b = tf->eval;
		if (eng_textfeat_grow(&a, sizeof(uint32_t), &c1, tf->nent + 1))
			return -1;
		tf->ecol = a;
		if (eng_textfeat_grow(&b, sizeof(float), &c2, tf->nent + 1))
			return -1;
		tf->eval = b;
		tf->ent_cap = c1 < c2 ? c1 : c2;
	}
	tf->ecol[tf->nent] = c;
	tf->eval[tf->nent] = v;
	tf->nent++;
	return 0;
}

/* Moves the accumulated response into the pair's entries with factor f (+1 chosen, -1 rejected):
 * value_b = sign(s_b) log1p(|s_b|), scaled to unit L2 norm. Leaves acc zeroed. */
static int emit(eng_textfeat *tf, float f)
{
	double ss = 0;
	for (size_t i = 0; i < tf->ntouched; i++) {
		double v = log1p_count(tf->acc[2 * (size_t)tf->touched[i]]);
		ss += v * v;
	}
	double scale = ss > 0 ? 1.0 / sqrt(ss) : 0;
	int rc = 0;
	for (size_t i = 0; i < tf->ntouched; i++) {
		uint32_t b = tf->touched[i];
		float s = tf->acc[2 * (size_t)b];
		tf->acc[2 * (size_t)b] = 0;
		if (s == 0 || rc)
			continue;
		double v = log1p_count(s) * scale * (s < 0 ? -1 : 1);
		rc = push_entry(tf, b, (float)(f * v));
	}
	tf->ntouched = 0;
	return rc;
}

/* ---- named features -------------------------------------------------------------------------- */

/* Word lists of the named features (tokens are lower-cased) and an index of them by first byte:
 * each token is compared with the few words sharing its first byte. */
enum { WL_HEDGE = 1, WL_APOLOGY = 2, WL_REFUSAL = 4, WL_FIRST = 8, WL_CONFIDENT = 16 };
static const char *const hedges[] = {"might",     "perhaps", "possibly",   "maybe",      "probably",
                                     "likely",    "seems",   "seemingly",  "arguably",   "somewhat",
                                     "uncertain", "unclear", "presumably", "apparently", NULL};
static const char *const apology[] = {"sorry",         "apologize", "apologise", "apologies",
                                      "unfortunately", "regret",    NULL};
static const char *const refusal[] = {"cannot", "can't",  "can\xe2\x80\x99t", "unable",
                                      "won't",  "refuse", "decline",          NULL};
static const char *const first[] = {
    "i",    "me", "my", "mine", "myself",         "i'm", "i've", "i'd",
    "i'll", "we", "us", "our",  "i\xe2\x80\x99m", NULL};
static const char *const confident[] = {"certainly",   "definitely", "clearly",   "absolutely",
                                        "undoubtedly", "surely",     "obviously", "indeed",
                                        "exactly",     "precisely",  NULL};
typedef struct wl_entry {
	const char *w;
	uint8_t len, mask;
} wl_entry;
enum { WL_MAX = 64 };
static wl_entry wl_entries[WL_MAX];
static uint8_t
    wl_first[257]; /* entries of first byte c: wl_entries[wl_first[c] .. wl_first[c+1]) */
static uint32_t wl_lens[256]; /* bit L: a word of L bytes (L < 32) starts with byte c */

static void wordlists_init(void)
{
	const char *const *lists[5] = {hedges, apology, refusal, first, confident};
	size_t n = 0;
	for (int c = 0; c < 256; c++) {
		wl_first[c] = (uint8_t)n;
		for (int l = 0; l < 5; l++)
			for (const char *const *w = lists[l]; *w; w++) {
				if ((unsigned char)(*w)[0] != c)
					continue;
				size_t k = 0, len = strlen(*w);
				while (k < n &&
				       !(wl_entries[k].len == len && !strcmp(wl_entries[k].w, *w)))
					k++;
				if (k == n) { /* a word in several lists is one entry with several
					         bits */
					assert(n < WL_MAX);
					wl_entries[n++] = (wl_entry){*w, (uint8_t)len, 0};
					assert(len < 32);
					wl_lens[c] |= (uint32_t)1 << len;
				}
				wl_entries[k].mask |= (uint8_t)(1u << l);
			}
	}
	wl_first[256] = (uint8_t)n;
}

/* The lists (WL_* bits) the token (w, n) is in. */
static unsigned wl_lists(const char *w, size_t n)
{
	unsigned char c = (unsigned char)w[0];
	unsigned m = 0;
	if (n >= 32 || !(wl_lens[c] >> n & 1))
		return 0; /* most tokens: no listed word has that first byte and length */
	for (size_t k = wl_first[c]; k < wl_first[c + 1]; k++)
		if (wl_entries[k].len == n && memcmp(wl_entries[k].w, w, n) == 0)
			m |= wl_entries[k].mask;
	return m;
}

static float logc(double c, double scale)
{
	double v = log1p(c) / scale;
	return (float)(v > 1 ? 1 : v);
}

static int starts(const char *p, size_t m, const char *lit)
{
	size_t k = strlen(lit);
	return m >= k && memcmp(p, lit, k) == 0;
}

static float clip01(double v)
{
	return (float)(v < 0 ? 0 : v > 1 ? 1 : v);
}

/* Named features of the current response (original text t of n bytes, tokens in tf). */
BYTE_LOOPS static void named_features(const eng_textfeat *tf, const char *t, size_t n, float *out)
{
	memset(out, 0, sizeof(float) * NNAMED);
	size_t lines = 0, bullets = 0, numbered = 0, headers = 0, bold = 0, digits = 0, upper = 0,
	       letters = 0, qm = 0, em = 0, urls = 0, code = 0;
	size_t i = 0;
	while (i < n) { /* per line */
		const char *nl = memchr(t + i, '\n', n - i);
		size_t e = nl ? (size_t)(nl - t) : n;
		size_t s = i;
		while (s < e && (t[s] == ' ' || t[s] == '\t' || t[s] == '\r'))
			s++;
		if (s < e) {
			lines++;
			const unsigned char *u = (const unsigned char *)t + s;
			size_t m = e - s;
			if (m >= 2 && (u[0] == '-' || u[0] == '*' || u[0] == '+') && u[1] == ' ')
				bullets++;
			else if (m >= 4 && u[0] == 0xE2 && u[1] == 0x80 && u[2] == 0xA2)
				bullets++; /* U+2022 bullet */
			else if (u[0] == '#')
				headers++;
			else if (u[0] >= '0' && u[0] <= '9') {
				size_t k = 0;
				while (k < m && u[k] >= '0' && u[k] <= '9')
					k++;
				if (k < m && (u[k] == '.' || u[k] == ')'))
					numbered++;
			}
		}
		i = e + 1;
	}
	/* the character counts: one simple loop each (vectorized); the markers, rare, in one
	 * loop; URLs where "http://", "https://" or "www." starts */
	const unsigned char *u = (const unsigned char *)t;
	for (i = 0; i < n; i++)
		digits += (unsigned)(u[i] - '0') < 10u;
	for (i = 0; i < n; i++)
		upper += (unsigned)(u[i] - 'A') < 26u;
	for (i = 0; i < n; i++)
		letters += (unsigned)(u[i] - 'a') < 26u;
	letters += upper;
	for (i = 0; i < n; i++)
		qm += u[i] == '?';
	for (i = 0; i < n; i++)
		em += u[i] == '!';
	for (i = strcspn(t, "`*_"); i < n; i += 1 + strcspn(t + i + 1, "`*_")) {
		unsigned char c = u[i];
		if (c == '`' && (i == 0 || t[i - 1] != '`'))
			code++; /* one per run of backticks */
		else if ((c == '*' || c == '_') && i + 1 < n && t[i + 1] == (char)c) {
			bold++;
			i++;
		}
	}
	for (const char *p = t, *end = t + n; (p = memchr(p, 'h', (size_t)(end - p))); p++)
		urls += starts(p, (size_t)(end - p), "http://") ||
		        starts(p, (size_t)(end - p), "https://");
	for (const char *p = t, *end = t + n; (p = memchr(p, 'w', (size_t)(end - p))); p++)
		urls += starts(p, (size_t)(end - p), "www.");
	size_t hedge = 0, apol = 0, refu = 0, fp = 0, conf = 0, wbytes = 0;
	const char *l = tf->low;
	for (size_t k = 0; k < tf->ntok; k++) {
		const char *w = l + tf->tok_off[k];
		size_t nw = tf->tok_len[k];
		wbytes += nw;
		unsigned m = wl_lists(w, nw);
		hedge += (m & WL_HEDGE) != 0;
		apol += (m & WL_APOLOGY) != 0;
		refu += (m & WL_REFUSAL) != 0;
		fp += (m & WL_FIRST) != 0;
		conf += (m & WL_CONFIDENT) != 0;
		if (k + 2 < tf->ntok && nw == 2 && memcmp(w, "as", 2) == 0 &&
		    tf->tok_len[k + 1] == 2 && memcmp(l + tf->tok_off[k + 1], "an", 2) == 0 &&
		    tf->tok_len[k + 2] == 2 && memcmp(l + tf->tok_off[k + 2], "ai", 2) == 0)
			apol++; /* "as an ai" */
	}
	out[N_LEN_CHARS] = logc((double)n, 8);
	out[N_WORDS] = logc((double)tf->ntok, 6);
	out[N_LINES] = logc((double)lines, 4);
	out[N_WORD_LEN] = tf->ntok ? clip01((double)wbytes / (double)tf->ntok / 10.0) : 0;
	out[N_BULLETS] = lines ? (float)((double)bullets / (double)lines) : 0;
	out[N_NUMBERED] = lines ? (float)((double)numbered / (double)lines) : 0;
	out[N_HEADERS] = lines ? (float)((double)headers / (double)lines) : 0;
	out[N_BOLD] = logc((double)bold, 3);
	out[N_DIGITS] = n ? clip01(4.0 * (double)digits / (double)n) : 0;
	out[N_UPPER] = letters ? (float)((double)upper / (double)letters) : 0;
	out[N_QUESTION] = logc((double)qm, 3);
	out[N_EXCLAIM] = logc((double)em, 3);
	out[N_HEDGES] = logc((double)hedge, 3);
	out[N_APOLOGY] = logc((double)apol, 3);
	out[N_REFUSAL] = logc((double)refu, 3);
	out[N_FIRST_PERSON] = logc((double)fp, 3);
	out[N_CONFIDENT] = logc((double)conf, 3);
	out[N_URLS] = logc((double)urls, 3);
	out[N_CODE] = logc((double)code, 3);
}

/* ---- pairs ----------------------------------------------------------------------------------- */

/* Distinct prompt tokens (first CROSS_PROMPT_MAX) for crosses. */
int eng_textfeat_prompt_tokens(eng_textfeat *tf, const char *prompt)
{
	tf->nptok = 0;
	if (!tf->o.crosses || !prompt)
		return 0;
	if (eng_textfeat_tokenize(tf, prompt, strlen(prompt), &tf->plow, &tf->plow_cap))
		return -1;
	for (size_t t = 0; t < tf->ntok && tf->nptok < CROSS_PROMPT_MAX; t++) {
		size_t off = tf->tok_off[t], len = tf->tok_len[t];
		int dup = 0;
		for (size_t p = 0; p < tf->nptok && !dup; p++)
			dup = tf->ptok[2 * p + 1] == len &&
			      memcmp(tf->plow + tf->ptok[2 * p], tf->plow + off, len) == 0;
		if (!dup) {
			tf->ptok[2 * tf->nptok] = off;
			tf->ptok[2 * tf->nptok + 1] = len;
			tf->nptok++;
		}
	}
	return 0;
}

/* Tokenizes and hashes one response, emits it with factor f, and writes its named features. */
static int response(eng_textfeat *tf, const char *text, float f, float *named)
{
	size_t n = text ? strlen(text) : 0;
	if (eng_textfeat_tokenize(tf, text ? text : "", n, &tf->low, &tf->low_cap) ||
	    hash_tokens(tf))
		return -1;
	named_features(tf, text ? text : "", n, named);
	return emit(tf, f);
}

int eng_textfeat_phi(eng_textfeat *tf, const char *prompt, const char *text, uint32_t **col,
                     float **val, size_t *k, eng_err *err)
{
	float named[NNAMED];
	tf->nent = 0;
	if (eng_textfeat_prompt_tokens(tf, prompt) || response(tf, text, 1.0f, named))
		goto oom;
	for (int j = 0; j < NNAMED; j++)
		if (named[j] != 0 && push_entry(tf, tf->nbuckets + (uint32_t)j, named[j]))
			goto oom;
	*col = tf->ecol;
	*val = tf->eval;
	*k = tf->nent;
	return 0;
oom:
	tf->ntouched = 0;
	memset(tf->acc, 0, sizeof(float) * 2 * tf->nbuckets);
	return eng_err_set(err, ENG_ENOMEM, "textfeat: out of memory");
}

int eng_textfeat_add_pair(eng_textfeat *tf, eng_pairset *ps, const char *prompt, const char *chosen,
                          const char *rejected, int32_t img_row, eng_err *err)
{
	assert(tf && ps);
	if (ps->text_dim != eng_textfeat_dim(tf))
		return eng_err_set(err, ENG_EINPUT,
		                   "textfeat: pairset has %u text columns, features have %u",
		                   (unsigned)ps->text_dim, (unsigned)eng_textfeat_dim(tf));
	uint32_t *col;
	float *val;
	size_t k;
	int rc = eng_textfeat_pair_row(tf, prompt, chosen, rejected, &col, &val, &k, err);
	return rc ? rc : eng_pairset_add_row(ps, col, val, k, img_row, err);
}

/* Adds the accumulated response with factor f (+1 chosen, -1 rejected) into the pair row's
 * per-bucket values, each value as emit() computes it; a bucket the chosen answer already holds
 * gets chosen + rejected (float), the sum eng_pairset_canon_row would make of the two entries.
 * Leaves acc zeroed. */
static void stage(eng_textfeat *tf, float f)
{
	double ss = 0;
	for (size_t i = 0; i < tf->ntouched; i++) {
		double v = log1p_count(tf->acc[2 * (size_t)tf->touched[i]]);
		ss += v * v;
	}
	double scale = ss > 0 ? 1.0 / sqrt(ss) : 0;
	for (size_t i = 0; i < tf->ntouched; i++) {
		uint32_t b = tf->touched[i];
		float s = tf->acc[2 * (size_t)b];
		tf->acc[2 * (size_t)b] = 0;
		if (s == 0)
			continue;
		double v = log1p_count(s) * scale * (s < 0 ? -1 : 1);
		float e = (float)(f * v);
		uint64_t bit = (uint64_t)1 << (b & 63);
		if (tf->used0[b >> 6] & bit) {
			tf->acc[2 * (size_t)b + 1] += e;
		} else {
			tf->acc[2 * (size_t)b + 1] = e;
			tf->used0[b >> 6] |= bit;
			tf->used1[b >> 12] |= (uint64_t)1 << ((b >> 6) & 63);
		}
	}
	tf->ntouched = 0;
}

/* The staged values as entries in column order, zeros (chosen + rejected = 0) dropped, as
 * eng_pairset_canon_row leaves them; clears the stage. */
static int unstage(eng_textfeat *tf)
{
	int rc = 0;
	size_t n1 = ((size_t)tf->nbuckets + 4095) / 4096;
	for (size_t i = 0; i < n1; i++) {
		uint64_t w1 = tf->used1[i];
		tf->used1[i] = 0;
		while (w1) {
			size_t j = i * 64 + (size_t)__builtin_ctzll(w1);
			w1 &= w1 - 1;
			uint64_t w0 = tf->used0[j];
			tf->used0[j] = 0;
			while (w0) {
				uint32_t b = (uint32_t)(j * 64 + (size_t)__builtin_ctzll(w0));
				w0 &= w0 - 1;
				float v = tf->acc[2 * (size_t)b + 1];
				tf->acc[2 * (size_t)b + 1] = 0;
				if (v != 0 && !rc)
					rc = push_entry(tf, b, v);
			}
		}
	}
	return rc;
}

/* Tokenizes and hashes one response into acc and writes its named features. */
static int response_acc(eng_textfeat *tf, const char *text, float *named)
{
	size_t n = text ? strlen(text) : 0;
	if (eng_textfeat_tokenize(tf, text ? text : "", n, &tf->low, &tf->low_cap) ||
	    hash_tokens(tf))
		return -1;
	named_features(tf, text ? text : "", n, named);
	return 0;
}

int eng_textfeat_pair_row(eng_textfeat *tf, const char *prompt, const char *chosen,
                          const char *rejected, uint32_t **col, float **val, size_t *k,
                          eng_err *err)
{
	assert(tf && col && val && k);
	float nc[NNAMED], nr[NNAMED];
	tf->nent = 0;
	if (!tf->used0) {
		size_t n0 = ((size_t)tf->nbuckets + 63) / 64, n1 = (n0 + 63) / 64;
		tf->used0 = calloc(n0, sizeof *tf->used0);
		tf->used1 = calloc(n1, sizeof *tf->used1);
		if (!tf->used0 || !tf->used1) {
			free(tf->used0), free(tf->used1);
			tf->used0 = tf->used1 = NULL;
			return eng_err_set(err, ENG_ENOMEM, "textfeat: out of memory");
		}
	}
	int rc = eng_textfeat_prompt_tokens(tf, prompt) || response_acc(tf, chosen, nc);
	if (!rc)
		stage(tf, 1.0f);
	rc = rc || response_acc(tf, rejected, nr);
	if (!rc)
		stage(tf, -1.0f);
	rc = unstage(tf) || rc; /* also clears the stage after a failure */
	if (rc) {
		tf->ntouched = 0;
		memset(tf->acc, 0, sizeof(float) * 2 * tf->nbuckets);
		return eng_err_set(err, ENG_ENOMEM, "textfeat: out of memory");
	}
	for (int j = 0; j < NNAMED; j++) {
		float d = nc[j] - nr[j];
		if (d != 0 && push_entry(tf, tf->nbuckets + (uint32_t)j, d))
			return eng_err_set(err, ENG_ENOMEM, "textfeat: out of memory");
	}
	*col = tf->ecol;
	*val = tf->eval;
	*k = tf->nent;
	return 0;
}

/* ---- names ----------------------------------------------------------------------------------- */

void eng_textfeat_merge_names(eng_textfeat *dst, const eng_textfeat *src)
{
	assert(dst && src && dst->nbuckets == src->nbuckets);
	for (uint32_t b = 0; b < dst->nbuckets; b++) {
		slot *d = &dst->slots[b];
		const slot *s = &src->slots[b];
		if (s->kind == KIND_NONE)
			continue;
		if (d->votes <= 0) {
			/* dst's count is spent: src's texts decide, exactly as if they came after
			 * (also a src bucket whose count ended at 0 keeps its name) */
			*d = *s;
		} else if (s->votes <= 0) {
			continue;
		} else if (d->kind == s->kind && d->len == s->len && d->trunc == s->trunc &&
		           memcmp(d->s, s->s, d->len) == 0) {
			d->votes =
			    d->votes > INT32_MAX - s->votes ? INT32_MAX : d->votes + s->votes;
		} else if (s->votes > d->votes) {
			int32_t v = s->votes - d->votes;
			*d = *s;
			d->votes = v;
		} else {
			d->votes -= s->votes;
		}
	}
}

int eng_textfeat_sign(const eng_textfeat *tf, uint32_t c)
{
	if (c >= tf->nbuckets)
		return c < tf->nbuckets + NNAMED ? 1 : 0;
	const slot *s = &tf->slots[c];
	return s->kind == KIND_NONE ? 0 : s->sign;
}

/* Formats an n-gram of kind (KIND_*) as a column name: s (len bytes, already cut), "..." after it
 * when trunc. */
void eng_textfeat_format_ngram(int kind, const char *s, int len, int trunc, uint32_t c, char *buf,
                               size_t cap)
{
	const char *more = trunc ? "..." : "";
	switch (kind) {
	case KIND_WORD:
		snprintf(buf, cap, "word '%.*s%s'", len, s, more);
		break;
	case KIND_BIGRAM:
		snprintf(buf, cap, "bigram '%.*s%s'", len, s, more);
		break;
	case KIND_CROSS: {
		const char *bar = memchr(s, '|', (size_t)len);
		int pl = bar ? (int)(bar - s) : len;
		int rl = bar ? len - pl - 1 : 0;
		snprintf(buf, cap, "cross prompt '%.*s' x response '%.*s%s'", pl, s, rl,
		         bar ? bar + 1 : "", more);
		break;
	}
	default:
		snprintf(buf, cap, "bucket %u (no n-gram seen)", (unsigned)c);
	}
}

const char *eng_textfeat_name(const eng_textfeat *tf, uint32_t c, char *buf, size_t cap)
{
	assert(buf && cap > 0);
	if (c >= tf->nbuckets) {
		if (c - tf->nbuckets < NNAMED)
			snprintf(buf, cap, "named: %s", named_names[c - tf->nbuckets]);
		else
			snprintf(buf, cap, "column %u (out of range)", (unsigned)c);
		return buf;
	}
	const slot *s = &tf->slots[c];
	eng_textfeat_format_ngram(s->kind, s->s, s->len, s->trunc, c, buf, cap);
	return buf;
}
