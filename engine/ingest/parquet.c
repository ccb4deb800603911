/* parquet.c - Parquet footer, schema, column cursors and row assembly (see parquet.h). Page
 * decoding steps live in pqpage.c, the Thrift compact reader in thrift.c. Writes nothing. */
#include "parquet.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "parquet_internal.h"
#include "thrift.h"

/* ---- I/O ------------------------------------------------------------------------------------ */

int eng_pq_read_at(eng_pq *pq, int64_t off, void *buf, size_t n, eng_err *err)
{
	if (off < 0 || off > pq->size || (int64_t)n > pq->size - off)
		return eng_err_set(
		    err, ENG_EINPUT,
		    "%s: a read at byte %lld of %zu bytes runs past "
		    "the end of the file (%lld bytes); the file is truncated or corrupt",
		    pq->label, (long long)off, n, (long long)pq->size);
	if (pq->mem) {
		memcpy(buf, pq->mem + off, n);
		return 0;
	}
	size_t done = 0;
	while (done < n) {
		ssize_t k =
		    pread(pq->fd, (uint8_t *)buf + done, n - done, (off_t)(off + (int64_t)done));
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return eng_err_set(err, k < 0 ? ENG_EIO : ENG_EINPUT,
			                   "%s: cannot read %zu bytes "
			                   "at byte %lld: %s",
			                   pq->label, n, (long long)off,
			                   k < 0 ? strerror(errno) : "unexpected end of file");
		done += (size_t)k;
	}
	return 0;
}

int eng_pq_grow(void **p, size_t *cap, size_t n, size_t sz)
{
	if (n <= *cap)
		return 0;
	size_t nc = *cap ? *cap : 16;
	while (nc < n)
		nc = nc > SIZE_MAX / 2 ? n : nc * 2;
	if (nc > SIZE_MAX / sz)
		return -1;
	void *q = realloc(*p, nc * sz);
	if (!q)
		return -1;
	*p = q;
	*cap = nc;
	return 0;
}

/* ---- footer --------------------------------------------------------------------------------- */

typedef struct flat_el { /* SchemaElement */
	int type, tlen, rep, nchild, conv, logical;
	const uint8_t *name;
	size_t name_len;
} flat_el;

static void read_logical(eng_tc *r, flat_el *e)
{
	int16_t last = 0, id;
	int t;
	while ((t = eng_tc_field(r, &last, &id)) != ENG_TC_STOP) {
		if (t == ENG_TC_STRUCT && e->logical < 0)
			e->logical = id; /* 1 STRING, 2 MAP, 3 LIST, 4 ENUM, 12 JSON ... */
		eng_tc_skip(r, t);
	}
}

static void read_schema_el(eng_tc *r, flat_el *e)
{
	int16_t last = 0, id;
	int t;
	*e = (flat_el){-1, 0, REQUIRED, 0, -1, -1, NULL, 0};
	if (++r->depth > ENG_TC_MAX_DEPTH)
		return eng_tc_skip(r, ENG_TC_STRUCT);
	while ((t = eng_tc_field(r, &last, &id)) != ENG_TC_STOP) {
		if (id == 1 && t == ENG_TC_I32)
			e->type = eng_tc_i32(r);
		else if (id == 2 && t == ENG_TC_I32)
			e->tlen = eng_tc_i32(r);
		else if (id == 3 && t == ENG_TC_I32)
			e->rep = eng_tc_i32(r);
		else if (id == 4 && t == ENG_TC_BINARY)
			e->name = eng_tc_binary(r, &e->name_len);
		else if (id == 5 && t == ENG_TC_I32)
			e->nchild = eng_tc_i32(r);
		else if (id == 6 && t == ENG_TC_I32)
			e->conv = eng_tc_i32(r);
		else if (id == 10 && t == ENG_TC_STRUCT)
			read_logical(r, e);
		else
			eng_tc_skip(r, t);
	}
	r->depth--;
}

