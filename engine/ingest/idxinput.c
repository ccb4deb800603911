/* idxinput.c - the bytes the indexer reads: the content hash of the file, a line stream over it
 * (plain, .gz through zlib with its trailers checked, other compressions through libarchive) and
 * pipes or FIFOs copied to a private temporary file first. Does not parse records or touch the
 * workspace. */
#include "index_internal.h"

#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "outfile.h"
#include "sha256.h"

int eng_idx_hash_file(const char *path, uint64_t *bytes, char hex[65], eng_err *err)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return eng_err_set(err, ENG_EINPUT, "cannot open '%s': %s; check the path", path,
		                   strerror(errno));
	struct stat sb;
	if (fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
		fclose(f);
		return eng_err_set(err, ENG_EINPUT, "'%s' is a directory, not a JSONL file", path);
	}
	static uint8_t buf[1 << 16];
	eng_sha256_ctx s;
	eng_sha256_init(&s);
	size_t n;
	*bytes = 0;
	while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
		eng_sha256_update(&s, buf, n);
		*bytes += n;
	}
	int bad = ferror(f);
	fclose(f);
	if (bad)
		return eng_err_set(err, ENG_EINPUT, "cannot read '%s'", path);
	uint8_t dg[ENG_SHA256_LEN];
	eng_sha256_final(&s, dg);
	eng_sha256_hex(dg, hex);
	return 0;
}

static int compressed_name(const char *path)
{
	static const char *const sfx[] = {".gz", ".bz2", ".xz", ".zst"};
	size_t l = strlen(path);
	for (size_t i = 0; i < sizeof sfx / sizeof sfx[0]; i++) {
		size_t k = strlen(sfx[i]);
		if (l > k && !strcmp(path + l - k, sfx[i]))
			return 1;
	}
	return 0;
}

static long archive_read_cb(void *ctx, void *buf, size_t n, char *msg)
{
	struct archive *a = ctx;
	la_ssize_t k = archive_read_data(a, buf, n);
	if (k < 0) {
		/* corrupt or truncated compressed data: an error of this input (exit 2) */
		snprintf(msg, 256, "cannot decompress: %s", archive_error_string(a));
		return archive_errno(a) == ENOMEM ? -1 : ENG_JSONL_READ_BAD_DATA;
	}
	return (long)k;
}

/* .gz through zlib, not libarchive: libarchive's gzip filter does not check the members'
 * CRC-32 and length trailers, zlib does. Every member of a multi-member file is read; bytes
 * after the last one other than zero padding, a truncated member, a bad trailer or corrupt
 * deflate data fail the read with ENG_JSONL_READ_BAD_DATA. */
typedef struct gz_in {
	FILE *f;
	z_stream z;
	int in_member, any, zeros; /* zeros: only NUL padding seen since the last member */
	unsigned char buf[1 << 16];
} gz_in;

