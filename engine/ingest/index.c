/* index.c - JSONL file -> pairs/images/ingest_errors rows, one transaction per file.
 * Reading lines: jsonl.c; record shapes: records.c; image bytes and the image store: images.c. */
#include "index.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "answers.h"
#include "arena.h"
#include "dedup.h"
#include "images.h"
#include "imgfeat.h"
#include "jsonl.h"
#include "parquet.h"
#include "sha256.h"
#include "runs.h"
#include "safetext.h"

/* ---- a small string -> image result map, so a path used by many records is read once ---- */

typedef struct cache_ent {
	char *key;
	int64_t id;        /* image id when ok */
	eng_rec_error rej; /* rejection when !ok */
	int ok;
} cache_ent;

typedef struct refcache {
	cache_ent *slots;
	size_t cap, n;
} refcache;

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static cache_ent *cache_find(refcache *c, const char *key)
{
	if (!c->cap)
		return NULL;
	for (size_t i = fnv1a(key) & (c->cap - 1);; i = (i + 1) & (c->cap - 1)) {
		if (!c->slots[i].key)
			return NULL;
		if (!strcmp(c->slots[i].key, key))
			return &c->slots[i];
	}
}

static int cache_put(refcache *c, const char *key, int ok, int64_t id, const eng_rec_error *rej)
{
	if ((c->n + 1) * 2 > c->cap) {
		size_t nc = c->cap ? c->cap * 2 : 1024;
		cache_ent *ns = calloc(nc, sizeof *ns);
		if (!ns)
			return ENG_ENOMEM;
		for (size_t i = 0; i < c->cap; i++) {
			if (!c->slots[i].key)
				continue;
			size_t j = fnv1a(c->slots[i].key) & (nc - 1);
			while (ns[j].key)
				j = (j + 1) & (nc - 1);
			ns[j] = c->slots[i];
		}
		free(c->slots);
		c->slots = ns;
		c->cap = nc;
	}
	size_t j = fnv1a(key) & (c->cap - 1);
	while (c->slots[j].key)
		j = (j + 1) & (c->cap - 1);
	if (!(c->slots[j].key = strdup(key)))
		return ENG_ENOMEM;
	c->slots[j].ok = ok;
	c->slots[j].id = id;
	if (rej)
		c->slots[j].rej = *rej;
	c->n++;
	return 0;
}

static void cache_free(refcache *c)
{
	for (size_t i = 0; i < c->cap; i++)
		free(c->slots[i].key);
	free(c->slots);
}

/* ---- per-file state ------------------------------------------------------------------------ */

/* A record whose image is an archive member, resolved after all records are read. */
typedef struct pending {
	char *name; /* normalised member name */
	char *alt;  /* bundle: the reference as written, tried when name is not a member */
	int64_t file_id;
	const char *path; /* source label for errors (owned by the ictx or the caller) */
	uint64_t line;
	size_t first, n; /* its pair rowids: rowids[first .. first + n) */
	int done;
} pending;

typedef struct ictx {
	eng_ws *ws;
	sqlite3 *db;
	const char *path, *root;
	const char *src; /* the file read: path, or the private copy of a stream (read_stream) */
	int root_is_archive, strict, missing_text_only, rename_dup_ids, images_outside;
	size_t max_line; /* 0 = ENG_JSONL_DEFAULT_MAX_LINE */
	eng_rec_opts ropts;
	const char *dataset;
	const eng_progress *prog;
	const char *sha;  /* content hash of the source being read (file or bundle member) */
	const char *mdir; /* bundle: folder of the member being read ("" at the top), else NULL */
	char **members;   /* bundle: every regular member name (sorted after the scan) */
	size_t nmembers, members_cap;
	struct {
		int64_t id;
		uint64_t records;
	} files[64];      /* bundle: record members (id 0: ingested before) */
	char *labels[64]; /* bundle: "BUNDLE:member" of each */
	size_t nfiles;
	int64_t ds_id, file_id;
	const char *loc;          /* Parquet: "row group G, row R" of the row being stored */
	const eng_pq_blob *blobs; /* Parquet: the row's embedded images, by label */
	size_t nblobs;
	const char *okey; /* options that change what is kept (options_key) */
	sqlite3_stmt *ins_pair, *ins_err, *set_img, *del_pair;
	eng_imgstore *imgs;
	eng_index_result *res;
	eng_err *err;
	refcache cache;
	pending *pend;
	size_t npend, pend_cap;
	int64_t *rowids;
	size_t nrow, row_cap;
} ictx;

void eng_index_stem(const char *path, char *stem, size_t n)
{
	const char *b = strrchr(path, '/');
	b = b ? b + 1 : path;
	eng_text_escape(b, (size_t)-1, stem, n); /* a name is valid printable UTF-8 */
	static const char *const sfx[] = {".gz",  ".bz2",   ".xz",   ".zst",    ".tar",    ".tgz",
	                                  ".zip", ".jsonl", ".json", ".ndjson", ".parquet"};
	for (size_t i = 0; i < sizeof sfx / sizeof sfx[0]; i++) {
		size_t l = strlen(stem), k = strlen(sfx[i]);
		if (l > k && !strcmp(stem + l - k, sfx[i]))
			stem[l - k] = '\0';
	}
}

/* Stores one record problem (strict: fails the file instead). */
static int record_error(ictx *c, uint64_t line, eng_rec_code code, const char *reason)
{
	eng_index_result *r = c->res;
	char located[600];
	if (c->loc) {
		snprintf(located, sizeof located, "%s: %s", c->loc, reason);
		reason = located;
	}
	if (c->strict)
		return eng_err_set(
		    c->err, ENG_EINPUT,
		    "%s:%llu: [%s] %s (--strict: nothing from this file was ingested)", c->path,
		    (unsigned long long)line, eng_rec_code_name(code), reason);
	sqlite3_stmt *st = c->ins_err;
	sqlite3_bind_int64(st, 1, c->ds_id);
	sqlite3_bind_int64(st, 2, c->file_id);
	sqlite3_bind_text(st, 3, c->path, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)line);
	sqlite3_bind_text(st, 5, eng_rec_code_name(code), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, reason, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return eng_ws_fail(c->ws, c->err, "store ingest error");
	r->errors++;
	r->by_code[code]++;
	if (r->nfirst < ENG_INDEX_FIRST_ERRORS) {
		r->first[r->nfirst].line = line;
		r->first[r->nfirst].code = code;
		snprintf(r->first[r->nfirst].reason, sizeof r->first[0].reason, "%.383s", reason);
		r->nfirst++;
	}
	return 0;
}

/* Image id for bytes (0 ok, 1 rejected, <0 failure), counting new vs reused images. */
static int put_image(ictx *c, const uint8_t *data, size_t n, const char *source, int64_t *id,
                     eng_rec_error *rej)
{
	int is_new = 0;
	int rc = eng_imgstore_put(c->imgs, data, n, source, id, &is_new, rej, c->err);
	if (rc == 0)
		*(is_new ? &c->res->images_new : &c->res->images_reused) += 1;
	return rc;
}

/* The file an image reference names: itself when absolute, else under the images root. malloc'd;
 * NULL when out of memory. */
static char *image_path(const ictx *c, const char *ref)
{
	if (ref[0] == '/')
		return strdup(ref);
	size_t n = strlen(c->root) + strlen(ref) + 2;
	char *full = malloc(n);
	if (full)
		snprintf(full, n, "%s/%s", c->root, ref);
	return full;
}

/* 1 when the relative path ref climbs above its folder through ".." segments ("a/../../x"). */
static int climbs_out(const char *ref)
{
	long depth = 0;
	for (const char *s = ref; *s;) {
		size_t seg = strcspn(s, "/");
		if (seg == 2 && s[0] == '.' && s[1] == '.') {
			if (--depth < 0)
				return 1;
		} else if (seg && !(seg == 1 && s[0] == '.')) {
			depth++;
		}
		s += seg;
		s += *s != '\0';
	}
	return 0;
}

/* A relative image path that leaves the images folder is refused unless allowed. */
static int confined(const ictx *c, const char *ref, eng_rec_error *rej)
{
	if (ref[0] == '/' || c->images_outside || !climbs_out(ref))
		return 1;
	rej->code = ENG_REC_UNSAFE_MEMBER;
	snprintf(rej->reason, sizeof rej->reason,
	         "image path '%.160s' leaves the images folder '%.80s' through '..'; move the "
	         "image inside or pass --allow-image-paths-outside",
	         ref, c->root);
	return 0;
}

