#!/usr/bin/env bash
# End-to-end: synth -> index -> score -> weights, through the binary.
#  - held-out text accuracy within 3 points of the planted cue share (truth.csv), MM accuracy high;
#  - score --json / --out contract; one row per pair; categories valid;
#  - same seed twice -> identical per-pair scores; another fold count still works;
#  - weights: one per pair, keyed by input id, mean 1 with --normalize mean, = sfc with none.
set -euo pipefail
export PATH=/usr/bin:$PATH
MM=${1:?usage: e2e_score.sh PATH/TO/mmaudit}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
"$MM" synth --out "$T/a" --pairs 1200 --shortcut 0.8 --seed 5 --quiet
"$MM" index --db "$T/w.db" --name a --quiet "$T/a/data.jsonl"
"$MM" score --db "$T/w.db" --seed 3 --out "$T/s1.csv" --json --quiet >"$T/s1.json"
"$MM" score --db "$T/w.db" --seed 3 --out "$T/s2.csv" --quiet >/dev/null
"$MM" score --db "$T/w.db" --seed 3 --folds 3 --out "$T/s3.csv" --json --quiet >"$T/s3.json"
"$MM" weights --db "$T/w.db" --out "$T/w.csv" 2>/dev/null
"$MM" weights --db "$T/w.db" --out "$T/w.jsonl" --method sfc --normalize none 2>/dev/null
# a conflicting duplicate: pair 0 again with the answers swapped -> both flagged suspect-label
python3 - "$T" <<'PY'
import json, sys
t = sys.argv[1]
lines = open(t + "/a/data.jsonl").read().splitlines()
r = json.loads(lines[0]); r["id"] = "swapped"; r["chosen"], r["rejected"] = r["rejected"], r["chosen"]
open(t + "/a/c.jsonl", "w").write("\n".join(lines[:300] + [json.dumps(r)]) + "\n")
PY
"$MM" index --db "$T/w.db" --name c --quiet "$T/a/c.jsonl"
"$MM" score --db "$T/w.db" --dataset c --seed 3 --out "$T/c.csv" --quiet >/dev/null
python3 - "$T" <<'PY'
import csv, json, sys
t = sys.argv[1]
truth = list(csv.DictReader(open(t + "/a/truth.csv")))
cue = sum(r["cue_on_chosen"] in ("1", "true") for r in truth) / len(truth)
d = json.load(open(t + "/s1.json"))["datasets"][0]
print("cue share %.3f text_accuracy %.3f mm_accuracy %.3f sa %.3f shortcut_rate %.3f sfd %s" % (
    cue, d["text_accuracy"], d["mm_accuracy"], d["sa_accuracy"], d["shortcut_rate"], d["sfd"]))
assert abs(d["text_accuracy"] - cue) <= 0.03, (d["text_accuracy"], cue)
assert d["mm_accuracy"] >= 0.85, d["mm_accuracy"]
assert d["pairs"] == len(truth) == 1200
rows = list(csv.DictReader(open(t + "/s1.csv")))
assert list(rows[0])[:6] == ["dataset", "id", "p_text", "p_mm", "sfc", "category"]
assert len(rows) == 1200 and {r["id"] for r in rows} == {r["id"] for r in truth}
assert all(r["category"] in ("text-shortcut", "needs-image", "suspect-label", "ambiguous") for r in rows)
acc = sum(float(r["p_text"]) > 0.5 for r in rows) / len(rows)
assert abs(acc - d["text_accuracy"]) < 1e-9, "CSV and JSON disagree"
assert open(t + "/s1.csv").read() == open(t + "/s2.csv").read(), "same seed gave different scores"
assert open(t + "/s1.csv").read() != open(t + "/s3.csv").read()
d3 = json.load(open(t + "/s3.json"))["datasets"][0]
assert abs(d3["text_accuracy"] - cue) <= 0.04, d3["text_accuracy"]
assert {int(r["fold"]) for r in csv.DictReader(open(t + "/s3.csv"))} == {0, 1, 2}
w = list(csv.DictReader(open(t + "/w.csv")))
assert len(w) == 1200
mean = sum(float(r["weight"]) for r in w) / len(w)
assert abs(mean - 1) < 1e-3, mean
jl = [json.loads(l) for l in open(t + "/w.jsonl")]
# weights come from the newest score run (the 3-fold one)
byid = {r["id"]: r for r in csv.DictReader(open(t + "/s3.csv"))}
assert all(abs(j["weight"] - float(byid[j["id"]]["sfc"])) < 1e-5 for j in jl)
# the weight is the paper's coefficient at the held-out margins: eps/2 + L_t / (eps + L_t + L)
import math
for j in jl:
    lt, l = -math.log(j["p_text"]), -math.log(j["p_mm"])
    assert abs(j["weight"] - (5e-8 + lt / (1e-7 + lt + l))) < 1e-4, j
