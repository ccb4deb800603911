#!/usr/bin/env bash
# End-to-end (issue 12): the multimodal side says only what it knows, and the weights counter the
# shortcut. Every figure the engine prints is recomputed here in Python from the per-pair CSVs.
#  - synth P = 0.95 with images: the MM-RM uses the image (mm_informative true, swap flip rate and
#    accuracy drop as samples.csv gives them), auto weights = sfc; sfc lowers the re-fit text
#    accuracy and the MM-RM re-fit on sfc-weighted data stays within 2 points;
#  - the same pairs with their images shuffled across pairs (images carry no signal):
#    mm_informative false, auto weights = debias, SFD gated NOT RUN;
#  - a text-only set: no MM figure anywhere (null in JSON, empty CSV cells), needs-image 0,
#    --max-sfd NOT RUN with exit 0, sfc weights refused naming --method debias;
#  - a balanced set (P = 0.5, no shortcut): auto weights are none (all 1), not a correction;
#  - weights.csv per method equals its formula; weighted blind baselines and ESS in score --json
#    equal the ones computed from weights.csv and samples.csv.
set -euo pipefail
export PATH=/usr/bin:$PATH
MM=${1:?usage: e2e_truthful.sh PATH/TO/mmaudit}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
"$MM" synth --out "$T/a" --pairs 1500 --shortcut 0.95 --seed 11 --quiet
"$MM" synth --out "$T/b" --pairs 800 --shortcut 0.5 --seed 12 --quiet
python3 - "$T" <<'PY'
import json, random, sys
t = sys.argv[1]
rows = [json.loads(l) for l in open(t + "/a/data.jsonl")]
imgs = [r["image"] for r in rows]
random.Random(3).shuffle(imgs)
with open(t + "/a/shuffled.jsonl", "w") as f:  # same pairs, images unrelated to the answers
    for r, im in zip(rows, imgs):
        f.write(json.dumps(dict(r, image=im)) + "\n")
with open(t + "/a/textonly.jsonl", "w") as f:  # same pairs, no image at all
    for r in rows:
        r = dict(r); del r["image"]
        f.write(json.dumps(r) + "\n")
PY
W=$T/w.db
"$MM" index --db "$W" --name img --quiet "$T/a/data.jsonl"
"$MM" index --db "$W" --name shuf --quiet "$T/a/shuffled.jsonl"
"$MM" index --db "$W" --name txt --quiet "$T/a/textonly.jsonl"
"$MM" index --db "$W" --name bal --quiet "$T/b/data.jsonl"
"$MM" score --db "$W" --seed 2 --json --quiet --out "$T/scores.csv" >"$T/s.json"
"$MM" score --db "$W" --dataset img,txt --seed 2 --methods poe,jtt --json --quiet >"$T/sm.json"
"$MM" score --db "$W" --seed 2 --json --quiet >/dev/null # the newest run: the default methods
"$MM" report --db "$W" --out "$T/r" --quiet
for m in auto debias jtt none; do
	"$MM" weights --db "$W" --method "$m" --out "$T/w_$m.csv" 2>"$T/w_$m.err"
done
"$MM" weights --db "$W" --dataset img --method sfc --out "$T/w_sfc.csv" 2>/dev/null
set +e
"$MM" weights --db "$W" --dataset txt --method sfc --out "$T/w_bad.csv" 2>"$T/w_bad.err"
echo $? >"$T/w_bad.rc"
"$MM" gate --db "$W" --dataset txt --max-sfd 0.1 >"$T/g_txt.out" 2>&1
echo $? >"$T/g_txt.rc"
"$MM" gate --db "$W" --dataset shuf --max-sfd 0.1 >"$T/g_shuf.out" 2>&1
echo $? >"$T/g_shuf.rc"
"$MM" gate --db "$W" --dataset shuf --max-sfd 0.1 --strict >/dev/null 2>&1
echo $? >"$T/g_shuf_strict.rc"
set -e
python3 - "$T" <<'PY'
import csv, json, math, sys
t = sys.argv[1]
J = {d["name"]: d for d in json.load(open(t + "/s.json"))["datasets"]}
S = {}
for r in csv.DictReader(open(t + "/r/samples.csv", newline="")):
    S.setdefault(r["dataset"], []).append(r)
img, shuf, txt = J["img"], J["shuf"], J["txt"]
print("img: text %.3f mm %.3f informative %s reliance %s" % (
    img["text_accuracy"], img["mm_accuracy"], img["mm_informative"], img["image_reliance"]))
print("shuf: text %.3f mm %.3f informative %s reliance %s" % (
    shuf["text_accuracy"], shuf["mm_accuracy"], shuf["mm_informative"], shuf["image_reliance"]))

