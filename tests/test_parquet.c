/* test_parquet.c - the Parquet reader's decoding steps on known answers (RLE/bit-packed hybrid
 * from the spec's example, DELTA_BINARY_PACKED, PLAIN byte arrays, codecs), the Thrift compact
 * reader's limits, and the reader on a DuckDB-written seed file (tests/fuzz/corpus/parquet). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "parquet.h"
#include "pqpage.h"
#include "thrift.h"

static void test_parquet_rle_known(void **state)
{
	(void)state;
	/* RLE run: 5 x 3 (bit width 2); bit-packed: one group of 0..7 at bit width 3 (the spec's
	 * example bytes 0x88 0xC6 0xFA) */
	const uint8_t two[] = {0x0a, 0x03};
	const uint8_t three[] = {0x03, 0x88, 0xc6, 0xfa};
	uint32_t out[8];
	const char *why = NULL;
	assert_int_equal(eng_pq_rle(two, sizeof two, 2, out, 5, &why), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(out[i], 3);
	assert_int_equal(eng_pq_rle(three, sizeof three, 3, out, 8, &why), 0);
	for (uint32_t i = 0; i < 8; i++)
		assert_int_equal(out[i], i);
}

static void test_parquet_rle_rejects(void **state)
{
	(void)state;
	uint32_t out[16];
	const char *why = NULL;
	const uint8_t short_run[] = {0x0a, 0x03};
	assert_int_equal(eng_pq_rle(short_run, sizeof short_run, 2, out, 6, &why), -1); /* 5 < 6 */
	assert_non_null(why);
	const uint8_t wide[] = {0x0a, 0x07}; /* value 7 does not fit 2 bits */
	assert_int_equal(eng_pq_rle(wide, sizeof wide, 2, out, 5, &why), -1);
	const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 0x0f}; /* a bit-packed run past the end */
	assert_int_equal(eng_pq_rle(huge, sizeof huge, 8, out, 16, &why), -1);
	assert_int_equal(eng_pq_rle(short_run, sizeof short_run, 33, out, 1, &why), -1);
}

static void test_parquet_delta_known(void **state)
{
	(void)state;
	/* block 128, 4 miniblocks, 3 values, first 1; min delta 1, widths 0: 1, 2, 3 */
	const uint8_t p[] = {0x80, 0x01, 0x04, 0x03, 0x02, 0x02, 0, 0, 0, 0};
	int64_t v[3];
	size_t n = 0, used = 0;
	const char *why = NULL;
	assert_int_equal(eng_pq_delta(p, sizeof p, v, 3, &n, &used, &why), 0);
	assert_int_equal(n, 3);
	assert_int_equal(used, sizeof p);
	assert_int_equal(v[0], 1);
	assert_int_equal(v[1], 2);
	assert_int_equal(v[2], 3);
	/* more values than the caller has room for; a block size that is not a multiple of 128 */
	assert_int_equal(eng_pq_delta(p, sizeof p, v, 2, &n, &used, &why), -1);
	const uint8_t bad[] = {0x64, 0x04, 0x01, 0x02};
	assert_int_equal(eng_pq_delta(bad, sizeof bad, v, 3, &n, &used, &why), -1);
}

static void test_parquet_plain_byte_array(void **state)
{
	(void)state;
	const uint8_t p[] = {2, 0, 0, 0, 'h', 'i', 0, 0, 0, 0, 3, 0, 0, 0, 'a', 'b'};
	eng_pq_value v[3];
	uint8_t *own = NULL;
	const char *why = NULL;
	assert_int_equal(eng_pq_values(ENG_PQ_BYTE_ARRAY, 0, ENG_PQ_PLAIN, p, 10, 2, NULL, 0, v,
	                               &own, 1 << 20, &why),
	                 0);
	assert_int_equal(v[0].n, 2);
	assert_memory_equal(v[0].u.p, "hi", 2);
	assert_int_equal(v[1].n, 0);
	/* the third value claims 3 bytes where 2 are left */
	assert_int_equal(eng_pq_values(ENG_PQ_BYTE_ARRAY, 0, ENG_PQ_PLAIN, p, sizeof p, 3, NULL, 0,
	                               v, &own, 1 << 20, &why),
	                 -1);
	/* dictionary indices without a dictionary; an encoding the type cannot have */
	const uint8_t idx[] = {1, 0x02, 0x00};
	assert_int_equal(eng_pq_values(ENG_PQ_INT32, 0, ENG_PQ_RLE_DICT, idx, sizeof idx, 1, NULL,
	                               0, v, &own, 1 << 20, &why),
	                 -1);
	assert_int_equal(eng_pq_values(ENG_PQ_BYTE_ARRAY, 0, ENG_PQ_DELTA_BP, idx, sizeof idx, 1,
	                               NULL, 0, v, &own, 1 << 20, &why),
	                 -2);
}

