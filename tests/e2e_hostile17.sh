#!/usr/bin/env bash
# e2e_hostile17.sh MMAUDIT - issue 17's classes, each with more cases than the issue names:
#   2 silent loss: corrupt/truncated compressed input is an error of that file (exit 2, nothing
#     kept); records after a JSON array's ']' are read; audit never merges two inputs whose
#     derived names are alike
#   3 inputs that are not regular files: pipes read once (hash of what was read), devices, FIFOs
#     and directories refused without blocking, as index input, --policy and image path
#   4 writes: symlinks at output paths are replaced, never followed; stale temps of dead runs
#     removed; a report whose one file cannot be written replaces none; '..' image paths confined
#   5 other programs' SQLite files refused untouched; read-only commands never write
#   6 two index runs creating one workspace both succeed
#   7 names and messages: non-UTF-8 and escape sequences in names, commas in names, bidi in the
#     report, CSV formula prefixes, policy files that are not text, ratings that overflow or are hex
#   8 exit 2 (naming the path and what it is) for wrong-kind --out/--db/--policy
# Run in the normal and the ASan/UBSan build (any sanitizer report fails it).
set -euo pipefail
export PATH=/usr/bin:$PATH
MM=$(realpath "${1:?usage: e2e_hostile17.sh PATH/TO/mmaudit}")
T=$(mktemp -d)
trap 'kill -9 $(jobs -p) 2>/dev/null || true; rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
cd "$T"

# rc WANT CMD...: runs CMD with a 20 s bound, stderr in $T/err; fails unless it exits WANT
rc() {
	local want=$1 got=0
	shift
	timeout 20 "$@" >"$T/out" 2>"$T/err" || got=$?
	[ "$got" = 124 ] && fail "timed out (blocked?): $*"
	[ "$got" = "$want" ] || fail "exit $got, want $want: $* -- $(head -c 600 "$T/err")"
	if grep -q "runtime error\|AddressSanitizer\|LeakSanitizer" "$T/err"; then
		fail "sanitizer report: $*: $(cat "$T/err")"
	fi
	return 0
}
has() { grep -qF -- "$1" "$T/err" || fail "stderr lacks '$1': $(head -c 600 "$T/err")"; }
q() { sqlite3 "$1" "$2"; }

"$MM" synth --out syn --pairs 5000 --shortcut 0.8 --seed 3 --images 50 --size 16x16 --quiet
N=5000

# ---- class 2: compressed input ------------------------------------------------------------------
python3 - <<'PY'
import gzip, random, zlib, struct
raw = open("syn/data.jsonl", "rb").read()
gz = gzip.compress(raw, 6)
open("syn/ok.jsonl.gz", "wb").write(gz)
rnd = random.Random(5)
for k in range(3):  # one flipped byte inside the deflate data, three places
    b = bytearray(gz)
    i = rnd.randrange(20, len(gz) - 20)
    b[i] ^= 0x10
    open("syn/flip%d.jsonl.gz" % k, "wb").write(bytes(b))
b = bytearray(gz); b[-8] ^= 1; open("syn/crc.jsonl.gz", "wb").write(bytes(b))     # CRC-32 trailer
b = bytearray(gz); b[-1] ^= 1; open("syn/isize.jsonl.gz", "wb").write(bytes(b))   # length trailer
open("syn/cut.jsonl.gz", "wb").write(gz[: len(gz) // 2])
open("syn/notrailer.jsonl.gz", "wb").write(gz[:-8])
open("syn/garbage.jsonl.gz", "wb").write(gz + b"PK\x03\x04 not gzip")
half = raw.index(b"\n", len(raw) // 2) + 1
open("syn/two.jsonl.gz", "wb").write(gzip.compress(raw[:half]) + gzip.compress(raw[half:]))
lines = raw.decode().splitlines()
# arrays: a second array, then JSONL lines, then a bad line, all after the first ']'
open("syn/arrays.json", "w").write("[" + ",\n".join(lines[:10]) + "]\n[" + ",".join(lines[10:20]) +
                                   "]\n" + "\n".join(lines[20:30]) + "\n")
open("syn/arrjunk.json", "w").write("[" + ",\n".join(lines[:5]) + "] trailing junk\n" + lines[5] + "\n")
PY
for z in zst bz2 xz; do
	case $z in zst) zstd -q -c syn/data.jsonl >syn/full.$z ;; bz2) bzip2 -c syn/data.jsonl >syn/full.$z ;;
	xz) xz -c syn/data.jsonl >syn/full.$z ;; esac
	head -c $(($(stat -c %s syn/full.$z) / 2)) syn/full.$z >syn/cut.jsonl.$z
