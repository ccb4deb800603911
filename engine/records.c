/* records.c - JSON record shapes -> preference pairs. No I/O, no images, no SQL. */
#include "engine/records.h"

#include "engine/err.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const code_names[ENG_REC_NCODES] = {
    "bad-json",          "not-object",
    "missing-field",     "empty-field",
    "identical-answers", "invalid-utf8",
    "bad-type",          "duplicate-id",
    "missing-image",     "corrupt-image",
    "image-too-large",   "unsupported-image",
    "line-too-long",     "unsafe-archive-member",
    "too-many-pairs",
};

const char *eng_rec_code_name(eng_rec_code c)
{
	return (unsigned)c < ENG_REC_NCODES ? code_names[c] : "unknown";
}

static const char *const prompt_keys[] = {"prompt", "question", NULL};
static const char *const image_keys[] = {"image", "img_path", "image_path", NULL};

void eng_record_clear(eng_record *rec)
{
	if (!rec)
		return;
	for (size_t i = 0; i < rec->npairs; i++) {
		free(rec->pairs[i].id);
		free(rec->pairs[i].meta);
	}
	free(rec->pairs);
	free(rec->errors);
	json_decref(rec->root);
	memset(rec, 0, sizeof *rec);
}

int eng_record_add_error(eng_record *rec, eng_rec_code code, const char *fmt, ...)
{
	if (rec->nerrors == rec->ecap) {
		size_t cap = rec->ecap ? rec->ecap * 2 : 2;
		eng_rec_error *e = realloc(rec->errors, cap * sizeof *e);
		if (!e)
			return ENG_ENOMEM;
		rec->errors = e;
		rec->ecap = cap;
	}
	eng_rec_error *e = &rec->errors[rec->nerrors++];
	e->code = code;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->reason, sizeof e->reason, fmt, ap);
	va_end(ap);
	return 0;
}

/* The value of the first key of names present in obj (and which key), or NULL. */
static json_t *get_alias(json_t *obj, const char *const *names, const char **which)
{
	for (; *names; names++) {
		json_t *v = json_object_get(obj, *names);
		if (v) {
			*which = *names;
			return v;
		}
	}
	return NULL;
}

static int is_blank(const char *s)
{
	for (; *s; s++)
		if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
			return 0;
	return 1;
}

/* Equal after trimming surrounding whitespace. */
static int same_text(const char *a, const char *b)
{
	const char *ws = " \t\r\n";
	a += strspn(a, ws);
	b += strspn(b, ws);
	size_t la = strlen(a), lb = strlen(b);
	while (la && strchr(ws, a[la - 1]))
		la--;
	while (lb && strchr(ws, b[lb - 1]))
		lb--;
	return la == lb && !memcmp(a, b, la);
}

/* A required non-empty string field. Returns 1 and *out, 0 after recording an error, <0 ENOMEM. */
static int text_field(eng_record *rec, json_t *v, const char *name, const char **out)
{
	int rc;
	if (!v)
		rc = eng_record_add_error(
		    rec, ENG_REC_MISSING_FIELD,
		    "field \"%s\" is missing; pairwise records need prompt (or "
		    "question), chosen and rejected",
		    name);
	else if (!json_is_string(v))
		rc = eng_record_add_error(
		    rec, ENG_REC_BAD_TYPE,
		    "field \"%s\" must be a string, not %s; convert it to text", name,
		    json_is_object(v)  ? "an object"
		    : json_is_array(v) ? "an array"
		                       : "a number/bool/null");
	else if (is_blank(json_string_value(v)))
		rc = eng_record_add_error(rec, ENG_REC_EMPTY_FIELD,
		                          "field \"%s\" is empty; fill it in or drop the record",
		                          name);
	else {
		*out = json_string_value(v);
		return 1;
	}
	return rc < 0 ? rc : 0;
}

static int add_pair(eng_record *rec, char *id, const char *chosen, const char *rejected, char *meta)
{
	if (rec->npairs == rec->cap) {
		size_t cap = rec->cap ? rec->cap * 2 : 1;
		eng_rec_pair *p = realloc(rec->pairs, cap * sizeof *p);
		if (!p) {
			free(id);
			free(meta);
			return ENG_ENOMEM;
		}
		rec->pairs = p;
		rec->cap = cap;
	}
	rec->pairs[rec->npairs++] = (eng_rec_pair){id, chosen, rejected, meta};
	return 0;
}

