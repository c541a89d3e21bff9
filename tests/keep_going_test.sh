#!/usr/bin/env bash
# kvtrace campaign --keep-going and baselines, and declared variants, end to end over exec: on
# kv_protocol_backend: one finding per root rule, known findings exit 0, a new one exits 1.
# Usage: keep_going_test.sh KVTRACE KV_PROTOCOL_BACKEND
set -uo pipefail
kvtrace=$1
backend=$2
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failures=0
fail() { echo "FAIL: $*"; sed 's/^/  | /' "$scratch/out"; failures=$((failures + 1)); }
run() { "$kvtrace" campaign --seed 11 --ops 60 --jobs 2 --profile classic \
  --artifacts "$scratch/a" "$@" >"$scratch/out" 2>&1; }

# A backend that answers op 5 of every trace with capacity_exceeded: several rules break (a grow
# op that fitted, a fork, a free...), each listed once however many traces show it.
wrong="exec:$backend --misbehave wrong-result --at-op 5"
run --traces 40 --backend "$wrong" --keep-going --write-baseline "$scratch/all.baseline"
status=$?
[ "$status" = 1 ] || fail "keep-going with findings: exit $status, want 1"
grep -q "40 generated traces" "$scratch/out" || fail "keep-going did not run the whole budget"
distinct=$(grep -c '^NEW   ' "$scratch/out")
[ "$distinct" -ge 2 ] || fail "want at least 2 distinct findings, got $distinct"
listed=$(grep '^NEW   ' "$scratch/out" | sed 's/^NEW   //; s/  (.*//' | sort | uniq -d)
[ -z "$listed" ] || fail "a signature is listed twice: $listed"
grep -q "reproduce: .*min.trace" "$scratch/out" || fail "no shrunk trace for a finding"
[ "$(grep -vc '^#' "$scratch/all.baseline")" = "$distinct" ] || fail "baseline has not $distinct lines"

# Every finding known: exit 0, each reported as known.
run --traces 40 --backend "$wrong" --baseline "$scratch/all.baseline"
status=$?
[ "$status" = 0 ] || fail "all findings in the baseline: exit $status, want 0"
grep -q "^ok    40 generated traces" "$scratch/out" || fail "all known: the summary is not ok"
[ "$(grep -c '^known ' "$scratch/out")" = "$distinct" ] || fail "not every finding is known"

# One finding missing from the baseline: it is new, exit 1.
grep -v '^#' "$scratch/all.baseline" | tail -n +2 >"$scratch/partial.baseline"
run --traces 40 --backend "$wrong" --baseline "$scratch/partial.baseline"
status=$?
[ "$status" = 1 ] || fail "a finding outside the baseline: exit $status, want 1"
[ "$(grep -c '^NEW   ' "$scratch/out")" = 1 ] || fail "want exactly 1 new finding"

# A malformed baseline is bad input with FILE:LINE.
printf '# ok\nresult|grow|capacity\nnot a signature\n' >"$scratch/bad.baseline"
run --traces 40 --backend "$wrong" --baseline "$scratch/bad.baseline"
status=$?
[ "$status" = 2 ] || fail "malformed baseline: exit $status, want 2"
grep -q "bad.baseline:3: 'not a signature' is not a finding signature" "$scratch/out" ||
  fail "malformed baseline: no FILE:LINE message"

# A backend that declares append_atomicity=token and appends of at most 3 tokens: every
# generated trace carries the variant and respects the count, and the campaign agrees.
variant="exec:$backend --profile-line 'config append_atomicity=token' --profile-line 'count append 1 3'"
run --backend "$variant" --traces 100
status=$?
[ "$status" = 0 ] || fail "declared variant: exit $status, want 0"
"$kvtrace" gen --seed 4 --ops 300 --backend "$variant" >"$scratch/out" 2>&1
grep -q "^config .*append_atomicity=token" "$scratch/out" || fail "generated config lacks the variant"
if grep -Eq '^append [0-9]+ ([4-9]|[0-9]{2,})$' "$scratch/out"; then fail "an append over the count range"; fi
# The same backend without the declaration disagrees with the model under the default rule.
"$kvtrace" gen --seed 4 --ops 300 --backend "$variant" | sed 's/ append_atomicity=token//' >"$scratch/op.trace"
"$kvtrace" replay --backend "exec:$backend" "$scratch/op.trace" >"$scratch/out" 2>&1
status=$?
[ "$status" = 0 ] || fail "the default rule on the host backend: exit $status"

[ "$failures" = 0 ] && echo "keep_going_test: all passed"
exit $((failures > 0))