done
rc 0 "$MM" index --quiet --db gz.db --images syn --name ok syn/ok.jsonl.gz
[ "$(q gz.db 'SELECT count(*) FROM pairs')" = $N ] || fail "good .gz: not $N pairs"
for f in flip0 flip1 flip2 crc isize cut notrailer garbage; do
	rc 2 "$MM" index --quiet --db gz.db --images syn --name "$f" "syn/$f.jsonl.gz"
	has "syn/$f.jsonl.gz"
	[ "$(q gz.db "SELECT count(*) FROM pairs p JOIN datasets d ON d.id = p.dataset_id WHERE d.name = '$f'")" = 0 ] ||
		fail "$f.jsonl.gz: records kept from a corrupt file"
	[ "$(q gz.db "SELECT count(*) FROM source_files WHERE path LIKE '%$f.jsonl.gz'")" = 0 ] ||
		fail "$f.jsonl.gz: recorded as ingested"
done
for z in zst bz2 xz; do
	rc 2 "$MM" index --quiet --db gz.db --images syn --name "cut$z" "syn/cut.jsonl.$z"
	has "cut.jsonl.$z"
	[ "$(q gz.db "SELECT count(*) FROM source_files WHERE path LIKE '%cut.jsonl.$z'")" = 0 ] ||
		fail "truncated .$z recorded"
done
rc 0 "$MM" index --quiet --db gz.db --images syn --name two syn/two.jsonl.gz
[ "$(q gz.db "SELECT pairs FROM source_files WHERE path LIKE '%two.jsonl.gz'")" = $N ] ||
	fail "multi-member .gz: not every member read"
rc 0 "$MM" index --quiet --db arr.db --images syn --name arrays syn/arrays.json
[ "$(q arr.db 'SELECT count(*) FROM pairs')" = 30 ] || fail "records after an array's ']' were dropped"
rc 0 "$MM" index --db arr.db --images syn --name junk syn/arrjunk.json
[ "$(q arr.db "SELECT count(*) FROM pairs p JOIN datasets d ON d.id = p.dataset_id WHERE d.name = 'junk'")" = 6 ] ||
	fail "array + junk: the good records around the junk were not all kept"
[ "$(q arr.db "SELECT line FROM ingest_errors WHERE path LIKE '%arrjunk.json'")" = 5 ] ||
	fail "array + junk: the junk after ']' is not reported at its line"
echo "ok: class 2 compressed input and arrays"

# audit: same-named files in same-named folders stay two datasets, also with --quiet
mkdir -p a/x b/x
head -n 100 syn/data.jsonl >a/x/d.jsonl
sed -n '101,250p' syn/data.jsonl >b/x/d.jsonl
rc 0 "$MM" audit --quiet --out au --images syn --no-crossdist --threads 1 a/x/d.jsonl b/x/d.jsonl
[ "$(q au/workspace.db 'SELECT count(*) FROM datasets')" = 2 ] || fail "audit merged two same-named folders"
[ "$(q au/workspace.db 'SELECT count(*) FROM pairs')" = 250 ] || fail "audit kept not all pairs of two same-named folders"
python3 - <<'PY' || fail "audit: summary.json does not list both datasets"
import json
names = sorted(d["name"] for d in json.load(open("au/summary.json"))["datasets"])
assert len(names) == 2 and names[0] != names[1], names
PY
echo "ok: class 2 audit keeps same-named inputs apart"

# ---- class 1 (the stb path): PNM and BMP holding fewer pixel bytes than declared ------------------
python3 - <<'PY'
import struct
d = "short"
import os
os.makedirs(d, exist_ok=True)
def pnm(kind, w, h, maxv, body):
    return b"P%d\n# c\n%d %d\n%d\n" % (kind, w, h, maxv) + body
