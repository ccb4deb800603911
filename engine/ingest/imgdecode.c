/* imgdecode.c - checks encoded image bytes and decodes them to RGB: JPEG with libjpeg-turbo at a
 * DCT-domain scale (1/2, 1/4, 1/8) still large enough for the thumbnail and the features, WEBP with
 * libwebp, the other formats with stb_image. Every size is read from the header and checked before
 * a pixel buffer is allocated. Does not hash or store anything. */
#include "imgdecode.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb_image.h>
#include <turbojpeg.h>
#include <webp/decode.h>

#include "images.h"
#include "imgfeat.h"

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* "WEBP image", "MP4 video", ... for messages. */
static const char *format_label(const char *fmt)
{
	static const char *const labels[][2] = {{"webp", "WEBP image"},
	                                        {"tiff", "TIFF image"},
	                                        {"avif", "AVIF image"},
	                                        {"heic", "HEIC image"},
	                                        {"svg", "SVG image"},
	                                        {"ico", "ICO image"},
	                                        {"jpeg2000", "JPEG 2000 image"},
	                                        {"mp4", "MP4 video"},
	                                        {"mov", "QuickTime video"},
	                                        {"avi", "AVI video"},
	                                        {"mkv", "Matroska/WebM video"},
	                                        {"flv", "FLV video"}};
	for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++)
		if (!strcmp(fmt, labels[i][0]))
			return labels[i][1];
	return fmt;
}

/* Dimensions declared by a PNG, GIF or BMP header, read directly so an oversized image is named as
 * such even when stb_image refuses its header outright; 0 when unknown (other formats: stbi_info).
 */
static int header_dims(const char *format, const uint8_t *p, size_t n, uint64_t *w, uint64_t *h)
{
	if (!strcmp(format, "png") && n >= 24 && !memcmp(p + 12, "IHDR", 4)) {
		*w = be32(p + 16), *h = be32(p + 20);
		return 1;
	}
	if (!strcmp(format, "gif") && n >= 10) {
		*w = (uint64_t)p[6] | (uint64_t)p[7] << 8,
		*h = (uint64_t)p[8] | (uint64_t)p[9] << 8;
		return 1;
	}
	if (!strcmp(format, "bmp") && n >= 26) {
		uint32_t bw = (uint32_t)p[18] | (uint32_t)p[19] << 8 | (uint32_t)p[20] << 16 |
		              (uint32_t)p[21] << 24;
		uint32_t bh = (uint32_t)p[22] | (uint32_t)p[23] << 8 | (uint32_t)p[24] << 16 |
		              (uint32_t)p[25] << 24;
		*w = (int32_t)bw < 0 ? 0 : bw;
		*h = (int32_t)bh < 0 ? (uint64_t)(-(int64_t)(int32_t)bh) : bh; /* top-down rows */
		return 1;
	}
	return 0;
}

/* 0 when a JPEG's Huffman tables (DHT segments) declare more than 256 codes or run past their
 * segment. stb_image 2.27 writes such tables past its arrays (found by tests/fuzz/fuzz_image), so
 * they are refused before decoding. Walks the marker segments, skipping entropy-coded data. */
static int jpeg_tables_ok(const uint8_t *p, size_t n)
{
	size_t i = 2;
	while (i + 4 <= n) {
		if (p[i] != 0xFF) { /* entropy-coded data: find the next marker */
			const uint8_t *m = memchr(p + i, 0xFF, n - i);
			if (!m)
				return 1;
			i = (size_t)(m - p);
			continue;
		}
		uint8_t m = p[i + 1];
		if (m == 0xFF || m == 0x00 || (m >= 0xD0 && m <= 0xD7) || m == 0x01) {
			i += m == 0xFF ? 1 : 2; /* fill byte, stuffed 0xFF, restart markers */
			continue;
		}
		if (m == 0xD9)
			return 1;
		size_t len = (size_t)p[i + 2] << 8 | p[i + 3];
		if (m == 0xC4) { /* checked even when it runs past the data: stb reads on anyway */
			size_t q = i + 4, end = len > n - i - 2 ? n : i + 2 + len;
			while (q < end) {
				if (end - q < 17)
					return 0;
				size_t codes = 0;
				for (int k = 1; k <= 16; k++)
					codes += p[q + k];
				if (codes > 256 || codes > end - q - 17)
					return 0;
				q += 17 + codes;
			}
		}
		if (len < 2 || len > n - i - 2)
			return 1; /* truncation is reported by the decoder */
		i += 2 + len;
	}
	return 1;
}

