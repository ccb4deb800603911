/* images.c - image bytes from files, data URIs and archives; the content-addressed image store.
 * Decodes each new image once (imgdecode.c: libjpeg-turbo, libwebp, stb_image) and encodes its
 * thumbnail with libjpeg-turbo; never writes images to disk. */
#include "images.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <pthread.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <turbojpeg.h>

#include "imgdecode.h"
#include "imgfeat.h"
#include "sha256.h"

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

void eng_archive_normalize(char *name)
{
	char *w = name;
	const char *r = name;
	while (*r) {
		if (r[0] == '/') {
			r++;
			continue;
		}
		if (r[0] == '.' && (r[1] == '/' || r[1] == '\0')) {
			r += r[1] ? 2 : 1;
			continue;
		}
		const char *end = strchr(r, '/');
		size_t seg = end ? (size_t)(end - r) : strlen(r);
		if (w != name)
			*w++ = '/';
		memmove(w, r, seg);
		w += seg;
		r += seg;
	}
	*w = '\0';
}

/* Archive formats that hold image collections; not mtree/raw, which accept any text file. */
static void support_image_archives(struct archive *a)
{
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	archive_read_support_format_zip(a);
	archive_read_support_format_7zip(a);
	archive_read_support_format_cpio(a);
	archive_read_support_format_rar(a);
}

int eng_archive_check(const char *path, eng_err *err)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	if (!a)
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	support_image_archives(a);
	int r = archive_read_open_filename(a, path, 1 << 16);
	if (r == ARCHIVE_OK)
		r = archive_read_next_header(a, &e);
	int rc = r == ARCHIVE_OK || r == ARCHIVE_WARN || r == ARCHIVE_EOF
	             ? 0
	             : eng_err_set(err, ENG_EINPUT,
	                           "--images '%s' is neither a directory nor a readable archive "
	                           "(tar, tar.gz, zip, 7z, cpio, rar): %s",
	                           path, archive_error_string(a));
	archive_read_free(a);
	return rc;
}

/* Why a member may not be read, or NULL: links, devices and names that would escape a directory
 * (absolute, or with a ".." segment) are refused, even though nothing is ever extracted. */
static const char *unsafe_member(struct archive_entry *e, const char *pn)
{
	if (archive_entry_hardlink(e))
		return "a hard link";
	switch (archive_entry_filetype(e)) {
	case AE_IFREG:
		break;
	case AE_IFLNK:
		return "a symbolic link";
	case AE_IFCHR:
	case AE_IFBLK:
		return "a device file";
	case AE_IFIFO:
		return "a FIFO";
	case AE_IFSOCK:
		return "a socket";
	default:
		return "not a regular file";
	}
	if (pn[0] == '/' || pn[0] == '\\' || (pn[0] && pn[1] == ':'))
		return "named with an absolute path";
	for (const char *s = pn; *s;) {
		size_t seg = strcspn(s, "/\\");
		if (seg == 2 && s[0] == '.' && s[1] == '.')
			return "named with a '..' segment";
		s += seg;
		s += *s != '\0';
	}
	return NULL;
}

