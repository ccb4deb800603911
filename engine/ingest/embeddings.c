/* embeddings.c - read .npy / ids / JSONL embedding files; resolve keys; store one set per kind.
 *
 * .npy layout (NumPy format versions 1.0-3.0): magic "\x93NUMPY", major, minor, header length
 * (2 bytes little-endian for 1.x, 4 bytes for 2.x/3.x), an ASCII Python dict literal with 'descr',
 * 'fortran_order' and 'shape', then the raw array. Only '<f4', C order, 2-D is accepted; the data
 * must fill the file exactly. Values are stored little-endian float32 in the workspace.
 * Key resolution and coverage counting: eng_emb_store. Does not use the vectors in models. */
#include "embeddings.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonl.h"
#include "sha256.h"
#include "workspace_sql.h"

const char *eng_emb_kind_name(eng_emb_kind k)
{
	return k == ENG_EMB_IMAGE ? "image" : "text";
}

static const char *const feature_names[] = {"auto", "builtin", "embeddings", "both"};

const char *eng_features_name(eng_features f)
{
	return (unsigned)f < 4 ? feature_names[f] : "?";
}

int eng_features_parse(const char *s, eng_features *out)
{
	for (int i = 0; s && i < 4; i++) {
		if (!strcmp(s, feature_names[i])) {
			*out = (eng_features)i;
			return 0;
		}
	}
	return ENG_EINPUT;
}

void eng_emb_table_free(eng_emb_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; t->key && i < t->rows; i++)
		free(t->key[i]);
	free(t->key);
	free(t->vec);
	free(t->is_text);
	memset(t, 0, sizeof *t);
}

void eng_emb_text_key(const char *text, char hex[65])
{
	eng_sha256_hex_of(text, strlen(text), hex);
}

static int host_little_endian(void)
{
	const uint16_t one = 1;
	return *(const uint8_t *)&one == 1;
}

static void swap32(void *p, size_t n)
{
	uint8_t *b = p;
	for (size_t i = 0; i < n; i++, b += 4) {
		uint8_t t0 = b[0], t1 = b[1];
		b[0] = b[3], b[1] = b[2], b[2] = t1, b[3] = t0;
	}
}

/* Opens path for reading only when it is a regular file: opened without blocking (a FIFO
 * without a writer) and checked with fstat before any read, so a FIFO or device (/dev/zero) is
 * refused with ENG_EINPUT instead of blocking or never ending. NULL on failure (err set). */
static FILE *open_regular(const char *path, eng_err *err)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	struct stat sb = {0};
	if (fd < 0) {
		eng_err_set(err, errno == ENOENT || errno == EACCES ? ENG_EINPUT : ENG_EIO,
		            "open '%s': %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		eng_err_set(err, ENG_EINPUT, "'%s' is %s, not an embeddings file", path,
		            S_ISDIR(sb.st_mode)    ? "a directory"
		            : S_ISFIFO(sb.st_mode) ? "a FIFO"
		            : S_ISCHR(sb.st_mode)  ? "a character device"
		                                   : "not a regular file");
		return NULL;
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	FILE *f = fdopen(fd, "rb");
	if (!f) {
		close(fd);
		eng_err_set(err, ENG_ENOMEM, "out of memory");
	}
	return f;
}

/* Whole file into memory (+1 NUL byte), with its SHA-256 hex. */
static int slurp(const char *path, unsigned char **out, size_t *len, char sha[65], eng_err *err)
{
	*out = NULL;
	FILE *f = open_regular(path, err);
	if (!f)
		return err ? err->code : ENG_EINPUT;
	size_t cap = 1 << 16, n = 0;
	unsigned char *buf = malloc(cap);
	int rc = 0;
	for (;;) {
		if (!buf) {
			rc = eng_err_set(err, ENG_ENOMEM, "read '%s': out of memory", path);
			break;
		}
		size_t got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0) {
			if (ferror(f))
				rc = eng_err_set(err, ENG_EIO, "read '%s': %s", path,
				                 strerror(errno));
			break;
		}
		if (n + 1 == cap) {
			unsigned char *nb = cap < SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
			if (!nb)
				free(buf);
			buf = nb;
			cap *= 2;
		}
	}
	fclose(f);
	if (rc) {
		free(buf);
		return rc;
	}
	buf[n] = '\0';
	eng_sha256_hex_of(buf, n, sha);
	*out = buf;
	*len = n;
	return 0;
}

