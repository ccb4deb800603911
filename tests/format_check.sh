#!/usr/bin/env bash
# Checks that every C source and header follows .clang-format (clang-format --dry-run -Werror).
# Skips (exit 77) when clang-format is not installed.
set -euo pipefail
ROOT=${1:?usage: format_check.sh SOURCE_ROOT}
command -v clang-format >/dev/null || { echo "SKIP: clang-format not installed"; exit 77; }
cd "$ROOT"
bad=0
while IFS= read -r f; do
	if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
		echo "not formatted: $f (run clang-format -i $f)"
		bad=1
	fi
done < <(find audit engine reports tests bench -name '*.[ch]' -not -path '*/corpus/*' | sort)
[ $bad -eq 0 ] && echo "all C files formatted"
exit $bad
