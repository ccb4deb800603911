/* cmd_index.c - `mmaudit index`: ingest JSONL files into a dataset of the workspace. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/cli.h"
#include "engine/images.h"
#include "engine/index.h"
#include "engine/workspace.h"

static const char *usage_text =
    "usage: mmaudit index --db PATH [--name NAME] [--images DIR|ARCHIVE] [--strict]\n"
    "                     [--max-pixels N] [--max-line BYTES] [--quiet] FILE.jsonl...\n\n"
    "Ingests preference records (pairwise or multi-completion JSONL, optionally .gz/.xz/.zst)\n"
    "into the dataset NAME of the workspace. Each file is one transaction; a file whose content\n"
    "was already ingested into the dataset is skipped. Bad records are stored as ingest errors\n"
    "(see `mmaudit info`) and the good ones kept.\n\n"
    "  --db PATH          workspace database (created when absent)\n"
    "  --name NAME        dataset name (default: the first file's name without extension)\n"
    "  --images DIR|ARCH  where relative image paths live: a directory, or a tar/tar.gz/zip\n"
    "                     archive read in place (default: each file's own folder)\n"
    "  --strict           the first bad record fails the file: nothing from it is stored, exit 2\n"
    "  --max-pixels N     refuse images over N pixels before decoding (default 40000000)\n"
    "  --max-line BYTES   longer lines are stored as line-too-long errors (default 16777216)\n"
    "  --quiet            no progress or summary on stderr\n\n"
    "exit: 0 ingested (even with record errors), 2 bad usage, unreadable input or --strict\n"
    "failure, 3 system error\n";

void aud_index_summary(const char *path, const eng_index_result *r)
{
	if (r->skipped) {
		fprintf(stderr,
		        "%s: already ingested into this dataset (sha256 %.12s...), skipped\n", path,
		        r->sha256);
		return;
	}
	fprintf(stderr,
	        "%s: %llu records -> %llu pairs kept, %llu errors; images: %llu new, %llu reused\n",
	        path, (unsigned long long)r->records, (unsigned long long)r->pairs,
	        (unsigned long long)r->errors, (unsigned long long)r->images_new,
	        (unsigned long long)r->images_reused);
	if (!r->errors)
		return;
	fprintf(stderr, "  errors by code:");
	for (int i = 0; i < ENG_REC_NCODES; i++)
		if (r->by_code[i])
			fprintf(stderr, " %s %llu", eng_rec_code_name((eng_rec_code)i),
			        (unsigned long long)r->by_code[i]);
	fputc('\n', stderr);
	for (size_t i = 0; i < r->nfirst; i++)
		fprintf(stderr, "  %s:%llu: [%s] %s\n", path, (unsigned long long)r->first[i].line,
		        eng_rec_code_name(r->first[i].code), r->first[i].reason);
	if (r->errors > r->nfirst)
		fprintf(stderr, "  ... %llu more: mmaudit info --db PATH lists them all\n",
		        (unsigned long long)(r->errors - r->nfirst));
}

int aud_cmd_index(int argc, char **argv)
{
	static const struct option opts[] = {{"db", required_argument, 0, 'd'},
	                                     {"name", required_argument, 0, 'n'},
	                                     {"images", required_argument, 0, 'i'},
	                                     {"strict", no_argument, 0, 's'},
	                                     {"max-pixels", required_argument, 0, 'p'},
	                                     {"max-line", required_argument, 0, 'L'},
	                                     {"quiet", no_argument, 0, 'q'},
	                                     {"help", no_argument, 0, 'h'},
	                                     {0, 0, 0, 0}};
	const char *db = NULL, *name = NULL;
	eng_index_opts o = {0};
	int quiet = 0, c;
	long long maxpx = (long long)ENG_IMAGE_DEFAULT_MAX_PIXELS;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			db = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'i':
			o.images = optarg;
			break;
		case 's':
			o.strict = 1;
			break;
		case 'p':
			if (aud_parse_int("index", "--max-pixels", optarg, 1, 1LL << 40, &maxpx))
				return AUD_EXIT_USAGE;
			break;
		case 'L': {
			long long ml;
			if (aud_parse_int("index", "--max-line", optarg, 1024, 1LL << 30, &ml))
				return AUD_EXIT_USAGE;
			o.max_line = (size_t)ml;
			break;
		}
		case 'q':
			quiet = 1;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return AUD_EXIT_OK;
		default:
			return aud_usage_error("index", "unknown option");
		}
	}
	if (!db)
		return aud_usage_error("index", "--db PATH is required");
	if (optind >= argc)
		return aud_usage_error("index", "give at least one FILE.jsonl");
	if (name && !*name)
		return aud_usage_error("index", "--name must not be empty");
	o.max_pixels = (uint64_t)maxpx;
	for (int i = optind; i < argc; i++) {
		if (access(argv[i], R_OK) != 0) {
			fprintf(stderr, "mmaudit index: cannot read '%s'; check the path\n",
			        argv[i]);
			return AUD_EXIT_USAGE;
		}
	}
	char stem[256];
	if (!name) {
		eng_index_stem(argv[optind], stem, sizeof stem);
		name = stem;
	}

	eng_err err = {0};
	eng_ws *ws = NULL;
	if (eng_ws_open(db, &ws, &err))
		return aud_fail("index", &err);
	aud_progress ap;
	aud_progress_init(&ap, quiet);
	o.progress = aud_progress_hook(&ap);
	int rc = 0;
	uint64_t pairs = 0, errors = 0;
	for (int i = optind; i < argc && !rc; i++) {
		eng_index_result res;
		rc = eng_index_file(ws, name, argv[i], &o, &res, &err);
		aud_progress_done(&ap);
		if (rc)
			break;
		pairs += res.pairs;
		errors += res.errors;
		if (!quiet)
			aud_index_summary(argv[i], &res);
	}
	eng_ws_close(ws);
	if (rc)
		return aud_fail("index", &err);
	if (!quiet && argc - optind > 1)
		fprintf(stderr, "dataset %s: %llu pairs kept, %llu errors from %d files\n", name,
		        (unsigned long long)pairs, (unsigned long long)errors, argc - optind);
	return AUD_EXIT_OK;
}
