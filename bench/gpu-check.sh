#!/usr/bin/env bash
# gpu-check.sh — one command for the day a GPU machine is lent: finds the
# vendor's OpenCL driver (NVIDIA ships libnvidia-opencl.so.1, sometimes with
# no ICD file: then OCL_ICD_FILENAMES points the loader at it), builds
# clconv unless a build is already there (a machine without compilers gets
# one carried over), runs the test suite and `clconv --self-test` on the
# device, then clconv --tune (TUNE_BUDGET seconds, 60) and the tuned
# choices against the built-in ones (bench/tune_ab.sh), then clconv-bench at
# 4096² and 8192² with the copy probe and the transfer pipeline's batch
# figure (--batch), and prints one table. Meant to finish in under 14
# minutes.
#   bash bench/gpu-check.sh              the first GPU; refuses to run without one
#   GPU_CHECK_ANY=1 bash bench/gpu-check.sh   any OpenCL device (a dry run on a CPU)
# Environment: BUILD (build directory, default build), OUT (where the logs
# and the table go, default /tmp/gpu-check), REPS (bench runs per case, 5),
# TUNE_BUDGET (seconds for --tune, 60).
set -uo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build}
out=${OUT:-/tmp/gpu-check}
reps=${REPS:-5}
mkdir -p "$out"
t0=$(date +%s)
say() { printf 'gpu-check: %s\n' "$*" | tee -a "$out/summary.txt"; }
: > "$out/summary.txt"

# ------------------------------------------------------------ the driver
list_devices() { "$build/clconv" --list-devices 2>&1; }
find_lib() { # the first of the named libraries in the usual places
    local n d
    for n in "$@"; do
        for d in /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib /usr/local/nvidia/lib64 \
                 /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
                 /opt/rocm/lib /opt/rocm/opencl/lib; do
            [ -e "$d/$n" ] && { echo "$d/$n"; return 0; }
        done
    done
    find / -xdev \( -name "$1" \) -print -quit 2>/dev/null
}

# A build first (the driver search runs the binary).
if [ ! -x "$build/clconv" ]; then
    if command -v cmake > /dev/null; then
        say "building in $build"
        cmake -S . -B "$build" -DCLCONV_FAULT_INJECTION=ON > "$out/build.log" 2>&1 &&
            cmake --build "$build" -j > "$out/build.log" 2>&1 ||
            { say "build failed: see $out/build.log"; exit 1; }
    else
        say "no $build/clconv and no cmake: carry a build directory here (BUILD=...)"
        exit 1
    fi
fi
# The ICD loader itself: the CUDA toolkit ships one where the system has none.
if ! ldd "$build/clconv" | grep -q 'libOpenCL.so.1 => /'; then
    loader=$(find_lib libOpenCL.so.1)
    [ -n "$loader" ] && export LD_LIBRARY_PATH=$(dirname "$loader")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    say "ICD loader: ${loader:-none found}"
fi
if ! list_devices | grep -q '  GPU  '; then
    vendor=$(find_lib libnvidia-opencl.so.1 libamdocl64.so libigdrcl.so)
    if [ -n "$vendor" ]; then
        export OCL_ICD_FILENAMES=$vendor
        say "no GPU through the ICD files; OCL_ICD_FILENAMES=$vendor"
    fi
fi
list_devices | tee "$out/devices.txt"
gpu=$(grep -m1 '  GPU  ' "$out/devices.txt" | cut -d' ' -f1)
if [ -z "$gpu" ]; then
    if [ "${GPU_CHECK_ANY:-0}" != 1 ]; then
        say "no GPU found (GPU_CHECK_ANY=1 runs on any OpenCL device)"
        exit 1
    fi
    gpu=$(grep -m1 '^opencl:' "$out/devices.txt" | cut -d' ' -f1)
    [ -n "$gpu" ] || { say "no OpenCL device at all"; exit 1; }
