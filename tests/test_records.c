/* test_records.c - record shapes -> pairs, and every record-level rejection with its code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "answers.h"
#include "err.h"
#include "records.h"

static void parse(eng_record *r, const char *line)
{
	memset(r, 0, sizeof *r);
	assert_int_equal(eng_record_parse(r, line, strlen(line), "data", 7), 0);
}

/* Parses line and expects exactly one error with code and reason containing `needle`. */
static void expect_error(const char *line, eng_rec_code code, const char *needle)
{
	eng_record r;
	parse(&r, line);
	assert_int_equal(r.npairs, 0);
	assert_int_equal(r.nerrors, 1);
	if (r.errors[0].code != code)
		fail_msg("%s: got %s (%s), want %s", line, eng_rec_code_name(r.errors[0].code),
		         r.errors[0].reason, eng_rec_code_name(code));
	if (!strstr(r.errors[0].reason, needle))
		fail_msg("reason '%s' lacks '%s'", r.errors[0].reason, needle);
	eng_record_clear(&r);
}

static void test_records_pairwise_with_meta(void **state)
{
	(void)state;
	eng_record r;
	parse(&r, "{\"id\":\"a1\",\"prompt\":\"What?\",\"image\":\"x/1.png\",\"chosen\":\"red\","
	          "\"rejected\":\"blue\",\"source\":\"web\",\"score\":3}");
	assert_int_equal(r.nerrors, 0);
	assert_int_equal(r.npairs, 1);
	assert_string_equal(r.prompt, "What?");
	assert_string_equal(r.image, "x/1.png");
	assert_string_equal(r.pairs[0].id, "a1");
	assert_string_equal(r.pairs[0].chosen, "red");
	assert_string_equal(r.pairs[0].rejected, "blue");
	assert_string_equal(r.pairs[0].meta, "{\"source\":\"web\",\"score\":3}");
	eng_record_clear(&r);
	eng_record_clear(NULL);
}

static void test_records_aliases_and_derived_id(void **state)
{
	(void)state;
	eng_record r;
	parse(&r,
	      "{\"question\":\"q\",\"img_path\":\"a.jpg\",\"chosen\":\"c\",\"rejected\":\"r\"}");
	assert_int_equal(r.npairs, 1);
	assert_string_equal(r.prompt, "q");
	assert_string_equal(r.image, "a.jpg");
	assert_string_equal(r.pairs[0].id, "data:7");
	assert_null(r.pairs[0].meta);
	eng_record_clear(&r);
	parse(&r, "{\"id\":42,\"prompt\":\"q\",\"image_path\":\"/abs/b.png\",\"chosen\":\"c\","
	          "\"rejected\":\"r\"}");
	assert_int_equal(r.npairs, 1);
	assert_string_equal(r.image, "/abs/b.png");
	assert_string_equal(r.pairs[0].id, "42");
	eng_record_clear(&r);
}

static void test_records_text_only(void **state)
{
	(void)state;
	eng_record r;
	parse(&r, "{\"prompt\":\"q\",\"chosen\":\"c\",\"rejected\":\"r\"}");
	assert_int_equal(r.npairs, 1);
	assert_null(r.image);
	eng_record_clear(&r);
	parse(&r, "{\"prompt\":\"q\",\"image\":null,\"chosen\":\"c\",\"rejected\":\"r\"}");
	assert_int_equal(r.npairs, 1);
	assert_null(r.image);
	eng_record_clear(&r);
}

/* VLFeedback: scores 4.5, 3, 4.5, 1.5 (string and numeric ratings) -> 5 pairs, the 0/2 tie dropped;
 * an unrated completion yields no pair. */
