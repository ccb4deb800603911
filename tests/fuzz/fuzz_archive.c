/* fuzz_archive.c - libFuzzer target: bytes -> the archive member reader the indexer uses
 * (eng_archive_scan's loop, through eng_archive_scan_memory), wanting every member.
 *
 * Invariants: a member handed over with data has a normalised, relative name without "..", and a
 * refused member comes with a reason. Nothing is written anywhere. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "images.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

static int want(void *ctx, const char *name)
{
	(void)ctx;
	check(name[0] != '/');
	return 1;
}

static int got(void *ctx, const char *name, const uint8_t *data, size_t n,
               const eng_rec_error *refused)
{
	size_t *sum = ctx;
	if (refused) {
		check(data == NULL && refused->reason[0]);
		return 0;
	}
	check(data != NULL || n == 0);
	for (const char *s = name; *s;) {
		size_t seg = strcspn(s, "/");
		check(seg != 0 && !(seg == 1 && s[0] == '.') &&
		      !(seg == 2 && s[0] == '.' && s[1] == '.'));
		s += seg;
		s += *s != '\0';
	}
	int supported;
	if (n && eng_image_format(data, n, &supported) && supported)
		*sum += (size_t)eng_image_truncated(eng_image_format(data, n, &supported), data, n);
	for (size_t i = 0; i < n; i += 4096)
		*sum += data[i];
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t sum = 0;
	eng_err err = {0};
	int rc = eng_archive_scan_memory(data, size, "fuzz", want, got, &sum, &err);
	check(rc == 0 || (rc == ENG_EINPUT && err.msg[0]) || rc == ENG_ENOMEM);
	return 0;
}
