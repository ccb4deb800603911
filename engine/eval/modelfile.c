/* modelfile.c - train the fold models on a deterministic sample, write and read model files. */
#include "modelfile.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mmaudit_config.h"
#include "outfile.h"
#include "sha256.h"
#include "model_internal.h"
#include "trainjobs.h"

static const char MAGIC[8] = {'M', 'M', 'A', 'U', 'D', 'I', 'T', 'M'};
enum { DEFAULT_SAMPLE = 1000000 };
/* no model file is bigger than this: 100 folds x 6 methods x 2^26 columns would be far above */
#define MAX_FILE_BYTES ((uint64_t)4 << 30)

void eng_train_export_opts_default(eng_train_export_opts *o)
{
	memset(o, 0, sizeof *o);
	o->folds = 5;
	eng_train_opts_default(&o->train);
	o->train.epochs = 0;
	eng_textfeat_opts_default(&o->text);
	o->confident = 0.8;
	o->min_image_gain = 0.01;
}

uint64_t eng_modelfile_key(const eng_modelfile *mf, const eng_data *d, size_t r)
{
	assert(!mf->content_key || d->answer_key); /* not loaded by eng_data_load_scoring */
	return mf->content_key ? d->answer_key[r] ^ eng_mix64(d->prompt_key[r]) : d->group[r];
}

int eng_modelfile_in_sample(const eng_modelfile *mf, uint64_t key)
{
	return mf->cut == UINT64_MAX ||
	       eng_mix64(key ^ eng_mix64(mf->seed ^ 0x53414D504C45ULL)) < mf->cut; /* SAMPLE */
}

int eng_modelfile_fold(const eng_modelfile *mf, uint64_t key)
{
	return (int)(eng_mix64(key ^ eng_mix64(mf->seed)) % (uint64_t)mf->folds);
}

void eng_modelfile_free(eng_modelfile *mf)
{
	if (!mf)
		return;
	for (int f = 0; f < ENG_MODELFILE_MAX_FOLDS; f++)
		for (int q = 0; q < ENG_METHOD_COUNT; q++)
			eng_model_free(mf->m[f][q]);
	eng_model_free(mf->text_mean);
	json_decref(mf->config);
	free(mf);
}

/* ---- writing ----------------------------------------------------------------------------------
 */

typedef struct obuf {
	uint8_t *p;
	size_t n, cap;
	int oom;
} obuf;

static void ob_put(obuf *b, const void *x, size_t n)
{
	if (b->oom)
		return;
	if (b->n + n > b->cap) {
		size_t nc = b->cap ? b->cap : 1 << 16;
		while (nc < b->n + n)
			nc *= 2;
		uint8_t *q = realloc(b->p, nc);
		if (!q) {
			b->oom = 1;
			return;
		}
		b->p = q;
		b->cap = nc;
	}
	memcpy(b->p + b->n, x, n);
	b->n += n;
}

