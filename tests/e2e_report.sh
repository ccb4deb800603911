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
# Issue 12 on the fixture (no training): a text-only dataset, a dataset whose MM-RM does not use
# the image, the counterfactual image test and the weights evaluation as the contract writes them.
FX=$(cd "$(dirname "$0")" && pwd)/reports_fixture.py
# mkempty DB: a migrated workspace without data for the fixture (made by `index` of an empty file,
# then emptied: `info` is read-only and never creates or migrates a workspace)
mkempty() {
	rm -f "$1" && : >"$1.empty.jsonl" && "$MM" index --quiet --db "$1" "$1.empty.jsonl" &&
		python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute("DELETE FROM source_files"); c.execute("DELETE FROM datasets"); c.commit()' "$1"
	local rc=$?
	rm -f "$1.empty.jsonl"
	return $rc
}
mkempty "$T/fx.db"
python3 "$FX" "$T/fx.db" --pairs 400 --issue12
"$MM" report --db "$T/fx.db" --out "$T/fx" --max-shortcut-rate 0.3 --quiet
python3 - "$T/fx" "$T/fx.db" <<'PY'
import html, json, re, sqlite3, sys
d, dbp = sys.argv[1], sys.argv[2]
db = sqlite3.connect(dbp)
stored = {n: json.loads(m) for n, m in db.execute(
    "SELECT ds.name, rd.metrics FROM run_datasets rd JOIN datasets ds ON ds.id = rd.dataset_id")}
j = json.load(open(d + "/summary.json"))
by = {x["name"]: x for x in j["datasets"]}
t, ni, cl, hv = by["hh-text"], by["mllm-like"], by["clean"], by["shortcut-heavy"]
# summary.json: MM keys present and null for the text-only set; contract keys copied unchanged.
for k in ("mm_accuracy", "sa_accuracy", "sfd", "mm_acc_text_right", "mm_acc_text_wrong",
          "mm_informative", "image_reliance"):
    assert k in t and t[k] is None, (k, t.get(k))
assert t["has_images"] is False and t["interval95"]["mm_accuracy"] is None
assert ni["has_images"] is True and ni["mm_informative"] is False and hv["mm_informative"] is True
def same(a, b):  # summary.json prints reals with 12 significant digits
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, float) or isinstance(b, float):
        return abs(a - b) <= 1e-9 * max(1.0, abs(b))
    return a == b
for name in ("hh-text", "mllm-like", "shortcut-heavy"):
    for k in ("mm_informative_reason", "min_image_gain", "image_reliance", "weights"):
        assert same(by[name][k], stored[name][k]), (name, k, by[name][k], stored[name][k])
assert ni["image_reliance"]["swap_flip_rate"] == 0.0123
assert ni["weights"]["auto"] == "debias" and ni["weights"]["sfc"]["informative"] is False
assert t["weights"]["sfc"] == {"available": False, "reason": "sfc needs images: this dataset has none"}
# a run from before issue 12: unknown, not false
assert cl["has_images"] is True and cl["mm_informative"] is None and cl["weights"] is None
for k in ("image_reliance.swap_flip_rate", "image_reliance.swap_accuracy_drop",
          "weights.refit_text_accuracy", "weights.ess", "weights.cues.chosen_share"):
    assert k in j["definitions"], k

h = open(d + "/report.html", encoding="utf-8").read()
assert "<script" not in h.lower()
assert "w:&lt;script&gt;alert(4)&lt;/script&gt;" in h
def section(i):
    m = re.search(r'<section id="%s".*?</section>' % i, h, re.S)
    assert m, i
    return m.group(0)
def row(sec, name):
    m = re.search(r'<tr><th scope="row">%s(<br>|</th>).*?</tr>' % re.escape(name), sec, re.S)
    assert m, name
    return m.group(0)
def cells(r):
    return [html.unescape(re.sub(r"<[^>]+>", " ", c)).split() for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)]
