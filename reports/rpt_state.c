/* rpt_state.c - loads the newest score metrics per dataset, the newest crossdist run and the runs'
 * metadata from the workspace. Read-only; per-pair rows are left to the streaming writers. */
#include "reports/rpt_state.h"

#include "reports/rpt_integrity.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "safetext.h"
#include "store_datasets.h"
#include "store_runs.h"

const rpt_def rpt_defs[] = {
    {"pairs", "pairs", "Preference pairs of the dataset kept in the workspace at ingest."},
    {"scored_pairs", "scored pairs", "Pairs with held-out scores in the newest score run."},
    {"pairs_without_image", "pairs without image",
     "Pairs whose record had no usable image; they are audited on text alone."},
    {"errors", "ingest errors", "Records rejected at ingest (see `mmaudit info` for file:line)."},
    {"text_accuracy", "text-only accuracy",
     "Share of scored pairs where the held-out text-only proxy prefers the chosen answer "
     "(p_text > 0.5) without seeing the image. Denominator: scored pairs. 0.5 = chance."},
    {"mm_accuracy", "MM-RM accuracy",
     "Share of scored pairs where the held-out standard multimodal reward model prefers the "
     "chosen answer (p_mm > 0.5). Denominator: scored pairs."},
    {"sa_accuracy", "shortcut-aware MM-RM accuracy",
     "Same for the shortcut-aware MM-RM (p_sa > 0.5), trained with per-pair weights "
     "w = eps/2 + L_t/(eps + L_t + L). Denominator: scored pairs."},
    {"shortcut_rate", "shortcut rate",
     "Share of scored pairs in category text-shortcut: the text-only proxy picks the chosen "
     "answer confidently (p_text >= thresholds.shortcut, default 0.8). Denominator: scored pairs."},
    {"sfd", "SFD (shortcut-failure degradation)",
     "MM-RM accuracy on pairs where the text proxy is right minus MM-RM accuracy where it is "
     "wrong, as a difference of fractions (x100 = points). Denominators: n_text_right and "
     "n_text_wrong. null when either side is empty. High = the MM-RM fails exactly where the "
     "text shortcut fails."},
    {"mm_acc_text_right", "MM-RM accuracy where text is right",
     "MM-RM accuracy on the n_text_right pairs where p_text > 0.5."},
    {"mm_acc_text_wrong", "MM-RM accuracy where text is wrong",
     "MM-RM accuracy on the n_text_wrong pairs where p_text <= 0.5."},
    {"has_images", "has images",
     "true when at least one scored pair has an image. A dataset without images trains no "
     "MM-RM: its MM figures are null in summary.json and \"n/a: no images\" in the report."},
    {"needs_image_share", "needs-image share",
     "Share of scored pairs in category needs-image (text-only proxy wrong, MM-RM right). "
     "Denominator: scored pairs."},
    {"mm_informative", "MM-RM informative",
     "true when the counterfactual image test shows the MM-RM uses the image: the 95% interval "
     "of swap_accuracy_drop lies wholly above min_image_gain. When false, SFD, needs-image and "
     "the shortcut-aware figures describe the tool's own proxy, not the data; null without "
     "images."},
    {"min_image_gain", "minimum image gain",
     "The accuracy drop (fraction) the swapped-image test must exceed for the MM-RM to count as "
     "using the image (--min-image-gain, default 0.01)."},
    {"image_reliance.n", "pairs re-scored",
     "Scored pairs with an image whose held-out MM margin was computed again with another image."},
    {"image_reliance.swap_flip_rate", "swap flip rate",
     "Share of re-scored pairs whose MM-RM preference flips when the image is replaced by another "
     "pair's image from the same test fold (a fixed derangement)."},
    {"image_reliance.blank_flip_rate", "blank flip rate",
     "Share of re-scored pairs whose MM-RM preference flips when the image is replaced by a blank "
     "one (the training mean)."},
    {"image_reliance.mean_image_effect", "mean image effect",
     "Mean over re-scored pairs of |margin - margin with the swapped image| (MM-RM margin units)."},
    {"image_reliance.mm_accuracy_true", "MM-RM accuracy, true image",
     "Held-out MM-RM accuracy on the re-scored pairs with their own images."},
    {"image_reliance.mm_accuracy_swapped", "MM-RM accuracy, swapped image",
     "The same pairs scored with another pair's image."},
    {"image_reliance.mm_accuracy_blank", "MM-RM accuracy, blank image",
     "The same pairs scored with a blank image."},
    {"image_reliance.swap_accuracy_drop", "accuracy drop when swapped",
     "mm_accuracy_true - mm_accuracy_swapped on the same n pairs, with a paired 95% interval: "
     "how much the true image helps the MM-RM."},
    {"weights.auto", "method picked by auto",
     "sfc (the paper's weights) when the MM-RM is informative, debias otherwise; auto_reason "
     "says which held."},
    {"weights.pick_longer", "weighted pick-longer",
     "Pick-longer baseline accuracy with each pair counted by its weight (method none: "
     "unweighted)."},
    {"weights.pick_more_formatted", "weighted pick-more-formatted",
     "Pick-more-formatted baseline accuracy with each pair counted by its weight."},
    {"weights.chosen_longer_rate", "weighted chosen-longer rate",
     "Weighted share of pairs whose chosen answer is longer."},
    {"weights.cues.chosen_share", "cue chosen-side share",
     "Of the pairs where a named cue differs between the answers, the weighted share whose chosen "
     "answer has more of it; 50% = the cue no longer points at the chosen answer."},
    {"weights.refit_text_accuracy", "re-fit text-only accuracy",
     "A text-only proxy cross-fitted again on the weighted data, on new folds, its held-out "
     "accuracy scored with the weights: if the shortcut is gone it cannot predict (50% = "
     "chance). For none: the plain held-out text-only accuracy."},
    {"weights.ess", "effective sample size",
     "Kish's ess = (sum w)^2 / sum w^2: how many unweighted pairs the weighted data is worth; "
     "ess_share = ess / n."},
    {"weights.mean_weight_text_shortcut", "mean weight, text-shortcut pairs",
     "Mean weight of the pairs in category text-shortcut; weights that counter the shortcut "
     "give them less than the other pairs."},
    {"weights.mean_weight_other", "mean weight, other pairs",
     "Mean weight of the pairs in the other categories."},
    {"integrity.errors_by_code", "ingest errors by code",
     "Records rejected at ingest per reason code, with the first two file:line of each "
     "(error_examples); `mmaudit info` lists them all."},
    {"integrity.dup_groups", "duplicate groups",
     "Groups of two or more pairs with the same prompt, image and two answers (in either order), "
     "compared after folding ASCII case and whitespace."},
    {"integrity.dup_pairs", "duplicate pairs",
     "Pairs that repeat an earlier pair of their group: sum over groups of (size - 1), as "
     "`mmaudit info` counts dups. dup_group_members counts every member."},
    {"integrity.conflict_groups", "conflicting-label groups",
     "Duplicate groups whose members prefer different answers (A > B in one record, B > A in "
     "another). Every member is scored suspect-label."},
    {"integrity.conflict_pairs", "conflicting pairs", "Pairs in conflicting-label groups."},
    {"integrity.first_position_win_rate", "answer shown first wins",
     "Share of pairs with a known chosen position (chosen_position of judged records, or "
     "--position-field) whose chosen answer was shown first; Wilson 95% interval; "
     "first_position_p_value is the two-sided exact binomial test against 0.5."},
    {"integrity.swap_pairs", "pairs judged in both orders",
     "Duplicate groups in which the two answers were shown in both orders."},
    {"integrity.swap_consistency", "swap consistency",
     "Share of swap_pairs whose verdict named the same answer every time."},
    {"integrity.position_conflicts", "position conflicts",
     "Swap pairs whose verdict named the same slot (first or second) every time: the label "
     "followed the order, not the answers."},
    {"integrity.near_duplicate_images", "near-duplicate images",
     "Image pairs whose thumbnails' 64-bit perceptual hashes (DCT of the luminance) differ in "
     "at most max_distance bits with mean colours within 32/255 per channel and colour layout "
     "grids (4x4 cells x mean RGB) within 0.05: within_pairs inside "
     "the dataset; across_pairs with another dataset (the same image used by both counts); "
     "images_shared_across = this dataset's images with such a match. Listed in "
     "near_duplicates.csv."},
    {"slices.shortcut_rate", "slice shortcut rate",
     "Per metadata value: share of its scored pairs in text-shortcut, with a Wilson 95% interval. "
     "Rows are sorted by it; values past the 30 largest are pooled as (other); (missing) = the "
     "field is absent."},
    {"slices.text_accuracy", "slice text-only accuracy",
     "Per metadata value: share of its scored pairs with p_text > 0.5."},
    {"slices.pick_longer", "slice pick-longer",
     "Per metadata value: accuracy of preferring the longer answer (code points; a tie counts "
     "1/2)."},
    {"slices.spread", "slice spread",
     "Largest minus smallest shortcut rate over the field's slices with n >= 30. Without --by the "
     "report proposes the (up to 3) fields with 2-30 values and the largest spread."},
    {"blind.pick_longer", "pick-longer baseline",
     "Accuracy of always preferring the longer answer (no model, no image). Denominator: scored "
     "pairs."},
    {"blind.pick_shorter", "pick-shorter baseline",
     "Accuracy of always preferring the shorter answer. Denominator: scored pairs."},
    {"blind.pick_more_formatted", "pick-more-formatted baseline",
     "Accuracy of always preferring the answer with more markdown/list formatting."},
    {"chosen_longer_rate", "chosen-longer rate", "Share of pairs whose chosen answer is longer."},
    {"categories", "categories",
     "text-shortcut: text-only right and confident; needs-image: text-only wrong, MM-RM right; "
     "suspect-label: both confidently wrong; ambiguous: otherwise."},
    {"shortcut_score", "shortcut score (p_text)",
     "sigmoid of the held-out text-only margin: the probability that a text-only model prefers "
     "the chosen answer without seeing the image, from a model that never saw the pair."},
    {"p_mm", "p_mm", "sigmoid of the held-out standard MM-RM margin."},
    {"sfc", "sfc",
     "L_t / (L + L_t) at the held-out margins (L_t text-only loss, L MM-RM loss): "
     "near 1 where the text shortcut fails, near 0 where text alone suffices."},
    {"interval95", "95% interval",
     "Wilson score interval at 95% for a rate with its denominator n."},
    {"gate.ci95", "gate interval",
     "The 95% interval each gate rule is judged on (FAIL wholly above the threshold, PASS wholly "
     "at or below, WARN otherwise): Wilson with n = scored pairs for shortcut_rate and "
     "text_accuracy; for sfd Newcombe's hybrid score interval (1998, method 10) for the "
     "difference of two independent proportions, mm_acc_text_right over n_text_right minus "
     "mm_acc_text_wrong over n_text_wrong, from their two Wilson intervals; for the o.o.d. gap "
     "(own test split minus the mean of the k other cells) a normal approximation, "
     "gap -+ 1.96 sqrt(a_d(1-a_d)/n_d + sum_j a_j(1-a_j)/n_j / k^2), cells taken as "
     "independent."},
    {"crossdist.accuracy", "cross-distribution accuracy",
     "accuracy[i][j]: trained on dataset i's train split, tested on dataset j's test split "
     "(split by image)."},
    {"crossdist.iid_mean", "i.i.d. mean",
     "Mean of the diagonal (train and test on the same dataset)."},
    {"crossdist.ood_mean", "o.o.d. mean", "Mean of the off-diagonal cells; null with one dataset."},
    {"crossdist.gap", "o.o.d. gap", "iid_mean - ood_mean: the accuracy lost out of distribution."},
    {"crossdist.sfd_mean", "mean SFD", "Mean SFD over the cells where it is defined."},
    {"crossdist.n", "test pairs per cell",
     "n[i][j]: pairs of dataset j's test split that cell (i, j) was scored on, after the leakage "
     "exclusions."},
    {"crossdist.sfd", "SFD per cell",
     "sfd[i][j]: SFD of the method trained on dataset i, on dataset j's test split; null where "
     "undefined (no pair on one side) or true by construction (the text-only proxy itself)."},
    {"crossdist.iid_mean_ci95", "interval of the i.i.d. mean",
     "95% percentile bootstrap interval of iid_mean: crossdist.bootstrap resamples of each test "
     "split's pairs, the trained models fixed."},
    {"crossdist.ood_mean_ci95", "interval of the o.o.d. mean",
     "95% percentile bootstrap interval of ood_mean, on the same resamples."},
    {"crossdist.ood_vs_standard", "o.o.d. gain over standard",
     "ood_mean of the method minus ood_mean of the standard MM-RM (a fraction; the report shows "
     "points)."},
    {"crossdist.ood_vs_standard_ci95", "interval of the gain",
     "Paired 95% bootstrap interval of ood_vs_standard: both o.o.d. means taken on the same "
     "resamples, the difference's 2.5th and 97.5th percentiles."},
    {"crossdist.bootstrap", "bootstrap resamples",
     "Number of bootstrap resamples behind every crossdist interval; 0: no intervals."},
    {"crossdist.excluded_test_pairs", "excluded test pairs",
     "Test pairs kept out of the test splits for leakage (the sum of excluded_by_kind)."},
    {"crossdist.ranking", "ranking",
     "The multimodal methods (not the text-only proxy) by o.o.d. mean, best first."},
    {"crossdist.recommendation", "recommendation",
     "The best-ranked method when its gain over standard has a 95% interval wholly above 0 "
     "(beats_standard true); otherwise standard, with the reason."},
    {"crossdist.selection", "leave-one-environment-out selection",
     "For each dataset, the method with the best o.o.d. mean over the other datasets is chosen "
     "and scored on that dataset, trained on each other one; ood_mean is the mean over the "
     "datasets, beside standard_ood_mean. Needs 3 or more datasets."},
    {"crossdist.excluded_by_kind", "leakage excluded",
     "Test pairs kept out of a test split because they share an image (content hash) with "
     "another dataset (shared_image) or, for pairs without an image, their answer pair "
     "(normalized chosen + rejected, either order; shared_answer_pair)."},
    {"crossdist.overlap", "overlap",
     "Per pair of datasets: shared images, shared answer pairs and shared prompts. Shared "
     "prompts are counted only: a generic prompt over different images is not leakage."},
    {"crossdist.split_by", "split by",
     "Per dataset, how it was split train/test: \"group\" (by image, or prompt for text-only "
     "pairs) or \"pair\" (too few groups to hold any out)."},
    {"crossdist.methods.poe", "poe",
     "Product of experts with the text-only proxy: trained on margin_mm + the detached text "
     "margin, scored with the MM branch alone (Clark et al. 2019)."},
    {"crossdist.methods.debias", "debias",
     "Examples reweighted by 1 - p_text of a detached text proxy (Utama et al. 2020)."},
    {"crossdist.methods.jtt", "jtt",
     "Just train twice: the text proxy's training errors upweighted, then the MM-RM trained "
     "again (Liu et al. 2021)."},
    {"crossdist.methods.shortcut-aware", "shortcut-aware",
     "The paper's method: w = eps/2 + L_t / (eps + L_t + L) per pair, losses detached."},
    {"top_features.weight", "feature weight",
     "Weight of the text-only proxy on the feature's chosen-minus-rejected difference; > 0 pushes "
     "toward the chosen answer."},
    {"top_features.feature", "feature",
     "A named style feature, or a hashed word/bigram bucket named by the n-gram with the most "
     "occurrences in that bucket over the dataset's answers (ties: the smaller byte string), so "
     "the same data gives the same names whatever the seed, threads or batch order."},
    {"top_features.present", "present",
     "Share of pairs where the feature differs between the two answers. A feature is listed only "
     "when it is present in at least max(1% of the dataset's pairs, 20 pairs); the top features "
     "are the largest |weight| among those."},
    {"top_features.present_share", "present share", "The same share as present."},
    {"top_features.acc_present", "proxy accuracy when present",
     "Held-out text-only accuracy on the pairs where the feature is present."},
};
const size_t rpt_defs_count = sizeof rpt_defs / sizeof rpt_defs[0];