static long gz_read(void *ctx, void *out, size_t n, char *msg)
{
	gz_in *g = ctx;
	g->z.next_out = out;
	g->z.avail_out = (uInt)(n > (1u << 30) ? 1u << 30 : n);
	uInt want = g->z.avail_out;
	while (g->z.avail_out == want) {
		if (g->z.avail_in == 0) {
			size_t k = fread(g->buf, 1, sizeof g->buf, g->f);
			if (k == 0) {
				if (ferror(g->f)) {
					snprintf(msg, 256, "%s", strerror(errno ? errno : EIO));
					return -1;
				}
				if (g->in_member || !g->any) {
					snprintf(msg, 256, "%s",
					         g->any
					             ? "truncated gzip data: the file ends inside "
					               "a compressed member"
					             : "an empty file, not gzip data");
					return ENG_JSONL_READ_BAD_DATA;
				}
				return 0;
			}
			g->z.next_in = g->buf;
			g->z.avail_in = (uInt)k;
		}
		if (!g->in_member) { /* between members: NUL padding, a new member or garbage */
			while (g->z.avail_in && *g->z.next_in == 0)
				g->z.next_in++, g->z.avail_in--, g->zeros = 1;
			if (!g->z.avail_in)
				continue;
			if (g->zeros || g->z.next_in[0] != 0x1f) {
				snprintf(msg, 256,
				         "bytes after the end of the gzip data (or not gzip)");
				return ENG_JSONL_READ_BAD_DATA;
			}
			if (inflateReset2(&g->z, 16 + MAX_WBITS) != Z_OK) {
				snprintf(msg, 256, "gzip: inflate reset failed");
				return -1;
			}
			g->in_member = g->any = 1;
		}
		int zr = inflate(&g->z, Z_NO_FLUSH);
		if (zr == Z_STREAM_END) {
			g->in_member = 0; /* its CRC-32 and length checked by zlib */
		} else if (zr == Z_MEM_ERROR) {
			snprintf(msg, 256, "gzip: out of memory");
			return -1;
		} else if (zr != Z_OK && zr != Z_BUF_ERROR) {
			snprintf(msg, 256, "corrupt gzip data: %s",
			         g->z.msg ? g->z.msg : "inflate failed");
			return ENG_JSONL_READ_BAD_DATA;
		}
	}
	return (long)(want - g->z.avail_out);
}

void eng_idx_gz_free(gz_in *g)
{
	if (!g)
		return;
	inflateEnd(&g->z);
	free(g);
}

static int ends_with_ci(const char *s, const char *sfx)
{
	size_t l = strlen(s), k = strlen(sfx);
	return l > k && !strcasecmp(s + l - k, sfx);
}

/* Opens src (the file read for input path) as a line stream: plain, .gz through zlib, or
 * decompressed through libarchive's raw format. */
int eng_idx_open_input(const char *path, const char *src, FILE **fp, struct archive **ap,
                       gz_in **gzp, eng_jsonl **r, size_t max_line, eng_err *err)
{
	if (!compressed_name(path)) {
		if (!(*fp = fopen(src, "rb")))
			return eng_err_set(err, ENG_EINPUT, "cannot open '%s': %s", path,
			                   strerror(errno));
		if (eng_jsonl_open_file(*fp, max_line, r, err))
			return err->code;
		eng_jsonl_detect_array(*r); /* a JSON array file reads element by element */
		return 0;
	}
	if (ends_with_ci(path, ".gz")) {
		gz_in *g = calloc(1, sizeof *g);
		if (!g)
			return eng_err_set(err, ENG_ENOMEM, "out of memory");
		if (inflateInit2(&g->z, 16 + MAX_WBITS) != Z_OK) {
			free(g);
			return eng_err_set(err, ENG_ENOMEM, "out of memory (zlib)");
		}
		*gzp = g;
		if (!(*fp = fopen(src, "rb")))
			return eng_err_set(err, ENG_EINPUT, "cannot open '%s': %s", path,
			                   strerror(errno));
		g->f = *fp;
		if (eng_jsonl_open_fn(gz_read, g, max_line, r, err))
			return err->code;
		eng_jsonl_detect_array(*r);
		return 0;
	}
	struct archive *a = archive_read_new();
	if (!a)
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	*ap = a;
	archive_read_support_filter_all(a);
	archive_read_support_format_raw(a);
	struct archive_entry *e;
	if (archive_read_open_filename(a, src, 1 << 16) != ARCHIVE_OK ||
	    archive_read_next_header(a, &e) != ARCHIVE_OK)
		return eng_err_set(err, ENG_EINPUT, "cannot decompress '%s': %s", path,
		                   archive_error_string(a));
	if (eng_jsonl_open_fn(archive_read_cb, a, max_line, r, err))
		return err->code;
	eng_jsonl_detect_array(*r);
	return 0;
}

/* ---- inputs that are not regular files ----------------------------------------------------- */

