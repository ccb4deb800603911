/* test_limits.c - hostile-input limits of the engine: completions per record and the metadata
 * budget (recshapes.c), archive members that may not be read (links, devices, absolute and ".."
 * names), the member count and total size limits (archive.c). Archives are built in memory with
 * libarchive's writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <archive.h>
#include <archive_entry.h>
#include <cmocka.h>

#include "images.h"
#include "records.h"
#include "workspace.h"

/* ---- records -------------------------------------------------------------------------------- */

/* A multi-completion record with n completions rated 0..n-1 and `extra` bytes of extra field. */
static char *multi_record(size_t n, size_t extra)
{
	size_t cap = 256 + n * 64 + extra;
	char *s = malloc(cap), *p = s;
	p += sprintf(p, "{\"prompt\":\"p\",\"x\":\"");
	memset(p, 'e', extra);
	p += extra;
	p += sprintf(p, "\",\"completions\":{\"response\":[");
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "%s\"answer %zu\"", i ? "," : "", i);
	p += sprintf(p, "],\"annotations\":[");
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "%s%zu", i ? "," : "", i);
	sprintf(p, "]}}");
	return s;
}

static void test_limits_completions_per_record(void **state)
{
	(void)state;
	eng_record r;
	char *ok = multi_record(ENG_RECORD_MAX_COMPLETIONS, 0);
	memset(&r, 0, sizeof r);
	assert_int_equal(eng_record_parse(&r, ok, strlen(ok), "f", 1), 0);
	assert_int_equal(r.nerrors, 0);
	assert_int_equal(r.npairs,
	                 ENG_RECORD_MAX_COMPLETIONS * (ENG_RECORD_MAX_COMPLETIONS - 1) / 2);
	eng_record_clear(&r);
	free(ok);

	char *big = multi_record(ENG_RECORD_MAX_COMPLETIONS + 1, 0);
	assert_int_equal(eng_record_parse(&r, big, strlen(big), "f", 1), 0);
	assert_int_equal(r.npairs, 0);
	assert_int_equal(r.nerrors, 1);
	assert_int_equal(r.errors[0].code, ENG_REC_TOO_MANY_PAIRS);
	assert_string_equal(eng_rec_code_name(ENG_REC_TOO_MANY_PAIRS), "too-many-pairs");
	assert_non_null(strstr(r.errors[0].reason, "65 completions"));
	eng_record_clear(&r);
	free(big);
}

/* 64 completions -> 2016 pairs, each copying 200 KB of extra fields: over the 256 MiB budget. */
static void test_limits_metadata_budget(void **state)
{
	(void)state;
	eng_record r;
	memset(&r, 0, sizeof r);
	char *s = multi_record(64, 200000);
	assert_int_equal(eng_record_parse(&r, s, strlen(s), "f", 1), 0);
	assert_int_equal(r.npairs, 0);
	assert_int_equal(r.nerrors, 1);
	assert_int_equal(r.errors[0].code, ENG_REC_TOO_MANY_PAIRS);
	assert_non_null(strstr(r.errors[0].reason, "2016 pairs"));
	eng_record_clear(&r);
	free(s);
	/* the same extra fields with 4 completions are fine */
	s = multi_record(4, 200000);
	assert_int_equal(eng_record_parse(&r, s, strlen(s), "f", 1), 0);
	assert_int_equal(r.nerrors, 0);
	assert_int_equal(r.npairs, 6);
	eng_record_clear(&r);
	free(s);
}

/* ---- archives ------------------------------------------------------------------------------- */

typedef struct member {
	const char *name;
	int type; /* AE_IFREG, AE_IFLNK, AE_IFCHR, AE_IFIFO; 0 = hard link */
	const char *data;
	int64_t declared; /* size in the header when > 0 (no data written) */
} member;

typedef struct outbuf {
	char *p;
	size_t n;
} outbuf;

static outbuf make_archive(int zip, const member *m, int n)
{
	outbuf o = {malloc(1 << 20), 0};
	struct archive *a = archive_write_new();
	if (zip)
		archive_write_set_format_zip(a);
	else
		archive_write_set_format_pax_restricted(a);
	assert_int_equal(archive_write_open_memory(a, o.p, 1 << 20, &o.n), ARCHIVE_OK);
	for (int i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, m[i].name);
		archive_entry_set_perm(e, 0644);
		size_t len = m[i].data ? strlen(m[i].data) : 0;
		if (m[i].type == 0) {
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_hardlink(e, "a.png");
		} else {
			archive_entry_set_filetype(e, (unsigned)m[i].type);
			if (m[i].type == AE_IFLNK)
				archive_entry_set_symlink(e, "/etc/passwd");
			if (m[i].type == AE_IFREG)
				archive_entry_set_size(e, m[i].declared > 0 ? m[i].declared
				                                            : (la_int64_t)len);
		}
		assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
		if (len && m[i].declared <= 0)
			assert_int_equal(archive_write_data(a, m[i].data, len), (la_ssize_t)len);
		archive_entry_free(e);
	}
	if (m[n - 1].declared <= 0)
		assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	return o;
}

typedef struct seen {
	char names[16][64];
	char why[16][384];
	int refused[16], code[16];
	int n;
} seen;

static int want_all(void *ctx, const char *name)
{
	(void)ctx;
	(void)name;
	return 1;
}

