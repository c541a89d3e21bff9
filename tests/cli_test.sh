#!/usr/bin/env bash
# The kvtrace command line end to end: exit statuses 0/1/2, FILE:LINE messages, fmt and gen stability.
# Usage: tests/cli_test.sh PATH/TO/kvtrace   (run by CTest from the repository root)
set -u
kvtrace=$1
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failures=0
failures_before=$(find failures 2>/dev/null | sort)

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
expect_status 2 "worst status wins" "$kvtrace" replay --artifacts "$scratch/a" "$scratch/bad.trace" "$scratch/binary.trace"
expect_status 2 "missing file" "$kvtrace" replay "$scratch/none.trace"
expect_status 2 "unknown option" "$kvtrace" replay --colour corpus/seeds/fork-errors.trace
expect_status 2 "unknown backend" "$kvtrace" replay --backend tpu corpus/seeds/fork-errors.trace
expect_status 2 "unknown command" "$kvtrace" frobnicate

# Streamed replay (docs/measurements/replay-memory.md): pieces of at most 4096 ops; a divergence deep in the
# file names its line and its artifact holds the whole prefix; a line that does not parse, after
# ops ran, is bad input (exit 2) naming FILE:LINE; an earlier divergence wins over it; pipes work.
"$kvtrace" gen --seed 4 --ops 9000 --expect -o "$scratch/long.trace"
awk 'NR >= 8000 && !done && / => ok/ { sub(/ => ok.*$/, " => unknown_sequence"); done = NR } { print }
     END { print done > "/dev/stderr" }' "$scratch/long.trace" >"$scratch/late.trace" 2>"$scratch/late.line"
late_line=$(cat "$scratch/late.line")
expect_status 1 "divergence in a later piece" "$kvtrace" replay --artifacts "$scratch/late" "$scratch/late.trace"
expect_output "late.trace:$late_line: divergence (expectation)" "a later piece's divergence names its line"
late_tick=$(grep -o 'at tick [0-9]*' "$scratch/out" | head -1)
expect_status 1 "the late prefix reproduces" "$kvtrace" replay --artifacts "$scratch/late2" "$scratch"/late/late-tick*.trace
expect_output "$late_tick," "the late prefix fails at the same tick"
expect_status 1 "a late divergence from a pipe" sh -c "cat '$scratch/late.trace' | '$kvtrace' replay --artifacts '$scratch/late3' -"
cmp -s <(grep -v '^#' "$scratch"/late/late-tick*.trace) <(grep -v '^#' "$scratch"/late3/stdin-tick*.trace) || { echo "FAIL: the prefix from a pipe differs from the file's"; failures=$((failures + 1)); }
{ cat "$scratch/long.trace"; echo "allocate 1"; } >"$scratch/tail.trace"
expect_status 2 "a parse error after 9000 ops" "$kvtrace" replay "$scratch/tail.trace"
expect_output "tail.trace:$(($(wc -l <"$scratch/long.trace") + 1)): unknown op 'allocate' (the 9000 ops before it ran and agreed)" "a late parse error names FILE:LINE"
{ cat "$scratch/late.trace"; echo "allocate 1"; } >"$scratch/both.trace"
expect_status 1 "an earlier divergence wins over a later parse error" "$kvtrace" replay --artifacts "$scratch/both" "$scratch/both.trace"
expect_output "both.trace:$late_line: divergence (expectation)" "the earlier divergence is reported"
expect_status 0 "a pipe as FILE" bash -c "'$kvtrace' replay <('$kvtrace' gen --seed 5 --ops 500 --expect)"

# Progress lines: on a terminal (`script` gives it one) every 2 s, here every 100 ms
# (KVTRACE_PROGRESS_MS sets the terminal's interval); when the output goes to a file, at most one
# per 30 s whatever KVTRACE_PROGRESS_MS says.
"$kvtrace" gen --seed 6 --ops 30000 -o "$scratch/slow.trace"
slow_replay="KVTRACE_PROGRESS_MS=100 '$kvtrace' replay --audit every --backend host '$scratch/slow.trace'"
started_ms=$(date +%s%3N)
expect_status 0 "a slow replay" sh -c "$slow_replay"
took_ms=$(($(date +%s%3N) - started_ms))
# (A replay slower than 30 s, e.g. under ASan on a loaded machine, may print its one line.)
if grep -q 'progress:' "$scratch/out" && ((took_ms < 30000)); then
  echo "FAIL: progress lines when stdout is not a terminal (the replay took ${took_ms} ms)"
  sed 's/^/  | /' "$scratch/out"; failures=$((failures + 1))
