// Building a Tokenizer from tokenizer.json: every field of the supported family is checked here, and anything
// outside it is refused with the field named (see tokenizer.h for the family). Torch-free.
//
// Fields that do not change ids and are deliberately ignored: post_processor (only TemplateProcessing or null
// accepted; encode() adds no BOS, callers do), truncation, padding, version.
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"              // defines: gt::InputError, gt::fail_input, gt::cat
#include "core/strings.h"            // defines: gt::quote
#include "tokenizer/tokenizer_impl.h"  // defines: gt::tok::Tokenizer::Impl, gt::tok::TokenizerParts
#include "tokenizer/tokenizer_json.h"  // defines: gt::tok::TokenizerJson, parse_tokenizer_json

namespace gt::tok {

namespace {

using json = nlohmann::json;

// Ids beyond this are refused: the id tables are dense arrays (Gemma's largest id is 262,144).
constexpr int64_t kMaxTokenId = int64_t(1) << 26;

// Reads the fields of one tokenizer.json, failing with "tokenizer <path>: <field>: <what>".
class Loader {
 public:
  Loader(const std::string& path, TokenizerParts& t) : path_(path), t_(t) {}

  void load(TokenizerJson& j) {
    if (!j.doc.is_object()) fail("(top level)", cat("expected a JSON object, found ", j.doc.type_name()));
    const json* model = member(j.doc, "model");
    if (!model) fail("model", "missing");
    read_model_header(*model);
    read_vocab(j, *model);
    read_normalizer(member(j.doc, "normalizer"));
    read_pre_tokenizer(member(j.doc, "pre_tokenizer"));
    read_added_tokens(member(j.doc, "added_tokens"));
    read_model_rest(j, *model);
    read_decoder(member(j.doc, "decoder"));
    read_post_processor(member(j.doc, "post_processor"));
  }

 private:
  [[noreturn]] void fail(const std::string& field, const std::string& what) const {
    fail_input("tokenizer ", path_, ": ", field, ": ", what);
  }

  static const json* member(const json& obj, const char* key) {
    if (!obj.is_object()) return nullptr;
    auto it = obj.find(key);
    return it == obj.end() ? nullptr : &*it;
  }
  static bool is_null(const json* v) { return v == nullptr || v->is_null(); }
  // "a string", "an object of type \"Metaspace\"", ...: what was found, for messages.
  static std::string found(const json& v) {
    if (v.is_object() && v.contains("type") && v["type"].is_string())
      return cat("type ", quote(v["type"].get_ref<const std::string&>()));
    return cat(v.type_name(), " ", quote(v.dump(), 60));
  }
  // The "type" of a component object, or fails naming the field.
  std::string type_of(const json& v, const std::string& field) const {
    const json* type = member(v, "type");
    if (!v.is_object() || !type || !type->is_string())
      fail(field, cat("expected an object with a string \"type\", found ", found(v)));
    return type->get<std::string>();
  }
  bool get_bool(const json& obj, const char* key, bool fallback, const std::string& field) const {
    const json* v = member(obj, key);
    if (is_null(v)) return fallback;
    if (!v->is_boolean()) fail(field + "." + key, cat("expected true or false, found ", found(*v)));
    return v->get<bool>();
  }
  std::string get_string(const json& obj, const char* key, const std::string& field) const {
    const json* v = member(obj, key);
    if (!v) fail(field + "." + key, "missing; expected a string");
    if (!v->is_string()) fail(field + "." + key, cat("expected a string, found ", found(*v)));
    return v->get<std::string>();
  }
  // A {"String": "..."} pattern; Regex patterns are refused.
  std::string get_string_pattern(const json& obj, const std::string& field) const {
    const json* p = member(obj, "pattern");
    const std::string where = field + ".pattern";
    if (!p || !p->is_object()) fail(where, cat("expected {\"String\": \"...\"}, found ", p ? found(*p) : "nothing"));
    if (p->contains("Regex")) fail(where, "a Regex pattern is not supported; expected {\"String\": \"...\"}");
    std::string s = get_string(*p, "String", where);
    if (s.empty()) fail(where + ".String", "expected a non-empty string");
    return s;
  }

