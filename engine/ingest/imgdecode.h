/* imgdecode.h - encoded image bytes -> checked RGB pixels, as small as the features need.
 *
 * Decoders: JPEG through libjpeg-turbo (TurboJPEG API) with DCT-domain downscaling, WEBP through
 * libwebp (still images; animated ones are refused), PNG, GIF, BMP, PNM and PSD through stb_image.
 * Before any decoding the bytes are sniffed (eng_image_format), checked for truncation and for
 * header values stb_image would mishandle, and measured from their header: an image over the pixel
 * limit is refused before a single pixel is allocated. Refusals are eng_rec_error values
 * (corrupt-image, image-too-large, unsupported-image), never failures. Thread-safe (each call
 * owns its decoder state). Does not hash, store or make thumbnails (imgstore.c, imgthumb.c do). */
#ifndef ENG_IMGDECODE_H
#define ENG_IMGDECODE_H

#include <stddef.h>
#include <stdint.h>

#include "records.h"

/* Decoded pixels. rgb is (h, w, 3) row-major, malloc'd (free with eng_image_pixels_free). width,
 * height are the image's own size (stored in the images table); w, h the decoded size, smaller for
 * a JPEG decoded at 1/scale (scale 1, 2, 4 or 8). */
typedef struct eng_image_pixels {
	uint8_t *rgb;
	int w, h;
	int width, height;
	int scale;
	const char *format; /* static: "jpeg", "webp", "png", ... */
} eng_image_pixels;

/* The smallest decoded size the features and thumbnails need: the long side must stay >= the
 * report thumbnail (ENG_IMAGE_THUMB_SIDE, 160 px) and the short side >= the feature thumbnail
 * (ENG_IMGFEAT_SIDE, 32 px), or the image's own side when it is smaller. Returns the largest
 * denominator d in {1, 2, 4, 8} whose 1/d scale (ceil(side / d), as libjpeg-turbo scales) meets
 * both, for an image of width x height. */
int eng_image_jpeg_scale(int width, int height);

/* Checks and decodes data[0..n) (source names it in messages). full = 1 decodes JPEGs at full size
 * (for tests and comparisons); 0 at eng_image_jpeg_scale. Returns 0 with *px filled, 1 when the
 * image is refused (rerr: code and a sentence naming source and what to do), or ENG_ENOMEM. */
int eng_image_decode(const uint8_t *data, size_t n, const char *source, uint64_t max_pixels,
                     int full, eng_image_pixels *px, eng_rec_error *rerr);

/* Frees px->rgb and zeroes px; accepts NULL. */
void eng_image_pixels_free(eng_image_pixels *px);

#endif