px6 = bytes((7 * i) % 256 for i in range(8 * 8 * 3))
open(d + "/p6.ppm", "wb").write(pnm(6, 8, 8, 255, px6))
open(d + "/p6s.ppm", "wb").write(pnm(6, 8, 8, 255, px6[:100]))
open(d + "/p5.pgm", "wb").write(pnm(5, 8, 8, 255, px6[:64]))
open(d + "/p5s.pgm", "wb").write(pnm(5, 8, 8, 255, px6[:63]))
open(d + "/p5w.pgm", "wb").write(pnm(5, 8, 8, 65535, px6[:64]))  # 16-bit samples: needs 128
def bmp(w, h, rows):
    stride = (w * 3 + 3) // 4 * 4
    data = b"".join(bytes((r * 3 + c) % 256 for c in range(w * 3)) + b"\0" * (stride - w * 3) for r in range(h))
    data = data[: rows * stride]
    hdr = struct.pack("<2sIHHI", b"BM", 54 + len(data), 0, 0, 54)
    dib = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(data), 2835, 2835, 0, 0)
    return hdr + dib + data
open(d + "/ok.bmp", "wb").write(bmp(8, 8, 8))
open(d + "/short.bmp", "wb").write(bmp(8, 8, 3))
with open(d + "/d.jsonl", "w") as f:
    for i, name in enumerate(["p6.ppm", "p6s.ppm", "p5.pgm", "p5s.pgm", "p5w.pgm", "ok.bmp", "short.bmp"]):
        f.write('{"id":"%s","prompt":"p%d","image":"%s","chosen":"a","rejected":"b"}\n' % (name, i, name))
PY
rc 0 "$MM" index --quiet --db short.db --name s short/d.jsonl
[ "$(q short.db 'SELECT group_concat(ext_id) FROM (SELECT ext_id FROM pairs ORDER BY ext_id)')" = "ok.bmp,p5.pgm,p6.ppm" ] ||
	fail "short PNM/BMP: kept $(q short.db 'SELECT group_concat(ext_id) FROM pairs'); errors: $(q short.db 'SELECT line, reason FROM ingest_errors')"
[ "$(q short.db "SELECT count(*) FROM ingest_errors WHERE code = 'corrupt-image' AND reason LIKE '%fewer pixel bytes%'")" = 4 ] ||
	fail "short PNM/BMP not reported as truncated: $(q short.db 'SELECT line, reason FROM ingest_errors')"
echo "ok: class 1 (stb path) short PNM/BMP refused"

# ---- class 3: not regular files -----------------------------------------------------------------
head -n 200 syn/data.jsonl >syn/small.jsonl
sha=$(sha256sum syn/small.jsonl | cut -d' ' -f1)
cat syn/small.jsonl | rc 0 "$MM" index --quiet --db st.db --images syn --name s /dev/stdin
[ "$(q st.db 'SELECT count(*) FROM pairs')" = 200 ] || fail "piped /dev/stdin: records not ingested"
[ "$(q st.db 'SELECT sha256 FROM source_files')" = "$sha" ] || fail "piped /dev/stdin: recorded hash is not the hash of what was read"
gzip -c syn/small.jsonl | rc 0 "$MM" index --quiet --db st2.db --images syn --name s /dev/stdin
rm -f fifo && mkfifo fifo
rc 2 "$MM" index --db st.db fifo
has "'fifo' is a FIFO"
(cat syn/small.jsonl >fifo) &
rc 0 "$MM" index --quiet --db st3.db --images syn --name f fifo
wait
[ "$(q st3.db 'SELECT count(*) FROM pairs')" = 200 ] || fail "FIFO with a writer: not ingested"
for dev in /dev/zero /dev/null /dev/urandom; do
	rc 2 "$MM" index --db st.db "$dev"
	has "'$dev' is a character device"
done
rc 2 "$MM" index --db st.db /dev/stdin </dev/zero
has "character device"
mkdir -p emptydir
rc 2 "$MM" index --db st.db emptydir
rc 2 "$MM" index --db st.db /dev/stdin </dev/null
# --policy
for p in /dev/zero /dev/urandom emptydir; do
	rc 2 "$MM" gate --db st.db --policy "$p"
	has "$p"
