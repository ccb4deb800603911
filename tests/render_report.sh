#!/usr/bin/env bash
# Renders report.html to a PNG with headless Chromium (1366x768, the verdict must be visible
# without scrolling). Prints SKIP and exits 0 when /usr/bin/chromium is absent.
# usage: tests/render_report.sh [MMAUDIT] [OUT_DIR]
#   builds a fixture workspace (tests/reports_fixture.py), runs mmaudit report on it and writes
#   OUT_DIR/report.html, OUT_DIR/report.png (first screen) and OUT_DIR/report-full.png (long page).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MM=${1:-$ROOT/build/audit/mmaudit}
OUT=${2:-$ROOT/build/render}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ]; then
	echo "SKIP: $CHROMIUM not found (apt-get install chromium to render report.html)"
	exit 0
fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
rm -f "$OUT/ws.db" "$OUT/ws.db-wal" "$OUT/ws.db-shm"
# mkempty DB: a migrated workspace without data for the fixture (made by `index` of an empty file,
# then emptied: `info` is read-only and never creates or migrates a workspace)
mkempty() {
	rm -f "$1" && : >"$1.empty.jsonl" && "$MM" index --quiet --db "$1" "$1.empty.jsonl" &&
		python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute("DELETE FROM source_files"); c.execute("DELETE FROM datasets"); c.commit()' "$1"
	local rc=$?
	rm -f "$1.empty.jsonl"
	return $rc
}
mkempty "$OUT/ws.db"
python3 "$ROOT/tests/reports_fixture.py" "$OUT/ws.db" --pairs 2000 --issue12 --issue13
"$MM" report --db "$OUT/ws.db" --out "$OUT" --max-shortcut-rate 0.3 --max-text-accuracy 0.7 \
	--max-ood-gap 0.2 --max-sfd 0.3 --quiet
shot() { # shot PNG HEIGHT
	local prof
	prof=$(mktemp -d)
	timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--user-data-dir="$prof" --hide-scrollbars --window-size=1366,"$2" --screenshot="$1" \
		"file://$OUT/report.html" >/dev/null 2>&1 || true
	rm -rf "$prof"
	[ -s "$1" ] || { echo "FAIL: chromium wrote no $1"; exit 1; }
}
shot "$OUT/report.png" 768
shot "$OUT/report-full.png" 12000
echo "rendered $OUT/report.html -> $OUT/report.png (1366x768) and $OUT/report-full.png"
