#!/usr/bin/env bash
# End-to-end: three synth environments (text cue on the chosen side with P = 0.95, 0.5, 0.05; the
# true preference always decided by the image) -> index -> crossdist. Asserts the paper's pattern:
#  - the text proxy trained on P=0.95 is >= 85% i.i.d. and <= 20% on the P=0.05 test split;
#  - the standard MM-RM trained on P=0.95 has an i.i.d. - o.o.d. gap >= 5 points and SFD > 0;
#  - the shortcut-aware MM-RM's o.o.d. mean is not below the standard MM-RM's;
# then determinism (same seed -> same matrices) and a one-dataset run (i.i.d. only).
set -euo pipefail
MM=${1:?usage: e2e_crossdist.sh PATH/TO/mmaudit}
N=${E2E_PAIRS:-1500}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
"$MM" synth --out "$T/hi" --pairs "$N" --shortcut 0.95 --seed 11 --quiet
"$MM" synth --out "$T/mid" --pairs "$N" --shortcut 0.5 --seed 12 --quiet
"$MM" synth --out "$T/lo" --pairs "$N" --shortcut 0.05 --seed 13 --quiet
for e in hi mid lo; do "$MM" index --db "$T/w.db" --name "$e" --quiet "$T/$e/data.jsonl"; done
"$MM" crossdist --db "$T/w.db" --datasets hi,mid,lo --seed 7 --json --quiet >"$T/x1.json"
"$MM" crossdist --db "$T/w.db" --datasets hi,mid,lo --seed 7 --json --quiet >"$T/x2.json"
"$MM" crossdist --db "$T/w.db" --datasets mid --seed 7 --json --quiet >"$T/one.json"
python3 - "$T" <<'PY'
import json, sys
t = sys.argv[1]
x = json.load(open(t + "/x1.json"))
assert x["datasets"] == ["hi", "mid", "lo"], x["datasets"]
M = x["methods"]
for m in ("text", "standard", "shortcut-aware"):
    print(m, [[round(100 * v, 1) for v in row] for row in M[m]["accuracy"]],
          "iid %.1f ood %.1f gap %.1f" % tuple(100 * M[m][k] for k in ("iid_mean", "ood_mean", "gap")),
          "sfd_mean", M[m]["sfd_mean"])
# SFD is true by construction for the text proxy itself (+100): it is not reported
assert M["text"]["sfd_mean"] is None and all(v is None for row in M["text"]["sfd"] for v in row)
txt = M["text"]["accuracy"]
assert txt[0][0] >= 0.85, f"text proxy i.i.d. on P=0.95: {txt[0][0]}"
assert txt[0][2] <= 0.20, f"text proxy trained on P=0.95, tested on P=0.05: {txt[0][2]}"
st = M["standard"]
row = st["accuracy"][0]
gap = row[0] - (row[1] + row[2]) / 2
assert gap >= 0.05, f"standard MM-RM trained on P=0.95: i.i.d. - o.o.d. gap {gap}"
sfd_row = [v for j, v in enumerate(st["sfd"][0]) if v is not None]
assert sum(sfd_row) / len(sfd_row) > 0, f"standard MM-RM SFD row {st['sfd'][0]}"
assert M["shortcut-aware"]["ood_mean"] >= st["ood_mean"], (M["shortcut-aware"]["ood_mean"], st["ood_mean"])
y = json.load(open(t + "/x2.json"))
assert x["methods"] == y["methods"], "crossdist is not deterministic for one seed"
one = json.load(open(t + "/one.json"))
for m in one["methods"].values():
    assert len(m["accuracy"]) == 1 and m["ood_mean"] is None and m["gap"] is None, m
print("crossdist pattern OK")
PY

# Issue 13.1: leakage is what leaks. Three environments whose prompts are a handful of generic
# ones shared by every dataset (synth --generic-prompts, one variant): crossdist runs, counts the
# shared prompts and excludes nothing for them. Then 20 images of A reused (the same bytes) by
# B's pairs: exactly those 20 images are counted shared and B's test pairs showing them are
# excluded. Text-only: 25 answer pairs of one set reappear in another (swapped, upper-cased,
# extra spaces): counted as shared answer pairs and kept out of the test split.
for e in "ga 0.9 21" "gb 0.5 22" "gc 0.1 23"; do
	set -- $e
	"$MM" synth --out "$T/$1" --pairs 600 --shortcut "$2" --seed "$3" --generic-prompts --env "$1" --quiet
done
python3 - "$T" <<'PY'
import json, shutil, sys
t = sys.argv[1]
a = [json.loads(l) for l in open(t + "/ga/data.jsonl")]
b = [json.loads(l) for l in open(t + "/gb/data.jsonl")]
for i in range(20):  # B's pairs 0..19 show A's images 0..19 (copied: the same content hash)
    shutil.copy(f"{t}/ga/{a[i]['image']}", f"{t}/gb/images/shared{i}.png")
    b[i]["image"] = f"images/shared{i}.png"
with open(t + "/gb/data.jsonl", "w") as f:
    for r in b: f.write(json.dumps(r) + "\n")
