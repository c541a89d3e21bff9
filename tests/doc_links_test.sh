#!/usr/bin/env bash
# Every relative link in the repository's markdown files ([text](path) and [text](path#anchor))
# points at a file or folder that exists, and an anchor into a .md file at one of its headings.
# Usage: tests/doc_links_test.sh [REPO]   (CTest: doc_links)
set -u
cd "${1:-$(dirname "$0")/..}" || exit 1
export LC_ALL=C
# slugs FILE: GitHub's anchor of each heading (lower case, punctuation dropped, spaces to '-').
slugs() { sed -n 's/^#\{1,6\} \{1,\}//p' "$1" | tr 'A-Z' 'a-z' | sed 's/[^a-z0-9 _-]//g; s/ /-/g'; }
failures=0 links=0
while IFS= read -r doc; do
  while IFS= read -r link; do
    target=${link%%#*} anchor=${link#"$target"} anchor=${anchor#\#}
    [ -n "$target" ] && path=$(dirname "$doc")/$target || path=$doc
    links=$((links + 1))
    if [ ! -e "$path" ]; then
      echo "FAIL: $doc: ($link): no $path"; failures=$((failures + 1))
    elif [ -n "$anchor" ] && [[ $path == *.md ]] && ! slugs "$path" | grep -qxF "$anchor"; then
      echo "FAIL: $doc: ($link): no heading #$anchor in $path"; failures=$((failures + 1))
    fi
  done < <(grep -oE '\]\([^) ]+\)' "$doc" | sed 's/^](//; s/)$//' | grep -vE '^[a-z]+:')
done < <(find . -name '*.md' -not -path './build/*' -not -path './.git/*' -not -path './failures/*' | sort)
echo "$links relative links, $failures broken"
[ "$failures" -eq 0 ]
