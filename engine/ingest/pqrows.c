/* pqrows.c - Parquet column cursors (one page at a time per column) and row assembly into JSON
 * (definition/repetition levels -> nulls, structs, lists). Footer and schema: parquet.c. */
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "images.h"
#include "parquet_internal.h"
#include "thrift.h"

#define HDR_FIRST ((size_t)64 << 10)
#define HDR_MAX   ((size_t)16 << 20)

/* Fails with the column's location: "label: row group G, column 'c', page P at byte B: ...". */
static int col_fail(eng_pq *pq, const pq_col *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int col_fail(eng_pq *pq, const pq_col *c, int code, const char *fmt, ...)
{
	char what[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	return eng_err_set(pq->err, code,
	                   "%s: row group %zu, column '%s', page %d at byte %lld: %s", pq->label,
	                   pq->g, c->node->name, c->page, (long long)c->page_at, what);
}

typedef struct page_hdr {
	int type, have_data, have_dict, have_v2;
	int32_t usize, csize;
	int32_t nvals, enc, def_enc, rep_enc;
	int32_t def_len, rep_len;
	int compressed;
} page_hdr;

static void read_dp(eng_tc *r, page_hdr *h, int v2)
{
	int16_t last = 0, id;
	int t;
	while ((t = eng_tc_field(r, &last, &id)) != ENG_TC_STOP) {
		if (id == 1 && t == ENG_TC_I32)
			h->nvals = eng_tc_i32(r);
		else if (!v2 && id == 2 && t == ENG_TC_I32)
			h->enc = eng_tc_i32(r);
		else if (!v2 && id == 3 && t == ENG_TC_I32)
			h->def_enc = eng_tc_i32(r);
		else if (!v2 && id == 4 && t == ENG_TC_I32)
			h->rep_enc = eng_tc_i32(r);
		else if (v2 && id == 4 && t == ENG_TC_I32)
			h->enc = eng_tc_i32(r);
		else if (v2 && id == 5 && t == ENG_TC_I32)
			h->def_len = eng_tc_i32(r);
		else if (v2 && id == 6 && t == ENG_TC_I32)
			h->rep_len = eng_tc_i32(r);
		else if (v2 && id == 7 && (t == ENG_TC_TRUE || t == ENG_TC_FALSE))
			h->compressed = eng_tc_bool(t);
		else
			eng_tc_skip(r, t);
	}
}

static void read_page_hdr(eng_tc *r, page_hdr *h)
{
	int16_t last = 0, id;
	int t;
	memset(h, 0, sizeof *h);
	h->type = h->usize = h->csize = h->nvals = h->enc = -1;
	h->def_enc = h->rep_enc = ENG_PQ_RLE;
	h->compressed = 1;
	while ((t = eng_tc_field(r, &last, &id)) != ENG_TC_STOP) {
		if (id == 1 && t == ENG_TC_I32)
			h->type = eng_tc_i32(r);
		else if (id == 2 && t == ENG_TC_I32)
			h->usize = eng_tc_i32(r);
		else if (id == 3 && t == ENG_TC_I32)
			h->csize = eng_tc_i32(r);
		else if (id == 5 && t == ENG_TC_STRUCT)
			h->have_data = 1, read_dp(r, h, 0);
		else if (id == 7 && t == ENG_TC_STRUCT)
			h->have_dict = 1, read_dp(r, h, 0);
		else if (id == 8 && t == ENG_TC_STRUCT)
			h->have_v2 = 1, read_dp(r, h, 1);
		else
			eng_tc_skip(r, t);
	}
}

static int bit_width(int v)
{
	int w = 0;
	while (v >> w)
		w++;
	return w;
}

/* Decodes a level stream into out (nvals); v1 streams carry a 4-byte length (*used = bytes). */
static int levels(eng_pq *pq, pq_col *c, const uint8_t *p, size_t n, int v1, int enc, int maxl,
                  uint32_t *out, size_t nvals, size_t *used)
{
	const char *why = NULL;
	char eb[32];
	if (v1 && enc != ENG_PQ_RLE)
		return col_fail(pq, c, ENG_EINPUT,
		                "level encoding %s is not supported (RLE is); "
		                "rewrite the file with a current writer",
		                eng_pq_encoding_name(enc, eb, sizeof eb));
	size_t len = n, off = 0;
	if (v1) {
		if (n < 4)
			return col_fail(pq, c, ENG_EINPUT, "levels run past the end of the page");
		len = (size_t)p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16 | (size_t)p[3] << 24;
		off = 4;
		if (len > n - 4)
			return col_fail(pq, c, ENG_EINPUT,
			                "the levels' length (%zu) runs past the end "
			                "of the page (%zu bytes)",
			                len, n);
	}
	if (eng_pq_rle(p + off, len, bit_width(maxl), out, nvals, &why))
		return col_fail(pq, c, ENG_EINPUT, "levels: %s", why);
	for (size_t i = 0; i < nvals; i++)
		if (out[i] > (uint32_t)maxl)
			return col_fail(pq, c, ENG_EINPUT,
			                "a level (%u) is above the column's maximum "
			                "(%d)",
			                out[i], maxl);
	*used = off + len;
	return 0;
}

/* Decodes values[0..n) of a data page (or the dictionary) into c->vals or c->dict. */
static int decode_values(eng_pq *pq, pq_col *c, int enc, const uint8_t *p, size_t n, size_t count,
                         int dict_page)
{
	const char *why = NULL;
	char eb[32];
	eng_pq_value **dst = dict_page ? &c->dict : &c->vals;
	size_t cap = dict_page ? 0 : c->vals_cap;
	if (dict_page) {
		free(c->dict);
		c->dict = NULL;
	}
	if (eng_pq_grow((void **)dst, &cap, count ? count : 1, sizeof **dst))
		return eng_err_set(pq->err, ENG_ENOMEM, "out of memory");
	if (!dict_page)
		c->vals_cap = cap;
	uint8_t *own = NULL;
	int rc = eng_pq_values(c->ch.type, c->node->tlen, dict_page ? ENG_PQ_PLAIN : enc, p, n,
	                       count, c->dict, c->ndict, *dst, &own, ENG_PQ_MAX_PAGE, &why);
	if (!dict_page) {
		free(c->own);
		c->own = own;
	} else {
		free(own);
	}
	if (rc == -3)
		return eng_err_set(pq->err, ENG_ENOMEM, "out of memory");
	if (rc == -2)
		return col_fail(pq, c, ENG_EINPUT,
		                "encoding %s is not supported for this column "
		                "type; rewrite the file with PLAIN or dictionary encoding",
		                eng_pq_encoding_name(enc, eb, sizeof eb));
	if (rc)
		return col_fail(pq, c, ENG_EINPUT, "%s", why);
	return 0;
}

static int decompress(eng_pq *pq, pq_col *c, const uint8_t *src, size_t n, uint8_t **dst,
                      size_t *cap, size_t dn)
{
	const char *why = NULL;
	char cb[32];
	if (eng_pq_grow((void **)dst, cap, dn ? dn : 1, 1))
		return eng_err_set(pq->err, ENG_ENOMEM, "out of memory");
	if (eng_pq_decompress(c->ch.codec, src, n, *dst, dn, &why))
		return col_fail(pq, c, ENG_EINPUT, "%s: %s",
		                eng_pq_codec_name(c->ch.codec, cb, sizeof cb), why);
	return 0;
}

/* Reads pages until a data page with values is loaded: 1, 0 at the end of the chunk, or <0. */
static int col_read_page(eng_pq *pq, pq_col *c)
{
	int rc;
	while (c->pos < c->end) {
		c->page++;
		c->page_at = c->pos;
		size_t avail = (size_t)(c->end - c->pos),
		       want = avail < HDR_FIRST ? avail : HDR_FIRST;
		page_hdr h;
		eng_tc r;
		for (;;) {
			if (eng_pq_grow((void **)&c->hdr, &c->hdr_cap, want, 1))
				return eng_err_set(pq->err, ENG_ENOMEM, "out of memory");
			if ((rc = eng_pq_read_at(pq, c->pos, c->hdr, want, pq->err)))
				return rc;
			eng_tc_init(&r, c->hdr, want);
			read_page_hdr(&r, &h);
			if (!r.bad || want >= avail || want >= HDR_MAX)
				break;
			want = avail / 4 < want ? avail : want * 4;
			want = want > HDR_MAX ? HDR_MAX : want;
		}
		if (r.bad)
			return col_fail(pq, c, ENG_EINPUT, "the page header is malformed: %s",
			                r.why);
		size_t hlen = (size_t)(r.p - r.start);
		if (h.csize < 0 || h.usize < 0 || (size_t)h.csize > avail - hlen)
			return col_fail(pq, c, ENG_EINPUT,
			                "the page size (%d bytes) runs past the end "
			                "of the column chunk (%zu bytes left)",
			                h.csize, avail - hlen);
		if ((size_t)h.usize > ENG_PQ_MAX_PAGE || (size_t)h.csize > ENG_PQ_MAX_PAGE)
			return col_fail(pq, c, ENG_EINPUT,
			                "the page is %d bytes uncompressed, over the "
			                "%zu MiB page limit",
			                h.usize, ENG_PQ_MAX_PAGE >> 20);
		int64_t data_at = c->pos + (int64_t)hlen;
		c->pos = data_at + h.csize;
		int is_data =
		    (h.type == PAGE_DATA && h.have_data) || (h.type == PAGE_DATA_V2 && h.have_v2);
		int is_dict = h.type == PAGE_DICT && h.have_dict;
		if (!is_data && !is_dict)
			continue; /* index pages and unknown page types are skipped */
		if (h.nvals < 0 || (size_t)h.nvals > ENG_PQ_MAX_PAGE_VALUES)
			return col_fail(pq, c, ENG_EINPUT,
			                "the page holds %d values, over the limit "
			                "of %zu",
			                h.nvals, ENG_PQ_MAX_PAGE_VALUES);
		if (eng_pq_grow((void **)&c->raw, &c->raw_cap, h.csize ? (size_t)h.csize : 1, 1))
			return eng_err_set(pq->err, ENG_ENOMEM, "out of memory");
		if ((rc = eng_pq_read_at(pq, data_at, c->raw, (size_t)h.csize, pq->err)))
			return rc;
		size_t nv = (size_t)h.nvals;
		if (is_dict) {
			if (c->dict)
				return col_fail(pq, c, ENG_EINPUT, "a second dictionary page");
			if (h.enc != ENG_PQ_PLAIN && h.enc != ENG_PQ_PLAIN_DICT)
				return col_fail(pq, c, ENG_EINPUT,
				                "the dictionary is not PLAIN-encoded");
			size_t dcap = 0;
			free(c->dict_buf);
			c->dict_buf = NULL;
			if ((rc = decompress(pq, c, c->raw, (size_t)h.csize, &c->dict_buf, &dcap,
			                     (size_t)h.usize)) ||
			    (rc = decode_values(pq, c, 0, c->dict_buf, (size_t)h.usize, nv, 1)))
				return rc;
			c->ndict = nv;
			continue;
		}
		if (eng_pq_grow((void **)&c->defs, &c->lev_cap, nv ? nv : 1, sizeof *c->defs))
			return eng_err_set(pq->err, ENG_ENOMEM, "out of memory");
		size_t lc = 0;
		if (eng_pq_grow((void **)&c->reps, &lc, c->lev_cap, sizeof *c->reps))
			return eng_err_set(pq->err, ENG_ENOMEM, "out of memory");
		const uint8_t *vp;
		size_t vn, used;
		int maxd = c->node->def, maxr = c->node->repl;
		if (h.type == PAGE_DATA) {
			if ((rc = decompress(pq, c, c->raw, (size_t)h.csize, &c->buf, &c->buf_cap,
			                     (size_t)h.usize)))
				return rc;
			vp = c->buf;
			vn = (size_t)h.usize;
			if (maxr) {
				if ((rc = levels(pq, c, vp, vn, 1, h.rep_enc, maxr, c->reps, nv,
				                 &used)))
					return rc;
				vp += used, vn -= used;
			}
			if (maxd) {
				if ((rc = levels(pq, c, vp, vn, 1, h.def_enc, maxd, c->defs, nv,
				                 &used)))
					return rc;
				vp += used, vn -= used;
			}
		} else {
			if (h.rep_len < 0 || h.def_len < 0 ||
			    (int64_t)h.rep_len + h.def_len > h.csize ||
			    (int64_t)h.rep_len + h.def_len > h.usize)
				return col_fail(pq, c, ENG_EINPUT,
				                "the level lengths (%d + %d) run past "
				                "the page (%d bytes)",
				                h.rep_len, h.def_len, h.csize);
			size_t rl = (size_t)h.rep_len, dl = (size_t)h.def_len;
			if (maxr &&
			    (rc = levels(pq, c, c->raw, rl, 0, 0, maxr, c->reps, nv, &used)))
				return rc;
			if (maxd &&
			    (rc = levels(pq, c, c->raw + rl, dl, 0, 0, maxd, c->defs, nv, &used)))
				return rc;
			size_t cn = (size_t)h.csize - rl - dl, un = (size_t)h.usize - rl - dl;
			if (h.compressed) {
				if ((rc = decompress(pq, c, c->raw + rl + dl, cn, &c->buf,
				                     &c->buf_cap, un)))
					return rc;
				vp = c->buf;
				vn = un;
			} else {
				vp = c->raw + rl + dl;
				vn = cn;
			}
		}
		size_t present = nv;
		if (maxd) {
			present = 0;
			for (size_t i = 0; i < nv; i++)
				present += c->defs[i] == (uint32_t)maxd;
		}
		if ((rc = decode_values(pq, c, h.enc, vp, vn, present, 0)))
			return rc;
		c->nent = nv;
		c->ient = c->ival = 0;
		c->nvals = present;
		if (nv)
			return 1;
	}
	return 0;
}

static int col_peek(eng_pq *pq, pq_col *c)
{
	while (c->ient >= c->nent) {
		int rc = col_read_page(pq, c);
		if (rc <= 0)
			return rc;
	}
	return 1;
}

static int byte_type(int t)
{
	return t == ENG_PQ_BYTE_ARRAY || t == ENG_PQ_FIXED || t == ENG_PQ_INT96;
}

/* Moves the cursor's next entry to the row. */
static int col_take(eng_pq *pq, pq_col *c)
{
	if (c->nrow >= ENG_PQ_MAX_ROW_VALUES)
		return col_fail(pq, c, ENG_EINPUT, "row %lld holds more than %zu values",
		                (long long)pq->r, ENG_PQ_MAX_ROW_VALUES);
	if (eng_pq_grow((void **)&c->row, &c->row_cap, c->nrow + 1, sizeof *c->row))
		return eng_err_set(pq->err, ENG_ENOMEM, "out of memory");
	pq_ent *e = &c->row[c->nrow++];
	size_t i = c->ient++;
	e->def = (uint16_t)(c->node->def ? c->defs[i] : 0);
	e->rep = (uint16_t)(c->node->repl ? c->reps[i] : 0);
	e->n = 0;
	e->u.i = 0;
	if (e->def != c->node->def)
		return 0;
	if (c->ival >= c->nvals)
		return col_fail(pq, c, ENG_EINPUT, "more levels than values");
	const eng_pq_value *v = &c->vals[c->ival++];
	if (!byte_type(c->ch.type)) {
		memcpy(&e->u, &v->u, sizeof v->u); /* an integer or a double */
		return 0;
	}
	if (v->n > ENG_PQ_MAX_ROW_BYTES - pq->rowlen)
		return col_fail(pq, c, ENG_EINPUT, "row %lld is larger than %zu MiB",
		                (long long)pq->r, ENG_PQ_MAX_ROW_BYTES >> 20);
	if (eng_pq_grow((void **)&pq->rowbuf, &pq->rowcap, pq->rowlen + v->n + 1, 1))
		return eng_err_set(pq->err, ENG_ENOMEM, "out of memory");
	if (v->n)
		memcpy(pq->rowbuf + pq->rowlen, v->u.p, v->n);
	e->u.off = pq->rowlen;
	e->n = v->n;
	pq->rowlen += v->n;
	return 0;
}

/* Collects the current row's entries of every leaf. */
static int gather_row(eng_pq *pq)
{
	pq->rowlen = 0;
	for (size_t L = 0; L < pq->nleaves; L++) {
		pq_col *c = &pq->cols[L];
		c->nrow = 0;
		int rc = col_peek(pq, c);
		if (rc < 0)
			return rc;
		if (!rc)
			return col_fail(pq, c, ENG_EINPUT,
			                "the column ends at row %lld of the row group's "
			                "%lld rows",
			                (long long)pq->r, (long long)pq->groups[pq->g].rows);
		if (c->node->repl && c->reps[c->ient] != 0)
			return col_fail(pq, c, ENG_EINPUT,
			                "row %lld does not start at repetition level 0",
			                (long long)pq->r);
		if ((rc = col_take(pq, c)))
			return rc;
		while (c->node->repl && (rc = col_peek(pq, c)) == 1 && c->reps[c->ient] != 0)
			if ((rc = col_take(pq, c)))
				return rc;
		if (rc < 0)
			return rc;
		pq->lo[L] = 0;
		pq->hi[L] = c->nrow;
	}
	return 0;
}

/* ---- assembly ------------------------------------------------------------------------------- */

static int bad_row(eng_pq *pq, const pq_node *nd)
{
	return eng_err_set(
	    pq->err, ENG_EINPUT,
	    "%s: row group %zu, row %lld, column '%s': the "
	    "repetition/definition levels do not fit the schema; the file is corrupt",
	    pq->label, pq->g, (long long)pq->r, nd->name);
}

static const pq_ent *first_ent(eng_pq *pq, const pq_node *nd)
{
	int L = nd->leaf_lo;
	return pq->lo[L] < pq->hi[L] ? &pq->cols[L].row[pq->lo[L]] : NULL;
}

static int set_problem(eng_pq *pq, const char *what, const pq_node *nd)
{
	if (!pq->problem[0])
		snprintf(pq->problem, 256, "column '%s' %s; the value was dropped (null)", nd->name,
		         what);
	return 0;
}

/* A string value, or null with a row problem for invalid UTF-8 / NUL. */
static json_t *text_value(eng_pq *pq, const pq_node *nd, const uint8_t *p, size_t n)
{
	if (memchr(p, 0, n)) {
		set_problem(pq, "holds a NUL byte, which mmaudit does not accept", nd);
		return json_null();
	}
	json_t *s = json_stringn((const char *)p, n);
	if (!s) {
		set_problem(pq, "is not valid UTF-8", nd);
		return json_null();
	}
	return s;
}

/* Adds a blob and returns its label string (JSON). */
static json_t *blob_value(eng_pq *pq, const char *path, const uint8_t *p, size_t n)
{
	char lab[512];
	if (path && *path)
		snprintf(lab, sizeof lab, "%s", path);
	else
		snprintf(lab, sizeof lab, "image #%zu", pq->nblobs + 1);
	for (size_t i = 0; i < pq->nblobs; i++)
		if (!strcmp(pq->blobs[i].label, lab)) { /* keep labels unique within the row */
			size_t l = strlen(lab);
			snprintf(lab + (l < 480 ? l : 480), 32, " #%zu", pq->nblobs + 1);
			break;
		}
	if (eng_pq_grow((void **)&pq->blobs, &pq->blobcap, pq->nblobs + 1, sizeof *pq->blobs) ||
	    eng_pq_grow((void **)&pq->labels, &pq->labelcap, pq->nlabels + 1, sizeof *pq->labels))
		return NULL;
	char *s = strdup(lab);
	json_t *j = s ? json_string(s) : NULL;
	if (!j) {
		free(s);
		return NULL;
	}
	pq->labels[pq->nlabels++] = s;
	pq->blobs[pq->nblobs++] = (eng_pq_blob){s, p, n};
	return j;
}

static json_t *leaf_json(eng_pq *pq, const pq_node *nd, const pq_ent *e)
{
	switch (nd->type) {
	case ENG_PQ_BOOLEAN:
		return json_boolean(e->u.i);
	case ENG_PQ_INT32:
	case ENG_PQ_INT64:
		return json_integer((json_int_t)e->u.i);
	case ENG_PQ_FLOAT:
	case ENG_PQ_DOUBLE:
		return isfinite(e->u.d) ? json_real(e->u.d) : json_null();
	case ENG_PQ_INT96:
		return json_null();
	default:
		break;
	}
	const uint8_t *p = pq->rowbuf + e->u.off;
	if (nd->is_string)
		return text_value(pq, nd, p, e->n);
	int sup;
	if (e->n >= 8 && eng_image_format(p, e->n, &sup))
		return blob_value(pq, NULL, p, e->n);
	if (!memchr(p, 0, e->n)) {
		json_t *s = json_stringn((const char *)p, e->n);
		if (s)
			return s;
	}
	char b[64];
	snprintf(b, sizeof b, "(%u bytes of binary data)", e->n);
	return json_string(b);
}

static int value(eng_pq *pq, const pq_node *nd, json_t **out);
static int elem(eng_pq *pq, const pq_node *nd, json_t **out);

/* The elements of repeated node rn within the current slices, as an array. */
static int repeated(eng_pq *pq, const pq_node *rn, int unwrap, json_t **out)
{
	const pq_ent *e = first_ent(pq, rn);
	if (!e)
		return bad_row(pq, rn);
	json_t *arr = json_array();
	if (!arr)
		return eng_err_set(pq->err, ENG_ENOMEM, "out of memory");
	*out = arr;
	if (e->def < rn->def)
		return 0; /* an empty list */
	size_t nl = (size_t)(rn->leaf_hi - rn->leaf_lo);
	if (!nl)
		return bad_row(pq, rn);
	size_t *save = malloc(2 * nl * sizeof *save);
	if (!save)
		return eng_err_set(pq->err, ENG_ENOMEM, "out of memory");
	for (size_t k = 0; k < nl; k++) {
		save[k] = pq->lo[rn->leaf_lo + k];
		save[nl + k] = pq->hi[rn->leaf_lo + k];
	}
	int rc = 0, L0 = rn->leaf_lo;
	while (!rc && save[0] < save[nl]) {
		for (size_t k = 0; k < nl && !rc; k++) {
			int L = L0 + (int)k;
			const pq_ent *row = pq->cols[L].row;
			size_t j = save[k];
			if (j >= save[nl + k]) {
				rc = bad_row(pq, rn);
				break;
			}
			for (j++; j < save[nl + k] && row[j].rep > rn->repl; j++)
				;
			pq->lo[L] = save[k];
			pq->hi[L] = j;
			save[k] = j;
		}
		if (rc)
			break;
		json_t *v = NULL;
		rc = unwrap ? value(pq, &pq->nodes[rn->child[0]], &v) : elem(pq, rn, &v);
		if (!rc && json_array_append_new(arr, v))
			rc = eng_err_set(pq->err, ENG_ENOMEM, "out of memory");
		else if (rc)
			json_decref(v);
	}
	for (size_t k = 0; k < nl && !rc; k++)
		if (save[k] != save[nl + k])
			rc = bad_row(pq, rn);
	for (size_t k = 0; k < nl; k++) {
		pq->lo[L0 + (int)k] = save[nl + k];
		pq->hi[L0 + (int)k] = save[nl + k];
	}
	free(save);
	return rc;
}

static int image_struct(eng_pq *pq, const pq_node *nd, json_t **out)
{
	const pq_ent *bytes = NULL, *path = NULL;
	const pq_node *pn = NULL;
	for (int k = 0; k < nd->nchild; k++) {
		const pq_node *c = &pq->nodes[nd->child[k]];
		const pq_ent *e = first_ent(pq, c);
		if (!e || pq->hi[c->leaf] - pq->lo[c->leaf] != 1)
			return bad_row(pq, c);
		if (e->def < c->def)
			continue;
		if (!strcmp(c->name, "bytes"))
			bytes = e;
		else
			path = e, pn = c;
	}
	char pbuf[512] = "";
	if (path) {
		const uint8_t *p = pq->rowbuf + path->u.off;
		if (memchr(p, 0, path->n)) {
			set_problem(pq, "holds a NUL byte", pn);
			path = NULL;
		} else {
			snprintf(pbuf, sizeof pbuf, "%.*s", (int)(path->n < 500 ? path->n : 500),
			         p);
		}
	}
	if (bytes)
		*out = blob_value(pq, pbuf, pq->rowbuf + bytes->u.off, bytes->n);
	else if (path)
		*out = text_value(pq, pn, pq->rowbuf + path->u.off, path->n);
	else
		*out = json_null();
	return *out ? 0 : eng_err_set(pq->err, ENG_ENOMEM, "out of memory");
}

static int elem(eng_pq *pq, const pq_node *nd, json_t **out)
{
	if (nd->type >= 0) {
		const pq_ent *e = first_ent(pq, nd);
		if (!e || pq->hi[nd->leaf] - pq->lo[nd->leaf] != 1)
			return bad_row(pq, nd);
		*out = e->def < nd->def ? json_null() : leaf_json(pq, nd, e);
		return *out ? 0 : eng_err_set(pq->err, ENG_ENOMEM, "out of memory");
	}
	if ((nd->is_list || nd->is_map) && nd->nchild == 1 &&
	    pq->nodes[nd->child[0]].rep == REPEATED) {
		const pq_node *rn = &pq->nodes[nd->child[0]];
		return repeated(pq, rn, nd->is_list && rn->type < 0 && rn->nchild == 1, out);
	}
	if (nd->is_image)
		return image_struct(pq, nd, out);
	json_t *obj = json_object();
	if (!obj)
		return eng_err_set(pq->err, ENG_ENOMEM, "out of memory");
	for (int k = 0; k < nd->nchild; k++) {
		const pq_node *c = &pq->nodes[nd->child[k]];
		json_t *v = NULL;
		int rc = value(pq, c, &v);
		if (!rc && json_object_set_new(obj, c->name, v))
			rc = eng_err_set(pq->err, ENG_ENOMEM, "out of memory");
		else if (rc)
			json_decref(v);
		if (rc) {
			json_decref(obj);
			return rc;
		}
	}
	*out = obj;
	return 0;
}

static int value(eng_pq *pq, const pq_node *nd, json_t **out)
{
	*out = NULL;
	if (nd->rep == REPEATED)
		return repeated(pq, nd, 0, out);
	const pq_ent *e = first_ent(pq, nd);
	if (!e)
		return bad_row(pq, nd);
	if (e->def < nd->def) {
		*out = json_null();
		return 0;
	}
	return elem(pq, nd, out);
}

/* ---- rows ----------------------------------------------------------------------------------- */

static void group_begin(eng_pq *pq)
{
	for (size_t L = 0; L < pq->nleaves; L++) {
		pq_col *c = &pq->cols[L];
		c->node = &pq->nodes[pq->leaves[L]];
		c->ch = pq->groups[pq->g].cols[L];
		c->pos = c->ch.start;
		c->end = c->ch.start + c->ch.size;
		c->page = 0;
		c->page_at = c->pos;
		c->nent = c->ient = c->ival = c->nvals = 0;
		free(c->dict);
		free(c->dict_buf);
		c->dict = NULL;
		c->dict_buf = NULL;
		c->ndict = 0;
	}
}

int eng_pq_next_row(eng_pq *pq, json_t **row, const eng_pq_blob **blobs, size_t *nblobs,
                    char problem[256], eng_err *err)
{
	*row = NULL;
	*blobs = NULL;
	*nblobs = 0;
	problem[0] = '\0';
	pq->err = err;
	pq->problem = problem;
	for (size_t i = 0; i < pq->nlabels; i++)
		free(pq->labels[i]);
	pq->nlabels = pq->nblobs = 0;
	if (!pq->started) {
		pq->started = 1;
		pq->g = 0;
		pq->r = -1;
		if (pq->ngroups)
			group_begin(pq);
	}
	while (pq->g < pq->ngroups && pq->r + 1 >= pq->groups[pq->g].rows) {
		pq->g++;
		pq->r = -1;
		if (pq->g < pq->ngroups)
			group_begin(pq);
	}
	if (pq->g >= pq->ngroups)
		return 0;
	pq->r++;
	pq->file_row++;
	int rc = gather_row(pq);
	if (rc)
		return rc;
	const pq_node *root = &pq->nodes[0];
	json_t *obj = json_object();
	if (!obj)
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	for (int k = 0; k < root->nchild && !rc; k++) {
		const pq_node *c = &pq->nodes[root->child[k]];
		json_t *v = NULL;
		rc = value(pq, c, &v);
		if (!rc && json_object_set_new(obj, c->name, v))
			rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
		else if (rc)
			json_decref(v);
	}
	if (rc) {
		json_decref(obj);
		return rc;
	}
	*row = obj;
	*blobs = pq->blobs;
	*nblobs = pq->nblobs;
	return 1;
}

/* ---- chat-style answers --------------------------------------------------------------------- */

/* Text of a message's content: a string, or the `text` strings of a list of parts, joined. */
static char *content_text(json_t *m)
{
	json_t *c = json_object_get(m, "content");
	if (json_is_string(c))
		return strdup(json_string_value(c));
	if (!json_is_array(c))
		return NULL;
	size_t total = 1, i;
	json_t *part;
	json_array_foreach(c, i, part)
	{
		json_t *t = json_is_object(part) ? json_object_get(part, "text") : part;
		if (json_is_string(t))
			total += strlen(json_string_value(t)) + 1;
	}
	char *s = malloc(total);
	if (!s)
		return NULL;
	size_t o = 0;
	json_array_foreach(c, i, part)
	{
		json_t *t = json_is_object(part) ? json_object_get(part, "text") : part;
		if (json_is_string(t))
			o += (size_t)sprintf(s + o, "%s%s", o ? "\n" : "", json_string_value(t));
	}
	s[o] = '\0';
	return s;
}

/* The content of the last message of list v whose role is role (malloc'd), or NULL. */
static char *last_role(json_t *v, const char *role)
{
	if (!json_is_array(v))
		return NULL;
	for (size_t i = json_array_size(v); i-- > 0;) {
		json_t *m = json_array_get(v, i);
		json_t *r = json_is_object(m) ? json_object_get(m, "role") : NULL;
		if (json_is_string(r) && !strcasecmp(json_string_value(r), role))
			return content_text(m);
	}
	return NULL;
}

static int is_messages(json_t *v)
{
	json_t *m = json_array_get(v, 0);
	return json_is_array(v) && json_is_object(m) && json_object_get(m, "role") &&
	       json_object_get(m, "content");
}

static int set_text(json_t *row, const char *key, char *s)
{
	int rc = json_object_set_new(row, key, json_string(s)) ? ENG_ENOMEM : 0;
	free(s);
	return rc;
}

int eng_pq_flatten_messages(json_t *row)
{
	json_t *prompt = json_object_get(row, "prompt");
	int need_prompt =
	    !json_is_string(prompt) && !json_is_string(json_object_get(row, "question"));
	char *p = NULL;
	if (need_prompt && is_messages(prompt))
		p = last_role(prompt, "user");
	if (need_prompt && !p && is_messages(json_object_get(row, "chosen")))
		p = last_role(json_object_get(row, "chosen"), "user");
	if (p && set_text(row, "prompt", p))
		return ENG_ENOMEM;
	static const char *const sides[] = {"chosen", "rejected"};
	for (int s = 0; s < 2; s++) {
		json_t *v = json_object_get(row, sides[s]);
		if (!is_messages(v))
			continue;
		char *a = last_role(v, "assistant");
		if (a ? set_text(row, sides[s], a)
		      : json_object_set_new(row, sides[s], json_null()))
			return ENG_ENOMEM; /* no assistant text: null, reported as a missing answer
			                    */
	}
	return 0;
}

/* ---- folders of shards ---------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int eng_pq_list_dir(const char *dir, char ***files, size_t *n, eng_err *err)
{
	*files = NULL;
	*n = 0;
	DIR *d = opendir(dir);
	if (!d)
		return eng_err_set(err, ENG_EINPUT, "cannot read folder '%s'; check the path", dir);
	char **v = NULL;
	size_t cap = 0, k = 0;
	struct dirent *de;
	int rc = 0;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (l < 9 || strcasecmp(de->d_name + l - 8, ".parquet") || de->d_name[0] == '.')
			continue;
		size_t pl = strlen(dir) + l + 2;
		char *s = malloc(pl);
		if (!s || eng_pq_grow((void **)&v, &cap, k + 1, sizeof *v)) {
			free(s);
			rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
			break;
		}
		snprintf(s, pl, "%s/%s", dir, de->d_name);
		v[k++] = s;
	}
	closedir(d);
	if (!rc && !k)
		rc = eng_err_set(err, ENG_EINPUT,
		                 "'%s' is a directory holding no .parquet file; give "
		                 "the input files (JSONL, JSON, Parquet), or a folder of "
		                 ".parquet shards",
		                 dir);
	if (rc) {
		for (size_t i = 0; i < k; i++)
			free(v[i]);
		free(v);
		return rc;
	}
	qsort(v, k, sizeof *v, cmp_str);
	*files = v;
	*n = k;
	return 0;
}
