/* rpt_gate.c - policy parsing and the one gate evaluation shared by `mmaudit gate` and the report.
 * Does not print and does not decide exit codes. */
#include "reports/rpt_gate.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const rpt_rule_names[RPT_RULE_N] = {"max-shortcut-rate", "max-text-accuracy", "max-sfd",
                                                "max-ood-gap"};
const char *const rpt_status_names[3] = {"FAIL", "PASS", "NOT RUN"};

static const char *const rule_subject[RPT_RULE_N] = {"shortcut rate", "text-only accuracy", "SFD",
                                                     "o.o.d. gap of the standard MM-RM trained on"};

void rpt_policy_init(rpt_policy *p)
{
	memset(p, 0, sizeof *p);
	for (int i = 0; i < RPT_RULE_N; i++)
		p->max[i] = NAN;
}

int rpt_policy_count(const rpt_policy *p)
{
	int n = 0;
	for (int i = 0; i < RPT_RULE_N; i++)
		n += !isnan(p->max[i]);
	return n;
}

int rpt_policy_set(rpt_policy *p, const char *key, const char *value, eng_err *err)
{
	for (int i = 0; i < RPT_RULE_N; i++) {
		if (strcmp(key, rpt_rule_names[i]))
			continue;
		char *end = NULL;
		errno = 0;
		double v = strtod(value, &end);
		double lo = i == RPT_RULE_SFD || i == RPT_RULE_OOD_GAP ? -1 : 0;
		if (errno || end == value || *end || !isfinite(v) || v < lo || v > 1)
			return eng_err_set(
			    err, ENG_EINPUT,
			    "%s wants a fraction in [%g, 1] (e.g. 0.3 for 30%%), got '%s'", key, lo,
			    value);
		p->max[i] = v;
		return 0;
	}
	if (!strcmp(key, "dataset")) {
		if (!*value || strlen(value) >= sizeof p->dataset)
			return eng_err_set(err, ENG_EINPUT,
			                   "dataset wants a dataset name, got '%s'", value);
		snprintf(p->dataset, sizeof p->dataset, "%s", value);
		return 0;
	}
	if (!strcmp(key, "strict")) {
		if (!strcmp(value, "true") || !strcmp(value, "1"))
			p->strict = 1;
		else if (!strcmp(value, "false") || !strcmp(value, "0"))
			p->strict = 0;
		else
			return eng_err_set(err, ENG_EINPUT, "strict wants true or false, got '%s'",
			                   value);
		return 0;
	}
	return eng_err_set(
	    err, ENG_EINPUT,
	    "unknown key '%s' (known: max-shortcut-rate, max-text-accuracy, max-sfd, "
	    "max-ood-gap, dataset, strict)",
	    key);
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

int rpt_policy_load(rpt_policy *p, const char *path, eng_err *err)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return eng_err_set(err, ENG_EINPUT, "policy file '%s': %s", path, strerror(errno));
	char line[1024], seen[8][32];
	int n_seen = 0, rc = 0;
	long lineno = 0;
	while (fgets(line, sizeof line, f)) {
		lineno++;
		size_t len = strlen(line);
		if (len == sizeof line - 1 && line[len - 1] != '\n' && !feof(f)) {
			rc = eng_err_set(err, ENG_EINPUT, "%s:%ld: line longer than %zu bytes",
			                 path, lineno, sizeof line - 2);
			break;
		}
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		char *s = trim(line);
		if (!*s)
			continue;
		char *eq = strchr(s, '=');
		if (!eq) {
			rc = eng_err_set(
			    err, ENG_EINPUT,
			    "%s:%ld: expected 'key = value' (e.g. max-shortcut-rate = 0.3), "
			    "got '%s'",
			    path, lineno, s);
			break;
		}
		*eq = '\0';
		char *key = trim(s), *value = trim(eq + 1);
		for (int i = 0; i < n_seen; i++)
			if (!strcmp(seen[i], key)) {
				rc = eng_err_set(err, ENG_EINPUT, "%s:%ld: '%s' is set twice", path,
				                 lineno, key);
				goto out;
			}
		if ((rc = rpt_policy_set(p, key, value, err))) {
			eng_err_prefix(err, "%s:%ld: ", path, lineno);
			break;
		}
		if (n_seen < 8)
			snprintf(seen[n_seen++], sizeof seen[0], "%s", key);
	}
	if (!rc && ferror(f))
		rc = eng_err_set(err, ENG_EIO, "read policy file '%s': %s", path, strerror(errno));
out:
	fclose(f);
	return rc;
}

/* The standard MM-RM's o.o.d. gap when trained on ds: accuracy on its own test split minus the mean
 * accuracy on the other datasets' test splits, from the newest crossdist run's cells. */
