# The live page's files compiled into gt_base (issue #12; src/live/live_assets.h): src/live/page/ and uPlot's
# browser build from the npm registry (tools/npm: package "uplot"). At build time cmake/embed_assets.cmake writes each
# file's bytes as a char array into ${CMAKE_BINARY_DIR}/generated/live_assets.cpp, which defines
# gt::live::find_asset(); editing a page file or upgrading uPlot regenerates it on the next build.
set(GT_LIVE_PAGE_DIR ${PROJECT_SOURCE_DIR}/src/live/page)
set(GT_UPLOT_DIST_DIR ${PROJECT_SOURCE_DIR}/tools/npm/node_modules/uplot/dist)

foreach(f uPlot.iife.min.js uPlot.min.css)
  if(NOT EXISTS ${GT_UPLOT_DIST_DIR}/${f})
    message(FATAL_ERROR "gemma-tune's live training page bundles uPlot from the npm registry, and "
                        "${GT_UPLOT_DIST_DIR}/${f} is missing. Run `make deps` (or `cd tools/npm && npm ci "
                        "--omit=optional --ignore-scripts`), then configure again.")
  endif()
endforeach()

# Served path = file. "/" serves index.html as well (find_asset maps it).
set(GT_LIVE_ASSETS
    "/index.html=${GT_LIVE_PAGE_DIR}/index.html"
    "/live.js=${GT_LIVE_PAGE_DIR}/live.js"
    "/live.css=${GT_LIVE_PAGE_DIR}/live.css"
    "/uPlot.iife.min.js=${GT_UPLOT_DIST_DIR}/uPlot.iife.min.js"
    "/uPlot.min.css=${GT_UPLOT_DIST_DIR}/uPlot.min.css")
set(GT_LIVE_ASSET_FILES)
foreach(a ${GT_LIVE_ASSETS})
  string(REGEX REPLACE "^[^=]*=" "" file ${a})
  list(APPEND GT_LIVE_ASSET_FILES ${file})
endforeach()

set(GT_LIVE_ASSETS_CPP ${CMAKE_BINARY_DIR}/generated/live_assets.cpp)
# The list travels as one argument with '|' between entries (a ';' would split it on the command line).
string(REPLACE ";" "|" GT_LIVE_ASSETS_ARG "${GT_LIVE_ASSETS}")
add_custom_command(
  OUTPUT ${GT_LIVE_ASSETS_CPP}
  COMMAND ${CMAKE_COMMAND} "-DASSETS=${GT_LIVE_ASSETS_ARG}" -DOUT=${GT_LIVE_ASSETS_CPP}
          -P ${PROJECT_SOURCE_DIR}/cmake/embed_assets.cmake
  DEPENDS ${GT_LIVE_ASSET_FILES} ${PROJECT_SOURCE_DIR}/cmake/embed_assets.cmake
  COMMENT "Embedding the live page (src/live/page, uPlot)"
  VERBATIM)
target_sources(gt_base PRIVATE ${GT_LIVE_ASSETS_CPP})
