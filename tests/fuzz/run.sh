#!/bin/sh
# run.sh — builds the libFuzzer harnesses (clang, -fsanitize=fuzzer,address,
# undefined) and fuzzes each for DURATION seconds. Not part of CI: CI replays
# the checked-in corpus under ASan+UBSan (tests/fuzz_tests.cmake).
#
#   tests/fuzz/run.sh DURATION_SECONDS [image|filter|all]
#   tests/fuzz/run.sh msan [DIR...]
#
# The second form builds replay.c + both harnesses with MemorySanitizer
# (library and stb from source) and replays the checked-in corpora (or the
# given image corpus directories) one file at a time: uninitialised reads in
# the decoders depend on what the heap held before, so ASan alone misses
# them. Exit status 1 when any input is reported.
#
# The library sources the harnesses reach (host/core/ and host/io/: no
# OpenCL, no pipeline, no CLI) are compiled into each fuzzer, stb's decoders
# included (host/io/stb_impl.c), instrumented for coverage and ASan.
# It needs clang with the libFuzzer runtime; on Debian 12:
#   apt-get install -y clang libclang-rt-14-dev
# Each fuzzer runs in fork mode so that it goes on after a crash, with its
# working corpus in tests/fuzz/corpus-work/NAME (gitignored), seeded from the
# checked-in corpus tests/fuzz/corpus/NAME, which it only reads. Every
# crash-/leak-/timeout-/oom- artifact is minimised where possible and copied
# into the checked-in corpus, so the replay tests keep it fixed. The fuzzers
# run under `nice -n 19` (CLCONV_FUZZ_NICE overrides). Environment:
#   CC (clang), CLCONV_FUZZ_BUILD (build dir, default build-fuzz-libfuzzer),
#   CLCONV_FUZZ_ARGS (extra libFuzzer flags).
# Exit status: 0 when no fuzzer found anything, 1 when artifacts were copied.
set -eu

