/* fuzz_image.c - libFuzzer target: bytes -> the image store's path for a new image (format sniff,
 * truncation check, header read, pixel limit before decode, decode, thumbnail, features, insert).
 *
 * Uses one in-memory workspace; each input runs inside a transaction that is rolled back, so the
 * store stays empty and every input takes the "new image" path. Inputs starting with "data:" go
 * through the data: URI decoder first. The pixel limit is lowered to 1 MP to keep executions fast;
 * the check itself is the same code. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "images.h"
#include "workspace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static eng_ws *ws;
static eng_imgstore *store;

static void check(int cond)
{
	if (!cond)
		abort();
}

static void teardown(void)
{
	eng_imgstore_free(store);
	eng_ws_close(ws);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	eng_err err = {0};
	if (!ws) {
		check(eng_ws_open(":memory:", &ws, &err) == 0);
		check(eng_imgstore_new(ws, (uint64_t)1 << 20, &store, &err) == 0);
		atexit(teardown);
	}
	uint8_t *owned = NULL;
	eng_rec_error rej = {0};
	if (size >= 5 && !memcmp(data, "data:", 5)) {
		char *uri = malloc(size + 1);
		check(uri != NULL);
		memcpy(uri, data, size);
		uri[size] = '\0';
		size_t n = 0;
		int rc = eng_image_data_uri(uri, &owned, &n, &rej);
		free(uri);
		check(rc == 0 || rc == 1);
		if (rc)
			return 0;
		data = owned;
		size = n;
	}
	check(eng_ws_begin(ws, &err) == 0);
	int64_t id = 0;
	int is_new = 0;
	int rc = eng_imgstore_put(store, data, size, "fuzz", &id, &is_new, &rej, &err);
	check(rc == 0 || rc == 1);
	if (rc == 0)
		check(is_new && id > 0);
	else
		check(rej.reason[0] != '\0');
	eng_ws_rollback(ws);
	free(owned);
	return 0;
}
