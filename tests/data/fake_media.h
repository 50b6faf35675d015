// Stand-in media probes for the data-layer tests of image and audio rows (tests/data/image_rows_test.cpp,
// streaming_media_test.cpp): images and clips known by file name, so that rows are tested without decoding; and the
// real tokenizer laid out per family (the placeholder tokens exist in it).
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/strings.h"
#include "data/image_tokens.h"
#include "data/text_options.h"
#include "data_test_util.h"
#include "io/model_config.h"
#include "io/remote_media.h"
#include "tokenizer/family_layout.h"

namespace gt::test {

inline const tok::Tokenizer& family_tokenizer(const std::string& family) {
  static test::TempDir dir("image-rows-tok");
  static std::map<std::string, tok::Tokenizer> cache;
  auto it = cache.find(family);
  if (it != cache.end()) return it->second;
  const std::string path = (dir / (family + ".json")).string();
  tok::write_family_tokenizer(test::real_tokenizer_json().string(), path, family);
  return cache.emplace(family, tok::Tokenizer::from_file(path)).first->second;
}

inline io::Family family_of(const std::string& f) { return f == "gemma3n" ? io::Family::Gemma3n : io::Family::Gemma4; }

// Images the stand-in probe knows: "<name>" -> width x height; anything else cannot be decoded.
struct FakeImages {
  std::map<std::string, std::pair<int64_t, int64_t>> sizes = {
      {"a.png", {336, 480}}, {"b.jpg", {640, 480}}, {"wide.png", {2000, 50}}, {"huge.png", {-1, -1}}};
  std::vector<std::string> probed;
  bool fetch_remote = false;  // fetch gs:// and http(s) sources through io/remote_media as the real probe does

  data::ImageRowOptions options(const std::string& family, int64_t budget = 70) {
    data::ImageRowOptions o;
    const data::ImageTokenRule rule = data::default_image_token_rule(family_of(family), budget);
    o.probe = [this, rule](const std::string& source) -> data::RowResult<data::ImageRef> {
      probed.push_back(source);
      if (fetch_remote && io::is_remote_medium(source)) io::fetch_remote_media(source, 1 << 20);
      auto it = sizes.find(std::filesystem::path(source).filename().string());
      if (it == sizes.end())
        return data::RowResult<data::ImageRef>::fail(data::skip_kind::kBadImage, cat(source, ": cannot decode"));
      if (it->second.first < 0)
        return data::RowResult<data::ImageRef>::fail(data::skip_kind::kImageTooLarge, cat(source, ": too large"));
      data::ImageRef r;
      r.source = source;
      r.width = it->second.first;
      r.height = it->second.second;
      r.soft_tokens = data::image_soft_token_count(rule, r.height, r.width);
      return data::RowResult<data::ImageRef>::ok(r);
    };
    o.placeholder_text = [rule](const data::ImageRef& r) { return data::image_prompt_text(rule, r.soft_tokens); };
    o.placeholder_id = *family_tokenizer(family).find_id(rule.soft_token);
    return o;
  }
};

struct FakeClips {
  data::AudioRowOptions options(const std::string& family) {
    data::AudioRowOptions a;
    a.probe = [](const std::string& source) -> data::RowResult<data::AudioRef> {
      data::AudioRef r;
      r.source = source;
      r.samples = 16000;
      r.seconds = 1;
      r.soft_tokens = 3;
      return data::RowResult<data::AudioRef>::ok(r);
    };
    const bool n3 = family == "gemma3n";
    a.placeholder_text = [n3](const data::AudioRef& r) {
      std::string s = n3 ? "<start_of_audio>" : "<|audio>";
      for (int64_t i = 0; i < r.soft_tokens; ++i) s += n3 ? "<audio_soft_token>" : "<|audio|>";
      return s + (n3 ? "<end_of_audio>" : "<audio|>");
    };
    a.placeholder_id = *family_tokenizer(family).find_id(n3 ? "<audio_soft_token>" : "<|audio|>");
    return a;
  }
};

}  // namespace gt::test
