/* rpt_json.c - builds summary.json with jansson from the loaded state plus a few streaming
 * queries (top features, input files). Computes nothing the score run did not store, except the
 * Wilson intervals. */
#include "reports/rpt_json.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "mmaudit_config.h"
#include "reports/rpt_integrity.h"
#include "store_features.h"
#include "store_files.h"

static json_t *num(double x)
{
	return isnan(x) || isinf(x) ? json_null() : json_real(x);
}

static json_t *parsed_or_string(const char *s)
{
	if (!s)
		return json_null();
	json_t *j = json_loads(s, JSON_DECODE_ANY, NULL);
	return j ? j : json_string(s);
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *copy_or_null(const json_t *j)
{
	return j ? json_deep_copy(j) : json_null();
}

static json_t *interval(const rpt_dataset *d, const char *key, int64_t n)
{
	double lo, hi;
	rpt_wilson(rpt_metric(d, key), n, &lo, &hi);
	if (isnan(lo))
		return json_null();
	return json_pack("[o, o]", num(lo), num(hi));
}

static json_t *dataset_json(const rpt_state *st, size_t di)
{
	const rpt_dataset *d = &st->ds[di];
	double scored = rpt_metric(d, "pairs");
	int64_t n = isnan(scored) ? 0 : (int64_t)scored;
	const json_t *m = d->metrics;
	json_t *o = json_object();
	json_object_set_new(o, "name", json_string(d->name));
	json_object_set_new(o, "pairs", json_integer(d->pairs));
	json_object_set_new(o, "pairs_without_image", json_integer(d->pairs_without_image));
	json_object_set_new(o, "errors", json_integer(d->errors));
	json_object_set_new(o, "scored_pairs", d->run_id ? json_integer(n) : json_null());
	json_object_set_new(o, "score_run", d->run_id ? json_integer(d->run_id) : json_null());
	static const char *keys[] = {
	    "text_accuracy", "mm_accuracy",       "sa_accuracy",       "shortcut_rate",
	    "sfd",           "mm_acc_text_right", "mm_acc_text_wrong", "chosen_longer_rate"};
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		json_object_set_new(o, keys[i], num(rpt_metric(d, keys[i])));
	double nr = rpt_metric(d, "n_text_right"), nw = rpt_metric(d, "n_text_wrong");
	json_object_set_new(o, "n_text_right",
	                    isnan(nr) ? json_null() : json_integer((json_int_t)nr));
	json_object_set_new(o, "n_text_wrong",
	                    isnan(nw) ? json_null() : json_integer((json_int_t)nw));
	json_object_set_new(
	    o, "blind",
	    json_pack("{s:o, s:o, s:o}", "pick_longer", num(rpt_metric(d, "blind.pick_longer")),
	              "pick_shorter", num(rpt_metric(d, "blind.pick_shorter")),
	              "pick_more_formatted", num(rpt_metric(d, "blind.pick_more_formatted"))));
	json_object_set_new(o, "categories", copy_or_null(json_object_get(m, "categories")));
	json_object_set_new(o, "thresholds", copy_or_null(json_object_get(m, "thresholds")));
	json_t *iv = json_object();
	static const char *rates[] = {"text_accuracy", "mm_accuracy", "sa_accuracy",
	                              "shortcut_rate"};
	for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++)
		json_object_set_new(iv, rates[i], interval(d, rates[i], n));
	json_object_set_new(iv, "mm_acc_text_right",
	                    interval(d, "mm_acc_text_right", isnan(nr) ? 0 : (int64_t)nr));
	json_object_set_new(iv, "mm_acc_text_wrong",
	                    interval(d, "mm_acc_text_wrong", isnan(nw) ? 0 : (int64_t)nw));
	json_object_set_new(o, "interval95", iv);
	/* Issue 12: copied from the metrics as the engine wrote them; absent (older runs) -> null.
	 */
	json_object_set_new(o, "has_images",
	                    d->run_id ? json_boolean(rpt_has_images(d)) : json_null());
	const json_t *inf = json_object_get(m, "mm_informative");
	json_object_set_new(o, "mm_informative",
	                    json_is_boolean(inf) && rpt_has_images(d) ? json_deep_copy(inf)
	                                                              : json_null());
	static const char *copied[] = {"mm_informative_reason", "min_image_gain", "image_reliance",
	                               "weights"};
	for (size_t i = 0; i < sizeof copied / sizeof copied[0]; i++)
		json_object_set_new(o, copied[i], copy_or_null(json_object_get(m, copied[i])));
	json_object_set_new(o, "integrity", rpt_integrity_json(st, di));
	json_object_set_new(o, "slices", rpt_slices_json(st, di));
	json_object_set_new(o, "slices_fields", rpt_slices_meta_json(st, di));
	return o;
}

