/* pqpage.c - Parquet page decoding: codecs and encodings (see pqpage.h). No I/O, no schema. */
#include "pqpage.h"

#include <limits.h>
#include <snappy-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

const char *eng_pq_codec_name(int codec, char *buf, size_t n)
{
	static const char *const names[] = {"UNCOMPRESSED", "SNAPPY", "GZIP", "LZO",
	                                    "BROTLI",       "LZ4",    "ZSTD", "LZ4_RAW"};
	if (codec >= 0 && codec < 8)
		return names[codec];
	snprintf(buf, n, "codec %d", codec);
	return buf;
}

const char *eng_pq_encoding_name(int enc, char *buf, size_t n)
{
	static const char *const names[] = {
	    "PLAIN",          "GROUP_VAR_INT",       "PLAIN_DICTIONARY",        "RLE",
	    "BIT_PACKED",     "DELTA_BINARY_PACKED", "DELTA_LENGTH_BYTE_ARRAY", "DELTA_BYTE_ARRAY",
	    "RLE_DICTIONARY", "BYTE_STREAM_SPLIT"};
	if (enc >= 0 && enc < 10)
		return names[enc];
	snprintf(buf, n, "encoding %d", enc);
	return buf;
}

/* ---- codecs -------------------------------------------------------------------------------- */

static int inflate_all(const uint8_t *src, size_t n, uint8_t *dst, size_t dn, const char **why)
{
	z_stream z;
	memset(&z, 0, sizeof z);
	if (inflateInit2(&z, 15 + 32) != Z_OK) { /* gzip or zlib header */
		*why = "zlib could not start";
		return -1;
	}
	size_t in_off = 0, out_off = 0;
	int rc = Z_OK;
	while (rc != Z_STREAM_END) {
		z.next_in = (Bytef *)(uintptr_t)(src + in_off);
		z.avail_in = (uInt)(n - in_off > UINT_MAX ? UINT_MAX : n - in_off);
		z.next_out = dst + out_off;
		z.avail_out = (uInt)(dn - out_off > UINT_MAX ? UINT_MAX : dn - out_off);
		uInt ai = z.avail_in, ao = z.avail_out;
		rc = inflate(&z, Z_NO_FLUSH);
		in_off += ai - z.avail_in;
		out_off += ao - z.avail_out;
		if (rc == Z_STREAM_END && in_off < n && out_off < dn) /* concatenated members */
			rc = inflateReset(&z) == Z_OK ? Z_OK : Z_DATA_ERROR;
		if (rc != Z_OK && rc != Z_STREAM_END)
			break;
		if (rc == Z_OK && ai == z.avail_in && ao == z.avail_out) {
			rc = Z_BUF_ERROR;
			break;
		}
	}
	inflateEnd(&z);
	if (rc != Z_STREAM_END || out_off != dn) {
		*why = rc == Z_STREAM_END
		           ? "GZIP data inflates to another size than the page header "
		             "says"
		           : "GZIP data is corrupt or truncated";
		return -1;
	}
	return 0;
}

int eng_pq_decompress(int codec, const uint8_t *src, size_t n, uint8_t *dst, size_t dn,
                      const char **why)
{
	switch (codec) {
	case ENG_PQ_UNCOMPRESSED:
		if (n != dn) {
			*why = "an uncompressed page's two sizes differ";
			return -1;
		}
		memcpy(dst, src, n);
		return 0;
	case ENG_PQ_SNAPPY: {
		size_t len = 0;
		if (snappy_uncompressed_length((const char *)src, n, &len) != SNAPPY_OK ||
		    len != dn) {
			*why =
			    "SNAPPY data is corrupt or of another size than the page header says";
			return -1;
		}
		if (snappy_uncompress((const char *)src, n, (char *)dst, &len) != SNAPPY_OK ||
		    len != dn) {
			*why = "SNAPPY data is corrupt";
			return -1;
		}
		return 0;
	}
	case ENG_PQ_GZIP:
		return inflate_all(src, n, dst, dn, why);
	case ENG_PQ_ZSTD: {
		unsigned long long fs = ZSTD_getFrameContentSize(src, n);
		if (fs != ZSTD_CONTENTSIZE_UNKNOWN && fs != dn) {
			*why = "ZSTD data is corrupt or of another size than the page header says";
			return -1;
		}
		size_t r = ZSTD_decompress(dst, dn, src, n);
		if (ZSTD_isError(r) || r != dn) {
			*why = "ZSTD data is corrupt or of another size than the page header says";
			return -1;
		}
		return 0;
	}
	default:
		*why = "the codec is not supported (UNCOMPRESSED, SNAPPY, GZIP and ZSTD are); "
		       "rewrite the file with one of those";
		return -1;
	}
}

