/* test_reports.c - summary.json, samples.csv, report.html and the gate, on fixtures inserted into
 * a temporary workspace with SQL (the scoring engine is not needed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "workspace.h"
#include "workspace_sql.h"
#include "reports/rpt_csv.h"
#include "reports/rpt_examples.h"
#include "reports/rpt_gate.h"
#include "reports/rpt_html.h"
#include "reports/rpt_report.h"
#include "reports/rpt_state.h"
#include "reports/rpt_svg.h"

#define EVIL_ID "=HYPERLINK(\"x\",\"y\")"
#define EVIL_CHOSEN                                                                                \
	"<script>alert(1)</script> \"quoted\", comma\nnext line =HYPERLINK(\"x\") \xc3\xa9"

typedef struct fx {
	char dir[64], db[96];
	eng_ws *ws;
	int n_clean, n_short;
} fx;

static void exec_ok(eng_ws *ws, const char *sql)
{
	eng_err err = {0};
	int rc = eng_ws_exec(ws, sql, &err);
	if (rc)
		fail_msg("%s: %s", sql, err.msg);
}

static sqlite3_stmt *prep(eng_ws *ws, const char *sql)
{
	eng_err err = {0};
	sqlite3_stmt *st = eng_ws_prepare(ws, sql, &err);
	if (!st)
		fail_msg("%s", err.msg);
	return st;
}

static void step_done(sqlite3_stmt *st)
{
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

static const char *metrics_clean =
    "{\"pairs\": %d, \"pairs_with_image\": %d, \"pairs_without_image\": %d,"
    " \"text_accuracy\": 0.55, \"mm_accuracy\": 0.8, \"sa_accuracy\": 0.82,"
    " \"shortcut_rate\": 0.05, \"sfd\": 0.1, \"mm_acc_text_right\": 0.85,"
    " \"mm_acc_text_wrong\": 0.75, \"n_text_right\": %d, \"n_text_wrong\": %d,"
    " \"blind\": {\"pick_longer\": 0.51, \"pick_shorter\": 0.49, \"pick_more_formatted\": 0.5},"
    " \"chosen_longer_rate\": 0.52, \"categories\": {\"text-shortcut\": 1, \"needs-image\": 2,"
    " \"suspect-label\": 0, \"ambiguous\": 3}, \"thresholds\": {\"shortcut\": 0.8, \"wrong\": "
    "0.2}}";

static const char *metrics_short =
    "{\"pairs\": %d, \"pairs_with_image\": %d, \"pairs_without_image\": %d,"
    " \"text_accuracy\": 0.9, \"mm_accuracy\": 0.91, \"sa_accuracy\": 0.93,"
    " \"shortcut_rate\": 0.6, \"sfd\": 0.35, \"mm_acc_text_right\": 0.95,"
    " \"mm_acc_text_wrong\": 0.6, \"n_text_right\": %d, \"n_text_wrong\": %d,"
    " \"blind\": {\"pick_longer\": 0.8, \"pick_shorter\": 0.2, \"pick_more_formatted\": 0.7},"
    " \"chosen_longer_rate\": 0.8, \"categories\": {\"text-shortcut\": 6, \"needs-image\": 2,"
    " \"suspect-label\": 0, \"ambiguous\": 2}, \"thresholds\": {\"shortcut\": 0.8, \"wrong\": "
    "0.2}}";

/* Shortcut-score of pair i of a dataset, and its category. Deterministic. */
static double score_of(int ds, int i, const char **cat)
{
	if (ds == 2 && i == 0) {
		*cat = "needs-image";
		return 0.05;
	}
	double u = ((i * 7919) % 1000) / 1000.0;
	if (i % 5 == 0) {
		*cat = "needs-image";
		return (ds == 1 ? 0.3 : 0.1) + 0.2 * u;
	}
	double p = ds == 1 ? 0.3 + 0.6 * u : 0.5 + 0.5 * u;
	*cat = p >= 0.8 ? "text-shortcut" : "ambiguous";
	return p;
}

