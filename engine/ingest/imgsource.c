/* imgsource.c - an image's encoded bytes from a file or a `data:` URI, and what they are: the
 * format sniffed from magic bytes and whether the encoding visibly ends early. Does not decode
 * (imgdecode.c), read archives (archive.c) or store anything (imgstore.c). */
#include "images.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

const char *eng_image_format(const uint8_t *p, size_t n, int *supported)
{
	*supported = 0;
	if (n >= 8 && !memcmp(p, "\x89PNG\r\n\x1a\n", 8))
		return *supported = 1, "png";
	if (n >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF)
		return *supported = 1, "jpeg";
	if (n >= 6 && (!memcmp(p, "GIF87a", 6) || !memcmp(p, "GIF89a", 6)))
		return *supported = 1, "gif";
	if (n >= 26 && p[0] == 'B' && p[1] == 'M')
		return *supported = 1, "bmp";
	if (n >= 3 && p[0] == 'P' && (p[1] == '5' || p[1] == '6') &&
	    (p[2] == ' ' || p[2] == '\n' || p[2] == '\r' || p[2] == '\t'))
		return *supported = 1, "pnm";
	if (n >= 4 && !memcmp(p, "8BPS", 4))
		return *supported = 1, "psd";
	if (n >= 12 && !memcmp(p, "RIFF", 4) && !memcmp(p + 8, "WEBP", 4))
		return *supported = 1, "webp";
	if (n >= 4 && (!memcmp(p, "II*\0", 4) || !memcmp(p, "MM\0*", 4)))
		return "tiff";
	if (n >= 12 && !memcmp(p + 4, "ftyp", 4)) {
		if (!memcmp(p + 8, "avif", 4) || !memcmp(p + 8, "avis", 4))
			return "avif";
		if (!memcmp(p + 8, "heic", 4) || !memcmp(p + 8, "heix", 4) ||
		    !memcmp(p + 8, "mif1", 4))
			return "heic";
		if (!memcmp(p + 8, "qt  ", 4))
			return "mov";
		return "mp4"; /* isom, mp41, mp42, M4V, 3gp4, ...: an ISO media (video) file */
	}
	if (n >= 12 && !memcmp(p, "RIFF", 4) && !memcmp(p + 8, "AVI ", 4))
		return "avi";
	if (n >= 4 && !memcmp(p, "\x1a\x45\xdf\xa3", 4))
		return "mkv";
	if (n >= 4 && !memcmp(p, "FLV\x01", 4))
		return "flv";
	if (n >= 12 && !memcmp(p, "\0\0\0\x0cjP  ", 8))
		return "jpeg2000";
	if (n >= 4 && !memcmp(p, "\0\0\1\0", 4))
		return "ico";
	if ((n >= 4 && !strncasecmp((const char *)p, "<svg", 4)) ||
	    (n >= 5 && !memcmp(p, "<?xml", 5)))
		return "svg";
	return NULL;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int eng_image_truncated(const char *format, const uint8_t *p, size_t n)
{
	if (!strcmp(format, "png")) {
		/* walk the chunk headers: length, type, data, CRC; the stream must reach IEND */
		size_t off = 8;
		while (off + 12 <= n) {
			uint64_t len = be32(p + off);
			if (!memcmp(p + off + 4, "IEND", 4))
				return 0;
			if (len > n - off - 12)
				return 1;
			off += 12 + (size_t)len;
		}
		return 1;
	}
	if (!strcmp(format, "jpeg")) {
		/* EOI (FF D9) must appear near the end; encoders may pad a little after it */
		size_t tail = n < 4096 ? n : 4096;
		for (size_t i = n - 1; i + tail > n && i >= 3; i--)
			if (p[i - 1] == 0xFF && p[i] == 0xD9)
				return 0;
		return 1;
	}
	if (!strcmp(format, "webp")) {
		/* RIFF size (little-endian, after "RIFF") + 8 bytes of header must be present */
		uint64_t riff = n >= 8 ? ((uint64_t)p[4] | (uint64_t)p[5] << 8 |
		                          (uint64_t)p[6] << 16 | (uint64_t)p[7] << 24)
		                       : 0;
		return n < 12 || riff + 8 > n;
	}
	if (!strcmp(format, "gif")) {
		size_t i = n;
		while (i > 6 && p[i - 1] == 0)
			i--;
		return p[i - 1] != 0x3B;
	}
	return 0;
}

/* ---- data URIs ---------------------------------------------------------------------------- */

static int b64val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

int eng_image_data_uri(const char *uri, uint8_t **out, size_t *n, eng_rec_error *rerr)
{
	*out = NULL;
	*n = 0;
	if (strncasecmp(uri, "data:", 5) != 0)
		return eng_rec_reject(rerr, ENG_REC_UNSUPPORTED_IMAGE, "not a data: URI");
	const char *comma = strchr(uri, ',');
	if (!comma)
		return eng_rec_reject(
		    rerr, ENG_REC_CORRUPT_IMAGE,
		    "data: URI has no ',' before its payload; write data:image/png;base64,...");
	const char *mt = uri + 5;
	size_t mlen = (size_t)(comma - mt);
	if (mlen < 7 || strncasecmp(comma - 7, ";base64", 7) != 0)
		return eng_rec_reject(
		    rerr, ENG_REC_UNSUPPORTED_IMAGE,
		    "data: URI is not base64-encoded; use data:image/...;base64,...");
	if (strncasecmp(mt, "image/", 6) != 0)
		return eng_rec_reject(rerr, ENG_REC_UNSUPPORTED_IMAGE,
		                      "data: URI media type '%.*s' is not an image",
		                      (int)(mlen - 7), mt);
	const char *s = comma + 1;
	size_t len = strlen(s);
	if (len / 4 * 3 + 3 > ENG_IMAGE_MAX_BYTES)
		return eng_rec_reject(rerr, ENG_REC_IMAGE_TOO_LARGE,
		                      "data: URI is larger than %zu MiB",
		                      ENG_IMAGE_MAX_BYTES >> 20);
	uint8_t *buf = malloc(len / 4 * 3 + 3);
	if (!buf)
		return ENG_ENOMEM;
	uint32_t acc = 0;
	int bits = 0, pad = 0;
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)s[i];
		if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		int v = b64val(c);
		if (v < 0 || pad) {
			free(buf);
			return eng_rec_reject(
			    rerr, ENG_REC_CORRUPT_IMAGE,
			    "data: URI payload is not valid base64 (bad character at %zu)", i);
		}
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[o++] = (uint8_t)(acc >> bits);
		}
	}
	*out = buf;
	*n = o;
	return 0;
}

