#!/usr/bin/env bash
# e2e_kill.sh MMAUDIT - kill -9 during index, score and report, then re-run: the workspace stays
# consistent (PRAGMA integrity_check ok), unfinished steps leave nothing behind, finished runs are
# kept, `info` answers while `index` writes (WAL), and the final report equals the report of an
# uninterrupted run built the same way in another workspace. Then (issue 17) kill -9 at a ladder of
# points during an `audit` re-run, `weights --out` and `merge` into an existing OUT: the previous
# outputs are intact byte for byte or replaced whole (the four outputs of audit as one set, never
# a mix), and the next run removes the temporary files the killed one left.
# Compared: samples.csv byte for byte; summary.json and report.html except the run metadata that
# records when and how long each run took and which run id it got (the killed score run used id 1
# in the interrupted workspace, so its finished run is 2): started_at, finished_at, seconds and the
# score run id ("score run N" in the HTML, datasets[].score_run in the JSON) are masked; everything
# else must be identical.
set -euo pipefail
export PATH=/usr/bin:$PATH
MM=$(realpath "${1:?usage: e2e_kill.sh PATH/TO/mmaudit}")
T=$(mktemp -d)
trap 'kill -9 $(jobs -p) 2>/dev/null || true; rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
N=${E2E_KILL_PAIRS:-3000}

"$MM" synth --out "$T/data" --pairs "$N" --shortcut 0.8 --seed 4 --images 400 --size 48x48 --quiet
mkdir "$T/ref" "$T/k"
run() { (cd "$T/$1" && shift && "$MM" "$@"); } # run DIR ARGS...: same relative --db everywhere

# the uninterrupted reference
run ref index --quiet --db w.db --name a ../data/data.jsonl
run ref score --quiet --db w.db --seed 1 --threads 1 >/dev/null
run ref report --quiet --db w.db --out out

check() { # check WHAT: the interrupted workspace is consistent
	local out
	out=$(run k info --db w.db --check) || fail "$1: info --check failed: $out"
	[ "$out" = ok ] || fail "$1: integrity check says: $out"
	[ "$(sqlite3 "$T/k/w.db" 'PRAGMA integrity_check')" = ok ] || fail "$1: sqlite3 integrity_check"
}
q() { sqlite3 "$T/k/w.db" "$1"; }

# kill_during NAME SNAPSHOT-TO-RESTORE ARGS...: starts mmaudit ARGS in the workspace, kills it with
# SIGKILL after a delay while it still runs (shorter delays until it is caught running); between
# attempts the workspace is restored from the snapshot so each attempt starts from the same state.
# With HOOK set, runs it once while the process is alive.
kill_during() {
	local name=$1 snap=$2 d pid
	shift 2
	# the short delays three times each: a 3,000-pair report takes 40-60 ms on a fast machine, about
	# what starting sleep(1) costs, so one try at each can miss it
	for d in ${DELAYS:-1.5 0.8 0.4 0.2 0.1 0.05 0.05 0.05 0.02 0.02 0.02 0.01 0.01 0.01 0.005 0.005}; do
		(cd "$T/k" && exec "$MM" "$@" >/dev/null 2>&1) &
		pid=$!
		sleep "$d"
		if [ -n "${HOOK:-}" ] && kill -0 "$pid" 2>/dev/null; then $HOOK "$pid"; fi
		if kill -9 "$pid" 2>/dev/null; then
			wait "$pid" 2>/dev/null || true
			echo "killed $name after ${d}s"
			return 0
		fi
		wait "$pid" || true
		rm -rf "$T/k" && cp -a "$snap" "$T/k"
	done
	fail "$name always finished before it could be killed; raise E2E_KILL_PAIRS"
}

