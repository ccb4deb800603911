#!/usr/bin/env bash
# e2e_faults.sh MMAUDIT - system faults give a clear error, exit 3 (2 for an unreadable input) and
# no partial state:
#  - disk full, simulated for every user with RLIMIT_FSIZE (`ulimit -f`, SIGXFSZ ignored: writes
#    fail with EFBIG) during index, score and report; and, when this user can mount (root in CI), a
#    real full disk on a small tmpfs (ENOSPC);
#  - a read-only workspace: a read-only bind mount (root) and/or a chmod 444 file used by an
#    unprivileged user (setpriv);
#  - an unreadable or missing input file, a directory as input.
# After each fault the workspace passes its integrity check and holds exactly what it held before.
# The sub-cases that need privileges print what ran; the RLIMIT and input cases always run.
set -euo pipefail
export PATH=/usr/bin:$PATH
MM=$(realpath "${1:?usage: e2e_faults.sh PATH/TO/mmaudit}")
T=$(mktemp -d)
chmod 755 "$T"
MNT=""
cleanup() {
	for m in $MNT; do umount "$m" 2>/dev/null || true; done
	rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
ran=()

expect_fail() { # expect_fail WANT-EXIT NEEDLE CMD...: exit status and a message containing NEEDLE
	local want=$1 needle=$2 rc=0
	shift 2
	"$@" >"$T/out" 2>"$T/err" || rc=$?
	[ "$rc" = "$want" ] || { cat "$T/err" >&2; fail "$*: exit $rc, want $want"; }
	grep -qi -- "$needle" "$T/err" || fail "$*: message lacks '$needle': $(cat "$T/err")"
}
state() { # state DB: a fingerprint of what the workspace holds
	python3 - "$1" <<'PY'
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
print([db.execute("SELECT count(*) FROM " + t).fetchone()[0] for t in
       ("datasets", "source_files", "pairs", "ingest_errors", "images", "pair_scores", "top_features")],
      db.execute("SELECT group_concat(status) FROM runs WHERE status = 'done'").fetchone()[0])
PY
}
consistent() { # consistent DB BEFORE WHAT
	local out
	out=$("$MM" info --db "$1" --check) || fail "$3: integrity check: $out"
	[ "$out" = ok ] || fail "$3: integrity check says $out"
	[ "$(state "$1")" = "$2" ] || fail "$3: workspace changed: $(state "$1") != $2"
}

"$MM" synth --out "$T/s" --pairs 1500 --shortcut 0.8 --seed 3 --images 200 --size 48x48 --quiet
awk 'BEGIN { for (i = 0; i < 60000; i++) printf "{\"id\":\"r%d\",\"prompt\":\"Question %d?\",\"chosen\":\"A longer chosen answer %d\",\"rejected\":\"No %d\"}\n", i, i, i, i }' >"$T/big.jsonl"
"$MM" index --quiet --db "$T/w.db" --name a "$T/s/data.jsonl"
"$MM" score --quiet --db "$T/w.db" --seed 1 --threads 1 >/dev/null
before=$(state "$T/w.db")

limited() { # limited KB CMD...: runs CMD with file writes capped at KB KiB (EFBIG beyond)
	local kb=$1
	shift
	( trap '' XFSZ; ulimit -f "$kb"; exec "$@" )
}
# ---- disk full (RLIMIT_FSIZE): index, score, report ----
"$MM" info --db "$T/w.db" --check >/dev/null # checkpoint-free baseline: WAL may be pending
expect_fail 3 "re-run" limited 64 "$MM" index --quiet --db "$T/w.db" --name big "$T/big.jsonl"
consistent "$T/w.db" "$before" "index on a full disk"
expect_fail 3 "re-run" limited 32 "$MM" score --quiet --db "$T/w.db" --seed 2 --threads 1
# the failed run may be recorded as 'failed', never as 'done'
consistent "$T/w.db" "$before" "score on a full disk"
mkdir "$T/rep"
expect_fail 3 "write" limited 100 "$MM" report --quiet --db "$T/w.db" --out "$T/rep"
[ -z "$(ls -A "$T/rep")" ] || fail "report on a full disk left files: $(ls -A "$T/rep")"
"$MM" report --quiet --db "$T/w.db" --out "$T/rep2"
cp -a "$T/rep2" "$T/rep2.orig"
expect_fail 3 "write" limited 100 "$MM" report --quiet --db "$T/w.db" --out "$T/rep2" --top 3
diff -r "$T/rep2" "$T/rep2.orig" >/dev/null || fail "a failed report changed the previous report files"
consistent "$T/w.db" "$before" "report on a full disk"
ran+=("disk full via RLIMIT_FSIZE (index, score, report)")

# ---- a real full disk: a tmpfs 256 KiB larger than the workspace (needs mount rights) ----
mkdir "$T/tmpfs"
kb=$(( $(du -k "$T/w.db" | cut -f1) + $(du -k "$T/w.db-wal" 2>/dev/null | cut -f1 || echo 0) + 256 ))
if mount -t tmpfs -o size=${kb}k tmpfs "$T/tmpfs" 2>/dev/null; then
	MNT="$T/tmpfs $MNT"
	cp "$T/w.db" "$T/tmpfs/w.db"
	[ ! -f "$T/w.db-wal" ] || cp "$T/w.db-wal" "$T/tmpfs/w.db-wal"
	small=$(state "$T/tmpfs/w.db")
	expect_fail 3 "disk" "$MM" index --quiet --db "$T/tmpfs/w.db" --name big "$T/big.jsonl"
	grep -q "full" "$T/err" || fail "tmpfs: message does not say the disk is full: $(cat "$T/err")"
	consistent "$T/tmpfs/w.db" "$small" "index on a full tmpfs"
	umount "$T/tmpfs"
	MNT=""
	ran+=("disk full on a small tmpfs (ENOSPC)")
fi

# ---- read-only workspace ----
mkdir "$T/ro" "$T/rw"
cp "$T/w.db" "$T/rw/w.db"
if mount --bind "$T/rw" "$T/ro" 2>/dev/null && mount -o remount,ro,bind "$T/ro" 2>/dev/null; then
	MNT="$T/ro $MNT"
	expect_fail 3 "not writable" "$MM" index --quiet --db "$T/ro/w.db" --name big "$T/big.jsonl"
	expect_fail 3 "" "$MM" score --quiet --db "$T/ro/w.db" --threads 1
	consistent "$T/rw/w.db" "$before" "read-only bind mount"
	umount "$T/ro"
	MNT=""
	ran+=("read-only bind mount (EROFS)")
fi
if command -v setpriv >/dev/null && [ "$(id -u)" = 0 ]; then
	nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
	chmod 444 "$T/rw/w.db"
	chmod 777 "$T/rw"
	expect_fail 3 "not writable" nobody "$MM" index --quiet --db "$T/rw/w.db" --name big "$T/big.jsonl"
	consistent "$T/rw/w.db" "$before" "chmod 444 workspace"
	chmod 755 "$T/rw"
	# an unreadable input file
	cp "$T/big.jsonl" "$T/secret.jsonl"
	chmod 000 "$T/secret.jsonl"
	expect_fail 2 "cannot read" nobody "$MM" index --quiet --db "$T/rw/x.db" --name x "$T/secret.jsonl"
	ran+=("chmod 444 workspace and chmod 000 input as an unprivileged user")
elif [ "$(id -u)" != 0 ]; then
	chmod 444 "$T/rw/w.db"
	expect_fail 3 "not writable" "$MM" index --quiet --db "$T/rw/w.db" --name big "$T/big.jsonl"
	consistent "$T/rw/w.db" "$before" "chmod 444 workspace"
	cp "$T/big.jsonl" "$T/secret.jsonl"
	chmod 000 "$T/secret.jsonl"
	expect_fail 2 "cannot read" "$MM" index --quiet --db "$T/rw/x.db" --name x "$T/secret.jsonl"
	ran+=("chmod 444 workspace and chmod 000 input")
fi

# ---- missing input, a directory as input (any user) ----
expect_fail 2 "cannot read" "$MM" index --quiet --db "$T/w.db" --name m "$T/missing.jsonl"
expect_fail 2 "directory" "$MM" index --quiet --db "$T/w.db" --name m "$T/s"
consistent "$T/w.db" "$before" "bad inputs"
ran+=("missing input, directory as input")
printf 'ran: %s\n' "${ran[@]}"
echo "ok: faults give exit 2/3 with a clear message and leave the workspace unchanged"