# Key metrics: text-only row: MM-RM, shortcut-aware, needs-image and SFD say n/a: no images
met = section("metrics")
c = cells(row(met, "hh-text"))
assert [" ".join(x) for x in (c[2], c[3], c[5], c[6])] == ["n/a: no images"] * 4, c
r = row(met, "hh-text")
assert "76.3%" not in r and "77.0%" not in r
# not informative: SFD, needs-image and shortcut-aware greyed and labelled; MM-RM acc. as is
c = cells(row(met, "mllm-like"))
assert "+25.0" in c[6] and c[6][-3:] == ["not", "informative", "\u2020"], c[6]
assert c[3][0] == "77.0%" and c[3][-3:] == ["not", "informative", "\u2020"], c[3]
assert c[5][0] == "4.0%" and c[5][-3:] == ["not", "informative", "\u2020"], c[5]
assert c[2][0] == "76.3%" and "informative" not in c[2]
assert 'id="ni-note"' in met and "mmaudit embed" in met
# SFD: text-only n/a, not-informative out of the chart with the reason
sfd = section("sfd")
svg = re.search(r"<svg.*?</svg>", sfd, re.S).group(0)
assert "hh-text" not in svg and "mllm-like" not in svg and "shortcut-heavy" in svg
assert " ".join(cells(row(sfd, "hh-text"))[0]) == "n/a: no images"
assert "mllm-like</strong>: not drawn, not informative" in sfd
# Does the MM-RM use the image?
iu = section("image-use")
c = [" ".join(x) for x in cells(row(iu, "mllm-like"))]
assert c == ["360", "1.2%", "0.9%", "76.3%", "76.2%", "76.1%", "0.004",
             "+0.1 pts 95% CI -0.2 to +0.4", "✗ does not use the image: not informative"], c
assert html.escape(stored["mllm-like"]["mm_informative_reason"], quote=True).replace("&#x27;", "&#39;") in iu
assert "hh-text</strong>: no images" in iu and "clean</strong>: not tested" in iu
# What the weights do: columns none, auto's method, the others; fixture numbers; auto reason
w = section("weights")
assert '<a href="#weights">What the weights do</a>' in h
parts = re.split(r"<h3>", w)
ml = [p for p in parts if p.startswith("mllm-like</h3>")][0]
heads = re.findall(r'<th scope="col" class="num">(\w+)', ml)
assert heads == ["none", "debias", "jtt", "sfc"], heads
assert "picked <strong>debias</strong>: mm_informative is false" in ml
c = cells(row(ml, "weighted pick-longer"))
assert [x[0] for x in c] == ["68.2%", "55.1%", "60.1%", "68.6%"] and c[1][1] == "(-13.1)", c
c = cells(row(ml, "re-fit text-only accuracy"))
assert " ".join(c[1]) == "61.2% (-15.2) 95% CI 56.3–65.9", c
c = cells(row(ml, "effective sample size (ess)"))
assert " ".join(c[1]) == "268 67.1% of n", c
assert "not informative\u2020</small></th>" in ml
hv_part = [p for p in parts if p.startswith("shortcut-heavy</h3>")][0]
assert re.findall(r'<th scope="col" class="num">(\w+)', hv_part) == ["none", "sfc", "debias", "jtt"]
assert "unavailable: the text proxy makes fewer than 20 held-out errors" in hv_part
tx = [p for p in parts if p.startswith("hh-text</h3>")][0]
assert "unavailable: sfc needs images: this dataset has none" in tx
assert "clean</h3><p>Not evaluated" in w
# Histogram share = the table's shortcut rate, or the difference stated
hs = section("histogram")
fig = {m.group(1): m.group(0) for m in re.finditer(r"<figure><h3>(.*?)</h3>.*?</figure>", hs, re.S)}
rate = stored["hh-text"]["shortcut_rate"]
assert "threshold 0.80: %.1f%% text-shortcut" % (100 * rate) in fig["hh-text"]
assert "the shortcut rate of the metrics table" in fig["hh-text"]
assert "The metrics table&#39;s shortcut rate is 62.0%" in fig["shortcut-heavy"] or \
    "The metrics table's shortcut rate is 62.0%" in fig["shortcut-heavy"]
