#!/usr/bin/env bash
# e2e_integrity.sh MMAUDIT - issue 15 end to end on fixtures written here with Python's standard
# library: `mmaudit audit` on two datasets, then every integrity figure of summary.json checked
# against an independent count made here (duplicates, conflicts, position bias with the exact
# binomial p-value, swap pairs and consistency, position conflicts, ingest errors by code), the
# near-duplicate images (a noisy re-encode and a half-size copy of one picture in the other
# dataset are found, distinct pictures are not), records' own "conflict" / "dup_group" fields
# unchanged in pairs.meta, samples.csv and weights.csv joined back to the input by
# source_file + line and by id, one example card per duplicate group, slices given with --by and
# proposed without it, the Integrity section and next steps in report.html.
set -euo pipefail
MM=${1:?usage: e2e_integrity.sh MMAUDIT}
W=$(mktemp -d /tmp/mmaudit-e2e-integrity-XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$W"' EXIT

python3 - "$W" <<'PY'
import json, math, random, struct, sys, zlib
W = sys.argv[1]
rnd = random.Random(15)

def png(path, w, h, px):  # px(x, y) -> (r, g, b)
    raw = b"".join(b"\0" + b"".join(bytes(px(x, y)) for x in range(w)) for y in range(h))
    ch = lambda t, b: struct.pack(">I", len(b)) + t + b + struct.pack(">I", zlib.crc32(t + b))
    open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + ch(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                           + ch(b"IDAT", zlib.compress(raw, 9)) + ch(b"IEND", b""))

def picture(seed):  # textured: a gradient and two discs placed by the seed
    cx, cy = (0.25 + 0.5 * (seed % 2)), (0.3 + 0.4 * (seed // 2 % 2))
    def f(u, v):
        d, e = math.hypot(u - cx, v - cy), math.hypot(u - (1 - cx), v - cy / 2)
        base = 255 * (0.5 + 0.5 * math.sin(9 * u * (seed + 1) + 5 * v)) if seed >= 2 else 255 * (u if seed == 0 else v)
        lum = 20 if d < 0.15 else 235 if e < 0.1 else base
        return (int(min(255, lum)), int(min(255, 0.7 * lum + 40)), int(255 - min(255, lum)))
    return f

import os
for d in ("A", "B"):
    os.makedirs(f"{W}/{d}", exist_ok=True)
pa, pb, pc = picture(0), picture(3), picture(5)
png(f"{W}/A/a.png", 120, 90, lambda x, y: pa(x / 120, y / 90))
png(f"{W}/A/b.png", 120, 90, lambda x, y: pb(x / 120, y / 90))
noise = random.Random(7)
def reenc(x, y):  # the same picture with re-encoding noise
    return tuple(max(0, min(255, c + noise.randint(-4, 4))) for c in pa(x / 120, y / 90))
png(f"{W}/B/a_reenc.png", 120, 90, reenc)
png(f"{W}/B/a_small.png", 60, 45, lambda x, y: pa((2 * x + 1) / 120, (2 * y + 1) / 90))
png(f"{W}/B/c.png", 120, 90, lambda x, y: pc(x / 120, y / 90))

words = "the a result shows image colour region object scene left right".split()
def answer(n):
    return " ".join(rnd.choice(words) for _ in range(n))

def write(path, rows, broken=()):
    with open(path, "w") as f:
        for i, r in enumerate(rows):
            f.write(json.dumps(r) + "\n")
            if i in broken:
                f.write('{"id": "broken", "prompt": \n')

# A: 'web' pairs carry the shortcut (chosen long with "detailed"), 'book' pairs do not;
# every 4th pair is repeated with the answers shown in the other order (same verdict), every 10th
# also again with the opposite verdict in the same slot (a position conflict); some records carry
# their own "conflict" / "dup_group" fields.
rows, k = [], 0
for i in range(480):
    src = "web" if i % 2 == 0 else "book"
    if src == "web":
        c, r = "detailed " + answer(30), answer(6)
    else:
        c, r = (answer(12), answer(14)) if i % 4 == 1 else (answer(14), answer(12))
    img = "a.png" if i % 3 == 0 else "b.png"
    base = {"prompt": f"question {i}", "image": img, "source": src}
    rec = dict(base, id=f"a{i}", chosen=c, rejected=r, shown_first="chosen" if i % 2 else "rejected")
    if i % 16 == 0:
        rec["conflict"] = "reviewer: maybe"
        rec["dup_group"] = i
    rows.append(rec)
    if i % 4 == 0:  # judged again, answers swapped, same verdict
        rows.append(dict(base, id=f"a{i}s", chosen=c, rejected=r,
                         shown_first="rejected" if i % 2 else "chosen"))
    if i % 10 == 0:  # and again: the slot that won above wins, so the verdict flips
        rows.append(dict(base, id=f"a{i}x", chosen=r, rejected=c, shown_first=rec["shown_first"],
                         **({"dup_group": {"user": True}} if i % 20 == 0 else {})))
write(f"{W}/A/d.jsonl", rows, broken={5, 50})
rows_b = []
for i in range(90):
    img = ["a_reenc.png", "a_small.png", "c.png"][i % 3]
    rows_b.append({"id": f"b{i}", "prompt": f"other {i}", "image": img, "chosen": answer(10),
                   "rejected": answer(10), "source": "web" if i % 2 else "book"})
rows_b.append({"id": "empty", "prompt": "p", "image": "c.png", "chosen": "", "rejected": "x"})
write(f"{W}/B/d.jsonl", rows_b)
PY

"$MM" audit --out "$W/out" --seed 1 --threads 1 --quiet --position-field shown_first --by source \
	A="$W/A/d.jsonl" B="$W/B/d.jsonl" >"$W/audit.out" 2>&1 || { cat "$W/audit.out"; exit 1; }
"$MM" info --json --db "$W/out/workspace.db" >"$W/info.json"
# without --by: the report proposes the fields that split the shortcut rate most
"$MM" report --db "$W/out/workspace.db" --out "$W/proposed" --quiet --position-field shown_first
# --by is repeatable (order kept); bad option values are usage errors (exit 2)
"$MM" report --db "$W/out/workspace.db" --out "$W/two" --quiet --by shown_first --by source \
	--near-dup-distance 0
for bad in "--near-dup-distance 17" "--by a\"b" "--position-field x\"y"; do
	rc=0
	eval "\"\$MM\" report --db \"\$W/out/workspace.db\" --out \"\$W/bad\" --quiet $bad" 2>/dev/null || rc=$?
	[ "$rc" = 2 ] || { echo "FAIL: report $bad exited $rc, expected 2"; exit 1; }
done

python3 - "$W" <<'PY'
import collections, csv, json, math, re, sqlite3, sys
W = sys.argv[1]
norm = lambda s: re.sub(r"[ \t\n\r\f\v]+", " ", "".join(c.lower() if "A" <= c <= "Z" else c for c in s)).strip()
s = json.load(open(f"{W}/out/summary.json"))
ds = {d["name"]: d for d in s["datasets"]}
info = {d["name"]: d for d in json.load(open(f"{W}/info.json"))["datasets"]}

def binom_p(k, n):
    lo = min(k, n - k)
    t = sum(math.comb(n, j) for j in range(lo + 1))
    p = 2 * t / 2 ** n - (math.comb(n, lo) / 2 ** n if 2 * lo == n else 0)
    return min(1.0, p)

def expect(path, images):
    codes, kept = collections.Counter(), []
    for line, l in enumerate(open(path), 1):
        try:
            x = json.loads(l)
        except ValueError:
            codes["bad-json"] += 1
            continue
        if not x["chosen"].strip() or not x["rejected"].strip():
            codes["empty-field"] += 1
            continue
        kept.append((line, x))
    groups = collections.defaultdict(list)
    for line, x in kept:
        c, r = norm(x["chosen"]), norm(x["rejected"])
        groups[(norm(x["prompt"]), images[x["image"]], min(c, r), max(c, r))].append(x)
    g2 = [g for g in groups.values() if len(g) > 1]
    conf = [g for g in g2 if len({norm(x["chosen"]) for x in g}) == 2]
    pos = [x for _, x in kept if x.get("shown_first") in ("chosen", "rejected")]
    first = sum(x["shown_first"] == "chosen" for x in pos)
    swap = cons = posc = 0
    for g in g2:
        firsts = {norm(x["chosen"] if x["shown_first"] == "chosen" else x["rejected"]) for x in g if "shown_first" in x}
        if len(firsts) == 2:
            swap += 1
            cons += len({norm(x["chosen"]) for x in g}) == 1
            posc += len({x["shown_first"] for x in g}) == 1
    return dict(codes=dict(codes), pairs=len(kept), dup_groups=len(g2), dup_pairs=sum(len(g) - 1 for g in g2),
                conflict_groups=len(conf), conflict_pairs=sum(len(g) for g in conf), position_pairs=len(pos),
                first=first, p=binom_p(first, len(pos)) if pos else None, swap=swap, cons=cons, posc=posc,
                kept=kept)

# image identity = content (the workspace stores each distinct file once)
import hashlib
img = lambda d: {n: hashlib.sha256(open(f"{W}/{d}/{n}", "rb").read()).hexdigest() for n in
                 ("a.png", "b.png", "a_reenc.png", "a_small.png", "c.png") if __import__("os").path.exists(f"{W}/{d}/{n}")}
exp = {"A": expect(f"{W}/A/d.jsonl", img("A")), "B": expect(f"{W}/B/d.jsonl", img("B"))}
bad = 0
def check(what, got, want):
    global bad
    ok = got == want if not isinstance(want, float) else abs(got - want) < 1e-9
    print(("ok   " if ok else "FAIL ") + f"{what}: {got!r} (expected {want!r})")
    bad += not ok

for name in ("A", "B"):
    e, i = exp[name], ds[name]["integrity"]
    check(f"{name} errors_by_code", i["errors_by_code"], e["codes"])
    for k in ("dup_groups", "dup_pairs", "conflict_groups", "conflict_pairs", "position_pairs"):
        check(f"{name} {k}", i[k], e[k])
    check(f"{name} dups = info", i["dup_pairs"], info[name]["duplicates"])
    check(f"{name} conflicts = info", i["conflict_groups"], info[name]["conflicts"])
    if e["position_pairs"]:
        check(f"{name} first_position_win_rate", i["first_position_win_rate"], e["first"] / e["position_pairs"])
        check(f"{name} first_position_p_value", round(i["first_position_p_value"], 9), round(e["p"], 9))
        check(f"{name} swap_pairs", i["swap_pairs"], e["swap"])
        check(f"{name} swap_consistency", i["swap_consistency"], e["cons"] / e["swap"])
        check(f"{name} position_conflicts", i["position_conflicts"], e["posc"])
    else:
        check(f"{name} no position", (i["first_position_win_rate"], i["swap_pairs"]), (None, 0))
ea = exp["A"]
print(f"A: {ea['pairs']} pairs, {ea['dup_groups']} dup groups, {ea['conflict_groups']} conflicts, "
      f"first wins {ea['first']}/{ea['position_pairs']}, swap {ea['cons']}/{ea['swap']} consistent, "
      f"{ea['posc']} position conflicts")
check("A examples per code", [len(v) for v in ds["A"]["integrity"]["error_examples"].values()], [2])
assert ds["A"]["integrity"]["error_examples"]["bad-json"][0].endswith("/A/d.jsonl:7"), ds["A"]["integrity"]["error_examples"]

# near-duplicate images: a ~ a_reenc, a ~ a_small across; a_reenc ~ a_small within B; nothing else
rows = list(csv.DictReader(open(f"{W}/out/near_duplicates.csv", newline="")))
base = lambda p: p.rsplit("/", 1)[-1]
found = sorted((r["dataset_a"], base(r["source_a"]), r["dataset_b"], base(r["source_b"]), r["scope"]) for r in rows)
check("near-duplicate pairs", found, sorted([("A", "a.png", "B", "a_reenc.png", "across"),
                                            ("A", "a.png", "B", "a_small.png", "across"),
                                            ("B", "a_reenc.png", "B", "a_small.png", "within")]))
nd = ds["A"]["integrity"]["near_duplicate_images"]
check("A near counts", (nd["within_pairs"], nd["across_pairs"], nd["images_shared_across"]), (0, 2, 1))
nd = ds["B"]["integrity"]["near_duplicate_images"]
check("B near counts", (nd["within_pairs"], nd["across_pairs"], nd["images_shared_across"]), (1, 2, 2))

# the records' own fields, unchanged in pairs.meta; dedup's flags in columns
db = sqlite3.connect(f"{W}/out/workspace.db")
meta = {i: json.loads(m) if m else {} for i, m in db.execute("SELECT ext_id, meta FROM pairs")}
for _, x in ea["kept"]:
    for k in ("conflict", "dup_group"):
        if k in x:
            check(f"meta {x['id']}.{k}", meta[x["id"]].get(k), x[k])
        elif k in meta[x["id"]]:
            check(f"meta {x['id']} has no {k}", meta[x["id"]][k], None)

# samples.csv / weights.csv join back to the input by source_file + line and by id
lines = {}
for name in ("A", "B"):
    for n, l in enumerate(open(f"{W}/{name}/d.jsonl"), 1):
        lines[(f"{W}/{name}/d.jsonl", n)] = l
cols = db.execute("SELECT ext_id, dup_group, conflict FROM pairs").fetchall()
flags = {i: (g or "", str(c)) for i, g, c in cols}
for fname in ("samples.csv", "weights.csv"):
    rows = list(csv.DictReader(open(f"{W}/out/{fname}", newline="")))
    h = list(rows[0].keys())
    tail = h[-4:]
    check(f"{fname} last columns", tail, ["dup_group", "conflict", "source_file", "line"])
    joined = 0
    for r in rows:
        rec = json.loads(lines[(r["source_file"], int(r["line"]))])
        joined += rec["id"] == r["id"] and flags[r["id"]] == (r["dup_group"], r["conflict"])
    check(f"{fname} rows joined by source_file+line and id", joined, len(rows))

# report.html: Integrity above the metrics, in the nav with its count; one card per group
html = open(f"{W}/out/report.html").read()
assert html.index('id="integrity"') < html.index('id="metrics"')
assert re.search(r'href="#integrity">Data integrity \(\d+ findings\)', html)
assert "Next steps" in html and "conflicting labels" in html
sec = html[html.index('id="examples"'):]
ids = re.findall(r'<article class="card" id="pair-(\d+)"', sec)
grp = dict(db.execute("SELECT id, coalesce(dup_group, 'p' || id) FROM pairs"))
lists = sec.split("<h3>")[1:]
for l in lists:
    g = [grp[int(i)] for i in re.findall(r'<article class="card" id="pair-(\d+)"', l)]
    check("cards are distinct pairs", len(g), len(set(g)))
assert "both answer orders" in html, "no group marker"
steps = [x["kind"] for x in s["verdict"]["next_steps"]]
check("next steps name the conflicts and shared images", "conflicts" in steps and "shared-images" in steps, True)

# slices: --by source (given), and proposed without --by
sl = ds["A"]["slices"]["source"]
vals = {x["value"]: x for x in sl}
check("slices source values", sorted(vals), ["book", "web"])
check("slices sum to the scored pairs", sum(x["n"] for x in sl), ds["A"]["scored_pairs"])
print(f"A slices: web shortcut {vals['web']['shortcut_rate']:.3f} (n {vals['web']['n']}), "
      f"book {vals['book']['shortcut_rate']:.3f} (n {vals['book']['n']})")
check("web carries the shortcut", vals["web"]["shortcut_rate"] > vals["book"]["shortcut_rate"] + 0.2, True)
check("sorted by shortcut rate", sl[0]["value"], "web")
scores = list(csv.DictReader(open(f"{W}/out/samples.csv", newline="")))
src = {x["id"]: x.get("source") for _, x in ea["kept"]}
web = [r for r in scores if r["dataset"] == "A" and src.get(r["id"]) == "web"]
check("web n from samples.csv", len(web), vals["web"]["n"])
check("web shortcut count from samples.csv", sum(r["category"] == "text-shortcut" for r in web),
      round(vals["web"]["shortcut_rate"] * vals["web"]["n"]))
p = {d["name"]: d for d in json.load(open(f"{W}/proposed/summary.json"))["datasets"]}
prop = [x for x in p["A"]["slices_fields"] if x["proposed"]]
print("proposed fields for A:", [(x["field"], round(x["spread"], 3)) for x in prop])
check("source proposed first", prop[0]["field"] if prop else None, "source")
assert "Slices: where the shortcut lives" in open(f"{W}/proposed/report.html").read()
two = {d["name"]: d for d in json.load(open(f"{W}/two/summary.json"))["datasets"]}
check("--by twice, in order", list(two["A"]["slices"]), ["shown_first", "source"])
check("--by: not proposed", [x["proposed"] for x in two["A"]["slices_fields"]], [False, False])
nd0 = two["A"]["integrity"]["near_duplicate_images"]
zero = sum(r["scope"] == "across" and r["distance"] == "0" for r in
           csv.DictReader(open(f"{W}/out/near_duplicates.csv", newline="")))
check("--near-dup-distance 0 keeps the pairs at distance 0", (nd0["max_distance"], nd0["across_pairs"]),
      (0, zero))
print(f"{bad} problems")
sys.exit(1 if bad else 0)
PY
echo "e2e_integrity: ok"
