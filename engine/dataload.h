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

#include "engine/err.h"
#include "engine/pairset.h"
#include "engine/progress.h"
#include "engine/textfeat.h"
#include "engine/workspace.h"

typedef struct eng_data {
	eng_pairset ps;      /* rows in dataset order, then pair id order */
	eng_textfeat *tf;    /* owned */
	size_t nds;          /* datasets */
	int64_t *ds_id;      /* (nds) database ids */
	char **ds_name;      /* (nds) names, owned */
	size_t *ds_begin;    /* (nds + 1) row range of dataset i: [ds_begin[i], ds_begin[i+1]) */
	int64_t *pair_id;    /* (n) pairs.id */
	uint64_t *group;     /* (n) split key: image content hash prefix, or prompt hash when no image */
	uint64_t *img_key;   /* (n) image content hash prefix, 0 when no image */
	uint64_t *prompt_key;/* (n) hash of the prompt text */
	int8_t *longer;      /* (n) +1 chosen has more characters, -1 fewer, 0 equal */
	int8_t *formatted;   /* (n) +1 chosen has more markdown/list markers, -1 fewer, 0 equal */
	size_t n_missing_feat; /* images whose cached features were absent or stale (treated as none) */
} eng_data;

/* Loads datasets ids[0..nds) (in that order). tfo may be NULL for defaults. */
int eng_data_load(eng_ws *ws, const int64_t *ids, size_t nds, const eng_textfeat_opts *tfo,
		  const eng_progress *prog, eng_data *out, eng_err *err);
void eng_data_free(eng_data *d); /* accepts a zeroed struct */

/* Counts characters (UTF-8 code points) of s. */
size_t eng_utf8_chars(const char *s);
/* Counts markdown/list formatting markers (bullets, numbered items, headers, bold, code fences). */
int eng_format_markers(const char *s);
/* 64-bit FNV-1a of a string. */
uint64_t eng_hash64(const char *s, size_t n);

#endif