/* Resolves ref now: 0 with *id, 1 rejected (rej), 2 deferred to the archive pass, <0 failure. */
static int resolve_now(ictx *c, const char *ref, uint64_t line, int64_t *id, eng_rec_error *rej)
{
	int rc;
	for (size_t i = 0; i < c->nblobs; i++) { /* an image embedded in the Parquet row */
		if (strcmp(ref, c->blobs[i].label))
			continue;
		char src[700];
		snprintf(src, sizeof src, "%.500s: %s", c->path, c->loc ? c->loc : "");
		rc = put_image(c, c->blobs[i].p, c->blobs[i].n, src, id, rej);
		return rc == ENG_ENOMEM ? eng_err_set(c->err, rc, "out of memory") : rc;
	}
	if (!strncasecmp(ref, "data:", 5)) {
		uint8_t *buf = NULL;
		size_t n = 0;
		char src[64];
		snprintf(src, sizeof src, "data-uri (line %llu)", (unsigned long long)line);
		if ((rc = eng_image_data_uri(ref, &buf, &n, rej)) == 0)
			rc = put_image(c, buf, n, src, id, rej);
		free(buf);
		return rc == ENG_ENOMEM ? eng_err_set(c->err, rc, "out of memory") : rc;
	}
	if (ref[0] != '/' && c->root_is_archive)
		return 2;
	cache_ent *e = cache_find(&c->cache, ref);
	if (e) {
		if (!e->ok) {
			*rej = e->rej;
			return 1;
		}
		*id = e->id;
		c->res->images_reused++;
		return 0;
	}
	if (!confined(c, ref, rej))
		return cache_put(&c->cache, ref, 0, 0, rej)
		           ? eng_err_set(c->err, ENG_ENOMEM, "out of memory")
		           : 1;
	char *full = image_path(c, ref);
	if (!full)
		return eng_err_set(c->err, ENG_ENOMEM, "out of memory");
	uint8_t *buf = NULL;
	size_t n = 0;
	int is_new = 0;
	rc = eng_imgstore_put_source(c->imgs, full, id, &is_new, rej, c->err);
	if (rc == 0)
		*(is_new ? &c->res->images_new : &c->res->images_reused) += 1;
	else if (rc == 2 && (rc = eng_image_read_file(full, &buf, &n, rej)) == 0)
		rc = put_image(c, buf, n, full, id, rej);
	free(buf);
	free(full);
	if (rc == ENG_ENOMEM)
		return eng_err_set(c->err, rc, "out of memory");
	if (rc >= 0 && cache_put(&c->cache, ref, rc == 0, *id, rc ? rej : NULL))
		return eng_err_set(c->err, ENG_ENOMEM, "out of memory");
	return rc;
}

/* Reads the image file ref names ahead of its record, so that it decodes on a worker while the
 * records before it are stored (resolve_now then takes it). 0 or a negative code. */
static int read_ahead(ictx *c, const char *ref)
{
	if (!strncasecmp(ref, "data:", 5) || (ref[0] != '/' && c->root_is_archive) ||
	    cache_find(&c->cache, ref) || (ref[0] != '/' && !c->images_outside && climbs_out(ref)))
		return 0;
	char *full = image_path(c, ref);
	if (!full)
		return eng_err_set(c->err, ENG_ENOMEM, "out of memory");
	int rc = 0;
	uint8_t *buf = NULL;
	size_t n = 0;
	eng_rec_error rej;
	if (!eng_imgstore_prefetched(c->imgs, full) &&
	    eng_image_read_file(full, &buf, &n, &rej) == 0) /* a refusal is met again later */
		rc = eng_imgstore_prefetch(c->imgs, full, buf, n, c->err);
	free(full);
	return rc;
}

static int add_pending(ictx *c, const char *ref, uint64_t line, size_t first, size_t n)
{
	if (c->npend == c->pend_cap) {
		size_t nc = c->pend_cap ? c->pend_cap * 2 : 256;
		pending *np = realloc(c->pend, nc * sizeof *np);
		if (!np)
			return ENG_ENOMEM;
		c->pend = np;
		c->pend_cap = nc;
	}
	size_t dl = c->mdir ? strlen(c->mdir) : 0;
	char *name = malloc(dl + strlen(ref) + 2), *alt = NULL;
	if (!name)
		return ENG_ENOMEM;
	snprintf(name, dl + strlen(ref) + 2, "%s%s%s", dl ? c->mdir : "", dl ? "/" : "", ref);
	eng_archive_normalize(name);
	if (dl && !(alt = strdup(ref))) {
		free(name);
		return ENG_ENOMEM;
	}
	if (alt)
		eng_archive_normalize(alt);
	c->pend[c->npend++] = (pending){name, alt, c->file_id, c->path, line, first, n, 0};
	return 0;
}

static int push_rowid(ictx *c, int64_t id)
{
	if (c->nrow == c->row_cap) {
		size_t nc = c->row_cap ? c->row_cap * 2 : 1024;
		int64_t *nr = realloc(c->rowids, nc * sizeof *nr);
		if (!nr)
			return ENG_ENOMEM;
		c->rowids = nr;
		c->row_cap = nc;
	}
	c->rowids[c->nrow++] = id;
	return 0;
}

/* The image field as stored in pairs.image_ref: data URIs are elided to their header and size. */
static void image_ref_text(const char *ref, char *out, size_t n)
{
	if (strncasecmp(ref, "data:", 5) != 0) {
		snprintf(out, n, "%s", ref);
		return;
	}
	const char *comma = strchr(ref, ',');
	int head = comma ? (int)(comma - ref + 1) : 5;
	if (head > 48)
		head = 48;
	snprintf(out, n, "%.*s...(%zu chars)", head, ref, strlen(ref));
}

/* Inserts the pairs of one parsed record. */
static int ingest_record(ictx *c, eng_record *rec, uint64_t line)
{
	int rc;
	for (size_t i = 0; i < rec->nerrors; i++)
		if ((rc = record_error(c, line, rec->errors[i].code, rec->errors[i].reason)))
			return rc;
	if (!rec->npairs)
		return 0;
	int64_t img = 0;
	int deferred = 0;
	char refbuf[4096];
	if (rec->image) {
		eng_rec_error rej;
		rc = resolve_now(c, rec->image, line, &img, &rej);
		if (rc < 0)
			return rc;
		if (rc == 1 && rej.code == ENG_REC_MISSING_IMAGE && c->missing_text_only) {
			c->res->images_missing_kept += rec->npairs; /* kept as text-only pairs */
			img = 0;
			rc = 0;
		}
		if (rc == 1)
			return record_error(c, line, rej.code, rej.reason);
		deferred = rc == 2;
		image_ref_text(rec->image, refbuf, sizeof refbuf);
	}
	size_t first = c->nrow, kept = 0;
	sqlite3_stmt *st = c->ins_pair;
	for (size_t i = 0; i < rec->npairs; i++) {
		const eng_rec_pair *p = &rec->pairs[i];
		sqlite3_bind_int64(st, 1, c->ds_id);
		sqlite3_bind_int64(st, 2, c->file_id);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)line);
		sqlite3_bind_text(st, 4, p->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, rec->prompt, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 6, p->chosen, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 7, p->rejected, -1, SQLITE_STATIC);
		if (img)
			sqlite3_bind_int64(st, 8, img);
		else
			sqlite3_bind_null(st, 8);
		if (rec->image)
			sqlite3_bind_text(st, 9, refbuf, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(st, 9);
		if (p->meta)
			sqlite3_bind_text(st, 10, p->meta, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(st, 10);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		char alt[600];
		if (rc != SQLITE_DONE && c->rename_dup_ids &&
		    sqlite3_extended_errcode(c->db) == SQLITE_CONSTRAINT_UNIQUE) {
			/* the id names the question, not the pair: keep the pair as <id>@L<line> */
			snprintf(alt, sizeof alt, "%.500s@L%llu", p->id, (unsigned long long)line);
			sqlite3_bind_text(st, 4, alt, -1, SQLITE_STATIC);
			rc = sqlite3_step(st);
			sqlite3_reset(st);
			if (rc == SQLITE_DONE)
				c->res->ids_renamed++;
		}
		if (rc == SQLITE_DONE) {
			c->res->pairs++;
			kept++;
			if (deferred && push_rowid(c, sqlite3_last_insert_rowid(c->db)))
				return eng_err_set(c->err, ENG_ENOMEM, "out of memory");
			continue;
		}
		if (sqlite3_extended_errcode(c->db) != SQLITE_CONSTRAINT_UNIQUE)
			return eng_ws_fail(c->ws, c->err, "store pair");
		char why[384];
		snprintf(why, sizeof why,
		         "id \"%.200s\" is already used by an earlier record of this dataset; give "
		         "each record a unique id, or keep it as ID@L<line> with --duplicate-ids "
		         "rename",
		         p->id);
		if ((rc = record_error(c, line, ENG_REC_DUPLICATE_ID, why)))
			return rc;
	}
	if (deferred && kept && add_pending(c, rec->image, line, first, kept))
		return eng_err_set(c->err, ENG_ENOMEM, "out of memory");
	return 0;
}

