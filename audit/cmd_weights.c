/* cmd_weights.c - `mmaudit weights`: per-pair training weights that counter the text shortcut. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/cli.h"
#include "reports/rpt_weights.h"

static const char *usage_text =
    "usage: mmaudit weights --db PATH --out FILE.csv|FILE.jsonl [--dataset NAME]...\n"
    "                       [--normalize mean|max|none]\n\n"
    "Writes one weight per pair, keyed by the pair's id from the input file, for your own\n"
    "reward-model trainer: the held-out shortcut-failure coefficient of the newest score run,\n"
    "sfc = eps/2 + L_t / (eps + L_t + L) (the paper's per-sample weight): small where a text-only\n"
    "model already gets the pair right, large where the text shortcut fails.\n\n"
    "  --db PATH          workspace (required; run `mmaudit score` first)\n"
    "  --out FILE         .jsonl writes JSON lines, anything else CSV with header\n"
    "                     dataset,id,weight,sfc,p_text,p_mm,category\n"
    "  --dataset NAME     dataset(s) (default: all); repeat or comma-separate\n"
    "  --normalize MODE   mean: weights average 1 per dataset (default); max: largest is 1;\n"
    "                     none: raw sfc in (0, 1)\n";

int aud_cmd_weights(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"db", required_argument, 0, 'd'},      {"out", required_argument, 0, 'o'},
	    {"dataset", required_argument, 0, 'D'}, {"normalize", required_argument, 0, 'n'},
	    {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
	const char *db = NULL, *out = NULL;
	char *datasets = NULL;
	rpt_weights_norm norm = RPT_NORM_MEAN;
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
	char *tmp = malloc(len + 5);
	FILE *f = NULL;
	int e = tmp ? 0 : eng_err_set(&err, ENG_ENOMEM, "out of memory");
	if (!e) {
		snprintf(tmp, len + 5, "%s.tmp", out);
		e = aud_open_datasets(db, datasets, &ws, &ids, &n, &err);
	}
	if (!e && !(f = fopen(tmp, "w")))
		e = eng_err_set(&err, ENG_EIO, "open '%s': %s", tmp, strerror(errno));
	if (!e)
		e = rpt_weights_write(ws, ids, n, fmt, norm, f, &rows, &err);
	if (f && fclose(f) != 0 && !e)
		e = eng_err_set(&err, ENG_EIO, "write '%s': %s", tmp, strerror(errno));
	if (!e && rename(tmp, out) != 0)
		e = eng_err_set(&err, ENG_EIO, "rename to '%s': %s", out, strerror(errno));
	if (e && f)
		remove(tmp);
	if (!e)
		fprintf(stderr, "mmaudit weights: wrote %lld weights to %s\n", (long long)rows,
		        out);
	rc = e ? aud_fail("weights", &err) : AUD_EXIT_OK;
	free(tmp);
	free(ids);
	eng_ws_close(ws);
done:
	free(datasets);
	return rc;
}
