/* test_records.c - record shapes -> pairs, and every record-level rejection with its code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/err.h"
#include "engine/records.h"

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
	assert_non_null(strstr(msg, "unknown role"));
	assert_int_equal(eng_rec_map_parse("id=a,id=b", &map, msg, sizeof msg), ENG_EINPUT);
	eng_rec_map_clear(&map);
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
	    cmocka_unit_test(test_records_shape_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