static void fixture_fill(fx *f, int n_clean, int n_short, int long_text)
{
	eng_ws *ws = f->ws;
	f->n_clean = n_clean;
	f->n_short = n_short;
	exec_ok(ws, "PRAGMA synchronous = OFF");
	exec_ok(ws, "BEGIN");
	exec_ok(ws, "INSERT INTO datasets(id, name) VALUES (1, 'clean'), (2, 'shortcut'),"
	            " (3, 'unscored')");
	exec_ok(ws, "INSERT INTO source_files(id, dataset_id, path, sha256, bytes, records, pairs,"
	            " errors) VALUES (1, 1, 'clean.jsonl', 'aa11', 100, 10, 10, 0),"
	            " (2, 2, 'shortcut.jsonl', 'bb22', 200, 11, 10, 1),"
	            " (3, 3, 'unscored.jsonl', 'cc33', 0, 0, 0, 0)");
	exec_ok(ws, "INSERT INTO ingest_errors(dataset_id, file_id, path, line, code, reason)"
	            " VALUES (2, 2, 'shortcut.jsonl', 4, 'bad-json', 'fix the line')");
	sqlite3_stmt *im = prep(ws, "INSERT INTO images(id, sha256, width, height, format, bytes,"
	                            " thumb) VALUES (?1, ?2, 64, 48, 'jpeg', 1000, ?3)");
	static const unsigned char jpeg[] = {0xff, 0xd8, 0xff, 0xe0, 0,    16,  'J', 'F',
	                                     'I',  'F',  0,    1,    1,    0,   0,   1,
	                                     0,    1,    0,    0,    0xff, 0xd9};
	sqlite3_bind_int(im, 1, 1);
	sqlite3_bind_text(im, 2, "sha-with-thumb", -1, SQLITE_STATIC);
	sqlite3_bind_blob(im, 3, jpeg, sizeof jpeg, SQLITE_STATIC);
	step_done(im);
	sqlite3_bind_int(im, 1, 2);
	sqlite3_bind_text(im, 2, "sha-no-thumb", -1, SQLITE_STATIC);
	step_done(im);
	sqlite3_finalize(im);

	exec_ok(ws,
	        "INSERT INTO runs(id, kind, status, seed, options, versions, command, started_at,"
	        " finished_at, seconds, metrics) VALUES (1, 'score', 'done', 7, '{\"folds\": 5}',"
	        " '{\"mmaudit\": \"0.1.0\", \"sqlite\": \"3.40.1\", \"openblas\": \"0.3.21\"}',"
	        " 'mmaudit score --db x', '2025-01-01T00:00:00Z', '2025-01-01T00:00:12Z', 12.5,"
	        " '{}'), (3, 'score', 'failed', 1, '{}', '{}', 'x', '2025-01-02T00:00:00Z', NULL,"
	        " NULL, NULL)");
	sqlite3_stmt *rd = prep(ws, "INSERT INTO run_datasets(run_id, dataset_id, metrics) VALUES"
	                            " (?1, ?2, ?3)");
	char m[2048];
	int sc_right = (int)(n_short * 0.9), cl_right = (int)(n_clean * 0.55);
	snprintf(m, sizeof m, metrics_clean, n_clean, n_clean - n_clean / 3, n_clean / 3, cl_right,
	         n_clean - cl_right);
	sqlite3_bind_int(rd, 1, 1);
	sqlite3_bind_int(rd, 2, 1);
	sqlite3_bind_text(rd, 3, m, -1, SQLITE_TRANSIENT);
	step_done(rd);
	snprintf(m, sizeof m, metrics_short, n_short, n_short - n_short / 3, n_short / 3, sc_right,
	         n_short - sc_right);
	sqlite3_bind_int(rd, 1, 1);
	sqlite3_bind_int(rd, 2, 2);
	sqlite3_bind_text(rd, 3, m, -1, SQLITE_TRANSIENT);
	step_done(rd);
	/* A failed newer run must be ignored. */
	sqlite3_bind_int(rd, 1, 3);
	sqlite3_bind_int(rd, 2, 2);
	sqlite3_bind_text(rd, 3, "{\"pairs\": 1, \"text_accuracy\": 0.0}", -1, SQLITE_STATIC);
	step_done(rd);
	sqlite3_finalize(rd);

	sqlite3_stmt *pi =
	    prep(ws, "INSERT INTO pairs(id, dataset_id, file_id, line, ext_id, prompt,"
	             " chosen, rejected, image_id) VALUES (?1, ?2, ?2, ?3, ?4, ?5, ?6,"
	             " ?7, ?8)");
	sqlite3_stmt *ps = prep(ws, "INSERT INTO pair_scores(run_id, pair_id, fold, p_text, p_mm,"
	                            " p_sa, sfc, category) VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7)");
	char *longtxt = NULL;
	if (long_text) {
		longtxt = malloc(6001);
		for (int k = 0; k < 6000; k++)
			longtxt[k] = "abcdefgh "[k % 9];
		longtxt[6000] = '\0';
	}
	int64_t id = 1;
	for (int ds = 1; ds <= 2; ds++) {
		int n = ds == 1 ? n_clean : n_short;
		for (int i = 0; i < n; i++, id++) {
			char ext[64], prompt[64], chosen[64];
			const char *cat;
			double p = score_of(ds, i, &cat);
			int evil = ds == 2 && i == 0;
			snprintf(ext, sizeof ext, "%s-%d", ds == 1 ? "c" : "s", i);
			snprintf(prompt, sizeof prompt, "What is in image %d?", i);
			snprintf(chosen, sizeof chosen, "The answer is %d", i);
			sqlite3_bind_int64(pi, 1, id);
			sqlite3_bind_int(pi, 2, ds);
			sqlite3_bind_int(pi, 3, i + 1);
			sqlite3_bind_text(pi, 4, evil ? EVIL_ID : ext, -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(pi, 5,
			                  evil ? "@SUM(A1) <img src=x onerror=alert(2)>" : prompt,
			                  -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(pi, 6,
			                  evil      ? EVIL_CHOSEN
			                  : longtxt ? longtxt
			                            : chosen,
			                  -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(pi, 7, evil ? "-1+1" : "no", -1, SQLITE_STATIC);
			if (i % 3 != 2)
				sqlite3_bind_int(pi, 8, 1 + i % 3);
			step_done(pi);
			sqlite3_bind_int64(ps, 1, id);
			sqlite3_bind_int(ps, 2, i % 5);
			sqlite3_bind_double(ps, 3, p);
			sqlite3_bind_double(ps, 4, 0.9);
			sqlite3_bind_double(ps, 5, 0.92);
			sqlite3_bind_double(ps, 6, 1 - p);
			sqlite3_bind_text(ps, 7, cat, -1, SQLITE_STATIC);
			step_done(ps);
		}
	}
	free(longtxt);
	sqlite3_finalize(pi);
	sqlite3_finalize(ps);
	sqlite3_stmt *tf =
	    prep(ws, "INSERT INTO top_features(run_id, dataset_id, rank, feature,"
	             " weight, present, acc_present) VALUES (1, ?1, ?2, ?3, ?4, 0.4, 0.7)");
	for (int ds = 1; ds <= 2; ds++)
		for (int r = 1; r <= 20; r++) {
			char name[64];
			snprintf(name, sizeof name, r == 2 ? "<b>bold%d</b>" : "len_diff_%d", r);
			sqlite3_bind_int(tf, 1, ds);
			sqlite3_bind_int(tf, 2, r);
			sqlite3_bind_text(tf, 3, name, -1, SQLITE_TRANSIENT);
			sqlite3_bind_double(tf, 4, (r % 2 ? 1.0 : -1.0) * (2.0 - r * 0.05) * ds);
			step_done(tf);
		}
	sqlite3_finalize(tf);
	exec_ok(ws,
	        "INSERT INTO runs(id, kind, status, seed, options, versions, command, started_at,"
	        " finished_at, seconds, metrics) VALUES (2, 'crossdist', 'done', 7, '{}',"
	        " '{\"mmaudit\": \"0.1.0\"}', 'mmaudit crossdist', '2025-01-01T00:01:00Z',"
	        " '2025-01-01T00:02:00Z', 60, '{\"datasets\": [\"clean\", \"shortcut\"],"
	        " \"test_fraction\": 0.2, \"methods\": {"
	        "\"text\": {\"accuracy\": [[0.55, 0.5], [0.52, 0.9]], \"iid_mean\": 0.725,"
	        " \"ood_mean\": 0.51, \"gap\": 0.215, \"sfd\": [[0.1, null], [0.2, 0.3]], "
	        "\"sfd_mean\": 0.2},"
	        "\"standard\": {\"accuracy\": [[0.8, 0.6], [0.55, 0.92]], \"iid_mean\": 0.86,"
	        " \"ood_mean\": 0.575, \"gap\": 0.285, \"sfd\": [[0.1, 0.2], [0.3, 0.4]], "
	        "\"sfd_mean\": 0.25},"
	        "\"shortcut-aware\": {\"accuracy\": [[0.82, 0.7], [0.68, 0.9]], \"iid_mean\": 0.86,"
	        " \"ood_mean\": 0.69, \"gap\": 0.17, \"sfd\": [[0.1, 0.1], [0.1, 0.1]], "
	        "\"sfd_mean\": 0.1}},"
	        " \"overlap\": []}')");
	exec_ok(
	    ws,
	    "INSERT INTO crossdist_cells(run_id, method, train_ds, test_ds, n, accuracy, sfd)"
	    " VALUES (2, 'standard', 1, 1, 100, 0.8, 0.1), (2, 'standard', 1, 2, 100, 0.6, 0.2),"
	    " (2, 'standard', 2, 1, 100, 0.55, 0.3), (2, 'standard', 2, 2, 100, 0.92, 0.4)");
	exec_ok(ws, "COMMIT");
}

static fx *fx_new(int n_clean, int n_short, int long_text)
{
	fx *f = calloc(1, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/mmaudit-rpt-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof f->db, "%s/ws.db", f->dir);
	eng_err err = {0};
	assert_int_equal(eng_ws_open(f->db, &f->ws, &err), 0);
	if (n_clean >= 0)
		fixture_fill(f, n_clean, n_short, long_text);
	return f;
}

static void fx_free(fx *f)
{
	eng_ws_close(f->ws);
	char cmd[256];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		fail_msg("open %s", path);
	fseek(fp, 0, SEEK_END);
	long n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	char *s = malloc((size_t)n + 1);
	assert_int_equal(fread(s, 1, (size_t)n, fp), (size_t)n);
	s[n] = '\0';
	fclose(fp);
	if (len)
		*len = (size_t)n;
	return s;
}

static void write_report(fx *f, const char *sub, const rpt_options *o, rpt_report_info *info)
{
	char out[160];
	snprintf(out, sizeof out, "%s/%s", f->dir, sub);
	eng_err err = {0};
	int rc = rpt_report_write(f->ws, o, out, NULL, info, &err);
	if (rc)
		fail_msg("report: %s", err.msg);
}

static char *read_out(fx *f, const char *sub, const char *name, size_t *len)
{
	char p[200];
	snprintf(p, sizeof p, "%s/%s/%s", f->dir, sub, name);
	return slurp(p, len);
}

static void default_options(rpt_options *o)
{
	memset(o, 0, sizeof *o);
	o->top_n = 25;
	rpt_policy_init(&o->policy);
	o->policy.max[RPT_RULE_SHORTCUT_RATE] = 0.3;
	o->policy.max[RPT_RULE_OOD_GAP] = 0.25;
}

/* ---- a tiny RFC 4180 parser: returns rows of fields (CRLF or LF line ends). ---- */
typedef struct csv {
	char ***rows;
	size_t *nf, n;
} csv;

static void csv_parse(const char *s, csv *c)
{
	memset(c, 0, sizeof c[0]);
	size_t cap = 0;
	while (*s) {
		char **fields = NULL;
		size_t nf = 0;
		for (;;) {
			char *val = malloc(strlen(s) + 1);
			size_t k = 0;
			if (*s == '"') {
				s++;
				for (;;) {
					assert_true(*s != '\0'); /* unterminated quote */
					if (*s == '"' && s[1] == '"') {
						val[k++] = '"';
						s += 2;
					} else if (*s == '"') {
						s++;
						break;
					} else
						val[k++] = *s++;
				}
			} else
				while (*s && *s != ',' && *s != '\r' && *s != '\n')
					val[k++] = *s++;
			val[k] = '\0';
			fields = realloc(fields, (nf + 1) * sizeof *fields);
			fields[nf++] = val;
			if (*s == ',') {
				s++;
				continue;
			}
			if (*s == '\r')
				s++;
			if (*s == '\n')
				s++;
			break;
		}
		if (c->n == cap) {
			cap = cap ? cap * 2 : 1024;
			c->rows = realloc(c->rows, cap * sizeof *c->rows);
			c->nf = realloc(c->nf, cap * sizeof *c->nf);
		}
		c->rows[c->n] = fields;
		c->nf[c->n++] = nf;
	}
}

static void csv_free(csv *c)
{
	for (size_t i = 0; i < c->n; i++) {
		for (size_t k = 0; k < c->nf[i]; k++)
			free(c->rows[i][k]);
		free(c->rows[i]);
	}
	free(c->rows);
	free(c->nf);
}

/* ---- tests ---- */

static void test_reports_summary_values(void **state)
{
	(void)state;
	fx *f = fx_new(30, 40, 0);
	rpt_options o;
	default_options(&o);
	rpt_report_info info;
	write_report(f, "out", &o, &info);
	char *s = read_out(f, "out", "summary.json", NULL);
	json_error_t je;
	json_t *root = json_loads(s, 0, &je);
	assert_non_null(root);
	assert_string_equal(json_string_value(json_object_get(root, "version")), "0.1.0");
	json_t *ds = json_object_get(root, "datasets");
	assert_int_equal(json_array_size(ds), 3);
	json_t *sh = json_array_get(ds, 1);
	assert_string_equal(json_string_value(json_object_get(sh, "name")), "shortcut");
	assert_int_equal(json_integer_value(json_object_get(sh, "pairs")), 40);
	assert_int_equal(json_integer_value(json_object_get(sh, "pairs_without_image")), 13);
	assert_int_equal(json_integer_value(json_object_get(sh, "errors")), 1);
	assert_float_equal(json_real_value(json_object_get(sh, "text_accuracy")), 0.9, 1e-12);
	assert_float_equal(json_real_value(json_object_get(sh, "mm_accuracy")), 0.91, 1e-12);
	assert_float_equal(json_real_value(json_object_get(sh, "sa_accuracy")), 0.93, 1e-12);
	assert_float_equal(json_real_value(json_object_get(sh, "shortcut_rate")), 0.6, 1e-12);
	assert_float_equal(json_real_value(json_object_get(sh, "sfd")), 0.35, 1e-12);
	json_t *blind = json_object_get(sh, "blind");
	assert_float_equal(json_real_value(json_object_get(blind, "pick_longer")), 0.8, 1e-12);
	assert_float_equal(json_real_value(json_object_get(blind, "pick_shorter")), 0.2, 1e-12);
	/* Wilson interval contains the rate and lies in [0,1]. */
	json_t *iv = json_object_get(json_object_get(sh, "interval95"), "text_accuracy");
	double lo = json_real_value(json_array_get(iv, 0)),
	       hi = json_real_value(json_array_get(iv, 1));
	assert_true(lo < 0.9 && 0.9 < hi && lo > 0.7 && hi < 1.0);
	/* The unscored dataset is listed with null figures. */
	json_t *un = json_array_get(ds, 2);
	assert_true(json_is_null(json_object_get(un, "text_accuracy")));
	/* crossdist */
	json_t *cd = json_object_get(root, "crossdist");
	assert_non_null(cd);
	assert_string_equal(json_string_value(json_array_get(json_object_get(cd, "datasets"), 1)),
	                    "shortcut");
	json_t *stdm = json_object_get(json_object_get(cd, "methods"), "standard");
	json_t *acc = json_object_get(stdm, "accuracy");
	assert_float_equal(json_real_value(json_array_get(json_array_get(acc, 1), 0)), 0.55, 1e-12);
	assert_float_equal(json_real_value(json_object_get(stdm, "gap")), 0.285, 1e-12);
	/* top features: dataset order then rank */
	json_t *tf = json_object_get(root, "top_features");
	assert_int_equal(json_array_size(tf), 40);
	assert_string_equal(json_string_value(json_object_get(json_array_get(tf, 0), "feature")),
	                    "len_diff_1");
	assert_float_equal(json_real_value(json_object_get(json_array_get(tf, 0), "weight")), 1.95,
	                   1e-12);
	/* gate + verdict from the same evaluation */
	json_t *gate = json_object_get(root, "gate");
	assert_true(json_is_true(json_object_get(gate, "failed")));
	json_t *r0 = json_array_get(json_object_get(gate, "results"), 0);
	assert_string_equal(json_string_value(json_object_get(r0, "status")), "FAIL");
	assert_string_equal(json_string_value(json_object_get(r0, "dataset")), "shortcut");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(root, "verdict"), "gate")), "FAIL");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(root, "verdict"), "shortcut_risk")),
	    "HIGH");
	assert_non_null(json_object_get(json_object_get(root, "definitions"), "sfd"));
	assert_int_equal(json_array_size(json_object_get(root, "runs")), 2);
	assert_int_equal(info.gate_failed, 1);
	json_decref(root);
	free(s);
	fx_free(f);
}

