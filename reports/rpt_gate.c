/* rpt_gate.c - policy parsing, the one gate evaluation shared by `mmaudit gate` and the report
 * (each rule judged on a 95% interval), and the verdict sentence. Does not print and does not
 * decide exit codes. */
#include "reports/rpt_gate.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model.h"
#include "safetext.h"
#include "store_crossdist.h"

#include "reports/rpt_integrity.h"

const char *const rpt_rule_names[RPT_RULE_N] = {"max-shortcut-rate", "max-text-accuracy", "max-sfd",
                                                "max-ood-gap"};
const char *const rpt_status_names[RPT_STATUS_N] = {"FAIL", "WARN", "PASS", "NOT RUN"};

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
		/* a decimal number only: strtod would also read hex ("0x0.8"), inf and nan */
		int decimal = value[strspn(value, "0123456789.eE+-")] == '\0';
		double v = strtod(value, &end);
		double lo = i == RPT_RULE_SFD || i == RPT_RULE_OOD_GAP ? -1 : 0;
		if (!decimal || errno || end == value || *end || !isfinite(v) || v < lo || v > 1)
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

/* The reason line [p, p + n) is not text, or NULL: a NUL byte, a control character other than
 * tab and CR, or bytes that are not UTF-8. */
static const char *not_text(const char *p, size_t n)
{
	const unsigned char *u = (const unsigned char *)p;
	for (size_t i = 0; i < n;) {
		if (!u[i])
			return "a NUL byte";
		if ((u[i] < 0x20 && u[i] != '\t' && u[i] != '\r') || u[i] == 0x7f)
			return "a control character (binary content)";
		size_t k = eng_text_seq_len(u + i, n - i);
		if (!k)
			return "bytes that are not UTF-8 (binary content)";
		i += k;
	}
	return NULL;
}

int rpt_policy_parse(rpt_policy *p, const char *label, const char *text, size_t len, eng_err *err)
{
	char line[1024], seen[8][32];
	int n_seen = 0, rc = 0;
	long lineno = 0;
	size_t pos = 0;
	if (len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3))
		pos = 3; /* a UTF-8 byte order mark is not part of the first key */
	while (pos < len) {
		lineno++;
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
		const char *why = not_text(text + pos, n);
		if (why)
			return eng_err_set(
			    err, ENG_EINPUT,
			    "%s:%ld: %s: a policy file is text (`key = value` lines)", label,
			    lineno, why);
		if (n > sizeof line - 2)
			return eng_err_set(err, ENG_EINPUT, "%s:%ld: line longer than %zu bytes",
			                   label, lineno, sizeof line - 2);
		memcpy(line, text + pos, n);
		line[n] = '\0';
		pos += n + (nl != NULL);
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		char *s = trim(line);
		if (!*s)
			continue;
		char *eq = strchr(s, '=');
		if (!eq)
			return eng_err_set(
			    err, ENG_EINPUT,
			    "%s:%ld: expected 'key = value' (e.g. max-shortcut-rate = 0.3), "
			    "got '%s'",
			    label, lineno, s);
		*eq = '\0';
		char *key = trim(s), *value = trim(eq + 1);
		for (int i = 0; i < n_seen; i++)
			if (!strcmp(seen[i], key))
				return eng_err_set(err, ENG_EINPUT, "%s:%ld: '%s' is set twice",
				                   label, lineno, key);
		if ((rc = rpt_policy_set(p, key, value, err))) {
			eng_err_prefix(err, "%s:%ld: ", label, lineno);
			return rc;
		}
		if (n_seen < 8)
			snprintf(seen[n_seen++], sizeof seen[0], "%s", key);
	}
	return 0;
}