# ---- index --------------------------------------------------------------------------------------
info_while_indexing() { # info reads the committed state while index holds its write transaction
	local out
	out=$(run k info --db w.db --json) || fail "info failed while index was running"
	kill -0 "$1" 2>/dev/null || return 0
	echo "$out" | python3 -c 'import json,sys; json.load(sys.stdin)' || fail "info --json while indexing"
	INFO_OK=1
}
cp -a "$T/k" "$T/snap0"
INFO_OK=0
HOOK=info_while_indexing kill_during index "$T/snap0" index --quiet --db w.db --name a ../data/data.jsonl
[ -f "$T/k/w.db" ] || fail "no workspace after the killed index"
check index
# atomic: the file is wholly absent, or (the kill landed between COMMIT and exit) wholly present
np=$(q 'SELECT count(*) FROM pairs'); nf=$(q 'SELECT count(*) FROM source_files')
if [ "$np" != 0 ] || [ "$nf" != 0 ]; then
	[ "$nf" = 1 ] && [ "$np" = "$(q 'SELECT pairs FROM source_files')" ] && [ "$np" -gt 0 ] ||
		fail "the killed index left a partial file: $np pairs, $nf source files"
	echo "note: the kill landed after the index committed (file wholly present)"
	rm -rf "$T/k" && cp -a "$T/snap0" "$T/k"
fi
[ "$INFO_OK" = 1 ] && echo "info answered while index was running" || echo "note: index finished before info ran"
run k index --quiet --db w.db --name a ../data/data.jsonl
[ "$(q 'SELECT count(*) FROM pairs')" = "$N" ] || fail "re-run index did not store $N pairs"

# ---- score --------------------------------------------------------------------------------------
rm -rf "$T/snap1" && cp -a "$T/k" "$T/snap1"
kill_during score "$T/snap1" score --quiet --db w.db --seed 1 --threads 1
check score
if [ "$(q "SELECT count(*) FROM runs WHERE status = 'done'")" != 0 ]; then
	# the kill landed between COMMIT and exit: the run must then be whole; kill earlier
	[ "$(q 'SELECT count(*) FROM pair_scores')" = "$N" ] || fail "killed score left a partial done run"
	echo "note: the kill landed after the score committed (run wholly present); killing earlier"
	rm -rf "$T/k" && cp -a "$T/snap1" "$T/k"
	DELAYS="0.8 0.4 0.2 0.1 0.05" kill_during score "$T/snap1" score --quiet --db w.db --seed 1 --threads 1
	check score
fi
[ "$(q "SELECT count(*) FROM runs WHERE status = 'done'")" = 0 ] || fail "killed score left a done run"
[ "$(q 'SELECT count(*) FROM pair_scores')" = 0 ] || fail "killed score left pair scores"
set +e
run k report --quiet --db w.db --out out 2>"$T/err"
rc=$?
set -e
[ "$rc" = 2 ] || fail "report without a finished score run: exit $rc, want 2"
grep -q "score" "$T/err" || fail "report error does not say to run score: $(cat "$T/err")"
run k score --quiet --db w.db --seed 1 --threads 1 >/dev/null
done_id=$(q "SELECT id FROM runs WHERE status = 'done'")
# a second score killed mid-way must not lose the finished one
rm -rf "$T/snap2" && cp -a "$T/k" "$T/snap2"
kill_during score-again "$T/snap2" score --quiet --db w.db --seed 9 --threads 1
check score-again
if [ "$(q "SELECT count(*) FROM runs WHERE status = 'done'")" != 1 ]; then
	[ "$(q "SELECT count(*) FROM pair_scores WHERE run_id <> $done_id")" = "$N" ] ||
		fail "killed score-again left a partial done run"
	echo "note: the kill landed after score-again committed (run wholly present); killing earlier"
	rm -rf "$T/k" && cp -a "$T/snap2" "$T/k"
	DELAYS="0.8 0.4 0.2 0.1 0.05" kill_during score-again "$T/snap2" score --quiet --db w.db --seed 9 --threads 1
	check score-again
fi
[ "$(q "SELECT id FROM runs WHERE status = 'done'")" = "$done_id" ] || fail "finished run lost"
[ "$(q "SELECT count(*) FROM pair_scores WHERE run_id = $done_id")" = "$N" ] ||
	fail "scores of the finished run changed"