static void test_reports_no_crossdist_key_absent(void **state)
{
	(void)state;
	fx *f = fx_new(10, 10, 0);
	exec_ok(f->ws, "DELETE FROM runs WHERE kind = 'crossdist'");
	rpt_options o;
	default_options(&o);
	write_report(f, "out", &o, NULL);
	char *s = read_out(f, "out", "summary.json", NULL);
	json_t *root = json_loads(s, 0, NULL);
	assert_non_null(root);
	assert_null(json_object_get(root, "crossdist"));
	json_decref(root);
	free(s);
	char *h = read_out(f, "out", "report.html", NULL);
	assert_non_null(strstr(h, "mmaudit crossdist</code> needs two or more datasets"));
	free(h);
	fx_free(f);
}

static void test_reports_csv_ranked_and_defused(void **state)
{
	(void)state;
	fx *f = fx_new(30, 40, 0);
	/* c-1 and c-2 form a conflicting duplicate group (columns of migration 0005) */
	exec_ok(f->ws, "UPDATE pairs SET dup_group = '00000000000000ab', conflict = 1"
	               " WHERE ext_id IN ('c-1', 'c-2')");
	rpt_options o;
	default_options(&o);
	rpt_report_info info;
	write_report(f, "out", &o, &info);
	assert_int_equal(info.csv_rows, 70);
	char *s = read_out(f, "out", "samples.csv", NULL);
	static const char header[] = "dataset,id,rank,shortcut_score,p_text,p_mm,sfc,category,"
	                             "chosen_chars,rejected_chars,image_effect,swap_flip,"
	                             "dup_group,conflict,source_file,line\r\n";
	assert_memory_equal(s, header, sizeof header - 1);
	csv c;
	csv_parse(s, &c);
	assert_int_equal(c.n, 71);
	int seen_evil = 0;
	double prev = 2;
	const char *prev_ds = "";
	long rank = 0;
	for (size_t i = 1; i < c.n; i++) {
		char **r = c.rows[i];
		assert_int_equal(c.nf[i], 16);
		assert_string_equal(r[10], ""); /* the fixture's pairs were not image-tested */
		assert_string_equal(r[11], "");
		/* the join columns: the input file and the 1-based line the fixture gave (i + 1) */
		int grouped = !strcmp(r[1], "c-1") || !strcmp(r[1], "c-2");
		assert_string_equal(r[12], grouped ? "00000000000000ab" : "");
		assert_string_equal(r[13], grouped ? "1" : "0");
		assert_string_equal(r[14],
		                    !strcmp(r[0], "clean") ? "clean.jsonl" : "shortcut.jsonl");
		if (r[1][0] == 'c' || r[1][0] == 's')
			assert_int_equal(atol(r[15]), atol(r[1] + 2) + 1);
		if (strcmp(prev_ds, r[0])) {
			prev = 2;
			rank = 0;
			prev_ds = r[0];
		}
		assert_int_equal(atol(r[2]), ++rank);
		double p = atof(r[3]);
		assert_true(p <= prev);
		assert_string_equal(r[3], r[4]);
		prev = p;
		if (r[1][0] == '\'') {
			/* defused, and the quotes/comma survived the round trip */
			assert_string_equal(r[1], "'" EVIL_ID);
			assert_string_equal(r[7], "needs-image");
			assert_int_equal(atol(r[8]),
			                 69); /* code points (70 bytes): 'é' counts once */
			assert_int_equal(atol(r[9]), 4);
			assert_float_equal(p, 0.05, 1e-9);
			assert_int_equal(rank, 40); /* lowest score of its dataset */
			seen_evil = 1;
		}
		if (!strcmp(r[1], "c-7")) { /* score_of(1, 7) */
			const char *cat;
			assert_float_equal(p, score_of(1, 7, &cat), 1e-6);
			assert_string_equal(r[7], cat);
		}
	}
	assert_true(seen_evil);
	assert_string_equal(c.rows[1][0], "clean");
	assert_string_equal(c.rows[70][0], "shortcut");
	/* The raw file: the defused cell is quoted because it holds quotes and a comma. */
	assert_non_null(strstr(s, "\"'=HYPERLINK(\"\"x\"\",\"\"y\"\")\""));
	csv_free(&c);
	free(s);
	fx_free(f);
}

/* A dataset larger than one in-memory chunk is ranked through sorted temporary runs and merged:
 * the same bytes as ranking it whole, for chunks of 1, 3 and 7 rows (ties in p_text across
 * chunks, two datasets, a dup group and a formula-like id included). */
