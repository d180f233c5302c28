# C tests: hand-worked unit cases, the device against the reference, and the
# C API example run end to end. Included from tests/CMakeLists.txt.

clconv_c_test(test_unit test_unit.c)
# The device path's planning (host/cl/plan.c), no device needed.
clconv_c_test(test_plan test_plan.c)
clconv_c_test(test_device test_device.c)
# PoCL compiles on first use; a few hundred cases take well under a minute.
set_tests_properties(test_device PROPERTIES TIMEOUT 300)
# The same on the limits of the smallest GPU (32 KiB local memory, 64 KiB
# constant, 128 MiB per allocation, 256 work-items a group), so the paths a
# small device takes (the FFT's columns in global memory, taps in __global)
# run on PoCL too; reduced: the full lists of fixed cases, fewer random ones.
add_test(NAME test_device_gpu_limits COMMAND test_device)
set_tests_properties(test_device_gpu_limits PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300
  ENVIRONMENT "CLCONV_DEVICE_LIMITS=gpu;CLCONV_TEST_REDUCED=1")

# The device map (issue 14 item 2): mapped on the device against the host's
# mapping of the same floats, bit for bit; and on the smallest GPU's limits.
clconv_c_test(test_device_map test_device_map.c)
set_tests_properties(test_device_map PROPERTIES TIMEOUT 300)
add_test(NAME test_device_map_gpu_limits COMMAND test_device_map)
set_tests_properties(test_device_map_gpu_limits PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300
  ENVIRONMENT "CLCONV_DEVICE_LIMITS=gpu;CLCONV_TEST_REDUCED=1")

# The example takes arguments, so it is run by a small CMake script that makes
# its own input (a binary PGM whose pixels are printable bytes, so CMake can
# write it), runs the example and checks what it wrote.
add_executable(example_api example_api.c)
target_compile_options(example_api PRIVATE ${CLCONV_WARNINGS})
target_link_libraries(example_api PRIVATE clconv)

set(CLCONV_EXAMPLE_SCRIPT ${CMAKE_CURRENT_BINARY_DIR}/example_api_test.cmake)
file(WRITE ${CLCONV_EXAMPLE_SCRIPT} [=[
# Generated from tests/c_tests.cmake. Needs -DEXE=... -DWORK=...
cmake_minimum_required(VERSION 3.16)
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")

# 32x24 gray, every row "A".."f": column x holds 65 + x.
set(row "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef")
set(body "")
foreach(i RANGE 1 24)
  string(APPEND body "${row}")
endforeach()
file(WRITE "${WORK}/in.pgm" "P5\n32 24\n255\n${body}")

function(run_example out)
  execute_process(COMMAND "${EXE}" "${WORK}/in.pgm" "${WORK}/${out}" ${ARGN}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE so ERROR_VARIABLE se)
  message(STATUS "example_api ${out}: ${so}${se}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "example_api ${out} exited ${rc}")
  endif()
  if(NOT EXISTS "${WORK}/${out}")
    message(FATAL_ERROR "example_api did not write ${out}")
  endif()
endfunction()

# PNG: signature, then IHDR width 32 and height 24 (same padding keeps size).
run_example(out.png)
file(READ "${WORK}/out.png" sig LIMIT 8 HEX)
file(READ "${WORK}/out.png" dims OFFSET 16 LIMIT 8 HEX)
if(NOT sig STREQUAL "89504e470d0a1a0a")
  message(FATAL_ERROR "out.png is not a PNG (starts ${sig})")
endif()
if(NOT dims STREQUAL "0000002000000018")
  message(FATAL_ERROR "out.png is not 32x24 (IHDR ${dims})")
endif()

# NPY: 128-byte header + 32*24 float32, and two values worked out by hand:
# sharpen leaves a horizontal ramp alone inside, so (10,10) = 75; at (0,5)
# the zero border gives 5*65 - 66 - 65 - 65 = 129.
run_example(out.npy sharpen)
file(SIZE "${WORK}/out.npy" size)
if(NOT size EQUAL 3200)
  message(FATAL_ERROR "out.npy is ${size} bytes, expected 3200")
endif()
# (from offset 10: the version bytes hold a NUL, which ends a CMake string)
file(READ "${WORK}/out.npy" hdr OFFSET 10 LIMIT 118)
if(NOT hdr MATCHES "'shape': \\(24, 32\\)")
  message(FATAL_ERROR "out.npy header: ${hdr}")
endif()
math(EXPR off "128 + 4 * (10 * 32 + 10)")
file(READ "${WORK}/out.npy" v OFFSET ${off} LIMIT 4 HEX)
if(NOT v STREQUAL "00009642")
  message(FATAL_ERROR "out.npy (10,10) bytes ${v}, expected 75.0f (00009642)")
endif()
math(EXPR off "128 + 4 * (5 * 32)")
file(READ "${WORK}/out.npy" v OFFSET ${off} LIMIT 4 HEX)
if(NOT v STREQUAL "00000143")
  message(FATAL_ERROR "out.npy (0,5) bytes ${v}, expected 129.0f (00000143)")
endif()

# A missing input fails and writes nothing.
execute_process(COMMAND "${EXE}" "${WORK}/missing.png" "${WORK}/never.png"
                RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
if(rc EQUAL 0 OR EXISTS "${WORK}/never.png")
  message(FATAL_ERROR "a missing input gave exit ${rc}")
endif()
file(REMOVE_RECURSE "${WORK}")
]=])
add_test(NAME example_api
         COMMAND ${CMAKE_COMMAND} -DEXE=$<TARGET_FILE:example_api>
                 -DWORK=${CMAKE_CURRENT_BINARY_DIR}/example_api_work
                 -P ${CLCONV_EXAMPLE_SCRIPT})

# The installed library as users take it: SONAME, exports, clconv.pc and
# find_package(clconv), each building and running the example above.
add_test(NAME install_api
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/check_install.sh ${CMAKE_BINARY_DIR}
                 ${CMAKE_SOURCE_DIR} ${CLCONV_EXAMPLE_SCRIPT} ${CLCONV_FAULT_INJECTION})
set_tests_properties(install_api PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
if(CLCONV_ASAN_RT)
  set_property(TEST install_api APPEND PROPERTY ENVIRONMENT
               "CLCONV_TEST_PRELOAD=${CLCONV_ASAN_RT}")
endif()

# The resize API: hand-worked cases, statuses, a channel of an interleaved
# image equal to the channel alone (py_resize compares with Pillow).
clconv_c_test(test_resize_unit test_resize_unit.c)