/* The offset of the first byte from i on that is neither PNM whitespace nor in a '#' comment. */
static size_t pnm_skip_space(const uint8_t *p, size_t n, size_t i)
{
	while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r' ||
	                 p[i] == '\v' || p[i] == '\f' || p[i] == '#')) {
		if (p[i] == '#')
			while (i < n && p[i] != '\n' && p[i] != '\r')
				i++;
		else
			i++;
	}
	return i;
}

/* 0 when one of a PNM header's three numbers (width, height, maxval) has more than 9 digits:
 * stb_image 2.27 parses them into an int without an overflow check (found by fuzz_image). */
static int pnm_numbers_ok(const uint8_t *p, size_t n)
{
	size_t i = 2;
	for (int k = 0; k < 3; k++) {
		i = pnm_skip_space(p, n, i);
		size_t digits = 0;
		while (i < n && p[i] >= '0' && p[i] <= '9')
			i++, digits++;
		if (digits > 9)
			return 0;
	}
	return 1;
}

static uint32_t be32_at(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* PSD (Adobe Photoshop File Format, version 1): a 26-byte header, three length-prefixed sections
 * (colour mode data, image resources, layer and mask information), then the image data: a 2-byte
 * compression (0 raw, 1 PackBits RLE) and every channel's rows, raw (channels * height * row
 * bytes) or RLE (channels * height 2-byte row byte counts, then that many bytes). 1 when the
 * file ends before the image data its header and row counts declare. */
static int psd_short(const uint8_t *p, size_t n)
{
	if (n < 26)
		return 1;
	uint64_t ch = (uint64_t)p[12] << 8 | p[13], h = be32_at(p + 14), w = be32_at(p + 18);
	uint64_t depth = (uint64_t)p[22] << 8 | p[23];
	size_t off = 26;
	for (int sec = 0; sec < 3; sec++) {
		if (n - off < 4)
			return 1;
		uint64_t len = be32_at(p + off);
		if (len > n - off - 4)
			return 1;
		off += 4 + (size_t)len;
	}
	if (n - off < 2)
		return 1;
	unsigned comp = (unsigned)p[off] << 8 | p[off + 1];
	off += 2;
	if (ch == 0 || ch > 56 || h == 0 || w == 0 || h > (1u << 30) || w > (1u << 30) ||
	    (depth != 1 && depth != 8 && depth != 16 && depth != 32))
		return 0; /* not decodable anyway: the decoder refuses it with its own reason */
	uint64_t rows = ch * h, row_bytes = (w * depth + 7) / 8;
	if (comp == 0)
		return rows * row_bytes > n - off;
	if (comp != 1)
		return 0;
	if (rows * 2 > n - off)
		return 1;
	uint64_t need = 0;
	for (uint64_t r = 0; r < rows; r++)
		need += (uint64_t)p[off + 2 * r] << 8 | p[off + 2 * r + 1];
	off += (size_t)(rows * 2);
	return need > n - off;
}

/* GIF (89a spec): a 13-byte screen descriptor and its colour table, then blocks up to the 0x3B
 * trailer: extensions (0x21, a label, data sub-blocks) and images (0x2C, a 10-byte descriptor, a
 * local colour table, the LZW code size, data sub-blocks). A sub-block is a length byte and that
 * many bytes; a zero length ends the list. 1 when a block or sub-block runs past the end or the
 * stream stops before its trailer (LZW data that decodes to fewer pixels than the frame stays
 * the decoder's business: stb_image clears its canvas first). */
static int gif_short(const uint8_t *p, size_t n)
{
	if (n < 13)
		return 1;
	size_t off = 13;
	if (p[10] & 0x80)
		off += 3u << ((p[10] & 7) + 1);
	for (;;) {
		if (off >= n)
			return 1;
		uint8_t b = p[off++];
		if (b == 0x3B)
			return 0;
		if (b == 0x21) {
			if (off >= n)
				return 1;
			off++; /* the label */
		} else if (b == 0x2C) {
			if (n - off < 9)
				return 1;
			uint8_t flags = p[off + 8];
			off += 9;
			if (flags & 0x80)
				off += 3u << ((flags & 7) + 1);
			if (off >= n)
				return 1;
			off++; /* the LZW minimum code size */
		} else {
			return 0; /* not a block: the decoder names the error */
		}
		for (;;) { /* data sub-blocks */
			if (off >= n)
				return 1;
			uint8_t len = p[off++];
			if (!len)
				break;
			if (len > n - off)
				return 1;
			off += len;
		}
	}
}