/* ---- the archive pass ---------------------------------------------------------------------- */

static int pend_cmp(const void *a, const void *b)
{
	const pending *x = a, *y = b;
	int d = strcmp(x->name, y->name);
	return d ? d : (x->line > y->line) - (x->line < y->line);
}

/* Index of the first pending entry named name, or -1. */
static long pend_find(ictx *c, const char *name)
{
	size_t lo = 0, hi = c->npend;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (strcmp(c->pend[mid].name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < c->npend && !strcmp(c->pend[lo].name, name) ? (long)lo : -1;
}

static int want_member(void *ctx, const char *name)
{
	ictx *c = ctx;
	long i = pend_find(c, name);
	return i >= 0 && !c->pend[i].done;
}

/* Drops the pairs of pending entry p and records why. */
static int reject_pending(ictx *c, pending *p, eng_rec_code code, const char *reason)
{
	sqlite3_stmt *st = c->del_pair;
	for (size_t k = 0; k < p->n; k++) {
		sqlite3_bind_int64(st, 1, c->rowids[p->first + k]);
		int rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			return eng_ws_fail(c->ws, c->err, "drop pair");
		c->res->pairs--;
	}
	p->done = 1;
	int64_t fid = c->file_id;
	const char *path = c->path;
	c->file_id = p->file_id;
	c->path = p->path;
	int rc = record_error(c, p->line, code, reason);
	c->file_id = fid;
	c->path = path;
	return rc;
}

static int got_member(void *ctx, const char *name, const uint8_t *data, size_t n,
                      const eng_rec_error *refused)
{
	ictx *c = ctx;
	long i = pend_find(c, name);
	eng_rec_error rej = {0};
	int64_t id = 0;
	int rc;
	char src[1024];
	snprintf(src, sizeof src, "%s:%s", c->root, name);
	if (refused)
		rej = *refused, rc = 1;
	else
		rc = put_image(c, data, n, src, &id, &rej);
	if (rc < 0)
		return rc;
	for (size_t j = (size_t)i; j < c->npend && !strcmp(c->pend[j].name, name); j++) {
		pending *p = &c->pend[j];
		if (rc == 1) {
			int r2 = reject_pending(c, p, rej.code, rej.reason);
			if (r2)
				return r2;
			continue;
		}
		for (size_t k = 0; k < p->n; k++) {
			sqlite3_bind_int64(c->set_img, 1, c->rowids[p->first + k]);
			sqlite3_bind_int64(c->set_img, 2, id);
			int r2 = sqlite3_step(c->set_img);
			sqlite3_reset(c->set_img);
			if (r2 != SQLITE_DONE)
				return eng_ws_fail(c->ws, c->err, "link image");
		}
		if (j > (size_t)i && rc == 0)
			c->res->images_reused++; /* the member served several records */
		p->done = 1;
	}
	return 0;
}

static int archive_pass(ictx *c, const eng_progress *prog)
{
	if (!c->npend)
		return 0;
	eng_progress_tick(prog, "images (archive)", 0, 0);
	qsort(c->pend, c->npend, sizeof *c->pend, pend_cmp);
	int rc = eng_archive_scan(c->root, want_member, got_member, c, c->err);
	if (rc)
		return rc;
	for (size_t j = 0; j < c->npend; j++) {
		pending *p = &c->pend[j];
		if (p->done)
			continue;
		if (c->missing_text_only) {
			c->res->images_missing_kept += p->n; /* kept as text-only pairs */
			p->done = 1;
			continue;
		}
		char why[384];
		snprintf(why, sizeof why,
		         "image '%.160s' is not a member of the archive %.100s; check the name, or "
		         "keep the pair without it: --missing-images text-only",
		         p->name, c->root);
		if ((rc = reject_pending(c, p, ENG_REC_MISSING_IMAGE, why)))
			return rc;
	}
	return 0;
}

/* ---- input streams ------------------------------------------------------------------------- */

static int hash_file(const char *path, uint64_t *bytes, char hex[65], eng_err *err)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return eng_err_set(err, ENG_EINPUT, "cannot open '%s': %s; check the path", path,
		                   strerror(errno));
	struct stat sb;
	if (fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
		fclose(f);
		return eng_err_set(err, ENG_EINPUT, "'%s' is a directory, not a JSONL file", path);
	}
	static uint8_t buf[1 << 16];
	eng_sha256_ctx s;
	eng_sha256_init(&s);
	size_t n;
	*bytes = 0;
	while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
		eng_sha256_update(&s, buf, n);
		*bytes += n;
	}
	int bad = ferror(f);
	fclose(f);
	if (bad)
		return eng_err_set(err, ENG_EINPUT, "cannot read '%s'", path);
	uint8_t dg[ENG_SHA256_LEN];
	eng_sha256_final(&s, dg);
	eng_sha256_hex(dg, hex);
	return 0;
}

static int compressed_name(const char *path)
{
	static const char *const sfx[] = {".gz", ".bz2", ".xz", ".zst"};
	size_t l = strlen(path);
	for (size_t i = 0; i < sizeof sfx / sizeof sfx[0]; i++) {
		size_t k = strlen(sfx[i]);
		if (l > k && !strcmp(path + l - k, sfx[i]))
			return 1;
	}
	return 0;
}

static long archive_read_cb(void *ctx, void *buf, size_t n, char *msg)
{
	struct archive *a = ctx;
	la_ssize_t k = archive_read_data(a, buf, n);
	if (k < 0) {
		/* corrupt or truncated compressed data: an error of this input (exit 2) */
		snprintf(msg, 256, "cannot decompress: %s", archive_error_string(a));
		return archive_errno(a) == ENOMEM ? -1 : ENG_JSONL_READ_BAD_DATA;
	}
	return (long)k;
}

/* .gz through zlib, not libarchive: libarchive's gzip filter does not check the members'
 * CRC-32 and length trailers, zlib does. Every member of a multi-member file is read; bytes
 * after the last one other than zero padding, a truncated member, a bad trailer or corrupt
 * deflate data fail the read with ENG_JSONL_READ_BAD_DATA. */
typedef struct gz_in {
	FILE *f;
	z_stream z;
	int in_member, any, zeros; /* zeros: only NUL padding seen since the last member */
	unsigned char buf[1 << 16];
} gz_in;

static long gz_read(void *ctx, void *out, size_t n, char *msg)
{
	gz_in *g = ctx;
	g->z.next_out = out;
	g->z.avail_out = (uInt)(n > (1u << 30) ? 1u << 30 : n);
	uInt want = g->z.avail_out;
	while (g->z.avail_out == want) {
		if (g->z.avail_in == 0) {
			size_t k = fread(g->buf, 1, sizeof g->buf, g->f);
			if (k == 0) {
				if (ferror(g->f)) {
					snprintf(msg, 256, "%s", strerror(errno ? errno : EIO));
					return -1;
				}
				if (g->in_member || !g->any) {
					snprintf(msg, 256, "%s",
					         g->any
					             ? "truncated gzip data: the file ends inside "
					               "a compressed member"
					             : "an empty file, not gzip data");
					return ENG_JSONL_READ_BAD_DATA;
				}
				return 0;
			}
			g->z.next_in = g->buf;
			g->z.avail_in = (uInt)k;
		}
		if (!g->in_member) { /* between members: NUL padding, a new member or garbage */
			while (g->z.avail_in && *g->z.next_in == 0)
				g->z.next_in++, g->z.avail_in--, g->zeros = 1;
			if (!g->z.avail_in)
				continue;
			if (g->zeros || g->z.next_in[0] != 0x1f) {
				snprintf(msg, 256,
				         "bytes after the end of the gzip data (or not gzip)");
				return ENG_JSONL_READ_BAD_DATA;
			}
			if (inflateReset2(&g->z, 16 + MAX_WBITS) != Z_OK) {
				snprintf(msg, 256, "gzip: inflate reset failed");
				return -1;
			}
			g->in_member = g->any = 1;
		}
		int zr = inflate(&g->z, Z_NO_FLUSH);
		if (zr == Z_STREAM_END) {
			g->in_member = 0; /* its CRC-32 and length checked by zlib */
		} else if (zr == Z_MEM_ERROR) {
			snprintf(msg, 256, "gzip: out of memory");
			return -1;
		} else if (zr != Z_OK && zr != Z_BUF_ERROR) {
			snprintf(msg, 256, "corrupt gzip data: %s",
			         g->z.msg ? g->z.msg : "inflate failed");
			return ENG_JSONL_READ_BAD_DATA;
		}
	}
	return (long)(want - g->z.avail_out);
}

