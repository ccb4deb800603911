/* recmap.c - shape names and field maps: --map role=path specs, verdict maps, a fixed prompt
 * text, and the canonical text of a map for the options key. Does not read records (records.c,
 * recshapes.c). */
#include "records_internal.h"

#include "answers.h"
#include "err.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
		if (eng_rec_is_blank(prompt_text)) {
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