# ---- report -------------------------------------------------------------------------------------
rm -rf "$T/snap3" && cp -a "$T/k" "$T/snap3"
kill_during report "$T/snap3" report --quiet --db w.db --out out
check report
for f in summary.json samples.csv report.html; do # a final name is absent or complete
	[ -f "$T/k/out/$f" ] || continue
	case $f in
	summary.json) python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/k/out/$f" ||
		fail "half-written summary.json" ;;
	samples.csv) cmp -s "$T/k/out/$f" "$T/ref/out/$f" || fail "half-written samples.csv" ;;
	report.html) tail -c 20 "$T/k/out/$f" | grep -q '</html>' || fail "half-written report.html" ;;
	esac
done
run k report --quiet --db w.db --out out

# ---- the final report equals the uninterrupted one ----------------------------------------------
cmp "$T/ref/out/samples.csv" "$T/k/out/samples.csv" || fail "samples.csv differs"
python3 - "$T/ref/out" "$T/k/out" <<'PY' || fail "summary.json or report.html differs"
import json, re, sys
def summary(d):
    s = json.load(open(d + "/summary.json"))
    for r in s.get("runs", []):
        for k in ("id", "started_at", "finished_at", "seconds"):
            r.pop(k, None)
    for ds in s.get("datasets", []):
        ds.pop("score_run", None)
    return s
a, b = summary(sys.argv[1]), summary(sys.argv[2])
if a != b:
    for k in a:
        if a.get(k) != b.get(k):
            print("summary.json differs at", k, file=sys.stderr)
    sys.exit(1)
def html(d):
    h = open(d + "/report.html", encoding="utf-8").read()
    h = re.sub(r"score run \d+", "score run N", h)
    head, meta = h.split('<section id="metadata">', 1)
    meta = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "T", meta)
    meta = re.sub(r"<td>[0-9.]+ s</td>", "<td>S</td>", meta)
    meta = re.sub(r"<span> *\d+</span> bytes", "SIZE bytes", meta)
    return head, meta
ha, ma = html(sys.argv[1])
hb, mb = html(sys.argv[2])
if ha != hb:
    i = next(i for i in range(min(len(ha), len(hb))) if ha[i] != hb[i]) if ha[:len(hb)] != hb[:len(ha)] else min(len(ha), len(hb))
    print("report.html differs before the run metadata at %d: %r vs %r" % (i, ha[i-80:i+80], hb[i-80:i+80]), file=sys.stderr)
    sys.exit(1)
if ma != mb:
    print("report.html run metadata differs beyond times and run ids", file=sys.stderr)
    sys.exit(1)
PY

