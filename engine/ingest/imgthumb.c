/* imgthumb.c - what the image pass keeps of a decoded image: its eng_imgfeat feature vector and a
 * <= ENG_IMAGE_THUMB_SIDE px JPEG thumbnail (area-average downscale, libjpeg-turbo). Pure work on
 * one image's pixels, safe on any thread; does not decode (imgdecode.c), schedule (imgstore.c) or
 * touch the database. */
#include "images_internal.h"

#include <stdlib.h>

#include <turbojpeg.h>

#include "imgfeat.h"
#include "neardup.h"

/* Encodes src (th, tw, 3) as the thumbnail JPEG (quality 75, 4:2:0) into t->jpg with
 * libjpeg-turbo (several times faster than stb_image_write, which cost a third of indexing a
 * 640x480 JPEG). 0, or -1 when out of memory or the encoder fails. */
static int encode_jpeg(eng_thumb *t, const uint8_t *src, int tw, int th)
{
	unsigned long cap = tjBufSize(tw, th, TJSAMP_420);
	if (cap == (unsigned long)-1)
		return -1;
	if (t->jpg_cap < cap) {
		uint8_t *nb = realloc(t->jpg, cap);
		if (!nb)
			return -1;
		t->jpg = nb;
		t->jpg_cap = cap;
	}
	tjhandle tj = tjInitCompress();
	if (!tj)
		return -1;
	unsigned char *out = t->jpg;
	unsigned long size = (unsigned long)t->jpg_cap;
	int rc = tjCompress2(tj, src, tw, tw * 3, th, TJPF_RGB, &out, &size, TJSAMP_420, 75,
	                     TJFLAG_NOREALLOC);
	tjDestroy(tj);
	if (rc != 0 || out != t->jpg)
		return -1;
	t->jpg_n = size;
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

void eng_thumb_make(eng_image_pixels *px, eng_thumb *t)
{
	int w = px->w, h = px->h, side = w > h ? w : h, tw = w, th = h;
	uint8_t *small = NULL;
	const uint8_t *src = px->rgb;
	t->jpg_n = 0;
	t->oom = 0;
	eng_imgfeat_compute(px->rgb, w, h, t->feat);
	if (side > ENG_IMAGE_THUMB_SIDE) {
		tw = (int)((long long)w * ENG_IMAGE_THUMB_SIDE / side);
		th = (int)((long long)h * ENG_IMAGE_THUMB_SIDE / side);
		tw = tw < 1 ? 1 : tw;
		th = th < 1 ? 1 : th;
		int xb[ENG_IMAGE_THUMB_SIDE + 1];
		if (!(small = malloc((size_t)tw * (size_t)th * 3))) {
			t->oom = 1;
			goto out;
		}
		box_resize(px->rgb, w, h, small, tw, th, xb);
		src = small;
	}
	/* hashed from the pixels the JPEG is made of, here on the worker: decoding the stored JPEG
	 * for it afterwards (eng_neardup_fill, one thread) cost a fifth of indexing a 640x480 JPEG
	 */
	eng_phash_rgb(src, tw, th, &t->phash, &t->mean_rgb);
	if (encode_jpeg(t, src, tw, th))
		t->oom = 1;
out:
	free(small);
	free(px->rgb); /* the sizes and format stay: the row is inserted after this */
	px->rgb = NULL;
}
