#!/usr/bin/env bash
# End-to-end (issue 18): exported models, sharded score, merge, --stdin, through the binary.
#  - train on a workspace, score the whole data and two shards of it with the model, merge the
#    shards: per-pair scores within 1e-6 and the same categories as the one-machine run with the
#    same model, the dataset metrics the same; report, gate and weights work on the merged one;
#  - merge refuses a shard scored with another model and a shard given twice;
#  - a model file with one byte flipped is refused (exit 2, checksum);
#  - a kill -9 during merge leaves OUT.db as it was (or merged whole);
#  - score --model --stdin: one JSON line per record, in order, errors in place.
set -euo pipefail
export PATH=/usr/bin:$PATH
MM=${1:?usage: e2e_scaleout.sh PATH/TO/mmaudit}
MM=$(cd "$(dirname "$MM")" && pwd)/$(basename "$MM")
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
"$MM" synth --out "$T/a" --pairs 1600 --shortcut 0.9 --seed 31 --quiet
python3 - "$T" <<'PY'
import sys
t = sys.argv[1]
rows = open(t + "/a/data.jsonl").read().splitlines()
open(t + "/a/s0.jsonl", "w").write("\n".join(rows[0::2]) + "\n")
open(t + "/a/s1.jsonl", "w").write("\n".join(rows[1::2]) + "\n")
PY
"$MM" index --db "$T/full.db" --name a --quiet "$T/a/data.jsonl"
"$MM" index --db "$T/s0.db" --name a --quiet "$T/a/s0.jsonl"
"$MM" index --db "$T/s1.db" --name a --quiet "$T/a/s1.jsonl"
"$MM" train --db "$T/full.db" --out "$T/m.mma" --train-sample 1000 --seed 4 --quiet 2>"$T/train.err"
grep -q "fold models trained on" "$T/train.err"
for w in full s0 s1; do "$MM" score --db "$T/$w.db" --model "$T/m.mma" --quiet >/dev/null; done
"$MM" merge --db "$T/m.db" "$T/s0.db" "$T/s1.db" 2>"$T/merge.err"
grep -q "1600 scored pairs" "$T/merge.err"
"$MM" report --db "$T/m.db" --out "$T/r" --quiet
"$MM" weights --db "$T/m.db" --out "$T/w.csv" 2>/dev/null
"$MM" gate --db "$T/m.db" --max-text-accuracy 0.99 >/dev/null
python3 - "$T" <<'PY'
import csv, json, sqlite3, sys
t = sys.argv[1]
def load(db):
    c = sqlite3.connect(db)
    run = c.execute("SELECT id FROM runs WHERE kind = 'score' AND status = 'done' ORDER BY id DESC"
                    " LIMIT 1").fetchone()[0]
    rows = {r[0]: r[1:] for r in c.execute(
        "SELECT p.ext_id, s.p_text, s.p_mm, s.p_sa, s.sfc, s.category FROM pair_scores s JOIN pairs p"
        " ON p.id = s.pair_id WHERE s.run_id = ?", (run,))}
    m = json.loads(c.execute("SELECT metrics FROM run_datasets WHERE run_id = ?", (run,)).fetchone()[0])
    return rows, m, json.loads(c.execute("SELECT options FROM runs WHERE id = ?", (run,)).fetchone()[0])
full, mf, of = load(t + "/full.db")
merged, mm, om = load(t + "/m.db")
assert len(full) == len(merged) == 1600 and set(full) == set(merged)
worst = max(abs(a - b) for k in full for a, b in zip(full[k][:4], merged[k][:4]))
assert worst < 1e-6, worst
assert all(full[k][4] == merged[k][4] for k in full), "categories differ"
assert om["model_sha256"] == of["model_sha256"] and om["merged"] is True
for k in ("pairs", "text_accuracy", "mm_accuracy", "sa_accuracy", "shortcut_rate", "sfd",
          "categories", "n_text_right", "n_text_wrong", "chosen_longer_rate", "has_images"):
    assert mf[k] == mm[k], (k, mf[k], mm[k])
for k, v in mf["blind"].items():
    assert abs(v - mm["blind"][k]) < 1e-12, k
for m in ("none", "debias", "jtt", "sfc"):
    a, b = mf["weights"][m], mm["weights"][m]
    assert abs(a["pick_longer"] - b["pick_longer"]) < 1e-9 and abs(a["ess"] - b["ess"]) < 1e-6, m
    assert b["refit_text_accuracy"] is None or m == "none"  # a fixed model re-fits nothing
