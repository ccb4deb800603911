/* rpt_gate.h - gate rules, the policy file, and THE evaluation both `mmaudit gate` and the report's
 * verdict come from.
 *
 * Rules (each a maximum; a dataset fails a rule when its observed value is above the threshold):
 *   max-shortcut-rate   shortcut_rate of the dataset's newest score run
 *   max-text-accuracy   text_accuracy (held-out text-only proxy accuracy)
 *   max-sfd             sfd (MM-RM accuracy where the text proxy is right minus where it is wrong)
 *   max-ood-gap         for the standard MM-RM trained on the dataset in the newest crossdist run:
 *                       its accuracy on its own test split minus its mean accuracy on the others
 * A rule that cannot be measured (dataset unscored, SFD undefined, no crossdist run, one dataset)
 * is NOT RUN with a reason; it does not fail the gate unless policy.strict is set.
 * Does not print; the CLI and the HTML writer format the results. */
#ifndef RPT_GATE_H
#define RPT_GATE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/err.h"
#include "reports/rpt_state.h"

enum { RPT_RULE_SHORTCUT_RATE, RPT_RULE_TEXT_ACCURACY, RPT_RULE_SFD, RPT_RULE_OOD_GAP, RPT_RULE_N };

/* Rule names as written in flags (--NAME) and policy files (NAME = value). */
extern const char *const rpt_rule_names[RPT_RULE_N];

typedef struct rpt_policy {
	double max[RPT_RULE_N]; /* NAN = rule not set */
	char dataset[256];      /* "" = every dataset */
	int strict;             /* NOT RUN counts as a failure */
} rpt_policy;

/* All rules unset, every dataset, not strict. */
void rpt_policy_init(rpt_policy *p);

/* Number of rules set. */
int rpt_policy_count(const rpt_policy *p);

/* Sets key (a rule name, "dataset" or "strict") from its text value; ENG_EINPUT with a message
 * (without location) when the key is unknown or the value invalid. */
int rpt_policy_set(rpt_policy *p, const char *key, const char *value, eng_err *err);

/* Reads a policy file: `key = value` lines, `#` starts a comment, blank lines ignored; the same
 * key twice is an error. Keys already set in p are overwritten. Errors name path:line. */
int rpt_policy_load(rpt_policy *p, const char *path, eng_err *err);

enum { RPT_FAIL, RPT_PASS, RPT_NOT_RUN };     /* also the display order */
extern const char *const rpt_status_names[3]; /* "FAIL", "PASS", "NOT RUN" */

typedef struct rpt_gate_result {
	int rule, status;
	char dataset[256];
	char sentence[384];                 /* "shortcut rate of dataset 'x' is at most 0.3" */
	char reason[256];                   /* why NOT RUN; "" otherwise */
	double observed, threshold, margin; /* margin = threshold - observed (>= 0 passes) */
	int64_t n;                          /* pairs behind the observed value */
} rpt_gate_result;

typedef struct rpt_gate_eval {
	rpt_gate_result *r; /* FAIL first, then PASS, then NOT RUN; stable within each */
	size_t n;
	size_t count[3]; /* by status */
	int failed;      /* the gate verdict: any FAIL (or NOT RUN when strict) */
} rpt_gate_eval;

/* Evaluates p against st: one result per (rule, dataset). ENG_EINPUT when p.dataset names no
 * dataset. out is zeroed first; release with rpt_gate_eval_clear. */
int rpt_gate_evaluate(const rpt_state *st, const rpt_policy *p, rpt_gate_eval *out, eng_err *err);
void rpt_gate_eval_clear(rpt_gate_eval *e);

/* Shortcut-risk level from the worst scored dataset's text-only accuracy: "HIGH" (>= 0.70),
 * "MEDIUM" (>= 0.60), "LOW", or "UNKNOWN" when nothing is scored. */
const char *rpt_risk_level(const rpt_state *st);

/* Formats one result as the gate's output line (no newline):
 * "PASS <sentence>: observed X (n=N), threshold Y" / "NOT RUN <sentence>: <reason>". */
void rpt_gate_line(const rpt_gate_result *r, char *buf, size_t cap);

/* The headline both the report and summary.json show, from the same evaluation as the gate. */
typedef struct rpt_verdict {
	const char *gate;   /* "PASS", "FAIL" or "NO RULES" */
	const char *risk;   /* rpt_risk_level */
	const char *icon;   /* "✗" (fail or high risk), "!" (medium), "✓" otherwise */
	char sentence[768]; /* numbers and n of the riskiest scored dataset, or what to run */
} rpt_verdict;

void rpt_verdict_make(const rpt_state *st, const rpt_gate_eval *ev, int n_rules, rpt_verdict *v);

/* 1234567 -> "1,234,567". */
void rpt_fmt_count(int64_t n, char *buf, size_t cap);

#endif
