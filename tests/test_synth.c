/* test_synth.c - procedural environments: cue share, labels, balance, images, determinism, and
 * that the built-in image features carry the colour the answers talk about. */
#define _XOPEN_SOURCE 700
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <ctype.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <stb_image.h>

#include "imgfeat.h"
#include "synth.h"

/* ---- helpers ---- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_rf(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static char *make_tmpdir(void)
{
	char *d = strdup("/tmp/mmaudit-synth-XXXXXX");
	assert_non_null(d);
	assert_non_null(mkdtemp(d));
	return d;
}

static char *slurp(const char *dir, const char *name, size_t *len)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	rewind(f);
	char *buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	if (len)
		*len = (size_t)n;
	return buf;
}

typedef struct rec {
	json_t *j;
	int cue_on_chosen, true_colour;
	char kind[16];
} rec;

/* Reads data.jsonl and truth.csv of dir (n pairs) into recs; checks ids match line by line. */
static rec *read_env(const char *dir, size_t n)
{
	rec *r = calloc(n, sizeof *r);
	assert_non_null(r);
	char *data = slurp(dir, "data.jsonl", NULL), *truth = slurp(dir, "truth.csv", NULL);
	assert_non_null(data);
	assert_non_null(truth);
	char *save1 = NULL, *save2 = NULL;
	char *line = strtok_r(data, "\n", &save1);
	char *tl = strtok_r(truth, "\n", &save2);
	assert_string_equal(tl, "id,cue_on_chosen,cue_kind,true_colour");
	for (size_t i = 0; i < n; i++) {
		assert_non_null(line);
		json_error_t je;
		r[i].j = json_loads(line, 0, &je);
		assert_non_null(r[i].j);
		tl = strtok_r(NULL, "\n", &save2);
		assert_non_null(tl);
		char id[128], colour[32];
		assert_int_equal(sscanf(tl, "%127[^,],%d,%15[^,],%31s", id, &r[i].cue_on_chosen,
		                        r[i].kind, colour),
		                 4);
		assert_string_equal(id, json_string_value(json_object_get(r[i].j, "id")));
		r[i].true_colour = eng_synth_colour_index(colour);
		assert_true(r[i].true_colour >= 0);
		line = strtok_r(NULL, "\n", &save1);
	}
	assert_null(line);
	assert_null(strtok_r(NULL, "\n", &save2));
	free(data);
	free(truth);
	return r;
}

static void free_env(rec *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		json_decref(r[i].j);
	free(r);
}

static const char *field(const rec *r, const char *k)
{
	return json_string_value(json_object_get(r->j, k));
}

/* The palette colours named in text (as whole words); returns how many, first in *which. */
static int colour_words(const char *text, int *which)
{
	int n = 0;
	const char *p = text;
	while (*p) {
		while (*p && !isalpha((unsigned char)*p))
			p++;
		const char *b = p;
		while (*p && isalpha((unsigned char)*p))
			p++;
		if (p > b && p - b < 32) {
			char w[32];
			memcpy(w, b, (size_t)(p - b));
			w[p - b] = '\0';
			int c = eng_synth_colour_index(w);
			if (c >= 0 && n++ == 0)
				*which = c;
		}
	}
	return n;
}

static void opts_small(eng_synth_opts *o, size_t pairs, double p, uint64_t seed)
{
	eng_synth_opts_default(o);
	o->pairs = pairs;
	o->shortcut = p;
	o->seed = seed;
}

/* ---- tests ---- */

