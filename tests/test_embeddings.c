/* test_embeddings.c - external embeddings: .npy / ids / JSONL parsing and their errors, key
 * resolution and the coverage report of eng_emb_store, and the planted test: image and text
 * vectors decide the preference while pixels and words do not, so the MM-RM reaches >= 95%
 * held-out accuracy only when the embeddings are given. Fixtures are written here (PNG through
 * stb_image_write, .npy bytes by hand). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <jansson.h>
#include <stb_image_write.h>

#include "embeddings.h"
#include "workspace_sql.h"
#include "index.h"
#include "model_internal.h"
#include "score.h"
#include "workspace.h"

static char dir[64];

static const char *path_of(const char *rel)
{
	static char p[4][256];
	static int k;
	k = (k + 1) % 4;
	snprintf(p[k], sizeof p[k], "%s/%s", dir, rel);
	return p[k];
}

static void write_file(const char *rel, const void *data, size_t n)
{
	FILE *f = fopen(path_of(rel), "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, n, f), n);
	fclose(f);
}

/* A .npy file: header dict text as given (padded to 64-byte alignment), then n floats. */
static void write_npy(const char *rel, const char *dict, const float *x, size_t n, int major)
{
	char hdr[512];
	size_t pre = major == 1 ? 10 : 12, len = strlen(dict);
	size_t total = (pre + len + 1 + 63) / 64 * 64, hlen = total - pre;
	memset(hdr, ' ', sizeof hdr);
	memcpy(hdr, "\x93NUMPY", 6);
	hdr[6] = (char)major;
	hdr[7] = 0;
	if (major == 1) {
		hdr[8] = (char)(hlen & 0xff);
		hdr[9] = (char)(hlen >> 8);
	} else {
		hdr[8] = (char)(hlen & 0xff);
		hdr[9] = (char)(hlen >> 8);
		hdr[10] = hdr[11] = 0;
	}
	memcpy(hdr + pre, dict, len);
	hdr[total - 1] = '\n';
	FILE *f = fopen(path_of(rel), "wb");
	assert_non_null(f);
	fwrite(hdr, 1, total, f);
	if (n)
		fwrite(x, sizeof(float), n, f);
	fclose(f);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/mm_emb_XXXXXX");
	assert_non_null(mkdtemp(dir));
	char cmd[128];
	snprintf(cmd, sizeof cmd, "mkdir -p %s/img", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd);
}

/* ---- .npy ------------------------------------------------------------------------------------ */

static void test_embeddings_npy_good(void **state)
{
	(void)state;
	float x[6] = {1, 2, 3, 4.5f, -5, 6};
	write_npy("a.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", x, 6, 1);
	write_npy("b.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", x, 6, 2);
	float *d = NULL;
	size_t rows;
	uint32_t dim;
	eng_err err = {0};
	assert_int_equal(eng_npy_read(path_of("a.npy"), &d, &rows, &dim, &err), 0);
	assert_int_equal(rows, 3);
	assert_int_equal(dim, 2);
	assert_memory_equal(d, x, sizeof x);
	free(d);
	assert_int_equal(eng_npy_read(path_of("b.npy"), &d, &rows, &dim, &err), 0);
	assert_int_equal(rows, 2);
	assert_int_equal(dim, 3);
	assert_true(d[3] == 4.5f);
	free(d);
}

static void expect_npy_error(const char *dict, size_t nfloats, const char *what)
{
	float x[16] = {0};
	write_npy("bad.npy", dict, x, nfloats, 1);
	float *d = (float *)1;
	size_t rows;
	uint32_t dim;
	eng_err err = {0};
	assert_int_equal(eng_npy_read(path_of("bad.npy"), &d, &rows, &dim, &err), ENG_EINPUT);
	assert_null(d);
	if (!strstr(err.msg, what))
		fail_msg("expected '%s' in: %s", what, err.msg);
}