static void test_records_multi_completion_pair_rule(void **state)
{
	(void)state;
	eng_record r;
	parse(&r, "{\"id\":\"m1\",\"prompt\":\"p\",\"img_path\":\"i.png\",\"src\":\"vlf\","
	          "\"completions\":{"
	          "\"response\":[\"r0\",\"r1\",\"r2\",\"r3\",\"r4\"],\"model\":[\"a\",\"b\",\"c\","
	          "\"d\",\"e\"],"
	          "\"annotations\":["
	          "{\"Helpfulness\":{\"Rating\":\"5\"},\"Faithfulness\":{\"Rating\":4}},"
	          "{\"Helpfulness\":{\"Rating\":\"3\"},\"Faithfulness\":{\"Rating\":\"3\"}},"
	          "{\"Helpfulness\":{\"Rating\":5},\"Faithfulness\":{\"Rating\":\"4\"},\"Note\":{"
	          "\"Rating\":\"N/A\"}},"
	          "{\"Helpfulness\":{\"Rating\":\"1\"},\"Faithfulness\":{\"Rating\":\"2\"}},"
	          "{\"Helpfulness\":{\"Rating\":\"N/A\"}}]}}");
	assert_int_equal(r.nerrors, 0);
	assert_int_equal(r.npairs, 5);
	const char *want[5][3] = {{"m1#0>1", "r0", "r1"},
	                          {"m1#0>3", "r0", "r3"},
	                          {"m1#2>1", "r2", "r1"},
	                          {"m1#1>3", "r1", "r3"},
	                          {"m1#2>3", "r2", "r3"}};
	for (int i = 0; i < 5; i++) {
		assert_string_equal(r.pairs[i].id, want[i][0]);
		assert_string_equal(r.pairs[i].chosen, want[i][1]);
		assert_string_equal(r.pairs[i].rejected, want[i][2]);
	}
	assert_string_equal(r.image, "i.png");
	assert_non_null(strstr(r.pairs[0].meta, "\"chosen_model\":\"a\""));
	assert_non_null(strstr(r.pairs[0].meta, "\"rejected_model\":\"b\""));
	assert_non_null(strstr(r.pairs[0].meta, "\"chosen_score\":4.5"));
	assert_non_null(strstr(r.pairs[0].meta, "\"src\":\"vlf\""));
	eng_record_clear(&r);
}

static void test_records_multi_completion_identical_and_mismatch(void **state)
{
	(void)state;
	eng_record r;
	parse(&r, "{\"prompt\":\"p\",\"completions\":{\"response\":[\"same\",\"same \",\"other\"],"
	          "\"annotations\":[{\"A\":{\"Rating\":1}},{\"A\":{\"Rating\":2}},{\"A\":{"
	          "\"Rating\":3}}]}}");
	assert_int_equal(r.npairs, 2);
	assert_int_equal(r.nerrors, 1);
	assert_int_equal(r.errors[0].code, ENG_REC_IDENTICAL);
	assert_string_equal(r.pairs[0].id, "data:7#2>0");
	eng_record_clear(&r);
	expect_error(
	    "{\"prompt\":\"p\",\"completions\":{\"response\":[\"a\",\"b\"],\"annotations\":[1]}}",
	    ENG_REC_BAD_TYPE, "line up");
	expect_error("{\"prompt\":\"p\",\"completions\":{\"response\":[\"a\",\"b\"]}}",
	             ENG_REC_MISSING_FIELD, "completions.annotations");
	expect_error(
	    "{\"prompt\":\"p\",\"completions\":{\"response\":[\"a\",3],\"annotations\":[1,2]}}",
	    ENG_REC_BAD_TYPE, "response[1]");
}

static void test_records_rejections(void **state)
{
	(void)state;
	expect_error("{\"id\": \"broken\", \"prompt\": ", ENG_REC_BAD_JSON, "malformed JSON");
	expect_error("[1,2]", ENG_REC_NOT_OBJECT, "not an object");
	expect_error("{\"prompt\":\"p\",\"chosen\":\"c\"}", ENG_REC_MISSING_FIELD, "\"rejected\"");
	expect_error("{\"chosen\":\"c\",\"rejected\":\"r\"}", ENG_REC_MISSING_FIELD, "\"prompt\"");
	expect_error("{\"prompt\":\"p\",\"chosen\":\"\",\"rejected\":\"r\"}", ENG_REC_EMPTY_FIELD,
	             "\"chosen\" is empty");
	expect_error("{\"prompt\":\"p\",\"chosen\":\"same\",\"rejected\":\" same\"}",
	             ENG_REC_IDENTICAL, "same text");
	expect_error("{\"prompt\":\"p\",\"chosen\":\"\xC3\x28\",\"rejected\":\"r\"}",
	             ENG_REC_INVALID_UTF8, "UTF-8");
	expect_error("{\"prompt\":\"p\",\"chosen\":\"a\\u0000b\",\"rejected\":\"r\"}",
	             ENG_REC_BAD_JSON, "\\u0000");
	expect_error("{\"prompt\":\"p\",\"chosen\":[\"c\"],\"rejected\":\"r\"}", ENG_REC_BAD_TYPE,
	             "must be a string");
	expect_error("{\"prompt\":\"p\",\"image\":7,\"chosen\":\"c\",\"rejected\":\"r\"}",
	             ENG_REC_BAD_TYPE, "\"image\"");
	expect_error("{\"id\":1.5,\"prompt\":\"p\",\"chosen\":\"c\",\"rejected\":\"r\"}",
	             ENG_REC_BAD_TYPE, "\"id\"");
	expect_error("{\"prompt\":\"p\",\"prompt\":\"q\",\"chosen\":\"c\",\"rejected\":\"r\"}",
	             ENG_REC_BAD_JSON, "duplicate");
}