static void read_colmeta(eng_tc *r, pq_chunk *c, int64_t *data_off, int64_t *dict_off)
{
	int16_t last = 0, id;
	int t;
	while ((t = eng_tc_field(r, &last, &id)) != ENG_TC_STOP) {
		if (id == 1 && t == ENG_TC_I32)
			c->type = eng_tc_i32(r);
		else if (id == 4 && t == ENG_TC_I32)
			c->codec = eng_tc_i32(r);
		else if (id == 5 && t == ENG_TC_I64)
			c->num_values = eng_tc_i64(r);
		else if (id == 7 && t == ENG_TC_I64)
			c->size = eng_tc_i64(r);
		else if (id == 9 && t == ENG_TC_I64)
			*data_off = eng_tc_i64(r);
		else if (id == 11 && t == ENG_TC_I64)
			*dict_off = eng_tc_i64(r);
		else
			eng_tc_skip(r, t);
	}
}

static void read_chunk(eng_tc *r, pq_chunk *c, int *external)
{
	int16_t last = 0, id;
	int t;
	int64_t data_off = -1, dict_off = -1;
	*c = (pq_chunk){-1, -1, -1, -1, -1};
	while ((t = eng_tc_field(r, &last, &id)) != ENG_TC_STOP) {
		if (id == 1 && t == ENG_TC_BINARY) {
			size_t n;
			eng_tc_binary(r, &n);
			*external = 1; /* file_path: the chunk lives in another file */
		} else if (id == 3 && t == ENG_TC_STRUCT) {
			read_colmeta(r, c, &data_off, &dict_off);
		} else {
			eng_tc_skip(r, t);
		}
	}
	c->start = dict_off > 0 && dict_off < data_off ? dict_off : data_off;
}

static int read_group(eng_pq *pq, eng_tc *r, pq_group *g, size_t gi, eng_err *err)
{
	int16_t last = 0, id;
	int t, external = 0;
	uint32_t ncols = 0;
	g->rows = -1;
	while ((t = eng_tc_field(r, &last, &id)) != ENG_TC_STOP) {
		if (id == 1 && t == ENG_TC_LIST && !g->cols) {
			int et = eng_tc_list(r, &ncols);
			if (r->bad)
				break;
			if (et != ENG_TC_STRUCT || ncols != pq->nleaves)
				return eng_err_set(
				    err, ENG_EINPUT,
				    "%s: footer: row group %zu has %u "
				    "column chunks for %zu leaf columns in the schema",
				    pq->label, gi, ncols, pq->nleaves);
			if (!(g->cols = calloc(ncols ? ncols : 1, sizeof *g->cols)))
				return eng_err_set(err, ENG_ENOMEM, "out of memory");
			for (uint32_t k = 0; k < ncols && !r->bad; k++)
				read_chunk(r, &g->cols[k], &external);
		} else if (id == 3 && t == ENG_TC_I64) {
			g->rows = eng_tc_i64(r);
		} else {
			eng_tc_skip(r, t);
		}
	}
	if (r->bad)
		return 0; /* reported by the caller */
	if (!g->cols && pq->nleaves)
		return eng_err_set(err, ENG_EINPUT, "%s: footer: row group %zu has no columns",
		                   pq->label, gi);
	if (external)
		return eng_err_set(err, ENG_EINPUT,
		                   "%s: row group %zu keeps its columns in other "
		                   "files (file_path); index those files",
		                   pq->label, gi);
	if (g->rows < 0)
		return eng_err_set(err, ENG_EINPUT,
		                   "%s: footer: row group %zu has no valid row count", pq->label,
		                   gi);
	int64_t data_end = pq->size - 8;
	for (size_t k = 0; k < pq->nleaves; k++) {
		pq_chunk *c = &g->cols[k];
		const pq_node *nd = &pq->nodes[pq->leaves[k]];
		if (c->type != nd->type || c->start < 4 || c->size < 0 || c->start > data_end ||
		    c->size > data_end - c->start || c->num_values < 0)
			return eng_err_set(
			    err, ENG_EINPUT,
			    "%s: row group %zu, column '%s': the column "
			    "chunk's type, offset (%lld) or size (%lld) is invalid or lies "
			    "outside the file's %lld data bytes",
			    pq->label, gi, nd->name, (long long)c->start, (long long)c->size,
			    (long long)data_end);
	}
	return 0;
}

