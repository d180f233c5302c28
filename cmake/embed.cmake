# embed.cmake — turns kernels/*.cl into a C header of NUL-terminated byte
# arrays and a table of them by file name (clconv_kernel_files[]), so an
# installed clconv needs no kernel files at run time.
# Usage: cmake -DOUT=header.h -DSOURCES="a.cl|b.cl" -P embed.cmake
set(text "/* generated from the kernels directory by cmake/embed.cmake; do not edit */\n")
set(table "")
string(REPLACE "|" ";" SOURCES "${SOURCES}")
foreach(src IN LISTS SOURCES)
  get_filename_component(name "${src}" NAME)
  string(MAKE_C_IDENTIFIER "clconv_kernel_${name}" ident)
  file(READ "${src}" hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(APPEND text "static const unsigned char ${ident}[] = {${bytes}0x00};\n")
  string(APPEND table "    {\"${name}\", ${ident}, sizeof ${ident}},\n")
endforeach()
string(APPEND text "static const struct {\n    const char *name;\n    const unsigned char *data;\n    size_t size;\n} clconv_kernel_files[] = {\n${table}    {0, 0, 0}};\n")
file(WRITE "${OUT}.tmp" "${text}")
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different "${OUT}.tmp" "${OUT}")
