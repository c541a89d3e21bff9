#!/usr/bin/env bash
# tools/gpu-steps (the GPU bundle's runner) on stand-ins: binaries that print what the real ones
# print, and a fake nvidia-smi and compute-sanitizer, so that both modes (device and --emulated),
# every step's parse and every failure's exit status are checked without a build or a device.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bundle=$work/bundle fake=$work/fake
mkdir -p "$bundle/bin" "$bundle/corpus/seeds" "$fake"
cp tools/gpu-steps "$bundle/run"
printf 'kvtrace 2\n' >"$bundle/corpus/seeds/a.trace"
printf 'kvtrace 2\n' >"$bundle/corpus/seeds/b.trace"

cat >"$bundle/bin/gpu_store_tests" <<'EOF'
#!/bin/sh
if [ -n "${STUB_SKIP:-}" ]; then
  echo "GPU test skipped: no GPU device here (stub)"; echo "[  SKIPPED ] 4 tests."
fi
echo "[  PASSED  ] 6 tests."
EOF
cat >"$bundle/bin/kvtrace" <<'EOF'
#!/bin/sh
command=$1; shift
case "$command" in
  replay) for arg in "$@"; do case "$arg" in *.trace) echo "ok $arg" ;; esac; done ;;
  campaign) [ -z "${STUB_CAMPAIGN_FAIL:-}" ] || { echo "finding 1: divergence"; exit 1; }
            echo "ok    5 generated traces (1000 ops in 1 s), 0 findings" ;;
esac
EOF
cat >"$bundle/bin/kvbench_gpu" <<'EOF'
#!/bin/sh
case "$1" in *device*) platform=device sizes="16384 65536" ;; *) platform=emu sizes=1024 ;; esac
echo "kernel (time from device events)      us/iter iterations         GB/s  of_peak"
for kernel in write copy gather; do
  for size in $sizes; do
    if [ -n "${STUB_BENCH_BAD:-}" ]; then echo "BM_gpu_$kernel/$platform/$size  n/a"
    else echo "BM_gpu_$kernel/$platform/$size        12.50        100       3000.0    0.625"; fi
  done
done
EOF
cat >"$fake/nvidia-smi" <<'EOF'
#!/bin/sh
case "$1" in -L) echo "GPU 0: NVIDIA H200 (UUID: GPU-0)" ;; *) echo "NVIDIA H200, 143771 MiB, 580.00" ;; esac
EOF
cat >"$fake/compute-sanitizer" <<'EOF'
#!/bin/sh
while [ $# -gt 0 ]; do case "$1" in --tool|--error-exitcode) shift 2 ;; *) break ;; esac; done
"$@"
if [ -n "${STUB_SANITIZER_ERRORS:-}" ]; then echo "========= ERROR SUMMARY: 2 errors"; exit 1; fi
echo "========= ERROR SUMMARY: 0 errors"
EOF
chmod +x "$bundle/run" "$bundle"/bin/* "$fake"/*

failures=0
# expect NAME STATUS PATTERN [VAR=VALUE...] -- ARGS...: run the runner, check its status and that
# its summary has a line matching PATTERN (an extended regular expression).
expect() {
  local name=$1 want=$2 pattern=$3 status=0
  shift 3
  local vars=()
  while [ "$1" != -- ]; do vars+=("$1"); shift; done
  shift
  env ${vars[@]+"${vars[@]}"} "$bundle/run" --logs "$work/logs" "$@" >"$work/out.log" 2>&1 || status=$?
  if [ "$status" -ne "$want" ] || ! grep -qE -- "$pattern" "$work/logs/summary.txt"; then
    echo "FAIL $name: exit $status (expected $want), summary line /$pattern/ $(grep -qE -- "$pattern" "$work/logs/summary.txt" && echo found || echo missing)"
    sed 's/^/    /' "$work/out.log"
    failures=$((failures + 1))
  else
    echo "ok   $name"
  fi
}
with_gpu="PATH=$fake:$PATH"
no_sanitizer_path=$work/nosan
mkdir -p "$no_sanitizer_path"
ln -s "$fake/nvidia-smi" "$no_sanitizer_path/nvidia-smi"

expect emulated-passes 0 '^compute-sanitizer: skipped' -- --emulated
expect emulated-parses-kernels 0 '^  BM_gpu_gather/emu/1024 .* 0\.625$' -- --emulated
expect device-passes 0 '^device: NVIDIA H200, 143771 MiB, 580.00 \(memory bandwidth 4800 GB/s\)' "$with_gpu" -- --traces 5
expect device-runs-both-sanitizers 0 '^compute-sanitizer racecheck \(\*/device\): ERROR SUMMARY: 0 errors' "$with_gpu" --
expect device-wants-six-kernels 0 '^  BM_gpu_copy/device/65536 ' "$with_gpu" --
expect device-corpus-counted 0 '^corpus: 2 traces replay clean on backend hip$' "$with_gpu" --
expect skipped-device-test-fails 1 '^FAIL gpu_store_tests: tests skipped' "$with_gpu" STUB_SKIP=1 --
expect sanitizer-error-fails 1 '^FAIL compute-sanitizer memcheck' "$with_gpu" STUB_SANITIZER_ERRORS=1 --
expect campaign-finding-fails 1 '^FAIL campaign on backend hip-emu' STUB_CAMPAIGN_FAIL=1 -- --emulated
expect garbled-kernel-lines-fail 1 '^FAIL kvbench_gpu: 0 well-formed' STUB_BENCH_BAD=1 -- --emulated
if ! PATH="$no_sanitizer_path:$PATH" command -v compute-sanitizer >/dev/null &&
   [ ! -x /usr/local/cuda/bin/compute-sanitizer ]; then
  expect device-without-sanitizer-fails 1 '^FAIL compute-sanitizer: not found' "PATH=$no_sanitizer_path:$PATH" --
fi
if ! command -v nvidia-smi >/dev/null && ! command -v rocminfo >/dev/null; then
  expect no-gpu-exits-2 2 '^device: none found' --
fi
# $OUT gets the summary and the logs.
mkdir -p "$work/out"
OUT=$work/out "$bundle/run" --emulated --logs "$work/logs" >/dev/null 2>&1 || true
if [ -f "$work/out/gpu-check/summary.txt" ] && [ -f "$work/out/gpu-check/corpus.log" ]; then
  echo "ok   out-gets-summary-and-logs"
else
  echo "FAIL out-gets-summary-and-logs: no \$OUT/gpu-check/summary.txt or corpus.log"
  failures=$((failures + 1))
fi
rm "$bundle/bin/kvbench_gpu"
expect missing-binary-fails 1 '^FAIL .*/bin/kvbench_gpu is missing' -- --emulated
[ "$failures" -eq 0 ] && echo "gpu_steps_test: all passed" || echo "gpu_steps_test: $failures failed"
[ "$failures" -eq 0 ]
