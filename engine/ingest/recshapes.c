/* recshapes.c - the record shapes: detection (eng_record_detect) and one parser per shape
 * (pairwise and mapped, multi-completion with ratings, judged with a verdict, Anthropic HH,
 * ShareGPT), each turning a located record into pairs or record errors. Does not parse JSON, pick
 * the shape option or derive ids (records.c). */
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

/* Equal after trimming surrounding whitespace. */
int eng_rec_same_text(const char *a, const char *b)
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
		} else if (eng_rec_is_blank(json_string_value(r)))
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
			if (eng_rec_same_text(tc, tr)) {
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
			return eng_rec_get_alias(o, verdict_keys, vkey) != NULL;
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
	json_t *conv = eng_rec_get_alias(o, conv_keys, &k);
	if (json_is_array(conv) && ch && rj)
		return ENG_SHAPE_SHAREGPT;
	if (judged_keys(o, &w, &k))
		return ENG_SHAPE_JUDGED;
	if (json_is_string(ch) && json_is_string(rj) &&
	    !eng_rec_get_alias(o, eng_rec_prompt_keys, &k) &&
	    strstr(json_string_value(ch), hh_marker) && strstr(json_string_value(rj), hh_marker))
		return ENG_SHAPE_HH;
	return ENG_SHAPE_PAIRWISE;
}

/* ---- per-shape parsers ----------------------------------------------------------------------- */

/* Adds one pair chosen/rejected with the eng_rec_leftover fields (not in used) plus `extra` as
 * metadata. */
int eng_rec_emit_pair(eng_record *rec, const char *id, const char *chosen, const char *rejected,
                      const char *const *used, json_t *extra)
{
	if (eng_rec_same_text(chosen, rejected))
		return eng_record_add_error(rec, ENG_REC_IDENTICAL,
		                            "chosen and rejected are the same text, so the pair "
		                            "states no preference; drop or fix it");
	json_t *m = eng_rec_leftover(rec->root, used);
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
	if (eng_rec_is_blank(*t1) || eng_rec_is_blank(*t2))
		return eng_record_add_error(
		           rec, ENG_REC_EMPTY_FIELD,
		           "the --answers answer of model '%.80s' for %s '%.80s' is empty; fill it "
		           "in or drop the judgement",
		           json_string_value(eng_rec_is_blank(*t1) ? ma : mb), map->join_key,
		           ks) < 0
		           ? ENG_ENOMEM
		           : 0;
	if (!rec->prompt)
		rec->prompt = pa ? pa : pb;
	return 1;
}

/* Judged records: two answers and a verdict, found by the built-in names or by map (roles
 * answer_a, answer_b, verdict; verdict_field; vmap; the join input). */
int eng_rec_parse_judged(eng_record *rec, const char *id, const char **used, size_t nused,
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
		if ((rc = eng_rec_text_field(rec, eng_rec_path_get(root, k1), k1, &a1)) <= 0 ||
		    (rc = eng_rec_text_field(rec, eng_rec_path_get(root, k2), k2, &a2)) <= 0)
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
		v = eng_rec_path_get(root, vkey = map->verdict);
	} else {
		vkey = NULL;
		v = eng_rec_get_alias(root, verdict_keys, &vkey);
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
		eng_rec_path_top(k1, root, mtop[3], sizeof mtop[3]);
		eng_rec_path_top(k2, root, mtop[4], sizeof mtop[4]);
		used[nused++] = mtop[3];
		used[nused++] = mtop[4];
	}
	used[nused++] = "chosen"; /* derived copies of the answers, when present */
	used[nused++] = "rejected";
	used[nused] = NULL;
	json_t *extra = json_pack("{s:i}", "chosen_position", side);
	if (!extra)
		return ENG_ENOMEM;
	rc = eng_rec_emit_pair(rec, id, side == 1 ? a1 : a2, side == 1 ? a2 : a1, used, extra);
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

int eng_rec_parse_hh(eng_record *rec, const char *id, const char **used, size_t nused)
{
	const char *c = NULL, *r = NULL;
	int rc;
	json_t *root = rec->root;
	if ((rc = eng_rec_text_field(rec, json_object_get(root, "chosen"), "chosen", &c)) <= 0 ||
	    (rc = eng_rec_text_field(rec, json_object_get(root, "rejected"), "rejected", &r)) <= 0)
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
	return eng_rec_emit_pair(rec, id, ac, ar, used, NULL);
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

int eng_rec_parse_sharegpt(eng_record *rec, const char *id, const char **used, size_t nused)
{
	json_t *root = rec->root;
	const char *ckey = "conversations", *role;
	json_t *conv = eng_rec_get_alias(root, conv_keys, &ckey);
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
	if (eng_rec_is_blank(rec->prompt))
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
		if (eng_rec_is_blank(text[s]))
			return eng_record_add_error(rec, ENG_REC_EMPTY_FIELD,
			                            "field \"%s\" is empty; fill it in or drop the "
			                            "record",
			                            side[s]);
	}
	used[nused++] = ckey;
	used[nused++] = "chosen";
	used[nused++] = "rejected";
	used[nused] = NULL;
	return eng_rec_emit_pair(rec, id, text[0], text[1], used, NULL);
}

int eng_rec_parse_multi_record(eng_record *rec, const char *id, const char **used, size_t nused)
{
	json_t *root = rec->root;
	int rc;
	json_t *comp = json_object_get(root, "completions");
	if (!comp)
		return eng_record_add_error(rec, ENG_REC_MISSING_FIELD,
		                            "field \"completions\" is missing; multi-completion "
		                            "records need completions.response and "
		                            ".annotations");
	used[nused++] = "completions";
	used[nused] = NULL;
	json_t *base = eng_rec_leftover(root, used);
	if (!base)
		return ENG_ENOMEM;
	rc = parse_multi(rec, comp, id, base);
	json_decref(base);
	return rc;
}

int eng_rec_parse_pairwise(eng_record *rec, const char *id, const char **used, size_t nused,
                           const eng_rec_map *map, char (*mtop)[128])
{
	json_t *root = rec->root;
	int rc;
	const char *cname = map && map->chosen ? map->chosen : "chosen";
	const char *rname = map && map->rejected ? map->rejected : "rejected";
	const char *chosen = NULL, *rejected = NULL;
	if ((rc = eng_rec_text_field(rec, eng_rec_path_get(root, cname), cname, &chosen)) <= 0)
		return rc;
	if ((rc = eng_rec_text_field(rec, eng_rec_path_get(root, rname), rname, &rejected)) <= 0)
		return rc;
	eng_rec_path_top(cname, root, mtop[3], sizeof mtop[3]);
	eng_rec_path_top(rname, root, mtop[4], sizeof mtop[4]);
	used[nused++] = mtop[3];
	used[nused++] = mtop[4];
	used[nused] = NULL;
	if (!map || !map->position)
		return eng_rec_emit_pair(rec, id, chosen, rejected, used, NULL);
	/* the chosen answer's display position, kept as judged pairs keep it (position bias) */
	json_t *pos = eng_rec_path_get(root, map->position);
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
	int erc = eng_rec_emit_pair(rec, id, chosen, rejected, used, extra);
	json_decref(extra);
	return erc;
}
