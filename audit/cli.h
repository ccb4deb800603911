/* cli.h - what every mmaudit command shares: exit codes, error printing, progress on stderr,
 * small option parsers and the command skeleton (aud_command, at the end). Only audit/ prints and
 * chooses exit codes. */
#ifndef AUD_CLI_H
#define AUD_CLI_H

#include <stdint.h>

#include "err.h"
#include "progress.h"

enum { AUD_EXIT_OK = 0, AUD_EXIT_GATE = 1, AUD_EXIT_USAGE = 2, AUD_EXIT_SYSTEM = 3 };

/* The full command line, recorded in runs for reproducibility. */
extern const char *aud_command_line;

/* Maps an engine code to an exit status (EINPUT -> 2, others -> 3). */
int aud_exit_for(int code);

/* Writes s to stderr escaped (engine/base/safetext.h): bytes from file names and records never
 * reach the terminal as control or escape sequences. aud_eprintf formats, then does the same (a
 * final newline is kept). */
void aud_eputs(const char *s);
void aud_eprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "mmaudit CMD: message" to stderr and returns aud_exit_for(err->code). */
int aud_fail(const char *cmd, const eng_err *err);

/* Prints "mmaudit CMD: <formatted>" and a hint to run --help; returns AUD_EXIT_USAGE. */
int aud_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parses numbers strictly (whole string); on failure prints a usage error and returns -1. */
int aud_parse_int(const char *cmd, const char *opt, const char *s, long long lo, long long hi,
                  long long *out);
int aud_parse_double(const char *cmd, const char *opt, const char *s, double lo, double hi,
                     double *out);

/* Progress on stderr: a bar on a TTY, a plain line every few seconds otherwise; quiet = nothing. */
typedef struct aud_progress {
	int quiet, tty;
	double last, start;
	char stage[64];
} aud_progress;

void aud_progress_init(aud_progress *ap, int quiet);
eng_progress aud_progress_hook(aud_progress *ap);
void aud_progress_done(aud_progress *ap);

/* Commands: argc/argv start at the command name. Each returns an exit status. */
int aud_cmd_index(int argc, char **argv);
int aud_cmd_info(int argc, char **argv);
int aud_cmd_score(int argc, char **argv);
int aud_cmd_weights(int argc, char **argv);
int aud_cmd_crossdist(int argc, char **argv);
int aud_cmd_synth(int argc, char **argv);
int aud_cmd_report(int argc, char **argv);
int aud_cmd_gate(int argc, char **argv);
int aud_cmd_audit(int argc, char **argv);
int aud_cmd_embed(int argc, char **argv);
int aud_cmd_train(int argc, char **argv);
int aud_cmd_merge(int argc, char **argv);
struct eng_modelfile;
/* score --model --stdin (cmd_score_stdin.c) */
int aud_score_stdin(const struct eng_modelfile *mf, const char *images, int threads, eng_err *err);
#include <stddef.h>

#include "workspace.h"

/* Resolves a comma-separated list of dataset names (NULL or "" = every dataset, in creation order)
 * to ids (malloc'd, caller frees). Unknown names are ENG_EINPUT with the known names listed. */
int aud_dataset_ids(eng_ws *ws, const char *spec, int64_t **ids, size_t *n, eng_err *err);

/* Gate flags shared by gate, report and audit: c is the getopt code of --policy (P),
 * --max-shortcut-rate (S), --max-text-accuracy (T), --max-sfd (F), --max-ood-gap (O), --dataset
 * (D), --strict (X). Returns 0 or an exit status (usage error printed). */
#include "reports/rpt_gate.h"
int aud_gate_option(const char *cmd, int c, const char *arg, rpt_policy *flags,
                    const char **policy);
/* Merges the policy file (if any) under the flags into *out. Returns 0 or an exit status. */
int aud_gate_policy(const char *cmd, const rpt_policy *flags, const char *policy, rpt_policy *out);
/* Evaluates policy on the workspace's newest runs, prints one line per rule and a summary on
 * stdout; returns 0 (pass), 1 (a rule failed) or the error's exit status. */
