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

# mkempty DB: a migrated workspace without data for the fixture (made by `index` of an empty file,
# then emptied: `info` is read-only and never creates or migrates a workspace)
mkempty() {
	rm -f "$1" && : >"$1.empty.jsonl" && "$MM" index --quiet --db "$1" "$1.empty.jsonl" &&
		python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute("DELETE FROM source_files"); c.execute("DELETE FROM datasets"); c.commit()' "$1"
	local rc=$?
	rm -f "$1.empty.jsonl"
	return $rc
}
mkws() { # mkws DB [fixture args]: a migrated workspace filled by the fixture
	local db=$1; shift
	mkempty "$db" || return 1
	python3 "$SRC/tests/reports_fixture.py" "$db" "$@"
}

# No score run yet: exit 2 with the hint.
mkempty "$T/empty.db"
"$MM" gate --db "$T/empty.db" --max-shortcut-rate 0.3 >"$T/o" 2>"$T/e"; check "gate on unscored workspace" 2 $?
has "unscored hint" "$T/e" "run mmaudit score first"

mkws "$T/ws.db" --pairs 200 || { echo "not ok - fixture"; exit 1; }
mkws "$T/clean.db" --pairs 200 --only clean || { echo "not ok - fixture"; exit 1; }

"$MM" gate --db "$T/ws.db" --max-shortcut-rate 0.3 --dataset shortcut-heavy >"$T/o" 2>&1
check "shortcut-heavy fails" 1 $?
has "FAIL line" "$T/o" "^FAIL shortcut rate of dataset 'shortcut-heavy' is at most 0.3: observed 0.6200 (95% CI 0.551 to 0.684, n=200), threshold 0.3$"

"$MM" gate --db "$T/clean.db" --max-shortcut-rate 0.3 --max-text-accuracy 0.7 >"$T/o" 2>&1
check "clean passes" 0 $?
has "PASS line" "$T/o" "^PASS text-only accuracy of dataset 'clean' is at most 0.7: observed 0.5400 (95% CI 0.471 to 0.608, n=200), threshold 0.7$"
has "summary counts warn" "$T/o" "^gate: PASS (0 fail, 0 warn, 2 pass, 0 not run)$"

# o.o.d. gap needs crossdist: NOT RUN on the one-dataset workspace, not a failure unless strict.
"$MM" gate --db "$T/clean.db" --max-ood-gap 0.1 >"$T/o" 2>&1; check "ood gap not run" 0 $?
has "NOT RUN line" "$T/o" "^NOT RUN o.o.d. gap"
"$MM" gate --db "$T/clean.db" --max-ood-gap 0.1 --strict >"$T/o" 2>&1; check "strict not run fails" 1 $?
# 0.92 - 0.58 = 0.34 on test cells of 40 pairs: 95% CI 0.165 to 0.515 (normal approximation).
"$MM" gate --db "$T/ws.db" --max-ood-gap 0.2 --dataset shortcut-heavy >"$T/o" 2>&1
check "ood gap straddling 0.2 warns" 0 $?
has "gap WARN" "$T/o" "^WARN o.o.d. gap .*'shortcut-heavy' is at most 0.2: observed 0.3400 (95% CI 0.165 to 0.515, n=80), threshold 0.2"
"$MM" gate --db "$T/ws.db" --max-ood-gap 0.1 >"$T/o" 2>&1; check "ood gap on two datasets" 1 $?
has "gap FAIL first" "$T/o" "^FAIL o.o.d. gap of the standard MM-RM trained on dataset 'shortcut-heavy'"

# Gates on intervals (issue 12): text-only accuracy 0.7024 on 1250 pairs, 95% CI 0.676 to 0.727,
# straddles 0.7: WARN, exit 0; --strict fails. 0.91 on 200 (0.862 to 0.942) is wholly above: FAIL;
# 0.54 on 200 (0.471 to 0.608) wholly below: PASS (above).
mkws "$T/mix.db" --pairs 200 --only shortcut-heavy straddle textonly uninformative ||
	{ echo "not ok - fixture"; exit 1; }
