/* cmd_crossdist.c - `mmaudit crossdist`: train on each dataset, test on every dataset. */
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/cli.h"
#include "crossdist.h"
#include "store_cli_runs.h"

static const char *usage_text =
    "usage: mmaudit crossdist --db PATH [--datasets A,B,...] [--methods M,...]\n"
    "                         [--test-fraction F] [--seed S] [--epochs N] [--threads T]\n"
    "                         [--features F] [--bootstrap B] [--jtt-lambda L] [--select]\n"
    "                         [--json] [--quiet]\n\n"
    "Splits each dataset train/test by image (prompt when there is none; by pair when a\n"
    "dataset has fewer than 10 such groups), trains every method on every train split and\n"
    "tests on every test split. Prints one accuracy matrix per method (rows: trained on,\n"
    "columns: tested on), the i.i.d. mean (diagonal), the o.o.d. mean (off-diagonal) with 95%%\n"
    "bootstrap intervals, their gap, SFD per cell, the methods ranked by o.o.d. mean and which\n"
    "one to train with. What leaks is kept out of the test splits: a pair whose image occurs in\n"
    "another dataset, or a text-only pair whose answer pair does (a shared generic prompt is not\n"
    "leakage).\n\n"
    "  --datasets A,B   datasets (default: all)\n"
    "  --methods M,...  text, standard, shortcut-aware, poe (product of experts with the text\n"
    "                   proxy), debias (1 - p_text reweighting), jtt (text proxy errors\n"
    "                   upweighted), or all (default: text,standard,shortcut-aware)\n"
    "  --bootstrap B    resamples of the test pairs for the 95%% intervals (default 200)\n"
    "  --jtt-lambda L   jtt's upweighting of the text proxy's errors (default: n_right/n_wrong\n"
    "                   of the training split, which gives right and wrong pairs equal weight)\n"
    "  --select         also print the leave-one-environment-out selection (3+ datasets): the\n"
    "                   recommendation's own o.o.d. figure, measured on environments it did\n"
    "                   not choose from (always in --json)\n"
    "  --test-fraction F  share of images held out per dataset (default 0.2)\n"
    "  --seed S         random seed (default 1)\n"
    "  --epochs N       training epochs (default %d = auto, as in `mmaudit score`)\n"
    "  --threads T      training threads (default: all cores)\n"
    "  --features F     auto, builtin, embeddings or both: which features the models see when\n"
    "                   `mmaudit embed` loaded vectors; embeddings = they replace the built-in\n"
    "                   features of their kind, both = next to them, auto (default) = image\n"
    "                   vectors replace the pixel features, text vectors join the word features\n"
    "  --json           print the matrices as JSON\n"
    "  --quiet          no progress on stderr\n";

static void print_ci(json_t *c)
{
	json_t *lo = json_array_get(c, 0), *hi = json_array_get(c, 1);
	if (json_is_number(lo) && json_is_number(hi))
		printf(" (95%% CI %.1f to %.1f)", 100 * json_number_value(lo),
		       100 * json_number_value(hi));
}