static void test_reports_csv_chunked_same_bytes(void **state)
{
	(void)state;
	fx *f = fx_new(30, 40, 0);
	exec_ok(f->ws, "UPDATE pairs SET dup_group = '00000000000000ab', conflict = 1"
	               " WHERE ext_id IN ('c-1', 'c-2')");
	exec_ok(f->ws, "UPDATE pair_scores SET p_text = 0.625 WHERE pair_id % 3 = 0");
	rpt_options o;
	default_options(&o);
	write_report(f, "whole", &o, NULL);
	size_t n0 = 0;
	char *whole = read_out(f, "whole", "samples.csv", &n0);
	assert_true(n0 > 1000);
	static const size_t chunks[] = {1, 3, 7};
	size_t keep = rpt_csv_chunk_rows;
	for (size_t k = 0; k < sizeof chunks / sizeof chunks[0]; k++) {
		rpt_csv_chunk_rows = chunks[k];
		char sub[32];
		snprintf(sub, sizeof sub, "chunk%zu", chunks[k]);
		rpt_report_info info;
		write_report(f, sub, &o, &info);
		assert_int_equal(info.csv_rows, 70);
		size_t n = 0;
		char *s = read_out(f, sub, "samples.csv", &n);
		assert_int_equal(n, n0);
		assert_memory_equal(s, whole, n0);
		free(s);
	}
	rpt_csv_chunk_rows = keep;
	free(whole);
	fx_free(f);
}

static void test_reports_csv_cell_rules(void **state)
{
	(void)state;
	static const char *in[] = {"plain", "=1+1", "+1",         "-1",          "@x", "\tx",
	                           "\rx",   "a,b",  "say \"hi\"", "line\nbreak", ""};
	static const char *want[] = {"plain",
	                             "'=1+1",
	                             "'+1",
	                             "'-1",
	                             "'@x",
	                             "'\tx",
	                             "\"'\rx\"",
	                             "\"a,b\"",
	                             "\"say \"\"hi\"\"\"",
	                             "\"line\nbreak\"",
	                             ""};
	for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
		char *buf = NULL;
		size_t len = 0;
		FILE *m = open_memstream(&buf, &len);
		rpt_csv_cell(m, in[i]);
		fclose(m);
		assert_string_equal(buf, want[i]);
		free(buf);
	}
}

/* rpt_examples_see keeps the first top_n of a list as eng_examples_each ranks them (p_text
 * descending for shortcuts, ascending for needs-image, ties by pair id), whatever the order the
 * pairs come in, and counts them all */
static void test_reports_examples_see_ranks(void **state)
{
	(void)state;
	static const double pt[8] = {0.5, 0.9, 0.7, 0.9, 0.1, 0.7, 0.3, 0.9};
	static const int64_t id[8] = {4, 8, 2, 3, 7, 1, 6, 5};
	rpt_examples_seen d = {0}, a = {0};
	for (int k = 0; k < 8; k++) {
		rpt_examples_see(&d, RPT_EX_SHORTCUT, 4, id[k], pt[k]);
		rpt_examples_see(&a, RPT_EX_NEEDS_IMAGE, 3, id[k], pt[k]);
	}
	assert_int_equal(d.count, 8);
	assert_int_equal(d.n, 4);
	static const int64_t want_d[4] = {3, 5, 8, 1}; /* 0.9 x3 by id, then 0.7: 1 before 2 */
	for (int k = 0; k < 4; k++)
		assert_int_equal(d.id[k], want_d[k]);
	assert_int_equal(a.n, 3);
	static const int64_t want_a[3] = {7, 6, 4};
	for (int k = 0; k < 3; k++)
		assert_int_equal(a.id[k], want_a[k]);
	rpt_examples_seen one = {0};
	rpt_examples_see(&one, RPT_EX_SHORTCUT, 0, 9, 0.2); /* top_n below 1 keeps one */
	rpt_examples_see(&one, RPT_EX_SHORTCUT, 0, 2, 0.2);
	assert_int_equal(one.n, 1);
	assert_int_equal(one.id[0], 2);
}

/* rpt_csv_fixed6 prints exactly the digits of printf("%.6f") */
static void test_reports_fixed6_matches_printf(void **state)
{
	(void)state;
	static const double edge[] = {
	    0,         -0.0,       1,         0.5,   0.0000005,  0.0000015, 0.0000025,   0.1234565,
	    0.9999995, 0.99999949, 1e-7,      -1e-7, -0.2500005, 123456.5,  999999999.0, 1e9,
	    1e12,      1.0 / 3.0,  2.0 / 3.0, NAN,   INFINITY,   -INFINITY, 0.844701,    1e-300};
	uint64_t x = 88172645463325252ULL;
	for (size_t i = 0; i < 200000 + sizeof edge / sizeof edge[0]; i++) {
		double v;
		if (i < sizeof edge / sizeof edge[0]) {
			v = edge[i];
		} else { /* xorshift: values in [0, 1), some scaled up, some near 6-digit ties */
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			v = (double)(x >> 11) / 9007199254740992.0;
			if (i % 3 == 0)
				v = floor(v * 1e6) / 1e6 + 5e-7;
			if (i % 5 == 0)
				v *= 1000;
			if (i % 7 == 0)
				v = -v;
		}
		char want[64], *got = NULL;
		size_t len = 0;
		snprintf(want, sizeof want, "%.6f", v);
		FILE *m = open_memstream(&got, &len);
		rpt_csv_fixed6(m, v);
		fclose(m);
		if (strcmp(got, want) != 0)
			fail_msg("fixed6(%.17g) = %s, printf gives %s", v, got, want);
		free(got);
	}
}

/* rpt_csv_int prints exactly what printf("%lld") prints */
static void test_reports_csv_int_matches_printf(void **state)
{
	(void)state;
	static const long long edge[] = {
	    0,         1,         -1,           9, 10, -10, 99, 100, 2147483647, -2147483648LL,
	    LLONG_MAX, LLONG_MIN, LLONG_MIN + 1};
	uint64_t x = 88172645463325252ULL;
	for (size_t i = 0; i < 100000 + sizeof edge / sizeof edge[0]; i++) {
		long long v;
		if (i < sizeof edge / sizeof edge[0]) {
			v = edge[i];
		} else { /* xorshift, shifted to every magnitude */
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			v = (long long)(x >> (i % 64));
		}
		char want[32], *got = NULL;
		size_t len = 0;
		snprintf(want, sizeof want, "%lld", v);
		FILE *m = open_memstream(&got, &len);
		rpt_csv_int(m, v);
		fclose(m);
		if (strcmp(got, want) != 0)
			fail_msg("rpt_csv_int(%lld) = %s", v, got);
		free(got);
	}
}

static int contains_ci(const char *hay, const char *needle)
{
	size_t n = strlen(needle);
	for (const char *p = hay; *p; p++)
		if (!strncasecmp(p, needle, n))
			return 1;
	return 0;
}

static void test_reports_html_escaped_and_offline(void **state)
{
	(void)state;
	fx *f = fx_new(30, 40, 0);
	rpt_options o;
	default_options(&o);
	write_report(f, "out", &o, NULL);
	char *h = read_out(f, "out", "report.html", NULL);
	assert_false(contains_ci(h, "<script"));
	assert_false(contains_ci(h, "<img src=x"));
	assert_false(contains_ci(h, "<b>bold"));
	assert_non_null(strstr(
	    h, "&lt;script&gt;alert(1)&lt;/script&gt; &quot;quoted&quot;, comma\nnext line"));
	assert_non_null(strstr(h, "&lt;b&gt;bold2&lt;/b&gt;"));
	assert_non_null(strstr(h, "=HYPERLINK(&quot;x&quot;,&quot;y&quot;)"));
	assert_false(contains_ci(h, "src=\"http"));
	assert_false(contains_ci(h, "href=\"http"));
	assert_false(contains_ci(h, "src='http"));
	assert_false(contains_ci(h, "url("));
	assert_non_null(strstr(h, "Content-Security-Policy\" content=\"default-src 'none'; img-src "
	                          "data:; style-src 'unsafe-inline'\""));
	assert_non_null(strstr(h, "<title>mmaudit - clean, shortcut - FAIL</title>"));
	/* Verdict first, consistent with the gate. */
	char *verdict = strstr(h, "id=\"verdict\""), *gates = strstr(h, "id=\"gates\"");
	assert_non_null(verdict);
	assert_true(verdict < gates);
	assert_non_null(strstr(h, "SHORTCUT RISK: HIGH \xc2\xb7 GATE FAIL"));
	assert_non_null(strstr(h,
	                       "A text-only model picks the chosen answer in 90.0% of 40 pairs of "
	                       "&#39;shortcut&#39; without seeing the image, 10.0 points above the "
	                       "best blind baseline (pick-longer, 80.0%); the multimodal RM gets "
	                       "91.0%"));
	assert_non_null(strstr(h, "data:image/jpeg;base64,/9j/4AAQSkZJRgABAQAAAQABAAD/2Q=="));
	assert_non_null(strstr(h, "image unavailable"));
	assert_non_null(strstr(h, "no image in this pair"));
	assert_non_null(strstr(h, "Gates (2 fail, 1 warn)"));
	/* The o.o.d. gap of 'clean' straddles 0.25: a WARN row with its interval. */
	assert_non_null(strstr(gates, "badge warn\">! WARN</span></td>"));
	assert_non_null(strstr(gates, "95% CI 0.076\xe2\x80\x93"
	                              "0.324"));
	/* Gates: FAIL rows before PASS rows. */
	char *first_pass = strstr(gates, "badge pass\">\xe2\x9c\x93 PASS</span></td>");
	char *last_fail = NULL, *p = gates;
	while ((p = strstr(p + 1, "badge fail\">\xe2\x9c\x97 FAIL</span></td>")))
		last_fail = p;
	assert_non_null(first_pass);
	assert_non_null(last_fail);
	assert_true(last_fail < first_pass);
	/* The page states its own size correctly. */
	size_t len = 0;
	free(h);
	h = read_out(f, "out", "report.html", &len);
	char want[64];
	snprintf(want, sizeof want, " %zu</span> bytes.", len);
	assert_non_null(strstr(h, want));
	free(h);
	fx_free(f);
}

