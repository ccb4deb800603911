/* cmd_report.c - `mmaudit report`: writes summary.json, samples.csv and report.html for the
 * workspace's newest score/crossdist runs into a directory. The verdict uses the same gate
 * evaluation as `mmaudit gate`; report itself exits 0 whatever the verdict. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "audit/cli.h"
#include "reports/rpt_report.h"

static const char *usage_text =
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

int aud_cmd_report(int argc, char **argv)
{
	static const struct option opts[] = {{"db", required_argument, 0, 'd'},
	                                     {"out", required_argument, 0, 'o'},
	                                     {"top", required_argument, 0, 'n'},
	                                     {"quiet", no_argument, 0, 'q'},
	                                     {"policy", required_argument, 0, 'P'},
	                                     {"max-shortcut-rate", required_argument, 0, 'S'},
	                                     {"max-text-accuracy", required_argument, 0, 'T'},
	                                     {"max-sfd", required_argument, 0, 'F'},
	                                     {"max-ood-gap", required_argument, 0, 'O'},
	                                     {"dataset", required_argument, 0, 'D'},
	                                     {"strict", no_argument, 0, 'X'},
	                                     {"help", no_argument, 0, 'h'},
	                                     AUD_INTEGRITY_LONGOPTS,
	                                     {0, 0, 0, 0}};
	const char *db = NULL, *out = NULL, *policy_path = NULL, *by[AUD_MAX_BY];
	rpt_integrity_options io = {.by = by, .near_dup_distance = -1};
	long long top = 25;
	int quiet = 0, c, rc;
	rpt_policy flags;
	rpt_policy_init(&flags);
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			db = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'n':
			if (aud_parse_int("report", "--top", optarg, 1, 100, &top))
				return AUD_EXIT_USAGE;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return AUD_EXIT_OK;
		case AUD_OPT_BY:
		case AUD_OPT_POSITION_FIELD:
		case AUD_OPT_NEAR_DUP:
			if ((rc = aud_integrity_option("report", c, optarg, &io, by)))
				return rc;
			break;
		default:
			if ((rc = aud_gate_option("report", c, optarg, &flags, &policy_path)))
				return rc;
		}
	}
	if (!db || !out)
		return aud_usage_error("report", "--db PATH and --out DIR are required");
	if (optind < argc)
		return aud_usage_error("report", "unexpected argument '%s'", argv[optind]);
	rpt_options o = {.top_n = (int)top, .integrity = io};
	if ((rc = aud_gate_policy("report", &flags, policy_path, &o.policy)))
		return rc;

	eng_err err = {0};
	eng_ws *ws = NULL;
	if (eng_ws_open_readonly(db, &ws, &err))
		return aud_fail("report", &err);
	aud_progress ap;
	aud_progress_init(&ap, quiet);
	eng_progress prog = aud_progress_hook(&ap);
	rpt_report_info info;
	rc = rpt_report_write(ws, &o, out, &prog, &info, &err);
	aud_progress_done(&ap);
	eng_ws_close(ws);
	if (rc)
		return aud_fail("report", &err);
	if (!quiet)
		aud_eprintf(
		    "report: wrote %s/summary.json, %s/samples.csv (%lld rows), %s/report.html "
		    "(%zu bytes), %s/near_duplicates.csv (%lld rows); gate %s\n",
		    out, out, (long long)info.csv_rows, out, info.html_bytes, out,
		    (long long)info.near_dup_rows,
		    info.n_rules ? (info.gate_failed ? "FAIL" : "PASS") : "not configured");
	return AUD_EXIT_OK;
}