# ---- issue 17: audit re-runs, weights and merge, killed at many points ----------------------------
# kill_at NAME SETUP CHECK ARGS...: SETUP restores the state and mmaudit ARGS runs in $T/$KDIR
# once uninterrupted (timed); then, for delays from 3% to 102% of that time (the renames at the end
# included), SETUP again, run, kill -9 after the delay when still running, and CHECK what is left.
kill_at() {
	local name=$1 setup=$2 check=$3 d pid killed=0 t0 dur delays
	shift 3
	$setup
	t0=$(date +%s.%N)
	(cd "$T/$KDIR" && "$MM" "$@" >/dev/null 2>&1) || fail "$name: the uninterrupted run failed"
	dur=$(python3 -c "print(round($(date +%s.%N) - $t0, 3))")
	delays=$(python3 -c 'import sys; d=float(sys.argv[1]); print(" ".join("%.3f" % (d * f) for f in (0.03, 0.1, 0.25, 0.4, 0.55, 0.7, 0.8, 0.88, 0.94, 0.97, 0.99, 1.02)))' "$dur")
	for d in $delays; do
		$setup
		(cd "$T/$KDIR" && exec "$MM" "$@" >/dev/null 2>&1) &
		pid=$!
		sleep "$d"
		if kill -9 "$pid" 2>/dev/null; then killed=$((killed + 1)); fi
		wait "$pid" 2>/dev/null || true
		$check "$name after ${d}s"
	done
	[ "$killed" -gt 0 ] || fail "$name always finished before it could be killed"
	echo "killed $name at $killed of the points within ${dur}s; previous outputs intact or replaced whole each time ($OLD old, $NEW new)"
}
same4() { # same4 DIR REFDIR: the four audit outputs of DIR are byte-identical to REFDIR's
	local f
	for f in summary.json samples.csv report.html weights.csv; do
		cmp -s "$1/$f" "$2/$f" || return 1
	done
}
AU=$T/au
"$MM" synth --out "$T/au_data" --pairs 1500 --shortcut 0.8 --seed 7 --images 200 --size 32x32 --quiet
mkdir -p "$AU" "$T/au_ref2"
# old outputs (seed 1), and the outputs a finished re-run with seed 2 gives (reference workspace)
(cd "$AU" && "$MM" audit --quiet --out out --db w.db --seed 1 --threads 1 --no-crossdist ../au_data/data.jsonl)
cp -a "$AU/out" "$T/au_old"
cp -a "$AU" "$T/au_snap"
(cd "$T/au_ref2" && cp -a "$T/au_snap/." . && "$MM" audit --quiet --out out --db w.db --seed 2 --threads 1 --no-crossdist ../au_data/data.jsonl)
cmp -s "$T/au_old/samples.csv" "$T/au_ref2/out/samples.csv" && fail "seeds 1 and 2 give the same samples.csv"
au_setup() { rm -rf "$AU" && cp -a "$T/au_snap" "$AU"; }
au_check() {
	local o=$AU/out
	if same4 "$o" "$T/au_old"; then
		OLD=$((OLD + 1))
	else
		NEW=$((NEW + 1))
		# replaced: all four new; samples.csv and weights.csv are the seed-2 ones byte for byte
		cmp -s "$o/samples.csv" "$T/au_ref2/out/samples.csv" || fail "$1: samples.csv neither old nor new whole"
		cmp -s "$o/weights.csv" "$T/au_ref2/out/weights.csv" || fail "$1: weights.csv neither old nor new whole (a mixed set?)"
		cmp -s "$o/summary.json" "$T/au_old/summary.json" && fail "$1: summary.json old beside new samples.csv"
		cmp -s "$o/report.html" "$T/au_old/report.html" && fail "$1: report.html old beside new samples.csv"
		python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$o/summary.json" || fail "$1: summary.json half-written"
		tail -c 20 "$o/report.html" | grep -q '</html>' || fail "$1: report.html half-written"
	fi
	[ "$(sqlite3 "$AU/w.db" 'PRAGMA integrity_check')" = ok ] || fail "$1: workspace integrity"
	# the next run removes the dead run's temporary files and replaces the set
	(cd "$AU" && "$MM" audit --quiet --out out --db w.db --seed 2 --threads 1 --no-crossdist ../au_data/data.jsonl) ||
		fail "$1: audit re-run after the kill failed"
	ls -A "$o" | grep -q '^\.mmaudit-tmp-' && fail "$1: temporary files left after the next run: $(ls -A "$o")"
	cmp -s "$o/samples.csv" "$T/au_ref2/out/samples.csv" || fail "$1: re-run samples.csv differs"
	cmp -s "$o/weights.csv" "$T/au_ref2/out/weights.csv" || fail "$1: re-run weights.csv differs"
}
OLD=0 NEW=0
KDIR=au kill_at audit-rerun au_setup au_check audit --quiet --out out --db w.db --seed 2 --threads 1 --no-crossdist ../au_data/data.jsonl

