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

static const char usage_text[] =
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

/* the options of aud_command.opts (audit/cli.h), in getopt order */
static const char options[] = "db policy max-shortcut-rate max-text-accuracy max-sfd max-ood-gap "
                              "dataset=D strict:X help";

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

static int gate_check(void *self, aud_args *a)
{
	rpt_policy *policy = self;
	int rc = aud_gate_policy("gate", &a->gate, a->policy, policy);
	if (!rc && !rpt_policy_count(policy))
		rc = aud_usage_error("gate", "no rules given: nothing to evaluate (pass "
		                             "--max-shortcut-rate X, --max-text-accuracy X, "
		                             "--max-sfd X, --max-ood-gap X or --policy FILE)");
	return rc;
}

static int gate_run(void *self, aud_args *a)
{
	return aud_gate_run("gate", a->ws, self);
}

int aud_cmd_gate(int argc, char **argv)
{
	rpt_policy policy;
	aud_args a = {0};
	return aud_command_main(&(const aud_command){"gate", usage_text, NULL, options,
	                                             AUD_F_DB | AUD_F_GATE | AUD_F_READONLY,
	                                             "--db PATH is required", NULL, NULL,
	                                             gate_check, gate_run},
	                        &policy, &a, argc, argv);
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
