/* cmd_merge.c - `mmaudit merge`: shard workspaces scored with one model into one workspace. */
#include <stdio.h>
#include <stdlib.h>

#include "audit/cli.h"
#include "merge.h"

static const char usage_text[] =
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

/* the options of aud_command.opts (audit/cli.h), in getopt order */
static const char options[] = "db quiet help";

static int merge_check(void *self, aud_args *a)
{
	(void)self;
	if (a->optind >= a->argc)
		return aud_usage_error("merge", "give the shard workspaces to merge");
	return 0;
}

static int merge_run(void *self, aud_args *a)
{
	(void)self;
	size_t pairs = 0, n = (size_t)(a->argc - a->optind);
	int e = eng_merge(a->db, (const char *const *)a->argv + a->optind, n, aud_command_line,
	                  &a->prog, &pairs, &a->err);
	aud_progress_done(&a->ap);
	if (!e && !a->quiet)
		aud_eprintf("mmaudit merge: %zu shard(s), %zu scored pairs into %s\n", n, pairs,
		            a->db);
	return e;
}

int aud_cmd_merge(int argc, char **argv)
{
	aud_args a = {0};
	return aud_command_main(
	    &(const aud_command){"merge", usage_text, NULL, options, AUD_F_DB | AUD_F_ARGS,
	                         "--db OUT.db is required", NULL, NULL, merge_check, merge_run},
	    NULL, &a, argc, argv);
}
