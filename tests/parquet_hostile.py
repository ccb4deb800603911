#!/usr/bin/env python3
"""parquet_hostile.py GOOD.parquet NODICT.parquet OUTDIR - writes malformed and hostile variants of
DuckDB-written Parquet files, one per kind of bad offset, length or value, and prints
"NAME<TAB>EXPECTED" lines: `mmaudit index` must exit 2 with a message containing EXPECTED (the
location: the file name and "footer", "row group" or the page). The footer and page headers are
patched through a small Thrift compact walker that records where each field's value lies."""
import os, struct, sys

good_path, nodict_path, out = sys.argv[1:4]
os.makedirs(out, exist_ok=True)


def uvar(b, i):
    v = s = 0
    while True:
        x = b[i]
        i += 1
        v |= (x & 0x7F) << s
        s += 7
        if not x & 0x80:
            return v, i


def enc_uvar(v):
    o = bytearray()
    while True:
        x = v & 0x7F
        v >>= 7
        if v:
            o.append(x | 0x80)
        else:
            o.append(x)
            return bytes(o)


def zz(v):
    return (v << 1) ^ (v >> 63)


def walk(b, i, path, rec):
    """Walks one struct at b[i:], recording rec[path + (field id,)] = (start, end) of int values."""
    last = 0
    while True:
        h = b[i]
        i += 1
        t = h & 0x0F
        if t == 0:
            return i
        d = h >> 4
        if d:
            fid = last + d
        else:
            u, i = uvar(b, i)
            fid = (u >> 1) ^ -(u & 1)
        last = fid
        i = value(b, i, t, path + (fid,), rec)


def value(b, i, t, path, rec):
    if t in (1, 2):
        return i
    if t == 3:
        return i + 1
    if t in (4, 5, 6):
        s = i
        _, i = uvar(b, i)
        rec[path] = (s, i)
        return i
    if t == 7:
        return i + 8
    if t == 8:
        n, i = uvar(b, i)
        return i + n
    if t in (9, 10):
        h = b[i]
        i += 1
        n, et = h >> 4, h & 0x0F
        if n == 15:
            n, i = uvar(b, i)
        for k in range(n):
            i = value(b, i, et if et not in (1, 2) else 3, path + (k,), rec)
        return i
    if t == 12:
        return walk(b, i, path, rec)
    raise ValueError(f"type {t}")


def footer(data):
    flen = struct.unpack("<I", data[-8:-4])[0]
    start = len(data) - 8 - flen
    rec = {}
    walk(data, start, (), rec)
    return start, rec


def patch_footer(data, path, newval):
    """data with the footer field at path set to newval (zigzag varint), trailer length fixed."""
    start, rec = footer(data)
    s, e = rec[path]
    flen = struct.unpack("<I", data[-8:-4])[0]
    nb = enc_uvar(zz(newval))
    data = data[:s] + nb + data[e:]
    flen += len(nb) - (e - s)
    return data[:-8] + struct.pack("<I", flen) + b"PAR1"


def patch_page(data, off, path, newval):
    """data with page header field path at off set to newval; when the header grows, the
    page's compressed size shrinks by as much, so the chunk still ends where it did."""
    rec = {}
    walk(data, off, (), rec)
    s, e = rec[path]
    nb = enc_uvar(zz(newval))
    grew = len(nb) - (e - s)
    data = data[:s] + nb + data[e:]
    if path != (3,) and grew:
        rec = {}
        walk(data, off, (), rec)
        cs, ce = rec[(3,)]
        u, _ = uvar(data, cs)
        data = data[:cs] + enc_uvar(zz((u >> 1) - grew)) + data[ce:]
    return data


good = open(good_path, "rb").read()
nodict = open(nodict_path, "rb").read()
_, grec = footer(good)
_, nrec = footer(nodict)
# FileMetaData: 3 num_rows, 4 row_groups; RowGroup: 1 columns, 3 num_rows; ColumnChunk: 3
# meta_data; ColumnMetaData: 4 codec, 7 total_compressed_size, 9 data_page_offset, 11 dictionary
C0 = (4, 0, 1, 0, 3)
n_off = nodict[nrec[C0 + (9,)][0]:]
data_off, _ = uvar(nodict, nrec[C0 + (9,)][0])
data_off = (data_off >> 1) ^ -(data_off & 1)
base = os.path.basename

cases = []


def case(name, data, expect):
    p = os.path.join(out, name + ".parquet")
    open(p, "wb").write(data)
    cases.append((p, expect))


case("truncated", good[: len(good) // 2], "PAR1")
case("bad_magic", b"PAQ1" + good[4:], "not a Parquet file")
case("bad_tail", good[:-4] + b"PAQ1", "not a Parquet file")
case("footer_len_huge", good[:-8] + struct.pack("<I", 0x7FFFFFF0) + b"PAR1", "footer length")
case("footer_len_small", good[:-8] + struct.pack("<I", 7) + b"PAR1", "footer")
flen = struct.unpack("<I", good[-8:-4])[0]
case("footer_garbage", good[: len(good) - 8 - flen] + b"\xff" * flen + good[-8:], "footer")
case("chunk_offset_past_end", patch_footer(nodict, C0 + (9,), len(nodict) * 3), "row group 0, column")
case("chunk_offset_negative", patch_footer(nodict, C0 + (9,), -5), "row group 0, column")
case("chunk_size_past_end", patch_footer(nodict, C0 + (7,), 1 << 40), "row group 0, column")
case("rows_mismatch", patch_footer(good, (4, 0, 3), 1 << 20), "footer")
big = patch_footer(patch_footer(good, (4, 0, 3), 1 << 20), (3,), 0)
_, brec = footer(big)
ngroups = len({k[1] for k in brec if len(k) == 3 and k[0] == 4 and k[2] == 3})
total = sum(((uvar(big, brec[(4, g, 3)][0])[0]) >> 1) for g in range(ngroups))
case("rows_past_column", patch_footer(big, (3,), total), "ends at row")
case("codec_unsupported", patch_footer(nodict, C0 + (4,), 4), "BROTLI")
# page headers of the first column (no dictionary page in NODICT): 2 uncompressed size,
# 3 compressed size, 5 data_page_header (1 num_values, 2 encoding): DuckDB writes v1 data pages
case("page_csize_past_chunk", patch_page(nodict, data_off, (3,), 0x7FFFFFFF), "runs past the end of the column chunk")
case("page_usize_huge", patch_page(nodict, data_off, (2,), 1 << 30), "page limit")
case("page_values_huge", patch_page(nodict, data_off, (5, 1), 1 << 30), "values, over the limit")
case("page_encoding_unsupported", patch_page(nodict, data_off, (5, 2), 9), "not supported")
case("page_header_garbage", nodict[:data_off] + b"\xff" * 24 + nodict[data_off + 24:], "page")
rec = {}
end = walk(nodict, data_off, (), rec)
case("page_data_garbage", nodict[:end] + b"\x5a" * 64 + nodict[end + 64:], "row group 0, column")
for p, e in cases:
    print(f"{p}\t{e}")
