/* embeddings.h - external embeddings: the team's own encoder's vectors for images and responses.
 *
 * Input files: a NumPy .npy float32 matrix ('<f4', C order, 2-D (rows, dim)) plus an ids file with
 * one key per line (row i of the matrix belongs to line i), or JSONL lines
 * {"key": "...", "embedding": [numbers]} (for text also {"text": "...", "embedding": [...]}).
 * Keys: image vectors by the image's content hash (64 hex digits) or by the image path as written
 * in the records (pairs.image_ref, or images.source); text vectors by the lowercase hex SHA-256 of
 * the response text's UTF-8 bytes, or by the response text itself (hashed here; a "text" field is
 * always hashed, so it is the unambiguous way to key by text).
 * Storage: one set per kind per workspace (tables embedding_sets, embeddings, schemas/0002); a new
 * set replaces the old one in one transaction. Use in models: dataload.h.
 * Does not train, print or read images. */
#ifndef ENG_EMBEDDINGS_H
#define ENG_EMBEDDINGS_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "workspace.h"

typedef enum eng_emb_kind {
	ENG_EMB_IMAGE = 0,
	ENG_EMB_TEXT = 1,
} eng_emb_kind;

const char *eng_emb_kind_name(eng_emb_kind k); /* "image", "text" */

/* Which features the models see (score, crossdist, audit). */
typedef enum eng_features {
	ENG_FEATURES_AUTO = 0,    /* both when the workspace has an embedding set, else builtin */
	ENG_FEATURES_BUILTIN = 1, /* built-in text and image features only */
	ENG_FEATURES_EMBEDDINGS = 2, /* a loaded set REPLACES the built-in features of its kind */
	ENG_FEATURES_BOTH = 3,       /* a loaded set is used NEXT TO the built-in features */
} eng_features;

const char *eng_features_name(eng_features f); /* "auto", "builtin", "embeddings", "both" */
int eng_features_parse(const char *s, eng_features *out); /* 0, or ENG_EINPUT */

/* Vectors read from a file, keys as written there (not yet resolved). */
typedef struct eng_emb_table {
	size_t rows;
	uint32_t dim;
	float *vec;       /* (rows, dim) row-major, all finite */
	char **key;       /* (rows) NUL-terminated, owned */
	uint8_t *is_text; /* (rows) 1: the key came from a JSONL "text" field (always hashed) */
	char sha256[65];  /* content hash of the vectors file */
} eng_emb_table;

void eng_emb_table_free(eng_emb_table *t); /* accepts NULL or a zeroed table */

/* Reads a 2-D little-endian float32 C-order .npy matrix (format versions 1.0, 2.0, 3.0).
 * Returns 0 and *data (malloc'd, rows x dim), or ENG_EINPUT naming the file and the problem
 * (not an .npy file, dtype other than '<f4', Fortran order, not 2-D, zero columns, truncated or
 * trailing data, a non-finite value), ENG_EIO or ENG_ENOMEM. */
int eng_npy_read(const char *path, float **data, size_t *rows, uint32_t *dim, eng_err *err);

/* Reads vectors: path ending in .npy needs ids_path (one key per line, as many lines as rows;
 * an empty line is an error); any other path is read as JSONL (ids_path must be NULL). All rows
 * must have the same dimension (else ENG_EINPUT naming the line). Returns 0, ENG_EINPUT, ENG_EIO
 * or ENG_ENOMEM; on error *out is zeroed. */
int eng_emb_read(const char *path, const char *ids_path, eng_emb_table *out, eng_err *err);

#define ENG_EMB_FIRST 5

/* What eng_emb_store found: counts plus the first few examples of each problem. */
typedef struct eng_emb_report {
	size_t rows, dim;
	size_t stored;          /* vectors stored (distinct resolved keys) */
	size_t duplicates;      /* rows repeating an earlier key with the same vector (ignored) */
	size_t unmatched;       /* stored keys that match no image / response of the workspace */
	size_t unresolved;      /* image path keys that name no indexed image (not stored) */
	size_t ambiguous;       /* image path keys naming two different images (not stored) */
	size_t targets;         /* images used by pairs, or distinct responses, in the workspace */
	size_t targets_missing; /* of those, without a vector */
	size_t pairs;           /* pairs with an image (image kind) or all pairs (text kind) */
	size_t pairs_missing;   /* of those, lacking a vector (text: either response lacks one) */
	size_t nfirst_unmatched, nfirst_missing;
	char first_unmatched[ENG_EMB_FIRST][160]; /* keys as given */
	char first_missing[ENG_EMB_FIRST][200];   /* "dataset:id" of pairs lacking a vector */
} eng_emb_report;

/* Resolves t's keys against the workspace and stores the set of that kind, replacing the previous
 * one, in one transaction (source is recorded as given). Rows with the same resolved key must have
 * identical vectors (else ENG_EINPUT naming both rows). Fills rep (may be NULL). Returns 0,
 * ENG_EINPUT, ENG_EIO or ENG_ENOMEM; on error the workspace is unchanged. */
int eng_emb_store(eng_ws *ws, eng_emb_kind kind, const eng_emb_table *t, const char *source,
                  eng_emb_report *rep, eng_err *err);

/* Reads file (and ids, as eng_emb_read) and stores it as the set of kind (eng_emb_store, source
 * "file + ids", or "file" when ids is NULL): what `mmaudit embed` and the audit pipeline do. Fills
 * rep (may be NULL). Returns 0 or eng_emb_read's / eng_emb_store's error; on error the workspace
 * is unchanged. */
int eng_emb_load(eng_ws *ws, eng_emb_kind kind, const char *file, const char *ids,
                 eng_emb_report *rep, eng_err *err);

/* Dimension of the workspace's set of a kind, 0 when none is loaded. Returns 0 or an error code. */
int eng_emb_set_dim(eng_ws *ws, eng_emb_kind kind, uint32_t *dim, eng_err *err);

/* Lowercase hex SHA-256 of a response text: the text-embedding key of that response. */
void eng_emb_text_key(const char *text, char hex[65]);

#endif
