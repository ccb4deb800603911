#!/bin/sh
# synth_cli.sh MMAUDIT - `mmaudit synth`: usage errors exit 2, --help exits 0, a run writes the
# three outputs with the asked number of pairs and images.
set -u
MM=$1
T=$(mktemp -d /tmp/mmaudit-synth-cli-XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

expect_rc() { # expect_rc WANT ARGS...
	want=$1; shift
	"$MM" synth "$@" >"$T/out" 2>"$T/err"; rc=$?
	[ "$rc" -eq "$want" ] || fail "synth $* -> exit $rc, want $want: $(cat "$T/err")"
}

expect_rc 0 --help
grep -q -- "--shortcut P" "$T/out" || fail "--help does not describe --shortcut"
expect_rc 2 --out "$T/a" --pairs 10 --shortcut 1.5
grep -q "shortcut" "$T/err" || fail "bad --shortcut message does not name the option"
expect_rc 2 --out "$T/a" --pairs 0 --shortcut 0.5
expect_rc 2 --out "$T/a" --pairs 10
expect_rc 2 --pairs 10 --shortcut 0.5
expect_rc 2 --out "$T/a" --pairs 10 --shortcut 0.5 --kind nonsense
expect_rc 2 --out "$T/a" --pairs 10 --shortcut 0.5 --images 11
expect_rc 2 --out "$T/a" --pairs 10 --shortcut 0.5 --size 96
expect_rc 2 --out "$T/a" --pairs 10 --shortcut 0.5 --format gif
expect_rc 2 --out "$T/a" --pairs 10 --shortcut 0.5 --bogus
[ ! -e "$T/a" ] || fail "a usage error created the output directory"

expect_rc 0 --out "$T/b" --pairs 12 --images 4 --shortcut 0.9 --size 32x24 --format jpg --seed 3
[ "$(wc -l <"$T/b/data.jsonl")" -eq 12 ] || fail "data.jsonl does not have 12 lines"
[ "$(wc -l <"$T/b/truth.csv")" -eq 13 ] || fail "truth.csv does not have header + 12 lines"
[ "$(ls "$T/b/images" | wc -l)" -eq 4 ] || fail "images/ does not hold 4 files"
grep -q '"image":"images/00003.jpg"' "$T/b/data.jsonl" || fail "no pair references image 3"
grep -q "wrote 12 pairs" "$T/err" || fail "no summary line on stderr"

expect_rc 0 --out "$T/c" --pairs 5 --shortcut 0.5 --text-only --quiet
[ ! -s "$T/err" ] || fail "--quiet still printed: $(cat "$T/err")"
! grep -q '"image"' "$T/c/data.jsonl" || fail "--text-only wrote an image field"
echo "ok"
