#include "export/gguf_export.h"

#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <unordered_map>

#include "core/error.h"                 // defines: gt::fail_input, gt::cat
#include "io/gguf.h"                    // defines: gt::io::GgufWriter, GgufValue, GgmlType
#include "tokenizer/tokenizer_json.h"  // defines: gt::tok::parse_tokenizer_json

namespace fs = std::filesystem;
using nlohmann::json;

namespace gt::exporting {

namespace {

using io::GgmlType;
using io::GgufValue;
using io::GgufWriter;

// llama.cpp's token types (gguf-py TokenType; SentencePiece's piece types have the same numbers).
enum TokenType : int32_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

constexpr uint32_t kQuantizationVersion = 2;  // GGML_QNT_VERSION

std::string read_text(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail_input(what, " ", path, ": cannot be read");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string shape_text(at::IntArrayRef shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// =================================================================================================================
// Vocabulary (conversion/base.py _create_vocab_sentencepiece for Gemma 3n, gguf-py LlamaHfVocab + SpecialVocab
// for Gemma 4), built from tokenizer.json.

struct AddedToken {
  int64_t id;
  std::string content;
  bool special;
};

struct Vocab {
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
  std::vector<std::string> merges;                  // Gemma 4 only
  std::vector<std::pair<std::string, uint32_t>> special_ids;  // GGUF key suffix ("bos_token_id"), id
  std::optional<bool> add_bos, add_eos;
  std::optional<std::string> chat_template;
  std::vector<std::pair<std::string, std::string>> named_chat_templates;
};

struct TokenizerSource {
  std::string path;
  tok::TokenizerJson tj;
  std::vector<AddedToken> added;
  json config;  // tokenizer_config.json beside tokenizer.json, or null
  std::optional<std::string> chat_template_file;  // chat_template.jinja beside it
  int64_t size = 0;  // largest id + 1 over model.vocab and added_tokens
  std::vector<std::optional<std::string>> by_id;
};

TokenizerSource read_tokenizer(const std::string& path) {
  TokenizerSource s;
  s.path = path;
  s.tj = tok::parse_tokenizer_json(read_text(path, "tokenizer"), path);
  auto bad = [&](auto&&... parts) { fail_input("tokenizer ", path, ": ", parts...); };
  if (!s.tj.vocab_read) bad("model.vocab is not an object of token -> id; the GGUF export needs a BPE tokenizer.json");
  constexpr int64_t kMaxId = int64_t(1) << 26;
  auto place = [&](int64_t id, const std::string& text, const char* field) {
    if (id < 0 || id >= kMaxId) bad(field, ": id ", id, " of ", text, " is out of range");
    if (id >= static_cast<int64_t>(s.by_id.size())) s.by_id.resize(size_t(id) + 1);
    s.by_id[size_t(id)] = text;  // an added token's content wins over model.vocab for the same id
  };
  for (const auto& [text, id] : s.tj.vocab) place(id, text, "model.vocab");
  const json& doc = s.tj.doc;
  if (doc.contains("added_tokens") && doc["added_tokens"].is_array()) {
    for (const json& a : doc["added_tokens"]) {
      if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() || !a.contains("content") ||
          !a["content"].is_string())
        bad("added_tokens: entry ", a.dump(), " lacks an integer id or a string content");
      AddedToken t{a["id"].get<int64_t>(), a["content"].get<std::string>(),
                   a.contains("special") && a["special"].is_boolean() && a["special"].get<bool>()};
      place(t.id, t.content, "added_tokens");
      s.added.push_back(std::move(t));
    }
  }
  s.size = static_cast<int64_t>(s.by_id.size());

  const fs::path dir = fs::path(path).parent_path();
  const fs::path config = dir / "tokenizer_config.json";
  if (fs::exists(config)) {
    try {
      s.config = json::parse(read_text(config.string(), "tokenizer config"));
    } catch (const json::exception& e) {
      fail_input("tokenizer config ", config.string(), ": invalid JSON: ", e.what());
    }
    if (!s.config.is_object()) fail_input("tokenizer config ", config.string(), ": expected a JSON object");
  }
  const fs::path jinja = dir / "chat_template.jinja";
  if (fs::exists(jinja)) s.chat_template_file = read_text(jinja.string(), "chat template");
  return s;
}

bool is_byte_token(const std::string& t) {
  return t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>' && std::isxdigit(uint8_t(t[3])) &&
         std::isxdigit(uint8_t(t[4]));
}

// The merges as "left right" strings, spaces inside a part written as U+0120 (gguf-py SpecialVocab).
std::vector<std::string> merge_strings(const tok::TokenizerJson& tj) {
  std::vector<std::string> out;
  out.reserve(tj.merges.size());
  auto encode_spaces = [](std::string_view part) {
    std::string r;
    for (char c : part) r += c == ' ' ? std::string("\xc4\xa0") : std::string(1, c);
    return r;
  };
  for (const auto& m : tj.merges) {
    std::string_view all(tj.merge_chars);
    if (m.is_pair)
      out.push_back(encode_spaces(all.substr(m.begin, m.mid - m.begin)) + " " +
                    encode_spaces(all.substr(m.mid, m.end - m.mid)));
    else
      out.emplace_back(all.substr(m.begin, m.end - m.begin));
  }
  return out;
}

// SpecialVocab: special token ids from tokenizer_config.json (<typ>_token, matched against added_tokens) first,
// then config.json (<typ>_token_id); add_<typ>_token flags; the chat template.
void read_special_tokens(const TokenizerSource& src, const io::ModelConfig& cfg, int64_t n_vocab, Vocab& v) {
  std::map<std::string, int64_t> ids;
  auto set_id = [&](const std::string& typ, std::optional<int64_t> id) {
    if (!id || *id < 0 || *id >= n_vocab || ids.count(typ)) return;
    ids[typ] = *id;
  };
  const char* kTypes[] = {"bos", "eos", "unk", "sep", "pad", "mask"};
  if (src.config.is_object()) {
    for (const char* typ : kTypes) {
      const std::string key = std::string(typ) + "_token";
      if (!src.config.contains(key)) continue;
      const json& e = src.config[key];
      std::string content;
      if (e.is_string()) content = e.get<std::string>();
      else if (e.is_object() && e.contains("content") && e["content"].is_string()) content = e["content"].get<std::string>();
      else continue;
      for (const auto& a : src.added)
        if (a.content == content) {
          set_id(typ, a.id);
          break;
        }
    }
    for (const char* typ : {"bos", "eos"}) {
      const std::string key = std::string("add_") + typ + "_token";
      if (src.config.contains(key) && src.config[key].is_boolean())
        (std::string(typ) == "bos" ? v.add_bos : v.add_eos) = src.config[key].get<bool>();
    }
  }
  // tokenizer.json's TemplateProcessing post-processor: a leading BOS / trailing EOS special token.
  const json& doc = src.tj.doc;
  if (doc.contains("post_processor") && doc["post_processor"].is_object()) {
    const json& pp = doc["post_processor"];
    std::vector<json> procs = pp.contains("processors") && pp["processors"].is_array()
                                  ? pp["processors"].get<std::vector<json>>()
                                  : std::vector<json>{pp};
    for (const json& p : procs) {
      if (p.value("type", "") != "TemplateProcessing" || !p.contains("single") || !p["single"].is_array()) continue;
      const json& single = p["single"];
      if (single.size() > 1 && single[0].contains("SpecialToken") && !v.add_bos) v.add_bos = true;
      if (single.size() > 1 && single.back().contains("SpecialToken") && !v.add_eos) v.add_eos = true;
    }
  }
  // config.json values (the converter reads *_token_id from the model's config.json).
  set_id("bos", cfg.text.bos_token_id);
  // A list of EOS ids (instruction-tuned checkpoints: [1, 106]) is skipped by the converter, which then relies on
  // tokenizer_config.json; without that file its first entry is the EOS llama.cpp needs.
  if (!cfg.text.eos_token_id.empty()) set_id("eos", cfg.text.eos_token_id[0]);
  set_id("pad", cfg.text.pad_token_id);
  // No unk_token_id in a Gemma config: model.unk_token of tokenizer.json names it.
  if (doc.contains("model") && doc["model"].contains("unk_token") && doc["model"]["unk_token"].is_string()) {
    const std::string unk = doc["model"]["unk_token"].get<std::string>();
    for (const auto& [text, id] : src.tj.vocab)
      if (text == unk) {
        set_id("unk", id);
        break;
      }
  }
  static const std::map<std::string, std::string> kKey = {
      {"bos", "bos_token_id"}, {"eos", "eos_token_id"}, {"unk", "unknown_token_id"},
      {"sep", "seperator_token_id"}, {"pad", "padding_token_id"}, {"mask", "mask_token_id"}};
  for (const char* typ : kTypes)
    if (ids.count(typ)) v.special_ids.emplace_back(kKey.at(typ), static_cast<uint32_t>(ids[typ]));

  // Chat template: tokenizer_config.json's chat_template (a string or a list of {name, template}), else the
  // chat_template.jinja file beside tokenizer.json.
  if (src.config.is_object() && src.config.contains("chat_template")) {
    const json& ct = src.config["chat_template"];
    if (ct.is_string()) {
      v.chat_template = ct.get<std::string>();
    } else if (ct.is_array()) {
      for (const json& e : ct) {
        if (!e.is_object() || !e.contains("template") || !e["template"].is_string()) continue;
        std::string name = e.value("name", "");
        for (char& c : name)
          if (!std::isalnum(uint8_t(c))) c = '_';
        if (name == "default") v.chat_template = e["template"].get<std::string>();
        else if (!name.empty()) v.named_chat_templates.emplace_back(name, e["template"].get<std::string>());
      }
    }
  }
  if (!v.chat_template && v.named_chat_templates.empty() && src.chat_template_file)
    v.chat_template = *src.chat_template_file;
}

// Gemma 3n: the converter reads tokenizer.model (SentencePiece) and pads to vocab_size with "[PAD<id>]" UNUSED
// tokens; tokens at ids >= vocab_size are dropped. From tokenizer.json: pieces as stored, types UNKNOWN (the unk
// token), CONTROL (added special tokens), USER_DEFINED (other added tokens), BYTE (<0xXX>), NORMAL; scores: a BPE
// tokenizer.json of a SentencePiece model lists its merges in the order of the merged piece's score, so a piece's
// score is minus the rank of the first merge that makes it (0 for pieces no merge makes), which gives llama.cpp's
// score-driven merging the merge order of the BPE model; added tokens -1000 and padding -10000 as the converter
// writes them. One deliberate difference: the converter writes "▁" in user-defined tokens as a space; kept as "▁",
// llama.cpp tokenizes every string of tests/fixtures/tokenizer/corpus.jsonl (4,951) exactly as the Gemma tokenizer
// does, where the converter's spelling differs on the 188 strings with a literal "▁".
Vocab gemma3n_vocab(const TokenizerSource& src, const io::ModelConfig& cfg) {
  const int64_t n = cfg.text.vocab_size;
  Vocab v;
  v.tokens.resize(size_t(n));
  v.scores.assign(size_t(n), -10000.0f);
  v.types.assign(size_t(n), kUnused);
  for (int64_t i = 0; i < n; ++i) v.tokens[size_t(i)] = cat("[PAD", i, "]");

  std::unordered_map<std::string, int64_t> first_rank;
  {
    std::vector<std::string> merges = merge_strings(src.tj);
    first_rank.reserve(merges.size());
    for (size_t r = 0; r < merges.size(); ++r) {
      const std::string& m = merges[r];
      size_t sp = m.find(' ', 1);
      if (sp == std::string::npos) continue;
      std::string merged = m.substr(0, sp) + m.substr(sp + 1);
      first_rank.emplace(merged, static_cast<int64_t>(r));
    }
  }
  std::string unk;
  const json& doc = src.tj.doc;
  if (doc.contains("model") && doc["model"].contains("unk_token") && doc["model"]["unk_token"].is_string())
    unk = doc["model"]["unk_token"].get<std::string>();
  std::map<int64_t, const AddedToken*> added;
  for (const auto& a : src.added) added[a.id] = &a;

  for (int64_t id = 0; id < std::min(n, src.size); ++id) {
    if (!src.by_id[size_t(id)]) continue;
    const std::string& text = *src.by_id[size_t(id)];
    auto a = added.find(id);
    if (a != added.end()) {
      v.tokens[size_t(id)] = text;
      v.types[size_t(id)] = a->second->special ? kControl : kUserDefined;
      v.scores[size_t(id)] = -1000.0f;
      if (!unk.empty() && text == unk) v.types[size_t(id)] = kUnknown;
      continue;
    }
    v.tokens[size_t(id)] = text;
    auto r = first_rank.find(text);
    v.scores[size_t(id)] = r == first_rank.end() ? 0.0f : -static_cast<float>(r->second);
    v.types[size_t(id)] = !unk.empty() && text == unk ? kUnknown : is_byte_token(text) ? kByte : kNormal;
  }
  read_special_tokens(src, cfg, n, v);
  // Without tokenizer_config.json the converter writes no add_bos_token and llama.cpp's SentencePiece default
  // (add BOS) applies; writing it says the same to every reader.
  if (!v.add_bos) v.add_bos = true;
  return v;
}

// Gemma 4 (Gemma4Model.set_vocab): every tokenizer token in id order, score -1000, type BYTE (<0xXX>), CONTROL
// (special), USER_DEFINED for added non-special tokens and for the tokens the chat parser must see (<|channel>,
// <|tool_call>, ...), else NORMAL; the merges; add_bos always true. One deliberate difference: gguf-py's
// LlamaHfVocab types an added non-special token NORMAL when its id lies inside model.vocab, so llama.cpp does not
// match it as a whole in raw text as the Gemma tokenizer does ("<unused0>", "</div>", "<mask>": 385 of the 4,951
// strings of tests/fixtures/tokenizer/corpus.jsonl tokenize differently); as USER_DEFINED every string matches.
Vocab gemma4_vocab(const TokenizerSource& src, const io::ModelConfig& cfg) {
  static const std::set<std::string> kVisible = {"<|channel>",       "<channel|>",        "<|tool_call>",
                                                 "<tool_call|>",     "<|tool_response>", "<tool_response|>",
                                                 "<|\"|>"};
  const int64_t n = src.size;
  std::map<int64_t, const AddedToken*> added;
  for (const auto& a : src.added) added[a.id] = &a;
  Vocab v;
  v.tokens.resize(size_t(n));
  v.scores.assign(size_t(n), -1000.0f);
  v.types.assign(size_t(n), kNormal);
  for (int64_t id = 0; id < n; ++id) {
    if (!src.by_id[size_t(id)]) {
      v.tokens[size_t(id)] = cat("[PAD", id, "]");
      v.types[size_t(id)] = kUnused;
      continue;
    }
    const std::string& text = *src.by_id[size_t(id)];
    v.tokens[size_t(id)] = text;
    auto a = added.find(id);
    const bool special = a != added.end() && a->second->special;
    if (is_byte_token(text)) v.types[size_t(id)] = kByte;
    else if (special) v.types[size_t(id)] = kControl;
    else if (a != added.end()) v.types[size_t(id)] = kUserDefined;
    if (kVisible.count(text)) v.types[size_t(id)] = kUserDefined;
  }
  v.merges = merge_strings(src.tj);
  read_special_tokens(src, cfg, n, v);
  v.add_bos = true;
  return v;
}

void check_unique(const Vocab& v, const std::string& tokenizer_path) {
  std::unordered_map<std::string_view, size_t> seen;
  seen.reserve(v.tokens.size());
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    auto [it, fresh] = seen.emplace(v.tokens[i], i);
    if (!fresh)
      fail_input("tokenizer ", tokenizer_path, ": ids ", it->second, " and ", i, " both become the token \"",
                 v.tokens[i], "\" in the GGUF vocabulary; llama.cpp needs every token text once");
  }
}

// =================================================================================================================
// Tensors

// Produces the rows [first, first + n) of a 2-D float view: the rows of `parts` one after another, then zero rows
// up to `rows` (the converter's padding), or only the first `rows` (trimming).
GgufWriter::RowSource row_source(std::vector<at::Tensor> parts, int64_t row_len) {
  for (auto& p : parts) p = p.reshape({-1, row_len});
  return [parts = std::move(parts), row_len](int64_t first, int64_t n, float* out) {
    int64_t r = first, done = 0, base = 0;
    for (const auto& p : parts) {
      const int64_t pr = p.size(0);
      if (r < base + pr && done < n) {
        const int64_t take = std::min(n - done, base + pr - r);
        at::Tensor chunk = p.narrow(0, r - base, take).to(at::kCPU, at::kFloat).contiguous();
        std::memcpy(out + done * row_len, chunk.data_ptr<float>(), size_t(take * row_len) * sizeof(float));
        done += take;
        r += take;
      }
      base += pr;
    }
    std::fill(out + done * row_len, out + n * row_len, 0.0f);
  };
}

struct Planned {
  std::string name;             // GGUF name
  std::vector<int64_t> shape;   // row-major
  std::vector<at::Tensor> parts;
  std::vector<float> values;    // generated tensors
};

// Tensor storage as the converter picks it (ModelBase.prepare_tensors): float32 for 1-D tensors, "_norm.weight"
// names and Gemma 3n's AltUp coefficients; otherwise the file type, Q8_0 falling back to F16 for rows that are not
// a multiple of 32.
GgmlType storage_type(const std::string& name, const std::vector<int64_t>& shape, GgufType t) {
  if (shape.size() <= 1 || ends_with(name, "_norm.weight") || ends_with(name, ".altup_correct_coef.weight") ||
      ends_with(name, ".altup_predict_coef.weight") || !ends_with(name, ".weight"))
    return GgmlType::F32;
  switch (t) {
    case GgufType::F32: return GgmlType::F32;
    case GgufType::F16: return GgmlType::F16;
    case GgufType::BF16: return GgmlType::BF16;
    case GgufType::Q8_0: return shape.back() % 32 == 0 ? GgmlType::Q8_0 : GgmlType::F16;
  }
  return GgmlType::F32;
}

// The Hugging Face tensors of the text decoder, by name without the "model[.language_model]." prefix.
class Weights {
 public:
  Weights(const io::ModelConfig& cfg, const std::vector<std::pair<std::string, at::Tensor>>& all) : cfg_(cfg) {
    for (const auto& [name, t] : all) {
      if (name.find(".lora_A") != std::string::npos || name.find(".lora_B") != std::string::npos ||
          name.find(".lora_embedding_") != std::string::npos)
        fail_input("tensor '", name, "' is an unmerged LoRA factor; merge the adapter into the weights before exporting");
      std::string rest;
      if (name.rfind("model.language_model.", 0) == 0) rest = name.substr(21);
      else if (name.rfind("model.", 0) == 0) rest = name.substr(6);
      else if (name == "lm_head.weight") rest = name;
      // Multimodal tensors (towers, embedders, projectors) are skipped, as TextModel.filter_tensors does.
      if (name.find("audio") != std::string::npos || name.find("vision") != std::string::npos) continue;
      if (rest.empty()) fail_input("tensor '", name, "' is not a text-decoder tensor (expected a name under ",
                                   "\"model.language_model.\" or \"model.\")");
      if (!t.defined()) fail_input("tensor '", name, "' is undefined");
      if (!c10::isFloatingType(t.scalar_type()))
        fail_input("tensor '", name, "' has dtype ", t.scalar_type(), "; expected a floating-point tensor");
      if (by_rest_.count(rest)) fail_input("tensor '", name, "' is given twice");
      by_rest_[rest] = {name, t};
    }
  }

