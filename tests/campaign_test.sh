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

# 3. The report: well-formed XHTML, self-contained (no script, nothing fetched), one chart per
#    series with both axes labelled, the verdict first and the same in all three files, the summary
#    in order, the shrunk trace inline; "no findings" in words; history.jsonl bounded.
dir="$work/report"
mkdir -p "$dir/findings"
printf 'started\t2026-01-02T22:00:00Z\nended\t2026-01-02T22:02:05Z\nduration_s\t125\nminutes\t2\njobs\t1\n' >"$dir/run.tsv"
printf '2\t100\t150\t25\t900\n10\t400\t700\t120\t1200\n20\t450\t800\t140\t1100\n' >"$dir/stats.tsv"
printf 'new\tresult|append|ok|capacity_exceeded\tcampaign/findings/crash-1\tcampaign/findings/crash-1.min.trace\n' >"$dir/findings.tsv"
printf 'kvtrace 1\nconfig page_size=1 max_pages=1\nappend 1 <2>\n' >"$dir/findings/crash-1.min.trace"
"$report_tool" "$dir" || fail "campaign_report exited $?"
xmllint --noout "$dir/report.html" || fail "report.html is not well formed"
[ "$(grep -c '<polyline class="series"' "$dir/report.html")" -eq 3 ] || fail "report.html lacks the 3 chart series"
for chart in coverage corpus execs; do
  grep -q "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" id=\"chart-$chart\"" "$dir/report.html" ||
    fail "no inline SVG chart-$chart"
done
[ "$(grep -c 'class="axis-label x-label"' "$dir/report.html")" -eq 3 ] || fail "not every chart labels its x axis"
grep -q '>coverage (edges)</text>' "$dir/report.html" || fail "the coverage chart's y axis has no label"
grep -Eq '<script|<link|src=|url\(' "$dir/report.html" && fail "report.html loads something (not self-contained)"
grep -Eo 'https?://[^"]*' "$dir/report.html" | grep -vxE 'http://www.w3.org/(2000/svg|1999/xhtml)' &&
  fail "report.html names a URL (not self-contained)"
grep -q '<style>' "$dir/report.html" || fail "report.html has no inline style"
grep -q 'append 1 &lt;2&gt;' "$dir/report.html" || fail "report.html lacks the escaped shrunk trace"
grep -q 'build/dev/bin/kvtrace replay campaign/findings/crash-1.min.trace' "$dir/report.html" || fail "no replay command"
grep -q '"new_findings": 1' "$dir/report.json" || fail "report.json: $(cat "$dir/report.json")"
grep -q '"text": "1 new finding."' "$dir/report.json" || fail "report.json verdict: $(cat "$dir/report.json")"
grep -q '^\*\*Verdict: 1 new finding.\*\*$' "$dir/report.md" || fail "report.md verdict: $(cat "$dir/report.md")"
grep -q 'Verdict: 1 new finding.</p>' "$dir/report.html" || fail "report.html verdict"
grep -q 'crash-1.min.trace' "$dir/report.md" || fail "report.md lacks the finding"
[ "$(grep -E -m3 -o '^- (Started|Ended|Duration)' "$dir/report.md" | tr '\n' ,)" = "- Started,- Ended,- Duration," ] ||
  fail "report.md summary order: $(cat "$dir/report.md")"
grep -q '^- Duration: 2 min 5 s$' "$dir/report.md" || fail "report.md: no duration"
[ "$(grep -c . "$dir/history.jsonl")" -eq 1 ] || fail "history.jsonl: $(cat "$dir/history.jsonl")"
"$report_tool" "$dir" || fail "campaign_report (again) exited $?"
[ "$(grep -c . "$dir/history.jsonl")" -eq 1 ] || fail "a second report of the same run added a history line"
# No findings: said in words in all three; history keeps the last 60 runs.
empty="$work/report-empty"
mkdir -p "$empty"
printf 'started\t2026-01-03T22:00:00Z\nexecs\t5000\n' >"$empty/run.tsv"
for i in $(seq 1 70); do printf '{"started":"2025-01-01T00:00:%02dZ","coverage":%d}\n' "$i" "$i"; done >"$empty/history.jsonl"
printf 'not json\n{"started":5}\n' >>"$empty/history.jsonl"  # skipped, with a warning
"$report_tool" "$empty" || fail "campaign_report (no findings) exited $?"
grep -q 'Verdict: Nothing new: no findings (no divergence or crash in 5,000 execs).' "$empty/report.md" ||
  fail "no-findings verdict: $(cat "$empty/report.md")"
