/* cmd_weights.c - `mmaudit weights`: per-pair training weights that counter the text shortcut. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/cli.h"
#include "outfile.h"
#include "reports/rpt_weights.h"

static const char usage_text[] =
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

/* the options of aud_command.opts (audit/cli.h), in getopt order */
static const char options[] = "db out dataset normalize=n method=m help";

typedef struct weights_cmd {
	rpt_weights_norm norm;
	eng_wmethod method;
} weights_cmd;

static int weights_option(void *self, aud_args *a, int c, const char *arg)
{
	(void)a;
	weights_cmd *wc = self;
	if (c == 'n') {
		if (!strcmp(arg, "mean"))
			wc->norm = RPT_NORM_MEAN;
		else if (!strcmp(arg, "max"))
			wc->norm = RPT_NORM_MAX;
		else if (!strcmp(arg, "none"))
			wc->norm = RPT_NORM_NONE;
		else
			return aud_usage_error(
			    "weights", "--normalize wants mean, max or none, got '%s'", arg);
		return 0;
	}
	if (c != 'm')
		return AUD_NOT_MINE;
	if (eng_wmethod_parse(arg, &wc->method))
		return aud_usage_error(
		    "weights", "--method wants auto, debias, jtt, sfc or none, got '%s'", arg);
	return 0;
}

static int weights_run(void *self, aud_args *a)
{
	weights_cmd *wc = self;
	size_t len = strlen(a->out), n = a->nids;
	rpt_weights_format fmt =
	    len >= 6 && !strcmp(a->out + len - 6, ".jsonl") ? RPT_WEIGHTS_JSONL : RPT_WEIGHTS_CSV;
	int64_t rows = 0;
	FILE *f = NULL;
	eng_outset outs = {0};
	int e = 0;
	rpt_weights_choice *ch = calloc(n ? n : 1, sizeof *ch);
	if (!ch)
		e = eng_err_set(&a->err, ENG_ENOMEM, "out of memory");
	if (!e)
		e = eng_out_open(&outs, a->out, &f, &a->err);
	if (!e)
		e = rpt_weights_write(a->ws, a->ids, n, wc->method, fmt, wc->norm, f, &rows, ch,
		                      NULL, &a->err);
	if (!e)
		e = eng_out_commit(&outs, &a->err);
	else
		eng_out_abort(&outs);
	for (size_t i = 0; !e && i < n; i++)
		aud_eprintf("mmaudit weights: dataset '%s': method %s%s (%s)\n", ch[i].dataset,
		            wc->method == ENG_WM_AUTO ? "auto -> " : "",
		            eng_wmethod_name(ch[i].used), ch[i].reason);
	if (!e)
		aud_eprintf("mmaudit weights: wrote %lld weights to %s\n", (long long)rows, a->out);
	free(ch);
	return e;
}

int aud_cmd_weights(int argc, char **argv)
{
	weights_cmd wc = {RPT_NORM_MEAN, ENG_WM_AUTO};
	aud_args a = {0};
	return aud_command_main(
	    &(const aud_command){"weights", usage_text, NULL, options,
	                         AUD_F_DB | AUD_F_OUT_FILE | AUD_F_OUT | AUD_F_DATASETS,
	                         "--db PATH and --out FILE are required", weights_option, NULL,
	                         NULL, weights_run},
	    &wc, &a, argc, argv);
}
