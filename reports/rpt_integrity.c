/* rpt_integrity.c - loads the integrity figures, near-duplicate images and metadata slices of the
 * report, and writes their summary.json parts and near_duplicates.csv. Computes only counts,
 * shares and Wilson intervals; duplicates and hashes come from the engine. */
#include "reports/rpt_integrity.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "reports/rpt_csv.h"
#include "store_images.h"
#include "store_slices.h"

static void set_clear(rpt_slice_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->s[i].value);
	free(s->s);
	free(s->field);
	memset(s, 0, sizeof *s);
}

static void ds_clear(rpt_ds_integrity *d)
{
	eng_integrity_clear(&d->in);
	for (size_t k = 0; k < d->n_sets; k++)
		set_clear(&d->sets[k]);
	free(d->sets);
	d->sets = NULL;
	d->n_sets = 0;
}

void rpt_integrity_free(struct rpt_integrity *x)
{
	if (!x)
		return;
	for (size_t i = 0; x->ds && i < x->n_ds; i++)
		ds_clear(&x->ds[i]);
	free(x->ds);
	for (size_t i = 0; i < x->n_img; i++) {
		free(x->sha[i]);
		free(x->source[i]);
	}
	free(x->img_id);
	free(x->sha);
	free(x->source);
	eng_neardup_clear(&x->nd);
	free(x);
}

static double rate(double k, int64_t n)
{
	return n > 0 ? k / (double)n : NAN;
}

static int by_n(const void *a, const void *b)
{
	const rpt_slice *x = a, *y = b;
	if (x->n != y->n)
		return x->n < y->n ? 1 : -1;
	return strcmp(x->value, y->value);
}

static int by_rate(const void *a, const void *b)
{
	const rpt_slice *x = a, *y = b;
	int ox = !strcmp(x->value, RPT_SLICE_OTHER), oy = !strcmp(y->value, RPT_SLICE_OTHER);
	if (ox != oy)
		return ox - oy;
	double rx = rate(x->shortcut, x->n), ry = rate(y->shortcut, y->n);
	if (rx != ry)
		return rx < ry ? 1 : -1;
	return by_n(a, b);
}

/* Pools the values past the RPT_SLICE_MAX_VALUES largest into "other", sorts by shortcut rate
 * and computes the spread. Frees *out on failure. */
static int finish_set(rpt_slice_set *out, eng_err *err)
{
	out->distinct = (int64_t)out->n;
	qsort(out->s, out->n, sizeof *out->s, by_n);
	if (out->n > RPT_SLICE_MAX_VALUES) { /* pool the smallest into "other" */
		rpt_slice *o = &out->s[RPT_SLICE_MAX_VALUES];
		for (size_t k = RPT_SLICE_MAX_VALUES + 1; k < out->n; k++) {
			o->n += out->s[k].n;
			o->text_right += out->s[k].text_right;
			o->shortcut += out->s[k].shortcut;
			o->longer_wins += out->s[k].longer_wins;
			o->values++;
			free(out->s[k].value);
		}
		free(o->value);
		o->value = strdup(RPT_SLICE_OTHER);
		out->n = RPT_SLICE_MAX_VALUES + 1;
		if (!o->value) {
			set_clear(out);
			return eng_err_set(err, ENG_ENOMEM, "out of memory");
		}
	}
	qsort(out->s, out->n, sizeof *out->s, by_rate);
	double lo = NAN, hi = NAN;
	int big = 0;
	for (size_t k = 0; k < out->n; k++) {
		if (out->s[k].n < RPT_SLICE_MIN_N)
			continue;
		double r = rate(out->s[k].shortcut, out->s[k].n);
		lo = big ? fmin(lo, r) : r;
		hi = big ? fmax(hi, r) : r;
		big++;
	}
	out->spread = big >= 2 ? hi - lo : NAN;
	return 0;
}

typedef struct slice_ctx {
	rpt_slice_set *out;
	size_t cap;
	eng_err *err;
} slice_ctx;

/* One value of the field: a new slice of out (NULL value: the pairs without the field). */
static int slice_row(void *ctx, const eng_slice_row *row)
{
	slice_ctx *c = ctx;
	rpt_slice_set *out = c->out;
	if (out->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 16;
		rpt_slice *ns = realloc(out->s, c->cap * sizeof *ns);
		if (!ns)
			return eng_err_set(c->err, ENG_ENOMEM, "out of memory");
		out->s = ns;
	}
	rpt_slice *x = &out->s[out->n];
	x->value = strdup(row->value ? row->value : RPT_SLICE_MISSING);
	x->n = row->n;
	x->text_right = row->text_right;
	x->shortcut = row->shortcut;
	x->longer_wins = row->longer_wins;
	x->values = 1;
	out->n++;
	return x->value ? 0 : eng_err_set(c->err, ENG_ENOMEM, "out of memory");
}