/* Value of 'name': in a .npy header dict, or NULL. */
static const char *dict_value(const char *h, const char *name)
{
	char q1[48], q2[48];
	snprintf(q1, sizeof q1, "'%s'", name);
	snprintf(q2, sizeof q2, "\"%s\"", name);
	const char *p = strstr(h, q1);
	if (!p)
		p = strstr(h, q2);
	if (!p)
		return NULL;
	p += strlen(q1);
	while (*p == ' ')
		p++;
	if (*p != ':')
		return NULL;
	p++;
	while (*p == ' ')
		p++;
	return p;
}

static int npy_parse(const char *path, unsigned char *buf, size_t len, float **data, size_t *rows,
                     uint32_t *dim, eng_err *err)
{
	static const unsigned char magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
	if (len < 10 || memcmp(buf, magic, 6) != 0)
		return eng_err_set(err, ENG_EINPUT,
		                   "'%s' is not a NumPy .npy file (no \\x93NUMPY magic); save the "
		                   "matrix with numpy.save",
		                   path);
	int major = buf[6];
	size_t hlen, hstart;
	if (major == 1) {
		hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
		hstart = 10;
	} else if (major == 2 || major == 3) {
		if (len < 12)
			return eng_err_set(err, ENG_EINPUT, "'%s': truncated .npy header", path);
		hlen = (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 |
		       (size_t)buf[11] << 24;
		hstart = 12;
	} else {
		return eng_err_set(err, ENG_EINPUT, "'%s': unsupported .npy format version %d.%d",
		                   path, major, buf[7]);
	}
	if (hlen > len - hstart)
		return eng_err_set(err, ENG_EINPUT, "'%s': truncated .npy header", path);
	char *h = malloc(hlen + 1);
	if (!h)
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	memcpy(h, buf + hstart, hlen);
	h[hlen] = '\0';
	int rc = 0;
	char descr[32] = "";
	const char *v = dict_value(h, "descr");
	if (v && (*v == '\'' || *v == '"')) {
		const char *e = strchr(v + 1, *v);
		if (e && (size_t)(e - v - 1) < sizeof descr) {
			memcpy(descr, v + 1, (size_t)(e - v - 1));
			descr[e - v - 1] = '\0';
		}
	}
	const char *fo = dict_value(h, "fortran_order");
	const char *sh = dict_value(h, "shape");
	size_t shape[8], nd = 0;
	int shape_ok = sh && *sh == '(';
	if (shape_ok) {
		const char *p = sh + 1;
		for (;;) {
			while (*p == ' ' || *p == ',')
				p++;
			if (*p == ')')
				break;
			if (!isdigit((unsigned char)*p) || nd == 8) {
				shape_ok = 0;
				break;
			}
			char *end;
			errno = 0;
			unsigned long long x = strtoull(p, &end, 10);
			if (errno || x > SIZE_MAX / 4) {
				shape_ok = 0;
				break;
			}
			shape[nd++] = (size_t)x;
			p = end;
			while (*p == 'L') /* Python 2 longs */
				p++;
		}
	}
	if (!descr[0] || !fo || !shape_ok) {
		rc = eng_err_set(err, ENG_EINPUT,
		                 "'%s': malformed .npy header (need 'descr', 'fortran_order' and "
		                 "'shape')",
		                 path);
	} else if (strcmp(descr, "<f4") != 0) {
		rc = eng_err_set(err, ENG_EINPUT,
		                 "'%s': dtype '%s' is not little-endian float32; save "
		                 "arr.astype('<f4') instead",
		                 path, descr);
	} else if (strncmp(fo, "False", 5) != 0) {
		rc = eng_err_set(err, ENG_EINPUT,
		                 "'%s': the array is in Fortran order; save "
		                 "numpy.ascontiguousarray(arr) instead",
		                 path);
	} else if (nd != 2) {
		rc =
		    eng_err_set(err, ENG_EINPUT,
		                "'%s': the array has %zu dimension(s); it must be 2-D (rows, dim), "
		                "e.g. arr.reshape(len(arr), -1)",
		                path, nd);
	} else if (shape[1] == 0 || shape[1] > 1u << 20) {
		rc = eng_err_set(err, ENG_EINPUT,
		                 "'%s': embedding dimension %zu is out of range "
		                 "[1, 1048576]",
		                 path, shape[1]);
	}
	free(h);
	if (rc)
		return rc;
	size_t off = hstart + hlen, n = shape[0] * shape[1];
	if (shape[0] && n / shape[0] != shape[1])
		return eng_err_set(err, ENG_EINPUT, "'%s': shape too large", path);
	if (n > (len - off) / 4)
		return eng_err_set(
		    err, ENG_EINPUT,
		    "'%s' is truncated: shape (%zu, %zu) needs %zu data bytes, the file "
		    "has %zu",
		    path, shape[0], shape[1], n * 4, len - off);
	if (len - off != n * 4)
		return eng_err_set(
		    err, ENG_EINPUT,
		    "'%s': %zu bytes after the (%zu, %zu) float32 data; not a single "
		    ".npy array",
		    path, len - off - n * 4, shape[0], shape[1]);
	float *x = malloc(n ? n * sizeof(float) : 1);
	if (!x)
		return eng_err_set(err, ENG_ENOMEM, "'%s': out of memory (%zu floats)", path, n);
	memcpy(x, buf + off, n * sizeof(float));
	if (!host_little_endian())
		swap32(x, n);
	for (size_t i = 0; i < n; i++) {
		if (!isfinite(x[i])) {
			free(x);
			return eng_err_set(err, ENG_EINPUT,
			                   "'%s': row %zu column %zu is not finite", path,
			                   i / shape[1], i % shape[1]);
		}
	}
	*data = x;
	*rows = shape[0];
	*dim = (uint32_t)shape[1];
	return 0;
}

int eng_npy_read(const char *path, float **data, size_t *rows, uint32_t *dim, eng_err *err)
{
	unsigned char *buf;
	size_t len;
	char sha[65];
	*data = NULL;
	int rc = slurp(path, &buf, &len, sha, err);
	if (rc)
		return rc;
	rc = npy_parse(path, buf, len, data, rows, dim, err);
	free(buf);
	return rc;
}

static int read_ids(const char *path, eng_emb_table *t, eng_err *err)
{
	unsigned char *buf;
	size_t len;
	char sha[65];
	int rc = slurp(path, &buf, &len, sha, err);
	if (rc)
		return rc;
	t->key = calloc(t->rows ? t->rows : 1, sizeof *t->key);
	if (!t->key) {
		free(buf);
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	}
	char *p = (char *)buf, *end = p + len;
	size_t line = 0;
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *e = nl ? nl : end;
		size_t n = (size_t)(e - p);
		if (n && p[n - 1] == '\r')
			n--;
		line++;
		if (line > t->rows) {
			rc = eng_err_set(
			    err, ENG_EINPUT,
			    "'%s' has more lines than the matrix has rows (%zu); one key "
			    "per row",
			    path, t->rows);
			break;
		}
		if (n == 0) {
			rc = eng_err_set(err, ENG_EINPUT, "%s:%zu: empty key", path, line);
			break;
		}
		if (memchr(p, '\0', n)) {
			rc = eng_err_set(err, ENG_EINPUT, "%s:%zu: NUL byte in key", path, line);
			break;
		}
		t->key[line - 1] = strndup(p, n);
		if (!t->key[line - 1]) {
			rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
			break;
		}
		p = nl ? nl + 1 : end;
	}
	if (!rc && line < t->rows)
		rc =
		    eng_err_set(err, ENG_EINPUT,
		                "'%s' has %zu key line(s) but the matrix has %zu rows; one key per "
		                "row",
		                path, line, t->rows);
	free(buf);
	return rc;
}

