/* rpt_csv.h - samples.csv: one row per scored pair, ranked by shortcut score within each dataset.
 *
 * Header: dataset,id,rank,shortcut_score,p_text,p_mm,sfc,category,chosen_chars,rejected_chars
 * rank 1 = most text-solvable (highest p_text; ties by pair id); shortcut_score = p_text;
 * *_chars = UTF-8 code points. RFC 4180: CRLF line ends, fields with , " CR LF quoted with ""
 * doubled. Spreadsheet formula injection: a text cell starting with = + - @ TAB or CR gets a
 * leading single quote. A dataset's rows are read in one unordered scan and ranked in memory
 * (about 130 bytes per pair with its strings), which is much faster than SQLite's sorter (and
 * the workspace's temp_store is memory). A dataset of more than rpt_csv_chunk_rows pairs is
 * ranked in chunks, each sorted into an unlinked temporary file ($TMPDIR, else /tmp; about 100
 * bytes per pair) and merged: memory stays at one chunk's (~70 MB), the bytes are the same. */
#ifndef RPT_CSV_H
#define RPT_CSV_H

#include <stdint.h>
#include <stdio.h>

#include "progress.h"
#include "reports/rpt_state.h"

/* Rows per in-memory chunk (default 2^19); tests lower it to exercise the merge. */
extern size_t rpt_csv_chunk_rows;

/* Writes samples.csv for every scored dataset of st to f. *rows (may be NULL) = data rows written.
 * Write errors are ENG_EIO. */
int rpt_csv_write(const rpt_state *st, FILE *f, const eng_progress *prog, int64_t *rows,
                  eng_err *err);

/* Writes one text cell with defusing and quoting (exposed for tests). */
void rpt_csv_cell(FILE *f, const char *s);

/* Writes ",x" with x as rpt_csv_fixed6, or "," alone for NAN (an empty cell: no figure). */
void rpt_csv_num6(FILE *f, double x);

/* Writes the cells every per-pair file (samples.csv, weights.csv) ends its row with:
 * dup_group,conflict,source_file,line then eol ("\r\n" or "\n"). dup_group and source are text
 * cells (rpt_csv_cell: NULL writes nothing). */
void rpt_csv_origin(FILE *f, const char *dup_group, int conflict, const char *source, int64_t line,
                    const char *eol);

/* Writes v as printf("%lld") would, without printf's format parsing (a few per row). */
void rpt_csv_int(FILE *f, long long v);

/* Writes x as printf("%.6f") would (the same digits), faster; falls back to printf for values it
 * cannot do exactly (non-finite, |x| >= 1e9, near a rounding tie). */
void rpt_csv_fixed6(FILE *f, double x);

#endif
