/* cli.c - exit codes, error printing, number parsing, the stderr progress display, the dataset
 * list and the command skeleton (aud_command_main: the shared options, the usage checks, the
 * workspace, failure printing). What a command does is in its cmd_*.c. */
#include "audit/cli.h"

#include "outfile.h"
#include "safetext.h"
#include "store_datasets.h"

#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char *aud_command_line = "";

int aud_exit_for(int code)
{
	if (code == 0)
		return AUD_EXIT_OK;
	return code == ENG_EINPUT ? AUD_EXIT_USAGE : AUD_EXIT_SYSTEM;
}

void aud_eputs(const char *s)
{
	char buf[4 * sizeof((eng_err *)0)->msg + 16];
	eng_text_escape(s, (size_t)-1, buf, sizeof buf);
	fputs(buf, stderr);
}

void aud_eprintf(const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	size_t n = strlen(msg);
	int nl = n && msg[n - 1] == '\n';
	if (nl)
		msg[n - 1] = '\0';
	aud_eputs(msg);
	if (nl)
		fputc('\n', stderr);
}

int aud_fail(const char *cmd, const eng_err *err)
{
	fprintf(stderr, "mmaudit %s: ", cmd);
	aud_eputs(err->msg[0] ? err->msg : "failed");
	fputc('\n', stderr);
	return aud_exit_for(err->code ? err->code : ENG_EINTERNAL);
}

int aud_usage_error(const char *cmd, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fprintf(stderr, "mmaudit %s: ", cmd);
	aud_eputs(msg);
	fprintf(stderr, "\nTry 'mmaudit %s --help'.\n", cmd);
	return AUD_EXIT_USAGE;
}

int aud_parse_int(const char *cmd, const char *opt, const char *s, long long lo, long long hi,
                  long long *out)
{
	char *end = NULL;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi) {
		aud_usage_error(cmd, "%s wants a whole number in [%lld, %lld], got '%s'", opt, lo,
		                hi, s);
		return -1;
	}
	*out = v;
	return 0;
}

