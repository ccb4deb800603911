/* fuzz_parquet.c - libFuzzer target: bytes -> the Parquet reader (footer, schema, every column
 * cursor and page, row assembly, chat-message flattening), as `mmaudit index` reads a .parquet
 * file, but from memory. Checks the reader's invariants (a row is an object, blobs lie inside the
 * row and have labels, errors carry a message); does not touch images or SQLite. At most 4096
 * rows are read per input so a large row count in a small file stays quick. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parquet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	eng_pq *pq = NULL;
	eng_err err = {0};
	if (eng_pq_open_memory(data, size, "fuzz.parquet", &pq, &err)) {
		check(err.code < 0 && err.msg[0]);
		return 0;
	}
	char problem[256];
	for (int i = 0; i < 4096; i++) {
		json_t *row = NULL;
		const eng_pq_blob *blobs;
		size_t nb;
		int rc = eng_pq_next_row(pq, &row, &blobs, &nb, problem, &err);
		if (rc <= 0) {
			check(rc == 0 || (err.code < 0 && err.msg[0]));
			check(!row);
			break;
		}
		check(json_is_object(row));
		for (size_t k = 0; k < nb; k++)
			check(blobs[k].label && blobs[k].label[0] && (blobs[k].p || !blobs[k].n));
		check(eng_pq_flatten_messages(row) == 0);
		json_decref(row);
	}
	eng_pq_close(pq);
	return 0;
}
