/* cmd_merge.c - `mmaudit merge`: shard workspaces scored with one model into one workspace. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "audit/cli.h"
#include "merge.h"

static const char *usage_text =
    "usage: mmaudit merge --db OUT.db SHARD.db...\n\n"
    "Merges shard workspaces, each indexed from a shard of the data and scored with the same\n"
    "`mmaudit score --model MODEL.mma`, into OUT.db: datasets (joined by name), source files,\n"
    "images, pairs, ingest errors and the pair scores, with the dataset metrics restated from\n"
    "the merged scores, so `report`, `gate` and `weights` work on OUT.db as on any workspace.\n"
    "Refuses shards scored with different models and pairs present twice. OUT.db is replaced\n"
    "whole or not at all (an existing OUT.db is merged into); no other process may use it.\n\n"
    "  --db OUT.db   the merged workspace (created when missing)\n"
    "  --quiet       no progress, no summary line\n\n"
    "exit: 0 ok, 2 bad usage or input, 3 system error\n";

int aud_cmd_merge(int argc, char **argv)
{
	static const struct option opts[] = {{"db", required_argument, 0, 'd'},
	                                     {"quiet", no_argument, 0, 'q'},
	                                     {"help", no_argument, 0, 'h'},
	                                     {0, 0, 0, 0}};
	const char *db = NULL;
	int quiet = 0, c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			db = optarg;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return AUD_EXIT_OK;
		default:
			return aud_usage_error("merge", "unknown option");
		}
	}
	if (!db)
		return aud_usage_error("merge", "--db OUT.db is required");
	if (optind >= argc)
		return aud_usage_error("merge", "give the shard workspaces to merge");
	eng_err err = {0};
	size_t pairs = 0;
	aud_progress ap;
	aud_progress_init(&ap, quiet);
	eng_progress prog = aud_progress_hook(&ap);
	int e = eng_merge(db, (const char *const *)argv + optind, (size_t)(argc - optind),
	                  aud_command_line, &prog, &pairs, &err);
	aud_progress_done(&ap);
	if (e)
		return aud_fail("merge", &err);
	if (!quiet)
		aud_eprintf("mmaudit merge: %d shard(s), %zu scored pairs into %s\n", argc - optind,
		            pairs, db);
	return AUD_EXIT_OK;
}
