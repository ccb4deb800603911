#!/bin/bash
# Submits the sharded audit as Slurm jobs. Run it in the work directory, which holds shards.txt
# (one input file per line: task I indexes line I+1). Environment: MMAUDIT (the binary, default
# mmaudit on PATH), SEED (default 1), DATASET (default data). Prints the job ids: index score finish.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
n=$(grep -c . shards.txt)
mkdir -p logs ws scores
export MMAUDIT=${MMAUDIT:-mmaudit} SEED=${SEED:-1} DATASET=${DATASET:-data}
# a failed dependency cancels the jobs waiting on it instead of leaving them pending forever
sb() { sbatch --parsable --kill-on-invalid-dep=yes --export=ALL "$@" | cut -d';' -f1; }
index=$(sb --array=0-$((n - 1)) "$here/index.sbatch")
# TRAIN (issue 18): train=$(sb --dependency=afterok:$index "$here/train.sbatch"), and score
#                   below depends on afterok:$train
score=$(sb --array=0-$((n - 1)) --dependency=afterok:"$index" "$here/score.sbatch")
# MERGE + REPORT (issue 18): in finish.sbatch
finish=$(sb --dependency=afterok:"$score" "$here/finish.sbatch")
echo "$index $score $finish"
