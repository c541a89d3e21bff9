#!/usr/bin/env bash
# The README's quick start runs as written: each command of the ```sh blocks between the line
# `<!-- quick-start: tested by tests/readme_commands_test.sh -->` and the next heading exits 0
# within 60 s, in a copy of the tree whose build/dev/bin is BINDIR.
# Usage: tests/readme_commands_test.sh BINDIR [README]   (CTest: readme_commands)
set -u
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=$(cd "$1" && pwd) || exit 1
readme=$(realpath "${2:-$repo/README.md}")
marker='<!-- quick-start: tested by tests/readme_commands_test.sh -->'
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
grep -qxF "$marker" "$readme" || { echo "FAIL: $readme has no line '$marker'"; exit 1; }
awk -v m="$marker" '$0 == m { on = 1; next }
  on && !code && /^#/ { exit }
  on && /^```/ { code = !code; next }
  on && code && NF && !/^[[:space:]]*#/ { if (sub(/\\$/, "")) { part = part $0; next }; print part $0; part = "" }' \
  "$readme" >"$scratch/commands"
[ -s "$scratch/commands" ] || { echo "FAIL: no command in a \`\`\`sh block under the quick-start marker"; exit 1; }

# The tree the commands see: the repository's folders (linked), their own build/dev/bin and failures/.
mkdir -p "$scratch/tree/build/dev"
for path in "$repo"/*; do
  case "${path##*/}" in build | failures | campaign) ;; *) ln -s "$path" "$scratch/tree/" ;; esac
done
ln -s "$bin" "$scratch/tree/build/dev/bin"
failures=0
while IFS= read -r command; do
  (cd "$scratch/tree" && timeout 60 bash -o pipefail -c "$command") </dev/null >"$scratch/out" 2>&1
  status=$?
  if [ "$status" -eq 0 ]; then echo "ok    $command"; continue; fi
  echo "FAIL (exit $status): $command"; sed 's/^/  | /' "$scratch/out"; failures=$((failures + 1))
done <"$scratch/commands"
echo "$(wc -l <"$scratch/commands") quick-start commands, $failures failed"
[ "$failures" -eq 0 ]
