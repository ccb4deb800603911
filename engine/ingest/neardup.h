/* neardup.h - near-duplicate images by a perceptual hash of the thumbnail.
 *
 * Hash (pHash, Zauner 2010 "Implementation and Benchmarking of Perceptual Image Hash Functions"):
 * the thumbnail's luminance (Rec. 601) box-resampled to 32x32, its 2-D DCT-II, the 8x8
 * lowest-frequency coefficients; bit 8u+v is set when coefficient (u, v) is above the median of
 * the 63 non-DC ones (bit 0, the DC term, is always 0). An image without structure (luminance
 * standard deviation below 2/255) hashes to 0, and colour alone tells such images apart. Two
 * different images are near duplicates when their hashes differ in at most max_distance bits AND
 * their mean colours differ by at most ENG_NEARDUP_RGB_TOL in every channel (so a flat red and a
 * flat blue picture, whose luminance hashes agree, are not). Re-encoding and resizing keep the
 * hash within a few bits; a different picture differs in ~32.
 *
 * Hashes are cached in images.phash / images.mean_rgb (schemas/0005_integrity.sql). The index
 * stores them with the thumbnail, hashed from the thumbnail's pixels before JPEG encoding
 * (imgthumb.c, on the image workers); eng_neardup_fill hashes the stored JPEG thumbnail of images
 * that have none (workspaces indexed before this); eng_neardup_find computes in memory the ones
 * still missing (read-only callers such as reports). The two hashes of one thumbnail differ by
 * its JPEG noise, a bit or two, well inside the default distance. Does not print. */
#ifndef ENG_NEARDUP_H
#define ENG_NEARDUP_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "workspace.h"

#define ENG_NEARDUP_DEFAULT_DISTANCE 8 /* bits of 64 */
#define ENG_NEARDUP_MAX_DISTANCE     16
#define ENG_NEARDUP_RGB_TOL          32 /* of 255, per channel */

/* The hash and mean colour (0xRRGGBB) of an RGB image (w, h, 3 bytes per pixel, row-major). */
void eng_phash_rgb(const uint8_t *rgb, int w, int h, uint64_t *hash, uint32_t *mean_rgb);

/* The same of an encoded image (the stored JPEG thumbnail). -1 when it does not decode. */
int eng_phash_encoded(const uint8_t *data, size_t n, uint64_t *hash, uint32_t *mean_rgb);

/* Hamming distance of two hashes. */
int eng_phash_distance(uint64_t a, uint64_t b);

/* Computes and stores the hash of every image with a thumbnail and no hash yet. Returns 0 (and
 * *filled when not NULL), or a database error code. Images whose thumbnail does not decode keep
 * NULL. */
int eng_neardup_fill(eng_ws *ws, int64_t *filled, eng_err *err);

typedef struct eng_neardup_pair {
	int64_t image_a, image_b; /* images.id, image_a <= image_b (equal: the same image) */
	int64_t ds_a, ds_b;       /* datasets using them: ds_a uses image_a, ds_b uses image_b */
	int distance;             /* Hamming distance of the hashes (0 for the same image) */
} eng_neardup_pair;

typedef struct eng_neardup {
	eng_neardup_pair *pairs; /* (n), by ds_a, ds_b, image_a, image_b */
	size_t n;
	int64_t images;   /* distinct images used by some pair and hashed */
	int truncated;    /* 1: the comparison budget ran out (listing incomplete) */
	int max_distance; /* as asked */
} eng_neardup;

/* Finds every near-duplicate image pair used by pairs of the workspace: within a dataset (two
 * different images of ds_a = ds_b), and across datasets (ds_a < ds_b; the same image used by both
 * counts with distance 0). Candidates come from multi-index hashing (the 64 bits in max_distance +
 * 1 blocks: two hashes within the distance agree exactly on at least one block), so the work grows
 * with the number of near matches, not with images squared; it stops after ~2e8 comparisons with
 * truncated = 1. max_distance in 0..ENG_NEARDUP_MAX_DISTANCE. Returns 0 (*out filled, release with
 * eng_neardup_clear), ENG_EINPUT for a bad distance, ENG_ENOMEM or a database error code. */
int eng_neardup_find(eng_ws *ws, int max_distance, eng_neardup *out, eng_err *err);

/* Frees what *x owns; accepts NULL. */
void eng_neardup_clear(eng_neardup *x);

#endif
