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

/* ---- the flat fast path (recflat.c) against the full parser ---------------------------------- */

/* A flat-parsed record f holds one pair and no image, as the full parser's r does. */
static void assert_same_flat_pair(const eng_record *f, const eng_record *r)
{
	assert_int_equal(f->npairs, 1);
	assert_int_equal(f->nerrors, 0);
	assert_null(f->image);
	assert_int_equal(f->shape, r->shape);
	assert_string_equal(f->prompt, r->prompt);
	assert_string_equal(f->pairs[0].id, r->pairs[0].id);
	assert_string_equal(f->pairs[0].chosen, r->pairs[0].chosen);
	assert_string_equal(f->pairs[0].rejected, r->pairs[0].rejected);
}

/* Parses line both ways. Returns what eng_record_parse_flat returned; when 0, the full parser
 * must give the same one pair (prompt, id, answers, no image, no error). When 1, the record must
 * be left zeroed. */
static size_t flat_meta_took; /* lines eng_record_parse_flat_meta took in flat_vs_full */

static int flat_vs_full(const char *line, size_t len)
{
	eng_record f, r;
	memset(&f, 0, sizeof f);
	memset(&r, 0, sizeof r);
	int rc = eng_record_parse_flat(&f, line, len, "data", 7);
	assert_true(rc == 0 || rc == 1);
	if (rc == 1) {
		static const eng_record zero;
		assert_memory_equal(&f, &zero, sizeof f);
		return 1;
	}
	assert_int_equal(eng_record_parse(&r, line, len, "data", 7), 0);
	if (r.nerrors != 0 || r.npairs != 1)
		fail_msg("flat took %.*s, the full parser gives %zu pairs, %zu errors (%s)",
		         (int)len, line, r.npairs, r.nerrors, r.nerrors ? r.errors[0].reason : "");
	assert_null(r.image);
	assert_same_flat_pair(&f, &r);
	assert_null(f.pairs[0].meta);
	/* the indexer's variant: the same pair and the full parser's meta, or 1 (an unused real or
	 * escaped string) with the record left zeroed */
	eng_record g;
	memset(&g, 0, sizeof g);
	int mrc = eng_record_parse_flat_meta(&g, line, len, "data", 7);
	assert_true(mrc == 0 || mrc == 1);
	if (mrc == 0) {
		flat_meta_took++;
		assert_null(g.root);
		assert_same_flat_pair(&g, &r);
		if (!r.pairs[0].meta)
			assert_null(g.pairs[0].meta);
		else if (!g.pairs[0].meta || strcmp(g.pairs[0].meta, r.pairs[0].meta))
			fail_msg("meta of %.*s: flat %s, full %s", (int)len, line,
			         g.pairs[0].meta ? g.pairs[0].meta : "NULL", r.pairs[0].meta);
	} else {
		static const eng_record zero;
		assert_memory_equal(&g, &zero, sizeof g);
	}
	eng_record_clear(&g);
	eng_record_clear(&f);
	eng_record_clear(&r);
	return 0;
}

static void test_records_flat_takes_common_records(void **state)
{
	(void)state;
	static const char *const lines[] = {
	    "{\"id\":\"s0-1\",\"prompt\":\"What "
	    "colour?\",\"chosen\":\"Red.\",\"rejected\":\"Blue.\","
	    "\"env\":\"s0\"}",
	    "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\"}",
	    "  { \"prompt\" : \"p\" ,\t\"chosen\" : \"a\" ,\r\"rejected\" : \"b\" }  \r\n",
	    "{\"question\":\"q\",\"chosen\":\"a\",\"rejected\":\"b\"}",
	    "{\"question\":\"q\",\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\"}",
	    "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\",\"id\":7}",
	    "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\",\"id\":-123456789012345678}",
	    "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\",\"id\":0}",
	    "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\",\"id\":null}",
	    "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\",\"id\":\" x \"}",
	    "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\",\"id\":\"q\\\"u\\\\o\\/"
	    "\\u00e9\"}",
	    "{\"prompt\":\"p\",\"chosen\":\"l1\\nl2\\r\\t\\b\\f\",\"rejected\":\"b\"}",
	    "{\"prompt\":\"p\",\"chosen\":\"\\u00c9t\\u00E9 \\u2022 \\ud83d\\ude00 "
	    "\\uD83D\\uDE00\","
	    "\"rejected\":\"b\"}",
	    "{\"prompt\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf\","
	    "\"chosen\":\"a\",\"rejected\":\"b\"}",
	    "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\",\"n\":-1.5E+3,\"m\":0.25,"
	    "\"e\":1e-300,\"t\":true,\"f\":false,\"z\":null,\"i\":42,\"s\":\"\"}",
	    "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\",\"image\":null,\"img_path\":"
	    "\"\","
	    "\"images\":null}",
	    "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\",\"\xc3\xa9\":1,\"del\":"
	    "\"\x7f\"}",
	    "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\",\"Chosen\":\"c\"}",
	    /* metadata: fields in the line's order, whatever the used fields' places */
	    "{\"z\":\"last?\",\"prompt\":\"p\",\"b\":1,\"chosen\":\"a\",\"a\":true,"
	    "\"id\":\"x\",\"rejected\":\"b\",\"m\":false,\"k\":null,\"n\":-42}",
	    "{\"prompt\":\"p\",\"question\":\"q\",\"chosen\":\"a\",\"rejected\":\"b\"}",
	    "{\"img_path\":null,\"image\":\"\",\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":"
	    "\"b\",\"image_path\":null,\"images\":null}",
	    "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\",\"src\":\"caf\xc3\xa9 / "
	    "\xf0\x9f\x98\x80 \x7f\",\"\xc3\xa9\":\"\"}",
	};
	size_t took0 = flat_meta_took;
	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
		if (flat_vs_full(lines[i], strlen(lines[i])) != 0)
			fail_msg("the flat path declined %s", lines[i]);
	/* the indexer's variant takes all but the one with unused reals */
	assert_int_equal(flat_meta_took - took0, sizeof lines / sizeof lines[0] - 1);
}

