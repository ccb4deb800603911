/* test_imgdecode.c - the decoders: DCT-scale choice, features of a downscaled JPEG decode against
 * the full decode (bounded), WEBP (lossy and lossless) against its source pixels, and the checks
 * made before decoding (pixel limit from the header, truncation, animation). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>
#include <stb_image.h>
#include <stb_image_write.h>
#include <webp/encode.h>

#include "images.h"
#include "imgdecode.h"
#include "imgfeat.h"
#include "synth.h"

typedef struct membuf {
	uint8_t *p;
	size_t n, cap;
} membuf;

static void mem_write(void *ctx, void *data, int size)
{
	membuf *m = ctx;
	if (m->n + (size_t)size > m->cap) {
		m->cap = (m->n + (size_t)size) * 2;
		m->p = realloc(m->p, m->cap);
		assert_non_null(m->p);
	}
	memcpy(m->p + m->n, data, (size_t)size);
	m->n += (size_t)size;
}

/* A synth scene (noisy background, shapes) of w x h as a JPEG of the given quality. */
static membuf scene_jpeg(int w, int h, size_t j, int quality)
{
	eng_synth_opts o;
	eng_synth_opts_default(&o);
	o.width = w;
	o.height = h;
	uint8_t *px = malloc((size_t)w * h * 3);
	assert_non_null(px);
	assert_true(eng_synth_draw(&o, j, px) >= 0);
	membuf m = {NULL, 0, 0};
	assert_true(stbi_write_jpg_to_func(mem_write, &m, w, h, 3, px, quality));
	free(px);
	return m;
}

/* The largest of 1/2, 1/4, 1/8 whose size keeps the long side >= 160 px and the short side >= 32
 * px (or the image's own side when smaller). */
static void test_imgdecode_jpeg_scale_choice(void **state)
{
	(void)state;
	assert_int_equal(eng_image_jpeg_scale(640, 480), 4);   /* 160x120 */
	assert_int_equal(eng_image_jpeg_scale(1280, 960), 8);  /* 160x120 */
	assert_int_equal(eng_image_jpeg_scale(1920, 1080), 8); /* 240x135 */
	assert_int_equal(eng_image_jpeg_scale(641, 481), 4);   /* 161x121: ceil */
	assert_int_equal(eng_image_jpeg_scale(639, 479), 4);   /* ceil: 160x120 */
	assert_int_equal(eng_image_jpeg_scale(320, 240), 2);
	assert_int_equal(eng_image_jpeg_scale(159, 100), 1);  /* already below the thumbnail */
	assert_int_equal(eng_image_jpeg_scale(2000, 100), 2); /* short side: 100/4 = 25 < 32 */
	assert_int_equal(eng_image_jpeg_scale(480, 640), 4);  /* portrait: the same rule */
}

/* Features of the 1/4 (640x480), 1/8 (1280x960) and 1/2 (500x375) DCT decode against the full
 * decode of the same JPEG, over 12 scenes: the colour grid within 0.01 and every feature within
 * 0.04 (features are in [0, 1]; the gradient-orientation shares move most, the downscaled decode
 * averages the pixel noise the full one samples), and the whole vector's distance to the full
 * decode under a tenth of the distance between two different scenes of the same size. */
