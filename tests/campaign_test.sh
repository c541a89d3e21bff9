#!/usr/bin/env bash
# tools/campaign end to end on stubs: build output and phase headers, flag defaults, the report,
# and the fuzz mode on a stub fuzzer (findings kept, SIGINT/SIGTERM, resume, --jobs).
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

# 4. The fuzz mode on a stub fuzzer: a finding is kept with its shrunk trace, Ctrl-C (SIGINT) and
#    SIGTERM stop the fuzzer and still write the report, a rerun on the same --out resumes from the
#    corpus and marks earlier findings known, --jobs reaches libFuzzer as -fork.
stub_fuzzer() {
  local tree="$1"
  mkdir -p "$tree/build/fuzz/bin"
  cp "$report_tool" "$tree/build/dev/bin/campaign_report"
  # kvtrace: shrink copies its input to -o; everything else just echoes.
  cat >"$tree/build/dev/bin/kvtrace" <<'STUB'
#!/bin/bash
if [ "$1" = shrink ]; then cp "$2" "$4"; exit 0; fi
echo "kvtrace $*"
STUB
  cat >"$tree/build/fuzz/bin/fuzz_differential" <<'STUB'
#!/bin/bash
# libFuzzer stand-in: -merge=1 copies the second folder into the first; else it writes one corpus
# file and one finding, then prints fork-mode stats lines until it is stopped.
prefix="" merge=0 dirs=()
for arg in "$@"; do
  case "$arg" in
    -artifact_prefix=*) prefix="${arg#*=}" ;;
    -merge=1) merge=1 ;;
    -*) ;;
    *) dirs+=("$arg") ;;
  esac
done
if [ "$merge" = 1 ]; then cp "${dirs[1]}"/* "${dirs[0]}"/; exit 0; fi
echo "$*" >"${prefix}../fuzzer-args"
for i in $(seq 1 20000); do :; done  # some CPU time for the campaign's execs per CPU second
n=$(ls "${dirs[0]}" | wc -l)
echo "unit $n" >"${dirs[0]}/unit-$n"
echo "input $n" >"${prefix}crash-stub$n"
printf '# signature: result|append|ok|capacity_exceeded\nkvtrace 1\nconfig page_size=1 max_pages=1\nappend 1 1\n' >"${prefix}crash-stub$n.trace"
for i in $(seq 1 600); do
  echo "#$((i * 100)): cov: $((10 + i)) ft: 20 corp: $((n + 1)) exec/s 100 oom/timeout/crash: 0/0/1 time: ${i}s"
  sleep 0.1
done
STUB
  chmod +x "$tree/build/dev/bin/kvtrace" "$tree/build/fuzz/bin/fuzz_differential"
}

# Runs the campaign in the background (job control on: a background job of a script otherwise
# ignores SIGINT), waits for the fuzzer's first stats line, sends SIGNAL, and waits for the end.
run_and_signal() {
  local tree="$1" out="$2" signal="$3"
  rm -f "$work/campaign.log"  # else the wait below may see the last run's lines
  set -m
  "$tree/tools/campaign" --minutes 1 --jobs 2 --out "$out" >"$work/campaign.log" 2>&1 &
  local pid=$! waited=0
  set +m
  until grep -q '^  [0-9]* s  #' "$work/campaign.log" 2>/dev/null || [ "$waited" -ge 300 ]; do
    sleep 0.1; waited=$((waited + 1))
  done
  kill "-$signal" "$pid"
  wait "$pid"
}

tree=$(make_tree fuzz 'exit 0')
stub_fuzzer "$tree"
out="$work/fuzz-out"
run_and_signal "$tree" "$out" INT; status=$?
log=$(cat "$work/campaign.log")
[ "$status" -eq 1 ] || fail "SIGINT run: exit $status, expected 1 (a new finding): $log"
grep -q -- '-fork=2' "$out/fuzzer-args" 2>/dev/null || fail "--jobs 2 did not reach libFuzzer as -fork=2"
grep -q '^interrupted	yes' "$out/run.tsv" 2>/dev/null || fail "SIGINT run: run.tsv does not say interrupted: $log"
for file in report.md report.json report.html corpus/unit-0 findings/crash-stub0 findings/crash-stub0.min.trace; do
  [ -s "$out/$file" ] || fail "SIGINT run: $file missing: $log"
done
grep -q '^new	result|append|ok|capacity_exceeded	' "$out/findings.tsv" || fail "SIGINT run: findings.tsv: $(cat "$out/findings.tsv")"
grep -q '"new_findings": 1' "$out/report.json" || fail "SIGINT run: report.json: $(cat "$out/report.json")"
grep -q '"execs_per_cpu_s": "[0-9]' "$out/report.json" || fail "SIGINT run: report.json has no execs_per_cpu_s"
# The rerun on the same --out, stopped by SIGTERM: the corpus grows, the old finding is known and
# the same signature found again is a duplicate, so nothing is new (exit 0).
run_and_signal "$tree" "$out" TERM; status=$?
log=$(cat "$work/campaign.log")
[ "$status" -eq 0 ] || fail "SIGTERM rerun: exit $status, expected 0 (nothing new): $log"
[ -s "$out/corpus/unit-0" ] && [ -s "$out/corpus/unit-1" ] || fail "rerun did not resume the corpus: $(ls "$out/corpus")"
grep -q '^known	result|append|ok|capacity_exceeded	' "$out/findings.tsv" || fail "rerun: the first finding is not known: $(cat "$out/findings.tsv")"
grep -q '^duplicate	' "$out/findings.tsv" || fail "rerun: the second finding is not a duplicate: $(cat "$out/findings.tsv")"
grep -q '"new_findings": 0' "$out/report.json" || fail "rerun: report.json: $(cat "$out/report.json")"

[ "$failures" -eq 0 ] && echo "campaign_test: all checks passed"
exit $((failures > 0))
