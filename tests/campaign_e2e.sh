#!/usr/bin/env bash
# Nightly (not in tools/test: two scratch builds, minutes): tools/campaign for real on a mutant.
# It must report the planted bug as a shrunk kvtrace file that `kvtrace replay` reproduces on the
# mutant and that passes on the real code; with --jobs 2; SIGTERM in the fuzz phase keeps findings
# and corpus and writes the report; a rerun on the same --out resumes (the finding is known, its
# shrunk trace replayed and still failing, both runs in the report's trend).
# Usage: tests/campaign_e2e.sh [MUTANT (capacity_off_by_one)] [MINUTES (1)]
# Needs build/dev/bin/kvtrace of the real code (tools/build dev). Exit 0 when every check passes.
set -uo pipefail
cd "$(dirname "$0")/.."
mutant="${1:-capacity_off_by_one}" minutes="${2:-1}"
root=$PWD
scratch="$root/build/campaign-e2e/$mutant"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
[ -x build/dev/bin/kvtrace ] || { echo "campaign_e2e: build/dev/bin/kvtrace is missing (tools/build dev)"; exit 2; }

# The mutant applied to a scratch copy of the tree (tools/mutants --prepare: kept between runs, so
# only what changed rebuilds); the campaign runs in its src/ ($tree).
mkdir -p "$scratch"
if ! KV_MUTANTS_SCRATCH="$scratch" tools/mutants --prepare "$mutant" >"$scratch/prepare.log" 2>&1; then
  tail -20 "$scratch/prepare.log"; echo "campaign_e2e: $mutant.patch does not apply or build"; exit 2
fi
tree=$(sed -n 's/^src: //p' "$scratch/prepare.log")
rm -rf "$tree/out"

# 1. A real campaign on the mutant, two workers: exit 1 and one new, shrunk finding.
echo "== campaign on mutant $mutant, $minutes min, --jobs 2"
(cd "$tree" && tools/campaign --minutes "$minutes" --jobs 2 --out out) >"$scratch/campaign.log" 2>&1
status=$?
tail -15 "$scratch/campaign.log"
[ "$status" -eq 1 ] || fail "campaign exit $status, expected 1 (a new finding)"
minimal=$(awk -F'\t' '$1 == "new" { print $4; exit }' "$tree/out/findings.tsv" 2>/dev/null)
if [ -z "$minimal" ] || [ ! -s "$tree/$minimal" ]; then
  fail "no new finding with a minimal trace in out/findings.tsv"
else
  echo "finding: $minimal ($(grep -vc '^#' "$tree/$minimal") lines)"
  (cd "$tree" && build/dev/bin/kvtrace replay "$minimal" >/dev/null 2>&1)
  [ $? -eq 1 ] || fail "kvtrace replay on the mutant does not reproduce $minimal"
  build/dev/bin/kvtrace replay "$tree/$minimal" >/dev/null 2>&1 ||
    fail "$minimal also fails on the real code (not the planted bug)"
fi
for file in report.md report.json report.html; do
  [ -s "$tree/out/$file" ] || fail "out/$file missing"
done
grep -q '^\*\*Verdict: .*1 new finding' "$tree/out/report.md" || fail "the report's verdict does not say 1 new finding"

# 2. SIGTERM during the fuzz phase of a rerun on the same --out: the report is still written, the
#    corpus kept, the finding known (resumed).
echo "== rerun on the same --out, SIGTERM during the fuzz phase"
corpus_before=$(ls "$tree/out/corpus" | wc -l)
set -m
(cd "$tree" && exec tools/campaign --minutes "$minutes" --out out) >"$scratch/rerun.log" 2>&1 &
pid=$!
set +m
waited=0
until grep -q '^  [0-9]* s  #' "$scratch/rerun.log" 2>/dev/null || [ "$waited" -ge 600 ]; do
  sleep 1; waited=$((waited + 1))
done
sleep 5
kill -TERM "$pid"
wait "$pid"
status=$?
tail -8 "$scratch/rerun.log"
[ "$status" -le 1 ] || fail "rerun exit $status"
grep -q '^interrupted	yes' "$tree/out/run.tsv" || fail "run.tsv does not say interrupted"
grep -q '^known	' "$tree/out/findings.tsv" || fail "the first run's finding is not marked known"
corpus_after=$(ls "$tree/out/corpus" | wc -l)
[ "$corpus_after" -gt 0 ] || fail "the corpus is gone after SIGTERM"
echo "corpus: $corpus_before files before the rerun, $corpus_after after"
[ -s "$tree/out/report.html" ] || fail "no report after SIGTERM"
grep -q '^\*\*Verdict: .*Nothing new: 1 known finding still failing' "$tree/out/report.md" ||
  fail "the rerun's verdict does not say the finding is known and still failing"
[ "$(grep -c . "$tree/out/history.jsonl")" -eq 2 ] || fail "history.jsonl does not have both runs"

[ "$failures" -eq 0 ] && echo "campaign_e2e: all checks passed ($mutant)"
exit $((failures > 0))