int aud_gate_run(const char *cmd, eng_ws *ws, const rpt_policy *policy);

/* The per-file ingest summary of `mmaudit index` on stderr. */
struct eng_index_result;
void aud_index_summary(const char *db, const char *path, const struct eng_index_result *r);

#include <stdio.h>
/* The load report of an embeddings file (kind: eng_emb_kind) on `to`, as `mmaudit embed` prints it.
 */
struct eng_emb_report;
void aud_embed_print(FILE *to, int kind, const char *file, const struct eng_emb_report *r);
/* --format NAME / --map SPEC / --missing-images POLICY / --duplicate-ids POLICY of index and
 * audit: `which` is 'f', 'm', 'M' or 'D'; fills o->shape, *map (--map replaces only the roles),
 * o->missing_text_only or o->rename_dup_ids. Returns 0 or the usage exit status (message printed).
 */
struct eng_index_opts;
struct eng_rec_map;
int aud_format_option(const char *cmd, int which, const char *arg, struct eng_index_opts *o,
                      struct eng_rec_map *map);
/* Also --verdict-map, --verdict-field, --prompt-text, --answers, --join (getopt codes below, long
 * options shared by aud_command_main). After the options: aud_format_finish loads the --answers
 * files and sets o->map when the map says anything (returns 0 or an exit status, message
 * printed); aud_format_free releases the answers at the end of the command. */
enum {
	AUD_OPT_VERDICT_MAP = 1001,
	AUD_OPT_VERDICT_FIELD,
	AUD_OPT_PROMPT_TEXT,
	AUD_OPT_ANSWERS,
	AUD_OPT_JOIN
};
int aud_format_finish(const char *cmd, struct eng_index_opts *o, struct eng_rec_map *map);
void aud_format_free(void);

/* Opens the existing workspace db and resolves the comma-separated dataset list spec (NULL = all)
 * to ids: the first steps of score, crossdist and weights. On failure *ws is closed and NULL. */
int aud_open_datasets(const char *db, const char *spec, eng_ws **ws, int64_t **ids, size_t *n,
                      eng_err *err);

/* Integrity and slice options of report and audit (long options only): --by FIELD (repeatable,
 * up to AUD_MAX_BY), --position-field FIELD, --near-dup-distance N. by[] holds the --by values
 * (argv strings, borrowed) and o->by points at it. Returns 0 or the usage exit status. */
#include "reports/rpt_integrity.h"
enum { AUD_OPT_BY = 1101, AUD_OPT_POSITION_FIELD, AUD_OPT_NEAR_DUP, AUD_MAX_BY = 16 };
#define AUD_INTEGRITY_USAGE                                                                        \
	"  --by FIELD            slice each dataset by this metadata field (repeatable); "         \
	"without\n"                                                                                \
	"                        it the report proposes the fields that split the shortcut rate\n" \
	"                        most\n"                                                           \
	"  --position-field F    metadata field saying which answer was shown first (1/2, a/b,\n"  \
	"                        first/second, chosen/rejected); judged records keep\n"            \
	"                        chosen_position and need none\n"                                  \
	"  --near-dup-distance N near-duplicate images: perceptual-hash bits that may differ\n"    \
	"                        (0..16, default 8)\n"
int aud_integrity_option(const char *cmd, int c, const char *arg, rpt_integrity_options *o,
                         const char **by);

/* Appends a comma-separated value to a malloc'd list string (for repeated --dataset). */
int aud_list_append(char **list, const char *item);

/* The command skeleton (cli.c). A command is a table entry (aud_command) and a state of its own:
 * aud_command_main parses the options commands share once (the bits of aud_command.common, into
 * aud_args), hands every other option to the command, checks --db/--out and stray arguments,
 * opens the workspace as the command asks, runs it and prints its failure: each message and exit
 * status the same for every command. */
