/* cmd_index.c - `mmaudit index`: ingest JSONL files into a dataset of the workspace. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/cli.h"
#include "answers.h"
#include "images.h"
#include "index.h"
#include "neardup.h"
#include "parquet.h"
#include "safetext.h"
#include "workspace.h"

static const char usage_text[] =
    "usage: mmaudit index --db PATH [--name NAME] [--images DIR|ARCHIVE] [--strict]\n"
    "                     [--format SHAPE] [--map ROLE=FIELD,...] [--missing-images POLICY]\n"
    "                     [--duplicate-ids POLICY] [--allow-image-paths-outside]\n"
    "                     [--verdict-map VALUE=SIDE,...|@FILE]\n"
    "                     [--verdict-field METRIC] [--prompt-text TEXT]\n"
    "                     [--answers FILE|DIR... --join KEY,MODEL]\n"
    "                     [--max-pixels N] [--max-line BYTES] [--shard I/N] [--quiet]\n"
    "                     FILE.jsonl|FILE.json|BUNDLE.tar.gz|FILE.parquet|SHARDS-FOLDER...\n\n"
    "Ingests preference records into the dataset NAME of the workspace: JSONL (optionally\n"
    ".gz/.bz2/.xz/.zst), a JSON array file, or a .tar/.tar.gz/.zip bundle holding .jsonl/.json\n"
    "members and their images. Shapes: pairwise, multi-completion, HH dialogues, ShareGPT,\n"
    "judged pairs (see --format). Each file is one transaction; a file whose content was\n"
    "already ingested into the dataset with the same options is skipped, with other options\n"
    "(map, shape, missing-images, ...) its pairs are replaced. Bad records are stored as\n"
    "ingest errors (see `mmaudit info`) and the good ones kept.\n\n"
    "  --db PATH          workspace database (created when absent)\n"
    "  --name NAME        dataset name (default: the first file's name without extension)\n"
    "  --images DIR|ARCH  where relative image paths live: a directory, or a tar/tar.gz/zip\n"
    "                     archive read in place (default: each file's own folder)\n"
    "  --format SHAPE     record shape: pairwise, multi, hh, sharegpt, judged (default: detected\n"
    "                     from each file's first record)\n"
    "  --map ROLE=FIELD,...  field names of another layout: chosen=, rejected=, prompt=,\n"
    "                     image=, images= (a list: the first), id=, position= (the chosen\n"
    "                     answer's position, 1/2), and for judged records answer_a=, answer_b=,\n"
    "                     verdict= (dotted paths like meta.question reach into objects)\n"
    "  --verdict-map VALUE=SIDE,...  what verdict values mean (SIDE: a, b, tie, undecided),\n"
    "                     e.g. 'IIW is better=b'; @FILE reads VALUE=SIDE lines (values with ',')\n"
    "  --verdict-field METRIC  per-metric judgements: the verdict is the member METRIC (or\n"
    "                     '.../METRIC') of the verdict object, or of the record\n"
    "  --prompt-text TEXT the prompt of records that have none (e.g. 'Describe the image.')\n"
    "  --answers FILE|DIR answer records (JSONL; a folder: its .jsonl files) that judgement\n"
    "                     records name by --join KEY,MODEL: answer_a = the answer whose KEY and\n"
    "                     MODEL equal the record's KEY and MODEL_a (e.g. question_id,model)\n"
    "  --missing-images reject|text-only  an image file that is absent rejects its record\n"
    "                     (missing-image, the default) or keeps it as a text-only pair\n"
    "  --duplicate-ids reject|rename  an id used earlier in the dataset rejects the pair\n"
    "                     (duplicate-id, the default) or keeps it as ID@L<line> (for sets whose\n"
    "                     id names the question, e.g. several pairs per prompt)\n"
    "  --allow-image-paths-outside  read relative image paths whose '..' segments leave the\n"
    "                     images folder (refused by default, as unsafe-member errors)\n"
    "  --strict           the first bad record fails the file: nothing from it is stored, exit 2\n"
    "  --max-pixels N     refuse images over N pixels before decoding (default 40000000)\n"
    "  --max-line BYTES   longer lines are stored as line-too-long errors (default 16777216)\n"
    "  --shard I/N        keep only the records of shard I of N (0 <= I < N), by a hash of\n"
    "                     each record's image reference, else its prompt, else its line: N\n"
    "                     machines index the same big file, each into its own workspace, then\n"
    "                     `mmaudit merge` joins them (every record is in exactly one shard)\n"
    "  --quiet            no progress or summary on stderr\n\n"
    "exit: 0 ingested (even with record errors), 2 bad usage, unreadable input or --strict\n"
    "failure, 3 system error\n";

/* the options of aud_command.opts (audit/cli.h), in getopt order */
static const char options[] =
    "db name=n images=i strict:s max-pixels=p max-line=L quiet format map "
    "missing-images duplicate-ids verdict-map verdict-field prompt-text "
    "answers join allow-image-paths-outside shard=S help";