static void test_synth_cue_share_matches_p(void **state)
{
	(void)state;
	const double ps[] = {0.95, 0.5, 0.05};
	const size_t n = 600;
	for (int t = 0; t < 3; t++) {
		char *dir = make_tmpdir();
		eng_synth_opts o;
		opts_small(&o, n, ps[t], 11 + t);
		o.text_only = 1;
		eng_err err = {0};
		assert_int_equal(eng_synth_write(&o, dir, NULL, &err), 0);
		rec *r = read_env(dir, n);
		size_t on = 0, kinds[3] = {0, 0, 0};
		for (size_t i = 0; i < n; i++) {
			on += (size_t)r[i].cue_on_chosen;
			int k = eng_synth_kind_parse(r[i].kind);
			assert_true(k >= 0 && k < 3);
			kinds[k]++;
			/* the cue really sits on the side truth.csv names, and only there */
			const char *cue = field(&r[i], r[i].cue_on_chosen ? "chosen" : "rejected");
			const char *other =
			    field(&r[i], r[i].cue_on_chosen ? "rejected" : "chosen");
			if (k == ENG_SYNTH_PHRASE) {
				assert_non_null(strstr(cue, "! "));
				assert_null(strchr(other, '!'));
			} else if (k == ENG_SYNTH_MARKDOWN) {
				assert_true(!strncmp(cue, "**Answer:** ", 12));
				assert_null(strstr(other, "**"));
			} else {
				assert_true(strlen(cue) > strlen(other) + 20);
			}
		}
		/* binomial: 4 standard deviations */
		double share = (double)on / n, sd = sqrt(ps[t] * (1 - ps[t]) / n);
		assert_true(fabs(share - ps[t]) <= 4 * sd + 1.0 / n);
		for (int k = 0; k < 3; k++) /* mixed: each kind about a third */
			assert_true(kinds[k] > n / 3 - 60 && kinds[k] < n / 3 + 60);
		free_env(r, n);
		rm_rf(dir);
		free(dir);
	}
}

static void test_synth_single_kind(void **state)
{
	(void)state;
	char *dir = make_tmpdir();
	eng_synth_opts o;
	opts_small(&o, 100, 1.0, 5);
	o.text_only = 1;
	o.kind = ENG_SYNTH_LENGTH;
	assert_int_equal(eng_synth_write(&o, dir, NULL, NULL), 0);
	rec *r = read_env(dir, 100);
	for (size_t i = 0; i < 100; i++) {
		assert_string_equal(r[i].kind, "length");
		assert_int_equal(r[i].cue_on_chosen, 1);
		assert_true(strlen(field(&r[i], "chosen")) > strlen(field(&r[i], "rejected")));
	}
	free_env(r, 100);
	rm_rf(dir);
	free(dir);
}

static void test_synth_chosen_names_true_colour(void **state)
{
	(void)state;
	const size_t n = 400;
	for (int v = 0; v < ENG_SYNTH_VARIANTS; v++) {
		char *dir = make_tmpdir();
		eng_synth_opts o;
		opts_small(&o, n, 0.7, 3 + v);
		o.text_only = 1;
		o.variant = v;
		assert_int_equal(eng_synth_write(&o, dir, NULL, NULL), 0);
		rec *r = read_env(dir, n);
		for (size_t i = 0; i < n; i++) {
			int cc = -1, rc = -1;
			assert_int_equal(colour_words(field(&r[i], "chosen"), &cc), 1);
			assert_int_equal(colour_words(field(&r[i], "rejected"), &rc), 1);
			assert_int_equal(cc, r[i].true_colour);
			assert_int_not_equal(rc, cc);
			assert_int_equal(colour_words(field(&r[i], "prompt"), &cc), 0);
			assert_string_equal(field(&r[i], "env"), "synth");
		}
		free_env(r, n);
		rm_rf(dir);
		free(dir);
	}
}

static void test_synth_colours_balanced(void **state)
{
	(void)state;
	const size_t n = 4000;
	char *dir = make_tmpdir();
	eng_synth_opts o;
	opts_small(&o, n, 0.95, 21);
	o.text_only = 1;
	assert_int_equal(eng_synth_write(&o, dir, NULL, NULL), 0);
	rec *r = read_env(dir, n);
	int K = eng_synth_colour_count();
	size_t ch[16] = {0}, rj[16] = {0};
	for (size_t i = 0; i < n; i++) {
		int c = -1;
		colour_words(field(&r[i], "chosen"), &c);
		ch[c]++;
		colour_words(field(&r[i], "rejected"), &c);
		rj[c]++;
	}
	for (int c = 0; c < K; c++) {
		double e = (double)n / K, sd = sqrt(e);
		assert_true(fabs((double)ch[c] - e) < 4 * sd);
		assert_true(fabs((double)rj[c] - e) < 4 * sd);
		/* the chosen - rejected difference per colour is within noise */
		assert_true(fabs((double)ch[c] - (double)rj[c]) < 4 * sqrt(2 * e));
	}
	free_env(r, n);
	rm_rf(dir);
	free(dir);
}