static int ood_gap(const rpt_state *st, int64_t ds, double *gap, int64_t *n, char *why, size_t cap,
                   eng_err *err)
{
	*gap = NAN;
	*n = 0;
	if (!st->crossdist_run) {
		snprintf(why, cap, "no crossdist run in the workspace; run mmaudit crossdist");
		return 0;
	}
	sqlite3_stmt *q =
	    eng_ws_prepare(st->ws,
	                   "SELECT test_ds, n, accuracy FROM crossdist_cells WHERE run_id = ?1"
	                   " AND method = 'standard' AND train_ds = ?2 ORDER BY test_ds",
	                   err);
	if (!q)
		return err ? err->code : ENG_EINTERNAL;
	sqlite3_bind_int64(q, 1, st->crossdist_run);
	sqlite3_bind_int64(q, 2, ds);
	double diag = NAN, off = 0;
	int n_off = 0, s;
	while ((s = sqlite3_step(q)) == SQLITE_ROW) {
		double acc = sqlite3_column_double(q, 2);
		*n += sqlite3_column_int64(q, 1);
		if (sqlite3_column_int64(q, 0) == ds)
			diag = acc;
		else {
			off += acc;
			n_off++;
		}
	}
	int rc = s == SQLITE_DONE ? 0 : eng_ws_fail(st->ws, err, "read crossdist cells");
	sqlite3_finalize(q);
	if (rc)
		return rc;
	if (isnan(diag))
		snprintf(why, cap, "dataset is not in crossdist run %lld",
		         (long long)st->crossdist_run);
	else if (!n_off)
		snprintf(why, cap, "crossdist run %lld has no other dataset to test on",
		         (long long)st->crossdist_run);
	else
		*gap = diag - off / n_off;
	return 0;
}

static int add_result(rpt_gate_eval *e, const rpt_gate_result *r)
{
	rpt_gate_result *nr = realloc(e->r, (e->n + 1) * sizeof *nr);
	if (!nr)
		return ENG_ENOMEM;
	e->r = nr;
	e->r[e->n++] = *r;
	return 0;
}

int rpt_gate_evaluate(const rpt_state *st, const rpt_policy *p, rpt_gate_eval *out, eng_err *err)
{
	memset(out, 0, sizeof *out);
	if (p->dataset[0] && !rpt_state_dataset(st, p->dataset)) {
		char names[512] = "";
		size_t len = 0;
		for (size_t i = 0; i < st->n_ds && len < sizeof names - 1; i++)
			len += (size_t)snprintf(names + len, sizeof names - len, "%s%s",
			                        i ? ", " : "", st->ds[i].name);
		return eng_err_set(err, ENG_EINPUT,
		                   "no dataset named '%s' in the workspace (have: %s)", p->dataset,
		                   len ? names : "none");
	}
	int rc = 0;
	for (int rule = 0; rule < RPT_RULE_N && !rc; rule++) {
		if (isnan(p->max[rule]))
			continue;
		for (size_t i = 0; i < st->n_ds && !rc; i++) {
			const rpt_dataset *d = &st->ds[i];
			if (p->dataset[0] && strcmp(p->dataset, d->name))
				continue;
			rpt_gate_result r;
			memset(&r, 0, sizeof r);
			r.rule = rule;
			r.threshold = p->max[rule];
			snprintf(r.dataset, sizeof r.dataset, "%s", d->name);
			snprintf(r.sentence, sizeof r.sentence, "%s %s '%s' is at most %g",
			         rule_subject[rule],
			         rule == RPT_RULE_OOD_GAP ? "dataset" : "of dataset", d->name,
			         r.threshold);
			double pairs = rpt_metric(d, "pairs");
			r.n = isnan(pairs) ? 0 : (int64_t)pairs;
			if (!d->run_id) {
				r.observed = NAN;
				snprintf(r.reason, sizeof r.reason,
				         "dataset not scored yet; run mmaudit score");
			} else if (rule == RPT_RULE_SHORTCUT_RATE) {
				r.observed = rpt_metric(d, "shortcut_rate");
			} else if (rule == RPT_RULE_TEXT_ACCURACY) {
				r.observed = rpt_metric(d, "text_accuracy");
			} else if (rule == RPT_RULE_SFD) {
				r.observed = rpt_metric(d, "sfd");
				double a = rpt_metric(d, "n_text_right"),
				       b = rpt_metric(d, "n_text_wrong");
				if (!isnan(a) && !isnan(b))
					r.n = (int64_t)(a + b);
				if (isnan(r.observed))
					snprintf(r.reason, sizeof r.reason,
					         "SFD undefined: the text proxy is never wrong or "
					         "never right");
			} else {
				rc = ood_gap(st, d->id, &r.observed, &r.n, r.reason,
				             sizeof r.reason, err);
			}
			if (isnan(r.observed) && !r.reason[0])
				snprintf(r.reason, sizeof r.reason,
				         "metric missing from score run %lld",
				         (long long)d->run_id);
			if (isnan(r.observed)) {
				r.status = RPT_NOT_RUN;
				r.margin = NAN;
			} else {
				r.margin = r.threshold - r.observed;
				r.status = r.observed > r.threshold ? RPT_FAIL : RPT_PASS;
			}
			if (!rc && add_result(out, &r))
				rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
		}
	}
	if (rc) {
		rpt_gate_eval_clear(out);
		return rc;
	}
	/* Stable order by status: a counting pass keeps the rule/dataset order within each status.
	 */
	rpt_gate_result *sorted = out->n ? malloc(out->n * sizeof *sorted) : NULL;
	if (out->n && !sorted) {
		rpt_gate_eval_clear(out);
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	}
	size_t k = 0;
	for (int s = 0; s < 3; s++)
		for (size_t i = 0; i < out->n; i++)
			if (out->r[i].status == s) {
				sorted[k++] = out->r[i];
				out->count[s]++;
			}
	free(out->r);
	out->r = sorted;
	out->failed = out->count[RPT_FAIL] > 0 || (p->strict && out->count[RPT_NOT_RUN] > 0);
	return 0;
}