static void test_records_depth_limit(void **state)
{
	(void)state;
	size_t depth = 5000;
	char *s = malloc(2 * depth + 1);
	assert_non_null(s);
	memset(s, '[', depth);
	memset(s + depth, ']', depth);
	s[2 * depth] = '\0';
	expect_error(s, ENG_REC_BAD_JSON, "nested too deeply");
	free(s);
}

static void test_records_code_names(void **state)
{
	(void)state;
	assert_string_equal(eng_rec_code_name(ENG_REC_BAD_JSON), "bad-json");
	assert_string_equal(eng_rec_code_name(ENG_REC_IDENTICAL), "identical-answers");
	assert_string_equal(eng_rec_code_name(ENG_REC_UNSUPPORTED_IMAGE), "unsupported-image");
	assert_string_equal(eng_rec_code_name(ENG_REC_LINE_TOO_LONG), "line-too-long");
	assert_string_equal(eng_rec_code_name(ENG_REC_NCODES), "unknown");
}

static void parse_opts(eng_record *r, const char *line, const eng_rec_opts *o)
{
	memset(r, 0, sizeof *r);
	assert_int_equal(eng_record_parse_ex(r, line, strlen(line), "data", 7, o), 0);
}

static void test_records_judged_verdicts(void **state)
{
	(void)state;
	eng_record r;
	/* mllm-bench style: the derived chosen/rejected fields are dropped from the metadata */
	parse(&r,
	      "{\"id\":\"j1\",\"question\":\"q\",\"answer_1\":\"first\",\"answer_2\":\"second\","
	      "\"judge_output\":\"Answer2\",\"chosen\":\"second\",\"rejected\":\"first\","
	      "\"model_1\":\"m1\"}");
	assert_int_equal(r.shape, ENG_SHAPE_JUDGED);
	assert_int_equal(r.nerrors, 0);
	assert_int_equal(r.npairs, 1);
	assert_string_equal(r.pairs[0].chosen, "second");
	assert_string_equal(r.pairs[0].rejected, "first");
	assert_string_equal(
	    r.pairs[0].meta,
	    "{\"judge_output\":\"Answer2\",\"model_1\":\"m1\",\"chosen_position\":2}");
	eng_record_clear(&r);
	static const struct {
		const char *verdict;
		int side; /* 1, 2; 0 tie; -1 undecided */
	} cases[] = {
	    {"\"model_1\"", 1},
	    {"\"A\"", 1},
	    {"1", 1},
	    {"\"A>>B\"", 1},
	    {"\"Answer_2\"", 2},
	    {"\"response_b\"", 2},
	    {"2", 2},
	    {"\"B>A\"", 2},
	    {"\"tie\"", 0},
	    {"\"A=B\"", 0},
	    {"\"Draw\"", 0},
	    {"\"undecided\"", -1},
	    {"\"unable to decide: situation one\"", -1},
	    {"null", -1},
	    {"3", -1},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char line[256];
		snprintf(line, sizeof line,
		         "{\"prompt\":\"p\",\"answer_1\":\"x\",\"answer_2\":\"y\",\"winner\":%s}",
		         cases[i].verdict);
		parse(&r, line);
		assert_int_equal(r.shape, ENG_SHAPE_JUDGED);
		if (cases[i].side > 0) {
			assert_int_equal(r.npairs, 1);
			assert_string_equal(r.pairs[0].chosen, cases[i].side == 1 ? "x" : "y");
		} else {
			assert_int_equal(r.npairs, 0);
			assert_int_equal(r.nerrors, 1);
			if (r.errors[0].code !=
			    (cases[i].side == 0 ? ENG_REC_TIE_VERDICT : ENG_REC_UNDECIDED_VERDICT))
				fail_msg("verdict %s: got %s", cases[i].verdict,
				         eng_rec_code_name(r.errors[0].code));
		}
		eng_record_clear(&r);
	}
	/* forced judged shape on a record without a verdict */
	eng_rec_opts o = {ENG_SHAPE_JUDGED, NULL};
	parse_opts(&r, "{\"prompt\":\"p\",\"chosen\":\"c\",\"rejected\":\"r\"}", &o);
	assert_int_equal(r.nerrors, 1);
	assert_int_equal(r.errors[0].code, ENG_REC_MISSING_FIELD);
	eng_record_clear(&r);
}

