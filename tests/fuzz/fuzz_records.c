/* fuzz_records.c - libFuzzer target: bytes -> JSONL line reader -> record parser (every shape).
 *
 * The input is split into lines exactly as `mmaudit index` reads a file (jsonl.c, with a 1 MiB line
 * cap so long lines take the too-long path quickly), and each line goes through
 * eng_record_parse. Checks the parser's output invariants, and that whatever the flat fast path
 * (eng_record_parse_flat) takes, the full parser gives as the same one pair (and the indexer's
 * variant, eng_record_parse_flat_meta, the same meta too); does not touch images
 * or SQLite. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsonl.h"
#include "records.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct mem {
	const uint8_t *p;
	size_t n, off;
} mem;

/* Hands out the input in uneven pieces so line splitting across reads is exercised. */
static long mem_read(void *ctx, void *buf, size_t n, char *msg)
{
	(void)msg;
	mem *m = ctx;
	size_t left = m->n - m->off, take = n < left ? n : left;
	if (take > 7 && (m->off & 1))
		take = take / 2 + 1;
	memcpy(buf, m->p + m->off, take);
	m->off += take;
	return (long)take;
}

static void check(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mem m = {data, size, 0};
	eng_jsonl *r = NULL;
	eng_err err = {0};
	if (eng_jsonl_open_fn(mem_read, &m, (size_t)1 << 20, &r, &err))
		return 0;
	const char *line;
	size_t len;
	uint64_t no, last = 0;
	int rc;
	while ((rc = eng_jsonl_next(r, &line, &len, &no, &err)) > 0) {
		check(no > last);
		last = no;
		if (rc != ENG_JSONL_LINE)
			continue;
		check(strlen(line) <= len); /* NUL bytes may end it early, never late */
		eng_record rec;
		memset(&rec, 0, sizeof rec);
		eng_record flat;
		memset(&flat, 0, sizeof flat);
		int frc = eng_record_parse_flat(&flat, line, len, "fuzz", no);
		check(frc == 0 || frc == 1 || frc == ENG_ENOMEM);
		int prc = eng_record_parse(&rec, line, len, "fuzz", no);
		if (frc == 0 && prc == 0) {
			check(rec.npairs == 1 && rec.nerrors == 0 && !rec.image && !flat.image);
			check(!strcmp(flat.prompt, rec.prompt));
			check(!strcmp(flat.pairs[0].id, rec.pairs[0].id));
			check(!strcmp(flat.pairs[0].chosen, rec.pairs[0].chosen));
			check(!strcmp(flat.pairs[0].rejected, rec.pairs[0].rejected));
		}
		eng_record_clear(&flat);
		/* the indexer's variant: when it takes the line, the same pair and meta */
		int mrc = eng_record_parse_flat_meta(&flat, line, len, "fuzz", no);
		check(mrc == 0 || mrc == 1 || mrc == ENG_ENOMEM);
		check(mrc != 0 || frc == 0);
		if (mrc == 0 && prc == 0) {
			check(rec.npairs == 1 && rec.nerrors == 0);
			check(!strcmp(flat.prompt, rec.prompt));
			check(!strcmp(flat.pairs[0].id, rec.pairs[0].id));
			check(!strcmp(flat.pairs[0].chosen, rec.pairs[0].chosen));
			check(!strcmp(flat.pairs[0].rejected, rec.pairs[0].rejected));
			check(!flat.pairs[0].meta == !rec.pairs[0].meta);
			check(!flat.pairs[0].meta ||
			      !strcmp(flat.pairs[0].meta, rec.pairs[0].meta));
		}
		eng_record_clear(&flat);
		if (prc == 0) {
			/* npairs == nerrors == 0 is valid: a multi-completion record of ties */
			for (size_t i = 0; i < rec.npairs; i++) {
				const eng_rec_pair *p = &rec.pairs[i];
				check(p->id && *p->id && p->chosen && p->rejected);
				check(strcmp(p->chosen, p->rejected) != 0);
			}
			for (size_t i = 0; i < rec.nerrors; i++)
				check((unsigned)rec.errors[i].code < ENG_REC_NCODES &&
				      rec.errors[i].reason[0]);
			if (rec.npairs)
				check(rec.prompt && *rec.prompt);
		}
		eng_record_clear(&rec);
	}
	eng_jsonl_close(r);
	return 0;
}