/* Builds node i (and its subtree) from the flat schema; *pos advances. */
static int build_node(eng_pq *pq, const flat_el *fl, size_t nfl, size_t *pos, int depth,
                      int16_t def, int16_t repl, eng_err *err)
{
	if (*pos >= nfl || depth > ENG_PQ_MAX_DEPTH)
		return eng_err_set(err, ENG_EINPUT, "%s: footer: the schema is %s", pq->label,
		                   depth > ENG_PQ_MAX_DEPTH ? "nested too deeply" : "truncated");
	size_t i = (*pos)++;
	const flat_el *e = &fl[i];
	pq_node *nd = &pq->nodes[i];
	if (!(nd->name = strndup(e->name ? (const char *)e->name : "", e->name_len)))
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	if (e->rep < REQUIRED || e->rep > REPEATED || e->nchild < 0 ||
	    (size_t)e->nchild > nfl - *pos || (!e->nchild && (e->type < 0 || e->type > 7)) ||
	    (e->type == ENG_PQ_FIXED && (e->tlen <= 0 || e->tlen > 1 << 20)))
		return eng_err_set(err, ENG_EINPUT, "%s: footer: schema element '%s' is invalid",
		                   pq->label, nd->name);
	nd->rep = depth ? e->rep : REQUIRED;
	nd->def = (int16_t)(def + (nd->rep != REQUIRED));
	nd->repl = (int16_t)(repl + (nd->rep == REPEATED));
	nd->conv = e->conv;
	nd->type = e->nchild ? -1 : e->type;
	nd->tlen = e->tlen;
	nd->is_string = e->conv == CONV_UTF8 || e->conv == CONV_ENUM || e->conv == CONV_JSON ||
	                e->logical == 1 || e->logical == 4 || e->logical == 12;
	nd->is_list = e->nchild && (e->conv == CONV_LIST || e->logical == 3);
	nd->is_map =
	    e->nchild && (e->conv == CONV_MAP || e->conv == CONV_MAP_KV || e->logical == 2);
	nd->leaf_lo = (int)pq->nleaves;
	nd->nchild = e->nchild;
	if (!e->nchild) {
		if (pq->nleaves >= ENG_PQ_MAX_COLUMNS)
			return eng_err_set(err, ENG_EINPUT, "%s: more than %d columns", pq->label,
			                   ENG_PQ_MAX_COLUMNS);
		nd->leaf = (int)pq->nleaves;
		pq->leaves[pq->nleaves++] = (int)i;
	} else {
		nd->leaf = -1;
		if (!(nd->child = malloc((size_t)e->nchild * sizeof *nd->child)))
			return eng_err_set(err, ENG_ENOMEM, "out of memory");
		for (int k = 0; k < e->nchild; k++) {
			nd->child[k] = (int)*pos;
			int rc = build_node(pq, fl, nfl, pos, depth + 1, nd->def, nd->repl, err);
			if (rc)
				return rc;
		}
	}
	nd->leaf_hi = (int)pq->nleaves;
	/* the Hugging Face Image struct: {bytes: binary, path: string} */
	if (e->nchild && e->nchild <= 2 && nd->rep != REPEATED) {
		int bytes = 0, other = 0;
		for (int k = 0; k < e->nchild; k++) {
			const pq_node *c = &pq->nodes[nd->child[k]];
			if (!strcmp(c->name, "bytes") && c->type == ENG_PQ_BYTE_ARRAY &&
			    c->rep != REPEATED)
				bytes = 1;
			else if (!strcmp(c->name, "path") && c->type == ENG_PQ_BYTE_ARRAY &&
			         c->rep != REPEATED)
				;
			else
				other = 1;
		}
		nd->is_image = bytes && !other;
	}
	return 0;
}

