/* imgfeat.c - built-in image features: pixels -> 32x32 box-filtered thumbnail (rows sampled) ->
 * colour layout grid (4x4 cells x mean RGB), joint colour histogram (4x4x4 bins),
 * gradient-orientation histogram (8 bins, magnitude-weighted) and brightness mean/std/contrast. No
 * decoding, no standardization.
 */
#include "imgfeat.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

enum {
	T = ENG_IMGFEAT_SIDE,
	GRID = 4,
	NGRID = GRID * GRID * 3,
	HB = 4,
	NHIST = HB * HB * HB,
	NORI = 8,
	NBRI = 3
};
enum { DIM = NGRID + NHIST + NORI + NBRI };

int eng_imgfeat_grid_dim(void)
{
	return NGRID;
}

int eng_imgfeat_dim(void)
{
	return DIM;
}

/* Cell (ty, tx) of the thumbnail averages columns [tx*w/T, (tx+1)*w/T) of the sampled rows of
 * band [ty*h/T, (ty+1)*h/T): rows y0, y0 + step, ... with step = max(1, band height / 4), so a
 * band reads at most about 4-7 rows whatever the image height (a large image costs a fraction of
 * its decoding). Bands and column ranges hold at least one pixel (cells overlap when the image is
 * smaller than T). */
static void cell_bounds(int i, int n, int *b, int *e)
{
	*b = (int)((long long)i * n / T);
	*e = (int)((long long)(i + 1) * n / T);
	if (*e <= *b)
		*e = *b + 1;
}

static int row_step(int y0, int y1)
{
	return (y1 - y0) / 4 > 1 ? (y1 - y0) / 4 : 1;
}

static int rows_sampled(int y0, int y1)
{
	return (y1 - y0 + row_step(y0, y1) - 1) / row_step(y0, y1);
}

/* Reference box filter, used for images smaller than the thumbnail. */
static void thumbnail_small(const uint8_t *rgb, int w, int h, float *t)
{
	for (int ty = 0; ty < T; ty++) {
		int y0, y1;
		cell_bounds(ty, h, &y0, &y1);
		for (int tx = 0; tx < T; tx++) {
			int x0, x1;
			cell_bounds(tx, w, &x0, &x1);
			uint64_t s[3] = {0, 0, 0};
			for (int y = y0; y < y1; y += row_step(y0, y1))
				for (int x = x0; x < x1; x++)
					for (int c = 0; c < 3; c++)
						s[c] += rgb[((size_t)y * w + x) * 3 + c];
			double n = (double)rows_sampled(y0, y1) * (x1 - x0) * 255.0;
			for (int c = 0; c < 3; c++)
				t[(ty * T + tx) * 3 + c] = (float)((double)s[c] / n);
		}
	}
}

/* Box-filters rgb (h, w, 3) to a T x T float thumbnail t (T, T, 3) in [0, 1]. For each band of
 * rows, the rows are first summed column by column (contiguous bytes: the compiler vectorizes it),
 * then the column sums are folded into cells. One pass over the pixels in memory order: this must
 * stay far cheaper than decoding the image (issue 6). Same values as thumbnail_small. */
static void thumbnail(const uint8_t *rgb, int w, int h, float *t)
{
	if (w < T || h < T) {
		thumbnail_small(rgb, w, h, t);
		return;
	}
	enum { CHUNK = 1024 };
	uint32_t cs[CHUNK * 3]; /* column sums of one band, < 2^32 while a band has < 2^24 rows */
	int xe[T];
	for (int tx = 0; tx < T; tx++) {
		int b;
		cell_bounds(tx, w, &b, &xe[tx]);
	}
	for (int ty = 0; ty < T; ty++) {
		int y0, y1;
		cell_bounds(ty, h, &y0, &y1);
		uint64_t acc[T * 3];
		memset(acc, 0, sizeof acc);
		int tx = 0;
		for (int c0 = 0; c0 < w; c0 += CHUNK) {
			int cw = w - c0 < CHUNK ? w - c0 : CHUNK, nb = cw * 3;
			memset(cs, 0, sizeof(uint32_t) * (size_t)nb);
			for (int y = y0; y < y1; y += row_step(y0, y1)) {
				const uint8_t *p = rgb + ((size_t)y * w + c0) * 3;
				for (int i = 0; i < nb; i++)
					cs[i] += p[i];
			}
			for (int x = 0; x < cw; x++) {
				while (c0 + x >= xe[tx])
					tx++;
				acc[tx * 3] += cs[x * 3];
				acc[tx * 3 + 1] += cs[x * 3 + 1];
				acc[tx * 3 + 2] += cs[x * 3 + 2];
			}
		}
		for (int k = 0; k < T; k++) {
			int xb0, xe0;
			cell_bounds(k, w, &xb0, &xe0);
			double n = (double)rows_sampled(y0, y1) * (xe0 - xb0) * 255.0;
			for (int c = 0; c < 3; c++)
				t[(ty * T + k) * 3 + c] = (float)((double)acc[k * 3 + c] / n);
		}
	}
}

