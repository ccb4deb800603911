/* cmd_audit.c - `mmaudit audit`: index + score + crossdist (two or more datasets) + report +
 * weights in one command; the gate's exit code when rules are given. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "audit/cli.h"
#include "index.h"
#include "modelfile.h"
#include "safetext.h"
#include "score.h"
#include "reports/rpt_audit.h"

static const char usage_text[] =
    "usage: mmaudit audit --out DIR [--db PATH] [--images DIR|ARCHIVE] [--name NAME]\n"
    "                     [--folds K] [--epochs N] [--seed S] [--threads T] [--top N]\n"
    "                     [--policy FILE] [--max-shortcut-rate X] [--max-text-accuracy X]\n"
    "                     [--max-sfd X] [--max-ood-gap X] [--no-crossdist] [--quiet]\n"
    "                     [--features F] [--image-embeddings FILE] [--text-embeddings FILE]\n"
    "                     [--format SHAPE] [--map ROLE=FIELD,...] [--missing-images POLICY]\n"
    "                     [--duplicate-ids POLICY] [--weights-method M] [--min-image-gain G]\n"
    "                     [--by FIELD]... [--position-field FIELD] [--near-dup-distance N]\n"
    "                     [--model MODEL.mma]\n"
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
    "  --model FILE       score with the fold models of `mmaudit train` (trained elsewhere, on a\n"
    "                     sample of the data) instead of training here, as `score --model`:\n"
    "                     folds, seed, features and thresholds come from the model\n"
    "  --quiet            no progress on stderr\n" AUD_INTEGRITY_USAGE "\n"
    "exit: 0 ok, 1 a gate rule failed, 2 bad usage or input, 3 system error\n";

/* the options of aud_command.opts (audit/cli.h), in getopt order */
static const char options[] =
    "out db images=i name=n model=L folds epochs seed threads top no-crossdist:C "
    "quiet features image-embeddings=1 text-embeddings=2 image-ids=3 "
    "text-ids=4 help policy max-shortcut-rate max-text-accuracy max-sfd "
    "max-ood-gap format map missing-images duplicate-ids verdict-map "
    "verdict-field prompt-text answers join allow-image-paths-outside "
    "weights-method=W min-image-gain=G by position-field near-dup-distance";

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

typedef struct audit_cmd {
	const char *name, *emb_file[2], *emb_ids[2]; /* by eng_emb_kind */
	const char *model;                           /* --model FILE, or NULL */
	eng_index_opts io;
	eng_score_opts so;
	rpt_policy policy;
	int crossdist, top;
	eng_wmethod wmethod;
	eng_rec_map *map;
	rpt_integrity_options integ;
} audit_cmd;

static int audit_option(void *self, aud_args *a, int c, const char *arg)
{
	(void)a;
	audit_cmd *ac = self;
	double x;
	switch (c) {
	case 'i':
		ac->io.images = arg;
		return 0;
	case 'n':
		ac->name = arg;
		return 0;
	case 'L':
		ac->model = arg;
		return 0;
	case 'C':
		ac->crossdist = 0;
		return 0;
	case 'W':
		if (eng_wmethod_parse(arg, &ac->wmethod))
			return aud_usage_error(
			    "audit", "--weights-method wants auto, debias, jtt, sfc or none");
		return 0;
	case 'G':
		if (aud_parse_double("audit", "--min-image-gain", arg, 0, 1, &x))
			return AUD_EXIT_USAGE;
		ac->so.min_image_gain = x;
		return 0;
	case '1':
	case '2':
		ac->emb_file[c - '1'] = arg;
		return 0;
	case '3':
	case '4':
		ac->emb_ids[c - '3'] = arg;
		return 0;
	}
	return AUD_NOT_MINE;
}

static int audit_check(void *self, aud_args *a)
{
	audit_cmd *ac = self;
	int nfiles = a->argc - a->optind, rc;
	if (nfiles < 1)
		return aud_usage_error("audit", "give at least one FILE.jsonl");
	if (ac->name && nfiles > 1)
		return aud_usage_error("audit",
		                       "--name works with one file; use NAME=FILE for several");
	if ((rc = aud_gate_policy("audit", &a->gate, a->policy, &ac->policy)) ||
	    (rc = aud_format_finish("audit", &ac->io, ac->map)))
		return rc;
	ac->so.command = aud_command_line;
	ac->so.note = note_stderr;
	return 0;
}

