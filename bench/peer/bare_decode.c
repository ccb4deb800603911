/* bare_decode.c - the bare stb_image baseline of bench/run: read + decode (to RGB, as the indexer
 * asks) every regular file of DIR, in name order, on one thread; nothing else (no hashing, no
 * features, no database).
 *
 *   cc -O2 bare_decode.c -o bare_decode $(pkg-config --cflags --libs stb)
 * links the same libstb (libstb-dev) the engine decodes with, so both run the same decoder code.
 *   bare_decode DIR   ->  "<images> <seconds>"
 * Built by bench/run itself (not part of the meson build, so it needs no bench/meson.build). */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <stb_image.h>

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

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: bare_decode DIR\n");
		return 2;
	}
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
		int w, h, c;
		unsigned char *px = stbi_load_from_memory(b, (int)sz, &w, &h, &c, 3);
		if (!px) {
			fprintf(stderr, "decode %s failed: %s\n", path, stbi_failure_reason());
			return 2;
		}
		stbi_image_free(px);
		free(b);
		free(names[i]);
	}
	printf("%zu %.3f\n", n, now() - t0);
	free(names);
	return 0;
}
