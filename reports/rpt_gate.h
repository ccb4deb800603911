/* rpt_gate.h - gate rules, the policy file, and THE evaluation both `mmaudit gate` and the report's
 * verdict come from.
 *
 * Rules (each a maximum), with the 95% interval each is judged on:
 *   max-shortcut-rate   shortcut_rate of the dataset's newest score run; Wilson, n = scored pairs
 *   max-text-accuracy   text_accuracy (held-out text-only proxy accuracy); Wilson, n = scored pairs
 *   max-sfd             sfd (MM-RM accuracy where the text proxy is right minus where it is
 *                       wrong); Newcombe's hybrid score interval for a difference of two
 *                       independent proportions (n_text_right, n_text_wrong)
 *   max-ood-gap         for the standard MM-RM trained on the dataset in the newest crossdist run:
 *                       its accuracy on its own test split minus its mean accuracy on the others;
 *                       normal approximation, the cells' test splits taken as independent
 * FAIL when the interval lies wholly above the threshold, PASS when it lies wholly at or below
 * it, WARN when it straddles it (a point comparison when no n is stored: old runs). A rule that
 * cannot be measured (dataset unscored, SFD undefined, no images, an MM-RM that does not use the
 * image, no crossdist run, one dataset) is NOT RUN with a reason. WARN and NOT RUN do not fail
 * the gate unless policy.strict is set.
 * Does not print; the CLI and the HTML writer format the results. */
#ifndef RPT_GATE_H
#define RPT_GATE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "reports/rpt_state.h"

enum { RPT_RULE_SHORTCUT_RATE, RPT_RULE_TEXT_ACCURACY, RPT_RULE_SFD, RPT_RULE_OOD_GAP, RPT_RULE_N };

/* Rule names as written in flags (--NAME) and policy files (NAME = value). */
extern const char *const rpt_rule_names[RPT_RULE_N];

typedef struct rpt_policy {
	double max[RPT_RULE_N]; /* NAN = rule not set */
	char dataset[256];      /* "" = every dataset */
	int strict;             /* WARN and NOT RUN count as failures */
} rpt_policy;

/* All rules unset, every dataset, not strict. */
void rpt_policy_init(rpt_policy *p);

/* Number of rules set. */
int rpt_policy_count(const rpt_policy *p);

/* Sets key (a rule name, "dataset" or "strict") from its text value; ENG_EINPUT with a message
 * (without location) when the key is unknown or the value invalid. */
int rpt_policy_set(rpt_policy *p, const char *key, const char *value, eng_err *err);

/* Reads a policy file: `key = value` lines, `#` starts a comment, blank lines ignored; the same
 * key twice is an error. Keys already set in p are overwritten. Errors name path:line. A policy
 * file is UTF-8 text (a leading byte order mark is skipped): a NUL byte, another control
 * character or bytes that are not UTF-8 are an error naming the line. The path must be a regular
 * file or a pipe (read at most RPT_POLICY_MAX bytes); a directory or device is refused. */
#define RPT_POLICY_MAX (1 << 20)
int rpt_policy_load(rpt_policy *p, const char *path, eng_err *err);

/* The parser of rpt_policy_load over text[0..len) (not NUL-terminated); label names it in
 * errors. */
int rpt_policy_parse(rpt_policy *p, const char *label, const char *text, size_t len, eng_err *err);

enum { RPT_FAIL, RPT_WARN, RPT_PASS, RPT_NOT_RUN, RPT_STATUS_N }; /* also the display order */
extern const char *const rpt_status_names[RPT_STATUS_N]; /* "FAIL", "WARN", "PASS", "NOT RUN" */

typedef struct rpt_gate_result {
	int rule, status;
	char dataset[256];
	char sentence[384];                 /* "shortcut rate of dataset 'x' is at most 0.3" */
	char reason[256];                   /* why NOT RUN; "" otherwise */
	double observed, threshold, margin; /* margin = threshold - observed */
	double lo, hi; /* 95% interval of observed; NAN when it cannot be computed (no n) */
	int64_t n;     /* pairs behind the observed value */
} rpt_gate_result;