usage() {
    echo "usage: $0 DURATION_SECONDS [image|filter|all] | $0 msan [DIR...]" >&2
    exit 2
}
[ $# -ge 1 ] || usage

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
FUZZ=$ROOT/tests/fuzz
CC=${CC:-clang}
NICE="nice -n ${CLCONV_FUZZ_NICE:-19}"
STB_CFLAGS=$(pkg-config --cflags stb 2>/dev/null || echo -I/usr/include/stb)

if [ "$1" = msan ]; then
    shift
    MB=${CLCONV_FUZZ_BUILD:-$ROOT/build-fuzz-msan}
    MF="-g -O1 -fno-omit-frame-pointer -fsanitize=memory \
        -fsanitize-memory-track-origins -DCL_TARGET_OPENCL_VERSION=120"
    mkdir -p "$MB"
    rm -f "$MB/lib.a"
    OBJS=""
    for path in "$ROOT"/host/core/*.c "$ROOT"/host/io/*.c; do
        src=$(basename "$path" .c)
        # shellcheck disable=SC2086
        if $NICE $CC $MF -w $STB_CFLAGS -I"$ROOT/host" -c "$path" \
               -o "$MB/$src.o" 2> "$MB/$src.log"
        then OBJS="$OBJS $MB/$src.o"; fi
    done
    # shellcheck disable=SC2086
    ar rcs "$MB/lib.a" $OBJS
    for name in image filter; do
        # shellcheck disable=SC2086
        $NICE $CC $MF -I"$ROOT/host" "$FUZZ/replay.c" "$FUZZ/fuzz_$name.c" \
            "$MB/lib.a" -ltiff -ljpeg -lz -lm -lpthread -o "$MB/replay_$name"
    done
    bad=0
    set -- image:"$FUZZ/corpus/image" filter:"$FUZZ/corpus/filter" \
        ${*:+$(for d in "$@"; do printf 'image:%s ' "$d"; done)}
    for spec in "$@"; do
        name=${spec%%:*}
        for f in "${spec#*:}"/*; do
            [ -f "$f" ] || continue
            if ! $NICE "$MB/replay_$name" "$f" > "$MB/last.log" 2>&1; then
                bad=1
                echo "run.sh: MSan: $f"
                grep -m1 -A3 "WARNING: MemorySanitizer" "$MB/last.log" | sed 1d
            fi
        done
    done
    exit $bad
fi

DUR=$1
WHICH=${2:-all}
case $DUR in ''|*[!0-9]*) usage ;; esac
case $WHICH in image) NAMES=image ;; filter) NAMES=filter ;;
               all) NAMES="image filter" ;; *) usage ;; esac

BUILD=${CLCONV_FUZZ_BUILD:-$ROOT/build-fuzz-libfuzzer}
# FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION (the usual libFuzzer/OSS-Fuzz
# macro): host/io/png.c then ignores PNG CRCs, so mutated IDATs reach
# inflate and the unfilters instead of all failing the CRC check.
CFLAGS="-g -O1 -fno-omit-frame-pointer -DCL_TARGET_OPENCL_VERSION=120 \
        -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION"
SAN="address,undefined"
mkdir -p "$BUILD"

# The libFuzzer runtime is a separate package on Debian.
printf 'int LLVMFuzzerTestOneInput(const unsigned char*d,unsigned long n)'\
'{(void)d;(void)n;return 0;}\n' > "$BUILD/probe.c"
if ! $CC -fsanitize=fuzzer "$BUILD/probe.c" -o "$BUILD/probe" 2>/dev/null; then
    echo "run.sh: $CC cannot link -fsanitize=fuzzer; install the libFuzzer" \
         "runtime (Debian: apt-get install -y libclang-rt-14-dev)" >&2
    exit 2
fi

# The core and io sources go into an archive, so each harness
# pulls in only what it uses (no OpenCL). host/io/stb_impl.c is the library's
# own stb configuration. UB in the library aborts; UB inside stb (third-party
# code, built without UBSan in the CMake sanitizer build) is only logged, so
# the run goes on, but memory errors there stop it as ASan errors.
rm -f "$BUILD/libclconv-fuzz.a"
OBJS=""
for path in "$ROOT"/host/core/*.c "$ROOT"/host/io/*.c; do
    src=$(basename "$path" .c)
    recover="-fno-sanitize-recover=undefined"
    case $src in stb_impl) recover="-w" ;; esac
    if $NICE $CC $CFLAGS -fsanitize=fuzzer-no-link,$SAN $recover $STB_CFLAGS \
           -I"$ROOT/host" -c "$path" -o "$BUILD/$src.o" 2> "$BUILD/$src.log"
    then OBJS="$OBJS $BUILD/$src.o"
    else echo "run.sh: skipping host/$src.c (does not build alone)" >&2
    fi
done
# shellcheck disable=SC2086
ar rcs "$BUILD/libclconv-fuzz.a" $OBJS
for name in $NAMES; do
    $NICE $CC $CFLAGS -fsanitize=fuzzer,$SAN -fno-sanitize-recover=undefined \
        -I"$ROOT/host" "$FUZZ/fuzz_$name.c" "$BUILD/libclconv-fuzz.a" \
        -ltiff -ljpeg -lz -lm -lpthread -o "$BUILD/fuzz_$name"
done

found=0
for name in $NAMES; do
    work=$ROOT/tests/fuzz/corpus-work/$name
    art=$ROOT/tests/fuzz/corpus-work/artifacts-$name
    mkdir -p "$work" "$art"
    case $name in image) maxlen=65536 ;; *) maxlen=8192 ;; esac
    dict=""
    [ -f "$FUZZ/$name.dict" ] && dict="-dict=$FUZZ/$name.dict"
    echo "run.sh: fuzzing $name for $DUR s (log: $art/fuzz.log)"
    # shellcheck disable=SC2086
    $NICE "$BUILD/fuzz_$name" -fork=1 -ignore_crashes=1 -ignore_timeouts=1 \
        -ignore_ooms=1 -max_total_time="$DUR" -max_len=$maxlen \
        -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$art/" $dict ${CLCONV_FUZZ_ARGS:-} \
        "$work" "$FUZZ/corpus/$name" > "$art/fuzz.log" 2>&1 || true
    tail -n 3 "$art/fuzz.log"
    for f in "$art"/crash-* "$art"/leak-* "$art"/timeout-* "$art"/oom-*; do
        [ -f "$f" ] || continue
        base=$(basename "$f")
        dest=$FUZZ/corpus/$name/$base
        [ -f "$dest" ] && continue
        found=1
        case $base in
        crash-*|leak-*)
            # Smallest input that still fails, when libFuzzer can find one.
            if $NICE "$BUILD/fuzz_$name" -minimize_crash=1 -runs=20000 \
                   -max_total_time=60 -exact_artifact_path="$art/min-$base" \
                   "$f" > "$art/min-$base.log" 2>&1 &&
               [ -s "$art/min-$base" ]; then
                cp "$art/min-$base" "$dest"
            else
                cp "$f" "$dest"
            fi ;;
        *) cp "$f" "$dest" ;;
        esac
        echo "run.sh: new $name artifact: tests/fuzz/corpus/$name/$base"
    done
done
exit $found