static void test_synth_images_decode_with_size(void **state)
{
	(void)state;
	const int fmts[] = {ENG_SYNTH_PNG, ENG_SYNTH_JPG};
	for (int f = 0; f < 2; f++) {
		char *dir = make_tmpdir();
		eng_synth_opts o;
		opts_small(&o, 30, 0.5, 2);
		o.width = 48;
		o.height = 32;
		o.format = fmts[f];
		o.images = f ? 10 : 0; /* jpg: pairs share images */
		assert_int_equal(eng_synth_write(&o, dir, NULL, NULL), 0);
		rec *r = read_env(dir, 30);
		for (size_t i = 0; i < 30; i++) {
			const char *img = field(&r[i], "image");
			assert_non_null(img);
			char want[64];
			snprintf(want, sizeof want, "images/%05zu.%s", f ? i % 10 : i,
			         f ? "jpg" : "png");
			assert_string_equal(img, want);
			char path[512];
			snprintf(path, sizeof path, "%s/%s", dir, img);
			int w = 0, h = 0, c = 0;
			unsigned char *px = stbi_load(path, &w, &h, &c, 3);
			assert_non_null(px);
			assert_int_equal(w, 48);
			assert_int_equal(h, 32);
			stbi_image_free(px);
		}
		/* exactly the referenced images exist */
		char path[512];
		snprintf(path, sizeof path, "%s/images/%05d.%s", dir, f ? 10 : 30,
		         f ? "jpg" : "png");
		assert_int_not_equal(access(path, F_OK), 0);
		free_env(r, 30);
		rm_rf(dir);
		free(dir);
	}
}

static int files_equal(const char *a, const char *b, const char *name)
{
	size_t la = 0, lb = 0;
	char *x = slurp(a, name, &la), *y = slurp(b, name, &lb);
	assert_non_null(x);
	assert_non_null(y);
	int eq = la == lb && !memcmp(x, y, la);
	free(x);
	free(y);
	return eq;
}

static void test_synth_deterministic(void **state)
{
	(void)state;
	char *d1 = make_tmpdir(), *d2 = make_tmpdir(), *d3 = make_tmpdir();
	eng_synth_opts o;
	opts_small(&o, 24, 0.8, 77);
	o.width = o.height = 40;
	o.threads = 1;
	assert_int_equal(eng_synth_write(&o, d1, NULL, NULL), 0);
	o.threads = 2; /* thread count must not change a byte */
	assert_int_equal(eng_synth_write(&o, d2, NULL, NULL), 0);
	o.seed = 78;
	assert_int_equal(eng_synth_write(&o, d3, NULL, NULL), 0);
	assert_true(files_equal(d1, d2, "data.jsonl"));
	assert_true(files_equal(d1, d2, "truth.csv"));
	assert_false(files_equal(d1, d3, "data.jsonl"));
	assert_false(files_equal(d1, d3, "truth.csv"));
	int same_seed_same = 1, other_seed_diff = 0;
	for (int j = 0; j < 24; j++) {
		char name[64];
		snprintf(name, sizeof name, "images/%05d.png", j);
		same_seed_same &= files_equal(d1, d2, name);
		other_seed_diff += !files_equal(d1, d3, name);
	}
	assert_true(same_seed_same);
	assert_int_equal(other_seed_diff, 24);
	rm_rf(d1);
	rm_rf(d2);
	rm_rf(d3);
	free(d1);
	free(d2);
	free(d3);
}

/* Images that cannot be written (a folder in their place): the error names the first one in image
 * order whatever the thread count, and the images before it are written. */
