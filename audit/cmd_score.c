/* cmd_score.c - `mmaudit score`: cross-fitted held-out scores per pair and dataset metrics. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/cli.h"
#include "outfile.h"
#include "modelfile.h"
#include "score.h"
#include "reports/rpt_csv.h"
#include "store_features.h"
#include "store_runs.h"
#include "store_scores.h"

static const char usage_text[] =
    "usage: mmaudit score --db PATH [--dataset NAME]... [--folds K] [--epochs N] [--seed S]\n"
    "                     [--confident C] [--threads T] [--hash-bits B] [--out FILE.csv]\n"
    "                     [--features F] [--min-image-gain G] [--methods M,...] [--json]\n"
    "                     [--model MODEL.mma [--stdin [--images DIR]]] [--quiet]\n\n"
    "Cross-fits the text-only proxy, the multimodal RM and the shortcut-aware multimodal RM on\n"
    "each dataset (K folds split by image, by prompt when there is none) so every pair gets\n"
    "held-out scores: p_text (the shortcut score), p_mm, sfc and a category. Records the run.\n\n"
    "  --db PATH        workspace (required)\n"
    "  --dataset NAME   dataset(s) to score; repeat or comma-separate (default: all)\n"
    "  --folds K        cross-fitting folds, 2..100 (default 5)\n"
    "  --epochs N       training epochs per model (default %d = auto: 8 up to 40k training pairs,\n"
    "                   then clamp(ceil(320000 / training pairs), 2, 8))\n"
    "  --seed S         random seed (default 1); same seed + threads = identical scores\n"
    "  --confident C    category threshold in (0.5, 1) (default 0.8): text-shortcut when\n"
    "                   p_text >= C; suspect-label when p_text and p_mm <= 1 - C\n"
    "  --min-image-gain G  the MM-RM counts as using the image (mm_informative) when the\n"
    "                   95%% interval of its accuracy drop with another pair's image lies\n"
    "                   wholly above G (default 0.01); otherwise SFD, needs-image and the\n"
    "                   sfc weights are marked not informative\n"
    "  --methods M,...  also cross-fit these debiasing MM-RMs (datasets with images): poe,\n"
    "                   debias, jtt, or all; their held-out accuracy and SFD go to the metrics\n"
    "                   (\"methods\"); compare them out of distribution with `mmaudit crossdist`\n"
    "  --model FILE     score with the fold models of `mmaudit train` instead of cross-fitting\n"
    "                   (a shard of a big dataset): a pair in the model's training sample gets\n"
    "                   its fold's model, any other the mean of the K models; folds, seed,\n"
    "                   features and thresholds come from the model; re-fits of the weights\n"
    "                   are not measured (nothing is trained)\n"
    "  --stdin          with --model, no --db: a filter (Spark RDD.pipe, Ray, GNU parallel):\n"
    "                   records of any shape `index` accepts on stdin, one JSON line of scores\n"
    "                   per record on stdout in input order ({line, id, p_text, p_mm, p_sa,\n"
    "                   sfc, category}, or {line, pairs, errors}); images by data: URI or path\n"
    "                   (relative to --images DIR, default the current folder)\n"
    "  --threads T      training threads (default: all cores)\n"
    "  --hash-bits B    text feature hash buckets 2^B, 12..24 (default %d)\n"
    "  --out FILE.csv   also write per-pair scores: dataset,id,p_text,p_mm,sfc,category,p_sa,fold\n"
    "  --features F     auto, builtin, embeddings or both: which features the models see when\n"
    "                   `mmaudit embed` loaded vectors; embeddings = they replace the built-in\n"
    "                   features of their kind, both = next to them, auto (default) = image\n"
    "                   vectors replace the pixel features, text vectors join the word features\n"
    "  --json           print dataset metrics as JSON on stdout\n"
    "  --quiet          no progress on stderr\n";

/* the options of aud_command.opts (audit/cli.h), in getopt order */
static const char options[] = "db dataset folds epochs seed confident=c threads hash-bits out json "
                              "quiet features min-image-gain=G methods=M model=L stdin:I images=P "
                              "help";

/* A NULL score (p_mm, sfc, p_sa of a text-only dataset) is an empty cell. */
static void csv_num(FILE *f, double v)
{
	if (isnan(v))
		fputc(',', f);
	else
		fprintf(f, ",%.6f", v);
}