void aud_index_summary(const char *db, const char *path, const eng_index_result *r)
{
	if (r->skipped) {
		aud_eprintf("%s: already ingested into this dataset with the same options (sha256 "
		            "%.12s...), skipped\n",
		            path, r->sha256);
		return;
	}
	if (r->replaced)
		aud_eprintf("%s: ingested before with other options (%s): its %llu pairs and their "
		            "errors and scores were replaced by this run's (re-run score)\n",
		            path, r->replaced_options, (unsigned long long)r->replaced_pairs);
	aud_eprintf("%s: %s records: %llu -> %llu pairs kept, %llu errors; images: %llu new, %llu "
	            "reused\n",
	            path, eng_rec_shape_name(r->shape), (unsigned long long)r->records,
	            (unsigned long long)r->pairs, (unsigned long long)r->errors,
	            (unsigned long long)r->images_new, (unsigned long long)r->images_reused);
	if (r->other_shard)
		fprintf(
		    stderr,
		    "  %llu of the %llu records belong to other shards (--shard): left to their "
		    "own runs\n",
		    (unsigned long long)r->other_shard, (unsigned long long)r->records);
	if (r->duplicates || r->conflicts)
		fprintf(stderr,
		        "  dataset now has %llu duplicate pairs (same prompt, image and answers in "
		        "either "
		        "order), %llu groups with conflicting labels (mmaudit info lists them)\n",
		        (unsigned long long)r->duplicates, (unsigned long long)r->conflicts);
	if (r->ids_renamed)
		fprintf(stderr, "  note: %llu pairs reused an id and were kept as ID@L<line>\n",
		        (unsigned long long)r->ids_renamed);
	if (r->images_missing_kept)
		fprintf(
		    stderr,
		    "  warning: %llu pairs reference an image that is absent; kept as text-only "
		    "pairs (--missing-images text-only)\n",
		    (unsigned long long)r->images_missing_kept);
	if (!r->errors)
		return;
	fprintf(stderr, "  errors by code:");
	for (int i = 0; i < ENG_REC_NCODES; i++)
		if (r->by_code[i])
			fprintf(stderr, " %s %llu", eng_rec_code_name((eng_rec_code)i),
			        (unsigned long long)r->by_code[i]);
	fputc('\n', stderr);
	for (size_t i = 0; i < r->nfirst; i++)
		aud_eprintf("  %s:%llu: [%s] %s\n", path, (unsigned long long)r->first[i].line,
		            eng_rec_code_name(r->first[i].code), r->first[i].reason);
	if (r->errors > r->nfirst)
		fprintf(stderr, "  ... %llu more: mmaudit info --db %s lists them all\n",
		        (unsigned long long)(r->errors - r->nfirst), db);
}

/* --answers paths (the command line outlives them) and the loaded answers. */
static const char *answers_paths[64];
static size_t nanswers;
static eng_answers *loaded_answers;