  // ----- model: type and options (the vocabulary and merges come after)
  void read_model_header(const json& model) {
    const std::string type = type_of(model, "model");
    if (type != "BPE") fail("model.type", cat("model type ", quote(type), " is not supported; expected \"BPE\""));
    const json* dropout = member(model, "dropout");
    if (!is_null(dropout))
      fail("model.dropout", cat("BPE dropout is not supported (it makes encoding random); expected null, found ",
                                found(*dropout)));
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
      const json* v = member(model, key);
      if (!is_null(v) && !(v->is_string() && v->get_ref<const std::string&>().empty()))
        fail(std::string("model.") + key, cat("not supported; expected null, found ", found(*v)));
    }
  }

  void read_vocab(TokenizerJson& j, const json& model) {
    if (!j.vocab_read) {
      const json* v = member(model, "vocab");
      fail("model.vocab", v ? cat("expected an object {token: id}, found ", found(*v)) : std::string("missing"));
    }
    t_.vocab.reserve(j.vocab.size() + 16);
    for (auto& [token, id] : j.vocab) {
      if (id < 0 || id >= kMaxTokenId)
        fail("model.vocab", cat("token ", quote(token), " has id ", id, "; expected 0 <= id < ", kMaxTokenId));
      if (t_.vocab.has(int32_t(id)))
        fail("model.vocab", cat("id ", id, " is given to both ", quote(t_.vocab.token(int32_t(id))), " and ",
                                quote(token)));
      if (t_.vocab.find(token) >= 0) fail("model.vocab", cat("token ", quote(token), " appears twice"));
      t_.vocab.add(int32_t(id), std::move(token), Vocabulary::kModel);
    }
    j.vocab.clear();
    j.vocab.shrink_to_fit();
  }

  // ----- normalizer: Replace, Sequence of Replace, or null
  void read_normalizer(const json* n) {
    if (is_null(n)) return;
    const std::string type = type_of(*n, "normalizer");
    if (type == "Replace") return read_replace_normalizer(*n, "normalizer");
    if (type == "Sequence") {
      const json* list = member(*n, "normalizers");
      if (!list || !list->is_array()) fail("normalizer.normalizers", "expected an array");
      for (size_t i = 0; i < list->size(); ++i) {
        const std::string field = cat("normalizer.normalizers[", i, "]");
        const std::string item_type = type_of((*list)[i], field);
        if (item_type != "Replace")
          fail(field, cat("normalizer type ", quote(item_type), " is not supported; expected Replace"));
        read_replace_normalizer((*list)[i], field);
      }
      return;
    }
    fail("normalizer", cat("normalizer type ", quote(type),
                           " is not supported; expected Replace, a Sequence of Replace, or null"));
  }
  void read_replace_normalizer(const json& r, const std::string& field) {
    std::string pattern = get_string_pattern(r, field);
    t_.normalizer.add_rule(std::move(pattern), get_string(r, "content", field));
  }

  // ----- pre_tokenizer: Split(String, MergedWithPrevious) or null
  void read_pre_tokenizer(const json* p) {
    if (is_null(p)) return;
    const std::string type = type_of(*p, "pre_tokenizer");
    if (type != "Split")
      fail("pre_tokenizer", cat("pre-tokenizer type ", quote(type),
                                " is not supported; expected Split({\"String\": ...}, MergedWithPrevious) or null"));
    std::string pattern = get_string_pattern(*p, "pre_tokenizer");
    const std::string behavior = get_string(*p, "behavior", "pre_tokenizer");
    if (behavior != "MergedWithPrevious")
      fail("pre_tokenizer.behavior", cat("Split behavior ", quote(behavior),
                                         " is not supported; expected \"MergedWithPrevious\""));
    if (get_bool(*p, "invert", false, "pre_tokenizer")) fail("pre_tokenizer.invert", "true is not supported");
    t_.pre_tokenizer.set_pattern(std::move(pattern));
  }

