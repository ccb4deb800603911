/* records.c - one JSON record -> preference pairs: the record's codes and errors, the field helpers
 * the shapes share, and the entry points (parse the line, locate prompt, image and id, refuse
 * videos, hand the record to its shape). The shapes themselves are in recshapes.c, shape names and
 * field maps in recmap.c. No I/O, no images, no SQL. */
#include "records_internal.h"

#include "answers.h"
#include "err.h"
#include "fastjson.h"

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

const char *const eng_rec_prompt_keys[] = {"prompt", "question", NULL};
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
json_t *eng_rec_get_alias(json_t *obj, const char *const *names, const char **which)
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

int eng_rec_is_blank(const char *s)
{
	for (; *s; s++)
		if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
			return 0;
	return 1;
}

/* Equal after trimming surrounding whitespace. */

/* A required non-empty string field. Returns 1 and *out, 0 after recording an error, <0 ENOMEM. */
int eng_rec_text_field(eng_record *rec, json_t *v, const char *name, const char **out)
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
	else if (eng_rec_is_blank(json_string_value(v)))
		rc = eng_record_add_error(rec, ENG_REC_EMPTY_FIELD,
		                          "field \"%s\" is empty; fill it in or drop the record",
		                          name);
	else {
		*out = json_string_value(v);
		return 1;
	}
	return rc < 0 ? rc : 0;
}

/* Object of the record's fields not in used[] (NULL-terminated), new reference (maybe empty). */
json_t *eng_rec_leftover(json_t *root, const char *const *used)
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

/* Value at a dotted path ("a.b.0"): the whole path as one key first, then segment by segment (a
 * numeric segment indexes an array). NULL when absent. */
json_t *eng_rec_path_get(json_t *root, const char *path)
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
void eng_rec_path_top(const char *path, json_t *root, char *out, size_t n)
{
	size_t len = json_object_get(root, path) ? strlen(path) : strcspn(path, ".");
	snprintf(out, n, "%.*s", (int)len, path);
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
	/* the fast path builds json_loadb's tree for the lines it accepts; jansson parses (and
	 * explains) the others */
	rec->root = eng_fastjson_load(line, len);
	if (!rec->root)
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

/* Where a record's prompt, image and id are: the --map paths, else the default names. The keys
 * may point into mtop (the top-level key of a mapped path). */
typedef struct rec_fields {
	json_t *pv, *iv, *idv;
	const char *pkey, *ikey, *idkey;
} rec_fields;

static void locate_fields(json_t *root, const eng_rec_map *map, char (*mtop)[128], rec_fields *f)
{
	f->pkey = "prompt";
	f->ikey = "image";
	f->idkey = "id";
	if (map && map->prompt) {
		f->pv = eng_rec_path_get(root, map->prompt);
		eng_rec_path_top(map->prompt, root, mtop[0], sizeof mtop[0]);
		f->pkey = mtop[0];
	} else {
		f->pv = eng_rec_get_alias(root, eng_rec_prompt_keys, &f->pkey);
	}
	if (map && map->image) {
		f->iv = eng_rec_path_get(root, map->image);
		eng_rec_path_top(map->image, root, mtop[1], sizeof mtop[1]);
		f->ikey = mtop[1];
	} else if (map && map->images) {
		json_t *imgs = eng_rec_path_get(root, map->images);
		f->iv = json_is_array(imgs) ? json_array_get(imgs, 0) : imgs;
		eng_rec_path_top(map->images, root, mtop[1], sizeof mtop[1]);
		f->ikey = mtop[1];
	} else {
		f->iv = eng_rec_get_alias(root, image_keys, &f->ikey);
		json_t *imgs = json_object_get(root, "images");
		if ((!f->iv || json_is_null(f->iv)) && json_is_array(imgs) &&
		    json_array_size(imgs)) {
			f->iv = json_array_get(imgs, 0);
			f->ikey = json_array_size(imgs) == 1 ? "images" : "";
		}
	}
	if (map && map->id) {
		f->idv = eng_rec_path_get(root, map->id);
		eng_rec_path_top(map->id, root, mtop[2], sizeof mtop[2]);
		f->idkey = mtop[2];
	} else {
		f->idv = json_object_get(root, "id");
	}
}

/* The record's id: given (string or integer) or derived from the file stem and line (into
 * idbuf[n]). 1 with *id, else (0 or <0) what recording the problem returned. */
static int record_id(eng_record *rec, json_t *idv, const char *stem, uint64_t lineno, char *idbuf,
                     size_t n, const char **id)
{
	*id = idbuf;
	if (!idv || json_is_null(idv)) {
		snprintf(idbuf, n, "%.280s:%llu", stem ? stem : "line", (unsigned long long)lineno);
	} else if (json_is_integer(idv)) {
		snprintf(idbuf, n, "%" JSON_INTEGER_FORMAT, json_integer_value(idv));
	} else if (json_is_string(idv)) {
		*id = json_string_value(idv);
		if (eng_rec_is_blank(*id))
			return eng_record_add_error(
			    rec, ENG_REC_EMPTY_FIELD,
			    "field \"id\" is empty; give a unique id or drop "
			    "the field to get file:line");
	} else {
		return eng_record_add_error(rec, ENG_REC_BAD_TYPE,
		                            "field \"id\" must be a string or an integer");
	}
	return 1;
}

/* Refuses videos by name (rather than as a missing image) and takes the image reference iv
 * (field ikey) into rec->image. 1 when the record goes on, else (0 or <0) what recording the
 * problem returned. */
static int take_image(eng_record *rec, json_t *iv, const char *ikey)
{
	json_t *root = rec->root;
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
	return 1;
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
	rec_fields f;
	locate_fields(root, map, mtop, &f);
	const char *used[16] = {f.pkey, f.ikey, f.idkey, NULL};
	size_t nused = 3;
	int rc;
	char idbuf[320];
	const char *id;
	if ((rc = record_id(rec, f.idv, stem, lineno, idbuf, sizeof idbuf, &id)) <= 0 ||
	    (rc = take_image(rec, f.iv, f.ikey)) <= 0)
		return rc;

	switch (shape) {
	case ENG_SHAPE_HH:
		return eng_rec_parse_hh(rec, id, used, nused);
	case ENG_SHAPE_SHAREGPT:
		return eng_rec_parse_sharegpt(rec, id, used, nused);
	default:
		break;
	}

	if ((!f.pv || json_is_null(f.pv)) && map &&
	    (map->prompt_text || (judged && map->answers))) {
		rec->prompt = map->prompt_text; /* NULL: the join input's prompt (parse_judged) */
	} else if ((rc = eng_rec_text_field(rec, f.pv, map && map->prompt ? map->prompt : "prompt",
	                                    &rec->prompt)) <= 0) {
		return rc;
	}

	if (judged)
		return eng_rec_parse_judged(rec, id, used, nused, map, mtop);
	if (shape == ENG_SHAPE_MULTI)
		return eng_rec_parse_multi_record(rec, id, used, nused);
	return eng_rec_parse_pairwise(rec, id, used, nused, map, mtop);
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
