/* images.h - image sources and the per-workspace image store.
 *
 * Sources: a file path, a `data:image/...;base64,` URI, or members of a tar/tar.gz/zip/... archive
 * read in place with libarchive (streamed once, never extracted). The store keys images by the
 * SHA-256 of their encoded bytes: an image already in the `images` table is reused WITHOUT
 * decoding; a new one is sniffed (magic bytes), checked for truncation (PNG IEND chunk, JPEG EOI
 * marker, GIF trailer), measured with stbi_info (pixel limit enforced before decoding), decoded
 * once to RGB, and stored with its dimensions, a <= 160 px JPEG thumbnail (area-average downscale)
 * and the eng_imgfeat feature vector. Rejections are eng_rec_error values (missing-image,
 * corrupt-image, image-too-large, unsupported-image), not failures. Not thread-safe (stb keeps a
 * global failure reason). */
#ifndef ENG_IMAGES_H
#define ENG_IMAGES_H

#include <stddef.h>
#include <stdint.h>

#include "engine/err.h"
#include "engine/records.h"
#include "engine/workspace.h"

#define ENG_IMAGE_DEFAULT_MAX_PIXELS 40000000ULL         /* 40 MP */
#define ENG_IMAGE_MAX_BYTES          ((size_t)256 << 20) /* encoded size cap: 256 MiB */
#define ENG_IMAGE_THUMB_SIDE         160

/* Sniffs the format from magic bytes: "png", "jpeg", "gif", "bmp", "pnm", "psd" (decodable,
 * *supported = 1), "webp", "tiff", "avif", "heic", "svg", "ico", "jpeg2000" and the video
 * containers "mp4", "mov", "avi", "mkv", "flv" (*supported = 0), or NULL when unknown. Unsupported
 * ones are rejected by eng_imgstore_put as unsupported-image naming the format ("WEBP image: not
 * supported; convert it to PNG/JPEG ..."), never as corrupt. */
const char *eng_image_format(const uint8_t *p, size_t n, int *supported);

/* 1 when the encoded image visibly ends early (PNG without IEND, JPEG without EOI, GIF without
 * trailer); 0 otherwise or for formats without such a check. */
int eng_image_truncated(const char *format, const uint8_t *p, size_t n);

/* Decodes a `data:` URI. Returns 0 with *out (malloc'd, caller frees) and *n, 1 when the URI is
 * rejected (rerr filled), or ENG_ENOMEM. */
int eng_image_data_uri(const char *uri, uint8_t **out, size_t *n, eng_rec_error *rerr);

/* Reads a whole image file (at most ENG_IMAGE_MAX_BYTES). Returns 0 with *out (caller frees), 1
 * when missing/unreadable/too large (rerr filled), or ENG_ENOMEM. */
int eng_image_read_file(const char *path, uint8_t **out, size_t *n, eng_rec_error *rerr);

/* Streams the archive at path once. For each regular member whose normalised name (no leading
 * "./" or "/") makes want() return non-zero, reads it into memory and calls got(); a non-zero
 * return from got() stops the scan and is returned. Members over ENG_IMAGE_MAX_BYTES are passed
 * with data NULL and n = their size. Returns 0, the callback's code, or ENG_EINPUT when the file
 * is not a readable archive (err says which). */
typedef int (*eng_archive_want_fn)(void *ctx, const char *name);
typedef int (*eng_archive_got_fn)(void *ctx, const char *name, const uint8_t *data, size_t n);
int eng_archive_scan(const char *path, eng_archive_want_fn want, eng_archive_got_fn got, void *ctx,
                     eng_err *err);

/* 0 when path opens as an image archive (tar, zip, 7z, cpio, rar; any compression), else ENG_EINPUT
 * with a message naming it. */
int eng_archive_check(const char *path, eng_err *err);

/* Normalises a member name or relative reference in place ("./a//b.png" -> "a/b.png"). */
void eng_archive_normalize(char *name);

typedef struct eng_imgstore eng_imgstore;

/* Store on ws (statements prepared now). max_pixels 0 = ENG_IMAGE_DEFAULT_MAX_PIXELS. */
int eng_imgstore_new(eng_ws *ws, uint64_t max_pixels, eng_imgstore **out, eng_err *err);
void eng_imgstore_free(eng_imgstore *s);

/* Stores data[0..n) (source: where it came from, kept on first insert). Returns 0 with *id and
 * *is_new, 1 when the image is rejected (rerr filled), or a negative code (database, memory). */
int eng_imgstore_put(eng_imgstore *s, const uint8_t *data, size_t n, const char *source,
                     int64_t *id, int *is_new, eng_rec_error *rerr, eng_err *err);

/* Waits for the thumbnails and features still being made and writes them to their rows. Call
 * before committing. Returns 0 or a negative code. */
int eng_imgstore_flush(eng_imgstore *s, eng_err *err);

/* Images decoded by this store so far (each distinct new image once). */
uint64_t eng_imgstore_decoded(const eng_imgstore *s);

#endif
