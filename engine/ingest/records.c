/* records.c - JSON record shapes -> preference pairs. No I/O, no images, no SQL. */
#include "records.h"

#include "answers.h"
#include "err.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const code_names[ENG_REC_NCODES] = {
    "bad-json",
    "not-object",
    "missing-field",
    "empty-field",
    "identical-answers",
    "invalid-utf8",
    "bad-type",
    "duplicate-id",
    "missing-image",
    "corrupt-image",
    "image-too-large",
    "unsupported-image",
    "line-too-long",
    "tie-verdict",
    "undecided-verdict",
    "dialogue-mismatch",
    "unsafe-archive-member",
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
	free(rec->prompt_buf);
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
		    "field \"%s\" is missing (pairwise records need prompt or question, chosen "
		    "and rejected); name the field that holds it with --map ROLE=FIELD%s",
		    name,
		    strstr(name, "prompt") || !strcmp(name, "question")
		        ? " or give a fixed prompt with --prompt-text TEXT"
		        : "");
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

/* Mean of the numeric ratings in annotation a; returns the count of ratings used, or -1 when
 * their sum overflows (no finite mean). A string rating is a decimal number ("4", " 4.5 "):
 * strtod's hex ("0x10"), inf and nan are not ratings. */
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
			size_t lead = strspn(s, " ");
			if (s[lead + strspn(s + lead, "0123456789.eE+-")] != '\0' &&
			    s[lead + strspn(s + lead, "0123456789.eE+-")] != ' ')
				continue;
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
	if (n && !isfinite(sum))
		return -1;
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
		else if ((ok[i] = rating_mean(json_array_get(ann, i), &score[i])) < 0) {
			ok[i] = 0; /* a false pair would be made from an infinite mean */
			rc = eng_record_add_error(
			    rec, ENG_REC_BAD_TYPE,
			    "completions.annotations[%zu]: the ratings' sum overflows (no finite "
			    "mean); fix the ratings",
			    i);
			rc = rc < 0 ? rc : 1;
		}
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

/* ---- shapes, names and field maps ---------------------------------------------------------- */

static const char *const shape_names[ENG_SHAPE_NSHAPES] = {
    "auto", "pairwise", "multi", "hh", "sharegpt", "judged", "mapped",
};

const char *eng_rec_shape_name(eng_rec_shape s)
{
	return (unsigned)s < ENG_SHAPE_NSHAPES ? shape_names[s] : "unknown";
}

int eng_rec_shape_parse(const char *name, eng_rec_shape *out)
{
	for (int i = 0; i < ENG_SHAPE_NSHAPES; i++)
		if (!strcmp(name, shape_names[i])) {
			*out = (eng_rec_shape)i;
			return 0;
		}
	if (!strcmp(name, "multi-completion") || !strcmp(name, "vlfeedback"))
		return *out = ENG_SHAPE_MULTI, 0;
	if (!strcmp(name, "hh-rlhf"))
		return *out = ENG_SHAPE_HH, 0;
	return -1;
}

void eng_rec_map_clear(eng_rec_map *map)
{
	if (!map)
		return;
	char **all[] = {&map->chosen,   &map->rejected,  &map->prompt,      &map->image,
	                &map->id,       &map->answer_a,  &map->answer_b,    &map->verdict,
	                &map->position, &map->images,    &map->prompt_text, &map->verdict_field,
	                &map->join_key, &map->join_model};
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		free(*all[i]);
	for (size_t i = 0; i < map->nvmap; i++)
		free(map->vmap[i].value);
	free(map->vmap);
	memset(map, 0, sizeof *map);
}

static const char *const role_names[] = {"chosen",   "rejected", "prompt",  "image",    "id",
                                         "answer_a", "answer_b", "verdict", "position", "images"};
enum { NROLES = sizeof role_names / sizeof role_names[0] };

static char **role_slot(eng_rec_map *m, size_t r)
{
	char **slots[NROLES] = {&m->chosen,   &m->rejected, &m->prompt,  &m->image,    &m->id,
	                        &m->answer_a, &m->answer_b, &m->verdict, &m->position, &m->images};
	return slots[r];
}

int eng_rec_map_parse(const char *spec, eng_rec_map *map, char *msg, size_t n)
{
	memset(map, 0, sizeof *map);
	const char *p = spec;
	int any = 0;
	while (*p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		if (!eq || eq == p || eq + 1 == p + len) {
			snprintf(msg, n, "--map: '%.*s' is not ROLE=FIELD", (int)len, p);
			goto bad;
		}
		size_t klen = (size_t)(eq - p);
		char **slot = NULL;
		for (size_t r = 0; r < NROLES; r++)
			if (strlen(role_names[r]) == klen && !memcmp(p, role_names[r], klen))
				slot = role_slot(map, r);
		if (!slot) {
			snprintf(
			    msg, n,
			    "--map: unknown role '%.*s' (roles: chosen, rejected, prompt, image, "
			    "id, answer_a, answer_b, verdict, position, images)",
			    (int)klen, p);
			goto bad;
		}
		if (*slot) {
			snprintf(msg, n, "--map: role '%.*s' given twice", (int)klen, p);
			goto bad;
		}
		if (!(*slot = strndup(eq + 1, len - klen - 1))) {
			eng_rec_map_clear(map);
			return ENG_ENOMEM;
		}
		any = 1;
		p += len + (end ? 1 : 0);
	}
	if (!any) {
		snprintf(msg, n, "--map: give at least one ROLE=FIELD");
		goto bad;
	}
	return 0;
bad:
	eng_rec_map_clear(map);
	return ENG_EINPUT;
}

