#!/usr/bin/env bash
# Fails (and names the files) when a C++ source in the tree differs from what clang-format and the
# repository's .clang-format make of it. Fix with: clang-format -i FILE...
set -uo pipefail
ROOT=${1:?usage: check_format.sh SOURCE_ROOT}
cd "$ROOT" || exit 1
mapfile -t files < <(find engine fuse index mkfs tests tools -type f \( -name '*.cc' -o -name '*.h' \) | sort)
[ ${#files[@]} -gt 50 ] || { echo "only ${#files[@]} sources found under $ROOT"; exit 1; }
bad=()
for f in "${files[@]}"; do
  clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
echo "clang-format: ${#files[@]} files checked, ${#bad[@]} need formatting"
[ ${#bad[@]} -eq 0 ] || { printf '  %s\n' "${bad[@]}"; exit 1; }
