#!/usr/bin/env bash
# tools/campaign end to end on stubs: build output and phase headers, flag defaults, the report.
# Usage: campaign_test.sh CAMPAIGN_REPORT_BINARY   (run from the repository root)
set -uo pipefail
report_tool="$1"
root=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# A scratch tree with the real tools/campaign, a stub tools/build and a stub kvtrace.
make_tree() {
  local tree="$work/$1"
  mkdir -p "$tree/tools" "$tree/build/dev/bin" "$tree/corpus"
  cp "$root/tools/campaign" "$tree/tools/campaign"
  printf '#!/bin/sh\n%s\n' "$2" >"$tree/tools/build"
  printf '#!/bin/sh\necho "kvtrace $*"\n' >"$tree/build/dev/bin/kvtrace"
  chmod +x "$tree/tools/build" "$tree/build/dev/bin/kvtrace"
  echo "$tree"
}

# 1. A failing build shows its output and exits 2; every phase has a header line.
tree=$(make_tree broken 'echo "main.cpp:3: error: expected ; before }"; exit 1')
output=$("$tree/tools/campaign" --minutes 1 2>&1); status=$?
[ "$status" -eq 2 ] || fail "broken build: exit $status, expected 2"
grep -q 'main.cpp:3: error: expected ;' <<<"$output" || fail "broken build: compiler output not shown: $output"
grep -q '^== build' <<<"$output" || fail "no '== build' phase header: $output"

tree=$(make_tree random 'exit 0')
output=$("$tree/tools/campaign" --random 2>&1) || fail "random mode failed: $output"
for header in '^== build' '^== corpus' '^== campaign'; do
  grep -q "$header" <<<"$output" || fail "random mode: no '$header' header: $output"
done

# 2. One flag keeps the other defaults (--seed used to drop --traces 10000 --ops 200).
output=$("$tree/tools/campaign" --seed 5 2>&1)
grep -q 'kvtrace campaign --traces 10000 --ops 200 --seed 5$' <<<"$output" ||
  fail "--seed dropped the defaults: $output"
output=$("$tree/tools/campaign" --random --ops 7 --traces 3 2>&1)
grep -q 'kvtrace campaign --traces 3 --ops 7$' <<<"$output" || fail "--ops/--traces: $output"

# 3. The report: well-formed XHTML with the inline SVG chart, JSON and Markdown.
dir="$work/report"
mkdir -p "$dir"
printf 'minutes\t2\njobs\t1\n' >"$dir/run.tsv"
printf '2\t100\t150\t25\t900\n10\t400\t700\t120\t1200\n20\t450\t800\t140\t1100\n' >"$dir/stats.tsv"
printf 'new\tresult|append|ok|capacity_exceeded\tcampaign/findings/crash-1\tcampaign/findings/crash-1.min.trace\n' >"$dir/findings.tsv"
"$report_tool" "$dir" || fail "campaign_report exited $?"
xmllint --noout "$dir/report.html" || fail "report.html is not well formed"
[ "$(grep -c '<polyline class="series"' "$dir/report.html")" -eq 3 ] || fail "report.html lacks the 3 chart series"
grep -q '<svg xmlns="http://www.w3.org/2000/svg" id="chart"' "$dir/report.html" || fail "no inline SVG chart"
grep -q '"new_findings": 1' "$dir/report.json" || fail "report.json: $(cat "$dir/report.json")"
grep -q 'crash-1.min.trace' "$dir/report.md" || fail "report.md lacks the finding"

[ "$failures" -eq 0 ] && echo "campaign_test: all checks passed"
exit $((failures > 0))