fi
name=$(grep -m1 "^$gpu " "$out/devices.txt" | sed 's/^[^ ]*  [A-Z]*  //')
say "device $gpu: $name"
pd=${gpu#opencl:}

# ------------------------------------------------------------ correctness
# The suite and the CLI's auto take the first GPU by themselves.
if command -v ctest > /dev/null && [ -f "$build/CTestTestfile.cmake" ]; then
    CLCONV_REQUIRE_DEVICE=1 timeout 300 ctest --test-dir "$build" \
        --output-on-failure > "$out/ctest.log" 2>&1
    say "ctest: $(grep -E 'tests passed|tests failed' "$out/ctest.log" | tail -n 1)"
else
    CLCONV_REQUIRE_DEVICE=1 timeout 300 "$build/tests/test_device" > "$out/ctest.log" 2>&1
    say "test_device (no ctest here): $(tail -n 1 "$out/ctest.log")"
fi
if "$build/clconv" --help | grep -q -- '--self-test'; then
    timeout 120 "$build/clconv" --self-test --device "$gpu" > "$out/self-test.txt" 2>&1
    say "self-test: exit $? ($(grep -c PASS "$out/self-test.txt") PASS, $(grep -c FAIL "$out/self-test.txt") FAIL)"
fi

# ------------------------------------------------------------ tuning
# clconv --tune on the device, into its own cache directory (the user's
# table is left alone): its wall time against the budget, the table, and
# what it chose against the built-in choices (bench/tune_ab.sh, interleaved).
tune_budget=${TUNE_BUDGET:-60}
tune_dir="$out/tune-cache"
rm -rf "$tune_dir" && mkdir -m 700 "$tune_dir"
if "$build/clconv" --help | grep -q -- '--tune'; then
    t1=$(date +%s.%N)
    CLCONV_CACHE_DIR=$tune_dir timeout $((tune_budget + 60)) "$build/clconv" --tune \
        --device "$gpu" --budget "$tune_budget" --json > "$out/tune.json" 2> "$out/tune.log"
    rc=$?
    t2=$(date +%s.%N)
    say "tune: exit $rc, $(python3 -c "print(round($t2 - $t1, 1))") s wall for --budget $tune_budget;" \
        "$(grep -o '"measured": [0-9]*, [^}]*"complete": [a-z]*' "$out/tune.json")"
    cp "$tune_dir"/tune-*.txt "$out/" 2> /dev/null
    grep -h '^entry' "$tune_dir"/tune-*.txt | awk '{printf "  %s%s@%s %s %sx%s %sx%s %s ms (built-in %s)\n",
        $2 == "r1" ? "r1-" : "sq", $3, $4, $5, $6, $7, $8, $9, $10, $11}' |
        tee -a "$out/summary.txt" | head -n 50
    for kind in dense ones; do
        CLCONV_CACHE_DIR=$tune_dir KIND=$kind BUILD=$build timeout 300 bash bench/tune_ab.sh \
            4096 3,9,15 3 "$reps" > "$out/tune-ab-$kind.txt" 2>&1 || say "tune_ab $kind: exit $?"
        say "tuned (B) against built-in (A), $kind filters, 4096², medians of 3 interleaved rounds:"
        sed -n '/^# size k A_kernel/,$p' "$out/tune-ab-$kind.txt" | tee -a "$out/summary.txt"
    done
fi

# ------------------------------------------------------------ speed
for s in 4096 8192; do
    timeout 240 "$build/bench/clconv-bench" --device "$pd" --sizes "$s" \
        --filters 3,5,9,15,31 --reps "$reps" --warmup 1 --check \
        > "$out/bench-$s.txt" 2>&1 || say "bench $s: exit $?"
done
# The transfer pipeline (docs/pipeline.md): batches of 4096² images on two
# threads, the pipelined path against the serial one (CLCONV_PIPELINE=0),
# interleaved. CLCONV_ZERO_COPY=0 makes a device that shares memory with the
# host (a dry run on a CPU, an integrated GPU) copy too; a discrete GPU
# copies anyway.
CLCONV_ZERO_COPY=0 timeout 300 "$build/bench/clconv-bench" --device "$pd" --batch 8 --jobs 2 \
    --sizes 4096 --filters 3 --reps "$reps" --warmup 1 > "$out/batch.txt" 2>&1 ||
    say "batch: exit $?"
say "bench (median of $reps runs; e2e from an 8-bit source; copy probe GB/s):"
grep -m1 -h -E '^image ' "$out"/bench-4096.txt | tee -a "$out/summary.txt"
grep -h -E '^copy probe|^ *[0-9]+x[0-9]+ ' "$out"/bench-4096.txt "$out"/bench-8192.txt |
    tee -a "$out/summary.txt"
say "transfer pipeline, batches of 8 4096² images on 2 threads (gain: serial wall / pipelined wall):"
grep -h -E '^image|^ *4096x4096' "$out/batch.txt" | tee -a "$out/summary.txt"
# The device map (issue 14 item 2): bytes read back and time per 4096²
# 8-bit PGM with and without it, on this device (bench/device_map.sh).
if [ -f bench/device_map.sh ]; then
    DEVICE=$gpu ZERO_COPY=1 timeout 180 bash bench/device_map.sh "$build/clconv" 4096 3 sharpen pgm \
        > "$out/device-map.txt" 2>&1 || say "device map bench: exit $?"
    say "device map (4096² PGM, medians of 3; bytes, ms):"
    grep -E '^(zero_copy|on |off)' "$out/device-map.txt" | tee -a "$out/summary.txt"
fi
say "done in $(( $(date +%s) - t0 )) s; logs in $out"