done
rc 2 "$MM" gate --db st.db --policy fifo # no writer: nothing read, no rules, no blocking
# --images and embeddings files that are not folders or regular files
rc 2 "$MM" index --db st.db --images fifo syn/small.jsonl
has "'fifo' is a FIFO"
rc 2 "$MM" index --db st.db --images /dev/zero syn/small.jsonl
has "character device"
rc 2 "$MM" embed --db st.db --image-embeddings /dev/zero
has "/dev/zero"
rc 2 "$MM" embed --db st.db --text-embeddings fifo
has "'fifo' is a FIFO"
# image paths that are not regular files: a record error each, never a block
rm -f syn/images/fifo.png && mkfifo syn/images/fifo.png && mkdir -p syn/images/dir.png
printf '%s\n' '{"id":"f","prompt":"p","image":"fifo.png","chosen":"a","rejected":"b"}' \
	'{"id":"d","prompt":"p","image":"dir.png","chosen":"a","rejected":"b"}' \
	'{"id":"z","prompt":"p","image":"/dev/zero","chosen":"a","rejected":"b"}' >syn/images/odd.jsonl
rc 0 "$MM" index --quiet --db img.db --name odd syn/images/odd.jsonl
[ "$(q img.db "SELECT count(*) FROM ingest_errors WHERE code = 'missing-image'")" = 3 ] ||
	fail "odd image paths: not three missing-image errors: $(q img.db 'SELECT line, reason FROM ingest_errors')"
rm -f syn/images/fifo.png && rmdir syn/images/dir.png
echo "ok: class 3 pipes, FIFOs, devices, directories"

# ---- class 4: outputs -----------------------------------------------------------------------------
head -n 300 syn/data.jsonl >syn/w.jsonl
rc 0 "$MM" index --quiet --db o.db --images syn --name w syn/w.jsonl
rc 0 "$MM" score --quiet --db o.db --threads 1
mkdir -p rep victim
for f in summary.json samples.csv report.html weights.csv scores.csv model.mma; do
	echo "keep $f" >"victim/$f"
done
for f in summary.json samples.csv report.html; do ln -s "$T/victim/$f" "rep/$f"; done
touch rep/.mmaudit-tmp-999999999-report.html.AAAAAA          # a dead process's temp
touch "rep/.mmaudit-tmp-$$-report.html.BBBBBB"                # a live process's temp
rc 0 "$MM" report --quiet --db o.db --out rep
for f in summary.json samples.csv report.html; do
	[ "$(cat "victim/$f")" = "keep $f" ] || fail "report followed the symlink at $f"
	[ -f "rep/$f" ] && [ ! -L "rep/$f" ] || fail "report did not replace the link $f with a file"
done
[ -e rep/.mmaudit-tmp-999999999-report.html.AAAAAA ] && fail "a dead run's temp file was not removed"
[ -e "rep/.mmaudit-tmp-$$-report.html.BBBBBB" ] || fail "a live process's temp file was removed"
rm -f "rep/.mmaudit-tmp-$$-report.html.BBBBBB"
ln -s "$T/victim/scores.csv" scores.csv && ln -s "$T/victim/weights.csv" weights.csv &&
	ln -s "$T/victim/model.mma" model.mma
rc 0 "$MM" score --quiet --db o.db --threads 1 --out scores.csv
rc 0 "$MM" weights --db o.db --out weights.csv
rc 0 "$MM" train --quiet --db o.db --out model.mma
for f in scores.csv weights.csv model.mma; do
	[ "$(cat "victim/$f")" = "keep $f" ] || fail "$f: followed the symlink"
	[ -f "$f" ] && [ ! -L "$f" ] || fail "$f: link not replaced"
done
ls -A | grep -q '\.tmp$' && fail "a guessable .tmp file is left: $(ls -A)"
# one file of the set cannot be written: none is replaced
cp -a rep rep_before
rm rep/report.html && mkdir rep/report.html
rc 2 "$MM" report --quiet --db o.db --out rep
has "rep/report.html' is a directory"
cmp -s rep/summary.json rep_before/summary.json && cmp -s rep/samples.csv rep_before/samples.csv ||
	fail "report replaced summary.json/samples.csv although report.html could not be written"