/* ---- RLE / bit-packed hybrid --------------------------------------------------------------- */

static int uvarint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	uint64_t r = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (*p >= end)
			return -1;
		uint8_t b = *(*p)++;
		r |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = r;
			return 0;
		}
	}
	return -1;
}

/* Unpacks k values of bw bits (LSB first) from p into out; the bytes were checked. */
static void unpack(const uint8_t *p, int bw, uint32_t *out, size_t k)
{
	uint64_t acc = 0;
	int bits = 0;
	uint32_t mask = bw == 32 ? 0xffffffffu : ((uint32_t)1 << bw) - 1;
	for (size_t i = 0; i < k; i++) {
		while (bits < bw) {
			acc |= (uint64_t)*p++ << bits;
			bits += 8;
		}
		out[i] = (uint32_t)acc & mask;
		acc >>= bw;
		bits -= bw;
	}
}

int eng_pq_rle(const uint8_t *p, size_t n, int bw, uint32_t *out, size_t count, const char **why)
{
	const uint8_t *end = p + n;
	size_t o = 0;
	if (bw < 0 || bw > 32) {
		*why = "a bit width is over 32";
		return -1;
	}
	if (bw == 0) { /* every value is 0 */
		memset(out, 0, count * sizeof *out);
		return 0;
	}
	size_t vbytes = ((size_t)bw + 7) / 8;
	while (o < count) {
		uint64_t h;
		if (uvarint(&p, end, &h)) {
			*why = "RLE/bit-packed runs end before all values";
			return -1;
		}
		if (h & 1) { /* bit-packed: (h >> 1) groups of 8 */
			uint64_t groups = h >> 1;
			size_t avail = (size_t)(end - p);
			if (!groups || groups > avail / (size_t)bw + 1) {
				*why = "a bit-packed run is longer than its bytes";
				return -1;
			}
			uint64_t vals = groups * 8, bytes = groups * (uint64_t)bw;
			if (bytes > avail) { /* a short last run: use the whole values it holds */
				vals = (uint64_t)avail * 8 / (uint64_t)bw;
				bytes = avail;
			}
			size_t take = vals < count - o ? (size_t)vals : count - o;
			if (take * (size_t)bw > avail * 8) {
				*why = "a bit-packed run is longer than its bytes";
				return -1;
			}
			unpack(p, bw, out + o, take);
			o += take;
			p += bytes;
			if (take < vals && o < count)
				break;
		} else { /* RLE run */
			uint64_t run = h >> 1;
			if ((size_t)(end - p) < vbytes) {
				*why = "an RLE run's value runs past the end";
				return -1;
			}
			uint32_t v = 0;
			for (size_t b = 0; b < vbytes; b++)
				v |= (uint32_t)p[b] << (8 * b);
			p += vbytes;
			if (bw < 32 && v >> bw) {
				*why = "an RLE value is wider than its bit width";
				return -1;
			}
			if (!run) {
				*why = "an RLE run has length 0";
				return -1;
			}
			size_t take = run < count - o ? (size_t)run : count - o;
			for (size_t i = 0; i < take; i++)
				out[o + i] = v;
			o += take;
		}
	}
	if (o < count) {
		*why = "RLE/bit-packed runs end before all values";
		return -1;
	}
	return 0;
}

/* ---- DELTA_BINARY_PACKED ------------------------------------------------------------------- */

