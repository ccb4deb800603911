/* idximages.c - the images of the records being indexed: a reference resolved now (a Parquet
 * row's embedded image, a data URI, a file under the images folder, read ahead so it decodes on a
 * worker) or deferred to one pass over the images archive that links or rejects the pairs waiting
 * for each member. Does not parse records (idxrecords.c) nor decode or store images itself
 * (imgstore.c). */
#include "index_internal.h"
#include "workspace_sql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static cache_ent *cache_find(refcache *c, const char *key)
{
	if (!c->cap)
		return NULL;
	for (size_t i = eng_idx_fnv1a(key) & (c->cap - 1);; i = (i + 1) & (c->cap - 1)) {
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
			size_t j = eng_idx_fnv1a(c->slots[i].key) & (nc - 1);
			while (ns[j].key)
				j = (j + 1) & (nc - 1);
			ns[j] = c->slots[i];
		}
		free(c->slots);
		c->slots = ns;
		c->cap = nc;
	}
	size_t j = eng_idx_fnv1a(key) & (c->cap - 1);
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

void eng_idx_cache_free(refcache *c)
{
	for (size_t i = 0; i < c->cap; i++)
		free(c->slots[i].key);
	free(c->slots);
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
int eng_idx_resolve_now(ictx *c, const char *ref, uint64_t line, int64_t *id, eng_rec_error *rej)
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
 * records before it are stored (eng_idx_resolve_now then takes it). 0 or a negative code. */
int eng_idx_read_ahead(ictx *c, const char *ref)
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

int eng_idx_add_pending(ictx *c, const char *ref, uint64_t line, size_t first, size_t n)
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
	int rc = eng_idx_record_error(c, p->line, code, reason);
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

int eng_idx_archive_pass(ictx *c, const eng_progress *prog)
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