/* A JSON object parsed from text; NULL for NULL text, bad JSON or a non-object. */
static json_t *parse_object(const char *s)
{
	if (!s)
		return NULL;
	json_t *j = json_loads(s, JSON_DECODE_ANY, NULL);
	if (j && !json_is_object(j)) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

static int add_run(rpt_state *st, int64_t id, eng_err *err)
{
	if (!id || rpt_state_run(st, id))
		return 0;
	eng_run_info ri;
	int rc = eng_run_get(st->ws, id, &ri, err);
	if (rc)
		return rc;
	rpt_run *nr = realloc(st->runs, (st->n_runs + 1) * sizeof *nr);
	if (!nr) {
		eng_run_info_clear(&ri);
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	}
	st->runs = nr;
	st->runs[st->n_runs++] = (rpt_run){
	    .id = ri.id,
	    .kind = ri.kind,
	    .options = ri.options,
	    .versions = ri.versions,
	    .command = ri.command,
	    .started_at = ri.started_at,
	    .finished_at = ri.finished_at,
	    .seed = ri.seed,
	    .seconds = ri.seconds,
	}; /* the strings now belong to the state */
	return 0;
}

typedef struct load_ctx {
	rpt_state *st;
	eng_err *err;
} load_ctx;

/* One dataset row: appended to st->ds with its newest done score run and that run's metrics. */
/* A dataset's metrics text as eng_run_datasets_each hands it over: a malloc'd copy, NULL for NULL.
 */
typedef struct metrics_copy {
	char *text;
	eng_err *err;
} metrics_copy;

static int copy_metrics(void *ctx, const eng_run_dataset *d)
{
	metrics_copy *m = ctx;
	if (d->metrics && !(m->text = strdup(d->metrics)))
		return eng_err_set(m->err, ENG_ENOMEM, "out of memory");
	return 0;
}

static int add_dataset(void *ctx, const eng_dataset_row *row)
{
	rpt_state *st = ((load_ctx *)ctx)->st;
	eng_err *err = ((load_ctx *)ctx)->err;
	rpt_dataset *nd = realloc(st->ds, (st->n_ds + 1) * sizeof *nd);
	if (!nd)
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	st->ds = nd;
	rpt_dataset *d = &st->ds[st->n_ds++];
	memset(d, 0, sizeof *d);
	d->id = row->id;
	d->name = row->name ? strdup(row->name) : NULL;
	if (d->name && !eng_text_is_clean(d->name)) { /* a workspace from before clean names */
		size_t need = eng_text_escape(d->name, (size_t)-1, NULL, 0) + 1;
		char *c = malloc(need);
		if (c)
			eng_text_escape(d->name, (size_t)-1, c, need);
		free(d->name);
		d->name = c;
	}
	d->pairs = row->pairs;
	d->pairs_without_image = row->pairs_without_image;
	d->errors = row->errors;
	if (!d->name)
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	int rc = eng_run_latest(st->ws, ENG_RUN_SCORE, d->id, &d->run_id, err);
	if (rc || !d->run_id)
		return rc;
	metrics_copy m = {NULL, err};
	if ((rc = eng_run_datasets_each(st->ws, d->run_id, d->id, copy_metrics, &m, err))) {
		free(m.text);
		return rc;
	}
	d->metrics = parse_object(m.text);
	free(m.text);
	if (!d->metrics)
		d->metrics = json_object(); /* a done run with unreadable metrics: all NAN */
	st->n_scored++;
	return 0;
}

int rpt_state_load(eng_ws *ws, rpt_state **out, eng_err *err)
{
	*out = NULL;
	rpt_state *st = calloc(1, sizeof *st);
	if (!st)
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	st->ws = ws;
	char *xd = NULL;
	int rc = eng_datasets_each(ws, ENG_DATASETS_COUNTS, add_dataset, &(load_ctx){st, err}, err);
	if (!rc)
		rc = eng_run_latest(ws, ENG_RUN_CROSSDIST, 0, &st->crossdist_run, err);
	if (!rc && st->crossdist_run && !(rc = eng_run_metrics(ws, st->crossdist_run, &xd, err)))
		st->crossdist = parse_object(xd);
	free(xd);
	for (size_t i = 0; i < st->n_ds && !rc; i++)
		rc = add_run(st, st->ds[i].run_id, err);
	if (!rc)
		rc = add_run(st, st->crossdist_run, err);
	if (rc) {
		rpt_state_free(st);
		return rc;
	}
	*out = st;
	return 0;
}

void rpt_state_free(rpt_state *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < st->n_ds; i++) {
		free(st->ds[i].name);
		json_decref(st->ds[i].metrics);
	}
	for (size_t i = 0; i < st->n_runs; i++) {
		rpt_run *r = &st->runs[i];
		free(r->kind);
		free(r->options);
		free(r->versions);
		free(r->command);
		free(r->started_at);
		free(r->finished_at);
	}
	free(st->ds);
	free(st->runs);
	json_decref(st->crossdist);
	rpt_integrity_free(st->integ);
	free(st);
}

