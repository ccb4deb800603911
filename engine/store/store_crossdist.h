/* store_crossdist.h - the cells of a crossdist run (crossdist_cells): accuracy of a method
 * trained on one dataset and tested on another's test split.
 *
 * Does not compute cells (engine/eval/crossdist.c does) nor their summary figures, which the run
 * stores in its metrics JSON (store_runs.h: eng_run_metrics). */
#ifndef ENG_STORE_CROSSDIST_H
#define ENG_STORE_CROSSDIST_H

#include <stdint.h>

#include "err.h"
#include "workspace.h"

typedef struct eng_xd_cell_row {
	int64_t train_ds, test_ds; /* dataset ids */
	int64_t n;                 /* test pairs the cell was scored on */
	double accuracy;           /* 0 when NULL */
} eng_xd_cell_row;

/* Called once per row; 0 continues, anything else stops the iteration and is returned by it. */
typedef int (*eng_xd_cell_cb)(void *ctx, const eng_xd_cell_row *row);

/* Calls cb for every cell of run run_id with method (e.g. "standard") trained on train_ds, by
 * test dataset id. Returns 0, cb's nonzero return (err left to cb), or a negative ENG_E* code with
 * err filled ("read crossdist cells: ..."). */
int eng_xd_cells_each(eng_ws *ws, int64_t run_id, const char *method, int64_t train_ds,
                      eng_xd_cell_cb cb, void *ctx, eng_err *err);

#endif
