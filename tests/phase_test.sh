#!/usr/bin/env bash
# tools/phase.sh, the phase runner of tools/test: a passing phase prints its header and summary
# only, a failing one its whole output and a non-zero exit that stops the suite.
# Usage: tests/phase_test.sh   (run by CTest from the repository root)
set -u
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failures=0
fail() { echo "FAIL: $1"; sed 's/^/  | /' "$scratch/out"; failures=$((failures + 1)); }

run_phases() {  # runs its arguments as a script that sources tools/phase.sh, like tools/test
  bash -c "set -euo pipefail; phase_logs='$scratch/logs'; . tools/phase.sh; $1" >"$scratch/out" 2>&1
}

run_phases "phase quiet 'summary' sh -c 'echo noise; echo the summary line'; echo next"
[ $? -eq 0 ] || fail "a passing phase"
grep -q '^== quiet: sh -c' "$scratch/out" || fail "a passing phase prints its header"
grep -q '^   the summary line$' "$scratch/out" || fail "a passing phase prints its summary"
grep -q '^noise$' "$scratch/out" && fail "a passing phase prints only its summary"
grep -q '^next$' "$scratch/out" || fail "the suite goes on after a passing phase"
grep -q '^noise$' "$scratch/logs/quiet.log" || fail "a passing phase keeps its log"

run_phases "phase loud 'x' sh -c 'echo line one; echo line two >&2; exit 3'; echo next"
status=$?
[ "$status" -eq 1 ] || fail "a failing phase exits 1 (got $status)"
grep -q '^line one$' "$scratch/out" && grep -q '^line two$' "$scratch/out" || fail "a failing phase prints its whole output"
grep -q 'phase loud FAILED (exit 3)' "$scratch/out" || fail "a failing phase names itself and its status"
grep -q '^next$' "$scratch/out" && fail "a failing phase stops the suite"

run_phases "phase first 'x' true; phase second 'x' true; printf '%s;' \"\${phase_times[@]}\""
grep -qE '^first [0-9]+ s;second [0-9]+ s;' "$scratch/out" || fail "passed phases record their times in order"

# tools/test runs every command as a phase.
grep -q '^\. tools/phase\.sh$' tools/test || { echo "FAIL: tools/test does not source tools/phase.sh"; failures=$((failures + 1)); }
unphased=$(sed -n '/^\. tools\/phase\.sh$/,$p' tools/test | grep -vE '^(\. tools/phase\.sh$|phase |#|$|\[ -x |  echo |  exit 1|}|started=|echo "tools/test: (all|phases)|mkdir -p build/test-logs && fuzz/clean-build --chroot-only)')
[ -z "$unphased" ] || { echo "FAIL: tools/test lines outside a phase:"; echo "$unphased"; failures=$((failures + 1)); }

[ "$failures" -eq 0 ] && echo "phase_test: all checks passed"
exit $((failures > 0))
