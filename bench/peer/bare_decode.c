/* bare_decode.c - the bare decoder baselines of bench/run and bench/decode: read + decode (to RGB,
 * as the indexer asks) every regular file of DIR, in name order, on one thread; nothing else (no
 * hashing, no features, no database).
 *
 *   cc -O2 bare_decode.c -o bare_decode $(pkg-config --cflags --libs stb) -lturbojpeg
 * links the same libstb (libstb-dev) and libturbojpeg (libturbojpeg0-dev) the engine decodes with.
 *   bare_decode DIR          ->  "<images> <seconds>"  stb_image at full size
 *   bare_decode DIR scaled   ->  the same with libjpeg-turbo at the DCT scale the indexer picks
 *                                (the largest 1/2, 1/4, 1/8 keeping the long side >= 160 px and
 *                                the short side >= 32 px, engine/ingest/imgdecode.h): the floor
 *                                of what indexing a JPEG can cost
 * Built by the benches themselves (not part of the meson build). */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <stb_image.h>
#include <turbojpeg.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The indexer's rule (eng_image_jpeg_scale), restated: the largest d whose ceil(side / d) keeps
 * the long side >= 160 and the short side >= 32 (or the image's own side when smaller). */
static int index_scale(int w, int h)
{
	int lng = w > h ? w : h, sht = w > h ? h : w;
	int need_long = lng < 160 ? lng : 160, need_short = sht < 32 ? sht : 32;
	for (int d = 8; d > 1; d /= 2)
		if ((lng + d - 1) / d >= need_long && (sht + d - 1) / d >= need_short)
			return d;
	return 1;
}

/* libjpeg-turbo at the indexer's scale, as engine/ingest/imgdecode.c calls it. 0 or -1. */
static int turbo_scaled(tjhandle tj, const unsigned char *b, long sz)
{
	int w, h, sub, cs;
	if (tjDecompressHeader3(tj, b, (unsigned long)sz, &w, &h, &sub, &cs) != 0)
		return -1;
	tjscalingfactor sf = {1, index_scale(w, h)};
	int sw = TJSCALED(w, sf), sh = TJSCALED(h, sf);
	unsigned char *px = malloc((size_t)sw * (size_t)sh * 3);
	int rc = px && tjDecompress2(tj, b, (unsigned long)sz, px, sw, sw * 3, sh, TJPF_RGB,
	                             TJFLAG_FASTUPSAMPLE | TJFLAG_LIMITSCANS) == 0
	             ? 0
	             : -1;
	free(px);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc != 2 && !(argc == 3 && !strcmp(argv[2], "scaled"))) {
		fprintf(stderr, "usage: bare_decode DIR [scaled]\n");
		return 2;
	}
	tjhandle tj = argc == 3 ? tjInitDecompress() : NULL;
	DIR *d = opendir(argv[1]);
	if (!d) {
		perror(argv[1]);
		return 2;
	}
	size_t n = 0, cap = 1024;
	char **names = malloc(cap * sizeof *names);
	struct dirent *e;
	while (names && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **nn = realloc(names, 2 * cap * sizeof *names);
			if (!nn)
				return 3;
			names = nn;
			cap *= 2;
		}
		names[n++] = strdup(e->d_name);
	}
	closedir(d);
	if (!names)
		return 3;
	qsort(names, n, sizeof *names, cmp);
	double t0 = now();
	char path[4096];
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof path, "%s/%s", argv[1], names[i]);
		FILE *f = fopen(path, "rb");
		if (!f) {
			perror(path);
			return 2;
		}
		fseek(f, 0, SEEK_END);
		long sz = ftell(f);
		rewind(f);
		unsigned char *b = malloc(sz > 0 ? (size_t)sz : 1);
		if (!b || fread(b, 1, (size_t)sz, f) != (size_t)sz) {
			fprintf(stderr, "read %s failed\n", path);
			return 2;
		}
		fclose(f);
		if (tj) {
			if (turbo_scaled(tj, b, sz)) {
				fprintf(stderr, "decode %s failed: %s\n", path, tjGetErrorStr2(tj));
				return 2;
			}
		} else {
			int w, h, c;
			unsigned char *px = stbi_load_from_memory(b, (int)sz, &w, &h, &c, 3);
			if (!px) {
				fprintf(stderr, "decode %s failed: %s\n", path,
				        stbi_failure_reason());
				return 2;
			}
			stbi_image_free(px);
		}
		free(b);
		free(names[i]);
	}
	printf("%zu %.3f\n", n, now() - t0);
	if (tj)
		tjDestroy(tj);
	free(names);
	return 0;
}
