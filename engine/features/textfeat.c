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
 * exact count of the n-grams of a few chosen buckets, in a second pass (see "exact names").
 * Does not read files or databases, and does not do char n-grams. */
#include "textfeat.h"

#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "textfeat_internal.h"

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

struct eng_textfeat {
	eng_textfeat_opts o;
	uint32_t nbuckets; /* 2^hash_bits */
	slot *slots;       /* (nbuckets) */
	/* scratch, reused across calls */
	float *acc; /* (nbuckets) signed counts of the current response, zero between calls */
	uint32_t *touched; /* buckets with acc != 0 in the current response */
	size_t ntouched, touched_cap;
	char *low; /* lower-cased copy of the current text */
	size_t low_cap;
	size_t *tok_off, *tok_len; /* tokens of the current text */
	size_t ntok, tok_cap;
	size_t ptok[CROSS_PROMPT_MAX * 2]; /* distinct prompt tokens (off, len) into plow */
	size_t nptok;
	char *plow; /* lower-cased prompt */
	size_t plow_cap;
	uint32_t *ecol; /* entries of the pair row being built */
	float *eval;
	size_t nent, ent_cap;
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
	tf->acc = calloc(tf->nbuckets, sizeof *tf->acc);
	if (!tf->slots || !tf->acc) {
		eng_textfeat_free(tf);
		return eng_err_set(err, ENG_ENOMEM, "textfeat: out of memory (2^%d buckets)",
		                   o->hash_bits);
	}
	*out = tf;
	return 0;
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
	free(tf);
}

/* Grows *p (elements of sz bytes, capacity *cap) to hold need elements. 0 ok, -1 no memory. */
static int grow(void **p, size_t sz, size_t *cap, size_t need)
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

static int is_word_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c >= 0x80;
}

/* Lower-cases text into *low (grown) and splits it into tokens (tf->tok_off/tok_len). */
static int tokenize(eng_textfeat *tf, const char *text, size_t n, char **low, size_t *low_cap)
{
	void *p = *low;
	if (n == SIZE_MAX || grow(&p, 1, low_cap, n + 1))
		return -1;
	*low = p;
	char *l = *low;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)text[i];
		l[i] = (char)((c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c);
	}
	l[n] = '\0';
	tf->ntok = 0;
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
		if (tf->ntok == tf->tok_cap) {
			size_t c1 = tf->tok_cap, c2 = tf->tok_cap;
			void *a = tf->tok_off, *b = tf->tok_len;
			if (grow(&a, sizeof(size_t), &c1, tf->ntok + 1))
				return -1;
			tf->tok_off = a;
			if (grow(&b, sizeof(size_t), &c2, tf->ntok + 1))
				return -1;
			tf->tok_len = b;
			tf->tok_cap = c1 < c2 ? c1 : c2;
		}
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
	if (tf->acc[b] == 0) {
		void *p = tf->touched;
		if (grow(&p, sizeof(uint32_t), &tf->touched_cap, tf->ntouched + 1))
			return -1;
		tf->touched = p;
		tf->touched[tf->ntouched++] = b;
	}
	tf->acc[b] += (float)sg;
	/* a bucket whose signed count returns to 0 stays in touched; emit() skips it */
	return 0;
}

