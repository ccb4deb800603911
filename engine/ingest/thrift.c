/* thrift.c - Thrift compact protocol reader (see thrift.h). No allocation, no Parquet. */
#include "thrift.h"

void eng_tc_init(eng_tc *r, const uint8_t *p, size_t n)
{
	r->p = r->start = p;
	r->end = p + n;
	r->bad = 0;
	r->why = NULL;
	r->depth = 0;
}

static void fail(eng_tc *r, const char *why)
{
	if (!r->bad) {
		r->bad = 1;
		r->why = why;
	}
	r->p = r->end;
}

static uint64_t varint(eng_tc *r)
{
	uint64_t v = 0;
	for (int shift = 0; shift < 70; shift += 7) {
		if (r->p >= r->end) {
			fail(r, "a number runs past the end");
			return 0;
		}
		uint8_t b = *r->p++;
		if (shift == 63 && (b & 0x7e)) {
			fail(r, "a number is longer than 64 bits");
			return 0;
		}
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
	}
	fail(r, "a number is longer than 10 bytes");
	return 0;
}

int64_t eng_tc_i64(eng_tc *r)
{
	uint64_t u = varint(r);
	return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

int32_t eng_tc_i32(eng_tc *r)
{
	int64_t v = eng_tc_i64(r);
	if (v < INT32_MIN || v > INT32_MAX) {
		fail(r, "a 32-bit number is out of range");
		return 0;
	}
	return (int32_t)v;
}

int eng_tc_field(eng_tc *r, int16_t *last, int16_t *id)
{
	if (r->bad)
		return ENG_TC_STOP;
	if (r->p >= r->end) {
		fail(r, "a struct runs past the end");
		return ENG_TC_STOP;
	}
	uint8_t b = *r->p++;
	int t = b & 0x0f;
	if (t == ENG_TC_STOP)
		return ENG_TC_STOP;
	int delta = b >> 4;
	int64_t fid = delta ? (int64_t)*last + delta : eng_tc_i64(r);
	if (fid < INT16_MIN || fid > INT16_MAX || t > ENG_TC_STRUCT) {
		fail(r, "a field header is malformed");
		return ENG_TC_STOP;
	}
	*id = *last = (int16_t)fid;
	return t;
}

const uint8_t *eng_tc_binary(eng_tc *r, size_t *n)
{
	uint64_t len = varint(r);
	if (r->bad || len > (uint64_t)(r->end - r->p)) {
		fail(r, "a string's length runs past the end");
		*n = 0;
		return NULL;
	}
	const uint8_t *p = r->p;
	r->p += len;
	*n = (size_t)len;
	return p;
}

int eng_tc_list(eng_tc *r, uint32_t *count)
{
	*count = 0;
	if (r->p >= r->end) {
		fail(r, "a list header runs past the end");
		return 0;
	}
	uint8_t b = *r->p++;
	uint64_t n = b >> 4;
	if (n == 15)
		n = varint(r);
	if (r->bad || n > (uint64_t)(r->end - r->p)) {
		fail(r, "a list is longer than the bytes left");
		return 0;
	}
	*count = (uint32_t)n;
	return b & 0x0f;
}

void eng_tc_skip(eng_tc *r, int t)
{
	if (r->bad)
		return;
	uint32_t n;
	size_t len;
	switch (t) {
	case ENG_TC_TRUE:
	case ENG_TC_FALSE:
		return; /* a field's value is in its type nibble */
	case ENG_TC_BYTE:
		if (r->p >= r->end)
			fail(r, "a byte runs past the end");
		else
			r->p++;
		return;
	case ENG_TC_I16:
	case ENG_TC_I32:
	case ENG_TC_I64:
		(void)varint(r);
		return;
	case ENG_TC_DOUBLE:
		if (r->end - r->p < 8)
			fail(r, "a double runs past the end");
		else
			r->p += 8;
		return;
	case ENG_TC_BINARY:
		(void)eng_tc_binary(r, &len);
		return;
	case ENG_TC_LIST:
	case ENG_TC_SET: {
		if (++r->depth > ENG_TC_MAX_DEPTH) {
			fail(r, "nested too deeply");
			return;
		}
		int et = eng_tc_list(r, &n);
		for (uint32_t i = 0; i < n && !r->bad; i++)
			eng_tc_skip(r, et == ENG_TC_TRUE || et == ENG_TC_FALSE ? ENG_TC_BYTE : et);
		r->depth--;
		return;
	}
	case ENG_TC_MAP: {
		if (++r->depth > ENG_TC_MAX_DEPTH) {
			fail(r, "nested too deeply");
			return;
		}
		uint64_t m = varint(r);
		if (m > (uint64_t)(r->end - r->p)) {
			fail(r, "a map is longer than the bytes left");
			return;
		}
		if (m) {
			if (r->p >= r->end) {
				fail(r, "a map header runs past the end");
				return;
			}
			uint8_t kv = *r->p++;
			int kt = kv >> 4, vt = kv & 0x0f;
			kt = kt == ENG_TC_TRUE || kt == ENG_TC_FALSE ? ENG_TC_BYTE : kt;
			vt = vt == ENG_TC_TRUE || vt == ENG_TC_FALSE ? ENG_TC_BYTE : vt;
			for (uint64_t i = 0; i < m && !r->bad; i++) {
				eng_tc_skip(r, kt);
				eng_tc_skip(r, vt);
			}
		}
		r->depth--;
		return;
	}
	case ENG_TC_STRUCT: {
		if (++r->depth > ENG_TC_MAX_DEPTH) {
			fail(r, "nested too deeply");
			return;
		}
		int16_t last = 0, id;
		int ft;
		while ((ft = eng_tc_field(r, &last, &id)) != ENG_TC_STOP)
			eng_tc_skip(r, ft);
		r->depth--;
		return;
	}
	default:
		fail(r, "unknown value type");
	}
}
