#!/bin/sh
# Runs every fuzz target of the module for FUZZTIME each (default 30s), one after the other
# (go test -fuzz takes one target at a time). New failing inputs are written to the package's
# testdata/fuzz/<Target>/, where `make test` runs them from then on, as it runs each target's
# seed corpus. Usage: scripts/fuzz.sh [package pattern]   e.g. scripts/fuzz.sh ./cloud/...
set -eu
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-30s}
pattern=${1:-./...}
status=0
for pkg in $($GO list "$pattern"); do
	dir=$($GO list -f '{{.Dir}}' "$pkg")
	ls "$dir"/*_test.go >/dev/null 2>&1 || continue
	targets=$(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go | sed 's/^func //' | sort -u)
	for t in $targets; do
		echo "== $pkg $t ($FUZZTIME)"
		$GO test -run '^$' -fuzz "^$t\$" -fuzztime "$FUZZTIME" "$pkg" || status=1
	done
done
exit $status
