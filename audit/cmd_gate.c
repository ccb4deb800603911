/* cmd_gate.c - `mmaudit gate`: evaluates the gate rules on the workspace's newest score (and
 * crossdist) runs and prints one line per rule. Exit 0 no rule fails (WARN and NOT RUN pass unless
 * --strict), 1 any fail, 2 bad usage, no rules or nothing scored. The evaluation is
 * rpt_gate_evaluate, the same one the report's verdict uses.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "audit/cli.h"
#include "reports/rpt_gate.h"
#include "reports/rpt_state.h"

static const char *usage_text =
    "usage: mmaudit gate --db PATH [--policy FILE] [--max-shortcut-rate X]\n"
    "                    [--max-text-accuracy X] [--max-sfd X] [--max-ood-gap X]\n"
    "                    [--dataset NAME] [--strict]\n\n"
    "Checks each dataset's newest score run against thresholds (each a maximum) and prints one\n"
    "line per rule, judged on the figure's 95% interval:\n"
    "  FAIL <rule>: observed X (95% CI L to H, n=N), threshold Y   interval wholly above Y\n"
    "  WARN <rule>: ... - the interval straddles the threshold     interval contains Y\n"
    "  PASS <rule>: ...                                            interval wholly at or below Y\n"
    "  NOT RUN <rule>: <why it could not be measured>\n"
    "Intervals: Wilson (shortcut rate, text-only accuracy; n = scored pairs), Newcombe's hybrid\n"
    "score interval (SFD), normal approximation over the crossdist cells (o.o.d. gap).\n\n"
    "  --db PATH              workspace database (required)\n"
    "  --policy FILE          `key = value` lines (# comments): the rule names below without\n"
    "                         the dashes, `dataset = NAME`, `strict = true`; flags override it\n"
    "  --max-shortcut-rate X  the share of text-shortcut pairs is at most X (0..1)\n"
    "  --max-text-accuracy X  the held-out text-only accuracy is at most X (0..1)\n"
    "  --max-sfd X            SFD (MM-RM accuracy where text is right minus where it is wrong)\n"
    "                         is at most X (-1..1); NOT RUN on a dataset without images or when\n"
    "                         the MM-RM does not use the image (counterfactual image test)\n"
    "  --max-ood-gap X        the standard MM-RM trained on the dataset loses at most X\n"
    "                         accuracy out of distribution (newest crossdist run)\n"
    "  --dataset NAME         check only this dataset (default: every dataset)\n"
    "  --strict               WARN and NOT RUN (a rule that cannot be measured) fail the gate\n\n"
    "exit: 0 no rule fails (WARN and NOT RUN pass unless --strict), 1 a rule fails, 2 bad\n"
    "usage, no rules, or nothing scored (run mmaudit score first), 3 system error.\n";

/* Shared by gate and report: the gate options. Returns 0, or an exit status after printing. */
int aud_gate_option(const char *cmd, int c, const char *arg, rpt_policy *flags, const char **policy)
{
	eng_err err = {0};
	const char *key = NULL;
	switch (c) {
	case 'P':
		*policy = arg;
		return 0;
	case 'S':
		key = "max-shortcut-rate";
		break;
	case 'T':
		key = "max-text-accuracy";
		break;
	case 'F':
		key = "max-sfd";
		break;
	case 'O':
		key = "max-ood-gap";
		break;
	case 'D':
		key = "dataset";
		break;
	case 'X':
		flags->strict = 1;
		return 0;
	default:
		return aud_usage_error(cmd, "unknown option");
	}
	if (rpt_policy_set(flags, key, arg, &err))
		return aud_usage_error(cmd, "--%s", err.msg);
	return 0;
}

int aud_gate_policy(const char *cmd, const rpt_policy *flags, const char *policy, rpt_policy *out)
{
	eng_err err = {0};
	rpt_policy_init(out);
	if (policy && rpt_policy_load(out, policy, &err))
		return aud_fail(cmd, &err);
	for (int i = 0; i < RPT_RULE_N; i++)
		if (flags->max[i] == flags->max[i]) /* set (not NAN) */
			out->max[i] = flags->max[i];
	if (flags->dataset[0])
		snprintf(out->dataset, sizeof out->dataset, "%s", flags->dataset);
	if (flags->strict)
		out->strict = 1;
	return 0;
}

int aud_cmd_gate(int argc, char **argv)
{
	static const struct option opts[] = {{"db", required_argument, 0, 'd'},
	                                     {"policy", required_argument, 0, 'P'},
	                                     {"max-shortcut-rate", required_argument, 0, 'S'},
	                                     {"max-text-accuracy", required_argument, 0, 'T'},
	                                     {"max-sfd", required_argument, 0, 'F'},
	                                     {"max-ood-gap", required_argument, 0, 'O'},
	                                     {"dataset", required_argument, 0, 'D'},
	                                     {"strict", no_argument, 0, 'X'},
	                                     {"help", no_argument, 0, 'h'},
	                                     {0, 0, 0, 0}};
	const char *db = NULL, *policy_path = NULL;
	rpt_policy flags, policy;
	rpt_policy_init(&flags);
	int c, rc;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'd')
			db = optarg;
		else if (c == 'h') {
			fputs(usage_text, stdout);
			return AUD_EXIT_OK;
		} else if ((rc = aud_gate_option("gate", c, optarg, &flags, &policy_path)))
			return rc;
	}
	if (!db)
		return aud_usage_error("gate", "--db PATH is required");
	if (optind < argc)
		return aud_usage_error("gate", "unexpected argument '%s'", argv[optind]);
	if ((rc = aud_gate_policy("gate", &flags, policy_path, &policy)))
		return rc;
	if (!rpt_policy_count(&policy))
		return aud_usage_error("gate", "no rules given: nothing to evaluate (pass "
		                               "--max-shortcut-rate X, --max-text-accuracy X, "
		                               "--max-sfd X, --max-ood-gap X or --policy FILE)");

	eng_err err = {0};
	eng_ws *ws = NULL;
	if ((rc = eng_ws_open_readonly(db, &ws, &err)))
		return aud_fail("gate", &err);
	rc = aud_gate_run("gate", ws, &policy);
	eng_ws_close(ws);
	return rc;
}

int aud_gate_run(const char *cmd, eng_ws *ws, const rpt_policy *policy)
{
	eng_err err = {0};
	rpt_state *st = NULL;
	rpt_gate_eval ev = {0};
	int rc;
	if ((rc = rpt_state_load(ws, &st, &err)))
		goto out;
	if (!st->n_scored) {
		rc =
		    eng_err_set(&err, ENG_EINPUT,
		                "the workspace has no finished score run; run mmaudit score first");
		goto out;
	}
	if ((rc = rpt_gate_evaluate(st, policy, &ev, &err)))
		goto out;
	for (size_t i = 0; i < ev.n; i++) {
		char line[1024];
		rpt_gate_line(&ev.r[i], line, sizeof line);
		puts(line);
	}
	printf("gate: %s (%zu fail, %zu warn, %zu pass, %zu not run%s)\n",
	       ev.failed ? "FAIL" : "PASS", ev.count[RPT_FAIL], ev.count[RPT_WARN],
	       ev.count[RPT_PASS], ev.count[RPT_NOT_RUN], policy->strict ? ", strict" : "");
out:;
	int failed = ev.failed;
	rpt_gate_eval_clear(&ev);
	rpt_state_free(st);
	if (rc)
		return aud_fail(cmd, &err);
	return failed ? AUD_EXIT_GATE : AUD_EXIT_OK;
}
