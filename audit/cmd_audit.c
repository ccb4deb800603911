/* cmd_audit.c - `mmaudit audit`: index + score + crossdist (two or more datasets) + report +
 * weights in one command; the gate's exit code when rules are given. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "audit/cli.h"
#include "index.h"
#include "safetext.h"
#include "score.h"
#include "reports/rpt_audit.h"

static const char *usage_text =
    "usage: mmaudit audit --out DIR [--db PATH] [--images DIR|ARCHIVE] [--name NAME]\n"
    "                     [--folds K] [--epochs N] [--seed S] [--threads T] [--top N]\n"
    "                     [--policy FILE] [--max-shortcut-rate X] [--max-text-accuracy X]\n"
    "                     [--max-sfd X] [--max-ood-gap X] [--no-crossdist] [--quiet]\n"
    "                     [--features F] [--image-embeddings FILE] [--text-embeddings FILE]\n"
    "                     [--format SHAPE] [--map ROLE=FIELD,...] [--missing-images POLICY]\n"
    "                     [--duplicate-ids POLICY] [--weights-method M] [--min-image-gain G]\n"
    "                     [--by FIELD]... [--position-field FIELD] [--near-dup-distance N]\n"
    "                     [NAME=]FILE.jsonl...\n\n"
    "Everything in one command: indexes each file as a dataset (named NAME, or after the file;\n"
    "files named alike are told apart by their folder), scores every pair held out, runs the\n"
    "cross-distribution evaluation when there are two or more datasets, and writes report.html,\n"
    "summary.json, samples.csv, near_duplicates.csv and weights.csv into DIR. With gate rules, "
    "exits 1 when one "
    "fails.\n\n"
    "  --out DIR          output folder (created)\n"
    "  --db PATH          workspace (default DIR/workspace.db); reused: files already indexed\n"
    "                     are skipped\n"
    "  --images DIR|ARCH  where relative image paths live (default: each file's folder)\n"
    "  --name NAME        dataset name when there is one file\n"
    "  --format, --map, --missing-images, --duplicate-ids, --verdict-map, --verdict-field,\n"
    "  --prompt-text, --answers, --join, --allow-image-paths-outside   as in `mmaudit index`\n"
    "  --folds K, --epochs N, --seed S, --threads T   as in `mmaudit score`\n"
    "  --top N            example cards per list in the report (default 25)\n"
    "  --weights-method M weights.csv method: auto (default: sfc when the MM-RM uses the\n"
    "                     image, else debias), debias, jtt, sfc or none (`mmaudit weights`)\n"
    "  --min-image-gain G as in `mmaudit score` (default 0.01)\n"
    "  --policy FILE, --max-*   gate rules, as in `mmaudit gate`\n"
    "  --features F     auto, builtin, embeddings or both: which features the models see when\n"
    "                   `mmaudit embed` loaded vectors; embeddings = they replace the built-in\n"
    "                   features of their kind, both = next to them, auto (default) = image\n"
    "                   vectors replace the pixel features, text vectors join the word features\n"
    "  --image-embeddings FILE, --text-embeddings FILE (+ --image-ids FILE, --text-ids FILE\n"
    "                     for .npy): load them first, as `mmaudit embed` does\n"
    "  --no-crossdist     skip the cross-distribution evaluation\n"
    "  --quiet            no progress on stderr\n" AUD_INTEGRITY_USAGE "\n"
    "exit: 0 ok, 1 a gate rule failed, 2 bad usage or input, 3 system error\n";

static void copy_str(char *out, size_t cap, const char *s)
{
	size_t n = strnlen(s, cap - 1);
	memcpy(out, s, n);
	out[n] = '\0';
}

/* Dataset name of input i: NAME= prefix, --name, the file stem, or (stems collide) folder name. */
static void dataset_name(char **files, int n, int i, const char *name, char *out, size_t cap)
{
	char stem[256], other[256];
	if (name) {
		copy_str(out, cap, name);
		return;
	}
	eng_index_stem(files[i], stem, sizeof stem);
	int clash = 0;
	for (int j = 0; j < n; j++) {
		if (j == i)
			continue;
		eng_index_stem(files[j], other, sizeof other);
		clash |= !strcmp(stem, other);
	}
	if (!clash) {
		copy_str(out, cap, stem);
		return;
	}
	/* parent folder name */
	char dir[4096];
	snprintf(dir, sizeof dir, "%s", files[i]);
	char *slash = strrchr(dir, '/');
	if (slash) {
		*slash = '\0';
		char *base = strrchr(dir, '/');
		copy_str(out, cap, base ? base + 1 : dir);
	} else {
		char num[16];
		snprintf(num, sizeof num, "-%d", i + 1);
		copy_str(out, cap - strlen(num), stem);
		strcat(out, num);
	}
}

