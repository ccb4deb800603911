/* test_index.c - the indexer end to end on fixtures generated here (stb_image_write for PNG/JPEG,
 * libarchive's write API for tar/tar.gz/zip/.jsonl.gz): every input form, every bad-input code with
 * counts and reasons, --strict atomicity, idempotence, one stored copy per distinct image. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <webp/encode.h>

#include <archive.h>
#include <archive_entry.h>
#include <stb_image.h>
#include <stb_image_write.h>

#include "dedup.h"
#include "workspace_sql.h"
#include "imgfeat.h"
#include "images.h"
#include "index.h"
#include "workspace.h"

static char dir[64];

/* ---- fixture helpers ---------------------------------------------------------------------- */

typedef struct buf {
	uint8_t *p;
	size_t n;
} buf;

static void sink(void *ctx, void *data, int size)
{
	buf *b = ctx;
	b->p = realloc(b->p, b->n + (size_t)size);
	assert_non_null(b->p);
	memcpy(b->p + b->n, data, (size_t)size);
	b->n += (size_t)size;
}

/* An image w x h with a colour gradient seeded by `seed`, encoded as PNG or JPEG. */
static buf make_image(int w, int h, int seed, int jpeg)
{
	uint8_t *px = malloc((size_t)w * h * 3);
	assert_non_null(px);
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			uint8_t *q = px + ((size_t)y * w + x) * 3;
			q[0] = (uint8_t)(x * 7 + seed * 50);
			q[1] = (uint8_t)(y * 5 + seed * 20);
			q[2] = (uint8_t)(seed * 90);
		}
	buf b = {0};
	int ok = jpeg ? stbi_write_jpg_to_func(sink, &b, w, h, 3, px, 90)
	              : stbi_write_png_to_func(sink, &b, w, h, 3, px, w * 3);
	assert_true(ok);
	free(px);
	return b;
}

static char *path_of(const char *rel)
{
	static char p[8][512];
	static int k;
	k = (k + 1) % 8;
	snprintf(p[k], sizeof p[k], "%s/%s", dir, rel);
	return p[k];
}

static void write_file(const char *rel, const void *data, size_t n)
{
	char *p = path_of(rel);
	char *slash = strrchr(p, '/');
	*slash = '\0';
	char cmd[600];
	snprintf(cmd, sizeof cmd, "mkdir -p '%s'", p);
	assert_int_equal(system(cmd), 0);
	*slash = '/';
	FILE *f = fopen(p, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, n, f), n);
	fclose(f);
}

static void write_image(const char *rel, int w, int h, int seed, int jpeg)
{
	buf b = make_image(w, h, seed, jpeg);
	write_file(rel, b.p, b.n);
	free(b.p);
}

static void write_text(const char *rel, const char *text)
{
	write_file(rel, text, strlen(text));
}

/* Writes an archive (format "tar", "tar.gz" or "zip") with members name[i] = data[i]. */
static void write_archive(const char *rel, const char *format, int n, const char **names,
                          const buf *data)
{
	struct archive *a = archive_write_new();
	if (!strcmp(format, "zip")) {
		archive_write_set_format_zip(a);
	} else {
		archive_write_set_format_pax_restricted(a);
		if (!strcmp(format, "tar.gz"))
			archive_write_add_filter_gzip(a);
	}
	write_text(rel, ""); /* creates the folder */
	assert_int_equal(archive_write_open_filename(a, path_of(rel)), ARCHIVE_OK);
	for (int i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, names[i]);
		archive_entry_set_size(e, (la_int64_t)data[i].n);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		if (archive_write_header(a, e) != ARCHIVE_OK)
			fail_msg("%s: %s", rel, archive_error_string(a));
		assert_int_equal(archive_write_data(a, data[i].p, data[i].n),
		                 (la_ssize_t)data[i].n);
		archive_entry_free(e);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
}

static char *base64(const uint8_t *p, size_t n)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *s = malloc(n / 3 * 4 + 8), *o = s;
	assert_non_null(s);
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
		             (i + 2 < n ? p[i + 2] : 0);
		*o++ = t[v >> 18 & 63];
		*o++ = t[v >> 12 & 63];
		*o++ = i + 1 < n ? t[v >> 6 & 63] : '=';
		*o++ = i + 2 < n ? t[v & 63] : '=';
	}
	*o = '\0';
	return s;
}