/* The bin of a gradient's orientation mod pi: floor(a / pi * NORI) of a = atan2(gy, gx), plus pi
 * when negative, as atan2 gives it. The bin boundaries j pi / NORI are tested by the sign of the
 * cross product with their direction (sin(a - j pi / NORI) > 0: a above the boundary), a few
 * multiplications where atan2 cost a third of the features; a gradient within 1e-9 of a boundary,
 * or on an axis, takes atan2's own rounding, so the bin is the one atan2 gives, always. */
int eng_imgfeat_orientation_bin(float gx, float gy)
{
	static const double bc[NORI - 1] = {0.92387953251128674,  0.70710678118654757,
	                                    0.38268343236508984,  0.0,
	                                    -0.38268343236508973, -0.70710678118654746,
	                                    -0.92387953251128674}; /* cos(j pi / 8), j = 1..7 */
	static const double bs[NORI - 1] = {
	    0.38268343236508978, 0.70710678118654746, 0.92387953251128674, 1.0,
	    0.92387953251128674, 0.70710678118654757, 0.38268343236508989}; /* sin(j pi / 8) */
	_Static_assert(NORI == 8, "the boundary tables are for 8 bins");
	double x = gx, y = gy;
	if (x != 0 && y != 0) {
		if (y < 0) /* a + pi: the same direction mod pi */
			x = -x, y = -y;
		double tol = 1e-9 * (fabs(x) + fabs(y));
		int bin = 0, sure = 1;
		for (int j = 0; j < NORI - 1; j++) {
			double d = y * bc[j] - x * bs[j];
			sure &= fabs(d) > tol;
			bin += d > 0;
		}
		if (sure)
			return bin;
	}
	double a = atan2((double)gy, (double)gx); /* (-pi, pi] */
	if (a < 0)
		a += M_PI;
	int bin = (int)(a / M_PI * NORI);
	return bin >= NORI ? NORI - 1 : bin;
}

void eng_imgfeat_compute(const uint8_t *rgb, int w, int h, float *out)
{
	assert(rgb && w > 0 && h > 0);
	float t[T * T * 3], lum[T * T];
	thumbnail(rgb, w, h, t);
	memset(out, 0, sizeof(float) * DIM);
	const int cell = T / GRID;
	float *grid = out, *hist = out + NGRID, *ori = hist + NHIST, *bri = ori + NORI;
	double lsum = 0, lsq = 0;
	for (int y = 0; y < T; y++) {
		for (int x = 0; x < T; x++) {
			const float *p = t + (y * T + x) * 3;
			int g = ((y / cell) * GRID + (x / cell)) * 3;
			for (int c = 0; c < 3; c++)
				grid[g + c] += p[c] / (float)(cell * cell);
			int b[3];
			for (int c = 0; c < 3; c++) {
				b[c] = (int)(p[c] * HB);
				if (b[c] >= HB)
					b[c] = HB - 1;
			}
			hist[(b[0] * HB + b[1]) * HB + b[2]] += 1.0f / (T * T);
			float l = 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2];
			lum[y * T + x] = l;
			lsum += l;
			lsq += (double)l * l;
		}
	}
	double gsum = 0;
	for (int y = 1; y < T - 1; y++) {
		for (int x = 1; x < T - 1; x++) {
			float gx = lum[y * T + x + 1] - lum[y * T + x - 1];
			float gy = lum[(y + 1) * T + x] - lum[(y - 1) * T + x];
			float mag = sqrtf(gx * gx + gy * gy);
			if (mag <= 0)
				continue;
			ori[eng_imgfeat_orientation_bin(gx, gy)] += mag;
			gsum += mag;
		}
	}
	for (int i = 0; i < NORI; i++)
		ori[i] = gsum > 0 ? (float)(ori[i] / gsum) : 0.0f;
	double n = (double)T * T, mean = lsum / n, var = lsq / n - mean * mean;
	bri[0] = (float)mean;
	bri[1] = (float)sqrt(var > 0 ? var : 0);
	bri[2] = (float)(gsum / ((T - 2) * (T - 2)));
}

const char *eng_imgfeat_name(int i)
{
	static char buf[DIM][32];
	static const char *chan = "rgb";
	if (i < 0 || i >= DIM)
		return "?";
	if (!buf[i][0]) {
		if (i < NGRID)
			snprintf(buf[i], sizeof buf[i], "grid %c[%d,%d]", chan[i % 3],
			         (i / 3) / GRID, (i / 3) % GRID);
		else if (i < NGRID + NHIST) {
			int k = i - NGRID;
			snprintf(buf[i], sizeof buf[i], "colour hist r%d g%d b%d", k / (HB * HB),
			         (k / HB) % HB, k % HB);
		} else if (i < NGRID + NHIST + NORI)
			snprintf(buf[i], sizeof buf[i], "gradient orientation %d/8",
			         i - NGRID - NHIST);
		else
			snprintf(buf[i], sizeof buf[i], "%s",
			         (const char *[]){"brightness mean", "brightness std",
			                          "edge strength"}[i - NGRID - NHIST - NORI]);
	}
	return buf[i];
}