/* Slices of dataset d by field into *out (field copied). */
static int slice(const rpt_state *st, const rpt_dataset *d, const char *field, int proposed,
                 rpt_slice_set *out, eng_err *err)
{
	memset(out, 0, sizeof *out);
	if (strchr(field, '"') || strlen(field) > 200)
		return eng_err_set(
		    err, ENG_EINPUT,
		    "--by '%s': a metadata field name without '\"', at most 200 bytes", field);
	out->field = strdup(field);
	out->proposed = proposed;
	if (!out->field)
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	int rc = eng_slices_each(st->ws, d->run_id, d->id, field, slice_row,
	                         &(slice_ctx){out, 0, err}, err);
	if (rc) {
		set_clear(out);
		return rc;
	}
	return finish_set(out, err);
}

static int push_set(rpt_ds_integrity *x, rpt_slice_set *s, eng_err *err)
{
	rpt_slice_set *ns = realloc(x->sets, (x->n_sets + 1) * sizeof *ns);
	if (!ns) {
		set_clear(s);
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	}
	x->sets = ns;
	x->sets[x->n_sets++] = *s;
	return 0;
}

static int by_spread(const void *a, const void *b)
{
	const rpt_slice_set *x = a, *y = b;
	double sx = isnan(x->spread) ? -1 : x->spread, sy = isnan(y->spread) ? -1 : y->spread;
	if (sx != sy)
		return sx < sy ? 1 : -1;
	return strcmp(x->field, y->field);
}

/* Appends one slice row (value text, n, successes) to set s. */
static int add_row(rpt_slice_set *s, size_t *cap, const char *value, int64_t n, double tr,
                   double sc, double lw)
{
	if (s->n == *cap) {
		size_t nc = *cap ? 2 * *cap : 16;
		rpt_slice *ns = realloc(s->s, nc * sizeof *ns);
		if (!ns)
			return -1;
		s->s = ns;
		*cap = nc;
	}
	rpt_slice *x = &s->s[s->n];
	*x = (rpt_slice){strdup(value), n, tr, sc, lw, 1};
	if (!x->value)
		return -1;
	s->n++;
	return 0;
}

/* The fields with 2..30 values that split the shortcut rate most (largest spread first). The
 * candidates (scalar keys with 2..30 values in a sample) are sliced in ONE scan of the scored
 * pairs (json_each over each pair's metadata, grouped by key and value); pairs without the key
 * form its "(missing)" slice. */
enum { MAXC = 24 }; /* candidate fields per dataset (store_slices.h gives at most 24) */

typedef struct cand_ctx {
	rpt_slice_set *cand; /* (MAXC) */
	size_t nc, *cap;
	const char *keys[MAXC];
	eng_err *err;
} cand_ctx;

static int add_candidate(void *ctx, const char *key)
{
	cand_ctx *c = ctx;
	if (!key || c->nc >= MAXC)
		return 0;
	if (!(c->cand[c->nc].field = strdup(key)))
		return eng_err_set(c->err, ENG_ENOMEM, "out of memory");
	c->keys[c->nc] = c->cand[c->nc].field;
	c->cand[c->nc++].proposed = 1;
	return 0;
}

static int candidate_row(void *ctx, const eng_slice_row *row)
{
	cand_ctx *c = ctx;
	size_t k = 0;
	while (k < c->nc && strcmp(c->cand[k].field, row->key ? row->key : ""))
		k++;
	if (k == c->nc)
		return 0;
	if (add_row(&c->cand[k], &c->cap[k], row->value ? row->value : "null", row->n,
	            row->text_right, row->shortcut, row->longer_wins))
		return eng_err_set(c->err, ENG_ENOMEM, "out of memory");
	return 0;
}

/* The fields with 2..30 values that split the shortcut rate most (largest spread first). The
 * candidates (scalar keys with 2..30 values in a sample) are sliced in ONE scan of the scored
 * pairs (json_each over each pair's metadata, grouped by key and value); pairs without the key
 * form its "(missing)" slice. */