fi
expect_status 0 "a slow replay on a terminal" script -qec "$slow_replay" /dev/null
if ((took_ms >= 300)); then  # three intervals
  grep -qE '^progress: .*slow.trace: [0-9]+ ops, [0-9.]+ of [0-9.]+ MB read \([0-9]+%\), [0-9]+ ops/s, [0-9.]+ s' "$scratch/out" ||
    { echo "FAIL: no progress line on a terminal (the replay takes ${took_ms} ms)"; sed 's/^/  | /' "$scratch/out"; failures=$((failures + 1)); }
fi

# fmt is a fixed point, and gen is a pure function of its seed.
for file in corpus/seeds/*.trace; do
  "$kvtrace" fmt "$file" -o "$scratch/once.trace" && "$kvtrace" fmt "$scratch/once.trace" -o "$scratch/twice.trace"
  cmp -s "$scratch/once.trace" "$scratch/twice.trace" || { echo "FAIL: fmt not stable on $file"; failures=$((failures + 1)); }
done
"$kvtrace" gen --seed 11 --ops 300 --expect -o "$scratch/g1.trace"
"$kvtrace" gen --seed 11 --ops 300 --expect -o "$scratch/g2.trace"
cmp -s "$scratch/g1.trace" "$scratch/g2.trace" || { echo "FAIL: gen not deterministic"; failures=$((failures + 1)); }
expect_status 0 "gen --expect replays" "$kvtrace" replay --artifacts "$scratch/a" "$scratch/g1.trace"
for profile in batch fanout ids shapes pages pressure counters prefix device; do
  "$kvtrace" gen --seed 3 --ops 60 --profile "$profile" --expect -o "$scratch/p.trace"
  expect_status 0 "gen --profile $profile replays" "$kvtrace" replay --artifacts "$scratch/a" "$scratch/p.trace"
done
expect_status 2 "gen --profile unknown" "$kvtrace" gen --profile nosuch
expect_output "--profile: must be one of mixed|classic" "gen --profile names the profiles"
expect_status 0 "gen --stats" "$kvtrace" gen --stats --traces 3 --ops 20

# expect_no_output TEXT DESCRIPTION: the last command's output does not contain TEXT.
expect_no_output() {
  if grep -qF -- "$1" "$scratch/out"; then echo "FAIL: $2: output has '$1'"; sed 's/^/  | /' "$scratch/out"; failures=$((failures + 1)); fi
}

# Option errors name the option and what it accepts (CLI11); every command has --help.
expect_status 2 "--backend without a value" "$kvtrace" replay --backend
expect_output "--backend needs a value" "--backend without a value names it"
expect_status 2 "unknown option is named" "$kvtrace" replay --frobnicate corpus/seeds
expect_output "--frobnicate" "unknown option is named"
expect_status 2 "dash file name" "$kvtrace" replay -x.trace
expect_output "-x.trace" "dash file name is named"
expect_status 2 "memory budget 0" "$kvtrace" replay --memory-budget-mib 0 corpus/seeds
expect_output "--memory-budget-mib: must be a whole number from 1 to 1048576, got '0'" "memory budget message"
expect_status 2 "20-digit seed" "$kvtrace" campaign --seed 99999999999999999999
expect_output "--seed: must be a whole number from 0 to 18446744073709551615" "20-digit seed range"
expect_status 2 "repeated option" "$kvtrace" replay --backend host --backend all corpus/seeds
expect_output "--backend is given more than once" "repeated option"
expect_status 0 "--flag=value" "$kvtrace" replay --backend=host --artifacts="$scratch/a" corpus/seeds
expect_status 2 "unknown backend lists the names" "$kvtrace" replay --backend tpu corpus/seeds
expect_output "(this build has: host, hip-emu" "backend names listed"
expect_status 2 "gen bad option" "$kvtrace" gen --ops x
expect_output "--ops: must be a whole number" "gen names the option"
expect_status 2 "shrink without a file" "$kvtrace" shrink
expect_output "give the failing FILE" "shrink says what is missing"
expect_status 0 "version" "$kvtrace" --version
expect_output "kvtrace 1 and 2 files" "version text"
for command in replay fmt gen campaign shrink encode decode; do
  expect_status 0 "$command --help" "$kvtrace" "$command" --help
  expect_output "--help" "$command --help lists options"
done
expect_status 0 "help" "$kvtrace" help
for option in --backend --audit --memory-budget-mib --artifacts --json --junit --seed --traces --seconds --ops --expect --output --jobs --profile --stats; do
  expect_output "$option" "kvtrace help lists $option"
done
expect_output "fork SRC DST" "kvtrace help lists the ops"

# A UTF-8 byte order mark is accepted.
printf '\357\273\277kvtrace 1\nconfig page_size=1 max_pages=1\nalloc 1 => ok\n' >"$scratch/bom.trace"
expect_status 0 "byte order mark" "$kvtrace" replay --artifacts "$scratch/a" "$scratch/bom.trace"

# replay takes folders (recursive, sorted; an empty one passes) and - for stdin.
mkdir -p "$scratch/tree/b" "$scratch/tree/a" "$scratch/empty"
cp corpus/seeds/fork-errors.trace "$scratch/tree/b/"
cp corpus/seeds/step-batch.trace "$scratch/tree/a/"
expect_status 0 "folder replay" "$kvtrace" replay --artifacts "$scratch/a" "$scratch/tree"
expect_output "tree/a/step-batch.trace" "folder replay finds nested files"
[ "$(grep -c '^ok' "$scratch/out")" = 2 ] && head -1 "$scratch/out" | grep -q "tree/a/" ||
  { echo "FAIL: folder replay not sorted"; failures=$((failures + 1)); }
expect_status 0 "empty folder" "$kvtrace" replay "$scratch/empty"
expect_status 0 "corpus/README.md's commands" "$kvtrace" replay --artifacts "$scratch/a" corpus/regressions
expect_status 0 "stdin" sh -c "'$kvtrace' replay - <corpus/seeds/step-batch.trace"
expect_status 1 "stdin failure" sh -c "'$kvtrace' replay --artifacts '$scratch/stdin' - <'$scratch/bad.trace'"
ls "$scratch"/stdin/stdin-tick*.trace >/dev/null 2>&1 || { echo "FAIL: stdin artifact"; failures=$((failures + 1)); }

# Artifacts are unique and stable: same name + same tick but other ops -> two files; replaying an
# artifact does not stack suffixes; replaying the same failure again reuses its file.
mkdir -p "$scratch/x" "$scratch/y"
sed 's/^alloc 4 => capacity_exceeded/alloc 4 => ok/' corpus/seeds/capacity-at-max-pages.trace >"$scratch/x/same.trace"
sed -e 's/^alloc 4 => capacity_exceeded/alloc 4 => ok/' -e 's/^alloc 1 => ok/alloc 9 => ok/' corpus/seeds/capacity-at-max-pages.trace >"$scratch/y/same.trace"
"$kvtrace" replay --artifacts "$scratch/art" "$scratch/x/same.trace" "$scratch/y/same.trace" >/dev/null
[ "$(ls "$scratch/art" | wc -l)" = 2 ] || { echo "FAIL: artifacts overwrite each other: $(ls "$scratch/art")"; failures=$((failures + 1)); }
"$kvtrace" replay --artifacts "$scratch/art" "$scratch/x/same.trace" >/dev/null
[ "$(ls "$scratch/art" | wc -l)" = 2 ] || { echo "FAIL: the same failure got a second name"; failures=$((failures + 1)); }
first=$(ls "$scratch/art" | head -1)
"$kvtrace" replay --artifacts "$scratch/art" "$scratch/art/$first" >/dev/null
ls "$scratch/art" | grep -q 'tick[0-9]*-.*tick' && { echo "FAIL: artifact names stack: $(ls "$scratch/art")"; failures=$((failures + 1)); }
[ "$(ls "$scratch/art" | wc -l)" = 2 ] || { echo "FAIL: replaying an artifact made a new name: $(ls "$scratch/art")"; failures=$((failures + 1)); }

# I/O errors say why; fmt -o and gen -o create missing folders.
expect_status 2 "missing file says why" "$kvtrace" replay "$scratch/none.trace"
expect_output "No such file or directory" "missing file reason"
expect_status 0 "gen -o into a new folder" "$kvtrace" gen --ops 5 -o "$scratch/new/dir/g.trace"
expect_status 0 "fmt -o into a new folder" "$kvtrace" fmt "$scratch/new/dir/g.trace" -o "$scratch/new2/f.trace"
touch "$scratch/file"
expect_status 2 "write under a file says why" "$kvtrace" gen --ops 5 -o "$scratch/file/g.trace"
expect_output "Not a directory" "write error reason"

# shrink: its own exit status for a passing trace, and per-line comments are dropped.
expect_status 3 "shrink of a passing trace" "$kvtrace" shrink "$scratch/g1.trace" -o "$scratch/min.trace"
{ echo "kvtrace 1"; echo "# purpose"; echo "config page_size=4 max_pages=3 eviction=none"
  echo "# a comment about alloc 1"; echo "alloc 1 => ok # inline"; echo "alloc 2"; echo "# another"
  echo "alloc 3"; echo "alloc 4 => ok"; echo "# trailing"; } >"$scratch/commented.trace"
expect_status 0 "shrink a commented trace" "$kvtrace" shrink "$scratch/commented.trace" -o "$scratch/commented.min.trace"
grep -q "a comment about\|inline\|another\|trailing" "$scratch/commented.min.trace" &&
  { echo "FAIL: shrunk trace keeps per-line comments"; sed 's/^/  | /' "$scratch/commented.min.trace"; failures=$((failures + 1)); }

# --json and --junit: one record per file.
expect_status 2 "json/junit" "$kvtrace" replay --artifacts "$scratch/a" --json "$scratch/r.json" --junit "$scratch/r.xml" corpus/seeds/step-batch.trace "$scratch/bad.trace" "$scratch/none.trace"
grep -q '"status": "pass"' "$scratch/r.json" && grep -q '"status": "fail"' "$scratch/r.json" && grep -q '"status": "error"' "$scratch/r.json" ||
  { echo "FAIL: --json lacks a status"; failures=$((failures + 1)); }
grep -q '"artifact"' "$scratch/r.json" || { echo "FAIL: --json lacks the artifact"; failures=$((failures + 1)); }
grep -q 'tests="3" failures="1" errors="1"' "$scratch/r.xml" || { echo "FAIL: --junit counts"; sed 's/^/  | /' "$scratch/r.xml"; failures=$((failures + 1)); }

# replay --under-profile: our corpus under a backend's declared variants. Without it, a backend
# running under append_atomicity=token gets nearly every file skipped; with it, every file runs
# (expectations that depend on the variant are left to the model) and passes. A backend that
# declares a variant it does not implement (free_queue=single, which the protocol wrapper runs as
# split: --ignore-variant) fails; declared and implemented, it passes.
protocol="$(dirname "$kvtrace")/kv_protocol_backend"
expect_status 0 "skip outside a token-atomic profile" "$kvtrace" replay --artifacts "$scratch/a" --skip-outside-profile --backend "exec:$protocol --profile-line 'config append_atomicity=token'" corpus/
expect_output "files skipped: outside the profile" "the corpus is outside a variant profile"
expect_status 0 "corpus under a token-atomic profile" "$kvtrace" replay --artifacts "$scratch/a" --under-profile --skip-outside-profile --backend "exec:$protocol --profile-line 'config append_atomicity=token'" corpus/
expect_output "expectations depend on the variants; the model checks those lines" "under-profile notes dropped expectations"
grep -q "files skipped" "$scratch/out" && { echo "FAIL: --under-profile still skipped files"; sed 's/^/  | /' "$scratch/out"; failures=$((failures + 1)); }
expect_status 1 "a falsely declared variant" "$kvtrace" replay --artifacts "$scratch/a" --under-profile --skip-outside-profile --backend "exec:$protocol --profile-line 'config free_queue=single' --ignore-variant free_queue" corpus/
expect_status 0 "a truly declared variant" "$kvtrace" replay --artifacts "$scratch/a" --under-profile --skip-outside-profile --backend "exec:$protocol --profile-line 'config free_queue=single'" corpus/

# A campaign against a backend that declines an observation: it says so once, and its workers
# (each with its own backend process) agree with the model on everything else.
expect_status 0 "campaign with a declined observation" "$kvtrace" campaign --seed 1 --traces 30 --ops 60 --jobs 2 --artifacts "$scratch/c" --backend "exec:$protocol --corrupt-cache cached --profile-line 'decline cached'"
expect_output "not checked (declined in the profile of backend protocol-host): the cached=C field" "campaign names what it did not check"

# A generated file's `# generated:` header is the command that regenerates it, also when a
# backend's profile cut it from a longer trace (it named the longer length once).
cut_backend="exec:$(dirname "$kvtrace")/kv_protocol_backend --ops 'alloc append free'"
"$kvtrace" gen --seed 7 --ops 30 --backend "$cut_backend" >"$scratch/g1.trace" 2>&1
regenerate=$(sed -n 's/^# generated: kvtrace //p' "$scratch/g1.trace")
case "$regenerate" in
  *"--ops 30 --backend"*) eval "\"\$kvtrace\" $regenerate" >"$scratch/g2.trace" 2>&1
     cmp -s "$scratch/g1.trace" "$scratch/g2.trace" || { echo "FAIL: the # generated: command ($regenerate) does not regenerate the file"; diff "$scratch/g1.trace" "$scratch/g2.trace" | head; failures=$((failures + 1)); } ;;
  *) echo "FAIL: # generated: header '$regenerate' lacks --ops 30 and the backend"; failures=$((failures + 1)) ;;
esac

# campaign --jobs: independent seeds in parallel processes, one merged summary and --json record
# per trace.
expect_status 0 "campaign --jobs 2" "$kvtrace" campaign --seed 3 --traces 40 --ops 50 --jobs 2 --json "$scratch/c.json" --artifacts "$scratch/c"
expect_output "40 generated traces (2000 ops" "campaign merged summary"
expect_output "seeds 3..42" "campaign seed range"
[ "$(grep -c '"status":"pass"' "$scratch/c.json")" = 40 ] || { echo "FAIL: campaign --json has not 40 records"; failures=$((failures + 1)); }
# Each record names its trace's config (caching, variants); the summary counts the caching ones.
[ "$(grep -c '"config":"config page_size=' "$scratch/c.json")" = 40 ] || { echo "FAIL: campaign --json records lack their config"; failures=$((failures + 1)); }
caching=$(grep -c '"prefix_caching":true' "$scratch/c.json")
grep -q "\"prefix_caching_traces\":$caching[,}]" "$scratch/c.json" || { echo "FAIL: campaign --json summary does not count the $caching caching traces"; failures=$((failures + 1)); }

# campaign: seed and parameters first (flushed), SIGINT/SIGTERM finish the trace and print a summary
# and the resume command.
for signal in INT TERM; do
  "$kvtrace" campaign --seed 5 --traces 100000000 --artifacts "$scratch/c" >"$scratch/campaign.log" 2>&1 &
  pid=$!
  sleep 1
  grep -q "campaign seed=5 traces=100000000" "$scratch/campaign.log" || { echo "FAIL: campaign parameters not printed first"; failures=$((failures + 1)); }
  kill -"$signal" "$pid"
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && { echo "FAIL: campaign ignores SIG$signal"; kill -KILL "$pid"; failures=$((failures + 1)); }
  wait "$pid"
  status=$?
  cp "$scratch/campaign.log" "$scratch/out"
  [ "$status" = 130 ] || { echo "FAIL: campaign SIG$signal: exit $status, want 130"; failures=$((failures + 1)); }
  expect_output "resume: " "campaign SIG$signal prints the resume command"
  expect_output "generated traces" "campaign SIG$signal prints the summary"
done

# Tests write only under a temporary folder: nothing new in the repository's failures/.
[ "$(find failures 2>/dev/null | sort)" = "$failures_before" ] ||
  { echo "FAIL: a test wrote under ./failures (the repository root)"; failures=$((failures + 1)); }

[ "$failures" = 0 ] && echo "cli_test: all checks passed"
[ "$failures" = 0 ]