/* Copy of s[0..n) without surrounding whitespace. */
static char *trimmed(const char *s, size_t n)
{
	while (n && strchr(" \t\r\n", *s))
		s++, n--;
	while (n && strchr(" \t\r\n", s[n - 1]))
		n--;
	return strndup(s, n);
}

/* Adds "VALUE=SIDE" (s[0..len), split at its last '='). */
static int add_verdict(eng_rec_map *map, const char *s, size_t len, const char *where, char *msg,
                       size_t n)
{
	const char *eq = NULL;
	for (size_t i = 0; i < len; i++)
		if (s[i] == '=')
			eq = s + i;
	char side[16];
	size_t sl = eq ? (size_t)(s + len - eq - 1) : 0;
	if (!eq || eq == s || sl == 0 || sl >= sizeof side) {
		snprintf(msg, n,
		         "--verdict-map%s: '%.*s' is not VALUE=SIDE (SIDE: a, b, tie, undecided)",
		         where, (int)(len > 80 ? 80 : len), s);
		return ENG_EINPUT;
	}
	memcpy(side, eq + 1, sl);
	side[sl] = '\0';
	char *t = trimmed(side, sl);
	if (!t)
		return ENG_ENOMEM;
	int v = !strcasecmp(t, "a") || !strcmp(t, "1")   ? 1
	        : !strcasecmp(t, "b") || !strcmp(t, "2") ? 2
	        : !strcasecmp(t, "tie")                  ? 0
	        : !strcasecmp(t, "undecided")            ? -1
	                                                 : -2;
	free(t);
	if (v == -2) {
		snprintf(msg, n, "--verdict-map%s: side '%s' is not a, b, tie or undecided", where,
		         side);
		return ENG_EINPUT;
	}
	eng_rec_verdict *nv = realloc(map->vmap, (map->nvmap + 1) * sizeof *nv);
	if (!nv)
		return ENG_ENOMEM;
	map->vmap = nv;
	if (!(nv[map->nvmap].value = trimmed(s, (size_t)(eq - s))))
		return ENG_ENOMEM;
	nv[map->nvmap++].side = v;
	return 0;
}

int eng_rec_map_add_verdicts(eng_rec_map *map, const char *spec, char *msg, size_t n)
{
	int rc = 0;
	if (spec[0] != '@') {
		for (const char *p = spec; *p && !rc;) {
			const char *end = strchr(p, ',');
			size_t len = end ? (size_t)(end - p) : strlen(p);
			rc = add_verdict(map, p, len, "", msg, n);
			p += len + (end ? 1 : 0);
		}
		return rc;
	}
	FILE *f = fopen(spec + 1, "r");
	if (!f) {
		snprintf(msg, n, "--verdict-map: cannot open '%s': %s", spec + 1, strerror(errno));
		return ENG_EINPUT;
	}
	char line[1024], where[300];
	unsigned lineno = 0;
	while (!rc && fgets(line, sizeof line, f)) {
		lineno++;
		size_t len = strcspn(line, "\r\n");
		const char *t = line + strspn(line, " \t");
		if (!*t || *t == '\n' || *t == '\r' || *t == '#')
			continue;
		snprintf(where, sizeof where, " %.250s:%u", spec + 1, lineno);
		rc = add_verdict(map, line, len, where, msg, n);
	}
	fclose(f);
	return rc;
}

int eng_rec_map_set_text(eng_rec_map *map, const char *prompt_text, const char *verdict_field,
                         const char *join, char *msg, size_t n)
{
	if (prompt_text) {
		if (is_blank(prompt_text)) {
			snprintf(msg, n,
			         "--prompt-text is empty; give the prompt the records share");
			return ENG_EINPUT;
		}
		free(map->prompt_text);
		if (!(map->prompt_text = strdup(prompt_text)))
			return ENG_ENOMEM;
	}
	if (verdict_field) {
		free(map->verdict_field);
		if (!(map->verdict_field = strdup(verdict_field)))
			return ENG_ENOMEM;
	}
	if (join) {
		const char *comma = strchr(join, ',');
		if (!comma || comma == join || !comma[1] || strchr(comma + 1, ',')) {
			snprintf(msg, n,
			         "--join takes KEY,MODEL (e.g. question_id,model), not '%s'", join);
			return ENG_EINPUT;
		}
		free(map->join_key);
		free(map->join_model);
		map->join_key = strndup(join, (size_t)(comma - join));
		map->join_model = strdup(comma + 1);
		if (!map->join_key || !map->join_model)
			return ENG_ENOMEM;
	}
	return 0;
}

int eng_rec_map_used(const eng_rec_map *map)
{
	if (!map)
		return 0;
	for (size_t r = 0; r < NROLES; r++)
		if (*role_slot((eng_rec_map *)map, r))
			return 1;
	return map->prompt_text || map->verdict_field || map->nvmap || map->answers ||
	       map->join_key;
}

static int cmp_verdict(const void *a, const void *b)
{
	const eng_rec_verdict *x = a, *y = b;
	int d = strcmp(x->value, y->value);
	return d ? d : x->side - y->side;
}

