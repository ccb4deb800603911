#!/bin/bash
# Submits the sharded audit as Slurm jobs. Run it in the work directory, which holds shards.txt
# (one input file per line: task I indexes line I+1). Environment: MMAUDIT (the binary, default
# mmaudit on PATH), SEED (default 1), DATASET (default data). Prints the job ids:
# index train score finish (index array -> train -> score array with the model -> merge + report).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
n=$(grep -c . shards.txt)
mkdir -p logs ws scores
export MMAUDIT=${MMAUDIT:-mmaudit} SEED=${SEED:-1} DATASET=${DATASET:-data}
# a failed dependency cancels the jobs waiting on it instead of leaving them pending forever
sb() { sbatch --parsable --kill-on-invalid-dep=yes --export=ALL "$@" | cut -d';' -f1; }
index=$(sb --array=0-$((n - 1)) "$here/index.sbatch")
train=$(sb --dependency=afterok:"$index" "$here/train.sbatch")
score=$(sb --array=0-$((n - 1)) --dependency=afterok:"$train" "$here/score.sbatch")
finish=$(sb --dependency=afterok:"$score" "$here/finish.sbatch")
echo "$index $train $score $finish"
