#!/usr/bin/env bash
# End-to-end report test on synth data through `mmaudit audit`:
#  - summary.json and samples.csv agree with the workspace (read with Python's sqlite3);
#  - hostile answers (<script>, quotes, commas, newlines, =HYPERLINK) come out escaped in HTML and
#    defused/quoted in CSV;
#  - gate: exit 1 with a FAIL line on the shortcut-heavy environment, exit 0 on the clean one;
#  - rerunning report gives byte-identical files.
set -euo pipefail
MM=${1:?usage: e2e_report.sh PATH/TO/mmaudit}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
"$MM" synth --out "$T/heavy" --pairs 600 --shortcut 0.95 --seed 21 --quiet
"$MM" synth --out "$T/clean" --pairs 600 --shortcut 0.5 --seed 22 --quiet
python3 - "$T/heavy/data.jsonl" <<'PY'
import json, sys
p = sys.argv[1]
rows = [json.loads(l) for l in open(p)]
evil = '<script>alert(1)</script> "quoted", comma\nnew line =HYPERLINK("http://x","y")'
for r in rows[:40]:
    r["chosen"] = evil + " " + r["chosen"]
rows[0]["id"] = '=HYPERLINK("http://evil","click")'
open(p, "w").write("".join(json.dumps(r) + "\n" for r in rows))
PY
rc=0
"$MM" audit --out "$T/out" --seed 1 --quiet --max-shortcut-rate 0.2 heavy="$T/heavy/data.jsonl" \
	clean="$T/clean/data.jsonl" >"$T/audit.txt" 2>"$T/audit.err" || rc=$?
[ "$rc" -eq 1 ] || { echo "audit with a failing gate exited $rc, want 1"; cat "$T/audit.err"; exit 1; }
grep -q "^FAIL shortcut rate of dataset 'heavy'" "$T/audit.txt" || { echo "no FAIL line for heavy"; cat "$T/audit.txt"; exit 1; }
grep -q "^PASS shortcut rate of dataset 'clean'" "$T/audit.txt" || { echo "no PASS line for clean"; exit 1; }
rc=0; "$MM" gate --db "$T/out/workspace.db" --dataset heavy --max-shortcut-rate 0.2 >"$T/g1" || rc=$?
[ "$rc" -eq 1 ] && grep -q "^FAIL" "$T/g1" || { echo "gate heavy: exit $rc"; cat "$T/g1"; exit 1; }
rc=0; "$MM" gate --db "$T/out/workspace.db" --dataset clean --max-shortcut-rate 0.2 >"$T/g2" || rc=$?
[ "$rc" -eq 0 ] && grep -q "^PASS" "$T/g2" || { echo "gate clean: exit $rc"; cat "$T/g2"; exit 1; }
cp "$T/out/report.html" "$T/r1.html"; cp "$T/out/samples.csv" "$T/s1.csv"; cp "$T/out/summary.json" "$T/j1.json"
"$MM" report --db "$T/out/workspace.db" --out "$T/out" --max-shortcut-rate 0.2 --quiet
cmp -s "$T/r1.html" "$T/out/report.html" && cmp -s "$T/s1.csv" "$T/out/samples.csv" &&
	cmp -s "$T/j1.json" "$T/out/summary.json" || { echo "report rerun is not byte-identical"; exit 1; }
python3 - "$T/out" <<'PY'
import csv, json, re, sqlite3, sys
d = sys.argv[1]
db = sqlite3.connect(d + "/workspace.db")
j = json.load(open(d + "/summary.json"))
by = {x["name"]: x for x in j["datasets"]}
assert set(by) == {"heavy", "clean"}, set(by)
for name, x in by.items():
    run, m = db.execute("""SELECT r.id, rd.metrics FROM runs r JOIN run_datasets rd ON rd.run_id = r.id
        JOIN datasets ds ON ds.id = rd.dataset_id WHERE ds.name = ? AND r.status = 'done'
        ORDER BY r.id DESC LIMIT 1""", (name,)).fetchone()
    m = json.loads(m)
    n, acc, sc = db.execute("""SELECT count(*), avg(s.p_text > 0.5), avg(s.category = 'text-shortcut')
        FROM pair_scores s JOIN pairs p ON p.id = s.pair_id JOIN datasets ds ON ds.id = p.dataset_id
        WHERE s.run_id = ? AND ds.name = ?""", (run, name)).fetchone()
    assert x["pairs"] == n == 600, (x["pairs"], n)
    assert abs(x["text_accuracy"] - acc) < 1e-9 and abs(x["text_accuracy"] - m["text_accuracy"]) < 1e-9
    assert abs(x["shortcut_rate"] - sc) < 1e-9, (x["shortcut_rate"], sc)
    assert abs(x["mm_accuracy"] - m["mm_accuracy"]) < 1e-9
    assert abs(x["blind"]["pick_longer"] - m["blind"]["pick_longer"]) < 1e-9
assert by["heavy"]["text_accuracy"] >= 0.85 and 0.35 <= by["clean"]["text_accuracy"] <= 0.65
cd = j["crossdist"]
assert cd["datasets"] == ["heavy", "clean"] and set(cd["methods"]) == {"text", "standard", "shortcut-aware"}
cell = db.execute("""SELECT c.accuracy FROM crossdist_cells c JOIN datasets a ON a.id = c.train_ds
    JOIN datasets b ON b.id = c.test_ds WHERE c.method = 'standard' AND a.name = 'heavy'
    AND b.name = 'clean' ORDER BY c.run_id DESC LIMIT 1""").fetchone()[0]
assert abs(cd["methods"]["standard"]["accuracy"][0][1] - cell) < 1e-9
assert j["top_features"] and all(isinstance(f["weight"], float) for f in j["top_features"])
# listed features are present in >= max(1%, 20) of their dataset's pairs; present_share = present
for f in j["top_features"]:
    assert f["present_share"] == f["present"] and f["present_share"] >= 0.01, f
    assert round(f["present_share"] * by[f["dataset"]]["scored_pairs"]) >= 20, f
assert "top_features.present_share" in j["definitions"] and "max(1%" in j["definitions"]["top_features.present"]
# samples.csv: one row per pair, ranks 1..n per dataset by descending shortcut score
raw = open(d + "/samples.csv", newline="").read()
rows = list(csv.DictReader(raw.splitlines(keepends=True)))
assert len(rows) == 1200
for name in ("heavy", "clean"):
    r = [x for x in rows if x["dataset"] == name]
    assert [int(x["rank"]) for x in r] == list(range(1, 601))
    sc = [float(x["shortcut_score"]) for x in r]
    assert all(a >= b for a, b in zip(sc, sc[1:]))
    ids = {x["id"] for x in r}
    dbids = {i for (i,) in db.execute("SELECT ext_id FROM pairs p JOIN datasets ds ON ds.id = p.dataset_id WHERE ds.name = ?", (name,))}
    if name == "clean":
        assert ids == dbids
evil = [x for x in rows if "HYPERLINK" in x["id"]]
assert len(evil) == 1 and evil[0]["id"].startswith("'="), evil
assert '"\'=HYPERLINK(""http://evil"",""click"")"' in raw
for x in rows:
    for v in x.values():
        assert not v or v[0] not in "=+@" , v
# report.html: escaped, no scripts, no external URLs
html = open(d + "/report.html", encoding="utf-8").read()
assert "<script" not in html.lower()
assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
assert not re.search(r'(src|href)\s*=\s*["\']?(https?:)?//', html)
assert "Content-Security-Policy" in html
print("report e2e OK")
PY