typedef struct rpt_gate_eval {
	rpt_gate_result *r; /* FAIL, WARN, PASS, then NOT RUN; stable within each */
	size_t n;
	size_t count[RPT_STATUS_N]; /* by status */
	int failed; /* the gate verdict: any FAIL (or WARN or NOT RUN when strict) */
} rpt_gate_eval;

/* Evaluates p against st: one result per (rule, dataset). ENG_EINPUT when p.dataset names no
 * dataset. out is zeroed first; release with rpt_gate_eval_clear. */
int rpt_gate_evaluate(const rpt_state *st, const rpt_policy *p, rpt_gate_eval *out, eng_err *err);
void rpt_gate_eval_clear(rpt_gate_eval *e);

/* Shortcut-risk level from the worst scored dataset's text-only accuracy: "HIGH" (>= 0.70),
 * "MEDIUM" (>= 0.60), "LOW", or "UNKNOWN" when nothing is scored. */
const char *rpt_risk_level(const rpt_state *st);

/* Formats one result as the gate's output line (no newline):
 * "PASS <sentence>: observed X (95% CI L to H, n=N), threshold Y",
 * "WARN <sentence>: observed X (95% CI L to H, n=N), threshold Y — the interval straddles the
 * threshold", "NOT RUN <sentence>: <reason>"; "(n=N)" alone when there is no interval. */
void rpt_gate_line(const rpt_gate_result *r, char *buf, size_t cap);

/* The headline both the report and summary.json show, from the same evaluation as the gate. */
typedef struct rpt_verdict {
	const char *gate;   /* "FAIL", "WARN" (passes, some rule straddles), "PASS" or "NO RULES" */
	const char *risk;   /* rpt_risk_level */
	const char *icon;   /* "✗" (fail or high risk), "!" (medium), "✓" otherwise */
	int mm_informative; /* of the sentence's dataset: 1, 0, or -1 unknown (old run, no images)
	                     */
	char sentence[1024]; /* the riskiest scored dataset's proxy accuracy and n against the best
	                        blind baseline, then what the MM-RM adds (or why nothing), or what
	                        to run */
} rpt_verdict;

void rpt_verdict_make(const rpt_state *st, const rpt_gate_eval *ev, int n_rules, rpt_verdict *v);

/* The short list of actions that closes the verdict (issue 15), each chosen from a figure that was
 * measured and quoting it: drop or merge conflicting pairs; judge in both orders when the answer
 * shown first wins more (or fewer) than chance, or swap consistency is low; length-balance when
 * pick-longer alone beats chance; train with the weights auto picked (or none needed); bring
 * embeddings when the MM-RM does not use the image; where a metadata slice carries the shortcut;
 * images shared with another dataset. Needs st->integ for the integrity items (absent: skipped). */
enum { RPT_NEXT_MAX = 8 };
typedef struct rpt_next_steps {
	size_t n;
	const char *kind[RPT_NEXT_MAX]; /* conflicts, position, length, weights, embeddings, slice,
	                                   shared-images */
	char text[RPT_NEXT_MAX][400];
} rpt_next_steps;

void rpt_next_steps_make(const rpt_state *st, rpt_next_steps *ns);

/* Whether the dataset has images: 1, 0, or -1 when unknown (unscored). An old run without the
 * "has_images" key counts as having none when its sfd is null and pairs_with_image is 0. */
int rpt_dataset_has_images(const rpt_dataset *d);

/* The counterfactual image test's "mm_informative": 1, 0, or -1 when null or absent (old runs:
 * treated as before, figures shown). */
int rpt_dataset_mm_informative(const rpt_dataset *d);

/* Newcombe's hybrid score interval (Newcombe 1998, method 10) at 95% for p1 - p2, two
 * independent proportions with n1 and n2 trials, built from the two Wilson intervals:
 *   lo = d - sqrt((p1 - l1)^2 + (u2 - p2)^2),  hi = d + sqrt((u1 - p1)^2 + (p2 - l2)^2).
 * lo = hi = NAN when either n is 0 or either p is NAN. */
void rpt_newcombe(double p1, int64_t n1, double p2, int64_t n2, double *lo, double *hi);

/* 1234567 -> "1,234,567". */
void rpt_fmt_count(int64_t n, char *buf, size_t cap);

#endif
