# Sourced by tools/test: `phase`, which runs one phase of the suite quietly and keeps its log.
# phase NAME SUMMARY COMMAND...: prints "== NAME: COMMAND", runs COMMAND with its output in
# $phase_logs/NAME.log (default build/test-logs); when it passes, one line with the time and the
# log's lines matching the extended regular expression SUMMARY (the last 4); when it fails, the
# whole log and the phase's name and exit status, then exits the shell with status 1. Each passed
# phase's "NAME SECONDS s" is added to the array phase_times.
phase() {
  local name=$1 summary=$2
  shift 2
  local logs=${phase_logs:-build/test-logs}
  mkdir -p "$logs"
  local log="$logs/$name.log" started=$SECONDS status=0
  echo "== $name: $*"
  "$@" >"$log" 2>&1 </dev/null || status=$?
  if [ "$status" -ne 0 ]; then
    cat "$log"
    echo "tools/test: phase $name FAILED (exit $status); its output is above and in $log"
    exit 1
  fi
  local lines
  lines=$(grep -E -- "$summary" "$log" | tail -4 | sed 's/^/   /' || true)
  phase_times+=("$name $((SECONDS - started)) s")
  echo "   ok, $((SECONDS - started)) s${lines:+:}"
  [ -z "$lines" ] || echo "$lines"
}