"$MM" gate --db "$T/mix.db" --max-text-accuracy 0.7 --dataset straddle >"$T/o" 2>&1
check "straddling interval warns, exit 0" 0 $?
has "WARN line" "$T/o" "^WARN text-only accuracy of dataset 'straddle' is at most 0.7: observed 0.7024 (95% CI 0.676 to 0.727, n=1250), threshold 0.7 — the interval straddles the threshold$"
has "WARN counted" "$T/o" "^gate: PASS (0 fail, 1 warn, 0 pass, 0 not run)$"
"$MM" gate --db "$T/mix.db" --max-text-accuracy 0.7 --dataset straddle --strict >"$T/o" 2>&1
check "strict: WARN fails" 1 $?
has "strict summary" "$T/o" "^gate: FAIL (0 fail, 1 warn, 0 pass, 0 not run, strict)$"
printf 'max-text-accuracy = 0.7\nstrict = true\ndataset = straddle\n' >"$T/strict.policy"
"$MM" gate --db "$T/mix.db" --policy "$T/strict.policy" >"$T/o" 2>&1; check "policy strict: WARN fails" 1 $?
"$MM" gate --db "$T/mix.db" --max-text-accuracy 0.7 --dataset shortcut-heavy >"$T/o" 2>&1
check "interval wholly above fails" 1 $?
has "FAIL with interval" "$T/o" "^FAIL text-only accuracy of dataset 'shortcut-heavy' is at most 0.7: observed 0.9100 (95% CI 0.862 to 0.942, n=200), threshold 0.7$"

# max-sfd is NOT RUN where SFD is not a finding: no images, or an MM-RM that ignores the image.
"$MM" gate --db "$T/mix.db" --max-sfd 0.1 --dataset textonly >"$T/o" 2>&1; check "sfd on text-only: exit 0" 0 $?
has "sfd NOT RUN no images" "$T/o" "^NOT RUN SFD of dataset 'textonly' is at most 0.1: no images: the dataset is text-only, SFD is not defined$"
"$MM" gate --db "$T/mix.db" --max-sfd 0.1 --dataset uninformative >"$T/o" 2>&1
check "sfd on uninformative: exit 0" 0 $?
has "sfd NOT RUN not informative" "$T/o" "^NOT RUN SFD of dataset 'uninformative' is at most 0.1: the multimodal RM does not use the image with these image features (counterfactual image test); SFD describes the tool, not the data — use \`mmaudit embed\` with your own encoder$"
"$MM" gate --db "$T/mix.db" --max-sfd 0.1 --dataset uninformative --strict >"$T/o" 2>&1
check "sfd NOT RUN fails with --strict" 1 $?
# An old run (no has_images / mm_informative keys) is gated as before: sfd 0.42 on 182 + 18 pairs.
"$MM" gate --db "$T/mix.db" --max-sfd 0.1 --dataset shortcut-heavy >"$T/o" 2>&1; check "sfd on old run" 1 $?
has "sfd FAIL old run" "$T/o" "^FAIL SFD of dataset 'shortcut-heavy' is at most 0.1: observed 0.4200 (95% CI "

# summary.json: gate statuses include WARN, with ci95 and counts.warn; the verdict sentence for
# the three cases (blind-baseline comparison, text-only, MM-RM not informative).
"$MM" report --db "$T/mix.db" --out "$T/mix" --max-text-accuracy 0.7 --max-sfd 0.1 --quiet >"$T/o" 2>&1
check "report on mixed workspace" 0 $?
for only in textonly uninformative straddle; do
	mkws "$T/$only.db" --pairs 200 --only $only || { echo "not ok - fixture $only"; exit 1; }
	"$MM" report --db "$T/$only.db" --out "$T/r-$only" --max-text-accuracy 0.7 --quiet >"$T/o" 2>&1
	check "report on $only" 0 $?
done
"$MM" report --db "$T/ws.db" --out "$T/r-ws" --quiet >"$T/o" 2>&1; check "report on ws" 0 $?
"$MM" report --db "$T/clean.db" --out "$T/r-clean" --quiet >"$T/o" 2>&1; check "report on clean" 0 $?
python3 - "$T" <<'PY' || fail=1
import json, sys
t = sys.argv[1]
s = json.load(open(t + "/mix/summary.json"))
res = {(r["rule"], r["dataset"]): r for r in s["gate"]["results"]}
assert [r["status"] for r in s["gate"]["results"]] == ["FAIL"] * 5 + ["WARN"] + ["NOT RUN"] * 2, \
    [(r["rule"], r["dataset"], r["status"]) for r in s["gate"]["results"]]