/* The scan shared by the file and memory entry points; a is open. label names the archive. */
static int scan(struct archive *a, const char *label, eng_archive_want_fn want,
                eng_archive_got_fn got, void *ctx, eng_err *err)
{
	int rc = 0, r;
	uint8_t *buf = NULL;
	size_t cap = 0;
	char *name = NULL;
	uint64_t members = 0, total = 0;
	struct archive_entry *e;
	eng_rec_error why;
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		const char *pn = archive_entry_pathname(e);
		if (++members > ENG_ARCHIVE_MAX_MEMBERS) {
			rc =
			    eng_err_set(err, ENG_EINPUT,
			                "--images '%s' has more than %llu members; split it or use "
			                "a directory",
			                label, (unsigned long long)ENG_ARCHIVE_MAX_MEMBERS);
			goto out;
		}
		if (!pn || archive_entry_filetype(e) == AE_IFDIR)
			continue;
		int64_t sz = archive_entry_size_is_set(e) ? archive_entry_size(e) : -1;
		if (sz > 0 && (total += (uint64_t)sz) > ENG_ARCHIVE_MAX_TOTAL_BYTES) {
			rc = eng_err_set(
			    err, ENG_EINPUT,
			    "--images '%s': members add up to more than %llu GiB (at "
			    "member '%.200s'); refused as a possible decompression bomb",
			    label, (unsigned long long)(ENG_ARCHIVE_MAX_TOTAL_BYTES >> 30), pn);
			goto out;
		}
		free(name);
		if (!(name = strdup(pn))) {
			rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
			goto out;
		}
		eng_archive_normalize(name);
		const char *bad = unsafe_member(e, pn);
		if (!*name || !want(ctx, name))
			continue;
		if (bad) {
			why.code = ENG_REC_UNSAFE_MEMBER;
			snprintf(
			    why.reason, sizeof why.reason,
			    "archive member '%.200s' is %s; mmaudit reads only regular files with "
			    "relative names from archives",
			    pn, bad);
			if ((rc = got(ctx, name, NULL, 0, &why)))
				goto out;
			continue;
		}
		if (sz > (int64_t)ENG_IMAGE_MAX_BYTES) {
			why.code = ENG_REC_IMAGE_TOO_LARGE;
			snprintf(why.reason, sizeof why.reason,
			         "archive member '%.200s' is %lld bytes, over %zu MiB", pn,
			         (long long)sz, ENG_IMAGE_MAX_BYTES >> 20);
			if ((rc = got(ctx, name, NULL, (size_t)sz, &why)))
				goto out;
			continue;
		}
		size_t n = 0;
		for (;;) {
			if (cap - n < 65536) {
				size_t nc = cap ? cap * 2 : (sz > 0 ? (size_t)sz + 65536 : 1 << 20);
				uint8_t *nb = realloc(buf, nc);
				if (!nb) {
					rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
					goto out;
				}
				buf = nb;
				cap = nc;
			}
			la_ssize_t k = archive_read_data(a, buf + n, cap - n);
			if (k < 0) {
				rc = eng_err_set(err, ENG_EINPUT, "--images '%s': member '%s': %s",
				                 label, pn, archive_error_string(a));
				goto out;
			}
			if (k == 0)
				break;
			n += (size_t)k;
			if (n > ENG_IMAGE_MAX_BYTES)
				break;
		}
		if (sz < 0 && (total += n) > ENG_ARCHIVE_MAX_TOTAL_BYTES) {
			rc = eng_err_set(
			    err, ENG_EINPUT,
			    "--images '%s': members add up to more than %llu GiB (at "
			    "member '%.200s'); refused as a possible decompression bomb",
			    label, (unsigned long long)(ENG_ARCHIVE_MAX_TOTAL_BYTES >> 30), pn);
			goto out;
		}
		if (n > ENG_IMAGE_MAX_BYTES) {
			why.code = ENG_REC_IMAGE_TOO_LARGE;
			snprintf(why.reason, sizeof why.reason,
			         "archive member '%.200s' is over %zu MiB", pn,
			         ENG_IMAGE_MAX_BYTES >> 20);
			rc = got(ctx, name, NULL, n, &why);
		} else {
			rc = got(ctx, name, buf, n, NULL);
		}
		if (rc)
			goto out;
	}
	if (r != ARCHIVE_EOF)
		rc = eng_err_set(err, ENG_EINPUT, "--images '%s': %s", label,
		                 archive_error_string(a));
out:
	free(name);
	free(buf);
	return rc;
}

int eng_archive_scan(const char *path, eng_archive_want_fn want, eng_archive_got_fn got, void *ctx,
                     eng_err *err)
{
	struct archive *a = archive_read_new();
	if (!a)
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	support_image_archives(a);
	int rc;
	if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK)
		rc = eng_err_set(err, ENG_EINPUT,
		                 "--images '%s' is neither a directory nor a readable archive: %s",
		                 path, archive_error_string(a));
	else
		rc = scan(a, path, want, got, ctx, err);
	archive_read_free(a);
	return rc;
}

