/* dataload.h - loads datasets' pairs from the workspace into a feature matrix for training.
 *
 * All requested datasets go into ONE eng_pairset sharing one text featurizer (so bucket names and
 * models are comparable across datasets). Per row it keeps what scoring needs besides features:
 * the pair's database id, its dataset, a group key for splits (the image's content hash, or the
 * prompt's hash for text-only pairs), and the answers' blind-baseline facts. The answers' text is
 * streamed through the featurizer and not kept. Does not train or write anything. */
#ifndef ENG_DATALOAD_H
#define ENG_DATALOAD_H

#include <stddef.h>
#include <stdint.h>

#include "embeddings.h"
#include "err.h"
#include "hash.h"
#include "pairset.h"
#include "progress.h"
#include "textfeat.h"
#include "workspace.h"

typedef struct eng_data {
	eng_pairset ps;   /* rows in dataset order, then pair id order */
	eng_textfeat *tf; /* owned */
	size_t nds;       /* datasets */
	int64_t *ds_id;   /* (nds) database ids */
	char **ds_name;   /* (nds) names, owned */
	size_t *ds_begin; /* (nds + 1) row range of dataset i: [ds_begin[i], ds_begin[i+1]) */
	int64_t *pair_id; /* (n) pairs.id */
	uint64_t
	    *group; /* (n) split key: image content hash prefix, or prompt hash when no image */
	uint64_t *img_key;    /* (n) image content hash prefix, 0 when no image */
	uint64_t *prompt_key; /* (n) hash of the prompt text */
	uint64_t *answer_key; /* (n) eng_answer_pair_key of the two answers (never 0); NULL when
	                         loaded by eng_data_load_scoring */
	int8_t *longer;       /* (n) +1 chosen has more characters, -1 fewer, 0 equal */
	uint32_t *chosen_chars, *rejected_chars; /* (n) UTF-8 code points of the answers */
	int8_t *formatted;     /* (n) +1 chosen has more markdown/list markers, -1 fewer, 0 equal */
	size_t n_missing_feat; /* images whose cached features were absent or stale (treated as
	                          none) */
	/* Feature layout (external embeddings, embeddings.h). Image rows of ps: [built-in features
	 * (img_builtin_dim), image embedding (img_emb_dim)]. Text columns of ps: [textfeat columns
	 * (text_builtin_dim), text-embedding difference (text_emb_dim = ps.dense_dim)]. */
	eng_features features; /* resolved (auto only with a set loaded; see eng_data_load) */
	uint32_t img_builtin_dim, img_emb_dim, text_builtin_dim, text_emb_dim;
	char img_emb_sha[65], text_emb_sha[65]; /* content hashes of the sets used, "" when none */
	size_t n_img_emb_missing;  /* distinct images without a vector: given the mean vector */
	size_t n_text_emb_missing; /* pairs with a response without a vector: zero difference */
	int64_t first_text_emb_missing; /* pairs.id of the first such pair, 0 when none */
} eng_data;

/* Frees the per-pair keys and answer statistics (pair_id, group, img_key, prompt_key,
 * answer_key, longer, chosen_chars, rejected_chars, formatted; they become NULL), keeping the
 * pairset, the featurizer and the feature layout: for a caller that only trains once it has
 * split the rows (the keys are 50 bytes a pair). eng_data_free stays safe. */
void eng_data_drop_pair_keys(eng_data *d);

/* Loads datasets ids[0..nds) (in that order). tfo may be NULL for defaults. features chooses the
 * image and text features (embeddings.h): with a loaded image set, each image row gets the set's
 * vector (after the built-in features for BOTH, instead of them for EMBEDDINGS); images without a
 * vector get the mean vector of those with one (neutral after standardization) and are counted.
 * With a loaded text set, each pair's row gets e(chosen)/|e(chosen)| - e(rejected)/|e(rejected)|
 * as ps.dense_dim dense columns after (BOTH) or instead of (EMBEDDINGS) the textfeat columns;
 * pairs lacking either vector get zeros there and are counted. EMBEDDINGS or BOTH with no set
 * loaded is ENG_EINPUT. AUTO is BUILTIN when no set is loaded; otherwise an image set replaces the
 * built-in image features (as EMBEDDINGS) and a text set joins the textfeat columns (as BOTH). */