static int zigzag(const uint8_t **p, const uint8_t *end, int64_t *v)
{
	uint64_t u;
	if (uvarint(p, end, &u))
		return -1;
	*v = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
	return 0;
}

int eng_pq_delta(const uint8_t *p, size_t n, int64_t *out, size_t cap, size_t *count, size_t *used,
                 const char **why)
{
	const uint8_t *start = p, *end = p + n;
	uint64_t block, nmb, total;
	int64_t first;
	*why = "DELTA_BINARY_PACKED data is malformed or truncated";
	if (uvarint(&p, end, &block) || uvarint(&p, end, &nmb) || uvarint(&p, end, &total) ||
	    zigzag(&p, end, &first))
		return -1;
	if (!block || block % 128 || block > 1 << 16 || !nmb || block % nmb || (block / nmb) % 32) {
		*why = "DELTA_BINARY_PACKED header has an invalid block size";
		return -1;
	}
	if (total > cap) {
		*why = "DELTA_BINARY_PACKED holds more values than the page";
		return -1;
	}
	*count = (size_t)total;
	size_t per_mb = (size_t)(block / nmb), o = 0;
	uint64_t v = (uint64_t)first;
	if (total && out)
		out[o] = first;
	if (total)
		o = 1;
	while (o < total) {
		int64_t min_delta;
		if (zigzag(&p, end, &min_delta) || (uint64_t)(end - p) < nmb)
			return -1;
		const uint8_t *widths = p;
		p += nmb;
		for (uint64_t m = 0; m < nmb && o < total; m++) {
			int bw = widths[m];
			if (bw > 64) {
				*why = "DELTA_BINARY_PACKED bit width is over 64";
				return -1;
			}
			size_t bytes = per_mb * (size_t)bw / 8;
			if ((size_t)(end - p) < bytes)
				return -1;
			uint64_t acc = 0;
			int bits = 0;
			const uint8_t *q = p;
			for (size_t i = 0; i < per_mb && o < total; i++) {
				uint64_t d = 0;
				int got = 0;
				while (got < bw) { /* up to 64 bits, gathered byte-wise */
					if (!bits) {
						acc = *q++;
						bits = 8;
					}
					int take = bw - got < bits ? bw - got : bits;
					d |= (acc & ((1u << take) - 1)) << got;
					acc >>= take;
					bits -= take;
					got += take;
				}
				v += (uint64_t)min_delta + d;
				if (out)
					out[o] = (int64_t)v;
				o++;
			}
			p += bytes;
		}
	}
	*used = (size_t)(p - start);
	return 0;
}

/* ---- value encodings ----------------------------------------------------------------------- */

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static int plain(int type, int tlen, const uint8_t *p, size_t n, size_t count, eng_pq_value *out,
                 const char **why)
{
	const uint8_t *end = p + n;
	*why = "PLAIN values run past the end of the page";
	switch (type) {
	case ENG_PQ_BOOLEAN:
		if (count > n * 8)
			return -1;
		for (size_t i = 0; i < count; i++)
			out[i].u.i = p[i / 8] >> (i % 8) & 1;
		return 0;
	case ENG_PQ_INT32:
	case ENG_PQ_FLOAT:
		if (count > n / 4)
			return -1;
		for (size_t i = 0; i < count; i++) {
			uint32_t u = le32(p + 4 * i);
			if (type == ENG_PQ_INT32) {
				out[i].u.i = (int32_t)u;
			} else {
				float f;
				memcpy(&f, &u, 4);
				out[i].u.d = f;
			}
		}
		return 0;
	case ENG_PQ_INT64:
	case ENG_PQ_DOUBLE:
		if (count > n / 8)
			return -1;
		for (size_t i = 0; i < count; i++) {
			uint64_t u = le64(p + 8 * i);
			if (type == ENG_PQ_INT64)
				out[i].u.i = (int64_t)u;
			else
				memcpy(&out[i].u.d, &u, 8);
		}
		return 0;
	case ENG_PQ_INT96:
	case ENG_PQ_FIXED: {
		size_t w = type == ENG_PQ_INT96 ? 12 : (size_t)tlen;
		if (w && count > n / w)
			return -1;
		for (size_t i = 0; i < count; i++) {
			out[i].u.p = p + w * i;
			out[i].n = (uint32_t)w;
		}
		return 0;
	}
	case ENG_PQ_BYTE_ARRAY:
		for (size_t i = 0; i < count; i++) {
			if (end - p < 4)
				return -1;
			uint32_t len = le32(p);
			p += 4;
			if ((size_t)(end - p) < len)
				return -1;
			out[i].u.p = p;
			out[i].n = len;
			p += len;
		}
		return 0;
	}
	*why = "unknown physical type";
	return -1;
}

