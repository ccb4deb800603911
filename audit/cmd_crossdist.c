/* cmd_crossdist.c - `mmaudit crossdist`: train on each dataset, test on every dataset. */
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/cli.h"
#include "crossdist.h"
#include "store_runs.h"

static const char usage_text[] =
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

/* the options of aud_command.opts (audit/cli.h), in getopt order */
static const char options[] =
    "db datasets>dataset dataset methods=m bootstrap=B jtt-lambda=L "
    "select:S test-fraction=f seed epochs threads json quiet features help";

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

typedef struct crossdist_cmd {
	eng_crossdist_opts co;
	int select_;
} crossdist_cmd;

static int crossdist_option(void *self, aud_args *a, int c, const char *arg)
{
	(void)a;
	crossdist_cmd *xc = self;
	long long v;
	double x;
	switch (c) {
	case 'm': {
		unsigned mk;
		if (eng_methods_parse(arg, &mk))
			return aud_usage_error(
			    "crossdist",
			    "--methods '%s': use all, or a list of text, standard, "
			    "shortcut-aware, poe, debias, jtt",
			    arg);
		xc->co.methods = (int)mk;
		return 0;
	}
	case 'B':
		if (aud_parse_int("crossdist", "--bootstrap", arg, 0, 100000, &v))
			return AUD_EXIT_USAGE;
		xc->co.bootstrap = (int)v;
		return 0;
	case 'L':
		if (aud_parse_double("crossdist", "--jtt-lambda", arg, 0.01, 1e6, &x))
			return AUD_EXIT_USAGE;
		xc->co.train.jtt_lambda = (float)x;
		return 0;
	case 'S':
		xc->select_ = 1;
		return 0;
	case 'f':
		if (aud_parse_double("crossdist", "--test-fraction", arg, 0.01, 0.99,
		                     &xc->co.test_fraction))
			return AUD_EXIT_USAGE;
		return 0;
	}
	return AUD_NOT_MINE;
}

static void crossdist_help(void *self)
{
	printf(usage_text, ((crossdist_cmd *)self)->co.train.epochs);
}

static int crossdist_run(void *self, aud_args *a)
{
	crossdist_cmd *xc = self;
	xc->co.command = aud_command_line;
	int64_t run_id = 0;
	int e = eng_crossdist_run(a->ws, a->ids, a->nids, &xc->co, &a->prog, &run_id, &a->err);
	aud_progress_done(&a->ap);
	if (e)
		return e;
	char *text = NULL;
	json_t *root = NULL;
	if (!eng_run_metrics(a->ws, run_id, &text, &a->err) && text)
		root = json_loads(text, 0, NULL);
	free(text);
	if (!root) {
		e = eng_err_set(&a->err, ENG_EINTERNAL, "crossdist run %lld has no metrics",
		                (long long)run_id);
	} else if (a->json) {
		char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		if (s)
			puts(s);
		free(s);
	} else {
		print_text(root, xc->select_);
	}
	json_decref(root);
	return e;
}

int aud_cmd_crossdist(int argc, char **argv)
{
	crossdist_cmd xc = {0};
	eng_crossdist_opts_default(&xc.co);
	xc.co.train.seed = 1;
	aud_args a = {.to = {&xc.co.train.seed, &xc.co.threads, &xc.co.train.epochs, NULL, NULL,
	                     &xc.co.features}};
	return aud_command_main(&(const aud_command){"crossdist", NULL, crossdist_help, options,
	                                             AUD_F_DB | AUD_F_DATASETS,
	                                             "--db PATH is required", crossdist_option,
	                                             NULL, NULL, crossdist_run},
	                        &xc, &a, argc, argv);
}
