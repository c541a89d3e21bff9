#!/usr/bin/env bash
# The kvtrace command line end to end: exit statuses 0/1/2, FILE:LINE messages, fmt and gen stability.
# Usage: tests/cli_test.sh PATH/TO/kvtrace   (run by CTest from the repository root)
set -u
kvtrace=$1
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failures=0

# expect_status WANT DESCRIPTION COMMAND...: runs COMMAND and checks its exit status.
expect_status() {
  local want=$1 what=$2
  shift 2
  "$@" >"$scratch/out" 2>&1
  local got=$?
  if [ "$got" != "$want" ]; then
    echo "FAIL: $what: exit $got, want $want"; sed 's/^/  | /' "$scratch/out"; failures=$((failures + 1))
  fi
}

# expect_output TEXT DESCRIPTION: the last command's output contains TEXT.
expect_output() {
  grep -qF -- "$1" "$scratch/out" || { echo "FAIL: $2: output lacks '$1'"; sed 's/^/  | /' "$scratch/out"; failures=$((failures + 1)); }
}

expect_status 0 "seeds replay" "$kvtrace" replay --artifacts "$scratch/a" corpus/seeds/*.trace

sed 's/^alloc 4 => capacity_exceeded/alloc 4 => ok/' corpus/seeds/capacity-at-max-pages.trace >"$scratch/bad.trace"
expect_status 1 "unmet expectation" "$kvtrace" replay --artifacts "$scratch/a" "$scratch/bad.trace"
expect_output "divergence (expectation)" "unmet expectation report"
expect_output "reproduce: " "reproduce command"
expect_status 1 "the written prefix reproduces" "$kvtrace" replay --artifacts "$scratch/b" "$scratch"/a/bad-tick*.trace

head -c 4096 /dev/urandom >"$scratch/random.trace"
printf 'kvtrace 1\nconfig page_size=1 max_pages=1\n\001\377\n' >"$scratch/binary.trace"
expect_status 2 "binary garbage" "$kvtrace" replay "$scratch/binary.trace"
expect_output "binary.trace:3: not UTF-8" "binary garbage names its line"
expect_status 2 "random bytes" "$kvtrace" replay "$scratch/random.trace"
expect_output "random.trace:" "random bytes name the file"
expect_status 2 "worst status wins" "$kvtrace" replay "$scratch/bad.trace" "$scratch/binary.trace"
expect_status 2 "missing file" "$kvtrace" replay "$scratch/none.trace"
expect_status 2 "unknown option" "$kvtrace" replay --colour corpus/seeds/fork-errors.trace
expect_status 2 "unknown backend" "$kvtrace" replay --backend tpu corpus/seeds/fork-errors.trace
expect_status 2 "unknown command" "$kvtrace" frobnicate

# fmt is a fixed point, and gen is a pure function of its seed.
for file in corpus/seeds/*.trace; do
  "$kvtrace" fmt "$file" -o "$scratch/once.trace" && "$kvtrace" fmt "$scratch/once.trace" -o "$scratch/twice.trace"
  cmp -s "$scratch/once.trace" "$scratch/twice.trace" || { echo "FAIL: fmt not stable on $file"; failures=$((failures + 1)); }
done
"$kvtrace" gen --seed 11 --ops 300 --expect -o "$scratch/g1.trace"
"$kvtrace" gen --seed 11 --ops 300 --expect -o "$scratch/g2.trace"
cmp -s "$scratch/g1.trace" "$scratch/g2.trace" || { echo "FAIL: gen not deterministic"; failures=$((failures + 1)); }
expect_status 0 "gen --expect replays" "$kvtrace" replay --artifacts "$scratch/a" "$scratch/g1.trace"
for profile in batch fanout ids shapes pages pressure; do
  "$kvtrace" gen --seed 3 --ops 60 --profile "$profile" --expect -o "$scratch/p.trace"
  expect_status 0 "gen --profile $profile replays" "$kvtrace" replay --artifacts "$scratch/a" "$scratch/p.trace"
done
expect_status 2 "gen --profile unknown" "$kvtrace" gen --profile nosuch
expect_status 0 "gen --stats" "$kvtrace" gen --stats --traces 3 --ops 20
expect_status 2 "shrink of a passing trace" "$kvtrace" shrink "$scratch/g1.trace" -o "$scratch/min.trace"

[ "$failures" = 0 ] && echo "cli_test: all checks passed"
[ "$failures" = 0 ]
