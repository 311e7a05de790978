#!/usr/bin/env bash
# Runs bun test and ends with the plain closing line 'N passed, N failed[, N skipped]'.
# Keeps bun's exit code; a crash or "no tests" never claims 0 failed.
set -uo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
node_modules/.bin/bun test "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
count() { grep -E "^ *[0-9]+ $1\$" "$log" | tail -1 | awk '{print $1}'; }
pass=$(count pass); fail=$(count fail); skip=$(count skip); todo=$(count todo)
pass=${pass:-0}; fail=${fail:-0}; skipped=$(( ${skip:-0} + ${todo:-0} ))
if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; fi
line="$pass passed, $fail failed"; [ "$skipped" -gt 0 ] && line="$line, $skipped skipped"
echo "$line"; rm -f "$log"; exit "$rc"
