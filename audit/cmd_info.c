/* cmd_info.c - `mmaudit info`: datasets with their counts, and the ingest errors. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/cli.h"
#include "workspace.h"

static const char *usage_text =
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

static const char *sql_datasets =
    "SELECT d.name,"
    " (SELECT count(*) FROM pairs p WHERE p.dataset_id = d.id),"
    " (SELECT count(DISTINCT image_id) FROM pairs p WHERE p.dataset_id = d.id AND image_id IS NOT "
    "NULL),"
    " (SELECT count(*) FROM pairs p WHERE p.dataset_id = d.id AND image_id IS NULL),"
    " (SELECT count(*) FROM ingest_errors e WHERE e.dataset_id = d.id),"
    " (SELECT count(*) FROM source_files f WHERE f.dataset_id = d.id),"
    /* duplicates and conflicts as flagged by engine/ingest/dedup.h */
    " (SELECT count(*) - count(DISTINCT p.dup_group) FROM pairs p"
    "  WHERE p.dataset_id = d.id AND p.dup_group IS NOT NULL),"
    " (SELECT count(DISTINCT p.dup_group) FROM pairs p"
    "  WHERE p.dataset_id = d.id AND p.conflict = 1)"
    " FROM datasets d ORDER BY d.id";

/* Members of conflicting duplicate groups (engine/ingest/dedup.h), group by group. */
static const char *sql_conflicts =
    "SELECT d.name, p.dup_group, p.ext_id, f.path, p.line,"
    " substr(p.chosen, 1, 60) FROM pairs p JOIN datasets d ON d.id = p.dataset_id"
    " JOIN source_files f ON f.id = p.file_id WHERE p.conflict = 1"
    " ORDER BY p.dataset_id, 2, p.id";

static const char *sql_errors =
    "SELECT d.name, e.path, e.line, e.code, e.reason FROM ingest_errors e"
    " JOIN datasets d ON d.id = e.dataset_id ORDER BY e.dataset_id, e.file_id, e.line, e.id";

/* Prints PRAGMA integrity_check's rows; returns 0 when it says "ok", 1 when not, <0 on failure. */
static int integrity(eng_ws *ws, eng_err *err)
{
	sqlite3_stmt *st = eng_ws_prepare(ws, "PRAGMA integrity_check", err);
	if (!st)
		return err->code;
	int s, bad = 0;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		const char *row = (const char *)sqlite3_column_text(st, 0);
		bad |= !row || strcmp(row, "ok") != 0;
		puts(row ? row : "(null)");
	}
	sqlite3_finalize(st);
	if (s != SQLITE_DONE)
		return eng_ws_fail(ws, err, "integrity check");
	return bad;
}

/* Conflicting duplicate groups: into root["conflicting_pairs"] (all) or printed (at most max). */
static int list_conflicts(eng_ws *ws, json_t *root, long long max, eng_err *err)
{
	sqlite3_stmt *st = eng_ws_prepare(ws, sql_conflicts, err);
	if (!st)
		return err->code;
	json_t *arr = root ? json_array() : NULL;
	if (root)
		json_object_set_new(root, "conflicting_pairs", arr);
	long long shown = 0, total = 0;
	int s;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		const char *ds = (const char *)sqlite3_column_text(st, 0);
		const char *group = (const char *)sqlite3_column_text(st, 1);
		const char *id = (const char *)sqlite3_column_text(st, 2);
		const char *path = (const char *)sqlite3_column_text(st, 3);
		long long line = sqlite3_column_int64(st, 4);
		const char *chosen = (const char *)sqlite3_column_text(st, 5);
		total++;
		if (arr) {
			json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:I}", "dataset",
			                                     ds, "group", group, "id", id, "file",
			                                     path, "line", (json_int_t)line));
		} else if (shown < max) {
			if (!shown)
				printf("\nconflicting labels (same prompt, image and answers, "
				       "opposite preference):\n");
			printf("  group %s: %s:%lld id %s prefers \"%s...\" (dataset %s)\n", group,
			       path, line, id, chosen, ds);
			shown++;
		}
	}
	sqlite3_finalize(st);
	if (s != SQLITE_DONE)
		return eng_ws_fail(ws, err, "list conflicts");
	if (!arr && total > shown)
		printf("  ... %lld more (use --max-errors or --json)\n", total - shown);
	return 0;
}

