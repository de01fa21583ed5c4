#!/usr/bin/env bash
# Runs every fuzz target of the module for a short budget each (default 10 s;
# pass seconds as the first argument for longer runs). `go test` already runs
# each target's seed corpus as a plain test; this explores beyond it. A
# crash is saved under the package's testdata/fuzz/ — commit it as a case.
set -euo pipefail
cd "$(dirname "$0")/.."
budget="${1:-10}s"
status=0
while IFS= read -r file; do
	pkg="./$(dirname "$file")"
	for target in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)\(' "$file" | sed -E 's/^func (Fuzz[A-Za-z0-9_]+)\(/\1/'); do
		echo "==> $pkg $target ($budget)"
		if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$budget" "$pkg"; then
			status=1
		fi
	done
done < <(grep -rlE '^func Fuzz' --include='*_test.go' . | sed 's|^\./||' | sort)
exit $status