/* The text of the first column of sql's first row into out ("" for NULL). */
static void qstr(eng_ws *ws, const char *sql, char *out, size_t cap)
{
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(eng_ws_db(ws), sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	const unsigned char *t = sqlite3_column_text(st, 0);
	snprintf(out, cap, "%s", t ? (const char *)t : "");
	sqlite3_finalize(st);
}

static long long q(eng_ws *ws, const char *sql)
{
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(eng_ws_db(ws), sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	long long v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static eng_ws *open_ws(void)
{
	eng_ws *ws = NULL;
	eng_err err = {0};
	assert_int_equal(eng_ws_open(":memory:", &ws, &err), 0);
	return ws;
}

static int run(eng_ws *ws, const char *ds, const char *rel, const eng_index_opts *o,
               eng_index_result *res, eng_err *err)
{
	return eng_index_file(ws, ds, path_of(rel), o, res, err);
}

/* The reason stored for the error on `line`, or "" (static buffer). */
static const char *reason_at(eng_ws *ws, long long line, const char *code)
{
	static char out[512];
	sqlite3_stmt *st = NULL;
	assert_int_equal(
	    sqlite3_prepare_v2(eng_ws_db(ws),
	                       "SELECT reason FROM ingest_errors WHERE line = ?1 AND code = ?2", -1,
	                       &st, NULL),
	    SQLITE_OK);
	sqlite3_bind_int64(st, 1, line);
	sqlite3_bind_text(st, 2, code, -1, SQLITE_STATIC);
	out[0] = '\0';
	if (sqlite3_step(st) == SQLITE_ROW)
		snprintf(out, sizeof out, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return out;
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/mmaudit-index-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd);
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_index_pairwise_dir_aliases_absolute_text_only(void **state)
{
	(void)state;
	write_image("d1/images/0.png", 40, 30, 0, 0);
	write_image("d1/images/big.jpg", 400, 200, 1, 1);
	char text[2048];
	snprintf(
	    text, sizeof text,
	    "{\"id\":\"a\",\"prompt\":\"p\",\"image\":\"images/"
	    "0.png\",\"chosen\":\"c\",\"rejected\":\"r\",\"src\":1}\n"
	    "{\"id\":\"b\",\"question\":\"p\",\"img_path\":\"images/"
	    "0.png\",\"chosen\":\"c\",\"rejected\":\"r\"}\n"
	    "\r\n"
	    "{\"id\":\"c\",\"prompt\":\"p\",\"image_path\":\"%s/d1/images/"
	    "big.jpg\",\"chosen\":\"c\",\"rejected\":\"r\"}\n"
	    "{\"id\":\"d\",\"prompt\":\"text only\",\"chosen\":\"good\",\"rejected\":\"bad\"}\n",
	    dir);
	write_text("d1/data.jsonl", text);
	eng_ws *ws = open_ws();
	eng_index_result res;
	eng_err err = {0};
	assert_int_equal(run(ws, "d1", "d1/data.jsonl", NULL, &res, &err), 0);
	assert_int_equal(res.records, 4);
	assert_int_equal(res.pairs, 4);
	assert_int_equal(res.errors, 0);
	assert_int_equal(res.images_new, 2);
	assert_int_equal(res.images_reused, 1);
	assert_int_equal(q(ws, "SELECT count(*) FROM images"), 2);
	assert_int_equal(q(ws, "SELECT count(*) FROM pairs WHERE image_id IS NULL"), 1);
	assert_int_equal(q(ws, "SELECT line FROM pairs WHERE ext_id = 'c'"), 4);
	assert_int_equal(q(ws, "SELECT count(*) FROM pairs WHERE json_extract(meta, '$.src') = 1"),
	                 1);
	/* a and b are the same pair (same prompt, image and answers): one duplicate group */
	assert_int_equal(q(ws, "SELECT count(DISTINCT dup_group) FROM pairs"
	                       " WHERE ext_id IN ('a', 'b')"),
	                 1);
	assert_int_equal(res.duplicates, 1);
	assert_int_equal(q(ws, "SELECT width * 1000 + height FROM images WHERE format = 'jpeg'"),
	                 400200);
	assert_int_equal(q(ws, "SELECT count(*) FROM images WHERE feat_dim = length(feat) / 4"), 2);
	assert_int_equal(q(ws, "SELECT feat_dim FROM images LIMIT 1"), eng_imgfeat_dim());
	assert_int_equal(q(ws, "SELECT min(feat_version) FROM images"), ENG_IMGFEAT_VERSION);
	assert_int_equal(q(ws, "SELECT records * 100 + pairs FROM source_files"), 404);
	/* the thumbnail is a JPEG scaled to 160 px on the long side */
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(eng_ws_db(ws),
	                                    "SELECT thumb FROM images WHERE format = 'jpeg'", -1,
	                                    &st, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int tw = 0, th = 0, tc = 0;
	const uint8_t *t = sqlite3_column_blob(st, 0);
	assert_int_equal(t[0], 0xFF);
	assert_int_equal(t[1], 0xD8);
	assert_true(stbi_info_from_memory(t, sqlite3_column_bytes(st, 0), &tw, &th, &tc));
	assert_int_equal(tw, 160);
	assert_int_equal(th, 80);
	sqlite3_finalize(st);
	eng_ws_close(ws);
}

static void test_index_bad_inputs_codes_counts_reasons(void **state)
{
	(void)state;
	buf png = make_image(40, 30, 2, 0), jpg = make_image(40, 30, 3, 1);
	write_image("d2/ok.png", 20, 20, 4, 0);
	write_file("d2/trunc.png", png.p, png.n / 2);
	write_file("d2/trunc.jpg", jpg.p, jpg.n - 200);
	write_file("d2/big.png", png.p, png.n); /* 1200 px, over the 1000 px limit below */
	write_text("d2/garbage.jpg", "\xff\xd8\xff\xe0garbage");
	write_text("d2/pic.webp", "RIFF\x10\0\0\0WEBPVP8 \0\0\0\0\0\0\0\0");
	write_text("d2/notes.txt", "hello, not an image");
	free(png.p);
	free(jpg.p);
	char *longline = malloc(2000);
	assert_non_null(longline);
	memset(longline, 'x', 1999);
	longline[1999] = '\0';
	char text[8192];
	snprintf(
	    text, sizeof text,
	    "{\"id\":\"ok1\",\"prompt\":\"p\",\"image\":\"ok.png\",\"chosen\":\"c\",\"rejected\":"
	    "\"r\"}\n"                                                        /* 1 */
	    "{\"id\":\"broken\",\"prompt\": \n"                               /* 2 bad-json */
	    "[1,2,3]\n"                                                       /* 3 not-object */
	    "{\"prompt\":\"p\",\"chosen\":\"c\"}\n"                           /* 4 missing-field */
	    "{\"prompt\":\"p\",\"chosen\":\"  \",\"rejected\":\"r\"}\n"       /* 5 empty-field */
	    "{\"prompt\":\"p\",\"chosen\":\"same\",\"rejected\":\"same\"}\n"  /* 6 identical */
	    "{\"prompt\":\"p\",\"chosen\":\"\xff\xfe\",\"rejected\":\"r\"}\n" /* 7 invalid-utf8 */
	    "{\"prompt\":\"p\",\"chosen\":{\"text\":\"c\"},\"rejected\":\"r\"}\n" /* 8 bad-type */
	    "{\"id\":\"ok1\",\"prompt\":\"p\",\"chosen\":\"c2\",\"rejected\":\"r2\"}\n"       /* 9
	                                                                                         duplicate-id
	                                                                                       */
	    "{\"prompt\":\"p\",\"image\":\"nope.png\",\"chosen\":\"c\",\"rejected\":\"r\"}\n" /* 10
	                                                                                         missing-image
	                                                                                       */
	    "{\"prompt\":\"p\",\"image\":\"garbage.jpg\",\"chosen\":\"c\",\"rejected\":\"r\"}\n" /* 11 corrupt */
	    "{\"prompt\":\"p\",\"image\":\"trunc.png\",\"chosen\":\"c\",\"rejected\":\"r\"}\n" /* 12
	                                                                                          corrupt
	                                                                                        */
	    "{\"prompt\":\"p\",\"image\":\"trunc.jpg\",\"chosen\":\"c\",\"rejected\":\"r\"}\n" /* 13
	                                                                                          corrupt
	                                                                                        */
	    "{\"prompt\":\"p\",\"image\":\"big.png\",\"chosen\":\"c\",\"rejected\":\"r\"}\n"   /* 14
	                                                                                          too
	                                                                                          large
	                                                                                        */
	    "{\"prompt\":\"p\",\"image\":\"pic.webp\",\"chosen\":\"c\",\"rejected\":\"r\"}\n"  /* 15
	                                                                                          unsupported
	                                                                                        */
	    "{\"prompt\":\"p\",\"image\":\"notes.txt\",\"chosen\":\"c\",\"rejected\":\"r\"}\n" /* 16
	                                                                                          unsupported
	                                                                                        */
	    "{\"prompt\":\"p\",\"image\":\"data:image/"
	    "png;base64,@@@@\",\"chosen\":\"c\",\"rejected\":\"r\"}\n"  /* 17 corrupt */
	    "{\"prompt\":\"%s\",\"chosen\":\"c\",\"rejected\":\"r\"}\n" /* 18 too long */
	    "{\"prompt\":\"p\",\"image\":\"ok.png\",\"chosen\":\"c3\",\"rejected\":\"r3\"}\n", /* 19
	                                                                                          ok
	                                                                                        */
	    longline);
	free(longline);
	write_text("d2/bad.jsonl", text);
	eng_ws *ws = open_ws();
	eng_index_result res;
	eng_err err = {0};
	eng_index_opts o = {.max_pixels = 1000, .max_line = 1024};
	assert_int_equal(run(ws, "d2", "d2/bad.jsonl", &o, &res, &err), 0);
	assert_int_equal(res.records, 19);
	assert_int_equal(res.pairs, 2);
	assert_int_equal(res.errors, 17);
	assert_int_equal(q(ws, "SELECT count(*) FROM pairs"), 2);
	assert_int_equal(q(ws, "SELECT count(*) FROM ingest_errors"), 17);
	assert_int_equal(q(ws, "SELECT count(*) FROM images"), 1);
	const struct {
		eng_rec_code code;
		uint64_t n;
	} want[] = {{ENG_REC_BAD_JSON, 1},        {ENG_REC_NOT_OBJECT, 1},
	            {ENG_REC_MISSING_FIELD, 1},   {ENG_REC_EMPTY_FIELD, 1},
	            {ENG_REC_IDENTICAL, 1},       {ENG_REC_INVALID_UTF8, 1},
	            {ENG_REC_BAD_TYPE, 1},        {ENG_REC_DUPLICATE_ID, 1},
	            {ENG_REC_MISSING_IMAGE, 1},   {ENG_REC_CORRUPT_IMAGE, 4},
	            {ENG_REC_IMAGE_TOO_LARGE, 1}, {ENG_REC_UNSUPPORTED_IMAGE, 2},
	            {ENG_REC_LINE_TOO_LONG, 1}};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		if (res.by_code[want[i].code] != want[i].n)
			fail_msg("%s: %llu, want %llu", eng_rec_code_name(want[i].code),
			         (unsigned long long)res.by_code[want[i].code],
			         (unsigned long long)want[i].n);
	assert_non_null(strstr(reason_at(ws, 2, "bad-json"), "malformed JSON"));
	assert_non_null(strstr(reason_at(ws, 4, "missing-field"), "\"rejected\""));
	assert_non_null(strstr(reason_at(ws, 9, "duplicate-id"), "\"ok1\""));
	assert_non_null(strstr(reason_at(ws, 10, "missing-image"), "nope.png"));
	assert_non_null(strstr(reason_at(ws, 11, "corrupt-image"), "garbage.jpg"));
	assert_non_null(strstr(reason_at(ws, 12, "corrupt-image"), "truncated"));
	assert_non_null(strstr(reason_at(ws, 13, "corrupt-image"), "truncated"));
	assert_non_null(strstr(reason_at(ws, 14, "image-too-large"), "40x30"));
	assert_non_null(strstr(reason_at(ws, 15, "unsupported-image"), "webp"));
	assert_non_null(strstr(reason_at(ws, 16, "unsupported-image"), "not a recognised format"));
	assert_non_null(strstr(reason_at(ws, 17, "corrupt-image"), "base64"));
	assert_non_null(strstr(reason_at(ws, 18, "line-too-long"), "longer"));
	assert_int_equal(res.nfirst, ENG_INDEX_FIRST_ERRORS);
	assert_int_equal(res.first[0].line, 2);
	assert_int_equal(res.first[0].code, ENG_REC_BAD_JSON);
	eng_ws_close(ws);
}

static void test_index_multi_completion(void **state)
{
	(void)state;
	write_image("d3/i.png", 16, 16, 5, 0);
	write_text("d3/vlf.jsonl",
	           "{\"id\":\"m1\",\"prompt\":\"p\",\"img_path\":\"i.png\",\"completions\":{"
	           "\"response\":[\"r1\",\"r2\",\"r3\",\"r4\"],\"model\":[\"a\",\"b\",\"c\",\"d\"],"
	           "\"annotations\":["
	           "{\"Helpfulness\":{\"Rating\":\"5\"},\"Faithfulness\":{\"Rating\":\"4\"}},"
	           "{\"Helpfulness\":{\"Rating\":\"3\"},\"Faithfulness\":{\"Rating\":\"3\"}},"
	           "{\"Helpfulness\":{\"Rating\":\"5\"},\"Faithfulness\":{\"Rating\":\"4\"}},"
	           "{\"Helpfulness\":{\"Rating\":\"1\"},\"Faithfulness\":{\"Rating\":\"2\"}}]}}\n"
	           "{\"prompt\":\"p\",\"completions\":{\"response\":[\"x\",\"y\"],\"annotations\":"
	           "[{\"H\":{\"Rating\":2}},{\"H\":{\"Rating\":2}}]}}\n");
	eng_ws *ws = open_ws();
	eng_index_result res;
	eng_err err = {0};
	assert_int_equal(run(ws, "vlf", "d3/vlf.jsonl", NULL, &res, &err), 0);
	assert_int_equal(res.pairs, 5); /* 4 completions, one tie; the second record is all ties */
	assert_int_equal(res.errors, 0);
	assert_int_equal(q(ws, "SELECT count(*) FROM pairs WHERE image_id IS NOT NULL"), 5);
	assert_int_equal(q(ws,
	                   "SELECT count(*) FROM pairs WHERE ext_id = 'm1#0>1' AND chosen = 'r1'"
	                   " AND rejected = 'r2' AND meta LIKE '%\"chosen_model\":\"a\"%'"),
	                 1);
	assert_int_equal(q(ws, "SELECT count(*) FROM pairs WHERE ext_id = 'm1#2>3'"), 1);
	assert_int_equal(q(ws, "SELECT count(*) FROM images"), 1);
	eng_ws_close(ws);
}

static void test_index_data_uri_and_reuse(void **state)
{
	(void)state;
	buf png = make_image(24, 24, 6, 0);
	write_file("d4/same.png", png.p, png.n);
	char *b64 = base64(png.p, png.n);
	size_t n = strlen(b64) + 512;
	char *text = malloc(n);
	assert_non_null(text);
	snprintf(
	    text, n,
	    "{\"prompt\":\"p\",\"image\":\"data:image/"
	    "png;base64,%s\",\"chosen\":\"c\",\"rejected\":\"r\"}\n"
	    "{\"prompt\":\"p\",\"image\":\"same.png\",\"chosen\":\"c2\",\"rejected\":\"r2\"}\n",
	    b64);
	write_text("d4/uri.jsonl", text);
	eng_ws *ws = open_ws();
	eng_index_result res;
	eng_err err = {0};
	assert_int_equal(run(ws, "uri", "d4/uri.jsonl", NULL, &res, &err), 0);
	assert_int_equal(res.pairs, 2);
	assert_int_equal(res.images_new, 1);
	assert_int_equal(res.images_reused, 1);
	assert_int_equal(q(ws, "SELECT count(*) FROM images WHERE width = 24 AND format = 'png'"),
	                 1);
	assert_int_equal(q(ws, "SELECT count(DISTINCT image_id) FROM pairs"), 1);
	assert_int_equal(q(ws, "SELECT count(*) FROM pairs WHERE image_ref LIKE "
	                       "'data:image/png;base64,...(%chars)'"),
	                 1);
	free(text);
	free(b64);
	free(png.p);
	eng_ws_close(ws);
}

/* tar, tar.gz and zip given as --images: members are found by relative path ("./" tolerated),
 * absent and corrupt members are errors, and the second and third archive reuse the stored images
 * without decoding them again. */
static void test_index_archives(void **state)
{
	(void)state;
	buf m[3] = {make_image(30, 20, 7, 0), make_image(20, 30, 8, 1), {0}};
	m[2].p = (uint8_t *)strdup("\x89PNG\r\n\x1a\nnope");
	m[2].n = 12;
	const char *names[3] = {"images/0.png", "./images/1.jpg", "images/bad.png"};
	write_archive("d5/imgs.tar", "tar", 3, names, m);
	write_archive("d5/imgs.tar.gz", "tar.gz", 3, names, m);
	write_archive("d5/imgs.zip", "zip", 3, names, m);
	write_text(
	    "d5/a.jsonl",
	    "{\"prompt\":\"p\",\"image\":\"images/0.png\",\"chosen\":\"c\",\"rejected\":\"r\"}\n"
	    "{\"prompt\":\"p\",\"image\":\"./images/1.jpg\",\"chosen\":\"c\",\"rejected\":\"r\"}\n"
	    "{\"prompt\":\"p\",\"image\":\"images/0.png\",\"chosen\":\"c2\",\"rejected\":\"r2\"}\n"
	    "{\"prompt\":\"p\",\"image\":\"images/gone.png\",\"chosen\":\"c\",\"rejected\":\"r\"}\n"
	    "{\"prompt\":\"p\",\"image\":\"images/bad.png\",\"chosen\":\"c\",\"rejected\":\"r\"}\n"
	    "{\"prompt\":\"p\",\"chosen\":\"text\",\"rejected\":\"only\"}\n");
	eng_ws *ws = open_ws();
	const char *arch[3] = {"d5/imgs.tar", "d5/imgs.tar.gz", "d5/imgs.zip"};
	for (int k = 0; k < 3; k++) {
		eng_index_result res;
		eng_err err = {0};
		eng_index_opts o = {.images = path_of(arch[k])};
		char ds[16];
		snprintf(ds, sizeof ds, "ds%d", k);
		assert_int_equal(run(ws, ds, "d5/a.jsonl", &o, &res, &err), 0);
		assert_int_equal(res.pairs, 4);
		assert_int_equal(res.errors, 2);
		assert_int_equal(res.by_code[ENG_REC_MISSING_IMAGE], 1);
		assert_int_equal(res.by_code[ENG_REC_CORRUPT_IMAGE], 1);
		assert_int_equal(res.images_new, k == 0 ? 2 : 0);
		assert_int_equal(res.images_reused, k == 0 ? 1 : 3);
	}
	assert_int_equal(q(ws, "SELECT count(*) FROM images"), 2);
	assert_int_equal(q(ws, "SELECT count(*) FROM pairs WHERE image_id IS NOT NULL"), 9);
	assert_int_equal(q(ws, "SELECT count(*) FROM pairs WHERE image_id IS NULL"), 3);
	assert_int_equal(q(ws, "SELECT count(*) FROM ingest_errors WHERE line = 4 AND reason LIKE "
	                       "'%images/gone.png%not a member%'"),
	                 3);
	assert_int_equal(
	    q(ws, "SELECT count(*) FROM images WHERE source LIKE '%imgs.tar:images/0.png'"), 1);
	/* a non-archive file as --images */
	eng_index_result res;
	eng_err err = {0};
	eng_index_opts o = {.images = path_of("d5/a.jsonl")};
	assert_int_equal(run(ws, "ds9", "d5/a.jsonl", &o, &res, &err), ENG_EINPUT);
	assert_non_null(strstr(err.msg, "neither a directory nor a readable archive"));
	assert_int_equal(q(ws, "SELECT count(*) FROM datasets WHERE name = 'ds9'"), 0);
	for (int i = 0; i < 3; i++)
		free(m[i].p);
	eng_ws_close(ws);
}

static void test_index_gzip_input(void **state)
{
	(void)state;
	const char *text = "{\"prompt\":\"p\",\"chosen\":\"c\",\"rejected\":\"r\"}\n"
	                   "{\"prompt\":\"p\",\"chosen\":\"c2\",\"rejected\":\"r2\"}\n";
	struct archive *a = archive_write_new();
	archive_write_set_format_raw(a);
	archive_write_add_filter_gzip(a);
	assert_int_equal(archive_write_open_filename(a, path_of("gz.jsonl.gz")), ARCHIVE_OK);
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_pathname(e, "gz.jsonl");
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	assert_int_equal(archive_write_data(a, text, strlen(text)), (la_ssize_t)strlen(text));
	archive_entry_free(e);
	archive_write_close(a);
	archive_write_free(a);
	eng_ws *ws = open_ws();
	eng_index_result res;
	eng_err err = {0};
	assert_int_equal(run(ws, "gz", "gz.jsonl.gz", NULL, &res, &err), 0);
	assert_int_equal(res.pairs, 2);
	assert_int_equal(q(ws, "SELECT count(*) FROM pairs WHERE ext_id = 'gz:2'"), 1);
	char stem[64];
	eng_index_stem("/x/y/gz.jsonl.gz", stem, sizeof stem);
	assert_string_equal(stem, "gz");
	eng_ws_close(ws);
}

static long long total_rows(eng_ws *ws)
{
	return q(ws,
	         "SELECT (SELECT count(*) FROM datasets) + (SELECT count(*) FROM source_files) +"
	         " (SELECT count(*) FROM pairs) + (SELECT count(*) FROM images) +"
	         " (SELECT count(*) FROM ingest_errors)");
}

static void test_index_strict_leaves_workspace_unchanged(void **state)
{
	(void)state;
	write_image("d6/a.png", 10, 10, 9, 0);
	write_text("d6/good.jsonl", "{\"prompt\":\"p\",\"chosen\":\"c\",\"rejected\":\"r\"}\n");
	write_text("d6/bad.jsonl",
	           "{\"prompt\":\"p\",\"image\":\"a.png\",\"chosen\":\"c\",\"rejected\":\"r\"}\n"
	           "{\"prompt\":\"p\",\"chosen\":\"c\",\"rejected\":\"c\"}\n"
	           "{\"prompt\":\"p\",\"chosen\":\"x\",\"rejected\":\"y\"}\n");
	eng_ws *ws = open_ws();
	eng_index_result res;
	eng_err err = {0};
	eng_index_opts strict = {.strict = 1};
	/* a fresh dataset: nothing at all remains, not even the dataset row */
	assert_int_equal(run(ws, "s", "d6/bad.jsonl", &strict, &res, &err), ENG_EINPUT);
	assert_non_null(strstr(err.msg, "bad.jsonl:2: [identical-answers]"));
	assert_int_equal(total_rows(ws), 0);
	/* an existing dataset is left exactly as it was */
	assert_int_equal(run(ws, "s", "d6/good.jsonl", &strict, &res, &err), 0);
	long long before = total_rows(ws);
	assert_int_equal(run(ws, "s", "d6/bad.jsonl", &strict, &res, &err), ENG_EINPUT);
	assert_int_equal(total_rows(ws), before);
	assert_int_equal(q(ws, "SELECT count(*) FROM images"), 0);
	/* without --strict the same file is ingested with one error */
	assert_int_equal(run(ws, "s", "d6/bad.jsonl", NULL, &res, &err), 0);
	assert_int_equal(res.pairs, 2);
	assert_int_equal(res.errors, 1);
	eng_ws_close(ws);
}

static void test_index_idempotent_and_duplicate_ids_across_files(void **state)
{
	(void)state;
	write_text("d7/one.jsonl",
	           "{\"id\":\"x\",\"prompt\":\"p\",\"chosen\":\"c\",\"rejected\":\"r\"}\n"
	           "{\"id\":\"y\",\"prompt\":\"p\",\"chosen\":\"c\",\"rejected\":\"r\"}\n");
	write_text("d7/two.jsonl",
	           "{\"id\":\"y\",\"prompt\":\"q\",\"chosen\":\"c\",\"rejected\":\"r\"}\n"
	           "{\"id\":\"z\",\"prompt\":\"q\",\"chosen\":\"c\",\"rejected\":\"r\"}\n");
	eng_ws *ws = open_ws();
	eng_index_result res;
	eng_err err = {0};
	assert_int_equal(run(ws, "i", "d7/one.jsonl", NULL, &res, &err), 0);
	assert_int_equal(res.skipped, 0);
	assert_int_equal(run(ws, "i", "d7/one.jsonl", NULL, &res, &err), 0);
	assert_int_equal(res.skipped, 1);
	assert_int_equal(res.pairs, 0);
	assert_int_equal(q(ws, "SELECT count(*) FROM pairs"), 2);
	assert_int_equal(q(ws, "SELECT count(*) FROM source_files"), 1);
	assert_int_equal(run(ws, "i", "d7/two.jsonl", NULL, &res, &err), 0);
	assert_int_equal(res.pairs, 1);
	assert_int_equal(res.by_code[ENG_REC_DUPLICATE_ID], 1);
	assert_int_equal(res.first[0].line, 1);
	/* another dataset takes the same file again */
	assert_int_equal(run(ws, "j", "d7/one.jsonl", NULL, &res, &err), 0);
	assert_int_equal(res.pairs, 2);
	assert_int_equal(q(ws, "SELECT count(*) FROM pairs"), 5);
	/* an unreadable input */
	assert_int_equal(run(ws, "i", "d7/absent.jsonl", NULL, &res, &err), ENG_EINPUT);
	assert_non_null(strstr(err.msg, "absent.jsonl"));
	eng_ws_close(ws);
}

/* 60 records naming one image: one images row, decoded once, 59 reuses. */
static void test_index_shared_image_stored_once(void **state)
{
	(void)state;
	write_image("d8/shared.png", 64, 48, 10, 0);
	size_t cap = 60 * 128, n = 0;
	char *text = malloc(cap);
	assert_non_null(text);
	for (int i = 0; i < 60; i++)
		n += (size_t)snprintf(
		    text + n, cap - n,
		    "{\"prompt\":\"p%d\",\"image\":\"shared.png\",\"chosen\":\"c\","
		    "\"rejected\":\"r\"}\n",
		    i);
	write_text("d8/many.jsonl", text);
	free(text);
	eng_ws *ws = open_ws();
	eng_index_result res;
	eng_err err = {0};
	assert_int_equal(run(ws, "m", "d8/many.jsonl", NULL, &res, &err), 0);
	assert_int_equal(res.pairs, 60);
	assert_int_equal(res.images_new, 1);
	assert_int_equal(res.images_reused, 59);
	assert_int_equal(q(ws, "SELECT count(*) FROM images"), 1);
	assert_int_equal(q(ws, "SELECT count(DISTINCT image_id) FROM pairs"), 1);
	eng_ws_close(ws);
}

/* An image cached with features of an older version is recomputed in place (same row and id,
 * current version, the features a fresh index gives) when a later file uses it; not mixed. */
static void test_index_stale_features_recomputed(void **state)
{
	(void)state;
	write_image("st/a.jpg", 64, 48, 11, 1);
	write_text("st/one.jsonl",
	           "{\"prompt\":\"p\",\"image\":\"a.jpg\",\"chosen\":\"c\",\"rejected\":\"r\"}\n");
	write_text("st/two.jsonl",
	           "{\"prompt\":\"q\",\"image\":\"a.jpg\",\"chosen\":\"c\",\"rejected\":\"r\"}\n");
	eng_ws *ws = open_ws();
	eng_index_result res;
	eng_err err = {0};
	assert_int_equal(run(ws, "s", "st/one.jsonl", NULL, &res, &err), 0);
	assert_int_equal(res.images_new, 1);
	assert_int_equal(q(ws, "SELECT feat_version FROM images"), ENG_IMGFEAT_VERSION);
	sqlite3 *db = eng_ws_db(ws);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT feat FROM images", -1, &st, NULL), 0);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int nb = sqlite3_column_bytes(st, 0);
	void *fresh = malloc((size_t)nb);
	memcpy(fresh, sqlite3_column_blob(st, 0), (size_t)nb);
	sqlite3_finalize(st);
	assert_int_equal(
	    sqlite3_exec(db,
	                 "UPDATE images SET feat_version = 2, feat = zeroblob(length(feat)),"
	                 " thumb = NULL",
	                 NULL, NULL, NULL),
	    0);
	assert_int_equal(run(ws, "s", "st/two.jsonl", NULL, &res, &err), 0);
	assert_int_equal(res.images_new, 0);
	assert_int_equal(res.images_reused, 1);
	assert_int_equal(q(ws, "SELECT count(*) FROM images"), 1);
	assert_int_equal(q(ws, "SELECT feat_version FROM images"), ENG_IMGFEAT_VERSION);
	assert_int_equal(q(ws, "SELECT count(*) FROM images WHERE thumb IS NOT NULL"), 1);
	assert_int_equal(q(ws, "SELECT count(DISTINCT image_id) FROM pairs"), 1);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT feat FROM images", -1, &st, NULL), 0);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_bytes(st, 0), nb);
	assert_memory_equal(sqlite3_column_blob(st, 0), fresh, (size_t)nb);
	sqlite3_finalize(st);
	free(fresh);
	eng_ws_close(ws);
}

/* The re-run trap (issue 16): a first run rejects records (an absent image, a reused id); the
 * re-run with the flag the message names replaces the file's rows in one go and keeps the pairs;
 * the same options again are skipped; a failed --strict re-run leaves the previous rows. */
static void test_index_rerun_with_fixing_flag(void **state)
{
	(void)state;
	write_image("rr/here.png", 16, 16, 3, 0);
	write_text("rr/f.jsonl",
	           "{\"id\":\"q1\",\"prompt\":\"p\",\"image\":\"gone.png\",\"chosen\":\"c\","
	           "\"rejected\":\"r\"}\n"
	           "{\"id\":\"q2\",\"prompt\":\"p\",\"image\":\"here.png\",\"chosen\":\"c\","
	           "\"rejected\":\"r\"}\n"
	           "{\"id\":\"q2\",\"prompt\":\"p2\",\"image\":\"here.png\",\"chosen\":\"c2\","
	           "\"rejected\":\"r2\"}\n");
	eng_ws *ws = open_ws();
	eng_index_result res;
	eng_err err = {0};
	assert_int_equal(run(ws, "rr", "rr/f.jsonl", NULL, &res, &err), 0);
	assert_int_equal(res.pairs, 1);
	assert_int_equal(res.by_code[ENG_REC_MISSING_IMAGE], 1);
	assert_int_equal(res.by_code[ENG_REC_DUPLICATE_ID], 1);
	assert_non_null(strstr(reason_at(ws, 1, "missing-image"), "--missing-images text-only"));
	assert_non_null(strstr(reason_at(ws, 1, "missing-image"), "gone.png"));
	assert_non_null(strstr(reason_at(ws, 3, "duplicate-id"), "--duplicate-ids rename"));
	/* the same options: skipped, nothing changes */
	assert_int_equal(run(ws, "rr", "rr/f.jsonl", NULL, &res, &err), 0);
	assert_true(res.skipped);
	assert_int_equal(q(ws, "SELECT count(*) FROM pairs"), 1);
	/* a scored run of the pair, which the replacement must take away with it */
	assert_int_equal(eng_ws_exec(ws,
	                             "INSERT INTO runs(id, kind, seed, options, versions) VALUES "
	                             "(7, 'score', 1, '{}', '{}'); INSERT INTO pair_scores(run_id, "
	                             "pair_id, fold, p_text, category) SELECT 7, id, 0, 0.5, "
	                             "'ambiguous' FROM pairs",
	                             &err),
	                 0);
	assert_int_equal(q(ws, "SELECT count(*) FROM pair_scores"), 1);
	/* the fixing flags: the file's rows are replaced, every pair kept */
	eng_index_opts o = {.missing_text_only = 1, .rename_dup_ids = 1};
	assert_int_equal(run(ws, "rr", "rr/f.jsonl", &o, &res, &err), 0);
	/* nothing left pointing at the replaced rows, and the checks are on again */
	assert_int_equal(q(ws, "SELECT count(*) FROM pair_scores"), 0);
	assert_int_equal(q(ws, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
	assert_int_equal(q(ws, "PRAGMA foreign_keys"), 1);
	assert_false(res.skipped);
	assert_int_equal(res.replaced, 1);
	assert_int_equal(res.replaced_pairs, 1);
	assert_non_null(strstr(res.replaced_options, "missing-images=reject"));
	assert_int_equal(res.pairs, 3);
	assert_int_equal(res.errors, 0);
	assert_int_equal(res.images_missing_kept, 1);
	assert_int_equal(q(ws, "SELECT count(*) FROM pairs"), 3);
	assert_int_equal(q(ws, "SELECT count(*) FROM ingest_errors"), 0);
	assert_int_equal(q(ws, "SELECT count(*) FROM source_files"), 1);
	assert_int_equal(q(ws, "SELECT pairs FROM source_files"), 3);
	assert_int_equal(q(ws, "SELECT count(*) FROM pairs WHERE ext_id = 'q2@L3'"), 1);
	assert_int_equal(q(ws, "SELECT count(*) FROM pairs WHERE ext_id = 'q1' AND image_id IS NULL"
	                       " AND image_ref = 'gone.png'"),
	                 1);
	/* again with the fixing flags: skipped */
	assert_int_equal(run(ws, "rr", "rr/f.jsonl", &o, &res, &err), 0);
	assert_true(res.skipped);
	/* a --strict run with other options fails and leaves the replaced rows as they were */
	eng_index_opts strict = {.strict = 1};
	assert_int_equal(run(ws, "rr", "rr/f.jsonl", &strict, &res, &err), ENG_EINPUT);
	assert_int_equal(q(ws, "SELECT count(*) FROM pairs"), 3);
	assert_int_equal(q(ws, "SELECT count(*) FROM source_files WHERE options LIKE "
	                       "'%missing-images=text-only%'"),
	                 1);
	/* another field map is another key too */
	eng_rec_map map;
	char msg[128];
	assert_int_equal(eng_rec_map_parse("prompt=prompt", &map, msg, sizeof msg), 0);
	o.map = &map;
	assert_int_equal(run(ws, "rr", "rr/f.jsonl", &o, &res, &err), 0);
	assert_int_equal(res.replaced, 1);
	assert_int_equal(res.pairs, 3);
	eng_rec_map_clear(&map);
	eng_ws_close(ws);
}

/* Derived ids ("<stem>:<line>") stay unique in a dataset: files of the same name in two folders
 * (the second gets "@" + its content hash's first 8 hex digits), and long names that share their
 * first 200 bytes (cut, "~" + a hash of the whole name). */
static void test_index_derived_ids_unique(void **state)
{
	(void)state;
	const char *line = "{\"prompt\":\"p\",\"chosen\":\"c\",\"rejected\":\"r\"}\n";
	write_text("di/a/data.jsonl", line);
	write_text("di/b/data.jsonl",
	           "\n{\"prompt\":\"p\",\"chosen\":\"c\",\"rejected\":\"r2\"}\n");
	char l1[300], l2[300], rel[320];
	memset(l1, 'x', 240);
	memcpy(l2, l1, 240);
	memcpy(l1 + 240, "_one.jsonl", 11);
	memcpy(l2 + 240, "_two.jsonl", 11);
	snprintf(rel, sizeof rel, "di/%s", l1);
	write_text(rel, "{\"prompt\":\"p\",\"chosen\":\"c\",\"rejected\":\"r3\"}\n");
	snprintf(rel, sizeof rel, "di/%s", l2);
	write_text(rel, "{\"prompt\":\"p\",\"chosen\":\"c\",\"rejected\":\"r4\"}\n");
	eng_ws *ws = open_ws();
	eng_index_result res;
	eng_err err = {0};
	assert_int_equal(run(ws, "di", "di/a/data.jsonl", NULL, &res, &err), 0);
	assert_int_equal(run(ws, "di", "di/b/data.jsonl", NULL, &res, &err), 0);
	assert_int_equal(res.pairs, 1);
	char want[64];
	snprintf(want, sizeof want, "SELECT count(*) FROM pairs WHERE ext_id = 'data@%.8s:2'",
	         res.sha256);
	assert_int_equal(q(ws, "SELECT count(*) FROM pairs WHERE ext_id = 'data:1'"), 1);
	assert_int_equal(q(ws, want), 1);
	snprintf(rel, sizeof rel, "di/%s", l1);
	assert_int_equal(run(ws, "di", rel, NULL, &res, &err), 0);
	assert_int_equal(res.pairs, 1);
	snprintf(rel, sizeof rel, "di/%s", l2);
	assert_int_equal(run(ws, "di", rel, NULL, &res, &err), 0);
	assert_int_equal(res.pairs, 1);
	assert_int_equal(res.errors, 0);
	assert_int_equal(q(ws, "SELECT count(DISTINCT ext_id) FROM pairs"), 4);
	assert_int_equal(q(ws, "SELECT count(*) FROM pairs WHERE ext_id GLOB 'xxxx*~????????:1'"),
	                 2);
	assert_int_equal(q(ws, "SELECT max(length(ext_id)) FROM pairs"), 200 + 9 + 2);
	eng_ws_close(ws);
}

/* Each per-record error whose outcome an option changes names that option in its reason. */
static void test_index_messages_name_the_fix(void **state)
{
	(void)state;
	write_image("mf/big.png", 40, 30, 1, 0);
	write_image("mf/ok.png", 8, 8, 2, 0);
	char *longline = malloc(3000);
	memset(longline, 'y', 2999);
	longline[2999] = '\0';
	char *text = malloc(4000);
	snprintf(text, 4000,
	         "{\"prompt\":\"p\",\"image\":\"nope.png\",\"chosen\":\"c\",\"rejected\":\"r\"}\n"
	         "{\"prompt\":\"p\",\"image\":\"big.png\",\"chosen\":\"c\",\"rejected\":\"r\"}\n"
	         "{\"question_x\":\"p\",\"chosen\":\"c\",\"rejected\":\"r\"}\n"
	         "{\"id\":\"d\",\"prompt\":\"p\",\"chosen\":\"c\",\"rejected\":\"r\"}\n"
	         "{\"id\":\"d\",\"prompt\":\"p\",\"chosen\":\"c\",\"rejected\":\"r3\"}\n"
	         "{\"prompt\":\"%s\"}\n"
	         "{\"prompt\":\"p\",\"answer_1\":\"x\",\"answer_2\":\"y\",\"winner\":\"maybe\"}\n",
	         longline);
	write_text("mf/f.jsonl", text);
	free(text);
	free(longline);
	eng_ws *ws = open_ws();
	eng_index_result res;
	eng_err err = {0};
	eng_index_opts o = {.max_pixels = 1000, .max_line = 1024};
	assert_int_equal(run(ws, "mf", "mf/f.jsonl", &o, &res, &err), 0);
	assert_int_equal(res.pairs, 1);
	assert_non_null(strstr(reason_at(ws, 1, "missing-image"), "--missing-images text-only"));
	assert_non_null(strstr(reason_at(ws, 2, "image-too-large"), "--max-pixels"));
	assert_non_null(strstr(reason_at(ws, 2, "image-too-large"), "big.png"));
	assert_non_null(strstr(reason_at(ws, 3, "missing-field"), "--map ROLE=FIELD"));
	assert_non_null(strstr(reason_at(ws, 3, "missing-field"), "--prompt-text"));
	assert_non_null(strstr(reason_at(ws, 5, "duplicate-id"), "--duplicate-ids rename"));
	assert_non_null(strstr(reason_at(ws, 6, "line-too-long"), "--max-line"));
	assert_non_null(strstr(reason_at(ws, 7, "undecided-verdict"), "--verdict-map"));
	assert_int_equal(q(ws, "SELECT count(*) FROM ingest_errors WHERE reason GLOB '*PATH*'"), 0);
	eng_ws_close(ws);
}

static void test_index_image_helpers(void **state)
{
	(void)state;
	int sup;
	assert_string_equal(eng_image_format((const uint8_t *)"GIF89a", 6, &sup), "gif");
	assert_int_equal(sup, 1);
	assert_string_equal(eng_image_format((const uint8_t *)"II*\0xxxx", 8, &sup), "tiff");
	assert_int_equal(sup, 0);
	assert_null(eng_image_format((const uint8_t *)"hello", 5, &sup));
	char name[] = "./a//b/./c.png";
	eng_archive_normalize(name);
	assert_string_equal(name, "a/b/c.png");
	uint8_t *out = NULL;
	size_t n = 0;
	eng_rec_error rej;
	assert_int_equal(eng_image_data_uri("data:image/png;base64,aGVsbG8=", &out, &n, &rej), 0);
	assert_int_equal(n, 5);
	assert_memory_equal(out, "hello", 5);
	free(out);
	assert_int_equal(eng_image_data_uri("data:text/plain;base64,aGVsbG8=", &out, &n, &rej), 1);
	assert_int_equal(rej.code, ENG_REC_UNSUPPORTED_IMAGE);
	assert_int_equal(eng_image_data_uri("data:image/png,raw", &out, &n, &rej), 1);
	assert_int_equal(rej.code, ENG_REC_UNSUPPORTED_IMAGE);
}

/* A pretty-printed JSON array of ShareGPT records with an `images` list: detected without a flag,
 * each pair numbered by the line its element starts on. */
static void test_index_json_array_sharegpt(void **state)
{
	(void)state;
	write_image("ja/img/1.png", 20, 20, 1, 0);
	write_text(
	    "ja/demo.json",
	    "[\n  {\n    \"conversations\": [{\"from\": \"human\", \"value\": \"<image>What?\"}],\n"
	    "    \"chosen\": {\"from\": \"gpt\", \"value\": \"A red square.\"},\n"
	    "    \"rejected\": {\"from\": \"gpt\", \"value\": \"A blue circle.\"},\n"
	    "    \"images\": [\"img/1.png\"]\n  },\n  {\n    \"conversations\": [{\"from\": "
	    "\"human\", \"value\": \"Hi\"}, {\"from\": \"gpt\", \"value\": \"Hello\"}, "
	    "{\"from\": \"human\", \"value\": \"Bye?\"}],\n    \"chosen\": {\"from\": \"gpt\", "
	    "\"value\": \"Bye!\"},\n    \"rejected\": {\"from\": \"gpt\", \"value\": "
	    "\"No.\"}\n  },\n  {\"conversations\": []}\n]\n");
	eng_ws *ws = open_ws();
	eng_index_result res;
	eng_err err = {0};
	assert_int_equal(run(ws, "ja", "ja/demo.json", NULL, &res, &err), 0);
	assert_int_equal(res.shape, ENG_SHAPE_SHAREGPT);
	assert_int_equal(res.records, 3);
	assert_int_equal(res.pairs, 2);
	assert_int_equal(res.errors, 1);
	assert_int_equal(res.images_new, 1);
	assert_int_equal(q(ws, "SELECT line FROM pairs WHERE chosen = 'A red square.'"), 2);
	assert_int_equal(q(ws, "SELECT line FROM pairs WHERE chosen = 'Bye!'"), 8);
	assert_int_equal(q(ws, "SELECT count(*) FROM pairs WHERE image_id IS NOT NULL"), 1);
	assert_int_equal(q(ws, "SELECT count(*) FROM pairs WHERE prompt = 'Human: Hi\n\nAssistant: "
	                       "Hello\n\nHuman: Bye?'"),
	                 1);
	assert_int_equal(q(ws, "SELECT line FROM ingest_errors"), 13);
	eng_ws_close(ws);
}

/* Judged pairs: verdicts pick the answer; ties and undecided verdicts are counted by their own
 * codes and skipped; --format forces a shape. */
static void test_index_judged_ties_undecided(void **state)
{
	(void)state;
	write_text("jd/judged.jsonl",
	           "{\"id\":\"a\",\"question\":\"q1\",\"answer_1\":\"one\",\"answer_2\":\"two\","
	           "\"winner\":\"model_2\"}\n"
	           "{\"id\":\"b\",\"question\":\"q2\",\"answer_1\":\"one\",\"answer_2\":\"two\","
	           "\"winner\":\"model_1\"}\n"
	           "{\"id\":\"c\",\"question\":\"q3\",\"answer_1\":\"one\",\"answer_2\":\"two\","
	           "\"winner\":\"tie\"}\n"
	           "{\"id\":\"d\",\"question\":\"q4\",\"answer_1\":\"one\",\"answer_2\":\"two\","
	           "\"winner\":\"undecided\"}\n"
	           "{\"id\":\"e\",\"question\":\"q5\",\"answer_1\":\"one\",\"answer_2\":\"two\","
	           "\"winner\":null}\n");
	eng_ws *ws = open_ws();
	eng_index_result res;
	eng_err err = {0};
	assert_int_equal(run(ws, "jd", "jd/judged.jsonl", NULL, &res, &err), 0);
	assert_int_equal(res.shape, ENG_SHAPE_JUDGED);
	assert_int_equal(res.pairs, 2);
	assert_int_equal(res.by_code[ENG_REC_TIE_VERDICT], 1);
	assert_int_equal(res.by_code[ENG_REC_UNDECIDED_VERDICT], 2);
	assert_int_equal(q(ws,
	                   "SELECT count(*) FROM pairs WHERE ext_id = 'a' AND chosen = 'two' AND"
	                   " json_extract(meta, '$.chosen_position') = 2"),
	                 1);
	assert_int_equal(q(ws, "SELECT line FROM ingest_errors WHERE code = 'tie-verdict'"), 3);
	eng_ws_close(ws);
	/* forced pairwise: these records have no chosen/rejected */
	ws = open_ws();
	eng_index_opts o = {.shape = ENG_SHAPE_PAIRWISE};
	assert_int_equal(run(ws, "jd", "jd/judged.jsonl", &o, &res, &err), 0);
	assert_int_equal(res.pairs, 0);
	assert_int_equal(res.by_code[ENG_REC_MISSING_FIELD], 5);
	eng_ws_close(ws);
}

/* The format comes from the bytes: a TIFF named .jpg and an MP4 named .png are reported by name as
 * unsupported-image, not as corrupt; a PNG named .jpg and a WEBP named .jpg are decoded. */
static void test_index_formats_by_bytes(void **state)
{
	(void)state;
	static const uint8_t tiff[] = "II*\0\x08\0\0\0\0\0\0\0";
	static const uint8_t mp4[] = "\0\0\0\x18"
	                             "ftypisom\0\0\x02\0isomiso2";
	uint8_t px[24 * 16 * 3], *webp = NULL;
	for (size_t i = 0; i < sizeof px; i++)
		px[i] = (uint8_t)(i * 13);
	size_t nwebp = WebPEncodeLosslessRGB(px, 24, 16, 24 * 3, &webp);
	assert_true(nwebp > 0);
	write_file("fb/a.jpg", tiff, sizeof tiff - 1);
	write_file("fb/v.png", mp4, sizeof mp4 - 1);
	write_image("fb/p.jpg", 10, 10, 3, 0); /* PNG bytes */
	write_file("fb/w.jpg", webp, nwebp);
	WebPFree(webp);
	write_text("fb/f.jsonl",
	           "{\"prompt\":\"p\",\"image\":\"a.jpg\",\"chosen\":\"c\",\"rejected\":\"r\"}\n"
	           "{\"prompt\":\"p\",\"image\":\"v.png\",\"chosen\":\"c\",\"rejected\":\"r\"}\n"
	           "{\"prompt\":\"p\",\"image\":\"p.jpg\",\"chosen\":\"c\",\"rejected\":\"r\"}\n"
	           "{\"prompt\":\"q\",\"image\":\"w.jpg\",\"chosen\":\"c\",\"rejected\":\"r\"}\n");
	eng_ws *ws = open_ws();
	eng_index_result res;
	eng_err err = {0};
	assert_int_equal(run(ws, "fb", "fb/f.jsonl", NULL, &res, &err), 0);
	assert_int_equal(res.pairs, 2);
	assert_int_equal(res.by_code[ENG_REC_UNSUPPORTED_IMAGE], 2);
	assert_int_equal(res.by_code[ENG_REC_CORRUPT_IMAGE], 0);
	const char *r1 = reason_at(ws, 1, "unsupported-image");
	if (!strstr(r1, "TIFF image: not supported; convert it to PNG/JPEG") || !strstr(r1, ".jpg"))
		fail_msg("reason: %s", r1);
	assert_non_null(strstr(reason_at(ws, 2, "unsupported-image"), "MP4 video: not supported"));
	assert_int_equal(q(ws, "SELECT count(*) FROM images WHERE format = 'png'"), 1);
	assert_int_equal(q(ws,
	                   "SELECT count(*) FROM images WHERE format = 'webp' AND width = 24 AND "
	                   "height = 16 AND feat_version = 3 AND length(thumb) > 0"),
	                 1);
	eng_ws_close(ws);
}

/* Duplicates in either order, after case/whitespace normalisation, with and without conflicting
 * labels; another image or prompt is not a duplicate. */
static void test_index_duplicates_conflicts(void **state)
{
	(void)state;
	write_image("dd/a.png", 12, 12, 1, 0);
	write_image("dd/b.png", 12, 12, 2, 0);
	write_text("dd/d.jsonl",
	           "{\"id\":\"1\",\"prompt\":\"Q\",\"image\":\"a.png\",\"chosen\":\"Yes it is\","
	           "\"rejected\":\"no\"}\n"
	           "{\"id\":\"2\",\"prompt\":\" q \",\"image\":\"a.png\",\"chosen\":\"NO\","
	           "\"rejected\":\"yes  it\\nis\"}\n"
	           "{\"id\":\"3\",\"prompt\":\"Q\",\"image\":\"a.png\",\"chosen\":\"Yes it is\","
	           "\"rejected\":\"no\"}\n"
	           "{\"id\":\"4\",\"prompt\":\"Q\",\"image\":\"b.png\",\"chosen\":\"Yes it is\","
	           "\"rejected\":\"no\"}\n"
	           "{\"id\":\"5\",\"prompt\":\"T\",\"chosen\":\"x\",\"rejected\":\"y\"}\n"
	           "{\"id\":\"6\",\"prompt\":\"t\",\"chosen\":\"X\",\"rejected\":\"Y\"}\n"
	           "{\"id\":\"7\",\"prompt\":\"T2\",\"chosen\":\"x\",\"rejected\":\"y\"}\n");
	eng_ws *ws = open_ws();
	eng_index_result res;
	eng_err err = {0};
	assert_int_equal(run(ws, "dd", "dd/d.jsonl", NULL, &res, &err), 0);
	assert_int_equal(res.pairs, 7);
	/* groups {1,2,3} (conflict) and {5,6}: 2 + 1 repeats */
	assert_int_equal(res.duplicates, 3);
	assert_int_equal(res.conflicts, 1);
	sqlite3_stmt *st = NULL;
	assert_int_equal(
	    sqlite3_prepare_v2(eng_ws_db(ws), ENG_DEDUP_CONFLICT_SQL " ORDER BY id", -1, &st, NULL),
	    SQLITE_OK);
	sqlite3_bind_int64(st, 1, q(ws, "SELECT id FROM datasets WHERE name = 'dd'"));
	int n = 0;
	while (sqlite3_step(st) == SQLITE_ROW)
		n++;
	sqlite3_finalize(st);
	assert_int_equal(n, 3);
	assert_int_equal(
	    q(ws, "SELECT count(*) FROM pairs WHERE conflict = 0 AND dup_group IS NOT NULL"), 2);
	/* a second file of the dataset: its pairs' keys are made as they are stored, the first
	 * file's pairs are read back; one of them repeats pair 5 in the other order */
	write_text("dd/e.jsonl", "{\"id\":\"e1\",\"prompt\":\"T\",\"chosen\":\"y\","
	                         "\"rejected\":\"x\"}\n"
	                         "{\"id\":\"e2\",\"prompt\":\"new\",\"chosen\":\"a\","
	                         "\"rejected\":\"b\"}\n");
	assert_int_equal(run(ws, "dd", "dd/e.jsonl", NULL, &res, &err), 0);
	assert_int_equal(res.duplicates, 4);
	assert_int_equal(res.conflicts, 2);
	char before[512], after[512];
	const char *flags = "SELECT group_concat(id || ':' || coalesce(dup_group, '-') || ':' ||"
	                    " conflict, ' ') FROM (SELECT * FROM pairs ORDER BY id)";
	qstr(ws, flags, before, sizeof before);
	eng_dedup_result dr;
	assert_int_equal(eng_dedup_dataset(ws, 1, &dr, &err), 0); /* every pair read back */
	qstr(ws, flags, after, sizeof after);
	assert_string_equal(before, after);
	assert_int_equal(dr.groups, 2);
	assert_int_equal(dr.exact, 2); /* 3 repeats 1, e1 repeats 5 (swapped), byte for byte */
	assert_int_equal(dr.conflict_pairs, 6);
	/* recomputing gives the same flags, and none lands in the user's metadata */
	assert_int_equal(q(ws, "SELECT count(*) FROM pairs WHERE conflict = 1"), 6);
	assert_int_equal(q(ws, "SELECT count(*) FROM pairs WHERE meta LIKE '%dup_group%'"), 0);
	eng_ws_close(ws);
}

/* Enough pairs for the grouping's sort to partition (and recurse) rather than insertion-sort:
 * 4,000 text pairs, prompt k % 1,500 with answers k % 1,500 in either order (k's order by k / 1,500
 * parity), so every prompt p < 1,000 appears 3 times and the others twice, and a group conflicts
 * when its members' orders differ. The expected counts are worked out here from the same rule. */
static void test_index_duplicates_many(void **state)
{
	(void)state;
	enum { N = 4000, P = 1500 };
	FILE *f = fopen(path_of("dm.jsonl"), "w");
	assert_non_null(f);
	int count[P] = {0}, ord[P][2] = {{0}};
	for (int k = 0; k < N; k++) {
		int p = k % P, flip = (k / P) % 2;
		count[p]++;
		ord[p][flip] = 1;
		fprintf(f,
		        "{\"id\":\"m%d\",\"prompt\":\"question %d\",\"chosen\":\"%s %d\","
		        "\"rejected\":\"%s %d\"}\n",
		        k, p, flip ? "worse" : "better", p, flip ? "better" : "worse", p);
	}
	fclose(f);
	size_t groups = 0, dups = 0, conflicts = 0, conflict_pairs = 0;
	for (int p = 0; p < P; p++)
		if (count[p] > 1) {
			groups++;
			dups += (size_t)count[p] - 1;
			if (ord[p][0] && ord[p][1]) {
				conflicts++;
				conflict_pairs += (size_t)count[p];
			}
		}
	eng_ws *ws = open_ws();
	eng_index_result res;
	eng_err err = {0};
	assert_int_equal(run(ws, "dm", "dm.jsonl", NULL, &res, &err), 0);
	assert_int_equal(res.pairs, N);
	assert_int_equal(res.duplicates, dups);
	assert_int_equal(res.conflicts, conflicts);
	eng_dedup_result dr;
	assert_int_equal(
	    eng_dedup_dataset(ws, q(ws, "SELECT id FROM datasets WHERE name = 'dm'"), &dr, &err),
	    0);
	assert_int_equal(dr.groups, groups);
	assert_int_equal(dr.duplicates, dups);
	assert_int_equal(dr.conflict_pairs, conflict_pairs);
	/* the raw texts repeat too (the exact hash, like the key, takes the answers in either
	 * order) */
	assert_int_equal(dr.exact, dups);
	/* every group's members share one group id, and each id names one prompt */
	assert_int_equal(q(ws, "SELECT count(DISTINCT dup_group) FROM pairs"), groups);
	assert_int_equal(q(ws,
	                   "SELECT count(*) FROM (SELECT dup_group FROM pairs WHERE dup_group IS"
	                   " NOT NULL GROUP BY dup_group HAVING count(DISTINCT prompt) > 1)"),
	                 0);
	assert_int_equal(q(ws, "SELECT count(*) FROM pairs WHERE conflict = 1"), conflict_pairs);
	eng_ws_close(ws);
}

/* --missing-images text-only keeps records whose image file is absent, as text-only pairs. */
static void test_index_missing_images_text_only(void **state)
{
	(void)state;
	write_text(
	    "mi/m.jsonl",
	    "{\"prompt\":\"p\",\"image\":\"gone/1.jpg\",\"chosen\":\"c\",\"rejected\":\"r\"}\n");
	eng_ws *ws = open_ws();
	eng_index_result res;
	eng_err err = {0};
	assert_int_equal(run(ws, "mi", "mi/m.jsonl", NULL, &res, &err), 0);
	assert_int_equal(res.pairs, 0);
	assert_int_equal(res.by_code[ENG_REC_MISSING_IMAGE], 1);
	eng_ws_close(ws);
	ws = open_ws();
	eng_index_opts o = {.missing_text_only = 1};
	assert_int_equal(run(ws, "mi", "mi/m.jsonl", &o, &res, &err), 0);
	assert_int_equal(res.pairs, 1);
	assert_int_equal(res.errors, 0);
	assert_int_equal(res.images_missing_kept, 1);
	assert_int_equal(q(ws, "SELECT count(*) FROM pairs WHERE image_id IS NULL AND image_ref = "
	                       "'gone/1.jpg'"),
	                 1);
	eng_ws_close(ws);
}

/* Records inside a tar.gz next to their images: every .jsonl/.json member is ingested as its own
 * source file; references resolve against the member's folder, then the archive root; a second
 * run is skipped. */
static void test_index_bundle_records_and_images(void **state)
{
	(void)state;
	const char *recs =
	    "{\"id\":\"a\",\"prompt\":\"p\",\"image\":\"img/1.png\",\"chosen\":\"c\","
	    "\"rejected\":\"r\"}\n"
	    "{\"id\":\"b\",\"prompt\":\"p\",\"image\":\"top.png\",\"chosen\":\"c2\","
	    "\"rejected\":\"r2\"}\n"
	    "{\"id\":\"c\",\"prompt\":\"p\",\"image\":\"img/none.png\",\"chosen\":\"c3\","
	    "\"rejected\":\"r3\"}\n";
	const char *arr = "[\n {\"conversations\": [{\"from\": \"human\", \"value\": \"q\"}],\n"
	                  "  \"chosen\": {\"from\": \"gpt\", \"value\": \"yes\"},\n"
	                  "  \"rejected\": {\"from\": \"gpt\", \"value\": \"no\"}}\n]\n";
	buf m[5];
	m[0] = (buf){(uint8_t *)recs, strlen(recs)};
	m[1] = make_image(16, 16, 1, 0);
	m[2] = make_image(16, 16, 2, 1);
	m[3] = (buf){(uint8_t *)arr, strlen(arr)};
	m[4] = (buf){(uint8_t *)"not records", 11};
	const char *names[5] = {"data/pairs.jsonl", "data/img/1.png", "top.png", "extra/sg.json",
	                        "README.txt"};
	write_archive("bu/bundle.tar.gz", "tar.gz", 5, names, m);
	free(m[1].p);
	free(m[2].p);
	assert_int_equal(eng_index_is_bundle(path_of("bu/bundle.tar.gz")), 1);
	assert_int_equal(eng_index_is_bundle("x.jsonl.gz"), 0);
	eng_ws *ws = open_ws();
	eng_index_result res;
	eng_err err = {0};
	assert_int_equal(run(ws, "bu", "bu/bundle.tar.gz", NULL, &res, &err), 0);
	assert_int_equal(res.records, 4);
	assert_int_equal(res.pairs, 3);
	assert_int_equal(res.by_code[ENG_REC_MISSING_IMAGE], 1);
	assert_int_equal(res.images_new, 2);
	assert_int_equal(q(ws, "SELECT count(*) FROM source_files"), 2);
	assert_int_equal(q(ws, "SELECT pairs * 10 + errors FROM source_files WHERE path LIKE "
	                       "'%bundle.tar.gz:data/pairs.jsonl'"),
	                 21);
	assert_int_equal(q(ws, "SELECT count(*) FROM pairs WHERE image_id IS NOT NULL"), 2);
	assert_int_equal(q(ws, "SELECT line FROM pairs WHERE chosen = 'yes'"), 2);
	assert_int_equal(q(ws, "SELECT count(*) FROM ingest_errors WHERE line = 3 AND path LIKE "
	                       "'%:data/pairs.jsonl'"),
	                 1);
	assert_int_equal(run(ws, "bu", "bu/bundle.tar.gz", NULL, &res, &err), 0);
	assert_int_equal(res.skipped, 1);
	assert_int_equal(q(ws, "SELECT count(*) FROM pairs"), 3);
	/* an archive without record members is refused */
	const char *n1[1] = {"a.png"};
	buf m1[1] = {make_image(8, 8, 1, 0)};
	write_archive("bu/imgs.zip", "zip", 1, n1, m1);
	free(m1[0].p);
	assert_int_equal(run(ws, "bu2", "bu/imgs.zip", NULL, &res, &err), ENG_EINPUT);
	assert_non_null(strstr(err.msg, "no .jsonl"));
	eng_ws_close(ws);
}

/* --duplicate-ids rename keeps a pair whose id was used before as <id>@L<line>. */
static void test_index_duplicate_ids_rename(void **state)
{
	(void)state;
	write_text("dr/r.jsonl",
	           "{\"id\":\"q1\",\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\"}\n"
	           "{\"id\":\"q1\",\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"c\"}\n");
	eng_ws *ws = open_ws();
	eng_index_result res;
	eng_err err = {0};
	eng_index_opts o = {.rename_dup_ids = 1};
	assert_int_equal(run(ws, "dr", "dr/r.jsonl", &o, &res, &err), 0);
	assert_int_equal(res.pairs, 2);
	assert_int_equal(res.errors, 0);
	assert_int_equal(res.ids_renamed, 1);
	assert_int_equal(q(ws, "SELECT count(*) FROM pairs WHERE ext_id = 'q1@L2' AND chosen = 'a'"
	                       " AND rejected = 'c'"),
	                 1);
	eng_ws_close(ws);
}

/* ---- parser-thread batch boundaries (batches of 256 lines, a ring of 3) ------------------- */

typedef struct badline {
	int line;
	const char *code;
} badline;

/* Writes rel with n lines: line i is bad[k].code's kind of record when listed, blank when listed
 * in blank, else a good record "r<i>"; the last line has no newline. */
static void write_lines(const char *rel, int n, const badline *bad, int nbad, const int *blank,
                        int nblank)
{
	size_t cap = (size_t)n * 600 + 1, len = 0;
	char *t = malloc(cap);
	assert_non_null(t);
	for (int i = 1; i <= n; i++) {
		const char *code = NULL;
		int is_blank = 0;
		for (int k = 0; k < nbad; k++)
			if (bad[k].line == i)
				code = bad[k].code;
		for (int k = 0; k < nblank; k++)
			is_blank |= blank[k] == i;
		char line[600];
		if (is_blank)
			snprintf(line, sizeof line, "  ");
		else if (!code)
			snprintf(
			    line, sizeof line,
			    "{\"id\":\"r%d\",\"prompt\":\"p%d\",\"chosen\":\"c%d\",\"rejected\":"
			    "\"x%d\"}",
			    i, i, i, i);
		else if (!strcmp(code, "bad-json"))
			snprintf(line, sizeof line, "{\"id\":\"r%d\",\"prompt\":", i);
		else if (!strcmp(code, "identical-answers"))
			snprintf(line, sizeof line,
			         "{\"prompt\":\"p\",\"chosen\":\"s%d\",\"rejected\":\"s%d\"}", i,
			         i);
		else if (!strcmp(code, "line-too-long"))
			snprintf(line, sizeof line,
			         "{\"prompt\":\"p\",\"chosen\":\"%0450d\",\"rejected\":\"r\"}", i);
		else if (!strcmp(code, "not-object"))
			snprintf(line, sizeof line, "[%d]", i);
		else if (!strcmp(code, "missing-field"))
			snprintf(line, sizeof line, "{\"prompt\":\"p\",\"chosen\":\"c%d\"}", i);
		else if (!strcmp(code, "duplicate-id"))
			snprintf(line, sizeof line,
			         "{\"id\":\"r2\",\"prompt\":\"p\",\"chosen\":\"d%d\",\"rejected\":"
			         "\"e\"}",
			         i);
		else if (!strcmp(code, "empty-field"))
			snprintf(line, sizeof line,
			         "{\"prompt\":\"p\",\"chosen\":\" \",\"rejected\":\"r%d\"}", i);
		else
			fail_msg("no fixture for %s", code);
		size_t m = strlen(line);
		memcpy(t + len, line, m);
		len += m;
		if (i < n)
			t[len++] = '\n';
	}
	write_file(rel, t, len);
	free(t);
}

/* Errors on the first/last lines of batches (1, 256, 257, 512, 513, 768, 999), blank lines
 * shifting later batches, a last line without newline: exactly those errors, every good line. */
static void test_index_batch_boundaries(void **state)
{
	(void)state;
	const badline bad[] = {
	    {1, "bad-json"},      {256, "identical-answers"}, {257, "line-too-long"},
	    {512, "not-object"},  {513, "missing-field"},     {768, "duplicate-id"},
	    {999, "empty-field"},
	};
	const int nbad = (int)(sizeof bad / sizeof bad[0]), blank[] = {600, 601};
	write_lines("bb/data.jsonl", 1000, bad, nbad, blank, 2);
	eng_ws *ws = open_ws();
	eng_index_result res;
	eng_err err = {0};
	eng_index_opts o = {.max_line = 400};
	assert_int_equal(run(ws, "bb", "bb/data.jsonl", &o, &res, &err), 0);
	assert_int_equal(res.records, 998);
	assert_int_equal(res.errors, nbad);
	assert_int_equal(res.pairs, 998 - nbad);
	assert_int_equal(q(ws, "SELECT count(*) FROM pairs"), 998 - nbad);
	assert_int_equal(q(ws, "SELECT count(*) FROM ingest_errors"), nbad);
	for (int k = 0; k < nbad; k++) {
		char sql[160];
		snprintf(sql, sizeof sql,
		         "SELECT count(*) FROM ingest_errors WHERE line = %d AND code = '%s'",
		         bad[k].line, bad[k].code);
		assert_int_equal(q(ws, sql), 1);
	}
	/* the first errors are reported in file order */
	assert_int_equal(res.nfirst, ENG_INDEX_FIRST_ERRORS);
	for (int k = 0; k < ENG_INDEX_FIRST_ERRORS; k++) {
		assert_int_equal(res.first[k].line, bad[k].line);
		assert_string_equal(eng_rec_code_name(res.first[k].code), bad[k].code);
	}
	/* every good line is stored once, with its own line number, the last one too */
	assert_int_equal(q(ws, "SELECT count(*) FROM pairs WHERE ext_id = 'r' || line AND chosen ="
	                       " 'c' || line AND rejected = 'x' || line"),
	                 998 - nbad);
	assert_int_equal(q(ws, "SELECT max(line) FROM pairs"), 1000);
	assert_int_equal(q(ws, "SELECT count(*) FROM pairs WHERE line IN (600, 601)"), 0);
	assert_int_equal(q(ws, "SELECT records * 10000 + pairs FROM source_files"),
	                 998 * 10000 + 998 - nbad);
	eng_ws_close(ws);
}

/* --strict: the first problem aborts whichever batch it is in (the parser may be batches ahead)
 * and leaves the workspace exactly as it was. */
static void test_index_batch_boundaries_strict(void **state)
{
	(void)state;
	const int firsts[] = {1, 256, 257, 513, 769, 1000};
	eng_ws *ws = open_ws();
	eng_index_result res;
	eng_err err = {0};
	write_text("bs/seed.jsonl", "{\"prompt\":\"p\",\"chosen\":\"c\",\"rejected\":\"r\"}\n");
	eng_index_opts strict = {.strict = 1};
	assert_int_equal(run(ws, "bs", "bs/seed.jsonl", &strict, &res, &err), 0);
	long long before = total_rows(ws);
	for (size_t f = 0; f < sizeof firsts / sizeof firsts[0]; f++) {
		/* the first bad line, then more bad lines in later batches */
		badline bad[3] = {{firsts[f], "identical-answers"},
		                  {firsts[f] + 300, "bad-json"},
		                  {firsts[f] + 600, "missing-field"}};
		char rel[64], want[64];
		snprintf(rel, sizeof rel, "bs/f%zu.jsonl", f);
		write_lines(rel, 1000, bad, 3, NULL, 0);
		memset(&err, 0, sizeof err);
		assert_int_equal(run(ws, "bs", rel, &strict, &res, &err), ENG_EINPUT);
		snprintf(want, sizeof want, "f%zu.jsonl:%d: [identical-answers]", f, firsts[f]);
		assert_non_null(strstr(err.msg, want));
		assert_int_equal(total_rows(ws), before);
		/* a fresh dataset: not even its row remains */
		assert_int_equal(run(ws, "fresh", rel, &strict, &res, &err), ENG_EINPUT);
		assert_int_equal(total_rows(ws), before);
	}
	eng_ws_close(ws);
}

/* Files whose last batch is exactly full (256, 512 lines), one line, empty and blank-only files. */
static void test_index_batch_sizes(void **state)
{
	(void)state;
	const int sizes[] = {1, 255, 256, 257, 512, 768};
	eng_ws *ws = open_ws();
	eng_index_result res;
	eng_err err = {0};
	for (size_t f = 0; f < sizeof sizes / sizeof sizes[0]; f++) {
		char rel[64], ds[16];
		snprintf(rel, sizeof rel, "bz/n%d.jsonl", sizes[f]);
		snprintf(ds, sizeof ds, "n%d", sizes[f]);
		write_lines(rel, sizes[f], NULL, 0, NULL, 0);
		assert_int_equal(run(ws, ds, rel, NULL, &res, &err), 0);
		assert_int_equal(res.records, sizes[f]);
		assert_int_equal(res.pairs, sizes[f]);
		assert_int_equal(res.errors, 0);
	}
	/* the same 512 lines with a final newline */
	char *t = NULL;
	size_t n = 0;
	FILE *m = open_memstream(&t, &n);
	assert_non_null(m);
	for (int i = 1; i <= 512; i++)
		fprintf(m, "{\"prompt\":\"p%d\",\"chosen\":\"c\",\"rejected\":\"r\"}\n", i);
	fclose(m);
	write_file("bz/nl512.jsonl", t, n);
	free(t);
	assert_int_equal(run(ws, "nl512", "bz/nl512.jsonl", NULL, &res, &err), 0);
	assert_int_equal(res.records, 512);
	assert_int_equal(res.pairs, 512);
	assert_int_equal(q(ws, "SELECT count(*) FROM pairs"),
	                 1 + 255 + 256 + 257 + 512 + 768 + 512);
	/* nothing to read: no pairs, no errors */
	write_text("bz/empty.jsonl", "");
	write_text("bz/blank.jsonl", "\n\n   \r\n\t\n\n");
	const char *none[] = {"bz/empty.jsonl", "bz/blank.jsonl"};
	for (int k = 0; k < 2; k++) {
		assert_int_equal(run(ws, k ? "blank" : "empty", none[k], NULL, &res, &err), 0);
		assert_int_equal(res.records, 0);
		assert_int_equal(res.pairs, 0);
		assert_int_equal(res.errors, 0);
	}
	assert_int_equal(q(ws, "SELECT count(*) FROM ingest_errors"), 0);
	eng_ws_close(ws);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_index_pairwise_dir_aliases_absolute_text_only),
	    cmocka_unit_test(test_index_bad_inputs_codes_counts_reasons),
	    cmocka_unit_test(test_index_multi_completion),
	    cmocka_unit_test(test_index_data_uri_and_reuse),
	    cmocka_unit_test(test_index_archives),
	    cmocka_unit_test(test_index_gzip_input),
	    cmocka_unit_test(test_index_strict_leaves_workspace_unchanged),
	    cmocka_unit_test(test_index_idempotent_and_duplicate_ids_across_files),
	    cmocka_unit_test(test_index_shared_image_stored_once),
	    cmocka_unit_test(test_index_image_helpers),
	    cmocka_unit_test(test_index_json_array_sharegpt),
	    cmocka_unit_test(test_index_judged_ties_undecided),
	    cmocka_unit_test(test_index_formats_by_bytes),
	    cmocka_unit_test(test_index_duplicates_conflicts),
	    cmocka_unit_test(test_index_duplicates_many),
	    cmocka_unit_test(test_index_missing_images_text_only),
	    cmocka_unit_test(test_index_bundle_records_and_images),
	    cmocka_unit_test(test_index_duplicate_ids_rename),
	    cmocka_unit_test(test_index_batch_boundaries),
	    cmocka_unit_test(test_index_batch_boundaries_strict),
	    cmocka_unit_test(test_index_batch_sizes),
	    cmocka_unit_test(test_index_stale_features_recomputed),
	    cmocka_unit_test(test_index_rerun_with_fixing_flag),
	    cmocka_unit_test(test_index_derived_ids_unique),
	    cmocka_unit_test(test_index_messages_name_the_fix),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
