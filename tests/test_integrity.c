/* test_integrity.c - engine/integrity (errors by code, duplicate and conflict groups, position
 * bias, swap consistency), engine/neardup (perceptual hash, near-duplicate search within and
 * across datasets) and the migration 0005 contract: a record's own "conflict" / "dup_group"
 * fields stay in pairs.meta as written while dedup's flags go to columns. Fixtures are built in
 * :memory: workspaces (or a temp dir for the index round trip); every expected value is counted by
 * hand here. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <stb_image_write.h>

#include "dedup.h"
#include "workspace_sql.h"
#include "index.h"
#include "integrity.h"
#include "neardup.h"
#include "workspace.h"

static eng_ws *open_mem(void)
{
	eng_ws *ws = NULL;
	eng_err err = {0};
	assert_int_equal(eng_ws_open(":memory:", &ws, &err), 0);
	return ws;
}

static void exec_ok(eng_ws *ws, const char *sql)
{
	eng_err err = {0};
	int rc = eng_ws_exec(ws, sql, &err);
	if (rc)
		print_message("# %s: %s\n", sql, err.msg);
	assert_int_equal(rc, 0);
}

static int64_t q1(eng_ws *ws, const char *sql)
{
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(eng_ws_db(ws), sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int64_t v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* ---- binomial test and position values ---- */

static void test_integrity_binom_p_exact(void **state)
{
	(void)state;
	/* references: exact sums of C(n, j) / 2^n (Python fractions) */
	assert_float_equal(eng_binom_p_half(0, 10), 0.001953125, 1e-15);
	assert_float_equal(eng_binom_p_half(2, 10), 0.109375, 1e-14);
	assert_float_equal(eng_binom_p_half(8, 10), 0.109375, 1e-14); /* symmetric */
	assert_float_equal(eng_binom_p_half(5, 10), 1.0, 1e-15);
	assert_float_equal(eng_binom_p_half(60, 100), 0.05688793364098079, 1e-12);
	assert_float_equal(eng_binom_p_half(530, 1000), 0.06202319509836318, 1e-11);
	assert_float_equal(eng_binom_p_half(3942, 7833), 0.5721141605514131, 1e-9);
	double tiny = eng_binom_p_half(4200, 7833);
	assert_true(fabs(tiny / 1.5753488456605967e-10 - 1) < 1e-6);
	assert_float_equal(eng_binom_p_half(0, 0), 1.0, 0);
}

static void test_integrity_position_values(void **state)
{
	(void)state;
	assert_int_equal(eng_position_of(NULL, 1, 1), 1);
	assert_int_equal(eng_position_of(NULL, 2, 1), 2);
	assert_int_equal(eng_position_of(NULL, 0, 1), 0);
	assert_int_equal(eng_position_of(NULL, 3, 1), 0);
	static const char *first[] = {"1", "A", "a", "First", "LEFT", "chosen"};
	static const char *second[] = {"2", "B", "second", "Right", "rejected"};
	for (size_t i = 0; i < sizeof first / sizeof first[0]; i++)
		assert_int_equal(eng_position_of(first[i], 0, 0), 1);
	for (size_t i = 0; i < sizeof second / sizeof second[0]; i++)
		assert_int_equal(eng_position_of(second[i], 0, 0), 2);
	assert_int_equal(eng_position_of("tie", 0, 0), 0);
	assert_int_equal(eng_position_of(NULL, 0, 0), 0);
}

/* ---- counts on a hand-made dataset ---- */

/* One pair row: id, group, conflict, chosen text, meta. */
static void pair(eng_ws *ws, int id, const char *group, int conflict, const char *chosen,
                 const char *meta)
{
	sqlite3_stmt *st = NULL;
	assert_int_equal(
	    sqlite3_prepare_v2(eng_ws_db(ws),
	                       "INSERT INTO pairs(id, dataset_id, file_id, line, ext_id,"
	                       " prompt, chosen, rejected, meta, dup_group, conflict)"
	                       " VALUES (?1, 1, 1, ?1, 'p' || ?1, 'q', ?3, 'other',"
	                       " ?4, ?2, ?5)",
	                       -1, &st, NULL),
	    SQLITE_OK);
	sqlite3_bind_int(st, 1, id);
	if (group)
		sqlite3_bind_text(st, 2, group, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, chosen, -1, SQLITE_STATIC);
	if (meta)
		sqlite3_bind_text(st, 4, meta, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 5, conflict);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
}