const json_t *rpt_metric_json(const rpt_dataset *d, const char *key)
{
	if (!d || !d->metrics)
		return NULL;
	const json_t *j = d->metrics;
	const char *dot = strchr(key, '.');
	if (dot) {
		char head[64];
		size_t n = (size_t)(dot - key);
		if (n >= sizeof head)
			return NULL;
		memcpy(head, key, n);
		head[n] = '\0';
		j = json_object_get(j, head);
		key = dot + 1;
	}
	return json_object_get(j, key);
}

double rpt_metric(const rpt_dataset *d, const char *key)
{
	const json_t *j = rpt_metric_json(d, key);
	return json_is_number(j) ? json_number_value(j) : NAN;
}

int rpt_has_images(const rpt_dataset *d)
{
	const json_t *j = rpt_metric_json(d, "has_images");
	if (json_is_boolean(j))
		return json_is_true(j);
	double n = rpt_metric(d, "pairs_with_image");
	return isnan(n) || n > 0;
}

int rpt_mm_status(const rpt_dataset *d)
{
	if (!rpt_has_images(d))
		return RPT_MM_NO_IMAGES;
	const json_t *j = rpt_metric_json(d, "mm_informative");
	if (!json_is_boolean(j))
		return RPT_MM_UNKNOWN;
	return json_is_true(j) ? RPT_MM_INFORMATIVE : RPT_MM_NOT_INFORMATIVE;
}

const rpt_run *rpt_state_run(const rpt_state *st, int64_t id)
{
	for (size_t i = 0; i < st->n_runs; i++)
		if (st->runs[i].id == id)
			return &st->runs[i];
	return NULL;
}

const rpt_dataset *rpt_state_dataset(const rpt_state *st, const char *name)
{
	for (size_t i = 0; i < st->n_ds; i++)
		if (!strcmp(st->ds[i].name, name))
			return &st->ds[i];
	return NULL;
}

void rpt_wilson(double p, int64_t n, double *lo, double *hi)
{
	eng_wilson95_p(p, (double)n, lo, hi);
}
