/* rpt_examples.c - top-N example pairs per list, merged across datasets. Never loads more than
 * top_n rows per dataset. */
#include "reports/rpt_examples.h"

#include "integrity.h"
#include "reports/rpt_integrity.h"

#include <stdlib.h>
#include <string.h>

/* One card per duplicate group (engine/ingest/dedup.h): the group's best-ranked member of the
 * category stands for it, so "top N" are N distinct pairs. ?4 orders by p_text descending (1) or
 * ascending
 * (-1). */
#define CARD_SQL(CAT, DIR)                                                                         \
	"WITH r AS (SELECT s.pair_id AS id, s.p_text AS pt, row_number() OVER (PARTITION BY"       \
	" coalesce(p.dup_group, p.id) ORDER BY s.p_text " DIR ", p.id) AS rn FROM pair_scores s"   \
	" JOIN pairs p ON p.id = s.pair_id WHERE s.run_id = ?1 AND p.dataset_id = ?2 AND"          \
	" s.category = '" CAT "')"                                                                 \
	" SELECT p.id, p.ext_id, substr(p.prompt, 1, 4096), length(p.prompt),"                     \
	" substr(p.chosen, 1, 4096), length(p.chosen), substr(p.rejected, 1, 4096),"               \
	" length(p.rejected), s.p_text, s.p_mm, s.p_sa, s.sfc, p.image_id, i.thumb, i.sha256,"     \
	" p.dup_group, p.conflict FROM r JOIN pair_scores s ON s.run_id = ?1 AND s.pair_id = r.id" \
	" JOIN pairs p ON p.id = r.id LEFT JOIN images i ON i.id = p.image_id WHERE r.rn = 1"      \
	" ORDER BY r.pt " DIR ", p.id LIMIT ?3"
static const char *sql_cards[2] = {
    CARD_SQL("text-shortcut", "DESC"),
    CARD_SQL("needs-image", "ASC"),
};

static const char *sql_count =
    "SELECT count(*), count(DISTINCT coalesce(p.dup_group, p.id)) FROM pair_scores s"
    " JOIN pairs p ON p.id = s.pair_id WHERE s.run_id = ?1 AND p.dataset_id = ?2"
    " AND s.category = ?3";

/* Copies at most RPT_TEXT_CAP bytes of column i, never splitting a UTF-8 sequence. */
static char *capped(sqlite3_stmt *q, int i)
{
	const char *s = (const char *)sqlite3_column_text(q, i);
	size_t n = s ? (size_t)sqlite3_column_bytes(q, i) : 0;
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

int rpt_examples_load(const rpt_state *st, int which, int top_n, rpt_examples *out, eng_err *err)
{
	memset(out, 0, sizeof *out);
	sqlite3_stmt *q = NULL, *qc = NULL;
	int rc = 0;
	if (!(q = eng_ws_prepare(st->ws, sql_cards[which], err)) ||
	    !(qc = eng_ws_prepare(st->ws, sql_count, err))) {
		rc = err ? err->code : ENG_EINTERNAL;
		goto out;
	}
	for (size_t i = 0; i < st->n_ds && !rc; i++) {
		const rpt_dataset *d = &st->ds[i];
		if (!d->run_id)
			continue;
		sqlite3_reset(qc);
		sqlite3_bind_int64(qc, 1, d->run_id);
		sqlite3_bind_int64(qc, 2, d->id);
		sqlite3_bind_text(qc, 3, which ? "needs-image" : "text-shortcut", -1,
		                  SQLITE_STATIC);
		if (sqlite3_step(qc) != SQLITE_ROW) {
			rc = eng_ws_fail(st->ws, err, "count examples");
			break;
		}
		out->total += sqlite3_column_int64(qc, 0);
		out->distinct += sqlite3_column_int64(qc, 1);
		sqlite3_reset(q);
		sqlite3_bind_int64(q, 1, d->run_id);
		sqlite3_bind_int64(q, 2, d->id);
		sqlite3_bind_int(q, 3, top_n);
		int s;
		while ((s = sqlite3_step(q)) == SQLITE_ROW) {
			rpt_card *nc = realloc(out->cards, (out->n + 1) * sizeof *nc);
			if (!nc) {
				rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
				break;
			}
			out->cards = nc;
			rpt_card *c = &out->cards[out->n++];
			memset(c, 0, sizeof *c);
			c->pair_id = sqlite3_column_int64(q, 0);
			c->dataset = d->name;
			const char *ext = (const char *)sqlite3_column_text(q, 1);
			c->ext_id = strdup(ext ? ext : "");
			for (int k = 0; k < 3; k++) {
				c->text[k] = capped(q, 2 + 2 * k);
				c->chars[k] = sqlite3_column_int64(q, 3 + 2 * k);
			}
			c->p_text = sqlite3_column_double(q, 8);
			c->p_mm = sqlite3_column_double(q, 9);
			c->p_sa = sqlite3_column_double(q, 10);
			c->sfc = sqlite3_column_double(q, 11);
			c->has_image = sqlite3_column_type(q, 12) != SQLITE_NULL;
			int tl = sqlite3_column_bytes(q, 13);
			const void *tb = sqlite3_column_blob(q, 13);
			if (tb && tl > 0 && (c->thumb = malloc((size_t)tl))) {
				memcpy(c->thumb, tb, (size_t)tl);
				c->thumb_len = (size_t)tl;
			}
			const char *sha = (const char *)sqlite3_column_text(q, 14);
			c->sha256 = sha ? strdup(sha) : NULL;
			const char *grp = (const char *)sqlite3_column_text(q, 15);
			c->dup_group = grp ? strdup(grp) : NULL;
			c->group_n = 1;
			if (grp && (rc = group_of(st, d, c, err)))
				break;
			if (!c->ext_id || !c->text[0] || !c->text[1] || !c->text[2] ||
			    (tb && tl > 0 && !c->thumb)) {
				rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
				break;
			}
		}
		if (!rc && s != SQLITE_DONE)
			rc = eng_ws_fail(st->ws, err, "read examples");
	}
	if (!rc && out->n) {
		qsort(out->cards, out->n, sizeof *out->cards, which ? sort_asc : sort_desc);
		while (out->n > (size_t)top_n)
			card_free(&out->cards[--out->n]);
	}
out:
	sqlite3_finalize(q);
	sqlite3_finalize(qc);
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