  bool has(const std::string& rest) const { return by_rest_.count(rest) > 0; }
  // The tensor, checked against `shape`; throws naming the Hugging Face tensor when absent or mis-shaped.
  at::Tensor get(const std::string& rest, const std::vector<int64_t>& shape) {
    auto it = by_rest_.find(rest);
    if (it == by_rest_.end())
      fail_input("tensor '", cfg_.text_prefix, rest, "' is missing; the GGUF export of ", cfg_.model_type,
                 " needs it (shape ", shape_text(shape), ")");
    used_.insert(rest);
    const at::Tensor& t = it->second.second;
    if (t.sizes().vec() != shape)
      fail_input("tensor '", it->second.first, "' has shape ", shape_text(t.sizes()), ", expected ",
                 shape_text(shape));
    return t;
  }
  void skip(const std::string& rest) { used_.insert(rest); }
  // Every tensor given must have been used or skipped on purpose.
  void check_all_used(std::string_view arch) const {
    for (const auto& [rest, named] : by_rest_)
      if (!used_.count(rest))
        fail_input("tensor '", named.first, "' is not a tensor of the ", arch,
                   " text decoder that llama.cpp reads; remove it or check the model family");
  }

 private:
  const io::ModelConfig& cfg_;
  std::map<std::string, std::pair<std::string, at::Tensor>> by_rest_;
  std::set<std::string> used_;
};

struct Plan {
  std::vector<Planned> tensors;
  void add(std::string name, std::vector<int64_t> shape, std::vector<at::Tensor> parts) {
    tensors.push_back({std::move(name), std::move(shape), std::move(parts), {}});
  }
};

// Hyper-parameters shared by the two families' checks.
struct Dims {
  int64_t L, D, H, P, n_vocab;
};

void plan_layer_common(Weights& w, Plan& plan, const io::TextConfig& t, int64_t l, const Dims& d) {
  const bool ple = d.P > 0;
  const std::string hf = cat("layers.", l, ".");
  const std::string gg = cat("blk.", l, ".");
  const int64_t hd = t.layer_head_dim[size_t(l)];
  const int64_t I = t.layer_intermediate_size[size_t(l)];
  auto one = [&](const std::string& hf_rest, const std::string& gg_rest, std::vector<int64_t> shape) {
    plan.add(gg + gg_rest, shape, {w.get(hf + hf_rest, shape)});
  };
  one("input_layernorm.weight", "attn_norm.weight", {d.D});
  one("self_attn.q_proj.weight", "attn_q.weight", {d.H * hd, d.D});
  one("self_attn.o_proj.weight", "attn_output.weight", {d.D, d.H * hd});
  one("self_attn.q_norm.weight", "attn_q_norm.weight", {hd});
  one("post_attention_layernorm.weight", "post_attention_norm.weight", {d.D});
  one("pre_feedforward_layernorm.weight", "ffn_norm.weight", {d.D});
  one("mlp.gate_proj.weight", "ffn_gate.weight", {I, d.D});
  one("mlp.up_proj.weight", "ffn_up.weight", {I, d.D});
  one("mlp.down_proj.weight", "ffn_down.weight", {d.D, I});
  one("post_feedforward_layernorm.weight", "post_ffw_norm.weight", {d.D});
  if (!ple) return;
  one("per_layer_input_gate.weight", "inp_gate.weight", {d.P, d.D});
  one("per_layer_projection.weight", "proj.weight", {d.D, d.P});
  one("post_per_layer_input_norm.weight", "post_norm.weight", {d.D});
}

void plan_gemma3n(Weights& w, Plan& plan, const io::TextConfig& t, const Dims& d) {
  const int64_t n_alt = t.altup_num_inputs;
  if (n_alt != 4) fail_input("gemma3n config: altup_num_inputs is ", n_alt, "; llama.cpp's converter supports 4");
  const int64_t vocab_pl = t.vocab_size_per_layer_input;
  plan.add("token_embd.weight", {d.n_vocab, d.D}, {w.get("embed_tokens.weight", {t.vocab_size, d.D})});
  plan.add("per_layer_token_embd.weight", {d.n_vocab, d.L * d.P},
           {w.get("embed_tokens_per_layer.weight", {vocab_pl, d.L * d.P})});
  plan.add("per_layer_model_proj.weight", {d.L * d.P, d.D},
           {w.get("per_layer_model_projection.weight", {d.L * d.P, d.D})});
  plan.add("per_layer_proj_norm.weight", {d.P}, {w.get("per_layer_projection_norm.weight", {d.P})});
  // Gemma3NModel.modify_tensors stacks the three AltUp (un)embedding projections into one [3, D, D] tensor.
  for (const char* kind : {"altup_projections", "altup_unembed_projections"}) {
    std::vector<at::Tensor> parts;
    for (int64_t i = 0; i < n_alt - 1; ++i) parts.push_back(w.get(cat(kind, ".", i, ".weight"), {d.D, d.D}));
    plan.add(std::string(kind) == "altup_projections" ? "altup_proj.weight" : "altup_unembd_proj.weight",
             {n_alt - 1, d.D, d.D}, parts);
  }
  plan.add("output_norm.weight", {d.D}, {w.get("norm.weight", {d.D})});

  for (int64_t l = 0; l < d.L; ++l) {
    const std::string hf = cat("layers.", l, ".");
    const std::string gg = cat("blk.", l, ".");
    const int64_t hd = t.layer_head_dim[size_t(l)];
    const int64_t kv = t.layer_num_kv_heads[size_t(l)] * hd;
    plan_layer_common(w, plan, t, l, d);
    // llama.cpp's gemma3n loader requires k/v projections and k_norm in every layer. KV-shared layers have none
    // in a transformers 5 model (the released checkpoints still carry unused copies); those layers never read
    // them in llama.cpp (its first 20 layers own a KV cache, the E2B/E4B KV-sharing boundary), so the KV source
    // layer's weights stand in for them when they are not given.
    const int64_t src = t.is_kv_shared(l) && !w.has(hf + "self_attn.k_proj.weight") ? t.kv_source_layer[size_t(l)] : l;
    const std::string shf = cat("layers.", src, ".");
    plan.add(gg + "attn_k.weight", {kv, d.D}, {w.get(shf + "self_attn.k_proj.weight", {kv, d.D})});
    plan.add(gg + "attn_v.weight", {kv, d.D}, {w.get(shf + "self_attn.v_proj.weight", {kv, d.D})});
    plan.add(gg + "attn_k_norm.weight", {hd}, {w.get(shf + "self_attn.k_norm.weight", {hd})});
    auto one = [&](const std::string& hf_rest, const std::string& gg_rest, std::vector<int64_t> shape) {
      plan.add(gg + gg_rest, shape, {w.get(hf + hf_rest, shape)});
    };
    one("altup.correct_output_scale", "altup_correct_scale.weight", {d.D});
    one("altup.correction_coefs.weight", "altup_correct_coef.weight", {n_alt, n_alt});
    one("altup.prediction_coefs.weight", "altup_predict_coef.weight", {n_alt * n_alt, n_alt});
    one("altup.modality_router.weight", "altup_router.weight", {n_alt, d.D});
    one("altup.router_norm.weight", "altup_router_norm.weight", {d.D});
    one("laurel.linear_left.weight", "laurel_l.weight", {t.laurel_rank, d.D});
    one("laurel.linear_right.weight", "laurel_r.weight", {d.D, t.laurel_rank});
    one("laurel.post_laurel_norm.weight", "laurel_post_norm.weight", {d.D});
  }
}

void plan_gemma4(Weights& w, Plan& plan, const io::TextConfig& t, const Dims& d, int64_t head_dim_full) {
  const int64_t vocab_pl = t.vocab_size_per_layer_input;
  plan.add("token_embd.weight", {d.n_vocab, d.D}, {w.get("embed_tokens.weight", {t.vocab_size, d.D})});
  if (d.P > 0) {
    plan.add("per_layer_token_embd.weight", {d.n_vocab, d.L * d.P},
             {w.get("embed_tokens_per_layer.weight", {vocab_pl, d.L * d.P})});
    plan.add("per_layer_model_proj.weight", {d.L * d.P, d.D},
             {w.get("per_layer_model_projection.weight", {d.L * d.P, d.D})});
    plan.add("per_layer_proj_norm.weight", {d.P}, {w.get("per_layer_projection_norm.weight", {d.P})});
  }
  plan.add("output_norm.weight", {d.D}, {w.get("norm.weight", {d.D})});

  // Gemma4Model.generate_extra_tensors: proportional RoPE of the full-attention layers as llama.cpp's NeoX RoPE
  // over the whole head with frequency factors 1 for the rotated pairs and 1e30 (no rotation) for the rest.
  const io::RopeParameters& rf = t.rope_full;
  const int64_t n_rot = static_cast<int64_t>(double(head_dim_full) * rf.partial_rotary_factor / 2.0);
  std::vector<float> freqs(size_t(head_dim_full / 2), 1e30f);
  std::fill_n(freqs.begin(), std::min<int64_t>(n_rot, head_dim_full / 2), 1.0f);
  plan.tensors.push_back({"rope_freqs.weight", {head_dim_full / 2}, {}, std::move(freqs)});

  for (int64_t l = 0; l < d.L; ++l) {
    const std::string hf = cat("layers.", l, ".");
    const std::string gg = cat("blk.", l, ".");
    const int64_t hd = t.layer_head_dim[size_t(l)];
    const int64_t kv = t.layer_num_kv_heads[size_t(l)] * hd;
    plan_layer_common(w, plan, t, l, d);
    if (t.is_kv_shared(l)) {
      // KV-shared layers read another layer's keys and values: transformers 5 has no k/v projections there and
      // ignores them in a checkpoint; llama.cpp does not require them.
      for (const char* s : {"self_attn.k_proj.weight", "self_attn.v_proj.weight", "self_attn.k_norm.weight"})
        w.skip(hf + s);
    } else {
      plan.add(gg + "attn_k.weight", {kv, d.D}, {w.get(hf + "self_attn.k_proj.weight", {kv, d.D})});
      // attention_k_eq_v: full-attention layers have no v_proj and use the keys as values (llama.cpp likewise).
      const bool k_is_v = t.attention_k_eq_v && t.layer_types[size_t(l)] == io::LayerType::Full;
      if (!k_is_v || w.has(hf + "self_attn.v_proj.weight"))
        plan.add(gg + "attn_v.weight", {kv, d.D}, {w.get(hf + "self_attn.v_proj.weight", {kv, d.D})});
      plan.add(gg + "attn_k_norm.weight", {hd}, {w.get(hf + "self_attn.k_norm.weight", {hd})});
    }
    plan.add(gg + "layer_output_scale.weight", {1}, {w.get(hf + "layer_scalar", {1})});
  }
}

// =================================================================================================================
// Metadata

template <typename... Args>
[[noreturn]] void fail_meta(const std::string& key, Args&&... parts) {
  fail_input("GGUF extra metadata '", key, "': ", std::forward<Args>(parts)...);
}

GgufValue json_to_value(const std::string& key, const json& v) {
  auto bad = [&](auto&&... parts) { fail_meta(key, parts...); };
  auto scalar = [&](const json& e) -> GgufValue {
    if (e.is_boolean()) return GgufValue::scalar<bool>(e.get<bool>());
    if (e.is_string()) return GgufValue::string(e.get<std::string>());
    if (e.is_number_unsigned()) {
      uint64_t u = e.get<uint64_t>();
      return u <= std::numeric_limits<uint32_t>::max() ? GgufValue::scalar<uint32_t>(uint32_t(u))
                                                       : GgufValue::scalar<uint64_t>(u);
    }
    if (e.is_number_integer()) {
      int64_t i = e.get<int64_t>();
      return i >= std::numeric_limits<int32_t>::min() ? GgufValue::scalar<int32_t>(int32_t(i))
                                                      : GgufValue::scalar<int64_t>(i);
    }
    if (e.is_number_float()) return GgufValue::scalar<float>(e.get<float>());
    fail_meta(key, "value ", e.dump(), " is not a string, boolean or number");
  };
  if (v.is_object()) {
    if (!v.contains("type") || !v["type"].is_string() || !v.contains("value"))
      bad("an object value must be {\"type\": \"u32\", \"value\": ...}");
    const std::string type = v["type"].get<std::string>();
    const json& x = v["value"];
    try {
      if (x.is_array()) {
        if (type == "u8") return GgufValue::array(x.get<std::vector<uint8_t>>());
        if (type == "i8") return GgufValue::array(x.get<std::vector<int8_t>>());
        if (type == "u16") return GgufValue::array(x.get<std::vector<uint16_t>>());
        if (type == "i16") return GgufValue::array(x.get<std::vector<int16_t>>());
        if (type == "u32") return GgufValue::array(x.get<std::vector<uint32_t>>());
        if (type == "i32") return GgufValue::array(x.get<std::vector<int32_t>>());
        if (type == "u64") return GgufValue::array(x.get<std::vector<uint64_t>>());
        if (type == "i64") return GgufValue::array(x.get<std::vector<int64_t>>());
        if (type == "f32") return GgufValue::array(x.get<std::vector<float>>());
        if (type == "f64") return GgufValue::array(x.get<std::vector<double>>());
        if (type == "bool") return GgufValue::array(x.get<std::vector<bool>>());
        if (type == "string") return GgufValue::array(x.get<std::vector<std::string>>());
      } else {
        if (type == "u8") return GgufValue::scalar(x.get<uint8_t>());
        if (type == "i8") return GgufValue::scalar(x.get<int8_t>());
        if (type == "u16") return GgufValue::scalar(x.get<uint16_t>());
        if (type == "i16") return GgufValue::scalar(x.get<int16_t>());
        if (type == "u32") return GgufValue::scalar(x.get<uint32_t>());
        if (type == "i32") return GgufValue::scalar(x.get<int32_t>());
        if (type == "u64") return GgufValue::scalar(x.get<uint64_t>());
        if (type == "i64") return GgufValue::scalar(x.get<int64_t>());
        if (type == "f32") return GgufValue::scalar(x.get<float>());
        if (type == "f64") return GgufValue::scalar(x.get<double>());
        if (type == "bool") return GgufValue::scalar(x.get<bool>());
        if (type == "string") return GgufValue::string(x.get<std::string>());
      }
    } catch (const json::exception& e) {
      bad("value ", x.dump(), " does not fit type ", type, ": ", e.what());
    }
    fail_meta(key, "unknown type \"", type, "\"; expected u8, i8, u16, i16, u32, i32, u64, i64, f32, f64, bool or string");
  }
  if (!v.is_array()) return scalar(v);
  if (v.empty()) bad("an empty array has no element type");
  if (std::all_of(v.begin(), v.end(), [](const json& e) { return e.is_string(); }))
    return GgufValue::array(v.get<std::vector<std::string>>());
  if (std::all_of(v.begin(), v.end(), [](const json& e) { return e.is_boolean(); }))
    return GgufValue::array(v.get<std::vector<bool>>());
  if (std::all_of(v.begin(), v.end(), [](const json& e) { return e.is_number_integer(); })) {
    // As gguf-py writes Python int lists: i32 (i64 when a value does not fit).
    std::vector<int64_t> xs = v.get<std::vector<int64_t>>();
    bool fits = std::all_of(xs.begin(), xs.end(), [](int64_t x) {
      return x >= std::numeric_limits<int32_t>::min() && x <= std::numeric_limits<int32_t>::max();
    });
    if (fits) return GgufValue::array(std::vector<int32_t>(xs.begin(), xs.end()));
    return GgufValue::array(xs);
  }
  if (std::all_of(v.begin(), v.end(), [](const json& e) { return e.is_number(); }))
    return GgufValue::array(v.get<std::vector<float>>());
  fail_meta(key, "array ", v.dump().substr(0, 80), " mixes kinds; give {\"type\": ..., \"value\": [...]}");
}

std::vector<int32_t> to_i32(const std::vector<int64_t>& v) { return std::vector<int32_t>(v.begin(), v.end()); }

bool all_equal(const std::vector<int64_t>& v) {
  return std::adjacent_find(v.begin(), v.end(), std::not_equal_to<>()) == v.end();
}

// Normal(0, 1).icdf(p) as torch computes it in float32 (loc + scale * erfinv(2p - 1) * sqrt(2)), which the
// converter writes as Gemma 3n's activation_sparsity_scale (-inf for a dense layer, p = 0).
float normal_icdf_f32(double p) {
  at::Tensor v = at::full({1}, static_cast<float>(p), at::kFloat);
  at::Tensor r = at::erfinv(v * 2 - 1) * std::sqrt(2.0);
  return r.item<float>();
}

}  // namespace

std::string_view gguf_type_name(GgufType t) {
  switch (t) {
    case GgufType::F32: return "f32";
    case GgufType::F16: return "f16";
    case GgufType::BF16: return "bf16";
    case GgufType::Q8_0: return "q8_0";
  }
  return "?";
}

GgufType parse_gguf_type(std::string_view name) {
  std::string s(name);
  for (char& c : s) c = static_cast<char>(std::tolower(uint8_t(c)));
  for (GgufType t : {GgufType::F32, GgufType::F16, GgufType::BF16, GgufType::Q8_0})
    if (s == gguf_type_name(t)) return t;
  fail_input("GGUF type \"", name, "\" is unknown; expected f32, f16, bf16 or q8_0");
}

uint32_t gguf_file_type(GgufType t) {
  switch (t) {
    case GgufType::F32: return 0;
    case GgufType::F16: return 1;
    case GgufType::BF16: return 32;
    case GgufType::Q8_0: return 7;
  }
  return 0;
}

std::vector<std::string> llama_cpp_limitations(const io::ModelConfig& cfg) {
  const io::TextConfig& t = cfg.text;
  const int64_t L = t.num_hidden_layers;
  std::vector<std::string> out;
  if (t.hidden_activation != "gelu_pytorch_tanh")
    out.push_back(cat("hidden_activation is ", t.hidden_activation, "; llama.cpp uses the tanh GELU"));
  if (cfg.family == io::Family::Gemma3n) {
    // src/models/gemma3n.cpp and llama-hparams.h of llama.cpp v0.4.0.
    if (t.hidden_size_per_layer_input != 256)
      out.push_back(cat("hidden_size_per_layer_input is ", t.hidden_size_per_layer_input,
                        "; llama.cpp's gemma3n fixes it at 256 (n_embd_altup) and refuses the per-layer tensors"));
    if (t.laurel_rank != 64)
      out.push_back(cat("laurel_rank is ", t.laurel_rank, "; llama.cpp's gemma3n fixes it at 64 and refuses the ",
                        "LAuReL tensors"));
    if (t.altup_active_idx != 0)
      out.push_back(cat("altup_active_idx is ", t.altup_active_idx, "; llama.cpp's gemma3n uses stream 0"));
    if (L - t.num_kv_shared_layers != 20)
      out.push_back(cat(L - t.num_kv_shared_layers, " layers own a KV cache; llama.cpp's gemma3n gives the first 20 ",
                        "layers one (n_layer_kv_from_start = 20) and lets layers from 20 on read layer 18 or 19"));
    for (int64_t l = 0; l < L; ++l) {
      const bool swa = l % 5 < 4;
      if ((t.layer_types[size_t(l)] == io::LayerType::Sliding) != swa) {
        out.push_back(cat("layer ", l, " is ", io::layer_type_name(t.layer_types[size_t(l)]),
                          "; llama.cpp's gemma3n ignores the sliding_window_pattern array and makes every 5th layer ",
                          "global (4 sliding, 1 full)"));
        break;
      }
    }
    for (int64_t l = 0; l < L && l < static_cast<int64_t>(t.activation_sparsity_pattern.size()); ++l) {
      const double want = l < 10 ? 0.95 : 0.0;
      if (std::fabs(t.activation_sparsity_pattern[size_t(l)] - want) > 1e-9) {
        out.push_back(cat("activation_sparsity_pattern[", l, "] is ", t.activation_sparsity_pattern[size_t(l)],
                          "; llama.cpp's gemma3n applies 0.95 to layers 0-9 and none after"));
        break;
      }
    }
    if (!all_equal(t.layer_intermediate_size))
      out.push_back("MLP widths differ between layers; llama.cpp's gemma3n declares every layer with layer 0's width "
                    "(hparams.n_ff()) and refuses the other layers' FFN tensors");
    if (t.final_logit_softcapping != 30.0)
      out.push_back(cat("final_logit_softcapping is ", t.final_logit_softcapping,
                        "; llama.cpp's gemma3n always caps at 30"));
  } else {
    // src/llama-model.cpp (the KV cache's layer_reuse callback) of llama.cpp v0.4.0.
    const int64_t first = t.first_kv_shared_layer();
    if (t.num_kv_shared_layers > 0 && first < 2)
      out.push_back(cat("only ", first, " layers own a KV cache; llama.cpp needs at least 2"));
    for (int64_t l = first; l < L && first >= 2; ++l) {
      const int64_t llama_src = first - (t.layer_types[size_t(l)] == io::LayerType::Sliding ? 2 : 1);
      if (t.kv_source_layer[size_t(l)] != llama_src) {
        out.push_back(cat("KV-shared layer ", l, " reads layer ", t.kv_source_layer[size_t(l)],
                          "; llama.cpp's gemma4 makes it read layer ", llama_src));
        break;
      }
    }
  }
  return out;
}

void write_gguf(const std::string& path, const io::ModelConfig& cfg, const std::string& tokenizer_json,
                const std::vector<std::pair<std::string, at::Tensor>>& text_weights, GgufType type,
                const nlohmann::json& extra_metadata) {
  const io::TextConfig& t = cfg.text;
  const bool is3n = cfg.family == io::Family::Gemma3n;
  const std::string arch(io::family_name(cfg.family));
  const std::string where = cat(arch, " config ", cfg.path);
  auto bad_cfg = [&](auto&&... parts) { fail_input(where, ": ", parts..., " (llama.cpp's ", arch, " cannot hold it)"); };
  if (!extra_metadata.is_null() && !extra_metadata.is_object())
    fail_input("GGUF extra metadata: expected a JSON object, found ", extra_metadata.type_name());

  const int64_t L = t.num_hidden_layers;
  if (static_cast<int64_t>(t.layer_types.size()) != L || static_cast<int64_t>(t.layer_head_dim.size()) != L)
    fail_input(where, ": per-layer values are not resolved for ", L, " layers");
  if (L > 512) bad_cfg(L, " layers (LLAMA_MAX_LAYERS is 512)");

  // Head dims: llama.cpp holds one for sliding and one for full-attention layers (Gemma 3n: one for all).
  int64_t head_dim_full = 0;
  for (int64_t l = 0; l < L; ++l) {
    const int64_t hd = t.layer_head_dim[size_t(l)];
    if (t.layer_types[size_t(l)] == io::LayerType::Sliding || is3n) {
      if (hd != t.head_dim) bad_cfg("layer ", l, " has head dim ", hd, ", other layers ", t.head_dim);
    } else {
      if (head_dim_full && hd != head_dim_full)
        bad_cfg("full-attention layers have head dims ", head_dim_full, " and ", hd);
      head_dim_full = hd;
    }
  }
  if (is3n) head_dim_full = t.head_dim;
  if (!is3n && head_dim_full == 0) bad_cfg("no full-attention layer");
  if (!is3n && t.enable_moe_block) bad_cfg("enable_moe_block: the mixture-of-experts Gemma 4 is not exported here");
  if (!is3n && t.rope_full.rope_type != "proportional")
    bad_cfg("full-attention RoPE type \"", t.rope_full.rope_type,
            "\"; the converter only writes Gemma 4 with \"proportional\" RoPE on full layers");

  // Tokenizer and the GGUF vocabulary size every vocabulary-sized tensor takes.
  const TokenizerSource src = read_tokenizer(tokenizer_json);
  Vocab vocab = is3n ? gemma3n_vocab(src, cfg) : gemma4_vocab(src, cfg);
  check_unique(vocab, tokenizer_json);
  const int64_t n_vocab = static_cast<int64_t>(vocab.tokens.size());
  if (!is3n && n_vocab > t.vocab_size)
    fail_input("tokenizer ", tokenizer_json, " has ", n_vocab, " tokens but the model's embedding has ", t.vocab_size,
               " rows; llama.cpp needs one embedding row per token (pad the embedding or use the model's tokenizer)");

  // Tensors.
  Weights w(cfg, text_weights);
  if (w.has("lm_head.weight")) {
    if (t.tie_word_embeddings) w.skip("lm_head.weight");
  }
  Plan plan;
  const Dims d{L, t.hidden_size, t.num_attention_heads, t.hidden_size_per_layer_input, n_vocab};
  if (is3n) plan_gemma3n(w, plan, t, d);
  else plan_gemma4(w, plan, t, d, head_dim_full);
  if (!t.tie_word_embeddings)
    plan.add("output.weight", {n_vocab, d.D}, {w.get("lm_head.weight", {t.vocab_size, d.D})});
  w.check_all_used(arch);

  // Metadata, in the order the converter writes it.
  GgufWriter g;
  auto u32 = [&](const std::string& key, int64_t v) {
    if (v < 0 || v > std::numeric_limits<uint32_t>::max()) bad_cfg(key, " = ", v, " does not fit a u32");
    g.set(key, GgufValue::scalar<uint32_t>(static_cast<uint32_t>(v)));
  };
  auto f32 = [&](const std::string& key, double v) { g.set(key, GgufValue::scalar<float>(static_cast<float>(v))); };
  const std::string a = arch + ".";
  g.set("general.architecture", GgufValue::string(arch));
  g.set("general.type", GgufValue::string("model"));
  {
    std::string name = fs::path(cfg.path).parent_path().filename().string();
    g.set("general.name", GgufValue::string(name.empty() ? arch : name));
  }
  u32(a + "block_count", L);
  u32(a + "context_length", t.max_position_embeddings);
  u32(a + "embedding_length", t.hidden_size);
  if (is3n) {
    g.set(a + "feed_forward_length", GgufValue::array(to_i32(t.layer_intermediate_size)));
  } else if (t.use_double_wide_mlp) {
    g.set(a + "feed_forward_length", GgufValue::array(to_i32(t.layer_intermediate_size)));
  } else {
    if (!all_equal(t.layer_intermediate_size)) bad_cfg("MLP widths differ between layers");
    u32(a + "feed_forward_length", t.layer_intermediate_size[0]);
  }
  u32(a + "attention.head_count", t.num_attention_heads);
  if (all_equal(t.layer_num_kv_heads)) u32(a + "attention.head_count_kv", t.layer_num_kv_heads[0]);
  else if (is3n) bad_cfg("KV head counts differ between layers");
  else g.set(a + "attention.head_count_kv", GgufValue::array(to_i32(t.layer_num_kv_heads)));
  f32(a + "rope.freq_base", t.rope_full.rope_theta);
  f32(a + "rope.freq_base_swa", t.rope_sliding.rope_theta);
  f32(a + "attention.layer_norm_rms_epsilon", t.rms_norm_eps);
  u32(a + "attention.key_length", head_dim_full);
  u32(a + "attention.value_length", head_dim_full);
  u32("general.file_type", gguf_file_type(type));
  // Without a cap the converter writes nothing and llama.cpp's gemma4 falls back to 30; 0 says "no cap" to it.
  if (t.final_logit_softcapping > 0 || !is3n) f32(a + "final_logit_softcapping", t.final_logit_softcapping);
  u32(a + "attention.sliding_window", t.sliding_window);
  std::vector<bool> swa;
  for (io::LayerType lt : t.layer_types) swa.push_back(lt == io::LayerType::Sliding);
  if (is3n) {
    u32(a + "altup.active_idx", t.altup_active_idx);
    u32(a + "altup.num_inputs", t.altup_num_inputs);
    u32(a + "embedding_length_per_layer_input", t.hidden_size_per_layer_input);
    u32(a + "attention.shared_kv_layers", t.num_kv_shared_layers);
    std::vector<float> sparsity;
    for (double p : t.activation_sparsity_pattern) sparsity.push_back(normal_icdf_f32(p));
    if (static_cast<int64_t>(sparsity.size()) != L)
      bad_cfg("activation_sparsity_pattern has ", sparsity.size(), " entries for ", L, " layers");
    g.set(a + "activation_sparsity_scale", GgufValue::array(sparsity));
    g.set(a + "attention.sliding_window_pattern", GgufValue::array(swa));
  } else {
    u32(a + "attention.shared_kv_layers", t.num_kv_shared_layers);
    u32(a + "embedding_length_per_layer_input", t.hidden_size_per_layer_input);
    g.set(a + "attention.sliding_window_pattern", GgufValue::array(swa));
    u32(a + "attention.key_length_swa", t.head_dim);
    u32(a + "attention.value_length_swa", t.head_dim);
    u32(a + "rope.dimension_count", head_dim_full);
    u32(a + "rope.dimension_count_swa",
        static_cast<int64_t>(double(t.head_dim) * t.rope_sliding.partial_rotary_factor));
  }
  u32("general.quantization_version", kQuantizationVersion);

  // Tokenizer.
  g.set("tokenizer.ggml.model", GgufValue::string(is3n ? "llama" : "gemma4"));
  if (is3n) g.set("tokenizer.ggml.pre", GgufValue::string("default"));
  g.set("tokenizer.ggml.tokens", GgufValue::array(vocab.tokens));
  g.set("tokenizer.ggml.scores", GgufValue::array(vocab.scores));
  g.set("tokenizer.ggml.token_type", GgufValue::array(vocab.types));
  if (!vocab.merges.empty()) g.set("tokenizer.ggml.merges", GgufValue::array(vocab.merges));
  for (const auto& [key, id] : vocab.special_ids) u32("tokenizer.ggml." + key, id);
  if (vocab.add_bos) g.set("tokenizer.ggml.add_bos_token", GgufValue::scalar<bool>(*vocab.add_bos));
  if (vocab.add_eos) g.set("tokenizer.ggml.add_eos_token", GgufValue::scalar<bool>(*vocab.add_eos));
  if (!vocab.named_chat_templates.empty()) {
    std::vector<std::string> names;
    for (const auto& [name, tmpl] : vocab.named_chat_templates) {
      g.set("tokenizer.chat_template." + name, GgufValue::string(tmpl));
      names.push_back(name);
    }
    g.set("tokenizer.chat_templates", GgufValue::array(names));
  }
  if (vocab.chat_template) g.set("tokenizer.chat_template", GgufValue::string(*vocab.chat_template));
  g.set("tokenizer.ggml.add_space_prefix", GgufValue::scalar<bool>(false));

  if (extra_metadata.is_object())
    for (const auto& [key, value] : extra_metadata.items()) g.set(key, json_to_value(key, value));

  for (auto& p : plan.tensors) {
    const GgmlType st = storage_type(p.name, p.shape, type);
    if (!p.parts.empty()) g.add_tensor(p.name, p.shape, st, row_source(p.parts, p.shape.back()));
    else g.add_tensor(p.name, p.shape, st, std::move(p.values));
  }
  at::NoGradGuard no_grad;
  g.write(path);
}

}  // namespace gt::exporting