static int csv_row(void *ctx, const eng_score_row *r)
{
	FILE *f = ctx;
	rpt_csv_cell(f, r->dataset);
	fputc(',', f);
	rpt_csv_cell(f, r->ext_id);
	csv_num(f, r->p_text);
	csv_num(f, r->p_mm);
	csv_num(f, r->sfc);
	fprintf(f, ",%s", r->category);
	csv_num(f, r->p_sa);
	fprintf(f, ",%d\n", r->fold);
	return 0;
}

static int write_scores_csv(eng_ws *ws, int64_t run_id, const char *path, eng_err *err)
{
	eng_outset outs = {0};
	FILE *f;
	if (eng_out_open(&outs, path, &f, err))
		return err->code;
	fputs("dataset,id,p_text,p_mm,sfc,category,p_sa,fold\n", f);
	int rc = eng_scores_each(ws, run_id, 0, ENG_SCORES_BY_PAIR, csv_row, f, err);
	if (!rc)
		return eng_out_commit(&outs, err);
	eng_out_abort(&outs);
	return rc;
}

static double jnum(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return json_is_number(v) ? json_number_value(v) : NAN;
}

static void pct(const char *label, double v)
{
	if (isfinite(v))
		printf("  %-34s %6.1f%%\n", label, 100 * v);
	else
		printf("  %-34s    n/a\n", label);
}

static json_t *real_or_null(double v)
{
	return isnan(v) ? json_null() : json_real(v);
}

static int top_feature_row(void *ctx, const eng_feature_row *f)
{
	json_t *share = real_or_null(f->present);
	json_array_append_new(ctx, json_pack("{s:I, s:s, s:f, s:O, s:o, s:o}", "rank",
	                                     (json_int_t)f->rank, "feature", f->feature, "weight",
	                                     f->weight, "present", share, "present_share", share,
	                                     "acc_present", real_or_null(f->acc_present)));
	return 0;
}

/* The run's top features of dataset ds_id as JSON objects, as summary.json has them: {rank,
 * feature, weight, present, present_share (the same share: pairs where the feature differs
 * between the answers), acc_present}. NULL when they cannot be read. */
static json_t *top_features_json(eng_ws *ws, int64_t run_id, int64_t ds_id, eng_err *err)
{
	json_t *arr = json_array();
	if (eng_features_each(ws, run_id, ds_id, -1, top_feature_row, arr, err) &&
	    !json_array_size(arr)) {
		json_decref(arr);
		return NULL;
	}
	return arr;
}

typedef struct metrics_ctx {
	eng_ws *ws;
	int64_t run_id;
	int json;
	json_t *arr;
	eng_err *err;
} metrics_ctx;

static int metrics_row(void *ctx, const eng_run_dataset *d)
{
	metrics_ctx *mc = ctx;
	json_t *m = json_loads(d->metrics, 0, NULL);
	if (!m)
		return 0;
	json_t *o = json_pack("{s:s}", "name", d->name);
	json_object_update(o, m);
	json_decref(m);
	if (mc->json) {
		json_t *tf = top_features_json(mc->ws, mc->run_id, d->dataset_id, mc->err);
		if (tf)
			json_object_set_new(o, "top_features", tf);
	}
	json_array_append_new(mc->arr, o);
	return 0;
}

static int print_metrics(eng_ws *ws, int64_t run_id, int json, eng_err *err)
{
	metrics_ctx mc = {ws, run_id, json, json_array(), err};
	int rc = eng_run_datasets_each(ws, run_id, 0, metrics_row, &mc, err);
	json_t *arr = mc.arr;
	if (rc && !json_array_size(arr)) {
		json_decref(arr);
		return rc;
	}
	if (json) {
		json_t *root =
		    json_pack("{s:I, s:o}", "run_id", (json_int_t)run_id, "datasets", arr);
		char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		json_decref(root);
		if (!s)
			return eng_err_set(err, ENG_ENOMEM, "out of memory");
		puts(s);
		free(s);
		return 0;
	}
	size_t i;
	json_t *o;
	json_array_foreach(arr, i, o)
	{
		printf("%s (%lld pairs, run %lld)\n", json_string_value(json_object_get(o, "name")),
		       (long long)jnum(o, "pairs"), (long long)run_id);
		pct("text-only accuracy (held out)", jnum(o, "text_accuracy"));
		pct("multimodal RM accuracy", jnum(o, "mm_accuracy"));
		pct("shortcut-aware MM-RM accuracy", jnum(o, "sa_accuracy"));
		pct("shortcut rate (text-shortcut pairs)", jnum(o, "shortcut_rate"));
		if (isfinite(jnum(o, "sfd")))
			printf("  %-34s %+6.1f points\n", "SFD", 100 * jnum(o, "sfd"));
		else
			printf("  %-34s    n/a\n", "SFD");
		json_t *b = json_object_get(o, "blind");
		pct("blind: pick the longer answer", jnum(b, "pick_longer"));
		pct("blind: pick the shorter answer", jnum(b, "pick_shorter"));
	}
	json_decref(arr);
	return 0;
}