assert mm["mm_informative"] == mf["mm_informative"]
s = json.load(open(t + "/r/summary.json"))["datasets"][0]
assert s["pairs"] == 1600 and abs(s["text_accuracy"] - mf["text_accuracy"]) < 1e-12
w = list(csv.DictReader(open(t + "/w.csv")))
assert len(w) == 1600 and abs(sum(float(r["weight"]) for r in w) / 1600 - 1) < 1e-3
print("scale-out: merged = one machine (worst per-pair difference %.2g)" % worst)
PY
# audit --model: the one-command audit of the data with the cluster's model scores as score
# --model did, and its report does not print the re-fit it did not run as a figure (it printed
# "falls from X% to 0.0%" from the null re-fit accuracy)
"$MM" audit --out "$T/am" --name a --model "$T/m.mma" --quiet "$T/a/data.jsonl" 2>"$T/am.err" ||
	{ echo "audit --model failed"; cat "$T/am.err"; exit 1; }
"$MM" report --db "$T/m.db" --out "$T/rm" --quiet
python3 - "$T" <<'PY'
import csv, html, re, sqlite3, sys
t = sys.argv[1]
c = sqlite3.connect(t + "/full.db")
run = c.execute("SELECT id FROM runs WHERE kind = 'score' AND status = 'done' ORDER BY id DESC"
                " LIMIT 1").fetchone()[0]
ref = {r[0]: r[1:] for r in c.execute(
    "SELECT p.ext_id, s.p_text, s.p_mm, s.category FROM pair_scores s JOIN pairs p"
    " ON p.id = s.pair_id WHERE s.run_id = ?", (run,))}
got = {r["id"]: r for r in csv.DictReader(open(t + "/am/samples.csv"))}
assert set(got) == set(ref) and len(ref) == 1600
worst = max(max(abs(float(got[k]["p_text"]) - ref[k][0]), abs(float(got[k]["p_mm"]) - ref[k][1]))
            for k in ref)
assert worst < 1e-6, worst
assert all(got[k]["category"] == ref[k][2] for k in ref), "categories differ"
for rep in ("am", "rm"):
    text = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", open(t + "/" + rep + "/report.html").read())))
    assert "to 0.0% accuracy" not in text, rep
    assert "is not measured here: the scores come from a model file" in text, rep