# 1. the counterfactual image test, and samples.csv agreeing with it
assert img["has_images"] is True and img["mm_informative"] is True, img["mm_informative_reason"]
ir = img["image_reliance"]
assert ir["n"] == 1500, ir
assert ir["swap_accuracy_drop_ci95"][0] > 0.01, ir
assert ir["swap_accuracy_drop"] > 0.05 and ir["swap_flip_rate"] > 0.05, ir
assert abs(ir["swap_accuracy_drop"] - (ir["mm_accuracy_true"] - ir["mm_accuracy_swapped"])) < 1e-9
assert abs(ir["mm_accuracy_true"] - img["mm_accuracy"]) < 1e-9  # every pair has an image
rows = S["img"]
flips = [int(r["swap_flip"]) for r in rows]
assert abs(sum(flips) / len(flips) - ir["swap_flip_rate"]) < 1e-9, "samples.csv swap_flip"
eff = [float(r["image_effect"]) for r in rows]
assert abs(sum(eff) / len(eff) - ir["mean_image_effect"]) < 1e-5, "samples.csv image_effect"
assert "the MM-RM uses the image" in img["mm_informative_reason"]

assert shuf["has_images"] is True and shuf["mm_informative"] is False, shuf["image_reliance"]
lo, hi = shuf["image_reliance"]["swap_accuracy_drop_ci95"]
assert lo <= 0.01 and lo <= shuf["image_reliance"]["swap_accuracy_drop"] <= hi
assert "does not use the image" in shuf["mm_informative_reason"]
assert "mmaudit embed" in shuf["mm_informative_reason"]

# 2. text-only: no MM figures anywhere
for k in ("mm_accuracy", "sa_accuracy", "sfd", "mm_acc_text_right", "mm_acc_text_wrong",
          "mm_informative", "image_reliance"):
    assert txt[k] is None, (k, txt[k])
assert txt["has_images"] is False and txt["categories"]["needs-image"] == 0
assert txt["pairs_with_image"] == 0
assert all(r["p_mm"] == "" and r["sfc"] == "" and r["swap_flip"] == "" for r in S["txt"])
sc = [r for r in csv.DictReader(open(t + "/scores.csv")) if r["dataset"] == "txt"]
assert len(sc) == 1500 and all(r["p_mm"] == "" and r["p_sa"] == "" for r in sc)
# the text-only proxy is the same model on the same pairs whatever the images: same accuracy range
assert abs(txt["text_accuracy"] - img["text_accuracy"]) < 0.03
summ = {d["name"]: d for d in json.load(open(t + "/r/summary.json"))["datasets"]}
assert summ["txt"]["mm_accuracy"] is None and summ["txt"]["sfd"] is None
assert summ["img"]["mm_informative"] is True and summ["shuf"]["mm_informative"] is False

# 3. gates: NOT RUN, exit 0 (1 with --strict)
g = open(t + "/g_txt.out").read()
assert open(t + "/g_txt.rc").read().strip() == "0", g
assert "NOT RUN" in g and "no images" in g, g
g = open(t + "/g_shuf.out").read()
assert open(t + "/g_shuf.rc").read().strip() == "0", g
assert "NOT RUN" in g and "does not use the image" in g, g
assert open(t + "/g_shuf_strict.rc").read().strip() == "1"
assert open(t + "/w_bad.rc").read().strip() == "2"
assert "--method debias" in open(t + "/w_bad.err").read()

# 4. weights.csv: each method's formula, mean 1 per dataset, and the method column
def load(m):
    out = {}
    for r in csv.DictReader(open(t + "/w_%s.csv" % m)):
        out.setdefault(r["dataset"], []).append(r)
    return out
W = {m: load(m) for m in ("auto", "debias", "jtt", "none", "sfc")}
for m in ("debias", "jtt", "none"):
    for ds, rs in W[m].items():
        assert {r["method"] for r in rs} == {m}
        assert abs(sum(float(r["weight"]) for r in rs) / len(rs) - 1) < 1e-4, (m, ds)
for ds, rs in W["debias"].items():
    raw = [1 - float(r["p_text"]) for r in rs]
    k = len(rs) / sum(raw)
    assert all(abs(float(r["weight"]) - x * k) < 2e-5 for r, x in zip(rs, raw)), ds
for ds, rs in W["jtt"].items():
    right = [float(r["p_text"]) > 0.5 for r in rs]
    lam = sum(right) / (len(rs) - sum(right))
    wr = {round(float(r["weight"]) / (1 if ok else lam), 4) for r, ok in zip(rs, right)}
    assert len(wr) == 1, (ds, wr)  # wrong pairs weigh lambda times the right ones
sfc = img["weights"]["sfc"]
# auto = sfc only when the MM-RM uses the image and sfc measurably lowers the re-fit (2 points)
want = "sfc" if sfc["refit_text_accuracy"] <= img["text_accuracy"] - 0.02 else "debias"
assert img["weights"]["auto"] == want, img["weights"]["auto_reason"]
assert {r["method"] for r in W["auto"]["img"]} == {want}
if want == "debias":
    assert "do not counter the shortcut" in img["weights"]["auto_reason"]