ls -A rep | grep -q mmaudit-tmp && fail "failed report left temp files: $(ls -A rep)"
rmdir rep/report.html
# audit: weights.csv at a symlink, and the set replaced together
mkdir -p aud2
ln -s "$T/victim/weights.csv" aud2/weights.csv
rc 0 "$MM" audit --quiet --out aud2 --images syn --no-crossdist --threads 1 syn/w.jsonl
[ "$(cat victim/weights.csv)" = "keep weights.csv" ] || fail "audit followed the weights.csv symlink"
[ ! -L aud2/weights.csv ] || fail "audit did not replace the weights.csv link"
# '..' image paths confined to the images folder
mkdir -p conf/imgs
cp "$(ls syn/images/*.png | head -1)" conf/outside.png
cp "$(ls syn/images/*.png | head -1)" conf/imgs/inside.png
mkdir -p conf/imgs/sub
printf '%s\n' '{"id":"1","prompt":"p","image":"../outside.png","chosen":"a","rejected":"b"}' \
	'{"id":"2","prompt":"p","image":"sub/../inside.png","chosen":"a","rejected":"b"}' \
	'{"id":"3","prompt":"p","image":"sub/../../outside.png","chosen":"a","rejected":"b"}' \
	'{"id":"4","prompt":"p","image":"./inside.png","chosen":"a","rejected":"b"}' >conf/d.jsonl
rc 0 "$MM" index --quiet --db conf.db --images conf/imgs --name c conf/d.jsonl
[ "$(q conf.db 'SELECT group_concat(ext_id) FROM (SELECT ext_id FROM pairs ORDER BY ext_id)')" = "2,4" ] ||
	fail "'..' paths: kept $(q conf.db 'SELECT group_concat(ext_id) FROM pairs')"
[ "$(q conf.db "SELECT count(*) FROM ingest_errors WHERE reason LIKE '%leaves the images folder%'")" = 2 ] ||
	fail "'..' paths leaving the folder not reported"
rc 0 "$MM" index --quiet --db conf2.db --images conf/imgs --name c --allow-image-paths-outside conf/d.jsonl
[ "$(q conf2.db 'SELECT count(*) FROM pairs')" = 4 ] || fail "--allow-image-paths-outside did not read them"
echo "ok: class 4 outputs and image confinement"

# ---- class 5: other programs' SQLite files --------------------------------------------------------
python3 - <<'PY'
import sqlite3
c = sqlite3.connect("foreign1.db"); c.execute("CREATE TABLE t(x)"); c.execute("PRAGMA user_version = 1"); c.commit(); c.close()
c = sqlite3.connect("foreign0.db"); c.execute("CREATE TABLE datasets(id, name)"); c.commit(); c.close()
c = sqlite3.connect("foreign9.db"); c.execute("CREATE TABLE t(x)"); c.execute("PRAGMA application_id = 1234"); c.commit(); c.close()
PY
head -c 8192 /dev/urandom >junk.db
for db in foreign1.db foreign0.db foreign9.db junk.db; do
	before=$(md5sum "$db")
	for cmd in "info --db $db" "index --quiet --db $db syn/small.jsonl" "score --quiet --db $db" \
		"report --quiet --db $db --out r5" "gate --db $db --max-sfd 0.5" "weights --db $db --out w5.csv"; do
		# shellcheck disable=SC2086
		rc 2 "$MM" $cmd
		has "not an mmaudit workspace"
	done
	[ "$(md5sum "$db")" = "$before" ] || fail "$db was modified"
	[ -e "$db-wal" ] || [ -e "$db-journal" ] && fail "$db got a journal"
done
[ "$(q o.db 'PRAGMA application_id')" = 1835884917 ] || fail "workspace not marked with application_id"
: >empty.db
rc 0 "$MM" index --quiet --db empty.db --images syn --name e syn/small.jsonl
before=$(md5sum o.db)
rc 0 "$MM" info --db o.db
rc 0 "$MM" gate --db o.db --max-sfd 1
rc 0 "$MM" report --quiet --db o.db --out r5b
[ "$(md5sum o.db)" = "$before" ] || fail "read-only commands modified the workspace"
[ -e o.db-wal ] || [ -e o.db-shm ] && fail "read-only commands left -wal/-shm files"
rc 2 "$MM" info --db missing.db
[ -e missing.db ] && fail "info created a workspace"
# a workspace from before application_id (its tables tell) is still read, then marked
cp o.db legacy.db && q legacy.db 'PRAGMA application_id = 0' >/dev/null
rc 0 "$MM" info --db legacy.db
rc 0 "$MM" index --quiet --db legacy.db --images syn --name l syn/small.jsonl
[ "$(q legacy.db 'PRAGMA application_id')" = 1835884917 ] || fail "legacy workspace not marked"
echo "ok: class 5 foreign databases refused untouched; read-only commands"