static void fixture(eng_ws *ws)
{
	exec_ok(ws,
	        "INSERT INTO datasets(id, name) VALUES (1, 'd');"
	        "INSERT INTO source_files(id, dataset_id, path, sha256, bytes)"
	        " VALUES (1, 1, 'd.jsonl', 'x', 1);"
	        "INSERT INTO ingest_errors(dataset_id, file_id, path, line, code, reason) VALUES"
	        " (1, 1, 'd.jsonl', 9, 'bad-json', 'r'), (1, 1, 'd.jsonl', 3, 'bad-json', 'r'),"
	        " (1, 1, 'd.jsonl', 7, 'bad-json', 'r'), (1, 1, 'd.jsonl', 5, 'empty-field', 'r')");
	/* g1: the same answer preferred in both orders (consistent swap pair) */
	pair(ws, 1, "g1", 0, "Answer A", "{\"chosen_position\": 1, \"pos\": \"a\"}");
	pair(ws, 2, "g1", 0, "answer  a", "{\"chosen_position\": 2, \"pos\": \"B\"}");
	/* g2: the first slot won both times -> conflict, position conflict */
	pair(ws, 3, "g2", 1, "X", "{\"chosen_position\": 1, \"pos\": \"first\"}");
	pair(ws, 4, "g2", 1, "other2", "{\"chosen_position\": 1, \"pos\": \"first\"}");
	/* g3: conflict without a swap (both shown in the same order): label noise, not position */
	pair(ws, 5, "g3", 1, "Y", "{\"chosen_position\": 1, \"pos\": 1}");
	pair(ws, 6, "g3", 1, "other3", "{\"chosen_position\": 2, \"pos\": 2}");
	/* g4: three copies, same verdict, same order: duplicates, not a swap pair */
	pair(ws, 7, "g4", 0, "Z", "{\"chosen_position\": 1}");
	pair(ws, 8, "g4", 0, "Z", "{\"chosen_position\": 1}");
	pair(ws, 9, "g4", 0, "z", "{\"chosen_position\": 1}");
	/* singles: one without position, one with a non-position value */
	pair(ws, 10, NULL, 0, "W", NULL);
	pair(ws, 11, NULL, 0, "V", "{\"chosen_position\": \"tie\"}");
}

static void test_integrity_counts(void **state)
{
	(void)state;
	eng_ws *ws = open_mem();
	fixture(ws);
	eng_integrity x;
	eng_err err = {0};
	assert_int_equal(eng_integrity_dataset(ws, 1, NULL, &x, &err), 0);
	assert_int_equal(x.pairs, 11);
	assert_int_equal(x.errors, 4);
	assert_int_equal(x.n_codes, 2);
	assert_string_equal(x.codes[0].code, "bad-json"); /* most frequent first */
	assert_int_equal(x.codes[0].n, 3);
	assert_string_equal(x.codes[0].example[0], "d.jsonl:3"); /* first two by line */
	assert_string_equal(x.codes[0].example[1], "d.jsonl:7");
	assert_string_equal(x.codes[1].code, "empty-field");
	assert_string_equal(x.codes[1].example[0], "d.jsonl:5");
	assert_null(x.codes[1].example[1]);
	assert_int_equal(x.dup_groups, 4);
	assert_int_equal(x.dup_pairs, 5); /* 1 + 1 + 1 + 2 */
	assert_int_equal(x.dup_members, 9);
	assert_int_equal(x.conflict_groups, 2);
	assert_int_equal(x.conflict_pairs, 4);
	/* positions: pairs 1..9 known (7 shown first: 1, 3, 4, 5, 7, 8, 9), 10 and 11 unknown */
	assert_string_equal(x.position_field, "chosen_position");
	assert_int_equal(x.position_n, 9);
	assert_int_equal(x.position_first, 7);
	assert_float_equal(x.position_p, eng_binom_p_half(7, 9), 1e-15);
	/* swap pairs: g1 (consistent) and g2 (position conflict); g3 showed A first both times */
	assert_int_equal(x.swap_pairs, 2);
	assert_int_equal(x.swap_consistent, 1);
	assert_int_equal(x.position_conflicts, 1);
	eng_integrity_clear(&x);

	/* a field named by the caller, with text values */
	assert_int_equal(eng_integrity_dataset(ws, 1, "pos", &x, &err), 0);
	assert_string_equal(x.position_field, "pos");
	assert_int_equal(x.position_n, 6);
	assert_int_equal(x.position_first, 4); /* a, first, first, 1 */
	assert_int_equal(x.swap_pairs, 2);
	eng_integrity_clear(&x);

	/* a field name that is not plain ASCII takes the scan without the text prefilter */
	assert_int_equal(eng_ws_exec(ws,
	                             "UPDATE pairs SET meta = json_set(coalesce(meta, '{}'),"
	                             " '$.\"pos\xc3\xa9\"', 'first') WHERE id IN (1, 2)",
	                             &err),
	                 0);
	assert_int_equal(eng_integrity_dataset(ws, 1, "pos\xc3\xa9", &x, &err), 0);
	assert_int_equal(x.position_n, 2);
	assert_int_equal(x.position_first, 2);
	eng_integrity_clear(&x);

	/* one group as the report's cards ask for it */
	eng_integrity_group g;
	assert_int_equal(eng_integrity_group_of(ws, 1, "g1", NULL, &g, &err), 0);
	assert_int_equal(g.n, 2);
	assert_false(g.conflict);
	assert_true(g.both_orders);
	assert_int_equal(eng_integrity_group_of(ws, 1, "g4", NULL, &g, &err), 0);
	assert_int_equal(g.n, 3);
	assert_false(g.both_orders);
	assert_int_equal(eng_integrity_group_of(ws, 1, "g3", NULL, &g, &err), 0);
	assert_true(g.conflict);
	assert_false(g.both_orders);

	/* a field name that cannot be a JSON path member is refused, not spliced into SQL */
	assert_int_equal(eng_integrity_dataset(ws, 1, "a\"b", &x, &err), ENG_EINPUT);
	eng_integrity_clear(&x);
	eng_ws_close(ws);
}