static int read_jsonl(const char *path, eng_emb_table *t, eng_err *err)
{
	FILE *f = open_regular(path, err);
	if (!f)
		return err ? err->code : ENG_EINPUT;
	eng_jsonl *r = NULL;
	int rc = eng_jsonl_open_file(f, 0, &r, err);
	size_t cap = 0;
	const char *line;
	size_t len;
	uint64_t ln = 0;
	json_t *j = NULL;
	while (!rc) {
		int s = eng_jsonl_next(r, &line, &len, &ln, err);
		if (s == ENG_JSONL_EOF)
			break;
		if (s < 0) {
			rc = s;
			break;
		}
		if (s == ENG_JSONL_TOO_LONG) {
			rc = eng_err_set(err, ENG_EINPUT, "%s:%llu: line too long", path,
			                 (unsigned long long)ln);
			break;
		}
		json_error_t je;
		j = json_loadb(line, len, 0, &je);
		json_t *k = j ? json_object_get(j, "key") : NULL,
		       *tx = j ? json_object_get(j, "text") : NULL;
		json_t *e = j ? json_object_get(j, "embedding") : NULL;
		if (!j) {
			rc = eng_err_set(err, ENG_EINPUT, "%s:%llu: bad JSON: %s", path,
			                 (unsigned long long)ln, je.text);
			break;
		}
		if (!json_is_string(k) && !json_is_string(tx)) {
			rc = eng_err_set(err, ENG_EINPUT,
			                 "%s:%llu: needs a string \"key\" (or \"text\") field",
			                 path, (unsigned long long)ln);
			break;
		}
		if (!json_is_array(e) || json_array_size(e) == 0) {
			rc =
			    eng_err_set(err, ENG_EINPUT,
			                "%s:%llu: needs a non-empty \"embedding\" array of numbers",
			                path, (unsigned long long)ln);
			break;
		}
		size_t d = json_array_size(e);
		if (t->rows == 0) {
			if (d > 1u << 20) {
				rc =
				    eng_err_set(err, ENG_EINPUT, "%s:%llu: dimension %zu too large",
				                path, (unsigned long long)ln, d);
				break;
			}
			t->dim = (uint32_t)d;
		} else if (d != t->dim) {
			rc = eng_err_set(err, ENG_EINPUT,
			                 "%s:%llu: embedding has %zu values, earlier lines have %u "
			                 "(dimensions must agree)",
			                 path, (unsigned long long)ln, d, (unsigned)t->dim);
			break;
		}
		if (t->rows == cap) {
			size_t nc = cap ? cap * 2 : 256;
			float *nv = nc <= SIZE_MAX / sizeof(float) / t->dim
			                ? realloc(t->vec, nc * t->dim * sizeof(float))
			                : NULL;
			if (nv)
				t->vec = nv;
			char **nk = realloc(t->key, nc * sizeof *nk);
			if (nk)
				t->key = nk;
			uint8_t *nt = realloc(t->is_text, nc);
			if (nt)
				t->is_text = nt;
			if (!nv || !nk || !nt) {
				rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
				break;
			}
			cap = nc;
		}
		float *row = t->vec + t->rows * t->dim;
		for (size_t i = 0; i < d; i++) {
			json_t *x = json_array_get(e, i);
			double v = json_number_value(x);
			if (!json_is_number(x) || !isfinite((float)v)) {
				rc = eng_err_set(
				    err, ENG_EINPUT,
				    "%s:%llu: embedding value %zu is not a finite float32 "
				    "number",
				    path, (unsigned long long)ln, i);
				break;
			}
			row[i] = (float)v;
		}
		if (rc)
			break;
		t->is_text[t->rows] = json_is_string(k) ? 0 : 1;
		t->key[t->rows] = strdup(json_string_value(json_is_string(k) ? k : tx));
		if (!t->key[t->rows]) {
			rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
			break;
		}
		if (!t->key[t->rows][0]) {
			free(t->key[t->rows]);
			rc = eng_err_set(err, ENG_EINPUT, "%s:%llu: empty key", path,
			                 (unsigned long long)ln);
			break;
		}
		t->rows++;
		json_decref(j);
		j = NULL;
	}
	json_decref(j);
	if (!rc && t->rows == 0)
		rc = eng_err_set(err, ENG_EINPUT, "'%s' holds no embeddings", path);
	eng_jsonl_close(r);
	fclose(f);
	return rc;
}