/* Object of the record's fields not in used[] (NULL-terminated), new reference (maybe empty). */
static json_t *leftover(json_t *root, const char *const *used)
{
	json_t *m = json_object();
	const char *k;
	json_t *v;
	if (!m)
		return NULL;
	json_object_foreach(root, k, v)
	{
		int skip = 0;
		for (const char *const *u = used; *u && !skip; u++)
			skip = !strcmp(*u, k);
		if (!skip && json_object_set(m, k, v)) {
			json_decref(m);
			return NULL;
		}
	}
	return m;
}

/* Compact JSON of m, or NULL when m is empty; *oom set on allocation failure. */
static char *dump_meta(json_t *m, int *oom)
{
	if (!m || !json_object_size(m))
		return NULL;
	char *s = json_dumps(m, JSON_COMPACT);
	if (!s)
		*oom = 1;
	return s;
}

/* Mean of the numeric ratings in annotation a; returns the count of ratings used. */
static int rating_mean(json_t *a, double *mean)
{
	double sum = 0;
	int n = 0;
	const char *k;
	json_t *v;
	if (json_is_number(a)) {
		*mean = json_number_value(a);
		return isfinite(*mean) ? 1 : 0;
	}
	if (!json_is_object(a))
		return 0;
	json_object_foreach(a, k, v)
	{
		json_t *r = json_is_object(v) ? json_object_get(v, "Rating") : v;
		double x;
		if (json_is_number(r)) {
			x = json_number_value(r);
		} else if (json_is_string(r)) {
			const char *s = json_string_value(r);
			char *end;
			errno = 0;
			x = strtod(s, &end);
			if (end == s || errno)
				continue;
			while (*end == ' ')
				end++;
			if (*end)
				continue;
		} else {
			continue;
		}
		if (!isfinite(x))
			continue;
		sum += x;
		n++;
	}
	if (n)
		*mean = sum / n;
	return n;
}