static void gz_free(gz_in *g)
{
	if (!g)
		return;
	inflateEnd(&g->z);
	free(g);
}

static int ends_with_ci(const char *s, const char *sfx)
{
	size_t l = strlen(s), k = strlen(sfx);
	return l > k && !strcasecmp(s + l - k, sfx);
}

/* Opens src (the file read for input path) as a line stream: plain, .gz through zlib, or
 * decompressed through libarchive's raw format. */
static int open_input(const char *path, const char *src, FILE **fp, struct archive **ap,
                      gz_in **gzp, eng_jsonl **r, size_t max_line, eng_err *err)
{
	if (!compressed_name(path)) {
		if (!(*fp = fopen(src, "rb")))
			return eng_err_set(err, ENG_EINPUT, "cannot open '%s': %s", path,
			                   strerror(errno));
		if (eng_jsonl_open_file(*fp, max_line, r, err))
			return err->code;
		eng_jsonl_detect_array(*r); /* a JSON array file reads element by element */
		return 0;
	}
	if (ends_with_ci(path, ".gz")) {
		gz_in *g = calloc(1, sizeof *g);
		if (!g)
			return eng_err_set(err, ENG_ENOMEM, "out of memory");
		if (inflateInit2(&g->z, 16 + MAX_WBITS) != Z_OK) {
			free(g);
			return eng_err_set(err, ENG_ENOMEM, "out of memory (zlib)");
		}
		*gzp = g;
		if (!(*fp = fopen(src, "rb")))
			return eng_err_set(err, ENG_EINPUT, "cannot open '%s': %s", path,
			                   strerror(errno));
		g->f = *fp;
		if (eng_jsonl_open_fn(gz_read, g, max_line, r, err))
			return err->code;
		eng_jsonl_detect_array(*r);
		return 0;
	}
	struct archive *a = archive_read_new();
	if (!a)
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	*ap = a;
	archive_read_support_filter_all(a);
	archive_read_support_format_raw(a);
	struct archive_entry *e;
	if (archive_read_open_filename(a, src, 1 << 16) != ARCHIVE_OK ||
	    archive_read_next_header(a, &e) != ARCHIVE_OK)
		return eng_err_set(err, ENG_EINPUT, "cannot decompress '%s': %s", path,
		                   archive_error_string(a));
	if (eng_jsonl_open_fn(archive_read_cb, a, max_line, r, err))
		return err->code;
	eng_jsonl_detect_array(*r);
	return 0;
}

/* ---- inputs that are not regular files ----------------------------------------------------- */

#define STREAM_MAX ((uint64_t)256 << 20)

/* Opens path without blocking (a FIFO without a writer) and looks at what it is before reading:
 * a regular file is left to the readers (*spool = NULL); a directory, device or socket is refused;
 * a pipe or FIFO (`cat f.jsonl | mmaudit index /dev/stdin`) is read once, at most STREAM_MAX
 * bytes, into a private temporary file (*spool, the caller unlinks and frees it) that is hashed
 * and read in its place, so what is recorded is the hash of what was read. */