static int parse_footer(eng_pq *pq, const uint8_t *p, size_t n, eng_err *err)
{
	eng_tc r;
	eng_tc_init(&r, p, n);
	int16_t last = 0, id;
	int t, rc;
	flat_el *fl = NULL;
	uint32_t nfl = 0, ng = 0;
	int have_schema = 0;
	int64_t num_rows = -1;
	while ((t = eng_tc_field(&r, &last, &id)) != ENG_TC_STOP) {
		if (id == 2 && t == ENG_TC_LIST && !have_schema) {
			int et = eng_tc_list(&r, &nfl);
			have_schema = 1;
			if (et != ENG_TC_STRUCT || !nfl || nfl > 4 * ENG_PQ_MAX_COLUMNS + 1) {
				rc = eng_err_set(err, ENG_EINPUT,
				                 "%s: footer: the schema has %u "
				                 "elements",
				                 pq->label, nfl);
				goto out;
			}
			if (!(fl = calloc(nfl, sizeof *fl)) ||
			    !(pq->nodes = calloc(nfl, sizeof *pq->nodes)) ||
			    !(pq->leaves = calloc(nfl, sizeof *pq->leaves))) {
				rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
				goto out;
			}
			pq->nnodes = nfl;
			for (uint32_t k = 0; k < nfl && !r.bad; k++)
				read_schema_el(&r, &fl[k]);
			if (r.bad)
				break;
			size_t pos = 0;
			if ((rc = build_node(pq, fl, nfl, &pos, 0, 0, 0, err)))
				goto out;
			if (pos != nfl || !pq->nleaves) {
				rc = eng_err_set(err, ENG_EINPUT,
				                 "%s: footer: the schema tree does not "
				                 "match its element count (or has no column)",
				                 pq->label);
				goto out;
			}
		} else if (id == 3 && t == ENG_TC_I64) {
			num_rows = eng_tc_i64(&r);
		} else if (id == 4 && t == ENG_TC_LIST && have_schema && !pq->groups) {
			int et = eng_tc_list(&r, &ng);
			if (r.bad)
				break;
			if (et != ENG_TC_STRUCT) {
				rc = eng_err_set(err, ENG_EINPUT,
				                 "%s: footer: row groups malformed", pq->label);
				goto out;
			}
			if (!(pq->groups = calloc(ng ? ng : 1, sizeof *pq->groups))) {
				rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
				goto out;
			}
			for (uint32_t k = 0; k < ng && !r.bad; k++) {
				pq->ngroups = k + 1;
				if ((rc = read_group(pq, &r, &pq->groups[k], k, err)))
					goto out;
			}
		} else {
			eng_tc_skip(&r, t);
		}
	}
	if (r.bad) {
		rc = eng_err_set(err, ENG_EINPUT, "%s: footer is malformed at byte %zu of %zu: %s",
		                 pq->label, (size_t)(r.p - r.start), n, r.why);
		goto out;
	}
	if (!have_schema || num_rows < 0) {
		rc = eng_err_set(err, ENG_EINPUT, "%s: footer has no schema or no row count",
		                 pq->label);
		goto out;
	}
	uint64_t sum = 0;
	for (size_t k = 0; k < pq->ngroups; k++)
		sum += (uint64_t)pq->groups[k].rows;
	if (sum != (uint64_t)num_rows) {
		rc = eng_err_set(err, ENG_EINPUT,
		                 "%s: footer: the row groups hold %llu rows, the file "
		                 "says %lld",
		                 pq->label, (unsigned long long)sum, (long long)num_rows);
		goto out;
	}
	pq->nrows = sum;
	rc = 0;
out:
	free(fl);
	return rc;
}

int eng_pq_sniff(const char *path)
{
	FILE *f = fopen(path, "rb");
	char m[4];
	int ok = f && fread(m, 1, 4, f) == 4 && !memcmp(m, "PAR1", 4);
	if (f)
		fclose(f);
	return ok;
}

static int open_common(eng_pq *pq, eng_err *err)
{
	uint8_t tail[8], head[4];
	int rc;
	if (pq->size < 12)
		return eng_err_set(err, ENG_EINPUT,
		                   "%s: %lld bytes is too short for Parquet (PAR1, "
		                   "footer, length, PAR1); the file is truncated",
		                   pq->label, (long long)pq->size);
	if ((rc = eng_pq_read_at(pq, 0, head, 4, err)) ||
	    (rc = eng_pq_read_at(pq, pq->size - 8, tail, 8, err)))
		return rc;
	if (memcmp(head, "PAR1", 4) || memcmp(tail + 4, "PAR1", 4))
		return eng_err_set(err, ENG_EINPUT,
		                   "%s: not a Parquet file (no PAR1 magic at the %s); "
		                   "the file is truncated or not Parquet",
		                   pq->label, memcmp(head, "PAR1", 4) ? "start" : "end");
	uint32_t flen = (uint32_t)tail[0] | (uint32_t)tail[1] << 8 | (uint32_t)tail[2] << 16 |
	                (uint32_t)tail[3] << 24;
	if (flen > (uint64_t)pq->size - 12 || flen > ENG_PQ_MAX_FOOTER)
		return eng_err_set(
		    err, ENG_EINPUT,
		    "%s: the footer length (%u bytes) is larger than "
		    "the file (%lld bytes) or the %zu MiB limit; the file is truncated "
		    "or corrupt",
		    pq->label, flen, (long long)pq->size, ENG_PQ_MAX_FOOTER >> 20);
	if (!(pq->footer = malloc(flen ? flen : 1)))
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	if ((rc = eng_pq_read_at(pq, pq->size - 8 - flen, pq->footer, flen, err)))
		return rc;
	if ((rc = parse_footer(pq, pq->footer, flen, err)))
		return rc;
	size_t nl = pq->nleaves;
	if (!(pq->cols = calloc(nl, sizeof *pq->cols)) || !(pq->lo = calloc(nl, sizeof *pq->lo)) ||
	    !(pq->hi = calloc(nl, sizeof *pq->hi)))
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	return 0;
}

