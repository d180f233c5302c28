#!/bin/bash
# check_install.sh BUILD_DIR SOURCE_DIR EXAMPLE_SCRIPT FAULTS — what a user of the
# installed library gets: installs the build into a temporary prefix, checks
# that libclconv.so.0 has its SONAME and exports only the clconv_ functions
# of clconv.h, then builds tests/example_api.c against the installed files
# twice, with pkg-config and with find_package(clconv), and runs each build
# through the example_api test script (EXAMPLE_SCRIPT). Both must link the
# shared library, and ignore CLCONV_FAULT (FAULTS: whether this build has
# the switch, ON or OFF). Last, pip-installs python/ into a venv as the
# README says and uses it. Exit 77 (skipped) without pkg-config or a C compiler.
set -euo pipefail
build=$1 src=$2 script=$3 faults=${4:-OFF}
command -v pkg-config >/dev/null && command -v cc >/dev/null || {
    echo "skipped: pkg-config or cc missing"; exit 77; }
t=$(mktemp -d /tmp/clconv-install.XXXXXX)
trap 'rm -rf "$t"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
# A sanitizer build's library needs its runtime first in the process:
# CLCONV_TEST_PRELOAD names it (CMake sets it under CLCONV_SANITIZE), and
# only the programs that load libclconv get it, through `with_rt`.
with_rt() { if [ -n "${CLCONV_TEST_PRELOAD:-}" ]; then LD_PRELOAD=$CLCONV_TEST_PRELOAD "$@"; else "$@"; fi; }
wrap() { # wrap EXE: a script that runs EXE with the runtime, for cmake -P
    if [ -z "${CLCONV_TEST_PRELOAD:-}" ]; then echo "$1"; return; fi
    printf '#!/bin/sh\nLD_PRELOAD=%s exec "%s" "$@"\n' "$CLCONV_TEST_PRELOAD" "$1" >"$1.sh"
    chmod +x "$1.sh"; echo "$1.sh"
}

cmake --install "$build" --prefix "$t/prefix" >"$t/install.log" ||
    { cat "$t/install.log"; fail "cmake --install"; }
lib=$(find "$t/prefix" -name 'libclconv.so.0' | head -1)
[ -n "$lib" ] || fail "libclconv.so.0 was not installed"
libdir=$(dirname "$lib")
for f in include/clconv.h "${libdir#"$t/prefix/"}/libclconv.a" \
         "${libdir#"$t/prefix/"}/pkgconfig/clconv.pc" \
         "${libdir#"$t/prefix/"}/cmake/clconv/clconvConfig.cmake" \
         "${libdir#"$t/prefix/"}/cmake/clconv/clconvConfigVersion.cmake" bin/clconv; do
    [ -e "$t/prefix/$f" ] || fail "$f was not installed"
done
[ ! -f "$build/clconv.1" ] || [ -f "$t/prefix/share/man/man1/clconv.1" ] ||
    fail "share/man/man1/clconv.1 was not installed"
soname=$(readelf -d "$lib" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
[ "$soname" = libclconv.so.0 ] || fail "SONAME is '$soname'"
# The exports are exactly the functions clconv.h declares.
grep -oE '\bclconv_[a-z0-9_]+\(' "$src/host/clconv.h" | tr -d '(' | sort -u >"$t/declared"
nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBR]$/ {print $3}' | sed 's/@.*//' |
    sort -u >"$t/exported"
diff "$t/declared" "$t/exported" >"$t/diff" ||
    { cat "$t/diff"; fail "exports differ from clconv.h (< declared only, > exported only)"; }

# 1. pkg-config
export PKG_CONFIG_PATH="$libdir/pkgconfig"
[ "$(pkg-config --modversion clconv)" = "$(sed -n 's/^#define CLCONV_VERSION "\(.*\)"/\1/p' "$src/host/clconv.h")" ] ||
    fail "pkg-config --modversion clconv"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Werror -o "$t/ex_pc" "$src/tests/example_api.c" \
    $(pkg-config --cflags --libs clconv) -Wl,-rpath,"$libdir"
