/* fastjson.h - a fast path for parsing one JSON record line into a jansson tree.
 *
 * eng_fastjson_load(s, len) returns the tree json_loadb(s, len, JSON_REJECT_DUPLICATES, &e)
 * returns for the lines it accepts: an object at the top, strings of valid UTF-8 with the JSON
 * escapes, integers of up to 18 digits, true, false, null, arrays and objects nested up to
 * ENG_FASTJSON_MAX_DEPTH, the same keys in the same order. It returns NULL for everything else (a
 * real number, invalid UTF-8, a control character, \u0000, a duplicate key, deeper nesting, bad
 * syntax, no memory): the caller then parses the line with json_loadb, which builds the tree or
 * says what is wrong with the line in its own words. It never reports an error itself.
 *
 * Why: jansson reads a buffer one character at a time through a stream callback and copies every
 * string through a growing buffer; on text records that was most of the index's CPU (100k synth
 * pairs, 36 MB). The owner of the returned tree is the caller (json_decref). */
#ifndef ENG_FASTJSON_H
#define ENG_FASTJSON_H

#include <jansson.h>
#include <stddef.h>

enum { ENG_FASTJSON_MAX_DEPTH = 64 };

json_t *eng_fastjson_load(const char *s, size_t len);

#endif
