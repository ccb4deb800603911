/* images.h - image sources, image archives and the per-workspace image store.
 *
 * Sources: a file path, a `data:image/...;base64,` URI, or members of a tar/tar.gz/zip/... archive
 * read in place with libarchive (streamed once, never extracted). The store keys images by the
 * SHA-256 of their encoded bytes: an image already in the `images` table is reused WITHOUT
 * decoding (unless its features are of an older ENG_IMGFEAT_VERSION: they are then recomputed from
 * the bytes in place); a new one is checked and decoded by imgdecode.h (sniffed, truncation,
 * header size and the pixel limit before decoding; JPEG at a DCT scale, WEBP, stb_image), and
 * stored with its dimensions, a <= 160 px JPEG thumbnail (area-average downscale)
 * and the eng_imgfeat feature vector. Rejections are eng_rec_error values (missing-image,
 * corrupt-image, image-too-large, unsupported-image), not failures.
 *
 * Threads: the source and archive functions keep no state between calls and may run on any
 * thread. An eng_imgstore belongs to the one thread that calls it: it has a two-thread worker
 * pool of its own (pool.h), whose tasks decode the images read ahead (eng_imgstore_prefetch) and
 * make every thumbnail and feature vector, but every database row is read and written on the
 * calling thread, in the order of its calls, so the rows are those of a serial run. Files:
 * imgsource.c (files, data URIs, sniffing), archive.c, imgstore.c (the store, its pool,
 * read-ahead), imgthumb.c. */
#ifndef ENG_IMAGES_H
#define ENG_IMAGES_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "records.h"
#include "workspace.h"

#define ENG_IMAGE_DEFAULT_MAX_PIXELS 40000000ULL         /* 40 MP */
#define ENG_IMAGE_MAX_BYTES          ((size_t)256 << 20) /* encoded size cap: 256 MiB */
#define ENG_IMAGE_THUMB_SIDE         160

/* Sniffs the format from magic bytes: "png", "jpeg", "webp", "gif", "bmp", "pnm", "psd"
 * (decodable, *supported = 1), "tiff", "avif", "heic", "svg", "ico", "jpeg2000" and the video
 * containers "mp4", "mov", "avi", "mkv", "flv" (*supported = 0), or NULL when unknown. Unsupported
 * ones are rejected by eng_imgstore_put as unsupported-image naming the format ("TIFF image: not
 * supported; convert it to PNG/JPEG ..."), never as corrupt. */
const char *eng_image_format(const uint8_t *p, size_t n, int *supported);

/* 1 when the encoded image visibly ends early (PNG without IEND, JPEG without EOI, GIF without
 * trailer, WEBP shorter than its RIFF size); 0 otherwise or for formats without such a check. */
int eng_image_truncated(const char *format, const uint8_t *p, size_t n);

/* Decodes a `data:` URI. Returns 0 with *out (malloc'd, caller frees) and *n, 1 when the URI is
 * rejected (rerr filled), or ENG_ENOMEM. */
int eng_image_data_uri(const char *uri, uint8_t **out, size_t *n, eng_rec_error *rerr);

/* Reads a whole image file (at most ENG_IMAGE_MAX_BYTES). Returns 0 with *out (caller frees), 1
 * when missing/unreadable/too large (rerr filled), or ENG_ENOMEM. */
int eng_image_read_file(const char *path, uint8_t **out, size_t *n, eng_rec_error *rerr);

/* Streams the archive at path once. For each member whose normalised name (no leading "./" or "/")
 * makes want() return non-zero: a regular file is read into memory and passed to got() with
 * refused NULL; a member that may not be read is passed with data NULL and refused saying why
 * (code and a reason naming the member): links (symbolic or hard), devices, FIFOs and sockets,
 * names that are absolute or contain a ".." segment (ENG_REC_UNSAFE_MEMBER), members over
 * ENG_IMAGE_MAX_BYTES (ENG_REC_IMAGE_TOO_LARGE; n = their size). Nothing is ever written to disk.
 * A non-zero return from got() stops the scan and is returned. Returns 0, the callback's code, or
 * ENG_EINPUT when the file is not a readable archive, has more than ENG_ARCHIVE_MAX_MEMBERS members
 * or its members add up to more than ENG_ARCHIVE_MAX_TOTAL_BYTES (err says which). */
#define ENG_ARCHIVE_MAX_MEMBERS     10000000ULL   /* members (of any type) per archive */
#define ENG_ARCHIVE_MAX_TOTAL_BYTES (64ULL << 30) /* sum of member sizes: 64 GiB */
typedef int (*eng_archive_want_fn)(void *ctx, const char *name);
typedef int (*eng_archive_got_fn)(void *ctx, const char *name, const uint8_t *data, size_t n,
                                  const eng_rec_error *refused);
int eng_archive_scan(const char *path, eng_archive_want_fn want, eng_archive_got_fn got, void *ctx,
                     eng_err *err);

/* The same scan over an archive held in memory (data[0..n), not copied); label names it in
 * messages. Used by the fuzz target and tests. */
int eng_archive_scan_memory(const void *data, size_t n, const char *label, eng_archive_want_fn want,
                            eng_archive_got_fn got, void *ctx, eng_err *err);

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

/* Read-ahead, so that images decode on worker threads while the main thread reads on: the caller
 * hands the bytes of an image it will store soon (eng_imgstore_prefetch takes data, a malloc'd
 * buffer, in every case), then stores it with eng_imgstore_put_source in its own order. Rows,
 * ids and rejections are those eng_imgstore_put would give at that point. At most a few images
 * are read ahead: eng_imgstore_prefetch_room says whether another one fits (it is dropped when
 * not). Returns 0 or a negative code. */
int eng_imgstore_prefetch_room(const eng_imgstore *s);
int eng_imgstore_prefetched(eng_imgstore *s, const char *source);
int eng_imgstore_prefetch(eng_imgstore *s, const char *source, uint8_t *data, size_t n,
                          eng_err *err);

/* eng_imgstore_put of the bytes read ahead for source (consumed); 2 when none were. */
int eng_imgstore_put_source(eng_imgstore *s, const char *source, int64_t *id, int *is_new,
                            eng_rec_error *rerr, eng_err *err);

/* Waits for the thumbnails and features still being made and writes them to their rows. Call
 * before committing. Returns 0 or a negative code. */
int eng_imgstore_flush(eng_imgstore *s, eng_err *err);

/* Images decoded by this store so far (each distinct new image once). */
uint64_t eng_imgstore_decoded(const eng_imgstore *s);

/* Of those, images already stored with features of another ENG_IMGFEAT_VERSION whose thumbnail
 * and features were recomputed in place (their row and id are kept). */
uint64_t eng_imgstore_refreshed(const eng_imgstore *s);

#endif