static size_t count_of(const char *h, const char *needle)
{
	size_t k = 0;
	for (const char *p = h; (p = strstr(p, needle)); p += strlen(needle))
		k++;
	return k;
}

/* Heat map (issue 13): full dataset names (wrapped, never cut) escaped, n in every cell, text
 * black or white by the cell colour's luminance, the missing cell marked. */
static void test_reports_heat_labels_and_ink(void **state)
{
	(void)state;
	const char *names[3] = {"VLFeedback-llava-1.5-13b-sampled-preferences", "a<b>&\"c\"",
	                        "\xc3\xa9t\xc3\xa9-long-unicode-name-\xc3\xa9\xc3\xa9\xc3\xa9"};
	const double acc[9] = {0.95, 0.52, NAN, 0.81, 0.90, 0.66, 0.40, 0.73, 0.99};
	const int64_t n[9] = {987, 10390, 5, 987, 10390, 1020, 987, 10390, 1020};
	rpt_buf b = {0};
	rpt_svg_heat(&b, "poe", 3, names, acc, n);
	rpt_buf_put(&b, "", 1);
	assert_false(b.oom);
	const char *h = b.p;
	/* every name whole in its labels' and cells' titles; the lines put together give it back */
	assert_int_equal(count_of(h, "<title>VLFeedback-llava-1.5-13b-sampled-preferences</title>"),
	                 2);
	assert_int_equal(count_of(h, "trained on VLFeedback-llava-1.5-13b-sampled-preferences, "),
	                 3);
	assert_int_equal(count_of(h, "<title>a&lt;b&gt;&amp;&quot;c&quot;</title>"), 2);
	assert_null(strstr(h, "a<b>"));
	assert_int_equal(count_of(h, "<title>\xc3\xa9t\xc3\xa9-long-unicode-name-\xc3\xa9\xc3\xa9"
	                             "\xc3\xa9</title>"),
	                 2);
	const char *lab = strstr(h, "<title>VLFeedback-llava-1.5-13b-sampled-preferences</title>");
	char joined[256] = "";
	const char *end = strstr(lab, "</text>");
	for (const char *t = lab; (t = strstr(t, "<tspan")) && t < end;) {
		t = strchr(t, '>') + 1;
		const char *e = strstr(t, "</tspan>");
		strncat(joined, t, (size_t)(e - t));
	}
	assert_string_equal(joined, "VLFeedback-llava-1.5-13b-sampled-preferences");
	assert_non_null(strstr(lab, "<tspan")); /* wrapped: more than one line */
	assert_non_null(strstr(strstr(lab, "<tspan") + 1, "<tspan"));
	/* n in each measured cell (the missing one says n/a) */
	assert_int_equal(count_of(h, ">n=987</text>"), 3);
	assert_int_equal(count_of(h, ">n=10,390</text>"), 3);
	assert_int_equal(count_of(h, ">n=1,020</text>"), 2);
	assert_int_equal(count_of(h, ">n/a</text>"), 1);
	/* 40.0% clamps to the darkest colour: white text; 99.0% (yellow): black; 81.0%: black */
	assert_non_null(strstr(h, "class=\"cellv ink1\">40.0<"));
	assert_non_null(strstr(h, "class=\"cellv ink0\">99.0<"));
	assert_non_null(strstr(h, "class=\"cellv ink0\">81.0<"));
	assert_non_null(strstr(h, "class=\"cellv ink1\">52.0<"));
	/* n == NULL (runs before issue 13): no n line */
	b.len = 0;
	rpt_svg_heat(&b, "standard", 3, names, acc, NULL);
	rpt_buf_put(&b, "", 1);
	assert_null(strstr(b.p, "n=987"));
	assert_non_null(strstr(b.p, "class=\"cellv ink0\">95.0<"));
	rpt_buf_free(&b);
}

/* A crossdist run made before issue 13 (no ranking, n or intervals) renders as before: a map per
 * method labelled as before and the summary table, no recommendation claimed. */
static void test_reports_crossdist_old_run(void **state)
{
	(void)state;
	fx *f = fx_new(10, 10, 0);
	rpt_options o;
	default_options(&o);
	write_report(f, "out", &o, NULL);
	char *h = read_out(f, "out", "report.html", NULL);
	char *sec = strstr(h, "<section id=\"crossdist\">");
	assert_non_null(sec);
	*strstr(sec, "</section>") = 0;
	assert_non_null(strstr(sec, "<caption>Summary per method</caption>"));
	assert_non_null(strstr(sec, "<figure><h3>text-only proxy</h3>"));
	assert_non_null(strstr(sec, "<figure><h3>standard MM-RM</h3>"));
	assert_non_null(strstr(sec, "<figure><h3>shortcut-aware MM-RM</h3>"));
	assert_non_null(strstr(sec,
	                       "<tr><th scope=\"row\">standard MM-RM</th><td class=\"num\">86.0%"
	                       "</td><td class=\"num\">57.5%</td><td class=\"num\">28.5 pts"));
	assert_null(strstr(sec, "Train with"));
	assert_null(strstr(sec, "class=\"rank\""));
	assert_null(strstr(sec, "n="));
	free(h);
	fx_free(f);
}

static void test_reports_rerun_identical_bytes(void **state)
{
	(void)state;
	fx *f = fx_new(30, 40, 0);
	rpt_options o;
	default_options(&o);
	write_report(f, "a", &o, NULL);
	write_report(f, "b", &o, NULL);
	static const char *names[] = {"summary.json", "samples.csv", "report.html"};
	for (int i = 0; i < 3; i++) {
		size_t la, lb;
		char *a = read_out(f, "a", names[i], &la), *b = read_out(f, "b", names[i], &lb);
		assert_int_equal(la, lb);
		assert_memory_equal(a, b, la);
		free(a);
		free(b);
	}
	/* No temporary file is left behind. */
	char cmd[256];
	snprintf(cmd, sizeof cmd, "test -z \"$(ls -A '%s/a' | grep '^\\.')\"", f->dir);
	assert_int_equal(system(cmd), 0);
	fx_free(f);
}