int rpt_policy_load(rpt_policy *p, const char *path, eng_err *err)
{
	/* O_NONBLOCK and fstat first: a FIFO without a writer must not block the open, and a
	 * device (/dev/zero) or directory is refused before anything is read; a pipe
	 * (--policy /dev/stdin) is read once, at most RPT_POLICY_MAX bytes, like a file */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return eng_err_set(err, ENG_EINPUT, "policy file '%s': %s", path, strerror(errno));
	struct stat sb = {0};
	if (fstat(fd, &sb) != 0 || !(S_ISREG(sb.st_mode) || S_ISFIFO(sb.st_mode))) {
		close(fd);
		return eng_err_set(err, ENG_EINPUT, "policy file '%s' is %s, not a text file", path,
		                   eng_err_file_kind(sb.st_mode));
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	char *buf = malloc(RPT_POLICY_MAX + 1);
	if (!buf) {
		close(fd);
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	}
	size_t len = 0;
	int rc = 0;
	for (;;) {
		ssize_t k = read(fd, buf + len, RPT_POLICY_MAX + 1 - len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			rc = eng_err_set(err, ENG_EIO, "read policy file '%s': %s", path,
			                 strerror(errno));
			break;
		}
		if (k == 0)
			break;
		len += (size_t)k;
		if (len > RPT_POLICY_MAX) {
			rc = eng_err_set(
			    err, ENG_EINPUT,
			    "policy file '%s' is longer than %d bytes: not a policy file", path,
			    RPT_POLICY_MAX);
			break;
		}
	}
	close(fd);
	if (!rc)
		rc = rpt_policy_parse(p, path, buf, len, err);
	free(buf);
	return rc;
}

/* The sums of ood_gap over the cells of one training dataset. */
typedef struct gap_sums {
	int64_t ds;
	rpt_gate_result *r;
	double diag, off, var_diag, var_off;
	int n_off;
} gap_sums;

static int gap_cell(void *ctx, const eng_xd_cell_row *c)
{
	gap_sums *g = ctx;
	double acc = c->accuracy;
	int64_t n = c->n;
	double var = n > 0 ? acc * (1 - acc) / (double)n : NAN;
	g->r->n += n;
	if (c->test_ds == g->ds) {
		g->diag = acc;
		g->var_diag = var;
	} else {
		g->off += acc;
		g->var_off += var;
		g->n_off++;
	}
	return 0;
}

/* The standard MM-RM's o.o.d. gap when trained on ds: accuracy on its own test split minus the mean
 * accuracy on the other datasets' test splits, from the newest crossdist run's cells, with a 95%
 * interval by the normal approximation: each cell's accuracy a_j on n_j test pairs has variance
 * a_j (1 - a_j) / n_j, the cells are independent (disjoint test splits), so
 *   var(gap) = a_d (1 - a_d) / n_d + sum_{j != d} a_j (1 - a_j) / n_j / k^2   (k = other cells)
 * and the interval is gap -+ 1.96 sqrt(var). lo = hi = NAN when a cell has no n. */
static int ood_gap(const rpt_state *st, int64_t ds, rpt_gate_result *r, eng_err *err)
{
	const size_t cap = sizeof r->reason;
	r->observed = r->lo = r->hi = NAN;
	r->n = 0;
	if (!st->crossdist_run) {
		snprintf(r->reason, cap,
		         "no crossdist run in the workspace; run mmaudit crossdist");
		return 0;
	}
	gap_sums g = {.ds = ds, .r = r, .diag = NAN, .var_diag = NAN};
	int rc = eng_xd_cells_each(st->ws, st->crossdist_run, eng_method_name(ENG_METHOD_STANDARD),
	                           ds, gap_cell, &g, err);
	if (rc)
		return rc;
	double diag = g.diag, off = g.off, var_diag = g.var_diag, var_off = g.var_off;
	int n_off = g.n_off;
	if (isnan(diag))
		snprintf(r->reason, cap, "dataset is not in crossdist run %lld",
		         (long long)st->crossdist_run);
	else if (!n_off)
		snprintf(r->reason, cap, "crossdist run %lld has no other dataset to test on",
		         (long long)st->crossdist_run);
	else {
		r->observed = diag - off / n_off;
		double h =
		    1.959963984540054 * sqrt(var_diag + var_off / ((double)n_off * (double)n_off));
		r->lo = r->observed - h; /* NAN propagates when a cell had no n */
		r->hi = r->observed + h;
	}
	return 0;
}

int rpt_dataset_has_images(const rpt_dataset *d)
{
	if (!d || !d->metrics)
		return -1;
	const json_t *h = json_object_get(d->metrics, "has_images");
	if (json_is_boolean(h))
		return json_is_true(h);
	return isnan(rpt_metric(d, "sfd")) && rpt_metric(d, "pairs_with_image") == 0 ? 0 : 1;
}

int rpt_dataset_mm_informative(const rpt_dataset *d)
{
	const json_t *m = d && d->metrics ? json_object_get(d->metrics, "mm_informative") : NULL;
	return json_is_boolean(m) ? json_is_true(m) : -1;
}

void rpt_newcombe(double p1, int64_t n1, double p2, int64_t n2, double *lo, double *hi)
{
	double l1, u1, l2, u2;
	rpt_wilson(p1, n1, &l1, &u1);
	rpt_wilson(p2, n2, &l2, &u2);
	if (isnan(l1) || isnan(l2)) {
		*lo = *hi = NAN;
		return;
	}
	double d = p1 - p2;
	*lo = d - sqrt((p1 - l1) * (p1 - l1) + (u2 - p2) * (u2 - p2));
	*hi = d + sqrt((u1 - p1) * (u1 - p1) + (p2 - l2) * (p2 - l2));
}

/* Why max-sfd is not run on d, or NULL when SFD is a finding there. */
static const char *sfd_not_run_reason(const rpt_dataset *d)
{
	if (!rpt_dataset_has_images(d))
		return "no images: the dataset is text-only, SFD is not defined";
	if (rpt_dataset_mm_informative(d) == 0)
		return "the multimodal RM does not use the image with these image features "
		       "(counterfactual image test); SFD describes the tool, not the data "
		       "\xe2\x80\x94 "
		       "use `mmaudit embed` with your own encoder";
	return NULL;
}

/* Observed value, interval and n of one score-run rule on d (not the o.o.d. gap). */
static void score_rule(const rpt_dataset *d, int rule, rpt_gate_result *r)
{
	r->lo = r->hi = NAN;
	if (rule == RPT_RULE_SFD) {
		const char *why = sfd_not_run_reason(d);
		if (why) {
			r->observed = NAN;
			snprintf(r->reason, sizeof r->reason, "%s", why);
			return;
		}
		r->observed = rpt_metric(d, "sfd");
		double a = rpt_metric(d, "n_text_right"), b = rpt_metric(d, "n_text_wrong");
		if (!isnan(a) && !isnan(b)) {
			r->n = (int64_t)(a + b);
			rpt_newcombe(rpt_metric(d, "mm_acc_text_right"), (int64_t)a,
			             rpt_metric(d, "mm_acc_text_wrong"), (int64_t)b, &r->lo,
			             &r->hi);
		}
		if (isnan(r->observed))
			snprintf(r->reason, sizeof r->reason,
			         "SFD undefined: the text proxy is never wrong or never right");
		return;
	}
	r->observed =
	    rpt_metric(d, rule == RPT_RULE_SHORTCUT_RATE ? "shortcut_rate" : "text_accuracy");
	rpt_wilson(r->observed, r->n, &r->lo, &r->hi);
}

/* FAIL when [lo, hi] lies wholly above the maximum, PASS when wholly at or below, else WARN; a
 * point comparison when there is no interval. */
static int judge(const rpt_gate_result *r)
{
	if (isnan(r->lo) || isnan(r->hi))
		return r->observed > r->threshold ? RPT_FAIL : RPT_PASS;
	return r->lo > r->threshold ? RPT_FAIL : r->hi <= r->threshold ? RPT_PASS : RPT_WARN;
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
				r.observed = r.lo = r.hi = NAN;
				snprintf(r.reason, sizeof r.reason,
				         "dataset not scored yet; run mmaudit score");
			} else if (rule == RPT_RULE_OOD_GAP) {
				rc = ood_gap(st, d->id, &r, err);
			} else {
				score_rule(d, rule, &r);
			}
			if (isnan(r.observed) && !r.reason[0])
				snprintf(r.reason, sizeof r.reason,
				         "metric missing from score run %lld",
				         (long long)d->run_id);
			if (isnan(r.observed)) {
				r.status = RPT_NOT_RUN;
				r.margin = r.lo = r.hi = NAN;
			} else {
				r.margin = r.threshold - r.observed;
				r.status = judge(&r);
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
	for (int s = 0; s < RPT_STATUS_N; s++)
		for (size_t i = 0; i < out->n; i++)
			if (out->r[i].status == s) {
				sorted[k++] = out->r[i];
				out->count[s]++;
			}
	free(out->r);
	out->r = sorted;
	out->failed = out->count[RPT_FAIL] > 0 ||
	              (p->strict && out->count[RPT_WARN] + out->count[RPT_NOT_RUN] > 0);
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
	else if (isnan(r->lo) || isnan(r->hi))
		snprintf(buf, cap, "%s %s: observed %.4f (n=%lld), threshold %g",
		         rpt_status_names[r->status], r->sentence, r->observed, (long long)r->n,
		         r->threshold);
	else
		snprintf(
		    buf, cap, "%s %s: observed %.4f (95%% CI %.3f to %.3f, n=%lld), threshold %g%s",
		    rpt_status_names[r->status], r->sentence, r->observed, r->lo, r->hi,
		    (long long)r->n, r->threshold,
		    r->status == RPT_WARN ? " \xe2\x80\x94 the interval straddles the threshold"
		                          : "");
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

/* Every phrase of the verdict sentence, in one place (the report and summary.json show it). */
static const char *const v_nothing = "Nothing is scored yet: run mmaudit score on the workspace, "
                                     "then report again.";
static const char *const v_proxy = "A text-only model picks the chosen answer in %.1f%% of %s "
                                   "pairs of '%s'";
static const char *const v_unseen = " without seeing the image";
static const char *const v_chance = ", which is not distinguishable from chance (95%% CI %.1f%% "
                                    "to %.1f%%; best blind baseline %s, %.1f%%)";
static const char *const v_above = ", %.1f points above the best blind baseline (%s, %.1f%%)";
static const char *const v_below = ", %.1f points below the best blind baseline (%s, %.1f%%): "
                                   "the rule alone beats the model";
static const char *const v_is = ", within 2 points of %s (%.1f%%): the shortcut is %s";
static const char *const v_no_images = "; no multimodal figures: the dataset has no images";
static const char *const v_not_informative =
    "; the multimodal RM does not see beyond the text with these image features (counterfactual "
    "image test), so its figures describe the tool, not the data: audit with your own encoder's "
    "embeddings (`mmaudit embed`)";
static const char *const v_mm = "; the multimodal RM gets %.1f%%";
static const char *const v_mm_fails = "; where the text shortcut fails (%.1f%% of pairs) the RM "
                                      "gets %.1f%%";
static const char *const v_most = " (the most text-solvable of %lld scored datasets)";

/* The blind baselines: metric key, display name, what the cue is when the proxy matches it. */
static const struct {
	const char *key, *name, *cue;
} blind[] = {
    {"blind.pick_longer", "pick-longer", "answer length"},
    {"blind.pick_shorter", "pick-shorter", "answer length (the shorter answer wins)"},
    {"blind.pick_more_formatted", "pick-more-formatted", "formatting (markdown, lists)"},
};

/* Appends to v->sentence; keeps it terminated when full. */
static void vcat(rpt_verdict *v, size_t *len, const char *fmt, ...)
{
	if (*len >= sizeof v->sentence)
		return;
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(v->sentence + *len, sizeof v->sentence - *len, fmt, ap);
	va_end(ap);
	if (k > 0)
		*len += (size_t)k;
}

/* The text proxy against the best blind baseline (the highest of the three). */
static void verdict_baseline(const rpt_dataset *w, double acc, int64_t n, rpt_verdict *v,
                             size_t *len)
{
	int best = -1;
	double b = NAN;
	for (int i = 0; i < (int)(sizeof blind / sizeof blind[0]); i++) {
		double x = rpt_metric(w, blind[i].key);
		if (!isnan(x) && (best < 0 || x > b)) {
			best = i;
			b = x;
		}
	}
	double lo, hi;
	rpt_wilson(acc, n, &lo, &hi);
	if (!isnan(lo) && lo <= 0.5 && hi >= 0.5) {
		if (best >= 0)
			vcat(v, len, v_chance, 100 * lo, 100 * hi, blind[best].name, 100 * b);
		return;
	}
	if (best < 0)
		return;
	double diff = acc - b;
	if (fabs(diff) <= 0.02 + 1e-9)
		vcat(v, len, v_is, blind[best].name, 100 * b, blind[best].cue);
	else if (diff > 0)
		vcat(v, len, v_above, 100 * diff, blind[best].name, 100 * b);
	else
		vcat(v, len, v_below, -100 * diff, blind[best].name, 100 * b);
}

/* What the multimodal RM adds: nothing for a text-only dataset, a warning when the
 * counterfactual image test says it does not use the image, its figures otherwise. */
static void verdict_mm(const rpt_dataset *w, double pairs, rpt_verdict *v, size_t *len)
{
	if (!rpt_dataset_has_images(w)) {
		vcat(v, len, "%s", v_no_images);
		return;
	}
	if (v->mm_informative == 0) {
		vcat(v, len, "%s", v_not_informative);
		return;
	}
	double mm = rpt_metric(w, "mm_accuracy"), wrong = rpt_metric(w, "mm_acc_text_wrong");
	double nw = rpt_metric(w, "n_text_wrong");
	if (!isnan(mm))
		vcat(v, len, v_mm, 100 * mm);
	if (!isnan(wrong) && !isnan(nw) && pairs > 0)
		vcat(v, len, v_mm_fails, 100 * nw / pairs, 100 * wrong);
}

void rpt_verdict_make(const rpt_state *st, const rpt_gate_eval *ev, int n_rules, rpt_verdict *v)
{
	memset(v, 0, sizeof *v);
	v->gate = n_rules == 0              ? "NO RULES"
	          : ev->failed              ? "FAIL"
	          : ev->count[RPT_WARN] > 0 ? "WARN"
	                                    : "PASS";
	v->risk = rpt_risk_level(st);
	v->mm_informative = -1;
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
		snprintf(v->sentence, sizeof v->sentence, "%s", v_nothing);
		return;
	}
	v->mm_informative = rpt_dataset_mm_informative(w);
	char n[32];
	double pairs = rpt_metric(w, "pairs");
	int64_t np = isnan(pairs) ? 0 : (int64_t)pairs;
	rpt_fmt_count(np, n, sizeof n);
	size_t len = 0;
	vcat(v, &len, v_proxy, 100 * worst, n, w->name);
	if (rpt_dataset_has_images(w))
		vcat(v, &len, "%s", v_unseen);
	verdict_baseline(w, worst, np, v, &len);
	verdict_mm(w, pairs, v, &len);
	if (st->n_scored > 1)
		vcat(v, &len, v_most, (long long)st->n_scored);
	vcat(v, &len, ".");
}

/* ---- next steps ---- */

static void step(rpt_next_steps *ns, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void step(rpt_next_steps *ns, const char *kind, const char *fmt, ...)
{
	if (ns->n == RPT_NEXT_MAX)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ns->text[ns->n], sizeof ns->text[0], fmt, ap);
	va_end(ap);
	ns->kind[ns->n++] = kind;
}

/* "" with one dataset, "name: " with several. */
static void prefix_of(const rpt_state *st, const rpt_dataset *d, char *buf, size_t cap)
{
	if (st->n_scored > 1)
		snprintf(buf, cap, "%s: ", d->name);
	else
		buf[0] = '\0';
}

static void integrity_steps(const rpt_state *st, size_t i, const char *pre, rpt_next_steps *ns)
{
	const rpt_ds_integrity *x = &st->integ->ds[i];
	const eng_integrity *in = &x->in;
	char a[32], b[32], c[32];
	if (in->conflict_groups > 0) {
		rpt_fmt_count(in->conflict_pairs, a, sizeof a);
		rpt_fmt_count(in->conflict_groups, b, sizeof b);
		char why[160] = "";
		if (in->position_conflicts > 0) {
			rpt_fmt_count(in->position_conflicts, c, sizeof c);
			snprintf(why, sizeof why,
			         "; in %s of the groups the judge preferred the same answer slot "
			         "in both orders",
			         c);
		}
		step(ns, "conflicts",
		     "%sDrop or merge the %s pairs in %s groups with conflicting labels (%.1f%% of "
		     "the pairs)%s. They are scored suspect-label meanwhile.",
		     pre, a, b,
		     in->pairs ? 100.0 * (double)in->conflict_pairs / (double)in->pairs : 0, why);
	}
	if (in->position_n >= 20) {
		double r = (double)in->position_first / (double)in->position_n, lo, hi;
		rpt_wilson(r, in->position_n, &lo, &hi);
		double sc =
		    in->swap_pairs ? (double)in->swap_consistent / (double)in->swap_pairs : 1;
		rpt_fmt_count(in->position_n, a, sizeof a);
		if (in->position_p < 0.05)
			step(ns, "position",
			     "%sPosition bias: the answer shown first wins %.1f%% of %s pairs "
			     "(95%% CI "
			     "%.1f%% to %.1f%%, p = %.2g against 50%%). Judge every pair in both "
			     "orders "
			     "and average the verdicts.",
			     pre, 100 * r, a, 100 * lo, 100 * hi, in->position_p);
		else if (in->swap_pairs >= 20 && sc < 0.95) {
			rpt_fmt_count(in->swap_pairs, b, sizeof b);
			step(ns, "position",
			     "%sOnly %.1f%% of the %s pairs judged in both orders got the same "
			     "verdict "
			     "both times (the first position wins %.1f%% overall, no net bias): "
			     "keep "
			     "a pair only when both orders agree, or average them.",
			     pre, 100 * sc, b, 100 * r);
		}
	}
	if (x->images_across > 0) {
		rpt_fmt_count(x->images_across, a, sizeof a);
		int one = x->images_across == 1;
		step(ns, "shared-images",
		     "%s%s image%s shared with another dataset or nearly duplicate%s one there "
		     "(near_duplicates.csv): remove %s from one side before reading the "
		     "cross-distribution figures.",
		     pre, a, one ? " is" : "s are", one ? "s" : "", one ? "it" : "them");
	}
}

/* The slice set whose largest slice (n >= RPT_SLICE_MIN_N) stands out most, as a step. */
static void slice_step(const rpt_state *st, size_t i, const char *pre, rpt_next_steps *ns)
{
	const rpt_ds_integrity *x = &st->integ->ds[i];
	double overall = rpt_metric(&st->ds[i], "shortcut_rate");
	const rpt_slice_set *best = NULL;
	const rpt_slice *top = NULL;
	for (size_t k = 0; k < x->n_sets; k++) {
		const rpt_slice_set *s = &x->sets[k];
		if (isnan(s->spread) || s->spread < 0.15)
			continue;
		for (size_t j = 0; j < s->n; j++)
			if (s->s[j].n >= RPT_SLICE_MIN_N) {
				if (!best || s->spread > best->spread) {
					best = s;
					top = &s->s[j];
				}
				break;
			}
	}
	if (!best || isnan(overall))
		return;
	int64_t n_all = 0;
	double sc_all = 0;
	for (size_t j = 0; j < best->n; j++) {
		n_all += best->s[j].n;
		sc_all += best->s[j].shortcut;
	}
	int64_t n_rest = n_all - top->n;
	double rest = n_rest > 0 ? (sc_all - top->shortcut) / (double)n_rest : NAN;
	double share = sc_all > 0 ? top->shortcut / sc_all : NAN;
	char a[32];
	rpt_fmt_count(top->n, a, sizeof a);
	step(ns, "slice",
	     "%sThe shortcut lives in %s = %s: shortcut rate %.1f%% of its %s pairs vs %.1f%% in "
	     "the rest; it holds %.0f%% of all text-shortcut pairs. Rebalance or audit that slice "
	     "first.",
	     pre, best->field, top->value, 100 * top->shortcut / (double)top->n, a, 100 * rest,
	     100 * share);
}

void rpt_next_steps_make(const rpt_state *st, rpt_next_steps *ns)
{
	memset(ns, 0, sizeof *ns);
	for (size_t i = 0; i < st->n_ds; i++) {
		const rpt_dataset *d = &st->ds[i];
		char pre[300];
		prefix_of(st, d, pre, sizeof pre);
		if (st->integ)
			integrity_steps(st, i, pre, ns);
		if (!d->run_id)
			continue;
		double pl = rpt_metric(d, "blind.pick_longer"), np = rpt_metric(d, "pairs");
		char n_s[32];
		rpt_fmt_count(isnan(np) ? 0 : (int64_t)np, n_s, sizeof n_s);
		if (pl >= 0.6)
			step(ns, "length",
			     "%sLength alone picks the chosen answer in %.1f%% of %s pairs: "
			     "length-balance the pairs, or reweight them.",
			     pre, 100 * pl, n_s);
		if (st->integ)
			slice_step(st, i, pre, ns);
		const json_t *wa = rpt_metric_json(d, "weights.auto");
		const char *m = json_is_string(wa) ? json_string_value(wa) : NULL;
		if (m && strcmp(m, "none")) {
			char key[64];
			snprintf(key, sizeof key, "weights.%s", m);
			const json_t *w = rpt_metric_json(d, key);
			const json_t *rj = json_object_get(w, "refit_text_accuracy");
			double refit = json_is_number(rj) ? json_number_value(rj) : NAN;
			double ess = json_number_value(json_object_get(w, "ess_share"));
			double ta = rpt_metric(d, "text_accuracy");
			if (json_is_object(w) && !isnan(ta) && isnan(refit))
				/* scored with a model file: no proxy was re-fitted on the weights
				 */
				step(
				    ns, "weights",
				    "%sTrain with the %s weights (weights.csv), %.0f%% of the "
				    "effective "
				    "sample kept. Their effect on a re-fitted text-only proxy (now "
				    "%.1f%%) is not measured here: the scores come from a model "
				    "file "
				    "(--model), so nothing was trained on the weighted data; an "
				    "audit "
				    "without --model of a sample measures it.",
				    pre, m, 100 * ess, 100 * ta);
			else if (json_is_object(w) && !isnan(ta))
				step(
				    ns, "weights",
				    "%sTrain with the %s weights (weights.csv): on the weighted "
				    "data a "
				    "text-only proxy falls from %.1f%% to %.1f%% accuracy, keeping "
				    "%.0f%% of the effective sample.",
				    pre, m, 100 * ta, 100 * refit, 100 * ess);
		} else if (m) {
			step(ns, "weights",
			     "%sNo reweighting needed: the text-only proxy is not above chance, so "
			     "there is no shortcut for weights to counter.",
			     pre);
		}
		if (rpt_dataset_mm_informative(d) == 0) {
			double drop = rpt_metric(d, "image_reliance.swap_accuracy_drop");
			char why[96] = "";
			if (!isnan(drop))
				snprintf(why, sizeof why,
				         " (accuracy drop %+.1f points when the image is swapped)",
				         100 * drop);
			step(ns, "embeddings",
			     "%sBring your own image embeddings (mmaudit embed): with the built-in "
			     "colour/texture features the MM-RM does not use the image%s.",
			     pre, why);
		}
	}
}
