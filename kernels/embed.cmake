# cmake -DOUT=file.c -DSOURCES="a.cl;b.cl" -P embed.cmake
# Writes a C file with one byte array per kernel file and a table {name, source, length}.
# Bytes are written as hex so that any character in a .cl file survives unchanged.
set(body "/* Generated from the kernels folder by kernels/embed.cmake; do not edit. */\n#include <stddef.h>\n")
set(table "")
set(count 0)
foreach(src IN LISTS SOURCES)
  get_filename_component(name ${src} NAME_WE)
  file(READ ${src} hex HEX)
  string(LENGTH "${hex}" hexlen)
  math(EXPR nbytes "${hexlen} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
  # break long lines every 24 bytes
  string(REGEX REPLACE "((0x..,){24})" "\\1\n" hex "${hex}")
  string(APPEND body "static const char gc_src_${name}[] = {\n${hex}0x00};\n")
  string(APPEND table "  {\"${name}\", gc_src_${name}, ${nbytes}},\n")
  math(EXPR count "${count} + 1")
endforeach()
string(APPEND body "\ntypedef struct { const char *name; const char *source; size_t length; } gc_embedded_kernel;\n")
string(APPEND body "const gc_embedded_kernel gc_embedded_kernels[] = {\n${table}  {NULL, NULL, 0}};\n")
string(APPEND body "const size_t gc_embedded_kernel_count = ${count};\n")
# Only touch the output when it changed, so that unrelated rebuilds stay incremental.
if(EXISTS ${OUT})
  file(READ ${OUT} old)
  if(old STREQUAL body)
    return()
  endif()
endif()
file(WRITE ${OUT} "${body}")
