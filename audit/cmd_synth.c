/* cmd_synth.c - `mmaudit synth`: write a procedural environment with a planted text shortcut. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/cli.h"
#include "synth.h"

static const char *usage_text =
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

int aud_cmd_synth(int argc, char **argv)
{
	static const struct option opts[] = {{"out", required_argument, 0, 'o'},
	                                     {"pairs", required_argument, 0, 'n'},
	                                     {"shortcut", required_argument, 0, 'p'},
	                                     {"seed", required_argument, 0, 's'},
	                                     {"kind", required_argument, 0, 'k'},
	                                     {"images", required_argument, 0, 'm'},
	                                     {"size", required_argument, 0, 'z'},
	                                     {"format", required_argument, 0, 'f'},
	                                     {"variant", required_argument, 0, 'v'},
	                                     {"env", required_argument, 0, 'e'},
	                                     {"threads", required_argument, 0, 't'},
	                                     {"text-only", no_argument, 0, 'T'},
	                                     {"main-scale", required_argument, 0, 'S'},
	                                     {"distractor", no_argument, 0, 'D'},
	                                     {"generic-prompts", no_argument, 0, 'G'},
	                                     {"quiet", no_argument, 0, 'q'},
	                                     {"help", no_argument, 0, 'h'},
	                                     {0, 0, 0, 0}};
	eng_synth_opts o;
	eng_synth_opts_default(&o);
	const char *out = NULL;
	int have_pairs = 0, have_p = 0, quiet = 0, c;
	long long n;
	double d;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 'n':
			if (aud_parse_int("synth", "--pairs", optarg, 1, 1000000000, &n))
				return AUD_EXIT_USAGE;
			o.pairs = (size_t)n;
			have_pairs = 1;
			break;
		case 'p':
			if (aud_parse_double("synth", "--shortcut", optarg, 0.0, 1.0, &d))
				return AUD_EXIT_USAGE;
			o.shortcut = d;
			have_p = 1;
			break;
		case 's':
			if (aud_parse_int("synth", "--seed", optarg, 0, (long long)(~0ull >> 1),
			                  &n))
				return AUD_EXIT_USAGE;
			o.seed = (uint64_t)n;
			break;
		case 'k':
			if ((o.kind = eng_synth_kind_parse(optarg)) < 0)
				return aud_usage_error(
				    "synth",
				    "--kind wants phrase, length, markdown or mixed, got '%s'",
				    optarg);
			break;
		case 'm':
			if (aud_parse_int("synth", "--images", optarg, 1, 1000000000, &n))
				return AUD_EXIT_USAGE;
			o.images = (size_t)n;
			break;
		case 'z':
			if (parse_size(optarg, &o.width, &o.height))
				return aud_usage_error(
				    "synth", "--size wants WxH with 16..8192 per side, got '%s'",
				    optarg);
			break;
		case 'f':
			if (!strcmp(optarg, "png"))
				o.format = ENG_SYNTH_PNG;
			else if (!strcmp(optarg, "jpg") || !strcmp(optarg, "jpeg"))
				o.format = ENG_SYNTH_JPG;
			else
				return aud_usage_error(
				    "synth", "--format wants png or jpg, got '%s'", optarg);
			break;
		case 'v':
			if (aud_parse_int("synth", "--variant", optarg, 0, ENG_SYNTH_VARIANTS - 1,
			                  &n))
				return AUD_EXIT_USAGE;
			o.variant = (int)n;
			break;
		case 'e':
			o.env = optarg;
			break;
		case 'S': {
			double x;
			if (aud_parse_double("synth", "--main-scale", optarg, 0.2, 1.0, &x))
				return AUD_EXIT_USAGE;
			o.main_scale = (float)x;
			break;
		}
		case 'D':
			o.distractor = 1;
			break;
		case 'G':
			o.generic_prompts = 1;
			break;
		case 't':
			if (aud_parse_int("synth", "--threads", optarg, 1, 64, &n))
				return AUD_EXIT_USAGE;
			o.threads = (int)n;
			break;
		case 'T':
			o.text_only = 1;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return AUD_EXIT_OK;
		default:
			return aud_usage_error("synth", "unknown option");
		}
	}
	if (optind < argc)
		return aud_usage_error("synth", "unexpected argument '%s'", argv[optind]);
	if (!out)
		return aud_usage_error("synth", "--out DIR is required");
	if (!have_pairs)
		return aud_usage_error("synth", "--pairs N is required");
	if (!have_p)
		return aud_usage_error("synth", "--shortcut P is required");
	if (o.images > o.pairs)
		return aud_usage_error("synth", "--images (%zu) must not exceed --pairs (%zu)",
		                       o.images, o.pairs);

	eng_err err = {0};
	if (eng_synth_check(&o, &err))
		return aud_usage_error("synth", "%s", err.msg);
	aud_progress ap;
	aud_progress_init(&ap, quiet);
	eng_progress prog = aud_progress_hook(&ap);
	int rc = eng_synth_write(&o, out, &prog, &err);
	aud_progress_done(&ap);
	if (rc)
		return aud_fail("synth", &err);
	if (!quiet)
		fprintf(stderr,
		        "synth: wrote %zu pairs%s to %s (shortcut %g, kind %s, seed %llu)\n",
		        o.pairs, o.text_only ? " (text only)" : "", out, o.shortcut,
		        eng_synth_kind_name(o.kind), (unsigned long long)o.seed);
	return AUD_EXIT_OK;
}
