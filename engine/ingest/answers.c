/* answers.c - the answer records of a join input, in a (key, model) hash map. Reads JSONL only;
 * no shapes, no images, no SQL. */
#include "answers.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hash.h"
#include "sha256.h"

typedef struct ans_ent {
	char *key; /* "KEY\x1fMODEL" */
	json_t *rec;
	const char *text, *prompt;
} ans_ent;

struct eng_answers {
	ans_ent *slots;
	size_t cap, n;
	eng_sha256_ctx sha;
	char hex[ENG_SHA256_HEX_LEN];
};

static ans_ent *find(const eng_answers *a, const char *k)
{
	if (!a->cap)
		return NULL;
	for (size_t i = eng_fnv1a64_str(k) & (a->cap - 1);; i = (i + 1) & (a->cap - 1)) {
		if (!a->slots[i].key)
			return NULL;
		if (!strcmp(a->slots[i].key, k))
			return &a->slots[i];
	}
}

static int grow(eng_answers *a)
{
	size_t nc = a->cap ? a->cap * 2 : 1024;
	ans_ent *ns = calloc(nc, sizeof *ns);
	if (!ns)
		return ENG_ENOMEM;
	for (size_t i = 0; i < a->cap; i++) {
		if (!a->slots[i].key)
			continue;
		size_t j = eng_fnv1a64_str(a->slots[i].key) & (nc - 1);
		while (ns[j].key)
			j = (j + 1) & (nc - 1);
		ns[j] = a->slots[i];
	}
	free(a->slots);
	a->slots = ns;
	a->cap = nc;
	return 0;
}

/* "KEY\x1fMODEL" of two JSON values (strings or integers), or 0 when either is neither. */
static int join_key(json_t *k, json_t *m, char *out, size_t n)
{
	char kb[64], mb[64];
	const char *ks = json_is_string(k) ? json_string_value(k) : NULL;
	const char *ms = json_is_string(m) ? json_string_value(m) : NULL;
	if (json_is_integer(k))
		snprintf(kb, sizeof kb, "%" JSON_INTEGER_FORMAT, json_integer_value(k)), ks = kb;
	if (json_is_integer(m))
		snprintf(mb, sizeof mb, "%" JSON_INTEGER_FORMAT, json_integer_value(m)), ms = mb;
	if (!ks || !ms)
		return 0;
	return snprintf(out, n, "%s\x1f%s", ks, ms) < (int)n;
}

static const char *first_string(json_t *o, const char *const *names)
{
	for (; *names; names++) {
		json_t *v = json_object_get(o, *names);
		if (json_is_string(v))
			return json_string_value(v);
	}
	return NULL;
}

static int load_file(eng_answers *a, const char *path, const char *key, const char *model,
                     eng_err *err)
{
	static const char *const text_keys[] = {"output", "answer",  "response",
	                                        "text",   "content", NULL};
	static const char *const prompt_keys[] = {"instruction", "prompt", "question", NULL};
	FILE *f = fopen(path, "rb");
	if (!f)
		return eng_err_set(err, ENG_EINPUT, "--answers '%s': %s", path, strerror(errno));
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	unsigned long lineno = 0;
	int rc = 0;
	char kbuf[512];
	while (!rc && (len = getline(&line, &cap, f)) >= 0) {
		lineno++;
		eng_sha256_update(&a->sha, (const uint8_t *)line, (size_t)len);
		if (strspn(line, " \t\r\n") == (size_t)len)
			continue;
		json_error_t je;
		json_t *o = json_loadb(line, (size_t)len, JSON_REJECT_DUPLICATES, &je);
		const char *text = o ? first_string(o, text_keys) : NULL;
		if (!json_is_object(o)) {
			rc = eng_err_set(
			    err, ENG_EINPUT,
			    "--answers %s:%lu: not a JSON object (%s); answer files are "
			    "JSONL, one answer record per line",
			    path, lineno, o ? "another JSON value" : je.text);
		} else if (!join_key(json_object_get(o, key), json_object_get(o, model), kbuf,
		                     sizeof kbuf)) {
			rc = eng_err_set(
			    err, ENG_EINPUT,
			    "--answers %s:%lu: no \"%s\" and \"%s\" (strings or integers) "
			    "to join on; check --join KEY,MODEL",
			    path, lineno, key, model);
		} else if (!text) {
			rc =
			    eng_err_set(err, ENG_EINPUT,
			                "--answers %s:%lu: no answer text (\"output\", \"answer\", "
			                "\"response\", \"text\" or \"content\")",
			                path, lineno);
		} else {
			ans_ent *e = find(a, kbuf);
			if (e && strcmp(e->text, text) != 0) {
				rc = eng_err_set(err, ENG_EINPUT,
				                 "--answers %s:%lu: a second, different answer for "
				                 "%s \"%s\"; keep one answer per (%s, %s)",
				                 path, lineno, key, kbuf, key, model);
				for (char *p = err->msg; *p; p++)
					if (*p == '\x1f')
						*p = '/';
			} else if (!e) {
				if ((a->n + 1) * 2 > a->cap && grow(a)) {
					json_decref(o);
					rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
					break;
				}
				size_t j = eng_fnv1a64_str(kbuf) & (a->cap - 1);
				while (a->slots[j].key)
					j = (j + 1) & (a->cap - 1);
				if (!(a->slots[j].key = strdup(kbuf))) {
					json_decref(o);
					rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
					break;
				}
				a->slots[j].rec = o;
				a->slots[j].text = text;
				a->slots[j].prompt = first_string(o, prompt_keys);
				a->n++;
				o = NULL;
			}
		}
		json_decref(o);
	}
	if (!rc && ferror(f))
		rc = eng_err_set(err, ENG_EINPUT, "--answers '%s': read error", path);
	free(line);
	fclose(f);
	return rc;
}