static void test_embeddings_npy_errors(void **state)
{
	(void)state;
	expect_npy_error("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }", 8,
	                 "not little-endian float32");
	expect_npy_error("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", 4,
	                 "Fortran order");
	expect_npy_error("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", 4, "2-D");
	expect_npy_error("{'descr': '<f4', 'fortran_order': False, 'shape': (4, 3), }", 5,
	                 "truncated");
	expect_npy_error("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", 6,
	                 "bytes after");
	expect_npy_error("{'descr': '<f4', 'shape': (2, 2), }", 4, "malformed");
	write_file("bad.npy", "{\"key\": 1}\n", 11);
	float *d;
	size_t rows;
	uint32_t dim;
	eng_err err = {0};
	assert_int_equal(eng_npy_read(path_of("bad.npy"), &d, &rows, &dim, &err), ENG_EINPUT);
	assert_non_null(strstr(err.msg, "not a NumPy"));
	float nan = 0.0f / 0.0f, y[4] = {1, 2, nan, 4};
	write_npy("nan.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", y, 4,
	          1);
	assert_int_equal(eng_npy_read(path_of("nan.npy"), &d, &rows, &dim, &err), ENG_EINPUT);
	assert_non_null(strstr(err.msg, "row 1 column 0 is not finite"));
}

static void test_embeddings_read_ids_and_jsonl(void **state)
{
	(void)state;
	float x[4] = {1, 2, 3, 4};
	write_npy("m.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", x, 4, 1);
	write_file("m.ids", "img/a.png\r\nimg/b.png\n", 21);
	eng_emb_table t;
	eng_err err = {0};
	assert_int_equal(eng_emb_read(path_of("m.npy"), path_of("m.ids"), &t, &err), 0);
	assert_int_equal(t.rows, 2);
	assert_string_equal(t.key[0], "img/a.png");
	assert_string_equal(t.key[1], "img/b.png");
	assert_int_equal(strlen(t.sha256), 64);
	eng_emb_table_free(&t);
	/* too few ids, missing ids file, empty key */
	write_file("short.ids", "img/a.png\n", 10);
	assert_int_equal(eng_emb_read(path_of("m.npy"), path_of("short.ids"), &t, &err),
	                 ENG_EINPUT);
	assert_non_null(strstr(err.msg, "1 key line(s) but the matrix has 2 rows"));
	assert_int_equal(eng_emb_read(path_of("m.npy"), NULL, &t, &err), ENG_EINPUT);
	assert_non_null(strstr(err.msg, "--ids"));
	write_file("empty.ids", "a\n\n", 3);
	assert_int_equal(eng_emb_read(path_of("m.npy"), path_of("empty.ids"), &t, &err),
	                 ENG_EINPUT);
	assert_non_null(strstr(err.msg, "empty.ids:2: empty key"));

	const char *good = "{\"key\": \"k1\", \"embedding\": [1, 2.5, -3]}\n"
	                   "\n{\"text\": \"Hello\", \"embedding\": [0, 0, 1e-3]}\n";
	write_file("g.jsonl", good, strlen(good));
	assert_int_equal(eng_emb_read(path_of("g.jsonl"), NULL, &t, &err), 0);
	assert_int_equal(t.rows, 2);
	assert_int_equal(t.dim, 3);
	assert_true(t.vec[1] == 2.5f && t.vec[5] == 1e-3f);
	assert_int_equal(t.is_text[0], 0);
	assert_int_equal(t.is_text[1], 1);
	assert_string_equal(t.key[1], "Hello");
	eng_emb_table_free(&t);
	const char *dims = "{\"key\": \"a\", \"embedding\": [1, 2]}\n"
	                   "{\"key\": \"b\", \"embedding\": [1, 2, 3]}\n";
	write_file("d.jsonl", dims, strlen(dims));
	assert_int_equal(eng_emb_read(path_of("d.jsonl"), NULL, &t, &err), ENG_EINPUT);
	assert_non_null(strstr(err.msg, "d.jsonl:2: embedding has 3 values, earlier lines have 2"));
	const char *nokey = "{\"embedding\": [1]}\n";
	write_file("k.jsonl", nokey, strlen(nokey));
	assert_int_equal(eng_emb_read(path_of("k.jsonl"), NULL, &t, &err), ENG_EINPUT);
	assert_non_null(strstr(err.msg, "k.jsonl:1: needs a string \"key\""));
	const char *str = "{\"key\": \"a\", \"embedding\": [1, \"x\"]}\n";
	write_file("s.jsonl", str, strlen(str));
	assert_int_equal(eng_emb_read(path_of("s.jsonl"), NULL, &t, &err), ENG_EINPUT);
	assert_non_null(strstr(err.msg, "value 1 is not a finite"));
}

/* ---- a dataset on disk ------------------------------------------------------------------------
 */

typedef struct rng {
	uint64_t s;
} rng;

static uint64_t rnext(rng *r)
{
	r->s = r->s * 6364136223846793005ULL + 1442695040888963407ULL;
	uint64_t z = r->s;
	z = (z ^ (z >> 33)) * 0xff51afd7ed558ccdULL;
	return z ^ (z >> 29);
}

