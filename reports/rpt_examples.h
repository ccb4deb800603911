/* rpt_examples.h - picks the example pairs the report shows: the most text-solvable
 * (category text-shortcut, highest shortcut score first) and those that need the image (category
 * needs-image, lowest shortcut score first), across every scored dataset, ties by pair id.
 * A duplicate group (engine/ingest/dedup.h) gives one card, its best-ranked member of the list,
 * marked with the group's size and whether it was judged in both orders or has conflicting labels.
 * Texts are cut to 4 KB (whole UTF-8 sequences) when loaded; full lengths are kept. */
#ifndef RPT_EXAMPLES_H
#define RPT_EXAMPLES_H

#include <stddef.h>
#include <stdint.h>

#include "reports/rpt_state.h"

#define RPT_TEXT_CAP 4096

enum { RPT_EX_SHORTCUT, RPT_EX_NEEDS_IMAGE };

typedef struct rpt_card {
	int64_t pair_id;
	const char *dataset; /* borrowed from the state */
	char *ext_id;
	char *text[3];    /* prompt, chosen, rejected: at most RPT_TEXT_CAP bytes each */
	int64_t chars[3]; /* their full lengths in code points */
	double p_text, p_mm, p_sa, sfc;
	int has_image;
	unsigned char *thumb; /* images.thumb, NULL when absent */
	size_t thumb_len;
	char *sha256;    /* of the image, NULL without one */
	char *dup_group; /* pairs.dup_group, NULL when the pair has no duplicate */
	int64_t group_n; /* pairs in its duplicate group (1 without one) */
	int conflict;    /* the group's members disagree on the preferred answer */
	int both_orders; /* the group was judged with the answers in both orders */
} rpt_card;

typedef struct rpt_examples {
	rpt_card *cards;
	size_t n;
	int64_t total;    /* pairs of the category over all scored datasets */
	int64_t distinct; /* of those, distinct pairs (a duplicate group counts once) */
} rpt_examples;

#define RPT_EX_MAX 100 /* the most cards per list */

/* What a caller's own scan of one dataset's scores found for a list: the pairs of its category
 * and the first ones of the list (at most RPT_EX_MAX), ranked as the list ranks them when every
 * pair is its own group. */
typedef struct rpt_examples_seen {
	int valid; /* 0: not scanned (the loader reads everything itself) */
	int64_t count;
	size_t n;
	int64_t id[RPT_EX_MAX];
	double p_text[RPT_EX_MAX];
} rpt_examples_seen;

/* Folds one scored pair into seen (list `which`, keeping top_n <= RPT_EX_MAX); pairs come in any
 * order. */
void rpt_examples_see(rpt_examples_seen *seen, int which, int top_n, int64_t pair_id,
                      double p_text);

/* Loads at most top_n cards of list `which`. out is zeroed first. seen: NULL, or per dataset of
 * st what a scan of its scores found for this list; for a dataset without duplicate groups the
 * counts and the cards' pairs are taken from it instead of read again. */
int rpt_examples_load(const rpt_state *st, int which, int top_n, const rpt_examples_seen *seen,
                      rpt_examples *out, eng_err *err);
void rpt_examples_clear(rpt_examples *ex);

#endif