int eng_archive_scan_memory(const void *data, size_t n, const char *label, eng_archive_want_fn want,
                            eng_archive_got_fn got, void *ctx, eng_err *err)
{
	struct archive *a = archive_read_new();
	if (!a)
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	support_image_archives(a);
	int rc;
	if (archive_read_open_memory(a, data, n) != ARCHIVE_OK)
		rc = eng_err_set(err, ENG_EINPUT, "'%s' is not a readable archive: %s", label,
		                 archive_error_string(a));
	else
		rc = scan(a, label, want, got, ctx, err);
	archive_read_free(a);
	return rc;
}

/* ---- the store ---------------------------------------------------------------------------- */

/* Work for the pool of worker threads. A THUMB job gets pixels decoded by the main thread and makes
 * the thumbnail (JPEG) and features; a FULL job gets encoded bytes read ahead by the main thread
 * (eng_imgstore_prefetch) and checks and decodes them too. Results are written to the database by
 * the main thread only, in the order the records ask for them (SQLite stays single-threaded and the
 * rows are those of a serial run). */
enum { JOB_THUMB, JOB_FULL };
enum { S_FREE, S_QUEUED, S_RUNNING, S_DONE };

typedef struct tjob {
	int kind, state;
	uint64_t seq;        /* submission order: workers take the oldest queued job */
	int64_t id;          /* THUMB: its images row */
	eng_image_pixels px; /* decoded pixels, owned until made into a thumbnail */
	const uint8_t *data; /* FULL: the encoded bytes (owned by its prefetch entry) */
	size_t n;
	const char *source;
	int rejected; /* FULL: 1 when refused (rej), ENG_ENOMEM when out of memory */
	eng_rec_error rej;
	uint8_t *jpg;
	size_t jpg_n, jpg_cap;
	float *feat;
	int oom;
} tjob;

/* NT thumbnail jobs (bounds memory to NT decoded images) and NP read-ahead images in flight */
enum { NT = 4, NP = 8, NJ = NT + NP, NWORKERS = 2 };

typedef struct pref {
	char *source; /* NULL: a free entry */
	uint8_t *data;
	size_t n;
	char hex[ENG_SHA256_HEX_LEN];
	int job; /* its FULL job, or -1 (already stored or in flight under another source) */
} pref;

struct eng_imgstore {
	eng_ws *ws;
	sqlite3_stmt *find, *insert, *finish;
	uint64_t max_pixels, decoded, refreshed, seq;
	pthread_t workers[NWORKERS];
	int nstarted, stop;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	tjob jobs[NJ]; /* [0, NT) thumbnail jobs, [NT, NJ) read-ahead jobs */
	pref pre[NP];
};

static void *worker_main(void *arg);