/* ---- user fields survive ingest (acceptance 4) ---- */

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_integrity_user_fields_kept(void **state)
{
	(void)state;
	char dir[] = "/tmp/mmaudit-integrity-XXXXXX", path[128];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/u.jsonl", dir);
	/* 1 and 2 are the same pair with opposite verdicts; 3 is a third copy; 4 stands alone. Each
	 * carries its own conflict / dup_group fields, which must come back byte for byte. */
	write_file(path, "{\"id\":\"1\",\"prompt\":\"q\",\"chosen\":\"yes\",\"rejected\":\"no\","
	                 "\"conflict\":\"annotator said maybe\",\"dup_group\":7}\n"
	                 "{\"id\":\"2\",\"prompt\":\"q\",\"chosen\":\"no\",\"rejected\":\"yes\","
	                 "\"conflict\":false}\n"
	                 "{\"id\":\"3\",\"prompt\":\"q\",\"chosen\":\"yes\",\"rejected\":\"no\","
	                 "\"dup_group\":{\"mine\":[1,2]}}\n"
	                 "{\"id\":\"4\",\"prompt\":\"r\",\"chosen\":\"a\",\"rejected\":\"b\","
	                 "\"conflict\":true,\"dup_group\":\"user-g\"}\n");
	eng_ws *ws = open_mem();
	eng_index_opts o = {0};
	eng_index_result res;
	eng_err err = {0};
	assert_int_equal(eng_index_file(ws, "u", path, &o, &res, &err), 0);
	assert_int_equal(res.pairs, 4);
	assert_int_equal(res.conflicts, 1);
	/* the user's fields, unchanged */
	assert_int_equal(q1(ws, "SELECT json_extract(meta, '$.conflict') = 'annotator said maybe'"
	                        " AND json_extract(meta, '$.dup_group') = 7 FROM pairs"
	                        " WHERE ext_id = '1'"),
	                 1);
	assert_int_equal(q1(ws, "SELECT json_type(meta, '$.conflict') = 'false' FROM pairs"
	                        " WHERE ext_id = '2'"),
	                 1);
	assert_int_equal(q1(ws, "SELECT json_extract(meta, '$.dup_group') = '{\"mine\":[1,2]}'"
	                        " FROM pairs WHERE ext_id = '3'"),
	                 1);
	assert_int_equal(q1(ws, "SELECT json_type(meta, '$.conflict') = 'true' AND"
	                        " json_extract(meta, '$.dup_group') = 'user-g' FROM pairs"
	                        " WHERE ext_id = '4'"),
	                 1);
	/* dedup's own flags, in their columns */
	assert_int_equal(q1(ws, "SELECT count(*) FROM pairs WHERE conflict = 1"), 3);
	assert_int_equal(q1(ws, "SELECT count(DISTINCT dup_group) FROM pairs"
	                        " WHERE ext_id IN ('1', '2', '3')"),
	                 1);
	assert_int_equal(q1(ws, "SELECT dup_group IS NULL AND conflict = 0 FROM pairs"
	                        " WHERE ext_id = '4'"),
	                 1);
	/* a second dedup pass changes nothing in meta */
	eng_dedup_result dr;
	assert_int_equal(eng_dedup_dataset(ws, 1, &dr, &err), 0);
	assert_int_equal(q1(ws, "SELECT json_extract(meta, '$.dup_group') = 7 FROM pairs"
	                        " WHERE ext_id = '1'"),
	                 1);
	/* the scorer's suspect-label query reads the column, not the user's field */
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(eng_ws_db(ws), ENG_DEDUP_CONFLICT_SQL, -1, &st, NULL),
	                 SQLITE_OK);
	sqlite3_bind_int64(st, 1, 1);
	int n = 0;
	while (sqlite3_step(st) == SQLITE_ROW)
		n++;
	sqlite3_finalize(st);
	assert_int_equal(n, 3);
	eng_ws_close(ws);
	unlink(path);
	rmdir(dir);
}

