#!/usr/bin/env bash
# C ABI version 2 through the example library (examples/c-abi-host, libkvh_host.so): seeded
# campaigns of the serving, window, hybrid and prefix profiles and under declared variants agree
# with the model (0 findings), and each of the library's planted bugs is found.
# Usage: tests/so_v2_test.sh PATH/TO/kvtrace PATH/TO/libkvh_host.so
set -u
kvtrace=$1
backend="so:$2"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
unset KVH_HOST_BUG KVH_HOST_CONFIG KVH_HOST_ABORT_ON

# clean PROFILE TRACES [VARIANTS]: a campaign with no finding.
clean() {
  KVH_HOST_CONFIG=${3:-} "$kvtrace" campaign --seed 1 --traces "$2" --jobs 2 --profile "$1" \
    --backend "$backend" --artifacts "$scratch/a" >"$scratch/out.txt" 2>&1 ||
    { cat "$scratch/out.txt"; fail "profile $1 ${3:-}: a finding through C ABI version 2"; }
  grep -q "^ok    $2 generated traces .*, 0 findings" "$scratch/out.txt" ||
    { cat "$scratch/out.txt"; fail "profile $1 ${3:-}: no summary of $2 traces"; }
  echo "ok    profile $1 ${3:-}: $(grep '^ok ' "$scratch/out.txt")"
}
clean serving 300
clean window 300
clean hybrid 300
clean prefix 100
clean serving 100 "reuse_order=fifo rejected_slots=released"
clean prefix 60 "append_atomicity=token reuse_order=lifo duplicate_keys=kept decode_caching=on"

# planted BUG PROFILE EXPECTED: the bug is found as a divergence matching EXPECTED.
planted() {
  KVH_HOST_BUG=$1 "$kvtrace" campaign --seed 1 --traces 40 --jobs 2 --profile "$2" \
    --backend "$backend" --artifacts "$scratch/b" >"$scratch/out.txt" 2>&1
  status=$?
  [ "$status" = 1 ] || { cat "$scratch/out.txt"; fail "bug $1: exit status $status, not 1 (a finding)"; }
  grep -q "^FAIL  trace seed [0-9]*: divergence ($3)" "$scratch/out.txt" ||
    { cat "$scratch/out.txt"; fail "bug $1: no divergence of kind $3"; }
  echo "ok    bug $1 found: $(grep -m1 '^FAIL ' "$scratch/out.txt")"
}
planted drop-hit prefix result
planted groups-reversed hybrid prefix
