# determinism.cmake — replays the image corpus twice, each time with the
# allocator filling fresh (non-calloc) memory with a different byte, and
# compares the per-input status and plane hashes fuzz_image prints under
# CLCONV_FUZZ_DIGEST. A difference means a decoder handed back memory it
# never wrote: pixels of an earlier image could leak into an output.
#   cmake -DREPLAY=path/to/fuzz_replay_image -DCORPUS=dir -P determinism.cmake
# glibc fills with the complement of glibc.malloc.perturb (tcache off: it
# hands chunks back unfilled); ASan, which replaces malloc in sanitizer
# builds, with malloc_fill_byte, for the whole block.
cmake_minimum_required(VERSION 3.16)
if(NOT REPLAY OR NOT CORPUS)
  message(FATAL_ERROR "usage: cmake -DREPLAY=... -DCORPUS=... -P determinism.cmake")
endif()
set(asan_common "detect_leaks=0:max_malloc_fill_size=1073741824")
foreach(pass 1 2)
  if(pass EQUAL 1)
    set(envs "GLIBC_TUNABLES=glibc.malloc.tcache_count=0:glibc.malloc.perturb=170"
             "ASAN_OPTIONS=${asan_common}:malloc_fill_byte=0")
  else()
    set(envs "GLIBC_TUNABLES=glibc.malloc.tcache_count=0:glibc.malloc.perturb=85"
             "ASAN_OPTIONS=${asan_common}:malloc_fill_byte=255")
  endif()
  execute_process(
    COMMAND ${CMAKE_COMMAND} -E env CLCONV_FUZZ_DIGEST=1 ${envs}
            ${REPLAY} ${CORPUS}
    OUTPUT_VARIABLE out${pass} ERROR_VARIABLE err${pass}
    RESULT_VARIABLE rc${pass})
  if(NOT rc${pass} EQUAL 0)
    message(FATAL_ERROR "replay failed (pass ${pass}, exit ${rc${pass}}):\n${err${pass}}")
  endif()
endforeach()
if(NOT out1 STREQUAL out2)
  string(REPLACE "\n" ";" l1 "${out1}")
  string(REPLACE "\n" ";" l2 "${out2}")
  list(LENGTH l1 n)
  math(EXPR last "${n} - 1")
  set(diff "")
  foreach(i RANGE ${last})
    list(GET l1 ${i} a)
    list(GET l2 ${i} b)
    if(NOT a STREQUAL b)
      string(APPEND diff "  ${a}\n  ${b}\n")
    endif()
  endforeach()
  message(FATAL_ERROR "decoding depends on uninitialised memory for:\n${diff}")
endif()
message(STATUS "image corpus decodes the same whatever the heap held")
