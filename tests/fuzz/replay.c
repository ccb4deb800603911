/* replay.c - runs a fuzz target's LLVMFuzzerTestOneInput over every file of the given corpus
 * directories (seeds and saved crashers), without libFuzzer: the regression test of the fuzz
 * targets in the normal and sanitizer builds. Fails when a directory holds no input. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		return -1;
	}
	struct stat sb;
	if (fstat(fileno(f), &sb) != 0) {
		fclose(f);
		return -1;
	}
	size_t n = (size_t)sb.st_size;
	uint8_t *buf = malloc(n ? n : 1);
	if (!buf || fread(buf, 1, n, f) != n) {
		fprintf(stderr, "%s: read failed\n", path);
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	/* an exact-size copy, so reading one byte past the input is caught under ASan */
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	int bad = 0;
	for (int a = 1; a < argc; a++) {
		DIR *d = opendir(argv[a]);
		if (!d) {
			perror(argv[a]);
			return 1;
		}
		char **names = NULL;
		size_t n = 0, cap = 0;
		struct dirent *e;
		while ((e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				names = realloc(names, cap * sizeof *names);
				if (!names)
					return 1;
			}
			names[n++] = strdup(e->d_name);
		}
		closedir(d);
		qsort(names, n, sizeof *names, by_name);
		for (size_t i = 0; i < n; i++) {
			char path[4096];
			snprintf(path, sizeof path, "%s/%s", argv[a], names[i]);
			bad |= replay_file(path) != 0;
			free(names[i]);
		}
		free(names);
		printf("replayed %zu inputs from %s\n", n, argv[a]);
		if (n == 0) {
			fprintf(stderr, "%s: no inputs\n", argv[a]);
			bad = 1;
		}
	}
	return bad;
}
