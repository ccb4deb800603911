/* test_imgfeat.c - the fast one-pass thumbnail against a naive box filter, feature sanity, and the
 * cost of the feature pass next to decoding (printed, not asserted: the machine is shared). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>

#include <cmocka.h>
#include <stb_image.h>
#include <stb_image_write.h>

#include "imgfeat.h"
#include "synth.h"

enum { T = 32, GRID = 4 };

/* Naive reference: thumbnail cell (ty, tx) = mean over columns [tx*w/T, (tx+1)*w/T) of rows y0,
 * y0 + step, ... < y1 of band [ty*h/T, (ty+1)*h/T), step = max(1, band height / 4) (at least one
 * row and column); grid cell = mean of its 8x8 thumbnail cells. */
static void naive_grid(const uint8_t *rgb, int w, int h, double grid[GRID * GRID * 3])
{
	memset(grid, 0, sizeof(double) * GRID * GRID * 3);
	for (int ty = 0; ty < T; ty++) {
		int y0 = (int)((long long)ty * h / T), y1 = (int)((long long)(ty + 1) * h / T);
		if (y1 <= y0)
			y1 = y0 + 1;
		for (int tx = 0; tx < T; tx++) {
			int x0 = (int)((long long)tx * w / T),
			    x1 = (int)((long long)(tx + 1) * w / T);
			if (x1 <= x0)
				x1 = x0 + 1;
			int step = (y1 - y0) / 4 > 1 ? (y1 - y0) / 4 : 1, rows = 0;
			for (int y = y0; y < y1; y += step)
				rows++;
			double s[3] = {0, 0, 0};
			for (int y = y0; y < y1; y += step)
				for (int x = x0; x < x1; x++)
					for (int c = 0; c < 3; c++)
						s[c] += rgb[((size_t)y * w + x) * 3 + c];
			double n = (double)rows * (x1 - x0) * 255.0;
			int g = ((ty / (T / GRID)) * GRID + tx / (T / GRID)) * 3;
			for (int c = 0; c < 3; c++)
				grid[g + c] += s[c] / n / ((T / GRID) * (T / GRID));
		}
	}
}

static void test_imgfeat_fast_thumbnail_matches_naive(void **state)
{
	(void)state;
	const int sizes[][2] = {{640, 480}, {641, 479}, {96, 96},   {33, 17},
	                        {20, 50},   {2100, 40}, {300, 2000}};
	int D = eng_imgfeat_dim();
	float *f = malloc(sizeof(float) * (size_t)D);
	for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
		int w = sizes[s][0], h = sizes[s][1];
		uint8_t *px = malloc((size_t)w * h * 3);
		srand(7 + (unsigned)s);
		for (size_t i = 0; i < (size_t)w * h * 3; i++)
			px[i] = (uint8_t)(rand() & 255);
		double grid[GRID * GRID * 3];
		eng_imgfeat_compute(px, w, h, f);
		naive_grid(px, w, h, grid);
		for (int k = 0; k < GRID * GRID * 3; k++)
			assert_true(fabs(f[k] - grid[k]) < 1e-5);
		for (int k = 0; k < D; k++)
			assert_true(isfinite(f[k]));
		free(px);
	}
	free(f);
}

