#!/usr/bin/env bash
# ./do demo   install what is missing, build, audit the bundled demo environments, write a report
# ./do test   install what is missing, build (normal + ASan/UBSan), run the whole test suite
# ./do build  install what is missing and build ./build only
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)

PKGS="gcc pkg-config meson ninja-build python3 libsqlite3-dev libarchive-dev libstb-dev
      libturbojpeg0-dev libwebp-dev libopenblas-dev libcmocka-dev libjansson-dev libsnappy-dev
      libzstd-dev zlib1g-dev clang-format libopenblas0-serial"
# test-only: tests/e2e_slurm.sh starts a one-node Slurm cluster (tests/slurm_cluster.sh)
TEST_PKGS="slurm-wlm munge"

ensure_packages() {
	local missing=() p
	for p in $PKGS "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "do: installing missing Debian packages: ${missing[*]}" >&2
	local SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO="sudo"
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1 ||
		{ $SUDO apt-get update -qq >/dev/null 2>&1 || true;
		  $SUDO apt-get install -y --no-install-recommends "${missing[@]}"; }
}

# The Parquet tests' independent writer and reference reader: DuckDB from the npm registry
# (@duckdb/node-api ships its linux-x64 bindings), installed into tests/npm (git-ignored) when
# missing. node and npm come from Debian when absent.
ensure_duckdb() {
	[ -d tests/npm/node_modules/@duckdb/node-api ] && return 0
	command -v npm >/dev/null || ensure_packages nodejs npm
	echo "do: installing @duckdb/node-api into tests/npm (Parquet test fixtures)" >&2
	mkdir -p tests/npm
	npm install --prefix tests/npm --no-audit --no-fund @duckdb/node-api >/dev/null
}

build() { # build DIR [meson options...]
	local dir=$1; shift
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" --werror "$@" >/dev/null
	fi
	ninja -C "$dir" >/dev/null
}

summary() { # prints "N passed, N failed" from meson's JSON test logs given as arguments
	python3 - "$@" <<'PY'
import json, sys
ok = bad = 0
for path in sys.argv[1:]:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        continue
    for line in lines:
        if not line.strip():
            continue
        r = json.loads(line).get("result")
        if r in ("OK", "EXPECTEDFAIL"):
            ok += 1
        elif r != "SKIP":
            bad += 1
print(f"{ok} passed, {bad} failed")
sys.exit(1 if bad or not ok else 0)
PY
}

case "${1:-}" in
build)
	ensure_packages
	build build
	;;
demo)
	ensure_packages
	build build
	MM=$ROOT/build/audit/mmaudit
	OUT=${2:-$ROOT/demo-out}
	rm -rf "$OUT"; mkdir -p "$OUT/envs"
	# Three procedural environments: the true preference is decided by the image; a text cue sits
	# on the chosen side with probability 0.95 (shortcut), 0.5 (none) and 0.05 (reversed).
	"$MM" synth --out "$OUT/envs/shortcut" --pairs 3000 --shortcut 0.95 --seed 1 --quiet
	"$MM" synth --out "$OUT/envs/balanced" --pairs 3000 --shortcut 0.5 --seed 2 --quiet
	"$MM" synth --out "$OUT/envs/reversed" --pairs 3000 --shortcut 0.05 --seed 3 --quiet
	"$MM" audit --out "$OUT/report" --db "$OUT/workspace.db" --seed 1 --max-shortcut-rate 0.3 \
		shortcut="$OUT/envs/shortcut/data.jsonl" balanced="$OUT/envs/balanced/data.jsonl" \
		reversed="$OUT/envs/reversed/data.jsonl" || [ $? -eq 1 ] # 1 = the gate flagged a dataset
	echo "demo: open $OUT/report/report.html (also summary.json, samples.csv, weights.csv)"
	;;
test)
	ensure_packages
	ensure_duckdb
	(PKGS="" ensure_packages $TEST_PKGS) ||
		echo "do: could not install $TEST_PKGS: tests/e2e_slurm.sh will skip" >&2
	build build
	build build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
	rc=0
	meson test -C build --print-errorlogs --num-processes 2 || rc=1
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson test -C build-asan --print-errorlogs --num-processes 2 --timeout-multiplier 4 || rc=1
	summary build/meson-logs/testlog.json build-asan/meson-logs/testlog.json || rc=1
	exit $rc
	;;
*)
	sed -n '2,4p' "$0" | sed 's/^# //'
	exit 2
	;;
esac
