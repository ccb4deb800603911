#!/usr/bin/env bash
# e2e_index.sh MMAUDIT - crash safety of `mmaudit index`: a kill -9 in the middle of a file leaves
# the workspace intact (integrity_check ok) with that file wholly absent; a re-run ingests it fully.
set -euo pipefail
MM=${1:?usage: e2e_index.sh PATH/TO/mmaudit}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
count() { # count DB DATASET -> pairs of the dataset (0 when absent)
	"$MM" info --db "$1" --json | python3 -c 'import json,sys
d=[x for x in json.load(sys.stdin)["datasets"] if x["name"]==sys.argv[1]]
print(d[0]["pairs"] if d else 0)' "$2"
}

# a small file committed first: it must survive the crash of the second one
printf '{"id":"s1","prompt":"p","chosen":"c","rejected":"r"}\n' >"$T/small.jsonl"
"$MM" index --quiet --db "$T/w.db" --name small "$T/small.jsonl"

N=${E2E_PAIRS:-150000}
awk -v n="$N" 'BEGIN { for (i = 0; i < n; i++)
	printf "{\"id\":\"r%d\",\"prompt\":\"Question %d about the picture?\",\"chosen\":\"A longer chosen answer number %d with words\",\"rejected\":\"Rejected %d\",\"src\":\"gen\"}\n", i, i, i, i }' >"$T/big.jsonl"

killed=0
for delay in 0.8 0.4 0.2 0.1 0.05; do
	"$MM" index --quiet --db "$T/w.db" --name big "$T/big.jsonl" &
	pid=$!
	sleep "$delay"
	if kill -9 "$pid" 2>/dev/null; then
		wait "$pid" 2>/dev/null || true
		# killed, but maybe after the file's commit (while it closed): then all its pairs are
		# there, which is a finished run, not a crash mid-file; anything in between is a bug
		got=$(count "$T/w.db" big)
		[ "$got" = 0 ] && { killed=1; break; }
		[ "$got" = "$N" ] || fail "a kill -9 left $got of the $N pairs of the file"
	else
		wait "$pid" || true
	fi
	# finished before the kill: start again from a fresh workspace with a shorter delay
	rm -f "$T/w.db" "$T/w.db-wal" "$T/w.db-shm"
	"$MM" index --quiet --db "$T/w.db" --name small "$T/small.jsonl"
done
[ "$killed" = 1 ] || fail "index finished before it could be killed; raise E2E_PAIRS"

out=$("$MM" info --db "$T/w.db" --check) || fail "integrity check after kill -9: $out"
[ "$out" = ok ] || fail "integrity check says: $out"
if command -v sqlite3 >/dev/null; then
	[ "$(sqlite3 "$T/w.db" 'PRAGMA integrity_check')" = ok ] || fail "sqlite3 integrity_check"
else
	echo "note: sqlite3 CLI not installed; relied on mmaudit info --check"
fi
[ "$(count "$T/w.db" big)" = 0 ] || fail "pairs of the killed file are present"
[ "$(count "$T/w.db" small)" = 1 ] || fail "the earlier file was damaged"

"$MM" index --quiet --db "$T/w.db" --name big "$T/big.jsonl"
[ "$(count "$T/w.db" big)" = "$N" ] || fail "re-run did not ingest all $N pairs"
"$MM" index --db "$T/w.db" --name big "$T/big.jsonl" 2>"$T/err"
grep -q "already ingested" "$T/err" || fail "second run was not reported as skipped"
[ "$(count "$T/w.db" big)" = "$N" ] || fail "second run duplicated pairs"
echo "ok: killed mid-ingest, workspace intact, re-run ingested $N pairs, repeat skipped"

# The re-run trap (issue 16): the first run rejects 7 records whose images are absent; the re-run
# with the flag their message names replaces the file's rows and keeps every pair; the summary
# names the real workspace path, never a placeholder.
for i in 1 2 3 4 5 6 7; do
	printf '{"id":"m%d","prompt":"p%d","image":"absent%d.png","chosen":"c","rejected":"r"}\n' \
		"$i" "$i" "$i"
done >"$T/miss.jsonl"
"$MM" index --db "$T/r.db" --name miss "$T/miss.jsonl" 2>"$T/err1"
grep -q -- "--missing-images text-only" "$T/err1" || fail "missing-image message names no fix"
grep -q "mmaudit info --db $T/r.db lists them all" "$T/err1" || fail "no real path: $(cat "$T/err1")"
if grep -q -- "--db PATH" "$T/err1"; then fail "placeholder PATH printed"; fi
[ "$(count "$T/r.db" miss)" = 0 ] || fail "first run kept pairs"
"$MM" index --db "$T/r.db" --name miss --missing-images text-only "$T/miss.jsonl" 2>"$T/err2"
grep -q "ingested before with other options" "$T/err2" || fail "re-run not reported: $(cat "$T/err2")"
[ "$(count "$T/r.db" miss)" = 7 ] || fail "re-run with --missing-images text-only kept $(count "$T/r.db" miss) pairs"
"$MM" index --db "$T/r.db" --name miss --missing-images text-only "$T/miss.jsonl" 2>"$T/err3"
grep -q "already ingested" "$T/err3" || fail "same options again were not skipped"
[ "$(count "$T/r.db" miss)" = 7 ] || fail "third run changed the pairs"
echo "ok: re-run with --missing-images text-only replaced the file's rows (0 -> 7 pairs), repeat skipped"
