#!/usr/bin/env bash
# The Python adapter kit end to end: its digest and words, the example cache agreeing with the
# model on a campaign, and its planted bug (--bug) found and shrunk. Usage: kit_test.sh KVTRACE
set -uo pipefail
kvtrace=$1
here=$(cd "$(dirname "$0")" && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failures=0
fail() { echo "FAIL: $*"; sed 's/^/  | /' "$scratch/out" 2>/dev/null | tail -20; failures=$((failures + 1)); }

PYTHONPATH="$here" python3 - >"$scratch/out" 2>&1 <<'PY' || fail "kit unit checks"
import kvharness_backend as kh
assert kh.digest([]) == 0xCBF29CE484222325
assert kh.token_word(5, 0, 1, 0) >> 31 == 1 and kh.token_word(5, 0, 0, 0) >> 31 == 0
assert kh.token_value(3, 2, 1) == (3 << 29) | (2 << 21) | 1
assert len(kh.token_words(7, {"kv_heads": 2, "head_dim": 3, "layers": 2})) == 24
assert kh.parse_config("config page_size=4 max_pages=3")["eviction"] == "none"
PY

cache="python3 $here/example_cache.py"
"$kvtrace" campaign --seed 3 --traces 20 --ops 80 --jobs 2 --backend "exec:$cache" \
  --artifacts "$scratch/clean" >"$scratch/out" 2>&1
status=$?
[ "$status" = 0 ] || fail "the example cache disagrees with the model: exit $status"

"$kvtrace" campaign --seed 3 --traces 20 --ops 80 --jobs 2 --backend "exec:$cache --bug" \
  --artifacts "$scratch/bug" >"$scratch/out" 2>&1
status=$?
[ "$status" = 1 ] || fail "the planted bug was not found: exit $status"
grep -q "result|grow|capacity\|divergence" "$scratch/out" || fail "no divergence report for the bug"
ls "$scratch"/bug/*.min.trace >/dev/null 2>&1 || fail "no shrunk trace for the bug"

[ "$failures" = 0 ] && echo "kit_test: all passed"
exit $((failures > 0))