/* The indexer's variant declines what it could not write as jansson dumps it, and only that. */
static void test_records_flat_meta_declines_reals_and_escapes(void **state)
{
	(void)state;
	static const char *const lines[] = {
	    "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\",\"r\":0.5}",
	    "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\",\"r\":1e2}",
	    "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\",\"s\":\"\\u00e9\"}",
	    "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\",\"s\":\"\\/\"}",
	};
	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
		size_t took0 = flat_meta_took;
		assert_int_equal(flat_vs_full(lines[i], strlen(lines[i])), 0);
		assert_int_equal(flat_meta_took, took0);
	}
	/* escapes and reals in the used fields are the pair's, not the meta's: taken */
	const char *used = "{\"prompt\":\"\\u00e9\",\"chosen\":\"a\\n\",\"rejected\":\"b\","
	                   "\"id\":\"\\/x\",\"env\":\"s\"}";
	size_t took0 = flat_meta_took;
	assert_int_equal(flat_vs_full(used, strlen(used)), 0);
	assert_int_equal(flat_meta_took, took0 + 1);
}

static void test_records_flat_declines_the_rest(void **state)
{
	(void)state;
	/* each is either an error of the full parser, another shape, an image, or JSON this
	 * scanner leaves to jansson */
	static const char *const lines[] = {
	    "",
	    " ",
	    "[]",
	    "\"s\"",
	    "42",
	    "{",
	    "{}",
	    "{\"prompt\":\"p\"}",
	    "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"a\"}",
	    "{\"prompt\":\"p\",\"chosen\":\" a\\n\",\"rejected\":\"a\"}",
	    "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\",\"id\":-0}",
	    "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\",\"id\":012}",
	    "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\",\"id\":1234567890123456789}",
	    "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\",\"id\":1.5}",
	    "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\",\"id\":\" \"}",
	    "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\",\"id\":true}",
	    "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\",\"id\":\"x\",\"id\":\"y\"}",
	    "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\",\"ch\\u006fsen\":\"c\"}",
	    "{\"prompt\":\"p\",\"chosen\":\"a\\u0000b\",\"rejected\":\"b\"}",
	    "{\"prompt\":\"p\",\"chosen\":\"a\x01\",\"rejected\":\"b\"}",
	    "{\"prompt\":\"p\",\"chosen\":\"a\tb\",\"rejected\":\"b\"}",
	    "{\"prompt\":\"p\",\"chosen\":\"\\ud800\",\"rejected\":\"b\"}",
	    "{\"prompt\":\"p\",\"chosen\":\"\\udc00\",\"rejected\":\"b\"}",
	    "{\"prompt\":\"p\",\"chosen\":\"\\ud800\\u0041\",\"rejected\":\"b\"}",
	    "{\"prompt\":\"p\",\"chosen\":\"\\x41\",\"rejected\":\"b\"}",
	    "{\"prompt\":\"p\",\"chosen\":\"\\u12\",\"rejected\":\"b\"}",
	    "{\"prompt\":\"p\",\"chosen\":\"a\xff\",\"rejected\":\"b\"}",
	    "{\"prompt\":\"p\",\"chosen\":\"a\xc0\xaf\",\"rejected\":\"b\"}",
	    "{\"prompt\":\"p\",\"chosen\":\"a\xed\xa0\x80\",\"rejected\":\"b\"}",
	    "{\"prompt\":\"p\",\"chosen\":\"a\xf4\x90\x80\x80\",\"rejected\":\"b\"}",
	    "{\"prompt\":\"p\",\"chosen\":\"a\xe2\x82\",\"rejected\":\"b\"}",
	    "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\"} x",
	    "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\"}{}",
	    "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\",}",
	    "{\"prompt\":\"p\" \"chosen\":\"a\",\"rejected\":\"b\"}",
	    "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\",\"n\":1.}",
	    "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\",\"n\":.5}",
	    "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\",\"n\":1e400}",
	    "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\",\"n\":1e-400}",
	    "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\",\"n\":tru}",
	    "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\",\"n\":truex}",
	    "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\",\"n\":NaN}",
	    "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\",\"meta\":{\"a\":1}}",
	    "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\",\"tags\":[]}",
	    "{\"prompt\":\"\",\"chosen\":\"a\",\"rejected\":\"b\"}",
	    "{\"prompt\":null,\"question\":\"q\",\"chosen\":\"a\",\"rejected\":\"b\"}",
	    "{\"prompt\":5,\"chosen\":\"a\",\"rejected\":\"b\"}",
	    "{\"prompt\":\"p\",\"chosen\":[\"a\"],\"rejected\":\"b\"}",
	    "{\"prompt\":\"p\",\"chosen\":\"a\"}",
	    "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"\\n\"}",
	    "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\",\"image\":\"x.png\"}",
	    "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\",\"image\":5}",
	    "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\",\"images\":\"x.png\"}",
	    "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\",\"video\":null}",
	    "{\"chosen\":\"\\n\\nHuman: hi\\n\\nAssistant: a\",\"rejected\":\"\\n\\nHuman: "
	    "hi\\n\\nAssistant: b\"}",
	    "{\"messages\":\"x\",\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\"}",
	    "{\"prompt\":\"p\",\"answer_a\":\"x\",\"answer_b\":\"y\",\"winner\":\"model_a\"}",
	    "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\",\"completions\":null}",
	    "\xef\xbb\xbf{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\"}",
	};
	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
		if (flat_vs_full(lines[i], strlen(lines[i])) != 1)
			fail_msg("the flat path took %s", lines[i]);
	/* a NUL byte inside or after the object */
	static const char nul1[] = "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\"}\0";
	static const char nul2[] = "{\"prompt\":\"p\",\"chosen\":\"a\0\",\"rejected\":\"b\"}";
	assert_int_equal(flat_vs_full(nul1, sizeof nul1 - 1), 1);
	assert_int_equal(flat_vs_full(nul2, sizeof nul2 - 1), 1);
}