/* The width, height and maxval of a binary PNM (P5/P6) header into v; returns the offset of its
 * first sample (after the one whitespace byte that ends the header), which may be past n. */
static size_t pnm_header(const uint8_t *p, size_t n, uint64_t v[3])
{
	size_t i = 2;
	v[0] = v[1] = v[2] = 0;
	for (int k = 0; k < 3; k++) {
		i = pnm_skip_space(p, n, i);
		for (int d = 0; i < n && p[i] >= '0' && p[i] <= '9' && d < 10; i++, d++)
			v[k] = v[k] * 10 + (uint64_t)(p[i] - '0');
	}
	return i + 1;
}

/* 1 for a 16-bit PNM (maxval > 255). stb_image 2.27 gets them wrong: it converts a grayscale
 * one's samples to RGB as if they were 8-bit and then reads twice the buffer it made (found by
 * fuzz_image), and takes the low byte of every big-endian colour sample as its top half. */
static int pnm_16bit(const uint8_t *p, size_t n)
{
	uint64_t v[3];
	if (n < 3 || p[0] != 'P' || (p[1] != '5' && p[1] != '6'))
		return 0;
	pnm_header(p, n, v);
	return v[2] > 255;
}

/* 1 when a binary PNM (P5/P6), an uncompressed BMP or a PSD holds fewer pixel bytes than its
 * header declares, or a GIF's blocks run past its end: stb_image would fill the rest (from
 * uninitialized memory for PNM) instead of failing.
 * The bytes the header implies are computed before decoding; other formats are left to their
 * decoders' own checks. */
static int short_data(const char *fmt, const uint8_t *p, size_t n)
{
	if (!strcmp(fmt, "pnm") && n >= 3 && p[0] == 'P' && (p[1] == '5' || p[1] == '6')) {
		uint64_t v[3];
		size_t i = pnm_header(p, n, v);
		uint64_t need = v[0] * v[1] * (p[1] == '6' ? 3u : 1u) * (v[2] > 255 ? 2u : 1u);
		return i > n || need > n - i;
	}
	if (!strcmp(fmt, "bmp") && n >= 34) {
		uint32_t off = (uint32_t)p[10] | (uint32_t)p[11] << 8 | (uint32_t)p[12] << 16 |
		               (uint32_t)p[13] << 24;
		uint32_t hsz = (uint32_t)p[14] | (uint32_t)p[15] << 8 | (uint32_t)p[16] << 16 |
		               (uint32_t)p[17] << 24;
		uint32_t comp = (uint32_t)p[30] | (uint32_t)p[31] << 8 | (uint32_t)p[32] << 16 |
		                (uint32_t)p[33] << 24;
		if (hsz < 40 || (comp != 0 && comp != 3))
			return 0; /* OS/2 headers and RLE: the decoder's business */
		int32_t w = (int32_t)((uint32_t)p[18] | (uint32_t)p[19] << 8 |
		                      (uint32_t)p[20] << 16 | (uint32_t)p[21] << 24);
		int32_t h = (int32_t)((uint32_t)p[22] | (uint32_t)p[23] << 8 |
		                      (uint32_t)p[24] << 16 | (uint32_t)p[25] << 24);
		unsigned bpp = (unsigned)p[28] | (unsigned)p[29] << 8;
		if (w <= 0 || h == 0 || h == INT32_MIN || !bpp || bpp > 32)
			return 0;
		uint64_t rows = (uint64_t)(h < 0 ? -(int64_t)h : h);
		uint64_t stride = ((uint64_t)w * bpp + 31) / 32 * 4;
		return off > n || stride * rows > n - off;
	}
	if (!strcmp(fmt, "psd"))
		return psd_short(p, n);
	if (!strcmp(fmt, "gif"))
		return gif_short(p, n);
	return 0;
}