static void test_imgdecode_scaled_features_close_to_full(void **state)
{
	(void)state;
	const int sizes[][2] = {{640, 480}, {1280, 960}, {500, 375}};
	int D = eng_imgfeat_dim();
	float *ff = malloc(sizeof(float) * (size_t)D), *fs = malloc(sizeof(float) * (size_t)D);
	double worst = 0, worst_grid = 0, self_max = 0, cross_min = 1e30;
	int worst_k = -1;
	float *prev = malloc(sizeof(float) * (size_t)D);
	for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
		for (size_t j = 0; j < 4; j++) {
			int w = sizes[s][0], h = sizes[s][1];
			membuf m = scene_jpeg(w, h, j, 90);
			eng_image_pixels full, small;
			eng_rec_error rej;
			assert_int_equal(
			    eng_image_decode(m.p, m.n, "t.jpg", 40000000ULL, 1, &full, &rej), 0);
			assert_int_equal(
			    eng_image_decode(m.p, m.n, "t.jpg", 40000000ULL, 0, &small, &rej), 0);
			assert_int_equal(full.w, w);
			assert_int_equal(full.scale, 1);
			assert_int_equal(small.width, w); /* the stored size is the image's own */
			assert_int_equal(small.height, h);
			assert_int_equal(small.scale, eng_image_jpeg_scale(w, h));
			assert_int_equal(small.w, (w + small.scale - 1) / small.scale);
			assert_true(small.scale >= 2);
			assert_string_equal(small.format, "jpeg");
			eng_imgfeat_compute(full.rgb, full.w, full.h, ff);
			eng_imgfeat_compute(small.rgb, small.w, small.h, fs);
			double self = 0, cross = 0;
			for (int k = 0; k < D; k++) {
				self += ((double)ff[k] - fs[k]) * ((double)ff[k] - fs[k]);
				cross += ((double)ff[k] - prev[k]) * ((double)ff[k] - prev[k]);
			}
			self_max = sqrt(self) > self_max ? sqrt(self) : self_max;
			if (j > 0 && sqrt(cross) < cross_min)
				cross_min = sqrt(cross);
			memcpy(prev, ff, sizeof(float) * (size_t)D);
			for (int k = 0; k < D; k++) {
				double d = fabs((double)ff[k] - fs[k]);
				if (d > worst)
					worst = d, worst_k = k;
				if (k < 48)
					worst_grid = d > worst_grid ? d : worst_grid;
			}
			eng_image_pixels_free(&full);
			eng_image_pixels_free(&small);
			free(m.p);
		}
	}
	print_message("scaled vs full decode: max |feature diff| %.4f at '%s' (colour grid %.4f); "
	              "distance to the full decode <= %.4f, between two scenes >= %.4f\n",
	              worst, eng_imgfeat_name(worst_k), worst_grid, self_max, cross_min);
	assert_true(worst < 0.04);
	assert_true(worst_grid < 0.01);
	assert_true(self_max < 0.1 * cross_min);
	free(prev);
	free(ff);
	free(fs);
}

/* Lossless WEBP decodes to its exact pixels; lossy WEBP to within a small mean error; the size is
 * the image's own. */
static void test_imgdecode_webp_lossless_and_lossy(void **state)
{
	(void)state;
	enum { W = 96, H = 64 };
	uint8_t *px = malloc(W * H * 3);
	for (int i = 0; i < W * H * 3; i++)
		px[i] = (uint8_t)((i * 7) % 251);
	uint8_t *enc = NULL;
	size_t n = WebPEncodeLosslessRGB(px, W, H, W * 3, &enc);
	assert_true(n > 0);
	eng_image_pixels p;
	eng_rec_error rej;
	assert_int_equal(eng_image_decode(enc, n, "a.webp", 40000000ULL, 0, &p, &rej), 0);
	assert_string_equal(p.format, "webp");
	assert_int_equal(p.w, W);
	assert_int_equal(p.h, H);
	assert_int_equal(p.width, W);
	assert_memory_equal(p.rgb, px, W * H * 3);
	eng_image_pixels_free(&p);
	WebPFree(enc);

	for (int y = 0; y < H; y++) /* smooth content for the lossy codec */
		for (int x = 0; x < W; x++)
			for (int c = 0; c < 3; c++)
				px[(y * W + x) * 3 + c] = (uint8_t)(x * 2 + y + c * 40);
	n = WebPEncodeRGB(px, W, H, W * 3, 90, &enc);
	assert_true(n > 0);
	assert_int_equal(eng_image_decode(enc, n, "b.webp", 40000000ULL, 0, &p, &rej), 0);
	double err = 0;
	for (int i = 0; i < W * H * 3; i++)
		err += fabs((double)p.rgb[i] - px[i]);
	err /= W * H * 3;
	print_message("lossy WEBP q90: mean abs error %.2f / 255\n", err);
	assert_true(err < 4.0);
	eng_image_pixels_free(&p);

	/* short data: the RIFF size says more bytes follow -> corrupt-image, "truncated" */
	assert_int_equal(eng_image_decode(enc, n - 10, "c.webp", 40000000ULL, 0, &p, &rej), 1);
	assert_int_equal(rej.code, ENG_REC_CORRUPT_IMAGE);
	assert_non_null(strstr(rej.reason, "truncated"));
	assert_non_null(strstr(rej.reason, "c.webp"));
	assert_null(p.rgb);
	/* over the pixel limit, from the header: image-too-large naming --max-pixels */
	assert_int_equal(eng_image_decode(enc, n, "d.webp", 1000, 0, &p, &rej), 1);
	assert_int_equal(rej.code, ENG_REC_IMAGE_TOO_LARGE);
	assert_non_null(strstr(rej.reason, "96x64"));
	assert_non_null(strstr(rej.reason, "--max-pixels"));
	/* a broken bitstream behind a valid header */
	uint8_t *bad = malloc(n);
	memcpy(bad, enc, n);
	memset(bad + 30, 0xAB, n - 40);
	int rc = eng_image_decode(bad, n, "e.webp", 40000000ULL, 0, &p, &rej);
	if (rc == 0) /* the VP8 stream may still decode to something: then it is a full image */
		assert_int_equal(p.w, W);
	else
		assert_int_equal(rej.code, ENG_REC_CORRUPT_IMAGE);
	eng_image_pixels_free(&p);
	free(bad);
	WebPFree(enc);
	free(px);
}