# weights --out: the previous file intact or the new one whole
WD=$T/wt
mkdir -p "$WD"
cp "$T/au_snap/w.db" "$WD/w.db"
(cd "$WD" && "$MM" weights --db w.db --out weights.csv --method jtt 2>/dev/null)
cp "$WD/weights.csv" "$T/wt_old.csv"
(cd "$WD" && cp w.db ref.db && "$MM" weights --db ref.db --out ref.csv --method debias 2>/dev/null)
cmp -s "$T/wt_old.csv" "$WD/ref.csv" && fail "jtt and debias weights are identical"
cp -a "$WD" "$T/wt_snap"
wt_setup() { rm -rf "$WD" && cp -a "$T/wt_snap" "$WD"; }
wt_check() {
	if cmp -s "$WD/weights.csv" "$T/wt_old.csv"; then OLD=$((OLD + 1)); else NEW=$((NEW + 1)); fi
	cmp -s "$WD/weights.csv" "$T/wt_old.csv" || cmp -s "$WD/weights.csv" "$WD/ref.csv" ||
		fail "$1: weights.csv neither the old file nor the new one whole"
	(cd "$WD" && "$MM" weights --db w.db --out weights.csv --method debias 2>/dev/null) || fail "$1: re-run"
	ls -A "$WD" | grep -q '^\.mmaudit-tmp-' && fail "$1: temporary files left: $(ls -A "$WD")"
	cmp -s "$WD/weights.csv" "$WD/ref.csv" || fail "$1: re-run weights differ"
}
OLD=0 NEW=0
KDIR=wt kill_at weights wt_setup wt_check weights --db w.db --out weights.csv --method debias

# merge into an existing OUT: the old OUT (shard 0 only) intact, or the new one (both) whole
MG=$T/mg
mkdir -p "$MG"
head -n 1500 "$T/data/data.jsonl" > "$T/data/s0.jsonl"
tail -n +1501 "$T/data/data.jsonl" > "$T/data/s1.jsonl"
(cd "$MG" && "$MM" index --quiet --db full.db --name a ../data/data.jsonl &&
	"$MM" index --quiet --db s0.db --name a ../data/s0.jsonl &&
	"$MM" index --quiet --db s1.db --name a ../data/s1.jsonl &&
	"$MM" train --quiet --db full.db --out m.mma --train-sample 1000 --seed 4 2>/dev/null &&
	"$MM" score --quiet --db s0.db --model m.mma >/dev/null &&
	"$MM" score --quiet --db s1.db --model m.mma >/dev/null &&
	"$MM" merge --db out.db s0.db 2>/dev/null)
n0=$(sqlite3 "$MG/out.db" 'SELECT count(*) FROM pairs')
cp -a "$MG" "$T/mg_snap"
mg_setup() { rm -rf "$MG" && cp -a "$T/mg_snap" "$MG"; }
mg_check() {
	[ "$(sqlite3 "$MG/out.db" 'PRAGMA integrity_check')" = ok ] || fail "$1: merged workspace integrity"
	local n
	n=$(sqlite3 "$MG/out.db" 'SELECT count(*) FROM pairs')
	[ "$n" = "$n0" ] || [ "$n" = "$N" ] || fail "$1: merged workspace has $n pairs (old $n0, whole $N)"
	if [ "$n" = "$n0" ]; then OLD=$((OLD + 1)); else NEW=$((NEW + 1)); fi
	if [ "$n" = "$N" ]; then
		[ "$(sqlite3 "$MG/out.db" 'SELECT count(*) FROM pair_scores')" -ge "$N" ] || fail "$1: new OUT without its scores"
	fi
	"$MM" info --db "$MG/out.db" >/dev/null || fail "$1: info on OUT"
}
OLD=0 NEW=0
KDIR=mg kill_at merge mg_setup mg_check merge --db out.db s1.db
(cd "$MG" && "$MM" merge --db out2.db s0.db s1.db 2>/dev/null)
ls -A "$MG" | grep -q '^\.mmaudit-tmp-' && fail "merge: temporary files of killed runs left: $(ls -A "$MG")"

echo "ok: index, score and report killed with SIGKILL; integrity ok each time; re-runs give the uninterrupted report; audit re-runs, weights and merge killed at many points left the old outputs or whole new ones"