/* A workspace made before 0005 kept dedup's flags in meta: the migration moves them out. */
static void test_integrity_migration_moves_flags(void **state)
{
	(void)state;
	char dir[] = "/tmp/mmaudit-mig-XXXXXX", path[128];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/w.db", dir);
	eng_ws *ws = NULL;
	eng_err err = {0};
	assert_int_equal(eng_ws_open(path, &ws, &err), 0);
	exec_ok(ws,
	        "INSERT INTO datasets(id, name) VALUES (1, 'd');"
	        "INSERT INTO source_files(id, dataset_id, path, sha256, bytes)"
	        " VALUES (1, 1, 'd.jsonl', 'x', 1);"
	        "INSERT INTO pairs(id, dataset_id, file_id, line, ext_id, prompt, chosen, rejected,"
	        " meta) VALUES"
	        " (1, 1, 1, 1, 'a', 'q', 'c', 'r', '{\"dup_group\":\"00ff\",\"conflict\":true,"
	        "\"src\":1}'),"
	        " (2, 1, 1, 2, 'b', 'q', 'r', 'c', '{\"dup_group\":\"00ff\",\"conflict\":true}'),"
	        " (3, 1, 1, 3, 'c', 'q', 'x', 'y', '{\"src\":2}');"
	        "ALTER TABLE pairs DROP COLUMN conflict;"
	        "DROP INDEX pairs_dup_group; ALTER TABLE pairs DROP COLUMN dup_group;"
	        "ALTER TABLE images DROP COLUMN phash; ALTER TABLE images DROP COLUMN mean_rgb;"
	        "ALTER TABLE source_files DROP COLUMN options;" /* 0006, applied again after 0005 */
	        "PRAGMA user_version = 4");
	eng_ws_close(ws);
	assert_int_equal(eng_ws_open(path, &ws, &err), 0);
	assert_int_equal(q1(ws, "SELECT count(*) FROM pairs WHERE dup_group = '00ff' AND conflict"),
	                 2);
	assert_int_equal(q1(ws, "SELECT meta = '{\"src\":1}' FROM pairs WHERE id = 1"), 1);
	assert_int_equal(q1(ws, "SELECT meta IS NULL FROM pairs WHERE id = 2"), 1);
	assert_int_equal(q1(ws, "SELECT meta = '{\"src\":2}' AND dup_group IS NULL FROM pairs"
	                        " WHERE id = 3"),
	                 1);
	eng_ws_close(ws);
	char cmd[256];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* ---- perceptual hash ---- */

/* A textured picture (w, h): smooth gradients and two discs whose place depends on `seed`. */
static uint8_t *picture(int w, int h, int seed)
{
	uint8_t *p = malloc((size_t)w * (size_t)h * 3);
	assert_non_null(p);
	double cx = (0.25 + 0.5 * (seed % 2)) * w, cy = (0.3 + 0.4 * (seed / 2 % 2)) * h;
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			uint8_t *q = p + ((size_t)y * (size_t)w + (size_t)x) * 3;
			double u = (double)x / w, v = (double)y / h;
			double d = hypot(x - cx, y - cy) / w,
			       e = hypot(x - (w - cx), y - cy * 0.5) / w;
			double base = seed >= 4
			                  ? 255 * (0.5 + 0.5 * sin(12 * u * (seed - 2) + 7 * v))
			                  : 255 * (seed % 3 == 0 ? u : v);
			double lum = d < 0.15 ? 20 : e < 0.1 ? 235 : base;
			q[0] = (uint8_t)fmin(255, lum);
			q[1] = (uint8_t)fmin(255, 0.7 * lum + 40);
			q[2] = (uint8_t)(255 - fmin(255, lum));
		}
	return p;
}