static void test_synth_image_failure_in_order(void **state)
{
	(void)state;
	for (int threads = 1; threads <= 4; threads += 3) {
		char *d = make_tmpdir();
		char p[4200];
		snprintf(p, sizeof p, "%s/images", d);
		assert_int_equal(mkdir(p, 0777), 0);
		const int blocked[2] = {13, 5};
		for (int k = 0; k < 2; k++) {
			snprintf(p, sizeof p, "%s/images/%05d.png", d, blocked[k]);
			assert_int_equal(mkdir(p, 0777), 0);
		}
		eng_synth_opts o;
		opts_small(&o, 24, 0.8, 77);
		o.width = o.height = 40;
		o.threads = threads;
		eng_err err = {0};
		assert_int_equal(eng_synth_write(&o, d, NULL, &err), ENG_EIO);
		assert_non_null(strstr(err.msg, "images/00005.png"));
		for (int j = 0; j < 5; j++) {
			struct stat st;
			snprintf(p, sizeof p, "%s/images/%05d.png", d, j);
			assert_int_equal(stat(p, &st), 0);
			assert_true(S_ISREG(st.st_mode));
		}
		rm_rf(d);
		free(d);
	}
}

static void test_synth_text_only_has_no_image(void **state)
{
	(void)state;
	char *dir = make_tmpdir();
	eng_synth_opts o;
	opts_small(&o, 50, 0.5, 9);
	o.text_only = 1;
	assert_int_equal(eng_synth_write(&o, dir, NULL, NULL), 0);
	rec *r = read_env(dir, 50);
	for (size_t i = 0; i < 50; i++) {
		assert_null(json_object_get(r[i].j, "image"));
		assert_non_null(field(&r[i], "prompt"));
		assert_non_null(field(&r[i], "chosen"));
		assert_non_null(field(&r[i], "rejected"));
	}
	char path[512];
	snprintf(path, sizeof path, "%s/images", dir);
	assert_int_not_equal(access(path, F_OK), 0);
	free_env(r, 50);
	rm_rf(dir);
	free(dir);
}

static void test_synth_rejects_bad_options(void **state)
{
	(void)state;
	eng_synth_opts o;
	eng_err err = {0};
	opts_small(&o, 10, 1.5, 1);
	assert_int_equal(eng_synth_check(&o, &err), ENG_EINPUT);
	assert_non_null(strstr(err.msg, "shortcut"));
	opts_small(&o, 10, NAN, 1);
	assert_int_equal(eng_synth_check(&o, &err), ENG_EINPUT);
	opts_small(&o, 0, 0.5, 1);
	assert_int_equal(eng_synth_check(&o, &err), ENG_EINPUT);
	assert_non_null(strstr(err.msg, "pairs"));
	opts_small(&o, 10, 0.5, 1);
	o.images = 11;
	assert_int_equal(eng_synth_check(&o, &err), ENG_EINPUT);
	opts_small(&o, 10, 0.5, 1);
	o.width = 8;
	assert_int_equal(eng_synth_check(&o, &err), ENG_EINPUT);
	opts_small(&o, 10, 0.5, 1);
	o.env = "a b";
	assert_int_equal(eng_synth_check(&o, &err), ENG_EINPUT);
	/* output under a regular file: refused with the path in the message */
	char *dir = make_tmpdir();
	char file[512], sub[600];
	snprintf(file, sizeof file, "%s/plain", dir);
	FILE *f = fopen(file, "w");
	assert_non_null(f);
	fclose(f);
	snprintf(sub, sizeof sub, "%s/out", file);
	opts_small(&o, 10, 0.5, 1);
	int rc = eng_synth_write(&o, sub, NULL, &err);
	assert_true(rc == ENG_EIO || rc == ENG_EINPUT);
	assert_non_null(strstr(err.msg, "plain"));
	rm_rf(dir);
	free(dir);
}

/* Decodes the images of an environment and returns their features (n, D) and true colours. */
static float *env_features(const char *dir, const rec *r, size_t n, int *y)
{
	int D = eng_imgfeat_dim();
	float *X = malloc(sizeof(float) * n * (size_t)D);
	assert_non_null(X);
	for (size_t i = 0; i < n; i++) {
		char path[512];
		snprintf(path, sizeof path, "%s/%s", dir, field(&r[i], "image"));
		int w, h, c;
		unsigned char *px = stbi_load(path, &w, &h, &c, 3);
		assert_non_null(px);
		eng_imgfeat_compute(px, w, h, X + i * (size_t)D);
		stbi_image_free(px);
		y[i] = r[i].true_colour;
	}
	return X;
}