static int read_stream(const char *path, int bundle, char **spool, eng_err *err)
{
	*spool = NULL;
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return eng_err_set(err, ENG_EINPUT, "cannot open '%s': %s; check the path", path,
		                   strerror(errno));
	struct stat sb;
	if (fstat(fd, &sb) != 0) {
		int e = errno;
		close(fd);
		return eng_err_set(err, ENG_EIO, "stat '%s': %s", path, strerror(e));
	}
	if (S_ISREG(sb.st_mode)) {
		close(fd);
		return 0;
	}
	if (!S_ISFIFO(sb.st_mode) || bundle) {
		close(fd);
		return eng_err_set(err, ENG_EINPUT,
		                   "'%s' is %s, not a records file: index a regular file%s", path,
		                   eng_err_file_kind(sb.st_mode),
		                   S_ISDIR(sb.st_mode) ? " (each file of a folder by name)"
		                   : bundle            ? " (an archive is read twice)"
		                                       : " or pipe records in through /dev/stdin");
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	const char *tdir = getenv("TMPDIR");
	const char *base = strrchr(path, '/'), *dot;
	base = base ? base + 1 : path;
	dot = strrchr(base, '.');
	if (!dot || strlen(dot) > 16)
		dot = "";
	size_t n = strlen(tdir && *tdir ? tdir : "/tmp") + 64;
	char *tmp = malloc(n);
	if (!tmp) {
		close(fd);
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	}
	snprintf(tmp, n, "%s/mmaudit-stream-XXXXXX%s", tdir && *tdir ? tdir : "/tmp", dot);
	int tfd = mkstemps(tmp, (int)strlen(dot));
	if (tfd < 0) {
		int e = errno;
		close(fd);
		free(tmp);
		return eng_err_set(err, ENG_EIO, "'%s': make a temporary copy of the stream: %s",
		                   path, strerror(e));
	}
	static uint8_t buf[1 << 16];
	uint64_t total = 0;
	int rc = 0;
	for (;;) {
		ssize_t k = read(fd, buf, sizeof buf);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			rc = eng_err_set(err, ENG_EIO, "read '%s': %s", path, strerror(errno));
			break;
		}
		if (k == 0)
			break;
		if ((total += (uint64_t)k) > STREAM_MAX) {
			rc = eng_err_set(
			    err, ENG_EINPUT,
			    "'%s' is %s giving more than %llu MiB: save it to a file and "
			    "index that",
			    path, eng_err_file_kind(sb.st_mode),
			    (unsigned long long)(STREAM_MAX >> 20));
			break;
		}
		for (ssize_t off = 0; off < k && !rc;) {
			ssize_t w = write(tfd, buf + off, (size_t)(k - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				rc = eng_err_set(err, ENG_EIO, "'%s': write the temporary copy: %s",
				                 path, strerror(errno));
			else
				off += w;
		}
		if (rc)
			break;
	}
	close(fd);
	if (close(tfd) != 0 && !rc)
		rc = eng_err_set(err, ENG_EIO, "'%s': write the temporary copy: %s", path,
		                 strerror(errno));
	if (!rc && total == 0)
		rc = eng_err_set(err, ENG_EINPUT, "'%s' is %s that gave no data: nothing to index",
		                 path, eng_err_file_kind(sb.st_mode));
	if (rc) {
		unlink(tmp);
		free(tmp);
		return rc;
	}
	*spool = tmp;
	return 0;
}

/* ---- the file transaction ------------------------------------------------------------------ */

/* The idempotence key's second half: every option that changes what a file's records give
 * (which pairs are kept, their texts, ids or images), in a fixed order. Same content + same key =
 * skipped; same content + another key = the file's rows are replaced. malloc'd, or NULL (ENOMEM).
 */
static char *options_key(const eng_index_opts *o, const char *root, int root_given)
{
	char *m = eng_rec_map_format(o->map);
	if (!m)
		return NULL;
	const char *ans = o->map && o->map->answers ? eng_answers_sha256(o->map->answers) : "";
	size_t n = strlen(m) + strlen(ans) + strlen(root) + 400;
	char *k = malloc(n);
	if (k)
		snprintf(
		    k, n,
		    "shape=%s; map=%s; missing-images=%s; duplicate-ids=%s; images=%s; "
		    "max-pixels=%llu; max-line=%llu; answers=%.12s; imgfeat=%d",
		    eng_rec_shape_name(o->shape), *m ? m : "-",
		    o->missing_text_only ? "text-only" : "reject",
		    o->rename_dup_ids ? "rename" : "reject", root_given ? root : "(file's folder)",
		    (unsigned long long)(o->max_pixels ? o->max_pixels
		                                       : ENG_IMAGE_DEFAULT_MAX_PIXELS),
		    (unsigned long long)(o->max_line ? o->max_line : ENG_JSONL_DEFAULT_MAX_LINE),
		    *ans ? ans : "-", ENG_IMGFEAT_VERSION);
	free(m);
	return k;
}

/* Same content already in the dataset: skipped when ingested with the same options key, else its
 * source_files row (and with it, by ON DELETE CASCADE, its pairs, errors and scores) is deleted
 * here, in the file's transaction, so that it is ingested again with the new options. */
static int replace_or_skip(ictx *c, eng_err *err)
{
	sqlite3_stmt *a = eng_ws_prepare(
	    c->ws,
	    "SELECT id, options, pairs FROM source_files WHERE dataset_id = ?1 AND sha256 = ?2",
	    err);
	if (!a)
		return err->code;
	sqlite3_bind_int64(a, 1, c->ds_id);
	sqlite3_bind_text(a, 2, c->sha, -1, SQLITE_STATIC);
	int s = sqlite3_step(a), rc = 0;
	if (s == SQLITE_ROW) {
		const char *was = (const char *)sqlite3_column_text(a, 1);
		if (was && !strcmp(was, c->okey)) {
			c->res->skipped = 1;
		} else {
			eng_index_result *r = c->res;
			r->replaced++;
			r->replaced_pairs += (uint64_t)sqlite3_column_int64(a, 2);
			snprintf(r->replaced_options, sizeof r->replaced_options, "%s",
			         was ? was : "(unknown: ingested by an older mmaudit)");
			int64_t old = sqlite3_column_int64(a, 0);
			sqlite3_finalize(a);
			if (!(a = eng_ws_prepare(c->ws, "DELETE FROM source_files WHERE id = ?1",
			                         err)))
				return err->code;
			sqlite3_bind_int64(a, 1, old);
			s = sqlite3_step(a) == SQLITE_DONE ? SQLITE_DONE : SQLITE_ERROR;
		}
	}
	if (s != SQLITE_ROW && s != SQLITE_DONE)
		rc = eng_ws_fail(c->ws, err, "find source file");
	sqlite3_finalize(a);
	return rc;
}

/* Makes stem (n bytes) give ids no other source file of the dataset gives: a stem over 200 bytes
 * is cut to 200 and gets "~" + 8 hex digits of the whole stem's FNV-1a hash; when pairs of the
 * dataset already have ids "<stem>:..." (a file of the same name in another folder, or another
 * member of a bundle), "@" + the first 8 hex digits of this file's content SHA-256 is appended.
 * Same layout and order of files -> same ids. */
static int unique_stem(ictx *c, char *stem, size_t n, eng_err *err)
{
	if (strlen(stem) > 200) {
		char tail[16];
		snprintf(tail, sizeof tail, "~%08llx", (unsigned long long)(fnv1a(stem) >> 32));
		stem[200] = '\0';
		strcat(stem, tail);
	}
	sqlite3_stmt *st = eng_ws_prepare(c->ws,
	                                  "SELECT 1 FROM pairs WHERE dataset_id = ?1 AND ext_id >= "
	                                  "?2 || ':' AND ext_id < ?2 || ';'"
	                                  " LIMIT 1",
	                                  err);
	if (!st)
		return err->code;
	sqlite3_bind_int64(st, 1, c->ds_id);
	sqlite3_bind_text(st, 2, stem, -1, SQLITE_STATIC);
	int s = sqlite3_step(st);
	sqlite3_finalize(st);
	if (s == SQLITE_ROW) {
		size_t l = strlen(stem);
		snprintf(stem + l, n - l, "@%.8s", c->sha);
	} else if (s != SQLITE_DONE) {
		return eng_ws_fail(c->ws, err, "check derived ids");
	}
	return 0;
}

static int lookup_or_create(ictx *c, const char *dataset, uint64_t bytes, eng_err *err)
{
	sqlite3_stmt *a = NULL, *b = NULL;
	int rc = ENG_EINTERNAL;
	if (!(a = eng_ws_prepare(c->ws, "INSERT OR IGNORE INTO datasets(name) VALUES (?1)", err)) ||
	    !(b = eng_ws_prepare(c->ws, "SELECT id FROM datasets WHERE name = ?1", err))) {
		rc = err->code;
		goto out;
	}
	sqlite3_bind_text(a, 1, dataset, -1, SQLITE_STATIC);
	sqlite3_bind_text(b, 1, dataset, -1, SQLITE_STATIC);
	if (sqlite3_step(a) != SQLITE_DONE || sqlite3_step(b) != SQLITE_ROW) {
		rc = eng_ws_fail(c->ws, err, "create dataset");
		goto out;
	}
	c->ds_id = sqlite3_column_int64(b, 0);
	sqlite3_finalize(a);
	sqlite3_finalize(b);
	a = b = NULL;
	if ((rc = replace_or_skip(c, err)) || c->res->skipped)
		goto out;
	if (!(a = eng_ws_prepare(
	          c->ws,
	          "INSERT INTO source_files(dataset_id, path, sha256, bytes, images_root, options)"
	          " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	          err))) {
		rc = err->code;
		goto out;
	}
	sqlite3_bind_int64(a, 1, c->ds_id);
	sqlite3_bind_text(a, 2, c->path, -1, SQLITE_STATIC);
	sqlite3_bind_text(a, 3, c->sha, -1, SQLITE_STATIC);
	sqlite3_bind_int64(a, 4, (sqlite3_int64)bytes);
	sqlite3_bind_text(a, 5, c->root, -1, SQLITE_STATIC);
	sqlite3_bind_text(a, 6, c->okey, -1, SQLITE_STATIC);
	if (sqlite3_step(a) != SQLITE_DONE) {
		rc = eng_ws_fail(c->ws, err, "store source file");
		goto out;
	}
	c->file_id = sqlite3_last_insert_rowid(c->db);
	rc = 0;
out:
	sqlite3_finalize(a);
	sqlite3_finalize(b);
	return rc;
}

/* Stores the record count of file row file_id and its pair/error counts (by query, so that the
 * archive pass's rejections are included). */
static int finish_file(ictx *c, int64_t file_id, uint64_t records, eng_err *err)
{
	sqlite3_stmt *st = eng_ws_prepare(
	    c->ws,
	    "UPDATE source_files SET records = ?2, pairs = (SELECT count(*) FROM pairs WHERE"
	    " file_id = ?1), errors = (SELECT count(*) FROM ingest_errors WHERE file_id = ?1)"
	    " WHERE id = ?1",
	    err);
	if (!st)
		return err->code;
	sqlite3_bind_int64(st, 1, file_id);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)records);
	int rc =
	    sqlite3_step(st) == SQLITE_DONE ? 0 : eng_ws_fail(c->ws, err, "update source file");
	sqlite3_finalize(st);
	return rc;
}

/* A line read ahead: its bytes, then its parsed record (or: over the length limit). */
typedef struct qline {
	eng_record rec;
	uint64_t no;
	size_t off, len;        /* the line's bytes in its batch's buffer */
	int too_long, oom;      /* oom: parsing ran out of memory */
	eng_rec_shape shape_in; /* the shape option it was parsed with */
} qline;

enum { QLINES = 256, NBATCH = 4, QCHUNK = 16 }; /* lines per batch, batches, lines per claim */

/* Stores the lines read ahead, in order. (The lines are freed when their batch is reused.) */
static int drain(ictx *c, qline *q, size_t nq)
{
	int rc = 0;
	for (size_t i = 0; i < nq; i++) {
		if (!rc && q[i].too_long) {
			char why[160];
			snprintf(
			    why, sizeof why,
			    "the line is longer than the %zu-byte line limit; split the record, "
			    "inline smaller data or raise --max-line",
			    c->max_line ? c->max_line : ENG_JSONL_DEFAULT_MAX_LINE);
			rc = record_error(c, q[i].no, ENG_REC_LINE_TOO_LONG, why);
		} else if (!rc) {
			rc = ingest_record(c, &q[i].rec, q[i].no);
		}
	}
	return rc;
}

/* Lines are read by a reader thread into batches and parsed (JSON, record shape) by whichever
 * thread is free: the reader between reads, the storing thread while its next batch is not
 * ready. The storing thread stores the batches in file order.
 *
 * The shape option is sequential state (the file's first non-pairwise/multi record fixes the shape
 * of all later records), and it changes at most once (from auto). A line is parsed with the state
 * known when it was claimed; the storing thread replays the state in file order and parses a line
 * again when its guess was wrong, so every record is what a single sequential pass would give. */
typedef struct qbatch {
	qline q[QLINES];
	size_t n;        /* lines read */
	size_t claimed;  /* lines [0, claimed) taken by a parser */
	size_t parsed;   /* lines parsed */
	eng_arena buf;   /* the lines' bytes */
	uint64_t offset; /* reader offset after the batch (progress) */
	int rc, eof;     /* rc: the failure that ended reading after these lines (err says it) */
	eng_err err;
} qbatch;

typedef struct parser {
	ictx *c;
	eng_jsonl *r;
	const char *stem;
	eng_rec_opts ropts;  /* .map for every parse; .shape: see spec */
	eng_rec_shape spec;  /* the shape option as last known, for new parses */
	uint64_t records;    /* lines read */
	qbatch *b;           /* NBATCH slots, a ring */
	size_t made, used;   /* batches read / stored */
	int stop, done_read; /* stop: the storing thread gave up; done_read: no more lines */
	pthread_mutex_t mu;
	pthread_cond_t cv;
} parser;

static void parse_line(parser *p, qline *ql, const char *bytes, eng_rec_shape shape)
{
	eng_rec_opts o = p->ropts;
	o.shape = shape;
	ql->shape_in = shape;
	ql->oom = eng_record_parse_ex(&ql->rec, bytes + ql->off, ql->len, p->stem, ql->no, &o) != 0;
	if (ql->oom)
		eng_record_clear(&ql->rec);
}

/* Reads the next batch of lines into b (bytes copied, nothing parsed). */
static void read_batch(parser *p, qbatch *b)
{
	const char *line;
	size_t len;
	uint64_t no = 0;
	for (size_t i = 0; i < b->n; i++) /* the records of its previous use, stored by now */
		eng_record_clear(&b->q[i].rec);
	b->n = b->claimed = b->parsed = 0;
	b->buf.len = 0;
	b->rc = b->eof = 0;
	while (b->n < QLINES) {
		int rc = eng_jsonl_next(p->r, &line, &len, &no, &b->err);
		if (rc == ENG_JSONL_EOF) {
			b->eof = 1;
			break;
		}
		if (rc < 0) {
			eng_err_prefix(&b->err, "%s: ", p->c->path);
			b->rc = rc;
			break;
		}
		p->records++;
		qline *ql = &b->q[b->n];
		memset(&ql->rec, 0, sizeof ql->rec);
		ql->no = no;
		ql->oom = 0;
		ql->too_long = rc == ENG_JSONL_TOO_LONG;
		ql->len = ql->too_long ? 0 : len;
		if (eng_arena_putn(&b->buf, line, ql->len, &ql->off)) {
			b->rc = eng_err_set(&b->err, ENG_ENOMEM, "out of memory at %s:%llu",
			                    p->c->path, (unsigned long long)no);
			break;
		}
		b->n++;
	}
	b->offset = eng_jsonl_offset(p->r);
}

/* Claims and parses one chunk of batch b; called and returns with p->mu held. 0 when b had no
 * unclaimed line. */
static int parse_chunk(parser *p, qbatch *b)
{
	if (b->claimed >= b->n)
		return 0;
	size_t i = b->claimed, e = i + QCHUNK < b->n ? i + QCHUNK : b->n;
	b->claimed = e;
	eng_rec_shape shape = p->spec;
	pthread_mutex_unlock(&p->mu);
	for (size_t k = i; k < e; k++)
		if (!b->q[k].too_long)
			parse_line(p, &b->q[k], b->buf.p, shape);
	pthread_mutex_lock(&p->mu);
	b->parsed += e - i;
	pthread_cond_broadcast(&p->cv);
	return 1;
}

static void *parser_main(void *arg)
{
	parser *p = arg;
	pthread_mutex_lock(&p->mu);
	while (!p->stop) {
		if (!p->done_read && p->made - p->used < NBATCH) { /* read ahead first */
			qbatch *b = &p->b[p->made % NBATCH];
			pthread_mutex_unlock(&p->mu);
			read_batch(p, b);
			pthread_mutex_lock(&p->mu);
			p->done_read = b->eof || b->rc;
			p->made++;
			pthread_cond_broadcast(&p->cv);
			continue;
		}
		int worked = 0; /* then parse, oldest batch first */
		for (size_t k = p->used; k < p->made && !worked; k++)
			worked = parse_chunk(p, &p->b[k % NBATCH]);
		if (worked)
			continue;
		if (p->done_read)
			break;
		pthread_cond_wait(&p->cv, &p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* Stores the lines of one parsed batch in order, replaying the shape state (parsing a line again
 * whose guess was wrong). Image files are read ahead in runs (decoding on the image workers while
 * the records before them are stored): as many records as the image store has prefetch room for,
 * then those records are stored. */
static int store_batch(parser *p, qbatch *b, eng_rec_shape *cur, eng_rec_shape *file_shape)
{
	ictx *c = p->c;
	for (size_t i = 0; i < b->n; i++) {
		qline *ql = &b->q[i];
		if (ql->too_long)
			continue;
		if (ql->shape_in != *cur) {
			eng_record_clear(&ql->rec);
			parse_line(p, ql, b->buf.p, *cur);
		}
		const eng_record *rec = &ql->rec;
		/* The file's first record decides its shape, except that pairwise and
		 * multi-completion records may be mixed in one file (each is detected on its own).
		 */
		if (!ql->oom && rec->root && json_is_object(rec->root) && *cur == ENG_SHAPE_AUTO) {
			if (*file_shape == ENG_SHAPE_AUTO)
				*file_shape = rec->shape;
			if (rec->shape != ENG_SHAPE_PAIRWISE && rec->shape != ENG_SHAPE_MULTI) {
				*cur = rec->shape;
				pthread_mutex_lock(&p->mu);
				p->spec = *cur;
				pthread_mutex_unlock(&p->mu);
			}
		}
	}
	int rc = 0;
	size_t i = 0;
	while (i < b->n) {
		size_t j = i;
		while (j < b->n && (j == i || eng_imgstore_prefetch_room(c->imgs))) {
			const qline *ql = &b->q[j++];
			if (ql->oom) {
				j--;
				break;
			}
			if (!ql->too_long && ql->rec.npairs && ql->rec.image &&
			    (rc = read_ahead(c, ql->rec.image)))
				break;
		}
		/* the lines before a failure are stored first: their own errors come first */
		int r2 = drain(c, b->q + i, j - i);
		i = j;
		rc = r2 ? r2 : rc;
		if (!rc && i < b->n && b->q[i].oom)
			rc = eng_err_set(c->err, ENG_ENOMEM, "out of memory at %s:%llu", c->path,
			                 (unsigned long long)b->q[i].no);
		if (rc)
			break;
	}
	return rc;
}

/* Reads records: see parser above (one thread does everything when the reader cannot start). */
static int read_records(ictx *c, eng_jsonl *r, const char *stem, uint64_t total,
                        const eng_progress *prog)
{
	parser p = {.c = c, .r = r, .stem = stem, .ropts = c->ropts, .spec = c->ropts.shape};
	eng_rec_shape cur = c->ropts.shape, file_shape = c->res->shape;
	p.b = calloc(NBATCH, sizeof *p.b);
	if (!p.b)
		return eng_err_set(c->err, ENG_ENOMEM, "out of memory");
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.cv, NULL);
	pthread_t th;
	int threaded = pthread_create(&th, NULL, parser_main, &p) == 0;
	int rc = 0;
	for (;;) {
		qbatch *b = &p.b[p.used % NBATCH];
		pthread_mutex_lock(&p.mu);
		if (!threaded) {
			pthread_mutex_unlock(&p.mu);
			read_batch(&p, b);
			pthread_mutex_lock(&p.mu);
			p.made++;
		}
		while (p.made == p.used)
			pthread_cond_wait(&p.cv, &p.mu);
		while (parse_chunk(&p, b)) /* help with the batch needed next */
			;
		while (b->parsed < b->n)
			pthread_cond_wait(&p.cv, &p.mu);
		pthread_mutex_unlock(&p.mu);
		eng_progress_tick(prog, "index", b->offset, total);
		rc = store_batch(&p, b, &cur, &file_shape);
		int end = b->eof || b->rc;
		if (!rc && b->rc) {
			rc = b->rc;
			if (c->err)
				*c->err = b->err;
		}
		pthread_mutex_lock(&p.mu);
		p.used++;
		if (rc)
			p.stop = 1;
		pthread_cond_broadcast(&p.cv);
		pthread_mutex_unlock(&p.mu);
		if (rc || end)
			break;
	}
	if (threaded) {
		pthread_mutex_lock(&p.mu);
		p.stop = 1;
		pthread_cond_broadcast(&p.cv);
		pthread_mutex_unlock(&p.mu);
		pthread_join(th, NULL);
	}
	for (size_t k = 0; k < NBATCH; k++) {
		for (size_t i = 0; i < p.b[k].n; i++)
			eng_record_clear(&p.b[k].q[i].rec);
		eng_arena_free(&p.b[k].buf);
	}
	c->res->records += p.records;
	c->res->shape = file_shape;
	c->ropts.shape = cur;
	pthread_mutex_destroy(&p.mu);
	pthread_cond_destroy(&p.cv);
	free(p.b);
	return rc;
}

/* ---- Parquet input: each row is a record (engine/ingest/parquet.h)
 * -------------------------------- */

/* v with thousands separators ("1,204"). */
static void thousands(uint64_t v, char *out, size_t n)
{
	char d[32];
	int len = snprintf(d, sizeof d, "%llu", (unsigned long long)v), o = 0;
	for (int i = 0; i < len && (size_t)o + 2 < n; i++) {
		if (i && (len - i) % 3 == 0)
			out[o++] = ',';
		out[o++] = d[i];
	}
	out[o] = '\0';
}

/* Reads the rows of the Parquet file c->path one at a time (row groups in order) and stores them
 * like JSONL records: the same shapes, map, checks and errors; a pair's line is its 1-based row
 * in the file and every error reason starts with "row group G, row R" (both 0-based). */
static int read_parquet(ictx *c, const char *stem, const eng_progress *prog)
{
	eng_pq *pq = NULL;
	int rc = eng_pq_open(c->src, &pq, c->err);
	if (rc)
		return rc;
	eng_rec_shape cur = c->ropts.shape, file_shape = c->res->shape;
	char problem[256], loc[96], num[32];
	uint64_t total = eng_pq_num_rows(pq);
	for (;;) {
		json_t *row = NULL;
		const eng_pq_blob *blobs;
		size_t nb, g;
		uint64_t rg, rf;
		if ((rc = eng_pq_next_row(pq, &row, &blobs, &nb, problem, c->err)) <= 0)
			break;
		eng_pq_where(pq, &g, &rg, &rf);
		thousands(rg, num, sizeof num);
		snprintf(loc, sizeof loc, "row group %zu, row %s", g, num);
		uint64_t line = rf + 1;
		c->res->records++;
		eng_record rec;
		memset(&rec, 0, sizeof rec);
		rec.root = row;
		eng_rec_opts o = c->ropts;
		o.shape = cur;
		if (eng_pq_flatten_messages(row) || eng_record_from_json(&rec, stem, line, &o)) {
			eng_record_clear(&rec);
			rc = eng_err_set(c->err, ENG_ENOMEM, "out of memory at %s: %s", c->path,
			                 loc);
			break;
		}
		if (cur == ENG_SHAPE_AUTO) { /* as store_batch: the first record fixes the shape */
			if (file_shape == ENG_SHAPE_AUTO)
				file_shape = rec.shape;
			if (rec.shape != ENG_SHAPE_PAIRWISE && rec.shape != ENG_SHAPE_MULTI)
				cur = rec.shape;
		}
		c->loc = loc;
		c->blobs = blobs;
		c->nblobs = nb;
		rc = problem[0] ? record_error(c, line, ENG_REC_INVALID_UTF8, problem)
		                : ingest_record(c, &rec, line);
		c->loc = NULL;
		c->blobs = NULL;
		c->nblobs = 0;
		eng_record_clear(&rec);
		if (rc)
			break;
		if (!(rf & 1023))
			eng_progress_tick(prog, "index", rf, total);
	}
	c->res->shape = file_shape;
	c->ropts.shape = cur;
	eng_pq_close(pq);
	return rc < 0 ? rc : 0;
}

/* ---- bundles: records and images in one archive ---------------------------------------------- */

static int ends_with(const char *s, const char *sfx)
{
	size_t l = strlen(s), k = strlen(sfx);
	return l >= k && !strcasecmp(s + l - k, sfx);
}

int eng_index_is_bundle(const char *path)
{
	static const char *const sfx[] = {".tar",  ".tar.gz", ".tgz", ".tar.bz2",
	                                  ".tbz2", ".tar.xz", ".txz", ".tar.zst",
	                                  ".zip",  ".7z",     NULL};
	for (size_t i = 0; sfx[i]; i++)
		if (ends_with(path, sfx[i]))
			return 1;
	return 0;
}

static int is_record_member(const char *name)
{
	const char *base = strrchr(name, '/');
	base = base ? base + 1 : name;
	if (!strncmp(name, "__MACOSX/", 9) || !strncmp(base, "._", 2))
		return 0;
	return ends_with(name, ".jsonl") || ends_with(name, ".json") || ends_with(name, ".ndjson");
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int has_member(ictx *c, const char *name)
{
	return bsearch(&name, c->members, c->nmembers, sizeof *c->members, cmp_str) != NULL;
}

/* Lists every member; wants the record members. */
static int bundle_want(void *ctx, const char *name)
{
	ictx *c = ctx;
	if (c->nmembers == c->members_cap) {
		size_t nc = c->members_cap ? c->members_cap * 2 : 256;
		char **nm = realloc(c->members, nc * sizeof *nm);
		if (!nm)
			return 0; /* out of memory: its images resolve against the archive root */
		c->members = nm;
		c->members_cap = nc;
	}
	if ((c->members[c->nmembers] = strdup(name)))
		c->nmembers++;
	return is_record_member(name);
}

typedef struct memsrc {
	const uint8_t *p;
	size_t n, off;
} memsrc;

static long mem_read(void *ctx, void *buf, size_t n, char *msg)
{
	(void)msg;
	memsrc *m = ctx;
	size_t k = m->n - m->off < n ? m->n - m->off : n;
	memcpy(buf, m->p + m->off, k);
	m->off += k;
	return (long)k;
}

/* Ingests one record member of the bundle as its own source file row. */
static int bundle_got(void *ctx, const char *name, const uint8_t *data, size_t n,
                      const eng_rec_error *refused)
{
	ictx *c = ctx;
	if (refused)
		return eng_err_set(c->err, ENG_EINPUT, "%s: record member refused: %s", c->path,
		                   refused->reason);
	if (!data)
		return eng_err_set(
		    c->err, ENG_EINPUT,
		    "%s: member '%s' is %zu bytes, over the %zu MiB limit for a record "
		    "member; extract it and index it as a file",
		    c->path, name, n, ENG_IMAGE_MAX_BYTES >> 20);
	if (c->nfiles == sizeof c->files / sizeof c->files[0])
		return eng_err_set(c->err, ENG_EINPUT,
		                   "%s: more than %zu record members; index them as files", c->path,
		                   sizeof c->files / sizeof c->files[0]);
	char hex[ENG_SHA256_HEX_LEN], stem[1024];
	eng_sha256_hex_of(data, n, hex);
	/* "BUNDLE:member" labels rows and errors; pending entries point at it until the end */
	size_t ll = strlen(c->path) + strlen(name) + 2;
	const char *slash = strrchr(name, '/');
	char *label = malloc(ll), *mdir = strndup(name, slash ? (size_t)(slash - name) : 0);
	if (!label || !mdir) {
		free(label);
		free(mdir);
		return eng_err_set(c->err, ENG_ENOMEM, "out of memory");
	}
	snprintf(label, ll, "%s:%s", c->path, name);
	c->labels[c->nfiles] = label;
	const char *bundle = c->path;
	c->sha = hex;
	c->path = label;
	c->mdir = mdir;
	c->res->skipped = 0;
	int rc = lookup_or_create(c, c->dataset, n, c->err);
	if (!rc && !c->res->skipped) {
		memsrc m = {data, n, 0};
		eng_jsonl *r = NULL;
		uint64_t before = c->res->records;
		eng_rec_shape shape = c->ropts.shape;
		eng_index_stem(name, stem, sizeof stem);
		rc = unique_stem(c, stem, sizeof stem, c->err);
		if (!rc)
			rc = eng_jsonl_open_fn(mem_read, &m, c->max_line, &r, c->err);
		if (!rc) {
			eng_jsonl_detect_array(r);
			rc = read_records(c, r, stem, 0, c->prog);
		}
		eng_jsonl_close(r);
		c->ropts.shape = shape; /* each member detects its own shape */
		c->files[c->nfiles].id = c->file_id;
		c->files[c->nfiles].records = c->res->records - before;
	}
	c->nfiles++; /* also for a member ingested before (files[].id 0): the label is kept */
	c->res->skipped = 0;
	c->path = bundle;
	c->mdir = NULL;
	free(mdir);
	return rc;
}

static int index_bundle(ictx *c)
{
	int rc = eng_archive_scan(c->path, bundle_want, bundle_got, c, c->err);
	if (rc)
		return rc;
	if (!c->nfiles)
		return eng_err_set(c->err, ENG_EINPUT,
		                   "'%s' holds no .jsonl, .json or .ndjson member with records",
		                   c->path);
	int fresh = 0;
	for (size_t i = 0; i < c->nfiles; i++)
		fresh |= c->files[i].id != 0;
	if (!fresh) {
		c->res->skipped = 1; /* every record member was ingested before */
		return 0;
	}
	qsort(c->members, c->nmembers, sizeof *c->members, cmp_str);
	/* a reference is relative to its member's folder, else to the archive root */
	for (size_t i = 0; i < c->npend; i++) {
		pending *p = &c->pend[i];
		if (p->alt && !has_member(c, p->name) && has_member(c, p->alt)) {
			free(p->name);
			p->name = p->alt;
			p->alt = NULL;
		}
	}
	if ((rc = archive_pass(c, c->prog)) || (rc = eng_imgstore_flush(c->imgs, c->err)))
		return rc;
	for (size_t i = 0; i < c->nfiles && !rc; i++)
		if (c->files[i].id)
			rc = finish_file(c, c->files[i].id, c->files[i].records, c->err);
	return rc;
}

int eng_index_file(eng_ws *ws, const char *dataset, const char *path, const eng_index_opts *opts,
                   eng_index_result *res, eng_err *err)
{
	static const eng_index_opts defaults = {0};
	if (!opts)
		opts = &defaults;
	if (!eng_text_is_clean(dataset))
		return eng_err_set(err, ENG_EINPUT,
		                   "dataset name is not valid printable UTF-8; escape it first "
		                   "(eng_text_escape)");
	memset(res, 0, sizeof *res);
	res->shape = opts->map && opts->shape == ENG_SHAPE_AUTO ? ENG_SHAPE_MAPPED : opts->shape;
	ictx c = {
	    .ws = ws,
	    .db = eng_ws_db(ws),
	    .path = path,
	    .strict = opts->strict,
	    .max_line = opts->max_line,
	    .missing_text_only = opts->missing_text_only,
	    .rename_dup_ids = opts->rename_dup_ids,
	    .images_outside = opts->images_outside,
	    .ropts = {opts->map && opts->shape == ENG_SHAPE_AUTO ? ENG_SHAPE_MAPPED : opts->shape,
	              opts->map},
	    .res = res,
	    .dataset = dataset,
	    .prog = &opts->progress,
	    .sha = res->sha256,
	    .err = err};
	int bundle = eng_index_is_bundle(path);
	char *spool = NULL;
	int rc = read_stream(path, bundle, &spool, err);
	if (rc)
		return rc;
	c.src = spool ? spool : path;
	int parquet = !bundle && eng_pq_sniff(c.src);
	size_t plen = strlen(path);
	if (!bundle && !parquet && plen > 8 && !strcasecmp(path + plen - 8, ".parquet")) {
		if (spool)
			unlink(spool);
		free(spool);
		return eng_err_set(
		    err, ENG_EINPUT,
		    "%s: not a Parquet file (no PAR1 magic at the start); the file is "
		    "corrupt or not Parquet",
		    path);
	}
	FILE *fp = NULL;
	struct archive *ap = NULL;
	gz_in *gz = NULL;
	eng_jsonl *reader = NULL;
	char *dir = NULL;
	int began = 0;
	uint64_t bytes = 0;
	char stem[1024], *okey = NULL;
	eng_index_stem(path, stem, sizeof stem);

	if ((rc = hash_file(c.src, &bytes, res->sha256, err))) {
		if (spool)
			eng_err_prefix(err, "%s: ", path);
		goto out;
	}
	if (opts->images) {
		struct stat sb;
		if (stat(opts->images, &sb) != 0) {
			rc = eng_err_set(err, ENG_EINPUT, "--images '%s': %s", opts->images,
			                 strerror(errno));
			goto out;
		}
		if (!S_ISDIR(sb.st_mode) && !S_ISREG(sb.st_mode)) { /* a FIFO would block */
			rc = eng_err_set(err, ENG_EINPUT,
			                 "--images '%s' is %s, not a folder or an archive file",
			                 opts->images, eng_err_file_kind(sb.st_mode));
			goto out;
		}
		c.root = opts->images;
		c.root_is_archive = !S_ISDIR(sb.st_mode);
		if (c.root_is_archive && (rc = eng_archive_check(opts->images, err)))
			goto out;
	} else if (bundle) {
		c.root = path; /* images next to the records, in the same archive */
		c.root_is_archive = 1;
	} else {
		/* a stream's images are relative to the current folder, not /dev's */
		const char *slash = spool ? NULL : strrchr(path, '/');
		if (!(dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path))
		                  : strdup("."))) {
			rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
			goto out;
		}
		c.root = dir;
	}
	if (!(okey = options_key(opts, c.root, opts->images != NULL))) {
		rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
		goto out;
	}
	c.okey = okey;
	if (!bundle && !parquet &&
	    (rc = open_input(path, c.src, &fp, &ap, &gz, &reader, opts->max_line, err)))
		goto out;
	if ((rc = eng_ws_begin(ws, err)))
		goto out;
	began = 1;
	if (!bundle && ((rc = lookup_or_create(&c, dataset, bytes, err)) || res->skipped))
		goto out;
	if ((rc = eng_imgstore_new(ws, opts->max_pixels, &c.imgs, err)))
		goto out;
	if (!(c.ins_pair = eng_ws_prepare(
	          ws,
	          "INSERT INTO pairs(dataset_id, file_id, line, ext_id, prompt, chosen, rejected,"
	          " image_id, image_ref, meta) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
	          err)) ||
	    !(c.ins_err =
	          eng_ws_prepare(ws,
	                         "INSERT INTO ingest_errors(dataset_id, file_id, path, line,"
	                         " code, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	                         err)) ||
	    !(c.set_img =
	          eng_ws_prepare(ws, "UPDATE pairs SET image_id = ?2 WHERE id = ?1", err)) ||
	    !(c.del_pair = eng_ws_prepare(ws, "DELETE FROM pairs WHERE id = ?1", err))) {
		rc = err->code;
		goto out;
	}
	uint64_t total = ap || gz || bundle ? 0 : bytes;
	eng_progress_tick(&opts->progress, "index", 0, total);
	if (bundle) {
		if ((rc = index_bundle(&c)) || res->skipped)
			goto out;
	} else {
		eng_trace("index: records");
		if ((rc = unique_stem(&c, stem, sizeof stem, err)) ||
		    (rc = parquet ? read_parquet(&c, stem, &opts->progress)
		                  : read_records(&c, reader, stem, total, &opts->progress)))
			goto out;
		eng_trace("index: images");
		if ((rc = archive_pass(&c, &opts->progress)) ||
		    (rc = eng_imgstore_flush(c.imgs, err)))
			goto out;
		if ((rc = finish_file(&c, c.file_id, res->records, err)))
			goto out;
	}
	eng_dedup_result dd;
	eng_trace("index: dedup");
	if ((rc = eng_dedup_dataset(ws, c.ds_id, &dd, err)))
		goto out;
	res->duplicates = dd.duplicates;
	res->conflicts = dd.conflicts;
	eng_progress_tick(&opts->progress, "index", total, total);
	eng_trace("index: commit");
	rc = eng_ws_commit(ws, err);
	eng_trace("index: done");
out:
	sqlite3_finalize(c.ins_pair);
	sqlite3_finalize(c.ins_err);
	sqlite3_finalize(c.set_img);
	sqlite3_finalize(c.del_pair);
	eng_imgstore_free(c.imgs);
	if (began && (rc || res->skipped))
		eng_ws_rollback(ws);
	eng_jsonl_close(reader);
	if (fp)
		fclose(fp);
	gz_free(gz);
	archive_read_free(ap);
	if (spool)
		unlink(spool);
	free(spool);
	cache_free(&c.cache);
	for (size_t i = 0; i < c.npend; i++) {
		free(c.pend[i].name);
		free(c.pend[i].alt);
	}
	for (size_t i = 0; i < c.nmembers; i++)
		free(c.members[i]);
	free(c.members);
	for (size_t i = 0; i < c.nfiles; i++)
		free(c.labels[i]);
	free(c.pend);
	free(c.rowids);
	free(dir);
	free(okey);
	return rc;
}