print("audit --model = score --model (worst per-pair difference %.2g)" % worst)
PY
# another model's shard, a shard twice, a corrupt model
"$MM" train --db "$T/full.db" --out "$T/m2.mma" --train-sample 1000 --seed 5 --quiet 2>/dev/null
cp "$T/s1.db" "$T/s1b.db"
"$MM" score --db "$T/s1b.db" --model "$T/m2.mma" --quiet >/dev/null
rc=0; "$MM" merge --db "$T/x.db" "$T/s0.db" "$T/s1b.db" 2>"$T/x.err" || rc=$?
[ $rc -eq 2 ] && grep -q "scored with model" "$T/x.err" || { echo "merge of two models: $rc"; cat "$T/x.err"; exit 1; }
[ ! -e "$T/x.db" ] || { echo "a refused merge left x.db"; exit 1; }
rc=0; "$MM" merge --db "$T/x.db" "$T/s0.db" "$T/s0.db" 2>"$T/x.err" || rc=$?
[ $rc -eq 2 ] && grep -q "repeats pair" "$T/x.err" || { echo "merge of a shard twice: $rc"; cat "$T/x.err"; exit 1; }
python3 - "$T" <<'PY'
import sys
t = sys.argv[1]
b = bytearray(open(t + "/m.mma", "rb").read())
b[len(b) // 2] ^= 0x01
open(t + "/bad.mma", "wb").write(b)
PY
rc=0; "$MM" score --db "$T/s0.db" --model "$T/bad.mma" --quiet >/dev/null 2>"$T/bad.err" || rc=$?
[ $rc -eq 2 ] && grep -q "checksum" "$T/bad.err" || { echo "corrupt model: $rc"; cat "$T/bad.err"; exit 1; }
# kill -9 during merge: OUT is as it was, or merged whole
"$MM" synth --out "$T/big" --pairs 40000 --shortcut 0.9 --seed 3 --text-only --quiet
"$MM" index --db "$T/big.db" --name big --quiet "$T/big/data.jsonl"
"$MM" score --db "$T/big.db" --model "$T/m.mma" --quiet >/dev/null 2>&1 || true
cp "$T/m.db" "$T/keep.db"
before=$(sha256sum "$T/m.db" | cut -d' ' -f1)
for d in 0.05 0.15 0.3 0.6; do
	cp "$T/keep.db" "$T/m.db"
	"$MM" merge --db "$T/m.db" "$T/big.db" >/dev/null 2>&1 &
	pid=$!
	sleep $d
	kill -9 $pid 2>/dev/null || true
	wait $pid 2>/dev/null || true
	now=$(sha256sum "$T/m.db" | cut -d' ' -f1)
	if [ "$now" != "$before" ]; then # merged whole: every pair of both
		n=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from pairs').fetchone()[0])" "$T/m.db")
		[ "$n" = 41600 ] || { echo "kill after $d s left a partial OUT ($n pairs)"; exit 1; }
	fi
done
echo "kill -9 during merge: OUT intact"
# --stdin: in order, one line per record, errors in place, blank lines skipped
(head -3 "$T/a/data.jsonl"; echo '{"prompt": "no answers"}'; echo; sed -n 4,6p "$T/a/data.jsonl") |
	(cd "$T/a" && "$MM" score --model "$T/m.mma" --stdin) >"$T/stdin.out"
python3 - "$T" <<'PY'
import json, sys
t = sys.argv[1]
out = [json.loads(l) for l in open(t + "/stdin.out")]
ids = [json.loads(l)["id"] for l in open(t + "/a/data.jsonl")][:6]
assert [o["line"] for o in out] == [1, 2, 3, 4, 6, 7, 8], [o["line"] for o in out]
assert [o.get("id") for o in out] == ids[:3] + [None] + ids[3:6]
assert out[3]["errors"][0]["code"] == "missing-field" and out[3]["pairs"] == []
assert all(0 < o["p_text"] < 1 and o["category"] for o in out if "id" in o)
# the same pairs scored in a workspace with the same model: the same scores
import sqlite3
c = sqlite3.connect(t + "/full.db")
run = c.execute("SELECT id FROM runs WHERE kind = 'score' AND status = 'done' ORDER BY id DESC LIMIT 1").fetchone()[0]
ref = {r[0]: r[1:] for r in c.execute("SELECT p.ext_id, s.p_text, s.p_mm, s.category FROM pair_scores s"
                                      " JOIN pairs p ON p.id = s.pair_id WHERE s.run_id = ?", (run,))}
for o in out:
    if "id" in o:
        a = ref[o["id"]]
        assert abs(a[0] - o["p_text"]) < 1e-6 and abs(a[1] - o["p_mm"]) < 1e-6 and a[2] == o["category"], (o, a)
print("score --stdin OK")
PY
# --stdin's in-process path (text-only records) gives what a workspace scored with the model gives
"$MM" synth --out "$T/txt" --pairs 3000 --shortcut 0.8 --seed 8 --text-only --quiet
"$MM" index --db "$T/txt.db" --name t --quiet "$T/txt/data.jsonl"
"$MM" score --db "$T/txt.db" --model "$T/m.mma" --out "$T/txt.csv" --quiet >/dev/null
"$MM" score --model "$T/m.mma" --stdin <"$T/txt/data.jsonl" >"$T/txt.out"
python3 - "$T" <<'PY'
import csv, json, sys
t = sys.argv[1]
ws = {r["id"]: r for r in csv.DictReader(open(t + "/txt.csv"))}
out = [json.loads(l) for l in open(t + "/txt.out")]
assert len(out) == 3000 and [o["line"] for o in out] == list(range(1, 3001))
for o in out:
    r = ws[o["id"]]
    assert abs(float(r["p_text"]) - o["p_text"]) < 1e-6 and r["category"] == o["category"], (o, r)
    assert o["p_mm"] is None and r["p_mm"] == ""
print("score --stdin in-process path = workspace path on 3,000 text-only records")
PY
# --stdin's pipeline (batches of 20,000 lines on the pool, the flat record scanner): the same bytes
# whatever the threads, across batch boundaries, with odd records (escapes, bad lines) between
"$MM" synth --out "$T/big" --pairs 45000 --shortcut 0.8 --seed 9 --text-only --quiet
python3 - "$T" <<'PY'
import sys
t = sys.argv[1]
odd = ['{"prompt":"p\\u00e9","chosen":"a \\"q\\" \\ud83d\\ude00","rejected":"b","id":7,"n":1.5}',
       '{"prompt":"p","chosen":"a","rejected":"a"}', '', 'not json', '{"prompt":"p","chosen":"a\\u0000"}',
       '{"prompt":"p","chosen":"x","rejected":"y","meta":{"k":[1,2]}}', '{"prompt":"p","chosen":"x\xff"}']
with open(t + "/big/data.jsonl", "rb") as f, open(t + "/mix.jsonl", "wb") as o:
    for i, line in enumerate(f):
        o.write(line)
        if i % 997 == 0:
            o.write(odd[(i // 997) % len(odd)].encode("utf-8", "surrogateescape") + b"\n")
PY
for th in 1 2 3; do
	"$MM" score --model "$T/m.mma" --stdin --threads $th <"$T/mix.jsonl" >"$T/mix$th.out"
done
cmp "$T/mix1.out" "$T/mix2.out" && cmp "$T/mix1.out" "$T/mix3.out"
n=$(wc -l <"$T/mix.jsonl")
[ "$(wc -l <"$T/mix1.out")" = "$n" ] || { echo "one output line per input line expected"; exit 1; }
echo "score --stdin: the same bytes with 1, 2 and 3 threads ($n lines)"
# index --shard I/N of one big file: three shard workspaces scored with one model and merged equal
# the whole file indexed and scored on one machine (pairs, errors, per-file counts, per-pair
# scores and categories, and the duplicate groups and label conflicts, found across shards)
"$MM" synth --out "$T/b" --pairs 600 --shortcut 0.9 --images 200 --size 32x32 --seed 5 --quiet
python3 - "$T" <<'PY'
import json, sys
t = sys.argv[1]
rows = [json.loads(l) for l in open(t + "/b/data.jsonl")]
extra = []
for k, src in enumerate([rows[3], rows[10], rows[57]]):  # copies under new ids: duplicates
    d = dict(src); d["id"] = "dup-%d" % k; d["prompt"] = src["prompt"]; extra.append(d)
c = dict(rows[20]); c["id"] = "conf-0"  # the same pair, the other answer preferred
c["chosen"], c["rejected"] = rows[20]["rejected"], rows[20]["chosen"]
extra.append(c)
# a text-only copy whose image reference differs from the original's: it may land elsewhere
d = dict(rows[30]); d["id"] = "textdup"; d.pop("image", None); extra.append(d)
with open(t + "/b/all.jsonl", "w") as f:
    for r in rows[:300] + extra + rows[300:]:
        f.write(json.dumps(r) + "\n")
    f.write("not json at all\n")
PY
"$MM" index --db "$T/bfull.db" --name b --quiet "$T/b/all.jsonl"
for s in 0 1 2; do
	"$MM" index --db "$T/b$s.db" --name b --shard $s/3 "$T/b/all.jsonl" 2>"$T/b$s.err"
	grep -q "belong to other shards" "$T/b$s.err"
done
rc=0; "$MM" index --db "$T/bx.db" --shard 3/3 "$T/b/all.jsonl" 2>"$T/bx.err" || rc=$?
[ $rc -eq 2 ] && grep -q -- "--shard '3/3'" "$T/bx.err" || { echo "--shard 3/3: $rc"; cat "$T/bx.err"; exit 1; }
"$MM" train --db "$T/bfull.db" --out "$T/bm.mma" --train-sample 400 --seed 2 --quiet 2>/dev/null
for w in bfull b0 b1 b2; do "$MM" score --db "$T/$w.db" --model "$T/bm.mma" --quiet >/dev/null; done
"$MM" merge --db "$T/bm.db" "$T/b0.db" "$T/b1.db" "$T/b2.db" 2>/dev/null
python3 - "$T" <<'PY'
import sqlite3, sys
t = sys.argv[1]
def load(db):
    c = sqlite3.connect(db)
    run = c.execute("SELECT id FROM runs WHERE kind = 'score' AND status = 'done' ORDER BY id DESC"
                    " LIMIT 1").fetchone()[0]
    scores = {r[0]: r[1:] for r in c.execute(
        "SELECT p.ext_id, s.p_text, s.p_mm, s.category FROM pair_scores s JOIN pairs p"
        " ON p.id = s.pair_id WHERE s.run_id = ?", (run,))}
    dup = c.execute("SELECT count(*), count(DISTINCT dup_group), sum(conflict) FROM pairs"
                    " WHERE dup_group IS NOT NULL").fetchone()
    errs = sorted(c.execute("SELECT line, reason FROM ingest_errors"))
    files = c.execute("SELECT sum(records), sum(pairs), sum(errors) FROM source_files").fetchone()
    return scores, dup, errs, files
full, fdup, ferr, ff = load(t + "/bfull.db")
parts = [load(t + "/b%d.db" % s) for s in range(3)]
merged, mdup, merr, mf = load(t + "/bm.db")
sizes = [len(p[0]) for p in parts]
assert sum(sizes) == len(full) == len(merged) == 605 and min(sizes) > 120, sizes
assert set(merged) == set(full)
worst = max(abs(a - b) for k in full for a, b in zip(full[k][:2], merged[k][:2]) if a is not None)
assert worst < 1e-6 and all(full[k][2] == merged[k][2] for k in full), worst
assert fdup[0] >= 8 and fdup[2] == 2, fdup   # 4 groups: 3 copies + the conflicting pair
assert mdup == fdup, (mdup, fdup)
assert merr == ferr and len(ferr) == 1, (merr, ferr)
assert mf == ff == (606, 605, 1), (mf, ff)
print("index --shard 0..2/3: %s pairs per shard, merged = one machine (worst %.2g), "
      "duplicates %s and errors as one machine" % (sizes, worst, fdup))
PY