static void test_reports_gate_evaluation(void **state)
{
	(void)state;
	fx *f = fx_new(30, 40, 0);
	rpt_state *st = NULL;
	eng_err err = {0};
	assert_int_equal(rpt_state_load(f->ws, &st, &err), 0);
	assert_int_equal(st->ds[1].run_id, 1); /* the failed run 3 is ignored */
	rpt_policy p;
	rpt_policy_init(&p);
	rpt_gate_eval ev;
	assert_int_equal(rpt_gate_evaluate(st, &p, &ev, &err), 0);
	assert_int_equal(ev.n, 0);
	assert_false(ev.failed);
	p.max[RPT_RULE_SHORTCUT_RATE] = 0.3;
	p.max[RPT_RULE_SFD] = 0.2;
	p.max[RPT_RULE_OOD_GAP] = 0.25;
	assert_int_equal(rpt_gate_evaluate(st, &p, &ev, &err), 0);
	assert_int_equal(ev.n, 9); /* 3 rules x 3 datasets */
	/* shortcut rate: 'shortcut' 0.6 (Wilson n=40: 0.446..0.737) FAIL, 'clean' 0.05 (n=30:
	 * 0.009..0.213) PASS; SFD on 4 and 14 wrong pairs: wide, both WARN; gap: see below. */
	assert_int_equal(ev.count[RPT_FAIL], 2);
	assert_int_equal(ev.count[RPT_WARN], 3);
	assert_int_equal(ev.count[RPT_PASS], 1);
	assert_int_equal(ev.count[RPT_NOT_RUN], 3);
	assert_true(ev.failed);
	char line[1024];
	rpt_gate_line(&ev.r[0], line, sizeof line);
	assert_string_equal(line,
	                    "FAIL shortcut rate of dataset 'shortcut' is at most 0.3: observed "
	                    "0.6000 (95% CI 0.446 to 0.737, n=40), threshold 0.3");
	/* o.o.d. gap of 'shortcut': 0.92 - 0.55 = 0.37 on cells of n = 100 each;
	 * var = 0.92*0.08/100 + 0.55*0.45/100 = 0.003211, 1.96 * sqrt(var) = 0.11106:
	 * 0.2589 to 0.4811, wholly above 0.25 -> FAIL. */
	const rpt_gate_result *gap = &ev.r[1];
	assert_int_equal(gap->rule, RPT_RULE_OOD_GAP);
	assert_int_equal(gap->status, RPT_FAIL);
	assert_float_equal(gap->observed, 0.37, 1e-12);
	assert_float_equal(gap->lo, 0.25894, 1e-5);
	assert_float_equal(gap->hi, 0.48106, 1e-5);
	assert_int_equal(gap->n, 200);
	/* 'clean': 0.8 - 0.6 = 0.2 -+ 1.96 sqrt(0.0016 + 0.0024) = 0.076 to 0.324: WARN. */
	const rpt_gate_result *cg = &ev.r[4];
	assert_int_equal(cg->rule, RPT_RULE_OOD_GAP);
	assert_int_equal(cg->status, RPT_WARN);
	rpt_gate_line(cg, line, sizeof line);
	assert_string_equal(line,
	                    "WARN o.o.d. gap of the standard MM-RM trained on dataset "
	                    "'clean' is at most 0.25: observed 0.2000 (95% CI 0.076 to 0.324, "
	                    "n=200), threshold 0.25 \xe2\x80\x94 the interval straddles "
	                    "the threshold");
	assert_int_equal(ev.r[5].status, RPT_PASS);
	assert_int_equal(ev.r[8].status, RPT_NOT_RUN);
	assert_non_null(strstr(ev.r[8].reason, "run mmaudit score"));
	rpt_gate_eval_clear(&ev);
	/* Not strict: WARN passes the gate; strict: it fails. */
	rpt_policy_init(&p);
	p.max[RPT_RULE_OOD_GAP] = 0.25;
	snprintf(p.dataset, sizeof p.dataset, "clean");
	assert_int_equal(rpt_gate_evaluate(st, &p, &ev, &err), 0);
	assert_int_equal(ev.count[RPT_WARN], 1);
	assert_false(ev.failed);
	rpt_gate_eval_clear(&ev);
	p.strict = 1;
	assert_int_equal(rpt_gate_evaluate(st, &p, &ev, &err), 0);
	assert_true(ev.failed);
	rpt_gate_eval_clear(&ev);
	rpt_policy_init(&p);
	p.max[RPT_RULE_SHORTCUT_RATE] = 0.3;
	/* Only the clean dataset's shortcut rate: a PASS; strict makes nothing different there. */
	snprintf(p.dataset, sizeof p.dataset, "clean");
	p.strict = 1;
	assert_int_equal(rpt_gate_evaluate(st, &p, &ev, &err), 0);
	assert_int_equal(ev.n, 1);
	assert_false(ev.failed);
	rpt_gate_eval_clear(&ev);
	/* strict: an unmeasurable rule fails */
	snprintf(p.dataset, sizeof p.dataset, "unscored");
	assert_int_equal(rpt_gate_evaluate(st, &p, &ev, &err), 0);
	assert_true(ev.failed);
	rpt_gate_eval_clear(&ev);
	snprintf(p.dataset, sizeof p.dataset, "nope");
	assert_int_equal(rpt_gate_evaluate(st, &p, &ev, &err), ENG_EINPUT);
	assert_non_null(strstr(err.msg, "have: clean, shortcut, unscored"));
	rpt_state_free(st);
	rpt_state_free(NULL);
	fx_free(f);
}