int eng_imgstore_new(eng_ws *ws, uint64_t max_pixels, eng_imgstore **out, eng_err *err)
{
	*out = NULL;
	eng_imgstore *s = calloc(1, sizeof *s);
	if (!s)
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	s->ws = ws;
	s->max_pixels = max_pixels ? max_pixels : ENG_IMAGE_DEFAULT_MAX_PIXELS;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	for (int i = 0; i < NJ; i++)
		if (!(s->jobs[i].feat = malloc((size_t)eng_imgfeat_dim() * sizeof(float)))) {
			eng_imgstore_free(s);
			return eng_err_set(err, ENG_ENOMEM, "out of memory");
		}
	if (!(s->find = eng_ws_prepare(ws, "SELECT id, feat_version FROM images WHERE sha256 = ?1",
	                               err)) ||
	    !(s->insert =
	          eng_ws_prepare(ws,
	                         "INSERT INTO images(sha256, width, height, format, bytes, source,"
	                         " feat_version) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	                         err)) ||
	    !(s->finish = eng_ws_prepare(ws,
	                                 "UPDATE images SET thumb = ?2, feat = ?3, feat_dim = ?4,"
	                                 " feat_version = ?5 WHERE id = ?1",
	                                 err))) {
		eng_imgstore_free(s);
		return err ? err->code : ENG_EINTERNAL;
	}
	for (int i = 0; i < NWORKERS; i++) {
		if (pthread_create(&s->workers[i], NULL, worker_main, s) != 0) {
			eng_imgstore_free(s);
			return eng_err_set(err, ENG_EINTERNAL, "cannot start the image threads");
		}
		s->nstarted++;
	}
	*out = s;
	return 0;
}

void eng_imgstore_free(eng_imgstore *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	for (int i = 0; i < s->nstarted; i++)
		pthread_join(s->workers[i], NULL);
	for (int i = 0; i < NJ; i++) {
		eng_image_pixels_free(&s->jobs[i].px);
		free(s->jobs[i].jpg);
		free(s->jobs[i].feat);
	}
	for (int i = 0; i < NP; i++) {
		free(s->pre[i].source);
		free(s->pre[i].data);
	}
	sqlite3_finalize(s->find);
	sqlite3_finalize(s->insert);
	sqlite3_finalize(s->finish);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s);
}

uint64_t eng_imgstore_decoded(const eng_imgstore *s)
{
	return s->decoded;
}

uint64_t eng_imgstore_refreshed(const eng_imgstore *s)
{
	return s->refreshed;
}

/* Encodes src (th, tw, 3) as the thumbnail JPEG (quality 75, 4:2:0) into j->jpg with
 * libjpeg-turbo (several times faster than stb_image_write, which cost a third of indexing a
 * 640x480 JPEG). 0, or -1 when out of memory or the encoder fails. */
static int encode_jpeg(tjob *j, const uint8_t *src, int tw, int th)
{
	unsigned long cap = tjBufSize(tw, th, TJSAMP_420);
	if (cap == (unsigned long)-1)
		return -1;
	if (j->jpg_cap < cap) {
		uint8_t *nb = realloc(j->jpg, cap);
		if (!nb)
			return -1;
		j->jpg = nb;
		j->jpg_cap = cap;
	}
	tjhandle tj = tjInitCompress();
	if (!tj)
		return -1;
	unsigned char *out = j->jpg;
	unsigned long size = (unsigned long)j->jpg_cap;
	int rc = tjCompress2(tj, src, tw, tw * 3, th, TJPF_RGB, &out, &size, TJSAMP_420, 75,
	                     TJFLAG_NOREALLOC);
	tjDestroy(tj);
	if (rc != 0 || out != j->jpg)
		return -1;
	j->jpg_n = size;
	return 0;
}

/* Area-average downscale: src (h, w, 3) -> dst (th, tw, 3), th <= h, tw <= w. Each output pixel
 * is the mean of the source pixels in its box, so every source pixel is read once; several times
 * cheaper than stbir's filtered resize and good enough for a report thumbnail. */
static void box_resize(const uint8_t *src, int w, int h, uint8_t *dst, int tw, int th,
                       int *xb /* tw + 1 column bounds, scratch */)
{
	for (int tx = 0; tx <= tw; tx++)
		xb[tx] = (int)((long long)tx * w / tw);
	for (int ty = 0; ty < th; ty++) {
		int y0 = (int)((long long)ty * h / th), y1 = (int)((long long)(ty + 1) * h / th);
		y1 = y1 > y0 ? y1 : y0 + 1;
		for (int tx = 0; tx < tw; tx++) {
			int x0 = xb[tx], x1 = xb[tx + 1] > x0 ? xb[tx + 1] : x0 + 1;
			uint32_t sum[3] = {0, 0, 0};
			for (int y = y0; y < y1; y++) {
				const uint8_t *p = src + ((size_t)y * w + x0) * 3;
				for (int x = x0; x < x1; x++, p += 3) {
					sum[0] += p[0];
					sum[1] += p[1];
					sum[2] += p[2];
				}
			}
			uint32_t n = (uint32_t)((y1 - y0) * (x1 - x0));
			uint8_t *d = dst + ((size_t)ty * tw + tx) * 3;
			for (int c = 0; c < 3; c++)
				d[c] = (uint8_t)((sum[c] + n / 2) / n);
		}
	}
}

/* Thumbnail JPEG and feature vector of job j; frees its pixels. */
static void make_thumb(tjob *j)
{
	int w = j->px.w, h = j->px.h, side = w > h ? w : h, tw = w, th = h;
	uint8_t *small = NULL;
	const uint8_t *src = j->px.rgb;
	j->jpg_n = 0;
	j->oom = 0;
	eng_imgfeat_compute(j->px.rgb, w, h, j->feat);
	if (side > ENG_IMAGE_THUMB_SIDE) {
		tw = (int)((long long)w * ENG_IMAGE_THUMB_SIDE / side);
		th = (int)((long long)h * ENG_IMAGE_THUMB_SIDE / side);
		tw = tw < 1 ? 1 : tw;
		th = th < 1 ? 1 : th;
		int xb[ENG_IMAGE_THUMB_SIDE + 1];
		if (!(small = malloc((size_t)tw * (size_t)th * 3))) {
			j->oom = 1;
			goto out;
		}
		box_resize(j->px.rgb, w, h, small, tw, th, xb);
		src = small;
	}
	if (encode_jpeg(j, src, tw, th))
		j->oom = 1;
out:
	free(small);
	free(j->px.rgb); /* the sizes and format stay: the row is inserted after this */
	j->px.rgb = NULL;
}

/* Runs job j (on a worker, or on the main thread while it waits for j). */
static void run_job(eng_imgstore *s, tjob *j)
{
	if (j->kind == JOB_FULL) {
		j->rejected =
		    eng_image_decode(j->data, j->n, j->source, s->max_pixels, 0, &j->px, &j->rej);
		if (j->rejected)
			return;
	}
	make_thumb(j);
}

/* The oldest queued job, or NULL; called with mu held. */
static tjob *oldest_queued(eng_imgstore *s)
{
	tjob *best = NULL;
	for (int i = 0; i < NJ; i++)
		if (s->jobs[i].state == S_QUEUED && (!best || s->jobs[i].seq < best->seq))
			best = &s->jobs[i];
	return best;
}

static void *worker_main(void *arg)
{
	eng_imgstore *s = arg;
	pthread_mutex_lock(&s->mu);
	for (;;) {
		tjob *j;
		while (!(j = oldest_queued(s)) && !s->stop)
			pthread_cond_wait(&s->cv, &s->mu);
		if (s->stop)
			break;
		j->state = S_RUNNING;
		pthread_mutex_unlock(&s->mu);
		run_job(s, j);
		pthread_mutex_lock(&s->mu);
		j->state = S_DONE;
		pthread_cond_broadcast(&s->cv);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* Waits until j is done, running it here when no worker has taken it yet. */
static void wait_job(eng_imgstore *s, tjob *j)
{
	pthread_mutex_lock(&s->mu);
	while (j->state != S_DONE) {
		if (j->state == S_QUEUED) {
			j->state = S_RUNNING;
			pthread_mutex_unlock(&s->mu);
			run_job(s, j);
			pthread_mutex_lock(&s->mu);
			j->state = S_DONE;
			pthread_cond_broadcast(&s->cv);
		} else {
			pthread_cond_wait(&s->cv, &s->mu);
		}
	}
	pthread_mutex_unlock(&s->mu);
}

static void release(eng_imgstore *s, tjob *j)
{
	pthread_mutex_lock(&s->mu);
	j->state = S_FREE;
	pthread_mutex_unlock(&s->mu);
}

static void submit(eng_imgstore *s, tjob *j)
{
	pthread_mutex_lock(&s->mu);
	j->seq = s->seq++;
	j->state = S_QUEUED;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* Writes j's thumbnail and features to images row id. */
static int store_thumb(eng_imgstore *s, int64_t id, tjob *j, eng_err *err)
{
	if (j->oom)
		return eng_err_set(err, ENG_ENOMEM, "out of memory making a thumbnail");
	sqlite3_stmt *st = s->finish;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_blob(st, 2, j->jpg, (int)j->jpg_n, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, j->feat, eng_imgfeat_dim() * (int)sizeof(float), SQLITE_STATIC);
	sqlite3_bind_int(st, 4, eng_imgfeat_dim());
	sqlite3_bind_int(st, 5, ENG_IMGFEAT_VERSION);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : eng_ws_fail(s->ws, err, "store thumbnail");
}

/* Writes back the finished thumbnail jobs: all of them when wait, else those already done. */
static int collect(eng_imgstore *s, int wait, eng_err *err)
{
	for (int i = 0; i < NT; i++) {
		tjob *j = &s->jobs[i];
		pthread_mutex_lock(&s->mu);
		int st = j->state;
		pthread_mutex_unlock(&s->mu);
		if (st == S_FREE || (!wait && st != S_DONE))
			continue;
		wait_job(s, j);
		release(s, j);
		int rc = store_thumb(s, j->id, j, err);
		if (rc)
			return rc;
	}
	return 0;
}

int eng_imgstore_flush(eng_imgstore *s, eng_err *err)
{
	return collect(s, 1, err);
}

/* Inserts the images row of a new image; 0 with *id or a negative code. */
static int insert_row(eng_imgstore *s, const char *hex, int w, int h, const char *fmt, size_t n,
                      const char *source, int64_t *id, eng_err *err)
{
	sqlite3_stmt *st = s->insert;
	sqlite3_bind_text(st, 1, hex, 64, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, w);
	sqlite3_bind_int(st, 3, h);
	sqlite3_bind_text(st, 4, fmt, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)n);
	sqlite3_bind_text(st, 6, source, -1, SQLITE_STATIC);
	/* the features follow in the same transaction (eng_imgstore_flush before the commit): a
	 * twin under another name meanwhile must not count as stale */
	sqlite3_bind_int(st, 7, ENG_IMGFEAT_VERSION);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return eng_ws_fail(s->ws, err, "store image");
	*id = sqlite3_last_insert_rowid(eng_ws_db(s->ws));
	return 0;
}

/* 1 with *id when an image hashed hex is stored with features of this version, 3 when stored
 * with features of another version (or none: made before ENG_IMGFEAT_VERSION; they are
 * recomputed from these bytes), 0 when not stored, or a negative code. */
static int find_hex(eng_imgstore *s, const char *hex, int64_t *id, eng_err *err)
{
	sqlite3_reset(s->find);
	sqlite3_bind_text(s->find, 1, hex, 64, SQLITE_STATIC);
	int rc = sqlite3_step(s->find);
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(s->find, 0);
		if (sqlite3_column_int(s->find, 1) != ENG_IMGFEAT_VERSION) {
			sqlite3_reset(s->find);
			return 3;
		}
	}
	sqlite3_reset(s->find);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : eng_ws_fail(s->ws, err, "find image");
}

/* eng_imgstore_put once data's hash is known: decodes here, makes the thumbnail on a worker. */
static int put_hashed(eng_imgstore *s, const uint8_t *data, size_t n, const char *hex,
                      const char *source, int64_t *id, int *is_new, eng_rec_error *rerr,
                      eng_err *err)
{
	int rc;
	eng_image_pixels px;
	*is_new = 0;
	int found = find_hex(s, hex, id, err);
	if (found < 0 || found == 1)
		return found < 0 ? found : 0;
	if ((rc = eng_image_decode(data, n, source, s->max_pixels, 0, &px, rerr)))
		return rc < 0 ? eng_err_set(err, rc, "out of memory decoding '%s'", source) : 1;
	s->decoded++;
	if (found == 3) {
		s->refreshed++; /* stored with stale features: recomputed into the same row */
	} else if ((rc = insert_row(s, hex, px.width, px.height, px.format, n, source, id, err))) {
		eng_image_pixels_free(&px);
		return rc;
	}
	/* hand the pixels to a worker: a free thumbnail slot, writing back what is finished */
	tjob *j = NULL;
	while (!j) {
		if ((rc = collect(s, 0, err))) {
			eng_image_pixels_free(&px);
			return rc;
		}
		pthread_mutex_lock(&s->mu);
		for (int i = 0; i < NT && !j; i++)
			if (s->jobs[i].state == S_FREE)
				j = &s->jobs[i];
		if (!j) {
			int done = 0;
			for (int i = 0; i < NT; i++)
				done |= s->jobs[i].state == S_DONE;
			if (!done)
				pthread_cond_wait(&s->cv, &s->mu);
		}
		pthread_mutex_unlock(&s->mu);
	}
	j->kind = JOB_THUMB;
	j->id = *id;
	j->px = px;
	submit(s, j);
	*is_new = found != 3;
	return 0;
}

int eng_imgstore_put(eng_imgstore *s, const uint8_t *data, size_t n, const char *source,
                     int64_t *id, int *is_new, eng_rec_error *rerr, eng_err *err)
{
	char hex[ENG_SHA256_HEX_LEN];
	eng_sha256_hex_of(data, n, hex);
	return put_hashed(s, data, n, hex, source, id, is_new, rerr, err);
}

/* ---- read-ahead ---- */

static pref *pref_find(eng_imgstore *s, const char *source)
{
	for (int i = 0; i < NP; i++)
		if (s->pre[i].source && !strcmp(s->pre[i].source, source))
			return &s->pre[i];
	return NULL;
}

int eng_imgstore_prefetch_room(const eng_imgstore *s)
{
	for (int i = 0; i < NP; i++)
		if (!s->pre[i].source)
			return 1;
	return 0;
}

int eng_imgstore_prefetched(eng_imgstore *s, const char *source)
{
	return pref_find(s, source) != NULL;
}

int eng_imgstore_prefetch(eng_imgstore *s, const char *source, uint8_t *data, size_t n,
                          eng_err *err)
{
	pref *e = NULL;
	for (int i = 0; i < NP && !e; i++)
		if (!s->pre[i].source)
			e = &s->pre[i];
	if (!e || pref_find(s, source)) {
		free(data);
		return 0;
	}
	if (!(e->source = strdup(source))) {
		free(data);
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	}
	e->data = data;
	e->n = n;
	e->job = -1;
	eng_sha256_hex_of(data, n, e->hex);
	int64_t id;
	int rc = find_hex(s, e->hex, &id, err);
	if (rc < 0 || rc == 1)
		return rc < 0 ? rc : 0; /* stored already: nothing to decode */
	for (int i = 0; i < NP; i++)
		if (&s->pre[i] != e && s->pre[i].source && s->pre[i].job >= 0 &&
		    !strcmp(s->pre[i].hex, e->hex))
			return 0; /* the same bytes are being decoded for another source */
	int k = (int)(e - s->pre);
	tjob *j = &s->jobs[NT + k];
	j->kind = JOB_FULL;
	j->data = e->data;
	j->n = n;
	j->source = e->source;
	j->rejected = 0;
	e->job = NT + k;
	submit(s, j);
	return 0;
}

int eng_imgstore_put_source(eng_imgstore *s, const char *source, int64_t *id, int *is_new,
                            eng_rec_error *rerr, eng_err *err)
{
	pref *e = pref_find(s, source);
	if (!e)
		return 2;
	int rc = 0;
	*is_new = 0;
	tjob *j = e->job >= 0 ? &s->jobs[e->job] : NULL;
	if (j)
		wait_job(s, j);
	int found = find_hex(s, e->hex, id, err);
	if (found < 0) {
		rc = found;
	} else if (found == 1) {
		rc = 0;
	} else if (!j) { /* its twin under another source was refused: check it under this name */
		rc = put_hashed(s, e->data, e->n, e->hex, source, id, is_new, rerr, err);
	} else if (j->rejected < 0) {
		rc = eng_err_set(err, j->rejected, "out of memory decoding '%s'", source);
	} else if (j->rejected) {
		*rerr = j->rej;
		rc = 1;
	} else {
		s->decoded++;
		if (found == 3) /* stored with stale features: recomputed into the same row */
			s->refreshed++;
		else
			rc = insert_row(s, e->hex, j->px.width, j->px.height, j->px.format, e->n,
			                source, id, err);
		if (!rc)
			rc = store_thumb(s, *id, j, err);
		*is_new = rc == 0 && found != 3;
	}
	if (j)
		release(s, j);
	free(e->source);
	free(e->data);
	memset(e, 0, sizeof *e);
	return rc;
}