# ---- class 6: two index runs creating one workspace ------------------------------------------------
for k in 1 2 3 4 5 6 7 8 9 10; do
	rm -f race.db race.db-wal race.db-shm
	"$MM" index --quiet --db race.db --images syn --name r1 syn/small.jsonl 2>"$T/race1" &
	p1=$!
	"$MM" index --quiet --db race.db --images syn --name r2 syn/small.jsonl 2>"$T/race2" &
	p2=$!
	wait $p1 || fail "race $k: first index failed: $(cat "$T/race1")"
	wait $p2 || fail "race $k: second index failed: $(cat "$T/race2")"
	[ "$(q race.db 'SELECT count(*) FROM datasets')" = 2 ] || fail "race $k: not both datasets"
done
echo "ok: class 6 concurrent creation"

# ---- class 7: names and messages --------------------------------------------------------------------
lat=$(printf 'caf\xe9')
esc=$(printf 'red\033[31m\033]0;pwned\007')
cp syn/small.jsonl "$lat.jsonl"
cp syn/small.jsonl "$esc.jsonl"
rc 0 "$MM" index --db n.db --images syn "$lat.jsonl"
rc 0 "$MM" index --db n.db --images syn "$esc.jsonl"
grep -q $'\033' "$T/err" && fail "index echoed a raw escape sequence to stderr"
rc 2 "$MM" index --db n.db "$esc-missing.jsonl"
grep -q $'\033' "$T/err" && fail "an error message echoed a raw escape sequence"
rc 0 "$MM" index --quiet --db n.db --images syn --name "a,b" syn/w.jsonl
rc 0 "$MM" index --quiet --db n.db --images syn --name "$(printf 'bidi\xe2\x80\xaeevil')" syn/w.jsonl
rc 0 "$MM" score --quiet --db n.db --threads 1 --dataset "a,b"
[ "$(q n.db "SELECT count(DISTINCT p.dataset_id) FROM pair_scores s JOIN pairs p ON p.id = s.pair_id")" = 1 ] ||
	fail "--dataset 'a,b' did not select the one dataset named so"
rc 0 "$MM" score --quiet --db n.db --threads 1 --dataset 'caf\xe9,a\,b'
rc 2 "$MM" score --quiet --db n.db --dataset "a,nope"
has "nope"
rc 0 "$MM" score --quiet --db n.db --threads 1
rc 0 "$MM" report --quiet --db n.db --out nrep
python3 - <<'PY' || fail "summary.json names"
import json
raw = open("nrep/summary.json", "rb").read()
raw.decode("utf-8")  # valid UTF-8
names = [d.get("name") for d in json.loads(raw)["datasets"]]
assert all(isinstance(n, str) and n for n in names), names
assert "caf\\xe9" in names, names
assert not any("\x1b" in n or "\u202e" in n for n in names), names
PY
grep -q $'\xe2\x80\xae' nrep/report.html && fail "a raw bidi override reached report.html"
grep -q $'\033' nrep/report.html nrep/samples.csv nrep/summary.json && fail "a raw ESC reached a report file"
# CSV formula prefixes, after whitespace and newlines, fullwidth, pipe
python3 - <<'PY'
import json
ids = [" =1+1", "\n=cmd|' /C calc'!A0", "\t=x", "\uff1d1+1", "|cmd", "  @SUM(A1)", "\r\n+1", "\uff0b1",
       "plain", "-2"]
with open("csv.jsonl", "w") as f:
    for i, x in enumerate(ids):
        for k in range(6):
            f.write(json.dumps({"id": x if k == 0 else "%s-%d" % (x, k), "prompt": "q%d %d" % (i, k),
                                "chosen": "long answer %d %d with words" % (i, k), "rejected": "no %d" % k}) + "\n")
PY
rc 0 "$MM" index --quiet --db csv.db --name c csv.jsonl
rc 0 "$MM" score --quiet --db csv.db --threads 1 --folds 2
rc 0 "$MM" report --quiet --db csv.db --out crep
python3 - <<'PY' || fail "samples.csv formula cells"
import csv
bad = []
for row in csv.DictReader(open("crep/samples.csv", newline="", encoding="utf-8")):
    v = row["id"]
    s = v.lstrip(" \t\r\n")
    if v in ("plain",) or v.startswith("plain"):
        continue
    if not v.startswith("'"):
        bad.append(v)
