#!/usr/bin/env bash
# mutants_report (tools/mutants' JSON writer): typed TSV records in, the JSON report out; bad
# records are refused with FILE:LINE and the reason.
set -uo pipefail
report=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
failed=0
fail() { echo "FAIL: $*"; failed=1; }
T=$'\t'

cat >"$dir/run.tsv" <<EOT
rc_params${T}str${T}max_success=1000 seed=1
killers${T}list${T}corpus,property
budget_s${T}num${T}
elapsed_s${T}num${T}12
skipped${T}list${T}
EOT
cat >"$dir/mutants.tsv" <<EOT
mutant:str${T}status:str${T}killed_by:str${T}time_to_kill_ms:num${T}property_kills:bool${T}note:str
evict_when_full${T}killed${T}corpus${T}78${T}true${T}
broken${T}build_failed${T}${T}${T}${T}does not build
EOT
cat >"$dir/killers.tsv" <<EOT
mutant:str${T}killer:str${T}result:str${T}exit:num${T}ms:num${T}execs:num
evict_when_full${T}corpus${T}killed${T}1${T}78${T}
evict_when_full${T}fuzzer${T}killed${T}1${T}950${T}123
broken${T}corpus${T}not_run${T}${T}${T}
EOT
"$report" "$dir" -o "$dir/out.json" || fail "valid records: exit $?"
expect() { grep -qF -- "$1" "$dir/out.json" || fail "out.json lacks: $1"; }
expect '"rc_params": "max_success=1000 seed=1",'
expect '"killers": ['
expect '"budget_s": null,'
expect '"elapsed_s": 12,'
expect '"skipped": [],'
expect '"time_to_kill_ms": 78,'
expect '"property_kills": true,'
expect '"killed_by": null,'
expect '"note": "does not build"'
expect '"execs": 123'
[ "$(grep -c '"result"' "$dir/out.json")" = 3 ] || fail "expected 3 killer results"
# The mutants keep their order and each gets its killers object.
[ "$(grep -o '"mutant": "[a-z_]*"' "$dir/out.json" | tr '\n' ' ')" = \
  '"mutant": "evict_when_full" "mutant": "broken" ' ] || fail "mutant order"

printf 'evict_when_full%skilled%scorpus%sfast%strue%s\n' "$T" "$T" "$T" "$T" "$T" >>"$dir/mutants.tsv"
out=$("$report" "$dir" -o "$dir/bad.json" 2>&1)
[ $? = 2 ] || fail "a bad number must exit 2"
[[ "$out" == *"mutants.tsv:4: time_to_kill_ms: 'fast' is not a number"* ]] || fail "message: $out"
out=$("$report" "$dir/nowhere" -o "$dir/bad.json" 2>&1)
[ $? = 2 ] && [[ "$out" == *"nowhere/run.tsv: cannot open: No such file"* ]] || fail "missing dir: $out"
out=$("$report" "$dir" 2>&1)
[ $? = 2 ] && [[ "$out" == *usage* ]] || fail "usage: $out"
[ "$failed" = 0 ] && echo "mutants_report: all checks passed"
exit "$failed"