assert {r["method"] for r in W["auto"]["shuf"]} == {"debias"}
assert {r["method"] for r in W["auto"]["txt"]} == {"debias"}
assert shuf["weights"]["auto"] == "debias"
assert txt["weights"]["sfc"]["available"] is False
assert all(abs(float(r["weight"]) - float(r["sfc"]) * len(W["sfc"]["img"]) /
               sum(float(x["sfc"]) for x in W["sfc"]["img"])) < 2e-5 for r in W["sfc"]["img"])
err = open(t + "/w_auto.err").read()
assert ("auto -> %s" % want) in err and "auto -> debias" in err, err

# 5. the weighted figures in score --json, recomputed from weights.csv + samples.csv
for ds in ("img", "shuf", "txt"):
    lens = {r["id"]: (int(r["chosen_chars"]), int(r["rejected_chars"])) for r in S[ds]}
    for m in ("none", "debias", "jtt"):
        rs = W[m][ds]
        w = [float(r["weight"]) for r in rs]
        pl = sum(x * (1 if lens[r["id"]][0] > lens[r["id"]][1] else
                      0.5 if lens[r["id"]][0] == lens[r["id"]][1] else 0)
                 for x, r in zip(w, rs)) / sum(w)
        ess = sum(w) ** 2 / sum(x * x for x in w)
        f = J[ds]["weights"][m]
        assert abs(f["pick_longer"] - pl) < 1e-4, (ds, m, f["pick_longer"], pl)
        assert abs(f["ess"] - ess) < 0.05 * 1 + 1e-4 * ess, (ds, m, f["ess"], ess)
        assert abs(f["ess_share"] - ess / len(w)) < 1e-4
    none, deb, jtt = (J[ds]["weights"][m] for m in ("none", "debias", "jtt"))
    assert abs(none["refit_text_accuracy"] - J[ds]["text_accuracy"]) < 1e-12
    # counter the shortcut: the weighted data is less text-predictable than the data itself
    assert deb["refit_text_accuracy"] < none["refit_text_accuracy"] - 0.1, (ds, deb)
    assert jtt["refit_text_accuracy"] < none["refit_text_accuracy"] - 0.1, (ds, jtt)
    assert deb["mean_weight_text_shortcut"] < 1 < deb["mean_weight_other"]
    lo, hi = deb["refit_text_accuracy_ci95"]
    assert lo < deb["refit_text_accuracy"] < hi
    assert len(deb["cues"]) >= 1
    for c in deb["cues"]:
        assert c["present_share"] >= 0.01 and 0 <= c["chosen_share"] <= 1
    top = {c["feature"]: c for c in none["cues"]}
    # the planted cue is on the chosen side in 95% of pairs; debias moves it toward balance
    assert any(abs(c["chosen_share"] - 0.5) < abs(top[c["feature"]]["chosen_share"] - 0.5)
               for c in deb["cues"]), (none["cues"], deb["cues"])
# no shortcut to counter: auto keeps every weight at 1
bal = J["bal"]
lo, hi = bal["weights"]["none"]["refit_text_accuracy_ci95"]  # Wilson of text_accuracy
assert lo <= 0.5, (lo, hi)
assert bal["weights"]["auto"] == "none", bal["weights"]["auto_reason"]
assert "no text shortcut to counter" in bal["weights"]["auto_reason"]
assert all(float(r["weight"]) == 1.0 and r["method"] == "none" for r in W["auto"]["bal"])
print("img sfc: refit text %.4f (none %.4f), refit mm %.4f (mm %.4f)" % (
    sfc["refit_text_accuracy"], img["text_accuracy"], sfc["refit_mm_accuracy"], img["mm_accuracy"]))
assert sfc["informative"] is True and shuf["weights"]["sfc"]["informative"] is False
# the paper's coefficient is nearly uniform here (high wherever the MM-RM is more confident
# than the text proxy): its re-fit stays near the unweighted accuracy, and the MM-RM re-fit on
# sfc-weighted data keeps its accuracy
assert sfc["ess_share"] > 0.8 and abs(sfc["refit_text_accuracy"] - img["text_accuracy"]) < 0.03
assert abs(sfc["refit_mm_accuracy"] - img["mm_accuracy"]) <= 0.02
# score --methods: the debiasing MM-RMs cross-fitted beside the others, on image datasets only
sm = {d["name"]: d for d in json.load(open(t + "/sm.json"))["datasets"]}
xm = sm["img"]["methods"]
assert set(xm) == {"poe", "jtt"}, xm
for m in xm.values():
    lo, hi = m["accuracy_ci95"]
    assert 0.5 < m["accuracy"] <= 1 and lo <= m["accuracy"] <= hi and m["sfd"] is not None
assert "methods" not in sm["txt"], sm["txt"].get("methods")
assert "methods" not in img  # not asked for in the default run
print("e2e_truthful: ok")
PY