static double runif(rng *r)
{
	return (double)(rnext(r) >> 11) * 0x1.0p-53;
}

static double rnorm(rng *r) /* sum of 12 uniforms - 6: close enough to N(0, 1) here */
{
	double s = 0;
	for (int i = 0; i < 12; i++)
		s += runif(r);
	return s - 6;
}

static const char *filler[] = {"the",   "answer", "shows", "a",   "thing", "here",  "looks",
                               "clear", "maybe",  "this",  "one", "seems", "right", "picture"};

/* A response of random filler words (no class information), unique through its number. */
static void response(rng *r, int i, int side, char *out, size_t cap)
{
	int n = snprintf(out, cap, "Response %d%c:", i, side ? 'b' : 'a');
	int words = 5 + (int)(rnext(r) % 6);
	for (int w = 0; w < words; w++)
		n += snprintf(out + n, cap - (size_t)n, " %s",
		              filler[rnext(r) % (sizeof filler / sizeof filler[0])]);
	snprintf(out + n, cap - (size_t)n, ".");
}

/* Noise image i as img/NNNN.png (pixels carry no class information). */
static void noise_png(rng *r, int i)
{
	enum { W = 16 };
	uint8_t px[W * W * 3];
	for (size_t k = 0; k < sizeof px; k++)
		px[k] = (uint8_t)(rnext(r) >> 56);
	char rel[64];
	snprintf(rel, sizeof rel, "img/%04d.png", i);
	assert_true(stbi_write_png(path_of(rel), W, W, 3, px, W * 3));
}

/* Planted environment: n pairs, one noise image each. Class c of pair i is uniform in [0, K).
 * Image embedding (dim E): one-hot(c) + noise; chosen text embedding: one-hot(c) + noise;
 * rejected: one-hot(c') + noise with c' != c. So the preference is the agreement of the image
 * vector with the answer vector; neither side alone says anything (classes are balanced). Writes
 * data.jsonl, img.npy + img.ids (keys: image paths as in the records) and text.jsonl
 * ({"text": response, "embedding": ...}). */
enum { PK = 4, PE = 8 };
static void planted(int n, uint64_t seed)
{
	rng r = {seed};
	FILE *fj = fopen(path_of("data.jsonl"), "w"), *fi = fopen(path_of("img.ids"), "w");
	FILE *ft = fopen(path_of("text.jsonl"), "w");
	assert_true(fj && fi && ft);
	float *iv = calloc((size_t)n * PE, sizeof(float));
	assert_non_null(iv);
	char ch[256], rj[256];
	for (int i = 0; i < n; i++) {
		int c = (int)(rnext(&r) % PK), c2 = (c + 1 + (int)(rnext(&r) % (PK - 1))) % PK;
		noise_png(&r, i);
		response(&r, i, 0, ch, sizeof ch);
		response(&r, i, 1, rj, sizeof rj);
		json_t *rec =
		    json_pack("{s:s, s:s, s:s, s:s}", "prompt", "Which answer fits the image?",
		              "image", "", "chosen", ch, "rejected", rj);
		char rel[64];
		snprintf(rel, sizeof rel, "img/%04d.png", i);
		json_object_set_new(rec, "image", json_string(rel));
		char *line = json_dumps(rec, JSON_COMPACT);
		fprintf(fj, "%s\n", line);
		free(line);
		json_decref(rec);
		fprintf(fi, "%s\n", rel);
		for (int k = 0; k < PE; k++)
			iv[(size_t)i * PE + k] = (float)((k == c) + 0.15 * rnorm(&r));
		for (int side = 0; side < 2; side++) {
			json_t *e = json_array();
			int cls = side ? c2 : c;
			for (int k = 0; k < PE; k++)
				json_array_append_new(e, json_real((k == cls) + 0.15 * rnorm(&r)));
			json_t *o = json_pack("{s:s, s:o}", "text", side ? rj : ch, "embedding", e);
			line = json_dumps(o, JSON_COMPACT);
			fprintf(ft, "%s\n", line);
			free(line);
			json_decref(o);
		}
	}
	fclose(fj);
	fclose(fi);
	fclose(ft);
	char dict[128];
	snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }",
	         n, PE);
	write_npy("img.npy", dict, iv, (size_t)n * PE, 1);
	free(iv);
}