print("report e2e fixture (issue 12) OK")
PY
# Issue 13 on the fixture: a crossdist run with every method, intervals, n per cell, the ranking,
# the recommendation and the leave-one-environment-out selection; long and hostile dataset names.
mkempty "$T/x13.db"
python3 "$FX" "$T/x13.db" --pairs 200 --issue13
"$MM" report --db "$T/x13.db" --out "$T/x13" --quiet
python3 - "$T/x13" "$T/x13.db" "$MM" <<'PY'
import html, json, re, sqlite3, subprocess, sys
d, dbp, mm = sys.argv[1], sys.argv[2], sys.argv[3]
j = json.load(open(d + "/summary.json"))
cd = j["crossdist"]
stored = json.loads(sqlite3.connect(dbp).execute(
    "SELECT metrics FROM runs WHERE kind = 'crossdist' ORDER BY id DESC LIMIT 1").fetchone()[0])
# summary.json carries every key the run stored (reals to 12 digits), plus its id
def same(a, b):
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, float) or isinstance(b, float):
        return abs(a - b) <= 1e-9 * max(1.0, abs(b))
    return a == b
for k in stored:
    assert same(cd[k], stored[k]), k
assert cd["run"] == 3 and set(cd["methods"]) == {"text", "standard", "shortcut-aware", "poe", "debias", "jtt"}
for m, v in cd["methods"].items():
    for k in ("n", "iid_mean_ci95", "ood_mean_ci95", "ood_vs_standard", "ood_vs_standard_ci95", "sfd"):
        assert k in v, (m, k)
assert [r["method"] for r in cd["ranking"]] == ["poe", "jtt", "debias", "shortcut-aware", "standard"]
for k in ("crossdist.n", "crossdist.ranking", "crossdist.recommendation", "crossdist.selection",
          "crossdist.ood_vs_standard_ci95", "crossdist.excluded_by_kind", "crossdist.methods.poe",
          "crossdist.methods.debias", "crossdist.methods.jtt"):
    assert k in j["definitions"], k

def section(h):
    return re.search(r'<section id="crossdist".*?</section>', h, re.S).group(0)
h = open(d + "/report.html", encoding="utf-8").read()
sec = section(h)
# ranking table: best o.o.d. first, the text proxy last and unranked
tab = re.search(r'<table class="rank">.*?</table>', sec, re.S).group(0)
order = re.findall(r"<tr[^>]*><td class=\"num\">([^<]*)</td><td><strong>([^<]*)</strong>", tab)
assert [o[1] for o in order] == ["poe \u2014 product of experts", "jtt \u2014 just train twice",
                                 "debias \u2014 example reweighting", "shortcut-aware MM-RM",
                                 "standard MM-RM", "text-only proxy"], order
assert [o[0] for o in order] == ["1", "2", "3", "4", "5", "\u2014"], order
poe = re.search(r'<tr class="rec">.*?</tr>', tab, re.S).group(0)
txt = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", poe)).split())
assert "80.6% 95% CI 79.6\u201381.7" in txt and "+8.8 pts 95% CI +7.6 to +9.9" in txt, txt
assert "92.4% 95% CI 91.5\u201393.2" in txt and "11.8 pts" in txt and "recommended" in txt, txt
# the recommendation: one sentence with the gain and its interval
assert ("\u2713 <strong>Train with poe</strong> (product of experts with the text-only proxy: trained on"
        " the MM margin plus the detached text margin, scored with the MM branch alone): it beats"
        " standard out of distribution by 8.8 points (95% CI 7.6 to 9.9).</p>") in sec, sec[:3000]
# the selection figure beside it, and the per-environment choices
sel = cd["selection"]
want = ("Chosen on the other environments, measured on the held-out one: <strong>%.1f%%</strong>"
        " (95%% CI %.1f\u2013%.1f) vs standard %.1f%%" % (100 * sel["ood_mean"], 100 * sel["ood_mean_ci95"][0],
                                                          100 * sel["ood_mean_ci95"][1], 100 * sel["standard_ood_mean"]))
assert want in sec and "80.5%" in want and "71.9%" in want, want
for e in sel["per_environment"]:
    assert re.search(r"<tr><th scope=\"row\">%s</th><td>%s</td><td class=\"num\">%.1f%%</td>"
                     % (re.escape(html.escape(e["held_out"])), e["chosen"], 100 * e["ood_accuracy"]), sec), e