static void print_text(json_t *root, int select_)
{
	json_t *ds = json_object_get(root, "datasets");
	size_t nd = json_array_size(ds);
	const char *m;
	json_t *x;
	json_object_foreach(json_object_get(root, "methods"), m, x)
	{
		printf("%s: accuracy (%%), rows = trained on, columns = tested on\n", m);
		printf("  %-20s", "");
		for (size_t b = 0; b < nd; b++)
			printf(" %10.10s", json_string_value(json_array_get(ds, b)));
		putchar('\n');
		for (size_t a = 0; a < nd; a++) {
			printf("  %-20.20s", json_string_value(json_array_get(ds, a)));
			json_t *row = json_array_get(json_object_get(x, "accuracy"), a);
			for (size_t b = 0; b < nd; b++) {
				json_t *v = json_array_get(row, b);
				if (json_is_number(v))
					printf(" %10.1f", 100 * json_number_value(v));
				else
					printf(" %10s", "n/a");
			}
			putchar('\n');
		}
		double iid = json_number_value(json_object_get(x, "iid_mean"));
		json_t *ood = json_object_get(x, "ood_mean"), *gap = json_object_get(x, "gap");
		json_t *sfd = json_object_get(x, "sfd_mean");
		printf("  i.i.d. mean %.1f%%", 100 * iid);
		print_ci(json_object_get(x, "iid_mean_ci95"));
		if (json_is_number(ood)) {
			printf(", o.o.d. mean %.1f%%", 100 * json_number_value(ood));
			print_ci(json_object_get(x, "ood_mean_ci95"));
			printf(", gap %+.1f points", 100 * json_number_value(gap));
		}
		if (json_is_number(sfd))
			printf(", mean SFD %+.1f points", 100 * json_number_value(sfd));
		printf("\n\n");
	}
	size_t i;
	json_t *rk = json_object_get(root, "ranking");
	if (json_array_size(rk))
		printf("ranking by o.o.d. mean:\n");
	json_array_foreach(rk, i, x)
	{
		printf("  %zu. %-15s %.1f%%", i + 1,
		       json_string_value(json_object_get(x, "method")),
		       100 * json_number_value(json_object_get(x, "ood_mean")));
		print_ci(json_object_get(x, "ood_mean_ci95"));
		json_t *g = json_object_get(x, "ood_vs_standard");
		if (json_is_number(g)) {
			printf(", %+.1f points vs standard", 100 * json_number_value(g));
			print_ci(json_object_get(x, "ood_vs_standard_ci95"));
		}
		putchar('\n');
	}
	json_t *rec = json_object_get(root, "recommendation");
	if (rec)
		printf("recommendation: %s\n", json_string_value(json_object_get(rec, "reason")));
	json_t *sel = json_object_get(root, "selection");
	if (sel && select_) {
		printf("leave-one-environment-out selection: o.o.d. %.1f%%",
		       100 * json_number_value(json_object_get(sel, "ood_mean")));
		print_ci(json_object_get(sel, "ood_mean_ci95"));
		printf(" (standard %.1f%%)\n",
		       100 * json_number_value(json_object_get(sel, "standard_ood_mean")));
		json_array_foreach(json_object_get(sel, "per_environment"), i, x)
		    printf("  held out %-20s chose %-15s %.1f%%\n",
		           json_string_value(json_object_get(x, "held_out")),
		           json_string_value(json_object_get(x, "chosen")),
		           100 * json_number_value(json_object_get(x, "ood_accuracy")));
	}
	json_array_foreach(json_object_get(root, "overlap"), i, x)
	{
		printf("overlap: %s and %s share %lld images, %lld answer pairs and %lld prompts "
		       "(shared images and answer pairs are kept out of the test splits)\n",
		       json_string_value(json_object_get(x, "a")),
		       json_string_value(json_object_get(x, "b")),
		       (long long)json_integer_value(json_object_get(x, "shared_images")),
		       (long long)json_integer_value(json_object_get(x, "shared_answer_pairs")),
		       (long long)json_integer_value(json_object_get(x, "shared_prompts")));
	}
	json_t *sb = json_object_get(root, "split_by");
	json_t *ds2 = json_object_get(root, "datasets");
	json_array_foreach(sb, i, x)
	{
		if (!strcmp(json_string_value(x), "pair"))
			printf("note: dataset '%s' has fewer than 10 distinct images/prompts: "
			       "split by "
			       "pair\n",
			       json_string_value(json_array_get(ds2, i)));
	}
}

