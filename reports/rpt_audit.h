/* rpt_audit.h - the pipeline of `mmaudit audit` as a library call: creates the output folder,
 * opens the workspace, indexes each input as a dataset, fills the near-duplicate hashes, loads
 * external embeddings, scores every pair held out, runs the cross-distribution evaluation (two or
 * more datasets), then writes report.html, summary.json, samples.csv, near_duplicates.csv and
 * weights.csv (weights on a second connection and thread meanwhile), replaced together or not at
 * all (engine/base/outfile.h).
 *
 * It does not parse options, name datasets, print or choose exit codes: the caller gives the
 * inputs with their dataset names, and learns of each step through the hooks; the gate is the
 * caller's to evaluate on the workspace it gets back. */
#ifndef RPT_AUDIT_H
#define RPT_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "embeddings.h"
#include "index.h"
#include "progress.h"
#include "score.h"
#include "weights.h"
#include "workspace.h"
#include "reports/rpt_report.h"
#include "reports/rpt_weights.h"

typedef struct rpt_audit_opts {
	const char *out;    /* output folder, created with its parents */
	const char *db;     /* workspace path; NULL = out/workspace.db */
	char *const *files; /* (nfiles) inputs, indexed in this order */
	char *const *names; /* (nfiles) their dataset names (the same name = one dataset) */
	int nfiles;
	eng_index_opts index; /* index options of every file (progress is set from the hooks) */
	eng_score_opts score; /* score options; crossdist trains with the same train, threads,
	                       * text and features, and every method */
	int crossdist;        /* 0: skip the cross-distribution evaluation */
	const char *emb_file[2], *emb_ids[2]; /* by eng_emb_kind: embeddings to load, NULL = none */
	eng_wmethod wmethod;                  /* weights.csv method */
	rpt_options report;                   /* what the report shows (top_n, policy, integrity) */
} rpt_audit_opts;

/* What the pipeline tells its caller; every function pointer may be NULL. */
typedef struct rpt_audit_hooks {
	eng_progress progress; /* progress of each stage */
	void *ctx;             /* the first argument of the functions below */
	/* after each stage that reported progress: index of a file, score, crossdist, report */
	void (*stage_done)(void *ctx);
	/* after each file indexed: the workspace path, the file, what indexing it gave */
	void (*indexed)(void *ctx, const char *db, const char *file, const eng_index_result *r);
	/* after an embeddings file (kind: eng_emb_kind) was stored */
	void (*embedded)(void *ctx, int kind, const char *file, const eng_emb_report *r);
} rpt_audit_hooks;

/* What a run left: the open workspace (for the gate), the datasets it audited and how their
 * weights were chosen, and the report's figures. Filled also on failure, as far as it got;
 * release with rpt_audit_result_free. */
typedef struct rpt_audit_result {
	eng_ws *ws;
	int64_t *ids; /* (nids) the inputs' datasets, each once, in input order */
	size_t nids;
	rpt_weights_choice *choice; /* (nids) weights.csv's method per dataset; NULL on failure */
	rpt_report_info info;
	const char *db; /* the workspace path used (o->db or dbbuf) */
	char dbbuf[4096];
} rpt_audit_result;

/* Runs the pipeline (see the top of this file). Returns 0, or the failing step's code with err
 * filled: ENG_EINPUT for bad input (an --out path that is not a folder, a malformed file, no
 * score run), ENG_EIO for system errors, ENG_ENOMEM. r is always filled (free it). */
int rpt_audit_run(const rpt_audit_opts *o, const rpt_audit_hooks *h, rpt_audit_result *r,
                  eng_err *err);

/* Closes the workspace and frees what r holds; accepts NULL and a zeroed r. */
void rpt_audit_result_free(rpt_audit_result *r);

#endif
