#!/usr/bin/env bash
# e2e_parquet.sh MMAUDIT SOURCE_ROOT - Parquet input (issue 16): fixtures written by DuckDB (an
# independent writer, @duckdb/node-api from npm, installed into tests/npm when missing) with every
# codec, dictionary and plain/delta encodings, nulls, >= 3 row groups, the image struct, a list of
# image structs and message lists are indexed, and pair counts, texts and image hashes must equal
# DuckDB's reading of the same files; a folder of shards indexes as one dataset; hostile variants
# (bad offsets and lengths in the footer and page headers, truncation, bad magic, huge sizes,
# unsupported codec/encoding) exit 2 with their location. Needs node + npm (CI has both): without
# them the test FAILS rather than skips.
set -euo pipefail
specs=()
MM=$1
SRC=$2
NPM_DIR=${MM_NPM_DIR:-$SRC/tests/npm}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

command -v node >/dev/null || fail "node is not installed (apt-get install nodejs npm)"
if [ ! -d "$NPM_DIR/node_modules/@duckdb/node-api" ]; then
	command -v npm >/dev/null || fail "npm is not installed (apt-get install npm)"
	echo "installing @duckdb/node-api into $NPM_DIR"
	mkdir -p "$NPM_DIR"
	npm install --prefix "$NPM_DIR" --no-audit --no-fund @duckdb/node-api >/dev/null ||
		fail "npm install @duckdb/node-api failed"
fi
export MM_NPM_DIR=$NPM_DIR

node "$SRC/tests/parquet_fixtures.mjs" "$WORK/fx" 5000
# DuckDB writes v1 data pages only: three fixtures are rewritten with DATA_PAGE_V2 pages (same
# value bytes) and DuckDB reads the rewritten files back as their reference
for f in pw_uncompressed_V1:pv2_uncompressed:pw:uncompressed pw_gzip_V2:pv2_gzip:pw:gzip \
	msg_gzip_V1:pv2_msg_gzip:msg:gzip; do
	IFS=: read -r from to table codec <<<"$f"
	python3 "$SRC/tests/parquet_v2pages.py" "$WORK/fx/$from.parquet" "$WORK/fx/$to.parquet"
	specs+=("$to.parquet:$table:$codec")
done
node "$SRC/tests/parquet_fixtures.mjs" reread "$WORK/fx" "${specs[@]}"
python3 "$SRC/tests/parquet_check.py" "$MM" "$WORK/fx" "$WORK"

# a folder of shards is one dataset: its .parquet files in name order
mkdir "$WORK/shards"
cp "$WORK/fx/pw_zstd_V1.parquet" "$WORK/shards/part-0.parquet"
cp "$WORK/fx/trl_zstd_V2.parquet" "$WORK/shards/part-1.parquet"
"$MM" index --db "$WORK/shards.db" --quiet "$WORK/shards"
n=$(python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute(\"SELECT count(*) FROM pairs p JOIN datasets d ON d.id=p.dataset_id WHERE d.name='shards'\").fetchone()[0])" "$WORK/shards.db")
[ "$n" = 9501 ] || fail "shards folder: $n pairs, want 4765 + 4736"
echo "ok shards folder: $n pairs in dataset 'shards'"

# hostile variants: exit 2 (never a crash), the message names the file and the location
python3 "$SRC/tests/parquet_hostile.py" "$WORK/fx/pw_zstd_V1.parquet" \
	"$WORK/fx/pw_nodict_V2.parquet" "$WORK/hostile" >"$WORK/cases.txt"
printf '%s\tnested too deeply\n' "$WORK/fx/deep_struct.parquet" >>"$WORK/cases.txt"
k=0
while IFS=$'\t' read -r f want; do
	rm -f "$WORK"/h.db*
	set +e
	out=$("$MM" index --db "$WORK/h.db" --quiet "$f" 2>&1)
	rc=$?
	set -e
	[ $rc -eq 2 ] || fail "$(basename "$f"): exit $rc, want 2: $out"
	case "$out" in *"$f"*"$want"*) ;; *) fail "$(basename "$f"): message lacks '$want': $out" ;; esac
	k=$((k + 1))
done <"$WORK/cases.txt"
[ $k -ge 19 ] || fail "only $k hostile cases"
echo "ok $k hostile Parquet files: exit 2 with their location"
echo "e2e_parquet: all passed"
