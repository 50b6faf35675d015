// The live page's files (src/live/page/ and uPlot from the npm registry), compiled into the binary at build time so
// the page needs no network and no files beside the program. Torch-free.
#pragma once

#include <string_view>

namespace gt::live {

struct Asset {
  std::string_view body;
  std::string_view content_type;  // "text/html; charset=utf-8", "text/javascript; charset=utf-8", "text/css; ..."
};

// The file served at `path` ("/" and "/index.html" = the page; "/live.js", "/live.css", "/uPlot.iife.min.js",
// "/uPlot.min.css"), or nullptr.
const Asset* find_asset(std::string_view path);

}  // namespace gt::live
