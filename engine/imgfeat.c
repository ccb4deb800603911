/* imgfeat.c - built-in image features: pixels -> 32x32 box-filtered thumbnail -> colour layout grid
 * (4x4 cells x mean RGB), joint colour histogram (4x4x4 bins), gradient-orientation histogram
 * (8 bins, magnitude-weighted) and brightness mean/std/contrast. No decoding, no standardization. */
#include "engine/imgfeat.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

enum { T = 32, GRID = 4, NGRID = GRID * GRID * 3, HB = 4, NHIST = HB * HB * HB, NORI = 8, NBRI = 3 };
enum { DIM = NGRID + NHIST + NORI + NBRI };

int eng_imgfeat_dim(void) { return DIM; }

/* Box-filters rgb (h, w, 3) to a T x T float thumbnail t (T, T, 3) in [0, 1]. */
static void thumbnail(const uint8_t *rgb, int w, int h, float *t)
{
	for (int ty = 0; ty < T; ty++) {
		int y0 = (int)((long long)ty * h / T), y1 = (int)((long long)(ty + 1) * h / T);
		if (y1 <= y0)
			y1 = y0 + 1;
		for (int tx = 0; tx < T; tx++) {
			int x0 = (int)((long long)tx * w / T), x1 = (int)((long long)(tx + 1) * w / T);
			if (x1 <= x0)
				x1 = x0 + 1;
			double s[3] = {0, 0, 0};
			for (int y = y0; y < y1 && y < h; y++) {
				const uint8_t *p = rgb + ((size_t)y * w + x0) * 3;
				for (int x = x0; x < x1 && x < w; x++, p += 3) {
					s[0] += p[0];
					s[1] += p[1];
					s[2] += p[2];
				}
			}
			double n = (double)(y1 - y0) * (x1 - x0) * 255.0;
			for (int c = 0; c < 3; c++)
				t[(ty * T + tx) * 3 + c] = (float)(s[c] / n);
		}
	}
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
			double a = atan2((double)gy, (double)gx); /* (-pi, pi]; orientation mod pi */
			if (a < 0)
				a += M_PI;
			int bin = (int)(a / M_PI * NORI);
			if (bin >= NORI)
				bin = NORI - 1;
			ori[bin] += mag;
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
			snprintf(buf[i], sizeof buf[i], "grid %c[%d,%d]", chan[i % 3], (i / 3) / GRID,
				 (i / 3) % GRID);
		else if (i < NGRID + NHIST) {
			int k = i - NGRID;
			snprintf(buf[i], sizeof buf[i], "colour hist r%d g%d b%d", k / (HB * HB),
				 (k / HB) % HB, k % HB);
		} else if (i < NGRID + NHIST + NORI)
			snprintf(buf[i], sizeof buf[i], "gradient orientation %d/8", i - NGRID - NHIST);
		else
			snprintf(buf[i], sizeof buf[i], "%s",
				 (const char *[]){"brightness mean", "brightness std",
						  "edge strength"}[i - NGRID - NHIST - NORI]);
	}
	return buf[i];
}