static void note_stderr(void *ctx, const char *msg)
{
	(void)ctx;
	aud_eprintf("mmaudit score: %s\n", msg);
}

typedef struct score_cmd {
	eng_score_opts so;
	const char *model, *images;
	int from_stdin;
} score_cmd;

static int score_option(void *self, aud_args *a, int c, const char *arg)
{
	(void)a;
	score_cmd *sc = self;
	double x;
	switch (c) {
	case 'c':
		if (aud_parse_double("score", "--confident", arg, 0.5000001, 0.9999999, &x))
			return AUD_EXIT_USAGE;
		sc->so.confident = x;
		return 0;
	case 'L':
		sc->model = arg;
		return 0;
	case 'I':
		sc->from_stdin = 1;
		return 0;
	case 'P':
		sc->images = arg;
		return 0;
	case 'M': {
		unsigned mk;
		if (eng_methods_parse(arg, &mk))
			return aud_usage_error(
			    "score", "--methods '%s': use all, or a list of poe, debias, jtt", arg);
		sc->so.extra_methods = mk & ((1u << ENG_METHOD_POE) | (1u << ENG_METHOD_DEBIAS) |
		                             (1u << ENG_METHOD_JTT));
		return 0;
	}
	case 'G':
		if (aud_parse_double("score", "--min-image-gain", arg, 0, 1, &x))
			return AUD_EXIT_USAGE;
		sc->so.min_image_gain = x;
		return 0;
	}
	return AUD_NOT_MINE;
}

static void score_help(void *self)
{
	score_cmd *sc = self;
	printf(usage_text, sc->so.train.epochs, sc->so.text.hash_bits);
}

/* --stdin: a filter with the model, no workspace */
static int score_early(void *self, aud_args *a)
{
	score_cmd *sc = self;
	if (!sc->from_stdin)
		return AUD_NOT_MINE;
	if (!sc->model || a->db)
		return aud_usage_error("score", "--stdin needs --model MODEL.mma and no --db");
	eng_modelfile *m2 = NULL;
	int r2 = eng_modelfile_read(sc->model, &m2, &a->err);
	if (!r2)
		r2 = aud_score_stdin(m2, sc->images, sc->so.threads, &a->err);
	eng_modelfile_free(m2);
	return r2 ? aud_fail("score", &a->err) : AUD_EXIT_OK;
}

static int score_run(void *self, aud_args *a)
{
	score_cmd *sc = self;
	sc->so.command = aud_command_line;
	sc->so.note = note_stderr;
	eng_modelfile *mf = NULL;
	int64_t run_id = 0;
	int e = a->out ? eng_out_check(a->out, &a->err) : 0;
	if (!e && sc->model)
		e = eng_modelfile_read(sc->model, &mf, &a->err);
	sc->so.model = mf;
	if (!e)
		e = aud_open_datasets(a->db, a->datasets, &a->ws, &a->ids, &a->nids, &a->err);
	if (!e)
		e = eng_score_run(a->ws, a->ids, a->nids, &sc->so, &a->prog, &run_id, &a->err);
	eng_modelfile_free(mf);
	aud_progress_done(&a->ap);
	if (!e && a->out)
		e = write_scores_csv(a->ws, run_id, a->out, &a->err);
	if (!e)
		e = print_metrics(a->ws, run_id, a->json, &a->err);
	return e;
}

int aud_cmd_score(int argc, char **argv)
{
	score_cmd sc = {0};
	eng_score_opts_default(&sc.so);
	sc.so.train.seed = 1;
	aud_args a = {.to = {&sc.so.train.seed, &sc.so.threads, &sc.so.train.epochs, &sc.so.folds,
	                     &sc.so.text.hash_bits, &sc.so.features}};
	return aud_command_main(&(const aud_command){"score", NULL, score_help, options, AUD_F_DB,
	                                             "--db PATH is required", score_option,
	                                             score_early, NULL, score_run},
	                        &sc, &a, argc, argv);
}