static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static void test_reports_policy_file(void **state)
{
	(void)state;
	char dir[] = "/tmp/mmaudit-pol-XXXXXX", path[128];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/policy.txt", dir);
	rpt_policy p;
	eng_err err = {0};
	write_file(path, "# CI policy\n\nmax-shortcut-rate = 0.25   # a quarter\n"
	                 "max-ood-gap=0.1\n  dataset = shortcut\nstrict = true\n");
	rpt_policy_init(&p);
	assert_int_equal(rpt_policy_load(&p, path, &err), 0);
	assert_float_equal(p.max[RPT_RULE_SHORTCUT_RATE], 0.25, 0);
	assert_float_equal(p.max[RPT_RULE_OOD_GAP], 0.1, 0);
	assert_true(p.max[RPT_RULE_SFD] != p.max[RPT_RULE_SFD]);
	assert_string_equal(p.dataset, "shortcut");
	assert_int_equal(p.strict, 1);
	assert_int_equal(rpt_policy_count(&p), 2);

	static const struct {
		const char *text, *want;
	} bad[] = {
	    {"max-sfd = 0.1\n\nmax-shortcut-rate 0.3\n", ":3: expected 'key = value'"},
	    {"max-text-accuracy = abc\n", ":1: max-text-accuracy wants a fraction"},
	    {"# x\nmax-shortcut-rate = 1.5\n", ":2: max-shortcut-rate wants a fraction"},
	    {"max-colour = 0.1\n", ":1: unknown key 'max-colour'"},
	    {"max-sfd = 0.1\nmax-sfd = 0.2\n", ":2: 'max-sfd' is set twice"},
	    {"strict = maybe\n", ":1: strict wants true or false"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		write_file(path, bad[i].text);
		rpt_policy_init(&p);
		assert_int_equal(rpt_policy_load(&p, path, &err), ENG_EINPUT);
		char want[256];
		snprintf(want, sizeof want, "%s%s", path, bad[i].want);
		if (!strstr(err.msg, want))
			fail_msg("got '%s', want '%s'", err.msg, want);
	}
	assert_int_equal(rpt_policy_load(&p, "/nonexistent/policy", &err), ENG_EINPUT);
	assert_non_null(strstr(err.msg, "/nonexistent/policy"));
	unlink(path);
	rmdir(dir);
}

static void test_reports_no_score_run(void **state)
{
	(void)state;
	fx *f = fx_new(-1, 0, 0);
	rpt_options o;
	default_options(&o);
	char out[160];
	snprintf(out, sizeof out, "%s/out", f->dir);
	eng_err err = {0};
	assert_int_equal(rpt_report_write(f->ws, &o, out, NULL, NULL, &err), ENG_EINPUT);
	assert_non_null(strstr(err.msg, "run mmaudit score first"));
	struct stat sb;
	assert_int_not_equal(stat(out, &sb), 0); /* nothing written */
	fx_free(f);
}

static void test_reports_html_budget_cuts(void **state)
{
	(void)state;
	fx *f = fx_new(300, 300, 1); /* 6,000-character answers */
	rpt_state *st = NULL;
	eng_err err = {0};
	assert_int_equal(rpt_state_load(f->ws, &st, &err), 0);
	rpt_policy p;
	rpt_policy_init(&p);
	rpt_gate_eval ev;
	assert_int_equal(rpt_gate_evaluate(st, &p, &ev, &err), 0);
	rpt_html_options o = {.top_n = 100, .budget = 400 * 1024, .thumb_cap = 10};
	char *buf = NULL;
	size_t len = 0, bytes = 0;
	FILE *m = open_memstream(&buf, &len);
	assert_int_equal(rpt_html_write(st, &p, &ev, &o, m, &bytes, &err), 0);
	fclose(m);
	assert_int_equal(bytes, len);
	assert_true(len <= 400 * 1024);
	assert_non_null(strstr(buf, "examples per list cut from 100 to 50"));
	assert_non_null(strstr(buf, "thumbnail(s) over the 10-byte cap"));
	assert_non_null(strstr(buf, "more characters not shown: 4 KB cap"));
	assert_null(strstr(buf, "data:image/jpeg"));
	assert_non_null(strstr(buf, "<title>mmaudit - clean, shortcut - NO RULES</title>"));
	free(buf);
	rpt_gate_eval_clear(&ev);
	rpt_state_free(st);
	fx_free(f);
}

static void test_reports_size_bound_many_pairs(void **state)
{
	(void)state;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	fx *f = fx_new(50000, 50000, 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	print_message("# fixture %.1f s\n",
	              (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9);
	rpt_options o;
	default_options(&o);
	o.top_n = 100;
	rpt_report_info info;
	write_report(f, "out", &o, &info);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(info.csv_rows, 100000);
	assert_true(info.html_bytes < 5u * 1024 * 1024);
	assert_true(info.html_bytes > 10000);
	char p[200];
	snprintf(p, sizeof p, "%s/out/samples.csv", f->dir);
	struct stat sb;
	assert_int_equal(stat(p, &sb), 0);
	assert_true(sb.st_size > 100000 * 40);
	print_message("# 100k pairs: report.html %zu bytes, samples.csv %lld bytes, %.1f s total\n",
	              info.html_bytes, (long long)sb.st_size,
	              (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9);
	fx_free(f);
}

/* Issue 12: a text-only dataset (has_images false, MM figures null) and one whose MM-RM does not
 * use the image (mm_informative false), added to run 1 of the standard fixture. Their pair_scores
 * rows keep numbers in p_mm/p_sa/sfc: the reports must go by has_images, not by NULLs. */
#define TXT_NAME "txt<script>x</script>"
static const char *metrics_text_only =
    "{\"pairs\": 4, \"pairs_with_image\": 0, \"pairs_without_image\": 4, \"has_images\": false,"
    " \"text_accuracy\": 0.75, \"mm_accuracy\": null, \"sa_accuracy\": null, \"shortcut_rate\": "
    "1.0, \"sfd\": null, \"mm_acc_text_right\": null, \"mm_acc_text_wrong\": null,"
    " \"n_text_right\": 3, \"n_text_wrong\": 1, \"mm_informative\": null,"
    " \"mm_informative_reason\": \"no images\", \"min_image_gain\": 0.01, \"image_reliance\": null,"
    " \"blind\": {\"pick_longer\": 0.75, \"pick_shorter\": 0.25, \"pick_more_formatted\": 0.5},"
    " \"categories\": {\"text-shortcut\": 4, \"needs-image\": 0, \"suspect-label\": 0,"
    " \"ambiguous\": 0}, \"thresholds\": {\"shortcut\": 0.8, \"wrong\": 0.2},"
    " \"weights\": {\"auto\": \"debias\", \"auto_reason\": \"no images <i>so</i> debias\","
    " \"none\": {\"available\": true, \"pick_longer\": 0.75, \"refit_text_accuracy\": 0.75,"
    " \"refit_text_accuracy_ci95\": [0.3, 0.95], \"ess\": 4, \"ess_share\": 1.0, \"cues\": []},"
    " \"debias\": {\"available\": true, \"pick_longer\": 0.5432, \"refit_text_accuracy\": 0.5,"
    " \"refit_text_accuracy_ci95\": [0.2, 0.8], \"ess\": 3.1, \"ess_share\": 0.775, \"cues\": []},"
    " \"sfc\": {\"available\": false, \"reason\": \"sfc needs images\"}}}";
static const char *metrics_not_informative =
    "{\"pairs\": 4, \"pairs_with_image\": 4, \"pairs_without_image\": 0, \"has_images\": true,"
    " \"text_accuracy\": 0.75, \"mm_accuracy\": 0.7634, \"sa_accuracy\": 0.7777,"
    " \"shortcut_rate\": 1.0, \"sfd\": 0.8123, \"mm_acc_text_right\": 1.0,"
    " \"mm_acc_text_wrong\": 0.1877, \"n_text_right\": 3, \"n_text_wrong\": 1,"
    " \"mm_informative\": false, \"mm_informative_reason\": \"the MM-RM does not use the "
    "image\", \"min_image_gain\": 0.01, \"image_reliance\": {\"n\": 4, \"swap_flip_rate\": "
    "0.0123, \"blank_flip_rate\": 0.0087, \"mean_image_effect\": 0.0042, \"mm_accuracy_true\": "
    "0.7634, \"mm_accuracy_swapped\": 0.7625, \"mm_accuracy_blank\": 0.7611, "
    "\"swap_accuracy_drop\": 0.0009, \"swap_accuracy_drop_ci95\": [-0.002, 0.004]},"
    " \"categories\": {\"text-shortcut\": 4, \"needs-image\": 0, \"suspect-label\": 0,"
    " \"ambiguous\": 0}, \"thresholds\": {\"shortcut\": 0.8, \"wrong\": 0.2}}";

static void add_issue12_datasets(fx *f)
{
	eng_ws *ws = f->ws;
	exec_ok(ws, "BEGIN");
	exec_ok(ws, "INSERT INTO datasets(id, name) VALUES (4, '" TXT_NAME "'), (5, 'noinf')");
	exec_ok(ws, "INSERT INTO source_files(id, dataset_id, path, sha256, bytes, records, pairs,"
	            " errors) VALUES (4, 4, 't.jsonl', 'dd44', 10, 4, 4, 0),"
	            " (5, 5, 'n.jsonl', 'ee55', 10, 4, 4, 0)");
	sqlite3_stmt *rd =
	    prep(ws, "INSERT INTO run_datasets(run_id, dataset_id, metrics) VALUES (1, ?1, ?2)");
	sqlite3_bind_int(rd, 1, 4);
	sqlite3_bind_text(rd, 2, metrics_text_only, -1, SQLITE_STATIC);
	step_done(rd);
	sqlite3_bind_int(rd, 1, 5);
	sqlite3_bind_text(rd, 2, metrics_not_informative, -1, SQLITE_STATIC);
	step_done(rd);
	sqlite3_finalize(rd);
	/* Scores above every other dataset's, so their cards lead "Most text-solvable". */
	for (int ds = 4; ds <= 5; ds++)
		for (int i = 0; i < 4; i++) {
			char sql[512];
			int id = 10000 + ds * 10 + i;
			snprintf(sql, sizeof sql,
			         "INSERT INTO pairs(id, dataset_id, file_id, line, ext_id, prompt, "
			         "chosen,"
			         " rejected, image_id) VALUES (%d, %d, %d, %d, 'x%d', 'p', 'c', "
			         "'r', %s);"
			         " INSERT INTO pair_scores(run_id, pair_id, fold, p_text, p_mm, "
			         "p_sa, sfc,"
			         " category) VALUES (1, %d, 0, %.4f, 0.4242, 0.4343, 0.0101, "
			         "'text-shortcut')",
			         id, ds, ds, i + 1, id, ds == 4 ? "NULL" : "1", id,
			         0.9999 - 0.0001 * i);
			exec_ok(ws, sql);
		}
	exec_ok(ws, "COMMIT");
}

static void test_reports_text_only_and_not_informative(void **state)
{
	(void)state;
	fx *f = fx_new(10, 10, 0);
	add_issue12_datasets(f);
	rpt_options o;
	default_options(&o);
	write_report(f, "out", &o, NULL);

	/* summary.json: MM keys present and null for the text-only dataset, flags copied. */
	char *js = read_out(f, "out", "summary.json", NULL);
	json_t *root = json_loads(js, 0, NULL);
	assert_non_null(root);
	const json_t *ds = json_object_get(root, "datasets"), *t = NULL, *ni = NULL, *cl = NULL;
	for (size_t i = 0; i < json_array_size(ds); i++) {
		const json_t *d = json_array_get(ds, i);
		const char *name = json_string_value(json_object_get(d, "name"));
		if (!strcmp(name, TXT_NAME))
			t = d;
		else if (!strcmp(name, "noinf"))
			ni = d;
		else if (!strcmp(name, "clean"))
			cl = d;
	}
	assert_non_null(t);
	assert_non_null(ni);
	assert_non_null(cl);
	static const char *nulls[] = {"mm_accuracy",       "sa_accuracy",       "sfd",
	                              "mm_acc_text_right", "mm_acc_text_wrong", "mm_informative",
	                              "image_reliance"};
	for (size_t k = 0; k < sizeof nulls / sizeof nulls[0]; k++) {
		assert_non_null(json_object_get(t, nulls[k]));           /* present, */
		assert_true(json_is_null(json_object_get(t, nulls[k]))); /* and null */
	}
	assert_true(json_is_false(json_object_get(t, "has_images")));
	assert_true(json_is_null(json_object_get(json_object_get(t, "interval95"), "mm_accuracy")));
	assert_false(json_is_true(
	    json_object_get(json_object_get(json_object_get(t, "weights"), "sfc"), "available")));
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(t, "weights"), "auto")), "debias");
	assert_true(json_is_true(json_object_get(ni, "has_images")));
	assert_true(json_is_false(json_object_get(ni, "mm_informative")));
	assert_string_equal(json_string_value(json_object_get(ni, "mm_informative_reason")),
	                    "the MM-RM does not use the image");
	const json_t *ir = json_object_get(ni, "image_reliance");
	assert_float_equal(json_real_value(json_object_get(ir, "swap_flip_rate")), 0.0123, 1e-12);
	assert_float_equal(
	    json_real_value(json_array_get(json_object_get(ir, "swap_accuracy_drop_ci95"), 0)),
	    -0.002, 1e-12);
	assert_float_equal(json_real_value(json_object_get(ni, "min_image_gain")), 0.01, 1e-12);
	/* A run from before issue 12: has_images from pairs_with_image, the rest null. */
	assert_true(json_is_true(json_object_get(cl, "has_images")));
	assert_true(json_is_null(json_object_get(cl, "mm_informative")));
	assert_true(json_is_null(json_object_get(cl, "weights")));
	const json_t *defs = json_object_get(root, "definitions");
	assert_non_null(json_object_get(defs, "image_reliance.swap_flip_rate"));
	assert_non_null(json_object_get(defs, "weights.refit_text_accuracy"));
	assert_non_null(json_object_get(defs, "weights.ess"));
	json_decref(root);
	free(js);

	char *h = read_out(f, "out", "report.html", NULL);
	assert_false(contains_ci(h, "<script"));
	assert_false(contains_ci(h, "<i>so"));
	assert_non_null(strstr(h, "txt&lt;script&gt;x&lt;/script&gt;"));
	/* Metrics row of the text-only dataset: MM-RM, shortcut-aware, needs-image and SFD cells
	 * say n/a: no images, and the row carries no MM percentage. */
	char *row = strstr(h, "<tr><th scope=\"row\">txt&lt;script&gt;x&lt;/script&gt;<br>");
	assert_non_null(row);
	char *end = strstr(row, "</tr>");
	assert_non_null(end);
	*end = '\0';
	int na = 0;
	for (char *p = row; (p = strstr(p, "n/a: no images")); p++)
		na++;
	assert_int_equal(na, 4);
	assert_null(strstr(row, "76.3%"));
	assert_null(strstr(row, "81.2"));
	*end = '<';
	/* Cards: the text-only pair shows no p_mm; the not-informative one is labelled. */
	assert_non_null(strstr(h, "p_text 1.000 \xc2\xb7 p_mm, p_sa, sfc: n/a: no images"));
	assert_null(strstr(h, "p_mm 0.424 \xc2\xb7 p_sa 0.434 \xc2\xb7 sfc 0.010</span>"));
	assert_non_null(strstr(h, "p_mm 0.424 \xc2\xb7 p_sa 0.434 \xc2\xb7 sfc 0.010 (not "
	                          "informative: this dataset's MM-RM does not use the image)"));
	/* The not-informative dataset: SFD greyed and labelled, not drawn in the slope chart. */
	row = strstr(h, "<tr><th scope=\"row\">noinf<br>");
	assert_non_null(row);
	char *sfd = strstr(row, "+81.2 pts");
	assert_non_null(sfd);
	char *lab = strstr(sfd, "not informative");
	assert_non_null(lab);
	assert_true(lab < strstr(row, "</tr>"));
	assert_non_null(strstr(h, "<strong>noinf</strong>: not drawn, not informative"));
	char *svg = strstr(strstr(h, "<section id=\"sfd\""), "<svg");
	assert_non_null(svg);
	char *svg_end = strstr(svg, "</svg>");
	*svg_end = '\0';
	assert_null(strstr(svg, "noinf"));
	assert_null(strstr(svg, "txt&lt;script"));
	assert_non_null(strstr(svg, "shortcut"));
	*svg_end = '<';
	/* Its counterfactual test figures. */
	char *iu = strstr(h, "<section id=\"image-use\"");
	assert_non_null(iu);
	char *iurow = strstr(iu, "<tr><th scope=\"row\">noinf</th>");
	assert_non_null(iurow);
	assert_non_null(strstr(iurow, "<td class=\"num\">1.2%</td><td class=\"num\">0.9%</td><td "
	                              "class=\"num\">76.3%</td><td class=\"num\">76.2%</td><td "
	                              "class=\"num\">76.1%</td><td class=\"num\">0.004</td><td "
	                              "class=\"num\">+0.1 pts<br><small>95% CI -0.2 to +0.4"));
	/* Weights: auto's method first after none, the unavailable one with its reason. */
	char *w = strstr(h, "<section id=\"weights\"");
	assert_non_null(w);
	assert_non_null(strstr(w, "<code>auto</code> picked <strong>debias</strong>: no images "
	                          "&lt;i&gt;so&lt;/i&gt; debias"));
	assert_non_null(strstr(w, "54.3% <small>(-20.7)</small>"));
	assert_non_null(strstr(w, "unavailable: sfc needs images"));
	assert_non_null(strstr(w, "3<br><small>77.5% of n</small>"));
	assert_non_null(strstr(h, "<a href=\"#weights\">What the weights do</a>"));
	free(h);
	fx_free(f);
}

static void test_reports_wilson(void **state)
{
	(void)state;
	double lo, hi;
	rpt_wilson(0.5, 100, &lo, &hi); /* textbook: [0.4038, 0.5962] */
	assert_float_equal(lo, 0.4038, 1e-4);
	assert_float_equal(hi, 0.5962, 1e-4);
	rpt_wilson(1.0, 10, &lo, &hi);
	assert_float_equal(hi, 1.0, 1e-12);
	assert_float_equal(lo, 0.7225, 1e-4);
	rpt_wilson(0.5, 0, &lo, &hi);
	assert_true(lo != lo);
}

/* Newcombe (1998), Stat. Med. 17:873, example (a): 56/70 - 48/80 = 0.2, method 10. By hand:
 * Wilson(0.8, 70) = [0.69183, 0.87695], Wilson(0.6, 80) = [0.49045, 0.70038];
 * lo = 0.2 - sqrt((0.8 - 0.69183)^2 + (0.70038 - 0.6)^2) = 0.2 - sqrt(0.011700 + 0.010077)
 *    = 0.2 - 0.14757 = 0.05243,
 * hi = 0.2 + sqrt((0.87695 - 0.8)^2 + (0.6 - 0.49045)^2) = 0.2 + sqrt(0.005922 + 0.012000)
 *    = 0.2 + 0.13387 = 0.33387; the paper's table: 0.0524 to 0.3339. */
static void test_reports_newcombe(void **state)
{
	(void)state;
	double lo, hi;
	rpt_newcombe(56.0 / 70, 70, 48.0 / 80, 80, &lo, &hi);
	assert_float_equal(lo, 0.05243, 1e-5);
	assert_float_equal(hi, 0.33387, 1e-5);
	/* Symmetric: swapping the groups mirrors the interval. */
	double lo2, hi2;
	rpt_newcombe(48.0 / 80, 80, 56.0 / 70, 70, &lo2, &hi2);
	assert_float_equal(lo2, -hi, 1e-12);
	assert_float_equal(hi2, -lo, 1e-12);
	rpt_newcombe(0.5, 10, 0.5, 0, &lo, &hi);
	assert_true(lo != lo && hi != hi);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reports_summary_values),
	    cmocka_unit_test(test_reports_examples_see_ranks),
	    cmocka_unit_test(test_reports_no_crossdist_key_absent),
	    cmocka_unit_test(test_reports_csv_ranked_and_defused),
	    cmocka_unit_test(test_reports_csv_chunked_same_bytes),
	    cmocka_unit_test(test_reports_csv_cell_rules),
	    cmocka_unit_test(test_reports_fixed6_matches_printf),
	    cmocka_unit_test(test_reports_csv_int_matches_printf),
	    cmocka_unit_test(test_reports_html_escaped_and_offline),
	    cmocka_unit_test(test_reports_heat_labels_and_ink),
	    cmocka_unit_test(test_reports_crossdist_old_run),
	    cmocka_unit_test(test_reports_rerun_identical_bytes),
	    cmocka_unit_test(test_reports_gate_evaluation),
	    cmocka_unit_test(test_reports_policy_file),
	    cmocka_unit_test(test_reports_no_score_run),
	    cmocka_unit_test(test_reports_html_budget_cuts),
	    cmocka_unit_test(test_reports_wilson),
	    cmocka_unit_test(test_reports_newcombe),
	    cmocka_unit_test(test_reports_text_only_and_not_informative),
	    cmocka_unit_test(test_reports_size_bound_many_pairs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