/* Two different files whose derived names are alike (same stem, and same folder name: a/x/d.jsonl
 * and b/x/d.jsonl) must not become one dataset: a derived name that another input also has is
 * replaced by the file's path without its extension, then numbered. Names given with NAME= or
 * --name are kept as given (the same NAME on several files is one dataset on purpose). */
static int unique_names(char **files, char **names, const char *given, int n, int quiet,
                        eng_err *err)
{
	char *clash = calloc((size_t)n, 1);
	if (!clash)
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < n; i++) {
			clash[i] = 0;
			for (int j = 0; j < n && !given[i] && !clash[i]; j++)
				clash[i] =
				    j != i && !strcmp(names[i], names[j]) &&
				    strcmp(files[i], files[j]); /* the same file twice: skipped */
		}
		for (int i = 0; i < n; i++) {
			if (!clash[i])
				continue;
			char nm[4200], stem[256];
			if (pass == 0) {
				snprintf(nm, sizeof nm, "%s", files[i]);
				char *sl = strrchr(nm, '/');
				eng_index_stem(files[i], stem, sizeof stem);
				if (sl)
					snprintf(sl + 1, sizeof nm - (size_t)(sl + 1 - nm), "%s",
					         stem);
				else
					snprintf(nm, sizeof nm, "%s", stem);
			} else {
				snprintf(nm, sizeof nm, "%.4000s#%d", names[i], i + 1);
			}
			size_t need = eng_text_escape(nm, (size_t)-1, NULL, 0) + 1;
			char *c = malloc(need);
			if (!c) {
				free(clash);
				return eng_err_set(err, ENG_ENOMEM, "out of memory");
			}
			eng_text_escape(nm, (size_t)-1, c, need);
			if (!quiet)
				aud_eprintf(
				    "mmaudit audit: '%s' is named '%s' (another input has the "
				    "name '%s')\n",
				    files[i], c, names[i]);
			free(names[i]);
			names[i] = c;
		}
	}
	free(clash);
	return 0;
}

static void note_stderr(void *ctx, const char *msg)
{
	(void)ctx;
	aud_eprintf("mmaudit audit: %s\n", msg);
}

typedef struct hook_ctx {
	aud_progress *ap;
	int quiet;
} hook_ctx;

static void stage_done(void *ctx)
{
	aud_progress_done(((hook_ctx *)ctx)->ap);
}

static void indexed(void *ctx, const char *db, const char *file, const eng_index_result *r)
{
	if (!((hook_ctx *)ctx)->quiet)
		aud_index_summary(db, file, r);
}

static void embedded(void *ctx, int kind, const char *file, const eng_emb_report *r)
{
	if (!((hook_ctx *)ctx)->quiet)
		aud_embed_print(stderr, kind, file, r);
}

