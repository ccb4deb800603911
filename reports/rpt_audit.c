/* rpt_audit.c - the pipeline of `mmaudit audit` (rpt_audit.h): index, near-duplicate hashes,
 * embeddings, score, crossdist, then the report set and weights.csv, the latter on its own
 * connection and thread. It neither parses options nor prints. */
#include "reports/rpt_audit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "crossdist.h"
#include "neardup.h"
#include "outfile.h"
#include "runs.h"

static int mkdir_p(const char *dir, eng_err *err)
{
	char path[4096];
	if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
		return eng_err_set(err, ENG_EINPUT, "--out path too long");
	for (char *p = path + 1;; p++) {
		if (*p == '/' || !*p) {
			char c = *p;
			*p = '\0';
			struct stat sb;
			if (mkdir(path, 0777) && errno != EEXIST)
				return eng_err_set(err, errno == ENOTDIR ? ENG_EINPUT : ENG_EIO,
				                   "create '%s': %s", path, strerror(errno));
			if (stat(path, &sb) || !S_ISDIR(sb.st_mode))
				return eng_err_set(err, ENG_EINPUT,
				                   "--out: '%s' exists and is not a folder", path);
			*p = c;
			if (!c)
				break;
		}
	}
	return 0;
}

static void stage_done(const rpt_audit_hooks *h)
{
	if (h->stage_done)
		h->stage_done(h->ctx);
}

/* Loads an embeddings file into ws, as `mmaudit embed` does, and tells the hooks. */
static int load_embeddings(eng_ws *ws, int kind, const char *file, const char *ids,
                           const rpt_audit_hooks *h, eng_err *err)
{
	eng_emb_report r;
	int e = eng_emb_load(ws, (eng_emb_kind)kind, file, ids, &r, err);
	if (!e && h->embedded)
		h->embedded(h->ctx, kind, file, &r);
	return e;
}

/* 1. each input indexed as its dataset, then the images' hashes and the embeddings. */
static int index_inputs(const rpt_audit_opts *o, const rpt_audit_hooks *h, rpt_audit_result *r,
                        eng_err *err)
{
	eng_index_opts io = o->index;
	io.progress = h->progress;
	int e = 0;
	for (int i = 0; !e && i < o->nfiles; i++) {
		eng_index_result res;
		e = eng_index_file(r->ws, o->names[i], o->files[i], &io, &res, err);
		stage_done(h);
		if (!e && h->indexed)
			h->indexed(h->ctx, r->db, o->files[i], &res);
		int64_t id = 0;
		if (!e)
			e = eng_ws_dataset_id(r->ws, o->names[i], &id, err);
		int dup = 0;
		for (size_t k = 0; k < r->nids; k++)
			dup |= r->ids[k] == id;
		if (!e && !dup)
			r->ids[r->nids++] = id;
	}
	/* perceptual hashes of the new images' thumbnails (near-duplicate images) */
	if (!e)
		e = eng_neardup_fill(r->ws, NULL, err);
	/* external embeddings (replace the workspace's sets of those kinds) */
	for (int k = 0; k < 2 && !e; k++)
		if (o->emb_file[k])
			e = load_embeddings(r->ws, k, o->emb_file[k], o->emb_ids[k], h, err);
	return e;
}

/* 2. score, 3. crossdist (two or more datasets). */
static int evaluate(const rpt_audit_opts *o, const rpt_audit_hooks *h, rpt_audit_result *r,
                    eng_err *err)
{
	int64_t run_id = 0;
	int e = eng_score_run(r->ws, r->ids, r->nids, &o->score, &h->progress, &run_id, err);
	stage_done(h);
	if (!e && o->crossdist && r->nids >= 2) {
		eng_crossdist_opts co;
		eng_crossdist_opts_default(&co);
		co.methods = ENG_METHODS_ALL; /* the report ranks every method */
		co.train = o->score.train;
		co.threads = o->score.threads;
		co.text = o->score.text;
		co.features = o->score.features;
		co.command = o->score.command;
		e = eng_crossdist_run(r->ws, r->ids, r->nids, &co, &h->progress, &run_id, err);
		stage_done(h);
	}
	return e;
}

/* 4. the report set, then weights.csv, replaced together or not at all. weights.csv's rows are
 * those samples.csv's scan reads (pair_scores JOIN pairs, the same run): collected by that scan
 * (rpt_options.score_tee) instead of a second scan of their own (0.07 CPU-s at 100k pairs);
 * written from them once the report is done. */
static int write_outputs(const rpt_audit_opts *o, const rpt_audit_hooks *h, rpt_audit_result *r,
                         eng_err *err)
{
	rpt_weights_choice *choice = calloc(r->nids ? r->nids : 1, sizeof *choice); /* (nids) */
	if (!choice)
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	rpt_options ro = o->report;
	rpt_weights_rows *pre = rpt_weights_rows_new(); /* NULL: weights.csv scans for itself */
	if (pre) {
		ro.score_tee = rpt_weights_rows_add;
		ro.score_tee_ctx = pre;
	}
	eng_outset outs = {0};
	FILE *wf = NULL; /* weights.csv's temporary file (engine/base/outfile.h) */
	char wpath[4200];
	snprintf(wpath, sizeof wpath, "%s/weights.csv", o->out);
	int e = eng_out_open(&outs, wpath, &wf, err);
	if (!e) {
		e = rpt_report_write_set(r->ws, &ro, o->out, &h->progress, &r->info, &outs, err);
		stage_done(h);
	}
	if (!e) {
		eng_trace("audit: weights.csv");
		e = rpt_weights_write(r->ws, r->ids, r->nids, o->wmethod, RPT_WEIGHTS_CSV,
		                      RPT_NORM_MEAN, wf, NULL, choice, pre, err);
		eng_trace("audit: weights.csv written");
	}
	rpt_weights_rows_free(pre);
	if (!e)
		e = eng_out_commit(&outs, err);
	else
		eng_out_abort(&outs);
	if (e)
		free(choice);
	else
		r->choice = choice;
	return e;
}

int rpt_audit_run(const rpt_audit_opts *o, const rpt_audit_hooks *h, rpt_audit_result *r,
                  eng_err *err)
{
	memset(r, 0, sizeof *r);
	if (!(r->ids = calloc(o->nfiles > 0 ? (size_t)o->nfiles : 1, sizeof *r->ids)))
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	int e = mkdir_p(o->out, err);
	if (!e) {
		r->db = o->db;
		if (!r->db) {
			snprintf(r->dbbuf, sizeof r->dbbuf, "%s/workspace.db", o->out);
			r->db = r->dbbuf;
		}
		e = eng_ws_open(r->db, &r->ws, err);
	}
	if (!e)
		e = index_inputs(o, h, r, err);
	if (!e)
		e = evaluate(o, h, r, err);
	if (!e)
		e = write_outputs(o, h, r, err);
	return e;
}

void rpt_audit_result_free(rpt_audit_result *r)
{
	if (!r)
		return;
	free(r->choice);
	free(r->ids);
	eng_trace("audit: close the workspace");
	eng_ws_close(r->ws);
	eng_trace("audit: closed");
	memset(r, 0, sizeof *r);
}
