/* cmd_synth.c - `mmaudit synth`: write a procedural environment with a planted text shortcut. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/cli.h"
#include "synth.h"

static const char usage_text[] =
    "usage: mmaudit synth --out DIR --pairs N --shortcut P [--seed S] [--kind KIND]\n"
    "                     [--images M] [--size WxH] [--format png|jpg] [--variant V]\n"
    "                     [--env NAME] [--threads T] [--text-only] [--main-scale S]\n"
    "                     [--distractor] [--generic-prompts] [--quiet]\n\n"
    "Writes a procedural preference environment: each pair shows a drawn scene and asks for the\n"
    "colour of its large main shape. The chosen answer names the drawn colour, the rejected one a\n"
    "wrong colour in the same sentence; colour words are balanced between the sides, so only the\n"
    "image tells them apart. A text cue sits on the chosen side with probability P and on the\n"
    "rejected side otherwise (P = 0.5: no shortcut; P < 0.5: a reversed shortcut).\n\n"
    "Output: DIR/data.jsonl (id, prompt, image, chosen, rejected, env), DIR/images/,\n"
    "DIR/truth.csv (id,cue_on_chosen,cue_kind,true_colour). Same options and seed give\n"
    "byte-identical files.\n\n"
    "  --out DIR         output directory, created if missing (required)\n"
    "  --pairs N         number of pairs, >= 1 (required)\n"
    "  --shortcut P      probability that the cue sits on the chosen side, in [0, 1] (required)\n"
    "  --seed S          random seed (default 1)\n"
    "  --kind KIND       cue kind: phrase (confident opener), length (extra content-free\n"
    "                    sentences), markdown (bold header, bullets) or mixed (default: one of\n"
    "                    the three per pair)\n"
    "  --images M        distinct images, 1..N (default N); pair i shows image i mod M\n"
    "  --size WxH        image size (default 96x96)\n"
    "  --format FMT      png (default) or jpg (quality 90)\n"
    "  --variant V       prompt/answer template family 0..2 (default 0): use different variants\n"
    "                    for different environments to add a text distribution shift\n"
    "  --env NAME        environment name in the \"env\" field and the ids (default synth)\n"
    "  --threads T       image writer threads (default 2)\n"
    "  --text-only       no images and no image field (fast; for scale benchmarks)\n"
    "  --main-scale S    main shape radius x S, 0.2..1 (default 1): a smaller main shape makes\n"
    "                    the image signal weaker\n"
    "  --distractor      draw a second large shape of another colour under the main one (the\n"
    "                    question still names the main shape): a weaker image signal\n"
    "  --generic-prompts prompts without the per-scene code: a handful of generic prompts,\n"
    "                    the same in every environment of the same --variant\n"
    "  --quiet           no progress on stderr\n";

/* the options of aud_command.opts (audit/cli.h), in getopt order */
static const char options[] =
    "out pairs=n shortcut=p seed kind=k images=m size=z format=f variant=v "
    "env=e threads text-only:T main-scale=S distractor:D generic-prompts:G "
    "quiet help";

static int parse_size(const char *s, int *w, int *h)
{
	char *end = NULL;
	long a = strtol(s, &end, 10);
	if (end == s || (*end != 'x' && *end != 'X'))
		return -1;
	const char *t = end + 1;
	long b = strtol(t, &end, 10);
	if (end == t || *end || a < 16 || a > 8192 || b < 16 || b > 8192)
		return -1;
	*w = (int)a;
	*h = (int)b;
	return 0;
}

typedef struct synth_cmd {
	eng_synth_opts o;
	int have_pairs, have_p;
} synth_cmd;