int aud_cmd_crossdist(int argc, char **argv)
{
	static const struct option opts[] = {{"db", required_argument, 0, 'd'},
	                                     {"datasets", required_argument, 0, 'D'},
	                                     {"dataset", required_argument, 0, 'D'},
	                                     {"methods", required_argument, 0, 'm'},
	                                     {"bootstrap", required_argument, 0, 'B'},
	                                     {"jtt-lambda", required_argument, 0, 'L'},
	                                     {"select", no_argument, 0, 'S'},
	                                     {"test-fraction", required_argument, 0, 'f'},
	                                     {"seed", required_argument, 0, 's'},
	                                     {"epochs", required_argument, 0, 'e'},
	                                     {"threads", required_argument, 0, 't'},
	                                     {"json", no_argument, 0, 'j'},
	                                     {"quiet", no_argument, 0, 'q'},
	                                     {"features", required_argument, 0, 'X'},
	                                     {"help", no_argument, 0, 'h'},
	                                     {0, 0, 0, 0}};
	eng_crossdist_opts co;
	eng_crossdist_opts_default(&co);
	co.train.seed = 1;
	const char *db = NULL;
	char *datasets = NULL;
	int json = 0, quiet = 0, select_ = 0, c, rc = AUD_EXIT_USAGE;
	long long v;
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
		case 'm': {
			unsigned mk;
			if (eng_methods_parse(optarg, &mk)) {
				aud_usage_error(
				    "crossdist",
				    "--methods '%s': use all, or a list of text, standard, "
				    "shortcut-aware, poe, debias, jtt",
				    optarg);
				goto done;
			}
			co.methods = (int)mk;
			break;
		}
		case 'B':
			if (aud_parse_int("crossdist", "--bootstrap", optarg, 0, 100000, &v))
				goto done;
			co.bootstrap = (int)v;
			break;
		case 'L': {
			double x;
			if (aud_parse_double("crossdist", "--jtt-lambda", optarg, 0.01, 1e6, &x))
				goto done;
			co.train.jtt_lambda = (float)x;
			break;
		}
		case 'S':
			select_ = 1;
			break;
		case 'f':
			if (aud_parse_double("crossdist", "--test-fraction", optarg, 0.01, 0.99,
			                     &co.test_fraction))
				goto done;
			break;
		case 's':
			if (aud_parse_int("crossdist", "--seed", optarg, 0, INT64_MAX, &v))
				goto done;
			co.train.seed = (uint64_t)v;
			break;
		case 'e':
			if (aud_parse_int("crossdist", "--epochs", optarg, 1, 1000, &v))
				goto done;
			co.train.epochs = (int)v;
			break;
		case 't':
			if (aud_parse_int("crossdist", "--threads", optarg, 1, 64, &v))
				goto done;
			co.threads = (int)v;
			break;
		case 'j':
			json = 1;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'X':
			if (eng_features_parse(optarg, &co.features)) {
				aud_usage_error(
				    "crossdist",
				    "--features must be auto, builtin, embeddings or both");
				goto done;
			}
			break;
		case 'h':
			printf(usage_text, co.train.epochs);
			rc = AUD_EXIT_OK;
			goto done;
		default:
			aud_usage_error("crossdist", "unknown option");
			goto done;
		}
	}
	if (!db) {
		aud_usage_error("crossdist", "--db PATH is required");
		goto done;
	}
	if (optind < argc) {
		aud_usage_error("crossdist", "unexpected argument '%s'", argv[optind]);
		goto done;
	}
	co.command = aud_command_line;
	eng_err err = {0};
	eng_ws *ws = NULL;
	int64_t *ids = NULL, run_id = 0;
	size_t n = 0;
	aud_progress ap;
	aud_progress_init(&ap, quiet);
	eng_progress prog = aud_progress_hook(&ap);
	int e = aud_open_datasets(db, datasets, &ws, &ids, &n, &err);
	if (!e)
		e = eng_crossdist_run(ws, ids, n, &co, &prog, &run_id, &err);
	aud_progress_done(&ap);
	if (!e) {
		char *text = NULL;
		json_t *root = NULL;
		if (!eng_cli_run_metrics(ws, run_id, &text, &err) && text)
			root = json_loads(text, 0, NULL);
		free(text);
		if (!root) {
			e = eng_err_set(&err, ENG_EINTERNAL, "crossdist run %lld has no metrics",
			                (long long)run_id);
		} else if (json) {
			char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
			if (s)
				puts(s);
			free(s);
		} else {
			print_text(root, select_);
		}
		json_decref(root);
	}
	rc = e ? aud_fail("crossdist", &err) : AUD_EXIT_OK;
	free(ids);
	eng_ws_close(ws);
done:
	free(datasets);
	return rc;
}
