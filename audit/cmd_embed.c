/* cmd_embed.c - `mmaudit embed`: load the team's own image / text embeddings into a workspace. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/cli.h"
#include "embeddings.h"

static const char usage_text[] =
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

/* the options of aud_command.opts (audit/cli.h), in getopt order */
static const char options[] =
    "db image-embeddings=I text-embeddings=T ids=i image-ids=a text-ids=b "
    "json quiet help";

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

typedef struct embed_cmd {
	const char *file[2], *ids[2]; /* by eng_emb_kind */
	int last;                     /* the kind of the last --*-embeddings, -1 = none yet */
} embed_cmd;

static int embed_option(void *self, aud_args *a, int c, const char *arg)
{
	(void)a;
	embed_cmd *ec = self;
	switch (c) {
	case 'I':
	case 'T':
		ec->last = c == 'I' ? ENG_EMB_IMAGE : ENG_EMB_TEXT;
		ec->file[ec->last] = arg;
		return 0;
	case 'i':
		if (ec->last < 0)
			return aud_usage_error("embed", "--ids FILE goes after "
			                                "--image-embeddings or --text-embeddings");
		ec->ids[ec->last] = arg;
		return 0;
	case 'a':
	case 'b':
		ec->ids[c == 'a' ? ENG_EMB_IMAGE : ENG_EMB_TEXT] = arg;
		return 0;
	}
	return AUD_NOT_MINE;
}

static int embed_check(void *self, aud_args *a)
{
	(void)a;
	embed_cmd *ec = self;
	if (!ec->file[0] && !ec->file[1])
		return aud_usage_error("embed", "give --image-embeddings FILE and/or "
		                                "--text-embeddings FILE");
	for (int k = 0; k < 2; k++)
		if (ec->ids[k] && !ec->file[k])
			return aud_usage_error("embed", "--%s-ids without --%s-embeddings",
			                       eng_emb_kind_name((eng_emb_kind)k),
			                       eng_emb_kind_name((eng_emb_kind)k));
	return 0;
}

static int embed_run(void *self, aud_args *a)
{
	embed_cmd *ec = self;
	int e = eng_ws_open_existing(a->db, &a->ws, &a->err);
	json_t *out = json_array();
	for (int k = 0; k < 2 && !e; k++) {
		if (!ec->file[k])
			continue;
		eng_emb_report r;
		e = eng_emb_load(a->ws, (eng_emb_kind)k, ec->file[k], ec->ids[k], &r, &a->err);
		if (!e && a->json)
			json_array_append_new(out, report_json((eng_emb_kind)k, ec->file[k], &r));
		else if (!e)
			aud_embed_print(stdout, k, ec->file[k], &r);
	}
	if (!e && a->json) {
		char *s = json_dumps(out, JSON_INDENT(2));
		if (s)
			puts(s);
		free(s);
	}
	json_decref(out);
	return e;
}

int aud_cmd_embed(int argc, char **argv)
{
	embed_cmd ec = {{NULL, NULL}, {NULL, NULL}, -1};
	aud_args a = {0};
	return aud_command_main(&(const aud_command){"embed", usage_text, NULL, options, AUD_F_DB,
	                                             "--db PATH is required", embed_option, NULL,
	                                             embed_check, embed_run},
	                        &ec, &a, argc, argv);
}