static int ends_with(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && !strcasecmp(s + a - b, suf);
}

int eng_emb_read(const char *path, const char *ids_path, eng_emb_table *t, eng_err *err)
{
	memset(t, 0, sizeof *t);
	int rc;
	if (ends_with(path, ".npy")) {
		if (!ids_path)
			return eng_err_set(
			    err, ENG_EINPUT,
			    "'%s' is a .npy matrix: give its ids file (one key per row) "
			    "with --ids FILE",
			    path);
		unsigned char *buf;
		size_t len;
		if ((rc = slurp(path, &buf, &len, t->sha256, err)))
			return rc;
		rc = npy_parse(path, buf, len, &t->vec, &t->rows, &t->dim, err);
		free(buf);
		if (!rc && t->rows == 0)
			rc = eng_err_set(err, ENG_EINPUT, "'%s' has no rows", path);
		if (!rc && !(t->is_text = calloc(t->rows, 1)))
			rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
		if (!rc)
			rc = read_ids(ids_path, t, err);
	} else {
		if (ids_path)
			return eng_err_set(
			    err, ENG_EINPUT,
			    "--ids goes with a .npy matrix; '%s' is read as JSONL lines "
			    "{\"key\": ..., \"embedding\": [...]}",
			    path);
		unsigned char *buf;
		size_t len;
		if ((rc = slurp(path, &buf, &len, t->sha256, err)))
			return rc;
		free(buf);
		rc = read_jsonl(path, t, err);
	}
	if (rc)
		eng_emb_table_free(t);
	return rc;
}

/* ---- storing ----------------------------------------------------------------------------------
 */

static int is_hex64(const char *s)
{
	for (int i = 0; i < 64; i++)
		if (!isxdigit((unsigned char)s[i]))
			return 0;
	return s[64] == '\0';
}

