/* synth.h - procedural preference environments with a planted text shortcut.
 *
 * Each pair shows a drawn scene (a neutral noisy background, a few small distractor shapes and one
 * large main shape in one of eng_synth_colour_count() well-separated colours) and asks for the main
 * shape's colour. The chosen answer names the drawn colour, the rejected one a wrong colour drawn
 * uniformly from the others, in the same sentence template: the true preference depends only on the
 * image, and colour words are balanced between the sides, so text alone carries no signal apart
 * from the planted cue. The cue (a confident opener, an extra content-free sentence, or markdown
 * formatting) sits on the chosen side with probability `shortcut` and on the rejected side
 * otherwise. Same options and seed -> byte-identical output, whatever the thread count.
 *
 * Output in dir: data.jsonl (pairwise records: id, prompt, image, chosen, rejected, env),
 * images/NNNNN.png|jpg, truth.csv (id,cue_on_chosen,cue_kind,true_colour). Does not index or
 * score anything. */
#ifndef ENG_SYNTH_H
#define ENG_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "progress.h"

enum { ENG_SYNTH_PHRASE, ENG_SYNTH_LENGTH, ENG_SYNTH_MARKDOWN, ENG_SYNTH_MIXED };
enum { ENG_SYNTH_PNG, ENG_SYNTH_JPG };
enum { ENG_SYNTH_VARIANTS = 3 };

typedef struct eng_synth_opts {
	size_t pairs;    /* >= 1 */
	double shortcut; /* P(cue on the chosen side), in [0, 1] */
	uint64_t seed;
	int kind;      /* ENG_SYNTH_PHRASE..MIXED (mixed: one of the three per pair, uniformly) */
	size_t images; /* distinct images, 1..pairs; 0 = pairs. Pair i shows image i % images */
	int width, height; /* image size in pixels, 16..8192 each */
	int format;        /* ENG_SYNTH_PNG or ENG_SYNTH_JPG */
	int jpeg_quality;  /* 1..100 */
	int text_only;     /* 1: no images, no image field (scale benchmarks) */
	int variant;       /* 0..ENG_SYNTH_VARIANTS-1: prompt/answer template family (text shift) */
	const char *env;   /* name in the "env" field and in ids; NULL = "synth" */
	int threads;       /* image writer threads, >= 1; 0 = 2 */
	/* Harder regimes (issue 13), all off by default (the output is then unchanged): */
	float main_scale;    /* main shape radius x this, in [0.2, 1]; 0 = 1 */
	int distractor;      /* 1: a second large shape of another colour (own random stream),
	                        drawn under the main one: the colour features see two colours */
	int generic_prompts; /* 1: prompts without the per-scene code ("[scene 1a2b...]"): a few
	                        generic prompts, shared by every environment of the same variant */
} eng_synth_opts;

/* pairs 1000, shortcut 0.5, seed 1, mixed, 96x96 PNG, quality 90, variant 0, env "synth". */
void eng_synth_opts_default(eng_synth_opts *o);

/* Checks o; returns 0 or ENG_EINPUT with a message naming the bad option. */
int eng_synth_check(const eng_synth_opts *o, eng_err *err);

/* Writes the environment into dir (created if missing; existing files of the same names are
 * replaced; data.jsonl and truth.csv appear atomically by rename). Progress stages "images" and
 * "pairs". Returns 0, ENG_EINPUT (bad options), ENG_EIO (with the path) or ENG_ENOMEM. */
int eng_synth_write(const eng_synth_opts *o, const char *dir, const eng_progress *prog,
                    eng_err *err);

/* Colour palette: names are single lower-case words ("red"); rgb is the nominal fill colour. */
int eng_synth_colour_count(void);
const char *eng_synth_colour_name(int i);
void eng_synth_colour_rgb(int i, uint8_t rgb[3]);
/* Index of a colour name, or -1. */
int eng_synth_colour_index(const char *name);

/* "phrase", "length", "markdown", "mixed"; parse returns the enum or -1. */
const char *eng_synth_kind_name(int kind);
int eng_synth_kind_parse(const char *s);

/* Draws image j of the environment o into rgb (height, width, 3) row-major, exactly as
 * eng_synth_write would before encoding; returns its true colour index. For tests and benches. */
int eng_synth_draw(const eng_synth_opts *o, size_t j, uint8_t *rgb);

#endif