/* Random byte edits of a few records (JSON punctuation, escapes, UTF-8 pieces, digits): whatever
 * the flat path takes, the full parser gives the same pair. */
static void test_records_flat_mutations_agree(void **state)
{
	(void)state;
	static const char *const base[] = {
	    "{\"id\":\"a\\u00e9\",\"prompt\":\"P \\\"q\\\"\",\"chosen\":\"x\\ny \xc3\xa9\","
	    "\"rejected\":\"z \\ud83d\\ude00\",\"n\":-1.5e3,\"t\":true,\"z\":null}",
	    "{\"prompt\":\"p\",\"chosen\":\"a b\",\"rejected\":\"b a\",\"id\":12,\"image\":null}",
	};
	static const char *const bits[] = {
	    "\"",   "\\",   ",",    ":", "{", "}", " ", "\\u", "00", "d8", "dc", "\xc3", "\xa9",
	    "\xed", "\x80", "\x01", "0", "-", ".", "e", "1",   "n",  "t",  "[",  "\\n"};
	uint64_t x = 88172645463325252ULL;
	size_t took = 0, total = 0;
	char buf[512];
	for (size_t b = 0; b < sizeof base / sizeof base[0]; b++) {
		for (int it = 0; it < 20000; it++) {
			size_t n = strlen(base[b]);
			memcpy(buf, base[b], n);
			int edits = 1 + (int)(x % 3);
			for (int e = 0; e < edits; e++) {
				x ^= x << 13, x ^= x >> 7, x ^= x << 17;
				size_t at = (size_t)(x % (n + 1));
				const char *ins = bits[(x >> 20) % (sizeof bits / sizeof bits[0])];
				size_t k = strlen(ins), del = (x >> 40) % 3;
				if (at + del > n)
					del = n - at;
				if (n - del + k >= sizeof buf)
					continue;
				memmove(buf + at + k, buf + at + del, n - at - del);
				memcpy(buf + at, ins, k);
				n = n - del + k;
			}
			took += flat_vs_full(buf, n) == 0;
			total++;
		}
	}
	/* the edits must leave some records the flat path takes and some it declines */
	assert_true(took > 100 && took < total - 100);
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
	    cmocka_unit_test(test_records_flat_takes_common_records),
	    cmocka_unit_test(test_records_flat_declines_the_rest),
	    cmocka_unit_test(test_records_flat_meta_declines_reals_and_escapes),
	    cmocka_unit_test(test_records_flat_mutations_agree),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
