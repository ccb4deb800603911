#!/usr/bin/env bash
# valgrind_index.sh MMAUDIT - runs `index` (images in a folder, a tar.gz, a data URI, bad records)
# and `info` under valgrind; any leak or invalid access fails. Skips (exit 77) without valgrind.
set -euo pipefail
MM=${1:?usage: valgrind_index.sh PATH/TO/mmaudit}
command -v valgrind >/dev/null || { echo "valgrind not installed: skipped"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/images"
python3 - "$T" <<'PY'
import base64, json, struct, sys, tarfile, zlib
d = sys.argv[1]
def png(w, h, rgb):
    raw = b"".join(b"\0" + bytes(rgb) * w for _ in range(h))
    ch = lambda t, b: struct.pack(">I", len(b)) + t + b + struct.pack(">I", zlib.crc32(t + b))
    return (b"\x89PNG\r\n\x1a\n" + ch(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + ch(b"IDAT", zlib.compress(raw)) + ch(b"IEND", b""))
for i, c in enumerate([(200, 0, 0), (0, 200, 0), (0, 0, 200)]):
    open(f"{d}/images/{i}.png", "wb").write(png(300, 200, c))
open(f"{d}/images/bad.jpg", "wb").write(b"\xff\xd8\xff\xe0garbage")
with tarfile.open(f"{d}/imgs.tar.gz", "w:gz") as t:
    t.add(f"{d}/images/0.png", "images/0.png")
    t.add(f"{d}/images/bad.jpg", "images/bad.jpg")
uri = "data:image/png;base64," + base64.b64encode(png(20, 20, (9, 9, 9))).decode()
rows = [
  {"id": "a", "prompt": "p", "image": "images/0.png", "chosen": "red", "rejected": "blue"},
  {"id": "b", "question": "p", "img_path": "images/1.png", "chosen": "x", "rejected": "y", "k": [1]},
  {"id": "c", "prompt": "p", "image": "images/bad.jpg", "chosen": "x", "rejected": "y"},
  {"id": "d", "prompt": "p", "image": "images/none.png", "chosen": "x", "rejected": "y"},
  {"id": "e", "prompt": "p", "image": uri, "chosen": "x", "rejected": "y"},
  {"id": "a", "prompt": "p", "chosen": "dup", "rejected": "y"},
  {"id": "m", "prompt": "p", "img_path": "images/2.png", "completions": {"response": ["1", "2", "3"],
   "annotations": [{"H": {"Rating": "4"}}, {"H": {"Rating": 2}}, {"H": {"Rating": "4"}}]}},
]
with open(f"{d}/data.jsonl", "w") as f:
    for r in rows: f.write(json.dumps(r) + "\n")
    f.write('{"broken": \n[1]\n')
with open(f"{d}/arch.jsonl", "w") as f:
    f.write(json.dumps(rows[0]) + "\n" + json.dumps(rows[2]) + "\n" + json.dumps(rows[3]) + "\n")
PY
VG="valgrind -q --leak-check=full --show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99"
$VG "$MM" index --quiet --db "$T/w.db" --name d "$T/data.jsonl"
$VG "$MM" index --quiet --db "$T/w.db" --name arch --images "$T/imgs.tar.gz" "$T/arch.jsonl"
rc=0; $VG "$MM" index --quiet --db "$T/w.db" --name s --strict "$T/data.jsonl" || rc=$?
[ "$rc" = 2 ] || { echo "strict run exited $rc under valgrind"; exit 1; }
$VG "$MM" info --db "$T/w.db" >/dev/null
$VG "$MM" info --db "$T/w.db" --json >/dev/null
echo "ok: index + info clean under valgrind"
