/* idxbundle.c - bundles: one archive holding record files and their images. Each record member is
 * ingested as its own source file (labelled "BUNDLE:member"), then one archive pass resolves the
 * images of all of them, relative to their member's folder or the archive root. Does not read
 * images itself (idximages.c) nor own the transaction (index.c). */
#include "index_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sha256.h"

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
	int rc = eng_idx_lookup_or_create(c, c->dataset, n, c->err);
	if (!rc && !c->res->skipped) {
		memsrc m = {data, n, 0};
		eng_jsonl *r = NULL;
		uint64_t before = c->res->records, before_other = c->res->other_shard;
		eng_rec_shape shape = c->ropts.shape;
		eng_index_stem(name, stem, sizeof stem);
		rc = eng_idx_unique_stem(c, stem, sizeof stem, c->err);
		if (!rc)
			rc = eng_jsonl_open_fn(mem_read, &m, c->max_line, &r, c->err);
		if (!rc) {
			eng_jsonl_detect_array(r);
			rc = eng_idx_read_records(c, r, stem, 0, c->prog);
		}
		eng_jsonl_close(r);
		c->ropts.shape = shape; /* each member detects its own shape */
		c->files[c->nfiles].id = c->file_id;
		c->files[c->nfiles].records =
		    (c->res->records - before) - (c->res->other_shard - before_other);
	}
	c->nfiles++; /* also for a member ingested before (files[].id 0): the label is kept */
	c->res->skipped = 0;
	c->path = bundle;
	c->mdir = NULL;
	free(mdir);
	return rc;
}

int eng_idx_bundle(ictx *c)
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
	if ((rc = eng_idx_archive_pass(c, c->prog)) || (rc = eng_imgstore_flush(c->imgs, c->err)))
		return rc;
	for (size_t i = 0; i < c->nfiles && !rc; i++)
		if (c->files[i].id)
			rc = eng_idx_finish_file(c, c->files[i].id, c->files[i].records, c->err);
	return rc;
}
