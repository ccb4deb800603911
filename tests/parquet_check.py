#!/usr/bin/env python3
"""parquet_check.py MMAUDIT FIXTURES WORKDIR - indexes every DuckDB-written fixture
(tests/parquet_fixtures.mjs) and compares pair counts, texts and image hashes with DuckDB's own
reading of the same files (FIXTURES/expected.json): the rows that must become pairs, their prompt,
chosen and rejected texts, and the SHA-256 of their image bytes; every other row must be an ingest
error whose reason names its row group and row. Exits 1 on the first mismatch."""
import json, os, sqlite3, subprocess, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from parquet_hostile_lib import footer, uvar, walk  # noqa: E402

mm, fx, work = sys.argv[1:4]
exp = json.load(open(os.path.join(fx, "expected.json")))
db = os.path.join(work, "pq.db")
for suffix in ("", "-wal", "-shm"):
    if os.path.exists(db + suffix):
        os.remove(db + suffix)


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def blank(s):
    return s is None or not s.strip()


def page_types(path):
    """{page type: count} over every column chunk of the file (0 v1 data, 2 dictionary, 3 v2)."""
    data = open(path, "rb").read()
    _, rec = footer(data)

    def iv(r, k):
        u = uvar(data, r[k][0])[0]
        return (u >> 1) ^ -(u & 1)

    types = {}
    for k in rec:
        if len(k) == 6 and k[0] == 4 and k[2] == 1 and k[4] == 3 and k[5] == 9:
            start = iv(rec, k)
            if k[:5] + (11,) in rec and 0 < iv(rec, k[:5] + (11,)) < start:
                start = iv(rec, k[:5] + (11,))
            pos = start
            while pos < start + iv(rec, k[:5] + (7,)):
                h = {}
                end = walk(data, pos, (), h)
                t = iv(h, (1,))
                types[t] = types.get(t, 0) + 1
                pos = end + iv(h, (3,))
    return types


encodings, codecs, versions, pages = set(), set(), set(), {}
for name, f in sorted(exp["files"].items()):
    ds = name[: -len(".parquet")]
    r = subprocess.run([mm, "index", "--db", db, "--name", ds, "--quiet", os.path.join(fx, name)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"{name}: index exit {r.returncode}: {r.stderr}")
    encodings |= set(f["encodings"])
    codecs.add(f["codec"])
    versions.add(f["version"])
    pt = page_types(os.path.join(fx, name))
    for t, n in pt.items():
        pages[t] = pages.get(t, 0) + n
    if f.get("page_v2") and pt.get(0):
        fail(f"{name}: {pt[0]} v1 data pages in a file meant to have v2 pages only")
    if f["row_groups"] < 3:
        fail(f"{name}: only {f['row_groups']} row groups")
    want = {}
    for row in f["rows"]:
        c, rj = row["chosen"], row["rejected"]
        if blank(c) or blank(rj) or c.strip() == rj.strip():
            continue
        if row["image_sha256"] is None and row["image_path"]:
            continue  # path only, file absent: missing-image
        want[row["row"]] = row
    con = sqlite3.connect(db)
    got = {
        line: (ext, p, c, rj, sha)
        for line, ext, p, c, rj, sha in con.execute(
            "SELECT p.line, p.ext_id, p.prompt, p.chosen, p.rejected, i.sha256 FROM pairs p"
            " JOIN datasets d ON d.id = p.dataset_id LEFT JOIN images i ON i.id = p.image_id"
            " WHERE d.name = ?", (ds,))
    }
    errs = con.execute("SELECT e.line, e.reason FROM ingest_errors e JOIN datasets d ON"
                       " d.id = e.dataset_id WHERE d.name = ?", (ds,)).fetchall()
    con.close()
    if len(got) != len(want):
        fail(f"{name}: {len(got)} pairs, DuckDB's reading gives {len(want)}")
    for line, row in want.items():
        g = got.get(line)
        if g is None:
            fail(f"{name}: row {line} is not a pair")
        ext, p, c, rj, sha = g
        if row["id"] is not None and ext != row["id"]:
            fail(f"{name}: row {line}: id {ext!r} != {row['id']!r}")
        if (p, c, rj) != (row["prompt"], row["chosen"], row["rejected"]):
            fail(f"{name}: row {line}: texts differ: {(p, c, rj)!r} != "
                 f"{(row['prompt'], row['chosen'], row['rejected'])!r}")
        if sha != row["image_sha256"]:
            fail(f"{name}: row {line}: image {sha} != {row['image_sha256']}")
    if len(errs) != len(f["rows"]) - len(want):
        fail(f"{name}: {len(errs)} ingest errors for {len(f['rows']) - len(want)} rejected rows")
    for line, reason in errs:
        if not reason.startswith("row group ") or line in want:
            fail(f"{name}: error at {line} without a row location: {reason}")
    info = json.loads(subprocess.run([mm, "info", "--db", db, "--json"], capture_output=True,
                                     text=True, check=True).stdout)
    n_info = {d["name"]: d["pairs"] for d in info["datasets"]}.get(ds)
    if n_info != len(want):
        fail(f"{name}: info --json says {n_info} pairs, DuckDB's reading gives {len(want)}")
    print(f"ok {name}: {len(want)} pairs, {len(errs)} errors, {f['row_groups']} row groups,"
          f" {f['codec']} {f['version']} {','.join(sorted(f['encodings']))}, pages"
          f" {'v2' if f.get('page_v2') else 'v1'}")
for need in ("PLAIN", "RLE_DICTIONARY", "PLAIN_DICTIONARY", "DELTA_LENGTH_BYTE_ARRAY",
             "DELTA_BINARY_PACKED"):
    if need not in encodings:
        fail(f"no fixture uses {need}")
if codecs != {"uncompressed", "snappy", "gzip", "zstd"} or versions != {"V1", "V2"}:
    fail(f"codecs {codecs} / versions {versions} incomplete")
if not pages.get(0) or not pages.get(3) or not pages.get(2):
    fail(f"page types {pages}: need v1 data, v2 data and dictionary pages")
print(f"pages read: {pages.get(0)} v1 data, {pages.get(3)} v2 data, {pages.get(2)} dictionary")
ds_pairs = {d["name"]: d["pairs"] for d in info["datasets"]}
print("info --json pairs:", ds_pairs)
print("all fixtures match DuckDB")