int eng_emb_set_dim(eng_ws *ws, eng_emb_kind kind, uint32_t *dim, eng_err *err)
{
	*dim = 0;
	sqlite3_stmt *st =
	    eng_ws_prepare(ws, "SELECT dim FROM embedding_sets WHERE kind = ?1", err);
	if (!st)
		return err ? err->code : ENG_EINTERNAL;
	sqlite3_bind_text(st, 1, eng_emb_kind_name(kind), -1, SQLITE_STATIC);
	int s = sqlite3_step(st), rc = 0;
	if (s == SQLITE_ROW)
		*dim = (uint32_t)sqlite3_column_int64(st, 0);
	else if (s != SQLITE_DONE)
		rc = eng_ws_fail(ws, err, "read embedding_sets");
	sqlite3_finalize(st);
	return rc;
}

static void first_add(char (*list)[200], size_t *n, size_t cap, const char *a, const char *b)
{
	if (*n < cap)
		snprintf(list[(*n)++], 200, "%s%s%s", a, b ? ":" : "", b ? b : "");
}

static void key_add(eng_emb_report *r, const char *key)
{
	if (r->nfirst_unmatched < ENG_EMB_FIRST)
		snprintf(r->first_unmatched[r->nfirst_unmatched++], 160, "%.150s%s", key,
		         strlen(key) > 150 ? "..." : "");
}

/* Text coverage. count 0: every pair's response keys into temp.emb_resp (created here).
 * count 1: pairs lacking a vector for either response counted into r. */
static int text_coverage(eng_ws *ws, int count, eng_emb_report *r, eng_err *err)
{
	sqlite3_stmt *sp = NULL, *si = NULL, *sq = NULL;
	int rc =
	    count ? 0
	          : eng_ws_exec(
	                ws, "CREATE TEMP TABLE emb_resp(key TEXT PRIMARY KEY) WITHOUT ROWID", err);
	if (rc)
		return rc;
	sp = eng_ws_prepare(ws,
	                    "SELECT d.name, p.ext_id, p.chosen, p.rejected FROM pairs p JOIN "
	                    "datasets d ON d.id = p.dataset_id ORDER BY p.id",
	                    err);
	si = eng_ws_prepare(ws, "INSERT OR IGNORE INTO temp.emb_resp(key) VALUES (?1)", err);
	sq = eng_ws_prepare(ws, "SELECT 1 FROM embeddings WHERE kind = 'text' AND key = ?1", err);
	if (!sp || !si || !sq) {
		rc = err ? err->code : ENG_EINTERNAL;
		goto out;
	}
	int s;
	while ((s = sqlite3_step(sp)) == SQLITE_ROW) {
		int lacks = 0;
		for (int side = 2; side <= 3; side++) {
			char hex[65];
			eng_emb_text_key((const char *)sqlite3_column_text(sp, side), hex);
			if (!count) {
				sqlite3_bind_text(si, 1, hex, 64, SQLITE_TRANSIENT);
				if (sqlite3_step(si) != SQLITE_DONE) {
					rc = eng_ws_fail(ws, err, "coverage");
					goto out;
				}
				sqlite3_reset(si);
				continue;
			}
			sqlite3_bind_text(sq, 1, hex, 64, SQLITE_TRANSIENT);
			int q = sqlite3_step(sq);
			sqlite3_reset(sq);
			if (q != SQLITE_ROW && q != SQLITE_DONE) {
				rc = eng_ws_fail(ws, err, "coverage");
				goto out;
			}
			lacks |= q != SQLITE_ROW;
		}
		if (!count)
			continue;
		r->pairs++;
		if (lacks) {
			r->pairs_missing++;
			first_add(r->first_missing, &r->nfirst_missing, ENG_EMB_FIRST,
			          (const char *)sqlite3_column_text(sp, 0),
			          (const char *)sqlite3_column_text(sp, 1));
		}
	}
	if (s != SQLITE_DONE)
		rc = eng_ws_fail(ws, err, "read pairs");
out:
	sqlite3_finalize(sp);
	sqlite3_finalize(si);
	sqlite3_finalize(sq);
	return rc;
}

static int count_query(eng_ws *ws, const char *sql, size_t *out, eng_err *err)
{
	sqlite3_stmt *st = eng_ws_prepare(ws, sql, err);
	if (!st)
		return err ? err->code : ENG_EINTERNAL;
	int rc = 0;
	if (sqlite3_step(st) == SQLITE_ROW)
		*out = (size_t)sqlite3_column_int64(st, 0);
	else
		rc = eng_ws_fail(ws, err, "count");
	sqlite3_finalize(st);
	return rc;
}