/* Appends s to *buf (size *len, capacity *cap); -1 when out of memory. */
static int cat(char **buf, size_t *len, size_t *cap, const char *s)
{
	size_t k = strlen(s);
	if (*len + k + 1 > *cap) {
		size_t nc = (*len + k + 1) * 2;
		char *nb = realloc(*buf, nc);
		if (!nb)
			return -1;
		*buf = nb;
		*cap = nc;
	}
	memcpy(*buf + *len, s, k + 1);
	*len += k;
	return 0;
}

char *eng_rec_map_format(const eng_rec_map *map)
{
	size_t len = 0, cap = 64;
	char *b = malloc(cap);
	if (!b)
		return NULL;
	b[0] = '\0';
	if (!map)
		return b;
	int bad = 0;
	for (size_t r = 0; r < NROLES; r++) {
		const char *v = *role_slot((eng_rec_map *)map, r);
		if (!v)
			continue;
		bad |= cat(&b, &len, &cap, len ? "," : "") || cat(&b, &len, &cap, role_names[r]) ||
		       cat(&b, &len, &cap, "=") || cat(&b, &len, &cap, v);
	}
	const char *const extra[][2] = {{" prompt-text=", map->prompt_text},
	                                {" verdict-field=", map->verdict_field},
	                                {" join-key=", map->join_key},
	                                {" join-model=", map->join_model}};
	for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++)
		if (extra[i][1])
			bad |= cat(&b, &len, &cap, extra[i][0]) || cat(&b, &len, &cap, extra[i][1]);
	if (map->nvmap) {
		eng_rec_verdict *sorted = malloc(map->nvmap * sizeof *sorted);
		if (!sorted) {
			free(b);
			return NULL;
		}
		memcpy(sorted, map->vmap, map->nvmap * sizeof *sorted);
		qsort(sorted, map->nvmap, sizeof *sorted, cmp_verdict);
		bad |= cat(&b, &len, &cap, " verdict-map=");
		for (size_t i = 0; i < map->nvmap; i++) {
			char side[16];
			snprintf(side, sizeof side, "=%d", sorted[i].side);
			bad |= cat(&b, &len, &cap, i ? "|" : "") ||
			       cat(&b, &len, &cap, sorted[i].value) || cat(&b, &len, &cap, side);
		}
		free(sorted);
	}
	if (bad) {
		free(b);
		return NULL;
	}
	return b;
}

/* Value at a dotted path ("a.b.0"): the whole path as one key first, then segment by segment (a
 * numeric segment indexes an array). NULL when absent. */
static json_t *path_get(json_t *root, const char *path)
{
	json_t *v = json_object_get(root, path);
	if (v || !strchr(path, '.'))
		return v;
	v = root;
	for (const char *p = path; v;) {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);
		if (json_is_object(v)) {
			v = json_object_getn(v, p, len);
		} else if (json_is_array(v) && len && strspn(p, "0123456789") >= len) {
			v = json_array_get(v, strtoul(p, NULL, 10));
		} else {
			v = NULL;
		}
		if (!dot)
			break;
		p = dot + 1;
	}
	return v;
}

/* The top-level key a path reads from (so it is left out of the metadata). */
static void path_top(const char *path, json_t *root, char *out, size_t n)
{
	size_t len = json_object_get(root, path) ? strlen(path) : strcspn(path, ".");
	snprintf(out, n, "%.*s", (int)len, path);
}

static const char *const conv_keys[] = {"conversations", "messages", NULL};
static const char *const verdict_keys[] = {"winner",    "verdict", "preference", "judge_output",
                                           "judgement", "label",   "choice",     NULL};
static const char *const answer_keys[][2] = {
    {"answer_1", "answer_2"},        {"answer1", "answer2"},       {"answer_a", "answer_b"},
    {"response_1", "response_2"},    {"response_a", "response_b"}, {"output_1", "output_2"},
    {"completion_1", "completion_2"}};
enum { NANSWER_KEYS = sizeof answer_keys / sizeof answer_keys[0] };

static int judged_keys(json_t *o, size_t *which, const char **vkey)
{
	for (size_t i = 0; i < NANSWER_KEYS; i++) {
		if (json_object_get(o, answer_keys[i][0]) &&
		    json_object_get(o, answer_keys[i][1])) {
			*which = i;
			return get_alias(o, verdict_keys, vkey) != NULL;
		}
	}
	return 0;
}

static const char *const hh_marker = "\n\nAssistant:";

eng_rec_shape eng_record_detect(json_t *o)
{
	const char *k;
	size_t w;
	if (json_object_get(o, "completions"))
		return ENG_SHAPE_MULTI;
	json_t *ch = json_object_get(o, "chosen"), *rj = json_object_get(o, "rejected");
	json_t *conv = get_alias(o, conv_keys, &k);
	if (json_is_array(conv) && ch && rj)
		return ENG_SHAPE_SHAREGPT;
	if (judged_keys(o, &w, &k))
		return ENG_SHAPE_JUDGED;
	if (json_is_string(ch) && json_is_string(rj) && !get_alias(o, prompt_keys, &k) &&
	    strstr(json_string_value(ch), hh_marker) && strstr(json_string_value(rj), hh_marker))
		return ENG_SHAPE_HH;
	return ENG_SHAPE_PAIRWISE;
}

/* ---- per-shape parsers ----------------------------------------------------------------------- */

