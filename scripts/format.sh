#!/usr/bin/env bash
# Formats the C sources with clang-format 14 and the repository's
# .clang-format (a copy of the house style, STYLE.md section 9).
# Usage: scripts/format.sh          format every tracked .c/.h file in place
#        scripts/format.sh --check  list the files that are not formatted;
#                                   exit 1 if there are any, 0 otherwise
set -euo pipefail
cd "$(dirname "$0")/.."

fmt=$(command -v clang-format-14 || command -v clang-format || true)
if [ -z "$fmt" ]; then
    echo "format: clang-format 14 is not installed (scripts/setup.sh installs it)" >&2
    exit 2
fi
case "$("$fmt" --version)" in
*"version 14."*) ;;
*) echo "format: $fmt is not clang-format 14: $("$fmt" --version)" >&2; exit 2 ;;
esac

mode=fix
case "${1:-}" in
"") ;;
--check) mode=check ;;
*) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

mapfile -t files < <(git ls-files -- '*.c' '*.h' | while read -r f; do [ ! -f "$f" ] || echo "$f"; done)
if [ "$mode" = fix ]; then
    [ ${#files[@]} -eq 0 ] || "$fmt" -i --style=file "${files[@]}"
    exit 0
fi
# One clang-format run over every file; it names each unformatted line as
# "<file>:<line>:<col>: error: code should be clang-formatted".
bad=$("$fmt" --style=file --dry-run -Werror "${files[@]}" 2>&1 >/dev/null |
      sed -n 's/^\(.*\):[0-9]*:[0-9]*: error: code should be clang-formatted.*/\1/p' |
      sort -u) || true
if [ -n "$bad" ]; then
    echo "$bad"
    echo "format: the files above are not formatted; run scripts/format.sh" >&2
    exit 1
fi
exit 0
