#!/usr/bin/env bash
# tools/coverage without a coverage build: its argument handling and the lcov -> uncovered list.
set -euo pipefail
cd "$(dirname "$0")/.."
tool=tools/coverage
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "coverage_tool_test: $*" >&2; exit 1; }

status() { set +e; "$tool" "$@" >"$tmp/out" 2>&1; echo $?; set -e; }
[ "$(status --help)" = 0 ] || fail "--help should exit 0"
grep -q 'usage: tools/coverage' "$tmp/out" || fail "--help should print the usage"
for bad in "--bogus" "--campaign-s" "--campaign-s x" "--cases 0" "--cases -3" "--uncovered" \
           "--uncovered $tmp/missing.lcov"; do
  # shellcheck disable=SC2086  # each case is several words on purpose
  [ "$(status $bad)" = 2 ] || fail "'$bad' should exit 2 (usage)"
  grep -q 'usage: tools/coverage' "$tmp/out" || fail "'$bad' should print the usage"
done

# An lcov file as llvm-cov export writes it, with a ccache-relative path and an absolute one.
cat >"$tmp/in.lcov" <<LCOV
SF:build/coverage/../../impl/b.cpp
DA:3,5
DA:4,0
BRDA:3,0,0,5
BRDA:3,0,1,0
BRDA:9,0,2,-
BRDA:9,0,3,-
end_of_record
SF:$(pwd)/impl/a.cpp
DA:10,0
DA:2,0
BRDA:2,0,0,1
BRDA:2,0,1,1
end_of_record
LCOV
cat >"$tmp/expected" <<'TXT'
impl/a.cpp:2: line not run
impl/a.cpp:10: line not run
impl/b.cpp:3: condition 0 never false
impl/b.cpp:4: line not run
impl/b.cpp:9: condition 1 never false
impl/b.cpp:9: condition 1 never true
TXT
"$tool" --uncovered "$tmp/in.lcov" >"$tmp/actual"
diff -u "$tmp/expected" "$tmp/actual" || fail "--uncovered listed the wrong lines"
echo "coverage_tool_test: ok"
