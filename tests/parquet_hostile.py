#!/usr/bin/env python3
"""parquet_hostile.py GOOD.parquet NODICT.parquet OUTDIR - writes malformed and hostile variants of
DuckDB-written Parquet files, one per kind of bad offset, length or value, and prints
"NAME<TAB>EXPECTED" lines: `mmaudit index` must exit 2 with a message containing EXPECTED (the
location: the file name and "footer", "row group" or the page). The footer and page headers are
patched through a small Thrift compact walker that records where each field's value lies."""
import os, struct, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from parquet_hostile_lib import enc_uvar, footer, uvar, walk, zz  # noqa: E402


good_path, nodict_path, out = sys.argv[1:4]
os.makedirs(out, exist_ok=True)


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
