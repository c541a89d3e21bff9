#!/usr/bin/env bash
# The ClusterFuzzLite image installs what the fuzz configure needs: runs cmake -DKV_FUZZ=ON with a
# trace, takes every REQUIRED find_package our CMakeLists.txt files call, maps each to its Debian
# package and requires that package on the Dockerfile's apt-get install line; and requires the pip
# CMake there to be at least cmake_minimum_required's version. Then it proves it can fail: the
# same check on the Dockerfile without one of the packages must report it.
# Usage: tests/fuzz_packages_test.sh [DOCKERFILE (.clusterfuzzlite/Dockerfile)]
set -euo pipefail
cd "$(dirname "$0")/.."
dockerfile=${1:-.clusterfuzzlite/Dockerfile}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
compiler=$(command -v clang++-14 || command -v c++)
cmake -S . -B "$work/build" -G Ninja -DCMAKE_CXX_COMPILER="$compiler" -DKV_FUZZ=ON \
  --trace-expand --trace-format=json-v1 --trace-redirect="$work/trace.json" >"$work/configure.log" 2>&1 ||
  { cat "$work/configure.log"; echo "fuzz_packages_test: the fuzz configure failed"; exit 1; }
required=$(python3 - "$work/trace.json" "$PWD/" <<'PY'
import json, sys
names = set()
for line in open(sys.argv[1]):
    try:
        entry = json.loads(line)
    except ValueError:
        continue
    if entry.get("cmd", "").lower() == "find_package" and entry.get("file", "").startswith(sys.argv[2]):
        if "REQUIRED" in entry["args"]:
            names.add(entry["args"][0])
print("\n".join(sorted(names)))
PY
)
[ -n "$required" ] || { echo "fuzz_packages_test: found no REQUIRED find_package (trace format changed?)"; exit 1; }
declare -A debian=([Boost]=libboost-dev [CLI11]=libcli11-dev [nlohmann_json]=nlohmann-json3-dev
                   [GTest]=libgtest-dev [rapidcheck]=librapidcheck-dev [benchmark]=libbenchmark-dev)

# check DOCKERFILE: prints one line per problem, exit 1 if any.
check() {
  local packages problems=0
  packages=" $(fuzz/dockerfile-packages "$1" | tr '\n' ' ') "
  for name in $required; do
    local package=${debian[$name]:-}
    if [ -z "$package" ]; then
      echo "find_package($name REQUIRED) has no Debian package in tests/fuzz_packages_test.sh's table"
      problems=1
    elif [[ "$packages" != *" $package "* ]]; then
      echo "$1: find_package($name REQUIRED) needs $package, which its apt-get install does not list"
      problems=1
    fi
  done
  local minimum
  minimum=$(grep -oE 'cmake_minimum_required\(VERSION [0-9.]+' CMakeLists.txt | grep -oE '[0-9.]+$')
  grep -qE "cmake>=$minimum" "$1" ||
    { echo "$1: no pip 'cmake>=$minimum' (CMakeLists.txt needs CMake $minimum)"; problems=1; }
  return $problems
}

check "$dockerfile" || exit 1
echo "fuzz_packages_test: $dockerfile covers the fuzz configure's packages:" $required
first=$(echo "$required" | head -n 1)
sed -E "s/ ${debian[$first]}( |$)/ /" "$dockerfile" >"$work/Dockerfile.missing"
if check "$work/Dockerfile.missing" >"$work/missing.log"; then
  echo "fuzz_packages_test: the check passed a Dockerfile without ${debian[$first]}"; exit 1
fi
grep -q "${debian[$first]}" "$work/missing.log" ||
  { cat "$work/missing.log"; echo "fuzz_packages_test: the failure did not name ${debian[$first]}"; exit 1; }
echo "fuzz_packages_test: and reports a Dockerfile without ${debian[$first]}"
