/* cmd_info.c - `mmaudit info`: datasets with their counts, and the ingest errors. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/cli.h"
#include "store_datasets.h"
#include "store_info.h"

static const char usage_text[] =
    "usage: mmaudit info --db PATH [--json] [--max-errors N]\n\n"
    "Lists the workspace's datasets (pairs, distinct images, pairs without an image, ingest\n"
    "errors, duplicate pairs, groups with conflicting labels), the ingest errors with file:line\n"
    "and reason, and the pairs whose duplicates carry the opposite label.\n\n"
    "  --db PATH        workspace database (required)\n"
    "  --json           print {\"datasets\": [...], \"errors\": [...], \"conflicting_pairs\": "
    "[...]}\n"
    "  --max-errors N   list at most N errors in the text output (default 50; --json lists all)\n"
    "  --check          only run SQLite's integrity check: prints \"ok\" (exit 0) or the problems\n"
    "                   (exit 3)\n";

/* the options of aud_command.opts (audit/cli.h), in getopt order */
static const char options[] = "db json max-errors=m check:c help";

static int check_row(void *ctx, const char *row)
{
	int *bad = ctx;
	*bad |= !row || strcmp(row, "ok") != 0;
	puts(row ? row : "(null)");
	return 0;
}

/* Prints PRAGMA integrity_check's rows; returns 0 when it says "ok", 1 when not, <0 on failure. */
static int integrity(eng_ws *ws, eng_err *err)
{
	int bad = 0, rc = eng_info_check_each(ws, check_row, &bad, err);
	return rc ? rc : bad;
}

/* What a row callback needs: the JSON array, whether the output is JSON (else text, at most max
 * rows shown), the counts. */
typedef struct listing {
	json_t *arr;
	int json;
	long long max, shown, total;
} listing;

static int conflict_row(void *ctx, const eng_info_conflict *c)
{
	listing *l = ctx;
	l->total++;
	if (l->arr) {
		json_array_append_new(l->arr,
		                      json_pack("{s:s, s:s, s:s, s:s, s:I}", "dataset", c->dataset,
		                                "group", c->group, "id", c->id, "file", c->path,
		                                "line", (json_int_t)c->line));
	} else if (l->shown < l->max) {
		if (!l->shown)
			printf("\nconflicting labels (same prompt, image and answers, "
			       "opposite preference):\n");
		printf("  group %s: %s:%lld id %s prefers \"%s...\" (dataset %s)\n", c->group,
		       c->path, (long long)c->line, c->id, c->chosen, c->dataset);
		l->shown++;
	}
	return 0;
}

/* Conflicting duplicate groups: into root["conflicting_pairs"] (all) or printed (at most max). */
static int list_conflicts(eng_ws *ws, json_t *root, long long max, eng_err *err)
{
	listing l = {root ? json_array() : NULL, root != NULL, max, 0, 0};
	if (root)
		json_object_set_new(root, "conflicting_pairs", l.arr);
	int rc = eng_info_conflicts_each(ws, conflict_row, &l, err);
	if (rc)
		return rc;
	if (!l.arr && l.total > l.shown)
		printf("  ... %lld more (use --max-errors or --json)\n", l.total - l.shown);
	return 0;
}

static int dataset_row(void *ctx, const eng_dataset_row *d)
{
	listing *l = ctx;
	json_array_append_new(
	    l->arr, json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "name", d->name, "pairs",
	                      (json_int_t)d->pairs, "images", (json_int_t)d->images,
	                      "pairs_without_image", (json_int_t)d->pairs_without_image, "errors",
	                      (json_int_t)d->errors, "files", (json_int_t)d->files, "duplicates",
	                      (json_int_t)d->duplicates, "conflicts", (json_int_t)d->conflicts));
	if (!l->json)
		printf("%-24s %10lld %8lld %12lld %7lld %6lld %6lld %9lld\n", d->name,
		       (long long)d->pairs, (long long)d->images, (long long)d->pairs_without_image,
		       (long long)d->errors, (long long)d->files, (long long)d->duplicates,
		       (long long)d->conflicts);
	return 0;
}

static int error_row(void *ctx, const eng_info_error *e)
{
	listing *l = ctx;
	l->total++;
	if (l->json)
		json_array_append_new(l->arr,
		                      json_pack("{s:s, s:s, s:I, s:s, s:s}", "dataset", e->dataset,
		                                "file", e->path, "line", (json_int_t)e->line,
		                                "code", e->code, "reason", e->reason));
	else if (l->shown < l->max) {
		if (!l->shown)
			printf("\ningest errors:\n");
		printf("  %s:%lld: [%s] %s (dataset %s)\n", e->path, (long long)e->line, e->code,
		       e->reason, e->dataset);
		l->shown++;
	}
	return 0;
}

typedef struct info_cmd {
	long long max_errors;
	int check;
} info_cmd;

static int info_option(void *self, aud_args *a, int c, const char *arg)
{
	(void)a;
	info_cmd *ic = self;
	if (c == 'm')
		return aud_parse_int("info", "--max-errors", arg, 0, 1LL << 40, &ic->max_errors)
		           ? AUD_EXIT_USAGE
		           : 0;
	if (c != 'c')
		return AUD_NOT_MINE;
	ic->check = 1;
	return 0;
}

static int info_run(void *self, aud_args *a)
{
	info_cmd *ic = self;
	if (ic->check) {
		int rc = integrity(a->ws, &a->err);
		return rc < 0 ? rc : rc ? AUD_EXIT_SYSTEM : AUD_EXIT_OK;
	}
	int rc;
	json_t *root = NULL;
	json_t *jd = json_array(), *je = json_array();
	root = json_pack("{s:o, s:o}", "datasets", jd, "errors", je);
	if (!a->json)
		printf("%-24s %10s %8s %12s %7s %6s %6s %9s\n", "dataset", "pairs", "images",
		       "no-image", "errors", "files", "dups", "conflicts");
	listing ld = {jd, a->json, 0, 0, 0}, le = {je, a->json, ic->max_errors, 0, 0};
	if ((rc = eng_datasets_each(a->ws, ENG_DATASETS_COUNTS, dataset_row, &ld, &a->err)) ||
	    (rc = eng_info_errors_each(a->ws, error_row, &le, &a->err)))
		goto out;
	if (!a->json && le.total > le.shown)
		printf("  ... %lld more (use --max-errors or --json)\n", le.total - le.shown);
	if ((rc = list_conflicts(a->ws, a->json ? root : NULL, ic->max_errors, &a->err)))
		goto out;
	rc = ENG_EINTERNAL;
	if (a->json) {
		char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		if (!text) {
			rc = eng_err_set(&a->err, ENG_ENOMEM, "out of memory");
			goto out;
		}
		puts(text);
		free(text);
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

int aud_cmd_info(int argc, char **argv)
{
	info_cmd ic = {50, 0};
	aud_args a = {0};
	return aud_command_main(
	    &(const aud_command){"info", usage_text, NULL, options, AUD_F_DB | AUD_F_READONLY,
	                         "--db PATH is required", info_option, NULL, NULL, info_run},
	    &ic, &a, argc, argv);
}