# needs-image pairs (text wrong, MM right) weigh more than text-shortcut pairs
ni = [j["weight"] for j in jl if j["category"] == "needs-image"]
ts = [j["weight"] for j in jl if j["category"] == "text-shortcut"]
assert ni and ts and sum(ni) / len(ni) > sum(ts) / len(ts), (len(ni), len(ts))
cat = {r["id"]: r["category"] for r in csv.DictReader(open(t + "/c.csv"))}
first = json.loads(open(t + "/a/data.jsonl").readline())["id"]
assert cat["swapped"] == "suspect-label" and cat[first] == "suspect-label", (cat["swapped"], cat[first])
assert sum(v == "suspect-label" for v in cat.values()) < len(cat) / 2
print("score/weights OK")
PY
# top features are present in at least max(1% of pairs, 20 pairs): 2500 text-only pairs of random
# words; three words sit on the chosen side only, in 19 pairs (< 20), 22 pairs (>= 20 but < 1%)
# and 60 pairs (2.4%). Only the last may be listed, and it is (its weight is the largest).
python3 - "$T" <<'PY'
import json, random, sys
t = sys.argv[1]
rnd = random.Random(7)
vocab = ["v%03d" % i for i in range(300)]
with open(t + "/p.jsonl", "w") as f:
    for i in range(2500):
        ch = [rnd.choice(vocab) for _ in range(8)]
        rj = [rnd.choice(vocab) for _ in range(8)]
        if i < 19: ch.append("zqrareone")
        elif i < 41: ch.append("zqraretwo")
        elif i < 101: ch.append("zqpresent")
        f.write(json.dumps({"id": "p%d" % i, "prompt": "question %d" % i,
                            "chosen": " ".join(ch), "rejected": " ".join(rj)}) + "\n")
PY
"$MM" index --db "$T/p.db" --name p --quiet "$T/p.jsonl"
"$MM" score --db "$T/p.db" --seed 2 --json --quiet >"$T/p.json"
python3 - "$T" <<'PY'
import json, sys
d = json.load(open(sys.argv[1] + "/p.json"))["datasets"][0]
tf, n = d["top_features"], d["pairs"]
assert n == 2500 and tf, (n, len(tf))
names = [f["feature"] for f in tf]
assert not any("zqrare" in x for x in names), names
assert any(x == "word 'zqpresent'" for x in names), names
for f in tf:
    assert f["present_share"] == f["present"], f
    assert f["present_share"] >= 0.01 and round(f["present_share"] * n) >= 20, f
print("presence rule OK: %d features, top %s" % (len(tf), names[:3]))
PY
# Issue 13.3: a text-only set whose pairs all share one prompt is folded by pair, says so on
# stderr and records it in the run (it used to be refused: "nothing can be held out").
python3 - "$T" <<'PY'
import json, sys
with open(sys.argv[1] + "/one.jsonl", "w") as f:
    for i in range(300):
        f.write(json.dumps({"id": str(i), "prompt": "Rate the answer.",
                            "chosen": "good answer %d %s" % (i, "x" * (i % 5)),
                            "rejected": "bad %d" % i}) + "\n")
PY
"$MM" index --db "$T/one.db" --name one --quiet "$T/one.jsonl"
"$MM" score --db "$T/one.db" --seed 1 --json --quiet >"$T/one.json" 2>"$T/one.err"
grep -q "folded by pair" "$T/one.err"
python3 - "$T" <<'PY'
import json, sqlite3, sys
t = sys.argv[1]
d = json.load(open(t + "/one.json"))["datasets"][0]
assert d["pairs"] == 300 and d["text_accuracy"] > 0.9, d["text_accuracy"]
opts = sqlite3.connect(t + "/one.db").execute(
    "SELECT options FROM runs WHERE kind = 'score' AND status = 'done'").fetchone()[0]
assert json.loads(opts)["fold_by"] == ["pair"], opts
print("single-prompt set folded by pair OK")
PY