static int propose(const rpt_state *st, const rpt_dataset *d, rpt_ds_integrity *x, eng_err *err)
{
	rpt_slice_set cand[MAXC];
	size_t cap[MAXC] = {0};
	memset(cand, 0, sizeof cand);
	cand_ctx cc = {.cand = cand, .cap = cap, .err = err};
	eng_slice_row all;
	int rc = eng_slice_fields_each(st->ws, d->id, add_candidate, &cc, err);
	size_t nc = cc.nc;
	if (rc || !nc)
		goto out;
	if ((rc = eng_slices_each_key(st->ws, d->run_id, d->id, cc.keys, nc, candidate_row, &cc,
	                              err)) ||
	    (rc = eng_slices_total(st->ws, d->run_id, d->id, &all, err)))
		goto out;
	int64_t n_all = all.n;
	double tr = all.text_right, sc = all.shortcut, lw = all.longer_wins;
	size_t kept = 0;
	for (size_t k = 0; k < nc; k++) {
		rpt_slice_set *c = &cand[k];
		int64_t n = 0;
		double t = 0, h = 0, l = 0;
		for (size_t j = 0; j < c->n; j++)
			n += c->s[j].n, t += c->s[j].text_right, h += c->s[j].shortcut,
			    l += c->s[j].longer_wins;
		if (n < n_all &&
		    add_row(c, &cap[k], RPT_SLICE_MISSING, n_all - n, tr - t, sc - h, lw - l)) {
			rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
			goto out;
		}
		/* the full data may hold more values than the sample */
		if (c->n > RPT_SLICE_MAX_VALUES || c->n < 2 || (rc = finish_set(c, err)) ||
		    isnan(c->spread)) {
			set_clear(c);
			if (rc)
				goto out;
			continue;
		}
		cand[kept++] = *c;
		if (kept - 1 != k)
			memset(c, 0, sizeof *c);
	}
	qsort(cand, kept, sizeof cand[0], by_spread);
	for (size_t k = 0; k < kept && !rc; k++)
		if (k < RPT_SLICE_PROPOSE && cand[k].spread > 0) {
			rc = push_set(x, &cand[k], err);
			memset(&cand[k], 0, sizeof cand[k]);
		}
out:
	for (size_t k = 0; k < MAXC; k++)
		set_clear(&cand[k]);
	return rc;
}

static int by_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* sha256 and source of every image named in nd, for the CSV. */
static int load_images(const rpt_state *st, rpt_integrity *x, eng_err *err)
{
	size_t n = 0;
	if (!x->nd.n)
		return 0;
	if (!(x->img_id = malloc(2 * x->nd.n * sizeof *x->img_id)))
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	for (size_t i = 0; i < x->nd.n; i++) {
		x->img_id[n++] = x->nd.pairs[i].image_a;
		x->img_id[n++] = x->nd.pairs[i].image_b;
	}
	qsort(x->img_id, n, sizeof *x->img_id, by_id);
	size_t u = 0;
	for (size_t i = 0; i < n; i++)
		if (!u || x->img_id[u - 1] != x->img_id[i])
			x->img_id[u++] = x->img_id[i];
	x->sha = calloc(u, sizeof *x->sha);
	x->source = calloc(u, sizeof *x->source);
	if (!x->sha || !x->source)
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	x->n_img = u;
	int rc = 0;
	for (size_t i = 0; i < u && !rc; i++)
		rc = eng_image_names(st->ws, x->img_id[i], &x->sha[i], &x->source[i], err);
	return rc;
}

/* Per dataset: near-duplicate image pairs inside it and shared with another dataset. */
static void count_near(const rpt_state *st, rpt_integrity *x)
{
	for (size_t i = 0; i < st->n_ds; i++) {
		int64_t id = st->ds[i].id, last = -1;
		rpt_ds_integrity *d = &x->ds[i];
		/* images of ds in across pairs: collected then counted distinct */
		int64_t *seen = malloc((x->nd.n ? x->nd.n : 1) * sizeof *seen);
		size_t ns = 0;
		for (size_t k = 0; k < x->nd.n; k++) {
			const eng_neardup_pair *p = &x->nd.pairs[k];
			if (p->ds_a == id && p->ds_b == id) {
				d->near_within++;
			} else if (p->ds_a == id || p->ds_b == id) {
				d->near_across++;
				if (seen)
					seen[ns++] = p->ds_a == id ? p->image_a : p->image_b;
			}
		}
		if (seen) {
			qsort(seen, ns, sizeof *seen, by_id);
			for (size_t k = 0; k < ns; k++)
				if (seen[k] != last) {
					d->images_across++;
					last = seen[k];
				}
		}
		free(seen);
	}
}