assert [e["chosen"] for e in sel["per_environment"]] == ["jtt", "poe", "jtt"]
# leakage by kind; shared prompts counted only; split by pair named
assert "45 test pairs excluded from the test splits: 20 sharing an image with another dataset, 25 sharing" \
       " an answer pair" in sec
assert "Prompts shared across datasets: 15, counted only" in sec and "group): <strong>mmpr-sci</strong>" in sec
# one heat map per method; full names (escaped) in every map, n in every cell, ink by luminance
svgs = re.findall(r'<svg class="chart" role="img".*?</svg>', sec, re.S)[1:]
assert len(svgs) == 6, len(svgs)
long_name = "VLFeedback-llava-1.5-13b-sampled-preferences"
evil = html.escape('rlaif-v <hard> & "co"', quote=True).replace("&#x27;", "&#39;")
for svg in svgs:
    labels = re.findall(r'<text class="tick" text-anchor="[a-z]+"><title>(.*?)</title>(.*?)</text>', svg)
    assert len(labels) == 6, labels
    for title, spans in labels:  # the wrapped lines put together are the whole name
        assert "".join(re.findall(r"<tspan[^>]*>(.*?)</tspan>", spans)) == title, (title, spans)
    assert sorted({t for t, _ in labels}) == sorted([long_name, evil, "mmpr-sci"])
    assert svg.count("trained on %s, tested on" % long_name) == 3
    for nn in ("n=987", "n=10,390", "n=1,020"):
        assert svg.count(">%s</text>" % nn) == 3, nn
assert 'rlaif-v <hard>' not in h and "rlaif-v &lt;hard&gt; &amp; &quot;co&quot;" in h
text_map = svgs[5]
assert re.search(r'class="cellv ink1">5\.3<', text_map) and re.search(r'class="cellv ink0">94\.7<', text_map)
assert "of 10390 test pairs" in text_map

# No claim the interval does not support: the flag false, or true with an interval reaching 0.
db = sqlite3.connect(dbp)
def rerun(edit):
    m = json.loads(json.dumps(stored))
    edit(m)
    db.execute("UPDATE runs SET metrics = ? WHERE id = 3", (json.dumps(m),))
    db.commit()
    subprocess.run([mm, "report", "--db", dbp, "--out", d, "--quiet"], check=True)
    return section(open(d + "/report.html", encoding="utf-8").read())
reason = ("shortcut-aware has the best o.o.d. mean (73.8%), 1.9 points above standard, but the 95% interval"
          " of the gain (-0.5 to 4.1) includes 0: no method reliably beats standard here")
def no_win(m):
    m["recommendation"] = {"method": "standard", "beats_standard": False, "ood_gain": 0.019,
                           "ood_gain_ci95": [-0.005, 0.041], "reason": reason}
s2 = rerun(no_win)
assert "Train with" not in s2 and "<strong>No method beats standard</strong> out of distribution: " \
       + reason + "." in s2, s2[:2500]
assert "\u2013 kept: none beats it" in s2
def flag_without_interval(m):
    m["recommendation"]["ood_gain_ci95"] = [-0.001, 0.2]
s3 = rerun(flag_without_interval)
assert "Train with" not in s3 and "No method beats standard" in s3
assert "recommended" not in s3 and "\u2013 kept: none beats it" in s3
assert re.search(r'<tr class="rec"><td class="num">5</td><td><strong>standard MM-RM', s3)
print("report e2e crossdist (issue 13) OK")
PY
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
# audit's weights.csv comes from the rows samples.csv's scan collected: the same bytes as
# `mmaudit weights`, which scans them itself (two datasets)
"$MM" weights --db "$T/out/workspace.db" --out "$T/w2.csv" 2>/dev/null
cmp -s "$T/out/weights.csv" "$T/w2.csv" || { echo "audit's weights.csv differs from mmaudit weights"; exit 1; }
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
assert cd["datasets"] == ["heavy", "clean"] and set(cd["methods"]) == {"text", "standard", "shortcut-aware", "poe", "debias", "jtt"}
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