grep -q '"text": "Nothing new: no findings' "$empty/report.json" || fail "report.json (no findings): $(cat "$empty/report.json")"
grep -q 'No findings: no divergence or crash' "$empty/report.html" || fail "report.html does not say no findings"
[ "$(grep -c . "$empty/history.jsonl")" -eq 60 ] || fail "history.jsonl not bounded to 60 runs"
tail -1 "$empty/history.jsonl" | grep -q '"started":"2026-01-03T22:00:00Z"' || fail "this run is not history's last line"
# A failing corpus file comes first in the verdict.
printf 'corpus_failed\tyes\n' >>"$empty/run.tsv"
"$report_tool" "$empty" || fail "campaign_report (corpus failed) exited $?"
grep -q '^\*\*Verdict: The corpus replay FAILED (see .*/failures). Nothing new: no findings' "$empty/report.md" ||
  fail "corpus failure verdict: $(cat "$empty/report.md")"

# 4. The fuzz mode on a stub fuzzer: a finding is kept with its shrunk trace, Ctrl-C (SIGINT) and
#    SIGTERM stop the fuzzer and still write the report, a rerun on the same --out resumes from the
#    corpus and marks earlier findings known, --jobs reaches libFuzzer as -fork.
stub_fuzzer() {
  local tree="$1"
  mkdir -p "$tree/build/fuzz/bin"
  cp "$report_tool" "$tree/build/dev/bin/campaign_report"
  # kvtrace: shrink copies its input to -o; replaying a shrunk finding exits STUB_REPLAY_STATUS
  # (default 1: it still fails); everything else just echoes.
  cat >"$tree/build/dev/bin/kvtrace" <<'STUB'
#!/bin/bash
if [ "$1" = shrink ]; then cp "$2" "$4"; exit 0; fi
if [ "$1" = replay ] && [[ "${!#}" == *.min.trace ]]; then exit "${STUB_REPLAY_STATUS:-1}"; fi
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
if [ -z "${STUB_NO_FINDINGS:-}" ]; then
  echo "input $n" >"${prefix}crash-stub$n"
  printf '# signature: result|append|ok|capacity_exceeded\nkvtrace 1\nconfig page_size=1 max_pages=1\nappend 1 1\n' >"${prefix}crash-stub$n.trace"
fi
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
# A git checkout: the report names its commit.
git -C "$tree" init -q && git -C "$tree" add -A &&
  git -C "$tree" -c user.name=test -c user.email=test@localhost commit -qm stub || fail "git init of the stub tree"
out="$work/fuzz-out"
run_and_signal "$tree" "$out" INT; status=$?
log=$(cat "$work/campaign.log")
[ "$status" -eq 1 ] || fail "SIGINT run: exit $status, expected 1 (a new finding): $log"
grep -q -- '-fork=2' "$out/fuzzer-args" 2>/dev/null || fail "--jobs 2 did not reach libFuzzer as -fork=2"
grep -q '^interrupted	yes' "$out/run.tsv" 2>/dev/null || fail "SIGINT run: run.tsv does not say interrupted: $log"
grep -q "^commit	$(git -C "$tree" rev-parse --short=12 HEAD)\$" "$out/run.tsv" || fail "SIGINT run: run.tsv lacks the commit: $(cat "$out/run.tsv")"
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
grep -q '^Verdict: Nothing new: 1 known finding still failing.$' "$work/campaign.log" ||
  fail "rerun: the campaign does not print the verdict: $log"
[ "$(grep -c . "$out/history.jsonl")" -eq 2 ] || fail "rerun: history.jsonl: $(cat "$out/history.jsonl")"
[ "$(grep -c '^| 20[0-9-]* [0-9:]*' "$out/report.md")" -eq 2 ] || fail "rerun: report.md trend rows: $(cat "$out/report.md")"
# A third run that finds nothing, the finding's shrunk trace passing now: fixed since the last run.
export STUB_NO_FINDINGS=1 STUB_REPLAY_STATUS=0
run_and_signal "$tree" "$out" TERM; status=$?
unset STUB_NO_FINDINGS STUB_REPLAY_STATUS
log=$(cat "$work/campaign.log")
[ "$status" -eq 0 ] || fail "third run: exit $status, expected 0: $log"
grep -q '^Verdict: Nothing new: no open findings, 1 fixed since the last run.$' "$work/campaign.log" ||
  fail "third run: not fixed since the last run: $log"
grep -q '"fixed_since_last_run": 1' "$out/report.json" || fail "third run: report.json: $(cat "$out/report.json")"
grep -q 'Fixed since the last run' "$out/report.html" || fail "third run: report.html lists no fixed finding"

[ "$failures" -eq 0 ] && echo "campaign_test: all checks passed"
exit $((failures > 0))