/* Adds one pair chosen/rejected with the leftover fields (not in used) plus `extra` as metadata. */
static int emit_pair(eng_record *rec, const char *id, const char *chosen, const char *rejected,
                     const char *const *used, json_t *extra)
{
	if (same_text(chosen, rejected))
		return eng_record_add_error(rec, ENG_REC_IDENTICAL,
		                            "chosen and rejected are the same text, so the pair "
		                            "states no preference; drop or fix it");
	json_t *m = leftover(rec->root, used);
	int oom = !m || (extra && json_object_update(m, extra));
	char *ms = oom ? NULL : dump_meta(m, &oom);
	json_decref(m);
	char *pid = strdup(id);
	if (!pid || oom) {
		free(pid);
		free(ms);
		return ENG_ENOMEM;
	}
	return add_pair(rec, pid, chosen, rejected, ms);
}

/* Lower-case letters and digits of s (at most n - 1), the rest dropped: "Answer_1" -> "answer1". */
static void squash(const char *s, char *out, size_t n)
{
	size_t o = 0;
	for (; *s && o + 1 < n; s++) {
		char c = *s;
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '>' || c == '<' ||
		    c == '=')
			out[o++] = c;
	}
	out[o] = '\0';
}

/* 1 or 2 (the answer the verdict prefers), 0 for a tie, -1 when undecided or unknown. */
static int verdict_side(json_t *v, const char *k1, const char *k2)
{
	if (json_is_integer(v)) {
		json_int_t x = json_integer_value(v);
		return x == 1 ? 1 : x == 2 ? 2 : -1;
	}
	if (!json_is_string(v))
		return -1;
	char s[64], a1[32], a2[32];
	squash(json_string_value(v), s, sizeof s);
	squash(k1, a1, sizeof a1);
	squash(k2, a2, sizeof a2);
	static const char *const first[] = {
	    "1",         "a",          "answer1", "answera", "model1", "modela", "response1",
	    "responsea", "assistanta", "output1", "first",   "left",   NULL};
	static const char *const second[] = {
	    "2",         "b",          "answer2", "answerb", "model2", "modelb", "response2",
	    "responseb", "assistantb", "output2", "second",  "right",  NULL};
	static const char *const ties[] = {
	    "tie",         "draw",       "equal",    "same",    "both",    "a=b", "b=a",
	    "tiebothgood", "tiebothbad", "bothgood", "bothbad", "neutral", NULL};
	if (!strcmp(s, a1))
		return 1;
	if (!strcmp(s, a2))
		return 2;
	for (size_t i = 0; first[i]; i++)
		if (!strcmp(s, first[i]))
			return 1;
	for (size_t i = 0; second[i]; i++)
		if (!strcmp(s, second[i]))
			return 2;
	for (size_t i = 0; ties[i]; i++)
		if (!strcmp(s, ties[i]))
			return 0;
	/* arena style "A>B", "A>>B", "B<A" */
	if (!strcmp(s, "a>b") || !strcmp(s, "a>>b") || !strcmp(s, "b<a") || !strcmp(s, "b<<a"))
		return 1;
	if (!strcmp(s, "b>a") || !strcmp(s, "b>>a") || !strcmp(s, "a<b") || !strcmp(s, "a<<b"))
		return 2;
	return -1;
}

/* The member of a per-metric verdict: in object o, the key named f or ending in "/f" (*name). */
static json_t *metric_member(json_t *o, const char *f, const char **name)
{
	json_t *v = json_object_get(o, f);
	if (v) {
		*name = f;
		return v;
	}
	const char *k;
	size_t fl = strlen(f);
	json_object_foreach(o, k, v)
	{
		size_t kl = strlen(k);
		if (kl > fl && k[kl - fl - 1] == '/' && !strcmp(k + kl - fl, f)) {
			*name = k;
			return v;
		}
	}
	return NULL;
}

/* The side a --verdict-map entry gives v (1, 2, 0 tie, -1 undecided), or -2 when none matches. */
static int mapped_side(const eng_rec_map *map, json_t *v)
{
	char num[32];
	const char *t = json_is_string(v) ? json_string_value(v) : NULL;
	if (json_is_integer(v))
		snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v)), t = num;
	if (!map || !t)
		return -2;
	t += strspn(t, " \t\r\n");
	size_t tl = strlen(t);
	while (tl && strchr(" \t\r\n", t[tl - 1]))
		tl--;
	for (size_t i = 0; i < map->nvmap; i++)
		if (strlen(map->vmap[i].value) == tl && !strncasecmp(map->vmap[i].value, t, tl))
			return map->vmap[i].side;
	return -2;
}

/* "<name> is ... better" (ImageInWords' side-by-side ratings) names answer name: 1 when it does. */
static int names_better(const char *sq, const char *name)
{
	char a[64];
	squash(name, a, sizeof a);
	size_t al = strlen(a), sl = strlen(sq);
	return al && !strncmp(sq, a, al) && !strncmp(sq + al, "is", 2) && sl >= al + 8 &&
	       !strcmp(sq + sl - 6, "better");
}

/* Answer texts from the join input: 1 with *t1, *t2 (and the prompt when the record has none), 0
 * after recording an error, <0 ENOMEM. */