#include "embeddings.h"
/* What aud_command_main hands a command. The command sets the pointers of the numeric options
 * it takes (into its own option structs) before the call; the rest is filled by the call. */
typedef struct aud_args {
	const char *db, *out;
	char *datasets; /* --dataset values, one per line; NULL = all */
	int json, quiet;
	struct { /* where the numeric shared options go: --seed, --threads, --epochs, --folds,
		  * --hash-bits, --features, --top (a command sets those it takes) */
		uint64_t *seed;
		int *threads, *epochs, *folds, *hash_bits;
		eng_features *features;
		int *top;
	} to;
	rpt_policy gate;    /* gate flags (AUD_F_GATE); initialised by aud_command_main */
	const char *policy; /* --policy FILE */
	struct eng_index_opts *index;
	struct eng_rec_map *map;
	rpt_integrity_options *integrity;
	const char **by; /* (AUD_MAX_BY) */
	/* the arguments after the options: argv[optind..argc) */
	int argc, optind;
	char **argv;
	/* for the run: progress on stderr (silent with --quiet), the workspace and its datasets
	 * opened as aud_command.ws says, the error to fill */
	aud_progress ap;
	eng_progress prog;
	eng_ws *ws;
	int64_t *ids;
	size_t nids;
	eng_err err;
} aud_args;

/* aud_command.flags */
enum {
	AUD_F_DB = 1 << 0,  /* --db is required (else the usage error `required`) */
	AUD_F_OUT = 1 << 1, /* --out is required (likewise) */
	AUD_F_OUT_FILE =
	    1 << 2,          /* --out is a file to replace: eng_out_check before the workspace */
	AUD_F_ARGS = 1 << 3, /* takes arguments after the options (else "unexpected argument") */
	AUD_F_GATE = 1 << 4, /* an option neither shared nor own goes to aud_gate_option */
	AUD_F_READONLY = 1 << 5, /* the workspace is opened read-only before run */
	AUD_F_DATASETS = 1 << 6  /* the workspace and the --dataset list are opened before run */
};
/* AUD_NOT_MINE: returned by aud_command.option for an option it does not know */
enum { AUD_NOT_MINE = -1 };

/* A command, written as a row {name, usage, help, opts, flags, required, option, early, check,
 * run}; the hooks may be NULL but run. */
typedef struct aud_command {
	const char *name;         /* "score": messages say "mmaudit score: ..." */
	const char *usage;        /* printed by --help (unless help is set) */
	void (*help)(void *self); /* prints a usage text that holds current defaults */
	/* every option in the order getopt_long knows them (its messages list them so): a shared
	 * one by name (db out dataset json quiet seed threads epochs folds hash-bits features top
	 * help, the gate rules policy max-*, index's format ... allow-image-paths-outside, report's
	 * by position-field near-dup-distance), an own one as name=C (takes a value) or name:C (a
	 * flag), C its getopt code for option(); name>shared is another name of a shared one */
	const char *opts;
	unsigned flags;       /* AUD_F_* */
	const char *required; /* "--db PATH is required" */
	/* an own option: 0, an exit status (message printed) or AUD_NOT_MINE */
	int (*option)(void *self, aud_args *a, int c, const char *arg);
	/* after the options, before the --db/--out checks: AUD_NOT_MINE to go on, else the exit
	 * status (score --stdin runs here) */
	int (*early)(void *self, aud_args *a);
	/* after those checks: 0 to go on or an exit status (message printed) */
	int (*check)(void *self, aud_args *a);
	/* the work: an engine code < 0 with a->err filled (printed by the caller), or an exit
	 * status >= 0 */
	int (*run)(void *self, aud_args *a);
} aud_command;

/* Parses argv (argv[0] = the command name) for cmd and runs it: returns the exit status.
 * a is the command's (numeric option pointers set, the rest zeroed). */
int aud_command_main(const aud_command *cmd, void *self, aud_args *a, int argc, char **argv);
#endif