int eng_image_jpeg_scale(int width, int height)
{
	int lng = width > height ? width : height, sht = width > height ? height : width;
	int need_long = lng < ENG_IMAGE_THUMB_SIDE ? lng : ENG_IMAGE_THUMB_SIDE;
	int need_short = sht < ENG_IMGFEAT_SIDE ? sht : ENG_IMGFEAT_SIDE;
	for (int d = 8; d > 1; d /= 2)
		if ((lng + d - 1) / d >= need_long && (sht + d - 1) / d >= need_short)
			return d;
	return 1;
}

void eng_image_pixels_free(eng_image_pixels *px)
{
	if (!px)
		return;
	free(px->rgb);
	memset(px, 0, sizeof *px);
}

/* (h, w, 3) buffer, or NULL when it would not fit size_t / malloc. */
static uint8_t *rgb_alloc(int w, int h)
{
	if (w <= 0 || h <= 0 || (size_t)w > SIZE_MAX / 3 / (size_t)h)
		return NULL;
	return malloc((size_t)w * (size_t)h * 3);
}

/* The pixel-limit refusal, with the fix. */
static int too_many_pixels(eng_rec_error *rerr, const char *source, uint64_t w, uint64_t h,
                           uint64_t max_pixels)
{
	return eng_rec_reject(
	    rerr, ENG_REC_IMAGE_TOO_LARGE,
	    "image '%s' is %llux%llu = %.1f MP, over the %.1f MP limit; downscale it or "
	    "raise --max-pixels",
	    source, (unsigned long long)w, (unsigned long long)h, (double)w * h / 1e6,
	    (double)max_pixels / 1e6);
}

/* libjpeg-turbo: header -> limit -> decode at 1/scale (CMYK and YCCK files too). 0 ok, 1 refused,
 * ENG_ENOMEM. */
static int decode_jpeg(const uint8_t *data, size_t n, const char *source, uint64_t max_pixels,
                       int full, eng_image_pixels *px, eng_rec_error *rerr)
{
	tjhandle tj = tjInitDecompress();
	if (!tj)
		return ENG_ENOMEM;
	int rc, w = 0, h = 0, sub = 0, cs = 0; /* left unset on some bad headers */
	if (tjDecompressHeader3(tj, data, (unsigned long)n, &w, &h, &sub, &cs) != 0) {
		rc = eng_rec_reject(rerr, ENG_REC_CORRUPT_IMAGE,
		                    "image '%s' (jpeg) has an unreadable header (%s); re-export it",
		                    source, tjGetErrorStr2(tj));
		goto out;
	}
	if (w <= 0 || h <= 0) {
		rc = eng_rec_reject(rerr, ENG_REC_CORRUPT_IMAGE,
		                    "image '%s' (jpeg) declares an empty %dx%d size", source, w, h);
		goto out;
	}
	if ((uint64_t)w * (uint64_t)h > max_pixels) {
		rc = too_many_pixels(rerr, source, (uint64_t)w, (uint64_t)h, max_pixels);
		goto out;
	}
	int cmyk = cs == TJCS_CMYK || cs == TJCS_YCCK;
	int d = full ? 1 : eng_image_jpeg_scale(w, h);
	tjscalingfactor sf = {1, d};
	int sw = TJSCALED(w, sf), sh = TJSCALED(h, sf);
	uint8_t *rgb = rgb_alloc(sw, sh);
	/* TurboJPEG gives CMYK (a YCCK file converted) but not RGB from it: the four channels go to
	 * a buffer of their own (stb_image's JPEG decoder, which did this before, reads out of its
	 * Huffman tables on crafted files: found by fuzz_image) */
	uint8_t *dst = rgb;
	if (rgb && cmyk)
		dst = (size_t)sw * 4 <= SIZE_MAX / (size_t)sh ? malloc((size_t)sw * (size_t)sh * 4)
		                                              : NULL;
	if (!rgb || !dst) {
		free(rgb);
		rc = ENG_ENOMEM;
		goto out;
	}
	/* warnings (e.g. extraneous bytes) still give the whole image; errors do not */
	if (tjDecompress2(tj, data, (unsigned long)n, dst, sw, sw * (cmyk ? 4 : 3), sh,
	                  cmyk ? TJPF_CMYK : TJPF_RGB,
	                  TJFLAG_FASTUPSAMPLE | TJFLAG_LIMITSCANS) != 0 &&
	    tjGetErrorCode(tj) != TJERR_WARNING) {
		if (dst != rgb)
			free(dst);
		free(rgb);
		rc = eng_rec_reject(rerr, ENG_REC_CORRUPT_IMAGE,
		                    "image '%s' (jpeg) cannot be decoded (%s); re-export it",
		                    source, tjGetErrorStr2(tj));
		goto out;
	}
	if (cmyk) { /* Adobe's inverted CMYK, as JPEG files store it: R = C K / 255, G = M K / 255,
		     * B = Y K / 255, rounded as stb_image did (x y + 128, plus its >> 8, >> 8) */
		for (size_t i = 0, np = (size_t)sw * (size_t)sh; i < np; i++) {
			unsigned k = dst[4 * i + 3];
			for (int c = 0; c < 3; c++) {
				unsigned t = dst[4 * i + c] * k + 128u;
				rgb[3 * i + c] = (uint8_t)((t + (t >> 8)) >> 8);
			}
		}
		free(dst);
	}
	*px = (eng_image_pixels){rgb, sw, sh, w, h, d, "jpeg"};
	rc = 0;
out:
	tjDestroy(tj);
	return rc;
}