static void test_records_hh_prefix_split(void **state)
{
	(void)state;
	eng_record r;
	parse(&r,
	      "{\"chosen\":\"\\n\\nHuman: hi\\n\\nAssistant: hello\\n\\nHuman: a pen "
	      "prank?\\n\\nAssistant: No, sorry.\",\"rejected\":\"\\n\\nHuman: hi\\n\\nAssistant: "
	      "hello\\n\\nHuman: a pen prank?\\n\\nAssistant: Draw on a face.\"}");
	assert_int_equal(r.shape, ENG_SHAPE_HH);
	assert_int_equal(r.nerrors, 0);
	assert_int_equal(r.npairs, 1);
	assert_string_equal(r.prompt, "Human: hi\n\nAssistant: hello\n\nHuman: a pen prank?");
	assert_string_equal(r.pairs[0].chosen, "No, sorry.");
	assert_string_equal(r.pairs[0].rejected, "Draw on a face.");
	assert_string_equal(r.pairs[0].id, "data:7");
	assert_null(r.pairs[0].meta);
	eng_record_clear(&r);
	expect_error("{\"chosen\":\"\\n\\nHuman: a\\n\\nAssistant: x\",\"rejected\":\"\\n\\nHuman: "
	             "b\\n\\nAssistant: y\"}",
	             ENG_REC_DIALOGUE_MISMATCH, "differ before");
	expect_error("{\"chosen\":\"\\n\\nHuman: a\\n\\nAssistant: \",\"rejected\":\"\\n\\nHuman: "
	             "a\\n\\nAssistant: y\"}",
	             ENG_REC_EMPTY_FIELD, "chosen is empty");
}

static void test_records_sharegpt(void **state)
{
	(void)state;
	eng_record r;
	parse(&r,
	      "{\"conversations\":[{\"from\":\"human\",\"value\":\"<image>What is it?\"}],"
	      "\"chosen\":{\"from\":\"gpt\",\"value\":\"A cat.\"},\"rejected\":{\"from\":\"gpt\","
	      "\"value\":\"A dog.\"},\"images\":[\"img/1.png\"]}");
	assert_int_equal(r.shape, ENG_SHAPE_SHAREGPT);
	assert_int_equal(r.npairs, 1);
	assert_string_equal(r.prompt, "<image>What is it?");
	assert_string_equal(r.image, "img/1.png");
	assert_string_equal(r.pairs[0].chosen, "A cat.");
	assert_string_equal(r.pairs[0].rejected, "A dog.");
	assert_null(r.pairs[0].meta);
	eng_record_clear(&r);
	/* several turns (role/content spelling): the transcript is the prompt */
	parse(&r,
	      "{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\","
	      "\"content\":\"Hi\"},{\"role\":\"assistant\",\"content\":\"Hello\"},{\"role\":"
	      "\"user\",\"content\":\"2+2?\"}],\"chosen\":\"4\",\"rejected\":\"5\",\"src\":1}");
	assert_int_equal(r.shape, ENG_SHAPE_SHAREGPT);
	assert_int_equal(r.npairs, 1);
	assert_string_equal(r.prompt,
	                    "System: Be brief.\n\nHuman: Hi\n\nAssistant: Hello\n\nHuman: 2+2?");
	assert_null(r.image);
	assert_string_equal(r.pairs[0].meta, "{\"src\":1}");
	eng_record_clear(&r);
	expect_error("{\"conversations\":[{\"from\":\"human\",\"value\":7}],\"chosen\":\"a\","
	             "\"rejected\":\"b\"}",
	             ENG_REC_BAD_TYPE, "conversations[0]");
}