static void test_parquet_codecs(void **state)
{
	(void)state;
	const char *text = "a page of text a page of text a page of text";
	size_t n = strlen(text);
	uint8_t z[256], out[256];
	uLongf zn = sizeof z;
	assert_int_equal(compress2(z, &zn, (const Bytef *)text, n, 6), Z_OK); /* zlib header */
	const char *why = NULL;
	assert_int_equal(eng_pq_decompress(ENG_PQ_GZIP, z, zn, out, n, &why), 0);
	assert_memory_equal(out, text, n);
	assert_int_equal(eng_pq_decompress(ENG_PQ_GZIP, z, zn, out, n + 1, &why), -1);
	assert_int_equal(eng_pq_decompress(ENG_PQ_GZIP, z, zn / 2, out, n, &why), -1);
	assert_int_equal(eng_pq_decompress(ENG_PQ_SNAPPY, z, zn, out, n, &why), -1);
	assert_int_equal(eng_pq_decompress(ENG_PQ_ZSTD, z, zn, out, n, &why), -1);
	assert_int_equal(eng_pq_decompress(4 /* BROTLI */, z, zn, out, n, &why), -1);
	assert_int_equal(eng_pq_decompress(ENG_PQ_UNCOMPRESSED, z, zn, out, zn + 1, &why), -1);
}

static void test_parquet_thrift_limits(void **state)
{
	(void)state;
	uint8_t deep[2 * ENG_TC_MAX_DEPTH + 8];
	for (size_t i = 0; i < sizeof deep; i++)
		deep[i] = 0x1c; /* field +1, type struct: nested forever */
	eng_tc r;
	eng_tc_init(&r, deep, sizeof deep);
	eng_tc_skip(&r, ENG_TC_STRUCT);
	assert_true(r.bad);
	const uint8_t longstr[] = {0x7f, 'a'}; /* 127 bytes claimed, 1 present */
	size_t n;
	eng_tc_init(&r, longstr, sizeof longstr);
	assert_null(eng_tc_binary(&r, &n));
	assert_true(r.bad);
	const uint8_t varint[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
	eng_tc_init(&r, varint, sizeof varint);
	(void)eng_tc_i64(&r);
	assert_true(r.bad);
}

static void test_parquet_open_rejects(void **state)
{
	(void)state;
	eng_pq *pq = NULL;
	eng_err err = {0};
	const uint8_t tiny[] = "PAR1PAR1";
	assert_int_equal(eng_pq_open_memory(tiny, 8, "tiny.parquet", &pq, &err), ENG_EINPUT);
	assert_null(pq);
	assert_non_null(strstr(err.msg, "tiny.parquet"));
	uint8_t bad[64] = "PAR1";
	memcpy(bad + 56, "\x30\x00\x00\x00PAR1", 8); /* footer of 48 bytes: zeros, no schema */
	assert_int_equal(eng_pq_open_memory(bad, sizeof bad, "zero.parquet", &pq, &err),
	                 ENG_EINPUT);
	assert_non_null(strstr(err.msg, "footer"));
	eng_pq_close(NULL);
}

static void test_parquet_reads_duckdb_seed(void **state)
{
	(void)state;
	const char *path = MM_SOURCE_ROOT "/tests/fuzz/corpus/parquet/seed_trl_zstd_V2.parquet";
	eng_pq *pq = NULL;
	eng_err err = {0};
	assert_int_equal(eng_pq_open(path, &pq, &err), 0);
	assert_int_equal(eng_pq_num_rows(pq), 40);
	json_t *row = NULL;
	const eng_pq_blob *blobs;
	size_t nb, rows = 0, with_image = 0;
	char problem[256];
	int rc;
	while ((rc = eng_pq_next_row(pq, &row, &blobs, &nb, problem, &err)) == 1) {
		if (rows == 3) { /* t3: one embedded image, chat lists flattened to text */
			assert_int_equal(nb, 1);
			assert_memory_equal(blobs[0].p, "\x89PNG", 4);
			json_t *imgs = json_object_get(row, "images");
			assert_string_equal(json_string_value(json_array_get(imgs, 0)),
			                    blobs[0].label);
			assert_int_equal(eng_pq_flatten_messages(row), 0);
			assert_string_equal(json_string_value(json_object_get(row, "prompt")),
			                    "Describe image 3");
			assert_string_equal(json_string_value(json_object_get(row, "chosen")),
			                    "A good description 3");
		}
		with_image += nb > 0;
		rows++;
		json_decref(row);
	}
	assert_int_equal(rc, 0);
	assert_int_equal(rows, 40);
	assert_int_equal(with_image, 38); /* rows 1 and 24 have an empty list */
	size_t g;
	uint64_t rg, rf;
	eng_pq_where(pq, &g, &rg, &rf);
	assert_int_equal(rf, 39);
	eng_pq_close(pq);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parquet_rle_known),
	    cmocka_unit_test(test_parquet_rle_rejects),
	    cmocka_unit_test(test_parquet_delta_known),
	    cmocka_unit_test(test_parquet_plain_byte_array),
	    cmocka_unit_test(test_parquet_codecs),
	    cmocka_unit_test(test_parquet_thrift_limits),
	    cmocka_unit_test(test_parquet_open_rejects),
	    cmocka_unit_test(test_parquet_reads_duckdb_seed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