/* A linear rule, as the MM-RM's text x image interaction can express it: one weight vector per
 * colour word on standardized features, fitted by softmax regression (full-batch gradient
 * descent); predicts argmax. Nearest centroid is also reported. */
static void test_synth_imgfeat_recovers_colour(void **state)
{
	(void)state;
	const size_t ntr = 240, nte = 160;
	int D = eng_imgfeat_dim(), K = eng_synth_colour_count();
	char *dtr = make_tmpdir(), *dte = make_tmpdir();
	eng_synth_opts o;
	opts_small(&o, ntr, 0.5, 101);
	assert_int_equal(eng_synth_write(&o, dtr, NULL, NULL), 0);
	/* test on another seed, larger JPEGs: the rule must carry over */
	opts_small(&o, nte, 0.5, 202);
	o.width = 200;
	o.height = 150;
	o.format = ENG_SYNTH_JPG;
	assert_int_equal(eng_synth_write(&o, dte, NULL, NULL), 0);
	rec *rtr = read_env(dtr, ntr), *rte = read_env(dte, nte);
	int *ytr = malloc(sizeof(int) * ntr), *yte = malloc(sizeof(int) * nte);
	float *Xtr = env_features(dtr, rtr, ntr, ytr), *Xte = env_features(dte, rte, nte, yte);
	double *mu = calloc((size_t)D, sizeof(double)), *sd = calloc((size_t)D, sizeof(double));
	for (size_t i = 0; i < ntr; i++)
		for (int d = 0; d < D; d++) {
			mu[d] += Xtr[i * D + d];
			sd[d] += (double)Xtr[i * D + d] * Xtr[i * D + d];
		}
	for (int d = 0; d < D; d++) {
		mu[d] /= ntr;
		double v = sd[d] / ntr - mu[d] * mu[d];
		sd[d] = sqrt(v > 0 ? v : 0) + 1e-6;
	}
	for (size_t i = 0; i < ntr; i++)
		for (int d = 0; d < D; d++)
			Xtr[i * D + d] = (float)((Xtr[i * D + d] - mu[d]) / sd[d]);
	for (size_t i = 0; i < nte; i++)
		for (int d = 0; d < D; d++)
			Xte[i * D + d] = (float)((Xte[i * D + d] - mu[d]) / sd[d]);

	double *W = calloc((size_t)K * D, sizeof(double)), *G = malloc(sizeof(double) * K * D);
	double *cen = calloc((size_t)K * D, sizeof(double));
	size_t cnt[16] = {0};
	for (size_t i = 0; i < ntr; i++) {
		cnt[ytr[i]]++;
		for (int d = 0; d < D; d++)
			cen[ytr[i] * D + d] += Xtr[i * D + d];
	}
	for (int k = 0; k < K; k++) {
		assert_true(cnt[k] > 0);
		for (int d = 0; d < D; d++)
			cen[k * D + d] /= (double)cnt[k];
	}
	for (int it = 0; it < 150; it++) {
		memset(G, 0, sizeof(double) * K * D);
		for (size_t i = 0; i < ntr; i++) {
			double s[16], m = -1e300, z = 0;
			for (int k = 0; k < K; k++) {
				s[k] = 0;
				for (int d = 0; d < D; d++)
					s[k] += W[k * D + d] * Xtr[i * D + d];
				m = s[k] > m ? s[k] : m;
			}
			for (int k = 0; k < K; k++)
				z += (s[k] = exp(s[k] - m));
			for (int k = 0; k < K; k++) {
				double g = s[k] / z - (k == ytr[i]);
				for (int d = 0; d < D; d++)
					G[k * D + d] += g * Xtr[i * D + d];
			}
		}
		for (int k = 0; k < K * D; k++)
			W[k] -= 0.5 * (G[k] / ntr + 1e-3 * W[k]);
	}
	size_t ok_lin = 0, ok_cen = 0;
	for (size_t i = 0; i < nte; i++) {
		int bl = 0, bc = 0;
		double sl = -1e300, sc = 1e300;
		for (int k = 0; k < K; k++) {
			double s = 0, e = 0;
			for (int d = 0; d < D; d++) {
				s += W[k * D + d] * Xte[i * D + d];
				double q = Xte[i * D + d] - cen[k * D + d];
				e += q * q;
			}
			if (s > sl) {
				sl = s;
				bl = k;
			}
			if (e < sc) {
				sc = e;
				bc = k;
			}
		}
		ok_lin += bl == yte[i];
		ok_cen += bc == yte[i];
	}
	print_message(
	    "colour from image features: linear %.3f, nearest centroid %.3f (%zu images)\n",
	    (double)ok_lin / nte, (double)ok_cen / nte, nte);
	assert_true((double)ok_lin / nte >= 0.95);
	free(W);
	free(G);
	free(cen);
	free(mu);
	free(sd);
	free(Xtr);
	free(Xte);
	free(ytr);
	free(yte);
	free_env(rtr, ntr);
	free_env(rte, nte);
	rm_rf(dtr);
	rm_rf(dte);
	free(dtr);
	free(dte);
}

