#!/usr/bin/env bash
# CI for examples/rust-kvcache: builds it with cargo (offline), replays the corpus files its
# profile allows, runs a clean campaign, and checks that --evict-when-full is caught and shrunk
# to at most the minimal trace (fill the pool, one more allocation) plus 2 ops.
# usage: tests/rust_example_test.sh KVTRACE BUILD_DIR
set -euo pipefail
kvtrace=$1
build_dir=$2
cargo=${CARGO:-$(command -v cargo || echo "$HOME/.cargo/bin/cargo")}
if [ ! -x "$cargo" ]; then
  echo "FAIL: no cargo found (tools/setup installs Debian's cargo)"; exit 1
fi
"$cargo" build --offline --release --quiet --manifest-path examples/rust-kvcache/Cargo.toml \
  --target-dir "$build_dir/rust-kvcache"
rust="$build_dir/rust-kvcache/release/rust-kvcache"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# 1. The corpus within the profile: pass, or exit 2 naming what is outside the profile.
passed=0 skipped=0
for file in $(find corpus -name '*.trace' | sort); do
  status=0
  "$kvtrace" replay --backend "exec:$rust" --artifacts "$out" "$file" >"$out/replay.txt" 2>&1 || status=$?
  if [ $status -eq 0 ]; then
    passed=$((passed + 1))
  elif [ $status -eq 2 ] && grep -q "profile" "$out/replay.txt"; then
    skipped=$((skipped + 1))
  else
    cat "$out/replay.txt"; echo "FAIL: $file on the clean Rust cache"; exit 1
  fi
done
echo "corpus on exec:rust-kvcache: $passed pass, $skipped outside its profile"
[ $passed -ge 5 ] || { echo "FAIL: fewer than 5 corpus files in the profile"; exit 1; }

# An op outside the profile: exit 2, naming the op and the backend.
status=0
"$kvtrace" replay --backend "exec:$rust" corpus/seeds/fork-errors.trace >"$out/fork.txt" 2>&1 || status=$?
grep -q "op \`fork\` is outside the profile of backend rust-kvcache " "$out/fork.txt" && [ $status -eq 2 ] ||
  { cat "$out/fork.txt"; echo "FAIL: fork on the Rust cache should be refused with exit 2"; exit 1; }

# 2. A clean campaign agrees.
"$kvtrace" campaign --seed 1 --traces 300 --audit check --backend "exec:$rust" \
  --artifacts "$out" | tail -1

# 3. The bug is caught and shrunk; the minimal trace replays as a failure.
status=0
"$kvtrace" campaign --seed 1 --traces 300 --backend "exec:$rust --evict-when-full" \
  --artifacts "$out/bug" >"$out/bug.txt" 2>&1 || status=$?
[ $status -eq 1 ] || { cat "$out/bug.txt"; echo "FAIL: the bug was not caught (exit $status)"; exit 1; }
grep "^shrunk:" "$out/bug.txt"
min=$(ls "$out"/bug/*.min.trace | head -1)  # parallel jobs may each find it
ops=$(grep -cv '^\(#\|kvtrace\|config\|$\)' "$min")
cat "$min"
[ "$ops" -le 4 ] || { echo "FAIL: shrunk to $ops ops, more than minimal (2) + 2"; exit 1; }
status=0
"$kvtrace" replay --backend "exec:$rust --evict-when-full" --artifacts "$out" "$min" >/dev/null || status=$?
[ $status -eq 1 ] || { echo "FAIL: the minimal trace does not reproduce (exit $status)"; exit 1; }
echo "rust example: ok"