/* ---- files and archives ------------------------------------------------------------------- */

int eng_image_read_file(const char *path, uint8_t **out, size_t *n, eng_rec_error *rerr)
{
	*out = NULL;
	*n = 0;
	/* O_NONBLOCK: a FIFO without a writer must not block the open; only regular files are
	 * read (a FIFO or device could block or never end) */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	struct stat sb = {0};
	if (fd < 0)
		return eng_rec_reject(
		    rerr, ENG_REC_MISSING_IMAGE,
		    "image '%s' cannot be opened (%s); check the path or --images DIR, or "
		    "keep the pair without its image: --missing-images text-only",
		    path, strerror(errno));
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return eng_rec_reject(
		    rerr, ENG_REC_MISSING_IMAGE,
		    "image '%s' is %s, not a regular file; point the record at the image "
		    "file, or keep the pair without it: --missing-images text-only",
		    path,
		    S_ISDIR(sb.st_mode)    ? "a directory"
		    : S_ISFIFO(sb.st_mode) ? "a FIFO"
		    : S_ISCHR(sb.st_mode)  ? "a character device"
		    : S_ISBLK(sb.st_mode)  ? "a block device"
		                           : "something else");
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	FILE *f = fdopen(fd, "rb");
	if (!f) {
		close(fd);
		return ENG_ENOMEM;
	}
	if ((uint64_t)sb.st_size > ENG_IMAGE_MAX_BYTES) {
		fclose(f);
		return eng_rec_reject(rerr, ENG_REC_IMAGE_TOO_LARGE,
		                      "image '%s' is %lld bytes, over %zu MiB", path,
		                      (long long)sb.st_size, ENG_IMAGE_MAX_BYTES >> 20);
	}
	size_t size = (size_t)sb.st_size;
	uint8_t *buf = malloc(size ? size : 1);
	if (!buf) {
		fclose(f);
		return ENG_ENOMEM;
	}
	size_t got = fread(buf, 1, size, f);
	int bad = ferror(f);
	fclose(f);
	if (bad || got != size) {
		free(buf);
		return eng_rec_reject(
		    rerr, ENG_REC_MISSING_IMAGE,
		    "image '%s' could not be read completely; check the file, or keep the "
		    "pair without it: --missing-images text-only",
		    path);
	}
	*out = buf;
	*n = size;
	return 0;
}
