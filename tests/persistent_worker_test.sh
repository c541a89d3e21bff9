#!/usr/bin/env bash
# A crash in a persistent campaign worker is reported exactly as an isolated run reports it: the
# same kind, tick, op and signature as `kvtrace replay` of that trace in a fresh child, and the
# campaign goes on with the seeds after it.
# Usage: tests/persistent_worker_test.sh PATH/TO/kvtrace PATH/TO/libkvh_host.so
set -u
kvtrace=$1
backend="so:$2"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# The example cache aborts on every truncate; a campaign meets one in its first traces.
export KVH_HOST_ABORT_ON=truncate
"$kvtrace" campaign --seed 1 --traces 40 --ops 60 --jobs 2 --profile classic --keep-going \
  --backend "$backend" --artifacts "$scratch/c" --json "$scratch/c.json" >"$scratch/campaign.txt" 2>&1
grep -q "^note  worker [01] died of signal 6 (Aborted) running trace seed [0-9]*; running it again in a fresh process" "$scratch/campaign.txt" ||
  { cat "$scratch/campaign.txt"; fail "no worker died and was replaced"; }
seed=$(sed -n 's/^note  worker [01] died of signal 6 (Aborted) running trace seed \([0-9]*\);.*/\1/p' "$scratch/campaign.txt" | head -1)
campaign_line=$(grep -m1 "^FAIL  trace seed $seed: divergence" "$scratch/campaign.txt" | sed "s/^FAIL  trace seed $seed: //")
[ -n "$campaign_line" ] || { cat "$scratch/campaign.txt"; fail "trace seed $seed is not reported"; }
case "$campaign_line" in
  "divergence (crash) at tick "*": truncate "*) ;;
  *) fail "trace seed $seed reported as '$campaign_line', not as a crash at a truncate" ;;
esac
grep -A3 "^FAIL  trace seed $seed:" "$scratch/campaign.txt" | grep -q "killed by signal SIGABRT (Aborted)" ||
  { cat "$scratch/campaign.txt"; fail "the report does not say how it died"; }
# The campaign went on: every seed has a record.
[ "$(grep -c '"status":' "$scratch/c.json")" = 40 ] || fail "the campaign stopped at the crash: $(grep -c '"status":' "$scratch/c.json") of 40 records"

# The same trace replayed in a fresh child: the same divergence line.
"$kvtrace" gen --seed "$seed" --ops 60 --profile classic --backend "$backend" >"$scratch/t.trace"
"$kvtrace" replay --backend "$backend" --replays 1 --artifacts "$scratch/r" "$scratch/t.trace" >"$scratch/replay.txt" 2>&1
replay_line=$(grep -m1 "^FAIL  " "$scratch/replay.txt" | sed 's/^FAIL  [^ ]*: //; s/, line [0-9]*//')
[ "$campaign_line" = "$replay_line" ] ||
  fail "campaign reported '$campaign_line', an isolated replay '$replay_line'"
echo "persistent_worker_test: seed $seed reported as '$campaign_line' by both"