static int dict_values(const uint8_t *p, size_t n, size_t count, const eng_pq_value *dict,
                       size_t ndict, eng_pq_value *out, const char **why)
{
	if (!count)
		return 0;
	if (!n) {
		*why = "a dictionary-encoded page has no bit width";
		return -1;
	}
	if (!dict) {
		*why = "a dictionary-encoded page comes without a dictionary page";
		return -1;
	}
	/* the indices are decoded into the output array's tail, then replaced in place */
	uint32_t *idx = malloc(count * sizeof *idx);
	if (!idx)
		return -3;
	int rc = eng_pq_rle(p + 1, n - 1, p[0], idx, count, why);
	for (size_t i = 0; i < count && !rc; i++) {
		if (idx[i] >= ndict) {
			*why = "a dictionary index is past the end of the dictionary";
			rc = -1;
		} else {
			out[i] = dict[idx[i]];
		}
	}
	free(idx);
	return rc;
}

static int delta_lengths(const uint8_t *p, size_t n, size_t count, int64_t **lens, size_t *used,
                         const char **why)
{
	size_t got;
	*lens = malloc((count ? count : 1) * sizeof **lens);
	if (!*lens)
		return -3;
	if (eng_pq_delta(p, n, *lens, count, &got, used, why))
		return -1;
	if (got != count) {
		*why = "DELTA lengths count differs from the page's value count";
		return -1;
	}
	return 0;
}

static int values_bytes(int enc, const uint8_t *p, size_t n, size_t count, eng_pq_value *out,
                        uint8_t **own, size_t max_own, const char **why)
{
	int64_t *lens = NULL, *pre = NULL;
	size_t used = 0, used2 = 0;
	int rc;
	if (enc == ENG_PQ_DELTA_LBA) {
		if ((rc = delta_lengths(p, n, count, &lens, &used, why)))
			goto out;
		const uint8_t *q = p + used, *end = p + n;
		for (size_t i = 0; i < count; i++) {
			if (lens[i] < 0 || lens[i] > end - q) {
				*why =
				    "DELTA_LENGTH_BYTE_ARRAY lengths run past the end of the page";
				rc = -1;
				goto out;
			}
			out[i].u.p = q;
			out[i].n = (uint32_t)lens[i];
			q += lens[i];
		}
		goto out;
	}
	/* DELTA_BYTE_ARRAY: prefix lengths, then the suffixes as DELTA_LENGTH_BYTE_ARRAY */
	if ((rc = delta_lengths(p, n, count, &pre, &used, why)) ||
	    (rc = delta_lengths(p + used, n - used, count, &lens, &used2, why)))
		goto out;
	const uint8_t *q = p + used + used2, *end = p + n;
	size_t total = 0, prev = 0;
	for (size_t i = 0; i < count; i++) {
		if (pre[i] < 0 || (size_t)pre[i] > prev || lens[i] < 0 || lens[i] > end - q) {
			*why = "DELTA_BYTE_ARRAY prefix or suffix lengths are invalid";
			rc = -1;
			goto out;
		}
		prev = (size_t)pre[i] + (size_t)lens[i];
		q += lens[i];
		if (prev > max_own || total > max_own - prev) {
			*why = "DELTA_BYTE_ARRAY values add up to more than the page size limit";
			rc = -1;
			goto out;
		}
		total += prev;
	}
	if (!(*own = malloc(total ? total : 1))) {
		rc = -3;
		goto out;
	}
	q = p + used + used2;
	size_t o = 0;
	const uint8_t *last = NULL;
	for (size_t i = 0; i < count; i++) {
		if (pre[i])
			memcpy(*own + o, last, (size_t)pre[i]);
		memcpy(*own + o + pre[i], q, (size_t)lens[i]);
		q += lens[i];
		out[i].u.p = *own + o;
		out[i].n = (uint32_t)(pre[i] + lens[i]);
		last = *own + o;
		o += out[i].n;
	}
out:
	free(lens);
	free(pre);
	return rc;
}