static void test_records_map_dotted(void **state)
{
	(void)state;
	eng_rec_map map;
	char msg[256];
	assert_int_equal(eng_rec_map_parse("chosen=resp.good,rejected=resp.bad,prompt=q.text,"
	                                   "image=media.0,id=uid",
	                                   &map, msg, sizeof msg),
	                 0);
	eng_rec_opts o = {ENG_SHAPE_MAPPED, &map};
	eng_record r;
	parse_opts(&r,
	           "{\"uid\":\"u9\",\"q\":{\"text\":\"Which?\"},\"media\":[\"a.png\",\"b.png\"],"
	           "\"resp\":{\"good\":\"left\",\"bad\":\"right\"},\"note\":\"n\"}",
	           &o);
	assert_int_equal(r.nerrors, 0);
	assert_int_equal(r.npairs, 1);
	assert_string_equal(r.pairs[0].id, "u9");
	assert_string_equal(r.prompt, "Which?");
	assert_string_equal(r.image, "a.png");
	assert_string_equal(r.pairs[0].chosen, "left");
	assert_string_equal(r.pairs[0].rejected, "right");
	assert_string_equal(r.pairs[0].meta, "{\"note\":\"n\"}");
	eng_record_clear(&r);
	parse_opts(&r, "{\"uid\":\"u9\",\"q\":{\"text\":\"Which?\"},\"resp\":{\"good\":\"left\"}}",
	           &o);
	assert_int_equal(r.nerrors, 1);
	assert_int_equal(r.errors[0].code, ENG_REC_MISSING_FIELD);
	assert_non_null(strstr(r.errors[0].reason, "resp.bad"));
	eng_record_clear(&r);
	eng_rec_map_clear(&map);
	assert_int_equal(eng_rec_map_parse("chosen", &map, msg, sizeof msg), ENG_EINPUT);
	assert_non_null(strstr(msg, "ROLE=FIELD"));
	assert_int_equal(eng_rec_map_parse("answer=x", &map, msg, sizeof msg), ENG_EINPUT);
	assert_non_null(strstr(msg, "answer_a"));
	assert_non_null(strstr(msg, "unknown role"));
	assert_int_equal(eng_rec_map_parse("id=a,id=b", &map, msg, sizeof msg), ENG_EINPUT);
	eng_rec_map_clear(&map);
}

static void parse_map(eng_record *r, const char *line, const eng_rec_map *map)
{
	memset(r, 0, sizeof *r);
	eng_rec_opts o = {ENG_SHAPE_MAPPED, map};
	assert_int_equal(eng_record_parse_ex(r, line, strlen(line), "data", 7, &o), 0);
}

/* ImageInWords' layout: answers in fields named after their source, per-metric side-by-side
 * ratings ("IIW is marginally better"), no prompt: --map answer_a=DOCCI,answer_b=IIW
 * --verdict-field Comprehensiveness --prompt-text; "<field> is ... better" picks that answer,
 * Neutral is a tie, --verdict-map names other values (checked first). */