/* One eng_emb_store call: the set being stored, its statements and its report. */
typedef struct embstore {
	eng_ws *ws;
	eng_emb_kind kind;
	const char *kn; /* kind name */
	const eng_emb_table *t;
	eng_emb_report *r;
	eng_err *err;
	sqlite3_stmt *sref, *sins, *sget, *smatch, *sset;
} embstore;

/* What the keys may name: image references (temp.emb_refs, every name an image was given) or the
 * workspace's answers (temp.emb_resp), and the statements that store the set. */
static int prepare_targets(embstore *x)
{
	eng_ws *ws = x->ws;
	eng_err *err = x->err;
	int rc;
	if (x->kind == ENG_EMB_IMAGE) {
		rc = eng_ws_exec(
		    ws,
		    "CREATE TEMP TABLE emb_refs(ref TEXT PRIMARY KEY, sha TEXT, n INTEGER) WITHOUT "
		    "ROWID;"
		    "INSERT INTO temp.emb_refs SELECT ref, min(sha), count(DISTINCT sha) FROM ("
		    " SELECT p.image_ref AS ref, i.sha256 AS sha FROM pairs p JOIN images i ON "
		    "i.id "
		    "= p.image_id UNION SELECT source, sha256 FROM images) WHERE ref IS NOT NULL "
		    "GROUP BY ref",
		    err);
		if (rc)
			return rc;
		x->sref =
		    eng_ws_prepare(ws, "SELECT sha, n FROM temp.emb_refs WHERE ref = ?1", err);
		x->smatch = eng_ws_prepare(ws,
		                           "SELECT 1 FROM images i WHERE i.sha256 = ?1 AND EXISTS "
		                           "(SELECT 1 FROM pairs p WHERE p.image_id = i.id)",
		                           err);
	} else {
		if ((rc = text_coverage(ws, 0, x->r, err)))
			return rc;
		x->smatch = eng_ws_prepare(ws, "SELECT 1 FROM temp.emb_resp WHERE key = ?1", err);
	}
	x->sset =
	    eng_ws_prepare(ws,
	                   "INSERT INTO embedding_sets(kind, dim, rows, source, sha256) VALUES "
	                   "(?1, ?2, 0, ?3, ?4)",
	                   err);
	x->sins = eng_ws_prepare(
	    ws, "INSERT OR IGNORE INTO embeddings(kind, key, vec) VALUES (?1, ?2, ?3)", err);
	x->sget =
	    eng_ws_prepare(ws, "SELECT vec FROM embeddings WHERE kind = ?1 AND key = ?2", err);
	if (!x->sset || !x->sins || !x->sget || !x->smatch ||
	    (x->kind == ENG_EMB_IMAGE && !x->sref))
		return err ? err->code : ENG_EINTERNAL;
	return 0;
}

/* Replaces the kind's embedding_sets row (its vectors stay: keys are content hashes). */
static int replace_set(embstore *x, const char *source)
{
	sqlite3_stmt *sdel =
	    eng_ws_prepare(x->ws, "DELETE FROM embedding_sets WHERE kind = ?1", x->err);
	if (!sdel)
		return x->err ? x->err->code : ENG_EINTERNAL;
	sqlite3_bind_text(sdel, 1, x->kn, -1, SQLITE_STATIC);
	int s = sqlite3_step(sdel);
	sqlite3_finalize(sdel);
	if (s != SQLITE_DONE)
		return eng_ws_fail(x->ws, x->err, "replace the embedding set");
	sqlite3_bind_text(x->sset, 1, x->kn, -1, SQLITE_STATIC);
	sqlite3_bind_int64(x->sset, 2, x->t->dim);
	sqlite3_bind_text(x->sset, 3, source, -1, SQLITE_STATIC);
	sqlite3_bind_text(x->sset, 4, x->t->sha256, -1, SQLITE_STATIC);
	if (sqlite3_step(x->sset) != SQLITE_DONE)
		return eng_ws_fail(x->ws, x->err, "write embedding_sets");
	return 0;
}

/* The stored key (64 hex digits) of row i: a text's hash, a content hash as given, or the hash of
 * the one image an image reference names. 0 with hex, 1 when the row is skipped (an ambiguous or
 * unresolved reference, counted), or a negative code. */