static void test_imgfeat_colour_histogram_sees_main_colour(void **state)
{
	(void)state;
	/* a flat red image lands in one histogram bin: r3 g0 b0 */
	int w = 64, h = 64, D = eng_imgfeat_dim();
	uint8_t *px = malloc((size_t)w * h * 3);
	for (int i = 0; i < w * h; i++) {
		px[i * 3] = 224;
		px[i * 3 + 1] = 32;
		px[i * 3 + 2] = 32;
	}
	float *f = malloc(sizeof(float) * (size_t)D);
	eng_imgfeat_compute(px, w, h, f);
	int found = 0;
	for (int k = 0; k < D; k++)
		if (!strcmp(eng_imgfeat_name(k), "colour hist r3 g0 b0")) {
			assert_true(fabs(f[k] - 1.0) < 1e-5);
			found = 1;
		}
	assert_true(found);
	free(px);
	free(f);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct membuf {
	unsigned char *p;
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

/* Issue 6: features of a 640x480 image must cost far less than decoding its JPEG. */
/* The orientation bin as the features defined it before the boundary tests: atan2, plus pi when
 * negative, times 8 / pi, floored. */
static int bin_by_atan2(float gx, float gy)
{
	double a = atan2((double)gy, (double)gx);
	if (a < 0)
		a += M_PI;
	int bin = (int)(a / M_PI * 8);
	return bin >= 8 ? 7 : bin;
}

/* The boundary tests give atan2's bin for every gradient: random ones, the differences of
 * luminances the features see (sums of k / 255 weights), the axes, and directions on and next to
 * each bin boundary j pi / 8, where atan2's rounding decides. */
static void test_imgfeat_orientation_bin_is_atan2s(void **state)
{
	(void)state;
	uint64_t st = 12345;
	long n = 0;
	for (int i = 0; i < 2000000; i++, n++) {
		st = st * 6364136223846793005ull + 1442695040888963407ull;
		float gx = (float)((int)(st >> 40 & 0xffff) - 32768) / 32768.0f;
		float gy = (float)((int)(st >> 20 & 0xffff) - 32768) / 32768.0f;
		if (i % 2) { /* luminance-like: 0.299 r + 0.587 g + 0.114 b differences of 1/255
			        steps */
			int k = (int)(st >> 8 & 0xff), m = (int)(st >> 16 & 0xff);
			gx = (0.299f * (float)(k % 7) + 0.587f * (float)(k / 7 % 5) -
			      0.114f * (float)(k % 3)) /
			     255.0f;
			gy = (0.587f * (float)(m % 9) - 0.299f * (float)(m / 9 % 4)) / 255.0f;
		}
		if (gx == 0 && gy == 0)
			continue;
		assert_int_equal(eng_imgfeat_orientation_bin(gx, gy), bin_by_atan2(gx, gy));
	}
	static const float axes[][2] = {{1, 0}, {-1, 0}, {0, 1}, {0, -1}, {1e-30f, 0}, {0, 3}};
	for (size_t i = 0; i < sizeof axes / sizeof axes[0]; i++, n++)
		assert_int_equal(eng_imgfeat_orientation_bin(axes[i][0], axes[i][1]),
		                 bin_by_atan2(axes[i][0], axes[i][1]));
	for (int j = 0; j < 16; j++) /* on and around every boundary, both half-planes */
		for (int e = -40; e <= 40; e++, n++) {
			double a = j * M_PI / 8 + e * 1e-8;
			float gx = (float)cos(a), gy = (float)sin(a);
			float gx2 = nextafterf(gx, 2.0f), gy2 = nextafterf(gy, -2.0f);
			assert_int_equal(eng_imgfeat_orientation_bin(gx, gy), bin_by_atan2(gx, gy));
			assert_int_equal(eng_imgfeat_orientation_bin(gx2, gy2),
			                 bin_by_atan2(gx2, gy2));
			assert_int_equal(eng_imgfeat_orientation_bin(3 * gx, 3 * gy),
			                 bin_by_atan2(3 * gx, 3 * gy));
		}
	print_message("# %ld gradients, every bin as atan2 gives it\n", n);
}

static void test_imgfeat_cost_next_to_decode(void **state)
{
	(void)state;
	eng_synth_opts o;
	eng_synth_opts_default(&o);
	o.width = 640;
	o.height = 480;
	uint8_t *px = malloc(640 * 480 * 3);
	eng_synth_draw(&o, 0, px);
	membuf jpg = {NULL, 0, 0};
	assert_true(stbi_write_jpg_to_func(mem_write, &jpg, 640, 480, 3, px, 90));
	const int reps = 10;
	int D = eng_imgfeat_dim();
	float *f = malloc(sizeof(float) * (size_t)D);
	double t0 = now_s();
	unsigned char *dec = NULL;
	for (int r = 0; r < reps; r++) {
		int w, h, c;
		stbi_image_free(dec);
		dec = stbi_load_from_memory(jpg.p, (int)jpg.n, &w, &h, &c, 3);
		assert_non_null(dec);
	}
	double t1 = now_s();
	for (int r = 0; r < reps; r++)
		eng_imgfeat_compute(dec, 640, 480, f);
	double t2 = now_s();
	print_message("640x480: decode %.2f ms, features %.3f ms (%.1f%% of decode)\n",
	              (t1 - t0) * 1e3 / reps, (t2 - t1) * 1e3 / reps, 100 * (t2 - t1) / (t1 - t0));
	stbi_image_free(dec);
	free(jpg.p);
	free(px);
	free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_imgfeat_fast_thumbnail_matches_naive),
	    cmocka_unit_test(test_imgfeat_colour_histogram_sees_main_colour),
	    cmocka_unit_test(test_imgfeat_cost_next_to_decode),
	    cmocka_unit_test(test_imgfeat_orientation_bin_is_atan2s),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