static eng_pq *pq_new(const char *label)
{
	eng_pq *pq = calloc(1, sizeof *pq);
	if (pq && !(pq->label = strdup(label))) {
		free(pq);
		return NULL;
	}
	if (pq)
		pq->fd = -1;
	return pq;
}

int eng_pq_open(const char *path, eng_pq **out, eng_err *err)
{
	*out = NULL;
	eng_pq *pq = pq_new(path);
	if (!pq)
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	struct stat sb;
	if ((pq->fd = open(path, O_RDONLY)) < 0 || fstat(pq->fd, &sb) != 0) {
		int rc = eng_err_set(err, ENG_EINPUT, "cannot open '%s': %s; check the path", path,
		                     strerror(errno));
		eng_pq_close(pq);
		return rc;
	}
	pq->size = sb.st_size;
	int rc = open_common(pq, err);
	if (rc) {
		eng_pq_close(pq);
		return rc;
	}
	*out = pq;
	return 0;
}

int eng_pq_open_memory(const uint8_t *data, size_t n, const char *label, eng_pq **out, eng_err *err)
{
	*out = NULL;
	eng_pq *pq = pq_new(label);
	if (!pq)
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	pq->mem = data;
	pq->size = (int64_t)n;
	int rc = open_common(pq, err);
	if (rc) {
		eng_pq_close(pq);
		return rc;
	}
	*out = pq;
	return 0;
}

void eng_pq_col_free(pq_col *c)
{
	free(c->raw);
	free(c->buf);
	free(c->dict_buf);
	free(c->own);
	free(c->hdr);
	free(c->dict);
	free(c->vals);
	free(c->defs);
	free(c->reps);
	free(c->row);
	memset(c, 0, sizeof *c);
}

void eng_pq_close(eng_pq *pq)
{
	if (!pq)
		return;
	if (pq->fd >= 0)
		close(pq->fd);
	for (size_t i = 0; i < pq->nnodes; i++) {
		free(pq->nodes[i].name);
		free(pq->nodes[i].child);
	}
	for (size_t i = 0; pq->cols && i < pq->nleaves; i++)
		eng_pq_col_free(&pq->cols[i]);
	for (size_t i = 0; i < pq->ngroups; i++)
		free(pq->groups[i].cols);
	for (size_t i = 0; i < pq->nlabels; i++)
		free(pq->labels[i]);
	free(pq->labels);
	free(pq->blobs);
	free(pq->groups);
	free(pq->nodes);
	free(pq->leaves);
	free(pq->cols);
	free(pq->lo);
	free(pq->hi);
	free(pq->rowbuf);
	free(pq->footer);
	free(pq->label);
	free(pq);
}

uint64_t eng_pq_num_rows(const eng_pq *pq)
{
	return pq->nrows;
}

size_t eng_pq_num_groups(const eng_pq *pq)
{
	return pq->ngroups;
}

void eng_pq_where(const eng_pq *pq, size_t *group, uint64_t *row_in_group, uint64_t *row_in_file)
{
	*group = pq->g;
	*row_in_group = (uint64_t)(pq->r < 0 ? 0 : pq->r);
	*row_in_file = pq->file_row ? pq->file_row - 1 : 0;
}