int eng_data_load(eng_ws *ws, const int64_t *ids, size_t nds, const eng_textfeat_opts *tfo,
                  eng_features features, const eng_progress *prog, eng_data *out, eng_err *err);

/* eng_data_load without the streaming vote's provisional bucket names (textfeat.h): the same
 * rows, keys and facts, but eng_data_column_name says "no n-gram seen" for every hashed column
 * (and eng_textfeat_sign is 0 there). For the runs that name the columns they report exactly
 * (eng_data_namer): score, crossdist, train; the vote was a random write per n-gram into 8 MiB
 * of slots per featurizer, for names they never show. */
int eng_data_load_unvoted(eng_ws *ws, const int64_t *ids, size_t nds, const eng_textfeat_opts *tfo,
                          eng_features features, const eng_progress *prog, eng_data *out,
                          eng_err *err);

/* eng_data_load_unvoted without the answer keys (answer_key stays NULL): for a cross-fitted score
 * run, which splits by group and never by content (the keys serve model files' content splits
 * and crossdist's overlap check); the normalised hash of both answers was 2% of an audit. */
int eng_data_load_scoring(eng_ws *ws, const int64_t *ids, size_t nds, const eng_textfeat_opts *tfo,
                          eng_features features, const eng_progress *prog, eng_data *out,
                          eng_err *err);

/* eng_data_load of the pairs with lo <= pairs.id < hi only (a chunk of a big dataset: score
 * --model streams a shard through in chunks). */
int eng_data_load_range(eng_ws *ws, const int64_t *ids, size_t nds, const eng_textfeat_opts *tfo,
                        eng_features features, int64_t lo, int64_t hi, const eng_progress *prog,
                        eng_data *d, eng_err *err);

/* The features used, as a JSON object for run records: {"mode", "image_builtin_dim",
 * "text_builtin_dim", "image_embedding_dim",
 * "text_embedding_dim", "image_embeddings_sha256", "text_embeddings_sha256",
 * "images_without_embedding", "pairs_without_text_embedding"}. New reference, NULL on OOM. */
struct json_t;
struct json_t *eng_data_features_json(const eng_data *d);

/* Readable name of text column c of d's pairset: textfeat names, "text-embedding[i]" for the
 * dense columns. Returns buf. */
const char *eng_data_column_name(const eng_data *d, uint32_t c, char *buf, size_t cap);
void eng_data_free(eng_data *d); /* accepts a zeroed struct */

/* Exact names (textfeat.h, eng_textfeat_namer) for the text columns cols[0..n) of dataset k of d:
 * reads that dataset's answers from the workspace again (the rows d holds for it) and counts every
 * n-gram falling into one of the hashed columns among cols (other columns are ignored), so a
 * bucket is named by its most frequent n-gram in that dataset, whatever the load's batch order
 * or threads. *out is the caller's (eng_textfeat_namer_free). Returns 0, ENG_ENOMEM or a
 * workspace error. */
int eng_data_namer(eng_ws *ws, const eng_data *d, size_t k, const uint32_t *cols, size_t n,
                   eng_textfeat_namer **out, eng_err *err);
/* 1 when text column c of d is a hashed n-gram bucket (not a named or embedding column). */
int eng_data_column_hashed(const eng_data *d, uint32_t c);

/* The answer pair's key: the normalised (ASCII lower case, whitespace collapsed, trimmed) texts
 * of both answers hashed in either order, so the same pair with the answers swapped has the same
 * key; never 0. What leaks between text-only datasets (crossdist). */
uint64_t eng_answer_pair_key(const char *chosen, const char *rejected);

/* Counts markdown/list formatting markers (bullets, numbered items, headers, bold, code fences). */
int eng_format_markers(const char *s);

#endif
