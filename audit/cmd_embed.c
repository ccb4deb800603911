/* cmd_embed.c - `mmaudit embed`: load the team's own image / text embeddings into a workspace. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/cli.h"
#include "embeddings.h"

static const char *usage_text =
    "usage: mmaudit embed --db PATH [--image-embeddings FILE [--ids FILE]]\n"
    "                     [--text-embeddings FILE [--ids FILE]] [--json]\n\n"
    "Loads external embeddings (the encoder you train with) into the workspace; score, crossdist\n"
    "and audit then use them (--features). A new set of a kind replaces the old one, "
    "atomically.\n\n"
    "  --db PATH                 workspace with indexed datasets (required)\n"
    "  --image-embeddings FILE   image vectors: FILE.npy (float32 '<f4', C order, shape\n"
    "                            (rows, dim)) with --ids, or JSONL {\"key\": K, \"embedding\": "
    "[...]}\n"
    "                            K = the image path as written in the records, or the image's\n"
    "                            SHA-256 content hash (64 hex digits)\n"
    "  --text-embeddings FILE    response vectors, same formats; K = SHA-256 hex of the response\n"
    "                            text (UTF-8), or the text itself; in JSONL, {\"text\": T, ...} "
    "is\n"
    "                            always hashed\n"
    "  --ids FILE                one key per line for the .npy given just before it\n"
    "                            (also --image-ids / --text-ids)\n"
    "  --json                    print the load report as JSON on stdout\n\n"
    "Reports keys that match nothing and pairs lacking a vector (counts + first few).\n"
    "exit: 0 ok, 2 bad usage or input (that set is not stored), 3 system error\n";

static json_t *report_json(eng_emb_kind kind, const char *file, const eng_emb_report *r)
{
	json_t *um = json_array(), *mi = json_array();
	for (size_t i = 0; i < r->nfirst_unmatched; i++)
		json_array_append_new(um, json_string(r->first_unmatched[i]));
	for (size_t i = 0; i < r->nfirst_missing; i++)
		json_array_append_new(mi, json_string(r->first_missing[i]));
	return json_pack(
	    "{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o}", "kind",
	    eng_emb_kind_name(kind), "file", file, "rows", (json_int_t)r->rows, "dim",
	    (json_int_t)r->dim, "stored", (json_int_t)r->stored, "duplicates",
	    (json_int_t)r->duplicates, "unmatched_keys", (json_int_t)r->unmatched,
	    "unresolved_paths", (json_int_t)r->unresolved, "ambiguous_paths",
	    (json_int_t)r->ambiguous, "targets", (json_int_t)r->targets, "targets_missing",
	    (json_int_t)r->targets_missing, "pairs", (json_int_t)r->pairs, "pairs_missing",
	    (json_int_t)r->pairs_missing, "first_unmatched", um, "first_pairs_missing", mi);
}

void aud_embed_print(FILE *to, int kind, const char *file, const struct eng_emb_report *r)
{
	const char *what = kind == ENG_EMB_IMAGE ? "images" : "responses";
	fprintf(to, "%s embeddings from %s: %zu rows x %zu, %zu stored", eng_emb_kind_name(kind),
	        file, r->rows, r->dim, r->stored);
	if (r->duplicates)
		fprintf(to, ", %zu repeated keys ignored", r->duplicates);
	fprintf(to, "\n");
	size_t nomatch = r->unmatched + r->unresolved + r->ambiguous;
	if (nomatch) {
		fprintf(to, "  keys matching nothing: %zu", nomatch);
		if (r->unresolved || r->ambiguous)
			fprintf(
			    to,
			    " (%zu paths naming no indexed image, %zu naming several: use content "
			    "hashes)",
			    r->unresolved, r->ambiguous);
		fprintf(to, "; first:");
		for (size_t i = 0; i < r->nfirst_unmatched; i++)
			fprintf(to, " %s", r->first_unmatched[i]);
		fprintf(to, "\n");
	}
	fprintf(to, "  %s with a vector: %zu of %zu\n", what, r->targets - r->targets_missing,
	        r->targets);
	if (r->pairs_missing) {
		fprintf(to, "  pairs lacking a vector: %zu of %zu (%s); first:", r->pairs_missing,
		        r->pairs,
		        kind == ENG_EMB_IMAGE ? "given the mean image vector"
		                              : "their text-embedding difference is zero");
		for (size_t i = 0; i < r->nfirst_missing; i++)
			fprintf(to, " %s", r->first_missing[i]);
		fprintf(to, "\n");
	} else {
		fprintf(to, "  every pair has its vectors (%zu pairs)\n", r->pairs);
	}
}

int aud_embed_load(eng_ws *ws, int kind, const char *file, const char *ids, FILE *to, eng_err *err)
{
	eng_emb_table t;
	eng_emb_report r;
	char source[8192];
	snprintf(source, sizeof source, "%s%s%s", file, ids ? " + " : "", ids ? ids : "");
	int e = eng_emb_read(file, ids, &t, err);
	if (!e)
		e = eng_emb_store(ws, (eng_emb_kind)kind, &t, source, &r, err);
	eng_emb_table_free(&t);
	if (!e && to)
		aud_embed_print(to, kind, file, &r);
	return e;
}

int aud_cmd_embed(int argc, char **argv)
{
	static const struct option opts[] = {{"db", required_argument, 0, 'd'},
	                                     {"image-embeddings", required_argument, 0, 'I'},
	                                     {"text-embeddings", required_argument, 0, 'T'},
	                                     {"ids", required_argument, 0, 'i'},
	                                     {"image-ids", required_argument, 0, 'a'},
	                                     {"text-ids", required_argument, 0, 'b'},
	                                     {"json", no_argument, 0, 'j'},
	                                     {"quiet", no_argument, 0, 'q'},
	                                     {"help", no_argument, 0, 'h'},
	                                     {0, 0, 0, 0}};
	const char *db = NULL, *file[2] = {NULL, NULL}, *ids[2] = {NULL, NULL};
	int json = 0, c, last = -1;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			db = optarg;
			break;
		case 'I':
			file[ENG_EMB_IMAGE] = optarg;
			last = ENG_EMB_IMAGE;
			break;
		case 'T':
			file[ENG_EMB_TEXT] = optarg;
			last = ENG_EMB_TEXT;
			break;
		case 'i':
			if (last < 0)
				return aud_usage_error("embed",
				                       "--ids FILE goes after "
				                       "--image-embeddings or --text-embeddings");
			ids[last] = optarg;
			break;
		case 'a':
			ids[ENG_EMB_IMAGE] = optarg;
			break;
		case 'b':
			ids[ENG_EMB_TEXT] = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'q':
			break;
		case 'h':
			fputs(usage_text, stdout);
			return AUD_EXIT_OK;
		default:
			return aud_usage_error("embed", "unknown option");
		}
	}
	if (!db)
		return aud_usage_error("embed", "--db PATH is required");
	if (optind < argc)
		return aud_usage_error("embed", "unexpected argument '%s'", argv[optind]);
	if (!file[0] && !file[1])
		return aud_usage_error("embed", "give --image-embeddings FILE and/or "
		                                "--text-embeddings FILE");
	for (int k = 0; k < 2; k++)
		if (ids[k] && !file[k])
			return aud_usage_error("embed", "--%s-ids without --%s-embeddings",
			                       eng_emb_kind_name((eng_emb_kind)k),
			                       eng_emb_kind_name((eng_emb_kind)k));
	eng_err err = {0};
	eng_ws *ws = NULL;
	int e = eng_ws_open_existing(db, &ws, &err);
	json_t *out = json_array();
	for (int k = 0; k < 2 && !e; k++) {
		if (!file[k])
			continue;
		if (!json) {
			e = aud_embed_load(ws, k, file[k], ids[k], stdout, &err);
			continue;
		}
		eng_emb_table t;
		eng_emb_report r;
		char source[8192];
		snprintf(source, sizeof source, "%s%s%s", file[k], ids[k] ? " + " : "",
		         ids[k] ? ids[k] : "");
		e = eng_emb_read(file[k], ids[k], &t, &err);
		if (!e)
			e = eng_emb_store(ws, (eng_emb_kind)k, &t, source, &r, &err);
		eng_emb_table_free(&t);
		if (!e)
			json_array_append_new(out, report_json((eng_emb_kind)k, file[k], &r));
	}
	if (!e && json) {
		char *s = json_dumps(out, JSON_INDENT(2));
		if (s)
			puts(s);
		free(s);
	}
	json_decref(out);
	eng_ws_close(ws);
	return e ? aud_fail("embed", &err) : AUD_EXIT_OK;
}