int eng_pq_values(int type, int type_length, int enc, const uint8_t *p, size_t n, size_t count,
                  const eng_pq_value *dict, size_t ndict, eng_pq_value *out, uint8_t **own,
                  size_t max_own, const char **why)
{
	*own = NULL;
	*why = "the encoding is not supported for this column type";
	switch (enc) {
	case ENG_PQ_PLAIN:
		return plain(type, type_length, p, n, count, out, why);
	case ENG_PQ_PLAIN_DICT:
	case ENG_PQ_RLE_DICT:
		return dict_values(p, n, count, dict, ndict, out, why);
	case ENG_PQ_RLE: { /* booleans: 4-byte length, then the hybrid at bit width 1 */
		if (type != ENG_PQ_BOOLEAN)
			return -2;
		if (n < 4 || le32(p) > n - 4) {
			*why = "RLE boolean data runs past the end of the page";
			return -1;
		}
		uint32_t *b = malloc((count ? count : 1) * sizeof *b);
		if (!b)
			return -3;
		int rc = eng_pq_rle(p + 4, le32(p), 1, b, count, why);
		for (size_t i = 0; i < count && !rc; i++)
			out[i].u.i = b[i];
		free(b);
		return rc;
	}
	case ENG_PQ_DELTA_BP: {
		if (type != ENG_PQ_INT32 && type != ENG_PQ_INT64)
			return -2;
		int64_t *v = malloc((count ? count : 1) * sizeof *v);
		size_t got, used;
		if (!v)
			return -3;
		int rc = eng_pq_delta(p, n, v, count, &got, &used, why);
		if (!rc && got < count) {
			*why = "DELTA_BINARY_PACKED holds fewer values than the page";
			rc = -1;
		}
		for (size_t i = 0; i < count && !rc; i++)
			out[i].u.i = type == ENG_PQ_INT32 ? (int32_t)v[i] : v[i];
		free(v);
		return rc;
	}
	case ENG_PQ_DELTA_LBA:
	case ENG_PQ_DELTA_BA:
		if (type != ENG_PQ_BYTE_ARRAY)
			return -2;
		return values_bytes(enc, p, n, count, out, own, max_own, why);
	case ENG_PQ_BSS: {
		size_t w = type == ENG_PQ_FLOAT || type == ENG_PQ_INT32    ? 4
		           : type == ENG_PQ_DOUBLE || type == ENG_PQ_INT64 ? 8
		                                                           : 0;
		if (!w)
			return -2;
		if (count > n / w) {
			*why = "BYTE_STREAM_SPLIT values run past the end of the page";
			return -1;
		}
		for (size_t i = 0; i < count; i++) {
			uint8_t b[8];
			for (size_t k = 0; k < w; k++)
				b[k] = p[k * count + i];
			if (w == 4) {
				uint32_t u = le32(b);
				float f;
				memcpy(&f, &u, 4);
				if (type == ENG_PQ_FLOAT)
					out[i].u.d = f;
				else
					out[i].u.i = (int32_t)u;
			} else {
				uint64_t u = le64(b);
				if (type == ENG_PQ_DOUBLE)
					memcpy(&out[i].u.d, &u, 8);
				else
					out[i].u.i = (int64_t)u;
			}
		}
		return 0;
	}
	default:
		return -2;
	}
}
