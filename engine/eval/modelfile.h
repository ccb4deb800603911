/* modelfile.h - exported fold models (`mmaudit train`), scored anywhere (`score --model`).
 *
 * Past one machine the linear models saturate long before the data ends, so a deterministic
 * sample of the pairs trains K fold models, and every shard of the data is scored with them:
 *  - a pair's split key (its image's content hash, else its prompt's hash; with fewer distinct
 *    keys than folds, the content hash of its prompt and answers) decides, hashed with the seed,
 *    whether it is in the training sample (the first `train_sample` pairs' worth of hash space)
 *    and its fold; any process computes both from the pair alone;
 *  - a pair in the sample is scored by the model of its own fold (which never saw it); any other
 *    pair by the mean margin of the K fold models (none saw it).
 * File: "MMAUDITM", u32 format version, u32 config length, the config JSON (feature
 * configuration, seed, folds, sample rule, methods, versions), u32 model count, then per model
 * u32 fold, u32 method, u64 length and its eng_model_serialize bytes, and the SHA-256 of all the
 * bytes before it. Reading checks the magic, version, every length against the file, and the
 * checksum; a workspace whose feature configuration differs is refused by the scorer. */
#ifndef ENG_MODELFILE_H
#define ENG_MODELFILE_H

#include <stddef.h>
#include <stdint.h>

#include "dataload.h"
#include "err.h"
#include "model.h"
#include "progress.h"
#include "textfeat.h"
#include "workspace.h"

enum { ENG_MODELFILE_VERSION = 1, ENG_MODELFILE_MAX_FOLDS = 100 };

struct json_t;
typedef struct eng_modelfile {
	struct json_t *config; /* owned */
	int folds;
	uint64_t seed;
	uint64_t cut;    /* in the sample when mix(key, seed) < cut (UINT64_MAX: every pair) */
	int content_key; /* 1: split keys are the pair's content hash (few images/prompts) */
	unsigned methods;
	eng_textfeat_opts text;
	eng_features features;
	uint32_t text_dim, img_dim;
	eng_model *m[ENG_MODELFILE_MAX_FOLDS][ENG_METHOD_COUNT]; /* owned */
	/* The text proxy with the mean of the K fold proxies' weights: its margin IS the mean of
	 * their margins (the proxy is linear in its weights), at one model's cost; the MM-RMs
	 * standardize the image per fold, so they are averaged margin by margin. Owned. */
	eng_model *text_mean;
	char sha256[65]; /* of the file's bytes (the model's identity in runs and merges) */
} eng_modelfile;

/* The split key of row r of d under this model (see the top of this file). */
uint64_t eng_modelfile_key(const eng_modelfile *mf, const eng_data *d, size_t r);
int eng_modelfile_in_sample(const eng_modelfile *mf, uint64_t key);
int eng_modelfile_fold(const eng_modelfile *mf, uint64_t key);

typedef struct eng_train_export_opts {
	int folds;            /* default 5 */
	size_t train_sample;  /* pairs in the training sample; 0 = all up to 1M (default) */
	eng_train_opts train; /* seed, epochs (0 = auto), lr, l2 ... */
	eng_textfeat_opts text;
	eng_features features;
	int threads;
	double confident;      /* recorded, used by the scorer; default 0.8 */
	double min_image_gain; /* likewise; default 0.01 */
	const char *command;
} eng_train_export_opts;

void eng_train_export_opts_default(eng_train_export_opts *o);

/* Trains the fold models on datasets ids[0..nds) of ws (pooled) and writes them to path (a
 * temporary file in the same folder, fsynced, renamed). *pairs_out (may be NULL) = pairs in the
 * training sample. Returns 0 or an ENG_E* code with a message. */
int eng_train_export(eng_ws *ws, const int64_t *ids, size_t nds, const eng_train_export_opts *o,
                     const char *path, const eng_progress *prog, size_t *pairs_out, eng_err *err);

/* Reads and checks a model file (magic, version, lengths, SHA-256, the config, every model).
 * ENG_EINPUT with the path and what is wrong; ENG_EIO; ENG_ENOMEM. */
int eng_modelfile_read(const char *path, eng_modelfile **out, eng_err *err);
/* The same checks on the n bytes of a model file at p (not kept: the result owns its copies);
 * path only names it in messages. */
int eng_modelfile_parse(const uint8_t *p, size_t n, const char *path, eng_modelfile **out,
                        eng_err *err);
void eng_modelfile_free(eng_modelfile *mf);

/* ENG_EINPUT, naming both, when data d was not featurized as the model was (text columns, image
 * feature dimension or mode, embeddings). */
int eng_modelfile_check_data(const eng_modelfile *mf, const eng_data *d, eng_err *err);

/* score --stdin's fast path: scores the records lines[0..n) (line numbers base + 1 ...) with the
 * text proxy in-process and prints one JSON line per record to out (as `score --stdin`
 * documents; p_mm, p_sa and sfc null, as for a text-only dataset; no duplicate or conflict check
 * across records). Returns 1 without printing anything when a record has an image or the model
 * needs external embeddings (the caller then goes through a workspace), 0 when printed, or an
 * ENG_E* code. The output of a line depends on that line (and base) alone. */
#include <stdio.h>
int eng_modelfile_score_lines(const eng_modelfile *mf, char *const *lines, const size_t *lens,
                              size_t n, uint64_t base, double confident, FILE *out, eng_err *err);

/* The state eng_modelfile_score_lines needs (a featurizer that votes no names, the pair matrix,
 * the records, the output text), kept from one batch of lines to the next: a stream scores batch
 * after batch without allocating it again. Nothing of one run changes the next one's output, so
 * any scorer may run any batch. One scorer is used by one thread at a time; mf must outlive
 * it. */
typedef struct eng_line_scorer eng_line_scorer;
/* Returns 0 or ENG_ENOMEM (the featurizer is made by the first run, which reports its errors). */
int eng_line_scorer_new(const eng_modelfile *mf, double confident, eng_line_scorer **out,
                        eng_err *err);
/* eng_modelfile_score_lines into the scorer's own buffer (replacing the previous run's output):
 * the same return values; eng_line_scorer_output gives the text after a 0. */
int eng_line_scorer_run(eng_line_scorer *s, char *const *lines, const size_t *lens, size_t n,
                        uint64_t base, eng_err *err);
/* The output of the last run (*len bytes, valid until the next run or the free). */
const char *eng_line_scorer_output(const eng_line_scorer *s, size_t *len);
/* Exchanges the last run's output (into *buf, *len bytes of a malloc'd block of *cap) with the
 * caller's block *buf of *cap bytes (NULL: none), which the scorer writes its next run into. The
 * output then outlives the scorer's next run; the caller frees the block it holds. */
void eng_line_scorer_swap_output(eng_line_scorer *s, char **buf, size_t *len, size_t *cap);
void eng_line_scorer_free(eng_line_scorer *s); /* accepts NULL */

#endif
