#include "tokenizer/family_layout.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <regex>

#include "core/error.h"

using nlohmann::json;

namespace gt::tok {

namespace {

struct Slot {
  int64_t id;
  std::string token;
};

// Gemma 3 -> Gemma 4: the turn markers keep their ids (105, 106) under new names; media markers take the ids the
// Gemma 4 tokenizer gives them (unused slots in Gemma 3); <image_soft_token> (262144) does not exist in a 262,144-row Gemma 4 vocab.
const std::vector<Slot> kGemma4 = {{105, "<|turn>"},     {106, "<turn|>"},    {255999, "<|image>"},
                                   {256000, "<|audio>"}, {258880, "<|image|>"}, {258881, "<|audio|>"},
                                   {258882, "<image|>"}, {258883, "<audio|>"},  {258884, "<|video|>"}};
// Gemma 3 -> Gemma 3n: 256000 becomes <start_of_audio>; the end-of-media and soft tokens sit above the text
// vocabulary.
const std::vector<Slot> kGemma3n = {{256000, "<start_of_audio>"}, {262144, "<end_of_image>"},
                                    {262145, "<image_soft_token>"}, {262272, "<end_of_audio>"},
                                    {262273, "<audio_soft_token>"}};

bool replaceable(const std::string& content, int64_t id) {
  static const std::regex unused("<unused[0-9]+>");
  return std::regex_match(content, unused) || (id == 105 && content == "<start_of_turn>") ||
         (id == 106 && content == "<end_of_turn>") || (id == 255999 && content == "<start_of_image>") ||
         (id == 256000 && content == "<end_of_image>") || (id == 262144 && content == "<image_soft_token>");
}

}  // namespace

void write_family_tokenizer(const std::string& src, const std::string& dst, const std::string& family) {
  if (family != "gemma3n" && family != "gemma4") fail_input("tokenizer layout: unknown family \"", family, "\"");
  std::ifstream in(src);
  if (!in) fail_input(src, ": cannot read the tokenizer");
  json j = json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.contains("added_tokens") || !j.contains("model") || !j["model"].contains("vocab"))
    fail_input(src, ": not a Hugging Face tokenizer.json with added_tokens and model.vocab");
  json& added = j["added_tokens"];
  json& vocab = j["model"]["vocab"];
  if (vocab.size() < 262144) {
    std::ofstream out(dst);
    out << j.dump();
    if (!out) fail_input(dst, ": write failed");
    return;
  }
  std::map<int64_t, size_t> added_by_id;
  for (size_t i = 0; i < added.size(); ++i) added_by_id[added[i]["id"].get<int64_t>()] = i;
  std::map<int64_t, std::string> vocab_by_id;
  for (auto it = vocab.begin(); it != vocab.end(); ++it) vocab_by_id[it.value().get<int64_t>()] = it.key();

  if (family == "gemma4") {
    // Drop ids the Gemma 4 vocabulary does not have.
    json kept = json::array();
    for (auto& t : added)
      if (t["id"].get<int64_t>() < 262144) kept.push_back(t);
    added = kept;
    for (const auto& [id, tok] : vocab_by_id)
      if (id >= 262144) vocab.erase(tok);
    added_by_id.clear();
    for (size_t i = 0; i < added.size(); ++i) added_by_id[added[i]["id"].get<int64_t>()] = i;
  }
  for (const Slot& s : family == "gemma4" ? kGemma4 : kGemma3n) {
    auto v = vocab_by_id.find(s.id);
    if (v != vocab_by_id.end()) {
      // A tokenizer already in the family's layout (a real Gemma 4 or 3n tokenizer.json) keeps its slots.
      if (v->second == s.token && added_by_id.count(s.id)) continue;
      if (!replaceable(v->second, s.id))
        fail_input(src, ": id ", s.id, " holds \"", v->second, "\", not a token that ", family, " places ", s.token, " over");
      vocab.erase(v->second);
    }
    vocab[s.token] = s.id;
    json entry = {{"id", s.id}, {"content", s.token}, {"single_word", false}, {"lstrip", false},
                  {"rstrip", false}, {"normalized", false}, {"special", true}};
    auto a = added_by_id.find(s.id);
    if (a != added_by_id.end())
      added[a->second] = entry;
    else
      added.push_back(entry);
  }
  std::sort(added.begin(), added.end(), [](const json& a, const json& b) { return a["id"] < b["id"]; });
  std::ofstream out(dst + ".tmp");
  out << j.dump();
  out.close();
  if (!out) fail_input(dst, ": write failed");
  std::rename((dst + ".tmp").c_str(), dst.c_str());
}

}  // namespace gt::tok
