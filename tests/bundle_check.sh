#!/usr/bin/env bash
# Checks that binaries need nothing from a machine but its C library: their NEEDED entries and
# everything ldd resolves are only libc, libm, libpthread, libdl, librt, the loader (and the vDSO),
# no libstdc++/libgcc_s (linked statically), no libcudart (static) and no libcuda (cudart_static
# dlopens the driver's), and the highest GLIBC_ symbol version they need is at most 2.34.
# Usage: tests/bundle_check.sh DIR|BINARY...   (DIR: a bundle, every file in DIR/bin)
# Prints one line per binary; exit 0 when all pass, 1 when one fails, 77 (CTest's skip) when a
# bundle folder that was named does not exist.
set -uo pipefail

max_glibc=${KV_BUNDLE_MAX_GLIBC:-2.34}
allowed='^(linux-vdso\.so\.1|ld-linux-x86-64\.so\.2|/lib64/ld-linux-x86-64\.so\.2|libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1)$'

binaries=()
for arg in "$@"; do
  if [ -d "$arg" ]; then
    [ -d "$arg/bin" ] || { echo "bundle_check: $arg has no bin/" >&2; exit 1; }
    for file in "$arg"/bin/*; do binaries+=("$file"); done
  elif [ -e "$arg" ]; then
    binaries+=("$arg")
  else
    echo "bundle_check: $arg does not exist (make it with tools/gpu-check --bundle); skipped"
    exit 77
  fi
done
[ ${#binaries[@]} -gt 0 ] || { echo "usage: tests/bundle_check.sh DIR|BINARY..." >&2; exit 1; }

failed=0
for binary in "${binaries[@]}"; do
  name=$(basename "$binary")
  problems=()
  if ! objdump -p "$binary" >/dev/null 2>&1; then
    echo "$name: FAIL not an object file objdump reads"
    failed=1
    continue
  fi
  needed=$(objdump -p "$binary" | awk '$1 == "NEEDED" {print $2}')
  for library in $needed; do
    [[ $library =~ $allowed ]] || problems+=("needs $library")
  done
  # ldd: the libraries those pull in, and any that is missing here.
  while read -r library _ path _; do
    [ -n "$library" ] || continue
    [[ $library =~ $allowed ]] || [[ " ${problems[*]} " == *" $library "* ]] ||
      problems+=("ldd lists $library${path:+ ($path)}")
  done < <(ldd "$binary" 2>/dev/null | sed 's/^[[:space:]]*//; s/(0x[0-9a-f]*)//' | grep -v 'statically linked')
  versions=$(objdump -T "$binary" | grep -oE '\((GLIBC|GLIBCXX|CXXABI|GCC)_[0-9.]+\)' | tr -d '()' | sort -u)
  highest=$(printf '%s\n' "$versions" | grep '^GLIBC_' | sed 's/^GLIBC_//' | sort -V | tail -n 1)
  others=$(printf '%s\n' "$versions" | grep -vE '^(GLIBC_|$)' | tr '\n' ' ')
  [ -z "$others" ] || problems+=("needs symbol versions of libstdc++/libgcc_s: ${others% }")
  if [ -n "$highest" ] &&
     [ "$(printf '%s\n%s\n' "$highest" "$max_glibc" | sort -V | tail -n 1)" != "$max_glibc" ]; then
    forcing=$(objdump -T "$binary" | grep "(GLIBC_$highest)" | awk '{print $NF}' | tr '\n' ' ')
    problems+=("needs GLIBC_$highest > $max_glibc (for ${forcing% })")
  fi
  if [ ${#problems[@]} -eq 0 ]; then
    echo "$name: ok, highest GLIBC_${highest:-none}, needs $(echo $needed | tr ' ' ',')"
  else
    failed=1
    echo "$name: FAIL highest GLIBC_${highest:-none}; $(printf '%s; ' "${problems[@]}" | sed 's/; $//')"
  fi
done
exit "$failed"
