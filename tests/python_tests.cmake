# Python tests: clconv's numbers against an independent numpy reference,
# input/output formats, and the command line's failure behaviour. Each script
# takes the clconv binary as argv[1] and exits 77 (skipped) when numpy or
# Pillow is missing. CLCONV_TEST_SEED=N repeats a randomised run.
clconv_py_test(py_reference test_reference.py)
clconv_py_test(py_formats test_formats.py)
clconv_py_test(py_cli test_cli.py)
set_tests_properties(py_reference py_formats py_cli PROPERTIES TIMEOUT 600)
set_tests_properties(py_reference PROPERTIES LABELS "python;device")
set_tests_properties(py_formats py_cli PROPERTIES LABELS "python")
# clconv --self-test: every path passes on the device, a perturbed result fails it.
clconv_py_test(py_selftest test_selftest.py)
set_tests_properties(py_selftest PROPERTIES TIMEOUT 300 LABELS "python;device")
# Two OpenCL implementations at once: auto's next device after a failure,
# --device all. Skipped (77) with fewer than two devices; CI runs it with
# PoCL and Intel's runtime together (CLCONV_REQUIRE_DEVICES=2).
clconv_py_test(py_devices test_devices.py)
set_tests_properties(py_devices PROPERTIES TIMEOUT 300 LABELS "python;device")
# Inputs that are pipes or FIFOs, stopping on signals, -r past loops and
# never into the output tree, -0 lists, a closed stdout, escaped names.
clconv_py_test(py_inputs test_inputs.py)
set_tests_properties(py_inputs PROPERTIES TIMEOUT 300 LABELS "python")
# The Python package (python/clconv) over the shared library, against numpy.
clconv_py_test(py_package test_python.py)
set_tests_properties(py_package PROPERTIES TIMEOUT 300 LABELS "python;device"
  ENVIRONMENT "CLCONV_LIBRARY=$<TARGET_FILE:clconv_shared>;PYTHONPATH=${CMAKE_SOURCE_DIR}/python:${CMAKE_CURRENT_SOURCE_DIR}")
if(CLCONV_ASAN_RT)  # Python loads the instrumented library: runtime first
  set_property(TEST py_package APPEND PROPERTY ENVIRONMENT "LD_PRELOAD=${CLCONV_ASAN_RT}")
endif()
# Outputs: never an input or another output, .mismatch and --skip-existing,
# --max-pixels on every plane, modes under the umask, stale temp files,
# mkdir -p by 32 processes at once.
clconv_py_test(py_outputs test_outputs.py)
set_tests_properties(py_outputs PROPERTIES TIMEOUT 300 LABELS "python")
# The kernel binary cache: entries bound to their key, unsafe directories and
# entries refused, FIFOs never waited on, the ICD library in the key.
clconv_py_test(py_cache test_cache.py)
set_tests_properties(py_cache PROPERTIES TIMEOUT 600 LABELS "python;device")
# Issue 13's presets (scharr-*, prewitt-*, laplacian, laplacian8, log:N) on
# the CPU path and the default device against numpy, cv2.Scharr/Laplacian
# and MATLAB's fspecial('log'); --list-filters; bad specs.
clconv_py_test(py_presets test_presets.py)
set_tests_properties(py_presets PROPERTIES TIMEOUT 300 LABELS "python")
# Output depth (--depth auto|8|16|float), 16-bit PNG/PGM round trips,
# --scale/--offset and clipped counts, against numpy and Pillow (issue 13).
clconv_py_test(py_depth test_depth.py)
set_tests_properties(py_depth PROPERTIES TIMEOUT 300 LABELS "python")

# --resize and --resize-filter: Pillow's Image.resize bit for bit on 8-bit
# gray and RGB (luma first), 16-bit ("I") and float .npy ("F") inputs, every
# filter and awkward sizes, on the CPU path and the default device.
clconv_py_test(py_resize test_resize.py)
set_tests_properties(py_resize PROPERTIES TIMEOUT 300 LABELS "python")
# TIFF through libtiff, gray mode: every layout, depth and compression
# against tifffile, round trips, refusals, header bombs under a memory cap.
clconv_py_test(py_tiff test_tiff.py)
set_tests_properties(py_tiff PROPERTIES TIMEOUT 300 LABELS "python")
# --color and --alpha: RGB(A) channel by channel against numpy on Pillow's
# planes, every border/stride/dilation, 16-bit and .npy colour, on the CPU
# reference and the default device (DESIGN §6, issue 13).
clconv_py_test(py_color test_color.py)
set_tests_properties(py_color PROPERTIES TIMEOUT 300 LABELS "python")

# Multi-page TIFF stacks (every page against tifffile and numpy, on the CPU
# reference and the default device; stack and page-file outputs, clashes,
# --skip-existing, --max-pages, loops, BigTIFF) and colour TIFF in and out.
clconv_py_test(py_tiff_stack test_tiff_stack.py)
set_tests_properties(py_tiff_stack PROPERTIES TIMEOUT 600 LABELS "python;device")

# Under ASan, the tests that load the instrumented libclconv.so through
# ctypes need its runtime first in the process.
if(CLCONV_ASAN_RT)
  foreach(t py_depth py_color py_tiff_stack)
    set_property(TEST ${t} APPEND PROPERTY ENVIRONMENT "LD_PRELOAD=${CLCONV_ASAN_RT}")
  endforeach()
endif()
# clconv --tune (issue 14): a small tune within its budget, its table (key,
# verified entries, checksum), auto following it and rigged tables, damaged
# and foreign tables refused with one message and rebuilt.
clconv_py_test(py_tune test_tune.py)
set_tests_properties(py_tune PROPERTIES TIMEOUT 300 LABELS "python;device")
# The transfer pipeline of devices without host-unified memory (issue 14,
# docs/pipeline.md): batches under -j 2/3 with forced small bands, every
# border, strides, dilations, even filters, padded and border-on-device
# paths and the FFT, CLCONV_ZERO_COPY=0 (pipelined) and CLCONV_PIPELINE=0
# (serial) against the zero-copy run bit for bit and the CPU reference.
# .ci/run repeats it on Intel's runtime and, reduced, under Oclgrind.
clconv_py_test(py_pipeline test_pipeline.py)
set_tests_properties(py_pipeline PROPERTIES TIMEOUT 600 LABELS "python;device")
# The device map from the command line (issue 14 item 2): files byte for byte
# those of the host's mapping, counts and download bytes in --json, the spot
# check still catching a wrong device result.
clconv_py_test(py_device_map test_device_map.py)
set_tests_properties(py_device_map PROPERTIES TIMEOUT 300 LABELS "python;device")