/* libwebp, still images (lossy, lossless, alpha dropped). 0 ok, 1 refused, ENG_ENOMEM. */
static int decode_webp(const uint8_t *data, size_t n, const char *source, uint64_t max_pixels,
                       eng_image_pixels *px, eng_rec_error *rerr)
{
	WebPBitstreamFeatures f;
	VP8StatusCode st = WebPGetFeatures(data, n, &f);
	if (st != VP8_STATUS_OK)
		return eng_rec_reject(
		    rerr, ENG_REC_CORRUPT_IMAGE,
		    "image '%s' (webp) has an unreadable header (libwebp status %d); "
		    "re-export it",
		    source, (int)st);
	if (f.width <= 0 || f.height <= 0)
		return eng_rec_reject(rerr, ENG_REC_CORRUPT_IMAGE,
		                      "image '%s' (webp) declares an empty %dx%d size", source,
		                      f.width, f.height);
	if ((uint64_t)f.width * (uint64_t)f.height > max_pixels)
		return too_many_pixels(rerr, source, (uint64_t)f.width, (uint64_t)f.height,
		                       max_pixels);
	if (f.has_animation)
		return eng_rec_reject(
		    rerr, ENG_REC_UNSUPPORTED_IMAGE,
		    "image '%s' is an animated WEBP: not supported; give one frame as a "
		    "PNG/JPEG/WEBP still",
		    source);
	uint8_t *rgb = rgb_alloc(f.width, f.height);
	if (!rgb)
		return ENG_ENOMEM;
	size_t size = (size_t)f.width * (size_t)f.height * 3;
	if (!WebPDecodeRGBInto(data, n, rgb, size, f.width * 3)) {
		free(rgb);
		return eng_rec_reject(
		    rerr, ENG_REC_CORRUPT_IMAGE,
		    "image '%s' (webp) cannot be decoded (corrupt or truncated data); "
		    "re-export or re-download it",
		    source);
	}
	*px = (eng_image_pixels){rgb, f.width, f.height, f.width, f.height, 1, "webp"};
	return 0;
}

/* stb_image (PNG, GIF, BMP, PNM, PSD). 0 ok, 1 refused. */
static int decode_stb(const uint8_t *data, size_t n, const char *fmt, const char *source,
                      uint64_t max_pixels, eng_image_pixels *px, eng_rec_error *rerr)
{
	int w, h, comp;
	if (!stbi_info_from_memory(data, (int)n, &w, &h, &comp))
		return eng_rec_reject(rerr, ENG_REC_CORRUPT_IMAGE,
		                      "image '%s' (%s) has an unreadable header (%s)", source, fmt,
		                      stbi_failure_reason());
	if (w <= 0 || h <= 0)
		return eng_rec_reject(rerr, ENG_REC_CORRUPT_IMAGE,
		                      "image '%s' (%s) declares an empty %dx%d size", source, fmt,
		                      w, h);
	if ((uint64_t)w * (uint64_t)h > max_pixels)
		return too_many_pixels(rerr, source, (uint64_t)w, (uint64_t)h, max_pixels);
	/* Debian's libstb allocates with the default STBI_MALLOC (malloc): free() releases it */
	uint8_t *rgb = stbi_load_from_memory(data, (int)n, &w, &h, &comp, 3);
	if (!rgb || w <= 0 || h <= 0 || (uint64_t)w * (uint64_t)h > max_pixels) {
		stbi_image_free(rgb);
		return eng_rec_reject(rerr, ENG_REC_CORRUPT_IMAGE,
		                      "image '%s' (%s) cannot be decoded (%s)", source, fmt,
		                      rgb ? "size differs from its header" : stbi_failure_reason());
	}
	*px = (eng_image_pixels){rgb, w, h, w, h, 1, fmt};
	return 0;
}