/* Box-downscales rgb (w, h) by 2 in each dimension. */
static uint8_t *half(const uint8_t *rgb, int w, int h)
{
	int W = w / 2, H = h / 2;
	uint8_t *o = malloc((size_t)W * (size_t)H * 3);
	assert_non_null(o);
	for (int y = 0; y < H; y++)
		for (int x = 0; x < W; x++)
			for (int c = 0; c < 3; c++) {
				int s = 0;
				for (int k = 0; k < 4; k++)
					s += rgb[((size_t)(2 * y + k / 2) * (size_t)w +
					          (size_t)(2 * x + k % 2)) *
					             3 +
					         (size_t)c];
				o[((size_t)y * (size_t)W + (size_t)x) * 3 + (size_t)c] =
				    (uint8_t)(s / 4);
			}
	return o;
}

typedef struct jbuf {
	unsigned char *p;
	size_t n;
} jbuf;

static void jsink(void *ctx, void *data, int size)
{
	jbuf *j = ctx;
	j->p = realloc(j->p, j->n + (size_t)size);
	assert_non_null(j->p);
	memcpy(j->p + j->n, data, (size_t)size);
	j->n += (size_t)size;
}

/* JPEG bytes of rgb (w, h) at quality q. */
static jbuf jpeg(const uint8_t *rgb, int w, int h, int q)
{
	jbuf j = {0};
	assert_true(stbi_write_jpg_to_func(jsink, &j, w, h, 3, rgb, q) != 0);
	return j;
}

static void test_neardup_hash_robust(void **state)
{
	(void)state;
	uint8_t *a = picture(200, 150, 0), *a2 = half(a, 200, 150), *b = picture(200, 150, 3);
	uint8_t *c = picture(200, 150, 5);
	uint64_t ha, ha2, hb, hc, hj;
	uint32_t ma, ma2, mb, mc, mj;
	eng_phash_rgb(a, 200, 150, &ha, &ma);
	eng_phash_rgb(a2, 100, 75, &ha2, &ma2);
	eng_phash_rgb(b, 200, 150, &hb, &mb);
	eng_phash_rgb(c, 200, 150, &hc, &mc);
	jbuf j = jpeg(a, 200, 150, 40); /* a heavy re-encode */
	assert_int_equal(eng_phash_encoded(j.p, j.n, &hj, &mj), 0);
	print_message("# distances: resized %d, re-encoded %d, distinct %d and %d\n",
	              eng_phash_distance(ha, ha2), eng_phash_distance(ha, hj),
	              eng_phash_distance(ha, hb), eng_phash_distance(ha, hc));
	assert_true(eng_phash_distance(ha, ha2) <= 4);
	assert_true(eng_phash_distance(ha, hj) <= 4);
	assert_true(eng_phash_distance(ha, hb) > 16);
	assert_true(eng_phash_distance(ha, hc) > 16);
	assert_int_equal(ha & 1, 0); /* the DC bit is never set */
	/* flat pictures hash to 0; their colour tells them apart */
	uint8_t red[16 * 16 * 3], blue[16 * 16 * 3];
	for (int i = 0; i < 16 * 16; i++) {
		red[3 * i] = 200, red[3 * i + 1] = 0, red[3 * i + 2] = 0;
		blue[3 * i] = 0, blue[3 * i + 1] = 0, blue[3 * i + 2] = 200;
	}
	uint64_t hr, hbl;
	uint32_t mr, mbl;
	eng_phash_rgb(red, 16, 16, &hr, &mr);
	eng_phash_rgb(blue, 16, 16, &hbl, &mbl);
	assert_true(hr == 0 && hbl == 0);
	assert_int_equal(mr, 0xc80000);
	assert_int_equal(mbl, 0x0000c8);
	/* an image narrower than the 32x32 grid still hashes (nearest pixel fills the cells) */
	uint8_t *tiny = half(a2, 100, 75), *tiny2 = half(tiny, 50, 37);
	uint64_t ht;
	uint32_t mt;
	eng_phash_rgb(tiny2, 25, 18, &ht, &mt);
	assert_true(eng_phash_distance(ha, ht) <= 12);
	assert_int_equal(eng_phash_encoded((const uint8_t *)"nope", 4, &ht, &mt), -1);
	free(a), free(a2), free(b), free(c), free(j.p), free(tiny), free(tiny2);
}