int aud_parse_double(const char *cmd, const char *opt, const char *s, double lo, double hi,
                     double *out)
{
	char *end = NULL;
	errno = 0;
	double v = strtod(s, &end);
	int decimal = s[strspn(s, "0123456789.eE+-")] == '\0'; /* no hex, inf or nan */
	if (!decimal || errno || end == s || *end || !isfinite(v) || v < lo || v > hi) {
		aud_usage_error(cmd, "%s wants a number in [%g, %g], got '%s'", opt, lo, hi, s);
		return -1;
	}
	*out = v;
	return 0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void progress_cb(void *ctx, const char *stage, uint64_t done, uint64_t total)
{
	aud_progress *ap = ctx;
	if (ap->quiet)
		return;
	double t = now_s();
	int same = strncmp(ap->stage, stage, sizeof ap->stage - 1) == 0;
	int final = total && done >= total;
	double every = ap->tty ? 0.1 : 5.0;
	if (same && !final && t - ap->last < every)
		return;
	if (!same && ap->tty && ap->stage[0])
		fputc('\n', stderr);
	snprintf(ap->stage, sizeof ap->stage, "%s", stage);
	ap->last = t;
	if (ap->tty) {
		if (total) {
			int w = 30, f = (int)(w * (double)done / (double)total);
			fprintf(stderr, "\r%-18s [", stage);
			for (int i = 0; i < w; i++)
				fputc(i < f ? '#' : '.', stderr);
			fprintf(stderr, "] %llu/%llu %5.1fs", (unsigned long long)done,
			        (unsigned long long)total, t - ap->start);
		} else {
			fprintf(stderr, "\r%-18s %llu %5.1fs", stage, (unsigned long long)done,
			        t - ap->start);
		}
	} else if (total) {
		fprintf(stderr, "%s: %llu/%llu (%.0f%%) %.1fs\n", stage, (unsigned long long)done,
		        (unsigned long long)total, 100.0 * (double)done / (double)total,
		        t - ap->start);
	} else {
		fprintf(stderr, "%s: %llu %.1fs\n", stage, (unsigned long long)done, t - ap->start);
	}
	fflush(stderr);
}

void aud_progress_init(aud_progress *ap, int quiet)
{
	memset(ap, 0, sizeof *ap);
	ap->quiet = quiet;
	ap->tty = isatty(2);
	ap->start = now_s();
	ap->last = -1e9;
}

eng_progress aud_progress_hook(aud_progress *ap)
{
	eng_progress p = {progress_cb, ap};
	return p;
}

void aud_progress_done(aud_progress *ap)
{
	if (!ap->quiet && ap->tty && ap->stage[0])
		fputc('\n', stderr);
	ap->stage[0] = '\0';
}

int aud_list_append(char **list, const char *item)
{
	size_t a = *list ? strlen(*list) : 0, b = strlen(item);
	char *s = realloc(*list, a + b + 2);
	if (!s)
		return -1;
	if (a)
		s[a++] = '\n'; /* one --dataset per line: a name may hold commas */
	memcpy(s + a, item, b + 1);
	*list = s;
	return 0;
}

static int push_id(int64_t **v, size_t *n, size_t *cap, int64_t id)
{
	if (*n == *cap) {
		int64_t *nv = realloc(*v, 2 * *cap * sizeof **v);
		if (!nv)
			return -1;
		*v = nv;
		*cap *= 2;
	}
	(*v)[(*n)++] = id;
	return 0;
}

/* The growing id list of every dataset, as push_id grows it (cap > 0). */
typedef struct id_list {
	int64_t *v;
	size_t n, cap;
	eng_err *err;
} id_list;

static int every_id(void *ctx, const eng_dataset_row *row)
{
	id_list *l = ctx;
	if (push_id(&l->v, &l->n, &l->cap, row->id))
		return eng_err_set(l->err, ENG_ENOMEM, "out of memory");
	return 0;
}

/* The ids of every dataset in creation order: *ids malloc'd, *n > 0, or an error. */
static int all_dataset_ids(eng_ws *ws, int64_t **ids, size_t *n, eng_err *err)
{
	id_list l = {malloc(8 * sizeof *l.v), 0, 8, err};
	int rc = l.v ? eng_datasets_each(ws, ENG_DATASETS_NAMES, every_id, &l, err)
	             : eng_err_set(err, ENG_ENOMEM, "out of memory");
	if (!rc && !l.n)
		rc = eng_err_set(err, ENG_EINPUT,
		                 "the workspace has no datasets; run `mmaudit index` first");
	if (rc) {
		free(l.v);
		return rc;
	}
	*ids = l.v;
	*n = l.n;
	return 0;
}

int aud_dataset_ids(eng_ws *ws, const char *spec, int64_t **ids, size_t *n, eng_err *err)
{
	*ids = NULL;
	*n = 0;
	if (!spec || !*spec)
		return all_dataset_ids(ws, ids, n, err);
	size_t cap = 8;
	int64_t *v = malloc(cap * sizeof *v);
	if (!v)
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	char *copy = strdup(spec), *save = NULL;
	if (!copy) {
		free(v);
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	}
	/* each --dataset value: a dataset's exact name (commas and all), else a comma-separated
	 * list in which "\," is a comma of a name */
	for (char *item = strtok_r(copy, "\n", &save); item; item = strtok_r(NULL, "\n", &save)) {
		int64_t id;
		int exact = eng_ws_dataset_id(ws, item, &id, NULL) == 0;
		for (char *p = item; !exact;) {
			char *tok = p, *o = p;
			for (; *p && *p != ','; p++) {
				if (*p == '\\' && p[1] == ',')
					p++;
				*o++ = *p;
			}
			int last = !*p;
			*o = '\0';
			p += !last;
			if (!*tok && last)
				break;
			int rc = eng_ws_dataset_id(ws, tok, &id, err);
			if (rc) {
				const char *orig = spec + (item - copy);
				eng_err_prefix(
				    err,
				    "--dataset '%.*s' (a list; write \\, for a comma of a "
				    "name): ",
				    (int)strcspn(orig, "\n"), orig);
				free(copy);
				free(v);
				return rc;
			}
			int dup = 0;
			for (size_t i = 0; i < *n; i++)
				dup |= v[i] == id;
			if (!dup && push_id(&v, n, &cap, id)) {
				free(copy);
				free(v);
				return eng_err_set(err, ENG_ENOMEM, "out of memory");
			}
			if (last)
				break;
		}
		if (!exact)
			continue;
		int dup = 0;
		for (size_t i = 0; i < *n; i++)
			dup |= v[i] == id;
		if (!dup && push_id(&v, n, &cap, id)) {
			free(copy);
			free(v);
			return eng_err_set(err, ENG_ENOMEM, "out of memory");
		}
	}
	free(copy);
	if (!*n) {
		free(v);
		return eng_err_set(err, ENG_EINPUT, "no dataset named in '%s'", spec);
	}
	*ids = v;
	return 0;
}

int aud_open_datasets(const char *db, const char *spec, eng_ws **ws, int64_t **ids, size_t *n,
                      eng_err *err)
{
	*ids = NULL;
	*n = 0;
	int e = eng_ws_open_existing(db, ws, err);
	if (!e && (e = aud_dataset_ids(*ws, spec, ids, n, err))) {
		eng_ws_close(*ws);
		*ws = NULL;
	}
	return e;
}

/* The shared options, by name; kind says who handles one: here (by id), aud_gate_option,
 * aud_format_option or aud_integrity_option (with the getopt code they know, in id). */
enum { K_HERE, K_GATE, K_FORMAT, K_INTEGRITY };
enum {
	O_DB,
	O_OUT,
	O_DATASET,
	O_JSON,
	O_QUIET,
	O_SEED,
	O_THREADS,
	O_EPOCHS,
	O_FOLDS,
	O_BITS,
	O_FEATURES,
	O_TOP,
	O_HELP
};
static const struct shared {
	const char *name;
	int has_arg, kind, id;
} shared[] = {
    {"db", 1, K_HERE, O_DB},
    {"out", 1, K_HERE, O_OUT},
    {"dataset", 1, K_HERE, O_DATASET},
    {"json", 0, K_HERE, O_JSON},
    {"quiet", 0, K_HERE, O_QUIET},
    {"seed", 1, K_HERE, O_SEED},
    {"threads", 1, K_HERE, O_THREADS},
    {"epochs", 1, K_HERE, O_EPOCHS},
    {"folds", 1, K_HERE, O_FOLDS},
    {"hash-bits", 1, K_HERE, O_BITS},
    {"features", 1, K_HERE, O_FEATURES},
    {"top", 1, K_HERE, O_TOP},
    {"help", 0, K_HERE, O_HELP},
    {"policy", 1, K_GATE, 'P'},
    {"max-shortcut-rate", 1, K_GATE, 'S'},
    {"max-text-accuracy", 1, K_GATE, 'T'},
    {"max-sfd", 1, K_GATE, 'F'},
    {"max-ood-gap", 1, K_GATE, 'O'},
    {"format", 1, K_FORMAT, 'f'},
    {"map", 1, K_FORMAT, 'm'},
    {"missing-images", 1, K_FORMAT, 'M'},
    {"duplicate-ids", 1, K_FORMAT, 'D'},
    {"verdict-map", 1, K_FORMAT, AUD_OPT_VERDICT_MAP},
    {"verdict-field", 1, K_FORMAT, AUD_OPT_VERDICT_FIELD},
    {"prompt-text", 1, K_FORMAT, AUD_OPT_PROMPT_TEXT},
    {"answers", 1, K_FORMAT, AUD_OPT_ANSWERS},
    {"join", 1, K_FORMAT, AUD_OPT_JOIN},
    {"allow-image-paths-outside", 0, K_FORMAT, 'A'},
    {"by", 1, K_INTEGRITY, AUD_OPT_BY},
    {"position-field", 1, K_INTEGRITY, AUD_OPT_POSITION_FIELD},
    {"near-dup-distance", 1, K_INTEGRITY, AUD_OPT_NEAR_DUP},
};
enum { N_SHARED = sizeof shared / sizeof shared[0], SHARED_CODE = 3000, HELP_SHOWN = -2 };

/* A whole-number shared option: its name, range and where the command wants it. */
static int int_option(const char *cmd, const char *opt, const char *arg, long long lo, long long hi,
                      int *dst)
{
	long long v;
	if (aud_parse_int(cmd, opt, arg, lo, hi, &v))
		return AUD_EXIT_USAGE;
	*dst = (int)v;
	return 0;
}

/* A shared option handled here: 0, an exit status or HELP_SHOWN. */
static int here_option(const char *n, aud_args *a, int id, const char *arg)
{
	long long v;
	switch (id) {
	case O_DB:
		a->db = arg;
		return 0;
	case O_OUT:
		a->out = arg;
		return 0;
	case O_DATASET:
		return aud_list_append(&a->datasets, arg) ? AUD_EXIT_USAGE : 0;
	case O_JSON:
		a->json = 1;
		return 0;
	case O_QUIET:
		a->quiet = 1;
		return 0;
	case O_SEED:
		if (aud_parse_int(n, "--seed", arg, 0, INT64_MAX, &v))
			return AUD_EXIT_USAGE;
		*a->to.seed = (uint64_t)v;
		return 0;
	case O_THREADS:
		return int_option(n, "--threads", arg, 1, 64, a->to.threads);
	case O_EPOCHS:
		return int_option(n, "--epochs", arg, 1, 1000, a->to.epochs);
	case O_FOLDS:
		return int_option(n, "--folds", arg, 2, 100, a->to.folds);
	case O_BITS:
		return int_option(n, "--hash-bits", arg, 12, 24, a->to.hash_bits);
	case O_TOP:
		return int_option(n, "--top", arg, 1, 100, a->to.top);
	case O_FEATURES:
		if (eng_features_parse(arg, a->to.features))
			return aud_usage_error(
			    n, "--features must be auto, builtin, embeddings or both");
		return 0;
	}
	return HELP_SHOWN;
}

/* One option: a shared one by its kind, the command's own by cmd->option, anything else to the
 * gate flags (cmd->gate) or refused. Returns 0, an exit status or HELP_SHOWN. */
static int one_option(const aud_command *cmd, void *self, aud_args *a, int c, const char *arg)
{
	const char *n = cmd->name;
	if (c >= SHARED_CODE && c < SHARED_CODE + N_SHARED) {
		const struct shared *o = &shared[c - SHARED_CODE];
		if (o->kind == K_FORMAT)
			return aud_format_option(n, o->id, arg, a->index, a->map);
		if (o->kind == K_INTEGRITY)
			return aud_integrity_option(n, o->id, arg, a->integrity, a->by);
		if (o->kind == K_GATE)
			return aud_gate_option(n, o->id, arg, &a->gate, &a->policy);
		return here_option(n, a, o->id, arg);
	}
	int rc = cmd->option ? cmd->option(self, a, c, arg) : AUD_NOT_MINE;
	if (rc != AUD_NOT_MINE)
		return rc;
	if (cmd->flags & AUD_F_GATE)
		return aud_gate_option(n, c, arg, &a->gate, &a->policy);
	return aud_usage_error(n, "unknown option");
}

static int shared_code(const char *name)
{
	for (int i = 0; i < N_SHARED; i++)
		if (!strcmp(shared[i].name, name))
			return SHARED_CODE + i;
	assert(!"no such shared option");
	return 0;
}

/* The getopt table of a spec (aud_command.opts), in its order; names point into buf. */
static void option_table(const char *spec, char *buf, size_t bufcap, struct option *t, size_t cap)
{
	size_t n = 0, len = strlen(spec);
	assert(len < bufcap);
	memcpy(buf, spec, len + 1);
	for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok;
	     tok = strtok_r(NULL, " ", &save)) {
		assert(n + 1 < cap);
		char *mark = tok + strcspn(tok, "=:>");
		char kind = *mark;
		*mark = '\0';
		if (!kind) { /* a shared option */
			int code = shared_code(tok);
			t[n++] = (struct option){tok, shared[code - SHARED_CODE].has_arg, 0, code};
		} else if (kind == '>') { /* another name of a shared option */
			int code = shared_code(mark + 1);
			t[n++] = (struct option){tok, shared[code - SHARED_CODE].has_arg, 0, code};
		} else {
			t[n++] = (struct option){tok, kind == '=' ? required_argument : no_argument,
			                         0, (unsigned char)mark[1]};
		}
	}
	t[n] = (struct option){0, 0, 0, 0};
}