#define STREAM_MAX ((uint64_t)256 << 20)

/* Opens path without blocking (a FIFO without a writer) and looks at what it is before reading:
 * a regular file is left to the readers (*spool = NULL); a directory, device or socket is refused;
 * a pipe or FIFO (`cat f.jsonl | mmaudit index /dev/stdin`) is read once, at most STREAM_MAX
 * bytes, into a private temporary file (*spool, the caller unlinks and frees it) that is hashed
 * and read in its place, so what is recorded is the hash of what was read. */
int eng_idx_read_stream(const char *path, int bundle, char **spool, eng_err *err)
{
	*spool = NULL;
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return eng_err_set(err, ENG_EINPUT, "cannot open '%s': %s; check the path", path,
		                   strerror(errno));
	struct stat sb;
	if (fstat(fd, &sb) != 0) {
		int e = errno;
		close(fd);
		return eng_err_set(err, ENG_EIO, "stat '%s': %s", path, strerror(e));
	}
	if (S_ISREG(sb.st_mode)) {
		close(fd);
		return 0;
	}
	if (!S_ISFIFO(sb.st_mode) || bundle) {
		close(fd);
		return eng_err_set(err, ENG_EINPUT,
		                   "'%s' is %s, not a records file: index a regular file%s", path,
		                   eng_err_file_kind(sb.st_mode),
		                   S_ISDIR(sb.st_mode) ? " (each file of a folder by name)"
		                   : bundle            ? " (an archive is read twice)"
		                                       : " or pipe records in through /dev/stdin");
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	const char *tdir = eng_tmp_dir();
	const char *base = strrchr(path, '/'), *dot;
	base = base ? base + 1 : path;
	dot = strrchr(base, '.');
	if (!dot || strlen(dot) > 16)
		dot = "";
	size_t n = strlen(tdir) + 64;
	char *tmp = malloc(n);
	if (!tmp) {
		close(fd);
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	}
	snprintf(tmp, n, "%s/mmaudit-stream-XXXXXX%s", tdir, dot);
	int tfd = mkstemps(tmp, (int)strlen(dot));
	if (tfd < 0) {
		int e = errno;
		close(fd);
		free(tmp);
		return eng_err_set(err, ENG_EIO, "'%s': make a temporary copy of the stream: %s",
		                   path, strerror(e));
	}
	static uint8_t buf[1 << 16];
	uint64_t total = 0;
	int rc = 0;
	for (;;) {
		ssize_t k = read(fd, buf, sizeof buf);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			rc = eng_err_set(err, ENG_EIO, "read '%s': %s", path, strerror(errno));
			break;
		}
		if (k == 0)
			break;
		if ((total += (uint64_t)k) > STREAM_MAX) {
			rc = eng_err_set(
			    err, ENG_EINPUT,
			    "'%s' is %s giving more than %llu MiB: save it to a file and "
			    "index that",
			    path, eng_err_file_kind(sb.st_mode),
			    (unsigned long long)(STREAM_MAX >> 20));
			break;
		}
		for (ssize_t off = 0; off < k && !rc;) {
			ssize_t w = write(tfd, buf + off, (size_t)(k - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				rc = eng_err_set(err, ENG_EIO, "'%s': write the temporary copy: %s",
				                 path, strerror(errno));
			else
				off += w;
		}
		if (rc)
			break;
	}
	close(fd);
	if (close(tfd) != 0 && !rc)
		rc = eng_err_set(err, ENG_EIO, "'%s': write the temporary copy: %s", path,
		                 strerror(errno));
	if (!rc && total == 0)
		rc = eng_err_set(err, ENG_EINPUT, "'%s' is %s that gave no data: nothing to index",
		                 path, eng_err_file_kind(sb.st_mode));
	if (rc) {
		unlink(tmp);
		free(tmp);
		return rc;
	}
	*spool = tmp;
	return 0;
}