static eng_ws *indexed_ws(void)
{
	eng_ws *ws = NULL;
	eng_err err = {0};
	assert_int_equal(eng_ws_open(":memory:", &ws, &err), 0);
	eng_index_opts io = {0};
	eng_index_result res;
	if (eng_index_file(ws, "planted", path_of("data.jsonl"), &io, &res, &err))
		fail_msg("index: %s", err.msg);
	assert_int_equal(res.errors, 0);
	return ws;
}

static void load(eng_ws *ws, eng_emb_kind kind, const char *file, const char *ids,
                 eng_emb_report *rep)
{
	eng_err err = {0};
	if (eng_emb_load(ws, kind, path_of(file), ids ? path_of(ids) : NULL, rep, &err))
		fail_msg("load: %s", err.msg);
}

static int64_t count(eng_ws *ws, const char *sql)
{
	sqlite3_stmt *st = eng_ws_prepare(ws, sql, NULL);
	assert_non_null(st);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int64_t v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void test_embeddings_store_reports_missing_and_unmatched(void **state)
{
	(void)state;
	planted(6, 7);
	eng_ws *ws = indexed_ws();
	eng_emb_report rep;
	load(ws, ENG_EMB_IMAGE, "img.npy", "img.ids", &rep);
	assert_int_equal(rep.stored, 6);
	assert_int_equal(rep.unmatched + rep.unresolved + rep.pairs_missing, 0);
	assert_int_equal(rep.targets, 6);
	/* eng_emb_load records "vectors + ids" as the set's source */
	assert_int_equal(count(ws, "SELECT count(*) FROM embedding_sets WHERE kind = 'image' AND"
	                           " source LIKE '%img.npy + %img.ids'"),
	                 1);
	uint32_t dim;
	assert_int_equal(eng_emb_set_dim(ws, ENG_EMB_IMAGE, &dim, NULL), 0);
	assert_int_equal(dim, PE);

	/* a new set: 4 of the 6 images by path, one by content hash, an unknown path, an unknown
	 * hash, and a repeated key with the same vector */
	sqlite3_stmt *st =
	    eng_ws_prepare(ws, "SELECT sha256 FROM images ORDER BY id LIMIT 1 OFFSET 4", NULL);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	char sha[65];
	snprintf(sha, sizeof sha, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	FILE *f = fopen(path_of("part.jsonl"), "w");
	for (int i = 0; i < 4; i++)
		fprintf(f, "{\"key\": \"img/%04d.png\", \"embedding\": [%d, 1]}\n", i, i);
	fprintf(f, "{\"key\": \"%s\", \"embedding\": [4, 1]}\n", sha);
	fprintf(f, "{\"key\": \"img/nope.png\", \"embedding\": [9, 9]}\n");
	fprintf(f, "{\"key\": \"%064d\", \"embedding\": [8, 8]}\n", 0);
	fprintf(f, "{\"key\": \"img/0000.png\", \"embedding\": [0, 1]}\n");
	fclose(f);
	load(ws, ENG_EMB_IMAGE, "part.jsonl", NULL, &rep);
	assert_int_equal(rep.rows, 8);
	assert_int_equal(rep.stored, 6);
	assert_int_equal(rep.duplicates, 1);
	assert_int_equal(rep.unresolved, 1);
	assert_int_equal(rep.unmatched, 1);
	assert_int_equal(rep.targets, 6);
	assert_int_equal(rep.targets_missing, 1);
	assert_int_equal(rep.pairs_missing, 1);
	assert_int_equal(rep.nfirst_missing, 1);
	assert_string_equal(rep.first_missing[0], "planted:data:6");
	assert_int_equal(rep.nfirst_unmatched, 2);
	assert_string_equal(rep.first_unmatched[0], "img/nope.png");
	assert_int_equal(count(ws, "SELECT count(*) FROM embeddings WHERE kind = 'image'"), 6);
	assert_int_equal(count(ws, "SELECT dim FROM embedding_sets WHERE kind = 'image'"), 2);

	/* the same key twice with different vectors: refused, the previous set stays */
	const char *clash = "{\"key\": \"img/0001.png\", \"embedding\": [1, 2, 3]}\n"
	                    "{\"key\": \"img/0001.png\", \"embedding\": [1, 2, 4]}\n";
	write_file("clash.jsonl", clash, strlen(clash));
	eng_emb_table t;
	eng_err err = {0};
	assert_int_equal(eng_emb_read(path_of("clash.jsonl"), NULL, &t, &err), 0);
	assert_int_equal(eng_emb_store(ws, ENG_EMB_IMAGE, &t, "clash", NULL, &err), ENG_EINPUT);
	assert_non_null(strstr(err.msg, "row 2: key 'img/0001.png' was given before"));
	eng_emb_table_free(&t);
	assert_int_equal(count(ws, "SELECT dim FROM embedding_sets WHERE kind = 'image'"), 2);
	assert_int_equal(count(ws, "SELECT count(*) FROM embeddings WHERE kind = 'image'"), 6);

	/* text: all responses given; then a set without pair 3's rejected answer */
	load(ws, ENG_EMB_TEXT, "text.jsonl", NULL, &rep);
	assert_int_equal(rep.stored, 12);
	assert_int_equal(rep.targets, 12);
	assert_int_equal(rep.pairs, 6);
	assert_int_equal(rep.pairs_missing + rep.unmatched, 0);
	FILE *in = fopen(path_of("text.jsonl"), "r"), *out = fopen(path_of("t5.jsonl"), "w");
	char line[4096];
	for (int i = 0; fgets(line, sizeof line, in); i++)
		if (i != 2 * 3 + 1)
			fputs(line, out);
	fprintf(out, "{\"key\": \"no such answer\", \"embedding\": [%s]}\n", "1,1,1,1,1,1,1,1");
	fclose(in);
	fclose(out);
	load(ws, ENG_EMB_TEXT, "t5.jsonl", NULL, &rep);
	assert_int_equal(rep.stored, 12);
	assert_int_equal(rep.unmatched, 1);
	assert_string_equal(rep.first_unmatched[0], "no such answer");
	assert_int_equal(rep.targets_missing, 1);
	assert_int_equal(rep.pairs_missing, 1);
	assert_string_equal(rep.first_missing[0], "planted:data:4");
	eng_ws_close(ws);
}

/* ---- planted: the embeddings decide -----------------------------------------------------------
 */

static json_t *score_metrics(eng_ws *ws, eng_features features)
{
	eng_score_opts so;
	eng_score_opts_default(&so);
	so.features = features;
	so.threads = 2;
	so.train.epochs = 20;
	so.folds = 3;
	so.text.hash_bits = 14;
	int64_t run = 0, id;
	eng_err err = {0};
	assert_int_equal(eng_ws_dataset_id(ws, "planted", &id, &err), 0);
	if (eng_score_run(ws, &id, 1, &so, NULL, &run, &err))
		fail_msg("score: %s", err.msg);
	sqlite3_stmt *st =
	    eng_ws_prepare(ws, "SELECT metrics FROM run_datasets WHERE run_id = ?1", NULL);
	sqlite3_bind_int64(st, 1, run);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	json_t *m = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
	sqlite3_finalize(st);
	assert_non_null(m);
	return m;
}

static double num(json_t *m, const char *k)
{
	return json_number_value(json_object_get(m, k));
}

static void test_embeddings_planted_decides_mm_accuracy(void **state)
{
	(void)state;
	planted(600, 42);
	eng_ws *ws = indexed_ws();
	eng_err err = {0};
	eng_emb_report rep;

	json_t *b = score_metrics(ws, ENG_FEATURES_AUTO); /* nothing loaded: builtin */
	load(ws, ENG_EMB_IMAGE, "img.npy", "img.ids", &rep);
	assert_int_equal(rep.pairs_missing, 0);
	load(ws, ENG_EMB_TEXT, "text.jsonl", NULL, &rep);
	assert_int_equal(rep.pairs_missing, 0);
	json_t *bb = score_metrics(ws, ENG_FEATURES_BUILTIN);
	json_t *e = score_metrics(ws, ENG_FEATURES_AUTO); /* loaded: image replaced, text joined */
	json_t *eo = score_metrics(ws, ENG_FEATURES_EMBEDDINGS);
	json_t *bo = score_metrics(ws, ENG_FEATURES_BOTH);
	print_message("# mm accuracy: builtin %.3f / %.3f, auto %.3f, embeddings %.3f, both %.3f; "
	              "text-only with embeddings %.3f\n",
	              num(b, "mm_accuracy"), num(bb, "mm_accuracy"), num(e, "mm_accuracy"),
	              num(eo, "mm_accuracy"), num(bo, "mm_accuracy"), num(e, "text_accuracy"));
	assert_true(num(b, "mm_accuracy") <= 0.60);
	assert_true(num(bb, "mm_accuracy") <= 0.60);
	assert_true(num(e, "mm_accuracy") >= 0.95);
	assert_true(num(eo, "mm_accuracy") >= 0.95);
	/* next to the noisy pixel statistics the vectors still lift the MM-RM above chance */
	assert_true(num(bo, "mm_accuracy") >= 0.60);
	/* the text vectors alone say nothing: it is the image x text interaction */
	assert_true(num(e, "text_accuracy") <= 0.65);
	assert_true(num(eo, "text_accuracy") <= 0.65);

	/* the run records which features it used */
	sqlite3_stmt *st = eng_ws_prepare(ws, "SELECT options FROM runs ORDER BY id", NULL);
	const char *want[] = {"builtin", "builtin", "auto", "embeddings", "both"};
	const int img_builtin[] = {1, 1, 0, 0, 1}, text_emb[] = {0, 0, PE, PE, PE};
	for (int i = 0; i < 5; i++) {
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		json_t *o = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
		json_t *f = json_object_get(o, "features");
		assert_string_equal(json_string_value(json_object_get(f, "mode")), want[i]);
		assert_int_equal(json_integer_value(json_object_get(f, "text_embedding_dim")),
		                 text_emb[i]);
		assert_int_equal(json_integer_value(json_object_get(f, "image_builtin_dim")) > 0,
		                 img_builtin[i]);
		json_decref(o);
	}
	sqlite3_finalize(st);
	json_decref(b), json_decref(bb), json_decref(e), json_decref(eo), json_decref(bo);
	(void)err;
	eng_ws_close(ws);
}

static void test_embeddings_features_without_sets_is_input_error(void **state)
{
	(void)state;
	planted(6, 3);
	eng_ws *ws = indexed_ws();
	eng_score_opts so;
	eng_score_opts_default(&so);
	so.features = ENG_FEATURES_BOTH;
	so.folds = 2;
	int64_t run = 0, id;
	eng_err err = {0};
	assert_int_equal(eng_ws_dataset_id(ws, "planted", &id, &err), 0);
	assert_int_equal(eng_score_run(ws, &id, 1, &so, NULL, &run, &err), ENG_EINPUT);
	assert_non_null(strstr(err.msg, "mmaudit embed"));
	eng_features f;
	assert_int_equal(eng_features_parse("embeddings", &f), 0);
	assert_int_equal(f, ENG_FEATURES_EMBEDDINGS);
	assert_int_equal(eng_features_parse("clip", &f), ENG_EINPUT);
	eng_ws_close(ws);
}

/* Dense columns get their own interaction rows, after the fold buckets. */
static void test_embeddings_dense_columns_own_interaction_rows(void **state)
{
	(void)state;
	eng_pairset ps;
	eng_err err = {0};
	assert_int_equal(eng_pairset_init(&ps, 100, 2, &err), 0);
	ps.dense_dim = 3;
	uint32_t col[2] = {5, 98};
	float val[2] = {1, 1}, img[2] = {0, 1};
	assert_int_equal(eng_pairset_add_row(&ps, col, val, 2, 0, &err), 0);
	assert_int_equal(eng_pairset_add_row(&ps, col, val, 2, 0, &err), 0);
	assert_int_equal(eng_pairset_set_images(&ps, img, 1, &err), 0);
	eng_train_opts o;
	eng_train_opts_default(&o);
	o.method = ENG_METHOD_STANDARD;
	o.fold_buckets = 16;
	eng_model *m;
	size_t rows[2] = {0, 1};
	assert_int_equal(eng_model_alloc(&ps, rows, 2, &o, &m, &err), 0);
	assert_int_equal(m->B, 16 + 3);
	assert_int_equal(m->dense_begin, 97);
	assert_int_equal(eng_model_bucket(m, 97), 16);
	assert_int_equal(eng_model_bucket(m, 99), 18);
	assert_int_equal(eng_model_bucket(m, 5), eng_model_fold(5, 16));
	eng_model_free(m);
	eng_pairset_free(&ps);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_embeddings_npy_good),
	    cmocka_unit_test(test_embeddings_npy_errors),
	    cmocka_unit_test(test_embeddings_read_ids_and_jsonl),
	    cmocka_unit_test(test_embeddings_store_reports_missing_and_unmatched),
	    cmocka_unit_test(test_embeddings_features_without_sets_is_input_error),
	    cmocka_unit_test(test_embeddings_dense_columns_own_interaction_rows),
	    cmocka_unit_test(test_embeddings_planted_decides_mm_accuracy),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