w = res[("max-text-accuracy", "straddle")]
assert w["status"] == "WARN" and w["n"] == 1250, w
assert abs(w["ci95"][0] - 0.67647) < 1e-4 and abs(w["ci95"][1] - 0.72709) < 1e-4, w["ci95"]
assert res[("max-sfd", "textonly")]["status"] == "NOT RUN" and res[("max-sfd", "textonly")]["ci95"] is None
assert res[("max-sfd", "uninformative")]["reason"].startswith("the multimodal RM does not use the image")
assert s["gate"]["counts"] == {"fail": 5, "warn": 1, "pass": 0, "not_run": 2}, s["gate"]["counts"]
assert s["gate"]["failed"] is True and s["verdict"]["gate"] == "FAIL"
print("ok - summary.json gate results carry WARN, ci95 and counts.warn")

def verdict(name):
    return json.load(open("%s/%s/summary.json" % (t, name)))["verdict"]

v = verdict("r-ws")
want = ("A text-only model picks the chosen answer in 91.0% of 200 pairs of 'shortcut-heavy' without seeing "
        "the image, 8.0 points above the best blind baseline (pick-longer, 83.0%); the multimodal RM gets "
        "92.0%; where the text shortcut fails (9.0% of pairs) the RM gets 55.0% (the most text-solvable of "
        "2 scored datasets).")
assert v["sentence"] == want, v["sentence"]
assert v["mm_informative"] is None, v
print("ok - verdict: proxy vs best blind baseline, MM part kept for an old run")

v = verdict("r-straddle")
assert v["gate"] == "WARN", v
assert v["sentence"].startswith(
    "A text-only model picks the chosen answer in 70.2% of 1,250 pairs of 'straddle' without seeing the "
    "image, within 2 points of pick-longer (69.0%): the shortcut is answer length; the multimodal RM gets "
    "74.0%"), v["sentence"]
assert v["mm_informative"] is True, v
print("ok - verdict: within 2 points names the cue")

v = verdict("r-textonly")
want = ("A text-only model picks the chosen answer in 80.0% of 200 pairs of 'textonly', 10.0 points above "
        "the best blind baseline (pick-more-formatted, 70.0%); no multimodal figures: the dataset has no "
        "images.")
assert v["sentence"] == want, v["sentence"]
assert v["mm_informative"] is None and v["gate"] == "FAIL", v
print("ok - verdict: text-only dataset, no MM figures")

v = verdict("r-uninformative")
sent = v["sentence"]
assert sent.startswith(
    "A text-only model picks the chosen answer in 76.4% of 200 pairs of 'uninformative' without seeing "
    "the image, 8.0 points above the best blind baseline (pick-more-formatted, 68.4%); the multimodal RM "
    "does not see beyond the text with these image features"), sent
assert "`mmaudit embed`" in sent and "76.3" not in sent and "shortcut fails" not in sent \
    and "SFD" not in sent, sent
assert v["mm_informative"] is False, v
print("ok - verdict: MM-RM not informative, names the fix, quotes no MM figure")

# 0.54 on 200 pairs (Wilson 0.471 to 0.608) is not told apart from chance, nor called a cue.
v = verdict("r-clean")
assert v["sentence"].startswith(
    "A text-only model picks the chosen answer in 54.0% of 200 pairs of 'clean' without seeing the image, "
    "which is not distinguishable from chance (95% CI 47.1% to 60.8%; best blind baseline "
    "pick-more-formatted, 60.0%); the multimodal RM gets 81.0%"), v["sentence"]
print("ok - verdict: near chance says so")
PY
has "HTML WARN badge" "$T/r-straddle/report.html" 'badge warn">! WARN</span>'
has "HTML WARN interval" "$T/r-straddle/report.html" "95% CI 0.676–0.727"

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
