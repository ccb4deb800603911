/* archive.c - image archives (tar, zip, 7z, cpio, rar; any compression) streamed once in place
 * with libarchive: members wanted by name are read into memory and handed to a callback, unsafe
 * ones (links, devices, escaping names, oversized) refused with a reason. Never extracts or writes
 * to disk; does not decode or store the images (imgstore.c). */
#include "images.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