int eng_image_decode(const uint8_t *data, size_t n, const char *source, uint64_t max_pixels,
                     int full, eng_image_pixels *px, eng_rec_error *rerr)
{
	int supported;
	memset(px, 0, sizeof *px);
	if (n == 0)
		return eng_rec_reject(rerr, ENG_REC_CORRUPT_IMAGE, "image '%s' is empty (0 bytes)",
		                      source);
	const char *fmt = eng_image_format(data, n, &supported);
	if (!fmt)
		return eng_rec_reject(
		    rerr, ENG_REC_UNSUPPORTED_IMAGE,
		    "image '%s' is not a recognised format (PNG, JPEG, WEBP, GIF, BMP, PNM, PSD); "
		    "convert it to PNG or JPEG",
		    source);
	if (!supported) {
		const char *ext = strrchr(source, '.');
		return eng_rec_reject(
		    rerr, ENG_REC_UNSUPPORTED_IMAGE,
		    "%s: not supported; convert it to PNG/JPEG ('%s'%s%s%s)", format_label(fmt),
		    source, ext && !strchr(ext, '/') ? ", named " : "",
		    ext && !strchr(ext, '/') ? ext : "",
		    ext && !strchr(ext, '/') ? " but detected from its bytes" : "");
	}
	if (n > INT_MAX)
		return eng_rec_reject(rerr, ENG_REC_IMAGE_TOO_LARGE, "image '%s' is over 2 GiB",
		                      source);
	if (eng_image_truncated(fmt, data, n))
		return eng_rec_reject(
		    rerr, ENG_REC_CORRUPT_IMAGE,
		    "image '%s' (%s) is truncated: its end marker is missing; re-export or "
		    "re-download it",
		    source, fmt);
	if (!strcmp(fmt, "jpeg") && !jpeg_tables_ok(data, n))
		return eng_rec_reject(
		    rerr, ENG_REC_CORRUPT_IMAGE,
		    "image '%s' (jpeg) has a malformed Huffman table; re-export it", source);
	if (!strcmp(fmt, "pnm") && !pnm_numbers_ok(data, n))
		return eng_rec_reject(rerr, ENG_REC_CORRUPT_IMAGE,
		                      "image '%s' (pnm) has a header number out of range", source);
	if (short_data(fmt, data, n))
		return eng_rec_reject(
		    rerr, ENG_REC_CORRUPT_IMAGE,
		    "image '%s' (%s) is truncated: it holds fewer pixel bytes than its "
		    "header declares; re-export or re-download it",
		    source, fmt);
	if (!strcmp(fmt, "pnm") && pnm_16bit(data, n)) /* whole, but 16-bit */
		return eng_rec_reject(
		    rerr, ENG_REC_UNSUPPORTED_IMAGE,
		    "image '%s' is a 16-bit PNM: not supported; convert it to PNG", source);
	uint64_t dw, dh;
	if (header_dims(fmt, data, n, &dw, &dh) && dw * dh > max_pixels)
		return eng_rec_reject(
		    rerr, ENG_REC_IMAGE_TOO_LARGE,
		    "image '%s' declares %llux%llu = %.1f MP, over the %.1f MP limit; downscale it "
		    "or raise --max-pixels",
		    source, (unsigned long long)dw, (unsigned long long)dh, (double)dw * dh / 1e6,
		    (double)max_pixels / 1e6);
	if (!strcmp(fmt, "webp"))
		return decode_webp(data, n, source, max_pixels, px, rerr);
	if (!strcmp(fmt, "jpeg")) {
		return decode_jpeg(data, n, source, max_pixels, full, px, rerr);
	}
	return decode_stb(data, n, fmt, source, max_pixels, px, rerr);
}