static int parse_multi(eng_record *rec, json_t *comp, const char *id, json_t *base)
{
	int rc;
	if (!json_is_object(comp))
		return eng_record_add_error(
		    rec, ENG_REC_BAD_TYPE,
		    "field \"completions\" must be an object {response: [...], "
		    "annotations: [...], model: [...]}");
	json_t *resp = json_object_get(comp, "response");
	json_t *ann = json_object_get(comp, "annotations");
	json_t *model = json_object_get(comp, "model");
	if (!resp || !ann)
		return eng_record_add_error(
		    rec, ENG_REC_MISSING_FIELD,
		    "field \"completions.%s\" is missing; multi-completion records "
		    "need completions.response and completions.annotations",
		    resp ? "annotations" : "response");
	if (!json_is_array(resp) || !json_is_array(ann) || (model && !json_is_array(model)))
		return eng_record_add_error(
		    rec, ENG_REC_BAD_TYPE,
		    "completions.response, .annotations and .model must be arrays");
	size_t n = json_array_size(resp);
	if (json_array_size(ann) != n || (model && json_array_size(model) != n))
		return eng_record_add_error(
		    rec, ENG_REC_BAD_TYPE,
		    "completions has %zu responses but %zu annotations%s; the "
		    "lists must line up one to one",
		    n, json_array_size(ann), model ? " (or models)" : "");
	if (n > ENG_RECORD_MAX_COMPLETIONS)
		return eng_record_add_error(
		    rec, ENG_REC_TOO_MANY_PAIRS,
		    "the record has %zu completions (up to %zu pairs), over the limit of %d "
		    "completions per record; split it into several records",
		    n, n * (n - 1) / 2, ENG_RECORD_MAX_COMPLETIONS);
	double *score = malloc((n ? n : 1) * sizeof *score);
	int *ok = calloc(n ? n : 1, sizeof *ok);
	if (!score || !ok) {
		free(score);
		free(ok);
		return ENG_ENOMEM;
	}
	rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		json_t *r = json_array_get(resp, i);
		if (!json_is_string(r)) {
			/* a malformed completion rejects the whole record */
			rc = eng_record_add_error(rec, ENG_REC_BAD_TYPE,
			                          "completions.response[%zu] must be a string", i);
			rc = rc < 0 ? rc : 1;
		} else if (is_blank(json_string_value(r)))
			rc = eng_record_add_error(
			    rec, ENG_REC_EMPTY_FIELD,
			    "completions.response[%zu] is empty; it was left out", i);
		else
			ok[i] = rating_mean(json_array_get(ann, i), &score[i]) > 0;
	}
	/* every pair copies the extra fields: bound the total before making any */
	size_t npairs = 0, base_len = 0;
	for (size_t i = 0; i < n && rc == 0; i++)
		for (size_t j = i + 1; j < n; j++)
			npairs += ok[i] && ok[j] && score[i] != score[j];
	if (rc == 0 && npairs > 1 && json_object_size(base)) {
		char *bs = json_dumps(base, JSON_COMPACT);
		if (!bs) {
			rc = ENG_ENOMEM;
		} else {
			base_len = strlen(bs);
			free(bs);
			if (npairs * (base_len + 128) > ENG_RECORD_MAX_META_BYTES) {
				rc = eng_record_add_error(
				    rec, ENG_REC_TOO_MANY_PAIRS,
				    "the record's %zu pairs would each copy its %zu bytes of extra "
				    "fields (over %zu MiB in all); drop large extra fields or "
				    "split "
				    "the record",
				    npairs, base_len, ENG_RECORD_MAX_META_BYTES >> 20);
				rc = rc < 0 ? rc : 1;
			}
		}
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		for (size_t j = i + 1; j < n && rc == 0; j++) {
			if (!ok[i] || !ok[j] || score[i] == score[j])
				continue; /* unrated or tie: no preference */
			size_t c = score[i] > score[j] ? i : j, r = c == i ? j : i;
			const char *tc = json_string_value(json_array_get(resp, c));
			const char *tr = json_string_value(json_array_get(resp, r));
			if (same_text(tc, tr)) {
				rc = eng_record_add_error(
				    rec, ENG_REC_IDENTICAL,
				    "completions %zu and %zu have the same text but "
				    "different scores; that pair was left out",
				    c, r);
				continue;
			}
			size_t idn = strlen(id) + 48;
			char *pid = malloc(idn);
			json_t *m = json_copy(base);
			if (!pid || !m) {
				free(pid);
				json_decref(m);
				rc = ENG_ENOMEM;
				break;
			}
			snprintf(pid, idn, "%s#%zu>%zu", id, c, r);
			json_t *mc = model ? json_array_get(model, c) : NULL;
			json_t *mr = model ? json_array_get(model, r) : NULL;
			if (mc)
				json_object_set(m, "chosen_model", mc);
			if (mr)
				json_object_set(m, "rejected_model", mr);
			json_object_set_new(m, "chosen_score", json_real(score[c]));
			json_object_set_new(m, "rejected_score", json_real(score[r]));
			int oom = 0;
			char *ms = dump_meta(m, &oom);
			json_decref(m);
			if (oom) {
				free(pid);
				rc = ENG_ENOMEM;
				break;
			}
			rc = add_pair(rec, pid, tc, tr, ms);
		}
	}
	free(score);
	free(ok);
	return rc < 0 ? rc : 0;
}

