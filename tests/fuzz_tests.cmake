# Fuzz corpus replay (issue 6): each libFuzzer harness in tests/fuzz/ is also
# linked with replay.c, a plain main() that runs it over every file of its
# checked-in corpus. Cheap enough for every build; under -DCLCONV_SANITIZE=ON
# it is the CI replay of the corpus under ASan+UBSan. Fuzzing itself is
# tests/fuzz/run.sh (clang + libFuzzer), not part of ctest.
set(CLCONV_FUZZ_DIR ${CMAKE_CURRENT_SOURCE_DIR}/fuzz)

foreach(harness image filter)
  add_executable(fuzz_replay_${harness}
    ${CLCONV_FUZZ_DIR}/replay.c ${CLCONV_FUZZ_DIR}/fuzz_${harness}.c)
  target_compile_options(fuzz_replay_${harness} PRIVATE ${CLCONV_WARNINGS})
  target_link_libraries(fuzz_replay_${harness} PRIVATE clconv m)
  add_test(NAME fuzz_replay_${harness}
           COMMAND fuzz_replay_${harness} ${CLCONV_FUZZ_DIR}/corpus/${harness})
  # Under ASan an allocation over 1 GiB is a failure: the harness caps
  # inputs at 4 Mpixels, so that is a decompression bomb getting through.
  set_tests_properties(fuzz_replay_${harness} PROPERTIES
    ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1:max_allocation_size_mb=1024;UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1"
    TIMEOUT 300)
endforeach()

# The image corpus must decode the same whatever fresh memory holds (see
# tests/fuzz/determinism.cmake): catches decoders returning pixels they
# never wrote, which ASan cannot see.
add_test(NAME fuzz_determinism_image
         COMMAND ${CMAKE_COMMAND} -DREPLAY=$<TARGET_FILE:fuzz_replay_image>
                 -DCORPUS=${CLCONV_FUZZ_DIR}/corpus/image
                 -P ${CLCONV_FUZZ_DIR}/determinism.cmake)
set_tests_properties(fuzz_determinism_image PROPERTIES TIMEOUT 300)
