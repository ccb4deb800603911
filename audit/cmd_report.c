/* cmd_report.c - `mmaudit report`: writes summary.json, samples.csv and report.html for the
 * workspace's newest score/crossdist runs into a directory. The verdict uses the same gate
 * evaluation as `mmaudit gate`; report itself exits 0 whatever the verdict. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "audit/cli.h"
#include "reports/rpt_report.h"

static const char usage_text[] =
    "usage: mmaudit report --db PATH --out DIR [--top N] [--policy FILE]\n"
    "                      [--max-shortcut-rate X] [--max-text-accuracy X] [--max-sfd X]\n"
    "                      [--max-ood-gap X] [--dataset NAME] [--strict] [--quiet]\n"
    "                      [--by FIELD]... [--position-field FIELD] [--near-dup-distance N]\n\n"
    "Writes into DIR (created if missing; each file replaced atomically):\n"
    "  summary.json  every figure per dataset with definitions, crossdist matrices, top features,\n"
    "                gate results, run metadata\n"
    "  samples.csv   one row per scored pair, ranked by shortcut score within each dataset\n"
    "  report.html   one self-contained page: verdict, gates, integrity, metrics, charts,\n"
    "                slices, examples\n"
    "  near_duplicates.csv  near-duplicate image pairs within and across datasets\n\n"
    "  --db PATH     workspace database (required)\n"
    "  --out DIR     output directory (required)\n"
    "  --top N       example cards per list in report.html (1..100, default 25)\n"
    "  --quiet       no progress on stderr\n" AUD_INTEGRITY_USAGE
    "  gate options as in `mmaudit gate --help`: they set the report's verdict and Gates table.\n";

/* the options of aud_command.opts (audit/cli.h), in getopt order */
static const char options[] = "db out top quiet policy max-shortcut-rate max-text-accuracy max-sfd "
                              "max-ood-gap dataset=D strict:X help by position-field "
                              "near-dup-distance";

int aud_integrity_option(const char *cmd, int c, const char *arg, rpt_integrity_options *o,
                         const char **by)
{
	long long v;
	switch (c) {
	case AUD_OPT_BY:
		if (!*arg || strchr(arg, '"'))
			return aud_usage_error(cmd, "--by wants a metadata field name (no '\"')");
		if (o->n_by == AUD_MAX_BY)
			return aud_usage_error(cmd, "--by given more than %d times", AUD_MAX_BY);
		by[o->n_by++] = arg;
		o->by = by;
		return 0;
	case AUD_OPT_POSITION_FIELD:
		if (!*arg || strchr(arg, '"'))
			return aud_usage_error(
			    cmd, "--position-field wants a metadata field name (no '\"')");
		o->position_field = arg;
		return 0;
	case AUD_OPT_NEAR_DUP:
		if (aud_parse_int(cmd, "--near-dup-distance", arg, 0, ENG_NEARDUP_MAX_DISTANCE, &v))
			return AUD_EXIT_USAGE;
		o->near_dup_distance = (int)v;
		return 0;
	default:
		return aud_usage_error(cmd, "unknown option");
	}
}

static int report_check(void *self, aud_args *a)
{
	return aud_gate_policy("report", &a->gate, a->policy, &((rpt_options *)self)->policy);
}

static int report_run(void *self, aud_args *a)
{
	rpt_options *o = self;
	rpt_report_info info;
	int rc = rpt_report_write(a->ws, o, a->out, &a->prog, &info, &a->err);
	aud_progress_done(&a->ap);
	if (rc)
		return rc;
	if (!a->quiet)
		aud_eprintf(
		    "report: wrote %s/summary.json, %s/samples.csv (%lld rows), %s/report.html "
		    "(%zu bytes), %s/near_duplicates.csv (%lld rows); gate %s\n",
		    a->out, a->out, (long long)info.csv_rows, a->out, info.html_bytes, a->out,
		    (long long)info.near_dup_rows,
		    info.n_rules ? (info.gate_failed ? "FAIL" : "PASS") : "not configured");
	return AUD_EXIT_OK;
}

int aud_cmd_report(int argc, char **argv)
{
	const char *by[AUD_MAX_BY];
	rpt_options o = {.top_n = 25, .integrity = {.by = by, .near_dup_distance = -1}};
	aud_args a = {.to = {.top = &o.top_n}, .integrity = &o.integrity, .by = by};
	return aud_command_main(
	    &(const aud_command){"report", usage_text, NULL, options,
	                         AUD_F_DB | AUD_F_OUT | AUD_F_GATE | AUD_F_READONLY,
	                         "--db PATH and --out DIR are required", NULL, NULL, report_check,
	                         report_run},
	    &o, &a, argc, argv);
}