/* The hash as neardup.h defines it, computed the plain way: each pixel's Rec. 601 luminance
 * added to cell (x 32 / w, y 32 / h), cells without pixels take the nearest one, the 8x8 lowest
 * DCT-II coefficients against the median of the 63 non-DC ones. */
static uint64_t phash_reference(const uint8_t *rgb, int w, int h, uint32_t *mean)
{
	static double sum[32 * 32], cnt[32 * 32], g[32 * 32];
	memset(sum, 0, sizeof sum);
	memset(cnt, 0, sizeof cnt);
	double c[3] = {0, 0, 0};
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			const uint8_t *p = rgb + ((size_t)y * w + x) * 3;
			int i = (y * 32 / h) * 32 + x * 32 / w;
			sum[i] += 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
			cnt[i] += 1;
			for (int k = 0; k < 3; k++)
				c[k] += p[k];
		}
	*mean = 0;
	for (int k = 0; k < 3; k++)
		*mean = *mean << 8 | (uint32_t)lround(c[k] / ((double)w * h));
	double mu = 0, var = 0;
	for (int i = 0; i < 32 * 32; i++) {
		const uint8_t *p =
		    rgb + ((size_t)(i / 32 * h / 32) * w + (size_t)(i % 32 * w / 32)) * 3;
		g[i] = cnt[i] > 0 ? sum[i] / cnt[i] : 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
		mu += g[i] / (32 * 32);
	}
	for (int i = 0; i < 32 * 32; i++)
		var += (g[i] - mu) * (g[i] - mu) / (32 * 32);
	if (sqrt(var) < 2.0)
		return 0;
	double coef[64], sorted[63];
	for (int u = 0; u < 8; u++)
		for (int v = 0; v < 8; v++) {
			double s = 0;
			for (int y = 0; y < 32; y++)
				for (int x = 0; x < 32; x++)
					s += g[y * 32 + x] * cos(M_PI * (2 * y + 1) * u / 64.0) *
					     cos(M_PI * (2 * x + 1) * v / 64.0);
			coef[u * 8 + v] = s;
		}
	memcpy(sorted, coef + 1, sizeof sorted);
	for (int i = 1; i < 63; i++) /* insertion sort: 63 values */
		for (int j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
			double t = sorted[j];
			sorted[j] = sorted[j - 1];
			sorted[j - 1] = t;
		}
	uint64_t hash = 0;
	for (int i = 1; i < 64; i++)
		if (coef[i] > sorted[31])
			hash |= (uint64_t)1 << i;
	return hash;
}

/* eng_phash_rgb's cell sums (integer channel sums per cell, cell bounds stepped, not divided per
 * pixel) give the plain definition's hash and mean colour, for sizes that divide the grid evenly,
 * unevenly, and not at all (narrower than 32). */
static void test_neardup_hash_matches_reference(void **state)
{
	(void)state;
	static const int sizes[][2] = {{160, 120}, {200, 150}, {33, 31}, {97, 61}, {25, 18},
	                               {1, 1},     {7, 300},   {640, 3}, {32, 32}, {129, 257}};
	int bits = 0;
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		int w = sizes[k][0], h = sizes[k][1];
		uint8_t *a = malloc((size_t)w * h * 3);
		assert_non_null(a);
		uint64_t st = 0x9e3779b97f4a7c15ull * (k + 1);
		for (int y = 0; y < h; y++) /* a smooth picture plus noise */
			for (int x = 0; x < w; x++)
				for (int ch = 0; ch < 3; ch++) {
					st = st * 6364136223846793005ull + 1442695040888963407ull;
					int v =
					    (int)(127 + 100 * sin((x * (ch + 1)) / 9.0 + y / 13.0) +
					          (int)(st >> 60));
					a[((size_t)y * w + x) * 3 + ch] = (uint8_t)(v < 0     ? 0
					                                            : v > 255 ? 255
					                                                      : v);
				}
		uint64_t h1;
		uint32_t m1, m2;
		eng_phash_rgb(a, w, h, &h1, &m1);
		uint64_t h2 = phash_reference(a, w, h, &m2);
		bits += eng_phash_distance(h1, h2);
		assert_int_equal(m1, m2);
		assert_true(eng_phash_distance(h1, h2) <=
		            1); /* a coefficient at the median may flip */
		free(a);
	}
	assert_true(bits <= 1);
}

