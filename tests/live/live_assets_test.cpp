// The live page's files compiled into the binary (cmake/live_assets.cmake, live/live_assets.h): byte-exact copies of
// src/live/page and uPlot's dist files, with the content types browsers need, and every file the page loads present.
#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <string>

#include "live/live_assets.h"
#include "test_util.h"

namespace gt::live {
namespace {

TEST(LiveAssets, EachServedFileIsTheSourceFileByteForByte) {
  const struct {
    const char* served;
    const char* source;
    const char* type;
  } files[] = {
      {"/index.html", "src/live/page/index.html", "text/html; charset=utf-8"},
      {"/live.js", "src/live/page/live.js", "text/javascript; charset=utf-8"},
      {"/live.css", "src/live/page/live.css", "text/css; charset=utf-8"},
      {"/uPlot.iife.min.js", "tools/npm/node_modules/uplot/dist/uPlot.iife.min.js", "text/javascript; charset=utf-8"},
      {"/uPlot.min.css", "tools/npm/node_modules/uplot/dist/uPlot.min.css", "text/css; charset=utf-8"},
  };
  for (const auto& f : files) {
    const Asset* a = find_asset(f.served);
    ASSERT_NE(a, nullptr) << f.served;
    EXPECT_EQ(std::string(a->body), gt::test::read_file(gt::test::source_path(f.source))) << f.served;
    EXPECT_EQ(a->content_type, f.type) << f.served;
  }
  // uPlot's browser build defines the global the page uses.
  EXPECT_NE(find_asset("/uPlot.iife.min.js")->body.find("var uPlot="), std::string_view::npos);
}

TEST(LiveAssets, RootIsThePageAndOtherPathsAreNotFound) {
  ASSERT_NE(find_asset("/"), nullptr);
  EXPECT_EQ(find_asset("/"), find_asset("/index.html"));
  for (const char* path : {"", "/index.htm", "/live.js/", "live.js", "/../live.js", "/LIVE.JS", "/history.json"})
    EXPECT_EQ(find_asset(path), nullptr) << path;
}

// index.html loads its style sheets and scripts through one list each (so the page's ?token= goes on every URL);
// every name in those lists must be served, or the page would load without its charts or styles.
TEST(LiveAssets, EveryFileThePageLoadsIsServed) {
  const std::string page(find_asset("/")->body);
  std::set<std::string> loaded;
  const std::regex name(R"('([A-Za-z.]+\.(js|css))')");
  for (auto it = std::sregex_iterator(page.begin(), page.end(), name); it != std::sregex_iterator(); ++it)
    loaded.insert((*it)[1]);
  EXPECT_EQ(loaded, (std::set<std::string>{"live.css", "live.js", "uPlot.iife.min.js", "uPlot.min.css"}));
  for (const std::string& f : loaded) EXPECT_NE(find_asset("/" + f), nullptr) << f;
}

}  // namespace
}  // namespace gt::live