# 2. find_package
mkdir -p "$t/proj"
cat >"$t/proj/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.16)
project(uses_clconv C)
find_package(clconv 0 REQUIRED)
add_executable(ex_cmake "$src/tests/example_api.c")
target_link_libraries(ex_cmake PRIVATE clconv::clconv)
CM
cmake -S "$t/proj" -B "$t/proj/build" -DCMAKE_PREFIX_PATH="$t/prefix" \
    -DCMAKE_BUILD_RPATH="$libdir" >"$t/proj.log" 2>&1 ||
    { cat "$t/proj.log"; fail "find_package(clconv) project did not configure"; }
cmake --build "$t/proj/build" >>"$t/proj.log" 2>&1 ||
    { cat "$t/proj.log"; fail "find_package(clconv) project did not build"; }

for exe in "$t/ex_pc" "$t/proj/build/ex_cmake"; do
    deps=$(ldd "$exe")   # (not piped into grep -q: pipefail and SIGPIPE)
    grep -q "libclconv.so.0 => $libdir/" <<<"$deps" ||
        { echo "$deps"; fail "$exe does not use the installed libclconv.so.0"; }
    cmake -DEXE="$(wrap "$exe")" -DWORK="$t/work" -P "$script" >"$t/run.log" 2>&1 ||
        { cat "$t/run.log"; fail "$(basename "$exe") failed the example_api checks"; }
    echo "ok: $(basename "$exe") (installed, shared) passes the example_api checks"
done
# 4. the release library ignores the test fault switch: CLCONV_FAULT=perturb
#    (one wrong device pixel in a build that has the switch) changes nothing
#    through libclconv.so; the build tree's own example, when this build has
#    the switch and there is a device, shows that the fault is real there.
{ printf 'P5\n32 24\n255\n'; head -c 768 /dev/urandom; } >"$t/in.pgm"
with_rt "$t/ex_pc" "$t/in.pgm" "$t/plain.npy" >/dev/null 2>&1 || fail "ex_pc on in.pgm"
CLCONV_FAULT=perturb with_rt "$t/ex_pc" "$t/in.pgm" "$t/faulted.npy" >/dev/null 2>&1 ||
    fail "ex_pc under CLCONV_FAULT=perturb"
cmp -s "$t/plain.npy" "$t/faulted.npy" ||
    fail "libclconv.so obeys CLCONV_FAULT=perturb: the release library must ignore it"
if [ "$faults" = ON ] && "$build/clconv" --list-devices | grep '^opencl:' >/dev/null; then
    CLCONV_FAULT=perturb "$build/tests/example_api" "$t/in.pgm" "$t/static.npy" >/dev/null 2>&1 ||
        fail "example_api under CLCONV_FAULT=perturb"
    ! cmp -s "$t/plain.npy" "$t/static.npy" ||
        fail "CLCONV_FAULT=perturb changed nothing in the test build: the check above proves nothing"
    echo "ok: CLCONV_FAULT=perturb changes the test build's result, not libclconv.so's"
else
    echo "ok: CLCONV_FAULT=perturb changes nothing through libclconv.so"
fi

# 3. the Python package, installed as the README says (a venv seeing
#    Debian's numpy; no download), finding the installed library
/usr/bin/python3 -m venv --system-site-packages "$t/venv" >"$t/venv.log" 2>&1 ||
    { cat "$t/venv.log"; fail "python3 -m venv (Debian: python3-venv)"; }
# (from a copy: setuptools builds in the source folder)
cp -r "$src/python" "$t/python"
"$t/venv/bin/pip" install -q --no-build-isolation "$t/python" >"$t/pip.log" 2>&1 ||
    { cat "$t/pip.log"; fail "pip install ./python"; }
(cd "$t" && LD_LIBRARY_PATH="$libdir" with_rt "$t/venv/bin/python" -c '
import clconv, numpy as np
assert clconv.__file__.startswith("'"$t"'/venv/"), clconv.__file__
assert clconv.library_path.endswith("libclconv.so.0"), clconv.library_path
out = clconv.correlate(np.full((5, 7), 10, np.uint8), "sharpen", device="cpu")
assert out.dtype == np.float32 and out[2, 3] == 10 and out[0, 0] == 30, out
print("ok: the pip-installed package loads", clconv.library_path)') ||
    fail "the pip-installed package does not work"
echo "ok: SONAME libclconv.so.0, $(wc -l <"$t/exported") exports = clconv.h's"