int rpt_integrity_load(rpt_state *st, const rpt_integrity_options *o, eng_err *err)
{
	rpt_integrity_free(st->integ);
	st->integ = NULL;
	rpt_integrity *x = calloc(1, sizeof *x);
	if (!x || !(x->ds = calloc(st->n_ds ? st->n_ds : 1, sizeof *x->ds))) {
		free(x);
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	}
	x->n_ds = st->n_ds;
	x->position_field = o ? o->position_field : NULL;
	int rc = 0;
	for (size_t i = 0; i < st->n_ds && !rc; i++) {
		const rpt_dataset *d = &st->ds[i];
		rpt_ds_integrity *di = &x->ds[i];
		if ((rc = eng_integrity_dataset(st->ws, d->id, o ? o->position_field : NULL,
		                                &di->in, err)))
			break;
		if (!d->run_id)
			continue;
		if (o && o->n_by) {
			for (size_t k = 0; k < o->n_by && !rc; k++) {
				rpt_slice_set s;
				if (!(rc = slice(st, d, o->by[k], 0, &s, err)))
					rc = push_set(di, &s, err);
			}
		} else {
			rc = propose(st, d, di, err);
		}
	}
	int dist =
	    o && o->near_dup_distance >= 0 ? o->near_dup_distance : ENG_NEARDUP_DEFAULT_DISTANCE;
	if (!rc)
		rc = eng_neardup_find(st->ws, dist, &x->nd, err);
	if (!rc)
		rc = load_images(st, x, err);
	if (!rc)
		count_near(st, x);
	if (rc)
		rpt_integrity_free(x);
	else
		st->integ = x;
	return rc;
}

/* ---- summary.json ---- */

static json_t *num(double v)
{
	return isnan(v) || isinf(v) ? json_null() : json_real(v);
}

static json_t *ci(double k, int64_t n)
{
	double lo, hi;
	rpt_wilson(rate(k, n), n, &lo, &hi);
	return isnan(lo) ? json_null() : json_pack("[o, o]", num(lo), num(hi));
}

json_t *rpt_integrity_json(const rpt_state *st, size_t i)
{
	if (!st->integ || i >= st->n_ds)
		return json_null();
	const rpt_integrity *x = st->integ;
	const rpt_ds_integrity *d = &x->ds[i];
	const eng_integrity *in = &d->in;
	json_t *o = json_object(), *codes = json_object(), *ex = json_object();
	for (size_t k = 0; k < in->n_codes; k++) {
		json_object_set_new(codes, in->codes[k].code, json_integer(in->codes[k].n));
		json_t *a = json_array();
		for (int e = 0; e < ENG_INTEGRITY_EXAMPLES; e++)
			if (in->codes[k].example[e])
				json_array_append_new(a, json_string(in->codes[k].example[e]));
		json_object_set_new(ex, in->codes[k].code, a);
	}
	json_object_set_new(o, "errors", json_integer(in->errors));
	json_object_set_new(o, "errors_by_code", codes);
	json_object_set_new(o, "error_examples", ex);
	json_object_set_new(o, "dup_groups", json_integer(in->dup_groups));
	json_object_set_new(o, "dup_pairs", json_integer(in->dup_pairs));
	json_object_set_new(o, "dup_group_members", json_integer(in->dup_members));
	json_object_set_new(o, "conflict_groups", json_integer(in->conflict_groups));
	json_object_set_new(o, "conflict_pairs", json_integer(in->conflict_pairs));
	json_object_set_new(
	    o, "conflict_handling",
	    json_string("every pair of a conflicting group is scored as category suspect-label "
	                "whatever the models say; the pairs stay in training and in every figure"));
	int pos = in->position_n > 0;
	json_object_set_new(o, "position_field",
	                    pos ? json_string(in->position_field) : json_null());
	json_object_set_new(o, "position_pairs", json_integer(in->position_n));
	json_object_set_new(o, "first_position_win_rate",
	                    pos ? num(rate((double)in->position_first, in->position_n))
	                        : json_null());
	json_object_set_new(o, "first_position_win_rate_ci95",
	                    pos ? ci((double)in->position_first, in->position_n) : json_null());
	json_object_set_new(o, "first_position_p_value", pos ? num(in->position_p) : json_null());
	json_object_set_new(o, "swap_pairs", json_integer(in->swap_pairs));
	json_object_set_new(o, "swap_consistency",
	                    in->swap_pairs ? num(rate((double)in->swap_consistent, in->swap_pairs))
	                                   : json_null());
	json_object_set_new(o, "position_conflicts", json_integer(in->position_conflicts));
	json_object_set_new(o, "near_duplicate_images",
	                    json_pack("{s:i, s:I, s:I, s:I, s:b}", "max_distance",
	                              x->nd.max_distance, "within_pairs",
	                              (json_int_t)d->near_within, "across_pairs",
	                              (json_int_t)d->near_across, "images_shared_across",
	                              (json_int_t)d->images_across, "truncated", x->nd.truncated));
	return o;
}

