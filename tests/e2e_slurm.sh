#!/usr/bin/env bash
# End-to-end on a real engine (issue 18): starts a one-node Slurm cluster on this machine
# (tests/slurm_cluster.sh), runs the sharded flow of tests/slurm/ (submit.sh: index array ->
# score array -> finish, chained with sbatch --dependency=afterok) on 4 synth --text-only shards
# of 2,000 pairs, waits with squeue (timeout), then checks with scontrol that every task
# COMPLETED with exit 0, that every output exists and holds every pair, that a shard scored under
# Slurm, merged, equals a one-machine `score --model` of all the shards with the same model, and that the
# README's "Running on a cluster" recipe is these scripts, verbatim.
# Exits 77 (skip) with the reason when the cluster cannot run here (not root, packages not
# installable, a daemon that does not start); MMAUDIT_REQUIRE_SLURM=1 (set by .ci/run) turns
# that skip into a failure.
# Environment: SHARDS (default 4), PAIRS per shard (default 2000), FLOW_TIMEOUT seconds (600).
set -euo pipefail
export PATH=/usr/bin:/usr/sbin:/bin:/sbin:$PATH
MM=$(realpath "${1:?usage: e2e_slurm.sh PATH/TO/mmaudit}")
HERE=$(cd "$(dirname "$0")" && pwd)
SHARDS=${SHARDS:-4} PAIRS=${PAIRS:-2000} FLOW_TIMEOUT=${FLOW_TIMEOUT:-600}
now() { date +%s.%N; }
secs() { python3 -c "import sys; print('%.1f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$@"; }