/* A JPEG over the pixel limit is refused from its header (the message names the size and the
 * flag); a JPEG cut short is refused as truncated; garbage after SOI is corrupt. */
static void test_imgdecode_jpeg_checks_before_decode(void **state)
{
	(void)state;
	membuf m = scene_jpeg(640, 480, 1, 80);
	eng_image_pixels p;
	eng_rec_error rej;
	assert_int_equal(eng_image_decode(m.p, m.n, "big.jpg", 640 * 480 - 1, 0, &p, &rej), 1);
	assert_int_equal(rej.code, ENG_REC_IMAGE_TOO_LARGE);
	assert_non_null(strstr(rej.reason, "640x480"));
	assert_non_null(strstr(rej.reason, "--max-pixels"));
	assert_null(p.rgb);
	assert_int_equal(eng_image_decode(m.p, m.n - 300, "cut.jpg", 40000000ULL, 0, &p, &rej), 1);
	assert_int_equal(rej.code, ENG_REC_CORRUPT_IMAGE);
	assert_non_null(strstr(rej.reason, "truncated"));
	static const uint8_t junk[] = {0xFF, 0xD8, 0xFF, 0xE0, 'j', 'u', 'n', 'k', 0xFF, 0xD9};
	assert_int_equal(eng_image_decode(junk, sizeof junk, "junk.jpg", 40000000ULL, 0, &p, &rej),
	                 1);
	assert_int_equal(rej.code, ENG_REC_CORRUPT_IMAGE);
	assert_non_null(strstr(rej.reason, "junk.jpg"));
	free(m.p);
}

static membuf read_corpus(const char *name)
{
	char path[512];
	snprintf(path, sizeof path, "%s/tests/fuzz/corpus/image/%s", MM_SOURCE_ROOT, name);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	membuf m = {malloc(1 << 16), 0, 1 << 16};
	m.n = fread(m.p, 1, m.cap, f);
	fclose(f);
	return m;
}

/* Real encoder output (python3-pil, in the fuzz corpus): a progressive JPEG decodes at its DCT
 * scale, a CMYK JPEG at full size (TurboJPEG's CMYK, converted here),
 * lossy and lossless WEBP at their size, a WEBP cut short is refused as truncated. */
static void test_imgdecode_corpus_files(void **state)
{
	(void)state;
	const struct {
		const char *name;
		int rc, w, h, scale;
		const char *format;
	} want[] = {
	    {"progressive.jpg", 0, 200, 150, 1, "jpeg"}, {"scaled.jpg", 0, 400, 300, 2, "jpeg"},
	    {"cmyk.jpg", 0, 32, 32, 1, "jpeg"},          {"small.webp", 0, 40, 30, 1, "webp"},
	    {"lossless.webp", 0, 24, 16, 1, "webp"},     {"truncated.webp", 1, 0, 0, 0, NULL}};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		membuf m = read_corpus(want[i].name);
		eng_image_pixels p;
		eng_rec_error rej;
		int rc = eng_image_decode(m.p, m.n, want[i].name, 40000000ULL, 0, &p, &rej);
		if (rc != want[i].rc)
			fail_msg("%s: rc %d (%s)", want[i].name, rc, rc ? rej.reason : "");
		if (!rc) {
			assert_int_equal(p.width, want[i].w);
			assert_int_equal(p.height, want[i].h);
			assert_int_equal(p.scale, want[i].scale);
			assert_int_equal(p.w, (want[i].w + p.scale - 1) / p.scale);
			assert_string_equal(p.format, want[i].format);
		} else {
			assert_int_equal(rej.code, ENG_REC_CORRUPT_IMAGE);
		}
		eng_image_pixels_free(&p);
		free(m.p);
	}
}