static void test_records_map_judged_metric_verdicts(void **state)
{
	(void)state;
	eng_rec_map map;
	char msg[256];
	assert_int_equal(
	    eng_rec_map_parse("answer_a=DOCCI,answer_b=IIW,image=image", &map, msg, sizeof msg), 0);
	assert_int_equal(eng_rec_map_set_text(&map, "Describe the image in detail.",
	                                      "Comprehensiveness", NULL, msg, sizeof msg),
	                 0);
	eng_record r;
	const char *rec = "{\"DOCCI\":\"a toilet\",\"IIW\":\"a white toilet, towels\",\"image\":"
	                  "\"test_1\",\"metrics/Comprehensiveness\":\"%s\",\"metrics/Specificity\":"
	                  "\"DOCCI is marginally better\"}";
	char line[512];
	snprintf(line, sizeof line, rec, "IIW is substantially better");
	parse_map(&r, line, &map);
	assert_int_equal(r.nerrors, 0);
	assert_int_equal(r.npairs, 1);
	assert_string_equal(r.prompt, "Describe the image in detail.");
	assert_string_equal(r.image, "test_1");
	assert_string_equal(r.pairs[0].chosen, "a white toilet, towels");
	assert_string_equal(r.pairs[0].rejected, "a toilet");
	assert_non_null(strstr(r.pairs[0].meta, "\"chosen_position\":2"));
	assert_non_null(strstr(r.pairs[0].meta, "metrics/Specificity")); /* other metrics kept */
	assert_null(strstr(r.pairs[0].meta, "\"DOCCI\""));
	eng_record_clear(&r);
	snprintf(line, sizeof line, rec, "DOCCI is marginally better");
	parse_map(&r, line, &map);
	assert_int_equal(r.npairs, 1);
	assert_string_equal(r.pairs[0].chosen, "a toilet");
	eng_record_clear(&r);
	snprintf(line, sizeof line, rec, "Neutral");
	parse_map(&r, line, &map);
	assert_int_equal(r.npairs, 0);
	assert_int_equal(r.errors[0].code, ENG_REC_TIE_VERDICT);
	assert_non_null(strstr(r.errors[0].reason, "metrics/Comprehensiveness"));
	eng_record_clear(&r);
	snprintf(line, sizeof line, rec, "Both are fine");
	parse_map(&r, line, &map);
	assert_int_equal(r.errors[0].code, ENG_REC_UNDECIDED_VERDICT);
	assert_non_null(strstr(r.errors[0].reason, "--verdict-map"));
	eng_record_clear(&r);
	/* the map decides first: here "Neutral" means a, "Both are fine" b */
	assert_int_equal(
	    eng_rec_map_add_verdicts(&map, " Neutral = a ,both are FINE=b", msg, sizeof msg), 0);
	snprintf(line, sizeof line, rec, "Neutral");
	parse_map(&r, line, &map);
	assert_int_equal(r.npairs, 1);
	assert_string_equal(r.pairs[0].chosen, "a toilet");
	eng_record_clear(&r);
	snprintf(line, sizeof line, rec, "Both are fine");
	parse_map(&r, line, &map);
	assert_int_equal(r.npairs, 1);
	assert_string_equal(r.pairs[0].chosen, "a white toilet, towels");
	eng_record_clear(&r);
	/* a metric that is not there */
	free(map.verdict_field);
	map.verdict_field = strdup("Overall");
	snprintf(line, sizeof line, rec, "Neutral");
	parse_map(&r, line, &map);
	assert_int_equal(r.errors[0].code, ENG_REC_MISSING_FIELD);
	assert_non_null(strstr(r.errors[0].reason, "Overall"));
	eng_record_clear(&r);
	/* the canonical text is order-independent for verdicts */
	char *f1 = eng_rec_map_format(&map);
	assert_non_null(strstr(f1, "image=image,answer_a=DOCCI,answer_b=IIW"));
	assert_non_null(strstr(f1, "prompt-text=Describe the image in detail."));
	assert_non_null(strstr(f1, "verdict-map=Neutral=1|both are FINE=2"));
	free(f1);
	eng_rec_map_clear(&map);
}

/* A verdict object (IIW-400: {"metrics/Comprehensiveness": "IIW-P5B is marginally better"}),
 * a verdict map from a file, bad verdict-map entries, a position field and an images list. */