static int audit_run(void *self, aud_args *a)
{
	audit_cmd *ac = self;
	const char *name = ac->name;
	int nfiles = a->argc - a->optind, rc;
	char **files = calloc((size_t)nfiles, sizeof *files),
	     **names = calloc((size_t)nfiles, sizeof *names);
	int e = files && names ? 0 : eng_err_set(&a->err, ENG_ENOMEM, "out of memory");
	for (int i = 0; !e && i < nfiles; i++) {
		char *arg = a->argv[a->optind + i], *eq = strchr(arg, '=');
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
		e = eng_err_set(&a->err, ENG_ENOMEM, "out of memory");
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
			e = eng_err_set(&a->err, ENG_ENOMEM, "out of memory");
	}
	if (!e)
		e = unique_names(files, names, given, nfiles, a->quiet, &a->err);
	free(given);
	rpt_audit_result res = {0};
	eng_modelfile *mf = NULL;
	if (!e && ac->model)
		e = eng_modelfile_read(ac->model, &mf, &a->err);
	ac->so.model = mf;
	if (!e) {
		rpt_audit_opts ao = {
		    .out = a->out,
		    .db = a->db,
		    .files = files,
		    .names = names,
		    .nfiles = nfiles,
		    .index = ac->io,
		    .score = ac->so,
		    .crossdist = ac->crossdist,
		    .emb_file = {ac->emb_file[0], ac->emb_file[1]},
		    .emb_ids = {ac->emb_ids[0], ac->emb_ids[1]},
		    .wmethod = ac->wmethod,
		    .report = {.top_n = ac->top, .policy = ac->policy, .integrity = ac->integ}};
		hook_ctx hc = {&a->ap, a->quiet};
		rpt_audit_hooks hooks = {a->prog, &hc, stage_done, indexed, embedded};
		e = rpt_audit_run(&ao, &hooks, &res, &a->err);
	}
	if (e) {
		rc = aud_fail("audit", &a->err);
	} else {
		rc = AUD_EXIT_OK;
		for (size_t i = 0; !a->quiet && i < res.nids; i++)
			aud_eprintf("mmaudit audit: weights.csv for '%s': method %s%s (%s)\n",
			            res.choice[i].dataset,
			            ac->wmethod == ENG_WM_AUTO ? "auto -> " : "",
			            eng_wmethod_name(res.choice[i].used), res.choice[i].reason);
		if (rpt_policy_count(&ac->policy))
			rc = aud_gate_run("audit", res.ws, &ac->policy);
		aud_eprintf(
		    "mmaudit audit: wrote %s/report.html (%zu bytes), summary.json, samples.csv "
		    "(%lld rows), weights.csv\n",
		    a->out, res.info.html_bytes, (long long)res.info.csv_rows);
	}
	for (int i = 0; names && i < nfiles; i++)
		free(names[i]);
	free(names);
	free(files);
	rpt_audit_result_free(&res);
	eng_modelfile_free(mf);
	return rc;
}

int aud_cmd_audit(int argc, char **argv)
{
	eng_rec_map map = {0};
	const char *by[AUD_MAX_BY];
	audit_cmd ac = {.crossdist = 1,
	                .wmethod = ENG_WM_AUTO,
	                .map = &map,
	                .integ = {.by = by, .near_dup_distance = -1}};
	eng_score_opts_default(&ac.so);
	ac.so.train.seed = 1;
	aud_args a = {.to = {&ac.so.train.seed, &ac.so.threads, &ac.so.train.epochs, &ac.so.folds,
	                     NULL, &ac.so.features, &ac.top},
	              .index = &ac.io,
	              .map = &map,
	              .integrity = &ac.integ,
	              .by = by};
	int rc = aud_command_main(&(const aud_command){"audit", usage_text, NULL, options,
	                                               AUD_F_OUT | AUD_F_ARGS | AUD_F_GATE,
	                                               "--out DIR is required", audit_option, NULL,
	                                               audit_check, audit_run},
	                          &ac, &a, argc, argv);
	eng_rec_map_clear(&map);
	aud_format_free();
	return rc;
}