typedef struct feat_ctx {
	const rpt_dataset *d;
	json_t *arr;
} feat_ctx;

static int add_feature(void *ctx, const eng_feature_row *row)
{
	const feat_ctx *c = ctx;
	json_t *o = json_object();
	json_object_set_new(o, "feature", json_string(row->feature));
	json_object_set_new(o, "weight", num(row->weight));
	json_object_set_new(o, "dataset", json_string(c->d->name));
	json_object_set_new(o, "rank", json_integer(row->rank));
	json_t *share = num(row->present); /* null when NULL */
	json_object_set(o, "present", share);
	json_object_set_new(o, "present_share", share); /* the same: a clearer name */
	json_object_set_new(o, "acc_present", num(row->acc_present));
	json_array_append_new(c->arr, o);
	return 0;
}

static int top_features(const rpt_state *st, json_t *arr, eng_err *err)
{
	int rc = 0;
	for (size_t i = 0; i < st->n_ds && !rc; i++) {
		const rpt_dataset *d = &st->ds[i];
		if (d->run_id)
			rc = eng_features_each(st->ws, d->run_id, d->id, -1, add_feature,
			                       &(feat_ctx){d, arr}, err);
	}
	return rc;
}

static int add_input(void *ctx, const eng_source_file_row *r)
{
	json_array_append_new(ctx, json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I}", "dataset",
	                                     r->dataset, "path", r->path, "sha256", r->sha256,
	                                     "bytes", (json_int_t)r->bytes, "records",
	                                     (json_int_t)r->records, "pairs", (json_int_t)r->pairs,
	                                     "errors", (json_int_t)r->errors));
	return 0;
}

static int inputs(const rpt_state *st, json_t *arr, eng_err *err)
{
	return eng_source_files_each(st->ws, 0, add_input, arr, err);
}

static json_t *gate_json(const rpt_policy *p, const rpt_gate_eval *ev)
{
	json_t *pol = json_object();
	for (int i = 0; i < RPT_RULE_N; i++)
		json_object_set_new(pol, rpt_rule_names[i], num(p->max[i]));
	json_object_set_new(pol, "dataset", p->dataset[0] ? json_string(p->dataset) : json_null());
	json_object_set_new(pol, "strict", json_boolean(p->strict));
	json_t *res = json_array();
	for (size_t i = 0; i < ev->n; i++) {
		const rpt_gate_result *r = &ev->r[i];
		json_t *ci = isnan(r->lo) || isnan(r->hi)
		                 ? json_null()
		                 : json_pack("[o, o]", num(r->lo), num(r->hi));
		json_array_append_new(
		    res, json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:I, s:o}", "rule",
		                   rpt_rule_names[r->rule], "dataset", r->dataset, "status",
		                   rpt_status_names[r->status], "sentence", r->sentence, "observed",
		                   num(r->observed), "ci95", ci, "threshold", num(r->threshold),
		                   "margin", num(r->margin), "n", (json_int_t)r->n, "reason",
		                   r->reason[0] ? json_string(r->reason) : json_null()));
	}
	return json_pack("{s:o, s:o, s:{s:I, s:I, s:I, s:I}, s:b}", "policy", pol, "results", res,
	                 "counts", "fail", (json_int_t)ev->count[RPT_FAIL], "warn",
	                 (json_int_t)ev->count[RPT_WARN], "pass", (json_int_t)ev->count[RPT_PASS],
	                 "not_run", (json_int_t)ev->count[RPT_NOT_RUN], "failed", ev->failed);
}