  // ----- added_tokens
  void read_added_tokens(const json* list) {
    if (is_null(list)) return;
    if (!list->is_array()) fail("added_tokens", cat("expected an array, found ", found(*list)));
    std::string buf, spare;
    for (size_t i = 0; i < list->size(); ++i) {
      const json& a = (*list)[i];
      std::string field = cat("added_tokens[", i, "]");
      if (!a.is_object()) fail(field, cat("expected an object, found ", found(a)));
      const json* id_json = member(a, "id");
      if (!id_json || !id_json->is_number_integer())
        fail(field + ".id", cat("expected an integer, found ", id_json ? found(*id_json) : "nothing"));
      const int64_t id = id_json->get<int64_t>();
      std::string content = get_string(a, "content", field);
      field += cat(" (", quote(content), ")");
      if (id < 0 || id >= kMaxTokenId) fail(field + ".id", cat("expected 0 <= id < ", kMaxTokenId, ", found ", id));
      if (content.empty()) fail(field + ".content", "expected a non-empty string");
      const bool special = get_bool(a, "special", false, field);
      const bool normalized = get_bool(a, "normalized", !special, field);  // AddedToken's default in `tokenizers`
      const bool lstrip = get_bool(a, "lstrip", false, field);
      const bool rstrip = get_bool(a, "rstrip", false, field);
      if (get_bool(a, "single_word", false, field))
        fail(field + ".single_word", "true is not supported (only lstrip and rstrip are)");

      // The id: a model token keeps its vocabulary id; a new token takes a free id.
      const int32_t existing = t_.vocab.find(content);
      if (existing >= 0 && t_.vocab.is(existing, Vocabulary::kAdded))
        fail(field, "the same content appears twice in added_tokens");
      if (existing >= 0 && existing != id)
        fail(field + ".id", cat("expected ", existing, " (the id model.vocab gives this token), found ", id));
      if (existing < 0 && t_.vocab.has(int32_t(id)))
        fail(field + ".id", cat("id ", id, " already belongs to ", quote(t_.vocab.token(int32_t(id)))));
      const uint8_t flags = Vocabulary::kAdded | (special ? Vocabulary::kSpecial : 0);
      if (existing >= 0)
        t_.vocab.add_flags(existing, flags);
      else
        t_.vocab.add(int32_t(id), content, flags);

      bool fresh = normalized ? t_.normalized_added.add(t_.normalizer.apply(content, buf, spare), int32_t(id),
                                                        lstrip, rstrip)
                              : t_.raw_added.add(content, int32_t(id), lstrip, rstrip);
      if (!fresh) fail(field, "another added token has the same (normalized) content");
    }
  }

  // ----- model: options that need the vocabulary, and merges
  void read_model_rest(TokenizerJson& j, const json& model) {
    BpeOptions options;
    options.byte_fallback = get_bool(model, "byte_fallback", false, "model");
    options.fuse_unk = get_bool(model, "fuse_unk", false, "model");
    t_.ignore_merges = get_bool(model, "ignore_merges", false, "model");
    const json* unk = member(model, "unk_token");
    if (!is_null(unk)) {
      if (!unk->is_string()) fail("model.unk_token", cat("expected a string or null, found ", found(*unk)));
      options.unk_id = t_.vocab.find_model(unk->get_ref<const std::string&>());
      if (options.unk_id < 0) fail("model.unk_token", cat(quote(unk->get<std::string>()), " is not in model.vocab"));
    }
    t_.bpe.init(t_.vocab, options);

    if (!j.merges_read) {
      const json* m = member(model, "merges");
      fail("model.merges", m ? cat("expected an array, found ", found(*m)) : std::string("missing"));
    }
    MergeTable& table = t_.bpe.merges();
    table.reserve(j.merges.size());
    std::string merged;
    for (size_t i = 0; i < j.merges.size(); ++i) {
      const TokenizerJson::Merge& m = j.merges[i];
      std::string_view all(j.merge_chars.data() + m.begin, m.end - m.begin);
      std::string_view left, right;
      if (m.is_pair) {
        left = all.substr(0, m.mid - m.begin);
        right = all.substr(m.mid - m.begin);
      } else {
        // "left right": exactly one space, as `tokenizers` requires.
        size_t space = all.find(' ');
        if (space == std::string_view::npos || all.find(' ', space + 1) != std::string_view::npos)
          fail(cat("model.merges[", i, "]"), cat("expected \"left right\" with exactly one space, found ", quote(all)));
        left = all.substr(0, space);
        right = all.substr(space + 1);
      }
      const int32_t a = t_.vocab.find_model(left), b = t_.vocab.find_model(right);
      if (a < 0 || b < 0)
        fail(cat("model.merges[", i, "]"), cat("token ", quote(a < 0 ? left : right), " is not in model.vocab"));
      merged.assign(left);
      merged.append(right);
      const int32_t ab = t_.vocab.find_model(merged);
      if (ab < 0) fail(cat("model.merges[", i, "]"), cat("the merged token ", quote(merged), " is not in model.vocab"));
      table.put(a, b, MergeTable::Merge{uint32_t(i), ab});
    }
    t_.bpe.finish(t_.vocab);
    j.merges = {};
    j.merge_chars = {};
  }