/* Before the workspace: the usage checks every command makes. Returns 0 to go on. */
static int usage_checks(const aud_command *cmd, void *self, aud_args *a)
{
	if (((cmd->flags & AUD_F_DB) && !a->db) || ((cmd->flags & AUD_F_OUT) && !a->out))
		return aud_usage_error(cmd->name, "%s", cmd->required);
	if (!(cmd->flags & AUD_F_ARGS) && a->optind < a->argc)
		return aud_usage_error(cmd->name, "unexpected argument '%s'", a->argv[a->optind]);
	return cmd->check ? cmd->check(self, a) : 0;
}

static int open_workspace(const aud_command *cmd, aud_args *a)
{
	if (cmd->flags & AUD_F_READONLY)
		return eng_ws_open_readonly(a->db, &a->ws, &a->err);
	if (cmd->flags & AUD_F_DATASETS)
		return aud_open_datasets(a->db, a->datasets, &a->ws, &a->ids, &a->nids, &a->err);
	return 0;
}

int aud_command_main(const aud_command *cmd, void *self, aud_args *a, int argc, char **argv)
{
	struct option table[64];
	char names[1024];
	option_table(cmd->opts, names, sizeof names, table, sizeof table / sizeof table[0]);
	rpt_policy_init(&a->gate);
	int c, rc = 0;
	optind = 1;
	while (!rc && (c = getopt_long(argc, argv, "", table, NULL)) != -1)
		rc = one_option(cmd, self, a, c, optarg);
	a->argc = argc;
	a->optind = optind;
	a->argv = argv;
	if (rc == HELP_SHOWN) {
		if (cmd->help)
			cmd->help(self);
		else
			fputs(cmd->usage, stdout);
		rc = AUD_EXIT_OK;
	} else if (!rc && (!cmd->early || (rc = cmd->early(self, a)) == AUD_NOT_MINE) &&
	           !(rc = usage_checks(cmd, self, a))) {
		aud_progress_init(&a->ap, a->quiet);
		a->prog = aud_progress_hook(&a->ap);
		int e = cmd->flags & AUD_F_OUT_FILE ? eng_out_check(a->out, &a->err) : 0;
		if (!e)
			e = open_workspace(cmd, a);
		if (!e)
			e = cmd->run(self, a);
		rc = e < 0 ? aud_fail(cmd->name, &a->err) : e;
	}
	free(a->datasets);
	free(a->ids);
	eng_ws_close(a->ws);
	return rc;
}
