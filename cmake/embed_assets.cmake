# Writes a C++ file that holds files' bytes and defines gt::live::find_asset() (src/live/live_assets.h). Run by
# cmake/live_assets.cmake at build time:
#   cmake -DASSETS="/a.html=/path/a.html|/b.js=/path/b.js" -DOUT=live_assets.cpp -P embed_assets.cmake
# Each file becomes an unsigned char array (a string literal would need escaping and has per-compiler length limits);
# the content type follows the served path's extension.
cmake_minimum_required(VERSION 3.22)
if(NOT ASSETS OR NOT OUT)
  message(FATAL_ERROR "embed_assets.cmake: pass -DASSETS=\"/served=file|...\" and -DOUT=generated.cpp")
endif()
string(REPLACE "|" ";" assets "${ASSETS}")

# 20 bytes a line (CMake's regular expressions have no {n} repetition).
string(REPEAT "0x..," 20 line_of_bytes)

set(arrays "")
set(entries "")
set(i 0)
foreach(a ${assets})
  string(REGEX MATCH "^[^=]*" served "${a}")
  string(REGEX REPLACE "^[^=]*=" "" file "${a}")
  if(NOT EXISTS "${file}")
    message(FATAL_ERROR "embed_assets.cmake: ${file} (served at ${served}) does not exist")
  endif()
  if(served MATCHES "\\.html$")
    set(type "text/html; charset=utf-8")
  elseif(served MATCHES "\\.js$")
    set(type "text/javascript; charset=utf-8")
  elseif(served MATCHES "\\.css$")
    set(type "text/css; charset=utf-8")
  else()
    message(FATAL_ERROR "embed_assets.cmake: no content type for ${served} (expected .html, .js or .css)")
  endif()
  file(READ "${file}" hex HEX)
  string(LENGTH "${hex}" hex_length)
  math(EXPR size "${hex_length} / 2")
  if(size EQUAL 0)
    set(bytes "0")  # an array may not be empty; the view below still has length 0
  else()
    string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
    string(REGEX REPLACE "(${line_of_bytes})" "\\1\n" bytes "${bytes}")
  endif()
  # The file's name only: the generated file stays the same in every clone (and so in the compiler cache).
  get_filename_component(name "${file}" NAME)
  string(APPEND arrays "// ${served}: ${name} (${size} bytes)\nconst unsigned char kAsset${i}[] = {\n${bytes}\n};\n\n")
  string(APPEND entries "      {\"${served}\", {std::string_view(reinterpret_cast<const char*>(kAsset${i}), ${size}), "
                        "\"${type}\"}},\n")
  math(EXPR i "${i} + 1")
endforeach()

file(WRITE "${OUT}.tmp" "// Generated at build time by cmake/embed_assets.cmake (cmake/live_assets.cmake); do not edit.
#include \"live/live_assets.h\"

namespace gt::live {
namespace {

${arrays}struct Entry {
  std::string_view path;
  Asset asset;
};

}  // namespace

const Asset* find_asset(std::string_view path) {
  static const Entry entries[] = {
${entries}  };
  if (path == \"/\") path = \"/index.html\";
  for (const Entry& e : entries)
    if (e.path == path) return &e.asset;
  return nullptr;
}

}  // namespace gt::live
")
file(RENAME "${OUT}.tmp" "${OUT}")
