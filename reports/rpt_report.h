/* rpt_report.h - `mmaudit report` as a library call: loads the state, evaluates the gate once and
 * writes summary.json, samples.csv and report.html into a directory.
 *
 * Each file is written to a hidden temporary file in the same directory, flushed and fsync'd;
 * the three are renamed over the final names only when all are complete, so an interrupted or
 * failed report never leaves a half file and a failure (disk full) leaves the previous files.
 * A kill -9 while writing can leave a hidden .NAME.XXXXXX temporary file behind. Does not print. */
#ifndef RPT_REPORT_H
#define RPT_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "outfile.h"
#include "progress.h"
#include "store_scores.h"
#include "workspace.h"
#include "reports/rpt_gate.h"
#include "reports/rpt_integrity.h"

typedef struct rpt_options {
	int top_n;                       /* example cards per list, 1..100 (0 = default 25) */
	rpt_policy policy;               /* gate rules shown in the report and summary.json */
	rpt_integrity_options integrity; /* --by, --position-field, --near-dup-distance */
	/* Optional: also handed every score row samples.csv's scan reads (dataset, run, row),
	 * from the thread that writes samples.csv, before rpt_report_write returns; a non-zero
	 * return fails the report. audit collects weights.csv's rows this way instead of
	 * scanning them again. */
	int (*score_tee)(void *ctx, int64_t dataset_id, int64_t run_id, const eng_score_row *row);
	void *score_tee_ctx;
} rpt_options;

typedef struct rpt_report_info {
	int64_t csv_rows;      /* data rows in samples.csv */
	int64_t near_dup_rows; /* data rows in near_duplicates.csv */
	size_t html_bytes;     /* size of report.html */
	int n_rules;           /* rules in the policy */
	int gate_failed;       /* the verdict's gate result */
	int n_scored;          /* datasets with a score run */
} rpt_report_info;

/* Writes the four files (summary.json, samples.csv, report.html, near_duplicates.csv) into dir
 * (created with its parents when missing). ENG_EINPUT when the workspace has no score run ("run
 * mmaudit score first") or the policy names an unknown dataset; ENG_EIO on write errors. info may
 * be NULL. */
int rpt_report_write(eng_ws *ws, const rpt_options *o, const char *dir, const eng_progress *prog,
                     rpt_report_info *info, eng_err *err);

/* As rpt_report_write, but the three files are left as temporary files in set (not renamed):
 * the caller adds its own outputs and replaces them all together with eng_out_commit, or drops
 * them with eng_out_abort. */
int rpt_report_write_set(eng_ws *ws, const rpt_options *o, const char *dir,
                         const eng_progress *prog, rpt_report_info *info, eng_outset *set,
                         eng_err *err);

#endif