void rpt_gate_eval_clear(rpt_gate_eval *e)
{
	if (!e)
		return;
	free(e->r);
	memset(e, 0, sizeof *e);
}

const char *rpt_risk_level(const rpt_state *st)
{
	double worst = NAN;
	for (size_t i = 0; i < st->n_ds; i++) {
		double a = rpt_metric(&st->ds[i], "text_accuracy");
		if (!isnan(a) && (isnan(worst) || a > worst))
			worst = a;
	}
	if (isnan(worst))
		return "UNKNOWN";
	return worst >= 0.70 ? "HIGH" : worst >= 0.60 ? "MEDIUM" : "LOW";
}

void rpt_gate_line(const rpt_gate_result *r, char *buf, size_t cap)
{
	if (r->status == RPT_NOT_RUN)
		snprintf(buf, cap, "NOT RUN %s: %s", r->sentence, r->reason);
	else
		snprintf(buf, cap, "%s %s: observed %.4f (n=%lld), threshold %g",
		         rpt_status_names[r->status], r->sentence, r->observed, (long long)r->n,
		         r->threshold);
}

void rpt_fmt_count(int64_t n, char *buf, size_t cap)
{
	char raw[32], out[48];
	snprintf(raw, sizeof raw, "%lld", (long long)(n < 0 ? -n : n));
	size_t len = strlen(raw), k = 0;
	if (n < 0)
		out[k++] = '-';
	for (size_t i = 0; i < len; i++) {
		if (i && (len - i) % 3 == 0)
			out[k++] = ',';
		out[k++] = raw[i];
	}
	out[k] = '\0';
	snprintf(buf, cap, "%s", out);
}

void rpt_verdict_make(const rpt_state *st, const rpt_gate_eval *ev, int n_rules, rpt_verdict *v)
{
	memset(v, 0, sizeof *v);
	v->gate = n_rules == 0 ? "NO RULES" : ev->failed ? "FAIL" : "PASS";
	v->risk = rpt_risk_level(st);
	int bad = (n_rules && ev->failed) || !strcmp(v->risk, "HIGH");
	v->icon = bad                                                         ? "\xe2\x9c\x97"
	          : !strcmp(v->risk, "MEDIUM") || !strcmp(v->risk, "UNKNOWN") ? "!"
	                                                                      : "\xe2\x9c\x93";
	const rpt_dataset *w = NULL;
	double worst = NAN;
	for (size_t i = 0; i < st->n_ds; i++) {
		double a = rpt_metric(&st->ds[i], "text_accuracy");
		if (!isnan(a) && (isnan(worst) || a > worst)) {
			worst = a;
			w = &st->ds[i];
		}
	}
	if (!w) {
		snprintf(v->sentence, sizeof v->sentence,
		         "Nothing is scored yet: run mmaudit score on the workspace, then report "
		         "again.");
		return;
	}
	char n[32];
	double pairs = rpt_metric(w, "pairs");
	rpt_fmt_count(isnan(pairs) ? 0 : (int64_t)pairs, n, sizeof n);
	int len =
	    snprintf(v->sentence, sizeof v->sentence,
	             "A text-only model picks the chosen answer in %.1f%% of %s pairs of '%s' "
	             "without seeing the image",
	             100 * worst, n, w->name);
	double mm = rpt_metric(w, "mm_accuracy"), wrong = rpt_metric(w, "mm_acc_text_wrong");
	double nw = rpt_metric(w, "n_text_wrong");
	if (!isnan(mm))
		len += snprintf(v->sentence + len, sizeof v->sentence - (size_t)len,
		                "; the multimodal RM gets %.1f%%", 100 * mm);
	if (!isnan(wrong) && !isnan(nw) && pairs > 0)
		len +=
		    snprintf(v->sentence + len, sizeof v->sentence - (size_t)len,
		             "; where the text shortcut fails (%.1f%% of pairs) the RM gets %.1f%%",
		             100 * nw / pairs, 100 * wrong);
	if (st->n_scored > 1 && len < (int)sizeof v->sentence)
		len += snprintf(v->sentence + len, sizeof v->sentence - (size_t)len,
		                " (the most text-solvable of %lld scored datasets)",
		                (long long)st->n_scored);
	if (len < (int)sizeof v->sentence)
		snprintf(v->sentence + len, sizeof v->sentence - (size_t)len, ".");
}