/* Inserts image id with the JPEG of rgb as its thumbnail. */
static void image_row(eng_ws *ws, int id, const uint8_t *rgb, int w, int h)
{
	jbuf j = jpeg(rgb, w, h, 75);
	sqlite3_stmt *st = NULL;
	assert_int_equal(
	    sqlite3_prepare_v2(eng_ws_db(ws),
	                       "INSERT INTO images(id, sha256, width, height, format,"
	                       " bytes, source, thumb) VALUES (?1, 'sha' || ?1, ?2, ?3,"
	                       " 'jpeg', ?4, 'img' || ?1 || '.jpg', ?5)",
	                       -1, &st, NULL),
	    SQLITE_OK);
	sqlite3_bind_int(st, 1, id);
	sqlite3_bind_int(st, 2, w);
	sqlite3_bind_int(st, 3, h);
	sqlite3_bind_int64(st, 4, (int64_t)j.n);
	sqlite3_bind_blob(st, 5, j.p, (int)j.n, SQLITE_TRANSIENT);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	free(j.p);
}

static void use(eng_ws *ws, int pair_id, int ds, int image)
{
	char sql[256];
	snprintf(
	    sql, sizeof sql,
	    "INSERT INTO pairs(id, dataset_id, file_id, line, ext_id, prompt, chosen, rejected,"
	    " image_id) VALUES (%d, %d, %d, %d, 'p%d', 'q', 'c', 'r', %d)",
	    pair_id, ds, ds, pair_id, pair_id, image);
	exec_ok(ws, sql);
}

static void test_neardup_find_within_and_across(void **state)
{
	(void)state;
	eng_ws *ws = open_mem();
	exec_ok(ws, "INSERT INTO datasets(id, name) VALUES (1, 'one'), (2, 'two');"
	            "INSERT INTO source_files(id, dataset_id, path, sha256, bytes)"
	            " VALUES (1, 1, 'one.jsonl', 'x', 1), (2, 2, 'two.jsonl', 'y', 1)");
	uint8_t *a = picture(200, 150, 0), *a2 = half(a, 200, 150), *b = picture(200, 150, 3);
	uint8_t *c = picture(200, 150, 5), *d = picture(200, 150, 6);
	uint8_t red[8 * 8 * 3], blue[8 * 8 * 3];
	for (int i = 0; i < 64; i++) {
		red[3 * i] = 220, red[3 * i + 1] = 10, red[3 * i + 2] = 10;
		blue[3 * i] = 10, blue[3 * i + 1] = 10, blue[3 * i + 2] = 220;
	}
	image_row(ws, 1, a, 200, 150); /* one */
	image_row(ws, 2, a2, 100, 75); /* two: the resized copy of 1 */
	image_row(ws, 3, b, 200, 150); /* one, distinct */
	image_row(ws, 4, c, 200, 150); /* two, distinct */
	image_row(ws, 5, red, 8, 8);   /* one, flat red */
	image_row(ws, 6, blue, 8, 8);  /* two, flat blue: hash 0 like red, other colour */
	image_row(ws, 7, d, 200, 150); /* used by both datasets */
	image_row(ws, 8, a, 200, 150); /* unused by any pair: not compared */
	use(ws, 1, 1, 1), use(ws, 2, 2, 2), use(ws, 3, 1, 3), use(ws, 4, 2, 4);
	use(ws, 5, 1, 5), use(ws, 6, 2, 6), use(ws, 7, 1, 7), use(ws, 8, 2, 7), use(ws, 9, 1, 1);
	eng_err err = {0};
	int64_t filled = 0;
	assert_int_equal(eng_neardup_fill(ws, &filled, &err), 0);
	assert_int_equal(filled, 8);
	assert_int_equal(q1(ws, "SELECT count(*) FROM images WHERE phash IS NULL"), 0);
	assert_int_equal(eng_neardup_fill(ws, &filled, &err), 0);
	assert_int_equal(filled, 0); /* nothing left to hash */
	eng_neardup nd;
	assert_int_equal(eng_neardup_find(ws, ENG_NEARDUP_DEFAULT_DISTANCE, &nd, &err), 0);
	assert_int_equal(nd.images, 7);
	assert_false(nd.truncated);
	for (size_t k = 0; k < nd.n; k++)
		print_message("# %lld(ds %lld) ~ %lld(ds %lld): %d bits\n",
		              (long long)nd.pairs[k].image_a, (long long)nd.pairs[k].ds_a,
		              (long long)nd.pairs[k].image_b, (long long)nd.pairs[k].ds_b,
		              nd.pairs[k].distance);
	/* exactly: 1 ~ 2 across (resized copy), 7 shared by both datasets */
	assert_int_equal(nd.n, 2);
	assert_int_equal(nd.pairs[0].ds_a, 1);
	assert_int_equal(nd.pairs[0].ds_b, 2);
	assert_int_equal(nd.pairs[0].image_a, 1);
	assert_int_equal(nd.pairs[0].image_b, 2);
	assert_true(nd.pairs[0].distance <= 4);
	assert_int_equal(nd.pairs[1].image_a, 7);
	assert_int_equal(nd.pairs[1].image_b, 7);
	assert_int_equal(nd.pairs[1].distance, 0);
	eng_neardup_clear(&nd);
	/* within a dataset: dataset two also uses image 1 -> 1 ~ 2 inside two as well */
	use(ws, 10, 2, 1);
	assert_int_equal(eng_neardup_find(ws, ENG_NEARDUP_DEFAULT_DISTANCE, &nd, &err), 0);
	int within = 0;
	for (size_t k = 0; k < nd.n; k++)
		within += nd.pairs[k].ds_a == 2 && nd.pairs[k].ds_b == 2 &&
		          nd.pairs[k].image_a == 1 && nd.pairs[k].image_b == 2;
	assert_int_equal(within, 1);
	eng_neardup_clear(&nd);
	assert_int_equal(eng_neardup_find(ws, 99, &nd, &err), ENG_EINPUT);
	eng_neardup_clear(&nd);
	eng_ws_close(ws);
	free(a), free(a2), free(b), free(c), free(d);
}

