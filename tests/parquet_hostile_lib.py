"""parquet_hostile_lib.py - a small Thrift compact walker over Parquet footers and page headers
for the test scripts: it records where each integer field's varint lies, so a test can patch it."""
import struct


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
