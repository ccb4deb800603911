/* index.h - ingest one JSONL, JSON array, Parquet or bundle file into a dataset of the workspace.
 *
 * One transaction per input file: a process killed mid-file leaves that file wholly absent.
 * Idempotent: a file whose content SHA-256 was already ingested into the dataset with the same
 * options that change what is kept (shape, field map, verdict map, fixed prompt, join input,
 * missing-images, duplicate-ids, images root, pixel and line limits, feature version: the
 * "options key", stored in source_files.options) is skipped; the same content with another
 * options key replaces that file's rows (pairs, errors, scores) in the file's transaction. Record
 * problems (bad JSON, missing fields, bad images, duplicate ids, ...) are stored in ingest_errors
 * with file:line, code and reason, in the same transaction, and the good records are kept; with
 * strict the first problem rolls the whole file back. Images are resolved through images.h: a
 * relative reference against the images root (a directory, or an archive streamed once after the
 * records are read), an absolute path, or a data: URI. Input may be plain or compressed JSONL
 * (.gz through zlib, which checks every member's trailer; .bz2/.xz/.zst through libarchive), a JSON
 * array file (detected by its leading '[', streamed element by element; a pair's line is where its
 * element starts), a Parquet file (detected by its PAR1 magic, read row by row through parquet.h: a
 * pair's line is its 1-based row, error reasons start with "row group G, row R", embedded image
 * bytes are stored like any image; a .parquet name without the magic is ENG_EINPUT), or a bundle
 * archive holding record files and images (eng_index_is_bundle). The record shape is detected from
 * the first object record of each file unless opts->shape/opts->map say otherwise. After each file,
 * duplicates and label conflicts of the dataset are recomputed (engine/ingest/dedup.h). Does not
 * print; progress goes through the hook. */
#ifndef ENG_INDEX_H
#define ENG_INDEX_H

#include <stdint.h>

#include "err.h"
#include "progress.h"
#include "records.h"
#include "shard.h"
#include "workspace.h"

typedef struct eng_index_opts {
	const char *images;  /* DIR or ARCHIVE for relative references; NULL = the file's folder */
	int strict;          /* first record problem -> roll back the file, return ENG_EINPUT */
	uint64_t max_pixels; /* 0 = ENG_IMAGE_DEFAULT_MAX_PIXELS */
	size_t max_line;     /* 0 = ENG_JSONL_DEFAULT_MAX_LINE */
	eng_rec_shape shape; /* ENG_SHAPE_AUTO: detected from the file's first object record */
	const eng_rec_map *map; /* field map; with shape AUTO it implies ENG_SHAPE_MAPPED */
	int missing_text_only;  /* an image file/member that is absent keeps its pairs as text-only
	                           pairs (image_ref kept, image_id NULL) instead of rejecting them */
	int rename_dup_ids;     /* an id already used in the dataset is kept as "<id>@L<line>"
	                           (counted in ids_renamed) instead of rejected as duplicate-id */
	eng_shard shard; /* --shard I/N: only the records of shard I of N (shard.h); n = 0: all */
	int images_outside; /* a relative image path whose ".." segments climb out of the
	                     * images folder is read (--allow-image-paths-outside); by default
	                     * it is refused (unsafe-member), as archive members are */
	eng_progress progress;
} eng_index_opts;

#define ENG_INDEX_FIRST_ERRORS 5

typedef struct eng_index_result {
	int skipped;     /* the same content was already ingested into this dataset, same options */
	char sha256[65]; /* content hash of the input file */
	uint64_t records;       /* non-blank lines read */
	uint64_t other_shard;   /* of those, records of other shards (opts.shard): not kept, not
	                           errors   here (their own shard's run reports them) */
	uint64_t pairs;         /* pairs kept */
	uint64_t errors;        /* rows written to ingest_errors */
	uint64_t images_new;    /* distinct images decoded and stored by this file */
	uint64_t images_reused; /* image references satisfied from the store without decoding */
	uint64_t images_missing_kept; /* pairs kept text-only because their image is absent */
	uint64_t ids_renamed;         /* pairs stored under "<id>@L<line>" (rename_dup_ids) */
	uint64_t replaced;            /* source files whose content was ingested before with other
	                                 options: their rows were replaced (0 or 1; a bundle: members) */
	uint64_t replaced_pairs;      /* pairs those rows had */
	char replaced_options[512];   /* the options they were ingested with (last one) */
	uint64_t
	    duplicates; /* the dataset's duplicate pairs after this file (engine/ingest/dedup.h) */
	uint64_t conflicts; /* the dataset's groups of duplicates with conflicting labels */
	uint64_t by_code[ENG_REC_NCODES];
	eng_rec_shape
	    shape;     /* the record shape used (detected or given); AUTO when no record parsed */
	size_t nfirst; /* the first few errors, in the order found */
	struct {
		uint64_t line;
		eng_rec_code code;
		char reason[384];
	} first[ENG_INDEX_FIRST_ERRORS];
} eng_index_result;

/* File stem used for derived ids and the default dataset name: basename without .jsonl/.json and
 * compression suffixes. Writes at most n bytes (NUL-terminated). */
void eng_index_stem(const char *path, char *stem, size_t n);

/* 1 when path names a bundle (.tar, .tar.gz/.tgz, .tar.bz2, .tar.xz, .tar.zst, .zip, .7z): its
 * .jsonl/.json/.ndjson members are ingested, each as its own source file row labelled
 * "BUNDLE:member" (idempotent per member content), with relative image references resolved in
 * the same archive: against the member's folder first, then the archive root (unless
 * opts->images says otherwise). All members are one transaction. */
int eng_index_is_bundle(const char *path);

/* Ingests path into dataset (created when absent). Returns 0 (res filled; res->skipped for a
 * repeat), ENG_EINPUT for an unreadable input or images root, or with strict on the first record
 * problem (err names file:line; the workspace is unchanged), ENG_EIO/ENG_ENOMEM/ENG_EINTERNAL on
 * system errors (the file's transaction is rolled back). */
int eng_index_file(eng_ws *ws, const char *dataset, const char *path, const eng_index_opts *opts,
                   eng_index_result *res, eng_err *err);

#endif