int eng_record_parse(eng_record *rec, const char *line, size_t len, const char *stem,
                     uint64_t lineno)
{
	json_error_t je;
	rec->root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
	if (!rec->root) {
		switch (json_error_code(&je)) {
		case json_error_out_of_memory:
			return ENG_ENOMEM;
		case json_error_invalid_utf8:
			return eng_record_add_error(rec, ENG_REC_INVALID_UTF8,
			                            "the line is not valid UTF-8 (near byte %d); "
			                            "re-encode the file as UTF-8",
			                            je.position);
		case json_error_null_character:
		case json_error_null_byte_in_key:
			return eng_record_add_error(
			    rec, ENG_REC_BAD_JSON,
			    "a string contains \\u0000 (NUL), which mmaudit "
			    "does not accept; remove it");
		case json_error_duplicate_key:
			return eng_record_add_error(rec, ENG_REC_BAD_JSON,
			                            "%s; keep one value per key", je.text);
		case json_error_stack_overflow:
			return eng_record_add_error(rec, ENG_REC_BAD_JSON,
			                            "JSON nested too deeply (limit %d levels)",
			                            JSON_PARSER_MAX_DEPTH);
		default:
			return eng_record_add_error(
			    rec, ENG_REC_BAD_JSON,
			    "malformed JSON at column %d: %s; fix or remove "
			    "the line",
			    je.column, je.text);
		}
	}
	if (!json_is_object(rec->root))
		return eng_record_add_error(
		    rec, ENG_REC_NOT_OBJECT,
		    "the line is valid JSON but not an object; each line must "
		    "be one {...} record");

	const char *pkey = "prompt", *ikey = "image";
	json_t *root = rec->root;
	json_t *pv = get_alias(root, prompt_keys, &pkey);
	json_t *iv = get_alias(root, image_keys, &ikey);
	json_t *idv = json_object_get(root, "id");
	json_t *comp = json_object_get(root, "completions");
	const char *used[8] = {pkey, ikey, "id", NULL};
	int rc;

	/* id: given (string or integer) or derived from the file stem and line. */
	char idbuf[64];
	const char *id = idbuf;
	if (!idv || json_is_null(idv)) {
		snprintf(idbuf, sizeof idbuf, "%.40s:%llu", stem ? stem : "line",
		         (unsigned long long)lineno);
	} else if (json_is_integer(idv)) {
		snprintf(idbuf, sizeof idbuf, "%" JSON_INTEGER_FORMAT, json_integer_value(idv));
	} else if (json_is_string(idv)) {
		id = json_string_value(idv);
		if (is_blank(id))
			return eng_record_add_error(
			    rec, ENG_REC_EMPTY_FIELD,
			    "field \"id\" is empty; give a unique id or drop "
			    "the field to get file:line");
	} else {
		return eng_record_add_error(rec, ENG_REC_BAD_TYPE,
		                            "field \"id\" must be a string or an integer");
	}

	if ((rc = text_field(rec, pv, "prompt", &rec->prompt)) <= 0)
		return rc;
	if (iv && !json_is_null(iv)) {
		if (!json_is_string(iv))
			return eng_record_add_error(
			    rec, ENG_REC_BAD_TYPE,
			    "field \"%s\" must be a string (a path or a data: "
			    "URI of one image)",
			    ikey);
		if (*json_string_value(iv))
			rec->image = json_string_value(iv);
	}

	if (comp) {
		used[3] = "completions";
		json_t *base = leftover(root, used);
		if (!base)
			return ENG_ENOMEM;
		rc = parse_multi(rec, comp, id, base);
		json_decref(base);
		return rc;
	}

	const char *chosen = NULL, *rejected = NULL;
	if ((rc = text_field(rec, json_object_get(root, "chosen"), "chosen", &chosen)) <= 0)
		return rc;
	if ((rc = text_field(rec, json_object_get(root, "rejected"), "rejected", &rejected)) <= 0)
		return rc;
	if (same_text(chosen, rejected))
		return eng_record_add_error(rec, ENG_REC_IDENTICAL,
		                            "chosen and rejected are the same text, so the pair "
		                            "states no preference; drop or fix it");
	used[3] = "chosen";
	used[4] = "rejected";
	char *pid = strdup(id);
	int oom = 0;
	json_t *m = NULL;
	char *ms = NULL;
	if (json_object_size(root) > (size_t)(3 + (iv != NULL) + (idv != NULL))) {
		m = leftover(root, used);
		ms = m ? dump_meta(m, &oom) : NULL;
		oom |= !m;
		json_decref(m);
	}
	if (!pid || oom) {
		free(pid);
		free(ms);
		return ENG_ENOMEM;
	}
	return add_pair(rec, pid, chosen, rejected, ms);
}