int aud_format_option(const char *cmd, int which, const char *arg, eng_index_opts *o,
                      eng_rec_map *map)
{
	if (which == 'A') {
		o->images_outside = 1;
		return 0;
	}
	if (which == 'D') {
		if (strcmp(arg, "reject") && strcmp(arg, "rename"))
			return aud_usage_error(cmd, "--duplicate-ids takes reject or rename");
		o->rename_dup_ids = !strcmp(arg, "rename");
		return 0;
	}
	if (which == 'M') {
		if (strcmp(arg, "reject") && strcmp(arg, "text-only"))
			return aud_usage_error(cmd, "--missing-images takes reject or text-only");
		o->missing_text_only = !strcmp(arg, "text-only");
		return 0;
	}
	if (which == 'f') {
		if (eng_rec_shape_parse(arg, &o->shape) || o->shape == ENG_SHAPE_AUTO ||
		    o->shape == ENG_SHAPE_MAPPED)
			return aud_usage_error(
			    cmd,
			    "--format '%s' is not one of pairwise, multi, hh, sharegpt, judged",
			    arg);
		return 0;
	}
	char msg[256];
	int rc = 0;
	if (which == AUD_OPT_ANSWERS) {
		if (nanswers == sizeof answers_paths / sizeof answers_paths[0])
			return aud_usage_error(cmd,
			                       "--answers given more than %zu times; give a folder",
			                       sizeof answers_paths / sizeof answers_paths[0]);
		answers_paths[nanswers++] = arg;
		return 0;
	}
	if (which == AUD_OPT_VERDICT_MAP) {
		rc = eng_rec_map_add_verdicts(map, arg, msg, sizeof msg);
	} else if (which == AUD_OPT_PROMPT_TEXT) {
		rc = eng_rec_map_set_text(map, arg, NULL, NULL, msg, sizeof msg);
	} else if (which == AUD_OPT_VERDICT_FIELD) {
		rc = eng_rec_map_set_text(map, NULL, arg, NULL, msg, sizeof msg);
	} else if (which == AUD_OPT_JOIN) {
		rc = eng_rec_map_set_text(map, NULL, NULL, arg, msg, sizeof msg);
	} else { /* --map: the roles, keeping what the other options set */
		eng_rec_map roles;
		if (!(rc = eng_rec_map_parse(arg, &roles, msg, sizeof msg))) {
			char **dst[] = {&map->chosen,   &map->rejected, &map->prompt,
			                &map->image,    &map->id,       &map->answer_a,
			                &map->answer_b, &map->verdict,  &map->position,
			                &map->images};
			char **src[] = {&roles.chosen,   &roles.rejected, &roles.prompt,
			                &roles.image,    &roles.id,       &roles.answer_a,
			                &roles.answer_b, &roles.verdict,  &roles.position,
			                &roles.images};
			for (size_t i = 0; i < sizeof dst / sizeof dst[0]; i++) {
				free(*dst[i]);
				*dst[i] = *src[i];
				*src[i] = NULL;
			}
			eng_rec_map_clear(&roles);
		}
	}
	if (rc == ENG_ENOMEM) {
		eng_err err = {0};
		eng_err_set(&err, rc, "out of memory");
		return aud_fail(cmd, &err);
	}
	if (rc)
		return aud_usage_error(cmd, "%s", msg);
	o->map = map;
	return 0;
}

static void aud_free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int index_files(const char *db, const char *name, char **argv, size_t argc,
                       eng_index_opts *opts, int quiet);

int aud_format_finish(const char *cmd, eng_index_opts *o, eng_rec_map *map)
{
	if (nanswers && !map->join_key)
		return aud_usage_error(cmd,
		                       "--answers needs --join KEY,MODEL (e.g. question_id,model)");
	if (map->join_key && !nanswers)
		return aud_usage_error(cmd,
		                       "--join needs --answers FILE|DIR with the answer records");
	if (nanswers) {
		eng_err err = {0};
		if (eng_answers_load(answers_paths, nanswers, map->join_key, map->join_model,
		                     &loaded_answers, &err))
			return aud_fail(cmd, &err);
		map->answers = loaded_answers;
	}
	o->map = eng_rec_map_used(map) ? map : NULL;
	return 0;
}

void aud_format_free(void)
{
	eng_answers_free(loaded_answers);
	loaded_answers = NULL;
	nanswers = 0;
}

typedef struct index_cmd {
	eng_index_opts o;
	const char *name;
	long long maxpx;
	eng_rec_map *map;
} index_cmd;

static int index_option(void *self, aud_args *a, int c, const char *arg)
{
	(void)a;
	index_cmd *ic = self;
	long long ml;
	switch (c) {
	case 'n':
		ic->name = arg;
		return 0;
	case 'i':
		ic->o.images = arg;
		return 0;
	case 's':
		ic->o.strict = 1;
		return 0;
	case 'p':
		return aud_parse_int("index", "--max-pixels", arg, 1, 1LL << 40, &ic->maxpx)
		           ? AUD_EXIT_USAGE
		           : 0;
	case 'S': {
		eng_err err = {0};
		if (eng_shard_parse(arg, &ic->o.shard, &err))
			return aud_usage_error("index", "%s", err.msg);
		return 0;
	}
	case 'L':
		if (aud_parse_int("index", "--max-line", arg, 1024, 1LL << 30, &ml))
			return AUD_EXIT_USAGE;
		ic->o.max_line = (size_t)ml;
		return 0;
	}
	return AUD_NOT_MINE;
}

static int index_check(void *self, aud_args *a)
{
	index_cmd *ic = self;
	if (a->optind >= a->argc)
		return aud_usage_error("index", "give at least one FILE.jsonl or FILE.parquet");
	if (ic->name && !*ic->name)
		return aud_usage_error("index", "--name must not be empty");
	ic->o.max_pixels = (uint64_t)ic->maxpx;
	return aud_format_finish("index", &ic->o, ic->map);
}