/* ---- normalisation ---- */

/* The definition, byte by byte: ASCII lower case, whitespace runs -> one space, ends trimmed. */
static void ref_normalize(const char *s, char *out)
{
	size_t o = 0;
	int space = 0;
	for (; *s; s++) {
		char c = *s;
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
			space = o > 0;
			continue;
		}
		if (space)
			out[o++] = ' ';
		space = 0;
		out[o++] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
	}
	out[o] = '\0';
}

/* eng_dedup_normalize (16-byte blocks where it can) equals the definition on texts of every
 * length up to 99 bytes from an alphabet heavy in spaces, control whitespace, capitals and
 * bytes >= 0x80, and on blocks that change path mid-text. */
static void test_dedup_normalize_matches_definition(void **state)
{
	(void)state;
	static const char alpha[] = {' ', ' ',    ' ',    '\t',   '\n',   '\r',   '\f', '\v',
	                             'A', 'Z',    'a',    'z',    '@',    '[',    '`',  '{',
	                             '0', '\x80', '\xc3', '\xff', '\x08', '\x0e', 'Q',  'm'};
	uint64_t x = 12345;
	char *buf = NULL;
	size_t cap = 0;
	char text[128], want[128];
	for (int round = 0; round < 20000; round++) {
		size_t n = (size_t)(round % 100);
		int spaces_only = round % 7 == 0; /* long runs of plain words and single spaces */
		for (size_t i = 0; i < n; i++) {
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
			unsigned r = (unsigned)(x >> 33);
			text[i] = spaces_only ? (r % 5 ? "abcDEFghiJ"[r % 10] : ' ')
			                      : alpha[r % sizeof alpha];
		}
		text[n] = '\0';
		ref_normalize(text, want);
		char *got = eng_dedup_normalize(text, &buf, &cap);
		assert_non_null(got);
		assert_string_equal(got, want);
	}
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dedup_normalize_matches_definition),
	    cmocka_unit_test(test_integrity_binom_p_exact),
	    cmocka_unit_test(test_integrity_position_values),
	    cmocka_unit_test(test_integrity_counts),
	    cmocka_unit_test(test_integrity_user_fields_kept),
	    cmocka_unit_test(test_integrity_migration_moves_flags),
	    cmocka_unit_test(test_neardup_hash_robust),
	    cmocka_unit_test(test_neardup_hash_matches_reference),
	    cmocka_unit_test(test_neardup_find_within_and_across),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
