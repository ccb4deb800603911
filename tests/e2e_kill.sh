#!/usr/bin/env bash
# e2e_kill.sh MMAUDIT - kill -9 during index, score and report, then re-run: the workspace stays
# consistent (PRAGMA integrity_check ok), unfinished steps leave nothing behind, finished runs are
# kept, `info` answers while `index` writes (WAL), and the final report equals the report of an
# uninterrupted run built the same way in another workspace.
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
	for d in ${DELAYS:-1.5 0.8 0.4 0.2 0.1 0.05 0.02}; do
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
echo "ok: index, score and report killed with SIGKILL; integrity ok each time; re-runs give the uninterrupted report"
