#!/usr/bin/env bash
# e2e_hostile.sh MMAUDIT - hostile inputs through `mmaudit index`, each with its documented exit
# code and error code (README "Limits"): zip-slip and absolute member names, symlink/hardlink/device
# members, a PNG header declaring 100000x100000, a truncated JPEG, a 50 MB single line, invalid
# UTF-8, NUL bytes, deeply nested JSON, a completion explosion and an archive whose headers declare
# a decompression bomb. Run in the normal and the ASan/UBSan build (any sanitizer report fails it).
# Nothing may be written outside the workspace: the test directory's listing is checked.
set -euo pipefail
export PATH=/usr/bin:$PATH
MM=$(realpath "${1:?usage: e2e_hostile.sh PATH/TO/mmaudit}")
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

python3 - "$T" <<'PY'
import io, os, struct, sys, tarfile, zipfile, zlib
t = sys.argv[1]
def chunk(k, d):
    return struct.pack(">I", len(d)) + k + d + struct.pack(">I", zlib.crc32(k + d))
def png(w, h, rows=None):
    raw = rows if rows is not None else b"".join(b"\0" + bytes([7 * x % 256, 9 * y % 256, 99] * 1) * 1
                                                 for y in range(h) for x in range(1)) 
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
good = png(1, 4, b"".join(b"\0" + bytes([10 * y, 20, 30]) for y in range(4)))
os.makedirs(t + "/in", exist_ok=True)
open(t + "/in/good.png", "wb").write(good)
# a PNG whose header declares 100000 x 100000 (10 gigapixels) with a tiny IDAT
open(t + "/in/huge.png", "wb").write(png(100000, 100000, b"\0" * 16))
# archives: zip-slip, absolute names, links and a device; and a header-declared bomb
def tar_add(tf, name, data=None, kind=tarfile.REGTYPE, link=""):
    i = tarfile.TarInfo(name)
    i.type = kind
    i.linkname = link
    if data is not None:
        i.size = len(data)
        tf.addfile(i, io.BytesIO(data))
    else:
        tf.addfile(i)
with tarfile.open(t + "/in/hostile.tar", "w", format=tarfile.GNU_FORMAT) as tf:
    tar_add(tf, "ok.png", good)
    tar_add(tf, "../../slip.png", good)
    tar_add(tf, "/abs/x.png", good)
    tar_add(tf, "link.png", kind=tarfile.SYMTYPE, link="/etc/passwd")
    tar_add(tf, "hard.png", kind=tarfile.LNKTYPE, link="ok.png")
    tar_add(tf, "dev.png", kind=tarfile.CHRTYPE)
with zipfile.ZipFile(t + "/in/slip.zip", "w") as z:
    z.writestr("ok.png", good)
    z.writestr("../evil.png", good)
    z.writestr("/abs/evil.png", good)
with tarfile.open(t + "/in/bomb.tar", "w", format=tarfile.GNU_FORMAT) as tf:
    tar_add(tf, "ok.png", good)
    i = tarfile.TarInfo("bomb.png")
    i.size = 100 << 30  # header only: the limit must trip before any data is read
    tf.addfile(i)
def rec(i, img, extra=""):
    return '{"id":"%s","prompt":"What is shown?","image":"%s","chosen":"A red square.","rejected":"A blue circle."%s}\n' % (i, img, extra)
with open(t + "/in/archive.jsonl", "w") as f:
    for i, m in enumerate(["ok.png", "../../slip.png", "abs/x.png", "link.png", "hard.png", "dev.png"]):
        f.write(rec("a%d" % i, m))
with open(t + "/in/zip.jsonl", "w") as f:
    for i, m in enumerate(["ok.png", "../evil.png", "abs/evil.png"]):
        f.write(rec("z%d" % i, m))
with open(t + "/in/bomb.jsonl", "w") as f:
    f.write(rec("b0", "ok.png"))
# records: one good line between each hostile one
with open(t + "/in/lines.jsonl", "wb") as f:
    g = lambda i: rec("g%d" % i, "good.png").encode()
    f.write(g(0))
    f.write(rec("huge", "huge.png").encode())                                          # line 2
    f.write(g(1))
    f.write(b'{"id":"long","prompt":"p","chosen":"' + b"x" * (50 << 20) + b'","rejected":"r"}\n')  # 4
    f.write(g(2))
    f.write(b'{"id":"utf","prompt":"caf\xc3\x28 \xff","chosen":"a","rejected":"b"}\n')  # 6
    f.write(g(3))
    f.write(b'{"id":"nul","prompt":"p\x00q","chosen":"a","rejected":"b"}\n')            # 8
    f.write(g(4))
    f.write(b'{"id":"esc","prompt":"p\\u0000q","chosen":"a","rejected":"b"}\n')          # 10
    f.write(g(5))
    f.write(b'{"id":"deep","prompt":"p","chosen":"a","rejected":"b","x":' + b"[" * 100000 + b"]" * 100000 + b"}\n")  # 12
    f.write(g(6))
    n = 1000
    f.write(('{"id":"many","prompt":"p","completions":{"response":[%s],"annotations":[%s]}}\n' % (
        ",".join('"answer %d"' % k for k in range(n)), ",".join(str(k) for k in range(n)))).encode())  # 14
    f.write(g(7))
    f.write(b"\x00\x00\x00\x00\n")                                                      # 16
    f.write(g(8))
