#!/bin/bash -eu
# OSS-Fuzz/ClusterFuzzLite build: $CXX, $CXXFLAGS (sanitizers, coverage), $LIB_FUZZING_ENGINE, $OUT.
# Puts fuzz_differential and fuzz_kvtrace, their dictionaries and seed corpus zips in $OUT.
# Locally: CXX=clang++-14 CXXFLAGS="-fsanitize=address,fuzzer-no-link" \
#          LIB_FUZZING_ENGINE=-fsanitize=fuzzer OUT=/tmp/out .clusterfuzzlite/build.sh
if [ -n "${SRC:-}" ] && [ -d "$SRC/kvharness" ]; then cd "$SRC/kvharness"; else cd "$(dirname "$0")/.."; fi
OUT=$(cd "$OUT" && pwd)
build="${WORK:-/tmp}/kvharness-cfl-build"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$CXX" \
  -DCMAKE_CXX_FLAGS="$CXXFLAGS" -DKV_FUZZ=ON -DKV_FUZZ_ENGINE="$LIB_FUZZING_ENGINE" >/dev/null
cmake --build "$build" --target fuzz_differential fuzz_kvtrace kvtrace
for target in fuzz_differential fuzz_kvtrace; do
  cp "$build/bin/$target" "$OUT/"
  cp "fuzz/$target.dict" "$OUT/$target.dict"
done
seeds="$build/seeds"
rm -rf "$seeds" && mkdir -p "$seeds/bytes" "$seeds/text"
for file in $(find corpus -name '*.trace' | sort); do
  name=$(basename "$file" .trace)
  cp "$file" "$seeds/text/$name"
  "$build/bin/kvtrace" encode "$file" -o "$seeds/bytes/$name" 2>/dev/null || true
done
(cd "$seeds/bytes" && zip -q -r "$OUT/fuzz_differential_seed_corpus.zip" .)
(cd "$seeds/text" && zip -q -r "$OUT/fuzz_kvtrace_seed_corpus.zip" .)
