#!/usr/bin/env python3
"""parquet_v2pages.py IN.parquet OUT.parquet - rewrites every data page of a DuckDB-written file
(DuckDB writes only v1 data pages, even with PARQUET_VERSION V2) as a DATA_PAGE_V2 page: the
repetition and definition levels move out of the compressed block, uncompressed and without
their 4-byte lengths, and the values are compressed again (UNCOMPRESSED and GZIP files: Python's
zlib). Dictionary pages are copied; the footer's chunk offsets and sizes are patched. The values
are DuckDB's bytes, so DuckDB's reading of IN stays the reference for OUT."""
import struct, sys, zlib

sys.path.insert(0, __import__("os").path.dirname(__import__("os").path.abspath(__file__)))
from parquet_hostile_lib import enc_uvar, footer, uvar, walk, zz  # noqa: E402

src, dst = sys.argv[1:3]
data = open(src, "rb").read()
fstart, rec = footer(data)


def ival(b, pos):
    u, _ = uvar(b, pos)
    return (u >> 1) ^ -(u & 1)


def get(r, b, path, default=None):
    return ival(b, r[path][0]) if path in r else default


# schema -> (max_def, max_rep) per leaf, in order
n_el = 1 + max(k[1] for k in rec if len(k) == 3 and k[0] == 2)
leaves = []


def build(i, d, r, depth):
    rep = get(rec, data, (2, i, 3), 0)
    nch = get(rec, data, (2, i, 5), 0)
    if depth:
        d += rep != 0
        r += rep == 2
    i += 1
    if not nch:
        leaves.append((d, r))
        return i
    for _ in range(nch):
        i = build(i, d, r, depth + 1)
    return i


build(0, 0, 0, 0)
ngroups = 1 + max(k[1] for k in rec if len(k) >= 2 and k[0] == 4)
codec = get(rec, data, (4, 0, 1, 0, 3, 4))
if codec not in (0, 2):
    sys.exit(f"{src}: codec {codec}: only UNCOMPRESSED and GZIP are rewritten")


def rle_levels(b, bw, n):
    out, i = [], 0
    while len(out) < n:
        h, i = uvar(b, i)
        if h & 1:
            groups = h >> 1
            bits = int.from_bytes(b[i:i + groups * bw], "little")
            for k in range(groups * 8):
                out.append((bits >> (k * bw)) & ((1 << bw) - 1))
            i += groups * bw
        else:
            w = (bw + 7) // 8
            v = int.from_bytes(b[i:i + w], "little")
            i += w
            out.extend([v] * (h >> 1))
    return out[:n]


def fh(delta, t):
    return bytes([(delta << 4) | t])


def i32f(delta, v):
    return fh(delta, 5) + enc_uvar(zz(v))


def inflate(b):
    return zlib.decompress(b, 47)  # gzip or zlib header


def compress(b):
    if codec == 0:
        return b
    c = zlib.compressobj(6, zlib.DEFLATED, 31)
    return c.compress(b) + c.flush()


out = bytearray(b"PAR1")
patches = []  # (footer position, field path, new value)
for g in range(ngroups):
    for L, (maxd, maxr) in enumerate(leaves):
        base = (4, g, 1, L, 3)
        dpo = get(rec, data, base + (9,))
        dico = get(rec, data, base + (11,), -1)
        size = get(rec, data, base + (7,))
        start = dico if 0 < dico < dpo else dpo
        pos, new_start, new_data, usum = start, len(out), None, 0
        while pos < start + size:
            h = {}
            hend = walk(data, pos, (), h)
            ptype, usz, csz = get(h, data, (1,)), get(h, data, (2,)), get(h, data, (3,))
            body = data[hend:hend + csz]
            if ptype != 0:
                if new_data is None and ptype != 2:
                    new_data = len(out)
                out += data[pos:hend + csz]
                usum += hend - pos + usz
                pos = hend + csz
                continue
            if new_data is None:
                new_data = len(out)
            nv, enc = get(h, data, (5, 1)), get(h, data, (5, 2))
            u = body if codec == 0 else inflate(body)
            i = 0
            rep = dfl = b""
            if maxr:
                n = struct.unpack("<I", u[i:i + 4])[0]
                rep = u[i + 4:i + 4 + n]
                i += 4 + n
            if maxd:
                n = struct.unpack("<I", u[i:i + 4])[0]
                dfl = u[i + 4:i + 4 + n]
                i += 4 + n
            vals = u[i:]
            cv = compress(vals)
            defs = rle_levels(dfl, maxd.bit_length(), nv) if maxd else [0] * nv
            reps = rle_levels(rep, maxr.bit_length(), nv) if maxr else [0] * nv
            nulls = sum(1 for d in defs if d < maxd)
            rows = sum(1 for r in reps if r == 0)
            v2 = (i32f(1, nv) + i32f(1, nulls) + i32f(1, rows) + i32f(1, enc) +
                  i32f(1, len(dfl)) + i32f(1, len(rep)) + fh(1, 1 if codec else 2) + b"\x00")
            hdr = (i32f(1, 3) + i32f(1, len(rep) + len(dfl) + len(vals)) +
                   i32f(1, len(rep) + len(dfl) + len(cv)) + fh(5, 12) + v2 + b"\x00")
            out += hdr + rep + dfl + cv
            usum += len(hdr) + len(rep) + len(dfl) + len(vals)
            pos = hend + csz
        patches.append((base + (9,), new_data))
        if 0 < dico < dpo:
            patches.append((base + (11,), new_start))
        patches.append((base + (7,), len(out) - new_start))
        patches.append((base + (6,), usum))
        if (4, g, 1, L, 2) in rec:
            patches.append(((4, g, 1, L, 2), new_start))
foot = bytearray(data[fstart:len(data) - 8])
for path, v in sorted(patches, key=lambda p: rec[p[0]][0], reverse=True):
    s, e = rec[path]
    foot[s - fstart:e - fstart] = enc_uvar(zz(v))
out += foot + struct.pack("<I", len(foot)) + b"PAR1"
open(dst, "wb").write(out)