  // ----- decoder: Replace / ByteFallback / Fuse, alone or in a Sequence
  void read_decoder(const json* d) {
    if (is_null(d))
      fail("decoder", "null is not supported; expected a Sequence of Replace, ByteFallback and Fuse");
    const std::string type = type_of(*d, "decoder");
    if (type != "Sequence") return read_decoder_step(*d, "decoder");
    const json* list = member(*d, "decoders");
    if (!list || !list->is_array()) fail("decoder.decoders", "expected an array");
    for (size_t i = 0; i < list->size(); ++i) read_decoder_step((*list)[i], cat("decoder.decoders[", i, "]"));
  }
  void read_decoder_step(const json& d, const std::string& field) {
    const std::string type = type_of(d, field);
    DecoderStep step;
    if (type == "Replace") {
      step.kind = DecoderStep::Kind::kReplace;
      step.pattern = get_string_pattern(d, field);
      step.content = get_string(d, "content", field);
    } else if (type == "ByteFallback") {
      step.kind = DecoderStep::Kind::kByteFallback;
    } else if (type == "Fuse") {
      step.kind = DecoderStep::Kind::kFuse;
    } else {
      fail(field, cat("decoder type ", quote(type), " is not supported; expected Replace, ByteFallback or Fuse"));
    }
    t_.decoder.push_back(std::move(step));
  }

  void read_post_processor(const json* p) {
    if (is_null(p)) return;
    const std::string type = type_of(*p, "post_processor");
    if (type != "TemplateProcessing")
      fail("post_processor", cat("post-processor type ", quote(type),
                                 " is not supported; expected TemplateProcessing or null"));
  }

  const std::string& path_;
  TokenizerParts& t_;
};

std::string read_whole_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) fail_input("tokenizer ", path, ": cannot open the file (", std::strerror(errno), ")");
  std::string text(size_t(f.tellg()), '\0');
  f.seekg(0);
  if (!f.read(text.data(), std::streamsize(text.size())))
    fail_input("tokenizer ", path, ": cannot read the file (", std::strerror(errno), ")");
  return text;
}

}  // namespace

Tokenizer::Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

Tokenizer Tokenizer::from_file(const std::string& path) {
  if (std::filesystem::is_directory(path))
    fail_input("tokenizer ", path, ": is a folder; expected a tokenizer.json file");
  const std::string text = read_whole_file(path);
  TokenizerJson j = parse_tokenizer_json(text, path);
  auto impl = std::make_shared<Impl>();
  impl->path = path;
  Loader(path, *impl).load(j);
  return Tokenizer(std::move(impl));
}

Tokenizer Tokenizer::from_model_dir(const std::string& model_dir) {
  const std::filesystem::path file = std::filesystem::path(model_dir) / "tokenizer.json";
  if (!std::filesystem::exists(file))
    fail_input("model folder ", model_dir, ": has no tokenizer.json (looked for ", file.string(), ")");
  return from_file(file.string());
}

}  // namespace gt::tok
