/* modelopts.c - the small things around the models: method names and lists, training options
 * and the epoch schedule, and the seeded RNG (splitmix64 seeding, xoshiro256**) every minibatch
 * order and subsample is drawn from. Does not train or score (model.c). */
#include "model.h"

#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "model_internal.h"

const char *eng_method_name(eng_method m)
{
	switch (m) {
	case ENG_METHOD_TEXT:
		return "text";
	case ENG_METHOD_STANDARD:
		return "standard";
	case ENG_METHOD_SHORTCUT_AWARE:
		return "shortcut-aware";
	case ENG_METHOD_POE:
		return "poe";
	case ENG_METHOD_DEBIAS:
		return "debias";
	case ENG_METHOD_JTT:
		return "jtt";
	case ENG_METHOD_COUNT:
		break;
	}
	return "?";
}

int eng_method_parse(const char *s, eng_method *out)
{
	for (int i = 0; s && i < ENG_METHOD_COUNT; i++) {
		if (strcmp(s, eng_method_name((eng_method)i)) == 0) {
			*out = (eng_method)i;
			return 0;
		}
	}
	return ENG_EINPUT;
}

int eng_methods_parse(const char *list, unsigned *mask)
{
	*mask = 0;
	if (!list || !*list)
		return ENG_EINPUT;
	if (strcmp(list, "all") == 0) {
		*mask = ENG_METHODS_ALL;
		return 0;
	}
	char buf[32];
	for (const char *p = list; *p;) {
		size_t n = strcspn(p, ",");
		if (n == 0 || n >= sizeof buf)
			return ENG_EINPUT;
		memcpy(buf, p, n);
		buf[n] = '\0';
		eng_method m;
		if (eng_method_parse(buf, &m))
			return ENG_EINPUT;
		*mask |= 1u << m;
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

/* Methods with a text branch trained next to the MM branch (detached), and with an MM branch. */
int eng_method_has_text_branch(eng_method m)
{
	return m == ENG_METHOD_TEXT || m == ENG_METHOD_SHORTCUT_AWARE || m == ENG_METHOD_POE ||
	       m == ENG_METHOD_DEBIAS;
}

void eng_train_opts_default(eng_train_opts *o)
{
	o->method = ENG_METHOD_TEXT;
	o->epochs = 8;
	o->batch = 256;
	o->lr = 0.05f;
	o->l2 = 1e-3f;
	o->fold_buckets = 256;
	o->seed = 1;
	o->row_weight = NULL;
	o->jtt_lambda = 0;
}

int eng_train_epochs_auto(size_t ntrain)
{
	size_t e = ntrain ? (ENG_TRAIN_SAMPLE_BUDGET + ntrain - 1) / ntrain : 8;
	return e < 2 ? 2 : e > 8 ? 8 : (int)e;
}

static uint64_t splitmix64(uint64_t *x)
{
	return eng_splitmix64_mix(*x += ENG_GOLDEN_GAMMA);
}

void eng_rng_seed(eng_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t eng_rng_next(eng_rng *r)
{
	uint64_t *s = r->s;
	uint64_t res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return res;
}

uint64_t eng_rng_below(eng_rng *r, uint64_t n)
{
	assert(n >= 1);
	uint64_t lim = UINT64_MAX - UINT64_MAX % n, x;
	do
		x = eng_rng_next(r);
	while (x >= lim);
	return x % n;
}

double eng_rng_uniform(eng_rng *r)
{
	return (double)(eng_rng_next(r) >> 11) * 0x1.0p-53;
}
