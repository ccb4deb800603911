/* cmd_weights.c - `mmaudit weights`: per-pair training weights that counter the text shortcut. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/cli.h"
#include "outfile.h"
#include "reports/rpt_weights.h"

static const char *usage_text =
    "usage: mmaudit weights --db PATH --out FILE.csv|FILE.jsonl [--dataset NAME]...\n"
    "                       [--method auto|debias|jtt|sfc|none] [--normalize mean|max|none]\n\n"
    "Writes one weight per pair, keyed by the pair's id from the input file, for your own\n"
    "reward-model trainer, from the held-out scores of the newest score run. What each method\n"
    "does to the data (weighted blind baselines, a text proxy re-fitted on the weighted data,\n"
    "effective sample size) is in summary.json weights.<method> and the report.\n\n"
    "  --db PATH          workspace (required; run `mmaudit score` first)\n"
    "  --out FILE         .jsonl writes JSON lines, anything else CSV with header\n"
    "                     dataset,id,weight,sfc,p_text,p_mm,category,method\n"
    "  --method M         debias: 1 - p_text (example reweighting against the text-only proxy,\n"
    "                     Utama et al. 2020); jtt: the proxy's held-out errors upweighted by\n"
    "                     n_right / n_wrong (Liu et al. 2021); sfc: the paper's L_t / (L_t + L),\n"
    "                     only meaningful when the MM-RM uses the image; none: all 1;\n"
    "                     auto (default): sfc when the counterfactual image test says the MM-RM\n"
    "                     uses the image, else debias (the choice is printed)\n"
    "  --dataset NAME     dataset(s) (default: all); repeat or comma-separate\n"
    "  --normalize MODE   mean: weights average 1 per dataset (default); max: largest is 1;\n"
    "                     none: raw sfc in (0, 1)\n";

int aud_cmd_weights(int argc, char **argv)
{
	static const struct option opts[] = {{"db", required_argument, 0, 'd'},
	                                     {"out", required_argument, 0, 'o'},
	                                     {"dataset", required_argument, 0, 'D'},
	                                     {"normalize", required_argument, 0, 'n'},
	                                     {"method", required_argument, 0, 'm'},
	                                     {"help", no_argument, 0, 'h'},
	                                     {0, 0, 0, 0}};
	const char *db = NULL, *out = NULL;
	char *datasets = NULL;
	rpt_weights_norm norm = RPT_NORM_MEAN;
	eng_wmethod method = ENG_WM_AUTO;
	int c, rc = AUD_EXIT_USAGE;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			db = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'D':
			if (aud_list_append(&datasets, optarg))
				goto done;
			break;
		case 'n':
			if (!strcmp(optarg, "mean"))
				norm = RPT_NORM_MEAN;
			else if (!strcmp(optarg, "max"))
				norm = RPT_NORM_MAX;
			else if (!strcmp(optarg, "none"))
				norm = RPT_NORM_NONE;
			else {
				aud_usage_error("weights",
				                "--normalize wants mean, max or none, got '%s'",
				                optarg);
				goto done;
			}
			break;
		case 'm':
			if (eng_wmethod_parse(optarg, &method)) {
				aud_usage_error(
				    "weights",
				    "--method wants auto, debias, jtt, sfc or none, got '%s'",
				    optarg);
				goto done;
			}
			break;
		case 'h':
			fputs(usage_text, stdout);
			rc = AUD_EXIT_OK;
			goto done;
		default:
			aud_usage_error("weights", "unknown option");
			goto done;
		}
	}
	if (!db || !out) {
		aud_usage_error("weights", "--db PATH and --out FILE are required");
		goto done;
	}
	if (optind < argc) {
		aud_usage_error("weights", "unexpected argument '%s'", argv[optind]);
		goto done;
	}
	size_t len = strlen(out);
	rpt_weights_format fmt =
	    len >= 6 && !strcmp(out + len - 6, ".jsonl") ? RPT_WEIGHTS_JSONL : RPT_WEIGHTS_CSV;
	eng_err err = {0};
	eng_ws *ws = NULL;
	int64_t *ids = NULL, rows = 0;
	size_t n = 0;
	rpt_weights_choice *ch = NULL;
	FILE *f = NULL;
	eng_outset outs = {0};
	int e = eng_out_check(out, &err);
	if (!e)
		e = aud_open_datasets(db, datasets, &ws, &ids, &n, &err);
	if (!e && !(ch = calloc(n ? n : 1, sizeof *ch)))
		e = eng_err_set(&err, ENG_ENOMEM, "out of memory");
	if (!e)
		e = eng_out_open(&outs, out, &f, &err);
	if (!e)
		e = rpt_weights_write(ws, ids, n, method, fmt, norm, f, &rows, ch, &err);
	if (!e)
		e = eng_out_commit(&outs, &err);
	else
		eng_out_abort(&outs);
	for (size_t i = 0; !e && i < n; i++)
		aud_eprintf("mmaudit weights: dataset '%s': method %s%s (%s)\n", ch[i].dataset,
		            method == ENG_WM_AUTO ? "auto -> " : "", eng_wmethod_name(ch[i].used),
		            ch[i].reason);
	if (!e)
		aud_eprintf("mmaudit weights: wrote %lld weights to %s\n", (long long)rows, out);
	free(ch);
	rc = e ? aud_fail("weights", &err) : AUD_EXIT_OK;
	free(ids);
	eng_ws_close(ws);
done:
	free(datasets);
	return rc;
}