static void test_records_map_verdict_object_file_position(void **state)
{
	(void)state;
	eng_rec_map map;
	char msg[256];
	assert_int_equal(
	    eng_rec_map_parse("answer_a=IIW,answer_b=IIW-P5B,verdict=sxs,image=image/key", &map,
	                      msg, sizeof msg),
	    0);
	assert_int_equal(
	    eng_rec_map_set_text(&map, "Describe.", "Comprehensiveness", NULL, msg, sizeof msg), 0);
	char path[] = "/tmp/mmaudit-vmap-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char *file = "# IIW-400 verdicts\nIIW-Human is substantially better=a\n\n"
	                   "IIW-Human is marginally better, says the rater=a\n";
	assert_int_equal(write(fd, file, strlen(file)), (ssize_t)strlen(file));
	close(fd);
	char spec[64];
	snprintf(spec, sizeof spec, "@%s", path);
	assert_int_equal(eng_rec_map_add_verdicts(&map, spec, msg, sizeof msg), 0);
	assert_int_equal(map.nvmap, 2);
	assert_string_equal(map.vmap[1].value, "IIW-Human is marginally better, says the rater");
	unlink(path);
	eng_record r;
	parse_map(&r,
	          "{\"IIW\":\"human text\",\"IIW-P5B\":\"model text\",\"image/key\":\"k1\",\"sxs\":"
	          "{\"metrics/Comprehensiveness\":\"IIW-Human is substantially better\"}}",
	          &map);
	assert_int_equal(r.npairs, 1);
	assert_string_equal(r.pairs[0].chosen, "human text");
	assert_string_equal(r.image, "k1");
	eng_record_clear(&r);
	parse_map(&r,
	          "{\"IIW\":\"human text\",\"IIW-P5B\":\"model text\",\"image/key\":\"k1\",\"sxs\":"
	          "{\"metrics/Comprehensiveness\":\"IIW-P5B is marginally better\"}}",
	          &map);
	assert_int_equal(r.npairs, 1);
	assert_string_equal(r.pairs[0].chosen, "model text");
	eng_record_clear(&r);
	parse_map(&r, "{\"IIW\":\"human text\",\"image/key\":\"k1\",\"sxs\":null}", &map);
	assert_int_equal(r.errors[0].code, ENG_REC_MISSING_FIELD);
	assert_non_null(strstr(r.errors[0].reason, "IIW-P5B"));
	assert_non_null(strstr(r.errors[0].reason, "--map"));
	eng_record_clear(&r);
	assert_int_equal(eng_rec_map_add_verdicts(&map, "x=c", msg, sizeof msg), ENG_EINPUT);
	assert_non_null(strstr(msg, "'c'"));
	assert_int_equal(eng_rec_map_add_verdicts(&map, "novalue", msg, sizeof msg), ENG_EINPUT);
	assert_int_equal(eng_rec_map_add_verdicts(&map, "@/nonexistent/v.txt", msg, sizeof msg),
	                 ENG_EINPUT);
	assert_non_null(strstr(msg, "/nonexistent/v.txt"));
	eng_rec_map_clear(&map);

	assert_int_equal(eng_rec_map_parse("chosen=good,rejected=bad,position=pos,images=media",
	                                   &map, msg, sizeof msg),
	                 0);
	parse_map(
	    &r,
	    "{\"prompt\":\"p\",\"good\":\"g\",\"bad\":\"b\",\"pos\":\"b\",\"media\":[\"m1.png\","
	    "\"m2.png\"]}",
	    &map);
	assert_int_equal(r.npairs, 1);
	assert_string_equal(r.image, "m1.png");
	assert_non_null(strstr(r.pairs[0].meta, "\"chosen_position\":2"));
	eng_record_clear(&r);
	parse_map(&r, "{\"prompt\":\"p\",\"good\":\"g\",\"bad\":\"b\",\"pos\":7}", &map);
	assert_int_equal(r.errors[0].code, ENG_REC_BAD_TYPE);
	assert_non_null(strstr(r.errors[0].reason, "position"));
	eng_record_clear(&r);
	eng_rec_map_clear(&map);
	assert_int_equal(eng_rec_map_set_text(&map, NULL, NULL, "question_id", msg, sizeof msg),
	                 ENG_EINPUT);
	assert_int_equal(eng_rec_map_set_text(&map, "  ", NULL, NULL, msg, sizeof msg), ENG_EINPUT);
	eng_rec_map_clear(&map);
}

/* WildVision: judgements name their answers by (question_id, model_a/model_b); the answers file
 * gives the texts and the prompt (instruction). A model without an answer is named. */
