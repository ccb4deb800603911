/* synth.c - procedural preference environments: drawn scenes, colour questions, planted text cues.
 *
 * Every random choice comes from a counter-based stream: scene j draws from (seed, IMG, j), pair i
 * from (seed, PAIR, i), pixel noise from the scene's own stream. So output does not depend on the
 * thread count or on the order images are written in, and the text pass can recompute a scene's
 * colour and shape without drawing it. Images are written in chunks on the worker pool (each task
 * owns a pixel buffer); text is written by the calling thread. Does not index, score or decode
 * anything. */
#include "synth.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <stb_image_write.h>

#include "hash.h"
#include "outfile.h"
#include "pool.h"

/* ---- random numbers: splitmix64 (Steele et al., "Fast splittable pseudorandom number
 * generators", OOPSLA 2014) ---- */

typedef struct rng {
	uint64_t s;
} rng;

static uint64_t rng_next(rng *r)
{
	return eng_splitmix64_mix(r->s += ENG_GOLDEN_GAMMA);
}

static double rng_unit(rng *r)
{
	return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

/* Uniform in [0, n) (Lemire's multiply-shift; the bias is below 2^-32 for small n). */
static uint32_t rng_below(rng *r, uint32_t n)
{
	return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

enum { STREAM_IMG = 1, STREAM_PAIR = 2, STREAM_REF = 3, STREAM_DIST = 4 };

static rng rng_for(uint64_t seed, uint64_t stream, uint64_t idx)
{
	rng r = {eng_splitmix64_mix(eng_splitmix64_mix(seed ^ (stream * 0xD1B54A32D192ED03ull)) +
	                            idx * 0x9E3779B97F4A7C15ull)};
	return r;
}

/* ---- palette and shapes ---- */

/* Channels sit near the middle of imgfeat's 64-wide bins so that jitter (+-12) and noise
 * keep each colour in one joint RGB bin of imgfeat's 4x4x4 histogram; no colour lies near the
 * grey diagonal used by backgrounds. */
static const struct {
	const char *name;
	uint8_t rgb[3];
} palette[] = {
    {"red", {224, 32, 32}},     {"orange", {240, 150, 30}}, {"yellow", {232, 222, 36}},
    {"green", {36, 165, 40}},   {"cyan", {36, 214, 222}},   {"blue", {36, 92, 222}},
    {"purple", {150, 36, 165}}, {"pink", {240, 100, 168}},
};
enum { NCOL = sizeof palette / sizeof palette[0] };

static const char *const shape_names[] = {"circle",  "square",  "triangle",
                                          "diamond", "hexagon", "star"};
enum { NSHAPE = sizeof shape_names / sizeof shape_names[0], MAXD = 6, MAXV = 10 };

int eng_synth_colour_count(void)
{
	return NCOL;
}

const char *eng_synth_colour_name(int i)
{
	return i >= 0 && i < NCOL ? palette[i].name : "?";
}

void eng_synth_colour_rgb(int i, uint8_t rgb[3])
{
	assert(i >= 0 && i < NCOL);
	memcpy(rgb, palette[i].rgb, 3);
}

int eng_synth_colour_index(const char *name)
{
	for (int i = 0; i < NCOL; i++)
		if (!strcmp(name, palette[i].name))
			return i;
	return -1;
}

static const char *const kind_names[] = {"phrase", "length", "markdown", "mixed"};

const char *eng_synth_kind_name(int kind)
{
	return kind >= 0 && kind <= ENG_SYNTH_MIXED ? kind_names[kind] : "?";
}

int eng_synth_kind_parse(const char *s)
{
	for (int i = 0; i <= ENG_SYNTH_MIXED; i++)
		if (!strcmp(s, kind_names[i]))
			return i;
	return -1;
}

void eng_synth_opts_default(eng_synth_opts *o)
{
	memset(o, 0, sizeof *o);
	o->pairs = 1000;
	o->shortcut = 0.5;
	o->seed = 1;
	o->kind = ENG_SYNTH_MIXED;
	o->width = o->height = 96;
	o->format = ENG_SYNTH_PNG;
	o->jpeg_quality = 90;
	o->env = "synth";
}

int eng_synth_check(const eng_synth_opts *o, eng_err *err)
{
	if (o->pairs < 1 || o->pairs > 1000000000)
		return eng_err_set(err, ENG_EINPUT, "pairs must be in [1, 1e9], got %zu", o->pairs);
	if (!(o->shortcut >= 0.0 && o->shortcut <= 1.0))
		return eng_err_set(err, ENG_EINPUT,
		                   "shortcut must be a probability in [0, 1], got %g", o->shortcut);
	if (o->kind < 0 || o->kind > ENG_SYNTH_MIXED)
		return eng_err_set(err, ENG_EINPUT, "unknown cue kind %d", o->kind);
	if (o->images > o->pairs)
		return eng_err_set(
		    err, ENG_EINPUT,
		    "images (%zu) must not exceed pairs (%zu): every image needs a pair", o->images,
		    o->pairs);
	if (o->width < 16 || o->width > 8192 || o->height < 16 || o->height > 8192)
		return eng_err_set(err, ENG_EINPUT,
		                   "image size must be 16..8192 per side, got %dx%d", o->width,
		                   o->height);
	if (o->format != ENG_SYNTH_PNG && o->format != ENG_SYNTH_JPG)
		return eng_err_set(err, ENG_EINPUT, "image format must be png or jpg");
	if (o->jpeg_quality < 1 || o->jpeg_quality > 100)
		return eng_err_set(err, ENG_EINPUT, "jpeg quality must be 1..100, got %d",
		                   o->jpeg_quality);
	if (o->variant < 0 || o->variant >= ENG_SYNTH_VARIANTS)
		return eng_err_set(err, ENG_EINPUT, "variant must be 0..%d, got %d",
		                   ENG_SYNTH_VARIANTS - 1, o->variant);
	if (o->threads < 0 || o->threads > 64)
		return eng_err_set(err, ENG_EINPUT, "threads must be 0..64, got %d", o->threads);
	if (o->main_scale != 0 && !(o->main_scale >= 0.2f && o->main_scale <= 1.0f))
		return eng_err_set(err, ENG_EINPUT, "main shape scale must be in [0.2, 1], got %g",
		                   (double)o->main_scale);
	if (o->env) {
		if (!o->env[0] || strlen(o->env) > 64)
			return eng_err_set(err, ENG_EINPUT, "env name must be 1..64 characters");
		for (const char *p = o->env; *p; p++)
			if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
				return eng_err_set(
				    err, ENG_EINPUT,
				    "env name '%s' may only use letters, digits, '-', "
				    "'_' and '.'",
				    o->env);
	}
	return 0;
}

/* ---- scenes ---- */

typedef struct shape {
	int kind;
	float cx, cy, r, rot;
	uint8_t rgb[3];
} shape;

typedef struct scene {
	int colour; /* palette index of the main shape */
	shape main;
	int nd;
	shape d[MAXD];
	int has_dist;
	shape dist;           /* the distractor (eng_synth_opts.distractor) */
	int bg[3];            /* background base colour (near grey) */
	float grad_x, grad_y; /* brightness change across the image */
	float stripe_amp, stripe_cos, stripe_sin, stripe_period;
	uint64_t noise_seed;
} scene;

static int clamp255(int v)
{
	return v < 0 ? 0 : v > 255 ? 255 : v;
}

static void jitter_rgb(rng *r, const uint8_t in[3], uint8_t out[3])
{
	for (int c = 0; c < 3; c++)
		out[c] = (uint8_t)clamp255((int)in[c] + (int)rng_below(r, 25) - 12);
}

static void scene_make(const eng_synth_opts *o, size_t j, scene *sc)
{
	rng r = rng_for(o->seed, STREAM_IMG, j);
	float w = (float)o->width, h = (float)o->height, m = w < h ? w : h;
	memset(sc, 0, sizeof *sc);
	sc->colour = (int)rng_below(&r, NCOL);
	shape *s = &sc->main;
	s->kind = (int)rng_below(&r, NSHAPE);
	/* triangles and stars cover less of their circumcircle: draw them larger */
	float scale = (s->kind == 2 || s->kind == 5) ? 1.15f : 1.0f;
	s->r = m * (0.30f + 0.10f * (float)rng_unit(&r)) * scale;
	if (o->main_scale > 0)
		s->r *= o->main_scale;
	if (s->r > 0.48f * m)
		s->r = 0.48f * m;
	s->cx = s->r + (float)rng_unit(&r) * (w - 2 * s->r);
	s->cy = s->r + (float)rng_unit(&r) * (h - 2 * s->r);
	s->rot = (float)(rng_unit(&r) * 2 * M_PI);
	jitter_rgb(&r, palette[sc->colour].rgb, s->rgb);

	int g = 70 + (int)rng_below(&r, 141);
	for (int c = 0; c < 3; c++)
		sc->bg[c] = g + (int)rng_below(&r, 17) - 8;
	sc->grad_x = (float)(rng_unit(&r) * 40 - 20);
	sc->grad_y = (float)(rng_unit(&r) * 40 - 20);
	sc->stripe_period = 1;
	if (rng_below(&r, 3) == 0) {
		double a = rng_unit(&r) * M_PI;
		sc->stripe_amp = 8;
		sc->stripe_cos = (float)cos(a);
		sc->stripe_sin = (float)sin(a);
		sc->stripe_period = m * (float)(0.05 + 0.10 * rng_unit(&r));
	}
	sc->nd = 2 + (int)rng_below(&r, 4);
	for (int i = 0; i < sc->nd; i++) {
		shape *d = &sc->d[i];
		d->kind = (int)rng_below(&r, NSHAPE);
		d->r = m * (0.035f + 0.03f * (float)rng_unit(&r));
		d->cx = (float)rng_unit(&r) * w;
		d->cy = (float)rng_unit(&r) * h;
		d->rot = (float)(rng_unit(&r) * 2 * M_PI);
		if (rng_unit(&r) < 0.6) {
			jitter_rgb(&r, palette[rng_below(&r, NCOL)].rgb, d->rgb);
		} else {
			uint8_t v = rng_below(&r, 2) ? 235 : 25;
			uint8_t n[3] = {v, v, v};
			jitter_rgb(&r, n, d->rgb);
		}
	}
	sc->noise_seed = rng_next(&r);
	if (o->distractor) { /* its own stream: the rest of the scene is unchanged */
		rng q = rng_for(o->seed, STREAM_DIST, j);
		shape *d = &sc->dist;
		sc->has_dist = 1;
		d->kind = (int)rng_below(&q, NSHAPE);
		d->r = m * (0.24f + 0.08f * (float)rng_unit(&q));
		d->cx = d->r + (float)rng_unit(&q) * (w - 2 * d->r);
		d->cy = d->r + (float)rng_unit(&q) * (h - 2 * d->r);
		d->rot = (float)(rng_unit(&q) * 2 * M_PI);
		int c = (sc->colour + 1 + (int)rng_below(&q, NCOL - 1)) % NCOL;
		jitter_rgb(&q, palette[c].rgb, d->rgb);
	}
}

/* Vertices of a polygon shape (kind != circle) into vx, vy; returns their count. */
static int shape_polygon(const shape *s, float *vx, float *vy)
{
	int n = 0;
	switch (s->kind) {
	case 1: /* square */
	case 2: /* triangle */
	case 4: /* hexagon */
		n = s->kind == 1 ? 4 : s->kind == 2 ? 3 : 6;
		for (int i = 0; i < n; i++) {
			double a = s->rot + 2 * M_PI * i / n;
			vx[i] = s->cx + s->r * (float)cos(a);
			vy[i] = s->cy + s->r * (float)sin(a);
		}
		break;
	case 3: /* diamond: a rhombus, narrower across */
		n = 4;
		for (int i = 0; i < n; i++) {
			double a = 2 * M_PI * i / n, rr = (i % 2) ? 0.65 * s->r : s->r;
			double x = rr * cos(a), y = rr * sin(a);
			vx[i] = s->cx + (float)(x * cos(s->rot) - y * sin(s->rot));
			vy[i] = s->cy + (float)(x * sin(s->rot) + y * cos(s->rot));
		}
		break;
	case 5: /* five-pointed star */
		n = 10;
		for (int i = 0; i < n; i++) {
			double a = s->rot + 2 * M_PI * i / n, rr = (i % 2) ? 0.45 * s->r : s->r;
			vx[i] = s->cx + (float)(rr * cos(a));
			vy[i] = s->cy + (float)(rr * sin(a));
		}
		break;
	default:
		assert(0);
	}
	return n;
}

static void fill_span(uint8_t *row, int w, float xa, float xb, const uint8_t rgb[3])
{
	/* pixels whose centre x + 0.5 lies in [xa, xb) */
	int x0 = (int)ceilf(xa - 0.5f), x1 = (int)ceilf(xb - 0.5f);
	x0 = x0 < 0 ? 0 : x0;
	x1 = x1 > w ? w : x1;
	for (int x = x0; x < x1; x++)
		memcpy(row + (size_t)x * 3, rgb, 3);
}

/* Fills shape s into rgb (h, w, 3) row by row: a pixel is covered when its centre is inside
 * (even-odd rule for polygons). */
static void fill_shape(uint8_t *rgb, int w, int h, const shape *s)
{
	int y0 = (int)floorf(s->cy - s->r), y1 = (int)ceilf(s->cy + s->r);
	y0 = y0 < 0 ? 0 : y0;
	y1 = y1 > h - 1 ? h - 1 : y1;
	float vx[MAXV], vy[MAXV], xs[MAXV];
	int n = s->kind ? shape_polygon(s, vx, vy) : 0;
	for (int y = y0; y <= y1; y++) {
		float py = (float)y + 0.5f;
		uint8_t *row = rgb + (size_t)y * w * 3;
		if (!s->kind) {
			float dy = py - s->cy, q = s->r * s->r - dy * dy;
			if (q > 0) {
				float hw = sqrtf(q);
				fill_span(row, w, s->cx - hw, s->cx + hw, s->rgb);
			}
			continue;
		}
		int k = 0;
		for (int i = 0, p = n - 1; i < n; p = i++)
			if ((vy[i] > py) != (vy[p] > py))
				xs[k++] = vx[i] + (vx[p] - vx[i]) * (py - vy[i]) / (vy[p] - vy[i]);
		for (int i = 1; i < k; i++) /* insertion sort: k <= 10 */
			for (int m = i; m > 0 && xs[m - 1] > xs[m]; m--) {
				float t = xs[m];
				xs[m] = xs[m - 1];
				xs[m - 1] = t;
			}
		for (int i = 0; i + 1 < k; i += 2)
			fill_span(row, w, xs[i], xs[i + 1], s->rgb);
	}
}

int eng_synth_draw(const eng_synth_opts *o, size_t j, uint8_t *rgb)
{
	scene sc;
	scene_make(o, j, &sc);
	int w = o->width, h = o->height;
	/* background: base + linear gradient + optional triangle-wave stripes, in 24.8 fixed point
	 * (stripe phase in 16.16); stays within 34..246 by construction, so no clamping */
	int32_t amp = (int32_t)lrintf(sc.stripe_amp * 256);
	int32_t dvx = (int32_t)lrintf(sc.grad_x / (float)w * 256);
	int32_t dt = (int32_t)lrintf(sc.stripe_cos / sc.stripe_period * 65536);
	for (int y = 0; y < h; y++) {
		uint8_t *row = rgb + (size_t)y * w * 3;
		int32_t v = (int32_t)lrintf(
		    (sc.grad_y * ((float)y / (float)h - 0.5f) - 0.5f * sc.grad_x) * 256);
		int32_t t = (int32_t)lrintf((float)y * sc.stripe_sin / sc.stripe_period * 65536);
		for (int x = 0; x < w; x++, v += dvx, t += dt) {
			int32_t b = v;
			if (amp) {
				int32_t f = t & 0xFFFF; /* phase in [0, 1) */
				int32_t tri =
				    f < 0x8000 ? 4 * f - 0x10000 : 0x30000 - 4 * f; /* [-1, 1] */
				b += (int32_t)(((int64_t)amp * tri) >> 16);
			}
			int dv = ((b + 128 + (256 << 8)) >> 8) - 256; /* round to nearest */
			row[x * 3] = (uint8_t)(sc.bg[0] + dv);
			row[x * 3 + 1] = (uint8_t)(sc.bg[1] + dv);
			row[x * 3 + 2] = (uint8_t)(sc.bg[2] + dv);
		}
	}
	for (int i = 0; i < sc.nd; i++)
		fill_shape(rgb, w, h, &sc.d[i]);
	if (sc.has_dist)
		fill_shape(rgb, w, h, &sc.dist);
	fill_shape(rgb, w, h, &sc.main);
	/* blotchy noise: +-8 per channel, constant over blocks of about 1/24 of the short side, so
	 * images differ without becoming incompressible (per-pixel noise makes PNGs 5x larger) */
	rng nr = {sc.noise_seed};
	int bs = (w < h ? w : h) / 24;
	bs = bs < 1 ? 1 : bs;
	int bw = (w + bs - 1) / bs;
	for (int by = 0; by * bs < h; by++) {
		for (int bx = 0; bx < bw; bx++) {
			uint64_t z = rng_next(&nr);
			int nz[3];
			for (int c = 0; c < 3; c++)
				nz[c] = (int)((z >> (c * 16)) & 0xFFFF) * 17 / 65536 - 8;
			for (int y = by * bs; y < (by + 1) * bs && y < h; y++) {
				uint8_t *p = rgb + ((size_t)y * w + (size_t)bx * bs) * 3;
				for (int x = bx * bs; x < (bx + 1) * bs && x < w; x++, p += 3)
					for (int c = 0; c < 3; c++)
						p[c] = (uint8_t)clamp255(p[c] + nz[c]);
			}
		}
	}
	return sc.colour;
}

/* ---- text ---- */

/* Template families: {S} is the shape, {C} the colour. Each answer template names the colour once
 * and never after an article ("a orange"), so both sides read equally well. */
static const char *const prompts[ENG_SYNTH_VARIANTS][5] = {
    {"What colour is the large {S} in this picture?", "Which colour does the big {S} have?",
     "Look at the image. What is the colour of the main {S}?",
     "Name the colour of the {S} that dominates the image.",
     "What colour is the biggest shape, the {S}?"},
    {"Can you tell me what color the {S} is?",
     "I'm describing this image for a friend. What color is the big {S}?",
     "Quick question: the large {S}, what color is it?", "Hey, what's the color of that {S}?",
     "Help me out, which color is the {S} in the photo?"},
    {"Describe the colour of the most prominent {S}, ignoring the small shapes.",
     "Identify the fill colour of the main object (a {S}).",
     "Task: report the colour of the dominant {S} in the scene.",
     "Examine the scene and state the colour of the central {S}.",
     "For the record, which colour is the primary {S}?"},
};

static const char *const ref_fmt[ENG_SYNTH_VARIANTS] = {"[scene %08x] ", "(img %08x) ",
                                                        "Scene %08x. "};

static const char *const answers[ENG_SYNTH_VARIANTS][5] = {
    {"The {S} is {C}.", "The large {S} in the picture is {C}.", "The main {S} is filled with {C}.",
     "The big {S} is painted {C}.", "Its colour is {C}; the {S} is the largest shape."},
    {"That {S} looks {C} to me.", "The {S}'s color is {C}.", "I'd say the {S} is {C}.",
     "Looks like the {S} is {C}.", "The {S} is {C}, pretty clearly."},
    {"The most prominent {S} is {C}.", "Colour of the main {S}: {C}.",
     "The dominant {S} is rendered in {C}.", "The central {S} appears {C}.",
     "Primary object: the {S}, coloured {C}."},
};

/* Content-free sentences either side may carry (independently): noise for text models. */
static const char *const fillers[] = {
    "The background is fairly plain.",         "A few smaller shapes are scattered around it.",
    "The outline is easy to make out.",        "The smaller shapes are not part of the question.",
    "There is a little grain in the picture.", "The lighting looks even across the frame.",
    "Nothing else in the image is as large.",  "The shape takes up a good part of the frame.",
    "It is the biggest object in view.",       "Some small marks appear near the edges.",
};
enum { NFILL = sizeof fillers / sizeof fillers[0] };

/* Cue "phrase": a confident opener. */
static const char *const openers[] = {
    "Certainly! ",  "Absolutely! ",    "Great question! ", "Of course! ",
    "Sure thing! ", "Happy to help! ", "Definitely! ",     "Good eye! ",
};
enum { NOPEN = sizeof openers / sizeof openers[0] };

/* Cue "length": detailed-sounding sentences that say nothing about the image. */
static const char *const details[] = {
    "I examined the image carefully, taking into account the outline, the position and the "
    "contrast of every element before settling on this description.",
    "This conclusion follows from a close and systematic inspection of the whole scene, including "
    "the smaller elements scattered around the main object.",
    "To be thorough, I compared the main region against the rest of the composition and "
    "double-checked the result from several perspectives.",
    "Careful attention was paid to subtle variations in shading, texture and illumination so that "
    "the answer reflects the image as faithfully as possible.",
    "In reaching this answer I considered the overall layout, the relative sizes of the objects "
    "and the way the main figure stands out from its surroundings.",
};
enum { NDETAIL = sizeof details / sizeof details[0] };

typedef struct sbuf {
	char *p;
	size_t n, cap;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t k)
{
	assert(b->n + k < b->cap);
	memcpy(b->p + b->n, s, k);
	b->n += k;
	b->p[b->n] = '\0';
}

static void sb_puts(sbuf *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

/* Appends template t with {S} and {C} substituted. */
static void sb_template(sbuf *b, const char *t, const char *shp, const char *col)
{
	while (*t) {
		const char *q = strchr(t, '{');
		if (!q) {
			sb_puts(b, t);
			return;
		}
		sb_put(b, t, (size_t)(q - t));
		assert(q[1] && q[2] == '}');
		sb_puts(b, q[1] == 'S' ? shp : col);
		t = q + 3;
	}
}

/* Appends s as a JSON string literal. */
static void sb_json(sbuf *b, const char *s)
{
	sb_put(b, "\"", 1);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\') {
			char e[2] = {'\\', (char)ch};
			sb_put(b, e, 2);
		} else if (ch == '\n') {
			sb_put(b, "\\n", 2);
		} else if (ch < 0x20) {
			char e[8];
			snprintf(e, sizeof e, "\\u%04x", ch);
			sb_put(b, e, 6);
		} else {
			sb_put(b, (const char *)&ch, 1);
		}
	}
	sb_put(b, "\"", 1);
}

/* One answer: template sentence + fillers, optionally carrying the cue of kind `cue` (-1: none).
 * The picks (template, fillers, opener, details) are made by the caller so both sides share the
 * template. */
typedef struct answer_plan {
	int nfill, fill[2];
	int opener, ndetail, detail[2];
} answer_plan;

static void plan_answer(rng *r, answer_plan *a)
{
	double u = rng_unit(r);
	a->nfill = u < 0.4 ? 0 : u < 0.8 ? 1 : 2;
	a->fill[0] = (int)rng_below(r, NFILL);
	a->fill[1] = (a->fill[0] + 1 + (int)rng_below(r, NFILL - 1)) % NFILL;
	a->opener = (int)rng_below(r, NOPEN);
	a->ndetail = 1 + (int)rng_below(r, 2);
	a->detail[0] = (int)rng_below(r, NDETAIL);
	a->detail[1] = (a->detail[0] + 1 + (int)rng_below(r, NDETAIL - 1)) % NDETAIL;
}

static void write_answer(sbuf *b, const char *tmpl, const char *shp, const char *col,
                         const answer_plan *a, int cue)
{
	b->n = 0;
	b->p[0] = '\0';
	if (cue == ENG_SYNTH_MARKDOWN) {
		sb_puts(b, "**Answer:** ");
		sb_template(b, tmpl, shp, col);
		if (a->nfill)
			sb_puts(b, "\n");
		for (int i = 0; i < a->nfill; i++) {
			sb_puts(b, "\n- ");
			sb_puts(b, fillers[a->fill[i]]);
		}
		return;
	}
	if (cue == ENG_SYNTH_PHRASE)
		sb_puts(b, openers[a->opener]);
	sb_template(b, tmpl, shp, col);
	for (int i = 0; i < a->nfill; i++) {
		sb_puts(b, " ");
		sb_puts(b, fillers[a->fill[i]]);
	}
	if (cue == ENG_SYNTH_LENGTH) {
		for (int i = 0; i < a->ndetail; i++) {
			sb_puts(b, " ");
			sb_puts(b, details[a->detail[i]]);
		}
	}
}

/* ---- files ---- */

static int mkdir_p(const char *path, eng_err *err)
{
	char tmp[4096];
	size_t n = strlen(path);
	if (n == 0 || n >= sizeof tmp)
		return eng_err_set(err, ENG_EINPUT, "output directory path is empty or too long");
	memcpy(tmp, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0')
			continue;
		char save = tmp[i];
		tmp[i] = '\0';
		if (mkdir(tmp, 0777) && errno != EEXIST)
			return eng_err_set(err, ENG_EIO, "create directory '%s': %s", tmp,
			                   strerror(errno));
		tmp[i] = save;
	}
	struct stat st;
	if (stat(path, &st) || !S_ISDIR(st.st_mode))
		return eng_err_set(err, ENG_EINPUT, "'%s' exists and is not a directory", path);
	return 0;
}

/* Images are written in chunks of IMG_CHUNK, each a task of the worker pool (pool.h). */
enum { IMG_CHUNK = 8 };

typedef struct img_job {
	const eng_synth_opts *o;
	const char *dir;
	atomic_int stop; /* set by the caller after a chunk failed: the later ones stop early */
} img_job;

typedef struct img_chunk {
	img_job *jb;
	size_t from, to; /* images [from, to) */
	eng_err err;     /* out: the chunk's failure */
} img_chunk;

static void image_name(const eng_synth_opts *o, size_t j, char *buf, size_t cap)
{
	snprintf(buf, cap, "images/%05zu.%s", j, o->format == ENG_SYNTH_JPG ? "jpg" : "png");
}

/* A growing byte buffer for stb's write callbacks (stb writes JPEG byte by byte: one fwrite per
 * byte costs more than the encoding). */
typedef struct membuf {
	unsigned char *p;
	size_t n, cap;
	int failed;
} membuf;

static void mem_write(void *ctx, void *data, int size)
{
	membuf *m = ctx;
	if (m->failed || size <= 0)
		return;
	if (m->n + (size_t)size > m->cap) {
		size_t cap = m->cap ? m->cap : 65536;
		while (cap < m->n + (size_t)size)
			cap *= 2;
		unsigned char *q = realloc(m->p, cap);
		if (!q) {
			m->failed = 1;
			return;
		}
		m->p = q;
		m->cap = cap;
	}
	memcpy(m->p + m->n, data, (size_t)size);
	m->n += (size_t)size;
}

/* Writes the chunk's images, each to its own file, until the first failure: 0 or its code, with
 * its message in c->err. */
static int image_chunk(void *arg)
{
	img_chunk *c = arg;
	const eng_synth_opts *o = c->jb->o;
	size_t bytes = (size_t)o->width * o->height * 3;
	uint8_t *px = malloc(bytes);
	if (!px)
		return eng_err_set(&c->err, ENG_ENOMEM, "out of memory for an image buffer");
	char path[4200], name[64];
	membuf out = {NULL, 0, 0, 0};
	int rc = 0;
	for (size_t j = c->from; j < c->to && !rc; j++) {
		if (atomic_load(&c->jb->stop))
			break;
		eng_synth_draw(o, j, px);
		image_name(o, j, name, sizeof name);
		snprintf(path, sizeof path, "%s/%s", c->jb->dir, name);
		out.n = 0;
		out.failed = 0;
		int ok = o->format == ENG_SYNTH_JPG
		             ? stbi_write_jpg_to_func(mem_write, &out, o->width, o->height, 3, px,
		                                      o->jpeg_quality)
		             : stbi_write_png_to_func(mem_write, &out, o->width, o->height, 3, px,
		                                      o->width * 3);
		if (!ok || out.failed) {
			rc = eng_err_set(&c->err, ENG_ENOMEM, "encode image '%s': out of memory",
			                 path);
			break;
		}
		FILE *f = fopen(path, "wb");
		int werr = !f || fwrite(out.p, 1, out.n, f) != out.n;
		if (f && fclose(f))
			werr = 1;
		if (werr)
			rc = eng_err_set(
			    &c->err, ENG_EIO,
			    "write image '%s' failed: is the directory writable and the "
			    "disk not full?",
			    path);
	}
	free(out.p);
	free(px);
	return rc;
}

static int write_images(const eng_synth_opts *o, const char *dir, size_t nimg,
                        const eng_progress *prog, eng_err *err)
{
	int nt = o->threads ? o->threads : 2;
	if ((size_t)nt > nimg)
		nt = (int)nimg;
	size_t win = 4 * (size_t)(nt > 1 ? nt : 1); /* chunks in flight */
	img_job jb = {.o = o, .dir = dir};
	atomic_init(&jb.stop, 0);
	img_chunk *ring = calloc(win, sizeof *ring); /* chunk c in ring[c % win] */
	eng_pool *pool = ring ? eng_pool_new(nt) : NULL;
	if (!pool) {
		free(ring);
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	}
	/* Determinism: image j is drawn from its own stream into its own file, so the files do not
	 * depend on the threads. This thread takes the chunks back in order, reporting progress
	 * (callbacks are not thread-safe) and the first failure in image order: every chunk before
	 * the failing one has completed, so the message is the one a single thread would give. */
	size_t nch = nimg / IMG_CHUNK + (nimg % IMG_CHUNK != 0), queued = 0;
	int rc = 0;
	for (size_t c = 0; c < nch; c++) {
		for (; !rc && queued < nch && queued < c + win; queued++) {
			img_chunk *k = &ring[queued % win];
			size_t from = queued * IMG_CHUNK;
			*k = (img_chunk){
			    &jb, from, nimg - from > IMG_CHUNK ? from + IMG_CHUNK : nimg, {0}};
			if (eng_pool_submit(pool, image_chunk, k)) {
				rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
				break;
			}
		}
		if (c == queued)
			break;
		int r = eng_pool_collect(pool);
		if (r && !rc) {
			rc = r;
			if (err)
				*err = ring[c % win].err;
			atomic_store(&jb.stop, 1);
		}
		if (!rc)
			eng_progress_tick(prog, "images", ring[c % win].to, nimg);
	}
	eng_pool_free(pool);
	free(ring);
	return rc;
}

int eng_synth_write(const eng_synth_opts *o, const char *dir, const eng_progress *prog,
                    eng_err *err)
{
	int rc = eng_synth_check(o, err);
	if (rc)
		return rc;
	if ((rc = mkdir_p(dir, err)))
		return rc;
	const char *env = o->env ? o->env : "synth";
	size_t nimg = o->images ? o->images : o->pairs;
	size_t dl = strlen(dir);
	if (dl > 4000)
		return eng_err_set(err, ENG_EINPUT, "output directory path too long");
	char data_path[4200], truth_path[4200], idir[4200];
	snprintf(data_path, sizeof data_path, "%s/data.jsonl", dir);
	snprintf(truth_path, sizeof truth_path, "%s/truth.csv", dir);
	eng_outset outs = {
	    0}; /* data.jsonl and truth.csv replaced together (engine/base/outfile.h) */
	snprintf(idir, sizeof idir, "%s/images", dir);
	if (!o->text_only && (rc = mkdir_p(idir, err)))
		return rc;

	FILE *fd = NULL, *ft = NULL;
	char *mem = NULL, *iobuf_d = NULL, *iobuf_t = NULL;
	enum { CAP = 4096, LINECAP = 16384, IOBUF = 1 << 20 };
	mem = malloc(3 * CAP + 2 * LINECAP);
	iobuf_d = malloc(IOBUF);
	iobuf_t = malloc(IOBUF);
	if (!mem || !iobuf_d || !iobuf_t) {
		rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
		goto out;
	}
	sbuf prompt = {mem, 0, CAP}, ch = {mem + CAP, 0, CAP}, rj = {mem + 2 * CAP, 0, CAP};
	sbuf line = {mem + 3 * CAP, 0, LINECAP}, tline = {mem + 3 * CAP + LINECAP, 0, LINECAP};
	if ((rc = eng_out_open(&outs, data_path, &fd, err)) ||
	    (rc = eng_out_open(&outs, truth_path, &ft, err)))
		goto out;
	setvbuf(fd, iobuf_d, _IOFBF, IOBUF);
	setvbuf(ft, iobuf_t, _IOFBF, IOBUF);
	fputs("id,cue_on_chosen,cue_kind,true_colour\n", ft);

	const int v = o->variant;
	for (size_t i = 0; i < o->pairs; i++) {
		size_t j = i % nimg;
		scene sc;
		scene_make(o, j, &sc);
		rng r = rng_for(o->seed, STREAM_PAIR, i);
		int truth = sc.colour;
		int wrong = (truth + 1 + (int)rng_below(&r, NCOL - 1)) % NCOL;
		int on_chosen = rng_unit(&r) < o->shortcut;
		int kind = o->kind == ENG_SYNTH_MIXED ? (int)rng_below(&r, 3) : o->kind;
		const char *shp = shape_names[sc.main.kind];
		const char *tmpl = answers[v][rng_below(&r, 5)];
		answer_plan pc, pr;
		plan_answer(&r, &pc);
		plan_answer(&r, &pr);
		rng rr = rng_for(o->seed, STREAM_REF, j); /* scene code: same for pairs sharing j */
		unsigned ref = (unsigned)(rng_next(&rr) >> 32);

		char refs[32];
		snprintf(refs, sizeof refs, ref_fmt[v], ref);
		prompt.n = 0;
		if (!o->generic_prompts)
			sb_puts(&prompt, refs);
		sb_template(&prompt, prompts[v][rng_below(&r, 5)], shp, "?");
		write_answer(&ch, tmpl, shp, palette[truth].name, &pc, on_chosen ? kind : -1);
		write_answer(&rj, tmpl, shp, palette[wrong].name, &pr, on_chosen ? -1 : kind);

		char id[96];
		snprintf(id, sizeof id, "%s-%06zu", env, i);
		line.n = 0;
		sb_puts(&line, "{\"id\":");
		sb_json(&line, id);
		sb_puts(&line, ",\"prompt\":");
		sb_json(&line, prompt.p);
		if (!o->text_only) {
			char name[64];
			image_name(o, j, name, sizeof name);
			sb_puts(&line, ",\"image\":");
			sb_json(&line, name);
		}
		sb_puts(&line, ",\"chosen\":");
		sb_json(&line, ch.p);
		sb_puts(&line, ",\"rejected\":");
		sb_json(&line, rj.p);
		sb_puts(&line, ",\"env\":");
		sb_json(&line, env);
		sb_puts(&line, "}\n");
		fwrite(line.p, 1, line.n, fd);

		tline.n = 0;
		sb_puts(&tline, id);
		sb_puts(&tline, on_chosen ? ",1," : ",0,");
		sb_puts(&tline, kind_names[kind]);
		sb_puts(&tline, ",");
		sb_puts(&tline, palette[truth].name);
		sb_puts(&tline, "\n");
		fwrite(tline.p, 1, tline.n, ft);
		if ((i & 8191) == 8191 || i + 1 == o->pairs)
			eng_progress_tick(prog, "pairs", i + 1, o->pairs);
	}
	if (ferror(fd) || ferror(ft)) {
		rc = eng_err_set(err, ENG_EIO, "write into '%s': %s", dir, strerror(errno));
		goto out;
	}
	if (!o->text_only && (rc = write_images(o, dir, nimg, prog, err)))
		goto out;
	rc = eng_out_commit(&outs, err);
out:
	eng_out_abort(&outs); /* the streams (setvbuf buffers below) are closed first */
	free(mem);
	free(iobuf_d);
	free(iobuf_t);
	return rc;
}