static int cmp_str(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Loads the *.jsonl files of directory dir in name order. */
static int load_dir(eng_answers *a, const char *dir, const char *key, const char *model,
                    eng_err *err)
{
	DIR *d = opendir(dir);
	if (!d)
		return eng_err_set(err, ENG_EINPUT, "--answers '%s': %s", dir, strerror(errno));
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (e->d_name[0] == '.' || l < 7 || strcmp(e->d_name + l - 6, ".jsonl") != 0)
			continue;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 32;
			char **nn = realloc(names, nc * sizeof *nn);
			if (!nn) {
				rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
				break;
			}
			names = nn;
			cap = nc;
		}
		if (!(names[n] = malloc(strlen(dir) + l + 2))) {
			rc = eng_err_set(err, ENG_ENOMEM, "out of memory");
			break;
		}
		sprintf(names[n++], "%s/%s", dir, e->d_name);
	}
	closedir(d);
	if (!rc && !n)
		rc = eng_err_set(err, ENG_EINPUT, "--answers '%s': the folder has no .jsonl file",
		                 dir);
	if (!rc)
		qsort(names, n, sizeof *names, cmp_str);
	for (size_t i = 0; i < n && !rc; i++)
		rc = load_file(a, names[i], key, model, err);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

int eng_answers_load(const char *const *paths, size_t n, const char *key, const char *model,
                     eng_answers **out, eng_err *err)
{
	*out = NULL;
	eng_answers *a = calloc(1, sizeof *a);
	if (!a)
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	eng_sha256_init(&a->sha);
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		struct stat sb;
		if (stat(paths[i], &sb) != 0)
			rc = eng_err_set(err, ENG_EINPUT, "--answers '%s': %s", paths[i],
			                 strerror(errno));
		else if (S_ISDIR(sb.st_mode))
			rc = load_dir(a, paths[i], key, model, err);
		else
			rc = load_file(a, paths[i], key, model, err);
	}
	if (rc) {
		eng_answers_free(a);
		return rc;
	}
	uint8_t dg[ENG_SHA256_LEN];
	eng_sha256_final(&a->sha, dg);
	eng_sha256_hex(dg, a->hex);
	*out = a;
	return 0;
}

void eng_answers_free(eng_answers *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->cap; i++) {
		free(a->slots[i].key);
		json_decref(a->slots[i].rec);
	}
	free(a->slots);
	free(a);
}

const char *eng_answers_find(const eng_answers *a, const char *key, const char *model,
                             const char **prompt)
{
	char k[512];
	if (prompt)
		*prompt = NULL;
	if (snprintf(k, sizeof k, "%s\x1f%s", key, model) >= (int)sizeof k)
		return NULL;
	const ans_ent *e = find(a, k);
	if (e && prompt)
		*prompt = e->prompt;
	return e ? e->text : NULL;
}

size_t eng_answers_count(const eng_answers *a)
{
	return a->n;
}

const char *eng_answers_sha256(const eng_answers *a)
{
	return a->hex;
}