int aud_cmd_info(int argc, char **argv)
{
	static const struct option opts[] = {{"db", required_argument, 0, 'd'},
	                                     {"json", no_argument, 0, 'j'},
	                                     {"max-errors", required_argument, 0, 'm'},
	                                     {"check", no_argument, 0, 'c'},
	                                     {"help", no_argument, 0, 'h'},
	                                     {0, 0, 0, 0}};
	const char *db = NULL;
	int json = 0, check = 0, c;
	long long max_errors = 50;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			db = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'm':
			if (aud_parse_int("info", "--max-errors", optarg, 0, 1LL << 40,
			                  &max_errors))
				return AUD_EXIT_USAGE;
			break;
		case 'c':
			check = 1;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return AUD_EXIT_OK;
		default:
			return aud_usage_error("info", "unknown option");
		}
	}
	if (!db)
		return aud_usage_error("info", "--db PATH is required");
	if (optind < argc)
		return aud_usage_error("info", "unexpected argument '%s'", argv[optind]);

	eng_err err = {0};
	eng_ws *ws = NULL;
	sqlite3_stmt *sd = NULL, *se = NULL;
	json_t *root = NULL;
	int rc = eng_ws_open_readonly(db, &ws, &err);
	if (rc)
		return aud_fail("info", &err);
	if (check) {
		rc = integrity(ws, &err);
		eng_ws_close(ws);
		return rc < 0 ? aud_fail("info", &err) : rc ? AUD_EXIT_SYSTEM : AUD_EXIT_OK;
	}
	rc = ENG_EINTERNAL;
	if (!(sd = eng_ws_prepare(ws, sql_datasets, &err)) ||
	    !(se = eng_ws_prepare(ws, sql_errors, &err)))
		goto out;
	json_t *jd = json_array(), *je = json_array();
	root = json_pack("{s:o, s:o}", "datasets", jd, "errors", je);
	if (!json)
		printf("%-24s %10s %8s %12s %7s %6s %6s %9s\n", "dataset", "pairs", "images",
		       "no-image", "errors", "files", "dups", "conflicts");
	int s;
	while ((s = sqlite3_step(sd)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(sd, 0);
		json_array_append_new(
		    jd, json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "name", name, "pairs",
		                  (json_int_t)sqlite3_column_int64(sd, 1), "images",
		                  (json_int_t)sqlite3_column_int64(sd, 2), "pairs_without_image",
		                  (json_int_t)sqlite3_column_int64(sd, 3), "errors",
		                  (json_int_t)sqlite3_column_int64(sd, 4), "files",
		                  (json_int_t)sqlite3_column_int64(sd, 5), "duplicates",
		                  (json_int_t)sqlite3_column_int64(sd, 6), "conflicts",
		                  (json_int_t)sqlite3_column_int64(sd, 7)));
		if (!json)
			printf("%-24s %10lld %8lld %12lld %7lld %6lld %6lld %9lld\n", name,
			       (long long)sqlite3_column_int64(sd, 1),
			       (long long)sqlite3_column_int64(sd, 2),
			       (long long)sqlite3_column_int64(sd, 3),
			       (long long)sqlite3_column_int64(sd, 4),
			       (long long)sqlite3_column_int64(sd, 5),
			       (long long)sqlite3_column_int64(sd, 6),
			       (long long)sqlite3_column_int64(sd, 7));
	}
	if (s != SQLITE_DONE) {
		rc = eng_ws_fail(ws, &err, "list datasets");
		goto out;
	}
	long long shown = 0, total = 0;
	while ((s = sqlite3_step(se)) == SQLITE_ROW) {
		const char *ds = (const char *)sqlite3_column_text(se, 0);
		const char *path = (const char *)sqlite3_column_text(se, 1);
		long long line = sqlite3_column_int64(se, 2);
		const char *code = (const char *)sqlite3_column_text(se, 3);
		const char *reason = (const char *)sqlite3_column_text(se, 4);
		total++;
		if (json)
			json_array_append_new(je,
			                      json_pack("{s:s, s:s, s:I, s:s, s:s}", "dataset", ds,
			                                "file", path, "line", (json_int_t)line,
			                                "code", code, "reason", reason));
		else if (shown < max_errors) {
			if (!shown)
				printf("\ningest errors:\n");
			printf("  %s:%lld: [%s] %s (dataset %s)\n", path, line, code, reason, ds);
			shown++;
		}
	}
	if (s != SQLITE_DONE) {
		rc = eng_ws_fail(ws, &err, "list errors");
		goto out;
	}
	if (!json && total > shown)
		printf("  ... %lld more (use --max-errors or --json)\n", total - shown);
	if ((rc = list_conflicts(ws, json ? root : NULL, max_errors, &err)))
		goto out;
	rc = ENG_EINTERNAL;
	if (json) {
		char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		if (!text) {
			rc = eng_err_set(&err, ENG_ENOMEM, "out of memory");
			goto out;
		}
		puts(text);
		free(text);
	}
	rc = 0;
out:
	json_decref(root);
	sqlite3_finalize(sd);
	sqlite3_finalize(se);
	eng_ws_close(ws);
	return rc ? aud_fail("info", &err) : AUD_EXIT_OK;
}