def text_set(name, seed, reuse):
    rows = []
    for i in range(400):
        rows.append({"id": f"{name}{i}", "prompt": "Answer the question.",
                     "chosen": f"answer {seed} {i} is right " + "x" * (i % 9),
                     "rejected": f"answer {seed} {i} is wrong"})
    for i, r in enumerate(reuse):
        rows[i]["chosen"], rows[i]["rejected"] = r["rejected"].upper(), "  " + r["chosen"] + " "
    return rows
ta = text_set("ta", 1, [])
tb = text_set("tb", 2, ta[100:125])
for n, rows in (("ta", ta), ("tb", tb)):
    with open(f"{t}/{n}.jsonl", "w") as f:
        for r in rows: f.write(json.dumps(r) + "\n")
PY
for n in ga gb gc; do "$MM" index --db "$T/g.db" --name "$n" --quiet "$T/$n/data.jsonl"; done
"$MM" crossdist --db "$T/g.db" --seed 3 --json --quiet >"$T/g.json"
"$MM" index --db "$T/t.db" --name ta --quiet "$T/ta.jsonl"
"$MM" index --db "$T/t.db" --name tb --quiet "$T/tb.jsonl"
"$MM" crossdist --db "$T/t.db" --seed 3 --methods text,standard --json --quiet >"$T/t.json"
python3 - "$T" <<'PY'
import json, sys
t = sys.argv[1]
g = json.load(open(t + "/g.json"))
ov = {(o["a"], o["b"]): o for o in g["overlap"]}
print("generic prompts: overlap", g["overlap"], "excluded", g["excluded_by_kind"])
for k in (("ga", "gb"), ("ga", "gc"), ("gb", "gc")):
    assert ov[k]["shared_prompts"] >= 5, (k, ov[k])  # the generic prompts, in every dataset
assert ov[("ga", "gb")]["shared_images"] == 20, ov[("ga", "gb")]
assert ov[("ga", "gc")]["shared_images"] == 0 and ov[("gb", "gc")]["shared_images"] == 0
ex = g["excluded_by_kind"]
assert ex["shared_answer_pair"] == 0 and ex["shared_image"] == g["excluded_test_pairs"]
assert 0 < ex["shared_image"] <= 40, ex  # test pairs of A or B showing one of the 20 images
assert g["split_by"] == ["group", "group", "group"]
x = json.load(open(t + "/t.json"))
o = x["overlap"][0]
print("text-only: overlap", o, "excluded", x["excluded_by_kind"], "split", x["split_by"])
assert o["shared_answer_pairs"] == 25 and o["shared_images"] == 0 and o["shared_prompts"] == 1, o
assert 0 < x["excluded_by_kind"]["shared_answer_pair"] <= 50 and x["excluded_by_kind"]["shared_image"] == 0
assert x["split_by"] == ["pair", "pair"]  # one prompt each: split by pair
print("leakage OK")
PY

# Issue 13.2: a regime where the image signal is weaker than the cue (the main shape at half
# size): standard loses >= 10 points out of distribution; the best debiasing method's o.o.d. mean
# is >= 5 points above standard with its paired 95% interval above 0; the leave-one-environment-
# out selection is measured beside it.
v=0
for e in "wh 0.95 1" "wm 0.5 2" "wl 0.05 3"; do
	set -- $e
	"$MM" synth --out "$T/$1" --pairs 5000 --shortcut "$2" --seed "$3" --variant $v --main-scale 0.5 --quiet
	"$MM" index --db "$T/weak.db" --name "$1" --quiet "$T/$1/data.jsonl"
	v=$((v + 1))
done
"$MM" crossdist --db "$T/weak.db" --methods all --select --seed 1 --json --quiet >"$T/weak.json"
python3 - "$T" <<'PY'
import json, sys
x = json.load(open(sys.argv[1] + "/weak.json"))
M = x["methods"]
for m, v in M.items():
    print("%-15s iid %.1f ood %.1f %s gap %.1f vs standard %+.1f %s" % (
        m, 100 * v["iid_mean"], 100 * v["ood_mean"], [round(100 * c, 1) for c in v["ood_mean_ci95"]],
        100 * v["gap"], 100 * v["ood_vs_standard"], [round(100 * c, 1) for c in v["ood_vs_standard_ci95"]]))
st = M["standard"]
assert st["gap"] >= 0.10, st["gap"]
best = x["ranking"][0]
assert best["method"] not in ("standard", "text"), best
assert best["ood_vs_standard"] >= 0.05 and best["ood_vs_standard_ci95"][0] > 0, best
lo, hi = best["ood_mean_ci95"]
assert lo < best["ood_mean"] < hi
rec = x["recommendation"]
assert rec["method"] == best["method"] and rec["beats_standard"] is True, rec
sel = x["selection"]
print("recommendation:", rec["reason"])
print("selection: %.1f%% %s (standard %.1f%%)" % (100 * sel["ood_mean"],
      [round(100 * c, 1) for c in sel["ood_mean_ci95"]], 100 * sel["standard_ood_mean"]),
      [(p["held_out"], p["chosen"]) for p in sel["per_environment"]])
assert len(sel["per_environment"]) == 3 and sel["ood_mean"] > st["ood_mean"]
# the n per cell is the test split's size, the same for every method and row
n = st["n"]
assert all(M[m]["n"] == n for m in M) and all(r == n[0] for r in n)
print("weak-image regime OK")
PY