json_t *rpt_slices_json(const rpt_state *st, size_t i)
{
	json_t *o = json_object();
	if (!st->integ || i >= st->n_ds)
		return o;
	const rpt_ds_integrity *d = &st->integ->ds[i];
	for (size_t k = 0; k < d->n_sets; k++) {
		const rpt_slice_set *s = &d->sets[k];
		json_t *a = json_array();
		for (size_t j = 0; j < s->n; j++) {
			const rpt_slice *x = &s->s[j];
			json_array_append_new(
			    a,
			    json_pack("{s:s, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:I}", "value",
			              x->value, "n", (json_int_t)x->n, "text_accuracy",
			              num(rate(x->text_right, x->n)), "text_accuracy_ci95",
			              ci(x->text_right, x->n), "shortcut_rate",
			              num(rate(x->shortcut, x->n)), "shortcut_rate_ci95",
			              ci(x->shortcut, x->n), "pick_longer",
			              num(rate(x->longer_wins, x->n)), "pick_longer_ci95",
			              ci(x->longer_wins, x->n), "values", (json_int_t)x->values));
		}
		json_object_set_new(o, s->field, a);
	}
	return o;
}

json_t *rpt_slices_meta_json(const rpt_state *st, size_t i)
{
	json_t *a = json_array();
	if (!st->integ || i >= st->n_ds)
		return a;
	const rpt_ds_integrity *d = &st->integ->ds[i];
	for (size_t k = 0; k < d->n_sets; k++)
		json_array_append_new(
		    a, json_pack("{s:s, s:b, s:o, s:I}", "field", d->sets[k].field, "proposed",
		                 d->sets[k].proposed, "spread", num(d->sets[k].spread), "distinct",
		                 (json_int_t)d->sets[k].distinct));
	return a;
}

/* ---- near_duplicates.csv ---- */

static size_t img_at(const rpt_integrity *x, int64_t id)
{
	size_t lo = 0, hi = x->n_img;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (x->img_id[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int rpt_neardup_csv_write(const rpt_state *st, FILE *f, int64_t *rows, eng_err *err)
{
	if (rows)
		*rows = 0;
	fputs("dataset_a,image_a,source_a,dataset_b,image_b,source_b,distance,scope\r\n", f);
	const rpt_integrity *x = st->integ;
	for (size_t k = 0; x && k < x->nd.n; k++) {
		const eng_neardup_pair *p = &x->nd.pairs[k];
		const rpt_dataset *da = NULL, *db = NULL;
		for (size_t i = 0; i < st->n_ds; i++) {
			if (st->ds[i].id == p->ds_a)
				da = &st->ds[i];
			if (st->ds[i].id == p->ds_b)
				db = &st->ds[i];
		}
		size_t ia = img_at(x, p->image_a), ib = img_at(x, p->image_b);
		rpt_csv_cell(f, da ? da->name : "");
		fputc(',', f);
		rpt_csv_cell(f, ia < x->n_img ? x->sha[ia] : "");
		fputc(',', f);
		rpt_csv_cell(f, ia < x->n_img ? x->source[ia] : "");
		fputc(',', f);
		rpt_csv_cell(f, db ? db->name : "");
		fputc(',', f);
		rpt_csv_cell(f, ib < x->n_img ? x->sha[ib] : "");
		fputc(',', f);
		rpt_csv_cell(f, ib < x->n_img ? x->source[ib] : "");
		fprintf(f, ",%d,%s\r\n", p->distance, p->ds_a == p->ds_b ? "within" : "across");
		if (rows)
			(*rows)++;
	}
	return ferror(f) ? eng_err_set(err, ENG_EIO, "write near_duplicates.csv") : 0;
}