/* eng_synth_draw reproduces the written PNG exactly (lossless) and the palette is distinct. */
static void test_synth_draw_matches_file(void **state)
{
	(void)state;
	char *dir = make_tmpdir();
	eng_synth_opts o;
	opts_small(&o, 3, 0.5, 4);
	o.width = 64;
	o.height = 48;
	assert_int_equal(eng_synth_write(&o, dir, NULL, NULL), 0);
	rec *r = read_env(dir, 3);
	uint8_t *px = malloc(64 * 48 * 3);
	for (size_t j = 0; j < 3; j++) {
		int c = eng_synth_draw(&o, j, px);
		assert_int_equal(c, r[j].true_colour);
		char path[512];
		snprintf(path, sizeof path, "%s/images/%05zu.png", dir, j);
		int w, h, ch;
		unsigned char *f = stbi_load(path, &w, &h, &ch, 3);
		assert_non_null(f);
		assert_memory_equal(f, px, 64 * 48 * 3);
		stbi_image_free(f);
	}
	for (int a = 0; a < eng_synth_colour_count(); a++)
		for (int b = a + 1; b < eng_synth_colour_count(); b++)
			assert_string_not_equal(eng_synth_colour_name(a), eng_synth_colour_name(b));
	free(px);
	free_env(r, 3);
	rm_rf(dir);
	free(dir);
}

/* Environments with different seeds share no prompt (crossdist excludes shared prompts from
 * test splits), while pairs that share an image share its scene code. */
static void test_synth_envs_share_no_prompt(void **state)
{
	(void)state;
	const size_t n = 300;
	char *d1 = make_tmpdir(), *d2 = make_tmpdir();
	eng_synth_opts o;
	opts_small(&o, n, 0.5, 1);
	o.text_only = 1;
	o.images = 100;
	assert_int_equal(eng_synth_write(&o, d1, NULL, NULL), 0);
	o.seed = 2;
	assert_int_equal(eng_synth_write(&o, d2, NULL, NULL), 0);
	rec *a = read_env(d1, n), *b = read_env(d2, n);
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < n; k++)
			assert_string_not_equal(field(&a[i], "prompt"), field(&b[k], "prompt"));
		/* pair i and i + 100 show the same image: same scene code ("[scene xxxxxxxx] ", 17
		 * chars) */
		if (i + 100 < n)
			assert_memory_equal(field(&a[i], "prompt"), field(&a[i + 100], "prompt"),
			                    17);
	}
	free_env(a, n);
	free_env(b, n);
	rm_rf(d1);
	rm_rf(d2);
	free(d1);
	free(d2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_synth_cue_share_matches_p),
	    cmocka_unit_test(test_synth_single_kind),
	    cmocka_unit_test(test_synth_chosen_names_true_colour),
	    cmocka_unit_test(test_synth_colours_balanced),
	    cmocka_unit_test(test_synth_images_decode_with_size),
	    cmocka_unit_test(test_synth_deterministic),
	    cmocka_unit_test(test_synth_image_failure_in_order),
	    cmocka_unit_test(test_synth_text_only_has_no_image),
	    cmocka_unit_test(test_synth_rejects_bad_options),
	    cmocka_unit_test(test_synth_imgfeat_recovers_colour),
	    cmocka_unit_test(test_synth_draw_matches_file),
	    cmocka_unit_test(test_synth_envs_share_no_prompt),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