static int joined_answers(eng_record *rec, const eng_rec_map *map, const char **t1, const char **t2)
{
	json_t *root = rec->root;
	char ka[160], kb[160], key[64];
	snprintf(ka, sizeof ka, "%s_a", map->join_model);
	snprintf(kb, sizeof kb, "%s_b", map->join_model);
	json_t *kv = json_object_get(root, map->join_key);
	json_t *ma = json_object_get(root, ka), *mb = json_object_get(root, kb);
	const char *ks = json_is_string(kv) ? json_string_value(kv) : NULL;
	if (json_is_integer(kv))
		snprintf(key, sizeof key, "%" JSON_INTEGER_FORMAT, json_integer_value(kv)),
		    ks = key;
	if (!ks || !json_is_string(ma) || !json_is_string(mb))
		return eng_record_add_error(
		           rec, ENG_REC_MISSING_FIELD,
		           "the judgement needs \"%s\", \"%s\" and \"%s\" to find its answers in "
		           "--answers; name them with --join KEY,MODEL",
		           map->join_key, ka, kb) < 0
		           ? ENG_ENOMEM
		           : 0;
	const char *pa = NULL, *pb = NULL;
	*t1 = eng_answers_find(map->answers, ks, json_string_value(ma), &pa);
	*t2 = eng_answers_find(map->answers, ks, json_string_value(mb), &pb);
	if (!*t1 || !*t2)
		return eng_record_add_error(
		           rec, ENG_REC_MISSING_FIELD,
		           "no answer of model '%.80s' for %s '%.80s' in --answers; add that "
		           "model's answer file to --answers",
		           json_string_value(*t1 ? mb : ma), map->join_key, ks) < 0
		           ? ENG_ENOMEM
		           : 0;
	if (is_blank(*t1) || is_blank(*t2))
		return eng_record_add_error(
		           rec, ENG_REC_EMPTY_FIELD,
		           "the --answers answer of model '%.80s' for %s '%.80s' is empty; fill it "
		           "in or drop the judgement",
		           json_string_value(is_blank(*t1) ? ma : mb), map->join_key, ks) < 0
		           ? ENG_ENOMEM
		           : 0;
	if (!rec->prompt)
		rec->prompt = pa ? pa : pb;
	return 1;
}

/* Judged records: two answers and a verdict, found by the built-in names or by map (roles
 * answer_a, answer_b, verdict; verdict_field; vmap; the join input). */
