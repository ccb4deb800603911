/* rpt_examples.c - top-N example pairs per list, merged across datasets. Never loads more than
 * top_n rows per dataset. */
#include "reports/rpt_examples.h"

#include "integrity.h"
#include "metrics.h"
#include "store_examples.h"
#include "reports/rpt_integrity.h"

#include <stdlib.h>
#include <string.h>

/* A malloc'd copy of at most RPT_TEXT_CAP bytes of s[0..n), never splitting a UTF-8 sequence. */
static char *capped(const char *s, size_t n)
{
	if (n > RPT_TEXT_CAP) {
		n = RPT_TEXT_CAP;
		while (n && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	char *o = malloc(n + 1);
	if (o) {
		if (n)
			memcpy(o, s, n);
		o[n] = '\0';
	}
	return o;
}

static void card_free(rpt_card *c)
{
	free(c->ext_id);
	for (int k = 0; k < 3; k++)
		free(c->text[k]);
	free(c->thumb);
	free(c->sha256);
	free(c->dup_group);
}

static int sort_desc(const void *a, const void *b)
{
	const rpt_card *x = a, *y = b;
	if (x->p_text != y->p_text)
		return x->p_text < y->p_text ? 1 : -1;
	return (x->pair_id > y->pair_id) - (x->pair_id < y->pair_id);
}

static int sort_asc(const void *a, const void *b)
{
	const rpt_card *x = a, *y = b;
	if (x->p_text != y->p_text)
		return x->p_text > y->p_text ? 1 : -1;
	return (x->pair_id > y->pair_id) - (x->pair_id < y->pair_id);
}

/* The card's duplicate group: its size, and whether it was judged in both answer orders or has
 * conflicting labels (engine/eval/integrity.h). */
static int group_of(const rpt_state *st, const rpt_dataset *d, rpt_card *c, eng_err *err)
{
	if (!c->dup_group)
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	eng_integrity_group g;
	int rc = eng_integrity_group_of(st->ws, d->id, c->dup_group,
	                                st->integ ? st->integ->position_field : NULL, &g, err);
	if (rc)
		return rc;
	c->group_n = g.n;
	c->conflict = g.conflict;
	c->both_orders = g.both_orders;
	return 0;
}

typedef struct card_ctx {
	const rpt_state *st;
	const rpt_dataset *d;
	rpt_examples *out;
	eng_err *err;
} card_ctx;

static int add_card(void *ctx, const eng_example_row *row)
{
	card_ctx *x = ctx;
	rpt_examples *out = x->out;
	eng_err *err = x->err;
	rpt_card *nc = realloc(out->cards, (out->n + 1) * sizeof *nc);
	if (!nc)
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	out->cards = nc;
	rpt_card *c = &out->cards[out->n++];
	memset(c, 0, sizeof *c);
	c->pair_id = row->pair_id;
	c->dataset = x->d->name;
	c->ext_id = strdup(row->ext_id ? row->ext_id : "");
	for (int k = 0; k < 3; k++) {
		c->text[k] = capped(row->text[k], row->text_len[k]);
		c->chars[k] = row->chars[k];
	}
	c->p_text = row->p_text;
	c->p_mm = row->p_mm;
	c->p_sa = row->p_sa;
	c->sfc = row->sfc;
	c->has_image = row->has_image;
	if (row->thumb && row->thumb_len > 0 && (c->thumb = malloc(row->thumb_len))) {
		memcpy(c->thumb, row->thumb, row->thumb_len);
		c->thumb_len = row->thumb_len;
	}
	c->sha256 = row->sha256 ? strdup(row->sha256) : NULL;
	c->dup_group = row->dup_group ? strdup(row->dup_group) : NULL;
	c->group_n = 1;
	int rc;
	if (row->dup_group && (rc = group_of(x->st, x->d, c, err)))
		return rc;
	if (!c->ext_id || !c->text[0] || !c->text[1] || !c->text[2] ||
	    (row->thumb && row->thumb_len > 0 && !c->thumb))
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	return 0;
}

/* x ranks before (p_text, id) in list `which`: p_text descending for shortcuts, ascending for
 * needs-image, ties by pair id (as eng_examples_each orders them). */
static int ranks_before(int which, double xp, int64_t xid, double p_text, int64_t id)
{
	if (xp != p_text)
		return which ? xp < p_text : xp > p_text;
	return xid < id;
}

void rpt_examples_see(rpt_examples_seen *seen, int which, int top_n, int64_t pair_id, double p_text)
{
	size_t cap = top_n < 1 ? 1 : top_n > RPT_EX_MAX ? RPT_EX_MAX : (size_t)top_n;
	seen->count++;
	size_t k = seen->n;
	if (k == cap && !ranks_before(which, p_text, pair_id, seen->p_text[k - 1], seen->id[k - 1]))
		return; /* not among the first cap */
	if (k == cap)
		k--; /* the last one drops out */
	while (k > 0 &&
	       ranks_before(which, p_text, pair_id, seen->p_text[k - 1], seen->id[k - 1])) {
		seen->p_text[k] = seen->p_text[k - 1];
		seen->id[k] = seen->id[k - 1];
		k--;
	}
	seen->p_text[k] = p_text;
	seen->id[k] = pair_id;
	if (seen->n < cap)
		seen->n++;
}

int rpt_examples_load(const rpt_state *st, int which, int top_n, const rpt_examples_seen *seen,
                      rpt_examples *out, eng_err *err)
{
	memset(out, 0, sizeof *out);
	eng_category cat = which ? ENG_CAT_NEEDS_IMAGE : ENG_CAT_TEXT_SHORTCUT;
	int rc = 0;
	for (size_t i = 0; i < st->n_ds && !rc; i++) {
		const rpt_dataset *d = &st->ds[i];
		if (!d->run_id)
			continue;
		card_ctx cc = {st, d, out, err};
		const rpt_examples_seen *sn = seen && seen[i].valid ? &seen[i] : NULL;
		int grouped = sn ? eng_examples_grouped(st->ws, d->id, err) : 1;
		if (grouped < 0) {
			rc = grouped;
			break;
		}
		if (!grouped && top_n >= 1 && top_n <= RPT_EX_MAX) {
			/* every pair its own group: the scan's count and first pairs are the list's
			 */
			out->total += sn->count;
			out->distinct += sn->count;
			for (size_t k = 0; k < sn->n && !rc; k++)
				rc = eng_example_get(st->ws, d->run_id, sn->id[k], add_card, &cc,
				                     err);
			continue;
		}
		int64_t total, distinct;
		if ((rc =
		         eng_examples_count(st->ws, d->run_id, d->id, cat, &total, &distinct, err)))
			break;
		out->total += total;
		out->distinct += distinct;
		/* the most text-solvable first for shortcuts, the least for needs-image */
		rc = eng_examples_each(st->ws, d->run_id, d->id, cat, !which, top_n, add_card, &cc,
		                       err);
	}
	if (!rc && out->n) {
		qsort(out->cards, out->n, sizeof *out->cards, which ? sort_asc : sort_desc);
		while (out->n > (size_t)top_n)
			card_free(&out->cards[--out->n]);
	}
	if (rc)
		rpt_examples_clear(out);
	return rc;
}

void rpt_examples_clear(rpt_examples *ex)
{
	if (!ex)
		return;
	for (size_t i = 0; i < ex->n; i++)
		card_free(&ex->cards[i]);
	free(ex->cards);
	memset(ex, 0, sizeof *ex);
}