int rpt_json_build(const rpt_state *st, const rpt_policy *p, const rpt_gate_eval *ev, json_t **out,
                   eng_err *err)
{
	*out = NULL;
	json_t *root = json_object();
	if (!root)
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	rpt_verdict v;
	int n_rules = rpt_policy_count(p);
	rpt_verdict_make(st, ev, n_rules, &v);
	rpt_next_steps ns;
	rpt_next_steps_make(st, &ns);
	json_t *steps = json_array();
	for (size_t i = 0; i < ns.n; i++)
		json_array_append_new(
		    steps, json_pack("{s:s, s:s}", "kind", ns.kind[i], "text", ns.text[i]));
	json_object_set_new(root, "version", json_string(MMAUDIT_VERSION));
	json_object_set_new(
	    root, "verdict",
	    json_pack("{s:s, s:s, s:s, s:o, s:o}", "gate", v.gate, "shortcut_risk", v.risk,
	              "sentence", v.sentence, "mm_informative",
	              v.mm_informative < 0 ? json_null() : json_boolean(v.mm_informative),
	              "next_steps", steps));
	json_t *ds = json_array();
	for (size_t i = 0; i < st->n_ds; i++)
		json_array_append_new(ds, dataset_json(st, i));
	json_object_set_new(root, "datasets", ds);
	if (st->crossdist) {
		json_t *cd = json_deep_copy(st->crossdist);
		json_object_set_new(cd, "run", json_integer(st->crossdist_run));
		json_object_set_new(root, "crossdist", cd);
	}
	json_t *tf = json_array();
	json_object_set_new(root, "top_features", tf);
	json_object_set_new(root, "gate", gate_json(p, ev));
	json_t *runs = json_array();
	for (size_t i = 0; i < st->n_runs; i++) {
		const rpt_run *r = &st->runs[i];
		json_array_append_new(
		    runs, json_pack("{s:I, s:o, s:I, s:o, s:o, s:o, s:o, s:o, s:o}", "id",
		                    (json_int_t)r->id, "kind", str_or_null(r->kind), "seed",
		                    (json_int_t)r->seed, "options", parsed_or_string(r->options),
		                    "versions", parsed_or_string(r->versions), "command",
		                    str_or_null(r->command), "started_at",
		                    str_or_null(r->started_at), "finished_at",
		                    str_or_null(r->finished_at), "seconds", num(r->seconds)));
	}
	json_object_set_new(root, "runs", runs);
	json_t *in = json_array();
	json_object_set_new(root, "inputs", in);
	json_t *defs = json_object();
	for (size_t i = 0; i < rpt_defs_count; i++)
		json_object_set_new(defs, rpt_defs[i].key, json_string(rpt_defs[i].definition));
	json_object_set_new(root, "definitions", defs);
	int rc = top_features(st, tf, err);
	if (!rc)
		rc = inputs(st, in, err);
	if (rc) {
		json_decref(root);
		return rc;
	}
	*out = root;
	return 0;
}

int rpt_json_write(const rpt_state *st, const rpt_policy *p, const rpt_gate_eval *ev, FILE *f,
                   eng_err *err)
{
	json_t *root = NULL;
	int rc = rpt_json_build(st, p, ev, &root, err);
	if (rc)
		return rc;
	if (json_dumpf(root, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12)) ||
	    fputc('\n', f) == EOF || ferror(f))
		rc = eng_err_set(err, ENG_EIO, "write summary.json: %s", strerror(errno));
	json_decref(root);
	return rc;
}