assert not bad, bad
PY
# policy files that are not text, and numbers that are not decimal
printf 'max-shortcut-rate = 1\nmax-sfd\0 = 0.0001\n' >pol_nul
printf 'max-shortcut-rate = 1\n\x01\x02\x03\n' >pol_ctl
head -c 600 /dev/urandom >pol_bin
printf '\xef\xbb\xbfmax-text-accuracy = 1\n' >pol_bom
printf 'max-sfd = 0x0.1\n' >pol_hex
printf 'max-sfd = inf\n' >pol_inf
printf 'max-text-accuracy = 0.5\xff\n' >pol_utf
rc 2 "$MM" gate --db csv.db --policy pol_nul
has "pol_nul:2"
rc 2 "$MM" gate --db csv.db --policy pol_ctl
has "pol_ctl:2"
rc 2 "$MM" gate --db csv.db --policy pol_bin
has "pol_bin:"
rc 2 "$MM" gate --db csv.db --policy pol_hex
has "pol_hex:1"
rc 2 "$MM" gate --db csv.db --policy pol_inf
rc 2 "$MM" gate --db csv.db --policy pol_utf
has "pol_utf:1"
rc 0 "$MM" gate --db csv.db --policy pol_bom
grep -q "text-only accuracy" "$T/out" || fail "BOM policy: rule not applied: $(cat "$T/out")"
rc 2 "$MM" gate --db csv.db --max-sfd 0x0.1
# multi-completion ratings: overflow to infinity and hex strings make no pair
printf '%s\n' \
	'{"id":"inf","prompt":"p","completions":{"response":["a","b"],"annotations":[{"x":{"Rating":1e308},"y":{"Rating":1e308}},{"x":{"Rating":1}}]}}' \
	'{"id":"hex","prompt":"p","completions":{"response":["c","d"],"annotations":[{"x":{"Rating":"0x10"}},{"x":{"Rating":"2"}}]}}' \
	'{"id":"ok","prompt":"p","completions":{"response":["e","f"],"annotations":[{"x":{"Rating":" 3 "}},{"x":{"Rating":"2"}}]}}' >multi.jsonl
rc 0 "$MM" index --quiet --db multi.db --name m multi.jsonl
[ "$(q multi.db "SELECT count(*) FROM pairs WHERE ext_id LIKE 'inf%' OR ext_id LIKE 'hex%'")" = 0 ] ||
	fail "ratings: a pair from an infinite mean or a hex rating: $(q multi.db 'SELECT ext_id, chosen FROM pairs')"
[ "$(q multi.db "SELECT count(*) FROM pairs WHERE ext_id LIKE 'ok%'")" = 1 ] || fail "ratings: the good record lost"
[ "$(q multi.db "SELECT count(*) FROM ingest_errors WHERE line = 1")" -ge 1 ] || fail "ratings: overflow not reported"
echo "ok: class 7 names, messages, CSV, policy files, ratings"

# ---- class 8: exit codes naming the path ---------------------------------------------------------------
mkdir -p adir
rc 2 "$MM" score --quiet --db o.db --out adir
has "'adir' is a directory"
rc 2 "$MM" weights --db o.db --out adir
has "adir"
rc 2 "$MM" train --quiet --db o.db --out adir
has "adir"
rc 2 "$MM" score --quiet --db o.db --out nofolder/x.csv
has "nofolder"
rc 2 "$MM" index --quiet --db adir syn/small.jsonl
has "'adir' is a directory"
rc 2 "$MM" index --quiet --db fifo syn/small.jsonl
has "FIFO"
rc 2 "$MM" index --quiet --db nofolder/w.db syn/small.jsonl
has "nofolder"
rc 2 "$MM" info --db adir
rc 2 "$MM" report --quiet --db o.db --out syn/small.jsonl
has "syn/small.jsonl"
rc 2 "$MM" audit --quiet --out syn/small.jsonl syn/small.jsonl
has "syn/small.jsonl"
rc 2 "$MM" gate --db o.db --policy adir
has "'adir' is a directory"
rc 2 "$MM" merge --db adir o.db
has "adir"
echo "ok: class 8 exit codes"
echo "ok: issue 17 classes 2-8"
