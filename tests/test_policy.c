/* test_policy.c - the policy file parser (reports/rpt_gate.h rpt_policy_parse, rpt_policy_load):
 * a policy file is text or an error naming file:line; a BOM is skipped; numbers are decimal;
 * directories and devices are refused before any read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "reports/rpt_gate.h"

static int parse(const char *text, size_t n, rpt_policy *p, eng_err *err)
{
	rpt_policy_init(p);
	memset(err, 0, sizeof *err);
	return rpt_policy_parse(p, "pol", text, n, err);
}

static void test_policy_text_only(void **state)
{
	(void)state;
	rpt_policy p;
	eng_err err;
	static const struct {
		const char *text;
		size_t n;
		const char *where;
	} bad[] = {
	    {"max-sfd = 0.5\nmax-text-accuracy\0 = 0.1\n", 40, "pol:2: a NUL byte"},
	    {"max-sfd = 0.5\n\x01\x02\n", 17, "pol:2: a control character"},
	    {"# ok\nmax-sfd = 0.5\xff\n", 19, "pol:2: bytes that are not UTF-8"},
	    {"max-sfd = 0x0.1\n", 16, "pol:1: max-sfd wants"},
	    {"max-sfd = inf\n", 14, "pol:1:"},
	    {"max-sfd = nan\n", 14, "pol:1:"},
	    {"\n\nstrict = maybe\n", 17, "pol:3: strict"},
	    {"max-sfd = 0.1\nmax-sfd = 0.2\n", 28, "pol:2: 'max-sfd' is set twice"},
	    {"what\n", 5, "pol:1: expected 'key = value'"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(parse(bad[i].text, bad[i].n, &p, &err), ENG_EINPUT);
		assert_non_null(strstr(err.msg, bad[i].where));
	}
	/* a BOM is not part of the first key; CRLF lines; comments */
	const char ok[] = "\xEF\xBB\xBFmax-text-accuracy = 0.7\r\n# c\r\nmax-sfd = -0.25 # x\n";
	assert_int_equal(parse(ok, sizeof ok - 1, &p, &err), 0);
	assert_true(fabs(p.max[RPT_RULE_TEXT_ACCURACY] - 0.7) < 1e-12);
	assert_true(fabs(p.max[RPT_RULE_SFD] + 0.25) < 1e-12);
	assert_true(isnan(p.max[RPT_RULE_SHORTCUT_RATE]));
	/* a BOM later in the file is not skipped: it is part of a key */
	const char late[] = "max-sfd = 0.1\n\xEF\xBB\xBFmax-ood-gap = 0.1\n";
	assert_int_equal(parse(late, sizeof late - 1, &p, &err), ENG_EINPUT);
	assert_non_null(strstr(err.msg, "pol:2: unknown key"));
}

static void test_policy_load_kinds(void **state)
{
	(void)state;
	rpt_policy p;
	eng_err err = {0};
	rpt_policy_init(&p);
	assert_int_equal(rpt_policy_load(&p, "/dev/zero", &err), ENG_EINPUT);
	assert_non_null(strstr(err.msg, "character device"));
	assert_int_equal(rpt_policy_load(&p, "/tmp", &err), ENG_EINPUT);
	assert_non_null(strstr(err.msg, "'/tmp' is a directory"));
	assert_int_equal(rpt_policy_load(&p, "/nonexistent/policy", &err), ENG_EINPUT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_policy_text_only),
	    cmocka_unit_test(test_policy_load_kinds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