static int got(void *ctx, const char *name, const uint8_t *data, size_t n,
               const eng_rec_error *refused)
{
	seen *s = ctx;
	assert_true(s->n < 16);
	snprintf(s->names[s->n], sizeof s->names[0], "%s", name);
	s->refused[s->n] = refused != NULL;
	if (refused) {
		assert_null(data);
		s->code[s->n] = refused->code;
		snprintf(s->why[s->n], sizeof s->why[0], "%s", refused->reason);
	} else {
		assert_non_null(data);
		snprintf(s->why[s->n], sizeof s->why[0], "%.*s", (int)n, (const char *)data);
	}
	s->n++;
	return 0;
}

static void test_limits_archive_refuses_links_devices_and_escaping_names(void **state)
{
	(void)state;
	const member m[] = {
	    {"a.png", AE_IFREG, "AAA", 0},      {"link.png", AE_IFLNK, NULL, 0},
	    {"hard.png", 0, NULL, 0},           {"dev.png", AE_IFCHR, NULL, 0},
	    {"fifo.png", AE_IFIFO, NULL, 0},    {"../../slip.png", AE_IFREG, "SSS", 0},
	    {"/abs/x.png", AE_IFREG, "XXX", 0}, {"./ok/./b.png", AE_IFREG, "BBB", 0},
	};
	const int n = (int)(sizeof m / sizeof m[0]);
	outbuf o = make_archive(0, m, n);
	seen s = {0};
	eng_err err = {0};
	assert_int_equal(eng_archive_scan_memory(o.p, o.n, "t.tar", want_all, got, &s, &err), 0);
	assert_int_equal(s.n, n);
	const char *want_why[] = {NULL,   "symbolic link", "hard link",     "device file",
	                          "FIFO", "'..' segment",  "absolute path", NULL};
	for (int i = 0; i < n; i++) {
		if (!want_why[i]) {
			assert_false(s.refused[i]);
			continue;
		}
		assert_true(s.refused[i]);
		assert_int_equal(s.code[i], ENG_REC_UNSAFE_MEMBER);
		if (!strstr(s.why[i], want_why[i]) || !strstr(s.why[i], m[i].name))
			fail_msg("member %s: reason '%s' lacks '%s' or the name", m[i].name,
			         s.why[i], want_why[i]);
	}
	assert_string_equal(s.why[0], "AAA");
	assert_string_equal(s.names[6], "abs/x.png");
	assert_string_equal(s.names[7], "ok/b.png");
	assert_string_equal(s.why[7], "BBB");
	free(o.p);

	/* zip: a zip-slip name is refused the same way */
	const member z[] = {{"good.png", AE_IFREG, "G", 0}, {"../evil.png", AE_IFREG, "E", 0}};
	o = make_archive(1, z, 2);
	memset(&s, 0, sizeof s);
	assert_int_equal(eng_archive_scan_memory(o.p, o.n, "t.zip", want_all, got, &s, &err), 0);
	assert_int_equal(s.n, 2);
	assert_false(s.refused[0]);
	assert_true(s.refused[1]);
	assert_non_null(strstr(s.why[1], "'../evil.png'"));
	free(o.p);
}

/* A tar header declaring 100 GiB trips the total-size limit before any data is read. */
static void test_limits_archive_total_size(void **state)
{
	(void)state;
	const member m[] = {{"a.png", AE_IFREG, "A", 0},
	                    {"bomb.png", AE_IFREG, NULL, (int64_t)100 << 30}};
	outbuf o = make_archive(0, m, 2);
	seen s = {0};
	eng_err err = {0};
	assert_int_equal(eng_archive_scan_memory(o.p, o.n, "bomb.tar", want_all, got, &s, &err),
	                 ENG_EINPUT);
	assert_non_null(strstr(err.msg, "bomb.png"));
	assert_non_null(strstr(err.msg, "64 GiB"));
	assert_int_equal(s.n, 1);
	free(o.p);

	/* garbage is not an archive */
	assert_int_equal(
	    eng_archive_scan_memory("not an archive at all", 21, "junk", want_all, got, &s, &err),
	    ENG_EINPUT);
	assert_non_null(strstr(err.msg, "junk"));
}

/* The JPEG fuzz_image found (a DHT table of 665 codes running past its segment; stb_image 2.27
 * writes past its tables) is refused before decoding, in every build. */
static void test_limits_jpeg_huffman_overflow_refused(void **state)
{
	(void)state;
	FILE *f = fopen(MM_SOURCE_ROOT
	                "/tests/fuzz/corpus/image/crash-f6d35fb7845776175402e7b573e8e4d30087c83f",
	                "rb");
	assert_non_null(f);
	static uint8_t buf[4096];
	size_t n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	assert_int_equal(n, 578);
	eng_ws *ws = NULL;
	eng_imgstore *s = NULL;
	eng_err err = {0};
	assert_int_equal(eng_ws_open(":memory:", &ws, &err), 0);
	assert_int_equal(eng_imgstore_new(ws, 0, &s, &err), 0);
	int64_t id = 0;
	int is_new = 0;
	eng_rec_error rej = {0};
	assert_int_equal(eng_imgstore_put(s, buf, n, "x.jpg", &id, &is_new, &rej, &err), 1);
	assert_int_equal(rej.code, ENG_REC_CORRUPT_IMAGE);
	assert_non_null(strstr(rej.reason, "Huffman"));
	eng_imgstore_free(s);
	eng_ws_close(ws);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_limits_completions_per_record),
	    cmocka_unit_test(test_limits_metadata_budget),
	    cmocka_unit_test(test_limits_archive_refuses_links_devices_and_escaping_names),
	    cmocka_unit_test(test_limits_archive_total_size),
	    cmocka_unit_test(test_limits_jpeg_huffman_overflow_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
