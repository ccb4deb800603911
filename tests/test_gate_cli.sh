#!/usr/bin/env bash
# End-to-end: `mmaudit gate` and `mmaudit report` exit codes and output on a fixture workspace
# (tests/reports_fixture.py), with flags and with a policy file.
# usage: test_gate_cli.sh MMAUDIT SOURCE_DIR
set -u
MM=$1
SRC=$2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
check() { # check NAME EXPECTED_RC ACTUAL_RC
	if [ "$2" != "$3" ]; then echo "not ok - $1: exit $3, want $2"; fail=1; else echo "ok - $1"; fi
}
has() { # has NAME FILE PATTERN
	if grep -q -- "$3" "$2"; then echo "ok - $1"; else echo "not ok - $1: no '$3' in:"; cat "$2"; fail=1; fi
}

mkws() { # mkws DB [fixture args]: a migrated workspace filled by the fixture
	local db=$1; shift
	: >"$db"
	"$MM" info --db "$db" >/dev/null || return 1
	python3 "$SRC/tests/reports_fixture.py" "$db" "$@"
}

# No score run yet: exit 2 with the hint.
: >"$T/empty.db"; "$MM" info --db "$T/empty.db" >/dev/null
"$MM" gate --db "$T/empty.db" --max-shortcut-rate 0.3 >"$T/o" 2>"$T/e"; check "gate on unscored workspace" 2 $?
has "unscored hint" "$T/e" "run mmaudit score first"

mkws "$T/ws.db" --pairs 200 || { echo "not ok - fixture"; exit 1; }
mkws "$T/clean.db" --pairs 200 --only clean || { echo "not ok - fixture"; exit 1; }

"$MM" gate --db "$T/ws.db" --max-shortcut-rate 0.3 --dataset shortcut-heavy >"$T/o" 2>&1
check "shortcut-heavy fails" 1 $?
has "FAIL line" "$T/o" "^FAIL shortcut rate of dataset 'shortcut-heavy' is at most 0.3: observed 0.6200 (n=200), threshold 0.3$"

"$MM" gate --db "$T/clean.db" --max-shortcut-rate 0.3 --max-text-accuracy 0.7 >"$T/o" 2>&1
check "clean passes" 0 $?
has "PASS line" "$T/o" "^PASS text-only accuracy of dataset 'clean' is at most 0.7: observed 0.5400 (n=200), threshold 0.7$"

# o.o.d. gap needs crossdist: NOT RUN on the one-dataset workspace, not a failure unless strict.
"$MM" gate --db "$T/clean.db" --max-ood-gap 0.1 >"$T/o" 2>&1; check "ood gap not run" 0 $?
has "NOT RUN line" "$T/o" "^NOT RUN o.o.d. gap"
"$MM" gate --db "$T/clean.db" --max-ood-gap 0.1 --strict >"$T/o" 2>&1; check "strict not run fails" 1 $?
"$MM" gate --db "$T/ws.db" --max-ood-gap 0.2 >"$T/o" 2>&1; check "ood gap on two datasets" 1 $?
has "gap FAIL first" "$T/o" "^FAIL o.o.d. gap of the standard MM-RM trained on dataset 'shortcut-heavy'"

# Policy file; flags override it.
cat >"$T/policy" <<'P'
# CI policy for the demo
max-shortcut-rate = 0.3
max-text-accuracy = 0.7   # chance is 0.5
P
"$MM" gate --db "$T/ws.db" --policy "$T/policy" >"$T/o" 2>&1; check "policy: fails" 1 $?
"$MM" gate --db "$T/clean.db" --policy "$T/policy" >"$T/o" 2>&1; check "policy: clean passes" 0 $?
"$MM" gate --db "$T/ws.db" --policy "$T/policy" --max-shortcut-rate 0.9 --max-text-accuracy 0.95 >"$T/o" 2>&1
check "flags override policy" 0 $?
printf 'max-shortcut-rate = 0.3\nmax-text-accurracy = 0.7\n' >"$T/bad"
"$MM" gate --db "$T/ws.db" --policy "$T/bad" >"$T/o" 2>&1; check "malformed policy" 2 $?
has "policy file:line" "$T/o" "$T/bad:2: unknown key 'max-text-accurracy'"

# Usage errors.
"$MM" gate --db "$T/ws.db" >"$T/o" 2>&1; check "no rules" 2 $?
has "no rules message" "$T/o" "no rules given"
"$MM" gate --db "$T/ws.db" --max-sfd abc >"$T/o" 2>&1; check "bad number" 2 $?
"$MM" gate --db "$T/ws.db" --max-sfd 0.1 --dataset nope >"$T/o" 2>&1; check "unknown dataset" 2 $?
"$MM" gate --max-sfd 0.1 >"$T/o" 2>&1; check "missing --db" 2 $?

# report: exit 0 whatever the verdict; verdict equals the gate's.
"$MM" report --db "$T/ws.db" --out "$T/out/nested" --policy "$T/policy" --quiet >"$T/o" 2>&1
check "report writes" 0 $?
for f in summary.json samples.csv report.html; do
	[ -s "$T/out/nested/$f" ] && echo "ok - report wrote $f" || { echo "not ok - $f missing"; fail=1; }
done
has "report title FAIL" "$T/out/nested/report.html" "<title>mmaudit - shortcut-heavy, clean - FAIL</title>"
has "png thumbnail inlined" "$T/out/nested/report.html" 'src="data:image/png;base64,iVBORw0KGgo'
python3 - "$T/out/nested/summary.json" <<'PY' || fail=1
import json, sys
s = json.load(open(sys.argv[1]))
assert s["gate"]["failed"] is True and s["verdict"]["gate"] == "FAIL", s["verdict"]
assert [d["name"] for d in s["datasets"]] == ["shortcut-heavy", "clean"]
assert abs(s["datasets"][0]["shortcut_rate"] - 0.62) < 1e-12
print("ok - summary.json verdict matches the gate")
PY
"$MM" report --db "$T/ws.db" --out "$T/out/nested" --top 0 >"$T/o" 2>&1; check "report --top 0" 2 $?
exit $fail