PY
# a truncated JPEG, made with synth (its encoder) then cut in half
"$MM" synth --out "$T/jp" --pairs 1 --shortcut 0.5 --format jpg --size 64x64 --quiet
jpg=$(ls "$T"/jp/images/*.jpg | head -1)
head -c $(( $(stat -c %s "$jpg") / 2 )) "$jpg" >"$T/in/trunc.jpg"
printf '{"id":"t","prompt":"p","image":"trunc.jpg","chosen":"a","rejected":"b"}\n' >"$T/in/trunc.jsonl"
before=$(cd "$T" && find . -path ./w.db -prune -o -print | grep -v '^./w.db' | sort)

errors() { # errors FILE-SUFFIX -> "line code" rows of ingest_errors for that file
	python3 - "$T/w.db" "$1" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
for line, code, reason in db.execute(
        "SELECT line, code, reason FROM ingest_errors WHERE path LIKE ? ORDER BY line, id",
        ("%" + sys.argv[2],)):
    print(line, code, reason)
PY
}
expect() { # expect FILE LINE CODE TEXT: that error row exists
	errors "$1" | grep -F "$2 $3 " | grep -qF -- "$4" ||
		{ errors "$1" >&2; fail "$1: no error '$3' at line $2 mentioning '$4'"; }
}
pairs() { python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM pairs p JOIN datasets d ON d.id = p.dataset_id WHERE d.name = ?", (sys.argv[2],)).fetchone()[0])' "$T/w.db" "$1"; }
idx() { # idx EXPECTED-EXIT ARGS...
	local want=$1 rc=0
	shift
	"$MM" index --db "$T/w.db" "$@" >"$T/out" 2>"$T/err" || rc=$?
	[ "$rc" = "$want" ] || { cat "$T/err" >&2; fail "index $*: exit $rc, want $want"; }
	if grep -q "Sanitizer" "$T/err"; then cat "$T/err" >&2; fail "sanitizer report: index $*"; fi
}

# ---- hostile records (exit 0: bad records become ingest errors, good ones are kept) ----
s=$(date +%s)
idx 0 --name lines "$T/in/lines.jsonl"
[ $(( $(date +%s) - s )) -lt 60 ] || fail "hostile lines took over a minute"
[ "$(pairs lines)" = 9 ] || fail "lines: $(pairs lines) good pairs kept, want 9"
expect lines.jsonl 2 image-too-large "100000x100000"
expect lines.jsonl 4 line-too-long "longer than the 16777216-byte line limit"
expect lines.jsonl 6 invalid-utf8 "not valid UTF-8"
expect lines.jsonl 8 bad-json ""
expect lines.jsonl 10 bad-json "\\u0000"
expect lines.jsonl 12 bad-json "nested too deeply"
expect lines.jsonl 14 too-many-pairs "1000 completions"
expect lines.jsonl 16 bad-json ""
[ "$(errors lines.jsonl | wc -l)" = 8 ] || { errors lines.jsonl >&2; fail "lines: want 8 errors"; }
# --strict: the first hostile record fails the whole file with exit 2 and stores nothing
idx 2 --name strict --strict "$T/in/lines.jsonl"
grep -q "lines.jsonl:2: \[image-too-large\]" "$T/err" || fail "strict: $(cat "$T/err")"
[ "$(pairs strict)" = 0 ] || fail "strict stored pairs"

# ---- truncated JPEG ----
idx 0 --name trunc "$T/in/trunc.jsonl"
expect trunc.jsonl 1 corrupt-image "truncated"

# ---- archives: unsafe members are refused by name; the regular member is read ----
idx 0 --name tar --images "$T/in/hostile.tar" "$T/in/archive.jsonl"
[ "$(pairs tar)" = 1 ] || fail "tar: want only ok.png's pair, got $(pairs tar)"
expect archive.jsonl 2 unsafe-archive-member "'../../slip.png' is named with a '..' segment"
expect archive.jsonl 3 unsafe-archive-member "'/abs/x.png' is named with an absolute path"
expect archive.jsonl 4 unsafe-archive-member "'link.png' is a symbolic link"
expect archive.jsonl 5 unsafe-archive-member "'hard.png' is a hard link"
expect archive.jsonl 6 unsafe-archive-member "'dev.png' is a device file"
idx 0 --name zip --images "$T/in/slip.zip" "$T/in/zip.jsonl"
[ "$(pairs zip)" = 1 ] || fail "zip: want 1 pair, got $(pairs zip)"
expect zip.jsonl 2 unsafe-archive-member "'../evil.png'"
expect zip.jsonl 3 unsafe-archive-member "'/abs/evil.png'"
# a header-declared 100 GiB member: the archive is refused (exit 2), nothing of the file stored
idx 2 --name bomb --images "$T/in/bomb.tar" "$T/in/bomb.jsonl"
grep -q "bomb.png" "$T/err" && grep -q "decompression bomb" "$T/err" || fail "bomb: $(cat "$T/err")"
[ "$(pairs bomb)" = 0 ] || fail "bomb stored pairs"

after=$(cd "$T" && find . -path ./w.db -prune -o -print | grep -v '^./w.db' | grep -v '^./out$\|^./err$' | sort)
[ "$before" = "$after" ] || { diff <(echo "$before") <(echo "$after") >&2; fail "files appeared outside the workspace"; }
[ ! -e /slip.png ] && [ ! -e "$T/../evil.png" ] || fail "an archive member was written out"
out=$("$MM" info --db "$T/w.db" --check) && [ "$out" = ok ] || fail "integrity: $out"
echo "ok: hostile records, images and archives refused with their codes; nothing written outside"