static int row_key(embstore *x, size_t i, char hex[65])
{
	const eng_emb_table *t = x->t;
	const char *key = t->key[i];
	if (t->is_text && t->is_text[i]) {
		if (x->kind == ENG_EMB_IMAGE)
			return eng_err_set(x->err, ENG_EINPUT,
			                   "row %zu: a \"text\" key in an image embedding set; key "
			                   "images by \"key\" (path or content hash)",
			                   i + 1);
		eng_emb_text_key(key, hex);
	} else if (is_hex64(key)) {
		for (int c = 0; c < 64; c++)
			hex[c] = (char)tolower((unsigned char)key[c]);
		hex[64] = '\0';
	} else if (x->kind == ENG_EMB_TEXT) {
		eng_emb_text_key(key, hex);
	} else {
		sqlite3_stmt *sref = x->sref;
		sqlite3_bind_text(sref, 1, key, -1, SQLITE_STATIC);
		int q = sqlite3_step(sref);
		if (q == SQLITE_ROW && sqlite3_column_int(sref, 1) > 1) {
			x->r->ambiguous++;
			key_add(x->r, key);
		} else if (q == SQLITE_ROW) {
			memcpy(hex, sqlite3_column_text(sref, 0), 64);
			hex[64] = '\0';
		} else {
			x->r->unresolved++;
			key_add(x->r, key);
		}
		int ok = q == SQLITE_ROW && sqlite3_column_int(sref, 1) == 1;
		sqlite3_reset(sref);
		if (!ok)
			return 1;
	}
	return 0;
}

/* Stores every row's vector (little-endian) under its key: a key given twice must have the same
 * vector; counts stored, duplicate and unmatched rows. */
static int store_rows(embstore *x)
{
	const eng_emb_table *t = x->t;
	eng_emb_report *r = x->r;
	sqlite3_stmt *sins = x->sins, *sget = x->sget, *smatch = x->smatch;
	int rc = 0;
	const size_t vbytes = (size_t)t->dim * sizeof(float);
	float *le = malloc(vbytes);
	if (!le)
		return eng_err_set(x->err, ENG_ENOMEM, "out of memory");
	for (size_t i = 0; i < t->rows; i++) {
		const char *key = t->key[i];
		char hex[65];
		int k = row_key(x, i, hex);
		if (k < 0) {
			rc = k;
			break;
		}
		if (k)
			continue;
		memcpy(le, t->vec + i * t->dim, vbytes);
		if (!host_little_endian())
			swap32(le, t->dim);
		sqlite3_bind_text(sins, 1, x->kn, -1, SQLITE_STATIC);
		sqlite3_bind_text(sins, 2, hex, 64, SQLITE_TRANSIENT);
		sqlite3_bind_blob(sins, 3, le, (int)vbytes, SQLITE_TRANSIENT);
		if (sqlite3_step(sins) != SQLITE_DONE) {
			rc = eng_ws_fail(x->ws, x->err, "write embeddings");
			break;
		}
		sqlite3_reset(sins);
		if (sqlite3_changes(eng_ws_db(x->ws)) == 0) {
			sqlite3_bind_text(sget, 1, x->kn, -1, SQLITE_STATIC);
			sqlite3_bind_text(sget, 2, hex, 64, SQLITE_TRANSIENT);
			int same = sqlite3_step(sget) == SQLITE_ROW &&
			           sqlite3_column_bytes(sget, 0) == (int)vbytes &&
			           !memcmp(sqlite3_column_blob(sget, 0), le, vbytes);
			sqlite3_reset(sget);
			if (!same) {
				rc = eng_err_set(x->err, ENG_EINPUT,
				                 "row %zu: key '%.120s' was given before with a "
				                 "different vector",
				                 i + 1, key);
				break;
			}
			r->duplicates++;
			continue;
		}
		r->stored++;
		sqlite3_bind_text(smatch, 1, hex, 64, SQLITE_TRANSIENT);
		int q = sqlite3_step(smatch);
		sqlite3_reset(smatch);
		if (q != SQLITE_ROW) {
			r->unmatched++;
			key_add(r, key);
		}
	}
	free(le);
	return rc;
}

/* The set's row count, now that the rows are stored. */
static int finish_set(embstore *x)
{
	sqlite3_finalize(x->sset);
	x->sset =
	    eng_ws_prepare(x->ws, "UPDATE embedding_sets SET rows = ?2 WHERE kind = ?1", x->err);
	if (!x->sset)
		return x->err ? x->err->code : ENG_EINTERNAL;
	sqlite3_bind_text(x->sset, 1, x->kn, -1, SQLITE_STATIC);
	sqlite3_bind_int64(x->sset, 2, (sqlite3_int64)x->r->stored);
	if (sqlite3_step(x->sset) != SQLITE_DONE)
		return eng_ws_fail(x->ws, x->err, "write embedding_sets");
	return 0;
}

/* Coverage of an image set: images of pairs with and without a vector, and the first pairs whose
 * image has none. */
