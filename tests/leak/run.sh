#!/usr/bin/env bash
# Runs a CLI batch of good and bad files on the OpenCL device under valgrind
# memcheck and fails on any error or leak that is clconv's own (the OpenCL
# stack's are suppressed in valgrind.supp). Not run by CI: about a minute.
# Usage: tests/leak/run.sh path/to/clconv
set -euo pipefail
CLCONV=$(realpath "${1:?usage: run.sh path/to/clconv}")
here=$(cd "$(dirname "$0")" && pwd)
images=$(cd "$here/../../images" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$images/small-gray.png" "$tmp/a.png"
cp "$images/shapes.jpg" "$tmp/b.jpg"
head -c 3000 "$images/shapes.jpg" > "$tmp/truncated.jpg"
echo "not an image" > "$tmp/text.png"
: > "$tmp/empty.png"
printf 'II*\0' > "$tmp/x.tif"
set +e
valgrind --leak-check=full --show-leak-kinds=definite,indirect,possible \
    --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99 \
    --suppressions="$here/valgrind.supp" --track-fds=yes --num-callers=40 \
    "$CLCONV" -f sharpen --device opencl --verify -j 2 \
    "$tmp"/a.png "$tmp"/b.jpg "$tmp"/truncated.jpg "$tmp"/text.png \
    "$tmp"/empty.png "$tmp"/x.tif "$tmp"/missing.png -o "$tmp/out" \
    > "$tmp/log" 2>&1
rc=$?
cp "$tmp/log" /tmp/clconv-valgrind.log
set -e
grep -E "ERROR SUMMARY|definitely lost|indirectly lost|possibly lost|FILE DESCRIPTORS" "$tmp/log" || true
if [ "$rc" = 99 ]; then
    echo "valgrind found errors:"; cat "$tmp/log"; exit 1
fi
[ "$rc" = 1 ] || { echo "expected exit 1 (bad inputs in the batch), got $rc"; cat "$tmp/log"; exit 1; }
ls "$tmp/out"
echo "valgrind: clean"
