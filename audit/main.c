/* main.c - the mmaudit entry point: dispatches to one file per command (cmd_*.c). */
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/cli.h"
#include "trainjobs.h"
#include "mmaudit_config.h"

typedef struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
} command;

static const command commands[] = {
    {"audit", aud_cmd_audit,
     "everything in one command: index, score, crossdist, report, weights, gate"},
    {"info", aud_cmd_info, "datasets, counts and ingest errors of a workspace"},
    {"report", aud_cmd_report, "write summary.json, samples.csv and report.html"},
    {"gate", aud_cmd_gate, "check thresholds on the newest runs; exit 1 when a rule fails"},
    {"score", aud_cmd_score,
     "cross-fit the reward models: held-out shortcut scores for every pair"},
    {"train", aud_cmd_train, "train fold models on a sample and write a model file (scale-out)"},
    {"merge", aud_cmd_merge, "merge shard workspaces scored with one model (scale-out)"},
    {"crossdist", aud_cmd_crossdist,
     "train on each dataset, test on every dataset: generalization gaps"},
    {"weights", aud_cmd_weights, "export per-pair training weights that counter the shortcut"},
    {"synth", aud_cmd_synth, "write a procedural environment with a planted text shortcut"},
    {"index", aud_cmd_index, "ingest preference JSONL files (and their images) into a workspace"},
    {"embed", aud_cmd_embed, "load your own encoder's image / text embeddings into a workspace"},
};

static void usage(FILE *f)
{
	fprintf(f,
	        "mmaudit %s - audit multimodal preference datasets for unimodal (text-only) "
	        "shortcuts\n\n"
	        "usage: mmaudit COMMAND [OPTIONS]   (mmaudit COMMAND --help for its options)\n\n"
	        "commands:\n",
	        MMAUDIT_VERSION);
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f,
	        "\nexit codes: 0 ok, 1 gate failed, 2 bad usage or bad input, 3 internal or system "
	        "error\n");
}

static char *join_args(int argc, char **argv)
{
	size_t n = 1;
	for (int i = 0; i < argc; i++)
		n += strlen(argv[i]) + 1;
	char *s = malloc(n);
	if (!s)
		return NULL;
	s[0] = '\0';
	for (int i = 0; i < argc; i++) {
		if (i)
			strcat(s, " ");
		strcat(s, argv[i]);
	}
	return s;
}

int main(int argc, char **argv)
{
	setlocale(LC_ALL, "C");
	eng_blas_single_thread();
	if (argc < 2) {
		usage(stderr);
		return AUD_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return AUD_EXIT_OK;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("mmaudit %s\n", MMAUDIT_VERSION);
		return AUD_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		if (!strcmp(argv[1], commands[i].name)) {
			char *line = join_args(argc, argv);
			aud_command_line = line ? line : "";
			int rc = commands[i].run(argc - 1, argv + 1);
			free(line);
			return rc;
		}
	}
	aud_eprintf("mmaudit: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return AUD_EXIT_USAGE;
}