/* PSD: 3 channels of 4x2 8-bit pixels, raw (comp 0) or PackBits RLE (comp 1: per row a literal
 * run "3, 4 bytes"), with empty colour-mode, resources and layer sections. */
static size_t make_psd(uint8_t *b, int rle)
{
	static const uint8_t head[26] = {'8', 'B', 'P', 'S', 0, 1, 0, 0, 0, 0, 0, 0, 0,
	                                 3,   0,   0,   0,   2, 0, 0, 0, 4, 0, 8, 0, 3};
	size_t n = 0;
	memcpy(b, head, 26);
	n = 26;
	memset(b + n, 0, 12); /* three empty sections */
	n += 12;
	b[n++] = 0;
	b[n++] = (uint8_t)rle;
	if (rle) {
		for (int r = 0; r < 6; r++) /* channels x rows byte counts: 5 bytes per row */
			b[n++] = 0, b[n++] = 5;
		for (int r = 0; r < 6; r++) {
			b[n++] = 3; /* literal run of 4 */
			for (int x = 0; x < 4; x++)
				b[n++] = (uint8_t)(r * 40 + x * 9);
		}
	} else {
		for (int i = 0; i < 3 * 4 * 2; i++)
			b[n++] = (uint8_t)(i * 10);
	}
	return n;
}

/* A 2x2 GIF89a, global colour table of 2, one frame of LZW data (code size 2), trailer. */
static const uint8_t gif2x2[] = {'G', 'I', 'F', '8', '9', 'a', 2,   0,    2,    0, 0x80, 0,
                                 0,   0,   0,   0,   255, 255, 255, 0x2C, 0,    0, 0,    0,
                                 2,   0,   2,   0,   0,   2,   2,   0x8C, 0x2D, 0, 0x3B};

/* Short data is refused before decoding for PSD (raw and RLE: the image data its header and row
 * counts declare must be there) and GIF (every block and sub-block inside the file), with the
 * whole file decoding and every cut of it refused as truncated: never pixels made up by the
 * decoder. */
static void test_imgdecode_psd_gif_short_data(void **state)
{
	(void)state;
	uint8_t b[256];
	eng_image_pixels p = {0};
	eng_rec_error rej;
	for (int rle = 0; rle <= 1; rle++) {
		size_t n = make_psd(b, rle);
		assert_int_equal(eng_image_decode(b, n, "a.psd", 40000000ULL, 0, &p, &rej), 0);
		assert_int_equal(p.w, 4);
		assert_int_equal(p.h, 2);
		assert_int_equal(p.rgb[0], 0);
		assert_int_equal(
		    p.rgb[1], rle ? 80 : 80); /* channel 1 starts at sample 8 (raw), row 2 (RLE) */
		eng_image_pixels_free(&p);
		for (size_t cut = 26; cut < n; cut++) {
			assert_int_equal(
			    eng_image_decode(b, cut, "a.psd", 40000000ULL, 0, &p, &rej), 1);
			assert_int_equal(rej.code, ENG_REC_CORRUPT_IMAGE);
			assert_null(p.rgb);
		}
	}
	/* an RLE row count that claims more bytes than follow */
	size_t n = make_psd(b, 1);
	b[26 + 12 + 2 + 1] = 200;
	assert_int_equal(eng_image_decode(b, n, "b.psd", 40000000ULL, 0, &p, &rej), 1);
	assert_non_null(strstr(rej.reason, "truncated"));

	assert_int_equal(eng_image_decode(gif2x2, sizeof gif2x2, "a.gif", 40000000ULL, 0, &p, &rej),
	                 0);
	assert_int_equal(p.w, 2);
	assert_int_equal(p.h, 2);
	eng_image_pixels_free(&p);
	for (size_t cut = 6; cut < sizeof gif2x2; cut++) {
		assert_int_equal(eng_image_decode(gif2x2, cut, "a.gif", 40000000ULL, 0, &p, &rej),
		                 1);
		assert_null(p.rgb);
	}
	/* a sub-block longer than the file, the file still ending in the trailer byte */
	uint8_t g[sizeof gif2x2];
	memcpy(g, gif2x2, sizeof g);
	g[30] = 40;
	assert_int_equal(eng_image_decode(g, sizeof g, "c.gif", 40000000ULL, 0, &p, &rej), 1);
	assert_non_null(strstr(rej.reason, "truncated"));
}