static int parse_judged(eng_record *rec, const char *id, const char **used, size_t nused,
                        const eng_rec_map *map, char (*mtop)[128])
{
	json_t *root = rec->root;
	const char *vkey = NULL, *k1 = NULL, *k2 = NULL, *a1 = NULL, *a2 = NULL;
	int rc;
	if (map && (map->answer_a || map->answer_b)) {
		k1 = map->answer_a ? map->answer_a : "answer_a";
		k2 = map->answer_b ? map->answer_b : "answer_b";
	} else {
		for (size_t i = 0; i < NANSWER_KEYS && !k1; i++)
			if (json_object_get(root, answer_keys[i][0]) &&
			    json_object_get(root, answer_keys[i][1]))
				k1 = answer_keys[i][0], k2 = answer_keys[i][1];
		if (!k1 && !(map && map->answers))
			return eng_record_add_error(
			    rec, ENG_REC_MISSING_FIELD,
			    "judged records need two answers (answer_1/answer_2 or similar) and a "
			    "verdict; name other fields with --map answer_a=FIELD,answer_b=FIELD,"
			    "verdict=FIELD");
	}
	if (k1) {
		if ((rc = text_field(rec, path_get(root, k1), k1, &a1)) <= 0 ||
		    (rc = text_field(rec, path_get(root, k2), k2, &a2)) <= 0)
			return rc;
	} else if ((rc = joined_answers(rec, map, &a1, &a2)) <= 0) {
		return rc;
	}
	if (!rec->prompt && map && map->prompt_text)
		rec->prompt = map->prompt_text;
	if (!rec->prompt)
		return eng_record_add_error(rec, ENG_REC_MISSING_FIELD,
		                            "field \"prompt\" is missing; name it with --map "
		                            "prompt=FIELD or give one with --prompt-text TEXT");
	json_t *v = NULL;
	if (map && map->verdict) {
		v = path_get(root, vkey = map->verdict);
	} else {
		vkey = NULL;
		v = get_alias(root, verdict_keys, &vkey);
		if (!v && map && map->answers)
			v = json_object_get(root, vkey = "score");
	}
	const char *metric = NULL;
	if (map && map->verdict_field) {
		json_t *o = v && json_is_object(v) ? v : v ? NULL : root;
		v = o ? metric_member(o, map->verdict_field, &metric) : NULL;
		if (!v)
			return eng_record_add_error(
			    rec, ENG_REC_MISSING_FIELD,
			    "no verdict for metric \"%s\" (--verdict-field) in %s%s%s; check the "
			    "metric name",
			    map->verdict_field, o == root ? "the record" : "field \"",
			    o == root ? ""
			    : vkey    ? vkey
			              : "verdict",
			    o == root ? "" : "\"");
		if (!vkey)
			vkey = metric;
	}
	if (!v && !vkey)
		return eng_record_add_error(
		    rec, ENG_REC_MISSING_FIELD,
		    "no verdict field (winner, verdict, preference, judge_output, label, choice); "
		    "name it with --map verdict=FIELD (per-metric ratings: --verdict-field "
		    "METRIC)");
	int side = mapped_side(map, v);
	if (side == -2) {
		side = verdict_side(v, k1 ? k1 : "model_a", k2 ? k2 : "model_b");
		char sq[96];
		if (side < 0 && json_is_string(v) && k1) {
			squash(json_string_value(v), sq, sizeof sq);
			side = names_better(sq, k1) ? 1 : names_better(sq, k2) ? 2 : side;
		}
	}
	char shown[96];
	if (json_is_string(v))
		snprintf(shown, sizeof shown, "\"%.80s\"", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(shown, sizeof shown, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	else
		snprintf(shown, sizeof shown, "%s",
		         !v || json_is_null(v) ? "null" : "a non-text value");
	const char *vname = metric ? metric : vkey;
	if (side == 0)
		return eng_record_add_error(rec, ENG_REC_TIE_VERDICT,
		                            "verdict %s (field \"%s\") is a tie: no preference, "
		                            "the pair was skipped (if that value names a side, say "
		                            "so with --verdict-map 'VALUE=a')",
		                            shown, vname);
	if (side < 0)
		return eng_record_add_error(
		    rec, ENG_REC_UNDECIDED_VERDICT,
		    "verdict %s (field \"%s\") names neither answer: undecided, the pair was "
		    "skipped (accepted: Answer1/Answer2, model_1/model_2, A/B, 1/2, A>B/B>A, "
		    "'<answer field> is better'; map other values with --verdict-map "
		    "'VALUE=a,...')",
		    shown, vname);
	if (k1) {
		path_top(k1, root, mtop[3], sizeof mtop[3]);
		path_top(k2, root, mtop[4], sizeof mtop[4]);
		used[nused++] = mtop[3];
		used[nused++] = mtop[4];
	}
	used[nused++] = "chosen"; /* derived copies of the answers, when present */
	used[nused++] = "rejected";
	used[nused] = NULL;
	json_t *extra = json_pack("{s:i}", "chosen_position", side);
	if (!extra)
		return ENG_ENOMEM;
	rc = emit_pair(rec, id, side == 1 ? a1 : a2, side == 1 ? a2 : a1, used, extra);
	json_decref(extra);
	return rc;
}

/* Offset of the last hh_marker in s, or -1. */
static long last_turn(const char *s)
{
	long at = -1;
	for (const char *p = s; (p = strstr(p, hh_marker)); p++)
		at = (long)(p - s);
	return at;
}

static const char *skip_ws(const char *s)
{
	return s + strspn(s, " \t\r\n");
}

static int parse_hh(eng_record *rec, const char *id, const char **used, size_t nused)
{
	const char *c = NULL, *r = NULL;
	int rc;
	json_t *root = rec->root;
	if ((rc = text_field(rec, json_object_get(root, "chosen"), "chosen", &c)) <= 0 ||
	    (rc = text_field(rec, json_object_get(root, "rejected"), "rejected", &r)) <= 0)
		return rc;
	long ic = last_turn(c), ir = last_turn(r);
	if (ic < 0 || ir < 0)
		return eng_record_add_error(
		    rec, ENG_REC_MISSING_FIELD,
		    "%s has no \"\\n\\nAssistant:\" turn; HH dialogues end with the assistant's "
		    "answer",
		    ic < 0 ? "chosen" : "rejected");
	if (ic != ir || memcmp(c, r, (size_t)ic) != 0)
		return eng_record_add_error(
		    rec, ENG_REC_DIALOGUE_MISMATCH,
		    "chosen and rejected differ before their last Assistant turn, so they do not "
		    "answer the same prompt; fix or drop the record");
	const char *p = skip_ws(c);
	size_t plen = (size_t)(c + ic - p);
	if (!plen || (rec->prompt_buf = strndup(p, plen), !rec->prompt_buf))
		return plen ? ENG_ENOMEM
		            : eng_record_add_error(rec, ENG_REC_EMPTY_FIELD,
		                                   "the dialogue has no turn before the "
		                                   "last Assistant answer, so there is no prompt");
	rec->prompt = rec->prompt_buf;
	const char *ac = skip_ws(c + ic + strlen(hh_marker));
	const char *ar = skip_ws(r + ir + strlen(hh_marker));
	if (!*ac || !*ar)
		return eng_record_add_error(rec, ENG_REC_EMPTY_FIELD,
		                            "the last Assistant turn of %s is empty; fill it in or "
		                            "drop the record",
		                            *ac ? "rejected" : "chosen");
	used[nused++] = "chosen";
	used[nused++] = "rejected";
	used[nused] = NULL;
	return emit_pair(rec, id, ac, ar, used, NULL);
}

/* Text of a message: a string, or an object's value|content string; arrays use their last item. */
static const char *message_text(json_t *m, const char **role)
{
	if (json_is_array(m))
		m = json_array_get(m, json_array_size(m) ? json_array_size(m) - 1 : 0);
	*role = NULL;
	if (json_is_string(m))
		return json_string_value(m);
	if (!json_is_object(m))
		return NULL;
	json_t *rv = json_object_get(m, "from");
	if (!rv)
		rv = json_object_get(m, "role");
	*role = json_is_string(rv) ? json_string_value(rv) : NULL;
	json_t *t = json_object_get(m, "value");
	if (!t)
		t = json_object_get(m, "content");
	return json_is_string(t) ? json_string_value(t) : NULL;
}

static const char *role_label(const char *role)
{
	if (!role)
		return "Human";
	static const char *const human[] = {"human", "user", NULL};
	static const char *const bot[] = {"gpt", "assistant", "model", "bot", "chatgpt", NULL};
	for (size_t i = 0; human[i]; i++)
		if (!strcasecmp(role, human[i]))
			return "Human";
	for (size_t i = 0; bot[i]; i++)
		if (!strcasecmp(role, bot[i]))
			return "Assistant";
	if (!strcasecmp(role, "system"))
		return "System";
	return role;
}

static int parse_sharegpt(eng_record *rec, const char *id, const char **used, size_t nused)
{
	json_t *root = rec->root;
	const char *ckey = "conversations", *role;
	json_t *conv = get_alias(root, conv_keys, &ckey);
	if (!json_is_array(conv) || !json_array_size(conv))
		return eng_record_add_error(rec, conv ? ENG_REC_BAD_TYPE : ENG_REC_MISSING_FIELD,
		                            "sharegpt records need \"conversations\": a non-empty "
		                            "array of {from, value} messages");
	size_t n = json_array_size(conv), total = 0;
	for (size_t i = 0; i < n; i++) {
		const char *t = message_text(json_array_get(conv, i), &role);
		if (!t)
			return eng_record_add_error(rec, ENG_REC_BAD_TYPE,
			                            "%s[%zu] must be {\"from\"|\"role\": ..., "
			                            "\"value\"|\"content\": \"text\"}",
			                            ckey, i);
		total += strlen(t) + strlen(role_label(role)) + 4;
	}
	if (n == 1) {
		rec->prompt = message_text(json_array_get(conv, 0), &role);
	} else {
		if (!(rec->prompt_buf = malloc(total + 1)))
			return ENG_ENOMEM;
		size_t o = 0;
		for (size_t i = 0; i < n; i++) {
			const char *t = message_text(json_array_get(conv, i), &role);
			o += (size_t)sprintf(rec->prompt_buf + o, "%s%s: %s", i ? "\n\n" : "",
			                     role_label(role), t);
		}
		rec->prompt = rec->prompt_buf;
	}
	if (is_blank(rec->prompt))
		return eng_record_add_error(
		    rec, ENG_REC_EMPTY_FIELD,
		    "the conversation is empty; fill it in or drop the record");
	const char *side[2] = {"chosen", "rejected"}, *text[2];
	for (int s = 0; s < 2; s++) {
		json_t *m = json_object_get(root, side[s]);
		if (!m)
			return eng_record_add_error(
			    rec, ENG_REC_MISSING_FIELD,
			    "field \"%s\" is missing; sharegpt records need "
			    "chosen and rejected messages",
			    side[s]);
		text[s] = message_text(m, &role);
		if (!text[s])
			return eng_record_add_error(
			    rec, ENG_REC_BAD_TYPE,
			    "field \"%s\" must be a message {from, value} or "
			    "a string",
			    side[s]);
		if (is_blank(text[s]))
			return eng_record_add_error(rec, ENG_REC_EMPTY_FIELD,
			                            "field \"%s\" is empty; fill it in or drop the "
			                            "record",
			                            side[s]);
	}
	used[nused++] = ckey;
	used[nused++] = "chosen";
	used[nused++] = "rejected";
	used[nused] = NULL;
	return emit_pair(rec, id, text[0], text[1], used, NULL);
}

static int video_ext(const char *ref)
{
	static const char *const ext[] = {".mp4", ".avi", ".mov", ".mkv",  ".webm", ".m4v",
	                                  ".flv", ".wmv", ".mpg", ".mpeg", ".3gp",  NULL};
	const char *dot = strrchr(ref, '.');
	if (!dot || strchr(dot, '/'))
		return 0;
	for (size_t i = 0; ext[i]; i++)
		if (!strcasecmp(dot, ext[i]))
			return 1;
	return 0;
}

/* ---- entry points ---------------------------------------------------------------------------- */

int eng_record_parse(eng_record *rec, const char *line, size_t len, const char *stem,
                     uint64_t lineno)
{
	return eng_record_parse_ex(rec, line, len, stem, lineno, NULL);
}

int eng_record_parse_ex(eng_record *rec, const char *line, size_t len, const char *stem,
                        uint64_t lineno, const eng_rec_opts *opts)
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
	return eng_record_from_json(rec, stem, lineno, opts);
}

int eng_record_from_json(eng_record *rec, const char *stem, uint64_t lineno,
                         const eng_rec_opts *opts)
{
	json_t *root = rec->root;
	eng_rec_shape shape =
	    opts && opts->shape != ENG_SHAPE_AUTO ? opts->shape : eng_record_detect(root);
	rec->shape = shape;
	const eng_rec_map *map =
	    (shape == ENG_SHAPE_MAPPED || shape == ENG_SHAPE_JUDGED) && opts ? opts->map : NULL;
	int judged =
	    shape == ENG_SHAPE_JUDGED || (map && (map->answer_a || map->answer_b || map->verdict ||
	                                          map->answers || map->verdict_field));
	char mtop[5][128];
	const char *pkey = "prompt", *ikey = "image", *idkey = "id";
	json_t *pv, *iv, *idv;
	if (map && map->prompt) {
		pv = path_get(root, map->prompt);
		path_top(map->prompt, root, mtop[0], sizeof mtop[0]);
		pkey = mtop[0];
	} else {
		pv = get_alias(root, prompt_keys, &pkey);
	}
	if (map && map->image) {
		iv = path_get(root, map->image);
		path_top(map->image, root, mtop[1], sizeof mtop[1]);
		ikey = mtop[1];
	} else if (map && map->images) {
		json_t *imgs = path_get(root, map->images);
		iv = json_is_array(imgs) ? json_array_get(imgs, 0) : imgs;
		path_top(map->images, root, mtop[1], sizeof mtop[1]);
		ikey = mtop[1];
	} else {
		iv = get_alias(root, image_keys, &ikey);
		json_t *imgs = json_object_get(root, "images");
		if ((!iv || json_is_null(iv)) && json_is_array(imgs) && json_array_size(imgs)) {
			iv = json_array_get(imgs, 0);
			ikey = json_array_size(imgs) == 1 ? "images" : "";
		}
	}
	if (map && map->id) {
		idv = path_get(root, map->id);
		path_top(map->id, root, mtop[2], sizeof mtop[2]);
		idkey = mtop[2];
	} else {
		idv = json_object_get(root, "id");
	}
	const char *used[16] = {pkey, ikey, idkey, NULL};
	size_t nused = 3;
	int rc;

	/* id: given (string or integer) or derived from the file stem and line. */
	char idbuf[320];
	const char *id = idbuf;
	if (!idv || json_is_null(idv)) {
		snprintf(idbuf, sizeof idbuf, "%.280s:%llu", stem ? stem : "line",
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

	/* videos are not audited: say so by name rather than as a missing image */
	const char *vkey = "video";
	json_t *vv = json_object_get(root, vkey);
	if (!vv)
		vv = json_object_get(root, vkey = "videos");
	if (vv && !json_is_null(vv) && (!json_is_array(vv) || json_array_size(vv)))
		return eng_record_add_error(
		    rec, ENG_REC_UNSUPPORTED_IMAGE,
		    "video input (field \"%s\"%s%.80s%s): not supported; mmaudit audits image + "
		    "text pairs, so give a key frame as the image or drop the row",
		    vkey, json_is_string(vv) ? ": '" : "",
		    json_is_string(vv) ? json_string_value(vv) : "", json_is_string(vv) ? "'" : "");

	if (iv && !json_is_null(iv)) {
		if (!json_is_string(iv))
			return eng_record_add_error(
			    rec, ENG_REC_BAD_TYPE,
			    "field \"%s\" must be a string (a path or a data: "
			    "URI of one image)",
			    *ikey ? ikey : "images");
		if (*json_string_value(iv))
			rec->image = json_string_value(iv);
		if (rec->image && video_ext(rec->image))
			return eng_record_add_error(
			    rec, ENG_REC_UNSUPPORTED_IMAGE,
			    "'%.200s' is a video file: not supported; mmaudit audits image + text "
			    "pairs, so give a key frame as the image or drop the row",
			    rec->image);
	}

	switch (shape) {
	case ENG_SHAPE_HH:
		return parse_hh(rec, id, used, nused);
	case ENG_SHAPE_SHAREGPT:
		return parse_sharegpt(rec, id, used, nused);
	default:
		break;
	}

	if ((!pv || json_is_null(pv)) && map && (map->prompt_text || (judged && map->answers))) {
		rec->prompt = map->prompt_text; /* NULL: the join input's prompt (parse_judged) */
	} else if ((rc = text_field(rec, pv, map && map->prompt ? map->prompt : "prompt",
	                            &rec->prompt)) <= 0) {
		return rc;
	}

	if (judged)
		return parse_judged(rec, id, used, nused, map, mtop);

	json_t *comp = json_object_get(root, "completions");
	if (shape == ENG_SHAPE_MULTI) {
		if (!comp)
			return eng_record_add_error(
			    rec, ENG_REC_MISSING_FIELD,
			    "field \"completions\" is missing; multi-completion "
			    "records need completions.response and "
			    ".annotations");
		used[nused++] = "completions";
		used[nused] = NULL;
		json_t *base = leftover(root, used);
		if (!base)
			return ENG_ENOMEM;
		rc = parse_multi(rec, comp, id, base);
		json_decref(base);
		return rc;
	}

	const char *cname = map && map->chosen ? map->chosen : "chosen";
	const char *rname = map && map->rejected ? map->rejected : "rejected";
	const char *chosen = NULL, *rejected = NULL;
	if ((rc = text_field(rec, path_get(root, cname), cname, &chosen)) <= 0)
		return rc;
	if ((rc = text_field(rec, path_get(root, rname), rname, &rejected)) <= 0)
		return rc;
	path_top(cname, root, mtop[3], sizeof mtop[3]);
	path_top(rname, root, mtop[4], sizeof mtop[4]);
	used[nused++] = mtop[3];
	used[nused++] = mtop[4];
	used[nused] = NULL;
	if (!map || !map->position)
		return emit_pair(rec, id, chosen, rejected, used, NULL);
	/* the chosen answer's display position, kept as judged pairs keep it (position bias) */
	json_t *pos = path_get(root, map->position);
	const char *ps = json_is_string(pos) ? json_string_value(pos) : "";
	int side = json_is_integer(pos)                       ? (int)json_integer_value(pos)
	           : !strcasecmp(ps, "a") || !strcmp(ps, "1") ? 1
	           : !strcasecmp(ps, "b") || !strcmp(ps, "2") ? 2
	                                                      : 0;
	if (side != 1 && side != 2)
		return eng_record_add_error(rec, pos ? ENG_REC_BAD_TYPE : ENG_REC_MISSING_FIELD,
		                            "field \"%s\" (--map position=) must be 1, 2, \"a\" or "
		                            "\"b\": the position the chosen answer was shown at",
		                            map->position);
	json_t *extra = json_pack("{s:i}", "chosen_position", side);
	if (!extra)
		return ENG_ENOMEM;
	int erc = emit_pair(rec, id, chosen, rejected, used, extra);
	json_decref(extra);
	return erc;
}

int eng_rec_reject(eng_rec_error *e, eng_rec_code code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	e->code = code;
	vsnprintf(e->reason, sizeof e->reason, fmt, ap);
	va_end(ap);
	return 1;
}