# the README recipe is the tested scripts (checked first: it needs no cluster)
python3 - "$HERE/../README.md" "$HERE"/slurm/submit.sh "$HERE"/slurm/*.sbatch <<'PY'
import sys
readme = open(sys.argv[1]).read()
sec = readme.split("## Running on a cluster", 1)
assert len(sec) == 2, "README has no '## Running on a cluster' section"
for path in sys.argv[2:]:
    body = open(path).read()
    assert body in sec[1], "README 'Running on a cluster' lacks %s verbatim" % path
PY

# shellcheck source=tests/slurm_cluster.sh
. "$HERE/slurm_cluster.sh"
T=$(mktemp -d)
chmod 0755 "$T" # munged needs every directory above its socket traversable
cleanup() { slurm_down; rm -rf "$T"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

t0=$(now)
rc=0
slurm_up "$T/cluster" || rc=$?
if [ "$rc" -ne 0 ]; then
	if [ "${MMAUDIT_REQUIRE_SLURM:-0}" = 1 ]; then
		echo "FAIL: MMAUDIT_REQUIRE_SLURM=1 but the Slurm cluster cannot run: $SC_WHY" >&2
		exit 1
	fi
	echo "SKIP: Slurm cluster cannot run here: $SC_WHY"
	exit 77
fi
t1=$(now)
echo "cluster up in $(secs "$t0" "$t1") s (node $SC_NODE: $(sinfo -h -N -o '%c CPUs, %m MB, %T'))"

W=$T/work
mkdir -p "$W/data"
for ((i = 0; i < SHARDS; i++)); do
	"$MM" synth --out "$W/data/s$i" --pairs "$PAIRS" --shortcut 0.8 --seed $((i + 11)) --env "s$i" \
		--text-only --quiet
	echo "$W/data/s$i/data.jsonl" >>"$W/shards.txt"
done

t2=$(now)
cd "$W"
ids=$(MMAUDIT=$MM SEED=3 "$HERE/slurm/submit.sh")
read -r J_INDEX J_TRAIN J_SCORE J_FINISH <<<"$ids"
[ -n "${J_FINISH:-}" ] || { echo "FAIL: submit.sh printed '$ids', not 4 job ids" >&2; exit 1; }
echo "submitted: index $J_INDEX (array 0-$((SHARDS - 1))), train $J_TRAIN (afterok), score $J_SCORE (array, afterok), finish $J_FINISH (merge + report, afterok)"

slurm_wait_jobs "$FLOW_TIMEOUT" "$J_INDEX" "$J_TRAIN" "$J_SCORE" "$J_FINISH" ||
	{ echo "FAIL: flow not finished after ${FLOW_TIMEOUT}s" >&2; exit 1; }
t3=$(now)
echo "flow done in $(secs "$t2" "$t3") s"

# every task COMPLETED with exit code 0 (a failed task cancels its dependants)
slurm_job_ok "$J_INDEX" "$SHARDS" && slurm_job_ok "$J_TRAIN" 1 && slurm_job_ok "$J_SCORE" "$SHARDS" &&
	slurm_job_ok "$J_FINISH" 1 ||
	{ tail -n 20 "$W"/logs/* >&2 || true; echo "FAIL: a job failed" >&2; exit 1; }
grep -q "^done job $J_FINISH: $SHARDS shards scored" done.marker || { echo "FAIL: done.marker: $(cat done.marker)" >&2; exit 1; }

# outputs: every shard workspace holds its pairs, every score CSV one row per pair
for ((i = 0; i < SHARDS; i++)); do
	"$MM" info --db "ws/shard_$i.db" --json >"info_$i.json"
	python3 - "info_$i.json" "scores/shard_$i.csv" "$PAIRS" <<'PY'
import csv, json, sys
info, scores, pairs = json.load(open(sys.argv[1])), sys.argv[2], int(sys.argv[3])
n = info.get("pairs", sum(d.get("pairs", 0) for d in info.get("datasets", [])))
assert n == pairs, (sys.argv[1], n, pairs)
rows = list(csv.DictReader(open(scores)))
assert len(rows) == pairs and len({r["id"] for r in rows}) == pairs, (scores, len(rows))
assert all(0.0 <= float(r["p_text"]) <= 1.0 for r in rows)
PY
done
echo "outputs: $SHARDS shard workspaces x $PAIRS pairs, $SHARDS score CSVs, done.marker"

# the merged scores equal a one-machine run with the same model: every shard indexed into one
# workspace here and scored with model.mma (p_text/p_mm within 1e-6, the same categories), and the
# merged report's figures are that run's
while read -r f; do "$MM" index --db "$T/local.db" --name data --quiet "$f"; done <shards.txt
"$MM" score --db "$T/local.db" --model model.mma --out "$T/local.csv" --quiet >/dev/null
"$MM" report --db "$T/local.db" --out "$T/local_report" --quiet
python3 - "$T/local.csv" merged.db report/summary.json "$T/local_report/summary.json" "$((SHARDS * PAIRS))" <<'PY'
import csv, json, sqlite3, sys
local = {r["id"]: r for r in csv.DictReader(open(sys.argv[1]))}
c = sqlite3.connect(sys.argv[2])
run = c.execute("SELECT id FROM runs WHERE kind = 'score' AND status = 'done' ORDER BY id DESC LIMIT 1").fetchone()[0]
merged = {r[0]: r[1:] for r in c.execute("SELECT p.ext_id, s.p_text, s.p_mm, s.category FROM pair_scores s"
                                         " JOIN pairs p ON p.id = s.pair_id WHERE s.run_id = ?", (run,))}
n = int(sys.argv[5])
assert len(local) == len(merged) == n, (len(local), len(merged), n)
worst = 0.0
for k, r in local.items():
    m = merged[k]
    worst = max(worst, abs(float(r["p_text"]) - m[0]))
    if r["p_mm"] != "" or m[1] is not None:
        worst = max(worst, abs(float(r["p_mm"]) - m[1]))
    assert r["category"] == m[2], (k, r["category"], m[2])
assert worst < 1e-6, worst
a = json.load(open(sys.argv[3]))["datasets"][0]
b = json.load(open(sys.argv[4]))["datasets"][0]
for k in ("pairs", "text_accuracy", "mm_accuracy", "shortcut_rate", "sfd", "categories", "blind"):
    assert a[k] == b[k], (k, a[k], b[k])
print("merged under Slurm == one machine with the same model: %d pairs, worst difference %.2g" % (n, worst))
PY
# a failing task is seen: shard 1 of 2 does not exist -> that index task FAILED, the score array
# and finish are cancelled (--kill-on-invalid-dep), no marker, and the wait ends at once
mkdir -p "$T/bad" && cd "$T/bad"
printf '%s\n' "$(sed -n 1p "$W/shards.txt")" "$T/bad/missing.jsonl" >shards.txt
ids=$(MMAUDIT=$MM "$HERE/slurm/submit.sh")
read -r B_INDEX B_TRAIN B_SCORE B_FINISH <<<"$ids"
slurm_wait_jobs 120 "$B_INDEX" "$B_TRAIN" "$B_SCORE" "$B_FINISH" ||
	{ echo "FAIL: failed flow still queued" >&2; exit 1; }
if slurm_job_ok "$B_INDEX" 2 2>/dev/null; then echo "FAIL: missing shard not reported" >&2; exit 1; fi
scontrol show job -o "$B_INDEX" | grep -q 'JobState=FAILED .*ExitCode=2:0' ||
	{ echo "FAIL: index task of the missing shard not FAILED with exit 2" >&2; exit 1; }
for j in "$B_TRAIN" "$B_SCORE" "$B_FINISH"; do
	scontrol show job -o "$j" | grep -q 'JobState=CANCELLED Reason=DependencyNeverSatisfied' ||
		{ echo "FAIL: job $j not cancelled: $(scontrol show job -o "$j")" >&2; exit 1; }
done
[ ! -e done.marker ] || { echo "FAIL: done.marker after a failed task" >&2; exit 1; }
echo "failed task: index FAILED (exit 2), train, score and finish CANCELLED (DependencyNeverSatisfied), no marker"
echo "timings: cluster start $(secs "$t0" "$t1") s, flow (submit to last job done) $(secs "$t2" "$t3") s"
echo "OK"