static void ob_u32(obuf *b, uint32_t v)
{
	uint8_t q[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
	ob_put(b, q, 4);
}

static void ob_u64(obuf *b, uint64_t v)
{
	ob_u32(b, (uint32_t)v);
	ob_u32(b, (uint32_t)(v >> 32));
}

typedef struct bytes_ctx {
	const uint8_t *p;
	size_t n;
} bytes_ctx;

static int put_bytes(FILE *f, void *ctx, eng_err *err)
{
	bytes_ctx *b = ctx;
	if (fwrite(b->p, 1, b->n, f) != b->n)
		return eng_err_set(err, ENG_EIO, "write the model file: %s", strerror(errno));
	return 0;
}

/* Writes bytes to path through the output writer (engine/base/outfile.h). */
static int write_atomic(const char *path, const uint8_t *p, size_t n, eng_err *err)
{
	bytes_ctx b = {p, n};
	return eng_out_write(path, put_bytes, &b, err);
}

int eng_train_export(eng_ws *ws, const int64_t *ids, size_t nds, const eng_train_export_opts *o,
                     const char *path, const eng_progress *prog, size_t *pairs_out, eng_err *err)
{
	if (o->folds < 2 || o->folds > ENG_MODELFILE_MAX_FOLDS)
		return eng_err_set(err, ENG_EINPUT, "--folds must be in [2, %d], got %d",
		                   ENG_MODELFILE_MAX_FOLDS, o->folds);
	if (nds == 0)
		return eng_err_set(err, ENG_EINPUT,
		                   "the workspace has no datasets; run `mmaudit index` first");
	eng_data d;
	int rc = eng_data_load_unvoted(ws, ids, nds, &o->text, o->features, prog, &d, err);
	if (rc)
		return rc;
	eng_modelfile *mf = calloc(1, sizeof *mf);
	size_t n = d.ps.n, *in = malloc((n ? n : 1) * sizeof *in), nin = 0;
	int *fold = malloc((n ? n : 1) * sizeof *fold);
	eng_trainjob *jobs = calloc((size_t)o->folds, sizeof *jobs);
	obuf b = {0};
	json_t *cfg = NULL;
	if (!mf || !in || !fold || !jobs) {
		rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
		goto out;
	}
	mf->folds = o->folds;
	mf->seed = o->train.seed;
	size_t want = o->train_sample ? o->train_sample : DEFAULT_SAMPLE;
	mf->cut =
	    want >= n ? UINT64_MAX : (uint64_t)((double)want / (double)n * 18446744073709551615.0);
	/* fewer distinct split keys than folds: key by content instead */
	{
		uint64_t seen[ENG_MODELFILE_MAX_FOLDS];
		int ns = 0;
		for (size_t r = 0; r < n && ns < o->folds; r++) {
			int i = 0;
			while (i < ns && seen[i] != d.group[r])
				i++;
			if (i == ns)
				seen[ns++] = d.group[r];
		}
		mf->content_key = ns < o->folds;
	}
	int any_img = 0;
	for (size_t r = 0; r < n; r++) {
		any_img |= d.ps.img_of[r] >= 0;
		uint64_t k = eng_modelfile_key(mf, &d, r);
		if (eng_modelfile_in_sample(mf, k)) {
			in[nin] = r;
			fold[nin++] = eng_modelfile_fold(mf, k);
		}
	}
	eng_data_drop_pair_keys(&d); /* split done: training needs the pairset alone */
	if (nin < 2) {
		rc = eng_err_set(err, ENG_EINPUT,
		                 "the training sample has %zu pair(s); index more data or raise "
		                 "--train-sample",
		                 nin);
		goto out;
	}
	mf->methods =
	    (1u << ENG_METHOD_TEXT) |
	    (any_img ? (1u << ENG_METHOD_STANDARD) | (1u << ENG_METHOD_SHORTCUT_AWARE) : 0);
	for (int f = 0; f < o->folds; f++) {
		eng_trainjob *jb = &jobs[f];
		size_t j = 0; /* the job lists its rows when it starts: in[i] with fold[i] != f */
		for (size_t i = 0; i < nin; i++)
			j += fold[i] != f;
		if (j == 0) {
			rc = eng_err_set(
			    err, ENG_EINPUT,
			    "fold %d of the training sample leaves nothing to train on; "
			    "index more varied data",
			    f);
			goto out;
		}
		jb->opts = o->train;
		jb->opts.epochs = o->train.epochs > 0 ? o->train.epochs : eng_train_epochs_auto(j);
		jb->opts.seed = eng_mix64(o->train.seed ^ eng_mix64((size_t)f * 101u + 0x7E));
		jb->methods = mf->methods;
		jb->src = in;
		jb->src_fold = fold;
		jb->nsrc = nin;
		jb->skip_fold = f;
		jb->ntrain = j;
		jb->keep = mf->m[f];
	}
	if ((rc = eng_trainjobs_run(&d.ps, jobs, (size_t)o->folds, o->threads, prog, err)))
		goto out;
	/* the configuration the scorer must match, and what is needed to reproduce the model */
	json_t *mlist = json_array(), *dsn = json_array();
	for (int q = 0; q < ENG_METHOD_COUNT; q++)
		if (mf->methods & (1u << q))
			json_array_append_new(mlist, json_string(eng_method_name((eng_method)q)));
	for (size_t k = 0; k < nds; k++)
		json_array_append_new(dsn, json_string(d.ds_name[k]));
	char cut[32];
	snprintf(cut, sizeof cut, "%016llx", (unsigned long long)mf->cut);
	cfg = json_pack(
	    "{s:s, s:i, s:i, s:I, s:s, s:s, s:I, s:I, s:I, s:o, s:o, s:i, s:i, s:i, s:I, s:I, s:s, "
	    "s:o, s:f, s:f, s:f, s:f, s:i, s:s}",
	    "mmaudit", MMAUDIT_VERSION, "format", ENG_MODELFILE_VERSION, "folds", o->folds, "seed",
	    (json_int_t)o->train.seed, "split_key", mf->content_key ? "content" : "image or prompt",
	    "sample_cut", cut, "train_sample", (json_int_t)want, "sample_pairs", (json_int_t)nin,
	    "population_pairs", (json_int_t)n, "methods", mlist, "datasets", dsn, "hash_bits",
	    o->text.hash_bits, "bigrams", o->text.bigrams, "crosses", o->text.crosses, "text_dim",
	    (json_int_t)d.ps.text_dim, "img_dim", (json_int_t)d.ps.img_dim, "features",
	    eng_features_name(d.features), "feature_detail", eng_data_features_json(&d),
	    "confident", o->confident, "min_image_gain", o->min_image_gain, "lr",
	    (double)o->train.lr, "l2", (double)o->train.l2, "epochs", o->train.epochs, "command",
	    o->command ? o->command : "");
	char *cj =
	    cfg ? json_dumps(cfg, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_SORT_KEYS) : NULL;
	if (!cj) {
		rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
		goto out;
	}
	ob_put(&b, MAGIC, sizeof MAGIC);
	ob_u32(&b, ENG_MODELFILE_VERSION);
	ob_u32(&b, (uint32_t)strlen(cj));
	ob_put(&b, cj, strlen(cj));
	free(cj);
	uint32_t nm = 0;
	for (int f = 0; f < o->folds; f++)
		for (int q = 0; q < ENG_METHOD_COUNT; q++)
			nm += mf->m[f][q] != NULL;
	ob_u32(&b, nm);
	for (int f = 0; f < o->folds && !rc; f++) {
		for (int q = 0; q < ENG_METHOD_COUNT && !rc; q++) {
			if (!mf->m[f][q])
				continue;
			uint8_t *ser = NULL;
			size_t len = 0;
			if (eng_model_serialize(mf->m[f][q], &ser, &len)) {
				rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
				break;
			}
			ob_u32(&b, (uint32_t)f);
			ob_u32(&b, (uint32_t)q);
			ob_u64(&b, len);
			ob_put(&b, ser, len);
			free(ser);
		}
	}
	uint8_t dig[ENG_SHA256_LEN];
	if (!rc && !b.oom) {
		eng_sha256(b.p, b.n, dig);
		ob_put(&b, dig, sizeof dig);
	}
	if (!rc && b.oom)
		rc = eng_err_set(err, ENG_ENOMEM, "out of memory (model file)");
	if (!rc)
		rc = write_atomic(path, b.p, b.n, err);
	if (!rc && pairs_out)
		*pairs_out = nin;
out:
	json_decref(cfg);
	free(b.p);
	eng_modelfile_free(mf);
	free(in);
	free(fold);
	free(jobs);
	eng_data_free(&d);
	return rc;
}

/* ---- reading ----------------------------------------------------------------------------------
 */

static uint32_t rd_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int bad(eng_err *err, const char *path, const char *what)
{
	return eng_err_set(err, ENG_EINPUT,
	                   "'%s' is not a usable mmaudit model file: %s (write it again with "
	                   "`mmaudit train`)",
	                   path, what);
}

int eng_modelfile_read(const char *path, eng_modelfile **out, eng_err *err)
{
	*out = NULL;
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return eng_err_set(err, errno == ENOENT ? ENG_EINPUT : ENG_EIO,
		                   "open model '%s': %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return eng_err_set(err, ENG_EINPUT, "model '%s' is not a regular file", path);
	}
	if ((uint64_t)st.st_size > MAX_FILE_BYTES || st.st_size < 8 + 12 + ENG_SHA256_LEN) {
		close(fd);
		return bad(err, path, "its size is impossible for a model file");
	}
	size_t n = (size_t)st.st_size, off = 0;
	uint8_t *p = malloc(n);
	if (!p) {
		close(fd);
		return eng_err_set(err, ENG_ENOMEM, "out of memory reading '%s'", path);
	}
	while (off < n) {
		ssize_t r = read(fd, p + off, n - off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		off += (size_t)r;
	}
	close(fd);
	int rc = off != n ? eng_err_set(err, ENG_EIO, "read model '%s': short read", path)
	                  : eng_modelfile_parse(p, n, path, out, err);
	free(p);
	return rc;
}

int eng_modelfile_parse(const uint8_t *p, size_t n, const char *path, eng_modelfile **out,
                        eng_err *err)
{
	*out = NULL;
	int rc = 0;
	eng_modelfile *mf = NULL;
	if (n < 8 + 12 + ENG_SHA256_LEN || (uint64_t)n > MAX_FILE_BYTES)
		return bad(err, path, "its size is impossible for a model file");
	if (memcmp(p, MAGIC, sizeof MAGIC)) {
		rc = bad(err, path, "no model file header");
		goto out;
	}
	uint8_t dig[ENG_SHA256_LEN];
	eng_sha256(p, n - ENG_SHA256_LEN, dig);
	if (memcmp(dig, p + n - ENG_SHA256_LEN, ENG_SHA256_LEN)) {
		rc = bad(err, path,
		         "its checksum does not match (the file is corrupt or truncated)");
		goto out;
	}
	if (rd_u32(p + 8) != ENG_MODELFILE_VERSION) {
		char m[96];
		snprintf(m, sizeof m, "format version %u, this mmaudit reads %d", rd_u32(p + 8),
		         ENG_MODELFILE_VERSION);
		rc = bad(err, path, m);
		goto out;
	}
	size_t end = n - ENG_SHA256_LEN, pos = 12;
	uint32_t clen = rd_u32(p + pos);
	pos += 4;
	if (clen > end - pos) {
		rc = bad(err, path, "its configuration runs past the end");
		goto out;
	}
	mf = calloc(1, sizeof *mf);
	if (!mf) {
		rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
		goto out;
	}
	json_error_t je;
	mf->config = json_loadb((const char *)p + pos, clen, JSON_REJECT_DUPLICATES, &je);
	pos += clen;
	json_t *c = mf->config;
	const char *cut = json_string_value(json_object_get(c, "sample_cut")),
	           *sk = json_string_value(json_object_get(c, "split_key")),
	           *fe = json_string_value(json_object_get(c, "features"));
	json_int_t K = json_integer_value(json_object_get(c, "folds"));
	if (!json_is_object(c) || !cut || !sk || !fe || K < 2 || K > ENG_MODELFILE_MAX_FOLDS ||
	    !json_is_integer(json_object_get(c, "seed")) || eng_features_parse(fe, &mf->features)) {
		rc = bad(err, path, "its configuration is incomplete");
		goto out;
	}
	mf->folds = (int)K;
	mf->seed = (uint64_t)json_integer_value(json_object_get(c, "seed"));
	mf->cut = strtoull(cut, NULL, 16);
	mf->content_key = !strcmp(sk, "content");
	mf->text.hash_bits = (int)json_integer_value(json_object_get(c, "hash_bits"));
	mf->text.bigrams = (int)json_integer_value(json_object_get(c, "bigrams"));
	mf->text.crosses = (int)json_integer_value(json_object_get(c, "crosses"));
	mf->text_dim = (uint32_t)json_integer_value(json_object_get(c, "text_dim"));
	mf->img_dim = (uint32_t)json_integer_value(json_object_get(c, "img_dim"));
	if (end - pos < 4) {
		rc = bad(err, path, "it ends before its models");
		goto out;
	}
	uint32_t nm = rd_u32(p + pos);
	pos += 4;
	if (nm > (uint32_t)K * ENG_METHOD_COUNT) {
		rc = bad(err, path, "it declares more models than folds x methods");
		goto out;
	}
	for (uint32_t i = 0; i < nm; i++) {
		if (end - pos < 16) {
			rc = bad(err, path, "a model header runs past the end");
			goto out;
		}
		uint32_t f = rd_u32(p + pos), q = rd_u32(p + pos + 4);
		uint64_t len = (uint64_t)rd_u32(p + pos + 8) | (uint64_t)rd_u32(p + pos + 12) << 32;
		pos += 16;
		if (f >= (uint32_t)K || q >= ENG_METHOD_COUNT || mf->m[f][q] || len > end - pos) {
			rc = bad(err, path, "a model record has a bad fold, method or length");
			goto out;
		}
		if ((rc = eng_model_deserialize(p + pos, (size_t)len, &mf->m[f][q], err))) {
			if (rc == ENG_EINPUT) { /* the record's own message, with the file named */
				char m[sizeof err->msg];
				snprintf(m, sizeof m, "%s", err->msg);
				rc = bad(err, path, m);
			}
			goto out;
		}
		if (eng_model_method(mf->m[f][q]) != (eng_method)q) {
			rc = bad(err, path, "a model record's method does not match its header");
			goto out;
		}
		mf->methods |= 1u << q;
		pos += (size_t)len;
	}
	if (pos != end || !(mf->methods & (1u << ENG_METHOD_TEXT))) {
		rc = bad(err, path, "its models do not fill the file or the text proxy is missing");
		goto out;
	}
	for (int f = 0; f < mf->folds; f++)
		for (int q = 0; q < ENG_METHOD_COUNT; q++)
			if ((mf->methods & (1u << q)) && !mf->m[f][q]) {
				rc = bad(err, path, "a fold lacks one of the methods");
				goto out;
			}
	/* every model must fit the features its configuration gives (the scorers index the models
	 * with them): the same text columns, the same first dense column, the same image features
	 */
	const eng_model *m0 = mf->m[0][ENG_METHOD_TEXT];
	for (int f = 0; f < mf->folds; f++)
		for (int q = 0; q < ENG_METHOD_COUNT; q++) {
			const eng_model *m = mf->m[f][q];
			if (m &&
			    (m->text_dim != mf->text_dim || m->dense_begin != m0->dense_begin ||
			     (m->img_dim && m->img_dim != mf->img_dim))) {
				rc = bad(err, path,
				         "a model's shape does not match its configuration");
				goto out;
			}
		}
	if (mf->text.hash_bits < 4 || mf->text.hash_bits > 26 ||
	    (1u << mf->text.hash_bits) > mf->text_dim ||
	    ((mf->features == ENG_FEATURES_BUILTIN || mf->features == ENG_FEATURES_AUTO) &&
	     m0->dense_begin != mf->text_dim)) {
		rc = bad(err, path, "its text feature configuration does not match its models");
		goto out;
	}
	{ /* the mean text proxy */
		uint8_t *ser = NULL;
		size_t sl = 0;
		if (eng_model_serialize(mf->m[0][ENG_METHOD_TEXT], &ser, &sl) ||
		    (rc = eng_model_deserialize(ser, sl, &mf->text_mean, err))) {
			free(ser);
			rc = rc ? rc : eng_err_set(err, ENG_ENOMEM, "out of memory");
			goto out;
		}
		free(ser);
		eng_model *tm = mf->text_mean;
		for (size_t k = 0; k < tm->n_params; k++) {
			double sum = 0;
			for (int f = 0; f < mf->folds; f++)
				sum += mf->m[f][ENG_METHOD_TEXT]->params[k];
			tm->params[k] = (float)(sum / mf->folds);
		}
	}
	eng_sha256_hex(dig, mf->sha256);
out:
	if (rc) {
		eng_modelfile_free(mf);
		return rc;
	}
	*out = mf;
	return 0;
}

int eng_modelfile_check_data(const eng_modelfile *mf, const eng_data *d, eng_err *err)
{
	if (d->ps.text_dim != mf->text_dim || d->ps.img_dim != mf->img_dim)
		return eng_err_set(
		    err, ENG_EINPUT,
		    "the model was trained on %u text columns and %u image features, "
		    "this workspace gives %u and %u: load the same embeddings and "
		    "use the model's --hash-bits and --features (%s)",
		    mf->text_dim, mf->img_dim, d->ps.text_dim, d->ps.img_dim,
		    eng_features_name(mf->features));
	if (d->ps.text_dim - d->ps.dense_dim != mf->m[0][ENG_METHOD_TEXT]->dense_begin)
		return eng_err_set(err, ENG_EINPUT,
		                   "the model's text columns split %u hashed + %u embedding, this "
		                   "workspace gives %u + %u: load the same embeddings",
		                   mf->m[0][ENG_METHOD_TEXT]->dense_begin,
		                   mf->text_dim - mf->m[0][ENG_METHOD_TEXT]->dense_begin,
		                   d->ps.text_dim - d->ps.dense_dim, d->ps.dense_dim);
	if (d->features != mf->features)
		return eng_err_set(
		    err, ENG_EINPUT,
		    "the model was trained with --features %s, this workspace resolves "
		    "to %s",
		    eng_features_name(mf->features), eng_features_name(d->features));
	return 0;
}