static int synth_option(void *self, aud_args *a, int c, const char *arg)
{
	(void)a;
	synth_cmd *sc = self;
	eng_synth_opts *o = &sc->o;
	long long n;
	double d;
	switch (c) {
	case 'n':
		if (aud_parse_int("synth", "--pairs", arg, 1, 1000000000, &n))
			return AUD_EXIT_USAGE;
		o->pairs = (size_t)n;
		sc->have_pairs = 1;
		return 0;
	case 'p':
		if (aud_parse_double("synth", "--shortcut", arg, 0.0, 1.0, &d))
			return AUD_EXIT_USAGE;
		o->shortcut = d;
		sc->have_p = 1;
		return 0;
	case 'k':
		if ((o->kind = eng_synth_kind_parse(arg)) < 0)
			return aud_usage_error(
			    "synth", "--kind wants phrase, length, markdown or mixed, got '%s'",
			    arg);
		return 0;
	case 'm':
		if (aud_parse_int("synth", "--images", arg, 1, 1000000000, &n))
			return AUD_EXIT_USAGE;
		o->images = (size_t)n;
		return 0;
	case 'z':
		if (parse_size(arg, &o->width, &o->height))
			return aud_usage_error(
			    "synth", "--size wants WxH with 16..8192 per side, got '%s'", arg);
		return 0;
	case 'f':
		if (!strcmp(arg, "png"))
			o->format = ENG_SYNTH_PNG;
		else if (!strcmp(arg, "jpg") || !strcmp(arg, "jpeg"))
			o->format = ENG_SYNTH_JPG;
		else
			return aud_usage_error("synth", "--format wants png or jpg, got '%s'", arg);
		return 0;
	case 'v':
		if (aud_parse_int("synth", "--variant", arg, 0, ENG_SYNTH_VARIANTS - 1, &n))
			return AUD_EXIT_USAGE;
		o->variant = (int)n;
		return 0;
	case 'e':
		o->env = arg;
		return 0;
	case 'S':
		if (aud_parse_double("synth", "--main-scale", arg, 0.2, 1.0, &d))
			return AUD_EXIT_USAGE;
		o->main_scale = (float)d;
		return 0;
	case 'D':
		o->distractor = 1;
		return 0;
	case 'G':
		o->generic_prompts = 1;
		return 0;
	case 'T':
		o->text_only = 1;
		return 0;
	}
	return AUD_NOT_MINE;
}

static int synth_check(void *self, aud_args *a)
{
	synth_cmd *sc = self;
	if (a->optind < a->argc)
		return aud_usage_error("synth", "unexpected argument '%s'", a->argv[a->optind]);
	if (!a->out)
		return aud_usage_error("synth", "--out DIR is required");
	if (!sc->have_pairs)
		return aud_usage_error("synth", "--pairs N is required");
	if (!sc->have_p)
		return aud_usage_error("synth", "--shortcut P is required");
	if (sc->o.images > sc->o.pairs)
		return aud_usage_error("synth", "--images (%zu) must not exceed --pairs (%zu)",
		                       sc->o.images, sc->o.pairs);
	eng_err err = {0};
	if (eng_synth_check(&sc->o, &err))
		return aud_usage_error("synth", "%s", err.msg);
	return 0;
}

static int synth_run(void *self, aud_args *a)
{
	eng_synth_opts *o = &((synth_cmd *)self)->o;
	int rc = eng_synth_write(o, a->out, &a->prog, &a->err);
	aud_progress_done(&a->ap);
	if (rc)
		return rc;
	if (!a->quiet)
		fprintf(stderr,
		        "synth: wrote %zu pairs%s to %s (shortcut %g, kind %s, seed %llu)\n",
		        o->pairs, o->text_only ? " (text only)" : "", a->out, o->shortcut,
		        eng_synth_kind_name(o->kind), (unsigned long long)o->seed);
	return AUD_EXIT_OK;
}

int aud_cmd_synth(int argc, char **argv)
{
	synth_cmd sc = {0};
	eng_synth_opts_default(&sc.o);
	aud_args a = {.to = {&sc.o.seed, &sc.o.threads}};
	return aud_command_main(&(const aud_command){"synth", usage_text, NULL, options, AUD_F_ARGS,
	                                             NULL, synth_option, NULL, synth_check,
	                                             synth_run},
	                        &sc, &a, argc, argv);
}
