/* rpt_report.c - orchestrates one report: state, gate evaluation, then the three writers, each
 * into a temporary file renamed into place. Owns no formatting of its own. */
#include "reports/rpt_report.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runs.h"
#include "reports/rpt_csv.h"
#include "reports/rpt_html.h"
#include "reports/rpt_json.h"
#include "outfile.h"
#include "pool.h"

typedef struct job {
	const rpt_state *st;
	const rpt_options *o;
	const rpt_gate_eval *ev;
	const eng_progress *prog;
	rpt_report_info *info;
} job;

static int mkdirs(const char *dir, eng_err *err)
{
	char path[4096];
	if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
		return eng_err_set(err, ENG_EINPUT, "output directory path too long");
	for (char *p = path + 1;; p++) {
		if (*p != '/' && *p)
			continue;
		char c = *p;
		*p = '\0';
		struct stat sb;
		if (mkdir(path, 0777) && errno != EEXIST)
			return eng_err_set(err, ENG_EIO, "create directory '%s': %s", path,
			                   strerror(errno));
		if (stat(path, &sb) || !S_ISDIR(sb.st_mode))
			return eng_err_set(err, ENG_EINPUT, "'%s' exists and is not a directory",
			                   path);
		*p = c;
		if (!c)
			break;
	}
	return 0;
}

typedef int (*writer_fn)(const job *j, FILE *f, eng_err *err);

static int w_json(const job *j, FILE *f, eng_err *err)
{
	return rpt_json_write(j->st, &j->o->policy, j->ev, f, err);
}

static int w_csv(const job *j, FILE *f, eng_err *err)
{
	return rpt_csv_write(j->st, f, j->prog, &j->info->csv_rows, err);
}

static int w_near(const job *j, FILE *f, eng_err *err)
{
	return rpt_neardup_csv_write(j->st, f, &j->info->near_dup_rows, err);
}

static int w_html(const job *j, FILE *f, eng_err *err)
{
	rpt_html_options ho = {.top_n = j->o->top_n ? j->o->top_n : 25};
	return rpt_html_write(j->st, &j->o->policy, j->ev, &ho, f, &j->info->html_bytes, err);
}

/* samples.csv written on its own thread and workspace connection (it is the longest writer). */
typedef struct csv_task {
	job j;
	rpt_state st;
	FILE *f;
	eng_err err;
	int rc;
} csv_task;

static int csv_main(void *arg)
{
	csv_task *t = arg;
	t->rc = w_csv(&t->j, t->f, &t->err);
	return t->rc;
}

int rpt_report_write(eng_ws *ws, const rpt_options *o, const char *dir, const eng_progress *prog,
                     rpt_report_info *info, eng_err *err)
{
	eng_outset set = {0};
	int rc = rpt_report_write_set(ws, o, dir, prog, info, &set, err);
	if (rc) {
		eng_out_abort(&set);
		return rc;
	}
	return eng_out_commit(&set, err);
}

int rpt_report_write_set(eng_ws *ws, const rpt_options *o, const char *dir,
                         const eng_progress *prog, rpt_report_info *info, eng_outset *set,
                         eng_err *err)
{
	rpt_report_info local;
	if (!info)
		info = &local;
	memset(info, 0, sizeof *info);
	rpt_state *st = NULL;
	rpt_gate_eval ev = {0};
	eng_trace("report: state");
	int rc = rpt_state_load(ws, &st, err);
	if (rc)
		return rc;
	st->score_tee = o->score_tee;
	st->score_tee_ctx = o->score_tee_ctx;
	if (!st->n_scored) {
		rc =
		    eng_err_set(err, ENG_EINPUT,
		                "the workspace has no finished score run; run mmaudit score first");
		goto out;
	}
	eng_trace("report: integrity");
	eng_progress_tick(prog, "report: integrity and slices", 0, 0);
	if ((rc = rpt_integrity_load(st, &o->integrity, err)))
		goto out;
	if ((rc = rpt_gate_evaluate(st, &o->policy, &ev, err)))
		goto out;
	info->n_rules = rpt_policy_count(&o->policy);
	info->gate_failed = ev.failed;
	info->n_scored = (int)st->n_scored;
	if ((rc = mkdirs(dir, err)))
		goto out;
	job j = {st, o, &ev, prog, info};
	/* all four are written to temporary files of one set (engine/base/outfile.h) renamed into
	 * place only when every one is complete, so a failure (a full disk) leaves the previous
	 * set of files untouched */
	enum { NFILES = 4 };
	static const char *const names[NFILES] = {"summary.json", "samples.csv", "report.html",
	                                          "near_duplicates.csv"};
	const writer_fn fns[NFILES] = {w_json, w_csv, w_html, w_near};
	FILE *fs[NFILES] = {NULL, NULL, NULL, NULL};
	for (int k = 0; k < NFILES && !rc; k++) {
		char final[4200];
		if (snprintf(final, sizeof final, "%s/%s", dir, names[k]) >= (int)sizeof final)
			rc = eng_err_set(err, ENG_EINPUT, "output directory path too long");
		else
			rc = eng_out_open(set, final, &fs[k], err);
	}
	if (rc)
		goto out;
	/* samples.csv on a second connection, as a background task (pool.h), while this thread
	 * writes the other three; on one connection (an in-memory workspace), or when no thread
	 * starts, the four are written in turn. Determinism: the task writes only samples.csv,
	 * info->csv_rows and its own rc and err, reading the same finished state through its own
	 * connection; the first failure is reported in file order after the join. */
	static const eng_progress silent = {0};
	csv_task *t = calloc(1, sizeof *t);
	eng_ws *ws2 = NULL;
	eng_bg *bg = NULL;
	int threaded = 0;
	if (t && eng_ws_reopen(ws, &ws2, NULL) == 0) {
		/* its one scan of the run's scores and pairs from the file mapped (up to 64 MiB,
		 * the page cache's size) instead of copied into a cold page cache (system time
		 * and page faults). A hint: the rows are the same without it */
		eng_ws_exec(ws2, "PRAGMA mmap_size=67108864", NULL);
		t->st = *st;
		t->st.ws = ws2;
		t->j = j;
		t->j.st = &t->st;
		t->j.prog = &silent;
		t->f = fs[1];
		threaded = eng_bg_start(&bg, csv_main, t) == 0;
	}
	int failed_at = NFILES;
	for (int k = 0; k < NFILES && !rc; k++) {
		if (k == 1 && threaded)
			continue;
		eng_progress_tick(prog,
		                  k == 2   ? "report: report.html"
		                  : k == 3 ? "report: near_duplicates.csv"
		                           : "report: summary.json",
		                  0, 0);
		eng_trace(names[k]);
		rc = fns[k](&j, fs[k], err);
		failed_at = rc ? k : NFILES;
	}
	if (threaded) {
		eng_trace("report: wait for samples.csv");
		eng_bg_join(bg); /* its outcome is in t->rc */
		eng_trace("report: samples.csv written");
		if (t->rc && failed_at > 1) { /* report the first failure in file order */
			rc = t->rc;
			if (err)
				*err = t->err;
		}
	}
	free(t);
	eng_ws_close(ws2);
out:
	rpt_gate_eval_clear(&ev);
	rpt_state_free(st);
	return rc;
}