static int index_run(void *self, aud_args *a)
{
	index_cmd *ic = self;
	const char *name = ic->name;
	char stem[256], clean[1024];
	if (name) { /* names are valid printable UTF-8 (engine/base/safetext.h) */
		eng_text_escape(name, (size_t)-1, clean, sizeof clean);
		name = clean;
	}
	if (!name) { /* the first file's stem, or the folder's name */
		char first[4096];
		snprintf(first, sizeof first, "%s", a->argv[a->optind]);
		for (size_t l = strlen(first); l > 1 && first[l - 1] == '/'; l--)
			first[l - 1] = '\0';
		eng_index_stem(first, stem, sizeof stem);
		name = stem;
	}
	/* a folder stands for the .parquet shards in it, in name order */
	char **files = NULL;
	size_t nfiles = 0, fcap = 0;
	for (int i = a->optind; i < a->argc; i++) {
		struct stat sb;
		char **sh = NULL;
		size_t nsh = 0;
		eng_err derr = {0};
		if (stat(a->argv[i], &sb) == 0 && S_ISDIR(sb.st_mode)) {
			if (eng_pq_list_dir(a->argv[i], &sh, &nsh, &derr)) {
				aud_free_list(files, nfiles);
				return aud_fail("index", &derr);
			}
		} else if (!(sh = malloc(sizeof *sh)) || !(sh[0] = strdup(a->argv[i]))) {
			free(sh);
			aud_free_list(files, nfiles);
			return aud_fail("index", &(eng_err){ENG_ENOMEM, "out of memory"});
		} else {
			nsh = 1;
		}
		if (nfiles + nsh > fcap) {
			size_t nc = (nfiles + nsh) * 2;
			char **nf = realloc(files, nc * sizeof *nf);
			if (!nf) {
				aud_free_list(sh, nsh);
				aud_free_list(files, nfiles);
				return aud_fail("index", &(eng_err){ENG_ENOMEM, "out of memory"});
			}
			files = nf;
			fcap = nc;
		}
		memcpy(files + nfiles, sh, nsh * sizeof *sh);
		nfiles += nsh;
		free(sh);
	}
	int rc = index_files(a->db, name, files, nfiles, &ic->o, a->quiet);
	aud_free_list(files, nfiles);
	return rc;
}

static int index_files(const char *db, const char *name, char **argv, size_t argc,
                       eng_index_opts *opts, int quiet)
{
	eng_index_opts o = *opts;
	size_t optind = 0;
	int rc;
	for (size_t i = optind; i < argc; i++) {
		if (access(argv[i], R_OK) != 0) {
			aud_eprintf("mmaudit index: cannot read '%s'; check the path\n", argv[i]);
			return AUD_EXIT_USAGE;
		}
	}
	eng_err err = {0};
	eng_ws *ws = NULL;
	if (eng_ws_open(db, &ws, &err))
		return aud_fail("index", &err);
	aud_progress ap;
	aud_progress_init(&ap, quiet);
	o.progress = aud_progress_hook(&ap);
	rc = 0;
	uint64_t pairs = 0, errors = 0;
	for (size_t i = optind; i < argc && !rc; i++) {
		eng_index_result res;
		rc = eng_index_file(ws, name, argv[i], &o, &res, &err);
		aud_progress_done(&ap);
		if (rc)
			break;
		pairs += res.pairs;
		errors += res.errors;
		if (!quiet)
			aud_index_summary(db, argv[i], &res);
	}
	if (!rc) /* perceptual hashes of the new thumbnails, for near-duplicate images */
		rc = eng_neardup_fill(ws, NULL, &err);
	eng_ws_close(ws);
	if (rc)
		return aud_fail("index", &err);
	if (!quiet && argc - optind > 1)
		aud_eprintf("dataset %s: %llu pairs kept, %llu errors from %zu files\n", name,
		            (unsigned long long)pairs, (unsigned long long)errors, argc - optind);
	return AUD_EXIT_OK;
}

int aud_cmd_index(int argc, char **argv)
{
	eng_rec_map map = {0};
	index_cmd ic = {.maxpx = (long long)ENG_IMAGE_DEFAULT_MAX_PIXELS, .map = &map};
	aud_args a = {.index = &ic.o, .map = &map};
	int rc =
	    aud_command_main(&(const aud_command){"index", usage_text, NULL, options,
	                                          AUD_F_DB | AUD_F_ARGS, "--db PATH is required",
	                                          index_option, NULL, index_check, index_run},
	                     &ic, &a, argc, argv);
	eng_rec_map_clear(&map);
	aud_format_free();
	return rc;
}