/* Hashes the tokens of the current response into tf->acc; votes names. */
static int hash_tokens(eng_textfeat *tf)
{
	const char *l = tf->low;
	for (size_t t = 0; t < tf->ntok; t++) {
		const char *w = l + tf->tok_off[t];
		size_t nw = tf->tok_len[t];
		uint64_t h = eng_fnv1a64(w, nw);
		if (acc_add(tf, h))
			return -1;
		uint32_t b;
		int sg;
		eng_textfeat_bucket_of(tf, h, &b, &sg);
		vote(tf, b, sg, KIND_WORD, w, nw, 0, NULL, 0);
		if (tf->o.bigrams && t + 1 < tf->ntok) {
			const char *w2 = l + tf->tok_off[t + 1];
			size_t n2 = tf->tok_len[t + 1];
			uint64_t h2 = eng_fnv1a64_update(h, " ", 1);
			h2 = eng_fnv1a64_update(h2, w2, n2);
			if (acc_add(tf, h2))
				return -1;
			eng_textfeat_bucket_of(tf, h2, &b, &sg);
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
		if (grow(&a, sizeof(uint32_t), &c1, tf->nent + 1))
			return -1;
		tf->ecol = a;
		if (grow(&b, sizeof(float), &c2, tf->nent + 1))
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
		double v = log1p_count(tf->acc[tf->touched[i]]);
		ss += v * v;
	}
	double scale = ss > 0 ? 1.0 / sqrt(ss) : 0;
	int rc = 0;
	for (size_t i = 0; i < tf->ntouched; i++) {
		uint32_t b = tf->touched[i];
		float s = tf->acc[b];
		tf->acc[b] = 0;
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
static void named_features(const eng_textfeat *tf, const char *t, size_t n, float *out)
{
	memset(out, 0, sizeof(float) * NNAMED);
	size_t lines = 0, bullets = 0, numbered = 0, headers = 0, bold = 0, digits = 0, upper = 0,
	       letters = 0, qm = 0, em = 0, urls = 0, code = 0;
	size_t i = 0;
	while (i < n) { /* per line */
		size_t e = i;
		while (e < n && t[e] != '\n')
			e++;
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
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)t[i];
		if (c >= '0' && c <= '9')
			digits++;
		else if (c >= 'A' && c <= 'Z')
			upper++, letters++;
		else if (c >= 'a' && c <= 'z')
			letters++;
		else if (c == '?')
			qm++;
		else if (c == '!')
			em++;
		else if (c == '`' && (i == 0 || t[i - 1] != '`'))
			code++; /* one per run of backticks */
		else if ((c == '*' || c == '_') && i + 1 < n && t[i + 1] == (char)c) {
			bold++;
			i++;
		}
		if (((c == 'h' && i + 1 < n && t[i + 1] == 't') ||
		     (c == 'w' && i + 1 < n && t[i + 1] == 'w')) &&
		    (starts(t + i, n - i, "http://") || starts(t + i, n - i, "https://") ||
		     starts(t + i, n - i, "www.")))
			urls++;
	}
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
static int prompt_tokens(eng_textfeat *tf, const char *prompt)
{
	tf->nptok = 0;
	if (!tf->o.crosses || !prompt)
		return 0;
	if (tokenize(tf, prompt, strlen(prompt), &tf->plow, &tf->plow_cap))
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
	if (tokenize(tf, text ? text : "", n, &tf->low, &tf->low_cap) || hash_tokens(tf))
		return -1;
	named_features(tf, text ? text : "", n, named);
	return emit(tf, f);
}

int eng_textfeat_phi(eng_textfeat *tf, const char *prompt, const char *text, uint32_t **col,
                     float **val, size_t *k, eng_err *err)
{
	float named[NNAMED];
	tf->nent = 0;
	if (prompt_tokens(tf, prompt) || response(tf, text, 1.0f, named))
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
	memset(tf->acc, 0, sizeof(float) * tf->nbuckets);
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

int eng_textfeat_pair_row(eng_textfeat *tf, const char *prompt, const char *chosen,
                          const char *rejected, uint32_t **col, float **val, size_t *k,
                          eng_err *err)
{
	assert(tf && col && val && k);
	float nc[NNAMED], nr[NNAMED];
	tf->nent = 0;
	if (prompt_tokens(tf, prompt) || response(tf, chosen, 1.0f, nc) ||
	    response(tf, rejected, -1.0f, nr)) {
		tf->ntouched = 0;
		memset(tf->acc, 0, sizeof(float) * tf->nbuckets);
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
static void format_ngram(int kind, const char *s, int len, int trunc, uint32_t c, char *buf,
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
	format_ngram(s->kind, s->s, s->len, s->trunc, c, buf, cap);
	return buf;
}

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
	if (grow(&p, 1, &nm->tmp_cap, len + 1))
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
	if (prompt_tokens(t, prompt))
		goto oom;
	const char *ans[2] = {chosen ? chosen : "", rejected ? rejected : ""};
	for (int a = 0; a < 2; a++)
		if (tokenize(t, ans[a], strlen(ans[a]), &t->low, &t->low_cap) || count_tokens(nm))
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
		format_ngram(KIND_NONE, "", 0, 0, c, buf, cap);
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
	format_ngram(kind, s, (int)len, len < best->len, c, buf, cap);
	if (count)
		*count = best->count;
	if (sign)
		*sign = (best->h >> 63) ? -1 : 1;
	return buf;
}
