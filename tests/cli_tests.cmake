# Batch behaviour of the CLI: walks, lists, shards, resume, signals.
clconv_py_test(test_batch test_batch.py)
# The manual page lists every option --help lists.
add_test(NAME man_page COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/check_manpage.sh
         ${CLCONV_CLI} ${CMAKE_BINARY_DIR}/clconv.1 "${HELP2MAN}")
set_tests_properties(man_page PROPERTIES SKIP_RETURN_CODE 77)
# Bash completion: every long option of --help, the presets after -f.
add_test(NAME bash_completion COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/check_completion.sh
         ${CLCONV_CLI} ${CMAKE_SOURCE_DIR}/host/cli/clconv.bash-completion)