static int audit_main(int argc, char **argv, eng_rec_map *map)
{
	static const struct option opts[] = {{"out", required_argument, 0, 'o'},
	                                     {"db", required_argument, 0, 'd'},
	                                     {"images", required_argument, 0, 'i'},
	                                     {"name", required_argument, 0, 'n'},
	                                     {"folds", required_argument, 0, 'k'},
	                                     {"epochs", required_argument, 0, 'e'},
	                                     {"seed", required_argument, 0, 's'},
	                                     {"threads", required_argument, 0, 't'},
	                                     {"top", required_argument, 0, 'N'},
	                                     {"no-crossdist", no_argument, 0, 'C'},
	                                     {"quiet", no_argument, 0, 'q'},
	                                     {"features", required_argument, 0, 'X'},
	                                     {"image-embeddings", required_argument, 0, '1'},
	                                     {"text-embeddings", required_argument, 0, '2'},
	                                     {"image-ids", required_argument, 0, '3'},
	                                     {"text-ids", required_argument, 0, '4'},
	                                     {"help", no_argument, 0, 'h'},
	                                     {"policy", required_argument, 0, 'P'},
	                                     {"max-shortcut-rate", required_argument, 0, 'S'},
	                                     {"max-text-accuracy", required_argument, 0, 'T'},
	                                     {"max-sfd", required_argument, 0, 'F'},
	                                     {"max-ood-gap", required_argument, 0, 'O'},
	                                     {"format", required_argument, 0, 'f'},
	                                     {"map", required_argument, 0, 'm'},
	                                     {"missing-images", required_argument, 0, 'M'},
	                                     {"duplicate-ids", required_argument, 0, 'D'},
	                                     AUD_FORMAT_LONG_OPTIONS,
	                                     {"allow-image-paths-outside", no_argument, 0, 'A'},
	                                     {"weights-method", required_argument, 0, 'W'},
	                                     {"min-image-gain", required_argument, 0, 'G'},
	                                     AUD_INTEGRITY_LONGOPTS,
	                                     {0, 0, 0, 0}};
	const char *out = NULL, *db = NULL, *name = NULL, *policy_path = NULL, *by[AUD_MAX_BY];
	rpt_integrity_options integ = {.by = by, .near_dup_distance = -1};
	const char *emb_file[2] = {NULL, NULL}, *emb_ids[2] = {NULL, NULL}; /* image, text */
	eng_index_opts io = {0};
	eng_score_opts so;
	eng_score_opts_default(&so);
	so.train.seed = 1;
	rpt_policy flags, policy;
	rpt_policy_init(&flags);
	int quiet = 0, crossdist = 1, top = 0, c, rc;
	eng_wmethod wmethod = ENG_WM_AUTO;
	long long v;
	double x;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 'd':
			db = optarg;
			break;
		case 'i':
			io.images = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'k':
			if (aud_parse_int("audit", "--folds", optarg, 2, 100, &v))
				return AUD_EXIT_USAGE;
			so.folds = (int)v;
			break;
		case 'e':
			if (aud_parse_int("audit", "--epochs", optarg, 1, 1000, &v))
				return AUD_EXIT_USAGE;
			so.train.epochs = (int)v;
			break;
		case 's':
			if (aud_parse_int("audit", "--seed", optarg, 0, INT64_MAX, &v))
				return AUD_EXIT_USAGE;
			so.train.seed = (uint64_t)v;
			break;
		case 't':
			if (aud_parse_int("audit", "--threads", optarg, 1, 64, &v))
				return AUD_EXIT_USAGE;
			so.threads = (int)v;
			break;
		case 'N':
			if (aud_parse_int("audit", "--top", optarg, 1, 100, &v))
				return AUD_EXIT_USAGE;
			top = (int)v;
			break;
		case 'C':
			crossdist = 0;
			break;
		case 'W':
			if (eng_wmethod_parse(optarg, &wmethod))
				return aud_usage_error(
				    "audit",
				    "--weights-method wants auto, debias, jtt, sfc or none");
			break;
		case 'G':
			if (aud_parse_double("audit", "--min-image-gain", optarg, 0, 1, &x))
				return AUD_EXIT_USAGE;
			so.min_image_gain = x;
			break;
		case 'f':
		case 'm':
		case 'M':
		case 'D':
		case AUD_OPT_VERDICT_MAP:
		case AUD_OPT_VERDICT_FIELD:
		case AUD_OPT_PROMPT_TEXT:
		case AUD_OPT_ANSWERS:
		case AUD_OPT_JOIN:
		case 'A':
			if ((rc = aud_format_option("audit", c, optarg, &io, map)))
				return rc;
			break;
		case 'q':
			quiet = 1;
			break;
		case AUD_OPT_BY:
		case AUD_OPT_POSITION_FIELD:
		case AUD_OPT_NEAR_DUP:
			if ((rc = aud_integrity_option("audit", c, optarg, &integ, by)))
				return rc;
			break;
		case '1':
		case '2':
			emb_file[c - '1'] = optarg;
			break;
		case '3':
		case '4':
			emb_ids[c - '3'] = optarg;
			break;
		case 'X':
			if (eng_features_parse(optarg, &so.features)) {
				aud_usage_error(
				    "audit",
				    "--features must be auto, builtin, embeddings or both");
				return AUD_EXIT_USAGE;
			}
			break;
		case 'h':
			fputs(usage_text, stdout);
			return AUD_EXIT_OK;
		default:
			if ((rc = aud_gate_option("audit", c, optarg, &flags, &policy_path)))
				return rc;
		}
	}
	if (!out)
		return aud_usage_error("audit", "--out DIR is required");
	int nfiles = argc - optind;
	if (nfiles < 1)
		return aud_usage_error("audit", "give at least one FILE.jsonl");
	if (name && nfiles > 1)
		return aud_usage_error("audit",
		                       "--name works with one file; use NAME=FILE for several");
	if ((rc = aud_gate_policy("audit", &flags, policy_path, &policy)) ||
	    (rc = aud_format_finish("audit", &io, map)))
		return rc;
	so.command = aud_command_line;
	so.note = note_stderr;

	eng_err err = {0};
	char **files = calloc((size_t)nfiles, sizeof *files),
	     **names = calloc((size_t)nfiles, sizeof *names);
	aud_progress ap;
	aud_progress_init(&ap, quiet);
	int e = files && names ? 0 : eng_err_set(&err, ENG_ENOMEM, "out of memory");
	for (int i = 0; !e && i < nfiles; i++) {
		char *arg = argv[optind + i], *eq = strchr(arg, '=');
		struct stat sb;
		if (eq && eq != arg && stat(arg, &sb) != 0) {
			names[i] = strndup(arg, (size_t)(eq - arg));
			files[i] = eq + 1;
		} else {
			files[i] = arg;
		}
	}
	char *given = calloc((size_t)nfiles, 1); /* names[i] came from NAME= or --name */
	if (!given)
		e = eng_err_set(&err, ENG_ENOMEM, "out of memory");
	for (int i = 0; !e && i < nfiles; i++) {
		char nm[1024];
		given[i] = names[i] || name;
		if (!names[i])
			dataset_name(files, nfiles, i, name, nm, sizeof nm);
		else
			snprintf(nm, sizeof nm, "%s", names[i]);
		free(names[i]);
		/* names are valid printable UTF-8 (engine/base/safetext.h) */
		size_t need = eng_text_escape(nm, (size_t)-1, NULL, 0) + 1;
		if ((names[i] = malloc(need)))
			eng_text_escape(nm, (size_t)-1, names[i], need);
		else
			e = eng_err_set(&err, ENG_ENOMEM, "out of memory");
	}
	if (!e)
		e = unique_names(files, names, given, nfiles, quiet, &err);
	free(given);
	rpt_audit_result res = {0};
	if (!e) {
		rpt_audit_opts ao = {
		    .out = out,
		    .db = db,
		    .files = files,
		    .names = names,
		    .nfiles = nfiles,
		    .index = io,
		    .score = so,
		    .crossdist = crossdist,
		    .emb_file = {emb_file[0], emb_file[1]},
		    .emb_ids = {emb_ids[0], emb_ids[1]},
		    .wmethod = wmethod,
		    .report = {.top_n = top, .policy = policy, .integrity = integ}};
		hook_ctx hc = {&ap, quiet};
		rpt_audit_hooks hooks = {aud_progress_hook(&ap), &hc, stage_done, indexed,
		                         embedded};
		e = rpt_audit_run(&ao, &hooks, &res, &err);
	}
	if (e) {
		rc = aud_fail("audit", &err);
	} else {
		rc = AUD_EXIT_OK;
		for (size_t i = 0; !quiet && i < res.nids; i++)
			aud_eprintf("mmaudit audit: weights.csv for '%s': method %s%s (%s)\n",
			            res.choice[i].dataset, wmethod == ENG_WM_AUTO ? "auto -> " : "",
			            eng_wmethod_name(res.choice[i].used), res.choice[i].reason);
		if (rpt_policy_count(&policy))
			rc = aud_gate_run("audit", res.ws, &policy);
		aud_eprintf(
		    "mmaudit audit: wrote %s/report.html (%zu bytes), summary.json, samples.csv "
		    "(%lld rows), weights.csv\n",
		    out, res.info.html_bytes, (long long)res.info.csv_rows);
	}
	for (int i = 0; names && i < nfiles; i++)
		free(names[i]);
	free(names);
	free(files);
	rpt_audit_result_free(&res);
	return rc;
}

int aud_cmd_audit(int argc, char **argv)
{
	eng_rec_map map = {0};
	int rc = audit_main(argc, argv, &map);
	eng_rec_map_clear(&map);
	aud_format_free();
	return rc;
}
