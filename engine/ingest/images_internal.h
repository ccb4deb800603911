/* images_internal.h - what imgstore.c (the store and its worker threads) shares with imgthumb.c
 * (thumbnail and features of one decoded image). Not a public interface. */
#ifndef ENG_IMAGES_INTERNAL_H
#define ENG_IMAGES_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "imgdecode.h"
#include "images.h"

/* One image's thumbnail and features; the buffers are reused from image to image. */
typedef struct eng_thumb {
	uint8_t *jpg; /* the thumbnail JPEG, jpg_n bytes of jpg_cap */
	size_t jpg_n, jpg_cap;
	float *feat; /* eng_imgfeat_dim() floats, allocated by the owner */
	uint64_t
	    phash; /* the perceptual hash and mean colour of the thumbnail's pixels (neardup.h) */
	uint32_t mean_rgb;
	int oom; /* 1 when the thumbnail could not be made (out of memory, encoder failure) */
} eng_thumb;

/* Features of px into t->feat, its thumbnail JPEG into t->jpg and the thumbnail's perceptual hash
 * into t->phash, t->mean_rgb (t->oom set on failure); frees
 * px->rgb and leaves its sizes and format. Touches nothing else: safe on any thread. */
void eng_thumb_make(eng_image_pixels *px, eng_thumb *t);

#endif
