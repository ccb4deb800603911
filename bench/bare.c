/* bare.c - the baselines the ingest benchmark compares against, and its fixture generator.
 *
 *   bench_bare gen DIR N      DIR/text.jsonl (N text pairs), DIR/images/<i>.png (N/4 256x256 PNGs)
 *                             and DIR/img.jsonl (one pair per image)
 *   bench_bare insert DB N    bare SQLite loop: N rows into the workspace's pairs table (same
 *                             columns and indexes), one transaction, one prepared statement
 *   bench_bare decode DIR     bare stb_image loop: read + decode every DIR/images/<i>.png
 * insert/decode print "<count> <seconds>". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <stb_image.h>
#include <stb_image_write.h>

#include "workspace.h"
#include "workspace_sql.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The same texts gen writes into text.jsonl, so both sides store the same bytes. */
static void texts(long i, char *id, char *prompt, char *chosen, char *rejected)
{
	sprintf(id, "r%ld", i);
	sprintf(prompt, "Question %ld: what is shown in the picture, and what colour is it?", i);
	sprintf(chosen, "The picture shows object %ld; it is mostly blue with a red border.", i);
	sprintf(rejected, "It is a photo of item %ld.", i);
}

static int gen(const char *dir, long n)
{
	char path[4096], id[64], p[256], c[256], r[256];
	snprintf(path, sizeof path, "%s/images", dir);
	mkdir(dir, 0755);
	mkdir(path, 0755);
	snprintf(path, sizeof path, "%s/text.jsonl", dir);
	FILE *t = fopen(path, "w");
	snprintf(path, sizeof path, "%s/img.jsonl", dir);
	FILE *m = fopen(path, "w");
	if (!t || !m)
		return perror(path), 1;
	for (long i = 0; i < n; i++) {
		texts(i, id, p, c, r);
		fprintf(t,
		        "{\"id\":\"%s\",\"prompt\":\"%s\",\"chosen\":\"%s\",\"rejected\":\"%s\"}\n",
		        id, p, c, r);
	}
	enum { W = 256 };
	static unsigned char px[W * W * 3];
	unsigned s = 12345;
	for (long i = 0; i < n / 4; i++) {
		for (int y = 0; y < W; y++)
			for (int x = 0; x < W; x++) {
				s = s * 1103515245u + 12345u;
				unsigned char *q = px + (y * W + x) * 3;
				q[0] = (unsigned char)(x + i * 3);
				q[1] = (unsigned char)(y + i * 7);
				q[2] = (unsigned char)((x ^ y) + (s >> 29)); /* a little noise */
			}
		snprintf(path, sizeof path, "%s/images/%ld.png", dir, i);
		if (!stbi_write_png(path, W, W, 3, px, W * 3))
			return fprintf(stderr, "cannot write %s\n", path), 1;
		texts(i, id, p, c, r);
		fprintf(m,
		        "{\"id\":\"%s\",\"prompt\":\"%s\",\"image\":\"images/"
		        "%ld.png\",\"chosen\":\"%s\","
		        "\"rejected\":\"%s\"}\n",
		        id, p, i, c, r);
	}
	fclose(t);
	fclose(m);
	return 0;
}

static int insert(const char *db, long n)
{
	eng_ws *ws = NULL;
	eng_err err = {0};
	char id[64], p[256], c[256], r[256];
	if (eng_ws_open(db, &ws, &err))
		return fprintf(stderr, "%s\n", err.msg), 1;
	double t0 = now();
	sqlite3_stmt *st = NULL;
	if (eng_ws_begin(ws, &err) ||
	    eng_ws_exec(ws,
	                "INSERT INTO datasets(id, name) VALUES (1, 'bare');"
	                "INSERT INTO source_files(id, dataset_id, path, sha256, bytes) VALUES (1, "
	                "1, 'x', 'y', 0)",
	                &err) ||
	    !(st = eng_ws_prepare(
	          ws,
	          "INSERT INTO pairs(dataset_id, file_id, line, ext_id, prompt, chosen,"
	          " rejected, image_id, image_ref, meta) VALUES (1, 1, ?1, ?2, ?3, ?4, ?5,"
	          " NULL, NULL, NULL)",
	          &err)))
		return fprintf(stderr, "%s\n", err.msg), 1;
	for (long i = 0; i < n; i++) {
		texts(i, id, p, c, r);
		sqlite3_bind_int64(st, 1, i + 1);
		sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, p, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, c, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, r, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			return fprintf(stderr, "insert failed\n"), 1;
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	if (eng_ws_commit(ws, &err))
		return fprintf(stderr, "%s\n", err.msg), 1;
	eng_ws_close(ws); /* includes the WAL checkpoint, as the indexer's run does */
	printf("%ld %.3f\n", n, now() - t0);
	return 0;
}

static int decode(const char *dir)
{
	char path[4096];
	long n = 0;
	double t0 = now();
	for (;; n++) {
		snprintf(path, sizeof path, "%s/images/%ld.png", dir, n);
		FILE *f = fopen(path, "rb");
		if (!f)
			break;
		fseek(f, 0, SEEK_END);
		long sz = ftell(f);
		rewind(f);
		unsigned char *b = malloc((size_t)sz);
		if (!b || fread(b, 1, (size_t)sz, f) != (size_t)sz)
			return fprintf(stderr, "read %s failed\n", path), 1;
		fclose(f);
		int w, h, comp;
		unsigned char *px = stbi_load_from_memory(b, (int)sz, &w, &h, &comp, 3);
		if (!px)
			return fprintf(stderr, "decode %s failed\n", path), 1;
		stbi_image_free(px);
		free(b);
	}
	printf("%ld %.3f\n", n, now() - t0);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "gen"))
		return gen(argv[2], atol(argv[3]));
	if (argc == 4 && !strcmp(argv[1], "insert"))
		return insert(argv[2], atol(argv[3]));
	if (argc == 3 && !strcmp(argv[1], "decode"))
		return decode(argv[2]);
	fprintf(stderr, "usage: bench_bare gen DIR N | insert DB N | decode DIR\n");
	return 2;
}