static int image_coverage(embstore *x)
{
	eng_ws *ws = x->ws;
	eng_emb_report *r = x->r;
	eng_err *err = x->err;
	int s = SQLITE_DONE;
	int rc =
	    count_query(ws, "SELECT count(DISTINCT image_id) FROM pairs WHERE image_id IS NOT NULL",
	                &r->targets, err);
	if (!rc)
		rc = count_query(ws,
		                 "SELECT count(*) FROM images i WHERE EXISTS (SELECT 1 FROM "
		                 "pairs p WHERE p.image_id = i.id) AND NOT EXISTS (SELECT 1 FROM "
		                 "embeddings e WHERE e.kind = 'image' AND e.key = i.sha256)",
		                 &r->targets_missing, err);
	if (!rc)
		rc = count_query(ws, "SELECT count(*) FROM pairs WHERE image_id IS NOT NULL",
		                 &r->pairs, err);
	sqlite3_stmt *sm = rc ? NULL
	                      : eng_ws_prepare(ws,
	                                       "SELECT d.name, p.ext_id FROM pairs p JOIN "
	                                       "datasets d ON d.id = p.dataset_id JOIN images "
	                                       "i ON i.id = p.image_id WHERE NOT EXISTS "
	                                       "(SELECT 1 FROM embeddings e WHERE e.kind = "
	                                       "'image' AND e.key = i.sha256) ORDER BY p.id",
	                                       err);
	if (!rc && !sm)
		rc = err ? err->code : ENG_EINTERNAL;
	while (!rc && (s = sqlite3_step(sm)) == SQLITE_ROW) {
		r->pairs_missing++;
		first_add(r->first_missing, &r->nfirst_missing, ENG_EMB_FIRST,
		          (const char *)sqlite3_column_text(sm, 0),
		          (const char *)sqlite3_column_text(sm, 1));
	}
	if (!rc && s != SQLITE_DONE)
		rc = eng_ws_fail(ws, err, "coverage");
	sqlite3_finalize(sm);
	return rc;
}

/* Coverage of a text set: answers with and without a vector, and the pairs that lack one. */
static int answer_coverage(embstore *x)
{
	int rc = count_query(x->ws, "SELECT count(*) FROM temp.emb_resp", &x->r->targets, x->err);
	if (!rc)
		rc = count_query(x->ws,
		                 "SELECT count(*) FROM temp.emb_resp r WHERE NOT EXISTS (SELECT "
		                 "1 FROM embeddings e WHERE e.kind = 'text' AND e.key = r.key)",
		                 &x->r->targets_missing, x->err);
	if (!rc)
		rc = text_coverage(x->ws, 1, x->r, x->err);
	return rc;
}

int eng_emb_store(eng_ws *ws, eng_emb_kind kind, const eng_emb_table *t, const char *source,
                  eng_emb_report *rep, eng_err *err)
{
	eng_emb_report local;
	eng_emb_report *r = rep ? rep : &local;
	memset(r, 0, sizeof *r);
	r->rows = t->rows;
	r->dim = t->dim;
	embstore x = {
	    .ws = ws, .kind = kind, .kn = eng_emb_kind_name(kind), .t = t, .r = r, .err = err};
	eng_ws_exec(ws, "DROP TABLE IF EXISTS temp.emb_refs; DROP TABLE IF EXISTS temp.emb_resp",
	            NULL);
	int rc = eng_ws_begin(ws, err);
	if (rc)
		return rc;
	if (!(rc = prepare_targets(&x)) && !(rc = replace_set(&x, source)) &&
	    !(rc = store_rows(&x)) && !(rc = finish_set(&x)) &&
	    !(rc = kind == ENG_EMB_IMAGE ? image_coverage(&x) : answer_coverage(&x)))
		rc = eng_ws_commit(ws, err);
	sqlite3_finalize(x.sref);
	sqlite3_finalize(x.sins);
	sqlite3_finalize(x.sget);
	sqlite3_finalize(x.smatch);
	sqlite3_finalize(x.sset);
	if (rc)
		eng_ws_rollback(ws);
	eng_ws_exec(ws, "DROP TABLE IF EXISTS temp.emb_refs; DROP TABLE IF EXISTS temp.emb_resp",
	            NULL);
	return rc;
}

int eng_emb_load(eng_ws *ws, eng_emb_kind kind, const char *file, const char *ids,
                 eng_emb_report *rep, eng_err *err)
{
	eng_emb_table t;
	char source[8192];
	snprintf(source, sizeof source, "%s%s%s", file, ids ? " + " : "", ids ? ids : "");
	int e = eng_emb_read(file, ids, &t, err);
	if (!e)
		e = eng_emb_store(ws, kind, &t, source, rep, err);
	eng_emb_table_free(&t);
	return e;
}
