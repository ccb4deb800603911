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
#include "store_cli_runs.h"
#include "store_cli_scores.h"

static const char *usage_text =
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

/* A NULL score (p_mm, sfc, p_sa of a text-only dataset) is an empty cell. */
static void csv_num(FILE *f, double v)
{
	if (isnan(v))
		fputc(',', f);
	else
		fprintf(f, ",%.6f", v);
}

static int csv_row(void *ctx, const eng_cli_score *r)
{
	FILE *f = ctx;
	rpt_csv_cell(f, r->dataset);
	fputc(',', f);
	rpt_csv_cell(f, r->id);
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
	int rc = eng_cli_scores_each(ws, run_id, csv_row, f, err);
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

static int top_feature_row(void *ctx, const eng_cli_top_feature *f)
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
	if (eng_cli_top_features_each(ws, run_id, ds_id, top_feature_row, arr, err) &&
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

static int metrics_row(void *ctx, const eng_cli_run_dataset *d)
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
	int rc = eng_cli_run_datasets_each(ws, run_id, metrics_row, &mc, err);
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

int aud_cmd_score(int argc, char **argv)
{
	static const struct option opts[] = {{"db", required_argument, 0, 'd'},
	                                     {"dataset", required_argument, 0, 'D'},
	                                     {"folds", required_argument, 0, 'k'},
	                                     {"epochs", required_argument, 0, 'e'},
	                                     {"seed", required_argument, 0, 's'},
	                                     {"confident", required_argument, 0, 'c'},
	                                     {"threads", required_argument, 0, 't'},
	                                     {"hash-bits", required_argument, 0, 'b'},
	                                     {"out", required_argument, 0, 'o'},
	                                     {"json", no_argument, 0, 'j'},
	                                     {"quiet", no_argument, 0, 'q'},
	                                     {"features", required_argument, 0, 'X'},
	                                     {"min-image-gain", required_argument, 0, 'G'},
	                                     {"methods", required_argument, 0, 'M'},
	                                     {"model", required_argument, 0, 'L'},
	                                     {"stdin", no_argument, 0, 'I'},
	                                     {"images", required_argument, 0, 'P'},
	                                     {"help", no_argument, 0, 'h'},
	                                     {0, 0, 0, 0}};
	eng_score_opts so;
	eng_score_opts_default(&so);
	so.train.seed = 1;
	const char *db = NULL, *out = NULL, *model = NULL, *images = NULL;
	int from_stdin = 0;
	char *datasets = NULL;
	int json = 0, quiet = 0, c, rc = AUD_EXIT_USAGE;
	long long v;
	double x;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			db = optarg;
			break;
		case 'D':
			if (aud_list_append(&datasets, optarg))
				goto done;
			break;
		case 'k':
			if (aud_parse_int("score", "--folds", optarg, 2, 100, &v))
				goto done;
			so.folds = (int)v;
			break;
		case 'e':
			if (aud_parse_int("score", "--epochs", optarg, 1, 1000, &v))
				goto done;
			so.train.epochs = (int)v;
			break;
		case 's':
			if (aud_parse_int("score", "--seed", optarg, 0, INT64_MAX, &v))
				goto done;
			so.train.seed = (uint64_t)v;
			break;
		case 'c':
			if (aud_parse_double("score", "--confident", optarg, 0.5000001, 0.9999999,
			                     &x))
				goto done;
			so.confident = x;
			break;
		case 'L':
			model = optarg;
			break;
		case 'I':
			from_stdin = 1;
			break;
		case 'P':
			images = optarg;
			break;
		case 'M': {
			unsigned mk;
			if (eng_methods_parse(optarg, &mk)) {
				aud_usage_error(
				    "score",
				    "--methods '%s': use all, or a list of poe, debias, jtt",
				    optarg);
				goto done;
			}
			so.extra_methods =
			    mk & ((1u << ENG_METHOD_POE) | (1u << ENG_METHOD_DEBIAS) |
			          (1u << ENG_METHOD_JTT));
			break;
		}
		case 'G':
			if (aud_parse_double("score", "--min-image-gain", optarg, 0, 1, &x))
				goto done;
			so.min_image_gain = x;
			break;
		case 't':
			if (aud_parse_int("score", "--threads", optarg, 1, 64, &v))
				goto done;
			so.threads = (int)v;
			break;
		case 'b':
			if (aud_parse_int("score", "--hash-bits", optarg, 12, 24, &v))
				goto done;
			so.text.hash_bits = (int)v;
			break;
		case 'o':
			out = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'X':
			if (eng_features_parse(optarg, &so.features)) {
				aud_usage_error(
				    "score",
				    "--features must be auto, builtin, embeddings or both");
				goto done;
			}
			break;
		case 'h':
			printf(usage_text, so.train.epochs, so.text.hash_bits);
			rc = AUD_EXIT_OK;
			goto done;
		default:
			aud_usage_error("score", "unknown option");
			goto done;
		}
	}
	if (from_stdin) {
		if (!model || db) {
			aud_usage_error("score", "--stdin needs --model MODEL.mma and no --db");
			goto done;
		}
		eng_err e2 = {0};
		eng_modelfile *m2 = NULL;
		int r2 = eng_modelfile_read(model, &m2, &e2);
		if (!r2)
			r2 = aud_score_stdin(m2, images, so.threads, &e2);
		eng_modelfile_free(m2);
		rc = r2 ? aud_fail("score", &e2) : AUD_EXIT_OK;
		goto done;
	}
	if (!db) {
		aud_usage_error("score", "--db PATH is required");
		goto done;
	}
	if (optind < argc) {
		aud_usage_error("score", "unexpected argument '%s'", argv[optind]);
		goto done;
	}
	so.command = aud_command_line;
	so.note = note_stderr;
	eng_err err = {0};
	eng_ws *ws = NULL;
	int64_t *ids = NULL, run_id = 0;
	size_t n = 0;
	aud_progress ap;
	aud_progress_init(&ap, quiet);
	eng_progress prog = aud_progress_hook(&ap);
	eng_modelfile *mf = NULL;
	int e = out ? eng_out_check(out, &err) : 0;
	if (!e && model)
		e = eng_modelfile_read(model, &mf, &err);
	so.model = mf;
	if (!e)
		e = aud_open_datasets(db, datasets, &ws, &ids, &n, &err);
	if (!e)
		e = eng_score_run(ws, ids, n, &so, &prog, &run_id, &err);
	eng_modelfile_free(mf);
	aud_progress_done(&ap);
	if (!e && out)
		e = write_scores_csv(ws, run_id, out, &err);
	if (!e)
		e = print_metrics(ws, run_id, json, &err);
	rc = e ? aud_fail("score", &err) : AUD_EXIT_OK;
	free(ids);
	eng_ws_close(ws);
done:
	free(datasets);
	return rc;
}