static void test_records_join_answers(void **state)
{
	(void)state;
	char dir[] = "/tmp/mmaudit-ans-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char p1[128], p2[128];
	snprintf(p1, sizeof p1, "%s/gpt.jsonl", dir);
	snprintf(p2, sizeof p2, "%s/claude.jsonl", dir);
	FILE *f = fopen(p1, "w");
	fputs("{\"question_id\":\"q1\",\"model\":\"gpt\",\"instruction\":\"What is this?\","
	      "\"output\":\"Pikachu.\"}\n\n{\"question_id\":\"q2\",\"model\":\"gpt\",\"output\":"
	      "\"A cat.\"}\n",
	      f);
	fclose(f);
	f = fopen(p2, "w");
	fputs("{\"question_id\":\"q1\",\"model\":\"claude\",\"instruction\":\"What is this?\","
	      "\"output\":\"A yellow mouse.\"}\n",
	      f);
	fclose(f);
	const char *paths[] = {dir};
	eng_answers *a = NULL;
	eng_err err = {0};
	assert_int_equal(eng_answers_load(paths, 1, "question_id", "model", &a, &err), 0);
	assert_int_equal(eng_answers_count(a), 3);
	assert_int_equal(strlen(eng_answers_sha256(a)), 64);
	eng_rec_map map = {0};
	char msg[128];
	assert_int_equal(
	    eng_rec_map_set_text(&map, NULL, NULL, "question_id,model", msg, sizeof msg), 0);
	map.answers = a;
	eng_record r;
	parse_map(&r,
	          "{\"question_id\":\"q1\",\"model_a\":\"claude\",\"model_b\":\"gpt\",\"score\":"
	          "\"B>>A\"}",
	          &map);
	assert_int_equal(r.nerrors, 0);
	assert_int_equal(r.npairs, 1);
	assert_string_equal(r.prompt, "What is this?");
	assert_string_equal(r.pairs[0].chosen, "Pikachu.");
	assert_string_equal(r.pairs[0].rejected, "A yellow mouse.");
	assert_non_null(strstr(r.pairs[0].meta, "\"model_a\":\"claude\""));
	assert_string_equal(r.pairs[0].id, "data:7");
	eng_record_clear(&r);
	parse_map(&r,
	          "{\"question_id\":\"q2\",\"model_a\":\"claude\",\"model_b\":\"gpt\",\"score\":"
	          "\"A>B\"}",
	          &map);
	assert_int_equal(r.errors[0].code, ENG_REC_MISSING_FIELD);
	assert_non_null(strstr(r.errors[0].reason, "'claude'"));
	assert_non_null(strstr(r.errors[0].reason, "'q2'"));
	eng_record_clear(&r);
	parse_map(&r,
	          "{\"question_id\":\"q1\",\"model_a\":\"claude\",\"model_b\":\"gpt\",\"score\":"
	          "null}",
	          &map);
	assert_int_equal(r.errors[0].code, ENG_REC_UNDECIDED_VERDICT);
	eng_record_clear(&r);
	eng_rec_map_clear(&map);
	eng_answers_free(a);
	/* two different answers for one (question, model) are refused with file:line */
	f = fopen(p2, "a");
	fputs("{\"question_id\":\"q1\",\"model\":\"claude\",\"output\":\"Other.\"}\n", f);
	fclose(f);
	assert_int_equal(eng_answers_load(paths, 1, "question_id", "model", &a, &err), ENG_EINPUT);
	assert_non_null(strstr(err.msg, "claude.jsonl:2"));
	assert_null(a);
	const char *none[] = {"/nonexistent-answers"};
	assert_int_equal(eng_answers_load(none, 1, "question_id", "model", &a, &err), ENG_EINPUT);
	assert_non_null(strstr(err.msg, "/nonexistent-answers"));
	unlink(p1);
	unlink(p2);
	rmdir(dir);
}

static void test_records_video_unsupported(void **state)
{
	(void)state;
	expect_error(
	    "{\"id\":\"v1\",\"video\":\"video/-77dfCjTbSc\",\"prompt\":\"p\",\"chosen\":\"c\","
	    "\"rejected\":\"r\"}",
	    ENG_REC_UNSUPPORTED_IMAGE, "video input");
	expect_error(
	    "{\"prompt\":\"p\",\"image\":\"clips/a.MP4\",\"chosen\":\"c\",\"rejected\":\"r\"}",
	    ENG_REC_UNSUPPORTED_IMAGE, "video file");
}

static void test_records_shape_names(void **state)
{
	(void)state;
	eng_rec_shape s;
	assert_int_equal(eng_rec_shape_parse("sharegpt", &s), 0);
	assert_int_equal(s, ENG_SHAPE_SHAREGPT);
	assert_int_equal(eng_rec_shape_parse("multi-completion", &s), 0);
	assert_int_equal(s, ENG_SHAPE_MULTI);
	assert_int_equal(eng_rec_shape_parse("csv", &s), -1);
	assert_string_equal(eng_rec_shape_name(ENG_SHAPE_HH), "hh");
	assert_string_equal(eng_rec_code_name(ENG_REC_TIE_VERDICT), "tie-verdict");
	assert_string_equal(eng_rec_code_name(ENG_REC_UNDECIDED_VERDICT), "undecided-verdict");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_records_pairwise_with_meta),
	    cmocka_unit_test(test_records_aliases_and_derived_id),
	    cmocka_unit_test(test_records_text_only),
	    cmocka_unit_test(test_records_multi_completion_pair_rule),
	    cmocka_unit_test(test_records_multi_completion_identical_and_mismatch),
	    cmocka_unit_test(test_records_rejections),
	    cmocka_unit_test(test_records_depth_limit),
	    cmocka_unit_test(test_records_code_names),
	    cmocka_unit_test(test_records_judged_verdicts),
	    cmocka_unit_test(test_records_hh_prefix_split),
	    cmocka_unit_test(test_records_sharegpt),
	    cmocka_unit_test(test_records_map_dotted),
	    cmocka_unit_test(test_records_video_unsupported),
	    cmocka_unit_test(test_records_map_judged_metric_verdicts),
	    cmocka_unit_test(test_records_map_verdict_object_file_position),
	    cmocka_unit_test(test_records_join_answers),
	    cmocka_unit_test(test_records_shape_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
