/* fuzz_policy.c - libFuzzer target: bytes -> the policy file parser (rpt_policy_parse, what
 * `--policy FILE` reads after rpt_policy_load has read the file).
 *
 * Checks the parser's contract: it returns 0 or ENG_EINPUT (never another code), an error message
 * names the label and a line ("fuzz:N: ..."), and a successful parse leaves every rule NaN or a
 * finite fraction in its range, and a NUL-terminated dataset name. Any NUL byte, control
 * character or invalid UTF-8 in a line that is reached must be an error, never a dropped rule. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reports/rpt_gate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > RPT_POLICY_MAX)
		return 0;
	rpt_policy p;
	rpt_policy_init(&p);
	eng_err err = {0};
	int rc = rpt_policy_parse(&p, "fuzz", (const char *)data, size, &err);
	check(rc == 0 || rc == ENG_EINPUT);
	if (rc) {
		check(err.code == ENG_EINPUT);
		check(!strncmp(err.msg, "fuzz:", 5) && err.msg[5] >= '1' && err.msg[5] <= '9');
		return 0;
	}
	check(memchr(data, '\0', size) == NULL); /* a NUL byte is never accepted */
	for (int i = 0; i < RPT_RULE_N; i++) {
		double lo = i == RPT_RULE_SFD || i == RPT_RULE_OOD_GAP ? -1 : 0;
		check(isnan(p.max[i]) || (isfinite(p.max[i]) && p.max[i] >= lo && p.max[i] <= 1));
	}
	check(memchr(p.dataset, '\0', sizeof p.dataset) != NULL);
	check(p.strict == 0 || p.strict == 1);
	return 0;
}