/* A CMYK JPEG (python3-pil's, Adobe marker) decodes through TurboJPEG, with the pixels stb_image
 * gives for it (the reference: it decoded these before, but reads out of bounds on crafted files),
 * within the two decoders' rounding; the fuzz finding that made stb_image read out of bounds is
 * decoded or refused without it. */
static void test_imgdecode_cmyk_jpeg_without_stb(void **state)
{
	(void)state;
	membuf m = read_corpus("cmyk.jpg");
	eng_image_pixels p;
	eng_rec_error rej;
	assert_int_equal(eng_image_decode(m.p, m.n, "cmyk.jpg", 40000000ULL, 1, &p, &rej), 0);
	int w, h, comp;
	uint8_t *ref = stbi_load_from_memory(m.p, (int)m.n, &w, &h, &comp, 3);
	assert_non_null(ref);
	assert_int_equal(p.w, w);
	assert_int_equal(p.h, h);
	double err = 0;
	int worst = 0;
	for (int i = 0; i < w * h * 3; i++) {
		int e = abs((int)p.rgb[i] - (int)ref[i]);
		err += e;
		worst = e > worst ? e : worst;
	}
	err /= (double)w * h * 3;
	print_message("CMYK JPEG: TurboJPEG vs stb_image mean |diff| %.2f, worst %d / 255\n", err,
	              worst);
	assert_true(err < 2.0 && worst < 40);
	stbi_image_free(ref);
	eng_image_pixels_free(&p);
	free(m.p);
	m = read_corpus("crash-stb-huffman-cmyk.jpg");
	int rc = eng_image_decode(m.p, m.n, "x.jpg", 40000000ULL, 0, &p, &rej);
	assert_true(rc == 0 || (rc == 1 && rej.code == ENG_REC_CORRUPT_IMAGE));
	eng_image_pixels_free(&p);
	free(m.p);
}

/* 16-bit PNM (P5 and P6) is refused as unsupported: stb_image 2.27 reads past its own buffer
 * converting a grayscale one to RGB and takes the low byte of a colour one's big-endian samples.
 * An 8-bit one still decodes. */
static void test_imgdecode_pnm16(void **state)
{
	(void)state;
	uint8_t b[64];
	eng_image_pixels p = {0};
	eng_rec_error rej;
	for (int colour = 0; colour <= 1; colour++) {
		int h = snprintf((char *)b, sizeof b, "P%c\n3 2\n65535\n", colour ? '6' : '5');
		memset(b + h, 0x80, colour ? 36 : 12);
		assert_int_equal(eng_image_decode(b, (size_t)h + (colour ? 36 : 12), "x.pnm",
		                                  40000000ULL, 0, &p, &rej),
		                 1);
		assert_int_equal(rej.code, ENG_REC_UNSUPPORTED_IMAGE);
		assert_non_null(strstr(rej.reason, "16-bit"));
		assert_null(p.rgb);
	}
	int h = snprintf((char *)b, sizeof b, "P6\n3 2\n255\n");
	for (int i = 0; i < 18; i++)
		b[h + i] = (uint8_t)(40 + i);
	assert_int_equal(eng_image_decode(b, (size_t)h + 18, "c.ppm", 40000000ULL, 0, &p, &rej), 0);
	assert_int_equal(p.w, 3);
	assert_int_equal(p.rgb[0], 40);
	eng_image_pixels_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_imgdecode_jpeg_scale_choice),
	    cmocka_unit_test(test_imgdecode_scaled_features_close_to_full),
	    cmocka_unit_test(test_imgdecode_webp_lossless_and_lossy),
	    cmocka_unit_test(test_imgdecode_jpeg_checks_before_decode),
	    cmocka_unit_test(test_imgdecode_corpus_files),
	    cmocka_unit_test(test_imgdecode_psd_gif_short_data),
	    cmocka_unit_test(test_imgdecode_cmyk_jpeg_without_stb),
	    cmocka_unit_test(test_imgdecode_pnm16),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
