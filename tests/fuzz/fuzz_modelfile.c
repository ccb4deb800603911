/* fuzz_modelfile.c - libFuzzer target: bytes -> the model file reader (eng_modelfile_parse, what
 * `score --model FILE` and `score --stdin` read after eng_modelfile_read has read the file).
 *
 * The input is a model file without its SHA-256 trailer: the harness appends the right checksum,
 * so the fuzzer reaches the header, the configuration JSON and the model records instead of
 * stopping at the checksum (a corrupted file with a wrong checksum is refused before any parsing;
 * the e2e tests cover that). Checks the reader's contract: it returns 0, ENG_EINPUT or ENG_ENOMEM,
 * and an ENG_EINPUT message names the file. A model it accepts must be usable: scoring two
 * records with it (the fast path of `score --stdin`) returns 0 or an input error, never reads
 * outside the models (ASan). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modelfile.h"
#include "sha256.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

static const char *const lines[] = {
    "{\"id\":\"a\",\"prompt\":\"What colour is the star?\",\"chosen\":\"Of course! It is orange."
    "\",\"rejected\":\"It is pink.\"}",
    "{\"prompt\":\"\",\"chosen\":\"x\",\"rejected\":\"y y y y y\"}",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > (8u << 20))
		return 0;
	uint8_t *p = malloc(size + ENG_SHA256_LEN);
	check(p != NULL);
	if (size)
		memcpy(p, data, size);
	eng_sha256(p, size, p + size);
	eng_modelfile *mf = NULL;
	eng_err err = {0};
	int rc = eng_modelfile_parse(p, size + ENG_SHA256_LEN, "fuzz.mma", &mf, &err);
	free(p);
	check(rc == 0 || rc == ENG_EINPUT || rc == ENG_ENOMEM);
	if (rc) {
		check(mf == NULL && err.code == rc);
		check(rc != ENG_EINPUT || strstr(err.msg, "fuzz.mma") != NULL);
		return 0;
	}
	check(mf != NULL);
	static FILE *sink;
	if (!sink)
		sink = fopen("/dev/null", "w");
	check(sink != NULL);
	char *ls[2];
	size_t lens[2];
	for (int i = 0; i < 2; i++) {
		ls[i] = strdup(lines[i]);
		check(ls[i] != NULL);
		lens[i] = strlen(lines[i]);
	}
	rc = eng_modelfile_score_lines(mf, ls, lens, 2, 0, 0.8, sink, &err);
	check(rc == 0 || rc == 1 || rc == ENG_EINPUT);
	for (int i = 0; i < 2; i++)
		free(ls[i]);
	eng_modelfile_free(mf);
	return 0;
}
